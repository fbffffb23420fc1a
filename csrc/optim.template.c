/* optim.template.c -- fused parameter updates (SGD with momentum / Nesterov, Adam), one type.
 *
 * Design
 * ------
 * #included by optim.c once per type.  One pass over the parameters, in place, elementwise
 * (so trivially deterministic); memory-bound, so the baseline auto-vectorised loops suffice.
 * Scalars arrive as double and are rounded once to the element type.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

/* The elementwise loops over a rows x cols block (param and state with row stride ldw, the
   gradient with ldg); scalars are rounded once to the element type. */
void FN(fnn_rule_apply)(const fnn_rule *r, ptrdiff_t rows, ptrdiff_t cols, T *param,
                        ptrdiff_t ldw, const T *grad, ptrdiff_t ldg, T *state1, T *state2)
{
    ptrdiff_t q, i;
    const T wd = (T)r->wd;
    if (ldw == cols && ldg == cols) { /* one contiguous run (a whole small matrix) */
        cols *= rows;
        rows = 1;
    }
    if (r->adam) {
        const T b1 = (T)r->beta1, b2 = (T)r->beta2, ob1 = (T)(1.0 - r->beta1),
                ob2 = (T)(1.0 - r->beta2), step = (T)r->step, ibc2 = (T)r->ibc2, e = (T)r->eps;
        for (q = 0; q < rows; ++q) {
            T *restrict w = param + q * ldw, *restrict m = state1 + q * ldw,
                        *restrict v = state2 + q * ldw;
            const T *restrict g = grad + q * ldg;
            for (i = 0; i < cols; ++i) {
                const T gi = g[i] + wd * w[i];
                const T mi = b1 * m[i] + ob1 * gi;
                const T vi = b2 * v[i] + ob2 * gi * gi;
                m[i] = mi;
                v[i] = vi;
                w[i] -= step * mi / (sqrt(vi * ibc2) + e);
            }
        }
    } else if (!state1) {
        const T a = (T)r->lr;
        for (q = 0; q < rows; ++q) {
            T *restrict w = param + q * ldw;
            const T *restrict g = grad + q * ldg;
            for (i = 0; i < cols; ++i)
                w[i] -= a * (g[i] + wd * w[i]);
        }
    } else {
        const T a = (T)r->lr, mu = (T)r->momentum;
        const int nesterov = r->nesterov;
        for (q = 0; q < rows; ++q) {
            T *restrict w = param + q * ldw, *restrict v = state1 + q * ldw;
            const T *restrict g = grad + q * ldg;
            if (!nesterov)
                for (i = 0; i < cols; ++i) {
                    const T vi = mu * v[i] - a * (g[i] + wd * w[i]);
                    v[i] = vi;
                    w[i] += vi;
                }
            else
                for (i = 0; i < cols; ++i) {
                    const T gi = g[i] + wd * w[i];
                    const T vi = mu * v[i] - a * gi;
                    v[i] = vi;
                    w[i] += mu * vi - a * gi;
                }
        }
    }
}

int FN(fnn_sgd_update)(ptrdiff_t size, T *param, const T *grad, double lr, T *velocity,
                       double momentum, int nesterov, double weight_decay)
{
    fnn_rule r;
    if (size < 0)
        return FNN_EINVAL;
    if (size == 0)
        return FNN_OK;
    if (!param || !grad || (!velocity && momentum != 0.0))
        return FNN_EINVAL;
    fnn_rule_sgd(&r, lr, momentum, nesterov, weight_decay);
    FN(fnn_rule_apply)(&r, 1, size, param, size, grad, size, momentum != 0.0 ? velocity : NULL,
                        NULL);
    return FNN_OK;
}

int FN(fnn_adam_update)(ptrdiff_t size, T *param, const T *grad, T *m, T *v, long long t,
                        double lr, double beta1, double beta2, double eps, double weight_decay)
{
    fnn_rule r;
    if (size < 0 || t < 1)
        return FNN_EINVAL;
    if (size == 0)
        return FNN_OK;
    if (!param || !grad || !m || !v)
        return FNN_EINVAL;
    fnn_rule_adam(&r, t, lr, beta1, beta2, eps, weight_decay);
    FN(fnn_rule_apply)(&r, 1, size, param, size, grad, size, m, v);
    return FNN_OK;
}

#undef FN
#undef T
