/* Registry access settings and credentials (docs/image-fetch.md "Credentials", "Transport"):
 * what kleened tells the helper kleene-fetch about a registry before a pull, a push or a
 * login. The engine never speaks to a registry itself.
 *
 * Credentials come with a request (the Kleene API's `auth` field, the Docker door's
 * X-Registry-Auth), are used for that request only and never stored or logged by kleened;
 * they reach the helper in its environment, not on its command line. */
#ifndef KL_ENGINE_REGISTRY_H
#define KL_ENGINE_REGISTRY_H

#include <stdbool.h>

#include "engine/engine.h"
#include "lib/error.h"

/* Longest username and password accepted (a token as password can be long). */
#define REGISTRY_USERNAME_MAX 1024
#define REGISTRY_PASSWORD_MAX 16384

/* Check credentials before they go anywhere: a username (may be NULL or "": anonymous, then
 * the password must be empty too) without ':' (Basic authentication cannot carry it) and
 * neither of them with control characters; bounded lengths. EINVAL with a message naming
 * the field (never its value). */
int registry_credentials_check(const char *username, const char *password, kl_error *err);

/* How kleened reaches the registry `domain` ("127.0.0.1:5000", "docker.io"):
 * `insecure` when the config's insecure_registries name it (exactly, or an IP prefix holding
 * its IP literal); from <registry_certs_dir>/<domain>/ (Docker's layout), as Docker reads it:
 * `ca_files` every *.crt (CAs trusted besides the system's; by name; NULL when none),
 * `client_cert`/`client_key` the first NAME.cert (by name) with its NAME.key (libcurl
 * presents one client certificate). A NAME.cert without NAME.key, or a NAME.key without
 * NAME.cert, is an error naming the file (EINVAL), as Docker's. Loopback registries are the
 * helper's business (always allowed plain HTTP). Release with registry_transport_clear, also
 * after an error. */
typedef struct registry_transport {
    bool insecure;
    char **ca_files; /* strv */
    char *client_cert, *client_key;
} registry_transport;

int registry_transport_get(kl_engine *e, const char *domain, registry_transport *t, kl_error *err);
void registry_transport_clear(registry_transport *t);
#define _cleanup_registry_transport_ __attribute__((cleanup(registry_transport_clear)))

/* The domain of a reference ("busybox" -> "docker.io"), xmalloc'ed, or NULL if malformed. */
char *registry_domain_of(const char *reference);
/* Its repository path in the registry ("busybox" -> "library/busybox", "127.0.0.1:5000/team/a"
 * -> "team/a"), xmalloc'ed, or NULL if malformed. */
char *registry_path_of(const char *reference);

/* Text to add to an error whose code is EKEYREJECTED (a certificate that did not verify):
 * where kleened looks for the registry's CA; xmalloc'ed. */
char *registry_tls_hint(kl_engine *e, const char *domain);

/* Check credentials against a registry (POST /auth, `klee login`): `server` as users write
 * it (oci_registry_normalize); the helper asks the registry (host_login_child). Returns the
 * normalized domain (xmalloc'ed) or NULL: EINVAL (not a registry, bad credentials), EACCES
 * (refused: the message names the registry and the user), ECONNREFUSED & co. */
char *registry_login(kl_engine *e, const char *server, const char *username, const char *password,
                     kl_error *err);

#endif
