/* Registry authentication: challenges and tokens (auth.h). */
#include "registry/auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

void oci_auth_challenge_clear(oci_auth_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

/* RFC 7230 tchar */
static bool is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int oci_auth_challenge_parse(const char *header, oci_auth_challenge *c, kl_error *err)
{
    memset(c, 0, sizeof(*c));
    if (!header)
        return kl_error_set(err, EINVAL, "authentication challenge: missing");
    if (strlen(header) > OCI_AUTH_HEADER_MAX)
        return kl_error_set(err, EINVAL, "authentication challenge: too long");
    const char *p = skip_ws(header);
    const char *s = p;
    while (is_tchar(*p))
        p++;
    size_t slen = (size_t)(p - s);
    if (slen == 6 && !strncasecmp(s, "bearer", 6))
        c->scheme = OCI_AUTH_BEARER;
    else if (slen == 5 && !strncasecmp(s, "basic", 5))
        c->scheme = OCI_AUTH_BASIC;
    else if (slen == 0)
        return kl_error_set(err, EINVAL, "authentication challenge: no scheme");
    else
        return kl_error_set(err, ENOTSUP, "unsupported authentication scheme \"%.*s\"",
                            (int)(slen > 40 ? 40 : slen), s);
    if (*p && *p != ' ' && *p != '\t') {
        oci_auth_challenge_clear(c);
        return kl_error_set(err, EINVAL, "authentication challenge: malformed");
    }
    p = skip_ws(p);
    /* auth-params: name=token or name="quoted", separated by commas */
    while (*p) {
        const char *n = p;
        while (is_tchar(*p))
            p++;
        size_t nlen = (size_t)(p - n);
        p = skip_ws(p);
        if (nlen == 0 || *p != '=') {
            oci_auth_challenge_clear(c);
            return kl_error_set(err, EINVAL, "authentication challenge: malformed parameter");
        }
        p = skip_ws(p + 1);
        _cleanup_buf_ kl_buf v = KL_BUF_INIT;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                kl_buf_append(&v, p, 1);
                p++;
            }
            if (*p != '"') {
                oci_auth_challenge_clear(c);
                return kl_error_set(err, EINVAL, "authentication challenge: unterminated quote");
            }
            p++;
        } else {
            const char *vs = p;
            while (is_tchar(*p) || *p == '/' || *p == ':' || *p == '=')
                p++;
            kl_buf_append(&v, vs, (size_t)(p - vs));
        }
        char **slot = NULL;
        if (nlen == 5 && !strncasecmp(n, "realm", 5))
            slot = &c->realm;
        else if (nlen == 7 && !strncasecmp(n, "service", 7))
            slot = &c->service;
        else if (nlen == 5 && !strncasecmp(n, "scope", 5))
            slot = &c->scope;
        if (slot) {
            free(*slot);
            *slot = kl_buf_steal(&v);
        }
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p) {
            oci_auth_challenge_clear(c);
            return kl_error_set(err, EINVAL, "authentication challenge: malformed parameter list");
        }
    }
    if (c->scheme == OCI_AUTH_BEARER) {
        if (!c->realm ||
            (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0)) {
            oci_auth_challenge_clear(c);
            return kl_error_set(err, EINVAL, "authentication challenge: no http(s) token realm");
        }
        for (const char *q = c->realm; *q; q++)
            if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '?' || *q == '#') {
                oci_auth_challenge_clear(c);
                return kl_error_set(err, EINVAL, "authentication challenge: invalid realm");
            }
    }
    return 0;
}

static void append_escaped(kl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch)) {
            kl_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            kl_buf_append(b, e, 3);
        }
    }
}

char *oci_auth_token_url(const oci_auth_challenge *c, const char *scope)
{
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, c->realm ? c->realm : "");
    char sep = '?';
    if (c->service) {
        kl_buf_printf(&b, "%cservice=", sep);
        append_escaped(&b, c->service);
        sep = '&';
    }
    const char *sc = scope ? scope : c->scope;
    if (sc && scope) {
        /* one scope= parameter per scope (what Docker sends for several) */
        _cleanup_free_ char *copy = xstrdup(scope);
        for (char *save = NULL, *one = strtok_r(copy, " ", &save); one;
             one = strtok_r(NULL, " ", &save)) {
            kl_buf_printf(&b, "%cscope=", sep);
            append_escaped(&b, one);
            sep = '&';
        }
    } else if (sc) {
        kl_buf_printf(&b, "%cscope=", sep);
        append_escaped(&b, sc);
    }
    return kl_buf_steal(&b);
}

char *oci_auth_token_parse(const char *body, size_t len, kl_error *err)
{
    if (len > 4 * OCI_AUTH_TOKEN_MAX) {
        kl_error_set(err, EINVAL, "token server: answer too long");
        return NULL;
    }
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        kl_error_set(err, EINVAL, "token server: not a JSON object");
        return NULL;
    }
    const json_t *t = json_object_get(root, "token");
    if (!json_is_string(t) || json_string_length(t) == 0)
        t = json_object_get(root, "access_token");
    if (!json_is_string(t) || json_string_length(t) == 0) {
        kl_error_set(err, EACCES, "token server: no token in the answer");
        return NULL;
    }
    const char *s = json_string_value(t);
    size_t n = json_string_length(t);
    if (n > OCI_AUTH_TOKEN_MAX || strlen(s) != n) {
        kl_error_set(err, EINVAL, "token server: invalid token");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~') {
            kl_error_set(err, EINVAL, "token server: invalid token");
            return NULL;
        }
    return xstrdup(s);
}

char *oci_auth_basic(const char *user, const char *password)
{
    _cleanup_free_ char *pair = xasprintf("%s:%s", user ? user : "", password ? password : "");
    _cleanup_free_ char *enc = kl_base64_encode_alloc(pair, strlen(pair));
    return xasprintf("Basic %s", enc);
}

int oci_registry_error(const char *what, long status, const char *body, size_t len, kl_error *err)
{
    int code = status == 404 ? ENOENT : (status == 401 || status == 403) ? EACCES : EIO;
    _cleanup_json_ json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    const char *ecode = jx_str(e0, "code", NULL), *emsg = jx_str(e0, "message", NULL);
    if (ecode && emsg)
        return kl_error_set(err, code, "%s: %.100s: %.300s (HTTP %ld)", what, ecode, emsg, status);
    return kl_error_set(err, code, "%s: HTTP %ld", what, status);
}

int oci_auth_refused(const char *domain, const char *username, const char *challenge,
                     const char *what, long status, const char *body, size_t len, kl_error *err)
{
    oci_registry_error(what, status, body, len, err);
    bool user = username && *username;
    /* a token was given, but not for this (RFC 6750's insufficient_scope) */
    if (challenge && strstr(challenge, "insufficient_scope"))
        return kl_error_prefix(err, "registry %s: %s%.200s%s is not allowed to do this", domain,
                               user ? "user '" : "", user ? username : "anonymous",
                               user ? "'" : "");
    if (user)
        return kl_error_prefix(err, "registry %s: the credentials of user '%.200s' were refused",
                               domain, username);
    return kl_error_prefix(err, "registry %s: authentication required, no credentials", domain);
}
