"""Secure grading of a whole class: the pipeline, in order.

Once per run: preflight; then for every submission: collect -> extract -> sandbox ->
compare -> score -> record. Why this order (and why each step lives where it does):

0. ``preflight`` grades the source's own solution in the same sandbox (on a cluster: on
   every worker), the first task, and must pass before anything is written: if the
   machine cannot sandbox, or the sandbox cannot run an honest answer, no student is
   recorded at all (and none gets a zero). The students' sandboxes start beside it on
   the free cores; their results wait;
1. ``collect`` reads the SOURCE notebook first, so everything that decides a grade
   (graded cells, points, the function each test checks) is fixed before any student
   file is opened;
2. ``extract`` then takes from the student's notebook only what the source says is
   theirs (solution cells), so test cells and anything else never reach the sandbox;
3. ``sandbox`` is the only step that runs student code -- in a child process, after
   the trusted code has been loaded and before the cases are sent; the executor
   (:mod:`grader.secure._executor`) decides on which machine: this one's cores, or the
   workers of a Dask cluster, which get plain data and return plain data;
4. ``compare`` must come after the sandbox and run here: the verdict is computed from
   plain numbers in the trusted process, never reported by the child;
5. ``score`` needs the verdicts and the source's points;
6. ``record`` (:mod:`grader.secure._recorder`: the gradebook, the autograded files, then a
   line of the journal, :mod:`grader.secure._journal`) is last and the only writer, so
   nothing untrusted ever touches the gradebook, and a student is written only once
   fully graded (one at a time, as each finishes, so a late crash loses nothing already
   graded, and ``--resume`` grades only the rest). A grader error (the sandbox failed
   before the student's code ran) is reported, never recorded. A student is recorded
   whole or not at all (one gradebook transaction; the autograded files are moved in
   after it); a gradebook or disk that fails stops the run there.

Steps 1-2 and 4-6 run in this process; step 3 runs in sandboxes, twice as many
submissions in flight as the executor has slots, read one at a time: memory and the
cost of recording stay the same per student whatever the size of the class.
"""

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from grader.secure import (
    _collect,
    _compare,
    _executor,
    _extract,
    _gradebook,
    _journal,
    _record,
    _recorder,
    _sandbox,
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
        digest: :func:`grader.secure._journal.file_digest` of the bytes graded
            (``_journal.MISSING``; None: the file could not be read).
    """

    source: object
    submission: object
    nb: object = None
    extracted: object = None
    status: str | None = None
    reason: str = ""
    digest: str | None = None

    @property
    def student(self) -> str:
        return self.submission.student


def _jobs(sources, todo):
    """Steps 1-2 for each submission of each student to grade, read one at a time (a
    class of any size is never in memory at once)."""
    by_name = {s.name: s for s in sources}
    for _, subs in todo:
        for submission in subs:
            source = by_name[submission.notebook]
            if submission.path is None:
                yield Job(source, submission, status="missing", reason="notebook not submitted",
                          digest=_journal.MISSING)  # fmt: skip
                continue
            digest = None
            try:  # read once: what is graded is what the journal's fingerprint says
                data = _collect.submission_bytes(submission.path)
                digest = _journal.file_digest(data)
                nb = _collect.parse_submission(data)
            except (OSError, ValueError) as exc:
                yield Job(source, submission, status="unreadable", reason=str(exc), digest=digest)
                continue
            yield Job(source, submission, nb, _extract.extract(source, nb), digest=digest)


def grade_assignment(course, assignment, *, jobs=None, limits=None, json_out=None,
                     progress=True, isolation="bwrap", students=None, audit=True,
                     scheduler=None, resume=False):  # fmt: skip
    """Grade every submission of ``assignment`` in ``course`` and record the results.

    Args:
        course: the nbgrader course root (``source/``, ``submitted/``, ``gradebook.db``).
        assignment: the assignment name.
        jobs: sandboxes run at once on this machine (default: ``os.cpu_count()``).
        limits: :class:`grader.secure._sandbox.Limits` (default limits when None).
        json_out: path of the JSON results file, or None. Written once, at the end (or
            when a write fails or the run is interrupted: with the students graded so far).
        progress: show a tqdm progress bar on stderr.
        isolation: ``"bwrap"`` (default) or ``"weak"`` (only when asked for by name).
        students: grade only these student ids (None: everyone).
        audit: install the audit hook in the sandboxes (the tests turn it off to show
            that the operating system's layers hold on their own).
        scheduler: a Dask scheduler's address: run the sandboxes on its workers
            (:mod:`grader.secure._dask`); None: on this machine.
        resume: do not grade again a student whose latest journal line
            (:mod:`grader.secure._journal`) has the same source and submission.

    Returns:
        ``{student: student_json}`` (see :func:`grader.secure._record.student_json`),
        resumed students included. A student whose sandbox failed before their code
        ran has ``"status": "grader_error"`` and ``"score": None``, and nothing of
        theirs is written to the gradebook or the journal.

    Raises:
        FileNotFoundError: no source notebooks for ``assignment`` (the message says what
            is there), or the folder of ``json_out`` does not exist.
        ValueError: ``json_out`` is a folder.
        OSError: the Dask scheduler cannot be reached or has no worker.
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
    source_print = _journal.source_fingerprint(course, sources, f"{limits}|{isolation}|{audit}")
    results, todo = _plan(course, assignment, sources, source_print, students, resume)
    how = {"limits": limits, "hidden": hidden, "isolation": isolation, "audit": audit}
    try:
        if todo:
            _grade(course, assignment, sources, source_print, todo, results, how, scheduler,
                   jobs, progress)  # fmt: skip
    except (_gradebook.RecordError, KeyboardInterrupt):  # the JSON: what was graded so far
        if json_out is not None and results:
            with contextlib.suppress(_gradebook.RecordError):
                _record.write_json(json_out, results)
        raise
    if json_out is not None:
        try:
            _record.write_json(json_out, results)
        except _gradebook.RecordError as exc:
            exc.recorded = sorted(s for s, e in results.items() if e["status"] != "grader_error")
            raise
    return dict(sorted(results.items()))


def _grade(course, assignment, sources, source_print, todo, results, how, scheduler, jobs,
           progress):  # fmt: skip
    """Steps 0 and 3-6 for the students in ``todo``, recorded into ``results``."""
    executor = _executor.open_executor(scheduler, jobs)
    try:
        # The preflight is the first task; the students' sandboxes start beside it (a free
        # core would otherwise wait), but nothing is written until it has passed.
        preflight = executor.preflight(sources, **how)
        total = sum(len(subs) for _, subs in todo)
        with _recorder.Recorder(course, assignment, sources, source_print, todo, results,
                                preflight) as recorder:  # fmt: skip
            _drive(executor, _jobs(sources, todo), recorder, how, _progress(total, progress))
    finally:
        executor.close()


def _plan(course, assignment, sources, source_print, students, resume):
    """Who to grade: ``(resumed results, [(student, submissions), ...])``. Only
    ``resume`` reads the submitted files here (to compare them with the journal)."""
    per_student = {}
    for sub in _collect.find_submissions(course, assignment, sources):
        if students is None or sub.student in students:
            per_student.setdefault(sub.student, []).append(sub)
    if not resume:
        return {}, list(per_student.items())
    old = _journal.read_journal(_journal.journal_path(course, assignment))
    results, todo = {}, []
    for student, subs in per_student.items():
        seen = old.get(student)
        now = _journal.submission_fingerprint(source_print, subs) if seen is not None else None
        if now is not None and seen[0] == now:
            results[student] = seen[1]
        else:
            todo.append((student, subs))
    print(f"resuming: {len(results)} student(s) already graded with these files "
          f"({_journal.journal_path(course, assignment)}), {len(todo)} to grade",
          file=sys.stderr)  # fmt: skip
    return results, todo


def _drive(executor, jobs, recorder, how, bar):
    """Keep the executor's slots busy (twice as many submissions in flight, so a slot
    never waits for this process), and record each submission as it comes back."""
    window, flying = 2 * executor.slots, {}
    jobs = iter(jobs)
    try:
        while True:
            while len(flying) < window:
                job = next(jobs, None)
                if job is None:
                    break
                if job.status is not None:  # nothing to run: missing or unreadable
                    recorder.add(job, None)
                    bar.update(1)
                    continue
                cases = _compare.requests(job.source)
                flying[executor.sandbox(job.extracted.cells, cases, **how)] = (job, cases, 0)
            if not flying:
                return
            for future in executor.wait_any(flying):
                job, cases, sent = flying.pop(future)
                result, again = executor.outcome(future, len(cases))
                if again and sent < executor.resends:  # its worker died: a new task
                    future = executor.sandbox(job.extracted.cells, cases, **how)
                    flying[future] = (job, cases, sent + 1)
                    continue
                recorder.add(job, result)
                bar.update(1)
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
