"""``Network.gradients`` is the exact gradient of ``Network.loss``: central differences, float64."""

import numpy as np
import pytest

import fastnn
from fastnn.activations import TRAINABLE_ACTIVATIONS

# every (output activation, loss) pairing a user would build: the three fused pairs and
# pairs that go through the general chain rule
OUTPUT_PAIRS = [
    ("identity", "mse"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("relu", "mse"),
    ("sigmoid", "cross_entropy"),
]
# every activation gradient descent can train, in hidden layers and as an output with mse
HIDDEN = list(TRAINABLE_ACTIVATIONS)
OUTPUT_PAIRS += [(a, "mse") for a in HIDDEN if (a, "mse") not in OUTPUT_PAIRS]


def targets(rng, loss, n, m):
    if loss == "cross_entropy":
        return np.eye(m)[rng.integers(0, m, n)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, m)).astype(float)
    return rng.standard_normal((n, m))


def numerical_gradients(net, X, Y, eps=1e-6):
    grads = []
    for params in (net.weights, net.biases):
        for p in params:
            g = np.empty_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + eps
                up = net.loss(X, Y)
                p[idx] = old - eps
                down = net.loss(X, Y)
                p[idx] = old
                g[idx] = (up - down) / (2 * eps)
            grads.append(g)
    L = net.n_layers
    return list(zip(grads[:L], grads[L:]))


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output,loss", OUTPUT_PAIRS)
@pytest.mark.parametrize("sizes", [[3, 5, 2], [4, 3, 6, 3], [1, 1, 1]], ids=str)
def test_gradients_match_central_differences(backend, hidden, output, loss, sizes):
    if output == "softmax" and sizes[-1] == 1:
        pytest.skip("softmax over one output is constant")
    rng = np.random.default_rng(len(sizes) * 10 + sizes[-1])
    net = fastnn.Network(sizes, activation=hidden, output_activation=output, loss=loss,
                         dtype="float64", backend=backend, seed=1)
    for b in net.biases:
        b[...] = rng.standard_normal(b.shape) * 0.1
    X = rng.standard_normal((7, sizes[0]))
    Y = targets(rng, loss, 7, sizes[-1])
    analytic = net.gradients(X, Y)
    numeric = numerical_gradients(net, X, Y)
    for (dW, db), (nW, nb) in zip(analytic, numeric):
        np.testing.assert_allclose(dW, nW, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(db, nb, rtol=1e-5, atol=1e-7)


def test_step_units_have_no_gradient(backend):
    net = fastnn.Network([2, 3, 1], activation="step", output_activation="sigmoid",
                         loss="binary_cross_entropy", dtype="float64", backend=backend)
    X = np.random.default_rng(0).standard_normal((5, 2))
    (dW1, db1), (dW2, db2) = net.gradients(X, [0, 1, 1, 0, 1])
    assert not dW1.any() and not db1.any()
    assert dW2.any()
