/* loss.template.c -- the fused loss value and output delta of fnn_loss.h, for one type.
 *
 * Design
 * ------
 * #included by loss.c with FNN_T, FNN_SUF and FNN_EPS defined, after act.template.c (the
 * activations and their derivatives, the same code as the GEMM epilogue's).  The output layer is narrow (a few
 * to a few hundred columns) and this pass is O(m n) beside the O(m n k) products, so it is
 * written for clarity: one row at a time, the activation written into D first and transformed
 * into the delta in place.  Arithmetic inside a row is in the element type; the risk is summed
 * in double.  The softmax's exponentials are the GEMM epilogue's (fnn_expneg, within a few ulp,
 * inlined and vectorised: a libm exp per element, in double, cost more than the rest of the
 * pass); the losses' log/log1p are libm's in double, once a row or once an element of a loss
 * that is not fused with its activation, which keeps float results within rounding of the
 * reference.
 */

#define LFN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

static T LFN(fnn_clip01)(T a)
{
    const T eps = (T)FNN_EPS;
    return a < eps ? eps : (a > (T)1 - eps ? (T)1 - eps : a);
}

/* d loss_i / da for one output a with target y; adds loss_i's term to *row unless row is NULL */
static T LFN(fnn_loss_general)(int loss, T a, T y, double *row)
{
    if (loss == FNN_LOSS_MSE) {
        if (row)
            *row += ((double)a - y) * ((double)a - y);
        return (T)2 * (a - y);
    }
    const T c = LFN(fnn_clip01)(a);
    if (loss == FNN_LOSS_BCE) {
        if (row)
            *row -= y * log((double)c) + ((T)1 - y) * log1p(-(double)c);
        return (c - y) / (c * ((T)1 - c));
    }
    if (row)
        *row -= y * log((double)c);
    return -y / c;
}

int LFN(fnn_loss_delta)(ptrdiff_t m, ptrdiff_t n, const T *Z, const T *Y, int loss, int act,
                        T *D, double *risk)
{
    ptrdiff_t i, j;
    double total = 0.0;
    if (m < 1 || n < 1 || !Z || !Y || !D || !risk)
        return FNN_EINVAL;
    const int flags = fnn_act_flags(act);
    if (!fnn_code_name(FNN_TABLE_LOSS, loss) || flags < 0)
        return FNN_EINVAL;
    const T inv_m = (T)(1.0 / (double)m);
    const int fused = (loss == FNN_LOSS_MSE && act == FNN_IDENTITY)
                      || (loss == FNN_LOSS_BCE && act == FNN_SIGMOID)
                      || (loss == FNN_LOSS_CE && act == FNN_SOFTMAX);
    for (i = 0; i < m; ++i) {
        const T *z = Z + i * n, *y = Y + i * n;
        T *d = D + i * n;
        double row = 0.0;
        /* the output activations, into d */
        if (act == FNN_SOFTMAX) {
            T zmax = z[0];
            double sum = 0.0;
            for (j = 1; j < n; ++j)
                zmax = z[j] > zmax ? z[j] : zmax;
            for (j = 0; j < n; ++j)
                d[j] = LFN(fnn_expneg)(z[j] - zmax);
            for (j = 0; j < n; ++j)
                sum += d[j];
            for (j = 0; j < n; ++j) /* one division a row, as the epilogue's softmax */
                d[j] *= (T)(1.0 / sum);
            if (fused) { /* cross-entropy from the logits: logsumexp(z) sum(y) - <y, z> */
                double ysum = 0.0, yz = 0.0;
                for (j = 0; j < n; ++j) {
                    ysum += y[j];
                    yz += (double)y[j] * z[j];
                }
                row = ((double)zmax + log(sum)) * ysum - yz;
            }
        } else {
            for (j = 0; j < n; ++j)
                d[j] = LFN(fnn_act1)(act, z[j]);
        }
        if (fused) {
            const T scale = loss == FNN_LOSS_MSE ? (T)2 * inv_m : inv_m;
            for (j = 0; j < n; ++j) {
                const double zj = z[j], yj = y[j];
                if (loss == FNN_LOSS_MSE)
                    row += (zj - yj) * (zj - yj);
                else if (loss == FNN_LOSS_BCE)
                    row += (zj > 0 ? zj : 0.0) - zj * yj + log1p(exp(-fabs(zj)));
                d[j] = (d[j] - y[j]) * scale;
            }
        } else {
            /* the general chain rule: g = d loss_i / dA, then D = act.backward(A, g) / m */
            if (act == FNN_SOFTMAX) { /* D = A (g - <g, A>): two passes, g recomputed */
                double ga = 0.0;
                for (j = 0; j < n; ++j)
                    ga += (double)LFN(fnn_loss_general)(loss, d[j], y[j], &row) * d[j];
                for (j = 0; j < n; ++j) {
                    const T g = LFN(fnn_loss_general)(loss, d[j], y[j], NULL);
                    d[j] = d[j] * (T)((double)g - ga) * inv_m;
                }
            } else {
                for (j = 0; j < n; ++j) {
                    const T g = LFN(fnn_loss_general)(loss, d[j], y[j], &row);
                    const T x = flags & FNN_ACT_NEEDS_Z ? z[j] : d[j];
                    d[j] = g * LFN(fnn_dact1)(act, x) * inv_m;
                }
            }
        }
        total += row;
    }
    *risk = total / (double)m;
    return FNN_OK;
}

#undef LFN
#undef T
