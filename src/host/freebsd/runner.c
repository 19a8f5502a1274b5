/* The seam's front door (runner.h): the calls every module of the FreeBSD layer uses, and the
 * quoting that the golden files share with error messages. No process is started here. */
#include "host/freebsd/runner.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

void fb_result_free(fb_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static void result_fill(fb_result *res)
{
    if (!res->out)
        res->out = xstrdup("");
    if (!res->err)
        res->err = xstrdup("");
}

int fb_run(fb_runner *r, const char *const *argv, const char *input, fb_result *res, kl_error *err)
{
    fb_result_free(res);
    res->status = 0;
    if (r->ops->run(r, argv, input, res, err) < 0)
        return -1;
    result_fill(res);
    return 0;
}

int fb_run_pipe(fb_runner *r, const char *const *argv1, const char *const *argv2, fb_result *res,
                kl_error *err)
{
    fb_result_free(res);
    res->status = 0;
    if (r->ops->run_pipe(r, argv1, argv2, res, err) < 0)
        return -1;
    result_fill(res);
    return 0;
}

int fb_spawn(fb_runner *r, const char *const *argv, fb_proc *out, kl_error *err)
{
    out->pid = -1;
    out->in_fd = out->out_fd = -1;
    out->priv = NULL;
    return r->ops->spawn(r, argv, out, err);
}

int fb_wait(fb_runner *r, fb_proc *p, int timeout_ms, int *status, kl_error *err)
{
    return r->ops->wait(r, p, timeout_ms, status, err);
}

int fb_kill(fb_runner *r, fb_proc *p, int sig, kl_error *err)
{
    return r->ops->kill(r, p, sig, err);
}

int fb_write_file(fb_runner *r, const char *path, const char *data, size_t len, unsigned mode,
                  kl_error *err)
{
    return r->ops->write_file(r, path, data, len, mode, err);
}

int fb_make_path(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err)
{
    return r->ops->make_path(r, root, rel, file, err);
}

void fb_sleep_ms(fb_runner *r, int ms)
{
    r->ops->sleep_ms(r, ms);
}

void fb_runner_free(fb_runner *r)
{
    if (r)
        r->ops->free(r);
}

char *fb_trim(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

int fb_run_ok(fb_runner *r, const char *const *argv, fb_result *res, kl_error *err)
{
    _cleanup_result_ fb_result local = FB_RESULT_INIT;
    fb_result *use = res ? res : &local;
    if (fb_run(r, argv, NULL, use, err) < 0)
        return -1;
    if (use->status == 0)
        return 0;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    _cleanup_free_ char *msg = fb_trim(*use->err ? use->err : use->out);
    size_t bl = strlen(base);
    if (!strncmp(msg, base, bl) && msg[bl] == ':')
        return kl_error_set(err, EIO, "%s", msg); /* the command named itself already */
    return kl_error_set(err, EIO, "%s: %s", base, *msg ? msg : "failed");
}

static bool is_bare(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("_./:=@%+,-", *p))
            return false;
    }
    return true;
}

char *fb_argv_quote(const char *arg)
{
    if (is_bare(arg))
        return xstrdup(arg);
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "'");
    for (const char *p = arg; *p; p++) {
        if (*p == '\'')
            kl_buf_puts(&b, "'\\''");
        else if (*p == '\n')
            kl_buf_puts(&b, "'$'\\n''"); /* keep one golden line per command */
        else
            kl_buf_append(&b, p, 1);
    }
    kl_buf_puts(&b, "'");
    return kl_buf_steal(&b);
}

char *fb_argv_format(const char *const *argv)
{
    kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; argv[i]; i++) {
        _cleanup_free_ char *q = fb_argv_quote(argv[i]);
        if (i)
            kl_buf_puts(&b, " ");
        kl_buf_puts(&b, q);
    }
    return kl_buf_steal(&b);
}
