/* Golden tests of networks and pf on FreeBSD (src/host/freebsd/ifnet.c, pf.c, ops.c):
 * network create/remove for loopback and bridge, connect/disconnect for ipnet and vnet,
 * published ports, icc and internal networks in our pf anchor, daemon start, with their
 * failure paths (golden/net_*.golden, golden/pf_*.conf). */
#include "fbtest.h"

#include <stdio.h>
#include <string.h>

#include "host/freebsd/ops.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* The golden .conf without its "##" commentary lines. */
static char *golden_conf(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", KL_FB_GOLDEN_DIR, name);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    kl_buf b = KL_BUF_INIT;
    char line[1024];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "##", 2))
            kl_buf_puts(&b, line);
    fclose(f);
    return kl_buf_steal(&b);
}

static void assert_render(const fb_host *h, const fb_pf_config *cfg, const char *golden)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *got = fb_pf_render(h, cfg, &err);
    fbt_ok(got ? 0 : -1, &err);
    _cleanup_free_ char *want = golden_conf(golden);
    if (strcmp(got, want))
        fprintf(stderr, "--- rendered:\n%s--- %s:\n%s", got, golden, want);
    assert_string_equal(got, want);
}

static void test_pf_example(void **state)
{
    fb_host h = {.root = "zroot/kleene", .pf_anchor = "kleene", .gateway_if = "em0"};
    fb_pf_network n = {.id = "n1",
                       .ifname = "kleene0",
                       .subnet = "10.13.37.0/24",
                       .nat_if = "em0",
                       .icc = true,
                       .epairs = (const char *const[]){"epair3a", NULL}};
    fb_pf_port p = {.host_first = 8080, .host_last = 8080, .ctr_first = 80, .ip = "10.13.37.2"};
    fb_pf_config cfg = {.networks = &n, .n_networks = 1, .ports = &p, .n_ports = 1};
    assert_render(&h, &cfg, "pf_example.conf");
}

static void test_pf_full(void **state)
{
    fb_host h = {.root = "zroot/kleene", .pf_anchor = "kleene", .gateway_if = "em0"};
    fb_pf_network ns[3] = {
        {.id = "a1",
         .ifname = "kleene1",
         .subnet = "10.13.38.0/24",
         .subnet6 = "fd00:38::/64",
         .nat_if = "em0",
         .icc = false,
         .epairs = (const char *const[]){"epair3a", "epair5a", NULL}},
        {.id = "b2",
         .ifname = "kleene2",
         .subnet = "10.13.39.0/24",
         .nat_if = "em0",
         .icc = true,
         .internal = true},
        {.id = "c3", .ifname = "kleene3", .subnet6 = "fd00:40::/64", .icc = true, .internal = true},
    };
    fb_pf_port ps[2] = {
        {.is_udp = true,
         .host_first = 5353,
         .host_last = 5353,
         .ctr_first = 53,
         .interfaces = (const char *const[]){"em0", "em1", NULL},
         .ip = "10.13.38.2",
         .ip6 = "fd00:38::2"},
        {.host_first = 8000, .host_last = 8009, .ctr_first = 80, .ip = "10.13.38.3"},
    };
    fb_pf_config cfg = {.networks = ns, .n_networks = 3, .ports = ps, .n_ports = 2};
    assert_render(&h, &cfg, "pf_full.conf");
}

static void test_pf_nogateway_and_bad_input(void **state)
{
    fb_host h = {.root = "zroot/kleene", .pf_anchor = "kleene"};
    fb_pf_network n = {
        .id = "n1", .ifname = "kleene0", .subnet = "10.13.37.0/24", .internal = true};
    fb_pf_config cfg = {.networks = &n, .n_networks = 1};
    assert_render(&h, &cfg, "pf_nogateway.conf");
    /* nothing unchecked reaches pf */
    kl_error err = KL_ERROR_INIT;
    fb_pf_network bad = {.id = "n1", .ifname = "kleene0; pass all"};
    fb_pf_config c2 = {.networks = &bad, .n_networks = 1};
    assert_null(fb_pf_render(&h, &c2, &err));
    fb_pf_network bad2 = {.id = "n1", .ifname = "kleene0", .subnet = "10.0.0.0/24 to any"};
    c2.networks = &bad2;
    assert_null(fb_pf_render(&h, &c2, &err));
    fb_pf_port bp = {.host_first = 80, .host_last = 80, .ctr_first = 80, .ip = "10.0.0.2 port 1"};
    fb_pf_config c3 = {.ports = &bp, .n_ports = 1};
    assert_null(fb_pf_render(&h, &c3, &err));
    fb_pf_port bp2 = {
        .host_first = 65530, .host_last = 65535, .ctr_first = 65534, .ip = "10.0.0.2"};
    c3.ports = &bp2;
    assert_null(fb_pf_render(&h, &c3, &err));
}

static const fb_network lo_net = {
    .id = "n1", .type = FB_NETTYPE_LOOPBACK, .ifname = "kleene0", .subnet = "10.13.37.0/24"};
static const fb_pf_network lo_pf = {
    .id = "n1", .ifname = "kleene0", .subnet = "10.13.37.0/24", .icc = true};
static const fb_network br_net = {.id = "a1",
                                  .type = FB_NETTYPE_BRIDGE,
                                  .ifname = "kleene1",
                                  .subnet = "10.13.38.0/24",
                                  .subnet6 = "fd00:38::/64",
                                  .gateway = "<auto>",
                                  .gateway6 = "<auto>",
                                  .nat_if = "em0",
                                  .icc = true};
static const fb_pf_network br_pf = {.id = "a1",
                                    .ifname = "kleene1",
                                    .subnet = "10.13.38.0/24",
                                    .subnet6 = "fd00:38::/64",
                                    .nat_if = "em0",
                                    .icc = true};

static void test_network_create(void **state)
{
    fb_host h = fbt_host("net_create");
    kl_error err = KL_ERROR_INIT;
    fb_pf_config one = {.networks = &lo_pf, .n_networks = 1};
    fbt_ok(fb_op_network_create(&h, &lo_net, &one, &err), &err);
    fb_pf_network both[2] = {br_pf, lo_pf};
    fb_pf_config two = {.networks = both, .n_networks = 2};
    fbt_ok(fb_op_network_create(&h, &br_net, &two, &err), &err);
    /* B12: an interface of that name exists on the host: refused, not destroyed */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_op_network_create(&h, &lo_net, &one, &e2), &e2,
              "interface kleene0 already exists on the host");
    /* custom: nothing on the interface, pf only */
    fb_network custom = {.id = "c9", .type = FB_NETTYPE_CUSTOM, .ifname = "em1"};
    fb_pf_config none = {0};
    fbt_ok(fb_op_network_create(&h, &custom, &none, &err), &err);
    fbt_done(&h);
}

static void test_network_create_pf_fails(void **state)
{
    fb_host h = fbt_host("net_create_pf_fails");
    kl_error err = KL_ERROR_INIT;
    fb_pf_config one = {.networks = &lo_pf, .n_networks = 1};
    fbt_fails(fb_op_network_create(&h, &lo_net, &one, &err), &err,
              "pf refused the rules of anchor kleene: pfctl: Syntax error in config file: pf "
              "rules not loaded");
    fbt_done(&h);
}

static void test_network_remove(void **state)
{
    fb_host h = fbt_host("net_remove");
    kl_error err = KL_ERROR_INIT;
    fb_pf_config one = {.networks = &lo_pf, .n_networks = 1};
    fbt_ok(fb_op_network_remove(&h, &br_net, &one, &err), &err);
    fb_pf_config none = {0};
    fbt_ok(fb_op_network_remove(&h, &lo_net, &none, &err), &err);
    fbt_done(&h);
}

static void test_connect_disconnect(void **state)
{
    fb_host h = fbt_host("net_connect");
    kl_error err = KL_ERROR_INIT;
    fb_pf_config one = {.networks = &lo_pf, .n_networks = 1};
    /* ipnet, running: aliases and jail -m with both families (B20) */
    fb_endpoint ep = {.ifname = "kleene0", .ip4 = "10.13.37.2", .ip6 = "fd00:37::2"};
    fbt_ok(fb_op_connect(&h, "3f9a1c0b7d2e", FB_NET_IPNET, &ep, true, &one, &err), &err);
    /* ipnet, stopped: metadata and pf only */
    fbt_ok(fb_op_connect(&h, "4f9a1c0b7d2e", FB_NET_IPNET, &ep, false, &one, &err), &err);
    /* vnet, running: refused as in the original */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_op_connect(&h, "4f9a1c0b7d2e", FB_NET_VNET, &ep, true, &one, &e2), &e2,
              "cannot connect a running vnet container to a network");
    /* ipnet disconnect, running: aliases off, jail -m with what remains; pf (B19) */
    fbt_ok(fb_op_disconnect(&h, "3f9a1c0b7d2e", FB_NET_IPNET, &ep, true, &one, &err), &err);
    /* vnet disconnect, running: the epair back from the jail, off the bridge, destroyed */
    fb_endpoint vep = {.ifname = "kleene1", .ip4 = "10.13.38.2", .epair = "epair3"};
    fbt_ok(fb_op_disconnect(&h, "7e57c0de0001", FB_NET_VNET, &vep, true, &one, &err), &err);
    assert_string_equal(vep.epair, "");
    fbt_done(&h);
}

static void test_daemon_start(void **state)
{
    fb_host h = fbt_host("net_daemon_start");
    kl_error err = KL_ERROR_INIT;
    fb_network nets[2] = {br_net, lo_net};
    fb_pf_network pfn[2] = {br_pf, lo_pf};
    fb_pf_config cfg = {.networks = pfn, .n_networks = 2};
    fb_start_result r;
    fbt_ok(fb_op_daemon_start(&h, nets, 2, true, &cfg, &r, &err), &err);
    assert_string_equal(r.gateway_if, "em0");
    assert_null(r.pf_warning);
    assert_int_equal(r.n_jails, 2);
    fb_start_result_free(&r);
    fbt_done(&h);

    /* no default route, pf without our anchor hooked in */
    h = fbt_host("net_daemon_start_warnings");
    fb_pf_config empty = {0};
    fbt_ok(fb_op_daemon_start(&h, NULL, 0, false, &empty, &r, &err), &err);
    assert_null(r.gateway_if);
    assert_non_null(r.pf_warning);
    assert_non_null(strstr(r.pf_warning, "anchor \"kleene\""));
    fb_start_result_free(&r);
    fbt_done(&h);
}

static void test_stop_reloads_pf(void **state)
{
    fb_host h = fbt_host("net_stop_pf");
    kl_error err = KL_ERROR_INIT;
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .cmd = (const char *const[]){"/bin/sh", NULL},
                      .driver = FB_NET_HOST};
    fb_pf_config none = {0};
    fbt_ok(fb_op_container_stop(&h, &s, 1000, &none, &err), &err);
    fbt_done(&h);
}

static void test_container_create_remove(void **state)
{
    fb_host h = fbt_host("ops_container");
    kl_error err = KL_ERROR_INIT;
    fb_create_mount ms[2] = {{.destination = "/data"},
                             {.destination = "/var/db", .volume_mp = "/zroot/kleene/volumes/db"}};
    fbt_ok(fb_op_container_create(&h, "3f9a1c0b7d2e", "zroot/kleene/image/a1b2c3d4e5f6", NULL, ms,
                                  2, &err),
           &err);
    fb_create_mount bad[2] = {{.destination = "/data"}, {.destination = "/x/../../etc"}};
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_op_container_create(&h, "4f9a1c0b7d2e", "zroot/kleene/image/a1b2c3d4e5f6", NULL,
                                     bad, 2, &e2),
              &e2,
              "invalid mount destination '/x/../../etc': an absolute path without '..' is needed");
    fb_mount m = {.source = "/data/a", .destination = "/data"};
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e", .driver = FB_NET_HOST, .mounts = &m, .n_mounts = 1};
    fb_pf_config none = {0};
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_op_container_remove(&h, &s, &none, &e3), &e3,
              "you cannot remove a running container");
    fbt_ok(fb_op_container_remove(&h, &s, &none, &err), &err);
    fbt_done(&h);
}

static void test_restart_on_startup(void **state)
{
    fb_host h = fbt_host("restart_on_startup");
    fb_jail_info jails[2] = {{.name = "3f9a1c0b7d2e", .jid = 3},
                             {.name = "7e57c0de0001", .jid = 5}};
    fb_start_result start = {.jails = jails, .n_jails = 2};
    const char *const rc_cmd[] = {"/bin/sh", "/etc/rc", NULL};
    fb_jail_spec specs[3] = {
        {.cid = "3f9a1c0b7d2e", .user = "root", .cmd = rc_cmd, .driver = FB_NET_HOST},
        {.cid = "8bad00000001", .user = "root", .cmd = rc_cmd, .driver = FB_NET_HOST},
        {.cid = "9a0000000001", .user = "root", .cmd = rc_cmd, .driver = FB_NET_HOST},
    };
    bool started[3];
    fb_proc procs[3];
    kl_error errs[3] = {KL_ERROR_INIT, KL_ERROR_INIT, KL_ERROR_INIT};
    assert_int_equal(fb_op_restart_on_startup(&h, specs, 3, &start, started, procs, errs), 1);
    assert_false(started[0]);
    assert_false(started[1]);
    assert_true(started[2]);
    assert_string_equal(errs[1].msg,
                        "starting container 8bad00000001: dataset "
                        "zroot/kleene/container/8bad00000001: cannot open "
                        "'zroot/kleene/container/8bad00000001': dataset does not exist");
    fbt_done(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pf_example),
        cmocka_unit_test(test_pf_full),
        cmocka_unit_test(test_pf_nogateway_and_bad_input),
        cmocka_unit_test(test_network_create),
        cmocka_unit_test(test_network_create_pf_fails),
        cmocka_unit_test(test_network_remove),
        cmocka_unit_test(test_connect_disconnect),
        cmocka_unit_test(test_daemon_start),
        cmocka_unit_test(test_stop_reloads_pf),
        cmocka_unit_test(test_container_create_remove),
        cmocka_unit_test(test_restart_on_startup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
