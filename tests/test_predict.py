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


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_rows_stream_in_blocks_whatever_the_threads(dtype):
    """Enough rows for several blocks: the result is the reference's, the same bits on 1 and
    2 threads, and a NaN in the last row still sends the input to the full path's error."""
    from fastnn._config import num_threads

    net = network(dtype, (20, 300, 40, 7), activation="tanh")
    X = np.random.default_rng(5).standard_normal((3001, 20)).astype(dtype)
    with num_threads(1):
        one = net.forward(X)
    with num_threads(2):
        two = net.forward(X)
    np.testing.assert_array_equal(one, two)
    ref = fastnn.backends.get_backend("numpy")
    want = ref.predict(net.weights, net.biases, net.activations, X)
    np.testing.assert_allclose(one, want, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)
    X[-1, -1] = np.nan
    assert net.backend.predict_ready(net, X) is None
    with pytest.raises(ValueError, match="NaN"):
        net.forward(X)


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


# -- fastnn.kernels.dense_forward ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 784, 256), (3, 13, 7), (37, 64, 129)])
@pytest.mark.parametrize("activation", ["relu", "gelu", "softmax"])
def test_dense_forwards_fast_path_gives_the_full_paths_result(dtype, m, k, n, activation):
    from fastnn import kernels

    rng = np.random.default_rng(m * k + n)
    X, W, b = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (n,)))
    backend = fastnn.backends.get_backend("cython")
    got = backend.dense_forward_ready(X, W, b, activation)
    assert got is not None and got.dtype == dtype
    want = backend.dense_forward(X, W, b, activation)  # the full path's call
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(kernels.dense_forward(X, W, b, activation), want)
    out = np.full((m, n), np.nan, dtype)
    assert kernels.dense_forward(X, W, b, activation, out=out) is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("case", ["float64 X", "fortran W", "b 2-D", "b short", "X narrow",
                                  "list X", "unknown activation", "out read-only",
                                  "out is X", "out fortran", "out float64"])
def test_dense_forward_leaves_anything_else_to_the_full_path(case):
    from fastnn import kernels

    rng = np.random.default_rng(0)
    X, W, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 4), (4, 4), (4,)))
    act, out = "relu", None
    if case == "float64 X":
        X = X.astype(np.float64)
    elif case == "fortran W":
        W = np.asfortranarray(W)
    elif case == "b 2-D":
        b = b[None, :]
    elif case == "b short":
        b = b[:3]
    elif case == "X narrow":
        X = X[:, :3].copy()
    elif case == "list X":
        X = X.tolist()
    elif case == "unknown activation":
        act = "swish"
    elif case == "out read-only":
        out = np.empty((4, 4), np.float32)
        out.flags.writeable = False
    elif case == "out is X":
        out = X
    elif case == "out fortran":
        out = np.asfortranarray(np.empty((4, 4), np.float32))
    elif case == "out float64":
        out = np.empty((4, 4))
    backend = fastnn.backends.get_backend("cython")
    assert backend.dense_forward_ready(X, W, b, act, out) is None
    try:
        want = kernels.dense_forward(X, W, b, act, backend="numpy")
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            kernels.dense_forward(X, W, b, act, out=out, backend="cython")
    else:
        if out is not None:  # a caller's output not exactly what is written is refused
            with pytest.raises(ValueError):
                kernels.dense_forward(X, W, b, act, out=out, backend="cython")
        else:
            np.testing.assert_allclose(kernels.dense_forward(X, W, b, act, backend="cython"),
                                       want, rtol=1e-5, atol=1e-6)


# -- the estimators --------------------------------------------------------------------------------

def _fitted(cls, dtype, y, **kwargs):
    import warnings

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        return cls(hidden_layer_sizes=(8,), max_iter=3, random_state=0, backend="cython",
                   **kwargs).fit(X, y(rng)), X


TARGETS = {
    "binary": lambda rng: rng.choice(["no", "yes"], 60),
    "multiclass": lambda rng: rng.integers(0, 4, 60) * 10,
    "multilabel": lambda rng: rng.integers(0, 2, (60, 3)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", list(TARGETS))
def test_the_classifiers_fast_path_gives_the_full_paths_result(dtype, target):
    from fastnn.sklearn import MLPClassifier

    est, X = _fitted(MLPClassifier, dtype, TARGETS[target])
    net = est.network_
    for rows in (X[:1].copy(), X[:7].copy(), X):
        assert net.backend.predict_ready(net, rows) is not None
        as_list = rows.tolist()  # the full path: validated and converted
        np.testing.assert_array_equal(est.predict_proba(rows), est.predict_proba(as_list))
        labels = est.predict(rows)
        np.testing.assert_array_equal(labels, est.predict(as_list))
        full = est._label_binarizer.inverse_transform(est._decide(est._predict_raw(as_list)))
        np.testing.assert_array_equal(labels, full)
        assert labels.dtype == full.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_regressors_fast_path_gives_the_full_paths_result(dtype):
    from fastnn.sklearn import MLPRegressor

    est, X = _fitted(MLPRegressor, dtype, lambda rng: rng.standard_normal(60))
    row = X[:1].copy()
    assert est.predict(row).shape == (1,)
    np.testing.assert_array_equal(est.predict(row), est.predict(row.tolist()))


def test_the_estimators_errors_and_warnings_are_kept():
    from sklearn.exceptions import NotFittedError

    from fastnn.sklearn import MLPClassifier

    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(np.ones((1, 5)))
    est, X = _fitted(MLPClassifier, np.float64, TARGETS["multiclass"])
    bad = X[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict_proba(bad)
    with pytest.raises(ValueError, match="features"):
        est.predict_proba(X[:2, :4].copy())
    est.n_threads = "two"
    with pytest.raises(TypeError, match="n_threads"):
        est.predict_proba(X[:1].copy())
    est.n_threads = 1
    np.testing.assert_array_equal(est.predict_proba(X[:3].copy()),
                                  est.predict_proba(X[:3].tolist()))


def test_an_estimator_fitted_on_named_features_keeps_scikit_learns_warning():
    pd = pytest.importorskip("pandas")
    from fastnn.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((40, 3)), columns=["a", "b", "c"])
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(frame, rng.integers(0, 2, 40))
    with pytest.warns(UserWarning, match="feature names"):
        est.predict_proba(frame.to_numpy()[:1].copy())
