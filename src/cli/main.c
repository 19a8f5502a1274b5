/* klee: the Kleene command-line client. Entry point: global options, configuration
 * (flag > environment > config file > default), and the command table — the groups
 * (one file each) and the hidden top-level shortcuts. Adding a group: write
 * src/cli/<group>.c defining `const cli_group cli_<group>_group`, declare it in cli.h,
 * list it in `groups` below and its shortcuts in `shortcuts`, add the file to
 * src/cli/meson.build. */
#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_group *const groups[] = {
    &cli_container_group, &cli_image_group,  &cli_network_group,
    &cli_volume_group,    &cli_system_group, NULL,
};

static const cli_shortcut shortcuts[] = {
    {"build", "image", "build"},    {"create", "container", "create"},
    {"exec", "container", "exec"},  {"restart", "container", "restart"},
    {"run", "container", "run"},    {"start", "container", "start"},
    {"stop", "container", "stop"},  {"isc", "container", "inspect"},
    {"lsc", "container", "ls"},     {"rmc", "container", "rm"},
    {"isi", "image", "inspect"},    {"lsi", "image", "ls"},
    {"rmi", "image", "rm"},         {"isn", "network", "inspect"},
    {"lsn", "network", "ls"},       {"rmn", "network", "rm"},
    {"isv", "volume", "inspect"},   {"lsv", "volume", "ls"},
    {"rmv", "volume", "rm"},        {"version", "system", "version"},
    {"logs", "container", "logs"},  {"kill", "container", "kill"},
    {"wait", "container", "wait"},  {"pull", "image", "pull"},
    {"load", "image", "load"},      {"save", "image", "save"},
    {"push", "image", "push"},      {"login", "system", "login"},
    {"logout", "system", "logout"}, {"cp", "container", "cp"},
};

static const cli_option root_options[] = {
    {"version", 0, NULL, "Show the version and exit.", NULL},
    {"config", 0, "PATH", "Location of Klee config file.", NULL},
    {"theme", 0, "[fancy|simple]",
     "Theme used for Klee's output. Possible values: 'fancy' or 'simple'. Default is 'fancy'.",
     NULL},
    {"host", 'H', "URL",
     "Host address and protocol to use. See the docs for details. If no host is defined "
     "anywhere, Klee uses `http:///var/run/kleened.sock`.",
     NULL},
    {"tlsverify", 0, NULL,
     "Verify the server cert. On by default when '--tlscacert' is given; otherwise uses the "
     "system's CA bundle.",
     "no-tlsverify"},
    {"tlscert", 0, "PATH",
     "Path to TLS certificate file used for client authentication (PEM "
     "encoded)",
     NULL},
    {"tlskey", 0, "PATH", "Path to TLS key file used for the '--tlscert' certificate (PEM encoded)",
     NULL},
    {"tlscacert", 0, "PATH",
     "Trust certs signed only by this CA (PEM encoded). Implies '--tlsverify'.", NULL},
    {0},
};

static const cli_command *find_command(const cli_group *g, const char *name)
{
    for (size_t i = 0; g->commands[i]; i++)
        if (strcmp(g->commands[i]->name, name) == 0)
            return g->commands[i];
    return NULL;
}

static const cli_group *find_group(const char *name)
{
    for (size_t i = 0; groups[i]; i++)
        if (strcmp(groups[i]->name, name) == 0)
            return groups[i];
    return NULL;
}

static const cli_command *find_shortcut(const char *name)
{
    for (size_t i = 0; i < KL_ARRAY_SIZE(shortcuts); i++) {
        if (strcmp(shortcuts[i].name, name) != 0)
            continue;
        const cli_group *g = find_group(shortcuts[i].group);
        return g ? find_command(g, shortcuts[i].command) : NULL;
    }
    return NULL;
}

static void root_help(const cli_ctx *ctx)
{
    cli_help_usage(ctx, "klee", "COMMAND [ARGS]...");
    cli_help_text("CLI to interact with Kleened.");
    cli_help_section(ctx, "Options");
    cli_help_options(root_options);

    size_t n = 0;
    while (groups[n])
        n++;
    const char **names = xcalloc(n + KL_ARRAY_SIZE(shortcuts) + 1, sizeof(char *));
    const char **helps = xcalloc(n + KL_ARRAY_SIZE(shortcuts) + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        names[i] = groups[i]->name;
        helps[i] = groups[i]->short_help;
    }
    cli_help_section(ctx, "Commands");
    cli_help_rows(names, helps, n);

    size_t k = 0;
    char **aliases = xcalloc(KL_ARRAY_SIZE(shortcuts) + 1, sizeof(char *));
    for (size_t i = 0; i < KL_ARRAY_SIZE(shortcuts); i++) {
        if (!find_shortcut(shortcuts[i].name))
            continue;
        names[k] = shortcuts[i].name;
        aliases[k] = xasprintf("Same as 'klee %s %s'.", shortcuts[i].group, shortcuts[i].command);
        helps[k] = aliases[k];
        k++;
    }
    if (k > 0) {
        cli_help_section(ctx, "Shortcuts");
        cli_help_rows(names, helps, k);
    }
    strv_free(aliases);
    free(names);
    free(helps);
}

static const cli_command root_command = {
    .name = "klee",
    .args_usage = "COMMAND [ARGS]...",
    .options = root_options,
    .max_args = -1,
    .no_args_is_help = true,
    .options_stop_after = 1,
    .print_help = root_help,
};

/* --config and --theme shape everything else, so (like the original, which pre-parses
 * them with argparse) they are taken from anywhere before a "--" and removed from argv.
 * Returns -1 to go on, or an exit code. */
static int prescan(int *argc, char **argv, char **config, char **theme)
{
    int out = 1;
    bool done = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (done || strcmp(a, "--") == 0) {
            done = true;
            argv[out++] = argv[i];
            continue;
        }
        char **slot = NULL;
        const char *name = NULL, *value = NULL;
        if (strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            slot = config;
            name = "--config";
            value = a[8] == '=' ? a + 9 : NULL;
        } else if (strncmp(a, "--theme", 7) == 0 && (a[7] == '\0' || a[7] == '=')) {
            slot = theme;
            name = "--theme";
            value = a[7] == '=' ? a + 8 : NULL;
        }
        if (!slot) {
            argv[out++] = argv[i];
            continue;
        }
        if (!value) {
            if (i + 1 >= *argc)
                return cli_usage_error("klee", root_command.args_usage,
                                       "Option '%s' requires an argument.", name);
            value = argv[++i];
        }
        free(*slot);
        *slot = xstrdup(value);
    }
    argv[out] = NULL;
    *argc = out;
    if (*theme && config_check_theme(*theme, NULL) < 0)
        return cli_usage_error("klee", root_command.args_usage,
                               "Invalid value for '--theme': '%s' is not one of 'fancy', "
                               "'simple'.",
                               *theme);
    return -1;
}

static void set_output(cli_ctx *ctx, const char *theme)
{
    ctx->out.theme = theme && strcmp(theme, "simple") == 0 ? RENDER_SIMPLE : RENDER_FANCY;
    ctx->out.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    ctx->err_color = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
}

static void ctx_freep(cli_ctx *ctx)
{
    http_client_free(ctx->http);
    config_free(&ctx->config);
}

static void args_freep(cli_args *a)
{
    cli_args_free(a);
}

static int run(int argc, char **argv)
{
    _cleanup_free_ char *config_flag = NULL;
    _cleanup_free_ char *theme_flag = NULL;
    int rc = prescan(&argc, argv, &config_flag, &theme_flag);
    if (rc >= 0)
        return rc;

    _cleanup_(ctx_freep)
        cli_ctx ctx = {.config = CLI_CONFIG_INIT, .timeout_s = HTTP_DEFAULT_TIMEOUT};
    const char *env_theme = getenv("KLEE_THEME");
    set_output(&ctx, theme_flag ? theme_flag : env_theme);

    _cleanup_(args_freep) cli_args root = {0};
    rc = cli_parse(&root_command, "klee", argc - 1, argv + 1, &root, &ctx);
    if (rc != CLI_PARSE_RUN)
        return rc;
    if (cli_flag(&root, "version")) {
        printf("klee, version %s\n", KLEENE_VERSION);
        return CLI_EXIT_OK;
    }

    /* Layers: flags, then the environment, then the file, then defaults. */
    cli_config *c = &ctx.config;
    const char *v;
    if ((v = cli_value(&root, "host")))
        c->host = xstrdup(v);
    c->tlsverify = cli_bool(&root, "tlsverify");
    if ((v = cli_value(&root, "tlscert")))
        c->tlscert = xstrdup(v);
    if ((v = cli_value(&root, "tlskey")))
        c->tlskey = xstrdup(v);
    if ((v = cli_value(&root, "tlscacert")))
        c->tlscacert = xstrdup(v);
    c->theme = theme_flag ? xstrdup(theme_flag) : NULL;
    config_from_env(c);

    const char *explicit_config = config_flag ? config_flag : getenv("KLEE_CONFIG");
    if (explicit_config && !*explicit_config)
        explicit_config = NULL;
    cli_config file = CLI_CONFIG_INIT;
    char **warnings = NULL;
    kl_error err = KL_ERROR_INIT;
    int loaded =
        config_load(explicit_config, config_default_locations, &file, NULL, &warnings, &err);
    for (size_t i = 0; warnings && warnings[i]; i++)
        cli_error(&ctx, "%s", warnings[i]);
    strv_free(warnings);
    if (loaded < 0) {
        cli_error(&ctx, "%s", err.msg);
        return err.code == EINVAL ? CLI_EXIT_CONFIG : CLI_EXIT_FAILURE;
    }
    config_merge(c, &file);
    config_free(&file);
    if (!c->host)
        c->host = xstrdup(CLI_DEFAULT_HOST);
    if (!c->theme)
        c->theme = xstrdup(CLI_DEFAULT_THEME);
    if (config_check_theme(c->theme, &err) < 0) {
        cli_error(&ctx, "%s", err.msg);
        return CLI_EXIT_FAILURE;
    }
    set_output(&ctx, c->theme);

    const char *t = getenv("KLEE_TIMEOUT");
    if (t && *t) {
        char *end;
        errno = 0;
        long secs = strtol(t, &end, 10);
        if (errno || *end || secs < 0) {
            cli_error(&ctx, "Error! KLEE_TIMEOUT must be a number of seconds, not '%s'", t);
            return CLI_EXIT_FAILURE;
        }
        ctx.timeout_s = secs;
    }

    const char *name = root.pos[0];
    int sub_argc = (int)root.npos - 1;
    char **sub_argv = root.pos + 1;
    const cli_group *g = find_group(name);
    const cli_command *sc = g ? NULL : find_shortcut(name);
    _cleanup_free_ char *prog = xasprintf("klee %s", name);
    if (g)
        return cli_run_group(&ctx, g, prog, sub_argc, sub_argv);
    if (sc)
        return cli_run_command(&ctx, sc, prog, sub_argc, sub_argv);
    return cli_usage_error("klee", root_command.args_usage, "No such command '%s'.", name);
}

int main(int argc, char **argv)
{
    int rc = run(argc, argv);
    fflush(stdout);
    return rc;
}
