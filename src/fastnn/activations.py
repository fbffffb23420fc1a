"""Activations: one table keyed by name, with the NumPy reference math.

Design
------
Each activation is one row of ``ACTIVATIONS``: its name, the integer code the C and Numba kernels
switch on (it must match ``FNN_*`` in ``csrc/fastnn.h``), the forward map and its derivative
written from the *output* ``A`` (so the backward pass keeps only the activations, never ``Z``).

``backward(A, G)`` returns ``dR/dZ`` given ``G = dR/dA``. For the element-wise activations this
is ``G * derivative(A)``; softmax is not element-wise, so it uses its Jacobian-vector product
``A * (G - sum(G * A, axis=1))``. The fused (softmax, cross_entropy) pair in ``losses.py`` never
goes through it.

Adding an activation means adding one row here and one ``case`` in each compiled kernel.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "HIDDEN_ACTIVATIONS",
           "TRAINABLE_ACTIVATIONS"]


def _identity(Z, out):
    out[...] = Z
    return out


def _relu(Z, out):
    return np.maximum(Z, 0, out=out)


def _sigmoid(Z, out):
    # 1/(1+e^-z) for z >= 0 and e^z/(1+e^z) for z < 0: e^-|z| never overflows.
    neg = Z < 0  # before out is written: out may be Z
    e = np.exp(-np.abs(Z))
    np.divide(1, 1 + e, out=out)
    out[neg] *= e[neg]
    return out


def _tanh(Z, out):
    return np.tanh(Z, out=out)


def _step(Z, out):
    return np.greater(Z, 0, out=out, casting="unsafe")


def _softmax(Z, out):
    np.subtract(Z, Z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _leaky_relu(Z, out):
    # z for z > 0, else 0.01 z (PyTorch's default slope); NaN stays NaN
    return np.multiply(Z, np.where(Z < 0, Z.dtype.type(0.01), Z.dtype.type(1)), out=out)


# gelu, in the tanh form of PyTorch's approximate="tanh": 0.5 z (1 + tanh(C (z + K z^3)))
_GELU_C, _GELU_K = math.sqrt(2 / math.pi), 0.044715


def _gelu(Z, out):
    t = np.tanh(_GELU_C * (Z + _GELU_K * Z * Z * Z))  # before out is written: out may be Z
    return np.multiply(0.5 * Z, 1 + t, out=out)


def _d_identity(A):
    return np.ones_like(A)


def _d_relu(A):
    return (A > 0).astype(A.dtype)


def _d_sigmoid(A):
    return A * (1 - A)


def _d_tanh(A):
    return 1 - A * A


def _d_leaky_relu(A):
    return np.where(A > 0, A.dtype.type(1), A.dtype.type(0.01))


def _d_gelu(Z):  # from Z: gelu is not monotone (its minimum is near z = -0.75)
    t = np.tanh(_GELU_C * (Z + _GELU_K * Z * Z * Z))
    return 0.5 * (1 + t) + 0.5 * Z * (1 - t * t) * _GELU_C * (1 + 3 * _GELU_K * Z * Z)


def _d_step(A):
    return np.zeros_like(A)


@dataclass(frozen=True)
class Activation:
    """One row of the activation table."""

    name: str
    code: int  # FNN_<NAME> in csrc/fastnn.h, the switch of the compiled kernels
    _forward: Callable
    derivative: Callable | None  # from A (from Z when needs_z); None when not element-wise
    hidden: bool = True  # allowed in hidden layers
    needs_z: bool = False  # the derivative is written from the input Z, not the output A
    gradient: bool = True  # False: its derivative is 0 everywhere (trained by other rules)

    def forward(self, Z, out=None):
        """``act(Z)``, written into ``out`` when given (``out`` may be ``Z``)."""
        if out is None:
            out = np.empty_like(Z)
        with np.errstate(under="ignore"):  # e^-z rounding to 0 is the right answer here
            return self._forward(Z, out)

    def backward(self, A, G, Z=None):
        """``dR/dZ`` from the output ``A`` (and the input ``Z`` when ``needs_z``) and
        ``G = dR/dA``."""
        if self.needs_z and Z is None:
            raise ValueError(f"the derivative of {self.name} is written from Z: pass Z")
        with np.errstate(under="ignore"):  # tiny products round to 0, as in the kernels
            if self.derivative is not None:
                return G * self.derivative(Z if self.needs_z else A)
            # softmax: J^T G with J = diag(A) - A A^T, row by row
            return A * (G - np.sum(G * A, axis=1, keepdims=True))


ACTIVATIONS = {
    a.name: a
    for a in (
        Activation("identity", 0, _identity, _d_identity),
        Activation("relu", 1, _relu, _d_relu),
        Activation("sigmoid", 2, _sigmoid, _d_sigmoid),
        Activation("tanh", 3, _tanh, _d_tanh),
        Activation("step", 4, _step, _d_step, gradient=False),
        Activation("softmax", 5, _softmax, None, hidden=False),
        Activation("leaky_relu", 6, _leaky_relu, _d_leaky_relu),
        Activation("gelu", 7, _gelu, _d_gelu, needs_z=True),
    )
}

HIDDEN_ACTIVATIONS = tuple(name for name, a in ACTIVATIONS.items() if a.hidden)
# the hidden activations that gradient descent can train (the command line's choices)
TRAINABLE_ACTIVATIONS = tuple(name for name in HIDDEN_ACTIVATIONS if ACTIVATIONS[name].gradient)


def get_activation(name, *, hidden=False):
    """Look up an activation by name; a clear ``ValueError`` for unknown names."""
    if isinstance(name, Activation):
        name = name.name
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        )
    act = ACTIVATIONS[name]
    if hidden and not act.hidden:
        raise ValueError(
            f"activation {name!r} is for the output layer only; hidden layers take one of "
            f"{list(HIDDEN_ACTIVATIONS)}"
        )
    return act
