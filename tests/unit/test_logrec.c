/* Unit tests for the container log's record format (src/lib/logrec.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "lib/logrec.h"

#define T "2026-12-07T10:13:01.123456Z"

static void test_encode(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_logrec_encode(&b, KL_STREAM_STDOUT, T, "a\n\nbc", 5);
    kl_logrec_encode(&b, KL_STREAM_STDERR, T, "d\n", 2);
    kl_logrec_encode(&b, KL_STREAM_STDERR, T, "", 0); /* nothing */
    assert_string_equal(b.data,
                        T " stdout F a\n" T " stdout F \n" T " stdout P bc\n" T " stderr F d\n");
    kl_buf_free(&b);
}

/* Records read back give the bytes that were written, whatever the chunking. */
static void test_round_trip(void **state)
{
    (void)state;
    static const char *chunks[] = {"first line\nsecond", " half\n", "\r\n", "no newline"};
    kl_buf log = KL_BUF_INIT;
    for (size_t i = 0; i < 4; i++)
        kl_logrec_encode(&log, i % 2 ? KL_STREAM_STDERR : KL_STREAM_STDOUT, T, chunks[i],
                         strlen(chunks[i]));
    for (size_t step = 1; step <= 7; step++) {
        kl_logrec_reader r = KL_LOGREC_READER_INIT;
        kl_buf out[3] = {KL_BUF_INIT, KL_BUF_INIT, KL_BUF_INIT};
        kl_logrec rec;
        for (size_t off = 0; off < log.len; off += step) {
            size_t n = log.len - off < step ? log.len - off : step;
            kl_logrec_reader_feed(&r, log.data + off, n);
            while (kl_logrec_reader_next(&r, false, &rec) == 1) {
                assert_string_equal(rec.time, T);
                kl_buf_append(&out[rec.stream], rec.data, rec.len);
            }
        }
        assert_int_equal(kl_logrec_reader_next(&r, true, &rec), 0);
        assert_string_equal(out[KL_STREAM_STDOUT].data, "first line\nsecond\r\n");
        assert_string_equal(out[KL_STREAM_STDERR].data, " half\nno newline");
        for (int i = 0; i < 3; i++)
            kl_buf_free(&out[i]);
        kl_logrec_reader_free(&r);
    }
    kl_buf_free(&log);
}

/* Lines that are not records: stdout, as they are, without a time. */
static void test_not_records(void **state)
{
    (void)state;
    static const char *lines[] = {
        "plain old line\n",
        T " stdout F\n",     /* too short */
        T " stdboth F x\n",  /* unknown stream */
        T " stdout X x\n",   /* unknown kind */
        "2026 stdout F x\n", /* time too short */
        T "stdout F x\n",    /* no space */
        T " stdout F x",     /* no newline */
        "Z026-12-07T10:13:01Z stdout F x\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(*lines); i++) {
        kl_logrec rec;
        kl_logrec_decode((const unsigned char *)lines[i], strlen(lines[i]), &rec);
        assert_int_equal(rec.stream, KL_STREAM_STDOUT);
        assert_string_equal(rec.time, "");
        assert_int_equal(rec.len, strlen(lines[i]));
        assert_ptr_equal(rec.data, lines[i]);
    }
    /* the smallest record: an empty line */
    const char *empty = T " stderr F \n";
    kl_logrec rec;
    kl_logrec_decode((const unsigned char *)empty, strlen(empty), &rec);
    assert_int_equal(rec.stream, KL_STREAM_STDERR);
    assert_int_equal(rec.len, 1);
    assert_memory_equal(rec.data, "\n", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_not_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
