/* Detach keys (src/lib/detachkeys.c): the key spec and the scan of typed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "lib/detachkeys.h"

static void test_parse(void **state)
{
    (void)state;
    kl_detach_keys k;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_detach_keys_parse(&k, NULL, &err), 0);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.seq[0], 16);
    assert_int_equal(k.seq[1], 17);
    assert_int_equal(kl_detach_keys_parse(&k, "ctrl-A,x,ctrl-@,ctrl-[,ctrl-_,ctrl-\\,,", &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "an empty key"));
    assert_int_equal(kl_detach_keys_parse(&k, "ctrl-A,x,ctrl-@,ctrl-[,ctrl-_,ctrl-\\", &err), 0);
    const unsigned char want[] = {1, 'x', 0, 27, 31, 28};
    assert_int_equal(k.n, sizeof(want));
    assert_memory_equal(k.seq, want, sizeof(want));
    const char *bad[] = {"ctrl-1",  "ctrl-",   "ab",
                         "ctrl-p,", "ctrl-pp", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_error e2 = KL_ERROR_INIT;
        if (kl_detach_keys_parse(&k, bad[i], &e2) == 0)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(e2.msg, "invalid detach keys"));
    }
}

/* Feed `in` in chunks of `chunk` bytes; returns what passed, sets *detached. */
static size_t feed(kl_detach_keys *k, const char *in, size_t chunk, char *passed, bool *detached)
{
    size_t n = strlen(in), np = 0;
    *detached = false;
    for (size_t off = 0; off < n && !*detached; off += chunk) {
        size_t len = n - off < chunk ? n - off : chunk;
        unsigned char out[64];
        size_t ol;
        *detached = kl_detach_keys_scan(k, (const unsigned char *)in + off, len, out, &ol);
        memcpy(passed + np, out, ol);
        np += ol;
    }
    passed[np] = '\0';
    return np;
}

static void test_scan(void **state)
{
    (void)state;
    kl_detach_keys k;
    kl_error err = KL_ERROR_INIT;
    char passed[128];
    bool det;
    for (size_t chunk = 1; chunk <= 8; chunk++) {
        assert_int_equal(kl_detach_keys_parse(&k, NULL, &err), 0);
        /* ctrl-p alone, then ctrl-p ctrl-p ctrl-q: the first ctrl-p passes, the sequence
         * detaches, what follows it is dropped */
        feed(&k, "ls\x10x\x10\x10\x11gone", chunk, passed, &det);
        assert_true(det);
        assert_string_equal(passed, "ls\x10x\x10");
        /* no sequence: everything passes, a trailing ctrl-p is held */
        assert_int_equal(kl_detach_keys_parse(&k, NULL, &err), 0);
        feed(&k, "echo hi\r\x10", chunk, passed, &det);
        assert_false(det);
        assert_string_equal(passed, "echo hi\r");
        assert_int_equal(k.matched, 1);
        /* an overlapping sequence a,a,b: "aaab" detaches after one 'a' passes */
        assert_int_equal(kl_detach_keys_parse(&k, "a,a,b", &err), 0);
        feed(&k, "xaaab", chunk, passed, &det);
        assert_true(det);
        assert_string_equal(passed, "xa");
        assert_int_equal(kl_detach_keys_parse(&k, "a,b,a,c", &err), 0);
        feed(&k, "ababac", chunk, passed, &det);
        assert_true(det);
        assert_string_equal(passed, "ab");
        assert_int_equal(kl_detach_keys_parse(&k, "a,b,a,c", &err), 0);
        feed(&k, "abaXabab", chunk, passed, &det);
        assert_false(det);
        assert_string_equal(passed, "abaXab");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
