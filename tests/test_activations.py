"""The activation rows: each compiled backend computes the same values (the C and Numba kernels
share their formulas and constants) and stays within the documented accuracy of the reference;
the table's flags hold (a derivative written from Z where the output does not determine Z)."""

import numpy as np
import pytest

from fastnn import kernels
from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastnn.backends import available_backends

COMPILED = [b for b in ("cython", "numba") if b in available_backends()]
Z_GRID = np.concatenate([np.linspace(-30, 30, 2001), np.linspace(-1e-3, 1e-3, 101),
                         [-200.0, -90.0, -50.0, 0.0, 50.0, 90.0, 200.0]])


def assert_close(got, want, rtol, atol):
    """assert_allclose with an elementwise ``atol``; NaN only where ``want`` is NaN."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = np.isnan(want) | (np.abs(got - want) <= atol + rtol * np.abs(want))
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, (f"{bad.size} elements differ, first at z = {Z_GRID[bad[0]]}: "
                           f"{got[bad[0]]!r} vs {want[bad[0]]!r}")


def values(backend, name, z, dtype):
    """act(z) and act'(z) through one dense layer with W = [[1]], b = [0] (exact products)."""
    X = z.astype(dtype).reshape(-1, 1)
    one, zero = np.ones((1, 1), dtype), np.zeros(1, dtype)
    A = kernels.dense_forward(X, one, zero, name, backend=backend)
    _, _, dA = kernels.dense_backward(A, one, np.ones_like(A), name, backend=backend, Z_prev=X)
    return A[:, 0], dA[:, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_compiled_backends_agree_and_match_the_reference(name, dtype):
    if len(COMPILED) < 2:
        pytest.skip("needs both compiled backends")
    ulp = np.finfo(dtype).eps
    (ca, cd), (na, nd) = (values(b, name, Z_GRID, dtype) for b in COMPILED)
    ref_a, ref_d = values("numpy", name, Z_GRID, np.float64)
    # the documented accuracy: a few ulp of the type, relative, or absolute in units of |z|:
    # gelu computes z (1 + t) / 2 with t = tanh(u) near -1 for z < -4, a cancellation that no
    # evaluation of that formula in the type avoids
    atol = 8 * ulp * np.maximum(1, np.abs(Z_GRID))
    for got in (ca, na):
        assert_close(got, ref_a, 8 * ulp, atol)
    assert_close(ca, na, 4 * ulp, atol / 2)
    assert_close(cd, nd, 16 * ulp, 2 * atol)
    assert_close(cd, ref_d, 64 * ulp, 8 * atol)


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_the_derivative_comes_from_what_the_row_says(name):
    """An activation that is not monotone cannot have its derivative written from its output:
    its row must say needs_z. Central differences of the reference forward check the
    derivative from whichever side the row names."""
    act = ACTIVATIONS[name]
    z = np.linspace(-6, 6, 1201)
    a = act.forward(z)
    if np.any(np.diff(a) < 0):
        assert act.needs_z, f"{name} is not monotone, so its derivative must come from Z"
    h = 1e-6
    numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    analytic = act.derivative(z if act.needs_z else a)
    kinks = np.abs(z) < 2 * h  # relu, step: not differentiable at 0
    np.testing.assert_allclose(analytic[~kinks], numeric[~kinks], rtol=1e-6, atol=1e-8)
