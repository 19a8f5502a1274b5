/* klee's argument parser, help screens and group dispatch (see cli.h).
 *
 * Behaves like click 8.1, which the original klee uses: options may be mixed with
 * arguments, "--" ends options, "--opt=value" and "-fVALUE" forms, clustered short
 * flags, "-h"/"--help" everywhere, usage errors on stderr with exit status 2. */
#include "cli/cli.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HELP_WIDTH 78

static const cli_option help_option = {"help", 'h', NULL, "Show this message and exit.", NULL};

void cli_args_free(cli_args *a)
{
    for (size_t i = 0; i < CLI_MAX_OPTIONS; i++)
        strv_free(a->values[i]);
    strv_free(a->pos);
    memset(a, 0, sizeof(*a));
}

static int option_index(const cli_command *cmd, const char *name)
{
    for (int i = 0; cmd->options && cmd->options[i].name; i++)
        if (strcmp(cmd->options[i].name, name) == 0)
            return i;
    return -1;
}

bool cli_flag(const cli_args *a, const char *name)
{
    int i = option_index(a->cmd, name);
    return i >= 0 && a->count[i] > 0;
}

int cli_bool(const cli_args *a, const char *name)
{
    int i = option_index(a->cmd, name);
    if (i < 0 || a->count[i] == 0)
        return -1;
    return a->count[i] > 0;
}

const char *cli_value(const cli_args *a, const char *name)
{
    int i = option_index(a->cmd, name);
    if (i < 0 || !a->values[i])
        return NULL;
    size_t n = strv_len(a->values[i]);
    return n ? a->values[i][n - 1] : NULL;
}

char *const *cli_values(const cli_args *a, const char *name)
{
    int i = option_index(a->cmd, name);
    return i >= 0 ? a->values[i] : NULL;
}

/* ---- help ---- */

static bool bold_on(const cli_ctx *ctx)
{
    return ctx && ctx->out.color && ctx->out.theme == RENDER_FANCY;
}

/* Print `text` word-wrapped: the first line continues at column `col`, the others start
 * at `indent`. Newlines in the text are kept as paragraph breaks. */
static void wrap(const char *text, size_t indent, size_t col)
{
    bool need_indent = col == 0;
    bool fresh = true; /* no word on this line yet */
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fputc('\n', stdout);
            need_indent = true;
            fresh = true;
            col = 0;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t wlen = strcspn(p, " \n");
        if (!fresh && col + 1 + wlen > HELP_WIDTH) {
            fputc('\n', stdout);
            need_indent = true;
            fresh = true;
        }
        if (need_indent) {
            printf("%*s", (int)indent, "");
            col = indent;
            need_indent = false;
        } else if (!fresh) {
            fputc(' ', stdout);
            col++;
        }
        fwrite(p, 1, wlen, stdout);
        col += wlen;
        fresh = false;
        p += wlen;
    }
    fputc('\n', stdout);
}

void cli_help_usage(const cli_ctx *ctx, const char *prog, const char *args_usage)
{
    const char *b = bold_on(ctx) ? "\033[1m" : "", *e = bold_on(ctx) ? "\033[0m" : "";
    printf("Usage: %s%s [OPTIONS]%s%s%s\n", b, prog, args_usage && *args_usage ? " " : "",
           args_usage ? args_usage : "", e);
}

void cli_help_text(const char *text)
{
    if (!text || !*text)
        return;
    fputc('\n', stdout);
    wrap(text, 2, 0);
}

void cli_help_section(const cli_ctx *ctx, const char *title)
{
    if (bold_on(ctx))
        printf("\n\033[1m%s:\033[0m\n", title);
    else
        printf("\n%s:\n", title);
}

static void print_rows(char **names, const char *const *helps, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) > w)
            w = strlen(names[i]);
    if (w > 30)
        w = 30;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        printf("  %s", names[i]);
        if (!helps[i] || !*helps[i]) {
            fputc('\n', stdout);
            continue;
        }
        if (len > w) {
            printf("\n%*s", (int)(w + 4), "");
        } else {
            printf("%*s", (int)(w - len + 2), "");
        }
        wrap(helps[i], w + 4, w + 4);
    }
}

void cli_help_rows(const char *const *names, const char *const *helps, size_t n)
{
    char **copy = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(names[i]);
    print_rows(copy, helps, n);
    strv_free(copy);
}

void cli_help_options(const cli_option *opts)
{
    size_t n = 0;
    while (opts && opts[n].name)
        n++;
    char **names = xcalloc(n + 2, sizeof(char *));
    const char **helps = xcalloc(n + 2, sizeof(char *));
    for (size_t i = 0; i <= n; i++) {
        const cli_option *o = i < n ? &opts[i] : &help_option;
        char shortpart[8] = "";
        if (o->short_name)
            snprintf(shortpart, sizeof(shortpart), "-%c, ", o->short_name);
        if (o->negation)
            names[i] = xasprintf("%s--%s / --%s", shortpart, o->name, o->negation);
        else
            names[i] = xasprintf("%s--%s%s%s", shortpart, o->name, o->metavar ? " " : "",
                                 o->metavar ? o->metavar : "");
        helps[i] = o->help;
    }
    print_rows(names, helps, n + 1);
    strv_free(names);
    free(helps);
}

void cli_print_command_help(const cli_command *cmd, const char *prog, const cli_ctx *ctx)
{
    if (cmd->print_help) {
        cmd->print_help(ctx);
        return;
    }
    cli_help_usage(ctx, prog, cmd->args_usage);
    cli_help_text(cmd->help ? cmd->help : cmd->short_help);
    cli_help_section(ctx, "Options");
    cli_help_options(cmd->options);
}

void cli_print_group_help(const cli_group *g, const char *prog, const cli_ctx *ctx)
{
    cli_help_usage(ctx, prog, "COMMAND [ARGS]...");
    cli_help_text(g->short_help);
    cli_help_section(ctx, "Options");
    cli_help_options(NULL);
    cli_help_section(ctx, "Commands");
    size_t n = 0;
    while (g->commands[n])
        n++;
    const char **names = xcalloc(n + 1, sizeof(char *));
    const char **helps = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        names[i] = g->commands[i]->name;
        helps[i] = g->commands[i]->short_help;
    }
    cli_help_rows(names, helps, n);
    free(names);
    free(helps);
}

int cli_usage_error(const char *prog, const char *args_usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "Usage: %s [OPTIONS]%s%s\n", prog, args_usage && *args_usage ? " " : "",
            args_usage ? args_usage : "");
    fprintf(stderr, "Try '%s --help' for help.\n\nError: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

/* ---- parsing ---- */

static const cli_option *find_long(const cli_command *cmd, const char *name, size_t len, int *index,
                                   bool *negated)
{
    for (int i = 0; cmd->options && cmd->options[i].name; i++) {
        const cli_option *o = &cmd->options[i];
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
            *index = i;
            *negated = false;
            return o;
        }
        if (o->negation && strlen(o->negation) == len && strncmp(o->negation, name, len) == 0) {
            *index = i;
            *negated = true;
            return o;
        }
    }
    return NULL;
}

static const cli_option *find_short(const cli_command *cmd, char c, int *index)
{
    for (int i = 0; cmd->options && cmd->options[i].name; i++)
        if (cmd->options[i].short_name == c) {
            *index = i;
            return &cmd->options[i];
        }
    return NULL;
}

/* The name of the positional argument number `n` in args_usage ("SRC DEST" → "DEST"). */
static char *arg_name(const char *args_usage, size_t n)
{
    _cleanup_free_ char *copy = xstrdup(args_usage ? args_usage : "");
    char *save = NULL, *last = NULL;
    size_t i = 0;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save), i++) {
        last = tok;
        if (i == n)
            break;
    }
    if (!last)
        return xstrdup("ARG");
    /* "[COMMAND]..." → "COMMAND..." */
    kl_buf b = KL_BUF_INIT;
    for (char *p = last; *p; p++)
        if (*p != '[' && *p != ']')
            kl_buf_append(&b, p, 1);
    return kl_buf_steal(&b);
}

int cli_parse(const cli_command *cmd, const char *prog, int argc, char **argv, cli_args *out,
              const cli_ctx *ctx)
{
    cli_args a = {0};
    a.cmd = cmd;
    a.pos = xcalloc(1, sizeof(char *));
    bool only_pos = false;

    if (argc == 0 && cmd->no_args_is_help) {
        cli_print_command_help(cmd, prog, ctx);
        cli_args_free(&a);
        return CLI_EXIT_OK;
    }

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (cmd->options_stop_after > 0 && a.npos >= (size_t)cmd->options_stop_after)
            only_pos = true;
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            strv_push(&a.pos, arg);
            a.npos++;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int idx;
            bool negated;
            const cli_option *o = find_long(cmd, name, len, &idx, &negated);
            if (!o && len == 4 && strncmp(name, "help", 4) == 0) {
                cli_print_command_help(cmd, prog, ctx);
                cli_args_free(&a);
                return CLI_EXIT_OK;
            }
            if (!o) {
                cli_args_free(&a);
                return cli_usage_error(prog, cmd->args_usage, "No such option: --%.*s", (int)len,
                                       name);
            }
            if (!o->metavar) {
                if (eq) {
                    cli_args_free(&a);
                    return cli_usage_error(prog, cmd->args_usage,
                                           "Option '--%.*s' does not take a value.", (int)len,
                                           name);
                }
                a.count[idx] = negated ? -1 : (a.count[idx] > 0 ? a.count[idx] + 1 : 1);
                continue;
            }
            const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!value) {
                cli_args_free(&a);
                return cli_usage_error(prog, cmd->args_usage, "Option '--%s' requires an argument.",
                                       o->name);
            }
            strv_push(&a.values[idx], value);
            a.count[idx]++;
            continue;
        }
        /* A cluster of short options: -fq, -tNAME, -t NAME. */
        for (const char *p = arg + 1; *p; p++) {
            int idx;
            const cli_option *o = find_short(cmd, *p, &idx);
            if (!o && *p == 'h') {
                cli_print_command_help(cmd, prog, ctx);
                cli_args_free(&a);
                return CLI_EXIT_OK;
            }
            if (!o) {
                cli_args_free(&a);
                return cli_usage_error(prog, cmd->args_usage, "No such option: -%c", *p);
            }
            if (!o->metavar) {
                a.count[idx] = a.count[idx] > 0 ? a.count[idx] + 1 : 1;
                continue;
            }
            const char *value = p[1] ? p + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!value) {
                cli_args_free(&a);
                return cli_usage_error(prog, cmd->args_usage, "Option '-%c' requires an argument.",
                                       *p);
            }
            strv_push(&a.values[idx], value);
            a.count[idx]++;
            break;
        }
    }

    if (a.npos < (size_t)cmd->min_args) {
        _cleanup_free_ char *name = arg_name(cmd->args_usage, a.npos);
        cli_args_free(&a);
        return cli_usage_error(prog, cmd->args_usage, "Missing argument '%s'.", name);
    }
    if (cmd->max_args >= 0 && a.npos > (size_t)cmd->max_args) {
        kl_buf extra = KL_BUF_INIT;
        for (size_t i = (size_t)cmd->max_args; i < a.npos; i++)
            kl_buf_printf(&extra, "%s%s", i > (size_t)cmd->max_args ? " " : "", a.pos[i]);
        int rc = cli_usage_error(prog, cmd->args_usage, "Got unexpected extra argument%s (%s)",
                                 a.npos - (size_t)cmd->max_args > 1 ? "s" : "",
                                 extra.data ? extra.data : "");
        kl_buf_free(&extra);
        cli_args_free(&a);
        return rc;
    }
    *out = a;
    return CLI_PARSE_RUN;
}

int cli_run_command(cli_ctx *ctx, const cli_command *cmd, const char *prog, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, prog, argc, argv, &a, ctx);
    if (rc != CLI_PARSE_RUN)
        return rc;
    rc = cmd->run(ctx, &a);
    cli_args_free(&a);
    return rc;
}

int cli_run_group(cli_ctx *ctx, const cli_group *g, const char *prog, int argc, char **argv)
{
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        cli_print_group_help(g, prog, ctx);
        return CLI_EXIT_OK;
    }
    if (argv[0][0] == '-')
        return cli_usage_error(prog, "COMMAND [ARGS]...", "No such option: %s", argv[0]);
    for (size_t i = 0; g->commands[i]; i++) {
        if (strcmp(g->commands[i]->name, argv[0]) == 0) {
            _cleanup_free_ char *sub = xasprintf("%s %s", prog, argv[0]);
            return cli_run_command(ctx, g->commands[i], sub, argc - 1, argv + 1);
        }
    }
    return cli_usage_error(prog, "COMMAND [ARGS]...", "No such command '%s'.", argv[0]);
}
