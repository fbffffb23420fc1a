/* loss.c -- instantiates the fused loss and output delta for float and double (loss.template.c). */
#include <float.h>
#include <math.h>

#include "fnn_internal.h"
#include "fnn_loss.h"

#define FNN_T float
#define FNN_SUF f32
#define FNN_IS_F64 0
#define FNN_EPS FLT_EPSILON
#include "act.template.c"
#include "loss.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64
#undef FNN_EPS

#define FNN_T double
#define FNN_SUF f64
#define FNN_IS_F64 1
#define FNN_EPS DBL_EPSILON
#include "act.template.c"
#include "loss.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_IS_F64
#undef FNN_EPS
