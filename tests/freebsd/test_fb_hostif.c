/* The portable host interfaces (src/host/net.h, helpers.h) on the FreeBSD layer
 * (src/host/freebsd/hostif.c): the commands they run, and ENOTSUP where FreeBSD has no
 * counterpart. */
#include "fbtest.h"

#include <stdlib.h>
#include <string.h>

#include "host/helpers.h"
#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_net_interface(void **state)
{
    fb_host h = fbt_host("hostif");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    fbt_ok(host_bridge_create("kleene5", &err), &err);
    assert_true(host_link_exists(-1, "kleene1"));
    fbt_ok(host_link_set_up(-1, "kleene5", true, &err), &err);
    fbt_ok(host_addr_add(-1, "kleene5", "10.13.40.1/24", &err), &err);
    _cleanup_strv_ char **addrs = NULL;
    fbt_ok(host_addr_list(-1, "kleene0", &addrs, &err), &err);
    assert_int_equal(strv_len(addrs), 2);
    assert_string_equal(addrs[0], "10.13.37.2/32");
    assert_string_equal(addrs[1], "fd00:37::2/128");
    fbt_ok(host_addr_del(-1, "kleene0", "10.13.37.2/32", &err), &err);
    char ifn[HOST_IFNAME_MAX + 1];
    fbt_ok(host_default_route_if(4, ifn, &err), &err);
    assert_string_equal(ifn, "em0");
    kl_error e6 = KL_ERROR_INIT;
    assert_int_equal(host_default_route_if(6, ifn, &e6), -1);
    assert_int_equal(e6.code, ENOENT);
    fbt_ok(host_net_enable_forwarding(false, &err), &err);

    const char *gw[] = {"em0", NULL};
    host_fw_network n = {
        .bridge = "kleene5", .subnet = "10.13.40.0/24", .nat_if = "em0", .icc = true};
    host_fw_port p = {.host_first = 8080,
                      .host_last = 8080,
                      .ctr_first = 80,
                      .ctr_last = 80,
                      .interfaces = gw,
                      .n_interfaces = 1,
                      .bridge = "kleene5",
                      .ip = "10.13.40.2"};
    host_fw_config cfg = {.networks = &n, .n_networks = 1, .ports = &p, .n_ports = 1};
    host_fw *fw = host_fw_new();
    assert_int_equal(host_fw_sync(fw, &cfg, &err), 2);
    assert_int_equal(host_fw_sync(fw, &cfg, &err), 0); /* unchanged: nothing runs */
    bool whole = false;
    _cleanup_free_ char *pending = host_fw_render_sync(fw, &cfg, &whole, &err);
    assert_string_equal(pending, "");
    host_fw_free(fw);
    fbt_ok(host_fw_check(&cfg, &err), &err);
    fbt_ok(host_fw_remove(&err), &err);
    /* publishing on one host address is not there yet */
    host_fw_port p2 = p;
    p2.host_addr = "192.168.1.5";
    host_fw_config c2 = {.networks = &n, .n_networks = 1, .ports = &p2, .n_ports = 1};
    kl_error e2 = KL_ERROR_INIT;
    assert_null(host_fw_render(&c2, &e2));
    assert_int_equal(e2.code, ENOTSUP);
    fbt_done(&h);
    fb_host_set_default(NULL);
}

static void test_not_on_freebsd(void **state)
{
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_netns_new(&err), -1);
    assert_int_equal(err.code, ENOTSUP);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(host_veth_create("v0", "kleene0", 3, "eth0", &e2), -1);
    assert_int_equal(e2.code, ENOTSUP);
    /* without a host set up: a clear error, no crash */
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(host_link_set_up(-1, "kleene0", true, &e3), -1);
    assert_int_equal(e3.code, ENODEV);
    assert_false(host_link_exists(-1, "kleene0"));
}

static void test_helper_path(void **state)
{
    _cleanup_free_ char *dir = strdup(KL_FB_PTY);
    *strrchr(dir, '/') = '\0';
    setenv("KLEENE_LIBEXEC_DIR", dir, 1);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *p = host_helper_path("kleene-pty", &err);
    assert_non_null(p);
    assert_string_equal(p, KL_FB_PTY);
    kl_error e2 = KL_ERROR_INIT;
    assert_null(host_helper_path("no-such-helper", &e2));
    assert_int_equal(e2.code, ENOENT);
    assert_null(host_helper_path("../x", &e2));
    unsetenv("KLEENE_LIBEXEC_DIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_interface),
        cmocka_unit_test(test_not_on_freebsd),
        cmocka_unit_test(test_helper_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
