/* ukernel_portable.template.c -- plain C micro-kernel and small-m kernel for one type.
 *
 * Design
 * ------
 * #included by kernels_portable.c with FNN_T / FNN_SUF defined.  Fixed PK_MR x PK_NR tile held
 * in a local array that the compiler keeps in (baseline SIMD) registers; no intrinsics, so this
 * compiles on any C99 compiler and is the reference the SIMD kernels are tested against.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

/* Same contract as fnn_ukr in ukernel_simd.template.c, for a PK_MR x PK_NR tile. */
static void FN(fnn_ukr)(ptrdiff_t k, const T *restrict a, ptrdiff_t rsa, ptrdiff_t csa,
                        const T *restrict b, T *restrict c, ptrdiff_t ldc, int accumulate)
{
    T acc[PK_MR][PK_NR];
    ptrdiff_t p;
    int r, j;
    for (r = 0; r < PK_MR; ++r)
        for (j = 0; j < PK_NR; ++j)
            acc[r][j] = 0;
    for (p = 0; p < k; ++p) {
        for (r = 0; r < PK_MR; ++r) {
            const T ar = a[r * rsa];
            for (j = 0; j < PK_NR; ++j)
                acc[r][j] += ar * b[j];
        }
        a += csa;
        b += PK_NR;
    }
    for (r = 0; r < PK_MR; ++r) {
        T *restrict cr = c + r * ldc;
        if (accumulate)
            for (j = 0; j < PK_NR; ++j)
                cr[j] += acc[r][j];
        else
            for (j = 0; j < PK_NR; ++j)
                cr[j] = acc[r][j];
    }
}

/* Same contract as fnn_smallm in ukernel_simd.template.c: row by row, axpy over B's rows. */
static void FN(fnn_smallm)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *A, ptrdiff_t rsa,
                           ptrdiff_t csa, const T *B, ptrdiff_t rsb, T *C, ptrdiff_t ldc)
{
    ptrdiff_t i, p, j;
    for (i = 0; i < m; ++i) {
        T *restrict ci = C + i * ldc;
        for (j = 0; j < n; ++j)
            ci[j] = 0;
        for (p = 0; p < k; ++p) {
            const T a = A[i * rsa + p * csa];
            const T *restrict bp = B + p * rsb;
            for (j = 0; j < n; ++j)
                ci[j] += a * bp[j];
        }
    }
}

#undef FN
#undef T
