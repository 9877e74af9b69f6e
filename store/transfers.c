#include "store/transfers.h"

#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

struct add_args {
    const struct store_transfer *t;
};

/* The row of t's file in its session, if it has one already: *id, or 0. */
static int file_row(struct store *st, const struct store_transfer *t,
                    int64_t *id)
{
    int rc;

    *id = 0;
    if (t->file_seq == 0) {
        return GW_OK;
    }
    rc = st_get_one(
        st,
        "SELECT id FROM file_transfers WHERE session_id = ?1 AND "
        "file_seq = ?2",
        ST_PARAMS(ST_INT64(t->session_id), ST_INT64((int64_t)t->file_seq)),
        st_row_int64, id, "reading file transfers");
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}

/* ?2 to ?9 of both statements below: the columns a record sets. */
static void bind_columns(struct st_stmt *stmt, const struct store_transfer *t,
                         const char *now)
{
    st_bind_text(stmt, 2, t->operation);
    st_bind_text(stmt, 3, t->path != NULL ? t->path : "");
    st_bind_text(stmt, 4,
                 t->path2 != NULL && t->path2[0] != '\0' ? t->path2 : NULL);
    st_bind_int64(stmt, 5, (int64_t)t->bytes_read);
    st_bind_int64(stmt, 6, (int64_t)t->bytes_written);
    st_bind_text(stmt, 7, t->sha256[0] != '\0' ? t->sha256 : NULL);
    st_bind_text(stmt, 8, t->status);
    st_bind_text(stmt, 9, now);
}

static int insert_row(struct store *st, const struct store_transfer *t,
                      const char *now, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st,
                        "INSERT INTO file_transfers (session_id, operation, "
                        "path, path2, bytes_read, bytes_written, sha256, "
                        "status, created_at, file_seq) VALUES (?1, ?2, ?3, "
                        "?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, t->session_id);
    bind_columns(stmt, t, now);
    /* NULL, not 0, for a row that is no file's: the unique index on
     * (session_id, file_seq) leaves those alone, and the row hashes into
     * the chain as rows written before schema 4 do. */
    if (t->file_seq != 0) {
        st_bind_int64(stmt, 10, (int64_t)t->file_seq);
    }
    return st_insert(st, stmt, "recording a file transfer", id);
}

static int update_row(struct store *st, const struct store_transfer *t,
                      const char *now, int64_t id)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st,
                        "UPDATE file_transfers SET operation = ?2, path = ?3, "
                        "path2 = ?4, bytes_read = ?5, bytes_written = ?6, "
                        "sha256 = ?7, status = ?8, created_at = ?9 "
                        "WHERE id = ?1",
                        &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    bind_columns(stmt, t, now);
    return st_exec_stmt(st, stmt, "completing a file transfer");
}

static int add_tx(struct store *st, void *arg)
{
    const struct store_transfer *t = ((struct add_args *)arg)->t;
    char before[GW_SHA256_HEX_LEN] = "";
    char now[GW_TIME_LEN];
    int64_t id = 0;
    int rc;

    st_time_text(t->at_ms, now);
    rc = file_row(st, t, &id);
    if (rc != GW_OK) {
        return rc;
    }
    if (id == 0) {
        rc = insert_row(st, t, now, &id);
        if (rc == GW_OK) {
            rc = st_session_amend(st, t->session_id, ST_AMEND_TRANSFERS, id);
        }
        return rc;
    }
    /* The file's final state replaces its in-flight row. Once the session
     * has ended, what its events bound is read first: the amend that
     * binds the new state names it, so that the old state stays part of
     * the chain's story. */
    rc = st_transfers_if_ended(st, t->session_id, before);
    if (rc == GW_OK) {
        rc = update_row(st, t, now, id);
    }
    if (rc == GW_OK && before[0] != '\0') {
        rc = st_session_amend_replaced(st, t->session_id, id, before);
    }
    return rc;
}

int store_transfer_add(struct store *st, const struct store_transfer *t)
{
    /* A transfer of an ended session and its session.amend event commit
     * together; for a session still open it is one insert or update. */
    struct add_args a = {t};

    return st_transaction(st, add_tx, &a);
}

static int read_transfer_row(struct st_stmt *stmt, void *elem)
{
    struct store_transfer *t = elem;

    memset(t, 0, sizeof(*t));
    t->id = st_col_int64(stmt, 0);
    t->session_id = st_col_int64(stmt, 1);
    st_col_copy(stmt, 2, t->operation, sizeof(t->operation));
    t->path = st_col_dup(stmt, 3);
    t->path2 = strdup(
        st_col_is_null(stmt, 4) ? "" : (const char *)st_col_text(stmt, 4));
    t->bytes_read = (uint64_t)st_col_int64(stmt, 5);
    t->bytes_written = (uint64_t)st_col_int64(stmt, 6);
    st_col_copy(stmt, 7, t->sha256, sizeof(t->sha256));
    st_col_copy(stmt, 8, t->status, sizeof(t->status));
    st_col_copy(stmt, 9, t->created_at, sizeof(t->created_at));
    t->file_seq = (uint64_t)st_col_int64(stmt, 10);
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
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT id, session_id, operation, path, path2, "
                    "bytes_read, bytes_written, sha256, status, created_at, "
                    "file_seq FROM file_transfers WHERE session_id = ?1 "
                    "ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, session_id);
    return st_collect(st, stmt, &rows, out, n);
}
