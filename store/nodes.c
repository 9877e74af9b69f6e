#include "store/nodes.h"

#include "core/timeutil.h"
#include "store/internal.h"

#include <string.h>

int store_node_heartbeat(struct store *st, const struct store_node_beat *beat,
                         int64_t now_ms)
{
    struct st_stmt *stmt = NULL;
    char started[GW_TIME_LEN];
    char now[GW_TIME_LEN];
    int rc;

    st_time_text(beat->started_ms, started);
    st_time_text(now_ms, now);
    /* One statement, so two heartbeats never race to insert. */
    rc = st_prepare(st,
                    "INSERT INTO nodes (name, version, started_at, "
                    "heartbeat_at, created_at, listen, lost_after_ms) VALUES "
                    "(?1, ?2, ?3, ?4, ?4, ?5, ?6) ON CONFLICT (name) DO "
                    "UPDATE SET version = excluded.version, started_at = "
                    "excluded.started_at, heartbeat_at = "
                    "excluded.heartbeat_at, listen = excluded.listen, "
                    "lost_after_ms = excluded.lost_after_ms",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, beat->node);
    st_bind_text(stmt, 2, beat->version);
    st_bind_text(stmt, 3, started);
    st_bind_text(stmt, 4, now);
    st_bind_text(stmt, 5, beat->listen != NULL ? beat->listen : "");
    st_bind_int64(stmt, 6, beat->lost_after_ms);
    return st_exec_stmt(st, stmt, "recording a heartbeat");
}

static int read_heartbeat(struct st_stmt *stmt, void *out)
{
    const char *text = st_col_text(stmt, 0);

    if (text == NULL || gw_time_iso_parse_ms(text, out) != GW_OK) {
        return gw_err_set(GW_ERR_DB, "heartbeat time '%s' is not a time",
                          text != NULL ? text : "");
    }
    return GW_OK;
}

int store_node_last_heartbeat(struct store *st, const char *node, int64_t *ms)
{
    int rc = st_get_one(st, "SELECT heartbeat_at FROM nodes WHERE name = ?1",
                        ST_PARAMS(ST_TEXT(node)), read_heartbeat, ms,
                        "reading a heartbeat");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no heartbeat of node '%s'", node);
    }
    return rc;
}

static int read_node(struct st_stmt *stmt, void *elem)
{
    struct store_node *n = elem;

    memset(n, 0, sizeof(*n));
    st_col_copy(stmt, 0, n->name, sizeof(n->name));
    st_col_copy(stmt, 1, n->version, sizeof(n->version));
    st_col_copy(stmt, 2, n->listen, sizeof(n->listen));
    st_col_copy(stmt, 3, n->started_at, sizeof(n->started_at));
    st_col_copy(stmt, 4, n->heartbeat_at, sizeof(n->heartbeat_at));
    n->lost_after_ms = st_col_int64(stmt, 5);
    n->open_sessions = st_col_int64(stmt, 6);
    if (gw_time_iso_parse_ms(n->heartbeat_at, &n->heartbeat_ms) != GW_OK) {
        return gw_err_set(GW_ERR_DB,
                          "node %s: heartbeat time '%s' is not a "
                          "time",
                          n->name, n->heartbeat_at);
    }
    return GW_OK;
}

int store_node_list(struct store *st, int64_t now_ms, struct store_node **nodes,
                    size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_node), read_node,
                                        NULL, "listing nodes"};
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st,
                        "SELECT n.name, n.version, n.listen, n.started_at, "
                        "n.heartbeat_at, n.lost_after_ms, (SELECT count(*) "
                        "FROM sessions s WHERE s.node = n.name AND "
                        "s.ended_at IS NULL) FROM nodes n ORDER BY n.name",
                        &stmt);

    if (rc != GW_OK) {
        return rc;
    }
    rc = st_collect(st, stmt, &rows, nodes, n);
    for (size_t i = 0; rc == GW_OK && i < *n; i++) {
        struct store_node *node = &(*nodes)[i];
        node->lost = now_ms - node->heartbeat_ms > node->lost_after_ms;
    }
    return rc;
}
