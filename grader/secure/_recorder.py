"""Steps 4-6 of secure grading, as each submission comes back from its sandbox.

:class:`Recorder` compares and scores each notebook in this (trusted) process, and once
all of a student's notebooks are in, records the student: autograded files staged, one
gradebook transaction, the files moved in, then one line in the journal
(:mod:`grader.secure._journal`). Nothing is written before the preflight has passed, so
the first result waits for it. Recording costs the same for every student, whatever
the size of the class (the JSON file is written once, by the pipeline, at the end).
"""

import contextlib
import sys

from grader.secure import _compare, _gradebook, _journal, _record, _score


def _finish(job, result):
    """Steps 4-5 for one submission: the NotebookScore."""
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
            "phases": result.phases,
            "output_tail": result.output[-2000:],
        }
    verdicts = _compare.compare(source, result)
    return _score.score(source, submission.student, verdicts, status=status, reason=reason,
                        details=details)  # fmt: skip


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


class Recorder:
    """Record each student once all their notebooks are graded.

    Args:
        course: the course root.
        assignment: the assignment name.
        sources: the source notebooks.
        source_print: :func:`grader.secure._journal.source_fingerprint` of this run.
        todo: ``[(student, submissions), ...]`` to grade.
        results: ``{student: entry}`` filled as students are recorded (also the
            grader errors, which are not recorded).
        preflight: a future of the preflight; the first result waits for it.
    """

    def __init__(self, course, assignment, sources, source_print, todo, results, preflight):
        self.course, self.assignment, self.sources = course, assignment, sources
        self.source_print = source_print
        self.expected = {student: len(subs) for student, subs in todo}
        self.results, self.preflight = results, preflight
        self.done, self.recorded = {}, []
        self._gb = self._journal = None
        self._writers = contextlib.ExitStack()  # the gradebook, then the journal

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, _gradebook.RecordError):
            exc.recorded = sorted(self.recorded)
        self._writers.close()
        if kind is KeyboardInterrupt and self.recorded:
            print(f"\ninterrupted: {len(self.recorded)} student(s) recorded; grade the rest "
                  "with the same command and --resume", file=sys.stderr)  # fmt: skip

    def _open(self) -> None:
        """Once: wait for the preflight, then open the gradebook and the journal."""
        self.preflight.result()
        _gradebook.ensure_assignment(self.course, self.assignment, self.sources)
        self._gb = self._writers.enter_context(_gradebook.open_gradebook(self.course))
        path = _journal.journal_path(self.course, self.assignment)
        self._journal = self._writers.enter_context(_journal.Journal(path))

    def add(self, job, result) -> None:
        """Steps 4-5 for one notebook, and step 6 when it is the student's last.

        Raises:
            grader.secure._preflight.PreflightFailed: from the preflight (nothing written).
            grader.secure._gradebook.RecordError: a write failed.
        """
        if self._gb is None:
            self._open()
        student = job.student
        jobs_scores = self.done.setdefault(student, [])
        jobs_scores.append((job, _finish(job, result)))
        if len(jobs_scores) < self.expected[student]:
            return
        del self.done[student]
        jobs_scores.sort(key=lambda pair: pair[1].notebook)
        jobs, scores = [j for j, _ in jobs_scores], [s for _, s in jobs_scores]
        entry = _record_student(self._gb, self.course, self.assignment, jobs, scores)
        self.results[student] = entry
        if entry["status"] != "grader_error":
            digests = {job.submission.notebook: job.digest for job in jobs}
            print_ = _journal.fingerprint(self.source_print, digests)  # None: never resumed
            self._journal.append(student, print_, entry)
            self.recorded.append(student)
