/*
 * node list: the gateway nodes that share this database, from their
 * heartbeats: live, or lost (silent for longer than their own
 * node_lost_after), with their open sessions.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/timeutil.h"
#include "store/nodes.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *node_json(const struct store_node *n)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "name",
                     n->name, "state", n->lost ? "lost" : "live", "version",
                     n->version, "listen", n->listen, "started_at",
                     n->started_at, "heartbeat_at", n->heartbeat_at,
                     "lost_after_s", (json_int_t)(n->lost_after_ms / 1000),
                     "open_sessions", (json_int_t)n->open_sessions);
}

static int list_json(struct admin_ctx *ctx, const struct store_node *list,
                     size_t n)
{
    json_t *arr = json_array();
    int rc = arr != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = out_json_append(arr, node_json(&list[i]));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, arr);
    }
    json_decref(arr);
    return rc;
}

static int list_text(struct admin_ctx *ctx, const struct store_node *list,
                     size_t n)
{
    static const char *const headers[] = {"NAME",    "STATE",   "VERSION",
                                          "LISTEN",  "STARTED", "HEARTBEAT",
                                          "SESSIONS"};
    struct out_table *t = NULL;
    int rc = out_table_new(headers, 7, &t);

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        const struct store_node *node = &list[i];
        char open[24];
        snprintf(open, sizeof(open), "%lld", (long long)node->open_sessions);
        rc = out_table_row(t, node->name, node->lost ? "lost" : "live",
                           node->version, node->listen, node->started_at,
                           node->heartbeat_at, open);
    }
    if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
    out_table_free(t);
    return rc;
}

int admin_node_list(struct admin_ctx *ctx)
{
    struct store_node *list = NULL;
    size_t n = 0;
    int rc = store_node_list(ctx->st, gw_time_wall_ms(), &list, &n);

    if (rc == GW_OK) {
        rc = ctx->json ? list_json(ctx, list, n) : list_text(ctx, list, n);
    }
    free(list);
    return rc;
}
