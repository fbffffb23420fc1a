"""pytest-benchmark over the cases of ``fastnn.bench``: group = operation and size, one test
per contender, so each group's table sets fastnn beside NumPy (and the peers) in one run. A case
measured in a child process (pinned to one CPU) is one test, its contenders' times in
``extra_info``."""

import os

import pytest

from fastnn.bench import make_cases

QUICK = os.environ.get("FASTNN_BENCH_QUICK") == "1"
PARAMS = []
for case in make_cases(quick=QUICK):
    names = ["all contenders"] if case.measure else list(case.setup())
    for name in names:
        PARAMS.append(pytest.param(case, name, id=f"{case.group}-{case.label}-{name}"))


@pytest.mark.parametrize("case,contender", PARAMS)
def test_bench(benchmark, case, contender):
    benchmark.group = f"{case.group} {case.label}"
    benchmark.extra_info.update(flops=case.flops, samples=case.samples)
    with case.context():
        if case.measure:
            seconds = benchmark.pedantic(case.measure, args=(1, 0.0), rounds=1, iterations=1)
            benchmark.extra_info["seconds_per_call"] = seconds
            return
        fn = case.setup()[contender]
        fn()  # warm-up outside the timings
        benchmark(fn)
