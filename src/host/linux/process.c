/* host/process.h on Linux: a pidfd, which polls readable when the process exits (for any
 * process, not only a child). Needs Linux 5.3. */
#include "host/process.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int host_process_end_fd(int pid, kl_error *err)
{
    if (pid <= 0)
        return kl_error_set(err, ESRCH, "no process %d", pid);
    /* pidfd_open sets close-on-exec itself. */
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "watching process %d", pid);
    return fd;
}
