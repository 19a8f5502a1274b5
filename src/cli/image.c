/* `klee image ...`: create, ls, inspect, rm, prune, tag (KLEE-CLI.md §5 image; API.md §6
 * Images, §7.2). `image build` comes with the builder and reuses cli/wsclient the same way
 * as `image create` does here. */
#include "cli/cli.h"
#include "cli/progress.h"
#include "cli/wsclient.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- image create ---------------------------------------------------------------------- */

static const cli_option create_options[] = {
    {"tag", 't', "TEXT", "Name and optionally a tag in the 'name:tag' format", NULL},
    {"dns", 0, NULL, "Whether to copy the host's /etc/resolv.conf into the image (default: on)",
     "no-dns"},
    {"localtime", 0, NULL,
     "Whether to copy the host's /etc/localtime into the image, if it exists (default: on)",
     "no-localtime"},
    {"update", 0, NULL,
     "Update the userland of the new image (freebsd-update on FreeBSD hosts; default: off)",
     "no-update"},
    {"include", 0, "TEXT",
     "More Debian packages to install with 'fetch-auto' (comma-separated, may be repeated), "
     "e.g. 'systemd,systemd-sysv' for an image that boots systemd",
     NULL},
    {"autotag", 'a', NULL,
     "Tag the image with the detected OS version when using 'fetch-auto' (default: on; off "
     "when '--tag' is given)",
     "no-autotag"},
    {0},
};

static const char *const create_methods[] = {"fetch-auto", "fetch", "zfs-copy", "zfs-clone"};

static size_t terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    long v = cols ? strtol(cols, NULL, 10) : 0;
    return v > 0 ? (size_t)v : 80;
}

static void feed_progress(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    (void)is_binary;
    progress_feed(ud, data, n);
}

/* The config frame (API.md §5.11), built from the command line; NULL after printing a
 * usage error (*rc set). */
static json_t *create_config(const cli_args *a, int *rc)
{
    const char *method = a->pos[0];
    const char *source = a->npos > 1 ? a->pos[1] : NULL;
    bool known = false;
    for (size_t i = 0; i < KL_ARRAY_SIZE(create_methods); i++)
        known = known || strcmp(method, create_methods[i]) == 0;
    if (!known) {
        *rc = cli_usage_error("klee image create", "METHOD [SOURCE]",
                              "Invalid value for 'METHOD': '%s' is not one of 'fetch-auto', "
                              "'fetch', 'zfs-copy', 'zfs-clone'.",
                              method);
        return NULL;
    }
    bool is_auto = strcmp(method, "fetch-auto") == 0;
    if (!is_auto && !source) {
        *rc = cli_usage_error("klee image create", "METHOD [SOURCE]",
                              "The SOURCE argument is needed when creating images using the "
                              "'%s' method.",
                              method);
        return NULL;
    }
    if (is_auto && source) {
        *rc = cli_usage_error("klee image create", "METHOD [SOURCE]", "too many arguments: %s",
                              source);
        return NULL;
    }
    const char *tag = cli_value(a, "tag") ? cli_value(a, "tag") : "";
    bool autotag = cli_bool(a, "autotag") != 0;
    if (is_auto && tag[0])
        autotag = false; /* an explicit tag wins */
    bool is_fetch = strcmp(method, "fetch") == 0;
    json_t *include = json_array();
    for (char *const *v = cli_values(a, "include"); v && *v; v++) {
        _cleanup_free_ char *copy = xstrdup(*v);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(include, json_string(t));
    }
    json_t *cfg =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "method", method, "url",
                  is_fetch ? source : "", "zfs_dataset", !is_fetch && !is_auto ? source : "", "tag",
                  tag, "dns", cli_bool(a, "dns") != 0, "localtime", cli_bool(a, "localtime") != 0,
                  "update", cli_bool(a, "update") == 1, "autotag", autotag);
    /* Ours, sent only when given. */
    if (cfg && json_array_size(include))
        json_object_set_new(cfg, "include", include);
    else
        json_decref(include);
    return cfg;
}

/* One /images/create session (every method, the pull too): the progress it sends, shown as a
 * bar on a terminal and as lines otherwise, then its closing. */
static int create_session(cli_ctx *ctx, json_t *config)
{
    wsclient *w = wsclient_open(ctx, "/images/create", config);
    if (!w)
        return CLI_EXIT_FAILURE;
    wsclient_result r = {0};
    int s = wsclient_read_start(w, &r);
    bool ok = false;
    if (s >= 0) {
        bool tty = isatty(STDOUT_FILENO);
        progress p;
        progress_init(&p, stdout, tty, tty ? terminal_width() : 0);
        int relayed = wsclient_relay(w, feed_progress, &p, &r);
        progress_finish(&p);
        if (relayed == 0) {
            wsclient_print_closing(ctx, &r);
            ok = r.started && r.code == KL_WS_CLOSE_NORMAL;
        }
    } else if (r.code != KL_WS_CLOSE_ABNORMAL) {
        wsclient_print_closing(ctx, &r);
    }
    wsclient_result_free(&r);
    wsclient_free(w);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int image_create(cli_ctx *ctx, const cli_args *a)
{
    int rc = CLI_EXIT_FAILURE;
    _cleanup_json_ json_t *config = create_config(a, &rc);
    if (!config)
        return rc;
    return create_session(ctx, config);
}

/* ---- image pull (ours: docs/klee-differences.md) ----------------------------------------- */

static const cli_option pull_options[] = {
    {"tag", 't', "TEXT",
     "Name and optionally a tag in the 'name:tag' format (default: the repository's last "
     "component and the reference's tag)",
     NULL},
    {"platform", 0, "TEXT", "The platform to pull from a multi-platform image (os/arch[/variant])",
     NULL},
    {0},
};

/* /images/create with the method "pull" (docs/api.md), shown like `image create`. */
static int image_pull(cli_ctx *ctx, const cli_args *a)
{
    const char *tag = cli_value(a, "tag") ? cli_value(a, "tag") : "";
    const char *platform = cli_value(a, "platform") ? cli_value(a, "platform") : "";
    _cleanup_json_ json_t *config =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "method", "pull", "image", a->pos[0], "tag",
                  tag, "platform", platform, "dns", 0, "localtime", 0);
    if (cli_registry_auth(ctx, a->pos[0], config) < 0)
        return CLI_EXIT_FAILURE;
    return create_session(ctx, config);
}

/* ---- ls, inspect, tag, rm, prune --------------------------------------------------------- */

/* The original's columns; DIGEST (a pulled image's registry digest, docs/api.md) is a
 * fifth cell, shown with --digests (between TAG and CREATED, where Docker has it) and
 * always available to --format as {{.Digest}}. */
static const render_column image_columns[] = {
    {"ID", "36", RENDER_LEFT, 0, 0},           /* cyan */
    {"NAME", "1;38;5;122", RENDER_LEFT, 0, 0}, /* bold aquamarine1 */
    {"TAG", "38;5;122", RENDER_LEFT, 0, 0},    /* aquamarine1 */
    {"CREATED", "97", RENDER_LEFT, 0, 0},      /* bright_white */
    {"DIGEST", "37", RENDER_LEFT, 0, 0},       /* white */
};

static const render_column image_digest_columns[] = {
    {"ID", "36", RENDER_LEFT, 0, 0},        {"NAME", "1;38;5;122", RENDER_LEFT, 0, 0},
    {"TAG", "38;5;122", RENDER_LEFT, 0, 0}, {"DIGEST", "37", RENDER_LEFT, 0, 0},
    {"CREATED", "97", RENDER_LEFT, 0, 0},
};

static char *image_digest(const json_t *v)
{
    const char *d = jx_str(v, "digest", "");
    return xstrdup(*d ? d : "<none>");
}

static void image_row(const json_t *v, double now, char **cells)
{
    cells[0] = xstrdup(jx_str(v, "id", ""));
    cells[1] = xstrdup(jx_str(v, "name", ""));
    cells[2] = xstrdup(jx_str(v, "tag", ""));
    cells[3] = render_created_ago(jx_str(v, "created", ""), now);
    cells[4] = image_digest(v);
}

static void image_digest_row(const json_t *v, double now, char **cells)
{
    cells[0] = xstrdup(jx_str(v, "id", ""));
    cells[1] = xstrdup(jx_str(v, "name", ""));
    cells[2] = xstrdup(jx_str(v, "tag", ""));
    cells[3] = image_digest(v);
    cells[4] = render_created_ago(jx_str(v, "created", ""), now);
}

static const char *const image_fields[] = {"ID", "Name", "Tag", "Created", "Digest"};
static const char *const image_digest_fields[] = {"ID", "Name", "Tag", "Digest", "Created"};
static const cli_option image_ls_options[] = {
    CLI_LS_OPTIONS,
    {"digests", 0, NULL, "Show the registry digest of pulled images (a DIGEST column)", NULL},
    {0}};

static int image_ls(cli_ctx *ctx, const cli_args *a)
{
    bool digests = cli_flag(a, "digests");
    cli_listing l = {digests ? image_digest_columns : image_columns,
                     digests ? KL_ARRAY_SIZE(image_digest_columns)
                             : KL_ARRAY_SIZE(image_columns) - 1,
                     KL_ARRAY_SIZE(image_columns),
                     digests ? image_digest_fields : image_fields,
                     "id",
                     digests ? image_digest_row : image_row};
    return cli_list(ctx, a, "/images/list", &l);
}

static int image_inspect(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *path = xasprintf("/images/%s/inspect", id);
    return cli_call(ctx, "GET", path, NULL, 200, cli_print_json);
}

static int image_tag(cli_ctx *ctx, const cli_args *a)
{
    _cleanup_free_ char *id = cli_path_escape(a->pos[0]);
    _cleanup_free_ char *nametag = cli_path_escape(a->pos[1]);
    _cleanup_free_ char *path = xasprintf("/images/%s/tag?nametag=%s", id, nametag);
    return cli_call(ctx, "POST", path, NULL, 200, cli_print_id);
}

static int image_rm(cli_ctx *ctx, const cli_args *a)
{
    /* One request per image; stop at the first failure with exit 1 (like the original). */
    return cli_remove_each(ctx, "/images", a->pos, a->npos);
}

static const cli_option prune_options[] = {
    {"all", 'a', NULL, "Remove tagged images as well.", NULL},
    {"force", 'f', NULL, "Do not prompt for confirmation", NULL},
    {0},
};

static int image_prune(cli_ctx *ctx, const cli_args *a)
{
    /* `all` is a required query parameter: always sent. */
    const char *path = cli_flag(a, "all") ? "/images/prune?all=true" : "/images/prune?all=false";
    return cli_prune(ctx, path, "WARNING! This will remove all unused images.",
                     cli_flag(a, "force"));
}

/* ---- the group ----------------------------------------------------------------------------- */

static const cli_command cli_image_create = {
    .name = "create",
    .args_usage = "METHOD [SOURCE]",
    .short_help = "Create a new base image.",
    .help = "Create a new base image using one of the methods 'fetch-auto', 'fetch', 'zfs-copy' "
            "or 'zfs-clone'. SOURCE is needed by every method but 'fetch-auto'.\n\n"
            "fetch URL: create the image from a root filesystem tar archive (http://, https:// "
            "or file://).\n\n"
            "fetch-auto: create the image from the minimal base system matching the kleened "
            "host.\n\n"
            "zfs-copy DATASET: copy a dataset (a directory tree on Linux hosts) on the "
            "kleened host into the new image.\n\n"
            "zfs-clone DATASET: like zfs-copy, but the image is a clone of the dataset (on "
            "Linux hosts the directory is used read-only as the image's bottom layer) and "
            "depends on it.",
    .options = create_options,
    .min_args = 1,
    .max_args = 2,
    .no_args_is_help = true,
    .run = image_create,
};

static const cli_command cli_image_pull = {
    .name = "pull",
    .args_usage = "REFERENCE",
    .short_help = "Pull an image from a registry.",
    .help = "Pull the image REFERENCE from its registry, as Docker names them: 'busybox' is "
            "docker.io/library/busybox:latest; 'HOST[:PORT]/PATH[:TAG]' and 'NAME@sha256:...' "
            "name others. Every layer is verified against its digest. Plain HTTP is used only "
            "for registries on localhost or 127.0.0.0/8.",
    .options = pull_options,
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = image_pull,
};

static const cli_command cli_image_ls = {
    .name = "ls",
    .short_help = "List images",
    .options = image_ls_options,
    .max_args = 0,
    .run = image_ls,
};

static const cli_command cli_image_inspect = {
    .name = "inspect",
    .args_usage = "IMAGE",
    .short_help = "Display detailed information on an image.",
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = image_inspect,
};

static const cli_command cli_image_rm = {
    .name = "rm",
    .args_usage = "IMAGES...",
    .short_help = "Remove one or more images",
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = image_rm,
};

static const cli_command cli_image_prune = {
    .name = "prune",
    .short_help = "Remove images that are not being used by containers.",
    .help = "Remove images that are not being used by containers. Without '--all' only "
            "untagged images are removed.",
    .options = prune_options,
    .max_args = 0,
    .run = image_prune,
};

static const cli_command cli_image_tag = {
    .name = "tag",
    .args_usage = "SOURCE_IMAGE NAMETAG",
    .short_help = "Update the tag of image SOURCE_IMAGE to NAMETAG",
    .help = "Update the tag of image SOURCE_IMAGE to NAMETAG.\n\n"
            "NAMETAG uses the 'name:tag' format. If ':tag' is omitted, ':latest' is used.",
    .min_args = 2,
    .max_args = 2,
    .no_args_is_help = true,
    .run = image_tag,
};

extern const cli_command cli_image_build; /* build.c */
extern const cli_command cli_image_load;  /* imgarchive.c */
extern const cli_command cli_image_save;  /* imgarchive.c */
extern const cli_command cli_image_push;  /* imgarchive.c */

static const cli_command *const image_commands[] = {
    &cli_image_create, &cli_image_build, &cli_image_ls,   &cli_image_inspect,
    &cli_image_rm,     &cli_image_prune, &cli_image_tag,  &cli_image_pull,
    &cli_image_load,   &cli_image_save,  &cli_image_push, NULL,
};

const cli_group cli_image_group = {
    .name = "image",
    .short_help = "Manage images",
    .commands = image_commands,
};
