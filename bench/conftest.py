"""The benchmark suite: ``pytest bench`` (JSON with ``--benchmark-json FILE``).

Not part of the default test run (``testpaths`` is ``tests``). ``FASTNN_BENCH_QUICK=1`` uses the
quick sizes; CI runs every benchmark once with ``pytest bench --benchmark-disable``.
"""
