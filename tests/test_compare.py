"""compare: verdicts computed in the parent; unanswered or forged results fail."""

import numpy as np
from _grader_course import ASSIGNMENT, make_course

from grader._cases import reference
from grader._collect import read_source
from grader._compare import compare, requests
from grader._run import Outcome
from grader._sandbox import SandboxResult


def _source(tmp_path):
    (source,) = read_source(make_course(tmp_path / "c"), ASSIGNMENT)
    return source


def _right(case):
    return Outcome(reference(case), "jax.Array", None)


def test_reference_outcomes_pass(tmp_path):
    source = _source(tmp_path)
    outcomes = tuple(_right(c) for c in requests(source))
    verdicts = compare(source, SandboxResult("ok", "", outcomes))
    assert all(v.passed for v in verdicts.values())


def test_one_wrong_value_fails_only_its_cell(tmp_path):
    source = _source(tmp_path)
    outcomes = [_right(c) for c in requests(source)]
    outcomes[0] = Outcome(np.asarray(reference(requests(source)[0]) + 1), "jax.Array", None)
    verdicts = compare(source, SandboxResult("ok", "", tuple(outcomes)))
    assert [v.passed for v in verdicts.values()] == [False, True, True, True]


def test_missing_outcomes_fail_with_the_sandbox_reason(tmp_path):
    source = _source(tmp_path)
    outcomes = [_right(c) for c in requests(source)]
    outcomes[-1] = None
    verdicts = compare(source, SandboxResult("timeout", "timed out after 9 s", tuple(outcomes)))
    assert [v.passed for v in verdicts.values()] == [True, True, True, False]
    assert "timed out after 9 s" in verdicts["test_db"].message


def test_protocol_violation_fails_every_cell(tmp_path):
    source = _source(tmp_path)
    outcomes = tuple(_right(c) for c in requests(source))
    verdicts = compare(source, SandboxResult("protocol", "forged", outcomes))
    assert not any(v.passed for v in verdicts.values())


def test_nothing_run(tmp_path):
    verdicts = compare(_source(tmp_path), None)
    assert not any(v.passed for v in verdicts.values())
