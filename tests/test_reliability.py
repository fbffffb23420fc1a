"""Reliability: bad input, odd memory layouts, degenerate sizes, extreme values, divergence,
interrupted saves, concurrent use and thread counts, on every backend.

What ``test_bad_input.py``, ``test_kernels.py`` and ``test_persistence.py`` already cover for
``Network`` and the kernels is not repeated here; this file adds the estimators, the layouts that
reach the compiled code (misaligned, memory-mapped), the numerics at +-1000, divergence of every
optimizer, a save that fails halfway through writing, and threads.
"""

import io
import re
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import BACKENDS

import fastnn
from fastnn import kernels, persistence
from fastnn.activations import ACTIVATIONS
from fastnn.losses import LOSSES
from fastnn.sklearn import LogisticRegression, MLPClassifier, MLPRegressor, Perceptron

RNG = np.random.default_rng(0)
X = RNG.standard_normal((24, 4))
Y_CLASS = np.arange(24) % 3
ESTIMATORS = {
    "MLPClassifier": lambda b: MLPClassifier((5,), max_iter=3, batch_size=8, random_state=0,
                                             backend=b),
    "MLPRegressor": lambda b: MLPRegressor((5,), max_iter=3, batch_size=8, random_state=0,
                                           backend=b),
    "LogisticRegression": lambda b: LogisticRegression(max_iter=3, random_state=0, backend=b),
    "Perceptron": lambda b: Perceptron(max_iter=3, random_state=0, backend=b),
}


def fitted(name, backend, X=X, y=Y_CLASS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 3 epochs
        return ESTIMATORS[name](backend).fit(X, y)


def params(model):
    net = getattr(model, "network_", model)
    return [p.copy() for p in net.weights + net.biases]


def assert_same_params(model, before):
    for a, b in zip(params(model), before):
        np.testing.assert_array_equal(a, b)


def misaligned(a, offset):
    """A C-contiguous copy of ``a`` whose data starts ``offset`` bytes into a uint8 buffer."""
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 16, np.uint8)
    view = np.frombuffer(buf[offset:offset + a.nbytes].data, dtype=a.dtype).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned or offset % a.itemsize == 0
    return view


@pytest.fixture
def memmap_of(tmp_path):
    """``memmap_of(a)``: ``a`` written to a file and mapped back read-only (mode "r")."""
    count = iter(range(1000))

    def make(a):
        a = np.ascontiguousarray(a)
        path = tmp_path / f"array{next(count)}.dat"
        a.tofile(path)
        mm = np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
        assert not mm.flags.writeable
        return mm

    return make


# -- input: estimators (Network is in test_bad_input.py) ------------------------------------------


def with_value(value):
    Z = X.copy()
    Z[3, 2] = value
    return Z


BAD_X = {
    "nan": (with_value(np.nan), "NaN"),
    "inf": (with_value(np.inf), "infinity"),
    "1-D": (np.ones(4), "2D"),
    "3-D": (np.ones((24, 4, 1)), "dim 3"),
    "no samples": (np.ones((0, 4)), "0 sample"),
    "no features": (np.ones((24, 0)), "0 feature"),
    "complex": (X + 1j, "[Cc]omplex"),
    "strings": (np.array([["a", "b", "c", "d"]] * 24), "string"),
    "objects": (np.array([[None, {}, "x", 1]] * 24, dtype=object), "float|string|number"),
}


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("bad", BAD_X)
def test_estimators_reject_bad_X_and_keep_their_model(backend, name, bad):
    Xb, match = BAD_X[bad]
    X_before = Xb.copy()
    model = fitted(name, backend)
    before, predicted = params(model), model.predict(X)
    y = Y_CLASS[: len(Xb)] if Xb.ndim > 1 else Y_CLASS
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(Xb, y)
    with pytest.raises((ValueError, TypeError), match=match):
        model.predict(Xb)
    assert_same_params(model, before)
    np.testing.assert_array_equal(model.predict(X), predicted)
    np.testing.assert_array_equal(Xb, X_before)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_reject_bad_y_wrong_features_and_mismatched_samples(backend, name):
    model = fitted(name, backend)
    before = params(model)
    cases = [
        (X, np.where(Y_CLASS == 1, np.nan, Y_CLASS), "NaN"),
        (X, np.where(Y_CLASS == 1, np.inf, Y_CLASS), "infinity"),
        (X, Y_CLASS[:10], "inconsistent numbers of samples"),
        (X, Y_CLASS + 0j, "[Cc]omplex"),
    ]
    for Xb, yb, match in cases:
        with pytest.raises(ValueError, match=match):
            model.fit(Xb, yb)
    with pytest.raises(ValueError, match="5 features.*expecting 4"):
        model.predict(np.ones((3, 5)))
    assert_same_params(model, before)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_take_integer_and_bool_X(backend, name):
    Xi = np.round(X * 3).astype(np.int64)
    want = fitted(name, backend, Xi.astype(np.float64)).predict(Xi.astype(np.float64))
    np.testing.assert_array_equal(fitted(name, backend, Xi).predict(Xi), want)
    Xb = X > 0
    want = fitted(name, backend, Xb.astype(np.float64)).predict(Xb.astype(np.float64))
    np.testing.assert_array_equal(fitted(name, backend, Xb).predict(Xb), want)


def test_network_takes_bool_X_and_Y_and_rejects_infinite_Y(backend):
    net = fastnn.Network([4, 3, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                         backend=backend, seed=0)
    ref = fastnn.Network([4, 3, 1], output_activation="sigmoid", loss="binary_cross_entropy",
                         backend=backend, seed=0)
    net.fit(X > 0, Y_CLASS > 0, epochs=2, batch_size=8)
    ref.fit((X > 0).astype(np.float32), (Y_CLASS > 0).astype(np.float32), epochs=2, batch_size=8)
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_array_equal(a, b)
    before = params(net)
    with pytest.raises(ValueError, match="infinity"):
        net.fit(X, np.where(Y_CLASS > 0, np.inf, 0.0), epochs=1)
    assert_same_params(net, before)


# -- layout --------------------------------------------------------------------------------------

LAYOUTS = ["fortran", "strided", "negative", "misaligned1", "misaligned2", "readonly", "memmap"]


def layout(a, kind, memmap_of):
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided":
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if kind == "negative":
        return np.ascontiguousarray(a[::-1])[::-1]
    if kind.startswith("misaligned"):
        return misaligned(a, int(kind[-1]))
    if kind == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    return memmap_of(a)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_network_fit_and_forward_take_any_layout(backend, dtype, kind, memmap_of):
    Xd, Y = X.astype(dtype), np.eye(3, dtype=dtype)[Y_CLASS]
    nets = [fastnn.Network([4, 6, 3], activation="tanh", dtype=dtype, backend=backend, seed=1)
            for _ in range(2)]
    Xl, Yl = layout(Xd, kind, memmap_of), layout(Y, kind, memmap_of)
    X_before = np.array(Xl)
    h0 = nets[0].fit(Xd, Y, epochs=2, batch_size=5, validation_data=(Xd, Y))
    h1 = nets[1].fit(Xl, Yl, epochs=2, batch_size=5, validation_data=(Xl, Yl))
    assert h0.loss == h1.loss and h0.val_loss == h1.val_loss
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nets[1].forward(Xl), nets[0].forward(Xd))
    assert nets[1].loss(Xl, Yl) == nets[0].loss(Xd, Y)
    np.testing.assert_array_equal(Xl, X_before)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_kernels_take_any_layout(backend, dtype, kind, memmap_of):
    rng = np.random.default_rng(3)
    Xd, W, b = (rng.standard_normal(s).astype(dtype) for s in ((9, 6), (6, 5), (5,)))
    D, Y = rng.standard_normal((9, 5)).astype(dtype), rng.random((9, 5)).astype(dtype)
    lay = [layout(a, kind, memmap_of) for a in (Xd, W, b, D, Y)]
    np.testing.assert_array_equal(kernels.dense_forward(*lay[:3], "tanh", backend=backend),
                                  kernels.dense_forward(Xd, W, b, "tanh", backend=backend))
    got = kernels.dense_backward(lay[0], lay[1], lay[3], "relu", backend=backend)
    want = kernels.dense_backward(Xd, W, D, "relu", backend=backend)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    got = kernels.loss_and_delta(lay[3], lay[4], "binary_cross_entropy", "sigmoid",
                                 backend=backend)
    want = kernels.loss_and_delta(D, Y, "binary_cross_entropy", "sigmoid", backend=backend)
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])
    if kind in ("readonly", "memmap"):
        return  # sgd_update writes its parameter (read-only ones are rejected, test_kernels.py)
    W_ref, v_ref = W.copy(), np.zeros_like(W)
    W_lay, v_lay = layout(W, kind, memmap_of), layout(np.zeros_like(W), kind, memmap_of)
    for _ in range(2):
        kernels.sgd_update(W_ref, D[:6], 0.1, v_ref, 0.9, True, 1e-3, backend=backend)
        kernels.sgd_update(W_lay, lay[3][:6], 0.1, v_lay, 0.9, True, 1e-3, backend=backend)
    np.testing.assert_array_equal(W_lay, W_ref)
    np.testing.assert_array_equal(v_lay, v_ref)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_estimators_take_any_layout(backend, kind, memmap_of):
    Xl = layout(X, kind, memmap_of)
    for name in ("MLPClassifier", "MLPRegressor"):
        a, b = fitted(name, backend), fitted(name, backend, Xl)
        np.testing.assert_array_equal(b.predict(Xl), a.predict(X))
        assert_same_params(b, params(a))


# -- degenerate sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["one sample", "one feature", "batch > n", "batch 1"])
def test_degenerate_sizes_train_on_every_backend(dtype, case):
    n, d, batch = {"one sample": (1, 4, 8), "one feature": (24, 1, 8), "batch > n": (5, 4, 100),
                   "batch 1": (7, 4, 1)}[case]
    results = []
    for backend in BACKENDS:
        net = fastnn.Network([d, 3, 2], activation="tanh", dtype=dtype, backend=backend, seed=2)
        history = net.fit(X[:n, :d], Y_CLASS[:n] % 2, epochs=3, batch_size=batch,
                          optimizer=fastnn.SGD(lr=0.1, momentum=0.9))
        assert len(history.loss) == 3 and np.all(np.isfinite(history.loss))
        assert net.forward(X[:1, :d]).shape == (1, 2)
        results.append(net.weights + net.biases)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_on_one_class_one_sample_one_feature(backend, name):
    for Xs, ys in ((X, np.zeros(24)), (X[:1], Y_CLASS[:1]), (X[:, :1], Y_CLASS)):
        try:
            model = fitted(name, backend, Xs, ys)
        except ValueError as exc:  # a clear error is acceptable for a single class
            assert re.search("class", str(exc)), exc
            continue
        pred = model.predict(Xs)
        assert pred.shape == (len(Xs),)
        if name != "MLPRegressor" and len(np.unique(ys)) == 1:
            assert np.all(pred == ys[0])


# -- numerics --------------------------------------------------------------------------------------

EXTREME = np.array([[-1000.0, 1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0, 5.0]])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activations_at_plus_minus_1000_are_finite_and_quiet(backend, dtype, activation):
    Z = EXTREME.astype(dtype)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        A = kernels.dense_forward(Z, np.eye(4, dtype=dtype), np.zeros(4, dtype), activation,
                                  backend=backend)
    assert np.all(np.isfinite(A))
    if activation in ("sigmoid", "softmax", "step"):
        assert np.all((A >= 0) & (A <= 1))
    if activation == "sigmoid":
        np.testing.assert_array_equal(A[0, :2], [0, 1])


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_losses_at_plus_minus_1000_are_finite_and_quiet(backend, dtype, loss, activation):
    """Every (activation, loss) pair, fused or through the chain rule, with outputs at 0 or 1."""
    Z = EXTREME.astype(dtype)
    for Y in (np.array([[0, 1, 0, 0], [1, 0, 0, 0]], dtype),  # right and wrong, one-hot
              np.array([[1, 0, 1, 0], [0, 0, 1, 1]], dtype)):  # labels 1 where the output is 0
        with np.errstate(all="raise"), warnings.catch_warnings():
            warnings.simplefilter("error")
            risk, D = kernels.loss_and_delta(Z, Y, loss, activation, backend=backend)
        assert np.isfinite(risk) and np.all(np.isfinite(D)), (risk, D)
        # the reference in the same dtype: outputs at 0 or 1 are clipped at the dtype's epsilon
        want, want_D = kernels.loss_and_delta(Z, Y, loss, activation, backend="numpy")
        rtol = 1e-4 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(risk, want, rtol=rtol)
        np.testing.assert_allclose(D, want_D, rtol=rtol, atol=rtol)


def test_training_on_saturating_outputs_stays_finite_and_quiet(backend, dtype):
    Xs = X.astype(dtype) * 1000
    for out, loss in (("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy"),
                      ("sigmoid", "cross_entropy"), ("softmax", "binary_cross_entropy"),
                      ("tanh", "mse")):
        y = np.eye(3, dtype=dtype)[Y_CLASS]
        net = fastnn.Network([4, 3], output_activation=out, loss=loss, dtype=dtype,
                             backend=backend, seed=0)
        with np.errstate(all="raise"), warnings.catch_warnings():
            warnings.simplefilter("error")
            history = net.fit(Xs, y, epochs=2, batch_size=8, optimizer=fastnn.SGD(lr=1e-3))
            assert np.all(np.isfinite(history.loss)) and np.isfinite(net.loss(Xs, y))


# -- divergence ------------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda lr: fastnn.SGD(lr=lr),
    "momentum": lambda lr: fastnn.SGD(lr=lr, momentum=0.9),
    "nesterov": lambda lr: fastnn.SGD(lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: fastnn.Adam(lr=lr),
}


def regression_net(backend, dtype):
    return fastnn.Network([4, 8, 1], activation="relu", output_activation="identity",
                          loss="mse", dtype=dtype, backend=backend, seed=0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("cause", ["learning rate", "inputs"])
def test_divergence_names_epoch_and_step_and_keeps_the_last_good_weights(backend, dtype,
                                                                         optimizer, cause):
    """Full-batch steps, so that step k of the failure is epoch k: the network must then hold
    exactly the weights of a fresh network trained for the epochs before it."""
    big = float(np.finfo(dtype).max) ** 0.5  # its square overflows
    lr, scale = (big, 1.0) if cause == "learning rate" else (0.01, big * 10)
    Xs, y = X * scale, np.sin(X[:, 0])
    net = regression_net(backend, dtype)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch \d+, step 1\b") as info:
        net.fit(Xs, y, epochs=50, batch_size=None, shuffle=False,
                optimizer=OPTIMIZERS[optimizer](lr))
    assert all(np.all(np.isfinite(p)) for p in net.weights + net.biases)
    epoch = int(re.search(r"epoch (\d+)", str(info.value)).group(1))
    ref = regression_net(backend, dtype)
    if epoch > 1:
        ref.fit(Xs, y, epochs=epoch - 1, batch_size=None, shuffle=False,
                optimizer=OPTIMIZERS[optimizer](lr))
    assert_same_params(net, params(ref))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_divergence_within_an_epoch_of_minibatches(backend, dtype, optimizer):
    net = regression_net(backend, dtype)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch \d+, step \d+"):
        net.fit(X, np.sin(X[:, 0]), epochs=50, batch_size=3,
                optimizer=OPTIMIZERS[optimizer](float(np.finfo(dtype).max) ** 0.5))
    assert all(np.all(np.isfinite(p)) for p in net.weights + net.biases)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_weight_gradient_overflowing_after_another_layer_was_updated(backend, dtype, optimizer):
    """The C epoch updates each tile of a weight gradient as the GEMM produces it, output layer
    first. Here the output layer's gradient is finite (about -max^0.5 / 2) and the first
    layer's overflows (about -2 max), with the loss and the bias gradients finite: the failing
    step must still leave the parameters exactly as they were."""
    big = float(np.finfo(dtype).max) ** 0.5
    net = fastnn.Network([1, 2, 1], activation="relu", output_activation="identity", loss="mse",
                         dtype=dtype, backend=backend, seed=0)
    net.weights[0][...], net.biases[0][...] = 1 / big, 0  # hidden outputs 4
    net.weights[1][...], net.biases[1][...] = 1, 0  # output 8
    before = params(net)
    Xs, y = np.full((4, 1), 4 * big, dtype), np.full(4, big / 4)
    with pytest.raises(fastnn.DivergenceError, match=r"epoch 1, step 1\b"):
        net.fit(Xs, y, epochs=3, batch_size=None, optimizer=OPTIMIZERS[optimizer](0.01))
    assert_same_params(net, before)


# -- persistence: a save that fails halfway --------------------------------------------------------


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=repr)
def test_a_save_failing_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch,
                                                                      error):
    net = fastnn.Network([4, 30, 3], seed=0)
    path = tmp_path / "model.npz"
    net.save(path)
    before, W_saved = path.read_bytes(), net.weights[0].copy()
    net.weights[0] += 1
    real_savez = np.savez
    written = []

    def half_then_fail(file, **arrays):
        buf = io.BytesIO()
        real_savez(buf, **arrays)
        data = buf.getvalue()
        file.write(data[: len(data) // 2])  # real bytes on disk, then the failure
        file.flush()
        written.append(len(data) // 2)
        raise error

    monkeypatch.setattr(persistence.np, "savez", half_then_fail)
    with pytest.raises(type(error)):
        net.save(path)
    assert written and written[0] > 1000
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    with pytest.raises(type(error)):  # no previous file: nothing is left at all
        net.save(tmp_path / "new.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    monkeypatch.undo()
    loaded = fastnn.load(path)
    np.testing.assert_array_equal(loaded.weights[0], W_saved)


# -- concurrency -----------------------------------------------------------------------------------


def run_threads(fn, n):
    results, errors = [None] * n, []

    def work(i):
        try:
            results[i] = fn(i)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_eight_threads_train_and_predict_as_serial_runs(backend):
    data = np.random.default_rng(1).standard_normal((64, 10))
    labels = (data[:, 0] > 0).astype(int) + (data[:, 1] > 0)

    def train(i):
        net = fastnn.Network([10, 16, 3], activation="tanh", backend=backend, seed=i)
        net.fit(data, labels, epochs=3, batch_size=8,
                optimizer=fastnn.Adam(0.01) if i % 2 else fastnn.SGD(0.1, momentum=0.9))
        return [p.copy() for p in net.weights + net.biases]

    serial = [train(i) for i in range(8)]
    for got, want in zip(run_threads(train, 8), serial):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    shared = fastnn.Network([10, 64, 3], backend=backend, seed=0)
    inputs = [np.random.default_rng(i).standard_normal((1 + 37 * i, 10)) for i in range(8)]
    want = [shared.forward(x) for x in inputs]
    for _ in range(3):
        got = run_threads(lambda i: shared.forward(inputs[i]), 8)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("compiled", [b for b in BACKENDS if b != "numpy"])
def test_long_kernels_release_the_gil(compiled):
    """While one thread runs a long kernel (one OpenMP thread), another Python thread keeps
    running: it would be frozen for the whole call if the GIL were held. The call must last
    well over the interpreter's switch interval; a noisy machine gets three tries."""
    n = 2000
    A = np.random.default_rng(0).standard_normal((n, n))
    b = np.zeros(n)
    kernels.dense_forward(A[:8], A, b, "tanh", backend=compiled)  # compile / warm up
    with fastnn._config.num_threads(1):
        for _ in range(3):
            span = []

            def kernel():
                span.append(time.perf_counter())
                kernels.dense_forward(A, A, b, "tanh", backend=compiled)
                span.append(time.perf_counter())

            worker = threading.Thread(target=kernel)
            ticks = []
            worker.start()
            while worker.is_alive():
                ticks.append(time.perf_counter())
            worker.join()
            start, end = span
            inside = [t for t in ticks if start < t < end]
            gaps = np.diff([start, *inside, end])
            if end - start > 0.05 and len(inside) > 100 and gaps.max() < 0.5 * (end - start):
                return
        pytest.fail(f"the main thread was frozen for {gaps.max():.3f} s of a {end - start:.3f} s "
                    f"kernel ({len(inside)} ticks): the kernel holds the GIL")


# -- thread counts ---------------------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    with fastnn._config.num_threads(fastnn.get_num_threads()):  # restores the setting on exit
        yield


def test_one_and_two_threads_agree_and_a_fixed_seed_repeats(backend, dtype, restore_threads):
    data = np.random.default_rng(2).standard_normal((300, 40))
    labels = np.argmax(data[:, :5], axis=1)

    def train(n_threads):
        fastnn.set_num_threads(n_threads)
        net = fastnn.Network([40, 200, 5], dtype=dtype, backend=backend, seed=3)
        net.fit(data, labels, epochs=2, batch_size=100, optimizer=fastnn.SGD(0.05, momentum=0.9))
        return [p.copy() for p in net.weights + net.biases], net.forward(data)

    one, two = train(1), train(2)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(one[0] + [one[1]], two[0] + [two[1]]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    for n_threads, first in ((1, one), (2, two)):
        again = train(n_threads)
        for a, b in zip(first[0] + [first[1]], again[0] + [again[1]]):
            np.testing.assert_array_equal(a, b)


# -- index arithmetic past 2**31 elements ----------------------------------------------------------


def _available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [b for b in BACKENDS if b != "numpy"])
def test_more_than_2_31_elements(compiled):
    """X is a read-only broadcast of one row to (2**31 / 64 + 3) x 64 float32, 2**31 + 192
    elements; the boundary copies it to one C-contiguous 8 GiB array, which the kernel reads past
    element 2**31 (an int index would wrap there). Every output row must be the same number.
    Costs ~20 s and 8.8 GB resident per backend; deselected by default (pytest -m slow)."""
    k = 64
    m = 2**31 // k + 3
    if _available_bytes() < m * k * 4 + (2 << 30):
        pytest.skip("needs ~10 GiB of free memory")
    row = np.random.default_rng(0).standard_normal(k).astype(np.float32)
    W = np.random.default_rng(1).standard_normal((k, 1)).astype(np.float32)
    b = np.array([0.5], np.float32)
    Xb = np.broadcast_to(row, (m, k))
    assert Xb.size > 2**31 and not Xb.flags.writeable
    out = kernels.dense_forward(Xb, W, b, "identity", backend=compiled)
    want = row.astype(np.float64) @ W.astype(np.float64) + 0.5
    assert out.shape == (m, 1)
    # every row, those past element 2**31 included (rows in different tiles may round apart)
    np.testing.assert_allclose(out[:, 0], want[0], rtol=1e-5)
