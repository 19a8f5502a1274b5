/* Image builds (builder.h; API.md §7.4, §8.3; docs/dockerfile.md).
 *
 * Design
 * ------
 * A build keeps, per stage, a layer stack (layer ids, bottom first) that starts as the FROM
 * image's stack (or IMAGE@SNAP's prefix, or an earlier stage's stack).
 *
 * - Every RUN runs in a fresh, short-lived container started through a monitor
 *   (host_monitor_start with an attached stream): its rootfs is an overlay of the current stack
 *   with a new empty upper directory in a staging directory of the layer store
 *   (<root>/image/layers/.staging-build-<cid>/{upper,work,rootfs}), mounted by the runtime
 *   inside the step container's own mount namespace (never in kleened's: see `step`). The
 *   container ends when the command and everything it started have exited (the runtime's jail
 *   semantics: the reaper waits for orphans). Exit 0 → once the monitor has dropped the
 *   container's namespace (the rootfs is unmounted then) the upper directory is committed
 *   as a new layer (host_layer_commit) whose snapshot name is `@<layer id>`, pushed on the
 *   stack; `--> Snapshot created: @<snap>`. Any other code → `The command '<argv joined>'
 *   returned a non-zero code: N` and the build fails.
 * - COPY needs no container: the same overlay is mounted in no mount namespace at all and
 *   reached through a directory fd only (host_rootfs_open; it goes when the fd is closed or
 *   kleened dies), and the files are copied into that tree (so a destination through a symlink of
 * the image, e.g. /etc/link → /etc/dir, lands where the image says; destination paths are resolved
 * with RESOLVE_IN_ROOT and never leave the rootfs). Sources are read through directory fds: each
 * source path is opened with openat2 RESOLVE_BENEATH from the context, so `../x`, absolute symlinks
 * and symlinks whose target leads out of the context are refused; inside a copied directory,
 * symlinks are copied as symlinks (never followed on the host). Globs are expanded per path
 * component with fnmatch over the directory entries (sorted). .dockerignore applies to the context.
 *   Copied files are owned by root (or --chown=<uid>[:<gid>], numeric only), keep their modes
 *   and mtimes. Semantics are Docker's: a directory source copies its contents; several
 *   sources or a trailing '/' make the destination a directory; missing parents are created.
 *   `COPY --from=<stage|image>` reads the stage's (or image's) merged tree, mounted read-only
 *   the same way (fd only) for the copy.
 * - WORKDIR: the directory is created (mkdir -p, as root) in the upper directory of the next
 *   RUN/COPY step (every step makes sure its workdir exists). If no step follows it in the last
 *   stage, a small layer without snapshot is made at the end for it (only if the directory was
 *   missing). WORKDIR itself has no snapshot, as in the original.
 * - ENV/ARG/USER/CMD/ENTRYPOINT/EXPOSE/LABEL only change the build state (dockerfile.h, and
 *   b->labels / b->exposed). The image stores CMD as `cmd` and ENTRYPOINT as `entrypoint`
 *   separately (exec or shell form → argv; a container runs entrypoint + cmd, Docker's rule);
 *   LABEL pairs go to `labels` (a later key wins), EXPOSE words to `exposed_ports`, normalised
 *   ("80" → "80/tcp") and checked after substitution, each port once. A stage FROM an image
 *   starts with that image's entrypoint, labels and exposed ports (an ENTRYPOINT then resets
 *   the inherited CMD, dockerfile_state_set_entrypoint); FROM a stage, with the current ones.
 * - At the end images_add() stores the image with the final stage's new layers and snapshots;
 *   `instructions` = [[line, "@snap" or ""]...] of every processed line. Layers made by other
 *   stages that the final image does not use are removed.
 * - Failure: cleanup:true → every new layer and staging directory is removed, nothing saved.
 *   cleanup:false → the current stage is saved as `<name>:failed` (untagged when no tag was
 *   given), with the layers up to the failing step plus, for a failed RUN, what that command
 *   changed (a layer without snapshot, like the original's container dataset); close data =
 *   its last snapshot made by this build, or `no snapshots available`. Before a stack exists
 *   (bad FROM), nothing is saved and the data is "".
 * - Cancel (client gone): the running step's container is stopped through a new monitor
 *   connection (host_monitor_stop, no grace; its rootfs goes with it), the staging directory and
 *   every new layer removed; nothing is saved.
 * - The build container config comes from container_config: user (the image's when ""), env
 *   (ENV and ARG values win over it), mounts (volumes <root>/volumes/<name>, host binds) and
 *   jail_param. network_driver "host" shares the host's network stack, anything else gives
 *   the step an own network namespace (lo only, unless networks are given).
 * - Networks: with `networks` (EndPointConfig[]; `container` ignored) and a driver other than
 *   host/disabled, the first RUN creates a container record `builder_<image id>` (image: the
 *   current stage's FROM image, network_driver from container_config) and connects it to each
 *   network (ip_address "<auto>" when empty); each RUN step then runs in a fresh netns made
 *   with host_netns_new and wired by networks_container_plug, unplugged after the step
 *   (networks_container_stopped). At the end (success, failure, cancel) the record is
 *   disconnected and removed. Without networks none of this happens.
 * - Build cache (ours): the key of a RUN/COPY step is a sha1 over the parent layer id, the
 *   instruction after substitution (RUN: the argv run), its environment (ARGs and ENV merged
 *   over the container_config env), user, workdir, the container_config parts that can change
 *   the result (jail params, mounts, driver) and, for COPY, a content hash (sha1 over the
 *   sorted relative paths, types, modes, link targets and file bytes). A known key whose layer
 *   still exists reuses that layer: `--> Using cache @<snap>` instead of running. Keys are
 *   stored (table build_cache, migration 2) for the new layers of an image once images_add
 *   stored them; a row goes with its layer. `nocache` turns lookups off (the new layers are
 *   still recorded). Keys of stages that are not part of the final image are not kept.
 *
 * Users' paths are opened through host_open_beneath / host_open_in_root (host/fs.h). */
#include "engine/builder.h"

#include "lib/dockerignore.h"
#include "engine/imageref.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "host/host.h"
#include "host/monitor.h"
#include "host/runtime.h"
#include "registry/reference.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/signame.h"
#include "lib/sha1.h"
#include "lib/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------ */

/* Users' paths: below the context (BENEATH) or inside an image root (IN_ROOT). */
enum { BENEATH, IN_ROOT };
static int open2(int dirfd, const char *path, int flags, int resolve)
{
    return resolve == IN_ROOT ? host_open_in_root(dirfd, path, flags, 0)
                              : host_open_beneath(dirfd, path, flags, 0);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static bool has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

char *builder_cache_key(const char *parent_layer, char *const *parts)
{
    kl_sha1_ctx c;
    kl_sha1_init(&c);
    kl_sha1_update(&c, parent_layer ? parent_layer : "",
                   strlen(parent_layer ? parent_layer : "") + 1);
    for (size_t i = 0; parts && parts[i]; i++)
        kl_sha1_update(&c, parts[i], strlen(parts[i]) + 1);
    uint8_t d[KL_SHA1_LEN];
    kl_sha1_final(&c, d);
    char *out = xmalloc(2 * KL_SHA1_LEN + 1);
    hex(d, KL_SHA1_LEN, out);
    return out;
}

char *builder_clean_source(const char *src, kl_error *err)
{
    /* Clean relative to a virtual root, then check it did not try to go above it. */
    char **parts = NULL;
    bool escapes = false;
    _cleanup_free_ char *copy = xstrdup(src);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0) {
            size_t n = strv_len(parts);
            if (n == 0) {
                escapes = true;
                break;
            }
            free(parts[n - 1]);
            parts[n - 1] = NULL;
            continue;
        }
        strv_push(&parts, t);
    }
    if (escapes || src[0] == '\0') {
        strv_free(parts);
        kl_error_set(err, EPERM, "forbidden path outside the build context: %s", src);
        return NULL;
    }
    kl_buf b = {0};
    for (size_t i = 0; parts && parts[i]; i++)
        kl_buf_printf(&b, "%s%s", i ? "/" : "", parts[i]);
    strv_free(parts);
    if (b.len == 0)
        kl_buf_puts(&b, ".");
    return kl_buf_steal(&b);
}

/* Open a context-relative path beneath dirfd; EXDEV/ELOOP (leaving the tree) → EPERM. */
static int open_source(int dirfd, const char *rel, int flags, const char *shown, kl_error *err)
{
    int fd = open2(dirfd, rel, flags, BENEATH);
    if (fd >= 0)
        return fd;
    if (errno == EXDEV || errno == ELOOP)
        return kl_error_set(err, EPERM, "forbidden path outside the build context: %s", shown);
    return kl_error_errno(err, errno, "%s", shown);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int expand_rec(int dirfd, const char *prefix, char **comps, size_t i,
                      const dockerignore *ignore, char ***out, kl_error *err)
{
    if (!comps[i]) {
        if (!ignore || !dockerignore_is_excluded(ignore, prefix))
            strv_push(out, prefix);
        return 0;
    }
    if (!has_glob(comps[i])) {
        _cleanup_free_ char *p =
            strcmp(prefix, ".") == 0 ? xstrdup(comps[i]) : xasprintf("%s/%s", prefix, comps[i]);
        int fd = open2(dirfd, p, O_PATH, BENEATH);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                return 0;
            if (errno == EXDEV || errno == ELOOP)
                return kl_error_set(err, EPERM, "forbidden path outside the build context: %s", p);
            return kl_error_errno(err, errno, "%s", p);
        }
        close(fd);
        return expand_rec(dirfd, p, comps, i + 1, ignore, out, err);
    }
    _cleanup_close_ int fd = open2(dirfd, prefix, O_RDONLY | O_DIRECTORY, BENEATH);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        if (errno == EXDEV || errno == ELOOP)
            return kl_error_set(err, EPERM, "forbidden path outside the build context: %s", prefix);
        return kl_error_errno(err, errno, "%s", prefix);
    }
    DIR *d = fdopendir(fd);
    if (!d)
        return kl_error_errno(err, errno, "%s", prefix);
    fd = -1;
    _cleanup_strv_ char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            fnmatch(comps[i], de->d_name, 0) == 0)
            strv_push(&names, de->d_name);
    closedir(d);
    size_t n = strv_len(names);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t k = 0; k < n; k++) {
        _cleanup_free_ char *p =
            strcmp(prefix, ".") == 0 ? xstrdup(names[k]) : xasprintf("%s/%s", prefix, names[k]);
        if (comps[i + 1]) {
            /* a match that is not a directory, or leads out of the tree, is no match */
            int f = open2(dirfd, p, O_PATH | O_DIRECTORY, BENEATH);
            if (f < 0)
                continue;
            close(f);
        }
        if (expand_rec(dirfd, p, comps, i + 1, ignore, out, err) < 0)
            return -1;
    }
    return 0;
}

char **builder_expand_source(int dirfd, const char *src, const dockerignore *ignore, kl_error *err)
{
    char **out = NULL;
    if (strcmp(src, ".") == 0) {
        strv_push(&out, ".");
        return out;
    }
    _cleanup_strv_ char **comps = NULL;
    _cleanup_free_ char *copy = xstrdup(src);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
        strv_push(&comps, t);
    if (!comps) {
        strv_push(&out, ".");
        return out;
    }
    if (expand_rec(dirfd, ".", comps, 0, ignore, &out, err) < 0) {
        strv_free(out);
        return NULL;
    }
    if (!out)
        out = xcalloc(1, sizeof(char *));
    return out;
}

/* ---- the walker: hashing and copying ----------------------------------------------------- */

typedef struct walker {
    const dockerignore *ignore;
    kl_sha1_ctx *sha; /* hashing when set */
    uid_t uid;
    gid_t gid;
} walker;

static void hash_line(walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hash_line(walker *w, const char *fmt, ...)
{
    if (!w->sha)
        return;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    kl_sha1_update(w->sha, s, strlen(s) + 1);
}

static int set_meta(walker *w, int fd, const struct stat *st, kl_error *err)
{
    if (fchown(fd, w->uid, w->gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0)
        return kl_error_errno(err, errno, "setting owner and mode");
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    futimens(fd, ts);
    return 0;
}

/* A regular file: sfd open for reading. dfd/dname: where to create it (dfd < 0: hash only). */
static int walk_file(walker *w, int sfd, const struct stat *st, const char *rel, int dfd,
                     const char *dname, kl_error *err)
{
    hash_line(w, "F %s %o %lld", rel, (unsigned)st->st_mode, (long long)st->st_size);
    _cleanup_close_ int out = -1;
    if (dfd >= 0) {
        out = openat(dfd, dname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0 && (errno == ELOOP || errno == EISDIR)) {
            if (unlinkat(dfd, dname, errno == EISDIR ? AT_REMOVEDIR : 0) < 0)
                return kl_error_errno(err, errno, "replacing %s", dname);
            out = openat(dfd, dname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (out < 0)
            return kl_error_errno(err, errno, "creating %s", dname);
    }
    if (w->sha || out < 0) {
        char buf[65536];
        for (;;) {
            ssize_t n = KL_RETRY_EINTR(read(sfd, buf, sizeof(buf)));
            if (n < 0)
                return kl_error_errno(err, errno, "reading %s", rel);
            if (n == 0)
                break;
            if (w->sha)
                kl_sha1_update(w->sha, buf, (size_t)n);
            for (ssize_t off = 0; out >= 0 && off < n;) {
                ssize_t m = KL_RETRY_EINTR(write(out, buf + off, (size_t)(n - off)));
                if (m < 0)
                    return kl_error_errno(err, errno, "writing %s", dname);
                off += m;
            }
        }
    } else {
        for (;;) {
            ssize_t n = copy_file_range(sfd, NULL, out, NULL, 1 << 30, 0);
            if (n < 0 &&
                (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
                char buf[65536];
                n = KL_RETRY_EINTR(read(sfd, buf, sizeof(buf)));
                for (ssize_t off = 0; n > 0 && off < n;) {
                    ssize_t m = KL_RETRY_EINTR(write(out, buf + off, (size_t)(n - off)));
                    if (m < 0)
                        return kl_error_errno(err, errno, "writing %s", dname);
                    off += m;
                }
            }
            if (n < 0)
                return kl_error_errno(err, errno, "copying %s", rel);
            if (n == 0)
                break;
        }
    }
    if (out >= 0)
        return set_meta(w, out, st, err);
    return 0;
}

static int walk_dir(walker *w, int sfd, const char *rel, int dfd, kl_error *err);

/* The entry `name` of directory sfd (context path rel), into dfd as dname. */
static int walk_entry(walker *w, int sfd, const char *name, const char *rel, int dfd,
                      const char *dname, kl_error *err)
{
    struct stat st;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "%s", rel);
    bool excluded = w->ignore && dockerignore_is_excluded(w->ignore, rel);
    if (excluded && !(S_ISDIR(st.st_mode) && dockerignore_has_exceptions(w->ignore)))
        return 0;
    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int sub =
            openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return kl_error_errno(err, errno, "%s", rel);
        hash_line(w, "D %s %o", rel, (unsigned)st.st_mode);
        _cleanup_close_ int dsub = -1;
        if (dfd >= 0) {
            if (mkdirat(dfd, dname, 0700) < 0 && errno != EEXIST)
                return kl_error_errno(err, errno, "creating %s", dname);
            dsub = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (dsub < 0)
                return kl_error_errno(err, errno, "opening %s", dname);
        }
        if (walk_dir(w, sub, rel, dsub, err) < 0)
            return -1;
        return dsub >= 0 ? set_meta(w, dsub, &st, err) : 0;
    }
    if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int f = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0)
            return kl_error_errno(err, errno, "%s", rel);
        return walk_file(w, f, &st, rel, dfd, dname, err);
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return kl_error_errno(err, errno, "%s", rel);
        target[n] = '\0';
        hash_line(w, "L %s %s", rel, target);
        if (dfd >= 0) {
            if (unlinkat(dfd, dname, 0) < 0 && errno != ENOENT)
                return kl_error_errno(err, errno, "replacing %s", dname);
            if (symlinkat(target, dfd, dname) < 0 ||
                fchownat(dfd, dname, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return kl_error_errno(err, errno, "creating %s", dname);
        }
        return 0;
    }
    hash_line(w, "O %s", rel); /* fifos, sockets, devices: not copied */
    return 0;
}

static int walk_dir(walker *w, int sfd, const char *rel, int dfd, kl_error *err)
{
    int dupfd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0)
        return kl_error_errno(err, errno, "%s", rel);
    DIR *d = fdopendir(dupfd);
    if (!d) {
        close(dupfd);
        return kl_error_errno(err, errno, "%s", rel);
    }
    _cleanup_strv_ char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            strv_push(&names, de->d_name);
    closedir(d);
    size_t n = strv_len(names);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *r =
            strcmp(rel, ".") == 0 ? xstrdup(names[i]) : xasprintf("%s/%s", rel, names[i]);
        if (walk_entry(w, sfd, names[i], r, dfd, names[i], err) < 0)
            return -1;
    }
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* A top-level source: followed if it is a symlink that stays beneath the tree. A directory
 * copies its contents into dir_fd; a file goes to (file_dirfd, file_name). */
static int walk_source(walker *w, int treefd, const char *src, int dir_fd, int file_dirfd,
                       const char *file_name, kl_error *err)
{
    hash_line(w, "S %s", src);
    _cleanup_close_ int fd = open_source(treefd, src, O_RDONLY, src, err);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "%s", src);
    if (S_ISDIR(st.st_mode)) {
        hash_line(w, "D %s %o", src, (unsigned)st.st_mode);
        return walk_dir(w, fd, src, dir_fd, err);
    }
    if (S_ISREG(st.st_mode))
        return walk_file(w, fd, &st, src, file_dirfd, file_name, err);
    return kl_error_set(err, EINVAL, "COPY failed: %s is not a file or directory", src);
}

char *builder_content_hash(int dirfd, char *const *sources, const dockerignore *ignore,
                           kl_error *err)
{
    kl_sha1_ctx c;
    kl_sha1_init(&c);
    walker w = {.ignore = ignore, .sha = &c};
    for (size_t i = 0; sources && sources[i]; i++)
        if (walk_source(&w, dirfd, sources[i], -1, -1, NULL, err) < 0)
            return NULL;
    uint8_t d[KL_SHA1_LEN];
    kl_sha1_final(&c, d);
    char *out = xmalloc(2 * KL_SHA1_LEN + 1);
    hex(d, KL_SHA1_LEN, out);
    return out;
}

/* mkdir -p of an absolute path inside the tree rootfd (symlinks resolved inside it); returns
 * an fd of the directory. */
static int mkdir_in_root(int rootfd, const char *path, kl_error *err)
{
    return host_mkdirs_in_root(rootfd, path, err);
}

/* ---- the build ---------------------------------------------------------------------------- */

typedef struct stack_entry {
    char *layer;
    char *snap;    /* "@<12hex>" or NULL */
    char *key;     /* cache key of a layer made (or reused) by this build, else NULL */
    bool is_new;   /* made by this build, not yet a row */
    bool by_build; /* made or reused by a step of this build (counts for "last snapshot") */
} stack_entry;

typedef struct stage {
    char *name;
    char *parent_id; /* FROM image id (NULL for a stage FROM a stage) */
    char *parent_user;
    char *stop_signal; /* STOPSIGNAL, else the FROM image's StopSignal (inherited) */
    stack_entry *s;
    size_t n;
} stage;

typedef struct build {
    kl_engine *e;
    const builder_opts *o;
    char *sroot;
    char *run_base;
    int ctxfd;
    dockerignore *ignore;
    dockerfile_state st;
    stage *stages;
    size_t n_stages;
    stage *cur;
    bool workdir_made;
    json_t *instructions;
    json_t *labels;  /* LABELs of the current stage, starting with the parent image's */
    json_t *exposed; /* EXPOSEd ports ("80/tcp") of the current stage, likewise */
    host_jailparams jp;
    host_mount *mounts;
    size_t n_mounts;
    char *cc_key; /* container_config parts of the cache key */
    /* A failed RUN with cleanup false keeps what the command changed (like the original's
     * container dataset): a layer without snapshot on top of the failed image. */
    char *failed_layer;
    char *net_cid;  /* the build's container record when on networks (NULL: none) */
    char **net_ids; /* networks net_cid was connected to (as given) */
    const char *build_id;
    unsigned lineno; /* Dockerfile line of the instruction being processed (0: none) */
    int exit_code;   /* a failed RUN's exit code */
} build;

static void out_raw(build *b, const char *s, size_t n)
{
    if (b->o->output)
        b->o->output(s, n, b->o->output_ctx);
}

static void say(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    if (b->o->message_newlines) {
        char *nl = xasprintf("%s\n", s);
        free(s);
        s = nl;
    }
    out_raw(b, s, strlen(s));
}

/* Fail the build with a message shown to the client. */
static int fail(build *b, kl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(build *b, kl_error *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)]; /* the arguments may point into err->msg */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (b->o->line_numbers && b->lineno && strncmp(msg, "line ", 5) != 0) {
        char with[sizeof(msg)];
        snprintf(with, sizeof(with), "line %u: %s", b->lineno, msg);
        memcpy(msg, with, sizeof(msg));
    }
    memcpy(err->msg, msg, sizeof(msg));
    if (!err->code)
        err->code = EINVAL;
    if (!b->o->errors_to_caller)
        out_raw(b, err->msg, strlen(err->msg));
    return -1;
}

static bool cancelled(build *b)
{
    return b->o->cancel && atomic_load(b->o->cancel);
}

static void push_layer(stage *s, const char *layer, const char *snap, const char *key, bool is_new,
                       bool by_build)
{
    s->s = xrealloc(s->s, (s->n + 1) * sizeof(*s->s));
    s->s[s->n++] = (stack_entry){xstrdup(layer), snap ? xstrdup(snap) : NULL,
                                 key ? xstrdup(key) : NULL, is_new, by_build};
}

static void stage_clear(stage *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->s[i].layer);
        free(s->s[i].snap);
        free(s->s[i].key);
    }
    free(s->s);
    free(s->name);
    free(s->parent_id);
    free(s->parent_user);
    free(s->stop_signal);
    *s = (stage){0};
}

static char **stack_dirs(build *b, const stage *s)
{
    char **v = xcalloc(s->n + 1, sizeof(char *));
    for (size_t i = 0; i < s->n; i++)
        v[i] = host_layer_path(b->sroot, s->s[i].layer);
    return v;
}

/* ---- cache -------------------------------------------------------------------------------- */

/* The layer (and its snapshot) of a cache key, if it still exists. */
static bool cache_lookup(build *b, const char *key, char **layer, char **snap)
{
    if (b->o->nocache)
        return false;
    bool found = false;
    engine_lock(b->e);
    store_lock(b->e->store);
    kl_error err = KL_ERROR_INIT;
    _cleanup_stmt_ sqlite3_stmt *q = store_prepare(
        b->e->store,
        "SELECT l.id, l.snapshot FROM build_cache c JOIN layers l ON l.id = c.layer_id "
        "WHERE c.key = ?",
        &err);
    if (q) {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *l = (const char *)sqlite3_column_text(q, 0);
            const char *s = (const char *)sqlite3_column_text(q, 1);
            _cleanup_free_ char *dir = host_layer_path(b->sroot, l);
            struct stat stb;
            if (stat(dir, &stb) == 0) {
                *layer = xstrdup(l);
                *snap = s ? xstrdup(s) : NULL;
                found = true;
            }
        }
    }
    store_unlock(b->e->store);
    engine_unlock(b->e);
    return found;
}

static void cache_store(build *b, const stage *s)
{
    char created[32];
    kl_time_now_iso(created);
    engine_lock(b->e);
    store_lock(b->e->store);
    for (size_t i = 0; i < s->n; i++) {
        if (!s->s[i].key || !s->s[i].is_new)
            continue;
        kl_error err = KL_ERROR_INIT;
        _cleanup_stmt_ sqlite3_stmt *q = store_prepare(
            b->e->store,
            "INSERT OR REPLACE INTO build_cache (key, layer_id, created) VALUES (?, ?, ?)", &err);
        if (!q)
            continue;
        sqlite3_bind_text(q, 1, s->s[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, s->s[i].layer, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, created, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE)
            log_warn("build cache: storing a key: %s", sqlite3_errmsg(store_db(b->e->store)));
    }
    store_unlock(b->e->store);
    engine_unlock(b->e);
}

json_t *builder_cache_prune(kl_engine *e, kl_error *err)
{
    json_t *keys = json_array();
    engine_lock(e);
    store_lock(e->store);
    int rc = 0;
    {
        _cleanup_stmt_ sqlite3_stmt *q =
            store_prepare(e->store, "SELECT key FROM build_cache ORDER BY created", err);
        if (!q)
            rc = -1;
        while (q && sqlite3_step(q) == SQLITE_ROW)
            json_array_append_new(keys, json_string((const char *)sqlite3_column_text(q, 0)));
    }
    if (rc == 0) {
        _cleanup_stmt_ sqlite3_stmt *d = store_prepare(e->store, "DELETE FROM build_cache", err);
        if (!d || sqlite3_step(d) != SQLITE_DONE) {
            if (d)
                kl_error_set(err, EIO, "pruning the build cache: %s",
                             sqlite3_errmsg(store_db(e->store)));
            rc = -1;
        }
    }
    store_unlock(e->store);
    engine_unlock(e);
    if (rc < 0) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

/* ---- steps: an overlay of the stack with a fresh upper ------------------------------------ */

/* Where a step's overlay is mounted: never in kleened's mount namespace (nor any other that
 * outlives the step), so that nothing stays mounted when kleened is killed. A RUN step's is
 * mounted by the runtime inside the step container's own mount namespace (rootfs_layers, as
 * for any container, docs/monitor.md); COPY and WORKDIR write through one that is mounted in
 * no namespace at all and reached through rootfd only (host_rootfs_open): closing rootfd
 * unmounts it, and so does the end of kleened. */
typedef struct step {
    char cid[KL_ID_LEN + 1];
    char *dir; /* staging dir */
    char *upper, *work, *rootfs;
    int rootfd;  /* the mounted overlay's root (COPY, WORKDIR), else -1 */
    bool cloned; /* full-tree layers: the root is a clone (host_container_root_create) */
} step;

/* With `open`: the overlay is mounted and s->rootfd is its root; without (RUN), only the
 * directories are made. */
static int step_begin(build *b, step *s, bool open, kl_error *err)
{
    *s = (step){.rootfd = -1};
    kl_id_new(s->cid);
    _cleanup_free_ char *probe = host_layer_path(b->sroot, s->cid);
    char *slash = strrchr(probe, '/');
    *slash = '\0';
    s->dir = xasprintf("%s/.staging-build-%s", probe, s->cid);
    s->upper = xasprintf("%s/upper", s->dir);
    s->work = xasprintf("%s/work", s->dir);
    s->rootfs = xasprintf("%s/rootfs", s->dir);
    if (mkdir(s->dir, 0700) < 0 || mkdir(s->upper, 0755) < 0 || mkdir(s->work, 0700) < 0 ||
        mkdir(s->rootfs, 0755) < 0)
        return kl_error_errno(err, errno, "creating %s", s->dir);
    if (host_layers_full_tree()) {
        /* Full-tree layers (FreeBSD): the step's root is a clone of the top layer, mounted at
         * s->rootfs (the step container's dataset, as a container's); it becomes the new layer
         * at commit (host_container_root_commit), so nothing is copied. */
        if (b->cur->n == 0)
            return kl_error_set(err, ENOTSUP, "a build step needs a base image on this host");
        if (host_container_root_create(b->sroot, s->cid, b->cur->s[b->cur->n - 1].layer, s->rootfs,
                                       err) < 0)
            return -1;
        s->cloned = true;
        if (!open)
            return 0;
        s->rootfd = openat(AT_FDCWD, s->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->rootfd < 0)
            return kl_error_errno(err, errno, "opening %s", s->rootfs);
        return 0;
    }
    if (!open)
        return 0;
    _cleanup_strv_ char **dirs = stack_dirs(b, b->cur);
    s->rootfd =
        host_rootfs_open((const char *const *)dirs, b->cur->n, s->upper, s->work, s->rootfs, err);
    if (s->rootfd < 0)
        return -1;
    /* A crash from here leaves the staging directory (the start removes it), no mount. */
    engine_crash_point("build-step-mounted");
    return 0;
}

/* Unmount; with `commit`, make the upper a layer (returns its id in layer_out, or NULL when
 * the upper is empty and `skip_empty`). Always removes the staging dir. */
static int step_end(build *b, step *s, bool commit, bool skip_empty, char **layer_out,
                    kl_error *err)
{
    int rc = 0;
    kl_error e2 = KL_ERROR_INIT;
    /* The last reference to the overlay (the step closed every fd it opened below it): it is
     * unmounted before close returns, so the upper directory is committed unmounted. */
    if (s->rootfd >= 0)
        close(s->rootfd);
    s->rootfd = -1;
    if (s->cloned) {
        /* full-tree layers: the clone becomes the layer, or goes (a step that changed
         * nothing still makes one: a clone's changes are not cheap to tell) */
        char id[KL_ID_LEN + 1];
        kl_id_new(id);
        if (commit) {
            if (host_container_root_commit(b->sroot, s->cid, id, err) < 0)
                rc = -1;
            else
                *layer_out = xstrdup(id);
        }
        if (!commit || rc < 0) {
            e2 = (kl_error)KL_ERROR_INIT;
            if (host_container_root_remove(b->sroot, s->cid, &e2) < 0)
                log_warn("build: removing the root of step %s: %s", s->cid, e2.msg);
        }
        commit = false;
    }
    if (commit && rc == 0 && s->dir) {
        bool empty = false;
        if (skip_empty) {
            DIR *d = opendir(s->upper);
            empty = true;
            struct dirent *de;
            while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                    empty = false;
            if (d)
                closedir(d);
        }
        if (!empty) {
            char id[KL_ID_LEN + 1];
            kl_id_new(id);
            if (host_layer_commit(b->sroot, s->upper, id, err) < 0)
                rc = -1;
            else
                *layer_out = xstrdup(id);
        }
    }
    if (s->dir) {
        e2 = (kl_error)KL_ERROR_INIT;
        if (host_tree_remove(s->dir, &e2) < 0)
            log_warn("build: removing %s: %s", s->dir, e2.msg);
    }
    free(s->dir);
    free(s->upper);
    free(s->work);
    free(s->rootfs);
    *s = (step){.rootfd = -1};
    return rc;
}

static int ensure_workdir(build *b, step *s, kl_error *err)
{
    if (strcmp(b->st.workdir, "/") == 0)
        return 0;
    int fd = mkdir_in_root(s->rootfd, b->st.workdir, err);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static const char *current_user(build *b)
{
    if (b->st.user && b->st.user[0])
        return b->st.user;
    if (b->o->user && b->o->user[0])
        return b->o->user;
    return b->cur->parent_user ? b->cur->parent_user : "root";
}

static int run_monitored(build *b, step *s, host_monitor_spec *specp, kl_error *err);

/* Run argv in a container on the step's rootfs; returns the exit code or -1. */
static int run_container(build *b, step *s, char *const *argv, char *const *env, kl_error *err)
{
    host_monitor_spec spec = {0};
    _cleanup_strv_ char **layers = stack_dirs(b, b->cur);
    spec.container = (host_container_spec){
        .id = s->cid,
        /* mounted on s->rootfs by the runtime, in the step container's namespace only (full-
         * tree layers: s->rootfs is the step's clone already) */
        .rootfs = s->rootfs,
        .rootfs_layers = s->cloned ? NULL : layers,
        .rootfs_upper = s->cloned ? NULL : s->upper,
        .rootfs_work = s->cloned ? NULL : s->work,
        .argv = argv,
        .env = env,
        .user = current_user(b),
        .cwd = b->st.workdir,
        .make_cwd = true, /* every step makes sure its workdir exists */
        .mounts = b->mounts,
        .n_mounts = b->n_mounts,
        .denied_sources = b->e->private_dirs,
        .netns = b->o->network_driver && strcmp(b->o->network_driver, "host") == 0 ? HOST_NETNS_HOST
                                                                                   : HOST_NETNS_NEW,
        .login_env = true,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
    host_jailparams_apply(&b->jp, &spec.container);
    /* On networks: a fresh netns per step, wired before the step's first process runs. */
    _cleanup_close_ int netns_fd = -1;
    char netns_path[64] = "";
    if (b->net_cid && spec.container.netns == HOST_NETNS_NEW) {
        netns_fd = host_netns_new(err);
        if (netns_fd < 0)
            return -1;
        if (networks_container_plug(b->e, b->net_cid, netns_fd, err) < 0) {
            networks_container_stopped(b->e, b->net_cid);
            return -1;
        }
        snprintf(netns_path, sizeof(netns_path), "/proc/%d/fd/%d", (int)getpid(), netns_fd);
        spec.container.netns = HOST_NETNS_PATH;
        spec.container.netns_path = netns_path;
    }
    int code = run_monitored(b, s, &spec, err);
    if (netns_fd >= 0)
        networks_container_stopped(b->e, b->net_cid);
    return code;
}

/* After the end frame the monitor drops the container's mount namespace, and with it the
 * step's overlay, then closes the stream and exits: wait for that (a few ms at most, 5 s at
 * worst), so that the upper directory is committed with nothing mounted on it. */
static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_monitor_gone(host_monitor *stream)
{
    int fd = host_monitor_fd(stream);
    long long deadline = monotonic_ms() + 5000;
    for (;;) {
        long long left = deadline - monotonic_ms();
        if (left <= 0) {
            log_warn("build: the step's monitor did not close its stream");
            return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return;
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
            return;
        if (p.revents & POLLIN) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return;
        }
    }
}

static int run_monitored(build *b, step *s, host_monitor_spec *specp, kl_error *err)
{
    host_monitor_spec spec = *specp;
    _cleanup_free_ char *run_dir = xasprintf("%s/%s", b->run_base, s->cid);
    spec.exec_id = s->cid;
    spec.run_dir = run_dir;
    spec.attach = true;
    host_monitor_info info = {0};
    if (host_monitor_start(&spec, &info, err) < 0) {
        kl_error e2 = KL_ERROR_INIT;
        host_tree_remove(run_dir, &e2);
        return -1;
    }
    if (spec.container.netns == HOST_NETNS_PATH) {
        kl_error fw = KL_ERROR_INIT;
        if (networks_firewall_apply(b->e, &fw) < 0)
            log_warn("build: firewall: %s", fw.msg);
    }
    int code = -1;
    for (;;) {
        if (cancelled(b)) {
            kl_error e2 = KL_ERROR_INIT;
            host_monitor *m = host_monitor_connect(run_dir, &e2);
            int ec;
            if (m) {
                host_monitor_stop(m, 0, &ec, &e2);
                host_monitor_close(m);
            }
            kl_error_set(err, ECANCELED, "cancelled");
            code = -1;
            break;
        }
        /* A step may be silent for long: wait for the stream's next frame a little at a
         * time (cancel is checked in between), then read it. A timeout of the read itself
         * would end the build ("timed out waiting for the monitor"). */
        struct pollfd pf = {.fd = host_monitor_fd(info.stream), .events = POLLIN};
        int pr = poll(&pf, 1, 200);
        if (pr < 0 && errno != EINTR) {
            code = kl_error_errno(err, errno, "waiting for the step's output");
            break;
        }
        if (pr <= 0)
            continue;
        const void *data;
        size_t len;
        int ec = 0;
        bool running = false;
        int r = host_monitor_stream_recv(info.stream, &data, &len, &ec, &running, 1000, err);
        if (r < 0) {
            code = -1;
            break;
        }
        if (r == 1 && len > 0 && !b->o->quiet)
            out_raw(b, data, len);
        if (r == 0) {
            code = ec;
            wait_monitor_gone(info.stream);
            break;
        }
    }
    host_monitor_close(info.stream);
    kl_error e2 = KL_ERROR_INIT;
    if (host_tree_remove(run_dir, &e2) < 0)
        log_warn("build: removing %s: %s", run_dir, e2.msg);
    return code;
}

static char *join_argv(char *const *argv)
{
    kl_buf buf = {0};
    for (size_t i = 0; argv && argv[i]; i++)
        kl_buf_printf(&buf, "%s%s", i ? " " : "", argv[i]);
    if (!buf.data)
        return xstrdup("");
    return kl_buf_steal(&buf);
}

static const char *top_layer(build *b)
{
    return b->cur->n ? b->cur->s[b->cur->n - 1].layer : "";
}

/* Record a made layer on the stack, say so, and give the instruction its snapshot. */
static void took_snapshot(build *b, const char *layer, const char *key, json_t *pair)
{
    _cleanup_free_ char *snap = xasprintf("@%s", layer);
    push_layer(b->cur, layer, snap, key, true, true);
    b->workdir_made = true;
    say(b, "--> Snapshot created: %s", snap);
    json_array_set_new(pair, 1, json_string(snap));
}

static bool use_cache(build *b, const char *key, json_t *pair)
{
    _cleanup_free_ char *layer = NULL, *snap = NULL;
    if (!cache_lookup(b, key, &layer, &snap))
        return false;
    push_layer(b->cur, layer, snap, key, false, true);
    b->workdir_made = true;
    say(b, "--> Using cache %s", snap ? snap : "");
    json_array_set_new(pair, 1, json_string(snap ? snap : ""));
    return true;
}

/* Whether the build's RUN steps go on networks (see the top comment). */
static bool wants_networks(build *b)
{
    const char *d = b->o->network_driver ? b->o->network_driver : "ipnet";
    return json_is_array(b->o->networks) && json_array_size(b->o->networks) > 0 &&
           strcmp(d, "host") != 0 && strcmp(d, "disabled") != 0;
}

/* Create the build's container record and connect it to the requested networks (once). */
static int net_ensure(build *b, const char *image_id, kl_error *err)
{
    if (b->net_cid || !wants_networks(b))
        return 0;
    const char *image = image_id;
    for (size_t i = 0; !image && i < b->n_stages; i++)
        image = b->stages[i].parent_id;
    if (!image)
        return kl_error_set(err, EINVAL, "no image for the build container");
    _cleanup_free_ char *name = xasprintf("builder_%s", b->build_id);
    _cleanup_json_ json_t *cfg =
        json_pack("{s:s,s:s,s:s}", "name", name, "image", image, "network_driver",
                  b->o->network_driver ? b->o->network_driver : "ipnet");
    b->net_cid = containers_create_for_build(b->e, cfg, err);
    if (!b->net_cid)
        return kl_error_prefix(err, "creating the build container");
    size_t i;
    json_t *ep;
    json_array_foreach(b->o->networks, i, ep)
    {
        const char *net = jx_str(ep, "network", "");
        const char *ip = jx_str(ep, "ip_address", "");
        _cleanup_json_ json_t *c =
            json_pack("{s:s,s:s,s:s,s:s}", "container", b->net_cid, "network", net, "ip_address",
                      ip[0] ? ip : "<auto>", "ip_address6", jx_str(ep, "ip_address6", ""));
        if (networks_connect(b->e, c, err) < 0)
            return kl_error_prefix(err, "connecting the build container to %s", net);
        strv_push(&b->net_ids, net);
    }
    return 0;
}

/* Disconnect and remove the build's container record, if any. */
static void net_release(build *b)
{
    if (!b->net_cid)
        return;
    for (size_t i = 0; b->net_ids && b->net_ids[i]; i++) {
        kl_error e2 = KL_ERROR_INIT;
        if (networks_disconnect(b->e, b->net_ids[i], b->net_cid, &e2) < 0)
            log_warn("build: disconnecting %s from %s: %s", b->net_cid, b->net_ids[i], e2.msg);
    }
    kl_error e2 = KL_ERROR_INIT;
    if (containers_remove(b->e, b->net_cid, NULL, &e2) < 0)
        log_warn("build: removing the build container %s: %s", b->net_cid, e2.msg);
    strv_free(b->net_ids);
    b->net_ids = NULL;
    free(b->net_cid);
    b->net_cid = NULL;
}

static int do_run(build *b, const dockerfile_instr *in, json_t *pair, kl_error *err)
{
    _cleanup_strv_ char **argv =
        in->is_exec_form ? strv_dup(in->args) : dockerfile_shell_argv(in->args[2], b->st.workdir);
    _cleanup_strv_ char **run_env = dockerfile_state_run_env(&b->st);
    _cleanup_strv_ char **env = host_env_merge(b->o->env, run_env);
    char **parts = NULL;
    strv_push(&parts, "RUN");
    for (size_t i = 0; argv[i]; i++)
        strv_push(&parts, argv[i]);
    strv_push(&parts, "\x01");
    for (size_t i = 0; env[i]; i++)
        strv_push(&parts, env[i]);
    strv_push(&parts, current_user(b));
    strv_push(&parts, b->st.workdir);
    strv_push(&parts, b->cc_key);
    _cleanup_free_ char *key = builder_cache_key(top_layer(b), parts);
    strv_free(parts);
    if (use_cache(b, key, pair))
        return 0;

    if (net_ensure(b, b->cur->parent_id, err) < 0)
        return fail(b, err, "error: %s", err->msg);
    step s;
    if (step_begin(b, &s, false, err) < 0) {
        _cleanup_free_ char *ignored = NULL;
        step_end(b, &s, false, false, &ignored, err);
        return fail(b, err, "error: %s", err->msg);
    }
    int code = run_container(b, &s, argv, env, err);
    _cleanup_free_ char *layer = NULL;
    if (code != 0) {
        bool keep = code > 0 && !b->o->cleanup && !cancelled(b);
        kl_error e2 = KL_ERROR_INIT;
        step_end(b, &s, keep, true, &b->failed_layer, &e2);
        if (code < 0) {
            if (err->code == ECANCELED)
                return -1;
            return fail(b, err, "error: %s", err->msg);
        }
        _cleanup_free_ char *joined = join_argv(argv);
        err->code = EIO;
        b->exit_code = code;
        return fail(b, err, "The command '%s' returned a non-zero code: %d", joined, code);
    }
    if (step_end(b, &s, true, false, &layer, err) < 0)
        return fail(b, err, "error: %s", err->msg);
    took_snapshot(b, layer, key, pair);
    return 0;
}

/* Find a stage by name or index. */
static stage *find_stage(build *b, const char *name)
{
    for (size_t i = 0; i < b->n_stages; i++)
        if (b->stages[i].name && strcasecmp(b->stages[i].name, name) == 0)
            return &b->stages[i];
    char *end;
    unsigned long idx = strtoul(name, &end, 10);
    if (name[0] && !*end && idx < b->n_stages && &b->stages[idx] != b->cur)
        return &b->stages[idx];
    return NULL;
}

/* FROM names a registry image the build may pull: a reference in Docker's grammar
 * (registry/reference.h), not a Kleene IMAGE@SNAPSHOT. */
static bool is_registry_ref(const char *ref)
{
    const char *at = strchr(ref, '@');
    if (at && strncmp(at, "@sha256:", 8) != 0)
        return false;
    oci_ref r;
    if (oci_ref_parse(ref, &r, NULL) < 0)
        return false;
    oci_ref_clear(&r);
    return true;
}

/* Whether the image came from a registry (pulled or loaded: it has a registry digest). */
static bool is_pulled(build *b, const char *id)
{
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_json_ json_t *img = images_inspect(b->e, id, &e2);
    return img && jx_str(img, "digest", "")[0] != '\0';
}

static void pull_output(const char *text, void *ctx)
{
    out_raw(ctx, text, strlen(text));
}

/* Pull `ref` through the engine's pull (images_create), its progress in the build's output.
 * A failed pull stores nothing. Returns the image id. */
static char *pull_image(build *b, const char *ref, kl_error *err)
{
    const builder_credential *cred = NULL;
    oci_ref r;
    if (b->o->n_credentials && oci_ref_parse(ref, &r, NULL) == 0) {
        for (size_t i = 0; i < b->o->n_credentials && !cred; i++)
            if (!strcmp(b->o->credentials[i].registry, r.domain))
                cred = &b->o->credentials[i];
        oci_ref_clear(&r);
    }
    images_create_opts po = {.method = "pull",
                             .username = cred ? cred->username : NULL,
                             .password = cred ? cred->password : NULL,
                             .image = ref,
                             .platform = b->o->platform,
                             .tag = "",
                             .output = pull_output,
                             .output_ctx = b,
                             .cancel = b->o->cancel};
    return images_create(b->e, &po, err);
}

static int do_copy(build *b, const dockerfile_instr *in, json_t *pair, kl_error *err)
{
    _cleanup_strv_ char **args = dockerfile_expand_args(in, dockerfile_state_lookup, &b->st, err);
    if (!args)
        return fail(b, err, "%s", err->msg);
    size_t na = strv_len(args);
    if (na < 2)
        return fail(b, err, "COPY needs at least one source and a destination");
    _cleanup_free_ char *dest = dockerfile_copy_dest(b->st.workdir, args[na - 1]);

    uid_t uid = 0;
    gid_t gid = 0;
    if (in->copy_chown) {
        _cleanup_free_ char *ch =
            dockerfile_substitute(in->copy_chown, dockerfile_state_lookup, &b->st, err);
        char *end = NULL;
        unsigned long u = ch ? strtoul(ch, &end, 10) : 0;
        unsigned long g = u;
        if (ch && end != ch && *end == ':')
            g = strtoul(end + 1, &end, 10);
        if (!ch || !ch[0] || *end)
            return fail(b, err, "COPY --chown: only numeric <uid>[:<gid>] is supported: %s",
                        in->copy_chown);
        uid = (uid_t)u;
        gid = (gid_t)g;
    }

    /* The source tree: the context, or a stage's / image's merged tree mounted read-only. */
    int treefd = b->ctxfd;
    const dockerignore *ignore = b->ignore;
    _cleanup_close_ int fromfd = -1;
    _cleanup_free_ char *from_mnt = NULL;
    _cleanup_free_ char *from_top = NULL;
    if (in->copy_from) {
        _cleanup_free_ char *fromname =
            dockerfile_substitute(in->copy_from, dockerfile_state_lookup, &b->st, err);
        if (!fromname)
            return fail(b, err, "%s", err->msg);
        _cleanup_strv_ char **dirs = NULL;
        size_t nd = 0;
        stage *fs = find_stage(b, fromname);
        if (fs) {
            dirs = stack_dirs(b, fs);
            nd = fs->n;
            from_top = xstrdup(fs->n ? fs->s[fs->n - 1].layer : "");
        } else {
            images_stack is = {0};
            if (images_resolve_stack(b->e, fromname, &is, err) < 0) {
                /* an image kleened lacks named as a registry reference is pulled, as for FROM */
                if (err->code != ENOENT || !is_registry_ref(fromname))
                    return fail(b, err, "error: could not find stage or image %s", fromname);
                kl_error pe = KL_ERROR_INIT;
                _cleanup_free_ char *pid = pull_image(b, fromname, &pe);
                if (!pid) {
                    err->code = pe.code ? pe.code : EIO;
                    if (pe.code == ECANCELED)
                        return kl_error_set(err, ECANCELED, "cancelled");
                    return fail(b, err,
                                "error: could not find stage or image %s, and pulling it "
                                "failed: %s",
                                fromname, pe.msg);
                }
                *err = (kl_error)KL_ERROR_INIT;
                if (images_resolve_stack(b->e, pid, &is, err) < 0)
                    return fail(b, err, "error: could not find stage or image %s", fromname);
            }
            dirs = steal_pointer(&is.dirs);
            nd = is.n;
            from_top = xstrdup(is.layer_ids[is.n - 1]);
            images_stack_clear(&is);
        }
        char id[KL_ID_LEN + 1];
        kl_id_new(id);
        _cleanup_free_ char *probe = host_layer_path(b->sroot, id);
        *strrchr(probe, '/') = '\0';
        from_mnt = xasprintf("%s/.staging-from-%s", probe, id);
        if (mkdir(from_mnt, 0700) < 0)
            return fail(b, err, "error: creating %s: %s", from_mnt, strerror(errno));
        /* mounted in no namespace: fromfd is the only way to it (host_rootfs_open) */
        fromfd = host_rootfs_open((const char *const *)dirs, nd, NULL, NULL, from_mnt, err);
        if (fromfd < 0) {
            kl_error e2 = KL_ERROR_INIT;
            host_rootfs_unmount(from_mnt, &e2);
            rmdir(from_mnt);
            return fail(b, err, "error: %s", err->msg);
        }
        treefd = fromfd;
        ignore = NULL;
    }

    int rc = 0;
    char **sources = NULL;
    for (size_t i = 0; rc == 0 && i + 1 < na; i++) {
        _cleanup_free_ char *clean = builder_clean_source(args[i], err);
        if (!clean) {
            rc = fail(b, err, "COPY failed: %s", err->msg);
            break;
        }
        _cleanup_strv_ char **m = builder_expand_source(treefd, clean, ignore, err);
        if (!m) {
            rc = fail(b, err, "COPY failed: %s", err->msg);
            break;
        }
        if (!m[0]) {
            rc = fail(b, err,
                      "COPY failed: file not found in build context or excluded by "
                      ".dockerignore: %s",
                      args[i]);
            break;
        }
        for (size_t k = 0; m[k]; k++)
            strv_push(&sources, m[k]);
    }
    _cleanup_free_ char *hash = NULL;
    if (rc == 0) {
        hash = builder_content_hash(treefd, sources, ignore, err);
        if (!hash)
            rc = fail(b, err, "COPY failed: %s", err->msg);
    }
    _cleanup_free_ char *key = NULL;
    if (rc == 0) {
        char **parts = NULL;
        strv_push(&parts, "COPY");
        strv_push(&parts, from_top ? from_top : "");
        strv_push(&parts, hash);
        for (size_t i = 0; sources[i]; i++)
            strv_push(&parts, sources[i]);
        strv_push(&parts, dest);
        strv_push(&parts, b->st.workdir);
        char own[64];
        snprintf(own, sizeof(own), "%u:%u", (unsigned)uid, (unsigned)gid);
        strv_push(&parts, own);
        key = builder_cache_key(top_layer(b), parts);
        strv_free(parts);
    }
    if (rc == 0 && !use_cache(b, key, pair)) {
        step s;
        _cleanup_free_ char *layer = NULL;
        if (step_begin(b, &s, true, err) < 0 || ensure_workdir(b, &s, err) < 0) {
            step_end(b, &s, false, false, &layer, err);
            rc = fail(b, err, "error: %s", err->msg);
        } else {
            walker w = {.ignore = ignore, .uid = uid, .gid = gid};
            int rootfd = s.rootfd; /* closed by step_end */
            size_t dl = strlen(dest);
            bool dest_dir = (dl > 1 && dest[dl - 1] == '/') || strv_len(sources) > 1;
            if (!dest_dir) {
                int f = open2(rootfd, dest, O_RDONLY | O_DIRECTORY, IN_ROOT);
                if (f >= 0) {
                    dest_dir = true;
                    close(f);
                }
            }
            for (size_t i = 0; rc == 0 && sources[i]; i++) {
                _cleanup_close_ int sfd = open_source(treefd, sources[i], O_PATH, sources[i], err);
                struct stat stb;
                if (sfd < 0 || fstat(sfd, &stb) < 0) {
                    rc = fail(b, err, "COPY failed: %s", err->msg);
                    break;
                }
                _cleanup_close_ int dfd = -1;
                const char *fname = NULL;
                _cleanup_free_ char *parent = NULL;
                if (S_ISDIR(stb.st_mode) || dest_dir) {
                    dfd = mkdir_in_root(rootfd, dest, err);
                    fname = base_name(sources[i]);
                } else {
                    parent = xstrdup(dest);
                    *strrchr(parent, '/') = '\0';
                    dfd = mkdir_in_root(rootfd, parent[0] ? parent : "/", err);
                    fname = base_name(dest);
                }
                if (dfd < 0 || walk_source(&w, treefd, sources[i], dfd, dfd, fname, err) < 0)
                    rc = fail(b, err, "COPY failed: %s", err->msg);
            }
            if (step_end(b, &s, rc == 0, false, &layer, rc == 0 ? err : &(kl_error){0}) < 0 &&
                rc == 0)
                rc = fail(b, err, "error: %s", err->msg);
            if (rc == 0)
                took_snapshot(b, layer, key, pair);
        }
    }
    strv_free(sources);
    if (from_mnt) {
        kl_error e2 = KL_ERROR_INIT;
        if (fromfd >= 0) {
            close(fromfd);
            fromfd = -1;
        }
        host_rootfs_unmount(from_mnt, &e2);
        rmdir(from_mnt);
    }
    return rc;
}

static int do_from(build *b, const dockerfile_instr *in, kl_error *err)
{
    _cleanup_free_ char *ref = NULL;
    if (b->o->from_override && b->o->from_override[0]) {
        ref = xstrdup(b->o->from_override);
        say(b, "Using user-supplied parent image: '%s'", ref);
    } else {
        _cleanup_strv_ char **a = dockerfile_expand_args(in, dockerfile_state_lookup, &b->st, err);
        if (!a)
            return fail(b, err, "%s", err->msg);
        ref = xstrdup(a[0]);
    }
    /* b->cur points into the array: it moves with it */
    size_t cur = b->cur ? (size_t)(b->cur - b->stages) : 0;
    bool has_cur = b->cur != NULL;
    b->stages = xrealloc(b->stages, (b->n_stages + 1) * sizeof(*b->stages));
    if (has_cur)
        b->cur = &b->stages[cur];
    stage *ns = &b->stages[b->n_stages];
    *ns = (stage){0};
    ns->name = in->from_stage ? xstrdup(in->from_stage) : NULL;
    _cleanup_strv_ char **penv = NULL, **pcmd = NULL, **pentry = NULL;
    _cleanup_free_ char *pworkdir = NULL;
    stage *src = find_stage(b, ref);
    if (src && strchr(ref, '@') == NULL) {
        for (size_t i = 0; i < src->n; i++)
            push_layer(ns, src->s[i].layer, src->s[i].snap, src->s[i].key, src->s[i].is_new, false);
        ns->parent_id = src->parent_id ? xstrdup(src->parent_id) : NULL;
        ns->parent_user = xstrdup(current_user(b));
        ns->stop_signal = src->stop_signal ? xstrdup(src->stop_signal) : NULL;
        penv = dockerfile_state_image_env(&b->st);
        pcmd = b->st.cmd ? strv_dup(b->st.cmd) : NULL;
        pentry = b->st.entrypoint ? strv_dup(b->st.entrypoint) : NULL;
        pworkdir = xstrdup(b->st.workdir ? b->st.workdir : "/");
        /* a stage FROM a stage inherits what that stage had: only the last stage's state is
         * known here, which is the common case (FROM the previous stage) */
    } else {
        kl_error e2 = KL_ERROR_INIT;
        _cleanup_free_ char *id = images_resolve(b->e, ref, &e2);
        /* A registry image the store lacks is pulled; with `pull`, one that came from a
         * registry is pulled again. Images made here keep priority (and are never pulled). */
        bool pull = is_registry_ref(ref) &&
                    ((!id && e2.code == ENOENT) || (id && b->o->pull && is_pulled(b, id)));
        if (pull) {
            free(id);
            kl_error pe = KL_ERROR_INIT;
            id = pull_image(b, ref, &pe);
            if (!id) {
                stage_clear(ns);
                err->code = pe.code ? pe.code : EIO;
                if (pe.code == ECANCELED)
                    return kl_error_set(err, ECANCELED, "cancelled");
                return fail(b, err, "error: could not find image %s, and pulling it failed: %s",
                            ref, pe.msg);
            }
        }
        if (!id) {
            stage_clear(ns);
            err->code = ENOENT;
            return fail(b, err, "error: could not find image %s", ref);
        }
        images_stack is = {0};
        if (images_resolve_stack(b->e, pull ? id : ref, &is, &e2) < 0) {
            stage_clear(ns);
            const char *at = strchr(ref, '@');
            err->code = ENOENT;
            return fail(b, err, "error: invalid snapshot %s", at ? at : ref);
        }
        _cleanup_json_ json_t *img = images_inspect(b->e, id, &e2);
        for (size_t i = 0; i < is.n; i++)
            push_layer(ns, is.layer_ids[i], NULL, NULL, false, false);
        images_stack_clear(&is);
        ns->parent_id = xstrdup(id);
        ns->parent_user = xstrdup(jx_str(img, "user", "root"));
        const char *ss = jx_str(img, "stop_signal", NULL);
        ns->stop_signal = ss ? xstrdup(ss) : NULL;
        penv = jx_strv(json_object_get(img, "env"));
        pcmd = jx_strv(json_object_get(img, "cmd"));
        pentry = jx_strv(json_object_get(img, "entrypoint"));
        pworkdir = xstrdup(jx_str(img, "workdir", "/"));
        json_t *l = json_object_get(img, "labels"), *x = json_object_get(img, "exposed_ports");
        json_decref(b->labels);
        json_decref(b->exposed);
        b->labels = json_is_object(l) ? json_deep_copy(l) : json_object();
        b->exposed = json_is_array(x) ? json_deep_copy(x) : json_array();
    }
    b->n_stages++;
    b->cur = &b->stages[b->n_stages - 1];
    dockerfile_state_begin_stage(&b->st, penv, pcmd);
    if (pentry && pentry[0]) /* inherited: it does not reset the inherited CMD */
        b->st.entrypoint = steal_pointer(&pentry);
    if (pworkdir && pworkdir[0] == '/' && strcmp(pworkdir, "/") != 0) {
        /* Docker's rule: the parent's WORKDIR stays the working directory */
        free(b->st.workdir);
        b->st.workdir = steal_pointer(&pworkdir);
    }
    b->workdir_made = true;
    return 0;
}

static int process(build *b, const dockerfile_instr *in, json_t *pair, kl_error *err)
{
    if (in->kind != DOCKERFILE_FROM && in->kind != DOCKERFILE_ARG && !b->cur)
        return fail(b, err, "'%s' not permitted before a FROM instruction", in->line);
    switch (in->kind) {
    case DOCKERFILE_FROM:
        return do_from(b, in, err);
    case DOCKERFILE_ARG:
    case DOCKERFILE_ENV:
    case DOCKERFILE_LABEL: {
        if (in->is_kv_malformed)
            return fail(b, err, "failed environment substition of: %s", in->line);
        size_t n = 0;
        dockerfile_kv *kv = dockerfile_expand_pairs(in, dockerfile_state_lookup, &b->st, &n, err);
        if (!kv)
            return fail(b, err, "%s", err->msg);
        for (size_t i = 0; i < n; i++) {
            if (in->kind == DOCKERFILE_ARG)
                dockerfile_state_declare_arg(&b->st, kv[i].key, kv[i].value);
            else if (in->kind == DOCKERFILE_ENV)
                dockerfile_state_set_env(&b->st, kv[i].key, kv[i].value ? kv[i].value : "");
            else
                json_object_set_new(b->labels, kv[i].key,
                                    json_string(kv[i].value ? kv[i].value : ""));
        }
        dockerfile_kv_free(kv, n);
        return 0;
    }
    case DOCKERFILE_USER:
    case DOCKERFILE_WORKDIR:
    case DOCKERFILE_EXPOSE: {
        _cleanup_strv_ char **a = dockerfile_expand_args(in, dockerfile_state_lookup, &b->st, err);
        if (!a)
            return fail(b, err, "%s", err->msg);
        if (in->kind == DOCKERFILE_USER) {
            free(b->st.user);
            b->st.user = xstrdup(a[0] ? a[0] : "");
        } else if (in->kind == DOCKERFILE_WORKDIR) {
            dockerfile_state_set_workdir(&b->st, a[0] ? a[0] : "/");
            b->workdir_made = strcmp(b->st.workdir, "/") == 0;
        } else {
            for (size_t i = 0; a[i]; i++) {
                _cleanup_free_ char *port = dockerfile_port_normalize(a[i]);
                if (!port)
                    return fail(b, err,
                                "line %u: error in '%s': invalid port '%.64s' (expected "
                                "<port>[-<port>][/tcp|udp|sctp])",
                                in->lineno, in->line, a[i]);
                bool seen = false;
                for (size_t j = 0; j < json_array_size(b->exposed) && !seen; j++)
                    seen = !strcmp(json_string_value(json_array_get(b->exposed, j)), port);
                if (!seen)
                    json_array_append_new(b->exposed, json_string(port));
            }
        }
        return 0;
    }
    case DOCKERFILE_STOPSIGNAL: {
        _cleanup_strv_ char **a = dockerfile_expand_args(in, dockerfile_state_lookup, &b->st, err);
        if (!a)
            return fail(b, err, "%s", err->msg);
        char *sig = kl_signal_canonical(a[0]);
        if (!sig)
            return fail(b, err, "line %u: error in '%s': invalid signal '%.64s'", in->lineno,
                        in->line, a[0] ? a[0] : "");
        free(b->cur->stop_signal);
        b->cur->stop_signal = sig;
        return 0;
    }
    case DOCKERFILE_CMD:
    case DOCKERFILE_ENTRYPOINT: {
        _cleanup_strv_ char **argv = in->is_exec_form
                                         ? strv_dup(in->args)
                                         : dockerfile_shell_argv(in->args[2], b->st.workdir);
        if (in->kind == DOCKERFILE_CMD)
            dockerfile_state_set_cmd(&b->st, argv);
        else
            dockerfile_state_set_entrypoint(&b->st, argv, in->is_exec_form);
        return 0;
    }
    case DOCKERFILE_RUN:
        return do_run(b, in, pair, err);
    case DOCKERFILE_COPY:
        return do_copy(b, in, pair, err);
    }
    return fail(b, err, "error in '%s': invalid instruction", in->line);
}

/* WORKDIR without a following step in the final stage: a small layer for it. */
static int flush_workdir(build *b, kl_error *err)
{
    if (b->workdir_made || strcmp(b->st.workdir, "/") == 0)
        return 0;
    char *parts[] = {"WORKDIR", b->st.workdir, NULL};
    _cleanup_free_ char *key = builder_cache_key(top_layer(b), parts);
    _cleanup_free_ char *layer = NULL, *snap = NULL;
    if (cache_lookup(b, key, &layer, &snap)) {
        push_layer(b->cur, layer, NULL, key, false, false);
        return 0;
    }
    step s;
    if (step_begin(b, &s, true, err) < 0 || ensure_workdir(b, &s, err) < 0) {
        step_end(b, &s, false, false, &layer, err);
        return fail(b, err, "error: %s", err->msg);
    }
    if (step_end(b, &s, true, true, &layer, err) < 0)
        return fail(b, err, "error: %s", err->msg);
    if (layer)
        push_layer(b->cur, layer, NULL, key, true, false);
    return 0;
}

static bool layer_in(const stage *s, const char *layer)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->s[i].is_new && strcmp(s->s[i].layer, layer) == 0)
            return true;
    return false;
}

/* Remove the new layers (directories) not kept by `keep`. */
static void drop_new_layers(build *b, const stage *keep)
{
    for (size_t k = 0; k < b->n_stages; k++) {
        stage *s = &b->stages[k];
        for (size_t i = 0; i < s->n; i++) {
            if (!s->s[i].is_new || layer_in(keep, s->s[i].layer))
                continue;
            bool seen = false; /* a stage FROM a stage repeats layers */
            for (size_t j = 0; j < k && !seen; j++)
                seen = layer_in(&b->stages[j], s->s[i].layer);
            if (seen)
                continue;
            kl_error e2 = KL_ERROR_INIT;
            if (host_layer_remove(b->sroot, s->s[i].layer, &e2) < 0 && e2.code != ENOENT)
                log_warn("build: removing layer %s: %s", s->s[i].layer, e2.msg);
        }
    }
}

/* Store the current stage as an image; returns the id. With may_reuse, an existing image that
 * this one would repeat exactly is returned instead (an unchanged rebuild keeps its id). */
static char *save_image(build *b, const char *id, const char *name, const char *tag, bool may_reuse,
                        kl_error *err)
{
    stage *s = b->cur;
    const char **layers = xcalloc(s->n + 1, sizeof(char *));
    const char **snaps = xcalloc(s->n + 1, sizeof(char *));
    size_t n_new = 0;
    for (size_t i = 0; i < s->n; i++) {
        layers[i] = s->s[i].layer;
        snaps[i] = s->s[i].is_new ? s->s[i].snap : NULL;
        n_new = s->s[i].is_new ? n_new + 1 : 0;
    }
    _cleanup_strv_ char **ienv = dockerfile_state_image_env(&b->st);
    json_t *cmd = jx_from_strv(b->st.cmd);
    json_t *entrypoint = jx_from_strv(b->st.entrypoint);
    json_t *env = jx_from_strv(ienv);
    const char *user = b->st.user && b->st.user[0] ? b->st.user : s->parent_user;
    /* the build's own labels win over the Dockerfile's (docker build --label) */
    _cleanup_json_ json_t *labels = json_deep_copy(b->labels);
    if (json_is_object(b->o->labels))
        json_object_update(labels, (json_t *)b->o->labels);
    images_record r = {
        .id = id,
        .name = name,
        .tag = tag,
        .parent_id = s->parent_id,
        .cmd = cmd,
        .env = env,
        .user = user,
        .instructions = b->instructions,
        .entrypoint = entrypoint,
        .labels = labels,
        .exposed_ports = b->exposed,
        .workdir = b->st.workdir,
        .stop_signal = s->stop_signal,
        .layers = layers,
        .n_layers = s->n,
        .n_new = n_new,
        .snapshots = snaps,
    };
    bool reused = false;
    char *out = may_reuse ? images_add_or_reuse(b->e, &r, &reused, err) : images_add(b->e, &r, err);
    if (reused)
        log_info("build %s: unchanged, image %s kept", id, out);
    json_decref(cmd);
    json_decref(entrypoint);
    json_decref(env);
    free(layers);
    free(snaps);
    if (out)
        cache_store(b, s);
    if (out)
        images_event(b->e, out, "build", NULL);
    return out;
}

/* The last snapshot this build made or reused in the current stage. */
static const char *last_snapshot(build *b)
{
    for (size_t i = b->cur ? b->cur->n : 0; i-- > 0;)
        if (b->cur->s[i].by_build && b->cur->s[i].snap)
            return b->cur->s[i].snap;
    return NULL;
}

static int parse_mounts(build *b, kl_error *err)
{
    size_t i;
    json_t *m;
    if (!json_is_array(b->o->mounts))
        return 0;
    b->mounts = xcalloc(json_array_size(b->o->mounts) + 1, sizeof(*b->mounts));
    json_array_foreach(b->o->mounts, i, m)
    {
        const char *type = jx_str(m, "type", "volume");
        const char *src = jx_str(m, "source", "");
        const char *dst = jx_str(m, "destination", "");
        if (dst[0] != '/')
            return kl_error_set(err, EINVAL, "mount destination must be absolute: '%s'", dst);
        char *path;
        if (strcmp(type, "nullfs") == 0) {
            if (src[0] != '/')
                return kl_error_set(err, EINVAL, "nullfs mount source must be absolute: '%s'", src);
            path = xstrdup(src);
        } else {
            if (!src[0] || strchr(src, '/'))
                return kl_error_set(err, EINVAL, "invalid volume name '%s'", src);
            path = xasprintf("%s/volumes/%s", b->e->root, src);
            struct stat stb;
            if (stat(path, &stb) < 0) {
                free(path);
                return kl_error_set(err, ENOENT, "no such volume '%s'", src);
            }
        }
        bool ours = strcmp(type, "nullfs") != 0;
        b->mounts[b->n_mounts++] =
            (host_mount){path, xstrdup(dst), jx_bool(m, "read_only", false), ours};
        if (containers_check_mount(b->e, ours ? "volume" : "nullfs", src, dst, err) < 0)
            return -1;
    }
    return 0;
}

int builder_load(const builder_opts *o, dockerfile *df, kl_error *err)
{
    *df = (dockerfile){0};
    _cleanup_free_ char *path = xasprintf(
        "%s/%s", o->context, o->dockerfile && o->dockerfile[0] ? o->dockerfile : "Dockerfile");
    _cleanup_close_ int cfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = -1;
    if (cfd >= 0)
        fd = open2(cfd, o->dockerfile && o->dockerfile[0] ? o->dockerfile : "Dockerfile", O_RDONLY,
                   BENEATH);
    if (fd < 0) {
        int e = errno;
        if (e == EXDEV || e == ELOOP)
            return kl_error_set(err, e, "cannot open the Dockerfile %s: it is outside the context",
                                path);
        return kl_error_set(err, e, "cannot open the Dockerfile %s: %s", path, strerror(e));
    }
    kl_buf text = {0};
    char buf[65536];
    ssize_t n;
    while ((n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf)))) > 0) {
        kl_buf_append(&text, buf, (size_t)n);
        if (text.len > 4 * 1024 * 1024) {
            n = -1;
            errno = EFBIG;
            break;
        }
    }
    int e = errno;
    close(fd);
    if (n < 0) {
        kl_buf_free(&text);
        return kl_error_set(err, e, "cannot read the Dockerfile %s: %s", path, strerror(e));
    }
    kl_buf_puts(&text, "");
    unsigned line = 0;
    int rc = dockerfile_parse(text.data ? text.data : "", df, &line, err);
    kl_buf_free(&text);
    if (rc < 0 && o->line_numbers && line && strncmp(err->msg, "line ", 5) != 0)
        kl_error_prefix(err, "line %u", line);
    return rc;
}

int builder_target_end(const dockerfile *df, const char *target, size_t *end, kl_error *err)
{
    *end = df->n;
    if (!target || !target[0])
        return 0;
    for (size_t i = 0; i < df->n; i++) {
        const dockerfile_instr *in = &df->instrs[i];
        if (in->kind != DOCKERFILE_FROM || !in->from_stage || strcasecmp(in->from_stage, target))
            continue;
        for (size_t k = i + 1; k < df->n; k++)
            if (df->instrs[k].kind == DOCKERFILE_FROM) {
                *end = k;
                break;
            }
        return 0;
    }
    return kl_error_set(err, ENOENT, "failed to reach build target %s in Dockerfile", target);
}

void builder_result_clear(builder_result *r)
{
    free(r->image_id);
    free(r->data);
    *r = (builder_result){0};
}

int builder_run(kl_engine *e, const builder_opts *o, const dockerfile *df, const char *id,
                builder_result *res, kl_error *err)
{
    *res = (builder_result){0};
    build b = {.e = e, .o = o, .ctxfd = -1, .build_id = id};
    b.sroot = images_storage_root(e);
    b.run_base = xasprintf("%s/build", e->run_root ? e->run_root : e->root);
    b.instructions = json_array();
    b.labels = json_object();
    b.exposed = json_array();
    dockerfile_state_init(&b.st, o->buildargs);
    int rc = 0;

    /* the image's name and tag, checked before any step runs: a registry's port is not a tag
     * (127.0.0.1:5000/x is x:latest of that registry), as everywhere a reference is read */
    _cleanup_free_ char *name = NULL, *tag = NULL;
    if (imageref_parse_nametag(o->tag ? o->tag : "", &name, &tag, err) < 0) {
        name = xstrdup("");
        tag = xstrdup("");
        rc = fail(&b, err, "error: %s", err->msg);
    }

    b.ctxfd = rc < 0 ? -1 : open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rc == 0 && b.ctxfd < 0)
        rc = fail(&b, err, "error: opening the context %s: %s", o->context, strerror(errno));
    if (rc == 0) {
        int ifd = open2(b.ctxfd, ".dockerignore", O_RDONLY, BENEATH);
        kl_buf t = {0};
        if (ifd >= 0) {
            char buf[8192];
            ssize_t n;
            while ((n = read(ifd, buf, sizeof(buf))) > 0)
                kl_buf_append(&t, buf, (size_t)n);
            close(ifd);
        }
        kl_buf_puts(&t, "");
        b.ignore = dockerignore_parse(t.data, err);
        kl_buf_free(&t);
        if (!b.ignore)
            rc = fail(&b, err, "error: .dockerignore: %s", err->msg);
    }
    if (rc == 0 && host_jailparams_parse(o->jail_param, &b.jp, err) < 0)
        rc = fail(&b, err, "error: %s", err->msg);
    if (rc == 0 && parse_mounts(&b, err) < 0)
        rc = fail(&b, err, "error: %s", err->msg);
    if (rc == 0) {
        /* "o": the array is new and the object takes it over ("O" would leak it). */
        json_t *cc = json_pack("{s:o,s:s?,s:s?}", "jail_param", jx_from_strv(o->jail_param),
                               "mounts", NULL, "driver", o->network_driver);
        if (o->mounts)
            json_object_set(cc, "mounts", (json_t *)o->mounts);
        b.cc_key = jx_dump(cc);
        json_decref(cc);
    }

    size_t end = df->n;
    if (rc == 0 && builder_target_end(df, o->target, &end, err) < 0)
        rc = fail(&b, err, "%s", err->msg);
    for (size_t i = 0; rc == 0 && i < end; i++) {
        if (cancelled(&b)) {
            rc = kl_error_set(err, ECANCELED, "cancelled");
            break;
        }
        const dockerfile_instr *in = &df->instrs[i];
        if (!o->quiet)
            say(&b, "Step %zu/%zu : %s", i + 1, end, in->line);
        json_t *pair = json_pack("[s,s]", in->line, "");
        json_array_append_new(b.instructions, pair);
        b.lineno = in->lineno;
        rc = process(&b, in, pair, err);
    }
    b.lineno = 0;
    if (rc == 0 && cancelled(&b))
        rc = kl_error_set(err, ECANCELED, "cancelled");
    if (rc == 0 && !b.cur)
        rc = fail(&b, err, "error: no FROM instruction");
    if (rc == 0)
        rc = flush_workdir(&b, err);

    net_release(&b);

    if (rc == 0) {
        kl_error e2 = KL_ERROR_INIT;
        res->image_id = save_image(&b, id, name, tag, true, &e2);
        if (!res->image_id) {
            *err = e2;
            rc = fail(&b, err, "error: %s", e2.msg);
        }
    }
    if (rc == 0) {
        drop_new_layers(&b, b.cur);
    } else {
        res->exit_code = b.exit_code;
        res->data = xstrdup("");
        bool saved = false;
        if (!o->cleanup && b.cur && err->code != ECANCELED) {
            if (b.failed_layer) {
                push_layer(b.cur, b.failed_layer, NULL, NULL, true, false);
                free(b.failed_layer);
                b.failed_layer = NULL;
            }
            kl_error e2 = KL_ERROR_INIT;
            _cleanup_free_ char *fid =
                save_image(&b, id, name[0] ? name : "", name[0] ? "failed" : "", false, &e2);
            if (fid) {
                saved = true;
                const char *ls = last_snapshot(&b);
                free(res->data);
                res->data = xstrdup(ls ? ls : "no snapshots available");
            } else {
                log_warn("build %s: saving the failed image: %s", id, e2.msg);
            }
        }
        if (b.failed_layer) {
            kl_error e2 = KL_ERROR_INIT;
            host_layer_remove(b.sroot, b.failed_layer, &e2);
            free(b.failed_layer);
            b.failed_layer = NULL;
        }
        drop_new_layers(&b, saved ? b.cur : NULL);
    }

    for (size_t i = 0; i < b.n_stages; i++)
        stage_clear(&b.stages[i]);
    free(b.stages);
    for (size_t i = 0; i < b.n_mounts; i++) {
        free((char *)b.mounts[i].source);
        free((char *)b.mounts[i].destination);
    }
    free(b.mounts);
    free(b.cc_key);
    host_jailparams_free(&b.jp);
    dockerignore_free(b.ignore);
    dockerfile_state_clear(&b.st);
    json_decref(b.instructions);
    json_decref(b.labels);
    json_decref(b.exposed);
    if (b.ctxfd >= 0)
        close(b.ctxfd);
    free(b.sroot);
    free(b.run_base);
    return rc;
}

void builder_sweep(kl_engine *e)
{
    _cleanup_free_ char *base = xasprintf("%s/build", e->run_root ? e->run_root : e->root);
    _cleanup_strv_ char **steps = NULL;
    {
        _cleanup_closedir_ DIR *d = opendir(base);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&steps, de->d_name);
    }
    for (size_t i = 0; steps && steps[i]; i++) {
        _cleanup_free_ char *run_dir = xasprintf("%s/%s", base, steps[i]);
        kl_error err = KL_ERROR_INIT;
        host_monitor *m = host_monitor_connect(run_dir, &err);
        if (m) {
            int ec;
            log_notice("build step %s: stopping it, its build was interrupted by a crash",
                       steps[i]);
            if (host_monitor_stop(m, 0, &ec, &err) < 0)
                log_warn("build step %s: %s", steps[i], err.msg);
            host_monitor_close(m);
        }
        err = (kl_error)KL_ERROR_INIT;
        if (host_tree_remove(run_dir, &err) < 0)
            log_warn("build step %s: %s", steps[i], err.msg);
    }
}
