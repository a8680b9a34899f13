"""Full-batch training speed: lrjax against NumPy, jax.grad, PyTorch, scikit-learn and the roofline.

One step of full-batch gradient descent must read X at least once, so the
reference ("roofline") is the time of one NumPy ``X @ v``, measured in the same
run. On an accelerator (``--roofline device``, the default there) it is one
jitted ``X @ v`` on the device instead: the fraction is then of the measured
memory bandwidth of, e.g., the GPU, while NumPy, PyTorch and scikit-learn still
run on the host CPU. Every method runs the same formulas from zeros with the same learning
rate; the table gives ms per step, the fraction of the roofline (roofline time
/ step time) and the effective bandwidth (bytes of X / step time).

    .venv/bin/python benchmarks/bench_fit.py            # the full sweep (a few minutes)
    .venv/bin/python benchmarks/bench_fit.py --quick    # two sizes, about a minute

Writes a JSON file with every number, a Markdown table and a PNG plot. It also
times ``lrjax.fit_many`` at K = 1, 8, 16 and 64 models, with XLA's products and
with the native kernel, next to one ``lrjax.fit`` step (``--many-size``,
``--no-many``).
`--rounds R` measures every size R times and reports the median of each time
(the roofline too) with the spread; `--methods` times only the named methods.
Each time is the fastest of several calls; close other work first, they are noisy.
"""

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # run from a checkout without installing

FULL_SIZES = [
    (1_000, 10), (100_000, 10), (1_000_000, 10),
    (1_000, 100), (10_000, 100), (100_000, 100), (200_000, 100), (1_000_000, 100),
    (1_000, 1000), (10_000, 1000), (100_000, 1000),
]  # fmt: skip
QUICK_SIZES = [(10_000, 100), (200_000, 100)]
ROOFLINES = ("auto", "numpy", "device")  # bench_methods.roofline_kind


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="two sizes, fewer repetitions")
    p.add_argument("--sizes", help="m x n list, e.g. 200000x100,10000x1000 (overrides the sweep)")
    p.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                   help="CPU devices for fit_sharded (default: one per core)")  # fmt: skip
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per method")
    p.add_argument("--methods", help="comma list of methods to time, e.g. numpy,lrjax native")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every size this many times: each time in the table is then\n"
                        "the median over the rounds (the roofline too), and the table gives\n"
                        "the spread of the fraction (the machine's noise)")  # fmt: skip
    p.add_argument("--no-many", action="store_true", help="skip the fit_many measurement")
    p.add_argument("--many-size", default=None,
                   help="m x n for fit_many (default 200000x100, --quick 10000x100)")  # fmt: skip
    p.add_argument("--roofline", choices=ROOFLINES, default="auto",
                   help="numpy: one NumPy X @ v on the host (the CPU reference); device: one\n"
                        "jitted X @ v on JAX's default device, e.g. a GPU's memory bandwidth;\n"
                        "auto: numpy on CPU, device elsewhere")  # fmt: skip
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn (slow at large m)")
    p.add_argument("--plot", default=str(HERE / "fit.png"), help="PNG path ('' to skip)")
    p.add_argument("--json", default=str(HERE / "fit.json"), help="JSON path ('' to skip)")
    p.add_argument("--markdown", default=str(HERE / "fit.md"), help="Markdown path ('' to skip)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import jax  # after parsing: the device count must be set before JAX starts

    jax.config.update("jax_num_cpu_devices", max(1, args.devices))
    import bench_methods as M

    if args.sizes:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    reps = args.reps or (3 if args.quick else 5)
    methods = None
    if args.methods:
        methods = [name.strip() for name in args.methods.split(",")]
        unknown = sorted(set(methods) - set(M.METHODS))
        if unknown:
            sys.exit(f"unknown method(s) {unknown}: choose from {', '.join(M.METHODS)}")
    info = M.machine_info()
    print(json.dumps(info), flush=True)
    rows = []
    for m, n in sizes:
        rounds = []
        for r in range(max(1, args.rounds)):
            sklearn = not args.no_sklearn and r == 0  # its time to target is not noisy
            rounds.append(
                M.measure_size(
                    m, n, reps=reps, sklearn=sklearn, methods=methods, roofline=args.roofline
                )
            )
            print(M.format_row(rounds[-1]), flush=True)
        rows.append(M.combine_rounds(rounds))
    many = None
    if not args.no_many:
        size = QUICK_SIZES[0] if args.quick else (200_000, 100)
        if args.many_size:
            size = tuple(int(v) for v in args.many_size.split("x"))
        many = M.measure_many(*size, reps=reps)
        print(M.format_many(many), flush=True)
    report = {"machine": info, "sizes": rows, "many": many, "command": " ".join(sys.argv)}
    table = M.markdown(report)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.plot:
        M.plot(rows, args.plot, info)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
