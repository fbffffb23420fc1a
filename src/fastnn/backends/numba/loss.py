"""The fused loss value and output delta as a Numba kernel (``csrc/loss.template.c``'s maths).

Design
------
A block of rows per ``prange`` iteration (``row_blocks``): the output activation into ``D``, then
the delta in place. The classic pairs (mse + identity, binary_cross_entropy + sigmoid, cross_entropy
+ softmax) are computed from the logits; any other pair by the general chain rule, with the loss
gradient ``g = d loss_i / dA`` written once (``_grad``). Each row's risk goes to ``row_risk`` in
float64 and is summed serially afterwards, so every thread count gives the same value. The losses
use double-precision libm (``math.log`` / ``log1p`` / ``exp``) exactly as the C kernel does.
"""

import math

from numba import prange

from ... import _numba_config as cfg
from ...losses import LOSSES
from .maths import Act, act1, const, dact1, eps, row_blocks, unswitched

__all__ = ["LOSS"]

MSE = LOSSES["mse"].code
BCE = LOSSES["binary_cross_entropy"].code
CE = LOSSES["cross_entropy"].code


def _grad(loss, a, y, e, one):
    """(d loss_i / da, loss_i's term) for one output ``a`` with target ``y``; ``e`` the type's
    epsilon, which the logs clip ``a`` by."""
    if loss == MSE:
        return (one + one) * (a - y), (float(a) - y) * (float(a) - y)
    c = e if a < e else (one - e if a > one - e else a)
    if loss == BCE:
        return (c - y) / (c * (one - c)), -(y * math.log(float(c))
                                            + (one - y) * math.log1p(-float(c)))
    return -y / c, -(y * math.log(float(c)))


def _act_rows(act, args):
    """``D[i] = act(Z[i])`` for the rows ``i0 <= i < i1``; unless ``fused``, then ``D[i] =
    dloss/da * act'(a or z) / m`` and ``row_risk[i]`` = the row's loss."""
    loss, Z, Y, D, row_risk, fused, needs_z, e, one, inv_m, i0, i1 = args
    for i in range(i0, i1):
        z = Z[i]
        d = D[i]
        for j in range(z.shape[0]):
            d[j] = act1(act, z[j])
        if not fused:
            y = Y[i]
            row = 0.0
            for j in range(z.shape[0]):
                g, term = _grad(loss, d[j], y[j], e, one)
                row += term
                d[j] = g * dact1(act, z[j] if needs_z else d[j]) * inv_m
            row_risk[i] = row


def _loss_delta(Z, Y, loss, act, needs_z, D, row_risk):
    """D = dR/dZ and row_risk[i] = loss_i, as csrc/loss.template.c; returns sum(row_risk) / m.
    ``needs_z``: the output activation's derivative is written from Z."""
    m = Z.shape[0]
    n = Z.shape[1]
    one = const(D, 1.0)
    inv_m = const(D, 1.0 / m)
    e = eps(D)
    fused = ((loss == MSE and act == Act.IDENTITY) or (loss == BCE and act == Act.SIGMOID)
             or (loss == CE and act == Act.SOFTMAX))
    rows, blocks = row_blocks(m, n)
    for blk in prange(blocks):
        i0 = blk * rows
        i1 = min(i0 + rows, m)
        if act != Act.SOFTMAX:
            act_rows(act, (loss, Z, Y, D, row_risk, fused, needs_z, e, one, inv_m, i0, i1))
        if act == Act.SOFTMAX or fused:
            for i in range(i0, i1):
                z = Z[i]
                y = Y[i]
                d = D[i]
                row = 0.0
                if act == Act.SOFTMAX:
                    zmax = z[0]
                    for j in range(1, n):
                        zmax = z[j] if z[j] > zmax else zmax
                    total = 0.0
                    for j in range(n):
                        d[j] = math.exp(float(z[j] - zmax))
                        total += d[j]
                    for j in range(n):
                        d[j] = d[j] / total
                    if fused:  # logsumexp(z) sum(y) - <y, z>
                        ysum = 0.0
                        yz = 0.0
                        for j in range(n):
                            ysum += y[j]
                            yz += float(y[j]) * z[j]
                        row = (float(zmax) + math.log(total)) * ysum - yz
                if fused:
                    scale = (one + one) * inv_m if loss == MSE else inv_m
                    for j in range(n):
                        zj = float(z[j])
                        yj = float(y[j])
                        if loss == MSE:
                            row += (zj - yj) * (zj - yj)
                        elif loss == BCE:
                            row += max(zj, 0.0) - zj * yj + math.log1p(math.exp(-abs(zj)))
                        d[j] = (d[j] - y[j]) * scale
                else:  # softmax with another loss: D = A (g - <g, A>) / m, g recomputed
                    ga = 0.0
                    for j in range(n):
                        g, term = _grad(loss, d[j], y[j], e, one)
                        row += term
                        ga += float(g) * d[j]
                    for j in range(n):
                        g, term = _grad(loss, d[j], y[j], e, one)
                        d[j] = d[j] * (float(g) - ga) * inv_m
                row_risk[i] = row
    risk = 0.0
    for i in range(m):  # serial, in row order: the same sum for any thread count
        risk += row_risk[i]
    return risk / m


_grad = cfg.jit(_grad)
act_rows = unswitched(_act_rows, cfg.FASTMATH_EXACT)
LOSS = cfg.variants(_loss_delta, cfg.FASTMATH_EXACT)
