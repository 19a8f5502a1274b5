/* HTTP/1.1 request parsing (see httpparse.h). */
#include "api/httpparse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ssize_t refuse(http_refusal *why, int status, const char *message)
{
    why->status = status;
    why->message = message;
    return -1;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if (isalnum(c))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* Field values: visible characters, obs-text, spaces and tabs; no other control bytes. */
static bool is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int http_percent_decode(char *s, bool plus_is_space)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = hexval((unsigned char)r[1]);
            int lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
            if (lo < 0)
                return -1;
            int v = hi * 16 + lo;
            if (v == 0)
                return -1;
            *w++ = (char)v;
            r += 2;
        } else if (*r == '+' && plus_is_space) {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

/* The next line of buf[*pos..len): NUL-terminated in place (CR LF or LF removed). NULL when
 * no complete line is there yet. */
static char *next_line(char *buf, size_t len, size_t *pos, bool *bad)
{
    size_t start = *pos;
    char *nl = memchr(buf + start, '\n', len - start);
    if (!nl)
        return NULL;
    size_t end = (size_t)(nl - buf);
    *pos = end + 1;
    if (end > start && buf[end - 1] == '\r')
        end--;
    if (memchr(buf + start, '\0', end - start) || memchr(buf + start, '\r', end - start))
        *bad = true; /* a NUL or a bare CR inside a line */
    buf[end] = '\0';
    return buf + start;
}

static ssize_t parse_request_line(char *line, http_head *h, http_refusal *why)
{
    char *sp1 = strchr(line, ' ');
    if (!sp1)
        return refuse(why, 400, "malformed request line");
    char *sp2 = strchr(sp1 + 1, ' ');
    if (!sp2 || strchr(sp2 + 1, ' '))
        return refuse(why, 400, "malformed request line");
    *sp1 = *sp2 = '\0';
    char *target = sp1 + 1, *version = sp2 + 1;
    if (!is_token(line))
        return refuse(why, 400, "malformed request line");
    if (strncmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char)version[5]) ||
        version[6] != '.' || !isdigit((unsigned char)version[7]) || version[8])
        return refuse(why, 400, "malformed request line");
    if (version[5] != '1')
        return refuse(why, 505, "HTTP version not supported (kleened speaks HTTP/1.1)");
    h->minor = version[7] == '0' ? 0 : 1;
    /* absolute-form (RFC 9112 §3.2.2), which servers must accept: the authority is dropped */
    size_t scheme = strncasecmp(target, "http://", 7) == 0    ? 7
                    : strncasecmp(target, "https://", 8) == 0 ? 8
                                                              : 0;
    if (scheme) {
        char *slash = strchr(target + scheme, '/');
        char *qm = strchr(target + scheme, '?');
        if (!slash || (qm && qm < slash))
            return refuse(why, 400, "an absolute request target needs a path");
        target = slash;
    }
    if (target[0] != '/')
        return refuse(why, 400, "the request target must be a path starting with '/'");
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return refuse(why, 400, "malformed request target");
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    char *frag = strchr(q ? q + 1 : target, '#');
    if (frag) /* a fragment is never sent by well-behaved clients; drop it */
        *frag = '\0';
    h->query = q ? q + 1 : NULL;
    if (http_percent_decode(target, false) < 0)
        return refuse(why, 400, "malformed percent-encoding in the request path");
    h->method = line;
    h->path = target;
    return 0;
}

static ssize_t parse_header_line(char *line, http_head *h, http_refusal *why)
{
    if (line[0] == ' ' || line[0] == '\t')
        return refuse(why, 400, "obsolete header line folding is not accepted");
    char *colon = strchr(line, ':');
    if (!colon)
        return refuse(why, 400, "malformed header field (no colon)");
    *colon = '\0';
    if (!is_token(line))
        return refuse(why, 400, "malformed header field name");
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
    if (!is_field_value(v))
        return refuse(why, 400, "malformed header field value");
    if (h->n_headers >= HTTP_MAX_HEADERS)
        return refuse(why, 431, "too many header fields");
    h->headers[h->n_headers++] = (http_header){.name = line, .value = v};
    return 0;
}

size_t http_head_end(const char *buf, size_t len)
{
    size_t pos = 0;
    bool seen_line = false;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            return 0;
        size_t line_end = (size_t)(nl - buf);
        size_t content = line_end - pos - (line_end > pos && buf[line_end - 1] == '\r');
        pos = line_end + 1;
        if (content == 0 && seen_line)
            return pos;
        if (content != 0)
            seen_line = true;
    }
}

ssize_t http_parse_head(char *buf, size_t len, http_head *h, http_refusal *why)
{
    size_t end = http_head_end(buf, len);
    if (!end)
        return 0;
    size_t pos = 0;
    memset(h, 0, sizeof(*h));
    pos = 0;
    bool bad = false;
    char *line;
    do { /* leading empty lines */
        line = next_line(buf, end, &pos, &bad);
    } while (line && !*line && !bad);
    if (!line || bad)
        return refuse(why, 400, "malformed request line");
    if (parse_request_line(line, h, why) < 0)
        return -1;
    while ((line = next_line(buf, end, &pos, &bad)) && *line) {
        if (bad)
            return refuse(why, 400, "malformed header field");
        if (parse_header_line(line, h, why) < 0)
            return -1;
    }
    if (bad)
        return refuse(why, 400, "malformed header field");
    return (ssize_t)end;
}

const char *http_header_get(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

/* Whether a comma-separated header list holds `token` (case-insensitive). */
static bool list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

int http_body_framing(const http_head *h, http_body_kind *kind, uint64_t *length, http_refusal *why)
{
    *kind = HTTP_BODY_NONE;
    *length = 0;
    const char *te = NULL, *cl = NULL;
    for (size_t i = 0; i < h->n_headers; i++) {
        const http_header *f = &h->headers[i];
        if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
            if (te)
                return (int)refuse(why, 501, "unsupported transfer coding (only chunked)");
            te = f->value;
        } else if (strcasecmp(f->name, "Content-Length") == 0) {
            /* digits only: no sign, no spaces inside, no list */
            const char *v = f->value;
            if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
                return (int)refuse(why, 400, "invalid Content-Length");
            if (cl && strtoull(cl, NULL, 10) != strtoull(v, NULL, 10))
                return (int)refuse(why, 400, "conflicting Content-Length values");
            cl = v;
        }
    }
    if (te) {
        if (cl)
            return (int)refuse(why, 400, "both Transfer-Encoding and Content-Length are given");
        if (strcasecmp(te, "chunked") != 0)
            return (int)refuse(why, 501, "unsupported transfer coding (only chunked)");
        *kind = HTTP_BODY_CHUNKED;
        return 0;
    }
    if (cl) {
        *length = strtoull(cl, NULL, 10);
        *kind = *length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
    }
    return 0;
}

bool http_keep_alive(const http_head *h)
{
    const char *c = http_header_get(h, "Connection");
    if (h->minor == 0)
        return false;
    return !(c && list_has(c, "close"));
}

enum {
    CH_SIZE,    /* hex digits of the chunk size */
    CH_EXT,     /* ";ext" after the size, up to the line end */
    CH_SIZE_LF, /* CR seen after the size line */
    CH_DATA,    /* chunk data */
    CH_DATA_CR, /* CR after the data */
    CH_DATA_LF, /* LF after the data */
    CH_TRAILER, /* a trailer line (or the final empty line) */
    CH_TRAILER_LF,
    CH_DONE,
};

#define CH_MAX_LINE 4096

ssize_t http_chunked_feed(http_chunked *c, const char *in, size_t n, http_chunk_sink out, void *ctx,
                          bool *done, http_refusal *why)
{
    size_t i = 0;
    *done = c->state == CH_DONE;
    while (i < n && c->state != CH_DONE) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CH_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (c->digits >= 15)
                    return refuse(why, 413, "chunk size too large");
                c->remaining = c->remaining * 16 + (uint64_t)v;
                c->digits++;
                i++;
                break;
            }
            if (!c->digits)
                return refuse(why, 400, "malformed chunk size");
            if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CH_EXT;
                c->line_len = 0;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (ch == '\n') {
                c->state = c->remaining ? CH_DATA : CH_TRAILER;
                c->line_len = 0;
            } else {
                return refuse(why, 400, "malformed chunk size");
            }
            i++;
            break;
        }
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n') {
                c->state = c->remaining ? CH_DATA : CH_TRAILER;
                c->line_len = 0;
            } else if (++c->line_len > CH_MAX_LINE || (ch < 0x20 && ch != '\t'))
                return refuse(why, 400, "malformed chunk extension");
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return refuse(why, 400, "malformed chunk size line");
            c->state = c->remaining ? CH_DATA : CH_TRAILER;
            c->line_len = 0;
            i++;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > c->remaining)
                take = (size_t)c->remaining;
            out(ctx, in + i, take);
            i += take;
            c->remaining -= take;
            if (!c->remaining)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch == '\r')
                c->state = CH_DATA_LF;
            else if (ch == '\n') {
                c->state = CH_SIZE;
                c->digits = 0;
            } else
                return refuse(why, 400, "malformed chunk: data longer than its size");
            i++;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return refuse(why, 400, "malformed chunk: data longer than its size");
            c->state = CH_SIZE;
            c->digits = 0;
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (ch == '\n') {
                if (c->line_len == 0)
                    c->state = CH_DONE;
                c->line_len = 0;
            } else if (++c->line_len > CH_MAX_LINE || (ch < 0x20 && ch != '\t')) {
                return refuse(why, 400, "malformed chunked trailer");
            }
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return refuse(why, 400, "malformed chunked trailer");
            if (c->line_len == 0)
                c->state = CH_DONE;
            else
                c->state = CH_TRAILER;
            c->line_len = 0;
            i++;
            break;
        }
    }
    *done = c->state == CH_DONE;
    return (ssize_t)i;
}

int http_parse_query(const char *query, char *storage, const char **keys, const char **values,
                     size_t max, http_refusal *why)
{
    strcpy(storage, query);
    size_t n = 0;
    char *save = NULL;
    for (char *piece = strtok_r(storage, "&", &save); piece; piece = strtok_r(NULL, "&", &save)) {
        if (n >= max)
            return (int)refuse(why, 400, "too many query parameters");
        char *eq = strchr(piece, '=');
        char *val = piece + strlen(piece); /* "" inside storage: decoded in place below */
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        if (http_percent_decode(piece, true) < 0 || http_percent_decode(val, true) < 0)
            return (int)refuse(why, 400, "malformed percent-encoding in the query string");
        keys[n] = piece;
        values[n] = val;
        n++;
    }
    return (int)n;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
