/* Image references as Docker users write them, resolved to a registry, a repository and a
 * tag and/or digest:
 *   busybox                        -> docker.io / library/busybox : latest
 *   team/app:v1                    -> docker.io / team/app : v1
 *   127.0.0.1:5000/team/app:v1     -> 127.0.0.1:5000 / team/app : v1
 *   localhost/app@sha256:<hex>     -> localhost / app @ sha256:<hex>
 * The first component is a registry when it has a '.' or a ':', or is "localhost" (as
 * Docker decides). Repository components are lowercase [a-z0-9] joined by '.', '_', "__" or
 * dashes; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is sha256 (digest.h).
 *
 * Parses untrusted text (requests, Dockerfiles): anything malformed is a clean EINVAL that
 * says what is wrong. No I/O here. */
#ifndef KL_REGISTRY_REFERENCE_H
#define KL_REGISTRY_REFERENCE_H

#include <stdbool.h>

#include "lib/error.h"

#define OCI_REF_DEFAULT_DOMAIN "docker.io"
#define OCI_REF_DEFAULT_TAG "latest"
/* Where docker.io's Distribution API is served. */
#define OCI_REF_DOCKER_HUB_API "registry-1.docker.io"
#define OCI_REF_NAME_MAX 255 /* "domain/path" in full */
#define OCI_REF_TAG_MAX 128

typedef struct oci_ref {
    char *domain; /* "docker.io", "127.0.0.1:5000", "[::1]:5000", "localhost" */
    char *path;   /* "library/busybox", "team/app" */
    char *tag;    /* the tag given, "latest" when neither tag nor digest was; NULL otherwise */
    char *digest; /* "sha256:<hex>" or NULL */
} oci_ref;

/* Parse `s` into `ref` (fields xmalloc'ed; release with oci_ref_clear). */
int oci_ref_parse(const char *s, oci_ref *ref, kl_error *err);
void oci_ref_clear(oci_ref *ref);

/* "domain/path[:tag][@digest]" in full. */
char *oci_ref_format(const oci_ref *ref);
/* "domain/path" (the full repository name, no tag or digest). */
char *oci_ref_repository(const oci_ref *ref);
/* What Docker shows: docker.io/library/ and docker.io/ dropped ("busybox:latest",
 * "team/app:v1", "127.0.0.1:5000/team/app:v1"). */
char *oci_ref_familiar(const oci_ref *ref);
/* "tag" or "sha256:..." as the Distribution API wants it in /v2/<path>/manifests/<ref>
 * (the digest when both are given: it pins the content). */
const char *oci_ref_manifest_ref(const oci_ref *ref);
/* The host[:port] to talk to: registry-1.docker.io for docker.io, the domain otherwise. */
const char *oci_ref_api_host(const oci_ref *ref);

/* localhost, 127.0.0.0/8 or [::1], with or without a port: registries that may be spoken to
 * in plain HTTP without being marked insecure (as Docker does). */
bool oci_ref_domain_is_loopback(const char *domain);

/* The key Docker's CLI files Docker Hub's credentials under (config.json `auths`). */
#define OCI_REGISTRY_HUB_AUTH_KEY "https://index.docker.io/v1/"

/* A registry as users and config files name it ("127.0.0.1:5000", "https://reg.example/v2/",
 * "index.docker.io", "https://index.docker.io/v1/") -> its domain as references name it
 * ("127.0.0.1:5000", "reg.example", "docker.io"): scheme and path dropped, Docker Hub's
 * aliases made "docker.io". EINVAL when what is left is not a registry domain. */
char *oci_registry_normalize(const char *server, kl_error *err);
/* The config.json `auths` key for a domain: OCI_REGISTRY_HUB_AUTH_KEY for docker.io, else the
 * domain itself (what `docker login HOST` writes). */
char *oci_registry_auth_key(const char *domain);

#endif
