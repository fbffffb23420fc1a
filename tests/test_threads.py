"""Thread counts: what the process was given, per-call settings, concurrent calls, other load.

These check the numbers fastnn chooses and that the results do not depend on them; how fast the
choices are is measured by ``fastnn bench --group threads``.
"""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn import _config

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

COMPILED = "cython" in fastnn.available_backends()
OPENMP = COMPILED and fastnn.config_info()["openmp"]
LINUX = hasattr(os, "sched_getaffinity")


def _child(code, env=None, affinity=None):
    """Run ``code`` in a new interpreter (its environment plus ``env``); returns its stdout."""
    full = {**os.environ, **(env or {})}
    preexec = (lambda: os.sched_setaffinity(0, affinity)) if affinity else None
    out = subprocess.run([sys.executable, "-c", code], env=full, preexec_fn=preexec,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- what the process was given ------------------------------------------------------------------


@pytest.mark.parametrize("var", ["OMP_NUM_THREADS", "NUMBA_NUM_THREADS"])
def test_an_environment_limit_is_the_default_and_info_names_it(var):
    out = _child("import fastnn; print(fastnn.get_num_threads()); fastnn.show_config()",
                 {var: "1"})
    lines = out.splitlines()
    assert lines[0] == "1"
    info = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert info["threads"] == "1"
    assert var.split("_")[0].lower() in info["threads_from"].lower(), info["threads_from"]


@pytest.mark.skipif(not LINUX or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_the_affinity_mask_is_the_default():
    cpu = min(os.sched_getaffinity(0))
    out = _child("import fastnn; i = fastnn._config.thread_info(); "
                 "print(fastnn.get_num_threads(), i['limits']['CPU affinity'])",
                 affinity={cpu})
    assert out.split() == ["1", "1"]


@pytest.mark.skipif(not OPENMP, reason="needs the C kernels built with OpenMP")
def test_threadpoolctl_limits_fastnn_at_call_time(monkeypatch):
    from threadpoolctl import threadpool_limits

    from fastnn import _ckernels

    seen = []
    real = _ckernels.train_epoch

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(_ckernels, "train_epoch", spy)
    X = np.random.default_rng(0).standard_normal((64, 5))
    y = (X[:, 0] > 0).astype(int)
    net = fastnn.Network([5, 8, 2], backend="cython", seed=0)
    with threadpool_limits(limits=1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
        net.fit(X, y, epochs=1)
    net.fit(X, y, epochs=1)
    assert seen[0] == 1
    assert seen[1] == min(_config._process_limits().values())


def test_explicit_settings_override_the_limits_and_none_returns_to_them():
    default = fastnn.get_num_threads()
    fastnn.set_num_threads(default + 2)
    assert fastnn.get_num_threads() == default + 2
    assert _config.thread_info()["source"] == "fastnn.set_num_threads"
    with _config.num_threads(1):
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == default + 2
    fastnn.set_num_threads(None)
    assert fastnn.get_num_threads() == default
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        fastnn.set_num_threads(0)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cgroup_quota(tmp_path, version):
    """The quota of the process's cgroup or of an ancestor, whichever is smaller; none when
    every level says 'max' or -1."""
    proc = tmp_path / "cgroup"
    if version == "v2":
        proc.write_text("0::/outer/inner\n")
        (tmp_path / "outer" / "inner").mkdir(parents=True)
        (tmp_path / "cpu.max").write_text("max 100000\n")
        (tmp_path / "outer" / "cpu.max").write_text("150000 100000\n")
        (tmp_path / "outer" / "inner" / "cpu.max").write_text("max 100000\n")
        assert _config.cgroup_cpu_quota(str(tmp_path), str(proc)) == 1.5
        (tmp_path / "outer" / "cpu.max").write_text("max 100000\n")
    else:
        proc.write_text("4:memory:/x\n3:cpu,cpuacct:/job\n")
        (tmp_path / "cpu,cpuacct" / "job").mkdir(parents=True)
        (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("50000\n")
        (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_period_us").write_text("100000\n")
        assert _config.cgroup_cpu_quota(str(tmp_path), str(proc)) == 0.5
        (tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _config.cgroup_cpu_quota(str(tmp_path), str(proc)) is None
    assert _config.cgroup_cpu_quota(str(tmp_path), str(tmp_path / "missing")) is None


def test_a_quota_below_one_cpu_still_gives_one_thread(monkeypatch):
    monkeypatch.setattr(_config, "cgroup_cpu_quota", lambda: 0.5)
    monkeypatch.setattr(_config, "_limits_at", -np.inf)
    info = _config.thread_info()
    assert info["limits"]["cgroup CPU quota"] == 1
    assert fastnn.get_num_threads() == 1
    monkeypatch.undo()
    _config._limits_at = -np.inf  # read the real limits again


def test_the_load_of_other_processes(tmp_path, monkeypatch):
    """Busy ticks of the process's CPUs less its own CPU time, over the time between samples."""
    stat = tmp_path / "stat"
    load = _config._OtherLoad()
    load.stat = str(stat)

    def sample(busy0, busy1, idle):
        stat.write_text(f"cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 {busy0} 0 0 {idle} 0 0 0 0 0 0\n"
                        f"cpu1 {busy1} 0 0 {idle} 0 0 0 0 0 0\ncpu2 999999 0 0 0 0 0 0 0 0 0\n")

    clock = iter([10.0, 11.0])
    cpu = iter([5.0, 5.0])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(time, "process_time", lambda: next(cpu))
    sample(0, 0, 0)
    assert load.update(frozenset({0, 1})) == 0.0  # one sample: nothing known yet
    sample(load.TICK, 0, 0)  # CPU 0 busy for the whole second, by another process
    assert load.update(frozenset({0, 1})) == pytest.approx(1.0)
    assert _config._busy_ticks(frozenset({5}), str(stat)) == 0
    assert _config._busy_ticks(frozenset({0}), str(tmp_path / "missing")) is None


@pytest.mark.skipif(len(_config._cpus()) < 2, reason="needs 2 CPUs")
def test_other_load_lowers_the_default_but_not_the_cpu_budget(monkeypatch):
    """A busy neighbour makes the default team smaller; the CPU budget (what an explicit count
    is clamped to for BLAS) stays what affinity and quota give, so it does not vary run to run."""
    cpus = _config._cpus()
    monkeypatch.setattr(_config._other_load, "update", lambda cpus: len(cpus) - 0.9)
    monkeypatch.setattr(_config, "_limits_at", -np.inf)
    assert fastnn.get_num_threads() == 1
    assert _config.thread_info()["source"] == "CPUs other processes leave free"
    assert _config.cpu_budget() == min(len(cpus), _config._process_limits().get(
        "cgroup CPU quota", len(cpus)))
    monkeypatch.undo()
    _config._limits_at = -np.inf


@pytest.mark.skipif(not LINUX or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_a_cpu_kept_busy_by_another_process_is_not_used():
    cpus = sorted(os.sched_getaffinity(0))[:2]
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                               preexec_fn=lambda: os.sched_setaffinity(0, {cpus[1]}))
    try:
        out = _child("import time, fastnn\n"
                     "for _ in range(40):\n"
                     "    time.sleep(0.1)\n"
                     "    if fastnn.get_num_threads() == 1: break\n"
                     "print(fastnn.get_num_threads(), fastnn._config.thread_info()['source'])",
                     affinity=set(cpus))
    finally:
        spinner.kill()
        spinner.wait()
    assert out.split()[0] == "1", out
    assert "other processes" in out


# -- per call, and calls at the same time ----------------------------------------------------------


def test_num_threads_holds_for_its_own_thread_only():
    barrier = threading.Barrier(2)
    seen = {}

    def work(n):
        with _config.num_threads(n):
            barrier.wait()  # both settings are in force now
            seen[n] = fastnn.get_num_threads()
            barrier.wait()

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {1: 1, 3: 3}
    assert _config._local.get() is None


@pytest.mark.skipif(not COMPILED, reason="needs the C kernels")
def test_two_estimators_fitted_at_once_keep_their_own_n_threads(monkeypatch):
    from fastnn import _ckernels
    from fastnn.sklearn import MLPClassifier

    seen = {}
    barrier = threading.Barrier(2, timeout=60)
    real = _ckernels.train_epoch

    def spy(*args):
        seen.setdefault(threading.current_thread().name, set()).add(args[-1])
        return real(*args)

    monkeypatch.setattr(_ckernels, "train_epoch", spy)
    X = np.random.default_rng(0).standard_normal((200, 8))
    y = (X[:, 0] > 0).astype(int)

    def fit(n):
        barrier.wait()
        MLPClassifier((16,), max_iter=20, backend="cython", n_threads=n,
                      random_state=0).fit(X, y)

    threads = [threading.Thread(target=fit, args=(n,), name=f"n{n}") for n in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"n1": {1}, "n3": {3}}


@pytest.mark.skipif(not OPENMP, reason="needs the C kernels built with OpenMP")
def test_calls_at_the_same_time_share_the_cpus():
    """While one call runs, a second one gets half the CPU budget (at least 1 thread), whatever
    it asked for; alone again, what it asked for."""
    from fastnn import _ckernels

    budget = min(_config._process_limits().values())
    n = 400
    A = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(A)
    running = threading.Event()
    stop = threading.Event()

    def long_call():
        running.set()
        while not stop.is_set():
            _ckernels.gemm(A, A, out, 1)

    worker = threading.Thread(target=long_call)
    worker.start()
    try:
        running.wait()
        shared, deadline = [], time.monotonic() + 10
        while len(shared) < 20 and time.monotonic() < deadline:
            if _ckernels.calls_active() >= 1:  # (the worker is between two calls at times)
                shared.append(_ckernels.team(8))
        assert shared and min(shared) == max(1, budget // 2)
    finally:
        stop.set()
        worker.join()
    assert _ckernels.calls_active() == 0
    assert _ckernels.team(8) == 8


def test_joblib_threads_train_as_serial_runs(backend):
    from joblib import Parallel, delayed

    X = np.random.default_rng(1).standard_normal((120, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)

    def train(seed):
        net = fastnn.Network([6, 24, 2], backend=backend, seed=seed)
        net.fit(X, y, epochs=3, batch_size=16)
        return [p.copy() for p in net.weights + net.biases]

    serial = [train(s) for s in range(4)]
    parallel = Parallel(n_jobs=2, backend="threading")(delayed(train)(s) for s in range(4))
    for got, want in zip(parallel, serial):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not LINUX or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_loky_workers_run_one_thread_each():
    """joblib's process workers get OMP_NUM_THREADS etc. = CPUs / n_jobs: fastnn keeps to it."""
    from joblib import Parallel, delayed

    n_jobs = len(os.sched_getaffinity(0))
    counts = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(fastnn.get_num_threads)() for _ in range(2 * n_jobs))
    assert counts == [1] * (2 * n_jobs)


@pytest.mark.skipif(not COMPILED, reason="needs the C kernels")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_c_epoch_gives_the_same_weights_on_any_number_of_threads(dtype):
    X = np.random.default_rng(2).standard_normal((300, 70))
    y = np.argmax(X[:, :4], axis=1)
    results = []
    for n in (1, 2, 3):
        with _config.num_threads(n):
            net = fastnn.Network([70, 300, 4], dtype=dtype, backend="cython", seed=1)
            net.fit(X, y, epochs=2, batch_size=150, optimizer=fastnn.SGD(0.05, momentum=0.9))
            results.append([p.copy() for p in net.weights + net.biases] + [net.forward(X)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
