"""The checks: right answers pass, every catalogued mistake is named, in both languages."""

import contextlib
import json
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exercises import COURSE, EXERCISES, NAMES, bundle, cases, mistakes, solution
from _reference import MISTAKES, read_mistake

from grader import Case, Outcome, check, evaluate, judge, run_case
from grader.checks import CHECKS_FILE, find_bundle, write_checks
from grader.checks._messages import GENERIC_RANK, LANGS, message, title
from grader.protocol import case_dtype, run_cases


def define(code: str, function: str):
    """The function a snippet defines, with the names the notebook's setup cell provides
    (and the course's right answers, which a notebook defines in earlier cells)."""
    namespace = {"jax": jax, "jnp": jnp, "np": np, "propagate": solution("propagate")}
    exec(compile(code, "<student>", "exec"), namespace)
    return namespace[function]


def run(name, fn, **kw):
    """evaluate() against the course's declarations (hidden cases included by default)."""
    kw.setdefault("hidden", True)
    return evaluate(name, fn, course=COURSE, **kw)


def verdicts(name, fn) -> dict:
    """``{lang: Verdict}`` on the hidden cases: the cases run once, judged in each language."""
    found = find_bundle(name, hidden=True, course=COURSE)
    outcomes = [run_case(fn, c) for c in found.all_cases]
    return {lang: judge(found, outcomes, lang=lang) for lang in LANGS}


RIGHT = {
    "compute_da": [lambda a, y: jnp.where(y == 1, -1 / a, 1 / (1 - a))],
    "compute_dz": [
        lambda a, y: (-y / a + (1 - y) / (1 - a)) * a * (1 - a),  # the chain rule, unsimplified
        lambda a, y: jnp.subtract(a, y),
    ],
    "compute_dw": [lambda x, dz: jnp.multiply(dz, x)],
    "compute_db": [lambda dz: jnp.asarray(dz) * 1.0],
    "compute_cost": [lambda A, Y: jnp.mean(-jnp.log(jnp.where(Y == 1, A, 1 - A)))],
    "propagate": [
        lambda w, b, X, Y: {  # a dict with the names is as good as the tuple
            "cost": -jnp.mean(
                jnp.log(jnp.where(Y == 1, jax.nn.sigmoid(X @ w + b), 1 - jax.nn.sigmoid(X @ w + b)))
            ),
            "dw": jnp.dot(jax.nn.sigmoid(X @ w + b) - Y, X) / len(Y),
            "db": jnp.mean(jax.nn.sigmoid(X @ w + b) - Y),
        }
    ],
    "predict": [
        lambda w, b, X: X @ w + b >= 0,  # booleans are labels too
        lambda w, b, X: jnp.where(jax.nn.sigmoid(X @ w + b) >= 0.5, 1.0, 0.0),
    ],
}


def right_answers():
    """Each declared solution, visible cases (English) and hidden ones (Ukrainian); the
    other right answers on the hidden cases, which include the visible ones."""
    solutions = [
        pytest.param(n, solution(n), hidden, lang, id=f"{n}-solution-{kind}")
        for n in NAMES
        for hidden, lang, kind in ((False, "en", "visible"), (True, "uk", "hidden"))
    ]
    others = [
        pytest.param(n, fn, True, "en", id=f"{n}-{i}")
        for n, fns in RIGHT.items()
        for i, fn in enumerate(fns)
    ]
    return solutions + others


@pytest.mark.parametrize(("name", "fn", "hidden", "lang"), right_answers())
def test_right_answers_pass(name, fn, hidden, lang):
    verdict = run(name, fn, lang=lang, hidden=hidden)
    assert verdict.passed, verdict.message
    assert (verdict.failed, verdict.total) == (0, len(cases(name, hidden=hidden)))
    assert name in verdict.message and verdict.diagnoses == ()


@pytest.mark.parametrize(
    ("exercise", "mistake"), [pytest.param(e, m, id=f"{e.name}-{m.name}") for e, m in mistakes()]
)
def test_each_declared_mistake_is_diagnosed_as_itself(exercise, mistake):
    for lang, verdict in verdicts(exercise.name, exercise.function(mistake.code)).items():
        assert verdict.diagnoses == (mistake.name,), verdict.message
        assert mistake.title[lang] in verdict.message
        if mistake.hint:  # right numbers: passes, with the hint after the success line
            assert verdict.passed and verdict.message.startswith(
                message("pass", lang, function=exercise.name, total=verdict.total)
            )
        else:
            assert not verdict.passed and verdict.failed > 0
            for word in ("input", "expected", "got"):  # the first failure: input, expected, got
                assert f"  {message(word, lang)}:" in verdict.message


@pytest.mark.parametrize("path", sorted(MISTAKES.glob("*.py")), ids=lambda p: p.stem)
def test_each_generic_mistake_is_named(path):
    function, diagnosis, code = read_mistake(path)
    for lang, verdict in verdicts(function, define(code, function)).items():
        _named(function, diagnosis, lang, verdict)


def _named(function, diagnosis, lang, verdict):
    assert not verdict.passed
    assert verdict.message.startswith(function)
    assert verdict.diagnoses == (diagnosis,), verdict.message
    ex = EXERCISES[function]
    kind = "str" if diagnosis == "unsupported_type" else "list"
    fields = {"type_name": kind, "count": len(ex.leaf_names), "names": ", ".join(ex.leaf_names)}
    own = ex.overrides.get(diagnosis, {}).get("title", {}).get(lang)
    assert (own or title(diagnosis, lang, **fields)) in verdict.message, verdict.message


def test_every_diagnosis_and_mistake_has_a_fixture():
    """Each generic diagnosis is produced by a fixture file; each catalogued mistake is its
    own fixture (above). Not implemented is also the untouched release (test_course)."""
    named = {read_mistake(p)[1] for p in MISTAKES.glob("*.py")}
    assert named == set(GENERIC_RANK)
    assert {e.name for e, _ in mistakes()} == set(NAMES) - {"compute_db"}


def test_missing_minus_is_told_apart_from_a_flipped_sign():
    missing = run("compute_da", lambda a, y: y / a + (1 - y) / (1 - a))
    flipped = run("compute_da", lambda a, y: y / a - (1 - y) / (1 - a))
    assert missing.diagnoses == ("da_missing_minus",)
    assert flipped.diagnoses == ("sign_flipped",)
    assert missing.failed < flipped.failed == flipped.total  # y = 0 cases pass


def test_the_message_shows_the_first_failure_in_detail():
    verdict = run("compute_dz", lambda a, y: y - a, hidden=False)
    assert cases("compute_dz")[0].label.startswith("y=1 a=0.8 float32 0d")
    assert "a = 0.8 (float32 0-d array), y = 1.0 (float32 0-d array)" in verdict.message
    # float32(0.8) - 1 is -0.19999999 in float32: the exact values are shown
    assert "expected: -0.19999999\n" in verdict.message
    assert "got:      0.19999999 (numpy.float32, float32)" in verdict.message
    assert message("how.call", "en") in verdict.message
    assert "dz = a - y" in verdict.message  # the formula


def test_ukrainian_feedback_is_in_ukrainian():
    verdict = run("compute_dw", lambda x, dz: dz, lang="uk")
    assert "dw без x" in verdict.message
    assert "очікувано:" in verdict.message and "отримано:" in verdict.message
    assert "expected" not in verdict.message


def test_tracer_mistake_fails_only_under_tracing():
    verdict = run("compute_dz", lambda a, y: np.float64(a) - np.float64(y))
    traced = [c for c in cases("compute_dz", hidden=True) if c.mode != "call"]
    assert verdict.failed == len(traced)
    assert message("how.jit", "en") in verdict.message  # the first failure is under jax.jit
    assert "TracerArrayConversionError" in verdict.message


def test_scaled_db_reports_the_factor():
    verdict = run("compute_db", lambda dz: dz * 3, hidden=False)
    assert verdict.diagnoses == ("scaled",)
    assert "db averaged or summed wrongly" in verdict.message and "3 times" in verdict.message


def test_a_value_of_several_is_named_right_or_wrong():
    ex = EXERCISES["propagate"]
    db_summed = next(m for m in ex.mistakes if m.name == "db_summed")
    verdict = run("propagate", ex.function(db_summed.code))
    assert "Right: dw, cost. Not right: db." in verdict.message
    assert "Diagnosis for db: db summed, not averaged." in verdict.message
    uk = run("propagate", ex.function(db_summed.code), lang="uk")
    assert "Правильно: dw, cost. Неправильно: db." in uk.message


def test_two_mistakes_at_once_are_both_named():
    def propagate(w, b, X, Y):
        A = jax.nn.sigmoid(X @ w + b)
        cost = jnp.mean(Y * jnp.log(A) + (1 - Y) * jnp.log(1 - A))  # no minus
        return X.T @ (A - Y) / X.shape[0], jnp.sum(A - Y), cost  # db summed

    verdict = run("propagate", propagate)
    assert verdict.diagnoses == ("db_summed", "cost_sign")
    assert "Right: dw. Not right: db, cost." in verdict.message


def test_a_list_of_costs_is_accepted():
    def gradient_descent(w, b, X, Y, learning_rate, steps):
        costs = []
        for _ in range(steps):
            dw, db, cost = solution("propagate")(w, b, X, Y)
            costs.append(cost)  # returned as a list, as many courses do
            w, b = w - learning_rate * dw, b - learning_rate * db
        return w, b, costs

    assert run("gradient_descent", gradient_descent).passed


@pytest.mark.parametrize("name", [n for n in NAMES if n != "predict"])  # labels: exact
@pytest.mark.parametrize(("factor", "passes"), [(0.3, True), (3.0, False)], ids=["in", "out"])
def test_the_tolerance_is_the_declared_one(name, factor, passes):
    """An answer off by a fraction of the declared tolerance passes; off by a few times it
    fails: a tolerance made wider or narrower by mistake is caught."""
    b = bundle(name, hidden=True)
    outcomes = []
    for case, want in zip(b.cases, b.wants, strict=True):
        rtol, atol = b.tolerance[np.dtype(case_dtype(case)).name]

        def nudge(v, rtol=rtol, atol=atol):
            v = np.asarray(v)
            step = (rtol * np.abs(v.astype(np.float64)) + atol) * factor
            return np.asarray((v.astype(np.float64) + step).astype(v.dtype))

        value = nudge(want) if isinstance(want, np.ndarray) else tuple(map(nudge, want))
        outcomes.append(Outcome(value, "jax.Array", None))
    outcomes += [Outcome(np.asarray(5), "numpy.ndarray", None)] * len(b.probes)
    verdict = judge(b, outcomes)
    assert verdict.passed is passes, verdict.message


def test_a_python_loop_is_a_hint_in_both_languages():
    ex = EXERCISES["compute_cost"]
    loop = ex.function(next(m.code for m in ex.mistakes if m.hint))
    for lang in LANGS:
        verdict = run("compute_cost", loop, lang=lang)
        assert verdict.passed and verdict.failed == 0 and verdict.diagnoses == ("python_loop",)
        assert message("hint", lang, title="", advice="").split(":")[0] in verdict.message
    assert run("compute_cost", solution("compute_cost")).diagnoses == ()


def test_the_checks_json_beside_a_notebook_gives_the_same_verdicts(tmp_path, monkeypatch):
    """A student's check reads checks.json (visible cases, answers precomputed) and
    tells exactly what the declarations tell."""
    names = ("compute_dw", "propagate", "predict")
    write_checks(tmp_path / CHECKS_FILE, [bundle(n) for n in names])
    data = json.loads((tmp_path / CHECKS_FILE).read_text())
    assert set(data["exercises"]) == set(names)
    monkeypatch.chdir(tmp_path)
    wrong = {
        "compute_dw": lambda x, dz: jnp.sum(x * dz),
        "propagate": EXERCISES["propagate"].function(EXERCISES["propagate"].mistakes[1].code),
        "predict": lambda w, b, X: (X @ w + b >= 0.5).astype(jnp.int32),
    }
    for name, fn in wrong.items():
        here = evaluate(name, fn, lang="uk")
        assert here.message == run(name, fn, lang="uk", hidden=False).message
        assert not here.passed and here.diagnoses
    assert evaluate("compute_dw", solution("compute_dw")).passed


def test_checks_json_holds_only_the_visible_cases():
    for assignment in ("gradient_descent", "m_examples"):
        path = COURSE / "source" / assignment / CHECKS_FILE
        for name, entry in json.loads(path.read_text())["exercises"].items():
            labels = [row["case"]["label"] for row in entry["cases"]]
            assert labels == [c.label for c in cases(name)], name  # visible, in order


def test_hidden_cases_need_the_instructors_course(tmp_path, monkeypatch):
    shutil.copy(COURSE / "source" / "gradient_descent" / CHECKS_FILE, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert evaluate("compute_dz", solution("compute_dz")).passed
    with pytest.raises(FileNotFoundError, match="only in the instructor's course"):
        evaluate("compute_dz", solution("compute_dz"), hidden=True)


def test_the_course_is_found_above_the_working_folder(tmp_path, monkeypatch):
    shutil.copytree(COURSE / "exercises", tmp_path / "exercises")
    shutil.copy(COURSE / "nbgrader_config.py", tmp_path)
    (tmp_path / "autograded" / "ada" / "gradient_descent").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "autograded" / "ada" / "gradient_descent")
    assert evaluate("compute_db", solution("compute_db"), hidden=True).passed
    assert list((tmp_path / ".lrjax-cache").glob("compute_db-*.json"))


# run_case: the only code that calls student functions


@pytest.mark.parametrize(
    ("fn", "type_name", "has_value"),
    [
        (lambda dz: jnp.asarray(dz), "jax.Array", True),
        (lambda dz: np.asarray(dz), "numpy.ndarray", True),
        (lambda dz: np.float32(dz), "numpy.float32", True),
        (lambda dz: 0.5, "float", True),
        (lambda dz: [dz], "list", True),
        (lambda dz: (dz,), "tuple", True),
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
    if has_value:  # a list or tuple of arrays is a tree of them (a tuple)
        assert isinstance(out.value, tuple if type_name in ("list", "tuple") else np.ndarray)


def test_run_case_turns_exceptions_into_data():
    def boom(dz):
        raise ZeroDivisionError("no")

    out = run_case(boom, cases("compute_db")[0])
    assert (out.value, out.type_name) == (None, "")
    first, where = out.error.splitlines()
    assert first == "ZeroDivisionError: no"
    assert re.fullmatch(r'line \d+, in boom: raise ZeroDivisionError\("no"\)', where)
    not_callable = run_case(None, cases("compute_db")[0])
    assert not_callable.error.startswith("TypeError")


@pytest.mark.parametrize("mode", ["call", "jit", "vmap"])
def test_an_error_in_the_students_code_shows_their_lines_not_ours(mode):
    """The student's frames (innermost last), none of JAX's or the grader's; an error
    without a message has no stray colon."""

    def helper(dz):
        raise NotImplementedError

    def compute_db(dz):
        return helper(dz)

    case = next(c for c in cases("compute_db") if c.mode == mode)
    lines = run_case(compute_db, case).error.splitlines()
    assert lines[0] == "NotImplementedError"
    assert [re.sub(r"line \d+, ", "", line) for line in lines[1:]] == [
        "in compute_db: return helper(dz)",
        "in helper: raise NotImplementedError",
    ]
    verdict = judge(bundle("compute_db"), [run_case(compute_db, c) for c in
                                           bundle("compute_db").all_cases])  # fmt: skip
    got = verdict.message.split("got:", 1)[1].splitlines()
    assert got[0].strip() == "raised NotImplementedError"
    assert re.fullmatch(r" +at line \d+, in helper: raise NotImplementedError", got[2])


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


def test_a_case_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="Unknown mode 'pmap'"):
        Case("compute_db", (np.float32(0.5),), "pmap", "bad")


def test_trace_mode_counts_operations_and_grows_with_a_loop():
    small, large = EXERCISES["compute_cost"].probes
    vectorised = [run_case(solution("compute_cost"), c).value for c in (small, large)]
    assert vectorised[0] == vectorised[1] > 0
    loop = EXERCISES["compute_cost"].function(EXERCISES["compute_cost"].mistakes[-1].code)
    looped = [int(run_case(loop, c).value) for c in (small, large)]
    assert looped[1] > looped[0] > vectorised[0]


# run_cases: the compiled cases of one float width in one compile


@contextlib.contextmanager
def backend_compiles():
    """A list that counts XLA compiles while the block runs."""
    seen = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def _one_by_one_and_together(fn, found):
    calls = [(fn, c) for c in found]
    together = dict(run_cases(calls))
    assert sorted(together) == list(range(len(calls)))
    return [run_case(fn, c) for c in found], [together[i] for i in range(len(calls))]


def _same_outcome(alone: Outcome, joint: Outcome, case: Case):
    assert (joint.error, joint.type_name) == (alone.error, alone.type_name), case.label
    rtol = 1e-6 if case_dtype(case) == np.float32 else 1e-14
    for a, b in zip(jax.tree.leaves(alone.value), jax.tree.leaves(joint.value), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, case.label
        np.testing.assert_allclose(b, a, rtol=rtol, atol=0, err_msg=case.label)


@pytest.mark.parametrize(
    ("name", "code"),
    [(ex.name, ex.solution) for ex in EXERCISES.values()]
    + [(ex.name, m.code) for ex, m in mistakes()],
    ids=[f"{ex.name}-solution" for ex in EXERCISES.values()]
    + [f"{ex.name}-{m.name}" for ex, m in mistakes()],
)
def test_run_cases_gives_what_run_case_gives(name, code):
    """Every case of every exercise, on the solution and on every catalogued mistake:
    the same outcome whether it is compiled alone or with the others of its width."""
    ex = EXERCISES[name]
    fn = define(ex.source(code), name)
    found = cases(name, hidden=True)
    for case, alone, joint in zip(found, *_one_by_one_and_together(fn, found), strict=True):
        _same_outcome(alone, joint, case)


def test_run_cases_compiles_once_per_float_width():
    def fresh(a, y):  # a new function: nothing of it is in JAX's caches yet
        return (a - y) * 1.5

    found = [c for c in cases("compute_dz", hidden=True) if c.mode in ("jit", "vmap")]
    widths = {case_dtype(c) for c in found}
    assert len(found) >= 4 and len(widths) == 2
    with backend_compiles() as seen:
        outcomes = dict(run_cases([(fresh, c) for c in found]))
    assert len(seen) == len(widths)
    for i, case in enumerate(found):
        want = np.asarray(case.args[0]) - case.args[1]
        np.testing.assert_allclose(outcomes[i].value, want * 1.5, rtol=1e-6)


def test_run_cases_keeps_one_cases_error_to_that_case():
    """A case whose tracing raises (here: only at one shape) has its own error; the
    other cases of the same compile still get their values."""
    found = [c for c in cases("compute_dw", hidden=True) if c.mode in ("jit", "vmap")]

    def picky(x, dz):
        if x.shape[-1] == 3:
            raise ValueError("three features")
        return x * dz

    alone, joint = _one_by_one_and_together(picky, found)
    assert any(o.error for o in joint) and any(o.error is None for o in joint)
    for case, a, b in zip(found, alone, joint, strict=True):
        _same_outcome(a, b, case)
        if b.error:
            assert b.error.splitlines()[0] == "ValueError: three features"


def test_run_cases_runs_each_case_alone_when_the_joint_function_fails():
    """A failure only the run shows (a host callback that raises for one case) falls
    back to the cases one by one: that case fails, the others are right."""
    found = [c for c in cases("compute_dz", hidden=True) if c.mode == "jit"]
    found = [c for c in found if case_dtype(c) == np.float64]
    assert len(found) >= 2
    unlucky = float(found[0].args[0])

    def host(a, y):
        if float(a) == unlucky:
            raise ValueError("unlucky")
        return np.asarray(a - y)

    def compute_dz(a, y):
        return jax.pure_callback(host, jax.ShapeDtypeStruct(np.shape(a), a.dtype), a, y)

    alone, joint = _one_by_one_and_together(compute_dz, found)
    assert any(o.error for o in alone) and any(o.error is None for o in alone)
    for case, a, b in zip(found, alone, joint, strict=True):
        assert (a.error is None) == (b.error is None), case.label
        if a.error is None:
            _same_outcome(a, b, case)


def test_run_cases_passes_unmapped_and_static_arguments_as_they_are():
    """A vmap case's Python numbers and a jit case's static ones reach the function as
    Python numbers, as with jax.vmap and jax.jit alone (a loop count stays an int)."""
    seen = []

    def fn(x, lr, steps):
        seen.append((type(lr), type(steps)))
        for _ in range(steps):
            x = x - lr * x
        return x

    x = np.arange(1.0, 4.0, dtype=np.float32)
    found = [
        Case("fn", (x, 0.5, 2), "vmap", "vmap"),
        Case("fn", (x, 0.5, 3), "jit", "jit", static=(1, 2)),
    ]
    outcomes = dict(run_cases([(fn, c) for c in found]))
    assert seen == [(float, int), (float, int)]
    np.testing.assert_allclose(outcomes[0].value, x * 0.25, rtol=1e-6)
    np.testing.assert_allclose(outcomes[1].value, x * 0.125, rtol=1e-6)


def test_a_compile_option_xla_refuses_falls_back_to_the_defaults():
    """An XLA that does not know the quick-compile option raises (no abort), and the
    function is compiled with the defaults."""
    from grader.protocol._run import _compile_and_call

    jitted = jax.jit(lambda a, n: a * n, static_argnums=1)
    x = np.float32(2.0)
    with pytest.raises(jax.errors.JaxRuntimeError, match="No such compile option"):
        jitted.lower(x, 3).compile(compiler_options={"xla_no_such_option": True})
    got = _compile_and_call(jitted, (x, 3), (1,), options={"xla_no_such_option": True})
    assert float(got) == 6.0


# judge and the notebook API


def test_judge_refuses_mismatched_inputs():
    found = bundle("compute_db")
    with pytest.raises(ValueError, match="one outcome per case"):
        judge(found, [])
    with pytest.raises(ValueError, match="'en', 'uk'"):
        judge(found, [run_case(lambda dz: dz, c) for c in found.all_cases], lang="fr")
    with pytest.raises(KeyError, match="compute_da"):
        evaluate("compute_dx", lambda dz: dz, course=COURSE)


def test_judge_works_on_plain_outcomes_without_the_function():
    """The secure grader sends only Outcome fields back: judge needs nothing else."""
    found = bundle("compute_db")
    outcomes = [Outcome(np.asarray(c.args[0]), "numpy.ndarray", None) for c in found.cases]
    assert judge(found, outcomes).passed
    outcomes[-1] = Outcome(None, "NoneType", None)
    verdict = judge(found, outcomes)
    assert (verdict.passed, verdict.failed) == (False, 1)


@pytest.mark.parametrize("name", ["compute_da", "propagate"])
def test_check_prints_on_success_and_raises_on_failure(name, capsys, monkeypatch):
    monkeypatch.chdir(COURSE / "source")
    assert check(name, solution(name), lang="uk", hidden=True, course=COURSE) is None
    out = capsys.readouterr()
    assert name in out.out and out.err == ""
    with pytest.raises(AssertionError, match=name):
        check(name, lambda *args: None)
    assert capsys.readouterr().err == ""


def test_a_student_right_on_the_visible_cases_only_fails_the_hidden_ones():
    """The fixture da_clipped passes what a student sees; only the hidden cases (a near 0
    and 1) catch it -- so a grader that sent only the visible cases would let it through
    (test_course grades it with both graders)."""
    _, _, code = read_mistake(MISTAKES / "da_clipped.py")
    fn = define(code, "compute_da")
    assert run("compute_da", fn, hidden=False).passed
    hidden = run("compute_da", fn)
    assert not hidden.passed and 0 < hidden.failed < len(cases("compute_da", hidden=True))


def test_a_hidden_check_in_a_kernel_reuses_the_answers_of_the_one_before(tmp_path, monkeypatch):
    """Stock nbgrader runs a kernel per notebook: the first hidden check writes the right
    answers beside the course, the next ones read them (and give the same verdicts)."""
    course = tmp_path / "course"
    (course / "exercises").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    shutil.copy(COURSE / "exercises" / "propagate.py", course / "exercises")
    (course / "autograded" / "s").mkdir(parents=True)
    monkeypatch.chdir(course / "autograded" / "s")
    ex = EXERCISES["propagate"]
    wrong = ex.function(next(m.code for m in ex.mistakes if m.name == "db_summed"))
    first = evaluate("propagate", wrong, hidden=True)
    (cached,) = (course / ".lrjax-cache").glob("propagate-*.json")
    assert "mistakes" not in cached.read_text()  # the mistakes' answers: computed on demand
    import grader.checks as checks

    checks._cached_hidden.cache_clear()  # a new kernel
    again = evaluate("propagate", wrong, hidden=True)
    assert again.message == first.message and again.diagnoses == ("db_summed",)
    cached.write_text("{not json")  # damaged: computed again, never trusted blindly
    checks._cached_hidden.cache_clear()
    assert evaluate("propagate", solution("propagate"), hidden=True).passed
