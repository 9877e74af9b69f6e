/*
 * The listener's ssh_bind: the gateway's host keys from the database and
 * the configured algorithm lists and version string. libssh copies all of
 * it into each accepted session (ssh_bind_accept_fd), so a reload builds a
 * new bind and hands it to the listener.
 */
#ifndef SSHGATE_GATEWAY_FRONT_HOSTKEYS_H
#define SSHGATE_GATEWAY_FRONT_HOSTKEYS_H

#include "core/config.h"

#include <libssh/server.h>

struct store;

/*
 * A new bind with the host keys of st and cfg's algorithms. GW_OK;
 * GW_ERR_NOTFOUND when the database holds no host key ("run sshgate-admin
 * init"); GW_ERR_INVALID when no host key suits hostkey_algorithms or
 * libssh refuses an option; GW_ERR_DB. Private key text is wiped after
 * import; the keys belong to the bind.
 */
int gw_bind_build(const struct gw_config *cfg, struct store *st, ssh_bind *out);

#endif
