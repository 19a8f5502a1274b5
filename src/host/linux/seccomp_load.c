/* The compiled default seccomp filter (seccomp.c): kept once per process and loaded with
 * seccomp(2). Apart from the compiler on purpose: the kleene-monitor program links this file
 * but not libseccomp; it gets the program kleened compiled with its spec (monitor_spec.c).
 *
 * It must not: compile anything (a process without a program gets an error, not a silent
 * half-millisecond compile per container). */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "lib/xalloc.h"

/* Set once and never freed. */
static struct sock_fprog *_Atomic program;

const struct sock_fprog *seccomp_default_program(void)
{
    return atomic_load(&program);
}

void seccomp_default_set(struct sock_fprog *prog)
{
    struct sock_fprog *expected = NULL;
    if (!atomic_compare_exchange_strong(&program, &expected, prog)) {
        free(prog->filter); /* another thread was first */
        free(prog);
    }
}

int seccomp_default_set_copy(const void *insns, size_t len, kl_error *err)
{
    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return kl_error_set(err, EINVAL, "seccomp: a filter of %zu bytes", len);
    struct sock_fprog *prog = xmalloc(sizeof(*prog));
    prog->len = (unsigned short)(len / sizeof(struct sock_filter));
    prog->filter = xmalloc(len);
    memcpy(prog->filter, insns, len);
    seccomp_default_set(prog);
    return 0;
}

int seccomp_load_default(kl_error *err)
{
    const struct sock_fprog *prog = seccomp_default_program();
    if (!prog)
        return kl_error_set(err, EINVAL,
                            "seccomp: the default filter has not been prepared "
                            "(host_runtime_prepare)");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
        return kl_error_errno(err, errno, "seccomp: loading the filter");
    return 0;
}
