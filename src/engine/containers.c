/* Container records (containers.h): rows in `containers` and `mounts`, and the directories
 * <root>/container/<id>/{upper,work,rootfs}.
 *
 * The row keeps the container's own configuration (cmd, user, env as given) and, in its
 * doc, the image's defaults read at create time; the wire Container shows the effective
 * values (API.md §8.1 create step 3: the image's cmd/user when the container has none, the
 * image's env merged under the container's). This module never starts or stops anything:
 * whether a container runs is read from its monitor's state file (containers_is_running).
 *
 * What a failed create leaves: nothing of the container (no row, no directory). Volumes it
 * created for its mounts stay, as in the original (they are ordinary volumes; `volume prune`
 * removes them), and so does what pre-population copied into them. */
#include "engine/containers.h"
#include "engine/ctrcopy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/endwatch.h"
#include "engine/etcfiles.h"
#include "engine/images.h"
#include "engine/ipam.h"
#include "engine/networks.h"
#include "engine/portspec.h"
#include "engine/volumes.h"
#include "host/host.h"
#include "host/runtime.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/signame.h"
#include "lib/names.h"
#include "lib/xalloc.h"

#define CONTAINER_COLUMNS                                                                          \
    "c.id, c.name, c.image_id, c.layer_id, c.created, c.network_driver, c.restart_policy, "        \
    "c.persist, c.doc"

/* Smallest memory limit accepted: below this a container cannot even start its reaper. */
#define MEMORY_MIN (1024LL * 1024)

void container_record_clear(container_record *r)
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
    for (size_t i = 0; i < r->n_mounts; i++) {
        free(r->mounts[i].type);
        free(r->mounts[i].source);
        free(r->mounts[i].destination);
    }
    free(r->mounts);
    strv_free(r->image_cmd);
    strv_free(r->image_entrypoint);
    json_decref(r->door);
    r->door = NULL;
    strv_free(r->image_env);
    free(r->image_user);
    free(r->workdir);
    free(r->image_workdir);
    free(r->init);
    free(r->stop_cmd);
    free(r->stop_signal);
    json_decref(r->labels);
    strv_free(r->extra_hosts);
    json_decref(r->dns);
    *r = (container_record){0};
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

/* ---- paths and state ------------------------------------------------------------------ */

char *containers_dir(kl_engine *e, const char *id)
{
    return xasprintf("%s/container/%s", e->root, id);
}

char *containers_run_dir(kl_engine *e, const char *id)
{
    if (e->run_root)
        return xasprintf("%s/containers/%s", e->run_root, id);
    return xasprintf("%s/run/containers/%s", e->root, id);
}

/* Listing-cheap: a stat of the monitor's socket (gone when the monitor ends), then its state
 * file and a signal-0 probe of its pid (a monitor killed hard leaves the socket behind).
 * Never connects. */
bool containers_is_running(kl_engine *e, const char *id)
{
    _cleanup_free_ char *rd = containers_run_dir(e, id);
    _cleanup_close_ int dfd = open(rd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return false;
    struct stat st;
    if (fstatat(dfd, "monitor.sock", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    _cleanup_close_ int fd = openat(dfd, "state.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    char buf[16384];
    ssize_t n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf) - 1));
    if (n <= 0)
        return false;
    buf[n] = '\0';
    _cleanup_json_ json_t *s = json_loads(buf, 0, NULL);
    if (!s || !jx_bool(s, "running", false))
        return false;
    long long pid = jx_int(s, "monitor_pid", 0);
    if (pid <= 0 || pid > INT32_MAX)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* ---- reading rows ---------------------------------------------------------------------- */

static char **doc_strv(const json_t *doc, const char *key)
{
    return jx_strv(json_object_get(doc, key));
}

/* Fill `r` (all but mounts) from a row selected with CONTAINER_COLUMNS. */
static void record_from_row(sqlite3_stmt *st, container_record *r)
{
    *r = (container_record){0};
    snprintf(r->id, sizeof(r->id), "%s", col(st, 0));
    r->name = xstrdup(col(st, 1));
    r->image_id = xstrdup(col(st, 2));
    r->created = xstrdup(col(st, 4));
    r->network_driver = xstrdup(col(st, 5));
    r->restart_policy = xstrdup(col(st, 6));
    r->persist = sqlite3_column_int(st, 7) != 0;
    _cleanup_json_ json_t *doc = json_loads(col(st, 8), 0, NULL);
    r->image_ref = xstrdup(jx_str(doc, "image_ref", r->image_id));
    r->cmd = doc_strv(doc, "cmd");
    r->user = xstrdup(jx_str(doc, "user", ""));
    r->env = doc_strv(doc, "env");
    r->jail_param = doc_strv(doc, "jail_param");
    json_t *pp = json_object_get(doc, "public_ports");
    r->public_ports = json_is_array(pp) ? json_incref(pp) : json_array();
    r->memory_bytes = jx_int(doc, "memory", 0);
    r->pids_max = jx_int(doc, "pids_limit", 0);
    r->cpu_millis = jx_int(doc, "cpu_millis", 0);
    r->init = xstrdup(jx_str(doc, "init", "auto"));
    const char *sc = jx_str(doc, "stop_cmd", NULL);
    r->stop_cmd = sc ? xstrdup(sc) : NULL;
    const char *ss = jx_str(doc, "stop_signal", NULL);
    r->stop_signal = ss ? xstrdup(ss) : NULL;
    r->image_cmd = doc_strv(doc, "image_cmd");
    r->image_entrypoint = doc_strv(doc, "image_entrypoint");
    r->image_env = doc_strv(doc, "image_env");
    r->image_user = xstrdup(jx_str(doc, "image_user", "root"));
    r->auto_remove = jx_bool(doc, "auto_remove", false);
    r->stop_timeout = jx_int(doc, "stop_timeout", -1);
    r->workdir = xstrdup(jx_str(doc, "workdir", ""));
    r->image_workdir = xstrdup(jx_str(doc, "image_workdir", "/"));
    json_t *labels = json_object_get(doc, "labels");
    r->labels = json_is_object(labels) ? json_incref(labels) : json_object();
    r->of_build = jx_bool(doc, "of_build", false);
    json_t *door = json_object_get(doc, "door");
    r->door = door ? json_incref(door) : NULL;
    r->extra_hosts = doc_strv(doc, "extra_hosts");
    json_t *dns = json_object_get(doc, "dns");
    r->dns = json_is_object(dns) ? json_incref(dns) : NULL;
}

static int load_mounts(kl_engine *e, container_record *r, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "SELECT type, source, destination, read_only FROM mounts WHERE container_id = ? "
        "ORDER BY id",
        err);
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            r->mounts = xrealloc(r->mounts, (r->n_mounts + 1) * sizeof(*r->mounts));
            r->mounts[r->n_mounts++] = (container_mount){
                .type = xstrdup(col(st, 0)),
                .source = xstrdup(col(st, 1)),
                .destination = xstrdup(col(st, 2)),
                .read_only = sqlite3_column_int(st, 3) != 0,
            };
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading container mounts", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Under the engine lock: one row by exact id. 1 found, 0 not, -1 error. */
static int get_locked(kl_engine *e, const char *id, container_record *out, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT " CONTAINER_COLUMNS " FROM containers c WHERE c.id = ?", err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            record_from_row(st, out);
            r = 1;
        } else if (rc == SQLITE_DONE) {
            r = 0;
        } else {
            store_fail(e->store, "reading container", err);
        }
    }
    store_unlock(e->store);
    if (r == 1 && load_mounts(e, out, err) < 0) {
        container_record_clear(out);
        return -1;
    }
    return r;
}

/* ---- events (events.h) ------------------------------------------------------------------ */

/* The "image" attribute: what the door named (Docker's Config.Image), else name:tag, else id. */
static char *event_image(kl_engine *e, const container_record *r)
{
    const char *given = jx_str(json_object_get(r->door, "docker"), "Image", NULL);
    if (given && *given)
        return xstrdup(given);
    /* one row read, not images_inspect: this is on the start path */
    char *out = NULL;
    kl_error err = KL_ERROR_INIT;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT name, tag FROM images WHERE id = ?", &err);
    if (st && r->image_id) {
        sqlite3_bind_text(st, 1, r->image_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && *col(st, 0))
            out = *col(st, 1) ? xasprintf("%s:%s", col(st, 0), col(st, 1)) : xstrdup(col(st, 0));
    }
    store_unlock(e->store);
    return out ? out : xstrdup(r->image_id ? r->image_id : "");
}

static void emit_record(kl_engine *e, const container_record *r, const char *action,
                        char *const *kv)
{
    _cleanup_free_ char *image = event_image(e, r);
    _cleanup_strv_ char **all = NULL;
    strv_push(&all, "image");
    strv_push(&all, image);
    strv_push(&all, "name");
    strv_push(&all, r->name ? r->name : "");
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1])
            continue;
        strv_push(&all, kv[i]);
        strv_push(&all, kv[i + 1]);
    }
    events_emitv(e->events, "container", action, r->id, r->labels, all);
}

/* The key, value pairs of a call (at most 16; a NULL value stays, left out by emit_record). */
#define KV_MAX 16
static void collect_kv(va_list ap, const char *kv[2 * KV_MAX + 1])
{
    size_t n = 0;
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (n + 2 <= 2 * KV_MAX) {
            kv[n++] = k;
            kv[n++] = v;
        }
    }
    kv[n] = NULL;
}

void containers_event_of(kl_engine *e, const container_record *c, const char *action, ...)
{
    const char *kv[2 * KV_MAX + 1];
    va_list ap;
    va_start(ap, action);
    collect_kv(ap, kv);
    va_end(ap);
    emit_record(e, c, action, (char *const *)kv);
}

void containers_event(kl_engine *e, const char *id, const char *action, ...)
{
    const char *kv[2 * KV_MAX + 1];
    va_list ap;
    va_start(ap, action);
    collect_kv(ap, kv);
    va_end(ap);
    engine_lock(e);
    container_record r = {0};
    kl_error err = KL_ERROR_INIT;
    if (get_locked(e, id, &r, &err) == 1)
        emit_record(e, &r, action, (char *const *)kv);
    container_record_clear(&r);
    engine_unlock(e);
}

/* Under the engine lock (so that a path finding the run claimed — a stop about to tell "stop",
 * a removal about to tell "destroy" — comes after the die of the path that claimed it).
 * only_recent: only a run that ended in the last seconds (a removal racing the end watcher;
 * not a run that ended long ago or while kleened was away). */
static json_t *run_state(kl_engine *e, const char *id)
{
    _cleanup_free_ char *rd = containers_run_dir(e, id);
    _cleanup_free_ char *path = xasprintf("%s/state.json", rd);
    return json_load_file(path, 0, NULL);
}

static void died_locked(kl_engine *e, const char *id, int pid, int exit_code, bool only_recent)
{
    _cleanup_json_ json_t *s = run_state(e, id);
    const char *started = jx_str(s, "started", ""), *finished = jx_str(s, "finished", "");
    if (!*started)
        return; /* never ran */
    if (pid > 0 && jx_int(s, "container_pid", 0) != pid)
        return; /* another run has begun: the end of that one was told or is lost */
    if (only_recent) {
        time_t t = time(NULL) - 10;
        struct tm tm;
        gmtime_r(&t, &tm);
        char recent[24];
        strftime(recent, sizeof(recent), "%Y-%m-%dT%H:%M:%S", &tm);
        if (!*finished || strcmp(finished, recent) < 0)
            return;
    }
    _cleanup_free_ char *key = xasprintf("die:%s:%s", id, started);
    if (!events_once(e->events, key))
        return;
    if (exit_code < 0) {
        json_t *c = json_object_get(s, "exit_code");
        exit_code = json_is_integer(c) ? (int)json_integer_value(c) : 255;
    }
    container_record r = {0};
    kl_error err = KL_ERROR_INIT;
    if (get_locked(e, id, &r, &err) != 1)
        return container_record_clear(&r);
    char code[16];
    snprintf(code, sizeof(code), "%d", exit_code);
    emit_record(e, &r, "die", (char *[]){"exitCode", code, NULL});
    for (size_t i = 0; i < r.n_mounts; i++)
        if (!strcmp(r.mounts[i].type, "volume"))
            events_emit(e->events, "volume", "unmount", r.mounts[i].source, NULL, "container", id,
                        "driver", "local", NULL);
    container_record_clear(&r);
}

void containers_died(kl_engine *e, const char *id, int pid, int exit_code)
{
    /* The end watcher's (pid > 0): the reaper has ended; the monitor records the exit code of
     * that run and ends a moment later. */
    for (int i = 0; pid > 0 && i < 300; i++) {
        _cleanup_json_ json_t *s = run_state(e, id);
        if (jx_int(s, "container_pid", 0) != pid)
            return;
        if (!jx_bool(s, "running", false) || !containers_is_running(e, id))
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    engine_lock(e);
    died_locked(e, id, pid, exit_code, false);
    engine_unlock(e);
}

static void died_locked(kl_engine *e, const char *id, int pid, int exit_code, bool only_recent);

static int query_ids(kl_engine *e, const char *sql, const char *p1, int p2, char ***out,
                     kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    int rc = SQLITE_ERROR;
    if (st) {
        if (p1)
            sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
        if (p2 > 0)
            sqlite3_bind_int(st, 2, p2);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            strv_push(out, col(st, 0));
        if (rc != SQLITE_DONE)
            store_fail(e->store, "looking up containers", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? 0 : -1;
}

static bool is_hex_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Under the engine lock (decision 5): exact id, exact name, then a unique id prefix.
 * ENOENT "container not found"; ENOTUNIQ for an ambiguous prefix, naming the candidates. */
static int resolve_locked(kl_engine *e, const char *ident, char out[13], kl_error *err)
{
    if (!ident || !ident[0])
        return kl_error_set(err, ENOENT, "container not found");
    _cleanup_strv_ char **ids = NULL;
    if (query_ids(e, "SELECT id FROM containers WHERE id = ?", ident, 0, &ids, err) < 0)
        return -1;
    if (!ids || !ids[0]) {
        /* a leading '/' is stripped from names at create (Docker style); accept it here too */
        const char *name = ident[0] == '/' ? ident + 1 : ident;
        if (query_ids(e, "SELECT id FROM containers WHERE name = ?", name, 0, &ids, err) < 0)
            return -1;
    }
    if ((!ids || !ids[0]) && is_hex_prefix(ident) &&
        query_ids(e, "SELECT id FROM containers WHERE substr(id, 1, ?2) = ?1 ORDER BY id", ident,
                  (int)strlen(ident), &ids, err) < 0)
        return -1;
    size_t n = strv_len(ids);
    if (n == 0)
        return kl_error_set(err, ENOENT, "container not found");
    if (n > 1) {
        _cleanup_buf_ kl_buf b = KL_BUF_INIT;
        for (size_t i = 0; i < n; i++)
            kl_buf_printf(&b, "%s%s", i ? ", " : "", ids[i]);
        kl_buf_append(&b, "", 1);
        return kl_error_set(err, ENOTUNIQ, "container id prefix '%s' is ambiguous: it matches %s",
                            ident, b.data);
    }
    snprintf(out, 13, "%s", ids[0]);
    return 0;
}

int containers_get(kl_engine *e, const char *ident, container_record *out, kl_error *err)
{
    *out = (container_record){0};
    char id[13];
    engine_lock(e);
    int r = resolve_locked(e, ident, id, err);
    if (r == 0) {
        r = get_locked(e, id, out, err);
        if (r == 0)
            r = kl_error_set(err, ENOENT, "container not found");
        else if (r == 1)
            r = 0;
    }
    engine_unlock(e);
    if (r < 0 && err->code == ENOTUNIQ)
        err->code = EINVAL; /* the contract's code for an ambiguous prefix */
    return r;
}

int containers_run_state(kl_engine *e, const char *id, container_run *out, kl_error *err)
{
    *out = (container_run){.exit_code = -1};
    container_record c = {0};
    if (containers_get(e, id, &c, err) < 0)
        return -1;
    container_record_clear(&c);
    _cleanup_free_ char *run_dir = containers_run_dir(e, id);
    _cleanup_free_ char *path = xasprintf("%s/state.json", run_dir);
    _cleanup_json_ json_t *s = json_load_file(path, 0, NULL);
    snprintf(out->started, sizeof(out->started), "%s", jx_str(s, "started", ""));
    snprintf(out->finished, sizeof(out->finished), "%s", jx_str(s, "finished", ""));
    json_t *code = json_object_get(s, "exit_code");
    out->exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
    out->running = containers_is_running(e, id);
    if (out->running) {
        int pid = containers_pid(e, id);
        out->pid = pid > 0 ? pid : 0;
        out->finished[0] = '\0';
    }
    return 0;
}

json_t *containers_top(kl_engine *e, const char *id, kl_error *err)
{
    int pid = containers_pid(e, id);
    if (pid <= 0)
        return kl_error_set(err, ENOTCONN, "container not running"), NULL;
    host_proc *ps;
    size_t n;
    if (host_container_procs(pid, &ps, &n, err) < 0) {
        if (err->code == ESRCH)
            kl_error_set(err, ENOTCONN, "container not running");
        return NULL;
    }
    double boot = (double)time(NULL) - host_uptime();
    long hz = host_clock_ticks();
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            list,
            json_pack("{s:i, s:i, s:I, s:s#, s:I, s:f, s:s}", "pid", ps[i].pid, "ppid", ps[i].ppid,
                      "uid", (json_int_t)ps[i].uid, "state", &ps[i].state, (size_t)1, "started",
                      (json_int_t)(boot + (double)ps[i].start_ticks / (double)hz), "cpu_seconds",
                      (double)ps[i].cpu_ticks / (double)hz, "cmd", ps[i].cmd ? ps[i].cmd : ""));
    host_procs_free(ps, n);
    return json_pack("{s:o}", "processes", list);
}

json_t *containers_usage(kl_engine *e, const char *id, kl_error *err)
{
    int pid = containers_pid(e, id);
    if (pid <= 0)
        return kl_error_set(err, ENOTCONN, "container not running"), NULL;
    host_usage u;
    if (host_container_usage(pid, &u, err) < 0) {
        if (err->code == ESRCH)
            kl_error_set(err, ENOTCONN, "container not running");
        return NULL;
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "memory", (json_int_t)u.mem_bytes,
                     "memory_limit", (json_int_t)u.mem_limit, "cpu_ns", (json_int_t)u.cpu_ns,
                     "pids", (json_int_t)u.pids, "system_ns", (json_int_t)u.system_ns, "ncpu",
                     u.ncpu, "pid", pid);
}

/* ---- wire JSON --------------------------------------------------------------------------- */

static json_t *limit_or_null(long long v)
{
    return v > 0 ? json_integer(v) : json_null();
}

/* The Container fields (API.md §5.2) that only change when the record does: the effective
 * cmd/user/env, plus our optional limits. Not `running` and `dataset`. */
static json_t *container_static_json(const container_record *r)
{
    _cleanup_strv_ char **env = host_env_merge(r->image_env, r->env);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "image_id", json_string(r->image_id));
    json_object_set_new(o, "cmd", jx_from_strv(r->cmd && r->cmd[0] ? r->cmd : r->image_cmd));
    json_object_set_new(o, "user", json_string(r->user[0] ? r->user : r->image_user));
    json_object_set_new(o, "env", jx_from_strv(env));
    json_object_set_new(o, "network_driver", json_string(r->network_driver));
    json_object_set_new(o, "public_ports", json_incref(r->public_ports));
    json_object_set_new(o, "jail_param", jx_from_strv(r->jail_param));
    json_object_set_new(o, "restart_policy", json_string(r->restart_policy));
    json_object_set_new(o, "persist", json_boolean(r->persist));
    json_object_set_new(o, "created", json_string(r->created));
    json_object_set_new(o, "memory", limit_or_null(r->memory_bytes));
    json_object_set_new(
        o, "cpus", r->cpu_millis > 0 ? json_real((double)r->cpu_millis / 1000.0) : json_null());
    json_object_set_new(o, "pids_limit", limit_or_null(r->pids_max));
    json_object_set_new(o, "auto_remove", json_boolean(r->auto_remove));
    json_object_set_new(o, "stop_timeout",
                        r->stop_timeout >= 0 ? json_integer(r->stop_timeout) : json_null());
    json_object_set_new(o, "workdir",
                        json_string(r->workdir && r->workdir[0] ? r->workdir
                                    : r->image_workdir          ? r->image_workdir
                                                                : "/"));
    json_object_set_new(o, "init", json_string(r->init ? r->init : "auto"));
    json_object_set_new(o, "stop_cmd", r->stop_cmd ? json_string(r->stop_cmd) : json_null());
    json_object_set_new(o, "stop_signal",
                        r->stop_signal ? json_string(r->stop_signal) : json_null());
    json_object_set_new(o, "labels", r->labels ? json_deep_copy(r->labels) : json_object());
    json_object_set_new(o, "extra_hosts", jx_from_strv(r->extra_hosts));
    static const char *const dns_keys[][2] = {
        {"dns", "nameservers"}, {"dns_search", "search"}, {"dns_options", "options"}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(dns_keys); i++) {
        json_t *v = json_object_get(r->dns, dns_keys[i][1]);
        json_object_set_new(o, dns_keys[i][0], json_is_array(v) ? json_deep_copy(v) : json_null());
    }
    return o;
}

/* The whole wire Container. */
static json_t *container_json(kl_engine *e, const container_record *r, bool running)
{
    json_t *o = container_static_json(r);
    _cleanup_free_ char *dataset = containers_dir(e, r->id);
    json_object_set_new(o, "dataset", json_string(dataset));
    json_object_set_new(o, "running", json_boolean(running));
    return o;
}

/* A JSON string literal of s (UTF-8 passes through). */
static void buf_json_string(kl_buf *b, const char *s)
{
    kl_buf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        kl_buf_append(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            kl_buf_printf(b, "\\%c", c);
        else
            kl_buf_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    kl_buf_append(b, run, (size_t)(s - run));
    kl_buf_append(b, "\"", 1);
}

/* The opt-in fields of a listing row (containers_list_text with `state`): when its last run
 * started and ended and how, from the monitor's state.json, and the addresses of its
 * endpoints. Appended to `b` as `,"started":...,"finished":...,"exit_code":...,
 * "ip_addresses":[...]`. */
static void list_row_state(int runfd, sqlite3_stmt *eps, const char *id, kl_buf *b)
{
    _cleanup_json_ json_t *s = NULL;
    char path[48];
    snprintf(path, sizeof(path), "%.12s/state.json", id);
    _cleanup_close_ int fd =
        runfd >= 0 ? openat(runfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (fd >= 0) {
        char buf[16384];
        ssize_t n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf) - 1));
        if (n > 0) {
            buf[n] = '\0';
            s = json_loads(buf, 0, NULL);
        }
    }
    const char *started = jx_str(s, "started", NULL), *finished = jx_str(s, "finished", NULL);
    json_t *code = json_object_get(s, "exit_code");
    kl_buf_puts(b, ",\"started\":");
    if (started)
        buf_json_string(b, started);
    else
        kl_buf_puts(b, "null");
    kl_buf_puts(b, ",\"finished\":");
    if (finished)
        buf_json_string(b, finished);
    else
        kl_buf_puts(b, "null");
    if (json_is_integer(code))
        kl_buf_printf(b, ",\"exit_code\":%lld", (long long)json_integer_value(code));
    else
        kl_buf_puts(b, ",\"exit_code\":null");
    kl_buf_puts(b, ",\"ip_addresses\":[");
    bool first = true;
    if (eps) {
        sqlite3_reset(eps);
        sqlite3_bind_text(eps, 1, id, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(eps) == SQLITE_ROW) {
            for (int i = 0; i < 2; i++) {
                const char *ip = col(eps, i);
                if (!ip[0])
                    continue;
                if (!first)
                    kl_buf_append(b, ",", 1);
                first = false;
                buf_json_string(b, ip);
            }
        }
    }
    kl_buf_puts(b, "]");
}

/* Listing must stay cheap (DESIGN.md §8: 1000 containers in 2 ms): each row's static part
 * is kept as JSON text in the `wire` column (rewritten whenever the record changes) and
 * spliced with the fields computed now; no JSON is parsed. With `state` (ours, opt-in) each
 * row also reads its monitor's state file and its endpoints (list_row_state). */
char *containers_list_text(kl_engine *e, bool all, bool state, kl_error *err)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    kl_buf_append(&b, "[", 1);
    bool first = true;
    engine_lock(e);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "SELECT " CONTAINER_COLUMNS ", i.name, i.tag, c.wire "
                      "FROM containers c JOIN images i ON i.id = c.image_id "
                      "ORDER BY c.created DESC, c.rowid DESC",
                      err);
    /* one directory fd for the whole listing: a container without a monitor socket costs a
     * single failed fstatat */
    _cleanup_free_ char *runs = containers_run_dir(e, "");
    _cleanup_close_ int runfd = open(runs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *dsprefix = containers_dir(e, "");
    _cleanup_buf_ kl_buf ds = KL_BUF_INIT;
    _cleanup_stmt_ sqlite3_stmt *eps =
        st && state ? store_prepare(e->store,
                                    "SELECT ip_address, ip_address6 FROM endpoints "
                                    "WHERE container_id = ? ORDER BY rowid",
                                    err)
                    : NULL;
    int rc = SQLITE_ERROR;
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = col(st, 0);
            char sock[32];
            snprintf(sock, sizeof(sock), "%.12s/monitor.sock", id);
            struct stat sst;
            bool running = runfd >= 0 && fstatat(runfd, sock, &sst, AT_SYMLINK_NOFOLLOW) == 0 &&
                           containers_is_running(e, id);
            if (!all && !running)
                continue;
            if (!first)
                kl_buf_append(&b, ",", 1);
            first = false;
            kl_buf_printf(
                &b, "{\"running\":%s,\"jid\":null,\"image_name\":", running ? "true" : "false");
            buf_json_string(&b, col(st, 9));
            kl_buf_puts(&b, ",\"image_tag\":");
            buf_json_string(&b, col(st, 10));
            kl_buf_puts(&b, ",\"dataset\":");
            kl_buf_consume(&ds, ds.len);
            kl_buf_puts(&ds, dsprefix);
            kl_buf_puts(&ds, id);
            buf_json_string(&b, ds.data);
            if (state)
                list_row_state(runfd, eps, id, &b);
            const char *wire = (const char *)sqlite3_column_text(st, 11);
            _cleanup_free_ char *made = NULL;
            if (!wire || wire[0] != '{' || wire[1] == '}') {
                /* a row written without the cache: build it */
                container_record r;
                record_from_row(st, &r);
                _cleanup_json_ json_t *sj = container_static_json(&r);
                container_record_clear(&r);
                wire = made = jx_dump(sj);
            }
            kl_buf_puts(&b, ",");
            kl_buf_puts(&b, wire + 1);
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "listing containers", err);
    }
    store_unlock(e->store);
    engine_unlock(e);
    if (rc != SQLITE_DONE)
        return NULL;
    kl_buf_append(&b, "]", 1);
    return kl_buf_steal(&b);
}

json_t *containers_list(kl_engine *e, bool all, kl_error *err)
{
    _cleanup_free_ char *text = containers_list_text(e, all, false, err);
    if (!text)
        return NULL;
    json_error_t je;
    json_t *out = json_loads(text, 0, &je);
    if (!out)
        kl_error_set(err, EIO, "listing containers: %s", je.text);
    return out;
}

static json_t *endpoints_json(kl_engine *e, const char *id, kl_error *err)
{
    _cleanup_json_ json_t *out = json_array();
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "SELECT id, network_id, container_id, epair, ip_address, ip_address6,"
        " json_extract(doc, '$.aliases') FROM endpoints WHERE container_id = ? ORDER BY rowid",
        err);
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *epair = (const char *)sqlite3_column_text(st, 3);
            json_array_append_new(out,
                                  json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "id", col(st, 0),
                                            "network_id", col(st, 1), "container_id", col(st, 2),
                                            "epair", epair ? json_string(epair) : json_null(),
                                            "ip_address", col(st, 4), "ip_address6", col(st, 5)));
            _cleanup_json_ json_t *al = json_loads(col(st, 6), 0, NULL);
            json_object_set_new(json_array_get(out, json_array_size(out) - 1), "aliases",
                                json_is_array(al) ? json_incref(al) : json_array());
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading container endpoints", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? steal_pointer(&out) : NULL;
}

json_t *containers_inspect(kl_engine *e, const char *ident, kl_error *err)
{
    engine_lock(e);
    char id[13];
    container_record r = {0};
    json_t *out = NULL;
    int found = resolve_locked(e, ident, id, err);
    if (found == 0) {
        found = get_locked(e, id, &r, err);
        if (found == 0)
            kl_error_set(err, ENOENT, "container not found");
    }
    if (found == 1) {
        json_t *eps = endpoints_json(e, id, err);
        if (eps) {
            json_t *mps = json_array();
            for (size_t i = 0; i < r.n_mounts; i++)
                json_array_append_new(mps, json_pack("{s:s, s:s, s:s, s:s, s:b}", "type",
                                                     r.mounts[i].type, "container_id", r.id,
                                                     "destination", r.mounts[i].destination,
                                                     "source", r.mounts[i].source, "read_only",
                                                     r.mounts[i].read_only));
            out = json_pack("{s:o, s:o, s:o}", "container",
                            container_json(e, &r, containers_is_running(e, id)),
                            "container_endpoints", eps, "container_mountpoints", mps);
        }
        container_record_clear(&r);
    }
    engine_unlock(e);
    return out;
}

/* ---- validation --------------------------------------------------------------------------- */

/* API.md §4.2, with the original's message. Returns the name without its leading '/'. */
static int check_name(const char *name, const char **stripped, kl_error *err)
{
    static regex_t re;
    static bool compiled;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!compiled) {
        compiled = regcomp(&re, "^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$", REG_EXTENDED | REG_NOSUB) == 0;
    }
    pthread_mutex_unlock(&mu);
    if (strnlen(name, KL_OBJECT_NAME_MAX + 1) > KL_OBJECT_NAME_MAX)
        return kl_error_set(err, EINVAL, "container name longer than %d characters",
                            KL_OBJECT_NAME_MAX);
    if (!compiled || regexec(&re, name, 0, NULL, 0) != 0)
        return kl_error_set(err, EINVAL, "%s does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$", name);
    *stripped = name[0] == '/' ? name + 1 : name;
    return 0;
}

/* Under the engine lock: 1 if another container than `self` has the name. */
static int name_taken(kl_engine *e, const char *name, const char *self, kl_error *err)
{
    _cleanup_strv_ char **ids = NULL;
    if (query_ids(e, "SELECT id FROM containers WHERE name = ?", name, 0, &ids, err) < 0)
        return -1;
    for (size_t i = 0; ids && ids[i]; i++)
        if (!self || strcmp(ids[i], self) != 0)
            return 1;
    return 0;
}

static int check_jail_params(char *const *params, kl_error *err)
{
    host_jailparams jp;
    int r = host_jailparams_parse(params, &jp, err);
    if (r == 0)
        host_jailparams_free(&jp);
    return r;
}

/* Our optional limits (docs/api.md). A JSON null leaves *out unchanged. */
static int read_limits(const json_t *config, long long *memory, long long *cpu_millis,
                       long long *pids, kl_error *err)
{
    json_t *m = json_object_get(config, "memory");
    if (m && !json_is_null(m)) {
        long long v = json_is_integer(m) ? json_integer_value(m) : -1;
        if (v < 0 || (v > 0 && v < MEMORY_MIN))
            return kl_error_set(err, EINVAL,
                                "invalid memory limit: must be 0 (no limit) or at least %lld bytes",
                                MEMORY_MIN);
        *memory = v;
    }
    json_t *c = json_object_get(config, "cpus");
    if (c && !json_is_null(c)) {
        double v = json_is_number(c) ? json_number_value(c) : -1;
        if (!(v >= 0 && v <= 1024) || (v > 0 && llround(v * 1000) < 1))
            return kl_error_set(
                err, EINVAL, "invalid cpus limit: must be 0 (no limit) or between 0.001 and 1024");
        *cpu_millis = llround(v * 1000);
    }
    json_t *p = json_object_get(config, "pids_limit");
    if (p && !json_is_null(p)) {
        long long v = json_is_integer(p) ? json_integer_value(p) : -1;
        if (v < 0)
            return kl_error_set(err, EINVAL, "invalid pids_limit: must be 0 (no limit) or more");
        *pids = v;
    }
    return 0;
}

/* Ours (docs/api.md "Name resolution"). */
int containers_read_names(const json_t *config, char ***extra, json_t **dns, kl_error *err)
{
    *extra = NULL;
    *dns = NULL;
    json_t *eh = json_object_get(config, "extra_hosts");
    if (eh && !json_is_null(eh) && !json_is_array(eh))
        return kl_error_set(err, EINVAL, "extra_hosts must be a list of NAME:ADDRESS strings");
    size_t i;
    json_t *it;
    json_array_foreach(eh, i, it)
    {
        size_t nlen;
        const char *addr;
        if (!json_is_string(it))
            return kl_error_set(err, EINVAL, "extra_hosts must be a list of NAME:ADDRESS strings");
        if (etcfiles_check_extra_host(json_string_value(it), &nlen, &addr, err) < 0)
            return -1;
    }
    static const char *const keys[][2] = {
        {"dns", "nameservers"}, {"dns_search", "search"}, {"dns_options", "options"}};
    _cleanup_json_ json_t *d = NULL;
    for (size_t k = 0; k < KL_ARRAY_SIZE(keys); k++) {
        json_t *v = json_object_get(config, keys[k][0]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_array(v))
            return kl_error_set(err, EINVAL, "%s must be a list of strings", keys[k][0]);
        json_array_foreach(v, i, it)
        {
            const char *s = json_string_value(it);
            if (!s)
                return kl_error_set(err, EINVAL, "%s must be a list of strings", keys[k][0]);
            if ((k == 0 && etcfiles_check_nameserver(s, err) < 0) ||
                (k == 1 && etcfiles_check_search(s, err) < 0) ||
                (k == 2 && etcfiles_check_option(s, err) < 0))
                return -1;
        }
        if (!d)
            d = json_pack("{s:n, s:n, s:n}", "nameservers", "search", "options");
        json_object_set_new(d, keys[k][1], json_deep_copy(v));
    }
    *extra = jx_strv(eh);
    *dns = steal_pointer(&d);
    return 0;
}

/* Ours: config.stop_signal, a signal as lib/signame.h takes it, kept as "SIG<NAME>" ("" back
 * to the default: *out NULL). Absent or null: *out unchanged and 0. */
static int read_stop_signal(const json_t *config, char **out, bool *changed, kl_error *err)
{
    json_t *v = json_object_get(config, "stop_signal");
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    char *canon = NULL;
    if (*s) {
        canon = strlen(s) == json_string_length(v) ? kl_signal_canonical(s) : NULL;
        if (!canon)
            return kl_error_set(err, EINVAL, "invalid stop_signal '%s'", s);
    }
    if ((!canon) != (!*out) || (canon && strcmp(canon, *out) != 0)) {
        free(*out);
        *out = canon;
        *changed = true;
    } else
        free(canon);
    return 0;
}

/* Our optional settings (docs/api.md): auto_remove, stop_timeout, workdir. A JSON null leaves
 * the value unchanged. */
static int read_settings(const json_t *config, const char *restart_policy, bool *auto_remove,
                         long long *stop_timeout, char **workdir, kl_error *err)
{
    json_t *a = json_object_get(config, "auto_remove");
    if (json_is_boolean(a))
        *auto_remove = json_boolean_value(a);
    if (*auto_remove && restart_policy && strcmp(restart_policy, "on-startup") == 0)
        return kl_error_set(err, EINVAL,
                            "a container cannot be removed automatically (auto_remove) and "
                            "restarted by kleened (restart policy 'on-startup') at once");
    json_t *t = json_object_get(config, "stop_timeout");
    if (t && !json_is_null(t)) {
        long long v = json_is_integer(t) ? json_integer_value(t) : -2;
        if (v < -1 || v > 86400)
            return kl_error_set(err, EINVAL,
                                "invalid stop_timeout: must be between 0 and 86400 seconds (or -1 "
                                "for the default)");
        *stop_timeout = v;
    }
    json_t *w = json_object_get(config, "workdir");
    if (json_is_string(w)) {
        const char *v = json_string_value(w);
        if (v[0] && (v[0] != '/' || strlen(v) != json_string_length(w) || strlen(v) > 4096))
            return kl_error_set(err, EINVAL, "invalid workdir '%s': it must be an absolute path",
                                v);
        free(*workdir);
        *workdir = xstrdup(v);
    }
    return 0;
}

/* PublishedPortConfig[] → PublishedPort[] (API.md §5.5). */
static json_t *check_ports(const json_t *ports, const char *driver, kl_error *err)
{
    _cleanup_json_ json_t *out = json_array();
    size_t n = json_is_array(ports) ? json_array_size(ports) : 0;
    if (n && (!strcmp(driver, "host") || !strcmp(driver, "disabled"))) {
        kl_error_set(err, EINVAL,
                     "cannot publish ports of a container using the '%s' network driver", driver);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(ports, i);
        portspec ps;
        if (portspec_parse(jx_str(p, "host_port", ""), jx_str(p, "container_port", ""), &ps, err) <
            0)
            return NULL;
        json_t *ifs = json_object_get(p, "interfaces");
        const char *ha = jx_str(p, "host_address", "");
        ipam_addr a;
        kl_error aerr = KL_ERROR_INIT;
        if (ha[0] && ipam_addr_parse(ha, &a, &aerr) < 0) {
            kl_error_set(err, EINVAL,
                         "invalid host_address '%s' of a published port: an IPv4 or IPv6 address",
                         ha);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "interfaces",
                                             json_is_array(ifs) ? json_incref(ifs) : json_array(),
                                             "host_port", jx_str(p, "host_port", ""),
                                             "container_port", jx_str(p, "container_port", ""),
                                             "protocol", jx_str(p, "protocol", "tcp"), "ip_address",
                                             "", "ip_address6", ""));
        if (ha[0]) /* only when given: stored ports stay as they were */
            json_object_set_new(json_array_get(out, i), "host_address", json_string(ha));
    }
    return steal_pointer(&out);
}

/* An absolute destination without `..`, with `.` and repeated or trailing '/' removed. */
static char *normalise_destination(const char *d, kl_error *err)
{
    if (!d || d[0] != '/') {
        kl_error_set(err, EINVAL, "invalid mount destination '%s': it must be an absolute path",
                     d ? d : "");
        return NULL;
    }
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    _cleanup_free_ char *copy = xstrdup(d);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            kl_error_set(err, EINVAL, "invalid mount destination '%s': '..' is not allowed", d);
            return NULL;
        }
        kl_buf_printf(&b, "/%s", c);
    }
    if (b.len == 0) {
        kl_error_set(err, EINVAL,
                     "invalid mount destination '%s': cannot mount over the container's root", d);
        return NULL;
    }
    kl_buf_append(&b, "", 1);
    return kl_buf_steal(&b);
}

/* Is the lexically clean absolute path p (no "." or "..") `top` or below it? */
static bool path_is_at_or_below(const char *p, const char *top)
{
    size_t n = strlen(top);
    while (p[0] == '/' && p[1] == '/')
        p++;
    return strncmp(p, top, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

int containers_check_mount(kl_engine *e, const char *type, const char *source,
                           const char *destination, kl_error *err)
{
    /* Their files control the kernel (sysctls, sysrq-trigger, ...): a mount over one of them
     * would undo the read-only and masked paths (the runtime checks where the destination
     * leads as well, through the image's symlinks). */
    static const char *const kernel_trees[] = {"/proc", "/sys"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(kernel_trees); i++)
        if (path_is_at_or_below(destination, kernel_trees[i]))
            return kl_error_set(err, EPERM,
                                "invalid mount destination '%s': nothing can be mounted on %s "
                                "or below it",
                                destination, kernel_trees[i]);
    if (strcmp(type, "nullfs") == 0 && host_bind_source_check(source, e->private_dirs, err) < 0) {
        if (err->code == EPERM)
            kl_error_set(err, EPERM,
                         "invalid mount source '%s': it is inside kleened's own directories "
                         "(database, layers, containers, volumes, run files), which no "
                         "container may see",
                         source);
        return -1;
    }
    return 0;
}

/* MountPointConfig[] → checked mounts (API.md §5.6, §8.6). */
static int check_mounts(kl_engine *e, const json_t *mounts, container_mount **out, size_t *n_out,
                        kl_error *err)
{
    size_t n = json_is_array(mounts) ? json_array_size(mounts) : 0;
    container_mount *m = xcalloc(n ? n : 1, sizeof(*m));
    *out = m;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(mounts, i);
        const char *type = jx_str(j, "type", NULL);
        const char *source = jx_str(j, "source", NULL);
        if (!type || (strcmp(type, "volume") != 0 && strcmp(type, "nullfs") != 0))
            return kl_error_set(err, EINVAL,
                                "invalid mount: its type must be 'volume' or 'nullfs'");
        char *dest = normalise_destination(jx_str(j, "destination", NULL), err);
        if (!dest)
            return -1;
        m[i] = (container_mount){.type = xstrdup(type),
                                 .destination = dest,
                                 .source = xstrdup(source ? source : ""),
                                 .read_only = jx_bool(j, "read_only", false)};
        (*n_out)++;
        if (!strcmp(type, "volume")) {
            if (!volumes_name_is_valid(source))
                return kl_error_set(err, EINVAL,
                                    "invalid volume name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                    "are allowed",
                                    source ? source : "");
            continue;
        }
        if (!source || source[0] != '/')
            return kl_error_set(err, EINVAL,
                                "invalid mount source '%s': a nullfs mount needs an absolute "
                                "host path",
                                source ? source : "");
        struct stat st;
        if (stat(source, &st) < 0) {
            int saved = errno;
            return kl_error_set(err, saved, "invalid mount source '%s': %s", source,
                                strerror(saved));
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            return kl_error_set(err, EINVAL,
                                "could not determine source type, must be either directory or "
                                "regular file");
    }
    for (size_t i = 0; i < *n_out; i++)
        if (containers_check_mount(e, m[i].type, m[i].source, m[i].destination, err) < 0)
            return -1;
    return 0;
}

static void mounts_free(container_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].type);
        free(m[i].source);
        free(m[i].destination);
    }
    free(m);
}

/* ---- create -------------------------------------------------------------------------------- */

static bool dir_is_empty(const char *path)
{
    _cleanup_closedir_ DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return false;
    return true;
}

/* Create the volumes the mounts name (if missing) and pre-populate empty ones from the
 * image's content at the destination (API.md §8.6). Under the engine lock. */
static int prepare_volumes(kl_engine *e, const images_stack *stack, const container_mount *m,
                           size_t n, kl_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].type, "volume") != 0)
            continue;
        if (volumes_create(e, m[i].source, err) < 0)
            return -1;
        _cleanup_free_ char *vdir = xasprintf("%s/volumes/%s", e->root, m[i].source);
        if (!dir_is_empty(vdir))
            continue;
        /* full-tree layers (FreeBSD): the top layer alone is the image's tree */
        size_t skip = host_layers_full_tree() ? stack->n - 1 : 0;
        if (host_layers_copy_path((const char *const *)stack->dirs + skip, stack->n - skip,
                                  m[i].destination, vdir, err) < 0)
            return kl_error_prefix(err, "populating volume %s from the image", m[i].source);
    }
    return 0;
}

static int make_dirs(const char *dir, kl_error *err)
{
    if (mkdir(dir, 0700) < 0)
        return kl_error_errno(err, errno, "creating %s", dir);
    static const char *const subs[] = {"upper", "work", "rootfs"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(subs); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, subs[i]);
        if (mkdir(p, 0755) < 0 || chmod(p, 0755) < 0)
            return kl_error_errno(err, errno, "creating %s", p);
    }
    return 0;
}

/* Full-tree layers (FreeBSD, host/storage.h): the container's own root, a clone of its
 * image's top layer mounted at <dir>/rootfs, made at create and kept until remove (as the
 * upper directory of an overlay is on Linux, where there is nothing to do here). */
static int root_create(kl_engine *e, const char *id, const images_stack *stack, const char *dir,
                       kl_error *err)
{
    if (!host_layers_full_tree())
        return 0;
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
    if (host_container_root_create(sroot, id, stack->layer_ids[stack->n - 1], rootfs, err) < 0)
        return kl_error_prefix(err, "creating the container's root filesystem");
    return 0;
}

static int root_remove(kl_engine *e, const char *id, kl_error *err)
{
    if (!host_layers_full_tree())
        return 0;
    _cleanup_free_ char *sroot = images_storage_root(e);
    return host_container_root_remove(sroot, id, err);
}

/* The doc column: everything not in a column of its own. */
static json_t *record_doc(const container_record *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "image_ref", json_string(r->image_ref));
    json_object_set_new(d, "cmd", jx_from_strv(r->cmd));
    json_object_set_new(d, "user", json_string(r->user));
    json_object_set_new(d, "env", jx_from_strv(r->env));
    json_object_set_new(d, "jail_param", jx_from_strv(r->jail_param));
    json_object_set_new(d, "public_ports", json_deep_copy(r->public_ports));
    json_object_set_new(d, "memory", json_integer(r->memory_bytes));
    json_object_set_new(d, "cpu_millis", json_integer(r->cpu_millis));
    json_object_set_new(d, "pids_limit", json_integer(r->pids_max));
    json_object_set_new(d, "init", json_string(r->init ? r->init : "auto"));
    if (r->stop_cmd)
        json_object_set_new(d, "stop_cmd", json_string(r->stop_cmd));
    if (r->stop_signal)
        json_object_set_new(d, "stop_signal", json_string(r->stop_signal));
    json_object_set_new(d, "image_cmd", jx_from_strv(r->image_cmd));
    json_object_set_new(d, "image_entrypoint", jx_from_strv(r->image_entrypoint));
    json_object_set_new(d, "image_env", jx_from_strv(r->image_env));
    json_object_set_new(d, "image_user", json_string(r->image_user));
    json_object_set_new(d, "auto_remove", json_boolean(r->auto_remove));
    json_object_set_new(d, "stop_timeout", json_integer(r->stop_timeout));
    json_object_set_new(d, "workdir", json_string(r->workdir ? r->workdir : ""));
    json_object_set_new(d, "image_workdir", json_string(r->image_workdir ? r->image_workdir : "/"));
    json_object_set_new(d, "labels", r->labels ? json_deep_copy(r->labels) : json_object());
    if (r->of_build)
        json_object_set_new(d, "of_build", json_true());
    if (r->door)
        json_object_set(d, "door", r->door);
    if (r->extra_hosts && r->extra_hosts[0])
        json_object_set_new(d, "extra_hosts", jx_from_strv(r->extra_hosts));
    if (r->dns)
        json_object_set(d, "dns", r->dns);
    return d;
}

static int step_done(kl_engine *e, sqlite3_stmt *st, const char *what, kl_error *err)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_fail(e->store, what, err);
    return 0;
}

static int insert_rows(kl_engine *e, const char *id, const char *name, const images_stack *stack,
                       const char *created, const char *driver, const char *restart, bool persist,
                       const char *doc, const char *wire, const container_mount *m, size_t n,
                       kl_error *err)
{
    if (store_begin(e->store, err) < 0)
        return -1;
    int r;
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "INSERT INTO containers (id, name, image_id, layer_id, created, network_driver, "
            "restart_policy, persist, doc, wire) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            err);
        r = st ? 0 : -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, stack->image_id, -1, SQLITE_STATIC);
            if (stack->layer_id)
                sqlite3_bind_text(st, 4, stack->layer_id, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 4);
            sqlite3_bind_text(st, 5, created, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, driver, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, restart, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 8, persist);
            sqlite3_bind_text(st, 9, doc, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 10, wire, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) {
                r = store_fail(e->store, "storing container", err);
                if (err->code == EEXIST)
                    kl_error_set(err, EEXIST, "container name '%s' is already taken", name);
            }
        }
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "INSERT INTO mounts (container_id, type, source, destination, read_only, volume) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            err);
        if (!st) {
            r = -1;
            break;
        }
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, m[i].type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, m[i].source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, m[i].destination, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, m[i].read_only);
        if (!strcmp(m[i].type, "volume"))
            sqlite3_bind_text(st, 6, m[i].source, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 6);
        r = step_done(e, st, "storing container mount", err);
    }
    if (r < 0) {
        store_rollback(e->store);
        return -1;
    }
    return store_commit(e->store, err);
}

/* The image's cmd/entrypoint/env/user (its Image JSON), as image_cmd/image_entrypoint/
 * image_env/image_user. */
static json_t *image_defaults(kl_engine *e, const char *image_id, kl_error *err)
{
    _cleanup_json_ json_t *img = images_inspect(e, image_id, err);
    if (!img)
        return NULL;
    return json_pack("{s:O, s:O, s:O, s:s, s:s, s:s?}", "image_cmd", json_object_get(img, "cmd"),
                     "image_entrypoint", json_object_get(img, "entrypoint"), "image_env",
                     json_object_get(img, "env"), "image_user", jx_str(img, "user", "root"),
                     "image_workdir", jx_str(img, "workdir", "/"), "image_stop_signal",
                     jx_str(img, "stop_signal", NULL));
}

/* Under the engine lock; everything is validated. */
static char *create_locked(kl_engine *e, const char *asked_name, const images_stack *stack,
                           const json_t *config, const json_t *ports, container_mount *m,
                           size_t n_mounts, long long memory, long long cpu_millis, long long pids,
                           const container_record *settings, kl_error *err)
{
    _cleanup_free_ char *name = NULL;
    if (asked_name) {
        int t = name_taken(e, asked_name, NULL, err);
        if (t < 0)
            return NULL;
        if (t) {
            kl_error_set(err, EEXIST, "container name '%s' is already taken", asked_name);
            return NULL;
        }
        name = xstrdup(asked_name);
    } else {
        for (int tries = 0;; tries++) {
            char base[KL_NAME_MAX];
            kl_name_random(base, sizeof(base));
            free(name);
            if (tries < 50)
                name = xstrdup(base);
            else /* the name space is nearly used up: add a number like Docker does */
                name = xasprintf("%s%u", base, kl_random_uniform(100000));
            int t = name_taken(e, name, NULL, err);
            if (t < 0)
                return NULL;
            if (!t)
                break;
        }
    }

    char id[KL_ID_LEN + 1];
    _cleanup_free_ char *dir = NULL;
    for (;;) {
        kl_id_new(id);
        _cleanup_strv_ char **ids = NULL;
        if (query_ids(e, "SELECT id FROM containers WHERE id = ?", id, 0, &ids, err) < 0)
            return NULL;
        free(dir);
        dir = containers_dir(e, id);
        if ((!ids || !ids[0]) && access(dir, F_OK) < 0 && errno == ENOENT)
            break;
    }

    _cleanup_json_ json_t *image = image_defaults(e, stack->image_id, err);
    if (!image)
        return NULL;
    /* (a build's record for its networks runs nothing: no root of its own) */
    if (make_dirs(dir, err) < 0 ||
        (!settings->of_build && root_create(e, id, stack, dir, err) < 0)) {
        kl_error e2 = KL_ERROR_INIT;
        host_tree_remove(dir, &e2);
        return NULL;
    }
    /* A crash from here to the rows' commit leaves a directory no row owns: containers_sweep
     * deletes it at the next start. */
    engine_crash_point("container-create-dirs");
    char created[32];
    kl_time_now_iso(created);
    container_record r = {
        .name = xstrdup(name),
        .image_id = xstrdup(stack->image_id),
        .image_ref = stack->layer_id ? xasprintf("%s@%s", stack->image_id, stack->layer_id)
                                     : xstrdup(stack->image_id),
        .cmd = jx_strv(json_object_get(config, "cmd")),
        .user = xstrdup(jx_str(config, "user", "")),
        .env = jx_strv(json_object_get(config, "env")),
        .jail_param = jx_strv(json_object_get(config, "jail_param")),
        .network_driver = xstrdup(jx_str(config, "network_driver", "ipnet")),
        .public_ports = json_incref((json_t *)ports),
        .restart_policy = xstrdup(jx_str(config, "restart_policy", "no")),
        .persist = jx_bool(config, "persist", false),
        .created = xstrdup(created),
        .memory_bytes = memory,
        .cpu_millis = cpu_millis,
        .pids_max = pids,
        .image_cmd = jx_strv(json_object_get(image, "image_cmd")),
        .image_entrypoint = jx_strv(json_object_get(image, "image_entrypoint")),
        .image_env = jx_strv(json_object_get(image, "image_env")),
        .image_user = xstrdup(jx_str(image, "image_user", "root")),
        .auto_remove = settings->auto_remove,
        .stop_timeout = settings->stop_timeout,
        .workdir = xstrdup(settings->workdir ? settings->workdir : ""),
        .of_build = settings->of_build,
        .image_workdir = xstrdup(jx_str(image, "image_workdir", "/")),
        .init = xstrdup(jx_str(config, "init", "auto")),
        /* the container's own, else its image's (Docker's Config.StopSignal) */
        .stop_signal = settings->stop_signal ? xstrdup(settings->stop_signal)
                       : jx_str(image, "image_stop_signal", NULL)
                           ? xstrdup(jx_str(image, "image_stop_signal", NULL))
                           : NULL,
        .stop_cmd = jx_str(config, "stop_cmd", NULL) && *jx_str(config, "stop_cmd", NULL)
                        ? xstrdup(jx_str(config, "stop_cmd", NULL))
                        : NULL,
        .labels = json_is_object(json_object_get(config, "labels"))
                      ? json_deep_copy(json_object_get(config, "labels"))
                      : json_object(),
    };
    memcpy(r.id, id, sizeof(r.id));
    r.extra_hosts = strv_dup(settings->extra_hosts);
    r.dns = settings->dns ? json_deep_copy(settings->dns) : NULL;
    json_t *door = json_object_get(config, "door");
    r.door = door ? json_incref(door) : NULL;
    json_t *entrypoint = json_object_get(config, "entrypoint");
    if (json_is_array(entrypoint)) { /* a door's override (Docker's --entrypoint) */
        strv_free(r.image_entrypoint);
        r.image_entrypoint = jx_strv(entrypoint);
        strv_free(r.image_cmd);
        r.image_cmd = jx_strv(NULL);
    }
    _cleanup_json_ json_t *doc = record_doc(&r);
    _cleanup_free_ char *doc_s = jx_dump(doc);
    _cleanup_json_ json_t *wire = container_static_json(&r);
    _cleanup_free_ char *wire_s = jx_dump(wire);

    if (prepare_volumes(e, stack, m, n_mounts, err) < 0 ||
        insert_rows(e, id, name, stack, created, r.network_driver, r.restart_policy, r.persist,
                    doc_s, wire_s, m, n_mounts, err) < 0) {
        kl_error e2 = KL_ERROR_INIT;
        if (root_remove(e, id, &e2) < 0 || host_tree_remove(dir, &e2) < 0)
            log_warn("container %s: removing %s after a failed create: %s", id, dir, e2.msg);
        container_record_clear(&r);
        return NULL;
    }
    log_info("container %s (%s) created from image %s", id, name, r.image_ref);
    emit_record(e, &r, "create", NULL);
    container_record_clear(&r);
    return xstrdup(id);
}

static char *create(kl_engine *e, const json_t *config, bool of_build, kl_error *err);

char *containers_create(kl_engine *e, const json_t *config, kl_error *err)
{
    return create(e, config, false, err);
}

char *containers_create_for_build(kl_engine *e, const json_t *config, kl_error *err)
{
    return create(e, config, true, err);
}

static char *create(kl_engine *e, const json_t *config, bool of_build, kl_error *err)
{
    /* Validation order of the original: name, image, public ports; then ours. */
    const char *asked = NULL;
    json_t *jn = json_object_get(config, "name");
    if (json_is_string(jn) && check_name(json_string_value(jn), &asked, err) < 0)
        return NULL;
    const char *image = jx_str(config, "image", NULL);
    if (!image) {
        kl_error_set(err, EINVAL, "no image given");
        return NULL;
    }
    images_stack stack = {0};
    if (images_resolve_stack(e, image, &stack, err) < 0) {
        /* the original names the reference as given (no ":latest" added) */
        if (err->code == ENOENT && !strncmp(err->msg, "no such image", 13))
            kl_error_set(err, ENOENT, "no such image '%s'", image);
        return NULL;
    }
    const char *driver = jx_str(config, "network_driver", "ipnet");
    char *out = NULL;
    container_mount *m = NULL;
    size_t n_mounts = 0;
    long long memory = 0, cpu_millis = 0, pids = 0;
    container_record settings = {.stop_timeout = -1, .of_build = of_build};
    _cleanup_strv_ char **jp = jx_strv(json_object_get(config, "jail_param"));
    _cleanup_json_ json_t *ports =
        check_ports(json_object_get(config, "public_ports"), driver, err);
    if (ports && check_jail_params(jp, err) == 0 &&
        kl_labels_check(json_object_get(config, "labels"), err) == 0 &&
        read_limits(config, &memory, &cpu_millis, &pids, err) == 0 &&
        read_settings(config, jx_str(config, "restart_policy", "no"), &settings.auto_remove,
                      &settings.stop_timeout, &settings.workdir, err) == 0 &&
        read_stop_signal(config, &settings.stop_signal, &(bool){false}, err) == 0 &&
        containers_read_names(config, &settings.extra_hosts, &settings.dns, err) == 0 &&
        check_mounts(e, json_object_get(config, "mounts"), &m, &n_mounts, err) == 0) {
        engine_lock(e);
        out = create_locked(e, asked, &stack, config, ports, m, n_mounts, memory, cpu_millis, pids,
                            &settings, err);
        engine_unlock(e);
    }
    container_record_clear(&settings);
    mounts_free(m, n_mounts);
    images_stack_clear(&stack);
    return out;
}

/* ---- update ------------------------------------------------------------------------------- */

static bool strv_equal(char *const *a, char *const *b)
{
    size_t na = strv_len(a), nb = strv_len(b);
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* Replace *v by the config's array `key` unless it is null (API.md §8.1: only null keeps a
 * field). Sets *changed. */
static void update_strv(const json_t *config, const char *key, char ***v, bool *changed)
{
    json_t *j = json_object_get(config, key);
    if (!j || json_is_null(j))
        return;
    char **nv = jx_strv(j);
    if (!strv_equal(nv, *v))
        *changed = true;
    strv_free(*v);
    *v = nv;
}

static void update_str(const json_t *config, const char *key, char **v, bool *changed)
{
    json_t *j = json_object_get(config, key);
    if (!json_is_string(j))
        return;
    if (strcmp(json_string_value(j), *v) != 0)
        *changed = true;
    free(*v);
    *v = xstrdup(json_string_value(j));
}

static int save_record(kl_engine *e, const container_record *r, kl_error *err)
{
    _cleanup_json_ json_t *doc = record_doc(r);
    _cleanup_free_ char *doc_s = jx_dump(doc);
    _cleanup_json_ json_t *wire = container_static_json(r);
    _cleanup_free_ char *wire_s = jx_dump(wire);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "UPDATE containers SET name = ?, restart_policy = ?, persist = ?, doc = ?, wire = ? "
        "WHERE id = ?",
        err);
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->restart_policy, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, r->persist);
        sqlite3_bind_text(st, 4, doc_s, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, wire_s, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, r->id, -1, SQLITE_STATIC);
        rc = step_done(e, st, "updating container", err);
        if (rc < 0 && err->code == EEXIST)
            kl_error_set(err, EEXIST, "container name '%s' is already taken", r->name);
    }
    store_unlock(e->store);
    return rc;
}

static int update_locked(kl_engine *e, const char *id, const json_t *config, kl_error *err)
{
    container_record r;
    int found = get_locked(e, id, &r, err);
    if (found <= 0)
        return found < 0 ? -1 : kl_error_set(err, ENOENT, "container not found");
    bool changed = false;
    int rc = 0;
    _cleanup_free_ char *old_name = NULL; /* when renamed */
    json_t *jn = json_object_get(config, "name");
    if (json_is_string(jn)) {
        const char *name = NULL;
        rc = check_name(json_string_value(jn), &name, err);
        if (rc == 0 && strcmp(name, r.name) != 0) {
            int t = name_taken(e, name, r.id, err);
            if (t != 0)
                rc = t < 0
                         ? -1
                         : kl_error_set(err, EEXIST, "container name '%s' is already taken", name);
            old_name = steal_pointer(&r.name);
            r.name = xstrdup(name);
            changed = true;
        }
    }
    if (rc == 0) {
        update_str(config, "user", &r.user, &changed);
        update_strv(config, "env", &r.env, &changed);
        update_strv(config, "cmd", &r.cmd, &changed);
        update_strv(config, "jail_param", &r.jail_param, &changed);
        update_str(config, "restart_policy", &r.restart_policy, &changed);
        update_str(config, "init", &r.init, &changed);
        json_t *sc = json_object_get(config, "stop_cmd");
        if (json_is_string(sc)) {
            const char *v = json_string_value(sc);
            if (!r.stop_cmd || strcmp(r.stop_cmd, v) != 0) {
                free(r.stop_cmd);
                r.stop_cmd = *v ? xstrdup(v) : NULL;
                changed = true;
            }
        }
        rc = read_stop_signal(config, &r.stop_signal, &changed, err);
    }
    if (rc == 0) {
        json_t *p = json_object_get(config, "persist");
        if (json_is_boolean(p) && json_boolean_value(p) != r.persist) {
            r.persist = json_boolean_value(p);
            changed = true;
        }
        long long mem = r.memory_bytes, cpu = r.cpu_millis, pids = r.pids_max;
        rc = read_limits(config, &mem, &cpu, &pids, err);
        if (rc == 0 && (mem != r.memory_bytes || cpu != r.cpu_millis || pids != r.pids_max)) {
            r.memory_bytes = mem;
            r.cpu_millis = cpu;
            r.pids_max = pids;
            changed = true;
        }
    }
    if (rc == 0) {
        bool ar = r.auto_remove;
        long long st = r.stop_timeout;
        char *wd = xstrdup(r.workdir);
        rc = read_settings(config, r.restart_policy, &ar, &st, &wd, err);
        if (rc == 0 && (ar != r.auto_remove || st != r.stop_timeout || strcmp(wd, r.workdir))) {
            int pid = ar && !r.auto_remove ? containers_pid(e, r.id) : -1;
            if (pid > 0) /* running now: it goes when it ends */
                endwatch_add(e->endwatch, r.id, pid);
            r.auto_remove = ar;
            r.stop_timeout = st;
            free(r.workdir);
            r.workdir = steal_pointer(&wd);
            changed = true;
        }
        free(wd);
    }
    json_t *labels = json_object_get(config, "labels");
    if (rc == 0 && json_is_object(labels) && !json_equal(labels, r.labels)) {
        rc = kl_labels_check(labels, err);
        json_decref(r.labels);
        r.labels = json_deep_copy(labels);
        changed = true;
    }
    if (rc == 0 &&
        (json_object_get(config, "extra_hosts") || json_object_get(config, "dns") ||
         json_object_get(config, "dns_search") || json_object_get(config, "dns_options"))) {
        /* given = replaced (null: unchanged), as the other lists */
        char **extra = NULL;
        json_t *dns = NULL;
        rc = containers_read_names(config, &extra, &dns, err);
        if (rc == 0) {
            json_t *eh = json_object_get(config, "extra_hosts");
            if (eh && !json_is_null(eh) && !strv_equal(extra, r.extra_hosts)) {
                strv_free(r.extra_hosts);
                r.extra_hosts = steal_pointer(&extra);
                changed = true;
            }
            if (dns) {
                json_t *merged = r.dns ? json_deep_copy(r.dns) : json_deep_copy(dns);
                const char *k;
                json_t *v;
                json_object_foreach(dns, k, v) if (!json_is_null(v)) json_object_set(merged, k, v);
                if (!r.dns || !json_equal(merged, r.dns)) {
                    json_decref(r.dns);
                    r.dns = json_incref(merged);
                    changed = true;
                }
                json_decref(merged);
            }
        }
        strv_free(extra);
        json_decref(dns);
    }
    if (rc == 0)
        rc = check_jail_params(r.jail_param, err);
    /* A running container: on FreeBSD its jail gets the whole jail_param list with `jail -m`
     * (FREEBSD-HOST.md §4.7), and a refusal saves nothing, as in the original; on Linux it
     * keeps its current settings and the stored ones apply at its next start (docs/api.md). */
    if (rc == 0 && changed && containers_is_running(e, r.id))
        rc = host_container_update(r.id, r.jail_param, err);
    bool renamed = false;
    if (rc == 0 && changed) {
        container_record old = {0};
        kl_error gerr = KL_ERROR_INIT;
        renamed = get_locked(e, id, &old, &gerr) == 1 && strcmp(old.name, r.name) != 0;
        container_record_clear(&old);
        rc = save_record(e, &r, err);
    }
    if (rc == 0 && renamed) { /* peers find it by its new name */
        _cleanup_strv_ char **nids = networks_container_network_ids(e, r.id);
        networks_hosts_refresh(e, nids, r.id);
    }
    if (rc == 0 && old_name)
        emit_record(e, &r, "rename", (char *[]){"oldName", old_name, NULL});
    container_record_clear(&r);
    return rc;
}

/* Does a jail_param list set FreeBSD's `vnet` (vnet, vnet=..., novnet)? */
static bool jail_param_has_vnet(const json_t *params)
{
    size_t i;
    json_t *v;
    json_array_foreach(params, i, v)
    {
        const char *p = json_string_value(v);
        if (p && (!strcmp(p, "vnet") || !strncmp(p, "vnet=", 5) || !strcmp(p, "novnet")))
            return true;
    }
    return false;
}

char *containers_update(kl_engine *e, const char *ident, const json_t *config, kl_error *err)
{
    char id[13];
    engine_lock(e);
    int r = resolve_locked(e, ident, id, err);
    /* The original answers a running jail's `jail -m vnet` with jail(8)'s refusal; users and
     * tests match this text (shared CONFORMANCE.md), so it is kept word for word. */
    if (r == 0 && jail_param_has_vnet(json_object_get(config, "jail_param")) &&
        containers_is_running(e, id))
        r = kl_error_set(err, EBUSY,
                         "an error ocurred while updating the container: '/usr/sbin/jail' "
                         "returned non-zero exitcode 1 when attempting to modify the container "
                         "'jail: vnet cannot be changed after creation\n'");
    if (r == 0)
        r = update_locked(e, id, config, err);
    engine_unlock(e);
    return r == 0 ? xstrdup(id) : NULL;
}

/* ---- remove and prune ------------------------------------------------------------------- */

/* A container directory being removed: <root>/container/.removing-<id>. */
#define REMOVING_PREFIX ".removing-"

static int delete_rows(kl_engine *e, const char *id, kl_error *err)
{
    if (store_begin(e->store, err) < 0)
        return -1;
    int r;
    {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "DELETE FROM mounts WHERE container_id = ?", err);
        r = st ? 0 : -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            r = step_done(e, st, "removing container mounts", err);
        }
    }
    if (r == 0) {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "DELETE FROM containers WHERE id = ?", err);
        r = st ? 0 : -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            r = step_done(e, st, "removing container", err);
        }
    }
    if (r < 0) {
        store_rollback(e->store);
        return -1;
    }
    return store_commit(e->store, err);
}

static int remove_files_and_rows(kl_engine *e, const char *id, char *const *nids, kl_error *err);

/* Under the engine lock: remove a container that is known to exist.
 *
 * The order makes a crash at any point leave the old state or one that containers_sweep
 * completes at the next start (docs/crash-consistency.md): (1) the directory is renamed to
 * <root>/container/.removing-<id>, one atomic step that needs no free space and marks the
 * removal; (2) the files in it are deleted, which also frees the room a full disk needs
 * for (3) the deletion of the rows; (4) the marker and the run directory go. A removal that
 * failed after (1) leaves the marker and is completed by the next removal or start. */
static int remove_locked(kl_engine *e, const char *id, kl_error *err)
{
    if (containers_is_running(e, id))
        return kl_error_set(err, EBUSY, "you cannot remove a running container");
    if (ctrcopy_holds(e, id))
        return kl_error_set(err, EBUSY, "a copy into or out of container %s is under way", id);
    container_record gone = {0}; /* for its destroy event */
    if (get_locked(e, id, &gone, err) < 0)
        return -1;
    /* a run that ended a moment ago and whose end the watcher has not told yet */
    died_locked(e, id, 0, -1, true);
    /* its endpoints go with it: disconnect events, and its peers' /etc/hosts */
    _cleanup_strv_ char **nids = networks_container_network_ids(e, id);
    int r = remove_files_and_rows(e, id, nids, err);
    for (char **n = nids; r == 0 && n && *n; n++) {
        kl_error ignored = KL_ERROR_INIT;
        _cleanup_json_ json_t *net = networks_inspect(e, *n, &ignored);
        json_t *rec = json_object_get(net, "network");
        events_emit(e->events, "network", "disconnect", *n, NULL, "container", id, "name",
                    jx_str(rec, "name", NULL), "type", jx_str(rec, "type", NULL), NULL);
    }
    if (r == 0 && gone.name)
        emit_record(e, &gone, "destroy", NULL);
    container_record_clear(&gone);
    return r;
}

/* nids: the networks the container is on (their other containers' /etc/hosts are rewritten). */
static int remove_files_and_rows(kl_engine *e, const char *id, char *const *nids, kl_error *err)
{
    /* A root of its own (full-tree layers) goes first: it is a filesystem mounted in the
     * directory, which must not move while mounted. A crash right after leaves a container
     * without a root, which the next removal completes (a missing root is no error). */
    if (root_remove(e, id, err) < 0)
        return kl_error_prefix(err, "removing container %s", id);
    _cleanup_free_ char *dir = containers_dir(e, id);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
    struct stat sd, sr;
    if (stat(dir, &sd) == 0 && stat(rootfs, &sr) == 0 && sd.st_dev != sr.st_dev) {
        /* Left mounted by a kleened of before the runtime mounted a container's root inside
         * the container's own namespace: not running, so nothing uses it. */
        kl_error e2 = KL_ERROR_INIT;
        host_rootfs_unmount(rootfs, &e2);
        if (stat(dir, &sd) == 0 && stat(rootfs, &sr) == 0 && sd.st_dev != sr.st_dev)
            return kl_error_set(
                err, EBUSY, "container %s: its root filesystem is still mounted at %s", id, rootfs);
    }
    _cleanup_free_ char *marker = xasprintf("%s/container/" REMOVING_PREFIX "%s", e->root, id);
    if (rename(dir, marker) < 0 && errno != ENOENT) /* ENOENT: no directory, or marked before */
        return kl_error_errno(err, errno, "removing container %s: renaming %s", id, dir);
    engine_crash_point("container-remove-marked");
    if (host_tree_empty(marker, err) < 0 && err->code != ENOENT) {
        /* A mount below (the files before it may be gone): the container stays, to be
         * removed again once the mount is gone. */
        if (rename(marker, dir) < 0)
            log_warn("container %s: renaming %s back: %s", id, marker, strerror(errno));
        return kl_error_prefix(err, "removing container %s", id);
    }
    kl_error_clear(err);
    engine_crash_point("container-remove-emptied");
    engine_space_for_removal(e);
    if (delete_rows(e, id, err) < 0)
        return kl_error_prefix(err,
                               "removing container %s (its files are deleted; the next "
                               "removal or kleened's start completes it)",
                               id);
    engine_crash_point("container-remove-unlinked");
    if (rmdir(marker) < 0 && errno != ENOENT)
        log_warn("container %s: removing %s: %s", id, marker, strerror(errno));
    _cleanup_free_ char *rd = containers_run_dir(e, id);
    kl_error e2 = KL_ERROR_INIT;
    if (host_tree_remove(rd, &e2) < 0)
        log_warn("container %s: removing %s: %s", id, rd, e2.msg);
    log_info("container %s removed", id);
    networks_hosts_refresh(e, nids, NULL); /* its peers no longer list it */
    return 0;
}

int containers_remove(kl_engine *e, const char *ident, char id_out[13], kl_error *err)
{
    char id[13];
    engine_lock(e);
    int r = resolve_locked(e, ident, id, err);
    if (r == 0)
        r = remove_locked(e, id, err);
    engine_unlock(e);
    engine_space_restore(e);
    if (r == 0 && id_out)
        memcpy(id_out, id, 13);
    return r;
}

json_t *containers_prune(kl_engine *e, kl_error *err)
{
    _cleanup_json_ json_t *removed = json_array();
    _cleanup_buf_ kl_buf failed = KL_BUF_INIT;
    engine_lock(e);
    _cleanup_strv_ char **ids = NULL;
    int r = query_ids(e, "SELECT id FROM containers WHERE persist = 0 ORDER BY created, rowid",
                      NULL, 0, &ids, err);
    for (size_t i = 0; r == 0 && ids && ids[i]; i++) {
        if (containers_is_running(e, ids[i]))
            continue;
        kl_error one = KL_ERROR_INIT;
        if (remove_locked(e, ids[i], &one) < 0) {
            log_warn("pruning containers: %s", one.msg);
            kl_buf_printf(&failed, "%s%s", failed.len ? "; " : "", one.msg);
            continue;
        }
        json_array_append_new(removed, json_string(ids[i]));
    }
    engine_unlock(e);
    engine_space_restore(e);
    if (r < 0)
        return NULL;
    /* What could not be removed is an error naming each (issue 12: never a silent 200 []);
     * what was removed is gone all the same and is listed too. */
    if (failed.len) {
        _cleanup_free_ char *done = jx_dump(removed);
        kl_error_set(err, EIO, "pruning containers: %s (removed: %s)", failed.data, done);
        return NULL;
    }
    return steal_pointer(&removed);
}

/* At start (engine_open), before anything runs: complete the removals a crash interrupted
 * (a .removing-<id> marker: rows, then files), and delete the container directories and run
 * directories no row owns (an interrupted create made the directory before its rows). */
void containers_sweep(kl_engine *e)
{
    ctrcopy_sweep(e); /* staging directories of copies (ctrcopy.c) */
    _cleanup_free_ char *top = xasprintf("%s/container", e->root);
    _cleanup_strv_ char **names = NULL;
    {
        _cleanup_closedir_ DIR *d = opendir(top);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&names, de->d_name);
    }
    for (size_t i = 0; names && names[i]; i++) {
        const char *n = names[i];
        bool marked = strncmp(n, REMOVING_PREFIX, strlen(REMOVING_PREFIX)) == 0;
        const char *id = marked ? n + strlen(REMOVING_PREFIX) : n;
        if (!kl_id_is_valid(id))
            continue;
        kl_error err = KL_ERROR_INIT;
        _cleanup_strv_ char **rows = NULL;
        if (query_ids(e, "SELECT id FROM containers WHERE id = ?", id, 0, &rows, &err) < 0) {
            log_warn("sweeping containers: %s", err.msg);
            return;
        }
        if (!marked && rows && rows[0])
            continue; /* an ordinary container */
        _cleanup_free_ char *path = xasprintf("%s/%s", top, n);
        if (marked) {
            log_notice("container %s: completing its removal, interrupted by a crash", id);
            if (host_tree_empty(path, &err) < 0 && err.code != ENOENT) {
                log_warn("container %s: %s", id, err.msg);
                continue;
            }
            kl_error_clear(&err);
            if (rows && rows[0] && delete_rows(e, id, &err) < 0) {
                log_warn("container %s: %s", id, err.msg);
                continue;
            }
        } else {
            log_notice("removing %s: no container owns it (left by an interrupted create)", path);
        }
        if (root_remove(e, id, &err) < 0 || host_tree_remove(path, &err) < 0)
            log_warn("sweeping containers: %s", err.msg);
    }

    /* Root filesystems left mounted in our namespace by a kleened of before the runtime
     * mounted them inside the container's own (an interrupted start, a killed monitor):
     * nothing uses them. Today's starts never leave one (issue 12 item 4). */
    _cleanup_strv_ char **all = NULL;
    kl_error qerr = KL_ERROR_INIT;
    if (query_ids(e, "SELECT id FROM containers", NULL, 0, &all, &qerr) < 0)
        log_warn("sweeping containers: %s", qerr.msg);
    /* (A root of its own, full-tree layers, is a mounted clone: not one of those.) */
    for (size_t i = 0; !host_layers_full_tree() && all && all[i]; i++) {
        _cleanup_free_ char *dir = containers_dir(e, all[i]);
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
        struct stat sd, sr;
        if (stat(dir, &sd) < 0 || stat(rootfs, &sr) < 0 || sd.st_dev == sr.st_dev ||
            containers_is_running(e, all[i]))
            continue;
        kl_error err = KL_ERROR_INIT;
        log_notice("container %s: unmounting its root filesystem, left by an interrupted start",
                   all[i]);
        if (host_rootfs_unmount(rootfs, &err) < 0)
            log_warn("container %s: %s", all[i], err.msg);
    }

    /* A build's record for its network endpoints (of_build), which the build removes at its
     * end: one that is still there was left by a build a crash interrupted (no build runs
     * yet). Its endpoints go with it. */
    _cleanup_strv_ char **builds = NULL;
    kl_error berr = KL_ERROR_INIT;
    if (query_ids(e, "SELECT id FROM containers WHERE json_extract(doc, '$.of_build') = 1", NULL, 0,
                  &builds, &berr) < 0)
        log_warn("sweeping containers: %s", berr.msg);
    for (size_t i = 0; builds && builds[i]; i++) {
        kl_error err = KL_ERROR_INIT;
        log_notice("container %s: removing it, the record of a build interrupted by a crash",
                   builds[i]);
        if (containers_remove(e, builds[i], NULL, &err) < 0)
            log_warn("container %s: %s", builds[i], err.msg);
    }

    /* Run directories (monitor sockets, state, logs) of containers that are gone. */
    _cleanup_free_ char *probe = containers_run_dir(e, "x");
    probe[strlen(probe) - 2] = '\0';
    _cleanup_strv_ char **runs = NULL;
    {
        _cleanup_closedir_ DIR *d = opendir(probe);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (kl_id_is_valid(de->d_name))
                strv_push(&runs, de->d_name);
    }
    for (size_t i = 0; runs && runs[i]; i++) {
        kl_error err = KL_ERROR_INIT;
        _cleanup_strv_ char **rows = NULL;
        if (query_ids(e, "SELECT id FROM containers WHERE id = ?", runs[i], 0, &rows, &err) < 0)
            return;
        if (rows && rows[0])
            continue;
        _cleanup_free_ char *rd = containers_run_dir(e, runs[i]);
        log_notice("removing %s: no container owns it", rd);
        if (host_tree_remove(rd, &err) < 0)
            log_warn("sweeping containers: %s", err.msg);
    }
}

/* ---- auto-remove (ours, docs/api.md) ------------------------------------------------------ */

/* Under the engine lock: whether an exec of the container has ever been started. */
static int has_run_locked(kl_engine *e, const char *id, kl_error *err)
{
    _cleanup_strv_ char **ids = NULL;
    if (query_ids(e,
                  "SELECT id FROM execs WHERE container_id = ? AND state IN ('running', 'exited') "
                  "LIMIT 1",
                  id, 0, &ids, err) < 0)
        return -1;
    return ids && ids[0] ? 1 : 0;
}

int containers_auto_remove(kl_engine *e, const char *id, int wait_ms, kl_error *err)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long deadline = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + wait_ms;
    for (;;) {
        engine_lock(e);
        container_record r = {0};
        int found = get_locked(e, id, &r, err);
        int rc = found;
        if (found == 1) {
            rc = r.auto_remove ? has_run_locked(e, id, err) : 0;
            if (rc == 1 && containers_is_running(e, id))
                rc = 2; /* ending: the monitor has not finished yet */
            else if (rc == 1 && remove_locked(e, id, err) < 0)
                rc = -1;
        }
        container_record_clear(&r);
        engine_unlock(e);
        if (rc == 1)
            log_info("container %s removed after it ended (auto_remove)", id);
        if (rc != 2)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 >= deadline)
            return 0;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int containers_auto_remove_ids(kl_engine *e, char ***ids, kl_error *err)
{
    engine_lock(e);
    int r = query_ids(e,
                      "SELECT id FROM containers WHERE json_extract(doc, '$.auto_remove') = 1 "
                      "ORDER BY created, rowid",
                      NULL, 0, ids, err);
    engine_unlock(e);
    return r;
}
