/* `klee container ...`: create, ls, inspect, rm, prune, start, stop, restart, exec,
 * update, rename, run, logs (KLEE-CLI.md §5 container; API.md §5.1-5.8, §6, §7.3).
 *
 * A container is started by an exec instance: POST /exec/create, then the /exec/start
 * WebSocket with start_container=true. Attached sessions end with the process's own exit
 * code, read from the closing message. Option syntax with its own grammar (--mount,
 * --publish) is parsed in specs.c. */
#include "cli/container.h"
#include "cli/cli.h"
#include "cli/specs.h"
#include "cli/wsclient.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/signame.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* ---- pure helpers (container.h) ------------------------------------------------------- */

void container_ls_row(const json_t *c, double now, char **cells)
{
    cells[0] = xstrdup(jx_str(c, "id", ""));
    cells[1] = xstrdup(jx_str(c, "name", ""));
    const char *image_name = jx_str(c, "image_name", "");
    if (image_name[0])
        cells[2] = xasprintf("%s:%s", image_name, jx_str(c, "image_tag", ""));
    else
        cells[2] = xstrdup(jx_str(c, "image_id", ""));
    json_t *cmd = json_object_get(c, "cmd");
    if (json_is_array(cmd)) {
        kl_buf b = KL_BUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach(cmd, i, v)
        {
            kl_buf_printf(&b, "%s%s", i ? " " : "", json_is_string(v) ? json_string_value(v) : "");
        }
        cells[3] = b.data ? kl_buf_steal(&b) : xstrdup("");
    } else {
        cells[3] = xstrdup("Dockerfile");
    }
    cells[4] = render_created_ago(jx_str(c, "created", ""), now);
    const char *policy = jx_str(c, "restart_policy", "no");
    cells[5] = xstrdup(strcmp(policy, "on-startup") == 0 ? "yes" : "no");
    cells[6] = container_ls_status(c, now);
    kl_buf b = KL_BUF_INIT;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c, "ip_addresses"), i, v)
    {
        if (json_is_string(v))
            kl_buf_printf(&b, "%s%s", b.len ? ", " : "", json_string_value(v));
    }
    cells[7] = b.data ? kl_buf_steal(&b) : xstrdup("");
    json_array_foreach(json_object_get(c, "public_ports"), i, v)
    {
        const char *host = jx_str(v, "host_port", ""), *ctr = jx_str(v, "container_port", "");
        const char *proto = jx_str(v, "protocol", "tcp");
        json_t *ifs = json_object_get(v, "interfaces");
        if (json_array_size(ifs) == 0) {
            kl_buf_printf(&b, "%s%s->%s/%s", b.len ? ", " : "", host, ctr[0] ? ctr : host, proto);
            continue;
        }
        size_t k;
        json_t *itf;
        json_array_foreach(ifs, k, itf)
        {
            kl_buf_printf(&b, "%s%s:%s->%s/%s", b.len ? ", " : "",
                          json_is_string(itf) ? json_string_value(itf) : "", host,
                          ctr[0] ? ctr : host, proto);
        }
    }
    cells[8] = b.data ? kl_buf_steal(&b) : xstrdup("");
    json_t *jid = json_object_get(c, "jid");
    cells[9] =
        json_is_integer(jid) ? xasprintf("%lld", (long long)json_integer_value(jid)) : xstrdup("");
}

const char *container_ls_state(const json_t *c)
{
    if (jx_bool(c, "running", false))
        return "running";
    json_t *started = json_object_get(c, "started");
    if (json_object_get(c, "exit_code") && json_is_null(started))
        return "created";
    return "exited";
}

char *container_ls_status(const json_t *c, double now)
{
    bool running = jx_bool(c, "running", false);
    if (!json_object_get(c, "exit_code")) /* a daemon without ?state=true */
        return xstrdup(running ? "running" : "stopped");
    char dur[64];
    double t;
    const char *started = jx_str(c, "started", NULL);
    if (running) {
        if (!started || render_parse_iso8601(started, &t) < 0)
            return xstrdup("Up");
        render_human_duration((long long)(now - t), dur, sizeof(dur));
        return xasprintf("Up %s", dur);
    }
    if (!started)
        return xstrdup("Created");
    json_t *code = json_object_get(c, "exit_code");
    _cleanup_free_ char *exited =
        json_is_integer(code) ? xasprintf("Exited (%lld)", (long long)json_integer_value(code))
                              : xstrdup("Exited");
    const char *finished = jx_str(c, "finished", NULL);
    if (!finished || render_parse_iso8601(finished, &t) < 0)
        return steal_pointer(&exited);
    render_human_duration((long long)(now - t), dur, sizeof(dur));
    return xasprintf("%s %s ago", exited, dur);
}

int container_exit_code(const char *message)
{
    static const char marker[] = " exited with exit-code ";
    if (!message)
        return -1;
    const char *p = strstr(message, marker);
    if (!p)
        return -1;
    /* the last occurrence (an exec id never contains spaces, but be strict) */
    for (const char *q; (q = strstr(p + 1, marker));)
        p = q;
    const char *prefix_end = p;
    p += sizeof(marker) - 1;
    if (!isdigit((unsigned char)*p))
        return -1;
    long n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        n = n * 10 + (*p - '0');
        if (n > 255)
            return -1;
    }
    if (*p != '\0')
        return -1;
    /* "executable <id> and its container exited ..." or "<id> has exited ..." */
    size_t len = (size_t)(prefix_end - message);
    bool has_form = len > 4 && strncmp(prefix_end - 4, " has", 4) == 0;
    bool container_form = strncmp(message, "executable ", 11) == 0 && len > 11 + 18 &&
                          strncmp(prefix_end - 18, " and its container", 18) == 0;
    if (!has_form && !container_form)
        return -1;
    return (int)n;
}

/* ---- options ----------------------------------------------------------------------------- */

#define CREATE_OPTIONS                                                                             \
    {"name", 0, "TEXT", "Assign a name to the container (default: a random name)", NULL},          \
        {"user", 'u', "text",                                                                      \
         "Default user used when running commands in the container. This parameter will be "       \
         "overwritten by the jail parameter `exec.jail_user` if it is set.",                       \
         NULL},                                                                                    \
        {"env", 'e', "TEXT",                                                                       \
         "Set environment variables (e.g. --env FIRST=SomeValue --env SECOND=AnotherValue)",       \
         NULL},                                                                                    \
        {"mount", 'm', "list",                                                                     \
         "Mount a volume/directory/file on the host filesystem into the container. Mounts are "    \
         "specified using a `--mount SOURCE:DESTINATION[:rw|ro]` syntax.",                         \
         NULL},                                                                                    \
        {"jailparam", 'J', "TEXT",                                                                 \
         "Specify one or more jail parameters to use. If you do not want `mount.devfs`, "          \
         "`exec.clean`, and `exec.stop=\"/bin/sh /etc/rc.shutdown\"` enabled, you must actively "  \
         "disable them.",                                                                          \
         NULL},                                                                                    \
        {"persist", 'P', NULL, "Do not remove this container when pruning (default: off)", NULL},  \
        {"restart", 0, "TEXT",                                                                     \
         "Restarting policy of the container. Set to 'no' for no automatic restart of the "        \
         "container. Set to 'on-startup' to start the container each time Kleened is. "            \
         "[default: no]",                                                                          \
         NULL},                                                                                    \
        {"driver", 'l', "TEXT",                                                                    \
         "Network driver of the container. Possible values: `ipnet`, `host`, `vnet`, and "         \
         "`disabled`. If no network and no network driver is supplied, the network driver is "     \
         "set to `host`. If a network is specified but no network driver, it is set to `ipnet`.",  \
         NULL},                                                                                    \
        {"network", 'n', "TEXT", "Connect container to this network.", NULL},                      \
        {"ip", 0, "TEXT",                                                                          \
         "IPv4 address used for the container. If omitted, an unused ip is allocated from the "    \
         "IPv4 subnet of `--network`.",                                                            \
         NULL},                                                                                    \
        {"ip6", 0, "TEXT",                                                                         \
         "IPv6 address used for the container. If omitted, an unused ip is allocated from the "    \
         "IPv6 subnet of `--network`.",                                                            \
         NULL},                                                                                    \
        {"init", 0, "TEXT",                                                                        \
         "Who is the container's pid 1: `auto` (the command, when it is an init such as "          \
         "/sbin/init or systemd), `systemd`, `plain` (another init), or `none` (Kleene's "         \
         "reaper). [default: auto]",                                                               \
         NULL},                                                                                    \
        {"stop-cmd", 0, "TEXT",                                                                    \
         "Command run inside the container (`/bin/sh -c`) before the stop signal when it is "      \
         "stopped, like the jail parameter `exec.stop`.",                                          \
         NULL},                                                                                    \
    {                                                                                              \
        "publish", 'p', "TEXT",                                                                    \
            "Publish a container's port(s) to the host, using the syntax "                         \
            "`[INTERFACE:]HOST-PORT[:CONTAINER-PORT][/PROTOCOL]`.",                                \
            NULL                                                                                   \
    }

/* Ours (docs/klee-differences.md): resource limits, on create/run and update. */
#define LIMIT_OPTIONS                                                                              \
    {"memory", 0, "BYTES",                                                                         \
     "Memory limit, as docker writes it: a number with an optional unit b, k, m or g (e.g. "       \
     "64m); 0 removes the limit",                                                                  \
     NULL},                                                                                        \
        {"cpus", 0, "NUMBER",                                                                      \
         "Number of CPUs the container may use (e.g. 1.5); 0 removes the "                         \
         "limit",                                                                                  \
         NULL},                                                                                    \
    {                                                                                              \
        "pids-limit", 0, "NUMBER",                                                                 \
            "Maximum number of processes in the container; 0 removes the limit", NULL              \
    }

/* Ours: settings of create/run beyond the original's (-l is the original's --driver). */
#define SETTING_OPTIONS                                                                            \
    CLI_LABEL_OPTION(0),                                                                           \
        {"workdir", 'w', "PATH",                                                                   \
         "Working directory of the container's processes (default: the image's WORKDIR)", NULL},   \
        {"stop-timeout", 0, "SECONDS",                                                             \
         "Seconds a stop waits for the processes to end before killing them (default: 10)", NULL}, \
        {"stop-signal", 0, "SIGNAL",                                                               \
         "Signal a stop sends instead of TERM (INT, SIGQUIT, 10, RTMIN+3 ...)", NULL},             \
    {                                                                                              \
        "rm", 0, NULL,                                                                             \
            "Remove the container automatically once it has run and ended (kleened does it, "      \
            "also when klee is interrupted or killed)",                                            \
            NULL                                                                                   \
    }

#define EXEC_OPTIONS                                                                               \
    {"detach", 'd', NULL,                                                                          \
     "Do not output STDOUT/STDERR to the terminal. If this is set, Klee will exit and return "     \
     "the container ID when the container has been started.",                                      \
     NULL},                                                                                        \
        {"interactive", 'i', NULL,                                                                 \
         "Send terminal input to container's STDIN. If set, `--detach` will be ignored.", NULL},   \
    {                                                                                              \
        "tty", 't', NULL, "Allocate a pseudo-TTY", NULL                                            \
    }

static const cli_option create_options[] = {CREATE_OPTIONS, SETTING_OPTIONS, LIMIT_OPTIONS, {0}};

static const cli_option run_options[] = {
    CREATE_OPTIONS, SETTING_OPTIONS, LIMIT_OPTIONS, EXEC_OPTIONS, {0},
};

static const cli_option start_options[] = {
    EXEC_OPTIONS,
    {"attach", 'a', NULL, "Attach to STDOUT/STDERR (the default unless `--detach` is given)", NULL},
    {0},
};

static const cli_option exec_options[] = {
    EXEC_OPTIONS,
    {"env", 'e', "TEXT", "Set environment variables (e.g. --env FIRST=env --env SECOND=env)", NULL},
    {"user", 'u', "TEXT", "Username or UID of the executing user", NULL},
    {"workdir", 'w', "PATH",
     "Working directory of the command (default: the container's, else the image's WORKDIR)", NULL},
    {0},
};

static const cli_option update_options[] = {
    {"name", 0, "TEXT", "Assign a new name to the container", NULL},
    {"user", 'u', "text", "Alternate user that should be used for starting the container", NULL},
    {"env", 'e', "TEXT", "Set environment variables (e.g. --env FIRST=env --env SECOND=env)", NULL},
    {"jailparam", 'J', "TEXT", "Specify one or more jail parameters, see jail(8) for details",
     NULL},
    {"persist", 'P', NULL, "Do not remove this container when pruning", NULL},
    {"restart", 0, "TEXT",
     "Restarting policy of the container: 'no' or 'on-startup' (unchanged when not given)", NULL},
    LIMIT_OPTIONS,
    {0},
};

static const cli_option stop_options[] = {
    {"time", 't', "SECONDS",
     "Seconds to wait for the processes to end before killing them (default: the container's "
     "stop timeout, else 10)",
     NULL},
    {0},
};

static const cli_option kill_options[] = {
    {"signal", 's', "SIGNAL",
     "Signal to send to the container's main process: KILL (the default; ends the whole "
     "container) or any other (TERM, WINCH, SIGUSR1, 10, RTMIN+3 ...)",
     NULL},
    {0},
};

static const cli_option ls_options[] = {
    {"all", 'a', NULL, "Show all containers (default shows only running containers)", NULL},
    {"filter", 'f', "FILTER",
     "Filter the list: name=TEXT (part of the name), id=PREFIX, status=running|exited|created, "
     "image=NAME[:TAG], label=KEY[=VALUE]. Repeat to combine; a status filter implies --all.",
     NULL},
    CLI_LS_OPTIONS,
    {0},
};

static const cli_option rm_options[] = {
    {"force", 'f', NULL, "Stop containers before removing them.", NULL},
    {0},
};

static const cli_option prune_options[] = {
    {"force", 'f', NULL, "Do not prompt for confirmation", NULL},
    {0},
};

static const cli_option logs_options[] = {
    {"follow", 'f', NULL, "Follow log output", NULL},
    {"stdout", 0, NULL, "Only the container's standard output (printed on stdout)", NULL},
    {"stderr", 0, NULL, "Only the container's standard error (printed on stderr)", NULL},
    {"tail", 'n', "N", "Only the last N lines (then, with --follow, what comes); 'all' for all",
     NULL},
    {"since", 0, "TIME",
     "Only lines written since TIME: a time (2026-12-07T10:13:01Z, offsets allowed), Unix "
     "seconds, or a duration before now (30s, 10m, 2h, 1h30m)",
     NULL},
    {"timestamps", 't', NULL, "Show the time each line was written", NULL},
    {0},
};

/* ---- small request helpers ------------------------------------------------------------- */

/* The body's "message", or a fallback describing the status (caller frees). */
static char *server_message(const http_response *resp)
{
    _cleanup_json_ json_t *j = cli_response_json(resp);
    const char *msg = jx_str(j, "message", NULL);
    if (msg)
        return xstrdup(msg);
    if (resp->status >= 500)
        return xstrdup("unknown backend error");
    return xasprintf("unrecognized status-code received from kleened: %ld", resp->status);
}

/* A request whose success prints the id. Returns the exit code. */
static int request_print_id(cli_ctx *ctx, const char *method, const char *path, const json_t *body,
                            long ok_status)
{
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, method, path, body, &resp);
    int rc = status < 0            ? CLI_EXIT_FAILURE
             : status == ok_status ? cli_print_id(ctx, &resp)
                                   : cli_print_server_error(ctx, &resp);
    http_response_free(&resp);
    return rc;
}

static int validate_enum(cli_ctx *ctx, const char *value, const char *const *allowed, size_t n,
                         const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, allowed[i]) == 0)
            return 0;
    cli_error(ctx, "Error! Could not validate container configuration: '%s' is not a valid %s",
              value, type);
    return -1;
}

static const char *const drivers[] = {"ipnet", "host", "vnet", "disabled"};
static const char *const policies[] = {"no", "on-startup"};

/* ---- exec create + start ------------------------------------------------------------ */

typedef struct exec_request {
    const char *container;
    char *const *cmd; /* NULL = [] */
    char *const *env; /* NULL = [] */
    const char *user;
    const char *workdir; /* NULL: not sent */
    bool tty;
    bool interactive;
    bool detach;
} exec_request;

/* POST /exec/create. Returns the new exec id (printed as "created execution instance
 * <id>"), or NULL after printing the failure. */
static char *exec_create(cli_ctx *ctx, const exec_request *x)
{
    _cleanup_json_ json_t *body = json_pack(
        "{s:s, s:o, s:o, s:s, s:b}", "container_id", x->container, "cmd", jx_from_strv(x->cmd),
        "env", jx_from_strv(x->env), "user", x->user ? x->user : "", "tty", x->tty);
    if (!body) {
        cli_error(ctx, "invalid exec configuration (not UTF-8)");
        return NULL;
    }
    if (x->workdir) /* an optional field of ours (docs/api.md) */
        json_object_set_new(body, "workdir", json_string(x->workdir));
    unsigned rows, cols;
    if (x->tty && wsclient_terminal_size(&rows, &cols)) {
        /* Optional fields of ours (docs/api.md): the size of the pty to allocate. */
        json_object_set_new(body, "tty_rows", json_integer(rows));
        json_object_set_new(body, "tty_cols", json_integer(cols));
    }
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", "/exec/create", body, &resp);
    char *id = NULL;
    if (status == 201) {
        _cleanup_json_ json_t *j = cli_response_json(&resp);
        const char *s = jx_str(j, "id", NULL);
        if (s) {
            id = xstrdup(s);
            cli_message(ctx, "created execution instance %s", id);
        } else {
            cli_error(ctx, "unexpected reply from kleened: %s", resp.body ? resp.body : "");
        }
    } else if (status >= 0) {
        _cleanup_free_ char *msg = server_message(&resp);
        cli_error(ctx, "%s", msg);
        cli_error(ctx, "%s: error creating execution instance", x->container);
    }
    http_response_free(&resp);
    return id;
}

/* Start exec `id` over /exec/start. Returns the exit code: detached → 0 when the server
 * answered 1001; attached → the process's exit code from the closing message. *started
 * (when not NULL) tells whether the process was started at all. */
static int exec_start(cli_ctx *ctx, const char *id, const exec_request *x, bool *started)
{
    bool attach = !x->detach;
    _cleanup_json_ json_t *config =
        json_pack("{s:s, s:b, s:b}", "exec_id", id, "attach", attach, "start_container", true);
    /* Ours (docs/api.md): stdout and stderr apart, end of input, terminal size. A daemon that
     * does not know it says nothing in its "starting" message, and we speak its protocol. */
    if (attach)
        json_object_set_new(config, "multiplex", json_true());
    wsclient *w = wsclient_open(ctx, "/exec/start", config);
    if (!w)
        return CLI_EXIT_FAILURE;
    wsclient_result r = {0};
    int rc = CLI_EXIT_FAILURE;
    int s = wsclient_read_start(w, &r);
    if (started)
        *started = attach && r.started;
    if (!attach) {
        /* kleened closes with 1001 without a starting frame. */
        if (s >= 0 && wsclient_relay(w, NULL, NULL, &r) < 0)
            goto out;
        if (r.code == KL_WS_CLOSE_GOING_AWAY) {
            if (started)
                *started = true;
            rc = CLI_EXIT_OK;
        } else if (r.code != KL_WS_CLOSE_ABNORMAL) {
            /* the reason only when kleened's own "error: ..." line was not printed */
            if (s != 0 && r.reason.message && r.reason.message[0])
                cli_error(ctx, "%s", r.reason.message);
            cli_error(ctx, "error starting container");
        }
        goto out;
    }
    if (s < 0) {
        if (r.code != KL_WS_CLOSE_ABNORMAL)
            wsclient_print_closing(ctx, &r);
        goto out;
    }
    wsclient_exec_io io = {
        .in_fd = x->interactive ? STDIN_FILENO : -1, .raw_tty = x->tty, .tty = x->tty};
    int relayed = x->interactive || r.multiplexed ? wsclient_relay_exec(w, &io, NULL, NULL, &r)
                                                  : wsclient_relay(w, NULL, NULL, &r);
    if (relayed < 0)
        goto out;
    if (r.interrupted) {
        rc = 130; /* like a shell after SIGINT */
        goto out;
    }
    wsclient_print_closing(ctx, &r);
    if (r.started && r.code == KL_WS_CLOSE_NORMAL) {
        int code = container_exit_code(r.reason.message);
        rc = code >= 0 ? code : CLI_EXIT_FAILURE;
    }
out:
    wsclient_result_free(&r);
    wsclient_free(w);
    return rc;
}

static int exec_create_and_start(cli_ctx *ctx, const exec_request *x, bool *started)
{
    if (started)
        *started = false;
    _cleanup_free_ char *id = exec_create(ctx, x);
    if (!id)
        return CLI_EXIT_FAILURE;
    return exec_start(ctx, id, x, started);
}

/* ---- create / run -------------------------------------------------------------------- */

/* --memory, --cpus, --pids-limit into a ContainerConfig (optional fields of ours, sent only
 * when given). -1 after printing a usage error. */
static int add_limits(const cli_args *a, const char *prog, json_t *config)
{
    kl_error err = KL_ERROR_INIT;
    const char *v;
    if ((v = cli_value(a, "memory"))) {
        long long bytes;
        if (specs_parse_size(v, &bytes, &err) < 0)
            return cli_usage_error(prog, a->cmd->args_usage, "Invalid value for '--memory': %s",
                                   err.msg),
                   -1;
        json_object_set_new(config, "memory", json_integer(bytes));
    }
    if ((v = cli_value(a, "cpus"))) {
        double cpus;
        if (specs_parse_cpus(v, &cpus, &err) < 0)
            return cli_usage_error(prog, a->cmd->args_usage, "Invalid value for '--cpus': %s",
                                   err.msg),
                   -1;
        json_object_set_new(config, "cpus", json_real(cpus));
    }
    if ((v = cli_value(a, "pids-limit"))) {
        long long n;
        if (specs_parse_count(v, "pids limit", 0, 4194304, &n, &err) < 0)
            return cli_usage_error(prog, a->cmd->args_usage, "Invalid value for '--pids-limit': %s",
                                   err.msg),
                   -1;
        json_object_set_new(config, "pids_limit", json_integer(n));
    }
    return 0;
}

/* --workdir, --stop-timeout, --stop-signal, --rm of create/run (optional fields of ours). */
static int add_settings(const cli_args *a, const char *prog, json_t *config)
{
    kl_error err = KL_ERROR_INIT;
    const char *v;
    if ((v = cli_value(a, "workdir"))) {
        if (v[0] != '/')
            return cli_usage_error(prog, a->cmd->args_usage,
                                   "Invalid value for '--workdir': '%s' is not an absolute path",
                                   v),
                   -1;
        json_object_set_new(config, "workdir", json_string(v));
    }
    if ((v = cli_value(a, "stop-timeout"))) {
        long long n;
        if (specs_parse_count(v, "stop timeout", 0, 86400, &n, &err) < 0)
            return cli_usage_error(prog, a->cmd->args_usage,
                                   "Invalid value for '--stop-timeout': %s", err.msg),
                   -1;
        json_object_set_new(config, "stop_timeout", json_integer(n));
    }
    if ((v = cli_value(a, "stop-signal"))) {
        if (kl_signal_parse(v) < 0)
            return cli_usage_error(prog, a->cmd->args_usage,
                                   "Invalid value for '--stop-signal': '%s' is not a signal", v),
                   -1;
        json_object_set_new(config, "stop_signal", json_string(v));
    }
    if (cli_flag(a, "rm"))
        json_object_set_new(config, "auto_remove", json_true());
    return 0;
}

/* The ContainerConfig of create/run. NULL after printing an error (*rc set). */
static json_t *create_config(cli_ctx *ctx, const cli_args *a, int *rc)
{
    *rc = CLI_EXIT_FAILURE;
    const char *network = cli_value(a, "network");
    const char *driver = cli_value(a, "driver");
    if (!driver)
        driver = network ? "ipnet" : "host";
    if (validate_enum(ctx, driver, drivers, KL_ARRAY_SIZE(drivers),
                      "ContainerConfigNetworkDriver") < 0)
        return NULL;
    const char *restart = cli_value(a, "restart") ? cli_value(a, "restart") : "no";
    if (validate_enum(ctx, restart, policies, KL_ARRAY_SIZE(policies),
                      "ContainerConfigRestartPolicy") < 0)
        return NULL;
    static const char *const inits[] = {"auto", "systemd", "plain", "none"};
    const char *init = cli_value(a, "init");
    if (init && validate_enum(ctx, init, inits, KL_ARRAY_SIZE(inits), "ContainerConfigInit") < 0)
        return NULL;

    json_t *mounts = json_array();
    char *const *mv = cli_values(a, "mount");
    for (size_t i = 0; mv && mv[i]; i++) {
        specs_mount m;
        kl_error err = KL_ERROR_INIT;
        if (specs_parse_mount(mv[i], &m, &err) < 0) {
            cli_error(ctx, "%s", err.msg);
            json_decref(mounts);
            *rc = CLI_EXIT_MOUNT;
            return NULL;
        }
        json_array_append_new(mounts, specs_mount_json(&m));
        specs_mount_clear(&m);
    }
    json_t *ports = json_array();
    char *const *pv = cli_values(a, "publish");
    for (size_t i = 0; pv && pv[i]; i++) {
        specs_port p;
        kl_error err = KL_ERROR_INIT;
        if (specs_parse_publish(pv[i], &p, &err) < 0) {
            if (err.msg[0] == '\'')
                cli_error(ctx, "Error! Could not validate container configuration: %s", err.msg);
            else
                cli_error(ctx, "%s", err.msg);
            json_decref(mounts);
            json_decref(ports);
            return NULL;
        }
        json_array_append_new(ports, specs_port_json(&p));
        specs_port_clear(&p);
    }

    /* Without --name the daemon picks a free random name (it retries on a collision, which a
     * name made here could not). */
    const char *name = cli_value(a, "name");
    const char *user = cli_value(a, "user") ? cli_value(a, "user") : "";
    json_t *config =
        json_pack("{s:o, s:o, s:s, s:o, s:o, s:s?, s:s, s:b, s:o, s:s, s:s}", "cmd",
                  jx_from_strv(a->pos + 1), "env", jx_from_strv(cli_values(a, "env")), "image",
                  a->pos[0], "jail_param", jx_from_strv(cli_values(a, "jailparam")), "mounts",
                  mounts, "name", name, "network_driver", driver, "persist", cli_flag(a, "persist"),
                  "public_ports", ports, "restart_policy", restart, "user", user);
    /* Ours, sent only when given (the original kleened never sees them). */
    const char *stop_cmd = cli_value(a, "stop-cmd");
    if (config && init)
        json_object_set_new(config, "init", json_string(init));
    if (config && stop_cmd && json_object_set_new(config, "stop_cmd", json_string(stop_cmd)) < 0)
        json_decref(steal_pointer(&config));
    if (!config) {
        cli_error(ctx, "Error! Could not validate container configuration: not valid UTF-8");
        return NULL;
    }
    if (add_limits(a, "klee container create", config) < 0 ||
        add_settings(a, "klee container create", config) < 0 ||
        cli_add_labels(a, "klee container create", a->cmd->args_usage, config) != 0) {
        json_decref(config);
        *rc = CLI_EXIT_USAGE;
        return NULL;
    }
    return config;
}

/* DELETE a container this command made, without printing anything. */
static void remove_quietly(cli_ctx *ctx, const char *id)
{
    _cleanup_free_ char *esc = cli_path_escape(id);
    _cleanup_free_ char *path = xasprintf("/containers/%s", esc);
    http_response resp = HTTP_RESPONSE_INIT;
    cli_request(ctx, "DELETE", path, NULL, &resp);
    http_response_free(&resp);
}

/* Create (and connect to --network). Returns the new container id, or NULL after printing
 * the failure (*rc set). */
static char *create_container(cli_ctx *ctx, const cli_args *a, int *rc)
{
    _cleanup_json_ json_t *config = create_config(ctx, a, rc);
    if (!config)
        return NULL;
    *rc = CLI_EXIT_FAILURE;
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", "/containers/create", config, &resp);
    char *id = NULL;
    if (status == 201) {
        _cleanup_json_ json_t *j = cli_response_json(&resp);
        const char *s = jx_str(j, "id", NULL);
        if (s) {
            id = xstrdup(s);
            cli_message(ctx, "%s", id);
        } else {
            cli_error(ctx, "unexpected reply from kleened: %s", resp.body ? resp.body : "");
        }
    } else if (status >= 0) {
        _cleanup_free_ char *msg = server_message(&resp);
        cli_error(ctx, "could not create container: %s", msg);
    }
    http_response_free(&resp);
    if (!id)
        return NULL;

    const char *network = cli_value(a, "network");
    if (!network) {
        *rc = CLI_EXIT_OK;
        return id;
    }
    const char *ip = cli_value(a, "ip"), *ip6 = cli_value(a, "ip6");
    _cleanup_json_ json_t *ep =
        json_pack("{s:s, s:s, s:s, s:s}", "container", id, "network", network, "ip_address",
                  ip ? ip : "<auto>", "ip_address6", ip6 ? ip6 : "<auto>");
    resp = (http_response)HTTP_RESPONSE_INIT;
    status = ep ? cli_request(ctx, "POST", "/networks/connect", ep, &resp) : -1;
    bool ok = status == 204;
    if (!ok && status >= 0) {
        _cleanup_free_ char *msg = server_message(&resp);
        cli_error(ctx, "could not connect container: %s", msg);
    }
    http_response_free(&resp);
    if (!ok) {
        /* A container that cannot be on its network is of no use: remove it (the original
         * left it created; docs/klee-differences.md). */
        remove_quietly(ctx, id);
        free(id);
        return NULL;
    }
    *rc = CLI_EXIT_OK;
    return id;
}

static int container_create(cli_ctx *ctx, const cli_args *a)
{
    int rc;
    free(create_container(ctx, a, &rc));
    return rc;
}

static int remove_after_run(cli_ctx *ctx, const char *id)
{
    _cleanup_free_ char *esc = cli_path_escape(id);
    _cleanup_free_ char *stop = xasprintf("/containers/%s/stop", esc);
    _cleanup_free_ char *del = xasprintf("/containers/%s", esc);
    http_response resp = HTTP_RESPONSE_INIT;
    /* The container may still run (its first process left children behind). */
    if (cli_request(ctx, "POST", stop, NULL, &resp) < 0) {
        http_response_free(&resp);
        return CLI_EXIT_FAILURE;
    }
    http_response_free(&resp);
    long status = cli_request(ctx, "DELETE", del, NULL, &resp);
    /* 404: kleened has removed it already (auto_remove) */
    int rc = status < 0                       ? CLI_EXIT_FAILURE
             : status == 200 || status == 404 ? CLI_EXIT_OK
                                              : cli_print_server_error(ctx, &resp);
    http_response_free(&resp);
    return rc;
}

static int container_run(cli_ctx *ctx, const cli_args *a)
{
    bool interactive = cli_flag(a, "interactive");
    bool detach = cli_flag(a, "detach") && !interactive;
    int rc;
    _cleanup_free_ char *id = create_container(ctx, a, &rc);
    if (!id)
        return rc;
    exec_request x = {
        .container = id,
        .user = "",
        .tty = cli_flag(a, "tty"),
        .interactive = interactive,
        .detach = detach,
    };
    bool started = false;
    rc = exec_create_and_start(ctx, &x, &started);
    if (!started) {
        /* Nothing ran (missing binary, unknown user, ...): leave no container behind. */
        remove_quietly(ctx, id);
        return rc;
    }
    /* Attached: remove it at once, also with a daemon that does not know auto_remove (it
     * may still run: its first process left others behind). Detached: kleened does it. */
    if (cli_flag(a, "rm") && !detach) {
        int rm = remove_after_run(ctx, id);
        if (rc == CLI_EXIT_OK)
            rc = rm;
    }
    return rc;
}

/* ---- start / stop / restart / exec ----------------------------------------------------- */

static int container_start(cli_ctx *ctx, const cli_args *a)
{
    bool interactive = cli_flag(a, "interactive");
    bool detach = cli_flag(a, "detach") && !interactive;
    if (!detach && a->npos != 1) {
        cli_error(ctx, "only one container can be started when attaching to container I/O.");
        return CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; i < a->npos; i++) {
        exec_request x = {
            .container = a->pos[i],
            .user = "",
            .tty = cli_flag(a, "tty"),
            .interactive = interactive,
            .detach = detach,
        };
        int rc = exec_create_and_start(ctx, &x, NULL);
        if (rc != CLI_EXIT_OK || !detach)
            return rc;
    }
    return CLI_EXIT_OK;
}

/* The --time of stop/restart: -1 when not given (the container's own, else 10 s); the HTTP
 * timeout is raised to cover it. -2 after a usage error. */
static long long stop_time(cli_ctx *ctx, const cli_args *a, const char *prog)
{
    const char *v = cli_value(a, "time");
    if (!v)
        return -1;
    long long n;
    kl_error err = KL_ERROR_INIT;
    if (specs_parse_count(v, "time", 0, 86400, &n, &err) < 0) {
        cli_usage_error(prog, a->cmd->args_usage, "Invalid value for '-t' / '--time': %s", err.msg);
        return -2;
    }
    if (ctx->timeout_s > 0 && ctx->timeout_s < n + 30)
        ctx->timeout_s = (long)n + 30;
    return n;
}

/* POST /containers/{id}/stop[?timeout=N] (timeout -1: none sent, as the original). Returns
 * the exit code; prints the id when `print_id`. *full_id receives the id from the reply when
 * given; *not_running is set when the answer was "container not running". */
static int stop_one_timed(cli_ctx *ctx, const char *ident, long long timeout, bool print_id,
                          bool print_errors, char **full_id, bool *not_running)
{
    _cleanup_free_ char *esc = cli_path_escape(ident);
    _cleanup_free_ char *path = timeout >= 0
                                    ? xasprintf("/containers/%s/stop?timeout=%lld", esc, timeout)
                                    : xasprintf("/containers/%s/stop", esc);
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", path, NULL, &resp);
    int rc = CLI_EXIT_FAILURE;
    if (status == 200) {
        _cleanup_json_ json_t *j = cli_response_json(&resp);
        const char *id = jx_str(j, "id", ident);
        if (print_id)
            cli_message(ctx, "%s", id);
        if (full_id)
            *full_id = xstrdup(id);
        rc = CLI_EXIT_OK;
    } else if (status >= 0) {
        _cleanup_json_ json_t *j = cli_response_json(&resp);
        bool nr = status == 404 && strcmp(jx_str(j, "message", ""), "container not running") == 0;
        if (not_running)
            *not_running = nr;
        if (print_errors && !(nr && not_running))
            cli_print_server_error(ctx, &resp);
    }
    http_response_free(&resp);
    return rc;
}

static int stop_one(cli_ctx *ctx, const char *ident, bool print_id, bool print_errors,
                    char **full_id)
{
    return stop_one_timed(ctx, ident, -1, print_id, print_errors, full_id, NULL);
}

static int container_stop(cli_ctx *ctx, const cli_args *a)
{
    long long t = stop_time(ctx, a, "klee container stop");
    if (t == -2)
        return CLI_EXIT_USAGE;
    for (size_t i = 0; i < a->npos; i++)
        if (stop_one_timed(ctx, a->pos[i], t, true, true, NULL, NULL) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
    return CLI_EXIT_OK;
}

/* Stop (if it runs) and start again, detached. A stopped container is just started, as
 * docker does (the original stopped at "container not running"). */
static int container_restart(cli_ctx *ctx, const cli_args *a)
{
    long long t = stop_time(ctx, a, "klee container restart");
    if (t == -2)
        return CLI_EXIT_USAGE;
    for (size_t i = 0; i < a->npos; i++) {
        _cleanup_free_ char *id = NULL;
        bool not_running = false;
        if (stop_one_timed(ctx, a->pos[i], t, true, true, &id, &not_running) != CLI_EXIT_OK) {
            if (!not_running)
                return CLI_EXIT_FAILURE;
            cli_message(ctx, "%s", a->pos[i]);
        }
        exec_request x = {.container = id ? id : a->pos[i], .user = "", .detach = true};
        if (exec_create_and_start(ctx, &x, NULL) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* Ours: POST /containers/{id}/kill?signal=S for each container; prints each id. */
static int container_kill(cli_ctx *ctx, const cli_args *a)
{
    const char *sig = cli_value(a, "signal") ? cli_value(a, "signal") : "KILL";
    _cleanup_free_ char *sesc = cli_path_escape(sig);
    for (size_t i = 0; i < a->npos; i++) {
        _cleanup_free_ char *esc = cli_path_escape(a->pos[i]);
        _cleanup_free_ char *path = xasprintf("/containers/%s/kill?signal=%s", esc, sesc);
        if (request_print_id(ctx, "POST", path, NULL, 200) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* Ours: POST /containers/{id}/wait for each container; prints each exit code (-1 when it
 * never ran). No HTTP timeout: a wait lasts as long as the container runs. */
static int container_wait(cli_ctx *ctx, const cli_args *a)
{
    ctx->timeout_s = 0;
    for (size_t i = 0; i < a->npos; i++) {
        _cleanup_free_ char *esc = cli_path_escape(a->pos[i]);
        _cleanup_free_ char *path = xasprintf("/containers/%s/wait", esc);
        http_response resp = HTTP_RESPONSE_INIT;
        long status = cli_request(ctx, "POST", path, NULL, &resp);
        int rc = CLI_EXIT_FAILURE;
        if (status == 200) {
            _cleanup_json_ json_t *j = cli_response_json(&resp);
            json_t *code = json_object_get(j, "exit_code");
            cli_message(ctx, "%lld",
                        json_is_integer(code) ? (long long)json_integer_value(code) : -1LL);
            rc = CLI_EXIT_OK;
        } else if (status >= 0) {
            cli_print_server_error(ctx, &resp);
        }
        http_response_free(&resp);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

static int container_exec(cli_ctx *ctx, const cli_args *a)
{
    bool interactive = cli_flag(a, "interactive");
    exec_request x = {
        .container = a->pos[0],
        .cmd = a->pos + 1,
        .env = cli_values(a, "env"),
        .user = cli_value(a, "user") ? cli_value(a, "user") : "",
        .workdir = cli_value(a, "workdir"),
        .tty = cli_flag(a, "tty"),
        .interactive = interactive,
        .detach = cli_flag(a, "detach") && !interactive,
    };
    if (x.workdir && x.workdir[0] != '/')
        return cli_usage_error("klee container exec", a->cmd->args_usage,
                               "Invalid value for '-w' / '--workdir': '%s' is not an absolute path",
                               x.workdir);
    return exec_create_and_start(ctx, &x, NULL);
}

/* ---- ls / inspect / rm / prune / update / rename / logs ------------------------------- */

static const render_column container_columns[CONTAINER_LS_NCOLS] = {
    {"CONTAINER ID", "36", RENDER_LEFT, 13, 0}, /* cyan */
    {"NAME", "1;38;5;122", RENDER_LEFT, 0, 0},  /* bold aquamarine1 */
    {"IMAGE", "34", RENDER_LEFT, 0, 0},         /* blue */
    {"COMMAND", "97", RENDER_LEFT, 0, 40},      /* bright_white, max 40 */
    {"CREATED", "97", RENDER_LEFT, 0, 0},       /* bright_white */
    {"AUTORUN", NULL, RENDER_CENTER, 0, 0},     {"STATUS", NULL, RENDER_LEFT, 0, 0},
    {"IP ADDRESS", NULL, RENDER_LEFT, 0, 0},    {"PORTS", NULL, RENDER_LEFT, 0, 0},
    {"JID", "37", RENDER_LEFT, 0, 0}, /* white */
};

static const char *const container_fields[CONTAINER_LS_NCOLS] = {
    "ID", "Name", "Image", "Command", "Created", "Autorun", "Status", "IPAddresses", "Ports", "JID",
};

/* One --filter KEY=VALUE against a row. */
static bool filter_matches(const json_t *c, const char *key, const char *value)
{
    if (!strcmp(key, "name"))
        return strstr(jx_str(c, "name", ""), value) != NULL;
    if (!strcmp(key, "id"))
        return !strncmp(jx_str(c, "id", ""), value, strlen(value));
    if (!strcmp(key, "status"))
        return !strcmp(container_ls_state(c), value);
    if (!strcmp(key, "label"))
        return kl_labels_match(json_object_get(c, "labels"), value);
    if (!strcmp(key, "image")) {
        _cleanup_free_ char *nt =
            xasprintf("%s:%s", jx_str(c, "image_name", ""), jx_str(c, "image_tag", ""));
        return !strcmp(nt, value) || !strcmp(jx_str(c, "image_name", ""), value) ||
               !strncmp(jx_str(c, "image_id", ""), value, strlen(value));
    }
    return false;
}

static int container_ls(cli_ctx *ctx, const cli_args *a)
{
    static const char *const keys[] = {"name", "id", "status", "image", "label"};
    static const char *const states[] = {"running", "exited", "created"};
    char *const *filters = cli_values(a, "filter");
    bool all = cli_flag(a, "all");
    for (size_t i = 0; filters && filters[i]; i++) {
        const char *eq = strchr(filters[i], '=');
        size_t klen = eq ? (size_t)(eq - filters[i]) : 0;
        bool known = false;
        for (size_t k = 0; eq && k < KL_ARRAY_SIZE(keys); k++)
            known = known || (strlen(keys[k]) == klen && !strncmp(filters[i], keys[k], klen));
        if (!known)
            return cli_usage_error(
                "klee container ls", "",
                "invalid filter '%s': use name=, id=, status=, image= or label=", filters[i]);
        kl_error ferr = KL_ERROR_INIT;
        if (!strncmp(filters[i], "label=", 6) && kl_labels_filter_check(eq + 1, &ferr) < 0)
            return cli_usage_error("klee container ls", "", "invalid filter '%s': %s", filters[i],
                                   ferr.msg);
        if (!strncmp(filters[i], "status=", 7)) {
            bool ok = false;
            for (size_t k = 0; k < KL_ARRAY_SIZE(states); k++)
                ok = ok || !strcmp(eq + 1, states[k]);
            if (!ok)
                return cli_usage_error("klee container ls", "",
                                       "invalid status '%s': running, exited or created", eq + 1);
            all = true;
        }
    }
    /* state=true: ours (docs/api.md), each row's last run and addresses; a daemon without it
     * ignores it and the STATUS column says running/stopped as the original's */
    const char *path =
        all ? "/containers/list?all=true&state=true" : "/containers/list?all=false&state=true";
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "GET", path, NULL, &resp);
    if (status != 200) {
        int rc = status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
        http_response_free(&resp);
        return rc;
    }
    _cleanup_json_ json_t *list = cli_response_json(&resp);
    http_response_free(&resp);
    if (!json_is_array(list)) {
        cli_error(ctx, "unexpected reply from kleened: not a list");
        return CLI_EXIT_FAILURE;
    }
    /* several filters with the same key: any of them (label: all of them, as docker);
     * different keys: all of them */
    _cleanup_json_ json_t *kept = json_array();
    bool has_jid = false;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        bool ok = true;
        for (size_t k = 0; ok && k < KL_ARRAY_SIZE(keys); k++) {
            size_t klen = strlen(keys[k]);
            bool seen = false, any = false;
            for (size_t f = 0; filters && filters[f]; f++) {
                if (strncmp(filters[f], keys[k], klen) != 0 || filters[f][klen] != '=')
                    continue;
                bool m = filter_matches(c, keys[k], filters[f] + klen + 1);
                if (!strcmp(keys[k], "label") && !m)
                    ok = false;
                seen = true;
                any = any || m;
            }
            ok = ok && (!seen || any);
        }
        if (!ok)
            continue;
        has_jid = has_jid || json_is_integer(json_object_get(c, "jid"));
        json_array_append(kept, c);
    }
    cli_listing l = {
        .cols = container_columns,
        .ncols = has_jid ? CONTAINER_LS_NCOLS : CONTAINER_LS_NCOLS - 1,
        .stride = CONTAINER_LS_NCOLS,
        .fields = container_fields,
        .id_key = "id",
        .row = container_ls_row,
    };
    return cli_print_listing(ctx, a, kept, &l);
}

static int container_inspect(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/containers/%s/inspect", id);
    return cli_call(ctx, "GET", path, NULL, 200, cli_print_json);
}

static int container_rm(cli_ctx *ctx, const cli_args *a)
{
    for (size_t i = 0; i < a->npos; i++) {
        /* -f: stop first; "container not running" is expected and not shown, and a missing
         * container is reported by the removal. */
        if (cli_flag(a, "force"))
            stop_one(ctx, a->pos[i], false, false, NULL);
        _cleanup_free_ char *id = cli_path_escape(a->pos[i]);
        _cleanup_free_ char *path = xasprintf("/containers/%s", id);
        if (request_print_id(ctx, "DELETE", path, NULL, 200) != CLI_EXIT_OK)
            return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

static int container_prune(cli_ctx *ctx, const cli_args *a)
{
    return cli_prune(ctx, "/containers/prune", "WARNING! This will remove all stopped containers.",
                     cli_flag(a, "force"));
}

static json_t *strv_or_null(char *const *v)
{
    return v ? jx_from_strv(v) : json_null();
}

static int container_update(cli_ctx *ctx, const cli_args *a)
{
    const char *restart = cli_value(a, "restart");
    if (restart && validate_enum(ctx, restart, policies, KL_ARRAY_SIZE(policies),
                                 "ContainerConfigRestartPolicy") < 0)
        return CLI_EXIT_FAILURE;
    /* Fields not given are sent as null, which leaves them unchanged (API.md §8.1). */
    const char *name = cli_value(a, "name"), *user = cli_value(a, "user");
    _cleanup_json_ json_t *body = json_pack(
        "{s:s, s:o, s:o, s:o, s:[], s:o, s:o, s:[], s:o, s:o}", "container", a->pos[0], "cmd",
        a->npos > 1 ? jx_from_strv(a->pos + 1) : json_null(), "env",
        strv_or_null(cli_values(a, "env")), "jail_param", strv_or_null(cli_values(a, "jailparam")),
        "mounts", "name", name ? json_string(name) : json_null(), "persist",
        cli_flag(a, "persist") ? json_true() : json_null(), "public_ports", "restart_policy",
        restart ? json_string(restart) : json_null(), "user",
        user ? json_string(user) : json_null());
    if (!body) {
        cli_error(ctx, "Error! Could not validate container configuration: not valid UTF-8");
        return CLI_EXIT_FAILURE;
    }
    if (add_limits(a, "klee container update", body) < 0)
        return CLI_EXIT_USAGE;
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/containers/%s/update", id);
    return request_print_id(ctx, "POST", path, body, 201);
}

static int container_rename(cli_ctx *ctx, const cli_args *a)
{
    /* Only the name changes: every other field is null (unchanged). */
    _cleanup_json_ json_t *body = json_pack("{s:s, s:n, s:n, s:n, s:n, s:n, s:n, s:[], s:[]}",
                                            "name", a->pos[1], "cmd", "user", "env", "jail_param",
                                            "restart_policy", "persist", "mounts", "public_ports");
    if (!body) {
        cli_error(ctx, "Error! Could not validate container configuration: not valid UTF-8");
        return CLI_EXIT_FAILURE;
    }
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/containers/%s/update", id);
    return request_print_id(ctx, "POST", path, body, 201);
}

int container_demux_feed(container_demux *d, const char *data, size_t n, container_demux_fn out,
                         void *ud)
{
    while (n && !d->is_broken) {
        if (d->left) {
            size_t take = n < d->left ? n : d->left;
            out(ud, d->stream, data, take);
            data += take;
            n -= take;
            d->left -= take;
            continue;
        }
        d->head[d->head_len++] = (unsigned char)*data++;
        n--;
        if (d->head_len < sizeof(d->head))
            continue;
        d->head_len = 0;
        if ((d->head[0] != 1 && d->head[0] != 2) || d->head[1] || d->head[2] || d->head[3]) {
            d->is_broken = true;
            break;
        }
        d->stream = d->head[0];
        d->left = ((size_t)d->head[4] << 24) | ((size_t)d->head[5] << 16) |
                  ((size_t)d->head[6] << 8) | (size_t)d->head[7];
    }
    return d->is_broken ? -1 : 0;
}

typedef struct log_output {
    container_demux demux;
} log_output;

static void write_stream(void *ud, int stream, const char *data, size_t n)
{
    (void)ud;
    if (stream == 2) {
        fflush(stdout);
        fwrite(data, 1, n, stderr);
        fflush(stderr);
    } else {
        fwrite(data, 1, n, stdout);
        fflush(stdout);
    }
}

/* The multiplexed stream when the daemon sends one (its Content-Type), else the raw bytes (a
 * daemon without it: all on stdout). */
static void write_log(void *ud, const char *content_type, const char *data, size_t n)
{
    log_output *lo = ud;
    if (content_type && strncmp(content_type, "application/vnd.kleene.multiplexed-stream", 41) == 0)
        container_demux_feed(&lo->demux, data, n, write_stream, NULL);
    else
        write_stream(NULL, 1, data, n);
}

int container_logs_since(const char *arg, double now, char out[40])
{
    double t;
    char *end;
    if (render_parse_iso8601(arg, &t) == 0 && strchr(arg, 'T')) {
        /* a time */
    } else if ((t = strtod(arg, &end)), end != arg && *end == '\0' && t >= 0) {
        /* Unix seconds */
    } else {
        /* a duration: one or more <number><h|m|s> */
        double secs = 0;
        const char *p = arg;
        if (!*p)
            return -1;
        while (*p) {
            double v = strtod(p, &end);
            if (end == p || v < 0)
                return -1;
            double unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's' ? 1 : 0;
            if (unit == 0)
                return -1;
            secs += v * unit;
            p = end + 1;
        }
        t = now - secs;
    }
    time_t whole = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&whole, &tm))
        return -1;
    long usec = (long)((t - (double)whole) * 1e6);
    if (usec < 0 || usec > 999999)
        usec = 0;
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    return 0;
}

static int container_logs(cli_ctx *ctx, const cli_args *a)
{
    http_client *hc = cli_http(ctx);
    if (!hc)
        return CLI_EXIT_FAILURE;
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    /* --stdout / --stderr select one stream; neither (or both) means both. */
    bool out = cli_flag(a, "stdout"), err_only = cli_flag(a, "stderr");
    if (!out && !err_only)
        out = err_only = true;
    /* tail, since, timestamps: ours (docs/api.md), sent only when asked for */
    _cleanup_free_ char *extra = xstrdup("");
    const char *tail = cli_value(a, "tail"), *since = cli_value(a, "since");
    if (tail && strcmp(tail, "all") != 0) {
        char *end;
        long long n = strtoll(tail, &end, 10);
        if (!*tail || *end || n < 0)
            return cli_usage_error("klee container logs", "CONTAINER",
                                   "invalid --tail '%s': a number of lines or 'all'", tail);
        free(extra);
        extra = xasprintf("&tail=%lld", n);
    }
    if (since) {
        char iso[40];
        if (container_logs_since(since, cli_now(), iso) < 0)
            return cli_usage_error("klee container logs", "CONTAINER",
                                   "invalid --since '%s': a time (2026-12-07T10:13:01Z), Unix "
                                   "seconds or a duration (10m, 1h30m)",
                                   since);
        char *more = xasprintf("%s&since=%s", extra, iso);
        free(extra);
        extra = more;
    }
    if (cli_flag(a, "timestamps")) {
        char *more = xasprintf("%s&timestamps=true", extra);
        free(extra);
        extra = more;
    }
    _cleanup_free_ char *path =
        xasprintf("/containers/%s/logs?follow=%s%s%s&multiplex=true%s", id,
                  cli_flag(a, "follow") ? "true" : "false", out ? "" : "&stdout=false",
                  err_only ? "" : "&stderr=false", extra);
    http_response resp = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    log_output lo = {0};
    int rc = CLI_EXIT_OK;
    if (http_request_stream(hc, path, write_log, &lo, &resp, &err) < 0) {
        cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        rc = CLI_EXIT_FAILURE;
    } else if (resp.status != 200) {
        rc = cli_print_server_error(ctx, &resp);
    } else if (lo.demux.is_broken) {
        cli_error(ctx, "malformed log stream from kleened");
        rc = CLI_EXIT_FAILURE;
    }
    http_response_free(&resp);
    return rc;
}

extern const cli_command cli_container_cp; /* cp.c */

/* ---- the group ----------------------------------------------------------------------------- */

static const cli_command cli_container_create = {
    .name = "create",
    .args_usage = "IMAGE [COMMAND]...",
    .short_help = "Create a new container.",
    .help = "Create a new container. The IMAGE parameter syntax is: "
            "`<image_id>|[<image_name>[:<tag>]][@<snapshot_id>]`\n\n"
            "See the documentation for details.",
    .options = create_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .options_stop_after = 1,
    .run = container_create,
};

static const cli_command cli_container_ls = {
    .name = "ls",
    .short_help = "List containers",
    .options = ls_options,
    .max_args = 0,
    .run = container_ls,
};

static const cli_command cli_container_inspect = {
    .name = "inspect",
    .args_usage = "CONTAINER",
    .short_help = "Display detailed information on a container.",
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = container_inspect,
};

static const cli_command cli_container_rm = {
    .name = "rm",
    .args_usage = "CONTAINERS...",
    .short_help = "Remove one or more containers",
    .options = rm_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_rm,
};

static const cli_command cli_container_prune = {
    .name = "prune",
    .short_help = "Remove all stopped containers.",
    .options = prune_options,
    .max_args = 0,
    .run = container_prune,
};

static const cli_command cli_container_start = {
    .name = "start",
    .args_usage = "CONTAINERS...",
    .short_help = "Start one or more stopped containers.",
    .help = "Start one or more stopped containers. Attach only if a single container is "
            "started.\n\n"
            "Unlike `docker start`, klee attaches to the container's output by default (as the "
            "original klee does) and returns when the container's main process ends, with its "
            "exit code. To start in the background, use `-d/--detach`. There is no detach key: "
            "Ctrl-C (or closing klee) while attached stops the main process, which ends the "
            "container.",
    .options = start_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_start,
};

static const cli_command cli_container_stop = {
    .name = "stop",
    .args_usage = "CONTAINERS...",
    .short_help = "Stop one or more running containers",
    .help = "Stop one or more running containers: the stop command (--stop-cmd, -J exec.stop) "
            "if there is one, then SIGTERM to every process (to an init as pid 1 alone: its own "
            "shutdown signal), SIGKILL after the grace period (-t, else the container's "
            "--stop-timeout, else 10 seconds).",
    .options = stop_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_stop,
};

static const cli_command cli_container_restart = {
    .name = "restart",
    .args_usage = "CONTAINERS...",
    .short_help = "Restart one or more containers",
    .help = "Restart one or more containers: stop each (if it runs) and start it again in the "
            "background. A stopped container is started.",
    .options = stop_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_restart,
};

static const cli_command cli_container_kill = {
    .name = "kill",
    .args_usage = "CONTAINERS...",
    .short_help = "Send a signal to one or more running containers",
    .help = "Send a signal to the main process of one or more running containers (default: "
            "KILL, which ends every process of the container at once).",
    .options = kill_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_kill,
};

static const cli_command cli_container_wait = {
    .name = "wait",
    .args_usage = "CONTAINERS...",
    .short_help = "Wait for containers to end, then print their exit codes",
    .help = "Block until each container no longer runs, then print the exit code of its main "
            "process (-1 when it never ran).",
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = container_wait,
};

static const cli_command cli_container_exec = {
    .name = "exec",
    .args_usage = "CONTAINER [COMMAND]...",
    .short_help = "Run a command in a container",
    .options = exec_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .options_stop_after = 1,
    .run = container_exec,
};

static const cli_command cli_container_update = {
    .name = "update",
    .args_usage = "CONTAINER [COMMAND]...",
    .short_help = "Modify container properties.",
    .help = "Modify container properties. Only the properties given are changed; a COMMAND "
            "replaces the container's command.\n\n"
            "Using a running container's environment variables and user needs a restart of "
            "the container. Jail parameters are applied to a running container at once when "
            "possible.",
    .options = update_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .options_stop_after = 1,
    .run = container_update,
};

static const cli_command cli_container_rename = {
    .name = "rename",
    .args_usage = "CONTAINER NAME",
    .short_help = "Rename a container.",
    .min_args = 2,
    .max_args = 2,
    .no_args_is_help = true,
    .run = container_rename,
};

static const cli_command cli_container_run = {
    .name = "run",
    .args_usage = "IMAGE [COMMAND]...",
    .short_help = "Run a command in a new container.",
    .help = "Run a command in a new container.\n\n"
            "The IMAGE syntax is: (IMAGE_ID|IMAGE_NAME[:TAG])[:@SNAPSHOT]",
    .options = run_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .options_stop_after = 1,
    .run = container_run,
};

static const cli_command cli_container_logs = {
    .name = "logs",
    .args_usage = "CONTAINER",
    .short_help = "Show the output of a container.",
    .help = "Show the output of a container's processes, as kept by kleened. With '--follow' "
            "keep printing new output until interrupted.",
    .options = logs_options,
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = container_logs,
};

static const cli_command *const container_commands[] = {
    &cli_container_create,
    &cli_container_ls,
    &cli_container_inspect,
    &cli_container_rm,
    &cli_container_prune,
    &cli_container_start,
    &cli_container_stop,
    &cli_container_restart,
    &cli_container_exec,
    &cli_container_update,
    &cli_container_rename,
    &cli_container_run,
    &cli_container_logs,
    &cli_container_kill,
    &cli_container_wait,
    &cli_container_cp,
    NULL,
};

const cli_group cli_container_group = {
    .name = "container",
    .short_help = "Manage containers",
    .commands = container_commands,
};
