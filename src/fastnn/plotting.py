"""Plots (matplotlib, the ``plot`` extra): training curves and decision boundaries."""

import numpy as np

__all__ = ["plot_history", "plot_decision_boundary"]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'fastnn[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, path=None, title=None, ax=None):
    """The training loss (and the validation loss, when recorded) per epoch.

    ``history`` is a ``fastnn.History`` or a list of losses; with ``path`` the figure is saved.
    Returns the axes.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    losses = getattr(history, "loss", history)
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, label="training loss")
    val = getattr(history, "val_loss", None)
    if val:
        ax.plot(epochs, val, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    if path:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def plot_decision_boundary(predict, X, y, path=None, title=None, ax=None, resolution=300):
    """The classes ``predict`` assigns over the plane of 2-D data ``X``, with the samples.

    ``predict`` maps an ``(n, 2)`` array to labels (``model.predict``) or to probabilities
    (``net.forward``: the arg-max, or ``> 0.5`` for one column, is taken). Returns the axes.
    """
    plt = _pyplot()
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision boundaries are drawn for 2-D data, got shape {X.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    out = np.asarray(predict(np.column_stack([xx.ravel(), yy.ravel()])))
    if out.ndim == 2:
        out = (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)
    labels, codes = np.unique(out, return_inverse=True)
    ax.contourf(xx, yy, codes.reshape(xx.shape), alpha=0.3, cmap="coolwarm",
                levels=np.arange(len(labels) + 1) - 0.5)
    ax.scatter(X[:, 0], X[:, 1], c=np.unique(y, return_inverse=True)[1], cmap="coolwarm",
               edgecolors="black", s=40)
    if title:
        ax.set_title(title)
    if path:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax
