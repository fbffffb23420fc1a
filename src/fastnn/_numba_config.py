"""Flags of the Numba kernels, in one place: caching, fastmath subsets, parallel thresholds.

Design
------
The modules of ``fastnn/backends/numba/`` build every kernel through :func:`jit` (and
:func:`variants`), so the flags below are the only place where compilation options are chosen
(the stumpy / pynndescent habit).

Cache directory. Numba caches compiled code in ``__pycache__`` next to the source unless
``NUMBA_CACHE_DIR`` is set, and an installed package's directory may be read-only. When the user
has not set ``NUMBA_CACHE_DIR``, fastnn's kernels cache under :func:`cache_dir`
(``$XDG_CACHE_HOME/fastnn/numba``, default ``~/.cache/fastnn/numba``; ``FASTNN_NUMBA_CACHE_DIR``
overrides it). Numba's cache locator reads ``numba.config.CACHE_DIR`` once, when a dispatcher is
created with ``cache=True`` (``Dispatcher.enable_caching``), long before anything is compiled; so
:func:`jit` sets that value only for the duration of each decoration and restores it at once. The
process environment and other libraries' Numba functions are left alone. A directory that cannot
be written makes Numba fall back to its own locators (``__pycache__``, then its user-wide cache).
Numba keys a cached kernel by the modification time of the file its function is written in, not
of the files its inlined helpers and constants come from (``backends/numba/maths.py``, the
activation and optimizer tables): so the kernels cache in a subdirectory named by a digest of
all those sources (:func:`source_tag`), and a change to any of them compiles afresh.

fastmath. Only ``{"contract"}`` (fused multiply-add) is used, in the products and the activation
epilogues: it changes rounding within the tolerance of a product, never NaN or inf handling. The
losses and the optimizer updates use no fastmath flag at all (they sit next to the divergence
checks, which rely on NaN and inf propagating).

Parallel thresholds. A Numba parallel region costs a few microseconds (waking the workqueue or
TBB/OpenMP pool), so each kernel runs its serial variant when the work is below the thresholds
below, which sit where the parallel variant starts to repay that cost.
Environment overrides: ``FASTNN_NUMBA_CACHE=0`` (no on-disk cache), ``FASTNN_NUMBA_PARALLEL=0``
(serial variants only).
"""

import contextlib
import functools
import hashlib
import os
import sys

__all__ = [
    "CACHE", "PARALLEL", "FASTMATH_PRODUCT", "FASTMATH_EXACT",
    "PARALLEL_MIN_EPILOGUE", "PARALLEL_MIN_EPILOGUE_EXP", "PARALLEL_MIN_LOSS",
    "PARALLEL_MIN_UPDATE",
    "cache_dir", "jit", "variants",
]


def _flag(name, default):
    return os.environ.get(name, "1" if default else "0").strip().lower() not in ("0", "false", "no",
                                                                                "off", "")


CACHE = _flag("FASTNN_NUMBA_CACHE", True)
PARALLEL = _flag("FASTNN_NUMBA_PARALLEL", True)

# fastmath subsets (LLVM flags): products and activations may contract a*b+c into an fma
FASTMATH_PRODUCT = {"contract"}
FASTMATH_EXACT = False  # losses, updates: IEEE semantics, NaN/inf checks stay meaningful

# Smallest work (elements) for which the parallel variant is used; below it, the serial one.
# The cheaper an element, the more of them it takes to repay a parallel region: the
# piecewise-linear epilogues (a compare or a copy per element) hardly ever do, the exp-based ones
# cost a few times more per element, the loss (libm exp/log in double) many times more. Each
# threshold sits at about twice the break-even point, since a parallel region right after a
# multi-threaded BLAS product also pays for waking threads the BLAS pool is spinning on.
# These apply to the single-kernel calls (fastnn.kernels, Network.loss / gradients) only: the
# compiled epoch and predict (TRAIN_EPOCH, PREDICT) use the serial variants throughout and leave
# the threading to BLAS, since a prange region right after a BLAS product oversubscribes the
# cores while the BLAS threads still spin.
PARALLEL_MIN_EPILOGUE = 1 << 20  # outputs of a piecewise-linear epilogue; D_prev; db
PARALLEL_MIN_EPILOGUE_EXP = 1 << 16  # outputs of any other epilogue (exp or rational)
PARALLEL_MIN_LOSS = 1 << 13  # elements of Z
PARALLEL_MIN_UPDATE = 1 << 17  # parameters of an SGD / Adam step


def cache_dir():
    """The directory fastnn's Numba kernels are cached in (``None``: Numba's own choice).

    ``NUMBA_CACHE_DIR`` when the user set it (Numba then uses it for everything), else
    ``FASTNN_NUMBA_CACHE_DIR``, else the platform's user cache directory + ``fastnn/numba``.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if os.environ.get("FASTNN_NUMBA_CACHE_DIR"):
        return os.environ["FASTNN_NUMBA_CACHE_DIR"]
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    if not os.path.isabs(base):  # XDG says relative paths are invalid: ignore them
        base = os.path.expanduser("~/.cache")
    return os.path.join(base, "fastnn", "numba")


@contextlib.contextmanager
def _numba_cache_dir(path):
    """Point Numba's user-provided cache locator at ``path`` while dispatchers are created."""
    from numba.core import config

    before = config.CACHE_DIR
    config.CACHE_DIR = path
    try:
        yield
    finally:
        config.CACHE_DIR = before


# the sources the compiled kernels depend on, relative to the fastnn package
_SOURCES = ("_numba_config.py", "activations.py", "losses.py", "optim.py", "backends/numba")


@functools.lru_cache(maxsize=None)
def source_tag():
    """A digest of every source the Numba kernels are compiled from (see the design note)."""
    root = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha1()
    for rel in _SOURCES:
        path = os.path.join(root, rel)
        files = ([os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith(".py")]
                 if os.path.isdir(path) else [path])
        for name in files:
            with open(name, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def jit(func, *, parallel=False, fastmath=False, name=None):
    """``numba.njit`` with fastnn's flags; ``name`` renames the compiled copy of ``func``.

    Serial and parallel variants are built from one Python function: each gets its own
    ``__qualname__`` so that their on-disk cache files never collide (Numba's cache index does
    not include the ``parallel`` flag).
    """
    import types

    import numba

    if name is not None:
        func = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__,
                                  func.__closure__)
        func.__qualname__ = name
    if isinstance(fastmath, (set, frozenset)):
        fastmath = set(fastmath)  # Numba takes a bool, dict or set
    options = dict(cache=CACHE, parallel=parallel and PARALLEL, fastmath=fastmath,
                   nogil=True, error_model="numpy")
    if not CACHE:
        return numba.njit(**options)(func)
    with _numba_cache_dir(os.path.join(cache_dir(), source_tag())):
        return numba.njit(**options)(func)


def variants(func, fastmath):
    """(serial, parallel) compiled copies of one Python function."""
    name = func.__name__
    return (jit(func, fastmath=fastmath, name=name + "_serial"),
            jit(func, fastmath=fastmath, parallel=True, name=name + "_parallel"))
