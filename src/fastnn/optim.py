"""Optimizers, learning-rate schedules and minibatch sampling.

Design
------
An optimizer is one row of ``OPTIMIZERS``: a class holding its hyperparameters (checked once, in
its constructor), the names of the state buffers each parameter needs (``slots``: SGD's
``velocity``, Adam's ``m`` and ``v``) and ``reference``, its update rule in NumPy, the oracle of
the compiled ones. ``kernel_args`` is the one function that turns an optimizer into what every
backend's update and compiled epoch take: a dict of the fields of C's ``fnn_optimizer``, the
kind one of ``FNN_OPTIMIZERS`` in ``csrc/fastnn.h`` (``tests/test_codes.py`` checks that they
agree). Weight decay applies to weights, not biases, as in scikit-learn's ``alpha``.

Adding an optimizer means its class here, its row in ``FNN_OPTIMIZERS``, its case in
``csrc/optim.c`` and ``csrc/optim.template.c``, and its case in ``backends/numba/optimizers.py``.

Minibatches of one epoch are described by one int64 index array: batch ``j`` is
``indices[j*S:(j+1)*S]`` (the last one may be shorter). Shuffled epochs and uniform S-subsets are
both drawn here, from the network's seeded generator, so every backend sees the same batches.
"""

import math

import numpy as np

from ._validation import check_positive_int, check_real

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "OPTIMIZERS", "SCHEDULES", "SAMPLINGS", "epoch_indices",
           "check_state"]

SCHEDULES = ("constant", "invscaling")
SAMPLINGS = ("shuffle", "uniform")

# every field of fnn_optimizer, with the value an optimizer that has no such field passes
_FIELDS = {"lr": 0.0, "weight_decay": 0.0, "momentum": 0.0, "nesterov": False, "beta_1": 0.0,
           "beta_2": 0.0, "epsilon": 0.0}


class Optimizer:
    """Base class: the learning rate, weight decay and learning-rate schedule."""

    kind = None  # its name in FNN_OPTIMIZERS
    code = None  # its code there
    slots = ()  # the names of the state buffers of one parameter: C's m, then v (one or two)

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

    def uses(self, slot):
        """Whether the update reads and writes the state buffer ``slot``."""
        return slot in self.slots

    def init_state(self, params):
        """The step count ``t`` and, per slot, one zeroed buffer per parameter (``None`` for a
        slot this optimizer's settings do not use)."""
        state = {"t": 0}
        for slot in self.slots:
            state[slot] = ([np.zeros_like(p) for p in params] if self.uses(slot)
                           else [None] * len(params))
        return state

    def hyperparameters(self, lr, t):
        """The fields of C's ``fnn_optimizer``, as the backends' ``update`` and compiled epochs
        take them: this optimizer's kind and settings, learning rate ``lr`` and ``t``, the
        number of steps taken before the next one."""
        args = {"kind": self.kind, "t": int(t)}
        for field, default in _FIELDS.items():
            args[field] = getattr(self, field, default)
        args["lr"] = float(lr)
        return args

    def kernel_args(self, lr, state):
        """(``hyperparameters``, the first and the second state buffer of each parameter)."""
        args = self.hyperparameters(lr, state["t"])
        buffers = [state[slot] for slot in self.slots]
        while len(buffers) < 2:
            buffers.append([None] * len(buffers[0]))
        return args, buffers[0], buffers[1]

    def step(self, backend, params, grads, state, lr, decays):
        """One update of every parameter (weight decay where ``decays`` says)."""
        args, first, second = self.kernel_args(lr, state)
        no_decay = dict(args, weight_decay=0.0)
        for p, g, m, v, decay in zip(params, grads, first, second, decays):
            backend.update(p, g, m, v, args if decay else no_decay)
        state["t"] += 1

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

    kind, code = "sgd", 0
    slots = ("velocity",)

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 schedule="constant", power_t=0.5):
        super().__init__(lr, weight_decay, schedule, power_t)
        self.momentum = check_real(momentum, "momentum", minimum=0.0, maximum=1.0)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def uses(self, slot):
        return slot == "velocity" and self.momentum != 0

    @staticmethod
    def reference(args, param, grad, m, v):
        lr, momentum, wd = args["lr"], args["momentum"], args["weight_decay"]
        g = grad + wd * param if wd else grad
        if momentum == 0:
            param -= lr * g
            return
        m *= momentum
        m -= lr * g
        if args["nesterov"]:
            param += momentum * m - lr * g
        else:
            param += m


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction and L2 weight decay added to the gradient."""

    kind, code = "adam", 1
    slots = ("m", "v")

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 schedule="constant", power_t=0.5):
        super().__init__(lr, weight_decay, schedule, power_t)
        self.beta_1 = check_real(beta_1, "beta_1", minimum=0.0)
        self.beta_2 = check_real(beta_2, "beta_2", minimum=0.0)
        if self.beta_1 >= 1 or self.beta_2 >= 1:
            raise ValueError("beta_1 and beta_2 must lie in [0, 1)")
        self.epsilon = check_real(epsilon, "epsilon", minimum=0.0, strict_min=True)

    @staticmethod
    def reference(args, param, grad, m, v):
        b1, b2, wd, t = args["beta_1"], args["beta_2"], args["weight_decay"], args["t"] + 1
        g = grad + wd * param if wd else grad
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        param -= args["lr"] * m_hat / (np.sqrt(v_hat) + args["epsilon"])


class AdamW(Adam):
    """AdamW (Loshchilov and Hutter), as PyTorch defines it: Adam with the weight decay decoupled
    from the gradient, ``w <- w (1 - lr weight_decay)`` before the Adam step (on the weights,
    not the biases, like fastnn's other optimizers)."""

    kind, code = "adamw", 2

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01,
                 schedule="constant", power_t=0.5):
        super().__init__(lr, beta_1, beta_2, epsilon, weight_decay, schedule, power_t)

    @staticmethod
    def reference(args, param, grad, m, v):
        param *= 1 - args["lr"] * args["weight_decay"]
        Adam.reference(dict(args, weight_decay=0.0), param, grad, m, v)


OPTIMIZERS = {cls.kind: cls for cls in (SGD, Adam, AdamW)}


def check_optimizer(optimizer):
    if optimizer is None:
        return SGD()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be one of fastnn's optimizers "
                        f"({', '.join(c.__name__ for c in OPTIMIZERS.values())}), "
                        f"got {optimizer!r}")
    return optimizer


def check_state(optimizer, name, buffer, param):
    """The one check of a state buffer handed in by a caller (``fastnn.kernels``): present when
    the optimizer's settings use it, absent or ignored otherwise."""
    if optimizer.uses(name) and buffer is None:
        raise ValueError(f"{type(optimizer).__name__} with these settings needs a {name} buffer "
                         f"shaped like the parameter {param.shape}")
    return buffer if optimizer.uses(name) else None


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
