"""The public API of DESIGN.md, the backend contract, and the configuration calls."""

import inspect

import numpy as np
import pytest

import fastnn
from fastnn.backends import BACKENDS, Backend, get_backend

CONTRACT = ["dense_forward", "dense_backward", "loss_and_delta", "sgd_update", "adam_update",
            "train_epoch", "predict"]


def test_public_names():
    for name in ["__version__", "available_backends", "show_config", "set_num_threads",
                 "get_num_threads", "Network", "load", "SGD", "Adam", "kernels"]:
        assert hasattr(fastnn, name), name
    assert fastnn.available_backends()[-1] == "numpy"


def test_reference_backend_defines_the_whole_contract():
    for op in CONTRACT:
        assert callable(getattr(Backend, op, None)), op


@pytest.mark.parametrize("name", fastnn.available_backends())
def test_every_backend_keeps_the_reference_signatures(name):
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    for op, _ in inspect.getmembers(Backend, inspect.isfunction):
        if op.startswith("_"):
            continue
        assert inspect.signature(getattr(type(backend), op)) == inspect.signature(
            getattr(Backend, op)), f"{name}.{op}"


def test_auto_is_the_fastest_available():
    assert get_backend("auto") is get_backend(fastnn.available_backends()[0])
    assert list(BACKENDS)[-1] == "numpy"


def test_threads_setting_round_trips():
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        assert fastnn.get_num_threads() == 1
        with pytest.raises(ValueError):
            fastnn.set_num_threads(0)
        with pytest.raises(TypeError):
            fastnn.set_num_threads(1.5)
    finally:
        fastnn.set_num_threads(before)


def test_show_config_names_backends_and_threads(capsys):
    fastnn.show_config()
    out = capsys.readouterr().out
    assert "backends" in out and "threads" in out and "numpy" in out
    info = fastnn.config_info()
    assert info["backends"] == fastnn.available_backends()


def test_forward_loss_and_dtypes():
    X = np.random.default_rng(0).standard_normal((5, 3))
    for dtype in ("float32", "float64"):
        net = fastnn.Network([3, 4, 2], dtype=dtype)
        out = net.forward(X)
        assert out.dtype == dtype and out.shape == (5, 2)
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
        assert isinstance(net.loss(X, [0, 1, 0, 1, 1]), float)
