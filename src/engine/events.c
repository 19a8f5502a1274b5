/* The engine's event bus (events.h). Must not: block an emitter on a subscriber, grow beyond
 * its ring, or call out of this file while holding its mutex. */
#include "engine/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* How many keys events_once remembers. */
#define ONCE_SLOTS 512

struct events {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast at every event (and by events_wake_all) */
    event *ring; /* allocated at the first event: an idle kleened keeps none (its RSS budget) */
    size_t slots;
    uint64_t next_seq; /* the seq the next event gets; the first is 1 */
    unsigned wake_gen; /* bumped by events_wake_all */
    char *once[ONCE_SLOTS];
    size_t once_next;
};

struct events_sub {
    events *b;
    uint64_t cursor; /* the seq to read next */
    unsigned wake_gen;
};

void event_clear(event *ev)
{
    free(ev->actor);
    strv_free(ev->attrs);
    *ev = (event){0};
}

const char *event_attr(const event *ev, const char *key)
{
    for (size_t i = 0; ev->attrs && ev->attrs[i] && ev->attrs[i + 1]; i += 2)
        if (!strcmp(ev->attrs[i], key))
            return ev->attrs[i + 1];
    return NULL;
}

events *events_new(size_t slots)
{
    events *b = xcalloc(1, sizeof(*b));
    b->slots = slots ? slots : 1;
    b->next_seq = 1;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    return b;
}

void events_free(events *b)
{
    if (!b)
        return;
    for (size_t i = 0; b->ring && i < b->slots; i++)
        event_clear(&b->ring[i]);
    free(b->ring);
    for (size_t i = 0; i < ONCE_SLOTS; i++)
        free(b->once[i]);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* Set key to value in the pair vector (replacing an earlier value), unless the attributes
 * would pass EVENTS_ATTR_BYTES. */
static void attr_set(char ***kv, size_t *bytes, const char *key, const char *value)
{
    size_t n = strv_len(*kv);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (strcmp((*kv)[i], key) != 0)
            continue;
        size_t old = strlen((*kv)[i + 1]), add = strlen(value);
        if (*bytes - old + add > EVENTS_ATTR_BYTES)
            return;
        *bytes = *bytes - old + add;
        free((*kv)[i + 1]);
        (*kv)[i + 1] = xstrdup(value);
        return;
    }
    size_t add = strlen(key) + strlen(value);
    if (*bytes + add > EVENTS_ATTR_BYTES)
        return;
    *bytes += add;
    strv_push(kv, key);
    strv_push(kv, value);
}

static void copy_limited(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void events_emitv(events *b, const char *type, const char *action, const char *actor,
                  const json_t *labels, char *const *kv)
{
    if (!b)
        return;
    char **attrs = NULL;
    size_t bytes = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
    {
        if (json_is_string(v))
            attr_set(&attrs, &bytes, k, json_string_value(v));
    }
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (kv[i + 1])
            attr_set(&attrs, &bytes, kv[i], kv[i + 1]);
    }
    if (!attrs)
        attrs = xcalloc(1, sizeof(char *));

    pthread_mutex_lock(&b->lock);
    if (!b->ring)
        b->ring = xcalloc(b->slots, sizeof(*b->ring));
    event *slot = &b->ring[(b->next_seq - 1) % b->slots];
    event_clear(slot); /* the oldest goes */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    slot->seq = b->next_seq++;
    slot->time_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    copy_limited(slot->type, sizeof(slot->type), type);
    copy_limited(slot->action, sizeof(slot->action), action);
    slot->actor = xstrdup(actor ? actor : "");
    slot->attrs = attrs;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void events_emit(events *b, const char *type, const char *action, const char *actor,
                 const json_t *labels, ...)
{
    /* The pairs end at a NULL key; a pair with a NULL value is left out. At most 32 pairs (the
     * engine's calls pass a handful). */
    const char *kv[2 * 32 + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, labels);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *value = va_arg(ap, const char *);
        if (!value || n + 2 > 2 * 32)
            continue;
        kv[n++] = key;
        kv[n++] = value;
    }
    va_end(ap);
    kv[n] = NULL;
    events_emitv(b, type, action, actor, labels, (char *const *)kv);
}

bool events_once(events *b, const char *key)
{
    if (!b)
        return true;
    pthread_mutex_lock(&b->lock);
    bool seen = false;
    for (size_t i = 0; i < ONCE_SLOTS && !seen; i++)
        seen = b->once[i] && !strcmp(b->once[i], key);
    if (!seen) {
        free(b->once[b->once_next]);
        b->once[b->once_next] = xstrdup(key);
        b->once_next = (b->once_next + 1) % ONCE_SLOTS;
    }
    pthread_mutex_unlock(&b->lock);
    return !seen;
}

/* Under the lock: the oldest seq the ring still holds. */
static uint64_t oldest_locked(const events *b)
{
    return b->next_seq > b->slots ? b->next_seq - b->slots : 1;
}

events_sub *events_subscribe(events *b, long long since_ns)
{
    events_sub *s = xcalloc(1, sizeof(*s));
    s->b = b;
    pthread_mutex_lock(&b->lock);
    s->wake_gen = b->wake_gen;
    if (since_ns < 0) {
        s->cursor = b->next_seq;
    } else {
        s->cursor = oldest_locked(b);
        while (s->cursor < b->next_seq && b->ring[(s->cursor - 1) % b->slots].time_ns < since_ns)
            s->cursor++;
    }
    pthread_mutex_unlock(&b->lock);
    return s;
}

int events_next(events_sub *s, event *out, int timeout_ms, uint64_t *lost)
{
    events *b = s->b;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    int r;
    for (;;) {
        uint64_t oldest = oldest_locked(b);
        if (s->cursor < oldest) {
            *lost = oldest - s->cursor;
            s->cursor = oldest;
            r = -1;
            break;
        }
        if (s->cursor < b->next_seq) {
            const event *ev = &b->ring[(s->cursor - 1) % b->slots];
            *out = (event){.seq = ev->seq, .time_ns = ev->time_ns};
            memcpy(out->type, ev->type, sizeof(out->type));
            memcpy(out->action, ev->action, sizeof(out->action));
            out->actor = xstrdup(ev->actor);
            out->attrs = strv_dup(ev->attrs);
            s->cursor++;
            r = 1;
            break;
        }
        if (s->wake_gen != b->wake_gen || timeout_ms <= 0) {
            s->wake_gen = b->wake_gen;
            r = 0;
            break;
        }
        int w = pthread_cond_timedwait(&b->cond, &b->lock, &deadline);
        if (w == ETIMEDOUT) {
            timeout_ms = 0; /* one more look, then 0 */
        }
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

void events_unsubscribe(events_sub *s)
{
    free(s);
}

void events_wake_all(events *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->wake_gen++;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

long long events_parse_time(const char *v)
{
    if (!v || !*v)
        return -1;
    const char *p = v;
    long long secs = 0, frac = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (secs > 9000000000LL)
            return -1;
        secs = secs * 10 + (*p - '0');
        digits++;
    }
    if (!digits)
        return -1;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 9)
                frac = frac * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            frac *= 10;
    }
    if (*p)
        return -1;
    return secs * 1000000000LL + frac;
}
