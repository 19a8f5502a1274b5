/* The container monitor (host/monitor.h, docs/monitor.md): one process per running container,
 * the body of the kleene-monitor program (monitor_main.c; kleened spawns it with
 * host_monitor_start, monitor_spawn.c).
 *
 * monitor_run() starts the container (host_container_start) and then runs a single-threaded
 * poll loop over: the control socket, its client connections, the output (and input) fds of
 * the main process and of every exec process, and a pidfd per child process (the container's
 * reaper and each exec process, all children of the monitor). It records exit codes, keeps the
 * size-capped container.log, and writes state.json atomically on every state change. When the
 * container has ended it writes the final state, unmounts the unmount_on_exit paths, removes
 * the socket, tells every attached client ('Z') and exits.
 *
 * Nothing here prints (the monitor's stdio is /dev/null); errors before the loop go to the
 * caller over the status socket.
 *
 * It must not: know about images, networks or the database; block its loop on one client. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "host/monitor_proto.h"
#include "host/monitor.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/logrec.h"
#include "lib/xalloc.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define DEFAULT_LOG_MAX (1u << 20)
#define PENDING_MAX (1u << 20)    /* output kept for the first attach */
#define CLIENT_OUT_MAX (1u << 20) /* beyond this, stop reading the process (backpressure) */
#define IO_CHUNK 32768

typedef struct mon_exec {
    char *id;
    host_process proc;
    int pidfd;  /* ours (pidfd_open), -1 once reaped; the main exec uses the container's */
    int out_fd; /* pty master or stdout pipe, -1 at EOF */
    int err_fd; /* stderr pipe (none with a tty: the pty has both), -1 at EOF */
    int in_fd;  /* dup of the pty master or the stdin pipe, -1 when closed */
    bool tty, is_main, is_running, attached_once, end_deferred, close_input_after;
    bool to_log;    /* its output goes to the log too (the stop command) */
    int exit_code;  /* -1 while running */
    kl_buf pending; /* output frames ('O'/'e') before the first attach, ≤ PENDING_MAX bytes */
    kl_buf input;   /* client input not yet written */
} mon_exec;

typedef struct mon_client {
    int fd;
    kl_buf in, out;
    mon_exec *stream; /* this connection is the stream of that exec */
    bool follows_log, wants_stop_reply, is_dead;
    bool is_caller; /* the status connection of host_monitor_start */
} mon_client;

static struct {
    const host_monitor_spec *spec;
    char *sock_path; /* path used for bind/unlink (maybe through /proc/self/fd) */
    bool is_bound;   /* monitor.sock is ours (not a live monitor's, found at start) */
    int run_fd;
    int listen_fd;
    host_process ctr;
    int ctr_pidfd;
    int ctr_mntns_fd; /* the container's mount namespace, -1 if it could not be opened */
    bool is_running;
    int exit_code;
    char started[32];
    char finished[32]; /* when the container ended ("" while it runs) */
    mon_exec **execs;
    size_t n_execs;
    mon_client **clients;
    size_t n_clients;
    int log_fd;
    size_t log_size, log_max;
    bool is_stopping;
    long long kill_at_ms; /* SIGKILL deadline of a STOP, 0 = none */
    host_init_mode init;  /* resolved: who is the container's pid 1 */
    int console_hold;     /* our own fd on the console pty's slave, -1 if none */
    mon_exec *stop_exec;  /* the stop command while it runs */
    unsigned char io[IO_CHUNK];
} M;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- state.json and the log -------------------------------------------------------------------
 */

static json_t *state_json(void)
{
    json_t *execs = json_array();
    for (size_t i = 0; i < M.n_execs; i++) {
        mon_exec *e = M.execs[i];
        json_array_append_new(
            execs, json_pack("{s:s, s:i, s:b, s:o, s:b, s:b}", "id", e->id, "pid", e->proc.pid,
                             "running", e->is_running, "exit_code",
                             e->exit_code >= 0 ? json_integer(e->exit_code) : json_null(), "tty",
                             e->tty, "main", e->is_main));
    }
    return json_pack(
        "{s:s, s:i, s:i, s:b, s:s, s:s?, s:o, s:o}", "container_id", M.spec->container.id,
        "monitor_pid", (int)getpid(), "container_pid", M.ctr.pid, "running", M.is_running,
        "started", M.started, "finished", M.finished[0] ? M.finished : NULL, "exit_code",
        M.is_running || M.exit_code < 0 ? json_null() : json_integer(M.exit_code), "execs", execs);
}

static void write_state(void)
{
    _cleanup_json_ json_t *j = state_json();
    _cleanup_free_ char *s = jx_dump(j);
    _cleanup_close_ int fd =
        openat(M.run_fd, MON_STATE_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t n = strlen(s);
    if (write(fd, s, n) != (ssize_t)n)
        return;
    renameat(M.run_fd, MON_STATE_NAME ".tmp", M.run_fd, MON_STATE_NAME);
}

/* Over the cap: keep the newest half (from the next line start), copied into a new file that
 * replaces the old one. */
static void log_trim(void)
{
    _cleanup_close_ int rd = openat(M.run_fd, MON_LOG_NAME, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int wr =
        openat(M.run_fd, MON_LOG_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (rd < 0 || wr < 0)
        return;
    off_t off = (off_t)(M.log_size - M.log_max / 2);
    bool first = true;
    size_t total = 0;
    unsigned char buf[8192]; /* not M.io: that may hold the output being logged */
    for (;;) {
        ssize_t n = pread(rd, buf, sizeof(buf), off);
        if (n <= 0)
            break;
        off += n;
        const unsigned char *p = buf;
        size_t len = (size_t)n;
        if (first) {
            first = false;
            const unsigned char *nl = memchr(p, '\n', len);
            if (nl) {
                len -= (size_t)(nl + 1 - p);
                p = nl + 1;
            }
        }
        if (write(wr, p, len) != (ssize_t)len)
            return;
        total += len;
    }
    if (renameat(M.run_fd, MON_LOG_NAME ".tmp", M.run_fd, MON_LOG_NAME) < 0)
        return;
    close(M.log_fd);
    M.log_fd = steal_fd(&wr);
    M.log_size = total;
}

static void log_append(const void *data, size_t len)
{
    if (M.log_fd < 0)
        return;
    if (write(M.log_fd, data, len) == (ssize_t)len)
        M.log_size += len;
    if (M.log_size > M.log_max)
        log_trim();
}

/* ---- clients ------------------------------------------------------------------------------------
 */

static void client_flush(mon_client *c)
{
    while (c->out.len && !c->is_dead) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->is_dead = true;
            return;
        }
        kl_buf_consume(&c->out, (size_t)n);
    }
}

static void client_send(mon_client *c, char type, const void *data, size_t len)
{
    if (c->is_dead)
        return;
    unsigned char h[MON_HDR];
    mon_hdr_put(h, type, len);
    kl_buf_append(&c->out, h, MON_HDR);
    if (len)
        kl_buf_append(&c->out, data, len);
    client_flush(c);
}

static void client_send_json(mon_client *c, char type, json_t *j)
{
    _cleanup_free_ char *s = jx_dump(j);
    json_decref(j);
    client_send(c, type, s, strlen(s));
}

static void client_error(mon_client *c, const char *msg)
{
    client_send_json(c, MON_ERROR, json_pack("{s:s}", "error", msg));
}

static void client_output(mon_client *c, char type, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        size_t n = len > IO_CHUNK ? IO_CHUNK : len;
        client_send(c, type, p, n);
        p += n;
        len -= n;
    }
}

static void client_free(mon_client *c)
{
    close(c->fd);
    kl_buf_free(&c->in);
    kl_buf_free(&c->out);
    free(c);
}

static mon_client *client_add(int fd)
{
    set_nonblock(fd);
    mon_client *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    M.clients = xrealloc(M.clients, (M.n_clients + 1) * sizeof(*M.clients));
    M.clients[M.n_clients++] = c;
    return c;
}

static json_t *end_json(int exit_code, bool container_running)
{
    return json_pack("{s:o, s:b}", "exit_code",
                     exit_code >= 0 ? json_integer(exit_code) : json_null(), "container_running",
                     container_running);
}

/* ---- exec instances
 * ------------------------------------------------------------------------------ */

static mon_exec *exec_find(const char *id)
{
    for (size_t i = 0; i < M.n_execs; i++)
        if (strcmp(M.execs[i]->id, id) == 0)
            return M.execs[i];
    return NULL;
}

/* Output of an exec process on `stream` (KL_STREAM_*): to the attached clients as 'O'
 * (stdout) or 'e' (stderr) frames, or kept for the first attach; the main process's also to
 * the log and its followers, as log records (lib/logrec.h). */
static void exec_output(mon_exec *e, int stream, const void *data, size_t len)
{
    char type = stream == KL_STREAM_STDERR ? MON_OUTPUT_ERR : MON_OUTPUT;
    bool sent = false;
    for (size_t i = 0; i < M.n_clients; i++) {
        mon_client *c = M.clients[i];
        if (c->stream == e) {
            client_output(c, type, data, len);
            sent = true;
        }
    }
    if (!sent && !e->attached_once && e->pending.len + MON_HDR < PENDING_MAX) {
        size_t room = PENDING_MAX - e->pending.len - MON_HDR;
        size_t n = len < room ? len : room;
        unsigned char h[MON_HDR];
        mon_hdr_put(h, type, n);
        kl_buf_append(&e->pending, h, MON_HDR);
        kl_buf_append(&e->pending, data, n);
    }
    if (!e->is_main && !e->to_log)
        return;
    char now[32];
    kl_time_now_iso(now);
    _cleanup_buf_ kl_buf rec = KL_BUF_INIT;
    kl_logrec_encode(&rec, stream, now, data, len);
    for (size_t i = 0; i < M.n_clients; i++)
        if (M.clients[i]->follows_log)
            client_output(M.clients[i], MON_OUTPUT, rec.data, rec.len);
    log_append(rec.data, rec.len);
}

static bool exec_is_backpressured(const mon_exec *e)
{
    for (size_t i = 0; i < M.n_clients; i++) {
        const mon_client *c = M.clients[i];
        if ((c->stream == e || (e->is_main && c->follows_log)) && c->out.len > CLIENT_OUT_MAX)
            return true;
    }
    return false;
}

/* Read what the process has written on one of its output fds (&e->out_fd or &e->err_fd);
 * returns false at EOF (fd closed). With drain, read until there is nothing more. */
static bool exec_read_fd(mon_exec *e, int *fd, bool drain)
{
    int stream = fd == &e->err_fd ? KL_STREAM_STDERR : KL_STREAM_STDOUT;
    while (*fd >= 0) {
        ssize_t n = read(*fd, M.io, sizeof(M.io));
        if (n > 0) {
            exec_output(e, stream, M.io, (size_t)n);
            if (!drain)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        /* EOF, or EIO on a pty master whose slave side is gone */
        close(*fd);
        *fd = -1;
        return false;
    }
    return false;
}

/* Both output fds, until there is nothing more (the process has ended). */
static void exec_drain(mon_exec *e)
{
    exec_read_fd(e, &e->out_fd, true);
    exec_read_fd(e, &e->err_fd, true);
}

static void exec_close_input(mon_exec *e)
{
    if (e->in_fd >= 0)
        close(e->in_fd);
    e->in_fd = -1;
    kl_buf_free(&e->input);
}

static void exec_write_input(mon_exec *e)
{
    while (e->in_fd >= 0 && e->input.len) {
        ssize_t n = write(e->in_fd, e->input.data, e->input.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                exec_close_input(e); /* EPIPE: the process closed its stdin */
            return;
        }
        kl_buf_consume(&e->input, (size_t)n);
    }
    if (e->close_input_after && !e->input.len && !e->tty)
        exec_close_input(e);
}

static void exec_send_end(mon_exec *e, bool container_running)
{
    for (size_t i = 0; i < M.n_clients; i++) {
        mon_client *c = M.clients[i];
        if (c->stream == e) {
            client_send_json(c, MON_END, end_json(e->exit_code, container_running));
            c->stream = NULL;
        }
    }
}

/* from_now: the output kept for a first attach is dropped (host_monitor_attach). */
static void attach(mon_client *c, mon_exec *e, bool from_now)
{
    c->stream = e;
    if (!e->attached_once && from_now) {
        e->attached_once = true;
        kl_buf_free(&e->pending);
    } else if (!e->attached_once) {
        e->attached_once = true;
        kl_buf_append(&c->out, e->pending.data, e->pending.len); /* whole frames */
        kl_buf_free(&e->pending);
        client_flush(c);
    }
    if (!e->is_running && !e->end_deferred)
        exec_send_end(e, M.is_running);
}

/* Is the container about to end once this exec is gone? True when no other exec process runs
 * and the reaper has no child left (the main process and every orphan are gone): the reaper
 * then exits as soon as we have reaped this one. */
static bool container_is_ending(const mon_exec *gone)
{
    if (M.is_stopping)
        return true;
    for (size_t i = 0; i < M.n_execs; i++)
        if (M.execs[i] != gone && !M.execs[i]->is_main && M.execs[i]->is_running)
            return false;
    if (M.init != HOST_INIT_NONE)
        return false; /* pid 1 is the init: the container lives as long as it does */
    char p[64], buf[64];
    snprintf(p, sizeof(p), "/proc/%d/task/%d/children", M.ctr.pid, M.ctr.pid);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf));
    return n == 0;
}

static void stop_signal_send(void);

static void exec_reaped(mon_exec *e, int code)
{
    if (e == M.stop_exec) {
        M.stop_exec = NULL;
        stop_signal_send();
    }
    e->exit_code = code;
    e->is_running = false;
    if (e->pidfd >= 0)
        close(e->pidfd);
    e->pidfd = -1;
    exec_drain(e);
    exec_close_input(e);
    host_process_release(&e->proc);
    if (container_is_ending(e))
        e->end_deferred = true; /* 'Z' with container_running=false once the reaper is gone */
    else
        exec_send_end(e, true);
    write_state();
}

static void exec_check(mon_exec *e)
{
    int code;
    kl_error err = KL_ERROR_INIT;
    if (e->is_running && !e->is_main && host_process_wait(&e->proc, 0, &code, &err) == 1)
        exec_reaped(e, code);
}

static mon_exec *exec_new(const char *id, bool tty, bool is_main)
{
    mon_exec *e = xcalloc(1, sizeof(*e));
    e->id = xstrdup(id);
    e->tty = tty;
    e->is_main = is_main;
    e->pidfd = e->out_fd = e->err_fd = e->in_fd = -1;
    e->exit_code = -1;
    e->proc.pid = -1;
    e->proc.pty_fd = -1;
    return e;
}

/* Pipes for a new process without a tty (with one, the runtime makes the pty):
 * child = {stdin read end, stdout write end, stderr write end},
 * ours = {stdout read end, stdin write end, stderr read end}. */
static int io_prepare(bool tty, int child[3], int ours[3], kl_error *err)
{
    for (int i = 0; i < 3; i++)
        child[i] = ours[i] = -1;
    if (tty)
        return 0;
    int in[2], out[2], er[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return kl_error_errno(err, errno, "pipe");
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return kl_error_errno(err, errno, "pipe");
    }
    if (pipe2(er, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return kl_error_errno(err, errno, "pipe");
    }
    child[0] = in[0];
    child[1] = out[1];
    child[2] = er[1];
    ours[0] = out[0]; /* stdout */
    ours[1] = in[1];  /* stdin */
    ours[2] = er[0];  /* stderr */
    return 0;
}

static void io_close(int fds[3])
{
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void io_finish(mon_exec *e, int child[3], int ours[3])
{
    io_close(child);
    if (e->tty) {
        e->out_fd = e->proc.pty_fd;
        e->proc.pty_fd = -1;
        if (e->out_fd >= 0)
            e->in_fd = fcntl(e->out_fd, F_DUPFD_CLOEXEC, 3);
    } else {
        e->out_fd = ours[0];
        e->in_fd = ours[1];
        e->err_fd = ours[2];
    }
    if (e->out_fd >= 0)
        set_nonblock(e->out_fd);
    if (e->err_fd >= 0)
        set_nonblock(e->err_fd);
    if (e->in_fd >= 0)
        set_nonblock(e->in_fd);
}

static void exec_push(mon_exec *e)
{
    M.execs = xrealloc(M.execs, (M.n_execs + 1) * sizeof(*M.execs));
    M.execs[M.n_execs++] = e;
}

/* Start a process in the container (also while it is stopping: the stop command). */
static mon_exec *exec_spawn(const char *id, char *const *argv, char *const *env, const char *user,
                            const char *cwd, bool tty, unsigned short rows, unsigned short cols,
                            kl_error *err)
{
    mon_exec *e = exec_new(id, tty, false);
    int child[3], ours[3];
    if (io_prepare(tty, child, ours, err) < 0) {
        free(e->id);
        free(e);
        return NULL;
    }
    host_exec_spec xs = {.container_pid = M.ctr.pid,
                         .argv = argv,
                         .env = env,
                         .user = user,
                         .cwd = cwd,
                         .login_env = M.spec->container.login_env,
                         .tty = tty,
                         .tty_rows = rows,
                         .tty_cols = cols,
                         .stdin_fd = child[0],
                         .stdout_fd = child[1],
                         .stderr_fd = child[2]};
    if (host_exec_start(&xs, &e->proc, err) < 0) {
        io_close(child);
        io_close(ours);
        host_process_release(&e->proc);
        free(e->id);
        free(e);
        return NULL;
    }
    io_finish(e, child, ours);
    e->is_running = true;
    /* Our own pidfd to poll: the process is our unreaped child, so its pid is stable. */
    e->pidfd = (int)syscall(SYS_pidfd_open, e->proc.pid, 0);
    exec_push(e);
    write_state();
    return e;
}

static mon_exec *exec_start(json_t *req, kl_error *err)
{
    const char *id = jx_str(req, "exec_id", NULL);
    if (!id || !*id || strlen(id) > 200)
        return kl_error_set(err, EINVAL, "exec: exec_id missing"), NULL;
    if (exec_find(id))
        return kl_error_set(err, EEXIST, "executable already started"), NULL;
    if (!M.is_running || M.is_stopping)
        return kl_error_set(err, ESRCH, "container is not running"), NULL;
    _cleanup_strv_ char **argv = jx_strv(json_object_get(req, "argv"));
    _cleanup_strv_ char **env = jx_strv(json_object_get(req, "env"));
    if (!argv[0])
        return kl_error_set(err, EINVAL, "exec: argv is empty"), NULL;
    return exec_spawn(id, argv, env, jx_str(req, "user", NULL), jx_str(req, "cwd", NULL),
                      jx_bool(req, "tty", false), (unsigned short)jx_int(req, "rows", 24),
                      (unsigned short)jx_int(req, "cols", 80), err);
}

static int exec_signal(mon_exec *e, int sig, kl_error *err)
{
    if (!e->is_running)
        return kl_error_set(err, ESRCH, "exec %s is not running", e->id);
    /* The main process through the reaper, or by its pidfd for what the reaper cannot pass
     * on (STOP); KILL ends the container (host_container_signal_main). An exec process is our
     * own unreaped child: its pid cannot have been reused. */
    if (e->is_main) {
        if (host_container_signal_main(&M.ctr, sig, err) < 0)
            return kl_error_prefix(err, "signalling exec %s", e->id);
        return 0;
    }
    if (kill(e->proc.pid, sig) < 0)
        return kl_error_errno(err, errno, "signalling exec %s", e->id);
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------------
 */

/* The stop signal: an init alone gets it (it stops its services itself: systemd's halt,
 * busybox init's shutdown actions); otherwise every process of the container. */
static void stop_signal_send(void)
{
    if (!M.is_running)
        return;
    kl_error err = KL_ERROR_INIT;
    int sig = M.spec->stop_signal > 0 ? M.spec->stop_signal : host_init_stop_signal(M.init);
    if (M.init != HOST_INIT_NONE)
        syscall(SYS_pidfd_send_signal, M.ctr_pidfd, sig, NULL, 0);
    else
        host_container_signal_all(&M.ctr, sig, &err);
}

/* The stop command (exec.stop), in the container, its output to the log. Returns whether it
 * runs; the stop signal follows when it has ended (exec_reaped), SIGKILL at the deadline. */
static bool stop_cmd_start(void)
{
    const char *cmd = M.spec->stop_cmd;
    if (!cmd || !*cmd || exec_find("exec.stop"))
        return false;
    char *const argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    kl_error err = KL_ERROR_INIT;
    mon_exec *e = exec_spawn("exec.stop", argv, M.spec->container.env, M.spec->container.user, NULL,
                             false, 0, 0, &err);
    if (!e) {
        _cleanup_free_ char *msg = xasprintf("kleene: the stop command failed: %s\n", err.msg);
        log_append(msg, strlen(msg));
        return false;
    }
    e->to_log = true;
    e->attached_once = true; /* nobody attaches: keep nothing for it */
    M.stop_exec = e;
    return true;
}

static void stop_begin(long long grace_ms)
{
    if (M.is_stopping || !M.is_running)
        return;
    M.is_stopping = true;
    kl_error err = KL_ERROR_INIT;
    if (grace_ms <= 0) {
        host_container_signal_all(&M.ctr, SIGKILL, &err);
        return;
    }
    M.kill_at_ms = now_ms() + grace_ms;
    if (!stop_cmd_start())
        stop_signal_send();
}

static void send_log(mon_client *c)
{
    _cleanup_close_ int fd = openat(M.run_fd, MON_LOG_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    for (;;) {
        ssize_t n = read(fd, M.io, sizeof(M.io));
        if (n <= 0)
            break;
        client_send(c, MON_OUTPUT, M.io, (size_t)n);
    }
}

static void handle(mon_client *c, char type, const unsigned char *p, size_t len)
{
    mon_exec *s = c->stream;
    if (type == MON_INPUT) {
        if (s && s->in_fd >= 0) {
            kl_buf_append(&s->input, p, len);
            exec_write_input(s);
        }
        return;
    }
    if (type == MON_CLOSE_INPUT) {
        if (s && s->tty && s->in_fd >= 0) {
            kl_buf_append(&s->input, "\x04", 1); /* VEOF: EOF for a canonical-mode reader */
            exec_write_input(s);
        } else if (s) {
            s->close_input_after = true;
            exec_write_input(s);
        }
        return;
    }
    _cleanup_json_ json_t *req = len ? json_loadb((const char *)p, len, 0, NULL) : json_object();
    if (!json_is_object(req)) {
        client_error(c, "malformed message");
        return;
    }
    kl_error err = KL_ERROR_INIT;
    switch (type) {
    case MON_RESIZE:
        if (s && s->tty && s->in_fd >= 0)
            host_pty_resize(s->in_fd, (unsigned short)jx_int(req, "rows", 24),
                            (unsigned short)jx_int(req, "cols", 80), &err);
        return;
    case MON_STATUS:
        client_send_json(c, MON_REPLY, state_json());
        return;
    case MON_EXEC: {
        mon_exec *e = exec_start(req, &err);
        if (!e) {
            client_error(c, err.msg);
            return;
        }
        client_send_json(c, MON_REPLY, json_pack("{s:b, s:i}", "ok", 1, "pid", e->proc.pid));
        if (jx_bool(req, "attach", false))
            attach(c, e, false);
        return;
    }
    case MON_ATTACH: {
        mon_exec *e = exec_find(jx_str(req, "exec_id", ""));
        if (!e) {
            client_error(c, "no such exec instance");
            return;
        }
        client_send_json(c, MON_REPLY, json_pack("{s:b}", "ok", 1));
        attach(c, e, jx_bool(req, "from_now", false));
        return;
    }
    case MON_KILL: {
        const char *id = jx_str(req, "exec_id", NULL);
        int sig = (int)jx_int(req, "signal", SIGTERM);
        if (!id && s) { /* from a stream: its own process, no reply */
            exec_signal(s, sig, &err);
            return;
        }
        mon_exec *e = id ? exec_find(id) : NULL;
        if (!e)
            client_error(c, "no such exec instance");
        else if (exec_signal(e, sig, &err) < 0)
            client_error(c, err.msg);
        else
            client_send_json(c, MON_REPLY, json_pack("{s:b}", "ok", 1));
        return;
    }
    case MON_STOP:
        c->wants_stop_reply = true;
        stop_begin(jx_int(req, "grace_ms", 10000));
        return;
    case MON_LOG:
        send_log(c);
        if (jx_bool(req, "follow", false) && M.is_running)
            c->follows_log = true;
        else
            client_send_json(c, MON_END, end_json(M.is_running ? -1 : M.exit_code, M.is_running));
        return;
    default:
        client_error(c, "unknown message type");
    }
}

static void client_read(mon_client *c)
{
    ssize_t n = read(c->fd, M.io, sizeof(M.io));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        c->is_dead = true;
        return;
    }
    kl_buf_append(&c->in, M.io, (size_t)n);
    while (c->in.len >= MON_HDR && !c->is_dead) {
        size_t len = mon_hdr_len((unsigned char *)c->in.data);
        if (len > MON_MSG_MAX) {
            c->is_dead = true;
            return;
        }
        if (c->in.len < MON_HDR + len)
            return;
        char type = c->in.data[0];
        _cleanup_free_ unsigned char *p = xmalloc(len + 1);
        memcpy(p, c->in.data + MON_HDR, len);
        kl_buf_consume(&c->in, MON_HDR + len);
        handle(c, type, p, len);
    }
}

/* SO_PEERCRED: only root or our own uid may talk to us. */
static void accept_clients(void)
{
    for (;;) {
        int fd = accept4(M.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct ucred cr;
        socklen_t l = sizeof(cr);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
            (cr.uid != 0 && cr.uid != geteuid())) {
            close(fd);
            continue;
        }
        client_add(fd);
    }
}

static void clients_gc(void)
{
    size_t j = 0;
    for (size_t i = 0; i < M.n_clients; i++) {
        if (M.clients[i]->is_dead)
            client_free(M.clients[i]);
        else
            M.clients[j++] = M.clients[i];
    }
    M.n_clients = j;
}

/* ---- the end ------------------------------------------------------------------------------------
 */

static __attribute__((noreturn)) void finish(int code)
{
    M.is_running = false;
    M.exit_code = code;
    kl_time_now_iso(M.finished);
    /* Every exec process died with the container's pid namespace; reap what is left. */
    for (size_t i = 0; i < M.n_execs; i++) {
        mon_exec *e = M.execs[i];
        if (e->is_main) {
            e->exit_code = code;
            e->is_running = false;
            exec_drain(e);
            continue;
        }
        if (e->is_running) {
            int c2 = 137;
            kl_error err = KL_ERROR_INIT;
            host_process_wait(&e->proc, 1000, &c2, &err);
            e->end_deferred = true;
            e->exit_code = c2;
            e->is_running = false;
            exec_drain(e);
        }
    }
    if (M.console_hold >= 0)
        close(M.console_hold);
    if (M.log_fd >= 0)
        close(M.log_fd);
    write_state();
    /* The paths come from the engine (e.g. the overlay rootfs it mounted under its own root),
     * never from a container user; MNT_DETACH in the host's mount namespace only takes the
     * mount out of the tree (the container, the only other user of it, is gone), and
     * unmounting cannot expose anything that was not reachable before. */
    bool caller_unmounts = false;
    for (size_t i = 0; M.spec->caller_unmounts && i < M.n_clients; i++) {
        const mon_client *c = M.clients[i];
        if (c->is_caller && !c->is_dead && c->stream && c->stream->is_main)
            caller_unmounts = true;
    }
    for (char *const *u = M.spec->unmount_on_exit; !caller_unmounts && u && *u; u++)
        umount2(*u, MNT_DETACH);
    close(M.listen_fd);
    unlink(M.sock_path);

    for (size_t i = 0; i < M.n_execs; i++) {
        mon_exec *e = M.execs[i];
        if (e->is_main || e->end_deferred) {
            e->end_deferred = false;
            exec_send_end(e, false);
        }
    }
    for (size_t i = 0; i < M.n_clients; i++) {
        mon_client *c = M.clients[i];
        if (c->follows_log)
            client_send_json(c, MON_END, end_json(code, false));
        if (c->wants_stop_reply)
            client_send_json(c, MON_REPLY, json_pack("{s:i}", "exit_code", code));
    }
    if (M.ctr_mntns_fd >= 0)
        close(M.ctr_mntns_fd); /* the container's mounts go now */
    /* Give slow readers a little time for the last frames, then go. */
    long long deadline = now_ms() + 2000;
    for (size_t i = 0; i < M.n_clients; i++) {
        mon_client *c = M.clients[i];
        while (c->out.len && !c->is_dead) {
            long long left = deadline - now_ms();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            poll(&p, 1, (int)left);
            client_flush(c);
        }
        shutdown(c->fd, SHUT_WR);
    }
    _exit(0);
}

/* ---- the loop
 * ------------------------------------------------------------------------------------ */

enum { PK_LISTEN, PK_CTR, PK_PID, PK_OUT, PK_ERR, PK_IN, PK_CLIENT };

static __attribute__((noreturn)) void loop(void)
{
    struct pollfd *pfd = NULL;
    unsigned char *kind = NULL;
    void **obj = NULL;
    size_t cap = 0;
    for (;;) {
        size_t need = 2 + 4 * M.n_execs + M.n_clients;
        if (need > cap) {
            cap = need * 2;
            pfd = xrealloc(pfd, cap * sizeof(*pfd));
            kind = xrealloc(kind, cap);
            obj = xrealloc(obj, cap * sizeof(*obj));
        }
        size_t n = 0;
#define ADD(fd_, ev_, k_, o_)                                                                      \
    do {                                                                                           \
        pfd[n] = (struct pollfd){.fd = (fd_), .events = (ev_)};                                    \
        kind[n] = (k_);                                                                            \
        obj[n++] = (o_);                                                                           \
    } while (0)
        ADD(M.listen_fd, POLLIN, PK_LISTEN, NULL);
        ADD(M.ctr_pidfd, POLLIN, PK_CTR, NULL);
        for (size_t i = 0; i < M.n_execs; i++) {
            mon_exec *e = M.execs[i];
            if (e->pidfd >= 0)
                ADD(e->pidfd, POLLIN, PK_PID, e);
            bool is_backpressured = exec_is_backpressured(e);
            if (e->out_fd >= 0 && !is_backpressured)
                ADD(e->out_fd, POLLIN, PK_OUT, e);
            if (e->err_fd >= 0 && !is_backpressured)
                ADD(e->err_fd, POLLIN, PK_ERR, e);
            if (e->in_fd >= 0 && e->input.len)
                ADD(e->in_fd, POLLOUT, PK_IN, e);
        }
        for (size_t i = 0; i < M.n_clients; i++)
            ADD(M.clients[i]->fd, (short)(POLLIN | (M.clients[i]->out.len ? POLLOUT : 0)),
                PK_CLIENT, M.clients[i]);
#undef ADD
        int timeout = -1;
        for (size_t i = 0; i < M.n_execs; i++)
            if (M.execs[i]->is_running && !M.execs[i]->is_main && M.execs[i]->pidfd < 0)
                timeout = 50; /* no pidfd (pidfd_open failed): look for its end by polling */
        if (M.kill_at_ms) {
            long long left = M.kill_at_ms - now_ms();
            if (timeout < 0 || left < timeout)
                timeout = left > 0 ? (int)left : 0;
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR)
            _exit(1);
        if (M.kill_at_ms && now_ms() >= M.kill_at_ms) {
            kl_error err = KL_ERROR_INIT;
            host_container_signal_all(&M.ctr, SIGKILL, &err);
            M.kill_at_ms = 0;
        }
        for (size_t i = 0; i < M.n_execs; i++)
            if (M.execs[i]->pidfd < 0)
                exec_check(M.execs[i]);
        bool ctr_ended = false;
        for (size_t i = 0; r > 0 && i < n; i++) {
            if (!pfd[i].revents)
                continue;
            switch (kind[i]) {
            case PK_LISTEN:
                accept_clients();
                break;
            case PK_CTR:
                ctr_ended = true;
                break;
            case PK_PID:
                exec_check(obj[i]);
                break;
            case PK_OUT:
                exec_read_fd(obj[i], &((mon_exec *)obj[i])->out_fd, false);
                break;
            case PK_ERR:
                exec_read_fd(obj[i], &((mon_exec *)obj[i])->err_fd, false);
                break;
            case PK_IN:
                exec_write_input(obj[i]);
                break;
            case PK_CLIENT: {
                mon_client *c = obj[i];
                if (pfd[i].revents & POLLOUT)
                    client_flush(c);
                if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                    client_read(c);
                break;
            }
            }
        }
        if (ctr_ended) {
            int code = 137;
            kl_error err = KL_ERROR_INIT;
            if (host_process_wait(&M.ctr, 0, &code, &err) == 1)
                finish(code);
        }
        clients_gc();
    }
}

/* ---- start --------------------------------------------------------------------------------------
 */

static int mkdir_p(const char *path, kl_error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return kl_error_errno(err, errno, "creating %s", p);
            *s = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

static int listen_socket(kl_error *err)
{
    char direct[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int len = snprintf(direct, sizeof(direct), "%s/" MON_SOCK_NAME, M.spec->run_dir);
    if (len > 0 && (size_t)len < sizeof(direct))
        M.sock_path = xstrdup(direct);
    else /* too long for sun_path: go through the directory fd */
        M.sock_path = xasprintf("/proc/self/fd/%d/" MON_SOCK_NAME, M.run_fd);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", M.sock_path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "monitor socket");
    M.listen_fd = fd;
    /* A socket file left by a dead monitor is stale; a live one means a double start. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        return kl_error_set(err, EBUSY, "a monitor is already running in %s", M.spec->run_dir);
    }
    if (probe >= 0)
        close(probe);
    unlinkat(M.run_fd, MON_SOCK_NAME, 0);
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0)
        return kl_error_errno(err, errno, "binding %s", M.sock_path);
    M.is_bound = true;
    /* bound under umask 0177 already; say so if the mode cannot be made sure */
    if (fchmodat(M.run_fd, MON_SOCK_NAME, 0600, 0) < 0)
        return kl_error_errno(err, errno, "chmod %s", M.sock_path);
    if (listen(fd, 16) < 0)
        return kl_error_errno(err, errno, "listening on %s", M.sock_path);
    return 0;
}

static int monitor_setup(const host_monitor_spec *spec, kl_error *err)
{
    M.spec = spec;
    M.run_fd = M.listen_fd = M.ctr_pidfd = M.ctr_mntns_fd = M.log_fd = M.console_hold = -1;
    M.exit_code = -1;
    M.log_max = spec->log_max_bytes ? spec->log_max_bytes : DEFAULT_LOG_MAX;
    if (mkdir_p(spec->run_dir, err) < 0)
        return -1;
    M.run_fd = open(spec->run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (M.run_fd < 0)
        return kl_error_errno(err, errno, "opening %s", spec->run_dir);
    if (listen_socket(err) < 0)
        return -1;
    unlinkat(M.run_fd, MON_STATE_NAME, 0);

    M.log_fd = openat(M.run_fd, MON_LOG_NAME, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (M.log_fd < 0)
        return kl_error_errno(err, errno, "opening %s/" MON_LOG_NAME, spec->run_dir);
    struct stat st;
    if (fstat(M.log_fd, &st) == 0)
        M.log_size = (size_t)st.st_size;

    host_container_spec cs = spec->container;
    /* Init mode auto with an init path is resolved by the runtime, inside the container's
     * mount namespace, the only one its root is mounted in (M.ctr.init, below); until then it
     * counts as an init: a console, so stdio is the pty's. */
    cs.init = host_init_from_argv(cs.argv, cs.init);
    bool console = host_container_has_console(&cs);
    mon_exec *e =
        exec_new(spec->exec_id && *spec->exec_id ? spec->exec_id : "main", cs.tty || console, true);
    int child[3], ours[3];
    if (io_prepare(e->tty, child, ours, err) < 0)
        return -1;
    cs.stdin_fd = child[0];
    cs.stdout_fd = child[1];
    cs.stderr_fd = child[2];
    kl_time_now_iso(M.started);
    if (host_container_start(&cs, &M.ctr, err) < 0)
        return -1;
    M.init = M.ctr.init;
    M.ctr_pidfd = (int)syscall(SYS_pidfd_open, M.ctr.pid, 0);
    if (M.ctr_pidfd < 0)
        return kl_error_errno(err, errno, "pidfd_open");
    /* Holding the mount namespace keeps its teardown (unmounting every mount of the container,
     * an RCU grace period: most of a millisecond) out of the reaper's exit, which we wait for,
     * until after the end has been sent. Without it (already gone) nothing changes. */
    char ns[64];
    snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", M.ctr.pid);
    M.ctr_mntns_fd = open(ns, O_RDONLY | O_CLOEXEC);
    e->proc.pid = M.ctr.pid;
    e->proc.pty_fd = steal_fd(&M.ctr.pty_fd);
    /* An init opens and closes its console as it likes (systemd's stdio is /dev/null): our
     * own open slave keeps the pty, and so the log, from hanging up in between. */
    if (console && e->proc.pty_fd >= 0)
        M.console_hold = ioctl(e->proc.pty_fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    io_finish(e, child, ours);
    e->is_running = true;
    exec_push(e);
    M.is_running = true;
    write_state();
    return 0;
}

void monitor_fail(int status_fd, const char *msg)
{
    mon_client tmp = {.fd = status_fd};
    client_error(&tmp, msg);
    _exit(1);
}

void monitor_run(const host_monitor_spec *spec, int status_fd)
{
    kl_error err = KL_ERROR_INIT;
    if (monitor_setup(spec, &err) < 0) {
        if (M.is_bound)
            unlinkat(M.run_fd, MON_SOCK_NAME, 0);
        monitor_fail(status_fd, err.msg);
    }
    mon_client *st = client_add(status_fd);
    st->is_caller = true;
    client_send_json(
        st, MON_REPLY,
        json_pack("{s:i, s:i}", "monitor_pid", (int)getpid(), "container_pid", M.ctr.pid));
    if (spec->attach)
        attach(st, M.execs[0], false);
    else
        st->is_dead = true; /* closed by the first gc; the caller only wanted the status */
    loop();
}
