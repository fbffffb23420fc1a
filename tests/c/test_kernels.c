/* test_kernels.c -- the C kernels against naive loops, without Python.
 *
 * Design
 * ------
 * For builds that Python cannot drive: a cross-compiled one run under an emulator (aarch64 under
 * qemu), one by another compiler.  .ci/cross builds it with the sources of csrc/ and runs it.
 * Every micro-kernel family this build has and the CPU runs, float and double, 1 and 2 threads,
 * odd shapes (1x1, primes, deeper than a KC block, narrower than a tile), A and B each plain or
 * transposed, and every epilogue: the plain store, bias + each activation (with and without the
 * layer's Z), and the product times each activation's derivative.  The reference is the product
 * summed in double, then the activation's row of FNN_ACTIVATIONS evaluated in double with libm's
 * tanh and exp; so this checks the tiles, packing, edges, threads and vector epilogues, and the
 * Python tests check the formulas themselves against NumPy.  Each kernel unit also compiles the
 * optimizers' steps: fnn_update of every optimizer row against its rule in double; and the
 * whole-network inference, fnn_predict, against its layers chained.  Exit status 0 when all
 * agree.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastnn.h"
#include "fnn_train.h"

/* ---- the reference: the table's rows in double, with libm ---- */
#define T double
#define FNN_SIGMOID1(z) (1.0 / (1.0 + exp(-(z))))
#define FNN_TANH1(z) tanh(z)
#define REF_FORWARD(NAME, code, str, flags, forward, derivative)                                 \
    case code: {                                                                                 \
        forward;                                                                                 \
        return y;                                                                                \
    }
#define REF_DERIVATIVE(NAME, code, str, flags, forward, derivative)                              \
    case code: {                                                                                 \
        derivative;                                                                              \
        return y;                                                                                \
    }

static double ref_forward(int act, double z)
{
    double y = z;
    switch (act) {
        FNN_ACTIVATIONS(REF_FORWARD)
    default:
        return y;
    }
}

static double ref_derivative(int act, double x)
{
    double y = 1;
    switch (act) {
        FNN_ACTIVATIONS(REF_DERIVATIVE)
    default:
        return y;
    }
}
#undef T

#define ACT_ROW(NAME, code, str, flags, forward, derivative) {code, flags},
static const struct {
    int code, flags;
} ACTS[] = {FNN_ACTIVATIONS(ACT_ROW)};
#define N_ACTS ((int)(sizeof ACTS / sizeof ACTS[0]))

static const int SHAPES[][3] = {/* m, k, n */
                                {1, 1, 1},     {1, 7, 3},     {2, 5, 13},    {3, 1, 17},
                                {5, 33, 10},   {13, 17, 19},  {8, 12, 64},   {37, 41, 43},
                                {64, 100, 12}, {97, 131, 67}, {29, 300, 70}, {6, 600, 25},
                                {131, 37, 260}, {1, 203, 75},  {2, 99, 41},
                                /* a few rows against a B of over 256 KiB: its two halves */
                                {1, 301, 263}, {3, 517, 131}};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

static unsigned long long rng_state = 88172645463325252ULL;
static double uniform(void) /* in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

static long failures, checks;

/* P[m x n] = A[m x k] . B[k x n], summed in double */
static void naive_product(int m, int k, int n, const double *A, const double *B, double *P)
{
    int i, p, j;
    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) {
            double acc = 0;
            for (p = 0; p < k; ++p)
                acc += A[i * k + p] * B[p * n + j];
            P[i * n + j] = acc;
        }
}

/* x[0..n) rounded to float, in place */
static void to_float(int n, double *x)
{
    int i;
    for (i = 0; i < n; ++i)
        x[i] = (float)x[i];
}

/* the expected C[m x n] of one epilogue, from the double product P */
static void expect(int kind, int act, int m, int n, const double *P, const double *bias,
                   const double *aux, double *E, double *EZ)
{
    int i, j;
    for (i = 0; i < m; ++i) {
        for (j = 0; j < n; ++j) {
            const double p = P[i * n + j];
            if (kind == FNN_EP_STORE)
                E[i * n + j] = p;
            else if (kind == FNN_EP_MUL_DERIV)
                E[i * n + j] = p * ref_derivative(act, aux[i * n + j]);
            else {
                EZ[i * n + j] = p + bias[j];
                E[i * n + j] = act == FNN_SOFTMAX ? p + bias[j] : ref_forward(act, p + bias[j]);
            }
        }
        if (kind == FNN_EP_BIAS_ACT && act == FNN_SOFTMAX) {
            double mx = E[i * n], s = 0;
            for (j = 1; j < n; ++j)
                mx = E[i * n + j] > mx ? E[i * n + j] : mx;
            for (j = 0; j < n; ++j)
                s += E[i * n + j] = exp(E[i * n + j] - mx);
            for (j = 0; j < n; ++j)
                E[i * n + j] /= s;
        }
    }
}

/* One step of opt on n parameters w with state m, v (rule of fastnn.h's fnn_update), in double */
static void ref_update(const fnn_optimizer *o, int n, double *w, const double *g, double *m,
                       double *v)
{
    const double t = (double)(o->t + 1);
    int i;
    for (i = 0; i < n; ++i) {
        const double gi = g[i] + (o->kind == FNN_OPT_ADAMW ? 0.0 : o->weight_decay * w[i]);
        if (o->kind == FNN_OPT_SGD) {
            if (o->momentum == 0.0) {
                w[i] -= o->lr * gi;
                continue;
            }
            m[i] = o->momentum * m[i] - o->lr * gi;
            w[i] += o->nesterov ? o->momentum * m[i] - o->lr * gi : m[i];
            continue;
        }
        m[i] = o->beta1 * m[i] + (1 - o->beta1) * gi;
        v[i] = o->beta2 * v[i] + (1 - o->beta2) * gi * gi;
        if (o->kind == FNN_OPT_ADAMW)
            w[i] *= 1 - o->lr * o->weight_decay;
        w[i] -= o->lr / (1 - pow(o->beta1, t)) * m[i]
                / (sqrt(v[i] / (1 - pow(o->beta2, t))) + o->eps);
    }
}

/* the optimizers of the tests: every row of FNN_OPTIMIZERS, SGD with and without momentum */
static const fnn_optimizer OPTS[] = {
    {FNN_OPT_SGD, 0.1, 0.0, 0.0, 0, 0, 0, 0, 0},
    {FNN_OPT_SGD, 0.1, 0.01, 0.9, 0, 0, 0, 0, 0},
    {FNN_OPT_SGD, 0.1, 0.0, 0.9, 1, 0, 0, 0, 0},
    {FNN_OPT_ADAM, 0.01, 0.01, 0, 0, 0.9, 0.999, 1e-8, 4},
    {FNN_OPT_ADAMW, 0.01, 0.01, 0, 0, 0.9, 0.999, 1e-8, 4},
};
#define N_OPTS ((int)(sizeof OPTS / sizeof OPTS[0]))


/* Compare got (type of the build under test, read as double by get) with E: the error allowed
   grows with k, the depth of the sums. */
static void compare(const char *what, int m, int n, int k, double (*get)(const void *, int),
                    const void *got, const double *E, double eps)
{
    const double tol = eps * 8.0 * (k + 16);
    int i;
    for (i = 0; i < m * n; ++i) {
        const double g = get(got, i), e = E[i];
        ++checks;
        if (!(fabs(g - e) <= tol * (1.0 + fabs(e)))) {
            if (failures < 20)
                printf("FAIL %s: element (%d, %d) is %.9g, expected %.9g\n", what, i / n, i % n,
                       g, e);
            ++failures;
            return;
        }
    }
}

static double get_f32(const void *p, int i)
{
    return ((const float *)p)[i];
}

static double get_f64(const void *p, int i)
{
    return ((const double *)p)[i];
}

/* One type: TY the element type, SUF its suffix, EPS its machine epsilon. */
#define TEST_TYPE(TY, SUF, EPS)                                                                  \
    static void test_##SUF(const char *isa, int m, int k, int n, int ta, int tb,                 \
                           const double *A, const double *B, const double *P,                    \
                           const double *bias, const double *aux)                                \
    {                                                                                            \
        TY *a = malloc(sizeof(TY) * m * k), *b = malloc(sizeof(TY) * k * n);                     \
        TY *c = malloc(sizeof(TY) * m * n), *z = malloc(sizeof(TY) * m * n);                     \
        TY *bi = malloc(sizeof(TY) * n), *ax = malloc(sizeof(TY) * m * n);                       \
        double *E = malloc(sizeof(double) * m * n), *EZ = malloc(sizeof(double) * m * n);        \
        const ptrdiff_t rsa = ta ? 1 : k, csa = ta ? m : 1, rsb = tb ? 1 : n, csb = tb ? k : 1; \
        int i, p, j, kind, row, zo, threads;                                                     \
        char what[200];                                                                          \
        for (i = 0; i < m; ++i)                                                                  \
            for (p = 0; p < k; ++p)                                                              \
                a[i * rsa + p * csa] = (TY)A[i * k + p];                                         \
        for (p = 0; p < k; ++p)                                                                  \
            for (j = 0; j < n; ++j)                                                              \
                b[p * rsb + j * csb] = (TY)B[p * n + j];                                         \
        for (j = 0; j < n; ++j)                                                                  \
            bi[j] = (TY)bias[j];                                                                 \
        for (i = 0; i < m * n; ++i)                                                              \
            ax[i] = (TY)aux[i];                                                                  \
        for (kind = FNN_EP_STORE; kind <= FNN_EP_MUL_DERIV; ++kind)                              \
            for (row = 0; row < (kind == FNN_EP_STORE ? 1 : N_ACTS); ++row)                      \
                for (zo = 0; zo < 2; ++zo) {                                                     \
                    const int act = ACTS[row].code;                                              \
                    fnn_epilogue_##SUF ep;                                                       \
                    if (zo && (kind != FNN_EP_BIAS_ACT || act == FNN_SOFTMAX))                   \
                        continue;                                                                \
                    if (kind == FNN_EP_MUL_DERIV && !(ACTS[row].flags & FNN_ACT_HIDDEN))         \
                        continue;                                                                \
                    memset(&ep, 0, sizeof ep);                                                   \
                    ep.kind = kind;                                                              \
                    ep.act = act;                                                                \
                    ep.bias = bi;                                                                \
                    ep.aux = ax;                                                                 \
                    ep.ldaux = n;                                                                \
                    ep.zout = zo ? z : NULL;                                                     \
                    ep.ldz = n;                                                                  \
                    expect(kind, act, m, n, P, bias, aux, E, EZ);                                \
                    for (threads = 1; threads <= 2; ++threads) {                                 \
                        int status;                                                              \
                        for (i = 0; i < m * n; ++i)                                              \
                            c[i] = z[i] = (TY)NAN; /* C is written, never read */                \
                        status = fnn_gemm_##SUF(m, n, k, a, rsa, csa, b, rsb, csb, c, n,         \
                                                kind == FNN_EP_STORE ? NULL : &ep, threads);     \
                        snprintf(what, sizeof what,                                              \
                                 "%s " #SUF " %dx%dx%d A%s B%s kind %d act %d%s, %d thread(s)",  \
                                 isa, m, k, n, ta ? "^T" : "", tb ? "^T" : "", kind, act,        \
                                 zo ? " +Z" : "", threads);                                      \
                        ++checks;                                                                \
                        if (status != FNN_OK) {                                                  \
                            printf("FAIL %s: status %d\n", what, status);                        \
                            ++failures;                                                          \
                            continue;                                                            \
                        }                                                                        \
                        compare(what, m, n, k, get_##SUF, c, E, EPS);                            \
                        if (zo)                                                                  \
                            compare(what, m, n, k, get_##SUF, z, EZ, EPS);                       \
                    }                                                                            \
                }                                                                                \
        free(a);                                                                                 \
        free(b);                                                                                 \
        free(c);                                                                                 \
        free(z);                                                                                 \
        free(bi);                                                                                \
        free(ax);                                                                                \
        free(E);                                                                                 \
        free(EZ);                                                                                \
    }
TEST_TYPE(float, f32, 1.2e-7)
TEST_TYPE(double, f64, 2.3e-16)

/* fnn_update of every optimizer for one type, n parameters, against ref_update from the same
   values (each representable in the type) */
#define TEST_UPDATE(TY, SUF, EPS)                                                                \
    static void test_update_##SUF(const char *isa, int n)                                        \
    {                                                                                            \
        double *w = malloc(sizeof(double) * n), *g = malloc(sizeof(double) * n);                 \
        double *m = malloc(sizeof(double) * n), *v = malloc(sizeof(double) * n);                 \
        TY *tw = malloc(sizeof(TY) * n), *tg = malloc(sizeof(TY) * n);                           \
        TY *tm = malloc(sizeof(TY) * n), *tv = malloc(sizeof(TY) * n);                           \
        char what[200];                                                                          \
        int o, i;                                                                                \
        for (o = 0; o < N_OPTS; ++o) {                                                           \
            for (i = 0; i < n; ++i) {                                                            \
                tw[i] = (TY)uniform();                                                           \
                tg[i] = (TY)uniform();                                                           \
                tm[i] = (TY)uniform();                                                           \
                tv[i] = (TY)fabs(uniform());                                                     \
                w[i] = tw[i];                                                                    \
                g[i] = tg[i];                                                                    \
                m[i] = tm[i];                                                                    \
                v[i] = tv[i];                                                                    \
            }                                                                                    \
            ref_update(&OPTS[o], n, w, g, m, v);                                                 \
            snprintf(what, sizeof what, "%s " #SUF " update, optimizer %d, %d parameters", isa,  \
                     o, n);                                                                      \
            ++checks;                                                                            \
            if (fnn_update_##SUF(&OPTS[o], n, tw, tg, tm, tv) != FNN_OK) {                       \
                printf("FAIL %s: status\n", what);                                               \
                ++failures;                                                                      \
                continue;                                                                        \
            }                                                                                    \
            compare(what, 1, n, 8, get_##SUF, tw, w, EPS);                                       \
            if (OPTS[o].kind != FNN_OPT_SGD || OPTS[o].momentum != 0.0)                          \
                compare(what, 1, n, 8, get_##SUF, tm, m, EPS);                                   \
            if (OPTS[o].kind != FNN_OPT_SGD)                                                     \
                compare(what, 1, n, 8, get_##SUF, tv, v, EPS);                                   \
        }                                                                                        \
        free(w);                                                                                 \
        free(g);                                                                                 \
        free(m);                                                                                 \
        free(v);                                                                                 \
        free(tw);                                                                                \
        free(tg);                                                                                \
        free(tm);                                                                                \
        free(tv);                                                                                \
    }
TEST_UPDATE(float, f32, 1.2e-7)
TEST_UPDATE(double, f64, 2.3e-16)

/* fnn_predict of a 3-layer network against its layers chained by fnn_dense_forward over all the
   rows at once (one block, one row, several blocks shared by 2 threads), and its scan for a
   non-finite row */
#define TEST_PREDICT(TY, SUF, EPS)                                                               \
    static void test_predict_##SUF(const char *isa, int m)                                       \
    {                                                                                            \
        static const ptrdiff_t sizes[4] = {37, 19, 300, 5};                                      \
        static const int acts[3] = {FNN_RELU, FNN_TANH, FNN_SOFTMAX};                            \
        TY *W[3], *b[3], *A[3];                                                                  \
        TY *X = malloc(sizeof(TY) * m * 37), *out = malloc(sizeof(TY) * m * 5);                  \
        double *E = malloc(sizeof(double) * m * 5);                                              \
        ptrdiff_t bad = 0;                                                                       \
        TY saved;                                                                                \
        int l, i, threads, status = FNN_OK;                                                      \
        char what[200];                                                                          \
        for (i = 0; i < m * 37; ++i)                                                             \
            X[i] = (TY)uniform();                                                                \
        for (l = 0; l < 3; ++l) {                                                                \
            W[l] = malloc(sizeof(TY) * sizes[l] * sizes[l + 1]);                                 \
            b[l] = malloc(sizeof(TY) * sizes[l + 1]);                                            \
            A[l] = malloc(sizeof(TY) * m * sizes[l + 1]);                                        \
            for (i = 0; i < sizes[l] * sizes[l + 1]; ++i)                                        \
                W[l][i] = (TY)(uniform() / 3);                                                   \
            for (i = 0; i < sizes[l + 1]; ++i)                                                   \
                b[l][i] = (TY)uniform();                                                         \
            if (status == FNN_OK)                                                                \
                status = fnn_dense_forward_##SUF(m, sizes[l], sizes[l + 1], l ? A[l - 1] : X,    \
                                                 W[l], b[l], acts[l], A[l], NULL, 1);            \
        }                                                                                        \
        for (i = 0; i < m * 5; ++i)                                                              \
            E[i] = A[2][i];                                                                      \
        for (threads = 1; threads <= 2; ++threads) {                                             \
            snprintf(what, sizeof what, "%s " #SUF " predict %d rows, %d thread(s)", isa, m,     \
                     threads);                                                                   \
            ++checks;                                                                            \
            if (status != FNN_OK                                                                 \
                || fnn_predict_##SUF(3, sizes, acts, (const TY *const *)W,                       \
                                     (const TY *const *)b, m, X, out, threads, &bad) != FNN_OK   \
                || bad != -1) {                                                                  \
                printf("FAIL %s: status or non-finite row %ld\n", what, (long)bad);              \
                ++failures;                                                                      \
                continue;                                                                        \
            }                                                                                    \
            compare(what, m, 5, 300, get_##SUF, out, E, EPS);                                    \
            saved = X[(m - 1) * 37 + 36];                                                        \
            X[(m - 1) * 37 + 36] = (TY)NAN; /* the last row's last input */                      \
            ++checks;                                                                            \
            if (fnn_predict_##SUF(3, sizes, acts, (const TY *const *)W, (const TY *const *)b, m, \
                                  X, out, threads, &bad) != FNN_OK || bad < 0 || bad >= m) {     \
                printf("FAIL %s: a NaN input found at row %ld\n", what, (long)bad);              \
                ++failures;                                                                      \
            }                                                                                    \
            X[(m - 1) * 37 + 36] = saved;                                                        \
        }                                                                                        \
        for (l = 0; l < 3; ++l) {                                                                \
            free(W[l]);                                                                          \
            free(b[l]);                                                                          \
            free(A[l]);                                                                          \
        }                                                                                        \
        free(X);                                                                                 \
        free(out);                                                                               \
        free(E);                                                                                 \
    }
TEST_PREDICT(float, f32, 1.2e-7)
TEST_PREDICT(double, f64, 2.3e-16)

#define ISA_ROW(NAME, code, str) {code, str},
static const struct {
    int code;
    const char *name;
} ISAS[] = {FNN_ISAS(ISA_ROW)};

int main(void)
{
    size_t r;
    int s, ta, tb, ran = 0;
    for (r = 0; r < sizeof ISAS / sizeof ISAS[0]; ++r) {
        const char *isa = ISAS[r].name;
        if (!fnn_isa_compiled(ISAS[r].code) || !fnn_cpu_has(ISAS[r].code)) {
            printf("%s: not in this build or not run by this CPU\n", isa);
            continue;
        }
        if (fnn_set_isa(ISAS[r].code) != FNN_OK) {
            printf("FAIL %s: fnn_set_isa\n", isa);
            return 1;
        }
        ++ran;
        for (s = 0; s < 4; ++s) {
            static const int sizes[4] = {1, 7, 33, 257};
            test_update_f32(isa, sizes[s]);
            test_update_f64(isa, sizes[s]);
        }
        for (s = 0; s < 3; ++s) {
            static const int rows[3] = {1, 13, 1500}; /* 1500: several blocks */
            test_predict_f32(isa, rows[s]);
            test_predict_f64(isa, rows[s]);
        }
        for (s = 0; s < N_SHAPES; ++s) {
            const int m = SHAPES[s][0], k = SHAPES[s][1], n = SHAPES[s][2];
            double *A = malloc(sizeof(double) * m * k), *B = malloc(sizeof(double) * k * n);
            double *P = malloc(sizeof(double) * m * n), *bias = malloc(sizeof(double) * n);
            double *aux = malloc(sizeof(double) * m * n);
            int i, j;
            for (i = 0; i < m * k; ++i)
                A[i] = uniform();
            for (i = 0; i < k * n; ++i)
                B[i] = uniform();
            for (j = 0; j < n; ++j)
                bias[j] = uniform();
            for (i = 0; i < m * n; ++i)
                aux[i] = uniform();
            /* the product in double: the reference, rounded as neither type is */
            naive_product(m, k, n, A, B, P);
            for (ta = 0; ta < 2; ++ta)
                for (tb = 0; tb < 2; ++tb)
                    test_f64(isa, m, k, n, ta, tb, A, B, P, bias, aux);
            /* float: the reference from the inputs rounded to float, so that rounding the inputs
               is not counted as the kernel's error */
            to_float(m * k, A);
            to_float(k * n, B);
            to_float(n, bias);
            to_float(m * n, aux);
            naive_product(m, k, n, A, B, P);
            for (ta = 0; ta < 2; ++ta)
                for (tb = 0; tb < 2; ++tb)
                    test_f32(isa, m, k, n, ta, tb, A, B, P, bias, aux);
            free(A);
            free(B);
            free(P);
            free(bias);
            free(aux);
        }
        printf("%s: done\n", isa);
    }
    printf("%ld checks, %ld failures, %d instruction set(s)\n", checks, failures, ran);
    return failures || !ran;
}
