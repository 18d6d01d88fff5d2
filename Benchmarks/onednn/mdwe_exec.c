/*
 * mdwe_exec: runs a command under the memory restriction of systemd's MemoryDenyWriteExecute=yes, for machines
 * (containers) where `systemd-run -p MemoryDenyWriteExecute=yes` cannot be used.
 *
 *   mdwe_exec seccomp COMMAND [ARG...]   the seccomp filter systemd 252 (Debian 12) installs on x86-64:
 *                                        mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding PROT_EXEC
 *                                        and shmat with SHM_EXEC fail with EPERM
 *   mdwe_exec prctl COMMAND [ARG...]     the kernel's own W^X lock, prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)
 *                                        (Linux >= 6.3; inherited across fork and execve)
 *
 * Both are installed before execve, as systemd does, so the dynamic loader already runs under them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

#define ARG2_LOW offsetof(struct seccomp_data, args[2]) /* x86-64 is little-endian: the low 32 bits */
#define DENY (SECCOMP_RET_ERRNO | EPERM)

static int install_seccomp(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 8, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 7, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 11, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* mmap: prot has both PROT_WRITE and PROT_EXEC */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG2_LOW),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* mprotect, pkey_mprotect: prot has PROT_EXEC */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG2_LOW),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_EXEC),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* shmat: shmflg has SHM_EXEC */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG2_LOW),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, SHM_EXEC),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SHM_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "seccomp") && strcmp(argv[1], "prctl"))) {
        fprintf(stderr, "usage: %s seccomp|prctl COMMAND [ARG...]\n", argv[0]);
        return 2;
    }
    int rc = !strcmp(argv[1], "seccomp") ? install_seccomp() : prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0);
    if (rc != 0) {
        fprintf(stderr, "mdwe_exec: cannot install the %s restriction: %s\n", argv[1], strerror(errno));
        return 1;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "mdwe_exec: %s: %s\n", argv[2], strerror(errno));
    return 127;
}
