/* libFuzzer target for the container log's record reader (src/lib/logrec.c).
 *
 * Input: byte 0 picks the chunking, the rest is a log. The log is read twice, whole and in
 * uneven chunks: both must give the same records, and every record must lie inside the input
 * (stream 1 or 2, a NUL-terminated time). Then records encoded from arbitrary bytes must read
 * back as those bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/logrec.h"

static void read_all(const uint8_t *p, size_t n, unsigned seed, kl_buf *out)
{
    kl_logrec_reader r = KL_LOGREC_READER_INIT;
    kl_logrec rec;
    size_t off = 0;
    unsigned step = seed;
    while (off < n) {
        size_t len = n - off;
        if (seed) {
            step = step * 1103515245u + 12345u;
            size_t want = 1 + (step >> 16) % 31;
            if (want < len)
                len = want;
        }
        kl_logrec_reader_feed(&r, p + off, len);
        off += len;
        while (kl_logrec_reader_next(&r, false, &rec) == 1) {
            if (rec.stream != KL_STREAM_STDOUT && rec.stream != KL_STREAM_STDERR)
                abort();
            if (strlen(rec.time) >= KL_LOGREC_TIME_MAX)
                abort();
            kl_buf_printf(out, "%d %s %zu:", rec.stream, rec.time, rec.len);
            kl_buf_append(out, rec.data, rec.len);
        }
    }
    while (kl_logrec_reader_next(&r, true, &rec) == 1) {
        kl_buf_printf(out, "%d %s %zu:", rec.stream, rec.time, rec.len);
        kl_buf_append(out, rec.data, rec.len);
    }
    kl_logrec_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    kl_buf a = KL_BUF_INIT, b = KL_BUF_INIT;
    read_all(data + 1, size - 1, 0, &a);
    read_all(data + 1, size - 1, seed | 1, &b);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
        abort();
    kl_buf_free(&a);
    kl_buf_free(&b);

    /* encode → decode round trip */
    kl_buf log = KL_BUF_INIT;
    kl_logrec_encode(&log, seed & 1 ? KL_STREAM_STDERR : KL_STREAM_STDOUT,
                     "2026-12-07T10:13:01.123456Z", data + 1, size - 1);
    kl_logrec_reader r = KL_LOGREC_READER_INIT;
    kl_logrec_reader_feed(&r, log.data, log.len);
    kl_buf back = KL_BUF_INIT;
    kl_logrec rec;
    while (kl_logrec_reader_next(&r, true, &rec) == 1)
        kl_buf_append(&back, rec.data, rec.len);
    if (back.len != size - 1 || (back.len && memcmp(back.data, data + 1, back.len) != 0))
        abort();
    kl_buf_free(&back);
    kl_buf_free(&log);
    kl_logrec_reader_free(&r);
    return 0;
}
