/* `klee image build` / `klee build` (KLEE-CLI.md §5 image build; API.md §7.4): send the build
 * config over the /images/build WebSocket and render the stream like the original: step,
 * snapshot and cache lines bold on a terminal, each followed by a newline (kleened sends them
 * without one), process output verbatim. Exit 0 only when kleened closed with 1000. */
#include "cli/cli.h"
#include "cli/dockercfg.h"
#include "cli/specs.h"
#include "cli/tarstream.h"
#include "cli/wsclient.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"
#include "registry/reference.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_option build_options[] = {
    {"file", 'f', "TEXT", "Location of the Dockerfile, relative to PATH (default: Dockerfile)",
     NULL},
    {"tag", 't', "TEXT", "Name and optionally a tag in the 'name:tag' format", NULL},
    {"build-arg", 0, "TEXT", "Set a build-time variable (e.g. --build-arg FIRST=value)", NULL},
    {"from", 0, "TEXT", "Use this image instead of the one in the Dockerfile's FROM", NULL},
    {"quiet", 'q', NULL, "Suppress the build output and print the image ID on success", NULL},
    {"rm", 0, NULL, "Remove the image if the build fails (default: keep it as NAME:failed)", NULL},
    {"no-cache", 0, NULL, "Do not use the build cache (kleened's own option)", NULL},
    {"pull", 0, NULL,
     "Pull FROM images from their registry again, even when kleened has them (kleened's own "
     "option; a missing registry image is always pulled)",
     NULL},
    {"upload", 0, NULL,
     "Send the context to kleened (the default for a kleened reached over TCP); with "
     "--no-upload kleened reads PATH on its own host (the default for a UNIX socket)",
     "no-upload"},
    {"user", 'u', "TEXT", "User running the build's RUN steps (USER instructions override it)",
     NULL},
    {"env", 'e', "TEXT",
     "Set environment variables for the build (e.g. --env FIRST=value); ENV and ARG override "
     "them",
     NULL},
    {"mount", 'm', "list",
     "Mount a volume/directory/file of the kleened host into the build's containers: "
     "`--mount SOURCE:DESTINATION[:rw|ro]`",
     NULL},
    {"jailparam", 'J', "TEXT", "Jail parameter for the build's containers (e.g. allow.sysvipc)",
     NULL},
    {"driver", 'l', "TEXT",
     "Network driver of the build's containers: `ipnet`, `host`, `vnet` or `disabled`. "
     "[default: `host`, or `ipnet` with --network]",
     NULL},
    {"network", 'n', "TEXT", "Connect the build's containers to this network.", NULL},
    {"ip", 0, "TEXT",
     "IPv4 address of the build's containers. If omitted, an unused ip is allocated from the "
     "IPv4 subnet of `--network`.",
     NULL},
    {"ip6", 0, "TEXT", "IPv6 address of the build's containers on `--network`.", NULL},
    CLI_LABEL_OPTION(0),
    {NULL, 0, NULL, NULL, NULL},
};

typedef struct render {
    bool bold;
    bool quiet; /* -q: only the id at the end */
} render;

static bool is_status_line(const uint8_t *d, size_t n)
{
    static const char *const marks[] = {"--> Snapshot created: @", "--> Using cache", "Step ",
                                        "Using user-supplied parent image:"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(marks); i++) {
        size_t l = strlen(marks[i]);
        if (n >= l && memcmp(d, marks[i], l) == 0)
            return i != 2 || memmem(d, n, " : ", 3) != NULL;
    }
    return false;
}

/* "line N: ..." (an error of ours naming its Dockerfile line) */
static bool is_line_error(const uint8_t *d, size_t n)
{
    size_t i = 5;
    if (n < 8 || memcmp(d, "line ", 5) != 0)
        return false;
    while (i < n && d[i] >= '0' && d[i] <= '9')
        i++;
    return i > 5 && i + 1 < n && d[i] == ':' && d[i + 1] == ' ';
}

static void on_output(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    render *r = ud;
    if (r->quiet)
        return;
    if (is_status_line(data, n)) {
        printf("%s%.*s%s\n", r->bold ? "\033[1m" : "", (int)n, (const char *)data,
               r->bold ? "\033[0m" : "");
    } else {
        fwrite(data, 1, n, stdout);
        /* the error line that ends a failed step has no newline either */
        if (n > 13 &&
            (memcmp(data, "The command '", 13) == 0 || memcmp(data, "error", 5) == 0 ||
             memcmp(data, "COPY failed:", 12) == 0 || is_line_error(data, n)) &&
            data[n - 1] != '\n')
            fputc('\n', stdout);
    }
    fflush(stdout);
}

/* Does this build send its context? --upload/--no-upload, else: yes for a TCP host (kleened
 * is likely on another machine), no for a UNIX socket (kleened reads PATH itself). */
static bool wants_upload(const cli_ctx *ctx, const cli_args *a)
{
    int flag = cli_bool(a, "upload");
    if (flag >= 0)
        return flag;
    const char *h = ctx->config.host ? ctx->config.host : "";
    const char *sep = strstr(h, "://");
    return sep && sep[3] != '/' && sep[3] != '\0';
}

/* The logins `klee login` stored (dockercfg.h) for the registries the Dockerfile's FROM and
 * COPY --from lines name, as registry_auth (ours, docs/api.md): kleened pulls what it lacks.
 * Only the Dockerfile on this machine is read (a name with an ARG in it is skipped); a
 * registry without a login is left out (anonymous). 0, or -1 after an error was shown. */
static int add_registry_auth(cli_ctx *ctx, const char *dockerfile, json_t *config)
{
    FILE *f = fopen(dockerfile, "re");
    if (!f)
        return 0; /* kleened says what is wrong with it */
    _cleanup_json_ json_t *auths = json_object();
    char line[4096];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        char *name = NULL;
        char *save = NULL;
        char *w = strtok_r(p, " \t\r\n", &save);
        if (w && !strcasecmp(w, "FROM")) {
            while ((w = strtok_r(NULL, " \t\r\n", &save)) && !strncmp(w, "--", 2))
                ;
            name = w;
        } else if (w && !strcasecmp(w, "COPY")) {
            while ((w = strtok_r(NULL, " \t\r\n", &save)) && !strncmp(w, "--", 2))
                if (!strncmp(w, "--from=", 7))
                    name = w + 7;
        }
        oci_ref r;
        if (!name || strchr(name, '$') || oci_ref_parse(name, &r, NULL) < 0)
            continue;
        if (!json_object_get(auths, r.domain)) {
            dockercfg_cred c = {0};
            kl_error err = KL_ERROR_INIT;
            int found = dockercfg_get(r.domain, &c, &err);
            if (found < 0) {
                cli_error(ctx, "%s", err.msg);
                rc = -1;
            } else if (found > 0) {
                json_object_set_new(
                    auths, r.domain,
                    json_pack("{s:s, s:s}", "username", c.username, "password", c.password));
            }
            dockercfg_cred_clear(&c);
        }
        oci_ref_clear(&r);
    }
    fclose(f);
    if (rc == 0 && json_object_size(auths))
        json_object_set(config, "registry_auth", auths);
    return rc;
}

static json_t *build_config(cli_ctx *ctx, const cli_args *a, int *rc)
{
    char abs[PATH_MAX];
    if (!realpath(a->pos[0], abs)) {
        /* like the original: the path is made absolute here, read on the daemon host */
        if (a->pos[0][0] == '/')
            snprintf(abs, sizeof(abs), "%s", a->pos[0]);
        else {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd)))
                cwd[0] = '\0';
            snprintf(abs, sizeof(abs), "%s/%s", cwd, a->pos[0]);
        }
    }
    json_t *buildargs = json_object();
    char *const *ba = cli_values(a, "build-arg");
    for (size_t i = 0; ba && ba[i]; i++) {
        const char *eq = strchr(ba[i], '=');
        if (!eq) {
            json_decref(buildargs);
            *rc = cli_usage_error("klee image build", "[OPTIONS] PATH",
                                  "invalid --build-arg '%s': expected NAME=VALUE", ba[i]);
            return NULL;
        }
        _cleanup_free_ char *k = xstrndup(ba[i], (size_t)(eq - ba[i]));
        json_object_set_new(buildargs, k, json_string(eq + 1));
    }
    json_t *mounts = json_array();
    char *const *mv = cli_values(a, "mount");
    for (size_t i = 0; mv && mv[i]; i++) {
        specs_mount m;
        kl_error err = KL_ERROR_INIT;
        if (specs_parse_mount(mv[i], &m, &err) < 0) {
            cli_error(ctx, "%s", err.msg);
            json_decref(mounts);
            json_decref(buildargs);
            *rc = CLI_EXIT_MOUNT;
            return NULL;
        }
        json_array_append_new(mounts, specs_mount_json(&m));
        specs_mount_clear(&m);
    }
    const char *network = cli_value(a, "network");
    const char *driver = cli_value(a, "driver");
    if (!driver)
        driver = network ? "ipnet" : "host";
    json_t *networks = json_array();
    if (network) {
        const char *ip = cli_value(a, "ip"), *ip6 = cli_value(a, "ip6");
        json_array_append_new(networks, json_pack("{s:s,s:s,s:s,s:s}", "container", "", "network",
                                                  network, "ip_address", ip ? ip : "<auto>",
                                                  "ip_address6", ip6 ? ip6 : ""));
    }
    const char *from = cli_value(a, "from");
    json_t *cc = json_pack("{s:n,s:n,s:o,s:s,s:o,s:o,s:o,s:s}", "name", "cmd", "image",
                           from ? json_string(from) : json_null(), "user",
                           cli_value(a, "user") ? cli_value(a, "user") : "", "env",
                           jx_from_strv(cli_values(a, "env")), "mounts", mounts, "jail_param",
                           jx_from_strv(cli_values(a, "jailparam")), "network_driver", driver);
    /* line_numbers, context_upload: ours (docs/api.md); a kleened that does not know them
     * ignores them */
    json_t *config =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:o,s:o,s:o}", "context", abs, "dockerfile",
                  cli_value(a, "file") ? cli_value(a, "file") : "Dockerfile", "tag",
                  cli_value(a, "tag") ? cli_value(a, "tag") : "", "quiet",
                  cli_flag(a, "quiet") ? "true" : "false", "cleanup", cli_flag(a, "rm"), "nocache",
                  cli_flag(a, "no-cache"), "line_numbers", 1, "buildargs", buildargs,
                  "container_config", cc, "networks", networks);
    if (config && wants_upload(ctx, a))
        json_object_set_new(config, "context_upload", json_true());
    /* pull: ours, sent only when given */
    if (config && cli_flag(a, "pull"))
        json_object_set_new(config, "pull", json_true());
    /* registry_auth: ours, sent only when a FROM registry has a stored login */
    if (config) {
        const char *df = cli_value(a, "file") ? cli_value(a, "file") : "Dockerfile";
        _cleanup_free_ char *dfpath = df[0] == '/' ? xstrdup(df) : xasprintf("%s/%s", abs, df);
        if (add_registry_auth(ctx, dfpath, config) < 0) {
            json_decref(config);
            *rc = 1;
            return NULL;
        }
    }
    /* labels: ours, sent only when given */
    if (config && cli_add_labels(a, "klee image build", "PATH", config) != 0) {
        json_decref(config);
        *rc = CLI_EXIT_USAGE;
        return NULL;
    }
    return config;
}

static int send_chunk(void *ud, const void *data, size_t n, kl_error *err)
{
    return wsclient_send_binary(ud, data, n, err);
}

/* The context as a tar stream in binary frames, then the empty frame that ends it. */
static int send_context(cli_ctx *ctx, wsclient *w, const json_t *config)
{
    kl_error err = KL_ERROR_INIT;
    tarstream_stats st;
    if (tarstream_write_dir(json_string_value(json_object_get(config, "context")),
                            json_string_value(json_object_get(config, "dockerfile")), send_chunk, w,
                            &st, &err) < 0 ||
        wsclient_send_binary(w, "", 0, &err) < 0) {
        cli_error(ctx, "sending the build context: %s", err.msg);
        return -1;
    }
    return 0;
}

static int image_build(cli_ctx *ctx, const cli_args *a)
{
    int rc = CLI_EXIT_FAILURE;
    _cleanup_json_ json_t *config = build_config(ctx, a, &rc);
    if (!config)
        return rc;
    wsclient *w = wsclient_open(ctx, "/images/build", config);
    if (!w)
        return CLI_EXIT_FAILURE;
    if (json_is_true(json_object_get(config, "context_upload")) &&
        send_context(ctx, w, config) < 0) {
        wsclient_free(w);
        return CLI_EXIT_FAILURE;
    }
    wsclient_result r = {0};
    int s = wsclient_read_start(w, &r);
    bool ok = false;
    bool quiet = cli_flag(a, "quiet");
    if (s > 0 && r.started && r.start.data[0] && !quiet)
        printf("Started to build image with ID %s\n", r.start.data);
    if (s > 0 && !r.started)
        fprintf(stderr, "%s\n", r.start.message);
    if (s >= 0) {
        render rd = {.bold = ctx->out.color, .quiet = quiet};
        if (wsclient_relay(w, on_output, &rd, &r) == 0) {
            ok = r.started && r.code == KL_WS_CLOSE_NORMAL;
            if (ok) {
                if (quiet)
                    printf("%s\n", r.reason.data);
                else
                    wsclient_print_closing(ctx, &r);
            } else if (r.reason_is_json && strcmp(r.reason.msg_type, "error") == 0) {
                const char *d = r.reason.data;
                if (d[0] && strcmp(d, "no snapshots available") != 0)
                    printf("\nFailed to build image %s. Most recent snapshot is %s\n",
                           r.start.data ? r.start.data : "", d);
                else
                    fprintf(stderr, "\n%s\n", r.reason.message);
            }
        }
    } else if (r.code != KL_WS_CLOSE_ABNORMAL) {
        wsclient_print_closing(ctx, &r);
    }
    wsclient_result_free(&r);
    wsclient_free(w);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

const cli_command cli_image_build = {
    .name = "build",
    .args_usage = "[OPTIONS] PATH",
    .short_help = "Build a new image",
    .help = "Build an image from a context and a Dockerfile located in PATH.\n\n"
            "To a kleened reached over TCP (--host http(s)://HOST:PORT) the context is sent as "
            "a tar stream, without what its .dockerignore excludes. To a kleened on a UNIX "
            "socket PATH is made absolute here and read on the kleened host, like the "
            "original Kleene (--upload/--no-upload choose).",
    .options = build_options,
    .min_args = 1,
    .max_args = 1,
    .no_args_is_help = true,
    .run = image_build,
};
