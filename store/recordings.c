#include "store/recordings.h"

#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

/* Count a chunk of len bytes (or none) and keep the digest of the chain
 * so far, so that the next append reads one row. */
static int set_tail(struct store *st, int64_t id, int64_t chunks, int64_t len,
                    const char *digest)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st,
                        "UPDATE recordings SET chunks = chunks + ?2, bytes = "
                        "bytes + ?3, digest = ?4 WHERE id = ?1",
                        &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_int64(stmt, 2, chunks);
    st_bind_int64(stmt, 3, len);
    st_bind_text(stmt, 4, digest);
    return st_exec_stmt(st, stmt, "counting recording chunk");
}

struct start_args {
    int64_t session_id;
    const char *header;
    int64_t *id;
};

static int start_tx(struct store *st, void *arg)
{
    struct start_args *a = arg;
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char base[GW_SHA256_HEX_LEN];
    int64_t id = 0;
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO recordings (session_id, header, created_at) "
                    "VALUES (?1, ?2, ?3)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, a->session_id);
    st_bind_text(stmt, 2, a->header);
    st_bind_text(stmt, 3, now);
    rc = st_insert(st, stmt, "starting recording", &id);
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(rc, "session %lld is recorded already",
                        (long long)a->session_id);
    }
    if (rc == GW_OK) {
        /* The chain of chunks starts from the recording itself. */
        rc = st_recording_base(id, a->session_id, a->header, now, base);
    }
    if (rc == GW_OK) {
        rc = set_tail(st, id, 0, 0, base);
    }
    if (rc == GW_OK) {
        rc = st_session_amend(st, a->session_id, ST_AMEND_RECORDING, 0);
    }
    if (rc == GW_OK && a->id != NULL) {
        *a->id = id;
    }
    return rc;
}

int store_recording_start(struct store *st, int64_t session_id,
                          const char *header, int64_t *id)
{
    struct start_args a = {session_id, header, id};

    return st_transaction(st, start_tx, &a);
}

static int insert_chunk(struct store *st, int64_t id, int64_t seq,
                        const char *data, size_t len, const char *digest,
                        int64_t *chunk_id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO recording_chunks (recording_id, seq, data, "
                    "created_at, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_int64(stmt, 2, seq);
    st_bind_text_n(stmt, 3, data, len);
    st_bind_text(stmt, 4, now);
    st_bind_text(stmt, 5, digest);
    return st_insert(st, stmt, "storing recording chunk", chunk_id);
}

struct append_args {
    int64_t id;
    int64_t seq;
    const char *data;
    size_t len;
};

/*
 * The chunk, its digest (chained to the chunk stored before it, in the
 * order of writing) and the recording's counters and running digest
 * change together.
 */
static int append_tx(struct store *st, void *arg)
{
    struct append_args *a = arg;
    char digest[GW_SHA256_HEX_LEN];
    int64_t session_id = 0;
    int64_t rec_id = 0;
    int64_t chunk_id = 0;
    int rc;

    rc = st_get_one(st, "SELECT session_id FROM recordings WHERE id = ?1",
                    ST_PARAMS(ST_INT64(a->id)), st_row_int64, &session_id,
                    "reading recording");
    if (rc == GW_ERR_NOTFOUND) {
        return gw_err_set(rc, "no recording %lld", (long long)a->id);
    }
    if (rc == GW_OK) {
        rc = st_recording_tail(st, session_id, &rec_id, digest);
    }
    if (rc == GW_OK) {
        rc = st_chunk_digest(digest, a->seq, a->data, a->len, digest);
    }
    if (rc == GW_OK) {
        rc =
            insert_chunk(st, a->id, a->seq, a->data, a->len, digest, &chunk_id);
    }
    if (rc == GW_OK) {
        rc = set_tail(st, a->id, 1, (int64_t)a->len, digest);
    }
    if (rc == GW_OK) {
        rc = st_session_amend(st, session_id, ST_AMEND_RECORDING, chunk_id);
    }
    return rc;
}

int store_recording_append(struct store *st, int64_t id, int64_t seq,
                           const char *data, size_t len)
{
    struct append_args a = {id, seq, data, len};

    if (len > INT32_MAX) {
        return gw_err_set(GW_ERR_INVALID, "recording chunk too large");
    }
    return st_transaction(st, append_tx, &a);
}

int store_recording_degraded(struct store *st, int64_t id, const char *why)
{
    struct st_stmt *stmt = NULL;
    int rc;

    /* Keep the first reason: it says when the loss started. */
    rc = st_prepare(st,
                    "UPDATE recordings SET degraded = coalesce(degraded, ?2) "
                    "WHERE id = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, why);
    return st_exec_stmt(st, stmt, "marking recording degraded");
}

/* Fills *out; what it did allocate before failing, the caller clears. */
static int read_recording_row(struct st_stmt *stmt, void *out)
{
    struct store_recording *r = out;

    r->id = st_col_int64(stmt, 0);
    r->session_id = st_col_int64(stmt, 1);
    r->header = st_col_dup(stmt, 2);
    r->chunks = st_col_int64(stmt, 3);
    r->bytes = st_col_int64(stmt, 4);
    r->degraded = st_col_dup(stmt, 5);
    st_col_copy(stmt, 6, r->created_at, sizeof(r->created_at));
    return r->header != NULL && r->degraded != NULL ? GW_OK : GW_ERR_NOMEM;
}

int store_recording_get(struct store *st, int64_t session_id,
                        struct store_recording *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = st_get_one(st,
                    "SELECT id, session_id, header, chunks, bytes, "
                    "coalesce(degraded, ''), created_at FROM recordings "
                    "WHERE session_id = ?1",
                    ST_PARAMS(ST_INT64(session_id)), read_recording_row, out,
                    "reading recording");
    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "session %lld has no recording",
                        (long long)session_id);
    }
    if (rc != GW_OK) {
        store_recording_clear(out);
    }
    return rc;
}

void store_recording_clear(struct store_recording *r)
{
    free(r->header);
    free(r->degraded);
    r->header = NULL;
    r->degraded = NULL;
}

int store_recording_chunks(struct store *st, int64_t id,
                           int (*fn)(void *arg, const char *data, size_t len),
                           void *arg)
{
    struct st_stmt *stmt = NULL;
    int step;
    int rc;

    rc = st_prepare(st,
                    "SELECT data FROM recording_chunks WHERE recording_id = "
                    "?1 ORDER BY seq",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    while ((step = st_step(stmt)) == ST_ROW) {
        const char *data = (const char *)st_col_text(stmt, 0);
        size_t len = (size_t)st_col_bytes(stmt, 0);
        rc = fn(arg, data != NULL ? data : "", len);
        if (rc != GW_OK) {
            goto out;
        }
    }
    if (step != ST_DONE) {
        rc = st_fail(st, step, "reading recording chunks");
    }
out:
    st_done(st, stmt);
    return rc;
}

/* Fills one store_chunk; leaves nothing to free when it fails. */
static int read_chunk_row(struct st_stmt *stmt, void *elem)
{
    struct store_chunk *c = elem;
    const char *data = st_col_text(stmt, 1);
    size_t len = data != NULL ? st_col_bytes(stmt, 1) : 0;

    c->seq = st_col_int64(stmt, 0);
    c->len = len;
    c->data = malloc(len + 1);
    if (c->data == NULL) {
        return GW_ERR_NOMEM;
    }
    if (len > 0) {
        memcpy(c->data, data, len);
    }
    c->data[len] = '\0';
    return GW_OK;
}

static void clear_chunk(void *elem)
{
    struct store_chunk *c = elem;

    free(c->data);
    c->data = NULL;
}

int store_recording_chunks_after(struct store *st, int64_t id,
                                 int64_t after_seq, size_t max,
                                 struct store_chunk **out, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_chunk),
                                        read_chunk_row, clear_chunk,
                                        "reading recording chunks"};
    struct st_stmt *stmt = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (max == 0 || max > INT32_MAX) {
        return gw_err_set(GW_ERR_INVALID, "chunks to read: 1 to %d", INT32_MAX);
    }
    rc = st_prepare(st,
                    "SELECT seq, data FROM recording_chunks WHERE "
                    "recording_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_int64(stmt, 2, after_seq);
    st_bind_limit(stmt, 3, (int64_t)max);
    return st_collect(st, stmt, &rows, out, n);
}

void store_chunk_list_free(struct store_chunk *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++) {
        clear_chunk(&list[i]);
    }
    free(list);
}

int store_recording_last_seq(struct store *st, int64_t id, int64_t *seq)
{
    /* max() over the index's range: one row, -1 when the range is empty. */
    return st_get_one(st,
                      "SELECT coalesce(max(seq), -1) FROM recording_chunks "
                      "WHERE recording_id = ?1",
                      ST_PARAMS(ST_INT64(id)), st_row_int64, seq,
                      "reading recording chunks");
}
