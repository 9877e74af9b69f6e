/*
 * Session channels served by the gateway itself. chan/session.c owns
 * their callbacks: with a backend channel every request is mirrored to it
 * (a relayed session); without one the request is answered here:
 *
 *  - no target (the user logged in as "alice"): built-in commands for exec
 *    requests, the host menu for a shell on a pty (choosing a host
 *    connects the channel to it), the host list for a shell without one;
 *  - a target that could not be reached or is not granted: the first
 *    shell / exec / subsystem request gets the reason on stderr and exit
 *    status 255, as OpenSSH's own failures do.
 *
 * Callbacks only record what was asked for; gw_local_pump, run by the
 * connection loop, does the work and writes the output within the
 * client's window.
 */
#ifndef SSHGATE_GATEWAY_CHAN_LOCAL_H
#define SSHGATE_GATEWAY_CHAN_LOCAL_H

#include "gateway/chan/chan.h"

#include <libssh/libssh.h>
#include <stdbool.h>

struct gw_conn;

/* Built-in requests of a channel without a backend channel. 0 accepts,
 * anything else refuses (the callback's return value). */
int gw_local_shell(struct gw_chan *ch);
int gw_local_exec(struct gw_chan *ch, const char *command);
int gw_local_subsystem(struct gw_chan *ch, const char *subsystem);

/* Run pending built-in work of ch, feed the menu, flush output; when it is
 * finished send the exit status and close, and mark it dead. */
void gw_local_pump(struct gw_chan *ch);

/* End a session channel that has no relay: msg (NULL: "connection to
 * HOST lost") on stderr, exit status 255. */
void gw_local_fail(struct gw_chan *ch, const char *msg);

/* Free what a session channel owns (output, menu, saved env). */
void gw_local_free(struct gw_chan *ch);

#endif
