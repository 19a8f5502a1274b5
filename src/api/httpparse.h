/* HTTP/1.1 request parsing for kleened's own server (RFC 9112): the request head, chunked
 * bodies, percent-decoding and query strings. Pure functions over buffers, no I/O, so that
 * they can be unit-tested and fuzzed on their own. Anything malformed is refused with the
 * status the server answers and a short message; nothing is guessed. */
#ifndef KL_HTTPPARSE_H
#define KL_HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_QUERY_ARGS 32

typedef struct http_header {
    const char *name;  /* as sent; compare with strcasecmp */
    const char *value; /* surrounding whitespace removed */
} http_header;

typedef struct http_head {
    const char *method;
    char *path;        /* percent-decoded, never contains NUL bytes */
    const char *query; /* raw text after '?', or NULL */
    int minor;         /* HTTP/1.<minor>: 0 or 1 */
    http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;
} http_head;

/* A refusal: the status to answer and a constant message. */
typedef struct http_refusal {
    int status;
    const char *message;
} http_refusal;

/* The length of the request head at the start of buf (up to and including the empty line that
 * ends it), or 0 when it is not complete yet. Empty lines before the request line are part of
 * the head. Nothing is modified. */
size_t http_head_end(const char *buf, size_t len);

/* Parse the request head at the start of buf[0..len), in place (tokens are NUL-terminated
 * inside buf, and the head points into it). Lines end with CRLF or a bare LF; empty lines
 * before the request line are skipped (RFC 9112 §2.2).
 * Returns the length of the head including its empty line; 0 when the head is incomplete
 * (the caller reads more, up to its own limit: 431); -1 with *why filled when it is
 * malformed. */
ssize_t http_parse_head(char *buf, size_t len, http_head *h, http_refusal *why);

/* The value of a header (the first one with that name), or NULL. */
const char *http_header_get(const http_head *h, const char *name);

/* How the body is framed (RFC 9112 §6): by Content-Length, chunked, or absent. */
typedef enum { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED } http_body_kind;

/* Read the framing headers. Refused: Transfer-Encoding other than a lone "chunked" (501),
 * both Transfer-Encoding and Content-Length, a Content-Length that is not a decimal number,
 * or several that differ (400). */
int http_body_framing(const http_head *h, http_body_kind *kind, uint64_t *length,
                      http_refusal *why);

/* Whether the connection stays open after this request: HTTP/1.1 unless "Connection: close",
 * HTTP/1.0 only with "Connection: keep-alive" (which kleened does not honour: it closes). */
bool http_keep_alive(const http_head *h);

/* Incremental decoder of a chunked body. */
typedef struct http_chunked {
    int state;
    uint64_t remaining; /* bytes of the current chunk still to come */
    unsigned digits;
    size_t line_len; /* length of the current extension or trailer line */
} http_chunked;

/* Feed in[0..n): the data bytes found are appended through out (called with pieces of in).
 * Returns the number of bytes of `in` consumed (less than n only when the body ended:
 * the rest belongs to the next request), or -1 with *why on malformed input. *done is set at
 * the end of the body (after the trailer). */
typedef void (*http_chunk_sink)(void *ctx, const char *data, size_t n);
ssize_t http_chunked_feed(http_chunked *c, const char *in, size_t n, http_chunk_sink out, void *ctx,
                          bool *done, http_refusal *why);

/* Percent-decode s in place. With plus_is_space, '+' becomes ' ' (query strings). Returns -1
 * for a malformed escape or a decoded NUL byte. */
int http_percent_decode(char *s, bool plus_is_space);

/* Split a raw query string (copied into storage, which must hold strlen(query)+1 bytes) into
 * decoded key/value pairs in arrival order; a key without '=' gets "". Empty pieces ("a=1&&b")
 * are skipped. Returns the count, or -1 with *why (400) for too many pairs or bad escapes. */
int http_parse_query(const char *query, char *storage, const char **keys, const char **values,
                     size_t max, http_refusal *why);

/* The reason phrase of a status code ("OK", "Not Found" ...), "Unknown" for others. */
const char *http_reason(int status);

#endif
