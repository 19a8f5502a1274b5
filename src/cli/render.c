/* klee output rendering (see render.h). Builds strings only; never prints. */
#include "cli/render.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t render_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

/* Byte length of the first `cols` code points of s. */
static size_t prefix_bytes(const char *s, size_t cols)
{
    size_t n = 0, w = 0;
    while (s[n]) {
        if (((unsigned char)s[n] & 0xC0) != 0x80) {
            if (w == cols)
                break;
            w++;
        }
        n++;
    }
    return n;
}

/* The cell as it will be shown: cut to max_width with a trailing "…". */
static char *cell_text(const render_column *col, const char *s)
{
    if (!s)
        s = "";
    if (col->max_width > 0 && render_width(s) > col->max_width) {
        size_t keep = prefix_bytes(s, col->max_width - 1);
        char *out = xmalloc(keep + sizeof("…"));
        memcpy(out, s, keep);
        memcpy(out + keep, "…", sizeof("…"));
        return out;
    }
    return xstrdup(s);
}

static void put_repeat(kl_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kl_buf_puts(b, s);
}

static void put_cell(kl_buf *b, const char *text, size_t width, render_align align,
                     const char *style)
{
    size_t w = render_width(text);
    size_t excess = width > w ? width - w : 0;
    size_t left = 0;
    if (align == RENDER_RIGHT)
        left = excess;
    else if (align == RENDER_CENTER)
        left = excess / 2;
    put_repeat(b, " ", left);
    if (style && *style)
        kl_buf_printf(b, "\033[%sm%s\033[0m", style, text);
    else
        kl_buf_puts(b, text);
    put_repeat(b, " ", excess - left);
}

char *render_table(const render_column *cols, size_t ncols, char *const *cells, size_t nrows,
                   const render_opts *opts)
{
    bool simple = opts && opts->theme == RENDER_SIMPLE;
    bool color = opts && opts->color;
    _cleanup_free_ size_t *width = xcalloc(ncols ? ncols : 1, sizeof(size_t));
    char **text = xcalloc(nrows * ncols + 1, sizeof(char *));

    for (size_t c = 0; c < ncols; c++) {
        width[c] = render_width(cols[c].header);
        if (width[c] < cols[c].min_width)
            width[c] = cols[c].min_width;
    }
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            char *t = cell_text(&cols[c], cells[r * ncols + c]);
            text[r * ncols + c] = t;
            if (render_width(t) > width[c])
                width[c] = render_width(t);
        }

    /* Between two columns: right padding, the box's vertical (" " or "|"), left padding. */
    const char *sep = simple ? " | " : "   ";
    kl_buf b = KL_BUF_INIT;

    kl_buf_puts(&b, " ");
    for (size_t c = 0; c < ncols; c++) {
        if (c > 0)
            kl_buf_puts(&b, sep);
        put_cell(&b, cols[c].header, width[c], cols[c].align, color ? "1" : NULL);
    }
    kl_buf_puts(&b, " \n");

    for (size_t c = 0; c < ncols; c++) {
        if (c > 0)
            kl_buf_puts(&b, simple ? "+" : "─");
        put_repeat(&b, simple ? "-" : "─", width[c] + 2);
    }
    kl_buf_puts(&b, "\n");

    for (size_t r = 0; r < nrows; r++) {
        kl_buf_puts(&b, " ");
        for (size_t c = 0; c < ncols; c++) {
            if (c > 0)
                kl_buf_puts(&b, sep);
            put_cell(&b, text[r * ncols + c], width[c], cols[c].align,
                     color ? cols[c].style : NULL);
        }
        kl_buf_puts(&b, " \n");
    }
    strv_free(text);
    return kl_buf_steal(&b);
}

void render_human_duration(long long seconds, char *out, size_t size)
{
    /* Same steps and roundings as the original's utils.human_duration. */
    if (seconds < 1) {
        snprintf(out, size, "Less than a second");
        return;
    }
    if (seconds == 1) {
        snprintf(out, size, "1 second");
        return;
    }
    if (seconds < 60) {
        snprintf(out, size, "%lld seconds", seconds);
        return;
    }
    long long minutes = seconds / 60;
    if (minutes == 1) {
        snprintf(out, size, "About a minute");
        return;
    }
    if (minutes < 60) {
        snprintf(out, size, "%lld minutes", minutes);
        return;
    }
    long long hours = (long long)((double)minutes / 60.0 + 0.5);
    if (hours == 1)
        snprintf(out, size, "About an hour");
    else if (hours < 48)
        snprintf(out, size, "%lld hours", hours);
    else if (hours < 24 * 7 * 2)
        snprintf(out, size, "%lld days", hours / 24);
    else if (hours < 24 * 30 * 2)
        snprintf(out, size, "%lld weeks", hours / 24 / 7);
    else if (hours < 24 * 365 * 2)
        snprintf(out, size, "%lld months", hours / 24 / 30);
    else
        snprintf(out, size, "%lld years", hours / 24 / 365);
}

int render_parse_iso8601(const char *s, double *epoch)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        p = s ? strptime(s, "%Y-%m-%d %H:%M:%S", &tm) : NULL;
    if (!p)
        return -1;
    double frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int hh, mm = 0, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) == 2 ||
            sscanf(p + 1, "%2d%2d%n", &hh, &mm, &n) == 2) {
            p += 1 + n;
        } else {
            return -1;
        }
        offset = sign * (hh * 3600L + mm * 60L);
    }
    if (*p != '\0')
        return -1;
    time_t t = timegm(&tm);
    *epoch = (double)t - (double)offset + frac;
    return 0;
}

char *render_created_ago(const char *iso, double now)
{
    double created;
    if (render_parse_iso8601(iso, &created) < 0)
        return xstrdup(iso ? iso : "");
    char d[64];
    /* int() in Python truncates towards zero; a future timestamp gives "Less than a second". */
    render_human_duration((long long)(now - created), d, sizeof(d));
    return xasprintf("%s ago", d);
}

char *render_json_pretty(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        s = xstrdup("null");
    char *out = xasprintf("%s\n", s);
    free(s);
    return out;
}
