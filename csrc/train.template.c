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

/* The parameter arrays of a step: W0, b0, W1, b1, ... with their gradients and state. */
typedef struct {
    ptrdiff_t size;
    T *param;
    const T *grad;
    T *s1, *s2;
    double wd;
} TFN(fnn_slot);

/* Chunk c (of FNN_UPDATE_CHUNK elements, never across two arrays) of the slots: sets *o, *len. */
static ptrdiff_t TFN(fnn_chunk)(const TFN(fnn_slot) *slots, ptrdiff_t nslots, ptrdiff_t c,
                                ptrdiff_t *o, ptrdiff_t *len)
{
    ptrdiff_t i;
    *o = *len = 0;
    for (i = 0; i < nslots; ++i) {
        const ptrdiff_t nc = (slots[i].size + FNN_UPDATE_CHUNK - 1) / FNN_UPDATE_CHUNK;
        if (c < nc) {
            *o = c * FNN_UPDATE_CHUNK;
            *len = slots[i].size - *o < FNN_UPDATE_CHUNK ? slots[i].size - *o : FNN_UPDATE_CHUNK;
            return i;
        }
        c -= nc;
    }
    return -1; /* not reached */
}

/* The end of a step: if every gradient is finite, one optimizer step on every parameter array
   (else FNN_EDIVERGED, and nothing is changed).  The update is elementwise, so when there is
   enough of it both passes are cut into the same chunks and run in one parallel region: the
   thread that checks a chunk also updates it, while its gradient is in that core's cache, and
   the result does not depend on the thread count.  Small networks skip the region (even a
   one-thread region costs about a microsecond). */
static int TFN(fnn_check_and_update)(const fnn_optimizer *opt, const TFN(fnn_slot) *slots,
                                     ptrdiff_t nslots, int n_threads)
{
    ptrdiff_t i, c, total = 0, nchunks = 0;
    int bad = 0, status = FNN_OK;
    for (i = 0; i < nslots; ++i) {
        total += slots[i].size;
        nchunks += (slots[i].size + FNN_UPDATE_CHUNK - 1) / FNN_UPDATE_CHUNK;
    }
#ifdef _OPENMP
    if (total >= FNN_UPDATE_PAR_MIN && n_threads != 1) {
        const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt) private(i) reduction(min : status)
        {
            /* bad is shared: the reduction of the first loop is complete after its barrier */
#pragma omp for schedule(static) reduction(| : bad)
            for (c = 0; c < nchunks; ++c) {
                ptrdiff_t o, len;
                i = TFN(fnn_chunk)(slots, nslots, c, &o, &len);
                bad |= !TFN(fnn_all_finite)(len, slots[i].grad + o);
            }
            if (!bad) {
#pragma omp for schedule(static)
                for (c = 0; c < nchunks; ++c) {
                    ptrdiff_t o, len;
                    int st;
                    i = TFN(fnn_chunk)(slots, nslots, c, &o, &len);
                    st = TFN(fnn_update_chunk)(opt, len, slots[i].param + o, slots[i].grad + o,
                                               slots[i].s1 ? slots[i].s1 + o : NULL,
                                               slots[i].s2 ? slots[i].s2 + o : NULL, slots[i].wd);
                    if (st < status)
                        status = st;
                }
            }
        }
        return bad ? FNN_EDIVERGED : status;
    }
#else
    (void)n_threads;
    (void)c;
    (void)nchunks;
#endif
    for (i = 0; i < nslots; ++i)
        bad |= !TFN(fnn_all_finite)(slots[i].size, slots[i].grad);
    if (bad)
        return FNN_EDIVERGED;
    for (i = 0; i < nslots && status == FNN_OK; ++i)
        status = TFN(fnn_update_chunk)(opt, slots[i].size, slots[i].param, slots[i].grad,
                                       slots[i].s1, slots[i].s2, slots[i].wd);
    return status;
}

/* Xb, Yb = the rows idx[0..s) of X and Y; by all threads when there is a lot to copy */
static void TFN(fnn_gather)(ptrdiff_t s, ptrdiff_t n_in, ptrdiff_t n_out, const T *X,
                            const T *Y, const long long *idx, T *Xb, T *Yb, int n_threads)
{
    ptrdiff_t r;
#ifdef _OPENMP
    if (s * (n_in + n_out) >= FNN_GATHER_PAR_MIN && n_threads != 1) {
        const int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) schedule(static)
        for (r = 0; r < s; ++r) {
            const ptrdiff_t i = (ptrdiff_t)idx[r];
            memcpy(Xb + r * n_in, X + i * n_in, (size_t)n_in * sizeof(T));
            memcpy(Yb + r * n_out, Y + i * n_out, (size_t)n_out * sizeof(T));
        }
        return;
    }
#else
    (void)n_threads;
#endif
    for (r = 0; r < s; ++r) {
        const ptrdiff_t i = (ptrdiff_t)idx[r];
        memcpy(Xb + r * n_in, X + i * n_in, (size_t)n_in * sizeof(T));
        memcpy(Yb + r * n_out, Y + i * n_out, (size_t)n_out * sizeof(T));
    }
}

/* The steps of an epoch (arguments checked by fnn_train_epoch). */
static int TFN(fnn_epoch_steps)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                                T *const *W, T *const *b, const T *X, const T *Y,
                                const long long *indices, ptrdiff_t n_indices,
                                ptrdiff_t batch_size, fnn_optimizer *opt,
                                const TFN(fnn_slot) *slots, T *Xb, T *Yb, T *const *A,
                                T *const *D, T *const *dW, T *const *db, int n_threads,
                                double *mean_loss, ptrdiff_t *failed_step)
{
    const ptrdiff_t n_in = sizes[0], n_out = sizes[L];
    ptrdiff_t l, step, start;
    double total = 0.0;
    int status;
    for (step = 0, start = 0; start < n_indices; ++step, start += batch_size) {
        const ptrdiff_t s = n_indices - start < batch_size ? n_indices - start : batch_size;
        double risk;
        TFN(fnn_gather)(s, n_in, n_out, X, Y, indices + start, Xb, Yb, n_threads);
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
        /* the update, if every gradient is finite: weight decay on the weights only */
        if (opt->kind == FNN_OPT_ADAM)
            opt->t += 1;
        status = TFN(fnn_check_and_update)(opt, slots, 2 * L, n_threads);
        if (status == FNN_EDIVERGED) {
            if (opt->kind == FNN_OPT_ADAM)
                opt->t -= 1;
            *failed_step = step;
        }
        if (status != FNN_OK)
            return status;
        total += risk * (double)s;
    }
    *mean_loss = n_indices ? total / (double)n_indices : 0.0;
    return FNN_OK;
}


int TFN(fnn_train_epoch)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                         T *const *W, T *const *b, const T *X, const T *Y, ptrdiff_t n,
                         const long long *indices, ptrdiff_t n_indices, ptrdiff_t batch_size,
                         fnn_optimizer *opt, T *const *state1, T *const *state2, T *Xb, T *Yb,
                         T *const *A, T *const *D, T *const *dW, T *const *db, int n_threads,
                         double *mean_loss, ptrdiff_t *failed_step)
{
    ptrdiff_t l, r;
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

    TFN(fnn_slot) *slots = (TFN(fnn_slot) *)malloc((size_t)(2 * L) * sizeof *slots);
    if (!slots)
        return FNN_ENOMEM;
    for (l = 0; l < 2 * L; ++l) {
        const ptrdiff_t layer = l / 2;
        slots[l].size = l % 2 ? sizes[layer + 1] : sizes[layer] * sizes[layer + 1];
        slots[l].param = l % 2 ? b[layer] : W[layer];
        slots[l].grad = l % 2 ? db[layer] : dW[layer];
        slots[l].s1 = state1[l];
        slots[l].s2 = state2[l];
        slots[l].wd = l % 2 ? 0.0 : opt->weight_decay;
    }
    *failed_step = -1;
    status = TFN(fnn_epoch_steps)(L, sizes, acts, loss, W, b, X, Y, indices, n_indices,
                                  batch_size, opt, slots, Xb, Yb, A, D, dW, db, n_threads,
                                  mean_loss, failed_step);
    free(slots);
    return status;
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
