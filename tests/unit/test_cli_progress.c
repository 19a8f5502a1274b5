#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/progress.h"

static void test_percent(void **state)
{
    (void)state;
    const char *l = "Fetched 1.2 MB (45%)";
    assert_int_equal(progress_line_percent(l, strlen(l)), 45);
    l = "Fetched 10 MB (100%)  ";
    assert_int_equal(progress_line_percent(l, strlen(l)), 100);
    l = "copied (12.5%)";
    assert_int_equal(progress_line_percent(l, strlen(l)), 12);
    l = "no percentage here";
    assert_int_equal(progress_line_percent(l, strlen(l)), -1);
    l = "(%)";
    assert_int_equal(progress_line_percent(l, strlen(l)), -1);
    l = "50%)";
    assert_int_equal(progress_line_percent(l, strlen(l)), -1);
}

static void test_kind(void **state)
{
    (void)state;
    char kind[32];
    const char *l = "Fetched 1.2 MB (45%)";
    assert_true(progress_line_kind(l, strlen(l), kind, sizeof(kind)));
    assert_string_equal(kind, "Fetched");
    l = "Extracted 300 files...";
    assert_true(progress_line_kind(l, strlen(l), kind, sizeof(kind)));
    assert_string_equal(kind, "Extracted");
    l = "Unpacking contents and creating image...";
    assert_false(progress_line_kind(l, strlen(l), kind, sizeof(kind)));
    l = "Extracted";
    assert_false(progress_line_kind(l, strlen(l), kind, sizeof(kind)));
    l = "Copying tree (3%)";
    assert_true(progress_line_kind(l, strlen(l), kind, sizeof(kind)));
    assert_string_equal(kind, "Copying");
}

static void test_render_line(void **state)
{
    (void)state;
    char *s = progress_render_line("Extracted 5 files...", 20, 0);
    assert_string_equal(s, "\r\033[KExtracted 5 files...");
    free(s);
    s = progress_render_line("Fetched 1 MB (50%)", 18, 0);
    assert_string_equal(s, "\r\033[KFetched 1 MB (50%)  [===============>              ]");
    free(s);
    /* cut to the terminal width, never splitting a UTF-8 sequence */
    s = progress_render_line("Extracted \xc3\xa9\xc3\xa9 files", 19, 13);
    assert_string_equal(s, "\r\033[KExtracted \xc3\xa9");
    free(s);
}

static char *run_feed(bool tty, const char *const *chunks)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    progress p;
    progress_init(&p, f, tty, 0);
    for (size_t i = 0; chunks[i]; i++)
        progress_feed(&p, chunks[i], strlen(chunks[i]));
    progress_finish(&p);
    fclose(f);
    return out;
}

static void test_feed_pipe_is_verbatim(void **state)
{
    (void)state;
    const char *chunks[] = {"Fetched 1 MB (10%)\nFetc", "hed 2 MB (20%)\n", "tail", NULL};
    char *out = run_feed(false, chunks);
    assert_string_equal(out, "Fetched 1 MB (10%)\nFetched 2 MB (20%)\ntail");
    free(out);
}

static void test_feed_tty_in_place(void **state)
{
    (void)state;
    const char *chunks[] = {"Starting\nExtracted 100 files...\nExtr",
                            "acted 200 files...\nFetched 1 MB (0%)\nDone\nlast", NULL};
    char *out = run_feed(true, chunks);
    const char *bar0 = "  [>                             ]";
    char want[512];
    snprintf(want, sizeof(want),
             "Starting\n\r\033[KExtracted 100 files...\r\033[KExtracted 200 files...\n"
             "\r\033[KFetched 1 MB (0%%)%s\nDone\nlast\n",
             bar0);
    assert_string_equal(out, want);
    free(out);
}

static void test_feed_tty_ends_inplace_line(void **state)
{
    (void)state;
    const char *chunks[] = {"Extracted 1 files...\n", NULL};
    char *out = run_feed(true, chunks);
    assert_string_equal(out, "\r\033[KExtracted 1 files...\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent),           cmocka_unit_test(test_kind),
        cmocka_unit_test(test_render_line),       cmocka_unit_test(test_feed_pipe_is_verbatim),
        cmocka_unit_test(test_feed_tty_in_place), cmocka_unit_test(test_feed_tty_ends_inplace_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
