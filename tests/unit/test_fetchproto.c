/* The kleene-fetch wire (fetchproto.h): every message survives encode + parse unchanged,
 * texts that are not UTF-8 are made so, and the parser rejects every malformed or
 * out-of-range message a subverted helper could send. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/fetchproto.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* encode, check the line, parse it back */
static fetchproto_msg round_trip(const fetchproto_msg *in)
{
    size_t n = 0;
    _cleanup_free_ char *line = fetchproto_encode(in, &n);
    assert_non_null(line);
    assert_true(n > 1 && n <= FETCHPROTO_LINE_MAX);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));
    fetchproto_msg out;
    kl_error err = KL_ERROR_INIT;
    if (fetchproto_parse(line, n - 1, &out, &err) < 0)
        fail_msg("%.*s: %s", (int)n, line, err.msg);
    assert_int_equal(out.type, in->type);
    return out;
}

static void test_round_trip(void **state)
{
    (void)state;
    fetchproto_msg f = {.type = FETCHPROTO_FETCH,
                        .fetch = {.bytes = 1ull << 40, .total = 0, .percent = -1, .done = true}};
    fetchproto_msg o = round_trip(&f);
    assert_memory_equal(&o.fetch, &f.fetch, sizeof(f.fetch));

    fetchproto_msg x = {.type = FETCHPROTO_EXTRACT, .stats = {7, 8, 9}};
    o = round_trip(&x);
    assert_memory_equal(&o.stats, &x.stats, sizeof(x.stats));

    fetchproto_msg l = {.type = FETCHPROTO_LOG, .level = 3, .text = "a \"quoted\"\nline\t\x01"};
    o = round_trip(&l);
    assert_int_equal(o.level, 3);
    assert_string_equal(o.text, l.text);
    fetchproto_msg_clear(&o);

    fetchproto_msg ok = {.type = FETCHPROTO_RESULT, .ok = true, .stats = {294, 1982561, 2}};
    o = round_trip(&ok);
    assert_true(o.ok);
    assert_memory_equal(&o.stats, &ok.stats, sizeof(ok.stats));

    fetchproto_msg bad = {.type = FETCHPROTO_RESULT,
                          .stage = HOST_FETCH_STAGE_FETCH,
                          .code = ECONNREFUSED,
                          .text = "fetching http://x: Couldn't connect to server"};
    o = round_trip(&bad);
    assert_false(o.ok);
    assert_int_equal(o.stage, HOST_FETCH_STAGE_FETCH);
    assert_int_equal(o.code, ECONNREFUSED);
    assert_string_equal(o.text, bad.text);
    fetchproto_msg_clear(&o);
    bad.stage = HOST_FETCH_STAGE_EXTRACT;
    o = round_trip(&bad);
    assert_int_equal(o.stage, HOST_FETCH_STAGE_EXTRACT);
    fetchproto_msg_clear(&o);

    fetchproto_msg ly = {.type = FETCHPROTO_LAYER,
                         .layer = {.index = 2, .n = 3, .bytes = 5, .total = 1ull << 33, .done = 1}};
    snprintf(ly.layer.digest, sizeof(ly.layer.digest), "sha256:%064d", 7);
    o = round_trip(&ly);
    assert_memory_equal(&o.layer, &ly.layer, sizeof(ly.layer));
    /* a layer the store had (sent before the downloads) */
    ly.layer.present = true;
    o = round_trip(&ly);
    assert_true(o.layer.present);
    assert_memory_equal(&o.layer, &ly.layer, sizeof(ly.layer));
}

static void test_texts(void **state)
{
    (void)state;
    /* an entry name in Latin-1, a lone continuation byte, an overlong '/', a surrogate;
     * valid UTF-8 stays */
    fetchproto_msg m = {.type = FETCHPROTO_RESULT,
                        .stage = HOST_FETCH_STAGE_EXTRACT,
                        .code = EPERM,
                        .text = "entry 'caf\xe9' \x80 \xc0\xaf \xed\xa0\x80 d\xc3\xa9j\xc3\xa0"};
    fetchproto_msg o = round_trip(&m);
    assert_string_equal(o.text, "entry 'caf?' ? ?? ??? d\xc3\xa9j\xc3\xa0");
    fetchproto_msg_clear(&o);

    /* a log text too long for a line is not encoded */
    char *big = xmalloc(FETCHPROTO_LINE_MAX + 1);
    memset(big, 'a', FETCHPROTO_LINE_MAX);
    big[FETCHPROTO_LINE_MAX] = '\0';
    fetchproto_msg l = {.type = FETCHPROTO_LOG, .level = 3, .text = big};
    size_t n;
    assert_null(fetchproto_encode(&l, &n));
    free(big);
}

static void test_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"", "not a JSON object with a type"},
        {"nope", "not a JSON object with a type"},
        {"[1,2]", "not a JSON object with a type"},
        {"{}", "not a JSON object with a type"},
        {"{\"type\":1}", "not a JSON object with a type"},
        {"{\"type\":\"log\",\"type\":\"log\",\"level\":1,\"msg\":\"x\"}",
         "not a JSON object with a type"},
        {"{\"type\":\"fetch\",\"bytes\":-1,\"total\":0,\"percent\":0,\"done\":false}",
         "an invalid fetch progress"},
        {"{\"type\":\"fetch\",\"bytes\":1,\"total\":0,\"percent\":101,\"done\":false}",
         "an invalid fetch progress"},
        {"{\"type\":\"fetch\",\"bytes\":1,\"total\":0,\"percent\":-2,\"done\":false}",
         "an invalid fetch progress"},
        {"{\"type\":\"fetch\",\"bytes\":1,\"total\":0,\"percent\":1,\"done\":0}",
         "an invalid fetch progress"},
        {"{\"type\":\"fetch\",\"bytes\":1.5,\"total\":0,\"percent\":1,\"done\":true}",
         "an invalid fetch progress"},
        {"{\"type\":\"extract\",\"entries\":1,\"bytes\":2}", "an invalid extraction progress"},
        {"{\"type\":\"log\",\"level\":8,\"msg\":\"x\"}", "an invalid log message"},
        {"{\"type\":\"log\",\"level\":-1,\"msg\":\"x\"}", "an invalid log message"},
        {"{\"type\":\"log\",\"level\":1}", "an invalid log message"},
        {"{\"type\":\"result\"}", "a result without ok"},
        {"{\"type\":\"result\",\"ok\":true}", "a result without its totals"},
        {"{\"type\":\"result\",\"ok\":false,\"stage\":\"fetch\",\"code\":0,\"msg\":\"x\"}",
         "a failure without stage, code or message"},
        {"{\"type\":\"result\",\"ok\":false,\"stage\":\"fetch\",\"code\":4096,\"msg\":\"x\"}",
         "a failure without stage, code or message"},
        {"{\"type\":\"result\",\"ok\":false,\"stage\":\"fetch\",\"code\":5}",
         "a failure without stage, code or message"},
        {"{\"type\":\"result\",\"ok\":false,\"stage\":\"disk\",\"code\":5,\"msg\":\"x\"}",
         "a failure of an unknown stage"},
        {"{\"type\":\"layer\",\"index\":3,\"n\":3,\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"bytes\":1,"
         "\"total\":2,\"done\":false}",
         "an invalid layer progress"},
        {"{\"type\":\"layer\",\"index\":0,\"n\":0,\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"bytes\":1,"
         "\"total\":2,\"done\":false}",
         "an invalid layer progress"},
        {"{\"type\":\"layer\",\"index\":0,\"n\":1,\"digest\":\"sha256:AB\",\"bytes\":1,"
         "\"total\":2,\"done\":false}",
         "an invalid layer progress"},
        {"{\"type\":\"layer\",\"index\":0,\"n\":1,\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"bytes\":-1,"
         "\"total\":2,\"done\":false}",
         "an invalid layer progress"},
        {"{\"type\":\"layer\",\"index\":0,\"n\":1,\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"bytes\":1,"
         "\"total\":2}",
         "an invalid layer progress"},
        {"{\"type\":\"layer\",\"index\":0,\"n\":1,\"digest\":\"sha256:"
         "0000000000000000000000000000000000000000000000000000000000000000\",\"bytes\":1,"
         "\"total\":2,\"done\":true,\"present\":1}",
         "an invalid layer progress"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fetchproto_msg m;
        kl_error err = KL_ERROR_INIT;
        if (fetchproto_parse(cases[i].line, strlen(cases[i].line), &m, &err) != -1)
            fail_msg("accepted: %s", cases[i].line);
        assert_int_equal(err.code, EPROTO);
        if (strcmp(err.msg, cases[i].want))
            fail_msg("%s: %s", cases[i].line, err.msg);
        fetchproto_msg_clear(&m);
    }
    /* too long, whatever it holds */
    size_t n = FETCHPROTO_LINE_MAX;
    char *big = xmalloc(n);
    memset(big, ' ', n);
    fetchproto_msg m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fetchproto_parse(big, n, &m, &err), -1);
    assert_string_equal(err.msg, "a message too long");
    free(big);

    /* an unknown type is not an error: a newer helper may send it */
    const char *newer = "{\"type\":\"checksum\",\"sha256\":\"00\"}";
    assert_int_equal(fetchproto_parse(newer, strlen(newer), &m, &err), 0);
    assert_int_equal(m.type, FETCHPROTO_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
