/*
 * The audit of channels: one sessions row per channel a user opened (shell,
 * exec, sftp, forwarding, agent), written when it starts and completed
 * when it ends, each paired with a hash-chained "session.start" /
 * "session.end" event. Plus the kill requests of the admin CLI that the
 * daemon polls for.
 */
#ifndef SSHGATE_STORE_SESSIONS_H
#define SSHGATE_STORE_SESSIONS_H

#include "core/strutil.h"
#include "core/timeutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_SESSION_KIND_MAX 16
#define STORE_NODE_MAX         64
#define STORE_CONN_UID_MAX     48
#define STORE_CLIENT_MAX       80

/* What is known when a channel starts. Strings may be NULL where noted. */
struct store_session_start {
    const char *node;     /* gateway node (host name) */
    const char *conn_uid; /* connection id, unique across restarts */
    int channel;          /* channel number within the connection */
    const char *user;
    const char *client;  /* "IP:port" */
    const char *host;    /* target host name, NULL if none */
    const char *login;   /* backend login, NULL if none */
    const char *kind;    /* shell, exec, sftp, subsystem, direct-tcpip, ... */
    const char *command; /* exec command, subsystem, "host:port"; NULL */
    bool pty;
    /* More key=value pairs for the session.start event, already quoted
     * where needed (command="...", dest=, via=, bound=, ...); NULL for
     * just command="..." */
    const char *detail;
    /* When it started, wall clock ms since the epoch (a record written
     * late); 0 for now. Also the time of the session.start event. */
    int64_t at_ms;
};

/* What is known when it ends. */
struct store_session_end {
    uint64_t bytes_up;   /* client to backend */
    uint64_t bytes_down; /* backend to client */
    bool has_exit_status;
    int exit_status;
    const char *exit_signal; /* "TERM", NULL if none */
    const char *reason;      /* "client closed", "killed by admin", ... */
    /* When it ended, wall clock ms since the epoch (a record written
     * late); 0 for now. Also the time of the session.end event. */
    int64_t at_ms;
};

struct store_session {
    int64_t id;
    char node[STORE_NODE_MAX];
    char conn_uid[STORE_CONN_UID_MAX];
    int channel;
    char user[GW_NAME_MAX + 1];
    char client[STORE_CLIENT_MAX];
    char host[GW_NAME_MAX + 1];
    char login[GW_NAME_MAX + 1];
    char kind[STORE_SESSION_KIND_MAX];
    char *command; /* never NULL once read ("" when none) */
    bool pty;
    char started_at[GW_TIME_LEN];
    char ended_at[GW_TIME_LEN]; /* "" while active */
    uint64_t bytes_up;
    uint64_t bytes_down;
    bool has_exit_status;
    int exit_status;
    char exit_signal[32];
    char *end_reason; /* never NULL once read */
    bool recorded;
    int transfers;
};

/* Insert the row and its "session.start" event in one transaction. */
int store_session_start(struct store *st, const struct store_session_start *s,
                        int64_t *id);

/*
 * Complete the row (once: an ended row is left alone and GW_ERR_EXISTS is
 * returned) and write "session.end", in one transaction. The event binds
 * the session into the hash chain: row= (the digest of the ended row),
 * recording= (of its recording's chunks so far, or "none") and
 * transfers= (of its file_transfers rows), so write those first.
 * Anything of the session stored later is bound by a "session.amend"
 * event (store/recordings.h, store/transfers.h).
 */
int store_session_end(struct store *st, int64_t id,
                      const struct store_session_end *e);

/* Add to the byte counters of an active session (periodic flushes, so a
 * crash loses little). */
int store_session_add_bytes(struct store *st, int64_t id, uint64_t up,
                            uint64_t down);

/*
 * Close every session of node still open (the daemon died without ending
 * them) with reason, each with its "session.end" event. *closed counts
 * them. The same as store_session_close_orphans_at with ended_ms 0.
 */
int store_session_close_orphans(struct store *st, const char *node,
                                const char *reason, int *closed);

/*
 * Close node's open sessions as store_session_close_orphans does, ended at
 * ended_ms (wall clock ms since the epoch: the node's last heartbeat, the
 * last moment it is known to have run; 0 for now) or at the session's
 * start if that was later. Sessions whose conn_uid starts with
 * keep_prefix (the running daemon's own; NULL or "": none) are left
 * alone. Their recordings are marked degraded "cut by a crash" (with a
 * recording.degraded event) before the end binds them. Each session
 * closes in a transaction of its own.
 */
int store_session_close_orphans_at(struct store *st, const char *node,
                                   const char *keep_prefix, const char *reason,
                                   int64_t ended_ms, int *closed);

/*
 * The session of channel `channel` of connection conn_uid: its natural
 * key, for a writer that knows the connection but not the row id (a
 * replayed spool). GW_OK with *id; GW_ERR_NOTFOUND when there is none.
 * Should a database from before schema 3 hold two such rows, the newest.
 */
int store_session_find(struct store *st, const char *conn_uid, int channel,
                       int64_t *id);

struct store_session_filter {
    const char *user;
    const char *host;
    const char *since; /* canonical ISO time */
    bool active_only;
    size_t limit; /* newest `limit`, 0 for all */
};

/* Sessions matching filter, oldest first. */
int store_session_list(struct store *st,
                       const struct store_session_filter *filter,
                       struct store_session **sessions, size_t *n);
void store_session_list_free(struct store_session *sessions, size_t n);

int store_session_get(struct store *st, int64_t id, struct store_session *out);
void store_session_clear(struct store_session *s);

/* Ask the daemon to end an active session ("session kill"): writes the
 * request and an "admin.session.kill" event is up to the caller.
 * GW_ERR_NOTFOUND, or GW_ERR_INVALID when the session has ended. */
int store_session_request_kill(struct store *st, int64_t id, const char *by);

/* Session ids of node with a pending kill request. */
int store_session_pending_kills(struct store *st, const char *node,
                                int64_t **ids, size_t *n);

/* Mark the kill requests of session id handled. */
int store_session_kill_done(struct store *st, int64_t id);

#endif
