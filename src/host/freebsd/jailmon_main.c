/* kleene-jailmon: the jail monitor program (jailmon.h, docs/freebsd.md "The jail monitor").
 * kleened spawns it with host_monitor_start (fbmonitor.c), in a new session, with the status
 * socket on fd 3 on which it writes the spec. This process is the intermediate of the double
 * fork: it forks the monitor and exits, so that the monitor is neither kleened's child nor a
 * session leader, and survives kleened.
 *
 * Built twice from this file: kleene-jailmon, on the production runner (posix_spawn), and,
 * with JAILMON_REPLAY, tests/freebsd's kleene-jailmon-replay, whose runner replays the golden
 * file named by its first argument and which writes what it found (the first difference, or
 * "ok") to <run_dir>/replay.result when it exits. It must not: be run by hand. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/freebsd/jailmon.h"
#include "host/monitor_proto.h"
#ifdef JAILMON_REPLAY
#include "host/freebsd/replay.h"
#endif
#include "lib/xalloc.h"

#define STATUS_FD 3

extern void (*jailmon_exit_hook)(const char *run_dir);
extern int jailmon_jls_every_ms;

static void noop_handler(int sig)
{
    (void)sig;
}

/* What a process spawned by kleened may have inherited: stray fds, stdio, ignored or blocked
 * signals, a umask, a cwd. None of it may reach the jails' processes through us. */
static void sanitize(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = STATUS_FD + 1; fd < max; fd++)
        close(fd);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (int i = 0; i < 3; i++)
            if (null != i)
                dup2(null, i);
        if (null > 2)
            close(null);
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    struct sigaction sa = {.sa_handler = noop_handler};
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    umask(022);
    if (chdir("/") < 0) {
        /* / always exists */
    }
}

static bool read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

#ifdef JAILMON_REPLAY
static fb_runner *replay_runner;

static void report(const char *run_dir)
{
    kl_error err = KL_ERROR_INIT;
    char *path = xasprintf("%s/replay.result", run_dir);
    FILE *f = fopen(path, "we");
    free(path);
    if (!f)
        return;
    if (fb_replay_finish(replay_runner, &err) < 0)
        fprintf(f, "%s\n", err.msg);
    else
        fprintf(f, "ok\n");
    fclose(f);
}
#endif

int main(int argc, char **argv)
{
    struct stat st;
    if (fstat(STATUS_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "kleene-jailmon: started by kleened only (no status socket on fd %d)\n",
                STATUS_FD);
        return 2;
    }
#ifdef JAILMON_REPLAY
    if (argc < 2)
        return 2;
    const char *golden = argv[1]; /* a file, or a directory of <container id>.golden */
    jailmon_exit_hook = report;
    jailmon_jls_every_ms = 600000; /* a jail's end without jail(8): learnt at a stop only */
#else
    (void)argc;
    (void)argv;
#endif
    sanitize();
    pid_t pid = fork();
    if (pid != 0)
        _exit(pid < 0 ? 1 : 0);
    unsigned char h[MON_HDR];
    if (!read_full(STATUS_FD, h, sizeof(h)))
        _exit(1); /* kleened is gone */
    size_t len = mon_hdr_len(h);
    if (h[0] != MON_SPEC || len > MON_MSG_MAX)
        jailmon_fail(STATUS_FD, "kleene-jailmon: no spec from kleened");
    char *data = xmalloc(len + 1);
    if (!read_full(STATUS_FD, data, len))
        _exit(1);
    data[len] = '\0';
    static jailmon_spec spec; /* lives as long as the monitor */
    kl_error err = KL_ERROR_INIT;
    if (jailmon_spec_parse(data, len, &spec, &err) < 0)
        jailmon_fail(STATUS_FD, err.msg);
    free(data);
#ifdef JAILMON_REPLAY
    struct stat gst;
    char *path = stat(golden, &gst) == 0 && S_ISDIR(gst.st_mode)
                     ? xasprintf("%s/%s.golden", golden, spec.jail.cid)
                     : xstrdup(golden);
    kl_error rerr = KL_ERROR_INIT;
    replay_runner = fb_replay_new(path, &rerr);
    free(path);
    if (!replay_runner)
        jailmon_fail(STATUS_FD, rerr.msg);
    fb_runner *run = replay_runner;
#else
    fb_runner *run = fb_runner_spawn_new();
#endif
    jailmon_run(&spec, run, STATUS_FD);
}
