/* dense.c -- instantiates the dense-layer kernels for float and double (dense.template.c). */
#include "fnn_internal.h"

#define FNN_T float
#define FNN_SUF f32
#include "dense.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF f64
#include "dense.template.c"
#undef FNN_T
#undef FNN_SUF
