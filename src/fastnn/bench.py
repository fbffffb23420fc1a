"""Side-by-side benchmarks: fastnn's backends against pure NumPy and the optional peers.

Design
------
One table of cases, used by both ``fastnn bench`` and the pytest-benchmark suite in ``bench/``.
Training is timed over ``TRAIN_EPOCHS`` epochs per call (one ``fit`` for fastnn, the same number
of epochs for the others) and reported per epoch.
A case is an operation at one size with several *contenders* (zero-argument callables doing the
same work, already set up): ``numpy`` (the pure-NumPy way, the baseline every ratio is against),
each available fastnn backend, and PyTorch, scikit-learn or onnxruntime (running the model as
``fastnn.onnx`` exports it) where they are importable. The inference cases serve one sample
(``predict``, and ``predict_proba`` of a scikit-learn model against its import by
``from_sklearn``, whose baseline is scikit-learn) and score many rows at once.

The ``threads`` group measures fastnn beside other work, as users run it: a grid search at
``n_jobs=1`` and ``2`` (fastnn's estimators and scikit-learn's; the workers stay warm between
calls), and a 784-256-256-10 epoch at 1, 2 and the default number of threads while another
process keeps one CPU busy (``Case.context``), and pinned to one CPU as ``taskset -c 0`` would
(in a child process whose affinity is that CPU: ``Case.measure``). Their ratios are against the
case's ``baseline`` contender (``n_jobs=1``, one thread) instead of NumPy.

``run`` times every contender of a case in the same run: a warm-up call first (compilation
stays out of the timings), then repetitions interleaved across contenders, each a batch of calls
long enough for the clock, and the median per call. Ratios are ``t_numpy / t_contender`` (above 1
is faster than NumPy). GFLOP/s come from counted FLOPs (2mnk per product) and are set against
the GEMM ceiling measured at the start of the run: the best float32 GEMM rate of the machine
(OpenBLAS through NumPy, or fastnn's own, whichever is higher).
"""

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

import fastnn
from fastnn import kernels
from fastnn.backends import get_backend

__all__ = ["Case", "make_cases", "run", "measure_ceiling", "machine_info", "format_table",
           "GROUPS"]

GROUPS = ("gemm", "dense_forward", "dense_backward", "sgd_update", "train_epoch", "predict",
          "predict_proba", "threads")  # the groups of make_cases, in its order


@dataclass
class Case:
    """One operation at one size, and the contenders that do it."""

    group: str
    label: str
    flops: float  # per call (None: not counted)
    setup: callable  # () -> {contender name: zero-argument callable}
    samples: int = 0  # samples processed per unit (training and inference), for samples/s
    units: int = 1  # units of work per call (epochs): results are per unit
    results: dict = field(default_factory=dict)
    baseline: str = "numpy"  # the contender every ratio of the case is against
    context: callable = contextlib.nullcontext  # () -> what surrounds the timing (other load)
    measure: callable = None  # (rounds, min_time) -> {name: seconds per call}, if not in-process

    def time(self, rounds, min_time):
        """{contender: seconds per call}, measured side by side."""
        with self.context():
            if self.measure is not None:
                return self.measure(rounds, min_time)
            return time_contenders(self.setup(), rounds, min_time)


def _fastnn_backends():
    return [b for b in fastnn.available_backends() if b != "numpy"]


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(fastnn.get_num_threads())
    return torch


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# -- the single-operation cases ------------------------------------------------------------------

def _gemm_case(n):
    def setup():
        rng = np.random.default_rng(0)
        A, B = _rand(rng, n, n), _rand(rng, n, n)
        out = np.empty((n, n), np.float32)
        contenders = {"numpy": lambda: np.matmul(A, B, out=out)}
        if "cython" in fastnn.available_backends():
            from fastnn import _ckernels

            threads = fastnn.get_num_threads()
            contenders["cython"] = lambda: _ckernels.gemm(A, B, out, threads)
        torch = _torch()
        if torch is not None:
            tA, tB, tout = torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(out)
            contenders["torch"] = lambda: torch.matmul(tA, tB, out=tout)
        return contenders

    return Case("gemm", f"{n}x{n}x{n}", 2.0 * n**3, setup)


_NP_ACT = {
    "relu": lambda Z: np.maximum(Z, 0, out=Z),
    "tanh": lambda Z: np.tanh(Z, out=Z),
}


def _dense_forward_case(m, k, n, act):
    def setup():
        rng = np.random.default_rng(1)
        X, W, b = _rand(rng, m, k), _rand(rng, k, n) / np.float32(np.sqrt(k)), _rand(rng, n)
        out = np.empty((m, n), np.float32)
        contenders = {"numpy": lambda: _NP_ACT[act](X @ W + b)}
        for name in _fastnn_backends():
            be = get_backend(name)
            contenders[name] = lambda be=be: be.dense_forward(X, W, b, act, out)
        contenders["fastnn.kernels"] = lambda: kernels.dense_forward(X, W, b, act, out=out)
        torch = _torch()
        if torch is not None:
            tX, tW, tb = (torch.from_numpy(a) for a in (X, W, b))
            tact = {"relu": torch.relu, "tanh": torch.tanh}[act]
            contenders["torch"] = lambda: tact(torch.addmm(tb, tX, tW))
        return contenders

    return Case("dense_forward", f"{m}x{k}x{n} {act}", 2.0 * m * k * n, setup, samples=m)


def _dense_backward_case(m, n_in, n_out):
    def setup():
        rng = np.random.default_rng(2)
        A = np.maximum(_rand(rng, m, n_in), 0)
        W, D = _rand(rng, n_in, n_out), _rand(rng, m, n_out)
        dW, db, D_prev = np.empty_like(W), np.empty(n_out, np.float32), np.empty_like(A)

        def numpy_backward():
            return A.T @ D, D.sum(axis=0), (D @ W.T) * (A > 0)

        contenders = {"numpy": numpy_backward}
        for name in _fastnn_backends():
            be = get_backend(name)
            contenders[name] = lambda be=be: be.dense_backward(A, W, D, "relu", dW, db, D_prev)
        return contenders

    return Case("dense_backward", f"{m}x{n_in}x{n_out} relu", 4.0 * m * n_in * n_out, setup,
                samples=m)


def _sgd_case(n_in, n_out):
    def setup():
        rng = np.random.default_rng(3)
        W, dW, v = _rand(rng, n_in, n_out), _rand(rng, n_in, n_out) * 1e-6, np.zeros(
            (n_in, n_out), np.float32)

        def numpy_update():
            g = dW + 1e-4 * W
            v[...] = 0.9 * v - 0.01 * g
            W[...] += v

        contenders = {"numpy": numpy_update}
        for name in _fastnn_backends():
            be = get_backend(name)
            contenders[name] = lambda be=be: be.sgd_update(W, dW, 0.01, v, 0.9, False, 1e-4)
        return contenders

    return Case("sgd_update", f"{n_in}x{n_out} momentum", 5.0 * n_in * n_out, setup)


# -- whole networks --------------------------------------------------------------------------------

def _train_flops(sizes, n):
    """Forward 2 n_in n_out per layer; backward 2 n_in n_out (dW) + 2 n_in n_out (D_prev, not
    for the first layer): counted per sample, times n."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    fwd = sum(2 * i * o for i, o in pairs)
    bwd = sum(2 * i * o for i, o in pairs) + sum(2 * i * o for i, o in pairs[1:])
    return float(n * (fwd + bwd))


def _classification_data(sizes, n):
    rng = np.random.default_rng(4)
    X = _rand(rng, n, sizes[0])
    y = rng.integers(0, sizes[-1], n)
    return X, y


def numpy_train_epoch(weights, biases, X, Y, batch_size, lr, rng):
    """One epoch of minibatch SGD written by hand in NumPy (relu hidden layers, softmax output,
    cross-entropy): what a user writes without a library, and the baseline of train_epoch."""
    n = X.shape[0]
    order = rng.permutation(n)
    L = len(weights)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        activations = [X[idx]]
        for layer in range(L):
            Z = activations[-1] @ weights[layer] + biases[layer]
            if layer < L - 1:
                activations.append(np.maximum(Z, 0))
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=1, keepdims=True)
        D = (P - Y[idx]) / len(idx)
        for layer in range(L - 1, -1, -1):
            dW = activations[layer].T @ D
            db = D.sum(axis=0)
            if layer > 0:
                D = (D @ weights[layer].T) * (activations[layer] > 0)
            weights[layer] -= lr * dW
            biases[layer] -= lr * db


TRAIN_EPOCHS = 5  # epochs per timed call: the per-fit set-up is shared as in real use


def _train_case(sizes, batch_size, n, epochs=TRAIN_EPOCHS):
    def setup():
        X, y = _classification_data(sizes, n)
        Y = np.eye(sizes[-1], dtype=np.float32)[y]
        lr = 0.01
        net0 = fastnn.Network(sizes, activation="relu", seed=0)
        rng = np.random.default_rng(0)
        Ws, bs = [W.copy() for W in net0.weights], [b.copy() for b in net0.biases]
        def numpy_epochs():
            for _ in range(epochs):
                numpy_train_epoch(Ws, bs, X, Y, batch_size, lr, rng)

        contenders = {"numpy": numpy_epochs}
        for name in _fastnn_backends():
            net = fastnn.Network(sizes, activation="relu", backend=name, seed=0)
            opt = fastnn.SGD(lr=lr)
            contenders[name] = lambda net=net, opt=opt: net.fit(X, y, epochs=epochs,
                                                                batch_size=batch_size,
                                                                optimizer=opt)
        torch = _torch()
        if torch is not None:
            contenders["torch"] = _repeat(_torch_epoch(torch, sizes, X, y, batch_size, lr),
                                          epochs)
        for name, fn in _sklearn_epoch(sizes, X, y, batch_size, lr).items():
            contenders[name] = _repeat(fn, epochs)
        return contenders

    label = "-".join(map(str, sizes)) + f" batch {batch_size}"
    return Case("train_epoch", label, _train_flops(sizes, n), setup, samples=n, units=epochs)


def _repeat(fn, times):
    def repeated():
        for _ in range(times):
            fn()

    return repeated


def _torch_epoch(torch, sizes, X, y, batch_size, lr):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(tX), generator=gen)
        for start in range(0, len(tX), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(tX[idx]), ty[idx]).backward()
            opt.step()

    return epoch


def _sklearn_epoch(sizes, X, y, batch_size, lr):
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return {}
    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), solver="sgd", alpha=0.0,
                        batch_size=batch_size, learning_rate_init=lr, momentum=0.0,
                        shuffle=True, random_state=0)
    clf.partial_fit(X, y, classes=np.arange(sizes[-1]))
    return {"sklearn": lambda: clf.partial_fit(X, y)}


def _numpy_predict(Ws, bs):
    """Inference written by hand in NumPy: relu hidden layers, softmax output."""
    def predict(X):
        A = X
        for W, b in zip(Ws[:-1], bs[:-1]):
            A = np.maximum(A @ W + b, 0)
        Z = A @ Ws[-1] + bs[-1]
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)

    return predict


def _torch_predict(torch, net):
    """The network as a PyTorch module (the same weights), in inference mode."""
    layers = []
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear, torch.nn.ReLU() if i < net.n_layers - 1 else torch.nn.Softmax(1)]
    model = torch.nn.Sequential(*layers).eval()

    def predict(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X))

    return predict


def _onnx_predict(model):
    """``model`` exported by ``fastnn.onnx`` and run by onnxruntime (None when either is
    missing), on fastnn's number of threads."""
    try:
        import onnxruntime

        from .onnx import to_onnx
        proto = to_onnx(model)
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = fastnn.get_num_threads()
    session = onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    return lambda X: session.run(None, {"X": X})


def _inference_contenders(sizes, X):
    """Network.forward on each fastnn backend, beside NumPy, PyTorch and onnxruntime."""
    net0 = fastnn.Network(sizes, activation="relu", seed=0)
    numpy_predict = _numpy_predict(net0.weights, net0.biases)
    contenders = {"numpy": lambda: numpy_predict(X)}
    for name in _fastnn_backends():
        net = fastnn.Network(sizes, activation="relu", backend=name, seed=0)
        contenders[name] = lambda net=net: net.forward(X)
    torch = _torch()
    if torch is not None:
        torch_predict = _torch_predict(torch, net0)
        contenders["torch"] = lambda: torch_predict(X)
    onnx_predict = _onnx_predict(net0)
    if onnx_predict is not None:
        contenders["onnxruntime"] = lambda: onnx_predict(X)
    return contenders


def _predict_flops(sizes, rows):
    return float(rows * sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:])))


def _predict_case(sizes):
    """One sample through the network, as a server answers one request."""
    def setup():
        X, _ = _classification_data(sizes, 1)
        return _inference_contenders(sizes, X)

    return Case("predict", "-".join(map(str, sizes)) + " one sample", _predict_flops(sizes, 1),
                setup, samples=1)


def _batch_predict_case(sizes, rows):
    """Many rows at once (scoring a dataset): against the GEMM ceiling."""
    def setup():
        X, _ = _classification_data(sizes, rows)
        return _inference_contenders(sizes, X)

    return Case("predict", "-".join(map(str, sizes)) + f" {rows} rows",
                _predict_flops(sizes, rows), setup, samples=rows)


def _predict_proba_case(sizes):
    """One sample through scikit-learn's fitted MLPClassifier, and through the same model
    imported into fastnn (``from_sklearn``) and exported to onnxruntime: serving a model
    trained with scikit-learn. The baseline is scikit-learn."""
    def setup():
        from sklearn.neural_network import MLPClassifier as SkMLP

        from .sklearn import MLPClassifier

        X, y = _classification_data(sizes, 200)
        sk = SkMLP(hidden_layer_sizes=tuple(sizes[1:-1]), max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached
            sk.fit(X, y)  # float32 in: float32 weights
        row = X[:1].copy()
        contenders = {"sklearn": lambda: sk.predict_proba(row)}
        for name in _fastnn_backends():
            est = MLPClassifier.from_sklearn(sk, backend=name)
            contenders[name] = lambda est=est: est.predict_proba(row)
        onnx_predict = _onnx_predict(MLPClassifier.from_sklearn(sk))
        if onnx_predict is not None:
            contenders["onnxruntime"] = lambda: onnx_predict(row)
        return contenders

    return Case("predict_proba", "-".join(map(str, sizes)) + " one sample, from scikit-learn",
                _predict_flops(sizes, 1), setup, samples=1, baseline="sklearn")


# -- threads: fastnn beside other work -------------------------------------------------------------

def _cpus():
    """This process's CPUs, in order, where a child can be pinned to one of them (else None)."""
    from ._config import _cpus

    return sorted(_cpus()) if hasattr(os, "sched_setaffinity") else None


@contextlib.contextmanager
def _busy_cpu():
    """Another process keeps one CPU busy (a spinning Python loop, pinned to the last CPU)."""
    cpus = _cpus()
    pin = (lambda: os.sched_setaffinity(0, {cpus[-1]})) if cpus and len(cpus) > 1 else None
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin)
    try:
        time.sleep(1.0)  # fastnn sees other load over windows of 0.25 s
        yield
    finally:
        proc.kill()
        proc.wait()


THREADS_NET = ([784, 256, 256, 10], 128, 2048)  # sizes, batch, samples of the thread cases


def _threads_epoch_contenders(epochs=TRAIN_EPOCHS):
    """One fit of ``epochs`` epochs per call at 1, 2 and the default number of threads."""
    from ._config import num_threads

    sizes, batch_size, n = THREADS_NET
    X, y = _classification_data(sizes, n)
    contenders = {}
    for name in _fastnn_backends():
        for label, threads in (("1 thread", 1), ("default", None), ("2 threads", 2)):
            net = fastnn.Network(sizes, activation="relu", backend=name, seed=0)

            def fit(net=net, threads=threads):
                with num_threads(threads):
                    net.fit(X, y, epochs=epochs, batch_size=batch_size,
                            optimizer=fastnn.SGD(lr=0.01))

            contenders[f"{name} {label}"] = fit
    for name, fn in _sklearn_epoch(sizes, X, y, batch_size, 0.01).items():
        contenders[name] = _repeat(fn, epochs)
    return contenders


def _pinned_measure(rounds, min_time):
    """The epoch contenders timed in a child process pinned to the first CPU."""
    cpus = _cpus()
    if cpus is None:
        raise RuntimeError("pinning to one CPU needs os.sched_setaffinity (Linux)")
    code = ("import json, fastnn.bench as b; print(json.dumps(b.time_contenders("
            f"b._threads_epoch_contenders(), {rounds}, {min_time})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, {cpus[0]}), check=True)
    return json.loads(out.stdout.splitlines()[-1])


def _grid_search_contenders():
    """GridSearchCV over 4 settings x 3 folds on scaled digits, fastnn's MLPClassifier and
    scikit-learn's, at n_jobs=1 and 2 (joblib keeps its worker processes between calls)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.preprocessing import StandardScaler

    from .sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    grid = {"hidden_layer_sizes": [(64,), (128,)], "alpha": [1e-4, 1e-3]}
    contenders = {}
    for lib, cls in (("fastnn", MLPClassifier), ("sklearn", SkMLP)):
        for n_jobs in (1, 2):
            est = cls(max_iter=30, solver="sgd", learning_rate_init=0.05, random_state=0)

            def search(est=est, n_jobs=n_jobs):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # max_iter reached
                    GridSearchCV(est, grid, cv=3, n_jobs=n_jobs).fit(X, y)

            contenders[f"{lib} n_jobs={n_jobs}"] = search
    return contenders


def _threads_cases():
    sizes, _, n = THREADS_NET
    label = "-".join(map(str, sizes)) + f" batch {THREADS_NET[1]}"
    flops = _train_flops(sizes, n)
    backends = _fastnn_backends()  # fastest first: the baseline is its one-thread run
    epoch = dict(flops=flops, setup=_threads_epoch_contenders, samples=n, units=TRAIN_EPOCHS,
                 baseline=f"{backends[0]} 1 thread" if backends else "sklearn")
    cases = [Case("threads", "grid search digits n_jobs 1 / 2", None, _grid_search_contenders,
                  baseline="fastnn n_jobs=1"),
             Case("threads", label + ", one CPU busy", context=_busy_cpu, **epoch)]
    if _cpus() is not None:
        cases.append(Case("threads", label + ", pinned to one CPU", measure=_pinned_measure,
                          **epoch))
    return cases


def make_cases(quick=False, groups=None):
    """The benchmark table: every group at its sizes (fewer and smaller with ``quick``)."""
    gemm_sizes = [256, 1024] if quick else [256, 512, 1024, 2048]
    dense_shapes = [(1, 784, 256, "relu"), (32, 64, 128, "tanh"), (128, 784, 256, "relu")]
    if not quick:
        dense_shapes.append((256, 1024, 2048, "relu"))
    nets = [([2, 8, 2], 4, 1024), ([64, 128, 10], 32, 2048), ([784, 256, 256, 10], 128, 2048)]
    if not quick:
        nets = [(s, b, n * 2) for s, b, n in nets] + [([1024, 2048, 2048, 10], 256, 2048)]
    cases = [_gemm_case(n) for n in gemm_sizes]
    cases += [_dense_forward_case(*s) for s in dense_shapes]
    cases += [_dense_backward_case(m, k, n) for m, k, n, _ in dense_shapes]
    cases += [_sgd_case(784, 256)]
    cases += [_train_case(*net) for net in nets]
    serving = ([64, 128, 10], [784, 256, 256, 10])
    cases += [_predict_case(s) for s in serving]
    cases += [_batch_predict_case(serving[1], 20_000 if quick else 100_000)]
    cases += [_predict_proba_case(s) for s in serving]
    cases += _threads_cases()
    if groups:
        cases = [c for c in cases if c.group in groups]
    return cases


# -- timing ----------------------------------------------------------------------------------------

def _batch_time(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


PAUSE = float(os.environ.get("FASTNN_BENCH_PAUSE", "0.25"))


def time_contenders(contenders, rounds=7, min_time=0.02, pause=PAUSE):
    """Median seconds per call of each contender, measured interleaved in one run.

    ``pause`` seconds between contenders let the previous one's thread pool go quiet before the
    next is timed: OpenBLAS's threads spin for 0.1-0.2 s after each call. Measured on 2 cores,
    fastnn's 2-thread 1024^3 GEMM ran at 200-220 GFLOP/s alone, 75-115 GFLOP/s within 0.1 s
    after a NumPy matmul, 190-240 GFLOP/s 0.2 s after it (FASTNN_BENCH_PAUSE overrides it)."""
    numbers = {}
    for name, fn in contenders.items():
        fn()  # warm-up: compilation, caches, lazy allocation
        number, t = 1, _batch_time(fn, 1)
        while t * number < min_time and number < 1_000_000:
            number = max(number * 2, int(min_time / max(t, 1e-9) * 1.2))
            t = _batch_time(fn, number)
        numbers[name] = number
    samples = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order
            time.sleep(pause)
            samples[name].append(_batch_time(contenders[name], numbers[name]))
    return {name: statistics.median(ts) for name, ts in samples.items()}


def measure_ceiling(n=1024, rounds=5):
    """The machine's float32 GEMM ceiling in GFLOP/s: the best of NumPy's BLAS and fastnn's."""
    times = time_contenders(_gemm_case(n).setup(), rounds=rounds, min_time=0.05)
    best = min(t for name, t in times.items() if name in ("numpy", "cython"))
    return 2.0 * n**3 / best / 1e9


def run(cases, rounds=7, min_time=0.02, progress=True):
    """Time every case; fills ``case.results`` with {contender: seconds per call}."""
    for i, case in enumerate(cases, 1):
        if progress:
            print(f"\r[{i}/{len(cases)}] {case.group} {case.label} ...".ljust(70), end="",
                  file=sys.stderr, flush=True)
        case.results = {name: t / case.units
                        for name, t in case.time(rounds, min_time).items()}
    if progress:
        print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)
    return cases


def machine_info():
    """The machine and the libraries a result depends on."""
    info = {"cpu": platform.processor() or platform.machine(), "threads": fastnn.get_num_threads()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    config = fastnn.config_info()
    info["simd"] = config.get("simd", "-")
    info["openmp"] = config.get("openmp", False)
    info["blas"] = "; ".join(config.get("blas", []))
    info["cores"] = os.cpu_count()
    versions = {"fastnn": fastnn.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    for mod in ("numba", "torch", "sklearn"):
        if mod in sys.modules:
            versions[mod] = sys.modules[mod].__version__
    info["versions"] = versions
    return info


def records(cases, ceiling):
    rows = []
    for case in cases:
        base = case.results.get(case.baseline)
        for name, t in case.results.items():
            gflops = case.flops / t / 1e9 if case.flops else None
            rows.append({
                "group": case.group, "case": case.label, "contender": name, "seconds": t,
                "gflops": gflops, "ceiling_fraction": gflops / ceiling if gflops else None,
                "baseline": case.baseline, "speedup": base / t if base else None,
                "samples_per_s": case.samples / t if case.samples else None,
            })
    return rows


def _fmt_time(t):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def format_table(rows, ceiling):
    """A Markdown table: one line per case and contender."""
    lines = [f"GEMM ceiling (float32, best of BLAS and fastnn): {ceiling:.1f} GFLOP/s", "",
             "| group | case | contender | time | GFLOP/s | % ceiling | vs base |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
        rate = f"{r['gflops']:.2f} | {100 * r['ceiling_fraction']:.0f}%" if r["gflops"] else "- | -"
        lines.append(f"| {r['group']} | {r['case']} | {r['contender']} | {_fmt_time(r['seconds'])}"
                     f" | {rate} | {ratio} |")
    return "\n".join(lines)


def plot(rows, path):
    """Bar chart of each contender's speedup over its case's baseline (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys((r["group"], r["case"]) for r in rows))
    names = [n for n in dict.fromkeys(r["contender"] for r in rows) if n != "numpy"]
    fig, ax = plt.subplots(figsize=(max(8, len(cases) * 0.8), 5))
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        xs, ys = [], []
        for i, key in enumerate(cases):
            for r in rows:
                if (r["group"], r["case"]) == key and r["contender"] == name and r["speedup"]:
                    xs.append(i + j * width)
                    ys.append(r["speedup"])
        ax.bar(xs, ys, width, label=name)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cases))])
    ax.set_xticklabels([f"{g}\n{c}" for g, c in cases], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("speedup over the baseline (higher is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(quick=False, json_path=None, plot_path=None, groups=None, threads=None):
    """``fastnn bench``: run the table, print it, optionally save JSON and a plot."""
    if threads:
        fastnn.set_num_threads(threads)
    rounds, min_time = (3, 0.01) if quick else (7, 0.03)
    start = time.perf_counter()
    info = machine_info()  # before the threads group's other load
    ceiling = measure_ceiling(1024, rounds=3 if quick else 5)
    cases = run(make_cases(quick, groups), rounds, min_time)
    rows = records(cases, ceiling)
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['threads']} threads, "
          f"SIMD {info['simd']}, OpenMP {'on' if info['openmp'] else 'off'}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"BLAS: {info['blas']}")
    print(format_table(rows, ceiling))
    print(f"\n({time.perf_counter() - start:.0f} s; medians of {rounds} interleaved rounds; "
          "'vs base' = the baseline's time / contender time; the baseline is numpy, in the threads "
          "group n_jobs=1 or 1 thread)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"machine": info, "ceiling_gflops": ceiling, "results": rows}, f, indent=1)
    if plot_path:
        plot(rows, plot_path)
    return rows
