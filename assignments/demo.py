"""The course demo: release the assignment, grade three sample students, print the scores.

Runs stock nbgrader in a temporary copy of the course (nothing in assignments/
changes): ``generate_assignment``, three submissions (all four functions right;
dz with its sign flipped; the release handed in untouched), ``autograde``, and a
table of points per function read from the gradebook.

Usage::

    python assignments/demo.py [--lang en|uk] [--keep DIR]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_notebooks import POINTS, solution_code

from grader._course import (
    GRADED,
    autograded,
    cell_outputs,
    copy_course,
    inject,
    released,
    run_nbgrader,
    scores,
    submit,
)


def students() -> dict[str, dict[str, str]]:
    """Three sample students: {name: {solution grade id: code}}."""
    right = solution_code()
    return {
        "ada_correct": right,
        "bob_wrong_dz": {**right, "compute_dz": "def compute_dz(a, y):\n    return y - a\n"},
        "cy_untouched": {},
    }


def run(course: Path, lang: str) -> str:
    """Release, submit, autograde; return the score table as text."""
    assignment = f"gradient_descent_{lang}"
    copy_course(course)
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    release = released(course, lang)
    for name, code in students().items():
        submit(course, lang, name, inject(release, code))
    run_nbgrader(course, "autograde", assignment, "--force")
    table = scores(course, lang)
    header = f"{'student':<14}" + "".join(f"{g:>9}" for g in GRADED) + f"{'total':>9}"
    maximum = f"{'(max)':<14}" + "".join(f"{POINTS[g[5:]]:>9}" for g in GRADED)
    lines = [header, maximum + f"{sum(POINTS.values()):>9}"]
    for name in sorted(table):
        row = table[name]
        lines.append(
            f"{name:<14}" + "".join(f"{row[g]:>9g}" for g in GRADED) + f"{row['total']:>9g}"
        )
    feedback = cell_outputs(autograded(course, lang, "bob_wrong_dz"), "test_dz")
    lines += ["", "What bob_wrong_dz saw under test_dz:", feedback.strip()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "uk"), default="en")
    parser.add_argument("--keep", type=Path, help="build the course here and keep it")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.keep:
        print(run(args.keep.resolve(), args.lang))
    else:
        with tempfile.TemporaryDirectory(prefix="lrjax-course-") as tmp:
            print(run(Path(tmp), args.lang))
    print(f"\n(course demo: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
