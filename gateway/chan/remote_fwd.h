/*
 * Remote forwarding (ssh -R) in a terminated session (chan/remote_fwd.c):
 * the client's tcpip-forward requests go to the backend, and the
 * backend's forwarded-tcpip channels come back to the client.
 */
#ifndef SSHGATE_GATEWAY_CHAN_REMOTE_FWD_H
#define SSHGATE_GATEWAY_CHAN_REMOTE_FWD_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>
#include <libssh/server.h>

struct gw_conn;

extern const struct gw_chan_ops gw_forwarded_chan_ops;

/* tcpip-forward / cancel-tcpip-forward from the client (the message
 * callback). 1 for libssh's default (refusing) reply, 0 when answered. */
int gw_rfwd_request(struct gw_conn *c, ssh_message msg);

/* The backend session's message callback: forwarded-tcpip opens. */
int gw_rfwd_on_backend_message(ssh_session session, ssh_message msg,
                               void *userdata);

#endif
