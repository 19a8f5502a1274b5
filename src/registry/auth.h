/* Registry authentication (Docker Registry v2 token flow, RFC 7235 challenges):
 *   a request answered 401 carries `WWW-Authenticate: Bearer realm="…",service="…",
 *   scope="…"` (or `Basic realm="…"`); for Bearer the client asks the realm for a token
 *   (GET realm?service=…&scope=…, with Basic credentials when it has some) and retries with
 *   `Authorization: Bearer <token>`.
 * Parses the challenge header and the token server's answer, both untrusted: bounded, and a
 * token is only accepted if it can not break out of an HTTP header (printable ASCII, no
 * spaces). No I/O here. */
#ifndef KL_REGISTRY_AUTH_H
#define KL_REGISTRY_AUTH_H

#include <stddef.h>

#include "lib/error.h"

#define OCI_AUTH_HEADER_MAX 8192
#define OCI_AUTH_TOKEN_MAX (64 * 1024)

typedef enum oci_auth_scheme {
    OCI_AUTH_NONE = 0,
    OCI_AUTH_BASIC,
    OCI_AUTH_BEARER,
} oci_auth_scheme;

typedef struct oci_auth_challenge {
    oci_auth_scheme scheme;
    char *realm;   /* Bearer: the token server's URL (http or https); Basic: may be NULL */
    char *service; /* may be NULL */
    char *scope;   /* may be NULL */
} oci_auth_challenge;

/* Parse one WWW-Authenticate value. Schemes are case-insensitive; unknown parameters are
 * skipped; ENOTSUP for a scheme other than Basic and Bearer, EINVAL for malformed text or a
 * Bearer challenge without an http(s) realm. */
int oci_auth_challenge_parse(const char *header, oci_auth_challenge *c, kl_error *err);
void oci_auth_challenge_clear(oci_auth_challenge *c);

/* The token request URL: realm?service=…&scope=… (percent-encoded; `scope` overrides the
 * challenge's when not NULL, and several scopes separated by spaces become one scope=
 * parameter each), xmalloc'ed. */
char *oci_auth_token_url(const oci_auth_challenge *c, const char *scope);

/* The token server's JSON answer -> the token ("token", else "access_token"), xmalloc'ed,
 * or NULL with EACCES/EINVAL. */
char *oci_auth_token_parse(const char *body, size_t len, kl_error *err);

/* "Basic base64(user:password)" for an Authorization header, xmalloc'ed. */
char *oci_auth_basic(const char *user, const char *password);

/* A registry's error answer as an error: ENOENT for 404, EACCES for 401/403, else EIO, with
 * the registry's own words (the first {"errors":[{"code","message"}]} entry of the body) or
 * the status. `what` names the request. Returns -1. */
int oci_registry_error(const char *what, long status, const char *body, size_t len, kl_error *err);

/* The same for an answer that refused a request made with credentials or without (401/403),
 * said as the user sees it: the token is not good for this (insufficient_scope), the
 * credentials of `username` were refused, or some are needed. Returns -1. */
int oci_auth_refused(const char *domain, const char *username, const char *challenge,
                     const char *what, long status, const char *body, size_t len, kl_error *err);

#endif
