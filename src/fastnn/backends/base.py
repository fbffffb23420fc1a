"""The NumPy reference backend, which is also the base class of every backend.

Design
------
``Backend`` implements the whole kernel contract of DESIGN.md in plain NumPy: straightforward,
obviously right, and the oracle the compiled backends are tested against. A compiled backend
subclasses it and overrides only the operations it makes faster; everything else (and the
network code, which calls only ``backend.<op>``) stays shared.

Arguments arrive already checked and converted by the Python boundary (``fastnn.kernels`` and
``fastnn.Network``): C-contiguous arrays of one float dtype with consistent shapes. Outputs are
written into the caller's arrays when given, and allocated otherwise.
"""

import functools
import types

import numpy as np

from ..activations import get_activation
from ..losses import loss_and_delta as _reference_loss_and_delta
from ..optim import OPTIMIZERS, SGD, Adam, check_state

__all__ = ["Backend", "DivergenceError", "Workspace", "diverged", "z_buffers"]



@functools.lru_cache(maxsize=64)
def _single_step(cls, lr, t, *args):
    """(``cls(1.0, *args)``, its hyperparameters at learning rate ``lr`` (which may be 0) and
    step ``t``, read-only): what one update kernel call is given.  Cached, because a loop of
    single steps brings the same settings back call after call, and building the optimizer
    checks every argument again."""
    opt = cls(1.0, *args)
    return opt, types.MappingProxyType(opt.hyperparameters(lr, t))


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the weights are the last finite ones."""

    partly_applied = False  # see diverged()


def diverged(epoch, step, partly_applied=False):
    """The error every backend raises when step ``step`` of epoch ``epoch`` (0-based) diverged.

    ``partly_applied``: the backend applied part of that step before it found the non-finite
    gradient (the C epoch updates each tile of a weight gradient as it is computed); the error
    carries it, and ``Trainer`` then restores the parameters and replays the epoch."""
    exc = DivergenceError(
        f"training diverged at epoch {epoch + 1}, step {step + 1}: the loss or a gradient "
        "became non-finite (the weights are those before that step); lower the learning rate "
        "or scale the inputs"
    )
    exc.partly_applied = partly_applied
    return exc


def z_buffers(sizes, activations, rows, dtype):
    """Per layer, a ``(rows, n)`` buffer for its input to the activation ``Z`` where a hidden
    layer's activation has its derivative written from ``Z`` (``needs_z``), else ``None``. The
    output layer's ``Z`` is its logits, which the outputs hold already."""
    return [np.empty((rows, n), dtype)
            if layer < len(activations) - 1 and get_activation(act).needs_z else None
            for layer, (n, act) in enumerate(zip(sizes[1:], activations))]


class Workspace:
    """Buffers for training on batches of up to ``batch_size`` rows, allocated once per fit.

    ``A[l]`` holds layer ``l``'s outputs (the logits ``Z`` for the output layer), ``D[l]`` its
    delta ``dR/dZ``, ``dW[l]``/``db[l]`` its gradients; ``X``/``Y`` hold the gathered batch.
    ``z_for(activations)`` gives the buffers of the layers' inputs to their activations where a
    derivative is written from them (``z_buffers``), allocated at first use.
    """

    def __init__(self, sizes, batch_size, dtype):
        self.batch_size = batch_size
        self.sizes = list(sizes)
        self.X = np.empty((batch_size, sizes[0]), dtype)
        self.Y = np.empty((batch_size, sizes[-1]), dtype)
        self.A = [np.empty((batch_size, n), dtype) for n in sizes[1:]]
        self._Z = {}
        self.D = [np.empty((batch_size, n), dtype) for n in sizes[1:]]
        self.dW = [np.empty((i, o), dtype) for i, o in zip(sizes[:-1], sizes[1:])]
        self.db = [np.empty(o, dtype) for o in sizes[1:]]

    def z_for(self, activations):
        key = tuple(activations)
        if key not in self._Z:
            self._Z[key] = z_buffers(self.sizes, key, self.batch_size, self.X.dtype)
        return self._Z[key]


class Backend:
    """The NumPy reference implementation of the kernel contract."""

    name = "numpy"
    uses_blas = True  # its products run in the BLAS under NumPy (limited during training)

    # -- one dense layer -----------------------------------------------------------------------

    def dense_forward(self, X, W, b, activation, out=None, Z=None):
        """``out = act(X @ W + b)``; ``Z``, when given, receives ``X @ W + b`` too."""
        Zout = np.matmul(X, W, out=out)
        Zout += b
        if Z is not None:
            Z[...] = Zout
        return get_activation(activation).forward(Zout, out=Zout)

    def dense_forward_ready(self, X, W, b, activation, out=None):
        """``dense_forward`` by a fast path for arguments already in kernel form (one float
        dtype, C-contiguous, aligned, shapes that agree; ``out`` None or exactly what is
        written), or None: this backend has none, or the arguments need converting or
        checking (the caller then does, with its errors)."""
        return None

    def dense_backward(self, A_prev, W, D, activation_prev=None, dW=None, db=None, D_prev=None,
                       Z_prev=None):
        """``dW = A_prev.T @ D``, ``db = colsum(D)``, ``D_prev = (D @ W.T) * act'(A_prev)``.

        The derivative is taken from ``Z_prev`` (the previous layer's input to its activation)
        for an activation that ``needs_z``. ``D_prev`` is not computed (and ``None`` is returned
        for it) when ``activation_prev`` is ``None``: the first layer has no delta to pass back.
        """
        dW = np.matmul(A_prev.T, D, out=dW)
        db = np.sum(D, axis=0, out=db)
        if activation_prev is None:
            return dW, db, None
        act = get_activation(activation_prev, hidden=True)
        D_prev = np.matmul(D, W.T, out=D_prev)
        D_prev[...] = act.backward(A_prev, D_prev, Z_prev)
        return dW, db, D_prev

    def loss_and_delta(self, Z, Y, loss, activation, D=None):
        """The risk ``R_n`` of logits ``Z`` against ``Y`` and the output delta ``dR/dZ``."""
        risk, D, _ = _reference_loss_and_delta(Z, Y, loss, activation, D)
        return risk, D

    # -- parameter updates (in place, one pass) ------------------------------------------------

    def update(self, param, grad, m, v, args):
        """One optimizer step on ``param`` in place, with its state ``m`` and ``v`` (``None``
        where unused); ``args`` are the optimizer's ``hyperparameters``. The reference is the
        optimizer's own NumPy rule."""
        OPTIMIZERS[args["kind"]].reference(args, param, grad, m, v)

    def sgd_update(self, param, grad, lr, velocity=None, momentum=0.0, nesterov=False,
                   weight_decay=0.0):
        """``update`` with SGD (arguments checked by ``fastnn.kernels.sgd_update``)."""
        opt, args = _single_step(SGD, lr, 0, momentum, bool(nesterov and momentum > 0),
                                 weight_decay)
        self.update(param, grad, check_state(opt, "velocity", velocity, param), None, args)

    def adam_update(self, param, grad, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                    weight_decay=0.0):
        """``update`` with Adam at step number ``t >= 1``."""
        _, args = _single_step(Adam, lr, t - 1, beta_1, beta_2, epsilon, weight_decay)
        self.update(param, grad, m, v, args)

    # -- whole networks ------------------------------------------------------------------------

    def predict_ready(self, net, X, n_threads=None):
        """``net``'s output for ``X`` by a fast path that skips the validation, or None: this
        backend has none, or ``X`` is not already in kernel form (the caller then validates
        it, with its errors, and calls ``predict``). ``n_threads``: an explicit setting (None:
        ``fastnn.get_num_threads()``)."""
        return None

    def predict(self, weights, biases, activations, X):
        """Forward through every layer: the output activations for the rows of ``X``."""
        A = X
        for W, b, act in zip(weights, biases, activations):
            A = self.dense_forward(A, W, b, act)
        return A

    def forward_train(self, weights, biases, activations, X, outs, zs):
        """Forward pass keeping every layer's output in ``outs`` (the last holds the logits) and,
        where ``zs[layer]`` is not None, its input to the activation there (``z_buffers``)."""
        A = X
        last = len(weights) - 1
        for layer, (W, b, act) in enumerate(zip(weights, biases, activations)):
            A = self.dense_forward(A, W, b, "identity" if layer == last else act, out=outs[layer],
                                   Z=zs[layer] if layer < last else None)
        return outs

    def backward(self, weights, activations, X, outs, zs, deltas, dW, db):
        """The delta recursion: from ``deltas[-1] = dR/dZ[L]``, fill ``dW``, ``db``, ``deltas``."""
        for layer in range(len(weights) - 1, -1, -1):
            A_prev = outs[layer - 1] if layer > 0 else X
            act_prev = activations[layer - 1] if layer > 0 else None
            self.dense_backward(A_prev, weights[layer], deltas[layer], act_prev, dW[layer],
                                db[layer], deltas[layer - 1] if layer > 0 else None,
                                zs[layer - 1] if layer > 0 else None)

    def train_epoch(self, weights, biases, activations, loss, X, Y, indices, batch_size,
                    optimizer, state, workspace, lr, epoch=0):
        """One epoch of minibatch training, in place on ``weights`` and ``biases``.

        Batch ``j`` holds the samples ``indices[j*S:(j+1)*S]`` with ``S = batch_size``; each
        gets a forward pass, the loss and output delta, the delta recursion and one optimizer
        step. Returns the mean loss over the epoch's samples. A non-finite loss or gradient
        raises ``DivergenceError`` before the update, so the weights stay the last finite ones
        (a compiled backend may have applied part of that step: it says so in the error's
        ``partly_applied``, and ``Trainer`` restores and replays).
        """
        ws = workspace
        params = [p for pair in zip(weights, biases) for p in pair]
        grads = [g for pair in zip(ws.dW, ws.db) for g in pair]
        decays = [True, False] * len(weights)
        total = 0.0
        n_batches = -(-len(indices) // batch_size)
        for step in range(n_batches):
            idx = indices[step * batch_size:(step + 1) * batch_size]
            s = len(idx)
            Xb, Yb = ws.X[:s], ws.Y[:s]
            np.take(X, idx, axis=0, out=Xb)
            np.take(Y, idx, axis=0, out=Yb)
            outs = [a[:s] for a in ws.A]
            zs = [None if z is None else z[:s] for z in ws.z_for(activations)]
            deltas = [d[:s] for d in ws.D]
            self.forward_train(weights, biases, activations, Xb, outs, zs)
            risk, _ = self.loss_and_delta(outs[-1], Yb, loss, activations[-1], D=deltas[-1])
            if not np.isfinite(risk):
                raise diverged(epoch, step)
            self.backward(weights, activations, Xb, outs, zs, deltas, ws.dW, ws.db)
            if not all(np.all(np.isfinite(g)) for g in grads):
                raise diverged(epoch, step)
            optimizer.step(self, params, grads, state, lr, decays)
            total += risk * s
        return total / len(indices)
