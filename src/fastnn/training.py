"""Training epoch by epoch: ``Trainer`` (what ``Network.fit`` and the estimators drive) and the
``History`` that ``fit`` returns.

Design
------
A ``Trainer`` holds what lasts across the epochs of one training: the workspace (allocated once),
the optimizer state, and the data, already checked. Each epoch is one call into the backend; a
divergence restores the parameters from before the epoch and replays it step by step, so the
network keeps the last finite ones.
"""

from dataclasses import dataclass, field

import numpy as np

from ._config import blas_threads, cpu_budget, get_num_threads
from .backends import DivergenceError, Workspace
from .backends.base import diverged
from .optim import check_sampling, epoch_indices

__all__ = ["History", "Trainer"]


@dataclass
class History:
    """What ``fit`` recorded, one value per epoch."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)

    @property
    def epochs(self):
        return len(self.loss)


class Trainer:
    """Epoch-by-epoch training of one network on one data set, with state kept between epochs.

    ``Network.fit`` and the scikit-learn estimators drive it: each ``run_epoch`` draws the
    epoch's batches from the network's generator and hands the whole epoch to the backend. The
    workspace is allocated once here; the optimizer state (velocities, Adam moments) lives in
    ``state`` and may be passed in to continue an earlier training. ``X`` and ``Y`` must be
    checked already.
    """

    def __init__(self, net, X, Y, batch_size, optimizer, sampling="shuffle", shuffle=True,
                 state=None):
        self.net, self.X, self.Y = net, X, Y
        self.batch_size = min(batch_size, X.shape[0])
        self.optimizer, self.sampling, self.shuffle = optimizer, sampling, shuffle
        check_sampling(sampling)
        self.params = [p for pair in zip(net.weights, net.biases) for p in pair]
        self.state = optimizer.init_state(self.params) if state is None else state
        self.workspace = Workspace(net.sizes, self.batch_size, net.dtype)

    def run_epoch(self, epoch, lr):
        """Train one epoch at learning rate ``lr``; returns its mean loss.

        On divergence (a non-finite loss or gradient, or an update that overflowed the
        parameters) ``DivergenceError`` names the epoch and step, and the network keeps the
        parameters (and the optimizer its state) after the last good step.
        """
        net = self.net
        indices = epoch_indices(net.rng, self.X.shape[0], self.batch_size, self.sampling,
                                self.shuffle)
        saved = self._save()
        try:
            mean_loss = self._train(indices, lr, epoch)
        except DivergenceError as exc:
            if self._finite() and not exc.partly_applied:
                raise  # detected before its update: the parameters are the last good ones
            failure = exc
        else:
            if self._finite():
                return mean_loss
            failure = None
        # an update overflowed the parameters (in some step, not necessarily the one that was
        # detected), or the failing step was partly applied: replay the epoch from its start,
        # one step at a time, to stop right before it
        self._restore(saved)
        S = self.batch_size
        for step in range(-(-len(indices) // S)):
            before = self._save()
            try:
                self._train(indices[step * S:(step + 1) * S], lr, epoch)
                good = self._finite()
            except DivergenceError:
                good = False
            if not good:
                self._restore(before)
                raise diverged(epoch, step) from failure
        raise RuntimeError("the replay of a diverged epoch did not diverge (a backend is not "
                           "deterministic)") from failure

    def _train(self, indices, lr, epoch):
        net = self.net
        # never more BLAS threads than CPUs, even when asked: a waiting BLAS thread spins, and
        # on a shared CPU it holds up the one it waits for (BLAS takes no other setting per call).
        # An explicit count is clamped by affinity and quota only, so it gives the same BLAS
        # split, and the same weights, in every run
        blas = min(get_num_threads(), cpu_budget()) if net.backend.uses_blas else None
        # divergence is checked; underflow to 0 is no error
        with np.errstate(over="ignore", invalid="ignore", under="ignore"), blas_threads(blas):
            return net.backend.train_epoch(
                net.weights, net.biases, net.activations, net.loss_name, self.X, self.Y,
                indices, self.batch_size, self.optimizer, self.state, self.workspace, lr, epoch)

    def _finite(self):
        return all(np.isfinite(np.add.reduce(p, axis=None)) or np.all(np.isfinite(p))
                   for p in self.params)

    def _save(self):
        """Copies of the parameters and the optimizer state."""
        state = {key: ([None if a is None else a.copy() for a in value]
                       if isinstance(value, list) else value)
                 for key, value in self.state.items()}
        return [p.copy() for p in self.params], state

    def _restore(self, saved):
        """Put back what ``_save`` copied, in place (other objects hold these arrays)."""
        params, state = saved
        for p, value in zip(self.params, params):
            p[...] = value
        for key, value in state.items():
            if isinstance(value, list):
                for dst, src in zip(self.state[key], value):
                    if dst is not None:
                        dst[...] = src
            else:
                self.state[key] = value
