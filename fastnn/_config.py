"""Run-time configuration: one thread count for OpenMP, Numba and BLAS; ``show_config``."""

import contextlib
import os
import platform
import sys

from ._validation import check_positive_int

_num_threads = None
_default = None


def _default_threads():
    """The CPUs this process may use, read once."""
    global _default
    if _default is None:
        try:
            _default = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            _default = os.cpu_count() or 1
    return _default


def get_num_threads():
    """The number of threads fastnn's kernels use (default: the CPUs this process may use)."""
    return _num_threads if _num_threads is not None else _default_threads()


def set_num_threads(n):
    """Use ``n`` threads in the C (OpenMP) and Numba kernels and in BLAS.

    The compiled kernels read this setting on every call; Numba and the BLAS under NumPy are set
    through their own controls (``numba.set_num_threads`` and threadpoolctl).
    """
    global _num_threads
    n = check_positive_int(n, "n")
    _num_threads = n
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")


@contextlib.contextmanager
def num_threads(n):
    """Within the block, use ``n`` threads (``None``: leave the setting alone)."""
    global _num_threads
    if n is None:
        yield
        return
    before = _num_threads
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(_default_threads() if before is None else before)
        _num_threads = before  # "not set" stays "not set"


def config_info():
    """The facts ``show_config`` prints, as a dict."""
    from . import __version__
    from .backends import available_backends, unavailable_backends

    info = {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "backends": available_backends(),
        "unavailable": unavailable_backends(),
        "threads": get_num_threads(),
    }
    try:
        from . import _ckernels

        info.update(_ckernels.build_info())
    except ImportError as exc:
        info["compiled"] = f"not built ({exc})"
    if "numba" in info["backends"]:
        import numba

        from . import _numba_config

        info["numba"] = f"{numba.__version__} (cache in {_numba_config.cache_dir()})"
    import numpy

    info["numpy"] = numpy.__version__
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{p['internal_api']} {p.get('version')} ({p.get('threading_layer', '?')}, "
            f"{p['num_threads']} threads, {p.get('architecture', '?')})"
            for p in threadpool_info()
            if p["user_api"] == "blas"
        ]
    except ImportError:
        pass
    return info


def show_config():
    """Print the backends, OpenMP on/off, the SIMD level in use and the thread counts."""
    for key, value in config_info().items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        print(f"{key:>12}: {value}")
