"""Optimizers, learning-rate schedules and minibatch sampling.

Design
------
An optimizer is plain data (its hyperparameters) plus ``init_state``, which allocates its
per-parameter buffers once per ``fit``, and ``step``, which hands each parameter to the backend's
one-pass update kernel (``sgd_update`` / ``adam_update``). Weight decay (L2) applies to weights,
not biases, as in scikit-learn's ``alpha``. Compiled epoch loops read the same attributes.

Minibatches of one epoch are described by one int64 index array: batch ``j`` is
``indices[j*S:(j+1)*S]`` (the last one may be shorter). Shuffled epochs and uniform S-subsets are
both drawn here, from the network's seeded generator, so every backend sees the same batches.
"""

import math

import numpy as np

from ._validation import check_positive_int, check_real

__all__ = ["SGD", "Adam", "Optimizer", "SCHEDULES", "SAMPLINGS", "epoch_indices"]

SCHEDULES = ("constant", "invscaling")
SAMPLINGS = ("shuffle", "uniform")


class Optimizer:
    """Base class: the learning rate, weight decay and learning-rate schedule."""

    def __init__(self, lr, weight_decay=0.0, schedule="constant", power_t=0.5):
        self.lr = check_real(lr, "lr", minimum=0.0, strict_min=True)
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; expected one of {list(SCHEDULES)}")
        self.schedule = schedule
        self.power_t = check_real(power_t, "power_t", minimum=0.0)

    def lr_at(self, epoch):
        """The learning rate of epoch ``epoch`` (0-based) under the schedule."""
        if self.schedule == "invscaling":
            return self.lr / (epoch + 1) ** self.power_t
        return self.lr

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with heavy-ball or Nesterov momentum and L2 weight decay.

    With ``g = grad + weight_decay * w``::

        v <- momentum * v - lr * g
        w <- w + v                       (heavy ball)
        w <- w + momentum * v - lr * g   (Nesterov)

    and ``w <- w - lr * g`` when ``momentum == 0``.
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 schedule="constant", power_t=0.5):
        super().__init__(lr, weight_decay, schedule, power_t)
        self.momentum = check_real(momentum, "momentum", minimum=0.0, maximum=1.0)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def init_state(self, params):
        if self.momentum == 0:
            return {"velocity": [None] * len(params)}
        return {"velocity": [np.zeros_like(p) for p in params]}

    def kernel_args(self, lr, state):
        """(hyperparameters, first and second state buffer per parameter) for compiled loops."""
        args = {"kind": "sgd", "lr": lr, "weight_decay": self.weight_decay,
                "momentum": self.momentum, "nesterov": self.nesterov}
        velocity = state["velocity"]
        return args, velocity, [None] * len(velocity)

    def step(self, backend, params, grads, state, lr, decays):
        for p, g, v, decay in zip(params, grads, state["velocity"], decays):
            backend.sgd_update(p, g, lr, v, self.momentum, self.nesterov,
                               self.weight_decay if decay else 0.0)


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction and L2 weight decay added to the gradient."""

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 schedule="constant", power_t=0.5):
        super().__init__(lr, weight_decay, schedule, power_t)
        self.beta_1 = check_real(beta_1, "beta_1", minimum=0.0)
        self.beta_2 = check_real(beta_2, "beta_2", minimum=0.0)
        if self.beta_1 >= 1 or self.beta_2 >= 1:
            raise ValueError("beta_1 and beta_2 must lie in [0, 1)")
        self.epsilon = check_real(epsilon, "epsilon", minimum=0.0, strict_min=True)

    def init_state(self, params):
        return {
            "t": 0,
            "m": [np.zeros_like(p) for p in params],
            "v": [np.zeros_like(p) for p in params],
        }

    def kernel_args(self, lr, state):
        args = {"kind": "adam", "lr": lr, "weight_decay": self.weight_decay,
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "t": state["t"]}
        return args, state["m"], state["v"]

    def step(self, backend, params, grads, state, lr, decays):
        state["t"] += 1
        for p, g, m, v, decay in zip(params, grads, state["m"], state["v"], decays):
            backend.adam_update(p, g, m, v, state["t"], lr, self.beta_1, self.beta_2,
                                self.epsilon, self.weight_decay if decay else 0.0)


def check_optimizer(optimizer):
    if optimizer is None:
        return SGD()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn.SGD or fastnn.Adam, got {optimizer!r}")
    return optimizer


def _uniform_subsets(rng, n, size, count):
    """``count`` independent uniformly random ``size``-subsets of ``range(n)``, concatenated.

    Small subsets (``size**2 <= n``, where a repeat is unlikely) are drawn with replacement, all
    at once, and the rows holding a repeat are drawn again: conditioned on having no repeat, a
    row is a uniform ordered draw without replacement. Larger subsets come from one partial
    shuffle per row, of which there are then fewer than ``sqrt(n)``.
    """
    if size * size <= n:
        rows = rng.integers(0, n, (count, size))
        while True:
            s = np.sort(rows, axis=1)
            bad = np.flatnonzero(np.any(s[:, 1:] == s[:, :-1], axis=1))
            if bad.size == 0:
                return rows.reshape(-1)
            rows[bad] = rng.integers(0, n, (bad.size, size))
    return np.concatenate([rng.permutation(n)[:size] for _ in range(count)])


def check_sampling(sampling):
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; expected one of {list(SAMPLINGS)}")
    return sampling


def epoch_indices(rng, n_samples, batch_size, sampling="shuffle", shuffle=True):
    """The sample indices of one epoch, batch after batch, as one int64 array.

    ``sampling="shuffle"`` is a pass over the data (shuffled when ``shuffle``) cut into batches
    of ``batch_size``; ``"uniform"`` draws ``ceil(n / batch_size)`` batches, each a uniformly
    random subset of ``batch_size`` distinct samples (minibatch SGD as in the lecture notes).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    check_sampling(sampling)
    if sampling == "uniform" and batch_size < n_samples:
        return _uniform_subsets(rng, n_samples, batch_size, math.ceil(n_samples / batch_size))
    if shuffle:
        return rng.permutation(n_samples).astype(np.int64, copy=False)
    return np.arange(n_samples, dtype=np.int64)
