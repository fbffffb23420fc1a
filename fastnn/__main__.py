"""``python -m fastnn`` / ``fastnn``: train a network on a bundled dataset.

Until the full command line lands this trains one network on scikit-learn's digits and reports
its accuracy: ``python -m fastnn train [--epochs N] [--backend NAME] [--seed S]``.
"""

import argparse
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on scikit-learn's digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=0.05)
    train.add_argument("--backend", default="auto")
    train.add_argument("--seed", type=int, default=0)
    sub.add_parser("info", help="print fastnn.show_config()")
    bench = sub.add_parser("bench", help="benchmark fastnn against NumPy and its peers")
    bench.add_argument("--quick", action="store_true", help="fewer, smaller cases (about 1 min)")
    bench.add_argument("--json", metavar="FILE", help="save the results as JSON")
    bench.add_argument("--plot", metavar="FILE", help="plot the speedups (needs matplotlib)")
    bench.add_argument("--group", action="append", help="only this group (repeatable): gemm, "
                       "dense_forward, dense_backward, sgd_update, train_epoch, predict")
    bench.add_argument("--threads", type=int, help="threads for every library (default: all)")
    args = parser.parse_args(argv)

    import numpy as np

    import fastnn

    if args.command == "info":
        fastnn.show_config()
        return 0
    if args.command == "bench":
        from fastnn import bench as _bench

        _bench.main(args.quick, args.json, args.plot, args.group, args.threads)
        return 0

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=args.seed, stratify=y)
    try:
        net = fastnn.Network([X.shape[1], 128, 10], activation="relu",
                             output_activation="softmax", loss="cross_entropy",
                             backend=args.backend, seed=args.seed)
        start = time.perf_counter()
        history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                          optimizer=fastnn.SGD(lr=args.lr, momentum=0.9))
    except (ValueError, TypeError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    train_acc = np.mean(net.forward(X_train).argmax(axis=1) == y_train)
    test_acc = np.mean(net.forward(X_test).argmax(axis=1) == y_test)
    print(f"digits: {net}")
    print(f"final loss {history.loss[-1]:.4f}; train accuracy {train_acc:.4f}; "
          f"test accuracy {test_acc:.4f}; {elapsed:.2f} s for {args.epochs} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
