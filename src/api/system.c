/* Endpoints of ours beyond the original (new paths only): GET /version, GET /system/df,
 * POST /auth, GET /system/events. */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/registry.h"
#include "engine/usage.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

void api_version(api_request *req, api_response *res)
{
    struct utsname u;
    uname(&u);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:s}", "version", KLEENE_VERSION, "api_version",
                             "0.1.1", "os", u.sysname, "kernel", u.release, "arch", u.machine));
}

/* GET /system/df (ours): disk usage of images, containers, volumes. */
void api_system_df(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *j = usage_disk(req->ctx->engine, &err);
    if (!j)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, j);
}

/* POST /auth (ours, docs/api.md "Registry credentials"): check credentials against a registry
 * (for `klee login`); nothing is stored. */
void api_registry_login(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char *domain =
        registry_login(req->ctx->engine, jx_str(req->body, "server_address", ""),
                       jx_str(req->body, "username", ""), jx_str(req->body, "password", ""), &err);
    if (!domain)
        return api_reply_message(res,
                                 err.code == EACCES   ? 401
                                 : err.code == EINVAL ? 422
                                                      : 502,
                                 "%s", err.msg);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s}", "message", "login succeeded", "server", domain));
    free(domain);
}

/* ---- GET /system/events (ours, docs/api.md "Events") ------------------------------------ */

typedef struct sys_events {
    events_sub *sub;
    long long since_ns, until_ns; /* -1: none */
    char type[16];                /* "": every type */
    int client_fd;
    uint64_t lost; /* to tell before the next event */
} sys_events;

static void sys_events_free(void *p)
{
    sys_events *c = p;
    events_unsubscribe(c->sub);
    free(c);
}

static bool peer_gone(int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static long long wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line: {"lost": n} when the reader fell behind, else the event. */
static ssize_t sys_events_line(json_t *j, char *buf, size_t max)
{
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    size_t n = strlen(text);
    if (n + 1 > max)
        return 0;
    memcpy(buf, text, n);
    buf[n] = '\n';
    return (ssize_t)n + 1;
}

static ssize_t sys_events_read(void *p, char *buf, size_t max)
{
    sys_events *c = p;
    for (;;) {
        if (c->lost) {
            json_t *j = json_pack("{s:I}", "lost", (json_int_t)c->lost);
            c->lost = 0;
            return sys_events_line(j, buf, max);
        }
        int wait_ms = 1000;
        if (c->until_ns >= 0) {
            long long left = (c->until_ns - wall_ns()) / 1000000LL;
            wait_ms = left < 0 ? 0 : left < 1000 ? (int)left + 1 : 1000;
        }
        event ev = {0};
        int r = events_next(c->sub, &ev, wait_ms, &c->lost);
        if (r < 0)
            continue; /* told first */
        if (r == 0) {
            if (c->until_ns >= 0 && wall_ns() >= c->until_ns)
                return API_STREAM_END;
            if (peer_gone(c->client_fd))
                return API_STREAM_ERROR;
            continue;
        }
        if (c->until_ns >= 0 && ev.time_ns > c->until_ns) {
            event_clear(&ev);
            return API_STREAM_END;
        }
        if (ev.time_ns < c->since_ns || (c->type[0] && strcmp(c->type, ev.type) != 0)) {
            event_clear(&ev);
            continue;
        }
        json_t *attrs = json_object();
        for (size_t i = 0; ev.attrs[i] && ev.attrs[i + 1]; i += 2)
            json_object_set_new(attrs, ev.attrs[i], json_string(ev.attrs[i + 1]));
        json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o}", "seq", (json_int_t)ev.seq,
                              "time_nano", (json_int_t)ev.time_ns, "type", ev.type, "action",
                              ev.action, "actor", ev.actor, "attributes", attrs);
        event_clear(&ev);
        return sys_events_line(j, buf, max);
    }
}

void api_system_events(api_request *req, api_response *res)
{
    const char *since = jx_str(req->query, "since", ""), *until = jx_str(req->query, "until", "");
    const char *type = jx_str(req->query, "type", "");
    long long since_ns = -1, until_ns = -1;
    if (*since && (since_ns = events_parse_time(since)) < 0)
        return api_reply_invalid_one(res, "/since", "a Unix time: seconds[.fraction]");
    if (*until && (until_ns = events_parse_time(until)) < 0)
        return api_reply_invalid_one(res, "/until", "a Unix time: seconds[.fraction]");
    if (*type && strcmp(type, "container") && strcmp(type, "image") && strcmp(type, "network") &&
        strcmp(type, "volume"))
        return api_reply_invalid_one(res, "/type", "one of container, image, network, volume");
    sys_events *c = xcalloc(1, sizeof(*c));
    c->sub = events_subscribe(req->ctx->engine->events, since_ns);
    c->since_ns = since_ns;
    c->until_ns = until_ns;
    snprintf(c->type, sizeof(c->type), "%s", type);
    c->client_fd = req->client_fd;
    api_reply_stream(res, 200, "application/x-ndjson", sys_events_read, c, sys_events_free);
}
