/* Test helpers for the FreeBSD layer's golden tests (fbtest.h). */
#include "fbtest.h"

#include <stdio.h>
#include <string.h>

#include "lib/xalloc.h"

bool fbt_localtime_exists = true;

static bool fake_exists(const char *path)
{
    if (!strcmp(path, "/etc/localtime"))
        return fbt_localtime_exists;
    return false;
}

fb_host fbt_host(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.golden", KL_FB_GOLDEN_DIR, name);
    return fbt_host_path(path);
}

fb_host fbt_host_path(const char *path)
{
    kl_error err = KL_ERROR_INIT;
    fb_runner *r = fb_replay_new(path, &err);
    if (!r)
        fail_msg("%s", err.msg);
    fbt_localtime_exists = true;
    fb_host h = {.run = r,
                 .root = "zroot/kleene",
                 .pf_anchor = "kleene",
                 .pty_helper = "/usr/local/libexec/kleene/kleene-pty",
                 .gateway_if = "em0",
                 .host_file_exists = fake_exists};
    return h;
}

void fbt_done(fb_host *h)
{
    kl_error err = KL_ERROR_INIT;
    int rc = fb_replay_finish(h->run, &err);
    if (rc < 0)
        fprintf(stderr, "golden difference: %s\n--- transcript:\n%s", err.msg,
                fb_replay_transcript(h->run));
    fb_runner_free(h->run);
    h->run = NULL;
    assert_int_equal(rc, 0);
}

void fbt_ok(int rc, const kl_error *err)
{
    if (rc < 0)
        fprintf(stderr, "unexpected error: %s\n", err->msg);
    assert_true(rc >= 0);
}

void fbt_fails(int rc, const kl_error *err, const char *msg)
{
    assert_int_equal(rc, -1);
    assert_string_equal(err->msg, msg);
}

void fbt_info_cb(const char *msg, void *ctx)
{
    fbt_info *i = ctx;
    strncat(i->text, msg, sizeof(i->text) - strlen(i->text) - 1);
}
