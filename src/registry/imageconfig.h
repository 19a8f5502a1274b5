/* The image configuration blob (OCI image-spec "config", Docker image JSON): the platform,
 * the layers' uncompressed digests (rootfs.diff_ids) and the defaults a container gets
 * (config.Cmd, Entrypoint, Env, User, WorkingDir, ExposedPorts, Labels, StopSignal).
 *
 * Untrusted: comes from a registry or an archive. Bounded (size, counts, string lengths),
 * every diff_id validated; fields of the wrong type are an EINVAL naming the field (a
 * registry image that says Cmd is a number is broken, not something to guess about);
 * absent or null fields are simply unset. No I/O here. */
#ifndef KL_REGISTRY_IMAGECONFIG_H
#define KL_REGISTRY_IMAGECONFIG_H

#include <stddef.h>

#include "lib/error.h"

#define OCI_CONFIG_MAX_BYTES (8u * 1024 * 1024)
#define OCI_CONFIG_MAX_ITEMS 4096 /* per list or map */
#define OCI_CONFIG_MAX_STRING 65536

typedef struct oci_imgconfig {
    char *os;             /* may be NULL */
    char *architecture;   /* may be NULL */
    char *variant;        /* may be NULL */
    char *user;           /* config.User or NULL */
    char *working_dir;    /* config.WorkingDir or NULL */
    char *stop_signal;    /* config.StopSignal or NULL */
    char **env;           /* "K=V" vector or NULL */
    char **entrypoint;    /* vector or NULL (NULL and empty differ: empty resets a parent's) */
    char **cmd;           /* vector or NULL */
    char **exposed_ports; /* "80/tcp" ... sorted as in the JSON object, or NULL */
    char **label_keys;    /* parallel to label_values, or NULL */
    char **label_values;
    char **diff_ids; /* rootfs.diff_ids, bottom first, validated digests (never NULL) */
    size_t n_diff_ids;
} oci_imgconfig;

int oci_imgconfig_parse(const char *data, size_t len, oci_imgconfig *c, kl_error *err);
void oci_imgconfig_clear(oci_imgconfig *c);

#endif
