/* The Docker door's entry: API version prefixes and negotiation, the route table, the query,
 * Docker's error shape and the headers dockerd sends with every answer.
 *
 * To add an endpoint: write its handler (a dk_handler, in the file of its object), declare it
 * in dk.h and add a row to `routes` below; patterns match segment by segment, {name} takes one
 * segment (decoded) into r->params in order, {name*} one or more (with their slashes). */
#include "api/docker/docker.h"
#include "api/docker/dk.h"
#include "lib/cleanup.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/sha1.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct dk_route {
    const char *method;
    const char *pattern;
    dk_handler handler;
} dk_route;

static const dk_route routes[] = {
    {"GET", "/_ping", dk_ping},
    {"HEAD", "/_ping", dk_ping},
    {"GET", "/version", dk_version},
    {"GET", "/info", dk_info},
    {"GET", "/networks", dk_networks_list},
    {"POST", "/networks/create", dk_networks_create},
    {"POST", "/networks/prune", dk_networks_prune},
    {"GET", "/networks/{id}", dk_networks_inspect},
    {"DELETE", "/networks/{id}", dk_networks_remove},
    {"POST", "/networks/{id}/connect", dk_networks_connect},
    {"POST", "/networks/{id}/disconnect", dk_networks_disconnect},
    {"GET", "/volumes", dk_volumes_list},
    {"POST", "/volumes/create", dk_volumes_create},
    {"POST", "/volumes/prune", dk_volumes_prune},
    {"GET", "/volumes/{name}", dk_volumes_inspect},
    {"DELETE", "/volumes/{name}", dk_volumes_remove},
    {"GET", "/images/json", dk_images_list},
    {"POST", "/images/prune", dk_images_prune},
    {"GET", "/images/{name*}/json", dk_images_inspect},
    {"GET", "/images/{name*}/history", dk_images_history},
    {"POST", "/images/{name*}/tag", dk_images_tag},
    {"DELETE", "/images/{name*}", dk_images_remove},
    /* containers */
    {"POST", "/containers/create", dk_containers_create},
    {"GET", "/containers/json", dk_containers_list},
    {"POST", "/containers/prune", dk_containers_prune},
    {"GET", "/containers/{id}/json", dk_containers_inspect},
    {"POST", "/containers/{id}/start", dk_containers_start},
    {"POST", "/containers/{id}/stop", dk_containers_stop},
    {"POST", "/containers/{id}/restart", dk_containers_restart},
    {"POST", "/containers/{id}/kill", dk_containers_kill},
    {"POST", "/containers/{id}/wait", dk_containers_wait},
    {"DELETE", "/containers/{id}", dk_containers_remove},
    {"POST", "/containers/{id}/rename", dk_containers_rename},
    {"GET", "/containers/{id}/logs", dk_containers_logs},
    {"POST", "/containers/{id}/attach", dk_containers_attach},
    {"POST", "/containers/{id}/resize", dk_containers_resize},
    {"GET", "/containers/{id}/top", dk_containers_top},
    {"GET", "/containers/{id}/stats", dk_containers_stats},
    /* exec */
    {"POST", "/containers/{id}/exec", dk_exec_create},
    {"POST", "/exec/{id}/start", dk_exec_start},
    {"GET", "/exec/{id}/json", dk_exec_inspect},
    {"POST", "/exec/{id}/resize", dk_exec_resize},
    /* image transfers (transfer.c) */
    {"POST", "/images/create", dk_images_create},
    {"POST", "/images/load", dk_images_load},
    {"GET", "/images/get", dk_images_get_many},
    {"GET", "/images/{name*}/get", dk_images_get},
    {"POST", "/images/{name*}/push", dk_images_push},
    {"POST", "/auth", dk_login},
    /* build */
    {"POST", "/build", dk_build},
    {"POST", "/build/prune", dk_build_prune},
    /* archive (docker cp) */
    {"GET", "/containers/{id}/archive", dk_containers_archive_get},
    {"HEAD", "/containers/{id}/archive", dk_containers_archive_head},
    {"PUT", "/containers/{id}/archive", dk_containers_archive_put},
};

/* ---- errors and queries ------------------------------------------------------------------ */

void dk_error(api_response *res, int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* the message may quote the client's bytes, which need not be UTF-8 */
    api_reply_json(res, status, json_pack("{s:o}", "message", dk_text_json(msg, strlen(msg))));
}

json_t *dk_text_json(const char *s, size_t n)
{
    kl_buf b = KL_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xc0) == 0x80;
        if (ok && len == 2)
            ok = c >= 0xc2;
        if (ok && len == 3) {
            unsigned cp = ((c & 15u) << 12) | ((p[i + 1] & 63u) << 6) | (p[i + 2] & 63u);
            ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
        }
        if (ok && len == 4) {
            unsigned cp = ((c & 7u) << 18) | ((p[i + 1] & 63u) << 12) | ((p[i + 2] & 63u) << 6) |
                          (p[i + 3] & 63u);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (ok) {
            kl_buf_append(&b, s + i, len);
            i += len;
        } else {
            kl_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    kl_buf_free(&b);
    return j;
}

int dk_status(int code)
{
    switch (code) {
    case ENOENT:
        return 404;
    case EEXIST:
    case EBUSY:
    case ENOTCONN:
    case EALREADY:
        return 409;
    case EINVAL:
    case ENOTUNIQ:
    case ENAMETOOLONG:
    case ERANGE:
        return 400;
    case EPERM:
        return 403;
    default:
        return 500;
    }
}

const char *dk_query_str(const dk_request *r, const char *key, const char *fallback)
{
    json_t *v = json_object_get(r->query, key);
    return json_is_string(v) ? json_string_value(v) : fallback;
}

bool dk_query_bool(const dk_request *r, const char *key, bool fallback)
{
    const char *v = dk_query_str(r, key, NULL);
    if (!v)
        return fallback;
    return !(v[0] == '\0' || !strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"));
}

int dk_query_int(const dk_request *r, const char *key, long long min, long long max,
                 long long fallback, long long *out, api_response *res)
{
    const char *v = dk_query_str(r, key, NULL);
    *out = fallback;
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        dk_error(res, 400, "invalid value for %s: '%.64s' (an integer from %lld to %lld)", key, v,
                 min, max);
        return -1;
    }
    *out = n;
    return 0;
}

json_t *dk_body_object(const dk_request *r, bool empty_ok, api_response *res)
{
    if (r->body->len == 0) {
        if (empty_ok)
            return json_object();
        dk_error(res, 400, "a JSON body is required");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(r->body->data, r->body->len, 0, &jerr);
    if (!j) {
        dk_error(res, 400, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        dk_error(res, 400, "invalid JSON: expected an object");
        return NULL;
    }
    return j;
}

json_t *dk_filters(const dk_request *r, const char *const *known, api_response *res)
{
    const char *f = dk_query_str(r, "filters", NULL);
    json_t *out = json_object();
    if (!f || !*f)
        return out;
    _cleanup_json_ json_t *j = json_loads(f, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(out);
        dk_error(res, 400, "invalid filter: not a JSON object: '%.100s'", f);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= !strcmp(known[i], key);
        if (!ok) {
            json_decref(out);
            dk_error(res, 400, "invalid filter '%.64s'", key);
            return NULL;
        }
        json_t *list = json_array();
        if (json_is_array(v)) {
            size_t i;
            json_t *it;
            json_array_foreach(v, i, it) if (json_is_string(it)) json_array_append(list, it);
        } else if (json_is_object(v)) { /* the old form: {"value": true} */
            const char *k2;
            json_t *b;
            json_object_foreach(v, k2, b) if (json_is_true(b))
                json_array_append_new(list, json_string(k2));
        } else {
            json_decref(list);
            json_decref(out);
            dk_error(res, 400, "invalid filter '%.64s': expected a list of strings", key);
            return NULL;
        }
        /* Label filters are checked here, once, for every endpoint that takes them. */
        if (!strcmp(key, "label") || !strcmp(key, "label!")) {
            size_t i;
            json_t *it;
            json_array_foreach(list, i, it)
            {
                kl_error err = KL_ERROR_INIT;
                if (kl_labels_filter_check(json_string_value(it), &err) < 0) {
                    json_decref(list);
                    json_decref(out);
                    dk_error(res, 400, "invalid filter: %s", err.msg);
                    return NULL;
                }
            }
        }
        json_object_set_new(out, key, list);
    }
    return out;
}

/* ---- ids ---------------------------------------------------------------------------------- */

void dk_long_id(const char *kind, const char *id12, char out[DK_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    snprintf(out, DK_ID_LEN + 1, "%.12s", id12);
    size_t n = strlen(out);
    for (int round = 1; n < DK_ID_LEN; round++) {
        char seed[96];
        int len = snprintf(seed, sizeof(seed), "kleene:%s:%.12s:%d", kind, id12, round);
        uint8_t d[KL_SHA1_LEN];
        kl_sha1(seed, (size_t)len, d);
        for (size_t i = 0; i < KL_SHA1_LEN && n < DK_ID_LEN; i++) {
            out[n++] = hex[d[i] >> 4];
            if (n < DK_ID_LEN)
                out[n++] = hex[d[i] & 15];
        }
    }
    out[DK_ID_LEN] = '\0';
}

static bool all_hex(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

const char *dk_ident(const char *ident, char buf[16], bool *check_full)
{
    *check_full = false;
    if (ident[0] == '/')
        ident++;
    size_t n = strlen(ident);
    if (n > 12 && n <= DK_ID_LEN && all_hex(ident)) {
        snprintf(buf, 16, "%.12s", ident);
        *check_full = true;
        return buf;
    }
    return ident;
}

const char *dk_time(const char *t)
{
    return t && *t ? t : "0001-01-01T00:00:00Z";
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static size_t count_segments(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '/';
    return n;
}

/* {name} takes one segment; {name*} one or more, as many as the rest of the pattern leaves
 * (image names have slashes: /images/host:5000/a/b/json). */
static bool match(const char *pattern, char *path, const char **params)
{
    size_t np = 0;
    char *ends[4];
    const char *p = pattern;
    char *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        char *send = strchr(s, '/');
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen > 1 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || np >= 4)
                return false;
            if (plen > 2 && p[plen - 2] == '*') {
                size_t left = count_segments(p + plen), have = count_segments(s + slen);
                if (have < left)
                    return false;
                char *end = s + slen;
                for (size_t k = 0; k < have - left; k++) {
                    char *next = strchr(end + 1, '/');
                    end = next ? next : end + strlen(end);
                }
                slen = (size_t)(end - s);
            }
            params[np] = s;
            ends[np++] = s + slen;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*p || *s)
        return false;
    for (size_t i = 0; i < np; i++)
        *ends[i] = '\0';
    return true;
}

int dk_version_prefix(const char *path, int *minor, const char **rest)
{
    *rest = path;
    if (strncmp(path, "/v", 2) != 0 || !(path[2] >= '0' && path[2] <= '9'))
        return 0;
    const char *p = path + 2;
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
            return 0; /* not a version: an unknown path */
    *rest = end ? end : "/";
    if (len < 3 || strncmp(p, "1.", 2) != 0) {
        *minor = -1;
        return -1;
    }
    char *e;
    long m = strtol(p + 2, &e, 10);
    if (e != p + len || m < 0 || m > 100000) {
        *minor = -1;
        return -1;
    }
    *minor = (int)m;
    return 1;
}

static void set_headers(api_response *res)
{
    free(res->headers);
    res->headers = xasprintf("Api-Version: %s\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
                             "Server: Kleene/%s (linux)\r\n",
                             DK_API_VERSION, KLEENE_VERSION);
}

void docker_serve(const http_head *h, const kl_buf *body, api_request *req, api_response *res)
{
    set_headers(res);
    dk_request r = {.req = req, .h = h, .method = h->method, .body = body, .minor = DK_API_MINOR};
    const char *path;
    int v = dk_version_prefix(h->path, &r.minor, &path);
    if (v < 0) {
        size_t n = strcspn(h->path + 2, "/");
        return dk_error(res, 400, "invalid API version '%.*s'", (int)(n > 32 ? 32 : n),
                        h->path + 2);
    }
    if (v > 0 && r.minor > DK_API_MINOR)
        return dk_error(res, 400,
                        "client version 1.%d is too new. Maximum supported API version is %s",
                        r.minor, DK_API_VERSION);
    if (v > 0 && r.minor < DK_API_MIN_MINOR)
        return dk_error(res, 400,
                        "client version 1.%d is too old. Minimum supported API version is %s, "
                        "please upgrade your client to a newer version",
                        r.minor, DK_API_MIN_VERSION);
    r.path = path;

    _cleanup_json_ json_t *query = json_object();
    if (h->query) {
        const char *keys[HTTP_MAX_QUERY_ARGS], *values[HTTP_MAX_QUERY_ARGS];
        _cleanup_free_ char *qstore = xmalloc(strlen(h->query) + 1);
        http_refusal why;
        int nq = http_parse_query(h->query, qstore, keys, values, HTTP_MAX_QUERY_ARGS, &why);
        if (nq < 0)
            return dk_error(res, why.status, "%s", why.message);
        for (int i = 0; i < nq; i++)
            json_object_set_new(query, keys[i], json_string(values[i]));
    }
    r.query = query;

    _cleanup_free_ char *storage = xmalloc(strlen(path) + 1);
    bool path_known = false;
    for (size_t i = 0; i < KL_ARRAY_SIZE(routes); i++) {
        strcpy(storage, path);
        const char *params[4] = {0};
        if (!match(routes[i].pattern, storage, params))
            continue;
        path_known = true;
        if (strcmp(routes[i].method, h->method) != 0)
            continue;
        memcpy(r.params, params, sizeof(params));
        routes[i].handler(&r, res);
        if (!res->status)
            dk_error(res, 500, "internal error: the handler gave no answer");
        return;
    }
    if (path_known)
        return dk_error(res, 405, "method %s is not allowed on %s", h->method, path);
    dk_error(res, 404, "page not found");
}

/* The requests whose body is streamed to the handler (api_request.body_read) rather than read
 * in full first: the archives and build contexts, which may be large. */
static const dk_route streamed[] = {
    {"POST", "/images/load", NULL},
    {"POST", "/build", NULL},
    {"PUT", "/containers/{id}/archive", NULL},
};

bool docker_streams_body(const http_head *h)
{
    int minor;
    const char *path;
    if (dk_version_prefix(h->path, &minor, &path) < 0)
        return false;
    _cleanup_free_ char *storage = xmalloc(strlen(path) + 1);
    for (size_t i = 0; i < KL_ARRAY_SIZE(streamed); i++) {
        strcpy(storage, path);
        const char *params[4] = {0};
        if (!strcmp(streamed[i].method, h->method) && match(streamed[i].pattern, storage, params))
            return true;
    }
    return false;
}
