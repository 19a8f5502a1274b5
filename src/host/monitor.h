/* The container monitor of the host layer (DESIGN.md §4): one process per running container,
 * double-forked away from kleened so that containers survive a daemon restart. It holds the
 * container's pid 1, the terminals/pipes of its exec processes, their exit codes and the
 * container log, and answers kleened on a UNIX socket in the container's run directory.
 * Portable interface: plain C types only. */
#ifndef KL_HOST_MONITOR_H
#define KL_HOST_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "host/runtime.h"
#include "lib/error.h"

typedef struct host_monitor_spec {
    /* The container to start; its argv/env/user/cwd/tty are those of the main process (the
     * first exec instance). stdin/stdout/stderr fds are ignored: the monitor owns the I/O. */
    host_container_spec container;
    const char *exec_id;  /* id of the exec instance that is the main process */
    const char *run_dir;  /* <run_root>/containers/<id>: monitor.sock, state.json, log */
    size_t log_max_bytes; /* cap of container.log; 0 = default (1 MiB) */
    /* Paths the monitor unmounts (lazily, in this order) after the container has ended, e.g.
     * the overlay rootfs that the engine mounted before starting it. NULL-terminated. */
    char *const *unmount_on_exit;
    /* Attached start: host_monitor_start hands back, in info->stream, a connection that is
     * already the main process's stream (nothing of its output can be missed, and the monitor
     * cannot end before the caller has seen the end: the 'Z' is queued on that connection). */
    bool attach;
    /* With attach: if the caller's stream is still open when the container ends, the monitor
     * sends the 'Z' without unmounting unmount_on_exit and leaves that to the caller (who then
     * unmounts off its reply's critical path, under its own lock, so that a quick restart or
     * removal cannot race with it). If the stream is gone by then, the monitor unmounts. */
    bool caller_unmounts;
    /* Stopping (host_monitor_stop): the stop command, run as `/bin/sh -c stop_cmd` inside the
     * container (its output goes to the log) before the stop signal, which is sent when it has
     * ended; the grace period covers both. NULL or "": none. stop_signal 0: the default (an
     * init's own shutdown signal, host_init_stop_signal; else SIGTERM). An init gets the signal
     * alone (it stops the rest itself); otherwise every process of the container gets it. */
    const char *stop_cmd;
    int stop_signal;
} host_monitor_spec;

typedef struct host_monitor_info {
    int monitor_pid;
    int container_pid; /* the container's reaper (pid 1 inside) */
    /* With spec->attach: the main process's stream (host_monitor_stream_*), owned by the
     * caller (host_monitor_close). NULL otherwise. */
    struct host_monitor *stream;
} host_monitor_info;

/* Start the monitor and, through it, the container. Returns once the main process has been
 * exec'd inside the container (or with the error that prevented it, container gone). */
int host_monitor_start(const host_monitor_spec *spec, host_monitor_info *out, kl_error *err);

typedef struct host_monitor host_monitor; /* a connection to a monitor */

/* Connect to the monitor of run_dir. ENOENT/ECONNREFUSED when there is none (container not
 * running, or its monitor died). */
host_monitor *host_monitor_connect(const char *run_dir, kl_error *err);
void host_monitor_close(host_monitor *m);

/* The monitor's state.json as a string (caller frees); from the socket when the monitor runs,
 * else read from the file it left behind. NULL + ENOENT when there is neither. */
char *host_monitor_status(const char *run_dir, kl_error *err);

typedef struct host_monitor_exec_spec {
    const char *exec_id;
    char *const *argv;
    char *const *env;
    const char *user;
    const char *cwd;
    bool tty;
    unsigned short rows, cols;
} host_monitor_exec_spec;

/* Start a process in the running container. attach=false: returns when it has started.
 * attach=true: the connection becomes the process's stream (host_monitor_stream_*). */
int host_monitor_exec(host_monitor *m, const host_monitor_exec_spec *spec, bool attach,
                      kl_error *err);
/* Make this connection the stream of an existing exec (e.g. the main process right after
 * host_monitor_start, so no output is lost: the monitor buffers until the first attach or
 * 1 MiB). Several connections may be the stream of one exec: each gets its output, any of
 * them may write its input, resize its terminal or close its input; one that goes changes
 * nothing for the process. from_now: the output the monitor kept for a first attach is
 * dropped, not sent (an attach that wants what comes from now on, Docker's attach to a
 * running container). */
int host_monitor_attach(host_monitor *m, const char *exec_id, bool from_now, kl_error *err);

/* Stream mode. read: 1 = output of *stream (HOST_STREAM_*; a pty's output is stdout; *data,
 * *len valid until the next call), 0 = the process ended (*exit_code, *container_running set),
 * -1 = error. recv: the same without telling the stream. */
enum { HOST_STREAM_STDOUT = 1, HOST_STREAM_STDERR = 2 };
int host_monitor_stream_read(host_monitor *m, int *stream, const void **data, size_t *len,
                             int *exit_code, bool *container_running, int timeout_ms,
                             kl_error *err);
int host_monitor_stream_recv(host_monitor *m, const void **data, size_t *len, int *exit_code,
                             bool *container_running, int timeout_ms, kl_error *err);
int host_monitor_stream_input(host_monitor *m, const void *data, size_t len, kl_error *err);
int host_monitor_stream_resize(host_monitor *m, unsigned short rows, unsigned short cols,
                               kl_error *err);
int host_monitor_stream_close_input(host_monitor *m, kl_error *err);
/* fd to poll for readability of the stream. */
int host_monitor_fd(const host_monitor *m);

/* Signal one exec process (host signal number). */
int host_monitor_kill(host_monitor *m, const char *exec_id, int sig, kl_error *err);
/* Stop the whole container: the stop command and the stop signal (spec above), grace_ms, then
 * SIGKILL. Returns when it has ended, with the main process's exit code. */
int host_monitor_stop(host_monitor *m, int grace_ms, int *exit_code, kl_error *err);

/* A network endpoint of the running container added (connect) or removed, on a host whose
 * runtime wires networks itself (host_runtime_wires_endpoints: FreeBSD, where the jail
 * monitor adds or removes the jail's addresses with `jail -m`, refuses to connect a running
 * vnet jail as the original does, and takes a disconnected epair back). The monitor keeps
 * the container's endpoint list, so that its cleanup at the end is right. Linux's monitor
 * refuses it (the engine plugs a network namespace there). */
int host_monitor_network(host_monitor *m, bool connect, const host_endpoint *ep, kl_error *err);

/* The container log (the main process's output) as log records (lib/logrec.h), the content
 * of container.log and then, with follow=true, the records of new output as they are written,
 * through host_monitor_stream_recv until the container ends. */
int host_monitor_log(host_monitor *m, bool follow, kl_error *err);

#endif
