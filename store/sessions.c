#include "store/sessions.h"

#include "core/strutil.h"
#include "store/events.h"
#include "store/internal.h"
#include "store/recordings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_COLUMNS                                                      \
    "s.id, s.node, s.conn_uid, s.channel, s.username, s.client_addr, "       \
    "s.host, s.login, s.kind, s.command, s.pty, s.started_at, s.ended_at, "  \
    "s.bytes_up, s.bytes_down, s.exit_status, s.exit_signal, s.end_reason, " \
    "EXISTS (SELECT 1 FROM recordings r WHERE r.session_id = s.id), "        \
    "(SELECT count(*) FROM file_transfers f WHERE f.session_id = s.id)"

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

struct start_args {
    const struct store_session_start *s;
    int64_t *id;
};

static int start_tx(struct store *st, void *arg)
{
    struct start_args *a = arg;
    const struct store_session_start *s = a->s;
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char extra[3072];
    int rc;

    st_time_text(s->at_ms, now);
    rc = st_prepare(st,
                    "INSERT INTO sessions (node, conn_uid, channel, username, "
                    "client_addr, host, login, kind, command, pty, "
                    "started_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                    "?7, ?8, ?9, ?10, ?11, ?11)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, s->node);
    st_bind_text(stmt, 2, s->conn_uid);
    st_bind_int(stmt, 3, s->channel);
    st_bind_text(stmt, 4, s->user);
    st_bind_text(stmt, 5, s->client);
    st_bind_text(stmt, 6, s->host);
    st_bind_text(stmt, 7, s->login);
    st_bind_text(stmt, 8, s->kind);
    st_bind_text(stmt, 9, s->command);
    st_bind_int(stmt, 10, s->pty ? 1 : 0);
    st_bind_text(stmt, 11, now);
    rc = st_insert(st, stmt, "starting session", a->id);
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(rc, "channel %d of connection %s has a session already",
                        s->channel, s->conn_uid);
    }
    if (rc != GW_OK) {
        return rc;
    }
    /* Without the caller's pairs, the command, quoted. */
    if (s->detail == NULL) {
        char quoted[sizeof(extra) - 16];
        gw_sanitize(or_dash(s->command), quoted, sizeof(quoted));
        snprintf(extra, sizeof(extra), "command=\"%s\"", quoted);
    } else {
        snprintf(extra, sizeof(extra), "%s", s->detail);
    }
    return store_event_addf_at(
        st, s->at_ms, "session.start", s->user, s->client,
        "session=%lld conn=%s channel=%d kind=%s host=%s login=%s pty=%s%s%s",
        (long long)*a->id, s->conn_uid, s->channel, s->kind, or_dash(s->host),
        or_dash(s->login), s->pty ? "yes" : "no", extra[0] != '\0' ? " " : "",
        extra);
}

int store_session_start(struct store *st, const struct store_session_start *s,
                        int64_t *id)
{
    struct start_args a = {s, id};

    return st_transaction(st, start_tx, &a);
}

struct end_args {
    int64_t id;
    const struct store_session_end *e;
};

/* Who and what a session is, for its end event. */
struct session_who {
    char user[GW_NAME_MAX + 1];
    char client[STORE_CLIENT_MAX];
    char kind[32];
    bool ended;
};

static int read_who_row(struct st_stmt *stmt, void *out)
{
    struct session_who *w = out;

    st_col_copy(stmt, 0, w->user, sizeof(w->user));
    st_col_copy(stmt, 1, w->client, sizeof(w->client));
    w->ended = st_col_int(stmt, 2) != 0;
    st_col_copy(stmt, 3, w->kind, sizeof(w->kind));
    return GW_OK;
}

static int get_session_who(struct store *st, int64_t id, struct session_who *w)
{
    int rc =
        st_get_one(st,
                   "SELECT username, client_addr, ended_at IS NOT NULL, "
                   "kind FROM sessions WHERE id = ?1",
                   ST_PARAMS(ST_INT64(id)), read_who_row, w, "reading session");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no session %lld", (long long)id);
    }
    return rc;
}

/* The digests session.end binds into the chain (store/chain.c). */
struct end_digests {
    char row[GW_SHA256_HEX_LEN];
    char recording[GW_SHA256_HEX_LEN]; /* "none" without a recording */
    char transfers[GW_SHA256_HEX_LEN];
};

static int end_digests(struct store *st, int64_t id, struct end_digests *d)
{
    int64_t rec_id = 0;
    int rc = st_session_row_digest(st, id, d->row);

    if (rc == GW_OK) {
        rc = st_transfers_digest(st, id, d->transfers);
    }
    if (rc == GW_OK) {
        rc = st_recording_tail(st, id, &rec_id, d->recording);
        if (rc == GW_ERR_NOTFOUND) {
            snprintf(d->recording, sizeof(d->recording), "none");
            rc = GW_OK;
        }
    }
    return rc;
}

static int end_event(struct store *st, const struct end_args *a,
                     const struct session_who *w)
{
    const struct store_session_end *e = a->e;
    struct end_digests d;
    char status[16] = "-";
    char reason[256];
    int rc = end_digests(st, a->id, &d);

    if (rc != GW_OK) {
        return rc;
    }
    if (e->has_exit_status) {
        snprintf(status, sizeof(status), "%d", e->exit_status);
    }
    gw_sanitize(or_dash(e->reason), reason, sizeof(reason));
    /* The digests come right after session= and kind=, before any value
     * from outside (exit_signal is the backend's word): the first key of a
     * name is the one verification reads. */
    return store_event_addf_at(
        st, e->at_ms, "session.end", w->user, w->client,
        "session=%lld kind=%s row=%s recording=%s transfers=%s "
        "bytes_up=%llu bytes_down=%llu exit_status=%s exit_signal=%s "
        "reason=\"%s\"",
        (long long)a->id, w->kind, d.row, d.recording, d.transfers,
        (unsigned long long)e->bytes_up, (unsigned long long)e->bytes_down,
        status, or_dash(e->exit_signal), reason);
}

static int end_tx(struct store *st, void *arg)
{
    struct end_args *a = arg;
    const struct store_session_end *e = a->e;
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    struct session_who w;
    int rc;

    rc = get_session_who(st, a->id, &w);
    if (rc != GW_OK) {
        return rc;
    }
    if (w.ended) {
        return gw_err_set(GW_ERR_EXISTS, "session %lld has ended already",
                          (long long)a->id);
    }
    st_time_text(e->at_ms, now);
    rc = st_prepare(st,
                    "UPDATE sessions SET ended_at = ?2, bytes_up = ?3, "
                    "bytes_down = ?4, exit_status = ?5, exit_signal = ?6, "
                    "end_reason = ?7 WHERE id = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, a->id);
    st_bind_text(stmt, 2, now);
    st_bind_int64(stmt, 3, (int64_t)e->bytes_up);
    st_bind_int64(stmt, 4, (int64_t)e->bytes_down);
    if (e->has_exit_status) {
        st_bind_int(stmt, 5, e->exit_status);
    }
    st_bind_text(stmt, 6, e->exit_signal);
    st_bind_text(stmt, 7, e->reason);
    rc = st_exec_stmt(st, stmt, "ending session");
    if (rc != GW_OK) {
        return rc;
    }
    return end_event(st, a, &w);
}

int store_session_end(struct store *st, int64_t id,
                      const struct store_session_end *e)
{
    struct end_args a = {id, e};

    return st_transaction(st, end_tx, &a);
}

int store_session_add_bytes(struct store *st, int64_t id, uint64_t up,
                            uint64_t down)
{
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "UPDATE sessions SET bytes_up = bytes_up + ?2, "
                    "bytes_down = bytes_down + ?3 WHERE id = ?1 AND "
                    "ended_at IS NULL",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_int64(stmt, 2, (int64_t)up);
    st_bind_int64(stmt, 3, (int64_t)down);
    return st_exec_stmt(st, stmt, "counting session bytes");
}

/* Ids of node's sessions still open. */
static int open_sessions(struct store *st, const char *node, int64_t **ids,
                         size_t *n)
{
    static const struct st_rows rows = {sizeof(int64_t), st_row_int64, NULL,
                                        "listing open sessions"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT id FROM sessions WHERE node = ?1 AND ended_at IS "
                    "NULL ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, node);
    return st_collect(st, stmt, &rows, ids, n);
}

struct orphan_args {
    int64_t id;
    const char *reason;
    int64_t ended_ms;
    const char *keep_prefix; /* conn_uids of the running daemon */
    bool *kept;
};

/* The end of an orphan: the last sign of life, never before its start. */
static int64_t orphan_end_ms(const struct store_session *s, int64_t ended_ms)
{
    int64_t started_ms = 0;

    if (ended_ms != 0 &&
        gw_time_iso_parse_ms(s->started_at, &started_ms) == GW_OK &&
        started_ms > ended_ms) {
        return started_ms;
    }
    return ended_ms;
}

/* A crash cut the recording: say so before the end binds it. */
static int orphan_recording(struct store *st, const struct store_session *s,
                            int64_t at_ms)
{
    static const char why[] = "cut by a crash";
    int64_t rec_id = 0;
    int rc = st_get_one(st, "SELECT id FROM recordings WHERE session_id = ?1",
                        ST_PARAMS(ST_INT64(s->id)), st_row_int64, &rec_id,
                        "reading recording");

    if (rc == GW_ERR_NOTFOUND) {
        return GW_OK;
    }
    if (rc == GW_OK) {
        rc = store_recording_degraded(st, rec_id, why);
    }
    if (rc == GW_OK) {
        rc = store_event_addf_at(st, at_ms, "recording.degraded", s->user,
                                 s->client, "session=%lld reason=\"%s\"",
                                 (long long)s->id, why);
    }
    return rc;
}

static int orphan_tx(struct store *st, void *arg)
{
    const struct orphan_args *o = arg;
    struct store_session_end e = {.reason = o->reason};
    struct end_args a = {o->id, &e};
    struct store_session s;
    int rc = store_session_get(st, o->id, &s);

    if (rc != GW_OK) {
        return rc;
    }
    if (o->keep_prefix != NULL && o->keep_prefix[0] != '\0' &&
        strncmp(s.conn_uid, o->keep_prefix, strlen(o->keep_prefix)) == 0) {
        *o->kept = true; /* the running daemon's own: not an orphan */
        store_session_clear(&s);
        return GW_OK;
    }
    if (s.ended_at[0] != '\0') {
        /* Ended since the list was read: another node of the cluster
         * closed it first (under the same write lock). */
        *o->kept = true;
        store_session_clear(&s);
        return GW_OK;
    }
    /* Keep the bytes counted so far by periodic flushes. */
    e.bytes_up = s.bytes_up;
    e.bytes_down = s.bytes_down;
    e.at_ms = orphan_end_ms(&s, o->ended_ms);
    rc = orphan_recording(st, &s, e.at_ms);
    store_session_clear(&s);
    if (rc == GW_OK) {
        rc = end_tx(st, &a);
    }
    return rc;
}

int store_session_close_orphans_at(struct store *st, const char *node,
                                   const char *keep_prefix, const char *reason,
                                   int64_t ended_ms, int *closed)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    *closed = 0;
    rc = open_sessions(st, node, &ids, &n);
    for (size_t i = 0; rc == GW_OK && i < n; i++) {
        bool kept = false;
        struct orphan_args o = {ids[i], reason, ended_ms, keep_prefix, &kept};
        rc = st_transaction(st, orphan_tx, &o);
        if (rc == GW_OK && !kept) {
            (*closed)++;
        }
    }
    free(ids);
    return rc;
}

int store_session_close_orphans(struct store *st, const char *node,
                                const char *reason, int *closed)
{
    return store_session_close_orphans_at(st, node, NULL, reason, 0, closed);
}

int store_session_find(struct store *st, const char *conn_uid, int channel,
                       int64_t *id)
{
    int rc = st_get_one(st,
                        "SELECT id FROM sessions WHERE conn_uid = ?1 AND "
                        "channel = ?2 ORDER BY id DESC LIMIT 1",
                        ST_PARAMS(ST_TEXT(conn_uid), ST_INT64(channel)),
                        st_row_int64, id, "finding session");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND,
                        "no session of channel %d of connection %s", channel,
                        conn_uid);
    }
    return rc;
}

static int read_session_row(struct st_stmt *stmt, void *elem)
{
    struct store_session *s = elem;

    memset(s, 0, sizeof(*s));
    s->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, s->node, sizeof(s->node));
    st_col_copy(stmt, 2, s->conn_uid, sizeof(s->conn_uid));
    s->channel = st_col_int(stmt, 3);
    st_col_copy(stmt, 4, s->user, sizeof(s->user));
    st_col_copy(stmt, 5, s->client, sizeof(s->client));
    st_col_copy(stmt, 6, s->host, sizeof(s->host));
    st_col_copy(stmt, 7, s->login, sizeof(s->login));
    st_col_copy(stmt, 8, s->kind, sizeof(s->kind));
    s->pty = st_col_int(stmt, 10) != 0;
    st_col_copy(stmt, 11, s->started_at, sizeof(s->started_at));
    st_col_copy(stmt, 12, s->ended_at, sizeof(s->ended_at));
    s->bytes_up = (uint64_t)st_col_int64(stmt, 13);
    s->bytes_down = (uint64_t)st_col_int64(stmt, 14);
    s->has_exit_status = !st_col_is_null(stmt, 15);
    s->exit_status = st_col_int(stmt, 15);
    st_col_copy(stmt, 16, s->exit_signal, sizeof(s->exit_signal));
    s->recorded = st_col_int(stmt, 18) != 0;
    s->transfers = st_col_int(stmt, 19);
    s->command = strdup(
        st_col_is_null(stmt, 9) ? "" : (const char *)st_col_text(stmt, 9));
    s->end_reason = strdup(
        st_col_is_null(stmt, 17) ? "" : (const char *)st_col_text(stmt, 17));
    if (s->command == NULL || s->end_reason == NULL) {
        store_session_clear(s);
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

void store_session_clear(struct store_session *s)
{
    free(s->command);
    free(s->end_reason);
    s->command = NULL;
    s->end_reason = NULL;
}

static void clear_session_row(void *elem)
{
    store_session_clear(elem);
}

void store_session_list_free(struct store_session *sessions, size_t n)
{
    if (sessions == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        store_session_clear(&sessions[i]);
    }
    free(sessions);
}

int store_session_list(struct store *st,
                       const struct store_session_filter *filter,
                       struct store_session **sessions, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_session),
                                        read_session_row, clear_session_row,
                                        "listing sessions"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT * FROM (SELECT " SESSION_COLUMNS
                    " FROM sessions s WHERE (s.username = ?1 OR ?1 IS NULL) "
                    "AND (s.host = ?2 OR ?2 IS NULL) AND (s.started_at >= "
                    "?3 OR ?3 IS NULL OR s.ended_at IS NULL OR s.ended_at "
                    ">= ?3) AND (?4 = 0 OR s.ended_at IS NULL) ORDER BY "
                    "s.id DESC LIMIT ?5) AS newest ORDER BY 1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, filter->user);
    st_bind_text(stmt, 2, filter->host);
    st_bind_text(stmt, 3, filter->since);
    st_bind_int(stmt, 4, filter->active_only ? 1 : 0);
    st_bind_limit(stmt, 5, (int64_t)filter->limit);
    return st_collect(st, stmt, &rows, sessions, n);
}

int store_session_get(struct store *st, int64_t id, struct store_session *out)
{
    int rc = st_get_one(
        st, "SELECT " SESSION_COLUMNS " FROM sessions s WHERE s.id = ?1",
        ST_PARAMS(ST_INT64(id)), read_session_row, out, "reading session");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no session %lld", (long long)id);
    }
    return rc;
}

int store_session_request_kill(struct store *st, int64_t id, const char *by)
{
    struct store_session s;
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    bool ended;
    int rc;

    rc = store_session_get(st, id, &s);
    if (rc != GW_OK) {
        return rc;
    }
    ended = s.ended_at[0] != '\0';
    store_session_clear(&s);
    if (ended) {
        return gw_err_set(GW_ERR_INVALID, "session %lld has ended already",
                          (long long)id);
    }
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO session_kills (session_id, requested_by, "
                    "created_at) VALUES (?1, ?2, ?3)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, by);
    st_bind_text(stmt, 3, now);
    return st_insert(st, stmt, "requesting kill", NULL);
}

int store_session_pending_kills(struct store *st, const char *node,
                                int64_t **ids, size_t *n)
{
    static const struct st_rows rows = {sizeof(int64_t), st_row_int64, NULL,
                                        "reading kill requests"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT DISTINCT k.session_id FROM session_kills k JOIN "
                    "sessions s ON s.id = k.session_id WHERE k.handled_at IS "
                    "NULL AND s.node = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, node);
    return st_collect(st, stmt, &rows, ids, n);
}

int store_session_kill_done(struct store *st, int64_t id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "UPDATE session_kills SET handled_at = ?2 WHERE "
                    "session_id = ?1 AND handled_at IS NULL",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, now);
    return st_exec_stmt(st, stmt, "marking kill handled");
}
