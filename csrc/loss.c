/* loss.c -- instantiates the fused loss and output delta for float and double (loss.template.c). */
#include <float.h>
#include <math.h>

#include "fastnn.h"
#include "fnn_loss.h"

#define FNN_LCAT_(a, b) a##b
#define FNN_LCAT(a, b) FNN_LCAT_(a, b)

#define FNN_T float
#define FNN_SUF _f32
#define FNN_EPS FLT_EPSILON
#include "loss.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_EPS

#define FNN_T double
#define FNN_SUF _f64
#define FNN_EPS DBL_EPSILON
#include "loss.template.c"
#undef FNN_T
#undef FNN_SUF
#undef FNN_EPS
