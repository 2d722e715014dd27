/* See sigbus_guard.h. One process-wide handler; the guarded range lives in thread-local
 * storage (initial-exec: reading it from a signal handler must not allocate). */
#define _GNU_SOURCE
#include "common/sigbus_guard.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct guard {
    sigjmp_buf jb;
    uintptr_t lo, len;
    volatile size_t fault_at;
} guard;

static __thread guard *volatile tl_guard __attribute__((tls_model("initial-exec")));
static struct sigaction prev_action;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int installed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    guard *g = tl_guard;
    const uintptr_t a = (uintptr_t)si->si_addr;
    if (g && si->si_code > 0 && a - g->lo < g->len) { /* si_code > 0: a fault, not kill() */
        g->fault_at = (size_t)(a - g->lo);
        tl_guard = NULL;
        siglongjmp(g->jb, 1); /* restores the signal mask saved by sigsetjmp */
    }
    /* Not ours: hand it on, or die of it as without us (the raised signal is blocked
     * until this handler returns, then the default action ends the process). */
    if (prev_action.sa_flags & SA_SIGINFO) {
        prev_action.sa_sigaction(sig, si, uc);
    } else if (prev_action.sa_handler != SIG_DFL && prev_action.sa_handler != SIG_IGN) {
        prev_action.sa_handler(sig);
    } else {
        struct sigaction dfl = {0};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGBUS, &dfl, NULL);
        raise(sig);
    }
}

static void install(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    installed = sigaction(SIGBUS, &sa, &prev_action) == 0;
}

azs_status azs_sigbus_guard(const void *lo, size_t len, void (*fn)(void *), void *arg,
                            size_t *fault_at)
{
    pthread_once(&once, install);
    if (!installed)
        return AZS_ERR_INTERNAL;
    guard g;
    g.lo = (uintptr_t)lo;
    g.len = len;
    g.fault_at = 0;
    if (sigsetjmp(g.jb, 1)) {
        if (fault_at)
            *fault_at = g.fault_at;
        return AZS_ERR_TRUNCATED;
    }
    tl_guard = &g;
    atomic_signal_fence(memory_order_seq_cst);
    fn(arg);
    atomic_signal_fence(memory_order_seq_cst);
    tl_guard = NULL;
    return AZS_OK;
}
