"""Time to the optimum: lrjax (plain, auto, auto + Nesterov) against scikit-learn's solvers.

Problems: the embedded breast-cancer data (its ten "mean_" features, standardised: all
thirty separate the classes, and then the unpenalised cost has no minimum), 200 000 x 100
and 1 000 000 x 10 synthetic, and 100 000 x 20 with features scaled over four orders of
magnitude (ill-conditioned). Every solver fits the same unpenalised logistic regression
(scikit-learn with ``C=np.inf``) in float64. The optimum's cost J* is where scikit-learn's
Newton method stops with tol 1e-14; a solver has arrived when (J − J*) / J* ≤ 1e-6. For
each solver the table gives the seconds to arrive and the iterations it took, and the
ratio to scikit-learn's lbfgs measured in the same run.

How each is timed: scikit-learn's solvers are refitted with ``max_iter = k`` for growing k
(tol 0, so k is what stops them) and timed at the smallest k that arrives. lrjax is timed
as ``lrjax.fit`` with ``steps = k`` (a second call, so compiling is not counted; choosing
α = 1/L is), at the smallest k whose returned parameters arrive: k doubles until they do,
then the first step whose cost arrived is timed and checked. A solver that does not arrive
within its limit of iterations, or of seconds spent trying, is reported as such.

    .venv/bin/python benchmarks/bench_solvers.py            # four problems, a few minutes
    .venv/bin/python benchmarks/bench_solvers.py --quick    # small sizes, under a minute
    .venv/bin/python benchmarks/bench_solvers.py --lanczos  # how "auto" finds L, no timing

Writes a Markdown table and a PNG of the cost gap against seconds
(docs/solvers-time.png).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # run from a checkout without installing

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import lrjax  # noqa: E402

GAP = 1e-6  # relative gap to the optimum's cost that counts as arrived
LRJAX = {  # name: fit's options
    "lrjax plain (α = 0.5)": {"learning_rate": 0.5},
    "lrjax auto": {"learning_rate": "auto"},
    "lrjax auto + Nesterov": {"learning_rate": "auto", "momentum": "nesterov"},
}
SKLEARN = ("lbfgs", "newton-cholesky")


def problems(quick: bool):
    """``{name: (X, y)}``: the embedded data (standardised), two large synthetic problems
    and an ill-conditioned one (features scaled over four orders of magnitude)."""
    rng = np.random.default_rng(0)

    def synthetic(m, n, scale=None):
        X = rng.normal(size=(m, n))
        w = rng.normal(size=n) / np.sqrt(n)
        if scale is not None:
            X, w = X * scale, w / scale
        z = X @ w + 0.2
        return X, (rng.random(m) < 1 / (1 + np.exp(-z))).astype(np.float64)

    # All 30 features of the embedded data separate the classes: the unpenalised cost has
    # no minimum (it falls towards 0 as the weights grow), so there is no optimum to reach.
    # Its ten "mean_" features do not: that problem has one.
    data = lrjax.load_breast_cancer()
    X = data.X[:, :10]
    X = (X - X.mean(0)) / X.std(0)
    out = {"embedded, 10 mean_ features (569 x 10)": (X, data.y.astype(np.float64))}
    big, wide = ((20_000, 100), (100_000, 10)) if quick else ((200_000, 100), (1_000_000, 10))
    out[f"synthetic {big[0]:,} x {big[1]}"] = synthetic(*big)
    out[f"synthetic {wide[0]:,} x {wide[1]}"] = synthetic(*wide)
    scale = 10 ** np.linspace(-2, 2, 20)
    m = 20_000 if quick else 100_000
    out[f"ill-conditioned {m:,} x 20 (scales 1e-2..1e2)"] = synthetic(m, 20, scale)
    return out


def cost(X, y, w, b) -> float:
    """The mean loss, from the logits (softplus form), in float64 NumPy."""
    z = X @ w + b
    return float(np.mean(np.logaddexp(0, z) - y * z))


def _sklearn(solver, X, y, k):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf, solver=solver, tol=0.0, max_iter=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, by design
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, cost(X, y, model.coef_[0], model.intercept_[0])


def run_sklearn(solver, X, y, optimum, limit, budget):
    """``(seconds, iterations, curve)``; seconds None when ``limit`` iterations or ``budget``
    seconds of fits do not arrive."""
    curve, k, spent = [], 1, 0.0
    while k <= limit and spent <= budget:
        seconds, c = min(_sklearn(solver, X, y, k) for _ in range(2))
        spent += 2 * seconds
        curve.append((seconds, (c - optimum) / optimum))
        if (c - optimum) / optimum <= GAP:
            return seconds, k, curve
        k = k + 1 if k < 10 else int(k * 1.3)
    return None, min(k, limit), curve


def _fit(X, y, k, options):
    params, history = lrjax.fit(X, y, steps=k, **options)
    return jax.block_until_ready((params, history))


def _timed_fit(X, y, k, options):
    """``(seconds, params, history)`` of fit with ``steps=k``, compiling not counted: the
    faster of two calls after the first (one, when a call takes more than 2 s)."""
    start = time.perf_counter()
    _fit(X, y, k, options)  # compiles for this k
    reps = 1 if time.perf_counter() - start > 2 else 2
    best = np.inf
    for _ in range(reps):
        start = time.perf_counter()
        params, history = _fit(X, y, k, options)
        best = min(best, time.perf_counter() - start)
    return best, params, np.asarray(history)


def run_lrjax(options, X, y, optimum, limit, budget):
    """``(seconds, steps, curve)`` for fit with ``options``; seconds None when ``limit``
    steps or ``budget`` seconds of runs do not arrive. Steps double until the returned
    parameters arrive; then the first step whose cost (the cost before it) arrived is
    timed on its own, checked, and raised by a tenth until its parameters arrive."""

    def gap_of(params):
        return (cost(X, y, np.asarray(params.w), float(params.b)) - optimum) / optimum

    k, spent = 8, 0.0
    while True:
        seconds, params, history = _timed_fit(X, y, k, options)
        spent += seconds
        gaps = (history - optimum) / optimum
        curve = [(seconds / k * (i + 1), g) for i, g in enumerate(gaps)]
        if gap_of(params) <= GAP:
            break
        if k >= limit or spent > budget:
            return None, k, curve
        k = min(limit, 2 * k)
    arrived = np.nonzero(gaps <= GAP)[0]
    first = int(arrived[0]) + 1 if len(arrived) else k
    while first < k:
        seconds_first, params, _ = _timed_fit(X, y, first, options)
        if gap_of(params) <= GAP:
            return seconds_first, first, curve
        first = int(first * 1.1) + 1
    return seconds, k, curve


def optimum_of(X, y) -> float:
    """J*: Newton's method run to its own tolerance, a very tight one."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-14, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return cost(X, y, model.coef_[0], model.intercept_[0])


def lanczos_rows(chosen: dict) -> str:
    """How ``learning_rate="auto"`` finds λ_max on each problem (and a wide isotropic one):
    Lanczos's products and θ + r over NumPy's λ_max, beside plain power iteration stopped
    at a 1 % rise of its estimate."""
    import jax.numpy as jnp

    from lrjax import _solver, _sums, _train

    chosen = dict(chosen)
    chosen["isotropic 5,000 x 1,000 (wide)"] = (np.random.default_rng(1).normal(size=(5000, 1000)),
                                                None)  # fmt: skip
    lines = [
        "| problem | Lanczos products | θ + r over λ_max | power iteration products "
        "| its estimate over λ_max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (X, _) in chosen.items():
        Xj = jnp.asarray(X)
        count = []
        threads = _train._threads(Xj, "auto")
        product = _sums.product(Xj, None, threads)

        def counted(v, product=product, count=count):
            jax.debug.callback(lambda: count.append(1))
            return product(v)

        top = float(_solver.top_eigenvalue(counted, X.shape[1] + 1, Xj.dtype))
        Xt = np.hstack([X, np.ones((len(X), 1))])
        gram = Xt.T @ Xt
        exact = np.linalg.eigvalsh(gram)[-1]
        v, before = np.asarray(_solver._start(X.shape[1] + 1, jnp.float64)), 0.0
        for k in range(1, _solver.LANCZOS_STEPS + 1):
            u = gram @ v
            estimate, v = v @ u, u / np.linalg.norm(u)
            if k >= 2 and estimate - before <= _solver.LANCZOS_RTOL * estimate:
                break
            before = estimate
        cells = (name, len(count), f"{top / exact:.4f}", k, f"{estimate / exact:.4f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def markdown(rows) -> str:
    lines = [
        "| problem | solver | seconds to 1e-6 | iterations | vs lbfgs |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for problem, results in rows.items():
        lbfgs = results["scikit-learn lbfgs"][0]
        for name, (seconds, k, _) in results.items():
            if seconds is None:
                lines.append(f"| {problem} | {name} | not within {k:,} | - | - |")
                continue
            ratio = f"{lbfgs / seconds:.2f}x" if lbfgs else "-"
            lines.append(f"| {problem} | {name} | {seconds:.3f} | {k:,} | {ratio} |")
    return "\n".join(lines)


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.8), squeeze=False)
    for ax, (problem, results) in zip(axes[0], rows.items(), strict=True):
        for name, (_, _, curve) in results.items():
            t, g = zip(*[(s, max(gap, 1e-16)) for s, gap in curve], strict=True)
            ax.plot(t, g, marker="." if len(t) < 60 else None, label=name)
        ax.axhline(GAP, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", xlabel="seconds", title=problem)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("(J − J*) / J*")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    p.add_argument("--steps", type=int, default=20_000, help="lrjax's step limit (default 20000)")
    p.add_argument("--iterations", type=int, default=500, help="scikit-learn's limit (default 500)")
    p.add_argument("--budget", type=float, default=120.0,
                   help="seconds of runs per solver and problem (default 120)")  # fmt: skip
    p.add_argument("--problems", help="only the problems whose name contains this, e.g. embedded")
    p.add_argument("--plot", default=str(HERE.parent / "docs" / "solvers-time.png"))
    p.add_argument("--lanczos", action="store_true",
                   help='how learning_rate="auto" finds L on each problem; no timing')  # fmt: skip
    args = p.parse_args(argv)
    rows = {}
    chosen = {k: v for k, v in problems(args.quick).items() if (args.problems or "") in k}
    if not chosen:
        p.error(f"no problem's name contains {args.problems!r}: see the table's first column")
    if args.lanczos:
        print(lanczos_rows(chosen))
        return 0
    for problem, (X, y) in chosen.items():
        optimum = optimum_of(X, y)
        results = {}
        for solver in SKLEARN:
            results[f"scikit-learn {solver}"] = run_sklearn(
                solver, X, y, optimum, args.iterations, args.budget
            )
        for name, options in LRJAX.items():
            results[name] = run_lrjax(options, X, y, optimum, args.steps, args.budget)
        rows[problem] = results
        print(f"{problem}: J* = {optimum:.10f}", file=sys.stderr, flush=True)
    print(f"time to within {GAP:g} of the optimum's cost, float64, {jax.devices()[0].platform}")
    print(markdown(rows))
    if args.plot:
        plot(rows, Path(args.plot))
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
