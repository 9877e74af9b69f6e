/*
 * A connection's SSH sessions to backends (at most GW_UPSTREAM_MAX): the
 * target of "alice+web1" (kept for the connection's life, shared by all
 * its channels, ControlMaster included) and the hosts chosen in the menu
 * (closed with their last channel).
 *
 * Connected with backend/client.c (host key pin or first use, the host's
 * credential, the backend_connect_timeout deadline), normally from the
 * connection loop; the paths that must ask a backend inside a libssh
 * callback are listed, with their deadline, in docs/architecture.md ("The
 * documented exceptions libssh 0.10 forces"). Then non-blocking, in its own
 * ssh_event: a blocking call on a session polls that session's whole
 * event, and in libssh 0.10 a socket error of one session seen in
 * another's poll marks the *other* session as failed (session.c
 * ssh_handle_packets sets SSH_SESSION_STATE_ERROR on any poll error). The
 * connection loop polls every session's socket itself and drives each
 * event with a zero timeout.
 */
#ifndef SSHGATE_GATEWAY_CONN_UPSTREAM_H
#define SSHGATE_GATEWAY_CONN_UPSTREAM_H

#include "store/grants.h"
#include "store/hosts.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_conn;

#define GW_UPSTREAM_MAX 4
#define GW_RFWD_MAX     16

/* A remote forwarding (-R) the backend listens for on our behalf. */
struct gw_rfwd {
    char *address; /* as the client asked for it */
    int port;      /* as asked (0: any) */
    int bound;     /* the port the backend listens on */
};

struct gw_upstream {
    struct gw_conn *conn;
    struct store_host host;
    char login[GW_NAME_MAX + 1];
    unsigned allow;     /* the grant's channel kinds */
    int64_t grant_id;   /* the grant, for its rate limit's bucket */
    int64_t rate_limit; /* the grant's bytes/s each way; 0: none */
    ssh_session session;
    ssh_event event;
    struct ssh_callbacks_struct cb; /* agent channel opens (-A) */
    bool primary; /* the connection's target: lives as long as it */
    bool gone;    /* the backend closed or failed */
    bool agent;   /* the client asked for agent forwarding */
    int refs;     /* channels using this session */
    struct gw_rfwd rfwd[GW_RFWD_MAX];
    size_t nrfwd;
};

/*
 * Connect to host h as grant g's login, for user of connection c; record
 * the outcome (pin on first use, host.mismatch, backend.failure events).
 * GW_OK with *out registered in c; otherwise the one line the user should
 * see in msg (the reason is logged and recorded).
 */
int gw_upstream_open(struct gw_conn *c, const struct store_host *h,
                     const struct store_grant *g, struct gw_upstream **out,
                     char *msg, size_t msglen);

/* Switch a backend session to blocking, with its timeout, for a request
 * whose answer the client waits for; and back. */
void gw_upstream_block(struct gw_upstream *up, bool on);

/* Is the backend session dead? (Sets up->gone.) */
bool gw_upstream_dead(struct gw_upstream *up);

/* The remote forwarding the backend reported as port bound, or NULL. */
struct gw_rfwd *gw_upstream_rfwd(struct gw_upstream *up, int bound);

/* Disconnect and free up, and forget it in its connection. Every channel
 * of it must be gone (reaped) first: ssh_disconnect frees them. */
void gw_upstream_close(struct gw_upstream *up);

/* Close the connection's upstreams that no channel uses (menu hosts). */
void gw_upstream_reap(struct gw_conn *c);

#endif
