"""``Network``: a dense feed-forward network, its loss and gradients, training, save and load.

Design
------
The network owns its parameters (``weights[l]`` of shape ``(n_in, n_out)``, ``biases[l]`` of
shape ``(n_out,)``, all of the dtype it was built with) and a seeded generator; every number it
computes comes from ``self.backend.<op>``, so the same code runs on the reference and on the
compiled backends. User input is checked and converted once, at the top of each public method.
"""

import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ._config import blas_threads, cpu_budget, get_num_threads
from ._validation import check_dtype, check_positive_int, check_X, check_Y
from .activations import get_activation
from .backends import DivergenceError, Workspace, get_backend
from .backends.base import diverged
from .losses import get_loss
from .optim import check_optimizer, check_sampling, epoch_indices

__all__ = ["Network", "History", "Trainer", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT_NAME = "fastnn.Network"
# the process umask, read once at import (reading it means setting it): saved files get the
# permissions a plain open() would give them, not mkstemp's 0600
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass
class History:
    """What ``fit`` recorded, one value per epoch."""

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)

    @property
    def epochs(self):
        return len(self.loss)


class Network:
    """A dense feed-forward network ``A[l] = act[l](A[l-1] @ W[l] + b[l])``.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first: ``[64, 128, 10]`` is 64 inputs, one hidden layer of 128
        and 10 outputs.
    activation : str or sequence of str
        Hidden-layer activation(s): ``identity``, ``relu``, ``sigmoid``, ``tanh`` or ``step``.
    output_activation : str
        Any activation, ``softmax`` included.
    loss : str
        ``mse``, ``binary_cross_entropy`` or ``cross_entropy``.
    dtype : {"float32", "float64"}
        The dtype of parameters and computations.
    backend : str
        ``"auto"`` (the fastest available), or a name from ``fastnn.available_backends()``.
    seed : int or None
        Seeds the initial weights and the minibatch sampling.

    Weights are drawn with He initialisation, ``N(0, 2/n_in)``, for relu layers and Glorot's
    uniform ``U(-r, r)``, ``r = sqrt(6/(n_in + n_out))``, otherwise; biases start at zero.
    """

    def __init__(self, sizes, activation="relu", output_activation="softmax",
                 loss="cross_entropy", dtype="float32", backend="auto", seed=0):
        sizes = list(sizes) if np.iterable(sizes) else sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, got {sizes!r}")
        self.sizes = [check_positive_int(s, "each layer size") for s in sizes]
        n_hidden = len(self.sizes) - 2
        hidden = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(hidden) != n_hidden:
            raise ValueError(f"{n_hidden} hidden layers but {len(hidden)} activations given")
        self.activations = [get_activation(a, hidden=True).name for a in hidden]
        self.activations.append(get_activation(output_activation).name)
        self.loss_name = get_loss(loss).name
        self.dtype = check_dtype(dtype)
        self.backend = get_backend(backend)
        if seed is not None:
            seed = check_positive_int(seed, "seed", minimum=0)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.metadata = {}  # name -> array, saved and loaded with the network
        self.weights, self.biases = [], []
        for layer, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            if self.activations[layer] == "relu":
                W = self.rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
            else:
                r = np.sqrt(6.0 / (n_in + n_out))
                W = self.rng.uniform(-r, r, size=(n_in, n_out))
            self.weights.append(W.astype(self.dtype))
            self.biases.append(np.zeros(n_out, dtype=self.dtype))

    # -- properties ----------------------------------------------------------------------------

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.weights)

    @property
    def activation(self):
        return self.activations[:-1]

    @property
    def output_activation(self):
        return self.activations[-1]

    def __repr__(self):
        return (
            f"Network({self.sizes}, activation={self.activation}, "
            f"output_activation={self.output_activation!r}, loss={self.loss_name!r}, "
            f"dtype={self.dtype.name!r}, backend={self.backend.name!r}, seed={self.seed})"
        )

    # -- evaluation ----------------------------------------------------------------------------

    def _check_X(self, X):
        return check_X(X, self.dtype, n_features=self.sizes[0])

    def _check_XY(self, X, Y):
        X = self._check_X(X)
        Y = check_Y(Y, self.dtype, X.shape[0], self.sizes[-1], self.loss_name)
        return X, Y

    def forward(self, X):
        """The output activations for the rows of ``X``, shape ``(n, n_outputs)``."""
        X = self._check_X(X)
        return self.backend.predict(self.weights, self.biases, self.activations, X)

    predict = forward

    def _outputs(self, X):
        outs = [np.empty((X.shape[0], n), self.dtype) for n in self.sizes[1:]]
        return self.backend.forward_train(self.weights, self.biases, self.activations, X, outs)

    def loss(self, X, Y):
        """The empirical risk ``R_n = (1/n) sum_i loss(f(x_i), y_i)``, a float."""
        X, Y = self._check_XY(X, Y)
        outs = self._outputs(X)
        risk, _ = self.backend.loss_and_delta(outs[-1], Y, self.loss_name, self.output_activation)
        return risk

    def gradients(self, X, Y):
        """``[(dW, db), ...]`` per layer: the exact gradient of ``loss(X, Y)``."""
        X, Y = self._check_XY(X, Y)
        outs = self._outputs(X)
        deltas = [np.empty_like(a) for a in outs]
        self.backend.loss_and_delta(outs[-1], Y, self.loss_name, self.output_activation,
                                    D=deltas[-1])
        dW = [np.empty_like(W) for W in self.weights]
        db = [np.empty_like(b) for b in self.biases]
        self.backend.backward(self.weights, self.activations, X, outs, deltas, dW, db)
        return list(zip(dW, db))

    # -- training ------------------------------------------------------------------------------

    def fit(self, X, Y, epochs=10, batch_size=32, optimizer=None, shuffle=True,
            sampling="shuffle", validation_data=None, verbose=0):
        """Train in place by minibatch SGD (or another optimizer) and return a ``History``.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        Y : array-like of shape (n, n_outputs), or (n,)
            One-hot rows or integer labels for ``cross_entropy``; a 1-D ``Y`` is one column for
            the other losses.
        epochs : int
        batch_size : int or None
            ``None`` or ``>= n`` is full-batch gradient descent.
        optimizer : fastnn.SGD or fastnn.Adam, default ``SGD(lr=0.01)``
        shuffle : bool
            Shuffle the samples at each epoch (``sampling="shuffle"``).
        sampling : {"shuffle", "uniform"}
            ``"shuffle"``: each epoch is a pass over the data cut into batches; ``"uniform"``:
            each batch is a uniformly random set of ``batch_size`` distinct samples, and an
            epoch is ``ceil(n / batch_size)`` of them.
        validation_data : (X_val, Y_val), optional
            Its loss is recorded after each epoch in ``history.val_loss``.
        verbose : int
            ``1`` shows a progress bar over the epochs (tqdm), ``2`` prints one line per epoch.

        If the loss or a gradient becomes non-finite, ``fastnn.DivergenceError`` names the
        epoch and step, and the network keeps the last finite weights.
        """
        X, Y = self._check_XY(X, Y)
        epochs = check_positive_int(epochs, "epochs", minimum=0)
        n = X.shape[0]
        batch_size = n if batch_size is None else check_positive_int(batch_size, "batch_size")
        batch_size = min(batch_size, n)
        optimizer = check_optimizer(optimizer)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, Y_val)")
            X_val, Y_val = self._check_XY(*validation_data)

        trainer = Trainer(self, X, Y, batch_size, optimizer, sampling, shuffle)
        history = History()
        bar = None
        if verbose == 1:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, unit="epoch", leave=True)
        try:
            for epoch in range(epochs):
                start = time.perf_counter()
                mean_loss = trainer.run_epoch(epoch, optimizer.lr_at(epoch))
                history.loss.append(mean_loss)
                history.epoch_time.append(time.perf_counter() - start)
                if validation_data is not None:
                    outs = self._outputs(X_val)
                    val, _ = self.backend.loss_and_delta(outs[-1], Y_val, self.loss_name,
                                                         self.output_activation)
                    history.val_loss.append(val)
                if bar is not None:
                    bar.set_postfix(loss=f"{mean_loss:.4f}", **(
                        {"val_loss": f"{history.val_loss[-1]:.4f}"} if history.val_loss else {}))
                    bar.update()
                elif verbose:
                    line = f"epoch {epoch + 1}/{epochs}  loss {mean_loss:.6f}"
                    if validation_data is not None:
                        line += f"  val_loss {history.val_loss[-1]:.6f}"
                    print(line + f"  ({history.epoch_time[-1]:.3f} s)")
        finally:
            if bar is not None:
                bar.close()
        return history

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path):
        """Write the network to ``path`` (.npz, no pickles), atomically.

        The file is written next to ``path`` under a temporary name and renamed into place, so
        an interrupted save leaves any previous file intact.
        """
        path = os.fspath(path)
        arrays = {
            "format": np.array(_FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION),
            "sizes": np.array(self.sizes, dtype=np.int64),
            "activations": np.array(self.activations),
            "loss": np.array(self.loss_name),
            "dtype": np.array(self.dtype.name),
            "seed": np.array(-1 if self.seed is None else self.seed, dtype=np.int64),
        }
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"W{layer}"] = W
            arrays[f"b{layer}"] = b
        for key, value in self.metadata.items():
            value = np.asarray(value)
            if value.dtype.hasobject:
                raise TypeError(f"metadata {key!r} holds Python objects; only plain arrays "
                                "(numbers, strings) can be saved")
            arrays[f"meta.{key}"] = value
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


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


def load(path, backend="auto"):
    """Read a network written by ``Network.save``; never executes code from the file."""
    path = os.fspath(path)
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a fastnn model file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path} is not a readable fastnn model file ({exc})") from exc
    fmt = data.get("format")
    if fmt is None or fmt.shape != () or fmt.item() != _FORMAT_NAME:
        raise ValueError(f"{path} is not a fastnn model file")
    try:
        version = int(data["format_version"])
        if version > FORMAT_VERSION:
            raise ValueError(
                f"format version {version} is newer than this fastnn's ({FORMAT_VERSION}): "
                "upgrade fastnn to read it"
            )
        sizes = [int(s) for s in data["sizes"]]
        activations = [str(a) for a in data["activations"]]
        seed = int(data["seed"])
        net = Network(sizes, activations[:-1], activations[-1], str(data["loss"]),
                      str(data["dtype"]), backend, None if seed < 0 else seed)
        for layer in range(net.n_layers):
            W, b = data[f"W{layer}"], data[f"b{layer}"]
            if W.shape != net.weights[layer].shape or b.shape != net.biases[layer].shape:
                raise ValueError(f"layer {layer} has shapes {W.shape}, {b.shape}")
            if W.dtype != net.dtype or b.dtype != net.dtype:
                raise ValueError(f"layer {layer} has dtype {W.dtype}, expected {net.dtype}")
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ValueError(f"layer {layer} holds NaN or infinity")
            net.weights[layer][...] = W
            net.biases[layer][...] = b
        net.metadata = {key[5:]: value for key, value in data.items() if key.startswith("meta.")}
    except KeyError as exc:
        raise ValueError(f"{path} is not a complete fastnn model file: {exc} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid fastnn model file: {exc}") from exc
    return net
