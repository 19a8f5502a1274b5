/* Registry credentials where Docker's CLI keeps them (docs/klee-differences.md "login"):
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json. `auths` maps a registry to
 * {"auth": base64("user:password")}; Docker Hub's key is "https://index.docker.io/v1/",
 * others are "host[:port]" (keys written with a scheme or a path, as older tools did, match
 * too). `credHelpers` (per registry) and `credsStore` (all registries) name a credential
 * helper program docker-credential-<name> (get/store/erase, the docker-credential-helpers
 * protocol: the secret travels on its stdin/stdout, never on a command line); one that is not
 * installed is an error that says so. Every other key of the file is kept as it is; the file
 * is replaced atomically (a new file, mode 0600, renamed over it). */
#ifndef KLEE_DOCKERCFG_H
#define KLEE_DOCKERCFG_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/error.h"

typedef struct dockercfg_cred {
    char *username;
    char *password;
} dockercfg_cred;

/* Free (and wipe the password of) a credential. */
void dockercfg_cred_clear(dockercfg_cred *c);

/* The file: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (xmalloc'ed); NULL
 * with err when neither variable is set. */
char *dockercfg_path(kl_error *err);

/* ---- pure parts (no I/O; fuzz/fuzz_dockercfg.c) ---- */

/* Decode an `auth` value: base64 of "user:password" (the first ':' splits). EINVAL when it is
 * not base64, has no ':' or an empty user. */
int dockercfg_decode_auth(const char *b64, dockercfg_cred *out, kl_error *err);

/* The `auths` entry of the parsed file `cfg` for the registry `domain` (oci_registry_normalize
 * form): the exact key (the Docker Hub key for docker.io), else any key that normalizes to
 * the domain. 1 found (out filled), 0 none, -1 a malformed entry (err). An entry with only an
 * `identitytoken` is an error (not supported). */
int dockercfg_auths_lookup(const json_t *cfg, const char *domain, dockercfg_cred *out,
                           kl_error *err);

/* The credential helper for `domain` in `cfg` ("desktop" for docker-credential-desktop), or
 * NULL (the file itself). Borrowed from cfg. */
const char *dockercfg_helper_for(const json_t *cfg, const char *domain);

/* ---- with the file and helpers ---- */

/* Credentials for `domain`: 1 found, 0 none (no file, no entry), -1 error (a file that is not
 * JSON, a helper that is missing or failed). */
int dockercfg_get(const char *domain, dockercfg_cred *out, kl_error *err);

/* Store credentials for `domain` (in its helper, or the file). *where gets a description of
 * where ("/root/.docker/config.json" or "credential helper docker-credential-x"),
 * xmalloc'ed. */
int dockercfg_store(const char *domain, const char *username, const char *password, char **where,
                    kl_error *err);

/* Remove the credentials of `domain` (helper or file; every key of the file for it). 1 when
 * some were removed, 0 when there were none. */
int dockercfg_erase(const char *domain, kl_error *err);

#endif
