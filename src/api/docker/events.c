/* The Docker door's GET /events: the engine's event bus (engine/events.h) as Docker's stream of
 * JSON messages, one per event, with Docker's filters; `since` replays what the bus still
 * keeps, `until` ends the stream, a client that goes away ends the subscription.
 *
 * The engine's events name objects by Kleene ids; here they get Docker's (64-hex container
 * and network ids, "sha256:" image ids), the legacy status/id/from fields of container and
 * image events, and Docker's exec action texts ("exec_create: CMD"). */
#include "api/docker/dk.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/imageref.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Is `s` a Kleene id (12 lowercase hex digits)? */
static bool is_id12(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 12;
}

/* The Docker id of an event's actor (out: room for "sha256:" + 64). */
static void actor_id(const event *ev, char out[8 + DK_ID_LEN])
{
    char lid[DK_ID_LEN + 1];
    if (!strcmp(ev->type, "image") && is_id12(ev->actor)) {
        dk_long_id("image", ev->actor, lid);
        snprintf(out, 8 + DK_ID_LEN, "sha256:%s", lid);
    } else if ((!strcmp(ev->type, "container") || !strcmp(ev->type, "network")) &&
               is_id12(ev->actor)) {
        dk_long_id(ev->type, ev->actor, lid);
        snprintf(out, 8 + DK_ID_LEN, "%s", lid);
    } else {
        snprintf(out, 8 + DK_ID_LEN, "%s", ev->actor);
    }
}

/* Docker's message of an engine event. */
json_t *dk_event_json(const event *ev)
{
    char id[8 + DK_ID_LEN];
    actor_id(ev, id);
    json_t *attrs = json_object();
    for (size_t i = 0; ev->attrs && ev->attrs[i] && ev->attrs[i + 1]; i += 2) {
        const char *k = ev->attrs[i], *v = ev->attrs[i + 1];
        char lid[DK_ID_LEN + 1];
        if (!strcmp(k, "exec_cmd"))
            continue; /* in the action's text */
        if (!strcmp(k, "id") && !strcmp(ev->type, "image"))
            continue; /* a pull's Kleene image id (the Actor is the reference, as dockerd's) */
        if ((!strcmp(k, "container") || !strcmp(k, "execID")) && is_id12(v)) {
            dk_long_id(!strcmp(k, "container") ? "container" : "exec", v, lid);
            json_object_set_new(attrs, k, json_string(lid));
        } else if (!strcmp(k, "oldName") && v[0] != '/') {
            json_object_set_new(attrs, k, json_pack("s+", "/", v));
        } else {
            json_object_set_new(attrs, k, json_string(v));
        }
    }
    const char *cmd = event_attr(ev, "exec_cmd");
    _cleanup_free_ char *action =
        cmd && (!strcmp(ev->action, "exec_create") || !strcmp(ev->action, "exec_start"))
            ? xasprintf("%s: %s", ev->action, cmd)
            : xstrdup(ev->action);
    json_t *j =
        json_pack("{s:s, s:s, s:{s:s, s:o}, s:s, s:I, s:I}", "Type", ev->type, "Action", action,
                  "Actor", "ID", id, "Attributes", attrs, "scope", "local", "time",
                  (json_int_t)(ev->time_ns / 1000000000LL), "timeNano", (json_int_t)ev->time_ns);
    /* the fields of before the Type/Action/Actor form, which old clients still read */
    if (!strcmp(ev->type, "container") || !strcmp(ev->type, "image")) {
        json_object_set_new(j, "status", json_string(action));
        json_object_set_new(j, "id", json_string(id));
    }
    if (!strcmp(ev->type, "container"))
        json_object_set_new(j, "from", json_string(jx_str(attrs, "image", "")));
    return j;
}

/* ---- filters ------------------------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p)
{
    return s && !strncmp(s, p, strlen(p));
}

/* A reference without its tag ("host:5000/a:v1" → "host:5000/a"; xmalloc'ed). */
static char *strip_tag(const char *ref)
{
    const char *colon = imageref_tag_colon(ref);
    if (colon && !strchr(ref, '@'))
        return xstrndup(ref, (size_t)(colon - ref));
    return xstrdup(ref);
}

/* Does any value of filter `key` match? true when the filter has no such key. */
typedef bool (*value_match)(const char *value, const json_t *msg, const event *ev);

static bool any_value(const json_t *filters, const char *key, value_match m, const json_t *msg,
                      const event *ev)
{
    json_t *vals = json_object_get(filters, key);
    if (!json_array_size(vals))
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v) if (m(json_string_value(v), msg, ev)) return true;
    return false;
}

static const char *msg_id(const json_t *msg)
{
    return jx_str(json_object_get(msg, "Actor"), "ID", "");
}

static const char *msg_attr(const json_t *msg, const char *key)
{
    return jx_str(json_object_get(json_object_get(msg, "Actor"), "Attributes"), key, NULL);
}

static bool match_type(const char *v, const json_t *msg, const event *ev)
{
    (void)msg;
    return !strcmp(v, ev->type);
}

/* "exec_create" matches "exec_create: CMD" too */
static bool match_event(const char *v, const json_t *msg, const event *ev)
{
    (void)msg;
    return !strcmp(v, ev->action) || !strcmp(v, jx_str(msg, "Action", ""));
}

/* an object of the filter's type by a prefix of its id, or its name (Docker's fuzzy match) */
static bool match_named(const char *type, const char *v, const json_t *msg, const event *ev)
{
    if (strcmp(ev->type, type) != 0)
        return false;
    const char *name = msg_attr(msg, "name");
    const char *bare = v[0] == '/' ? v + 1 : v;
    return has_prefix(msg_id(msg), v) || (name && (has_prefix(name, v) || !strcmp(name, bare)));
}

static bool match_container(const char *v, const json_t *msg, const event *ev)
{
    return match_named("container", v, msg, ev);
}

static bool match_network(const char *v, const json_t *msg, const event *ev)
{
    return match_named("network", v, msg, ev);
}

static bool match_volume(const char *v, const json_t *msg, const event *ev)
{
    return match_named("volume", v, msg, ev);
}

/* image events by id or name, other events by their "image" attribute; with or without tag */
static bool match_image(const char *v, const json_t *msg, const event *ev)
{
    const char *id = msg_id(msg);
    const char *name = msg_attr(msg, !strcmp(ev->type, "image") ? "name" : "image");
    _cleanup_free_ char *id_bare = strip_tag(id);
    _cleanup_free_ char *name_bare = name ? strip_tag(name) : NULL;
    return !strcmp(v, id) || !strcmp(v, id_bare) || (name && !strcmp(v, name)) ||
           (name_bare && !strcmp(v, name_bare));
}

/* "key" or "key=value" against the attributes */
static bool match_label(const char *v, const json_t *msg, const event *ev)
{
    (void)ev;
    const char *eq = strchr(v, '=');
    _cleanup_free_ char *key = eq ? xstrndup(v, (size_t)(eq - v)) : xstrdup(v);
    const char *have = msg_attr(msg, key);
    return have && (!eq || !strcmp(have, eq + 1));
}

static bool match_scope(const char *v, const json_t *msg, const event *ev)
{
    (void)msg;
    (void)ev;
    return !strcmp(v, "local");
}

static bool match_nothing(const char *v, const json_t *msg, const event *ev)
{
    (void)v;
    (void)msg;
    (void)ev;
    return false; /* objects kleened has none of (daemon, plugin, node ...) */
}

static bool event_wanted(const json_t *filters, const json_t *msg, const event *ev)
{
    /* Labels are ANDed (every label filter must match), the other keys ORed within a key. */
    json_t *labels = json_object_get(filters, "label");
    size_t i;
    json_t *l;
    json_array_foreach(labels, i, l) if (!match_label(json_string_value(l), msg, ev)) return false;
    return any_value(filters, "type", match_type, msg, ev) &&
           any_value(filters, "event", match_event, msg, ev) &&
           any_value(filters, "container", match_container, msg, ev) &&
           any_value(filters, "image", match_image, msg, ev) &&
           any_value(filters, "network", match_network, msg, ev) &&
           any_value(filters, "volume", match_volume, msg, ev) &&
           any_value(filters, "scope", match_scope, msg, ev) &&
           any_value(filters, "daemon", match_nothing, msg, ev) &&
           any_value(filters, "plugin", match_nothing, msg, ev) &&
           any_value(filters, "node", match_nothing, msg, ev) &&
           any_value(filters, "service", match_nothing, msg, ev) &&
           any_value(filters, "secret", match_nothing, msg, ev) &&
           any_value(filters, "config", match_nothing, msg, ev);
}

/* ---- the stream ---------------------------------------------------------------------------- */

typedef struct events_ctx {
    events_sub *sub;
    json_t *filters;
    long long since_ns; /* -1: none */
    long long until_ns; /* -1: none */
    int client_fd;
} events_ctx;

static void events_ctx_free(void *p)
{
    events_ctx *c = p;
    events_unsubscribe(c->sub);
    json_decref(c->filters);
    free(c);
}

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t events_read(void *p, char *buf, size_t max)
{
    events_ctx *c = p;
    for (;;) {
        long long now = now_ns();
        int wait_ms = 1000;
        if (c->until_ns >= 0) {
            long long left = (c->until_ns - now) / 1000000LL;
            wait_ms = left < 0 ? 0 : left < 1000 ? (int)left + 1 : 1000;
        }
        event ev = {0};
        uint64_t lost = 0;
        int r = events_next(c->sub, &ev, wait_ms, &lost);
        if (r == -1) {
            /* Docker's wire has no word for it (dockerd drops what a slow reader misses) */
            log_warn("docker events: a slow client missed %llu events", (unsigned long long)lost);
            continue;
        }
        if (r == 0) {
            if (c->until_ns >= 0 && now_ns() >= c->until_ns)
                return API_STREAM_END;
            if (client_gone(c->client_fd))
                return API_STREAM_ERROR;
            continue;
        }
        if (c->until_ns >= 0 && ev.time_ns > c->until_ns) {
            event_clear(&ev);
            return API_STREAM_END;
        }
        _cleanup_json_ json_t *msg = dk_event_json(&ev);
        bool wanted = ev.time_ns >= c->since_ns && event_wanted(c->filters, msg, &ev);
        event_clear(&ev);
        if (!wanted)
            continue;
        _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
        size_t n = strlen(text);
        if (n + 1 > max)
            continue; /* cannot happen: attributes are capped far below a chunk */
        memcpy(buf, text, n);
        buf[n] = '\n';
        return (ssize_t)n + 1;
    }
}

void dk_events(dk_request *r, api_response *res)
{
    static const char *const known[] = {"type",   "event",   "container", "image",  "network",
                                        "volume", "label",   "scope",     "daemon", "plugin",
                                        "node",   "service", "secret",    "config", NULL};
    const char *since = dk_query_str(r, "since", ""), *until = dk_query_str(r, "until", "");
    long long since_ns = -1, until_ns = -1;
    if (*since && (since_ns = events_parse_time(since)) < 0)
        return dk_error(res, 400,
                        "invalid value for since: '%.64s' (a Unix time: seconds[.nanoseconds])",
                        since);
    if (*until && (until_ns = events_parse_time(until)) < 0)
        return dk_error(res, 400,
                        "invalid value for until: '%.64s' (a Unix time: seconds[.nanoseconds])",
                        until);
    json_t *filters = dk_filters(r, known, res);
    if (!filters)
        return;
    /* Docker checks the type filter's values */
    static const char *const types[] = {"container", "image",   "network", "volume", "daemon",
                                        "plugin",    "service", "node",    "secret", "config"};
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(filters, "type"), i, v)
    {
        bool ok = false;
        for (size_t k = 0; k < KL_ARRAY_SIZE(types); k++)
            ok |= !strcmp(types[k], json_string_value(v));
        if (!ok) {
            json_decref(filters);
            return dk_error(res, 400, "invalid filter 'type=%.64s'", json_string_value(v));
        }
    }
    events_ctx *c = xcalloc(1, sizeof(*c));
    kl_engine *e = r->req->ctx->engine;
    /* an until without since: the events from now until then, as dockerd */
    c->sub = events_subscribe(e->events, since_ns);
    c->filters = filters;
    c->since_ns = since_ns;
    c->until_ns = until_ns;
    c->client_fd = r->req->client_fd;
    api_reply_stream(res, 200, "application/json", events_read, c, events_ctx_free);
}
