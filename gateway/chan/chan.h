/*
 * Every channel of a connection, one struct gw_chan each, owned by the
 * connection (c->chans, at most max_channels_per_connection). Each kind
 * has a struct gw_chan_ops (like dropbear's ChanType), defined in the
 * kind's own file:
 *
 *  - session channels (chan/session.c): relayed to a backend channel, or
 *    served here without one: built-in commands and the host menu
 *    (chan/local.c);
 *  - direct-tcpip through the target's backend (-L) and the gateway's own
 *    TCP connections (-J, -W) (chan/tcpip.c);
 *  - forwarded-tcpip from the backend (-R, chan/remote_fwd.c) and agent
 *    channels (-A, chan/agent.c).
 *
 * chan/chan.c holds the slots and runs every kind through its ops;
 * chan/pair.c relays a client channel joined to a backend channel or a
 * socket. Callbacks only record (flags, byte counts, exit status); the
 * connection loop calls gw_chan_pump after each poll to move data,
 * propagate EOF, exit status and close, and reap pairs that are done.
 * Nothing is freed inside a libssh callback, and callbacks are detached
 * before a channel is freed (libssh 0.10 keeps them on a channel that
 * still awaits the peer's close).
 */
#ifndef SSHGATE_GATEWAY_CHAN_CHAN_H
#define SSHGATE_GATEWAY_CHAN_CHAN_H

#include "core/buf.h"
#include "gateway/audit/session_row.h"
#include "gateway/chan/builtin.h"
#include "gateway/chan/ratelimit.h"
#include "gateway/chan/relay.h"
#include "gateway/daemon/daemon.h"
#include "gateway/daemon/ending.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdbool.h>
#include <stdint.h>

struct gw_chan;
struct gw_conn;
struct gw_upstream;

#define GW_COMMAND_MAX   8192
#define GW_TERM_MAX      64
#define GW_ENV_SAVED_MAX 8

enum gw_chan_kind {
    GW_KIND_SESSION = 0, /* session channel (shell, exec, subsystem) */
    GW_KIND_DIRECT,      /* direct-tcpip through the backend (-L) */
    GW_KIND_SOCKET,      /* direct-tcpip the gateway connects (-J, -W) */
    GW_KIND_FORWARDED,   /* forwarded-tcpip from the backend (-R) */
    GW_KIND_AGENT,       /* auth-agent@openssh.com from the backend (-A) */
    GW_KIND_COUNT
};

/* What differs between kinds; the slot code calls nothing else of them. */
struct gw_chan_ops {
    const char *name; /* for logs */
    /* One round of work for a channel that is neither free nor dead.
     * True when it has more data to move right away. */
    bool (*pump)(struct gw_chan *ch);
    /* The backend session under the channel died (ch->relay.back is
     * already marked closed both ways). NULL: nothing more to do. */
    void (*backend_lost)(struct gw_chan *ch);
    /* Free what the kind holds, before the slot goes. NULL: nothing. */
    void (*release)(struct gw_chan *ch);
};

enum gw_chan_state {
    GW_CHAN_FREE = 0,     /* slot unused */
    GW_CHAN_OPEN,         /* session: waiting for shell / exec */
    GW_CHAN_EXEC,         /* built-in exec accepted, not run yet */
    GW_CHAN_SHELL,        /* built-in shell accepted, not started yet */
    GW_CHAN_MENU,         /* interactive menu running */
    GW_CHAN_MENU_CONNECT, /* the menu chose a host: connect from the loop */
    GW_CHAN_FINISHING,    /* flushing output, then exit status and close */
    GW_CHAN_OPENING,      /* backend-initiated: our open to the client */
    GW_CHAN_RELAY,        /* joined: data flows */
    GW_CHAN_DEAD,         /* done, reaped by the next pump */
};

/* An environment variable kept until the backend channel exists (menu). */
struct gw_env_var {
    char *name;
    char *value;
};

struct gw_chan {
    struct gw_conn *conn;
    unsigned id; /* for logs: 1, 2, ... per connection */
    enum gw_chan_kind kind;
    enum gw_chan_state state;

    ssh_channel channel;                    /* the client's side */
    struct ssh_channel_callbacks_struct cb; /* must outlive the channel */
    struct gw_upstream *up;                 /* backend session, if any */
    ssh_channel bch;                        /* the backend's side */
    struct ssh_channel_callbacks_struct bcb;
    struct gw_relay relay;
    struct gw_chan_rl rl; /* its rate limits, from gw_pair_start */
    bool announced;       /* started: the row's end is owed */
    bool audit_refused;   /* opened while audit_failure = refuse held off */
    enum gw_ending ending;
    char closer; /* 'c' or 'b': which side closed the channel first */
    /* The audit row (gateway/audit/session_row.h): owed from
     * gw_pair_start, which may run inside a libssh callback, and written
     * by the next pump. */
    struct gw_session_row row;

    /* session channels */
    const char *what; /* "shell", "exec", "sftp", ... once started */
    bool pty;
    char term[GW_TERM_MAX];
    int cols;
    int rows;
    char *command; /* exec command, subsystem name, -J destination */
    int exit_status;
    struct gw_buf out;
    struct gw_buf err;
    struct gw_menu menu;
    bool menu_started;
    struct gw_env_var env[GW_ENV_SAVED_MAX];
    size_t nenv;

    /* tcpip channels */
    char *dest; /* direct-tcpip destination, or -R listen address */
    uint16_t dport;
    char *orig;
    uint16_t oport;
};

/* A free slot set up for kind, or NULL (logged) when all are in use or
 * the connection is closing. */
struct gw_chan *gw_chan_alloc(struct gw_conn *c, enum gw_chan_kind kind);

/* Give a slot back that never got a channel (an open that failed). */
void gw_chan_unalloc(struct gw_chan *ch);

/* Move data, propagate EOF / exit status / close, reap finished pairs.
 * True when some pair has more data to move right away (budget used up):
 * then the loop must not sleep. */
bool gw_chan_pump(struct gw_conn *c);

/* Number of channels in use. */
int gw_chan_count(const struct gw_conn *c);

/* The backend session up has died: every pair on it ends (exit status if
 * the backend sent one, else a line on stderr and a close). */
void gw_chan_backend_lost(struct gw_conn *c, struct gw_upstream *up);

/* Teardown, before the sessions go: detach every callback, close sockets,
 * complete the open sessions rows (with the connection's ending) and free
 * the slots. */
void gw_chan_detach_all(struct gw_conn *c);

/* "session kill" of the pair on channel kill->channel (its sessions row
 * kill->id): it ends with reason "killed by admin"; the request is marked
 * done with its row's end (at once when no pair of c has it any more). */
void gw_chan_kill(struct gw_conn *c, const struct gw_kill *kill);

/* The poll events a socket relay waits for now (0: none). */
short gw_chan_sock_events(const struct gw_chan *ch);

/* The slot whose client channel is channel (NULL if none). */
struct gw_chan *gw_chan_of(struct gw_conn *c, ssh_channel channel);

#endif
