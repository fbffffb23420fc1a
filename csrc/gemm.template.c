/* gemm.template.c -- GEMM driver with fused epilogue, dense forward and backward, one type.
 *
 * Design
 * ------
 * #included by gemm.c once per type with FNN_T / FNN_SUF defined.  Goto/BLIS loop nest
 *     jc (NC columns of B/C) > pc (KC of the depth) > ic (MC rows of A/C) > jr (NR) > ir (MR)
 * B's KC x NC panel and A's MC x KC block are packed (from any strides, zero-padded to whole
 * slivers, by the ISA's pack functions) into per-thread buffers; the micro-kernel of the current ISA context computes an
 * MR x NR tile; edge tiles are computed into a scratch tile and copied.  After the last KC
 * block a tile is final, and the epilogue is applied to it right away, while it is in L1.
 *
 * Threads: C is cut into strips (whole NR-column or MR-row slivers) along its longer side, about
 * four per thread, scheduled dynamically; each strip is a serial GEMM with the thread's own
 * packing buffers.  No element of C is written by two threads, and every element is summed in
 * the same order whatever the number of threads, so results do not depend on it.  Below
 * FNN_PAR_MIN_FLOPS one thread is used (a parallel region costs microseconds).
 *
 * A narrow block of C (at most FNN_DIRECT_A_MAX_SLIVERS B slivers) reads A in place instead
 * of packing it, one A sliver against every B sliver in turn (see direct_a).
 * Small m (<= FNN_SMALLM_MAX, B rows contiguous): no packing at all; the small-m kernel
 * streams B once per group of rows (single-sample inference is a matrix-vector product).
 * Fewer columns than NR (B rows contiguous: an output layer of a few classes): the narrow
 * kernel, rows of whole (masked) vectors instead of mostly empty tiles.
 * Epilogues run on each final tile: the ISA's fused bias/activation/derivative, or a caller's
 * function (FNN_EP_TILE_FN: the training epoch's optimizer step).
 */
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T
#define EP FNN_CAT(fnn_epilogue_, FNN_SUF)
#define KERN FNN_CAT(fnn_kern_, FNN_SUF)

/* The epilogue of a final block of C: the ISA's fused one, or the caller's tile function (in
   the coordinates of the whole product: a strip's ep carries its offset in row0/col0). */
static inline void FN(finish)(const KERN *kn, const EP *ep, T *c, ptrdiff_t ldc, ptrdiff_t i0,
                              ptrdiff_t j0, ptrdiff_t mr, ptrdiff_t nr)
{
    if (ep->kind == FNN_EP_TILE_FN)
        ep->tile_fn(ep->ctx, c, ldc, ep->row0 + i0, ep->col0 + j0, mr, nr);
    else
        kn->epi(ep, c, ldc, i0, j0, mr, nr);
}

/* One MR x NR tile of C at c (mr x nr of it inside C) from an A sliver and a packed B sliver;
   whole tiles go straight to C, edge tiles through a scratch tile.  ep (NULL unless the tile is
   final) is then applied to it; (i, j) is its top-left element in the block's coordinates.
   A final tile of a single depth block for a tile function never touches C: it goes from the
   scratch tile to the function, which spares writing (and first reading) each line of C,
   e.g. a weight gradient as large as the weights, when only the function consumes it. */
static inline void FN(tile)(const KERN *kn, ptrdiff_t kc, const T *a, ptrdiff_t rsa,
                            ptrdiff_t csa, const T *b, T *c, ptrdiff_t ldc, ptrdiff_t mr,
                            ptrdiff_t nr, int accumulate, const EP *ep, ptrdiff_t i, ptrdiff_t j)
{
    T tile[FNN_MAX_TILE] FNN_ALIGN64;
    const ptrdiff_t NR = kn->nr;
    ptrdiff_t r, q;
    if (ep && ep->kind == FNN_EP_TILE_FN && !accumulate) {
        kn->ukr(kc, a, rsa, csa, b, tile, NR, 0);
        ep->tile_fn(ep->ctx, tile, NR, ep->row0 + i, ep->col0 + j, mr, nr);
        return;
    }
    if (mr == kn->mr && nr == NR) {
        kn->ukr(kc, a, rsa, csa, b, c, ldc, accumulate);
    } else {
        kn->ukr(kc, a, rsa, csa, b, tile, NR, 0);
        for (r = 0; r < mr; ++r) {
            if (accumulate)
                for (q = 0; q < nr; ++q)
                    c[r * ldc + q] += tile[r * NR + q];
            else
                for (q = 0; q < nr; ++q)
                    c[r * ldc + q] = tile[r * NR + q];
        }
    }
    if (ep)
        FN(finish)(kn, ep, c, ldc, i, j, mr, nr);
}

/* The tile (ir, jr) of the packed block (ic, jc) of C: mc x nc, its A and B slivers in Ap, Bp. */
static inline void FN(block_tile)(const KERN *kn, ptrdiff_t kc, const T *Ap, const T *Bp, T *C,
                                  ptrdiff_t ldc, ptrdiff_t ic, ptrdiff_t jc, ptrdiff_t ir,
                                  ptrdiff_t jr, ptrdiff_t mc, ptrdiff_t nc, int accumulate,
                                  const EP *ep)
{
    const ptrdiff_t mr = mc - ir < kn->mr ? mc - ir : kn->mr;
    const ptrdiff_t nr = nc - jr < kn->nr ? nc - jr : kn->nr;
    FN(tile)(kn, kc, Ap + ir * kc, 1, kn->mr, Bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
             mr, nr, accumulate, ep, ic + ir, jc + jr);
}

/* Whether the micro-kernel reads A in place rather than from packed slivers.  It can when A's
   rows or columns are contiguous, and it pays when each A sliver meets only a few B slivers
   (a narrow block of C): packing a sliver (about a cycle per element) costs a quarter of the
   FMAs of the 4 tiles that a block 128 wide makes from it.
   Measured, 2 threads, products of a 784-256-256-10 batch-128 step: X.W 1.16x, D.W^T 1.14x,
   A^T.D 1.0-1.06x faster.  A stride that is a multiple of 4 KiB is left to packing: the
   slivers' lines would crowd one L1 set (A^T.D with 1024 or 2048 rows ran 1.2x slower). */
static int FN(direct_a)(const KERN *kn, ptrdiff_t n, ptrdiff_t rsa, ptrdiff_t csa)
{
    if (n > FNN_DIRECT_A_MAX_SLIVERS * kn->nr)
        return 0;
    if (rsa == 1)
        return (csa * (ptrdiff_t)sizeof(T)) % 4096 != 0;
    return csa == 1 && (rsa * (ptrdiff_t)sizeof(T)) % 4096 != 0;
}

/* Serial blocked GEMM of one sub-block: C[m x n] = A.B (k > 0), then ep on each final tile.
   ep is NULL for a plain store; its bias/aux are already offset to this sub-block. */
static int FN(gemm_block)(const KERN *kn, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A,
                          ptrdiff_t rsa, ptrdiff_t csa, const T *B, ptrdiff_t rsb, ptrdiff_t csb,
                          T *C, ptrdiff_t ldc, const EP *ep)
{
    const ptrdiff_t MR = kn->mr, NR = kn->nr;
    /* equal KC blocks rather than a full ones plus a thin remainder */
    const ptrdiff_t nkb = (k + kn->kc - 1) / kn->kc;
    const ptrdiff_t KC = (k + nkb - 1) / nkb;
    const int direct = FN(direct_a)(kn, n, rsa, csa);
    /* direct: only a partial last sliver of A is packed */
    const ptrdiff_t MC = direct ? MR : m < kn->mc ? (m + MR - 1) / MR * MR : kn->mc;
    const ptrdiff_t NC = n < kn->nc ? (n + NR - 1) / NR * NR : kn->nc;
    T *Ap, *Bp;
    ptrdiff_t jc, pc, ic, jr, ir;

    Ap = (T *)fnn_buffer_get(0, (size_t)MC * (size_t)KC * sizeof(T));
    if (!Ap)
        return FNN_ENOMEM;
    Bp = (T *)fnn_buffer_get(1, (size_t)NC * (size_t)KC * sizeof(T));
    if (!Bp) {
        fnn_buffer_done(0, Ap);
        return FNN_ENOMEM;
    }
    for (jc = 0; jc < n; jc += NC) {
        const ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (pc = 0; pc < k; pc += KC) {
            const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            const int accumulate = pc > 0, last = pc + kc == k;
            kn->pack_b(kc, nc, B + pc * rsb + jc * csb, rsb, csb, Bp);
            if (direct) {
                /* each A sliver in place, in L1 while it meets every B sliver of the panel */
                for (ir = 0; ir < m; ir += MR) {
                    const ptrdiff_t mr = m - ir < MR ? m - ir : MR;
                    const T *a = A + ir * rsa + pc * csa;
                    ptrdiff_t ars = rsa, acs = csa;
                    if (mr < MR) {
                        kn->pack_a(mr, kc, a, rsa, csa, Ap);
                        a = Ap;
                        ars = 1;
                        acs = MR;
                    }
                    for (jr = 0; jr < nc; jr += NR) {
                        const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
                        T *c = C + ir * ldc + jc + jr;
                        FN(tile)(kn, kc, a, ars, acs, Bp + jr * kc, c, ldc, mr, nr, accumulate,
                                 last ? ep : NULL, ir, jc + jr);
                    }
                }
                continue;
            }
            for (ic = 0; ic < m; ic += MC) {
                const ptrdiff_t mc = m - ic < MC ? m - ic : MC;
                kn->pack_a(mc, kc, A + ic * rsa + pc * csa, rsa, csa, Ap);
                if (last && ep && ep->kind == FNN_EP_TILE_FN) {
                    /* the final tiles for a tile function along the rows of C: the caller's
                       matrix of the same shape (the weights it updates) is then read in runs
                       the hardware prefetches, not in 96 short columns of lines at once */
                    for (ir = 0; ir < mc; ir += MR)
                        for (jr = 0; jr < nc; jr += NR)
                            FN(block_tile)(kn, kc, Ap, Bp, C, ldc, ic, jc, ir, jr, mc, nc,
                                           accumulate, ep);
                } else {
                    for (jr = 0; jr < nc; jr += NR)
                        for (ir = 0; ir < mc; ir += MR)
                            FN(block_tile)(kn, kc, Ap, Bp, C, ldc, ic, jc, ir, jr, mc, nc,
                                           accumulate, last ? ep : NULL);
                }
            }
        }
    }
    fnn_buffer_done(1, Bp);
    fnn_buffer_done(0, Ap);
    return FNN_OK;
}

/* C = A.B by a kernel that packs nothing (small-m or narrow: B rows contiguous), then the
   epilogue.  With nt > 1 threads, C is cut into nt ranges of whole units of rows (by_rows) or
   of columns, one per thread. */
static void FN(unpacked)(const KERN *kn, FNN_CAT(fnn_smallmfn_, FNN_SUF) kern, int by_rows,
                         ptrdiff_t unit, int nt, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                         const T *A, ptrdiff_t rsa, ptrdiff_t csa, const T *B, ptrdiff_t rsb,
                         T *C, ptrdiff_t ldc, const EP *epp)
{
    const ptrdiff_t len = by_rows ? m : n, nchunks = (len + unit - 1) / unit;
    if (nt > nchunks)
        nt = (int)nchunks;
    if (nt <= 1) {
        kern(m, n, k, A, rsa, csa, B, rsb, C, ldc);
        if (epp)
            FN(finish)(kn, epp, C, ldc, 0, 0, m, n);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        const int nthr = omp_get_num_threads(), tid = omp_get_thread_num();
        const ptrdiff_t r0 = nchunks * tid / nthr * unit;
        ptrdiff_t r1 = nchunks * (tid + 1) / nthr * unit;
        if (r1 > len)
            r1 = len;
        if (r1 > r0 && by_rows) {
            kern(r1 - r0, n, k, A + r0 * rsa, rsa, csa, B, rsb, C + r0 * ldc, ldc);
            if (epp)
                FN(finish)(kn, epp, C + r0 * ldc, ldc, r0, 0, r1 - r0, n);
        } else if (r1 > r0) {
            kern(m, r1 - r0, k, A, rsa, csa, B + r0, rsb, C + r0, ldc);
            if (epp)
                FN(finish)(kn, epp, C + r0, ldc, 0, r0, m, r1 - r0);
        }
    }
#endif
}

#ifdef _OPENMP
/* Strip t of ntask: whole NR-column slivers when by_cols, else whole MR-row slivers. */
static void FN(strip)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t MR, ptrdiff_t NR, int by_cols,
                      ptrdiff_t ntask, ptrdiff_t t, ptrdiff_t *i0, ptrdiff_t *i1, ptrdiff_t *j0,
                      ptrdiff_t *j1)
{
    if (by_cols) {
        const ptrdiff_t nsl = (n + NR - 1) / NR;
        *i0 = 0;
        *i1 = m;
        *j0 = nsl * t / ntask * NR;
        *j1 = nsl * (t + 1) / ntask * NR;
        if (*j1 > n)
            *j1 = n;
    } else {
        const ptrdiff_t msl = (m + MR - 1) / MR;
        *j0 = 0;
        *j1 = n;
        *i0 = msl * t / ntask * MR;
        *i1 = msl * (t + 1) / ntask * MR;
        if (*i1 > m)
            *i1 = m;
    }
}
#endif

static int FN(check_act)(int act)
{
    return act >= FNN_IDENTITY && act <= FNN_SOFTMAX;
}

int FN(fnn_gemm)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa, ptrdiff_t csa,
                 const T *B, ptrdiff_t rsb, ptrdiff_t csb, T *C, ptrdiff_t ldc, const EP *ep,
                 int n_threads)
{
    EP e;
    const KERN *kn;
    int softmax, smallm, nt, status = FNN_OK;
    double bbytes;
    const EP *epp;

    if (m < 0 || n < 0 || k < 0)
        return FNN_EINVAL;
    if (ep) {
        e = *ep;
    } else {
        memset(&e, 0, sizeof e);
        e.kind = FNN_EP_STORE;
    }
    if (e.kind != FNN_EP_STORE && e.kind != FNN_EP_BIAS_ACT && e.kind != FNN_EP_MUL_DERIV
        && e.kind != FNN_EP_TILE_FN)
        return FNN_EINVAL;
    if ((e.kind == FNN_EP_BIAS_ACT || e.kind == FNN_EP_MUL_DERIV) && !FN(check_act)(e.act))
        return FNN_EINVAL;
    if (e.kind == FNN_EP_TILE_FN && (!e.tile_fn || e.row0 != 0 || e.col0 != 0))
        return FNN_EINVAL;
    if (e.kind == FNN_EP_MUL_DERIV && e.act == FNN_SOFTMAX)
        return FNN_EINVAL;
    if (m == 0 || n == 0)
        return FNN_OK;
    if (!C || (m > 1 && ldc < n))
        return FNN_EINVAL;
    if (k > 0 && (!A || !B))
        return FNN_EINVAL;
    if (e.kind == FNN_EP_MUL_DERIV && (!e.aux || (m > 1 && e.ldaux < n)))
        return FNN_EINVAL;

    kn = &fnn_ctx_current()->FNN_SUF;
    softmax = e.kind == FNN_EP_BIAS_ACT && e.act == FNN_SOFTMAX;
    if (softmax)
        e.act = FNN_IDENTITY;
    /* epp: the per-tile epilogue, NULL when it would do nothing */
    epp = &e;
    if (e.kind == FNN_EP_STORE
        || (e.kind != FNN_EP_TILE_FN && e.act == FNN_IDENTITY
            && !(e.kind == FNN_EP_BIAS_ACT && e.bias)))
        epp = NULL;

#ifdef _OPENMP
    nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    nt = 1;
    (void)n_threads;
#endif
    bbytes = (double)k * (double)n * (double)sizeof(T);
    smallm = csb == 1 && (m <= FNN_SMALLM_MAX
                          || (n >= kn->nr && ((m <= FNN_SMALLM_MAX_M && bbytes <= FNN_SMALLM_MAX_B_BYTES)
                                              || (m <= 4 * FNN_SMALLM_MAX_M && bbytes <= FNN_SMALLM_L1_B_BYTES))));
    if (smallm && m <= FNN_SMALLM_MAX) {
        if ((double)k * (double)n * (double)sizeof(T) < FNN_SMALLM_PAR_MIN_BYTES)
            nt = 1;
    } else if (2.0 * (double)m * (double)n * (double)k < FNN_PAR_MIN_FLOPS) {
        nt = 1;
    }

    if (k > 0 && 2.0 * (double)m * (double)n * (double)k <= FNN_TINY_FLOPS) {
        /* tiny products (the layers of a network like 2-8-2): packing, micro-tiles and threads
           cost more than the arithmetic, so the unpacked kernels on one thread, with B = W^T
           first copied to rows (k * n <= FNN_TINY_FLOPS / 2 elements) */
        T Bt[(int)FNN_TINY_FLOPS / 2];
        if (csb != 1) {
            ptrdiff_t p, j;
            for (p = 0; p < k; ++p)
                for (j = 0; j < n; ++j)
                    Bt[p * n + j] = B[p * rsb + j * csb];
            B = Bt;
            rsb = n;
        }
        (n < kn->nr ? kn->narrow : kn->smallm)(m, n, k, A, rsa, csa, B, rsb, C, ldc);
        if (epp)
            FN(finish)(kn, epp, C, ldc, 0, 0, m, n);
    } else if (k == 0) {
        ptrdiff_t i, j;
        for (i = 0; i < m; ++i)
            for (j = 0; j < n; ++j)
                C[i * ldc + j] = 0;
        if (epp)
            FN(finish)(kn, epp, C, ldc, 0, 0, m, n);
    } else if (smallm) {
        /* column chunks per thread: whole vector blocks */
        FN(unpacked)(kn, kn->smallm, 0, 4 * kn->nr, nt, m, n, k, A, rsa, csa, B, rsb, C, ldc, epp);
    } else if (csb == 1 && n < kn->nr) {
        /* a few columns (an output layer): row blocks of whole vectors, not NR-wide tiles */
        FN(unpacked)(kn, kn->narrow, 1, 8, nt, m, n, k, A, rsa, csa, B, rsb, C, ldc, epp);
    } else if (nt <= 1) {
        status = FN(gemm_block)(kn, m, n, k, A, rsa, csa, B, rsb, csb, C, ldc, epp);
    } else {
#ifdef _OPENMP
        /* Strips along the longer side of C, handed out dynamically so that a thread delayed
           by another process does not hold up the rest.  Each strip packs all of the other
           operand, which costs about 50 flops of time per element packed, i.e. a fraction
           25 * ntask / width of the product: so one strip per thread up to a width of 2048,
           and more (up to 4 per thread) only for wider products, keeping that under ~3%. */
        const int by_cols = n >= m;
        const ptrdiff_t width = by_cols ? n : m;
        const ptrdiff_t nsl = by_cols ? (n + kn->nr - 1) / kn->nr : (m + kn->mr - 1) / kn->mr;
        ptrdiff_t ntask = width / 1024 > nt ? width / 1024 : nt;
        if (ntask > 4 * (ptrdiff_t)nt)
            ntask = 4 * (ptrdiff_t)nt;
        if (ntask > nsl)
            ntask = nsl;
#pragma omp parallel num_threads(nt) reduction(min : status)
        {
            ptrdiff_t t;
#pragma omp for schedule(dynamic, 1)
            for (t = 0; t < ntask; ++t) {
                ptrdiff_t i0, i1, j0, j1;
                FN(strip)(m, n, kn->mr, kn->nr, by_cols, ntask, t, &i0, &i1, &j0, &j1);
                if (i1 > i0 && j1 > j0) {
                    EP es = e;
                    int st;
                    if (es.bias)
                        es.bias += j0;
                    if (es.aux)
                        es.aux += i0 * es.ldaux + j0;
                    es.row0 = i0;
                    es.col0 = j0;
                    st = FN(gemm_block)(kn, i1 - i0, j1 - j0, k, A + i0 * rsa, rsa, csa,
                                        B + j0 * csb, rsb, csb, C + i0 * ldc + j0, ldc,
                                        epp ? &es : NULL);
                    if (st < status)
                        status = st;
                }
            }
        }
#endif
    }
    if (status == FNN_OK && softmax)
        kn->softmax(C, ldc, m, n);
    return status;
}

int FN(fnn_dense_forward)(ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const T *X, const T *W,
                          const T *b, int act, T *out, int n_threads)
{
    EP e;
    memset(&e, 0, sizeof e);
    e.kind = FNN_EP_BIAS_ACT;
    e.act = act;
    e.bias = b;
    return FN(fnn_gemm)(m, n, k, X, k, 1, W, n, 1, out, n, &e, n_threads);
}

int FN(fnn_dense_backward)(ptrdiff_t m, ptrdiff_t n_in, ptrdiff_t n_out, const T *A_prev,
                           const T *W, const T *D, int act_prev, T *dW, T *db, T *D_prev,
                           int n_threads)
{
    int st;
    ptrdiff_t i, j;
    if (m < 0 || n_in < 0 || n_out < 0 || act_prev >= FNN_SOFTMAX)
        return FNN_EINVAL;
    if (n_in > 0 && n_out > 0 && (!W || !dW))
        return FNN_EINVAL;
    if (n_out > 0 && !db)
        return FNN_EINVAL;
    if (m > 0 && ((n_in > 0 && !A_prev) || (n_out > 0 && !D)))
        return FNN_EINVAL;
    if (act_prev >= 0 && m > 0 && n_in > 0 && !D_prev)
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
        /* D_prev = (D . W^T) * act'(A_prev) : B(p,j) = W[j*n_out + p] */
        EP e;
        memset(&e, 0, sizeof e);
        e.kind = FNN_EP_MUL_DERIV;
        e.act = act_prev;
        e.aux = A_prev;
        e.ldaux = n_in;
        st = FN(fnn_gemm)(m, n_in, n_out, D, n_out, 1, W, 1, n_out, D_prev, n_in, &e, n_threads);
    }
    return st;
}

#undef FN
#undef T
#undef EP
#undef KERN
