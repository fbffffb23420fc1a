/* epilogue.template.c -- the fused GEMM epilogue, the row softmax and the optimizer step, for
 * one type.
 *
 * Design
 * ------
 * #included by every kernel translation unit (kernels_<isa>.c) once per type, with FNN_T
 * (float|double), FNN_SUF (f32|f64) and FNN_IS_F64 defined, so the same plain-C loops are
 * auto-vectorised for that unit's ISA.  The activations themselves are act.template.c's, the
 * optimizers' loops optim.template.c's (the training epoch's epilogue of a weight gradient).
 */
#include "act.template.c"
#include "optim.template.c"

#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define EP FNN_CAT(fnn_epilogue_, FNN_SUF)
#define T FNN_T

static void FN(fnn_epi)(const EP *ep, T *c, ptrdiff_t ldc, ptrdiff_t i0, ptrdiff_t j0,
                        ptrdiff_t mr, ptrdiff_t nr)
{
    ptrdiff_t r, j;
    for (r = 0; r < mr; ++r) {
        T *restrict cr = c + r * ldc;
        if (ep->kind == FNN_EP_BIAS_ACT) {
            if (ep->bias) {
                const T *restrict b = ep->bias + j0;
                for (j = 0; j < nr; ++j)
                    cr[j] += b[j];
            }
            if (ep->zout)
                memcpy(ep->zout + (i0 + r) * ep->ldz + j0, cr, (size_t)nr * sizeof(T));
            FN(fnn_act_row)(ep->act, cr, nr);
        } else if (ep->kind == FNN_EP_MUL_DERIV) {
            FN(fnn_deriv_row)(ep->act, cr, ep->aux + (i0 + r) * ep->ldaux + j0, nr);
        }
    }
}

/* Row-wise softmax.  Max and sum use 16 independent partial results so that they vectorise
   (a single running max/sum is a serial dependency chain); the order is fixed, so results are
   reproducible. */
static void FN(fnn_softmax_rows)(T *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n)
{
    ptrdiff_t i, j;
    int l;
    for (i = 0; i < m; ++i) {
        T *restrict cr = c + i * ldc;
        T part[16], mx, s;
        for (l = 0; l < 16; ++l)
            part[l] = cr[0];
        for (j = 0; j + 16 <= n; j += 16)
            for (l = 0; l < 16; ++l)
                part[l] = cr[j + l] > part[l] ? cr[j + l] : part[l];
        for (; j < n; ++j)
            part[0] = cr[j] > part[0] ? cr[j] : part[0];
        mx = part[0];
        for (l = 1; l < 16; ++l)
            mx = part[l] > mx ? part[l] : mx;
        for (j = 0; j < n; ++j)
            cr[j] = FN(fnn_expneg)(cr[j] - mx);
        for (l = 0; l < 16; ++l)
            part[l] = 0;
        for (j = 0; j + 16 <= n; j += 16)
            for (l = 0; l < 16; ++l)
                part[l] += cr[j + l];
        for (; j < n; ++j)
            part[0] += cr[j];
        s = 0;
        for (l = 0; l < 16; ++l)
            s += part[l];
        s = (T)1 / s;
        for (j = 0; j < n; ++j)
            cr[j] *= s;
    }
}

#undef T
#undef FN
#undef EP
