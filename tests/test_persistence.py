"""save / load: round trip, atomic writes, and clear errors for files that are not models."""

import os
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import persistence


@pytest.fixture
def net(backend, dtype):
    net = fastnn.Network([5, 7, 3], activation="tanh", output_activation="softmax",
                         dtype=dtype, backend=backend, seed=4)
    X = np.random.default_rng(0).standard_normal((20, 5))
    net.fit(X, np.arange(20) % 3, epochs=2, batch_size=4)
    return net


def test_round_trip(net, tmp_path):
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = fastnn.load(path, backend=net.backend.name)
    assert loaded.sizes == net.sizes and loaded.activations == net.activations
    assert loaded.loss_name == net.loss_name and loaded.dtype == net.dtype
    for a, b in zip(loaded.weights + loaded.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == net.dtype
    X = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() would create it


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old_file(net, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    net.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_truncated_file(net, tmp_path):
    path = tmp_path / "model.npz"
    net.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a"):
        fastnn.load(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a"):
        fastnn.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="not a fastnn model"):
        fastnn.load(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a"):
        fastnn.load(pickled)
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.npz")


def _rewrite(path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    for key in [k for k, v in arrays.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


def test_future_version_incomplete_and_corrupt_files(net, tmp_path):
    path = tmp_path / "model.npz"
    net.save(path)
    _rewrite(path, format_version=np.array(persistence.FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="newer"):
        fastnn.load(path)
    net.save(path)
    _rewrite(path, W1=None)
    with pytest.raises(ValueError, match="W1"):
        fastnn.load(path)
    net.save(path)
    _rewrite(path, W0=np.zeros((2, 2), net.dtype))
    with pytest.raises(ValueError, match="shapes"):
        fastnn.load(path)
    net.save(path)
    W = net.weights[0].copy()
    W[0, 0] = np.nan
    _rewrite(path, W0=W)
    with pytest.raises(ValueError, match="NaN"):
        fastnn.load(path)
    assert zipfile.is_zipfile(path) and os.path.getsize(path) > 0
