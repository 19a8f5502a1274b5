/* Streaming URL fetcher (see fetch.h). Portable: only libcurl, no OS calls. libcurl is
 * loaded on the first http(s) fetch (lib/curlshim.h); file:// URLs do without it.
 * The curl multi handle is driven from host_fetch_read, so data flows at the pace the
 * consumer (the archive extractor) pulls it; at most one curl write burst is buffered. */
#include "host/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/curlshim.h"
#include "lib/xalloc.h"

struct host_fetch {
    const curlshim *cs;
    CURLM *multi;
    CURL *easy;
    char *url;
    int fd;     /* file:// URLs are read directly (curl's file protocol can not pause) */
    kl_buf in;  /* filled by curl */
    kl_buf out; /* handed to the reader, valid until the next read */
    bool done;
    bool paused; /* the consumer is behind: curl holds the data until the next read */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    host_fetch_progress_fn progress;
    void *progress_ctx;
    host_fetch_progress prog;
    uint64_t last_report;
    struct curl_slist *req_headers; /* host_fetch_request.headers */
    bool keep_http_errors;
    kl_buf resp_headers; /* the last response's header lines (after redirects), bounded */
};

static void report(host_fetch *f, bool final)
{
    if (!f->progress)
        return;
    host_fetch_progress *p = &f->prog;
    int pct = p->total ? (int)(p->bytes * 100 / p->total) : -1;
    if (pct > 100)
        pct = 100;
    bool due = final || (pct >= 0 ? pct > p->percent : p->bytes - f->last_report >= (1 << 20));
    if (!due)
        return;
    p->percent = pct;
    p->done = final;
    f->last_report = p->bytes;
    f->progress(p, f->progress_ctx);
}

/* Back-pressure: past this much unread data, pause the transfer instead of buffering the
 * whole download in memory when the network is faster than the disk. */
#define FETCH_HIGH_WATER (256 * 1024)

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    host_fetch *f = ud;
    size_t n = size * nmemb;
    if (f->in.len >= FETCH_HIGH_WATER) {
        f->paused = true;
        return CURL_WRITEFUNC_PAUSE; /* curl delivers the same data again after unpausing */
    }
    kl_buf_append(&f->in, data, n);
    f->prog.bytes += n;
    if (!f->prog.total) {
        curl_off_t cl = -1;
        if (f->cs->easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0)
            f->prog.total = (uint64_t)cl;
    }
    report(f, false);
    return n;
}

/* Response headers, kept for host_fetch_header: a new status line (a redirect, a 100
 * Continue) starts over, so what is kept is the final response's. */
#define FETCH_HEADERS_MAX (64 * 1024)

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    host_fetch *f = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5))
        kl_buf_reset(&f->resp_headers);
    if (f->resp_headers.len + n <= FETCH_HEADERS_MAX)
        kl_buf_append(&f->resp_headers, data, n);
    return n;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* file:///path or file://localhost/path (RFC 8089), the path percent-decoded; a query or
 * fragment is dropped. Parsed here, not with curl's URL parser, so that file:// URLs do not
 * load libcurl and its ~30 libraries (about 5 ms for each run of kleene-fetch). */
static char *file_url_path(const char *url, kl_error *err)
{
    const char *auth = url + strlen("file://");
    const char *slash = strchr(auth, '/');
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            slash = NULL; /* like curl: no raw spaces or control characters */
    if (!slash) {
        kl_error_set(err, EINVAL, "invalid URL '%s'", url);
        return NULL;
    }
    size_t hlen = (size_t)(slash - auth);
    if (hlen && !(hlen == 9 && !strncasecmp(auth, "localhost", 9))) {
        kl_error_set(err, EINVAL, "invalid URL '%s': file URLs must be local", url);
        return NULL;
    }
    size_t plen = strcspn(slash, "?#");
    char *path = xmalloc(plen + 1), *w = path;
    for (const char *p = slash; p < slash + plen; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = p + 2 < slash + plen ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
        if (lo < 0 || (hi | lo) == 0) { /* a bad escape, or %00 */
            free(path);
            kl_error_set(err, EINVAL, "invalid URL '%s'", url);
            return NULL;
        }
        *w++ = (char)(hi * 16 + lo);
        p += 2;
    }
    *w = '\0';
    return path;
}

static int open_file_url(host_fetch *f, kl_error *err)
{
    _cleanup_free_ char *path = file_url_path(f->url, err);
    if (!path)
        return -1;
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return kl_error_errno(err, errno, "fetching %s", f->url);
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return kl_error_errno(err, errno, "fetching %s", f->url);
    if (S_ISDIR(st.st_mode))
        return kl_error_set(err, EISDIR, "fetching %s: is a directory", f->url);
    if (S_ISREG(st.st_mode))
        f->prog.total = (uint64_t)st.st_size;
    return 0;
}

static ssize_t read_file(host_fetch *f, const void **buf, kl_error *err)
{
    kl_buf_reserve(&f->out, 128 * 1024);
    ssize_t n = KL_RETRY_EINTR(read(f->fd, f->out.data, 128 * 1024));
    if (n < 0)
        return kl_error_errno(err, errno, "fetching %s", f->url);
    *buf = f->out.data;
    f->prog.bytes += (uint64_t)n;
    if (n == 0 && !f->prog.total)
        f->prog.total = f->prog.bytes;
    report(f, n == 0);
    return n;
}

host_fetch *host_fetch_open(const char *url, host_fetch_progress_fn progress, void *ctx,
                            kl_error *err)
{
    return host_fetch_open_req(url, NULL, progress, ctx, err);
}

host_fetch *host_fetch_open_req(const char *url, const host_fetch_request *rq,
                                host_fetch_progress_fn progress, void *ctx, kl_error *err)
{
    if (!url ||
        (strncmp(url, "http://", 7) && strncmp(url, "https://", 8) && strncmp(url, "file://", 7))) {
        kl_error_set(err, EINVAL, "invalid URL '%s': only http, https and file URLs are supported",
                     url ? url : "");
        return NULL;
    }
    host_fetch *f = xcalloc(1, sizeof(*f));
    f->url = xstrdup(url);
    f->fd = -1;
    f->progress = progress;
    f->progress_ctx = ctx;
    f->prog.percent = -1;
    if (!strncmp(url, "file://", 7)) {
        if (open_file_url(f, err) < 0) {
            host_fetch_free(f);
            return NULL;
        }
        return f;
    }
    const curlshim *cs = curlshim_get("fetching images needs libcurl", err);
    if (!cs) {
        host_fetch_free(f);
        return NULL;
    }
    f->cs = cs;
    f->easy = cs->easy_init();
    f->multi = cs->multi_init();
    if (!f->easy || !f->multi) {
        host_fetch_free(f);
        kl_error_set(err, ENOMEM, "fetching %s: cannot initialise libcurl", url);
        return NULL;
    }
    CURL *e = f->easy;
    cs->easy_setopt(e, CURLOPT_URL, url);
    cs->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    cs->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    cs->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    cs->easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    if (rq && rq->headers) {
        for (const char *const *h = rq->headers; *h; h++) {
            if (strpbrk(*h, "\r\n")) {
                host_fetch_free(f);
                kl_error_set(err, EINVAL, "fetching %s: invalid request header", url);
                return NULL;
            }
            f->req_headers = cs->slist_append(f->req_headers, *h);
        }
        cs->easy_setopt(e, CURLOPT_HTTPHEADER, f->req_headers);
    }
    f->keep_http_errors = rq && rq->keep_http_errors;
    cs->easy_setopt(e, CURLOPT_FAILONERROR, f->keep_http_errors ? 0L : 1L);
    cs->easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    cs->easy_setopt(e, CURLOPT_HEADERDATA, f);
    if (rq && rq->ca_file)
        cs->easy_setopt(e, CURLOPT_CAINFO, rq->ca_file);
    if (rq && rq->client_cert && rq->client_key) {
        cs->easy_setopt(e, CURLOPT_SSLCERT, rq->client_cert);
        cs->easy_setopt(e, CURLOPT_SSLKEY, rq->client_key);
    }
    if (rq && rq->tls_no_verify) {
        cs->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        cs->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    cs->easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    cs->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L); /* stalled for a minute: give up */
    cs->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    cs->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cs->easy_setopt(e, CURLOPT_USERAGENT, "kleened/" KLEENE_VERSION);
    cs->easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
    cs->easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    cs->easy_setopt(e, CURLOPT_WRITEDATA, f);
    cs->multi_add_handle(f->multi, e);
    return f;
}

ssize_t host_fetch_read(void *fetch, const void **buf, kl_error *err)
{
    host_fetch *f = fetch;
    kl_buf_reset(&f->out);
    if (f->fd >= 0)
        return read_file(f, buf, err);
    if (f->paused) {
        f->paused = false;
        f->cs->easy_pause(f->easy, CURLPAUSE_CONT);
    }
    while (f->in.len == 0 && !f->done) {
        int running = 0;
        CURLMcode mc = f->cs->multi_perform(f->multi, &running);
        if (mc != CURLM_OK)
            return kl_error_set(err, EIO, "fetching %s: %s", f->url, f->cs->multi_strerror(mc));
        int left;
        CURLMsg *m;
        while ((m = f->cs->multi_info_read(f->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                f->done = true;
                f->result = m->data.result;
            }
        if (f->in.len || f->done)
            break;
        mc = f->cs->multi_poll(f->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            return kl_error_set(err, EIO, "fetching %s: %s", f->url, f->cs->multi_strerror(mc));
    }
    if (f->in.len) {
        kl_buf t = f->out;
        f->out = f->in;
        f->in = t;
        *buf = f->out.data;
        return (ssize_t)f->out.len;
    }
    if (f->result != CURLE_OK) {
        long code = 0;
        f->cs->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
        int e = f->result == CURLE_HTTP_RETURNED_ERROR && code == 404 ? ENOENT
                : f->result == CURLE_FILE_COULDNT_READ_FILE           ? ENOENT
                : f->result == CURLE_COULDNT_CONNECT                  ? ECONNREFUSED
                : f->result == CURLE_OPERATION_TIMEDOUT               ? ETIMEDOUT
                : f->result == CURLE_PEER_FAILED_VERIFICATION         ? EKEYREJECTED
                                                                      : EIO;
        if (f->result == CURLE_HTTP_RETURNED_ERROR)
            return kl_error_set(err, e, "fetching %s: HTTP error %ld", f->url, code);
        return kl_error_set(err, e, "fetching %s: %s", f->url,
                            f->errbuf[0] ? f->errbuf : f->cs->easy_strerror(f->result));
    }
    if (!f->prog.total)
        f->prog.total = f->prog.bytes;
    report(f, true);
    *buf = f->out.data;
    return 0;
}

host_fetch_progress host_fetch_get_progress(const host_fetch *f)
{
    return f->prog;
}

long host_fetch_status(const host_fetch *f)
{
    long code = 0;
    if (f->cs && f->easy)
        f->cs->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

char *host_fetch_header(const host_fetch *f, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = f->resp_headers.data, *end = p ? p + f->resp_headers.len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return xstrndup(v, (size_t)(ve - v));
        }
        p = eol + 1;
    }
    return NULL;
}

void host_fetch_free(host_fetch *f)
{
    if (!f)
        return;
    if (f->multi && f->easy)
        f->cs->multi_remove_handle(f->multi, f->easy);
    if (f->easy)
        f->cs->easy_cleanup(f->easy);
    if (f->multi)
        f->cs->multi_cleanup(f->multi);
    if (f->fd >= 0)
        close(f->fd);
    if (f->req_headers)
        f->cs->slist_free_all(f->req_headers);
    kl_buf_free(&f->resp_headers);
    kl_buf_free(&f->in);
    kl_buf_free(&f->out);
    free(f->url);
    free(f);
}

int host_fetch_extract(const char *url, int parent_dirfd, const char *name,
                       host_fetch_progress_fn progress, void *progress_ctx,
                       const host_extract_opts *opts, host_extract_stats *stats, kl_error *err)
{
    _cleanup_fetch_ host_fetch *f = host_fetch_open(url, progress, progress_ctx, err);
    if (!f)
        return -1;
    return host_archive_extract(host_fetch_read, f, parent_dirfd, name, opts, stats, err);
}
