"""The zygote: one trusted interpreter that imports JAX once and forks each sandboxed child.

Started by :mod:`grader.secure._forkserver` (as root, outside any sandbox, with the
sandbox's scrubbed environment) as ``python -I -B _zygote.py FD``, by path like
``_child.py``, so that the ``grader`` package is never imported here. It runs the trusted
part of the child's start once (:func:`grader.secure._child.prepare`: NumPy, JAX -- no XLA
backend, so no thread exists when it forks -- the protocol, the preloads), then serves
requests on the Unix socket ``FD``. Each request carries, by ``SCM_RIGHTS``, a pidfd of a
*holder* (a bwrap sandbox made with today's command, whose command only waits) and the
pipes of one submission. For each request it forks:

- C, which checks that the namespaces it opens are the holder's (the inode numbers bwrap
  reported, the holder alive after they were opened, none of them the zygote's own), joins
  them (cgroup, IPC, UTS, network, PID for its children, mount) and the holder's root, forks
  G, waits for it and writes G's wait status to the status pipe;
- G, inside the holder's PID namespace (it and all it starts die when the holder's init
  dies): a new session, only the two protocol pipes and stdio open, the rlimits,
  capabilities cut to CAP_SETUID/CAP_SETGID and no-new-privs, as bwrap leaves its command
  (the bounding set too, which bwrap keeps whole); then the rest of the child's start (the
  XLA backend) and :func:`grader.secure._child.serve`, which drops to the claimed uid
  before any student line.

The zygote never sees a cell, a case or an outcome: those go through the pipes.
"""

import json
import os
import signal
import socket
import sys

CLONE = {"cgroup": 0x02000000, "ipc": 0x08000000, "uts": 0x04000000, "net": 0x40000000,
         "pid": 0x20000000, "mnt": 0x00020000}  # fmt: skip
# must be new for every sandbox; the cgroup namespace is joined when bwrap could make one
REQUIRED = ("ipc", "uts", "net", "pid", "mnt")
CAP_SETGID, CAP_SETUID = 6, 7
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47


def main() -> int:
    """Prepare, then serve fork requests until the grader closes its end of the socket."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_sandbox_child", f"{here}/_child.py")
        child = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(child)
        hook = child.load_hook(here)
        protocol = child.prepare(os.path.join(os.path.dirname(here), "protocol"))
        _single_threaded()
    except BaseException as exc:  # the grader reports it: a grader error, never a student's
        sock.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return 1
    sock.send(json.dumps({"pid": os.getpid()}).encode())
    signal.signal(signal.SIGCHLD, _reap)
    prepared = (child, hook, protocol, os.path.dirname(here))
    while True:
        data, fds, flags, _ = socket.recv_fds(sock, 1 << 16, 8)
        if not data:  # the grader has gone
            return 0
        try:
            if flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC) or len(fds) != 5:
                raise ValueError("a request needs 5 descriptors and at most 64 KiB")
            reply = {"pid": _fork(json.loads(data), fds, sock, prepared)}
        except Exception as exc:  # this request fails; the zygote stays
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(json.dumps(reply).encode())


def _reap(signum, frame) -> None:
    """SIGCHLD: collect every finished C (each has already reported G's status)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _single_threaded() -> None:
    """Refuse to fork with another thread alive (it would not exist in the child, and
    could hold a lock the child then waits on forever)."""
    with open("/proc/self/status") as status:
        threads = next(line for line in status if line.startswith("Threads:"))
    if threads.split()[1] != "1":
        raise RuntimeError(f"the zygote has {threads.split()[1]} threads: it cannot fork")


def _fork(request, fds, sock, prepared) -> int:
    """Fork C for one request; returns its pid."""
    _single_threaded()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # C: never returns to the loop
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(sock.detach())
        code = _enter_and_wait(request, *fds, prepared)
    except BaseException as exc:
        _report(fds[4], {"error": f"{type(exc).__name__}: {exc}"})
    finally:
        os._exit(code)


def _report(fd, status) -> None:
    try:
        os.write(fd, json.dumps(status).encode())
    except OSError:  # the grader has stopped listening
        pass


def _enter_and_wait(request, pidfd, req_r, res_w, out_w, status_w, prepared) -> int:
    """C: join the holder's namespaces and root, fork G, report how G ended."""
    holder = int(request["pid"])
    spaces, own = {}, {}
    for name in CLONE:
        spaces[name] = os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        own[name] = os.stat(f"/proc/self/ns/{name}").st_ino
    root = os.open(f"/proc/{holder}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    # alive now, so the pid was the holder's all along: what was opened is the holder's
    signal.pidfd_send_signal(pidfd, 0)
    for name, fd in spaces.items():
        inode = os.fstat(fd).st_ino
        if name in REQUIRED and (inode == own[name] or inode != request["ns"][name]):
            raise RuntimeError(f"the holder's {name} namespace is not the sandbox's own")
    for name, fd in spaces.items():  # the mount namespace last: it changes /proc
        if os.fstat(fd).st_ino != own[name]:
            _setns(fd, CLONE[name])
    os.fchdir(root)
    os.chroot(".")
    os.chdir(request["folder"])
    child = os.fork()
    if child == 0:
        code = 1
        try:  # G
            code = _sandboxed(request, req_r, res_w, out_w, prepared)
        except BaseException:
            import traceback

            traceback.print_exc()  # to the sandbox's output: the parent shows it
        finally:
            os._exit(code)
    for fd in (pidfd, req_r, res_w, out_w, root, *spaces.values()):
        os.close(fd)
    _, status, usage = os.wait4(child, 0)
    report = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["code"] = os.waitstatus_to_exitcode(status)
    _report(status_w, report)
    return 0


def _setns(fd, kind) -> None:
    if hasattr(os, "setns"):  # Python 3.12
        os.setns(fd, kind)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _sandboxed(request, req_r, res_w, out_w, prepared) -> int:
    """G: the state bwrap gives its command, then the child's own steps."""
    child, hook, protocol, grader_dir = prepared
    os.setsid()
    os.environ["PWD"] = request["folder"]  # as bwrap's --chdir sets it
    # what a child started by path sees (grader.secure._isolation.child_argv)
    sys.argv[:] = [
        request["child"],
        str(req_r),
        str(res_w),
        str(request["uid"]),
        "1" if request["audit"] else "0",
        str(request["nproc"]),
        request["folder"],
    ]
    null = os.open("/dev/null", os.O_RDWR)
    for fd, source in ((0, null), (1, out_w), (2, out_w)):
        os.dup2(source, fd)
    keep = sorted({0, 1, 2, req_r, res_w})  # nothing else of the zygote or of C stays open
    for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, high)
    import resource

    for name, (soft, hard) in request["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    _keep_only_setuid()
    import numpy as np

    # the legacy global generator's state is the zygote's, so every fork's: a fresh seed
    np.random.seed()  # noqa: NPY002
    child.start_backend(protocol)
    return child.serve(hook, protocol, req_r, res_w, uid=request["uid"], audit=request["audit"],
                       nproc=request["nproc"], folder=request["folder"],
                       hidden=[*request["hidden"], grader_dir], parent=0)  # fmt: skip


def _keep_only_setuid() -> None:
    """CAP_SETUID and CAP_SETGID only, as ``bwrap --cap-drop ALL --cap-add ...`` leaves its
    command as root, and no-new-privs; stricter than bwrap in two ways: the bounding set is
    cut to those two as well (bwrap keeps root's whole set) and nothing is inheritable
    (bwrap leaves those two). The uid drop then clears the permitted and effective sets."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/sys/kernel/cap_last_cap") as last:
        top = int(last.read())
    keep = (1 << CAP_SETGID) | (1 << CAP_SETUID)
    for cap in range(top + 1):
        if not keep & (1 << cap) and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL (EINVAL before 4.3)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)(keep, keep, 0, 0, 0, 0)  # effective, permitted, inheritable
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot set no-new-privs")


if __name__ == "__main__":
    sys.exit(main())
