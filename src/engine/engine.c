/* The engine object (engine.h): the root directories, the store and the engine lock.
 * It must not know object semantics; those live in the object modules. */
#include "engine/engine.h"

#include <errno.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine/builder.h"
#include "engine/upload.h"
#include "engine/containers.h"
#include "engine/endwatch.h"
#include "engine/images.h"
#include "engine/volumes.h"
#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* mkdir -p: missing parents get 0755, the last component `mode`. Existing directories are
 * left as they are (an administrator may have chosen their modes). */
static int mkdir_p(const char *path, mode_t mode, kl_error *err)
{
    _cleanup_free_ char *p = xstrdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        if (p[i - 1] == '/')
            continue; /* repeated slashes */
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, i == n ? mode : 0755) < 0) {
            struct stat st;
            if (errno != EEXIST)
                return kl_error_errno(err, errno, "creating directory %s", p);
            if (stat(p, &st) < 0)
                return kl_error_errno(err, errno, "stat %s", p);
            if (!S_ISDIR(st.st_mode))
                return kl_error_set(err, ENOTDIR, "%s exists and is not a directory", p);
        }
        p[i] = saved;
    }
    return 0;
}

/* A directory under the root: created 0700 if missing; a symlink or anything else is refused,
 * so that nothing we later create under it escapes the root. */
static int make_subdir(int rootfd, const char *root, const char *name, kl_error *err)
{
    if (mkdirat(rootfd, name, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating directory %s/%s", root, name);
    struct stat st;
    if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "stat %s/%s", root, name);
    if (!S_ISDIR(st.st_mode))
        return kl_error_set(err, ENOTDIR, "%s/%s exists and is not a directory", root, name);
    return 0;
}

/* ---- crash tests ------------------------------------------------------------------------ */

static const char *crash_point; /* KLEENED_CRASH_POINT, read once by engine_open */

void engine_crash_point(const char *point)
{
    if (!crash_point || strcmp(crash_point, point) != 0)
        return;
    log_notice("crash point %s reached: kleened kills itself (KLEENED_CRASH_POINT)", point);
    raise(SIGKILL);
}

static const char *delay_point; /* KLEENED_DELAY_POINT, read once by engine_open */

void engine_delay_point(const char *point)
{
    if (!delay_point)
        return;
    const char *colon = strrchr(delay_point, ':');
    size_t n = colon ? (size_t)(colon - delay_point) : strlen(delay_point);
    if (strlen(point) != n || strncmp(delay_point, point, n) != 0)
        return;
    long ms = colon ? strtol(colon + 1, NULL, 10) : 100;
    if (ms <= 0 || ms > 10000)
        ms = 100;
    log_debug("delay point %s: %ld ms (KLEENED_DELAY_POINT)", point, ms);
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* ---- the space reserve (engine.h) ------------------------------------------------------ */

static long long free_bytes(const char *root)
{
    struct statvfs sv;
    if (statvfs(root, &sv) < 0)
        return LLONG_MAX; /* unknown: behave as if there was room */
    return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

static int reserve_open(const char *root)
{
    _cleanup_free_ char *path = xasprintf("%s/" ENGINE_RESERVE_FILE, root);
    return KL_RETRY_EINTR(open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
}

static void reserve_release(const char *root)
{
    if (free_bytes(root) >= ENGINE_RESERVE_LOW)
        return;
    _cleanup_close_ int fd = reserve_open(root);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
        return;
    off_t size = st.st_size > ENGINE_RESERVE_STEP ? st.st_size - ENGINE_RESERVE_STEP : 0;
    if (ftruncate(fd, size) < 0) {
        log_warn("%s/" ENGINE_RESERVE_FILE ": %s", root, strerror(errno));
        return;
    }
    log_notice("the filesystem of %s is full: %lld bytes of the space reserve released for a "
               "removal (%lld kept)",
               root, (long long)(st.st_size - size), (long long)size);
}

static void reserve_restore(const char *root)
{
    _cleanup_close_ int fd = reserve_open(root);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return;
    off_t size = st.st_size;
    while (size < ENGINE_RESERVE_BYTES) {
        off_t want = size + ENGINE_RESERVE_STEP;
        if (want > ENGINE_RESERVE_BYTES)
            want = ENGINE_RESERVE_BYTES;
        /* Blocks really allocated (not a sparse file), so that releasing them frees room. */
        if (posix_fallocate(fd, size, want - size) != 0) {
            /* a partial allocation past the old size goes again */
            if (ftruncate(fd, size) < 0)
                log_debug("%s/" ENGINE_RESERVE_FILE ": %s", root, strerror(errno));
            break;
        }
        size = want;
    }
    if (size != st.st_size)
        log_debug("space reserve %s/" ENGINE_RESERVE_FILE ": %lld bytes", root, (long long)size);
}

/* The log room a removal's metadata step may need: it deletes a few rows, their index
 * entries and foreign-key checks, tens of pages at most. */
#define REMOVAL_LOG_BYTES (256L * 1024)

void engine_space_for_removal(kl_engine *e)
{
    if (free_bytes(e->root) >= ENGINE_RESERVE_LOW)
        return;
    engine_lock(e);
    /* First without the reserve: once the log is checkpointed, the next transaction writes
     * it again from its start, over room the file has. The checkpoint itself needs room
     * only when the database file grows; then a step of the reserve is released for it. */
    long long log_bytes = 0;
    kl_error err = KL_ERROR_INIT;
    if (store_checkpoint(e->store, &log_bytes, &err) < 0) {
        log_debug("%s; releasing a step of the space reserve", err.msg);
        reserve_release(e->root);
        kl_error_clear(&err);
        if (store_checkpoint(e->store, &log_bytes, &err) < 0)
            log_warn("%s", err.msg);
    }
    if (log_bytes < REMOVAL_LOG_BYTES)
        reserve_release(e->root);
    engine_unlock(e);
}

void engine_space_restore(kl_engine *e)
{
    engine_lock(e);
    reserve_restore(e->root);
    engine_unlock(e);
}

kl_engine *engine_open(const char *root, const char *run_root, kl_error *err)
{
    crash_point = getenv("KLEENED_CRASH_POINT");
    delay_point = getenv("KLEENED_DELAY_POINT");
    if (!root || root[0] != '/') {
        kl_error_set(err, EINVAL, "the kleene root must be an absolute path (got '%s')",
                     root ? root : "");
        return NULL;
    }
    _cleanup_free_ char *r = xstrdup(root);
    for (size_t n = strlen(r); n > 1 && r[n - 1] == '/'; n--)
        r[n - 1] = '\0';

    if (mkdir_p(r, 0700, err) < 0)
        return NULL;
    if (run_root && mkdir_p(run_root, 0700, err) < 0)
        return NULL;
    _cleanup_close_ int rootfd = open(r, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        kl_error_errno(err, errno, "opening %s", r);
        return NULL;
    }
    static const char *const subdirs[] = {"image", "container", "volumes"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(subdirs); i++)
        if (make_subdir(rootfd, r, subdirs[i], err) < 0)
            return NULL;

    /* Opening the store writes (its shared-memory index, recovery of the log) and the
     * sweeps below are removals: on a full disk they take a step of the reserve. */
    reserve_release(r);
    _cleanup_free_ char *dbpath = xasprintf("%s/metadata.sqlite", r);
    kl_store *store = store_open(dbpath, err);
    if (!store)
        return NULL;

    kl_engine *e = xcalloc(1, sizeof(*e));
    e->store = store;
    e->root = steal_pointer(&r);
    e->run_root = run_root ? xstrdup(run_root) : NULL;
    e->private_dirs[0] = e->root;
    e->private_dirs[1] = e->run_root;
    e->private_dirs[2] = NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&e->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    /* Complete or roll back what a crash interrupted (docs/crash-consistency.md), and
     * collect the directories no row owns: containers first (they hold volumes and layers),
     * then volumes, then layers. Best effort: each logs what it could not do. */
    containers_sweep(e);
    volumes_sweep(e);
    builder_sweep(e);
    upload_sweep(e);
    /* The layer storage root; drops what interrupted image creations and removals left. */
    if (images_init(e, err) < 0) {
        engine_close(e);
        return NULL;
    }
    reserve_restore(e->root);
    return e;
}

void engine_close(kl_engine *e)
{
    if (!e)
        return;
    endwatch_stop(e->endwatch); /* its callbacks use the store */
    store_close(e->store);
    pthread_mutex_destroy(&e->lock);
    free(e->root);
    free(e->run_root);
    free(e->nat_if);
    free(e->dataset_root);
    strv_free(e->insecure_registries);
    free(e->registry_certs_dir);
    host_fw_free(e->fw);
    free(e);
}

void engine_release_memory(kl_engine *e)
{
    store_lock(e->store);
    sqlite3_db_release_memory(store_db(e->store));
    store_unlock(e->store);
}

void engine_lock(kl_engine *e)
{
    pthread_mutex_lock(&e->lock);
}

void engine_unlock(kl_engine *e)
{
    pthread_mutex_unlock(&e->lock);
}
