/* The container log's record format (logrec.h). */
#include "lib/logrec.h"

#include <string.h>

static const char *stream_name(int stream)
{
    return stream == KL_STREAM_STDERR ? "stderr" : "stdout";
}

void kl_logrec_encode(kl_buf *out, int stream, const char *time, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t tlen = strlen(time);
    while (len) {
        const unsigned char *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;
        kl_buf_reserve(out, tlen + n + 12);
        kl_buf_append(out, time, tlen);
        kl_buf_append(out, " ", 1);
        kl_buf_puts(out, stream_name(stream));
        kl_buf_append(out, nl ? " F " : " P ", 3);
        kl_buf_append(out, p, n);
        kl_buf_append(out, "\n", 1);
        if (!nl)
            break;
        p += n + 1;
        len -= n + 1;
    }
}

static bool is_time_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == 'T' || c == ':' || c == '.' || c == 'Z';
}

void kl_logrec_decode(const unsigned char *line, size_t len, kl_logrec *out)
{
    /* Not a record: the line as stdout output, as it is. */
    *out = (kl_logrec){.stream = KL_STREAM_STDOUT, .data = line, .len = len};
    bool has_nl = len && line[len - 1] == '\n';
    size_t t = 0;
    while (t < len && t < KL_LOGREC_TIME_MAX - 1 && is_time_char(line[t]))
        t++;
    if (t < 20 || line[0] < '0' || line[0] > '9' || line[t - 1] != 'Z')
        return;
    /* " stdout F " after the time */
    if (!has_nl || len < t + 10 + 1 || line[t] != ' ' || line[t + 7] != ' ' || line[t + 9] != ' ')
        return;
    int stream;
    if (memcmp(line + t + 1, "stdout", 6) == 0)
        stream = KL_STREAM_STDOUT;
    else if (memcmp(line + t + 1, "stderr", 6) == 0)
        stream = KL_STREAM_STDERR;
    else
        return;
    char kind = (char)line[t + 8];
    if (kind != 'F' && kind != 'P')
        return;
    out->stream = stream;
    memcpy(out->time, line, t);
    out->time[t] = '\0';
    out->data = line + t + 10;
    out->len = len - (t + 10) - (kind == 'P' ? 1 : 0); /* F keeps its newline */
}

void kl_logrec_reader_feed(kl_logrec_reader *r, const void *data, size_t len)
{
    if (r->pos) { /* drop what has been returned */
        kl_buf_consume(&r->buf, r->pos);
        r->pos = 0;
    }
    kl_buf_append(&r->buf, data, len);
}

int kl_logrec_reader_next(kl_logrec_reader *r, bool at_end, kl_logrec *out)
{
    if (r->pos >= r->buf.len)
        return 0;
    const unsigned char *start = (const unsigned char *)r->buf.data + r->pos;
    size_t left = r->buf.len - r->pos;
    const unsigned char *nl = memchr(start, '\n', left);
    size_t n;
    if (nl)
        n = (size_t)(nl - start) + 1;
    else if (at_end)
        n = left;
    else
        return 0;
    kl_logrec_decode(start, n, out);
    r->pos += n;
    return 1;
}

void kl_logrec_reader_free(kl_logrec_reader *r)
{
    kl_buf_free(&r->buf);
    r->pos = 0;
}
