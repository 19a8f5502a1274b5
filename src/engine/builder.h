/* Image builds (API.md §7.4, §8.3; KLEENE-GUIDE §2.1, §2.2; docs/dockerfile.md): run a parsed
 * Dockerfile against the layer store. The design is at the top of builder.c.
 *
 * The WebSocket side (src/api/images_build.c) casts the config, calls builder_load() for the
 * synchronous pre-checks, then builder_run() in a worker thread; every text the build shows
 * the client goes through the output callback, one call per wire frame. */
#ifndef KL_ENGINE_BUILDER_H
#define KL_ENGINE_BUILDER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dockerfile.h"
#include "engine/engine.h"
#include "lib/error.h"

/* One output frame (not NUL-terminated; may be raw process output). Called from the thread
 * that runs builder_run. */
typedef void (*builder_output_fn)(const char *data, size_t n, void *ctx);

/* Credentials for one registry a build may pull from (docs/dockerfile.md "FROM a registry
 * image"): registry as a reference's domain names it ("docker.io", "127.0.0.1:5000"). */
typedef struct builder_credential {
    const char *registry;
    const char *username;
    const char *password;
} builder_credential;

typedef struct builder_opts {
    const char *context;    /* absolute host directory */
    const char *dockerfile; /* relative to context; NULL: "Dockerfile" */
    const char *tag;        /* "name[:tag]" or "" */
    bool quiet;
    bool cleanup;
    bool nocache;
    bool line_numbers;      /* ours, opt-in: Dockerfile and step errors start with `line N: ` */
    char *const *buildargs; /* NULL-terminated "name=value", may be NULL */
    const json_t *labels;   /* ours: set on the image over its LABELs; the caller checks them
                               (kl_labels_check); may be NULL */
    /* From container_config (API.md §5.1). */
    const char *from_override;  /* container_config.image: replaces every FROM; NULL/"" none */
    const char *user;           /* "" → the image's */
    char *const *env;           /* "K=V", may be NULL */
    char *const *jail_param;    /* may be NULL */
    const json_t *mounts;       /* MountPointConfig[] (cast), may be NULL */
    const char *network_driver; /* "host" shares the host's network; anything else: own netns */
    /* EndPointConfig[] (cast; `container` ignored), may be NULL. With a driver other than
     * host/disabled and at least one entry, the build gets a container record
     * `builder_<image id>` connected to them, and every RUN step is plugged into them. */
    const json_t *networks;
    builder_output_fn output;
    void *output_ctx;
    atomic_bool *cancel; /* set by another thread (client gone): stop, clean up, save nothing */
    /* FROM a registry image (docs/dockerfile.md "FROM a registry image"): one the store lacks
     * is pulled (images_create method "pull", its progress in the output). With `pull`
     * (ours, opt-in; Docker's --pull), a FROM image that came from a registry is pulled again
     * (a fresh look) even when the store has it; images made here are used as they are. */
    bool pull;
    const char *platform; /* pulls: "os/arch[/variant]"; NULL/"" the host's */
    const char *target;   /* stop after the stage of this name (Docker's --target); NULL/"" */
    /* Pulls from a registry listed here use its credentials (Docker's X-Registry-Config);
     * others are anonymous. Never logged. */
    const builder_credential *credentials;
    size_t n_credentials;
    /* For doors that frame the output themselves (Docker's JSON lines): the builder's own
     * messages end with "\n", and the message of the failure is not sent through output (the
     * caller reports err). */
    bool message_newlines;
    bool errors_to_caller;
} builder_opts;

/* Read <context>/<dockerfile> and parse it. Errors: `cannot open the Dockerfile <path>: <why>`
 * (the original's `Could not open Docker file <path>: :enoent`, docs/klee-differences.md),
 * and the parser's. */
int builder_load(const builder_opts *o, dockerfile *df, kl_error *err);

typedef struct builder_result {
    char *image_id; /* success: the new image (xmalloc'ed) */
    /* failure: the close data of API.md §7.4 item 6 ("", "@<snap>", "no snapshots
     * available"), xmalloc'ed */
    char *data;
    int exit_code; /* failure: a RUN step's non-zero exit code, else 0 */
} builder_result;

/* Run the build. `id` is the image id announced in the starting message. Returns 0 on
 * success, -1 on failure (the reason has been sent through the output callback, as the
 * original does; err has it too). A cancelled build leaves nothing behind. */
int builder_run(kl_engine *e, const builder_opts *o, const dockerfile *df, const char *id,
                builder_result *res, kl_error *err);
void builder_result_clear(builder_result *r);

/* At start (engine_open, before the layer store is swept): stop the step containers of
 * builds a crash interrupted (their monitors outlive kleened; nothing will commit what they
 * make) and delete their run directories, so that their staging directories can go. */
void builder_sweep(kl_engine *e);

/* The end of the build with a `target` (o->target): the index of the first instruction after
 * the target stage (df->n when it is the last, or when target is NULL/""). ENOENT "failed to
 * reach build target <t> in Dockerfile" when no stage has that name. */
int builder_target_end(const dockerfile *df, const char *target, size_t *end, kl_error *err);

/* Forget every build cache key (Docker's /build/prune): the next builds run every step again.
 * The keys name layers of images, which stay: nothing is freed on disk. Returns the keys
 * removed (a JSON array of strings), or NULL. */
json_t *builder_cache_prune(kl_engine *e, kl_error *err);

/* ---- pure parts, exposed for tests ------------------------------------------------------- */

/* The cache key: hex sha1 over the parent layer id and the NUL-separated parts. */
char *builder_cache_key(const char *parent_layer, char *const *parts);

/* Lexically clean a COPY source relative to the context ("./a//b" → "a/b", "." → ".").
 * NULL (EPERM `forbidden path outside the build context: <src>`) when it leaves it. */
char *builder_clean_source(const char *src, kl_error *err);

/* Expand a COPY source (already cleaned) against the tree at dirfd: globs (`*`, `?`, `[...]`,
 * per path component, fnmatch) matched over directory entries, sorted; entries excluded by
 * `ignore` (may be NULL) are dropped. Without glob characters: the path itself if it exists
 * and is not excluded. Every component is opened beneath dirfd; a symlink that leads out of
 * the tree is an error (EPERM). Returns a NULL-terminated vector (empty: nothing matched). */
struct dockerignore;
char **builder_expand_source(int dirfd, const char *src, const struct dockerignore *ignore,
                             kl_error *err);

/* The content hash of COPY sources (relative paths in the tree at dirfd): hex sha1 over the
 * sorted relative paths of everything copied, their types, modes, link targets and file
 * bytes (excluded paths skipped). */
char *builder_content_hash(int dirfd, char *const *sources, const struct dockerignore *ignore,
                           kl_error *err);

#endif
