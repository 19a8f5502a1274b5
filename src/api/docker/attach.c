/* The Docker door's hijacked connections: container attach (before the start: the main
 * process's stream from its first byte; on a running container: a stream attached to its main
 * process, from now on), exec instances (create, start attached or detached, inspect, resize)
 * and terminal resizes (docs/docker-api.md "Attach").
 *
 * Both relay the engine's exec stream (engine/exec.h) on the raw connection: the client's
 * bytes to the process's stdin (with a terminal through the detach keys), the output raw with
 * a terminal, else in Docker's multiplexed frames (an 8-byte header: the stream 1 or 2, three
 * zero bytes, the length as 32 bits big-endian). When the process ends the connection is
 * closed. A client that detaches (the keys, or the end of its input where dockerd ends the
 * session) or goes away leaves the process running, as with dockerd.
 *
 * A session lives as long as its connection: the table below only lets another request reach
 * it (the start of a container whose attach waits, a resize); nothing here outlives it except
 * a short list of exit codes noted when an attached main process ends, for a wait that finds
 * its auto-removed container gone. */
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/detachkeys.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

/* ---- sessions ----------------------------------------------------------------------------- */

typedef struct dk_session {
    bool is_exec;
    char id[13];      /* the container (attach) or the exec instance */
    char exec_id[13]; /* attach: the main process, once a start has handed it over */
    bool handed, start_done, gone;
    bool join; /* attach: the container was started for another session, join its process */
    int start_rc;
    char start_msg[512];
    unsigned rows, cols;
    bool resize;
    int wake[2]; /* a byte on it: look at the fields again */
    /* a start waiting in dk_attach_hand_over: the session is freed by the last of them when
     * its connection ended meanwhile (free_pending) */
    int waiters;
    bool free_pending;
    struct dk_session *next;
} dk_session;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static dk_session *sessions;

static dk_session *session_new(bool is_exec, const char *id, bool handed)
{
    dk_session *s = xcalloc(1, sizeof(*s));
    s->is_exec = is_exec;
    s->handed = handed;
    snprintf(s->id, sizeof(s->id), "%s", id);
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&mu);
    s->next = sessions;
    sessions = s;
    pthread_mutex_unlock(&mu);
    return s;
}

static void session_wake(dk_session *s)
{
    char b = 1;
    if (write(s->wake[1], &b, 1) < 0 && errno != EAGAIN)
        log_debug("docker session: wake: %s", strerror(errno));
}

static void session_destroy(dk_session *s)
{
    close(s->wake[0]);
    close(s->wake[1]);
    free(s);
}

static void session_free(dk_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&mu);
    for (dk_session **p = &sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    s->gone = true;
    bool later = s->waiters > 0;
    s->free_pending = later;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (!later)
        session_destroy(s);
}

int dk_attach_hand_over(const char *container_id, const char *exec_id, kl_error *err)
{
    pthread_mutex_lock(&mu);
    dk_session *s = sessions;
    while (s && (s->is_exec || s->handed || strcmp(s->id, container_id) != 0))
        s = s->next;
    if (!s) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    snprintf(s->exec_id, sizeof(s->exec_id), "%s", exec_id);
    s->handed = true;
    session_wake(s);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    int rc = 0;
    /* s stays valid while we are among its waiters, even once its connection has ended: a
     * short process may have started, run and ended, and its session gone, before this
     * thread is scheduled again; the start result is what counts then */
    s->waiters++;
    while (!s->start_done && !s->gone && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &until);
    int r = s->start_done && s->start_rc == 0 ? 1 : -1;
    if (r < 0 && !s->start_done && s->gone) /* the client went away before the start */
        kl_error_set(err, ECONNRESET, "the attached client went away");
    else if (r < 0)
        kl_error_set(err, EIO, "%s", s->start_done ? s->start_msg : "timed out starting");
    bool destroy = --s->waiters == 0 && s->free_pending;
    /* other attach sessions that waited for this start join the running process */
    for (dk_session *o = sessions; r == 1 && o; o = o->next)
        if (!o->is_exec && !o->handed && !strcmp(o->id, container_id)) {
            o->join = true;
            session_wake(o);
        }
    pthread_mutex_unlock(&mu);
    if (destroy)
        session_destroy(s);
    return r;
}

static void start_result(dk_session *s, int rc, const char *msg)
{
    pthread_mutex_lock(&mu);
    s->start_done = true;
    s->start_rc = rc;
    snprintf(s->start_msg, sizeof(s->start_msg), "%s", msg ? msg : "");
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* A resize for the sessions of container or exec `id` (several clients may be attached to a
 * container): false when there is none. */
static bool session_resize(bool is_exec, const char *id, unsigned rows, unsigned cols)
{
    bool found = false;
    pthread_mutex_lock(&mu);
    for (dk_session *s = sessions; s; s = s->next) {
        if (s->is_exec != is_exec || strcmp(s->id, id) != 0)
            continue;
        s->rows = rows;
        s->cols = cols;
        s->resize = true;
        session_wake(s);
        found = true;
    }
    pthread_mutex_unlock(&mu);
    return found;
}

/* ---- exit codes of attached main processes ------------------------------------------------ */

#define NOTES 64
static struct {
    char id[13];
    int code;
} notes[NOTES];
static size_t note_next;

void dk_exit_note(const char *container_id, int code)
{
    pthread_mutex_lock(&mu);
    snprintf(notes[note_next].id, 13, "%s", container_id);
    notes[note_next].code = code;
    note_next = (note_next + 1) % NOTES;
    pthread_mutex_unlock(&mu);
}

bool dk_exit_noted(const char *container_id, int *code)
{
    bool found = false;
    pthread_mutex_lock(&mu);
    for (size_t k = 0; k < NOTES; k++) {
        size_t i = (note_next + NOTES - 1 - k) % NOTES;
        if (!strcmp(notes[i].id, container_id)) {
            *code = notes[i].code;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return found;
}

void dk_exit_forget(const char *container_id)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < NOTES; i++)
        if (!strcmp(notes[i].id, container_id))
            notes[i].id[0] = '\0';
    pthread_mutex_unlock(&mu);
}

/* ---- the relay ------------------------------------------------------------------------------ */

typedef struct relay_opts {
    bool tty;
    bool stdin_open; /* the client's bytes go to the process */
    bool want[3];    /* by EXEC_STDOUT, EXEC_STDERR */
    /* the container's StdinOnce: the process's stdin closes when this client's input ends
     * (its half-close, or the client gone); without a tty only, as dockerd */
    bool stdin_once;
    /* the end of the client's input (its half-close) ends the session, the process runs on
     * (dockerd's attach to a running container without StdinOnce) */
    bool eof_detaches;
    /* with a tty and stdin: the keys that detach (dockerd scans them with a tty only) */
    kl_detach_keys keys;
    bool detached_by_keys;
} relay_opts;

enum { RELAY_GONE = 0, RELAY_ENDED = 1, RELAY_DETACHED = 2 };

static int send_output(api_hijacked *io, bool tty, int stream, const void *data, size_t len)
{
    if (tty)
        return io->write_all(io->conn, data, len);
    unsigned char h[8] = {(unsigned char)(stream == EXEC_STDERR ? 2 : 1),
                          0,
                          0,
                          0,
                          (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8),
                          (unsigned char)len};
    if (io->write_all(io->conn, h, sizeof(h)) < 0)
        return -1;
    return io->write_all(io->conn, data, len);
}

static void apply_resize(dk_session *s, exec_stream *st)
{
    pthread_mutex_lock(&mu);
    bool r = s->resize;
    unsigned rows = s->rows, cols = s->cols;
    s->resize = false;
    pthread_mutex_unlock(&mu);
    kl_error err = KL_ERROR_INIT;
    if (r && exec_stream_resize(st, rows, cols, &err) < 0)
        log_debug("docker: resize: %s", err.msg);
}

/* The client's input for the process, through the detach keys: RELAY_DETACHED when they
 * were typed (what followed them is dropped). */
static int relay_input(exec_stream *st, relay_opts *o, const void *data, size_t len)
{
    kl_error err = KL_ERROR_INIT;
    bool detach = false;
    if (o->tty && o->keys.n) {
        unsigned char out[65536 + KL_DETACH_KEYS_MAX];
        size_t n = 0;
        detach = kl_detach_keys_scan(&o->keys, data, len, out, &n);
        if (exec_stream_write(st, out, n, &err) < 0)
            log_debug("docker: stdin: %s", err.msg);
    } else if (exec_stream_write(st, data, len, &err) < 0) {
        log_debug("docker: stdin: %s", err.msg);
    }
    o->detached_by_keys = o->detached_by_keys || detach;
    return detach ? RELAY_DETACHED : -1;
}

/* Relay until the process ends (RELAY_ENDED), the client detaches (RELAY_DETACHED) or is
 * gone (RELAY_GONE). */
static int relay(exec_stream *st, api_hijacked *io, dk_session *s, relay_opts *o, bool client_eof)
{
    char buf[65536];
    if (s) /* a resize that came before the stream was open */
        apply_resize(s, st);
    for (;;) {
        /* after the client's half-close its socket still tells when it has gone (POLLHUP) */
        struct pollfd pf[3] = {{.fd = exec_stream_fd(st), .events = POLLIN},
                               {.fd = io->fd, .events = client_eof ? 0 : POLLIN},
                               {.fd = s ? s->wake[0] : -1, .events = POLLIN}};
        int timeout = !client_eof && io->pending(io->conn) ? 0 : 1000;
        int n = poll(pf, 3, timeout);
        if (n < 0 && errno != EINTR)
            return RELAY_GONE;
        if (s && (pf[2].revents & POLLIN)) {
            char drain[64];
            while (read(s->wake[0], drain, sizeof(drain)) > 0)
                ;
            apply_resize(s, st);
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const void *data;
            size_t len;
            int stream;
            kl_error err = KL_ERROR_INIT;
            int r = exec_stream_read(st, &stream, &data, &len, 1000, &err);
            if (r == 0)
                return RELAY_ENDED;
            if (r == 1 && len && o->want[stream == EXEC_STDERR ? EXEC_STDERR : EXEC_STDOUT] &&
                send_output(io, o->tty, stream, data, len) < 0)
                return RELAY_GONE;
        }
        if (client_eof && (pf[1].revents & (POLLHUP | POLLERR)))
            return RELAY_GONE;
        if (!client_eof &&
            ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) || io->pending(io->conn))) {
            ssize_t r = io->read(io->conn, buf, sizeof(buf));
            kl_error err = KL_ERROR_INIT;
            if (r > 0 && o->stdin_open) {
                if (relay_input(st, o, buf, (size_t)r) == RELAY_DETACHED)
                    return RELAY_DETACHED;
            } else if (r == 0) {
                client_eof = true; /* its half-close: the end of input */
                if (o->stdin_open && o->eof_detaches)
                    return RELAY_DETACHED;
                if (o->stdin_open && exec_stream_close_stdin(st, &err) < 0)
                    log_debug("docker: close stdin: %s", err.msg);
            } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return RELAY_GONE;
            }
        }
    }
}

/* After the relay: end our output, note the main process's code. A client that detached or
 * went away leaves the process running, as with dockerd (its stdin closed when the
 * container has StdinOnce and no tty). */
static void relay_end(kl_engine *e, exec_stream *st, api_hijacked *io, int relayed,
                      const relay_opts *o, const char *container_id)
{
    /* dockerd's event for a session ended by the detach keys it scanned */
    if (relayed == RELAY_DETACHED && container_id && o->detached_by_keys)
        containers_event(e, container_id, "detach", NULL);
    if (relayed == RELAY_ENDED) {
        int code;
        bool running;
        if (container_id && exec_stream_exit(st, &code, &running))
            dk_exit_note(container_id, code);
        io->close_write(io->conn);
        exec_stream_close(st);
    } else {
        kl_error err = KL_ERROR_INIT;
        if (o->stdin_open && o->stdin_once && !o->tty && exec_stream_close_stdin(st, &err) < 0)
            log_debug("docker: close stdin: %s", err.msg);
        if (relayed == RELAY_DETACHED)
            io->close_write(io->conn);
        exec_stream_detach(st);
    }
}

/* ---- attach ------------------------------------------------------------------------------- */

typedef struct attach_ctx {
    kl_engine *e;
    dk_session *s;
    char container_id[13];
    relay_opts o;
    /* a running container: a stream attached to its main process (exec_stream_attach) */
    exec_stream *st;
} attach_ctx;

static void attach_free(void *p)
{
    attach_ctx *a = p;
    session_free(a->s);
    if (a->st)
        exec_stream_detach(a->st); /* the hijack never ran */
    free(a);
}

/* Relay the stream of a running container's main process (a->st), input first. */
static void attach_running(attach_ctx *a, api_hijacked *io, const kl_buf *input, bool eof)
{
    exec_stream *st = a->st; /* a->s is handed: no start comes to it */
    a->st = NULL;
    int r = -1;
    if (a->o.stdin_open && input && input->len)
        r = relay_input(st, &a->o, input->data, input->len);
    if (r != RELAY_DETACHED && eof && a->o.stdin_open && a->o.eof_detaches)
        r = RELAY_DETACHED;
    if (r != RELAY_DETACHED) {
        kl_error err = KL_ERROR_INIT;
        if (eof && a->o.stdin_open && exec_stream_close_stdin(st, &err) < 0)
            log_debug("docker attach: close stdin: %s", err.msg);
        r = relay(st, io, a->s, &a->o, eof || !a->o.stdin_open);
    }
    relay_end(a->e, st, io, r, &a->o, a->container_id);
}

static void attach_running_session(void *p, api_hijacked *io)
{
    attach_running(p, io, NULL, false);
}

/* Before the start: wait for it (buffering what the client sends), open the stream, relay. */
static void attach_session(void *p, api_hijacked *io)
{
    attach_ctx *a = p;
    _cleanup_buf_ kl_buf input = KL_BUF_INIT;
    bool eof = false;
    char buf[16384];
    for (int idle = 0;; idle++) {
        pthread_mutex_lock(&mu);
        bool handed = a->s->handed, join = a->s->join;
        pthread_mutex_unlock(&mu);
        if (handed)
            break;
        /* started for another session (or by another door): attach to its process */
        if (join || (idle > 0 && containers_is_running(a->e, a->container_id))) {
            /* taken out of the hand-over first: a start that picked us meanwhile is ours */
            pthread_mutex_lock(&mu);
            bool mine = !a->s->handed;
            a->s->handed = true;
            pthread_mutex_unlock(&mu);
            if (!mine)
                break;
            kl_error err = KL_ERROR_INIT;
            a->st = exec_stream_attach(a->e, a->container_id, &err);
            if (a->st) {
                containers_event(a->e, a->container_id, "attach", NULL);
                return attach_running(a, io, &input, eof);
            }
            pthread_mutex_lock(&mu);
            a->s->handed = false; /* it has ended already: wait for the next start */
            a->s->join = false;
            pthread_mutex_unlock(&mu);
        }
        struct pollfd pf[2] = {{.fd = a->s->wake[0], .events = POLLIN},
                               {.fd = eof ? -1 : io->fd, .events = POLLIN}};
        int n = poll(pf, 2, io->pending(io->conn) && !eof ? 0 : 1000);
        if (n < 0 && errno != EINTR)
            return;
        if (pf[0].revents & POLLIN)
            while (read(a->s->wake[0], buf, sizeof(buf)) > 0)
                ;
        if (!eof && ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) || io->pending(io->conn))) {
            ssize_t r = io->read(io->conn, buf, sizeof(buf));
            if (r > 0 && input.len < (1u << 20))
                kl_buf_append(&input, buf, (size_t)r);
            else if (r == 0)
                eof = true;
            else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return; /* gone before the start */
        }
        if (eof) {
            /* after its half-close, wait only while the client is there (POLLHUP: it has
             * closed its end altogether) */
            struct pollfd h = {.fd = io->fd, .events = POLLRDHUP};
            if (poll(&h, 1, 0) > 0 && (h.revents & (POLLHUP | POLLERR)))
                return;
        }
    }
    kl_error err = KL_ERROR_INIT;
    exec_stream *st = exec_stream_open(a->e, a->s->exec_id, true, &err);
    start_result(a->s, st ? 0 : -1, st ? NULL : err.msg);
    if (!st) {
        log_info("docker attach %s: start failed: %s", a->container_id, err.msg);
        return;
    }
    int r = -1;
    if (a->o.stdin_open && input.len)
        r = relay_input(st, &a->o, input.data, input.len);
    if (r != RELAY_DETACHED && eof && a->o.stdin_open && a->o.eof_detaches)
        r = RELAY_DETACHED; /* its input ended before the start: the session ends */
    else if ((eof && a->o.stdin_open) || (!a->o.stdin_open && !a->o.tty))
        exec_stream_close_stdin(st, &err);
    if (r != RELAY_DETACHED)
        r = relay(st, io, a->s, &a->o, eof || !a->o.stdin_open);
    relay_end(a->e, st, io, r, &a->o, a->container_id);
}

void dk_containers_attach(dk_request *r, api_response *res)
{
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    json_t *dc = json_object_get(c.door, "docker");
    attach_ctx *a = xcalloc(1, sizeof(*a));
    a->e = r->req->ctx->engine;
    memcpy(a->container_id, c.id, sizeof(a->container_id));
    a->o.tty = jx_bool(dc, "Tty", false);
    a->o.stdin_open = dk_query_bool(r, "stdin", false) && jx_bool(dc, "OpenStdin", false);
    a->o.want[EXEC_STDOUT] = dk_query_bool(r, "stdout", false);
    a->o.want[EXEC_STDERR] = dk_query_bool(r, "stderr", false);
    a->o.stdin_once = jx_bool(dc, "StdinOnce", false);
    /* dockerd: the end of the client's input ends an attach, unless it closes the stdin of a
     * StdinOnce container without a tty (then the output goes on until the end) */
    a->o.eof_detaches = !(a->o.stdin_once && !a->o.tty);
    container_record_clear(&c);
    kl_error err = KL_ERROR_INIT;
    if (kl_detach_keys_parse(&a->o.keys, dk_query_str(r, "detachKeys", NULL), &err) < 0) {
        attach_free(a);
        return dk_error(res, 400, "%s", err.msg);
    }
    if (dk_query_bool(r, "logs", false)) {
        attach_free(a);
        return dk_error(res, 400,
                        "attach: logs=1 is not supported by kleened (use the logs "
                        "endpoint)");
    }
    if (containers_is_running(a->e, a->container_id)) {
        a->st = exec_stream_attach(a->e, a->container_id, &err);
        if (!a->st && err.code != ENOTCONN) {
            attach_free(a);
            return dk_error(res, dk_status(err.code), "%s", err.msg);
        }
    }
    /* with a stream, the session only lets resizes reach it: never a start to hand over (a
     * start that comes while it waits finds it in the table, or it notices the start) */
    a->s = session_new(false, a->container_id, a->st != NULL);
    if (!a->s) {
        attach_free(a);
        return dk_error(res, 500, "attach: %s", strerror(errno));
    }
    if (a->st) {
        containers_event(a->e, a->container_id, "attach", NULL);
        return api_reply_hijack(res, "application/vnd.docker.raw-stream", attach_running_session, a,
                                attach_free);
    }
    /* not running (or it ended just now): wait for the start, as dockerd's attach does */
    api_reply_hijack(res, "application/vnd.docker.raw-stream", attach_session, a, attach_free);
}

static int size_query(dk_request *r, unsigned *rows, unsigned *cols, api_response *res)
{
    long long h, w;
    if (dk_query_int(r, "h", 0, 65535, 0, &h, res) < 0 ||
        dk_query_int(r, "w", 0, 65535, 0, &w, res) < 0)
        return -1;
    *rows = (unsigned)h;
    *cols = (unsigned)w;
    return 0;
}

void dk_containers_resize(dk_request *r, api_response *res)
{
    unsigned rows, cols;
    if (size_query(r, &rows, &cols, res) < 0)
        return;
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    bool found = session_resize(false, c.id, rows, cols);
    bool running = containers_is_running(r->req->ctx->engine, c.id);
    container_record_clear(&c);
    if (!found && !running)
        return dk_error(res, 409, "Container %s is not running", r->params[0]);
    /* a running container without an attached terminal here has nothing to resize */
    api_reply_empty(res, 200);
}

/* ---- exec ----------------------------------------------------------------------------------- */

/* The Kleene exec id of a Docker one (12 to 64 hex digits); NULL after a 404. */
static const char *exec_ident(const char *ident, char buf[16], api_response *res)
{
    bool full;
    const char *id = dk_ident(ident, buf, &full);
    if (strlen(id) != 12) {
        dk_error(res, 404, "No such exec instance: %s", ident);
        return NULL;
    }
    if (full) {
        char long_id[DK_ID_LEN + 1];
        dk_long_id("exec", id, long_id);
        if (strncmp(long_id, ident, strlen(ident)) != 0) {
            dk_error(res, 404, "No such exec instance: %s", ident);
            return NULL;
        }
    }
    return id;
}

void dk_exec_create(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    if (json_is_true(json_object_get(body, "Privileged")))
        return dk_error(res, 400, "Privileged is not supported by kleened");
    json_t *cmd = json_object_get(body, "Cmd");
    if (!json_is_array(cmd) || !json_array_size(cmd))
        return dk_error(res, 400, "No exec command specified");
    size_t i;
    json_t *it;
    json_array_foreach(cmd, i, it) if (!json_is_string(it)) return dk_error(
        res, 400, "Cmd must be a list of strings");
    json_t *env = json_object_get(body, "Env");
    json_array_foreach(env, i, it) if (!json_is_string(it)) return dk_error(
        res, 400, "Env must be a list of strings");
    const char *keys = jx_str(body, "DetachKeys", "");
    kl_detach_keys dk;
    kl_error kerr = KL_ERROR_INIT;
    if (kl_detach_keys_parse(&dk, keys, &kerr) < 0)
        return dk_error(res, 400, "%s", kerr.msg);
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    bool running = containers_is_running(e, c.id);
    char cid[13];
    memcpy(cid, c.id, sizeof(cid));
    container_record_clear(&c);
    if (!running)
        return dk_error(res, 409, "Container %s is not running", r->params[0]);
    _cleanup_json_ json_t *k = json_pack(
        "{s:s, s:O, s:s, s:o, s:b, s:{s:b, s:b, s:b}}", "container_id", cid, "cmd", cmd, "user",
        jx_str(body, "User", ""), "env", json_is_array(env) ? json_incref(env) : json_array(),
        "tty", jx_bool(body, "Tty", false), "door", "AttachStdin",
        jx_bool(body, "AttachStdin", false), "AttachStdout", jx_bool(body, "AttachStdout", false),
        "AttachStderr", jx_bool(body, "AttachStderr", false));
    if (*keys)
        json_object_set_new(json_object_get(k, "door"), "DetachKeys", json_string(keys));
    const char *wd = jx_str(body, "WorkingDir", "");
    if (*wd)
        json_object_set_new(k, "workdir", json_string(wd));
    json_t *cs = json_object_get(body, "ConsoleSize");
    if (json_array_size(cs) == 2 && json_integer_value(json_array_get(cs, 0)) > 0) {
        json_object_set(k, "tty_rows", json_array_get(cs, 0));
        json_object_set(k, "tty_cols", json_array_get(cs, 1));
    }
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *id = exec_create(e, k, &err);
    if (!id)
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    char long_id[DK_ID_LEN + 1];
    dk_long_id("exec", id, long_id);
    api_reply_json(res, 201, json_pack("{s:s}", "Id", long_id));
}

typedef struct exec_ctx {
    kl_engine *e;
    char id[13];
    dk_session *s;
    relay_opts o;
} exec_ctx;

static void exec_ctx_free(void *p)
{
    exec_ctx *x = p;
    session_free(x->s);
    free(x);
}

/* How long an exec start waits for its client to read the head (wait_head_read). */
#define HEAD_READ_WAIT_MS 2000

/* Waits until the client has read what the connection sent so far (the head), for at most
 * HEAD_READ_WAIT_MS. A client that reads the head through a buffer of its own and then reads
 * the socket itself (docker-py's exec_run) loses any output that reached it together with the
 * head, and a process started at once can answer before a loaded client has read anything.
 * On a UNIX socket SIOCOUTQ counts the bytes the peer has not read yet; on TCP it counts the
 * bytes not acknowledged (the best there is); where it is missing, nothing is waited for. */
static void wait_head_read(int fd)
{
#ifdef SIOCOUTQ
    for (int waited = 0; fd >= 0 && waited < HEAD_READ_WAIT_MS; waited++) {
        int queued = 0;
        if (ioctl(fd, SIOCOUTQ, &queued) < 0 || queued <= 0)
            return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
#else
    (void)fd;
#endif
}

/* The process starts once the client has read the head (wait_head_read). A start that fails
 * now is told in the stream. */
static void exec_session(void *p, api_hijacked *io)
{
    exec_ctx *x = p;
    kl_error err = KL_ERROR_INIT;
    wait_head_read(io->fd);
    exec_stream *st = exec_stream_open(x->e, x->id, false, &err);
    if (!st) {
        log_info("docker exec %s: start failed: %s", x->id, err.msg);
        _cleanup_free_ char *m = xasprintf("Error: %s\r\n", err.msg);
        if (x->o.tty)
            io->write_all(io->conn, m, strlen(m));
        else
            send_output(io, false, EXEC_STDERR, m, strlen(m));
        io->close_write(io->conn);
        return;
    }
    if (!x->o.stdin_open && !x->o.tty)
        exec_stream_close_stdin(st, &err);
    int r = relay(st, io, x->s, &x->o, !x->o.stdin_open);
    relay_end(x->e, st, io, r, &x->o, NULL);
}

void dk_exec_start(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    char buf[16];
    const char *id = exec_ident(r->params[0], buf, res);
    if (!id)
        return;
    _cleanup_json_ json_t *body = dk_body_object(r, true, res);
    if (!body)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *info = exec_inspect(e, id, &err);
    if (!info)
        return dk_error(res, 404, "No such exec instance: %s", r->params[0]);
    if (strcmp(jx_str(info, "state", ""), "created") != 0)
        return dk_error(res, 409, "Exec instance %s has already been started", r->params[0]);
    if (!containers_is_running(e, jx_str(info, "container_id", "")))
        return dk_error(res, 409, "Container %s is not running", jx_str(info, "container_id", ""));
    json_t *cfg = json_object_get(info, "config");
    json_t *door = json_object_get(cfg, "door");
    if (jx_bool(body, "Detach", false)) {
        exec_started started;
        if (exec_start(e, id, false, false, &started, &err) < 0)
            return dk_error(res, dk_status(err.code), "%s", err.msg);
        return api_reply_empty(res, 200);
    }
    exec_ctx *x = xcalloc(1, sizeof(*x));
    x->e = e;
    snprintf(x->id, sizeof(x->id), "%s", id);
    x->o.tty = jx_bool(cfg, "tty", false);
    x->o.stdin_open = jx_bool(door, "AttachStdin", false);
    x->o.want[EXEC_STDOUT] = jx_bool(door, "AttachStdout", true);
    x->o.want[EXEC_STDERR] = jx_bool(door, "AttachStderr", true);
    /* dockerd closes an exec's stdin when its client's input ends (CloseStdin), without a
     * tty; with one, that end ends the session (the CLI half-closes when it detaches) */
    x->o.stdin_once = true;
    x->o.eof_detaches = x->o.tty;
    if (kl_detach_keys_parse(&x->o.keys, jx_str(door, "DetachKeys", ""), &err) < 0)
        kl_detach_keys_parse(&x->o.keys, NULL, &err); /* checked at the create */
    x->s = session_new(true, id, false);
    api_reply_hijack(res, "application/vnd.docker.raw-stream", exec_session, x, exec_ctx_free);
}

void dk_exec_inspect(dk_request *r, api_response *res)
{
    char buf[16];
    const char *id = exec_ident(r->params[0], buf, res);
    if (!id)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *info = exec_inspect(r->req->ctx->engine, id, &err);
    if (!info)
        return dk_error(res, 404, "No such exec instance: %s", r->params[0]);
    json_t *cfg = json_object_get(info, "config");
    json_t *door = json_object_get(cfg, "door");
    char long_id[DK_ID_LEN + 1], long_cid[DK_ID_LEN + 1];
    dk_long_id("exec", id, long_id);
    dk_long_id("container", jx_str(info, "container_id", ""), long_cid);
    json_t *cmd = json_object_get(cfg, "cmd");
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(cmd); i++)
        json_array_append(args, json_array_get(cmd, i));
    json_t *code = json_object_get(info, "exit_code");
    const char *ep0 = json_string_value(json_array_get(cmd, 0));
    json_t *pc = json_pack("{s:b, s:s, s:o, s:b, s:s}", "tty", jx_bool(cfg, "tty", false),
                           "entrypoint", ep0 ? ep0 : "", "arguments", args, "privileged", 0, "user",
                           jx_str(cfg, "user", ""));
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s, s:b, s:O, s:b, s:b, s:b, s:b, s:s, s:i, s:o}", "ID",
                             long_id, "ContainerID", long_cid, "Running",
                             !strcmp(jx_str(info, "state", ""), "running"), "ExitCode", code,
                             "OpenStdin", jx_bool(door, "AttachStdin", false), "OpenStdout",
                             jx_bool(door, "AttachStdout", true), "OpenStderr",
                             jx_bool(door, "AttachStderr", true), "CanRemove", 0, "DetachKeys",
                             jx_str(door, "DetachKeys", ""), "Pid", 0, "ProcessConfig", pc));
}

void dk_exec_resize(dk_request *r, api_response *res)
{
    char buf[16];
    const char *id = exec_ident(r->params[0], buf, res);
    if (!id)
        return;
    unsigned rows, cols;
    if (size_query(r, &rows, &cols, res) < 0)
        return;
    if (!session_resize(true, id, rows, cols))
        return dk_error(res, 409, "exec instance %s is not attached here", r->params[0]);
    api_reply_empty(res, 201);
}
