/*
 * Why a connection or a channel ended: one enum, one table of texts.
 *
 * A connection's reason is what the client reads in the disconnect
 * message, what the log says and what the conn.close event records. A
 * channel's reason becomes its sessions row's end_reason
 * (docs/audit-schema.md), which uses the auditor's shorter words for the
 * common cases ("idle timeout" rather than "Idle timeout").
 */
#ifndef SSHGATE_GATEWAY_DAEMON_ENDING_H
#define SSHGATE_GATEWAY_DAEMON_ENDING_H

enum gw_ending {
    GW_END_NONE = 0,        /* not ended, or ended by its own close */
    GW_END_CLIENT_GONE,     /* the client's TCP connection went away */
    GW_END_KEX_CLIENT_GONE, /* ... during the key exchange */
    GW_END_KEX_FAILED,      /* no common algorithms, bad packets */
    GW_END_GRACE,           /* login_grace_time passed */
    GW_END_AUTH_FAILURES,   /* max_auth_attempts reached */
    GW_END_AUTH_UNANSWERED, /* libssh dropped the first auth request */
    GW_END_KEEPALIVE,       /* the client stopped answering keepalives */
    GW_END_IDLE,            /* idle_timeout */
    GW_END_SHUTDOWN,        /* the daemon is stopping */
    GW_END_INTERNAL,        /* our fault: out of memory, libssh setup */
    GW_END_UNAVAILABLE,     /* the database does not open */
    GW_END_TARGET,          /* the target failed: the text is its own */
    GW_END_KILLED,          /* "session kill" */
    GW_END_CHANNEL_IO,      /* a channel failed under the relay */
    GW_END_DEST_FAILED,     /* the -J / -W socket failed */
    GW_END_BACKEND_LOST,    /* the backend session died */
    GW_END_AUDIT_DOWN,      /* audit_failure = refuse held a login off */
    GW_END_VERSION,         /* no version line within version_timeout */
    GW_END_REVOKED,         /* the user, her key or the grant went away */
};

/* The text the client and the log see ("Idle timeout"). For GW_END_TARGET
 * the caller has the text (the target's error line); this gives a generic
 * one. Never NULL. */
const char *gw_ending_text(enum gw_ending ending);

/* The sessions row's end_reason for a channel that ended with ending after
 * closer ('c' client, 'b' backend, '\0' unknown) closed first; detail is
 * the text of a GW_END_TARGET ending (may be NULL). Never NULL. */
const char *gw_ending_row_reason(enum gw_ending ending, char closer,
                                 const char *detail);

/* A short name for metrics labels ("idle_timeout"). Never NULL. */
const char *gw_ending_label(enum gw_ending ending);

/* One past the last enum gw_ending, for tables indexed by it. */
#define GW_END_COUNT (GW_END_REVOKED + 1)

#endif
