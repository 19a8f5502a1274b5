/* `kleened init` (src/host/freebsd/init.c, init_main.c): the checks, the plan, the
 * confirmation, the steps, and pf.conf getting our anchor where pf's rule order allows. */
#include "fbtest.h"

#include <string.h>

#include "host/freebsd/init.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_pf_conf_hook(void **state)
{
    /* only options: the lines go at the end */
    _cleanup_free_ char *a = fb_pf_conf_hook("set skip on lo0\n", "kleene");
    assert_string_equal(a, "set skip on lo0\n# kleened: Kleene's rules (pfctl -a kleene -s all)\n"
                           "nat-anchor \"kleene\"\nrdr-anchor \"kleene\"\nanchor \"kleene\"\n");
    /* no translation rule: all three before the first filter rule */
    _cleanup_free_ char *b = fb_pf_conf_hook("scrub in\npass all", "kleene");
    assert_string_equal(b, "scrub in\n# kleened: Kleene's rules (pfctl -a kleene -s all)\n"
                           "nat-anchor \"kleene\"\nrdr-anchor \"kleene\"\nanchor \"kleene\"\n"
                           "pass all\n");
    /* hooked already */
    assert_null(fb_pf_conf_hook("nat-anchor \"kleene\"\nrdr-anchor \"kleene\"\n"
                                "  anchor \"kleene\"\npass all\n",
                                "kleene"));
    /* partly: only what is missing */
    _cleanup_free_ char *c = fb_pf_conf_hook("anchor \"kleene\"\n", "kleene");
    assert_string_equal(c, "# kleened: Kleene's rules (pfctl -a kleene -s all)\n"
                           "nat-anchor \"kleene\"\nrdr-anchor \"kleene\"\nanchor \"kleene\"\n");
}

static void test_init_golden(void **state)
{
    fb_host h = fbt_host("init_fresh");
    kl_error err = KL_ERROR_INIT;
    fb_init_plan plan;
    fbt_ok(fb_init_check(&h, "/etc/pf.conf", &plan, &err), &err);
    assert_int_equal(plan.n, 15);
    assert_string_equal(plan.steps[0].what, "load kernel module pf");
    assert_true(plan.steps[14].note_only);
    fbt_ok(fb_init_apply(&h, &plan, &err), &err);
    fb_init_plan_free(&plan);
    fbt_done(&h);

    h = fbt_host("init_ready");
    fbt_ok(fb_init_check(&h, "/etc/pf.conf", &plan, &err), &err);
    assert_int_equal(plan.n, 0);
    fb_init_plan_free(&plan);
    fbt_done(&h);
}

/* The program: declined at the prompt, dry run, and --yes. */
static void test_init_program(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    const char *declined = KL_FB_GOLDEN_DIR "/init_declined.golden";
    const char *fresh = KL_FB_GOLDEN_DIR "/init_fresh.golden";
    const char *ready = KL_FB_GOLDEN_DIR "/init_ready.golden";
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_INIT, "--replay", declined), "n\n", &res, &err), 0);
    assert_int_equal(res.status, 3);
    assert_non_null(strstr(res.out, "  1. load kernel module pf\n"));
    assert_non_null(strstr(res.out, "Apply these changes? [y/N] Nothing changed.\n"));
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_INIT, "-n", "--replay", declined), NULL, &res, &err),
                     0);
    assert_int_equal(res.status, 0);
    assert_null(strstr(res.out, "Apply"));
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_INIT, "--replay", fresh), "y\n", &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.out, "Done.\n"));
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_INIT, "--replay", ready), NULL, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(res.out, "Nothing to do"));
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_INIT, "--root", "-x"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 1);
    fb_runner_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pf_conf_hook),
        cmocka_unit_test(test_init_golden),
        cmocka_unit_test(test_init_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
