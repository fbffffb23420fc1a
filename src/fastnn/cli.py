"""The ``fastnn`` command: ``train``, ``predict``, ``bench`` and ``info``.

Design
------
Each sub-command is one function taking the parsed arguments. Errors a user can cause (a wrong
argument, a missing or malformed file, a model that diverges) end in one line
``fastnn: error: ...`` on stderr and a non-zero exit status, never in a traceback.

A trained model is saved as a ``fastnn.Network`` file whose metadata holds what prediction
needs: the feature names, the standardisation of the inputs (and of a regression target) and
the class labels.
"""

import argparse
import csv
import sys
import time

import numpy as np

from .activations import TRAINABLE_ACTIVATIONS
from .bench import GROUPS
from .optim import OPTIMIZERS

BUNDLED = ("digits", "iris", "breast_cancer", "wine")


class CommandError(Exception):
    """A problem with what the user asked for: reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CommandError(message)


def _ints(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def build_parser():
    parser = _Parser(prog="fastnn", description="Dense neural networks on the CPU.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a network on a bundled dataset or a CSV file")
    train.add_argument("--data", default="digits",
                       help=f"one of {', '.join(BUNDLED)}, or a CSV file with a header row")
    train.add_argument("--target", help="the CSV column to predict (default: the last one)")
    train.add_argument("--task", choices=("auto", "classification", "regression"),
                       default="auto")
    train.add_argument("--hidden", type=_ints, default=[128], help="hidden sizes, e.g. 128,64")
    train.add_argument("--activation", default="relu", choices=TRAINABLE_ACTIVATIONS)
    train.add_argument("--epochs", type=_positive(int), default=30)
    train.add_argument("--batch-size", type=_positive(int), default=32)
    train.add_argument("--lr", type=_positive(float), default=None,
                       help="learning rate (default 0.05 for sgd, the optimizer's own otherwise)")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="sgd")
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument("--backend", default="auto")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--test-size", type=float, default=0.25)
    train.add_argument("--save", metavar="MODEL.npz", help="save the trained model")
    train.add_argument("--plot", metavar="FILE.png", help="plot the loss curves")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    predict = sub.add_parser("predict", help="predict the rows of a CSV file with a saved model")
    predict.add_argument("model", help="a model saved by fastnn train --save")
    predict.add_argument("data", help="a CSV file with a header row holding the model's features")
    predict.add_argument("--out", metavar="FILE.csv", help="write here instead of stdout")

    sub.add_parser("info", help="backends, OpenMP, SIMD level and threads (show_config)")

    bench = sub.add_parser("bench", help="benchmark fastnn against NumPy and its peers")
    bench.add_argument("--quick", action="store_true", help="fewer, smaller cases (~1 min)")
    bench.add_argument("--json", metavar="FILE", help="save the results as JSON")
    bench.add_argument("--plot", metavar="FILE", help="plot the speedups (needs matplotlib)")
    bench.add_argument("--group", action="append",
                       choices=GROUPS,
                       help="only this group (repeatable)")
    bench.add_argument("--threads", type=_positive(int), help="threads for every library")
    return parser


# -- data ----------------------------------------------------------------------------------------

def read_csv(path, target=None, features=None):
    """(features, feature names, target column or None, target name) from a CSV with a header.

    The features are ``features`` (names) when given, else every column but the target; they
    must be numeric. The target may hold any labels.
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"{path} is not a CSV text file ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise CommandError(f"{path} needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CommandError(f"{path}, line {i}: {len(row)} fields, the header has "
                               f"{len(header)}")
    columns = {name: [row[j].strip() for row in body] for j, name in enumerate(header)}
    y = None
    if target is not None:
        if target not in columns:
            raise CommandError(f"no column {target!r} in {path}; columns: {', '.join(header)}")
        y = np.array(columns.pop(target))
    names = list(columns) if features is None else list(features)
    missing = [n for n in names if n not in columns]
    if missing:
        raise CommandError(f"{path} lacks the feature columns: {', '.join(missing)}")
    if not names:
        raise CommandError(f"{path} has no feature columns")
    try:
        X = np.array([[float(v) for v in columns[n]] for n in names]).T
    except ValueError as exc:
        raise CommandError(f"{path}: feature columns must be numeric ({exc})") from None
    return X, names, y, target


def _header(path):
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if not header:
        raise CommandError(f"{path} is empty")
    return [h.strip() for h in header]


def load_data(args):
    """(X, y, feature names, task) for ``--data``."""
    if args.data in BUNDLED:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{args.data}")()
        names = [str(n) for n in getattr(bunch, "feature_names", range(bunch.data.shape[1]))]
        return bunch.data.astype(np.float64), bunch.target, names, "classification"
    if not args.data.lower().endswith(".csv"):
        raise CommandError(f"--data must be one of {', '.join(BUNDLED)} or a .csv file, "
                           f"got {args.data!r}")
    target = args.target or _header(args.data)[-1]
    X, names, y, _ = read_csv(args.data, target)
    task = args.task
    if task == "auto":
        try:
            values = y.astype(float)
            integral = np.all(values == np.round(values))
            task = "classification" if integral and len(np.unique(values)) <= 20 else (
                "regression")
        except ValueError:
            task = "classification"
    if task == "regression":
        try:
            y = y.astype(float)
        except ValueError:
            raise CommandError(f"column {target!r} is not numeric: it cannot be a regression "
                               "target") from None
    return X, y, names, task


# -- commands ------------------------------------------------------------------------------------

def cmd_train(args):
    import fastnn
    from sklearn.model_selection import train_test_split

    X, y, names, task = load_data(args)
    if not 0 < args.test_size < 1:
        raise CommandError(f"--test-size must lie in (0, 1), got {args.test_size}")
    classification = task == "classification"
    meta = {"features": np.array(names), "task": np.array(task)}
    if classification:
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise CommandError("the target holds a single class: nothing to learn")
        meta["classes"] = classes.astype(str)
        stratify = y_enc if np.min(np.bincount(y_enc)) >= 2 else None
    else:
        y_enc, stratify = y.astype(np.float64), None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y_enc, test_size=args.test_size, random_state=args.seed, stratify=stratify)
    mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
    scale[scale == 0] = 1
    meta["x_mean"], meta["x_scale"] = mean, scale
    X_train, X_test = (X_train - mean) / scale, (X_test - mean) / scale
    if classification:
        sizes = [X.shape[1], *args.hidden, len(meta["classes"])]
        out, loss = "softmax", "cross_entropy"
        Y_train, Y_test = y_train, y_test
    else:
        meta["y_mean"], meta["y_scale"] = np.array(y_train.mean()), np.array(
            y_train.std() or 1.0)
        sizes = [X.shape[1], *args.hidden, 1]
        out, loss = "identity", "mse"
        Y_train = (y_train - meta["y_mean"]) / meta["y_scale"]
        Y_test = (y_test - meta["y_mean"]) / meta["y_scale"]
    cls = OPTIMIZERS[args.optimizer]
    lr = args.lr if args.lr is not None else (0.05 if cls is fastnn.SGD else cls().lr)
    optimizer = cls(lr=lr, momentum=args.momentum) if cls is fastnn.SGD else cls(lr=lr)
    net = fastnn.Network(sizes, activation=args.activation, output_activation=out, loss=loss,
                         dtype=args.dtype, backend=args.backend, seed=args.seed)
    start = time.perf_counter()
    history = net.fit(X_train, Y_train, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=optimizer, validation_data=(X_test, Y_test),
                      verbose=0 if args.quiet else 1)
    elapsed = time.perf_counter() - start
    net.metadata = meta
    print(f"{args.data}: {len(X_train)} train / {len(X_test)} test samples, "
          f"network {'-'.join(map(str, sizes))} ({args.activation}), backend {net.backend.name}, "
          f"{args.optimizer} lr {lr:g}")
    if classification:
        train_acc = np.mean(net.forward(X_train).argmax(axis=1) == y_train)
        test_acc = np.mean(net.forward(X_test).argmax(axis=1) == y_test)
        print(f"train accuracy {train_acc:.4f}   test accuracy {test_acc:.4f}")
    else:
        from sklearn.metrics import r2_score

        print(f"train R2 {r2_score(Y_train, net.forward(X_train)[:, 0]):.4f}   "
              f"test R2 {r2_score(Y_test, net.forward(X_test)[:, 0]):.4f}")
    print(f"final loss {history.loss[-1]:.4f} (validation {history.val_loss[-1]:.4f}); "
          f"{elapsed:.2f} s for {args.epochs} epochs")
    if args.save:
        net.save(args.save)
        print(f"saved to {args.save}")
    if args.plot:
        from .plotting import plot_history

        plot_history(history, args.plot, title=f"{args.data}: {'-'.join(map(str, sizes))}")
        print(f"loss curves in {args.plot}")
    return 0


def cmd_predict(args):
    import fastnn

    net = fastnn.load(args.model)
    meta = getattr(net, "metadata", {})
    if "features" not in meta:
        raise CommandError(f"{args.model} was not saved by 'fastnn train' (no feature names)")
    features = [str(f) for f in meta["features"]]
    X, _, _, _ = read_csv(args.data, features=features)
    X = (X - meta["x_mean"]) / meta["x_scale"]
    P = net.forward(X)
    if str(meta["task"]) == "classification":
        predictions = meta["classes"][P.argmax(axis=1)]
    else:
        predictions = P[:, 0] * meta["y_scale"] + meta["y_mean"]
    lines = ["prediction"] + [str(p) for p in predictions]
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))
    return 0


def cmd_info(args):
    import fastnn

    fastnn.show_config()
    return 0


def cmd_bench(args):
    from . import bench

    bench.main(args.quick, args.json, args.plot, args.group, args.threads)
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "info": cmd_info, "bench": cmd_bench}


def main(argv=None):
    """Entry point of the ``fastnn`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `fastnn predict ... | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ImportError as exc:
        print(f"fastnn: error: {exc} (for plots: pip install 'fastnn[plot]')", file=sys.stderr)
        return 1
    except (CommandError, ValueError, TypeError, OSError, FloatingPointError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"fastnn: error: {message}", file=sys.stderr)
        return 2
