/*
 * Session channels of a connection without a target (the user logged in as
 * "alice"): built-in commands for exec requests, the host menu for a shell
 * on a pty, the host list for a shell without one. With a target
 * ("alice+web1") every request gets "forwarding to hosts is not available
 * in this version" until the backend relay exists.
 *
 * Callbacks only record what was asked for; gw_session_pump, run by the
 * connection loop after each ssh_event_dopoll, does the work and writes
 * the output within the client's window.
 */
#ifndef SSHGATE_GATEWAY_SESSION_H
#define SSHGATE_GATEWAY_SESSION_H

#include "core/buf.h"
#include "gateway/builtin.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdbool.h>

struct gw_conn;

#define GW_CONN_MAX_CHANNELS 8
#define GW_COMMAND_MAX       8192

enum gw_chan_state {
    GW_CHAN_FREE = 0,  /* slot unused */
    GW_CHAN_OPEN,      /* waiting for shell / exec */
    GW_CHAN_EXEC,      /* exec accepted, command not run yet */
    GW_CHAN_SHELL,     /* shell accepted, not started yet */
    GW_CHAN_MENU,      /* interactive menu running */
    GW_CHAN_FINISHING, /* flushing output, then exit status and close */
};

struct gw_chan {
    struct gw_conn *conn;
    ssh_channel channel;
    struct ssh_channel_callbacks_struct cb; /* must outlive the channel */
    enum gw_chan_state state;
    bool pty;
    bool peer_eof;
    bool peer_closed;
    char *command;
    int exit_status;
    struct gw_buf out;
    struct gw_buf err;
    struct gw_menu menu;
    bool menu_started;
};

/* channel_open_request_session_function: a slot with callbacks attached,
 * or NULL (refused) when all slots are in use. */
ssh_channel gw_session_open(ssh_session session, void *userdata);

/* Run pending requests, feed the menu, flush output, close finished
 * channels and reap closed ones. */
void gw_session_pump(struct gw_conn *c);

/* Number of channels in use. */
int gw_session_count(const struct gw_conn *c);

/* Teardown, before ssh_disconnect: detach our callbacks from every
 * channel and forget it (ssh_disconnect frees the channels). */
void gw_session_detach_all(struct gw_conn *c);

#endif
