"""``NumbaBackend``: the kernel contract on the Numba kernels, and ``warmup``."""

import threading

import numba
import numpy as np

from ... import _numba_config as cfg
from ..._config import get_num_threads
from ...activations import ACTIVATIONS
from ...losses import LOSSES
from ...optim import SGD as SGDOptimizer
from ...optim import Adam
from ..base import Backend, Workspace, diverged
from .epoch import EPOCH_BAD_INDEX, EPOCH_DIVERGED, PREDICT, TRAIN_EPOCH
from .layers import BACKWARD, FORWARD, NO_ACTIVATION
from .loss import LOSS
from .maths import Act
from .optimizers import UPDATE, hyper

__all__ = ["NumbaBackend", "warmup"]

# piecewise-linear epilogues (a compare or a copy per element) repay a parallel region only at
# a larger size; every other activation evaluates exp or a rational function, and so will the
# next one added, which is why the short list is the cheap one
_CHEAP = (Act.IDENTITY, Act.RELU, Act.LEAKY_RELU, Act.STEP)
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

    def dense_forward(self, X, W, b, activation, out=None, Z=None):
        if out is None:
            out = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)
        if Z is None:
            Z = _EMPTY[W.dtype].reshape(0, 0)
        code = ACTIVATIONS[activation].code
        threshold = cfg.PARALLEL_MIN_EPILOGUE if code in _CHEAP else cfg.PARALLEL_MIN_EPILOGUE_EXP
        FORWARD[_threads(out.size, threshold) > 1](X, W, b, code, out, Z)
        return out

    def dense_backward(self, A_prev, W, D, activation_prev=None, dW=None, db=None, D_prev=None,
                       Z_prev=None):
        if dW is None:
            dW = np.empty_like(W)
        if db is None:
            db = np.empty(W.shape[1], dtype=W.dtype)
        if activation_prev is None:
            code = NO_ACTIVATION
            work = D.size
            scratch = x_deriv = _EMPTY[W.dtype].reshape(0, 0)
        else:
            act = ACTIVATIONS[activation_prev]
            code = act.code
            if D_prev is None:
                D_prev = np.empty_like(A_prev)
            work = max(D.size, A_prev.size)
            scratch = D_prev
            x_deriv = Z_prev if act.needs_z else A_prev
        kernel = BACKWARD[_threads(work, cfg.PARALLEL_MIN_EPILOGUE) > 1]
        kernel(A_prev, W, D, code, dW, db, scratch, x_deriv)
        return dW, db, (None if activation_prev is None else D_prev)

    def loss_and_delta(self, Z, Y, loss, activation, D=None):
        if D is None:
            D = np.empty_like(Z)
        row_risk = np.empty(Z.shape[0], np.float64)
        kernel = LOSS[_threads(Z.size, cfg.PARALLEL_MIN_LOSS) > 1]
        act = ACTIVATIONS[activation]
        risk = kernel(Z, Y, LOSSES[loss].code, act.code, act.needs_z, D, row_risk)
        return float(risk), D

    def update(self, param, grad, m, v, args):
        empty = _EMPTY[param.dtype].reshape((0,) * param.ndim)  # one specialisation per ndim
        kernel = UPDATE[_threads(param.size, cfg.PARALLEL_MIN_UPDATE) > 1]
        kernel(param, grad, empty if m is None else m, empty if v is None else v, *hyper(args))

    # -- whole networks: one compiled call each ------------------------------------------------

    def predict(self, weights, biases, activations, X):
        m = X.shape[0]
        out = np.empty((m, weights[-1].shape[1]), dtype=X.dtype)
        widest = max((W.shape[1] for W in weights[:-1]), default=0)
        s0, s1 = _scratch(X.dtype, max(m * widest, 1))
        PREDICT(tuple(weights), tuple(biases), _codes(activations)[0], X, out, s0, s1)
        return out

    def train_epoch(self, weights, biases, activations, loss, X, Y, indices, batch_size,
                    optimizer, state, workspace, lr, epoch=0):
        args, state1, state2 = optimizer.kernel_args(lr, state)
        M, V, row_risk = _epoch_arrays(weights, biases, state1, state2, workspace, activations)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        if not 1 <= batch_size <= workspace.X.shape[0]:  # the kernel writes S rows of Xb
            raise ValueError(f"batch_size must lie in [1, {workspace.X.shape[0]}] (the "
                             f"workspace's rows), got {batch_size}")
        status, mean_loss, failed, t = TRAIN_EPOCH(
            M, V, *_codes(activations), LOSSES[loss].code, X, Y, indices, int(batch_size),
            *hyper(args), workspace.X, workspace.Y, row_risk)
        state["t"] = t
        if status == EPOCH_BAD_INDEX:
            raise ValueError(f"indices must lie in [0, {X.shape[0]})")
        if status == EPOCH_DIVERGED:
            raise diverged(epoch, failed)
        return mean_loss


_code_arrays = {}


def _codes(activations):
    """The activation codes of a network and, per layer, whether its derivative is written from
    Z, as two (cached, read-only) int64 arrays."""
    key = tuple(activations)
    codes = _code_arrays.get(key)
    if codes is None:
        codes = (np.array([ACTIVATIONS[a].code for a in key], dtype=np.int64),
                 np.array([ACTIVATIONS[a].needs_z for a in key], dtype=np.int64))
        for array in codes:
            array.flags.writeable = False
        _code_arrays[key] = codes
    return codes


def _epoch_arrays(weights, biases, state1, state2, ws, activations):
    """The two tuples of ``TRAIN_EPOCH`` (2-D and 1-D arrays) and the per-row risk buffer.

    Unused optimizer slots (SGD without momentum has no velocity, SGD no second state) get the
    gradient buffers, and layers that keep no Z their output buffers, which the kernels then do
    not touch. The risk buffer is allocated once per workspace.
    """
    L = len(weights)
    if not (len(biases) == len(ws.A) == len(ws.D) == len(ws.dW) == len(ws.db) == L
            and len(state1) == len(state2) == 2 * L):
        raise ValueError("the workspace and optimizer state do not match the network's layers")
    grads = [g for pair in zip(ws.dW, ws.db) for g in pair]
    s1 = [g if s is None else s for s, g in zip(state1, grads)]
    s2 = [g if s is None else s for s, g in zip(state2, grads)]
    zs = [a if z is None else z for z, a in zip(ws.z_for(activations), ws.A)]
    two = (*weights, *ws.A, *ws.D, *ws.dW, *s1[0::2], *s2[0::2], *zs)
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
        none = _EMPTY[np.dtype(dtype)].reshape(0, 0)
        relu, identity = ACTIVATIONS["relu"].code, ACTIVATIONS["identity"].code
        for p in variants:
            FORWARD[p](X, W, b, relu, out, none)
            BACKWARD[p](X, W, D, relu, np.empty_like(W), np.empty(4, dtype),
                        np.empty_like(X), X)
            BACKWARD[p](X, W, D, NO_ACTIVATION, np.empty_like(W), np.empty(4, dtype), none,
                        none)
            LOSS[p](out, D, LOSSES["mse"].code, identity, False, np.empty_like(out),
                    np.empty(2))
            for param in (W, b):  # weights (2-D) and biases (1-D)
                empty = _EMPTY[np.dtype(dtype)].reshape((0,) * param.ndim)
                for opt in (SGDOptimizer(0.1), SGDOptimizer(0.1, momentum=0.9), Adam(0.1)):
                    m, v = (param.copy() if i < len(opt.slots) and opt.uses(opt.slots[i])
                            else empty for i in (0, 1))
                    UPDATE[p](param.copy(), param, m, v, *hyper(opt.hyperparameters(0.1, 0)))
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
    kernels += UPDATE[:len(variants)] + (TRAIN_EPOCH, PREDICT)
    return sum(len(kernel.signatures) for kernel in kernels)
