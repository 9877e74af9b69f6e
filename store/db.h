/*
 * The database handle. store/ is the only code that speaks SQL; everything
 * else calls the typed per-entity APIs (users.h, keys.h, hosts.h, grants.h,
 * gwkeys.h, settings.h, events.h). store/open.h opens a handle,
 * store/check.h checks a database, store/migrations.h says which schema
 * this binary writes.
 *
 * One struct store per thread: SQLite connections are not shared between
 * threads.
 */
#ifndef SSHGATE_STORE_DB_H
#define SSHGATE_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* How long a statement waits for another writer's lock before it fails
 * with GW_ERR_TIMEOUT (the default is 5 s; the audit writer waits less
 * and spools instead). */
void store_set_busy_timeout(struct store *st, int ms);

/* What messages call the database: its file, or the server's URI
 * without a password. */
const char *store_name(const struct store *st);

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

/* Consistent online copy of the database to dest (created mode 0600). */
int store_backup(struct store *st, const char *dest);

#endif
