"""The Numba backend: the kernel contract compiled by Numba, no compiler needed at install time.

Design
------
Compiled functions start with ``_`` and check nothing; ``NumbaBackend`` (whose arguments the
Python boundary in ``fastnn.kernels`` / ``fastnn.Network`` has already checked and converted)
picks the variant and calls them. Every flag comes from ``fastnn._numba_config``.

* Products. The GEMM core is ``np.dot`` inside ``@njit`` (Numba calls the BLAS of SciPy through
  ``scipy.linalg.cython_blas``, with the transposes ``A_prev.T`` / ``W.T`` passed as flags, no
  copy). It is several times faster than register-blocked ``@njit`` loops on the MLP shapes and
  no slower on tiny ones (there both cost the call), so it is used for every shape.
  BLAS threads itself; training limits it to fastnn's thread count through threadpoolctl.
* Fused epilogues. Right after the product, one pass over the output rows (still in L2) adds the
  bias and applies the activation (``dense_forward``) or multiplies the derivative taken from
  ``A_prev`` (``dense_backward``); ``db`` is the column sum of ``D`` in the same kernel as ``dW``.
  ``exp`` / ``tanh`` / ``sigmoid`` are computed as in csrc/epilogue.template.c (Cody-Waite
  reduction, polynomial, 2^n assembled in the exponent bits), which LLVM vectorises; libm's
  scalar ``tanhf`` costs ~20 ns per element and would dominate a 32x64x128 tanh layer.
* Serial and parallel variants come from ONE Python function (``_variants``): the parallel one is
  the same body compiled with ``parallel=True``, where ``prange`` splits rows (epilogues, loss) or
  contiguous chunks (updates) or column blocks (``db``) across threads. Each thread writes only
  its own rows / columns / chunk, and every element is computed in the same order in both
  variants, so results are bitwise identical for any thread count. The loss writes one float64
  risk per row, summed serially afterwards. Small work takes the serial variant (thresholds in
  ``_numba_config``): a parallel region costs microseconds.
* dtype. Every kernel is generic over float32 / float64; arithmetic stays in the element type
  (constants are typed through ``_const``), the risk is accumulated in float64, and the losses
  use double-precision libm exactly as csrc/loss.template.c does.
* Threads. ``get_num_threads()`` is read on every call that may go parallel and Numba's own
  setting is synchronised with it (``numba.set_num_threads`` is per calling thread, so a kernel
  run from another Python thread still gets the right count).
* Whole networks. ``train_epoch`` runs an entire epoch in ONE compiled call (``TRAIN_EPOCH``:
  gather, forward, fused loss, delta recursion, finite checks, SGD/Adam update for every
  minibatch, as csrc/train.template.c) and ``predict`` all layers in one (``PREDICT``). Both
  call the serial kernel variants only, and never a ``prange`` region: a Numba parallel region
  right after a multi-threaded BLAS product (whose threads spin-wait after each call)
  oversubscribes the cores; the products still thread, inside BLAS. Layers travel as tuples (one
  specialisation per depth and dtype, cached on disk; see the notes above ``TRAIN_EPOCH``).
* ``warmup()`` compiles (or loads from the on-disk cache) every kernel for both dtypes.
"""

import math
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic, overload

import scipy.linalg.cython_blas  # noqa: F401  np.dot inside @njit needs SciPy's BLAS

from .. import _config
from .. import _numba_config as cfg
from .._config import get_num_threads
from ..activations import ACTIVATIONS
from ..losses import LOSSES
from ..optim import SGD as SGDOptimizer
from ..optim import Adam
from .base import Backend, Workspace, diverged

__all__ = ["NumbaBackend", "warmup"]

IDENTITY = ACTIVATIONS["identity"].code
RELU = ACTIVATIONS["relu"].code
SIGMOID = ACTIVATIONS["sigmoid"].code
TANH = ACTIVATIONS["tanh"].code
STEP = ACTIVATIONS["step"].code
SOFTMAX = ACTIVATIONS["softmax"].code
MSE = LOSSES["mse"].code
BCE = LOSSES["binary_cross_entropy"].code
CE = LOSSES["cross_entropy"].code
NO_ACTIVATION = -1  # dense_backward of the first layer: no D_prev

if _config._global is not None:
    # fastnn.set_num_threads ran before SciPy's BLAS (a library of its own, beside NumPy's) was
    # loaded by the import above: apply the limit to it too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=_config._global, user_api="blas")

COL_BLOCK = 64  # columns of db per parallel task
CHUNK = 4096  # elements of an update per parallel task


# -- scalar helpers, specialised per dtype ------------------------------------------------------


@intrinsic
def _f32_from_bits(typingctx, bits):
    if bits != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _f64_from_bits(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


def _const(a, value):
    """``value`` in the element type of the array ``a`` (a compile-time constant)."""


@overload(_const, inline="always")
def _const_impl(a, value):
    if isinstance(a, types.Array) and a.dtype == types.float32:
        return lambda a, value: np.float32(value)
    return lambda a, value: np.float64(value)


def _eps(a):
    """The machine epsilon of the element type of the array ``a``."""


@overload(_eps, inline="always")
def _eps_impl(a):
    e = np.finfo(np.float32 if a.dtype == types.float32 else np.float64).eps
    return lambda a: e


def _expneg(x):
    """``exp(x)`` for ``x <= 0`` (NaN propagates); 0 below -87 (float) / -708 (double)."""


# csrc/epilogue.template.c, constant for constant
_F32 = dict(lo=np.float32(-87.0), magic=np.float32(12582912.0),
            log2e=np.float32(1.4426950408889634), ln2_hi=np.float32(0.693359375),
            ln2_lo=np.float32(-2.12194440e-4))
_P32 = tuple(np.float32(c) for c in (1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0))
_F64 = dict(lo=-708.0, magic=6755399441055744.0, log2e=1.4426950408889634,
            ln2_hi=6.93147180369123816490e-01, ln2_lo=1.90821492927058770002e-10)
_P64 = (1 / 6227020800, 1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320,
        1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0)


@overload(_expneg, inline="always")
def _expneg_impl(x):
    if x == types.float32:
        lo, magic, log2e, hi, lo2 = (_F32[k] for k in ("lo", "magic", "log2e", "ln2_hi", "ln2_lo"))
        c0, c1, c2, c3, c4, c5, c6, c7 = _P32
        bias = np.int32(127)

        def impl(x):
            xc = lo if x < lo else x
            kf = xc * log2e + magic
            nf = kf - magic
            r = xc - nf * hi
            r = r - nf * lo2
            scale = _f32_from_bits(np.int32((np.int32(nf) + bias) << 23))
            p = c0
            p = p * r + c1
            p = p * r + c2
            p = p * r + c3
            p = p * r + c4
            p = p * r + c5
            p = p * r + c6
            p = p * r + c7
            y = p * scale
            return np.float32(0.0) if x < lo else y

        return impl
    if x == types.float64:
        lo, magic, log2e, hi, lo2 = (_F64[k] for k in ("lo", "magic", "log2e", "ln2_hi", "ln2_lo"))
        c = _P64

        def impl(x):
            xc = lo if x < lo else x
            kf = xc * log2e + magic
            nf = kf - magic
            r = xc - nf * hi
            r = r - nf * lo2
            scale = _f64_from_bits(np.int64((np.int64(nf) + 1023) << 52))
            p = c[0]
            p = p * r + c[1]
            p = p * r + c[2]
            p = p * r + c[3]
            p = p * r + c[4]
            p = p * r + c[5]
            p = p * r + c[6]
            p = p * r + c[7]
            p = p * r + c[8]
            p = p * r + c[9]
            p = p * r + c[10]
            p = p * r + c[11]
            p = p * r + c[12]
            p = p * r + c[13]
            y = p * scale
            return 0.0 if x < lo else y

        return impl
    return None


_T32 = tuple(np.float32(c) for c in (
    -0.0014558343870513183, 0.003592128036572481, -0.008863235529902197, 0.021869488536155203,
    -0.05396825396825397, 0.13333333333333333, -0.3333333333333333))
_T64 = (2.6147711512907546e-06, -6.451689215655431e-06, 1.5918905069328964e-05,
        -3.927832388331683e-05, 9.691537956929451e-05, -0.00023912911424355248,
        0.000590027440945586, -0.0014558343870513183, 0.003592128036572481,
        -0.008863235529902197, 0.021869488536155203, -0.05396825396825397,
        0.13333333333333333, -0.3333333333333333)


def _tanh1(z):
    """``tanh(z)``: Taylor for |z| < 0.4, else sign(z) (1-t)/(1+t) with t = exp(-2|z|)."""


@overload(_tanh1, inline="always")
def _tanh1_impl(z):
    if z not in (types.float32, types.float64):
        return None
    coef = _T32 if z == types.float32 else _T64
    T = np.float32 if z == types.float32 else np.float64
    one, two, cut = T(1), T(-2), T(0.4)

    def impl(z):
        az = -z if z < 0 else z
        z2 = z * z
        p = coef[0]
        for q in range(1, len(coef)):
            p = p * z2 + coef[q]
        small = z * z2 * p + z
        t = _expneg(two * az)
        big = (one - t) / (one + t)
        big = -big if z < 0 else big
        return small if az < cut else big

    return impl


def _sigmoid1(z):
    """``1/(1+e^-z)``, stable for any ``z``: ``e = exp(-|z|)`` never overflows."""


@overload(_sigmoid1, inline="always")
def _sigmoid1_impl(z):
    if z not in (types.float32, types.float64):
        return None
    one = np.float32(1) if z == types.float32 else 1.0

    def impl(z):
        az = -z if z < 0 else z
        e = _expneg(-az)
        s = one / (one + e)
        return e * s if z < 0 else s

    return impl



# -- kernels: one Python body each, compiled serial and parallel ---------------------------------


def _act_row(act, c, b):
    """``c = act(c + b)`` for one output row; ``act`` is not softmax."""
    n = c.shape[0]
    zero = _const(c, 0.0)
    one = _const(c, 1.0)
    if act == RELU:
        for j in range(n):
            v = c[j] + b[j]
            c[j] = zero if v < zero else v  # NaN stays NaN
    elif act == SIGMOID:
        for j in range(n):
            c[j] = _sigmoid1(c[j] + b[j])
    elif act == TANH:
        for j in range(n):
            c[j] = _tanh1(c[j] + b[j])
    elif act == STEP:
        for j in range(n):
            c[j] = one if c[j] + b[j] > zero else zero
    else:
        for j in range(n):
            c[j] = c[j] + b[j]


def _softmax_row(c, b):
    """``c = softmax(c + b)``, max-subtracted."""
    n = c.shape[0]
    for j in range(n):
        c[j] = c[j] + b[j]
    mx = c[0]
    for j in range(1, n):
        mx = c[j] if c[j] > mx else mx
    s = _const(c, 0.0)
    for j in range(n):
        e = _expneg(c[j] - mx)
        c[j] = e
        s += e
    s = _const(c, 1.0) / s
    for j in range(n):
        c[j] *= s


def _deriv_row(act, c, a):
    """``c *= act'(a)``, the derivative written from the output ``a``."""
    n = c.shape[0]
    zero = _const(c, 0.0)
    one = _const(c, 1.0)
    if act == RELU:
        for j in range(n):
            c[j] = c[j] * (one if a[j] > zero else zero)
    elif act == SIGMOID:
        for j in range(n):
            c[j] = c[j] * (a[j] * (one - a[j]))
    elif act == TANH:
        for j in range(n):
            c[j] = c[j] * (one - a[j] * a[j])
    elif act == STEP:
        for j in range(n):
            c[j] = c[j] * zero  # NaN stays NaN, as in the reference


def _dense_forward(X, W, b, act, out):
    m = out.shape[0]
    if m == 0 or out.shape[1] == 0:
        return
    np.dot(X, W, out)  # BLAS; k = 0 gives zeros
    if act == SOFTMAX:
        for i in prange(m):
            _softmax_row(out[i], b)
    else:
        for i in prange(m):
            _act_row(act, out[i], b)


def _dense_backward(A_prev, W, D, act_prev, dW, db, D_prev):
    m = D.shape[0]
    n_out = D.shape[1]
    n_in = A_prev.shape[1]
    if n_in > 0 and n_out > 0:
        np.dot(A_prev.T, D, dW)  # BLAS splits dW into blocks of its own; m = 0 gives zeros
    zero = _const(db, 0.0)
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
        if act_prev != IDENTITY:
            for i in prange(m):
                _deriv_row(act_prev, D_prev[i], A_prev[i])


def _loss_act(act, z):
    if act == RELU:
        return z if z > 0 else z * 0
    if act == SIGMOID:
        e = math.exp(-abs(float(z)))
        return e / (1.0 + e) if z < 0 else 1.0 / (1.0 + e)
    if act == TANH:
        return math.tanh(float(z))
    if act == STEP:
        return 1.0 if z > 0 else 0.0
    return z


def _loss_dact(act, a, one):
    zero = one - one
    if act == RELU:
        return one if a > zero else zero
    if act == SIGMOID:
        return a * (one - a)
    if act == TANH:
        return one - a * a
    if act == STEP:
        return zero
    return one


def _loss_delta(Z, Y, loss, act, D, row_risk):
    """D = dR/dZ and row_risk[i] = loss_i, as csrc/loss.template.c; returns sum(row_risk) / m."""
    m = Z.shape[0]
    n = Z.shape[1]
    one = _const(D, 1.0)
    inv_m = _const(D, 1.0 / m)
    eps = _eps(D)
    fused = ((loss == MSE and act == IDENTITY) or (loss == BCE and act == SIGMOID)
             or (loss == CE and act == SOFTMAX))
    for i in prange(m):
        z = Z[i]
        y = Y[i]
        d = D[i]
        row = 0.0
        if act == SOFTMAX:
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
        else:
            for j in range(n):
                d[j] = _loss_act(act, z[j])
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
        else:
            ga = 0.0
            for j in range(n):  # g = d loss_i / dA (and loss_i into row)
                a = d[j]
                yj = y[j]
                if loss == MSE:
                    row += (float(a) - yj) * (float(a) - yj)
                    g = (one + one) * (a - yj)
                else:
                    c = eps if a < eps else (one - eps if a > one - eps else a)
                    if loss == BCE:
                        row -= yj * math.log(float(c)) + (one - yj) * math.log1p(-float(c))
                        g = (c - yj) / (c * (one - c))
                    else:
                        row -= yj * math.log(float(c))
                        g = -yj / c
                if act == SOFTMAX:
                    ga += float(g) * a
                else:
                    d[j] = g * _loss_dact(act, a, one) * inv_m
            if act == SOFTMAX:  # D = A (g - <g, A>) / m, g recomputed
                for j in range(n):
                    a = d[j]
                    yj = y[j]
                    if loss == MSE:
                        g = (one + one) * (a - yj)
                    else:
                        c = eps if a < eps else (one - eps if a > one - eps else a)
                        g = (c - yj) / (c * (one - c)) if loss == BCE else -yj / c
                    d[j] = a * (float(g) - ga) * inv_m
        row_risk[i] = row
    risk = 0.0
    for i in range(m):  # serial, in row order: the same sum for any thread count
        risk += row_risk[i]
    return risk / m


def _sgd_update(param, grad, lr, velocity, momentum, mode, weight_decay):
    """mode 0: w -= lr (g + wd w); 1: heavy ball; 2: Nesterov. C-contiguous arrays, any ndim.

    Scalars arrive as Python floats and are rounded once to the element type, as in C.
    """
    w = param.reshape(-1)
    g = grad.reshape(-1)
    v = velocity.reshape(-1)
    a = _const(w, lr)
    mu = _const(w, momentum)
    wd = _const(w, weight_decay)
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
    b1 = _const(w, beta_1)
    b2 = _const(w, beta_2)
    ob1 = _const(w, 1.0 - beta_1)
    ob2 = _const(w, 1.0 - beta_2)
    st = _const(w, step)
    ibc2 = _const(w, inv_bc2)
    eps = _const(w, epsilon)
    wd = _const(w, weight_decay)
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


# row helpers are inlined into the kernels (Numba compiles them once per dtype)
_act_row = cfg.jit(_act_row, fastmath=cfg.FASTMATH_PRODUCT)
_softmax_row = cfg.jit(_softmax_row, fastmath=cfg.FASTMATH_PRODUCT)
_deriv_row = cfg.jit(_deriv_row, fastmath=cfg.FASTMATH_PRODUCT)
_loss_act = cfg.jit(_loss_act)
_loss_dact = cfg.jit(_loss_dact)


def _variants(func, fastmath):
    """(serial, parallel) compiled copies of one Python function."""
    name = func.__name__
    return (cfg.jit(func, fastmath=fastmath, name=name + "_serial"),
            cfg.jit(func, fastmath=fastmath, parallel=True, name=name + "_parallel"))


FORWARD = _variants(_dense_forward, cfg.FASTMATH_PRODUCT)
BACKWARD = _variants(_dense_backward, cfg.FASTMATH_PRODUCT)
LOSS = _variants(_loss_delta, cfg.FASTMATH_EXACT)
SGD = _variants(_sgd_update, cfg.FASTMATH_EXACT)
ADAM = _variants(_adam_update, cfg.FASTMATH_EXACT)


# -- whole epochs and whole networks: one compiled call each --------------------------------------
#
# The epoch loop of csrc/train.template.c, kernel for kernel, calling the SERIAL variants above:
# no Numba parallel region ever runs next to a multi-threaded BLAS product (it would
# oversubscribe the cores, see _numba_config). Products thread inside BLAS (np.dot), the
# epilogues, loss and updates run on the calling thread. Layers of different shapes arrive as
# two tuples, one of 2-D and one of 1-D arrays (homogeneous, so indexed at run time), in the
# order documented in _train_epoch: one compiled specialisation per depth and dtype (cached on
# disk), and nothing to cache or invalidate per network. Tuples cost a call what two numba
# typed Lists would; but a typed List is slow to build from Python (one compiled append per
# array) and its methods are compiled again in every process, which no on-disk cache keeps.

_forward_serial = FORWARD[0]
_backward_serial = BACKWARD[0]
_loss_serial = LOSS[0]
_sgd_serial = SGD[0]
_adam_serial = ADAM[0]

EPOCH_OK, EPOCH_DIVERGED, EPOCH_BAD_INDEX = 0, 1, 2


def _all_finite(a):
    x = a.reshape(-1)
    bad = False
    for i in range(x.shape[0]):
        bad |= not (x[i] - x[i] == 0)  # x - x is 0 when finite, NaN for inf and NaN
    return not bad


def _train_epoch(M, V, acts, loss, X, Y, indices, batch_size, kind, lr, weight_decay,
                 momentum, mode, beta_1, beta_2, epsilon, t, Xb, Yb, row_risk):
    """One epoch as fnn_train_epoch; returns (status, mean loss, failed step, Adam's t).

    ``M`` = W[0..L), A[0..L), D[0..L), dW[0..L), state1 of W[0..L), state2 of W[0..L);
    ``V`` = b[0..L), db[0..L), state1 of b[0..L), state2 of b[0..L). ``kind`` 0 is SGD (``mode``
    0 plain, 1 heavy ball, 2 Nesterov; state1 = velocity), 1 is Adam (state1 = m, state2 = v).
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
            _forward_serial(a_prev, M[l], V[l], IDENTITY if l == L - 1 else acts[l],
                            M[L + l][:s])
        risk = _loss_serial(M[2 * L - 1][:s], Yb[:s], loss, acts[L - 1], M[3 * L - 1][:s],
                            row_risk[:s])
        if not math.isfinite(risk):
            return EPOCH_DIVERGED, 0.0, step, t
        # the delta recursion
        for l in range(L - 1, -1, -1):
            D = M[2 * L + l][:s]
            if l == 0:  # no D_prev: the argument is not touched
                _backward_serial(xb, M[0], D, NO_ACTIVATION, M[3 * L], V[L], D)
            else:
                _backward_serial(M[L + l - 1][:s], M[l], D, acts[l - 1], M[3 * L + l],
                                 V[L + l], M[2 * L + l - 1][:s])
        for l in range(L):
            if not (_all_finite(M[3 * L + l]) and _all_finite(V[L + l])):
                return EPOCH_DIVERGED, 0.0, step, t
        # the update: weight decay on the weights only
        if kind == 0:
            for l in range(L):
                _sgd_serial(M[l], M[3 * L + l], lr, M[4 * L + l], momentum, mode, weight_decay)
                _sgd_serial(V[l], V[L + l], lr, V[2 * L + l], momentum, mode, 0.0)
        else:
            t += 1
            ft = float(t)
            step_size = lr / (1.0 - beta_1 ** ft)
            inv_bc2 = 1.0 / (1.0 - beta_2 ** ft)
            for l in range(L):
                _adam_serial(M[l], M[3 * L + l], M[4 * L + l], M[5 * L + l], beta_1, beta_2,
                             step_size, inv_bc2, epsilon, weight_decay)
                _adam_serial(V[l], V[L + l], V[2 * L + l], V[3 * L + l], beta_1, beta_2,
                             step_size, inv_bc2, epsilon, 0.0)
        total += risk * s
        step += 1
    return EPOCH_OK, (total / n_idx if n_idx else 0.0), -1, t


def _predict(W, b, acts, X, out, s0, s1):
    """``out`` = the network's output for ``X``; hidden outputs alternate between the 1-D
    scratch buffers ``s0`` and ``s1`` (each of at least m * widest hidden layer elements)."""
    L = acts.shape[0]
    m = X.shape[0]
    if L == 1:
        _forward_serial(X, W[0], b[0], acts[0], out)
        return
    h = s0[:m * W[0].shape[1]].reshape(m, W[0].shape[1])
    _forward_serial(X, W[0], b[0], acts[0], h)
    for l in range(1, L):
        if l == L - 1:
            _forward_serial(h, W[l], b[l], acts[l], out)
        else:
            buf = s1 if l % 2 else s0
            nxt = buf[:m * W[l].shape[1]].reshape(m, W[l].shape[1])
            _forward_serial(h, W[l], b[l], acts[l], nxt)
            h = nxt


_all_finite = cfg.jit(_all_finite)
TRAIN_EPOCH = cfg.jit(_train_epoch, fastmath=cfg.FASTMATH_EXACT)
PREDICT = cfg.jit(_predict, fastmath=cfg.FASTMATH_EXACT)

_EXP = (SIGMOID, TANH, SOFTMAX)  # epilogues that evaluate exp: parallel from a lower size
_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32),
          np.dtype(np.float64): np.empty(0, np.float64)}


def _threads(work, threshold):
    """1 for the serial variant, else the thread count to run the parallel one with."""
    if work < threshold or not cfg.PARALLEL:
        return 1
    n = min(get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if n > 1 and numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return n


class NumbaBackend(Backend):
    name = "numba"
    uses_blas = True  # np.dot inside @njit: SciPy's BLAS

    def dense_forward(self, X, W, b, activation, out=None):
        if out is None:
            out = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)
        code = ACTIVATIONS[activation].code
        threshold = cfg.PARALLEL_MIN_EPILOGUE_EXP if code in _EXP else cfg.PARALLEL_MIN_EPILOGUE
        FORWARD[_threads(out.size, threshold) > 1](X, W, b, code, out)
        return out

    def dense_backward(self, A_prev, W, D, activation_prev=None, dW=None, db=None, D_prev=None):
        if dW is None:
            dW = np.empty_like(W)
        if db is None:
            db = np.empty(W.shape[1], dtype=W.dtype)
        if activation_prev is None:
            code = NO_ACTIVATION
            work = D.size
            scratch = _EMPTY[W.dtype].reshape(0, 0)
        else:
            code = ACTIVATIONS[activation_prev].code
            if D_prev is None:
                D_prev = np.empty_like(A_prev)
            work = max(D.size, A_prev.size)
            scratch = D_prev
        kernel = BACKWARD[_threads(work, cfg.PARALLEL_MIN_EPILOGUE) > 1]
        kernel(A_prev, W, D, code, dW, db, scratch)
        return dW, db, (None if activation_prev is None else D_prev)

    def loss_and_delta(self, Z, Y, loss, activation, D=None):
        if D is None:
            D = np.empty_like(Z)
        row_risk = np.empty(Z.shape[0], np.float64)
        kernel = LOSS[_threads(Z.size, cfg.PARALLEL_MIN_LOSS) > 1]
        risk = kernel(Z, Y, LOSSES[loss].code, ACTIVATIONS[activation].code, D, row_risk)
        return float(risk), D

    def sgd_update(self, param, grad, lr, velocity=None, momentum=0.0, nesterov=False,
                   weight_decay=0.0):
        if velocity is None:
            if momentum:
                raise ValueError("momentum > 0 needs a velocity buffer")
            mode, velocity = 0, _EMPTY[param.dtype]
        else:
            mode = 2 if nesterov else 1
        kernel = SGD[_threads(param.size, cfg.PARALLEL_MIN_UPDATE) > 1]
        kernel(param, grad, float(lr), velocity, float(momentum), mode, float(weight_decay))

    def adam_update(self, param, grad, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                    weight_decay=0.0):
        kernel = ADAM[_threads(param.size, cfg.PARALLEL_MIN_UPDATE) > 1]
        kernel(param, grad, m, v, float(beta_1), float(beta_2), lr / (1.0 - beta_1 ** t),
               1.0 / (1.0 - beta_2 ** t), float(epsilon), float(weight_decay))


    # -- whole networks: one compiled call each ------------------------------------------------

    def predict(self, weights, biases, activations, X):
        m = X.shape[0]
        out = np.empty((m, weights[-1].shape[1]), dtype=X.dtype)
        widest = max((W.shape[1] for W in weights[:-1]), default=0)
        s0, s1 = _scratch(X.dtype, max(m * widest, 1))
        PREDICT(tuple(weights), tuple(biases), _codes(activations), X, out, s0, s1)
        return out

    def train_epoch(self, weights, biases, activations, loss, X, Y, indices, batch_size,
                    optimizer, state, workspace, lr, epoch=0):
        args, state1, state2 = optimizer.kernel_args(lr, state)
        M, V, row_risk = _epoch_arrays(weights, biases, state1, state2, workspace)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        if not 1 <= batch_size <= workspace.X.shape[0]:  # the kernel writes S rows of Xb
            raise ValueError(f"batch_size must lie in [1, {workspace.X.shape[0]}] (the "
                             f"workspace's rows), got {batch_size}")
        if args["kind"] == "sgd":
            kind, mode = 0, (0 if not args["momentum"] else 2 if args["nesterov"] else 1)
            beta_1 = beta_2 = epsilon = 0.0
            t = 0
        else:
            kind, mode = 1, 0
            beta_1, beta_2, epsilon = args["beta_1"], args["beta_2"], args["epsilon"]
            t = args["t"]
        status, mean_loss, failed, t = TRAIN_EPOCH(
            M, V, _codes(activations), LOSSES[loss].code, X, Y, indices, int(batch_size), kind,
            float(lr), float(args["weight_decay"]), float(args.get("momentum", 0.0)), mode,
            float(beta_1), float(beta_2), float(epsilon), int(t), workspace.X, workspace.Y,
            row_risk)
        if "t" in state:
            state["t"] = t
        if status == EPOCH_BAD_INDEX:
            raise ValueError(f"indices must lie in [0, {X.shape[0]})")
        if status == EPOCH_DIVERGED:
            raise diverged(epoch, failed)
        return mean_loss


_code_arrays = {}


def _codes(activations):
    """The activation codes of a network as a (cached, read-only) int64 array."""
    key = tuple(activations)
    codes = _code_arrays.get(key)
    if codes is None:
        codes = np.array([ACTIVATIONS[a].code for a in key], dtype=np.int64)
        codes.flags.writeable = False
        _code_arrays[key] = codes
    return codes


def _epoch_arrays(weights, biases, state1, state2, ws):
    """The two tuples of ``TRAIN_EPOCH`` (2-D and 1-D arrays) and the per-row risk buffer.

    Unused optimizer slots (SGD without momentum has no velocity, SGD no second state) get the
    gradient buffers, which the update kernels then do not touch. The risk buffer is allocated
    once per workspace.
    """
    L = len(weights)
    if not (len(biases) == len(ws.A) == len(ws.D) == len(ws.dW) == len(ws.db) == L
            and len(state1) == len(state2) == 2 * L):
        raise ValueError("the workspace and optimizer state do not match the network's layers")
    grads = [g for pair in zip(ws.dW, ws.db) for g in pair]
    s1 = [g if s is None else s for s, g in zip(state1, grads)]
    s2 = [g if s is None else s for s, g in zip(state2, grads)]
    two = (*weights, *ws.A, *ws.D, *ws.dW, *s1[0::2], *s2[0::2])
    one = (*biases, *ws.db, *s1[1::2], *s2[1::2])
    row_risk = getattr(ws, "_numba_row_risk", None)
    if row_risk is None or row_risk.shape[0] < ws.X.shape[0]:
        row_risk = ws._numba_row_risk = np.empty(ws.X.shape[0], np.float64)
    return two, one, row_risk


_local = threading.local()


def _scratch(dtype, size):
    """Two inference buffers of at least ``size`` elements, kept per thread and grown on demand
    (so repeated predictions allocate only their output), as in the C backend."""
    key = np.dtype(dtype).name
    bufs = getattr(_local, key, None)
    if bufs is None or bufs[0].size < size:
        bufs = (np.empty(size, dtype), np.empty(size, dtype))
        setattr(_local, key, bufs)
    return bufs


def warmup(parallel=True, depths=(1, 2, 3)):
    """Compile (or load from the on-disk cache) every kernel for float32 and float64.

    Call it once after installing, or at the start of a program, so that the first real call
    is not slow. ``parallel=False`` skips the parallel variants. The whole-network kernels
    (``TRAIN_EPOCH``, ``PREDICT``) are specialised per depth: ``depths`` (default 1 to 3
    layers) are compiled here, others on first use. Returns the number of compiled
    specialisations ready (all kernels, both dtypes, 1-D and 2-D parameters).
    """
    variants = (0, 1) if parallel and cfg.PARALLEL else (0,)
    for dtype in (np.float32, np.float64):
        X = np.ones((2, 3), dtype)
        W = np.ones((3, 4), dtype)
        b = np.ones(4, dtype)
        out = np.empty((2, 4), dtype)
        D = np.ones((2, 4), dtype)
        for p in variants:
            FORWARD[p](X, W, b, RELU, out)
            BACKWARD[p](X, W, D, RELU, np.empty_like(W), np.empty(4, dtype), np.empty_like(X))
            BACKWARD[p](X, W, D, NO_ACTIVATION, np.empty_like(W), np.empty(4, dtype),
                        _EMPTY[np.dtype(dtype)].reshape(0, 0))
            LOSS[p](out, D, MSE, IDENTITY, np.empty_like(out), np.empty(2))
            for param in (W, b):  # weights (2-D) and biases (1-D)
                SGD[p](param.copy(), param, 0.1, param.copy(), 0.9, 1, 0.0)
                SGD[p](param.copy(), param, 0.1, _EMPTY[np.dtype(dtype)], 0.0, 0, 0.0)
                ADAM[p](param.copy(), param, param.copy(), param.copy(), *(0.5,) * 6)
        for L in depths:
            sizes = [3] * (L + 1)
            weights = [np.full((3, 3), 0.1, dtype) for _ in range(L)]
            biases = [np.zeros(3, dtype) for _ in range(L)]
            acts = ["tanh"] * L
            backend = NumbaBackend()
            backend.predict(weights, biases, acts, np.ones((2, 3), dtype))
            ws = Workspace(sizes, 2, dtype)
            for opt in (SGDOptimizer(lr=0.1), Adam(lr=0.1)):  # one specialisation for both
                state = opt.init_state([p for pair in zip(weights, biases) for p in pair])
                backend.train_epoch(weights, biases, acts, "mse", np.ones((2, 3), dtype),
                                    np.ones((2, 3), dtype), np.arange(2), 2, opt, state, ws, 0.1)
    kernels = FORWARD[:len(variants)] + BACKWARD[:len(variants)] + LOSS[:len(variants)]
    kernels += SGD[:len(variants)] + ADAM[:len(variants)] + (TRAIN_EPOCH, PREDICT)
    return sum(len(kernel.signatures) for kernel in kernels)
