/* kernels_portable.c -- the portable (plain C) context: 4x8 micro-kernels, epilogues, softmax.
 *
 * Design
 * ------
 * Compiled with the baseline flags only.  It is the only context on non-x86 builds and the
 * fallback on x86 CPUs without AVX2+FMA; tests force it with fnn_set_isa(FNN_ISA_PORTABLE).
 */
#include "fnn_internal.h"

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
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64

const fnn_ctx fnn_ctx_portable = {
    .isa = FNN_ISA_PORTABLE,
    .f32 = FNN_KERN(PK_MR, PK_NR, 128, 256, 2048, f32, fnn_smallm_f32),
    .f64 = FNN_KERN(PK_MR, PK_NR, 128, 256, 2048, f64, fnn_smallm_f64),
};
