"""The sandboxed child: runs one student's extracted code and answers case requests.

Started by :mod:`grader.secure._sandbox` as ``python -I -B _child.py REQ RES UID AUDIT NPROC DIR``
(by path, so that the ``grader`` package is never imported here; inside bubblewrap this
file, ``_hook.py`` and the ``protocol`` folder are the only files of the grader that exist),
or, as root, forked from the zygote (:mod:`grader.secure._zygote`), which ran step 1's
:func:`prepare` once for every child and calls :func:`start_backend` and :func:`serve`.

Order inside the child (each step relies on the one before):

1. import NumPy, JAX and the ``grader.protocol`` package (trusted code: cases, outcomes,
   ``run_case`` and the wire codec, loaded from its folder as itself) and trace every mode
   (jit, vmap, float64, a trace, an error's report) with abstract arguments, so every
   module the cases need is loaded while files may still be read; then start the XLA
   backend; no reference answers, no hidden cases, no lrjax reachable from this process;
2. read the extracted cells from the request pipe;
3. drop root (if started as root) to the uid the parent claimed for this sandbox, and set
   RLIMIT_NPROC, which then counts only this sandbox's processes;
4. install the PEP 578 audit hook of :mod:`grader.secure._hook` (friendly messages: no reading
   outside the Python installation and this folder, no processes, sockets, ctypes, gc
   walks, signals or code swapping; no security claim rests on it);
5. say ``ready`` (a failure before this is the grader's), then exec the student's cells
   in a fresh namespace;
6. tell the parent the cells ran; only then does the parent send the cases (and a nonce);
7. run the cases with ``protocol.run_cases`` (the compiled ones of each float width as one
   function) and send each outcome back as one JSON line.

Stdout/stderr are the student's (the parent keeps a capped copy); results go only to the
dedicated pipe ``RES_FD``. Nothing here decides a grade: the parent judges the numbers.
"""

import os
import sys


def _main() -> int:
    req_fd, res_fd, uid, audit, nproc, folder = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        int(sys.argv[3]),
        sys.argv[4] == "1",
        int(sys.argv[5]),
        sys.argv[6],
    )
    here = os.path.dirname(os.path.abspath(__file__))
    # inside bubblewrap the protocol folder is bound next to this file; without it (weak
    # isolation) this file is grader/secure/_child.py and the package root is hidden
    inside = os.path.isdir(os.path.join(here, "protocol"))
    protocol_dir = os.path.join(here if inside else os.path.dirname(here), "protocol")
    hidden = [here if inside else os.path.dirname(here), *sys.argv[7:]]
    parent = os.getppid()
    hook = load_hook(here)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    os.chdir(folder)
    protocol = prepare(protocol_dir)
    # weak isolation as root may drop to a uid that cannot read the interpreter's files
    # (a venv under /root): compile once now so nothing is loaded lazily after the drop
    start_backend(protocol, compile_now=not inside)
    return serve(hook, protocol, req_fd, res_fd, uid=uid, audit=audit, nproc=nproc,
                 folder=folder, hidden=hidden, parent=parent)  # fmt: skip


def load_hook(folder):
    """The policy module (grader/secure/_hook.py), loaded by path from ``folder``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_sandbox_hook", os.path.join(folder, "_hook.py"))
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def serve(hook, protocol, req_fd, res_fd, *, uid, audit, nproc, folder, hidden, parent) -> int:
    """Steps 2-7 (the docstring of this module): shared by both ways the child starts.

    Args:
        hook: the module :func:`load_hook` gave.
        protocol: the ``grader.protocol`` package (:func:`prepare`).
        req_fd, res_fd: the request pipe (read) and the result pipe (write).
        uid: the uid to drop to (as root), or -1 to keep this one.
        audit: install the audit hook.
        nproc: RLIMIT_NPROC to set after the drop (0: keep the one given).
        folder: the working folder (the hook lets the student write only there).
        hidden: folders the hook refuses to read even inside the installation.
        parent: what ``os.getppid()`` says while the process that waits for this one lives.

    Returns:
        The exit code (0); a student's failure is data sent to the parent, not an exception.
    """
    import json
    import linecache
    import resource
    import traceback

    write = os.write
    dumps = json.dumps

    def send(obj) -> None:
        data = (dumps(obj, allow_nan=True) + "\n").encode()
        while data:
            data = data[write(res_fd, data) :]

    reader = _LineReader(req_fd, os.read)
    request = json.loads(reader.line())
    # the hook's paths are found while every file can still be read: after the uid drop a
    # folder of mode 0700 above the install would hide them (--isolation weak)
    roots, hidden = hook.read_roots(), hidden + hook.lrjax_dirs()
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # as root: every capability goes with it
    if nproc > 0:  # this uid's (or this user namespace's) processes: the sandbox's alone
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    _die_with_parent(parent)
    if audit:
        hook.disarm()
        sys.addaudithook(hook.make_hook(folder, roots, hidden))
    send({"kind": "ready"})  # the last trusted step: from here on, failures are the student's

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    errors = []
    for cell in request["cells"]:
        name = f"<cell {cell['grade_id']}>"
        linecache.cache[name] = (len(cell["code"]), None, cell["code"].splitlines(True), name)
        try:
            exec(compile(cell["code"], name, "exec"), namespace)
        except BaseException as exc:  # the student's cell failed: data for the parent
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            errors.append({"grade_id": cell["grade_id"], "error": text[:2000]})
    send({"kind": "loaded", "errors": errors})

    request = json.loads(reader.line())
    nonce = request["nonce"]
    calls, where = [], []  # the cases whose function exists, and their indices
    for i, wire in enumerate(request["cases"]):
        case = protocol.case_from_wire(wire)
        fn = namespace.get(case.function)
        if callable(fn):
            calls.append((fn, case))
            where.append(i)
        else:
            why = f"NameError: name {case.function!r} is not defined (or not a function)"
            send(protocol.outcome_to_wire(protocol.Outcome(None, "", why), nonce, i))
    for k, outcome in protocol.run_cases(calls):
        send(protocol.outcome_to_wire(outcome, nonce, where[k]))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the student may have replaced or closed it
            pass
    send({"kind": "done", "nonce": nonce})
    return 0


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the grader dies (set after the uid change,
    which clears it), so a crashed grader leaves no sandbox behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the grader died before the request took effect
        os._exit(1)


class _LineReader:
    """Reads newline-terminated messages from a pipe fd."""

    def __init__(self, fd, read):
        self.fd, self.read, self.buf = fd, read, b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.read(self.fd, 1 << 16)
            if not chunk:
                raise SystemExit("parent closed the request pipe")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\n")
        return head.decode()


def _load_protocol(folder, util):
    """Import the ``grader.protocol`` package from ``folder`` as itself (its modules import
    one another relatively, so the rest of ``grader`` is never needed or reachable)."""
    spec = util.spec_from_file_location(
        "grader.protocol", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    protocol = util.module_from_spec(spec)
    sys.modules["grader.protocol"] = protocol
    spec.loader.exec_module(protocol)
    return protocol


_PRELOAD = (
    "math", "cmath", "statistics", "fractions", "decimal", "itertools", "functools",
    "collections", "random", "re", "string", "typing", "dataclasses", "numbers", "operator",
    "copy", "time", "datetime", "warnings", "enum", "abc", "contextlib", "textwrap",
    "jax.scipy.special", "jax.nn", "jax.lax", "numpy.linalg",
    # what JAX imports lazily on its first compilation (lowering to MLIR)
    "jaxlib.mlir.dialects.mhlo", "jaxlib.mlir.dialects.builtin", "jaxlib.mlir.extras.meta",
    "encodings.idna",  # so a refused socket says "socket", not "idna"
)  # fmt: skip


def prepare(protocol_dir):
    """Step 1 without XLA: import NumPy, JAX and the protocol, and trace every mode.

    Nothing here starts a thread (no XLA backend exists yet): the zygote
    (:mod:`grader.secure._zygote`) runs this once and forks sandboxes from the result.

    Args:
        protocol_dir: the ``grader/protocol`` folder to load the protocol package from.

    Returns:
        The ``grader.protocol`` package.
    """
    import importlib.util

    import jax
    import jax.numpy as jnp
    import numpy as np

    protocol = _load_protocol(protocol_dir, importlib.util)
    # After the uid drop the interpreter's own files may be unreadable (a Python under
    # /root): load the standard modules a solution might reasonably import now.
    for name in _PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass

    def fn(x):
        return jnp.exp(-x) * x + jax.nn.sigmoid(x)

    # tracing with abstract arguments loads what each mode and float width needs, without
    # a backend (lowering or running would start XLA's threads)
    shape = jax.ShapeDtypeStruct
    jax.make_jaxpr(jax.jit(fn))(shape((3,), np.float32))
    jax.make_jaxpr(jax.vmap(fn))(shape((3,), np.float32))
    with jax.enable_x64(True):
        jax.make_jaxpr(jax.vmap(fn))(shape((3,), np.float64))
    jax.make_jaxpr(jax.grad(lambda x: jnp.sum(x * x)))(shape((2,), np.float32))
    protocol.run_case(fn, protocol.Case("warm_up", (shape((2,), np.float32),), "trace"))
    protocol.run_case(None, protocol.Case("warm_up", (), "call"))  # an error's report
    np.testing.assert_allclose(np.ones(1), np.ones(1))
    return protocol


def start_backend(protocol, *, compile_now=False) -> None:
    """Start JAX's CPU backend (its threads); with ``compile_now``, also run every mode
    once (float32 and float64), so nothing of XLA is loaded later.

    Args:
        protocol: the ``grader.protocol`` package.
        compile_now: compile and run the warm-up function in each mode (slower: only
            where the interpreter's files may become unreadable after the uid drop).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.devices()
    if not compile_now:
        return

    def fn(x):
        return jnp.exp(-x) * x + jax.nn.sigmoid(x)

    cases = [protocol.Case("warm_up", (arg,), mode, "warm up")
             for mode, arg in (("call", np.ones(3, np.float32)), ("jit", np.float32(0.5)),
                               ("vmap", np.ones(3, np.float32)), ("jit", np.float64(0.5)),
                               ("vmap", np.ones(3, np.float64)))]  # fmt: skip
    for _ in protocol.run_cases([(fn, case) for case in cases]):
        pass
    jax.grad(lambda x: jnp.sum(x * x))(jnp.ones(2))


if __name__ == "__main__":
    sys.exit(_main())
