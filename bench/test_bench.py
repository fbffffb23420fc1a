"""pytest-benchmark over the cases of ``fastnn.bench``: group = operation and size, one test
per contender, so each group's table sets fastnn beside NumPy (and the peers) in one run."""

import os

import pytest

from fastnn.bench import make_cases

QUICK = os.environ.get("FASTNN_BENCH_QUICK") == "1"
PARAMS = []
for case in make_cases(quick=QUICK):
    contenders = case.setup()
    for name in contenders:
        PARAMS.append(pytest.param(case, name, id=f"{case.group}-{case.label}-{name}"))


@pytest.mark.parametrize("case,contender", PARAMS)
def test_bench(benchmark, case, contender):
    benchmark.group = f"{case.group} {case.label}"
    benchmark.extra_info.update(flops=case.flops, samples=case.samples)
    fn = case.setup()[contender]
    fn()  # warm-up outside the timings
    benchmark(fn)
