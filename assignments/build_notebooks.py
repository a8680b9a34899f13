"""Build the course's notebooks, in English or Ukrainian, from plans, prose and exercises.

Each assignment has a plan (``plans/<assignment>.py``: the order of the cells and the
code cells, written once), prose per language (``prose/<assignment>/<lang>.md``) and
exercises (``exercises/<name>.py``: signature, docstring, solution, points, cases). The
two languages of an assignment therefore cannot drift apart: same cells, grade ids,
points and tests; only the prose and the feedback language differ. Beside each notebook
goes ``checks.json``: the visible cases of its exercises with their answers, which the
students' checks read (nothing hidden is in it).

A course is taught in one language: each assignment is one nbgrader assignment
(``source/gradient_descent/``), one gradebook column, built in the language the
instructor chose. The committed course is English; both languages are built and tested.

Usage::

    python assignments/build_notebooks.py                  # rewrite source/ (same language)
    python assignments/build_notebooks.py --lang uk        # the course in Ukrainian
    python assignments/build_notebooks.py --lang uk --out DIR  # a new course root in DIR
    python assignments/build_notebooks.py --check          # exit 1 if a committed file differs

Prose file format: ``<!-- cell: NAME -->`` starts a Markdown cell; after
``<!-- strings -->`` come ``key: value`` lines used as ``«key»`` in code cells.
"""

import argparse
import importlib.util
import json
import math
import re
import shutil
import sys
from pathlib import Path

import nbformat

from grader.checks import CHECKS_FILE, course_bundle, find_exercise, write_checks
from grader.checks._bundle import checks_json

ROOT = Path(__file__).resolve().parent
LANGS = ("en", "uk")
ASSIGNMENTS = ("gradient_descent", "m_examples")  # in teaching order
# The line above a solution; nbgrader's stub (nbgrader_config.py) replaces the solution.
YOUR_CODE = {"en": "# YOUR CODE HERE", "uk": "# ВАШ КОД ТУТ"}


def plan(assignment: str, root: Path = ROOT):
    """The plan module ``plans/<assignment>.py`` (ASSIGNMENT, NOTEBOOK, PLAN, CODE, SETUP)."""
    path = root / "plans" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"_lrjax_plan_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercises_of(assignment: str, root: Path = ROOT) -> list[str]:
    """The exercises an assignment's notebook asks for, in order."""
    return [name for kind, name in plan(assignment, root).PLAN if kind == "exercise"]


def read_prose(assignment: str, lang: str, root: Path = ROOT):
    """The Markdown cells and the strings of ``prose/<assignment>/<lang>.md``."""
    where = f"prose/{assignment}/{lang}.md"
    text = (root / where).read_text(encoding="utf-8")
    body, _, strings_part = text.partition("<!-- strings -->")
    parts = re.split(r"^<!-- cell: (\w+) -->\n", body, flags=re.M)[1:]
    cells = {name: chunk.strip() for name, chunk in zip(parts[0::2], parts[1::2], strict=True)}
    strings = {}
    for line in strings_part.strip().splitlines():
        if line.strip():
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"{where}: string line {line!r} needs 'key: value'")
            strings[key.strip()] = value.strip()
    return cells, strings


def _fill(code: str, strings: dict[str, str], where: str) -> str:
    def one(match):
        if match[1] not in strings:
            raise KeyError(f"{where} has no string {match[1]!r}")
        return strings[match[1]]

    return re.sub(r"«(\w+)»", one, code)


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def short(name: str) -> str:
    """``compute_da`` -> ``da``: the name in grade and cell ids (``test_da``)."""
    return name.removeprefix("compute_")


def test_id(name: str) -> str:
    """The grade id of the test cell that checks exercise ``name``."""
    return f"test_{short(name)}"


def solution_cell(exercise, lang: str) -> str:
    """The solution cell: signature, docstring, the stub's lines, the solution."""
    lines = [f'"""{exercise.doc[lang]}"""', *exercise.stub.splitlines(), YOUR_CODE[lang],
             "### BEGIN SOLUTION", exercise.solution, "### END SOLUTION"]  # fmt: skip
    return exercise.source("\n".join(lines)).rstrip("\n")


def solution_code(assignment: str = "gradient_descent", root: Path = ROOT) -> dict[str, str]:
    """The right answers as plain functions, ``{"compute_da": "def compute_da...", ...}``:
    what a student who gets everything right writes (the demo and the tests use it)."""
    exercises = (find_exercise(root, name) for name in exercises_of(assignment, root))
    return {ex.name: ex.source(ex.solution) for ex in exercises}


def points(assignment: str = "gradient_descent", root: Path = ROOT) -> dict[str, float]:
    """``{test grade id: points}`` of an assignment, in notebook order."""
    return {test_id(n): find_exercise(root, n).points for n in exercises_of(assignment, root)}


def test_source(name: str, lang: str) -> str:
    """The test cell of exercise ``name``: the visible check, then the hidden one."""
    return (
        "from grader import check\n\n"
        f'check("{name}", {name}, lang="{lang}")\n'
        "### BEGIN HIDDEN TESTS\n"
        f'check("{name}", {name}, lang="{lang}", hidden=True)\n'
        "### END HIDDEN TESTS"
    )


def build(assignment: str, lang: str, root: Path = ROOT) -> nbformat.NotebookNode:
    """The notebook of ``assignment`` in ``lang``."""
    spec = plan(assignment, root)
    prose, strings = read_prose(assignment, lang, root)
    where = f"prose/{assignment}/{lang}.md"
    needed = [n if k == "md" else f"task_{n}" for k, n in spec.PLAN if k in ("md", "exercise")]
    missing = [name for name in needed if name not in prose]
    if missing:
        raise KeyError(f"{where} lacks the cells {missing}")
    cells = []
    for kind, name in spec.PLAN:
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(prose[name])
            cell.id = f"md-{name}".replace("_", "-")
            cells.append(cell)
        elif kind == "setup":
            cell = nbformat.v4.new_code_cell(_fill(spec.SETUP, strings, where))
            cell.metadata.update(_nbgrader("setup", locked=True))
            cell.id = "setup-setup"
            cells.append(cell)
        elif kind == "code":
            cell = nbformat.v4.new_code_cell(_fill(spec.CODE[name], strings, where))
            cell.id = f"code-{name}".replace("_", "-")
            cells.append(cell)
        elif kind == "exercise":
            ex = find_exercise(root, name)
            task = nbformat.v4.new_markdown_cell(prose[f"task_{name}"])
            solution = nbformat.v4.new_code_cell(solution_cell(ex, lang))
            solution.metadata.update(_nbgrader(name, solution=True))
            test = nbformat.v4.new_code_cell(test_source(name, lang))
            test.metadata.update(_nbgrader(test_id(name), grade=True, locked=True,
                                           points=ex.points))  # fmt: skip
            test.metadata["lrjax"] = {"checks": name}
            for cell, prefix in ((task, "md-task"), (solution, "solution"), (test, "test")):
                cell.id = f"{prefix}-{short(name)}".replace("_", "-")
            cells += [task, solution, test]
        else:
            raise ValueError(f"plans/{assignment}.py: unknown cell kind {kind!r}")
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
        "lrjax": {"lang": lang},
    }  # fmt: skip
    nbformat.validate(nb)
    return nb


def folder(assignment: str, root: Path = ROOT) -> Path:
    """The source folder of ``assignment`` under a course root."""
    return root / "source" / assignment


def notebook_path(assignment: str, course: Path = ROOT, root: Path = ROOT) -> Path:
    """Where the notebook of ``assignment`` (as ``root``'s plan names it) lives under the
    course root ``course``."""
    return folder(assignment, course) / plan(assignment, root).NOTEBOOK


def course_lang(root: Path = ROOT) -> str:
    """The language the course under ``root`` was built in (English when not built yet).

    Raises:
        ValueError: its notebooks are in different languages (built by hand?).
    """
    found = set()
    for assignment in ASSIGNMENTS:
        path = notebook_path(assignment, root)
        if path.exists():
            nb = json.loads(path.read_text(encoding="utf-8"))
            found.add(nb.get("metadata", {}).get("lrjax", {}).get("lang", "en"))
    if len(found) > 1:
        raise ValueError(f"{root / 'source'} mixes the languages {sorted(found)}: rebuild it "
                         "with --lang en or --lang uk")  # fmt: skip
    return found.pop() if found else "en"


def write_course(lang: str, out: Path, root: Path = ROOT) -> list[Path]:
    """Write every assignment of the course in ``lang`` under the course root ``out``
    (its notebooks and checks.json; with ``out`` not ``root``, also the config and the
    exercises, so that ``out`` is a course of its own).

    Returns:
        The notebooks written.
    """
    out = Path(out)
    if out.resolve() != root.resolve():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "nbgrader_config.py", out / "nbgrader_config.py")
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(root / "exercises", out / "exercises", dirs_exist_ok=True, ignore=ignore)
    written = []
    for assignment in ASSIGNMENTS:
        path = notebook_path(assignment, out, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(assignment, lang, root), encoding="utf-8")
        write_checks(path.parent / CHECKS_FILE, checks_data(assignment, root))
        written.append(path)
    return written


def render(assignment: str, lang: str, root: Path = ROOT) -> str:
    """The notebook file's text, exactly as written to disk."""
    return nbformat.writes(build(assignment, lang, root)) + "\n"


def checks_data(assignment: str, root: Path = ROOT) -> list:
    """The visible bundles of an assignment's exercises (what goes into checks.json)."""
    return [course_bundle(root, n, hidden=False) for n in exercises_of(assignment, root)]


def same_numbers(a, b, rtol: float = 1e-6) -> bool:
    """JSON data equal up to float rounding (the last bits of a float32 computation may
    differ between CPUs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], rtol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, rtol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol,
                                                                 abs_tol=1e-30)  # fmt: skip
    return a == b


def stale_files(course: Path = ROOT, root: Path = ROOT) -> list[str]:
    """The notebooks and checks.json of the course root ``course`` that differ from a
    fresh build from ``root``'s plans, prose and exercises (in the language ``course``
    was built in)."""
    lang, stale = course_lang(course), []
    for assignment in ASSIGNMENTS:
        path, text = notebook_path(assignment, course, root), render(assignment, lang, root)
        checks = folder(assignment, course) / CHECKS_FILE
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(str(path))
        fresh = json.loads(json.dumps(checks_json(checks_data(assignment, root)), allow_nan=True))
        old = json.loads(checks.read_text(encoding="utf-8")) if checks.exists() else None
        if old is None or not same_numbers(old, fresh):
            stale.append(str(checks))
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    parser.add_argument("--lang", choices=LANGS,
                        help="the course's language (default: the one source/ is in)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write a new course root here (default: rewrite "
                        "this course's source/)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(f"out of date (run python {Path(__file__).name}): {', '.join(stale)}",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    try:
        lang = args.lang or course_lang()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in write_course(lang, args.out or ROOT):
        print(f"wrote {path} and {CHECKS_FILE} ({lang})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
