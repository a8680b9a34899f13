"""Time stock ``nbgrader autograde`` against ``python -m grader autograde`` on one class.

Builds a temporary course with N honest submissions (default 20) of the course's
assignment, grades it with both (same machine, same run), checks that the scores agree
and prints a table of students per minute and the speed-up. Ours runs every submission in
the bubblewrap sandbox (its preflight included in the time). Run it as root and as an
ordinary user to compare the two setups (as root each sandbox drops to its own uid; as a
user it gets a user namespace):

    .venv/bin/python benchmarks/bench_grader.py --students 20 [--assignment m_examples]
"""

import argparse
import os
import shutil
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None, help="our grader's jobs (all cores)")
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"default {ASSIGNMENT}")
    args = parser.parse_args()
    name = args.assignment
    with tempfile.TemporaryDirectory() as tmp:
        stock = make_course(Path(tmp) / "stock", name)
        for i in range(args.students):
            submit(stock, f"s{i:03d}", honest_cells(name), assignment=name)
        ours, plain = Path(tmp) / "ours", Path(tmp) / "plain"
        shutil.copytree(stock, ours)
        shutil.copytree(stock, plain)
        times = {}
        # "stock": the course's nbgrader_config.py, whose kernels share a persistent JAX
        # cache; "plain": the same without it (nbgrader's defaults: every kernel compiles)
        for label, course, env in (
            (stock, stock, None),
            (plain, plain, {"JAX_COMPILATION_CACHE_DIR": ""}),
        ):
            run = nbgrader(course, "generate_assignment", name)
            if run.returncode:
                print(run.stderr[-3000:])
                return 1
            start = time.perf_counter()
            run = nbgrader(course, "autograde", name, env=env)
            times[label] = time.perf_counter() - start
            if run.returncode:
                print(run.stderr[-3000:])
                return 1
        stock_s, plain_s = times[stock], times[plain]
        cmd = [sys.executable, "-m", "grader", "autograde", name, "--course", str(ours),
               "--no-progress"]  # fmt: skip
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        ours_s = time.perf_counter() - start
        a, b = gradebook_scores(stock, name), gradebook_scores(ours, name)
        agree = a == b == gradebook_scores(plain, name)
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        print(f"{name}, students: {args.students}, as {who}, scores agree: {agree} "
              f"(stock {sorted(set(a.values()))}, ours {sorted(set(b.values()))})")  # fmt: skip
        n = args.students
        print("| grader | seconds | per notebook | students per minute | vs stock | vs plain |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        rows = (("stock `nbgrader autograde`, the course's config (shared JAX cache)", stock_s),
                ("stock `nbgrader autograde`, no JAX cache", plain_s),
                ("`python -m grader autograde` (bwrap)", ours_s))  # fmt: skip
        for label, secs in rows:
            print(f"| {label} | {secs:.1f} | {secs / n:.2f} | {60 * n / secs:.1f} "
                  f"| {stock_s / secs:.1f}x | {plain_s / secs:.1f}x |")  # fmt: skip
        return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
