/*
 * What the client asks of a connection, routed to the code that answers
 * it: the session channel open (a server callback) goes to
 * gateway/chan/session.c; everything else arrives in the message callback
 * and goes to gateway/conn/auth.c before login, and after login to the
 * channel kinds (direct-tcpip, tcpip-forward, break).
 */
#ifndef SSHGATE_GATEWAY_CONN_DISPATCH_H
#define SSHGATE_GATEWAY_CONN_DISPATCH_H

struct gw_conn;

/* Install the server callbacks, the message callback and the advertised
 * authentication methods on c's session. Before key exchange. */
void gw_dispatch_setup(struct gw_conn *c);

#endif
