/* kleene-fetch: fetch a URL and extract it as an archive, for kleened (fetchproto.h).
 *
 * A separate program so that libcurl and libarchive, and the hostile data they parse, never
 * run inside the daemon: kleened starts this once per `image create fetch`, relays the
 * messages it writes on stdout and kills it on cancellation. The work is the in-process
 * host_fetch_extract path (fetch.c, archive.c), unchanged; this file only turns its
 * callbacks and its result into protocol lines. It must not print anything else on stdout.
 *
 * Run by hand: kleene-fetch --dir /tmp/x -- file:///tmp/rootfs.tar rootfs */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "host/fetch.h"
#include "host/linux/fetchproto.h"
#include "host/linux/imgarchive.h"
#include "host/linux/push.h"
#include "host/linux/pull.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/digest.h"

static int out_fd = STDOUT_FILENO;

/* how far past the end of the archive the download is read (see main) */
#define DRAIN_MAX (1024 * 1024)

/* One line to kleened. A failed write means kleened is gone: nothing is left to do.
 * Layers are pulled by several threads: a line is written whole under the lock. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void send_msg(const fetchproto_msg *m)
{
    size_t n;
    _cleanup_free_ char *line = fetchproto_encode(m, &n);
    if (!line) /* only a log line can be too long: drop it */
        return;
    pthread_mutex_lock(&out_lock);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(out_fd, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(1);
        off += (size_t)w;
    }
    pthread_mutex_unlock(&out_lock);
}

static void on_log(kl_log_level l, const char *msg)
{
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_LOG, .level = (int)l, .text = (char *)msg});
}

static bool done_sent;

static void on_fetch(const host_fetch_progress *p, void *ctx)
{
    (void)ctx;
    done_sent |= p->done;
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_FETCH, .fetch = *p});
}

static void on_extract(const host_extract_stats *s, void *ctx)
{
    (void)ctx;
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_EXTRACT, .stats = *s});
}

/* The reader handed to the extractor: remembers whether the download itself failed, so
 * that kleened can tell "could not fetch" from "could not extract". */
typedef struct source {
    host_fetch *f;
    bool failed;
} source;

static ssize_t source_read(void *ctx, const void **buf, kl_error *err)
{
    source *s = ctx;
    ssize_t n = host_fetch_read(s->f, buf, err);
    if (n < 0)
        s->failed = true;
    return n;
}

/* The archive on stdin (--stdin). */
typedef struct stdin_source {
    int fd;
    bool failed;
    char buf[65536];
} stdin_source;

static ssize_t stdin_read(void *ctx, const void **buf, kl_error *err)
{
    stdin_source *s = ctx;
    ssize_t n = KL_RETRY_EINTR(read(s->fd, s->buf, sizeof(s->buf)));
    if (n < 0) {
        s->failed = true;
        return kl_error_errno(err, errno, "reading the archive");
    }
    *buf = s->buf;
    return n;
}

static int fail(host_fetch_stage stage, const kl_error *err)
{
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT,
                               .stage = stage,
                               .code = err->code > 0 && err->code < 4096 ? err->code : EIO,
                               .text = (char *)err->msg});
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: kleene-fetch (--dir-fd FD | --dir PATH) [--every N] "
            "[--log-level LEVEL] [--] URL NAME\n"
            "       kleene-fetch --pull [--platform OS/ARCH[/VARIANT]] [--insecure]\n"
            "                    [--ca-file FILE] [--have-fd FD] [--plain-http-hint]\n"
            "                    [--client-cert FILE --client-key FILE]\n"
            "                    (--dir-fd FD | --dir PATH)\n"
            "                    [--] REFERENCE NAME\n"
            "       kleene-fetch --load [--platform P] [--have-fd FD] (--dir-fd FD | --dir PATH)\n"
            "                    [--] - NAME\n"
            "       kleene-fetch --push --manifest DIGEST [--index DIGEST] [--mount-from REPO]\n"
            "                    [--insecure]\n"
            "                    [--chunk-size BYTES]\n"
            "                    [--ca-file FILE] (--dir-fd FD | --dir BLOBS) [--] REFERENCE -\n"
            "       kleene-fetch --login [--insecure] [--ca-file FILE] (--dir-fd FD | --dir PATH)\n"
            "                    [--] SERVER -\n"
            "       kleene-fetch --stdin (--dir-fd FD | --dir PATH) [--] - NAME\n"
            "Fetches URL and extracts it as an archive into the new directory NAME,\n"
            "or pulls the image REFERENCE from its registry into NAME (layers/N and\n"
            "image.json; credentials from $KLEENE_REGISTRY_USERNAME and\n"
            "$KLEENE_REGISTRY_PASSWORD); reports progress and the result as JSON lines\n"
            "on stdout.\n");
    return 2;
}

/* A pull's progress on one layer, for a caller that shows it per layer. */
static void send_layer(const host_pull_event *ev, bool done)
{
    fetchproto_msg m = {.type = FETCHPROTO_LAYER};
    m.layer = (host_fetch_layer){.index = ev->index,
                                 .n = ev->n_layers,
                                 .bytes = ev->layer_bytes,
                                 .total = ev->layer_total,
                                 .done = done,
                                 .present = ev->kind == HOST_PULL_LAYER_PRESENT};
    snprintf(m.layer.digest, sizeof(m.layer.digest), "%s", ev->text ? ev->text : "");
    send_msg(&m);
}

static void on_pull(const host_pull_event *ev, void *ctx)
{
    (void)ctx;
    switch (ev->kind) {
    case HOST_PULL_RESOLVED:
        log_info("resolved to %s: %u layers", ev->text, ev->n_layers);
        break;
    case HOST_PULL_LAYER: {
        host_fetch_progress p = {.bytes = ev->bytes, .total = ev->total, .percent = -1};
        if (ev->total)
            p.percent =
                (int)(ev->bytes * 100 / ev->total > 100 ? 100 : ev->bytes * 100 / ev->total);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_FETCH, .fetch = p});
        send_layer(ev, false);
        break;
    }
    case HOST_PULL_LAYER_DONE:
        log_info("layer %u/%u %s: verified and extracted", ev->index + 1, ev->n_layers, ev->text);
        send_layer(ev, true);
        break;
    case HOST_PULL_LAYER_PRESENT:
        send_layer(ev, true);
        break;
    }
}

static void on_push(const host_push_event *ev, void *ctx)
{
    (void)ctx;
    if (ev->kind == HOST_PUSH_BYTES) {
        host_fetch_progress p = {.bytes = ev->bytes, .total = ev->total, .percent = -1};
        if (ev->total)
            p.percent = (int)(ev->bytes * 100 / ev->total);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_FETCH, .fetch = p});
    } else if (ev->kind == HOST_PUSH_BLOB) {
        log_notice("%s %u/%u %s: %s", ev->index + 1 == ev->n ? "config" : "layer", ev->index + 1,
                   ev->n, ev->digest, ev->text);
    } else {
        log_notice("manifest %s: pushed", ev->text);
    }
}

static void on_load(uint64_t bytes, void *ctx)
{
    (void)ctx;
    host_fetch_progress p = {.bytes = bytes, .percent = -1};
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_FETCH, .fetch = p});
}

/* The blobs kleened has (--have-fd): lines "<blob digest> <diff_id>" for layers, "<blob
 * digest> -" for other blobs, sha256 digests. Bounded; anything else is an error. */
static int read_have(int fd, char ***blobs, char ***diff_ids, size_t *n, kl_error *err)
{
    _cleanup_fclose_ FILE *f = fdopen(fd, "re");
    if (!f) {
        close(fd);
        return kl_error_errno(err, errno, "reading the layer list");
    }
    char line[2 * OCI_DIGEST_STR_LEN + 4];
    while (fgets(line, sizeof(line), f)) {
        char *nl = strchr(line, '\n');
        char *sp = strchr(line, ' ');
        if (!nl || !sp || *n >= FETCHPROTO_HAVE_MAX)
            return kl_error_set(err, EINVAL, "the layer list: line %zu is malformed", *n + 1);
        *nl = '\0';
        *sp = '\0';
        bool layer = strcmp(sp + 1, "-") != 0;
        if (!oci_digest_is_valid(line) || (layer && !oci_digest_is_valid(sp + 1)))
            return kl_error_set(err, EINVAL, "the layer list: line %zu is malformed", *n + 1);
        /* diff_ids keeps NULL entries: a plain array of n entries */
        *blobs = xrealloc(*blobs, (*n + 2) * sizeof(char *));
        *diff_ids = xrealloc(*diff_ids, (*n + 2) * sizeof(char *));
        (*blobs)[*n] = xstrdup(line);
        (*diff_ids)[*n] = layer ? xstrdup(sp + 1) : NULL;
        (*n)++;
        (*blobs)[*n] = NULL;
        (*diff_ids)[*n] = NULL;
    }
    if (ferror(f))
        return kl_error_errno(err, EIO, "reading the layer list");
    return 0;
}

int main(int argc, char **argv)
{
    /* Started by kleened's worker thread: end with it rather than extract for no one. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        return 1;

    static const struct option longopts[] = {{"dir-fd", required_argument, NULL, 'f'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"every", required_argument, NULL, 'e'},
                                             {"log-level", required_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"pull", no_argument, NULL, 'p'},
                                             {"platform", required_argument, NULL, 'P'},
                                             {"insecure", no_argument, NULL, 'i'},
                                             {"ca-file", required_argument, NULL, 'c'},
                                             {"have-fd", required_argument, NULL, 'H'},
                                             {"plain-http-hint", no_argument, NULL, 'T'},
                                             {"load", no_argument, NULL, 'L'},
                                             {"push", no_argument, NULL, 'U'},
                                             {"manifest", required_argument, NULL, 'M'},
                                             {"mount-from", required_argument, NULL, 'F'},
                                             {"index", required_argument, NULL, 'I'},
                                             {"login", no_argument, NULL, 'O'},
                                             {"chunk-size", required_argument, NULL, 'C'},
                                             {"client-cert", required_argument, NULL, 'X'},
                                             {"client-key", required_argument, NULL, 'K'},
                                             {"stdin", no_argument, NULL, 'S'},
                                             {NULL, 0, NULL, 0}};
    bool push = false, login = false;
    uint64_t chunk_size = 0;
    const char *push_manifest = NULL, *mount_from = NULL, *push_index = NULL;
    bool pull = false, load = false, insecure = false, plain_hint = false, from_stdin = false;
    const char *platform = NULL, *ca_file = NULL, *client_cert = NULL, *client_key = NULL;
    int dirfd = -1, have_fd = -1;
    const char *dir = NULL;
    unsigned every = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'f': {
            errno = 0;
            long fd = strtol(optarg, &end, 10);
            if (errno || *end || fd < 0 || fd > 1024)
                return usage();
            dirfd = (int)fd;
            break;
        }
        case 'H': {
            errno = 0;
            long fd = strtol(optarg, &end, 10);
            if (errno || *end || fd < 0 || fd > 1024)
                return usage();
            have_fd = (int)fd;
            break;
        }
        case 'd':
            dir = optarg;
            break;
        case 'e': {
            errno = 0;
            unsigned long n = strtoul(optarg, &end, 10);
            if (errno || *end || n > 1000000)
                return usage();
            every = (unsigned)n;
            break;
        }
        case 'l': {
            int l = kl_log_level_parse(optarg);
            if (l < 0)
                return usage();
            kl_log_set_level((kl_log_level)l);
            break;
        }
        case 'p':
            pull = true;
            break;
        case 'P':
            platform = optarg;
            break;
        case 'L':
            load = true;
            break;
        case 'U':
            push = true;
            break;
        case 'O':
            login = true;
            break;
        case 'C': {
            errno = 0;
            unsigned long long c = strtoull(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-')
                return usage();
            chunk_size = c;
            break;
        }
        case 'S':
            from_stdin = true;
            break;
        case 'M':
            push_manifest = optarg;
            break;
        case 'F':
            mount_from = optarg;
            break;
        case 'I':
            push_index = optarg;
            break;
        case 'i':
            insecure = true;
            break;
        case 'T':
            plain_hint = true;
            break;
        case 'c':
            ca_file = optarg;
            break;
        case 'X':
            client_cert = optarg;
            break;
        case 'K':
            client_key = optarg;
            break;
        default:
            return usage();
        }
    }
    if (argc - optind != 2 || (dirfd < 0) == !dir)
        return usage();
    const char *url = argv[optind], *name = argv[optind + 1];

    /* stdout carries the protocol and nothing else; log lines go through it too */
    kl_log_set_stderr(0);
    kl_log_set_hook(on_log);

    _cleanup_close_ int own_dirfd = -1;
    if (dir) {
        own_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (own_dirfd < 0) {
            kl_error err = KL_ERROR_INIT;
            kl_error_errno(&err, errno, "extracting archive: opening %s", dir);
            return fail(HOST_FETCH_STAGE_EXTRACT, &err);
        }
        dirfd = own_dirfd;
    }

    kl_error err = KL_ERROR_INIT;
    if ((int)pull + (int)load + (int)push + (int)login + (int)from_stdin > 1 ||
        (push && !push_manifest) || (from_stdin && strcmp(url, "-") != 0))
        return usage();
    if (from_stdin) {
        /* a plain archive on stdin (kleened's pipe from a client's upload: docker cp) */
        stdin_source in = {.fd = STDIN_FILENO};
        host_extract_opts xo = {.progress = on_extract, .every = every};
        host_extract_stats st = {0};
        if (host_archive_extract(stdin_read, &in, dirfd, name, &xo, &st, &err) < 0)
            return fail(in.failed ? HOST_FETCH_STAGE_FETCH : HOST_FETCH_STAGE_EXTRACT, &err);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true, .stats = st});
        return 0;
    }
    if (login) {
        /* URL is the registry's domain; the directory is not used */
        host_pull_opts po = {.reference = url,
                             .insecure = insecure,
                             .ca_file = ca_file,
                             .client_cert = client_cert,
                             .client_key = client_key,
                             .username = getenv("KLEENE_REGISTRY_USERNAME"),
                             .password = getenv("KLEENE_REGISTRY_PASSWORD")};
        if (host_registry_login(&po, &err) < 0)
            return fail(HOST_FETCH_STAGE_FETCH, &err);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true});
        return 0;
    }
    if (push) {
        /* the directory fd is kleened's blobs/sha256: read only */
        host_push_opts po = {.reference = url,
                             .manifest = push_manifest,
                             .index = push_index,
                             .mount_from = mount_from,
                             .blobs_fd = dirfd,
                             .insecure = insecure,
                             .ca_file = ca_file,
                             .client_cert = client_cert,
                             .client_key = client_key,
                             .username = getenv("KLEENE_REGISTRY_USERNAME"),
                             .password = getenv("KLEENE_REGISTRY_PASSWORD"),
                             .chunk_size = chunk_size,
                             .progress = on_push};
        if (host_push(&po, &err) < 0)
            return fail(HOST_FETCH_STAGE_FETCH, &err);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true});
        return 0;
    }
    if (load) {
        /* the archive comes on stdin (kleened's pipe from the client, or a file) */
        _cleanup_strv_ char **have_blobs = NULL;
        char **have_diff_ids = NULL;
        size_t n_have = 0;
        int rc = have_fd >= 0 ? read_have(have_fd, &have_blobs, &have_diff_ids, &n_have, &err) : 0;
        if (rc == 0) {
            host_load_opts lo = {.in_fd = STDIN_FILENO,
                                 .platform = platform,
                                 .have_blobs = (const char *const *)have_blobs,
                                 .have_diff_ids = (const char *const *)have_diff_ids,
                                 .n_have = n_have,
                                 .progress = on_load};
            rc = host_load(&lo, dirfd, name, &err);
        }
        for (size_t i = 0; i < n_have; i++)
            free(have_diff_ids[i]);
        free(have_diff_ids);
        if (rc < 0)
            return fail(HOST_FETCH_STAGE_EXTRACT, &err);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true});
        return 0;
    }
    if (pull) {
        _cleanup_strv_ char **have_blobs = NULL;
        char **have_diff_ids = NULL; /* may hold NULL entries */
        size_t n_have = 0;
        int rc = have_fd >= 0 ? read_have(have_fd, &have_blobs, &have_diff_ids, &n_have, &err) : 0;
        if (rc == 0) {
            host_pull_opts po = {.reference = url,
                                 .have_blobs = (const char *const *)have_blobs,
                                 .have_diff_ids = (const char *const *)have_diff_ids,
                                 .n_have = n_have,
                                 .plain_http_hint = plain_hint,
                                 .platform = platform,
                                 .insecure = insecure,
                                 .ca_file = ca_file,
                                 .client_cert = client_cert,
                                 .client_key = client_key,
                                 .username = getenv("KLEENE_REGISTRY_USERNAME"),
                                 .password = getenv("KLEENE_REGISTRY_PASSWORD"),
                                 .progress = on_pull};
            rc = host_pull(&po, dirfd, name, &err);
        }
        for (size_t i = 0; i < n_have; i++)
            free(have_diff_ids[i]);
        free(have_diff_ids);
        if (rc < 0)
            return fail(HOST_FETCH_STAGE_FETCH, &err);
        send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true});
        return 0;
    }
    _cleanup_fetch_ host_fetch *f = host_fetch_open(url, on_fetch, NULL, &err);
    if (!f)
        return fail(HOST_FETCH_STAGE_FETCH, &err);
    source src = {.f = f};
    host_extract_opts xo = {.progress = on_extract, .every = every};
    host_extract_stats st = {0};
    if (host_archive_extract(source_read, &src, dirfd, name, &xo, &st, &err) < 0)
        return fail(src.failed ? HOST_FETCH_STAGE_FETCH : HOST_FETCH_STAGE_EXTRACT, &err);
    /* libarchive stops at the end-of-archive marker, often before the end of the data (tar
     * padding, compressor trailers): read a little further for the true end, so that the
     * last progress says done (and 100%). A source that goes on is not waited for. */
    if (!done_sent) {
        uint64_t limit = host_fetch_get_progress(f).bytes + DRAIN_MAX;
        const void *buf;
        kl_error derr = KL_ERROR_INIT;
        while (host_fetch_read(f, &buf, &derr) > 0 && host_fetch_get_progress(f).bytes < limit)
            ;
        if (!done_sent) {
            host_fetch_progress p = host_fetch_get_progress(f);
            p.done = true;
            on_fetch(&p, NULL);
        }
    }
    send_msg(&(fetchproto_msg){.type = FETCHPROTO_RESULT, .ok = true, .stats = st});
    return 0;
}
