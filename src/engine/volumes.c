/* Volumes (volumes.h): directories under <root>/volumes and their rows. On FreeBSD a dataset
 * of its own is mounted on each directory (host_volume_create/_remove, host/storage.h).
 *
 * Removal renames the volume directory aside to its marker name .removing.<sha1 of the
 * name> (volume names cannot start with '.') inside the transaction that deletes the row,
 * commits, then deletes the hidden tree outside the engine lock. A crash before the commit
 * leaves the row and the marker: volumes_sweep() renames the directory back (the old
 * state); after it, the marker without a row: volumes_sweep() deletes it (the new state).
 * Creation makes the directory, then the row; a crash in between leaves a directory no row
 * owns, which volumes_sweep() deletes: a directory without a row is never adopted as a new
 * volume (issue 12: a volume of an old name would silently get the old files).
 * Nothing here follows a symlink found inside a volume: its content is written by
 * containers and must be treated as hostile. */
#include "engine/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/sha1.h"
#include "lib/xalloc.h"

#define TRASH_PREFIX ".removing."

/* The marker name of volume `name` while its removal is under way: TRASH_PREFIX + the hex
 * sha1 of the name (fixed length: a name may be as long as a file name can be). */
static void marker_name(const char *name, char out[sizeof(TRASH_PREFIX) + 2 * KL_SHA1_LEN])
{
    uint8_t h[KL_SHA1_LEN];
    kl_sha1(name, strlen(name), h);
    int n = snprintf(out, sizeof(TRASH_PREFIX), "%s", TRASH_PREFIX);
    for (size_t i = 0; i < KL_SHA1_LEN; i++)
        n += snprintf(out + n, 3, "%02x", h[i]);
}

/* A fresh hidden name for garbage to delete (never a marker name: it has dots). */
static char *garbage_name(void)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return xasprintf(TRASH_PREFIX "%ld.%ld.%u", (long)getpid(), (long)ts.tv_nsec,
                     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
}

/* Rename `name` under vfd to a fresh garbage name (returned), retrying on a clash. */
static char *move_to_garbage(int vfd, const char *name, kl_error *err)
{
    for (int tries = 0;; tries++) {
        _cleanup_free_ char *g = garbage_name();
        if (renameat(vfd, name, vfd, g) == 0)
            return steal_pointer(&g);
        if ((errno != EEXIST && errno != ENOTEMPTY) || tries >= 10) {
            kl_error_errno(err, errno, "renaming %s aside", name);
            return NULL;
        }
    }
}

bool volumes_name_is_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n < 1 || n > VOLUME_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

static int invalid_name(const char *name, kl_error *err)
{
    if (name && strlen(name) > VOLUME_NAME_MAX)
        return kl_error_set(err, EINVAL, "invalid volume name: longer than %d characters",
                            VOLUME_NAME_MAX);
    return kl_error_set(err, EINVAL,
                        "invalid volume name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                        name ? name : "");
}

static int open_volumes_dir(kl_engine *e, kl_error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/volumes", e->root);
    int fd = KL_RETRY_EINTR(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    return fd;
}

/* `doc` is the row's doc column (its labels), or NULL. */
static json_t *volume_json(kl_engine *e, const char *name, const char *created, const char *doc)
{
    _cleanup_free_ char *dir = xasprintf("%s/volumes/%s", e->root, name);
    _cleanup_json_ json_t *d = doc ? json_loads(doc, 0, NULL) : NULL;
    json_t *labels = json_object_get(d, "labels");
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", name, "dataset", dir, "mountpoint", dir,
                     "created", created, "labels",
                     json_is_object(labels) ? json_deep_copy(labels) : json_object());
}

/* Deep trees are cut into pieces so that removal holds at most this many directory fds
 * (a container can nest directories far deeper than the fd limit). */
#define TREE_MAX_DEPTH 64

typedef struct {
    int topfd;       /* <root>/volumes */
    const char *top; /* its path, for messages */
    dev_t dev;       /* the filesystem we stay on */
    kl_buf pending;  /* NUL-separated hidden names under topfd still to delete */
    unsigned moved;
} tree_remover;

static int remove_tree_at(tree_remover *t, int parentfd, const char *name, const char *shown,
                          int depth, kl_error *err);

/* Move a directory that is too deep up to <root>/volumes under a hidden name, to be removed
 * from there. Its name starts with TRASH_PREFIX, so a crash leaves it to volumes_sweep(). */
static int defer_subtree(tree_remover *t, int parentfd, const char *name, const char *shown,
                         kl_error *err)
{
    for (int tries = 0;; tries++) {
        _cleanup_free_ char *aside =
            xasprintf(TRASH_PREFIX "deep.%ld.%u", (long)getpid(), t->moved++);
        if (renameat(parentfd, name, t->topfd, aside) == 0) {
            kl_buf_append(&t->pending, aside, strlen(aside) + 1);
            return 0;
        }
        if ((errno != EEXIST && errno != ENOTEMPTY) || tries >= 100)
            return kl_error_errno(err, errno, "moving %s aside", shown);
    }
}

/* Delete `name` under `parentfd` and everything below it, without following symlinks and
 * without descending into another filesystem (a mount point is refused with EBUSY). `shown`
 * is the path used in messages. */
static int remove_tree_at(tree_remover *t, int parentfd, const char *name, const char *shown,
                          int depth, kl_error *err)
{
    struct stat st;
    if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return kl_error_errno(err, errno, "stat %s", shown);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parentfd, name, 0) < 0 && errno != ENOENT)
            return kl_error_errno(err, errno, "removing %s", shown);
        return 0;
    }
    if (st.st_dev != t->dev)
        return kl_error_set(err, EBUSY, "removing %s: it is a mount point", shown);
    if (depth >= TREE_MAX_DEPTH)
        return defer_subtree(t, parentfd, name, shown, err);

    _cleanup_close_ int fd =
        KL_RETRY_EINTR(openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", shown);
    struct stat dst;
    if (fstat(fd, &dst) < 0)
        return kl_error_errno(err, errno, "stat %s", shown);
    if (dst.st_dev != st.st_dev || dst.st_ino != st.st_ino)
        return kl_error_set(err, EBUSY, "removing %s: it changed while being removed", shown);

    /* Read the names first (NUL-separated) and close the stream, so each level holds a
     * single fd. */
    _cleanup_buf_ kl_buf names = KL_BUF_INIT;
    {
        int dfd = KL_RETRY_EINTR(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dfd < 0)
            return kl_error_errno(err, errno, "opening %s", shown);
        _cleanup_closedir_ DIR *d = fdopendir(dfd);
        if (!d) {
            int saved = errno;
            close(dfd);
            return kl_error_errno(err, saved, "reading %s", shown);
        }
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                kl_buf_append(&names, de->d_name, strlen(de->d_name) + 1);
            errno = 0;
        }
        if (errno)
            return kl_error_errno(err, errno, "reading %s", shown);
    }
    for (size_t off = 0; off < names.len;) {
        const char *child = names.data + off;
        off += strlen(child) + 1;
        _cleanup_free_ char *child_shown = xasprintf("%s/%s", shown, child);
        if (remove_tree_at(t, fd, child, child_shown, depth + 1, err) < 0)
            return -1;
    }
    if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "removing %s", shown);
    return 0;
}

/* Delete the hidden tree `trash` under <root>/volumes, and the pieces it was cut into. */
static int remove_trash(kl_engine *e, int vfd, const char *trash, kl_error *err)
{
    struct stat st;
    _cleanup_free_ char *top = xasprintf("%s/volumes", e->root);
    if (fstat(vfd, &st) < 0)
        return kl_error_errno(err, errno, "stat %s", top);
    tree_remover t = {.topfd = vfd, .dev = st.st_dev, .pending = KL_BUF_INIT};
    kl_buf_append(&t.pending, trash, strlen(trash) + 1);
    int r = 0;
    for (size_t off = 0; r == 0 && off < t.pending.len;) {
        /* copy: the buffer may grow (and move) while this piece is removed */
        _cleanup_free_ char *piece = xstrdup(t.pending.data + off);
        off += strlen(piece) + 1;
        _cleanup_free_ char *shown = xasprintf("%s/%s", top, piece);
        r = remove_tree_at(&t, vfd, piece, shown, 0, err);
    }
    kl_buf_free(&t.pending);
    return r;
}

/* Under the engine lock. Returns 1 if the volume exists, 0 if not, -1 on error. *created and
 * *doc (when not NULL) get the row's columns. */
static int volume_created(kl_engine *e, const char *name, char **created, char **doc, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT created, doc FROM volumes WHERE name = ?", err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (created)
                *created = xstrdup((const char *)sqlite3_column_text(st, 0));
            if (doc)
                *doc = xstrdup((const char *)sqlite3_column_text(st, 1));
            r = 1;
        } else if (rc == SQLITE_DONE) {
            r = 0;
        } else {
            r = store_fail(e->store, "looking up volume", err);
        }
    }
    store_unlock(e->store);
    return r;
}

static int insert_row(kl_engine *e, const char *name, const json_t *labels, kl_error *err)
{
    char created[32];
    kl_time_now_iso(created);
    _cleanup_json_ json_t *docj = json_pack(
        "{s:o}", "labels", json_is_object(labels) ? json_deep_copy(labels) : json_object());
    _cleanup_free_ char *doc = jx_dump(docj);
    if (store_begin(e->store, err) < 0)
        return -1;
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store, "INSERT INTO volumes (name, created, doc) VALUES (?, ?, ?)", err);
        if (!st) {
            store_rollback(e->store);
            return -1;
        }
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, created, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, doc, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_fail(e->store, "storing volume", err);
            store_rollback(e->store);
            return -1;
        }
    }
    return store_commit(e->store, err);
}

static int remove_trash(kl_engine *e, int vfd, const char *trash, kl_error *err);

static int create_locked(kl_engine *e, const char *name, const json_t *labels, kl_error *err)
{
    _cleanup_close_ int vfd = open_volumes_dir(e, err);
    if (vfd < 0)
        return -1;
    int exists = volume_created(e, name, NULL, NULL, err);
    if (exists < 0)
        return -1;

    bool made = false;
    if (mkdirat(vfd, name, 0755) == 0) {
        made = true;
    } else if (errno == EEXIST && !exists) {
        /* A directory no row owns (volumes_sweep deletes them at start; this one came
         * later): never adopted, its files would appear in the new volume. */
        log_notice("volume %s: deleting the directory %s/volumes/%s that no volume owns", name,
                   e->root, name);
        _cleanup_free_ char *g = NULL;
        if (host_volume_remove(name, err) < 0 || !(g = move_to_garbage(vfd, name, err)) ||
            remove_trash(e, vfd, g, err) < 0)
            return kl_error_prefix(err, "creating volume %s", name);
        if (mkdirat(vfd, name, 0755) < 0)
            return kl_error_errno(err, errno, "creating volume %s", name);
        made = true;
    } else if (errno == EEXIST) {
        struct stat st;
        if (fstatat(vfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return kl_error_errno(err, errno, "creating volume %s", name);
        if (!S_ISDIR(st.st_mode))
            return kl_error_set(err, EEXIST,
                                "creating volume %s: %s/volumes/%s exists and is not a directory",
                                name, e->root, name);
    } else {
        return kl_error_errno(err, errno, "creating volume %s", name);
    }
    /* A fixed mode, whatever the daemon's umask. */
    if (made && fchmodat(vfd, name, 0755, 0) < 0) {
        int saved = errno;
        unlinkat(vfd, name, AT_REMOVEDIR);
        return kl_error_errno(err, saved, "creating volume %s", name);
    }
    /* Its storage on the host (FreeBSD: a dataset mounted on the directory; Linux: none). */
    if (made && !exists) {
        _cleanup_free_ char *path = xasprintf("%s/volumes/%s", e->root, name);
        if (host_volume_create(name, path, err) < 0) {
            unlinkat(vfd, name, AT_REMOVEDIR);
            return kl_error_prefix(err, "creating volume %s", name);
        }
    }

    if (exists) {
        /* Existing volume: unchanged (a directory lost by a crash is recreated empty). */
        if (made)
            log_warn("volume %s: its directory was missing and has been recreated", name);
        return 0;
    }
    /* A crash from here to the commit leaves a directory without a row: swept at start. */
    engine_crash_point("volume-create-dir");
    if (insert_row(e, name, labels, err) < 0) {
        kl_error e2 = KL_ERROR_INIT;
        if (host_volume_remove(name, &e2) < 0)
            log_warn("volume %s: %s", name, e2.msg);
        unlinkat(vfd, name, AT_REMOVEDIR);
        return kl_error_prefix(err, "creating volume %s", name);
    }
    events_emit(e->events, "volume", "create", name, labels, "driver", "local", NULL);
    return 0;
}

int volumes_create_labeled(kl_engine *e, const char *name, const json_t *labels, kl_error *err)
{
    if (!volumes_name_is_valid(name))
        return invalid_name(name, err);
    if (kl_labels_check(labels, err) < 0)
        return -1;
    engine_lock(e);
    int r = create_locked(e, name, labels, err);
    engine_unlock(e);
    return r;
}

int volumes_create(kl_engine *e, const char *name, kl_error *err)
{
    return volumes_create_labeled(e, name, NULL, err);
}

json_t *volumes_list(kl_engine *e, kl_error *err)
{
    _cleanup_json_ json_t *out = json_array();
    engine_lock(e);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT name, created, doc FROM volumes ORDER BY created DESC, rowid DESC", err);
    int rc = SQLITE_ERROR;
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(out, volume_json(e, (const char *)sqlite3_column_text(st, 0),
                                                   (const char *)sqlite3_column_text(st, 1),
                                                   (const char *)sqlite3_column_text(st, 2)));
        if (rc != SQLITE_DONE)
            store_fail(e->store, "listing volumes", err);
    }
    store_unlock(e->store);
    engine_unlock(e);
    return rc == SQLITE_DONE ? steal_pointer(&out) : NULL;
}

/* MountPoint[] of the mounts that use volume `name`, in mount order. */
static json_t *volume_mountpoints(kl_engine *e, const char *name, kl_error *err)
{
    _cleanup_json_ json_t *out = json_array();
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "SELECT type, container_id, destination, source, read_only FROM mounts "
                      "WHERE volume = ? ORDER BY id",
                      err);
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:s, s:s, s:b}", "type",
                               (const char *)sqlite3_column_text(st, 0), "container_id",
                               (const char *)sqlite3_column_text(st, 1), "destination",
                               (const char *)sqlite3_column_text(st, 2), "source",
                               (const char *)sqlite3_column_text(st, 3), "read_only",
                               sqlite3_column_int(st, 4) != 0));
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading the mounts of a volume", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? steal_pointer(&out) : NULL;
}

json_t *volumes_inspect(kl_engine *e, const char *name, kl_error *err)
{
    engine_lock(e);
    _cleanup_free_ char *created = NULL, *doc = NULL;
    json_t *out = NULL;
    int exists = volume_created(e, name, &created, &doc, err);
    if (exists == 0)
        kl_error_set(err, ENOENT, "No such volume");
    if (exists == 1) {
        json_t *mps = volume_mountpoints(e, name, err);
        if (mps)
            out = json_pack("{s:o, s:o}", "volume", volume_json(e, name, created, doc),
                            "mountpoints", mps);
    }
    engine_unlock(e);
    return out;
}

/* The containers whose mounts use volume `name`, as "id, id"; NULL if none. */
static int volume_users(kl_engine *e, const char *name, char **users, kl_error *err)
{
    *users = NULL;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT DISTINCT container_id FROM mounts WHERE volume = ? ORDER BY container_id",
        err);
    int rc = SQLITE_ERROR;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (b.len)
                kl_buf_puts(&b, ", ");
            kl_buf_puts(&b, (const char *)sqlite3_column_text(st, 0));
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading the mounts of a volume", err);
    }
    store_unlock(e->store);
    if (rc != SQLITE_DONE)
        return -1;
    if (b.len)
        *users = kl_buf_steal(&b);
    return 0;
}

/* Under the engine lock: refuse if in use, then delete the row and rename the directory
 * to its marker name in one step. *trash gets the hidden name to delete afterwards (NULL if
 * there was no directory); older garbage found on the way is pushed onto *garbage. */
static int remove_locked(kl_engine *e, int vfd, const char *name, char **trash, char ***garbage,
                         kl_error *err)
{
    *trash = NULL;
    int exists = volume_created(e, name, NULL, NULL, err);
    if (exists < 0)
        return -1;
    if (exists == 0)
        return kl_error_set(err, ENOENT, "No such volume");
    _cleanup_free_ char *users = NULL;
    if (volume_users(e, name, &users, err) < 0)
        return -1;
    if (users)
        return kl_error_set(err, EBUSY, "volume '%s' is in use by container(s): %s", name, users);

    engine_space_for_removal(e);
    if (store_begin(e->store, err) < 0)
        return -1;
    {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "DELETE FROM volumes WHERE name = ?", err);
        if (!st) {
            store_rollback(e->store);
            return -1;
        }
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_fail(e->store, "removing volume", err);
            store_rollback(e->store);
            return -1;
        }
    }

    char marker[sizeof(TRASH_PREFIX) + 2 * KL_SHA1_LEN];
    marker_name(name, marker);
    /* The marker name is still taken by an earlier volume of this name whose files are
     * being (or failed to be) deleted: that one is plain garbage now. */
    struct stat st;
    if (fstatat(vfd, marker, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        _cleanup_free_ char *g = move_to_garbage(vfd, marker, err);
        if (!g) {
            store_rollback(e->store);
            return kl_error_prefix(err, "removing volume %s", name);
        }
        strv_push(garbage, g);
    }
    /* A dataset of its own (FreeBSD) is mounted on the directory, which cannot move while
     * it is: destroyed first. A crash from here to the commit leaves the row and an empty
     * directory: the volume, emptied (its removal was asked for). */
    if (host_volume_remove(name, err) < 0) {
        store_rollback(e->store);
        return kl_error_prefix(err, "removing volume %s", name);
    }
    bool moved = true;
    if (renameat(vfd, name, vfd, marker) < 0) {
        if (errno != ENOENT) { /* ENOENT: no directory, only the row was left */
            kl_error_errno(err, errno, "removing volume %s: renaming %s/volumes/%s", name, e->root,
                           name);
            store_rollback(e->store);
            return -1;
        }
        moved = false;
    }
    /* A crash here leaves the row and the marker: volumes_sweep() renames it back. */
    engine_crash_point("volume-remove-renamed");
    if (store_commit(e->store, err) < 0) {
        if (moved && renameat(vfd, marker, vfd, name) < 0)
            log_error("volume %s: could not restore its directory from %s/volumes/%s: %s", name,
                      e->root, marker, strerror(errno));
        return kl_error_prefix(err, "removing volume %s", name);
    }
    engine_crash_point("volume-remove-committed");
    if (moved)
        *trash = xstrdup(marker);
    events_emit(e->events, "volume", "destroy", name, NULL, "driver", "local", NULL);
    return 0;
}

static void delete_trash(kl_engine *e, int vfd, const char *name, const char *trash)
{
    kl_error err = KL_ERROR_INIT;
    if (trash && remove_trash(e, vfd, trash, &err) < 0)
        log_warn("volume %s removed, but deleting its files failed (will retry at start): %s", name,
                 err.msg);
}

int volumes_remove(kl_engine *e, const char *name, kl_error *err)
{
    _cleanup_close_ int vfd = open_volumes_dir(e, err);
    if (vfd < 0)
        return -1;
    _cleanup_free_ char *trash = NULL;
    _cleanup_strv_ char **garbage = NULL;
    engine_lock(e);
    int r = remove_locked(e, vfd, name, &trash, &garbage, err);
    engine_unlock(e);
    /* The volume is gone; its files are deleted outside the lock. */
    if (r == 0)
        delete_trash(e, vfd, name, trash);
    for (size_t i = 0; garbage && garbage[i]; i++)
        delete_trash(e, vfd, garbage[i], garbage[i]);
    engine_space_restore(e);
    return r;
}

json_t *volumes_prune(kl_engine *e, kl_error *err)
{
    return volumes_prune_matching(e, NULL, NULL, err);
}

json_t *volumes_prune_matching(kl_engine *e, const json_t *label, const json_t *label_not,
                               kl_error *err)
{
    _cleanup_close_ int vfd = open_volumes_dir(e, err);
    if (vfd < 0)
        return NULL;
    _cleanup_json_ json_t *removed = json_array();
    _cleanup_strv_ char **trashes = NULL, **tnames = NULL, **garbage = NULL;
    _cleanup_buf_ kl_buf failed = KL_BUF_INIT;
    int r = 0;

    engine_lock(e);
    _cleanup_strv_ char **names = NULL;
    store_lock(e->store);
    {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store,
                          "SELECT name, doc FROM volumes WHERE name NOT IN "
                          "(SELECT volume FROM mounts WHERE volume IS NOT NULL) "
                          "ORDER BY created, rowid",
                          err);
        int rc = SQLITE_ERROR;
        if (st) {
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                _cleanup_json_ json_t *doc =
                    json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
                if (kl_labels_match_filters(json_object_get(doc, "labels"), label, label_not))
                    strv_push(&names, (const char *)sqlite3_column_text(st, 0));
            }
            if (rc != SQLITE_DONE)
                store_fail(e->store, "listing unused volumes", err);
        }
        if (rc != SQLITE_DONE)
            r = -1;
    }
    store_unlock(e->store);
    for (size_t i = 0; r == 0 && names && names[i]; i++) {
        _cleanup_free_ char *trash = NULL;
        kl_error one = KL_ERROR_INIT;
        if (remove_locked(e, vfd, names[i], &trash, &garbage, &one) < 0) {
            log_warn("pruning volumes: %s", one.msg);
            kl_buf_printf(&failed, "%s%s", failed.len ? "; " : "", one.msg);
            continue;
        }
        json_array_append_new(removed, json_string(names[i]));
        if (trash) {
            strv_push(&trashes, trash);
            strv_push(&tnames, names[i]);
        }
    }
    engine_unlock(e);

    for (size_t i = 0; trashes && trashes[i]; i++)
        delete_trash(e, vfd, tnames[i], trashes[i]);
    for (size_t i = 0; garbage && garbage[i]; i++)
        delete_trash(e, vfd, garbage[i], garbage[i]);
    engine_space_restore(e);
    if (r < 0) {
        kl_error_prefix(err, "pruning volumes");
        return NULL;
    }
    /* Never a silent partial success (issue 12): name each failure and what was removed. */
    if (failed.len) {
        _cleanup_free_ char *done = jx_dump(removed);
        kl_error_set(err, EIO, "pruning volumes: %s (removed: %s)", failed.data, done);
        return NULL;
    }
    return steal_pointer(&removed);
}

/* True if `n` is a directory entry under <root>/volumes that may be a volume's directory. */
static bool is_volume_dir(int vfd, const char *n)
{
    if (!volumes_name_is_valid(n))
        return false;
    struct stat st;
    return fstatat(vfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

void volumes_sweep(kl_engine *e)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int vfd = open_volumes_dir(e, &err);
    if (vfd < 0) {
        log_warn("sweeping volumes: %s", err.msg);
        return;
    }
    _cleanup_strv_ char **entries = NULL;
    {
        int dfd = KL_RETRY_EINTR(openat(vfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dfd < 0)
            return;
        _cleanup_closedir_ DIR *d = fdopendir(dfd);
        if (!d) {
            close(dfd);
            return;
        }
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&entries, de->d_name);
    }
    /* The rows, with their marker names: a marker whose row is still there is a removal
     * that never committed. */
    _cleanup_strv_ char **rows = NULL;
    store_lock(e->store);
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, "SELECT name FROM volumes", &err);
        int rc = SQLITE_ERROR;
        while (st && (rc = sqlite3_step(st)) == SQLITE_ROW)
            strv_push(&rows, (const char *)sqlite3_column_text(st, 0));
        if (st && rc != SQLITE_DONE)
            store_fail(e->store, "listing volumes", &err);
    }
    store_unlock(e->store);
    if (err.code) {
        log_warn("sweeping volumes: %s", err.msg);
        return;
    }
    for (size_t i = 0; entries && entries[i]; i++) {
        const char *n = entries[i];
        kl_error_clear(&err);
        if (strncmp(n, TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0) {
            const char *owner = NULL;
            for (size_t j = 0; rows && rows[j] && !owner; j++) {
                char marker[sizeof(TRASH_PREFIX) + 2 * KL_SHA1_LEN];
                marker_name(rows[j], marker);
                if (strcmp(marker, n) == 0)
                    owner = rows[j];
            }
            if (owner && renameat(vfd, n, vfd, owner) == 0) {
                log_notice("volume %s: its removal was interrupted before it was recorded; "
                           "the volume is kept",
                           owner);
                continue;
            }
            if (remove_trash(e, vfd, n, &err) < 0)
                log_warn("sweeping volumes: %s", err.msg);
            continue;
        }
        bool owned = false;
        for (size_t j = 0; rows && rows[j] && !owned; j++)
            owned = strcmp(rows[j], n) == 0;
        if (owned || !is_volume_dir(vfd, n))
            continue;
        log_notice("volume directory %s/volumes/%s: no volume owns it (left by an interrupted "
                   "create), deleting it",
                   e->root, n);
        _cleanup_free_ char *g = NULL;
        if (host_volume_remove(n, &err) < 0 || !(g = move_to_garbage(vfd, n, &err)) ||
            remove_trash(e, vfd, g, &err) < 0)
            log_warn("sweeping volumes: %s", err.msg);
    }
}
