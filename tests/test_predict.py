"""Inference: the fast path of ``Network.forward`` (an input already in kernel form skips the
validation) returns what the full path returns, follows the network's parameters, and leaves
every other input to the full path and its errors."""

import threading

import numpy as np
import pytest
from conftest import DTYPES

import fastnn
from fastnn.backends import cython as cython_backend

pytestmark = pytest.mark.skipif("cython" not in fastnn.available_backends(),
                                reason="the cython backend is not available")


def network(dtype, sizes=(7, 13, 5), **kwargs):
    return fastnn.Network(list(sizes), dtype=dtype, backend="cython", seed=0, **kwargs)


def full_path(net, X):
    """The output by the validating path (what forward did before it had a fast path)."""
    X = net._check_X(X)
    return net.backend.predict(net.weights, net.biases, net.activations, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 2, 37])
@pytest.mark.parametrize("sizes,activation,output", [
    ((7, 13, 5), "relu", "softmax"), ((7, 5), "tanh", "identity"),
    ((64, 128, 10), "sigmoid", "sigmoid"), ((9, 33, 17, 3), "gelu", "softmax")])
def test_the_fast_path_gives_the_full_paths_result(dtype, rows, sizes, activation, output):
    net = network(dtype, sizes, activation=activation, output_activation=output)
    X = np.random.default_rng(rows).standard_normal((rows, sizes[0])).astype(dtype)
    got = net.backend.predict_ready(net, X)
    assert got is not None and got.dtype == dtype and got.shape == (rows, sizes[-1])
    np.testing.assert_array_equal(got, full_path(net, X))
    np.testing.assert_array_equal(net.forward(X), got)


@pytest.mark.parametrize("X", [
    np.ones((3, 7)),  # float64 for a float32 network
    np.asfortranarray(np.ones((3, 7), np.float32)),
    np.ones((7, 3), np.float32).T,
    np.ones((3, 7), np.float32)[:, :7:1][::2],
    np.ones(7, np.float32),
    np.ones((3, 6), np.float32),
    np.ones((0, 7), np.float32),
    np.ones((3, 7), np.float32).view(np.recarray),  # a subclass
    [[1.0] * 7],
], ids=["float64", "fortran", "transposed", "strided", "1-D", "narrow", "empty", "subclass",
        "list"])
def test_anything_else_takes_the_full_path(X):
    net = network(np.float32)
    assert net.backend.predict_ready(net, X) is None
    try:
        want = full_path(net, X)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            net.forward(X)
    else:
        np.testing.assert_array_equal(net.forward(X), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value,match", [(np.nan, "NaN"), (np.inf, "infinity"),
                                         (-np.inf, "infinity")])
def test_a_non_finite_input_of_the_networks_dtype_gets_the_full_paths_error(dtype, value,
                                                                              match):
    net = network(dtype)
    X = np.ones((4, 7), dtype)
    X[3, 6] = value
    assert net.backend.predict_ready(net, X) is None
    with pytest.raises(ValueError, match=match):
        net.forward(X)


def test_the_fast_path_follows_the_networks_parameters():
    net = network(np.float64)
    X = np.random.default_rng(0).standard_normal((3, 7))
    first = net.forward(X)
    net.weights[0] *= 2  # in place: the same arrays
    np.testing.assert_array_equal(net.forward(X), full_path(net, X))
    assert not np.array_equal(net.forward(X), first)
    net.weights[1] = np.ascontiguousarray(net.weights[1][:, ::-1])  # a new array
    np.testing.assert_array_equal(net.forward(X), full_path(net, X))
    net.activations[0] = "tanh"
    np.testing.assert_array_equal(net.forward(X), full_path(net, X))
    net.biases[1] = np.asfortranarray(net.biases[1])  # still a vector: still in kernel form
    np.testing.assert_array_equal(net.forward(X), full_path(net, X))


def test_parameters_not_in_kernel_form_get_the_full_paths_error():
    net = network(np.float64)
    X = np.ones((2, 7))
    net.weights[0] = np.asfortranarray(net.weights[0])
    assert net.backend.predict_ready(net, X) is None
    with pytest.raises(ValueError):
        net.forward(X)


def test_the_predictor_is_not_part_of_the_network():
    """It lives beside the network: the network still pickles and deep-copies, and the
    predictor goes with the network."""
    import copy
    import gc
    import pickle

    net = network(np.float32)
    X = np.ones((1, 7), np.float32)
    net.forward(X)
    assert net in cython_backend._predictors
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    before = len(cython_backend._predictors)
    del clone, net
    gc.collect()
    assert len(cython_backend._predictors) < before


def test_threads_share_a_network():
    net = network(np.float32, (31, 64, 9))
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((r, 31)).astype(np.float32) for r in (1, 3, 50, 1, 7, 200)]
    want = [full_path(net, X) for X in inputs]
    errors = []

    def work():
        try:
            for _ in range(200):
                for X, w in zip(inputs, want):
                    np.testing.assert_array_equal(net.forward(X), w)
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
