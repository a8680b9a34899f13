"""Step 3 on another machine: what a Dask worker runs, and what comes back, as plain data.

The trusted client (:mod:`grader.secure._pipeline`) sends a worker the student's extracted
cells, the cases' inputs (visible and hidden, as locally: the worker's sandbox parent sends
them to the child only after the student's code has run) and the limits; never a
reference answer, a score or a path of the course. The worker runs the same
:func:`grader.secure._sandbox.run_submission` as a local run and returns a dict of
strings, numbers and the protocol's wire form of the outcomes. The client rebuilds the
outcomes with the same codec that reads a sandbox's pipe (:func:`result_from_wire`, which
refuses anything else) and judges them itself.
"""

import dataclasses

from grader.protocol._wire import case_from_wire, case_to_wire, outcome_from_wire, outcome_to_wire

STATUSES = ("ok", "timeout", "cpu", "memory", "signal", "exit", "protocol", "output",
            "grader_error")  # fmt: skip
OUTPUT_KEPT = 64 << 10  # characters of the student's output a worker sends back (the tail)


def task_args(cells, cases, limits) -> tuple:
    """The plain-data arguments of :func:`sandbox_task` for these cells, cases and limits."""
    return (
        [(c.grade_id, c.code) for c in cells],
        [case_to_wire(c) for c in cases],
        dataclasses.asdict(limits),
    )


def sandbox_task(cells, cases, limits, *, hidden=(), isolation="bwrap", audit=True) -> dict:
    """Run one submission in this machine's sandbox (on a Dask worker).

    Args:
        cells: ``[(grade_id, code), ...]``, the extracted cells in order.
        cases: the cases in :func:`grader.protocol._wire.case_to_wire` form.
        limits: :class:`grader.secure._sandbox.Limits` as a dict.
        hidden: folders the sandbox must not show (the client's course, where the worker
            shares its filesystem).
        isolation: ``"bwrap"`` or ``"weak"``.
        audit: install the audit hook.

    Returns:
        :func:`result_to_wire` of the :class:`grader.secure._sandbox.SandboxResult`.

    Raises:
        grader.secure._bwrap.Unavailable: bubblewrap cannot run on this worker.
    """
    from grader.secure._sandbox import Cell, Limits, run_submission

    result = run_submission([Cell(g, code) for g, code in cells],
                            [case_from_wire(c) for c in cases], limits=Limits(**limits),
                            hidden=hidden, isolation=isolation, audit=audit)  # fmt: skip
    return result_to_wire(result)


def result_to_wire(result) -> dict:
    """A :class:`grader.secure._sandbox.SandboxResult` as strings, numbers, lists and dicts
    (the output cut to its last :data:`OUTPUT_KEPT` characters)."""
    output = result.output[-OUTPUT_KEPT:]
    return {
        "status": result.status,
        "reason": result.reason,
        "outcomes": [
            None if o is None else outcome_to_wire(o, "", i) for i, o in enumerate(result.outcomes)
        ],
        "cell_errors": dict(result.cell_errors),
        "output": output,
        "output_dropped": result.output_dropped + len(result.output) - len(output),
        "isolation": result.isolation,
        "wall_s": float(result.wall_s),
        "phases": dict(result.phases),
    }


def result_from_wire(data, n: int):
    """Rebuild a worker's result for ``n`` cases, checking every field.

    Args:
        data: what :func:`sandbox_task` returned.
        n: the number of cases sent.

    Returns:
        A :class:`grader.secure._sandbox.SandboxResult`.

    Raises:
        ValueError: anything but what :func:`result_to_wire` makes (the client then
            records a grader error, never a score).
    """
    from grader.secure._sandbox import SandboxResult

    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        raise ValueError(f"a worker returned {type(data).__name__} with no known status")
    outcomes = data["outcomes"]
    if not isinstance(outcomes, list) or len(outcomes) != n:
        raise ValueError(f"a worker returned {len(outcomes)} outcomes for {n} cases")
    rebuilt = []
    for i, msg in enumerate(outcomes):
        if msg is not None and (msg.get("kind"), msg.get("i")) != ("outcome", i):
            raise ValueError(f"outcome {i} of a worker's result is out of place")
        rebuilt.append(None if msg is None else outcome_from_wire(msg))
    errors = data["cell_errors"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items()):
        raise ValueError("a worker's cell errors are not text")
    phases = {str(k): float(v) for k, v in data["phases"].items()}
    return SandboxResult(str(data["status"]), str(data["reason"]), tuple(rebuilt),
                         cell_errors=dict(errors), output=str(data["output"]),
                         output_dropped=int(data["output_dropped"]),
                         isolation=dict(data["isolation"]), wall_s=float(data["wall_s"]),
                         phases=phases)  # fmt: skip
