/* optim.c -- the optimizers' rules: their scalars and fnn_update (here), their loops
 * (optim.template.c, compiled into each kernel unit as its context's step function).
 *
 * Design
 * ------
 * An optimizer is one fnn_optimizer (kind and hyperparameters); fnn_rule_make works out what a
 * step needs once (Adam's bias corrections), so that the loops, applied to a whole parameter
 * or to one tile of a weight gradient at a time, do only the elementwise work.  Adding an
 * optimizer is its row in FNN_OPTIMIZERS (fastnn.h), its case here and its loop in
 * optim.template.c.
 */
#include <math.h>
#include <string.h>

#include "fnn_internal.h"

int fnn_rule_make(fnn_rule *r, const fnn_optimizer *opt, long long step, int decay)
{
    memset(r, 0, sizeof *r);
    r->kind = opt->kind;
    r->lr = opt->lr;
    r->wd = decay ? opt->weight_decay : 0.0;
    switch (opt->kind) {
    case FNN_OPT_SGD:
        r->momentum = opt->momentum;
        r->nesterov = opt->nesterov;
        return FNN_OK;
    case FNN_OPT_ADAM:
    case FNN_OPT_ADAMW:
        if (step < 1)
            return FNN_EINVAL;
        r->beta1 = opt->beta1;
        r->beta2 = opt->beta2;
        r->eps = opt->eps;
        r->step = opt->lr / (1.0 - pow(opt->beta1, (double)step));
        r->ibc2 = 1.0 / (1.0 - pow(opt->beta2, (double)step));
        return FNN_OK;
    }
    return FNN_EINVAL;
}

int fnn_rule_uses_m(const fnn_rule *r)
{
    const int moments = fnn_opt_moments(r->kind);
    return moments >= 2 || (moments == 1 && r->momentum != 0.0);
}

int fnn_rule_uses_v(const fnn_rule *r)
{
    return fnn_opt_moments(r->kind) >= 2;
}

/* fnn_update of one type: the current kernel context's step over the whole parameter */
#define FNN_UPDATE(T, suf)                                                                         \
    int fnn_update_##suf(const fnn_optimizer *opt, ptrdiff_t size, T *param, const T *grad,        \
                         T *m, T *v)                                                               \
    {                                                                                              \
        fnn_rule r;                                                                                \
        if (!opt || size < 0 || fnn_rule_make(&r, opt, opt->t + 1, 1) != FNN_OK)                   \
            return FNN_EINVAL;                                                                     \
        if (size == 0)                                                                             \
            return FNN_OK;                                                                         \
        if (!param || !grad || (fnn_rule_uses_m(&r) && !m) || (fnn_rule_uses_v(&r) && !v))         \
            return FNN_EINVAL;                                                                     \
        fnn_ctx_current()->suf.step(&r, 0, 1, size, param, size, grad, size, m, v);                \
        return FNN_OK;                                                                             \
    }
FNN_UPDATE(float, f32)
FNN_UPDATE(double, f64)
