/*
 * Requests of the admin CLI to end whole connections, not one channel:
 * "session kill --conn UID" names a connection, "user kick NAME" every
 * connection of a user on one node. The daemon that runs them polls for
 * the requests (as for session kills, store/sessions.h) and marks them
 * handled.
 */
#ifndef SSHGATE_STORE_CONN_KILLS_H
#define SSHGATE_STORE_CONN_KILLS_H

#include "core/strutil.h"
#include "store/sessions.h"

#include <stddef.h>
#include <stdint.h>

struct store;

/* One pending request: conn_uid or user is set, the other is "". */
struct store_conn_kill {
    int64_t id;
    char conn_uid[STORE_CONN_UID_MAX];
    char user[GW_NAME_MAX + 1];
};

/* Ask for the end of connection conn_uid ("<hex>-<n>", as in the sessions
 * rows). GW_ERR_INVALID when it cannot be a connection uid. */
int store_conn_kill_request(struct store *st, const char *conn_uid,
                            const char *by);

/* Ask every node of the cluster (the nodes table; node when no node has
 * run yet) to end every connection of user. GW_ERR_NOTFOUND for an
 * unknown user. */
int store_user_kick_request(struct store *st, const char *node,
                            const char *user, const char *by);

/* The pending requests for a daemon: the kicks of node and the kills of
 * connections whose uid begins with run_prefix (this run's), oldest
 * first. */
int store_conn_kills_pending(struct store *st, const char *node,
                             const char *run_prefix,
                             struct store_conn_kill **kills, size_t *n);

/* Mark request id handled. */
int store_conn_kill_done(struct store *st, int64_t id);

#endif
