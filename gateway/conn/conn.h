/*
 * One client connection, owned by one worker thread for its whole life:
 * key exchange with a deadline, front authentication, then the event loop.
 * Everything the connection needs lives in struct gw_conn (libssh callback
 * structs included, since libssh keeps pointers to them).
 */
#ifndef SSHGATE_GATEWAY_CONN_CONN_H
#define SSHGATE_GATEWAY_CONN_CONN_H

#include "core/cidr.h"
#include "core/config.h"
#include "core/sshkey.h"
#include "gateway/chan/chan.h"
#include "gateway/daemon/ending.h"
#include "gateway/daemon/daemon.h"
#include "gateway/conn/authtap.h"
#include "gateway/conn/policy.h"
#include "gateway/chan/relay.h"
#include "gateway/conn/target.h"
#include "gateway/conn/upstream.h"
#include "store/events.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

/* Where the target of the login name ("alice+web1") stands; only
 * gateway/conn/target_state.c changes it. */
enum gw_target_state {
    GW_TARGET_NONE = 0, /* no target: built-ins, menu, -J / -W */
    GW_TARGET_PENDING,  /* authenticated; the loop resolves and connects */
    GW_TARGET_UP,       /* c->primary is the backend session */
    GW_TARGET_FAILED,   /* c->target_error says why, to every channel */
};

/* What one entry of the loop's poll set belongs to. */
struct gw_pollref {
    struct gw_upstream *up; /* a backend session, or */
    struct gw_chan *ch;     /* a socket relay, or neither: the client */
};

struct gw_conn {
    struct gw_daemon *daemon;
    struct gw_config *cfg; /* reference held for the connection's life */
    uint64_t id;
    char uid[48]; /* "<daemon start ms, hex>-<id>": unique across restarts */
    struct gw_addr peer;
    char peer_text[GW_ADDR_TEXT_MAX];

    ssh_session session;
    ssh_event event;
    sigset_t wait_mask; /* the thread's mask without GW_WAKE_SIGNAL */
    bool session_in_event;
    struct gw_conn_link link;
    bool registered;
    struct ssh_server_callbacks_struct server_cb;
    struct ssh_counter_struct sock; /* bytes on the wire, both ways */
    struct ssh_counter_struct raw;  /* packets and payload, both ways */

    /* front authentication */
    bool unauth_slot;      /* holds an unauthenticated slot in the limits */
    struct gw_addr source; /* ... counted for this source */
    bool kex_started;      /* our version line went out */
    bool kex_done;
    bool authed;
    int attempts; /* failed attempts counted against max_auth_attempts */
    int delays;   /* failures that cost a backoff step so far */
    bool banner_sent;
    char login[STORE_EVENT_USER_MAX + 1]; /* as the client sent it */
    bool have_login;
    struct gw_target target;
    bool target_ok;
    bool kbdint_pending;
    struct gw_authtap tap;      /* the requests libssh drops (authtap.h) */
    ssh_message auth_reply;     /* the first auth message: replies to them */
    char user[GW_NAME_MAX + 1]; /* authenticated user */
    /* The key that authenticated ("" for a password): the access check
     * (gateway/conn/access.c) ends the connection when it is deleted. */
    char auth_fp[GW_FINGERPRINT_MAX];
    int64_t access_gen;      /* the store's access generation last checked */
    int64_t user_rate_limit; /* the user's bytes/s each way; 0: none */

    /* timing, on the monotonic clock */
    int64_t start_ms;
    int64_t deadline_ms;         /* login grace */
    int64_t version_deadline_ms; /* version_timeout */
    bool version_seen;           /* the client's version line arrived */
    int64_t last_rx_ms;
    int64_t last_activity_ms;
    int64_t last_keepalive_ms;
    uint64_t raw_packets_seen;

    bool grace_expired;
    bool version_expired;
    bool closing;
    enum gw_ending close_ending;
    char close_reason[GW_DENIAL_MAX]; /* its text (the target's line) */

    /* forwarding (docs/forwarding.md); the target's fields are
     * gateway/conn/target_state.c's */
    enum gw_target_state tstate;
    char target_error[GW_DENIAL_MAX];
    int64_t target_failed_ms;
    struct gw_upstream *primary;              /* the target's session */
    struct gw_upstream *ups[GW_UPSTREAM_MAX]; /* every backend session */
    struct gw_chan **chans;                   /* max_chans slots */
    size_t max_chans;
    unsigned chan_ids;
    size_t pump_round;
    struct gw_scratch scratch; /* relay_buffer_size, once authenticated */
    int64_t win_left;          /* of channel_window_budget (struct gw_win) */
    /* The earliest moment a direction paused by a rate limit resumes
     * (monotonic us; 0: none), collected during each pump
     * (gateway/chan/ratelimit.c): the loop's wait ends by then. */
    int64_t rl_wake_us;
    struct pollfd *pfds; /* the loop's poll set and what each is */
    struct gw_pollref *prefs;
    size_t pfds_cap;
};

/*
 * A connection for an accepted session (the socket inside it). Takes over
 * session and one unauthenticated limits slot taken for source (peer's
 * source, gw_limits_admit), takes a reference on cfg. GW_OK or
 * GW_ERR_NOMEM (nothing taken over then).
 */
int gw_conn_new(struct gw_daemon *d, ssh_session session,
                const struct gw_addr *peer, const struct gw_addr *source,
                struct gw_config *cfg, int64_t start_ms, struct gw_conn **out);

/* The worker job: runs the connection to its end and frees it. */
void gw_conn_run(void *conn);

/* Free a connection that never ran (no worker took it). */
void gw_conn_discard(struct gw_conn *c);

/* Ask the loop to end the connection for why; its text is the disconnect
 * message the client sees (for GW_END_TARGET: c->target_error). Safe in
 * callbacks; the first reason wins. */
void gw_conn_close(struct gw_conn *c, enum gw_ending why);

/* The connection did something a user would call activity (idle timer). */
void gw_conn_activity(struct gw_conn *c);

/* Authentication succeeded for user: leave the unauthenticated limits,
 * start the idle clock, put the user into the log prefix. */
void gw_conn_set_authenticated(struct gw_conn *c, const char *user);

/* Set this thread's log prefix: "conn=ID peer=ADDR [user=NAME]". */
void gw_conn_log_context(struct gw_conn *c);

/* This machine's host name, and the daemon's start time, taken on the
 * first call (main calls it at start-up). */
const char *gw_node_name(void);
/* The config's node_name ("" for the host name): call once at startup,
 * before anything asks gw_node_name. */
void gw_node_set_name(const char *name);

/* "<daemon start ms, hex>-": how every connection uid of this run begins. */
const char *gw_node_run_prefix(void);

/* Append an audit event with this connection's user and client. */
void gw_conn_event(struct gw_conn *c, const char *kind, const char *user,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
