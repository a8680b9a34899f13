"""Seconds per check cell, as a student sees them: in a fresh kernel, then run again.

Takes the released notebook of each assignment (solutions filled in with the right
answers, checks.json beside it, as a student's folder has), starts a real kernel, runs
every cell in order and times each test cell; then runs every test cell a second time
in the same kernel. Prints a table per assignment and the totals:

    .venv/bin/python benchmarks/bench_checks.py [--assignment gradient_descent]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader._course import builder, copy_course, inject, released, run_nbgrader


def _time_cells(folder: Path, nb) -> list[tuple[str, float, float]]:
    """``(grade id, first run s, second run s)`` of each test cell of ``nb``."""
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(folder)}})  # fmt: skip
    tests, rows = [], []
    with client.setup_kernel(env={**os.environ, "JAX_PLATFORMS": "cpu"}):
        first = {}
        for i, cell in enumerate(nb.cells):
            start = time.perf_counter()
            client.execute_cell(cell, i)
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type == "code" and grade_id.startswith("test_"):
                tests.append((i, grade_id))
                first[grade_id] = time.perf_counter() - start
        for i, grade_id in tests:
            start = time.perf_counter()
            client.execute_cell(nb.cells[i], i)
            rows.append((grade_id, first[grade_id], time.perf_counter() - start))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", help="default: every assignment")
    args = parser.parse_args(argv)
    names = args.assignment or list(builder().ASSIGNMENTS)
    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(Path(tmp) / "course", lang="en")
        for name in names:
            run_nbgrader(course, "generate_assignment", name)
            folder = Path(tmp) / "student" / name
            shutil.copytree(course / "release" / name, folder)
            nb = inject(released(course, name), builder().solution_code(name))
            rows = _time_cells(folder, nb)
            nbformat.write(nb, folder / "ran.ipynb")
            print(f"\n{name}: seconds per check cell (a fresh kernel, then run again)")
            print("| test cell | first run | again |")
            print("| --- | ---: | ---: |")
            for grade_id, once, again in rows:
                print(f"| {grade_id} | {once:.2f} | {again:.2f} |")
            total = sum(r[1] for r in rows), sum(r[2] for r in rows)
            print(f"| all {len(rows)} | {total[0]:.2f} | {total[1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
