"""The native kernel alone: one jitted call of its sums, against the roofline, per thread count.

The full benchmark (bench_fit.py) times whole training loops, which on a shared
machine vary more from run to run than the single NumPy ``X @ v`` that defines
the roofline. This times one call of ``lrjax._native.fused_sums`` (one pass
over X: z, dz, the loss and Xᵀ·dz), best of many, next to that roofline.

    .venv/bin/python benchmarks/bench_kernel.py                  # 200000x100, 20000x1000
    .venv/bin/python benchmarks/bench_kernel.py --sizes 100000x100
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # run from a checkout without installing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="200000x100,20000x1000", help="m x n list")
    p.add_argument("--reps", type=int, default=30, help="timed calls per measurement")
    args = p.parse_args(argv)

    from lrjax import _native

    _native.require()
    threads = sorted({1, _native.threads()})
    head = " | ".join(f"{t} thread(s) ms (frac)" for t in threads)
    print(f"| m | n | roofline ms | {head} |")
    print("|---|---|---|" + "---|" * len(threads))
    for size in args.sizes.split(","):
        m, n = (int(v) for v in size.split("x"))
        print(f"| {m:,} | {n} | " + " | ".join(measure(m, n, threads, args.reps)) + " |")


def measure(m: int, n: int, threads, reps: int) -> list[str]:
    """Roofline ms, then 'ms (fraction)' of one kernel call per thread count."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from bench_methods import best_time, data

    import lrjax
    from lrjax import _native

    X, y = data(m, n)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    params = lrjax.Params(jnp.zeros(n, jnp.float32), jnp.zeros((), jnp.float32))
    v = np.ones(n, np.float32)
    roof = best_time(lambda: X @ v, reps)
    cells = []
    for t in threads:
        call = jax.jit(lambda X, y, p, t=t: _native.fused_sums(X, y, p, n_threads=t))
        kernel = best_time(lambda call=call: jax.block_until_ready(call(Xj, yj, params)), reps)
        roof = min(roof, best_time(lambda: X @ v, reps))
        cells.append(f"{kernel * 1e3:.3f} ({roof / kernel:.2f})")
    return [f"{roof * 1e3:.3f}", *cells]


if __name__ == "__main__":
    main()
