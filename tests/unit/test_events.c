/* The engine's event bus (engine/events.h): order and attributes, labels under explicit
 * attributes, the attribute cap, a subscriber that falls behind is told how many it lost and
 * goes on with the oldest kept, `since` from the ring, many subscribers on threads while an
 * emitter never blocks, events_once, and the wake-up for shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/events.h"

static void emit_n(events *b, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%d", i);
        events_emit(b, "container", "start", id, NULL, "name", id, NULL);
    }
}

static void test_order_and_attributes(void **state)
{
    (void)state;
    events *b = events_new(16);
    events_sub *s = events_subscribe(b, -1);
    json_t *labels = json_pack("{s:s, s:s}", "team", "blue", "name", "from-label");
    events_emit(b, "container", "die", "abc", labels, "name", "web", "exitCode", "3", "skipped",
                (const char *)NULL, "image", "bb", NULL);
    json_decref(labels);
    events_emit(b, "volume", "create", "v1", NULL, NULL);
    event ev;
    uint64_t lost = 0;
    assert_int_equal(events_next(s, &ev, 100, &lost), 1);
    assert_string_equal(ev.type, "container");
    assert_string_equal(ev.action, "die");
    assert_string_equal(ev.actor, "abc");
    assert_string_equal(event_attr(&ev, "team"), "blue");
    assert_string_equal(event_attr(&ev, "name"), "web"); /* explicit over a label */
    assert_string_equal(event_attr(&ev, "exitCode"), "3");
    assert_string_equal(event_attr(&ev, "image"), "bb"); /* after a NULL value */
    assert_null(event_attr(&ev, "skipped"));
    long long t1 = ev.time_ns;
    uint64_t seq1 = ev.seq;
    event_clear(&ev);
    assert_int_equal(events_next(s, &ev, 100, &lost), 1);
    assert_string_equal(ev.type, "volume");
    assert_true(ev.seq == seq1 + 1);
    assert_true(ev.time_ns >= t1);
    assert_null(ev.attrs[0]);
    event_clear(&ev);
    /* nothing more: a timeout */
    assert_int_equal(events_next(s, &ev, 20, &lost), 0);
    events_unsubscribe(s);
    events_free(b);
}

static void test_attribute_cap(void **state)
{
    (void)state;
    events *b = events_new(4);
    json_t *labels = json_object();
    char big[1024];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof(k), "l%02d", i);
        json_object_set_new(labels, k, json_string(big));
    }
    events_sub *s = events_subscribe(b, -1);
    events_emit(b, "container", "create", "abc", labels, NULL);
    json_decref(labels);
    event ev;
    uint64_t lost;
    assert_int_equal(events_next(s, &ev, 100, &lost), 1);
    size_t bytes = 0, n = 0;
    for (size_t i = 0; ev.attrs[i]; i += 2, n++)
        bytes += strlen(ev.attrs[i]) + strlen(ev.attrs[i + 1]);
    assert_true(bytes <= EVENTS_ATTR_BYTES);
    assert_true(n > 0 && n < 40);
    event_clear(&ev);
    events_unsubscribe(s);
    events_free(b);
}

static void test_overflow_is_told(void **state)
{
    (void)state;
    events *b = events_new(8);
    events_sub *s = events_subscribe(b, -1);
    emit_n(b, 0, 20); /* 12 of them are overwritten before the subscriber reads */
    event ev;
    uint64_t lost = 0;
    assert_int_equal(events_next(s, &ev, 100, &lost), -1);
    assert_int_equal(lost, 12);
    for (int i = 12; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof(id), "c%d", i);
        assert_int_equal(events_next(s, &ev, 100, &lost), 1);
        assert_string_equal(ev.actor, id);
        event_clear(&ev);
    }
    assert_int_equal(events_next(s, &ev, 0, &lost), 0);
    events_unsubscribe(s);
    events_free(b);
}

static void test_since_from_the_ring(void **state)
{
    (void)state;
    events *b = events_new(8);
    emit_n(b, 0, 3);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long mid = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    emit_n(b, 3, 2);
    event ev;
    uint64_t lost;
    /* since 0: every event the ring keeps */
    events_sub *all = events_subscribe(b, 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(events_next(all, &ev, 0, &lost), 1);
        event_clear(&ev);
    }
    assert_int_equal(events_next(all, &ev, 0, &lost), 0);
    /* since a time between: the later two */
    events_sub *later = events_subscribe(b, mid);
    assert_int_equal(events_next(later, &ev, 0, &lost), 1);
    assert_string_equal(ev.actor, "c3");
    event_clear(&ev);
    /* from now: nothing of before; a new one */
    events_sub *now = events_subscribe(b, -1);
    assert_int_equal(events_next(now, &ev, 0, &lost), 0);
    emit_n(b, 5, 1);
    assert_int_equal(events_next(now, &ev, 0, &lost), 1);
    assert_string_equal(ev.actor, "c5");
    event_clear(&ev);
    /* since 0 after the ring wrapped: only what it keeps (the ring's size) */
    emit_n(b, 6, 10);
    events_sub *wrapped = events_subscribe(b, 0);
    int n = 0;
    while (events_next(wrapped, &ev, 0, &lost) == 1) {
        if (n == 0)
            assert_string_equal(ev.actor, "c8");
        n++;
        event_clear(&ev);
    }
    assert_int_equal(n, 8);
    events_unsubscribe(all);
    events_unsubscribe(later);
    events_unsubscribe(now);
    events_unsubscribe(wrapped);
    events_free(b);
}

/* ---- many subscribers on threads ---- */

enum { N_READERS = 8, N_EVENTS = 5000 };

typedef struct reader {
    events_sub *sub;
    int got;
    uint64_t lost;
    bool in_order;
    bool slow;
} reader;

static void *reader_thread(void *p)
{
    reader *r = p;
    uint64_t last = 0;
    r->in_order = true;
    while (r->got + (int)r->lost < N_EVENTS) {
        event ev;
        uint64_t lost = 0;
        int x = events_next(r->sub, &ev, 2000, &lost);
        if (x == 0)
            break; /* 2 s without an event: the emitter is done */
        if (x < 0) {
            r->lost += lost;
            continue;
        }
        if (ev.seq <= last)
            r->in_order = false;
        last = ev.seq;
        r->got++;
        event_clear(&ev);
        if (r->slow && r->got % 50 == 0)
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return NULL;
}

static void test_many_subscribers(void **state)
{
    (void)state;
    events *b = events_new(64);
    reader rs[N_READERS];
    pthread_t th[N_READERS];
    for (int i = 0; i < N_READERS; i++) {
        rs[i] = (reader){.sub = events_subscribe(b, -1), .slow = i == 0};
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &rs[i]), 0);
    }
    /* the emitter never waits for a reader: 5000 events go out at full speed */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    emit_n(b, 0, N_EVENTS);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("emitted %d events in %.1f ms with %d subscribers\n", N_EVENTS, ms, N_READERS);
    for (int i = 0; i < N_READERS; i++) {
        pthread_join(th[i], NULL);
        /* every event is either read or counted as lost, in order */
        assert_int_equal(rs[i].got + (int)rs[i].lost, N_EVENTS);
        assert_true(rs[i].in_order);
        events_unsubscribe(rs[i].sub);
    }
    /* the slow one fell behind and was told */
    assert_true(rs[0].lost > 0);
    events_free(b);
}

static void test_once(void **state)
{
    (void)state;
    events *b = events_new(4);
    assert_true(events_once(b, "die:a:1"));
    assert_false(events_once(b, "die:a:1"));
    assert_true(events_once(b, "die:a:2"));
    /* bounded: after many other keys the first is forgotten */
    for (int i = 0; i < 600; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k%d", i);
        assert_true(events_once(b, k));
    }
    assert_true(events_once(b, "die:a:1"));
    events_free(b);
}

static void *waiter(void *p)
{
    events_sub *s = p;
    event ev;
    uint64_t lost;
    return (void *)(intptr_t)events_next(s, &ev, 60000, &lost);
}

static void test_wake_all(void **state)
{
    (void)state;
    events *b = events_new(4);
    events_sub *s = events_subscribe(b, -1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter, s), 0);
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    events_wake_all(b);
    void *r;
    pthread_join(th, &r);
    assert_int_equal((intptr_t)r, 0);
    events_unsubscribe(s);
    events_free(b);
}

static void test_parse_time(void **state)
{
    (void)state;
    assert_true(events_parse_time("1607000000") == 1607000000LL * 1000000000LL);
    assert_true(events_parse_time("1607000000.5") == 1607000000LL * 1000000000LL + 500000000LL);
    assert_true(events_parse_time("1607000000.123456789") ==
                1607000000LL * 1000000000LL + 123456789LL);
    /* digits past nanoseconds are dropped */
    assert_true(events_parse_time("1.0000000019") == 1000000001LL);
    assert_true(events_parse_time("0") == 0);
    static const char *const bad[] = {"",
                                      "-1",
                                      "1.",
                                      ".5",
                                      "1e9",
                                      "10m",
                                      "1.2.3",
                                      " 1",
                                      "1 ",
                                      "2026-12-07T10:00:00Z",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(events_parse_time(bad[i]) == -1);
    assert_true(events_parse_time(NULL) == -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_attributes),
        cmocka_unit_test(test_attribute_cap),
        cmocka_unit_test(test_overflow_is_told),
        cmocka_unit_test(test_since_from_the_ring),
        cmocka_unit_test(test_many_subscribers),
        cmocka_unit_test(test_once),
        cmocka_unit_test(test_wake_all),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
