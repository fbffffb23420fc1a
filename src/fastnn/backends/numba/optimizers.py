"""The optimizers' update rule as one Numba kernel (serial and parallel variants).

Design
------
One pass over a parameter, in place, in contiguous chunks of ``CHUNK`` elements per parallel
task; every element is computed the same way in both variants, so the results do not depend
on the thread count. Each optimizer is one case of ``_update`` (as in ``csrc/optim.template.c``),
chosen outside the element loop so that each loop vectorises. The hyperparameters arrive as the
fields of C's ``fnn_optimizer`` (``HYPER`` gives their order, ``hyper`` builds them from
``Optimizer.hyperparameters``) and are rounded once to the element type, as in C.
"""

import operator

import numpy as np
from numba import prange

from ... import _numba_config as cfg
from ...optim import OPTIMIZERS
from .maths import const, flat

__all__ = ["UPDATE", "CHUNK", "HYPER", "hyper"]

CHUNK = 4096  # elements of an update per parallel task
KIND = {name: cls.code for name, cls in OPTIMIZERS.items()}
SGD, ADAM, ADAMW = KIND["sgd"], KIND["adam"], KIND["adamw"]
HYPER = ("lr", "weight_decay", "momentum", "nesterov", "beta_1", "beta_2", "epsilon")
_hyper_values = operator.itemgetter(*HYPER)


def hyper(args):
    """(kind, the hyperparameters in ``HYPER`` order as floats, t) of ``args``."""
    return KIND[args["kind"]], tuple(map(float, _hyper_values(args))), int(args["t"])


def _update(param, grad, m_, v_, kind, h, t):
    """One step of optimizer ``kind`` (hyperparameters ``h``, ``t`` steps taken before) on
    ``param`` with its state ``m_``, ``v_`` (any arrays where unused). C-contiguous, any ndim."""
    w = flat(param)
    g = flat(grad)
    m = flat(m_)
    v = flat(v_)
    lr_d, wd_d, mu_d, nesterov, b1_d, b2_d, eps_d = h
    lr = const(w, lr_d)
    wd = const(w, wd_d)
    mu = const(w, mu_d)
    b1 = const(w, b1_d)
    b2 = const(w, b2_d)
    ob1 = const(w, 1.0 - b1_d)
    ob2 = const(w, 1.0 - b2_d)
    eps = const(w, eps_d)
    step = 1.0
    ibc2 = 1.0
    if kind == ADAM or kind == ADAMW:
        step = lr_d / (1.0 - b1_d ** (t + 1))
        ibc2 = 1.0 / (1.0 - b2_d ** (t + 1))
    st = const(w, step)
    ib = const(w, ibc2)
    size = w.shape[0]
    for c in prange((size + CHUNK - 1) // CHUNK):
        i0 = c * CHUNK
        i1 = min(size, i0 + CHUNK)
        # slices indexed from 0: Numba's index checks then vanish and LLVM vectorises
        ws = w[i0:i1]
        gs = g[i0:i1]
        if kind == SGD:
            if mu_d == 0.0:  # the branches outside the element loops, for the same reason
                for i in range(ws.shape[0]):
                    ws[i] -= lr * (gs[i] + wd * ws[i])
            elif nesterov == 0.0:
                vs = m[i0:i1]
                for i in range(ws.shape[0]):
                    vi = mu * vs[i] - lr * (gs[i] + wd * ws[i])
                    vs[i] = vi
                    ws[i] += vi
            else:
                vs = m[i0:i1]
                for i in range(ws.shape[0]):
                    gi = gs[i] + wd * ws[i]
                    vi = mu * vs[i] - lr * gi
                    vs[i] = vi
                    ws[i] += mu * vi - lr * gi
        elif kind == ADAM:
            ms = m[i0:i1]
            vs = v[i0:i1]
            for i in range(ws.shape[0]):
                gi = gs[i] + wd * ws[i]
                mi = b1 * ms[i] + ob1 * gi
                vi = b2 * vs[i] + ob2 * gi * gi
                ms[i] = mi
                vs[i] = vi
                ws[i] -= st * mi / (np.sqrt(vi * ib) + eps)
        elif kind == ADAMW:  # Adam with decoupled weight decay: w shrinks by lr wd first
            keep = const(w, 1.0 - lr_d * wd_d)
            ms = m[i0:i1]
            vs = v[i0:i1]
            for i in range(ws.shape[0]):
                mi = b1 * ms[i] + ob1 * gs[i]
                vi = b2 * vs[i] + ob2 * gs[i] * gs[i]
                ms[i] = mi
                vs[i] = vi
                ws[i] = ws[i] * keep - st * mi / (np.sqrt(vi * ib) + eps)


UPDATE = cfg.variants(_update, cfg.FASTMATH_EXACT)
