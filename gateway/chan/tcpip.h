/*
 * direct-tcpip channels (chan/tcpip.c): -J / -W without a target (the
 * gateway connects to the destination itself) and -L through a target's
 * backend.
 */
#ifndef SSHGATE_GATEWAY_CHAN_TCPIP_H
#define SSHGATE_GATEWAY_CHAN_TCPIP_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>
#include <libssh/server.h>

struct gw_conn;

extern const struct gw_chan_ops gw_direct_chan_ops;
extern const struct gw_chan_ops gw_socket_chan_ops;

/* A direct-tcpip open from the client (the message callback). 1 for
 * libssh's default (refusing) reply, 0 when answered. */
int gw_tcpip_open(struct gw_conn *c, ssh_message msg);

#endif
