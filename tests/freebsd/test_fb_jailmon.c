/* Containers running on the FreeBSD layer through the real engine (kleened-fbsim's link) and
 * the real jail monitor: kleene-jailmon-replay is kleene-jailmon on the replaying runner, so
 * every command the monitor runs (jls, zfs, jail -c, jexec, ifconfig, jail -m ...) is checked
 * against a golden file, while the process lifecycle is real: the monitor is double-forked,
 * relays the jail's output into container.log, answers on monitor.sock, outlives an engine
 * close and open (a kleened restart), and ends with the container. Two golden files per case:
 * the engine's host commands (pf, interfaces) and the monitor's (the jail's); both may name
 * @TDIR@ (the test's directory) and the monitor's @CID@ (the container id). */
#include "fbtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "host/freebsd/jailmon.h"
#include "host/runtime.h"
#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

static char tdir[64];
static fb_runner *cur_run;  /* the engine's replay, for its transcript in failures */
static char cur_state[512]; /* state.json of the test's monitor: killed if a failure left it */

/* An engine call that must succeed: on failure, the error and what the engine did. */
static void dump_transcript(void)
{
    const char *to = getenv("KL_FB_TRANSCRIPT"); /* writing golden files: the whole transcript */
    FILE *f = to && cur_run ? fopen(to, "ae") : NULL;
    if (f) {
        fprintf(f, "=== %s\n%s", tdir, fb_replay_transcript(cur_run));
        fclose(f);
    }
}

static void eng_ok(int rc, const kl_error *err)
{
    if (rc < 0)
        dump_transcript();
    if (rc < 0)
        fail_msg("unexpected error: %s\n--- the engine's commands so far:\n%s", err->msg,
                 cur_run ? fb_replay_transcript(cur_run) : "");
}

static char *tp(const char *rel)
{
    static char bufs[8][256];
    static unsigned k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s%s", tdir, rel);
    return b;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void fresh_dir(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/kl-test-fb-jailmon-XXXXXX");
    assert_non_null(mkdtemp(tdir));
}

static void gone_dir(void)
{
    nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* golden/<name>.golden with @TDIR@, @CID@ and @CANNED@ (tests/freebsd/canned) replaced, written
 * to <tdir>/<name>.golden. The engine's golden files name containers by replay captures
 * ({C1}: bound at the container's `zfs clone`), the monitor's by @CID@. */
static char *materialize(const char *name, const char *cid)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.golden", KL_FB_GOLDEN_DIR, name);
    FILE *in = fopen(path, "re");
    assert_non_null(in);
    char rel[300];
    snprintf(rel, sizeof(rel), "/%s.golden", name);
    char *out_path = xstrdup(tp(rel));
    FILE *out = fopen(out_path, "we");
    assert_non_null(out);
    char line[8192];
    while (fgets(line, sizeof(line), in)) {
        for (char *p = line; *p;) {
            if (!strncmp(p, "@TDIR@", 6)) {
                fputs(tdir, out);
                p += 6;
            } else if (!strncmp(p, "@CANNED@", 8)) {
                fputs(KL_FB_GOLDEN_DIR "/../canned", out);
                p += 8;
            } else if (!strncmp(p, "@CID@", 5)) {
                fputs(cid ? cid : "", out);
                p += 5;
            } else {
                fputc(*p++, out);
            }
        }
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return out_path;
}

/* An image with one (empty) layer, as images_add records it. */
static void add_image(kl_engine *e)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *sroot = images_storage_root(e);
    char layer[13];
    kl_id_new(layer);
    fbt_ok(host_layer_create(sroot, layer, &err), &err);
    fbt_ok(host_layer_seal(sroot, layer, &err), &err);
    const char *layers[] = {layer};
    const char *snaps[] = {NULL};
    _cleanup_json_ json_t *cmd = json_pack("[s]", "/bin/sh");
    _cleanup_json_ json_t *env = json_pack("[s]", "PATH=/bin:/usr/bin");
    images_record r = {.name = "base",
                       .tag = "1",
                       .cmd = cmd,
                       .env = env,
                       .user = "",
                       .layers = layers,
                       .n_layers = 1,
                       .n_new = 1,
                       .snapshots = snaps};
    _cleanup_free_ char *image = images_add(e, &r, &err);
    if (!image)
        fail_msg("images_add: %s", err.msg);
}

static char *new_exec(kl_engine *e, const char *cid, json_t *cmd)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *xc = json_pack("{s:s, s:o, s:s, s:[], s:b}", "container_id", cid, "cmd",
                                          cmd, "user", "", "env", "tty", false);
    char *xid = exec_create(e, xc, &err);
    if (!xid)
        fail_msg("exec_create: %s", err.msg);
    return xid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    kl_buf b = KL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kl_buf_append(&b, chunk, n);
    fclose(f);
    kl_buf_append(&b, "", 1);
    return b.data;
}

/* Wait (up to 10 s) until `path` exists and contains `text`. */
static bool wait_for_text(const char *path, const char *text)
{
    for (int i = 0; i < 1000; i++) {
        _cleanup_free_ char *s = slurp(path);
        if (s && strstr(s, text))
            return true;
        struct timespec d = {0, 10 * 1000000L};
        nanosleep(&d, NULL);
    }
    return false;
}

/* The monitor's replay ended without a difference ("ok" in replay.result). */
static void monitor_replay_ok(kl_engine *e, const char *cid)
{
    _cleanup_free_ char *run = containers_run_dir(e, cid);
    _cleanup_free_ char *path = xasprintf("%s/replay.result", run);
    if (!wait_for_text(path, "\n"))
        fail_msg("the monitor left no replay.result in %s", run);
    _cleanup_free_ char *s = slurp(path);
    if (strcmp(s, "ok\n") != 0)
        fail_msg("the monitor's golden difference: %s", s);
}

/* The monitor's pid from state.json; after the container's end, wait until it is gone. */
static int monitor_pid(kl_engine *e, const char *cid)
{
    _cleanup_free_ char *run = containers_run_dir(e, cid);
    _cleanup_free_ char *path = xasprintf("%s/state.json", run);
    _cleanup_free_ char *s = slurp(path);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    return (int)jx_int(j, "monitor_pid", -1);
}

/* Gone, or a zombie waiting for its reaper (the monitor is no child of ours). */
static bool is_gone(int pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    _cleanup_free_ char *s = slurp(path);
    const char *rp = s ? strrchr(s, ')') : NULL;
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static void wait_gone(int pid)
{
    for (int i = 0; pid > 0 && i < 1000; i++) {
        if (is_gone(pid))
            return;
        struct timespec d = {0, 10 * 1000000L};
        nanosleep(&d, NULL);
    }
    fail_msg("monitor %d still runs", pid);
}

static bool is_running(kl_engine *e, const char *cid)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ins = containers_inspect(e, cid, &err);
    return jx_bool(json_object_get(ins, "container"), "running", false);
}

typedef struct world {
    fb_host h;
    kl_engine *e;
    char *cid;
} world;

/* The engine on golden/<engine_golden>.golden, an image, a container made by `cc`. */
static void world_open(world *w, const char *engine_golden, json_t *cc)
{
    fresh_dir();
    char *g = materialize(engine_golden, NULL);
    w->h = fbt_host_path(g);
    cur_run = w->h.run;
    free(g);
    fb_host_set_default(&w->h);
    kl_error err = KL_ERROR_INIT;
    w->e = engine_open(tp("/root"), tp("/run"), &err);
    if (!w->e)
        fail_msg("engine_open: %s", err.msg);
    add_image(w->e);
    w->cid = cc ? containers_create(w->e, cc, &err) : NULL;
    if (cc && !w->cid)
        fail_msg("containers_create: %s", err.msg);
}

/* The monitor of this test replays golden/<name>.golden. */
static void monitor_on(world *w, const char *name)
{
    _cleanup_free_ char *g = materialize(name, w->cid);
    fb_jailmon_set_program(KL_FB_JAILMON, g);
    _cleanup_free_ char *run = containers_run_dir(w->e, w->cid);
    snprintf(cur_state, sizeof(cur_state), "%s/state.json", run);
}

/* End the monitor whose state.json is at `path` if it still runs (by the pid it wrote). */
static void end_monitor(const char *path)
{
    _cleanup_free_ char *s = slurp(path);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    int pid = (int)jx_int(j, "monitor_pid", -1);
    if (pid > 0 && jx_bool(j, "running", false) && !is_gone(pid))
        kill(pid, SIGKILL);
}

/* After each test: every monitor that a failed test left running (a held jail(8) that no
 * step released) is ended, by the pid it wrote in its container's run directory; the test's
 * directory goes. */
static int teardown(void **state)
{
    (void)state;
    if (cur_state[0])
        end_monitor(cur_state);
    DIR *d = tdir[0] ? opendir(tp("/run/containers")) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char rel[300];
        snprintf(rel, sizeof(rel), "/run/containers/%s/state.json", de->d_name);
        end_monitor(tp(rel));
    }
    if (d)
        closedir(d);
    cur_state[0] = '\0';
    cur_run = NULL;
    if (tdir[0])
        gone_dir();
    tdir[0] = '\0';
    return 0;
}

static void world_close(world *w)
{
    engine_close(w->e);
    dump_transcript();
    fbt_done(&w->h);
    fb_host_set_default(NULL);
    fb_jailmon_set_program(NULL, NULL);
    free(w->cid);
}

/* A container's life on a jail: start (a read-only nullfs mount, -J parameters; its output in
 * container.log as log records), update while it runs (jail -m), an exec
 * into it attached (output, exit code), kleened restarting (engine closed and opened: the
 * monitor and the jail go on), stop (exec.stop, SIGTERM to the jail, cleanup; the exit code is
 * jail(8)'s), the container removed. */
static void test_lifecycle(void **state)
{
    world w;
    world_open(&w, "jailmon_lifecycle_engine", NULL);
    assert_int_equal(mkdir(tp("/site"), 0755), 0);
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s, s:[s, s], s:[{s:s, s:s, s:s, s:b}], s:s}", "image", "base:1",
                  "name", "c1", "network_driver", "ipnet", "jail_param", "allow.raw_sockets",
                  "exec.noclean", "mounts", "type", "nullfs", "source", tp("/site"), "destination",
                  "/usr/local/www", "read_only", true, "stop_signal", "QUIT");
    kl_error cerr = KL_ERROR_INIT;
    w.cid = containers_create(w.e, cc, &cerr);
    if (!w.cid)
        eng_ok(-1, &cerr);
    monitor_on(&w, "jailmon_lifecycle");
    kl_error err = KL_ERROR_INIT;

    _cleanup_free_ char *x1 =
        new_exec(w.e, w.cid, json_pack("[s, s, s]", "/bin/sh", "-c", "echo hello"));
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    assert_true(st.started_container);
    assert_true(is_running(w.e, w.cid));
    _cleanup_free_ char *run = containers_run_dir(w.e, w.cid);
    _cleanup_free_ char *log = xasprintf("%s/container.log", run);
    assert_true(wait_for_text(log, " stdout F hello from the jail\n"));
    int mpid = monitor_pid(w.e, w.cid);
    assert_true(mpid > 0);

    /* a stream attached to the running main process (Docker's attach): the main exec's, and
     * it leaves the jail running when it goes */
    exec_stream *as = exec_stream_attach(w.e, "c1", &err);
    if (!as)
        fail_msg("exec_stream_attach: %s", err.msg);
    assert_string_equal(exec_stream_exec_id(as), x1);
    exec_stream_detach(as);
    assert_true(is_running(w.e, w.cid));

    /* exec into the running jail, attached: jexec's output and exit status */
    _cleanup_free_ char *x2 = new_exec(w.e, w.cid, json_pack("[s, s]", "/bin/echo", "hi"));
    exec_stream *s = exec_stream_open(w.e, x2, false, &err);
    if (!s)
        fail_msg("exec_stream_open: %s", err.msg);
    kl_buf out = KL_BUF_INIT;
    int r;
    for (;;) {
        int which;
        const void *data;
        size_t len;
        r = exec_stream_read(s, &which, &data, &len, 10000, &err);
        if (r != 1)
            break;
        kl_buf_append(&out, data, len);
    }
    assert_int_equal(r, 0);
    int code = -1;
    bool crun = false;
    assert_true(exec_stream_exit(s, &code, &crun));
    assert_int_equal(code, 3);
    assert_true(crun);
    kl_buf_append(&out, "", 1);
    assert_string_equal(out.data, "hi from jexec\n");
    kl_buf_free(&out);
    exec_stream_close(s);

    /* a detached exec with a tty, as user www: kleene-pty in front of jexec; it ends by
     * itself, its end recorded by the monitor (exit code 0) */
    _cleanup_json_ json_t *xc3 =
        json_pack("{s:s, s:[s], s:s, s:[s], s:b}", "container_id", w.cid, "cmd", "/bin/sh", "user",
                  "www", "env", "TERM=xterm", "tty", true);
    _cleanup_free_ char *x3 = exec_create(w.e, xc3, &err);
    if (!x3)
        eng_ok(-1, &err);
    exec_started st3;
    eng_ok(exec_start(w.e, x3, false, false, &st3, &err), &err);
    assert_false(st3.started_container);
    bool x3_done = false;
    for (int i = 0; i < 1000 && !x3_done; i++) {
        _cleanup_json_ json_t *xi = exec_inspect(w.e, x3, &err);
        x3_done = !strcmp(jx_str(xi, "state", ""), "exited");
        if (x3_done)
            assert_int_equal(jx_int(xi, "exit_code", -1), 0);
        else
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    assert_true(x3_done);

    /* kleened restarts: the monitor and the jail go on, the new engine finds them */
    engine_close(w.e);
    w.e = engine_open(tp("/root"), tp("/run"), &err);
    if (!w.e)
        fail_msg("engine_open again: %s", err.msg);
    eng_ok(exec_recover(w.e, &err), &err);
    assert_true(is_running(w.e, w.cid));
    assert_int_equal(monitor_pid(w.e, w.cid), mpid);

    /* update while it runs (§4.7): jail -m with the whole list, pseudo-parameters left out;
     * a refusal is the original's 409 message, and nothing is saved (the name neither) */
    _cleanup_json_ json_t *up = json_pack("{s:[s, s, s]}", "jail_param", "allow.raw_sockets",
                                          "exec.noclean", "allow.sysvipc");
    _cleanup_free_ char *uid = containers_update(w.e, "c1", up, &err);
    if (!uid)
        eng_ok(-1, &err);
    _cleanup_json_ json_t *up2 = json_pack("{s:s, s:[s, s]}", "name", "renamed", "jail_param",
                                           "allow.raw_sockets", "ip4=disable");
    kl_error e3 = KL_ERROR_INIT;
    _cleanup_free_ char *uid2 = containers_update(w.e, "c1", up2, &e3);
    assert_null(uid2);
    _cleanup_free_ char *refusal = xasprintf(
        "an error ocurred while updating the container: '/usr/sbin/jail' returned non-zero "
        "exitcode 1 when attempting to modify the container 'jail: %s: ip4 cannot be changed "
        "after creation'",
        w.cid);
    assert_string_equal(e3.msg, refusal);
    _cleanup_json_ json_t *ins = containers_inspect(w.e, "c1", &err);
    assert_non_null(ins);
    json_t *jp = json_object_get(json_object_get(ins, "container"), "jail_param");
    assert_int_equal(json_array_size(jp), 3);

    /* a signal to the main process: every process of the jail (jail(8) passes none on) */
    char id[13];
    eng_ok(exec_container_kill(w.e, "c1", SIGHUP, id, &err), &err);
    assert_true(is_running(w.e, w.cid));
    /* any other signal too (issue 14); 0 and 65 are none */
    eng_ok(exec_container_kill(w.e, "c1", SIGWINCH, id, &err), &err);
    assert_true(is_running(w.e, w.cid));
    kl_error e4 = KL_ERROR_INIT;
    assert_int_equal(exec_container_kill(w.e, "c1", 65, id, &e4), -1);
    assert_int_equal(e4.code, EINVAL);

    eng_ok(exec_container_stop(w.e, "c1", 2, id, &err), &err);
    assert_string_equal(id, w.cid);
    assert_false(is_running(w.e, w.cid));
    _cleanup_free_ char *stf = xasprintf("%s/state.json", run);
    _cleanup_free_ char *sj = slurp(stf);
    _cleanup_json_ json_t *j = json_loads(sj, 0, NULL);
    assert_int_equal(jx_int(j, "exit_code", -1), 1);
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    /* a second stop: not running */
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(exec_container_stop(w.e, "c1", 2, id, &e2), -1);
    assert_int_equal(e2.code, ENOTCONN);
    eng_ok(containers_remove(w.e, w.cid, id, &err), &err);
    world_close(&w);
}

static char *make_network(kl_engine *e, const char *name, const char *ifname, const char *subnet)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *cfg =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "type", "bridge", "subnet", subnet,
                  "interface", ifname, "gateway", "<auto>");
    char *id = networks_create(e, cfg, &err);
    if (!id)
        eng_ok(-1, &err);
    return id;
}

static void connect_to(kl_engine *e, const char *cid, const char *net, const char *ip)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *cfg =
        json_pack("{s:s, s:s, s:s}", "container", cid, "network", net, "ip_address", ip);
    eng_ok(networks_connect(e, cfg, &err), &err);
}

/* Container networking through the engine (ipnet): the endpoints are handed to the monitor
 * in the start's spec (the alias and ip4.addr at `jail -c`), the published port goes into the
 * pf anchor once the jail runs, a second network is connected and disconnected while the
 * jail runs (through its monitor: alias and `jail -m`; pf each time), and the stop removes
 * the alias (the monitor's cleanup) and the port (the engine's pf). */
static void test_ipnet(void **state)
{
    world w;
    world_open(&w, "jailmon_ipnet_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *n7 = make_network(w.e, "front", "kleene7", "10.13.40.0/24");
    _cleanup_free_ char *n1 = make_network(w.e, "back", "kleene1", "10.13.38.0/24");
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s, s:[{s:[], s:s, s:s, s:s}]}", "image", "base:1", "name", "web",
                  "network_driver", "ipnet", "public_ports", "interfaces", "host_port", "8080",
                  "container_port", "80", "protocol", "tcp");
    w.cid = containers_create(w.e, cc, &err);
    if (!w.cid)
        fail_msg("containers_create: %s", err.msg);
    connect_to(w.e, "web", "front", "10.13.40.5");
    monitor_on(&w, "jailmon_ipnet");

    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_pack("[s]", "/usr/sbin/httpd"));
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    assert_true(is_running(w.e, w.cid));
    int mpid = monitor_pid(w.e, w.cid);

    connect_to(w.e, "web", "back", "10.13.38.5");
    eng_ok(networks_disconnect(w.e, "back", "web", &err), &err);

    char id[13];
    eng_ok(exec_container_stop(w.e, "web", 1, id, &err), &err);
    assert_false(is_running(w.e, w.cid));
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

static json_t *state_of(kl_engine *e, const char *cid)
{
    _cleanup_free_ char *run = containers_run_dir(e, cid);
    _cleanup_free_ char *path = xasprintf("%s/state.json", run);
    _cleanup_free_ char *s = slurp(path);
    return s ? json_loads(s, 0, NULL) : NULL;
}

/* A loopback network through the engine: a cloned lo interface (not a bridge, as in the
 * original, §7.2), an ipnet container on it; the network removed while the container runs
 * (its monitor takes the address back first), the container stopped. */
static void test_loopback(void **state)
{
    world w;
    world_open(&w, "jailmon_loopback_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ncfg =
        json_pack("{s:s, s:s, s:s, s:s}", "name", "lonet", "type", "loopback", "subnet",
                  "10.13.50.0/24", "interface", "kleene9");
    _cleanup_free_ char *nid = networks_create(w.e, ncfg, &err);
    if (!nid)
        eng_ok(-1, &err);
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s}", "image", "base:1", "name", "l1", "network_driver", "ipnet");
    w.cid = containers_create(w.e, cc, &err);
    if (!w.cid)
        fail_msg("containers_create: %s", err.msg);
    connect_to(w.e, "l1", "lonet", "10.13.50.2");
    monitor_on(&w, "jailmon_loopback");
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_array());
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    int mpid = monitor_pid(w.e, w.cid);
    char rid[13];
    eng_ok(networks_remove(w.e, "lonet", rid, &err), &err);
    char id[13];
    eng_ok(exec_container_stop(w.e, "l1", 1, id, &err), &err);
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* vnet through the engine: the endpoint becomes an epair on the bridge, handed to the jail
 * with its address and default route at `jail -c` (the epair in the monitor's state, then in
 * the endpoint and among the network's interfaces in pf until the stop);
 * connecting a running vnet jail is refused as in the original (the endpoint is not kept);
 * the stop destroys the epair. */
static void test_vnet(void **state)
{
    world w;
    world_open(&w, "jailmon_vnet_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *n7 = make_network(w.e, "front", "kleene7", "10.13.40.0/24");
    _cleanup_free_ char *n1 = make_network(w.e, "back", "kleene1", "10.13.38.0/24");
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s}", "image", "base:1", "name", "v1", "network_driver", "vnet");
    w.cid = containers_create(w.e, cc, &err);
    if (!w.cid)
        fail_msg("containers_create: %s", err.msg);
    connect_to(w.e, "v1", "front", "10.13.40.6");
    monitor_on(&w, "jailmon_vnet");
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_array());
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    _cleanup_json_ json_t *j = state_of(w.e, w.cid);
    json_t *ep0 = json_array_get(json_object_get(json_object_get(j, "jail"), "epairs"), 0);
    assert_string_equal(jx_str(ep0, "ifname", ""), "kleene7");
    assert_string_equal(jx_str(ep0, "epair", ""), "epair5");
    /* and in its endpoint, as the original's EndPoint.epair */
    _cleanup_json_ json_t *fi = networks_inspect(w.e, "front", &err);
    json_t *fe = json_array_get(json_object_get(fi, "network_endpoints"), 0);
    assert_string_equal(jx_str(fe, "epair", ""), "epair5");

    _cleanup_json_ json_t *cfg = json_pack("{s:s, s:s, s:s}", "container", "v1", "network", "back",
                                           "ip_address", "10.13.38.6");
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(networks_connect(w.e, cfg, &e2), -1);
    assert_int_equal(e2.code, EBUSY);
    _cleanup_free_ char *want = xasprintf("connecting container %s to network back: cannot "
                                          "connect a running vnet container to a network",
                                          w.cid);
    assert_string_equal(e2.msg, want);
    _cleanup_json_ json_t *ins = networks_inspect(w.e, "back", &err);
    assert_int_equal(json_array_size(json_object_get(ins, "network_endpoints")), 0);

    int mpid = monitor_pid(w.e, w.cid);
    char id[13];
    eng_ok(exec_container_stop(w.e, "v1", 1, id, &err), &err);
    _cleanup_json_ json_t *fi2 = networks_inspect(w.e, "front", &err);
    json_t *fe2 = json_array_get(json_object_get(fi2, "network_endpoints"), 0);
    assert_true(json_is_null(json_object_get(fe2, "epair")));
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* vnet disconnect while the jail runs (§7.5): its monitor takes the epair's b end back from
 * the jail and destroys the epair; the endpoint goes, and the epair leaves pf. */
static void test_vnet_disconnect(void **state)
{
    world w;
    world_open(&w, "jailmon_vnet_disconnect_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *n7 = make_network(w.e, "front", "kleene7", "10.13.40.0/24");
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s}", "image", "base:1", "name", "v2", "network_driver", "vnet");
    w.cid = containers_create(w.e, cc, &err);
    if (!w.cid)
        fail_msg("containers_create: %s", err.msg);
    connect_to(w.e, "v2", "front", "10.13.40.8");
    monitor_on(&w, "jailmon_vnet_disconnect");
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_array());
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    eng_ok(networks_disconnect(w.e, "front", "v2", &err), &err);
    _cleanup_json_ json_t *j = state_of(w.e, w.cid);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "jail"), "epairs")), 0);
    int mpid = monitor_pid(w.e, w.cid);
    char id[13];
    eng_ok(exec_container_stop(w.e, "v2", 1, id, &err), &err);
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* An attached start (klee run without -d): the main process's output on the caller's stream
 * from the first byte, then its end; the jail is gone with jail(8), so the monitor cleaned up
 * and the container does not run. */
static void test_attached_start(void **state)
{
    world w;
    _cleanup_json_ json_t *cc = json_pack("{s:s, s:s}", "image", "base:1", "name", "a1");
    world_open(&w, "jailmon_attached_engine", cc);
    monitor_on(&w, "jailmon_attached");
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_pack("[s, s]", "/bin/echo", "hello"));
    exec_stream *s = exec_stream_open(w.e, x1, true, &err);
    if (!s)
        eng_ok(-1, &err);
    kl_buf out = KL_BUF_INIT;
    int r;
    for (;;) {
        int which;
        const void *data;
        size_t len;
        r = exec_stream_read(s, &which, &data, &len, 10000, &err);
        if (r != 1)
            break;
        kl_buf_append(&out, data, len);
    }
    assert_int_equal(r, 0);
    int code = -1;
    bool crun = true;
    assert_true(exec_stream_exit(s, &code, &crun));
    assert_int_equal(code, 0);
    assert_false(crun);
    kl_buf_append(&out, "", 1);
    assert_string_equal(out.data, "hello\n");
    kl_buf_free(&out);
    int mpid = monitor_pid(w.e, w.cid);
    exec_stream_close(s);
    assert_false(is_running(w.e, w.cid));
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* A jail that runs when its container is started (its monitor died, or the host's jail
 * outlived a kleened that lost its state): taken over, not started again (B13), which the
 * log says; then killed (SIGKILL: no exec.stop, no grace; no jail(8) of ours to wait for). */
static void test_takeover(void **state)
{
    world w;
    _cleanup_json_ json_t *cc = json_pack("{s:s, s:s}", "image", "base:1", "name", "t1");
    world_open(&w, "jailmon_takeover_engine", cc);
    monitor_on(&w, "jailmon_takeover");
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_array());
    exec_started st;
    eng_ok(exec_start(w.e, x1, false, true, &st, &err), &err);
    assert_true(is_running(w.e, w.cid));
    _cleanup_free_ char *run = containers_run_dir(w.e, w.cid);
    _cleanup_free_ char *log = xasprintf("%s/container.log", run);
    _cleanup_free_ char *note = xasprintf(
        "kleene: jail %s was running already: taken over, its command was not run again", w.cid);
    assert_true(wait_for_text(log, note));
    _cleanup_json_ json_t *j = state_of(w.e, w.cid);
    assert_true(jx_bool(json_object_get(j, "jail"), "adopted", false));
    int mpid = monitor_pid(w.e, w.cid);
    char id[13];
    eng_ok(exec_container_kill(w.e, "t1", SIGKILL, id, &err), &err);
    assert_false(is_running(w.e, w.cid));
    wait_gone(mpid);
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* Daemon start with restart policies (FREEBSD-HOST.md §2.2): kleened starts again (the engine
 * opened anew) and exec_recover asks `jls -v` for jails running without a monitor: those of
 * r2 (policy on-startup) and r3 (no policy) are taken over, not run again (B13); then r1
 * (on-startup, no jail) is started by its policy. Each monitor replays
 * <tdir>/mon/<its id>.golden. */
static void test_restart_policy(void **state)
{
    world w;
    world_open(&w, "jailmon_restart_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    char *ids[3];
    const char *names[3] = {"r1", "r2", "r3"};
    const char *policy[3] = {"on-startup", "on-startup", "no"};
    for (int i = 0; i < 3; i++) {
        _cleanup_json_ json_t *cc = json_pack("{s:s, s:s, s:s}", "image", "base:1", "name",
                                              names[i], "restart_policy", policy[i]);
        ids[i] = containers_create(w.e, cc, &err);
        if (!ids[i])
            fail_msg("containers_create: %s", err.msg);
    }
    assert_int_equal(mkdir(tp("/mon"), 0755), 0);
    const char *goldens[3] = {"jailmon_restart_start", "jailmon_restart_takeover",
                              "jailmon_restart_takeover"};
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *g = materialize(goldens[i], ids[i]);
        char rel[64];
        snprintf(rel, sizeof(rel), "/mon/%s.golden", ids[i]);
        assert_int_equal(rename(g, tp(rel)), 0);
    }
    fb_jailmon_set_program(KL_FB_JAILMON, tp("/mon"));

    engine_close(w.e);
    w.e = engine_open(tp("/root"), tp("/run"), &err);
    if (!w.e)
        fail_msg("engine_open again: %s", err.msg);
    eng_ok(exec_recover(w.e, &err), &err);
    for (int i = 0; i < 3; i++) {
        assert_true(is_running(w.e, ids[i]));
        _cleanup_json_ json_t *si = state_of(w.e, ids[i]);
        assert_int_equal(jx_bool(json_object_get(si, "jail"), "adopted", false), i > 0);
    }
    for (int i = 0; i < 3; i++) {
        int mpid = monitor_pid(w.e, ids[i]);
        char id[13];
        eng_ok(exec_container_stop(w.e, ids[i], 1, id, &err), &err);
        wait_gone(mpid);
        monitor_replay_ok(w.e, ids[i]);
    }
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    world_close(&w);
}

/* A start that fails half-way (rctl refuses the memory limit, after the nullfs mount and the
 * alias): the error reaches the API's caller, the monitor undoes the mount and the alias and
 * exits, the container stays stopped, and the firewall is brought back. */
static void test_start_fails(void **state)
{
    world w;
    world_open(&w, "jailmon_fail_engine", NULL);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(mkdir(tp("/data"), 0755), 0);
    _cleanup_free_ char *n7 = make_network(w.e, "front", "kleene7", "10.13.40.0/24");
    _cleanup_json_ json_t *cc =
        json_pack("{s:s, s:s, s:s, s:I, s:[{s:s, s:s, s:s}]}", "image", "base:1", "name", "f1",
                  "network_driver", "ipnet", "memory", (json_int_t)268435456, "mounts", "type",
                  "nullfs", "source", tp("/data"), "destination", "/data");
    w.cid = containers_create(w.e, cc, &err);
    if (!w.cid)
        fail_msg("containers_create: %s", err.msg);
    connect_to(w.e, "f1", "front", "10.13.40.7");
    monitor_on(&w, "jailmon_fail");
    _cleanup_free_ char *x1 = new_exec(w.e, w.cid, json_array());
    exec_started st;
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(exec_start(w.e, x1, false, true, &st, &e2), -1);
    _cleanup_free_ char *want =
        xasprintf("starting container %s: setting resource limits (is kern.racct.enable=1 "
                  "set?): rctl: rctl_add_rule: Operation not permitted",
                  w.cid);
    assert_string_equal(e2.msg, want);
    assert_false(is_running(w.e, w.cid));
    monitor_replay_ok(w.e, w.cid);
    world_close(&w);
}

/* -J on FreeBSD (fbjailparam.c): every jail(8) parameter kept as given, in order; the ones
 * kleened sets itself and malformed names refused. */
static void test_jailparams(void **state)
{
    char *ok[] = {"allow.raw_sockets",
                  "exec.noclean",
                  "mount.nodevfs",
                  "vnet",
                  "exec.stop=\"/bin/sh /etc/rc.shutdown\"",
                  "exec.jail_user=www",
                  "host.hostname=web1",
                  "devfs_ruleset=5",
                  "exec.nostop",
                  NULL};
    host_jailparams jp;
    kl_error err = KL_ERROR_INIT;
    fbt_ok(host_jailparams_parse(ok, &jp, &err), &err);
    for (size_t i = 0; ok[i]; i++)
        assert_string_equal(jp.params[i], ok[i]);
    assert_null(jp.params[9]);
    assert_string_equal(jp.jail_user, "www");
    assert_string_equal(jp.hostname, "web1");
    assert_null(jp.exec_stop); /* exec.nostop, the last word */
    host_container_spec spec = {0};
    host_jailparams_apply(&jp, &spec);
    assert_ptr_equal(spec.jail_params, jp.params);
    host_jailparams_free(&jp);

    struct {
        const char *p, *msg;
    } bad[] = {
        {"path=/tmp", "jail parameter 'path' is set by kleened (the container's own) and cannot "
                      "be given"},
        {"name=x", "jail parameter 'name' is set by kleened (the container's own) and cannot be "
                   "given"},
        {"command=/bin/sh", "jail parameter 'command' is set by kleened (the container's own) "
                            "and cannot be given"},
        {"Host.hostname=x", "invalid jail parameter 'Host.hostname=x': a name is made of a-z, "
                            "0-9, '_' and '.'"},
        {"=x", "invalid jail parameter '=x'"},
        {"", "invalid jail parameter '': a name is needed"},
        {"exec.start=a\nb", "jail parameter 'exec.start': control characters are not allowed"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *one[] = {"allow.raw_sockets", (char *)bad[i].p, NULL};
        kl_error e2 = KL_ERROR_INIT;
        assert_int_equal(host_jailparams_parse(one, &jp, &e2), -1);
        assert_int_equal(e2.code, EINVAL);
        assert_string_equal(e2.msg, bad[i].msg);
        assert_null(jp.params);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lifecycle, teardown),
        cmocka_unit_test_teardown(test_ipnet, teardown),
        cmocka_unit_test_teardown(test_vnet, teardown),
        cmocka_unit_test_teardown(test_vnet_disconnect, teardown),
        cmocka_unit_test_teardown(test_loopback, teardown),
        cmocka_unit_test_teardown(test_attached_start, teardown),
        cmocka_unit_test_teardown(test_takeover, teardown),
        cmocka_unit_test_teardown(test_restart_policy, teardown),
        cmocka_unit_test_teardown(test_start_fails, teardown),
        cmocka_unit_test(test_jailparams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
