"""The C backend: the hand-written kernels of csrc/, through the Cython extension.

It overrides the hot operations of the reference backend; the network-level loops (``predict``,
``train_epoch``) are inherited and so call these kernels. Every kernel gets the thread count of
``fastnn.set_num_threads``.
"""

import numpy as np

from .. import _ckernels
from .._config import get_num_threads
from ..activations import ACTIVATIONS
from ..losses import LOSSES
from .base import Backend

__all__ = ["CythonBackend", "get_isa", "set_isa", "best_isa"]

get_isa = _ckernels.get_isa
set_isa = _ckernels.set_isa
best_isa = _ckernels.best_isa


class CythonBackend(Backend):
    name = "cython"

    def dense_forward(self, X, W, b, activation, out=None):
        if out is None:
            out = np.empty((X.shape[0], W.shape[1]), dtype=W.dtype)
        return _ckernels.dense_forward(X, W, b, ACTIVATIONS[activation].code, out,
                                       get_num_threads())

    def dense_backward(self, A_prev, W, D, activation_prev=None, dW=None, db=None, D_prev=None):
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
        _ckernels.dense_backward(A_prev, W, D, code, dW, db, D_prev, get_num_threads())
        return dW, db, (None if activation_prev is None else D_prev)

    def loss_and_delta(self, Z, Y, loss, activation, D=None):
        if D is None:
            D = np.empty_like(Z)
        risk = _ckernels.loss_delta(Z, Y, LOSSES[loss].code, ACTIVATIONS[activation].code, D)
        return risk, D

    def sgd_update(self, param, grad, lr, velocity=None, momentum=0.0, nesterov=False,
                   weight_decay=0.0):
        if velocity is None and momentum:
            raise ValueError("momentum > 0 needs a velocity buffer")
        _ckernels.sgd_update(param, grad, lr, velocity, momentum, nesterov, weight_decay)

    def adam_update(self, param, grad, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                    weight_decay=0.0):
        _ckernels.adam_update(param, grad, m, v, t, lr, beta_1, beta_2, epsilon, weight_decay)
