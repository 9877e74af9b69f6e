/* Private to store/: the connection and helpers shared by the entity files. */
#ifndef SSHGATE_STORE_INTERNAL_H
#define SSHGATE_STORE_INTERNAL_H

#include "core/err.h"
#include "store/db.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Statements kept prepared per handle: parsing SQL was a fifth of the
 * daemon's CPU time per login before (each login and session writes a few
 * events). Enough for every statement of a login and a session. */
#define ST_CACHE_MAX 48

struct st_cached {
    const char *sql; /* the string literal it was prepared from */
    sqlite3_stmt *stmt;
    bool in_use;
};

struct store {
    sqlite3 *db;
    char *path;
    struct st_cached cache[ST_CACHE_MAX];
    int ncache;
};

/* Prepare sql (a string literal: the cache keys on its address and text);
 * on failure record the SQLite message. Give the statement back with
 * st_done. */
int st_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt);

/* Done with a statement from st_prepare: reset and kept for the next
 * st_prepare of the same SQL, or finalized. NULL is fine. */
void st_done(struct store *st, sqlite3_stmt *stmt);

/* Map a SQLite result code to a GW status with a detail message. */
int st_fail(struct store *st, int sqlite_rc, const char *what);

/* Run a statement that returns no rows; finalizes it. */
int st_exec_stmt(struct store *st, sqlite3_stmt *stmt, const char *what);

/*
 * Step an INSERT and finalize it. GW_OK with *id (if not NULL) set to the
 * new row id; GW_ERR_EXISTS without a message on a UNIQUE violation (the
 * caller names what exists); otherwise the st_fail status.
 */
int st_insert(struct store *st, sqlite3_stmt *stmt, const char *what,
              int64_t *id);

/* Run fn(st, arg) in a write transaction (BEGIN IMMEDIATE): committed when
 * it returns GW_OK, rolled back otherwise. Returns fn's or the commit's
 * status. */
int st_transaction(struct store *st, int (*fn)(struct store *, void *),
                   void *arg);

/* Bind helpers: text may be NULL (binds NULL). Return SQLite codes. */
int st_bind_text(sqlite3_stmt *stmt, int idx, const char *text);

/* Copy a text column into a fixed buffer (empty string for NULL). */
void st_col_copy(sqlite3_stmt *stmt, int col, char *dst, size_t dstlen);

/* malloc'd copy of a text column, or NULL for SQL NULL / no memory. */
char *st_col_dup(sqlite3_stmt *stmt, int col);

/*
 * Make room for one more element in a growing array: listp points to the
 * array pointer, *cap is its capacity, count the elements in use.
 * GW_OK or GW_ERR_NOMEM (the array is left as it was).
 */
int st_grow(void *listp, size_t *cap, size_t count, size_t elem_size);

/* How st_collect turns rows into an array of elem_size elements. read
 * fills one element (leaving nothing to free when it fails); clear frees
 * what an element owns (NULL when it owns nothing). */
struct st_rows {
    size_t elem_size;
    int (*read)(sqlite3_stmt *stmt, void *elem);
    void (*clear)(void *elem);
    const char *what; /* "listing users", for the error message */
};

/*
 * Step stmt to the end, reading every row into a malloc'd array stored at
 * listp (a pointer to the caller's array pointer) with *n elements.
 * Finalizes stmt. On failure nothing is handed out.
 */
int st_collect(struct store *st, sqlite3_stmt *stmt, const struct st_rows *rows,
               void *listp, size_t *n);

/* Run the numbered migrations up to the latest version. */
int st_migrate(struct store *st);

#endif
