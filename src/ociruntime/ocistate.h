/* The state kleene-runtime keeps per container under --root: <root>/<id>/ holds state.json
 * (written atomically: temp file + rename) and, between create and start, exec.fifo, on which
 * the container's process waits. Every command takes a lock on the directory (flock: shared
 * for reading, exclusive for changes), so concurrent callers serialize and a caller killed
 * half-way leaves the lock behind with its process, never a stale lock file.
 *
 * The status is derived, never stored: "created" while exec.fifo exists and the process lives,
 * "running" while the process lives, "paused" when its freezer says so, "stopped" otherwise. A
 * pid is taken as the container's only if its start time (field 22 of /proc/<pid>/stat) is
 * the one recorded, so a recycled pid is never signalled.
 *
 * It must not: know how a container is started (that is the runtime core's). */
#ifndef KL_OCI_STATE_H
#define KL_OCI_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

#define OCI_STATE_NAME "state.json"
#define OCI_FIFO_NAME "exec.fifo"
#define OCI_ID_MAX 1024

typedef enum oci_status {
    OCI_CREATING = 0,
    OCI_CREATED,
    OCI_RUNNING,
    OCI_PAUSED,
    OCI_STOPPED,
} oci_status;

typedef struct oci_state {
    char *id;
    int pid;                /* host pid of the container's process, 0 before it exists */
    uint64_t pid_start;     /* its start time in clock ticks since boot */
    char *bundle;           /* absolute */
    char *rootfs;           /* absolute */
    char *created;          /* ISO time */
    char **annotation_keys; /* parallel, NULL-terminated (may be NULL) */
    char **annotation_values;
    char **cgroups;    /* the container's cgroup directories (NULL-terminated) */
    char *config_json; /* config.json as read at create (hooks, seccomp, for exec) */
    char *host_mounts; /* no mount namespace: host_mounts_snapshot of the root, else NULL */
    bool systemd;      /* unused: kept false */
    oci_status status; /* derived at load */
} oci_state;

/* Container ids: 1..OCI_ID_MAX of [A-Za-z0-9_+.-], not "." or ".." or starting with '.'. */
int oci_id_check(const char *id, kl_error *err);

/* Open (creating it 0700 with its parents) the root directory. */
int oci_root_open(const char *root, kl_error *err);

/* Make <root>/<id> (EEXIST: "container ID already exists") and take its lock; returns the
 * directory fd (the lock goes with it). */
int oci_state_create_dir(int rootfd, const char *id, kl_error *err);
/* Open <root>/<id> and lock it (exclusive or shared). ENOENT: "container does not exist". */
int oci_state_open_dir(int rootfd, const char *id, bool exclusive, kl_error *err);

int oci_state_save(int dirfd, const oci_state *s, kl_error *err);
int oci_state_load(int dirfd, oci_state *out, kl_error *err);
void oci_state_free(oci_state *s);
static inline void oci_state_freep(oci_state **s)
{
    if (*s)
        oci_state_free(*s);
}

/* Remove everything in <root>/<id> and the directory itself. */
int oci_state_remove(int rootfd, int dirfd, const char *id, kl_error *err);

/* The status as now observed (process alive? fifo present? frozen?). */
oci_status oci_state_observe(int dirfd, const oci_state *s);
const char *oci_status_name(oci_status st);

/* The start time of `pid` (clock ticks since boot, /proc/<pid>/stat field 22); 0 if gone. */
uint64_t oci_pid_start_time(int pid);
/* Whether `pid` is still the process recorded (alive, same start time, not a zombie). */
bool oci_pid_is_alive(int pid, uint64_t start);

/* The state JSON of the runtime spec ("ociVersion","id","status","pid","bundle",
 * "annotations"); caller frees. pid is left out when stopped. */
char *oci_state_json(const oci_state *s, bool pretty);

#endif
