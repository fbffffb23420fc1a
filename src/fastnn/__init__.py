"""fastnn: dense neural networks on the CPU, trained and run by hand-written compiled kernels."""

__version__ = "0.1.0"

from . import kernels
from ._config import config_info, get_num_threads, set_num_threads, show_config
from .activations import ACTIVATIONS
from .backends import DivergenceError, available_backends
from .losses import LOSSES
from .network import Network
from .persistence import load
from .training import History
from .optim import SGD, Adam, AdamW


def warmup(parallel=True):
    """Compile the Numba kernels for float32 and float64 ahead of time.

    The compiled code is cached on disk (in the user's cache directory), so this costs once per
    installation; afterwards the first real call is as fast as the others.
    """
    from .backends.numba import warmup as _warmup

    return _warmup(parallel)

__all__ = [
    "__version__", "kernels", "available_backends", "show_config", "config_info",
    "set_num_threads", "get_num_threads", "Network", "History", "load", "SGD", "Adam", "AdamW",
    "DivergenceError", "ACTIVATIONS", "LOSSES", "warmup",
]
