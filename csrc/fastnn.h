/* fastnn.h -- public C API of the fastnn kernels (plain C99, no Python headers).
 *
 * Design
 * ------
 * Every entry point returns an int status (FNN_OK or a negative FNN_E* code) and never aborts.
 * Sizes and strides are ptrdiff_t.  Matrices are addressed through element strides, so the three
 * products of a dense layer (X.W, D.W^T, A_prev^T.D) are all one GEMM with different strides and
 * no transpose is ever materialised.  The GEMM applies a fused "epilogue" (bias + activation, or
 * multiplication by an activation derivative) to each output tile while it is still in cache.
 *
 * Threads: n_threads is the most a call uses, n_threads <= 0 the OpenMP default
 * (omp_get_max_threads() in the calling thread); calls running at the same time share the CPU
 * budget (fnn_set_cpu_budget), and problems below a measured size run on one thread (threads.c).
 * Results do not depend on the number of threads.
 * All functions are thread-safe (they may be called concurrently from several threads).
 * Packing buffers are cached per thread and grown on demand; fnn_release_buffers() frees them.
 */
#ifndef FASTNN_H
#define FASTNN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every code that Python passes or receives is listed once, here, as X-macro rows
   X(NAME, code, "python name"[, property]); the enums below and the tables of codes.c are made
   from them, fastnn._ckernels.CODES hands the tables to Python, and tests/test_codes.py checks
   the Python tables (ACTIVATIONS, LOSSES, the optimizers) against them. */

/* Statuses: every entry point returns FNN_OK or one of the negative codes. */
#define FNN_STATUSES(X)                                                                          \
    X(OK, 0, "ok")                                                                               \
    X(EINVAL, -1, "invalid argument")                                                            \
    X(ENOMEM, -2, "out of memory")                                                               \
    X(EISA, -3, "instruction set not supported by this CPU")                                     \
    X(EDIVERGED, -4, "diverged")                                                                 \
    X(EDIVERGED_APPLIED, -5, "diverged, partly applied")
/* Activations: X(NAME, code, "python name", flags, forward, derivative).
   flags: FNN_ACT_HIDDEN: elementwise, so allowed in hidden layers and in the delta recursion
   (softmax is for the output layer only); FNN_ACT_NEEDS_Z: the derivative is written from the
   layer's input z rather than its output a (the output of a function that is not monotone does
   not determine z), so training keeps that layer's Z beside A.
   forward is a statement setting y = act(z); derivative one setting y = act'(x), with x = a, or
   x = z under FNN_ACT_NEEDS_Z.  Both are in the element type T and are expanded only inside the
   kernels (act.template.c, which defines the FNN_*1 helpers they name); softmax, which is not
   elementwise, is computed apart and has neither. */
#define FNN_ACTIVATIONS(X)                                                                       \
    X(IDENTITY, 0, "identity", FNN_ACT_HIDDEN, y = z, y = (T)1)                                  \
    X(RELU, 1, "relu", FNN_ACT_HIDDEN, y = z < 0 ? (T)0 : z, y = x > 0 ? (T)1 : (T)0)            \
    X(SIGMOID, 2, "sigmoid", FNN_ACT_HIDDEN, y = FNN_SIGMOID1(z), y = x * ((T)1 - x))            \
    X(TANH, 3, "tanh", FNN_ACT_HIDDEN, y = FNN_TANH1(z), y = (T)1 - x * x)                       \
    X(STEP, 4, "step", FNN_ACT_HIDDEN, y = z > 0 ? (T)1 : (T)0, y = (T)0)                       \
    X(SOFTMAX, 5, "softmax", 0, y = z, y = x)                                                    \
    X(LEAKY_RELU, 6, "leaky_relu", FNN_ACT_HIDDEN, y = z < 0 ? (T)0.01 * z : z,                  \
      y = x > 0 ? (T)1 : (T)0.01)                                                                \
    X(GELU, 7, "gelu", FNN_ACT_HIDDEN | FNN_ACT_NEEDS_Z,                                         \
      { const T t = FNN_TANH1((T)0.7978845608028654 * (z + (T)0.044715 * z * z * z));           \
        y = (T)0.5 * z * ((T)1 + t); },                                                          \
      { const T t = FNN_TANH1((T)0.7978845608028654 * (x + (T)0.044715 * x * x * x));           \
        y = (T)0.5 * ((T)1 + t)                                                                  \
            + (T)0.5 * x * ((T)1 - t * t) * (T)0.7978845608028654 * ((T)1 + (T)0.134145 * x * x); })
enum { FNN_ACT_HIDDEN = 1, FNN_ACT_NEEDS_Z = 2 };
/* Losses (fnn_loss.h). */
#define FNN_LOSSES(X)                                                                            \
    X(MSE, 0, "mse")                                                                             \
    X(BCE, 1, "binary_cross_entropy")                                                            \
    X(CE, 2, "cross_entropy")
/* Optimizers (fnn_optimizer below): X(NAME, code, "python name", moments), moments the state
   buffers a parameter needs: 1 = m only (SGD's velocity, NULL when momentum is 0), 2 = m and v
   (Adam's first and second moments).  The rule of each is its case in optim.c / optim.template.c. */
#define FNN_OPTIMIZERS(X)                                                                        \
    X(SGD, 0, "sgd", 1)                                                                          \
    X(ADAM, 1, "adam", 2)                                                                        \
    X(ADAMW, 2, "adamw", 2)
/* Micro-kernel families (isa.c). */
#define FNN_ISAS(X)                                                                              \
    X(PORTABLE, 0, "portable")                                                                   \
    X(AVX2, 1, "avx2")                                                                           \
    X(AVX512, 2, "avx512")                                                                       \
    X(NEON, 3, "neon")

#define FNN_ENUM_STATUS(name, code, str) FNN_##name = code,
#define FNN_ENUM_ACT(name, code, str, flags, forward, derivative) FNN_##name = code,
#define FNN_ENUM_LOSS(name, code, str) FNN_LOSS_##name = code,
#define FNN_ENUM_OPT(name, code, str, moments) FNN_OPT_##name = code,
#define FNN_ENUM_ISA(name, code, str) FNN_ISA_##name = code,
enum { FNN_STATUSES(FNN_ENUM_STATUS) };
enum { FNN_ACTIVATIONS(FNN_ENUM_ACT) };
enum { FNN_LOSSES(FNN_ENUM_LOSS) };
enum { FNN_OPTIMIZERS(FNN_ENUM_OPT) };
enum { FNN_ISAS(FNN_ENUM_ISA) };

/* The tables, for the Python layer: the name of `code` in `table` (NULL: no such code) and
   the flags of an activation (FNN_ACT_*; -1: no such activation). */
enum { FNN_TABLE_STATUS, FNN_TABLE_ACTIVATION, FNN_TABLE_LOSS, FNN_TABLE_OPTIMIZER, FNN_TABLE_ISA };
const char *fnn_code_name(int table, int code);
int fnn_act_flags(int act);
int fnn_opt_moments(int kind); /* the FNN_OPTIMIZERS row's moments; -1: no such optimizer */
enum { FNN_EP_STORE = 0, FNN_EP_BIAS_ACT = 1, FNN_EP_MUL_DERIV = 2, FNN_EP_TILE_FN = 3 };

/* CPU dispatch: the widest micro-kernel the CPU supports is chosen at first use
   (__builtin_cpu_supports); fnn_set_isa forces one (FNN_EISA if the CPU lacks it).
   The choice is process-wide; each call reads it once at entry, so changing it while other
   threads compute is safe (calls already running finish with the ISA they started with). */
int fnn_best_isa(void);                     /* the widest ISA compiled in that the CPU runs */
int fnn_isa_compiled(int isa);              /* 1 if this build has isa's kernels */
int fnn_cpu_has(int isa);                   /* 1 if the CPU (and OS) runs isa, built or not */
int fnn_get_isa(void);
int fnn_set_isa(int isa);
const char *fnn_isa_name(int isa);          /* "avx512", "neon", ... (NULL if unknown) */
/* A BLAS for the products of the portable context (a CPU without a tuned kernel): the Fortran
   sgemm and dgemm (column-major, 32-bit integers), which every product but the tiny ones and
   those of at most 4 rows then calls instead of the portable kernels, fastnn's epilogue applied
   after; NULL, the default, for none.  The BLAS threads itself (its own setting, not
   n_threads).  The Python layer passes SciPy's (scipy.linalg.cython_blas). */
typedef void (*fnn_blasfn_f32)(const char *transa, const char *transb, const int *m, const int *n,
                               const int *k, const float *alpha, const float *a, const int *lda,
                               const float *b, const int *ldb, const float *beta, float *c,
                               const int *ldc);
typedef void (*fnn_blasfn_f64)(const char *transa, const char *transb, const int *m, const int *n,
                               const int *k, const double *alpha, const double *a, const int *lda,
                               const double *b, const int *ldb, const double *beta, double *c,
                               const int *ldc);
void fnn_set_blas(fnn_blasfn_f32 sgemm, fnn_blasfn_f64 dgemm);
int fnn_openmp_enabled(void);               /* 1 if built with OpenMP */
int fnn_omp_max_threads(void);              /* omp_get_max_threads() or 1 */

/* Threads (threads.c).  The CPUs this process may use (0: unknown); calls counted between
   fnn_call_begin and fnn_call_end share them; fnn_team is the team a call asking for n_threads
   gets now. */
void fnn_set_cpu_budget(int cpus);
void fnn_call_begin(void);
void fnn_call_end(void);
int fnn_calls_active(void);
int fnn_team(int n_threads);

/* Frees the packing buffers cached by the calling thread and, when built with OpenMP, by the
   threads of the default OpenMP team.  Optional (buffers are reused; memory is bounded by the
   blocking sizes, a few MiB per thread); call it e.g. at module unload. */
void fnn_release_buffers(void);

/* C[m x n] (row-major, row stride ldc, unit column stride) = epilogue(A . B)
   A element (i,p) is A[i*rsa + p*csa]; B element (p,j) is B[p*rsb + j*csb]  (any strides).
     FNN_EP_STORE:     C = acc
     FNN_EP_BIAS_ACT:  C = act(acc + bias[j])  (bias may be NULL = no bias); for FNN_SOFTMAX the
                       row-wise, max-subtracted softmax is applied to whole rows after the product.
                       With zout (not NULL; act not softmax), zout[i*ldz + j] = acc + bias[j]
                       too: the layer's Z, which an FNN_ACT_NEEDS_Z derivative is written from.
     FNN_EP_MUL_DERIV: C = acc * act'(aux[i*ldaux + j]): the derivative column of the
                       activation's row in FNN_ACTIVATIONS, from the layer's output A (or its Z
                       for FNN_ACT_NEEDS_Z), which aux holds
     FNN_EP_TILE_FN:   tile_fn(ctx, c, ldc, i, j, mr, nr) once on every final mr x nr block
                       of acc whose top-left element is (i, j), by the thread that computed it,
                       while it is in that core's cache (the blocks are disjoint and cover C;
                       act, bias, aux unused).  c (row stride ldc) is in C or in a scratch
                       tile, and C is left unspecified: C is workspace.  row0/col0 must be 0.
   ep == NULL means FNN_EP_STORE.  C is overwritten and never read before it is written.
   k == 0 gives epilogue(0).  m == 0 or n == 0 is a no-op returning FNN_OK.
   Negative sizes, NULL pointers where needed, ldc < n (m > 1), ldaux < n or ldz < n (m > 1),
   unknown act/kind, softmax with MUL_DERIV or zout -> FNN_EINVAL. */
typedef struct {
    int kind; int act; const float *bias; const float *aux; ptrdiff_t ldaux;
    void (*tile_fn)(void *ctx, float *c, ptrdiff_t ldc, ptrdiff_t i, ptrdiff_t j, ptrdiff_t mr,
                    ptrdiff_t nr);
    void *ctx; ptrdiff_t row0, col0;
    float *zout; ptrdiff_t ldz;
} fnn_epilogue_f32;
typedef struct {
    int kind; int act; const double *bias; const double *aux; ptrdiff_t ldaux;
    void (*tile_fn)(void *ctx, double *c, ptrdiff_t ldc, ptrdiff_t i, ptrdiff_t j, ptrdiff_t mr,
                    ptrdiff_t nr);
    void *ctx; ptrdiff_t row0, col0;
    double *zout; ptrdiff_t ldz;
} fnn_epilogue_f64;

int fnn_gemm_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A, ptrdiff_t rsa, ptrdiff_t csa,
                 const float *B, ptrdiff_t rsb, ptrdiff_t csb, float *C, ptrdiff_t ldc,
                 const fnn_epilogue_f32 *ep, int n_threads);
int fnn_gemm_f64(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A, ptrdiff_t rsa, ptrdiff_t csa,
                 const double *B, ptrdiff_t rsb, ptrdiff_t csb, double *C, ptrdiff_t ldc,
                 const fnn_epilogue_f64 *ep, int n_threads);

/* A dense layer, all arrays C-contiguous:  out[m x n] = act(X[m x k] . W[k x n] + b[n]).
   b may be NULL (no bias); Z [m x n], when not NULL, receives X . W + b too (the input to the
   activation, which an FNN_ACT_NEEDS_Z derivative is written from; act not softmax). */
int fnn_dense_forward_f32(ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *X, const float *W,
                          const float *b, int act, float *out, float *Z, int n_threads);
int fnn_dense_forward_f64(ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const double *X, const double *W,
                          const double *b, int act, double *out, double *Z, int n_threads);

/* Backward: dW[n_in x n_out] = A_prev^T . D ; db[n_out] = column sums of D ;
   if act_prev >= 0: D_prev[m x n_in] = (D . W^T) * act_prev'(A_prev), or act_prev'(Z_prev) when
   act_prev has FNN_ACT_NEEDS_Z (Z_prev [m x n_in] the previous layer's input to its activation;
   otherwise unused and may be NULL)
   (act_prev < 0: D_prev untouched, may be NULL; act_prev == FNN_SOFTMAX -> FNN_EINVAL).
   A_prev [m x n_in], W [n_in x n_out], D [m x n_out], all C-contiguous. */
int fnn_dense_backward_f32(ptrdiff_t m, ptrdiff_t n_in, ptrdiff_t n_out, const float *A_prev,
                           const float *Z_prev, const float *W, const float *D, int act_prev,
                           float *dW, float *db, float *D_prev, int n_threads);
int fnn_dense_backward_f64(ptrdiff_t m, ptrdiff_t n_in, ptrdiff_t n_out, const double *A_prev,
                           const double *Z_prev, const double *W, const double *D, int act_prev,
                           double *dW, double *db, double *D_prev, int n_threads);

/* An optimizer: its kind (FNN_OPT_*) and hyperparameters, one struct for every kind. */
typedef struct {
    int kind;
    double lr, weight_decay;       /* L2 weight decay added to the gradient */
    double momentum; int nesterov; /* SGD */
    double beta1, beta2, eps;      /* Adam */
    long long t;                   /* steps taken before this one (Adam's bias correction) */
} fnn_optimizer;

/* One step on `size` parameters, in place, with their state m and v (each NULL where the
   kind's FNN_OPTIMIZERS row and momentum say it is not used), as step number opt->t + 1:
     SGD:  g = grad + wd param;  param -= lr g  (momentum 0), or  m = momentum m - lr g;
           param += m (heavy ball) or param += momentum m - lr g (Nesterov)
     Adam: g = grad + wd param;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
           param -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
   opt->t is not changed.  FNN_EINVAL: size < 0, NULL where needed, an unknown kind. */
int fnn_update_f32(const fnn_optimizer *opt, ptrdiff_t size, float *param, const float *grad,
                   float *m, float *v);
int fnn_update_f64(const fnn_optimizer *opt, ptrdiff_t size, double *param, const double *grad,
                   double *m, double *v);

#ifdef __cplusplus
}
#endif

#endif /* FASTNN_H */
