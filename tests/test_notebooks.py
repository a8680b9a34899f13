"""The course notebooks: up to date with their generator, the grader contract, EN = UK."""

import ast
import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import pytest

from grader import FUNCTIONS, check

ROOT = Path(__file__).resolve().parent.parent / "assignments"
POINTS = {"test_da": 3, "test_dz": 3, "test_dw": 2, "test_db": 2}


def load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = load_builder()


def notebook(lang: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "source" / f"gradient_descent_{lang}" / "gradient_descent.ipynb", 4)


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


def test_committed_notebooks_are_what_the_generator_makes(capsys):
    assert builder.main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_notebook_follows_the_grader_contract(lang):
    nb = notebook(lang)
    nbformat.validate(nb)
    assert nb.metadata["lrjax"] == {"lang": lang}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    cells = {c.metadata.nbgrader["grade_id"]: c for c in nbgrader_cells(nb)}
    assert list(cells) == [
        "setup",
        *[i for f in ("da", "dz", "dw", "db") for i in (f"compute_{f}", f"test_{f}")],
    ]
    setup = cells["setup"].metadata.nbgrader
    assert (setup["locked"], setup["grade"], setup["solution"]) == (True, False, False)
    for line in ("import jax", "import jax.numpy as jnp", "import numpy as np"):
        assert line in cells["setup"].source.splitlines()
    env = cells["setup"].source.index('os.environ["JAX_PLATFORMS"] = "cpu"')
    assert env < cells["setup"].source.index("import jax"), "silence JAX before importing it"
    for function in FUNCTIONS:
        solution = cells[function]
        assert solution.metadata.nbgrader["solution"] and not solution.metadata.nbgrader["grade"]
        assert solution.source.startswith(f"def {function}(")
        assert "### BEGIN SOLUTION" in solution.source and "### END SOLUTION" in solution.source
        name = function.removeprefix("compute_")
        test = cells[f"test_{name}"]
        assert test.metadata.nbgrader["grade"] and test.metadata.nbgrader["locked"]
        assert test.metadata.nbgrader["points"] == POINTS[f"test_{name}"]
        assert test.metadata["lrjax"] == {"checks": function}
        assert test.source == (
            f"from grader import check_{name}\n"
            f'check_{name}({function}, lang="{lang}")\n'
            "### BEGIN HIDDEN TESTS\n"
            f'check_{name}({function}, lang="{lang}", hidden=True)\n'
            "### END HIDDEN TESTS"
        )
    assert sum(c.metadata.nbgrader.get("points", 0) for c in cells.values()) == 10


def test_english_and_ukrainian_notebooks_grade_the_same():
    en, uk = notebook("en"), notebook("uk")
    assert graded_view(en, "en") == graded_view(uk, "uk")
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in uk.cells]
    assert [c.id for c in en.cells] == [c.id for c in uk.cells]


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_every_code_cell_is_valid_python(lang):
    for cell in notebook(lang).cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_solutions_in_the_notebook_pass_their_checks(lang):
    """The solution code inside the notebook, run as the notebook would run it."""
    for cell in nbgrader_cells(notebook(lang)):
        if cell.metadata.nbgrader["solution"]:
            function = cell.metadata.nbgrader["grade_id"]
            namespace = {"jax": jax, "jnp": jnp, "np": np}
            exec(compile(cell.source, function, "exec"), namespace)
            verdict = check(function, namespace[function], lang=lang, hidden=True)
            assert verdict.passed, verdict.message


def test_prose_files_have_the_same_cells_and_strings():
    en_cells, en_strings = builder.read_prose("en")
    uk_cells, uk_strings = builder.read_prose("uk")
    assert list(en_cells) == list(uk_cells)
    assert set(en_strings) == set(uk_strings)
    used = {name for code in builder.CODE.values() for name in re.findall(r"«(\w+)»", code)}
    assert used <= set(en_strings)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["computation graph", "chain rule", "a - y", "jax.vmap", "jax.jit", "jax.grad"]),
        ("uk", ["Втрат", "Градієнтн", "похідн", "Діаграм", "ланцюгов", "зразк", "jax.vmap"]),
    ],
)
def test_the_notebook_teaches_the_lecture_in_its_language(lang, words):
    text = "\n".join(c.source for c in notebook(lang).cells if c.cell_type == "markdown")
    for word in words:
        assert word in text, word
    code = "\n".join(c.source for c in notebook(lang).cells if c.cell_type == "code")
    for needed in (
        "jax.vmap(compute_dz)",
        "jax.jit",
        "jax.grad",
        "load_breast_cancer",
        "draw_graph",
    ):
        assert needed in code, needed


def test_the_generator_refuses_a_missing_string():
    with pytest.raises(KeyError, match="no string 'nope'"):
        builder._fill("print('«nope»')", {}, "en")
