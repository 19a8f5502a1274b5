/* kleened's configuration: the YAML file (docs/config.md), its defaults and its checks.
 *
 * Reads and validates; it does not act. Nothing here binds a socket, creates a directory,
 * opens the log or prints: TLS files are only checked to exist, be regular and be readable,
 * and anything the caller should log comes back in `kl_config.warnings`. */
#ifndef KL_DAEMON_CONFIG_H
#define KL_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define KL_CONFIG_DEFAULT_PATH "/etc/kleened/config.yaml"
#define KL_CONFIG_DEFAULT_KLEENE_ROOT "/var/lib/kleene"
#define KL_CONFIG_DEFAULT_RUN_ROOT "/var/run/kleene"
#define KL_CONFIG_DEFAULT_PIDFILE "/var/run/kleened.pid"
#define KL_CONFIG_DEFAULT_LOG_FILE "/var/log/kleened.log"
#define KL_CONFIG_DEFAULT_LISTENER "http:///var/run/kleened.sock"
/* The Docker Engine API's listener (docs/docker-api.md). */
#define KL_CONFIG_DEFAULT_DOCKER_LISTENER "http:///var/run/kleened-docker.sock"
#define KL_CONFIG_DEFAULT_PF_TEMPLATE "/usr/local/etc/kleened/pf.conf.kleene"
#define KL_CONFIG_DEFAULT_PF_CONFIG "/etc/pf.conf"
#define KL_CONFIG_DEFAULT_PF_ANCHOR "kleene"
/* Docker's directory of per-registry CA files (docs/config.md `registry_certs_dir`). */
#define KL_CONFIG_DEFAULT_REGISTRY_CERTS_DIR "/etc/docker/certs.d"
/* More entries than this in insecure_registries is a mistake. */
#define KL_CONFIG_MAX_INSECURE_REGISTRIES 256
#define KL_CONFIG_DEFAULT_MAX_BODY_BYTES ((size_t)1 << 20)    /* 1 MiB */
#define KL_CONFIG_DEFAULT_MAX_HEADER_BYTES ((size_t)16 << 10) /* 16 KiB */
#define KL_CONFIG_DEFAULT_REQUEST_TIMEOUT 60u                 /* seconds */
#define KL_CONFIG_DEFAULT_WS_IDLE_TIMEOUT 60u      /* seconds, the original's (API.md §7.1) */
#define KL_CONFIG_DEFAULT_REQUEST_HEAD_TIMEOUT 10u /* seconds */
#define KL_CONFIG_DEFAULT_MAX_CONNECTIONS_PER_PEER 64u
/* A config file larger than this is refused (it is a handful of keys). */
#define KL_CONFIG_MAX_FILE_BYTES ((size_t)1 << 20)
/* More listeners than this is a mistake, not a configuration. */
#define KL_CONFIG_MAX_LISTENERS 64

typedef enum { KL_LISTEN_UNIX, KL_LISTEN_TCP4, KL_LISTEN_TCP6 } kl_listen_kind;

typedef struct kl_listener_config {
    char *address;       /* as written in the file, e.g. "https://127.0.0.1:8085" */
    kl_listen_kind kind; /* UNIX socket, IPv4 or IPv6 TCP */
    bool tls;            /* https:// */
    char *path;          /* KL_LISTEN_UNIX: absolute socket path; else NULL */
    char *host;          /* TCP: the IP literal, without brackets for IPv6; else NULL */
    int port;            /* TCP: 1..65535; else 0 */
    /* TLS files (NULL when not given). Only kept for https listeners. */
    char *tlscert, *tlskey, *tlsdh, *tlscacert;
    bool tlsverify;   /* require and verify a client certificate against tlscacert */
    bool tls_ignored; /* TLS keys were given on an http:// listener and dropped (warned) */
    bool key_in_cert; /* https without tlskey: the private key is inside tlscert */
} kl_listener_config;

typedef struct kl_config {
    char *source; /* the file this came from; NULL when it is all defaults */
    char *kleene_root, *run_root, *pidfile, *log_file, *nat_if;
    /* ours: where dataset names of `image create zfs-copy|zfs-clone` are directories
     * (`zroot/kleene_basejail` → <zfs_dataset_root>/zroot/kleene_basejail); default "/", as ZFS
     * mounts a dataset pool/x at /pool/x */
    char *zfs_dataset_root;
    /* ours (docs/config.md): registries spoken to over plain HTTP besides loopback ones
     * ("host[:port]" or an IP prefix "10.0.0.0/8"), NULL-terminated (may be NULL) */
    char **insecure_registries;
    /* ours: per-registry CA files, <registry_certs_dir>/<host[:port]>/ca.crt */
    char *registry_certs_dir;
    /* ours: pushes upload blobs in PATCH chunks of this many bytes; 0: one PUT per blob */
    uint64_t registry_push_chunk_size;
    char *pf_config_template_path, *pf_config_path; /* kept for compatibility, unused on Linux */
    /* FreeBSD host layer (docs/freebsd.md), accepted and unused on Linux. zfs_root: the root
     * dataset ("zroot/kleene"); NULL when the file does not say, and then the environment
     * variable KLEENED_ZFS_ROOT, else zroot/kleene. pf_anchor: our pf anchor ("kleene"). */
    char *zfs_root, *pf_anchor;
    bool enable_logging;
    int log_level; /* a kl_log_level */
    size_t max_body_bytes, max_header_bytes;
    unsigned request_timeout;          /* seconds */
    unsigned websocket_idle_timeout;   /* seconds without a frame from the client */
    unsigned request_head_timeout;     /* seconds for a request line and headers to arrive */
    unsigned max_connections_per_peer; /* TCP listeners: connections from one address */
    kl_listener_config *listeners;
    size_t n_listeners;
    /* docker_listening_sockets: the Docker Engine API's door (same forms; may be empty) */
    kl_listener_config *docker_listeners;
    size_t n_docker_listeners;
    char **warnings; /* NULL-terminated messages for the caller to log; may be NULL */
} kl_config;

/* Fill `out` with the built-in defaults (one listener, http:///var/run/kleened.sock; one
 * Docker API listener, http:///var/run/kleened-docker.sock). */
void kl_config_defaults(kl_config *out);

/* Read and check a config file. path NULL means KL_CONFIG_DEFAULT_PATH, and then a missing
 * file gives the defaults (out->source stays NULL); an explicit path that is missing is an
 * error. On failure `out` is left zeroed (kl_config_free() on it is harmless). */
int kl_config_load(const char *path, kl_config *out, kl_error *err);

/* Parse YAML text (`len` bytes; need not be NUL-terminated). `origin` names it in errors
 * ("origin:LINE: ..."). Keys not in the text keep their defaults. Same contract as load. */
int kl_config_parse(const char *yaml, size_t len, const char *origin, kl_config *out,
                    kl_error *err);

/* Parse a listener address (API.md §2.2): http[s]://IPv4:PORT[/], http[s]://[IPv6]:PORT[/],
 * http[s]:///abs/path.sock. Fills address, kind, tls, path, host and port of `out` (which is
 * overwritten, not freed); the TLS fields are zeroed. */
int kl_listen_address_parse(const char *uri, kl_listener_config *out, kl_error *err);

/* Free what a listener owns and zero it. */
void kl_listener_config_clear(kl_listener_config *l);

/* Free what a config owns and zero it. NULL is fine. */
void kl_config_free(kl_config *c);

#endif
