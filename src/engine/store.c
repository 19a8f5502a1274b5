/* The metadata store (store.h). Opening, pragmas, file modes, migrations, transactions.
 *
 * Schema conventions: every object that is looked up, ordered or constrained by a field has
 * that field as a real column (ids, names, foreign keys, `created`); everything else of the
 * object lives in `doc`, a JSON object. Ids are 12 lowercase hex characters (API.md §4.1),
 * timestamps ISO-8601 UTC with microseconds, so they sort as text. Enumerations of the wire
 * (network_driver, restart_policy ...) are validated by the engine, not by CHECKs, so that
 * adding a value does not need a table rebuild. */
#include "engine/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* A 12-lowercase-hex id column. */
#define ID_CHECK(col) "CHECK (length(" col ") = 12 AND " col " NOT GLOB '*[^0-9a-f]*')"

/* Migration N (1-based) brings user_version from N-1 to N. Append only; never edit one that
 * has been released. */
static const char *const migrations[] = {
    /* 1: every object of API.md §5. */
    "CREATE TABLE images ("
    "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
        "id") ","
              "  name TEXT NOT NULL DEFAULT '',"
              "  tag TEXT NOT NULL DEFAULT '',"
              "  created TEXT NOT NULL,"
              /* the image this one was built FROM (NULL for base images): refuses removing the
                 parent */
              "  parent_id TEXT REFERENCES images(id) ON DELETE RESTRICT,"
              /* cmd, env, user, instructions, and our additions */
              "  doc TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(doc))"
              ");"
              /* API.md §4.2: a name:tag belongs to one image at a time (the engine untags the old
                 one). */
              "CREATE UNIQUE INDEX images_name_tag ON images(name, tag) WHERE name <> '';"
              "CREATE INDEX images_created ON images(created);"
              "CREATE INDEX images_parent ON images(parent_id);"

              /* Filesystem layers. A layer is a diff over the layers below it in an image's stack;
               * a layer made by a successful RUN/COPY is named as a snapshot `@<12hex>`. */
              "CREATE TABLE layers ("
              "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
                  "id") ","
                        "  snapshot TEXT UNIQUE CHECK (snapshot IS NULL OR (length(snapshot) = 13"
                        "    AND substr(snapshot, 1, 1) = '@' AND substr(snapshot, 2) NOT GLOB "
                        "'*[^0-9a-f]*')),"
                        "  parent_id TEXT REFERENCES layers(id) ON DELETE RESTRICT,"
                        /* a host directory used read-only as a bottom layer (image create
                         * zfs-clone); NULL: a directory the engine owns under <root> */
                        "  external_path TEXT,"
                        "  created TEXT NOT NULL,"
                        "  doc TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(doc))"
                        ");"
                        "CREATE INDEX layers_parent ON layers(parent_id);"

                        /* An image is an ordered stack of layers, position 0 at the bottom. Layers
                         * are shared between an image and the images built from it. */
                        "CREATE TABLE image_layers ("
                        "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
                        "  position INTEGER NOT NULL CHECK (position >= 0),"
                        "  layer_id TEXT NOT NULL REFERENCES layers(id) ON DELETE RESTRICT,"
                        "  PRIMARY KEY (image_id, position),"
                        "  UNIQUE (image_id, layer_id)"
                        ") WITHOUT ROWID;"
                        "CREATE INDEX image_layers_layer ON image_layers(layer_id);"

                        "CREATE TABLE containers ("
                        "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
                            "id") ","
                                  /* API.md decision 5: names are unique; NULL (no name) may repeat
                                   */
                                  "  name TEXT UNIQUE,"
                                  "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE "
                                  "RESTRICT,"
                                  /* created from IMAGE@SNAPSHOT: the top layer used; NULL: the
                                     image's whole stack */
                                  "  layer_id TEXT REFERENCES layers(id) ON DELETE RESTRICT,"
                                  "  created TEXT NOT NULL,"
                                  "  network_driver TEXT NOT NULL DEFAULT 'ipnet',"
                                  "  restart_policy TEXT NOT NULL DEFAULT 'no',"
                                  "  persist INTEGER NOT NULL DEFAULT 0 CHECK (persist IN (0, 1)),"
                                  /* cmd, user, env, public_ports, jail_param, and our additions */
                                  "  doc TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(doc))"
                                  ");"
                                  "CREATE INDEX containers_created ON containers(created);"
                                  "CREATE INDEX containers_image ON containers(image_id);"
                                  "CREATE INDEX containers_layer ON containers(layer_id);"

                                  "CREATE TABLE execs ("
                                  "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
                                      "id") ","
                                            "  container_id TEXT NOT NULL REFERENCES "
                                            "containers(id) ON DELETE CASCADE,"
                                            "  created TEXT NOT NULL,"
                                            "  state TEXT NOT NULL DEFAULT 'created',"
                                            "  exit_code INTEGER,"
                                            /* ExecConfig: cmd, user, env, tty */
                                            "  doc TEXT NOT NULL DEFAULT '{}' CHECK "
                                            "(json_valid(doc))"
                                            ");"
                                            "CREATE INDEX execs_container ON execs(container_id);"

                                            "CREATE TABLE networks ("
                                            "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
                                                "id") ","
                                                      /* API.md decision 6: unique by name */
                                                      "  name TEXT NOT NULL UNIQUE CHECK (name <> "
                                                      "''),"
                                                      "  type TEXT NOT NULL,"
                                                      "  interface TEXT NOT NULL CHECK "
                                                      "(length(interface) BETWEEN 1 AND 15),"
                                                      "  created TEXT NOT NULL,"
                                                      /* subnet, subnet6, gateway, gateway6, nat,
                                                         icc, internal */
                                                      "  doc TEXT NOT NULL DEFAULT '{}' CHECK "
                                                      "(json_valid(doc))"
                                                      ");"
                                                      /* interfaces kleened creates belong to one
                                                         network; custom ones may be shared */
                                                      "CREATE UNIQUE INDEX networks_interface ON "
                                                      "networks(interface) WHERE type <> 'custom';"

                                                      "CREATE TABLE endpoints ("
                                                      "  id TEXT PRIMARY KEY NOT NULL " ID_CHECK(
                                                          "id") ","
                                                                "  container_id TEXT NOT NULL "
                                                                "REFERENCES containers(id) ON "
                                                                "DELETE CASCADE,"
                                                                "  network_id TEXT NOT NULL "
                                                                "REFERENCES networks(id) ON DELETE "
                                                                "CASCADE,"
                                                                "  ip_address TEXT NOT NULL "
                                                                "DEFAULT '',"
                                                                "  ip_address6 TEXT NOT NULL "
                                                                "DEFAULT '',"
                                                                /* host-side interface while a vnet
                                                                   container runs */
                                                                "  epair TEXT,"
                                                                "  doc TEXT NOT NULL DEFAULT '{}' "
                                                                "CHECK (json_valid(doc)),"
                                                                "  UNIQUE (container_id, "
                                                                "network_id)"
                                                                ");"
                                                                "CREATE INDEX endpoints_network ON "
                                                                "endpoints(network_id);"
                                                                /* API.md decision 7: an address is
                                                                   given to one endpoint of a
                                                                   network */
                                                                "CREATE UNIQUE INDEX endpoints_ip "
                                                                "ON endpoints(network_id, "
                                                                "ip_address)"
                                                                "  WHERE ip_address <> '';"
                                                                "CREATE UNIQUE INDEX endpoints_ip6 "
                                                                "ON endpoints(network_id, "
                                                                "ip_address6)"
                                                                "  WHERE ip_address6 <> '';"

                                                                "CREATE TABLE volumes ("
                                                                "  name TEXT PRIMARY KEY NOT NULL "
                                                                "CHECK (length(name) BETWEEN 1 AND "
                                                                "255),"
                                                                "  created TEXT NOT NULL,"
                                                                "  doc TEXT NOT NULL DEFAULT '{}' "
                                                                "CHECK (json_valid(doc))"
                                                                ");"
                                                                "CREATE INDEX volumes_created ON "
                                                                "volumes(created);"

                                                                /* MountPoint (API.md §5.6); rowid
                                                                 * order is the order mounts are
                                                                 * made in. For a volume mount
                                                                 * `volume` repeats `source` as a
                                                                 * foreign key, so that a volume in
                                                                 * use cannot be removed (API.md
                                                                 * decision 16). */
                                                                "CREATE TABLE mounts ("
                                                                "  id INTEGER PRIMARY KEY,"
                                                                "  container_id TEXT NOT NULL "
                                                                "REFERENCES containers(id) ON "
                                                                "DELETE CASCADE,"
                                                                "  type TEXT NOT NULL,"
                                                                "  source TEXT NOT NULL,"
                                                                "  destination TEXT NOT NULL,"
                                                                "  read_only INTEGER NOT NULL "
                                                                "DEFAULT 0 CHECK (read_only IN (0, "
                                                                "1)),"
                                                                "  volume TEXT REFERENCES "
                                                                "volumes(name) ON DELETE RESTRICT,"
                                                                "  CHECK ((type = 'volume') = "
                                                                "(volume IS NOT NULL) AND (volume "
                                                                "IS NULL OR volume = source))"
                                                                ");"
                                                                "CREATE INDEX mounts_container ON "
                                                                "mounts(container_id);"
                                                                "CREATE INDEX mounts_volume ON "
                                                                "mounts(volume);",
    /* 2: the container listing's cache of each record's static wire fields (JSON text,
     * rewritten with the record; containers.c), so that listing parses no JSON. */
    "ALTER TABLE containers ADD COLUMN wire TEXT;",
    /* 3: the build cache of ours (src/engine/builder.c): a step whose key (parent layer,
     * substituted instruction, its environment and, for COPY, a content hash) is known
     * reuses the layer it made. The row goes when its layer goes. */
    "CREATE TABLE build_cache ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  layer_id TEXT NOT NULL REFERENCES layers(id) ON DELETE CASCADE,"
    "  created TEXT NOT NULL"
    ");"
    "CREATE INDEX build_cache_layer ON build_cache(layer_id);",
    /* 4: storage by digest (issue 10, docs/image-store.md). A layer pulled from a registry
     * carries its diff_id (the sha256 of its uncompressed tar) and is shared by every image
     * that has it. `blobs` are the registry's bytes kept as fetched (manifests, configs,
     * compressed layers; files <root>/image/blobs/sha256/<hex>): `diff_id` says what a layer
     * blob decompresses to (verified when stored). `image_blobs` counts the references: a
     * blob goes when no image uses it. */
    "ALTER TABLE layers ADD COLUMN diff_id TEXT CHECK (diff_id IS NULL OR (length(diff_id) = 71"
    "  AND substr(diff_id, 1, 7) = 'sha256:' AND substr(diff_id, 8) NOT GLOB '*[^0-9a-f]*'));"
    "CREATE INDEX layers_diff_id ON layers(diff_id) WHERE diff_id IS NOT NULL;"
    "CREATE TABLE blobs ("
    "  digest TEXT PRIMARY KEY NOT NULL CHECK (length(digest) = 71"
    "    AND substr(digest, 1, 7) = 'sha256:' AND substr(digest, 8) NOT GLOB '*[^0-9a-f]*'),"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  media_type TEXT NOT NULL DEFAULT '',"
    "  diff_id TEXT,"
    "  created TEXT NOT NULL"
    ");"
    "CREATE INDEX blobs_diff_id ON blobs(diff_id) WHERE diff_id IS NOT NULL;"
    "CREATE TABLE image_blobs ("
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  digest TEXT NOT NULL REFERENCES blobs(digest) ON DELETE RESTRICT,"
    "  PRIMARY KEY (image_id, digest)"
    ") WITHOUT ROWID;"
    "CREATE INDEX image_blobs_digest ON image_blobs(digest);",
    /* 5: more names for an image (Docker's `docker tag` adds a name; images.h "Names"): the
     * row's name:tag is its first name, these are the others. A name:tag is still one
     * image's: taking it for another image removes it here as from the images row. */
    "CREATE TABLE image_names ("
    "  name TEXT NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (name, tag)"
    ");"
    "CREATE INDEX image_names_image ON image_names(image_id);",
};

struct kl_store {
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
    int depth; /* open transaction levels, under lock */
};

int store_fail(kl_store *s, const char *what, kl_error *err)
{
    int rc = sqlite3_extended_errcode(s->db);
    int code;
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        code = EEXIST;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_TRIGGER: /* how ON DELETE RESTRICT reports */
        code = EBUSY;
        break;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        code = EINVAL;
        break;
    default:
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            code = EBUSY;
            break;
        case SQLITE_FULL:
            code = ENOSPC;
            break;
        case SQLITE_CONSTRAINT:
            code = EINVAL;
            break;
        default:
            code = EIO;
        }
    }
    return kl_error_set(err, code, "%s: %s", what, sqlite3_errmsg(s->db));
}

int store_exec(kl_store *s, const char *sql, kl_error *err)
{
    store_lock(s);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    int r = rc == SQLITE_OK ? 0 : store_fail(s, "metadata store", err);
    store_unlock(s);
    return r;
}

int store_checkpoint(kl_store *s, long long *log_bytes, kl_error *err)
{
    store_lock(s);
    int r = 0;
    /* Not inside a transaction of ours: the checkpoint could not finish. */
    if (s->depth == 0) {
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        if (rc != SQLITE_OK)
            r = store_fail(s, "metadata store: checkpoint", err);
    }
    store_unlock(s);
    _cleanup_free_ char *wal = xasprintf("%s-wal", s->path);
    struct stat st;
    *log_bytes = stat(wal, &st) == 0 ? (long long)st.st_size : 0;
    return r;
}

sqlite3_stmt *store_prepare(kl_store *s, const char *sql, kl_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_fail(s, "metadata store: preparing statement", err);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

sqlite3 *store_db(kl_store *s)
{
    return s->db;
}

void store_lock(kl_store *s)
{
    pthread_mutex_lock(&s->lock);
}

void store_unlock(kl_store *s)
{
    pthread_mutex_unlock(&s->lock);
}

int store_begin(kl_store *s, kl_error *err)
{
    store_lock(s);
    char sql[48];
    if (s->depth == 0)
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE");
    else
        snprintf(sql, sizeof(sql), "SAVEPOINT kl_%d", s->depth);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        store_fail(s, "metadata store: beginning transaction", err);
        store_unlock(s);
        return -1;
    }
    s->depth++;
    return 0;
}

void store_rollback(kl_store *s)
{
    char sql[80];
    s->depth--;
    if (s->depth == 0)
        snprintf(sql, sizeof(sql), "ROLLBACK");
    else
        snprintf(sql, sizeof(sql), "ROLLBACK TO kl_%d; RELEASE kl_%d", s->depth, s->depth);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        log_warn("metadata store: rollback: %s", sqlite3_errmsg(s->db));
    store_unlock(s);
}

int store_commit(kl_store *s, kl_error *err)
{
    char sql[48];
    if (s->depth == 1)
        snprintf(sql, sizeof(sql), "COMMIT");
    else
        snprintf(sql, sizeof(sql), "RELEASE kl_%d", s->depth - 1);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        store_fail(s, "metadata store: committing transaction", err);
        store_rollback(s);
        return -1;
    }
    s->depth--;
    store_unlock(s);
    return 0;
}

int store_schema_latest(void)
{
    return (int)KL_ARRAY_SIZE(migrations);
}

static int read_user_version(kl_store *s, int *out, kl_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(s, "PRAGMA user_version", err);
    if (!st)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_fail(s, "metadata store: reading schema version", err);
    *out = sqlite3_column_int(st, 0);
    return 0;
}

int store_schema_version(kl_store *s)
{
    int v = -1;
    store_lock(s);
    if (read_user_version(s, &v, NULL) < 0)
        v = -1;
    store_unlock(s);
    return v;
}

int store_migrate(kl_store *s, kl_error *err)
{
    int latest = store_schema_latest();
    for (;;) {
        if (store_begin(s, err) < 0)
            return -1;
        int v = 0;
        /* Read the version inside the transaction: another process may have migrated. */
        if (read_user_version(s, &v, err) < 0) {
            store_rollback(s);
            return -1;
        }
        if (v > latest) {
            store_rollback(s);
            return kl_error_set(err, EPROTO,
                                "metadata store %s has schema version %d, newer than the %d this "
                                "kleened knows",
                                s->path, v, latest);
        }
        if (v == latest) {
            store_rollback(s);
            return 0;
        }
        char set[40];
        snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, set, NULL, NULL, NULL) != SQLITE_OK) {
            store_fail(s, "metadata store: migration", err);
            kl_error_prefix(err, "migrating %s to schema version %d", s->path, v + 1);
            store_rollback(s);
            return -1;
        }
        if (store_commit(s, err) < 0)
            return kl_error_prefix(err, "migrating %s to schema version %d", s->path, v + 1);
        log_info("metadata store %s: migrated to schema version %d", s->path, v + 1);
    }
}

/* Create `path` if missing and make it (and existing companions) mode 0600 before SQLite
 * opens it: SQLite gives the -wal and -shm files it creates the mode of the database file. */
static int secure_file(const char *path, bool create, kl_error *err)
{
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
    _cleanup_close_ int fd = KL_RETRY_EINTR(open(path, flags, 0600));
    if (fd < 0) {
        if (!create && errno == ENOENT)
            return 0;
        return kl_error_errno(err, errno, "opening %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return kl_error_set(err, EINVAL, "%s is not a regular file", path);
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
        return kl_error_errno(err, errno, "chmod %s", path);
    return 0;
}

static int set_pragmas(kl_store *s, kl_error *err)
{
    if (sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK)
        return store_fail(s, "metadata store: busy timeout", err);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(s, "PRAGMA journal_mode = WAL", err);
    if (!st)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_fail(s, "metadata store: journal_mode", err);
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0)
        return kl_error_set(err, EIO, "metadata store %s: cannot use WAL (journal mode %s)",
                            s->path, mode ? mode : "?");
    if (sqlite3_exec(s->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK)
        return store_fail(s, "metadata store: pragmas", err);
    /* foreign_keys is a no-op inside a transaction or on a build without them: verify. */
    _cleanup_stmt_ sqlite3_stmt *fk = store_prepare(s, "PRAGMA foreign_keys", err);
    if (!fk)
        return -1;
    if (sqlite3_step(fk) != SQLITE_ROW || sqlite3_column_int(fk, 0) != 1)
        return kl_error_set(err, EIO, "metadata store %s: foreign keys cannot be enabled", s->path);
    return 0;
}

kl_store *store_open(const char *path, kl_error *err)
{
    if (secure_file(path, true, err) < 0)
        return NULL;
    const char *suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(suffixes); i++) {
        _cleanup_free_ char *p = xasprintf("%s%s", path, suffixes[i]);
        if (secure_file(p, false, err) < 0)
            return NULL;
    }

    kl_store *s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW |
                SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        kl_error_set(err, EIO, "opening metadata store %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return NULL;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (set_pragmas(s, err) < 0 || store_migrate(s, err) < 0) {
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(kl_store *s)
{
    if (!s)
        return;
    if (s->db) {
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK)
            log_warn("closing metadata store %s: %s (unfinalized statements?)", s->path,
                     sqlite3_errstr(rc));
    }
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}
