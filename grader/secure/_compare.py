"""Step 4 of secure grading: judge the child's answers here, in the trusted process.

:func:`grader.checks.judge` compares each returned value with the right answer from the
course's declaration (computed in this process), validating type, shape and dtype, and
explains the mistake in the notebook's language. A case the child never answered (crash,
timeout, limit, forged protocol) fails with the sandbox's reason.
"""

from grader.checks import Verdict, judge


def requests(source) -> list:
    """The cases to send for ``source``: visible + hidden (+ probes), test cell by test cell.

    Args:
        source: a :class:`grader.secure._collect.SourceNotebook`.

    Returns:
        The flat list of :class:`grader.protocol.Case` (what the sandbox runs, in order).
    """
    return [case for test in source.tests for case in source.bundles[test.function].all_cases]


def compare(source, result) -> dict[str, Verdict]:
    """A :class:`Verdict` per test cell of ``source`` from a sandbox result.

    Args:
        source: a :class:`grader.secure._collect.SourceNotebook`.
        result: the :class:`grader.secure._sandbox.SandboxResult` for :func:`requests`
            (source), or None when nothing could run (the notebook is missing or
            unreadable). A protocol violation (forged or malformed results) fails every
            cell.

    Returns:
        ``{grade_id: Verdict}``, in the source's test-cell order.
    """
    verdicts, start = {}, 0
    for test in source.tests:
        bundle = source.bundles[test.function]
        n, graded = len(bundle.all_cases), len(bundle.cases)
        outcomes = list(result.outcomes[start : start + n]) if result else []
        start += n
        forged = result is not None and result.status == "protocol"
        if result is None or forged or any(o is None for o in outcomes):
            why = result.reason if result is not None else "nothing was run"
            answered = sum(o is not None for o in outcomes[:graded])
            text = f"{test.function}: not graded -- {why} ({answered} of {graded} cases)"
            verdicts[test.grade_id] = Verdict(test.function, False, text, graded, graded)
        else:
            verdicts[test.grade_id] = judge(bundle, outcomes, lang=source.lang)
    return verdicts
