/* The firewall: the rendered nft batch (pure, against expected text), nft -c validation,
 * and, as root inside a fresh network namespace of our own, the behaviour: masquerade to
 * an outside netns with no route back, a published port reached from outside, from the
 * host via its address and via 127.0.0.1, hairpin, icc off, internal, two isolated
 * networks; then removal. The real host's ruleset is never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "host/net.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "nettest.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        kl_error _e = KL_ERROR_INIT;                                                               \
        kl_error *E = &_e;                                                                         \
        if ((call) < 0)                                                                            \
            fail_msg("%s: %s", #call, _e.msg);                                                     \
    } while (0)

static bool is_root;

static const char *const em0[] = {"em0"};

static void test_render(void **state)
{
    host_fw_network nets[] = {
        {"kleene0", "10.13.37.7/24", "fd00:1::/64", "em0", true, false, NULL},
        {"kleene1", "10.13.38.0/24", NULL, "", false, true, NULL},
    };
    host_fw_port ports[] = {
        {false, 8080, 8080, 80, 80, em0, 1, NULL, "kleene0", "10.13.37.2", "fd00:1::2"},
        {true, 5000, 5002, 4000, 4002, NULL, 0, "127.0.0.1", "kleene0", "10.13.37.3", NULL},
    };
    host_fw_config cfg = {nets, 2, ports, 2};
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *text = host_fw_render(&cfg, &err);
    assert_non_null(text);
    const char *want =
        "table inet kleene\n"
        "delete table inet kleene\n"
        "table inet kleene {\n"
        "\tmap pre4_if_addr {\n"
        "\t\ttype ifname . inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre4_addr {\n"
        "\t\ttype inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre4_if {\n"
        "\t\ttype ifname . inet_proto . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre4 {\n"
        "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre6_if_addr {\n"
        "\t\ttype ifname . inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre6_addr {\n"
        "\t\ttype inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre6_if {\n"
        "\t\ttype ifname . inet_proto . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap pre6 {\n"
        "\t\ttype inet_proto . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap out4_addr {\n"
        "\t\ttype inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap out4 {\n"
        "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap out6_addr {\n"
        "\t\ttype inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tmap out6 {\n"
        "\t\ttype inet_proto . inet_service : ipv6_addr . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tset fwd4 {\n"
        "\t\ttype ifname . ipv4_addr . inet_proto . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tset fwd6 {\n"
        "\t\ttype ifname . ipv6_addr . inet_proto . inet_service\n"
        "\t\tflags interval\n"
        "\t}\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip to iifname . meta l4proto . ip daddr . th dport map "
        "@pre4_if_addr\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip to meta l4proto . ip daddr . th dport map "
        "@pre4_addr\n"
        "\t\tmeta nfproto ipv4 meta l4proto { tcp, udp } fib daddr type local dnat ip to iifname . "
        "meta l4proto . th dport map @pre4_if\n"
        "\t\tmeta nfproto ipv4 meta l4proto { tcp, udp } fib daddr type local dnat ip to meta "
        "l4proto . th dport map @pre4\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip6 to iifname . meta l4proto . ip6 daddr . th dport "
        "map @pre6_if_addr\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip6 to meta l4proto . ip6 daddr . th dport map "
        "@pre6_addr\n"
        "\t\tmeta nfproto ipv6 meta l4proto { tcp, udp } fib daddr type local dnat ip6 to iifname "
        ". meta l4proto . th dport map @pre6_if\n"
        "\t\tmeta nfproto ipv6 meta l4proto { tcp, udp } fib daddr type local dnat ip6 to meta "
        "l4proto . th dport map @pre6\n"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip to meta l4proto . ip daddr . th dport map "
        "@out4_addr\n"
        "\t\tmeta nfproto ipv4 meta l4proto { tcp, udp } fib daddr type local dnat ip to meta "
        "l4proto . th dport map @out4\n"
        "\t\tmeta l4proto { tcp, udp } dnat ip6 to meta l4proto . ip6 daddr . th dport map "
        "@out6_addr\n"
        "\t\tmeta nfproto ipv6 meta l4proto { tcp, udp } fib daddr type local dnat ip6 to meta "
        "l4proto . th dport map @out6\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tip saddr 10.13.37.0/24 oifname \"em0\" masquerade\n"
        "\t\tip6 saddr fd00:1::/64 oifname \"em0\" masquerade\n"
        "\t\tip saddr 127.0.0.0/8 oifname \"kleene0\" masquerade\n"
        "\t\tct status dnat ip saddr 10.13.37.0/24 oifname \"kleene0\" masquerade\n"
        "\t\tct status dnat ip6 saddr fd00:1::/64 oifname \"kleene0\" masquerade\n"
        "\t\tip saddr 127.0.0.0/8 oifname \"kleene1\" masquerade\n"
        "\t\tct status dnat ip saddr 10.13.38.0/24 oifname \"kleene1\" masquerade\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tct state established,related accept\n"
        "\t\tiifname \"kleene1\" oifname != \"kleene1\" drop\n"
        "\t\tmeta l4proto { tcp, udp } oifname . ip daddr . meta l4proto . th dport @fwd4 accept\n"
        "\t\tmeta l4proto { tcp, udp } oifname . ip6 daddr . meta l4proto . th dport @fwd6 accept\n"
        "\t\tiifname \"kleene1\" oifname \"kleene1\" drop\n"
        "\t\toifname \"kleene0\" iifname != \"kleene0\" drop\n"
        "\t\toifname \"kleene1\" iifname != \"kleene1\" drop\n"
        "\t}\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tiifname \"kleene1\" ip daddr != 10.13.38.0/24 drop\n"
        "\t\tiifname \"kleene1\" ip6 daddr != { fe80::/10, ff00::/8 } drop\n"
        "\t}\n"
        "}\n"
        "add element inet kleene fwd4 { \"kleene0\" . 10.13.37.2 . tcp . 80, \"kleene0\" . "
        "10.13.37.3 . udp . 4000-4002 }\n"
        "add element inet kleene fwd6 { \"kleene0\" . fd00:1::2 . tcp . 80 }\n"
        "add element inet kleene out4 { tcp . 8080 : 10.13.37.2 . 80 }\n"
        "add element inet kleene out4_addr { udp . 127.0.0.1 . 5000 : 10.13.37.3 . 4000, udp . "
        "127.0.0.1 . 5001 : 10.13.37.3 . 4001, udp . 127.0.0.1 . 5002 : 10.13.37.3 . 4002 }\n"
        "add element inet kleene out6 { tcp . 8080 : fd00:1::2 . 80 }\n"
        "add element inet kleene pre4_addr { udp . 127.0.0.1 . 5000 : 10.13.37.3 . 4000, udp . "
        "127.0.0.1 . 5001 : 10.13.37.3 . 4001, udp . 127.0.0.1 . 5002 : 10.13.37.3 . 4002 }\n"
        "add element inet kleene pre4_if { \"em0\" . tcp . 8080 : 10.13.37.2 . 80, \"kleene0\" . "
        "tcp . 8080 : 10.13.37.2 . 80, \"kleene1\" . tcp . 8080 : 10.13.37.2 . 80 }\n"
        "add element inet kleene pre6_if { \"em0\" . tcp . 8080 : fd00:1::2 . 80, \"kleene0\" . "
        "tcp . 8080 : fd00:1::2 . 80, \"kleene1\" . tcp . 8080 : fd00:1::2 . 80 }\n";
    assert_string_equal(text, want);
    /* Deterministic. */
    _cleanup_free_ char *again = host_fw_render(&cfg, &err);
    assert_string_equal(text, again);
}

static void test_render_edge_cases(void **state)
{
    kl_error err = KL_ERROR_INIT;
    host_fw_config empty = {NULL, 0, NULL, 0};
    _cleanup_free_ char *t = host_fw_render(&empty, &err);
    assert_non_null(t);
    assert_non_null(strstr(t, "delete table inet kleene\n"));
    assert_null(strstr(t, "dnat"));
    /* Same-offset range keeps the ports; a single container port takes a whole range. */
    host_fw_network net = {"kb0", "10.1.0.0/24", NULL, NULL, true, false, NULL};
    host_fw_port p[] = {{false, 7000, 7010, 7000, 7010, NULL, 0, NULL, "kb0", "10.1.0.2", NULL},
                        {false, 7100, 7110, 80, 80, NULL, 0, NULL, "kb0", "10.1.0.2", NULL}};
    host_fw_config c = {&net, 1, p, 2};
    _cleanup_free_ char *t2 = host_fw_render(&c, &err);
    assert_non_null(strstr(t2, "tcp dport 7000-7010 dnat ip to 10.1.0.2\n")); /* a rule */
    assert_non_null(
        strstr(t2, "add element inet kleene pre4 { tcp . 7100-7110 : 10.1.0.2 . 80 }\n"));
    assert_non_null(
        strstr(t2, "add element inet kleene out4 { tcp . 7100-7110 : 10.1.0.2 . 80 }\n"));
    assert_null(strstr(t2, "masquerade\n\t\tip saddr 10.1.0.0/24")); /* no nat_if: no NAT */
    /* Nothing unvalidated reaches the text. */
    const char *bad_names[] = {"kb0\"; flush ruleset", "a b", "", "0123456789abcdef"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad_names); i++) {
        host_fw_network bn = {bad_names[i], "10.1.0.0/24", NULL, NULL, true, false, NULL};
        host_fw_config bc = {&bn, 1, NULL, 0};
        kl_error_clear(&err);
        assert_null(host_fw_render(&bc, &err));
        assert_int_equal(err.code, EINVAL);
    }
    host_fw_network bs = {"kb0", "10.1.0.0/24 drop", NULL, NULL, true, false, NULL};
    host_fw_config bsc = {&bs, 1, NULL, 0};
    assert_null(host_fw_render(&bsc, &err));
    host_fw_network b6 = {"kb0", "fd00::/64", NULL, NULL, true, false, NULL}; /* v6 in subnet */
    host_fw_config b6c = {&b6, 1, NULL, 0};
    assert_null(host_fw_render(&b6c, &err));
    host_fw_port bp = {false, 80, 80, 80, 80, NULL, 0, NULL, "kb0", "10.1.0.2 accept", NULL};
    host_fw_config bpc = {&net, 1, &bp, 1};
    assert_null(host_fw_render(&bpc, &err));
    host_fw_port br = {false, 90, 80, 80, 80, NULL, 0, NULL, "kb0", "10.1.0.2", NULL};
    host_fw_config brc = {&net, 1, &br, 1};
    assert_null(host_fw_render(&brc, &err));
}

/* Published ports are map elements: a shifted range is one element per port, two ports whose
 * keys overlap keep the first, forward ranges of one container merge, and an IPv6 port with
 * a container range stays a rule. */
static void test_render_elements(void **state)
{
    kl_error err = KL_ERROR_INIT;
    host_fw_network net = {"kb0", "10.1.0.0/24", "fd00:5::/64", NULL, true, false, NULL};
    host_fw_port p[] = {
        {false, 9000, 9001, 80, 81, NULL, 0, NULL, "kb0", "10.1.0.2", NULL},       /* shifted */
        {false, 9001, 9001, 22, 22, NULL, 0, NULL, "kb0", "10.1.0.3", NULL},       /* overlaps */
        {false, 9001, 9001, 22, 22, NULL, 0, "10.9.9.9", "kb0", "10.1.0.3", NULL}, /* no */
        {true, 53, 53, 53, 53, NULL, 0, NULL, "kb0", "10.1.0.2", NULL},            /* udp: no */
        {false, 7000, 7010, 7000, 7010, NULL, 0, NULL, "kb0", "", "fd00:5::2"},    /* a rule */
        {false, 7100, 7100, 7100, 7100, NULL, 0, NULL, "kb0", "", "fd00:5::2"},
    };
    host_fw_config c = {&net, 1, p, KL_ARRAY_SIZE(p)};
    _cleanup_free_ char *t = host_fw_render(&c, &err);
    assert_non_null(t);
    assert_non_null(strstr(t, "add element inet kleene pre4 { tcp . 9000 : 10.1.0.2 . 80, "
                              "tcp . 9001 : 10.1.0.2 . 81, udp . 53 : 10.1.0.2 . 53 }\n"));
    assert_non_null(strstr(t, "add element inet kleene pre4_addr { tcp . 10.9.9.9 . 9001 : "
                              "10.1.0.3 . 22 }\n"));
    assert_non_null(strstr(t, "add element inet kleene fwd4 { \"kb0\" . 10.1.0.2 . tcp . 80-81, "
                              "\"kb0\" . 10.1.0.2 . udp . 53, \"kb0\" . 10.1.0.3 . tcp . 22 }\n"));
    assert_non_null(strstr(t, "meta nfproto ipv6 fib daddr type local tcp dport 7000-7010 dnat "
                              "ip6 to fd00:5::2\n"));
    assert_non_null(strstr(t, "add element inet kleene pre6 { tcp . 7100 : fd00:5::2 . 7100 }\n"));
    assert_non_null(strstr(t, "add element inet kleene fwd6 { \"kb0\" . fd00:5::2 . tcp . "
                              "7000-7010, \"kb0\" . fd00:5::2 . tcp . 7100 }\n"));
    /* Without ports nor networks: no maps, no DNAT at all. */
    host_fw_config none = {NULL, 0, NULL, 0};
    _cleanup_free_ char *t0 = host_fw_render(&none, &err);
    assert_null(strstr(t0, "map "));
    assert_null(strstr(t0, "element"));
    /* Not knowing what was applied, a sync replaces the table with what host_fw_render says. */
    bool whole = false;
    _cleanup_free_ char *plan = host_fw_render_sync(NULL, &c, &whole, &err);
    assert_true(whole);
    assert_string_equal(plan, t);
}

/* ---- root: the behaviour, in our own namespaces -------------------------------------- */

static int outside, a1, a2, b1; /* netns fds */

static void setup_ctr(int ns, const char *host_if, const char *bridge, const char *cidr,
                      const char *gw)
{
    OK(host_veth_create(host_if, bridge, ns, "eth0", E));
    OK(host_bridge_port_set_hairpin(host_if, true, E));
    OK(host_link_set_up(ns, "lo", true, E));
    OK(host_addr_add(ns, "eth0", cidr, E));
    OK(host_route_add_default(ns, gw, NULL, E));
}

static host_fw_network nets[2];
static host_fw_port pub;

static void apply(void)
{
    host_fw_config cfg = {nets, 2, &pub, 1};
    OK(host_fw_check(&cfg, E));
    OK(host_fw_apply(&cfg, E));
}

static int setup_world(void **state)
{
    if (!is_root)
        return 0;
    outside = nt_new_ns();
    a1 = nt_new_ns();
    a2 = nt_new_ns();
    b1 = nt_new_ns();
    OK(host_link_set_up(-1, "lo", true, E));
    OK(host_net_enable_forwarding(true, E));
    /* The "uplink": an outside netns that knows nothing of the container subnets. */
    OK(host_veth_create("ktup0", NULL, outside, "eth0", E));
    OK(host_addr_add(-1, "ktup0", "198.51.100.1/24", E));
    OK(host_addr_add(outside, "eth0", "198.51.100.2/24", E));
    OK(host_route_add_default(-1, "198.51.100.2", NULL, E));
    OK(host_addr_add(-1, "ktup0", "2001:db8:1::1/64", E));
    OK(host_addr_add(outside, "eth0", "2001:db8:1::2/64", E));
    const char *br[] = {"ktfa0", "ktfb0"};
    const char *gw[] = {"10.91.0.1/24", "10.92.0.1/24"};
    for (int i = 0; i < 2; i++) {
        OK(host_bridge_create(br[i], E));
        OK(host_link_set_up(-1, br[i], true, E));
        OK(host_addr_add(-1, br[i], gw[i], E));
        OK(host_bridge_set_route_localnet(br[i], E));
    }
    setup_ctr(a1, "ktva1", "ktfa0", "10.91.0.2/24", "10.91.0.1");
    setup_ctr(a2, "ktva2", "ktfa0", "10.91.0.3/24", "10.91.0.1");
    setup_ctr(b1, "ktvb1", "ktfb0", "10.92.0.2/24", "10.92.0.1");
    OK(host_addr_add(-1, "ktfa0", "fd00:91::1/64", E));
    OK(host_addr_add(a1, "eth0", "fd00:91::2/64", E));
    OK(host_route_add_default(a1, "fd00:91::1", NULL, E));
    char name[HOST_IFNAME_MAX + 1];
    OK(host_default_route_if(4, name, E));
    assert_string_equal(name, "ktup0");
    nets[0] = (host_fw_network){"ktfa0", "10.91.0.0/24", NULL, "ktup0", true, false, NULL};
    nets[1] = (host_fw_network){"ktfb0", "10.92.0.0/24", NULL, "ktup0", true, false, NULL};
    pub = (host_fw_port){false, 8080, 8080, 80, 80, NULL, 0, NULL, "ktfa0", "10.91.0.2", NULL};
    return 0;
}

static int teardown_world(void **state)
{
    if (!is_root)
        return 0;
    close(outside);
    close(a1);
    close(a2);
    close(b1);
    return 0;
}

#define T 400 /* ms: a drop shows as a timeout */

static void test_behaviour(void **state)
{
    if (!is_root)
        skip();
    char peer[64];
    int srv_out = nt_listen(outside, "198.51.100.2", 7000);
    int srv_a1 = nt_listen(a1, "0.0.0.0", 80), srv_a1b = nt_listen(a1, "0.0.0.0", 81);
    int srv_a2 = nt_listen(a2, "0.0.0.0", 80);
    assert_true(srv_out >= 0 && srv_a1 >= 0 && srv_a1b >= 0 && srv_a2 >= 0);

    /* Without our table: no way back from outside, so nothing works there. */
    assert_int_equal(nt_connect(a1, "198.51.100.2", 7000, T, srv_out, NULL, 0), -1);
    apply();
    /* Masquerade: outside sees the uplink address. */
    assert_int_equal(nt_connect(a1, "198.51.100.2", 7000, 2000, srv_out, peer, sizeof(peer)), 0);
    assert_string_equal(peer, "198.51.100.1");
    assert_int_equal(nt_connect(b1, "198.51.100.2", 7000, 2000, srv_out, peer, sizeof(peer)), 0);
    /* The published port: from outside via the host's address, from the host itself via its
     * addresses and 127.0.0.1. */
    assert_int_equal(nt_connect(outside, "198.51.100.1", 8080, 2000, srv_a1, peer, sizeof(peer)),
                     0);
    assert_string_equal(peer, "198.51.100.2");
    assert_int_equal(nt_connect(-1, "198.51.100.1", 8080, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(-1, "10.91.0.1", 8080, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(-1, "127.0.0.1", 8080, 2000, srv_a1, NULL, 0), 0);
    /* Hairpin: a container reaches its own published port, and so does its neighbour. */
    assert_int_equal(nt_connect(a1, "10.91.0.1", 8080, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(a2, "198.51.100.1", 8080, 2000, srv_a1, NULL, 0), 0);
    /* Outside reaches no unpublished port (nor the published one directly: no route). */
    assert_int_equal(nt_connect(outside, "198.51.100.1", 8081, T, srv_a1b, NULL, 0), -1);
    /* icc=true: neighbours talk. Isolation: the other network does not, except to the
     * published port on the container's own address (API.md §10.4). */
    assert_int_equal(nt_connect(a2, "10.91.0.2", 81, 2000, srv_a1b, NULL, 0), 0);
    assert_int_equal(nt_connect(b1, "10.91.0.3", 80, T, srv_a2, NULL, 0), -1);
    assert_int_equal(nt_connect(b1, "10.91.0.2", 81, T, srv_a1b, NULL, 0), -1);
    assert_int_equal(nt_connect(b1, "10.91.0.2", 80, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(b1, "198.51.100.1", 8080, 2000, srv_a1, NULL, 0), 0);

    /* icc=false on A: neighbours are cut off, the published port stays reachable. */
    nets[0].icc = false;
    apply();
    assert_int_equal(nt_connect(a2, "10.91.0.2", 81, T, srv_a1b, NULL, 0), -1);
    assert_int_equal(nt_connect(a2, "10.91.0.2", 80, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(a2, "10.91.0.1", 8080, 2000, srv_a1, NULL, 0), 0);

    /* internal on B: no way out, not even to a published port elsewhere, nor to the host
     * outside its subnet. */
    nets[1].internal = true;
    apply();
    int srv_host = nt_listen(-1, "198.51.100.1", 7001);
    assert_int_equal(nt_connect(b1, "198.51.100.2", 7000, T, srv_out, NULL, 0), -1);
    assert_int_equal(nt_connect(b1, "10.91.0.2", 80, T, srv_a1, NULL, 0), -1);
    assert_int_equal(nt_connect(b1, "198.51.100.1", 7001, T, srv_host, NULL, 0), -1);
    assert_int_equal(nt_connect(a1, "198.51.100.1", 7001, 2000, srv_host, NULL, 0), 0);
    assert_int_equal(nt_connect(a1, "198.51.100.2", 7000, 2000, srv_out, NULL, 0), 0);

    close(srv_host);
    close(srv_out);
    close(srv_a1);
    close(srv_a1b);
    close(srv_a2);
    nets[0].icc = true;
    nets[1].internal = false;
}

static char *list_table(void)
{
    FILE *f = popen("nft list table inet kleene", "r");
    assert_non_null(f);
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    char line[512];
    while (fgets(line, sizeof(line), f))
        kl_buf_puts(&b, line);
    assert_int_equal(pclose(f), 0);
    return kl_buf_steal(&b);
}

/* What host_fw_sync leaves is what a whole apply of the same config gives, and it loads
 * again as nft lists it. */
static void assert_table_is(const host_fw_config *cfg)
{
    _cleanup_free_ char *synced = list_table();
    OK(host_fw_run_nft(synced, true, E));
    host_fw *fresh = host_fw_new();
    OK(host_fw_sync(fresh, cfg, E));
    host_fw_free(fresh);
    _cleanup_free_ char *applied = list_table();
    assert_string_equal(synced, applied);
}

static int sync_cfg(host_fw *fw, host_fw_port *ports, size_t n)
{
    host_fw_config cfg = {nets, 2, ports, n};
    kl_error err = KL_ERROR_INIT;
    int r = host_fw_sync(fw, &cfg, &err);
    if (r < 0)
        fail_msg("host_fw_sync: %s", err.msg);
    return r;
}

/* Published ports change through elements only, traffic follows each change, and the table
 * stays what a whole apply would make. */
static void test_sync(void **state)
{
    if (!is_root)
        skip();
    int srv_a1 = nt_listen(a1, "0.0.0.0", 80), srv_a1b = nt_listen(a1, "0.0.0.0", 81);
    int srv_a2 = nt_listen(a2, "0.0.0.0", 80);
    assert_true(srv_a1 >= 0 && srv_a1b >= 0 && srv_a2 >= 0);
    host_fw *fw = host_fw_new();
    assert_int_equal(sync_cfg(fw, NULL, 0), 2); /* unknown: the whole table */
    assert_int_equal(sync_cfg(fw, NULL, 0), 0); /* nothing changed: nothing runs */
    assert_int_equal(nt_connect(outside, "198.51.100.1", 8080, T, srv_a1, NULL, 0), -1);

    /* A port appears: from outside, from the host, hairpin. */
    host_fw_port p[3] = {pub};
    double t0 = nt_now_ms();
    assert_int_equal(sync_cfg(fw, p, 1), 1);
    double t_add = nt_now_ms() - t0;
    assert_int_equal(nt_connect(outside, "198.51.100.1", 8080, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(-1, "127.0.0.1", 8080, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(a1, "10.91.0.1", 8080, 2000, srv_a1, NULL, 0), 0);
    host_fw_config cfg1 = {nets, 2, p, 1};
    bool whole = true;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *none = host_fw_render_sync(fw, &cfg1, &whole, &err);
    assert_string_equal(none, "");
    assert_false(whole);
    assert_table_is(&cfg1);

    /* ... and goes. */
    t0 = nt_now_ms();
    assert_int_equal(sync_cfg(fw, NULL, 0), 1);
    double t_del = nt_now_ms() - t0;
    assert_int_equal(nt_connect(outside, "198.51.100.1", 8080, T, srv_a1, NULL, 0), -1);
    _cleanup_free_ char *empty = list_table();
    assert_null(strstr(empty, "8080"));
    print_message("sync: add one port %.2f ms, delete it %.2f ms\n", t_add, t_del);

    /* A shifted range, one port bound to 127.0.0.1, and two containers on one port: the
     * first wins, the second takes over once the first is gone. */
    p[0] = (host_fw_port){false, 9000, 9001, 80, 81, NULL, 0, NULL, "ktfa0", "10.91.0.2", NULL};
    p[1] =
        (host_fw_port){false, 8082, 8082, 80, 80, NULL, 0, "127.0.0.1", "ktfa0", "10.91.0.2", NULL};
    p[2] = (host_fw_port){false, 9001, 9001, 80, 80, NULL, 0, NULL, "ktfa0", "10.91.0.3", NULL};
    assert_int_equal(sync_cfg(fw, p, 3), 1);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9000, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9001, 2000, srv_a1b, NULL, 0), 0);
    assert_int_equal(nt_connect(-1, "127.0.0.1", 8082, 2000, srv_a1, NULL, 0), 0);
    assert_int_equal(nt_connect(-1, "198.51.100.1", 8082, T, srv_a1, NULL, 0), -1);
    host_fw_config cfg3 = {nets, 2, p, 3};
    assert_table_is(&cfg3);
    assert_int_equal(sync_cfg(fw, &p[2], 1), 1);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9001, 2000, srv_a2, NULL, 0), 0);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9000, T, srv_a1, NULL, 0), -1);

    /* Someone else deleted an element: the change that would delete it replaces the table. */
    OK(host_fw_run_nft("delete element inet kleene pre4 { tcp . 9001 }\n", false, E));
    assert_int_equal(sync_cfg(fw, p, 1), 2);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9001, 2000, srv_a1b, NULL, 0), 0);
    host_fw_config cfg_shift = {nets, 2, p, 1};
    assert_table_is(&cfg_shift);

    /* IPv6: from outside to the host's address, DNAT to the container's. */
    int srv6 = nt_listen(a1, "fd00:91::2", 86);
    assert_true(srv6 >= 0);
    p[1] = (host_fw_port){false, 8086, 8086, 86, 86, NULL, 0, NULL, "ktfa0", "", "fd00:91::2"};
    assert_int_equal(nt_connect(outside, "2001:db8:1::1", 8086, T, srv6, NULL, 0), -1);
    assert_int_equal(sync_cfg(fw, p, 2), 1);
    assert_int_equal(nt_connect(outside, "2001:db8:1::1", 8086, 2000, srv6, NULL, 0), 0);
    host_fw_config cfg6 = {nets, 2, p, 2};
    assert_table_is(&cfg6);
    assert_int_equal(sync_cfg(fw, p, 1), 1);
    assert_int_equal(nt_connect(outside, "2001:db8:1::1", 8086, T, srv6, NULL, 0), -1);
    close(srv6);

    /* A network change replaces the table, published ports included. */
    nets[0].icc = false;
    assert_int_equal(sync_cfg(fw, p, 1), 2);
    assert_int_equal(nt_connect(outside, "198.51.100.1", 9000, 2000, srv_a1, NULL, 0), 0);
    nets[0].icc = true;
    assert_int_equal(sync_cfg(fw, p, 1), 2);
    host_fw_free(fw);
    close(srv_a1);
    close(srv_a1b);
    close(srv_a2);
}

static void test_check_and_costs(void **state)
{
    if (!is_root)
        skip();
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_fw_run_nft("table inet kleene { chain c { garbage; } }\n", true, &err),
                     -1);
    assert_int_equal(err.code, EIO);
    assert_non_null(strstr(err.msg, "Error"));
    /* A check changes nothing: the table is still there after checking an empty config. */
    host_fw_config none = {NULL, 0, NULL, 0};
    OK(host_fw_check(&none, E));
    OK(host_fw_run_nft("list table inet kleene\n", false, E));

    static host_fw_port many[100];
    for (int i = 0; i < 100; i++)
        many[i] = (host_fw_port){i % 2,
                                 (unsigned)(20000 + i),
                                 (unsigned)(20000 + i),
                                 80,
                                 80,
                                 NULL,
                                 0,
                                 NULL,
                                 "ktfa0",
                                 "10.91.0.2",
                                 NULL};
    int counts[] = {1, 100};
    for (int c = 0; c < 2; c++) {
        host_fw_config cfg = {nets, 2, many, (size_t)counts[c]};
        double best = 1e9, sum = 0;
        for (int r = 0; r < 5; r++) {
            double t0 = nt_now_ms();
            OK(host_fw_apply(&cfg, E));
            double d = nt_now_ms() - t0;
            sum += d;
            best = d < best ? d : best;
        }
        print_message("nft apply, %d port(s): mean %.1f ms, best %.1f ms\n", counts[c], sum / 5,
                      best);
    }
    OK(host_fw_remove(E));
    assert_int_equal(host_fw_run_nft("list table inet kleene\n", false, &err), -1);
    OK(host_fw_remove(E)); /* idempotent */
}

int main(void)
{
    is_root = geteuid() == 0;
    int orig = -1;
    /* A kleened running on this host owns a table inet kleene there: only a table that the
     * test itself would have left counts. */
    bool had_table = false;
    if (is_root) {
        orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        had_table = host_fw_run_nft("list table inet kleene\n", false, NULL) == 0;
        if (nt_enter_fresh_host() < 0) {
            perror("unshare(CLONE_NEWNET)");
            return 1;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_edge_cases),
        cmocka_unit_test(test_render_elements),
        cmocka_unit_test(test_behaviour),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_check_and_costs),
    };
    int rc = cmocka_run_group_tests(tests, setup_world, teardown_world);
    if (is_root) {
        /* Nothing of ours in the namespace we came from. */
        if (host_link_exists(orig, "ktfa0") || host_link_exists(orig, "ktup0")) {
            fprintf(stderr, "links left behind in the original namespace\n");
            rc = 1;
        }
        if (setns(orig, CLONE_NEWNET) == 0 && !had_table &&
            host_fw_run_nft("list table inet kleene\n", false, NULL) == 0) {
            fprintf(stderr, "table inet kleene exists in the original namespace\n");
            rc = 1;
        }
    }
    return rc;
}
