#include "store/conn_kills.h"

#include "core/err.h"
#include "core/timeutil.h"
#include "store/internal.h"
#include "store/users.h"

#include <ctype.h>
#include <string.h>

/* "<hex>-<decimal>": gateway/conn/conn.c makes every uid so. Checked
 * here so that a typo is an error rather than a request nobody takes. */
static bool uid_valid(const char *uid)
{
    size_t hex = strspn(uid, "0123456789abcdef");
    size_t dec;

    if (hex == 0 || uid[hex] != '-') {
        return false;
    }
    dec = strspn(uid + hex + 1, "0123456789");
    return dec > 0 && uid[hex + 1 + dec] == '\0' &&
           hex + 1 + dec < STORE_CONN_UID_MAX;
}

static int insert_request(struct store *st, const char *node,
                          const char *conn_uid, const char *user,
                          const char *by)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO conn_kills (node, conn_uid, username, "
                    "requested_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, node);
    st_bind_text(stmt, 2, conn_uid);
    st_bind_text(stmt, 3, user);
    st_bind_text(stmt, 4, by);
    st_bind_text(stmt, 5, now);
    return st_insert(st, stmt, "requesting a connection's end", NULL);
}

int store_conn_kill_request(struct store *st, const char *conn_uid,
                            const char *by)
{
    if (!uid_valid(conn_uid)) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not a connection uid",
                          conn_uid);
    }
    return insert_request(st, NULL, conn_uid, NULL, by);
}

int store_user_kick_request(struct store *st, const char *node,
                            const char *user, const char *by)
{
    struct store_user u;
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc = store_user_get(st, user, &u);

    if (rc != GW_OK) {
        return rc;
    }
    /* One request per node of the cluster: each ends the user's
     * connections it serves and marks its own request handled. */
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO conn_kills (node, username, requested_by, "
                    "created_at) SELECT name, ?1, ?2, ?3 FROM nodes",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, user);
    st_bind_text(stmt, 2, by);
    st_bind_text(stmt, 3, now);
    rc = st_exec_stmt(st, stmt, "requesting a user's end");
    if (rc != GW_OK || st_changes(st) > 0) {
        return rc;
    }
    /* No node has run yet: the one named, for when it does. */
    return insert_request(st, node, NULL, user, by);
}

static int read_kill(struct st_stmt *stmt, void *out)
{
    struct store_conn_kill *k = out;

    memset(k, 0, sizeof(*k));
    k->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, k->conn_uid, sizeof(k->conn_uid));
    st_col_copy(stmt, 2, k->user, sizeof(k->user));
    return GW_OK;
}

int store_conn_kills_pending(struct store *st, const char *node,
                             const char *run_prefix,
                             struct store_conn_kill **kills, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_conn_kill),
                                        read_kill, NULL,
                                        "reading connection kill requests"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st,
                    "SELECT id, conn_uid, username FROM conn_kills WHERE "
                    "handled_at IS NULL AND ((username IS NOT NULL AND "
                    "node = ?1) OR (conn_uid IS NOT NULL AND "
                    "substr(conn_uid, 1, length(?2)) = ?2)) ORDER BY id",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, node);
    st_bind_text(stmt, 2, run_prefix);
    return st_collect(st, stmt, &rows, kills, n);
}

int store_conn_kill_done(struct store *st, int64_t id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "UPDATE conn_kills SET handled_at = ?2 WHERE id = ?1 AND "
                    "handled_at IS NULL",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, now);
    return st_exec_stmt(st, stmt, "marking a connection kill handled");
}
