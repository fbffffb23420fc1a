"""Input checks at the Python boundary: the one place where user arrays are converted.

Design
------
Every array a user hands to fastnn passes through here exactly once. It leaves as a C-contiguous
array of the model's float dtype (a copy only when the layout or dtype requires one; the caller's
array is never written), or a clear ``TypeError``/``ValueError`` says what is wrong with it. The
compiled kernels rely on this and still re-check shapes and contiguity themselves.
"""

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_array

FLOAT_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def check_dtype(dtype):
    """``np.dtype`` for ``"float32"``/``"float64"`` (or the dtypes themselves)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _reject_non_numeric(a, name):
    dt = getattr(a, "dtype", None)
    dt = np.dtype(dt) if dt is not None else np.asarray(a).dtype
    if dt.kind == "c":
        raise TypeError(f"{name} has a complex dtype ({dt}); fastnn works on real numbers")
    if dt.kind in "OUSVMm":
        raise TypeError(f"{name} has dtype {dt}; fastnn needs a numeric array (float, int or bool)")


def _ready(a, dtype):
    """Whether ``a`` is already what the kernels take: a non-empty, finite, aligned,
    C-contiguous 2-D array of ``dtype``. One summing pass proves it finite (a sum that overflows
    says no, and the full check that follows then passes it)."""
    return (type(a) is np.ndarray and a.dtype == dtype and a.ndim == 2 and a.size > 0
            and a.flags.c_contiguous and a.flags.aligned
            and bool(np.isfinite(np.add.reduce(a, axis=None))))


def check_X(X, dtype, n_features=None, name="X"):
    """A 2-D, finite, non-empty C-contiguous array of ``dtype``.

    ``n_features`` (when given) must match the number of columns.
    """
    if _ready(X, dtype) and X.shape[1] == (n_features or X.shape[1]):
        return X
    _reject_non_numeric(X, name)
    X = check_array(
        X,
        dtype=dtype,
        order="C",
        ensure_all_finite=True,
        ensure_2d=True,
        ensure_min_samples=1,
        ensure_min_features=1,
        input_name=name,
    )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample, but the network expects {n_features}"
        )
    return as_kernel_array(X, dtype)


def as_kernel_array(a, dtype):
    """``a`` as a C-contiguous, aligned array of ``dtype``: ``a`` itself when it already is one,
    else a copy. Alignment matters: a float32 view at an odd byte offset of a buffer is
    C-contiguous, but the C kernels may not read floats from it (undefined behaviour in C)."""
    a = np.asarray(a, dtype=dtype)
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, dtype, order="C")  # a fresh array is aligned


def check_Y(Y, dtype, n_samples, n_outputs, loss, name="Y"):
    """Targets as a C-contiguous ``(n_samples, n_outputs)`` array of ``dtype``.

    For ``cross_entropy`` integer labels of shape ``(n,)`` are one-hot encoded; for the other
    losses a 1-D ``Y`` is read as one column.
    """
    _reject_non_numeric(Y, name)
    Y = np.asarray(Y)
    if Y.ndim == 1 and loss == "cross_entropy":
        if Y.dtype.kind == "f" and not np.all(np.isfinite(Y)):
            raise ValueError(f"{name} contains NaN or infinity")
        labels = Y.astype(np.int64)
        if Y.dtype.kind == "f" and not np.array_equal(labels, Y):
            raise ValueError(f"{name}: integer class labels expected for cross_entropy")
        if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(
                f"{name}: class labels must lie in [0, {n_outputs}) for a network with "
                f"{n_outputs} outputs; got labels from {labels.min()} to {labels.max()}"
            )
        onehot = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
        onehot[np.arange(labels.shape[0]), labels] = 1
        Y = onehot
    elif Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got an array with {Y.ndim} dimensions")
    if not _ready(Y, dtype):
        Y = as_kernel_array(check_array(
            Y, dtype=dtype, order="C", ensure_all_finite=True, ensure_min_samples=1,
            input_name=name), dtype)
    if Y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but {name} has {Y.shape[0]}")
    if Y.shape[1] != n_outputs:
        raise ValueError(
            f"{name} has {Y.shape[1]} columns, but the network has {n_outputs} outputs"
        )
    return Y


def check_positive_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(value, name, minimum=None, maximum=None, strict_min=False):
    # a float skips the abstract-class checks: the kernel wrappers check a few per call
    if type(value) is not float and (isinstance(value, (bool, np.bool_))
                                     or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value
