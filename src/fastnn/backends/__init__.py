"""The backend registry: the NumPy reference and the compiled backends, fastest first.

A backend is loaded on first use; one that cannot be imported (no compiled extension, no Numba)
is simply not available, and ``unavailable_backends()`` says why.
"""

import importlib

from .base import Backend, DivergenceError, Workspace, z_buffers

__all__ = [
    "Backend", "DivergenceError", "Workspace", "BACKENDS", "z_buffers",
    "available_backends", "get_backend", "unavailable_backends",
]

# name -> (module, class), fastest first: the order of available_backends() and of "auto"
BACKENDS = {
    "cython": ("fastnn.backends.cython", "CythonBackend"),
    "numba": ("fastnn.backends.numba", "NumbaBackend"),
    "numpy": ("fastnn.backends.base", "Backend"),
}

_loaded = {}
_errors = {}


def _load(name):
    if name not in _loaded and name not in _errors:
        module, cls = BACKENDS[name]
        try:
            _loaded[name] = getattr(importlib.import_module(module), cls)()
        except ImportError as exc:
            _errors[name] = f"{type(exc).__name__}: {exc}"
    return _loaded.get(name)


def available_backends():
    """Names of the backends that work here, fastest first (``"numpy"`` is always there)."""
    return [name for name in BACKENDS if _load(name) is not None]  # "auto" is no name here


def unavailable_backends():
    """``{name: reason}`` for the backends that could not be loaded."""
    available_backends()
    return dict(_errors)


def get_backend(name="auto"):
    """The backend instance for ``name``; ``"auto"`` is the fastest available one."""
    if isinstance(name, Backend):
        return name
    if name == "auto":
        if "auto" not in _loaded:
            _loaded["auto"] = _load(available_backends()[0])
        return _loaded["auto"]
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected 'auto' or one of {list(BACKENDS)}")
    backend = _load(name)
    if backend is None:
        raise ValueError(f"backend {name!r} is not available here: {_errors[name]}")
    return backend
