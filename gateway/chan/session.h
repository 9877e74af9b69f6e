/*
 * Session channels (chan/session.c): the callbacks of every client
 * session channel, and the mirroring of its requests to the backend
 * channel when it has one; without one, chan/local.c answers them.
 */
#ifndef SSHGATE_GATEWAY_CHAN_SESSION_H
#define SSHGATE_GATEWAY_CHAN_SESSION_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>
#include <stddef.h>

struct gw_upstream;

extern const struct gw_chan_ops gw_session_chan_ops;

/* channel_open_request_session_function: a new session channel with
 * callbacks attached (and, for a target, its backend channel open), or
 * NULL (refused). */
ssh_channel gw_session_open(ssh_session session, void *userdata);

/* Open ch's backend session channel on up (blocking for one round trip).
 * GW_OK or GW_ERR_IO (ch unchanged). */
int gw_session_backend_open(struct gw_chan *ch, struct gw_upstream *up);

/* The menu chose ch->menu.chosen_host: connect, open a shell with the
 * channel's pty and hand the channel over to the relay. GW_OK, or an
 * error with the line to show in msg. From the loop only. */
int gw_session_menu_connect(struct gw_chan *ch, char *msg, size_t msglen);

#endif
