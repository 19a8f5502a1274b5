/* Encoding and parsing of the kleene-fetch wire (fetchproto.h). Every field is checked for
 * type and range before it is used; a message is all valid or rejected. */
#include "host/linux/fetchproto.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* Length of the valid UTF-8 sequence at p, 0 if there is none. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned c = p[0], min;
    size_t n;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        n = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) { /* stops at the NUL: it is not a continuation byte */
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    return c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ? 0 : n;
}

/* `s` with every byte that is not part of valid UTF-8 replaced by '?': messages carry
 * archive entry names, which may be in any encoding, and JSON strings are UTF-8. */
static char *utf8_clean(const char *s)
{
    char *out = xstrdup(s ? s : "");
    for (unsigned char *p = (unsigned char *)out; *p;) {
        size_t n = utf8_seq(p);
        if (n)
            p += n;
        else
            *p++ = '?';
    }
    return out;
}

static json_t *stats_json(const char *type, const host_extract_stats *s)
{
    return json_pack("{s:s, s:I, s:I, s:I}", "type", type, "entries", (json_int_t)s->entries,
                     "bytes", (json_int_t)s->bytes, "skipped_devices",
                     (json_int_t)s->skipped_devices);
}

char *fetchproto_encode(const fetchproto_msg *m, size_t *len)
{
    _cleanup_json_ json_t *j = NULL;
    _cleanup_free_ char *text = utf8_clean(m->text);
    const host_fetch_progress *p = &m->fetch;
    switch (m->type) {
    case FETCHPROTO_FETCH:
        j = json_pack("{s:s, s:I, s:I, s:i, s:b}", "type", "fetch", "bytes", (json_int_t)p->bytes,
                      "total", (json_int_t)p->total, "percent", p->percent, "done", p->done);
        break;
    case FETCHPROTO_EXTRACT:
        j = stats_json("extract", &m->stats);
        break;
    case FETCHPROTO_LAYER:
        j = json_pack("{s:s, s:i, s:i, s:s, s:I, s:I, s:b}", "type", "layer", "index",
                      (int)m->layer.index, "n", (int)m->layer.n, "digest", m->layer.digest, "bytes",
                      (json_int_t)m->layer.bytes, "total", (json_int_t)m->layer.total, "done",
                      m->layer.done);
        if (m->layer.present)
            json_object_set_new(j, "present", json_true());
        break;
    case FETCHPROTO_LOG:
        j = json_pack("{s:s, s:i, s:s}", "type", "log", "level", m->level, "msg", text);
        break;
    case FETCHPROTO_RESULT:
        if (m->ok) {
            j = stats_json("result", &m->stats);
            json_object_set_new(j, "ok", json_true());
        } else {
            j = json_pack("{s:s, s:b, s:s, s:i, s:s}", "type", "result", "ok", 0, "stage",
                          m->stage == HOST_FETCH_STAGE_FETCH ? "fetch" : "extract", "code", m->code,
                          "msg", text);
        }
        break;
    default:
        return NULL;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n + 1 > FETCHPROTO_LINE_MAX) {
        free(s);
        return NULL;
    }
    char *line = xmalloc(n + 1);
    memcpy(line, s, n);
    line[n] = '\n';
    free(s);
    *len = n + 1;
    return line;
}

static bool get_u64(const json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool get_int(const json_t *o, const char *key, long long lo, long long hi, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

static bool get_bool(const json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

static bool get_stats(const json_t *o, host_extract_stats *s)
{
    return get_u64(o, "entries", &s->entries) && get_u64(o, "bytes", &s->bytes) &&
           get_u64(o, "skipped_devices", &s->skipped_devices);
}

/* "sha256:" and 64 lowercase hex digits */
static bool digest_ok(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static int bad(kl_error *err, const char *what)
{
    return kl_error_set(err, EPROTO, "%s", what);
}

int fetchproto_parse(const char *line, size_t len, fetchproto_msg *m, kl_error *err)
{
    *m = (fetchproto_msg){0};
    if (len + 1 > FETCHPROTO_LINE_MAX)
        return bad(err, "a message too long");
    _cleanup_json_ json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!json_is_object(j) || !type)
        return bad(err, "not a JSON object with a type");
    if (!strcmp(type, "fetch")) {
        m->type = FETCHPROTO_FETCH;
        host_fetch_progress *p = &m->fetch;
        if (!get_u64(j, "bytes", &p->bytes) || !get_u64(j, "total", &p->total) ||
            !get_int(j, "percent", -1, 100, &p->percent) || !get_bool(j, "done", &p->done))
            return bad(err, "an invalid fetch progress");
    } else if (!strcmp(type, "extract")) {
        m->type = FETCHPROTO_EXTRACT;
        if (!get_stats(j, &m->stats))
            return bad(err, "an invalid extraction progress");
    } else if (!strcmp(type, "layer")) {
        m->type = FETCHPROTO_LAYER;
        host_fetch_layer *l = &m->layer;
        int index, n;
        const char *digest = json_string_value(json_object_get(j, "digest"));
        if (!get_int(j, "n", 1, FETCHPROTO_LAYERS_MAX, &n) ||
            !get_int(j, "index", 0, n - 1, &index) || !get_u64(j, "bytes", &l->bytes) ||
            !get_u64(j, "total", &l->total) || !get_bool(j, "done", &l->done) || !digest_ok(digest))
            return bad(err, "an invalid layer progress");
        json_t *pv = json_object_get(j, "present"); /* optional */
        if (pv && !json_is_boolean(pv))
            return bad(err, "an invalid layer progress");
        l->present = json_is_true(pv);
        l->index = (unsigned)index;
        l->n = (unsigned)n;
        snprintf(l->digest, sizeof(l->digest), "%s", digest);
    } else if (!strcmp(type, "log")) {
        m->type = FETCHPROTO_LOG;
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (!get_int(j, "level", KL_LOG_DEBUG, KL_LOG_EMERGENCY, &m->level) || !msg)
            return bad(err, "an invalid log message");
        m->text = xstrdup(msg);
    } else if (!strcmp(type, "result")) {
        m->type = FETCHPROTO_RESULT;
        if (!get_bool(j, "ok", &m->ok))
            return bad(err, "a result without ok");
        if (m->ok) {
            if (!get_stats(j, &m->stats))
                return bad(err, "a result without its totals");
            return 0;
        }
        const char *stage = json_string_value(json_object_get(j, "stage"));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (!stage || !msg || !get_int(j, "code", 1, 4095, &m->code))
            return bad(err, "a failure without stage, code or message");
        if (!strcmp(stage, "fetch"))
            m->stage = HOST_FETCH_STAGE_FETCH;
        else if (!strcmp(stage, "extract"))
            m->stage = HOST_FETCH_STAGE_EXTRACT;
        else
            return bad(err, "a failure of an unknown stage");
        m->text = xstrdup(msg);
    }
    return 0;
}

void fetchproto_msg_clear(fetchproto_msg *m)
{
    free(m->text);
    *m = (fetchproto_msg){0};
}
