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
from test_attacks import NAMES, UNSANDBOXED_HARM, build_class  # noqa: E402


def _stock(root: Path, skip=()):
    """Grade a fresh copy of the attack class with stock nbgrader: (scores, notes).

    The attacks in ``UNSANDBOXED_HARM`` are never given to stock nbgrader: unsandboxed, as
    root, they would kill every process on the machine or write into this venv.
    """
    course = make_course(root)
    build_class(course, skip=(*skip, *UNSANDBOXED_HARM))
    shutil.rmtree("/tmp/stolen_source", ignore_errors=True)
    before = tree_hashes(course / "submitted")
    kernel = {"LRJAX_AUTOGRADE": "kernel"}  # nbgrader's own kernels, not the course's sandbox
    nbgrader(course, "generate_assignment", ASSIGNMENT, env=kernel)
    run = nbgrader(course, "autograde", ASSIGNMENT, "--Execute.timeout=20",
                   limit_mb=4096, timeout=1800, env=kernel)  # fmt: skip
    changed = sorted(k for k, v in tree_hashes(course / "submitted").items() if before[k] != v)
    notes = (f"exit code {run.returncode}; submitted files changed: {changed or 'none'}; "
             f"pwned.txt written: {(course / 'pwned.txt').exists()}; "
             f"source copied to /tmp: {Path('/tmp/stolen_source').exists()}")  # fmt: skip
    shutil.rmtree("/tmp/stolen_source", ignore_errors=True)
    return gradebook_scores(course), notes


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stock_all, notes_all = _stock(Path(tmp) / "stock_all")
        stock_one, notes_one = _stock(Path(tmp) / "stock_one", skip=("read_gradebook",))
        ours = make_course(Path(tmp) / "ours")
        build_class(ours)
        before = tree_hashes(ours / "submitted")
        cmd = [sys.executable, "-m", "grader", "autograde", ASSIGNMENT, "--course", str(ours),
               "--timeout", "20", "--memory", "2048", "--no-progress"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
        ours_scores = gradebook_scores(ours)
        changed = sorted(k for k, v in tree_hashes(ours / "submitted").items() if before[k] != v)
        print(f"stock, whole class: {notes_all}")
        print(f"stock, without read_gradebook: {notes_one}")
        print(f"ours: submitted files changed: {changed or 'none'}; "
              f"pwned.txt written: {(ours / 'pwned.txt').exists()}")  # fmt: skip
        print()
        print("| submission | stock, whole class | stock, without read_gradebook | ours |")
        print("| --- | ---: | ---: | ---: |")
        for name in ["honest_a", "honest_b", "partial", *NAMES]:
            cells = [str(s.get(name, "-")) for s in (stock_all, stock_one, ours_scores)]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
