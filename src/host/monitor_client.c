/* The client side of the monitor's control socket (host/monitor.h): blocking, one connection
 * per host_monitor, typed size-checked frames (monitor_proto.h). Used by kleened's threads; it
 * keeps no global state. When the monitor is gone, status and stop fall back to the state.json
 * it left behind. It must not: start or signal processes itself.
 *
 * Portable (both host layers: kleene-monitor on Linux, kleene-jailmon on FreeBSD speak the same
 * protocol). The one system-specific part is reaching a socket whose path is longer than
 * sun_path: through /proc/self/fd on Linux, with connectat(2) on FreeBSD. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/monitor_proto.h"
#include "host/monitor.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

/* Once a frame has started to arrive, the rest must follow within this time. */
#define FRAME_REST_MS 10000

struct host_monitor {
    int fd;
    char *run_dir;
    unsigned char *payload;
    size_t payload_cap;
};

host_monitor *host_monitor_wrap_fd_(int fd, const char *run_dir)
{
    host_monitor *m = xcalloc(1, sizeof(*m));
    m->fd = fd;
    m->run_dir = xstrdup(run_dir);
    return m;
}

void host_monitor_close(host_monitor *m)
{
    if (!m)
        return;
    if (m->fd >= 0)
        close(m->fd);
    free(m->run_dir);
    free(m->payload);
    free(m);
}

int host_monitor_fd(const host_monitor *m)
{
    return m->fd;
}

host_monitor *host_monitor_connect(const char *run_dir, kl_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int dirfd = -1;
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" MON_SOCK_NAME, run_dir);
    bool is_long = n < 0 || (size_t)n >= sizeof(sa.sun_path);
    if (is_long) {
        dirfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
            return kl_error_errno(err, errno, "monitor %s", run_dir), NULL;
#if defined(__linux__)
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" MON_SOCK_NAME, dirfd);
#else
        snprintf(sa.sun_path, sizeof(sa.sun_path), MON_SOCK_NAME);
#endif
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "monitor socket"), NULL;
    int r;
#if defined(__FreeBSD__)
    if (is_long)
        r = (int)KL_RETRY_EINTR(connectat(dirfd, fd, (struct sockaddr *)&sa, sizeof(sa)));
    else
#elif !defined(__linux__)
    if (is_long) {
        errno = ENAMETOOLONG;
        r = -1;
    } else
#endif
        r = (int)KL_RETRY_EINTR(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    if (r < 0)
        return kl_error_errno(err, errno, "connecting to the monitor in %s", run_dir), NULL;
    return host_monitor_wrap_fd_(steal_fd(&fd), run_dir);
}

static int send_all(host_monitor *m, char type, const void *data, size_t len, kl_error *err)
{
    if (len > MON_MSG_MAX)
        return kl_error_set(err, EMSGSIZE, "monitor message too large");
    unsigned char h[MON_HDR];
    mon_hdr_put(h, type, len);
    struct iovec iov[2] = {{h, MON_HDR}, {(void *)data, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    size_t left = MON_HDR + len;
    while (left) {
        ssize_t w = sendmsg(m->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return kl_error_errno(err, errno, "writing to the monitor");
        }
        left -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) {
            size_t take = (size_t)w < mh.msg_iov[0].iov_len ? (size_t)w : mh.msg_iov[0].iov_len;
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + take;
            mh.msg_iov[0].iov_len -= take;
            w -= (ssize_t)take;
            if (!mh.msg_iov[0].iov_len) {
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
        }
    }
    return 0;
}

static int send_json(host_monitor *m, char type, json_t *j, kl_error *err)
{
    _cleanup_free_ char *s = jx_dump(j);
    json_decref(j);
    return send_all(m, type, s, strlen(s), err);
}

static int read_full(int fd, void *buf, size_t len, int timeout_ms, kl_error *err)
{
    unsigned char *p = buf;
    while (len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = (int)KL_RETRY_EINTR(poll(&pf, 1, timeout_ms));
        if (r < 0)
            return kl_error_errno(err, errno, "waiting for the monitor");
        if (r == 0)
            return kl_error_set(err, ETIMEDOUT, "timed out waiting for the monitor");
        ssize_t n = KL_RETRY_EINTR(read(fd, p, len));
        if (n < 0)
            return kl_error_errno(err, errno, "reading from the monitor");
        if (n == 0)
            return kl_error_set(err, ECONNRESET, "the monitor closed the connection");
        p += n;
        len -= (size_t)n;
        timeout_ms = FRAME_REST_MS;
    }
    return 0;
}

int host_monitor_recv_(host_monitor *m, char *type, const unsigned char **payload, size_t *len,
                       int timeout_ms, kl_error *err)
{
    unsigned char h[MON_HDR];
    if (read_full(m->fd, h, MON_HDR, timeout_ms, err) < 0)
        return -1;
    size_t n = mon_hdr_len(h);
    if (n > MON_MSG_MAX)
        return kl_error_set(err, EPROTO, "monitor message too large");
    if (n + 1 > m->payload_cap) {
        m->payload_cap = n + 1;
        m->payload = xrealloc(m->payload, m->payload_cap);
    }
    if (n && read_full(m->fd, m->payload, n, FRAME_REST_MS, err) < 0)
        return -1;
    m->payload[n] = '\0';
    *type = (char)h[0];
    *payload = m->payload;
    *len = n;
    return 0;
}

/* Receive the reply to a request: 'R' → its JSON (caller decrefs), 'X' → error. */
static json_t *recv_reply(host_monitor *m, int timeout_ms, kl_error *err)
{
    for (;;) {
        char type;
        const unsigned char *p;
        size_t len;
        if (host_monitor_recv_(m, &type, &p, &len, timeout_ms, err) < 0)
            return NULL;
        if (type != MON_REPLY && type != MON_ERROR)
            continue; /* stream frames of an earlier attach; not ours */
        json_t *j = json_loadb((const char *)p, len, 0, NULL);
        if (!json_is_object(j)) {
            json_decref(j);
            return kl_error_set(err, EPROTO, "malformed reply from the monitor"), NULL;
        }
        if (type == MON_ERROR) {
            long long code = jx_int(j, "code", EIO);
            kl_error_set(err, code > 0 && code < 4096 ? (int)code : EIO, "%s",
                         jx_str(j, "error", "monitor error"));
            json_decref(j);
            return NULL;
        }
        return j;
    }
}

static char *read_state_file(const char *run_dir, kl_error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/" MON_STATE_NAME, run_dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return kl_error_errno(err, errno, "no monitor and no state in %s", run_dir), NULL;
    _cleanup_json_ json_t *j = json_loadf(f, 0, NULL);
    if (!j)
        return kl_error_set(err, EIO, "%s: malformed", path), NULL;
    return jx_dump(j);
}

char *host_monitor_status(const char *run_dir, kl_error *err)
{
    kl_error ignored = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &ignored);
    if (m) {
        json_t *j = NULL;
        if (send_json(m, MON_STATUS, json_object(), &ignored) == 0)
            j = recv_reply(m, 5000, &ignored);
        host_monitor_close(m);
        if (j) {
            char *s = jx_dump(j);
            json_decref(j);
            return s;
        }
    }
    /* No monitor (or it ended while we asked): the state it left behind. */
    return read_state_file(run_dir, err);
}

static json_t *exec_json(const host_monitor_exec_spec *s, bool attach)
{
    json_t *j =
        json_pack("{s:s, s:o, s:o, s:s, s:s, s:b, s:i, s:i, s:b}", "exec_id", s->exec_id, "argv",
                  jx_from_strv(s->argv), "env", jx_from_strv(s->env), "user",
                  s->user ? s->user : "", "cwd", s->cwd ? s->cwd : "", "tty", s->tty, "rows",
                  s->rows ? s->rows : 24, "cols", s->cols ? s->cols : 80, "attach", attach);
    return j;
}

int host_monitor_exec(host_monitor *m, const host_monitor_exec_spec *spec, bool attach,
                      kl_error *err)
{
    if (!spec->exec_id || !spec->argv)
        return kl_error_set(err, EINVAL, "exec needs an id and argv");
    if (send_json(m, MON_EXEC, exec_json(spec, attach), err) < 0)
        return -1;
    _cleanup_json_ json_t *r = recv_reply(m, 30000, err);
    return r ? 0 : -1;
}

int host_monitor_attach(host_monitor *m, const char *exec_id, bool from_now, kl_error *err)
{
    json_t *j = json_pack("{s:s}", "exec_id", exec_id);
    if (from_now) /* opt-in: a monitor of an older kleened ignores the key */
        json_object_set_new(j, "from_now", json_true());
    if (send_json(m, MON_ATTACH, j, err) < 0)
        return -1;
    _cleanup_json_ json_t *r = recv_reply(m, 5000, err);
    return r ? 0 : -1;
}

int host_monitor_stream_read(host_monitor *m, int *stream, const void **data, size_t *len,
                             int *exit_code, bool *container_running, int timeout_ms, kl_error *err)
{
    for (;;) {
        char type;
        const unsigned char *p;
        size_t n;
        if (host_monitor_recv_(m, &type, &p, &n, timeout_ms, err) < 0)
            return -1;
        if (type == MON_OUTPUT || type == MON_OUTPUT_ERR) {
            *stream = type == MON_OUTPUT_ERR ? HOST_STREAM_STDERR : HOST_STREAM_STDOUT;
            *data = p;
            *len = n;
            return 1;
        }
        if (type == MON_END) {
            _cleanup_json_ json_t *j = json_loadb((const char *)p, n, 0, NULL);
            *exit_code = (int)jx_int(j, "exit_code", -1);
            *container_running = jx_bool(j, "container_running", false);
            return 0;
        }
        if (type == MON_ERROR) {
            _cleanup_json_ json_t *j = json_loadb((const char *)p, n, 0, NULL);
            return kl_error_set(err, EIO, "%s", jx_str(j, "error", "monitor error"));
        }
        /* 'R' (e.g. the reply to a KILL sent on this connection): not stream content */
    }
}

int host_monitor_stream_recv(host_monitor *m, const void **data, size_t *len, int *exit_code,
                             bool *container_running, int timeout_ms, kl_error *err)
{
    int stream;
    return host_monitor_stream_read(m, &stream, data, len, exit_code, container_running, timeout_ms,
                                    err);
}

int host_monitor_stream_input(host_monitor *m, const void *data, size_t len, kl_error *err)
{
    const unsigned char *p = data;
    while (len) {
        size_t n = len > 65536 ? 65536 : len;
        if (send_all(m, MON_INPUT, p, n, err) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

int host_monitor_stream_resize(host_monitor *m, unsigned short rows, unsigned short cols,
                               kl_error *err)
{
    return send_json(m, MON_RESIZE, json_pack("{s:i, s:i}", "rows", rows, "cols", cols), err);
}

int host_monitor_stream_close_input(host_monitor *m, kl_error *err)
{
    return send_all(m, MON_CLOSE_INPUT, NULL, 0, err);
}

int host_monitor_kill(host_monitor *m, const char *exec_id, int sig, kl_error *err)
{
    if (send_json(m, MON_KILL, json_pack("{s:s, s:i}", "exec_id", exec_id, "signal", sig), err) < 0)
        return -1;
    _cleanup_json_ json_t *r = recv_reply(m, 5000, err);
    return r ? 0 : -1;
}

int host_monitor_stop(host_monitor *m, int grace_ms, int *exit_code, kl_error *err)
{
    if (send_json(m, MON_STOP, json_pack("{s:i}", "grace_ms", grace_ms), err) < 0)
        return -1;
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_json_ json_t *r = recv_reply(m, grace_ms + 30000, &e2);
    if (r) {
        *exit_code = (int)jx_int(r, "exit_code", -1);
        return 0;
    }
    if (e2.code != ECONNRESET) {
        *err = e2;
        return -1;
    }
    /* The monitor ended before it answered us: its final state has the code. */
    _cleanup_free_ char *s = read_state_file(m->run_dir, err);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    if (!j)
        return -1;
    if (jx_bool(j, "running", false))
        return kl_error_set(err, EIO, "the monitor of %s died while stopping", m->run_dir);
    *exit_code = (int)jx_int(j, "exit_code", -1);
    return 0;
}

int host_monitor_network(host_monitor *m, bool connect, const host_endpoint *ep, kl_error *err)
{
    json_t *j = json_pack(
        "{s:b, s:{s:s, s:s?, s:s?, s:i, s:i, s:s?, s:s?}}", "connect", connect, "endpoint",
        "ifname", ep->ifname, "ip4", ep->ip4 && *ep->ip4 ? ep->ip4 : NULL, "ip6",
        ep->ip6 && *ep->ip6 ? ep->ip6 : NULL, "prefix4", ep->prefix4, "prefix6", ep->prefix6, "gw4",
        ep->gw4 && *ep->gw4 ? ep->gw4 : NULL, "gw6", ep->gw6 && *ep->gw6 ? ep->gw6 : NULL);
    if (!j)
        return kl_error_set(err, EINVAL, "invalid endpoint");
    if (send_json(m, MON_NETWORK, j, err) < 0)
        return -1;
    _cleanup_json_ json_t *r = recv_reply(m, 30000, err);
    return r ? 0 : -1;
}

int host_monitor_log(host_monitor *m, bool follow, kl_error *err)
{
    return send_json(m, MON_LOG, json_pack("{s:b}", "follow", follow), err);
}
