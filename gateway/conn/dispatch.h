/*
 * What the client asks of a connection, routed to the code that answers
 * it: the session channel open (a server callback) goes to
 * gateway/chan/session.c; everything else arrives in the message callback
 * and goes to gateway/conn/auth.c before login, and after login to the
 * channel kinds (direct-tcpip, tcpip-forward, break).
 */
#ifndef SSHGATE_GATEWAY_CONN_DISPATCH_H
#define SSHGATE_GATEWAY_CONN_DISPATCH_H

#include <stdbool.h>

struct gw_conn;

/* Advertise the authentication methods on c's session and start reading
 * what libssh parses (gateway/conn/authtap.h). Before key exchange. Until
 * the first authentication message the session has no callbacks: libssh
 * queues its messages and gw_dispatch_round takes them; with that message
 * go in the server callbacks and the message callback. */
void gw_dispatch_setup(struct gw_conn *c);

/* Before authentication, once per loop round (after the poll): take what
 * libssh queued, and answer with a failure, counted like any other, each
 * request it dropped (gateway/conn/auth.h gw_auth_answer_drops). Once
 * authenticated or closing, gw_dispatch_end. True when queued messages
 * are left for the next round (which should then not wait). */
bool gw_dispatch_round(struct gw_conn *c);

/* Stop reading libssh's lines and free the message kept for replies.
 * Idempotent; the teardown calls it too. */
void gw_dispatch_end(struct gw_conn *c);

#endif
