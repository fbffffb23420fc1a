"""What is specific to the Numba backend: its serial and parallel variants agree bit for bit, the
size thresholds choose between them, warmup compiles both dtypes, the thread count of
``fastnn.set_num_threads`` reaches Numba, and compiled code is cached in fastnn's cache directory.

Every generic kernel test (every op, dtype, activation and odd shape against the reference) already
runs on this backend through ``conftest.BACKENDS``.
"""

import os
import threading

import numpy as np
import pytest
from conftest import more_activations, more_optimizers

import fastnn
from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastnn.losses import LOSSES
from fastnn.optim import OPTIMIZERS

if "numba" not in fastnn.available_backends():
    pytest.skip("the numba backend is not available", allow_module_level=True)

import numba  # noqa: E402

from fastnn import _numba_config as cfg  # noqa: E402
from fastnn.backends import get_backend  # noqa: E402
from fastnn.backends import numba as nbk  # noqa: E402

SERIAL, PARALLEL = 0, 1
# big enough for several row blocks, db column blocks and update chunks; odd on purpose
SHAPES = [(1, 1, 1), (67, 131, 150), (257, 33, 70)]


def rand(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def threads2():
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(2)
    yield min(2, numba.config.NUMBA_NUM_THREADS)
    fastnn.set_num_threads(before)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_forward_variants_agree(threads2, dtype, shape, activation):
    m, k, n = shape
    rng = np.random.default_rng(k)
    X, W, b = rand(rng, m, k, dtype=dtype), rand(rng, k, n, dtype=dtype), rand(rng, n, dtype=dtype)
    outs = [np.full((m, n), np.nan, dtype) for _ in range(2)]
    code = ACTIVATIONS[activation].code
    no_z = np.empty((0, 0), dtype)
    nbk.FORWARD[SERIAL](X, W, b, code, outs[0], no_z)
    nbk.FORWARD[PARALLEL](X, W, b, code, outs[1], no_z)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.isnan(outs[0]).any()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("activation_prev", [None, *HIDDEN_ACTIVATIONS])
def test_backward_variants_agree(threads2, dtype, shape, activation_prev):
    m, n_in, n_out = shape
    rng = np.random.default_rng(n_in)
    A = np.tanh(rand(rng, m, n_in, dtype=dtype))
    W, D = rand(rng, n_in, n_out, dtype=dtype), rand(rng, m, n_out, dtype=dtype)
    code = nbk.NO_ACTIVATION if activation_prev is None else ACTIVATIONS[activation_prev].code
    results = []
    for variant in (SERIAL, PARALLEL):
        dW, db = np.full((n_in, n_out), np.nan, dtype), np.full(n_out, np.nan, dtype)
        D_prev = np.full((m, n_in) if activation_prev else (0, 0), np.nan, dtype)
        nbk.BACKWARD[variant](A, W, D, code, dW, db, D_prev, A)
        results.append((dW, db, D_prev))
    for serial, parallel in zip(*results):
        np.testing.assert_array_equal(serial, parallel)
    # db is the column sum in row order, whatever the thread count
    np.testing.assert_allclose(results[0][1], D.sum(axis=0, dtype=np.float64),
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_loss_variants_agree(threads2, dtype, loss, activation):
    rng = np.random.default_rng(7)
    Z = rng.uniform(0.05, 0.95, (301, 11)).astype(dtype)
    Y = np.eye(11, dtype=dtype)[rng.integers(0, 11, 301)]
    got = []
    for variant in (SERIAL, PARALLEL):
        D = np.full(Z.shape, np.nan, dtype)
        act = ACTIVATIONS[activation]
        risk = nbk.LOSS[variant](Z, Y, LOSSES[loss].code, act.code, act.needs_z, D,
                                 np.empty(301))
        got.append((risk, D))
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])


UPDATE_OPTIMIZERS = {
    "plain": fastnn.SGD(0.1, weight_decay=0.01),
    "momentum": fastnn.SGD(0.1, momentum=0.9, weight_decay=0.01),
    "nesterov": fastnn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    **{name: cls(weight_decay=0.01) for name, cls in OPTIMIZERS.items() if name != "sgd"},
}


@pytest.mark.parametrize("name", list(UPDATE_OPTIMIZERS))
def test_update_variants_agree(threads2, dtype, name):
    from fastnn.backends.numba.optimizers import hyper
    opt = UPDATE_OPTIMIZERS[name]
    rng = np.random.default_rng(8)
    size = 3 * nbk.CHUNK + 17
    w0, g, m0 = (rand(rng, size, dtype=dtype) for _ in range(3))
    got = []
    for variant in (SERIAL, PARALLEL):
        w, m, v = w0.copy(), m0.copy(), np.abs(m0)
        nbk.UPDATE[variant](w, g, m, v, *hyper(opt.hyperparameters(0.01, 1)))
        got.append((w, m, v))
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)


def test_threshold_picks_the_variant(monkeypatch, threads2):
    assert nbk._threads(10, 100) == 1  # small work: serial, without touching the thread setting
    assert nbk._threads(100, 100) == threads2
    monkeypatch.setattr(cfg, "PARALLEL", False)
    assert nbk._threads(10**9, 100) == 1
    monkeypatch.setattr(cfg, "PARALLEL", True)
    fastnn.set_num_threads(1)
    assert nbk._threads(10**9, 100) == 1  # one thread: never the parallel variant


def test_backend_results_do_not_depend_on_the_threshold(monkeypatch, threads2, dtype):
    """Forcing every call through the parallel variants gives the serial results."""
    backend = get_backend("numba")
    rng = np.random.default_rng(9)
    A, W = np.tanh(rand(rng, 70, 40, dtype=dtype)), rand(rng, 40, 30, dtype=dtype)
    b, D = rand(rng, 30, dtype=dtype), rand(rng, 70, 30, dtype=dtype)

    def run():
        out = backend.dense_forward(A, W, b, "sigmoid")
        grads = backend.dense_backward(A, W, D, "tanh")
        risk, delta = backend.loss_and_delta(out, D, "mse", "softmax")
        p, v = W.copy(), np.zeros_like(W)
        backend.sgd_update(p, grads[0], 0.1, v, 0.9, True, 0.01)
        return [out, *grads, np.array(risk), delta, p, v]

    serial = run()
    for name in ("PARALLEL_MIN_EPILOGUE", "PARALLEL_MIN_EPILOGUE_EXP", "PARALLEL_MIN_LOSS",
                 "PARALLEL_MIN_UPDATE"):
        monkeypatch.setattr(cfg, name, 0)
    for a, b in zip(serial, run()):
        np.testing.assert_array_equal(a, b)


def test_warmup_compiles_both_dtypes():
    assert nbk.warmup() >= (24 if cfg.PARALLEL else 12)
    for dispatchers in (nbk.FORWARD, nbk.BACKWARD, nbk.LOSS, nbk.UPDATE):
        for dispatcher in dispatchers if cfg.PARALLEL else dispatchers[:1]:
            dtypes = {sig[0].dtype for sig in dispatcher.signatures}
            assert {numba.float32, numba.float64} <= dtypes, dispatcher


def test_thread_count_is_honoured(monkeypatch):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba was started with one thread")
    monkeypatch.setattr(cfg, "PARALLEL_MIN_EPILOGUE", 0)
    before = fastnn.get_num_threads()
    backend = get_backend("numba")
    X, W, b = np.ones((8, 3)), np.ones((3, 5)), np.zeros(5)
    seen = {}
    try:
        for n in (2, 1, 2):
            fastnn.set_num_threads(n)
            numba.set_num_threads(1)  # a stale Numba setting is corrected on the next call
            backend.dense_forward(X, W, b, "relu")
            assert numba.get_num_threads() == (n if n > 1 else 1)

        def other_thread():  # Numba's setting is per thread: a new thread gets it too
            backend.dense_forward(X, W, b, "relu")
            seen["threads"] = numba.get_num_threads()

        fastnn.set_num_threads(2)
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert seen["threads"] == 2
    finally:
        fastnn.set_num_threads(before)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.delenv("FASTNN_NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert cfg.cache_dir() == str(tmp_path / "xdg" / "fastnn" / "numba")
    monkeypatch.setenv("FASTNN_NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert cfg.cache_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))  # the user's choice wins
    assert cfg.cache_dir() == str(tmp_path / "numba")


def test_kernels_are_cached_in_fastnns_directory():
    path = nbk.FORWARD[SERIAL]._cache._cache_path
    assert path.startswith(cfg.cache_dir()) or not os.access(cfg.cache_dir(), os.W_OK)
    # under a digest of every source the kernels depend on, so that a change to an inlined
    # helper in another file (which Numba's own check misses) compiles afresh
    assert cfg.source_tag() in path or not os.access(cfg.cache_dir(), os.W_OK)


@pytest.mark.skipif(not cfg.CACHE, reason="FASTNN_NUMBA_CACHE=0")
def test_jit_writes_its_cache_there_and_leaves_numba_alone(monkeypatch, tmp_path):
    from numba.core import config

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("FASTNN_NUMBA_CACHE_DIR", str(tmp_path))
    before = config.CACHE_DIR

    def _twice(x):
        return 2 * x

    fn = cfg.jit(_twice, name="_twice_for_test")
    assert config.CACHE_DIR == before  # only set while the dispatcher was created
    assert fn(3) == 6
    cached = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert any(f.startswith("test_numba._twice_for_test") and f.endswith(".nbi") for f in cached)


# -- whole epochs and whole-network inference in one compiled call ------------------------------

from fastnn.backends import Backend, DivergenceError, Workspace  # noqa: E402
from fastnn.optim import epoch_indices  # noqa: E402

EPOCH_NETS = [
    ([3, 1], ["tanh"], "mse"),
    ([4, 9, 3], ["relu", "softmax"], "cross_entropy"),
    ([5, 7, 6, 2], ["tanh", "sigmoid", "sigmoid"], "binary_cross_entropy"),
    ([4, 6, 3], ["step", "softmax"], "mse"),  # a non-fused pair: the general chain rule
    *[([5, 7, 2], [act, "tanh"], "mse") for act in more_activations("tanh", "relu", "sigmoid")],
]
EPOCH_OPTIMIZERS = [
    fastnn.SGD(lr=0.1),
    fastnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-2),
    fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    fastnn.Adam(lr=0.01, weight_decay=1e-3),
    *more_optimizers("sgd", "adam"),
]


def _epoch_setup(sizes, acts, loss, optimizer, dtype, n=29, batch_size=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (n, sizes[-1])).astype(dtype)
    else:
        Y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    weights = [rand(rng, i, o, dtype=dtype) * 0.5 for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rand(rng, o, dtype=dtype) * 0.1 for o in sizes[1:]]
    state = optimizer.init_state([p for pair in zip(weights, biases) for p in pair])
    return X, Y, weights, biases, state, Workspace(sizes, batch_size, dtype)


@pytest.mark.parametrize("optimizer", EPOCH_OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("net", EPOCH_NETS, ids=lambda n: "-".join(map(str, n[0])) + n[1][0] + n[2])
def test_compiled_epoch_is_the_python_loop_over_numba_kernels(dtype, net, optimizer):
    """TRAIN_EPOCH sequences the very kernels the base class's Python loop calls one by one: the
    same weights, optimizer state and mean loss, bit for bit (29 samples: a short last batch)."""
    sizes, acts, loss = net
    backend = get_backend("numba")
    runs = []
    for train in (Backend.train_epoch, type(backend).train_epoch):
        X, Y, weights, biases, state, ws = _epoch_setup(sizes, acts, loss, optimizer, dtype)
        rng = np.random.default_rng(1)
        losses = []
        for epoch in range(3):
            idx = epoch_indices(rng, X.shape[0], 4)
            losses.append(train(backend, weights, biases, acts, loss, X, Y, idx, 4, optimizer,
                                state, ws, optimizer.lr_at(epoch), epoch))
        runs.append((losses, weights + biases, state))
    (ref_loss, ref_params, ref_state), (got_loss, got_params, got_state) = runs
    assert got_loss == ref_loss
    for a, b in zip(got_params, ref_params):
        np.testing.assert_array_equal(a, b)
    assert got_state.get("t") == ref_state.get("t")
    for key in ("velocity", "m", "v"):
        for a, b in zip(got_state.get(key, []), ref_state.get(key, [])):
            if b is not None:
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", [EPOCH_OPTIMIZERS[1], EPOCH_OPTIMIZERS[3]], ids=repr)
def test_compiled_epoch_stops_before_the_diverging_step(dtype, optimizer):
    sizes, acts, loss = [4, 9, 3], ["relu", "identity"], "mse"
    X, Y, weights, biases, state, ws = _epoch_setup(sizes, acts, loss, optimizer, dtype)
    X[np.arange(29) == 13] = np.finfo(dtype).max  # sample 13 makes its batch overflow
    idx = np.arange(29, dtype=np.int64)
    backend = get_backend("numba")
    # run the good steps (0, 1, 2) alone, then the whole epoch from the same start
    expect = [p.copy() for p in weights + biases]
    s_expect = {k: ([a.copy() for a in v] if isinstance(v, list) else v) for k, v in state.items()}
    backend.train_epoch(expect[:2], expect[2:], acts, loss, X, Y, idx[:12], 4, optimizer,
                        s_expect, Workspace(sizes, 4, dtype), 0.01)
    with pytest.raises(DivergenceError, match="epoch 3, step 4"):
        backend.train_epoch(weights, biases, acts, loss, X, Y, idx, 4, optimizer, state, ws,
                            0.01, epoch=2)
    for a, b in zip(weights + biases, expect):
        np.testing.assert_array_equal(a, b)
    if "t" in state:
        assert state["t"] == s_expect["t"] == 3  # the failed step did not advance t
    for key in ("velocity", "m", "v"):
        for a, b in zip(state.get(key, []), s_expect.get(key, [])):
            np.testing.assert_array_equal(a, b)


def test_compiled_epoch_rejects_indices_out_of_range():
    optimizer = fastnn.SGD(lr=0.1)
    X, Y, weights, biases, state, ws = _epoch_setup([3, 1], ["tanh"], "mse", optimizer,
                                                    np.float64)
    before = [p.copy() for p in weights + biases]
    for bad in (29, -1):
        with pytest.raises(ValueError, match="indices"):
            get_backend("numba").train_epoch(weights, biases, ["tanh"], "mse", X, Y,
                                             np.array([0, 1, bad]), 4, optimizer, state, ws, 0.1)
    for a, b in zip(weights + biases, before):
        np.testing.assert_array_equal(a, b)


def test_compiled_epoch_trains_the_arrays_it_is_given_now(dtype):
    """Nothing about a network is cached between calls: a weight or an optimizer state replaced
    by a new array is the one trained next (the old one is left alone), and one workspace (its
    per-row risk buffer) serves networks of any depth."""
    optimizer = fastnn.SGD(lr=0.1, momentum=0.5)
    sizes, acts, loss = [4, 9, 3], ["relu", "softmax"], "cross_entropy"
    X, Y, weights, biases, state, ws = _epoch_setup(sizes, acts, loss, optimizer, dtype)
    backend = get_backend("numba")
    idx = np.arange(29, dtype=np.int64)

    def epoch():
        backend.train_epoch(weights, biases, acts, loss, X, Y, idx, 4, optimizer, state, ws, 0.1)

    epoch()
    old = weights[1]
    weights[1] = old.copy()
    frozen = old.copy()
    epoch()
    np.testing.assert_array_equal(old, frozen)
    assert not np.array_equal(weights[1], frozen)
    state["velocity"][0] = np.zeros_like(weights[0])
    epoch()
    assert np.any(state["velocity"][0] != 0)
    # a network of another depth, trained with a workspace that already served the first one
    sizes2 = [4, 3]
    X2, Y2, w2, b2, s2, ws2 = _epoch_setup(sizes2, ["softmax"], loss, optimizer, dtype)
    ws2._numba_row_risk = ws._numba_row_risk
    ref = [p.copy() for p in w2 + b2]
    Backend.train_epoch(backend, ref[:1], ref[1:], ["softmax"], loss, X2, Y2, idx, 4, optimizer,
                        optimizer.init_state(ref), Workspace(sizes2, 4, dtype), 0.1)
    backend.train_epoch(w2, b2, ["softmax"], loss, X2, Y2, idx, 4, optimizer, s2, ws2, 0.1)
    for a, b in zip(w2 + b2, ref):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="do not match"):  # a workspace of another depth
        backend.train_epoch(w2, b2, ["softmax"], loss, X2, Y2, idx, 4, optimizer, s2, ws, 0.1)


@pytest.mark.parametrize("m", [0, 1, 3, 200])
def test_predict_is_one_call_and_matches_the_reference(dtype, m):
    backend, reference = get_backend("numba"), Backend()
    rng = np.random.default_rng(m)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for sizes, acts in [([5, 3], ["sigmoid"]), ([5, 40, 3], ["relu", "softmax"]),
                        ([5, 9, 11, 4, 2], ["tanh", "relu", "sigmoid", "identity"]),
                        ([5, 3], ["sigmoid"])]:  # a narrow net after wide ones: scratch reused
        weights = [rand(rng, i, o, dtype=dtype) for i, o in zip(sizes[:-1], sizes[1:])]
        biases = [rand(rng, o, dtype=dtype) for o in sizes[1:]]
        X = rand(rng, m, sizes[0], dtype=dtype)
        got = backend.predict(weights, biases, acts, X)
        assert got.shape == (m, sizes[-1]) and got.dtype == dtype
        np.testing.assert_allclose(got, reference.predict(weights, biases, acts, X), **tol)
        # the cached layer lists follow in-place changes and replaced arrays
        weights[0] *= 2
        biases[-1] = biases[-1] + 1
        np.testing.assert_allclose(backend.predict(weights, biases, acts, X),
                                   reference.predict(weights, biases, acts, X), **tol)


def test_compiled_kernels_compile_once_per_depth_and_dtype():
    """Layers travel as tuples: one specialisation of the epoch and of predict per depth and
    dtype (X read-only or not), whatever the layer widths, batch size or optimizer."""
    backend = get_backend("numba")
    for sizes in ([3, 5, 1], [7, 2, 4], [3, 8, 1]):
        net = fastnn.Network(sizes, "relu", "identity", "mse", backend=backend, seed=0)
        X = np.ones((10, sizes[0]), np.float32)
        Y = np.zeros((10, sizes[-1]))
        for optimizer in EPOCH_OPTIMIZERS:
            net.fit(X, Y, epochs=1, batch_size=3, optimizer=optimizer)
        net.forward(X[:1])
        net.forward(X)

    train = [sig for sig in nbk.TRAIN_EPOCH.signatures
             if sig[0].count == 14 and sig[5].dtype == numba.float32]
    assert len({(sig[5].mutable, sig[6].mutable, sig[7].mutable) for sig in train}) == len(train)
    pred = [sig for sig in nbk.PREDICT.signatures
            if sig[0].count == 2 and sig[3].dtype == numba.float32]
    assert len({sig[3].mutable for sig in pred}) == len(pred) >= 1
