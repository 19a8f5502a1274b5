/* Progress text rendering for streamed server output (see progress.h). Pass-through when
 * not on a terminal, so that piped output stays byte-exact. */
#include "cli/progress.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void progress_init(progress *p, FILE *out, bool tty, size_t width)
{
    memset(p, 0, sizeof(*p));
    p->out = out;
    p->tty = tty;
    p->width = width;
    p->line = (kl_buf)KL_BUF_INIT;
}

int progress_line_percent(const char *line, size_t n)
{
    /* the last "(" ... "%)" of the line */
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n < 4 || line[n - 1] != ')' || line[n - 2] != '%')
        return -1;
    size_t i = n - 2;
    while (i > 0 && (isdigit((unsigned char)line[i - 1]) || line[i - 1] == '.'))
        i--;
    if (i == 0 || line[i - 1] != '(' || i == n - 2 || !isdigit((unsigned char)line[i]))
        return -1;
    int v = 0;
    for (size_t k = i; k < n - 2 && isdigit((unsigned char)line[k]); k++)
        v = v * 10 + (line[k] - '0');
    return v > 100 ? 100 : v;
}

bool progress_line_kind(const char *line, size_t n, char *kind, size_t kind_size)
{
    size_t w = 0;
    while (w < n && line[w] != ' ')
        w++;
    size_t k = w < kind_size - 1 ? w : kind_size - 1;
    memcpy(kind, line, k);
    kind[k] = '\0';
    if ((w == 7 && memcmp(line, "Fetched", 7) == 0) ||
        (w == 9 && memcmp(line, "Extracted", 9) == 0))
        return w < n;
    return progress_line_percent(line, n) >= 0;
}

char *progress_render_line(const char *line, size_t n, size_t width)
{
    while (n > 0 && line[n - 1] == '\r')
        n--;
    int pct = progress_line_percent(line, n);
    size_t bar = pct >= 0 ? PROGRESS_BAR_WIDTH + 4 : 0; /* "  [" + bar + "]" */
    if (width > 0) {
        size_t room = width > bar + 1 ? width - bar - 1 : 0;
        if (n > room)
            n = room;
        /* do not cut a UTF-8 sequence */
        while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
            n--;
    }
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "\r\033[K");
    kl_buf_append(&b, line, n);
    if (pct >= 0) {
        size_t fill = (size_t)pct * PROGRESS_BAR_WIDTH / 100;
        kl_buf_puts(&b, "  [");
        for (size_t i = 0; i < PROGRESS_BAR_WIDTH; i++)
            kl_buf_puts(&b, i < fill ? "=" : (i == fill ? ">" : " "));
        kl_buf_puts(&b, "]");
    }
    return kl_buf_steal(&b);
}

/* End an in-place line, if one is shown. */
static void end_inplace(progress *p)
{
    if (p->kind[0]) {
        fputc('\n', p->out);
        p->kind[0] = '\0';
    }
}

static void emit_line(progress *p, const char *line, size_t n)
{
    char kind[sizeof(p->kind)];
    if (progress_line_kind(line, n, kind, sizeof(kind))) {
        if (p->kind[0] && strcmp(kind, p->kind) != 0)
            end_inplace(p);
        char *s = progress_render_line(line, n, p->width);
        fputs(s, p->out);
        free(s);
        snprintf(p->kind, sizeof(p->kind), "%s", kind[0] ? kind : "-");
        return;
    }
    end_inplace(p);
    fwrite(line, 1, n, p->out);
    fputc('\n', p->out);
}

void progress_feed(progress *p, const void *data, size_t n)
{
    if (!p->tty) {
        fwrite(data, 1, n, p->out);
        fflush(p->out);
        return;
    }
    kl_buf_append(&p->line, data, n);
    for (;;) {
        char *nl = memchr(p->line.data, '\n', p->line.len);
        if (!nl)
            break;
        size_t len = (size_t)(nl - p->line.data);
        emit_line(p, p->line.data, len);
        kl_buf_consume(&p->line, len + 1);
    }
    fflush(p->out);
}

void progress_finish(progress *p)
{
    if (p->tty) {
        if (p->line.len > 0) {
            end_inplace(p);
            fwrite(p->line.data, 1, p->line.len, p->out);
            fputc('\n', p->out);
        } else {
            end_inplace(p);
        }
    }
    fflush(p->out);
    kl_buf_free(&p->line);
}
