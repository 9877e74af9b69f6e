/*
 * What binds the audit tables into the event hash chain: the digests a
 * session.end (or a later session.amend) event carries for the sessions
 * row, its file transfers and its recording, and the time text of a
 * record. The formats are described in docs/audit-schema.md; audit
 * verification (verify.c) recomputes them with these same functions, so
 * a writer and the checker can never disagree on an encoding.
 */
#include "core/crypto.h"
#include "store/events.h"
#include "store/internal.h"
#include "store/sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void st_time_text(int64_t at_ms, char out[GW_TIME_LEN])
{
    if (at_ms == 0) {
        gw_time_now_iso(out);
    } else {
        gw_time_iso_ms(at_ms, out);
    }
}

int st_hash_field_n(struct gw_sha256 *h, const char *value, size_t len)
{
    char prefix[32];
    int n;

    if (value == NULL) {
        return gw_sha256_update(h, "~;", 2);
    }
    n = snprintf(prefix, sizeof(prefix), "%zu:", len);
    if (gw_sha256_update(h, prefix, (size_t)n) != GW_OK ||
        gw_sha256_update(h, value, len) != GW_OK) {
        return GW_ERR_CRYPTO;
    }
    return gw_sha256_update(h, ";", 1);
}

int st_hash_field(struct gw_sha256 *h, const char *value)
{
    return st_hash_field_n(h, value, value != NULL ? strlen(value) : 0);
}

static int hash_int(struct gw_sha256 *h, int64_t value)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", (long long)value);
    return st_hash_field(h, text);
}

int st_hash_column(struct gw_sha256 *h, struct st_stmt *stmt, int col)
{
    const char *text = NULL;

    if (st_col_is_null(stmt, col)) {
        return st_hash_field(h, NULL);
    }
    /* Integers hash as their decimal text, as SQLite renders them. */
    text = (const char *)st_col_text(stmt, col);
    if (text == NULL) {
        return GW_ERR_NOMEM;
    }
    return st_hash_field_n(h, text, (size_t)st_col_bytes(stmt, col));
}

/* ---- the sessions row -------------------------------------------------- */

struct row_digest {
    char *out;
};

static int hash_session_row(struct st_stmt *stmt, void *arg)
{
    struct row_digest *d = arg;
    struct gw_sha256 *h = NULL;
    int rc = gw_sha256_new(&h);

    if (rc != GW_OK) {
        return rc;
    }
    rc = st_hash_field(h, "session");
    for (int col = 0; rc == GW_OK && col < st_col_count(stmt); col++) {
        rc = st_hash_column(h, stmt, col);
    }
    if (rc == GW_OK) {
        rc = gw_sha256_final_hex(h, d->out);
    }
    gw_sha256_free(h);
    return rc != GW_OK ? GW_ERR_CRYPTO : GW_OK;
}

int st_session_row_digest(struct store *st, int64_t id,
                          char out[GW_SHA256_HEX_LEN])
{
    struct row_digest d = {out};
    int rc;

    /* Every column of the row, in this order (docs/audit-schema.md). */
    rc = st_get_one(st,
                    "SELECT id, node, conn_uid, channel, username, "
                    "client_addr, host, login, kind, command, pty, "
                    "started_at, ended_at, bytes_up, bytes_down, "
                    "exit_status, exit_signal, end_reason, created_at "
                    "FROM sessions WHERE id = ?1",
                    ST_PARAMS(ST_INT64(id)), hash_session_row, &d,
                    "reading session");
    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no session %lld", (long long)id);
    }
    return rc;
}

/* ---- file transfers ---------------------------------------------------- */

int st_transfers_walk(struct store *st, int64_t session_id,
                      void (*each)(void *arg, int64_t row, const char *digest),
                      void *arg, char out[GW_SHA256_HEX_LEN])
{
    struct gw_sha256 *h = NULL;
    struct st_stmt *stmt = NULL;
    int step;
    int rc = gw_sha256_new(&h);

    if (rc != GW_OK) {
        return rc;
    }
    /* The start of the chain names the session, so that an empty list
     * has a digest of its own and rows cannot move between sessions. */
    if (st_hash_field(h, "file_transfers") != GW_OK ||
        hash_int(h, session_id) != GW_OK ||
        gw_sha256_final_hex(h, out) != GW_OK) {
        rc = GW_ERR_CRYPTO;
        goto out;
    }
    if (each != NULL) {
        each(arg, 0, out);
    }
    rc = st_prepare(st,
                    "SELECT id, session_id, operation, path, path2, "
                    "bytes_read, bytes_written, sha256, status, created_at, "
                    "file_seq FROM file_transfers WHERE session_id = ?1 "
                    "ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        goto out;
    }
    st_bind_int64(stmt, 1, session_id);
    while ((step = st_step(stmt)) == ST_ROW) {
        rc = gw_sha256_update(h, out, strlen(out));
        for (int col = 0; rc == GW_OK && col < 10; col++) {
            rc = st_hash_column(h, stmt, col);
        }
        /* file_seq (schema 4) only where it is set: rows that are no
         * file's, and every row bound before schema 4, hash as they did. */
        if (rc == GW_OK && !st_col_is_null(stmt, 10)) {
            rc = st_hash_column(h, stmt, 10);
        }
        if (rc == GW_OK) {
            rc = gw_sha256_final_hex(h, out);
        }
        if (rc != GW_OK) {
            rc = GW_ERR_CRYPTO;
            goto out;
        }
        if (each != NULL) {
            each(arg, st_col_int64(stmt, 0), out);
        }
    }
    if (step != ST_DONE) {
        rc = st_fail(st, step, "reading file transfers");
    }
out:
    st_done(st, stmt);
    gw_sha256_free(h);
    return rc;
}

int st_transfers_digest(struct store *st, int64_t session_id,
                        char out[GW_SHA256_HEX_LEN])
{
    return st_transfers_walk(st, session_id, NULL, NULL, out);
}

/* ---- recordings -------------------------------------------------------- */

int st_recording_base(int64_t rec_id, int64_t session_id, const char *header,
                      const char *created_at, char out[GW_SHA256_HEX_LEN])
{
    struct gw_sha256 *h = NULL;
    int rc = gw_sha256_new(&h);

    if (rc != GW_OK) {
        return rc;
    }
    if (st_hash_field(h, "recording") != GW_OK ||
        hash_int(h, rec_id) != GW_OK || hash_int(h, session_id) != GW_OK ||
        st_hash_field(h, header) != GW_OK ||
        st_hash_field(h, created_at) != GW_OK ||
        gw_sha256_final_hex(h, out) != GW_OK) {
        rc = GW_ERR_CRYPTO;
    }
    gw_sha256_free(h);
    return rc;
}

int st_chunk_digest(const char *prev, int64_t seq, const char *data, size_t len,
                    char out[GW_SHA256_HEX_LEN])
{
    struct gw_sha256 *h = NULL;
    int rc = gw_sha256_new(&h);

    if (rc != GW_OK) {
        return rc;
    }
    if (gw_sha256_update(h, prev, strlen(prev)) != GW_OK ||
        hash_int(h, seq) != GW_OK || st_hash_field_n(h, data, len) != GW_OK ||
        gw_sha256_final_hex(h, out) != GW_OK) {
        rc = GW_ERR_CRYPTO;
    }
    gw_sha256_free(h);
    return rc;
}

/* The chain over every chunk from the start: for recordings begun before
 * schema 3, which keep no running digest. */
static int rechain_chunks(struct store *st, int64_t rec_id,
                          char out[GW_SHA256_HEX_LEN])
{
    struct st_stmt *stmt = NULL;
    int step;
    int rc = st_prepare(st,
                        "SELECT seq, data FROM recording_chunks WHERE "
                        "recording_id = ?1 ORDER BY id",
                        &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, rec_id);
    while ((step = st_step(stmt)) == ST_ROW) {
        const char *data = (const char *)st_col_text(stmt, 1);
        rc = st_chunk_digest(out, st_col_int64(stmt, 0),
                             data != NULL ? data : "",
                             (size_t)st_col_bytes(stmt, 1), out);
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

struct rec_tail {
    int64_t id;
    int64_t session_id;
    char header_base[GW_SHA256_HEX_LEN];
    char digest[GW_SHA256_HEX_LEN]; /* "" when NULL */
};

static int read_rec_tail(struct st_stmt *stmt, void *arg)
{
    struct rec_tail *t = arg;

    t->id = st_col_int64(stmt, 0);
    t->session_id = st_col_int64(stmt, 1);
    st_col_copy(stmt, 4, t->digest, sizeof(t->digest));
    return st_recording_base(
        t->id, t->session_id, (const char *)st_col_text(stmt, 2),
        (const char *)st_col_text(stmt, 3), t->header_base);
}

int st_recording_tail(struct store *st, int64_t session_id, int64_t *rec_id,
                      char out[GW_SHA256_HEX_LEN])
{
    struct rec_tail t;
    int rc;

    memset(&t, 0, sizeof(t));
    rc = st_get_one(st,
                    "SELECT id, session_id, header, created_at, digest "
                    "FROM recordings WHERE session_id = ?1",
                    ST_PARAMS(ST_INT64(session_id)), read_rec_tail, &t,
                    "reading recording");
    if (rc != GW_OK) {
        return rc;
    }
    *rec_id = t.id;
    if (t.digest[0] != '\0') {
        memcpy(out, t.digest, GW_SHA256_HEX_LEN);
        return GW_OK;
    }
    memcpy(out, t.header_base, GW_SHA256_HEX_LEN);
    return rechain_chunks(st, t.id, out);
}

/* ---- late records ------------------------------------------------------ */

struct ended_who {
    bool ended;
    char user[GW_NAME_MAX + 1];
    char client[STORE_CLIENT_MAX];
};

static int read_ended_who(struct st_stmt *stmt, void *arg)
{
    struct ended_who *w = arg;

    w->ended = st_col_int(stmt, 0) != 0;
    st_col_copy(stmt, 1, w->user, sizeof(w->user));
    st_col_copy(stmt, 2, w->client, sizeof(w->client));
    return GW_OK;
}

/* Whether session_id has ended, and who it was; not ended when there is
 * no such session (whoever writes its end binds what is there). */
static int ended_who(struct store *st, int64_t session_id, struct ended_who *w)
{
    int rc;

    memset(w, 0, sizeof(*w));
    rc = st_get_one(st,
                    "SELECT ended_at IS NOT NULL, username, client_addr "
                    "FROM sessions WHERE id = ?1",
                    ST_PARAMS(ST_INT64(session_id)), read_ended_who, w,
                    "reading session");
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}

int st_transfers_if_ended(struct store *st, int64_t session_id,
                          char out[GW_SHA256_HEX_LEN])
{
    struct ended_who w;
    int rc = ended_who(st, session_id, &w);

    out[0] = '\0';
    if (rc != GW_OK || !w.ended) {
        return rc;
    }
    return st_transfers_digest(st, session_id, out);
}

/* The amend itself: what came late (what, row) and, for a file transfer
 * row replaced in place, the transfers= digest it replaced ("" if none). */
static int amend(struct store *st, int64_t session_id, enum st_amend what,
                 int64_t row, const char *replaced)
{
    struct ended_who w;
    char digest[GW_SHA256_HEX_LEN];
    int64_t rec_id = 0;
    int rc = ended_who(st, session_id, &w);

    if (rc != GW_OK || !w.ended) {
        return rc; /* session.end will bind it */
    }
    if (what == ST_AMEND_RECORDING) {
        rc = st_recording_tail(st, session_id, &rec_id, digest);
    } else {
        rc = st_transfers_digest(st, session_id, digest);
    }
    if (rc != GW_OK) {
        return rc;
    }
    /* A record came after the session's end: this event binds what came
     * late, and names the row it adds (none for a recording's start) or
     * replaces. */
    if (what == ST_AMEND_TRANSFERS && replaced[0] != '\0') {
        return store_event_addf(st, "session.amend", w.user, w.client,
                                "session=%lld transfers=%s transfer=%lld "
                                "replaced=%s",
                                (long long)session_id, digest, (long long)row,
                                replaced);
    }
    if (what == ST_AMEND_TRANSFERS) {
        return store_event_addf(st, "session.amend", w.user, w.client,
                                "session=%lld transfers=%s transfer=%lld",
                                (long long)session_id, digest, (long long)row);
    }
    if (row == 0) {
        return store_event_addf(st, "session.amend", w.user, w.client,
                                "session=%lld recording=%s",
                                (long long)session_id, digest);
    }
    return store_event_addf(st, "session.amend", w.user, w.client,
                            "session=%lld recording=%s chunk=%lld",
                            (long long)session_id, digest, (long long)row);
}

int st_session_amend(struct store *st, int64_t session_id, enum st_amend what,
                     int64_t row)
{
    return amend(st, session_id, what, row, "");
}

int st_session_amend_replaced(struct store *st, int64_t session_id, int64_t row,
                              const char *replaced)
{
    return amend(st, session_id, ST_AMEND_TRANSFERS, row, replaced);
}
