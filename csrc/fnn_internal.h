/* fnn_internal.h -- what the translation units of csrc/ share; not part of the public API.
 *
 * Design
 * ------
 * One "context" per ISA (BLIS cntx style): register-block sizes MR x NR, cache-block sizes
 * MC/KC/NC and the function pointers that must be compiled for that ISA (micro-kernel, fused
 * epilogue, small-m kernel, row softmax).  The portable context always exists; the AVX2 and
 * AVX-512 ones only on x86 with a GNU-compatible compiler (FNN_HAVE_X86_KERNELS), each in its own
 * translation unit compiled with target attributes; the NEON one on AArch64
 * (FNN_HAVE_NEON_KERNELS).  The generic driver (gemm.c) is compiled for the baseline ISA and only
 * calls through the table.
 */
#ifndef FNN_INTERNAL_H
#define FNN_INTERNAL_H

#include "fastnn.h"

/* The x86 SIMD units are compiled for their ISA by target attributes, gcc's #pragma GCC target
   or clang's #pragma clang attribute (clang ignores the former): other compilers build the
   portable context only (as does -DFNN_PORTABLE_ONLY, e.g. to test a build without them). */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) \
    && !defined(FNN_PORTABLE_ONLY)
#define FNN_HAVE_X86_KERNELS 1
#endif
/* NEON is baseline on AArch64: its unit needs only the compiler's arm_neon.h. */
#if defined(__aarch64__) && defined(__GNUC__) && !defined(FNN_PORTABLE_ONLY)
#define FNN_HAVE_NEON_KERNELS 1
#endif

/* MSVC's C before C11 spells restrict __restrict */
#if defined(_MSC_VER) && !defined(__clang__) \
    && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L)
#define restrict __restrict
#endif

#define FNN_CAT_(a, b) a##b
#define FNN_CAT(a, b) FNN_CAT_(a, b)

#if defined(__GNUC__)
#define FNN_ALIGN64 __attribute__((aligned(64)))
#define FNN_INLINE inline __attribute__((always_inline))
/* fetch the line of p into the caches, for reading (rw 0) or writing (rw 1) */
#define FNN_PREFETCH(p, rw) __builtin_prefetch((p), (rw), 3)
/* unroll the next loop completely (its trip count is a compile-time constant up to 16) */
#define FNN_UNROLL _Pragma("GCC unroll 16")
#else
#define FNN_ALIGN64
#define FNN_INLINE inline
#define FNN_PREFETCH(p, rw) ((void)(p))
#define FNN_UNROLL
#endif

/* Largest MR*NR of any micro-kernel: edge tiles go through a scratch tile of this size. */
#define FNN_MAX_TILE 512

/* An optimizer step's rule, with its scalars worked out once from an fnn_optimizer (optim.c),
   applied by a kernel unit's step function (below): by fnn_update, and by the training epoch to
   each tile of a weight gradient as the GEMM produces it.  fnn_rule_make: FNN_EINVAL for an
   unknown kind; `decay` 0 drops the weight decay (the biases); `step` is the step number
   (opt->t + 1). */
typedef struct {
    int kind, nesterov;
    double lr, wd, momentum;              /* the hyperparameters, as given */
    double beta1, beta2, eps, step, ibc2; /* Adam: step = lr / (1 - beta1^t), ibc2 = 1 / (1 - beta2^t) */
} fnn_rule;
int fnn_rule_make(fnn_rule *r, const fnn_optimizer *opt, long long step, int decay);
/* Whether the rule reads and writes the state m and v. */
int fnn_rule_uses_m(const fnn_rule *r);
int fnn_rule_uses_v(const fnn_rule *r);

/* Micro-kernel: c[MR x NR] (row stride ldc) = (accumulate ? c : 0) + a . b over k, where
   A's element (r, p) is a[r*rsa + p*csa] (a packed sliver: rsa 1, csa MR; or the source in
   place, rsa == 1 or csa == 1) and b a packed NR-column sliver (b[p*NR + j]). */
typedef void (*fnn_ukrfn_f32)(ptrdiff_t k, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                              const float *b, float *c, ptrdiff_t ldc, int accumulate);
typedef void (*fnn_ukrfn_f64)(ptrdiff_t k, const double *a, ptrdiff_t rsa, ptrdiff_t csa,
                              const double *b, double *c, ptrdiff_t ldc, int accumulate);
/* Epilogue on the tile c[mr x nr] (row stride ldc) whose top-left element is (i0, j0) in the
   coordinates of ep->bias / ep->aux.  Never called for FNN_EP_STORE or softmax. */
typedef void (*fnn_epifn_f32)(const fnn_epilogue_f32 *ep, float *c, ptrdiff_t ldc, ptrdiff_t i0,
                            ptrdiff_t j0, ptrdiff_t mr, ptrdiff_t nr);
typedef void (*fnn_epifn_f64)(const fnn_epilogue_f64 *ep, double *c, ptrdiff_t ldc, ptrdiff_t i0,
                            ptrdiff_t j0, ptrdiff_t mr, ptrdiff_t nr);
/* Small-m product without packing, B rows contiguous (csb == 1): C[m x n] = A . B. */
typedef void (*fnn_smallmfn_f32)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *A, ptrdiff_t rsa,
                               ptrdiff_t csa, const float *B, ptrdiff_t rsb, float *C, ptrdiff_t ldc);
typedef void (*fnn_smallmfn_f64)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *A,
                               ptrdiff_t rsa, ptrdiff_t csa, const double *B, ptrdiff_t rsb,
                               double *C, ptrdiff_t ldc);
/* In-place max-subtracted softmax of each of the m rows of length n. */
typedef void (*fnn_packafn_f32)(ptrdiff_t mc, ptrdiff_t kc, const float *A, ptrdiff_t rsa,
                                 ptrdiff_t csa, float *Ap);
typedef void (*fnn_packbfn_f32)(ptrdiff_t kc, ptrdiff_t nc, const float *B, ptrdiff_t rsb,
                                 ptrdiff_t csb, float *Bp);
typedef void (*fnn_softmaxfn_f32)(float *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n);
typedef void (*fnn_packafn_f64)(ptrdiff_t mc, ptrdiff_t kc, const double *A, ptrdiff_t rsa,
                                 ptrdiff_t csa, double *Ap);
typedef void (*fnn_packbfn_f64)(ptrdiff_t kc, ptrdiff_t nc, const double *B, ptrdiff_t rsb,
                                 ptrdiff_t csb, double *Bp);
typedef void (*fnn_softmaxfn_f64)(double *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n);
/* One step of the rule r on the rows x cols block of param (row stride ldw; the state m, v at
   the same offsets, NULL where the rule has none) along grad (row stride ldg), unless `check`
   and an element of grad is not finite: then nothing is written and 0 is returned (else 1). */
typedef int (*fnn_stepfn_f32)(const fnn_rule *r, int check, ptrdiff_t rows, ptrdiff_t cols,
                              float *param, ptrdiff_t ldw, const float *grad, ptrdiff_t ldg,
                              float *m, float *v);
typedef int (*fnn_stepfn_f64)(const fnn_rule *r, int check, ptrdiff_t rows, ptrdiff_t cols,
                              double *param, ptrdiff_t ldw, const double *grad, ptrdiff_t ldg,
                              double *m, double *v);

typedef struct {
    ptrdiff_t mr, nr, mc, kc, nc;
    fnn_ukrfn_f32 ukr;
    fnn_epifn_f32 epi;
    fnn_smallmfn_f32 smallm;
    fnn_smallmfn_f32 narrow; /* n < NR: same contract as smallm */
    fnn_softmaxfn_f32 softmax;
    fnn_packafn_f32 pack_a; /* MR-row slivers, see pack.template.c */
    fnn_packbfn_f32 pack_b; /* NR-column slivers */
    fnn_stepfn_f32 step;    /* an optimizer step (optim.template.c) */
} fnn_kern_f32;

typedef struct {
    ptrdiff_t mr, nr, mc, kc, nc;
    fnn_ukrfn_f64 ukr;
    fnn_epifn_f64 epi;
    fnn_smallmfn_f64 smallm;
    fnn_smallmfn_f64 narrow;
    fnn_softmaxfn_f64 softmax;
    fnn_packafn_f64 pack_a; /* MR-row slivers, see pack.template.c */
    fnn_packbfn_f64 pack_b; /* NR-column slivers */
    fnn_stepfn_f64 step;
} fnn_kern_f64;

typedef struct {
    int isa;
    fnn_kern_f32 f32;
    fnn_kern_f64 f64;
} fnn_ctx;

/* x, which must be a multiple of m (the packing buffers hold whole slivers): a compile error
   otherwise */
#define FNN_MULTIPLE(x, m) ((x) + 0 * (ptrdiff_t)sizeof(char[(x) % (m) == 0 ? 1 : -1]))

/* One type's entry of an ISA's fnn_ctx: its micro-tile (MR x NR), cache blocking (MC, KC, NC)
   and the functions its kernel unit defined for that type suffix (fnn_ukr_<suf>, ...); narrow
   is the n < NR kernel (the small-m one where the ISA has no masked vectors).  The outer macro
   lets a blocking macro stand for MC, KC, NC. */
#define FNN_KERN(...) FNN_KERN_(__VA_ARGS__)
#define FNN_KERN_(MR, NR, MC, KC, NC, suf, narrow_fn)                                          \
    {.mr = (MR), .nr = (NR), .mc = FNN_MULTIPLE(MC, MR), .kc = (KC), .nc = FNN_MULTIPLE(NC, NR), \
     .ukr = fnn_ukr_##suf,                                                                     \
     .epi = fnn_epi_##suf, .smallm = fnn_smallm_##suf, .narrow = narrow_fn,                   \
     .softmax = fnn_softmax_rows_##suf, .pack_a = fnn_pack_a_##suf, .pack_b = fnn_pack_b_##suf, \
     .step = fnn_step_##suf}

extern const fnn_ctx fnn_ctx_portable;
#ifdef FNN_HAVE_X86_KERNELS
extern const fnn_ctx fnn_ctx_avx2;
extern const fnn_ctx fnn_ctx_avx512;
#endif
#ifdef FNN_HAVE_NEON_KERNELS
extern const fnn_ctx fnn_ctx_neon;
#endif

/* The context of the ISA in use (chosen at first use). Never NULL. */
const fnn_ctx *fnn_ctx_current(void);
/* The BLAS of fnn_set_blas, NULL when none was given. */
fnn_blasfn_f32 fnn_blas_f32(void);
fnn_blasfn_f64 fnn_blas_f64(void);

/* Per-thread cached, 64-byte aligned scratch (slot 0: packed A, slot 1: packed B).  Grown on
   demand, never shrunk; NULL on allocation failure.  fnn_buffer_done must be called when the
   caller is finished with the buffer (it frees it when the compiler has no thread-local storage). */
void *fnn_buffer_get(int slot, size_t bytes);
void fnn_buffer_done(int slot, void *p);


/* Inference (fnn_predict) streams rows in blocks whose two hidden-activation buffers take at
   most this many bytes (so that they stay in L2 between layers), and at least FNN_PREDICT_MIN_ROWS
   rows (so that each product still amortises packing its weights). */
#ifndef FNN_PREDICT_BLOCK_BYTES
#define FNN_PREDICT_BLOCK_BYTES 524288
#endif
#ifndef FNN_PREDICT_MIN_ROWS
#define FNN_PREDICT_MIN_ROWS 64
#endif

/* Minimum flop count (2*m*n*k) before the GEMM uses more than one thread. */
#ifndef FNN_PAR_MIN_FLOPS
#define FNN_PAR_MIN_FLOPS 2000000.0
#endif
/* Small-m products (bandwidth-bound: B is streamed once) use more than one thread when B has at
   least this many bytes, so that each core streams its own part of B from its own L2. */
#ifndef FNN_SMALLM_PAR_MIN_BYTES
#define FNN_SMALLM_PAR_MIN_BYTES 262144.0
#endif
/* ... and, when k is at least this, sum B's rows in two halves, one per thread. */
#ifndef FNN_SMALLM_HALVES_MIN_K
#define FNN_SMALLM_HALVES_MIN_K 32
#endif
/* Products of at most this many flops (2*m*n*k) go to the unpacked kernels on one thread, B = W^T
   copied to rows on the stack (k * n <= FNN_TINY_FLOPS / 2 elements). */
#ifndef FNN_TINY_FLOPS
#define FNN_TINY_FLOPS 2048.0
#endif
/* Products with B rows contiguous (csb == 1) skip packing when m <= FNN_SMALLM_MAX, or when
   n >= NR and B (k x n) is small: at most FNN_SMALLM_MAX_B_BYTES (L2) for m <= FNN_SMALLM_MAX_M,
   at most FNN_SMALLM_L1_B_BYTES (L1) for m <= 4 FNN_SMALLM_MAX_M.  The small-m kernel then reads
   B from cache once per 4 rows, which beats packing both operands for the products of a
   small-batch training step. */
#define FNN_SMALLM_MAX 4
#ifndef FNN_SMALLM_MAX_M
#define FNN_SMALLM_MAX_M 32
#endif
#ifndef FNN_SMALLM_L1_B_BYTES /* B that stays in L1: up to 4 * FNN_SMALLM_MAX_M rows */
#define FNN_SMALLM_L1_B_BYTES 32768.0
#endif
#ifndef FNN_SMALLM_MAX_B_BYTES
#define FNN_SMALLM_MAX_B_BYTES 1048576.0
#endif

/* The micro-kernel reads A in place (no packing) when the block of C is at most this many NR
   slivers wide and A's rows or columns are contiguous (see gemm.template.c); 0: always pack. */
#ifndef FNN_DIRECT_A_MAX_SLIVERS
#define FNN_DIRECT_A_MAX_SLIVERS 8
#endif

/* Work stealing between the strips of a parallel GEMM (steal.template.c): at most FNN_STEAL_MAX
   threads, one strip each (0 without GCC's atomics); a strip's word packs a stage, its number of
   row blocks and the next one to take, FNN_STEAL_BITS bits each for the last two. */
#ifndef FNN_STEAL_MAX
#if defined(_OPENMP) && defined(__GNUC__)
#define FNN_STEAL_MAX 16
#else
#define FNN_STEAL_MAX 0
#endif
#endif
#define FNN_STEAL_BITS 20
#define FNN_STEAL_MASK ((1LL << FNN_STEAL_BITS) - 1)
#if defined(__x86_64__) || defined(__i386__)
#define FNN_PAUSE() __builtin_ia32_pause()
#else
#define FNN_PAUSE() ((void)0)
#endif
/* One round of a wait loop (spins counts the rounds): a pause, and past FNN_SPIN_PAUSES rounds
   the CPU is given away (threads.c explains why). */
#ifndef FNN_SPIN_PAUSES
#define FNN_SPIN_PAUSES 256
#endif
void fnn_yield(void);
#define FNN_WAIT(spins) (++(spins) <= FNN_SPIN_PAUSES ? FNN_PAUSE() : fnn_yield())
/* Relaxed loads, stores and additions of an int shared by calls (the ISA in use, the calls
   running, the CPU budget): no ordering with other memory is needed, only no torn values.
   Without compiler atomics, volatile accesses, and additions are not counted (FNN_RADD). */
#if defined(__GNUC__)
#define FNN_RLOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define FNN_RSTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define FNN_RADD(p, v) ((void)__atomic_add_fetch((p), (v), __ATOMIC_RELAXED))
#elif defined(_MSC_VER)
#include <intrin.h>
#define FNN_RLOAD(p) (*(volatile long *)(p))
#define FNN_RSTORE(p, v) ((void)(*(volatile long *)(p) = (v)))
#define FNN_RADD(p, v) ((void)_InterlockedExchangeAdd((volatile long *)(p), (v)))
#else
#define FNN_RLOAD(p) (*(volatile int *)(p))
#define FNN_RSTORE(p, v) ((void)(*(volatile int *)(p) = (v)))
#define FNN_RADD(p, v) ((void)0)
#endif
/* acquire loads, release stores and counts, compare and swap (the work-stealing words) */
#if defined(__GNUC__)
#define FNN_ALOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FNN_ASTORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define FNN_AINC(p) ((void)__atomic_add_fetch((p), 1, __ATOMIC_RELEASE))
#define FNN_ACAS(p, e, d) \
    __atomic_compare_exchange_n((p), (e), (d), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#else /* no stealing (FNN_STEAL_MAX 0): never reached */
#define FNN_ALOAD(p) (*(p))
#define FNN_ASTORE(p, v) ((void)(*(p) = (v)))
#define FNN_AINC(p) ((void)++*(p))
#define FNN_ACAS(p, e, d) (*(p) == *(e) ? (*(p) = (d), 1) : (*(e) = *(p), 0))
#endif

#endif /* FNN_INTERNAL_H */
