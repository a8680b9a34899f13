"""Step 6's running record: one JSON line per student, appended as each is recorded.

A class of 100 000 students cannot afford to rewrite a results file after every
student (that costs the square of the class in writes). The journal is append-only:
``COURSE/grades/ASSIGNMENT.jsonl`` gets one line per student, written once their
gradebook transaction has committed and their autograded files are in place, and
flushed to the operating system at once (a killed grader loses nothing it recorded);
``fsync`` runs at most once a second (a machine that loses power may lose the last
second, which a re-run grades again). ``--json`` is written once, at the end.

Each line carries a fingerprint of what decided the grade: the source notebooks, the
course's exercise declarations, the limits, and the student's submitted files. With
``--resume`` a student whose latest line has today's fingerprint is not graded again;
a student who resubmitted since, or a course whose source changed, is.

Lines are only ever read back by the trusted grader, as data; a line cut short by a
crash (the last one) is ignored.
"""

import hashlib
import json
import os
import time
from pathlib import Path

from grader.secure._collect import submission_bytes
from grader.secure._record import _write_error

FSYNC_EVERY_S = 1.0


def journal_path(course, assignment: str) -> Path:
    """``COURSE/grades/ASSIGNMENT.jsonl``."""
    return Path(course) / "grades" / f"{assignment}.jsonl"


def _digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def source_fingerprint(course, sources, settings) -> str:
    """What decides every student's grade but their own files: the source notebooks,
    the exercise declarations (``COURSE/exercises/*.py``) and ``settings`` (a string:
    limits, isolation)."""
    course = Path(course)
    files = [s.path for s in sources] + sorted((course / "exercises").glob("*.py"))
    return _digest([settings, *(f"{p.name}\0".encode() + p.read_bytes() for p in files)])


MISSING = _digest([b"\0missing"])  # the digest of a notebook not handed in


def file_digest(data: bytes) -> str:
    """The digest of one submitted file's bytes."""
    return _digest([data])


def fingerprint(source_print: str, digests: dict) -> str | None:
    """The fingerprint of one student's grade from the source's and their files' digests.

    Args:
        source_print: :func:`source_fingerprint`.
        digests: ``{notebook: digest}`` (:func:`file_digest`, :data:`MISSING`, or None
            for a file that could not be read: a pipe, a symlink, too large).

    Returns:
        The fingerprint, or None when a digest is None (never resumed, always graded).
    """
    if any(d is None for d in digests.values()):
        return None
    return _digest([source_print, *(x for nb in sorted(digests) for x in (nb, digests[nb]))])


def submission_fingerprint(source_print: str, submissions) -> str | None:
    """:func:`fingerprint` of a student's submitted files as they are now (``--resume``
    reads them once up front; a graded run fingerprints the bytes it graded)."""
    digests = {}
    for sub in submissions:
        try:
            digests[sub.notebook] = (MISSING if sub.path is None
                                     else file_digest(submission_bytes(sub.path)))  # fmt: skip
        except (OSError, ValueError):
            digests[sub.notebook] = None
    return fingerprint(source_print, digests)


def read_journal(path) -> dict:
    """``{student: (fingerprint, entry)}`` from the latest line of each student.

    A missing journal is empty; a line that is not a whole JSON object (the last line of
    a grader killed mid-write) is skipped.
    """
    found = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    found[row["student"]] = (row["fingerprint"], row["entry"])
                except (ValueError, KeyError, TypeError):
                    continue
    except FileNotFoundError:
        pass
    return found


class Journal:
    """The append-only journal of one grading run.

    Args:
        path: the ``.jsonl`` file (its folder is created).

    Raises:
        RecordError: the folder or file cannot be created or opened.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self._synced = time.monotonic()
        self.written = 0  # bytes this run appended

    def append(self, student: str, fingerprint: str | None, entry: dict) -> None:
        """Add one student's line and hand it to the operating system.

        Raises:
            RecordError: the write failed (a full disk).
        """
        line = json.dumps({"student": student, "fingerprint": fingerprint, "entry": entry},
                          ensure_ascii=False, sort_keys=True) + "\n"  # fmt: skip
        try:
            self._file.write(line)
            self._file.flush()
            if time.monotonic() - self._synced >= FSYNC_EVERY_S:
                os.fsync(self._file.fileno())
                self._synced = time.monotonic()
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self.written += len(line.encode())

    def close(self) -> None:
        """Sync and close (a failure to sync here loses nothing already flushed)."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            pass
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
