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
    for got in (ca, na):  # the documented accuracy: a few ulp of the type, relative
        np.testing.assert_allclose(got, ref_a, rtol=8 * ulp, atol=8 * ulp)
    np.testing.assert_allclose(ca, na, rtol=4 * ulp, atol=4 * ulp)
    np.testing.assert_allclose(cd, nd, rtol=16 * ulp, atol=16 * ulp)
    np.testing.assert_allclose(cd, ref_d, rtol=64 * ulp, atol=64 * ulp)


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
