/* optim.c -- instantiates the parameter updates for float and double (see optim.template.c). */
#include <math.h>
#include <string.h>

#include "fnn_internal.h"

void fnn_rule_sgd(fnn_rule *r, double lr, double momentum, int nesterov, double weight_decay)
{
    memset(r, 0, sizeof *r);
    r->lr = lr;
    r->momentum = momentum;
    r->nesterov = nesterov;
    r->wd = weight_decay;
}

void fnn_rule_adam(fnn_rule *r, long long t, double lr, double beta1, double beta2, double eps,
                   double weight_decay)
{
    memset(r, 0, sizeof *r);
    r->adam = 1;
    r->beta1 = beta1;
    r->beta2 = beta2;
    r->step = lr / (1.0 - pow(beta1, (double)t));
    r->ibc2 = 1.0 / (1.0 - pow(beta2, (double)t));
    r->eps = eps;
    r->wd = weight_decay;
}

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
