"""Scalar maths of the Numba kernels: exp, the activations and their derivatives.

Design
------
The formulas and constants of ``csrc/act.template.c``, so that both compiled backends compute the
same values: ``exp`` by Cody-Waite reduction, a Taylor polynomial and ``2^n`` assembled in the
exponent bits (LLVM vectorises it; libm's scalar calls would dominate an exp-based epilogue);
``tanh`` in float32 by the same rational minimax approximation as C, in float64 by a Taylor
polynomial near 0 and ``exp`` elsewhere; ``sigmoid`` from ``exp(-|z|)``, which never overflows.
Each helper is an ``@overload`` specialised per dtype, with its constants in that dtype.

The activations are one case each in ``act1`` (forward) and ``dact1`` (derivative, from the output
``a``, or from the input ``z`` for the rows of ``ACTIVATIONS`` that say ``needs_z``). Both take the
activation code as a compile-time constant and compile to that one case: a kernel runs its loop over
a block of rows through ``unswitched``, which branches on the code once, outside the loop, into one
copy of the loop per activation, each compiled with its constant and vectorised alone. A switch on a
run-time code inside the loop would leave it to LLVM to move the switch out, which its size limits
forbid for a loop holding every activation's formula: the loop then runs scalar. The copies are
compiled once per process and dtype, and shared by every kernel that calls them.

``act1`` and ``dact1`` are inlined into the loops in Numba's IR (their case is chosen while
typing); ``exp``, ``tanh`` and ``sigmoid`` are ordinary compiled functions, which LLVM inlines and
vectorises all the same, while Numba's IR inlining copies a function's IR at every call site and
would make every kernel slower to compile. Numba's pedantic IR check warns ("variable
'..._impl__locals__...' is not in scope") when ``act1`` or ``dact1`` is inlined twice into one
function; the compiled code is right (the tests hold it to the C kernels within a few ulp), so that
warning, and only for these two, is filtered.
"""

import enum
import warnings

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.errors import NumbaIRAssumptionWarning, TypingError
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from ...activations import ACTIVATIONS

__all__ = ["Act", "act1", "dact1", "const", "eps", "expneg", "flat", "row_blocks", "unswitched",
           "ROW_BLOCK"]

warnings.filterwarnings(
    "ignore", message=r"variable '_(act1|dact1)_impl__locals__",
    category=NumbaIRAssumptionWarning)

# the activation codes, from the table: Act.RELU == ACTIVATIONS["relu"].code
Act = enum.IntEnum("Act", {name.upper(): a.code for name, a in ACTIVATIONS.items()})
# the codes act1 and dact1 have a case for (softmax is not elementwise)
ELEMENTWISE = tuple(Act[name.upper()] for name, a in ACTIVATIONS.items() if a.derivative)


@intrinsic
def _f32_from_bits(typingctx, bits):
    if bits != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _f64_from_bits(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _flat_view(typingctx, a):
    if not (isinstance(a, types.Array) and a.layout == "C"):
        return None
    flat_type = a.copy(ndim=1)

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        dst = make_array(flat_type)(context, builder)
        populate_array(dst, data=src.data, shape=[src.nitems], strides=[src.itemsize],
                       itemsize=src.itemsize, meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, flat_type, dst._getvalue())

    return flat_type(a), codegen


def flat(a):
    """A 1-D view of the array ``a``, of any number of dimensions."""


@overload(flat, inline="always")
def _flat_impl(a):
    # Numba's reshape asks a C helper whether a view is possible, which costs a small update
    # more than its arithmetic; a C-contiguous array is its own 1-D view.
    if isinstance(a, types.Array) and a.layout == "C":
        return lambda a: _flat_view(a)
    return lambda a: a.reshape(-1)


def const(a, value):
    """``value`` in the element type of the array ``a`` (a compile-time constant)."""


@overload(const, inline="always")
def _const_impl(a, value):
    if isinstance(a, types.Array) and a.dtype == types.float32:
        return lambda a, value: np.float32(value)
    return lambda a, value: np.float64(value)


def eps(a):
    """The machine epsilon of the element type of the array ``a``."""


@overload(eps, inline="always")
def _eps_impl(a):
    e = np.finfo(np.float32 if a.dtype == types.float32 else np.float64).eps
    return lambda a: e


def expneg(x):
    """``exp(x)`` for ``x <= 0`` (NaN propagates); 0 below -87 (float) / -708 (double)."""


_F32 = dict(lo=np.float32(-87.0), magic=np.float32(12582912.0),
            log2e=np.float32(1.4426950408889634), ln2_hi=np.float32(0.693359375),
            ln2_lo=np.float32(-2.12194440e-4))
_P32 = tuple(np.float32(c) for c in (1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0))
_F64 = dict(lo=-708.0, magic=6755399441055744.0, log2e=1.4426950408889634,
            ln2_hi=6.93147180369123816490e-01, ln2_lo=1.90821492927058770002e-10)
_P64 = (1 / 6227020800, 1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320,
        1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0)


@overload(expneg)
def _expneg_impl(x):
    if x == types.float32:
        lo, magic, log2e, hi, lo2 = (_F32[k] for k in ("lo", "magic", "log2e", "ln2_hi", "ln2_lo"))
        c0, c1, c2, c3, c4, c5, c6, c7 = _P32
        bias = np.int32(127)

        def impl(x):
            xc = lo if x < lo else x
            kf = xc * log2e + magic
            nf = kf - magic
            r = xc - nf * hi
            r = r - nf * lo2
            scale = _f32_from_bits(np.int32((np.int32(nf) + bias) << 23))
            p = c0
            p = p * r + c1
            p = p * r + c2
            p = p * r + c3
            p = p * r + c4
            p = p * r + c5
            p = p * r + c6
            p = p * r + c7
            y = p * scale
            return np.float32(0.0) if x < lo else y

        return impl
    if x == types.float64:
        lo, magic, log2e, hi, lo2 = (_F64[k] for k in ("lo", "magic", "log2e", "ln2_hi", "ln2_lo"))
        c = _P64

        def impl(x):
            xc = lo if x < lo else x
            kf = xc * log2e + magic
            nf = kf - magic
            r = xc - nf * hi
            r = r - nf * lo2
            scale = _f64_from_bits(np.int64((np.int64(nf) + 1023) << 52))
            p = c[0]
            p = p * r + c[1]
            p = p * r + c[2]
            p = p * r + c[3]
            p = p * r + c[4]
            p = p * r + c[5]
            p = p * r + c[6]
            p = p * r + c[7]
            p = p * r + c[8]
            p = p * r + c[9]
            p = p * r + c[10]
            p = p * r + c[11]
            p = p * r + c[12]
            p = p * r + c[13]
            y = p * scale
            return 0.0 if x < lo else y

        return impl
    return None


def tanh1(z):
    """``tanh(z)``: float32 the rational approximation of C, float64 Taylor / exp."""


# float32: odd rational minimax approximation on [-7.9, 7.9], max relative error 4e-7; exactly
# +-1 beyond |z| = 9 (as C: see csrc/act.template.c)
_R32_CLAMP = np.float32(7.90531110763549805)
_R32_P = tuple(np.float32(c) for c in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
_R32_Q = tuple(np.float32(c) for c in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
# float64: tanh(z)/z - 1 = z^2 P(z^2) for |z| < 0.4
_T64 = (2.6147711512907546e-06, -6.451689215655431e-06, 1.5918905069328964e-05,
        -3.927832388331683e-05, 9.691537956929451e-05, -0.00023912911424355248,
        0.000590027440945586, -0.0014558343870513183, 0.003592128036572481,
        -0.008863235529902197, 0.021869488536155203, -0.05396825396825397,
        0.13333333333333333, -0.3333333333333333)


@overload(tanh1)
def _tanh1_impl(z):
    if z == types.float32:
        clamp, small, big = _R32_CLAMP, np.float32(0.0004), np.float32(9.0)
        p0, p1, p2, p3, p4, p5, p6 = _R32_P
        q0, q1, q2, q3 = _R32_Q

        def impl(z):
            zc = clamp if z > clamp else (-clamp if z < -clamp else z)
            z2 = zc * zc
            p = p0
            p = p * z2 + p1
            p = p * z2 + p2
            p = p * z2 + p3
            p = p * z2 + p4
            p = p * z2 + p5
            p = p * z2 + p6
            p = p * zc
            q = q0
            q = q * z2 + q1
            q = q * z2 + q2
            q = q * z2 + q3
            y = p / q
            az = -z if z < 0 else z
            one = np.float32(-1.0) if z < 0 else np.float32(1.0)
            return z if az < small else (one if az > big else y)  # also keeps NaN

        return impl
    if z == types.float64:
        coef = _T64

        def impl(z):
            az = -z if z < 0 else z
            z2 = z * z
            p = coef[0]
            for q in range(1, len(coef)):
                p = p * z2 + coef[q]
            small = z * z2 * p + z
            t = expneg(-2.0 * az)
            big = (1.0 - t) / (1.0 + t)
            big = -big if z < 0 else big
            return small if az < 0.4 else big

        return impl
    return None


def sigmoid1(z):
    """``1/(1+e^-z)``, stable for any ``z``: ``e = exp(-|z|)`` never overflows."""


@overload(sigmoid1)
def _sigmoid1_impl(z):
    if z not in (types.float32, types.float64):
        return None
    one = np.float32(1) if z == types.float32 else 1.0

    def impl(z):
        az = -z if z < 0 else z
        e = expneg(-az)
        s = one / (one + e)
        return e * s if z < 0 else s

    return impl


def act1(act, z):
    """``act(z)`` for an elementwise activation (softmax: ``z``)."""


def _constant_code(act, name):
    if not isinstance(act, types.IntegerLiteral):
        raise TypingError(f"{name} takes a constant activation code: call it in a loop run "
                          "through unswitched")
    return act.literal_value


@overload(act1, inline="always", prefer_literal=True)
def _act1_impl(act, z):
    code = _constant_code(act, "act1")
    T = np.float32 if z == types.float32 else np.float64
    zero, one, slope = T(0), T(1), T(0.01)
    half, gelu_c, gelu_k = T(0.5), T(0.7978845608028654), T(0.044715)

    if code == Act.RELU:
        def impl(act, z):
            return zero if z < zero else z  # NaN stays NaN
    elif code == Act.SIGMOID:
        def impl(act, z):
            return sigmoid1(z)
    elif code == Act.TANH:
        def impl(act, z):
            return tanh1(z)
    elif code == Act.STEP:
        def impl(act, z):
            return one if z > zero else zero
    elif code == Act.LEAKY_RELU:
        def impl(act, z):
            return slope * z if z < zero else z
    elif code == Act.GELU:
        def impl(act, z):
            t = tanh1(gelu_c * (z + gelu_k * z * z * z))
            return half * z * (one + t)
    else:  # identity (and softmax, whose rows never get here)
        def impl(act, z):
            return z
    return impl


def dact1(act, x):
    """``act'`` from ``x``: the output ``a``, or the input ``z`` for a ``needs_z`` row."""


@overload(dact1, inline="always", prefer_literal=True)
def _dact1_impl(act, x):
    code = _constant_code(act, "dact1")
    T = np.float32 if x == types.float32 else np.float64
    zero, one, slope = T(0), T(1), T(0.01)
    half, gelu_c, gelu_k, gelu_3k = T(0.5), T(0.7978845608028654), T(0.044715), T(0.134145)

    if code == Act.RELU:
        def impl(act, x):
            return one if x > zero else zero
    elif code == Act.SIGMOID:
        def impl(act, x):
            return x * (one - x)
    elif code == Act.TANH:
        def impl(act, x):
            return one - x * x
    elif code == Act.STEP:
        def impl(act, x):
            return zero
    elif code == Act.LEAKY_RELU:
        def impl(act, x):
            return one if x > zero else slope
    elif code == Act.GELU:  # from z
        def impl(act, x):
            t = tanh1(gelu_c * (x + gelu_k * x * x * x))
            return half * (one + t) + half * x * (one - t * t) * gelu_c * (one + gelu_3k * x * x)
    else:  # identity
        def impl(act, x):
            return one
    return impl


ROW_BLOCK = 2048  # elements of a block of rows: one call of an unswitched loop, one parallel task


@numba.njit(inline="always", nogil=True)
def row_blocks(m, n):
    """(rows per block, blocks) of an ``m`` x ``n`` matrix cut into blocks of whole rows of
    about ``ROW_BLOCK`` elements, at least one row each."""
    rows = max(1, ROW_BLOCK // max(n, 1))
    return rows, (m + rows - 1) // rows


def unswitched(body, fastmath):
    """``f(act, args)``: ``body(code, args)`` for the activation ``act``, with ``code`` the
    same value as a compile-time constant, so that ``act1``/``dact1`` in ``body`` compile to
    that activation's case.

    ``body`` is a Python function of the code and a tuple of its arguments, a loop over a block
    of rows: ``f`` is a call, and a call per row would cost more than a narrow row's work. ``f``
    is one compiled function, a flat list of tests each followed by its own inlined copy of
    ``body``, written from the table (so a new activation needs no edit here); a code of no
    elementwise activation gets the last one's copy (the kernels check codes before). The
    tests are flat because Numba copies an inlined function's whole body at each inlining: a
    chain of inlined tests would copy the later ones again at every level. ``f`` is compiled
    once per process and dtype (a cached kernel holds it already) and shared by every kernel
    that calls it.
    """
    options = dict(nogil=True, error_model="numpy", fastmath=fastmath)
    codes = [int(code) for code in ELEMENTWISE]
    source = "def dispatch(act, args):\n"
    source += "".join(f"    if act == {code}:\n        return body({code}, args)\n"
                      for code in codes[:-1])
    source += f"    return body({codes[-1]}, args)\n"
    namespace = {"body": numba.njit(inline="always", **options)(body)}
    exec(source, namespace)
    return numba.njit(**options)(namespace["dispatch"])
