"""The sandbox runner with real child processes: answers, limits, isolation, forgery.

Several tests turn the audit hook off to show that the OS layers (bubblewrap's
namespaces and filesystem view, own uid + RLIMIT_NPROC, rlimits) hold on their own.
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from _exercises import EXERCISES, cases

from grader.checks import reference
from grader.secure._sandbox import Cell, Limits, run_submission, value_from_wire

SETUP = Cell("setup", "import jax\nimport jax.numpy as jnp\nimport numpy as np\n")
DA = "def compute_da(a, y):\n    return -y / a + (1 - y) / (1 - a)\n"
SMALL = Limits(timeout_s=30, memory_mb=2048, nproc=64)
ROOT = os.geteuid() == 0


def _run(code, *, limits=SMALL, audit=True, hidden=(), function="compute_da", **how):
    return run_submission(
        [SETUP, Cell(function, code)],
        cases(function, hidden=True),
        limits=limits,
        audit=audit,
        hidden=hidden,
        **how,
    )


@pytest.mark.slow
@pytest.mark.bwrap
def test_honest_answers_match_the_reference():
    result = _run(DA)
    assert result.status == "ok", result.reason
    assert result.cell_errors == {}
    for case, outcome in zip(cases("compute_da", hidden=True), result.outcomes, strict=True):
        assert outcome.error is None
        want = reference(EXERCISES["compute_da"], case)
        np.testing.assert_allclose(outcome.value, want, rtol=1e-6, atol=0)
        assert outcome.value.dtype == want.dtype


@pytest.mark.slow
@pytest.mark.bwrap
@pytest.mark.parametrize("zygote", [None, False], ids=["default-start", "fresh-interpreter"])
def test_the_child_compiles_with_llvm_optimisations_off(zygote):
    """The scrubbed environment reaches the child however it starts, so that its JAX
    (which reads the variable at import) compiles with most optimisations off."""
    code = (
        "import os\n"
        "def compute_db(dz):\n"
        "    return np.float32(os.environ.get('JAX_DISABLE_MOST_OPTIMIZATIONS') == '1')\n"
    )
    case = next(c for c in cases("compute_db") if c.mode == "call")
    result = run_submission([SETUP, Cell("compute_db", code)], [case], limits=SMALL, zygote=zygote)
    assert result.status == "ok", result.reason
    assert result.outcomes[0].value == 1


@pytest.mark.slow
@pytest.mark.bwrap
def test_tuples_python_numbers_and_probes_cross_the_boundary():
    """propagate returns a tuple; gradient_descent takes Python numbers; a probe returns an
    operation count: all come back exactly as the same call gives in this process."""
    from _exercises import solution

    from grader.protocol import run_case

    cells = [SETUP] + [Cell(n, EXERCISES[n].source(EXERCISES[n].solution))
                       for n in ("propagate", "gradient_descent")]  # fmt: skip
    wanted = [*EXERCISES["propagate"].cases(hidden=True), *EXERCISES["propagate"].probes,
              *EXERCISES["gradient_descent"].cases()]  # fmt: skip
    result = run_submission(cells, wanted, limits=SMALL)
    assert result.status == "ok", result.reason
    for case, outcome in zip(wanted, result.outcomes, strict=True):
        here = run_case(solution(case.function), case)
        assert outcome.error is None and outcome.type_name == here.type_name
        if case.mode == "trace":  # an operation count
            assert outcome.type_name == "numpy.ndarray" and outcome.value == here.value
            continue
        assert outcome.type_name == "tuple"
        for got, want in zip(outcome.value, here.value, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5)
            assert got.dtype == want.dtype


@pytest.mark.parametrize(
    "wire, match",
    [
        ({"dtype": "|O", "shape": [], "data": 1}, "not a plain number"),
        ({"dtype": "<U3", "shape": [], "data": "abc"}, "not a plain number"),
        ({"dtype": "<c16", "shape": [], "data": 1}, "not a plain number"),
        ({"dtype": "<f8", "shape": [2], "data": [1.0, 2.0, 3.0]}, "does not match"),
        ({"dtype": "<f8", "shape": [10**7], "data": []}, "bad shape"),
        ({"dtype": "<f8", "shape": [1000, 1000, 2], "data": []}, "too many"),
        ({"dtype": "<f8", "shape": [-1], "data": []}, "bad shape"),
        ({"dtype": "<f8", "shape": [1], "data": [1.0], "extra": 1}, "expected"),
    ],
    ids=["object", "str", "complex", "shape", "huge", "many", "negative", "extra-key"],
)
def test_value_from_wire_refuses_malformed(wire, match):
    with pytest.raises(ValueError, match=match):
        value_from_wire(wire)


def test_value_from_wire_rebuilds_numbers():
    arr = value_from_wire({"dtype": "<f4", "shape": [2, 1], "data": [[1.5], [2.5]]})
    np.testing.assert_array_equal(arr, np.array([[1.5], [2.5]], np.float32))
    assert arr.dtype == np.float32


@pytest.mark.slow
@pytest.mark.bwrap
def test_timeout_kills_and_reports():
    result = _run("while True:\n    pass\n", limits=Limits(timeout_s=5, memory_mb=2048))
    assert result.status == "timeout"
    assert "5 s" in result.reason
    assert all(o is None for o in result.outcomes)


@pytest.mark.slow
@pytest.mark.bwrap
def test_memory_limit_raises_memory_error():
    result = _run("import numpy as np\n_x = np.ones(1 << 30)\n" + DA)
    assert "MemoryError" in result.cell_errors["compute_da"]


@pytest.mark.slow
@pytest.mark.bwrap
def test_output_is_capped_and_run_goes_on():
    code = "for _ in range(20):\n    print('x' * (1 << 20))\n" + DA
    result = _run(code, limits=Limits(timeout_s=30, memory_mb=2048, output_bytes=1 << 20))
    assert result.status == "ok"
    assert len(result.output) <= 1 << 20
    assert all(o is not None and o.error is None for o in result.outcomes)


@pytest.mark.slow
@pytest.mark.bwrap
def test_forged_result_before_cases_is_a_protocol_violation():
    code = (
        "import os, sys\n"
        'os.write(int(sys.argv[2]), b\'{"kind": "outcome", "nonce": "x", "i": 0, \'\n'
        '         b\'"value": null, "type_name": "", "error": null}\\n\')\n' + DA
    )
    result = _run(code)
    assert result.status == "protocol"
    assert "before the cases were sent" in result.reason


@pytest.mark.slow
@pytest.mark.bwrap
def test_network_namespace_without_audit_hook():
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "except OSError as exc:\n"
        "    raise RuntimeError(f'no network: {exc}')\n" + DA
    )
    result = _run(code, audit=False)
    assert "no network" in result.cell_errors["compute_da"]


@pytest.mark.slow
@pytest.mark.bwrap
def test_course_folder_is_hidden_without_audit_hook(tmp_path):
    secret = tmp_path / "course" / "gradebook.db"
    secret.parent.mkdir()
    secret.write_text("secret")
    code = f"print(open({str(secret)!r}).read())\n" + DA
    result = _run(code, audit=False, hidden=[str(secret.parent)])
    assert "Error" in result.cell_errors["compute_da"]
    assert "secret" not in result.output
    assert secret.read_text() == "secret"


FORK_BOMB = (
    "import os, time\n"
    "n = 0\n"
    "try:\n"
    "    while n < 10000:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(60)\n"
    "            os._exit(0)\n"
    "        n += 1\n"
    "except OSError as exc:\n"
    "    raise RuntimeError(f'stopped after {n} forks: {exc}')\n" + DA
)


@pytest.mark.slow
@pytest.mark.bwrap
def test_fork_bomb_is_contained_by_nproc_without_audit_hook():
    code = FORK_BOMB
    result = _run(code, audit=False, limits=Limits(timeout_s=30, memory_mb=2048, nproc=64))
    error = result.cell_errors["compute_da"]
    assert "stopped after" in error
    assert int(error.split("stopped after ")[1].split()[0]) < 64
    assert result.status == "ok"  # the child went on to answer every case
    uid = result.isolation["uid"] if ROOT else os.geteuid()
    for _ in range(100):  # SIGKILLed processes take a moment to be reaped
        left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _alive(p, uid)
                and b"time.sleep" in _cmdline(p)]  # fmt: skip
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _alive(proc: Path, uid: int) -> bool:
    """Whether ``proc`` runs as ``uid`` and is not a zombie."""
    try:
        return proc.stat().st_uid == uid and (proc / "stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.bwrap
def test_the_grader_is_out_of_reach_without_audit_hook():
    code = f"import os\nos.kill({os.getpid()}, 0)\n" + DA  # the grader's pid, from outside
    result = _run(code, audit=False)
    assert "ProcessLookupError" in result.cell_errors["compute_da"]  # another PID namespace
    assert result.status == "ok"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the root fallbacks need root")
@pytest.mark.parametrize("mode", ["net", "none"], ids=["network-namespace-only", "no-namespace"])
def test_weaker_isolation_still_grades_and_refuses(mode, tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("secret")
    code = f"try:\n    open({str(secret)!r}).read()\nexcept OSError as e:\n    print(e)\n" + DA
    result = _run(code + "import os\nos.fork()\n", isolation="weak", mode=mode,
                  hidden=[str(tmp_path)])  # fmt: skip
    assert result.isolation["namespace"] == mode
    assert result.isolation["sandbox"] == "weak"
    assert ("network namespace" in result.isolation["missing"]) is (mode == "none")
    assert "pid namespace" in result.isolation["missing"]
    assert "refused" in result.output, result  # the audit hook alone keeps the course out
    assert "os.fork refused" in result.cell_errors["compute_da"]
    for case, outcome in zip(cases("compute_da", hidden=True), result.outcomes, strict=True):
        want = reference(EXERCISES["compute_da"], case)
        np.testing.assert_allclose(outcome.value, want, rtol=1e-6, atol=0)


@pytest.mark.slow
@pytest.mark.bwrap
def test_as_an_ordinary_user_nproc_counts_the_sandbox_alone():
    """Not root: RLIMIT_NPROC is set inside the sandbox's user namespace, so it bounds the
    sandbox's processes, not the instructor's (the user already runs a pytest and more)."""
    import json

    from _user import ensure_user, run_as

    user = ensure_user()  # skips unless root (CI runs as root)
    script = f"""
import json
import numpy as np
from grader.protocol import Case
from grader.secure._sandbox import Cell, Limits, run_submission
case = Case("compute_da", (np.float32(0.3), np.float32(1.0)), "call", "one")
r = run_submission([Cell("setup", {SETUP.code!r}), Cell("compute_da", {FORK_BOMB!r})],
                   [case], audit=False,
                   limits=Limits(timeout_s=30, memory_mb=2048, nproc=64))
print(json.dumps({{"status": r.status, "errors": r.cell_errors, "iso": r.isolation}}))
"""
    # the user runs 100 other processes already
    busy = 'for i in $(seq 100); do sleep 120 >/dev/null 2>&1 & pids="$pids $!"; done; '
    run = f'{busy}"$0" -c "$1"; status=$?; kill $pids; exit $status'
    done = run_as(user, ["sh", "-c", run, user.python, script], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == "ok", result
    assert "user" in result["iso"]["namespaces"] and result["iso"]["uid"] is None
    error = result["errors"]["compute_da"]
    forks = int(error.split("stopped after ")[1].split()[0])
    assert 20 <= forks < 64, error  # its own budget: not 0 (the user's 100), not unbounded


@pytest.mark.slow
@pytest.mark.bwrap
def test_a_cpu_limit_is_reported_as_cpu_not_as_a_signal():
    """Threads that burn CPU hit RLIMIT_CPU (SIGXCPU) before the wall clock: the reason
    says so, so a student knows it was the CPU limit and not a crash."""
    spin = ("import threading\n"
            "def spin():\n    while True:\n        pass\n"
            "for _ in range(4):\n    threading.Thread(target=spin, daemon=True).start()\n"
            "spin()\n")  # fmt: skip
    result = _run(spin + DA, limits=Limits(timeout_s=20, memory_mb=2048, nproc=64, cpu_s=2))
    assert result.status == "cpu", (result.status, result.reason)
    assert "CPU time limit" in result.reason
