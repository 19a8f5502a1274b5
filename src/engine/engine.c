/* The engine object (engine.h): the root directories, the store and the engine lock.
 * It must not know object semantics; those live in the object modules. */
#include "engine/engine.h"

#include <errno.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

kl_engine *engine_open(const char *root, const char *run_root, kl_error *err)
{
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

    _cleanup_free_ char *dbpath = xasprintf("%s/metadata.sqlite", r);
    kl_store *store = store_open(dbpath, err);
    if (!store)
        return NULL;

    kl_engine *e = xcalloc(1, sizeof(*e));
    e->store = store;
    e->root = steal_pointer(&r);
    e->run_root = run_root ? xstrdup(run_root) : NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&e->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    /* Finish volume removals that a crash interrupted (best effort). */
    volumes_sweep(e);
    /* The layer storage root; drops what interrupted image creations and removals left. */
    if (images_init(e, err) < 0) {
        engine_close(e);
        return NULL;
    }
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
