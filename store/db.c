#include "store/internal.h"
#include "store/open.h"
#include "store/pg.h"
#include "store/sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The statement's engine part, prepared for the cache or for one use. */
static int prepare_engine(struct store *st, struct st_stmt *stmt, bool cached)
{
    int code;

    if (st->engine == ST_POSTGRES) {
        return st_pg_prepare(st, stmt, cached);
    }
    code = st_lite_prepare(st, stmt, cached);
    return code == ST_OK ? GW_OK : st_fail(st, code, "preparing a statement");
}

static void finalize_engine(struct st_stmt *stmt)
{
    if (stmt->pg != NULL) {
        st_pg_finalize(stmt);
    } else if (stmt->lite != NULL) {
        st_lite_finalize(stmt);
    }
}

int st_prepare(struct store *st, const char *sql, struct st_stmt **stmt)
{
    struct st_stmt *one = NULL;
    bool cached = st->ncache < ST_CACHE_MAX;
    int rc;

    *stmt = NULL;
    for (int i = 0; i < st->ncache; i++) {
        struct st_cached *c = &st->cache[i];
        if (!c->in_use &&
            (c->stmt.sql == sql || strcmp(c->stmt.sql, sql) == 0)) {
            c->in_use = true;
            *stmt = &c->stmt;
            return GW_OK;
        }
    }
    one = cached ? &st->cache[st->ncache].stmt : calloc(1, sizeof(*one));
    if (one == NULL) {
        return GW_ERR_NOMEM;
    }
    *one = (struct st_stmt){.st = st, .sql = sql};
    rc = prepare_engine(st, one, cached);
    if (rc != GW_OK) {
        if (!cached) {
            free(one);
        }
        return rc;
    }
    if (cached) {
        st->cache[st->ncache++].in_use = true;
    }
    *stmt = one;
    return GW_OK;
}

void st_done(struct store *st, struct st_stmt *stmt)
{
    if (stmt == NULL) {
        return;
    }
    for (int i = 0; i < st->ncache; i++) {
        if (&st->cache[i].stmt == stmt) {
            if (stmt->pg != NULL) {
                st_pg_reset(stmt);
            } else {
                st_lite_reset(stmt);
            }
            st->cache[i].in_use = false;
            return;
        }
    }
    finalize_engine(stmt);
    free(stmt);
}

static const char *engine_errmsg(struct store *st)
{
    return st->engine == ST_POSTGRES ? st_pg_errmsg(st) : st_lite_errmsg(st);
}

int st_fail(struct store *st, int code, const char *what)
{
    int primary = code & 0xff;

    if (primary == ST_BUSY || primary == ST_LOCKED) {
        /* The busy timeout ran out: another writer holds the lock. A
         * caller that can wait (the audit writer) spools and tries
         * again. */
        return gw_err_set(GW_ERR_TIMEOUT, "%s: database is locked (%s)",
                          st->path, what);
    }
    if (primary == ST_NOTADB) {
        return gw_err_set(GW_ERR_DB, "%s is not an sshgate database", st->path);
    }
    if (primary == ST_READONLY || primary == ST_CANTOPEN ||
        primary == ST_PERM || primary == ST_FULL || primary == ST_IOERR) {
        /* A full disk or a failing one, or a server out of reach, is an
         * outage the audit writer waits out (spooling), like a lock, not
         * a verdict on the data. */
        return gw_err_set(GW_ERR_IO, "%s: cannot write the database (%s)",
                          st->path, engine_errmsg(st));
    }
    return gw_err_set(GW_ERR_DB, "%s: %s failed: %s", st->path, what,
                      engine_errmsg(st));
}

int st_exec_stmt(struct store *st, struct st_stmt *stmt, const char *what)
{
    int rc = st_step(stmt);
    int status = GW_OK;

    if (rc != ST_DONE && rc != ST_ROW) {
        status = st_fail(st, rc, what);
    }
    st_done(st, stmt);
    return status;
}

int st_insert(struct store *st, struct st_stmt *stmt, const char *what,
              int64_t *id)
{
    int rc = st_step(stmt);

    if (rc == ST_CONSTRAINT_UNIQUE) {
        rc = GW_ERR_EXISTS;
    } else if (rc != ST_DONE) {
        rc = st_fail(st, rc, what);
    } else {
        rc = GW_OK;
        if (id != NULL) {
            rc = st_last_insert_id(st, id);
        }
    }
    st_done(st, stmt);
    return rc;
}

void st_col_copy(struct st_stmt *stmt, int col, char *dst, size_t dstlen)
{
    const char *text = st_col_text(stmt, col);

    if (text == NULL) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, dstlen, "%s", text);
}

char *st_col_dup(struct st_stmt *stmt, int col)
{
    const char *text = st_col_text(stmt, col);

    if (text == NULL) {
        return NULL;
    }
    return strdup(text);
}

int st_grow(void *listp, size_t *cap, size_t count, size_t elem_size)
{
    void *list = NULL;
    void *grown = NULL;
    size_t ncap;

    if (count < *cap) {
        return GW_OK;
    }
    ncap = *cap == 0 ? 16 : *cap * 2;
    memcpy(&list, listp, sizeof(list));
    grown = realloc(list, ncap * elem_size);
    if (grown == NULL) {
        return GW_ERR_NOMEM;
    }
    memcpy(listp, &grown, sizeof(grown));
    *cap = ncap;
    return GW_OK;
}

int st_collect(struct store *st, struct st_stmt *stmt,
               const struct st_rows *rows, void *listp, size_t *n)
{
    char *list = NULL;
    size_t count = 0, cap = 0;
    int step;
    int rc = GW_OK;

    while ((step = st_step(stmt)) == ST_ROW) {
        rc = st_grow(&list, &cap, count, rows->elem_size);
        if (rc != GW_OK) {
            goto out;
        }
        rc = rows->read(stmt, list + count * rows->elem_size);
        if (rc != GW_OK) {
            goto out;
        }
        count++;
    }
    if (step != ST_DONE) {
        rc = st_fail(st, step, rows->what);
        goto out;
    }
    memcpy(listp, &list, sizeof(list));
    *n = count;
    list = NULL; /* transferred */
out:
    for (size_t i = 0; list != NULL && rows->clear != NULL && i < count; i++) {
        rows->clear(list + i * rows->elem_size);
    }
    free(list);
    st_done(st, stmt);
    return rc;
}

int st_get_one(struct store *st, const char *sql, const struct st_param *params,
               size_t nparams, int (*read_row)(struct st_stmt *stmt, void *out),
               void *out, const char *what)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st, sql, &stmt);
    int step;

    if (rc != GW_OK) {
        return rc;
    }
    for (size_t i = 0; i < nparams; i++) {
        int idx = (int)i + 1;
        if (params[i].is_int) {
            st_bind_int64(stmt, idx, params[i].i64);
        } else {
            st_bind_text(stmt, idx, params[i].text);
        }
    }
    step = st_step(stmt);
    if (step == ST_ROW) {
        rc = read_row(stmt, out);
    } else if (step == ST_DONE) {
        rc = GW_ERR_NOTFOUND;
    } else {
        rc = st_fail(st, step, what);
    }
    st_done(st, stmt);
    return rc;
}

int st_row_int(struct st_stmt *stmt, void *out)
{
    int value = st_col_int(stmt, 0);

    memcpy(out, &value, sizeof(value));
    return GW_OK;
}

int st_row_int64(struct st_stmt *stmt, void *out)
{
    int64_t value = st_col_int64(stmt, 0);

    memcpy(out, &value, sizeof(value));
    return GW_OK;
}

int st_row_text(struct st_stmt *stmt, void *out)
{
    char **text = out;

    *text = st_col_dup(stmt, 0);
    return *text != NULL ? GW_OK : GW_ERR_NOMEM;
}

int st_connect(const char *target, int flags, struct store **out)
{
    struct store *st = NULL;
    int rc;

    if (target == NULL || target[0] == '\0') {
        return gw_err_set(GW_ERR_INVALID, "database path is empty");
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = st_pg_is_target(target) ? st_pg_connect(st, target)
                                 : st_lite_connect(st, target, flags);
    if (rc != GW_OK) {
        goto out;
    }
    *out = st;
    st = NULL; /* transferred */
out:
    store_close(st);
    return rc;
}

const char *store_name(const struct store *st)
{
    return st->path;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < st->ncache; i++) {
        finalize_engine(&st->cache[i].stmt);
    }
    if (st->engine == ST_POSTGRES) {
        st_pg_close(st);
    } else {
        st_lite_close(st);
    }
    free(st->path);
    free(st);
}

int store_schema_version(struct store *st, int *version)
{
    /* PostgreSQL has no user_version: a one-column table holds the
     * steps taken (migrations.c creates it before the first step). */
    int rc = st_get_one(st,
                        ST_SQL(st, "PRAGMA user_version",
                               "SELECT coalesce(max(version), 0) FROM "
                               "sshgate_schema"),
                        NULL, 0, st_row_int, version, "reading schema version");

    if (rc == GW_ERR_NOTFOUND) {
        /* Not seen: the pragma answers one row even in an empty file. */
        rc = gw_err_set(GW_ERR_DB, "%s: reading schema version failed: no row",
                        st->path);
    }
    return rc;
}

static int exec_simple(struct store *st, const char *sql)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st, sql, &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    return st_exec_stmt(st, stmt, sql);
}

int st_transaction(struct store *st, int (*fn)(struct store *, void *),
                   void *arg)
{
    int rc = store_begin(st);

    if (rc != GW_OK) {
        return rc;
    }
    rc = fn(st, arg);
    if (rc == GW_OK) {
        rc = store_commit(st);
    }
    if (rc != GW_OK) {
        store_rollback(st);
    }
    return rc;
}

/*
 * Transactions nest: the outermost store_begin is BEGIN IMMEDIATE, an
 * inner one a savepoint. The audit writer commits many records in one
 * transaction (group commit) through the same functions that write one
 * record in a transaction of its own; an inner failure rolls back only
 * that record's savepoint, and the writer decides about the whole.
 */
void store_set_busy_timeout(struct store *st, int ms)
{
    if (st->engine == ST_POSTGRES) {
        st_pg_set_lock_timeout(st, ms);
    } else {
        st_lite_set_busy_timeout(st, ms);
    }
}

/*
 * PostgreSQL: every write transaction of every node takes the same
 * transaction-level advisory lock first, so writers serialize as they
 * do on SQLite's BEGIN IMMEDIATE. The store's read-then-write sequences
 * (the event chain's head, a session's digest, the lockout counters)
 * stay correct without a per-table locking scheme; the lock is held for
 * one transaction, a few milliseconds, and lock_timeout bounds the wait.
 */
#define ST_PG_WRITE_LOCK "SELECT pg_advisory_xact_lock(7597570166297096000)"

int store_begin(struct store *st)
{
    int rc;

    if (st->tx_depth > 0 && !st_in_transaction(st)) {
        st->tx_depth = 0; /* the engine ended it (an I/O error rolls back) */
    }
    if (st->tx_depth > 0) {
        rc = exec_simple(st, "SAVEPOINT st_nested");
    } else if (st->engine == ST_POSTGRES) {
        rc = exec_simple(st, "BEGIN");
        if (rc == GW_OK) {
            st->tx_depth = 1; /* so that a failed lock rolls back */
            rc = exec_simple(st, ST_PG_WRITE_LOCK);
            if (rc != GW_OK) {
                store_rollback(st);
            }
            return rc;
        }
    } else {
        rc = exec_simple(st, "BEGIN IMMEDIATE");
    }
    if (rc == GW_OK) {
        st->tx_depth++;
    }
    return rc;
}

int store_commit(struct store *st)
{
    int rc;

    if (st->tx_depth > 1) {
        st->tx_depth--;
        return exec_simple(st, "RELEASE st_nested");
    }
    rc = exec_simple(st, "COMMIT");
    if (rc == GW_OK || !st_in_transaction(st)) {
        st->tx_depth = 0;
    }
    return rc;
}

void store_rollback(struct store *st)
{
    if (!st_in_transaction(st)) {
        st->tx_depth = 0;
        return;
    }
    if (st->tx_depth > 1) {
        st->tx_depth--;
        (void)exec_simple(st, "ROLLBACK TO st_nested");
        (void)exec_simple(st, "RELEASE st_nested");
        return;
    }
    (void)exec_simple(st, "ROLLBACK");
    st->tx_depth = 0;
}

int store_backup(struct store *st, const char *dest)
{
    if (st->engine == ST_POSTGRES) {
        return gw_err_set(GW_ERR_INVALID,
                          "%s is a PostgreSQL database: back it up with "
                          "pg_dump (pg_dump -Fc -f FILE 'URI'), or copy it "
                          "into a SQLite file with 'sshgate-admin db copy'",
                          st->path);
    }
    return st_lite_backup(st, dest);
}
