"""Step 4 of secure grading: judge the child's answers here, in the trusted process.

:func:`grader._checks.judge` compares each returned value with the lrjax reference
(computed in this process), validating type, shape and dtype, and explains the mistake
in the notebook's language. A case the child never answered (crash, timeout, limit,
forged protocol) fails with the sandbox's reason.
"""

from grader._cases import cases as cases_for
from grader._checks import Verdict, judge


def requests(source) -> list:
    """The cases to send for ``source``: visible + hidden, test cell by test cell.

    Args:
        source: a :class:`grader._collect.SourceNotebook`.

    Returns:
        The flat list of ``grader._cases.Case`` (what the sandbox runs, in order).
    """
    return [case for test in source.tests for case in cases_for(test.function, hidden=True)]


def compare(source, result) -> dict[str, Verdict]:
    """A :class:`Verdict` per test cell of ``source`` from a sandbox result.

    Args:
        source: a :class:`grader._collect.SourceNotebook`.
        result: the :class:`grader._sandbox.SandboxResult` for :func:`requests` (source),
            or None when nothing could run (the notebook is missing or unreadable).
            A protocol violation (forged or malformed results) fails every cell.

    Returns:
        ``{grade_id: Verdict}``, in the source's test-cell order.
    """
    verdicts, start = {}, 0
    for test in source.tests:
        cases = cases_for(test.function, hidden=True)
        outcomes = list(result.outcomes[start : start + len(cases)]) if result else []
        start += len(cases)
        forged = result is not None and result.status == "protocol"
        if result is None or forged or any(o is None for o in outcomes):
            why = result.reason if result is not None else "nothing was run"
            answered = sum(o is not None for o in outcomes)
            text = f"{test.function}: not graded -- {why} ({answered} of {len(cases)} cases)"
            verdicts[test.grade_id] = Verdict(test.function, False, text, len(cases), len(cases))
        else:
            verdicts[test.grade_id] = judge(test.function, cases, outcomes, lang=source.lang)
    return verdicts
