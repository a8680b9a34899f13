"""Time nbgrader's autograde before and after the sandbox, and ``python -m grader autograde``.

Builds a temporary course with N honest submissions (default 20) of the course's
assignment and grades the same class four ways in the same run, checking that the
scores agree:

- before: ``LRJAX_AUTOGRADE=kernel nbgrader autograde`` -- nbgrader's own kernels,
  unsandboxed, with and without the course's shared JAX cache;
- after: ``nbgrader autograde`` with the course's config -- every submission in the
  sandbox (grader/hooks), nbgrader's scoring and gradebook;
- ``python -m grader autograde`` (bwrap), the grader's own command.

Then formgrader's Autograde button, which calls ``NbGraderAPI.autograde(assignment,
student)`` in the Jupyter server's process: pressed for --presses students one after
the other in one process, before and after (seconds per press: the first, and the
median of the others). Run it as root and as an ordinary user to compare the two setups:

    .venv/bin/python benchmarks/bench_grader.py --students 20 [--assignment m_examples]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _grader_course import (
    ASSIGNMENT,
    gradebook_scores,
    honest_cells,
    make_course,
    nbgrader,
    submit,
)

# Formgrader's Autograde button, pressed for each student in turn in one process.
_BUTTON = """
import json, statistics, sys, time
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader
course, assignment, students = sys.argv[1], sys.argv[2], sys.argv[3:]
config = PyFileConfigLoader("nbgrader_config.py", path=course).load_config()
config.CourseDirectory.root = course
api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
times = []
for student in students:
    start = time.perf_counter()
    result = api.autograde(assignment, student)
    times.append(time.perf_counter() - start)
    assert result["success"], result.get("error", "")[-2000:]
print(json.dumps(times))
"""


def _button(course: Path, name: str, students: list[str], env=None) -> list[float]:
    """Seconds of each press of formgrader's Autograde button (see ``_BUTTON``)."""
    env = {**os.environ, **(env or {})}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-c", _BUTTON, str(course), name, *students]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=course, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--presses", type=int, default=4, help="students for the button")
    parser.add_argument("--jobs", type=int, default=None, help="our grader's jobs (all cores)")
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"default {ASSIGNMENT}")
    args = parser.parse_args()
    name, n = args.assignment, args.students
    kernel = {"LRJAX_AUTOGRADE": "kernel"}
    with tempfile.TemporaryDirectory() as tmp:
        base = make_course(Path(tmp) / "base", name)
        for i in range(n):
            submit(base, f"s{i:03d}", honest_cells(name), assignment=name)
        courses, times = {}, {}
        ways = (
            ("before: `nbgrader autograde` in kernels, shared JAX cache", kernel),
            ("before: `nbgrader autograde` in kernels, no JAX cache",
             {**kernel, "JAX_COMPILATION_CACHE_DIR": ""}),
            ("after: `nbgrader autograde`, sandboxed (the course's config)", {}),
        )  # fmt: skip
        for i, (label, env) in enumerate(ways):
            course = courses[label] = Path(tmp) / f"way{i}"
            shutil.copytree(base, course)
            run = nbgrader(course, "generate_assignment", name, env=env)
            if run.returncode:
                print(run.stderr[-3000:])
                return 1
            start = time.perf_counter()
            run = nbgrader(course, "autograde", name, env=env)
            times[label] = time.perf_counter() - start
            if run.returncode:
                print(run.stdout[-3000:], run.stderr[-3000:])
                return 1
        ours = courses["ours"] = Path(tmp) / "ours"
        shutil.copytree(base, ours)
        cmd = [sys.executable, "-m", "grader", "autograde", name, "--course", str(ours),
               "--no-progress"]  # fmt: skip
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times["`python -m grader autograde` (bwrap)"] = time.perf_counter() - start
        found = {label: gradebook_scores(c, name) for label, c in courses.items()}
        agree = len({tuple(sorted(v.items())) for v in found.values()}) == 1
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        print(f"{name}, students: {n}, as {who}, {os.cpu_count()} cores, scores agree: {agree} "
              f"({sorted({x for v in found.values() for x in v.values()})})")  # fmt: skip
        first = next(iter(times.values()))
        print("| grader | seconds | per notebook | students per minute | vs before (cache) |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, secs in times.items():
            print(f"| {label} | {secs:.1f} | {secs / n:.2f} | {60 * n / secs:.1f} "
                  f"| {first / secs:.1f}x |")  # fmt: skip
        presses = [f"s{i:03d}" for i in range(min(args.presses, n))]
        print(f"\nformgrader's Autograde button, {len(presses)} students pressed in turn "
              "(seconds per press):")  # fmt: skip
        print("| button | first press | median of the others |")
        print("| --- | ---: | ---: |")
        for label, course, env in (("before (kernels)", courses[ways[0][0]], kernel),
                                   ("after (sandbox)", courses[ways[2][0]], {})):  # fmt: skip
            secs = _button(course, name, presses, env)
            rest = statistics.median(secs[1:]) if len(secs) > 1 else float("nan")
            print(f"| {label} | {secs[0]:.1f} | {rest:.1f} |")
        return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
