/* optim.template.c -- the optimizers' elementwise loops: the step function of a kernel context
 * (fnn_stepfn_* in fnn_internal.h), one type.
 *
 * Design
 * ------
 * #included by epilogue.template.c, so by every kernel unit once per type, and compiled for that
 * unit's ISA: the training epoch applies a step to each tile of a weight gradient as the GEMM
 * finishes it, a few hundred elements a call, where the baseline's short SSE2 loops (their
 * alias checks, peeling and remainders) cost more than the arithmetic.  One pass over the
 * parameters, in place, elementwise (so trivially deterministic).  Each rule is one case below,
 * its loop on contiguous rows; scalars arrive as double (fnn_rule) and are rounded once to the
 * element type.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T
#if FNN_IS_F64
#define FNN_SQRT sqrt
#else
#define FNN_SQRT sqrtf
#endif

/* 1 if the rows x cols block of g (row stride ld) is all finite: no early exit, so that the
   loop vectorises (the block is finite but for a diverging step) */
static int FN(fnn_block_finite)(ptrdiff_t rows, ptrdiff_t cols, const T *g, ptrdiff_t ld)
{
    int bad = 0;
    ptrdiff_t q, i;
    for (q = 0; q < rows; ++q) {
        const T *restrict x = g + q * ld;
        for (i = 0; i < cols; ++i)
            bad |= !(x[i] - x[i] == 0); /* x - x is 0 when finite, NaN for inf and NaN */
    }
    return !bad;
}

static void FN(fnn_step_row)(const fnn_rule *r, ptrdiff_t cols, T *restrict w,
                             const T *restrict g, T *restrict m, T *restrict v)
{
    const T lr = (T)r->lr, wd = (T)r->wd;
    ptrdiff_t i;
    switch (r->kind) {
    case FNN_OPT_SGD: {
        const T mu = (T)r->momentum;
        if (r->momentum == 0.0)
            for (i = 0; i < cols; ++i)
                w[i] -= lr * (g[i] + wd * w[i]);
        else if (!r->nesterov)
            for (i = 0; i < cols; ++i) {
                const T vi = mu * m[i] - lr * (g[i] + wd * w[i]);
                m[i] = vi;
                w[i] += vi;
            }
        else
            for (i = 0; i < cols; ++i) {
                const T gi = g[i] + wd * w[i];
                const T vi = mu * m[i] - lr * gi;
                m[i] = vi;
                w[i] += mu * vi - lr * gi;
            }
        break;
    }
    case FNN_OPT_ADAM: {
        const T b1 = (T)r->beta1, b2 = (T)r->beta2, ob1 = (T)(1.0 - r->beta1),
                ob2 = (T)(1.0 - r->beta2), step = (T)r->step, ibc2 = (T)r->ibc2, e = (T)r->eps;
        for (i = 0; i < cols; ++i) {
            const T gi = g[i] + wd * w[i];
            const T mi = b1 * m[i] + ob1 * gi;
            const T vi = b2 * v[i] + ob2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= step * mi / (FNN_SQRT(vi * ibc2) + e);
        }
        break;
    }
    case FNN_OPT_ADAMW: { /* Adam with decoupled weight decay: w shrinks by lr wd first */
        const T b1 = (T)r->beta1, b2 = (T)r->beta2, ob1 = (T)(1.0 - r->beta1),
                ob2 = (T)(1.0 - r->beta2), step = (T)r->step, ibc2 = (T)r->ibc2, e = (T)r->eps,
                keep = (T)(1.0 - r->lr * r->wd);
        for (i = 0; i < cols; ++i) {
            const T mi = b1 * m[i] + ob1 * g[i];
            const T vi = b2 * v[i] + ob2 * g[i] * g[i];
            m[i] = mi;
            v[i] = vi;
            w[i] = w[i] * keep - step * mi / (FNN_SQRT(vi * ibc2) + e);
        }
        break;
    }
    }
}

static int FN(fnn_step)(const fnn_rule *r, int check, ptrdiff_t rows, ptrdiff_t cols, T *param,
                        ptrdiff_t ldw, const T *grad, ptrdiff_t ldg, T *m, T *v)
{
    ptrdiff_t q;
    if (ldw == cols && ldg == cols) { /* one contiguous run (a whole small matrix) */
        cols *= rows;
        rows = 1;
    }
    if (check && !FN(fnn_block_finite)(rows, cols, grad, ldg))
        return 0;
    for (q = 0; q < rows; ++q)
        FN(fnn_step_row)(r, cols, param + q * ldw, grad + q * ldg, m ? m + q * ldw : NULL,
                         v ? v + q * ldw : NULL);
    return 1;
}

#undef FNN_SQRT
#undef FN
#undef T
