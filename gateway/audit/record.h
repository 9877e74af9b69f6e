/*
 * One audit record: everything the daemon asks the audit writer
 * (gateway/audit/writer.h) to put in the database, as one self-contained
 * value with the time it happened. Records refer to their session by its
 * natural key (connection uid, channel number), not by row id: the
 * connection thread never waits for the row to exist, and a record
 * replayed from the spool after a restart still finds its row.
 *
 * Records are encoded into a compact binary form for the spool file
 * (core/spool.h): a version byte, the kind, then every field of the
 * table below in order (strings as u32 length + bytes with a presence
 * flag, numbers as i64), the fields a later version added last. Decoding
 * trusts nothing: it is bounded by the buffer and fuzzed
 * (tests/fuzz/fuzz_audit_record.c). It reads every version written since
 * the spool exists, so that a spool left by the previous release replays
 * after an upgrade.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_RECORD_H
#define SSHGATE_GATEWAY_AUDIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_audit_kind {
    GW_AUDIT_EVENT = 1, /* an events row: event_kind, user, client, detail */
    GW_AUDIT_SESSION_START, /* a sessions row and its session.start event */
    GW_AUDIT_SESSION_BYTES, /* byte counts to add to an open row */
    GW_AUDIT_SESSION_END,   /* the row completed, session.end */
    GW_AUDIT_KILL_DONE,     /* a kill request (row id in number) is done */
    GW_AUDIT_TRANSFER,      /* a file_transfers row (sftp) */
    GW_AUDIT_REC_START,     /* a recording's row with its header */
    GW_AUDIT_REC_CHUNK,     /* a chunk of a recording */
    GW_AUDIT_REC_DEGRADED,  /* a recording lost data: why in reason */
    GW_AUDIT_KIND_END
};

struct gw_audit_record {
    enum gw_audit_kind kind;
    int64_t at_ms; /* wall clock, ms since the epoch */

    /* events, and who a session record is about */
    char *event_kind;
    char *user;
    char *client;
    char *detail;

    /* the session: its natural key, and its start */
    char *conn_uid;
    int64_t channel;
    char *node;
    char *host;
    char *login;
    char *session_kind;
    char *command;
    bool pty;

    /* bytes, the end, a kill */
    uint64_t bytes_up;
    uint64_t bytes_down;
    bool has_exit_status;
    int64_t exit_status;
    char *exit_signal;
    char *reason; /* session end reason, recording degraded reason */
    bool kill_done;
    int64_t number; /* GW_AUDIT_KILL_DONE: the sessions row id */

    /* file transfers */
    char *operation;
    char *path;
    char *path2;
    char *sha256;
    char *status;
    uint64_t bytes_read;
    uint64_t bytes_written;
    /* the file's number in its channel: the record replaces the row of
     * the same session and file_seq (0: a row of its own) */
    uint64_t file_seq;

    /* recordings */
    char *header;
    int64_t seq;
    char *data; /* a chunk: whole asciicast event lines */
    size_t data_len;
};

/* A record of kind with every field zero, at the time now. */
void gw_audit_record_init(struct gw_audit_record *r, enum gw_audit_kind kind);

/* Free the strings of r (the struct itself is the caller's). */
void gw_audit_record_clear(struct gw_audit_record *r);

/* Bytes r holds (for the writer's memory bound). */
size_t gw_audit_record_size(const struct gw_audit_record *r);

/* Encode r: *out is malloc'd, *len its length. GW_OK or GW_ERR_NOMEM. */
int gw_audit_record_encode(const struct gw_audit_record *r, uint8_t **out,
                           size_t *len);

/* Decode what gw_audit_record_encode made. GW_OK, GW_ERR_INVALID (not a
 * record: r is left cleared), GW_ERR_NOMEM. */
int gw_audit_record_decode(const uint8_t *buf, size_t len,
                           struct gw_audit_record *r);

/* The kind's name for logs and events ("session.start", ...). */
const char *gw_audit_kind_name(enum gw_audit_kind kind);

#endif
