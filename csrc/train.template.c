/* train.template.c -- the epoch loop and whole-network inference of fnn_train.h, one type.
 *
 * Design
 * ------
 * #included by train.c with FNN_T and FNN_SUF defined.  The loop sequences the kernels of
 * fastnn.h and fnn_loss.h (each parallel inside when its product is large enough) and computes
 * what the NumPy reference's Backend.train_epoch computes, so both give the same weights on the
 * same batches within rounding.  One difference of order: the deltas of all layers come first
 * (with the weights before the step), then each weight gradient dW = A_prev^T . D, whose tiles
 * are handed to the optimizer as the GEMM finishes them (FNN_EP_TILE_FN): the gradient is never
 * read back from memory and there is no separate update pass (which would stream W and dW
 * through the caches once more).  When the batch fits one depth block of the GEMM, the tiles go
 * from a scratch tile to the optimizer and dW[l] is not written at all.
 * Divergence: a non-finite loss or bias gradient stops the step before anything is applied
 * (FNN_EDIVERGED); a non-finite tile of a weight gradient is not applied, but other tiles of the
 * step may have been (FNN_EDIVERGED_APPLIED: the caller restores and replays, see fnn_train.h).
 */

#define TFN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
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
        if (fnn_act_flags(acts[l]) < 0
            || (l < L - 1 && !(fnn_act_flags(acts[l]) & FNN_ACT_HIDDEN)))
            return 0;
    return 1;
}

/* What the tile function of one layer's weight gradient needs. */
typedef struct {
    FNN_CAT(fnn_stepfn_, FNN_SUF) step; /* the kernel context's, compiled for its ISA */
    const fnn_rule *rule;
    T *param, *m, *v; /* the layer's W and its optimizer state (m, v may be NULL) */
    ptrdiff_t ld;       /* their row stride: the layer's outputs */
    int *bad;           /* set when a tile is not finite */
} TFN(fnn_tile_update_ctx);

/* FNN_EP_TILE_FN of dW: if the tile dW[i.., j..] (mr x nr) is finite, one optimizer step on the
   same tile of W and its state; else *bad is set and the tile is left. */
static void TFN(fnn_tile_update)(void *ctx, T *c, ptrdiff_t ldc, ptrdiff_t i, ptrdiff_t j,
                                 ptrdiff_t mr, ptrdiff_t nr)
{
    const TFN(fnn_tile_update_ctx) *u = (const TFN(fnn_tile_update_ctx) *)ctx;
    const ptrdiff_t o = i * u->ld + j;
    if (!u->step(u->rule, 1, mr, nr, u->param + o, u->ld, c, ldc, u->m ? u->m + o : NULL,
                 u->v ? u->v + o : NULL)) {
#ifdef _OPENMP
#pragma omp atomic /* an update, not a write: OpenMP 2.0 (MSVC) has no atomic write */
#endif
        *u->bad |= 1;
    }
}

/* Xb, Yb = the rows idx[0..s) of X and Y; by all threads when there is a lot to copy */
static void TFN(fnn_gather)(ptrdiff_t s, ptrdiff_t n_in, ptrdiff_t n_out, const T *X,
                            const T *Y, const long long *idx, T *Xb, T *Yb, int n_threads)
{
    ptrdiff_t r;
#ifdef _OPENMP
    const int nt = s * (n_in + n_out) >= FNN_GATHER_PAR_MIN ? fnn_team(n_threads) : 1;
    if (nt > 1) {
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
                                ptrdiff_t batch_size, fnn_optimizer *opt, T *const *m,
                                T *const *v, T *Xb, T *Yb, T *const *A,
                                T *const *Z, T *const *D, T *const *dW, T *const *db,
                                int n_threads, double *mean_loss, ptrdiff_t *failed_step)
{
    const ptrdiff_t n_in = sizes[0], n_out = sizes[L];
    const FNN_CAT(fnn_stepfn_, FNN_SUF) step_fn = fnn_ctx_current()->FNN_SUF.step;
    fnn_rule rule_w, rule_b;
    ptrdiff_t l, step, start;
    double total = 0.0;
    int status, bad = 0, uses_m, uses_v;
    for (step = 0, start = 0; start < n_indices; ++step, start += batch_size) {
        const ptrdiff_t s = n_indices - start < batch_size ? n_indices - start : batch_size;
        /* asked again each step: calls that start or end meanwhile change the share */
        const int nt = fnn_team(n_threads);
        double risk;
        TFN(fnn_gather)(s, n_in, n_out, X, Y, indices + start, Xb, Yb, nt);
        /* forward: hidden layers with their activation (and their Z where the derivative is
           written from it), the output layer's logits */
        for (l = 0; l < L; ++l) {
            const int act = l == L - 1 ? FNN_IDENTITY : acts[l];
            status = TFN(fnn_dense_forward)(s, sizes[l], sizes[l + 1], l ? A[l - 1] : Xb, W[l],
                                            b[l], act, A[l],
                                            fnn_act_flags(act) & FNN_ACT_NEEDS_Z ? Z[l] : NULL,
                                            nt);
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
        /* the deltas of the hidden layers, with the weights before this step:
           D[l-1] = (D[l] . W[l]^T) * act'(A[l-1], or Z[l-1] for FNN_ACT_NEEDS_Z) */
        for (l = L - 1; l >= 1; --l) {
            TFN(fnn_epilogue) e;
            memset(&e, 0, sizeof e);
            e.kind = FNN_EP_MUL_DERIV;
            e.act = acts[l - 1];
            e.aux = fnn_act_flags(acts[l - 1]) & FNN_ACT_NEEDS_Z ? Z[l - 1] : A[l - 1];
            e.ldaux = sizes[l];
            status = TFN(fnn_gemm)(s, sizes[l], sizes[l + 1], D[l], sizes[l + 1], 1, W[l], 1,
                                   sizes[l + 1], D[l - 1], sizes[l], &e, nt);
            if (status != FNN_OK)
                return status;
        }
        /* the bias gradients (column sums of the deltas): a non-finite one, or a non-finite
           delta, stops the step before anything of it is applied */
        for (l = 0; l < L; ++l) {
            T *restrict g = db[l];
            ptrdiff_t r, j;
            for (j = 0; j < sizes[l + 1]; ++j)
                g[j] = 0;
            for (r = 0; r < s; ++r) {
                const T *restrict d = D[l] + r * sizes[l + 1];
                for (j = 0; j < sizes[l + 1]; ++j)
                    g[j] += d[j];
            }
            if (!TFN(fnn_all_finite)(sizes[l + 1], g)) {
                *failed_step = step;
                return FNN_EDIVERGED;
            }
        }
        /* the update: each weight gradient's tiles as the GEMM finishes them (weight decay on
           the weights only), then the biases */
        opt->t += 1;
        fnn_rule_make(&rule_w, opt, opt->t, 1);
        fnn_rule_make(&rule_b, opt, opt->t, 0);
        uses_m = fnn_rule_uses_m(&rule_w);
        uses_v = fnn_rule_uses_v(&rule_w);
        for (l = L - 1; l >= 0; --l) {
            TFN(fnn_tile_update_ctx) u;
            TFN(fnn_epilogue) e;
            u.step = step_fn;
            u.rule = &rule_w;
            u.param = W[l];
            u.m = uses_m ? m[2 * l] : NULL;
            u.v = uses_v ? v[2 * l] : NULL;
            u.ld = sizes[l + 1];
            u.bad = &bad;
            memset(&e, 0, sizeof e);
            e.kind = FNN_EP_TILE_FN;
            e.tile_fn = TFN(fnn_tile_update);
            e.ctx = &u;
            /* dW = A_prev^T . D : A(i,p) = A_prev[p*n_in + i] */
            status = TFN(fnn_gemm)(sizes[l], sizes[l + 1], s, l ? A[l - 1] : Xb, 1, sizes[l],
                                   D[l], sizes[l + 1], 1, dW[l], sizes[l + 1], &e, nt);
            if (status != FNN_OK)
                return status;
            if (bad) {
                *failed_step = step;
                return FNN_EDIVERGED_APPLIED;
            }
        }
        for (l = 0; l < L; ++l)
            step_fn(&rule_b, 0, 1, sizes[l + 1], b[l], sizes[l + 1], db[l], sizes[l + 1],
                    uses_m ? m[2 * l + 1] : NULL, uses_v ? v[2 * l + 1] : NULL);
        total += risk * (double)s;
    }
    *mean_loss = n_indices ? total / (double)n_indices : 0.0;
    return FNN_OK;
}

int TFN(fnn_train_epoch)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                         T *const *W, T *const *b, const T *X, const T *Y, ptrdiff_t n,
                         const long long *indices, ptrdiff_t n_indices, ptrdiff_t batch_size,
                         fnn_optimizer *opt, T *const *m, T *const *v, T *Xb, T *Yb,
                         T *const *A, T *const *Z, T *const *D, T *const *dW, T *const *db,
                         int n_threads, double *mean_loss, ptrdiff_t *failed_step)
{
    ptrdiff_t l, r;
    fnn_rule rule;
    if (!TFN(fnn_check_net)(L, sizes, acts) || !W || !b || !X || !Y || !indices || !opt
        || !m || !v || !Xb || !Yb || !A || !Z || !D || !dW || !db || !mean_loss
        || !failed_step || n < 1 || n_indices < 0 || batch_size < 1
        || fnn_rule_make(&rule, opt, opt->t + 1, 1) != FNN_OK)
        return FNN_EINVAL;
    for (l = 0; l < L; ++l)
        if (!W[l] || !b[l] || !A[l] || !D[l] || !dW[l] || !db[l]
            || (l < L - 1 && (fnn_act_flags(acts[l]) & FNN_ACT_NEEDS_Z) && !Z[l])
            || (fnn_rule_uses_m(&rule) && (!m[2 * l] || !m[2 * l + 1]))
            || (fnn_rule_uses_v(&rule) && (!v[2 * l] || !v[2 * l + 1])))
            return FNN_EINVAL;
    for (r = 0; r < n_indices; ++r)
        if (indices[r] < 0 || indices[r] >= n)
            return FNN_EINVAL;

    *failed_step = -1;
    return TFN(fnn_epoch_steps)(L, sizes, acts, loss, W, b, X, Y, indices, n_indices,
                                batch_size, opt, m, v, Xb, Yb, A, Z, D, dW, db,
                                n_threads, mean_loss, failed_step);
}

/* Rows first..first+rows of X through every layer: out's rows = the network's output, each
   hidden layer's output in s0 or s1 (rows * widest elements each).  With a check, X's rows are
   scanned first: 1 (nothing computed) when one is not finite. */
static int TFN(fnn_predict_rows)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts,
                                 const T *const *W, const T *const *b, ptrdiff_t first,
                                 ptrdiff_t rows, const T *X, T *out, T *s0, T *s1, int check,
                                 int n_threads)
{
    ptrdiff_t l;
    const T *in = X + first * sizes[0];
    if (check && !TFN(fnn_all_finite)(rows * sizes[0], in))
        return 1;
    for (l = 0; l < L; ++l) {
        T *dst = l == L - 1 ? out + first * sizes[L] : (l % 2 ? s1 : s0);
        const int status = TFN(fnn_dense_forward)(rows, sizes[l], sizes[l + 1], in, W[l], b[l],
                                                  acts[l], dst, NULL, n_threads);
        if (status != FNN_OK)
            return status;
        in = dst;
    }
    return FNN_OK;
}

/* One block's hidden buffers (two of rows x widest; NULL without hidden layers, or when the
   allocation fails: *ok says which). */
static T *TFN(fnn_predict_scratch)(ptrdiff_t rows, ptrdiff_t widest, int *ok)
{
    T *s = widest ? (T *)malloc(2 * (size_t)rows * (size_t)widest * sizeof(T)) : NULL;
    *ok = !widest || s;
    return s;
}

int TFN(fnn_predict)(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, const T *const *W,
                     const T *const *b, ptrdiff_t m, const T *X, T *out, int n_threads,
                     ptrdiff_t *nonfinite_row)
{
    ptrdiff_t l, widest = 0, rows, nblk;
    int nt, status = FNN_OK;
    const int check = nonfinite_row != NULL;
    if (!TFN(fnn_check_net)(L, sizes, acts) || !W || !b || !X || !out || m < 0)
        return FNN_EINVAL;
    for (l = 0; l < L; ++l)
        if (!W[l] || !b[l])
            return FNN_EINVAL;
    for (l = 1; l < L; ++l)
        widest = sizes[l] > widest ? sizes[l] : widest;
    if (check)
        *nonfinite_row = -1;
    if (m == 0)
        return FNN_OK;
    /* Blocks of rows whose hidden activations (two buffers of rows x widest) stay in L2 from one
       layer to the next: their size depends on the network only, never on the threads, so a
       row's result does not either. */
    rows = widest ? (ptrdiff_t)(FNN_PREDICT_BLOCK_BYTES / (2 * sizeof(T))) / widest : m;
    rows = rows < FNN_PREDICT_MIN_ROWS ? FNN_PREDICT_MIN_ROWS : rows / 16 * 16;
    if (rows > m)
        rows = m;
    nblk = (m + rows - 1) / rows;
    nt = fnn_team(n_threads);
    if (nt <= 1 || nblk < 2 * (ptrdiff_t)nt) {
        /* one thread, or a few blocks: one after the other, each product parallel inside */
        int ok;
        T *s = TFN(fnn_predict_scratch)(rows, widest, &ok);
        ptrdiff_t i;
        if (!ok)
            return FNN_ENOMEM;
        for (i = 0; i < m && status == FNN_OK; i += rows) {
            const ptrdiff_t r = m - i < rows ? m - i : rows;
            status = TFN(fnn_predict_rows)(L, sizes, acts, W, b, i, r, X, out, s,
                                           s ? s + rows * widest : NULL, check, n_threads);
            if (status == 1) {
                *nonfinite_row = i;
                status = FNN_OK;
                break;
            }
        }
        free(s);
        return status;
    }
#ifdef _OPENMP
    {
        /* many blocks: each thread takes whole blocks (dynamically: a thread slowed by another
           process takes fewer), one thread per product, its buffers its own */
        int found = 0;
#pragma omp parallel num_threads(nt)
        {
            int ok;
            T *s = TFN(fnn_predict_scratch)(rows, widest, &ok);
            int st = ok ? FNN_OK : FNN_ENOMEM;
            ptrdiff_t blk;
#pragma omp for schedule(dynamic, 1)
            for (blk = 0; blk < nblk; ++blk) {
                const ptrdiff_t i = blk * rows, r = m - i < rows ? m - i : rows;
                if (st != FNN_OK || FNN_RLOAD(&found))
                    continue;
                st = TFN(fnn_predict_rows)(L, sizes, acts, W, b, i, r, X, out, s,
                                           s ? s + rows * widest : NULL, check, 1);
                if (st == 1) {
                    st = FNN_OK;
                    FNN_RSTORE(&found, 1);
#pragma omp critical(fnn_predict_found)
                    *nonfinite_row = i;
                }
            }
            free(s);
            if (st != FNN_OK) {
#pragma omp critical(fnn_predict_status)
                if (st < status)
                    status = st;
            }
        }
    }
#endif
    return status;
}

#undef TFN
#undef T
