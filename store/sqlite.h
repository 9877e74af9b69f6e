/*
 * The SQLite engine, private to store/: opening a database file, running
 * SQL text, preparing statements and the online backup. stmt.c calls
 * SQLite's statement functions itself.
 */
#ifndef SSHGATE_STORE_SQLITE_H
#define SSHGATE_STORE_SQLITE_H

#include "store/internal.h"

#include <stdbool.h>

/* Open the file at path (created mode 0600 under STORE_OPEN_CREATE) with
 * the connection's pragmas; sets st->db and st->path. */
int st_lite_connect(struct store *st, const char *path, int flags);
void st_lite_close(struct store *st);

void st_lite_set_busy_timeout(struct store *st, int ms);
const char *st_lite_errmsg(struct store *st);

/* Run SQL text without parameters; an st_code (the message in
 * st_lite_errmsg). */
int st_lite_exec(struct store *st, const char *sql);

/* Prepare stmt->sql into stmt->lite; persistent for the cache. An
 * st_code. */
int st_lite_prepare(struct store *st, struct st_stmt *stmt, bool persistent);
void st_lite_reset(struct st_stmt *stmt);
void st_lite_finalize(struct st_stmt *stmt);

/* Consistent online copy of the database to dest (created mode 0600). */
int st_lite_backup(struct store *st, const char *dest);

#endif
