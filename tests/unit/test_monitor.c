/* Monitor tests: real containers (busybox rootfs from scripts/mk-busybox-rootfs in a temp dir),
 * each with its own run directory. Need root and busybox-static; skipped otherwise. Every
 * monitor started here is waited for until it has exited; the temp tree is removed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/monitor.h"
#include "lib/jsonx.h"
#include "lib/logrec.h"

static char tmp[64];
static char rootfs[128];
static int seq;

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0)
        return 0;
    snprintf(tmp, sizeof(tmp), "/tmp/kl-mon-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    chmod(tmp, 0755);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s %s >/dev/null", KL_MK_ROOTFS, rootfs);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!tmp[0])
        return 0;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (geteuid() != 0 || !tmp[0])                                                             \
            skip();                                                                                \
    } while (0)

typedef struct ctr {
    char id[32];
    char run_dir[128];
    char *argv[8];
    host_monitor_spec spec;
    host_monitor_info info;
} ctr;

static void ctr_init(ctr *c, const char *script, bool attach)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "klmon%07d%d", seq++, (int)getpid() % 10);
    snprintf(c->run_dir, sizeof(c->run_dir), "%s/run/%s", tmp, c->id);
    c->argv[0] = "/bin/sh";
    c->argv[1] = "-c";
    c->argv[2] = (char *)script;
    c->spec.container = (host_container_spec){.id = c->id,
                                              .rootfs = rootfs,
                                              .hostname = "monhost",
                                              .argv = c->argv,
                                              .stdin_fd = -1,
                                              .stdout_fd = -1,
                                              .stderr_fd = -1};
    c->spec.exec_id = "main0";
    c->spec.run_dir = c->run_dir;
    c->spec.attach = attach;
}

static void ctr_start(ctr *c)
{
    kl_error err = KL_ERROR_INIT;
    int r = host_monitor_start(&c->spec, &c->info, &err);
    if (r < 0)
        fail_msg("host_monitor_start: %s", err.msg);
    assert_true(c->info.monitor_pid > 0);
    assert_true(c->info.container_pid > 0);
}

/* Read a stream until its end: output into out, returns the exit code. */
static int drain(host_monitor *m, char *out, size_t cap, bool *running)
{
    size_t n = 0;
    for (;;) {
        const void *d;
        size_t len;
        int code;
        kl_error err = KL_ERROR_INIT;
        int r = host_monitor_stream_recv(m, &d, &len, &code, running, 10000, &err);
        if (r < 0)
            fail_msg("stream_recv: %s", err.msg);
        if (r == 0) {
            out[n] = '\0';
            return code;
        }
        size_t take = len < cap - 1 - n ? len : cap - 1 - n;
        memcpy(out + n, d, take);
        n += take;
    }
}

/* The monitor is not our child: wait for it with a pidfd. */
static bool wait_gone(int pid, int timeout_ms)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno == ESRCH;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    close(fd);
    return r == 1;
}

static bool exists_in(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static json_t *status_of(const char *run_dir)
{
    kl_error err = KL_ERROR_INIT;
    char *s = host_monitor_status(run_dir, &err);
    if (!s)
        fail_msg("status: %s", err.msg);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(j);
    return j;
}

static void assert_ended(ctr *c)
{
    assert_true(wait_gone(c->info.monitor_pid, 5000));
    assert_false(exists_in(c->run_dir, "monitor.sock"));
    assert_true(exists_in(c->run_dir, "state.json"));
    /* the reaper is gone too */
    assert_true(kill(c->info.container_pid, 0) < 0 && errno == ESRCH);
}

static host_monitor *connect_ok(const char *run_dir)
{
    kl_error err = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &err);
    if (!m)
        fail_msg("connect: %s", err.msg);
    return m;
}

static int exec_attached(host_monitor *m, const char *id, const char *script, bool tty, char *out,
                         size_t cap, bool *running)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    host_monitor_exec_spec xs = {.exec_id = id, .argv = argv, .tty = tty};
    kl_error err = KL_ERROR_INIT;
    if (host_monitor_exec(m, &xs, true, &err) < 0)
        fail_msg("exec: %s", err.msg);
    return drain(m, out, cap, running);
}

static void stop_ok(ctr *c, int grace_ms, int expect)
{
    host_monitor *m = connect_ok(c->run_dir);
    int code = -1;
    kl_error err = KL_ERROR_INIT;
    if (host_monitor_stop(m, grace_ms, &code, &err) < 0)
        fail_msg("stop: %s", err.msg);
    assert_int_equal(code, expect);
    host_monitor_close(m);
    assert_ended(c);
}

static void test_attached_start(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "echo hello; exit 3", true);
    ctr_start(&c);
    assert_non_null(c.info.stream);
    char out[256];
    bool running = true;
    assert_int_equal(drain(c.info.stream, out, sizeof(out), &running), 3);
    assert_string_equal(out, "hello\n");
    assert_false(running);
    host_monitor_close(c.info.stream);
    /* final state, read from the file the monitor left */
    json_t *j = status_of(c.run_dir);
    assert_false(jx_bool(j, "running", true));
    assert_int_equal(jx_int(j, "exit_code", -1), 3);
    json_t *e0 = json_array_get(json_object_get(j, "execs"), 0);
    assert_string_equal(jx_str(e0, "id", ""), "main0");
    assert_int_equal(jx_int(e0, "exit_code", -1), 3);
    json_decref(j);
    assert_ended(&c);
}

static void test_exec_and_stop(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "echo started; sleep 30", false);
    ctr_start(&c);
    assert_null(c.info.stream);
    host_monitor *m = connect_ok(c.run_dir);
    char out[4096];
    bool running = false;
    assert_int_equal(exec_attached(m, "x1", "hostname", false, out, sizeof(out), &running), 0);
    assert_string_equal(out, "monhost\n");
    assert_true(running);
    host_monitor_close(m);

    /* tty */
    m = connect_ok(c.run_dir);
    assert_int_equal(exec_attached(m, "x2", "tty", true, out, sizeof(out), &running), 0);
    assert_true(strncmp(out, "/dev/pts/", 9) == 0);
    host_monitor_close(m);

    /* tty size from the exec spec, then a resize on the stream */
    m = connect_ok(c.run_dir);
    char *st[] = {"/bin/sh", "-c", "stty size; read x; stty size", NULL};
    host_monitor_exec_spec xt = {.exec_id = "xt", .argv = st, .tty = true, .rows = 40, .cols = 100};
    kl_error e1 = KL_ERROR_INIT;
    assert_int_equal(host_monitor_exec(m, &xt, true, &e1), 0);
    const void *d0;
    size_t l0;
    int c0;
    assert_int_equal(host_monitor_stream_recv(m, &d0, &l0, &c0, &running, 5000, &e1), 1);
    assert_true(l0 >= 6 && memcmp(d0, "40 100", 6) == 0);
    assert_int_equal(host_monitor_stream_resize(m, 50, 120, &e1), 0);
    assert_int_equal(host_monitor_stream_input(m, "\n", 1, &e1), 0);
    assert_int_equal(drain(m, out, sizeof(out), &running), 0);
    assert_non_null(strstr(out, "50 120"));
    host_monitor_close(m);

    /* input forwarding; close_input ends cat */
    m = connect_ok(c.run_dir);
    char *cat[] = {"cat", NULL};
    host_monitor_exec_spec xs = {.exec_id = "x3", .argv = cat};
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_monitor_exec(m, &xs, true, &err), 0);
    assert_int_equal(host_monitor_stream_input(m, "ping\n", 5, &err), 0);
    assert_int_equal(host_monitor_stream_close_input(m, &err), 0);
    assert_int_equal(drain(m, out, sizeof(out), &running), 0);
    assert_string_equal(out, "ping\n");
    assert_true(running);
    host_monitor_close(m);

    /* a detached exec, listed by STATUS, killed with SIGTERM */
    m = connect_ok(c.run_dir);
    char *sl[] = {"sleep", "30", NULL};
    host_monitor_exec_spec xs2 = {.exec_id = "x4", .argv = sl};
    assert_int_equal(host_monitor_exec(m, &xs2, false, &err), 0);
    host_monitor_close(m);
    json_t *j = status_of(c.run_dir);
    assert_true(jx_bool(j, "running", false));
    json_t *execs = json_object_get(j, "execs");
    assert_int_equal(json_array_size(execs), 6);
    json_t *x4 = json_array_get(execs, 5);
    assert_string_equal(jx_str(x4, "id", ""), "x4");
    assert_true(jx_bool(x4, "running", false));
    assert_int_equal(jx_int(json_array_get(execs, 1), "exit_code", -1), 0);
    json_decref(j);

    m = connect_ok(c.run_dir);
    assert_int_equal(host_monitor_attach(m, "x4", false, &err), 0);
    host_monitor *k = connect_ok(c.run_dir);
    assert_int_equal(host_monitor_kill(k, "x4", SIGTERM, &err), 0);
    host_monitor_close(k);
    assert_int_equal(drain(m, out, sizeof(out), &running), 143);
    assert_true(running);
    host_monitor_close(m);

    /* the log has the main output, as records (lib/logrec.h) */
    m = connect_ok(c.run_dir);
    assert_int_equal(host_monitor_log(m, false, &err), 0);
    assert_int_equal(drain(m, out, sizeof(out), &running), -1);
    kl_logrec rec;
    kl_logrec_decode((unsigned char *)out, strlen(out), &rec);
    assert_int_equal(rec.stream, KL_STREAM_STDOUT);
    assert_int_equal(strlen(rec.time), 27);
    assert_int_equal(rec.len, 8);
    assert_memory_equal(rec.data, "started\n", 8);
    assert_true(running);
    host_monitor_close(m);

    /* an exec still attached when the container stops ends with container_running=false */
    int code;
    m = connect_ok(c.run_dir);
    char *sl2[] = {"sleep", "31", NULL};
    host_monitor_exec_spec xs3 = {.exec_id = "x5", .argv = sl2};
    assert_int_equal(host_monitor_exec(m, &xs3, true, &err), 0);
    host_monitor *lf = connect_ok(c.run_dir); /* a log follower sees the end too */
    assert_int_equal(host_monitor_log(lf, true, &err), 0);
    const void *d;
    size_t len;
    assert_int_equal(host_monitor_stream_recv(lf, &d, &len, &code, &running, 5000, &err), 1);
    assert_true(len > 18 && memcmp((const char *)d + len - 18, " stdout F started\n", 18) == 0);
    /* the follow request has been served */
    stop_ok(&c, 2000, 143);
    assert_int_equal(drain(lf, out, sizeof(out), &running), 143);
    assert_string_equal(out, "");
    assert_false(running);
    host_monitor_close(lf);
    running = true;
    code = drain(m, out, sizeof(out), &running);
    assert_true(code == 143 || code == 137);
    assert_false(running);
    host_monitor_close(m);
}

static void test_stop_trapped(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "trap '' TERM; echo ready; sleep 30", true);
    ctr_start(&c);
    /* stop only once the trap is in place */
    const void *d;
    size_t len;
    int code;
    bool running;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_monitor_stream_recv(c.info.stream, &d, &len, &code, &running, 5000, &err),
                     1);
    assert_memory_equal(d, "ready\n", 6);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    stop_ok(&c, 300, 137);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char out[64];
    assert_int_equal(drain(c.info.stream, out, sizeof(out), &running), 137);
    assert_false(running);
    host_monitor_close(c.info.stream);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s >= 0.25 && s < 5);
}

static void test_log_cap(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done", true);
    c.spec.log_max_bytes = 4096;
    ctr_start(&c);
    static char out[65536];
    bool running;
    assert_int_equal(drain(c.info.stream, out, sizeof(out), &running), 0);
    host_monitor_close(c.info.stream);
    assert_non_null(strstr(out, "line0\nline1\n")); /* the attached stream got everything */
    assert_non_null(strstr(out, "line2999\n"));
    assert_ended(&c);
    char p[256];
    snprintf(p, sizeof(p), "%s/container.log", c.run_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    static char log[16384];
    size_t n = fread(log, 1, sizeof(log) - 1, f);
    fclose(f);
    log[n] = '\0';
    assert_true(n <= 4096 && n >= 1024);
    assert_null(strstr(log, "line0\n"));
    if (n < 19 || strcmp(log + n - 19, " stdout F line2999\n") != 0)
        fail_msg("log ends with: %s", log + (n > 80 ? n - 80 : 0));
    kl_logrec rec; /* trimmed at a record's start */
    kl_logrec_decode((unsigned char *)log, (size_t)(strchr(log, '\n') + 1 - log), &rec);
    assert_int_equal(strlen(rec.time), 27);
    assert_true(strncmp((const char *)rec.data, "line", 4) == 0);
}

/* Without a tty, stdout and stderr stay apart: on the stream ('O'/'e' frames, also those kept
 * for the first attach) and in the log (records per stream; a line without its newline is a
 * partial record). */
static void test_streams_apart(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "echo out1; echo err1 >&2; sleep 0.2; printf out2; sleep 0.2; echo err2 >&2",
             false);
    ctr_start(&c);
    kl_error err = KL_ERROR_INIT;
    host_monitor *m = connect_ok(c.run_dir);
    assert_int_equal(host_monitor_attach(m, "main0", false, &err), 0);
    char out[2][256] = {"", ""};
    size_t n[2] = {0, 0};
    for (;;) {
        const void *d;
        size_t len;
        int code, stream;
        bool running;
        int r = host_monitor_stream_read(m, &stream, &d, &len, &code, &running, 10000, &err);
        assert_true(r >= 0);
        if (r == 0) {
            assert_int_equal(code, 0);
            break;
        }
        int i = stream == HOST_STREAM_STDERR ? 1 : 0;
        assert_true(n[i] + len < sizeof(out[i]));
        memcpy(out[i] + n[i], d, len);
        n[i] += len;
        out[i][n[i]] = '\0';
    }
    host_monitor_close(m);
    assert_string_equal(out[0], "out1\nout2");
    assert_string_equal(out[1], "err1\nerr2\n");
    assert_ended(&c);

    char p[256];
    snprintf(p, sizeof(p), "%s/container.log", c.run_dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[256];
    const char *want[][3] = {{"stdout", "F", "out1"},
                             {"stderr", "F", "err1"},
                             {"stdout", "P", "out2"},
                             {"stderr", "F", "err2"}};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(fgets(line, sizeof(line), f));
        char want_tail[64];
        snprintf(want_tail, sizeof(want_tail), " %s %s %s\n", want[i][0], want[i][1], want[i][2]);
        size_t l = strlen(line), w = strlen(want_tail);
        if (l < w || strcmp(line + l - w, want_tail) != 0)
            fail_msg("log line %zu: '%s', want '...%s'", i, line, want_tail);
    }
    assert_null(fgets(line, sizeof(line), f));
    fclose(f);
}

/* Read stream output until `want` has been seen (10 s). */
static void expect_out(host_monitor *m, const char *want, const char *not_before)
{
    char seen[4096] = "";
    size_t n = 0;
    while (!strstr(seen, want)) {
        const void *d;
        size_t len;
        int code;
        bool running;
        kl_error err = KL_ERROR_INIT;
        int r = host_monitor_stream_recv(m, &d, &len, &code, &running, 10000, &err);
        if (r <= 0)
            fail_msg("waiting for '%s': %s (seen '%s')", want, r < 0 ? err.msg : "end", seen);
        size_t take = len < sizeof(seen) - 1 - n ? len : sizeof(seen) - 1 - n;
        memcpy(seen + n, d, take);
        n += take;
        seen[n] = '\0';
    }
    if (not_before && strstr(seen, not_before))
        fail_msg("'%s' came before '%s'", not_before, want);
}

static bool log_has(const ctr *c, const char *text)
{
    char p[256], buf[4096];
    snprintf(p, sizeof(p), "%s/container.log", c->run_dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* Several connections attached to the main process at once (Docker's attach): each gets its
 * output, each may write its input; one that goes leaves the process's stdin open; an attach
 * "from now" does not get the output kept for a first attach; the end reaches all. */
static void test_main_shared(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "echo early; while read l; do echo got:$l; done; echo closed; exit 4", false);
    ctr_start(&c);
    kl_error err = KL_ERROR_INIT;
    for (int i = 0; i < 1000 && !log_has(&c, "early"); i++)
        usleep(10000);
    assert_true(log_has(&c, "early")); /* kept for a first attach, which a is not */
    host_monitor *a = connect_ok(c.run_dir);
    host_monitor *b = connect_ok(c.run_dir);
    host_monitor *d = connect_ok(c.run_dir);
    assert_int_equal(host_monitor_attach(a, "main0", true, &err), 0);
    assert_int_equal(host_monitor_attach(b, "main0", false, &err), 0);
    assert_int_equal(host_monitor_stream_input(a, "one\n", 4, &err), 0);
    expect_out(a, "got:one\n", "early");
    expect_out(b, "got:one\n", "early");
    /* a goes: b still types, and the process still reads */
    host_monitor_close(a);
    assert_int_equal(host_monitor_stream_input(b, "two\n", 4, &err), 0);
    expect_out(b, "got:two\n", NULL);
    /* a third one, attached later, sees what comes next */
    assert_int_equal(host_monitor_attach(d, "main0", true, &err), 0);
    assert_int_equal(host_monitor_stream_input(d, "three\n", 6, &err), 0);
    expect_out(b, "got:three\n", NULL);
    expect_out(d, "got:three\n", "got:two");
    assert_int_equal(host_monitor_stream_close_input(d, &err), 0);
    char out[256];
    bool running = true;
    assert_int_equal(drain(b, out, sizeof(out), &running), 4);
    assert_string_equal(out, "closed\n");
    assert_false(running);
    assert_int_equal(drain(d, out, sizeof(out), &running), 4);
    assert_string_equal(out, "closed\n");
    host_monitor_close(b);
    host_monitor_close(d);
    assert_ended(&c);
}

static void test_survives_parent(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "sleep 30", false);
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        close(pp[0]);
        kl_error err = KL_ERROR_INIT;
        host_monitor_info info;
        if (host_monitor_start(&c.spec, &info, &err) < 0)
            _exit(1);
        if (write(pp[1], &info, sizeof(info)) != sizeof(info))
            _exit(1);
        pause();
        _exit(0);
    }
    close(pp[1]);
    assert_int_equal(read(pp[0], &c.info, sizeof(c.info)), (ssize_t)sizeof(c.info));
    close(pp[0]);
    kill(kid, SIGKILL); /* "kill -9 kleened" */
    int st;
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(kill(c.info.monitor_pid, 0) == 0);
    host_monitor *m = connect_ok(c.run_dir);
    char out[256];
    bool running;
    assert_int_equal(exec_attached(m, "after", "echo alive", false, out, sizeof(out), &running), 0);
    assert_string_equal(out, "alive\n");
    host_monitor_close(m);
    stop_ok(&c, 2000, 143);
}

/* The first line of /proc/<pid>/<file> that starts with key, or "" (static buffer). */
static const char *proc_line(int pid, const char *file, const char *key)
{
    static char line[4096];
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/%s", pid, file);
    FILE *f = fopen(p, "re");
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, key) != NULL;
    if (f)
        fclose(f);
    return found ? line : "";
}

/* The monitor is the kleene-monitor program, not a copy of its caller: it maps none of the
 * caller's libraries; and the container still gets the seccomp filter, which the monitor
 * cannot compile (kleened hands it over). */
static void test_own_program(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "sleep 30", false);
    ctr_start(&c);
    char p[64], exe[4096];
    snprintf(p, sizeof(p), "/proc/%d/exe", c.info.monitor_pid);
    ssize_t n = readlink(p, exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_string_equal(strrchr(exe, '/') + 1, "kleene-monitor");
    assert_string_equal(proc_line(c.info.monitor_pid, "maps", "cmocka"), "");
    assert_string_equal(proc_line(c.info.monitor_pid, "maps", "sqlite"), "");
    assert_string_equal(proc_line(c.info.monitor_pid, "maps", "seccomp"), "");
    assert_string_equal(proc_line(c.info.container_pid, "status", "Seccomp:"), "Seccomp:\t2\n");
    /* not a session leader, not our child */
    assert_true(getsid(c.info.monitor_pid) != c.info.monitor_pid);
    assert_true(getsid(c.info.monitor_pid) != getsid(0));
    assert_int_equal(waitpid(c.info.monitor_pid, NULL, WNOHANG), -1);
    stop_ok(&c, 2000, 143);
}

/* A second start on a run directory whose monitor lives fails, and leaves that one alone. */
static void test_double_start_busy(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "sleep 30", false);
    ctr_start(&c);
    host_monitor_info again;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_monitor_start(&c.spec, &again, &err), -1);
    assert_non_null(strstr(err.msg, "already running"));
    assert_true(exists_in(c.run_dir, "monitor.sock"));
    host_monitor *m = connect_ok(c.run_dir);
    host_monitor_close(m);
    stop_ok(&c, 2000, 143);
}

static bool is_mountpoint(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof(line), f)) {
        char mp[2048];
        if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) == 1 && strcmp(mp, path) == 0)
            found = true;
    }
    if (f)
        fclose(f);
    return found;
}

static void test_unmount_on_exit(void **state)
{
    (void)state;
    NEED_ROOT();
    char mnt[128];
    snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
    assert_int_equal(mkdir(mnt, 0755), 0);
    assert_int_equal(mount(rootfs, mnt, NULL, MS_BIND, NULL), 0);
    assert_true(is_mountpoint(mnt));
    ctr c;
    ctr_init(&c, "echo bye", true);
    c.spec.container.rootfs = mnt;
    char *um[] = {mnt, NULL};
    c.spec.unmount_on_exit = um;
    ctr_start(&c);
    char out[64];
    bool running;
    int code = drain(c.info.stream, out, sizeof(out), &running);
    host_monitor_close(c.info.stream);
    if (is_mountpoint(mnt))
        umount2(mnt, MNT_DETACH); /* don't leave it behind when the assertion fails */
    assert_int_equal(code, 0);
    assert_string_equal(out, "bye\n");
    assert_ended(&c);
    assert_false(is_mountpoint(mnt));
    rmdir(mnt);
}

/* caller_unmounts with the stream open at the end: the 'Z' comes with the mount still in
 * place (the caller unmounts); with the stream closed before the end, the monitor unmounts. */
static void test_caller_unmounts(void **state)
{
    (void)state;
    NEED_ROOT();
    char mnt[128];
    snprintf(mnt, sizeof(mnt), "%s/mnt2", tmp);
    assert_int_equal(mkdir(mnt, 0755), 0);
    for (int open_at_end = 1; open_at_end >= 0; open_at_end--) {
        assert_int_equal(mount(rootfs, mnt, NULL, MS_BIND, NULL), 0);
        ctr c;
        ctr_init(&c, open_at_end ? "echo bye" : "sleep 0.3", true);
        c.spec.container.rootfs = mnt;
        char *um[] = {mnt, NULL};
        c.spec.unmount_on_exit = um;
        c.spec.caller_unmounts = true;
        ctr_start(&c);
        int code = -1;
        if (open_at_end) {
            char out[64];
            bool running;
            code = drain(c.info.stream, out, sizeof(out), &running);
            assert_string_equal(out, "bye\n");
        } else {
            code = 0;
        }
        host_monitor_close(c.info.stream);
        assert_ended(&c);
        bool mounted = is_mountpoint(mnt);
        if (mounted)
            umount2(mnt, MNT_DETACH);
        assert_int_equal(code, 0);
        assert_int_equal(mounted, open_at_end);
    }
    rmdir(mnt);
}

static void test_start_error(void **state)
{
    (void)state;
    NEED_ROOT();
    ctr c;
    ctr_init(&c, "x", false);
    c.argv[0] = "/no/such/binary";
    c.argv[1] = NULL;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_monitor_start(&c.spec, &c.info, &err), -1);
    assert_non_null(strstr(err.msg, "/no/such/binary"));
    assert_false(exists_in(c.run_dir, "monitor.sock"));
    /* no monitor to connect to */
    assert_null(host_monitor_connect(c.run_dir, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attached_start),    cmocka_unit_test(test_exec_and_stop),
        cmocka_unit_test(test_stop_trapped),      cmocka_unit_test(test_log_cap),
        cmocka_unit_test(test_streams_apart),     cmocka_unit_test(test_survives_parent),
        cmocka_unit_test(test_unmount_on_exit),   cmocka_unit_test(test_caller_unmounts),
        cmocka_unit_test(test_start_error),       cmocka_unit_test(test_own_program),
        cmocka_unit_test(test_double_start_busy), cmocka_unit_test(test_main_shared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
