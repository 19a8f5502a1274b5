/* klee output rendering: tables, durations, pretty JSON (KLEE-CLI.md §4).
 *
 * Pure functions that build strings; they never print and never look at the terminal
 * themselves, so that tests can pin every byte. The caller (cli/common.c) decides the
 * theme and whether colour is on. */
#ifndef KLEE_RENDER_H
#define KLEE_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef enum {
    RENDER_FANCY = 0, /* rich box.SIMPLE look: 1-space indent, 3-space gaps, ─ rule */
    RENDER_SIMPLE,    /* rich box.ASCII look: " a | b ", "---+---" rule */
} render_theme;

typedef struct render_opts {
    render_theme theme;
    bool color; /* ANSI styles on (only when stdout is a terminal) */
} render_opts;

typedef enum {
    RENDER_LEFT = 0,
    RENDER_CENTER,
    RENDER_RIGHT,
} render_align;

typedef struct render_column {
    const char *header;
    const char *style; /* ANSI SGR parameters for cells, e.g. "1;38;5;122"; NULL = none */
    render_align align;
    size_t min_width; /* 0 = none */
    size_t max_width; /* 0 = none; longer cells are cut and end with "…" */
} render_column;

/* Render a table: header, rule, rows (cells[row * ncols + col], NULL = empty).
 * Returns a NUL-terminated string ending in "\n" (caller frees). */
char *render_table(const render_column *cols, size_t ncols, char *const *cells, size_t nrows,
                   const render_opts *opts);

/* Display width of a UTF-8 string (one column per code point). */
size_t render_width(const char *s);

/* The original's human_duration: "Less than a second", "1 second", "N seconds",
 * "About a minute", "N minutes", "About an hour", "N hours", "N days", "N weeks",
 * "N months", "N years". Writes into out (at least 32 bytes). */
void render_human_duration(long long seconds, char *out, size_t size);

/* Parse an ISO-8601 timestamp ("2023-09-14T21:21:57.990515Z", offsets "+02:00",
 * no zone = UTC) into seconds since the epoch. Returns 0 or -1 if malformed. */
int render_parse_iso8601(const char *s, double *epoch);

/* human_duration(now - created) + " ago" (now in seconds since the epoch, with
 * fraction); a malformed timestamp is returned as is.
 * Caller frees. */
char *render_created_ago(const char *iso, double now);

/* Pretty JSON, 2-space indent, keys sorted, ending in "\n" (caller frees). */
char *render_json_pretty(const json_t *j);

#endif
