/* Exec instances (engine/exec.h): the merge rules of API.md §8.2 and the wire error messages
 * of §6/§7.3 for instances and containers that are not running.
 *
 * The container records side (containers.c) is another module: this test brings its own
 * fixture — rows inserted into the store directly and weak stand-ins for the containers.h
 * lookups (the real ones replace them at link time when the engine library provides them
 * and they are pulled in). Real starts are covered by tests/e2e/api_exec.bats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

static kl_engine *g_engine;

#define CID "0123456789ab"
#define IID "aaaaaaaaaaaa"

/* ---- fixture: the containers.h side ------------------------------------------------------ */

__attribute__((weak)) void container_record_clear(container_record *r)
{
    free(r->name);
    free(r->image_id);
    free(r->image_ref);
    strv_free(r->cmd);
    free(r->user);
    strv_free(r->env);
    strv_free(r->jail_param);
    free(r->network_driver);
    json_decref(r->public_ports);
    free(r->restart_policy);
    free(r->created);
    strv_free(r->image_cmd);
    strv_free(r->image_env);
    free(r->image_user);
    memset(r, 0, sizeof(*r));
}

__attribute__((weak)) int containers_get(kl_engine *e, const char *ident, container_record *out,
                                         kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(ident, CID) != 0 && strcmp(ident, "testcont") != 0)
        return kl_error_set(err, ENOENT, "container not found");
    snprintf(out->id, sizeof(out->id), "%s", CID);
    out->name = xstrdup("testcont");
    out->image_id = xstrdup(IID);
    out->image_ref = xstrdup(IID);
    out->cmd = xcalloc(1, sizeof(char *));
    out->user = xstrdup("");
    out->env = xcalloc(1, sizeof(char *));
    out->jail_param = xcalloc(1, sizeof(char *));
    out->network_driver = xstrdup("host");
    out->restart_policy = xstrdup("no");
    out->image_cmd = xcalloc(2, sizeof(char *));
    out->image_cmd[0] = xstrdup("/bin/sh");
    out->image_env = xcalloc(1, sizeof(char *));
    out->image_user = xstrdup("root");
    return 0;
}

__attribute__((weak)) char *containers_dir(kl_engine *e, const char *id)
{
    return xasprintf("%s/container/%s", e->root, id);
}

__attribute__((weak)) char *containers_run_dir(kl_engine *e, const char *id)
{
    return xasprintf("%s/run/containers/%s", e->root, id);
}

__attribute__((weak)) bool containers_is_running(kl_engine *e, const char *id)
{
    return false;
}

__attribute__((weak)) json_t *containers_list(kl_engine *e, bool all, kl_error *err)
{
    return json_array();
}

/* ---- setup ------------------------------------------------------------------------------ */

static char g_dir[64];

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_exec.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    kl_error err = KL_ERROR_INIT;
    g_engine = engine_open(g_dir, NULL, &err);
    assert_non_null(g_engine);
    /* The rows the execs table refers to (foreign keys). */
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(store_exec(g_engine->store,
                                "INSERT INTO images (id, created) VALUES ('" IID "', 'x');"
                                "INSERT INTO containers (id, name, image_id, created) VALUES "
                                "('" CID "', 'testcont', '" IID "', 'x');",
                                &e2),
                     0);
    return 0;
}

static int teardown(void **state)
{
    engine_close(g_engine);
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", g_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ---- merge ------------------------------------------------------------------------------ */

static char *V0[] = {NULL};

static void fill(container_record *c, char **cmd, const char *user, char **env, char **icmd,
                 const char *iuser, char **ienv)
{
    memset(c, 0, sizeof(*c));
    c->cmd = cmd;
    c->user = (char *)user;
    c->env = env;
    c->image_cmd = icmd;
    c->image_user = (char *)iuser;
    c->image_env = ienv;
}

static void test_cwd(void **state)
{
    (void)state;
    container_record c = {0};
    assert_string_equal(exec_cwd(&c, NULL), "/");
    c.image_workdir = "/img";
    assert_string_equal(exec_cwd(&c, ""), "/img");
    c.workdir = "";
    assert_string_equal(exec_cwd(&c, NULL), "/img");
    c.workdir = "/ctr";
    assert_string_equal(exec_cwd(&c, ""), "/ctr");
    assert_string_equal(exec_cwd(&c, "/exec"), "/exec");
}

static void test_merge_cmd(void **state)
{
    char *ccmd[] = {"/bin/container", NULL}, *icmd[] = {"/bin/image", NULL};
    char *xcmd[] = {"/bin/exec", "arg", NULL};
    container_record c;
    exec_merged m;
    kl_error err = KL_ERROR_INIT;

    fill(&c, ccmd, "", V0, icmd, "root", V0);
    assert_int_equal(exec_merge(&c, xcmd, "", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.argv[0], "/bin/exec");
    assert_string_equal(m.argv[1], "arg");
    assert_null(m.argv[2]);
    exec_merged_clear(&m);

    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.argv[0], "/bin/container");
    exec_merged_clear(&m);

    fill(&c, V0, "", V0, icmd, "root", V0);
    assert_int_equal(exec_merge(&c, NULL, "", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.argv[0], "/bin/image");
    exec_merged_clear(&m);

    fill(&c, V0, "", V0, V0, "root", V0);
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

static void assert_argv(char **argv, const char *const *want, size_t n)
{
    assert_int_equal(strv_len(argv), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(argv[i], want[i]);
}

/* Docker's rule: the image's entrypoint + (exec cmd, else container cmd, else image cmd) at
 * the container's start; an exec into a running container runs its cmd alone. */
static void test_merge_entrypoint(void **state)
{
    char *ep[] = {"echo", "hello", NULL}, *icmd[] = {"world", NULL};
    char *ccmd[] = {"container", NULL}, *xcmd[] = {"there", "again", NULL};
    container_record c;
    exec_merged m;
    kl_error err = KL_ERROR_INIT;

    /* no entrypoint: unchanged */
    fill(&c, V0, "", V0, icmd, "root", V0);
    c.image_entrypoint = V0;
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"world"}, 1);
    exec_merged_clear(&m);

    /* entrypoint + image cmd */
    c.image_entrypoint = ep;
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"echo", "hello", "world"}, 3);
    exec_merged_clear(&m);

    /* entrypoint + exec cmd (klee run IMAGE args) */
    assert_int_equal(exec_merge(&c, xcmd, "", V0, NULL, false, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"echo", "hello", "there", "again"}, 4);
    exec_merged_clear(&m);

    /* entrypoint + container cmd */
    c.cmd = ccmd;
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"echo", "hello", "container"}, 3);
    exec_merged_clear(&m);

    /* entrypoint alone when no cmd anywhere: not an error */
    fill(&c, V0, "", V0, V0, "root", V0);
    c.image_entrypoint = ep;
    assert_int_equal(exec_merge(&c, NULL, "", V0, NULL, false, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"echo", "hello"}, 2);
    exec_merged_clear(&m);

    /* an exec into a running container does not go through the entrypoint ... */
    fill(&c, V0, "", V0, icmd, "root", V0);
    c.image_entrypoint = ep;
    assert_int_equal(exec_merge(&c, xcmd, "", V0, NULL, true, &m, &err), 0);
    assert_argv(m.argv, (const char *[]){"there", "again"}, 2);
    exec_merged_clear(&m);
    /* ... so with no cmd at all there is nothing to run */
    fill(&c, V0, "", V0, V0, "root", V0);
    c.image_entrypoint = ep;
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, true, &m, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

static void test_merge_user(void **state)
{
    char *icmd[] = {"/bin/sh", NULL};
    container_record c;
    exec_merged m;
    kl_error err = KL_ERROR_INIT;

    fill(&c, V0, "ctruser", V0, icmd, "imguser", V0);
    assert_int_equal(exec_merge(&c, V0, "execuser", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.user, "execuser");
    exec_merged_clear(&m);
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.user, "ctruser");
    exec_merged_clear(&m);

    fill(&c, V0, "", V0, icmd, "imguser", V0);
    assert_int_equal(exec_merge(&c, V0, NULL, V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.user, "imguser");
    exec_merged_clear(&m);

    fill(&c, V0, "", V0, icmd, NULL, V0);
    assert_int_equal(exec_merge(&c, V0, "", V0, NULL, false, &m, &err), 0);
    assert_string_equal(m.user, "root");
    exec_merged_clear(&m);

    /* exec.jail_user overrides the container's user (API.md Appendix A) ... */
    char *params[] = {"exec.jail_user=nobody", NULL};
    host_jailparams jp;
    assert_int_equal(host_jailparams_parse(params, &jp, &err), 0);
    fill(&c, V0, "ctruser", V0, icmd, "imguser", V0);
    assert_int_equal(exec_merge(&c, V0, "", V0, &jp, false, &m, &err), 0);
    assert_string_equal(m.user, "nobody");
    exec_merged_clear(&m);
    /* ... and, at the container's start, an exec's user too (jail -c exec.jail_user=...) */
    assert_int_equal(exec_merge(&c, V0, "execuser", V0, &jp, false, &m, &err), 0);
    assert_string_equal(m.user, "nobody");
    exec_merged_clear(&m);
    /* but an exec into a running container with an explicit user (jexec -U) keeps it. */
    assert_int_equal(exec_merge(&c, V0, "execuser", V0, &jp, true, &m, &err), 0);
    assert_string_equal(m.user, "execuser");
    exec_merged_clear(&m);
    host_jailparams_free(&jp);
}

static void test_merge_env(void **state)
{
    char *icmd[] = {"/bin/sh", NULL};
    char *ienv[] = {"TEST=lol", "TEST2=lool test", "PATH=/img", NULL};
    char *cenv[] = {"TEST=new_value", "C=1", NULL};
    char *xenv[] = {"C=2", "X=3", "noequals", NULL};
    container_record c;
    exec_merged m;
    kl_error err = KL_ERROR_INIT;
    fill(&c, V0, "", cenv, icmd, "root", ienv);
    assert_int_equal(exec_merge(&c, V0, "", xenv, NULL, false, &m, &err), 0);
    const char *want[] = {"TEST=new_value", "TEST2=lool test", "PATH=/img", "C=2", "X=3"};
    assert_int_equal(strv_len(m.env), KL_ARRAY_SIZE(want));
    for (size_t i = 0; i < KL_ARRAY_SIZE(want); i++)
        assert_string_equal(m.env[i], want[i]);
    exec_merged_clear(&m);
}

/* ---- instance errors -------------------------------------------------------------------- */

static char *create(const char *json)
{
    _cleanup_json_ json_t *cfg = json_loads(json, 0, NULL);
    kl_error err = KL_ERROR_INIT;
    char *id = exec_create(g_engine, cfg, &err);
    if (!id)
        fprintf(stderr, "exec_create: %s\n", err.msg);
    return id;
}

static void test_create(void **state)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *bad = json_pack("{s:s}", "container_id", "nonexisting");
    assert_null(exec_create(g_engine, bad, &err));
    assert_string_equal(err.msg, "container not found");
    /* missing container_id: the original crashes; we say the same as for an unknown one */
    err = (kl_error)KL_ERROR_INIT;
    _cleanup_json_ json_t *none = json_object();
    assert_null(exec_create(g_engine, none, &err));
    assert_string_equal(err.msg, "container not found");

    /* by name; 12 hex id; stored with the resolved container id and the config */
    _cleanup_free_ char *id = create("{\"container_id\":\"testcont\",\"cmd\":[\"echo\",\"hi\"],"
                                     "\"user\":\"\",\"env\":[],\"tty\":true,\"tty_rows\":40}");
    assert_non_null(id);
    assert_true(strlen(id) == 12 && strspn(id, "0123456789abcdef") == 12);
    store_lock(g_engine->store);
    sqlite3_stmt *st = store_prepare(
        g_engine->store, "SELECT container_id, state, doc FROM execs WHERE id = ?", &err);
    assert_non_null(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), CID);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "created");
    _cleanup_json_ json_t *doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
    sqlite3_finalize(st);
    store_unlock(g_engine->store);
    assert_true(jx_bool(doc, "tty", false));
    assert_int_equal(jx_int(doc, "tty_rows", 0), 40);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "cmd"), 1)), "hi");
}

static void test_start_errors(void **state)
{
    kl_error err = KL_ERROR_INIT;
    exec_started st;
    assert_int_equal(exec_start(g_engine, "wrongid", true, true, &st, &err), -1);
    assert_string_equal(err.msg, "could not find execution instance matching 'wrongid'");

    _cleanup_free_ char *id = create("{\"container_id\":\"" CID "\",\"cmd\":[],\"user\":\"\","
                                     "\"env\":[],\"tty\":false}");
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_start(g_engine, id, false, false, &st, &err), -1);
    assert_string_equal(err.msg, "cannot start container when 'start_container' is false.");
    assert_null(st.stream);
}

static void test_stop_errors(void **state)
{
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(exec_stop(g_engine, "nope", false, true, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "could not find execution instance matching 'nope'");

    _cleanup_free_ char *id = create("{\"container_id\":\"" CID "\",\"cmd\":[],\"user\":\"\","
                                     "\"env\":[],\"tty\":false}");
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_stop(g_engine, id, false, true, &err), -1);
    assert_string_equal(err.msg, "execution instance have not been started");
    /* decision 17: stop_container=false on a never-started one is a clean 404 too */
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_stop(g_engine, id, true, false, &err), -1);
    assert_string_equal(err.msg, "execution instance have not been started");

    /* an instance marked running whose container has no monitor has ended: it is gone */
    exec_ended(g_engine, id, 0);
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_stop(g_engine, id, false, true, &err), -1);
    _cleanup_free_ char *want = xasprintf("could not find execution instance matching '%s'", id);
    assert_string_equal(err.msg, want);
    exec_started st;
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_start(g_engine, id, false, true, &st, &err), -1);
    assert_string_equal(err.msg, want);
}

static void test_container_stop_errors(void **state)
{
    kl_error err = KL_ERROR_INIT;
    char id[13];
    assert_int_equal(exec_container_stop(g_engine, "nonexisting", -1, id, &err), -1);
    assert_string_equal(err.msg, "container not found");
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_container_stop(g_engine, "testcont", -1, id, &err), -1);
    assert_string_equal(err.msg, "container not running");
    assert_string_equal(id, CID);
}

/* Execs recorded as running whose container's monitor is gone (a kleened restart, or a stop of
 * a container that is not running) are marked exited; the ids read for that must not leak
 * (they were copied twice: 13 bytes lost per exec and per container). LeakSanitizer checks it
 * here rather than at exit, so that the failure names this test. */
static int count_execs(const char *state)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(g_engine->store, "SELECT count(*) FROM execs WHERE state = ?", &err);
    assert_non_null(st);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    return sqlite3_column_int(st, 0);
}

static void insert_running(const char *id)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *sql = xasprintf("INSERT INTO execs (id, container_id, created, state) "
                                         "VALUES ('%s', '" CID "', 'x', 'running');",
                                         id);
    assert_int_equal(store_exec(g_engine->store, sql, &err), 0);
}

static void test_execs_of_dead_container_without_leaks(void **state)
{
    kl_error err = KL_ERROR_INIT;
    /* the stop of a container whose monitor is gone */
    insert_running("bbbbbbbbbbbb");
    insert_running("cccccccccccc");
    char id[13];
    assert_int_equal(exec_container_stop(g_engine, "testcont", -1, id, &err), -1);
    assert_string_equal(err.msg, "container not running");
    assert_int_equal(count_execs("exited"), 2);
    /* kleened's start */
    insert_running("dddddddddddd");
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(exec_recover(g_engine, &err), 0);
    assert_int_equal(count_execs("exited"), 3);
    assert_int_equal(count_execs("running"), 0);
#ifdef HAVE_LSAN
    assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
}

static void test_log_of_stopped_container(void **state)
{
    kl_error err = KL_ERROR_INIT;
    assert_null(exec_log_open(g_engine, "nonexisting", false, &err));
    assert_string_equal(err.msg, "container not found");

    /* never started: empty */
    exec_log *l = exec_log_open(g_engine, CID, true, &err);
    assert_non_null(l);
    exec_log_entry en;
    assert_int_equal(exec_log_read(l, &en, 100, &err), 0);
    exec_log_close(l);

    /* stopped: the file the monitor left; a line of a log from before records is stdout */
    _cleanup_free_ char *dir = containers_run_dir(g_engine, CID);
    _cleanup_free_ char *cmd =
        xasprintf("mkdir -p '%s' && printf 'hello\\n2026-12-07T10:13:01.123456Z stderr F oops\\n"
                  "2026-12-07T10:13:02.000001Z stdout P world' > '%s/container.log'",
                  dir, dir);
    assert_int_equal(system(cmd), 0);
    l = exec_log_open(g_engine, CID, true, &err);
    assert_non_null(l);
    assert_int_equal(exec_log_read(l, &en, 100, &err), 1);
    assert_int_equal(en.stream, EXEC_STDOUT);
    assert_string_equal(en.time, "");
    assert_int_equal(en.len, 6);
    assert_memory_equal(en.data, "hello\n", 6);
    assert_int_equal(exec_log_read(l, &en, 100, &err), 1);
    assert_int_equal(en.stream, EXEC_STDERR);
    assert_string_equal(en.time, "2026-12-07T10:13:01.123456Z");
    assert_int_equal(en.len, 5);
    assert_memory_equal(en.data, "oops\n", 5);
    /* a last line without its newline (a log cut short) reads as it is */
    assert_int_equal(exec_log_read(l, &en, 100, &err), 1);
    assert_int_equal(en.stream, EXEC_STDOUT);
    assert_int_equal(en.len, 42);
    assert_int_equal(exec_log_read(l, &en, 100, &err), 0);
    exec_log_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cwd),
        cmocka_unit_test(test_merge_cmd),
        cmocka_unit_test(test_merge_entrypoint),
        cmocka_unit_test(test_merge_user),
        cmocka_unit_test(test_merge_env),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_stop_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_of_stopped_container, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execs_of_dead_container_without_leaks, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
