#include "store/transfers.h"

#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

struct add_args {
    const struct store_transfer *t;
};

static int add_tx(struct store *st, void *arg)
{
    const struct store_transfer *t = ((struct add_args *)arg)->t;
    sqlite3_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int64_t id = 0;
    int rc;

    st_time_text(t->at_ms, now);
    rc = st_prepare(st,
                    "INSERT INTO file_transfers (session_id, operation, "
                    "path, path2, bytes_read, bytes_written, sha256, status, "
                    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, t->session_id);
    st_bind_text(stmt, 2, t->operation);
    st_bind_text(stmt, 3, t->path != NULL ? t->path : "");
    st_bind_text(stmt, 4,
                 t->path2 != NULL && t->path2[0] != '\0' ? t->path2 : NULL);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64)t->bytes_read);
    sqlite3_bind_int64(stmt, 6, (sqlite3_int64)t->bytes_written);
    st_bind_text(stmt, 7, t->sha256[0] != '\0' ? t->sha256 : NULL);
    st_bind_text(stmt, 8, t->status);
    st_bind_text(stmt, 9, now);
    rc = st_insert(st, stmt, "recording a file transfer", &id);
    if (rc == GW_OK) {
        rc = st_session_amend(st, t->session_id, ST_AMEND_TRANSFERS, id);
    }
    return rc;
}

int store_transfer_add(struct store *st, const struct store_transfer *t)
{
    /* A transfer of an ended session and its session.amend event commit
     * together; for a session still open it is one insert as before. */
    struct add_args a = {t};

    return st_transaction(st, add_tx, &a);
}

static int read_transfer_row(sqlite3_stmt *stmt, void *elem)
{
    struct store_transfer *t = elem;

    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(stmt, 0);
    t->session_id = sqlite3_column_int64(stmt, 1);
    st_col_copy(stmt, 2, t->operation, sizeof(t->operation));
    t->path = st_col_dup(stmt, 3);
    t->path2 = strdup(sqlite3_column_type(stmt, 4) == SQLITE_NULL
                          ? ""
                          : (const char *)sqlite3_column_text(stmt, 4));
    t->bytes_read = (uint64_t)sqlite3_column_int64(stmt, 5);
    t->bytes_written = (uint64_t)sqlite3_column_int64(stmt, 6);
    st_col_copy(stmt, 7, t->sha256, sizeof(t->sha256));
    st_col_copy(stmt, 8, t->status, sizeof(t->status));
    st_col_copy(stmt, 9, t->created_at, sizeof(t->created_at));
    if (t->path == NULL || t->path2 == NULL) {
        free(t->path);
        free(t->path2);
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

static void clear_transfer_row(void *elem)
{
    struct store_transfer *t = elem;

    free(t->path);
    free(t->path2);
}

void store_transfer_list_free(struct store_transfer *list, size_t n)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        clear_transfer_row(&list[i]);
    }
    free(list);
}

int store_transfer_list(struct store *st, int64_t session_id,
                        struct store_transfer **out, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_transfer),
                                        read_transfer_row, clear_transfer_row,
                                        "listing file transfers"};
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT id, session_id, operation, path, path2, "
                    "bytes_read, bytes_written, sha256, status, created_at "
                    "FROM file_transfers WHERE session_id = ?1 ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    sqlite3_bind_int64(stmt, 1, session_id);
    return st_collect(st, stmt, &rows, out, n);
}
