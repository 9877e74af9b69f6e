/*
 * Gateway nodes: each daemon records its name, version, start and a
 * heartbeat, so that after a crash the next start knows the last moment
 * the node was alive (the end time of the sessions it left open) and an
 * operator can tell a live node from a lost one.
 */
#ifndef SSHGATE_STORE_NODES_H
#define SSHGATE_STORE_NODES_H

#include <stdint.h>

struct store;

/*
 * Record that node (its host name) runs version, started at started_ms and
 * alive at now_ms (wall clock ms since the epoch): creates its row or
 * updates it. GW_OK or GW_ERR_DB.
 */
int store_node_heartbeat(struct store *st, const char *node,
                         const char *version, int64_t started_ms,
                         int64_t now_ms);

/* The last heartbeat of node, in wall clock ms since the epoch. GW_OK,
 * GW_ERR_NOTFOUND (never seen), GW_ERR_DB. */
int store_node_last_heartbeat(struct store *st, const char *node, int64_t *ms);

#endif
