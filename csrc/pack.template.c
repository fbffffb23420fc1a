/* pack.template.c -- packing of A and B panels into micro-kernel order, one type and ISA.
 *
 * Design
 * ------
 * #included by each kernel translation unit with FNN_T / FNN_SUF and the micro-tile sizes
 * PK_MR, PK_NR as compile-time constants, so the copies vectorise for that unit's ISA (packing
 * is a large share of the time of the small products of a neural network).  Any strides work;
 * the unit-stride cases (row-major, or transposed through the strides) have their own loops.
 * When the includer defines VL / V_LD / V_ST (SIMD units) the row copies use them, and
 * PK_TBLOCK(src, lds, dst, ldd), if defined, transposes a VL x VL block for B = W^T, and
 * PK_TBLOCK_A(src, lds, dst) PK_MR rows of VL columns of a row-major A into a sliver.
 * Partial slivers are zero-padded so the micro-kernel always runs on a whole tile.
 */
#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))
#define T FNN_T

/* Packs the mc x kc block A(i,p) = A[i*rsa + p*csa] into PK_MR-row slivers Ap[s][p*PK_MR + r]. */
static void FN(fnn_pack_a)(ptrdiff_t mc, ptrdiff_t kc, const T *A, ptrdiff_t rsa, ptrdiff_t csa,
                           T *restrict Ap)
{
    ptrdiff_t ir, r, p;
    for (ir = 0; ir < mc; ir += PK_MR, Ap += PK_MR * kc) {
        const ptrdiff_t mr = mc - ir < PK_MR ? mc - ir : PK_MR;
        const T *a = A + ir * rsa;
        if (mr == PK_MR && csa == 1) {
            /* rows contiguous: VL columns at a time transposed in registers where the unit has
               it, then 8 at a time so that each row is read in runs */
            p = 0;
#ifdef PK_TBLOCK_A
            for (; p + VL <= kc; p += VL)
                PK_TBLOCK_A(a + p, rsa, Ap + p * PK_MR);
#endif
            for (; p + 8 <= kc; p += 8) {
                int q;
                for (r = 0; r < PK_MR; ++r)
                    for (q = 0; q < 8; ++q)
                        Ap[(p + q) * PK_MR + r] = a[r * rsa + p + q];
            }
            for (; p < kc; ++p)
                for (r = 0; r < PK_MR; ++r)
                    Ap[p * PK_MR + r] = a[r * rsa + p];
        } else if (mr == PK_MR && rsa == 1) {
            for (p = 0; p < kc; ++p)
                for (r = 0; r < PK_MR; ++r)
                    Ap[p * PK_MR + r] = a[p * csa + r];
        } else {
            for (p = 0; p < kc; ++p) {
                for (r = 0; r < mr; ++r)
                    Ap[p * PK_MR + r] = a[r * rsa + p * csa];
                for (; r < PK_MR; ++r)
                    Ap[p * PK_MR + r] = 0;
            }
        }
    }
}

/* Packs the kc x nc panel B(p,j) = B[p*rsb + j*csb] into PK_NR-column slivers Bp[s][p*PK_NR + j]. */
static void FN(fnn_pack_b)(ptrdiff_t kc, ptrdiff_t nc, const T *B, ptrdiff_t rsb, ptrdiff_t csb,
                           T *restrict Bp)
{
    ptrdiff_t jr, j, p;
    for (jr = 0; jr < nc; jr += PK_NR, Bp += PK_NR * kc) {
        const ptrdiff_t nr = nc - jr < PK_NR ? nc - jr : PK_NR;
        const T *b = B + jr * csb;
        if (nr == PK_NR && csb == 1) {
#ifdef VL
            /* explicit vectors: gcc would turn the plain loop into a memcpy call per row */
            for (p = 0; p < kc; ++p)
                for (j = 0; j < PK_NR; j += VL)
                    V_ST(Bp + p * PK_NR + j, V_LD(b + p * rsb + j));
#else
            for (p = 0; p < kc; ++p)
                for (j = 0; j < PK_NR; ++j)
                    Bp[p * PK_NR + j] = b[p * rsb + j];
#endif
        } else if (nr == PK_NR && rsb == 1) {
            /* columns contiguous (B = W^T): VL x VL blocks transposed in registers where the
               unit has it (PK_TBLOCK: D.W^T products 9-16% faster than with the copy below),
               then 8 rows of B at a time */
            p = 0;
#ifdef PK_TBLOCK
            for (; p + VL <= kc; p += VL)
                for (j = 0; j < PK_NR; j += VL)
                    PK_TBLOCK(b + j * csb + p, csb, Bp + p * PK_NR + j, PK_NR);
#endif
            for (; p + 8 <= kc; p += 8) {
                int q;
                for (j = 0; j < PK_NR; ++j)
                    for (q = 0; q < 8; ++q)
                        Bp[(p + q) * PK_NR + j] = b[j * csb + p + q];
            }
            for (; p < kc; ++p)
                for (j = 0; j < PK_NR; ++j)
                    Bp[p * PK_NR + j] = b[j * csb + p];
        } else {
            for (p = 0; p < kc; ++p) {
                for (j = 0; j < nr; ++j)
                    Bp[p * PK_NR + j] = b[p * rsb + j * csb];
                for (; j < PK_NR; ++j)
                    Bp[p * PK_NR + j] = 0;
            }
        }
    }
}

#undef FN
#undef T
