/* Dockerfile parser, in-process variable substitution and pure build-state helpers (see
 * dockerfile.h and docs/dockerfile.md). Input is untrusted: no recursion without a depth
 * limit, no quadratic growth, every failure a clean kl_error. Must not do I/O or run a shell.
 *
 * Which instructions substitute: Docker's rule, deliberately (docs/dockerfile.md). FROM,
 * COPY, ENV, ARG, LABEL, USER, WORKDIR and EXPOSE are substituted here; RUN, CMD and
 * ENTRYPOINT are not, because their shell substitutes at run time with the ARG/ENV values
 * in its environment, and a second substitution here would eat `$` the user meant for the
 * shell. The original substituted RUN by running /bin/sh on the host (API.md §12 item 11). */
#include "engine/dockerfile.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/signame.h"
#include "lib/xalloc.h"

/* --- small helpers ------------------------------------------------------------------ */

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static void strvec_push_owned(strvec *sv, char *s)
{
    if (sv->n + 2 > sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = xrealloc(sv->v, sv->cap * sizeof(char *));
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void strvec_push(strvec *sv, const char *s)
{
    strvec_push_owned(sv, xstrdup(s));
}

/* The vector, never NULL (an empty one is {NULL}). */
static char **strvec_steal(strvec *sv)
{
    if (!sv->v)
        sv->v = xcalloc(1, sizeof(char *));
    char **v = sv->v;
    sv->v = NULL;
    sv->n = sv->cap = 0;
    return v;
}

static void strvec_free(strvec *sv)
{
    strv_free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && is_ws(*s))
        s++, n--;
    while (n && is_ws(s[n - 1]))
        n--;
    return xstrndup(s, n);
}

/* Split on runs of whitespace, no quote handling (COPY's plain form, EXPOSE, FROM). */
static void split_ws(const char *s, strvec *out)
{
    while (*s) {
        while (*s && is_ws(*s))
            s++;
        const char *b = s;
        while (*s && !is_ws(*s))
            s++;
        if (s > b)
            strvec_push_owned(out, xstrndup(b, (size_t)(s - b)));
    }
}

/* Docker's parseWords: split on whitespace outside quotes; quotes and backslash escapes
 * stay in the word (substitution processes them later). */
static void split_words(const char *s, strvec *out)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        while (i < n && is_ws(s[i]))
            i++;
        if (i >= n)
            break;
        _cleanup_buf_ kl_buf w = KL_BUF_INIT;
        char quote = 0;
        while (i < n) {
            char c = s[i];
            if (!quote) {
                if (is_ws(c))
                    break;
                if (c == '\'' || c == '"')
                    quote = c;
                if (c == '\\') {
                    if (i + 1 == n) {
                        i++;
                        break; /* an escape at the end of the line is dropped */
                    }
                    kl_buf_append(&w, &s[i], 2);
                    i += 2;
                    continue;
                }
            } else if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < n) {
                kl_buf_append(&w, &s[i], 2);
                i += 2;
                continue;
            }
            kl_buf_append(&w, &c, 1);
            i++;
        }
        strvec_push_owned(out, kl_buf_steal(&w));
    }
}

/* A short, printable rendering of untrusted text for messages that are not wire strings. */
static int fail_line(kl_error *err, unsigned lineno, const char *line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_line(kl_error *err, unsigned lineno, const char *line, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return kl_error_set(err, EINVAL, "line %u: error in '%.400s%s': %s", lineno, line,
                        strlen(line) > 400 ? "..." : "", why);
}

bool dockerfile_name_is_valid(const char *name)
{
    if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
                   name[0] == '_'))
        return false;
    for (const char *p = name + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* --- parsing ------------------------------------------------------------------------ */

static const struct {
    const char *word;
    dockerfile_kind kind;
} keywords[] = {
    {"FROM", DOCKERFILE_FROM},       {"ARG", DOCKERFILE_ARG},
    {"ENV", DOCKERFILE_ENV},         {"RUN", DOCKERFILE_RUN},
    {"CMD", DOCKERFILE_CMD},         {"ENTRYPOINT", DOCKERFILE_ENTRYPOINT},
    {"COPY", DOCKERFILE_COPY},       {"USER", DOCKERFILE_USER},
    {"WORKDIR", DOCKERFILE_WORKDIR}, {"EXPOSE", DOCKERFILE_EXPOSE},
    {"LABEL", DOCKERFILE_LABEL},     {"STOPSIGNAL", DOCKERFILE_STOPSIGNAL},
};

/* Docker instructions we do not implement: same error as an unknown keyword, with a hint. */
static const char *const unsupported[] = {"ADD",   "VOLUME",  "HEALTHCHECK",
                                          "SHELL", "ONBUILD", "MAINTAINER"};

const char *dockerfile_kind_name(dockerfile_kind kind)
{
    for (size_t i = 0; i < KL_ARRAY_SIZE(keywords); i++)
        if (keywords[i].kind == kind)
            return keywords[i].word;
    return "?";
}

static void instr_clear(dockerfile_instr *in)
{
    free(in->line);
    strv_free(in->args);
    dockerfile_kv_free(in->kv, in->n_kv);
    free(in->from_ref);
    free(in->from_stage);
    free(in->copy_from);
    free(in->copy_chown);
    strv_free(in->copy_sources);
    free(in->copy_dest);
    memset(in, 0, sizeof(*in));
}

void dockerfile_clear(dockerfile *df)
{
    if (!df)
        return;
    for (size_t i = 0; i < df->n; i++)
        instr_clear(&df->instrs[i]);
    free(df->instrs);
    df->instrs = NULL;
    df->n = 0;
}

void dockerfile_kv_free(dockerfile_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void kv_append(dockerfile_kv **kv, size_t *n, char *key, char *value)
{
    *kv = xrealloc(*kv, (*n + 1) * sizeof(**kv));
    (*kv)[*n].key = key;
    (*kv)[*n].value = value;
    (*n)++;
}

/* Try `text` as a JSON array of strings (Docker's exec form). 1: it is one (*out set);
 * 0: not valid JSON, so the caller falls back to the plain form, as Docker does;
 * -1: a valid JSON array with a non-string item, which Docker rejects. */
static int parse_json_array(const char *text, strvec *out)
{
    if (text[0] != '[')
        return 0;
    json_error_t jerr;
    _cleanup_json_ json_t *j = json_loads(text, 0, &jerr);
    if (!j || !json_is_array(j))
        return 0;
    size_t i;
    json_t *item;
    json_array_foreach(j, i, item)
    {
        if (!json_is_string(item)) {
            strvec_free(out);
            return -1;
        }
        strvec_push(out, json_string_value(item));
    }
    return 1;
}

static int parse_exec_or_shell(dockerfile_instr *in, const char *rest, kl_error *err)
{
    strvec sv = {0};
    int r = parse_json_array(rest, &sv);
    if (r < 0)
        return fail_line(err, in->lineno, in->line,
                         "JSON arrays of the exec form must contain only strings");
    if (r > 0) {
        if (sv.n == 0 && in->kind == DOCKERFILE_RUN) {
            strvec_free(&sv);
            return fail_line(err, in->lineno, in->line, "RUN needs a command");
        }
        in->is_exec_form = true;
    } else {
        strvec_push(&sv, "/bin/sh");
        strvec_push(&sv, "-c");
        strvec_push(&sv, rest);
    }
    in->n_args = sv.n;
    in->args = strvec_steal(&sv);
    return 0;
}

static int parse_copy(dockerfile_instr *in, const char *rest, kl_error *err)
{
    const char *p = rest;
    while (p[0] == '-' && p[1] == '-') {
        const char *b = p;
        while (*p && !is_ws(*p))
            p++;
        _cleanup_free_ char *flag = xstrndup(b, (size_t)(p - b));
        while (*p && is_ws(*p))
            p++;
        char **slot = NULL;
        if (!strncmp(flag, "--from=", 7))
            slot = &in->copy_from;
        else if (!strncmp(flag, "--chown=", 8))
            slot = &in->copy_chown;
        else
            return fail_line(err, in->lineno, in->line, "unknown flag %.64s", flag);
        const char *val = strchr(flag, '=') + 1;
        if (!*val)
            return fail_line(err, in->lineno, in->line, "empty value of %.64s", flag);
        if (*slot)
            return fail_line(err, in->lineno, in->line, "%.*s given twice", (int)(val - flag - 1),
                             flag);
        *slot = xstrdup(val);
    }
    strvec sv = {0};
    int r = parse_json_array(p, &sv);
    if (r < 0)
        return fail_line(err, in->lineno, in->line,
                         "JSON arrays of the exec form must contain only strings");
    if (r > 0)
        in->is_exec_form = true;
    else
        split_ws(p, &sv);
    if (sv.n < 2) {
        strvec_free(&sv);
        return fail_line(err, in->lineno, in->line,
                         "COPY needs at least one source and a destination");
    }
    strvec src = {0};
    for (size_t i = 0; i + 1 < sv.n; i++)
        strvec_push(&src, sv.v[i]);
    in->copy_sources = strvec_steal(&src);
    in->copy_dest = xstrdup(sv.v[sv.n - 1]);
    in->n_args = sv.n;
    in->args = strvec_steal(&sv);
    return 0;
}

static bool stage_name_is_valid(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

static int parse_from(dockerfile_instr *in, const char *rest, kl_error *err)
{
    strvec sv = {0};
    split_ws(rest, &sv);
    in->n_args = sv.n;
    in->args = strvec_steal(&sv);
    if (in->args[0][0] == '-' && in->args[0][1] == '-')
        return fail_line(err, in->lineno, in->line, "FROM flags are not supported");
    if (in->n_args == 3 && !strcasecmp(in->args[1], "AS")) {
        if (!stage_name_is_valid(in->args[2]))
            return fail_line(err, in->lineno, in->line,
                             "invalid stage name (letters, digits, '_', '.', '-', starting "
                             "with a letter)");
        in->from_stage = xstrdup(in->args[2]);
    } else if (in->n_args != 1) {
        return fail_line(err, in->lineno, in->line, "expected FROM <image> [AS <name>]");
    }
    in->from_ref = xstrdup(in->args[0]);
    return 0;
}

/* ENV, ARG, LABEL. The original's name error is a wire string (CONFORMANCE §4). */
static int parse_pairs(dockerfile_instr *in, const char *rest, kl_error *err)
{
    strvec sv = {0};
    split_words(rest, &sv);
    in->n_args = sv.n;
    in->args = strvec_steal(&sv);
    bool is_var = in->kind != DOCKERFILE_LABEL;
    const char *first = in->args[0];
    if (in->kind != DOCKERFILE_ARG && !strchr(first, '=')) {
        /* the legacy form `ENV key value...`: the value is the rest of the line */
        const char *v = rest + strlen(first);
        while (*v && is_ws(*v))
            v++;
        if (is_var && !dockerfile_name_is_valid(first))
            return kl_error_set(err, EINVAL, "ENV/ARG variable name is invalid on line: %s",
                                in->line);
        if (!*v)
            return fail_line(err, in->lineno, in->line, "%s needs a value: %s <name>=<value>",
                             dockerfile_kind_name(in->kind), dockerfile_kind_name(in->kind));
        kv_append(&in->kv, &in->n_kv, xstrdup(first), xstrdup(v));
        return 0;
    }
    for (size_t i = 0; i < in->n_args; i++) {
        const char *w = in->args[i];
        const char *eq = strchr(w, '=');
        if (!eq && in->kind != DOCKERFILE_ARG) {
            in->is_kv_malformed = true;
            continue;
        }
        _cleanup_free_ char *key = eq ? xstrndup(w, (size_t)(eq - w)) : xstrdup(w);
        if (is_var && !dockerfile_name_is_valid(key))
            return kl_error_set(err, EINVAL, "ENV/ARG variable name is invalid on line: %s",
                                in->line);
        if (!is_var && !*key)
            return fail_line(err, in->lineno, in->line, "empty label key");
        kv_append(&in->kv, &in->n_kv, steal_pointer(&key), eq ? xstrdup(eq + 1) : NULL);
    }
    return 0;
}

/* A port of EXPOSE: N, N-M, optionally /tcp, /udp or /sctp. Words with `$` are checked only
 * after substitution, by the runner. */
static bool port_is_valid(const char *w)
{
    char *end;
    if (!(*w >= '0' && *w <= '9'))
        return false;
    unsigned long a = strtoul(w, &end, 10), b = a;
    if (*end == '-') {
        if (!(end[1] >= '0' && end[1] <= '9'))
            return false;
        b = strtoul(end + 1, &end, 10);
    }
    if (a < 1 || a > 65535 || b < a || b > 65535)
        return false;
    if (!*end)
        return true;
    return *end == '/' && (!strcasecmp(end + 1, "tcp") || !strcasecmp(end + 1, "udp") ||
                           !strcasecmp(end + 1, "sctp"));
}

char *dockerfile_port_normalize(const char *word)
{
    if (!word || !port_is_valid(word))
        return NULL;
    const char *slash = strchr(word, '/');
    if (!slash)
        return xasprintf("%s/tcp", word);
    char *out = xstrdup(word);
    for (char *p = out + (slash - word); *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

static int parse_instr(dockerfile_instr *in, kl_error *err)
{
    /* Like Docker: leading whitespace is ignored and instructions are case-insensitive. */
    const char *word = in->line;
    while (is_ws(*word))
        word++;
    const char *sp = word;
    while (*sp && *sp != ' ' && *sp != '\t')
        sp++;
    size_t klen = (size_t)(sp - word);
    bool known = false;
    for (size_t i = 0; *sp && i < KL_ARRAY_SIZE(keywords); i++)
        if (strlen(keywords[i].word) == klen && !strncasecmp(word, keywords[i].word, klen)) {
            in->kind = keywords[i].kind;
            known = true;
        }
    if (!known) {
        /* the line as written, indentation included (the original's message) */
        for (size_t i = 0; i < KL_ARRAY_SIZE(unsupported); i++)
            if (strlen(unsupported[i]) == klen && !strncasecmp(word, unsupported[i], klen))
                return kl_error_set(err, EINVAL,
                                    "error in '%s': invalid instruction (%s is not supported)",
                                    in->line, unsupported[i]);
        return kl_error_set(err, EINVAL, "error in '%s': invalid instruction", in->line);
    }
    if (word != in->line) /* `Step i/N : <line>` shows it without the indentation */
        memmove(in->line, word, strlen(word) + 1);
    const char *line = in->line;
    sp = line + klen;
    _cleanup_free_ char *rest = trim_dup(sp, strlen(sp));
    if (!*rest)
        return fail_line(err, in->lineno, line, "%s needs an argument",
                         dockerfile_kind_name(in->kind));
    switch (in->kind) {
    case DOCKERFILE_FROM:
        return parse_from(in, rest, err);
    case DOCKERFILE_ARG:
    case DOCKERFILE_ENV:
    case DOCKERFILE_LABEL:
        return parse_pairs(in, rest, err);
    case DOCKERFILE_RUN:
    case DOCKERFILE_CMD:
    case DOCKERFILE_ENTRYPOINT:
        return parse_exec_or_shell(in, rest, err);
    case DOCKERFILE_COPY:
        return parse_copy(in, rest, err);
    case DOCKERFILE_USER:
    case DOCKERFILE_WORKDIR: {
        strvec sv = {0};
        strvec_push(&sv, rest);
        in->n_args = 1;
        in->args = strvec_steal(&sv);
        return 0;
    }
    case DOCKERFILE_STOPSIGNAL: {
        /* one signal, as kill takes it (lib/signame.h); checked here unless substituted */
        strvec sv = {0};
        split_ws(rest, &sv);
        in->n_args = sv.n;
        in->args = strvec_steal(&sv);
        if (in->n_args != 1)
            return fail_line(err, in->lineno, line, "STOPSIGNAL needs exactly one signal");
        if (!strchr(in->args[0], '$') && kl_signal_parse(in->args[0]) < 0)
            return fail_line(err, in->lineno, line, "invalid signal '%.64s'", in->args[0]);
        return 0;
    }
    case DOCKERFILE_EXPOSE: {
        strvec sv = {0};
        split_ws(rest, &sv);
        in->n_args = sv.n;
        in->args = strvec_steal(&sv);
        for (size_t i = 0; i < in->n_args; i++)
            if (!strchr(in->args[i], '$') && !port_is_valid(in->args[i]))
                return fail_line(err, in->lineno, line,
                                 "invalid port '%.64s' (expected <port>[-<port>][/tcp|udp|sctp])",
                                 in->args[i]);
        return 0;
    }
    }
    return 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i]))
            return false;
    return true;
}

/* Docker's continuation: a backslash followed only by spaces or tabs at the end of a line.
 * Returns the length of the line without it, or (size_t)-1 when there is none. */
static size_t continuation_at(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n && s[n - 1] == '\\')
        return n - 1;
    return (size_t)-1;
}

static void push_instr(dockerfile *df, size_t *cap, kl_buf *cur, unsigned lineno)
{
    if (df->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        df->instrs = xrealloc(df->instrs, *cap * sizeof(*df->instrs));
    }
    dockerfile_instr *in = &df->instrs[df->n++];
    memset(in, 0, sizeof(*in));
    in->line = kl_buf_steal(cur);
    in->lineno = lineno;
}

int dockerfile_parse(const char *text, dockerfile *out, unsigned *err_line, kl_error *err)
{
    _cleanup_(dockerfile_clear) dockerfile df = {0};
    size_t cap = 0;
    _cleanup_buf_ kl_buf cur = KL_BUF_INIT;
    bool in_cont = false;
    unsigned start = 0, lineno = 0;
    memset(out, 0, sizeof(*out));
    if (err_line)
        *err_line = 0;

    /* Lines: comments (# after optional whitespace, as Docker) are dropped before continuations are
     * joined; blank lines are dropped, also inside a continuation (Docker); a joined line keeps
     * what surrounds the removed backslash-newline, as the original's Step lines show. */
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *next = nl ? nl + 1 : p + n;
        lineno++;
        if (n && p[n - 1] == '\r')
            n--;
        size_t lead = 0;
        while (lead < n && is_ws(p[lead]))
            lead++;
        if ((lead < n && p[lead] == '#') || is_blank(p, n)) {
            p = next;
            continue;
        }
        if (!in_cont)
            start = lineno;
        size_t c = continuation_at(p, n);
        in_cont = c != (size_t)-1;
        kl_buf_append(&cur, p, in_cont ? c : n);
        if (!in_cont)
            push_instr(&df, &cap, &cur, start);
        p = next;
    }
    if (in_cont && !is_blank(cur.data ? cur.data : "", cur.len))
        push_instr(&df, &cap, &cur, start);

    for (size_t i = 0; i < df.n; i++) {
        if (parse_instr(&df.instrs[i], err) < 0) {
            if (err_line)
                *err_line = df.instrs[i].lineno;
            return -1;
        }
    }
    bool seen_from = false;
    for (size_t i = 0; i < df.n; i++) {
        dockerfile_instr *in = &df.instrs[i];
        if (in->kind == DOCKERFILE_FROM)
            seen_from = true;
        else if (!seen_from && in->kind != DOCKERFILE_ARG) {
            if (err_line)
                *err_line = in->lineno;
            return kl_error_set(err, EINVAL, "'%s' not permitted before a FROM instruction",
                                in->line);
        }
    }
    if (!seen_from)
        return kl_error_set(err, EINVAL, "the Dockerfile has no FROM instruction");
    *out = df;
    memset(&df, 0, sizeof(df));
    return 0;
}

/* --- substitution ------------------------------------------------------------------- */

#define SUBST_DEPTH_MAX 32

typedef struct subst {
    const char *s;
    size_t i;
    dockerfile_lookup_fn lookup;
    void *ctx;
    kl_error *err;
    int depth;
} subst;

static int subst_fail(subst *x, const char *why)
{
    return kl_error_set(x->err, EINVAL, "%s in '%.200s%s'", why, x->s,
                        strlen(x->s) > 200 ? "..." : "");
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static const char *lookup(subst *x, const char *name)
{
    return x->lookup ? x->lookup(name, x->ctx) : NULL;
}

static int process(subst *x, kl_buf *out, char stop);

static int dollar(subst *x, kl_buf *out)
{
    const char *s = x->s;
    x->i++; /* '$' */
    if (s[x->i] == '{') {
        x->i++;
        size_t b = x->i;
        while (is_name_char(s[x->i]))
            x->i++;
        _cleanup_free_ char *name = xstrndup(s + b, x->i - b);
        if (!*name)
            return s[x->i] ? subst_fail(x, "bad substitution") : subst_fail(x, "unterminated '${'");
        const char *val = lookup(x, name);
        char c = s[x->i];
        if (c == '}') {
            x->i++;
            if (val)
                kl_buf_puts(out, val);
            return 0;
        }
        if (!c)
            return subst_fail(x, "unterminated '${'");
        bool colon = c == ':';
        if (colon)
            c = s[++x->i];
        if (c != '-' && c != '+')
            return c ? subst_fail(x, "unsupported modifier in '${...}'")
                     : subst_fail(x, "unterminated '${'");
        x->i++;
        if (++x->depth > SUBST_DEPTH_MAX)
            return subst_fail(x, "substitution nested too deeply");
        _cleanup_buf_ kl_buf word = KL_BUF_INIT;
        int r = process(x, &word, '}');
        x->depth--;
        if (r < 0)
            return -1;
        if (s[x->i] != '}')
            return subst_fail(x, "unterminated '${'");
        x->i++;
        bool is_set = val && (!colon || *val);
        if (c == '-')
            kl_buf_puts(out, is_set ? val : (word.data ? word.data : ""));
        else if (is_set && word.data)
            kl_buf_puts(out, word.data);
        return 0;
    }
    if (is_name_start(s[x->i]) || (s[x->i] >= '0' && s[x->i] <= '9')) {
        size_t b = x->i;
        if (is_name_start(s[x->i]))
            while (is_name_char(s[x->i]))
                x->i++;
        else
            while (s[x->i] >= '0' && s[x->i] <= '9')
                x->i++;
        _cleanup_free_ char *name = xstrndup(s + b, x->i - b);
        const char *val = lookup(x, name);
        if (val)
            kl_buf_puts(out, val);
        return 0;
    }
    kl_buf_puts(out, "$"); /* a '$' not followed by a name is itself */
    return 0;
}

/* Docker's shell lexer over x->s from x->i up to `stop` (outside quotes) or the end. */
static int process(subst *x, kl_buf *out, char stop)
{
    const char *s = x->s;
    while (s[x->i] && s[x->i] != stop) {
        char c = s[x->i];
        if (c == '\'') {
            const char *end = strchr(s + x->i + 1, '\'');
            if (!end)
                return subst_fail(x, "unterminated single quote");
            kl_buf_append(out, s + x->i + 1, (size_t)(end - (s + x->i + 1)));
            x->i = (size_t)(end - s) + 1;
        } else if (c == '"') {
            x->i++;
            for (;;) {
                c = s[x->i];
                if (!c)
                    return subst_fail(x, "unterminated double quote");
                if (c == '"') {
                    x->i++;
                    break;
                }
                if (c == '$') {
                    if (dollar(x, out) < 0)
                        return -1;
                    continue;
                }
                if (c == '\\' && (s[x->i + 1] == '"' || s[x->i + 1] == '$' || s[x->i + 1] == '\\'))
                    x->i++;
                kl_buf_append(out, &s[x->i], 1);
                x->i++;
            }
        } else if (c == '\\') {
            x->i++;
            if (!s[x->i])
                break; /* a backslash at the very end is dropped */
            kl_buf_append(out, &s[x->i], 1);
            x->i++;
        } else if (c == '$') {
            if (dollar(x, out) < 0)
                return -1;
        } else {
            kl_buf_append(out, &c, 1);
            x->i++;
        }
    }
    return 0;
}

char *dockerfile_substitute(const char *s, dockerfile_lookup_fn fn, void *ctx, kl_error *err)
{
    subst x = {s, 0, fn, ctx, err, 0};
    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    if (process(&x, &out, '\0') < 0)
        return NULL;
    return kl_buf_steal(&out);
}

static int subst_fail_line(const dockerfile_instr *in, kl_error *err)
{
    /* the original's wire string, spelling included (API.md §12 item 15) */
    return kl_error_set(err, EINVAL, "failed environment substition of: %s", in->line);
}

char **dockerfile_expand_args(const dockerfile_instr *in, dockerfile_lookup_fn fn, void *ctx,
                              kl_error *err)
{
    bool all;
    switch (in->kind) {
    case DOCKERFILE_COPY:
    case DOCKERFILE_USER:
    case DOCKERFILE_WORKDIR:
    case DOCKERFILE_EXPOSE:
    case DOCKERFILE_STOPSIGNAL:
        all = true;
        break;
    case DOCKERFILE_FROM:
        all = false; /* the reference only; "AS name" stays */
        break;
    default:
        return strv_dup(in->args);
    }
    strvec sv = {0};
    for (size_t i = 0; i < in->n_args; i++) {
        if (!all && i > 0) {
            strvec_push(&sv, in->args[i]);
            continue;
        }
        kl_error e = KL_ERROR_INIT;
        char *v = dockerfile_substitute(in->args[i], fn, ctx, &e);
        if (!v) {
            strvec_free(&sv);
            subst_fail_line(in, err);
            return NULL;
        }
        strvec_push_owned(&sv, v);
    }
    return strvec_steal(&sv);
}

dockerfile_kv *dockerfile_expand_pairs(const dockerfile_instr *in, dockerfile_lookup_fn fn,
                                       void *ctx, size_t *n, kl_error *err)
{
    *n = 0;
    if (in->is_kv_malformed) {
        subst_fail_line(in, err);
        return NULL;
    }
    dockerfile_kv *kv = xcalloc(in->n_kv + 1, sizeof(*kv));
    size_t m = 0;
    for (size_t i = 0; i < in->n_kv; i++) {
        kl_error e = KL_ERROR_INIT;
        char *key = in->kind == DOCKERFILE_LABEL ? dockerfile_substitute(in->kv[i].key, fn, ctx, &e)
                                                 : xstrdup(in->kv[i].key);
        char *val = NULL;
        if (key && in->kv[i].value)
            val = dockerfile_substitute(in->kv[i].value, fn, ctx, &e);
        if (!key || (in->kv[i].value && !val)) {
            free(key);
            dockerfile_kv_free(kv, m);
            subst_fail_line(in, err);
            return NULL;
        }
        kv[m].key = key;
        kv[m].value = val;
        m++;
    }
    *n = m;
    return kv;
}

/* --- build state -------------------------------------------------------------------- */

static dockerfile_kv *kv_find(dockerfile_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key))
            return &kv[i];
    return NULL;
}

static void kv_set(dockerfile_kv **kv, size_t *n, const char *key, const char *value)
{
    dockerfile_kv *e = kv_find(*kv, *n, key);
    if (e) {
        free(e->value);
        e->value = value ? xstrdup(value) : NULL;
        return;
    }
    kv_append(kv, n, xstrdup(key), value ? xstrdup(value) : NULL);
}

/* "K=V" strings into pairs (an entry without '=' is a name with an empty value). */
static void kv_from_strv(dockerfile_kv **kv, size_t *n, char *const *v)
{
    for (; v && *v; v++) {
        const char *eq = strchr(*v, '=');
        _cleanup_free_ char *k = eq ? xstrndup(*v, (size_t)(eq - *v)) : xstrdup(*v);
        kv_set(kv, n, k, eq ? eq + 1 : "");
    }
}

void dockerfile_state_init(dockerfile_state *st, char *const *buildargs)
{
    memset(st, 0, sizeof(*st));
    kv_from_strv(&st->buildargs, &st->n_buildargs, buildargs);
    st->workdir = xstrdup("/");
}

void dockerfile_state_clear(dockerfile_state *st)
{
    if (!st)
        return;
    dockerfile_kv_free(st->buildargs, st->n_buildargs);
    dockerfile_kv_free(st->meta_args, st->n_meta_args);
    dockerfile_kv_free(st->args, st->n_args);
    dockerfile_kv_free(st->env, st->n_env);
    free(st->workdir);
    free(st->user);
    strv_free(st->cmd);
    strv_free(st->entrypoint);
    memset(st, 0, sizeof(*st));
}

const char *dockerfile_state_lookup(const char *name, void *ctx)
{
    const dockerfile_state *st = ctx;
    dockerfile_kv *e;
    if (!st->is_in_stage) {
        e = kv_find(st->meta_args, st->n_meta_args, name);
        return e ? e->value : NULL;
    }
    e = kv_find(st->env, st->n_env, name);
    if (e)
        return e->value;
    e = kv_find(st->args, st->n_args, name);
    return e ? e->value : NULL;
}

void dockerfile_state_declare_arg(dockerfile_state *st, const char *name, const char *def)
{
    dockerfile_kv *b = kv_find(st->buildargs, st->n_buildargs, name);
    const char *v = b ? b->value : def;
    if (!st->is_in_stage) {
        kv_set(&st->meta_args, &st->n_meta_args, name, v);
        return;
    }
    if (!v) {
        dockerfile_kv *m = kv_find(st->meta_args, st->n_meta_args, name);
        v = m ? m->value : NULL;
    }
    kv_set(&st->args, &st->n_args, name, v);
}

void dockerfile_state_begin_stage(dockerfile_state *st, char *const *parent_env,
                                  char *const *parent_cmd)
{
    dockerfile_kv_free(st->args, st->n_args);
    st->args = NULL;
    st->n_args = 0;
    dockerfile_kv_free(st->env, st->n_env);
    st->env = NULL;
    st->n_env = 0;
    kv_from_strv(&st->env, &st->n_env, parent_env);
    free(st->workdir);
    st->workdir = xstrdup("/");
    free(st->user);
    st->user = NULL;
    strv_free(st->cmd);
    st->cmd = parent_cmd ? strv_dup(parent_cmd) : NULL;
    st->is_cmd_inherited = true;
    strv_free(st->entrypoint);
    st->entrypoint = NULL;
    st->is_entrypoint_shell = false;
    st->is_in_stage = true;
}

void dockerfile_state_set_env(dockerfile_state *st, const char *name, const char *value)
{
    kv_set(&st->env, &st->n_env, name, value ? value : "");
}

void dockerfile_state_set_workdir(dockerfile_state *st, const char *path)
{
    char *w = dockerfile_path_join(st->workdir, path);
    free(st->workdir);
    st->workdir = w;
}

void dockerfile_state_set_cmd(dockerfile_state *st, char *const *argv)
{
    strv_free(st->cmd);
    st->cmd = strv_dup(argv);
    st->is_cmd_inherited = false;
}

void dockerfile_state_set_entrypoint(dockerfile_state *st, char *const *argv, bool is_exec_form)
{
    strv_free(st->entrypoint);
    st->entrypoint = strv_dup(argv);
    st->is_entrypoint_shell = !is_exec_form;
    if (st->is_cmd_inherited) {
        strv_free(st->cmd);
        st->cmd = NULL;
    }
}

char **dockerfile_state_run_env(const dockerfile_state *st)
{
    strvec sv = {0};
    for (size_t i = 0; i < st->n_args; i++)
        if (st->args[i].value && !kv_find(st->env, st->n_env, st->args[i].key))
            strvec_push_owned(&sv, xasprintf("%s=%s", st->args[i].key, st->args[i].value));
    for (size_t i = 0; i < st->n_env; i++)
        strvec_push_owned(&sv, xasprintf("%s=%s", st->env[i].key, st->env[i].value));
    return strvec_steal(&sv);
}

char **dockerfile_state_image_env(const dockerfile_state *st)
{
    strvec sv = {0};
    for (size_t i = 0; i < st->n_env; i++)
        strvec_push_owned(&sv, xasprintf("%s=%s", st->env[i].key, st->env[i].value));
    return strvec_steal(&sv);
}

char *dockerfile_path_join(const char *base, const char *path)
{
    _cleanup_free_ char *whole = path && path[0] == '/'
                                     ? xstrdup(path)
                                     : xasprintf("%s/%s", base ? base : "/", path ? path : "");
    /* components, resolved in place: a stack of (offset, length) into `whole` */
    size_t n = strlen(whole), top = 0;
    _cleanup_free_ size_t *off = xcalloc(n / 2 + 2, sizeof(size_t));
    _cleanup_free_ size_t *len = xcalloc(n / 2 + 2, sizeof(size_t));
    for (size_t i = 0; i < n;) {
        while (i < n && whole[i] == '/')
            i++;
        size_t b = i;
        while (i < n && whole[i] != '/')
            i++;
        size_t l = i - b;
        if (l == 0 || (l == 1 && whole[b] == '.'))
            continue;
        if (l == 2 && whole[b] == '.' && whole[b + 1] == '.') {
            if (top)
                top--;
            continue;
        }
        off[top] = b;
        len[top] = l;
        top++;
    }
    if (!top)
        return xstrdup("/");
    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    for (size_t i = 0; i < top; i++) {
        kl_buf_puts(&out, "/");
        kl_buf_append(&out, whole + off[i], len[i]);
    }
    return kl_buf_steal(&out);
}

char *dockerfile_copy_dest(const char *workdir, const char *dest)
{
    char *j = dockerfile_path_join(workdir, dest);
    size_t n = strlen(dest);
    bool is_dir = (n && dest[n - 1] == '/') || !strcmp(dest, ".") || !strcmp(dest, "..") ||
                  (n >= 2 && !strcmp(dest + n - 2, "/.")) ||
                  (n >= 3 && !strcmp(dest + n - 3, "/.."));
    if (is_dir && strcmp(j, "/")) {
        char *d = xasprintf("%s/", j);
        free(j);
        return d;
    }
    return j;
}

static bool is_shell_safe(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("/._-+:@%,=", *s)))
            return false;
    return true;
}

char **dockerfile_shell_argv(const char *shell, const char *workdir)
{
    strvec sv = {0};
    strvec_push(&sv, "/bin/sh");
    strvec_push(&sv, "-c");
    if (!workdir || !strcmp(workdir, "/")) {
        strvec_push(&sv, shell);
        return strvec_steal(&sv);
    }
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "cd ");
    if (is_shell_safe(workdir)) {
        kl_buf_puts(&b, workdir);
    } else {
        kl_buf_puts(&b, "'");
        for (const char *p = workdir; *p; p++) {
            if (*p == '\'')
                kl_buf_puts(&b, "'\\''");
            else
                kl_buf_append(&b, p, 1);
        }
        kl_buf_puts(&b, "'");
    }
    kl_buf_printf(&b, " && %s", shell);
    strvec_push_owned(&sv, kl_buf_steal(&b));
    return strvec_steal(&sv);
}

char **dockerfile_effective_cmd(char *const *entrypoint, bool is_entrypoint_shell, char *const *cmd,
                                char *const *override)
{
    char *const *args = override && override[0] ? override : cmd;
    strvec sv = {0};
    if (entrypoint && entrypoint[0]) {
        for (char *const *p = entrypoint; *p; p++)
            strvec_push(&sv, *p);
        if (!is_entrypoint_shell)
            for (char *const *p = args; p && *p; p++)
                strvec_push(&sv, *p);
    } else {
        for (char *const *p = args; p && *p; p++)
            strvec_push(&sv, *p);
    }
    if (!sv.n)
        return NULL;
    return strvec_steal(&sv);
}
