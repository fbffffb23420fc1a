/* ukernel_simd.template.c -- register-blocked GEMM micro-kernel and small-m kernel, one type.
 *
 * Design
 * ------
 * #included by kernels_avx2.c and kernels_avx512.c once per type.  The includer defines
 *   FNN_T, FNN_SUF          element type and suffix (f32|f64)
 *   VT, VL                  SIMD vector type and its number of lanes
 *   V_LD(p) V_ST(p,v) V_BC(x) V_FMA(a,b,c) V_ZERO() V_ADD(a,b)   intrinsics for that ISA
 *   UK_MR                   rows of the micro-tile: 6 or 12; the tile is UK_MR x (2*VL)
 *   SM_NV, SM_R             small-m kernel: vectors per column block, rows per pass (<= 4)
 *   NW_R2                   narrow kernel: rows per pass with two vectors per row (8 or 4)
 *   VM V_MASK(cnt) V_LDM(p,m) V_STM(p,m,v)   lane mask of the first cnt lanes, masked load
 *                           and store (masked-off lanes are neither read nor written)
 * Micro-kernel (outer-product form, B rows of 2 vectors, A elements broadcast): UK_MR*2
 * accumulators live in named registers for the whole k loop; C is touched once at the end
 * (stored, or added to when accumulate != 0; never read otherwise, so it may hold NaN).
 * A is read through strides, so the same kernel runs on a packed sliver (rsa 1, csa UK_MR), on
 * a column-major source in place (rsa 1: X^T in dW = X^T.D) and on a row-major one (csa 1:
 * X in X.W), which spares the packing of A when a sliver is used by only a few B slivers.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

#define UK_FMA2(r, x)                                                                              \
    ar = V_BC(x);                                                                                  \
    c##r##_0 = V_FMA(ar, b0, c##r##_0);                                                            \
    c##r##_1 = V_FMA(ar, b1, c##r##_1);
#define UK_DECL(r) VT c##r##_0 = V_ZERO(), c##r##_1 = V_ZERO();
#define UK_STORE(r)                                                                                \
    if (accumulate) {                                                                              \
        V_ST(c + r * ldc, V_ADD(V_LD(c + r * ldc), c##r##_0));                                     \
        V_ST(c + r * ldc + VL, V_ADD(V_LD(c + r * ldc + VL), c##r##_1));                           \
    } else {                                                                                       \
        V_ST(c + r * ldc, c##r##_0);                                                               \
        V_ST(c + r * ldc + VL, c##r##_1);                                                          \
    }

/* k          IN  depth
   a          IN  A sliver: element (r, p) at a[r*rsa + p*csa], r < UK_MR (all rows must exist)
   b          IN  packed B sliver, b[p*2*VL + j]
   c          OUT UK_MR x 2*VL tile, row stride ldc
   accumulate IN  0: c = a.b ; 1: c += a.b */
static void FN(fnn_ukr)(ptrdiff_t k, const T *restrict a, ptrdiff_t rsa, ptrdiff_t csa,
                        const T *restrict b, T *restrict c, ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t p;
    VT ar, b0, b1;
    UK_DECL(0) UK_DECL(1) UK_DECL(2) UK_DECL(3) UK_DECL(4) UK_DECL(5)
#if UK_MR == 12
    UK_DECL(6) UK_DECL(7) UK_DECL(8) UK_DECL(9) UK_DECL(10) UK_DECL(11)
#endif
    /* the C tile is touched only after the k loop: fetch its lines now, while the FMAs run */
    for (p = 0; p < UK_MR; ++p) {
        __builtin_prefetch(c + p * ldc, 1, 3);
        __builtin_prefetch(c + p * ldc + VL, 1, 3);
    }
    if (rsa == 1) {
        /* a step's UK_MR elements are contiguous (packed, or a column-major source) */
        for (p = 0; p < k; ++p) {
            /* 8 steps ahead: the next lines of both slivers, from L2 (closer does not hide the
               latency, farther evicts what is still needed) */
            __builtin_prefetch(a + 8 * csa, 0, 3);
            __builtin_prefetch(b + 16 * VL, 0, 3);
            __builtin_prefetch(b + 17 * VL, 0, 3);
            b0 = V_LD(b);
            b1 = V_LD(b + VL);
            UK_FMA2(0, a[0]) UK_FMA2(1, a[1]) UK_FMA2(2, a[2])
            UK_FMA2(3, a[3]) UK_FMA2(4, a[4]) UK_FMA2(5, a[5])
#if UK_MR == 12
            UK_FMA2(6, a[6]) UK_FMA2(7, a[7]) UK_FMA2(8, a[8])
            UK_FMA2(9, a[9]) UK_FMA2(10, a[10]) UK_FMA2(11, a[11])
#endif
            a += csa;
            b += 2 * VL;
        }
    } else {
        /* rows of A apart by rsa: one pointer per 3 rows, the others at rsa and 2 rsa from it */
        const T *a0 = a, *a3 = a + 3 * rsa;
#if UK_MR == 12
        const T *a6 = a + 6 * rsa, *a9 = a + 9 * rsa;
#endif
        for (p = 0; p < k; ++p) {
            b0 = V_LD(b);
            b1 = V_LD(b + VL);
            UK_FMA2(0, a0[0]) UK_FMA2(1, a0[rsa]) UK_FMA2(2, a0[2 * rsa])
            UK_FMA2(3, a3[0]) UK_FMA2(4, a3[rsa]) UK_FMA2(5, a3[2 * rsa])
            a0 += csa;
            a3 += csa;
#if UK_MR == 12
            UK_FMA2(6, a6[0]) UK_FMA2(7, a6[rsa]) UK_FMA2(8, a6[2 * rsa])
            UK_FMA2(9, a9[0]) UK_FMA2(10, a9[rsa]) UK_FMA2(11, a9[2 * rsa])
            a6 += csa;
            a9 += csa;
#endif
            b += 2 * VL;
        }
    }
    UK_STORE(0) UK_STORE(1) UK_STORE(2) UK_STORE(3) UK_STORE(4) UK_STORE(5)
#if UK_MR == 12
    UK_STORE(6) UK_STORE(7) UK_STORE(8) UK_STORE(9) UK_STORE(10) UK_STORE(11)
#endif
}

/* Block of rows: C[R x NV*VL] = A[R x k] . B[k x NV*VL], B rows contiguous; when masked, the
   last vector holds only the lanes of mlast (the rest of B and C is neither read nor written).
   R, NV and masked are compile-time constants at every call site, so the loops unroll and acc
   stays in registers (R <= 8, NV <= SM_NV). */
static inline __attribute__((always_inline)) void
FN(fnn_rows_blk)(const int R, const int NV, const int masked, ptrdiff_t k, const T *restrict A,
                 ptrdiff_t rsa, ptrdiff_t csa, const T *restrict B, ptrdiff_t rsb,
                 T *restrict C, ptrdiff_t ldc, VM mlast)
{
    VT acc[8][SM_NV], bv[SM_NV];
    ptrdiff_t p;
    int r, v;
    for (r = 0; r < R; ++r)
        for (v = 0; v < NV; ++v)
            acc[r][v] = V_ZERO();
    for (p = 0; p < k; ++p) {
        const T *restrict bp = B + p * rsb;
        for (v = 0; v < NV; ++v)
            bv[v] = masked && v == NV - 1 ? V_LDM(bp + v * VL, mlast) : V_LD(bp + v * VL);
        for (r = 0; r < R; ++r) {
            const VT av = V_BC(A[r * rsa + p * csa]);
            for (v = 0; v < NV; ++v)
                acc[r][v] = V_FMA(av, bv[v], acc[r][v]);
        }
    }
    for (r = 0; r < R; ++r)
        for (v = 0; v < NV; ++v) {
            if (masked && v == NV - 1)
                V_STM(C + r * ldc + v * VL, mlast, acc[r][v]);
            else
                V_ST(C + r * ldc + v * VL, acc[r][v]);
        }
}

static inline __attribute__((always_inline)) void
FN(fnn_smallm_rows)(const int R, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                    ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    ptrdiff_t j = 0;
    const VM all = V_MASK(VL);
    for (; j + SM_NV * VL <= n; j += SM_NV * VL)
        FN(fnn_rows_blk)(R, SM_NV, 0, k, A, rsa, csa, B + j, rsb, C + j, ldc, all);
    for (; j + VL <= n; j += VL)
        FN(fnn_rows_blk)(R, 1, 0, k, A, rsa, csa, B + j, rsb, C + j, ldc, all);
    if (j < n) /* fewer than VL columns left: one masked vector */
        FN(fnn_rows_blk)(R, 1, 1, k, A, rsa, csa, B + j, rsb, C + j, ldc, V_MASK((int)(n - j)));
}

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

static inline __attribute__((always_inline)) void
FN(fnn_narrow_nv)(const int NV, ptrdiff_t m, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                  ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc, VM mlast)
{
    const int RB = NV == 1 ? 8 : NW_R2; /* accumulators + 3 must fit in the registers */
    ptrdiff_t i = 0;
    for (; i + RB <= m; i += RB)
        FN(fnn_rows_blk)(RB, NV, 1, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc, mlast);
    if (m - i >= 4) {
        FN(fnn_rows_blk)(4, NV, 1, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc, mlast);
        i += 4;
    }
    if (m - i >= 2) {
        FN(fnn_rows_blk)(2, NV, 1, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc, mlast);
        i += 2;
    }
    if (m - i >= 1)
        FN(fnn_rows_blk)(1, NV, 1, k, A + i * rsa, rsa, csa, B, rsb, C + i * ldc, ldc, mlast);
}

/* Narrow product (an output layer of a few classes): same contract as fnn_smallm, for
   1 <= n < 2*VL.  An NR-wide micro-tile would waste most of its lanes and a packed B, so each
   row of B is one or two vectors (the last one masked) and up to 8 rows of C are summed per
   pass. */
static void FN(fnn_narrow)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                           ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    if (n <= VL)
        FN(fnn_narrow_nv)(1, m, k, A, rsa, csa, B, rsb, C, ldc, V_MASK((int)n));
    else
        FN(fnn_narrow_nv)(2, m, k, A, rsa, csa, B, rsb, C, ldc, V_MASK((int)(n - VL)));
}

#undef UK_FMA2
#undef UK_DECL
#undef UK_STORE
#undef FN
#undef T
