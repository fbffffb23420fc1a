# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled extension: thin wrappers over the C kernels in csrc/.

Design
------
Each wrapper checks what the C code needs (an ndarray of the right dtype, dimensions, shape,
C-contiguous, writeable outputs that overlap no input), dispatches on float32/float64, calls the
C function inside ``with nogil:`` and turns a bad status into an exception. The checks are C-level
attribute reads, so a call costs well under a microsecond on top of the kernel; conversion of
arbitrary user input is done once, before, by ``fastnn.kernels`` and ``fastnn.Network``.
"""

import os
import warnings

cimport numpy as cnp
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer


cnp.import_array()


def _table(int table):
    """{python name: code} of one of the code tables of fastnn.h (codes are small integers)."""
    cdef int code
    cdef const char *name
    out = {}
    for code in range(-64, 64):
        name = fnn_code_name(table, code)
        if name != NULL:
            out[name.decode()] = code
    return out


# every code the C kernels take or return, as fastnn.h lists it (tests/test_codes.py checks the
# Python tables against these)
CODES = {"status": _table(FNN_TABLE_STATUS), "activation": _table(FNN_TABLE_ACTIVATION),
         "loss": _table(FNN_TABLE_LOSS), "optimizer": _table(FNN_TABLE_OPTIMIZER),
         "isa": _table(FNN_TABLE_ISA)}
# the flags of each activation's row: allowed in hidden layers, derivative written from Z
FLAGS = {name: {"hidden": bool(fnn_act_flags(code) & FNN_ACT_HIDDEN),
                "needs_z": bool(fnn_act_flags(code) & FNN_ACT_NEEDS_Z)}
         for name, code in CODES["activation"].items()}
# the state buffers (m, v) each optimizer needs
MOMENTS = {name: fnn_opt_moments(code) for name, code in CODES["optimizer"].items()}
ISA_NAMES = tuple(sorted(CODES["isa"], key=CODES["isa"].get))  # ISA_NAMES[code]
OPENMP = bool(fnn_openmp_enabled())


cdef int _raise(int status, str what) except -1:
    if status == FNN_EINVAL:
        raise ValueError(f"{what}: invalid argument (the C kernel refused it)")
    if status == FNN_ENOMEM:
        raise MemoryError(f"{what}: out of memory")
    if status == FNN_EISA:
        raise ValueError(f"{what}: this CPU does not support the requested instruction set")
    raise RuntimeError(f"{what}: C kernel status {status}")


cdef cnp.ndarray _arr(object a, int typenum, int ndim, Py_ssize_t d0, Py_ssize_t d1,
                      bint writeable, str name, Py_ssize_t index=-1):
    """``a`` as an ndarray, checked; d0/d1 < 0 accept any size. ``name[index]`` names it in
    errors (formatted only then: this is on the path of every call)."""
    if not cnp.PyArray_Check(a) or cnp.PyArray_TYPE(<cnp.ndarray>a) != typenum or (
            cnp.PyArray_NDIM(<cnp.ndarray>a) != ndim) or not cnp.PyArray_IS_C_CONTIGUOUS(
            <cnp.ndarray>a) or not cnp.PyArray_ISALIGNED(<cnp.ndarray>a) or (
            writeable and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a)):
        pass
    elif (d0 < 0 or cnp.PyArray_DIM(<cnp.ndarray>a, 0) == d0) and (
            ndim != 2 or d1 < 0 or cnp.PyArray_DIM(<cnp.ndarray>a, 1) == d1):
        return <cnp.ndarray>a
    if index >= 0:
        name = f"{name}[{index}]"
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum:
        raise TypeError(f"{name} has dtype {arr.dtype}, expected "
                        f"{'float32' if typenum == cnp.NPY_FLOAT32 else 'float64'}")
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {cnp.PyArray_NDIM(arr)}-D")
    if d0 >= 0 and cnp.PyArray_DIM(arr, 0) != d0 or (
            ndim == 2 and d1 >= 0 and cnp.PyArray_DIM(arr, 1) != d1):
        raise ValueError(f"{name} has shape {(<object>arr).shape}, expected "
                         f"({d0}{', ' + str(d1) if ndim == 2 else ','})".replace("-1", "any"))
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name} must be C-contiguous")
    if not cnp.PyArray_ISALIGNED(arr):
        raise ValueError(f"{name} must be aligned to its item size (C reads it as float/double)")
    if writeable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{name} must be writeable")
    return arr


cdef inline bint _overlaps(cnp.ndarray out, cnp.ndarray a) noexcept:
    cdef char *o = <char *>cnp.PyArray_DATA(out)
    cdef char *p = <char *>cnp.PyArray_DATA(a)
    return o < p + cnp.PyArray_NBYTES(a) and p < o + cnp.PyArray_NBYTES(out)


cdef int _no_overlap(cnp.ndarray out, cnp.ndarray a, str name) except -1:
    """An output must not share memory with an input (the C kernels assume restrict)."""
    if _overlaps(out, a):
        raise ValueError(f"{name} must not overlap the inputs")
    return 0


cdef int _typenum(object a) except -1:
    if not cnp.PyArray_Check(a):
        raise TypeError(f"expected a numpy.ndarray, got {type(a).__name__}")
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"the C kernels take float32 or float64 arrays, got {a.dtype}")
    return t


cdef inline int _threads(int n_threads) noexcept nogil:
    return n_threads if n_threads > 0 else 0


# -- dense layers --------------------------------------------------------------------------------

def dense_forward(X, W, b, int act, out, int n_threads=0, Z=None):
    """``out = act(X @ W + b)``, and ``Z = X @ W + b`` when ``Z`` is given; all C-contiguous,
    one dtype; returns ``out``."""
    cdef int t = _typenum(W)
    cdef cnp.ndarray w = _arr(W, t, 2, -1, -1, False, "W")
    cdef Py_ssize_t k = w.shape[0], n = w.shape[1]
    cdef cnp.ndarray x = _arr(X, t, 2, -1, k, False, "X")
    cdef Py_ssize_t m = x.shape[0]
    cdef cnp.ndarray bb = _arr(b, t, 1, n, -1, False, "b")
    cdef cnp.ndarray o = _arr(out, t, 2, m, n, True, "out")
    _no_overlap(o, x, "out"); _no_overlap(o, w, "out"); _no_overlap(o, bb, "out")
    cdef cnp.ndarray z
    cdef void *pz = NULL
    if Z is not None:
        z = _arr(Z, t, 2, m, n, True, "Z")
        for a, name in ((x, "Z"), (w, "Z"), (bb, "Z"), (o, "Z")):
            _no_overlap(z, a, name)
        pz = cnp.PyArray_DATA(z)
    cdef int status
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *pw = cnp.PyArray_DATA(w)
    cdef void *pb = cnp.PyArray_DATA(bb)
    cdef void *po = cnp.PyArray_DATA(o)
    with nogil:
        fnn_call_begin()
        if t == cnp.NPY_FLOAT32:
            status = fnn_dense_forward_f32(m, k, n, <float *>px, <float *>pw, <float *>pb, act,
                                           <float *>po, <float *>pz, _threads(n_threads))
        else:
            status = fnn_dense_forward_f64(m, k, n, <double *>px, <double *>pw, <double *>pb, act,
                                           <double *>po, <double *>pz, _threads(n_threads))
        fnn_call_end()
    if status != FNN_OK:
        _raise(status, "dense_forward")
    return out


cdef inline bint _ready(object a, int t, int ndim, Py_ssize_t d0, Py_ssize_t d1, bint writeable):
    """Whether ``a`` is already in kernel form: an exact ndarray of type ``t``, ``ndim``-D,
    C-contiguous, aligned (and writeable), with d0 (and d1) elements along its axes (< 0: any)."""
    if not cnp.PyArray_CheckExact(a):
        return False
    cdef cnp.ndarray x = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(x) == t and cnp.PyArray_NDIM(x) == ndim
            and (d0 < 0 or x.shape[0] == d0) and (ndim == 1 or d1 < 0 or x.shape[1] == d1)
            and cnp.PyArray_ISCARRAY_RO(x) and (not writeable or cnp.PyArray_ISWRITEABLE(x)))


def dense_forward_ready(X, W, b, int act, out, int n_threads):
    """``dense_forward`` for arguments already in kernel form (``_ready``; ``out`` may be None,
    a new array is then returned), or None for anything else: the caller then converts and
    checks them, with its errors. The C code still checks the activation code and the rest."""
    if not cnp.PyArray_CheckExact(W):
        return None
    cdef cnp.ndarray w = <cnp.ndarray>W
    cdef int t = cnp.PyArray_TYPE(w)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not _ready(w, t, 2, -1, -1, False):
        return None
    cdef Py_ssize_t k = w.shape[0], n = w.shape[1]
    if not _ready(X, t, 2, -1, k, False) or not _ready(b, t, 1, n, -1, False):
        return None
    cdef Py_ssize_t m = (<cnp.ndarray>X).shape[0]
    cdef cnp.npy_intp dims[2]
    cdef cnp.ndarray o
    if out is None:
        dims[0] = m
        dims[1] = n
        o = cnp.PyArray_EMPTY(2, dims, t, 0)
    elif _ready(out, t, 2, m, n, True):
        o = <cnp.ndarray>out
        if (_overlaps(o, <cnp.ndarray>X) or _overlaps(o, w) or _overlaps(o, <cnp.ndarray>b)):
            return None
    else:
        return None
    cdef int status
    cdef void *px = cnp.PyArray_DATA(<cnp.ndarray>X)
    cdef void *pw = cnp.PyArray_DATA(w)
    cdef void *pb = cnp.PyArray_DATA(<cnp.ndarray>b)
    cdef void *po = cnp.PyArray_DATA(o)
    with nogil:
        fnn_call_begin()
        if t == cnp.NPY_FLOAT32:
            status = fnn_dense_forward_f32(m, k, n, <float *>px, <float *>pw, <float *>pb, act,
                                           <float *>po, NULL, _threads(n_threads))
        else:
            status = fnn_dense_forward_f64(m, k, n, <double *>px, <double *>pw, <double *>pb, act,
                                           <double *>po, NULL, _threads(n_threads))
        fnn_call_end()
    if status != FNN_OK:
        _raise(status, "dense_forward")
    return o


def dense_backward(A_prev, W, D, int act_prev, dW, db, D_prev, int n_threads=0, Z_prev=None):
    """``dW = A_prev.T @ D``, ``db = colsum(D)``, and when ``act_prev >= 0``
    ``D_prev = (D @ W.T) * act_prev'(A_prev)`` (``act_prev'(Z_prev)`` for an activation whose
    derivative is written from its input)."""
    cdef int t = _typenum(W)
    cdef cnp.ndarray w = _arr(W, t, 2, -1, -1, False, "W")
    cdef Py_ssize_t n_in = w.shape[0], n_out = w.shape[1]
    cdef cnp.ndarray d = _arr(D, t, 2, -1, n_out, False, "D")
    cdef Py_ssize_t m = d.shape[0]
    cdef cnp.ndarray a = _arr(A_prev, t, 2, m, n_in, False, "A_prev")
    cdef cnp.ndarray gw = _arr(dW, t, 2, n_in, n_out, True, "dW")
    cdef cnp.ndarray gb = _arr(db, t, 1, n_out, -1, True, "db")
    cdef cnp.ndarray dp = None, zp = None
    cdef void *pdp = NULL
    cdef void *pzp = NULL
    for o, name in ((gw, "dW"), (gb, "db")):
        _no_overlap(o, a, name); _no_overlap(o, w, name); _no_overlap(o, d, name)
    _no_overlap(gw, gb, "db")
    if act_prev >= 0:
        flags = fnn_act_flags(act_prev)
        if flags >= 0 and not flags & FNN_ACT_HIDDEN:
            name = fnn_code_name(FNN_TABLE_ACTIVATION, act_prev).decode()
            raise ValueError(f"{name} is for the output layer only")
        dp = _arr(D_prev, t, 2, m, n_in, True, "D_prev")
        for o in (a, w, d, gw, gb):
            _no_overlap(dp, o, "D_prev")
        pdp = cnp.PyArray_DATA(dp)
        if flags >= 0 and flags & FNN_ACT_NEEDS_Z:
            if Z_prev is None:
                name = fnn_code_name(FNN_TABLE_ACTIVATION, act_prev).decode()
                raise ValueError(f"the derivative of {name} needs Z_prev")
            zp = _arr(Z_prev, t, 2, m, n_in, False, "Z_prev")
            _no_overlap(dp, zp, "D_prev")
            pzp = cnp.PyArray_DATA(zp)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pw = cnp.PyArray_DATA(w)
    cdef void *pd = cnp.PyArray_DATA(d)
    cdef void *pgw = cnp.PyArray_DATA(gw)
    cdef void *pgb = cnp.PyArray_DATA(gb)
    cdef int status
    with nogil:
        fnn_call_begin()
        if t == cnp.NPY_FLOAT32:
            status = fnn_dense_backward_f32(m, n_in, n_out, <float *>pa, <float *>pzp,
                                            <float *>pw, <float *>pd, act_prev, <float *>pgw,
                                            <float *>pgb, <float *>pdp, _threads(n_threads))
        else:
            status = fnn_dense_backward_f64(m, n_in, n_out, <double *>pa, <double *>pzp,
                                            <double *>pw, <double *>pd, act_prev, <double *>pgw,
                                            <double *>pgb, <double *>pdp, _threads(n_threads))
        fnn_call_end()
    if status != FNN_OK:
        _raise(status, "dense_backward")


def loss_delta(Z, Y, int loss, int act, D):
    """The risk of logits ``Z`` against ``Y``; writes the output delta into ``D``."""
    cdef int t = _typenum(Z)
    cdef cnp.ndarray z = _arr(Z, t, 2, -1, -1, False, "Z")
    cdef Py_ssize_t m = z.shape[0], n = z.shape[1]
    cdef cnp.ndarray y = _arr(Y, t, 2, m, n, False, "Y")
    cdef cnp.ndarray d = _arr(D, t, 2, m, n, True, "D")
    _no_overlap(d, z, "D"); _no_overlap(d, y, "D")
    cdef double risk = 0.0
    cdef int status
    cdef void *pz = cnp.PyArray_DATA(z)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef void *pd = cnp.PyArray_DATA(d)
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = fnn_loss_delta_f32(m, n, <float *>pz, <float *>py, loss, act, <float *>pd,
                                        &risk)
        else:
            status = fnn_loss_delta_f64(m, n, <double *>pz, <double *>py, loss, act,
                                        <double *>pd, &risk)
    if status != FNN_OK:
        _raise(status, "loss_and_delta")
    return risk


# -- parameter updates ---------------------------------------------------------------------------

cdef fnn_optimizer _optimizer(opt) except *:
    """The C description of an optimizer from ``Optimizer.hyperparameters`` (every field; any
    mapping)."""
    cdef fnn_optimizer o
    kind = opt["kind"]
    if kind not in CODES["optimizer"]:
        raise ValueError(f"unknown optimizer kind {kind!r}")
    o.kind = CODES["optimizer"][kind]
    o.lr = opt["lr"]; o.weight_decay = opt["weight_decay"]
    o.momentum = opt["momentum"]; o.nesterov = opt["nesterov"]
    o.beta1 = opt["beta_1"]; o.beta2 = opt["beta_2"]; o.eps = opt["epsilon"]
    o.t = opt["t"]
    return o


def update(opt, param, grad, m, v):
    """One optimizer step on ``param`` in place, with its state ``m``, ``v`` (None where the
    optimizer does not use them; the C code refuses a missing one it needs)."""
    cdef fnn_optimizer o = _optimizer(opt)
    cdef int t = _typenum(param)
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>param)
    cdef cnp.ndarray p = _arr(param, t, nd, -1, -1, True, "param")
    cdef Py_ssize_t size = cnp.PyArray_SIZE(p)
    cdef cnp.ndarray g = _arr(grad, t, nd, -1, -1, False, "grad")
    if cnp.PyArray_SIZE(g) != size:
        raise ValueError("grad must have the shape of param")
    _no_overlap(p, g, "param")
    arrays = [p, g]
    cdef void *ptrs[2]
    cdef cnp.ndarray s
    for i, (buf, name) in enumerate(((m, "m"), (v, "v"))):
        ptrs[i] = NULL
        if buf is not None:
            s = _arr(buf, t, nd, -1, -1, True, name)
            if cnp.PyArray_SIZE(s) != size:
                raise ValueError(f"{name} must have the shape of param")
            for other in arrays:
                _no_overlap(s, other, name)
            arrays.append(s)
            ptrs[i] = cnp.PyArray_DATA(s)
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef int status
    with nogil:
        if t == cnp.NPY_FLOAT32:
            status = fnn_update_f32(&o, size, <float *>pp, <float *>pg, <float *>ptrs[0],
                                    <float *>ptrs[1])
        else:
            status = fnn_update_f64(&o, size, <double *>pp, <double *>pg, <double *>ptrs[0],
                                    <double *>ptrs[1])
    if status != FNN_OK:
        _raise(status, "update")


# -- whole networks ------------------------------------------------------------------------------

cdef class _Net:
    """Pointer tables for a network's layers, checked once per call (freed with the object)."""
    cdef Py_ssize_t L
    cdef Py_ssize_t *sizes
    cdef int *acts
    cdef void **W
    cdef void **b
    cdef int typenum
    cdef list keep  # the arrays whose data the pointers point to

    def __cinit__(self, list weights, list biases, list acts, bint writeable):
        self.L = len(weights)
        if self.L < 1 or len(biases) != self.L or len(acts) != self.L:
            raise ValueError("weights, biases and activations must have one entry per layer")
        self.typenum = _typenum(weights[0])
        self.sizes = <Py_ssize_t *>PyMem_Malloc((self.L + 1) * sizeof(Py_ssize_t))
        self.acts = <int *>PyMem_Malloc(self.L * sizeof(int))
        self.W = <void **>PyMem_Malloc(self.L * sizeof(void *))
        self.b = <void **>PyMem_Malloc(self.L * sizeof(void *))
        if not (self.sizes and self.acts and self.W and self.b):
            raise MemoryError()
        self.keep = []
        cdef Py_ssize_t l
        cdef cnp.ndarray w, bb
        for l in range(self.L):
            w = _arr(weights[l], self.typenum, 2, self.sizes[l] if l else -1, -1, writeable,
                     "weights", l)
            if l == 0:
                self.sizes[0] = w.shape[0]
            self.sizes[l + 1] = w.shape[1]
            bb = _arr(biases[l], self.typenum, 1, w.shape[1], -1, writeable, "biases", l)
            self.acts[l] = acts[l]
            self.W[l] = cnp.PyArray_DATA(w)
            self.b[l] = cnp.PyArray_DATA(bb)
            self.keep += [w, bb]

    def __dealloc__(self):
        PyMem_Free(self.sizes)
        PyMem_Free(self.acts)
        PyMem_Free(self.W)
        PyMem_Free(self.b)


cdef void **_pointers(list arrays, int typenum, list shapes, bint allow_none, str name,
                      list keep) except NULL:
    """A malloc'ed table of data pointers of ``arrays`` (each checked against ``shapes``)."""
    cdef Py_ssize_t i, n = len(arrays)
    if n != len(shapes):
        raise ValueError(f"{name} must have {len(shapes)} entries, got {n}")
    cdef void **table = <void **>PyMem_Malloc(max(n, 1) * sizeof(void *))
    if not table:
        raise MemoryError()
    cdef cnp.ndarray a
    try:
        for i in range(n):
            if arrays[i] is None and allow_none:
                table[i] = NULL
                continue
            shape = shapes[i]
            a = _arr(arrays[i], typenum, len(shape), shape[0],
                     shape[1] if len(shape) == 2 else -1, True, name, i)
            table[i] = cnp.PyArray_DATA(a)
            keep.append(a)
    except BaseException:
        PyMem_Free(table)
        raise
    return table


cdef int _distinct(list arrays) except -1:
    """No two of ``arrays`` share memory (the C code writes some while reading others)."""
    spans = sorted((<Py_ssize_t>cnp.PyArray_DATA(<cnp.ndarray>a),
                    <Py_ssize_t>cnp.PyArray_DATA(<cnp.ndarray>a) + cnp.PyArray_NBYTES(a))
                   for a in arrays if cnp.PyArray_NBYTES(a) > 0)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        if s1 < e0:
            raise ValueError("the parameters, data, optimizer state and workspace arrays must "
                             "not share memory")
    return 0


def train_epoch(list weights, list biases, list acts, int loss, X, Y, indices,
                Py_ssize_t batch_size, dict opt, list m, list v, Xb, Yb, list A,
                list Z, list D, list dW, list db, int n_threads=0):
    """One epoch of minibatch training in C (see csrc/fnn_train.h).

    Returns ``(mean_loss, failed_step, applied, t)``: ``failed_step`` is -1, or the 0-based step
    whose loss or gradient was not finite; ``applied`` tells whether part of that step's update
    was applied all the same (a non-finite tile of a weight gradient, found after other tiles
    were applied: the caller restores and replays); ``t`` is Adam's step count after the epoch.
    """
    cdef _Net net = _Net(weights, biases, acts, True)
    cdef int t = net.typenum
    cdef Py_ssize_t L = net.L, l
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[L]
    cdef cnp.ndarray x = _arr(X, t, 2, -1, n_in, False, "X")
    cdef Py_ssize_t n = x.shape[0]
    cdef cnp.ndarray y = _arr(Y, t, 2, n, n_out, False, "Y")
    cdef cnp.ndarray idx = _arr(indices, cnp.NPY_INT64, 1, -1, -1, False, "indices")
    cdef cnp.ndarray xb = _arr(Xb, t, 2, -1, n_in, True, "Xb")
    cdef Py_ssize_t S = xb.shape[0]
    cdef cnp.ndarray yb = _arr(Yb, t, 2, S, n_out, True, "Yb")
    if batch_size < 1 or batch_size > S:
        raise ValueError(f"batch_size must lie in [1, {S}] (the workspace rows)")
    cdef fnn_optimizer o = _optimizer(opt)
    layer_rows = [(S, net.sizes[l + 1]) for l in range(L)]
    param_shapes = []
    for l in range(L):
        param_shapes += [(net.sizes[l], net.sizes[l + 1]), (net.sizes[l + 1],)]
    keep = []
    cdef void **pA = NULL
    cdef void **pZ = NULL
    cdef void **pD = NULL
    cdef void **pdW = NULL
    cdef void **pdb = NULL
    cdef void **ps1 = NULL
    cdef void **ps2 = NULL
    cdef double mean_loss = 0.0
    cdef Py_ssize_t failed = -1
    cdef int status
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef void *pxb = cnp.PyArray_DATA(xb)
    cdef void *pyb = cnp.PyArray_DATA(yb)
    cdef long long *pidx = <long long *>cnp.PyArray_DATA(idx)
    cdef Py_ssize_t n_idx = cnp.PyArray_DIM(idx, 0)
    try:
        pA = _pointers(A, t, layer_rows, False, "A", keep)
        pZ = _pointers(Z, t, layer_rows, True, "Z", keep)
        pD = _pointers(D, t, layer_rows, False, "D", keep)
        pdW = _pointers(dW, t, param_shapes[0::2], False, "dW", keep)
        pdb = _pointers(db, t, param_shapes[1::2], False, "db", keep)
        ps1 = _pointers(m, t, param_shapes, True, "m", keep)
        ps2 = _pointers(v, t, param_shapes, True, "v", keep)
        _distinct(net.keep + keep + [xb, yb, x, y])
        with nogil:
            fnn_call_begin()
            if t == cnp.NPY_FLOAT32:
                status = fnn_train_epoch_f32(L, net.sizes, net.acts, loss, <float **>net.W,
                                             <float **>net.b, <float *>px, <float *>py, n, pidx,
                                             n_idx, batch_size, &o, <float **>ps1,
                                             <float **>ps2, <float *>pxb, <float *>pyb,
                                             <float **>pA, <float **>pZ, <float **>pD,
                                             <float **>pdW,
                                             <float **>pdb, _threads(n_threads), &mean_loss,
                                             &failed)
            else:
                status = fnn_train_epoch_f64(L, net.sizes, net.acts, loss, <double **>net.W,
                                             <double **>net.b, <double *>px, <double *>py, n,
                                             pidx, n_idx, batch_size, &o, <double **>ps1,
                                             <double **>ps2, <double *>pxb, <double *>pyb,
                                             <double **>pA, <double **>pZ, <double **>pD,
                                             <double **>pdW,
                                             <double **>pdb, _threads(n_threads), &mean_loss,
                                             &failed)
            fnn_call_end()
    finally:
        PyMem_Free(pA); PyMem_Free(pZ); PyMem_Free(pD); PyMem_Free(pdW); PyMem_Free(pdb)
        PyMem_Free(ps1); PyMem_Free(ps2)
    if status == FNN_EDIVERGED or status == FNN_EDIVERGED_APPLIED:
        return float("nan"), failed, status == FNN_EDIVERGED_APPLIED, o.t
    if status != FNN_OK:
        _raise(status, "train_epoch")
    return mean_loss, -1, False, o.t


cdef int _net_predict(_Net net, Py_ssize_t m, void *px, void *po, int n_threads,
                     Py_ssize_t *nonfinite_row) noexcept nogil:
    """fnn_predict of the net's type, counted as a running call (the CPU budget)."""
    cdef int status
    fnn_call_begin()
    if net.typenum == cnp.NPY_FLOAT32:
        status = fnn_predict_f32(net.L, net.sizes, net.acts, <const float **>net.W,
                                 <const float **>net.b, m, <float *>px, <float *>po,
                                 _threads(n_threads), nonfinite_row)
    else:
        status = fnn_predict_f64(net.L, net.sizes, net.acts, <const double **>net.W,
                                 <const double **>net.b, m, <double *>px, <double *>po,
                                 _threads(n_threads), nonfinite_row)
    fnn_call_end()
    return status


def predict(list weights, list biases, list acts, X, out, int n_threads=0):
    """``out`` = the network's output for ``X`` (validated by the caller: not scanned here)."""
    cdef _Net net = _Net(weights, biases, acts, False)
    cdef int t = net.typenum
    cdef cnp.ndarray x = _arr(X, t, 2, -1, net.sizes[0], False, "X")
    cdef Py_ssize_t m = x.shape[0]
    cdef cnp.ndarray o = _arr(out, t, 2, m, net.sizes[net.L], True, "out")
    _no_overlap(o, x, "out")
    for a in net.keep:
        _no_overlap(o, a, "out")
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *po = cnp.PyArray_DATA(o)
    cdef int status
    with nogil:
        status = _net_predict(net, m, px, po, n_threads, NULL)
    if status != FNN_OK:
        _raise(status, "predict")
    return out


cdef class Predictor:
    """A network's whole-network inference, set up once for its current weights: the layers'
    pointer tables are built here, not at every call, so that predicting one row costs little
    more than the kernel. ``matches`` says whether the network still holds the same arrays and
    activations; calling it on ``X`` returns the output, or None when ``X`` is not already in
    kernel form (an exact ``ndarray`` of the network's dtype, 2-D, ``n_inputs`` wide, at least
    one row, C-contiguous, aligned, finite: the C code checks that last one as it reads the
    rows): the caller then validates ``X`` fully, with its errors. Thread-safe."""
    cdef _Net net
    cdef list arrays, names

    def __cinit__(self, list weights, list biases, list codes, list names):
        self.net = _Net(weights, biases, codes, False)
        self.arrays = list(weights) + list(biases)
        self.names = list(names)

    def matches(self, list weights, list biases, list names):
        cdef Py_ssize_t l, L = self.net.L
        if len(weights) != L or len(biases) != L or names != self.names:
            return False
        for l in range(L):
            if weights[l] is not self.arrays[l] or biases[l] is not self.arrays[L + l]:
                return False
        return True

    def __call__(self, X, int n_threads=0):
        cdef int t = self.net.typenum
        if not _ready(X, t, 2, -1, self.net.sizes[0], False) or (<cnp.ndarray>X).shape[0] < 1:
            return None
        cdef cnp.ndarray x = <cnp.ndarray>X
        cdef Py_ssize_t m = x.shape[0], bad = -1
        cdef cnp.npy_intp dims[2]
        dims[0] = m
        dims[1] = self.net.sizes[self.net.L]
        cdef cnp.ndarray o = cnp.PyArray_EMPTY(2, dims, t, 0)
        cdef void *px = cnp.PyArray_DATA(x)
        cdef void *po = cnp.PyArray_DATA(o)
        cdef int status
        with nogil:
            status = _net_predict(self.net, m, px, po, n_threads, &bad)
        if status != FNN_OK:
            _raise(status, "predict")
        return None if bad >= 0 else o


# -- the bare product (benchmarks and tests) -----------------------------------------------------

def gemm(A, B, out, int n_threads=0):
    """``out = A @ B`` by fastnn's own GEMM; ``A`` and ``B`` may have any strides (a transposed
    view costs nothing), ``out`` is C-contiguous. Returns ``out``."""
    cdef int t = _typenum(A)
    cdef cnp.ndarray a = <cnp.ndarray>A
    if cnp.PyArray_NDIM(a) != 2:
        raise ValueError("A must be 2-D")
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1]
    if not cnp.PyArray_Check(B) or cnp.PyArray_TYPE(<cnp.ndarray>B) != t:
        raise TypeError("B must be an ndarray of A's dtype")
    cdef cnp.ndarray b = <cnp.ndarray>B
    if cnp.PyArray_NDIM(b) != 2 or b.shape[0] != k:
        raise ValueError(f"B must have shape ({k}, n)")
    cdef Py_ssize_t n = b.shape[1]
    cdef cnp.ndarray c = _arr(out, t, 2, m, n, True, "out")
    _no_overlap(c, a, "out"); _no_overlap(c, b, "out")
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(a)
    cdef Py_ssize_t rsa = a.strides[0], csa = a.strides[1], rsb = b.strides[0], csb = b.strides[1]
    if rsa % item or csa % item or rsb % item or csb % item:
        raise ValueError("strides must be multiples of the item size")
    if not (cnp.PyArray_ISALIGNED(a) and cnp.PyArray_ISALIGNED(b)):
        raise ValueError("A and B must be aligned to their item size")
    rsa //= item; csa //= item; rsb //= item; csb //= item
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pb = cnp.PyArray_DATA(b)
    cdef void *pc = cnp.PyArray_DATA(c)
    cdef int status
    with nogil:
        fnn_call_begin()
        if t == cnp.NPY_FLOAT32:
            status = fnn_gemm_f32(m, n, k, <float *>pa, rsa, csa, <float *>pb, rsb, csb,
                                  <float *>pc, n, NULL, _threads(n_threads))
        else:
            status = fnn_gemm_f64(m, n, k, <double *>pa, rsa, csa, <double *>pb, rsb, csb,
                                  <double *>pc, n, NULL, _threads(n_threads))
        fnn_call_end()
    if status != FNN_OK:
        _raise(status, "gemm")
    return out


# -- the build and the CPU -----------------------------------------------------------------------

def get_isa():
    """The micro-kernel family in use (``"avx512"``, ``"avx2"``, ``"neon"``, ``"portable"``)."""
    return ISA_NAMES[fnn_get_isa()]


def best_isa():
    """The widest micro-kernel family of this build that the CPU runs."""
    return ISA_NAMES[fnn_best_isa()]


def compiled_isas():
    """The micro-kernel families this build has, whether or not the CPU runs them."""
    return tuple(name for code, name in enumerate(ISA_NAMES) if fnn_isa_compiled(code))


def cpu_isas():
    """The families whose instructions the CPU (and OS) runs, whether or not this build has
    their kernels."""
    return tuple(name for code, name in enumerate(ISA_NAMES) if fnn_cpu_has(code))


def set_isa(name):
    """Force a micro-kernel family (tests use it to exercise every path); ValueError, which
    says whether the build or the CPU lacks it, when it cannot run."""
    if name not in ISA_NAMES:
        raise ValueError(f"unknown instruction set {name!r}; expected one of {list(ISA_NAMES)}")
    code = ISA_NAMES.index(name)
    if not fnn_isa_compiled(code):
        raise ValueError(f"this build of fastnn has no {name!r} kernels "
                         f"(it has {', '.join(compiled_isas())})")
    if not fnn_cpu_has(code):
        raise ValueError(f"this CPU does not run {name!r} "
                         f"(it runs {', '.join(cpu_isas())})")
    cdef int status = fnn_set_isa(code)
    if status != FNN_OK:
        _raise(status, f"set_isa({name!r})")
    if name == "portable" and _blas["wanted"] and not _blas["in_use"]:
        use_blas(True)


# -- threads ---------------------------------------------------------------------------------------

def omp_max_threads():
    """``omp_get_max_threads()`` in the calling thread (1 without OpenMP)."""
    return fnn_omp_max_threads()


def set_cpu_budget(int cpus):
    """The CPUs this process may use, shared by the calls that run at the same time."""
    fnn_set_cpu_budget(cpus)


def team(int n_threads):
    """The threads a call asking for ``n_threads`` (0: OpenMP's setting) would get if it
    started now, beside the calls already running."""
    fnn_call_begin()
    cdef int n = fnn_team(_threads(n_threads))
    fnn_call_end()
    return n


def calls_active():
    """The compiled calls running in this process now."""
    return fnn_calls_active()


def build_info():
    """OpenMP on/off, the micro-kernel in use, those compiled in, and those the CPU runs."""
    return {
        "openmp": bool(fnn_openmp_enabled()),
        "openmp_max_threads": fnn_omp_max_threads(),
        "simd": get_isa(),
        "simd_compiled": compiled_isas(),
        "cpu_simd": cpu_isas(),
        "portable_blas": _blas["in_use"],
    }


# FASTNN_PORTABLE_BLAS=0 keeps the portable kernel for every product
_blas = {"in_use": False, "wanted": os.environ.get("FASTNN_PORTABLE_BLAS", "1") != "0"}


cdef void *_capsule_pointer(object capsule) except NULL:
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


def use_blas(enabled):
    """Whether the portable context hands its products to SciPy's BLAS (the default,
    set up when that context is first chosen: on a CPU without a tuned kernel the portable one
    is slower than NumPy); returns whether it now does (False when SciPy is missing).  Tests
    turn it off to run the portable kernel itself."""
    if enabled:
        try:
            from scipy.linalg import cython_blas
        except ImportError:
            enabled = False
    if enabled:
        capi = cython_blas.__pyx_capi__
        fnn_set_blas(<fnn_blasfn_f32>_capsule_pointer(capi["sgemm"]),
                     <fnn_blasfn_f64>_capsule_pointer(capi["dgemm"]))
    else:
        fnn_set_blas(NULL, NULL)
    _blas["in_use"] = bool(enabled)
    return _blas["in_use"]


def _isa_from_environment():
    """FASTNN_ISA forces a family; one this build or CPU cannot run warns and leaves the
    choice to the CPU, so that a setting carried to another machine never breaks an import."""
    name = os.environ.get("FASTNN_ISA")
    if not name:
        return
    try:
        set_isa(name)
    except ValueError as exc:
        warnings.warn(f"FASTNN_ISA={name!r} ignored: {exc}; using {get_isa()!r}",
                      RuntimeWarning, stacklevel=2)


_isa_from_environment()
if get_isa() == "portable":
    use_blas(_blas["wanted"])
