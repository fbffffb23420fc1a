"""``Network``: a dense feed-forward network, its loss and gradients, and ``fit``.

Design
------
The network owns its parameters (``weights[l]`` of shape ``(n_in, n_out)``, ``biases[l]`` of
shape ``(n_out,)``, all of the dtype it was built with) and a seeded generator; every number it
computes comes from ``self.backend.<op>``, so the same code runs on the reference and on the
compiled backends. User input is checked and converted once, at the top of each public method.
Training epoch by epoch is ``fastnn.training.Trainer``'s; files are ``fastnn.persistence``'s.
"""

import time

import numpy as np

from . import persistence
from ._validation import check_dtype, check_positive_int, check_X, check_Y
from .activations import get_activation
from .backends import get_backend, z_buffers
from .losses import get_loss
from .optim import check_optimizer
from .training import History, Trainer

__all__ = ["Network"]


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
        out = self.backend.predict_ready(self, X)  # X already in kernel form: no conversion
        if out is not None:
            return out
        X = self._check_X(X)
        return self.backend.predict(self.weights, self.biases, self.activations, X)

    predict = forward

    def _outputs(self, X):
        """Every layer's output (the last: the logits) and the Z buffers (``z_buffers``)."""
        outs = [np.empty((X.shape[0], n), self.dtype) for n in self.sizes[1:]]
        zs = z_buffers(self.sizes, self.activations, X.shape[0], self.dtype)
        self.backend.forward_train(self.weights, self.biases, self.activations, X, outs, zs)
        return outs, zs

    def loss(self, X, Y):
        """The empirical risk ``R_n = (1/n) sum_i loss(f(x_i), y_i)``, a float."""
        X, Y = self._check_XY(X, Y)
        outs, _ = self._outputs(X)
        risk, _ = self.backend.loss_and_delta(outs[-1], Y, self.loss_name, self.output_activation)
        return risk

    def gradients(self, X, Y):
        """``[(dW, db), ...]`` per layer: the exact gradient of ``loss(X, Y)``."""
        X, Y = self._check_XY(X, Y)
        outs, zs = self._outputs(X)
        deltas = [np.empty_like(a) for a in outs]
        self.backend.loss_and_delta(outs[-1], Y, self.loss_name, self.output_activation,
                                    D=deltas[-1])
        dW = [np.empty_like(W) for W in self.weights]
        db = [np.empty_like(b) for b in self.biases]
        self.backend.backward(self.weights, self.activations, X, outs, zs, deltas, dW, db)
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
                    outs, _ = self._outputs(X_val)
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
        """Write the network to ``path`` (.npz, no pickles), atomically: see ``fastnn.load``."""
        persistence.save(self, path)
