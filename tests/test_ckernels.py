"""The C kernels: every instruction-set path, 1 and 2 threads, strided GEMM operands, and the
checks the Cython layer makes before it hands anything to C."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import tol

import fastnn
from fastnn import _config, kernels
from fastnn.optim import OPTIMIZERS

ck = pytest.importorskip("fastnn._ckernels")
if "cython" not in fastnn.available_backends():
    pytest.skip("the cython backend is not available", allow_module_level=True)

# every micro-kernel family this build has and this CPU runs, and the portable one with its large
# products handed to SciPy's BLAS (what a CPU without a tuned kernel runs)
ISAS = [name for name in ck.compiled_isas() if name in ck.cpu_isas()] + ["portable+blas"]
# beyond the cache blocks and micro-tiles: tall, wide, deep (large k), skinny, and an output
# layer of 10 classes large enough for two threads
BIG_SHAPES = [(1, 784, 256), (2, 5000, 3), (300, 700, 520), (257, 33, 1031), (8, 1, 700),
              (603, 300, 10)]


@pytest.fixture(params=ISAS)
def isa(request):
    before, blas_before = ck.get_isa(), ck.build_info()["portable_blas"]
    name = request.param.split("+")[0]
    ck.set_isa(name)
    if ck.use_blas(request.param.endswith("+blas")) != request.param.endswith("+blas"):
        pytest.skip("SciPy's BLAS is not available")
    yield name
    ck.set_isa(before)
    ck.use_blas(blas_before)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(request.param)
    yield request.param
    fastnn.set_num_threads(before)


def rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


SMALL = [(1, 1, 1), (5, 1, 4), (7, 13, 29), (31, 17, 1), (13, 64, 33)]


@pytest.mark.parametrize("shape", SMALL + BIG_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation", ["identity", "relu", "sigmoid", "tanh", "softmax"])
def test_dense_forward_every_isa_and_thread_count(isa, threads, dtype, shape, activation):
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    X, W, b = rand(rng, m, k, dtype=dtype), rand(rng, k, n, dtype=dtype), rand(rng, n, dtype=dtype)
    W /= np.sqrt(k)
    out = np.full((m, n), np.nan, dtype)
    kernels.dense_forward(X, W, b, activation, out=out, backend="cython")
    want = kernels.dense_forward(X.astype(np.float64), W.astype(np.float64),
                                 b.astype(np.float64), activation, backend="numpy")
    np.testing.assert_allclose(out, want, **tol(dtype, k))


@pytest.mark.parametrize("shape", SMALL + BIG_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation_prev", [None, "relu", "tanh"])
def test_dense_backward_every_isa_and_thread_count(isa, threads, dtype, shape, activation_prev):
    m, n_in, n_out = shape
    rng = np.random.default_rng(m * n_out + 1)
    A = np.tanh(rand(rng, m, n_in)).astype(dtype)
    if activation_prev == "relu":
        A = np.maximum(A, 0)
    W, D = rand(rng, n_in, n_out, dtype=dtype), rand(rng, m, n_out, dtype=dtype)
    dW = np.full((n_in, n_out), np.nan, dtype)
    db = np.full(n_out, np.nan, dtype)
    D_prev = np.full((m, n_in), np.nan, dtype)
    kernels.dense_backward(A, W, D, activation_prev, dW, db, D_prev, backend="cython")
    want = kernels.dense_backward(A.astype(np.float64), W.astype(np.float64),
                                  D.astype(np.float64), activation_prev, backend="numpy")
    np.testing.assert_allclose(dW, want[0], **tol(dtype, m))
    np.testing.assert_allclose(db, want[1], **tol(dtype, m))
    if activation_prev is not None:
        np.testing.assert_allclose(D_prev, want[2], **tol(dtype, n_out))


# every optimizer row, with and without its variants; each kernel unit compiles the steps itself
STEP_OPTIMIZERS = [fastnn.SGD(lr=0.1), fastnn.SGD(lr=0.1, momentum=0.9, weight_decay=1e-2),
                   fastnn.SGD(lr=0.1, momentum=0.9, nesterov=True),
                   *[cls(lr=0.01, weight_decay=1e-2) for cls in OPTIMIZERS.values()
                     if cls is not fastnn.SGD]]


@pytest.mark.parametrize("optimizer", STEP_OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("shape", [(1, 1), (13, 7), (257, 33)], ids=str)
def test_optimizer_step_every_isa(isa, dtype, optimizer, shape):
    rng = np.random.default_rng(shape[0])
    W, dW = rand(rng, *shape, dtype=dtype), rand(rng, *shape, dtype=dtype)
    state = {name: np.abs(rand(rng, *shape, dtype=dtype)) for name in optimizer.slots}
    results = []
    for backend in ("numpy", "cython"):
        got_W, got_state = W.copy(), {name: s.copy() for name, s in state.items()}
        kernels.optimizer_step(optimizer, got_W, dW, 4, optimizer.lr, backend, **got_state)
        results.append((got_W, got_state))
    (want_W, want_state), (got_W, got_state) = results
    np.testing.assert_allclose(got_W, want_W, **tol(dtype, 10))
    for name in state:
        np.testing.assert_allclose(got_state[name], want_state[name], **tol(dtype, 10))


@pytest.mark.parametrize("optimizer", STEP_OPTIMIZERS, ids=repr)
def test_training_epochs_every_isa_and_thread_count(isa, threads, dtype, optimizer):
    """The epoch applies each kernel unit's optimizer step to the tiles of the weight gradients
    (both threads' tiles: the first layer's gradient, 150 x 230, is large enough for two)."""
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((90, 150)), rng.integers(0, 5, 90)
    nets = []
    for backend in ("numpy", "cython"):
        net = fastnn.Network([150, 230, 5], "tanh", dtype=dtype, backend=backend, seed=1)
        net.fit(X, y, epochs=2, batch_size=32, optimizer=optimizer)
        nets.append(net)
    ref, got = nets
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(got.weights + got.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_a_non_finite_weight_gradient_is_not_applied_every_isa(isa, dtype):
    """A tile of the first layer's gradient overflows while the loss, the deltas and the output
    layer's gradient are finite: each kernel unit's step must refuse it (the C epoch reports the
    step as partly applied, rather than the parameters being found non-finite after it), and
    the step is undone."""
    big = float(np.finfo(dtype).max) ** 0.5
    net = fastnn.Network([1, 2, 1], activation="relu", output_activation="identity", loss="mse",
                         dtype=dtype, backend="cython", seed=0)
    net.weights[0][...], net.biases[0][...] = 1 / big, 0
    net.weights[1][...], net.biases[1][...] = 1, 0
    before = [p.copy() for p in net.weights + net.biases]
    X, y = np.full((4, 1), 4 * big, dtype), np.full(4, big / 4)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch 1, step 1\b") as info:
        net.fit(X, y, epochs=2, batch_size=None, optimizer=fastnn.SGD(lr=0.01))
    assert info.value.__cause__ is not None and info.value.__cause__.partly_applied
    for a, b in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(a, b)


def test_one_and_two_threads_agree(dtype):
    rng = np.random.default_rng(0)
    X, W, b = rand(rng, 512, 300, dtype=dtype), rand(rng, 300, 700, dtype=dtype), rand(rng, 700,
                                                                                     dtype=dtype)
    results = []
    for n in (1, 2):
        out = np.empty((512, 700), dtype)
        ck.dense_forward(X, W, b, 1, out, n)
        results.append(out)
    np.testing.assert_allclose(results[0], results[1], **tol(dtype))


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
# (4, 8, 2), (3, 5, 40) and (1, 1, 1024): tiny products, B = W^T copied to rows (the last one
# fills the copy exactly); (37, 300, 19) and (129, 257, 65): A read in place, with a partial
# last sliver; (60, 1000, 64): in place over several depth blocks; (50, 1024, 200): 4 KiB rows,
# so packed after all
@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 8, 2), (3, 5, 40), (1, 1, 1024), (37, 300, 19),
                                   (129, 257, 65), (60, 1000, 64), (50, 1024, 200)], ids=str)
def test_gemm_with_transposed_operands(isa, dtype, ta, tb, shape):
    m, k, n = shape
    rng = np.random.default_rng(m)
    A = rand(rng, k, m, dtype=dtype).T if ta else rand(rng, m, k, dtype=dtype)
    B = rand(rng, n, k, dtype=dtype).T if tb else rand(rng, k, n, dtype=dtype)
    out = np.full((m, n), np.nan, dtype)
    ck.gemm(A, B, out)
    np.testing.assert_allclose(out, A.astype(np.float64) @ B.astype(np.float64), **tol(dtype, k))


# strips in place and packed, along columns and rows, and a strip narrower than its rows
@pytest.mark.parametrize("shape", [(300, 700, 520), (700, 300, 200), (256, 1024, 600),
                                   (520, 300, 40)], ids=str)
def test_gemm_is_the_same_when_threads_take_each_others_blocks(dtype, shape):
    """A thread that has finished its strip takes row blocks of the others' (work stealing). A
    busy Python thread holds up one of the two threads at random moments, so that blocks change
    hands (counted in a scratch build: 3 to 64 blocks per shape over 30 products); every
    element is still summed in the same order, so the result is the one-thread one, bit for bit."""
    m, k, n = shape
    rng = np.random.default_rng(m)
    A, B = rand(rng, m, k, dtype=dtype), rand(rng, k, n, dtype=dtype)
    expected = np.empty((m, n), dtype)
    with _config.num_threads(1):
        ck.gemm(A, B, expected)
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            pass

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        with _config.num_threads(2):
            for _ in range(20):
                out = np.full((m, n), np.nan, dtype)
                ck.gemm(A, B, out)
                np.testing.assert_array_equal(out, expected)
    finally:
        stop.set()
        thread.join()


def test_the_cython_layer_checks_what_it_hands_to_c():
    X, W, b = np.ones((3, 4)), np.ones((4, 2)), np.ones(2)
    out = np.empty((3, 2))
    with pytest.raises(TypeError, match="ndarray"):
        ck.dense_forward([[1.0] * 4] * 3, W, b, 0, out)
    with pytest.raises(TypeError, match="dtype"):
        ck.dense_forward(X.astype(np.float32), W, b, 0, out)
    with pytest.raises(ValueError, match="C-contiguous"):
        ck.dense_forward(np.asfortranarray(np.ones((3, 4))), W, b, 0, out)
    with pytest.raises(ValueError, match="shape"):
        ck.dense_forward(X, W, b, 0, np.empty((2, 2)))
    with pytest.raises(ValueError, match="overlap"):
        ck.dense_forward(X, W, b, 0, X.reshape(-1)[:6].reshape(3, 2))
    ro = np.empty((3, 2))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        ck.dense_forward(X, W, b, 0, ro)
    with pytest.raises(ValueError, match="invalid argument"):
        ck.dense_forward(X, W, b, 99, out)
    with pytest.raises(ValueError, match="output layer"):
        ck.dense_backward(X, W, np.ones((3, 2)), 5, np.empty((4, 2)), np.empty(2), np.empty((3, 4)))
    with pytest.raises(ValueError, match="unknown instruction set"):
        ck.set_isa("sse9")


def test_the_portable_blas_is_used_and_correct():
    before, blas_before = ck.get_isa(), ck.build_info()["portable_blas"]
    try:
        ck.set_isa("portable")  # turns the BLAS on (the default)
        assert ck.build_info()["portable_blas"]
        rng = np.random.default_rng(5)
        A, B = rng.standard_normal((300, 700)), rng.standard_normal((700, 520))
        out = np.empty((300, 520))
        ck.gemm(A, B, out, 2)
        np.testing.assert_allclose(out, A @ B, rtol=1e-12, atol=1e-12)
    finally:
        ck.set_isa(before)
        ck.use_blas(blas_before)


def test_show_config_names_the_micro_kernel():
    info = fastnn.config_info()
    assert info["simd"] == ck.get_isa() and info["simd"] in info["simd_compiled"]
    assert "portable" in info["simd_compiled"] and "portable" in info["cpu_simd"]
    assert ck.best_isa() in info["simd_compiled"] and ck.best_isa() in info["cpu_simd"]
    assert isinstance(info["openmp"], bool)


def test_set_isa_says_whether_the_build_or_the_cpu_lacks_it():
    for name in ck.ISA_NAMES:
        if name not in ck.compiled_isas():
            with pytest.raises(ValueError, match="this build of fastnn has no"):
                ck.set_isa(name)
        elif name not in ck.cpu_isas():
            with pytest.raises(ValueError, match="this CPU does not run"):
                ck.set_isa(name)


@pytest.mark.parametrize("value", ["sse9", "neon", "avx512"])
def test_an_isa_the_machine_cannot_run_warns_and_falls_back(value):
    # in a child process: FASTNN_ISA is read when the extension loads
    code = "import fastnn._ckernels as ck; print(ck.get_isa(), ck.best_isa())"
    env = dict(os.environ, FASTNN_ISA=value, PYTHONWARNINGS="default")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    in_use, best = out.stdout.split()
    if value in ck.compiled_isas() and value in ck.cpu_isas():
        assert in_use == value and "ignored" not in out.stderr
    else:
        assert in_use == best
        assert f"FASTNN_ISA={value!r} ignored" in out.stderr
