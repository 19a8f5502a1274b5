/* The replaying runner (replay.h). Parses a golden file into steps and answers the layer's
 * calls from them, comparing each call with the next step. It must not: run anything (its
 * only action on the system is a `%` effect: a directory made or removed where a replayed
 * `zfs create`/`clone`/`destroy` would have mounted or unmounted a dataset). */
#include "host/freebsd/replay.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

typedef struct step {
    char kind; /* '$' run (pipe2 set: a pipe), '&' spawn, '=' write, '+'/'f' make_path */
    char *line;
    char *pipe2;
    kl_buf out, err;
    kl_buf content; /* '=': the file; '$': the expected stdin */
    bool has_content;
    kl_buf effects; /* "mkdir PATH" / "rmdir PATH" lines, done once the step is matched */
    int status;
    unsigned mode;
    int lineno;
    bool held;     /* '&' with '~': runs until a later step releases it */
    bool releases; /* '$' with '~': the oldest held process ends after this command */
} step;

/* A spawned process of the replay: its canned output is on a real pipe (out_fd), which stays
 * open while it is held, and it "ends" when its pipe is closed. */
typedef struct live {
    step *s;
    int wfd; /* our end of its output pipe, -1 once it ended */
    bool ended;
} live;

typedef struct replay {
    fb_runner base;
    char *golden;
    step *steps;
    size_t n, next;
    bool failed;
    char failure[900];
    kl_buf transcript;
    int next_pid;
    /* {NAME} captures: ids kleened made up (random), bound where first seen */
    char *var_names[32], *var_values[32];
    size_t n_vars;
    live **lives;
    size_t n_lives;
} replay;

/* The length of a "{NAME}" token at p ([A-Z0-9_]+ between braces), or 0. */
static size_t token_len(const char *p)
{
    if (*p != '{')
        return 0;
    size_t i = 1;
    while (isupper((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || p[i] == '_')
        i++;
    return i > 1 && p[i] == '}' ? i + 1 : 0;
}

static const char *var_get(const replay *rp, const char *name, size_t n)
{
    for (size_t i = 0; i < rp->n_vars; i++)
        if (strlen(rp->var_names[i]) == n && !strncmp(rp->var_names[i], name, n))
            return rp->var_values[i];
    return NULL;
}

/* Whether `act` is `exp`, where each {NAME} of exp stands for an id (12 of [0-9a-f]): the
 * first one seen binds NAME, later ones must be the same id. */
static bool line_match(replay *rp, const char *exp, const char *act)
{
    while (*exp) {
        size_t t = token_len(exp);
        if (!t) {
            if (*exp++ != *act++)
                return false;
            continue;
        }
        const char *val = var_get(rp, exp + 1, t - 2);
        if (val) {
            if (strncmp(act, val, strlen(val)) != 0)
                return false;
            act += strlen(val);
        } else {
            for (size_t i = 0; i < 12; i++)
                if (!isxdigit((unsigned char)act[i]) || isupper((unsigned char)act[i]))
                    return false;
            if (rp->n_vars == KL_ARRAY_SIZE(rp->var_names))
                return false;
            rp->var_names[rp->n_vars] = xstrndup(exp + 1, t - 2);
            rp->var_values[rp->n_vars++] = xstrndup(act, 12);
            act += 12;
        }
        exp += t;
    }
    return *act == '\0';
}

/* `text` with every bound {NAME} replaced by its id (canned outputs, effects). */
static char *subst(const replay *rp, const char *text)
{
    kl_buf b = KL_BUF_INIT;
    for (const char *p = text; *p;) {
        size_t t = token_len(p);
        const char *val = t ? var_get(rp, p + 1, t - 2) : NULL;
        if (val) {
            kl_buf_puts(&b, val);
            p += t;
        } else {
            kl_buf_append(&b, p, 1);
            p++;
        }
    }
    return b.data ? b.data : xstrdup("");
}

/* mkdir -p / rmdir of an effect line. */
static void do_effects(const replay *rp, const step *s)
{
    if (!s->effects.data)
        return;
    _cleanup_free_ char *all = subst(rp, s->effects.data);
    for (char *save = NULL, *ln = strtok_r(all, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(ln, "rmdir ", 6)) {
            rmdir(ln + 6);
            continue;
        }
        if (strncmp(ln, "mkdir ", 6) != 0)
            continue;
        char *path = ln + 6;
        for (char *q = path + 1; *q; q++) {
            if (*q != '/')
                continue;
            *q = '\0';
            mkdir(path, 0755);
            *q = '/';
        }
        mkdir(path, 0755);
    }
}

static int slurp(const char *path, kl_buf *b, kl_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return kl_error_errno(err, errno, "opening %s", path);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kl_buf_append(b, chunk, n);
    return 0;
}

static int parse(replay *rp, const char *path, kl_error *err)
{
    _cleanup_buf_ kl_buf text = KL_BUF_INIT;
    if (slurp(path, &text, err) < 0)
        return -1;
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    size_t cap = 0;
    step *cur = NULL;
    int lineno = 0;
    for (char *save = NULL, *ln = strtok_r(text.data ? text.data : (char[]){""}, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (ln[0] == '#' || ln[0] == '\0')
            continue;
        char *sp = strchr(ln, ' ');
        size_t taglen = sp ? (size_t)(sp - ln) : strlen(ln);
        const char *arg = sp ? sp + 1 : "";
        char tag[8] = {0};
        if (taglen >= sizeof(tag))
            return kl_error_set(err, EINVAL, "%s:%d: bad line '%s'", path, lineno, ln);
        memcpy(tag, ln, taglen);
        if (!strcmp(tag, "$") || !strcmp(tag, "&") || !strcmp(tag, "=") || !strcmp(tag, "+") ||
            !strcmp(tag, "+f")) {
            if (rp->n == cap) {
                cap = cap ? cap * 2 : 16;
                rp->steps = xrealloc(rp->steps, cap * sizeof(step));
            }
            cur = &rp->steps[rp->n++];
            memset(cur, 0, sizeof(*cur));
            cur->kind = !strcmp(tag, "+f") ? 'f' : tag[0];
            cur->lineno = lineno;
            if (cur->kind == '=') {
                const char *m = strrchr(arg, ' ');
                if (!m)
                    return kl_error_set(err, EINVAL, "%s:%d: '= PATH MODE'", path, lineno);
                cur->line = xstrndup(arg, (size_t)(m - arg));
                cur->mode = (unsigned)strtoul(m + 1, NULL, 8);
            } else {
                cur->line = xstrdup(arg);
            }
            continue;
        }
        if (!cur)
            return kl_error_set(err, EINVAL, "%s:%d: '%s' before any command", path, lineno, ln);
        if (!strcmp(tag, "$|")) {
            cur->pipe2 = xstrdup(arg);
        } else if (!strcmp(tag, ">")) {
            kl_buf_printf(&cur->out, "%s\n", arg);
        } else if (!strcmp(tag, "2>")) {
            kl_buf_printf(&cur->err, "%s\n", arg);
        } else if (!strcmp(tag, "><")) {
            _cleanup_free_ char *file = arg[0] == '/' ? xstrdup(arg) : xasprintf("%s/%s", dir, arg);
            if (slurp(file, &cur->out, err) < 0)
                return kl_error_prefix(err, "%s:%d", path, lineno);
        } else if (!strcmp(tag, "%")) {
            if (strncmp(arg, "mkdir /", 7) && strncmp(arg, "rmdir /", 7))
                return kl_error_set(err, EINVAL, "%s:%d: '%% mkdir|rmdir /PATH'", path, lineno);
            kl_buf_printf(&cur->effects, "%s\n", arg);
        } else if (!strcmp(tag, "?")) {
            cur->status = atoi(arg);
        } else if (!strcmp(tag, "~")) {
            if (cur->kind == '&')
                cur->held = true;
            else if (cur->kind == '$')
                cur->releases = true;
            else
                return kl_error_set(err, EINVAL, "%s:%d: '~' after neither '$' nor '&'", path,
                                    lineno);
        } else if (!strcmp(tag, "<|") || !strcmp(tag, "|")) {
            kl_buf_printf(&cur->content, "%s\n", arg);
            cur->has_content = true;
        } else if (!strcmp(tag, "\\")) {
            if (cur->content.len && cur->content.data[cur->content.len - 1] == '\n')
                cur->content.data[--cur->content.len] = '\0';
        } else {
            return kl_error_set(err, EINVAL, "%s:%d: unknown tag '%s'", path, lineno, tag);
        }
    }
    return 0;
}

static void fail(replay *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(replay *rp, const char *fmt, ...)
{
    if (rp->failed)
        return;
    rp->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->failure, sizeof(rp->failure), fmt, ap);
    va_end(ap);
}

static void add_content(kl_buf *t, const char *prefix, const char *data)
{
    const char *p = data;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        kl_buf_printf(t, "%s %.*s\n", prefix, (int)n, p);
        if (!nl) {
            kl_buf_puts(t, "\\ no newline\n");
            break;
        }
        p = nl + 1;
    }
}

/* Match the next step; NULL (and the replay failed) when it differs. */
static step *expect(replay *rp, char kind, const char *line, const char *pipe2, const char *content,
                    kl_error *err)
{
    const char *kname = kind == '$'   ? "$"
                        : kind == '&' ? "&"
                        : kind == '=' ? "="
                        : kind == '+' ? "+"
                                      : "+f";
    kl_buf_printf(&rp->transcript, "%s %s\n", kname, line);
    if (pipe2)
        kl_buf_printf(&rp->transcript, "$| %s\n", pipe2);
    if (content)
        add_content(&rp->transcript, kind == '=' ? "|" : "<|", content);
    if (rp->failed) {
        kl_error_set(err, EIO, "replay: stopped after a difference");
        return NULL;
    }
    if (rp->next >= rp->n) {
        fail(rp, "unexpected %s %s (the golden file has no more items)", kname, line);
        kl_error_set(err, EIO, "replay: %s", rp->failure);
        return NULL;
    }
    step *s = &rp->steps[rp->next];
    bool same = s->kind == kind && line_match(rp, s->line, line) && !!s->pipe2 == !!pipe2 &&
                (!pipe2 || line_match(rp, s->pipe2, pipe2));
    if (same && kind == '=')
        same = content && !strcmp(s->content.data ? s->content.data : "", content);
    if (same && kind == '$' && (s->has_content || (content && *content)))
        same = content && !strcmp(s->content.data ? s->content.data : "", content);
    if (!same) {
        fail(rp, "%s:%d: expected %s %s%s%s, got %s %s%s%s%s", rp->golden, s->lineno,
             s->kind == 'f' ? "+f" : (char[]){s->kind, 0}, s->line, s->pipe2 ? " | " : "",
             s->pipe2 ? s->pipe2 : "", kname, line, pipe2 ? " | " : "", pipe2 ? pipe2 : "",
             (content && s->kind == kind && !strcmp(s->line, line)) ? " (content differs)" : "");
        kl_error_set(err, EIO, "replay: %s", rp->failure);
        return NULL;
    }
    rp->next++;
    do_effects(rp, s);
    return s;
}

static void release_oldest(replay *rp);

static int rp_run(fb_runner *r, const char *const *argv, const char *input, fb_result *res,
                  kl_error *err)
{
    replay *rp = (replay *)r;
    _cleanup_free_ char *line = fb_argv_format(argv);
    step *s = expect(rp, '$', line, NULL, input, err);
    if (!s)
        return -1;
    if (s->releases)
        release_oldest(rp);
    res->status = s->status;
    res->out = subst(rp, s->out.data ? s->out.data : "");
    res->err = subst(rp, s->err.data ? s->err.data : "");
    return 0;
}

static int rp_run_pipe(fb_runner *r, const char *const *argv1, const char *const *argv2,
                       fb_result *res, kl_error *err)
{
    replay *rp = (replay *)r;
    _cleanup_free_ char *l1 = fb_argv_format(argv1);
    _cleanup_free_ char *l2 = fb_argv_format(argv2);
    step *s = expect(rp, '$', l1, l2, NULL, err);
    if (!s)
        return -1;
    res->status = s->status;
    res->out = subst(rp, s->out.data ? s->out.data : "");
    res->err = subst(rp, s->err.data ? s->err.data : "");
    return 0;
}

static void live_end(live *l)
{
    if (l->wfd >= 0)
        close(l->wfd);
    l->wfd = -1;
    l->ended = true;
}

static void release_oldest(replay *rp)
{
    for (size_t i = 0; i < rp->n_lives; i++)
        if (!rp->lives[i]->ended) {
            kl_buf_puts(&rp->transcript, "~\n");
            live_end(rp->lives[i]);
            return;
        }
    fail(rp, "a step releases a held process, but none is held");
}

static int rp_spawn(fb_runner *r, const char *const *argv, fb_proc *out, kl_error *err)
{
    replay *rp = (replay *)r;
    _cleanup_free_ char *line = fb_argv_format(argv);
    step *s = expect(rp, '&', line, NULL, NULL, err);
    if (!s)
        return -1;
    /* Its output on a real pipe (a canned output fits in a pipe's buffer). */
    int p[2];
    if (pipe(p) < 0)
        return kl_error_errno(err, errno, "replay: pipe");
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    if (s->out.len && write(p[1], s->out.data, s->out.len) != (ssize_t)s->out.len) {
        close(p[0]);
        close(p[1]);
        return kl_error_set(err, EIO, "replay: canned output too long for a pipe");
    }
    live *l = xcalloc(1, sizeof(*l));
    l->s = s;
    l->wfd = p[1];
    if (!s->held)
        live_end(l);
    rp->lives = xrealloc(rp->lives, (rp->n_lives + 1) * sizeof(*rp->lives));
    rp->lives[rp->n_lives++] = l;
    out->pid = rp->next_pid++;
    out->out_fd = p[0];
    out->priv = l;
    return 0;
}

static int rp_wait(fb_runner *r, fb_proc *p, int timeout_ms, int *status, kl_error *err)
{
    live *l = p->priv;
    if (l && !l->ended) {
        if (timeout_ms < 0)
            return kl_error_set(err, EDEADLK,
                                "replay: waiting forever for a held process (no step releases it)");
        return 0;
    }
    *status = l ? l->s->status : 0;
    return 1;
}

static int rp_kill(fb_runner *r, fb_proc *p, int sig, kl_error *err)
{
    replay *rp = (replay *)r;
    kl_buf_printf(&rp->transcript, "# kill %d\n", sig);
    return 0;
}

static int rp_write_file(fb_runner *r, const char *path, const char *data, size_t len,
                         unsigned mode, kl_error *err)
{
    replay *rp = (replay *)r;
    _cleanup_free_ char *content = xstrndup(data, len);
    step *s = expect(rp, '=', path, NULL, content, err);
    if (!s)
        return -1;
    if (s->mode != mode) {
        fail(rp, "%s:%d: %s written with mode %o, expected %o", rp->golden, s->lineno, path, mode,
             s->mode);
        return kl_error_set(err, EIO, "replay: %s", rp->failure);
    }
    return 0;
}

static int rp_make_path(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err)
{
    replay *rp = (replay *)r;
    _cleanup_free_ char *qr = fb_argv_quote(root), *ql = fb_argv_quote(rel);
    _cleanup_free_ char *line = xasprintf("%s %s", qr, ql);
    step *s = expect(rp, file ? 'f' : '+', line, NULL, NULL, err);
    if (!s)
        return -1;
    if (s->status != 0)
        return kl_error_set(err, EXDEV, "%s/%s: a symlink or not a directory on the way", root,
                            rel);
    return 0;
}

static void rp_sleep_ms(fb_runner *r, int ms) {}

static void rp_free(fb_runner *r)
{
    replay *rp = (replay *)r;
    for (size_t i = 0; i < rp->n; i++) {
        free(rp->steps[i].line);
        free(rp->steps[i].pipe2);
        kl_buf_free(&rp->steps[i].out);
        kl_buf_free(&rp->steps[i].err);
        kl_buf_free(&rp->steps[i].content);
        kl_buf_free(&rp->steps[i].effects);
    }
    for (size_t i = 0; i < rp->n_vars; i++) {
        free(rp->var_names[i]);
        free(rp->var_values[i]);
    }
    free(rp->steps);
    for (size_t i = 0; i < rp->n_lives; i++) {
        live_end(rp->lives[i]);
        free(rp->lives[i]);
    }
    free(rp->lives);
    free(rp->golden);
    kl_buf_free(&rp->transcript);
    free(rp);
}

static const fb_runner_ops replay_ops = {
    .run = rp_run,
    .run_pipe = rp_run_pipe,
    .spawn = rp_spawn,
    .wait = rp_wait,
    .kill = rp_kill,
    .write_file = rp_write_file,
    .make_path = rp_make_path,
    .sleep_ms = rp_sleep_ms,
    .free = rp_free,
};

fb_runner *fb_replay_new(const char *golden_path, kl_error *err)
{
    replay *rp = xcalloc(1, sizeof(*rp));
    rp->base.ops = &replay_ops;
    rp->golden = xstrdup(golden_path);
    rp->next_pid = 90001;
    if (parse(rp, golden_path, err) < 0) {
        rp_free(&rp->base);
        return NULL;
    }
    return &rp->base;
}

int fb_replay_finish(fb_runner *r, kl_error *err)
{
    replay *rp = (replay *)r;
    if (!rp->failed && rp->next < rp->n) {
        step *s = &rp->steps[rp->next];
        fail(rp, "%s:%d: %s %s was never done", rp->golden, s->lineno,
             s->kind == 'f' ? "+f" : (char[]){s->kind, 0}, s->line);
    }
    if (rp->failed)
        return kl_error_set(err, EIO, "%s\n--- what the layer did:\n%s", rp->failure,
                            rp->transcript.data ? rp->transcript.data : "");
    return 0;
}

const char *fb_replay_transcript(fb_runner *r)
{
    replay *rp = (replay *)r;
    return rp->transcript.data ? rp->transcript.data : "";
}
