/* The record format of a container's log (container.log, written by the monitor, read by the
 * engine; docs/monitor.md "The container log").
 *
 * Every line the container's process writes becomes one line of the log:
 *     <time> <stream> <F|P> <content>\n
 * <time> is UTC with microseconds (2026-12-07T10:13:01.123456Z), <stream> is `stdout` or
 * `stderr`, F says the process's line ended with a newline, P that it did not (yet): a partial
 * line, whose continuation follows as further records. Output is never held back to wait for
 * a newline. Since content never contains '\n', a container cannot forge records, and every
 * '\n' of the file ends a record (the monitor's trimming cuts at line starts).
 *
 * Lines that do not have this shape (a log written before the format existed) read as stdout
 * lines without a time. It must not: allocate per record, or trust its input. */
#ifndef KL_LOGREC_H
#define KL_LOGREC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

enum { KL_STREAM_STDOUT = 1, KL_STREAM_STDERR = 2 };

#define KL_LOGREC_TIME_MAX 40

/* Append the records of one chunk of output of `stream` to out, all with the time `time`. */
void kl_logrec_encode(kl_buf *out, int stream, const char *time, const void *data, size_t len);

typedef struct kl_logrec {
    int stream;                    /* KL_STREAM_STDOUT or KL_STREAM_STDERR */
    char time[KL_LOGREC_TIME_MAX]; /* "" when the line had none */
    const unsigned char *data;     /* the output bytes (with the newline of an F record) */
    size_t len;                    /* valid until the next call on the reader */
} kl_logrec;

/* Decode one log line: `line` is len bytes up to and including its '\n' (or, at the end of
 * the input, without one). Pure. */
void kl_logrec_decode(const unsigned char *line, size_t len, kl_logrec *out);

/* Incremental reading of a byte stream cut anywhere (a file, monitor frames). */
typedef struct kl_logrec_reader {
    kl_buf buf;
    size_t pos;
} kl_logrec_reader;

#define KL_LOGREC_READER_INIT                                                                      \
    {                                                                                              \
        KL_BUF_INIT, 0                                                                             \
    }

void kl_logrec_reader_feed(kl_logrec_reader *r, const void *data, size_t len);
/* 1 = a record in *out; 0 = none complete yet. With at_end, a last line without '\n' is
 * returned too. */
int kl_logrec_reader_next(kl_logrec_reader *r, bool at_end, kl_logrec *out);
void kl_logrec_reader_free(kl_logrec_reader *r);

#endif
