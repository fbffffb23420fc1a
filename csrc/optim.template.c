/* optim.template.c -- the optimizers' elementwise loops (fnn_rule_apply) and fnn_update, one type.
 *
 * Design
 * ------
 * #included by optim.c once per type.  One pass over the parameters, in place, elementwise
 * (so trivially deterministic); memory-bound, so the baseline auto-vectorised loops suffice.
 * Each rule is one case below, its loop on contiguous rows; scalars arrive as double and are
 * rounded once to the element type.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

void FN(fnn_rule_apply)(const fnn_rule *r, ptrdiff_t rows, ptrdiff_t cols, T *param,
                        ptrdiff_t ldw, const T *grad, ptrdiff_t ldg, T *m, T *v)
{
    ptrdiff_t q, i;
    const T lr = (T)r->lr, wd = (T)r->wd;
    if (ldw == cols && ldg == cols) { /* one contiguous run (a whole small matrix) */
        cols *= rows;
        rows = 1;
    }
    for (q = 0; q < rows; ++q) {
        T *restrict w = param + q * ldw;
        const T *restrict g = grad + q * ldg;
        switch (r->kind) {
        case FNN_OPT_SGD: {
            const T mu = (T)r->momentum;
            T *restrict vel = m ? m + q * ldw : NULL;
            if (r->momentum == 0.0)
                for (i = 0; i < cols; ++i)
                    w[i] -= lr * (g[i] + wd * w[i]);
            else if (!r->nesterov)
                for (i = 0; i < cols; ++i) {
                    const T vi = mu * vel[i] - lr * (g[i] + wd * w[i]);
                    vel[i] = vi;
                    w[i] += vi;
                }
            else
                for (i = 0; i < cols; ++i) {
                    const T gi = g[i] + wd * w[i];
                    const T vi = mu * vel[i] - lr * gi;
                    vel[i] = vi;
                    w[i] += mu * vi - lr * gi;
                }
            break;
        }
        case FNN_OPT_ADAM: {
            const T b1 = (T)r->beta1, b2 = (T)r->beta2, ob1 = (T)(1.0 - r->beta1),
                    ob2 = (T)(1.0 - r->beta2), step = (T)r->step, ibc2 = (T)r->ibc2,
                    e = (T)r->eps;
            T *restrict mq = m + q * ldw, *restrict vq = v + q * ldw;
            for (i = 0; i < cols; ++i) {
                const T gi = g[i] + wd * w[i];
                const T mi = b1 * mq[i] + ob1 * gi;
                const T vi = b2 * vq[i] + ob2 * gi * gi;
                mq[i] = mi;
                vq[i] = vi;
                w[i] -= step * mi / (sqrt(vi * ibc2) + e);
            }
            break;
        }
        case FNN_OPT_ADAMW: { /* Adam with decoupled weight decay: w shrinks by lr wd first */
            const T b1 = (T)r->beta1, b2 = (T)r->beta2, ob1 = (T)(1.0 - r->beta1),
                    ob2 = (T)(1.0 - r->beta2), step = (T)r->step, ibc2 = (T)r->ibc2,
                    e = (T)r->eps, keep = (T)(1.0 - r->lr * r->wd);
            T *restrict mq = m + q * ldw, *restrict vq = v + q * ldw;
            for (i = 0; i < cols; ++i) {
                const T mi = b1 * mq[i] + ob1 * g[i];
                const T vi = b2 * vq[i] + ob2 * g[i] * g[i];
                mq[i] = mi;
                vq[i] = vi;
                w[i] = w[i] * keep - step * mi / (sqrt(vi * ibc2) + e);
            }
            break;
        }
        }
    }
}

int FN(fnn_update)(const fnn_optimizer *opt, ptrdiff_t size, T *param, const T *grad, T *m,
                   T *v)
{
    fnn_rule r;
    if (!opt || size < 0 || fnn_rule_make(&r, opt, opt->t + 1, 1) != FNN_OK)
        return FNN_EINVAL;
    if (size == 0)
        return FNN_OK;
    if (!param || !grad || (fnn_rule_uses_m(&r) && !m) || (fnn_rule_uses_v(&r) && !v))
        return FNN_EINVAL;
    FN(fnn_rule_apply)(&r, 1, size, param, size, grad, size, m, v);
    return FNN_OK;
}

#undef FN
#undef T
