/* Exec instances and the start side of containers (API.md §5.7, §5.8, §6 Exec, §7.3, §8.1
 * Start/Stop, §8.2; DESIGN.md §4; docs/monitor.md).
 *
 * An exec instance is a row in the `execs` table (state created → running → exited, its
 * ExecConfig in doc). The row is the instance: nothing is cached in memory, so a restarted
 * kleened sees the instances it created before (exec_recover). An instance that has ended is
 * gone for the API ("could not find execution instance matching ..."), like the original
 * discards it; the row stays until its container is removed.
 *
 * A container runs when its monitor answers on <run_dir>/monitor.sock. Starting a container
 * (an exec with start_container) starts a monitor whose main process is that exec; the
 * runtime mounts the overlay of the image's layer stack on <dir>/rootfs inside the
 * container's own mount namespace, where it ends with the container (nothing is mounted in
 * kleened's). Exec processes that join a running container are started by its monitor.
 *
 * It must not: speak HTTP or WebSocket (the API layer relays the stream), or touch container
 * records other than through containers.h. Every public function takes the engine lock
 * itself where it needs it; stops and waits run outside it. */
#ifndef KL_ENGINE_EXEC_H
#define KL_ENGINE_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/containers.h"
#include "engine/engine.h"
#include "lib/error.h"

struct host_monitor;
struct host_jailparams;

/* Grace period of a container stop (POST /containers/{id}/stop, exec stop with
 * stop_container): SIGTERM to every process, SIGKILL after this. The original runs
 * exec.stop (`/bin/sh /etc/rc.shutdown`) and jail -r, which also ends in SIGKILL. */
#define EXEC_STOP_GRACE_MS 10000
/* How long an exec stop waits for the process to end (API.md §8.2: 5 s). */
#define EXEC_STOP_WAIT_MS 5000

/* The values a process is started with, after the merge rules of API.md §8.2 (with the
 * container's own defaults, which already carry the image's, in between):
 *   cmd  = exec cmd unless [] → container cmd unless [] → image cmd
 *   argv = the image's entrypoint + cmd when the process starts the container (Docker's
 *          rule: `klee run IMAGE args` passes args to the entrypoint); an exec into a running
 *          container (into_running) runs cmd alone, like `docker exec`
 *   user = exec user unless "" → container user unless "" → image user; a jail parameter
 *          exec.jail_user overrides it (for the container's start; an exec into a running
 *          container keeps an explicit exec user)
 *   env  = image env, merged with the container env, merged with the exec env (later wins) */
typedef struct exec_merged {
    char **argv;
    char **env;
    char *user;
} exec_merged;

/* EINVAL "no command given ..." when all three cmds (and, at a start, the entrypoint) are
 * empty. */
int exec_merge(const container_record *c, char *const *cmd, const char *user, char *const *env,
               const struct host_jailparams *jp, bool into_running, exec_merged *out,
               kl_error *err);
void exec_merged_clear(exec_merged *m);

/* The working directory of a process (ours, docs/api.md): the exec's workdir unless "" → the
 * container's unless "" → the image's WORKDIR → "/". */
const char *exec_cwd(const container_record *c, const char *exec_workdir);

/* POST /exec/create with the cast ExecConfig (plus, for other doors, "door": any JSON kept in
 * the instance's config, exec_inspect). Returns the new id (xmalloc'ed).
 * ENOENT "container not found" (also for a missing container_id). */
char *exec_create(kl_engine *e, const json_t *config, kl_error *err);

/* An instance as a door shows it, also once it has ended (ours; the Kleene API has no exec
 * inspect): {"id", "container_id", "state" (created|running|exited), "exit_code" (null
 * unless exited and known), "config" (its ExecConfig)}. ENOENT "could not find execution
 * instance matching '<id>'". */
json_t *exec_inspect(kl_engine *e, const char *exec_id, kl_error *err);

typedef struct exec_started {
    char container_id[13];
    bool started_container; /* this exec is the container's main process */
    /* attach: the process's stream (host_monitor_stream_*), owned by the caller, who passes
     * the exit code it ends with to exec_ended(). NULL without attach. */
    struct host_monitor *stream;
} exec_started;

/* Start the instance (API.md §8.2). Error messages are the wire strings of §7.3:
 * ENOENT "could not find execution instance matching '<id>'", EPERM "cannot start container
 * when 'start_container' is false.", EALREADY "executable already started", ENOENT
 * "container not found"; other errors say what failed. */
int exec_start(kl_engine *e, const char *exec_id, bool attach, bool start_container,
               exec_started *out, kl_error *err);

/* An attached stream ended with exit_code: the instance is gone. */
void exec_ended(kl_engine *e, const char *exec_id, int exit_code);

/* ---- the exec stream --------------------------------------------------------------------
 * The I/O of an attached exec instance as one engine object, which every door relays (the
 * Kleene /exec/start WebSocket; Docker's hijacked attach/exec connections): no door touches
 * the host layer. One thread uses a stream at a time. */
typedef struct exec_stream exec_stream;

enum { EXEC_STDOUT = 1, EXEC_STDERR = 2 };

/* Start exec instance exec_id attached (the errors of exec_start) and return its stream. */
exec_stream *exec_stream_open(kl_engine *e, const char *exec_id, bool start_container,
                              kl_error *err);
/* Attach a new stream to the main process of running container `ident` (any reference the
 * engine takes): its output from now on (what came before is in the log), its stdin or
 * terminal for exec_stream_write, _close_stdin and _resize. Several streams may be attached
 * to one process at once (and with the stream of whoever started it): each gets all of its
 * output, each may write. The process is not the stream's: exec_stream_close leaves it
 * running when it has not ended. Its end (exec_stream_read 0) gives the main process's exit
 * code. ENOENT "container not found", ENOTCONN "container not running". */
exec_stream *exec_stream_attach(kl_engine *e, const char *ident, kl_error *err);
/* An fd to poll for readability before exec_stream_read. */
int exec_stream_fd(const exec_stream *s);
/* 1 = output of *stream (EXEC_STDOUT, EXEC_STDERR; a tty's output is stdout), *data and *len
 * valid until the next call; 0 = the process has ended (exec_stream_exit; the instance is
 * recorded as ended); -2 = nothing within timeout_ms. A lost monitor counts as an end with
 * exit code 137, its container gone. */
int exec_stream_read(exec_stream *s, int *stream, const void **data, size_t *len, int timeout_ms,
                     kl_error *err);
/* Input for the process's stdin (or terminal). */
int exec_stream_write(exec_stream *s, const void *data, size_t len, kl_error *err);
/* End of input: the process reads EOF once what was written before has been read (with a
 * tty: the terminal's EOF character). */
int exec_stream_close_stdin(exec_stream *s, kl_error *err);
/* The terminal's size (TIOCSWINSZ on the process's pty; nothing without a tty). */
int exec_stream_resize(exec_stream *s, unsigned rows, unsigned cols, kl_error *err);
/* After exec_stream_read returned 0: true, with the exit code and whether the container
 * still runs. */
bool exec_stream_exit(const exec_stream *s, int *exit_code, bool *container_running);
const char *exec_stream_exec_id(const exec_stream *s);
/* Ended: bring the container's dependents up to date and release its rootfs (off the
 * client's path: call it after the reply). Not ended (the client went away): stop the
 * process (SIGTERM, API.md §7.3 step 6). Frees s (NULL is fine). */
void exec_stream_close(exec_stream *s);
/* The client detaches (Docker's detach keys, or a Docker client gone: dockerd keeps the
 * process): like exec_stream_close, except that a process that has not ended runs on, its
 * stdin left as it is. Frees s (NULL is fine). */
void exec_stream_detach(exec_stream *s);
/* The container has ended: bring what depends on it up to date (its network endpoints and
 * the firewall). exec_after_end does it for the container of an exec whose end reported
 * container_running=false; call both off the reply path. */
void exec_container_ended(kl_engine *e, const char *container_id);
/* The endwatch_fn of kleened: container `container_id` whose reaper was `pid` has ended by
 * itself (exec_container_ended, unless it runs again meanwhile). */
void exec_container_gone(kl_engine *e, const char *container_id, int pid);
void exec_after_end(kl_engine *e, const char *exec_id, bool container_running);

/* After an attached start (exec_started.started_container) has ended and the client has its
 * reply: if the container is no longer running, remove what its root filesystem may have left
 * in its directory (a flattened stack; a mount of an older kleened's start). */
void exec_release_rootfs(kl_engine *e, const char *container_id);

/* POST /exec/{id}/stop (API.md §8.2). ENOENT with the 404 messages of §6:
 * "could not find execution instance matching '<id>'", "execution instance have not been
 * started" (also with stop_container=false, where the original crashes: decision 17),
 * ETIMEDOUT "timed out while waiting for jail to stop"; EIO "error closing process: ...". */
int exec_stop(kl_engine *e, const char *exec_id, bool force_stop, bool stop_container,
              kl_error *err);

/* POST /containers/{id}/stop: ENOENT "container not found", ENOTCONN "container not running".
 * The grace before SIGKILL is timeout_s seconds when >= 0 (ours: ?timeout=), else the
 * container's stop_timeout when set, else EXEC_STOP_GRACE_MS. id_out gets the full id. */
int exec_container_stop(kl_engine *e, const char *ident, int timeout_s, char id_out[13],
                        kl_error *err);

/* Ours: send `sig` (any host signal, lib/signame.h) to the container's main process (to every
 * process of the container once the main one has ended while others run; an init as pid 1
 * gets it itself); KILL ends the whole container. ENOENT "container not found", ENOTCONN
 * "container not running", EINVAL for a number that is no signal of the host. */
int exec_container_kill(kl_engine *e, const char *ident, int sig, char id_out[13], kl_error *err);

/* Ours: wait until the container does not run, then give its main process's last exit code
 * (-1 when it never ran or the code is unknown). `is_abandoned` (may be NULL) is asked about
 * once a second; when it says true, the wait ends with ECANCELED. ENOENT "container not
 * found". */
int exec_container_wait(kl_engine *e, const char *ident, bool (*is_abandoned)(void *), void *ud,
                        char id_out[13], int *exit_code, kl_error *err);

/* The container log (ours: GET /containers/{id}/logs). From the monitor while the container
 * runs (follow: until it ends), else from <run_dir>/container.log. */
typedef struct exec_log exec_log;
exec_log *exec_log_open(kl_engine *e, const char *ident, bool follow, kl_error *err);
/* One line (or part of a line) of the log: its stream (EXEC_STDOUT, EXEC_STDERR), the time
 * it was written ("" for lines logged before times were kept) and its bytes. */
typedef struct exec_log_entry {
    int stream;
    const char *time;
    const void *data;
    size_t len;
} exec_log_entry;
/* 1 = an entry (valid until the next call), 0 = end, -1 = error, -2 = timeout (nothing
 * arrived within timeout_ms; only while following a running container). */
int exec_log_read(exec_log *l, exec_log_entry *out, int timeout_ms, kl_error *err);
void exec_log_close(exec_log *l);

/* kleened start-up: instances whose process ended while kleened was away are marked ended
 * (exit code from the monitor's state.json); containers the host runs without a monitor
 * (host_orphan_containers: FreeBSD's jails whose monitor died) get one that takes them over;
 * containers with restart_policy on-startup that do not run are started (an exec with the
 * container's defaults, detached). Errors of single containers are logged, not returned. */
int exec_recover(kl_engine *e, kl_error *err);

#endif
