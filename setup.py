"""Build of the compiled extension ``fastnn._ckernels``: src/fastnn/_ckernels.pyx + csrc/*.c.

The package lives under ``src/`` so that Python started in a clone imports the installed, compiled
fastnn and never the source tree (which has no extension until it is built).

OpenMP is used when the compiler can build and link a tiny OpenMP program (``FASTNN_USE_OPENMP=0``
builds without it). The shipped build never uses ``-march=native``: the SIMD micro-kernels carry
their own target attributes and are chosen at run time from what the CPU reports.
``FASTNN_SANITIZE=1`` builds with AddressSanitizer and UndefinedBehaviorSanitizer.
"""

import os
import shlex
import shutil
import sys
import tempfile
from glob import glob

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 && omp_get_max_threads() > 0 ? 0 : 1;
}
"""


def openmp_flags(compiler):
    """(compile flags, link flags) for OpenMP, or None when the compiler cannot do it."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        # the probe is compiled and linked as an executable, which setuptools does without the
        # environment's CPPFLAGS and LDFLAGS: pass them, or Homebrew's libomp (-I, -L) is missed
        cppflags = shlex.split(os.environ.get("CPPFLAGS", ""))
        ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_preargs=cppflags,
                                        extra_postargs=cflags)
                compiler.link_executable(objs, "probe", output_dir=tmp,
                                         extra_postargs=ldflags + lflags)
                return cflags, lflags
            except Exception:  # the compiler said no: try the next spelling, or go without
                continue
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        # -std=c99 turns off the contraction of a * b + c into a fused multiply-add, which
        # the baseline of AArch64 (and the SIMD units' targets) has: -ffp-contract=fast turns
        # it back on. -fno-trapping-math lets gcc compute both sides of an activation's
        # selects (tanh's clamp and division, sigmoid's branches) so that their loops vectorise
        # without masked instructions (SSE2, AVX2, NEON); fastnn never enables FP traps
        cflags = ["/O2"] if msvc else ["-O3", "-std=c99", "-ffp-contract=fast", "-fno-math-errno",
                                       "-fno-trapping-math"]
        lflags = []
        use_openmp = os.environ.get("FASTNN_USE_OPENMP", "1") != "0"
        flags = openmp_flags(self.compiler) if use_openmp else None
        if flags:
            cflags += flags[0]
            lflags += flags[1]
        if os.environ.get("FASTNN_SANITIZE", "0") == "1" and not msvc:
            san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
            cflags += san
            lflags += san
        print(f"fastnn: OpenMP {'on' if flags else 'off'}; flags {' '.join(cflags)}")
        for ext in self.extensions:
            ext.extra_compile_args = cflags
            ext.extra_link_args = lflags
        super().build_extensions()


sources = ["src/fastnn/_ckernels.pyx"] + sorted(
    path for path in glob("csrc/*.c") if ".template." not in os.path.basename(path)
)

extension = Extension(
    "fastnn._ckernels",
    sources=sources,
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    depends=glob("csrc/*.h") + glob("csrc/*.template.c") + glob("src/fastnn/*.pxd"),
    libraries=[] if sys.platform == "win32" else ["m"],
)

setup(
    ext_modules=cythonize(
        [extension],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    ),
    cmdclass={"build_ext": BuildExt},
)
