"""Network files: ``save`` and ``load``, an .npz archive with a format name and version.

Design
------
Saving writes a temporary file beside the destination and renames it into place, so an
interrupted save leaves any previous file intact; the file gets the permissions a plain open()
would give it (the process umask), not mkstemp's 0600. Loading never executes code
(``allow_pickle=False``) and checks every array before it reaches a ``Network``.
"""

import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT_NAME = "fastnn.Network"


def _umask():
    """The process umask. Linux reports it in /proc/self/status; elsewhere reading it means
    setting it for a moment (os.umask), which another thread creating a file then could see."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save(net, path):
    """Write ``net`` to ``path`` (.npz, no pickles), atomically.

    The file is written next to ``path`` under a temporary name and renamed into place, so
    an interrupted save leaves any previous file intact.
    """
    path = os.fspath(path)
    arrays = {
        "format": np.array(_FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION),
        "sizes": np.array(net.sizes, dtype=np.int64),
        "activations": np.array(net.activations),
        "loss": np.array(net.loss_name),
        "dtype": np.array(net.dtype.name),
        "seed": np.array(-1 if net.seed is None else net.seed, dtype=np.int64),
    }
    for layer, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{layer}"] = W
        arrays[f"b{layer}"] = b
    for key, value in net.metadata.items():
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
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, backend="auto"):
    """Read a network written by ``Network.save``; never executes code from the file."""
    from .network import Network

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
