/* kernels_neon.c -- AArch64 NEON micro-kernels (8x12 float, 8x6 double), epilogues, softmax.
 *
 * Design
 * ------
 * NEON (Advanced SIMD) is part of the AArch64 baseline, so this unit needs no target flags and
 * every AArch64 CPU runs it: Apple silicon, Graviton, Ampere, Cortex-A.  SVE is not used: its
 * vector length is known only at run time, and such sizeless vectors cannot be the elements of
 * the arrays ukernel_simd.template.c keeps its accumulators in; every CPU with SVE also runs
 * NEON.  The tile: 8 rows x 3 vectors of 4 floats, 24 accumulators, 3 vectors of B
 * and a broadcast (ld1r) of 32 registers; each k-step is 24 fmla on vectors.
 */
#include "fnn_internal.h"

#ifdef FNN_HAVE_NEON_KERNELS

#include <arm_neon.h>

#define FNN_USE_FMA 1
#define UK_MR 8
#define UK_NV 3
#define SM_NV 4
#define SM_R 4
#define NW_R2 8

/* ---- float ---- */
#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#include "epilogue.template.c"
#define VT float32x4_t
#define VL 4
#define V_LD(p) vld1q_f32(p)
#define V_ST(p, v) vst1q_f32((p), (v))
#define V_BC(x) vdupq_n_f32(x)
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD(a, b) vaddq_f32((a), (b))
#include "ukernel_simd.template.c"
#undef VT
#undef VL
#undef V_LD
#undef V_ST
#undef V_BC
#undef V_FMA
#undef V_ZERO
#undef V_ADD
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

/* ---- double ---- */
#define FNN_T double
#define FNN_SUF f64
#define FNN_IS_F64 1
#include "epilogue.template.c"
#define VT float64x2_t
#define VL 2
#define V_LD(p) vld1q_f64(p)
#define V_ST(p, v) vst1q_f64((p), (v))
#define V_BC(x) vdupq_n_f64(x)
#define V_FMA(a, b, c) vfmaq_f64((c), (a), (b))
#define V_ZERO() vdupq_n_f64(0.0)
#define V_ADD(a, b) vaddq_f64((a), (b))
#include "ukernel_simd.template.c"

const fnn_ctx fnn_ctx_neon = {
    .isa = FNN_ISA_NEON,
    .f32 = FNN_KERN(8, 12, 128, 256, 3072, f32, fnn_narrow_f32),
    .f64 = FNN_KERN(8, 6, 128, 256, 1536, f64, fnn_narrow_f64),
};

#endif /* FNN_HAVE_NEON_KERNELS */
