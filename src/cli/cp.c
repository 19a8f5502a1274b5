/* `klee container cp` (and `klee cp`), ours (docs/klee-differences.md): copies between a
 * container and the local filesystem with docker cp's forms and rules, over the Kleene API's
 * archive routes (docs/api.md "Copying files"):
 *
 *   klee cp CONTAINER:PATH LOCALPATH|-     HEAD the path (its stat), GET its tar, extracted
 *                                          with the safe extractor (untar.h) or written to
 *                                          stdout as it is
 *   klee cp LOCALPATH|- CONTAINER:PATH     HEAD the destination, PUT a tar of the local path
 *                                          (tarstream.h, written by a child into a pipe) or
 *                                          stdin's tar as it is
 *
 * Where things land (docker cp's rules): a directory destination that exists gets the source
 * inside it under its own name (or, for a source ending in "/.", the source directory's
 * contents); a destination that does not exist is created with the source's content under
 * that name, in its parent, which must exist (and a destination ending in "/" must exist
 * unless the source is a directory); a file destination is replaced by a file and refuses a
 * directory. Container paths are absolute (a relative one is taken from "/"). */
#include "cli/cli.h"
#include "cli/tarstream.h"
#include "cli/untar.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "klee container cp"
#define ARGS_USAGE "SRC DEST"

/* One side: a container's path, a local path, or "-" (a tar on stdin/stdout). */
typedef struct cp_end {
    char *container; /* NULL: local */
    char *path;
    bool is_stream;
} cp_end;

static void cp_end_clear(cp_end *e)
{
    free(e->container);
    free(e->path);
}

/* docker cp's split: "-" is the stream; a path that starts with "/" or "." is local (so is
 * anything without ':'); else CONTAINER:PATH at the first ':'. */
static int parse_end(const char *arg, cp_end *out)
{
    *out = (cp_end){0};
    if (!strcmp(arg, "-")) {
        out->is_stream = true;
        out->path = xstrdup("-");
        return 0;
    }
    const char *colon = strchr(arg, ':');
    if (arg[0] == '/' || arg[0] == '.' || !colon) {
        out->path = xstrdup(arg);
        return 0;
    }
    if (colon == arg)
        return -1;
    out->container = xstrndup(arg, (size_t)(colon - arg));
    const char *p = colon + 1;
    out->path = p[0] == '/' ? xstrdup(p) : xasprintf("/%s", p);
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The last component of a path (trailing slashes ignored); "/" for the root. */
static char *base_name(const char *path)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    const char *slash = strrchr(p, '/');
    return xstrdup(slash && slash[1] ? slash + 1 : p);
}

/* The directory of a path (trailing slashes ignored): "." for a bare name, "/" at the top. */
static char *dir_name(const char *path)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    char *slash = strrchr(p, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == p)
        return xstrdup("/");
    *slash = '\0';
    return xstrdup(p);
}

/* A destination that does not exist, without its trailing "/" and "/." (kept: "/"): the
 * name to create. */
static char *trim_dir_suffix(const char *path)
{
    char *p = xstrdup(path);
    size_t n = strlen(p);
    for (;;) {
        if (n > 1 && p[n - 1] == '/')
            p[--n] = '\0';
        else if (n > 2 && p[n - 1] == '.' && p[n - 2] == '/')
            p[n -= 2] = '\0';
        else
            break;
    }
    return p;
}

/* The stat of a container's path (X-Kleene-Path-Stat). */
typedef struct cp_stat {
    char *name;
    char *type;
    char *link_target; /* NULL unless a symlink */
} cp_stat;

static void cp_stat_clear(cp_stat *s)
{
    free(s->name);
    free(s->type);
    free(s->link_target);
    *s = (cp_stat){0};
}

static bool is_dir(const cp_stat *s)
{
    return s->type && !strcmp(s->type, "directory");
}

static char *archive_path(const char *container, const char *path, const char *extra)
{
    _cleanup_free_ char *c = cli_path_escape(container);
    _cleanup_free_ char *p = cli_path_escape(path);
    return xasprintf("/containers/%s/archive?path=%s%s", c, p, extra ? extra : "");
}

/* HEAD the path: 200 with *out filled, another status (resp kept for the message), or -1
 * after printing the connection failure. */
static long head_stat(cli_ctx *ctx, const char *container, const char *path, cp_stat *out,
                      http_response *resp)
{
    *out = (cp_stat){0};
    _cleanup_free_ char *p = archive_path(container, path, NULL);
    long status = cli_request(ctx, "HEAD", p, NULL, resp);
    if (status > 0 && status != 200) {
        /* a HEAD answer has no body: the same GET gives the message (and fails the same) */
        http_response again = HTTP_RESPONSE_INIT;
        if (cli_request(ctx, "GET", p, NULL, &again) == status) {
            http_response_free(resp);
            *resp = again;
        } else {
            http_response_free(&again);
        }
    }
    if (status != 200)
        return status;
    _cleanup_free_ char *b64 = http_response_header(resp, "X-Kleene-Path-Stat");
    uint8_t buf[8192];
    kl_error err = KL_ERROR_INIT;
    ssize_t n = b64 ? kl_base64_decode(b64, strlen(b64), buf, sizeof(buf) - 1, &err) : -1;
    _cleanup_json_ json_t *j = n >= 0 ? json_loadb((const char *)buf, (size_t)n, 0, NULL) : NULL;
    if (!j || !jx_str(j, "name", NULL) || !jx_str(j, "type", NULL)) {
        cli_error(ctx, "kleened did not give the stat of %s:%s (an older kleened?)", container,
                  path);
        return -1;
    }
    out->name = xstrdup(jx_str(j, "name", ""));
    out->type = xstrdup(jx_str(j, "type", ""));
    const char *t = jx_str(j, "link_target", NULL);
    out->link_target = t ? xstrdup(t) : NULL;
    return 200;
}

/* head_stat, a failure printed; 0 or exit code. */
static int stat_or_fail(cli_ctx *ctx, const char *container, const char *path, cp_stat *out)
{
    http_response resp = HTTP_RESPONSE_INIT;
    long status = head_stat(ctx, container, path, out, &resp);
    int rc = status == 200 ? 0 : status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
    http_response_free(&resp);
    return rc;
}

/* ---- out of a container ------------------------------------------------------------------ */

typedef struct sink {
    untar *u; /* NULL: to stdout */
    kl_error err;
    bool failed;
} sink;

static void on_tar(void *ud, const char *content_type, const char *data, size_t n)
{
    (void)content_type;
    sink *s = ud;
    if (s->failed)
        return; /* the rest of the answer is read and dropped */
    if (s->u) {
        if (untar_feed(s->u, data, n, &s->err) < 0)
            s->failed = true;
        return;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(STDOUT_FILENO, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            kl_error_errno(&s->err, errno, "writing to stdout");
            s->failed = true;
            return;
        }
        done += (size_t)w;
    }
}

static int copy_out(cli_ctx *ctx, const cp_end *src, const cp_end *dst, bool follow, bool archive)
{
    cp_stat st = {0}, target = {0};
    int rc = stat_or_fail(ctx, src->container, src->path, &st);
    if (rc)
        return rc;
    const char *path = src->path;
    /* the name the copy gets: the source's own (for -L too: the link's, not its target's) */
    const char *own = !strcmp(st.name, "/") ? "." : st.name;
    const cp_stat *what = &st;
    if (follow && st.link_target && !strcmp(st.type, "symlink")) {
        rc = stat_or_fail(ctx, src->container, st.link_target, &target);
        if (rc) {
            cp_stat_clear(&st);
            return rc;
        }
        path = st.link_target;
        what = &target;
    }
    const char *top = !strcmp(what->name, "/") ? "." : what->name;
    _cleanup_free_ char *top_copy = xstrdup(top), *own_copy = xstrdup(own);
    _cleanup_free_ char *get = archive_path(src->container, path, NULL);
    bool src_dir = is_dir(what);
    cp_stat_clear(&target);
    cp_stat_clear(&st);

    sink s = {.err = KL_ERROR_INIT};
    _cleanup_close_ int dfd = -1;
    _cleanup_free_ char *to = NULL;
    if (!dst->is_stream) {
        struct stat lst;
        const char *d = dst->path;
        bool exists = stat(d, &lst) == 0;
        if (!exists && errno != ENOENT) {
            cli_error(ctx, "%s: %s", d, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        _cleanup_free_ char *into = NULL;
        if (exists && S_ISDIR(lst.st_mode)) {
            into = xstrdup(d);
            to = xstrdup(own_copy); /* "." for a source's contents (".../.") */
        } else if (exists) {
            if (src_dir) {
                cli_error(ctx, "cannot copy a directory to a file: %s", d);
                return CLI_EXIT_FAILURE;
            }
            into = dir_name(d);
            to = base_name(d);
        } else {
            if (!src_dir && (ends_with(d, "/") || ends_with(d, "/."))) {
                cli_error(ctx, "the destination directory must exist: %s", d);
                return CLI_EXIT_FAILURE;
            }
            _cleanup_free_ char *name = trim_dir_suffix(d);
            into = dir_name(name);
            to = base_name(name);
        }
        dfd = open(into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            cli_error(ctx, "the destination's directory %s: %s", into, strerror(errno));
            return CLI_EXIT_FAILURE;
        }
        untar_opts o = {.rename_from = top_copy, .rename_to = to, .keep_owner = archive};
        s.u = untar_new(dfd, &o);
    }
    http_client *hc = cli_http(ctx);
    if (!hc) {
        untar_free(s.u);
        return CLI_EXIT_FAILURE;
    }
    http_response resp = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    rc = CLI_EXIT_OK;
    if (http_request_stream(hc, get, on_tar, &s, &resp, &err) < 0) {
        cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        rc = CLI_EXIT_FAILURE;
    } else if (resp.status != 200) {
        rc = cli_print_server_error(ctx, &resp);
    } else if (!s.failed && s.u && untar_finish(s.u, &s.err) < 0) {
        s.failed = true;
    }
    if (rc == CLI_EXIT_OK && s.failed) {
        cli_error(ctx, "copying %s:%s: %s", src->container, src->path, s.err.msg);
        rc = CLI_EXIT_FAILURE;
    }
    http_response_free(&resp);
    untar_free(s.u);
    return rc;
}

/* ---- into a container -------------------------------------------------------------------- */

static int to_fd(void *ud, const void *data, size_t n, kl_error *err)
{
    int fd = *(int *)ud;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return kl_error_errno(err, errno, "sending the archive");
        done += (size_t)w;
    }
    return 0;
}

/* The child writing the archive: whether it wrote all of it (asked at the pipe's end, so
 * that a failed walk cuts the upload and kleened keeps nothing of it). */
typedef struct writer {
    pid_t pid;
    bool waited, ok;
} writer;

static bool writer_done(void *ud)
{
    writer *w = ud;
    if (!w->waited) {
        int ws = 0;
        while (waitpid(w->pid, &ws, 0) < 0 && errno == EINTR) {
        }
        w->waited = true;
        w->ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    }
    return w->ok;
}

/* PUT the tar read from `fd` into the container's directory `dir` (w: its writer, or NULL). */
static int put_archive(cli_ctx *ctx, const char *container, const char *dir, bool archive, int fd,
                       writer *w)
{
    http_client *hc = cli_http(ctx);
    if (!hc)
        return CLI_EXIT_FAILURE;
    _cleanup_free_ char *put = archive_path(container, dir, archive ? "&copy_uid_gid=true" : NULL);
    http_response resp = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    int rc = CLI_EXIT_OK;
    if (http_request_upload(hc, "PUT", put, "application/x-tar", fd, w ? writer_done : NULL, w,
                            &resp, &err) < 0) {
        if (err.code != ECANCELED) /* else the writer has said why */
            cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        rc = CLI_EXIT_FAILURE;
    } else if (resp.status != 200) {
        rc = cli_print_server_error(ctx, &resp);
    }
    http_response_free(&resp);
    return rc;
}

static int copy_in(cli_ctx *ctx, const cp_end *src, const cp_end *dst, bool follow, bool archive)
{
    if (src->is_stream) /* a tar on stdin, into a directory */
        return put_archive(ctx, dst->container, dst->path, archive, STDIN_FILENO, NULL);

    struct stat lst;
    if ((follow ? stat(src->path, &lst) : lstat(src->path, &lst)) < 0) {
        cli_error(ctx, "%s: %s", src->path, strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    bool src_dir = S_ISDIR(lst.st_mode);
    /* "dir/.", ".", "/": a directory's contents (docker cp's rule: their base name is ".") */
    _cleanup_free_ char *src_base = base_name(src->path);
    bool contents = src_dir && (!strcmp(src_base, ".") || !strcmp(src_base, "/"));

    cp_stat st = {0};
    http_response resp = HTTP_RESPONSE_INIT;
    _cleanup_free_ char *dpath = xstrdup(dst->path);
    long status = head_stat(ctx, dst->container, dpath, &st, &resp);
    if (status == 200 && st.link_target && !strcmp(st.type, "symlink")) {
        /* a symlink destination: where it leads (inside the container) */
        free(dpath);
        dpath = xstrdup(st.link_target);
        cp_stat_clear(&st);
        http_response_free(&resp);
        status = head_stat(ctx, dst->container, dpath, &st, &resp);
    }
    _cleanup_free_ char *into = NULL, *as = NULL;
    int rc = 0;
    if (status == 200 && is_dir(&st)) {
        into = xstrdup(dpath);
        as = contents ? xstrdup(".") : xstrdup(src_base);
    } else if (status == 200) {
        if (src_dir) {
            cli_error(ctx, "cannot copy a directory to a file: %s:%s", dst->container, dpath);
            rc = CLI_EXIT_FAILURE;
        } else {
            into = dir_name(dpath);
            as = base_name(dpath);
        }
    } else if (status == 404) {
        if (!src_dir && (ends_with(dpath, "/") || ends_with(dpath, "/."))) {
            cli_error(ctx, "the destination directory must exist: %s:%s", dst->container, dpath);
            rc = CLI_EXIT_FAILURE;
        } else {
            /* the parent must be a directory: the PUT says so (404/409) */
            _cleanup_free_ char *name = trim_dir_suffix(dpath);
            into = dir_name(name);
            as = base_name(name);
        }
        /* a container that does not exist: its 404 */
        json_t *j = rc ? NULL : cli_response_json(&resp);
        if (j && !strcmp(jx_str(j, "message", ""), "container not found"))
            rc = cli_print_server_error(ctx, &resp);
        json_decref(j);
    } else {
        rc = status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
    }
    cp_stat_clear(&st);
    http_response_free(&resp);
    if (rc)
        return rc;

    /* the archive, written by a child into a pipe that the upload reads */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        cli_error(ctx, "pipe: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        cli_error(ctx, "fork: %s", strerror(errno));
        return CLI_EXIT_FAILURE;
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        close(pfd[0]);
        kl_error err = KL_ERROR_INIT;
        int w = pfd[1];
        if (tarstream_write_path(src->path, as, follow, to_fd, &w, NULL, &err) < 0) {
            if (err.code != EPIPE) /* the server stopped reading: its answer says why */
                cli_error(ctx, "%s", err.msg);
            _exit(1);
        }
        _exit(0);
    }
    close(pfd[1]);
    writer w = {.pid = pid};
    rc = put_archive(ctx, dst->container, into, archive, pfd[0], &w);
    close(pfd[0]); /* a writer still going (the server refused early) gets EPIPE */
    if (!writer_done(&w) && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAILURE;
    return rc;
}

/* ---- the command ------------------------------------------------------------------------- */

static int container_cp(cli_ctx *ctx, const cli_args *a)
{
    cp_end src, dst;
    if (parse_end(a->pos[0], &src) < 0 || parse_end(a->pos[1], &dst) < 0) {
        cp_end_clear(&src);
        return cli_usage_error(PROG, ARGS_USAGE, "a container name is missing before ':'");
    }
    int rc;
    if (src.container && dst.container)
        rc = cli_usage_error(PROG, ARGS_USAGE, "copying between containers is not supported");
    else if (!src.container && !dst.container)
        rc = cli_usage_error(PROG, ARGS_USAGE,
                             "one of SRC and DEST must be CONTAINER:PATH (copying between "
                             "local paths is not supported)");
    else if (src.container)
        rc = copy_out(ctx, &src, &dst, cli_flag(a, "follow-link"), cli_flag(a, "archive"));
    else
        rc = copy_in(ctx, &src, &dst, cli_flag(a, "follow-link"), cli_flag(a, "archive"));
    cp_end_clear(&src);
    cp_end_clear(&dst);
    return rc;
}

static const cli_option cp_options[] = {
    {"archive", 'a', NULL,
     "Archive mode: keep the owners (uid/gid) and setuid/setgid bits of what is copied", NULL},
    {"follow-link", 'L', NULL, "Always follow a symbolic link given as SRC", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

const cli_command cli_container_cp = {
    .name = "cp",
    .args_usage = ARGS_USAGE,
    .short_help = "Copy files between a container and the local filesystem",
    .help = "Copy files or directories between a container and the local filesystem:\n\n"
            "  klee container cp CONTAINER:SRC_PATH DEST_PATH|-\n"
            "  klee container cp SRC_PATH|- CONTAINER:DEST_PATH\n\n"
            "'-' is a tar archive on stdout (out of the container) or stdin (into a "
            "directory of the container). A directory destination that exists gets the "
            "source inside it (a source ending in '/.' gives its contents); one that does "
            "not exist is created from the source. Container paths are taken from the "
            "container's root; the container may be running or stopped.",
    .options = cp_options,
    .min_args = 2,
    .max_args = 2,
    .no_args_is_help = true,
    .run = container_cp,
};
