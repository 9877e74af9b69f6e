#include "store/events.h"

#include "core/strutil.h"
#include "store/internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char genesis_hash[GW_SHA256_HEX_LEN] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* hash = sha256(prev_hash || id, created_at, kind, user, client, detail) */
int st_event_hash(int64_t id, const char *created_at, const char *kind,
                  const char *user, const char *client, const char *detail,
                  const char *prev_hash, char out[GW_SHA256_HEX_LEN])
{
    struct gw_sha256 *h = NULL;
    char idtext[24];
    int rc;

    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    rc = gw_sha256_new(&h);
    if (rc != GW_OK) {
        return rc;
    }
    if (gw_sha256_update(h, prev_hash, strlen(prev_hash)) != GW_OK ||
        st_hash_field(h, idtext) != GW_OK ||
        st_hash_field(h, created_at) != GW_OK ||
        st_hash_field(h, kind) != GW_OK || st_hash_field(h, user) != GW_OK ||
        st_hash_field(h, client) != GW_OK ||
        st_hash_field(h, detail) != GW_OK) {
        rc = GW_ERR_CRYPTO;
    } else {
        rc = gw_sha256_final_hex(h, out);
    }
    gw_sha256_free(h);
    return rc;
}

static int read_hash_row(struct st_stmt *stmt, void *out)
{
    st_col_copy(stmt, 0, out, GW_SHA256_HEX_LEN);
    return GW_OK;
}

/* The hash of the newest event; the genesis hash when there is none. */
static int last_hash(struct store *st, char out[GW_SHA256_HEX_LEN])
{
    int rc = st_get_one(st, "SELECT hash FROM events ORDER BY id DESC LIMIT 1",
                        NULL, 0, read_hash_row, out, "reading last event");

    if (rc == GW_ERR_NOTFOUND) {
        memcpy(out, genesis_hash, GW_SHA256_HEX_LEN);
        rc = GW_OK;
    }
    return rc;
}

/* Untrusted text (login names from clients) is cut to a bounded size. */
static void bounded_copy(char *dst, size_t cap, const char *src)
{
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    (void)gw_strlcpy(dst, src, cap);
}

static int insert_event(struct store *st, int64_t at_ms, const char *kind,
                        const char *user, const char *client,
                        const char *detail)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char prev[GW_SHA256_HEX_LEN];
    char hash[GW_SHA256_HEX_LEN];
    char user_c[STORE_EVENT_USER_MAX + 1];
    char client_c[STORE_EVENT_CLIENT_MAX];
    const char *u = NULL, *c = NULL;
    int64_t id;
    int step;
    int rc;

    bounded_copy(user_c, sizeof(user_c), user);
    bounded_copy(client_c, sizeof(client_c), client);
    u = user != NULL ? user_c : NULL;
    c = client != NULL ? client_c : NULL;
    st_time_text(at_ms, now);
    rc = last_hash(st, prev);
    if (rc != GW_OK) {
        return rc;
    }
    /* Insert first to learn the id the database gives, then seal it:
     * AUTOINCREMENT on SQLite, sshgate_event_seq on PostgreSQL (both
     * move with the transaction, never back). */
    rc = st_prepare(st,
                    ST_SQL(st,
                           "INSERT INTO events (created_at, kind, username, "
                           "client_addr, detail, prev_hash, hash) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, '') RETURNING id",
                           "WITH next AS (UPDATE sshgate_event_seq SET "
                           "last_id = last_id + 1 RETURNING last_id) "
                           "INSERT INTO events (id, created_at, kind, "
                           "username, client_addr, detail, prev_hash, hash) "
                           "SELECT last_id, ?1, ?2, ?3, ?4, ?5, ?6, '' FROM "
                           "next RETURNING id"),
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, now);
    st_bind_text(stmt, 2, kind);
    st_bind_text(stmt, 3, u);
    st_bind_text(stmt, 4, c);
    st_bind_text(stmt, 5, detail != NULL ? detail : "");
    st_bind_text(stmt, 6, prev);
    step = st_step(stmt);
    id = step == ST_ROW ? st_col_int64(stmt, 0) : 0;
    if (step == ST_ROW) {
        step = st_step(stmt);
    }
    rc = step == ST_DONE ? GW_OK : st_fail(st, step, "appending event");
    st_done(st, stmt);
    if (rc != GW_OK) {
        return rc;
    }
    rc = st_event_hash(id, now, kind, u, c, detail != NULL ? detail : "", prev,
                       hash);
    if (rc != GW_OK) {
        return rc;
    }
    rc = st_prepare(st, "UPDATE events SET hash = ?2 WHERE id = ?1", &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, hash);
    return st_exec_stmt(st, stmt, "sealing event");
}

int store_event_add(struct store *st, const char *kind, const char *user,
                    const char *client, const char *detail)
{
    return store_event_add_at(st, 0, kind, user, client, detail);
}

int store_event_add_at(struct store *st, int64_t at_ms, const char *kind,
                       const char *user, const char *client, const char *detail)
{
    bool own_tx = !st_in_transaction(st);
    int rc;

    /* The chain needs "read last hash, insert" under the write lock. */
    if (own_tx) {
        rc = store_begin(st);
        if (rc != GW_OK) {
            return rc;
        }
    }
    rc = insert_event(st, at_ms, kind, user, client, detail);
    if (own_tx) {
        if (rc == GW_OK) {
            rc = store_commit(st);
        }
        if (rc != GW_OK) {
            store_rollback(st);
        }
    }
    return rc;
}

int store_event_addf(struct store *st, const char *kind, const char *user,
                     const char *client, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return store_event_add(st, kind, user, client, detail);
}

int store_event_addf_at(struct store *st, int64_t at_ms, const char *kind,
                        const char *user, const char *client, const char *fmt,
                        ...)
{
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return store_event_add_at(st, at_ms, kind, user, client, detail);
}

static int read_event(struct st_stmt *stmt, struct store_event *e)
{
    memset(e, 0, sizeof(*e));
    e->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, e->created_at, sizeof(e->created_at));
    st_col_copy(stmt, 2, e->kind, sizeof(e->kind));
    st_col_copy(stmt, 3, e->user, sizeof(e->user));
    st_col_copy(stmt, 4, e->client, sizeof(e->client));
    e->detail = st_col_dup(stmt, 5);
    st_col_copy(stmt, 6, e->prev_hash, sizeof(e->prev_hash));
    st_col_copy(stmt, 7, e->hash, sizeof(e->hash));
    return e->detail != NULL ? GW_OK : GW_ERR_NOMEM;
}

void store_event_list_free(struct store_event *events, size_t n)
{
    if (events == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(events[i].detail);
    }
    free(events);
}

static int read_event_row(struct st_stmt *stmt, void *elem)
{
    return read_event(stmt, elem);
}

static void clear_event_row(void *elem)
{
    struct store_event *e = elem;

    free(e->detail);
}

int store_event_list(struct store *st, const struct store_event_filter *filter,
                     struct store_event **events, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_event),
                                        read_event_row, clear_event_row,
                                        "listing events"};
    struct st_stmt *stmt = NULL;
    bool prefix = filter->kind != NULL && filter->kind[0] != '\0' &&
                  filter->kind[strlen(filter->kind) - 1] == '.';
    int rc;

    /* Newest `limit` rows, returned oldest first; from first_id on, the
     * oldest `limit`. */
/* PostgreSQL types a parameter where it first meets a column: each
 * comparison comes before its "?N IS NULL". */
#define EVENT_LIST_WHERE                                                  \
    "SELECT id, created_at, kind, username, client_addr, detail, "        \
    "prev_hash, hash FROM events WHERE (created_at >= ?1 OR ?1 IS NULL) " \
    "AND (kind = ?2 OR ?2 IS NULL OR (?3 = 1 AND substr(kind, 1, "        \
    "length(?2)) = ?2)) AND (username = ?4 OR ?4 IS NULL) AND id >= ?6 "
    rc = st_prepare(st,
                    filter->first_id > 0
                        ? EVENT_LIST_WHERE "ORDER BY id LIMIT ?5"
                        : "SELECT * FROM (" EVENT_LIST_WHERE
                          "ORDER BY id DESC LIMIT ?5) AS newest ORDER BY id",
                    &stmt);
#undef EVENT_LIST_WHERE
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, filter->since);
    st_bind_text(stmt, 2, filter->kind);
    st_bind_int(stmt, 3, prefix);
    st_bind_text(stmt, 4, filter->user);
    st_bind_limit(stmt, 5, (int64_t)filter->limit);
    st_bind_int64(stmt, 6, filter->first_id);
    return st_collect(st, stmt, &rows, events, n);
}

/* The highest id AUTOINCREMENT ever handed out, 0 if none. */

int st_event_sequence(struct store *st, int64_t *seq)
{
    int rc;

    *seq = 0;
    rc = st_get_one(st,
                    ST_SQL(st,
                           "SELECT seq FROM sqlite_sequence WHERE name = "
                           "'events'",
                           "SELECT last_id FROM sshgate_event_seq"),
                    NULL, 0, st_row_int64, seq, "reading the event sequence");
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}
