/* kernels_avx512.c -- AVX-512F micro-kernels (12x32 float, 12x16 double), epilogues, softmax.
 *
 * Design
 * ------
 * Compiled with #pragma GCC target so the shipped build needs only -O3 (never -march=native);
 * the dispatcher (isa.c) uses this context only when __builtin_cpu_supports says the CPU (and
 * OS) has AVX-512F.  The micro-kernel is the outer-product form of ukernel_simd.template.c with
 * 24 zmm accumulators (12 rows x 2 vectors), leaving 8 registers for B and the broadcasts.
 * Blocking: the KC x 32 sliver of B stays in L1 while 12 x KC slivers of A stream past it
 * (KC = 320 float / 128 double), the MC x KC block of A in L2, the KC x NC panel of B in L3.
 * float: MC 96 x KC 320, the fastest of a sweep of MC 48..240 x KC 256..384 on large products
 * (the sweep and its figures are in the commit history; `fastnn bench --group gemm` re-checks).
 */
#include "fnn_internal.h"

#ifdef FNN_HAVE_X86_KERNELS

/* the headers first: the target attribute below applies to every function declared after it */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,prefer-vector-width=512")
#endif

#define FNN_USE_FMA 1

/* ---- float ---- */
#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#include "epilogue.template.c"
#define VT __m512
#define VL 16
#define V_LD(p) _mm512_loadu_ps(p)
#define V_ST(p, v) _mm512_storeu_ps((p), (v))
#define V_BC(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define VM __mmask16
#define V_MASK(cnt) ((__mmask16)((1u << (cnt)) - 1u))
#define V_LDM(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define UK_MR 12
#define UK_NV 2
#define SM_NV 4
#define SM_R 4
#define NW_R2 8
/* dst[q*ldd + r] = src[r*lds + q] for q < 16 and the lanes r of keep, src rows r >= rows read
   as 0: a 16 x 16 transpose in registers (unpack pairs, then quads, then 128-bit lanes twice),
   for packing B = W^T (16 rows, all lanes) and row-major A (MR rows and lanes). */
static inline void fnn_transpose16_f32(const float *src, ptrdiff_t lds, int rows, float *dst,
                                       ptrdiff_t ldd, __mmask16 keep)
{
    __m512 r[16], t[16], u[16];
    int i, c;
    for (i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    for (i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + c], 128-bit lane k: rows 4g..4g+3 of column 4k + c */
    for (i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (c = 0; c < 4; ++c) {
        const __m512 v = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 w = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 x = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 y = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        _mm512_mask_storeu_ps(dst + (0 + c) * ldd, keep, _mm512_shuffle_f32x4(v, x, 0x88));
        _mm512_mask_storeu_ps(dst + (4 + c) * ldd, keep, _mm512_shuffle_f32x4(w, y, 0x88));
        _mm512_mask_storeu_ps(dst + (8 + c) * ldd, keep, _mm512_shuffle_f32x4(v, x, 0xDD));
        _mm512_mask_storeu_ps(dst + (12 + c) * ldd, keep, _mm512_shuffle_f32x4(w, y, 0xDD));
    }
}
#define PK_TBLOCK(src, lds, dst, ldd) fnn_transpose16_f32((src), (lds), 16, (dst), (ldd), 0xFFFF)
#define PK_TBLOCK_A(src, lds, dst) \
    fnn_transpose16_f32((src), (lds), PK_MR, (dst), PK_MR, (__mmask16)((1u << PK_MR) - 1u))
#include "ukernel_simd.template.c"
#undef PK_TBLOCK
#undef PK_TBLOCK_A
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
#define VT __m512d
#define VL 8
#define V_LD(p) _mm512_loadu_pd(p)
#define V_ST(p, v) _mm512_storeu_pd((p), (v))
#define V_BC(x) _mm512_set1_pd(x)
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define V_ZERO() _mm512_setzero_pd()
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define VM __mmask8
#define V_MASK(cnt) ((__mmask8)((1u << (cnt)) - 1u))
#define V_LDM(p, m) _mm512_maskz_loadu_pd((m), (p))
#define V_STM(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define UK_MR 12
#define UK_NV 2
#define SM_NV 4
#define SM_R 4
#define NW_R2 8
#include "ukernel_simd.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* Cache blocking (elements).  Overridable at compile time for tuning experiments. */
#ifndef FNN_AVX512_S_BLK
#define FNN_AVX512_S_BLK 96, 320, 4096
#endif
#ifndef FNN_AVX512_D_BLK
#define FNN_AVX512_D_BLK 144, 128, 2048
#endif

const fnn_ctx fnn_ctx_avx512 = {
    .isa = FNN_ISA_AVX512,
    .f32 = FNN_KERN(12, 32, FNN_AVX512_S_BLK, f32, fnn_narrow_f32),
    .f64 = FNN_KERN(12, 16, FNN_AVX512_D_BLK, f64, fnn_narrow_f64),
};

#endif /* FNN_HAVE_X86_KERNELS */
