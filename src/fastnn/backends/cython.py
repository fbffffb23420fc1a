"""The C backend: the hand-written kernels of csrc/, through the Cython extension.

It overrides the hot operations of the reference backend, and runs whole epochs of training
(``train_epoch``) and whole-network inference (``predict``) inside C: no Python and no allocation
per minibatch or per layer. Every kernel gets ``fastnn.get_num_threads()`` of the calling thread
as the most threads it may use (see ``fastnn._config`` and ``csrc/threads.c``).
"""

import weakref

import numpy as np

from .. import _ckernels
from .._config import get_num_threads
from .._validation import check_positive_int
from ..activations import ACTIVATIONS
from ..losses import LOSSES
from .base import Backend, diverged

__all__ = ["CythonBackend", "get_isa", "set_isa", "best_isa"]

get_isa = _ckernels.get_isa
set_isa = _ckernels.set_isa
best_isa = _ckernels.best_isa


class CythonBackend(Backend):
    name = "cython"
    uses_blas = False

    def dense_forward(self, X, W, b, activation, out=None, Z=None):
        if out is None:
            out = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)
        return _ckernels.dense_forward(X, W, b, ACTIVATIONS[activation].code, out,
                                       get_num_threads(), Z)

    def dense_forward_ready(self, X, W, b, activation, out=None):
        act = ACTIVATIONS.get(activation) if isinstance(activation, str) else None
        if act is None:
            return None
        return _ckernels.dense_forward_ready(X, W, b, act.code, out, get_num_threads())

    def dense_backward(self, A_prev, W, D, activation_prev=None, dW=None, db=None, D_prev=None,
                       Z_prev=None):
        if dW is None:
            dW = np.empty_like(W)
        if db is None:
            db = np.empty(W.shape[1], dtype=W.dtype)
        if activation_prev is None:
            code = -1
        else:
            code = ACTIVATIONS[activation_prev].code
            if D_prev is None:
                D_prev = np.empty_like(A_prev)
        _ckernels.dense_backward(A_prev, W, D, code, dW, db, D_prev, get_num_threads(), Z_prev)
        return dW, db, (None if activation_prev is None else D_prev)

    def loss_and_delta(self, Z, Y, loss, activation, D=None):
        if D is None:
            D = np.empty_like(Z)
        risk = _ckernels.loss_delta(Z, Y, LOSSES[loss].code, ACTIVATIONS[activation].code, D)
        return risk, D

    def update(self, param, grad, m, v, args):
        _ckernels.update(args, param, grad, m, v)

    def predict_ready(self, net, X, n_threads=None):
        # the predictor (the layers' pointer tables) is kept per network, beside it rather than
        # in it, so that a network pickles and copies as before; it is rebuilt when the network
        # holds other arrays or activations than it was built for
        p = _predictors.get(net)
        if p is None or not p.matches(net.weights, net.biases, net.activations):
            try:
                p = _ckernels.Predictor(net.weights, net.biases,
                                        [ACTIVATIONS[a].code for a in net.activations],
                                        net.activations)
            except (TypeError, ValueError):
                return None  # parameters not in kernel form: the full path says why
            _predictors[net] = p
        return p(X, get_num_threads() if n_threads is None
                 else check_positive_int(n_threads, "n_threads"))

    def predict(self, weights, biases, activations, X):
        out = np.empty((X.shape[0], weights[-1].shape[1]), dtype=X.dtype)
        codes = [ACTIVATIONS[a].code for a in activations]
        return _ckernels.predict(weights, biases, codes, X, out, get_num_threads())

    def train_epoch(self, weights, biases, activations, loss, X, Y, indices, batch_size,
                    optimizer, state, workspace, lr, epoch=0):
        ws = workspace
        args, state1, state2 = optimizer.kernel_args(lr, state)
        codes = [ACTIVATIONS[a].code for a in activations]
        mean_loss, failed, applied, t = _ckernels.train_epoch(
            weights, biases, codes, LOSSES[loss].code, X, Y, indices, batch_size, args, state1,
            state2, ws.X, ws.Y, ws.A, ws.z_for(activations), ws.D, ws.dW, ws.db,
            get_num_threads())
        state["t"] = t
        if failed >= 0:
            raise diverged(epoch, failed, partly_applied=applied)
        return mean_loss


_predictors = weakref.WeakKeyDictionary()  # Network -> _ckernels.Predictor
