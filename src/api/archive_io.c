/* The archive endpoints' shared glue (archive_io.h): both doors over one engine. */
#include "api/archive_io.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void archive_io_mtime(const ctrcopy_stat *st, char *buf, size_t size)
{
    struct tm tm;
    time_t sec = st->mtime.tv_sec;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%09ldZ", st->mtime.tv_nsec);
}

void archive_io_add_json_header(api_response *res, const char *name, const json_t *j)
{
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
    _cleanup_free_ char *b64 = kl_base64_encode_alloc(text, strlen(text));
    char *h = xasprintf("%s%s: %s\r\n", res->headers ? res->headers : "", name, b64);
    free(res->headers);
    res->headers = h;
}

int archive_io_head(ctrcopy *cc, const char *path, api_response *res, archive_io_header_fn header,
                    kl_error *err)
{
    ctrcopy_stat st;
    int rc = ctrcopy_stat_path(cc, path, &st, err);
    ctrcopy_close(cc);
    if (rc < 0)
        return -1;
    header(res, &st);
    ctrcopy_stat_clear(&st);
    return 0;
}

/* The stream of a GET: the engine's tar and the door's name for the log. */
typedef struct tar_source {
    ctrcopy_tar *tar;
    const char *what;
} tar_source;

static ssize_t tar_stream(void *ctx, char *buf, size_t max)
{
    tar_source *s = ctx;
    kl_error err = KL_ERROR_INIT;
    ssize_t n = ctrcopy_tar_read(s->tar, buf, max, &err);
    if (n < 0) {
        log_warn("%s: %s", s->what, err.msg);
        return API_STREAM_ERROR;
    }
    return n == 0 ? API_STREAM_END : n;
}

static void tar_free(void *ctx)
{
    tar_source *s = ctx;
    ctrcopy_tar_free(s->tar);
    free(s);
}

int archive_io_get(ctrcopy *cc, const char *path, api_response *res, archive_io_header_fn header,
                   const char *what, kl_error *err)
{
    ctrcopy_stat st;
    ctrcopy_tar *t = ctrcopy_tar_open(cc, path, &st, err);
    if (!t)
        return -1;
    header(res, &st);
    ctrcopy_stat_clear(&st);
    tar_source *s = xmalloc(sizeof(*s));
    *s = (tar_source){.tar = t, .what = what};
    api_reply_stream(res, 200, "application/x-tar", tar_stream, s, tar_free);
    return 0;
}

static ssize_t body_read(void *ctx, void *buf, size_t n)
{
    archive_io_body *b = ctx;
    api_request *req = b->req;
    if (req->body_read) {
        ssize_t k = req->body_read(req->body_ctx, buf, n, &b->err);
        if (k < 0) {
            b->failed = true;
            log_info("%s: the upload: %s", b->what, b->err.msg);
        }
        return k;
    }
    size_t left = b->buf ? b->buf->len - b->at : 0;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, b->buf->data + b->at, n);
    b->at += n;
    return (ssize_t)n;
}

int archive_io_put(ctrcopy *cc, const char *path, const ctrcopy_put_opts *o, archive_io_body *body,
                   kl_error *err)
{
    int rc = ctrcopy_put(cc, path, o, body_read, body, err);
    ctrcopy_close(cc);
    return rc;
}
