"""The functional kernel API: one dense layer, its backward pass, the loss and the updates.

Design
------
These are the operations of the kernel contract (DESIGN.md), callable on any backend. Each
function converts its arguments once (any layout and real dtype in, C-contiguous float32 or
float64 out; the dtype is the weights' when they are floating point, float64 otherwise), checks
shapes, and calls ``backend.<op>``; ``dense_forward`` first offers its arguments to the
backend's fast path, which takes them as they are when they are already in kernel form (for one
row, those checks would cost more than the layer). Kernels do not scan their inputs for NaN:
that is the job of ``Network`` and the estimators, at the user's boundary; here NaN propagates
as IEEE says.
"""

import numpy as np

from ._validation import _reject_non_numeric, as_kernel_array, check_real
from .activations import get_activation
from .backends import get_backend
from .losses import get_loss
from .optim import SGD, Adam, Optimizer, check_state

__all__ = ["dense_forward", "dense_backward", "loss_and_delta", "sgd_update", "adam_update",
           "optimizer_step"]


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dtype_of(a):
    dt = a.dtype if type(a) is np.ndarray else np.asarray(a).dtype
    return dt if dt in _FLOATS else _FLOATS[1]


def _as(a, name, dtype, ndim):
    if type(a) is np.ndarray and a.dtype == dtype and a.ndim == ndim:
        flags = a.flags
        if flags.c_contiguous and flags.aligned:  # already kernel form: the common case
            return a
    _reject_non_numeric(a, name)
    a = as_kernel_array(a, dtype)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def _out(out, name, shape, dtype):
    """A caller-supplied output: it must be exactly what the kernel writes."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype:
        raise ValueError(f"{name} must be an ndarray of shape {shape} and dtype {dtype}")
    if not (out.flags.c_contiguous and out.flags.writeable and out.flags.aligned):
        raise ValueError(f"{name} must be a writeable, aligned, C-contiguous array")
    return out


def dense_forward(X, W, b, activation="relu", out=None, backend="auto"):
    """``act(X @ W + b)`` in one pass.

    Parameters
    ----------
    X : array-like of shape (m, k)
    W : array-like of shape (k, n)
    b : array-like of shape (n,)
    activation : str
        A name from ``fastnn.activations.ACTIVATIONS``.
    out : ndarray of shape (m, n), optional
        C-contiguous, of the result dtype; written without being read.
    backend : str

    Returns
    -------
    ndarray of shape (m, n), the dtype of ``W`` (float64 for non-float ``W``).
    """
    backend = get_backend(backend)
    ready = backend.dense_forward_ready(X, W, b, activation, out)
    if ready is not None:  # already in kernel form: no conversion (one row costs little more)
        return ready
    act = get_activation(activation)
    dtype = _dtype_of(W)
    W = _as(W, "W", dtype, 2)
    X = _as(X, "X", dtype, 2)
    b = _as(b, "b", dtype, 1)
    k, n = W.shape
    if X.shape[1] != k:
        raise ValueError(f"X has {X.shape[1]} columns but W has {k} rows")
    if b.shape[0] != n:
        raise ValueError(f"b has {b.shape[0]} entries but W has {n} columns")
    out = _out(out, "out", (X.shape[0], n), dtype)
    return backend.dense_forward(X, W, b, act.name, out)


def dense_backward(A_prev, W, D, activation_prev="relu", dW=None, db=None, D_prev=None,
                   backend="auto", Z_prev=None):
    """``dW = A_prev.T @ D``, ``db = colsum(D)`` and ``D_prev = (D @ W.T) * act'(A_prev)``.

    ``activation_prev=None`` (the first layer) skips ``D_prev`` and returns ``None`` for it.
    An activation whose derivative is written from its input (``needs_z`` in ``ACTIVATIONS``)
    takes it from ``Z_prev``, the previous layer's ``A_prev`` before its activation.

    Returns
    -------
    dW : ndarray of shape (n_in, n_out)
    db : ndarray of shape (n_out,)
    D_prev : ndarray of shape (m, n_in) or None
    """
    backend = get_backend(backend)
    if activation_prev is not None:
        activation_prev = get_activation(activation_prev, hidden=True).name
    dtype = _dtype_of(W)
    W = _as(W, "W", dtype, 2)
    A_prev = _as(A_prev, "A_prev", dtype, 2)
    D = _as(D, "D", dtype, 2)
    n_in, n_out = W.shape
    m = D.shape[0]
    if A_prev.shape != (m, n_in):
        raise ValueError(f"A_prev must have shape {(m, n_in)}, got {A_prev.shape}")
    if D.shape[1] != n_out:
        raise ValueError(f"D has {D.shape[1]} columns but W has {n_out}")
    dW = _out(dW, "dW", (n_in, n_out), dtype)
    db = _out(db, "db", (n_out,), dtype)
    if activation_prev is not None:
        D_prev = _out(D_prev, "D_prev", (m, n_in), dtype)
        if get_activation(activation_prev).needs_z:
            if Z_prev is None:
                raise ValueError(f"the derivative of {activation_prev} is written from Z_prev: "
                                 "pass the previous layer's input to its activation")
            Z_prev = _as(Z_prev, "Z_prev", dtype, 2)
            if Z_prev.shape != (m, n_in):
                raise ValueError(f"Z_prev must have shape {(m, n_in)}, got {Z_prev.shape}")
        else:
            Z_prev = None
    return backend.dense_backward(A_prev, W, D, activation_prev, dW, db, D_prev, Z_prev)


def loss_and_delta(Z, Y, loss="cross_entropy", activation="softmax", D=None, backend="auto"):
    """The risk ``R_n`` of the output logits ``Z`` against ``Y``, and ``D = dR/dZ``.

    ``Z`` holds the output layer's pre-activations; the output ``activation`` is applied
    inside, so the classic pairs (mse + identity, binary_cross_entropy + sigmoid,
    cross_entropy + softmax) are computed from the logits, stably, with their fused delta.

    Returns
    -------
    risk : float
    D : ndarray, shape of ``Z``
    """
    backend = get_backend(backend)
    loss = get_loss(loss).name
    activation = get_activation(activation).name
    dtype = _dtype_of(Z)
    Z = _as(Z, "Z", dtype, 2)
    Y = _as(Y, "Y", dtype, 2)
    if Y.shape != Z.shape:
        raise ValueError(f"Y has shape {Y.shape} but Z has {Z.shape}")
    if Z.shape[0] == 0:
        raise ValueError("Z has no rows: the risk of an empty batch is undefined")
    D = _out(D, "D", Z.shape, dtype)
    return backend.loss_and_delta(Z, Y, loss, activation, D)


def _in_place(param, name):
    """``param`` as the C-contiguous array to update, and whether it must be copied back."""
    if not isinstance(param, np.ndarray) or param.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 ndarray (it is updated in place)")
    if not param.flags.writeable:
        raise ValueError(f"{name} is read-only; it is updated in place")
    if param.flags.c_contiguous and param.flags.aligned:
        return param, False
    return np.array(param, order="C"), True  # a fresh array is aligned


def _matching(a, name, like):
    a = _as(a, name, like.dtype, like.ndim)
    if a.shape != like.shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {like.shape}")
    return a


def _state(buf, name, like):
    """An optimizer buffer updated in place beside ``like``: same shape and dtype."""
    target, copied = _in_place(buf, name)
    if target.shape != like.shape or target.dtype != like.dtype:
        raise ValueError(f"{name} must have shape {like.shape} and dtype {like.dtype}")
    return target, copied


def optimizer_step(optimizer, W, dW, t=0, lr=None, backend="auto", **state):
    """One step of any fastnn ``optimizer`` on ``W``, in place.

    ``state`` holds its buffers by name (``optimizer.slots``: SGD's ``velocity``, Adam's ``m``
    and ``v``), each shaped like ``W`` and updated in place; ``t`` is the number of steps taken
    before this one (Adam's bias correction); ``lr`` (default ``optimizer.lr``) may be 0.
    """
    lr = optimizer.lr if lr is None else check_real(lr, "lr", minimum=0.0)
    backend = get_backend(backend)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer, got {optimizer!r}")
    if int(t) != t or t < 0:
        raise ValueError(f"t must be an integer >= 0, got {t!r}")
    unknown = set(state) - set(optimizer.slots)
    if unknown:
        raise TypeError(f"{type(optimizer).__name__} has no state {sorted(unknown)}; its state "
                        f"is {list(optimizer.slots)}")
    target, copied = _in_place(W, "W")
    dW = _matching(dW, "dW", target)
    buffers = []
    for slot in optimizer.slots:
        buf = check_state(optimizer, slot, state.get(slot), target)
        buffers.append((buf, *(_state(buf, slot, target) if buf is not None else (None, False))))
    first, second = ([b[1] for b in buffers] + [None, None])[:2]
    backend.update(target, dW, first, second, optimizer.hyperparameters(lr, t))
    if copied:
        W[...] = target
    for buf, target_buf, buf_copied in buffers:
        if buf_copied:
            buf[...] = target_buf


def sgd_update(W, dW, lr, velocity=None, momentum=0.0, nesterov=False, weight_decay=0.0,
               backend="auto"):
    """One SGD step on ``W``, in place (see ``fastnn.SGD`` for the rule)."""
    # the step's lr is passed apart: a kernel call may use lr = 0, which SGD(lr) refuses
    momentum = check_real(momentum, "momentum", minimum=0.0, maximum=1.0)
    optimizer = SGD(1.0, momentum, bool(nesterov) and momentum > 0, weight_decay)
    state = {} if velocity is None else {"velocity": velocity}
    optimizer_step(optimizer, W, dW, 0, lr, backend, **state)


def adam_update(W, dW, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                weight_decay=0.0, backend="auto"):
    """One Adam step on ``W`` (step number ``t >= 1``), in place, with moments ``m`` and ``v``."""
    if int(t) != t or t < 1:
        raise ValueError(f"t must be an integer >= 1, got {t!r}")
    optimizer = Adam(1.0, beta_1, beta_2, epsilon, weight_decay)
    optimizer_step(optimizer, W, dW, int(t) - 1, lr, backend, m=m, v=v)
