/*
 * Forwarding to backends (docs/forwarding.md): the entry points the
 * connection, the authentication message callback and the session code
 * call. The modules behind them:
 *
 *   chan_session.c    session channels: open, request mirroring, the menu
 *                     connecting to a host, the target of "alice+web1"
 *   chan_tcpip.c      direct-tcpip: -J / -W without a target (the gateway
 *                     connects), -L through a target's backend
 *   forward_remote.c  tcpip-forward (-R) and the backend's forwarded-tcpip
 *   agent.c           auth-agent-req (-A) and the backend's agent channels
 */
#ifndef SSHGATE_GATEWAY_CONN_DISPATCH_H
#define SSHGATE_GATEWAY_CONN_DISPATCH_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <stddef.h>

struct gw_conn;
struct gw_upstream;

/*
 * After authentication, from the connection loop: for a login name with a
 * target, check the grant and connect to the backend. On failure
 * c->target_error holds the line the user will see ("access.denied" or
 * the backend events are written).
 */
void gw_target_prepare(struct gw_conn *c);

/* Requests without a server callback, after authentication (from the
 * message callback): direct-tcpip, tcpip-forward, cancel-tcpip-forward,
 * break. 1 for libssh's default (refusing) reply, 0 when answered. */
int gw_forward_on_message(struct gw_conn *c, ssh_message msg);

/* Open ch's backend session channel on up (blocking for one round trip).
 * GW_OK or GW_ERR_IO (ch unchanged). */
int gw_session_backend_open(struct gw_chan *ch, struct gw_upstream *up);

/* The menu chose ch->menu.chosen_host: connect, open a shell with the
 * channel's pty and hand the channel over to the relay. GW_OK, or an
 * error with the line to show in msg. From the loop only. */
int gw_session_menu_connect(struct gw_chan *ch, char *msg, size_t msglen);

/* direct-tcpip (chan_tcpip.c). */
int gw_tcpip_open(struct gw_conn *c, ssh_message msg);

/* tcpip-forward / cancel-tcpip-forward from the client, and the backend's
 * message callback (forwarded-tcpip opens) (forward_remote.c). */
int gw_rfwd_request(struct gw_conn *c, ssh_message msg);
int gw_rfwd_on_backend_message(ssh_session session, ssh_message msg,
                               void *userdata);

/* auth-agent-req on a relayed session channel, and the backend's agent
 * channel opens (agent.c). */
void gw_agent_on_request(ssh_session session, ssh_channel channel,
                         void *userdata);
ssh_channel gw_agent_on_open(ssh_session session, void *userdata);

#endif
