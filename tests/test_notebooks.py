"""The course notebooks: up to date with their generator, the grader contract, EN = UK,
and everything in them comes from the exercise declarations."""

import ast
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import pytest
from _exercises import EXERCISES

from grader._course import builder as load_builder
from grader.checks import CHECKS_FILE, evaluate

ROOT = Path(__file__).resolve().parent.parent / "assignments"
ASSIGNMENTS = {
    "gradient_descent": ("compute_da", "compute_dz", "compute_dw", "compute_db"),
    "m_examples": ("compute_cost", "propagate", "gradient_descent", "predict"),
}
LANGS = ("en", "uk")
BOTH = [pytest.param(a, lang, id=f"{a}-{lang}") for a in ASSIGNMENTS for lang in LANGS]


builder = load_builder()  # the builder module, loaded once


def notebook(assignment: str, lang: str) -> nbformat.NotebookNode:
    """The notebook as built (the committed course is the English build, checked below)."""
    return builder.build(assignment, lang)


def nbgrader_cells(nb) -> list:
    return [c for c in nb.cells if "nbgrader" in c.metadata]


def graded_view(nb, lang: str) -> list[tuple]:
    """What must agree between languages: ids, flags, points, checks; test code without lang."""
    view = []
    for cell in nbgrader_cells(nb):
        meta = dict(cell.metadata.nbgrader)
        source = cell.source if meta["grade"] else None
        if source is not None:
            source = source.replace(f'lang="{lang}"', 'lang="?"')
        view.append((cell.cell_type, meta, dict(cell.metadata.get("lrjax", {})), source))
    return view


def test_committed_notebooks_and_checks_are_what_the_generator_makes(capsys):
    assert builder.main(["--check"]) == 0, capsys.readouterr().err
    assert tuple(builder.ASSIGNMENTS) == tuple(ASSIGNMENTS)


@pytest.mark.parametrize(("assignment", "lang"), BOTH)
def test_notebook_follows_the_grader_contract(assignment, lang):
    nb = notebook(assignment, lang)
    nbformat.validate(nb)
    assert nb.metadata["lrjax"] == {"lang": lang}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = {c.metadata.nbgrader["grade_id"]: c for c in nbgrader_cells(nb)}
    names = ASSIGNMENTS[assignment]
    assert list(cells) == ["setup", *[i for n in names for i in (n, builder.test_id(n))]]
    setup = cells["setup"].metadata.nbgrader
    assert (setup["locked"], setup["grade"], setup["solution"]) == (True, False, False)
    for line in ("import jax", "import jax.numpy as jnp", "import numpy as np"):
        assert line in cells["setup"].source.splitlines()
    env = cells["setup"].source.index('os.environ["JAX_PLATFORMS"] = "cpu"')
    assert env < cells["setup"].source.index("import jax"), "silence JAX before importing it"
    for name in names:
        ex = EXERCISES[name]
        solution = cells[name]
        assert solution.metadata.nbgrader["solution"] and not solution.metadata.nbgrader["grade"]
        assert solution.source.startswith(f'def {ex.signature()}:\n    """{ex.doc[lang]}"""')
        assert "### BEGIN SOLUTION" in solution.source and "### END SOLUTION" in solution.source
        test = cells[builder.test_id(name)]
        assert test.metadata.nbgrader["grade"] and test.metadata.nbgrader["locked"]
        assert test.metadata.nbgrader["points"] == ex.points
        assert test.metadata["lrjax"] == {"checks": name}
        assert test.source == (
            "from grader import check\n\n"
            f'check("{name}", {name}, lang="{lang}")\n'
            "### BEGIN HIDDEN TESTS\n"
            f'check("{name}", {name}, lang="{lang}", hidden=True)\n'
            "### END HIDDEN TESTS"
        )
    assert sum(c.metadata.nbgrader.get("points", 0) for c in cells.values()) == 10


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_english_and_ukrainian_notebooks_grade_the_same(assignment):
    en, uk = notebook(assignment, "en"), notebook(assignment, "uk")
    assert graded_view(en, "en") == graded_view(uk, "uk")
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in uk.cells]
    assert [c.id for c in en.cells] == [c.id for c in uk.cells]


def test_a_course_is_built_in_one_language(tmp_path, capsys):
    """``--lang uk --out DIR``: one assignment per notebook, named without a language,
    Ukrainian throughout (stub line included), the same checks.json as the English course."""
    assert builder.main(["--lang", "uk", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "source").iterdir()) == sorted(ASSIGNMENTS)
    assert (tmp_path / "nbgrader_config.py").is_file() and (tmp_path / "exercises").is_dir()
    assert builder.course_lang(tmp_path) == "uk" and builder.course_lang(ROOT) == "en"
    for assignment in ASSIGNMENTS:
        folder = tmp_path / "source" / assignment
        nb = nbformat.read(folder / f"{assignment}.ipynb", 4)
        assert nb.metadata["lrjax"] == {"lang": "uk"}
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "# ВАШ КОД ТУТ" in code and "YOUR CODE" not in code
        committed = ROOT / "source" / assignment / CHECKS_FILE
        assert json.loads((folder / CHECKS_FILE).read_text()) == json.loads(committed.read_text())
    assert builder.stale_files(tmp_path) == []  # --check holds for a Ukrainian course too


def test_a_course_of_two_languages_is_refused(tmp_path, capsys):
    builder.write_course("uk", tmp_path)
    en = builder.render("m_examples", "en")
    builder.notebook_path("m_examples", tmp_path).write_text(en, encoding="utf-8")
    with pytest.raises(ValueError, match="mixes the languages"):
        builder.course_lang(tmp_path)
    assert builder.main(["--out", str(tmp_path / "x")]) == 0  # --out alone: this course's
    assert builder.course_lang(tmp_path / "x") == "en"


@pytest.mark.parametrize(("assignment", "lang"), BOTH)
def test_every_code_cell_is_valid_python(assignment, lang):
    for cell in notebook(assignment, lang).cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)


@pytest.mark.parametrize(("assignment", "lang"), BOTH)
def test_solutions_in_the_notebook_pass_their_checks(assignment, lang):
    """The solution code inside the notebook, run as the notebook would run it (one
    namespace: gradient_descent calls propagate)."""
    namespace = {"jax": jax, "jnp": jnp, "np": np}
    for cell in nbgrader_cells(notebook(assignment, lang)):
        if cell.metadata.nbgrader["solution"]:
            name = cell.metadata.nbgrader["grade_id"]
            exec(compile(cell.source, name, "exec"), namespace)
            verdict = evaluate(name, namespace[name], lang=lang, hidden=True, course=ROOT)
            assert verdict.passed and not verdict.diagnoses, verdict.message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_prose_files_have_the_same_cells_and_strings(assignment):
    en_cells, en_strings = builder.read_prose(assignment, "en")
    uk_cells, uk_strings = builder.read_prose(assignment, "uk")
    assert list(en_cells) == list(uk_cells)
    assert set(en_strings) == set(uk_strings)
    plan = builder.plan(assignment)
    code = [plan.SETUP, *plan.CODE.values()]
    used = {name for text in code for name in re.findall(r"«(\w+)»", text)}
    assert used <= set(en_strings)
    tasks = {f"task_{n}" for k, n in plan.PLAN if k == "exercise"}
    assert tasks <= set(en_cells)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["computation graph", "chain rule", "a - y", "jax.vmap", "jax.jit", "jax.grad"]),
        ("uk", ["втрат", "градієнтн", "похідн", "обчислювальн", "ланцюгов", "зразк", "jax.vmap"]),
    ],
)
def test_the_first_notebook_teaches_the_lecture_in_its_language(lang, words):
    nb = notebook("gradient_descent", lang)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for word in words:
        assert word in text.lower(), word
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for needed in ("jax.vmap(compute_dz)", "jax.jit", "jax.grad", "load_breast_cancer",
                   "draw_graph"):  # fmt: skip
        assert needed in code, needed


@pytest.mark.parametrize("lang", LANGS)
def test_the_second_notebook_shows_what_the_issue_asks(lang):
    """propagate = the mean of one-example gradients (vmap), = jax.grad; training on the
    embedded data with a loss curve; the loop timed against the vectorised version."""
    nb = notebook("m_examples", lang)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for needed in ("jax.vmap", "jax.grad", "load_breast_cancer", "gradient_descent(",
                   "predict(", "plt.", "perf_counter", "jax.jit", "lrjax.fit"):  # fmt: skip
        assert needed in code, needed
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "(m, n)" in text


def test_the_generator_refuses_a_missing_string():
    with pytest.raises(KeyError, match="no string 'nope'"):
        builder._fill("print('«nope»')", {}, "prose/x/en.md")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_ukrainian_terms_are_not_capitalised_mid_sentence(assignment):
    """Ukrainian writes terms in lower case inside a sentence ("змінює втрату", not
    "змінює Втрату"); a capital after a lower-case word and a space reads as a mistake."""
    cells, strings = builder.read_prose(assignment, "uk")
    text = "\n".join([*cells.values(), *strings.values()])
    terms = "Втрат|Градієнт|Вартіст|Похідн|Діаграм|Обчислювальн|Функці|Логістичн|Швидкіст"
    found = re.findall(rf"[а-яіїєґ,] (?:{terms})\w*", text)
    assert not found, found
