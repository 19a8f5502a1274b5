/* kleene-jailmon, the monitor of a jail (docs/freebsd.md "The jail monitor"): one process per
 * running container, double-forked by host_monitor_start (fbmonitor.c) so that it outlives
 * kleened. It runs the foreground `jail -c` of fb_container_start through the runner, owns its
 * merged output (container.log, lib/logrec.h records) and exit status, answers kleened on
 * <run_dir>/monitor.sock with the protocol of host/monitor_proto.h (the client is the shared
 * src/host/monitor_client.c), runs exec instances with jexec (fb_container_exec), stops with
 * fb_container_stop and writes state.json as kleene-monitor does.
 *
 * The spec kleened hands it (one MON_SPEC frame on fd 3) is a JSON object: jailmon_spec_json
 * makes it from a host_monitor_spec, jailmon_spec_parse reads it back. */
#ifndef KL_FB_JAILMON_H
#define KL_FB_JAILMON_H

#include <jansson.h>

#include "host/freebsd/jail.h"
#include "host/monitor.h"

/* What the monitor needs besides the jail: the layer's settings of kleened's host. */
typedef struct jailmon_host {
    const char *zfs_root;
    const char *pty_helper; /* NULL: tty refused */
    const char *pf_anchor;
} jailmon_host;

json_t *jailmon_spec_json(const host_monitor_spec *spec, const jailmon_host *h);

/* The decoded spec; strings point into `doc`, which it keeps. */
typedef struct jailmon_spec {
    json_t *doc;
    const char *exec_id, *run_dir;
    size_t log_max;
    bool attach;
    const char *stop_cmd;
    jailmon_host host;
    fb_jail_spec jail; /* arrays below */
    const char **env, **cmd, **params;
    fb_endpoint *endpoints;
    fb_mount *mounts;
} jailmon_spec;

int jailmon_spec_parse(const char *text, size_t len, jailmon_spec *out, kl_error *err);
void jailmon_spec_clear(jailmon_spec *s);

/* The monitor's body (jailmon.c): set up, answer the caller on status_fd, serve until the
 * container has ended, exit. */
__attribute__((noreturn)) void jailmon_run(jailmon_spec *spec, fb_runner *run, int status_fd);
__attribute__((noreturn)) void jailmon_fail(int status_fd, const char *msg);

/* Tests: spawn `program arg` instead of the kleene-jailmon that host_helper_path finds (the
 * replaying build of it, tests/freebsd). NULL: back to the default. */
void fb_jailmon_set_program(const char *program, const char *arg);

#endif
