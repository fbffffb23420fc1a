/* train.c -- instantiates the epoch loop and inference for float and double (train.template.c). */
#include <math.h>
#include <string.h>

#include "fastnn.h"
#include "fnn_loss.h"
#include "fnn_train.h"

#define FNN_TCAT_(a, b) a##b
#define FNN_TCAT(a, b) FNN_TCAT_(a, b)

#define FNN_T float
#define FNN_SUF _f32
#include "train.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF _f64
#include "train.template.c"
#undef FNN_T
#undef FNN_SUF
