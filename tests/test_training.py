"""Training: one step by hand, the lecture notes' examples, reproducibility, optimizers."""

import numpy as np
import pytest
from conftest import more_optimizers

import fastnn

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)  # the seed's table: y = x1 xor x2


def test_one_hand_computed_step_of_a_3_2_1_network(backend):
    net = fastnn.Network([3, 2, 1], activation="relu", output_activation="identity",
                         loss="mse", dtype="float64", backend=backend)
    net.weights[0][...] = [[1, 0], [0, 1], [1, -1]]
    net.biases[0][...] = [0, 0]
    net.weights[1][...] = [[0.5], [1]]
    net.biases[1][...] = [0]
    X, y = np.array([[1.0, 2.0, 3.0]]), np.array([1.0])
    # forward: Z1 = [1 + 3, 2 - 3] = [4, -1]; A1 = relu(Z1) = [4, 0]
    #          Z2 = 4 * 0.5 + 0 * 1 = 2 = A2;  loss = (2 - 1)^2 = 1
    assert net.loss(X, y) == pytest.approx(1.0)
    # backward: D2 = 2 (A2 - y) / n = 2;  dW2 = A1^T D2 = [[8], [0]];  db2 = [2]
    #           D1 = (D2 W2^T) * relu'(A1) = [1, 2] * [1, 0] = [1, 0]
    #           dW1 = X^T D1 = [[1, 0], [2, 0], [3, 0]];  db1 = [1, 0]
    (dW1, db1), (dW2, db2) = net.gradients(X, y)
    np.testing.assert_allclose(dW2, [[8], [0]])
    np.testing.assert_allclose(db2, [2])
    np.testing.assert_allclose(dW1, [[1, 0], [2, 0], [3, 0]])
    np.testing.assert_allclose(db1, [1, 0])
    # one gradient-descent step, lr = 0.05: theta <- theta - 0.05 * grad
    net.fit(X, y, epochs=1, batch_size=None, optimizer=fastnn.SGD(lr=0.05))
    np.testing.assert_allclose(net.weights[1], [[0.1], [1]])
    np.testing.assert_allclose(net.biases[1], [-0.1])
    np.testing.assert_allclose(net.weights[0], [[0.95, 0], [-0.1, 1], [0.85, -1]])
    np.testing.assert_allclose(net.biases[0], [-0.05, 0])
    # new forward: Z1 = [0.95 - 0.2 + 2.55 - 0.05, -1] = [3.25, -1]; A1 = [3.25, 0]
    #              Z2 = 3.25 * 0.1 - 0.1 = 0.225;  loss = (0.225 - 1)^2 = 0.600625
    assert net.loss(X, y) == pytest.approx(0.600625)


def test_a_single_sigmoid_unit_cannot_learn_xor(backend):
    # no half-plane separates the seed's XOR table: at most 3 of 4 right, whatever the training
    for seed in range(3):
        net = fastnn.Network([2, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                             dtype="float64", backend=backend, seed=seed)
        net.fit(XOR_X, XOR_Y, epochs=2000, batch_size=None, optimizer=fastnn.SGD(lr=0.5))
        correct = np.sum((net.forward(XOR_X)[:, 0] > 0.5) == XOR_Y)
        assert correct <= 3


@pytest.mark.parametrize("seed", range(5))
def test_one_hidden_layer_learns_xor(backend, seed):
    net = fastnn.Network([2, 8, 1], activation="tanh", output_activation="sigmoid",
                         loss="binary_cross_entropy", dtype="float64", backend=backend, seed=seed)
    history = net.fit(XOR_X, XOR_Y, epochs=1500, batch_size=None,
                      optimizer=fastnn.SGD(lr=0.5, momentum=0.9))
    np.testing.assert_array_equal(net.forward(XOR_X)[:, 0] > 0.5, XOR_Y.astype(bool))
    assert history.loss[-1] < 0.05


def test_logistic_regression_separates_separable_data(backend, dtype):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 0.7, (100, 2)), rng.normal(2, 0.7, (100, 2))])
    y = np.repeat([0.0, 1.0], 100)
    net = fastnn.Network([2, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                         dtype=dtype, backend=backend, seed=0)
    net.fit(X, y, epochs=50, batch_size=16, optimizer=fastnn.SGD(lr=0.5))
    assert np.all((net.forward(X)[:, 0] > 0.5) == y)


@pytest.mark.parametrize("optimizer", [
    fastnn.SGD(lr=0.1), fastnn.SGD(lr=0.05, momentum=0.9), fastnn.SGD(lr=0.05, momentum=0.9,
                                                                      nesterov=True),
    fastnn.SGD(lr=0.1, weight_decay=1e-3, schedule="invscaling", power_t=0.25),
    fastnn.Adam(lr=0.01), fastnn.Adam(lr=0.01, weight_decay=1e-3),
    *more_optimizers("sgd", "adam"),
], ids=repr)
@pytest.mark.parametrize("sampling", ["shuffle", "uniform"])
def test_every_optimizer_fits_digits(backend, dtype, optimizer, sampling):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16
    y = y[:600]
    net = fastnn.Network([64, 32, 10], dtype=dtype, backend=backend, seed=0)
    history = net.fit(X, y, epochs=15, batch_size=32, optimizer=optimizer, sampling=sampling,
                      validation_data=(X[:100], y[:100]))
    assert len(history.loss) == len(history.val_loss) == 15
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert np.mean(net.forward(X).argmax(1) == y) > 0.9
    assert all(W.dtype == dtype for W in net.weights)


def test_same_seed_same_weights_different_seed_different_weights(backend):
    X = np.random.default_rng(0).standard_normal((50, 4))
    y = (X[:, 0] > 0).astype(int)

    def train(seed):
        net = fastnn.Network([4, 6, 2], backend=backend, seed=seed)
        net.fit(X, y, epochs=3, batch_size=8, optimizer=fastnn.SGD(lr=0.1, momentum=0.5))
        return net.weights + net.biases

    for a, b in zip(train(7), train(7)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(train(7), train(8)))


def test_initialisation_he_for_relu_glorot_otherwise():
    net = fastnn.Network([400, 300, 200], activation="relu", output_activation="softmax", seed=0)
    assert np.std(net.weights[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    r = np.sqrt(6 / (300 + 200))
    assert np.abs(net.weights[1]).max() <= r
    assert np.std(net.weights[1]) == pytest.approx(r / np.sqrt(3), rel=0.05)
    assert not any(b.any() for b in net.biases)


def test_full_batch_when_batch_size_exceeds_samples(backend):
    X, y = XOR_X, XOR_Y
    a = fastnn.Network([2, 3, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                       backend=backend, dtype="float64", seed=3)
    b = fastnn.Network([2, 3, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                       backend=backend, dtype="float64", seed=3)
    a.fit(X, y, epochs=5, batch_size=None, shuffle=False)
    b.fit(X, y, epochs=5, batch_size=100, shuffle=False)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)


def test_divergence_stops_with_a_clear_error_and_finite_weights(backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)) * 1e3
    y = rng.standard_normal(64) * 1e3
    net = fastnn.Network([3, 16, 1], activation="relu", output_activation="identity",
                         loss="mse", backend=backend, seed=0)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch \d+, step \d+"):
        net.fit(X, y, epochs=50, batch_size=8, optimizer=fastnn.SGD(lr=10.0))
    assert all(np.all(np.isfinite(p)) for p in net.weights + net.biases)
