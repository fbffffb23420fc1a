/* act.template.c -- the activations of fastnn.h's FNN_ACTIVATIONS table, for one type.
 *
 * Design
 * ------
 * #included with FNN_T (float|double), FNN_SUF (f32|f64) and FNN_IS_F64 defined, by
 * epilogue.template.c in every kernel unit (so the loops are auto-vectorised for that unit's
 * ISA) and by loss.c.  The forward and derivative of each activation are written once, in its
 * row of FNN_ACTIVATIONS; the loops below are made from the rows, one loop per activation with
 * the switch outside it, so that each is vectorised.  No libm call is made inside a loop: exp
 * is computed here (Cody-Waite reduction x = n ln2 + r, Taylor polynomial in r, 2^n assembled in
 * the exponent bits), which gcc vectorises; with FNN_USE_FMA the Horner steps use fma().
 *   sigmoid(z) = 1/(1+e) or e/(1+e) with e = exp(-|z|)  (no overflow for any z)
 *   tanh(z)    double: z P(z^2) for |z| < 0.4 (Taylor), else sign(z) (1-t)/(1+t), t = exp(-2|z|)
 *                (the cancellation in 1-t is at most a factor 1.8 there);
 *              float: a rational minimax approximation (no exp), 4e-7 relative
 * The Numba backend (backends/numba/maths.py) computes the same formulas with the same
 * constants.  Accuracy: a few ulp of the type (float: ~3e-7 relative, double: ~1e-15 relative).
 * exp(x) for x below about -87 (float) / -708 (double) returns 0 instead of a subnormal.
 */
#include <math.h>
#include <string.h>

#define FN(name) FNN_CAT(name, FNN_CAT(_, FNN_SUF))

#ifndef FNN_ACT_ONCE
#define FNN_ACT_ONCE
#ifdef FNN_USE_FMA
#define FNN_MADD(a, b, c) fma((a), (b), (c))
#define FNN_MADDF(a, b, c) fmaf((a), (b), (c))
#else
#define FNN_MADD(a, b, c) ((a) * (b) + (c))
#define FNN_MADDF(a, b, c) ((a) * (b) + (c))
#endif

/* the helpers that the rows of FNN_ACTIVATIONS name */
#define FNN_SIGMOID1(z) FN(fnn_sigmoid1)(z)
#define FNN_TANH1(z) FN(fnn_tanh1)(z)

/* the loops and switches made from the rows */
#define FNN_ACT_FWD_LOOP(NAME, code, str, flags, forward, derivative)                            \
    case code:                                                                                   \
        for (j = 0; j < n; ++j) {                                                                \
            const T z = c[j];                                                                    \
            T y;                                                                                 \
            forward;                                                                             \
            c[j] = y;                                                                            \
        }                                                                                        \
        break;
#define FNN_ACT_DER_LOOP(NAME, code, str, flags, forward, derivative)                            \
    case code:                                                                                   \
        for (j = 0; j < n; ++j) {                                                                \
            const T x = xs[j];                                                                   \
            T y;                                                                                 \
            (void)x;                                                                             \
            derivative;                                                                          \
            c[j] = c[j] * y;                                                                     \
        }                                                                                        \
        break;
#define FNN_ACT_FWD_ONE(NAME, code, str, flags, forward, derivative)                             \
    case code: {                                                                                 \
        T y;                                                                                     \
        forward;                                                                                 \
        return y;                                                                                \
    }
#define FNN_ACT_DER_ONE(NAME, code, str, flags, forward, derivative)                             \
    case code: {                                                                                 \
        T y;                                                                                     \
        (void)x;                                                                                 \
        derivative;                                                                              \
        return y;                                                                                \
    }
#endif

#if FNN_IS_F64
#define MADD FNN_MADD
#define FNN_UINT unsigned long long
#define EXP_LO (-708.0)
#define EXP_MAGIC 6755399441055744.0 /* 1.5 * 2^52: adding it rounds to an integer */
#define EXP_BIAS 1023ULL
#define EXP_SHIFT 52
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#else
#define MADD FNN_MADDF
#define FNN_UINT unsigned int
#define EXP_LO (-87.0f)
#define EXP_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define EXP_BIAS 127U
#define EXP_SHIFT 23
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#endif
#define T FNN_T

/* exp(x) for x <= 0 (NaN propagates). */
static inline T FN(fnn_expneg)(T x)
{
    const T xc = x < (T)EXP_LO ? (T)EXP_LO : x;
    const T kf = xc * (T)1.4426950408889634 + (T)EXP_MAGIC;
    const T nf = kf - (T)EXP_MAGIC;
    T r = xc - nf * (T)LN2_HI;
    r = r - nf * (T)LN2_LO;
    FNN_UINT bits;
    memcpy(&bits, &kf, sizeof bits);
    bits = (bits + EXP_BIAS) << EXP_SHIFT; /* low bits of kf hold n; shift them into 2^n */
    T scale;
    memcpy(&scale, &bits, sizeof scale);
    T p;
#if FNN_IS_F64
    p = 1.0 / 6227020800.0;
    p = MADD(p, r, 1.0 / 479001600.0);
    p = MADD(p, r, 1.0 / 39916800.0);
    p = MADD(p, r, 1.0 / 3628800.0);
    p = MADD(p, r, 1.0 / 362880.0);
    p = MADD(p, r, 1.0 / 40320.0);
    p = MADD(p, r, 1.0 / 5040.0);
    p = MADD(p, r, 1.0 / 720.0);
    p = MADD(p, r, 1.0 / 120.0);
    p = MADD(p, r, 1.0 / 24.0);
    p = MADD(p, r, 1.0 / 6.0);
    p = MADD(p, r, 0.5);
    p = MADD(p, r, 1.0);
    p = MADD(p, r, 1.0);
#else
    p = 1.0f / 5040.0f;
    p = MADD(p, r, 1.0f / 720.0f);
    p = MADD(p, r, 1.0f / 120.0f);
    p = MADD(p, r, 1.0f / 24.0f);
    p = MADD(p, r, 1.0f / 6.0f);
    p = MADD(p, r, 0.5f);
    p = MADD(p, r, 1.0f);
    p = MADD(p, r, 1.0f);
#endif
    const T y = p * scale;
    return x < (T)EXP_LO ? (T)0 : y;
}

#if FNN_IS_F64
static inline T FN(fnn_tanh1)(T z)
{
    const T az = z < 0 ? -z : z;
    const T z2 = z * z;
    T p; /* tanh(z)/z - 1 = z2 * P(z2) */
    p = 2.6147711512907546e-06;
    p = MADD(p, z2, -6.451689215655431e-06);
    p = MADD(p, z2, 1.5918905069328964e-05);
    p = MADD(p, z2, -3.927832388331683e-05);
    p = MADD(p, z2, 9.691537956929451e-05);
    p = MADD(p, z2, -0.00023912911424355248);
    p = MADD(p, z2, 0.000590027440945586);
    p = MADD(p, z2, -0.0014558343870513183);
    p = MADD(p, z2, 0.003592128036572481);
    p = MADD(p, z2, -0.008863235529902197);
    p = MADD(p, z2, 0.021869488536155203);
    p = MADD(p, z2, -0.05396825396825397);
    p = MADD(p, z2, 0.13333333333333333);
    p = MADD(p, z2, -0.3333333333333333);
    const T small = MADD(z * z2, p, z);
    const T t = FN(fnn_expneg)((T)-2 * az);
    T big = ((T)1 - t) / ((T)1 + t);
    big = z < 0 ? -big : big;
    return az < (T)0.4 ? small : big;
}
#else
/* float: odd rational minimax approximation on [-7.9, 7.9] (the one of Eigen's
   generic_fast_tanh_float), max relative error 4e-7; no exp, one division.  Beyond |z| = 9,
   where tanh rounds to +-1 in float, exactly +-1: the clamped approximation is a few ulp below
   1 there, which 1 + tanh(u) (gelu's left tail) would turn into values instead of 0. */
static inline T FN(fnn_tanh1)(T z)
{
    const T zc = z > 7.90531110763549805f ? 7.90531110763549805f
                 : (z < -7.90531110763549805f ? -7.90531110763549805f : z);
    const T z2 = zc * zc;
    T p = -2.76076847742355e-16f, q;
    p = MADD(p, z2, 2.00018790482477e-13f);
    p = MADD(p, z2, -8.60467152213735e-11f);
    p = MADD(p, z2, 5.12229709037114e-08f);
    p = MADD(p, z2, 1.48572235717979e-05f);
    p = MADD(p, z2, 6.37261928875436e-04f);
    p = MADD(p, z2, 4.89352455891786e-03f);
    p = p * zc;
    q = 1.19825839466702e-06f;
    q = MADD(q, z2, 1.18534705686654e-04f);
    q = MADD(q, z2, 2.26843463243900e-03f);
    q = MADD(q, z2, 4.89352518554385e-03f);
    {
        const T y = p / q;
        const T az = z < 0 ? -z : z;
        const T one = z < 0 ? -1.0f : 1.0f;
        return az < 0.0004f ? z : (az > 9.0f ? one : y); /* also keeps NaN */
    }
}
#endif

static inline T FN(fnn_sigmoid1)(T z)
{
    const T az = z < 0 ? -z : z;
    const T e = FN(fnn_expneg)(-az);
    const T s = (T)1 / ((T)1 + e);
    return z < 0 ? e * s : s;
}

/* c[j] = act(c[j]) for j < n; softmax (not elementwise) leaves c. */
static void FN(fnn_act_row)(int act, T *restrict c, ptrdiff_t n)
{
    ptrdiff_t j;
    switch (act) {
        FNN_ACTIVATIONS(FNN_ACT_FWD_LOOP)
    }
}

/* c[j] *= act'(xs[j]) for j < n, xs the layer's output A (or its Z, FNN_ACT_NEEDS_Z). */
static void FN(fnn_deriv_row)(int act, T *restrict c, const T *restrict xs, ptrdiff_t n)
{
    ptrdiff_t j;
    switch (act) {
        FNN_ACTIVATIONS(FNN_ACT_DER_LOOP)
    }
}

/* act(z) and act'(x), one element (the loss's pass over the narrow output layer) */
static inline T FN(fnn_act1)(int act, T z)
{
    switch (act) {
        FNN_ACTIVATIONS(FNN_ACT_FWD_ONE)
    }
    return z;
}

static inline T FN(fnn_dact1)(int act, T x)
{
    switch (act) {
        FNN_ACTIVATIONS(FNN_ACT_DER_ONE)
    }
    return (T)1;
}

#undef T
#undef MADD
#undef FNN_UINT
#undef EXP_LO
#undef EXP_MAGIC
#undef EXP_BIAS
#undef EXP_SHIFT
#undef LN2_HI
#undef LN2_LO
#undef FN
