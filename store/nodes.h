/*
 * Gateway nodes: each daemon records its name, version, where it
 * listens, its start and a heartbeat, so that after a crash the next
 * start knows the last moment the node was alive (the end time of the
 * sessions it left open), the other nodes of a cluster can close the
 * sessions of a node that went silent, and an operator can tell a live
 * node from a lost one.
 */
#ifndef SSHGATE_STORE_NODES_H
#define SSHGATE_STORE_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timeutil.h"

struct store;

/* What a node says of itself with each heartbeat. */
struct store_node_beat {
    const char *node;      /* node_name */
    const char *version;   /* sshgate's */
    const char *listen;    /* "ADDR:PORT,..." */
    int64_t started_ms;    /* wall clock ms since the epoch */
    int64_t lost_after_ms; /* a silence this long means the node is lost */
};

/*
 * Record that the node is alive at now_ms (wall clock ms since the
 * epoch): creates its row or updates it. GW_OK or GW_ERR_DB.
 */
int store_node_heartbeat(struct store *st, const struct store_node_beat *beat,
                         int64_t now_ms);

/* The last heartbeat of node, in wall clock ms since the epoch. GW_OK,
 * GW_ERR_NOTFOUND (never seen), GW_ERR_DB. */
int store_node_last_heartbeat(struct store *st, const char *node, int64_t *ms);

struct store_node {
    char name[64];
    char version[32];
    char listen[256];
    char started_at[GW_TIME_LEN];
    char heartbeat_at[GW_TIME_LEN];
    int64_t heartbeat_ms;
    int64_t lost_after_ms;
    bool lost; /* silent for longer than lost_after_ms at now_ms */
    int64_t open_sessions;
};

/* Every node, by name, judged live or lost at now_ms. Free with free(). */
int store_node_list(struct store *st, int64_t now_ms, struct store_node **nodes,
                    size_t *n);

#endif
