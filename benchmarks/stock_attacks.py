"""Run the attack suite against stock ``nbgrader autograde`` and against our grader.

Builds the class of ``tests/test_attacks.py`` (two honest students, one partly right,
one student per attack in ``tests/fixtures/attacks/``) twice, grades one copy with stock
nbgrader (under an outer ``prlimit`` of 4 GB address space and a 20 s cell timeout, so
the hogs cannot take the machine down) and the other with ``python -m grader``, and
prints a Markdown table of the scores side by side. Nothing is asserted: this documents
what stock nbgrader lets through (docs/grader.md).

    .venv/bin/python benchmarks/stock_attacks.py
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))

from _grader_course import (  # noqa: E402  (tests/ is put on sys.path just above)
    ASSIGNMENT,
    gradebook_scores,
    make_course,
    nbgrader,
    tree_hashes,
)
from test_attacks import NAMES, build_class  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stock = make_course(Path(tmp) / "course")
        build_class(stock)
        ours = Path(tmp) / "ours"
        shutil.copytree(stock, ours)
        shutil.rmtree("/tmp/stolen_source", ignore_errors=True)
        before = tree_hashes(stock / "submitted")
        nbgrader(stock, "generate_assignment", ASSIGNMENT)
        run = nbgrader(stock, "autograde", ASSIGNMENT, "--Execute.timeout=20",
                       limit_mb=4096, timeout=1800)  # fmt: skip
        stock_scores = gradebook_scores(stock)
        stock_changed = sorted(
            k for k, v in tree_hashes(stock / "submitted").items() if before.get(k) != v
        )
        stolen = Path("/tmp/stolen_source").exists()
        shutil.rmtree("/tmp/stolen_source", ignore_errors=True)
        before = tree_hashes(ours / "submitted")
        cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(ours),
               "--timeout", "20", "--memory", "2048", "--no-progress"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
        ours_scores = gradebook_scores(ours)
        ours_changed = sorted(
            k for k, v in tree_hashes(ours / "submitted").items() if before.get(k) != v
        )
        print(f"stock nbgrader exit code: {run.returncode}")
        pwned = (stock / "pwned.txt").exists()
        print(f"stock: submitted files changed: {stock_changed or 'none'}; "
              f"pwned.txt: {pwned}; source copied out: {stolen}")  # fmt: skip
        print(f"ours:  submitted files changed: {ours_changed or 'none'}; "
              f"pwned.txt: {(ours / 'pwned.txt').exists()}")  # fmt: skip
        print()
        print("| submission | stock nbgrader | ours |")
        print("| --- | ---: | ---: |")
        for name in ["honest_a", "honest_b", "partial", *NAMES]:
            a = stock_scores.get(name, "not graded")
            b = ours_scores.get(name, "not graded")
            print(f"| {name} | {a} | {b} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
