/* optim.template.c -- fused parameter updates (SGD with momentum / Nesterov, Adam), one type.
 *
 * Design
 * ------
 * #included by optim.c once per type.  One pass over the parameters, in place, elementwise
 * (so trivially deterministic); memory-bound, so the baseline auto-vectorised loops suffice.
 * Scalars arrive as double and are rounded once to the element type.
 */
#include <math.h>

#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

int FN(fnn_sgd_update)(ptrdiff_t size, T *param, const T *grad, double lr, T *velocity,
                       double momentum, int nesterov, double weight_decay)
{
    const T a = (T)lr, mu = (T)momentum, wd = (T)weight_decay;
    ptrdiff_t i;
    if (size < 0)
        return FNN_EINVAL;
    if (size == 0)
        return FNN_OK;
    if (!param || !grad || (!velocity && momentum != 0.0))
        return FNN_EINVAL;
    if (!velocity) {
        T *restrict w = param;
        const T *restrict g = grad;
        for (i = 0; i < size; ++i)
            w[i] -= a * (g[i] + wd * w[i]);
    } else if (!nesterov) {
        T *restrict w = param, *restrict v = velocity;
        const T *restrict g = grad;
        for (i = 0; i < size; ++i) {
            const T vi = mu * v[i] - a * (g[i] + wd * w[i]);
            v[i] = vi;
            w[i] += vi;
        }
    } else {
        T *restrict w = param, *restrict v = velocity;
        const T *restrict g = grad;
        for (i = 0; i < size; ++i) {
            const T gi = g[i] + wd * w[i];
            const T vi = mu * v[i] - a * gi;
            v[i] = vi;
            w[i] += mu * vi - a * gi;
        }
    }
    return FNN_OK;
}

int FN(fnn_adam_update)(ptrdiff_t size, T *param, const T *grad, T *m, T *v, long long t,
                        double lr, double beta1, double beta2, double eps, double weight_decay)
{
    ptrdiff_t i;
    if (size < 0 || t < 1)
        return FNN_EINVAL;
    if (size == 0)
        return FNN_OK;
    if (!param || !grad || !m || !v)
        return FNN_EINVAL;
    {
        const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
        const T b1 = (T)beta1, b2 = (T)beta2, ob1 = (T)(1.0 - beta1), ob2 = (T)(1.0 - beta2);
        const T step = (T)(lr / bc1), ibc2 = (T)(1.0 / bc2), e = (T)eps, wd = (T)weight_decay;
        T *restrict w = param, *restrict mm = m, *restrict vv = v;
        const T *restrict g = grad;
        for (i = 0; i < size; ++i) {
            const T gi = g[i] + wd * w[i];
            const T mi = b1 * mm[i] + ob1 * gi;
            const T vi = b2 * vv[i] + ob2 * gi * gi;
            mm[i] = mi;
            vv[i] = vi;
            w[i] -= step * mi / (sqrt(vi * ibc2) + e);
        }
    }
    return FNN_OK;
}

#undef FN
#undef T
