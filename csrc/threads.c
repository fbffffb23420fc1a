/* threads.c -- how many threads a call uses, and how a thread that has to wait waits.
 *
 * Design
 * ------
 * Team size.  A call's n_threads is the most it may use; n_threads <= 0 means OpenMP's own
 * setting, omp_get_max_threads(), read in the calling thread at call time (so OMP_NUM_THREADS and
 * a threadpoolctl limit around the call hold; fastnn never calls omp_set_num_threads).  The
 * Python layer passes the smaller of that and the process's CPU budget (affinity mask, cgroup
 * quota, the CPUs other processes leave free), which it also hands to fnn_set_cpu_budget.
 * Calls that run at the same time in one process (Python threads, joblib's threading backend)
 * share that budget: while `active` calls are running, each uses at most max(1, budget /
 * active) threads, so N concurrent calls never start more threads than there are CPUs.  The
 * epoch loop asks again before every step, so a call that started alone gives threads back when
 * another one starts.
 *
 * Waiting.  The work-stealing GEMM waits for the other threads of its team (for the row blocks
 * they took, for a strip to publish its next stage).  On a machine with a CPU to spare for each
 * thread the wait is short, and pausing in a loop is the fastest way to see it end; but when two
 * threads of the team share one CPU (taskset, a CPU quota) or another process holds the CPU of
 * the thread being waited for, a spinning waiter burns the CPU that thread needs, for a whole
 * scheduler time slice each time.  So a waiter pauses FNN_SPIN_PAUSES times and then gives the
 * CPU away (sched_yield) on every further round: it costs nothing when nobody else wants the CPU
 * and lets the thread being waited for run when it does.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200112L /* sched_yield under -std=c99 */
#endif
#include "fnn_internal.h"

#ifdef _WIN32
#include <windows.h> /* SwitchToThread */
#else
#include <sched.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static int g_active;     /* compiled calls running in this process (FNN_R* atomics) */
static int g_cpu_budget; /* CPUs this process may use; 0: not known, no sharing (FNN_R*) */

int fnn_omp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void fnn_set_cpu_budget(int cpus)
{
    FNN_RSTORE(&g_cpu_budget, cpus > 0 ? cpus : 0);
}

void fnn_call_begin(void)
{
    FNN_RADD(&g_active, 1);
}

void fnn_call_end(void)
{
    FNN_RADD(&g_active, -1);
}

int fnn_calls_active(void)
{
    return FNN_RLOAD(&g_active);
}

int fnn_team(int n_threads)
{
#ifdef _OPENMP
    int n = n_threads > 0 ? n_threads : omp_get_max_threads();
    const int active = FNN_RLOAD(&g_active), budget = FNN_RLOAD(&g_cpu_budget);
    if (active > 1 && budget > 0) {
        const int share = budget / active > 1 ? budget / active : 1;
        if (n > share)
            n = share;
    }
    return n > 1 ? n : 1;
#else
    (void)n_threads;
    return 1;
#endif
}

void fnn_yield(void)
{
#ifdef _WIN32
    SwitchToThread();
#else
    sched_yield();
#endif
}
