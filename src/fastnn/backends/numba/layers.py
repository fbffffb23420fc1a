"""One dense layer, forward and backward, as Numba kernels (serial and parallel variants).

Design
------
The product is ``np.dot`` inside ``@njit`` (SciPy's BLAS, with the transposes ``A_prev.T`` /
``W.T`` passed as flags, no copy); right after it, one pass over the output rows (still in L2)
adds the bias and applies the activation, or multiplies the derivative, a block of rows per
call and per parallel task (``row_blocks``). ``db`` is the column sum
of ``D`` in the same kernel as ``dW``, each parallel task owning a block of columns and summing
the rows in order, so every thread count gives the same sums.
"""

import numpy as np
from numba import prange

from ... import _numba_config as cfg
from .maths import Act, act1, const, dact1, expneg, row_blocks, unswitched

__all__ = ["FORWARD", "BACKWARD", "NO_ACTIVATION"]

NO_ACTIVATION = -1  # dense_backward of the first layer: no D_prev
COL_BLOCK = 64  # columns of db per parallel task


def _act_rows(act, args):
    """``C[i] = act(C[i] + b)`` for the rows ``i0 <= i < i1`` (act not softmax), keeping
    ``Z[i] = C[i] + b`` when ``Z`` has rows."""
    C, b, Z, i0, i1 = args
    for i in range(i0, i1):
        c = C[i]
        if Z.shape[0]:
            z = Z[i]
            for j in range(c.shape[0]):
                z[j] = c[j] + b[j]
            for j in range(c.shape[0]):
                c[j] = act1(act, z[j])
        else:
            for j in range(c.shape[0]):
                c[j] = act1(act, c[j] + b[j])


def _softmax_rows(C, b, i0, i1):
    """``C[i] = softmax(C[i] + b)``, max-subtracted, for the rows ``i0 <= i < i1``."""
    n = C.shape[1]
    for i in range(i0, i1):
        c = C[i]
        for j in range(n):
            c[j] = c[j] + b[j]
        mx = c[0]
        for j in range(1, n):
            mx = c[j] if c[j] > mx else mx
        s = const(c, 0.0)
        for j in range(n):
            e = expneg(c[j] - mx)
            c[j] = e
            s += e
        s = const(c, 1.0) / s
        for j in range(n):
            c[j] *= s


def _deriv_rows(act, args):
    """``C[i] *= act'(X[i])`` for the rows ``i0 <= i < i1``, ``X`` the layer's output (or its
    input, for a ``needs_z`` row)."""
    C, X, i0, i1 = args
    for i in range(i0, i1):
        c = C[i]
        x = X[i]
        for j in range(c.shape[0]):
            c[j] = c[j] * dact1(act, x[j])


def _dense_forward(X, W, b, act, out, Z):
    """``out = act(X @ W + b)``, and ``Z = X @ W + b`` when ``Z`` has rows."""
    m = out.shape[0]
    if m == 0 or out.shape[1] == 0:
        return
    np.dot(X, W, out)  # BLAS; k = 0 gives zeros
    rows, blocks = row_blocks(m, out.shape[1])
    for blk in prange(blocks):
        i0 = blk * rows
        i1 = min(i0 + rows, m)
        if act == Act.SOFTMAX:
            softmax_rows(out, b, i0, i1)
        else:
            act_rows(act, (out, b, Z, i0, i1))


def _dense_backward(A_prev, W, D, act_prev, dW, db, D_prev, X_deriv):
    """``dW``, ``db`` and (``act_prev >= 0``) ``D_prev = (D @ W.T) * act_prev'(X_deriv)``, where
    ``X_deriv`` is ``A_prev``, or the previous layer's ``Z`` for a ``needs_z`` activation."""
    m = D.shape[0]
    n_out = D.shape[1]
    n_in = A_prev.shape[1]
    if n_in > 0 and n_out > 0:
        np.dot(A_prev.T, D, dW)  # BLAS splits dW into blocks of its own; m = 0 gives zeros
    zero = const(db, 0.0)
    for blk in prange((n_out + COL_BLOCK - 1) // COL_BLOCK):  # db: each task owns its columns
        j0 = blk * COL_BLOCK
        j1 = min(j0 + COL_BLOCK, n_out)
        acc = db[j0:j1]
        for j in range(acc.shape[0]):
            acc[j] = zero
        for i in range(m):  # rows in order: the same sums for any thread count
            row = D[i, j0:j1]
            for j in range(acc.shape[0]):
                acc[j] += row[j]
    if act_prev >= 0 and m > 0 and n_in > 0:
        np.dot(D, W.T, D_prev)
        if act_prev != Act.IDENTITY:
            rows, blocks = row_blocks(m, n_in)
            for blk in prange(blocks):
                i0 = blk * rows
                deriv_rows(act_prev, (D_prev, X_deriv, i0, min(i0 + rows, m)))


# the row loops, one compiled copy per activation (maths.unswitched), shared by the kernels
act_rows = unswitched(_act_rows, cfg.FASTMATH_PRODUCT)
deriv_rows = unswitched(_deriv_rows, cfg.FASTMATH_PRODUCT)
softmax_rows = cfg.jit(_softmax_rows, fastmath=cfg.FASTMATH_PRODUCT)

FORWARD = cfg.variants(_dense_forward, cfg.FASTMATH_PRODUCT)
BACKWARD = cfg.variants(_dense_backward, cfg.FASTMATH_PRODUCT)
