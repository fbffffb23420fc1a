"""XOR, the lecture notes' example: a single unit cannot learn it, one hidden layer can.

    python examples/xor.py [--plot xor.png]

A single sigmoid unit draws one straight line through the plane, and no line separates the
seed's table (y = x1 xor x2); a hidden layer of a few tanh units bends the boundary around it.
"""

import argparse

import numpy as np

import fastnn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([0, 1, 1, 0], dtype=float)


def train(sizes, seed=0):
    net = fastnn.Network(sizes, activation="tanh", output_activation="sigmoid",
                         loss="binary_cross_entropy", dtype="float64", seed=seed)
    net.fit(X, y, epochs=2000, batch_size=None, optimizer=fastnn.SGD(lr=0.5, momentum=0.9))
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="draw both decision boundaries into this PNG file")
    args = parser.parse_args()
    single, hidden = train([2, 1]), train([2, 8, 1])
    for name, net in (("single sigmoid unit", single), ("hidden layer of 8 tanh", hidden)):
        p = net.forward(X)[:, 0]
        print(f"{name:>24}: outputs {np.round(p, 3)}, {int(np.sum((p > 0.5) == y))}/4 right")
    if args.plot:
        import matplotlib.pyplot as plt

        from fastnn.plotting import plot_decision_boundary

        fig, axes = plt.subplots(1, 2, figsize=(10, 5))
        plot_decision_boundary(single.forward, X, y, ax=axes[0], title="one sigmoid unit")
        plot_decision_boundary(hidden.forward, X, y, ax=axes[1], title="one hidden layer")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"boundaries in {args.plot}")


if __name__ == "__main__":
    main()
