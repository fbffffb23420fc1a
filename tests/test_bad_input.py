"""Bad input gets a clear error, and leaves both the model and the input unchanged."""

import numpy as np
import pytest

import fastnn


@pytest.fixture
def net(backend):
    return fastnn.Network([4, 5, 3], backend=backend, seed=0)


def snapshot(net):
    return [p.copy() for p in net.weights + net.biases]


def assert_unchanged(net, before):
    for a, b in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(a, b)


X_GOOD = np.random.default_rng(0).standard_normal((6, 4))
Y_GOOD = np.array([0, 1, 2, 0, 1, 2])


def with_value(value):
    X = X_GOOD.copy()
    X[2, 1] = value
    return X


BAD_X = [
    (with_value(np.nan), ValueError, "NaN"),
    (with_value(np.inf), ValueError, "infinity"),
    (np.ones(4), ValueError, "2D"),
    (np.ones((2, 3, 4)), ValueError, "dim"),
    (np.ones((6, 5)), ValueError, "features"),
    (np.ones((0, 4)), ValueError, "sample"),
    (np.ones((6, 0)), ValueError, "feature"),
    (X_GOOD.astype(complex), TypeError, "complex"),
    (X_GOOD.astype(str), TypeError, "numeric"),
    (X_GOOD.astype(object), TypeError, "numeric"),
]


@pytest.mark.parametrize("X,error,match", BAD_X, ids=lambda v: getattr(v, "__name__", None))
def test_bad_X(net, X, error, match):
    before, X_before = snapshot(net), X.copy()
    with pytest.raises(error, match=match):
        net.fit(X, Y_GOOD[: len(X)] if len(X) == 6 else Y_GOOD, epochs=1)
    with pytest.raises(error, match=match):
        net.forward(X)
    assert_unchanged(net, before)
    np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize("Y,error,match", [
    (np.array([0, 1, 2, 0, 1, np.nan]), ValueError, "NaN"),
    (np.array([0, 1, 2, 0, 1]), ValueError, "samples"),
    (np.array([0, 1, 2, 0, 1, 3]), ValueError, r"\[0, 3\)"),
    (np.array([0, 1, 2, 0, 1, -1]), ValueError, r"\[0, 3\)"),
    (np.array([0, 1, 2, 0, 1, 1.5]), ValueError, "integer"),
    (np.ones((6, 2)), ValueError, "columns"),
    (np.ones((6, 3, 1)), ValueError, "1-D or 2-D"),
    (np.array(["a"] * 6), TypeError, "numeric"),
])
def test_bad_Y(net, Y, error, match):
    before = snapshot(net)
    with pytest.raises(error, match=match):
        net.fit(X_GOOD, Y, epochs=1)
    with pytest.raises(error, match=match):
        net.loss(X_GOOD, Y)
    assert_unchanged(net, before)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"epochs": -1}, ValueError, "epochs"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"sampling": "random"}, ValueError, "sampling"),
    ({"optimizer": "sgd"}, TypeError, "optimizer"),
    ({"validation_data": (np.ones((2, 5)), [0, 1])}, ValueError, "features"),
    ({"validation_data": np.ones((2, 4))}, ValueError, "pair"),
])
def test_bad_fit_arguments(net, kwargs, error, match):
    before = snapshot(net)
    with pytest.raises(error, match=match):
        net.fit(X_GOOD, Y_GOOD, **kwargs)
    assert_unchanged(net, before)


@pytest.mark.parametrize("kwargs,match", [
    ({"sizes": [4]}, "at least"),
    ({"sizes": [4, 0, 2]}, "layer size"),
    ({"activation": "swish"}, "unknown activation"),
    ({"activation": "softmax"}, "output layer only"),
    ({"output_activation": "mish"}, "unknown activation"),
    ({"loss": "hinge"}, "unknown loss"),
    ({"dtype": "float16"}, "dtype"),
    ({"backend": "cuda"}, "unknown backend"),
])
def test_bad_network_arguments(kwargs, match):
    args = {"sizes": [4, 5, 3], **kwargs}
    with pytest.raises(ValueError, match=match):
        fastnn.Network(**args)


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"lr": float("nan")}, {"momentum": 1.5},
                                    {"nesterov": True}, {"schedule": "cosine"}])
def test_bad_optimizer_arguments(kwargs):
    with pytest.raises(ValueError):
        fastnn.SGD(**kwargs)


def test_any_layout_and_integer_input_give_the_same_result(net):
    X = np.random.default_rng(2).integers(-2, 3, (6, 4))
    want = net.forward(X.astype(np.float32))
    for variant in (X, np.asfortranarray(X), X.astype(bool).astype(np.int8), X[::-1][::-1],
                    np.repeat(X, 2, axis=1)[:, ::2]):
        np.testing.assert_allclose(net.forward(variant), net.forward(np.array(variant, float)))
    np.testing.assert_allclose(net.forward(X), want)
    ro = X.astype(np.float32)
    ro.flags.writeable = False
    np.testing.assert_array_equal(net.forward(ro), want)
