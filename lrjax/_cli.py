"""``lrjax train``: argument parsing and printing only; the work is in lrjax."""

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._backward import check_gradients
from lrjax._data import load, load_breast_cancer, standardize, train_test_split
from lrjax._train import accuracy, fit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrjax", description="Logistic regression by gradient descent, in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train on the embedded breast-cancer data or your own CSV/NPZ",
        description="Standardise the features, hold out a seeded test split, run full-batch "
        "gradient descent, and report cost, accuracy and the gradient check.",
    )
    train.add_argument("--data", help="a .csv (with --target) or .npz file; default: embedded")
    train.add_argument("--target", help="label column of the CSV / label array of the NPZ")
    train.add_argument("--learning-rate", type=float, default=0.5, help="α (default 0.5)")
    train.add_argument("--steps", type=int, default=2000, help="updates (default 2000)")
    train.add_argument("--test-fraction", type=float, default=0.2, help="held out (default 0.2)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    train.add_argument("--plot", metavar="FILE.png", help="write the loss curve to this file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _train_with_progress(X, y, *, learning_rate, steps, show):
    """Run fit in up to 50 equal jit-compiled chunks, so a bar can move between them."""
    from tqdm import tqdm

    chunks = min(steps, 50)
    sizes = [steps // chunks + (i < steps % chunks) for i in range(chunks)]
    params, parts = None, []
    with tqdm(total=steps, desc="training", unit="step", disable=not show, file=sys.stderr) as bar:
        for size in sizes:
            params, history = fit(X, y, learning_rate=learning_rate, steps=size, init=params)
            parts.append(np.asarray(history))
            bar.update(size)
    return params, np.concatenate(parts)


def _plot(history: np.ndarray, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(history) + 1), history)
    ax.set_xlabel("step")
    ax.set_ylabel("cost J(w, b) (mean loss)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train(args: argparse.Namespace) -> int:
    data = load(args.data, target=args.target) if args.data else load_breast_cancer()
    name = args.data or "embedded breast-cancer data"
    X, y = jnp.asarray(data.X, jnp.float32), jnp.asarray(data.y)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, key=jax.random.key(args.seed), test_fraction=args.test_fraction
    )
    X_train, X_test = standardize(X_train, X_test)
    print(
        f"data: {name}: {X.shape[0]} examples, {X.shape[1]} features "
        f"({len(y_train)} train / {len(y_test)} test), target {data.target!r}"
    )
    print(f"device: {jax.devices()[0].platform}, dtype float32")
    params, history = _train_with_progress(
        X_train,
        y_train,
        learning_rate=args.learning_rate,
        steps=args.steps,
        show=not args.no_progress,
    )
    final_cost = float(history[-1]) if len(history) else float("nan")
    print(f"cost: {history[0]:.6f} -> {final_cost:.6f} after {args.steps} steps")
    print(f"train accuracy: {float(accuracy(params, X_train, y_train)):.4f}")
    print(f"test accuracy:  {float(accuracy(params, X_test, y_test)):.4f}")
    print(check_gradients(params, X_train, y_train))
    if args.plot:
        _plot(history, args.plot, f"lrjax: {name}, α = {args.learning_rate}")
        print(f"loss curve: {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lrjax`` console script and ``python -m lrjax``."""
    args = _parser().parse_args(argv)
    try:
        return train(args)
    except (ValueError, OSError) as err:
        print(f"lrjax: error: {err}", file=sys.stderr)
        return 2
