/* `klee volume ...`: create, ls, inspect, rm, prune (KLEE-CLI.md §5 volume; API.md §6
 * Volumes). Builds requests and chooses what to print per status; the shared printing
 * and connection handling is in common.c. */
#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <string.h>

static const cli_option volume_create_options[] = {CLI_LABEL_OPTION('l'), {0}};

static int volume_create(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_json_ json_t *body = json_pack("{s:s}", "name", a->pos[0]);
    if (!body)
        return cli_usage_error("klee volume create", "VOLUME_NAME",
                               "the volume name is not valid UTF-8");
    /* labels: ours, sent only when given */
    int rc = cli_add_labels(a, "klee volume create", "VOLUME_NAME", body);
    if (rc != 0)
        return rc;
    return cli_call(ctx, "POST", "/volumes/create", body, 201, cli_print_id);
}

static const render_column volume_columns[] = {
    {"VOLUME NAME", "1;38;5;122", RENDER_LEFT, 0, 0}, /* bold aquamarine1 */
    {"CREATED", "97", RENDER_LEFT, 0, 0},             /* bright_white */
};

static void volume_row(const json_t *v, double now, char **cells)
{
    cells[0] = xstrdup(jx_str(v, "name", ""));
    cells[1] = render_created_ago(jx_str(v, "created", ""), now);
}

static const char *const volume_fields[] = {"Name", "Created"};
static const cli_option volume_ls_options[] = {CLI_LS_OPTIONS, {0}};

static int volume_ls(cli_ctx *ctx, const cli_args *a)
{
    cli_listing l = {volume_columns,
                     KL_ARRAY_SIZE(volume_columns),
                     KL_ARRAY_SIZE(volume_columns),
                     volume_fields,
                     "name",
                     volume_row};
    return cli_list(ctx, a, "/volumes/list", &l);
}

static int volume_inspect(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *name = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/volumes/%s/inspect", name);
    return cli_call(ctx, "GET", path, NULL, 200, cli_print_json);
}

static int volume_rm(cli_ctx *ctx, const cli_args *a)
{
    /* One request per volume; stop at the first failure (like the original). */
    return cli_remove_each(ctx, "/volumes", a->pos, a->npos);
}

static const cli_option prune_options[] = {
    {"force", 'f', NULL, "Do not prompt for confirmation", NULL},
    {0},
};

static int volume_prune(cli_ctx *ctx, const cli_args *a)
{
    return cli_prune(ctx, "/volumes/prune", "WARNING! This will remove all unused volumes.",
                     cli_flag(a, "force"));
}

static const cli_command cli_volume_create = {
    .name = "create",
    .args_usage = "VOLUME_NAME",
    .short_help = "Create a new volume.",
    .help = "Create a new volume. If the volume name already exists nothing happens.",
    .options = volume_create_options,
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = volume_create,
};

static const cli_command cli_volume_ls = {
    .name = "ls",
    .short_help = "List volumes",
    .options = volume_ls_options,
    .max_args = 0,
    .run = volume_ls,
};

static const cli_command cli_volume_inspect = {
    .name = "inspect",
    .args_usage = "VOLUME",
    .short_help = "Display detailed information on an volume.",
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = volume_inspect,
};

static const cli_command cli_volume_rm = {
    .name = "rm",
    .args_usage = "VOLUMES...",
    .short_help = "Remove one or more volumes.",
    .help = "Remove one or more volumes. You cannot remove a volume that is in use by a "
            "container.",
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = volume_rm,
};

static const cli_command cli_volume_prune = {
    .name = "prune",
    .short_help = "Remove all volumes that are not being mounted into any containers.",
    .options = prune_options,
    .max_args = 0,
    .run = volume_prune,
};

static const cli_command *const volume_commands[] = {
    &cli_volume_create, &cli_volume_ls,    &cli_volume_inspect,
    &cli_volume_rm,     &cli_volume_prune, NULL,
};

const cli_group cli_volume_group = {
    .name = "volume",
    .short_help = "Manage volumes",
    .commands = volume_commands,
};
