/* The default seccomp filter of container processes: a deny-list modelled on Docker's default
 * profile. Everything not listed is allowed; listed calls fail with EPERM (ENOSYS for clone3,
 * so that libcs fall back to clone(2), whose flags we can inspect).
 *
 * Denied: kernel/module/boot control (kexec_*, *_module, reboot, swapon/off, acct, iopl,
 * ioperm, syslog), time setting, the keyring (keyctl, add_key, request_key), bpf,
 * perf_event_open, userfaultfd, open_by_handle_at, lookup_dcookie, quotactl, nfsservctl,
 * uselib, vm86*, the mount API (mount, umount2, pivot_root, fsopen, fsmount, fsconfig, fspick,
 * open_tree, move_mount, mount_setattr), namespace changes (unshare, setns, clone with any
 * CLONE_NEW* flag), and personality() with anything above PER_LINUX|UNAME26 (ADDR_NO_RANDOMIZE,
 * READ_IMPLIES_EXEC, ...). The 0xffffffff query, which changes nothing and which Docker allows
 * (systemd's LockPersonality= needs it: journald fails without), is let through by a few
 * instructions of ours in front of libseccomp's program (query_prefix): a deny-list cannot
 * express that exception with libseccomp 2.5 (one comparison per argument and rule).
 * ptrace stays allowed as in Docker on kernels >= 4.8 (it needs CAP_SYS_PTRACE across users).
 * The filter covers x86_64 and its x86/x32 compatibility ABIs.
 *
 * Compiling the filter with libseccomp takes most of a millisecond, so the BPF program is
 * compiled once (seccomp_default_prepare, called by kleened before it starts a monitor, which
 * gets the program with its spec) and loaded with seccomp(2) directly (seccomp_load.c): the
 * same program libseccomp would load, with the same (default) flags. Only this file needs
 * libseccomp; the kleene-monitor program does without it. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char *const denied[] = {
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "iopl",
    "ioperm",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "stime",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
    "lookup_dcookie",
    "quotactl",
    "nfsservctl",
    "uselib",
    "vm86",
    "vm86old",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "open_tree",
    "move_mount",
    "mount_setattr",
    "unshare",
    "setns",
    "get_kernel_syms",
    "query_module",
    "kcmp",
    "process_vm_readv",
    "process_vm_writev",
};

static const unsigned long ns_flags[] = {
    CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */,
};

static void release_ctx(scmp_filter_ctx *c)
{
    if (*c)
        seccomp_release(*c);
}

static int build(scmp_filter_ctx ctx, kl_error *err)
{
    if (!ctx)
        return kl_error_set(err, ENOMEM, "seccomp: init failed");
    int r;
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        if ((r = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 && r != -EEXIST)
            return kl_error_errno(err, -r, "seccomp: adding the x86 ABI");
        if ((r = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0 && r != -EEXIST)
            return kl_error_errno(err, -r, "seccomp: adding the x32 ABI");
    }
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on any of our ABIs */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (r < 0 && r != -EEXIST)
            return kl_error_errno(err, -r, "seccomp: rule for %s", denied[i]);
    }
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (r < 0)
        return kl_error_errno(err, -r, "seccomp: rule for clone3");
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
        if (r < 0)
            return kl_error_errno(err, -r, "seccomp: rule for clone");
    }
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                         SCMP_A0(SCMP_CMP_GT, 0x20008, 0));
    if (r < 0)
        return kl_error_errno(err, -r, "seccomp: rule for personality");
    return 0;
}

/* Compile the filter into a BPF program (through a memfd: libseccomp 2.5 exports to fds). */
/* x86_64 personality(0xffffffff), the upper half of the argument 0: allowed; anything else
 * goes on to libseccomp's program, which follows these instructions. */
static const struct sock_filter query_prefix[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4), /* arch */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 7),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), /* nr */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 0, 5),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16), /* args[0], low half (little endian) */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 0, 3),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 20), /* args[0], high half */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static struct sock_fprog *compile(kl_error *err)
{
    __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (build(ctx, err) < 0)
        return NULL;
    _cleanup_close_ int fd = memfd_create("kleene-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "seccomp: memfd_create"), NULL;
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return kl_error_errno(err, -r, "seccomp: exporting the filter"), NULL;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "seccomp: exported filter"), NULL;
    size_t len = (size_t)st.st_size;
    size_t pre = sizeof(query_prefix);
    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        (len + pre) / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return kl_error_set(err, EINVAL, "seccomp: exported filter has %zu bytes", len), NULL;
    struct sock_filter *insns = xmalloc(pre + len);
    memcpy(insns, query_prefix, pre);
    size_t got = 0;
    while (got < len) {
        ssize_t n = KL_RETRY_EINTR(pread(fd, (char *)insns + pre + got, len - got, (off_t)got));
        if (n <= 0) {
            free(insns);
            return kl_error_errno(err, n < 0 ? errno : EIO, "seccomp: reading the filter"), NULL;
        }
        got += (size_t)n;
    }
    struct sock_fprog *prog = xmalloc(sizeof(*prog));
    prog->len = (unsigned short)((pre + len) / sizeof(struct sock_filter));
    prog->filter = insns;
    return prog;
}

int seccomp_default_prepare(kl_error *err)
{
    if (seccomp_default_program())
        return 0;
    struct sock_fprog *prog = compile(err);
    if (!prog)
        return -1;
    seccomp_default_set(prog); /* takes it; another thread may have been first */
    return 0;
}

int host_runtime_prepare(kl_error *err)
{
    return seccomp_default_prepare(err);
}
