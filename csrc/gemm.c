/* gemm.c -- instantiates the GEMM driver and the dense-layer kernels for float and double.
 *
 * Design
 * ------
 * Compiled with baseline flags: the driver only packs, loops and calls through the ISA context
 * (fnn_internal.h), so it needs no target-specific code.  See gemm.template.c.
 */
#include "fnn_internal.h"

#define FNN_T float
#define FNN_SUF f32
#include "gemm.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF f64
#include "gemm.template.c"
#undef FNN_T
#undef FNN_SUF
