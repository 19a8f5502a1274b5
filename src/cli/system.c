/* `klee system ...` (ours, docs/klee-differences.md): version (also `klee version`), df and
 * prune. version and df use endpoints of ours (GET /version, GET /system/df, docs/api.md);
 * prune is the four prunes of the original's API in a row. */
#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <string.h>

static int system_version(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    printf("Client:\n Version:     %s\n", KLEENE_VERSION);
    fflush(stdout);
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "GET", "/version", NULL, &resp);
    int rc = CLI_EXIT_OK;
    if (status == 200) {
        _cleanup_json_ json_t *j = cli_response_json(&resp);
        printf("Server:\n Version:     %s\n API version: %s\n OS/Arch:     %s/%s\n Kernel:      "
               "%s\n",
               jx_str(j, "version", "?"), jx_str(j, "api_version", "?"), jx_str(j, "os", "?"),
               jx_str(j, "arch", "?"), jx_str(j, "kernel", "?"));
    } else if (status == 404) {
        /* the original kleened has no /version */
        printf("Server:\n Version:     unknown (this kleened does not tell)\n");
    } else if (status >= 0) {
        rc = cli_print_server_error(ctx, &resp);
    } else {
        rc = CLI_EXIT_FAILURE;
    }
    http_response_free(&resp);
    return rc;
}

/* Docker's way: decimal units, three significant digits. */
static void human_bytes(long long n, char *out, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < KL_ARRAY_SIZE(units)) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lldB", n);
    else
        snprintf(out, size, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static const render_column df_columns[] = {
    {"TYPE", NULL, RENDER_LEFT, 0, 0},
    {"TOTAL", NULL, RENDER_LEFT, 0, 0},
    {"ACTIVE", NULL, RENDER_LEFT, 0, 0},
    {"SIZE", NULL, RENDER_LEFT, 0, 0},
};

static int system_df(cli_ctx *ctx, const cli_args *a)
{
    (void)a;
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "GET", "/system/df", NULL, &resp);
    if (status != 200) {
        int rc = status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
        http_response_free(&resp);
        return rc;
    }
    _cleanup_json_ json_t *j = cli_response_json(&resp);
    http_response_free(&resp);
    static const char *const kinds[][2] = {
        {"images", "Images"}, {"containers", "Containers"}, {"volumes", "Local Volumes"}};
    char *cells[KL_ARRAY_SIZE(kinds) * 4 + 1] = {0};
    for (size_t i = 0; i < KL_ARRAY_SIZE(kinds); i++) {
        json_t *k = json_object_get(j, kinds[i][0]);
        char size[32];
        human_bytes(jx_int(k, "size", 0), size, sizeof(size));
        cells[4 * i] = xstrdup(kinds[i][1]);
        cells[4 * i + 1] = xasprintf("%lld", jx_int(k, "total", 0));
        cells[4 * i + 2] = xasprintf("%lld", jx_int(k, "active", 0));
        cells[4 * i + 3] = xstrdup(size);
    }
    cli_print_table(ctx, df_columns, KL_ARRAY_SIZE(df_columns), cells, KL_ARRAY_SIZE(kinds));
    for (size_t i = 0; cells[i]; i++)
        free(cells[i]);
    return CLI_EXIT_OK;
}

/* POST one prune; prints "<title>:" and the ids when there are any. */
static int prune_one(cli_ctx *ctx, const char *path, const char *title)
{
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", path, NULL, &resp);
    int rc = CLI_EXIT_OK;
    if (status == 200) {
        _cleanup_json_ json_t *ids = cli_response_json(&resp);
        if (json_array_size(ids) > 0) {
            printf("%s:\n", title);
            size_t i;
            json_t *v;
            json_array_foreach(ids, i, v)
                printf("%s\n", json_is_string(v) ? json_string_value(v) : "");
            printf("\n");
        }
    } else {
        rc = status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
    }
    http_response_free(&resp);
    return rc;
}

static int system_prune(cli_ctx *ctx, const cli_args *a)
{
    bool all = cli_flag(a, "all"), volumes = cli_flag(a, "volumes");
    _cleanup_free_ char *warning =
        xasprintf("WARNING! This will remove:\n  - all stopped containers\n  - all networks not "
                  "used by at least one container\n  - %s\n%s",
                  all ? "all images without at least one container associated to them"
                      : "all untagged images without a child image",
                  volumes ? "  - all volumes not used by at least one container" : "");
    if (warning[strlen(warning) - 1] == '\n')
        warning[strlen(warning) - 1] = '\0';
    if (!cli_flag(a, "force") && !cli_confirm(ctx, warning))
        return CLI_EXIT_FAILURE;
    int rc = prune_one(ctx, "/containers/prune", "Deleted Containers");
    if (rc == CLI_EXIT_OK)
        rc = prune_one(ctx, "/networks/prune", "Deleted Networks");
    if (rc == CLI_EXIT_OK)
        rc = prune_one(ctx, all ? "/images/prune?all=true" : "/images/prune?all=false",
                       "Deleted Images");
    if (rc == CLI_EXIT_OK && volumes)
        rc = prune_one(ctx, "/volumes/prune", "Deleted Volumes");
    return rc;
}

static const cli_option prune_options[] = {
    {"all", 'a', NULL, "Remove all unused images, not only untagged ones", NULL},
    {"volumes", 0, NULL, "Prune volumes too", NULL},
    {"force", 'f', NULL, "Do not prompt for confirmation", NULL},
    {0},
};

static const cli_command cli_system_version = {
    .name = "version",
    .short_help = "Show the versions of klee and kleened.",
    .max_args = 0,
    .run = system_version,
};

static const cli_command cli_system_df = {
    .name = "df",
    .short_help = "Show the disk space kleened's images, containers and volumes use.",
    .max_args = 0,
    .run = system_df,
};

static const cli_command cli_system_prune = {
    .name = "prune",
    .short_help = "Remove stopped containers, unused networks and images (and volumes).",
    .options = prune_options,
    .max_args = 0,
    .run = system_prune,
};

extern const cli_command cli_system_login, cli_system_logout; /* login.c */

static const cli_command *const system_commands[] = {
    &cli_system_df,    &cli_system_login,   &cli_system_logout,
    &cli_system_prune, &cli_system_version, NULL,
};

const cli_group cli_system_group = {
    .name = "system",
    .short_help = "Manage kleened: versions, disk usage, pruning",
    .commands = system_commands,
};
