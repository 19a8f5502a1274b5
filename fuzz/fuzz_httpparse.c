/* libFuzzer target for kleened's HTTP/1.1 request parsing: the input is a request head, then
 * a chunked body and a query string. Any input gives a clean result or a clean refusal with a
 * status and a message; a parsed head points inside its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/httpparse.h"

static void sink(void *ctx, const char *data, size_t n)
{
    size_t *total = ctx;
    *total += n;
    if (n && !data)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t end = http_head_end(buf, size);
    http_head h;
    http_refusal why = {0};
    ssize_t n = http_parse_head(buf, size, &h, &why);
    if (n > 0) {
        if ((size_t)n != end || !h.method || !h.path || h.path[0] != '/')
            abort();
        if (h.path < buf || h.path >= buf + size)
            abort();
        http_body_kind kind;
        uint64_t len;
        if (http_body_framing(&h, &kind, &len, &why) < 0 && (!why.status || !why.message))
            abort();
        (void)http_keep_alive(&h);
        if (h.query) {
            char *storage = malloc(strlen(h.query) + 1);
            const char *k[HTTP_MAX_QUERY_ARGS], *v[HTTP_MAX_QUERY_ARGS];
            int q = http_parse_query(h.query, storage, k, v, HTTP_MAX_QUERY_ARGS, &why);
            if (q < 0 && why.status != 400)
                abort();
            free(storage);
        }
        /* the rest of the input as a chunked body, fed in two pieces */
        http_chunked c = {0};
        size_t total = 0, off = (size_t)n, half = (size - off) / 2;
        bool done = false;
        ssize_t r =
            http_chunked_feed(&c, (const char *)data + off, half, sink, &total, &done, &why);
        if (r >= 0 && !done)
            r = http_chunked_feed(&c, (const char *)data + off + half, size - off - half, sink,
                                  &total, &done, &why);
        if (r < 0 && (!why.status || !why.message))
            abort();
        if (total > size)
            abort();
    } else if (n < 0 && (!why.status || !why.message)) {
        abort();
    } else if (n == 0 && end != 0) {
        abort();
    }
    free(buf);
    return 0;
}
