/* The jail monitor's body (jailmon.h): the kleene-jailmon program runs jailmon_run().
 *
 * It starts the jail with fb_container_start (mounts, aliases or epairs, rctl, then the
 * foreground `jail -c` through the runner) and serves a single-threaded poll loop over: the
 * control socket and its clients, the merged output pipe of the foreground jail(8) (the main
 * exec: its output becomes container.log, as log records) and of every jexec process. Process
 * ends are asked of the runner (fb_wait without waiting) at each turn of the loop, every
 * 100 ms at most. state.json is rewritten (atomically) at every change, in the shape of
 * kleene-monitor's, so the engine reads both the same way.
 *
 * The container has ended when the jail is gone: when jail(8) exits, `jls -j` says whether
 * the jail went with it (then fb_container_ended has cleaned up: aliases, epairs, mounts,
 * devfs, rctl) or still runs (processes the command left, e.g. daemons of /etc/rc): then the
 * monitor goes on serving exec and stop, and asks `jls -j` every 2 s. A stop runs
 * fb_container_stop (exec.stop in the jail, SIGTERM to every process, the grace period,
 * `jail -r`, cleanup), then waits for jail(8). The container's exit code is jail(8)'s status
 * (0, or 1 when the command failed: jail(8) does not pass the command's own status on, B26).
 *
 * A jail that already runs when the monitor starts (its previous monitor died, or kleened
 * restarts a container whose jail survived: B13) is taken over, not started again: the
 * command is not run, a line in the log says so, and the monitor serves exec and stop for it.
 *
 * Nothing here prints (stdio is /dev/null); errors before the loop go to the caller over the
 * status socket. It must not: block its loop on a client, run anything but through the runner. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/freebsd/ifnet.h"
#include "host/freebsd/jailmon.h"
#include "host/monitor_proto.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/logrec.h"
#include "lib/xalloc.h"

#define DEFAULT_LOG_MAX (1u << 20)
#define PENDING_MAX (1u << 20)
#define CLIENT_OUT_MAX (1u << 20)
#define IO_CHUNK 32768
#define TICK_MS 100
#define JAIL_EXIT_WAIT_MS 5000

/* Called right before the monitor exits (the replaying build reports its golden result). */
void (*jailmon_exit_hook)(const char *run_dir);
/* How often a jail without jail(8) of ours is asked for with jls (the replaying build: never
 * within a test, so that its golden files do not depend on timing). */
int jailmon_jls_every_ms = 2000;

typedef struct jm_exec {
    char *id;
    fb_proc proc;
    bool has_proc; /* false: the main exec of a jail taken over (nothing of ours runs) */
    bool is_main, is_running, tty, attached_once, close_input_after;
    int exit_code; /* -1 while running or unknown */
    kl_buf pending;
    kl_buf input;
} jm_exec;

typedef struct jm_client {
    int fd;
    kl_buf in, out;
    jm_exec *stream;
    bool follows_log, wants_stop_reply, is_dead;
} jm_client;

static struct {
    jailmon_spec *spec;
    fb_host host;
    int run_fd, listen_fd, log_fd;
    char *sock_path;
    bool is_bound, is_running, is_stopping, adopted;
    bool jail_alone;       /* jail(8) has ended, the jail runs on */
    long long next_jls_ms; /* with jail_alone: when to ask jls again */
    int exit_code;
    char started[32], finished[32];
    jm_exec **execs;
    size_t n_execs;
    jm_client **clients;
    size_t n_clients;
    size_t log_size, log_max;
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

/* ---- state.json and the log ------------------------------------------------------------- */

static json_t *state_json(void)
{
    json_t *execs = json_array();
    for (size_t i = 0; i < M.n_execs; i++) {
        jm_exec *e = M.execs[i];
        json_array_append_new(
            execs, json_pack("{s:s, s:i, s:b, s:o, s:b, s:b}", "id", e->id, "pid",
                             e->has_proc ? e->proc.pid : -1, "running", e->is_running, "exit_code",
                             e->exit_code >= 0 ? json_integer(e->exit_code) : json_null(), "tty",
                             e->tty, "main", e->is_main));
    }
    json_t *epairs = json_array();
    for (size_t i = 0; i < M.spec->jail.n_endpoints; i++)
        if (M.spec->jail.endpoints[i].epair[0])
            json_array_append_new(epairs, json_pack("{s:s, s:s}", "ifname",
                                                    M.spec->jail.endpoints[i].ifname, "epair",
                                                    M.spec->jail.endpoints[i].epair));
    /* container_pid: the monitor's own pid, since the container ends when the monitor does
     * (jail(8) may end long before the jail). */
    return json_pack("{s:s, s:i, s:i, s:b, s:s, s:s?, s:o, s:o, s:{s:b, s:o}}", "container_id",
                     M.spec->jail.cid, "monitor_pid", (int)getpid(), "container_pid", (int)getpid(),
                     "running", M.is_running, "started", M.started, "finished",
                     M.finished[0] ? M.finished : NULL, "exit_code",
                     M.is_running || M.exit_code < 0 ? json_null() : json_integer(M.exit_code),
                     "execs", execs, "jail", "adopted", M.adopted, "epairs", epairs);
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

/* Over the cap: keep the newest half, from a record's start. */
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
    unsigned char buf[8192];
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

/* ---- clients ------------------------------------------------------------------------------ */

static void client_flush(jm_client *c)
{
    while (c->out.len && !c->is_dead) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->is_dead = true;
            return;
        }
        kl_buf_consume(&c->out, (size_t)n);
    }
}

static void client_send(jm_client *c, char type, const void *data, size_t len)
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

static void client_send_json(jm_client *c, char type, json_t *j)
{
    _cleanup_free_ char *s = jx_dump(j);
    json_decref(j);
    client_send(c, type, s, strlen(s));
}

static void client_error(jm_client *c, const char *msg)
{
    client_send_json(c, MON_ERROR, json_pack("{s:s}", "error", msg));
}

static jm_client *client_add(int fd)
{
    set_nonblock(fd);
    jm_client *c = xcalloc(1, sizeof(*c));
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

/* ---- exec instances ----------------------------------------------------------------------- */

static jm_exec *exec_find(const char *id)
{
    for (size_t i = 0; i < M.n_execs; i++)
        if (!strcmp(M.execs[i]->id, id))
            return M.execs[i];
    return NULL;
}

static jm_exec *exec_new(const char *id, bool tty, bool is_main)
{
    jm_exec *e = xcalloc(1, sizeof(*e));
    e->id = xstrdup(id);
    e->tty = tty;
    e->is_main = is_main;
    e->exit_code = -1;
    e->proc.in_fd = e->proc.out_fd = -1;
    M.execs = xrealloc(M.execs, (M.n_execs + 1) * sizeof(*M.execs));
    M.execs[M.n_execs++] = e;
    return e;
}

/* Output of a process (merged: jail(8) and jexec give one pipe): to the attached clients, or
 * kept for the first attach; the main exec's also to the log and its followers. */
static void exec_output(jm_exec *e, const void *data, size_t len)
{
    bool sent = false;
    for (size_t i = 0; i < M.n_clients; i++)
        if (M.clients[i]->stream == e) {
            client_send(M.clients[i], MON_OUTPUT, data, len);
            sent = true;
        }
    if (!sent && !e->attached_once && e->pending.len + MON_HDR < PENDING_MAX) {
        size_t room = PENDING_MAX - e->pending.len - MON_HDR;
        size_t n = len < room ? len : room;
        unsigned char h[MON_HDR];
        mon_hdr_put(h, MON_OUTPUT, n);
        kl_buf_append(&e->pending, h, MON_HDR);
        kl_buf_append(&e->pending, data, n);
    }
    if (!e->is_main)
        return;
    char now[32];
    kl_time_now_iso(now);
    _cleanup_buf_ kl_buf rec = KL_BUF_INIT;
    kl_logrec_encode(&rec, KL_STREAM_STDOUT, now, data, len);
    for (size_t i = 0; i < M.n_clients; i++)
        if (M.clients[i]->follows_log)
            client_send(M.clients[i], MON_OUTPUT, rec.data, rec.len);
    if (M.log_fd >= 0 && write(M.log_fd, rec.data, rec.len) == (ssize_t)rec.len)
        M.log_size += rec.len;
    if (M.log_size > M.log_max)
        log_trim();
}

/* A line of our own in the log (a jail taken over, a failed stop). */
static void log_note(const char *msg)
{
    jm_exec tmp = {.is_main = true, .attached_once = true};
    exec_output(&tmp, msg, strlen(msg));
}

static bool exec_is_backpressured(const jm_exec *e)
{
    for (size_t i = 0; i < M.n_clients; i++) {
        const jm_client *c = M.clients[i];
        if ((c->stream == e || (e->is_main && c->follows_log)) && c->out.len > CLIENT_OUT_MAX)
            return true;
    }
    return false;
}

/* Read its output; with drain, until there is nothing more. */
static void exec_read(jm_exec *e, bool drain)
{
    while (e->proc.out_fd >= 0) {
        ssize_t n = read(e->proc.out_fd, M.io, sizeof(M.io));
        if (n > 0) {
            exec_output(e, M.io, (size_t)n);
            if (!drain)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close(e->proc.out_fd);
        e->proc.out_fd = -1;
    }
}

static void exec_close_input(jm_exec *e)
{
    if (e->proc.in_fd >= 0)
        close(e->proc.in_fd);
    e->proc.in_fd = -1;
    kl_buf_free(&e->input);
}

static void exec_write_input(jm_exec *e)
{
    while (e->proc.in_fd >= 0 && e->input.len) {
        ssize_t n = write(e->proc.in_fd, e->input.data, e->input.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                exec_close_input(e);
            return;
        }
        kl_buf_consume(&e->input, (size_t)n);
    }
    if (e->close_input_after && !e->input.len)
        exec_close_input(e);
}

static void exec_send_end(jm_exec *e)
{
    for (size_t i = 0; i < M.n_clients; i++) {
        jm_client *c = M.clients[i];
        if (c->stream == e) {
            client_send_json(c, MON_END, end_json(e->exit_code, M.is_running));
            c->stream = NULL;
        }
    }
}

/* from_now: the output kept for a first attach is dropped (host_monitor_attach). */
static void attach(jm_client *c, jm_exec *e, bool from_now)
{
    c->stream = e;
    if (!e->attached_once && from_now) {
        e->attached_once = true;
        kl_buf_free(&e->pending);
    } else if (!e->attached_once) {
        e->attached_once = true;
        kl_buf_append(&c->out, e->pending.data, e->pending.len);
        kl_buf_free(&e->pending);
        client_flush(c);
    }
    /* The main exec's end is sent with the container's (finish), unless the jail runs on. */
    if (!e->is_running && (!e->is_main || M.is_running))
        exec_send_end(e);
}

static void exec_ended(jm_exec *e, int status)
{
    e->is_running = false;
    e->exit_code = status;
    exec_read(e, true);
    exec_close_input(e);
    if (e->proc.out_fd >= 0) {
        close(e->proc.out_fd); /* a daemon of the jail may hold the pipe: we stop reading */
        e->proc.out_fd = -1;
    }
    if (!e->is_main)
        exec_send_end(e);
    write_state();
}

static jm_exec *exec_start(json_t *req, kl_error *err)
{
    const char *id = jx_str(req, "exec_id", NULL);
    if (!id || !*id || strlen(id) > 200)
        return kl_error_set(err, EINVAL, "exec: exec_id missing"), NULL;
    if (exec_find(id))
        return kl_error_set(err, EEXIST, "executable already started"), NULL;
    if (!M.is_running || M.is_stopping)
        return kl_error_set(err, ESRCH, "container is not running"), NULL;
    _cleanup_free_ const char **argv = NULL, **env = NULL;
    json_t *a = json_object_get(req, "argv"), *v = json_object_get(req, "env");
    argv = xcalloc(json_array_size(a) + 1, sizeof(char *));
    env = xcalloc(json_array_size(v) + 1, sizeof(char *));
    for (size_t i = 0, k = 0; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)))
            argv[k++] = json_string_value(json_array_get(a, i));
    for (size_t i = 0, k = 0; i < json_array_size(v); i++)
        if (json_is_string(json_array_get(v, i)))
            env[k++] = json_string_value(json_array_get(v, i));
    if (!argv[0])
        return kl_error_set(err, EINVAL, "exec: argv is empty"), NULL;
    /* jexec -l starts in the user's home directory: a cwd is not applied (docs/freebsd.md). */
    bool tty = jx_bool(req, "tty", false);
    fb_proc proc;
    if (fb_container_exec(&M.host, M.spec->jail.cid, jx_str(req, "user", ""), env, argv, tty, &proc,
                          err) < 0)
        return NULL;
    jm_exec *e = exec_new(id, tty, false);
    e->proc = proc;
    e->has_proc = true;
    e->is_running = true;
    if (e->proc.out_fd >= 0)
        set_nonblock(e->proc.out_fd);
    if (e->proc.in_fd >= 0)
        set_nonblock(e->proc.in_fd);
    write_state();
    return e;
}

/* ---- the end ------------------------------------------------------------------------------ */

static __attribute__((noreturn)) void finish(int code)
{
    M.is_running = false;
    M.exit_code = code;
    kl_time_now_iso(M.finished);
    for (size_t i = 0; i < M.n_execs; i++) {
        jm_exec *e = M.execs[i];
        if (e->is_main && e->is_running) {
            e->is_running = false;
            e->exit_code = code;
        } else if (e->is_running) {
            /* a jexec whose jail is gone ends now */
            int st = 137;
            kl_error ig = KL_ERROR_INIT;
            if (fb_wait(M.host.run, &e->proc, 1000, &st, &ig) != 1) {
                fb_kill(M.host.run, &e->proc, SIGKILL, &ig);
                fb_wait(M.host.run, &e->proc, 1000, &st, &ig);
            }
            e->is_running = false;
            e->exit_code = st;
        }
        exec_read(e, true);
    }
    if (M.log_fd >= 0)
        close(M.log_fd);
    M.log_fd = -1;
    write_state();
    close(M.listen_fd);
    unlinkat(M.run_fd, MON_SOCK_NAME, 0);
    for (size_t i = 0; i < M.n_execs; i++)
        exec_send_end(M.execs[i]);
    for (size_t i = 0; i < M.n_clients; i++) {
        jm_client *c = M.clients[i];
        if (c->follows_log)
            client_send_json(c, MON_END, end_json(code, false));
        if (c->wants_stop_reply)
            client_send_json(c, MON_REPLY, json_pack("{s:i}", "exit_code", code));
    }
    long long deadline = now_ms() + 2000;
    for (size_t i = 0; i < M.n_clients; i++) {
        jm_client *c = M.clients[i];
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
    if (jailmon_exit_hook)
        jailmon_exit_hook(M.spec->run_dir);
    _exit(0);
}

static jm_exec *main_exec(void)
{
    for (size_t i = 0; i < M.n_execs; i++)
        if (M.execs[i]->is_main)
            return M.execs[i];
    return NULL;
}

/* The container is over: jail(8)'s status, or -1 when we never ran it (a jail taken over). */
static int main_code(void)
{
    jm_exec *m = main_exec();
    return m ? m->exit_code : -1;
}

/* Stop (MON_STOP): fb_container_stop, then jail(8)'s end (SIGKILL if it does not come). */
static __attribute__((noreturn)) void stop(long long grace_ms)
{
    M.is_stopping = true;
    kl_error err = KL_ERROR_INIT;
    if (grace_ms <= 0) {
        /* A kill (SIGKILL to the container): no exec.stop, no grace; every process of the jail
         * gets SIGKILL, and the jail is removed. */
        int running = fb_jail_is_running(&M.host, M.spec->jail.cid, &err);
        if (running > 0) {
            kl_error ig = KL_ERROR_INIT;
            fb_run_ok(M.host.run,
                      FB_ARGV("/usr/sbin/jexec", M.spec->jail.cid, "/bin/kill", "-KILL", "-1"),
                      NULL, &ig);
            if (fb_run_ok(M.host.run, FB_ARGV("/usr/sbin/jail", "-r", M.spec->jail.cid), NULL,
                          &err) < 0) {
                _cleanup_free_ char *msg = xasprintf("kleene: killing the jail: %s\n", err.msg);
                log_note(msg);
            }
        }
        kl_error ig = KL_ERROR_INIT;
        fb_container_cleanup(&M.host, &M.spec->jail, &ig);
    } else if (fb_container_stop(&M.host, &M.spec->jail, (int)grace_ms, &err) < 0 &&
               err.code != ENOENT) {
        _cleanup_free_ char *msg = xasprintf("kleene: stopping the jail: %s\n", err.msg);
        log_note(msg);
    }
    jm_exec *m = main_exec();
    if (m && m->has_proc && m->is_running) {
        int st = 137;
        kl_error ig = KL_ERROR_INIT;
        int r = fb_wait(M.host.run, &m->proc, JAIL_EXIT_WAIT_MS, &st, &ig);
        if (r != 1) {
            fb_kill(M.host.run, &m->proc, SIGKILL, &ig);
            if (fb_wait(M.host.run, &m->proc, JAIL_EXIT_WAIT_MS, &st, &ig) != 1)
                st = 137;
        }
        exec_ended(m, st);
    }
    finish(main_code());
}

/* jail(8) of the main exec has ended with `status`: the container ends with it, unless the
 * jail runs on. */
static void main_ended(jm_exec *m, int status)
{
    exec_ended(m, status);
    kl_error err = KL_ERROR_INIT;
    int gone = fb_container_ended(&M.host, &M.spec->jail, &err);
    if (gone != 0) /* gone (cleaned up), or jls failed: nothing more we can watch */
        finish(status);
    M.jail_alone = true;
    M.next_jls_ms = now_ms() + jailmon_jls_every_ms;
    exec_send_end(m); /* its stream ends; the container runs on */
}

/* A jail without jail(8) of ours (taken over, or its jail(8) ended): gone yet? */
static void jail_check(void)
{
    M.next_jls_ms = now_ms() + jailmon_jls_every_ms;
    kl_error err = KL_ERROR_INIT;
    int running = fb_jail_is_running(&M.host, M.spec->jail.cid, &err);
    if (running != 0) /* running, or jls failed: ask again later */
        return;
    kl_error ig = KL_ERROR_INIT;
    fb_container_cleanup(&M.host, &M.spec->jail, &ig);
    finish(main_code());
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Strings of endpoints connected while the jail runs (the spec's point into its JSON). */
static char **ep_pool;

static const char *ep_keep(const char *s)
{
    if (!s || !*s)
        return NULL;
    strv_push(&ep_pool, s);
    return ep_pool[strv_len(ep_pool) - 1];
}

/* MON_NETWORK: an endpoint of the running jail added or removed (host_monitor_network); the
 * list is kept, for the cleanup at the end. */
static int network(bool connect, json_t *ep, kl_error *err)
{
    fb_jail_spec *j = &M.spec->jail;
    const char *ifname = jx_str(ep, "ifname", NULL);
    if (!ifname)
        return kl_error_set(err, EINVAL, "network: endpoint without an interface");
    if (!M.is_running || M.is_stopping)
        return kl_error_set(err, ESRCH, "container is not running");
    size_t at = j->n_endpoints;
    for (size_t i = 0; i < j->n_endpoints; i++)
        if (!strcmp(j->endpoints[i].ifname, ifname))
            at = i;
    if (!connect) {
        if (at == j->n_endpoints)
            return 0;
        if (fb_net_disconnect(&M.host, j->cid, j->driver, &M.spec->endpoints[at], true, err) < 0)
            return -1;
        memmove(&M.spec->endpoints[at], &M.spec->endpoints[at + 1],
                (j->n_endpoints - at - 1) * sizeof(fb_endpoint));
        j->n_endpoints--;
        write_state();
        return 0;
    }
    if (at != j->n_endpoints)
        return kl_error_set(err, EEXIST, "container already connected to the network");
    if (j->driver == FB_NET_VNET)
        return kl_error_set(err, EBUSY, "cannot connect a running vnet container to a network");
    if (j->driver != FB_NET_IPNET)
        return 0;
    fb_endpoint f = {.ifname = ep_keep(ifname),
                     .ip4 = ep_keep(jx_str(ep, "ip4", NULL)),
                     .ip6 = ep_keep(jx_str(ep, "ip6", NULL)),
                     .prefix4 = (int)jx_int(ep, "prefix4", 0),
                     .prefix6 = (int)jx_int(ep, "prefix6", 0)};
    if (fb_net_connect_running(&M.host, j->cid, &f, err) < 0)
        return -1;
    M.spec->endpoints = xrealloc(M.spec->endpoints, (j->n_endpoints + 1) * sizeof(fb_endpoint));
    M.spec->endpoints[j->n_endpoints++] = f;
    j->endpoints = M.spec->endpoints;
    write_state();
    return 0;
}

static void send_log(jm_client *c)
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

static int exec_signal(jm_exec *e, int sig, kl_error *err)
{
    if (!e->is_running)
        return kl_error_set(err, ESRCH, "exec %s is not running", e->id);
    if (!e->is_main)
        return fb_kill(M.host.run, &e->proc, sig, err);
    /* jail(8) does not pass a signal on to the command (B26): every process of the jail. */
    _cleanup_free_ char *s = xasprintf("-%d", sig);
    return fb_run_ok(M.host.run, FB_ARGV("/usr/sbin/jexec", M.spec->jail.cid, "/bin/kill", s, "-1"),
                     NULL, err);
}

static void handle(jm_client *c, char type, const unsigned char *p, size_t len)
{
    jm_exec *s = c->stream;
    if (type == MON_INPUT) {
        if (s && s->proc.in_fd >= 0) {
            kl_buf_append(&s->input, p, len);
            exec_write_input(s);
        }
        return;
    }
    if (type == MON_CLOSE_INPUT) {
        if (s) {
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
        return; /* kleene-pty has no window size (FREEBSD-HOST.md §4.4) */
    case MON_STATUS:
        client_send_json(c, MON_REPLY, state_json());
        return;
    case MON_EXEC: {
        jm_exec *e = exec_start(req, &err);
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
        jm_exec *e = exec_find(jx_str(req, "exec_id", ""));
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
        if (!id && s) {
            exec_signal(s, sig, &err);
            return;
        }
        jm_exec *e = id ? exec_find(id) : NULL;
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
        if (M.is_running && !M.is_stopping)
            stop(jx_int(req, "grace_ms", 10000));
        return;
    case MON_NETWORK:
        if (network(jx_bool(req, "connect", false), json_object_get(req, "endpoint"), &err) < 0)
            client_send_json(c, MON_ERROR,
                             json_pack("{s:s, s:i}", "error", err.msg, "code", err.code));
        else
            client_send_json(c, MON_REPLY, json_pack("{s:b}", "ok", 1));
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

static void client_read(jm_client *c)
{
    ssize_t n = read(c->fd, M.io, sizeof(M.io));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
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

/* Only root or our own user may talk to us (the socket is 0600 in a 0700 directory too). */
static bool peer_is_allowed(int fd)
{
#if defined(__FreeBSD__)
    uid_t uid;
    gid_t gid;
    if (getpeereid(fd, &uid, &gid) < 0)
        return false;
    return uid == 0 || uid == geteuid();
#elif defined(SO_PEERCRED)
    struct ucred cr;
    socklen_t l = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
        return false;
    return cr.uid == 0 || cr.uid == geteuid();
#else
    return false;
#endif
}

static void accept_clients(void)
{
    for (;;) {
        int fd = accept(M.listen_fd, NULL, NULL);
        if (fd < 0)
            return;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (!peer_is_allowed(fd)) {
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
        jm_client *c = M.clients[i];
        if (c->is_dead) {
            close(c->fd);
            kl_buf_free(&c->in);
            kl_buf_free(&c->out);
            free(c);
        } else {
            M.clients[j++] = c;
        }
    }
    M.n_clients = j;
}

/* ---- the loop ------------------------------------------------------------------------------ */

enum { PK_LISTEN, PK_OUT, PK_IN, PK_CLIENT };

static __attribute__((noreturn)) void loop(void)
{
    struct pollfd *pfd = NULL;
    unsigned char *kind = NULL;
    void **obj = NULL;
    size_t cap = 0;
    for (;;) {
        /* Process ends first: the runner is asked without waiting. */
        for (size_t i = 0; i < M.n_execs; i++) {
            jm_exec *e = M.execs[i];
            if (!e->is_running || !e->has_proc)
                continue;
            int st;
            kl_error err = KL_ERROR_INIT;
            int r = fb_wait(M.host.run, &e->proc, 0, &st, &err);
            if (r == 0)
                continue;
            if (r < 0)
                st = 137;
            if (e->is_main)
                main_ended(e, st);
            else
                exec_ended(e, st);
        }
        if (M.jail_alone && now_ms() >= M.next_jls_ms)
            jail_check();
        clients_gc();

        size_t need = 1 + 2 * M.n_execs + M.n_clients;
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
        for (size_t i = 0; i < M.n_execs; i++) {
            jm_exec *e = M.execs[i];
            if (e->proc.out_fd >= 0 && !exec_is_backpressured(e))
                ADD(e->proc.out_fd, POLLIN, PK_OUT, e);
            if (e->proc.in_fd >= 0 && e->input.len)
                ADD(e->proc.in_fd, POLLOUT, PK_IN, e);
        }
        for (size_t i = 0; i < M.n_clients; i++)
            ADD(M.clients[i]->fd, (short)(POLLIN | (M.clients[i]->out.len ? POLLOUT : 0)),
                PK_CLIENT, M.clients[i]);
#undef ADD
        int r = poll(pfd, n, TICK_MS);
        if (r < 0 && errno != EINTR)
            _exit(1);
        for (size_t i = 0; r > 0 && i < n; i++) {
            if (!pfd[i].revents)
                continue;
            switch (kind[i]) {
            case PK_LISTEN:
                accept_clients();
                break;
            case PK_OUT:
                exec_read(obj[i], false);
                break;
            case PK_IN:
                exec_write_input(obj[i]);
                break;
            case PK_CLIENT: {
                jm_client *c = obj[i];
                if (pfd[i].revents & POLLOUT)
                    client_flush(c);
                if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                    client_read(c);
                break;
            }
            }
        }
    }
}

/* ---- start ------------------------------------------------------------------------------------
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

static int bind_socket(int fd, struct sockaddr_un *sa, bool is_long)
{
#if defined(__FreeBSD__)
    if (is_long)
        return bindat(M.run_fd, fd, (struct sockaddr *)sa, sizeof(*sa));
#endif
    return bind(fd, (struct sockaddr *)sa, sizeof(*sa));
}

static int listen_socket(kl_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" MON_SOCK_NAME, M.spec->run_dir);
    bool is_long = len < 0 || (size_t)len >= sizeof(sa.sun_path);
    if (is_long) {
#if defined(__linux__)
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" MON_SOCK_NAME, M.run_fd);
#elif defined(__FreeBSD__)
        snprintf(sa.sun_path, sizeof(sa.sun_path), MON_SOCK_NAME);
#else
        return kl_error_set(err, ENAMETOOLONG, "%s: path too long for a socket", M.spec->run_dir);
#endif
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "monitor socket");
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    set_nonblock(fd);
    M.listen_fd = fd;
    /* A socket file left by a dead monitor is stale; a live one means a double start. */
    struct stat st;
    if (fstatat(M.run_fd, MON_SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        int probe = socket(AF_UNIX, SOCK_STREAM, 0);
        bool live =
            probe >= 0 && !is_long && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (probe >= 0)
            close(probe);
        if (live)
            return kl_error_set(err, EBUSY, "a monitor is already running in %s", M.spec->run_dir);
        unlinkat(M.run_fd, MON_SOCK_NAME, 0);
    }
    mode_t old = umask(0177);
    int r = bind_socket(fd, &sa, is_long);
    umask(old);
    if (r < 0)
        return kl_error_errno(err, errno, "binding %s/" MON_SOCK_NAME, M.spec->run_dir);
    M.is_bound = true;
    if (listen(fd, 16) < 0)
        return kl_error_errno(err, errno, "listening on %s/" MON_SOCK_NAME, M.spec->run_dir);
    return 0;
}

/* The container's own stop command (the engine's stop_cmd) is jail(8)'s exec.stop: added
 * after the user's parameters when it is not what they say already (the last one wins). */
static void apply_stop_cmd(jailmon_spec *s)
{
    if (!s->stop_cmd || !*s->stop_cmd)
        return;
    const char *have = NULL;
    size_t n = 0;
    for (; s->params[n]; n++)
        if (!strncmp(s->params[n], "exec.stop=", 10))
            have = s->params[n] + 10;
    if (have && !strcmp(have, s->stop_cmd))
        return;
    char *p = xasprintf("exec.stop=%s", s->stop_cmd);
    json_array_append_new(json_object_get(s->doc, "params"), json_string(p));
    free(p);
    json_t *arr = json_object_get(s->doc, "params");
    s->params = xrealloc(s->params, (n + 2) * sizeof(char *));
    s->params[n] = json_string_value(json_array_get(arr, json_array_size(arr) - 1));
    s->params[n + 1] = NULL;
    s->jail.jail_params = s->params;
}

static int setup(jailmon_spec *spec, fb_runner *run, kl_error *err)
{
    M.spec = spec;
    M.run_fd = M.listen_fd = M.log_fd = -1;
    M.exit_code = -1;
    M.log_max = spec->log_max ? spec->log_max : DEFAULT_LOG_MAX;
    M.host = (fb_host){.run = run,
                       .root = spec->host.zfs_root,
                       .pf_anchor = spec->host.pf_anchor,
                       .pty_helper = spec->host.pty_helper};
    apply_stop_cmd(spec);
    /* Mount destinations the image lacks are made at start (a file for a file's mount). */
    for (size_t i = 0; i < spec->jail.n_mounts; i++) {
        struct stat sst;
        spec->mounts[i].make_destination = true;
        spec->mounts[i].source_is_file =
            stat(spec->mounts[i].source, &sst) == 0 && S_ISREG(sst.st_mode);
    }
    if (mkdir_p(spec->run_dir, err) < 0)
        return -1;
    M.run_fd = open(spec->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
    kl_time_now_iso(M.started);
    fb_proc proc;
    kl_error serr = KL_ERROR_INIT;
    jm_exec *e = exec_new(spec->exec_id, spec->jail.tty, true);
    if (fb_container_start(&M.host, &spec->jail, &proc, &serr) == 0) {
        e->proc = proc;
        e->has_proc = true;
        e->is_running = true;
        if (e->proc.out_fd >= 0)
            set_nonblock(e->proc.out_fd);
        if (e->proc.in_fd >= 0)
            set_nonblock(e->proc.in_fd);
    } else if (serr.code == EBUSY && strstr(serr.msg, "already running")) {
        /* Its jail runs without a monitor: take it over (B13), do not run the command. */
        M.adopted = true;
        M.jail_alone = true;
        M.next_jls_ms = now_ms() + jailmon_jls_every_ms;
        _cleanup_free_ char *msg = xasprintf(
            "kleene: jail %s was running already: taken over, its command was not run again\n",
            spec->jail.cid);
        log_note(msg);
    } else {
        /* fb_container_start says "starting container <cid>: ", and so does the engine */
        _cleanup_free_ char *dup = xasprintf("starting container %s: ", spec->jail.cid);
        const char *msg = serr.msg;
        if (!strncmp(msg, dup, strlen(dup)))
            msg += strlen(dup);
        kl_error_set(err, serr.code, "%s", msg);
        return -1;
    }
    M.is_running = true;
    write_state();
    return 0;
}

void jailmon_fail(int status_fd, const char *msg)
{
    jm_client tmp = {.fd = status_fd};
    client_error(&tmp, msg);
    _exit(1);
}

void jailmon_run(jailmon_spec *spec, fb_runner *run, int status_fd)
{
    kl_error err = KL_ERROR_INIT;
    if (setup(spec, run, &err) < 0) {
        if (M.is_bound)
            unlinkat(M.run_fd, MON_SOCK_NAME, 0);
        jm_client tmp = {.fd = status_fd};
        client_send_json(
            &tmp, MON_ERROR,
            json_pack("{s:s, s:i}", "error", err.msg, "code", err.code ? err.code : EIO));
        if (jailmon_exit_hook)
            jailmon_exit_hook(spec->run_dir);
        _exit(1);
    }
    jm_client *st = client_add(status_fd);
    client_send_json(st, MON_REPLY,
                     json_pack("{s:i, s:i, s:b}", "monitor_pid", (int)getpid(), "container_pid",
                               (int)getpid(), "adopted", M.adopted));
    if (spec->attach)
        attach(st, M.execs[0], false);
    else
        st->is_dead = true;
    loop();
}
