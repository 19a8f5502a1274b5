/* .dockerignore matching (see dockerignore.h). Patterns are compiled to a token list and
 * matched by simulating the automaton over the path, so a hostile pattern costs at most
 * O(tokens x path length), never exponential backtracking. Matches bytes: `?` is one byte. */
#include "lib/dockerignore.h"

#include <errno.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

typedef enum tok_kind {
    TOK_LIT,   /* one byte */
    TOK_ANY,   /* ?: one byte except '/' */
    TOK_CLASS, /* [...] */
    TOK_STAR,  /* *: [^/]* */
    TOK_DSTAR, /* ** not at the end: (.*\/)? */
    TOK_REST,  /* ** at the end: .* */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    unsigned char c;
    bool is_negated;
    unsigned char set[32]; /* TOK_CLASS: bitmap of bytes */
} tok;

typedef struct pattern {
    tok *toks;
    size_t n;
    bool is_exception;
} pattern;

struct dockerignore {
    pattern *pats;
    size_t n;
    bool has_exceptions;
};

static void set_bit(unsigned char *set, unsigned char c)
{
    set[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static bool has_bit(const unsigned char *set, unsigned char c)
{
    return set[c >> 3] & (1u << (c & 7));
}

/* Lexically clean a relative pattern like Go's filepath.Clean, then drop a leading '/'. */
static char *clean_pattern(const char *p)
{
    bool is_abs = p[0] == '/';
    size_t n = strlen(p);
    _cleanup_free_ size_t *off = xcalloc(n / 2 + 2, sizeof(size_t));
    _cleanup_free_ size_t *len = xcalloc(n / 2 + 2, sizeof(size_t));
    size_t top = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && p[i] == '/')
            i++;
        size_t b = i;
        while (i < n && p[i] != '/')
            i++;
        size_t l = i - b;
        if (l == 0 || (l == 1 && p[b] == '.'))
            continue;
        bool is_dotdot = l == 2 && p[b] == '.' && p[b + 1] == '.';
        if (is_dotdot && top && !(len[top - 1] == 2 && !strncmp(p + off[top - 1], "..", 2))) {
            top--;
            continue;
        }
        if (is_dotdot && is_abs)
            continue; /* "/.." is "/" */
        off[top] = b;
        len[top] = l;
        top++;
    }
    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    for (size_t i = 0; i < top; i++) {
        if (i)
            kl_buf_puts(&out, "/");
        kl_buf_append(&out, p + off[i], len[i]);
    }
    if (!top)
        kl_buf_puts(&out, ".");
    return kl_buf_steal(&out);
}

static int compile(const char *p, pattern *pat, unsigned lineno, kl_error *err)
{
    size_t n = strlen(p);
    pat->toks = xcalloc(n + 1, sizeof(tok));
    pat->n = 0;
    for (size_t i = 0; i < n;) {
        tok *t = &pat->toks[pat->n];
        char c = p[i];
        if (c == '*' && p[i + 1] == '*') {
            i += 2;
            if (p[i] == '/')
                i++;
            t->kind = i >= n ? TOK_REST : TOK_DSTAR;
        } else if (c == '*') {
            t->kind = TOK_STAR;
            i++;
        } else if (c == '?') {
            t->kind = TOK_ANY;
            i++;
        } else if (c == '\\' && i + 1 < n) {
            t->kind = TOK_LIT;
            t->c = (unsigned char)p[i + 1];
            i += 2;
        } else if (c == '[') {
            size_t j = i + 1;
            t->kind = TOK_CLASS;
            if (p[j] == '^') {
                t->is_negated = true;
                j++;
            }
            bool first = true;
            while (j < n && (p[j] != ']' || first)) {
                first = false;
                unsigned char lo = (unsigned char)p[j];
                if (lo == '\\' && j + 1 < n)
                    lo = (unsigned char)p[++j];
                j++;
                unsigned char hi = lo;
                if (p[j] == '-' && j + 1 < n && p[j + 1] != ']') {
                    hi = (unsigned char)p[j + 1];
                    j += 2;
                    if (hi == '\\' && j < n)
                        hi = (unsigned char)p[j++];
                    if (hi < lo)
                        return kl_error_set(err, EINVAL,
                                            "line %u: invalid range in character class", lineno);
                }
                for (unsigned k = lo; k <= hi; k++)
                    set_bit(t->set, (unsigned char)k);
            }
            if (j >= n)
                return kl_error_set(err, EINVAL, "line %u: unterminated '[' in pattern", lineno);
            i = j + 1;
        } else {
            t->kind = TOK_LIT;
            t->c = (unsigned char)c;
            i++;
        }
        pat->n++;
    }
    return 0;
}

static void pattern_clear(pattern *p)
{
    free(p->toks);
}

void dockerignore_free(dockerignore *di)
{
    if (!di)
        return;
    for (size_t i = 0; i < di->n; i++)
        pattern_clear(&di->pats[i]);
    free(di->pats);
    free(di);
}

static void dockerignore_freep(dockerignore **di)
{
    dockerignore_free(*di);
}

dockerignore *dockerignore_parse(const char *text, kl_error *err)
{
    __attribute__((cleanup(dockerignore_freep))) dockerignore *di = xcalloc(1, sizeof(*di));
    size_t cap = 0;
    unsigned lineno = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        const char *next = nl ? nl + 1 : p + n;
        lineno++;
        /* trim surrounding whitespace (Docker: strings.TrimSpace) */
        const char *b = p;
        while (n && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\v' || *b == '\f'))
            b++, n--;
        while (n && (b[n - 1] == ' ' || b[n - 1] == '\t' || b[n - 1] == '\r' || b[n - 1] == '\v' ||
                     b[n - 1] == '\f'))
            n--;
        p = next;
        if (!n || b[0] == '#')
            continue;
        bool is_exception = b[0] == '!';
        if (is_exception) {
            b++, n--;
            while (n && (*b == ' ' || *b == '\t'))
                b++, n--;
            if (!n) {
                kl_error_set(err, EINVAL, "line %u: illegal exclusion pattern: \"!\"", lineno);
                return NULL;
            }
        }
        _cleanup_free_ char *raw = xstrndup(b, n);
        _cleanup_free_ char *clean = clean_pattern(raw);
        if (di->n == cap) {
            cap = cap ? cap * 2 : 8;
            di->pats = xrealloc(di->pats, cap * sizeof(pattern));
        }
        pattern *pat = &di->pats[di->n++];
        memset(pat, 0, sizeof(*pat));
        pat->is_exception = is_exception;
        if (is_exception)
            di->has_exceptions = true;
        if (compile(clean, pat, lineno, err) < 0)
            return NULL;
    }
    return steal_pointer(&di);
}

/* Does the whole of s[0..n) match the pattern? An NFA over token positions: state i means
 * "tokens before i have matched"; loop[i] means "inside the `.*` of the `(.*\/)?` of the `**`
 * token i" (it leaves only through a '/'). Epsilon moves only go forward, so one ordered pass
 * closes. */
static bool match(const pattern *pat, const char *s, size_t n)
{
    size_t T = pat->n;
    _cleanup_free_ bool *cur = xcalloc(T + 1, sizeof(bool));
    _cleanup_free_ bool *nxt = xcalloc(T + 1, sizeof(bool));
    _cleanup_free_ bool *loop = xcalloc(T + 1, sizeof(bool));
    _cleanup_free_ bool *nloop = xcalloc(T + 1, sizeof(bool));
    cur[0] = true;
    for (size_t si = 0;; si++) {
        for (size_t i = 0; i < T; i++) {
            tok_kind k = pat->toks[i].kind;
            if (cur[i] && (k == TOK_STAR || k == TOK_DSTAR || k == TOK_REST))
                cur[i + 1] = true;
        }
        if (si == n)
            return cur[T];
        unsigned char c = (unsigned char)s[si];
        bool any = false;
        memset(nxt, 0, (T + 1) * sizeof(bool));
        memset(nloop, 0, (T + 1) * sizeof(bool));
        for (size_t i = 0; i < T; i++) {
            const tok *t = &pat->toks[i];
            if (loop[i]) { /* t is TOK_DSTAR */
                nloop[i] = any = true;
                if (c == '/')
                    nxt[i + 1] = true;
            }
            if (!cur[i])
                continue;
            switch (t->kind) {
            case TOK_LIT:
                if (c == t->c)
                    nxt[i + 1] = any = true;
                break;
            case TOK_ANY:
                if (c != '/')
                    nxt[i + 1] = any = true;
                break;
            case TOK_CLASS:
                if (has_bit(t->set, c) != t->is_negated)
                    nxt[i + 1] = any = true;
                break;
            case TOK_STAR:
                if (c != '/')
                    nxt[i] = any = true;
                break;
            case TOK_DSTAR:
                nloop[i] = any = true;
                if (c == '/')
                    nxt[i + 1] = true;
                break;
            case TOK_REST:
                nxt[i] = any = true;
                break;
            }
        }
        if (!any)
            return false;
        bool *tmp = cur;
        cur = nxt;
        nxt = tmp;
        tmp = loop;
        loop = nloop;
        nloop = tmp;
    }
}

bool dockerignore_is_excluded(const dockerignore *di, const char *path)
{
    if (!di || !di->n)
        return false;
    _cleanup_free_ char *raw = xstrdup(path);
    _cleanup_free_ char *file = clean_pattern(raw); /* same lexical cleaning as patterns */
    size_t n = strlen(file);
    bool matched = false;
    for (size_t i = 0; i < di->n; i++) {
        const pattern *pat = &di->pats[i];
        /* Docker: an exclusion pattern is tried only on matched paths, an inclusion only on
         * unmatched ones; the last one that matches decides. */
        if (pat->is_exception != matched)
            continue;
        bool m = match(pat, file, n);
        /* ... or one of the parent directories, shortest first */
        for (size_t j = 0; !m && j < n; j++)
            if (file[j] == '/')
                m = match(pat, file, j);
        if (m)
            matched = !pat->is_exception;
    }
    return matched;
}

bool dockerignore_has_exceptions(const dockerignore *di)
{
    return di && di->has_exceptions;
}

unsigned dockerignore_count(const dockerignore *di)
{
    return di ? (unsigned)di->n : 0;
}
