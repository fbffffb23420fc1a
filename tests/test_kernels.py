"""Every kernel on every backend against the NumPy reference (float64), for both dtypes.

The reference itself is checked against the loop-level versions in ``naive.py`` on small shapes.
Outputs are poisoned with NaN before each call: a kernel must write them without reading them.
"""

import numpy as np
import pytest
from conftest import SHAPES, tol

import naive
from fastnn import kernels
from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastnn.losses import LOSSES

REF = "numpy"


def rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def ref64(fn, *arrays, **kw):
    """Run a kernel on the reference backend in float64."""
    return fn(*[a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in arrays],
              backend=REF, **kw)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 4), (5, 7, 3)])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_reference_forward_matches_loops(shape, activation):
    m, k, n = shape
    rng = np.random.default_rng(0)
    X, W, b = rand(rng, m, k), rand(rng, k, n), rand(rng, n)
    got = kernels.dense_forward(X, W, b, activation, backend=REF)
    np.testing.assert_allclose(got, naive.dense_forward(X, W, b, activation), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 4), (5, 7, 3)])
@pytest.mark.parametrize("activation_prev", [None, *HIDDEN_ACTIVATIONS])
def test_reference_backward_matches_loops(shape, activation_prev):
    m, n_in, n_out = shape
    rng = np.random.default_rng(1)
    Z = naive.dense_forward(rand(rng, m, 2), rand(rng, 2, n_in), rand(rng, n_in), "identity")
    A = np.vectorize(lambda z: naive.act(activation_prev or "identity", z))(Z)
    W, D = rand(rng, n_in, n_out), rand(rng, m, n_out)
    got = kernels.dense_backward(A, W, D, activation_prev, backend=REF, Z_prev=Z)
    want = naive.dense_backward(A, W, D, activation_prev, Z)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_dense_forward(backend, dtype, shape, activation):
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k)
    X, W, b = rand(rng, m, k, dtype=dtype), rand(rng, k, n, dtype=dtype), rand(rng, n, dtype=dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    got = kernels.dense_forward(X, W, b, activation, out=out, backend=backend)
    assert got is out and got.dtype == dtype
    want = ref64(kernels.dense_forward, X, W, b, activation)
    if activation == "step":  # a product within rounding of 0 may land on either side
        Z = ref64(kernels.dense_forward, X, W, b, "identity")
        near = np.abs(Z) < 1e-4 * np.sqrt(k)
        got, want = got[~near], want[~near]
    np.testing.assert_allclose(got, want, **tol(dtype, k))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation_prev", [None, *HIDDEN_ACTIVATIONS])
def test_dense_backward(backend, dtype, shape, activation_prev):
    m, n_in, n_out = shape
    rng = np.random.default_rng(m * 7 + n_out)
    Z = kernels.dense_forward(rand(rng, m, 3), rand(rng, 3, n_in), rand(rng, n_in), "identity",
                              backend=REF)
    A = ACTIVATIONS[activation_prev or "tanh"].forward(Z).astype(dtype)
    Z = Z.astype(dtype)
    W, D = rand(rng, n_in, n_out, dtype=dtype), rand(rng, m, n_out, dtype=dtype)
    dW = np.full((n_in, n_out), np.nan, dtype)
    db = np.full(n_out, np.nan, dtype)
    D_prev = np.full((m, n_in), np.nan, dtype)
    got = kernels.dense_backward(A, W, D, activation_prev, dW, db, D_prev, backend=backend,
                                 Z_prev=Z)
    want = ref64(kernels.dense_backward, A, W, D, activation_prev, Z_prev=Z.astype(np.float64))
    assert got[0] is dW and got[1] is db
    np.testing.assert_allclose(dW, want[0], **tol(dtype, m))
    np.testing.assert_allclose(db, want[1], **tol(dtype, m))
    if activation_prev is None:
        assert got[2] is None
        assert np.all(np.isnan(D_prev)), "D_prev must not be touched for the first layer"
    else:
        assert got[2] is D_prev
        np.testing.assert_allclose(D_prev, want[2], **tol(dtype, n_out))


PAIRS = [(loss, act) for loss in LOSSES for act in ACTIVATIONS]


@pytest.mark.parametrize("loss,activation", PAIRS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (33, 10)])
def test_loss_and_delta(backend, dtype, loss, activation, shape):
    if loss == "cross_entropy" and shape[1] == 1 and activation == "softmax":
        pytest.skip("softmax over one output is constant")
    rng = np.random.default_rng(shape[0])
    Z = rand(rng, *shape, dtype=dtype) * 3
    log_loss = loss != "mse" and activation not in ("sigmoid", "softmax")
    if log_loss:  # keep the outputs inside (0, 1), where the log losses are defined
        Z = rng.uniform(0.05, 0.95, shape).astype(dtype)
    if loss == "cross_entropy":
        Y = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, shape).astype(dtype)
    else:
        Y = rand(rng, *shape, dtype=dtype)
    D = np.full(shape, np.nan, dtype)
    risk, got = kernels.loss_and_delta(Z, Y, loss, activation, D=D, backend=backend)
    if log_loss and activation == "step":  # outputs 0 and 1 are clipped at the dtype's epsilon
        want_risk, want = kernels.loss_and_delta(Z, Y, loss, activation, backend=REF)
    else:
        want_risk, want = ref64(kernels.loss_and_delta, Z, Y, loss, activation)
    assert got is D and got.dtype == dtype
    assert np.isfinite(risk)
    np.testing.assert_allclose(risk, want_risk, **tol(dtype, Z.size))
    np.testing.assert_allclose(got, want, **tol(dtype, shape[1]))


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("size", [(1, 1), (13, 7), (257, 33)])
def test_sgd_update(backend, dtype, momentum, nesterov, weight_decay, size):
    rng = np.random.default_rng(3)
    W, dW = rand(rng, *size, dtype=dtype), rand(rng, *size, dtype=dtype)
    v = rand(rng, *size, dtype=dtype) if momentum else None
    want_W, want_v = W.astype(np.float64), None if v is None else v.astype(np.float64)
    # the rule written out: g = dW + wd W; v = mu v - lr g; W += v, or W += mu v - lr g
    g = dW.astype(np.float64) + weight_decay * want_W
    if momentum:
        want_v = momentum * want_v - 0.1 * g
        want_W = want_W + (momentum * want_v - 0.1 * g if nesterov else want_v)
    else:
        want_W = want_W - 0.1 * g
    kernels.sgd_update(W, dW, 0.1, v, momentum, nesterov, weight_decay, backend=backend)
    np.testing.assert_allclose(W, want_W, **tol(dtype))
    if momentum:
        np.testing.assert_allclose(v, want_v, **tol(dtype))


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("t", [1, 10])
def test_adam_update(backend, dtype, weight_decay, t):
    rng = np.random.default_rng(4)
    W, dW = rand(rng, 17, 5, dtype=dtype), rand(rng, 17, 5, dtype=dtype)
    m, v = rand(rng, 17, 5, dtype=dtype), np.abs(rand(rng, 17, 5, dtype=dtype))
    W64, m64, v64 = (a.astype(np.float64) for a in (W, m, v))
    g = dW.astype(np.float64) + weight_decay * W64
    m64 = 0.9 * m64 + 0.1 * g
    v64 = 0.999 * v64 + 0.001 * g * g
    W64 = W64 - 0.01 * (m64 / (1 - 0.9**t)) / (np.sqrt(v64 / (1 - 0.999**t)) + 1e-8)
    kernels.adam_update(W, dW, m, v, t, 0.01, 0.9, 0.999, 1e-8, weight_decay, backend=backend)
    for got, want in ((W, W64), (m, m64), (v, v64)):
        np.testing.assert_allclose(got, want, **tol(dtype, 10))


@pytest.mark.parametrize("layout", ["fortran", "strided", "negative", "readonly", "int"])
def test_any_layout_gives_the_same_result(backend, layout):
    rng = np.random.default_rng(5)
    X, W, b = rand(rng, 9, 6), rand(rng, 6, 4), rand(rng, 4)
    if layout == "fortran":
        X, W = np.asfortranarray(X), np.asfortranarray(W)
    elif layout == "strided":
        X, W = np.repeat(X, 2, axis=1)[:, ::2], np.repeat(W, 3, axis=0)[::3]
    elif layout == "negative":
        X, W, b = X[::-1], W[:, ::-1], b[::-1]
    elif layout == "readonly":
        X.flags.writeable = W.flags.writeable = False
    else:
        X = rng.integers(-3, 4, (9, 6))
    want = kernels.dense_forward(np.array(X, np.float64), np.array(W), np.array(b), "tanh",
                                 backend=REF)
    got = kernels.dense_forward(X, W, b, "tanh", backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_kernels_reject_bad_arguments(backend):
    X, W, b = np.ones((3, 4)), np.ones((4, 2)), np.ones(2)
    with pytest.raises(ValueError, match="columns"):
        kernels.dense_forward(np.ones((3, 5)), W, b, backend=backend)
    with pytest.raises(ValueError, match="entries"):
        kernels.dense_forward(X, W, np.ones(3), backend=backend)
    with pytest.raises(ValueError, match="unknown activation"):
        kernels.dense_forward(X, W, b, "swish", backend=backend)
    with pytest.raises(ValueError, match="2-D"):
        kernels.dense_forward(np.ones(4), W, b, backend=backend)
    with pytest.raises(TypeError, match="complex"):
        kernels.dense_forward(X + 1j, W, b, backend=backend)
    with pytest.raises(ValueError, match="out must be"):
        kernels.dense_forward(X, W, b, out=np.empty((3, 2), np.float32), backend=backend)
    with pytest.raises(ValueError, match="output layer only"):
        kernels.dense_backward(X, W, np.ones((3, 2)), "softmax", backend=backend)
    with pytest.raises(ValueError, match="unknown backend"):
        kernels.dense_forward(X, W, b, backend="cuda")
    ro = np.ones((4, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernels.sgd_update(ro, W, 0.1, backend=backend)
