"""Shared test parameters: every backend that is available here, both dtypes, odd shapes."""

import importlib
import os

import numpy as np
import pytest

import fastnn

if os.environ.get("FASTNN_REQUIRE_COMPILED") == "1":
    # CI sets this: a build that silently fell back to pure Python must fail, not pass
    importlib.import_module("fastnn._ckernels")
    missing = {"cython", "numba"} - set(fastnn.available_backends())
    assert not missing, f"compiled backends missing: {fastnn.backends.unavailable_backends()}"

BACKENDS = fastnn.available_backends()
DTYPES = [np.float32, np.float64]
# (m, k, n): 1x1, k = 1, primes, and sizes that are not multiples of any tile or cache block
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 4), (7, 13, 29), (31, 17, 1), (97, 131, 53),
          (64, 64, 64), (130, 67, 257), (3, 600, 5),
          (2, 301, 263)]  # a few rows against over 256 KiB of weights: summed in two halves

# relative tolerance of a compiled result against the float64 reference, per dtype
RTOL = {np.float32: 2e-5, np.float64: 1e-11}


def more_optimizers(*listed):
    """One instance (lr 0.01, weight decay 1e-3) of every optimizer in fastnn.optim.OPTIMIZERS
    whose kind is not among ``listed``: the lists of optimizers the tests train with pick up a
    new row of the table this way."""
    from fastnn.optim import OPTIMIZERS

    return [cls(lr=0.01, weight_decay=1e-3) for kind, cls in OPTIMIZERS.items()
            if kind not in listed]


def more_activations(*listed):
    """Every activation a network can be trained with (fastnn.activations.TRAINABLE_ACTIVATIONS)
    that is not among ``listed``: the fixed networks of the epoch tests are joined by one net per
    new row of the table this way, so its compiled forward, derivative and loss path are run."""
    from fastnn.activations import TRAINABLE_ACTIVATIONS

    return [name for name in TRAINABLE_ACTIVATIONS if name not in listed]


def tol(dtype, k=1):
    """Absolute-and-relative tolerance for a result accumulated over ``k`` terms."""
    r = RTOL[np.dtype(dtype).type] * max(1.0, np.sqrt(k))
    return dict(rtol=r, atol=r)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _no_thread_setting_left_behind():
    """A test that calls fastnn.set_num_threads leaves no setting for the tests after it."""
    yield
    if fastnn._config._global is not None:
        fastnn.set_num_threads(None)
