/* Containers (API.md §5.1–§5.6, §6 Containers, §8.1, §8.6; DESIGN.md §2): records in the
 * `containers` table, their mounts in `mounts`, and their directories under
 * <root>/container/<id>/ (upper/, work/, rootfs/ — the overlay of the image's layer stack is
 * mounted on rootfs/ when the container starts, in the container's own mount namespace).
 *
 * Our decisions (API.md decision 5): names are unique (a taken name is an error), lookup is
 * exact id, exact name, then a unique id prefix; an ambiguous prefix is an error naming the
 * candidates. Every public function takes the engine lock itself.
 *
 * This header is the contract between the records side (create/list/inspect/update/rename/
 * remove/prune, mounts) and the start side (exec.c: starting a container through its first
 * exec, the monitor, stop). */
#ifndef KL_ENGINE_CONTAINERS_H
#define KL_ENGINE_CONTAINERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "lib/error.h"

typedef struct container_mount {
    char *type;        /* "volume" or "nullfs" */
    char *source;      /* volume name, or absolute host path */
    char *destination; /* absolute path inside the container */
    bool read_only;
} container_mount;

/* A container as stored. Strings are owned (container_record_clear frees them). */
typedef struct container_record {
    char id[13];
    char *name;      /* never NULL: a random name is given when none was asked for */
    char *image_id;  /* full id of the image */
    char *image_ref; /* "<image id>[@<snapshot>]": what the rootfs is made of */
    char **cmd;      /* NULL-terminated; may be empty → the image's cmd */
    char *user;      /* "" → image's user */
    char **env;      /* NULL-terminated "K=V" (container's own, not merged with the image) */
    char **jail_param;
    char *network_driver; /* "ipnet", "vnet", "host", "disabled" */
    json_t *public_ports; /* PublishedPort[] as stored */
    char *restart_policy; /* "no" or "on-startup" */
    bool persist;
    char *created;
    container_mount *mounts;
    size_t n_mounts;
    /* Optional limits of ours (0 = unlimited). */
    long long memory_bytes;
    long long pids_max;
    long long cpu_millis;
    /* Optional settings of ours (docs/api.md). */
    bool auto_remove;       /* removed by kleened once it has run and ended */
    long long stop_timeout; /* seconds of grace at a stop; -1 = the default */
    char *workdir;          /* "" → the image's */
    /* Ours (docs/thin-vm.md): "auto", "systemd", "plain", "none"; the stop command or NULL. */
    char *init;
    char *stop_cmd;
    /* Ours: the signal a stop sends ("SIGINT", lib/signame.h names), NULL = the default
     * (SIGTERM; an init's own shutdown signal). */
    char *stop_signal;
    /* Ours (docs/api.md "Labels"): an object string→string, never NULL once read. */
    json_t *labels;
    /* The image's defaults, resolved at create time, for the start side. */
    char **image_cmd;
    char **image_entrypoint; /* run before the cmd when the container starts (Docker) */
    char **image_env;
    char *image_user;
    char *image_workdir; /* "/" when the image has none */
    /* A build's record for its RUN steps' network endpoints (engine/builder.c): never a
     * user's; one a crash left is removed at the next start (builder_sweep). */
    bool of_build;
    /* What a door stored with the container (config key "door", kept as given; the Docker
     * door: the Config and HostConfig it was created with). NULL when none. */
    json_t *door;
    /* Ours (docs/api.md "Name resolution"): "NAME:ADDRESS" lines added to /etc/hosts (never
     * NULL once read), and the resolver settings {"nameservers", "search", "options"} (each an
     * array or null = the host's) for a /etc/resolv.conf kleened writes; NULL: the image's. */
    char **extra_hosts;
    json_t *dns;
} container_record;

void container_record_clear(container_record *r);

/* Look a container up (exact id, exact name, unique id prefix). ENOENT "container not found";
 * EINVAL for an ambiguous prefix (message names the candidates). */
int containers_get(kl_engine *e, const char *ident, container_record *out, kl_error *err);

/* <root>/container/<id> (xmalloc'ed); its upper/, work/ and rootfs/ live inside. */
char *containers_dir(kl_engine *e, const char *id);
/* <run_root>/containers/<id> (xmalloc'ed): the monitor's socket, state.json, log. */
char *containers_run_dir(kl_engine *e, const char *id);

/* Whether the container runs now (its monitor answers, or its state says so and the pid is
 * alive). Cheap enough for listings. */
bool containers_is_running(kl_engine *e, const char *id);

/* The host pid of the running container's reaper (pid 1 inside), read from its state.json,
 * or -1 when it does not run. (Implemented in networks.c, which needs it for hot-plug.) */
int containers_pid(kl_engine *e, const char *id);

/* The last run of a container, from its monitor's state (all zero/"" when it never ran). */
typedef struct container_run {
    bool running;
    int pid;           /* host pid of the container's reaper; 0 when it does not run */
    char started[40];  /* "" or the time the last run started */
    char finished[40]; /* "" or the time it ended */
    int exit_code;     /* of the main process; -1 unknown */
} container_run;
/* ENOENT "container not found" when there is no container `id` (a full id). */
int containers_run_state(kl_engine *e, const char *id, container_run *out, kl_error *err);

/* What runs in a running container: {"processes": [{"pid", "ppid" (host pids), "uid", "state",
 * "started" (seconds since the epoch), "cpu_seconds", "cmd"}, ...]}, its pid 1 first.
 * ENOTCONN "container not running". */
json_t *containers_top(kl_engine *e, const char *id, kl_error *err);
/* What a running container uses: {"memory", "memory_limit" (0: none), "cpu_ns", "pids" (-1
 * each when unknown), "system_ns" (the host's CPU time, all CPUs), "ncpu", "pid"}. ENOTCONN
 * "container not running". */
json_t *containers_usage(kl_engine *e, const char *id, kl_error *err);

/* REST side. Bodies are the normalized objects the API layer cast (schema.h). Two keys no
 * schema of the Kleene API has are for other doors: "door" (any JSON, stored as
 * container_record.door) and "entrypoint" (an array: replaces the image's entrypoint, and
 * then the image's cmd is not used either, Docker's rule for --entrypoint). */
char *containers_create(kl_engine *e, const json_t *config, kl_error *err);
/* The same, for a build's record (container_record.of_build), marked in the same transaction
 * that creates it. */
char *containers_create_for_build(kl_engine *e, const json_t *config, kl_error *err);
/* What no mount of a container or build may do (docs/api.md, "Mounts"): be a bind mount
 * (nullfs) of a source inside kleened's own root or run directory, or have a destination on
 * /proc or /sys. `destination` is absolute; type "nullfs" or "volume". EPERM when refused. */
/* Check a ContainerConfig's `extra_hosts`, `dns`, `dns_search`, `dns_options` (ours) and
 * give the record's form: *extra (strv), *dns (object or NULL when none of the three is given).
 * EINVAL naming the bad value. */
int containers_read_names(const json_t *config, char ***extra, json_t **dns, kl_error *err);
int containers_check_mount(kl_engine *e, const char *type, const char *source,
                           const char *destination, kl_error *err);
json_t *containers_list(kl_engine *e, bool all, kl_error *err);
/* The same listing as JSON text (ContainerSummary[]), built without a JSON tree: what the
 * REST handler sends (DESIGN.md §8 budget). */
char *containers_list_text(kl_engine *e, bool all, bool state, kl_error *err);
json_t *containers_inspect(kl_engine *e, const char *ident, kl_error *err);
char *containers_update(kl_engine *e, const char *ident, const json_t *config, kl_error *err);
int containers_remove(kl_engine *e, const char *ident, char id_out[13], kl_error *err);
/* Remove container `id` if it is marked auto_remove, has run (an exec of it started) and no
 * longer runs; waits up to wait_ms for an ending monitor to finish. 1 removed, 0 not (not
 * such a container, or it runs), -1 error. Takes the engine lock itself. */
int containers_auto_remove(kl_engine *e, const char *id, int wait_ms, kl_error *err);
/* The ids of the containers marked auto_remove (for kleened's start-up). */
int containers_auto_remove_ids(kl_engine *e, char ***ids, kl_error *err);
/* Removes every stopped container without persist. When some could not be removed: NULL
 * with an error naming each and what was removed. */
json_t *containers_prune(kl_engine *e, kl_error *err);

/* At start: complete interrupted removals, delete directories no container row owns. */
void containers_sweep(kl_engine *e);

/* Record a container event (events.h) on container `id` (a full id) with its labels, "name"
 * and "image" (the image as a door named it, else the image's name:tag, else its id), then the
 * NULL-terminated key, value pairs given (a NULL value leaves its key out). Nothing when there
 * is no such container. For the engine's own changes and for what only a door knows (Docker's
 * restart, an attach to a running container). */
void containers_event(kl_engine *e, const char *id, const char *action, ...)
    __attribute__((sentinel));
/* The same for a record the caller holds (no second read; the start path). */
void containers_event_of(kl_engine *e, const container_record *c, const char *action, ...)
    __attribute__((sentinel));
/* The last run of container `id` has ended (exit_code of its main process; -1: the one its
 * state recorded): its "die" event, once per run whichever path saw the end first (a stop,
 * an attached stream, the end watcher, its removal), then "unmount" of its volumes. pid > 0
 * (the end watcher): the run whose reaper that was, after its monitor has recorded the end;
 * nothing when another run has begun meanwhile. */
void containers_died(kl_engine *e, const char *id, int pid, int exit_code);

#endif
