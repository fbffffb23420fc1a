/* optim.c -- instantiates the parameter updates for float and double (see optim.template.c). */
#include "fnn_internal.h"

#define FNN_T float
#define FNN_SUF f32
#include "optim.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF f64
#include "optim.template.c"
#undef FNN_T
#undef FNN_SUF
