"""Property tests: the kernels against the NumPy reference (in float64) on shapes and values that
hypothesis draws, every backend, both dtypes. Derandomized, so every run checks the same cases."""

import numpy as np
import pytest
from conftest import BACKENDS, DTYPES, tol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fastnn import kernels
from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastnn.losses import LOSSES

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
REF = "numpy"

dims = st.integers(1, 40)
values = st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=32)


def matrix(shape, dtype, elements=values):
    return arrays(dtype, shape, elements=elements)


def ref64(fn, *arrays_, **kw):
    return fn(*[a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in arrays_],
              backend=REF, **kw)


params = pytest.mark.parametrize("backend", BACKENDS)
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])


@params
@dtypes
@SETTINGS
@given(data=st.data(), m=dims, k=dims, n=dims,
       activation=st.sampled_from([a for a in ACTIVATIONS if a != "step"]))
def test_dense_forward(backend, dtype, data, m, k, n, activation):
    X = data.draw(matrix((m, k), dtype))
    W = data.draw(matrix((k, n), dtype))
    b = data.draw(matrix((n,), dtype))
    got = kernels.dense_forward(X, W, b, activation, backend=backend)
    want = ref64(kernels.dense_forward, X, W, b, activation)
    assert got.dtype == dtype and got.shape == (m, n)
    scale = max(1.0, float(np.abs(X).max() * np.abs(W).max()))  # |products| bound the rounding
    t = tol(dtype, k)
    np.testing.assert_allclose(got, want, rtol=t["rtol"], atol=t["atol"] * scale * 4)


@params
@dtypes
@SETTINGS
@given(data=st.data(), m=dims, n_in=dims, n_out=dims,
       activation_prev=st.sampled_from([None, *HIDDEN_ACTIVATIONS]))
def test_dense_backward(backend, dtype, data, m, n_in, n_out, activation_prev):
    A = data.draw(matrix((m, n_in), dtype, st.floats(-1, 1, width=32)))
    if activation_prev in ("relu", "step"):
        A = np.abs(A)
    elif activation_prev == "sigmoid":
        A = (A + 1) / 2
    W = data.draw(matrix((n_in, n_out), dtype))
    D = data.draw(matrix((m, n_out), dtype))
    # any matrix is a possible Z for an activation whose derivative is written from Z
    got = kernels.dense_backward(A, W, D, activation_prev, backend=backend, Z_prev=A)
    want = ref64(kernels.dense_backward, A, W, D, activation_prev, Z_prev=A.astype(np.float64))
    scale = max(1.0, float(np.abs(D).max() * max(np.abs(W).max(), 1)))
    for g, w, k in zip(got, want, (m, m, n_out)):
        if w is None:
            assert g is None
            continue
        t = tol(dtype, k)
        np.testing.assert_allclose(g, w, rtol=t["rtol"], atol=t["atol"] * scale * 4)


@params
@dtypes
@SETTINGS
@given(data=st.data(), m=dims, n=st.integers(1, 12), loss=st.sampled_from(list(LOSSES)),
       activation=st.sampled_from([a for a in ACTIVATIONS if a != "step"]))
def test_loss_and_delta(backend, dtype, data, m, n, loss, activation):
    logs = loss != "mse" and activation not in ("sigmoid", "softmax")
    # the log losses on an unbounded activation read outputs in (0, 1), where they are defined
    z = st.floats(1 / 64, 63 / 64, width=32) if logs else st.floats(-30, 30, width=32)
    Z = data.draw(matrix((m, n), dtype, z))
    if loss == "cross_entropy":
        labels = data.draw(arrays(np.int64, m, elements=st.integers(0, n - 1)))
        Y = np.eye(n, dtype=dtype)[labels]
    else:
        Y = data.draw(matrix((m, n), dtype, st.sampled_from([0.0, 1.0]) if loss != "mse"
                             else values))
    risk, D = kernels.loss_and_delta(Z, Y, loss, activation, backend=backend)
    if loss != "mse" and activation != LOSSES[loss].fused_activation:
        # the log losses of the chain-rule pairs clip outputs at the dtype's epsilon
        want_risk, want_D = kernels.loss_and_delta(Z, Y, loss, activation, backend=REF)
    else:
        want_risk, want_D = ref64(kernels.loss_and_delta, Z, Y, loss, activation)
    assert np.isfinite(risk) and D.dtype == dtype
    t = tol(dtype, n)
    scale = max(1.0, abs(want_risk))
    if logs and dtype == np.float32:
        scale *= 10  # 1/A in float32 near the ends of (0, 1)
    atol_risk, atol_D = t["atol"] * scale, t["atol"] * scale
    if loss != "mse" and activation != LOSSES[loss].fused_activation:
        # a log of A or 1 - A computed in the dtype: an output within k ulps of 0 or 1 is known
        # only to a relative eps / min(A, 1 - A), which the log and 1/A carry into the results
        A = kernels.dense_forward(Z.astype(np.float64), np.eye(n), np.zeros(n), activation,
                                  backend=REF)
        eps = np.finfo(dtype).eps
        cond = eps / np.clip(np.minimum(A, 1 - A), eps, None).min()
        atol_risk = max(atol_risk, 4 * cond * n)
        atol_D = max(atol_D, 4 * cond * float(np.abs(want_D).max()))
    np.testing.assert_allclose(risk, want_risk, rtol=t["rtol"] * 10, atol=atol_risk)
    np.testing.assert_allclose(D, want_D, rtol=t["rtol"] * scale, atol=atol_D)


@params
@dtypes
@SETTINGS
@given(data=st.data(), shape=st.one_of(st.tuples(dims), st.tuples(dims, dims)),
       lr=st.floats(0, 1), momentum=st.sampled_from([0.0, 0.5, 0.9]), nesterov=st.booleans(),
       weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_sgd_update(backend, dtype, data, shape, lr, momentum, nesterov, weight_decay):
    W = data.draw(matrix(shape, dtype))
    dW = data.draw(matrix(shape, dtype))
    v = data.draw(matrix(shape, dtype)) if momentum else None
    want_W = W.astype(np.float64)
    want_v = None if v is None else v.astype(np.float64)
    kernels.sgd_update(want_W, dW.astype(np.float64), lr, want_v, momentum,
                       nesterov and momentum > 0, weight_decay, backend=REF)
    kernels.sgd_update(W, dW, lr, v, momentum, nesterov and momentum > 0, weight_decay,
                       backend=backend)
    t = tol(dtype)
    np.testing.assert_allclose(W, want_W, rtol=t["rtol"] * 4, atol=t["atol"] * 16)
    if momentum:
        np.testing.assert_allclose(v, want_v, rtol=t["rtol"] * 4, atol=t["atol"] * 16)
