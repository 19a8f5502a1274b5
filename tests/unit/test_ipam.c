/* IPAM: config field checks with the original's messages, `<auto>` gateways, allocation
 * (network/broadcast never handed out, gateway and used skipped, freed reused lowest first),
 * static address checks, the endpoint request semantics of API.md §9.3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "engine/ipam.h"

static void check_field(const char *field, const char *value, const char *want_msg)
{
    kl_error err = KL_ERROR_INIT;
    int r = ipam_config_field_check(field, value, &err);
    if (!want_msg) {
        if (r != 0)
            fail_msg("%s=%s: %s", field, value, err.msg);
        return;
    }
    assert_int_equal(r, -1);
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, want_msg);
}

static void test_config_fields(void **state)
{
    check_field("subnet", "", NULL);
    check_field("subnet", "10.13.37.0/24", NULL);
    check_field("subnet", "10.13.37.5", NULL);
    check_field("subnet6", "fdef:1234:5678::/48", NULL);
    check_field("subnet6", "::1", NULL);
    check_field("gateway", "<auto>", NULL);
    check_field("gateway6", "<auto>", NULL);
    check_field("gateway", "172.19.1.99", NULL);
    check_field("gateway6", "fdef:1234:5678:9999::", NULL);
    check_field("subnet", "172.18.0.0-16",
                "invalid subnet: could not parse cidr block: \"172.18.0.0-16\"");
    check_field("subnet", "<auto>", "invalid subnet: could not parse cidr block: \"<auto>\"");
    check_field("subnet", "10.0.0.0/33",
                "invalid subnet: could not parse cidr block: \"10.0.0.0/33\"");
    check_field("subnet", "10.0.0.0/", "invalid subnet: could not parse cidr block: \"10.0.0.0/\"");
    check_field("subnet", "10.0.0.0/+8",
                "invalid subnet: could not parse cidr block: \"10.0.0.0/+8\"");
    check_field("subnet6", "fd00::/129",
                "invalid subnet6: could not parse cidr block: \"fd00::/129\"");
    check_field("gateway", "x", "invalid gateway: could not parse cidr block: \"x\"");
    check_field("subnet6", "10.0.0.0/24", "invalid subnet6: wrong IP protocol");
    check_field("gateway6", "10.0.0.1", "invalid gateway6: wrong IP protocol");
    check_field("subnet", "fd00::/64", "invalid subnet: wrong IP protocol");
    check_field("gateway", "fd00::1", "invalid gateway: wrong IP protocol");
}

static ipam_prefix P(const char *s)
{
    ipam_prefix p;
    kl_error err = KL_ERROR_INIT;
    if (ipam_prefix_parse(s, &p, &err) < 0)
        fail_msg("%s", err.msg);
    return p;
}

static ipam_addr A(const char *s)
{
    ipam_addr a;
    kl_error err = KL_ERROR_INIT;
    if (ipam_addr_parse(s, &a, &err) < 0)
        fail_msg("%s", err.msg);
    return a;
}

static void test_format_and_contains(void **state)
{
    char s[IPAM_STRLEN];
    ipam_prefix p = P("10.13.37.77/24");
    ipam_prefix_format_network(&p, s);
    assert_string_equal(s, "10.13.37.0/24");
    p = P("fdef:1234:5678:abcd::9/48");
    ipam_prefix_format_network(&p, s);
    assert_string_equal(s, "fdef:1234:5678::/48");
    ipam_addr a = A("fdef:1234:5678:ffff::1");
    assert_true(ipam_prefix_contains(&p, &a));
    a = A("fdef:1234:5679::1");
    assert_false(ipam_prefix_contains(&p, &a));
    a = A("10.13.37.1");
    assert_false(ipam_prefix_contains(&p, &a)); /* other family */
    p = P("0.0.0.0/0");
    assert_true(ipam_prefix_contains(&p, &a));
    p = P("10.1.2.3");
    assert_int_equal(p.len, 32);
    /* overlaps: either contains the other's network, same family only */
    ipam_prefix q = P("10.1.0.0/16");
    assert_true(ipam_prefix_overlaps(&p, &q));
    assert_true(ipam_prefix_overlaps(&q, &p));
    q = P("10.1.2.0/24");
    ipam_prefix r = P("10.1.3.0/24");
    assert_false(ipam_prefix_overlaps(&q, &r));
    r = P("10.1.2.128/25");
    assert_true(ipam_prefix_overlaps(&q, &r));
    r = P("fd00::/8");
    assert_false(ipam_prefix_overlaps(&q, &r));
    q = P("fd12::/16");
    assert_true(ipam_prefix_overlaps(&q, &r));
    ipam_prefix_last(&(ipam_prefix){A("10.0.0.0"), 22}, &a);
    ipam_addr_format(&a, s);
    assert_string_equal(s, "10.0.3.255");
}

static void test_gateway_auto(void **state)
{
    char s[IPAM_STRLEN];
    ipam_addr g;
    kl_error err = KL_ERROR_INIT;
    ipam_prefix p = P("172.19.1.0/24");
    assert_int_equal(ipam_gateway_auto(&p, &g, &err), 0);
    ipam_addr_format(&g, s);
    assert_string_equal(s, "172.19.1.1");
    p = P("fdef:1234:5678::/48");
    assert_int_equal(ipam_gateway_auto(&p, &g, &err), 0);
    ipam_addr_format(&g, s);
    assert_string_equal(s, "fdef:1234:5678::1");
    p = P("10.0.0.4/31");
    assert_int_equal(ipam_gateway_auto(&p, &g, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

static char *alloc(const char *subnet, const char **used, size_t n, const char *gw, kl_error *err)
{
    static char s[IPAM_STRLEN];
    ipam_prefix p = P(subnet);
    ipam_addr u[16], g, out;
    for (size_t i = 0; i < n; i++)
        u[i] = A(used[i]);
    if (gw)
        g = A(gw);
    if (ipam_allocate(&p, u, n, gw ? &g : NULL, &out, err) < 0)
        return NULL;
    ipam_addr_format(&out, s);
    return s;
}

static void test_allocate(void **state)
{
    kl_error err = KL_ERROR_INIT;
    /* A /30 has two host addresses: .1 and .2; never .0 or the broadcast .3 (our fix). */
    assert_string_equal(alloc("10.0.0.0/30", NULL, 0, NULL, &err), "10.0.0.1");
    const char *u1[] = {"10.0.0.1"};
    assert_string_equal(alloc("10.0.0.0/30", u1, 1, NULL, &err), "10.0.0.2");
    const char *u2[] = {"10.0.0.2", "10.0.0.1"};
    assert_null(alloc("10.0.0.0/30", u2, 2, NULL, &err));
    assert_int_equal(err.code, ENOSPC);
    assert_string_equal(err.msg, "no more inet IP's left in the network");
    /* The gateway is skipped; unsorted used; a freed address (.3) is reused first. */
    const char *u3[] = {"172.19.1.5", "172.19.1.2", "172.19.1.4", "192.168.1.3", "fd00::3"};
    assert_string_equal(alloc("172.19.1.0/24", u3, 5, "172.19.1.1", &err), "172.19.1.3");
    /* Addresses outside the subnet and duplicates do not confuse the scan. */
    const char *u4[] = {"172.19.1.1", "172.19.1.1", "172.19.1.2"};
    assert_string_equal(alloc("172.19.1.0/24", u4, 3, "172.19.0.1", &err), "172.19.1.3");
    /* Host bits in the subnet are ignored. */
    assert_string_equal(alloc("172.19.1.77/24", NULL, 0, NULL, &err), "172.19.1.1");
    /* IPv6: network + 1 first; the last address is allocatable (no broadcast). */
    assert_string_equal(alloc("fdef:1234:5678::/48", NULL, 0, "fdef:1234:5678::1", &err),
                        "fdef:1234:5678::2");
    const char *u5[] = {"fd00::1"};
    assert_string_equal(alloc("fd00::/126", u5, 1, "fd00::2", &err), "fd00::3");
    const char *u6[] = {"fd00::1", "fd00::3"};
    kl_error_clear(&err);
    assert_null(alloc("fd00::/126", u6, 2, "fd00::2", &err));
    assert_string_equal(err.msg, "no more inet6 IP's left in the network");
    /* No host addresses at all. */
    kl_error_clear(&err);
    assert_null(alloc("10.0.0.0/32", NULL, 0, NULL, &err));
    assert_int_equal(err.code, ENOSPC);
    kl_error_clear(&err);
    assert_null(alloc("fd00::1/128", NULL, 0, NULL, &err));
    /* A large subnet with many used addresses: the scan stops at the first gap. */
    ipam_prefix big = P("10.0.0.0/8");
    static ipam_addr used[1000];
    for (int i = 0; i < 1000; i++) {
        used[i].family = 4;
        memset(used[i].bytes, 0, sizeof(used[i].bytes));
        used[i].bytes[0] = 10;
        used[i].bytes[2] = (uint8_t)((999 - i + 1) >> 8);
        used[i].bytes[3] = (uint8_t)((999 - i + 1) & 0xff);
    }
    ipam_addr out;
    assert_int_equal(ipam_allocate(&big, used, 1000, NULL, &out, &err), 0);
    char s[IPAM_STRLEN];
    ipam_addr_format(&out, s);
    assert_string_equal(s, "10.0.3.233"); /* 1001 = 3*256 + 233 */
}

static void check_static(const char *subnet, const char *text, int code, const char *msg)
{
    ipam_prefix p = P(subnet);
    ipam_addr used[] = {A("10.0.0.5"), A("fd00::5")};
    ipam_addr gw = A(strchr(subnet, ':') ? "fd00::1" : "10.0.0.1");
    ipam_addr out;
    kl_error err = KL_ERROR_INIT;
    int r = ipam_check_static(&p, text, used, 2, &gw, &out, &err);
    if (code == 0) {
        if (r != 0)
            fail_msg("%s: %s", text, err.msg);
        return;
    }
    assert_int_equal(r, -1);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
}

static void test_static(void **state)
{
    check_static("10.0.0.0/24", "10.0.0.6", 0, NULL);
    check_static("10.0.0.0/24", "10.0.0.254", 0, NULL);
    check_static("10.0.0.0/24", "10.0.0.256", EINVAL,
                 "could not parse inet address 10.0.0.256: einval");
    check_static("10.0.0.0/24", "10.0.1.6", EINVAL,
                 "ip address 10.0.1.6 is outside the network's subnet 10.0.0.0/24");
    check_static("10.0.0.0/24", "10.0.0.255", EINVAL,
                 "ip address 10.0.0.255 is the network or broadcast address of subnet 10.0.0.0/24");
    check_static("10.0.0.0/24", "10.0.0.0", EINVAL,
                 "ip address 10.0.0.0 is the network or broadcast address of subnet 10.0.0.0/24");
    check_static("10.0.0.0/24", "10.0.0.5", EEXIST,
                 "ip address 10.0.0.5 is already in use in the network");
    check_static("10.0.0.0/24", "10.0.0.1", EEXIST,
                 "ip address 10.0.0.1 is the gateway of the network");
    check_static("10.0.0.0/24", "fd00::6", EINVAL, "ip address fd00::6 is not an IPv4 address");
    check_static("fd00::/64", "fd00::6", 0, NULL);
    check_static("fd00::/64", "fd00:0::5", EEXIST,
                 "ip address fd00::5 is already in use in the network");
    check_static("fd00::/64", "fd00::", EINVAL,
                 "ip address fd00:: is the network or broadcast address of subnet fd00::/64");
}

static void test_request(void **state)
{
    char out[IPAM_STRLEN];
    kl_error err = KL_ERROR_INIT;
    ipam_prefix p = P("172.19.1.0/24");
    ipam_addr gw = A("172.19.1.1");
    assert_int_equal(ipam_request(4, "", &p, NULL, 0, &gw, out, &err), 0);
    assert_string_equal(out, "");
    assert_int_equal(ipam_request(4, "<auto>", &p, NULL, 0, &gw, out, &err), 0);
    assert_string_equal(out, "172.19.1.2");
    assert_int_equal(ipam_request(4, "172.19.1.9", &p, NULL, 0, &gw, out, &err), 0);
    assert_string_equal(out, "172.19.1.9");
    assert_int_equal(ipam_request(6, "<auto>", NULL, NULL, 0, NULL, out, &err), 0);
    assert_string_equal(out, "");
    assert_int_equal(ipam_request(4, "10.0.0.1", NULL, NULL, 0, NULL, out, &err), -1);
    assert_string_equal(err.msg, "cannot set ip address because there is no IPv4 subnet defined "
                                 "for this network");
    assert_int_equal(ipam_request(6, "fd00::1", NULL, NULL, 0, NULL, out, &err), -1);
    assert_string_equal(err.msg, "cannot set ip address because there is no IPv6 subnet defined "
                                 "for this network");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_fields), cmocka_unit_test(test_format_and_contains),
        cmocka_unit_test(test_gateway_auto),  cmocka_unit_test(test_allocate),
        cmocka_unit_test(test_static),        cmocka_unit_test(test_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
