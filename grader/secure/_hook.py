"""The sandbox's policy: the PEP 578 audit hook and the primitives disarmed before it.

Loaded by :mod:`grader.secure._child` from this folder as a plain module (the ``grader`` package
is never imported in the child); standard library only. :func:`make_hook` builds the hook
from source with every value it needs baked in as a literal constant or a C builtin bound
as a default, and with empty globals, so student code finds nothing to patch: no global,
no module attribute, no closure cell (and replacing its ``__code__`` or ``__defaults__``
raises an audit event the hook refuses).
"""

import os
import sys

# Pre-made raw-memory and raw-process primitives that fire no audit event when called.
_DISARM = {
    "ctypes": (
        "memmove", "memset", "cast", "string_at", "wstring_at", "CFUNCTYPE", "PYFUNCTYPE",
        "CDLL", "PyDLL", "cdll", "pydll", "pythonapi", "LibraryLoader", "_CFuncPtr", "_cast",
        "_string_at", "_wstring_at", "_memmove_addr", "_memset_addr", "_cast_addr",
        "_string_at_addr", "_wstring_at_addr", "_dlopen",
    ),
    "_ctypes": ("CFuncPtr", "_memmove_addr", "_memset_addr", "_cast_addr", "_string_at_addr",
                "_wstring_at_addr", "dlopen", "dlsym", "dlclose", "call_function",
                "call_cdeclfunction", "PyObj_FromPtr"),
    "_posixsubprocess": ("fork_exec",),
    "subprocess": ("_fork_exec",),
}  # fmt: skip


def disarm() -> None:
    """Replace raw-memory/raw-process primitives everywhere they are referenced.

    They were loaded by NumPy/JAX before the hook, and calling them raises no audit
    event. The hook also refuses importing these modules afresh. This closes the easy
    paths; the OS layers (namespaces, own uid, rlimits) are the backstop for the rest.
    """

    def refused(*args, **kwargs):
        raise PermissionError("sandbox: raw memory and process primitives are disabled")

    originals = []
    for module, names in _DISARM.items():
        mod = sys.modules.get(module)
        for name in names if mod is not None else ():
            value = getattr(mod, name, None)
            if value is not None and not isinstance(value, (int, str, bool)):
                originals.append(value)
            if hasattr(mod, name):
                setattr(mod, name, refused)
    cache = getattr(sys.modules.get("ctypes"), "_c_functype_cache", None)
    if isinstance(cache, dict):
        cache.clear()
    ids = {id(v) for v in originals}
    for mod in list(sys.modules.values()):
        attrs = getattr(mod, "__dict__", None)
        if not isinstance(attrs, dict):
            continue
        for name, value in list(attrs.items()):
            if id(value) in ids:
                attrs[name] = refused


def lrjax_dirs():
    """Where the lrjax package lives (the reference answers): never readable here."""
    import importlib.util

    spec = importlib.util.find_spec("lrjax")
    return list(spec.submodule_search_locations or []) if spec else []


def read_roots():
    """Folders whose files the student's code may read: the Python installation only."""
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(sysconfig.get_paths().values())
    roots.update(site.getsitepackages())
    roots = {os.path.realpath(r) for r in roots if r}
    return tuple(sorted(r.rstrip("/") + "/" for r in roots if r != "/"))


# Events refused outright once student code may run.
_DENY_PREFIXES = ("socket.", "ctypes.", "_ctypes.", "subprocess.", "os.exec", "os.spawn")
_DENY = (
    "os.system", "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "os.kill",
    "os.killpg", "os.startfile", "os.symlink", "os.link", "os.chdir", "os.chroot", "pty.spawn",
    "signal.pthread_kill", "resource.setrlimit", "resource.prlimit", "gc.get_objects",
    "gc.get_referrers", "gc.get_referents", "sys._current_frames", "webbrowser.open",
    "syslog.openlog", "fcntl.ioctl", "os.setns",
    "os.unshare", "mmap.__new__",
)  # fmt: skip
# Events whose path arguments must lie inside the sandbox folder.
_WRITE_EVENTS = (
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
    "os.utime", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr", "shutil.rmtree",
    "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.copymode", "shutil.copystat",
)  # fmt: skip
_LIST_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "glob.glob/2", "os.listxattr")
_GUARDED_ATTRS = ("__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__")

# The hook's source: every value it needs is a literal constant or a C builtin bound as a
# default, so student code cannot patch a global or a module the hook relies on
# (its __code__/__defaults__ cannot be replaced either: those setters raise audit events).
_HOOK_SOURCE = """
def hook(event, args, _isinstance=isinstance, _str=str, _bytes=bytes, _int=int,
         _fspath=fspath, _norm=normpath, _err=PermissionError, _len=len, _hasattr=hasattr):
    if event == "open":
        path, mode, flags = args
        if _isinstance(path, _int):
            return
        path = _fspath(path)
        if _isinstance(path, _bytes):
            path = path.decode("utf-8", "surrogateescape")
        if not path.startswith("/"):
            path = FOLDER + path
        path = _norm(path)
        writes = (mode is not None and ("w" in mode or "a" in mode or "x" in mode
                  or "+" in mode)) or (flags & WRITE_FLAGS) != 0
        if (path + "/").startswith(FOLDER):
            return
        if not writes and path in READ_FILES:
            return
        if (not writes and (path + "/").startswith(READ_ROOTS)
                and not (path + "/").startswith(HIDDEN_DIRS)):
            return
        raise _err("sandbox: open(" + path + ") refused: only this folder is writable and"
                   " only the Python installation is readable")
    if event == "import" and (args[0] in BLOCKED_IMPORTS
                              or args[0].startswith(("ctypes.", "multiprocessing"))):
        raise _err("sandbox: import " + args[0] + " refused")
    if event in DENY or event.startswith(DENY_PREFIXES):
        raise _err("sandbox: " + event + " refused (no processes, sockets, ctypes, gc walks,"
                   " signals or code swapping in graded code)")
    if event == "object.__setattr__" and _len(args) > 1 and args[1] in GUARDED_ATTRS:
        raise _err("sandbox: setting " + _str(args[1]) + " refused")
    if event in WRITE_EVENTS or event in LIST_EVENTS:
        for item in args:
            if _isinstance(item, (_str, _bytes)) or _hasattr(item, "__fspath__"):
                path = _fspath(item)
                if _isinstance(path, _bytes):
                    path = path.decode("utf-8", "surrogateescape")
                if not path.startswith("/"):
                    path = FOLDER + path
                path = _norm(path)
                inside = (path + "/").startswith(FOLDER)
                readable = ((path + "/").startswith(READ_ROOTS)
                            and not (path + "/").startswith(HIDDEN_DIRS))
                if not inside and not (event in LIST_EVENTS and readable):
                    raise _err("sandbox: " + event + "(" + path + ") refused")
"""


def make_hook(folder, read_roots, hidden_dirs):
    """Build the audit hook with its policy baked in as constants."""
    import posixpath

    normpath = getattr(posixpath, "_path_normpath", None) or posixpath.normpath
    consts = {
        "FOLDER": os.path.realpath(folder).rstrip("/") + "/",
        "READ_ROOTS": tuple(read_roots),
        "HIDDEN_DIRS": tuple(os.path.realpath(d).rstrip("/") + "/" for d in hidden_dirs),
        "READ_FILES": ("/dev/null", "/dev/urandom", "/etc/localtime"),
        "DENY": _DENY,
        "DENY_PREFIXES": _DENY_PREFIXES,
        "WRITE_EVENTS": _WRITE_EVENTS,
        "BLOCKED_IMPORTS": ("ctypes", "_ctypes", "_posixsubprocess", "_multiprocessing"),
        "LIST_EVENTS": _LIST_EVENTS,
        "GUARDED_ATTRS": _GUARDED_ATTRS,
        "WRITE_FLAGS": os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
    }
    source = _HOOK_SOURCE
    for name in sorted(consts, key=len, reverse=True):  # DENY_PREFIXES before DENY
        source = source.replace(name, repr(consts[name]))
    scope = {"__builtins__": {}, "fspath": os.fspath, "normpath": normpath,
             "isinstance": isinstance, "str": str, "bytes": bytes, "int": int,
             "PermissionError": PermissionError, "len": len, "hasattr": hasattr}  # fmt: skip
    exec(compile(source, "<sandbox audit hook>", "exec"), scope)
    hook = scope["hook"]
    scope.clear()  # the hook's globals are now empty: nothing there to patch
    return hook
