"""Whole epochs and whole-network inference, each one compiled Numba call.

Design
------
The epoch loop of ``csrc/train.template.c``, kernel for kernel, calling the SERIAL variants of
the layer, loss and update kernels: no Numba parallel region ever runs next to a multi-threaded
BLAS product (it would oversubscribe the cores, see ``_numba_config``). Products thread inside
BLAS (``np.dot``); the epilogues, loss and updates run on the calling thread. Layers of
different shapes arrive as two tuples, one of 2-D and one of 1-D arrays (homogeneous, so indexed
at run time), in the order documented in ``_train_epoch``: one compiled specialisation per depth
and dtype (cached on disk), and nothing to cache or invalidate per network. Tuples cost a call
what two numba typed Lists would; but a typed List is slow to build from Python (one compiled
append per array) and its methods are compiled again in every process, which no on-disk cache
keeps.
"""

import math

from ... import _numba_config as cfg
from .layers import BACKWARD, FORWARD, NO_ACTIVATION
from .loss import LOSS
from .maths import Act, flat
from .optimizers import UPDATE

__all__ = ["TRAIN_EPOCH", "PREDICT", "EPOCH_OK", "EPOCH_DIVERGED", "EPOCH_BAD_INDEX"]

_forward_serial = FORWARD[0]
_backward_serial = BACKWARD[0]
_loss_serial = LOSS[0]
_update_serial = UPDATE[0]

EPOCH_OK, EPOCH_DIVERGED, EPOCH_BAD_INDEX = 0, 1, 2


def _all_finite(a):
    x = flat(a)
    bad = False
    for i in range(x.shape[0]):
        bad |= not (x[i] - x[i] == 0)  # x - x is 0 when finite, NaN for inf and NaN
    return not bad


def _train_epoch(M, V, acts, zflags, loss, X, Y, indices, batch_size, kind, h, t, Xb, Yb,
                 row_risk):
    """One epoch as fnn_train_epoch; returns (status, mean loss, failed step, steps taken).

    ``M`` = W[0..L), A[0..L), D[0..L), dW[0..L), state1 of W[0..L), state2 of W[0..L),
    Z[0..L); ``V`` = b[0..L), db[0..L), state1 of b[0..L), state2 of b[0..L). ``zflags[l]`` is 1
    where layer l's activation has its derivative written from Z (which ``Z[l]`` then keeps).
    ``kind``, ``h``, ``t``: the optimizer, as ``optimizers.hyper`` gives it.
    """
    L = acts.shape[0]
    n = X.shape[0]
    n_idx = indices.shape[0]
    n_in = X.shape[1]
    n_out = Y.shape[1]
    for r in range(n_idx):
        if indices[r] < 0 or indices[r] >= n:
            return EPOCH_BAD_INDEX, 0.0, -1, t
    total = 0.0
    step = 0
    for start in range(0, n_idx, batch_size):
        s = min(batch_size, n_idx - start)
        for r in range(s):  # gather the batch
            i = indices[start + r]
            for j in range(n_in):
                Xb[r, j] = X[i, j]
            for j in range(n_out):
                Yb[r, j] = Y[i, j]
        xb = Xb[:s]
        # forward: hidden layers with their activation, the output layer's logits
        for l in range(L):
            a_prev = xb if l == 0 else M[L + l - 1][:s]
            keep_z = l < L - 1 and zflags[l] != 0
            _forward_serial(a_prev, M[l], V[l], Act.IDENTITY if l == L - 1 else acts[l],
                            M[L + l][:s], M[6 * L + l][:s] if keep_z else M[6 * L + l][:0])
        risk = _loss_serial(M[2 * L - 1][:s], Yb[:s], loss, acts[L - 1], zflags[L - 1] != 0,
                            M[3 * L - 1][:s], row_risk[:s])
        if not math.isfinite(risk):
            return EPOCH_DIVERGED, 0.0, step, t
        # the delta recursion
        for l in range(L - 1, -1, -1):
            # layer 0 has no D_prev (NO_ACTIVATION): its D_prev and X_deriv are not touched.
            # One call site, so that the kernel is compiled for a run-time code only.
            D = M[2 * L + l][:s]
            a_prev = xb if l == 0 else M[L + l - 1][:s]
            act_prev = NO_ACTIVATION if l == 0 else acts[l - 1]
            D_prev = D if l == 0 else M[2 * L + l - 1][:s]
            X_deriv = M[6 * L + l - 1][:s] if l > 0 and zflags[l - 1] != 0 else a_prev
            _backward_serial(a_prev, M[l], D, act_prev, M[3 * L + l], V[L + l], D_prev, X_deriv)
        for l in range(L):
            if not (_all_finite(M[3 * L + l]) and _all_finite(V[L + l])):
                return EPOCH_DIVERGED, 0.0, step, t
        # the update: weight decay on the weights only
        h_bias = (h[0], 0.0, h[2], h[3], h[4], h[5], h[6])
        for l in range(L):
            _update_serial(M[l], M[3 * L + l], M[4 * L + l], M[5 * L + l], kind, h, t)
            _update_serial(V[l], V[L + l], V[2 * L + l], V[3 * L + l], kind, h_bias, t)
        t += 1
        total += risk * s
        step += 1
    return EPOCH_OK, (total / n_idx if n_idx else 0.0), -1, t


def _predict(W, b, acts, X, out, s0, s1):
    """``out`` = the network's output for ``X``; hidden outputs alternate between the 1-D
    scratch buffers ``s0`` and ``s1`` (each of at least m * widest hidden layer elements)."""
    L = acts.shape[0]
    m = X.shape[0]
    no_z = out[:0]
    if L == 1:
        _forward_serial(X, W[0], b[0], acts[0], out, no_z)
        return
    h = s0[:m * W[0].shape[1]].reshape(m, W[0].shape[1])
    _forward_serial(X, W[0], b[0], acts[0], h, no_z)
    for l in range(1, L):
        if l == L - 1:
            _forward_serial(h, W[l], b[l], acts[l], out, no_z)
        else:
            buf = s1 if l % 2 else s0
            nxt = buf[:m * W[l].shape[1]].reshape(m, W[l].shape[1])
            _forward_serial(h, W[l], b[l], acts[l], nxt, no_z)
            h = nxt


_all_finite = cfg.jit(_all_finite)
TRAIN_EPOCH = cfg.jit(_train_epoch, fastmath=cfg.FASTMATH_EXACT)
PREDICT = cfg.jit(_predict, fastmath=cfg.FASTMATH_EXACT)
