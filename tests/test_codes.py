"""The codes shared by Python, C and Numba agree: fastnn.h lists each once, and the Python tables
(and the Numba backend, which takes its codes from them) must say the same."""

import numpy as np
import pytest

from fastnn import ACTIVATIONS, LOSSES
from fastnn.optim import OPTIMIZERS

_ckernels = pytest.importorskip("fastnn._ckernels")


def test_activation_and_loss_codes_match_the_c_header():
    assert _ckernels.CODES["activation"] == {a.name: a.code for a in ACTIVATIONS.values()}
    assert _ckernels.FLAGS == {a.name: {"hidden": a.hidden, "needs_z": a.needs_z}
                               for a in ACTIVATIONS.values()}
    assert _ckernels.CODES["loss"] == {loss.name: loss.code for loss in LOSSES.values()}


def test_optimizer_kinds_and_isas_match_the_c_header():
    assert _ckernels.CODES["optimizer"] == {name: cls.code for name, cls in OPTIMIZERS.items()}
    assert _ckernels.MOMENTS == {name: len(cls.slots) for name, cls in OPTIMIZERS.items()}
    params = [np.zeros((2, 2))]
    for cls in OPTIMIZERS.values():
        opt = cls()
        args = opt.kernel_args(0.1, opt.init_state(params))[0]
        assert args["kind"] == cls.kind and args["lr"] == 0.1 and args["t"] == 0
    assert _ckernels.ISA_NAMES == tuple(sorted(_ckernels.CODES["isa"],
                                               key=_ckernels.CODES["isa"].get))
    assert _ckernels.best_isa() in _ckernels.ISA_NAMES
    assert _ckernels.CODES["status"]["ok"] == 0
    assert all(code < 0 for name, code in _ckernels.CODES["status"].items() if name != "ok")


def test_numba_takes_its_codes_from_the_table():
    numba_backend = pytest.importorskip("fastnn.backends.numba")
    for name in ACTIVATIONS:
        assert numba_backend.Act[name.upper()] == ACTIVATIONS[name].code
    from fastnn.backends.numba import loss, optimizers
    assert optimizers.KIND == _ckernels.CODES["optimizer"]
    assert (loss.MSE, loss.BCE, loss.CE) == tuple(
        LOSSES[n].code for n in ("mse", "binary_cross_entropy", "cross_entropy"))


def test_the_c_kernels_refuse_what_the_table_does_not_allow():
    """An unknown code, and an output-only activation where a derivative is needed, are refused
    by what the table says of them, not by their place among the codes."""
    X, W, b = np.ones((3, 4)), np.ones((4, 2)), np.zeros(2)
    unknown = max(_ckernels.CODES["activation"].values()) + 1
    with pytest.raises(ValueError, match="invalid argument"):
        _ckernels.dense_forward(X, W, b, unknown, np.empty((3, 2)))
    D = np.ones((3, 2))
    for name, flags in _ckernels.FLAGS.items():
        args = (X, W, D, ACTIVATIONS[name].code, np.empty((4, 2)), np.empty(2), np.empty((3, 4)))
        if flags["hidden"]:
            _ckernels.dense_backward(*args, 0, X)
        else:
            with pytest.raises(ValueError, match=f"{name} is for the output layer only"):
                _ckernels.dense_backward(*args)
    with pytest.raises(ValueError, match="invalid argument"):
        _ckernels.dense_backward(X, W, D, unknown, *args[4:])
