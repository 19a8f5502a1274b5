/* The engine's event bus: lifecycle events of containers, images, networks and volumes, as the
 * engine records them at the one place each change happens (so both doors, the start-up
 * recovery and a container that ends by itself produce them), for any number of subscribers
 * on any thread (the Docker door's GET /events, the Kleene API's GET /system/events).
 *
 * Bounded by design: events live in one ring of a fixed number of slots (the recent past
 * that `since` can ask for). Emitting never blocks on a subscriber and never allocates beyond
 * the event itself (its attributes are capped): the oldest slot is overwritten. A subscriber
 * is a cursor into the ring; one that falls behind by more than the ring is told how many it
 * lost and continues from the oldest event kept. Nothing is stored: the events of a kleened
 * that was down are not replayed (docs/docker-api.md "Events").
 *
 * Locking: the bus has its own mutex, a leaf: emit may be called with the engine lock (or the
 * store lock) held, and the bus never calls out while holding its mutex. Portable. */
#ifndef KL_ENGINE_EVENTS_H
#define KL_ENGINE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kl_engine;

typedef struct events events;

/* Slots of the ring kleened uses (an event is about 100 bytes plus its attributes). */
#define EVENTS_RING_SLOTS 1024
/* What one event's attributes may take (keys and values); labels past it are left out. */
#define EVENTS_ATTR_BYTES 8192

typedef struct event {
    uint64_t seq;      /* 1, 2, ... in the order emitted */
    long long time_ns; /* wall clock, nanoseconds since the epoch */
    char type[16];     /* "container", "image", "network", "volume" */
    char action[24];   /* "create", "start", "die", "exec_create", "tag", ... */
    char *actor;       /* the object's Kleene id (an image reference for "pull") */
    char **attrs;      /* NULL-terminated: key, value, key, value, ... */
} event;

void event_clear(event *ev);
/* The value of attribute `key`, or NULL. */
const char *event_attr(const event *ev, const char *key);

events *events_new(size_t slots);
void events_free(events *b);

/* Record an event: `labels` (an object string→string, may be NULL) first, then the
 * NULL-terminated key, value pairs after `labels` (a NULL value skips its key; later keys
 * replace earlier ones of the same name). The engine's own calls go through engine_event. */
void events_emit(events *b, const char *type, const char *action, const char *actor,
                 const json_t *labels, ...) __attribute__((sentinel));
void events_emitv(events *b, const char *type, const char *action, const char *actor,
                  const json_t *labels, char *const *kv);

/* Once per key among the last few hundred keys asked: true the first time. For an event that
 * two paths may both see (a container's death seen by its stop and by the end watcher). */
bool events_once(events *b, const char *key);

/* A subscription: a cursor into the ring. since_ns < 0: only events emitted from now on;
 * otherwise the kept events from that time on, then the new ones. */
typedef struct events_sub events_sub;
events_sub *events_subscribe(events *b, long long since_ns);
/* 1: the next event in *out (the caller's, event_clear); 0: none within timeout_ms; -1: the
 * subscriber fell behind and *lost events were overwritten before it read them (the next call
 * goes on with the oldest kept). */
int events_next(events_sub *s, event *out, int timeout_ms, uint64_t *lost);
void events_unsubscribe(events_sub *s);

/* A time as `since`/`until` give it: Unix seconds with an optional fraction ("1607000000",
 * "1607000000.123456789"; what the docker CLI sends) in nanoseconds; -1 when malformed. */
long long events_parse_time(const char *v);

/* Wake every subscriber waiting in events_next (they return 0): for shutdown. */
void events_wake_all(events *b);

#endif
