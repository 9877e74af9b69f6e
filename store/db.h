/*
 * The database handle. store/ is the only code that speaks SQL; everything
 * else calls the typed per-entity APIs (users.h, keys.h, hosts.h, grants.h,
 * gwkeys.h, settings.h, events.h).
 *
 * One struct store per thread: SQLite connections are not shared between
 * threads. Opening runs the numbered migrations (PRAGMA user_version) and
 * refuses a database whose schema is newer than this binary.
 */
#ifndef SSHGATE_STORE_DB_H
#define SSHGATE_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* Schema version this binary writes and understands. */
int store_schema_latest(void);

enum store_open_flags {
    STORE_OPEN_EXISTING = 0, /* fail if the file does not exist */
    STORE_OPEN_CREATE = 1,   /* create the file (mode 0600) if missing */
};

/*
 * Open (and migrate) the database at path. On success *out must be closed
 * with store_close. GW_OK, GW_ERR_NOTFOUND (no such file without CREATE),
 * GW_ERR_IO (cannot open/create), GW_ERR_SCHEMA (newer schema), GW_ERR_DB.
 */
int store_open(const char *path, int flags, struct store **out);

/* Close; NULL is fine. */
void store_close(struct store *st);

/* The schema version found in the file (after migration). */
int store_schema_version(struct store *st, int *version);

/*
 * Transactions. store_begin takes the write lock at once (BEGIN IMMEDIATE)
 * so that read-then-write sequences cannot deadlock against other writers.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
/* Roll back; safe to call when no transaction is open. */
void store_rollback(struct store *st);

/*
 * Integrity check (PRAGMA integrity_check, foreign_key_check and the event
 * hash chain). *report is a malloc'd text summary. GW_OK when all is well,
 * GW_ERR_DB when a problem was found.
 */
int store_check(struct store *st, char **report);

/* Consistent online copy of the database to dest (created mode 0600). */
int store_backup(struct store *st, const char *dest);

#endif
