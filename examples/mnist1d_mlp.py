"""MNIST-1D, generated locally by the mnist1d package (pip install mnist1d).

    python examples/mnist1d_mlp.py [--plot curves.png]

The data set's authors report about 68% test accuracy for an MLP (two hidden layers of 100
ReLU units, Adam at 0.01, 6000 steps of 100); this trains the same with fastnn.
"""

import argparse
import time

import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

import fastnn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=150)  # 6000 steps of 100, as published
    parser.add_argument("--plot", help="save the loss curves to this PNG file")
    args = parser.parse_args()

    data = make_dataset(get_dataset_args())  # 4000 train / 1000 test sequences of length 40
    X, y, X_test, y_test = data["x"], data["y"], data["x_test"], data["y_test"]
    mean, std = X.mean(), X.std()
    X, X_test = (X - mean) / std, (X_test - mean) / std
    net = fastnn.Network([40, 100, 100, 10], activation="relu", seed=0)
    start = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=100,
                      optimizer=fastnn.Adam(lr=1e-2),
                      validation_data=(X_test, y_test))
    elapsed = time.perf_counter() - start
    accuracy = np.mean(net.forward(X_test).argmax(axis=1) == y_test)
    print(f"MNIST-1D, MLP 40-100-100-10 on backend {net.backend.name}: test accuracy "
          f"{accuracy:.3f} (published MLP: 0.68), {args.epochs} epochs in {elapsed:.1f} s")
    if args.plot:
        from fastnn.plotting import plot_history

        plot_history(history, args.plot, title="MNIST-1D")


if __name__ == "__main__":
    main()
