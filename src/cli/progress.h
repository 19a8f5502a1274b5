/* Rendering of a server's streamed progress text (image create): on a terminal, progress
 * lines of one kind ("Fetched 1.2 MB (45%)", "Extracted 300 files...") replace each other
 * on one line, with a bar when the line carries a percentage; anywhere else the bytes are
 * passed through exactly as they came. It writes only to the FILE it is given. */
#ifndef KLEE_PROGRESS_H
#define KLEE_PROGRESS_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PROGRESS_BAR_WIDTH 30

typedef struct progress {
    FILE *out;
    bool tty;      /* render in place; false = pass-through */
    size_t width;  /* terminal columns (0 = unknown: no cut) */
    kl_buf line;   /* tty: the incomplete line received so far */
    char kind[32]; /* tty: kind of the progress line shown in place, "" if none */
} progress;

void progress_init(progress *p, FILE *out, bool tty, size_t width);

/* Feed output bytes (any chunking). */
void progress_feed(progress *p, const void *data, size_t n);

/* End of the stream: print a pending incomplete line and end an in-place line with "\n"
 * (tty). Frees the buffer; p may be initialised again. */
void progress_finish(progress *p);

/* Pure helpers (tested). Is this line (without its "\n") a progress line? Its kind is its
 * first word: "Fetched ..." and "Extracted ..." lines are, and so is any line ending in a
 * percentage "(NN%)". kind gets the first word (cut to fit). */
bool progress_line_kind(const char *line, size_t n, char *kind, size_t kind_size);

/* The percentage in "(NN%)" / "(NN.N%)" in the line, or -1. */
int progress_line_percent(const char *line, size_t n);

/* The in-place rendering of a progress line: "\r\033[K" + the line (cut to width - 1 - the
 * bar) + "  [=====>    ]" when it has a percentage. Caller frees. */
char *progress_render_line(const char *line, size_t n, size_t width);

#endif
