/* train.c -- instantiates the epoch loop and inference for float and double (train.template.c). */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastnn.h"
#include "fnn_loss.h"
#include "fnn_train.h"

#define FNN_TCAT_(a, b) a##b
#define FNN_TCAT(a, b) FNN_TCAT_(a, b)

/* parameter arrays at least this large are updated by all threads (measured on 2 cores: the
   update of a 784 x 256 layer takes about 0.1 ms on one) */
#define FNN_UPDATE_PAR_MIN 65536

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
