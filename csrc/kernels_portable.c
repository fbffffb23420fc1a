/* kernels_portable.c -- the portable context: baseline-ISA micro-kernels, epilogues, softmax.
 *
 * Design
 * ------
 * Compiled with the baseline flags only.  It is the context of every CPU without a tuned unit
 * (an x86 CPU without AVX2+FMA, an ARM CPU of a build without the NEON unit, any other
 * architecture) and of builds by compilers without GNU C extensions; tests force it with
 * fnn_set_isa(FNN_ISA_PORTABLE).
 * With gcc or clang it is ukernel_simd.template.c on GNU vector types of 16 bytes, the width
 * every 64-bit target's baseline has (SSE2, NEON, VSX...): the compiler maps each vector
 * operation to the target's instructions, and with -ffp-contract=fast a multiply followed by
 * an add to a fused one where the baseline has it.  The vectors are kept along the columns of
 * the tile, one broadcast element of A against whole vectors of B, so the compiler never has to
 * find the vectorisation itself (it picks the k loop of a plain C tile and shuffles).
 * The tile, 4 rows x 3 vectors, needs 12 accumulators, 3 vectors of B and a broadcast: all of
 * the 16 registers of SSE2, half of NEON's.  Other compilers get the plain C tile of
 * ukernel_portable.template.c, correct everywhere.
 */
#include <string.h>
#include "fnn_internal.h"

#if defined(__GNUC__) && !defined(FNN_PLAIN_C)

/* unaligned load and store of a 16-byte vector, without aliasing or alignment assumptions */
#define FNN_GNU_VEC(T, VT, suf)                                                                \
    typedef T VT __attribute__((vector_size(16)));                                             \
    static FNN_INLINE VT fnn_vld_##suf(const T *p)                                            \
    {                                                                                          \
        VT v;                                                                                  \
        memcpy(&v, p, sizeof v);                                                               \
        return v;                                                                              \
    }                                                                                          \
    static FNN_INLINE void fnn_vst_##suf(T *p, VT v)                                          \
    {                                                                                          \
        memcpy(p, &v, sizeof v);                                                               \
    }
FNN_GNU_VEC(float, fnn_v4f, f32)
FNN_GNU_VEC(double, fnn_v2d, f64)

#define V_LD(p) FNN_CAT(fnn_vld_, FNN_SUF)(p)
#define V_ST(p, v) FNN_CAT(fnn_vst_, FNN_SUF)((p), (v))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_ZERO() ((VT){0})
#define V_ADD(a, b) ((a) + (b))
#define UK_MR 4
#define UK_NV 3
#define SM_NV 4
#define SM_R 4
#define NW_R2 4

#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#define VT fnn_v4f
#define VL 4
#define V_BC(x) ((VT){(x), (x), (x), (x)})
#include "epilogue.template.c"
#include "ukernel_simd.template.c"
#undef VT
#undef VL
#undef V_BC
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

#define FNN_T double
#define FNN_SUF f64
#define FNN_IS_F64 1
#define VT fnn_v2d
#define VL 2
#define V_BC(x) ((VT){(x), (x)})
#include "epilogue.template.c"
#include "ukernel_simd.template.c"

const fnn_ctx fnn_ctx_portable = {
    .isa = FNN_ISA_PORTABLE,
    .f32 = FNN_KERN(4, 12, 128, 256, 3072, f32, fnn_narrow_f32),
    .f64 = FNN_KERN(4, 6, 128, 256, 1536, f64, fnn_narrow_f64),
};

#else /* plain C */

#define PK_MR 4
#define PK_NR 8

#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#include "epilogue.template.c"
#include "ukernel_portable.template.c"
#include "pack.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

#define FNN_T double
#define FNN_SUF f64
#define FNN_IS_F64 1
#include "epilogue.template.c"
#include "ukernel_portable.template.c"
#include "pack.template.c"

const fnn_ctx fnn_ctx_portable = {
    .isa = FNN_ISA_PORTABLE,
    .f32 = FNN_KERN(PK_MR, PK_NR, 128, 256, 2048, f32, fnn_smallm_f32),
    .f64 = FNN_KERN(PK_MR, PK_NR, 128, 256, 2048, f64, fnn_smallm_f64),
};

#endif
