/* klee image load / image save (ours: docs/klee-differences.md), over /images/load and
 * /images/save (docs/api.md). */
#include "cli/cli.h"
#include "cli/progress.h"
#include "cli/wsclient.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

static void feed_lines(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    (void)is_binary;
    progress_feed(ud, data, n);
}

/* ---- load ------------------------------------------------------------------------------ */

static const cli_option load_options[] = {
    {"input", 'i', "FILE", "Read the archive from FILE instead of the standard input", NULL},
    {"platform", 0, "TEXT", "The platform to load from a multi-platform OCI archive", NULL},
    {0},
};

static int image_load(cli_ctx *ctx, const cli_args *a)
{
    const char *file = cli_value(a, "input");
    _cleanup_close_ int own = -1;
    int fd = STDIN_FILENO;
    if (file && strcmp(file, "-") != 0) {
        own = open(file, O_RDONLY | O_CLOEXEC);
        if (own < 0) {
            cli_error(ctx, "cannot open %s: %s", file, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        fd = own;
    } else if (isatty(STDIN_FILENO)) {
        cli_error(ctx, "no archive: give one with -i FILE or on the standard input");
        return CLI_EXIT_FAILURE;
    }
    const char *platform = cli_value(a, "platform") ? cli_value(a, "platform") : "";
    _cleanup_json_ json_t *config = json_pack("{s:s}", "platform", platform);
    wsclient *w = wsclient_open(ctx, "/images/load", config);
    if (!w)
        return CLI_EXIT_FAILURE;
    _cleanup_free_ char *buf = xmalloc(CHUNK);
    kl_error err = KL_ERROR_INIT;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error(ctx, "reading the archive: %s", strerror(errno));
            wsclient_free(w);
            return CLI_EXIT_FAILURE;
        }
        if (wsclient_send_binary(w, buf, (size_t)n, &err) < 0) {
            cli_error(ctx, "sending the archive: %s", err.msg);
            wsclient_free(w);
            return CLI_EXIT_FAILURE;
        }
        if (n == 0)
            break; /* the empty frame ends the archive */
    }
    wsclient_result r = {0};
    int s = wsclient_read_start(w, &r);
    bool ok = false;
    if (s >= 0) {
        progress p;
        progress_init(&p, stdout, false, 0);
        int relayed = wsclient_relay(w, feed_lines, &p, &r);
        progress_finish(&p);
        if (relayed == 0) {
            ok = r.started && r.code == KL_WS_CLOSE_NORMAL;
            if (!ok)
                wsclient_print_closing(ctx, &r);
        }
    } else if (r.code != KL_WS_CLOSE_ABNORMAL) {
        wsclient_print_closing(ctx, &r);
    }
    wsclient_result_free(&r);
    wsclient_free(w);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- save ------------------------------------------------------------------------------ */

static const cli_option save_options[] = {
    {"output", 'o', "FILE", "Write the archive to FILE instead of the standard output", NULL},
    {"format", 0, "FORMAT",
     "'docker' (the docker save format, the default) or 'oci' (an OCI image layout)", NULL},
    {0},
};

typedef struct save_sink {
    int fd;
    bool failed;
    int errnum;
    bool text_seen;
} save_sink;

static void on_save(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    save_sink *s = ud;
    if (!is_binary) { /* an error text before the close */
        fwrite(data, 1, n, stderr);
        if (n && data[n - 1] != '\n')
            fputc('\n', stderr);
        s->text_seen = true;
        return;
    }
    for (size_t off = 0; !s->failed && off < n;) {
        ssize_t w = write(s->fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            s->failed = true;
            s->errnum = errno;
            break;
        }
        off += (size_t)w;
    }
}

static int image_save(cli_ctx *ctx, const cli_args *a)
{
    const char *format = cli_value(a, "format") ? cli_value(a, "format") : "docker";
    if (strcmp(format, "docker") != 0 && strcmp(format, "oci") != 0)
        return cli_usage_error("klee image save", "[OPTIONS] IMAGE...",
                               "Invalid value for '--format': '%s' is not one of 'docker', 'oci'.",
                               format);
    const char *file = cli_value(a, "output");
    if ((!file || !strcmp(file, "-")) && isatty(STDOUT_FILENO)) {
        cli_error(ctx, "refusing to write an archive to a terminal: use -o FILE or a redirection");
        return CLI_EXIT_FAILURE;
    }
    json_t *images = json_array();
    for (size_t i = 0; i < a->npos; i++)
        json_array_append_new(images, json_string(a->pos[i]));
    _cleanup_json_ json_t *config = json_pack("{s:o, s:s}", "images", images, "format", format);
    _cleanup_free_ char *tmp = NULL;
    save_sink sink = {.fd = STDOUT_FILENO};
    if (file && strcmp(file, "-") != 0) {
        /* written next to FILE and renamed at the end: a failed save leaves no half archive */
        tmp = xasprintf("%s.klee-XXXXXX", file);
        sink.fd = mkostemp(tmp, O_CLOEXEC);
        if (sink.fd < 0) {
            cli_error(ctx, "cannot create %s: %s", tmp, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        fchmod(sink.fd, 0644);
    }
    wsclient *w = wsclient_open(ctx, "/images/save", config);
    bool ok = false;
    if (w) {
        wsclient_result r = {0};
        int s = wsclient_read_start(w, &r);
        if (s >= 0 && wsclient_relay(w, on_save, &sink, &r) == 0) {
            ok = r.started && r.code == KL_WS_CLOSE_NORMAL && !sink.failed;
            if (sink.failed)
                cli_error(ctx, "writing the archive: %s", strerror(sink.errnum));
            else if (!ok && !sink.text_seen)
                wsclient_print_closing(ctx, &r);
        } else if (s < 0 && r.code != KL_WS_CLOSE_ABNORMAL) {
            wsclient_print_closing(ctx, &r);
        }
        wsclient_result_free(&r);
        wsclient_free(w);
    }
    if (tmp) {
        if (ok && fsync(sink.fd) < 0)
            ok = false;
        close(sink.fd);
        if (ok && rename(tmp, file) < 0) {
            cli_error(ctx, "cannot write %s: %s", file, strerror(errno));
            ok = false;
        }
        if (!ok)
            unlink(tmp);
    }
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- push ------------------------------------------------------------------------------ */

static int image_push(cli_ctx *ctx, const cli_args *a)
{
    const char *image = a->pos[0];
    const char *ref = a->npos > 1 ? a->pos[1] : "";
    _cleanup_json_ json_t *config = json_pack("{s:s, s:s}", "image", image, "reference", ref);
    if (cli_registry_auth(ctx, *ref ? ref : image, config) < 0)
        return CLI_EXIT_FAILURE;
    wsclient *w = wsclient_open(ctx, "/images/push", config);
    if (!w)
        return CLI_EXIT_FAILURE;
    wsclient_result r = {0};
    int s = wsclient_read_start(w, &r);
    bool ok = false;
    if (s >= 0) {
        progress p;
        progress_init(&p, stdout, false, 0);
        int relayed = wsclient_relay(w, feed_lines, &p, &r);
        progress_finish(&p);
        if (relayed == 0) {
            ok = r.started && r.code == KL_WS_CLOSE_NORMAL;
            if (ok)
                printf("Pushed %s: %s\n", *ref ? ref : image, r.reason.data);
            else
                wsclient_print_closing(ctx, &r);
        }
    } else if (r.code != KL_WS_CLOSE_ABNORMAL) {
        wsclient_print_closing(ctx, &r);
    }
    wsclient_result_free(&r);
    wsclient_free(w);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

const cli_command cli_image_push = {
    .name = "push",
    .args_usage = "IMAGE [REFERENCE]",
    .short_help = "Push an image to a registry.",
    .help = "Push the image IMAGE (pulled or loaded) to REFERENCE ('HOST[:PORT]/PATH[:TAG]'; "
            "default: IMAGE itself, as Docker's push NAME). Blobs the registry has are skipped, "
            "blobs of the repository the image came from are mounted when it is on the same "
            "registry, the others uploaded; the manifest is the image's, so its digest is "
            "the same as where the image came from.",
    .min_args = 1,
    .max_args = 2,
    .no_args_is_help = true,
    .run = image_push,
};

const cli_command cli_image_load = {
    .name = "load",
    .short_help = "Load images from an archive.",
    .help = "Load the images of an archive made by 'docker save', 'podman save', 'skopeo copy' "
            "(docker-archive: or oci-archive:) or 'klee image save': the docker save format "
            "or an OCI image layout, possibly compressed. Every blob is verified; an image "
            "gets the same ID as when it is pulled, and its name from the archive.",
    .options = load_options,
    .max_args = 0,
    .run = image_load,
};

const cli_command cli_image_save = {
    .name = "save",
    .args_usage = "IMAGE...",
    .short_help = "Save images to an archive.",
    .help = "Write the images IMAGE... to one archive (tar) that 'klee image load', 'docker "
            "load', 'podman load' and skopeo read: the docker save format, or with "
            "'--format oci' an OCI image layout. Images pulled or loaded are written from the "
            "registry's blobs (same digests).",
    .options = save_options,
    .min_args = 1,
    .max_args = -1,
    .no_args_is_help = true,
    .run = image_save,
};
