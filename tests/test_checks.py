"""The checks: right answers pass, every catalogued mistake is named, in both languages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference import MISTAKES, read_mistake

import grader
from grader import FUNCTIONS, Case, Outcome, cases, check, judge, run_case
from grader._messages import LANGS, message, title


def define(code: str, function: str):
    """The function a snippet defines, with the names the notebook's setup cell provides."""
    namespace = {"jax": jax, "jnp": jnp, "np": np}
    exec(compile(code, "<student>", "exec"), namespace)
    return namespace[function]


def diagnosis_line(diagnosis: str, lang: str, **fields) -> str:
    """The start of the message's diagnosis line, e.g. ``Diagnosis: sign flipped.``."""
    return message("diagnosis", lang, title=title(diagnosis, lang, **fields), advice="").strip()


RIGHT = {
    "compute_da": [
        lambda a, y: -y / a + (1 - y) / (1 - a),
        lambda a, y: jnp.where(y == 1, -1 / a, 1 / (1 - a)),
    ],
    "compute_dz": [
        lambda a, y: a - y,
        lambda a, y: (-y / a + (1 - y) / (1 - a)) * a * (1 - a),  # the chain rule, unsimplified
        lambda a, y: jnp.subtract(a, y),
    ],
    "compute_dw": [lambda x, dz: x * dz, lambda x, dz: jnp.multiply(dz, x)],
    "compute_db": [lambda dz: dz, lambda dz: jnp.asarray(dz) * 1.0],
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize(
    ("function", "fn"),
    [pytest.param(f, fn, id=f"{f}-{i}") for f, fns in RIGHT.items() for i, fn in enumerate(fns)],
)
def test_right_answers_pass(function, fn, hidden, lang):
    verdict = check(function, fn, lang=lang, hidden=hidden)
    assert verdict.passed, verdict.message
    assert (verdict.failed, verdict.total) == (0, len(cases(function, hidden=hidden)))
    assert function in verdict.message


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("path", sorted(MISTAKES.glob("*.py")), ids=lambda p: p.stem)
def test_each_catalogued_mistake_is_named(path, lang):
    function, diagnosis, code = read_mistake(path)
    verdict = check(function, define(code, function), lang=lang, hidden=True)
    assert not verdict.passed
    assert verdict.message.startswith(function)
    line = diagnosis_line(diagnosis, lang, type_name="list")
    assert line in verdict.message, verdict.message
    for word in ("input", "expected", "got"):  # the first failure: input, expected, got
        assert f"  {message(word, lang)}:" in verdict.message


def test_fixtures_cover_every_mistake_the_issue_names():
    named = {read_mistake(p)[1] for p in MISTAKES.glob("*.py")}
    assert {
        "sign_flipped",
        "da_missing_minus",
        "dz_as_da",
        "dw_without_x",
        "db_scaled",
        "wrong_shape",
        "tracer",
        "returned_list",
        "returned_none",
    } <= named
    assert {read_mistake(p)[0] for p in MISTAKES.glob("*.py")} == set(FUNCTIONS)


def test_missing_minus_is_told_apart_from_a_flipped_sign():
    missing = check("compute_da", lambda a, y: y / a + (1 - y) / (1 - a), hidden=True)
    flipped = check("compute_da", lambda a, y: y / a - (1 - y) / (1 - a), hidden=True)
    assert diagnosis_line("da_missing_minus", "en") in missing.message
    assert diagnosis_line("sign_flipped", "en") in flipped.message
    assert (
        missing.failed < flipped.failed == flipped.total
    )  # y = 0 cases pass when only the minus is missing


def test_the_message_shows_the_first_failure_in_detail():
    verdict = check("compute_dz", lambda a, y: y - a)
    first = cases("compute_dz")[0]
    assert first.label == "y=1 a=0.8 f32 0d"
    assert "a = 0.8 (float32 0-d array), y = 1.0 (float32 0-d array)" in verdict.message
    # float32(0.8) - 1 is -0.19999999 in float32: the exact values are shown
    assert "expected: -0.19999999\n" in verdict.message
    assert "got:      0.19999999 (numpy.float32, float32)" in verdict.message
    assert message("how.call", "en") in verdict.message
    assert "dz = a - y" in verdict.message  # the formula


def test_ukrainian_feedback_is_in_ukrainian():
    verdict = check("compute_dw", lambda x, dz: dz, lang="uk")
    assert "dw без x" in verdict.message
    assert "очікувано:" in verdict.message and "отримано:" in verdict.message
    assert "expected" not in verdict.message


def test_tracer_mistake_fails_only_under_tracing():
    verdict = check("compute_dz", lambda a, y: np.float64(a) - np.float64(y), hidden=True)
    traced = [c for c in cases("compute_dz", hidden=True) if c.mode != "call"]
    assert verdict.failed == len(traced)
    assert message("how.jit", "en") in verdict.message  # the first failure is under jax.jit
    assert "TracerArrayConversionError" in verdict.message


def test_not_implemented_stub_is_reported_as_such():
    def compute_db(dz):
        raise NotImplementedError()

    verdict = check("compute_db", compute_db, lang="uk")
    assert diagnosis_line("not_implemented", "uk") in verdict.message
    assert verdict.failed == verdict.total


def test_other_exceptions_are_quoted():
    verdict = check("compute_dw", lambda x, dz: x @ dz)
    assert diagnosis_line("raised", "en") in verdict.message
    assert "TypeError" in verdict.message or "ValueError" in verdict.message


def test_an_integer_result_is_not_floating_point():
    verdict = check("compute_db", lambda dz: jnp.round(dz).astype(jnp.int32))
    assert diagnosis_line("not_float", "en") in verdict.message


def test_float64_inputs_must_keep_their_precision():
    verdict = check("compute_db", lambda dz: jnp.asarray(dz, jnp.float32), hidden=True)
    assert diagnosis_line("lost_precision", "en") in verdict.message


def test_a_value_that_is_simply_wrong_gets_the_generic_diagnosis():
    verdict = check("compute_dz", lambda a, y: a * y)
    assert diagnosis_line("wrong_values", "en") in verdict.message


def test_scaled_db_reports_the_factor():
    verdict = check("compute_db", lambda dz: dz * 3)
    assert diagnosis_line("db_scaled", "en") in verdict.message
    assert "3 times" in verdict.message


# run_case: the only code that calls student functions


@pytest.mark.parametrize(
    ("fn", "type_name", "has_value"),
    [
        (lambda dz: jnp.asarray(dz), "jax.Array", True),
        (lambda dz: np.asarray(dz), "numpy.ndarray", True),
        (lambda dz: np.float32(dz), "numpy.float32", True),
        (lambda dz: 0.5, "float", True),
        (lambda dz: [dz], "list", False),
        (lambda dz: (dz,), "tuple", False),
        (lambda dz: None, "NoneType", False),
        (lambda dz: "0.5", "str", False),
    ],
    ids=["jax", "ndarray", "np-scalar", "float", "list", "tuple", "none", "str"],
)
def test_run_case_reports_the_returned_type(fn, type_name, has_value):
    case = cases("compute_db")[0]
    out = run_case(fn, case)
    assert out.error is None
    assert out.type_name == type_name
    assert (out.value is not None) == has_value
    if has_value:
        assert isinstance(out.value, np.ndarray)


def test_run_case_turns_exceptions_into_data():
    def boom(dz):
        raise ZeroDivisionError("no")

    out = run_case(boom, cases("compute_db")[0])
    assert out == Outcome(value=None, type_name="", error="ZeroDivisionError: no")
    not_callable = run_case(None, cases("compute_db")[0])
    assert not_callable.error.startswith("TypeError")


@pytest.mark.parametrize("mode", ["call", "jit", "vmap"])
def test_run_case_keeps_float64_in_every_mode(mode):
    case = next(
        c
        for c in cases("compute_dz", hidden=True)
        if c.mode == mode and c.args[0].dtype == np.float64
    )
    out = run_case(lambda a, y: a - y, case)
    assert out.value.dtype == np.float64
    np.testing.assert_allclose(
        out.value, np.asarray(case.args[0], np.float64) - case.args[1], rtol=1e-15
    )


def test_run_case_applies_jit_and_vmap():
    seen = []

    def spy(dz):
        seen.append(type(dz))
        return dz

    for mode in ("call", "jit", "vmap"):
        case = next(c for c in cases("compute_db") if c.mode == mode)
        assert run_case(spy, case).error is None
    assert not issubclass(seen[0], jax.core.Tracer)
    assert issubclass(seen[1], jax.core.Tracer) and issubclass(seen[2], jax.core.Tracer)


def test_run_case_refuses_an_unknown_mode_as_data():
    case = Case("compute_db", (np.float32(0.5),), "pmap", "bad")
    assert "Unknown mode" in run_case(lambda dz: dz, case).error


# judge and the notebook API


def test_judge_refuses_mismatched_inputs():
    found = cases("compute_db")
    with pytest.raises(ValueError, match="one outcome per case"):
        judge("compute_db", found, [])
    with pytest.raises(ValueError, match="compute_da"):
        judge("compute_dx", [], [])
    with pytest.raises(ValueError, match="'en', 'uk'"):
        judge("compute_db", found, [run_case(lambda dz: dz, c) for c in found], lang="fr")


def test_judge_works_on_plain_outcomes_without_the_function():
    """The secure grader sends only Outcome fields back: judge needs nothing else."""
    found = cases("compute_db")
    outcomes = [Outcome(np.asarray(c.args[0]), "numpy.ndarray", None) for c in found]
    assert judge("compute_db", found, outcomes).passed
    outcomes[-1] = Outcome(None, "NoneType", None)
    verdict = judge("compute_db", found, outcomes)
    assert (verdict.passed, verdict.failed) == (False, 1)


@pytest.mark.parametrize("name", ["da", "dz", "dw", "db"])
def test_check_functions_print_on_success_and_raise_on_failure(name, capsys):
    check_fn = getattr(grader, f"check_{name}")
    right = RIGHT[f"compute_{name}"][0]
    check_fn(right, lang="uk", hidden=True)
    out = capsys.readouterr()
    assert f"compute_{name}" in out.out and out.err == ""
    with pytest.raises(AssertionError, match=f"compute_{name}"):
        check_fn(lambda *args: None)
    assert capsys.readouterr().err == ""
