# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled extension: wrappers over the C kernels in csrc/.

In this first version it reports what the build and the CPU offer; the kernels follow.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fnn_openmp_enabled(void) { return 1; }
    static int fnn_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int fnn_openmp_enabled(void) { return 0; }
    static int fnn_omp_max_threads(void) { return 1; }
    #endif
    static int fnn_cpu_level(void) {
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return 2;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    #endif
        return 0;
    }
    """
    int fnn_openmp_enabled()
    int fnn_omp_max_threads()
    int fnn_cpu_level()

_LEVELS = ("portable", "avx2", "avx512")


def build_info():
    """OpenMP on/off and the widest SIMD level the CPU offers."""
    return {
        "openmp": bool(fnn_openmp_enabled()),
        "openmp_max_threads": fnn_omp_max_threads(),
        "cpu_simd": _LEVELS[fnn_cpu_level()],
    }
