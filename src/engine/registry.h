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

#endif
