/* The metadata store: one SQLite database at <root>/metadata.sqlite (API.md §8.7, DESIGN.md §4).
 *
 * SQLite is the only source of truth for metadata. The database runs in WAL mode with
 * foreign keys on and a busy timeout; the file and its -wal/-shm companions are mode 0600.
 * The schema is versioned through PRAGMA user_version and brought up to date by an ordered
 * list of migrations, each run in its own transaction (store.c, `migrations[]`): a later
 * change appends a migration, it never edits an old one.
 *
 * One connection, protected by a recursive mutex. Use store_lock()/store_unlock() around
 * any use of store_db() and its statements, or store_begin()/store_commit()/store_rollback(),
 * which take and release the same lock. Transactions nest (inner levels are savepoints).
 *
 * This module knows tables, not objects: the object modules (volumes.c, images.c ...) own
 * their SQL. It must not do any filesystem or host work besides the database files. */
#ifndef KL_ENGINE_STORE_H
#define KL_ENGINE_STORE_H

#include <sqlite3.h>

#include "lib/error.h"

typedef struct kl_store kl_store;

/* Open (creating if needed, mode 0600) and migrate the database at `path`.
 * Refuses a database whose schema is newer than this build knows (EPROTO). */
kl_store *store_open(const char *path, kl_error *err);
void store_close(kl_store *s);

/* The raw connection. Hold store_lock() (or a transaction) while using it. */
sqlite3 *store_db(kl_store *s);

void store_lock(kl_store *s);
void store_unlock(kl_store *s);

/* Take the lock and open a transaction (BEGIN IMMEDIATE; a SAVEPOINT when nested).
 * Every successful store_begin() is ended by exactly one store_commit() or store_rollback(),
 * which release the lock. If store_commit() fails, the transaction (level) is rolled back. */
int store_begin(kl_store *s, kl_error *err);
int store_commit(kl_store *s, kl_error *err);
void store_rollback(kl_store *s);

/* The schema version of the open database (PRAGMA user_version), and the newest this build
 * knows. After store_open() they are equal. */
int store_schema_version(kl_store *s);
int store_schema_latest(void);

/* Run the pending migrations (store_open() does this; calling it again is a no-op). */
int store_migrate(kl_store *s, kl_error *err);

/* Convenience wrappers that fill `err` from the connection's last error. */
int store_exec(kl_store *s, const char *sql, kl_error *err);

/* Copy the write-ahead log into the database and make the next transaction write the log
 * from its start again, over room the log file already has (a full disk: engine.h).
 * *log_bytes gets the log file's size. */
int store_checkpoint(kl_store *s, long long *log_bytes, kl_error *err);
sqlite3_stmt *store_prepare(kl_store *s, const char *sql, kl_error *err);

/* Fill `err` from the connection's last error, prefixed by `what`, and return -1.
 * Codes: unique/primary key violation -> EEXIST, foreign key -> EBUSY, check/not null ->
 * EINVAL, busy/locked -> EBUSY, disk full -> ENOSPC, anything else -> EIO. */
int store_fail(kl_store *s, const char *what, kl_error *err);

#endif
