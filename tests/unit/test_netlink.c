/* Netlink: bridge, veth pairs created directly inside container namespaces, addresses,
 * default routes, hairpin, sysctls; TCP between two "containers" over the bridge.
 * Runs as root inside a fresh network namespace of its own ("the host"); the container
 * namespaces are held by fds only. Checks at the end that the real host is untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "nettest.h"

static int orig_ns = -1;

/* Run call (whose error argument is E) and fail the test with its message if it fails. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        kl_error _e = KL_ERROR_INIT;                                                               \
        kl_error *E = &_e;                                                                         \
        if ((call) < 0)                                                                            \
            fail_msg("%s: %s", #call, _e.msg);                                                     \
    } while (0)

static void test_names(void **state)
{
    assert_true(host_ifname_is_valid("kleene0"));
    assert_true(host_ifname_is_valid("eth0.100"));
    assert_true(host_ifname_is_valid("abcdefghijklmno")); /* 15 bytes */
    assert_false(host_ifname_is_valid("abcdefghijklmnop"));
    assert_false(host_ifname_is_valid(""));
    assert_false(host_ifname_is_valid("a/b"));
    assert_false(host_ifname_is_valid("a:b"));
    assert_false(host_ifname_is_valid("a b"));
    assert_false(host_ifname_is_valid("a\"b"));
    assert_false(host_ifname_is_valid(".."));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_bridge_create("bad name", &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(host_sysctl_write("net/../../etc/x", "1", &err), -1);
    assert_int_equal(host_sysctl_write("/etc/passwd", "1", &err), -1);
}

static bool has(char **v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

static void test_bridge_veth_tcp(void **state)
{
    _cleanup_close_ int ns1 = nt_new_ns(), ns2 = nt_new_ns();
    assert_true(ns1 >= 0 && ns2 >= 0);
    OK(host_bridge_create("ktbr0", E));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_bridge_create("ktbr0", &err), -1);
    assert_int_equal(err.code, EEXIST);
    OK(host_link_set_up(-1, "ktbr0", true, E));
    OK(host_addr_add(-1, "ktbr0", "10.77.0.1/24", E));
    OK(host_addr_add(-1, "ktbr0", "fd77::1/64", E));
    _cleanup_strv_ char **addrs = NULL;
    OK(host_addr_list(-1, "ktbr0", &addrs, E));
    assert_true(has(addrs, "10.77.0.1/24"));
    assert_true(has(addrs, "fd77::1/64"));
    assert_string_equal(addrs[0], "10.77.0.1/24"); /* IPv4 first */

    double t0 = nt_now_ms();
    OK(host_veth_create("ktv1", "ktbr0", ns1, "eth0", E));
    double t1 = nt_now_ms();
    OK(host_veth_create("ktv2", "ktbr0", ns2, "eth0", E));
    print_message("veth created in the target netns: %.2f ms\n", t1 - t0);
    assert_true(host_link_exists(-1, "ktv1"));
    assert_false(host_link_exists(-1, "eth0")); /* the peer is not here ... */
    assert_true(host_link_exists(ns1, "eth0")); /* ... but there */
    assert_int_equal(host_veth_create("ktv1", "ktbr0", ns1, "eth1", &err), -1);
    OK(host_bridge_port_set_hairpin("ktv1", true, E));

    OK(host_link_set_up(ns1, "lo", true, E));
    OK(host_addr_add(ns1, "eth0", "10.77.0.2/24", E));
    OK(host_addr_add(ns1, "eth0", "fd77::2/64", E));
    OK(host_route_add_default(ns1, "10.77.0.1", NULL, E));
    OK(host_route_add_default(ns1, "fd77::1", "eth0", E));
    OK(host_addr_add(ns2, "eth0", "10.77.0.3/24", E));
    OK(host_addr_add(ns2, "eth0", "fd77::3/64", E));
    OK(host_route_add_default(ns2, "10.77.0.1", "eth0", E));
    _cleanup_strv_ char **a1 = NULL;
    OK(host_addr_list(ns1, "eth0", &a1, E));
    assert_true(has(a1, "10.77.0.2/24"));
    assert_int_equal(host_route_add_default(ns1, "10.77.0.1", NULL, &err), -1);
    assert_int_equal(err.code, EEXIST);
    assert_int_equal(host_addr_add(ns1, "eth0", "10.77.0.2/33", &err), -1);
    assert_int_equal(err.code, EINVAL);

    /* ns2 -> ns1 across the bridge, IPv4 and IPv6; and ns1 -> the host's bridge address. */
    int l1 = nt_listen(ns1, "0.0.0.0", 80), l16 = nt_listen(ns1, "::", 81);
    int lh = nt_listen(-1, "10.77.0.1", 82);
    assert_true(l1 >= 0 && l16 >= 0 && lh >= 0);
    char peer[64];
    assert_int_equal(nt_connect(ns2, "10.77.0.2", 80, 2000, l1, peer, sizeof(peer)), 0);
    assert_string_equal(peer, "10.77.0.3");
    assert_int_equal(nt_connect(ns2, "fd77::2", 81, 2000, l16, peer, sizeof(peer)), 0);
    assert_string_equal(peer, "fd77::3");
    assert_int_equal(nt_connect(ns1, "10.77.0.1", 82, 2000, lh, peer, sizeof(peer)), 0);
    assert_string_equal(peer, "10.77.0.2");
    /* Down means down. */
    OK(host_link_set_up(ns1, "eth0", false, E));
    assert_int_equal(nt_connect(ns2, "10.77.0.2", 80, 300, l1, NULL, 0), -1);
    close(l1);
    close(l16);
    close(lh);

    OK(host_addr_del(-1, "ktbr0", "fd77::1/64", E));
    _cleanup_strv_ char **after = NULL;
    OK(host_addr_list(-1, "ktbr0", &after, E));
    assert_false(has(after, "fd77::1/64"));
    assert_true(has(after, "10.77.0.1/24"));

    t0 = nt_now_ms();
    OK(host_link_delete(-1, "ktv1", E));
    print_message("veth delete: %.2f ms\n", nt_now_ms() - t0);
    assert_false(host_link_exists(ns1, "eth0")); /* deleting one end deletes the pair */
    OK(host_link_delete(-1, "ktv2", E));
    OK(host_link_delete(-1, "ktbr0", E));
    assert_int_equal(host_link_delete(-1, "ktbr0", &err), -1);
    assert_int_equal(err.code, ENODEV);
}

static void test_default_route_and_sysctl(void **state)
{
    kl_error err = KL_ERROR_INIT;
    char name[HOST_IFNAME_MAX + 1];
    assert_int_equal(host_default_route_if(4, name, &err), -1);
    assert_int_equal(err.code, ENOENT);
    _cleanup_close_ int out = nt_new_ns();
    OK(host_veth_create("ktup0", NULL, out, "eth0", E));
    OK(host_addr_add(-1, "ktup0", "198.51.100.1/24", E));
    OK(host_route_add_default(-1, "198.51.100.2", NULL, E));
    OK(host_default_route_if(4, name, E));
    assert_string_equal(name, "ktup0");
    OK(host_net_enable_forwarding(true, E));
    OK(host_bridge_create("ktbr1", E));
    OK(host_bridge_set_route_localnet("ktbr1", E));
    char buf[8] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/conf/ktbr1/route_localnet", "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "1\n");
    f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "1\n");
    OK(host_link_delete(-1, "ktbr1", E));
    OK(host_link_delete(-1, "ktup0", E));
}

/* The namespace we started in has none of our links. */
static void test_host_untouched(void **state)
{
    assert_false(host_link_exists(orig_ns, "ktbr0"));
    assert_false(host_link_exists(orig_ns, "ktv1"));
    assert_false(host_link_exists(orig_ns, "ktup0"));
    assert_false(host_link_exists(orig_ns, "ktbr1"));
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_netlink needs root: skipped\n");
        return 77;
    }
    orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (nt_enter_fresh_host() < 0) {
        perror("unshare(CLONE_NEWNET)");
        return 1;
    }
    kl_error err = KL_ERROR_INIT;
    if (host_link_set_up(-1, "lo", true, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bridge_veth_tcp),
        cmocka_unit_test(test_default_route_and_sysctl),
        cmocka_unit_test(test_host_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
