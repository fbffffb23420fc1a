/* train.c -- instantiates the epoch loop and inference for float and double (train.template.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastnn.h"
#include "fnn_internal.h"
#include "fnn_loss.h"
#include "fnn_train.h"

/* a batch of at least this many elements (of X and Y) is gathered by all threads: below it,
   waking the team costs more than the copy */
#define FNN_GATHER_PAR_MIN 32768

#define FNN_T float
#define FNN_SUF f32
#include "train.template.c"
#undef FNN_T
#undef FNN_SUF

#define FNN_T double
#define FNN_SUF f64
#include "train.template.c"
#undef FNN_T
#undef FNN_SUF
