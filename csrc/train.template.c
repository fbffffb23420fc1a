/* train.template.c -- the epoch loop and whole-network inference of fnn_train.h, one type.
 *
 * Design
 * ------
 * #included by train.c with FNN_T and FNN_SUF defined.  The loop only sequences the kernels of
 * fastnn.h and fnn_loss.h (each parallel inside when its product is large enough), in the same
 * order as the NumPy reference's Backend.train_epoch, so both give the same weights on the same
 * batches within rounding.  Divergence is detected before the update of the step that produced
 * it: the loss, then the gradients (one summing pass), must be finite.
 */

#define TFN(name) FNN_TCAT(name, FNN_SUF)
#define T FNN_T

static int TFN(fnn_all_finite)(ptrdiff_t size, const T *x)
{
    int bad = 0;
    ptrdiff_t i;
    for (i = 0; i < size; ++i)
        bad |= !(x[i] - x[i] == 0); /* x - x is 0 when finite, NaN for inf and NaN */
    return !bad;
}

static int TFN(fnn_check_net)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts)
{
    ptrdiff_t l;
    if (L < 1 || !sizes || !acts)
        return 0;
    for (l = 0; l <= L; ++l)
        if (sizes[l] < 1)
            return 0;
    for (l = 0; l < L; ++l)
        if (acts[l] < FNN_IDENTITY || acts[l] > FNN_SOFTMAX || (l < L - 1 && acts[l] == FNN_SOFTMAX))
            return 0;
    return 1;
}

static int TFN(fnn_update_chunk)(const fnn_optimizer *opt, ptrdiff_t len, T *param, const T *grad,
                                 T *s1, T *s2, double wd)
{
    if (opt->kind == FNN_OPT_SGD)
        return TFN(fnn_sgd_update)(len, param, grad, opt->lr, opt->momentum != 0.0 ? s1 : NULL,
                                   opt->momentum, opt->nesterov, wd);
    return TFN(fnn_adam_update)(len, param, grad, s1, s2, opt->t, opt->lr, opt->beta1,
                                opt->beta2, opt->eps, wd);
}

/* One optimizer step on one parameter array.  The update is elementwise, so a large array is
   cut into chunks updated in parallel (the same result for any thread count); a small one is
   updated directly (a parallel region costs microseconds, even a one-thread one). */
static int TFN(fnn_update_param)(const fnn_optimizer *opt, ptrdiff_t size, T *param,
                                 const T *grad, T *s1, T *s2, double wd, int n_threads)
{
    const ptrdiff_t chunk = 16384;
    ptrdiff_t c;
    int status = FNN_OK;
    if (size < FNN_UPDATE_PAR_MIN || n_threads == 1)
        return TFN(fnn_update_chunk)(opt, size, param, grad, s1, s2, wd);
#ifdef _OPENMP
    {
        const ptrdiff_t nchunks = (size + chunk - 1) / chunk;
        const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) schedule(static) reduction(min : status)
        for (c = 0; c < nchunks; ++c) {
            const ptrdiff_t o = c * chunk, len = size - o < chunk ? size - o : chunk;
            const int st = TFN(fnn_update_chunk)(opt, len, param + o, grad + o,
                                                 s1 ? s1 + o : NULL, s2 ? s2 + o : NULL, wd);
            if (st < status)
                status = st;
        }
    }
#else
    (void)c;
    status = TFN(fnn_update_chunk)(opt, size, param, grad, s1, s2, wd);
#endif
    return status;
}

int TFN(fnn_train_epoch)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                         T *const *W, T *const *b, const T *X, const T *Y, ptrdiff_t n,
                         const long long *indices, ptrdiff_t n_indices, ptrdiff_t batch_size,
                         fnn_optimizer *opt, T *const *state1, T *const *state2, T *Xb, T *Yb,
                         T *const *A, T *const *D, T *const *dW, T *const *db, int n_threads,
                         double *mean_loss, ptrdiff_t *failed_step)
{
    ptrdiff_t l, r, step, start;
    double total = 0.0;
    int status;
    if (!TFN(fnn_check_net)(L, sizes, acts) || !W || !b || !X || !Y || !indices || !opt
        || !state1 || !state2 || !Xb || !Yb || !A || !D || !dW || !db || !mean_loss
        || !failed_step || n < 1 || n_indices < 0 || batch_size < 1
        || (opt->kind != FNN_OPT_SGD && opt->kind != FNN_OPT_ADAM))
        return FNN_EINVAL;
    for (l = 0; l < L; ++l)
        if (!W[l] || !b[l] || !A[l] || !D[l] || !dW[l] || !db[l]
            || (opt->kind == FNN_OPT_ADAM && (!state1[2 * l] || !state2[2 * l]
                                              || !state1[2 * l + 1] || !state2[2 * l + 1]))
            || (opt->kind == FNN_OPT_SGD && opt->momentum != 0.0
                && (!state1[2 * l] || !state1[2 * l + 1])))
            return FNN_EINVAL;
    for (r = 0; r < n_indices; ++r)
        if (indices[r] < 0 || indices[r] >= n)
            return FNN_EINVAL;

    const ptrdiff_t n_in = sizes[0], n_out = sizes[L];
    *failed_step = -1;
    for (step = 0, start = 0; start < n_indices; ++step, start += batch_size) {
        const ptrdiff_t s = n_indices - start < batch_size ? n_indices - start : batch_size;
        double risk;
        /* gather the batch */
        for (r = 0; r < s; ++r) {
            const ptrdiff_t i = (ptrdiff_t)indices[start + r];
            memcpy(Xb + r * n_in, X + i * n_in, (size_t)n_in * sizeof(T));
            memcpy(Yb + r * n_out, Y + i * n_out, (size_t)n_out * sizeof(T));
        }
        /* forward: hidden layers with their activation, the output layer's logits */
        for (l = 0; l < L; ++l) {
            status = TFN(fnn_dense_forward)(s, sizes[l], sizes[l + 1], l ? A[l - 1] : Xb, W[l],
                                            b[l], l == L - 1 ? FNN_IDENTITY : acts[l], A[l],
                                            n_threads);
            if (status != FNN_OK)
                return status;
        }
        status = TFN(fnn_loss_delta)(s, n_out, A[L - 1], Yb, loss, acts[L - 1], D[L - 1], &risk);
        if (status != FNN_OK)
            return status;
        if (!isfinite(risk)) {
            *failed_step = step;
            return FNN_EDIVERGED;
        }
        /* the delta recursion */
        for (l = L - 1; l >= 0; --l) {
            status = TFN(fnn_dense_backward)(s, sizes[l], sizes[l + 1], l ? A[l - 1] : Xb, W[l],
                                             D[l], l ? acts[l - 1] : -1, dW[l], db[l],
                                             l ? D[l - 1] : NULL, n_threads);
            if (status != FNN_OK)
                return status;
        }
        for (l = 0; l < L; ++l)
            if (!TFN(fnn_all_finite)(sizes[l] * sizes[l + 1], dW[l])
                || !TFN(fnn_all_finite)(sizes[l + 1], db[l])) {
                *failed_step = step;
                return FNN_EDIVERGED;
            }
        /* the update: weight decay on the weights only */
        if (opt->kind == FNN_OPT_ADAM)
            opt->t += 1;
        for (l = 0; l < 2 * L; ++l) {
            const ptrdiff_t layer = l / 2, size = l % 2 ? sizes[layer + 1]
                                                        : sizes[layer] * sizes[layer + 1];
            status = TFN(fnn_update_param)(opt, size, l % 2 ? b[layer] : W[layer],
                                           l % 2 ? db[layer] : dW[layer], state1[l], state2[l],
                                           l % 2 ? 0.0 : opt->weight_decay, n_threads);
            if (status != FNN_OK)
                return status;
        }
        total += risk * (double)s;
    }
    *mean_loss = n_indices ? total / (double)n_indices : 0.0;
    return FNN_OK;
}

int TFN(fnn_predict)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, const T *const *W,
                     const T *const *b, ptrdiff_t m, const T *X, T *out, T *scratch0,
                     T *scratch1, int n_threads)
{
    ptrdiff_t l;
    if (!TFN(fnn_check_net)(L, sizes, acts) || !W || !b || !X || !out || m < 0)
        return FNN_EINVAL;
    if (L > 1 && (!scratch0 || (L > 2 && !scratch1)))
        return FNN_EINVAL;
    const T *in = X;
    for (l = 0; l < L; ++l) {
        T *dst = l == L - 1 ? out : (l % 2 ? scratch1 : scratch0);
        const int status = TFN(fnn_dense_forward)(m, sizes[l], sizes[l + 1], in, W[l], b[l],
                                                  acts[l], dst, n_threads);
        if (status != FNN_OK)
            return status;
        in = dst;
    }
    return FNN_OK;
}

#undef TFN
#undef T
