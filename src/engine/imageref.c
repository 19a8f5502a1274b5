/* Image reference parsing and resolution (see imageref.h). Input is untrusted; messages
 * quote it only after checking its length, so they stay short. */
#include "engine/imageref.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "registry/digest.h"
#include "registry/reference.h"

bool imageref_name_is_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > IMAGEREF_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

bool imageref_is_id_prefix(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A short, printable rendering of untrusted input for error messages. */
static char *quote(const char *s)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    size_t n = strlen(s);
    for (size_t i = 0; i < n && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            kl_buf_append(&b, &s[i], 1);
        else
            kl_buf_printf(&b, "\\x%02x", c);
    }
    if (n > 64)
        kl_buf_puts(&b, "...");
    return kl_buf_steal(&b);
}

static int invalid(kl_error *err, const char *s, const char *why)
{
    _cleanup_free_ char *q = quote(s);
    return kl_error_set(err, EINVAL, "invalid image reference '%s': %s", q, why);
}

/* `what` is "name", "tag" or "snapshot". */
static int check_part(const char *whole, const char *part, const char *what, kl_error *err)
{
    char why[160];
    if (!*part) {
        snprintf(why, sizeof(why), "empty %s", what);
        return invalid(err, whole, why);
    }
    if (!imageref_name_is_valid(part)) {
        snprintf(why, sizeof(why),
                 "the %s must be 1 to %d letters, digits, '_', '.' or '-', not starting with "
                 "'.' or '-'",
                 what, IMAGEREF_NAME_MAX);
        return invalid(err, whole, why);
    }
    return 0;
}

/* A name with a '/' is a Docker repository ("team/app", "127.0.0.1:5000/team/app",
 * "docker.io/library/busybox"): checked by the registry's rules and kept in its familiar
 * form (docker.io/ and docker.io/library/ dropped), so that every spelling of it is one
 * name. Returns the familiar form, or NULL with err set. */
static char *docker_name(const char *whole, const char *n, kl_error *err)
{
    oci_ref r;
    kl_error rerr = KL_ERROR_INIT;
    if (strchr(n, '@') || strlen(n) > OCI_REF_NAME_MAX || oci_ref_parse(n, &r, &rerr) < 0) {
        /* the registry parser's reason, without its own quoting of the input */
        const char *why_r = rerr.code ? rerr.msg : "too long";
        const char *q = strstr(why_r, "\": ");
        char why[KL_ERROR_MSG_MAX];
        snprintf(why, sizeof(why),
                 "the name must be a repository as Docker writes them "
                 "([registry[:port]/]lowercase[/components]): %s",
                 q ? q + 3 : why_r);
        invalid(err, whole, why);
        return NULL;
    }
    free(r.tag);
    r.tag = NULL; /* the name alone: the tag was split off before */
    char *f = oci_ref_familiar(&r);
    oci_ref_clear(&r);
    /* docker.io/library/x is x: then it is a name like any other, with its limits */
    if (!strchr(f, '/') && !imageref_name_is_valid(f)) {
        free(f);
        char why[160];
        snprintf(why, sizeof(why), "the name must be at most %d characters", IMAGEREF_NAME_MAX);
        invalid(err, whole, why);
        return NULL;
    }
    return f;
}

const char *imageref_tag_colon(const char *nametag)
{
    const char *slash = strrchr(nametag, '/');
    return strrchr(slash ? slash : nametag, ':');
}

/* name[:tag] into name/tag; exactly the rules of imageref_parse without the '@' part. A
 * Docker repository's tag is after the last ':' that follows its last '/'. */
static int split_nametag(const char *whole, const char *s, char **name, char **tag, bool *has_tag,
                         kl_error *err)
{
    const char *slash = strrchr(s, '/');
    const char *colon = slash ? imageref_tag_colon(s) : strchr(s, ':');
    if (colon && strchr(colon + 1, ':'))
        return invalid(err, whole, "more than one ':'");
    if (slash && colon && strchr(slash, ':') != colon)
        return invalid(err, whole, "more than one ':' after the last '/'");
    _cleanup_free_ char *n = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
    _cleanup_free_ char *t = colon ? xstrdup(colon + 1) : xstrdup(IMAGEREF_DEFAULT_TAG);
    if (check_part(whole, t, "tag", err) < 0)
        return -1;
    if (slash) {
        if (!*n || n[0] == '/')
            return invalid(err, whole, "empty name");
        char *f = docker_name(whole, n, err);
        if (!f)
            return -1;
        free(n);
        n = f;
    } else if (check_part(whole, n, "name", err) < 0) {
        return -1;
    }
    *name = steal_pointer(&n);
    *tag = steal_pointer(&t);
    *has_tag = colon != NULL;
    return 0;
}

bool imageref_repository_is_valid(const char *s)
{
    if (!s || !strchr(s, '/'))
        return imageref_name_is_valid(s);
    _cleanup_free_ char *f = docker_name(s, s, NULL);
    return f && !strcmp(f, s);
}

int imageref_parse(const char *s, imageref *ref, kl_error *err)
{
    *ref = (imageref){0};
    if (!s || !*s)
        return kl_error_set(err, EINVAL, "invalid image reference: empty");
    if (strlen(s) > OCI_REF_NAME_MAX + 2 + IMAGEREF_NAME_MAX + OCI_DIGEST_STR_LEN)
        return invalid(err, s, "too long");
    const char *at = strchr(s, '@');
    if (at && strchr(at + 1, '@'))
        return invalid(err, s, "more than one '@'");
    _cleanup_free_ char *ident = at ? xstrndup(s, (size_t)(at - s)) : xstrdup(s);
    _cleanup_free_ char *snap = NULL, *digest = NULL;
    if (at && strchr(at + 1, ':')) {
        /* name@sha256:<hex>: a registry digest (a snapshot name has no ':') */
        if (!oci_digest_is_valid(at + 1))
            return invalid(err, s, "the digest must be sha256:<64 lowercase hex digits>");
        digest = xstrdup(at + 1);
    } else if (at) {
        snap = xstrdup(at + 1);
        if (check_part(s, snap, "snapshot", err) < 0)
            return -1;
    }
    _cleanup_free_ char *name = NULL, *tag = NULL;
    bool has_tag;
    if (split_nametag(s, ident, &name, &tag, &has_tag, err) < 0)
        return -1;
    ref->ident = steal_pointer(&ident);
    ref->name = steal_pointer(&name);
    ref->tag = steal_pointer(&tag);
    ref->snapshot = steal_pointer(&snap);
    ref->digest = steal_pointer(&digest);
    ref->has_tag = has_tag;
    return 0;
}

void imageref_clear(imageref *ref)
{
    free(ref->ident);
    free(ref->name);
    free(ref->tag);
    free(ref->snapshot);
    free(ref->digest);
    *ref = (imageref){0};
}

int imageref_parse_nametag(const char *s, char **name, char **tag, kl_error *err)
{
    if (!s || !*s) {
        *name = xstrdup("");
        *tag = xstrdup("");
        return 0;
    }
    if (strchr(s, '@'))
        return invalid(err, s, "a name and tag can not name a snapshot or a digest ('@')");
    bool has_tag;
    return split_nametag(s, s, name, tag, &has_tag, err);
}

char *imageref_format(const imageref *ref)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    if (!ref->has_tag && (ref->digest || imageref_is_id_prefix(ref->name)))
        kl_buf_puts(&b, ref->name);
    else
        kl_buf_printf(&b, "%s:%s", ref->name, ref->tag);
    if (ref->snapshot)
        kl_buf_printf(&b, "@%s", ref->snapshot);
    else if (ref->digest)
        kl_buf_printf(&b, "@%s", ref->digest);
    return kl_buf_steal(&b);
}

int imageref_resolve(const imageref *ref, const imageref_candidate *cands, size_t n, kl_error *err)
{
    if (ref->digest) {
        /* name@digest: the image pulled as that name from that manifest or index (the tag,
         * if one is given, does not matter: the digest pins the content) */
        for (size_t i = 0; i < n; i++)
            if (cands[i].name && !strcmp(cands[i].name, ref->name) &&
                ((cands[i].digest && !strcmp(cands[i].digest, ref->digest)) ||
                 (cands[i].manifest && !strcmp(cands[i].manifest, ref->digest))))
                return (int)i;
        _cleanup_free_ char *q = imageref_format(ref);
        return kl_error_set(err, ENOENT, "no such image '%s'", q);
    }
    bool can_be_id = !ref->has_tag && imageref_is_id_prefix(ref->name);
    if (can_be_id)
        for (size_t i = 0; i < n; i++)
            if (cands[i].id && !strcmp(cands[i].id, ref->name))
                return (int)i;
    for (size_t i = 0; i < n; i++)
        if (cands[i].name && cands[i].tag && !strcmp(cands[i].name, ref->name) &&
            !strcmp(cands[i].tag, ref->tag))
            return (int)i;
    int found = -1;
    size_t matches = 0;
    _cleanup_buf_ kl_buf names = KL_BUF_INIT;
    if (can_be_id) {
        size_t pl = strlen(ref->name);
        for (size_t i = 0; i < n; i++) {
            if (!cands[i].id || strncmp(cands[i].id, ref->name, pl))
                continue;
            if (matches++ < 5)
                kl_buf_printf(&names, "%s%s", matches > 1 ? ", " : "", cands[i].id);
            found = (int)i;
        }
    }
    if (matches == 1)
        return found;
    _cleanup_free_ char *q = imageref_format(ref);
    if (matches > 1)
        return kl_error_set(err, EINVAL, "image reference '%s' is ambiguous: %s%s", q, names.data,
                            matches > 5 ? ", ..." : "");
    return kl_error_set(err, ENOENT, "no such image '%s'", q);
}

int imageref_stack_prefix(const char *const *layers, size_t n, const char *snapshot, size_t *len,
                          kl_error *err)
{
    if (!snapshot) {
        *len = n;
        return 0;
    }
    if (snapshot[0] == '@')
        snapshot++;
    for (size_t i = n; i-- > 0;)
        if (layers[i] && !strcmp(layers[i], snapshot)) {
            *len = i + 1;
            return 0;
        }
    _cleanup_free_ char *q = quote(snapshot);
    return kl_error_set(err, ENOENT, "no such snapshot '@%s' in the image", q);
}
