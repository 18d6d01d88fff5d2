// Per-thread CPU and I/O scheduling (Linux). `syscall` is variadic, which Swift cannot call, and glibc has
// no wrapper for ioprio_set/ioprio_get, so the calls are spelled out here as fixed-argument functions.
#ifndef CAMWATCH_CSCHEDULING_SHIM_H
#define CAMWATCH_CSCHEDULING_SHIM_H

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

// Linux UAPI values (linux/sched.h, linux/ioprio.h); stable kernel ABI.
enum {
    CAMWATCH_SCHED_OTHER = 0,
    CAMWATCH_SCHED_BATCH = 3,
    CAMWATCH_SCHED_IDLE = 5,
    CAMWATCH_IOPRIO_CLASS_BE = 2,
    CAMWATCH_IOPRIO_CLASS_IDLE = 3,
    CAMWATCH_IOPRIO_CLASS_SHIFT = 13,
    CAMWATCH_IOPRIO_WHO_PROCESS = 1,
};

/// The calling thread's id (a `pid_t`, as in /proc/self/task).
static inline int camwatch_gettid(void) {
#ifdef SYS_gettid
    return (int)syscall(SYS_gettid);
#else
    return -1;
#endif
}

/// sched_setscheduler(0, policy, {0}) for the calling thread; 0, or errno.
static inline int camwatch_set_thread_policy(int policy) {
    struct sched_param param = {0};
    return sched_setscheduler(0, policy, &param) == 0 ? 0 : errno;
}

/// The calling thread's scheduling policy, or -1.
static inline int camwatch_thread_policy(void) { return sched_getscheduler(0); }

/// setpriority(PRIO_PROCESS, tid, nice) for the calling thread (Linux nice values are per thread); 0, or errno.
static inline int camwatch_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)camwatch_gettid(), nice) == 0 ? 0 : errno;
}

/// The calling thread's nice value.
static inline int camwatch_thread_nice(void) {
    errno = 0;
    return getpriority(PRIO_PROCESS, (id_t)camwatch_gettid());
}

/// ioprio_set(IOPRIO_WHO_PROCESS, tid, class << 13 | level) for the calling thread; 0, or errno.
static inline int camwatch_set_thread_ioprio(int ioclass, int level) {
#ifdef SYS_ioprio_set
    long value = ((long)ioclass << CAMWATCH_IOPRIO_CLASS_SHIFT) | (long)level;
    return syscall(SYS_ioprio_set, CAMWATCH_IOPRIO_WHO_PROCESS, 0, value) == 0 ? 0 : errno;
#else
    return ENOSYS;
#endif
}

/// The calling thread's I/O priority class (0 none, 1 realtime, 2 best-effort, 3 idle), or -1.
static inline int camwatch_thread_ioprio_class(void) {
#ifdef SYS_ioprio_get
    long value = syscall(SYS_ioprio_get, CAMWATCH_IOPRIO_WHO_PROCESS, 0);
    return value < 0 ? -1 : (int)(value >> CAMWATCH_IOPRIO_CLASS_SHIFT);
#else
    return -1;
#endif
}

/// prctl(PR_SET_PDEATHSIG, signal): the kernel sends `signal` to the calling process when the thread that
/// created it exits (prctl is variadic, which Swift cannot call); 0, or errno.
static inline int camwatch_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL) == 0 ? 0 : errno;
}

#endif
