/*
 * The listener thread: owns the listening sockets (IPv4 and IPv6, our own
 * backlog), applies allowed_clients / blocked_clients and every connection
 * limit before any crypto work, and hands admitted sockets to the worker
 * pool as libssh sessions. It never blocks: a connection it will not serve
 * gets the SSH version line and an unencrypted SSH_MSG_DISCONNECT with a
 * reason (gateway/front/refuse.h), written from this thread, and is then closed
 * once the client has gone or after a short linger. With proxy_protocol on,
 * a trusted proxy's socket first waits in the same loop for its header
 * (gateway/front/proxy_wait.h), and the client it names is admitted.
 */
#ifndef SSHGATE_GATEWAY_FRONT_LISTENER_H
#define SSHGATE_GATEWAY_FRONT_LISTENER_H

#include "core/config.h"
#include "gateway/daemon/daemon.h"

#include <libssh/server.h>

struct gw_listener;

/* Create and bind the listening sockets of cfg (logs "listening on ..."
 * for each). GW_OK, or GW_ERR_IO naming the address that failed. */
int gw_listener_open(const struct gw_config *cfg, struct gw_listener **out);

/* Start accepting. The bind belongs to the listener from now on. */
int gw_listener_start(struct gw_listener *l, struct gw_daemon *d,
                      ssh_bind bind);

/* Use bind for connections accepted from now on (after a reload); the
 * listener takes it over and frees the old one. */
void gw_listener_set_bind(struct gw_listener *l, ssh_bind bind);

/* Stop accepting and close the listening sockets; joins the thread. */
void gw_listener_stop(struct gw_listener *l);

/* Free a stopped listener (NULL is fine). */
void gw_listener_free(struct gw_listener *l);

#endif
