"""Step 0 of secure grading: the source's own solution through the same sandbox, first.

Before the first student is graded (and before anything is written), every source
notebook's solution cells run in exactly the sandbox the students get, and must score
full marks. If they do not, the fault is the machine's or the course's, never a
student's: the run stops with the cause and the fix. ``python -m grader doctor`` runs
only this and reports the layers the machine gives.
"""

from dataclasses import dataclass

from grader.secure import _bwrap, _compare, _extract, _sandbox, _score


class PreflightFailed(RuntimeError):
    """The source solution did not score full marks in the sandbox (message: cause, fix)."""


@dataclass(frozen=True)
class Report:
    """What the preflight measured.

    Attributes:
        isolation: the sandbox's layers (``SandboxResult.isolation`` of the last run).
        seconds: wall-clock seconds of one sandboxed submission (the slowest notebook).
        scores: ``{notebook: (score, max_score)}``.
    """

    isolation: dict
    seconds: float
    scores: dict


def run(sources, *, limits, isolation="bwrap", hidden=(), audit=True, runner=None,
        where="") -> Report:  # fmt: skip
    """Grade each source notebook's own solution in the sandbox; full marks or raise.

    Args:
        sources: the :class:`grader.secure._collect.SourceNotebook` tuple.
        limits: the :class:`grader.secure._sandbox.Limits` the students will get.
        isolation: ``"bwrap"`` or ``"weak"``.
        hidden: folders the sandbox must not show (the course).
        audit: install the audit hook (as the students' runs will).
        runner: ``runner(cells, cases, limits=, hidden=, isolation=, audit=)`` runs one
            submission (default :func:`grader.secure._sandbox.run_submission`, here; a
            cluster passes one that runs it on a given worker).
        where: the machine, for the messages (``" on worker tcp://..."``).

    Returns:
        A :class:`Report`.

    Raises:
        PreflightFailed: a notebook's solution lost points, or its sandbox failed.
        grader.secure._bwrap.Unavailable: bubblewrap cannot run here.
    """
    layers, slowest, scores = {}, 0.0, {}
    runner = runner or _sandbox.run_submission
    for source in sources:
        cells = _extract.extract(source, source.nb).cells
        result = runner(
            cells, _compare.requests(source), limits=limits, hidden=hidden,
            isolation=isolation, audit=audit,
        )  # fmt: skip
        layers, slowest = result.isolation, max(slowest, result.wall_s)
        if result.status == "grader_error":
            raise PreflightFailed(
                f"the sandbox{where} failed on the source solution of {source.name}: "
                f"{result.reason}. "
                "Fix: run `python -m grader doctor` and follow what it says"
            )
        scored = _score.score(source, "preflight", _compare.compare(source, result),
                              status=result.status, reason=result.reason)  # fmt: skip
        scores[source.name] = (scored.score, scored.max_score)
        if scored.score < scored.max_score or result.status != "ok" or result.cell_errors:
            lost = [t for t in scored.tests if not t.passed]
            why = "; ".join(f"{t.grade_id}: {t.feedback[:300]}" for t in lost) or result.reason
            errors = "".join(f"; cell {g}: {e[:300]}" for g, e in result.cell_errors.items())
            raise PreflightFailed(
                f"the source solution of {source.name} scored {scored.score:g} / "
                f"{scored.max_score:g} in the sandbox{where} ({why}{errors}). "
                "Fix: make the source notebook's solution pass its own tests "
                "(nbgrader validate), or raise --timeout/--memory if it ran out"
            )
    return Report(layers, slowest, scores)


def machine() -> str:
    """One line on bubblewrap here: its version and path, or why it cannot sandbox."""
    found = _bwrap.probe()
    line = f"bubblewrap: {found.version or 'missing'} ({found.path or _bwrap.INSTALL})"
    return line + (f"\n  cannot sandbox: {found.error}" if found.error else "")


def describe(report: Report) -> str:
    """What one sandboxed run had and took, a line each (for ``doctor``)."""
    iso = report.isolation
    spaces = ", ".join(iso.get("namespaces", [])) or f"unshare mode {iso.get('namespace')!r}"
    uid = iso.get("uid")
    lines = [
        f"sandbox: {iso.get('sandbox')}, namespaces: {spaces}",
        f"filesystem: {iso.get('filesystem')}",
        f"uid: {f'own uid {uid} (claimed per sandbox)' if uid else 'not root: a user namespace'}",
        f"missing: {', '.join(iso.get('missing', [])) or 'nothing'}",
        f"audit hook: {'on' if iso.get('audit_hook') else 'off'}",
    ]
    lines += [f"source solution {name}: {got:g} / {best:g}"
              for name, (got, best) in report.scores.items()]  # fmt: skip
    lines.append(f"seconds per submission: {report.seconds:.2f}")
    return "\n".join(lines)
