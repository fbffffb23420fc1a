"""Losses: one table keyed by name, with the NumPy reference math.

Design
------
The risk of a batch is ``R_n = (1/n) sum_i loss_i``. Every loss is evaluated from the *logits*
``Z`` of the output layer together with its output activation, so that the classic pairs are
computed stably and their output delta ``dR/dZ`` is the fused one of DESIGN.md:

    mse                  + identity   loss_i = ||z - y||^2                    delta 2(A - Y)/n
    binary_cross_entropy + sigmoid    loss_i = sum max(z,0) - z y + log1p(e^-|z|)   delta (A - Y)/n
    cross_entropy        + softmax    loss_i = logsumexp(z) - <y, z>         delta (A - Y)/n

Any other pairing goes through the general chain rule: ``A = act(Z)``, the loss from ``A`` (with
``A`` clipped away from 0 and 1 by the dtype's epsilon where a log needs it) and
``dR/dZ = act.backward(A, dR/dA)``.

The integer ``code`` is what the compiled kernels switch on (``FNN_LOSS_*`` in csrc).
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .activations import get_activation

__all__ = ["LOSSES", "Loss", "get_loss", "loss_and_delta"]


def _clip01(A):
    eps = np.finfo(A.dtype).eps
    return np.clip(A, eps, 1 - eps)


# -- fused pairs: per-batch sums of loss_i, computed from the logits --------------------------


def _mse_fused(Z, Y):
    return np.sum(np.square(Z - Y))


def _bce_fused(Z, Y):
    return np.sum(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z))))


def _ce_fused(Z, Y):
    zmax = Z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.sum(np.exp(Z - zmax), axis=1))
    return np.sum(lse * Y.sum(axis=1)) - np.sum(Y * Z)


# -- general pairs: sums of loss_i and dloss_i/dA from the activations ------------------------


def _mse_value(A, Y):
    return np.sum(np.square(A - Y))


def _mse_grad(A, Y):
    return 2 * (A - Y)


def _bce_value(A, Y):
    A = _clip01(A)
    return -np.sum(Y * np.log(A) + (1 - Y) * np.log1p(-A))


def _bce_grad(A, Y):
    A = _clip01(A)
    return (A - Y) / (A * (1 - A))


def _ce_value(A, Y):
    return -np.sum(Y * np.log(_clip01(A)))


def _ce_grad(A, Y):
    return -Y / _clip01(A)


@dataclass(frozen=True)
class Loss:
    """One row of the loss table."""

    name: str
    code: int  # FNN_LOSS_<NAME> in csrc
    fused_activation: str  # the output activation whose delta is fused
    delta_scale: float  # fused delta = delta_scale * (A - Y) / n
    fused_value: Callable  # sum of loss_i from the logits, for the fused pair
    value: Callable  # sum of loss_i from the activations, any other pair
    grad: Callable  # d(sum of loss_i)/dA, any other pair


LOSSES = {
    loss.name: loss
    for loss in (
        Loss("mse", 0, "identity", 2.0, _mse_fused, _mse_value, _mse_grad),
        Loss("binary_cross_entropy", 1, "sigmoid", 1.0, _bce_fused, _bce_value, _bce_grad),
        Loss("cross_entropy", 2, "softmax", 1.0, _ce_fused, _ce_value, _ce_grad),
    )
}


def get_loss(name):
    """Look up a loss by name; a clear ``ValueError`` for unknown names."""
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name]


def loss_and_delta(Z, Y, loss, activation, D=None):
    """Reference: the risk ``R_n`` and ``D = dR/dZ`` for logits ``Z`` and targets ``Y``.

    Parameters
    ----------
    Z : ndarray of shape (n, m)
        Logits of the output layer (``A[L-1] @ W[L] + b[L]``).
    Y : ndarray of shape (n, m)
        Targets, same dtype as ``Z`` (one-hot rows for cross_entropy).
    loss, activation : str
        Names from ``LOSSES`` and ``ACTIVATIONS``.
    D : ndarray of shape (n, m), optional
        Written with the delta when given.

    Returns
    -------
    risk : float
    D : ndarray of shape (n, m)
    A : ndarray of shape (n, m)
        The output activations ``act(Z)``.
    """
    loss = get_loss(loss)
    act = get_activation(activation)
    n = Z.shape[0]
    A = act.forward(Z)
    # e^-|z| and tiny products may round to 0 (underflow): that is the intended value, and the
    # compiled kernels do the same without a word
    with np.errstate(under="ignore"):
        if act.name == loss.fused_activation:
            risk = loss.fused_value(Z, Y) / n
            delta = (A - Y) * (loss.delta_scale / n)
        else:
            risk = loss.value(A, Y) / n
            delta = act.backward(A, loss.grad(A, Y) / n, Z)
    if D is None:
        D = np.empty_like(Z)
    D[...] = delta
    return float(risk), D, A
