/* Golden tests of containers as jails (src/host/freebsd/jail.c): the `jail -c` argv with the
 * original's defaults and -J overrides, starts by network driver with mounts and limits,
 * failing starts and what they undo, jexec, stop, update, re-adoption (jls), mounts. */
#include "fbtest.h"

#include <signal.h>
#include <string.h>

#include "host/freebsd/jail.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void assert_strv(char **v, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(v[i]);
        assert_string_equal(v[i], want[i]);
    }
    assert_null(v[i]);
}

/* FREEBSD-HOST.md §4.2 step 5: prepended defaults, each suppressed by a user parameter that
 * starts with one of its prefixes; negations stay among the user's parameters. */
static void test_params(void **state)
{
    _cleanup_strv_ char **a = fb_jail_params("3f9a1c0b7d2e", "root", NULL);
    assert_strv(a, (const char *const[]){"mount.devfs=true", "exec.stop=/bin/sh /etc/rc.shutdown",
                                         "exec.clean=true", "exec.jail_user=root",
                                         "host.hostname=3f9a1c0b7d2e", NULL});
    _cleanup_strv_ char **b =
        fb_jail_params("3f9a1c0b7d2e", "",
                       (const char *const[]){"host.hostname=web", "mount.nodevfs", "exec.noclean",
                                             "allow.raw_sockets", NULL});
    assert_strv(b,
                (const char *const[]){"exec.stop=/bin/sh /etc/rc.shutdown", "exec.jail_user=root",
                                      "host.hostname=web", "mount.nodevfs", "exec.noclean",
                                      "allow.raw_sockets", NULL});
    _cleanup_strv_ char **c = fb_jail_params(
        "3f9a1c0b7d2e", "www",
        (const char *const[]){"exec.nostop", "exec.jail_user=nobody", "mount.devfs=false", NULL});
    assert_strv(c, (const char *const[]){"exec.clean=true", "host.hostname=3f9a1c0b7d2e",
                                         "exec.nostop", "exec.jail_user=nobody",
                                         "mount.devfs=false", NULL});
}

static const char *const env1[] = {"PATH=/bin:/usr/bin", "FOO=1", "AB=2", NULL};
static const char *const rc_cmd[] = {"/bin/sh", "/etc/rc", NULL};

/* The example of §4.2: ipnet, one network, no user params; then the end of its jail(8). */
static void test_start_ipnet(void **state)
{
    fb_host h = fbt_host("jail_start_ipnet");
    kl_error err = KL_ERROR_INIT;
    fb_endpoint ep = {.ifname = "kleene0", .ip4 = "10.13.37.2"};
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .env = env1,
                      .cmd = rc_cmd,
                      .driver = FB_NET_IPNET,
                      .endpoints = &ep,
                      .n_endpoints = 1};
    fb_proc p;
    fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
    int st = -1;
    assert_int_equal(fb_wait(h.run, &p, -1, &st, &err), 1);
    assert_int_equal(st, 0);
    /* /etc/rc started daemons: the jail lives on */
    assert_int_equal(fb_container_ended(&h, &s, &err), 0);
    fbt_done(&h);
}

/* vnet on two networks with gateways (B11), a tty, a user's -J, a nullfs mount, limits. */
static void test_start_vnet(void **state)
{
    fb_host h = fbt_host("jail_start_vnet");
    kl_error err = KL_ERROR_INIT;
    fb_endpoint eps[2] = {
        {.ifname = "kleene1",
         .ip4 = "10.13.38.2",
         .prefix4 = 24,
         .gw4 = "10.13.38.1",
         .ip6 = "fd00:38::2",
         .prefix6 = 64,
         .gw6 = "fd00:38::1"},
        {.ifname = "kleene2", .ip4 = "10.13.39.5", .prefix4 = 16, .gw4 = "10.13.0.1"},
    };
    fb_mount m = {.source = "/home/u/site", .destination = "/usr/local/www", .read_only = true};
    fb_jail_spec s = {.cid = "7e57c0de0001",
                      .user = "www",
                      .env = (const char *const[]){"TERM=xterm", NULL},
                      .cmd = (const char *const[]){"/bin/sh", NULL},
                      .jail_params =
                          (const char *const[]){"allow.raw_sockets", "exec.noclean", NULL},
                      .driver = FB_NET_VNET,
                      .endpoints = eps,
                      .n_endpoints = 2,
                      .mounts = &m,
                      .n_mounts = 1,
                      .limits = {.memory_bytes = 268435456, .pids_max = 100, .cpu_millis = 1500},
                      .tty = true};
    fb_proc p;
    fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
    assert_string_equal(eps[0].epair, "epair3");
    assert_string_equal(eps[1].epair, "epair4");
    /* the shell exits: the jail is gone, our side is cleaned up (epairs, mount, devfs, rctl) */
    int st;
    assert_int_equal(fb_wait(h.run, &p, -1, &st, &err), 1);
    assert_int_equal(fb_container_ended(&h, &s, &err), 1);
    assert_string_equal(eps[0].epair, "");
    fbt_done(&h);
}

static void test_start_host_disabled(void **state)
{
    fb_host h = fbt_host("jail_start_host_disabled");
    kl_error err = KL_ERROR_INIT;
    fb_jail_spec s = {.cid = "aaaaaaaaaaa1", .user = "root", .cmd = rc_cmd, .driver = FB_NET_HOST};
    fb_proc p;
    fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
    s.cid = "aaaaaaaaaaa2";
    s.driver = FB_NET_DISABLED;
    fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
    /* already running */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_container_start(&h, &s, &p, &e2), &e2,
              "container aaaaaaaaaaa2 is already running");
    fbt_done(&h);
}

/* A failing jail -c (exit 1): jail(8) undid its own steps; we remove the aliases and devfs. */
static void test_start_jail_fails(void **state)
{
    fb_host h = fbt_host("jail_start_jail_fails");
    kl_error err = KL_ERROR_INIT;
    fb_endpoint ep = {.ifname = "kleene0", .ip4 = "10.13.37.2", .ip6 = "fd00:37::2"};
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .env = env1,
                      .cmd = (const char *const[]){"/nonexistent", NULL},
                      .driver = FB_NET_IPNET,
                      .endpoints = &ep,
                      .n_endpoints = 1};
    fb_proc p;
    fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
    int st;
    assert_int_equal(fb_wait(h.run, &p, -1, &st, &err), 1);
    assert_int_equal(st, 1);
    assert_int_equal(fb_container_ended(&h, &s, &err), 1);
    fbt_done(&h);
}

/* Failing steps before jail -c: everything done so far is undone, in reverse. */
static void test_start_rollback(void **state)
{
    fb_host h = fbt_host("jail_start_rollback");
    kl_error err = KL_ERROR_INIT;
    fb_mount ms[2] = {{.source = "/data/a", .destination = "/a"},
                      {.source = "/data/b", .destination = "/a/b"}};
    fb_endpoint ep = {.ifname = "kleene0", .ip4 = "10.13.37.2"};
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .cmd = rc_cmd,
                      .driver = FB_NET_IPNET,
                      .endpoints = &ep,
                      .n_endpoints = 1,
                      .mounts = ms,
                      .n_mounts = 2,
                      .limits = {.memory_bytes = 1048576}};
    fb_proc p;
    /* 1. the second mount fails: the first is unmounted */
    fbt_fails(fb_container_start(&h, &s, &p, &err), &err,
              "starting container 3f9a1c0b7d2e: could not mount /a/b: mount_nullfs: /data/b: No "
              "such file or directory");
    /* 2. rctl fails (racct off): limits, aliases and mounts undone */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_container_start(&h, &s, &p, &e2), &e2,
              "starting container 3f9a1c0b7d2e: setting resource limits (is kern.racct.enable=1 "
              "set?): rctl: failed to add rule 'jail:3f9a1c0b7d2e:memoryuse:deny=1048576': "
              "Function not implemented");
    /* 3. vnet: the second epair cannot be created; the first is destroyed */
    fb_endpoint eps[2] = {{.ifname = "kleene1", .ip4 = "10.13.38.2", .prefix4 = 24},
                          {.ifname = "kleene1", .ip4 = "10.13.38.3", .prefix4 = 24}};
    fb_jail_spec v = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .cmd = rc_cmd,
                      .driver = FB_NET_VNET,
                      .endpoints = eps,
                      .n_endpoints = 2};
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_container_start(&h, &v, &p, &e3), &e3,
              "starting container 3f9a1c0b7d2e: could not create new epair: ifconfig: "
              "SIOCIFCREATE2 (epair): No space left on device");
    assert_string_equal(eps[0].epair, "");
    fbt_done(&h);
}

static void test_exec(void **state)
{
    fb_host h = fbt_host("jail_exec");
    kl_error err = KL_ERROR_INIT;
    fb_proc p;
    fbt_ok(fb_container_exec(&h, "3f9a1c0b7d2e", "www", env1,
                             (const char *const[]){"/bin/ls", "-l", "/tmp dir", NULL}, false, &p,
                             &err),
           &err);
    /* B30: an empty user is root, not a broken argv */
    fbt_ok(fb_container_exec(&h, "3f9a1c0b7d2e", "", NULL, (const char *const[]){"/bin/sh", NULL},
                             true, &p, &err),
           &err);
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_container_exec(&h, "3f9a1c0b7d2e", "-x", NULL,
                                (const char *const[]){"/bin/sh", NULL}, false, &p, &e2),
              &e2, "invalid user '-x'");
    fbt_done(&h);
}

static void test_stop(void **state)
{
    fb_host h = fbt_host("jail_stop");
    kl_error err = KL_ERROR_INIT;
    fb_endpoint ep = {.ifname = "kleene0", .ip4 = "10.13.37.2"};
    fb_mount m = {.source = "/data/a", .destination = "/a"};
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .cmd = rc_cmd,
                      .driver = FB_NET_IPNET,
                      .endpoints = &ep,
                      .n_endpoints = 1,
                      .mounts = &m,
                      .n_mounts = 1};
    /* 1. ends within the grace period after SIGTERM */
    fbt_ok(fb_container_stop(&h, &s, 1000, &err), &err);
    /* 2. not running: cleanup anyway, then the original's error */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_container_stop(&h, &s, 1000, &e2), &e2, "container not running");
    /* 3. exec.nostop, still there after the grace: jail -r, which fails; the container's
     * own stop signal (INT) instead of TERM */
    s.jail_params = (const char *const[]){"exec.nostop", NULL};
    s.stop_signal = SIGINT;
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_container_stop(&h, &s, 400, &e3), &e3,
              "/usr/sbin/jail exited abnormally with exit code 1: 'jail: 3f9a1c0b7d2e: not found'");
    fbt_done(&h);
}

static void test_update(void **state)
{
    fb_host h = fbt_host("jail_update");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_container_update(&h, "3f9a1c0b7d2e",
                               (const char *const[]){"host.hostname=web", "exec.clean=false",
                                                     "mount.devfs", "allow.raw_sockets", NULL},
                               &err),
           &err);
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_container_update(&h, "3f9a1c0b7d2e", (const char *const[]){"vnet", NULL}, &e2),
              &e2,
              "an error ocurred while updating the container: '/usr/sbin/jail' returned non-zero "
              "exitcode 1 when attempting to modify the container 'jail: 3f9a1c0b7d2e: vnet cannot "
              "be changed after creation'");
    /* only pseudo-parameters: nothing to run */
    fbt_ok(fb_container_update(&h, "3f9a1c0b7d2e", (const char *const[]){"exec.clean", NULL}, &err),
           &err);
    fbt_done(&h);
}

static void test_jails_list(void **state)
{
    fb_host h = fbt_host("jail_list");
    kl_error err = KL_ERROR_INIT;
    fb_jail_info *v = NULL;
    size_t n = 0;
    fbt_ok(fb_jails_list(&h, &v, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "3f9a1c0b7d2e");
    assert_int_equal(v[0].jid, 3);
    assert_string_equal(v[0].path, "/zroot/kleene/container/3f9a1c0b7d2e");
    assert_string_equal(v[0].ipv4[0], "10.13.37.2");
    assert_null(v[0].ipv4[1]);
    assert_string_equal(v[1].name, "7e57c0de0001");
    assert_null(v[1].ipv4[0]);
    fb_jails_free(v, n);
    fbt_done(&h);
}

static void test_mounts(void **state)
{
    fb_host h = fbt_host("jail_mounts");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_mount_prepare(&h, "3f9a1c0b7d2e", "/usr/local/www", false, &err), &err);
    fbt_ok(fb_mount_prepare(&h, "3f9a1c0b7d2e", "/etc/app.conf", true, &err), &err);
    /* B5: no '..', and no symlink on the way */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_mount_prepare(&h, "3f9a1c0b7d2e", "/../../etc", false, &e2), &e2,
              "invalid mount destination '/../../etc': an absolute path without '..' is needed");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(
        fb_mount_prepare(&h, "3f9a1c0b7d2e", "/evil", false, &e3), &e3,
        "could not create the mount destination: /zroot/kleene/container/3f9a1c0b7d2e/evil: a "
        "symlink or not a directory on the way");
    /* B4: volume copy-up only into an empty volume, dotfiles included, no shell */
    fbt_ok(fb_volume_populate(&h, "3f9a1c0b7d2e", "/var/db", "/zroot/kleene/volumes/db", &err),
           &err);
    fbt_ok(fb_volume_populate(&h, "3f9a1c0b7d2e", "/var/db", "/zroot/kleene/volumes/db", &err),
           &err);
    fbt_done(&h);
}

static void test_start_dying(void **state)
{
    fb_host h = fbt_host("jail_start_dying");
    kl_error err = KL_ERROR_INIT;
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e", .user = "root", .cmd = rc_cmd, .driver = FB_NET_HOST};
    fb_proc p;
    fbt_fails(fb_container_start(&h, &s, &p, &err), &err,
              "container 3f9a1c0b7d2e: its previous jail is still being removed");
    fbt_done(&h);
    /* a vnet endpoint without a prefix length is refused before anything runs */
    fb_endpoint ep = {.ifname = "kleene1", .ip4 = "10.13.38.2", .epair = "epair3"};
    fb_jail_spec v = {.cid = "3f9a1c0b7d2e",
                      .user = "root",
                      .cmd = rc_cmd,
                      .driver = FB_NET_VNET,
                      .endpoints = &ep,
                      .n_endpoints = 1};
    char **argv = NULL;
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_jail_create_argv(&h, &v, "/zroot/kleene/container/3f9a1c0b7d2e", &argv, &e2), &e2,
              "container 3f9a1c0b7d2e: invalid prefix length");
}

/* A build whose second RUN step fails, kept (cleanup: false), and one removed. */
static void test_build_failed(void **state)
{
    fb_host h = fbt_host("build_failed");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_container_clone(&h, "c0ffee000001", "zroot/kleene/image/a1b2c3d4e5f6", NULL, &err),
           &err);
    const char *const *steps[2] = {
        (const char *const[]){"/bin/sh", "-c", "pkg install -y nginx", NULL},
        (const char *const[]){"/bin/sh", "-c", "false", NULL}};
    int status[2];
    for (int i = 0; i < 2; i++) {
        fb_jail_spec s = {.cid = "c0ffee000001",
                          .user = "root",
                          .cmd = steps[i],
                          .tty = true,
                          .driver = FB_NET_IPNET};
        fb_proc p;
        fbt_ok(fb_container_start(&h, &s, &p, &err), &err);
        assert_int_equal(fb_wait(h.run, &p, -1, &status[i], &err), 1);
        assert_int_equal(fb_container_ended(&h, &s, &err), 1);
        if (status[i] == 0)
            fbt_ok(fb_build_snapshot(&h, "c0ffee000001", "111111111111", &err), &err);
    }
    assert_int_equal(status[0], 0);
    assert_int_equal(status[1], 1);
    fbt_ok(fb_build_commit(&h, "c0ffee000001", "c0ffee000001", &err), &err);
    fbt_ok(fb_container_destroy(&h, "c0ffee000002", &err), &err);
    fbt_done(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_start_ipnet),
        cmocka_unit_test(test_start_vnet),
        cmocka_unit_test(test_start_host_disabled),
        cmocka_unit_test(test_start_jail_fails),
        cmocka_unit_test(test_start_rollback),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_jails_list),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_build_failed),
        cmocka_unit_test(test_start_dying),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
