/* Starting a monitor program (host_monitor_launch_, monitor_proto.h): kleene-monitor on
 * Linux (monitor_spawn.c), kleene-jailmon on FreeBSD (freebsd/fbmonitor.c). Portable POSIX.
 * It must not: pass anything of kleened's own state (environment, blocked or ignored
 * signals) to the program. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/monitor_proto.h"
#include "lib/cleanup.h"

int host_monitor_launch_(const char *prog, char *const argv[], kl_error *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return kl_error_errno(err, errno, "monitor: socketpair");
    _cleanup_close_ int ours = sv[0];
    _cleanup_close_ int theirs = sv[1];
    if (theirs == 3) { /* dup2 onto itself would keep O_CLOEXEC */
        int moved = fcntl(theirs, F_DUPFD_CLOEXEC, 4);
        if (moved < 0)
            return kl_error_errno(err, errno, "monitor: status socket");
        close(theirs);
        theirs = moved;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, theirs, 3);
    /* Nothing of kleened's own state may reach a container through its monitor (the
     * container's pid 1 is a fork of it): no environment at all (kleened's could hold secrets,
     * and /proc/1/environ shows the monitor's), no blocked signal (kleened blocks the ones
     * its main thread waits for), every signal at its default (kleened ignores SIGPIPE).
     * The program resets the rest itself (monitor_main.c, jailmon_main.c: sanitize). */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *envp[] = {NULL};
    pid_t child;
    int r = posix_spawn(&child, prog, &fa, &at, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0)
        return kl_error_errno(err, r, "monitor: running %s", prog);
    close(steal_fd(&theirs));
    int st = 0; /* ECHILD when the caller ignores SIGCHLD: the child was reaped for us */
    if (KL_RETRY_EINTR(waitpid(child, &st, 0)) < 0 && errno != ECHILD)
        return kl_error_errno(err, errno, "monitor: waiting for %s", prog);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return kl_error_set(err, ECHILD, "monitor: %s could not fork the monitor", prog);
    return steal_fd(&ours);
}
