/* isa.c -- run-time ISA dispatch, the OpenMP build flag and the per-thread packing buffers.
 *
 * Design
 * ------
 * What the CPU runs (fnn_cpu_has) and what this binary has kernels for (the ISAS table) are
 * kept apart, so that a diagnostic can say which of the two a missing kernel lacks.  The ISA in
 * use is one process-wide int, chosen at first use: the widest of the table that the CPU runs,
 * as __builtin_cpu_supports says (which also checks that the OS saves the wide registers), read
 * and written atomically, so
 * fnn_set_isa may race with running calls: each call reads it once (fnn_ctx_current) and keeps
 * that context to the end.  Packing buffers live in thread-local storage: the GEMM never calls
 * malloc once a thread's buffers have reached the size its problems need.
 */
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include "fnn_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__)
#define FNN_TLS __thread
#elif defined(_MSC_VER)
#define FNN_TLS __declspec(thread)
#endif

static int g_isa = -1;

/* What the CPU (and OS) runs, whether or not this binary has kernels for it. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
static int supports_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")
           && __builtin_cpu_supports("fma");
}

static int supports_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#include <immintrin.h>
/* CPUID.1:ECX bit 12 FMA, bit 27 OSXSAVE; CPUID.7.0:EBX bit 5 AVX2, bit 16 AVX512F; the OS
   saves what XCR0 says: bits 1-2 the SSE and AVX halves, bits 5-7 the AVX-512 state */
static int supports_avx2(void)
{
    int r[4];
    __cpuid(r, 1);
    if (!(r[2] & (1 << 12)) || !(r[2] & (1 << 27)) || (_xgetbv(0) & 0x6) != 0x6)
        return 0;
    __cpuidex(r, 7, 0);
    return (r[1] & (1 << 5)) != 0;
}

static int supports_avx512(void)
{
    int r[4];
    if (!supports_avx2() || (_xgetbv(0) & 0xe6) != 0xe6)
        return 0;
    __cpuidex(r, 7, 0);
    return (r[1] & (1 << 16)) != 0;
}
#else
static int supports_avx512(void)
{
    return 0;
}

static int supports_avx2(void)
{
    return 0;
}
#endif

static int supports_neon(void)
{
#if defined(__aarch64__)
    return 1; /* AArch64 baseline */
#else
    return 0;
#endif
}

static int supports_portable(void)
{
    return 1;
}

/* Every ISA, widest first: what the CPU needs to run it, and its kernel unit's context, NULL
   when this binary was built without it.  An ISA is a kernel unit (its fnn_ctx) and a row here. */
#ifdef FNN_HAVE_X86_KERNELS
#define FNN_CTX_AVX512 &fnn_ctx_avx512
#define FNN_CTX_AVX2 &fnn_ctx_avx2
#else
#define FNN_CTX_AVX512 NULL
#define FNN_CTX_AVX2 NULL
#endif
#ifdef FNN_HAVE_NEON_KERNELS
#define FNN_CTX_NEON &fnn_ctx_neon
#else
#define FNN_CTX_NEON NULL
#endif
static const struct {
    int isa;
    int (*supported)(void); /* does this CPU (and OS) run it */
    const fnn_ctx *ctx;
} ISAS[] = {
    {.isa = FNN_ISA_AVX512, .supported = supports_avx512, .ctx = FNN_CTX_AVX512},
    {.isa = FNN_ISA_AVX2, .supported = supports_avx2, .ctx = FNN_CTX_AVX2},
    {.isa = FNN_ISA_NEON, .supported = supports_neon, .ctx = FNN_CTX_NEON},
    {.isa = FNN_ISA_PORTABLE, .supported = supports_portable, .ctx = &fnn_ctx_portable},
};
#define N_ISAS ((int)(sizeof ISAS / sizeof ISAS[0]))

/* The row of isa, or -1 for a code of no ISA. */
static int isa_row(int isa)
{
    int i;
    for (i = 0; i < N_ISAS; ++i)
        if (ISAS[i].isa == isa)
            return i;
    return -1;
}

int fnn_cpu_has(int isa)
{
    const int row = isa_row(isa);
    return row >= 0 && ISAS[row].supported();
}

int fnn_isa_compiled(int isa)
{
    const int row = isa_row(isa);
    return row >= 0 && ISAS[row].ctx != NULL;
}

int fnn_best_isa(void)
{
    int i;
    for (i = 0; i < N_ISAS; ++i)
        if (ISAS[i].ctx && ISAS[i].supported())
            return ISAS[i].isa;
    return FNN_ISA_PORTABLE;
}

int fnn_get_isa(void)
{
    int isa = FNN_RLOAD(&g_isa);
    if (isa < 0) {
        isa = fnn_best_isa();
        FNN_RSTORE(&g_isa, isa);
    }
    return isa;
}

int fnn_set_isa(int isa)
{
    if (!fnn_code_name(FNN_TABLE_ISA, isa))
        return FNN_EINVAL;
    if (!fnn_isa_compiled(isa) || !fnn_cpu_has(isa))
        return FNN_EISA;
    FNN_RSTORE(&g_isa, isa);
    return FNN_OK;
}

const char *fnn_isa_name(int isa)
{
    return fnn_code_name(FNN_TABLE_ISA, isa);
}

const fnn_ctx *fnn_ctx_current(void)
{
    const int row = isa_row(fnn_get_isa());
    return row >= 0 && ISAS[row].ctx ? ISAS[row].ctx : &fnn_ctx_portable;
}

static fnn_blasfn_f32 g_sgemm;
static fnn_blasfn_f64 g_dgemm;

void fnn_set_blas(fnn_blasfn_f32 sgemm, fnn_blasfn_f64 dgemm)
{
    g_sgemm = sgemm;
    g_dgemm = dgemm;
}

fnn_blasfn_f32 fnn_blas_f32(void)
{
    return g_sgemm;
}

fnn_blasfn_f64 fnn_blas_f64(void)
{
    return g_dgemm;
}

int fnn_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* ---- aligned buffers ---- */

#define FNN_ALIGN 64

/* malloc-based 64-byte alignment (no posix_memalign: plain C99); the raw pointer is kept
   just before the aligned block. */
static void *aligned_alloc64(size_t bytes)
{
    void *raw;
    uintptr_t p;
    if (bytes > SIZE_MAX - FNN_ALIGN - sizeof(void *))
        return NULL;
    raw = malloc(bytes + FNN_ALIGN + sizeof(void *));
    if (!raw)
        return NULL;
    p = ((uintptr_t)raw + sizeof(void *) + FNN_ALIGN - 1) & ~(uintptr_t)(FNN_ALIGN - 1);
    ((void **)p)[-1] = raw;
    return (void *)p;
}

static void aligned_free64(void *p)
{
    if (p)
        free(((void **)p)[-1]);
}

#ifdef FNN_TLS
static FNN_TLS void *tls_buf[2];
static FNN_TLS size_t tls_cap[2];

void *fnn_buffer_get(int slot, size_t bytes)
{
    if (bytes < FNN_ALIGN)
        bytes = FNN_ALIGN;
    if (tls_cap[slot] < bytes) {
        aligned_free64(tls_buf[slot]);
        tls_cap[slot] = 0;
        tls_buf[slot] = aligned_alloc64(bytes);
        if (!tls_buf[slot])
            return NULL;
        tls_cap[slot] = bytes;
    }
    return tls_buf[slot];
}

void fnn_buffer_done(int slot, void *p)
{
    (void)slot;
    (void)p;
}

static void release_mine(void)
{
    int s;
    for (s = 0; s < 2; ++s) {
        aligned_free64(tls_buf[s]);
        tls_buf[s] = NULL;
        tls_cap[s] = 0;
    }
}
#else
void *fnn_buffer_get(int slot, size_t bytes)
{
    (void)slot;
    return aligned_alloc64(bytes < FNN_ALIGN ? FNN_ALIGN : bytes);
}

void fnn_buffer_done(int slot, void *p)
{
    (void)slot;
    aligned_free64(p);
}

static void release_mine(void) {}
#endif

void fnn_release_buffers(void)
{
    release_mine();
#ifdef _OPENMP
#pragma omp parallel
    release_mine();
#endif
}
