/*
 * Statements of either engine: one function per operation, each a switch
 * between SQLite's own call and pg.c's. The entity files see only these.
 */
#include "store/internal.h"
#include "store/pg.h"
#include "store/sqlite.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(ST_ROW == SQLITE_ROW && ST_DONE == SQLITE_DONE &&
                   ST_ERROR == SQLITE_ERROR && ST_PERM == SQLITE_PERM &&
                   ST_BUSY == SQLITE_BUSY && ST_LOCKED == SQLITE_LOCKED &&
                   ST_READONLY == SQLITE_READONLY && ST_IOERR == SQLITE_IOERR &&
                   ST_FULL == SQLITE_FULL && ST_CANTOPEN == SQLITE_CANTOPEN &&
                   ST_NOTADB == SQLITE_NOTADB &&
                   ST_CONSTRAINT == SQLITE_CONSTRAINT &&
                   ST_CONSTRAINT_UNIQUE == SQLITE_CONSTRAINT_UNIQUE,
               "st_code numbers SQLite's result codes");

int st_step(struct st_stmt *stmt)
{
    if (stmt->pg != NULL) {
        return st_pg_step(stmt);
    }
    return sqlite3_step(stmt->lite);
}

int st_bind_int64(struct st_stmt *stmt, int idx, int64_t value)
{
    char text[24];

    if (stmt->pg == NULL) {
        return sqlite3_bind_int64(stmt->lite, idx, value);
    }
    snprintf(text, sizeof(text), "%" PRId64, value);
    return st_pg_bind(stmt, idx, text);
}

int st_bind_int(struct st_stmt *stmt, int idx, int value)
{
    return st_bind_int64(stmt, idx, value);
}

int st_bind_null(struct st_stmt *stmt, int idx)
{
    if (stmt->pg != NULL) {
        return st_pg_bind(stmt, idx, NULL);
    }
    return sqlite3_bind_null(stmt->lite, idx);
}

int st_bind_text(struct st_stmt *stmt, int idx, const char *text)
{
    if (stmt->pg != NULL) {
        return st_pg_bind(stmt, idx, text);
    }
    if (text == NULL) {
        return sqlite3_bind_null(stmt->lite, idx);
    }
    return sqlite3_bind_text(stmt->lite, idx, text, -1, SQLITE_TRANSIENT);
}

int st_bind_text_n(struct st_stmt *stmt, int idx, const char *text, size_t len)
{
    char *copy = NULL;
    int code;

    if (stmt->pg == NULL) {
        return sqlite3_bind_text(stmt->lite, idx, text, (int)len,
                                 SQLITE_TRANSIENT);
    }
    copy = strndup(text, len); /* PostgreSQL text has no NUL in it */
    if (copy == NULL) {
        return ST_ERROR;
    }
    code = st_pg_bind(stmt, idx, copy);
    free(copy);
    return code;
}

int st_bind_limit(struct st_stmt *stmt, int idx, int64_t limit)
{
    if (limit > 0) {
        return st_bind_int64(stmt, idx, limit);
    }
    return stmt->pg != NULL ? st_pg_bind(stmt, idx, NULL)
                            : sqlite3_bind_int64(stmt->lite, idx, -1);
}

int st_param_count(struct st_stmt *stmt)
{
    if (stmt->pg != NULL) {
        return st_pg_param_count(stmt);
    }
    return sqlite3_bind_parameter_count(stmt->lite);
}

int64_t st_col_int64(struct st_stmt *stmt, int col)
{
    const char *text;

    if (stmt->pg == NULL) {
        return sqlite3_column_int64(stmt->lite, col);
    }
    /* Text, as PostgreSQL sends results: booleans are t and f. */
    text = st_pg_col_text(stmt, col);
    if (text == NULL) {
        return 0;
    }
    if (text[0] == 't' || text[0] == 'f') {
        return text[0] == 't';
    }
    return strtoll(text, NULL, 10);
}

int st_col_int(struct st_stmt *stmt, int col)
{
    return (int)st_col_int64(stmt, col);
}

const char *st_col_text(struct st_stmt *stmt, int col)
{
    if (stmt->pg != NULL) {
        return st_pg_col_text(stmt, col);
    }
    return (const char *)sqlite3_column_text(stmt->lite, col);
}

size_t st_col_bytes(struct st_stmt *stmt, int col)
{
    if (stmt->pg != NULL) {
        return st_pg_col_bytes(stmt, col);
    }
    return (size_t)sqlite3_column_bytes(stmt->lite, col);
}

bool st_col_is_null(struct st_stmt *stmt, int col)
{
    if (stmt->pg != NULL) {
        return st_pg_col_text(stmt, col) == NULL;
    }
    return sqlite3_column_type(stmt->lite, col) == SQLITE_NULL;
}

int st_col_count(struct st_stmt *stmt)
{
    if (stmt->pg != NULL) {
        return st_pg_col_count(stmt);
    }
    return sqlite3_column_count(stmt->lite);
}

int64_t st_changes(struct store *st)
{
    if (st->engine == ST_POSTGRES) {
        return st_pg_changes(st);
    }
    return sqlite3_changes(st->db);
}

int st_last_insert_id(struct store *st, int64_t *id)
{
    if (st->engine == ST_POSTGRES) {
        int code = st_pg_last_insert_id(st, id);
        return code == ST_OK ? GW_OK : st_fail(st, code, "reading a new id");
    }
    *id = sqlite3_last_insert_rowid(st->db);
    return GW_OK;
}

bool st_in_transaction(struct store *st)
{
    if (st->engine == ST_POSTGRES) {
        return st_pg_in_transaction(st);
    }
    return !sqlite3_get_autocommit(st->db);
}

int st_exec_script(struct store *st, const char *sql, const char *what)
{
    int code =
        st->engine == ST_POSTGRES ? st_pg_exec(st, sql) : st_lite_exec(st, sql);

    return code == ST_OK ? GW_OK : st_fail(st, code, what);
}

int st_begin_read(struct store *st)
{
    /* PostgreSQL's default READ COMMITTED takes a snapshot per statement;
     * a SQLite read transaction holds one from its first read. */
    return st_exec_script(st,
                          ST_SQL(st, "BEGIN",
                                 "BEGIN ISOLATION LEVEL REPEATABLE READ "
                                 "READ ONLY"),
                          "starting a read");
}

void st_end_read(struct store *st)
{
    (void)st_exec_script(st, "COMMIT", "ending a read");
}
