/* Container user resolution from the container's own passwd/group files (see userspec.h).
 * Everything here is a pure parser over bounded text except userspec_resolve_at(), which only
 * reads two files inside the container root. It must not call the host's NSS. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/linux/confined_open.h"
#include "host/linux/userspec.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define MAX_FIELDS 8

typedef struct field {
    const char *p;
    size_t n;
} field;

/* Split one line (without '\n') at ':'; returns the number of fields. */
static size_t split_fields(const char *line, size_t len, field *f, size_t max)
{
    size_t n = 0;
    const char *start = line;
    for (size_t i = 0; i <= len && n < max; i++) {
        if (i == len || line[i] == ':') {
            f[n].p = start;
            f[n].n = (size_t)(line + i - start);
            n++;
            start = line + i + 1;
        }
    }
    return n;
}

static bool field_eq(const field *f, const char *s)
{
    size_t n = strlen(s);
    return f->n == n && memcmp(f->p, s, n) == 0;
}

/* Strict decimal id: 1..10 digits, value <= 4294967294. */
static bool parse_id(const char *p, size_t n, uint32_t *out)
{
    if (n == 0 || n > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > 4294967294ULL)
        return false;
    *out = (uint32_t)v;
    return true;
}

static void copy_field(char *dst, size_t cap, const field *f)
{
    size_t n = f->n < cap - 1 ? f->n : cap - 1;
    memcpy(dst, f->p, n);
    dst[n] = '\0';
}

/* Iterate the lines of `text`; the callback returns true to stop. */
typedef bool (*line_fn)(field *f, size_t nf, void *ctx);

static void for_each_entry(const char *text, size_t min_fields, line_fn fn, void *ctx)
{
    if (!text)
        return;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && p[0] != '#') {
            field f[MAX_FIELDS];
            size_t nf = split_fields(p, len, f, MAX_FIELDS);
            if (nf >= min_fields && fn(f, nf, ctx))
                return;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
}

typedef struct pw_query {
    const char *name; /* match by name, or */
    uint32_t uid;     /* by uid when name == NULL */
    bool found;
    userspec_result *out;
} pw_query;

static bool pw_match(field *f, size_t nf, void *ctx)
{
    pw_query *q = ctx;
    uint32_t uid, gid;
    if (!parse_id(f[2].p, f[2].n, &uid) || !parse_id(f[3].p, f[3].n, &gid))
        return false; /* malformed entries are skipped, like libc does */
    if (q->name ? !field_eq(&f[0], q->name) : uid != q->uid)
        return false;
    q->found = true;
    q->out->uid = uid;
    q->out->gid = gid;
    copy_field(q->out->name, sizeof(q->out->name), &f[0]);
    if (nf > 5 && f[5].n > 0)
        copy_field(q->out->home, sizeof(q->out->home), &f[5]);
    if (nf > 6 && f[6].n > 0)
        copy_field(q->out->shell, sizeof(q->out->shell), &f[6]);
    return true;
}

typedef struct gr_query {
    const char *name;
    bool found;
    uint32_t gid;
} gr_query;

static bool gr_match(field *f, size_t nf, void *ctx)
{
    gr_query *q = ctx;
    uint32_t gid;
    if (!parse_id(f[2].p, f[2].n, &gid) || !field_eq(&f[0], q->name))
        return false;
    q->found = true;
    q->gid = gid;
    return true;
}

static void add_group(userspec_result *out, uint32_t gid)
{
    for (size_t i = 0; i < out->n_groups; i++)
        if (out->groups[i] == gid)
            return;
    if (out->n_groups < USERSPEC_MAX_GROUPS)
        out->groups[out->n_groups++] = gid;
}

static bool gr_member(field *f, size_t nf, void *ctx)
{
    userspec_result *out = ctx;
    uint32_t gid;
    if (nf < 4 || !parse_id(f[2].p, f[2].n, &gid))
        return false;
    const char *p = f[3].p, *end = f[3].p + f[3].n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        field m = {p, n};
        if (field_eq(&m, out->name))
            add_group(out, gid);
        p += n + 1;
    }
    return false;
}

int userspec_resolve_text(const char *spec, const char *passwd, const char *group,
                          userspec_result *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    strcpy(out->home, "/");
    strcpy(out->shell, "/bin/sh");
    if (!spec || !*spec)
        spec = "root";

    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (ulen == 0)
        return kl_error_set(err, EINVAL, "invalid user '%s': empty user name", spec);
    if (ulen >= sizeof(out->name) || memchr(spec, '\n', ulen))
        return kl_error_set(err, EINVAL, "invalid user '%s'", spec);
    char uname[sizeof(out->name)];
    memcpy(uname, spec, ulen);
    uname[ulen] = '\0';

    uint32_t id;
    pw_query q = {.out = out};
    if (parse_id(uname, ulen, &id)) {
        q.uid = id;
        for_each_entry(passwd, 4, pw_match, &q);
        if (!q.found) {
            out->uid = id;
            out->gid = 0;
        }
    } else {
        if (strcmp(uname, "root") == 0 && !passwd) {
            /* an image without /etc/passwd can still run as root */
            strcpy(out->name, "root");
            strcpy(out->home, "/root");
        } else {
            q.name = uname;
            for_each_entry(passwd, 4, pw_match, &q);
            if (!q.found)
                return kl_error_set(err, ENOENT,
                                    "unable to find user %s: no matching entries in passwd file",
                                    uname);
        }
    }

    if (colon) {
        const char *g = colon + 1;
        size_t glen = strlen(g);
        if (glen == 0 || strchr(g, ':') || strchr(g, '\n'))
            return kl_error_set(err, EINVAL, "invalid user '%s': bad group part", spec);
        if (!parse_id(g, glen, &out->gid)) {
            gr_query gq = {.name = g};
            for_each_entry(group, 3, gr_match, &gq);
            if (!gq.found)
                return kl_error_set(
                    err, ENOENT, "unable to find group %s: no matching entries in group file", g);
            out->gid = gq.gid;
        }
    }
    if (out->name[0])
        for_each_entry(group, 4, gr_member, out);
    return 0;
}

/* Read a regular file below rootfd, resolved inside it. NULL with *missing=true if absent. */
static char *read_in_root(int rootfd, const char *rel, bool *missing, kl_error *err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    *missing = false;
    _cleanup_close_ int fd = kl_openat2(rootfd, rel, &how);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = true;
            return NULL;
        }
        kl_error_errno(err, errno, "opening /%s in the container", rel);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= USERSPEC_MAX_FILE) {
                kl_error_set(err, EFBIG, "/%s in the container is too large", rel);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = KL_RETRY_EINTR(read(fd, buf + len, cap - len - 1));
        if (n < 0) {
            kl_error_errno(err, errno, "reading /%s in the container", rel);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return steal_pointer(&buf);
}

int userspec_resolve_at(int rootfd, const char *spec, userspec_result *out, kl_error *err)
{
    bool pw_missing, gr_missing;
    _cleanup_free_ char *pw = read_in_root(rootfd, "etc/passwd", &pw_missing, err);
    if (!pw && !pw_missing)
        return -1;
    _cleanup_free_ char *gr = read_in_root(rootfd, "etc/group", &gr_missing, err);
    if (!gr && !gr_missing)
        return -1;
    return userspec_resolve_text(spec, pw, gr, out, err);
}
