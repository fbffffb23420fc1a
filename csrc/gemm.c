/* gemm.c -- instantiates the GEMM driver (gemm.template.c, steal.template.c) and the dense layer
 * built on it (dense.template.c) for both types.
 *
 * Design
 * ------
 * Compiled with baseline flags: the driver only packs, loops and calls through the ISA context
 * (fnn_internal.h), so it needs no target-specific code.
 */
#include "fnn_internal.h"

#define FNN_T float
#define FNN_SUF f32
#include "gemm.template.c"
#include "dense.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF f64
#include "gemm.template.c"
#include "dense.template.c"
#undef FNN_T
#undef FNN_SUF
