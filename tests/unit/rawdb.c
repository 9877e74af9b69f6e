/* Raw database access for the store tests (rawdb.h): sqlite3 for a
 * file, libpq for a PostgreSQL URI. */
#include "rawdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool raw_is_pg(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 ||
           strncmp(target, "postgres://", 11) == 0;
}

/* libpq prints NOTICEs ("does not exist, skipping") on stderr. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *pg_open(const char *target)
{
    PGconn *conn = PQconnectdb(target);

    assert_non_null(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
        fail_msg("%s: %s", target, PQerrorMessage(conn));
    }
    PQsetNoticeProcessor(conn, quiet, NULL);
    return conn;
}

static sqlite3 *lite_open(const char *target)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(target, &db), SQLITE_OK);
    return db;
}

static bool pg_ok(const PGresult *res)
{
    ExecStatusType status = PQresultStatus(res);

    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

/* Run sql; RAW_OK, or the error's class with its message in msg. */
static int run(const char *target, const char *sql, char *msg, size_t len)
{
    int rc = RAW_OK;

    msg[0] = '\0';
    if (raw_is_pg(target)) {
        PGconn *conn = pg_open(target);
        PGresult *res = PQexec(conn, sql);
        if (!pg_ok(res)) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            rc = state != NULL && strncmp(state, "23", 2) == 0 ? RAW_CONSTRAINT
                                                               : RAW_ERROR;
            snprintf(msg, len, "%s", PQresultErrorMessage(res));
        }
        PQclear(res);
        PQfinish(conn);
    } else {
        sqlite3 *db = lite_open(target);
        char *err = NULL;
        int code = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (code != SQLITE_OK) {
            rc =
                (code & 0xff) == SQLITE_CONSTRAINT ? RAW_CONSTRAINT : RAW_ERROR;
            snprintf(msg, len, "%s", err != NULL ? err : "?");
        }
        sqlite3_free(err);
        sqlite3_close(db);
    }
    return rc;
}

void raw_sql(const char *target, const char *sql)
{
    char msg[512];

    if (run(target, sql, msg, sizeof(msg)) != RAW_OK) {
        fail_msg("%s: %s", sql, msg);
    }
}

int raw_sql_rc(const char *target, const char *sql)
{
    char msg[512];

    return run(target, sql, msg, sizeof(msg));
}

void raw_sql_params(const char *target, const char *sql, int n,
                    const char *const *values)
{
    if (raw_is_pg(target)) {
        PGconn *conn = pg_open(target);
        PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
        if (!pg_ok(res)) {
            fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        }
        PQclear(res);
        PQfinish(conn);
        return;
    }
    sqlite3 *db = lite_open(target);
    sqlite3_stmt *stmt = NULL;
    char name[16];

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(stmt, name);
        if (idx > 0) {
            assert_int_equal(
                sqlite3_bind_text(stmt, idx, values[i], -1, SQLITE_TRANSIENT),
                SQLITE_OK);
        }
    }
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static char *dup_or_null(const char *text)
{
    char *copy = NULL;

    if (text != NULL) {
        copy = strdup(text);
        assert_non_null(copy);
    }
    return copy;
}

void raw_query(const char *target, const char *sql, struct raw_rows *out)
{
    memset(out, 0, sizeof(*out));
    if (raw_is_pg(target)) {
        PGconn *conn = pg_open(target);
        PGresult *res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fail_msg("%s: %s", sql, PQresultErrorMessage(res));
        }
        out->nrows = PQntuples(res);
        out->ncols = PQnfields(res);
        out->cells =
            calloc((size_t)out->nrows * (size_t)out->ncols + 1, sizeof(char *));
        assert_non_null(out->cells);
        for (int r = 0; r < out->nrows; r++) {
            for (int c = 0; c < out->ncols; c++) {
                out->cells[r * out->ncols + c] = dup_or_null(
                    PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c));
            }
        }
        PQclear(res);
        PQfinish(conn);
        return;
    }
    sqlite3 *db = lite_open(target);
    sqlite3_stmt *stmt = NULL;
    int code;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    out->ncols = sqlite3_column_count(stmt);
    while ((code = sqlite3_step(stmt)) == SQLITE_ROW) {
        char **cells =
            realloc(out->cells, (size_t)(out->nrows + 1) * (size_t)out->ncols *
                                        sizeof(char *) +
                                    sizeof(char *));
        assert_non_null(cells);
        out->cells = cells;
        for (int c = 0; c < out->ncols; c++) {
            out->cells[out->nrows * out->ncols + c] =
                dup_or_null((const char *)sqlite3_column_text(stmt, c));
        }
        out->nrows++;
    }
    if (code != SQLITE_DONE) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

const char *raw_cell(const struct raw_rows *rows, int row, int col)
{
    assert_true(row >= 0 && row < rows->nrows);
    assert_true(col >= 0 && col < rows->ncols);
    return rows->cells[row * rows->ncols + col];
}

void raw_rows_free(struct raw_rows *rows)
{
    for (int i = 0; i < rows->nrows * rows->ncols; i++) {
        free(rows->cells[i]);
    }
    free(rows->cells);
    memset(rows, 0, sizeof(*rows));
}

void raw_text(const char *target, const char *sql, char *out, size_t len)
{
    struct raw_rows rows;
    const char *value;

    raw_query(target, sql, &rows);
    if (rows.nrows == 0) {
        fail_msg("%s: no row", sql);
    }
    value = raw_cell(&rows, 0, 0);
    snprintf(out, len, "%s", value != NULL ? value : "NULL");
    raw_rows_free(&rows);
}

void raw_pg_uri(const char *server, const char *dbname, char *out, size_t len)
{
    const char *authority = strstr(server, "://");
    const char *path = NULL;
    const char *query = NULL;
    int n;

    assert_non_null(authority);
    authority += 3;
    path = authority + strcspn(authority, "/?");
    query = strchr(path, '?');
    n = snprintf(out, len, "%.*s/%s%s", (int)(path - server), server, dbname,
                 query != NULL ? query : "");
    assert_true(n > 0 && (size_t)n < len);
}
