"""An installed fastnn was built as its wheel should be: with OpenMP, and with the SIMD kernels
of its architecture (AVX2 and AVX-512 on x86-64, NEON on AArch64). cibuildwheel runs it before
the test suite on every platform; a wheel built without them would pass the tests, only slowly."""

import platform
import sys

import fastnn

EXPECTED = {"x86_64": {"avx2", "avx512"}, "amd64": {"avx2", "avx512"},
            "aarch64": {"neon"}, "arm64": {"neon"}}

info = fastnn.config_info()
machine = platform.machine().lower()
problems = []
if info.get("openmp") is not True:
    problems.append("built without OpenMP")
missing = EXPECTED.get(machine, set()) - set(info.get("simd_compiled", ()))
if missing:
    problems.append(f"no {', '.join(sorted(missing))} kernels")
print(f"fastnn on {machine}: openmp {info.get('openmp')}, simd {info.get('simd')}, "
      f"compiled {info.get('simd_compiled')}, cpu {info.get('cpu_simd')}")
if problems:
    sys.exit("check_wheel: " + "; ".join(problems))
