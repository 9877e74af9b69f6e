#include "store/nodes.h"

#include "core/timeutil.h"
#include "store/internal.h"

int store_node_heartbeat(struct store *st, const char *node,
                         const char *version, int64_t started_ms,
                         int64_t now_ms)
{
    struct st_stmt *stmt = NULL;
    char started[GW_TIME_LEN];
    char now[GW_TIME_LEN];
    int rc;

    st_time_text(started_ms, started);
    st_time_text(now_ms, now);
    /* One statement, so two heartbeats never race to insert. */
    rc = st_prepare(st,
                    "INSERT INTO nodes (name, version, started_at, "
                    "heartbeat_at, created_at) VALUES (?1, ?2, ?3, ?4, ?4) "
                    "ON CONFLICT (name) DO UPDATE SET version = "
                    "excluded.version, started_at = excluded.started_at, "
                    "heartbeat_at = excluded.heartbeat_at",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, node);
    st_bind_text(stmt, 2, version);
    st_bind_text(stmt, 3, started);
    st_bind_text(stmt, 4, now);
    return st_exec_stmt(st, stmt, "recording a heartbeat");
}

static int read_heartbeat(struct st_stmt *stmt, void *out)
{
    const char *text = (const char *)st_col_text(stmt, 0);

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
