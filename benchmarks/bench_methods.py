"""The measured methods of bench_fit.py: each runs `steps` full-batch updates from zeros."""

import os
import platform
import subprocess
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import lrjax

LR = 0.5
TARGET_STEPS = 100  # the cost lrjax reaches in this many steps is the target for sklearn


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "devices": [str(d) for d in jax.devices()],
        "torch": _torch_version(),
        "load_avg_at_start": os.getloadavg()[0],
    }


def _torch_version():
    try:
        import torch
    except Exception:  # not installed, or a CUDA build without its libraries
        return None
    return torch.__version__


def data(m: int, n: int, seed: int = 0):
    """float32 features ~ N(0, 1) and labels from a logistic model (not separable)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n), dtype=np.float32)
    w = rng.standard_normal(n).astype(np.float32) / np.sqrt(n)
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w)))).astype(np.float32)
    return X, y


def best_time(fn, reps: int) -> float:
    """Seconds: the fastest of `reps` calls after one warm-up call (compilation).

    The minimum, not the median: other processes only ever add time.
    """
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def step_time(make, X, y, steps: int, reps: int) -> tuple[float, float]:
    """(seconds per step, fixed seconds per call) from runs of `steps` and 2·`steps` steps.

    The per-step time is the difference divided by `steps`: it leaves out what
    a call pays once (dispatch, the copy of X into another layout).
    """
    once = best_time(make(X, y, steps), reps)
    twice = best_time(make(X, y, 2 * steps), reps)
    if twice <= once:  # noise swamped the difference: charge everything to the steps
        return once / steps, 0.0
    per_step = (twice - once) / steps
    return per_step, max(once - steps * per_step, 0.0)


def cost_np(X, y, w, b) -> float:
    z = X.astype(np.float64) @ np.asarray(w, np.float64) + float(b)
    return float(np.mean(np.logaddexp(0, z) - y * z))


# --- the roofline: one read of X, the least a full-batch step must do

ROOFLINE_LABELS = {"numpy": "one NumPy X @ v", "device": "one jitted X @ v on the device"}


def roofline_kind(kind: str) -> str:
    """'auto' -> 'numpy' on CPU (the issue's reference), 'device' on an accelerator."""
    if kind == "auto":
        return "numpy" if jax.default_backend() == "cpu" else "device"
    if kind not in ROOFLINE_LABELS:
        raise ValueError(f"Unknown roofline {kind!r}: pass 'auto', 'numpy' or 'device'")
    return kind


def device_reads(X, y, steps):
    """`steps` reads of X on JAX's default device in one jitted loop (the device roofline).

    Each read is ``u = X @ (v + s)`` with ``s`` carried from the previous read's
    ``sum(u)``, so XLA can neither hoist a read out of the loop nor drop one. On
    a GPU the time per read is the memory bandwidth the training steps compete
    with (plus the read of u, 1/n of X). ``y`` is unused: same signature as the methods.
    """
    del y
    Xj, reads = jnp.asarray(X), read_loop(steps)
    return lambda: jax.block_until_ready(reads(Xj))


def read_loop(steps: int):
    """The jitted loop of :func:`device_reads`: X (m, n) -> a scalar that depends on every read."""

    @jax.jit
    def reads(X):
        def body(s, _):
            u = X @ (jnp.ones(X.shape[1], X.dtype) + s)
            return jnp.sum(u) * jnp.asarray(1e-30, X.dtype), None

        return jax.lax.scan(body, jnp.zeros((), X.dtype), length=steps)[0]

    return reads


def roofline_time(X, *, kind: str, reps: int, steps: int) -> float:
    """Seconds for one read of X: NumPy's ``X @ v`` ('numpy') or :func:`device_reads` ('device')."""
    if kind == "device":
        return step_time(device_reads, X, None, steps, reps)[0]
    v = np.ones(X.shape[1], X.dtype)
    return best_time(lambda: X @ v, 5 * reps)


# --- the methods: each returns a function that runs `steps` updates and returns (w, b)


def numpy_loop(X, y, steps):
    def run():
        m = len(y)
        w, b = np.zeros(X.shape[1], X.dtype), X.dtype.type(0)
        for _ in range(steps):
            dz = 1 / (1 + np.exp(-(X @ w + b))) - y
            w = w - LR * (dz @ X) / m
            b = b - LR * dz.mean()
        return w, b

    return run


def torch_loop(X, y, steps):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        m = len(y)
        w, b = torch.zeros(X.shape[1]), torch.zeros(())
        with torch.no_grad():
            for _ in range(steps):
                dz = torch.sigmoid(Xt @ w + b) - yt
                w = w - LR * (dz @ Xt) / m
                b = b - LR * dz.mean()
        return w.numpy(), b.item()

    return run


def jax_grad_loop(X, y, steps):
    """The natural JAX baseline: jax.grad of the cost in a jit-compiled scan.

    Like lrjax.fit it records the cost before each update (value_and_grad).
    """
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    @jax.jit
    def fit(X, y):
        def body(p, _):
            c, g = jax.value_and_grad(lrjax.cost)(p, X, y)
            return lrjax.Params(p.w - LR * g.w, p.b - LR * g.b), c

        init = lrjax.Params(jnp.zeros(X.shape[1], X.dtype), jnp.zeros((), X.dtype))
        return jax.lax.scan(body, init, length=steps)[0]

    return lambda: jax.block_until_ready(fit(Xj, yj))


def lrjax_fit(method):
    def make(X, y, steps):
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        return lambda: jax.block_until_ready(
            lrjax.fit(Xj, yj, learning_rate=LR, steps=steps, method=method)[0]
        )

    return make


METHODS = {
    "numpy": numpy_loop,
    "torch": torch_loop,
    "jax.grad": jax_grad_loop,
    "lrjax scan": lrjax_fit("scan"),
    "lrjax transposed": lrjax_fit("transposed"),
    "lrjax fused": lrjax_fit("fused"),
    "lrjax sharded": lrjax_fit("sharded"),
    "lrjax native": lrjax_fit("native"),
}


def _steps_for(nbytes: int) -> int:
    """Enough steps that one timed run takes ~0.1 s or more, at most 500."""
    return int(np.clip(4e8 / max(nbytes, 1), 10, 500))


def sklearn_time_to_cost(X, y, target: float, budget_s: float = 60.0):
    """Seconds for unpenalised LogisticRegression (C=inf, lbfgs) to reach `target` cost.

    max_iter doubles until the fitted model's cost is <= target; the time of
    that last fit is reported (None if the budget ran out first).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    spent, max_iter = 0.0, 1
    while spent < budget_s and max_iter <= 4096:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            model = LogisticRegression(C=np.inf, max_iter=max_iter, tol=1e-12).fit(X, y)
            elapsed = time.perf_counter() - t0
        spent += elapsed
        if cost_np(X, y, model.coef_[0], model.intercept_[0]) <= target:
            return elapsed, max_iter
        max_iter *= 2
    return None, max_iter


def measure_size(
    m: int, n: int, *, reps: int, sklearn: bool = True, methods=None, roofline: str = "auto"
) -> dict:
    """One row of the table: the roofline and each method's step time at m x n.

    ``methods`` limits the measured methods to those names (all of them by
    default); ``roofline`` is 'auto', 'numpy' or 'device' (:func:`roofline_kind`).
    """
    X, y = data(m, n)
    steps = _steps_for(X.nbytes)
    kind = roofline_kind(roofline)
    roof = min(roofline_time(X, kind=kind, reps=reps, steps=steps) for _ in range(2))
    auto = lrjax._train._auto_method(jnp.asarray(X))
    row = {"m": m, "n": n, "bytes": X.nbytes, "steps": steps, "roofline_s": roof,
           "roofline": kind, "auto": auto, "step_s": {}, "setup_s": {},
           "final_cost": {}}  # fmt: skip
    for name, make in METHODS.items():
        if methods is not None and name not in methods:
            continue
        if name == "torch" and _torch_version() is None:
            continue
        if name == "lrjax sharded" and len(jax.devices()) == 1:
            continue
        if name == "lrjax native" and not _native_here():
            continue
        row["step_s"][name], row["setup_s"][name] = step_time(make, X, y, steps, reps)
        w, b = make(X, y, steps)()
        row["final_cost"][name] = cost_np(X, y, w, b)
    # the roofline again, after: take the faster of the two (the fair reference)
    row["roofline_s"] = min(roof, roofline_time(X, kind=kind, reps=reps, steps=steps))
    if sklearn:
        # Time to a common cost: lrjax.fit (auto) for TARGET_STEPS steps, end to end
        # (checks and layout included), against scikit-learn reaching that cost.
        make = lrjax_fit("auto")
        run = make(X, y, TARGET_STEPS)
        row["lrjax_target_s"] = best_time(run, max(1, reps // 2))
        w, b = run()
        row["target_cost"] = cost_np(X, y, w, b)
        row["sklearn_s"], row["sklearn_max_iter"] = sklearn_time_to_cost(X, y, row["target_cost"])
    return row


def _native_here() -> bool:
    """The native kernels run on the CPU only: skip them on an accelerator."""
    return jax.default_backend() == "cpu" and lrjax._native.available()


def combine_rounds(rounds: list[dict]) -> dict:
    """One row from repeated measurements of a size: the median of each time over the rounds.

    The roofline too is the median of the rounds' rooflines, so a fraction
    computed from the row is the typical one, not the luckiest (the fastest
    roofline can be an outlier: at 38 MiB part of X may still sit in a 32 MiB
    L3). ``frac_range`` keeps each method's lowest and highest per-round fraction.
    """
    row = dict(rounds[0])
    row["rounds"] = len(rounds)
    row["roofline_s"] = float(np.median([r["roofline_s"] for r in rounds]))
    row["step_s"] = {k: float(np.median([r["step_s"][k] for r in rounds])) for k in row["step_s"]}
    fracs = {k: [r["roofline_s"] / r["step_s"][k] for r in rounds] for k in row["step_s"]}
    row["frac_range"] = {k: (min(v), max(v)) for k, v in fracs.items()}
    # Speed-ups compare two methods timed in the same round: the median of the
    # per-round ratios pairs them, where a ratio of medians would not.
    row["ratios"] = {
        f"{a} / {b}": float(np.median([r["step_s"][a] / r["step_s"][b] for r in rounds]))
        for a, b in _ratio_pairs(row)
        if a in row["step_s"] and b in row["step_s"]
    }
    row["per_round"] = [{"roofline_s": r["roofline_s"], "step_s": r["step_s"]} for r in rounds]
    return row


def _ratio_pairs(row) -> tuple[tuple[str, str], ...]:
    """The (slower, faster) method pairs whose ratio the table reports."""
    return (("numpy", "lrjax " + row["auto"]), ("jax.grad", "lrjax scan"))


MANY_KS = (1, 8, 16, 64)


def measure_many(m: int, n: int, *, reps: int, ks=MANY_KS) -> dict:
    """fit_many with K learning rates on XLA's products and on the native kernel.

    With lrjax.fit's step (one model, method 'auto') measured in the same run.
    Times are seconds per step, keyed by method, then by K (a string, as in JSON).
    """
    X, y = data(m, n)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    steps = _steps_for(X.nbytes)
    methods = ["xla", *(["native"] if _native_here() else [])]
    out = {"m": m, "n": n, "ks": list(ks), "steps": steps, "step_s": {}}
    out["auto"] = lrjax._many._auto_method(Xj)
    for method in methods:
        out["step_s"][method] = {}
        for K in ks:
            rates = list(np.geomspace(0.01, 1.0, K)) if K > 1 else [LR]

            def make(X, y, steps, rates=rates, method=method):
                return lambda: jax.block_until_ready(
                    lrjax.fit_many(Xj, yj, learning_rates=rates, steps=steps, method=method)[0]
                )

            out["step_s"][method][str(K)] = step_time(make, X, y, steps, reps)[0]
    out["fit_step_s"] = step_time(lrjax_fit("auto"), X, y, steps, reps)[0]
    return out


def format_many(many) -> str:
    """A Markdown table of :func:`measure_many`: ms per step and the ratios."""
    t, fit, auto = many["step_s"], many["fit_step_s"], many["auto"]
    one = t[auto]["1"]
    head = ["K", *(f"{method} ms/step" for method in t)]
    head += [*(["xla / native"] if "native" in t else []), f"{auto} / K=1", f"{auto} / lrjax.fit"]
    lines = [
        f"fit_many at m={many['m']:,} n={many['n']} float32 (auto: {auto}); "
        f"lrjax.fit, one model: {fit * 1e3:.2f} ms/step.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for k in map(str, many["ks"]):
        cells = [k, *(f"{t[method][k] * 1e3:.2f}" for method in t)]
        if "native" in t:
            cells.append(f"{t['xla'][k] / t['native'][k]:.2f}×")
        cells += [f"{t[auto][k] / one:.2f}×", f"{t[auto][k] / fit:.1f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- reporting


def format_row(row) -> str:
    r = row["roofline_s"]
    parts = [f"m={row['m']:>8} n={row['n']:>5} ({row['bytes'] / 2**20:7.1f} MiB)"]
    parts.append(f"roof {r * 1e3:.3f} ms")
    for name, t in row["step_s"].items():
        parts.append(f"{name} {t * 1e3:.3f} ms ({r / t:.2f})")
    if "sklearn_s" in row:
        parts.append(f"to target: lrjax {row['lrjax_target_s']:.3f} s, sklearn {row['sklearn_s']}")
    return " | ".join(parts)


def markdown(report) -> str:
    """The Markdown table of a report whose rows come from :func:`combine_rounds`."""
    rows = report["sizes"]
    names = list(dict.fromkeys(name for row in rows for name in row["step_s"]))
    head = ["m", "n", "MiB", "roofline ms", "roofline GB/s"]
    head += [f"{n} ms (frac)" for n in names]
    head += ["numpy / lrjax fit", "jax.grad / lrjax scan"]
    head += ["to target: lrjax s", "sklearn s (iters)"]
    rounds = max(row["rounds"] for row in rows)
    if rounds > 1:
        head.append(f"lrjax fit frac, min–max of {rounds} rounds")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        r, t = row["roofline_s"], row["step_s"]
        cells = [f"{row['m']:,}", str(row["n"]), f"{row['bytes'] / 2**20:.1f}", f"{r * 1e3:.3f}"]
        cells.append(f"{row['bytes'] / r / 1e9:.1f}")
        cells += [f"{t[n] * 1e3:.3f} ({r / t[n]:.2f})" if n in t else "–" for n in names]
        for slow, fast in _ratio_pairs(row):
            ratio = row["ratios"].get(f"{slow} / {fast}")
            cells.append(f"{ratio:.2f}×" if ratio is not None else "–")
        sk = row.get("sklearn_s")
        cells.append(f"{row['lrjax_target_s']:.3f}" if "lrjax_target_s" in row else "–")
        cells.append(f"{sk:.3f} ({row['sklearn_max_iter']})" if sk else "–")
        if rounds > 1:
            low, high = row["frac_range"].get("lrjax " + row["auto"], (None, None))
            cells.append(f"{low:.2f}–{high:.2f}" if low is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    info = report["machine"]
    lines += [
        "",
        f"frac = roofline time / step time (1.0 = {_roofline_label(rows)} per step). `lrjax fit` "
        "(method='auto') used, per size: "
        + ", ".join(f"{r['m']}x{r['n']}: {r['auto']}" for r in rows)
        + (
            f". Times (the roofline too) and the speed-ups (per-round ratios): median of "
            f"{rounds} rounds."
            if rounds > 1
            else ""
        ),
        f"Machine: {info['cpu']}, {info['cores']} cores, JAX {info['jax']}, "
        f"{len(info['devices'])} {_devices(info)}, "
        f"torch {info['torch'] or 'not installed'}, "
        f"load average at start {info['load_avg_at_start']:.2f}.",
        "",
        *([format_many(report["many"]), ""] if report["many"] else []),
        f"Command: `{report['command']}`",
    ]
    return "\n".join(lines) + "\n"


def _devices(info) -> str:
    """'cpu device(s)', or e.g. 'gpu device(s) (NVIDIA H100 80GB HBM3)'."""
    backend, kind = info.get("backend", "cpu"), info.get("device_kind", "cpu")
    return f"{backend} device(s)" + ("" if kind == backend else f" ({kind})")


def _roofline_label(rows) -> str:
    kinds = {row.get("roofline", "numpy") for row in rows}
    return " / ".join(ROOFLINE_LABELS[k] for k in sorted(kinds))


def plot(rows, path, info) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({row["n"] for row in rows})
    fig, axes = plt.subplots(1, len(ns), figsize=(5 * len(ns), 4), squeeze=False)
    for ax, n in zip(axes[0], ns, strict=True):
        sel = [row for row in rows if row["n"] == n]
        mib = [row["bytes"] / 2**20 for row in sel]
        names = list(dict.fromkeys(name for row in sel for name in row["step_s"]))
        for name in names:
            pts = [(x, row["bytes"] / row["step_s"][name] / 1e9)
                   for x, row in zip(mib, sel, strict=True) if name in row["step_s"]]  # fmt: skip
            ax.plot(*zip(*pts, strict=True), marker="o", label=name)
        roof = [row["bytes"] / row["roofline_s"] / 1e9 for row in sel]
        ax.plot(
            mib, roof, "k--", marker="_", ms=12, lw=2, label=f"roofline ({_roofline_label(sel)})"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # on a short range the minor labels overlap
            axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("size of X (MiB, float32)")
        ax.set_ylabel("GB/s of X per step")
        ax.set_title(f"n = {n} features")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    where = f"{info['cpu']}, {info['cores']} cores"
    if info.get("backend", "cpu") != "cpu":
        where = f"{info['device_kind']} ({info['backend']}); host {where}"
    fig.suptitle(f"Full-batch gradient-descent step: {where}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
