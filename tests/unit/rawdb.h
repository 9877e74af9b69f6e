/*
 * Raw access to a store's database for tests/unit/test_store.c, beside
 * the store and without it: the way a tamperer or an old version of
 * sshgate would reach the tables. target is what store_open takes: a
 * SQLite file path, or a postgresql:// (postgres://) URI for PostgreSQL.
 * Every call opens its own connection and closes it again, so nothing
 * here holds a lock or a snapshot between calls. A failure that the
 * caller did not ask about fails the test (cmocka's fail_msg).
 */
#ifndef SSHGATE_TESTS_RAWDB_H
#define SSHGATE_TESTS_RAWDB_H

#include <stdbool.h>
#include <stddef.h>

/* Does target name a PostgreSQL database (by its URI prefix)? */
bool raw_is_pg(const char *target);

/* Run SQL text of one or more statements; fail the test on an error. */
void raw_sql(const char *target, const char *sql);

/* What raw_sql_rc says about SQL that may fail. */
enum raw_rc {
    RAW_OK = 0,
    RAW_CONSTRAINT = 1, /* SQLITE_CONSTRAINT, SQLSTATE class 23 */
    RAW_ERROR = 2,      /* any other error */
};

/* Run SQL that is expected to fail (a constraint): an enum raw_rc. */
int raw_sql_rc(const char *target, const char *sql);

/* Run one statement with text parameters $1..$n (values[i] for $i+1;
 * NULL binds SQL NULL); fail the test on an error. The same text serves
 * both engines: SQLite takes "$1" as a named parameter. */
void raw_sql_params(const char *target, const char *sql, int n,
                    const char *const *values);

/* The first column of the first row as text ("NULL" for SQL NULL) into
 * out; fail the test when there is no row. */
void raw_text(const char *target, const char *sql, char *out, size_t len);

/* Every row of a query, each column as text (NULL for SQL NULL). */
struct raw_rows {
    int nrows;
    int ncols;
    char **cells; /* nrows * ncols, row by row */
};

void raw_query(const char *target, const char *sql, struct raw_rows *out);
const char *raw_cell(const struct raw_rows *rows, int row, int col);
void raw_rows_free(struct raw_rows *rows);

/* The URI of database dbname on the server of the URI server: the same
 * scheme, user, host and port (and query), another path. */
void raw_pg_uri(const char *server, const char *dbname, char *out, size_t len);

#endif
