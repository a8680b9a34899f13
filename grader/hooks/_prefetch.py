"""One assignment graded by nbgrader in this process: its source read once, its preflight,
and the sandboxes started ahead for the submissions nbgrader will ask for next.

nbgrader converts one notebook at a time; a sandbox uses one core for about a second.
So when nbgrader asks for the first notebook of a run, every submission of that run
(the folders nbgrader has listed) is extracted and queued on ``jobs`` workers, and the
preflight (the source's own solution, which must get full marks before any score is
given) runs beside them. Each later notebook then takes its finished result -- if the
solution cells nbgrader hands over are the very cells that were run; otherwise (the
file changed in between) it is graded again on the spot.

The workers are daemon threads: a run that nbgrader stops early (an error, a subset of
students) does not wait for sandboxes nobody will read. Each sandbox dies with it.
"""

import hashlib
import json
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from grader.secure import _collect, _compare, _extract, _preflight, _sandbox, _score


class GraderError(RuntimeError):
    """The sandbox failed before the student's code ran: nothing is scored (run again
    once the cause, given in the message, is fixed)."""


@dataclass(frozen=True)
class Settings:
    """How submissions are run: :class:`grader.secure._sandbox.Limits`, isolation, workers."""

    limits: object
    isolation: str
    jobs: int


class _Workers:
    """``jobs`` daemon threads running submitted calls in order."""

    def __init__(self, jobs: int):
        self._queue = queue.SimpleQueue()
        for _ in range(max(1, jobs)):
            threading.Thread(target=self._work, daemon=True, name="lrjax-sandbox").start()

    def submit(self, fn, *args, **kwargs) -> Future:
        future = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)


def _key(cells) -> str:
    """A digest of the cells a sandbox runs (same digest, same run)."""
    text = json.dumps([(c.grade_id, c.code) for c in cells])
    return hashlib.sha256(text.encode()).hexdigest()


class Run:
    """The grading of one assignment of one course in this process (see the module)."""

    # The process's runs, one per (course, assignment): the latest source and settings.
    _lock: ClassVar = threading.Lock()
    _current: ClassVar[dict] = {}  # (course, assignment) -> (stamp, Run)

    @classmethod
    def get(cls, course, assignment: str, settings: Settings, planned=()) -> "Run":
        """The run for this course, assignment, source version and settings (made on
        first use); ``planned`` submission folders are queued ahead.

        Raises:
            FileNotFoundError, ValueError: the source cannot be read
                (:func:`grader.secure._collect.read_source`).
        """
        course = str(Path(course).resolve())
        folder = Path(course) / "source" / assignment
        files = sorted(folder.glob("*")) if folder.is_dir() else []
        stamp = (settings, tuple((p.name, p.stat().st_mtime_ns) for p in files))
        with cls._lock:
            found = cls._current.get((course, assignment))
            if found is None or found[0] != stamp:
                found = (stamp, cls(course, assignment, settings))
                cls._current[(course, assignment)] = found
            run = found[1]
        run.plan(planned)
        return run

    def __init__(self, course: str, assignment: str, settings: Settings):
        from grader.secure._cli import drop_untrusted_jax_cache

        drop_untrusted_jax_cache()  # this process compiles the references
        self.course, self.assignment, self.settings = course, assignment, settings
        self.sources = {s.name: s for s in _collect.read_source(Path(course), assignment)}
        self._workers = _Workers(settings.jobs)
        self._ahead = {}  # (student, notebook) -> (cells digest, Future)
        self._lock = threading.Lock()
        self._preflight = self._workers.submit(
            _preflight.run, tuple(self.sources.values()), limits=settings.limits,
            isolation=settings.isolation, hidden=[course],
        )  # fmt: skip

    def _sandbox(self, cells, source):
        return _sandbox.run_submission(
            cells, _compare.requests(source), limits=self.settings.limits,
            hidden=[self.course], isolation=self.settings.isolation,
        )  # fmt: skip

    def plan(self, folders) -> None:
        """Queue the sandboxes of the submissions under ``folders``
        (``submitted/<student>/<assignment>``) not queued yet."""
        for folder in folders:
            student = os.path.basename(os.path.dirname(os.path.abspath(folder)))
            for name, source in self.sources.items():
                path = Path(folder) / f"{name}.ipynb"
                with self._lock:
                    if (student, name) in self._ahead or not path.is_file():
                        continue
                try:
                    cells = _extract.extract(source, _collect.read_submission(path)).cells
                except (OSError, ValueError):
                    continue  # graded (and reported) when nbgrader gets to it
                future = self._workers.submit(self._sandbox, cells, source)
                with self._lock:
                    self._ahead[(student, name)] = (_key(cells), future)

    def grade(self, student: str, notebook: str, nb):
        """Grade ``student``'s ``notebook`` (``nb``: as nbgrader sanitized it).

        Returns:
            The :class:`grader.secure._score.NotebookScore`.

        Raises:
            KeyError: the assignment has no such source notebook.
            grader.secure._preflight.PreflightFailed: the source's solution does not
                get full marks in the sandbox (nothing may be scored).
            grader.secure._bwrap.Unavailable: bubblewrap cannot run here.
            GraderError: the sandbox failed before the student's code ran.
        """
        source = self.sources[notebook]
        cells = _extract.extract(source, nb).cells
        with self._lock:
            digest, future = self._ahead.pop((student, notebook), (None, None))
        if digest != _key(cells):
            future = self._workers.submit(self._sandbox, cells, source)
        self._preflight.result()
        result = future.result()
        if result.status == "grader_error":
            raise GraderError(f"the sandbox failed before {student}'s code ran: {result.reason}")
        verdicts = _compare.compare(source, result)
        return _score.score(source, student, verdicts, status=result.status,
                            reason=result.reason)  # fmt: skip
