"""Parameter updates as Numba kernels (serial and parallel variants).

Design
------
One pass over a parameter, in place, in contiguous chunks of ``CHUNK`` elements per parallel
task; every element is computed the same way in both variants, so the results do not depend
on the thread count. Scalars arrive as Python floats and are rounded once to the element type,
as in C.
"""

import numpy as np
from numba import prange

from ... import _numba_config as cfg
from .maths import const

__all__ = ["SGD", "ADAM", "CHUNK"]

CHUNK = 4096  # elements of an update per parallel task


def _sgd_update(param, grad, lr, velocity, momentum, mode, weight_decay):
    """mode 0: w -= lr (g + wd w); 1: heavy ball; 2: Nesterov. C-contiguous arrays, any ndim.

    Scalars arrive as Python floats and are rounded once to the element type, as in C.
    """
    w = param.reshape(-1)
    g = grad.reshape(-1)
    v = velocity.reshape(-1)
    a = const(w, lr)
    mu = const(w, momentum)
    wd = const(w, weight_decay)
    size = w.shape[0]
    for c in prange((size + CHUNK - 1) // CHUNK):
        i0 = c * CHUNK
        i1 = min(size, i0 + CHUNK)
        # slices indexed from 0: Numba's index checks then vanish and LLVM vectorises
        ws = w[i0:i1]
        gs = g[i0:i1]
        if mode == 0:  # the branch outside the element loop, for the same reason
            for i in range(ws.shape[0]):
                ws[i] -= a * (gs[i] + wd * ws[i])
        elif mode == 1:
            vs = v[i0:i1]
            for i in range(ws.shape[0]):
                vi = mu * vs[i] - a * (gs[i] + wd * ws[i])
                vs[i] = vi
                ws[i] += vi
        else:
            vs = v[i0:i1]
            for i in range(ws.shape[0]):
                gi = gs[i] + wd * ws[i]
                vi = mu * vs[i] - a * gi
                vs[i] = vi
                ws[i] += mu * vi - a * gi


def _adam_update(param, grad, m_, v_, beta_1, beta_2, step, inv_bc2, epsilon, weight_decay):
    """Adam with the bias corrections folded into ``step = lr / bc1`` and ``inv_bc2 = 1 / bc2``."""
    w = param.reshape(-1)
    g = grad.reshape(-1)
    m = m_.reshape(-1)
    v = v_.reshape(-1)
    b1 = const(w, beta_1)
    b2 = const(w, beta_2)
    ob1 = const(w, 1.0 - beta_1)
    ob2 = const(w, 1.0 - beta_2)
    st = const(w, step)
    ibc2 = const(w, inv_bc2)
    eps = const(w, epsilon)
    wd = const(w, weight_decay)
    size = w.shape[0]
    for c in prange((size + CHUNK - 1) // CHUNK):
        i0 = c * CHUNK
        i1 = min(size, i0 + CHUNK)
        ws = w[i0:i1]
        gs = g[i0:i1]
        ms = m[i0:i1]
        vs = v[i0:i1]
        for i in range(ws.shape[0]):
            gi = gs[i] + wd * ws[i]
            mi = b1 * ms[i] + ob1 * gi
            vi = b2 * vs[i] + ob2 * gi * gi
            ms[i] = mi
            vs[i] = vi
            ws[i] -= st * mi / (np.sqrt(vi * ibc2) + eps)


SGD = cfg.variants(_sgd_update, cfg.FASTMATH_EXACT)
ADAM = cfg.variants(_adam_update, cfg.FASTMATH_EXACT)
