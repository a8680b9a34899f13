"""The executor on a Dask cluster: ``python -m grader autograde ... --scheduler ADDRESS``.

Each submission is one Dask task (:func:`grader.secure._remote.sandbox_task`) that a
worker runs in its own bubblewrap sandbox, exactly as a local run does; the task's
arguments and result are plain data, and this client judges and records everything.

What the cluster adds, and what stays:

- a worker that dies mid-task (its machine lost, the process killed) loses nothing:
  the scheduler gives its tasks to other workers. A task whose workers die every time
  it runs (the scheduler's ``distributed.scheduler.allowed-failures``, 3 by default)
  is given up by Dask; this client sends it :data:`RESENDS` more time as a new task
  (a neighbour that shared a dying worker with it is graded then), and after that it is
  a grader error of that student alone: not recorded, graded again by a re-run;
- the preflight runs on every worker connected at the start (each machine's sandbox is
  checked), pinned to it;
- workers are trusted machines, like this one: student code never runs in a worker's
  process, only in the sandbox the worker starts. Dask's own links are not
  authenticated over ``tcp://``: keep the scheduler on a private network or use
  ``tls://`` with Dask's certificates (docs/grader.md).
"""

import uuid
from concurrent.futures import ThreadPoolExecutor

from grader.secure import _preflight, _remote
from grader.secure._sandbox import SandboxResult

PREFLIGHT_PRIORITY = 100  # a worker runs its preflight before the students queued beside it
RESENDS = 1  # a task Dask gave up on (KilledWorker) is sent once more, as a new task


def _grader_error(reason: str, n: int) -> SandboxResult:
    return SandboxResult("grader_error", reason, (None,) * n)


class Cluster:
    """Sandboxes on the workers of the Dask scheduler at ``address``.

    Args:
        address: the scheduler, e.g. ``tcp://10.0.0.5:8786``.
        timeout: seconds to wait for the scheduler and for a first worker.

    Raises:
        ImportError: Dask is not installed here.
        OSError: the scheduler cannot be reached, or no worker joined within ``timeout``.
    """

    def __init__(self, address: str, *, timeout: float = 30.0):
        try:
            from distributed import Client, as_completed
        except ImportError as exc:
            raise ImportError("--scheduler needs Dask distributed, which lrjax[grade] "
                              "installs: pip install 'lrjax[grade]'") from exc  # fmt: skip
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise OSError(f"cannot reach the Dask scheduler at {address} ({exc}): start one "
                          f"with `dask scheduler`, or check --scheduler") from exc  # fmt: skip
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            self.client.close()
            raise OSError(f"the Dask scheduler at {address} has no worker after {timeout:g} s: "
                          f"start `dask worker {address}` on machines with bubblewrap and "
                          "lrjax[grade]") from exc  # fmt: skip
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="preflight")
        self._live = set()  # futures sent and not read yet (cancelled by close)
        self._finished = as_completed(loop=self.client.loop)  # the students' futures

    @property
    def slots(self) -> int:
        """Sandboxes the cluster runs at once (its workers' threads)."""
        return max(1, sum(self.client.nthreads().values()))

    def sandbox(self, cells, cases, *, limits, hidden=(), isolation="bwrap", audit=True,
                worker=None):  # fmt: skip
        """Send one submission to a worker (``worker``: that one only); a Dask future."""
        future = self.client.submit(
            _remote.sandbox_task, *_remote.task_args(cells, cases, limits),
            hidden=list(hidden), isolation=isolation, audit=audit, pure=False,
            key=f"lrjax-sandbox-{uuid.uuid4().hex}",
            workers=None if worker is None else [worker], allow_other_workers=False,
            priority=PREFLIGHT_PRIORITY if worker is not None else 0,
        )  # fmt: skip
        self._live.add(future)
        if worker is None:
            self._finished.add(future)
        return future

    resends = RESENDS

    def outcome(self, future, n: int) -> tuple[SandboxResult, bool]:
        """The :class:`grader.secure._sandbox.SandboxResult` of a finished ``future``, and
        whether sending it again may help (Dask gave up after its workers died). What went
        wrong on the cluster's side is a grader error of this submission alone."""
        from distributed import KilledWorker

        self._live.discard(future)  # a result read is released on the cluster
        try:
            data = future.result()
        except KilledWorker as exc:
            why = f"the Dask workers that ran it died each time ({exc}); a re-run grades it again"
            return _grader_error(why, n), True
        except Exception as exc:  # raised on the worker: its sandbox, its install
            why = f"the Dask task failed on its worker: {type(exc).__name__}: {exc}"
            return _grader_error(why, n), False
        try:
            return _remote.result_from_wire(data, n), False
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _grader_error(f"a worker sent a malformed result: {exc}", n), False

    def preflight(self, sources, *, limits, hidden=(), isolation="bwrap", audit=True):
        """Start the preflight on every worker connected now; a future whose result is
        the slowest worker's :class:`grader.secure._preflight.Report`.

        The future raises :class:`grader.secure._preflight.PreflightFailed` naming the
        worker, or :class:`grader.secure._bwrap.Unavailable` if one cannot sandbox.
        """
        how = {"limits": limits, "hidden": hidden, "isolation": isolation, "audit": audit}
        wait_s = limits.startup_s + limits.timeout_s + 60

        def on(worker):
            def runner(cells, cases, **kw):
                future = self.sandbox(cells, cases, worker=worker, **kw)
                try:
                    data = future.result(timeout=wait_s)
                except TimeoutError as exc:
                    raise _preflight.PreflightFailed(
                        f"worker {worker} did not answer the preflight in {wait_s:g} s"
                    ) from exc
                finally:
                    self._live.discard(future)
                return _remote.result_from_wire(data, len(cases))

            return _preflight.run(sources, runner=runner, where=f" of worker {worker}", **how)

        def everywhere():
            reports = list(self._threads.map(on, list(self.client.nthreads())))
            return max(reports, key=lambda r: r.seconds)

        return self._threads.submit(everywhere)

    def wait_any(self, futures) -> set:
        """Block until at least one of the students' futures is done; those done now
        (``futures``: those in flight, all sent by :meth:`sandbox`)."""
        return set(self._finished.next_batch(block=True))

    def close(self) -> None:
        """Cancel what has not run and disconnect (the cluster keeps running)."""
        try:
            if self._live:
                self.client.cancel(list(self._live))
        finally:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self.client.close()
