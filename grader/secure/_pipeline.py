"""Secure grading of a whole class: the pipeline, in order.

Once per run: preflight; then for every submission: collect -> extract -> sandbox ->
compare -> score -> record. Why this order (and why each step lives where it does):

0. ``preflight`` grades the source's own solution in the same sandbox, the first task of
   the pool, and must pass before anything is written: if the machine cannot sandbox, or
   the sandbox cannot run an honest answer, no student is recorded at all (and none gets
   a zero). The students' sandboxes start beside it on the free cores; their results wait;
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
6. ``record`` (:mod:`grader.secure._gradebook`, then :mod:`grader.secure._record` for the files) is
   last and the only writer, so nothing untrusted ever touches the
   gradebook, and a submission is written only once fully graded (one at a time, as
   each finishes, so a late crash loses nothing already graded). A grader error (the
   sandbox failed before the student's code ran) is reported, never recorded. A student
   is recorded whole or not at all (one gradebook transaction; the autograded files are
   moved in after it); a gradebook or disk that fails stops the run there.

Steps 1-2 and 4-6 run in this process; step 3 runs in a pool of sandboxes.
"""

import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from grader.secure import (
    _collect,
    _compare,
    _extract,
    _gradebook,
    _preflight,
    _record,
    _sandbox,
    _score,
)

STEPS = ("preflight", "collect", "extract", "sandbox", "compare", "score", "record")


@dataclass(frozen=True)
class Job:
    """One submitted notebook after steps 1-2 (collect, extract).

    Attributes:
        source: the :class:`grader.secure._collect.SourceNotebook` it is graded against.
        submission: the :class:`grader.secure._collect.Submission`.
        nb: the student's notebook, or None (missing, unreadable).
        extracted: the :class:`grader.secure._extract.Extracted` cells, or None.
        status: why it cannot run (``"missing"``, ``"unreadable"``), or None.
        reason: that status in a sentence ("" when it can run).
    """

    source: object
    submission: object
    nb: object = None
    extracted: object = None
    status: str | None = None
    reason: str = ""

    @property
    def student(self) -> str:
        return self.submission.student


@dataclass(frozen=True)
class Ran:
    """A job after step 3: its sandbox result (None when it could not run)."""

    job: Job
    result: object


def _grade_one(job: Job, limits, hidden, isolation, audit) -> Ran:
    """Step 3 for one submission (in a pool thread)."""
    if job.status is not None:
        return Ran(job, None)
    result = _sandbox.run_submission(job.extracted.cells, _compare.requests(job.source),
                                     limits=limits, hidden=hidden, isolation=isolation,
                                     audit=audit)  # fmt: skip
    return Ran(job, result)


def _prepare(course, assignment, sources) -> list[Job]:
    """Steps 1-2 for every submission."""
    by_name = {s.name: s for s in sources}
    jobs = []
    for submission in _collect.find_submissions(course, assignment, sources):
        source = by_name[submission.notebook]
        if submission.path is None:
            jobs.append(Job(source, submission, status="missing", reason="notebook not submitted"))
            continue
        try:
            nb = _collect.read_submission(submission.path)
        except (OSError, ValueError) as exc:
            jobs.append(Job(source, submission, status="unreadable", reason=str(exc)))
            continue
        jobs.append(Job(source, submission, nb, _extract.extract(source, nb)))
    return jobs


def _finish(ran: Ran):
    """Steps 4-5 for one submission: the NotebookScore."""
    job, result = ran.job, ran.result
    source, submission, extracted = job.source, job.submission, job.extracted
    if job.status is not None:
        status, reason = job.status, job.reason
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
                     progress=True, isolation="bwrap", students=None, audit=True):  # fmt: skip
    """Grade every submission of ``assignment`` in ``course`` and record the results.

    Args:
        course: the nbgrader course root (``source/``, ``submitted/``, ``gradebook.db``).
        assignment: the assignment name.
        jobs: sandboxes run at once (default: ``os.cpu_count()``).
        limits: :class:`grader.secure._sandbox.Limits` (default limits when None).
        json_out: path of the JSON results file, or None.
        progress: show a tqdm progress bar on stderr.
        isolation: ``"bwrap"`` (default) or ``"weak"`` (only when asked for by name).
        students: grade only these student ids (None: everyone).
        audit: install the audit hook in the sandboxes (the tests turn it off to show
            that the operating system's layers hold on their own).

    Returns:
        ``{student: student_json}`` (see :func:`grader.secure._record.student_json`). A student
        whose sandbox failed before their code ran has ``"status": "grader_error"`` and
        ``"score": None``, and nothing of theirs is written to the gradebook.

    Raises:
        FileNotFoundError: no source notebooks for ``assignment`` (the message says what
            is there), or the folder of ``json_out`` does not exist.
        ValueError: ``json_out`` is a folder.
        grader.secure._preflight.PreflightFailed: the source solution lost points in the sandbox
            (nothing is written).
        grader.secure._bwrap.Unavailable: bubblewrap cannot run here (nothing is written).
        grader.secure._gradebook.RecordError: the gradebook is locked or corrupt (found before
            anything is graded or written), or a write failed (a full disk): the run
            stops; ``recorded`` lists the students recorded whole before it, and nothing
            of anyone else is written.
    """
    course = Path(course).resolve()
    limits = limits or _sandbox.Limits()
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    sources = _collect.read_source(course, assignment)
    hidden = [str(course)]
    if json_out is not None:
        hidden.append(str(_json_folder(json_out)))
    _gradebook.check_gradebook(course)
    prepared = _prepare(course, assignment, sources)
    if students is not None:
        wanted = set(students)
        prepared = [job for job in prepared if job.student in wanted]
    per_student = {}
    for job in prepared:
        per_student.setdefault(job.student, []).append(job)
    results, done = {}, {}
    how = (limits, hidden, isolation, audit)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # The preflight is the pool's first task; the students' sandboxes start beside it
        # (a free core would otherwise wait), but nothing is written until it has passed.
        preflight = pool.submit(_preflight.run, sources, limits=limits, isolation=isolation,
                                hidden=hidden, audit=audit)  # fmt: skip
        futures = [pool.submit(_grade_one, job, *how) for job in prepared]
        try:
            preflight.result()
            _gradebook.ensure_assignment(course, assignment, sources)
            with _gradebook.open_gradebook(course) as gb:
                _record_all(gb, course, assignment, futures, per_student, results, done,
                            json_out, _progress(len(prepared), progress))  # fmt: skip
        except BaseException:
            for future in futures:  # sandboxes not started yet never start
                future.cancel()
            raise
    if json_out is not None:
        _record.write_json(json_out, results)
    return dict(sorted(results.items()))


def _record_all(gb, course, assignment, futures, per_student, results, done, json_out, bar):
    """Steps 4-6 for each submission as its sandbox finishes; a student is recorded once
    all their notebooks are graded."""
    try:
        for future in as_completed(futures):
            ran = future.result()
            student = ran.job.student
            done.setdefault(student, []).append(_finish(ran))
            if len(done[student]) == len(per_student[student]):
                scores = sorted(done[student], key=lambda s: s.notebook)
                jobs_of = per_student[student]
                results[student] = _record_student(gb, course, assignment, jobs_of, scores)
                if json_out is not None:
                    _record.write_json(json_out, results)
            bar.update(1)
    except _gradebook.RecordError as exc:
        exc.recorded = sorted(s for s, e in results.items() if e["status"] != "grader_error")
        raise
    finally:
        bar.close()


def _json_folder(json_out) -> Path:
    """The folder ``--json`` writes into (the sandboxes must not see it).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: ``json_out`` is a folder.
    """
    path = Path(json_out).resolve()
    if path.is_dir():
        raise ValueError(f"--json {json_out} is a folder: pass a file name, e.g. "
                         f"{Path(json_out) / 'results.json'}")  # fmt: skip
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--json {json_out}: the folder {path.parent} does not exist: "
                                "create it or pass a file in a folder that exists")  # fmt: skip
    return path.parent


def _record_student(gb, course, assignment, jobs, scores):
    """Step 6 for one student, once all their notebooks are graded: their JSON entry.

    A grader error in any notebook records nothing of the student (a re-run grades them).
    The autograded files are staged first, moved in once the gradebook transaction is
    committed, and removed if anything fails: the student is recorded whole or not at all.

    Raises:
        grader.secure._gradebook.RecordError: the gradebook or a file could not be written.
    """
    entry = _record.student_json(scores)
    if any(s.status == "grader_error" for s in scores):
        return {**entry, "score": None, "status": "grader_error"}
    nbs = {job.source.name: (job.source, job.nb) for job in jobs}
    missing = sorted({m for s in scores for m in s.details.get("isolation", {}).get("missing", ())})
    staging = _record.Staging()
    try:
        for result in scores:
            source, nb = nbs[result.notebook]
            _record.write_autograded(course, assignment, source, nb, result, staging=staging)
        _gradebook.record_gradebook(gb, course, assignment, scores, missing=missing)
        staging.publish()
    finally:
        staging.discard()  # what is still staged after a failure; nothing after publish
    return entry


def grader_errors(results) -> list[str]:
    """The students whose grading failed on the grader's side (not recorded)."""
    return [s for s, e in sorted(results.items()) if e["status"] == "grader_error"]


def _progress(total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled)


def score_table(results) -> str:
    """A plain-text table: student, score / max, status, reason; grader errors apart."""
    errors = grader_errors(results)
    rows = [("student", "score", "status", "reason")]
    for student, entry in sorted(results.items()):
        if student not in errors:
            score = f"{entry['score']:g} / {entry['max_score']:g}"
            rows.append((student, score, entry["status"], entry["reason"][:70]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in rows
    ]
    missing = sorted({m for e in results.values() for nb in e["notebooks"].values()
                      for m in nb.get("isolation", {}).get("missing", ())})  # fmt: skip
    if missing:
        lines += ["", f"isolation weak: the sandbox lacked {', '.join(missing)}"]
    if errors:
        lines += ["", f"not graded, not recorded ({len(errors)} grader errors: not the students'):"]
        lines += [f"  {s}: {results[s]['reason'][:300]}" for s in errors]
    return "\n".join(line.rstrip() for line in lines)
