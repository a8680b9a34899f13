"""compare: verdicts computed in the parent; unanswered or forged results fail."""

import numpy as np
from _grader_course import ASSIGNMENT, make_course

from grader.protocol import Outcome
from grader.secure._collect import read_source
from grader.secure._compare import compare, requests
from grader.secure._sandbox import SandboxResult


def _source(tmp_path):
    (source,) = read_source(make_course(tmp_path / "c"), ASSIGNMENT)
    return source


def _right_outcomes(source) -> list:
    """What a right answer returns for every request (a probe: the same count twice)."""
    out = []
    for test in source.tests:
        bundle = source.bundles[test.function]
        out += [Outcome(want, "jax.Array", None) for want in bundle.wants]
        out += [Outcome(np.asarray(7), "numpy.ndarray", None) for _ in bundle.probes]
    return out


def test_requests_are_every_case_of_every_test_cell_hidden_included(tmp_path):
    source = _source(tmp_path)
    want = [c for t in source.tests for c in source.bundles[t.function].all_cases]
    assert requests(source) == want
    assert len(want) > sum(len(source.bundles[t.function].cases) for t in source.tests) - 1
    assert all(source.bundles[t.function].cases[-1].label for t in source.tests)


def test_reference_outcomes_pass(tmp_path):
    source = _source(tmp_path)
    outcomes = tuple(_right_outcomes(source))
    assert len(outcomes) == len(requests(source))
    verdicts = compare(source, SandboxResult("ok", "", outcomes))
    assert all(v.passed for v in verdicts.values())


def test_one_wrong_value_fails_only_its_cell(tmp_path):
    source = _source(tmp_path)
    outcomes = _right_outcomes(source)
    outcomes[0] = Outcome(np.asarray(outcomes[0].value + 1), "jax.Array", None)
    verdicts = compare(source, SandboxResult("ok", "", tuple(outcomes)))
    assert [v.passed for v in verdicts.values()] == [False, True, True, True]


def test_missing_outcomes_fail_with_the_sandbox_reason(tmp_path):
    source = _source(tmp_path)
    outcomes = _right_outcomes(source)
    outcomes[-1] = None
    verdicts = compare(source, SandboxResult("timeout", "timed out after 9 s", tuple(outcomes)))
    assert [v.passed for v in verdicts.values()] == [True, True, True, False]
    assert "timed out after 9 s" in verdicts["test_db"].message


def test_protocol_violation_fails_every_cell(tmp_path):
    source = _source(tmp_path)
    outcomes = tuple(_right_outcomes(source))
    verdicts = compare(source, SandboxResult("protocol", "forged", outcomes))
    assert not any(v.passed for v in verdicts.values())


def test_nothing_run(tmp_path):
    verdicts = compare(_source(tmp_path), None)
    assert not any(v.passed for v in verdicts.values())
