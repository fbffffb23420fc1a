/* gemm.template.c -- the GEMM driver with its fused epilogue, one type.
 *
 * Design
 * ------
 * #included by gemm.c once per type with FNN_T / FNN_SUF defined.  Goto/BLIS loop nest
 *     jc (NC columns of B/C) > pc (KC of the depth) > ic (MC rows of A/C) > jr (NR) > ir (MR)
 * B's KC x NC panel and A's MC x KC block are packed (from any strides, zero-padded to whole
 * slivers, by the ISA's pack functions) into per-thread buffers; the micro-kernel of the
 * current ISA context computes an MR x NR tile; edge tiles are computed into a scratch tile
 * and copied.  After the last KC block a tile is final, and the epilogue is applied to it right
 * away, while it is in L1.
 *
 * Threads: C is cut into strips (whole NR-column or MR-row slivers) along its longer side, one
 * per thread (more, scheduled dynamically, only for very wide products); each strip is a serial
 * GEMM with the thread's own packing buffers, and a thread that finishes its strip early helps
 * with the others' (steal.template.c).  No element of C is written by two threads at once, and
 * every element is summed in the same order whatever the number of threads, so results do not
 * depend on them.  Below FNN_PAR_MIN_FLOPS one thread is used (a parallel region costs
 * microseconds).
 *
 * A narrow block of C (at most FNN_DIRECT_A_MAX_SLIVERS B slivers) reads A in place instead
 * of packing it, one A sliver against every B sliver in turn (see direct_a).
 * Small m (<= FNN_SMALLM_MAX, B rows contiguous): no packing at all; the small-m kernel
 * streams B once per group of rows (single-sample inference is a matrix-vector product), a large
 * B in two halves of its rows, one per thread (smallm_halves).
 * Fewer columns than NR (B rows contiguous: an output layer of a few classes): the narrow
 * kernel, rows of whole (masked) vectors instead of mostly empty tiles.
 * Epilogues run on each final tile: the ISA's fused bias/activation/derivative, or a caller's
 * function (FNN_EP_TILE_FN: the training epoch's optimizer step).
 */
#include <stdlib.h>
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
   FMAs of the 4 tiles that a block 128 wide makes from it.  A stride that is a multiple of
   4 KiB is left to packing: the slivers' lines would all fall in one L1 set. */
static int FN(direct_a)(const KERN *kn, ptrdiff_t n, ptrdiff_t rsa, ptrdiff_t csa)
{
    if (n > FNN_DIRECT_A_MAX_SLIVERS * kn->nr)
        return 0;
    if (rsa == 1)
        return (csa * (ptrdiff_t)sizeof(T)) % 4096 != 0;
    return csa == 1 && (rsa * (ptrdiff_t)sizeof(T)) % 4096 != 0;
}

/* The row block of C from row ic (mc rows) in the stage (jc, pc) of a blocked GEMM: against
   the packed KC x NC panel of B in Bp, A packed into Ap, or read in place (direct: blocks of
   one sliver, only a partial one packed).  ep: NULL unless the stage is the last in depth. */
static void FN(row_block)(const KERN *kn, int direct, ptrdiff_t ic, ptrdiff_t mc, ptrdiff_t jc,
                          ptrdiff_t nc, ptrdiff_t pc, ptrdiff_t kc, const T *A, ptrdiff_t rsa,
                          ptrdiff_t csa, const T *Bp, T *C, ptrdiff_t ldc, int accumulate,
                          const EP *ep, T *Ap)
{
    const ptrdiff_t MR = kn->mr, NR = kn->nr;
    ptrdiff_t ir, jr;
    if (direct) {
        /* one A sliver in place, in L1 while it meets every B sliver of the panel */
        const T *a = A + ic * rsa + pc * csa;
        ptrdiff_t ars = rsa, acs = csa;
        if (mc < MR) {
            kn->pack_a(mc, kc, a, rsa, csa, Ap);
            a = Ap;
            ars = 1;
            acs = MR;
        }
        for (jr = 0; jr < nc; jr += NR) {
            const ptrdiff_t nr = nc - jr < NR ? nc - jr : NR;
            FN(tile)(kn, kc, a, ars, acs, Bp + jr * kc, C + ic * ldc + jc + jr, ldc, mc, nr,
                     accumulate, ep, ic, jc + jr);
        }
        return;
    }
    kn->pack_a(mc, kc, A + ic * rsa + pc * csa, rsa, csa, Ap);
    if (ep && ep->kind == FNN_EP_TILE_FN) {
        /* the final tiles for a tile function along the rows of C: the caller's matrix of the
           same shape (the weights it updates) is then read in runs the hardware prefetches,
           not in 96 short columns of lines at once */
        for (ir = 0; ir < mc; ir += MR)
            for (jr = 0; jr < nc; jr += NR)
                FN(block_tile)(kn, kc, Ap, Bp, C, ldc, ic, jc, ir, jr, mc, nc, accumulate, ep);
    } else {
        for (jr = 0; jr < nc; jr += NR)
            for (ir = 0; ir < mc; ir += MR)
                FN(block_tile)(kn, kc, Ap, Bp, C, ldc, ic, jc, ir, jr, mc, nc, accumulate, ep);
    }
}

/* the strips' shared stages, which hand out row_block */
#include "steal.template.c"

/* Serial blocked GEMM of one sub-block: C[m x n] = A.B (k > 0), then ep on each final tile.
   ep is NULL for a plain store; its bias/aux are already offset to this sub-block.  With sh,
   the row blocks of each stage are shared with threads that have finished their own strips
   (steal.template.c). */
static int FN(gemm_block)(const KERN *kn, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A,
                          ptrdiff_t rsa, ptrdiff_t csa, const T *B, ptrdiff_t rsb, ptrdiff_t csb,
                          T *C, ptrdiff_t ldc, const EP *ep, FN(steal) *sh)
{
    const ptrdiff_t MR = kn->mr, NR = kn->nr;
    /* equal KC blocks rather than a full ones plus a thin remainder */
    const ptrdiff_t nkb = (k + kn->kc - 1) / kn->kc;
    const ptrdiff_t KC = (k + nkb - 1) / nkb;
    const int direct = FN(direct_a)(kn, n, rsa, csa);
    /* direct: blocks of one sliver, only a partial last one packed */
    const ptrdiff_t MC = direct ? MR : m < kn->mc ? (m + MR - 1) / MR * MR : kn->mc;
    const ptrdiff_t NC = n < kn->nc ? (n + NR - 1) / NR * NR : kn->nc;
    const ptrdiff_t nblk = (m + MC - 1) / MC;
    long long stage = 0;
    T *Ap, *Bp;
    ptrdiff_t jc, pc, ic;

    Ap = (T *)fnn_buffer_get(0, (size_t)MC * (size_t)KC * sizeof(T));
    Bp = Ap ? (T *)fnn_buffer_get(1, (size_t)NC * (size_t)KC * sizeof(T)) : NULL;
    if (!Bp) {
        FN(steal_close)(sh);
        return FNN_ENOMEM;
    }
    sh = FN(steal_open)(sh, kn, direct, m, MC, KC, nblk, A, rsa, csa, C, ldc, Bp);
    for (jc = 0; jc < n; jc += NC) {
        const ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (pc = 0; pc < k; pc += KC) {
            const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            const int accumulate = pc > 0, last = pc + kc == k;
            kn->pack_b(kc, nc, B + pc * rsb + jc * csb, rsb, csb, Bp);
            if (sh)
                FN(steal_stage)(sh, ++stage, jc, nc, pc, kc, accumulate, last ? ep : NULL, Ap);
            else
                for (ic = 0; ic < m; ic += MC)
                    FN(row_block)(kn, direct, ic, m - ic < MC ? m - ic : MC, jc, nc, pc, kc, A,
                                  rsa, csa, Bp, C, ldc, accumulate, last ? ep : NULL, Ap);
        }
    }
    FN(steal_close)(sh);
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

/* Columns [c0, c1) of C = C + P (P: m x n, rows contiguous), then the epilogue on them. */
static void FN(add_half)(const KERN *kn, ptrdiff_t m, ptrdiff_t c0, ptrdiff_t c1, T *C,
                         ptrdiff_t ldc, const T *P, ptrdiff_t n, const EP *epp)
{
    ptrdiff_t i, j;
    for (i = 0; i < m; ++i)
        for (j = c0; j < c1; ++j)
            C[i * ldc + j] += P[i * n + j];
    if (epp && c1 > c0)
        FN(finish)(kn, epp, C + c0, ldc, 0, c0, m, c1 - c0);
}

/* C = A.B for a few rows against a large B (rows contiguous): B's rows in two halves, each
   summed by the small-m kernel on its own (the second into P) and then added, in that order
   whatever the threads.  Two threads then each stream one contiguous half of B, whole rows in
   address order, where a split by columns has each stream a part of every row.  With more
   threads, each half is cut into column ranges of whole vector blocks (unit elements). */
static void FN(halves_part)(const KERN *kn, int half, ptrdiff_t c0, ptrdiff_t c1, ptrdiff_t m,
                            ptrdiff_t n, ptrdiff_t k, ptrdiff_t k0, const T *A, ptrdiff_t rsa,
                            ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc, T *P)
{
    if (c1 <= c0)
        return;
    if (half)
        kn->smallm(m, c1 - c0, k - k0, A + k0 * csa, rsa, csa, B + k0 * rsb + c0, rsb, P + c0,
                   n);
    else
        kn->smallm(m, c1 - c0, k0, A, rsa, csa, B + c0, rsb, C + c0, ldc);
}

/* All of it on the calling thread: both halves, then their sum and the epilogue. */
static void FN(halves_serial)(const KERN *kn, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                              ptrdiff_t k0, const T *A, ptrdiff_t rsa, ptrdiff_t csa, const T *B,
                              ptrdiff_t rsb, T *C, ptrdiff_t ldc, T *P, const EP *epp)
{
    FN(halves_part)(kn, 0, 0, n, m, n, k, k0, A, rsa, csa, B, rsb, C, ldc, P);
    FN(halves_part)(kn, 1, 0, n, m, n, k, k0, A, rsa, csa, B, rsb, C, ldc, P);
    FN(add_half)(kn, m, 0, n, C, ldc, P, n, epp);
}

static int FN(smallm_halves)(const KERN *kn, int nt, ptrdiff_t unit, ptrdiff_t m, ptrdiff_t n,
                             ptrdiff_t k, const T *A, ptrdiff_t rsa, ptrdiff_t csa, const T *B,
                             ptrdiff_t rsb, T *C, ptrdiff_t ldc, const EP *epp)
{
    const ptrdiff_t k0 = k / 16 * 8, nchunks = (n + unit - 1) / unit;
    T *P = (T *)malloc((size_t)m * (size_t)n * sizeof(T));
    if (!P)
        return FNN_ENOMEM;
    if (nt > 2 && nchunks < (ptrdiff_t)nt)
        nt = 2;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            const int nthr = omp_get_num_threads(), tid = omp_get_thread_num();
            if (nthr < 2) { /* the runtime gave one thread */
                FN(halves_serial)(kn, m, n, k, k0, A, rsa, csa, B, rsb, C, ldc, P, epp);
            } else {
                /* half tid % 2, column range tid / 2 of that half's threads */
                const int half = tid % 2, size = (nthr + 1 - half) / 2, r = tid / 2;
                const ptrdiff_t c0 = nchunks * r / size * unit, a0 = nchunks * tid / nthr * unit;
                const ptrdiff_t c1 = nchunks * (r + 1) / size * unit;
                const ptrdiff_t a1 = nchunks * (tid + 1) / nthr * unit;
                FN(halves_part)(kn, half, c0, c1 < n ? c1 : n, m, n, k, k0, A, rsa, csa, B, rsb,
                                C, ldc, P);
#pragma omp barrier
                FN(add_half)(kn, m, a0, a1 < n ? a1 : n, C, ldc, P, n, epp);
            }
        }
        free(P);
        return FNN_OK;
    }
#endif
    FN(halves_serial)(kn, m, n, k, k0, A, rsa, csa, B, rsb, C, ldc, P, epp);
    free(P);
    return FNN_OK;
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

/* Strip t of ntask of C = A.B (k > 0): a serial GEMM of that block (see gemm_block for sh). */
static int FN(strip_gemm)(const KERN *kn, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A,
                          ptrdiff_t rsa, ptrdiff_t csa, const T *B, ptrdiff_t rsb, ptrdiff_t csb,
                          T *C, ptrdiff_t ldc, const EP *epp, int by_cols, ptrdiff_t ntask,
                          ptrdiff_t t, FN(steal) *sh)
{
    ptrdiff_t i0, i1, j0, j1;
    EP es;
    FN(strip)(m, n, kn->mr, kn->nr, by_cols, ntask, t, &i0, &i1, &j0, &j1);
    if (i1 <= i0 || j1 <= j0) {
        if (sh)
            FNN_ASTORE(&sh->fin, 1);
        return FNN_OK;
    }
    if (epp) {
        es = *epp;
        if (es.bias)
            es.bias += j0;
        if (es.aux)
            es.aux += i0 * es.ldaux + j0;
        if (es.zout)
            es.zout += i0 * es.ldz + j0;
        es.row0 = i0;
        es.col0 = j0;
    }
    return FN(gemm_block)(kn, i1 - i0, j1 - j0, k, A + i0 * rsa, rsa, csa, B + j0 * csb, rsb,
                          csb, C + i0 * ldc + j0, ldc, epp ? &es : NULL, sh);
}
#endif

#ifndef FNN_BLAS_OPERAND_ONCE
#define FNN_BLAS_OPERAND_ONCE
#define FNN_BLAS_INT_MAX 2147483647
/* A rows x cols operand whose element (r, c) is at r*rs + c*cs, as a BLAS reads it: the
   column-major cols x rows matrix, transposed (*trans 'N', *ld rs: cs == 1), or the column-major
   rows x cols one (*trans 'T', *ld cs: rs == 1); 0 when it is neither. */
static int fnn_blas_operand(ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t rs, ptrdiff_t cs,
                            char *trans, int *ld)
{
    if (cs == 1 && rs >= cols && rs <= FNN_BLAS_INT_MAX) {
        *trans = 'N';
        *ld = (int)rs;
        return 1;
    }
    if (rs == 1 && cs >= rows && cs <= FNN_BLAS_INT_MAX) {
        *trans = 'T';
        *ld = (int)cs;
        return 1;
    }
    return 0;
}
#endif

/* C = A.B by the BLAS of fnn_set_blas, for the portable context: 1 when done, 0 when there is
   none or an operand is not a BLAS's (fnn_blas_operand), or a size exceeds 32 bits.  Row-major
   C = A.B is column-major C^T = B^T.A^T, so B comes first. */
static int FN(blas_gemm)(const fnn_ctx *ctx, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A,
                         ptrdiff_t rsa, ptrdiff_t csa, const T *B, ptrdiff_t rsb, ptrdiff_t csb,
                         T *C, ptrdiff_t ldc)
{
    const FNN_CAT(fnn_blasfn_, FNN_SUF) gemm = FN(fnn_blas)();
    const T one = 1, zero = 0;
    char ta, tb;
    int im, in, ik, lda, ldb, ldcc;
    if (!gemm || ctx->isa != FNN_ISA_PORTABLE || m > FNN_BLAS_INT_MAX || n > FNN_BLAS_INT_MAX
        || k > FNN_BLAS_INT_MAX || ldc > FNN_BLAS_INT_MAX
        || !fnn_blas_operand(k, n, rsb, csb, &tb, &ldb)
        || !fnn_blas_operand(m, k, rsa, csa, &ta, &lda))
        return 0;
    im = (int)m;
    in = (int)n;
    ik = (int)k;
    ldcc = (int)(ldc > n ? ldc : n);
    gemm(&tb, &ta, &in, &im, &ik, &one, B, &ldb, A, &lda, &zero, C, &ldcc);
    return 1;
}

int FN(fnn_gemm)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa, ptrdiff_t csa,
                 const T *B, ptrdiff_t rsb, ptrdiff_t csb, T *C, ptrdiff_t ldc, const EP *ep,
                 int n_threads)
{
    EP e;
    const fnn_ctx *ctx;
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
    if ((e.kind == FNN_EP_BIAS_ACT || e.kind == FNN_EP_MUL_DERIV) && fnn_act_flags(e.act) < 0)
        return FNN_EINVAL;
    if (e.kind == FNN_EP_TILE_FN && (!e.tile_fn || e.row0 != 0 || e.col0 != 0))
        return FNN_EINVAL;
    /* a derivative, or a Z kept, only for an elementwise activation */
    if ((e.kind == FNN_EP_MUL_DERIV || (e.kind == FNN_EP_BIAS_ACT && e.zout))
        && !(fnn_act_flags(e.act) & FNN_ACT_HIDDEN))
        return FNN_EINVAL;
    if (e.kind != FNN_EP_BIAS_ACT)
        e.zout = NULL;
    if (m == 0 || n == 0)
        return FNN_OK;
    if (!C || (m > 1 && ldc < n))
        return FNN_EINVAL;
    if (k > 0 && (!A || !B))
        return FNN_EINVAL;
    if (e.kind == FNN_EP_MUL_DERIV && (!e.aux || (m > 1 && e.ldaux < n)))
        return FNN_EINVAL;
    if (e.zout && m > 1 && e.ldz < n)
        return FNN_EINVAL;

    ctx = fnn_ctx_current();
    kn = &ctx->FNN_SUF;
    softmax = e.kind == FNN_EP_BIAS_ACT && e.act == FNN_SOFTMAX;
    if (softmax)
        e.act = FNN_IDENTITY;
    /* epp: the per-tile epilogue, NULL when it would do nothing */
    epp = &e;
    if (e.kind == FNN_EP_STORE
        || (e.kind != FNN_EP_TILE_FN && e.act == FNN_IDENTITY
            && !(e.kind == FNN_EP_BIAS_ACT && (e.bias || e.zout))))
        epp = NULL;

    bbytes = (double)k * (double)n * (double)sizeof(T);
    smallm = csb == 1 && (m <= FNN_SMALLM_MAX
                          || (n >= kn->nr && ((m <= FNN_SMALLM_MAX_M && bbytes <= FNN_SMALLM_MAX_B_BYTES)
                                              || (m <= 4 * FNN_SMALLM_MAX_M && bbytes <= FNN_SMALLM_L1_B_BYTES))));
    if (smallm && m <= FNN_SMALLM_MAX)
        nt = bbytes < FNN_SMALLM_PAR_MIN_BYTES ? 1 : fnn_team(n_threads);
    else
        nt = 2.0 * (double)m * (double)n * (double)k < FNN_PAR_MIN_FLOPS ? 1 : fnn_team(n_threads);

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
    } else if (!(smallm && m <= FNN_SMALLM_MAX)
               && FN(blas_gemm)(ctx, m, n, k, A, rsa, csa, B, rsb, csb, C, ldc)) {
        /* on a CPU without a tuned kernel, the BLAS (then the epilogue) for every product but
           the tiny ones and those of a few rows, where a BLAS's gemm is slower than the
           portable small-m kernel */
        if (epp)
            FN(finish)(kn, epp, C, ldc, 0, 0, m, n);
    } else if (smallm && m <= FNN_SMALLM_MAX && bbytes >= FNN_SMALLM_PAR_MIN_BYTES
               && k >= FNN_SMALLM_HALVES_MIN_K) {
        status = FN(smallm_halves)(kn, nt, 4 * kn->nr, m, n, k, A, rsa, csa, B, rsb, C, ldc,
                                   epp);
    } else if (smallm) {
        /* column chunks per thread: whole vector blocks */
        FN(unpacked)(kn, kn->smallm, 0, 4 * kn->nr, nt, m, n, k, A, rsa, csa, B, rsb, C, ldc, epp);
    } else if (csb == 1 && n < kn->nr) {
        /* a few columns (an output layer): row blocks of whole vectors, not NR-wide tiles */
        FN(unpacked)(kn, kn->narrow, 1, 8, nt, m, n, k, A, rsa, csa, B, rsb, C, ldc, epp);
    } else if (nt <= 1) {
        status = FN(gemm_block)(kn, m, n, k, A, rsa, csa, B, rsb, csb, C, ldc, epp, NULL);
    } else {
#ifdef _OPENMP
        /* Strips along the longer side of C.  Each strip packs all of the other operand,
           which costs about 50 flops of time per element packed, i.e. a fraction
           25 * ntask / width of the product: so one strip per thread up to a width of 2048
           (balanced by stealing row blocks), and more (up to 4 per thread, handed out
           dynamically) only for wider products, keeping that under ~3%. */
        const int by_cols = n >= m;
        const ptrdiff_t width = by_cols ? n : m;
        const ptrdiff_t nsl = by_cols ? (n + kn->nr - 1) / kn->nr : (m + kn->mr - 1) / kn->mr;
        ptrdiff_t ntask = width / 1024 > nt ? width / 1024 : nt;
        if (ntask > 4 * (ptrdiff_t)nt)
            ntask = 4 * (ptrdiff_t)nt;
        if (ntask > nsl)
            ntask = nsl;
        FN(steal) sh[FNN_STEAL_MAX > 0 ? FNN_STEAL_MAX : 1];
        memset(sh, 0, sizeof sh);
        /* the most negative status of the strips: OpenMP 2.0 (MSVC) has no min reduction, so
           a failing strip writes it under a critical section (never entered when all is well) */
#pragma omp parallel num_threads(nt)
        {
            const int nthr = omp_get_num_threads(), tid = omp_get_thread_num();
            int st = FNN_OK;
            ptrdiff_t t;
            if (ntask == nthr && nthr <= FNN_STEAL_MAX) {
                /* one strip per thread, and a thread that finishes early takes row blocks of
                   the others' (a strip whose thread another process slowed down) */
                st = FN(strip_gemm)(kn, m, n, k, A, rsa, csa, B, rsb, csb, C, ldc, epp, by_cols,
                                    ntask, tid, &sh[tid]);
                FN(steal_help)(sh, nthr, tid);
            } else {
#pragma omp for schedule(dynamic, 1)
                for (t = 0; t < ntask; ++t) {
                    const int s1 = FN(strip_gemm)(kn, m, n, k, A, rsa, csa, B, rsb, csb, C, ldc,
                                                  epp, by_cols, ntask, t, NULL);
                    if (s1 < st)
                        st = s1;
                }
            }
            if (st != FNN_OK) {
#pragma omp critical(fnn_gemm_status)
                if (st < status)
                    status = st;
            }
        }
#endif
    }
    if (status == FNN_OK && softmax)
        kn->softmax(C, ldc, m, n);
    return status;
}

#undef FN
#undef T
#undef EP
#undef KERN
