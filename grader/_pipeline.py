"""Secure grading of a whole class: the pipeline, in order.

For every submission: collect -> extract -> sandbox -> compare -> score -> record.
Why this order (and why each step lives where it does):

1. ``collect`` reads the SOURCE notebook first, so everything that decides a grade
   (graded cells, points, the function each test checks) is fixed before any student
   file is opened;
2. ``extract`` then takes from the student's notebook only what the source says is
   theirs (solution cells), so test cells and anything else never reach the sandbox;
3. ``sandbox`` is the only step that runs student code -- in a child process, after
   the trusted code has been loaded and before the cases are sent;
4. ``compare`` must come after the sandbox and run here: the verdict is computed from
   plain numbers in the trusted process, never reported by the child;
5. ``score`` needs the verdicts and the source's points;
6. ``record`` is last and the only writer, so nothing untrusted ever touches the
   gradebook, and a submission is written only once fully graded (one at a time, as
   each finishes, so a late crash loses nothing already graded).

Steps 1-2 and 4-6 run in this process; step 3 runs in a pool of sandboxes.
"""

import os
import queue
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from grader import _collect, _compare, _extract, _record, _sandbox, _score

STEPS = ("collect", "extract", "sandbox", "compare", "score", "record")


def _grade_one(job, slots, limits, hidden):
    """Step 3 for one submission (in a pool thread): returns (job, SandboxResult)."""
    source, _, _, extracted, problem = job
    if problem is not None:
        return job, None
    slot = slots.get()
    try:
        result = _sandbox.run_submission(
            extracted.cells, _compare.requests(source), limits=limits, slot=slot, hidden=hidden
        )
    finally:
        slots.put(slot)
    return job, result


def _prepare(course, assignment, sources):
    """Steps 1-2 for every submission: [(source, submission, nb, extracted, problem)]."""
    by_name = {s.name: s for s in sources}
    jobs = []
    for submission in _collect.find_submissions(course, assignment, sources):
        source = by_name[submission.notebook]
        if submission.path is None:
            jobs.append((source, submission, None, None, ("missing", "notebook not submitted")))
            continue
        try:
            nb = _collect.read_submission(submission.path)
        except (OSError, ValueError) as exc:
            jobs.append((source, submission, None, None, ("unreadable", str(exc))))
            continue
        jobs.append((source, submission, nb, _extract.extract(source, nb), None))
    return jobs


def _finish(course, assignment, job, result):
    """Steps 4-5 for one submission: the NotebookScore."""
    source, submission, _, extracted, problem = job
    if problem is not None:
        status, reason = problem
        details = {}
    else:
        status, reason = result.status, result.reason
        if status == "ok" and result.cell_errors:
            if any("MemoryError" in e for e in result.cell_errors.values()):
                status = "memory"
            reason = "; ".join(f"cell {g} raised {e[:300]}" for g, e in result.cell_errors.items())
        details = {
            "output_dropped_bytes": result.output_dropped,
            "cell_errors": result.cell_errors,
            "missing_cells": list(extracted.missing),
            "isolation": result.isolation,
            "seconds": round(result.wall_s, 3),
            "output_tail": result.output[-2000:],
        }
    verdicts = _compare.compare(source, result)
    return _score.score(source, submission.student, verdicts, status=status, reason=reason,
                        details=details)  # fmt: skip


def grade_assignment(course, assignment, *, jobs=None, limits=None, json_out=None,
                     progress=True):  # fmt: skip
    """Grade every submission of ``assignment`` in ``course`` and record the results.

    Args:
        course: the nbgrader course root (``source/``, ``submitted/``, ``gradebook.db``).
        assignment: the assignment name.
        jobs: sandboxes run at once (default: ``os.cpu_count()``).
        limits: :class:`grader._sandbox.Limits` (default limits when None).
        json_out: path of the JSON results file, or None.
        progress: show a tqdm progress bar on stderr.

    Returns:
        ``{student: student_json}`` (see :func:`grader._record.student_json`).

    Raises:
        FileNotFoundError: no source notebooks for ``assignment``.
    """
    course = Path(course).resolve()
    limits = limits or _sandbox.Limits()
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    sources = _collect.read_source(course, assignment)
    _record.ensure_assignment(course, assignment, sources)
    prepared = _prepare(course, assignment, sources)
    per_student = {}
    for job in prepared:
        per_student.setdefault(job[1].student, []).append(job)
    slots = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)
    hidden = [str(course)]
    results, done = {}, {}
    bar = _progress(len(prepared), progress)
    with _record.open_gradebook(course) as gb, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_grade_one, job, slots, limits, hidden) for job in prepared]
        for future in as_completed(futures):
            job, result = future.result()
            student = job[1].student
            done.setdefault(student, []).append(_finish(course, assignment, job, result))
            source, _, nb, _, _ = job
            _record.write_autograded(course, assignment, source, nb, done[student][-1])
            if len(done[student]) == len(per_student[student]):
                scores = sorted(done[student], key=lambda s: s.notebook)
                _record.record_gradebook(gb, course, assignment, scores)
                results[student] = _record.student_json(scores)
                if json_out is not None:
                    _record.write_json(json_out, results)
            bar.update(1)
    bar.close()
    if json_out is not None:
        _record.write_json(json_out, results)
    return dict(sorted(results.items()))


def _progress(total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled)


def score_table(results) -> str:
    """A plain-text table: student, score / max, status, reason."""
    rows = [("student", "score", "status", "reason")]
    for student, entry in sorted(results.items()):
        score = f"{entry['score']:g} / {entry['max_score']:g}"
        rows.append((student, score, entry["status"], entry["reason"][:70]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
