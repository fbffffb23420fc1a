"""Run-time configuration: how many threads fastnn's kernels use, and ``show_config``.

Design
------
A call's team is, first match wins:

1. ``num_threads(n)`` around the call (what the estimators' ``n_threads`` uses): a context
   variable, so it holds for the calls of the Python thread (or task) that set it and for no
   other; two estimators fitted at the same time from two threads each keep their own;
2. ``set_num_threads(n)``: for the whole process (and it limits the BLAS libraries too);
3. otherwise what the process was given, the smallest of: the CPUs of its affinity mask, the
   cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``, rounded down:
   a team larger than the quota is throttled for the rest of each period while its partners wait
   at the next barrier), OpenMP's setting as the calling thread sees it at call time
   (``omp_get_max_threads()``: ``OMP_NUM_THREADS``, or a ``threadpoolctl.threadpool_limits``
   around the call), ``NUMBA_NUM_THREADS`` (Numba's pool), and the CPUs that other processes
   leave free. fastnn never calls ``omp_set_num_threads`` and so never overrides those limits.

The last one is what OpenMP's ``OMP_DYNAMIC`` does with the load average, measured over a
quarter of a second instead of a minute: a fork-join team with one thread on a CPU that another
process also wants waits at every barrier for that thread's next time slice, and is slower than
one thread (``fastnn bench --group threads`` measures it). Two fastnn processes (Dask or loky
workers without thread limits) each see the other and settle on one thread each.

The affinity mask, the quota and the load are read again at most every ``_REFRESH_SECONDS``
(a system call and a few file reads cost more than a small kernel). Their minimum, the process's
CPU budget, is handed to the C kernels, where calls running at the same time share it
(``csrc/threads.c``). ``thread_info()`` tells where the number came from; ``fastnn info`` prints
it.
"""

import contextlib
import contextvars
import math
import os
import platform
import sys
import threading
import time

from ._validation import check_positive_int

try:
    # loaded with fastnn, not on first use: its OpenMP runtime must be there for threadpoolctl to
    # find when a caller limits threads around a fastnn call
    from . import _ckernels
except ImportError:  # not built: the NumPy and Numba backends only
    _ckernels = None

_global = None  # set_num_threads
_local = contextvars.ContextVar("fastnn_num_threads", default=None)  # num_threads(n)

_REFRESH_SECONDS = 0.25
_limits_lock = threading.Lock()
_limits_at = -math.inf
_limits = {}
_budget = 1  # min(_limits.values())
_LOAD = "CPUs other processes leave free"  # the one limit that follows other processes' load


def _env_threads(name):
    value = os.environ.get(name, "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


# read once, as OpenMP and Numba read them when they start
_OMP_ENV = _env_threads("OMP_NUM_THREADS")
_NUMBA_ENV = _env_threads("NUMBA_NUM_THREADS")
_OPENMP = _ckernels is not None and _ckernels.OPENMP


def _cpus():
    """The CPUs this process may run on (its affinity mask)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return frozenset(range(os.cpu_count() or 1))


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cgroup_cpu_quota(root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """The CPU quota of this process's cgroup and its ancestors, in CPUs (``None``: no quota).

    cgroup v2: ``cpu.max`` ("max 100000" or "QUOTA PERIOD") along the path of the unified
    hierarchy; cgroup v1: ``cpu.cfs_quota_us`` (-1: none) / ``cpu.cfs_period_us`` of the ``cpu``
    controller's path (mounted at ``root/cpu`` or ``root/cpu,cpuacct``). In a container the
    process's own cgroup is the root of what it sees, which these paths also cover.
    """
    lines = (_read(proc_cgroup) or "").splitlines()
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.strip("/")
        names = controllers.split(",")
        if controllers == "":  # v2: every cgroup from this one up to the root
            dirs, d = [], path
            while True:
                dirs.append(os.path.join(root, d) if d else root)
                if not d:
                    break
                d = os.path.dirname(d)
            for d in dirs:
                fields = (_read(os.path.join(d, "cpu.max")) or "").split()
                if len(fields) == 2 and fields[0] != "max":
                    quotas.append(_ratio(*fields))
        elif "cpu" in names:  # v1
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                base = os.path.join(root, mount)
                if not os.path.isdir(base):
                    continue
                for d in {os.path.join(base, path), base}:
                    quota, period = (_read(os.path.join(d, f"cpu.cfs_{x}_us"))
                                     for x in ("quota", "period"))
                    if quota and period and not quota.startswith("-"):  # -1: no quota
                        quotas.append(_ratio(quota, period))
                break
    quotas = [q for q in quotas if q is not None]
    return min(quotas) if quotas else None


def _ratio(quota, period):
    """quota / period in CPUs, or None for what is not two positive numbers."""
    try:
        quota, period = float(quota), float(period)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _busy_ticks(cpus, stat="/proc/stat"):
    """Clock ticks the CPUs ``cpus`` have spent busy (all but idle and iowait), or ``None``."""
    text = _read(stat)
    if text is None:
        return None
    busy = 0
    for line in text.splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *fields = line.split()
            if int(name[3:]) in cpus:
                # user nice system idle iowait irq softirq steal
                ticks = [int(v) for v in fields[:8]]
                busy += sum(ticks) - ticks[3] - ticks[4]
    return busy


class _OtherLoad:
    """How many of this process's CPUs other processes keep busy, measured over the time between
    two samples: the busy time of those CPUs (/proc/stat, which counts the hypervisor's steal
    too) less this process's own CPU time. Linux only; elsewhere, and before two samples, 0."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    LONGEST = 5.0  # s: an older sample says too little of now, and starts a new window
    stat = "/proc/stat"

    def __init__(self):
        self.cpus = None
        self.sample = None  # (monotonic time, busy ticks, this process's CPU seconds)
        self.others = 0.0

    def update(self, cpus):
        busy = _busy_ticks(cpus, self.stat)
        if busy is None:
            return 0.0
        now = (time.monotonic(), busy, time.process_time())
        last, self.sample = self.sample, now
        if last is not None and cpus == self.cpus and now[0] - last[0] <= self.LONGEST:
            elapsed = now[0] - last[0]
            if elapsed > 0:
                others = ((now[1] - last[1]) / self.TICK - (now[2] - last[2])) / elapsed
                self.others = min(max(others, 0.0), float(len(cpus)))
        self.cpus = cpus
        return self.others


_other_load = _OtherLoad()


def _process_limits():
    """{name: CPUs} for the affinity mask, the cgroup quota and the CPUs other processes leave
    free, read again at most every _REFRESH_SECONDS."""
    global _limits, _limits_at, _budget
    now = time.monotonic()
    if now - _limits_at < _REFRESH_SECONDS:
        return _limits
    with _limits_lock:
        if now - _limits_at >= _REFRESH_SECONDS:
            cpus = _cpus()
            limits = {"CPU affinity": len(cpus)}
            quota = cgroup_cpu_quota()
            if quota is not None:
                limits["cgroup CPU quota"] = max(1, int(quota))
            # a CPU counts as taken when other processes keep it busy more than half the time
            free = max(1, math.floor(len(cpus) - _other_load.update(cpus) + 0.5))
            if free < len(cpus):
                limits[_LOAD] = free
            _budget = min(limits.values())
            if _ckernels is not None:
                _ckernels.set_cpu_budget(_budget)
            _limits, _limits_at = limits, now
    return _limits


def _runtime_limits():
    """{name: threads} for the OpenMP and Numba settings in force in the calling thread."""
    limits = {}
    if _OPENMP:
        name = f"OpenMP (OMP_NUM_THREADS={_OMP_ENV})" if _OMP_ENV else "OpenMP"
        limits[name] = _ckernels.omp_max_threads()
    elif _OMP_ENV:
        limits["OMP_NUM_THREADS"] = _OMP_ENV
    numba = sys.modules.get("numba")
    if numba is not None:
        limits["NUMBA_NUM_THREADS"] = numba.config.NUMBA_NUM_THREADS
    elif _NUMBA_ENV:
        limits["NUMBA_NUM_THREADS"] = _NUMBA_ENV
    return limits


def thread_info():
    """How many threads a fastnn call from this thread uses now, and why.

    ``{"threads": n, "source": what decided it, "limits": {name: value}}``; ``limits`` lists
    what the process was given (affinity, quota, OpenMP, Numba) even when an explicit setting
    decided.
    """
    limits = {**_process_limits(), **_runtime_limits()}
    local = _local.get()
    if local is not None:
        return {"threads": local, "source": "num_threads() / n_threads of the caller",
                "limits": limits}
    if _global is not None:
        return {"threads": _global, "source": "fastnn.set_num_threads", "limits": limits}
    n = min(limits.values())
    source = " and ".join(name for name, value in limits.items() if value == n)
    return {"threads": n, "source": source, "limits": limits}


def get_num_threads():
    """The number of threads fastnn's kernels use when called from this thread now.

    An explicit setting (``num_threads``, the estimators' ``n_threads``, ``set_num_threads``), or
    else what the process was given: its CPU affinity, cgroup CPU quota, the OpenMP and Numba
    limits in force (``OMP_NUM_THREADS``, ``threadpoolctl``, ``NUMBA_NUM_THREADS``) and the CPUs
    other processes leave free.
    """
    local = _local.get()
    if local is not None:
        return local
    if _global is not None:
        return _global
    # the fast path of thread_info (this runs before every kernel call)
    if time.monotonic() - _limits_at >= _REFRESH_SECONDS:
        _process_limits()
    n = _budget
    if _OPENMP:
        n = min(n, _ckernels.omp_max_threads())
    elif _OMP_ENV:
        n = min(n, _OMP_ENV)
    numba = sys.modules.get("numba")
    limit = numba.config.NUMBA_NUM_THREADS if numba is not None else _NUMBA_ENV
    return min(n, limit) if limit else n


def cpu_budget():
    """The CPUs this process may use: its affinity mask and cgroup quota. Unlike the default team
    it does not follow the load of other processes, so a limit made from it (BLAS threads under an
    explicit setting) is the same from one run to the next."""
    return min(v for k, v in _process_limits().items() if k != _LOAD)


_global_blas = None  # threadpoolctl's record of the BLAS limits before set_num_threads


def set_num_threads(n):
    """Use ``n`` threads in the C (OpenMP) and Numba kernels and in BLAS, process-wide.

    An explicit choice: it overrides the limits the process was given; ``None`` returns to them
    (and puts back the BLAS setting from before). Per-call settings (``num_threads``, the
    estimators' ``n_threads``) take precedence.
    """
    global _global, _global_blas
    from threadpoolctl import threadpool_limits

    if n is None:
        _global = None
        if _global_blas is not None:
            _global_blas.restore_original_limits()
            _global_blas = None
        return
    n = check_positive_int(n, "n_threads")
    _global = n
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    limits = threadpool_limits(limits=n, user_api="blas")
    if _global_blas is None:
        _global_blas = limits


@contextlib.contextmanager
def num_threads(n):
    """Within the block, this thread's (or task's) fastnn calls use ``n`` threads.

    ``None`` leaves the setting alone. Other Python threads are not affected, and neither are
    the BLAS libraries, whose setting is process-wide (see ``blas_threads``).
    """
    if n is None:
        yield
        return
    token = _local.set(check_positive_int(n, "n_threads"))
    try:
        yield
    finally:
        _local.reset(token)


_blas_lock = threading.Lock()
_blas_users = {}  # a token per block running now -> the threads it asked for
_blas_saved = None  # (controller, the limits before the first block)


@contextlib.contextmanager
def blas_threads(n):
    """Within the block, the BLAS libraries use at most ``n`` threads (``None``: no change).

    For the backends whose products run in BLAS (numpy, numba). BLAS libraries have one setting
    for the whole process, so blocks that overlap in time share it: while any runs, BLAS uses the
    smallest ``n`` of those running, and the last to end puts back the setting from before the
    first, whatever order they end in.
    """
    global _blas_saved
    if n is None:
        yield
        return
    key = object()
    with _blas_lock:
        if not _blas_users:
            controller = _blas_controller()
            _blas_saved = (controller, {id(lib): lib.get_num_threads()
                                        for lib in controller.lib_controllers})
        _blas_users[key] = n
        _apply_blas(min(_blas_users.values()))
    try:
        yield
    finally:
        with _blas_lock:
            del _blas_users[key]
            controller, saved = _blas_saved
            if _blas_users:
                _apply_blas(min(_blas_users.values()))
            else:
                for lib in controller.lib_controllers:
                    lib.set_num_threads(saved[id(lib)])
                _blas_saved = None


def _apply_blas(n):
    for lib in _blas_saved[0].lib_controllers:
        if lib.get_num_threads() != n:
            lib.set_num_threads(n)


_controller = (None, None)  # (len(sys.modules) when made, threadpoolctl's BLAS controller)


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded, made again only after an import
    (making one inspects every loaded library: milliseconds)."""
    global _controller
    if _controller[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller = (len(sys.modules), ThreadpoolController().select(user_api="blas"))
    return _controller[1]


def config_info():
    """The facts ``show_config`` prints, as a dict."""
    from . import __version__
    from .backends import available_backends, unavailable_backends

    info = {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "backends": available_backends(),
        "unavailable": unavailable_backends(),
    }
    threads = thread_info()  # after the backends: Numba's limit is known once it is loaded
    info.update({
        "threads": threads["threads"],
        "threads_from": threads["source"],
        "thread_limits": threads["limits"],
    })
    if _ckernels is not None:
        info.update(_ckernels.build_info())
    else:
        info["compiled"] = "not built"
    if "numba" in info["backends"]:
        import numba

        from . import _numba_config

        info["numba"] = f"{numba.__version__} (cache in {_numba_config.cache_dir()})"
    import numpy

    info["numpy"] = numpy.__version__
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{p['internal_api']} {p.get('version')} ({p.get('threading_layer', '?')}, "
            f"{p['num_threads']} threads, {p.get('architecture', '?')})"
            for p in threadpool_info()
            if p["user_api"] == "blas"
        ]
    except ImportError:
        pass
    return info


def show_config():
    """Print the backends, OpenMP on/off, the SIMD level in use and the thread counts."""
    for key, value in config_info().items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        print(f"{key:>14}: {value}")
