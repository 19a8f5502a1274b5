/* Networks (engine/networks.h) against a real store, in a private network namespace the
 * test creates (nettest.h): bridges, addresses, veths and the nft table are made there and
 * die with it. Containers are rows inserted by hand; a "running" one is a child process in
 * its own netns with a state.json naming it, as the monitor writes it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nettest.h"

#include "engine/engine.h"
#include "engine/networks.h"
#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

static int orig_ns = -1;

typedef struct {
    char dir[64];
    char *root;
    kl_engine *e;
    pid_t child; /* a fake running container, or 0 */
} fixture;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kl-test-networks-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = xasprintf("%s/root", f->dir);
    _cleanup_free_ char *run = xasprintf("%s/run", f->dir);
    kl_error err = KL_ERROR_INIT;
    f->e = engine_open(f->root, run, &err);
    if (!f->e) {
        fprintf(stderr, "engine_open: %s\n", err.msg);
        return -1;
    }
    networks_set_nat_if(f->e, "");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* Whatever a failed test left: remove every network (links go with them). */
    kl_error err = KL_ERROR_INIT;
    json_t *list = networks_list(f->e, &err);
    size_t i;
    json_t *n;
    json_array_foreach(list, i, n) networks_remove(f->e, jx_str(n, "id", ""), NULL, &err);
    json_decref(list);
    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    engine_close(f->e);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f->root);
    free(f);
    return 0;
}

static void sql(fixture *f, const char *stmt)
{
    kl_error err = KL_ERROR_INIT;
    store_lock(f->e->store);
    int r = store_exec(f->e->store, stmt, &err);
    store_unlock(f->e->store);
    if (r < 0)
        fail_msg("%s: %s", stmt, err.msg);
}

/* A container row (and the image row it needs). */
static void add_container(fixture *f, const char *id, const char *name, const char *driver)
{
    sql(f, "INSERT OR IGNORE INTO images (id, created) VALUES ('0123456789ab', '2024')");
    _cleanup_free_ char *s =
        xasprintf("INSERT INTO containers (id, name, image_id, created, network_driver, doc)"
                  " VALUES ('%s', '%s', '0123456789ab', '2024', '%s', '{\"public_ports\":[]}')",
                  id, name, driver);
    sql(f, s);
}

static char *create(fixture *f, const char *json, kl_error *err)
{
    _cleanup_json_ json_t *cfg = json_loads(json, 0, NULL);
    assert_non_null(cfg);
    return networks_create(f->e, cfg, err);
}

static void create_ok(fixture *f, const char *json, char id[13])
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *got = create(f, json, &err);
    if (!got)
        fail_msg("create %s: %s", json, err.msg);
    snprintf(id, 13, "%s", got);
}

static void create_fails(fixture *f, const char *json, const char *msg)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *got = create(f, json, &err);
    assert_null(got);
    assert_string_equal(err.msg, msg);
}

static int do_connect(fixture *f, const char *ctr, const char *net, const char *ip, const char *ip6,
                      kl_error *err)
{
    _cleanup_json_ json_t *cfg = json_pack("{s:s, s:s, s:s, s:s}", "container", ctr, "network", net,
                                           "ip_address", ip, "ip_address6", ip6);
    return networks_connect(f->e, cfg, err);
}

static void connect_fails(fixture *f, const char *ctr, const char *net, const char *ip,
                          const char *ip6, const char *msg)
{
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(do_connect(f, ctr, net, ip, ip6, &err), -1);
    assert_string_equal(err.msg, msg);
}

static json_t *endpoints(fixture *f, const char *net)
{
    kl_error err = KL_ERROR_INIT;
    json_t *v = networks_inspect(f->e, net, &err);
    assert_non_null(v);
    json_t *eps = json_incref(json_object_get(v, "network_endpoints"));
    json_decref(v);
    return eps;
}

static const char *ep_ip(json_t *eps, size_t i)
{
    return jx_str(json_array_get(eps, i), "ip_address", "?");
}

static bool nft_mentions(const char *word)
{
    _cleanup_free_ char *cmd =
        xasprintf("nft list table inet kleene 2>/dev/null | grep -q -- '%s'", word);
    return system(cmd) == 0;
}

/* ---- create ------------------------------------------------------------------------- */

static void test_create_validation_order(void **state)
{
    fixture *f = *state;
    char id[13];
    create_ok(f, "{\"name\":\"taken\",\"type\":\"loopback\"}", id);
    /* subnet, subnet6, gateway, gateway6, then the name: each error hides the later ones */
    create_fails(f,
                 "{\"name\":\"taken\",\"type\":\"bridge\",\"subnet\":\"172.18.0.0-16\","
                 "\"subnet6\":\"10.0.0.0/8\",\"gateway\":\"x\",\"gateway6\":\"y\"}",
                 "invalid subnet: could not parse cidr block: \"172.18.0.0-16\"");
    create_fails(f,
                 "{\"name\":\"taken\",\"type\":\"bridge\",\"subnet6\":\"10.0.0.0/8\","
                 "\"gateway\":\"fd00::1\",\"gateway6\":\"y\"}",
                 "invalid subnet6: wrong IP protocol");
    create_fails(f, "{\"name\":\"taken\",\"type\":\"bridge\",\"gateway\":\"fd00::1\"}",
                 "invalid gateway: wrong IP protocol");
    create_fails(f, "{\"name\":\"taken\",\"type\":\"bridge\",\"gateway6\":\"10.0.0.1\"}",
                 "invalid gateway6: wrong IP protocol");
    create_fails(f, "{\"name\":\"x\",\"type\":\"bridge\",\"subnet\":\"fd00::/64\"}",
                 "invalid subnet: wrong IP protocol");
    create_fails(f, "{\"name\":\"taken\",\"type\":\"bridge\"}", "network name is already taken");
    /* unique by name only (our fix): a name that is a prefix of an id is fine */
    char prefix[4];
    snprintf(prefix, sizeof(prefix), "%.3s", id);
    _cleanup_free_ char *json = xasprintf("{\"name\":\"%s\",\"type\":\"loopback\"}", prefix);
    char id2[13];
    create_ok(f, json, id2);
    /* lookup: the exact name wins over the id prefix */
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *v = networks_inspect(f->e, prefix, &err);
    assert_string_equal(jx_str(json_object_get(v, "network"), "id", ""), id2);
    create_fails(f, "{\"name\":\"bad\",\"type\":\"bridge\",\"interface\":\"a b\"}",
                 "invalid interface name 'a b': 1-15 characters of [A-Za-z0-9_.-]");
    create_fails(f, "{\"name\":\"bad\",\"type\":\"custom\",\"interface\":\"nosuch0\"}",
                 "interface nosuch0 does not exist (a custom network uses an existing one)");
}

/* Issue 12 item 7: a subnet that overlaps another network's is refused (as Docker does),
 * unless the new network opts in with allow_subnet_overlap; the engine also refuses names
 * outside the name rule when the API is bypassed. */
static void test_subnet_overlap_and_names(void **state)
{
    fixture *f = *state;
    char a[13], b[13], c[13];
    create_ok(f, "{\"name\":\"wide\",\"type\":\"loopback\",\"subnet\":\"10.50.0.0/16\"}", a);
    create_fails(f, "{\"name\":\"inner\",\"type\":\"bridge\",\"subnet\":\"10.50.3.0/24\"}",
                 "subnet 10.50.3.0/24 overlaps 10.50.0.0/16 of network 'wide' (set "
                 "allow_subnet_overlap to share it)");
    create_fails(f, "{\"name\":\"outer\",\"type\":\"bridge\",\"subnet\":\"10.0.0.0/8\"}",
                 "subnet 10.0.0.0/8 overlaps 10.50.0.0/16 of network 'wide' (set "
                 "allow_subnet_overlap to share it)");
    create_ok(f, "{\"name\":\"next\",\"type\":\"bridge\",\"subnet\":\"10.51.0.0/24\"}", b);
    create_ok(f,
              "{\"name\":\"shared\",\"type\":\"bridge\",\"subnet\":\"10.50.9.0/24\","
              "\"allow_subnet_overlap\":true}",
              c);
    create_ok(f, "{\"name\":\"v6a\",\"type\":\"loopback\",\"subnet6\":\"fd00:50::/64\"}", b);
    create_fails(f, "{\"name\":\"v6b\",\"type\":\"loopback\",\"subnet6\":\"fd00:50::/48\"}",
                 "subnet fd00:50::/48 overlaps fd00:50::/64 of network 'v6a' (set "
                 "allow_subnet_overlap to share it)");
    static const char *const bad[] = {"../../etc", "a\\nb", "x\\u202e", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_free_ char *json = xasprintf("{\"name\":\"%s\",\"type\":\"loopback\"}", bad[i]);
        create_fails(f, json,
                     "invalid network name: 1-255 characters of [a-zA-Z0-9][a-zA-Z0-9_.-]");
    }
}

static void test_interfaces_and_gateways(void **state)
{
    fixture *f = *state;
    char a[13], b[13], c[13];
    create_ok(f,
              "{\"name\":\"a\",\"type\":\"bridge\",\"subnet\":\"10.20.0.0/24\",\"gateway\":"
              "\"<auto>\",\"subnet6\":\"fd00:20::/64\",\"gateway6\":\"<auto>\"}",
              a);
    create_ok(f,
              "{\"name\":\"b\",\"type\":\"loopback\",\"subnet\":\"10.21.0.0/24\",\"gateway\":"
              "\"<auto>\"}",
              b);
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *va = networks_inspect(f->e, "a", &err);
    json_t *na = json_object_get(va, "network");
    assert_string_equal(jx_str(na, "interface", ""), "kleene0");
    assert_string_equal(jx_str(na, "gateway", ""), "<auto>"); /* stored as given */
    assert_string_equal(jx_str(na, "nat", "?"), "");          /* no default route here */
    char **addrs = NULL;
    assert_int_equal(host_addr_list(-1, "kleene0", &addrs, &err), 0);
    assert_non_null(addrs);
    assert_string_equal(addrs[0], "10.20.0.1/24");
    assert_string_equal(addrs[1], "fd00:20::1/64");
    strv_free(addrs);
    /* loopback: a bridge too, but the gateway is ignored (no address) */
    assert_true(host_link_exists(-1, "kleene1"));
    addrs = NULL;
    assert_int_equal(host_addr_list(-1, "kleene1", &addrs, &err), 0);
    for (char **p = addrs; p && *p; p++)
        assert_null(strstr(*p, "10.21."));
    strv_free(addrs);
    assert_true(nft_mentions("kleene0"));
    assert_true(nft_mentions("10.21.0.0/24"));
    /* the smallest free N is reused */
    assert_int_equal(networks_remove(f->e, "a", NULL, &err), 0);
    assert_false(host_link_exists(-1, "kleene0"));
    assert_false(nft_mentions("kleene0"));
    create_ok(f, "{\"name\":\"c\",\"type\":\"bridge\"}", c);
    _cleanup_json_ json_t *vc = networks_inspect(f->e, c, &err);
    assert_string_equal(jx_str(json_object_get(vc, "network"), "interface", ""), "kleene0");
    /* a kleened-made interface belongs to one network */
    create_fails(f, "{\"name\":\"d\",\"type\":\"bridge\",\"interface\":\"kleene1\"}",
                 "interface kleene1 is already used by another network");
    /* custom: an existing link, never deleted; nat as configured */
    assert_int_equal(host_bridge_create("custom0", &err), 0);
    networks_set_nat_if(f->e, "up0");
    char d[13];
    create_ok(f, "{\"name\":\"xcust\",\"type\":\"custom\",\"interface\":\"custom0\"}", d);
    _cleanup_json_ json_t *vd = networks_inspect(f->e, "xcust", &err);
    assert_string_equal(jx_str(json_object_get(vd, "network"), "nat", ""), "up0");
    char removed[13];
    assert_int_equal(networks_remove(f->e, "xcust", removed, &err), 0);
    assert_string_equal(removed, d);
    assert_true(host_link_exists(-1, "custom0"));
    assert_int_equal(host_link_delete(-1, "custom0", &err), 0);
    /* not found, with and without the period (a name no id prefix can match) */
    assert_int_equal(networks_remove(f->e, "xcust", NULL, &err), -1);
    assert_string_equal(err.msg, "network not found.");
    assert_null(networks_inspect(f->e, "xcust", &err));
    assert_string_equal(err.msg, "network not found");
    (void)b;
}

/* ---- connect ------------------------------------------------------------------------ */

static void test_connect_ipam(void **state)
{
    fixture *f = *state;
    char n30[13], nb[13], none[13];
    create_ok(f, "{\"name\":\"n30\",\"type\":\"loopback\",\"subnet\":\"10.30.0.0/30\"}", n30);
    create_ok(f,
              "{\"name\":\"nb\",\"type\":\"bridge\",\"subnet\":\"10.31.0.0/24\",\"gateway\":"
              "\"<auto>\",\"subnet6\":\"fd00:31::/64\"}",
              nb);
    create_ok(f, "{\"name\":\"none\",\"type\":\"loopback\"}", none);
    add_container(f, "aaaaaaaaaaa1", "c1", "ipnet");
    add_container(f, "aaaaaaaaaaa2", "c2", "ipnet");
    add_container(f, "aaaaaaaaaaa3", "c3", "vnet");
    add_container(f, "aaaaaaaaaaa4", "c4", "host");
    add_container(f, "aaaaaaaaaaa5", "c5", "disabled");
    kl_error err = KL_ERROR_INIT;

    connect_fails(f, "nosuch", "n30", "<auto>", "", "container not found");
    connect_fails(f, "c1", "nosuch", "<auto>", "", "network not found");
    /* a /30 gives .1 and .2: never the network or the broadcast address (our fix) */
    assert_int_equal(do_connect(f, "c1", "n30", "<auto>", "<auto>", &err), 0);
    connect_fails(f, "c1", "n30", "<auto>", "", "container already connected to the network");
    assert_int_equal(do_connect(f, "aaaaaaaaaaa2", "n30", "<auto>", "", &err), 0);
    connect_fails(f, "c3", "n30", "<auto>", "",
                  "containers using the 'vnet' network-driver can't connect to loopback networks");
    _cleanup_json_ json_t *eps = endpoints(f, "n30");
    assert_int_equal(json_array_size(eps), 2);
    assert_string_equal(ep_ip(eps, 0), "10.30.0.1");
    assert_string_equal(ep_ip(eps, 1), "10.30.0.2");
    assert_string_equal(jx_str(json_array_get(eps, 0), "ip_address6", "?"), "");
    assert_true(json_is_null(json_object_get(json_array_get(eps, 0), "epair")));
    assert_string_equal(jx_str(json_array_get(eps, 0), "container_id", ""), "aaaaaaaaaaa1");
    assert_string_equal(jx_str(json_array_get(eps, 0), "network_id", ""), n30);
    add_container(f, "aaaaaaaaaaa6", "c6", "ipnet");
    connect_fails(f, "c6", "n30", "<auto>", "", "no more inet IP's left in the network");

    /* drivers */
    connect_fails(f, "c4", "nb", "<auto>", "",
                  "containers with the 'host' network-driver cannot connect to networks.");
    connect_fails(f, "c5", "none", "<auto>", "",
                  "containers with the 'disabled' network-driver cannot connect to networks.");
    /* bridge: the <auto> gateway (on the bridge) is skipped; vnet is fine */
    assert_int_equal(do_connect(f, "c3", "nb", "<auto>", "<auto>", &err), 0);
    /* static: checked against the subnet and use (our fix) */
    connect_fails(f, "c1", "nb", "10.99.0.5", "",
                  "ip address 10.99.0.5 is outside the network's subnet 10.31.0.0/24");
    assert_int_equal(do_connect(f, "c1", "nb", "10.31.0.9", "fd00:31::9", &err), 0);
    connect_fails(f, "c2", "nb", "10.31.0.9", "",
                  "ip address 10.31.0.9 is already in use in the network");
    connect_fails(f, "c2", "nb", "10.31.0.1", "",
                  "ip address 10.31.0.1 is the gateway of the network");
    _cleanup_json_ json_t *eb = endpoints(f, "nb");
    assert_string_equal(ep_ip(eb, 0), "10.31.0.2");
    assert_string_equal(jx_str(json_array_get(eb, 0), "ip_address6", ""), "fd00:31::1");
    assert_string_equal(ep_ip(eb, 1), "10.31.0.9");
    /* no subnet: "" and <auto> give no address, a literal one is refused */
    assert_int_equal(do_connect(f, "c1", "none", "<auto>", "<auto>", &err), 0);
    connect_fails(f, "c2", "none", "10.0.0.1", "",
                  "cannot set ip address because there is no IPv4 subnet defined for this network");
    connect_fails(f, "c2", "none", "", "fd00::1",
                  "cannot set ip address because there is no IPv6 subnet defined for this network");

    /* disconnect */
    assert_int_equal(networks_disconnect(f->e, "n30", "c2", &err), 0);
    assert_int_equal(networks_disconnect(f->e, "n30", "c2", &err), -1);
    assert_string_equal(err.msg, "endpoint configuration not found");
    assert_int_equal(networks_disconnect(f->e, "nosuch", "c2", &err), -1);
    assert_string_equal(err.msg, "network not found");
    assert_int_equal(networks_disconnect(f->e, "n30", "nosuch", &err), -1);
    assert_string_equal(err.msg, "container not found");
    /* the freed address is reused lowest first */
    assert_int_equal(do_connect(f, "c6", "n30", "<auto>", "", &err), 0);
    json_decref(eps);
    eps = endpoints(f, "n30");
    assert_string_equal(ep_ip(eps, 1), "10.30.0.2");
}

static void test_remove_and_prune(void **state)
{
    fixture *f = *state;
    char used[13], unused1[13], unused2[13];
    create_ok(f, "{\"name\":\"used\",\"type\":\"loopback\",\"subnet\":\"10.40.0.0/24\"}", used);
    create_ok(f, "{\"name\":\"unused2\",\"type\":\"bridge\"}", unused2);
    create_ok(f, "{\"name\":\"unused1\",\"type\":\"bridge\"}", unused1);
    add_container(f, "bbbbbbbbbbb1", "c1", "ipnet");
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(do_connect(f, "c1", "used", "<auto>", "", &err), 0);
    _cleanup_json_ json_t *ids = networks_prune(f->e, &err);
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), unused1); /* name order */
    assert_string_equal(json_string_value(json_array_get(ids, 1)), unused2);
    _cleanup_json_ json_t *list = networks_list(f->e, &err);
    assert_int_equal(json_array_size(list), 1);
    /* remove disconnects first */
    assert_int_equal(networks_remove(f->e, used, NULL, &err), 0);
    _cleanup_json_ json_t *empty = networks_list(f->e, &err);
    assert_int_equal(json_array_size(empty), 0);
    store_lock(f->e->store);
    sqlite3_stmt *st = store_prepare(f->e->store, "SELECT count(*) FROM endpoints", &err);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    store_unlock(f->e->store);
    assert_false(host_link_exists(-1, "kleene0"));
    assert_false(host_link_exists(-1, "kleene1"));
    assert_false(host_link_exists(-1, "kleene2"));
}

/* Ours: labels (shown, filter the prune), ip_range (automatic addresses), auto_subnet (the
 * Docker door's pools). */
static void test_labels_range_pool(void **state)
{
    fixture *f = *state;
    char r[13], a1[13], a2[13], keep[13];
    create_ok(f,
              "{\"name\":\"r\",\"type\":\"loopback\",\"subnet\":\"10.50.0.0/24\","
              "\"ip_range\":\"10.50.0.128/26\",\"labels\":{\"a\":\"1\"}}",
              r);
    create_fails(f,
                 "{\"name\":\"r2\",\"type\":\"loopback\",\"subnet\":\"10.51.0.0/24\","
                 "\"ip_range\":\"10.52.0.0/26\"}",
                 "ip range 10.52.0.0/26 is not inside the subnet 10.51.0.0/24");
    create_fails(f, "{\"name\":\"r3\",\"type\":\"loopback\",\"ip_range\":\"10.52.0.0/26\"}",
                 "an ip range needs an IPv4 subnet");
    create_fails(f,
                 "{\"name\":\"r4\",\"type\":\"loopback\",\"subnet\":\"10.51.0.0/24\","
                 "\"ip_range\":\"fd00::/64\"}",
                 "invalid ip range 'fd00::/64': an IPv4 prefix is expected");
    create_fails(f, "{\"name\":\"r5\",\"type\":\"loopback\",\"labels\":{\"a b\":\"\"}}",
                 "label key 'a b': only printable ASCII characters other than space and '=' are "
                 "allowed");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ins = networks_inspect(f->e, "r", &err);
    json_t *net = json_object_get(ins, "network");
    assert_string_equal(jx_str(json_object_get(net, "labels"), "a", ""), "1");
    assert_string_equal(jx_str(net, "ip_range", ""), "10.50.0.128/26");
    assert_true(strlen(jx_str(net, "created", "")) > 20);
    add_container(f, "ccccccccccc1", "c1", "ipnet");
    add_container(f, "ccccccccccc2", "c2", "ipnet");
    assert_int_equal(do_connect(f, "c1", "r", "<auto>", "", &err), 0);
    assert_int_equal(do_connect(f, "c2", "r", "10.50.0.7", "", &err), 0);
    _cleanup_json_ json_t *eps = endpoints(f, "r");
    assert_string_equal(ep_ip(eps, 0), "10.50.0.129");
    assert_string_equal(ep_ip(eps, 1), "10.50.0.7");

    /* the pools: the first subnet no network has a part of, with an <auto> gateway */
    create_ok(f, "{\"name\":\"taken\",\"type\":\"loopback\",\"subnet\":\"172.18.5.0/24\"}", keep);
    create_ok(f, "{\"name\":\"a1\",\"type\":\"loopback\",\"auto_subnet\":true}", a1);
    create_ok(f,
              "{\"name\":\"a2\",\"type\":\"loopback\",\"auto_subnet\":true,\"labels\":{\"k\":"
              "\"v\"}}",
              a2);
    _cleanup_json_ json_t *i1 = networks_inspect(f->e, "a1", &err);
    _cleanup_json_ json_t *i2 = networks_inspect(f->e, "a2", &err);
    assert_string_equal(jx_str(json_object_get(i1, "network"), "subnet", ""), "172.19.0.0/16");
    assert_string_equal(jx_str(json_object_get(i1, "network"), "gateway", ""), "<auto>");
    assert_string_equal(jx_str(json_object_get(i2, "network"), "subnet", ""), "172.20.0.0/16");

    /* prune until a time: only what was made before it */
    _cleanup_json_ json_t *old =
        networks_prune_matching(f->e, NULL, NULL, "2000-01-01T00:00:00.000000Z", &err);
    assert_non_null(old);
    assert_int_equal(json_array_size(old), 0);
    /* prune by labels: names of what went */
    _cleanup_json_ json_t *must = json_pack("[s]", "k=v");
    _cleanup_json_ json_t *gone = networks_prune_matching(f->e, must, NULL, NULL, &err);
    assert_non_null(gone);
    assert_int_equal(json_array_size(gone), 1);
    assert_string_equal(json_string_value(json_array_get(gone, 0)), "a2");
    _cleanup_json_ json_t *not = json_pack("[s]", "a");
    _cleanup_json_ json_t *gone2 = networks_prune_matching(f->e, NULL, not, NULL, &err);
    /* r has endpoints and the label a: it stays; a1 and taken go */
    assert_int_equal(json_array_size(gone2), 2);
    assert_string_equal(json_string_value(json_array_get(gone2, 0)), "a1");
    assert_string_equal(json_string_value(json_array_get(gone2, 1)), "taken");
}

/* ---- running containers ------------------------------------------------------------- */

/* A child in its own netns, and the state.json a monitor would write for it. */
static pid_t fake_running(fixture *f, const char *id)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0)
            _exit(1);
        (void)!write(p[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    _cleanup_free_ char *dir = xasprintf("%s/run/containers/%s", f->dir, id);
    _cleanup_free_ char *cmd = xasprintf("mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    _cleanup_free_ char *path = xasprintf("%s/state.json", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"container_id\":\"%s\",\"container_pid\":%d,\"running\":true}", id, (int)pid);
    fclose(fp);
    f->child = pid;
    return pid;
}

static void test_hotplug_and_hooks(void **state)
{
    fixture *f = *state;
    char nb[13];
    create_ok(f,
              "{\"name\":\"nb\",\"type\":\"bridge\",\"subnet\":\"10.50.0.0/24\",\"gateway\":"
              "\"<auto>\"}",
              nb);
    add_container(f, "ccccccccccc1", "run1", "ipnet");
    add_container(f, "ccccccccccc2", "stopped", "vnet");
    pid_t pid = fake_running(f, "ccccccccccc1");
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(do_connect(f, "run1", "nb", "<auto>", "", &err), 0);
    assert_int_equal(do_connect(f, "stopped", "nb", "<auto>", "", &err), 0);
    _cleanup_json_ json_t *eps = endpoints(f, "nb");
    const char *ep_id = jx_str(json_array_get(eps, 0), "id", "");
    _cleanup_free_ char *host_if = xasprintf("kv%s", ep_id);
    assert_string_equal(jx_str(json_array_get(eps, 0), "epair", ""), host_if);
    assert_true(json_is_null(json_object_get(json_array_get(eps, 1), "epair")));
    assert_true(host_link_exists(-1, host_if));
    int ns = host_netns_open_pid(pid, &err);
    assert_true(ns >= 0);
    char **addrs = NULL;
    assert_int_equal(host_addr_list(ns, "eth0", &addrs, &err), 0);
    assert_non_null(addrs);
    assert_string_equal(addrs[0], "10.50.0.2/24");
    strv_free(addrs);
    /* the container reaches its gateway over the bridge (all inside our namespaces) */
    host_link_set_up(ns, "lo", true, &err);
    int l = nt_listen(-1, "10.50.0.1", 4000);
    assert_true(l >= 0);
    char peer[64] = "";
    assert_int_equal(nt_connect(ns, "10.50.0.1", 4000, 2000, l, peer, sizeof(peer)), 0);
    assert_string_equal(peer, "10.50.0.2");
    close(l);

    /* disconnect removes the veth */
    assert_int_equal(networks_disconnect(f->e, "nb", "run1", &err), 0);
    assert_false(host_link_exists(-1, host_if));
    assert_false(host_link_exists(ns, "eth0"));

    /* the start hook wires every endpoint; the stop hook forgets the epair but leaves the
     * veth to the container's netns, which goes with the container (the fake one here lives
     * on); the start hook replaces such a leftover */
    assert_int_equal(do_connect(f, "run1", "nb", "10.50.0.7", "", &err), 0);
    networks_container_stopped(f->e, "ccccccccccc1");
    json_decref(eps);
    eps = endpoints(f, "nb");
    assert_true(json_is_null(json_object_get(json_array_get(eps, 1), "epair")));
    assert_true(host_link_exists(ns, "eth0"));
    assert_int_equal(networks_container_started(f->e, "ccccccccccc1", pid, &err), 0);
    json_decref(eps);
    eps = endpoints(f, "nb");
    assert_false(json_is_null(json_object_get(json_array_get(eps, 1), "epair")));
    assert_false(host_link_exists(ns, "eth1"));
    addrs = NULL;
    assert_int_equal(host_addr_list(ns, "eth0", &addrs, &err), 0);
    assert_string_equal(addrs[0], "10.50.0.7/24");
    strv_free(addrs);
    /* default route via the <auto> gateway */
    _cleanup_free_ char *cmd = xasprintf(
        "nsenter --net=/proc/%d/ns/net ip route | grep -q '^default via 10.50.0.1'", (int)pid);
    assert_int_equal(system(cmd), 0);

    /* removing the network takes the veth and the bridge with it */
    assert_int_equal(networks_remove(f->e, "nb", NULL, &err), 0);
    assert_false(host_link_exists(ns, "eth0"));
    assert_false(host_link_exists(-1, "kleene0"));
    close(ns);
}

static void test_init_recreates(void **state)
{
    fixture *f = *state;
    char nb[13];
    create_ok(f,
              "{\"name\":\"nb\",\"type\":\"bridge\",\"subnet\":\"10.60.0.0/24\",\"gateway\":"
              "\"<auto>\"}",
              nb);
    kl_error err = KL_ERROR_INIT;
    /* as after a reboot: the link and the table are gone */
    assert_int_equal(host_link_delete(-1, "kleene0", &err), 0);
    assert_int_equal(host_fw_remove(&err), 0);
    assert_int_equal(networks_init(f->e, &err), 0);
    char **addrs = NULL;
    assert_int_equal(host_addr_list(-1, "kleene0", &addrs, &err), 0);
    assert_non_null(addrs);
    assert_string_equal(addrs[0], "10.60.0.1/24");
    strv_free(addrs);
    assert_true(nft_mentions("10.60.0.0/24"));
}

/* A container row with one published port (API.md §5.5). */
static void add_publishing_container(fixture *f, const char *id, const char *name)
{
    add_container(f, id, name, "vnet");
    _cleanup_free_ char *s = xasprintf(
        "UPDATE containers SET doc = '{\"public_ports\":[{\"interfaces\":[],\"host_port\":"
        "\"8080\",\"container_port\":\"80\",\"protocol\":\"tcp\"}]}' WHERE id = '%s'",
        id);
    sql(f, s);
}

static bool wait_link_gone(const char *name)
{
    for (int i = 0; i < 200 && host_link_exists(-1, name); i++)
        usleep(10 * 1000);
    return !host_link_exists(-1, name);
}

/* The published port of a running container is an element of the table from its start to its
 * stop, is there again after a kleened restart while the container runs, and not once it has
 * ended; a connect of a stopped container adds nothing. */
static void test_ports_follow_start_and_stop(void **state)
{
    fixture *f = *state;
    char nb[13];
    create_ok(f,
              "{\"name\":\"nb\",\"type\":\"bridge\",\"subnet\":\"10.70.0.0/24\",\"gateway\":"
              "\"<auto>\"}",
              nb);
    add_publishing_container(f, "ddddddddddd1", "web");
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(do_connect(f, "web", "nb", "<auto>", "", &err), 0);
    const char *element = "tcp . 8080 : 10.70.0.2 . 80";
    assert_false(nft_mentions(element));
    assert_false(nft_mentions("8080"));

    pid_t pid = fake_running(f, "ddddddddddd1");
    assert_int_equal(networks_container_started(f->e, "ddddddddddd1", pid, &err), 0);
    assert_true(nft_mentions(element));
    assert_true(nft_mentions("\"kleene0\" . 10.70.0.2 . tcp . 80")); /* forward */
    networks_container_stopped(f->e, "ddddddddddd1");
    assert_false(nft_mentions("8080"));
    assert_false(nft_mentions("10.70.0.2"));
    assert_int_equal(networks_container_started(f->e, "ddddddddddd1", pid, &err), 0);
    assert_true(nft_mentions(element));

    /* kleened restarts while the container runs (and the table went away meanwhile). */
    engine_close(f->e);
    _cleanup_free_ char *run = xasprintf("%s/run", f->dir);
    f->e = engine_open(f->root, run, &err);
    assert_non_null(f->e);
    networks_set_nat_if(f->e, "");
    assert_int_equal(host_fw_remove(&err), 0);
    assert_int_equal(networks_init(f->e, &err), 0);
    assert_true(nft_mentions(element));
    _cleanup_json_ json_t *eps = endpoints(f, "nb");
    _cleanup_free_ char *ep = xasprintf("kv%s", jx_str(json_array_get(eps, 0), "id", ""));

    /* The container ends while kleened is away: after the next restart, its port is gone,
     * and its veth went with its netns. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    f->child = 0;
    assert_true(wait_link_gone(ep));
    engine_close(f->e);
    f->e = engine_open(f->root, run, &err);
    assert_non_null(f->e);
    networks_set_nat_if(f->e, "");
    assert_int_equal(networks_init(f->e, &err), 0);
    assert_false(nft_mentions("8080"));
    assert_true(nft_mentions("10.70.0.0/24"));
}

/* None of this reached the namespace the test started in. */
static void test_host_untouched(void **state)
{
    (void)state;
    assert_false(host_link_exists(orig_ns, "custom0"));
}

int main(void)
{
    (void)nt_new_ns;
    (void)nt_now_ms;
    if (geteuid() != 0) {
        fprintf(stderr, "test_networks needs root: skipped\n");
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
        cmocka_unit_test_setup_teardown(test_create_validation_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interfaces_and_gateways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subnet_overlap_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_ipam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_range_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hotplug_and_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_recreates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ports_follow_start_and_stop, setup, teardown),
        cmocka_unit_test(test_host_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
