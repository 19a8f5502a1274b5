/* Exec instances and the start side of containers (exec.h).
 *
 * The `execs` row is the instance (state created/running/exited). Whether a started instance
 * still runs is asked of its container's monitor (state.json through host_monitor_status),
 * so nothing here has to watch detached processes: an instance found ended is marked exited
 * when it is next looked at. */
#include "engine/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/ctrcopy.h"
#include "engine/endwatch.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/portclaim.h"
#include "engine/volumes.h"
#include "host/host.h"
#include "host/monitor.h"
#include "host/runtime.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/logrec.h"
#include "lib/signame.h"
#include "lib/xalloc.h"

/* ---- merge ------------------------------------------------------------------------------ */

static bool strv_is_empty(char *const *v)
{
    return !v || !v[0];
}

int exec_merge(const container_record *c, char *const *cmd, const char *user, char *const *env,
               const host_jailparams *jp, bool into_running, exec_merged *out, kl_error *err)
{
    *out = (exec_merged){0};
    char *const *args = !strv_is_empty(cmd)            ? cmd
                        : !strv_is_empty(c->cmd)       ? c->cmd
                        : !strv_is_empty(c->image_cmd) ? c->image_cmd
                                                       : NULL;
    char *const *entry = into_running ? NULL : c->image_entrypoint;
    if (!args && strv_is_empty(entry))
        return kl_error_set(err, EINVAL,
                            "no command given: the exec, the container and its image have an "
                            "empty cmd");
    char **argv = strv_dup(entry);
    for (size_t i = 0; args && args[i]; i++)
        strv_push(&argv, args[i]);
    const char *u = user && *user                     ? user
                    : c->user && *c->user             ? c->user
                    : c->image_user && *c->image_user ? c->image_user
                                                      : "root";
    if (jp && jp->jail_user && *jp->jail_user && !(into_running && user && *user))
        u = jp->jail_user;
    _cleanup_strv_ char **base = host_env_merge(c->image_env, c->env);
    out->env = host_env_merge(base, env);
    out->argv = argv;
    out->user = xstrdup(u);
    return 0;
}

const char *exec_cwd(const container_record *c, const char *exec_workdir)
{
    if (exec_workdir && exec_workdir[0])
        return exec_workdir;
    if (c->workdir && c->workdir[0])
        return c->workdir;
    if (c->image_workdir && c->image_workdir[0])
        return c->image_workdir;
    return "/";
}

void exec_merged_clear(exec_merged *m)
{
    strv_free(m->argv);
    strv_free(m->env);
    free(m->user);
    *m = (exec_merged){0};
}

/* ---- rows ------------------------------------------------------------------------------- */

typedef struct exec_row {
    char id[13];
    char container_id[13];
    char state[16];
    json_t *doc; /* ExecConfig: cmd, user, env, tty, tty_rows, tty_cols */
} exec_row;

static void exec_row_clear(exec_row *r)
{
    json_decref(r->doc);
    r->doc = NULL;
}

/* 1 found, 0 not found, -1 error. */
static int row_load(kl_engine *e, const char *id, exec_row *out, kl_error *err)
{
    *out = (exec_row){0};
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT id, container_id, state, doc FROM execs WHERE id = ?", err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(out->id, sizeof(out->id), "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(out->container_id, sizeof(out->container_id), "%s",
                     (const char *)sqlite3_column_text(st, 1));
            snprintf(out->state, sizeof(out->state), "%s",
                     (const char *)sqlite3_column_text(st, 2));
            out->doc = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
            if (!out->doc)
                out->doc = json_object();
            r = 1;
        } else if (rc == SQLITE_DONE) {
            r = 0;
        } else {
            store_fail(e->store, "reading exec instance", err);
        }
    }
    store_unlock(e->store);
    return r;
}

/* The instance runs; the one that started its container is marked "main" in its doc (no
 * exec_die event for it: its end is the container's die). */
static int row_set_running(kl_engine *e, const char *id, bool is_main, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "UPDATE execs SET state = 'running', exit_code = NULL, doc = CASE WHEN ? THEN "
        "json_set(doc, '$.main', json('true')) ELSE doc END WHERE id = ?",
        err);
    int r = -1;
    if (st) {
        sqlite3_bind_int(st, 1, is_main);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(e->store, "updating exec", err);
    }
    store_unlock(e->store);
    return r;
}

static void exec_died(kl_engine *e, const char *exec_id, int exit_code);

/* The instance has ended (with the exit code the caller knows; every caller records it, as
 * before), and an exec_die event the first time, unless it was its container's main process. */
static void mark_exited(kl_engine *e, const char *id, int exit_code)
{
    kl_error err = KL_ERROR_INIT;
    bool was_exited = true, is_main = false;
    store_lock(e->store);
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT state = 'exited', coalesce(json_extract(doc, '$.main'), 0) FROM execs "
            "WHERE id = ?",
            &err);
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW) {
                was_exited = sqlite3_column_int(st, 0) != 0;
                is_main = sqlite3_column_int(st, 1) != 0;
            }
        }
    }
    if (!err.code) {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store, "UPDATE execs SET state = 'exited', exit_code = ? WHERE id = ?", &err);
        if (st) {
            if (exit_code >= 0)
                sqlite3_bind_int(st, 1, exit_code);
            else
                sqlite3_bind_null(st, 1);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE)
                store_fail(e->store, "updating exec", &err);
        }
    }
    store_unlock(e->store);
    if (err.code)
        log_warn("exec %s: %s", id, err.msg);
    else if (!was_exited && !is_main)
        exec_died(e, id, exit_code);
}

/* The monitor's view of one exec: 1 running, 0 ended (*exit_code, -1 if unknown). A container
 * without monitor and state counts as ended. */
static int monitor_exec_state(const char *run_dir, const char *exec_id, int *exit_code)
{
    kl_error err = KL_ERROR_INIT;
    *exit_code = -1;
    _cleanup_free_ char *s = host_monitor_status(run_dir, &err);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    if (!j)
        return 0;
    json_t *execs = json_object_get(j, "execs");
    size_t i;
    json_t *x;
    json_array_foreach(execs, i, x)
    {
        if (strcmp(jx_str(x, "id", ""), exec_id) != 0)
            continue;
        bool running = jx_bool(x, "running", false);
        /* A monitor that died keeps "running" in its last state: only a live one counts. */
        if (running && jx_bool(j, "running", false)) {
            kl_error e2 = KL_ERROR_INIT;
            host_monitor *m = host_monitor_connect(run_dir, &e2);
            if (m) {
                host_monitor_close(m);
                return 1;
            }
            return 0;
        }
        *exit_code = (int)jx_int(x, "exit_code", -1);
        return 0;
    }
    return 0;
}

static int not_found(const char *id, kl_error *err)
{
    return kl_error_set(err, ENOENT, "could not find execution instance matching '%s'", id);
}

/* ---- events (events.h) -------------------------------------------------------------------- */

/* The command of an exec as its events name it: its own cmd, else the container's, else the
 * image's, joined by spaces (xmalloc'ed). */
static char *exec_cmd_text(kl_engine *e, const char *container_id, const json_t *doc)
{
    _cleanup_strv_ char **cmd = jx_strv(json_object_get(doc, "cmd"));
    container_record c = {0};
    kl_error err = KL_ERROR_INIT;
    bool have_c = (!cmd || !cmd[0]) && containers_get(e, container_id, &c, &err) == 0;
    char *const *v = cmd && cmd[0] ? cmd : have_c && c.cmd && c.cmd[0] ? c.cmd : c.image_cmd;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; v && v[i]; i++)
        kl_buf_printf(&b, "%s%s", i ? " " : "", v[i]);
    container_record_clear(&c);
    return xstrdup(b.data ? b.data : "");
}

/* An exec instance's event on its container: execID and the command (exec_cmd). */
static void exec_event(kl_engine *e, const char *exec_id, const char *action, const char *code)
{
    exec_row row = {0};
    kl_error err = KL_ERROR_INIT;
    if (row_load(e, exec_id, &row, &err) != 1)
        return exec_row_clear(&row);
    _cleanup_free_ char *cmd = exec_cmd_text(e, row.container_id, row.doc);
    containers_event(e, row.container_id, action, "execID", row.id, "exec_cmd", cmd, "exitCode",
                     code, NULL);
    exec_row_clear(&row);
}

static void exec_died(kl_engine *e, const char *exec_id, int exit_code)
{
    char code[16]; /* an unknown code (a lost monitor) reads 0, as Docker does without one */
    snprintf(code, sizeof(code), "%d", exit_code < 0 ? 0 : exit_code);
    exec_event(e, exec_id, "exec_die", code);
}

/* The container has started (c, with the main exec's attach): its volumes' mount events, its
 * attach and start. */
static void container_started(kl_engine *e, const container_record *c, bool attach)
{
    for (size_t i = 0; i < c->n_mounts; i++)
        if (!strcmp(c->mounts[i].type, "volume"))
            events_emit(e->events, "volume", "mount", c->mounts[i].source, NULL, "container", c->id,
                        "destination", c->mounts[i].destination, "read/write",
                        c->mounts[i].read_only ? "false" : "true", "driver", "local", NULL);
    if (attach)
        containers_event_of(e, c, "attach", NULL);
    containers_event_of(e, c, "start", NULL);
}

/* Load an instance that the API may still see: not exited. A "running" one whose process has
 * ended is marked exited here and reported as not found. *running tells which. */
static int load_live(kl_engine *e, const char *id, exec_row *row, bool *running, kl_error *err)
{
    int r = row_load(e, id, row, err);
    if (r < 0)
        return -1;
    if (r == 0 || strcmp(row->state, "exited") == 0) {
        exec_row_clear(row);
        return not_found(id, err);
    }
    *running = strcmp(row->state, "running") == 0;
    if (*running) {
        _cleanup_free_ char *run_dir = containers_run_dir(e, row->container_id);
        int code;
        if (monitor_exec_state(run_dir, id, &code) != 1) {
            mark_exited(e, id, code);
            exec_row_clear(row);
            return not_found(id, err);
        }
    }
    return 0;
}

json_t *exec_inspect(kl_engine *e, const char *exec_id, kl_error *err)
{
    exec_row row = {0};
    int r = row_load(e, exec_id, &row, err);
    if (r <= 0)
        return r < 0 ? NULL : (not_found(exec_id, err), NULL);
    if (!strcmp(row.state, "running")) {
        _cleanup_free_ char *run_dir = containers_run_dir(e, row.container_id);
        int code;
        if (monitor_exec_state(run_dir, row.id, &code) != 1) {
            mark_exited(e, row.id, code);
            snprintf(row.state, sizeof(row.state), "exited");
        }
    }
    json_t *code = json_null();
    if (!strcmp(row.state, "exited")) {
        store_lock(e->store);
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "SELECT exit_code FROM execs WHERE id = ?", err);
        if (st) {
            sqlite3_bind_text(st, 1, row.id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
                json_decref(code);
                code = json_integer(sqlite3_column_int(st, 0));
            }
        }
        store_unlock(e->store);
    }
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:o, s:O}", "id", row.id, "container_id", row.container_id,
                  "state", row.state, "exit_code", code, "config", row.doc);
    exec_row_clear(&row);
    return out;
}

/* ---- create ----------------------------------------------------------------------------- */

char *exec_create(kl_engine *e, const json_t *config, kl_error *err)
{
    const char *ident = jx_str(config, "container_id", NULL);
    if (!ident) /* the original crashes (API.md §12 item 17) */
        return kl_error_set(err, ENOENT, "container not found"), NULL;
    container_record c = {0};
    if (containers_get(e, ident, &c, err) < 0)
        return NULL;
    _cleanup_json_ json_t *doc = json_pack(
        "{s:o, s:s, s:o, s:b}", "cmd", json_deep_copy(json_object_get(config, "cmd")), "user",
        jx_str(config, "user", ""), "env", json_deep_copy(json_object_get(config, "env")), "tty",
        jx_bool(config, "tty", false));
    if (!json_is_array(json_object_get(doc, "cmd")))
        json_object_set_new(doc, "cmd", json_array());
    json_t *wd = json_object_get(config, "workdir");
    if (json_is_string(wd) && json_string_value(wd)[0]) {
        const char *w = json_string_value(wd);
        if (w[0] != '/' || strlen(w) != json_string_length(wd) || strlen(w) > 4096) {
            container_record_clear(&c);
            kl_error_set(err, EINVAL, "invalid workdir '%s': it must be an absolute path", w);
            return NULL;
        }
        json_object_set(doc, "workdir", wd);
    }
    if (!json_is_array(json_object_get(doc, "env")))
        json_object_set_new(doc, "env", json_array());
    json_t *rows = json_object_get(config, "tty_rows"), *cols = json_object_get(config, "tty_cols");
    if (json_is_integer(rows))
        json_object_set(doc, "tty_rows", rows);
    if (json_is_integer(cols))
        json_object_set(doc, "tty_cols", cols);
    json_t *door = json_object_get(config, "door"); /* what a door keeps with it (exec.h) */
    if (door)
        json_object_set(doc, "door", door);

    char id[13];
    kl_id_new(id);
    char now[32];
    kl_time_now_iso(now);
    _cleanup_free_ char *docs = jx_dump(doc);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "INSERT INTO execs (id, container_id, created, state, doc) VALUES (?,?,?,?,?)",
        err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, "created", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, docs, -1, SQLITE_STATIC);
        r = sqlite3_step(st) == SQLITE_DONE ? 0
                                            : store_fail(e->store, "storing exec instance", err);
    }
    store_unlock(e->store);
    if (r == 0)
        log_debug("exec %s created for container %s", id, c.id);
    /* An instance made to start its container (a door's start, `klee run`) is the container's
     * main process, told by "start"; one into a running container is Docker's exec. */
    if (r == 0 && containers_is_running(e, c.id))
        exec_event(e, id, "exec_create", NULL);
    container_record_clear(&c);
    return r < 0 ? NULL : xstrdup(id);
}

/* ---- start ------------------------------------------------------------------------------ */

static unsigned short doc_dim(const json_t *doc, const char *key)
{
    long long v = jx_int(doc, key, 0);
    return v > 0 && v <= 65535 ? (unsigned short)v : 0;
}

static int ensure_dir(const char *path, mode_t mode, kl_error *err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", path);
    return 0;
}

/* Start the container with this exec as its main process (API.md §8.1 Start). */
static int start_container(kl_engine *e, const container_record *c, const exec_row *row,
                           bool attach, exec_started *out, kl_error *err)
{
    host_jailparams jp = {0};
    if (host_jailparams_parse(c->jail_param, &jp, err) < 0)
        return kl_error_prefix(err, "container %s", c->id);
    _cleanup_strv_ char **cmd = jx_strv(json_object_get(row->doc, "cmd"));
    _cleanup_strv_ char **env = jx_strv(json_object_get(row->doc, "env"));
    exec_merged mg;
    if (exec_merge(c, cmd, jx_str(row->doc, "user", ""), env, &jp, false, &mg, err) < 0) {
        host_jailparams_free(&jp);
        return -1;
    }

    images_stack stack = {0};
    _cleanup_free_ char *dir = containers_dir(e, c->id);
    _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
    _cleanup_free_ char *work = xasprintf("%s/work", dir);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
    _cleanup_free_ char *run_dir = containers_run_dir(e, c->id);
    host_mount *mounts = xcalloc(c->n_mounts + 4, sizeof(*mounts));
    char **sources = xcalloc(c->n_mounts + 4, sizeof(*sources));
    size_t n_mounts = c->n_mounts;
    int r = -1;
    _cleanup_close_ int netns_fd = -1;
    bool plugged = false;
    char netns_path[64] = "";
    networks_endpoints eps = {0};
    do {
        /* Before anything is mounted, wired or published: nothing to undo. */
        if (ctrcopy_holds(e, c->id)) {
            kl_error_set(err, EBUSY, "a copy into or out of the container is under way");
            break;
        }
        if (portclaim_check(e, c->id, c->public_ports, err) < 0)
            break;
        if (images_resolve_stack(e, c->image_ref, &stack, err) < 0)
            break;
        if (ensure_dir(dir, 0700, err) < 0 || ensure_dir(upper, 0755, err) < 0 ||
            ensure_dir(work, 0700, err) < 0 || ensure_dir(rootfs, 0755, err) < 0)
            break;
        for (size_t i = 0; i < c->n_mounts; i++) {
            const container_mount *cm = &c->mounts[i];
            if (strcmp(cm->type, "volume") == 0) {
                /* API.md §8.6: a volume that does not exist is created implicitly. */
                if (volumes_create(e, cm->source, err) < 0)
                    break;
                sources[i] = xasprintf("%s/volumes/%s", e->root, cm->source);
            } else {
                sources[i] = xstrdup(cm->source);
            }
            mounts[i] = (host_mount){.source = sources[i],
                                     .destination = cm->destination,
                                     .read_only = cm->read_only,
                                     .source_is_ours = strcmp(cm->type, "volume") == 0};
        }
        if (err->code)
            break;
        /* Name resolution (docs/api.md "Name resolution"): /etc/hosts and /etc/hostname of
         * kleened's making (and /etc/resolv.conf with dns settings), bind-mounted from the
         * container's directory so that later rewrites reach the running container; not
         * with the host's network, nor over a user's mount of the same file. */
        if (strcmp(c->network_driver ? c->network_driver : "", "host") != 0) {
            if (networks_etc_write(e, c, err) < 0)
                break;
            static const char *const etc[][2] = {{"hosts", "/etc/hosts"},
                                                 {"hostname", "/etc/hostname"},
                                                 {"resolv.conf", "/etc/resolv.conf"}};
            for (size_t k = 0; k < KL_ARRAY_SIZE(etc); k++) {
                if (k == 2 && !c->dns)
                    continue;
                bool user = false;
                for (size_t i = 0; i < c->n_mounts; i++)
                    user = user || strcmp(c->mounts[i].destination, etc[k][1]) == 0;
                if (user)
                    continue;
                sources[n_mounts] = xasprintf("%s/%s", dir, etc[k][0]);
                mounts[n_mounts] = (host_mount){
                    .source = sources[n_mounts], .destination = etc[k][1], .source_is_ours = true};
                n_mounts++;
            }
        }
        /* A root filesystem left mounted here by a kleened of before the mount moved into the
         * container's namespace (and a flattened stack of an earlier start): start clean. */
        kl_error ignored = KL_ERROR_INIT;
        host_rootfs_unmount(rootfs, &ignored);
        /* The crash point of the step that used to mount the rootfs here: a crash now (or
         * anywhere in the start) leaves nothing mounted, since only the runtime mounts it,
         * inside the container's own namespace (crash.bats checks). */
        engine_crash_point("container-start-mounted");
        /* Docker's habit: a working directory the image lacks is made (as root) at start, by
         * the runtime inside the container's root (host_container_spec.make_cwd). */
        const char *cwd = exec_cwd(c, jx_str(row->doc, "workdir", ""));

        /* The overlay of our own layer directories is mounted by the runtime, inside the
         * container's mount namespace only (host_container_spec.rootfs_layers): nothing is
         * mounted in ours, so nothing can stay behind when a start is interrupted. */
        host_monitor_spec spec = {
            .container =
                {
                    .id = c->id,
                    .rootfs = rootfs,
                    /* full-tree layers (FreeBSD): rootfs is the container's own clone of
                     * its image's top layer, made at create (containers.c) */
                    .rootfs_layers = host_layers_full_tree() ? NULL : stack.dirs,
                    .rootfs_upper = upper,
                    .rootfs_work = work,
                    .argv = mg.argv,
                    .env = mg.env,
                    .user = mg.user,
                    .cwd = cwd,
                    .make_cwd = true,
                    .mounts = mounts,
                    .n_mounts = n_mounts,
                    .denied_sources = e->private_dirs,
                    .netns = strcmp(c->network_driver ? c->network_driver : "", "host") == 0
                                 ? HOST_NETNS_HOST
                                 : HOST_NETNS_NEW,
                    .login_env = true, /* exec.clean=true is the Kleene default */
                    .limits = {.memory_bytes = c->memory_bytes,
                               .pids_max = c->pids_max,
                               .cpu_millis = c->cpu_millis},
                    .tty = jx_bool(row->doc, "tty", false),
                    .tty_rows = doc_dim(row->doc, "tty_rows"),
                    .tty_cols = doc_dim(row->doc, "tty_cols"),
                    .stdin_fd = -1,
                    .stdout_fd = -1,
                    .stderr_fd = -1,
                },
            .exec_id = row->id,
            .run_dir = run_dir,
            .attach = attach,
        };
        host_jailparams_apply(&jp, &spec.container);
        /* The init mode (auto is resolved by the monitor, which looks at the command inside
         * the root) and the stop command: the container's own, else exec.stop. */
        kl_error bad_init = KL_ERROR_INIT;
        if (host_init_mode_parse(c->init ? c->init : "auto", &spec.container.init, &bad_init) < 0)
            spec.container.init = HOST_INIT_AUTO;
        spec.stop_cmd = c->stop_cmd ? c->stop_cmd : jp.exec_stop;
        /* the container's stop signal (checked when it was set); 0: the default */
        int stop_sig = c->stop_signal ? kl_signal_parse(c->stop_signal) : -1;
        spec.stop_signal = stop_sig > 0 ? stop_sig : 0;
        /* A container on networks gets its interfaces before its first process runs: the
         * namespace is made and wired here, and the runtime joins it. */
        spec.container.net_driver = c->network_driver;
        if (host_runtime_wires_endpoints()) {
            /* The runtime wires them itself at the start (FreeBSD: aliases or epairs at
             * `jail -c`); they count as plugged from then on (the firewall, their end). */
            if (networks_container_endpoints(e, c->id, &eps, err) < 0)
                break;
            spec.container.endpoints = eps.v;
            spec.container.n_endpoints = eps.n;
            plugged = eps.n > 0;
        } else if (spec.container.netns == HOST_NETNS_NEW &&
                   networks_container_is_wired(e, c->id)) {
            netns_fd = host_netns_new(err);
            if (netns_fd < 0)
                break;
            if (networks_container_plug(e, c->id, netns_fd, err) < 0)
                break;
            plugged = true;
            snprintf(netns_path, sizeof(netns_path), "/proc/%d/fd/%d", (int)getpid(), netns_fd);
            spec.container.netns = HOST_NETNS_PATH;
            spec.container.netns_path = netns_path;
        }
        host_monitor_info info;
        if (host_monitor_start(&spec, &info, err) < 0)
            break;
        out->stream = info.stream;
        out->started_container = true;
        if (plugged && host_runtime_wires_endpoints())
            networks_container_record_ports(e, c->id);
        if (plugged) {
            kl_error fw = KL_ERROR_INIT;
            if (networks_firewall_apply(e, &fw) < 0)
                log_warn("container %s: firewall: %s", c->id, fw.msg);
        }
        /* A detached container may end by itself: its ports must go then, an auto_remove one
         * with them, and its die event be told. */
        endwatch_add(e->endwatch, c->id, info.container_pid);
        log_info("container %s started (monitor %d, pid %d) by exec %s", c->id, info.monitor_pid,
                 info.container_pid, row->id);
        r = 0;
    } while (0);
    if (r < 0 && plugged)
        networks_container_stopped(e, c->id);
    for (size_t i = 0; i < n_mounts; i++)
        free(sources[i]);
    free(sources);
    free(mounts);
    images_stack_clear(&stack);
    networks_endpoints_clear(&eps);
    exec_merged_clear(&mg);
    host_jailparams_free(&jp);
    if (r < 0)
        kl_error_prefix(err, "starting container %s", c->id);
    return r;
}

/* Start a process in the running container whose monitor m is. */
static int start_in_running(const container_record *c, const exec_row *row, host_monitor *m,
                            bool attach, kl_error *err)
{
    host_jailparams jp = {0};
    if (host_jailparams_parse(c->jail_param, &jp, err) < 0)
        return kl_error_prefix(err, "container %s", c->id);
    _cleanup_strv_ char **cmd = jx_strv(json_object_get(row->doc, "cmd"));
    _cleanup_strv_ char **env = jx_strv(json_object_get(row->doc, "env"));
    exec_merged mg;
    int r = exec_merge(c, cmd, jx_str(row->doc, "user", ""), env, &jp, true, &mg, err);
    host_jailparams_free(&jp);
    if (r < 0)
        return -1;
    host_monitor_exec_spec spec = {
        .exec_id = row->id,
        .argv = mg.argv,
        .env = mg.env,
        .user = mg.user,
        .cwd = exec_cwd(c, jx_str(row->doc, "workdir", "")),
        .tty = jx_bool(row->doc, "tty", false),
        .rows = doc_dim(row->doc, "tty_rows"),
        .cols = doc_dim(row->doc, "tty_cols"),
    };
    r = host_monitor_exec(m, &spec, attach, err);
    exec_merged_clear(&mg);
    return r;
}

int exec_start(kl_engine *e, const char *exec_id, bool attach, bool start_container_too,
               exec_started *out, kl_error *err)
{
    *out = (exec_started){0};
    engine_lock(e);
    exec_row row = {0};
    bool running = false;
    int r = load_live(e, exec_id, &row, &running, err);
    if (r == 0 && running)
        r = kl_error_set(err, EALREADY, "executable already started");
    container_record c = {0};
    if (r == 0 && containers_get(e, row.container_id, &c, err) < 0)
        r = kl_error_set(err, ENOENT, "container not found");
    if (r == 0) {
        snprintf(out->container_id, sizeof(out->container_id), "%s", c.id);
        _cleanup_free_ char *run_dir = containers_run_dir(e, c.id);
        kl_error ignored = KL_ERROR_INIT;
        host_monitor *m = host_monitor_connect(run_dir, &ignored);
        if (m) {
            r = start_in_running(&c, &row, m, attach, err);
            if (r == 0 && attach)
                out->stream = m;
            else
                host_monitor_close(m);
        } else if (!start_container_too) {
            r = kl_error_set(err, EPERM, "cannot start container when 'start_container' is false.");
        } else {
            r = start_container(e, &c, &row, attach, out, err);
        }
    }
    if (r == 0 && row_set_running(e, exec_id, out->started_container, err) < 0) {
        /* Cannot happen short of a broken database; the process runs anyway. */
        log_error("exec %s: %s", exec_id, err->msg);
    }
    if (r == 0 && out->started_container)
        container_started(e, &c, attach);
    else if (r == 0)
        exec_event(e, exec_id, "exec_start", NULL);
    engine_unlock(e);
    container_record_clear(&c);
    exec_row_clear(&row);
    return r == 0 ? 0 : -1;
}

void exec_ended(kl_engine *e, const char *exec_id, int exit_code)
{
    mark_exited(e, exec_id, exit_code);
}

/* ---- the exec stream -------------------------------------------------------------------- */

struct exec_stream {
    kl_engine *e;
    host_monitor *m;
    char exec_id[13];
    char container_id[13];
    bool started_container;
    bool is_attach; /* exec_stream_attach: the process is not this stream's to stop */
    bool has_ended, container_running;
    int exit_code;
};

exec_stream *exec_stream_open(kl_engine *e, const char *exec_id, bool start_container,
                              kl_error *err)
{
    exec_started st;
    if (exec_start(e, exec_id, true, start_container, &st, err) < 0)
        return NULL;
    exec_stream *s = xcalloc(1, sizeof(*s));
    s->e = e;
    s->m = st.stream;
    snprintf(s->exec_id, sizeof(s->exec_id), "%s", exec_id);
    snprintf(s->container_id, sizeof(s->container_id), "%s", st.container_id);
    s->started_container = st.started_container;
    s->exit_code = -1;
    return s;
}

static void main_exec_id(const char *run_dir, char out[13]);

exec_stream *exec_stream_attach(kl_engine *e, const char *container_id, kl_error *err)
{
    engine_lock(e);
    container_record c = {0};
    if (containers_get(e, container_id, &c, err) < 0) {
        engine_unlock(e);
        if (err->code == ENOENT)
            kl_error_set(err, ENOENT, "container not found");
        return NULL;
    }
    char id[13];
    snprintf(id, sizeof(id), "%s", c.id);
    container_record_clear(&c);
    _cleanup_free_ char *run_dir = containers_run_dir(e, id);
    engine_unlock(e);
    kl_error ignored = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &ignored);
    if (!m) {
        kl_error_set(err, ENOTCONN, "container not running");
        return NULL;
    }
    char main_id[13];
    main_exec_id(run_dir, main_id);
    if (!main_id[0] || host_monitor_attach(m, main_id, true, &ignored) < 0) {
        /* it ended meanwhile (no monitor left to ask, or an exec it no longer has) */
        host_monitor_close(m);
        kl_error_set(err, ENOTCONN, "container not running");
        return NULL;
    }
    exec_stream *s = xcalloc(1, sizeof(*s));
    s->e = e;
    s->m = m;
    s->is_attach = true;
    snprintf(s->exec_id, sizeof(s->exec_id), "%s", main_id);
    snprintf(s->container_id, sizeof(s->container_id), "%s", id);
    s->exit_code = -1;
    return s;
}

int exec_stream_fd(const exec_stream *s)
{
    return host_monitor_fd(s->m);
}

const char *exec_stream_exec_id(const exec_stream *s)
{
    return s->exec_id;
}

int exec_stream_read(exec_stream *s, int *stream, const void **data, size_t *len, int timeout_ms,
                     kl_error *err)
{
    (void)err;
    if (s->has_ended)
        return 0;
    int which = HOST_STREAM_STDOUT;
    kl_error e2 = KL_ERROR_INIT;
    int r = host_monitor_stream_read(s->m, &which, data, len, &s->exit_code, &s->container_running,
                                     timeout_ms, &e2);
    if (r == 1) {
        *stream = which == HOST_STREAM_STDERR ? EXEC_STDERR : EXEC_STDOUT;
        return 1;
    }
    if (r < 0 && e2.code == ETIMEDOUT)
        return -2;
    if (r < 0) {
        /* The monitor is gone without an end frame: the container died with it. */
        log_warn("exec %s: stream: %s", s->exec_id, e2.msg);
        s->exit_code = 137;
        s->container_running = false;
    }
    s->has_ended = true;
    exec_ended(s->e, s->exec_id, s->exit_code);
    if (!s->container_running)
        containers_died(s->e, s->container_id, 0,
                        s->started_container || s->is_attach ? s->exit_code : -1);
    return 0;
}

int exec_stream_write(exec_stream *s, const void *data, size_t len, kl_error *err)
{
    return len ? host_monitor_stream_input(s->m, data, len, err) : 0;
}

int exec_stream_close_stdin(exec_stream *s, kl_error *err)
{
    return host_monitor_stream_close_input(s->m, err);
}

int exec_stream_resize(exec_stream *s, unsigned rows, unsigned cols, kl_error *err)
{
    if (rows < 1 || rows > 65535 || cols < 1 || cols > 65535)
        return kl_error_set(err, EINVAL, "terminal size %ux%u out of range", rows, cols);
    return host_monitor_stream_resize(s->m, (unsigned short)rows, (unsigned short)cols, err);
}

bool exec_stream_exit(const exec_stream *s, int *exit_code, bool *container_running)
{
    if (!s->has_ended)
        return false;
    *exit_code = s->exit_code;
    *container_running = s->container_running;
    return true;
}

static void stream_close(exec_stream *s, bool stop_abandoned)
{
    if (!s)
        return;
    host_monitor_close(s->m);
    if (s->has_ended) {
        exec_after_end(s->e, s->exec_id, s->container_running);
    } else if (!stop_abandoned || s->is_attach) {
        log_debug("exec %s: a client detached, the process runs on", s->exec_id);
    } else {
        kl_error err = KL_ERROR_INIT;
        log_info("exec %s: the attached client went away, stopping the process", s->exec_id);
        if (exec_stop(s->e, s->exec_id, false, false, &err) < 0)
            log_info("exec %s: stopping: %s", s->exec_id, err.msg);
    }
    /* After the reply: the unmount (most of a millisecond) is off the client's path. */
    if (s->started_container)
        exec_release_rootfs(s->e, s->container_id);
    free(s);
}

void exec_stream_close(exec_stream *s)
{
    stream_close(s, true);
}

void exec_stream_detach(exec_stream *s)
{
    stream_close(s, false);
}

void exec_container_ended(kl_engine *e, const char *container_id)
{
    if (networks_container_is_wired(e, container_id))
        networks_container_stopped(e, container_id);
}

void exec_container_gone(kl_engine *e, const char *container_id, int pid)
{
    engine_lock(e);
    /* Not if it runs again (another reaper): its start has wired it anew. The same pid may
     * still show while the monitor records the end. */
    int now = containers_pid(e, container_id);
    bool ended = now < 0 || now == pid;
    if (ended)
        exec_container_ended(e, container_id);
    engine_unlock(e);
    if (ended)
        containers_died(e, container_id, pid, -1);
    kl_error err = KL_ERROR_INIT;
    if (ended && containers_auto_remove(e, container_id, 5000, &err) < 0)
        log_warn("container %s: removing it after its end (auto_remove): %s", container_id,
                 err.msg);
}

void exec_after_end(kl_engine *e, const char *exec_id, bool container_running)
{
    if (container_running)
        return;
    exec_row row = {0};
    kl_error err = KL_ERROR_INIT;
    if (row_load(e, exec_id, &row, &err) == 1) /* 1: found */
        exec_container_ended(e, row.container_id);
    exec_row_clear(&row);
}

void exec_release_rootfs(kl_engine *e, const char *container_id)
{
    engine_lock(e);
    if (!containers_is_running(e, container_id)) {
        _cleanup_free_ char *dir = containers_dir(e, container_id);
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
        kl_error err = KL_ERROR_INIT;
        if (host_rootfs_unmount(rootfs, &err) < 0)
            log_warn("container %s: %s", container_id, err.msg);
    }
    engine_unlock(e);
    /* An auto_remove container goes now; one that still runs goes when it ends (endwatch). */
    kl_error err = KL_ERROR_INIT;
    if (containers_auto_remove(e, container_id, 0, &err) < 0)
        log_warn("container %s: removing it after its end (auto_remove): %s", container_id,
                 err.msg);
}

/* ---- stop ------------------------------------------------------------------------------- */

/* Mark every running exec of the container whose process has ended. */
static void sync_container_execs(kl_engine *e, const char *container_id)
{
    _cleanup_strv_ char **ids = NULL;
    store_lock(e->store);
    kl_error err = KL_ERROR_INIT;
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT id FROM execs WHERE container_id = ? AND state = 'running'", &err);
    if (st) {
        sqlite3_bind_text(st, 1, container_id, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW)
            strv_push(&ids, (const char *)sqlite3_column_text(st, 0)); /* copies */
    }
    store_unlock(e->store);
    _cleanup_free_ char *run_dir = containers_run_dir(e, container_id);
    for (char **id = ids; id && *id; id++) {
        int code;
        if (monitor_exec_state(run_dir, *id, &code) != 1)
            mark_exited(e, *id, code);
    }
}

/* The grace of a stop: the asked timeout, else the container's stop_timeout, else ours. */
static int grace_ms_of(const container_record *c, int timeout_s)
{
    if (timeout_s >= 0)
        return timeout_s * 1000;
    if (c && c->stop_timeout >= 0)
        return (int)c->stop_timeout * 1000;
    return EXEC_STOP_GRACE_MS;
}

static int stop_monitor(kl_engine *e, const char *container_id, int grace_ms, int *exit_code,
                        kl_error *err)
{
    _cleanup_free_ char *run_dir = containers_run_dir(e, container_id);
    kl_error ignored = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &ignored);
    if (!m) {
        /* Not running: clean up what a dead monitor may have left (API.md §8.1 Stop). */
        _cleanup_free_ char *dir = containers_dir(e, container_id);
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
        host_rootfs_unmount(rootfs, &ignored);
        sync_container_execs(e, container_id);
        return kl_error_set(err, ENOTCONN, "container not running");
    }
    containers_event(e, container_id, "kill", "signal", "15", NULL);
    int r = host_monitor_stop(m, grace_ms, exit_code, err);
    host_monitor_close(m);
    sync_container_execs(e, container_id);
    if (r == 0) {
        log_info("container %s stopped, exit code %d", container_id, *exit_code);
        exec_container_ended(e, container_id);
        containers_died(e, container_id, 0, *exit_code);
        containers_event(e, container_id, "stop", NULL);
    }
    return r;
}

int exec_container_stop(kl_engine *e, const char *ident, int timeout_s, char id_out[13],
                        kl_error *err)
{
    container_record c = {0};
    if (containers_get(e, ident, &c, err) < 0) {
        if (err->code == ENOENT)
            kl_error_set(err, ENOENT, "container not found");
        return -1;
    }
    snprintf(id_out, 13, "%s", c.id);
    int grace = grace_ms_of(&c, timeout_s);
    container_record_clear(&c);
    int code;
    return stop_monitor(e, id_out, grace, &code, err);
}

/* The id of the container's main exec from its monitor's state, or "" (out: 13 bytes). */
static void main_exec_id(const char *run_dir, char out[13])
{
    out[0] = '\0';
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *s = host_monitor_status(run_dir, &err);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(j, "execs"), i, x)
    {
        if (jx_bool(x, "main", false)) {
            snprintf(out, 13, "%s", jx_str(x, "id", ""));
            return;
        }
    }
}

int exec_container_kill(kl_engine *e, const char *ident, int sig, char id_out[13], kl_error *err)
{
    /* Any signal of the host: the monitor gets it to the main process (through the reaper,
     * or directly for what the reaper cannot pass on, e.g. STOP). */
    if (!kl_signal_is_valid(sig))
        return kl_error_set(err, EINVAL, "invalid signal %d: not a signal of this host", sig);
    container_record c = {0};
    if (containers_get(e, ident, &c, err) < 0) {
        if (err->code == ENOENT)
            kl_error_set(err, ENOENT, "container not found");
        return -1;
    }
    snprintf(id_out, 13, "%s", c.id);
    container_record_clear(&c);
    _cleanup_free_ char *run_dir = containers_run_dir(e, id_out);
    kl_error ignored = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &ignored);
    if (!m)
        return kl_error_set(err, ENOTCONN, "container not running");
    int r;
    char signum[16];
    snprintf(signum, sizeof(signum), "%d", sig);
    if (sig == SIGKILL) {
        /* every process at once, as when the main process is pid 1 (Docker) */
        int code;
        containers_event(e, id_out, "kill", "signal", signum, NULL);
        r = host_monitor_stop(m, 0, &code, err);
        host_monitor_close(m);
        sync_container_execs(e, id_out);
        if (r == 0) {
            log_info("container %s killed, exit code %d", id_out, code);
            exec_container_ended(e, id_out);
            containers_died(e, id_out, 0, code);
        }
        return r;
    }
    char main_id[13];
    main_exec_id(run_dir, main_id);
    kl_error kerr = KL_ERROR_INIT;
    if (main_id[0])
        containers_event(e, id_out, "kill", "signal", signum, NULL);
    r = main_id[0] ? host_monitor_kill(m, main_id, sig, &kerr) : -1;
    host_monitor_close(m);
    if (r < 0) /* ended meanwhile, or only processes it left behind still run */
        return kl_error_set(err, ENOTCONN, "the main process of container %s is not running%s%s",
                            id_out, kerr.msg[0] ? ": " : "", kerr.msg);
    if (r == 0)
        log_info("container %s: signal %d sent to its main process", id_out, sig);
    return r;
}

/* The last exit code of the container's main process from its state, -1 if unknown. */
static int last_exit_code(const char *run_dir)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *s = host_monitor_status(run_dir, &err);
    _cleanup_json_ json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    json_t *code = json_object_get(j, "exit_code");
    return json_is_integer(code) ? (int)json_integer_value(code) : -1;
}

int exec_container_wait(kl_engine *e, const char *ident, bool (*is_abandoned)(void *), void *ud,
                        char id_out[13], int *exit_code, kl_error *err)
{
    *exit_code = -1;
    container_record c = {0};
    if (containers_get(e, ident, &c, err) < 0) {
        if (err->code == ENOENT)
            kl_error_set(err, ENOENT, "container not found");
        return -1;
    }
    snprintf(id_out, 13, "%s", c.id);
    container_record_clear(&c);
    _cleanup_free_ char *run_dir = containers_run_dir(e, id_out);
    while (containers_is_running(e, id_out)) {
        /* The monitor ends once the container has: wait for its end fd, a second at a time. */
        kl_error e2 = KL_ERROR_INIT;
        _cleanup_free_ char *st = host_monitor_status(run_dir, &e2);
        _cleanup_json_ json_t *j = st ? json_loads(st, 0, NULL) : NULL;
        long long mpid = jx_int(j, "monitor_pid", 0);
        _cleanup_close_ int fd =
            mpid > 0 && mpid <= INT32_MAX ? host_process_end_fd((int)mpid, &e2) : -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (fd >= 0)
            poll(&pf, 1, 1000);
        else if (containers_is_running(e, id_out))
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        if (is_abandoned && is_abandoned(ud))
            return kl_error_set(err, ECANCELED, "the client went away");
    }
    *exit_code = last_exit_code(run_dir);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int exec_stop(kl_engine *e, const char *exec_id, bool force_stop, bool stop_container,
              kl_error *err)
{
    exec_row row = {0};
    bool running = false;
    if (load_live(e, exec_id, &row, &running, err) < 0)
        return -1;
    char cid[13];
    snprintf(cid, sizeof(cid), "%s", row.container_id);
    exec_row_clear(&row);
    if (!running)
        return kl_error_set(err, ENOENT, "execution instance have not been started");
    if (stop_container) {
        int code;
        container_record c = {0};
        int grace = containers_get(e, cid, &c, err) == 0 ? grace_ms_of(&c, -1) : EXEC_STOP_GRACE_MS;
        container_record_clear(&c);
        if (stop_monitor(e, cid, grace, &code, err) < 0)
            return -1;
        mark_exited(e, exec_id, code);
        return 0;
    }
    _cleanup_free_ char *run_dir = containers_run_dir(e, cid);
    host_monitor *m = host_monitor_connect(run_dir, err);
    if (!m)
        return kl_error_prefix(err, "error closing process");
    int r = host_monitor_kill(m, exec_id, force_stop ? SIGKILL : SIGTERM, err);
    host_monitor_close(m);
    if (r < 0)
        return kl_error_prefix(err, "error closing process");
    int64_t deadline = now_ms() + EXEC_STOP_WAIT_MS;
    for (;;) {
        int code;
        if (monitor_exec_state(run_dir, exec_id, &code) != 1) {
            mark_exited(e, exec_id, code);
            return 0;
        }
        if (now_ms() >= deadline)
            return kl_error_set(err, ETIMEDOUT, "timed out while waiting for jail to stop");
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- logs ------------------------------------------------------------------------------- */

struct exec_log {
    host_monitor *m;
    char *path;   /* <run_dir>/container.log */
    uint64_t got; /* bytes the monitor has sent */
    int fd;
    bool at_end;
    kl_logrec_reader reader;
    kl_logrec rec;
    char buf[65536];
};

exec_log *exec_log_open(kl_engine *e, const char *ident, bool follow, kl_error *err)
{
    container_record c = {0};
    if (containers_get(e, ident, &c, err) < 0) {
        if (err->code == ENOENT)
            kl_error_set(err, ENOENT, "container not found");
        return NULL;
    }
    _cleanup_free_ char *run_dir = containers_run_dir(e, c.id);
    container_record_clear(&c);
    exec_log *l = xcalloc(1, sizeof(*l));
    l->fd = -1;
    l->reader = (kl_logrec_reader)KL_LOGREC_READER_INIT;
    kl_error ignored = KL_ERROR_INIT;
    l->path = xasprintf("%s/container.log", run_dir);
    l->m = host_monitor_connect(run_dir, &ignored);
    if (l->m) {
        engine_delay_point("log-monitor-connected");
        kl_error merr = KL_ERROR_INIT;
        if (host_monitor_log(l->m, follow, &merr) == 0)
            return l;
        if (merr.code != EPIPE && merr.code != ECONNRESET) {
            *err = merr;
            exec_log_close(l);
            return NULL;
        }
        /* The monitor was ending with its container (a process that exits at once, asked for
         * its log right after its start): everything is in container.log, read below. */
        host_monitor_close(l->m);
        l->m = NULL;
    }
    _cleanup_free_ char *path = xasprintf("%s/container.log", run_dir);
    l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (l->fd < 0 && errno != ENOENT) {
        kl_error_errno(err, errno, "opening %s", path);
        exec_log_close(l);
        return NULL;
    }
    return l; /* never started: an empty log */
}

/* More bytes of the log into the reader: 1 = some, 0 = the end, -1/-2 as exec_log_read. */
static int log_fill(exec_log *l, int timeout_ms, kl_error *err)
{
    if (l->m) {
        int code;
        bool running;
        const void *data;
        size_t len;
        kl_error e2 = KL_ERROR_INIT;
        int r = host_monitor_stream_recv(l->m, &data, &len, &code, &running, timeout_ms, &e2);
        if (r < 0 && e2.code == ETIMEDOUT)
            return -2;
        if (r == 1) {
            kl_logrec_reader_feed(&l->reader, data, len);
            l->got += len;
            return 1;
        }
        if (r == 0 && l->got > 0)
            return 0; /* its end, after what it had */
        if (r < 0 && e2.code != ECONNRESET) {
            *err = e2;
            return -1;
        }
        /* The monitor ended with the container before it sent all of the log, or any of it
         * (it was ending when we connected): the rest is in container.log, after what it
         * sent. */
        host_monitor_close(l->m);
        l->m = NULL;
        l->fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (l->fd >= 0 && lseek(l->fd, (off_t)l->got, SEEK_SET) < 0) {
            close(l->fd);
            l->fd = -1;
        }
    }
    if (l->fd < 0)
        return 0;
    ssize_t n = KL_RETRY_EINTR(read(l->fd, l->buf, sizeof(l->buf)));
    if (n < 0)
        return kl_error_errno(err, errno, "reading the container log");
    kl_logrec_reader_feed(&l->reader, l->buf, (size_t)n);
    return n > 0 ? 1 : 0;
}

int exec_log_read(exec_log *l, exec_log_entry *out, int timeout_ms, kl_error *err)
{
    for (;;) {
        if (kl_logrec_reader_next(&l->reader, l->at_end, &l->rec) == 1) {
            *out = (exec_log_entry){.stream = l->rec.stream == KL_STREAM_STDERR ? EXEC_STDERR
                                                                                : EXEC_STDOUT,
                                    .time = l->rec.time,
                                    .data = l->rec.data,
                                    .len = l->rec.len};
            return 1;
        }
        if (l->at_end)
            return 0;
        int r = log_fill(l, timeout_ms, err);
        if (r == 0)
            l->at_end = true; /* a last line without newline is still to be returned */
        else if (r < 0)
            return r;
    }
}

void exec_log_close(exec_log *l)
{
    if (!l)
        return;
    if (l->m)
        host_monitor_close(l->m);
    if (l->fd >= 0)
        close(l->fd);
    free(l->path);
    kl_logrec_reader_free(&l->reader);
    free(l);
}

/* ---- start-up --------------------------------------------------------------------------- */

int exec_recover(kl_engine *e, kl_error *err)
{
    _cleanup_strv_ char **cids = NULL;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT DISTINCT container_id FROM execs WHERE state = 'running'", err);
    if (st)
        while (sqlite3_step(st) == SQLITE_ROW)
            strv_push(&cids, (const char *)sqlite3_column_text(st, 0)); /* copies */
    store_unlock(e->store);
    if (!st)
        return -1;
    for (char **c = cids; c && *c; c++)
        sync_container_execs(e, *c);

    _cleanup_json_ json_t *list = containers_list(e, true, err);
    if (!list)
        return -1;
    size_t i;
    json_t *ct;
    /* Containers that run on: learn of their end (endwatch.h): their interfaces go then, and
     * their die event is told. (Those that ended while kleened was away get none.) */
    json_array_foreach(list, i, ct)
    {
        const char *id = jx_str(ct, "id", "");
        int pid = containers_pid(e, id);
        if (pid > 0)
            endwatch_add(e->endwatch, id, pid);
    }
    /* auto_remove containers: the ones that ended while kleened was away go now, the others
     * when they end. */
    _cleanup_strv_ char **auto_ids = NULL;
    kl_error ae = KL_ERROR_INIT;
    if (containers_auto_remove_ids(e, &auto_ids, &ae) < 0)
        log_warn("auto_remove containers: %s", ae.msg);
    for (char **id = auto_ids; id && *id; id++) {
        int pid = containers_pid(e, *id);
        if (pid > 0) {
            endwatch_add(e->endwatch, *id, pid);
            continue;
        }
        kl_error e2 = KL_ERROR_INIT;
        if (containers_auto_remove(e, *id, 0, &e2) < 0)
            log_warn("container %s: removing it after its end (auto_remove): %s", *id, e2.msg);
    }
    /* Containers the host runs without a monitor (FreeBSD: jails whose monitor died): taken
     * over by a monitor of their own, their command not run again (B13). */
    _cleanup_strv_ char **orphans = NULL;
    kl_error oerr = KL_ERROR_INIT;
    if (host_orphan_containers(&orphans, &oerr) < 0)
        log_warn("containers running without a monitor: %s", oerr.msg);
    for (char **o = orphans; o && *o; o++) {
        container_record c = {0};
        kl_error e2 = KL_ERROR_INIT;
        bool ours = containers_get(e, *o, &c, &e2) == 0 && strcmp(c.id, *o) == 0;
        container_record_clear(&c);
        if (!ours || containers_is_running(e, *o))
            continue;
        _cleanup_json_ json_t *cfg = json_pack("{s:s, s:[], s:s, s:[], s:b}", "container_id", *o,
                                               "cmd", "user", "", "env", "tty", 0);
        _cleanup_free_ char *xid = exec_create(e, cfg, &e2);
        exec_started started;
        if (!xid || exec_start(e, xid, false, true, &started, &e2) < 0)
            log_error("container %s (running without a monitor): %s", *o, e2.msg);
        else
            log_notice("container %s ran without a monitor: taken over", *o);
    }
    json_array_foreach(list, i, ct)
    {
        const char *id = jx_str(ct, "id", "");
        if (strcmp(jx_str(ct, "restart_policy", "no"), "on-startup") != 0 ||
            containers_is_running(e, id))
            continue;
        kl_error e2 = KL_ERROR_INIT;
        _cleanup_json_ json_t *cfg = json_pack("{s:s, s:[], s:s, s:[], s:b}", "container_id", id,
                                               "cmd", "user", "", "env", "tty", 0);
        _cleanup_free_ char *xid = exec_create(e, cfg, &e2);
        exec_started started;
        if (!xid || exec_start(e, xid, false, true, &started, &e2) < 0)
            log_error("container %s (restart policy on-startup): %s", id, e2.msg);
        else
            log_info("container %s started (restart policy on-startup)", id);
    }
    return 0;
}
