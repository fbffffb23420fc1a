/* kernels_avx2.c -- AVX2+FMA micro-kernels (6x16 float, 6x8 double), epilogues, softmax.
 *
 * Design
 * ------
 * Same structure as kernels_avx512.c with 256-bit vectors: 12 ymm accumulators (6 rows x 2
 * vectors) + 2 for B + 1 broadcast out of 16 registers.  Used when the CPU has AVX2 and FMA
 * but not AVX-512F (or when forced with fnn_set_isa).
 */
#include "fnn_internal.h"

#ifdef FNN_HAVE_X86_KERNELS

/* the headers first: the target attribute below applies to every function declared after it */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#define FNN_USE_FMA 1

/* ---- float ---- */
#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#include "epilogue.template.c"
#define VT __m256
#define VL 8
#define V_LD(p) _mm256_loadu_ps(p)
#define V_ST(p, v) _mm256_storeu_ps((p), (v))
#define V_BC(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ZERO() _mm256_setzero_ps()
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define VM __m256i
#define V_MASK(cnt) _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_LDM(p, m) _mm256_maskload_ps((p), (m))
#define V_STM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define UK_MR 6
#define UK_NV 2
#define SM_NV 2
#define SM_NV1 4
#define SM_R 4
#define NW_R2 4
#include "ukernel_simd.template.c"
#undef VT
#undef VL
#undef V_LD
#undef V_ST
#undef V_BC
#undef V_FMA
#undef V_ZERO
#undef V_ADD
#undef VM
#undef V_MASK
#undef V_LDM
#undef V_STM
#undef UK_MR
#undef UK_NV
#undef SM_NV
#undef SM_NV1
#undef SM_R
#undef NW_R2
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

/* ---- double ---- */
#define FNN_T double
#define FNN_SUF f64
#define FNN_IS_F64 1
#include "epilogue.template.c"
#define VT __m256d
#define VL 4
#define V_LD(p) _mm256_loadu_pd(p)
#define V_ST(p, v) _mm256_storeu_pd((p), (v))
#define V_BC(x) _mm256_set1_pd(x)
#define V_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define V_ZERO() _mm256_setzero_pd()
#define V_ADD(a, b) _mm256_add_pd((a), (b))
#define VM __m256i
#define V_MASK(cnt) _mm256_cmpgt_epi64(_mm256_set1_epi64x(cnt), _mm256_setr_epi64x(0, 1, 2, 3))
#define V_LDM(p, m) _mm256_maskload_pd((p), (m))
#define V_STM(p, m, v) _mm256_maskstore_pd((p), (m), (v))
#define UK_MR 6
#define UK_NV 2
#define SM_NV 2
#define SM_NV1 4
#define SM_R 4
#define NW_R2 4
#include "ukernel_simd.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const fnn_ctx fnn_ctx_avx2 = {
    .isa = FNN_ISA_AVX2,
    .f32 = FNN_KERN(6, 16, 144, 256, 4096, f32, fnn_narrow_f32),
    .f64 = FNN_KERN(6, 8, 96, 256, 2048, f64, fnn_narrow_f64),
};

#endif /* FNN_HAVE_X86_KERNELS */
