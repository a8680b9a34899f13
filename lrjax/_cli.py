"""``lrjax train``: argument parsing and printing only; the work is in lrjax."""

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

from lrjax._backward import check_gradients
from lrjax._data import load, load_breast_cancer, standardize, train_test_split
from lrjax._train import accuracy, auto_learning_rate, fit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrjax", description="Logistic regression by gradient descent, in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train on the embedded breast-cancer data or your own CSV/NPZ",
        description="Standardise the features, hold out a seeded test split, run full-batch "
        "gradient descent, and report cost, accuracy and the gradient check. The label column "
        "may hold any two labels (0/1, M/B, yes/no, 2/4): --positive says which one is 1.",
    )
    train.add_argument("--data", help="a .csv (with --target) or .npz file; default: embedded")
    train.add_argument("--target", help="label column of the CSV / label array of the NPZ")
    train.add_argument(
        "--positive",
        metavar="LABEL",
        help="the label that becomes 1, the other becomes 0 (default: a 0/1 column as it is; "
        "two other labels in sorted order, the later one is 1)",
    )
    train.add_argument(
        "--drop",
        metavar="COLUMN",
        action="append",
        default=[],
        help="leave out this CSV column, e.g. an id; repeat it or separate names with commas",
    )
    train.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=0.5,
        help="α > 0, or 'auto' to let fit choose it (default 0.5)",
    )
    train.add_argument("--steps", type=int, default=2000, help="updates (default 2000)")
    train.add_argument(
        "--momentum",
        choices=("none", "nesterov"),
        default="none",
        help="plain gradient descent or Nesterov momentum (default none)",
    )
    train.add_argument(
        "--tol",
        type=float,
        metavar="FLOAT",
        help="stop once every gradient component is at most this; --steps is then a limit "
        "(default: run every step)",
    )
    train.add_argument("--test-fraction", type=float, default=0.2, help="held out (default 0.2)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    train.add_argument("--plot", metavar="FILE.png", help="write the loss curve to this file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _learning_rate(text: str) -> float | str:
    """``--learning-rate``: a positive float, or the word ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'auto', got {text!r}: pass e.g. 0.5 or auto"
        )
    return value


def _fit_options(args: argparse.Namespace) -> dict:
    """fit's solver keywords; empty for the lecture's plain update (then trained in chunks)."""
    options = {}
    if args.momentum != "none":
        options["momentum"] = args.momentum
    if args.tol is not None:
        options["tol"] = args.tol
    return options


def _drop(values: list[str]) -> tuple[str, ...]:
    """The ``--drop`` names: every occurrence, each split at commas."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _describe_labels(classes, positive) -> str | None:
    """The line saying which label became 1, or None for a 0/1 column kept as it is."""
    zero, one = classes
    mapping = f"labels: {one!r} -> 1, {zero!r} -> 0"
    if positive is not None:
        return f"{mapping} (--positive {positive})"
    if (zero, one) == (0, 1):
        return None
    return f"{mapping} (the later in sorted order; pass --positive {zero} for the other way)"


def _train_with_progress(X, y, *, learning_rate, steps, show, options):
    """Run fit in up to 50 equal jit-compiled chunks, so a bar can move between them.

    With ``options`` (momentum, tol) fit runs as one call: a chunk would restart
    the momentum and the stopping test.
    """
    from tqdm import tqdm

    chunks = 1 if options else min(steps, 50)
    sizes = [steps // chunks + (i < steps % chunks) for i in range(chunks)]
    params, parts = None, []
    with tqdm(total=steps, desc="training", unit="step", disable=not show, file=sys.stderr) as bar:
        for size in sizes:
            params, history = fit(
                X, y, learning_rate=learning_rate, steps=size, init=params, **options
            )
            parts.append(np.asarray(history))
            bar.update(len(parts[-1]))  # fewer than size when tol stops early
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


def _load(args: argparse.Namespace):
    """The --data file with its --target, --positive and --drop, or the embedded data."""
    drop = _drop(args.drop)
    if args.data:
        return load(args.data, target=args.target, positive=args.positive, drop=drop)
    if args.target or args.positive is not None or drop:
        raise ValueError("--target, --positive and --drop apply to --data FILE: pass --data too")
    return load_breast_cancer()


def train(args: argparse.Namespace) -> int:
    data = _load(args)
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
    labels = _describe_labels(data.classes, args.positive)
    if labels:
        print(labels)
    print(f"device: {jax.devices()[0].platform}, dtype float32")
    learning_rate = args.learning_rate
    if learning_rate == "auto":
        learning_rate = float(auto_learning_rate(X_train))
        print(f"learning rate: auto, α = 1/L = {learning_rate:.6g}")
    params, history = _train_with_progress(
        X_train,
        y_train,
        learning_rate=learning_rate,
        steps=args.steps,
        show=not args.no_progress,
        options=_fit_options(args),
    )
    final_cost = float(history[-1]) if len(history) else float("nan")
    print(f"cost: {history[0]:.6f} -> {final_cost:.6f} after {len(history)} steps")
    print(f"train accuracy: {float(accuracy(params, X_train, y_train)):.4f}")
    print(f"test accuracy:  {float(accuracy(params, X_test, y_test)):.4f}")
    print(check_gradients(params, X_train, y_train))
    if args.plot:
        _plot(history, args.plot, f"lrjax: {name}, α = {learning_rate:.4g}")
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
