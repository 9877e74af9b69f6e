#include "store/internal.h"
#include "store/open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000

int st_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt)
{
    int rc;

    for (int i = 0; i < st->ncache; i++) {
        struct st_cached *c = &st->cache[i];
        if (!c->in_use && (c->sql == sql || strcmp(c->sql, sql) == 0)) {
            c->in_use = true;
            *stmt = c->stmt;
            return GW_OK;
        }
    }
    rc = sqlite3_prepare_v3(
        st->db, sql, -1,
        st->ncache < ST_CACHE_MAX ? SQLITE_PREPARE_PERSISTENT : 0, stmt, NULL);
    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return st_fail(st, rc, "preparing a statement");
    }
    if (st->ncache < ST_CACHE_MAX) {
        st->cache[st->ncache++] = (struct st_cached){sql, *stmt, true};
    }
    return GW_OK;
}

void st_done(struct store *st, sqlite3_stmt *stmt)
{
    if (stmt == NULL) {
        return;
    }
    for (int i = 0; i < st->ncache; i++) {
        if (st->cache[i].stmt == stmt) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            st->cache[i].in_use = false;
            return;
        }
    }
    sqlite3_finalize(stmt);
}

int st_fail(struct store *st, int sqlite_rc, const char *what)
{
    int primary = sqlite_rc & 0xff;

    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        /* The busy timeout ran out: another writer holds the lock. A
         * caller that can wait (the audit writer) spools and tries
         * again. */
        return gw_err_set(GW_ERR_TIMEOUT, "%s: database is locked (%s)",
                          st->path, what);
    }
    if (primary == SQLITE_NOTADB) {
        return gw_err_set(GW_ERR_DB, "%s is not an sshgate database", st->path);
    }
    if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN ||
        primary == SQLITE_PERM || primary == SQLITE_FULL ||
        primary == SQLITE_IOERR) {
        /* A full disk or a failing one is an outage the audit writer
         * waits out (spooling), like a lock, not a verdict on the data. */
        return gw_err_set(GW_ERR_IO, "%s: cannot write the database (%s)",
                          st->path, sqlite3_errmsg(st->db));
    }
    return gw_err_set(GW_ERR_DB, "%s: %s failed: %s", st->path, what,
                      sqlite3_errmsg(st->db));
}

int st_exec_stmt(struct store *st, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    int status = GW_OK;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        status = st_fail(st, rc, what);
    }
    st_done(st, stmt);
    return status;
}

int st_insert(struct store *st, sqlite3_stmt *stmt, const char *what,
              int64_t *id)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        rc = GW_ERR_EXISTS;
    } else if (rc != SQLITE_DONE) {
        rc = st_fail(st, rc, what);
    } else {
        rc = GW_OK;
        if (id != NULL) {
            *id = sqlite3_last_insert_rowid(st->db);
        }
    }
    st_done(st, stmt);
    return rc;
}

int st_bind_text(sqlite3_stmt *stmt, int idx, const char *text)
{
    if (text == NULL) {
        return sqlite3_bind_null(stmt, idx);
    }
    return sqlite3_bind_text(stmt, idx, text, -1, SQLITE_TRANSIENT);
}

void st_col_copy(sqlite3_stmt *stmt, int col, char *dst, size_t dstlen)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);

    if (text == NULL) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, dstlen, "%s", (const char *)text);
}

char *st_col_dup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);

    if (text == NULL) {
        return NULL;
    }
    return strdup((const char *)text);
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

int st_collect(struct store *st, sqlite3_stmt *stmt, const struct st_rows *rows,
               void *listp, size_t *n)
{
    char *list = NULL;
    size_t count = 0, cap = 0;
    int step;
    int rc = GW_OK;

    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
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
    if (step != SQLITE_DONE) {
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
               size_t nparams, int (*read_row)(sqlite3_stmt *stmt, void *out),
               void *out, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    int rc = st_prepare(st, sql, &stmt);
    int step;

    if (rc != GW_OK) {
        return rc;
    }
    for (size_t i = 0; i < nparams; i++) {
        int idx = (int)i + 1;
        if (params[i].is_int) {
            sqlite3_bind_int64(stmt, idx, params[i].i64);
        } else {
            st_bind_text(stmt, idx, params[i].text);
        }
    }
    step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) {
        rc = read_row(stmt, out);
    } else if (step == SQLITE_DONE) {
        rc = GW_ERR_NOTFOUND;
    } else {
        rc = st_fail(st, step, what);
    }
    st_done(st, stmt);
    return rc;
}

int st_row_int(sqlite3_stmt *stmt, void *out)
{
    int value = sqlite3_column_int(stmt, 0);

    memcpy(out, &value, sizeof(value));
    return GW_OK;
}

int st_row_int64(sqlite3_stmt *stmt, void *out)
{
    int64_t value = sqlite3_column_int64(stmt, 0);

    memcpy(out, &value, sizeof(value));
    return GW_OK;
}

int st_row_text(sqlite3_stmt *stmt, void *out)
{
    char **text = out;

    *text = st_col_dup(stmt, 0);
    return *text != NULL ? GW_OK : GW_ERR_NOMEM;
}

/* Create the file with mode 0600 before SQLite does (it would use the umask);
 * SQLite gives the -wal and -shm files the same mode as the database. */
static int create_private_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        if (errno == EEXIST) {
            return GW_OK;
        }
        return gw_err_set(GW_ERR_IO, "cannot create %s: %s", path,
                          strerror(errno));
    }
    close(fd);
    return GW_OK;
}

static int set_pragmas(struct store *st)
{
    /* WAL lets the admin CLI and auditors read while the daemon writes;
     * synchronous=FULL because an accepted audit row must survive a power
     * cut. */
    static const char *const pragmas[] = {
        "PRAGMA foreign_keys = ON",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA trusted_schema = OFF",
    };
    char *errmsg = NULL;

    for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
        int rc = sqlite3_exec(st->db, pragmas[i], NULL, NULL, &errmsg);
        if (rc != SQLITE_OK) {
            sqlite3_free(errmsg);
            return st_fail(st, rc, pragmas[i]);
        }
    }
    return GW_OK;
}

int st_connect(const char *path, int flags, struct store **out)
{
    struct store *st = NULL;
    struct stat sb;
    int rc;

    if (path == NULL || path[0] == '\0') {
        return gw_err_set(GW_ERR_INVALID, "database path is empty");
    }
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT || !(flags & STORE_OPEN_CREATE)) {
            return gw_err_set(
                errno == ENOENT ? GW_ERR_NOTFOUND : GW_ERR_IO,
                "cannot open database %s: %s%s", path, strerror(errno),
                errno == ENOENT ? " (run 'sshgate-admin init' first)" : "");
        }
        rc = create_private_file(path);
        if (rc != GW_OK) {
            return rc;
        }
    } else if (!S_ISREG(sb.st_mode)) {
        return gw_err_set(GW_ERR_IO, "database %s is not a regular file", path);
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return GW_ERR_NOMEM;
    }
    st->path = strdup(path);
    if (st->path == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = gw_err_set(GW_ERR_IO, "cannot open database %s: %s", path,
                        st->db != NULL ? sqlite3_errmsg(st->db)
                                       : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 1);
    rc = set_pragmas(st);
    if (rc != GW_OK) {
        goto out;
    }
    *out = st;
    st = NULL; /* transferred */
out:
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < st->ncache; i++) {
        sqlite3_finalize(st->cache[i].stmt);
    }
    if (st->db != NULL) {
        sqlite3_close_v2(st->db);
    }
    free(st->path);
    free(st);
}

int store_schema_version(struct store *st, int *version)
{
    int rc = st_get_one(st, "PRAGMA user_version", NULL, 0, st_row_int, version,
                        "reading schema version");

    if (rc == GW_ERR_NOTFOUND) {
        /* Not seen: the pragma answers one row even in an empty file. */
        rc = gw_err_set(GW_ERR_DB, "%s: reading schema version failed: no row",
                        st->path);
    }
    return rc;
}

static int exec_simple(struct store *st, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
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
    sqlite3_busy_timeout(st->db, ms);
}

int store_begin(struct store *st)
{
    int rc;

    if (st->tx_depth > 0 && sqlite3_get_autocommit(st->db)) {
        st->tx_depth = 0; /* SQLite ended it (an I/O error rolls back) */
    }
    rc = exec_simple(st, st->tx_depth == 0 ? "BEGIN IMMEDIATE"
                                           : "SAVEPOINT st_nested");
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
    if (rc == GW_OK || sqlite3_get_autocommit(st->db)) {
        st->tx_depth = 0;
    }
    return rc;
}

void store_rollback(struct store *st)
{
    if (sqlite3_get_autocommit(st->db)) {
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
    sqlite3 *dst = NULL;
    sqlite3_backup *bk = NULL;
    int fd;
    int rc = GW_OK;
    int step;

    /* O_EXCL: never overwrite an existing file (it may be a good backup). */
    fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return gw_err_set(GW_ERR_IO, "cannot create backup %s: %s", dest,
                          strerror(errno));
    }
    close(fd);
    if (sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = gw_err_set(GW_ERR_IO, "cannot open backup %s: %s", dest,
                        dst != NULL ? sqlite3_errmsg(dst) : "no memory");
        goto out;
    }
    bk = sqlite3_backup_init(dst, "main", st->db, "main");
    if (bk == NULL) {
        rc = gw_err_set(GW_ERR_DB, "backup to %s failed: %s", dest,
                        sqlite3_errmsg(dst));
        goto out;
    }
    /* -1: copy everything in one step, under one read transaction. */
    step = sqlite3_backup_step(bk, -1);
    if (step != SQLITE_DONE) {
        rc = gw_err_set(GW_ERR_DB, "backup to %s failed: %s", dest,
                        sqlite3_errstr(step));
    }
out:
    if (bk != NULL) {
        sqlite3_backup_finish(bk);
    }
    if (dst != NULL) {
        sqlite3_close(dst);
    }
    if (rc != GW_OK) {
        unlink(dest);
    }
    return rc;
}
