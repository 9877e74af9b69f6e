/*
 * The SQLite engine: the embedded default, one file per installation.
 */
#include "store/sqlite.h"

#include "store/open.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000

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

    for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
        int code = st_lite_exec(st, pragmas[i]);
        if (code != ST_OK) {
            return st_fail(st, code, pragmas[i]);
        }
    }
    return GW_OK;
}

int st_lite_connect(struct store *st, const char *path, int flags)
{
    struct stat sb;
    int rc;

    st->engine = ST_SQLITE;
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
    st->path = strdup(path);
    if (st->path == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        return gw_err_set(GW_ERR_IO, "cannot open database %s: %s", path,
                          st->db != NULL ? sqlite3_errmsg(st->db)
                                         : sqlite3_errstr(rc));
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 1);
    return set_pragmas(st);
}

void st_lite_close(struct store *st)
{
    if (st->db != NULL) {
        sqlite3_close_v2(st->db);
        st->db = NULL;
    }
}

void st_lite_set_busy_timeout(struct store *st, int ms)
{
    sqlite3_busy_timeout(st->db, ms);
}

const char *st_lite_errmsg(struct store *st)
{
    return st->db != NULL ? sqlite3_errmsg(st->db) : "no database";
}

int st_lite_exec(struct store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

int st_lite_prepare(struct store *st, struct st_stmt *stmt, bool persistent)
{
    int rc = sqlite3_prepare_v3(st->db, stmt->sql, -1,
                                persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                                &stmt->lite, NULL);

    if (rc != SQLITE_OK) {
        stmt->lite = NULL;
    }
    return rc;
}

void st_lite_reset(struct st_stmt *stmt)
{
    sqlite3_reset(stmt->lite);
    sqlite3_clear_bindings(stmt->lite);
}

void st_lite_finalize(struct st_stmt *stmt)
{
    sqlite3_finalize(stmt->lite);
    stmt->lite = NULL;
}

int st_lite_backup(struct store *st, const char *dest)
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
