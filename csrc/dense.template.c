/* dense.template.c -- the dense layer's forward and backward pass, one type.
 *
 * Design
 * ------
 * #included by gemm.c once per type, after the GEMM.  A layer is one or two GEMMs with a fused
 * epilogue (gemm.template.c): forward, out = act(X.W + b) with Z = X.W + b kept when asked;
 * backward, dW = A_prev^T.D, then D_prev = (D.W^T) * act'(A_prev or Z_prev).  The transposes
 * are strides the GEMM reads in place, never copies.
 */
#include <string.h>

#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T
#define EP FNN_CAT(fnn_epilogue_, FNN_SUF)

int FN(fnn_dense_forward)(ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const T *X, const T *W,
                          const T *b, int act, T *out, T *Z, int n_threads)
{
    EP e;
    memset(&e, 0, sizeof e);
    e.kind = FNN_EP_BIAS_ACT;
    e.act = act;
    e.bias = b;
    e.zout = Z;
    e.ldz = n;
    return FN(fnn_gemm)(m, n, k, X, k, 1, W, n, 1, out, n, &e, n_threads);
}

int FN(fnn_dense_backward)(ptrdiff_t m, ptrdiff_t n_in, ptrdiff_t n_out, const T *A_prev,
                           const T *Z_prev, const T *W, const T *D, int act_prev, T *dW, T *db,
                           T *D_prev, int n_threads)
{
    int st;
    ptrdiff_t i, j;
    const int flags = act_prev >= 0 ? fnn_act_flags(act_prev) : 0;
    if (m < 0 || n_in < 0 || n_out < 0 || (act_prev >= 0 && !(flags & FNN_ACT_HIDDEN)))
        return FNN_EINVAL;
    if (n_in > 0 && n_out > 0 && (!W || !dW))
        return FNN_EINVAL;
    if (n_out > 0 && !db)
        return FNN_EINVAL;
    if (m > 0 && ((n_in > 0 && !A_prev) || (n_out > 0 && !D)))
        return FNN_EINVAL;
    if (act_prev >= 0 && m > 0 && n_in > 0
        && (!D_prev || ((flags & FNN_ACT_NEEDS_Z) && !Z_prev)))
        return FNN_EINVAL;

    /* dW = A_prev^T . D : A(i,p) = A_prev[p*n_in + i] */
    st = FN(fnn_gemm)(n_in, n_out, m, A_prev, 1, n_in, D, n_out, 1, dW, n_out, NULL, n_threads);
    if (st != FNN_OK)
        return st;
    for (j = 0; j < n_out; ++j)
        db[j] = 0;
    for (i = 0; i < m; ++i) {
        const T *restrict d = D + i * n_out;
        for (j = 0; j < n_out; ++j)
            db[j] += d[j];
    }
    if (act_prev >= 0) {
        /* D_prev = (D . W^T) * act'(A_prev or Z_prev) : B(p,j) = W[j*n_out + p] */
        EP e;
        memset(&e, 0, sizeof e);
        e.kind = FNN_EP_MUL_DERIV;
        e.act = act_prev;
        e.aux = flags & FNN_ACT_NEEDS_Z ? Z_prev : A_prev;
        e.ldaux = n_in;
        st = FN(fnn_gemm)(m, n_in, n_out, D, n_out, 1, W, 1, n_out, D_prev, n_in, &e, n_threads);
    }
    return st;
}

#undef FN
#undef T
#undef EP
