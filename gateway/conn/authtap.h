/*
 * The authentication requests libssh 0.10 drops, found and kept until
 * they are answered.
 *
 * libssh parses every SSH_MSG_USERAUTH_REQUEST itself and checks a
 * publickey signature before anyone sees the request (src/messages.c
 * ssh_packet_userauth_request). When the signature does not verify, its
 * algorithm is not in pubkey_accepted_algorithms, the key blob does not
 * import or the packet is truncated, it frees the message and returns:
 * no reply, no callback, nothing in the API (a malformed
 * keyboard-interactive answer likewise, ssh_packet_userauth_info_response).
 * What it does leave is its log lines on this thread
 * (gateway/daemon/sshlog.h's tap): "Dispatching handler for packet type
 * 50" opens a request, its message ends it, and the lines in between say
 * why one ended without a message.
 *
 * Two modes (docs/security.md, "Forged signatures"): until the first
 * authentication message the session has no callbacks, libssh queues its
 * messages and the loop takes them (gateway/conn/dispatch.c), so requests
 * are counted: parsed against taken. From then on messages come through
 * the message callback as libssh parses them, and a request whose message
 * did not come before the next request or the end of the poll round was
 * dropped.
 */
#ifndef SSHGATE_GATEWAY_CONN_AUTHTAP_H
#define SSHGATE_GATEWAY_CONN_AUTHTAP_H

#include <stdbool.h>

struct gw_conn;

#define GW_AUTHTAP_USER_MAX 64
#define GW_AUTHTAP_MAX      8 /* requests held per poll round */

/* A request libssh dropped: what it was and why. */
struct gw_authtap_drop {
    const char *method;             /* "publickey", ..., "unknown" */
    const char *reason;             /* "bad signature", "malformed key", ... */
    char user[GW_AUTHTAP_USER_MAX]; /* "" when the packet did not say */
};

struct gw_authtap {
    bool on;          /* reading this thread's libssh lines */
    bool callbacks;   /* libssh delivers messages to the callback */
    bool open;        /* a request is being parsed, its fields below */
    bool open_queued; /* ... in queue mode */
    bool delivered;   /* ... and its message came */
    bool answered;    /* ... and libssh answered it itself (gssapi) */
    struct gw_authtap_drop cur;
    unsigned parsed; /* queue mode: requests parsed, */
    unsigned taken;  /* ... and their messages taken from the queue */
    struct gw_authtap_drop queued[GW_AUTHTAP_MAX]; /* their details */
    unsigned nqueued;
    struct gw_authtap_drop drops[GW_AUTHTAP_MAX]; /* found, not answered */
    unsigned ndrops;
    unsigned more;               /* ... and beyond those, */
    struct gw_authtap_drop last; /* ... the last of them */
};

/* Start reading libssh's lines on this thread for c (queue mode). */
void gw_authtap_start(struct gw_conn *c);

/* libssh now delivers c's messages to the message callback. */
void gw_authtap_callbacks(struct gw_conn *c);

/* An authentication message reached us: through the callback
 * (queued = false) or taken from libssh's queue (queued = true). */
void gw_authtap_message(struct gw_conn *c, bool queued);

/* The poll round is over and libssh's queue is empty: every request
 * parsed so far has its message or was dropped. */
void gw_authtap_settle(struct gw_conn *c);

/* The oldest drop not yet answered, removed: false when there is none. */
bool gw_authtap_take(struct gw_conn *c, struct gw_authtap_drop *out);

/* Stop reading (authenticated, or the connection ends). */
void gw_authtap_stop(struct gw_conn *c);

#endif
