"""Where step 3 runs: this machine's cores, or a Dask cluster's workers.

Both executors take the same request -- one submission's extracted cells and cases, the
limits -- and give back a :class:`grader.secure._sandbox.SandboxResult`; everything
before (collect, extract) and after (compare, score, record) stays in the trusted
process that drives them (:mod:`grader.secure._pipeline`).

- :class:`Local` (the default): a thread per slot, each starting sandboxes on this
  machine (``--jobs N``). No extra service.
- :class:`grader.secure._dask.Cluster` (``--scheduler tcp://HOST:8786``): the same
  sandboxes on the cluster's workers, which need bubblewrap and ``lrjax[grade]``.

An executor also runs the preflight: here once, on a cluster once per worker, because
each worker's machine is a sandbox of its own to check.
"""

import concurrent.futures
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor

from grader.secure import _preflight, _sandbox


class Local:
    """Sandboxes on this machine, ``jobs`` at once.

    Args:
        jobs: sandboxes running at once (threads that each wait on one sandbox).
    """

    def __init__(self, jobs: int):
        self.slots = jobs
        self._pool = ThreadPoolExecutor(max_workers=jobs)

    def sandbox(self, cells, cases, **how):
        """Start one submission (``how``: limits, hidden, isolation, audit); a future."""
        return self._pool.submit(_sandbox.run_submission, cells, cases, **how)

    def preflight(self, sources, **how):
        """Start the preflight (the first task, so it starts at once); a future whose
        result is the :class:`grader.secure._preflight.Report`."""
        return self._pool.submit(_preflight.run, sources, **how)

    resends = 0  # a result here is final

    def outcome(self, future, n: int):
        """The :class:`grader.secure._sandbox.SandboxResult` of a finished ``future``, and
        False (sending it again would not help).

        Raises:
            grader.secure._bwrap.Unavailable: bubblewrap cannot run here.
        """
        return future.result(), False

    @staticmethod
    def wait_any(futures) -> set:
        """Block until at least one of ``futures`` is done; the done ones."""
        return concurrent.futures.wait(futures, return_when=FIRST_COMPLETED).done

    def close(self) -> None:
        """Stop: sandboxes not started never start; running ones finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def open_executor(scheduler: str | None, jobs: int):
    """:class:`Local` with ``jobs`` slots, or a cluster at ``scheduler``.

    Raises:
        ImportError: ``scheduler`` given but Dask is not installed (the message names
            the extra).
        OSError: the scheduler cannot be reached, or has no worker in time.
    """
    if scheduler is None:
        return Local(jobs)
    from grader.secure._dask import Cluster

    return Cluster(scheduler)
