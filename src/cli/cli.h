/* klee's command framework: the command table, argument parsing, help, and the shared
 * helpers every command file uses to talk to kleened and print results.
 *
 * A command group is one file (volume.c, later container.c, image.c, network.c) that
 * defines a `const cli_group` listing its `cli_command`s; main.c lists the groups and
 * the top-level shortcuts. Commands get parsed arguments and a context, and return the
 * process exit code. Only this layer (cli/) prints; it never exits from inside a helper. */
#ifndef KLEE_CLI_H
#define KLEE_CLI_H

#include "cli/config.h"
#include "cli/http.h"
#include "cli/render.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes (KLEE-CLI.md §7, with our fixes listed in docs/klee-differences.md). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* server-reported failure, cannot connect, timeout, aborted */
    CLI_EXIT_USAGE = 2,   /* unknown command/option, missing/extra argument */
    CLI_EXIT_MOUNT = 125, /* malformed --mount (container create/run) */
    CLI_EXIT_CONFIG = 255 /* config file with an unknown key */
};

#define CLI_MAX_OPTIONS 32

/* One option of a command. A flag has no metavar; `negation` names the "--no-x" form of
 * a boolean pair. Values can be repeated (all kept, in order). */
typedef struct cli_option {
    const char *name;    /* long name without "--" */
    char short_name;     /* 'f' for -f, or 0 */
    const char *metavar; /* NULL: flag; else e.g. "TEXT" */
    const char *help;
    const char *negation; /* e.g. "no-tlsverify", or NULL */
} cli_option;

typedef struct cli_command cli_command;

/* Parsed arguments of one command invocation. */
typedef struct cli_args {
    const cli_command *cmd;
    int count[CLI_MAX_OPTIONS];     /* times given; a negation sets it to -1 */
    char **values[CLI_MAX_OPTIONS]; /* values of options with a metavar (strv or NULL) */
    char **pos;                     /* positional arguments (strv, never NULL) */
    size_t npos;
} cli_args;

typedef struct cli_ctx cli_ctx;
typedef int (*cli_run_fn)(cli_ctx *ctx, const cli_args *args);

struct cli_command {
    const char *name;
    const char *args_usage;    /* e.g. "VOLUME_NAME", "VOLUMES...", "" */
    const char *short_help;    /* one line, for command lists */
    const char *help;          /* paragraph(s) for --help; NULL = short_help */
    const cli_option *options; /* terminated by an entry with name == NULL; may be NULL */
    int min_args;
    int max_args;         /* -1 = unlimited */
    bool no_args_is_help; /* called bare: print help, exit 0 (click behaviour) */
    /* 0: options may appear anywhere (click's default). N > 0: once N positionals are
     * seen, everything after is positional (e.g. `run IMAGE COMMAND...` with dashes). */
    int options_stop_after;
    cli_run_fn run;
    /* Replaces the generated --help text (the root command uses it). */
    void (*print_help)(const cli_ctx *ctx);
};

typedef struct cli_group {
    const char *name;
    const char *short_help;
    const cli_command *const *commands; /* NULL-terminated */
} cli_group;

/* A hidden top-level alias: `lsv` = `volume ls`. */
typedef struct cli_shortcut {
    const char *name;
    const char *group;
    const char *command;
} cli_shortcut;

/* Everything a command needs: resolved configuration, output settings, the client. */
struct cli_ctx {
    cli_config config; /* merged flag > env > file > default */
    render_opts out;   /* theme + colour for stdout */
    bool err_color;    /* stderr is a terminal */
    long timeout_s;    /* HTTP timeout */
    http_client *http; /* created on first use by cli_http() */
};

/* ---- parsing and help (cmd.c) ---- */

/* Parse argv (after the command name) for `cmd`. `prog` is the command path used in
 * messages ("klee volume rm"). Returns CLI_PARSE_RUN with *out filled: run the command;
 * or an exit code >= 0 when the parser handled everything itself (help printed → 0,
 * usage error printed → 2). */
#define CLI_PARSE_RUN (-1)
int cli_parse(const cli_command *cmd, const char *prog, int argc, char **argv, cli_args *out,
              const cli_ctx *ctx);
void cli_args_free(cli_args *a);

/* Option accessors by long name. */
bool cli_flag(const cli_args *a, const char *name);
/* 1 set, 0 negated, -1 not given. */
int cli_bool(const cli_args *a, const char *name);
/* Last value given, or NULL. */
const char *cli_value(const cli_args *a, const char *name);
/* All values given (strv, NULL if none). */
char *const *cli_values(const cli_args *a, const char *name);

/* Help printers (stdout). */
void cli_print_command_help(const cli_command *cmd, const char *prog, const cli_ctx *ctx);
void cli_print_group_help(const cli_group *g, const char *prog, const cli_ctx *ctx);
/* Building blocks for custom help screens (click layout: 2-space indent, wrapped at 78). */
void cli_help_usage(const cli_ctx *ctx, const char *prog, const char *args_usage);
void cli_help_text(const char *text);
void cli_help_section(const cli_ctx *ctx, const char *title);
void cli_help_options(const cli_option *opts); /* adds "-h, --help" */
void cli_help_rows(const char *const *names, const char *const *helps, size_t n);
/* "Usage: ...\nTry '... --help' for help.\n\nError: <msg>" on stderr; returns 2. */
int cli_usage_error(const char *prog, const char *args_usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ours (docs/klee-differences.md "Labels"): the repeatable --label KEY[=VALUE] option
 * (short_name '-l' where the original has not taken it) and its reader, which puts the
 * labels into body["labels"] when any is given. 0, or CLI_EXIT_USAGE after printing the
 * usage error for a bad label (the rule of lib/labels.h). */
#define CLI_LABEL_OPTION(short_name)                                                               \
    {                                                                                              \
        "label", short_name, "KEY=VALUE",                                                          \
            "Set a label (repeatable; `--label KEY` sets KEY to '')", NULL                         \
    }
int cli_add_labels(const cli_args *a, const char *prog, const char *args_usage, json_t *body);

/* Run a group given argv after the group name (dispatches to its commands). */
int cli_run_group(cli_ctx *ctx, const cli_group *g, const char *prog, int argc, char **argv);
/* Run one command given argv after its name. */
int cli_run_command(cli_ctx *ctx, const cli_command *cmd, const char *prog, int argc, char **argv);

/* ---- talking to kleened and printing (common.c) ---- */

/* The HTTP client for ctx->config (made once). On failure prints the reason
 * ("Could not parse the '--host' parameter", the --tlskey message, "unable to connect to
 * kleened: ...") and returns NULL. */
http_client *cli_http(cli_ctx *ctx);

/* Send a request. Returns the HTTP status, or -1 after printing "unable to connect to
 * kleened: <reason>" / "Error! Timed out while waiting for Kleene to respond.".
 * `body` may be NULL. */
long cli_request(cli_ctx *ctx, const char *method, const char *path, const json_t *body,
                 http_response *resp);

/* Prints a successful reply; returns the exit code. */
typedef int (*cli_printer)(cli_ctx *ctx, const http_response *resp);

/* One request: with status `ok_status` the reply goes to `print` (NULL: nothing is printed
 * and the exit code is 0), any other status prints the server's error (exit 1), and a
 * failed connection exits 1 too (its message already printed). */
int cli_call(cli_ctx *ctx, const char *method, const char *path, const json_t *body, long ok_status,
             cli_printer print);

/* `DELETE <prefix>/<escaped identifier>` for each identifier in order, printing each id;
 * stops at the first failure with its exit code (like the original's rm commands). */
int cli_remove_each(cli_ctx *ctx, const char *prefix, char *const *idents, size_t n);

/* The reply body as JSON (NULL if it is not JSON). */
json_t *cli_response_json(const http_response *resp);

/* Print a server failure on stderr: the body's "message"; the details of a 422; for a
 * non-JSON 5xx "kleened backend error"; otherwise "unrecognized status-code received
 * from kleened: N". Returns CLI_EXIT_FAILURE. */
int cli_print_server_error(cli_ctx *ctx, const http_response *resp);

/* Ours (login.c): put the credentials `klee login` stored for the registry of `reference`
 * into config["auth"] (docs/api.md "Registry credentials"); nothing when there are none or
 * the reference is malformed. -1 after printing the error (a broken config.json, a missing
 * credential helper). */
int cli_registry_auth(cli_ctx *ctx, const char *reference, json_t *config);
/* The registries (domains, as references name them) whose images a Dockerfile's FROM and
 * COPY --from lines name (stage names, numbers, `scratch` and references with variables
 * left out); a NULL-terminated strv, NULL when none. */
char **cli_dockerfile_registries(const char *text);
/* config["registry_auth"] = {domain: {username, password}} for those of `domains` with stored
 * credentials (nothing when none has). -1 after printing the error. */
int cli_registry_auths(cli_ctx *ctx, char *const *domains, json_t *config);

/* Print `{"id": ...}`'s id on stdout (bold on a terminal). Returns 0, or 1 if the body
 * is not an id response (printed as an error). */
int cli_print_id(cli_ctx *ctx, const http_response *resp);
/* Print a JSON array of strings, one per line. */
int cli_print_id_list(cli_ctx *ctx, const http_response *resp);
/* Print the body as pretty JSON. */
int cli_print_json(cli_ctx *ctx, const http_response *resp);
/* Print a table (render_table with ctx's theme/colour). */
void cli_print_table(cli_ctx *ctx, const render_column *cols, size_t ncols, char *const *cells,
                     size_t nrows);

/* ---- listings: the ls commands (common.c) ---- */

/* The options every ls has (put them in its option table). */
#define CLI_LS_OPTIONS                                                                             \
    {"quiet", 'q', NULL, "Only display IDs", NULL},                                                \
    {                                                                                              \
        "format", 0, "TEXT",                                                                       \
            "Print with 'json' (one JSON object per line) or a template like "                     \
            "'{{.ID}}\\t{{.Name}}' ('table ...' adds a header). Capitalised fields are the "       \
            "table's columns, lower-case ones the API's fields.",                                  \
            NULL                                                                                   \
    }

/* How an ls shows a list of API objects. */
typedef struct cli_listing {
    const render_column *cols;
    size_t ncols;              /* columns shown in the table */
    size_t stride;             /* cells written per row by `row` (>= ncols; the rest not shown) */
    const char *const *fields; /* `stride` template names of the cells (e.g. "ID", "Status") */
    const char *id_key;        /* what -q prints (e.g. "id", "name") */
    void (*row)(const json_t *obj, double now, char **cells);
} cli_listing;

/* Print `list` (a JSON array) as a table, as ids (-q), or with --format. Returns the exit
 * code (a bad template: 2). */
int cli_print_listing(cli_ctx *ctx, const cli_args *a, const json_t *list, const cli_listing *l);

/* GET `path`, then cli_print_listing. */
int cli_list(cli_ctx *ctx, const cli_args *a, const char *path, const cli_listing *l);

/* Error and message lines (stderr / stdout), bold red on a terminal. */
void cli_error(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_message(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print `warning`, then ask "Are you sure you want to continue? [y/N]: " on stdin.
 * true only for y/yes; EOF or no → prints "Aborted!" on stderr and returns false. */
bool cli_confirm(cli_ctx *ctx, const char *warning);

/* `GET/POST ... prune` style helper shared by every group: ask unless `force`, call, print
 * the id list. Returns the exit code. */
int cli_prune(cli_ctx *ctx, const char *path, const char *warning, bool force);

/* Percent-encode one path segment (a name or id given by the user). Caller frees. */
char *cli_path_escape(const char *segment);

/* Current time, seconds since the epoch with fraction (for "N minutes ago"). */
double cli_now(void);

/* ---- the command table (main.c) ---- */
extern const cli_group cli_volume_group;
extern const cli_group cli_image_group;
extern const cli_group cli_container_group;
extern const cli_group cli_network_group;
extern const cli_group cli_system_group;

#endif
