/* ukernel_simd.template.c -- register-blocked GEMM micro-kernel and small-m kernel, one type.
 *
 * Design
 * ------
 * #included by each SIMD kernel unit (kernels_<isa>.c) once per type.  The includer defines
 *   FNN_T, FNN_SUF          element type and suffix (f32|f64)
 *   VT, VL                  SIMD vector type and its number of lanes
 *   V_LD(p) V_ST(p,v) V_BC(x) V_FMA(a,b,c) V_ZERO() V_ADD(a,b)   unaligned load and store,
 *                           broadcast, fused a*b+c, zero, add: all an ISA must provide
 *   UK_MR, UK_NV            the micro-tile: UK_MR rows (1..16) of UK_NV vectors (1..4); its
 *                           UK_MR*UK_NV accumulators, UK_NV vectors of B and a broadcast must fit
 *                           in the vector registers
 *   SM_NV, SM_R             small-m kernel: vectors per column block, rows per pass (<= 4);
 *                           where its SM_R*SM_NV accumulators and SM_NV vectors of B do not fit
 *                           in the registers, whether the spills cost more than the wider block
 *                           gains depends on the unit, so each unit's values are chosen by timing
 *   SM_NV1                  (optional, default SM_NV) vectors per block in passes of one or two
 *                           rows, whole cache lines (64 bytes at least): the kernel walks B down
 *                           one block of columns at a time, so a narrower block has each line of
 *                           B fetched again by the next block, and fewer lines in flight
 *   NW_R2                   narrow kernel: rows per pass with two vectors per row (<= 8)
 * and it instantiates pack.template.c for the tile (PK_MR x PK_NR = UK_MR x UK_NR);
 * and, where the ISA has them, masked loads and stores:
 *   VM V_MASK(cnt) V_LDM(p,m) V_STM(p,m,v)   the mask of the first cnt lanes, a load of those
 *                           lanes (the others zero) and a store of those lanes; masked-off lanes
 *                           are neither read nor written.  Without them (NEON, say) the template
 *                           passes a partial vector through a buffer on the stack.
 * Nothing here is specific to one ISA or compiler: the accumulators are arrays indexed by
 * compile-time constants, which the compiler keeps in registers once the loops are unrolled.
 * Micro-kernel (outer-product form, B rows of UK_NV vectors, A elements broadcast): the
 * accumulators live in registers for the whole k loop; C is touched once at the end (stored, or
 * added to when accumulate != 0; never read otherwise, so it may hold NaN).
 * A is read through strides, so the same kernel runs on a packed sliver (rsa 1, csa UK_MR), on
 * a column-major source in place (rsa 1: X^T in dW = X^T.D) and on a row-major one (csa 1:
 * X in X.W), which spares the packing of A when a sliver is used by only a few B slivers.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T
#define UK_NR (UK_NV * VL)
#ifndef SM_NV1
#define SM_NV1 SM_NV
#define UK_OWN_SM_NV1 /* defined here: undefined at the end */
#endif
#define UK_MAX2(a, b) ((a) > (b) ? (a) : (b))
#define UK_MAXV UK_MAX2(UK_MAX2(SM_NV, SM_NV1), UK_NV) /* the widest block of fnn_rows_blk */
/* the driver passes edge tiles through a scratch tile of FNN_MAX_TILE elements */
typedef char FN(fnn_tile_fits)[UK_MR * UK_NR <= FNN_MAX_TILE ? 1 : -1];

#ifndef V_LDM
#define UK_BUFFERED_MASK 1
#define VM int
#define V_MASK(cnt) (cnt)
#define V_LDM(p, m) FN(fnn_ldn)((p), (m))
#define V_STM(p, m, v) FN(fnn_stn)((p), (m), (v))
static FNN_INLINE VT FN(fnn_ldn)(const T *p, int n)
{
    T buf[VL];
    int j;
    for (j = 0; j < VL; ++j)
        buf[j] = j < n ? p[j] : (T)0;
    return V_LD(buf);
}
static FNN_INLINE void FN(fnn_stn)(T *p, int n, VT v)
{
    T buf[VL];
    int j;
    V_ST(buf, v);
    for (j = 0; j < n; ++j)
        p[j] = buf[j];
}
#endif

/* k          IN  depth
   a          IN  A sliver: element (r, p) at a[r*rsa + p*csa], r < UK_MR (all rows must exist)
   b          IN  packed B sliver, b[p*UK_NR + j]
   c          OUT UK_MR x UK_NR tile, row stride ldc
   accumulate IN  0: c = a.b ; 1: c += a.b */
static void FN(fnn_ukr)(ptrdiff_t k, const T *restrict a, ptrdiff_t rsa, ptrdiff_t csa,
                        const T *restrict b, T *restrict c, ptrdiff_t ldc, int accumulate)
{
    VT acc[UK_MR][UK_NV], bv[UK_NV];
    ptrdiff_t p;
    int r, v;
    FNN_UNROLL
    for (r = 0; r < UK_MR; ++r) {
        FNN_UNROLL
        for (v = 0; v < UK_NV; ++v)
            acc[r][v] = V_ZERO();
    }
    /* the C tile is touched only after the k loop: fetch its lines now, while the FMAs run */
    for (r = 0; r < UK_MR; ++r)
        for (v = 0; v < UK_NV; ++v)
            FNN_PREFETCH(c + r * ldc + v * VL, 1);
    if (rsa == 1) {
        /* a step's UK_MR elements are contiguous (packed, or a column-major source) */
        for (p = 0; p < k; ++p) {
            /* 8 steps ahead: the next lines of both slivers, from L2 (closer does not hide the
               latency, farther evicts what is still needed) */
            FNN_PREFETCH(a + 8 * csa, 0);
            FNN_UNROLL
            for (v = 0; v < UK_NV; ++v) {
                FNN_PREFETCH(b + 8 * UK_NR + v * VL, 0);
                bv[v] = V_LD(b + v * VL);
            }
            FNN_UNROLL
            for (r = 0; r < UK_MR; ++r) {
                const VT ar = V_BC(a[r]);
                FNN_UNROLL
                for (v = 0; v < UK_NV; ++v)
                    acc[r][v] = V_FMA(ar, bv[v], acc[r][v]);
            }
            a += csa;
            b += UK_NR;
        }
    } else {
        /* rows of A apart by rsa: one pointer per 3 rows, the others at rsa and 2 rsa from it,
           so each element is a pointer plus a scaled index, without a register per row */
        const T *ag[(UK_MR + 2) / 3];
        FNN_UNROLL
        for (r = 0; r < (UK_MR + 2) / 3; ++r)
            ag[r] = a + 3 * r * rsa;
        for (p = 0; p < k; ++p) {
            FNN_UNROLL
            for (v = 0; v < UK_NV; ++v)
                bv[v] = V_LD(b + v * VL);
            FNN_UNROLL
            for (r = 0; r < UK_MR; ++r) {
                const VT ar = V_BC(ag[r / 3][(r % 3) * rsa]);
                FNN_UNROLL
                for (v = 0; v < UK_NV; ++v)
                    acc[r][v] = V_FMA(ar, bv[v], acc[r][v]);
            }
            FNN_UNROLL
            for (r = 0; r < (UK_MR + 2) / 3; ++r)
                ag[r] += csa;
            b += UK_NR;
        }
    }
    if (accumulate) {
        FNN_UNROLL
        for (r = 0; r < UK_MR; ++r) {
            FNN_UNROLL
            for (v = 0; v < UK_NV; ++v)
                V_ST(c + r * ldc + v * VL, V_ADD(V_LD(c + r * ldc + v * VL), acc[r][v]));
        }
    } else {
        FNN_UNROLL
        for (r = 0; r < UK_MR; ++r) {
            FNN_UNROLL
            for (v = 0; v < UK_NV; ++v)
                V_ST(c + r * ldc + v * VL, acc[r][v]);
        }
    }
}

/* Block of rows: C[R x NV*VL] = A[R x k] . B[k x NV*VL], B rows contiguous; when masked, the
   last vector holds only the lanes of mlast (the rest of B and C is neither read nor written).
   R, NV and masked are compile-time constants at every call site, so the loops unroll and acc
   stays in registers (R <= 8, NV <= UK_MAXV).
   A block of few rows has few accumulators, and each k step's FMA waits for the previous one on
   the same accumulator (4 cycles or so) instead of issuing every cycle: with fewer than 8 it
   keeps KS sets that take turns along k (KS = 2 or 4), summed in a fixed order at the end, so
   that one sample's layer (m = 1) runs at the FMA rate rather than the FMA latency. */
#define FNN_KSETS(R, NV) ((R) * (NV) >= 8 ? 1 : (R) * (NV) >= 4 ? 2 : 4)
/* one k step of fnn_rows_blk into the accumulator set acc: row p of B against column p of A */
static FNN_INLINE void
FN(fnn_rows_step)(const int R, const int NV, const int masked, ptrdiff_t p, const T *restrict A,
                  ptrdiff_t rsa, ptrdiff_t csa, const T *restrict B, ptrdiff_t rsb, VM mlast,
                  VT acc[8][UK_MAXV])
{
    const T *restrict bp = B + p * rsb;
    VT bv[UK_MAXV];
    int r, v;
    for (v = 0; v < NV; ++v)
        bv[v] = masked && v == NV - 1 ? V_LDM(bp + v * VL, mlast) : V_LD(bp + v * VL);
    for (r = 0; r < R; ++r) {
        const VT av = V_BC(A[r * rsa + p * csa]);
        for (v = 0; v < NV; ++v)
            acc[r][v] = V_FMA(av, bv[v], acc[r][v]);
    }
}

/* The block over B's rows [p0, p1) of k: its KS accumulator sets start at zero (p0 == 0) or
   come from S, and go back to S, or (p1 == k) are summed and written to C.  S (when p0 > 0 or
   p1 < k) holds the block's KS x R x NV vectors.  Steps p < kfull take turns among the sets and
   the rest go to set 0, so the sums are the same however k is cut into ranges (multiples of
   KS). */
static FNN_INLINE void
FN(fnn_rows_blk)(const int R, const int NV, const int masked, ptrdiff_t p0, ptrdiff_t p1,
                 ptrdiff_t k, const T *restrict A, ptrdiff_t rsa, ptrdiff_t csa,
                 const T *restrict B, ptrdiff_t rsb, T *restrict C, ptrdiff_t ldc, VM mlast,
                 T *restrict S)
{
    const int KS = FNN_KSETS(R, NV);
    const ptrdiff_t kfull = k / KS * KS, pe = p1 < kfull ? p1 : kfull;
    VT acc[4][8][UK_MAXV];
    ptrdiff_t p;
    int r, v, s;
    for (s = 0; s < KS; ++s)
        for (r = 0; r < R; ++r)
            for (v = 0; v < NV; ++v)
                acc[s][r][v] = p0 ? V_LD(S + ((s * R + r) * NV + v) * VL) : V_ZERO();
    for (p = p0; p < pe; p += KS)
        for (s = 0; s < KS; ++s)
            FN(fnn_rows_step)(R, NV, masked, p + s, A, rsa, csa, B, rsb, mlast, acc[s]);
    for (p = pe > p0 ? pe : p0; p < p1; ++p)
        FN(fnn_rows_step)(R, NV, masked, p, A, rsa, csa, B, rsb, mlast, acc[0]);
    if (p1 < k) {
        for (s = 0; s < KS; ++s)
            for (r = 0; r < R; ++r)
                for (v = 0; v < NV; ++v)
                    V_ST(S + ((s * R + r) * NV + v) * VL, acc[s][r][v]);
        return;
    }
    for (s = 1; s < KS; ++s)
        for (r = 0; r < R; ++r)
            for (v = 0; v < NV; ++v)
                acc[0][r][v] = V_ADD(acc[0][r][v], acc[s][r][v]);
    for (r = 0; r < R; ++r)
        for (v = 0; v < NV; ++v) {
            if (masked && v == NV - 1)
                V_STM(C + r * ldc + v * VL, mlast, acc[0][r][v]);
            else
                V_ST(C + r * ldc + v * VL, acc[0][r][v]);
        }
}
#undef FNN_KSETS

#ifdef UK_BUFFERED_MASK
/* C[R x cols] = A[R x k] . B[k x cols] for the last cols < VL columns of a small-m product, on
   an ISA without masked loads: a partial vector through a buffer would cost a store-forwarding
   stall every k step, so scalar sums, a column at a time, in 4 sets along k (as fnn_rows_blk) */
static FNN_INLINE void
FN(fnn_rows_tail)(const int R, ptrdiff_t cols, ptrdiff_t k, const T *restrict A, ptrdiff_t rsa,
                  ptrdiff_t csa, const T *restrict B, ptrdiff_t rsb, T *restrict C, ptrdiff_t ldc)
{
    ptrdiff_t q, p;
    int r, s;
    for (q = 0; q < cols; ++q) {
        T acc[4][4] = {{0}};
        for (p = 0; p + 4 <= k; p += 4)
            for (s = 0; s < 4; ++s)
                for (r = 0; r < R; ++r)
                    acc[s][r] += A[r * rsa + (p + s) * csa] * B[(p + s) * rsb + q];
        for (; p < k; ++p)
            for (r = 0; r < R; ++r)
                acc[0][r] += A[r * rsa + p * csa] * B[p * rsb + q];
        for (r = 0; r < R; ++r)
            C[r * ldc + q] = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
    }
}
#endif

/* The small-m kernel's traversal.  B is walked in ranges of SM_KB rows and, within a range,
   one block of columns after another, the blocks' sums kept in S between ranges: so B streams
   through the caches nearly in address order, a few rows at a time, which the hardware prefetches
   well.  Walking down one block of columns over all of k instead visits a short run of each row
   at a stride of a row, and lets the prefetchers fall behind.  The columns go in groups of at
   most SM_SBW (S's size); a group's width is a multiple of every block's. */
#define SM_KB 8     /* a multiple of every FNN_KSETS */
#define SM_SBW 256  /* a multiple of SM_NV1 * VL and SM_NV * VL */
#define SM_SPB 12   /* the most accumulator sets x rows of a block (FNN_KSETS(3, 1) * 3) */
typedef char FN(fnn_group_fits)[SM_SBW % (SM_NV1 * VL) == 0 && SM_SBW % (SM_NV * VL) == 0
                                    ? 1 : -1];
static FNN_INLINE void
FN(fnn_smallm_rows)(const int R, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                    ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    T S[SM_SPB * SM_SBW] FNN_ALIGN64;
    const VM all = V_MASK(VL);
    ptrdiff_t j0, j, p0;
    for (j0 = 0; j0 < n; j0 += SM_SBW) {
        const ptrdiff_t je = n - j0 < SM_SBW ? n : j0 + SM_SBW;
        for (p0 = 0; p0 < k; p0 += SM_KB) {
            const ptrdiff_t p1 = k - p0 < SM_KB ? k : p0 + SM_KB;
            j = j0;
            if (R <= 2)
                for (; j + SM_NV1 * VL <= je; j += SM_NV1 * VL)
                    FN(fnn_rows_blk)(R, SM_NV1, 0, p0, p1, k, A, rsa, csa, B + j, rsb, C + j,
                                     ldc, all, S + (j - j0) * SM_SPB);
            for (; j + SM_NV * VL <= je; j += SM_NV * VL)
                FN(fnn_rows_blk)(R, SM_NV, 0, p0, p1, k, A, rsa, csa, B + j, rsb, C + j, ldc,
                                 all, S + (j - j0) * SM_SPB);
            for (; j + VL <= je; j += VL)
                FN(fnn_rows_blk)(R, 1, 0, p0, p1, k, A, rsa, csa, B + j, rsb, C + j, ldc, all,
                                 S + (j - j0) * SM_SPB);
#ifndef UK_BUFFERED_MASK
            if (j < je) /* fewer than VL columns left: one masked vector */
                FN(fnn_rows_blk)(R, 1, 1, p0, p1, k, A, rsa, csa, B + j, rsb, C + j, ldc,
                                 V_MASK((int)(je - j)), S + (j - j0) * SM_SPB);
#endif
        }
    }
#ifdef UK_BUFFERED_MASK
    /* the last fewer than VL columns, in scalars over all of k */
    j = n / VL * VL;
    if (j < n)
        FN(fnn_rows_tail)(R, n - j, k, A, rsa, csa, B + j, rsb, C + j, ldc);
#endif
}
#undef SM_KB
#undef SM_SBW
#undef SM_SPB

/* m, n, k IN sizes (any m; called for small m)
   A       IN  A[i*rsa + p*csa]
   B       IN  B[p*rsb + j], rows contiguous
   C       OUT C[i*ldc + j] = (A.B)(i,j), written, never read */
static void FN(fnn_smallm)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                           ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    ptrdiff_t i = 0;
    for (; i + SM_R <= m; i += SM_R)
        FN(fnn_smallm_rows)(SM_R, n, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc);
    switch (m - i) {
    case 3:
        FN(fnn_smallm_rows)(3, n, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc);
        break;
    case 2:
        FN(fnn_smallm_rows)(2, n, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc);
        break;
    case 1:
        FN(fnn_smallm_rows)(1, n, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc);
        break;
    default:
        break;
    }
}

static FNN_INLINE void
FN(fnn_narrow_nv)(const int NV, ptrdiff_t m, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                  ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc, VM mlast)
{
    /* rows per pass: their NV accumulators each, NV vectors of B and a broadcast must fit in
       the registers */
    const int RB = NV == 1 ? 8 : NV == 2 ? NW_R2 : 4;
    ptrdiff_t i = 0;
    for (; i + RB <= m; i += RB)
        FN(fnn_rows_blk)(RB, NV, 1, 0, k, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc,
                         mlast, NULL);
    if (m - i >= 4) {
        FN(fnn_rows_blk)(4, NV, 1, 0, k, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc,
                         mlast, NULL);
        i += 4;
    }
    if (m - i >= 2) {
        FN(fnn_rows_blk)(2, NV, 1, 0, k, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc,
                         mlast, NULL);
        i += 2;
    }
    if (m - i >= 1)
        FN(fnn_rows_blk)(1, NV, 1, 0, k, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc,
                         mlast, NULL);
}

/* Narrow product (an output layer of a few classes): same contract as fnn_smallm, for
   1 <= n < UK_NR.  An NR-wide micro-tile would waste most of its lanes and a packed B, so each
   row of B is up to UK_NV vectors (the last one masked) and up to 8 rows of C are summed per
   pass. */
static void FN(fnn_narrow)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                           ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    const int nv = (int)((n + VL - 1) / VL);
    const VM last = V_MASK((int)(n - (nv - 1) * VL));
    switch (nv) { /* a constant NV per case, for fnn_rows_blk to unroll */
    case 1:
        FN(fnn_narrow_nv)(1, m, k, A, rsa, csa, B, rsb, C, ldc, last);
        break;
#if UK_NV > 1
    case 2:
        FN(fnn_narrow_nv)(2, m, k, A, rsa, csa, B, rsb, C, ldc, last);
        break;
#endif
#if UK_NV > 2
    case 3:
        FN(fnn_narrow_nv)(3, m, k, A, rsa, csa, B, rsb, C, ldc, last);
        break;
#endif
#if UK_NV > 3
    case 4:
        FN(fnn_narrow_nv)(4, m, k, A, rsa, csa, B, rsb, C, ldc, last);
        break;
#endif
    default: /* n >= UK_NR: not a narrow product */
        break;
    }
}

#ifdef UK_BUFFERED_MASK
#undef UK_BUFFERED_MASK
#undef VM
#undef V_MASK
#undef V_LDM
#undef V_STM
#endif
#undef FN
#undef T

/* the packing routines for this tile (PK_TBLOCK / PK_TBLOCK_A, if the includer defined them, are
   its transposes) */
#define PK_MR UK_MR
#define PK_NR UK_NR
#include "pack.template.c"
#undef PK_MR
#undef PK_NR
#undef UK_NR
#undef UK_MAXV
#undef UK_MAX2
#ifdef UK_OWN_SM_NV1
#undef SM_NV1
#undef UK_OWN_SM_NV1
#endif
