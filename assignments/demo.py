"""The course demo: release both assignments, grade sample students, print the scores.

Runs stock nbgrader in a temporary copy of the course (nothing in assignments/
changes). For each assignment: ``generate_assignment``, three submissions (everything
right; one catalogued mistake, taken from its exercise's declaration; the release handed
in untouched), ``autograde``, and a table of points per test cell read from the
gradebook, with the feedback the student with the mistake saw.

Usage::

    python assignments/demo.py [--lang en|uk] [--keep DIR]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_notebooks import ASSIGNMENTS, ROOT, points, solution_code, test_id

from grader._course import (
    autograded,
    cell_outputs,
    copy_course,
    inject,
    released,
    run_nbgrader,
    scores,
    submit,
)
from grader.checks import find_exercise

# The sample mistake of each assignment: (exercise, catalogued mistake).
SAMPLE = {"gradient_descent": ("compute_dz", None), "m_examples": ("propagate", "db_summed")}


def students(assignment: str) -> tuple[dict[str, dict[str, str]], str]:
    """Three sample students ``{name: {solution grade id: code}}``, and the exercise the
    second one gets wrong."""
    right = solution_code(assignment)
    name, mistake = SAMPLE[assignment]
    ex = find_exercise(ROOT, name)
    if mistake is None:  # dz with its sign flipped: the generic diagnosis
        wrong = "def compute_dz(a, y):\n    return y - a\n"
    else:
        wrong = ex.source(next(m.code for m in ex.mistakes if m.name == mistake))
    return {"ada_correct": right, "bob_mistake": {**right, name: wrong}, "cy_untouched": {}}, name


def run(course: Path, assignment: str) -> str:
    """Release, submit, autograde one assignment; return the score table as text."""
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    release = released(course, assignment)
    sample, wrong = students(assignment)
    for student, code in sample.items():
        submit(course, student, inject(release, code), assignment)
    run_nbgrader(course, "autograde", assignment, "--force")
    table = scores(course, assignment)
    maxima = points(assignment)
    graded = list(maxima)
    width = max(9, *(len(g) + 2 for g in graded))
    header = f"{'student':<14}" + "".join(f"{g:>{width}}" for g in graded) + f"{'total':>9}"
    maximum = f"{'(max)':<14}" + "".join(f"{maxima[g]:>{width}g}" for g in graded)
    lines = [f"== {assignment} ==", header, maximum + f"{sum(maxima.values()):>9g}"]
    for student in sorted(table):
        row = table[student]
        lines.append(f"{student:<14}" + "".join(f"{row[g]:>{width}g}" for g in graded)
                     + f"{row['total']:>9g}")  # fmt: skip
    feedback = cell_outputs(autograded(course, "bob_mistake", assignment), test_id(wrong))
    lines += ["", f"What bob_mistake saw under {test_id(wrong)}:", feedback.strip(), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("en", "uk"), default="en")
    parser.add_argument("--keep", type=Path, help="build the course here and keep it")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lrjax-course-") as tmp:
        course = copy_course(args.keep.resolve() if args.keep else Path(tmp), lang=args.lang)
        for assignment in ASSIGNMENTS:
            print(run(course, assignment), flush=True)
    print(f"(course demo: {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
