/*
 * The audit trail of one relayed channel: its sessions row (written at
 * its start, byte counts flushed every 10 s, completed at its end), the
 * file records of an sftp channel (core/sftp_audit.h into
 * store/transfers.h) and the recording of a terminal (gateway/audit/
 * recorder.h).
 *
 * The channel code owns a struct gw_session_row per channel and calls in
 * from the pump, never from a libssh callback: the row's start goes out
 * with the first gw_session_row_begin after gw_session_row_owe. Nothing
 * here waits for the store: every record goes to the audit writer
 * (gateway/audit/writer.h), naming its session by the connection's uid
 * and the channel number. This module knows nothing of channels: what it
 * records comes in a struct gw_session_facts that the channel fills, so
 * the calls go one way (gateway/chan -> gateway/audit).
 */
#ifndef SSHGATE_GATEWAY_AUDIT_SESSION_ROW_H
#define SSHGATE_GATEWAY_AUDIT_SESSION_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_audit_writer;
struct gw_rec;
struct gw_sftp_audit;

struct gw_session_row {
    struct gw_audit_writer *writer;
    const char *conn_uid; /* the connection's, which outlives the row */
    unsigned chan_id;     /* the channel number: the row's key with uid */
    bool owed;            /* started: the row goes out with the next begin */
    bool started;         /* its start went to the writer */
    char *start_detail;   /* for session.start, until the row goes out */
    uint64_t flushed_up;  /* byte counts the row holds already */
    uint64_t flushed_down;
    int64_t flushed_ms;
    bool killed; /* "session kill": the request is done with the row */
    struct gw_sftp_audit *sftp; /* sftp channels: file records */
    struct gw_rec *rec;         /* pty sessions: the recording */
    bool rec_input;             /* record_input: what the user types too */
};

/* What a channel tells its row when the row is written. */
struct gw_session_facts {
    const char *node;
    const char *conn_uid;
    const char *user;
    const char *client;
    const char *host;  /* NULL: none */
    const char *login; /* NULL: none */
    const char *kind;  /* "shell", "exec", "sftp", "direct-tcpip", ... */
    const char *command;
    bool pty;
    bool sftp; /* audit the sftp protocol of this channel */
    /* A terminal recording, when record is set (recording = on, a pty). */
    bool record;
    bool record_input;
    size_t rec_chunk_bytes; /* 0: the recorder's default */
    int cols;
    int rows;
    const char *term;
};

/* How a channel ended, for the row's end. */
struct gw_session_outcome {
    uint64_t bytes_up;
    uint64_t bytes_down;
    bool has_exit_status;
    int exit_status;
    const char *exit_signal; /* NULL: none */
    const char *reason;      /* the row's end_reason */
};

void gw_session_row_init(struct gw_session_row *row,
                         struct gw_audit_writer *writer, const char *conn_uid,
                         unsigned chan_id);

/* The channel started: its row is owed, with detail (key=value pairs) in
 * its session.start event. */
void gw_session_row_owe(struct gw_session_row *row, const char *detail);

/* Send the owed row's start (and start the sftp audit and the recording)
 * with facts. A record the writer cannot take is counted there; the relay
 * goes on. */
void gw_session_row_begin(struct gw_session_row *row,
                          const struct gw_session_facts *facts);

/* Send the byte counts to the row when ROW_FLUSH_MS have passed, and let
 * the recording hand over what it has gathered. */
void gw_session_row_tick(struct gw_session_row *row, uint64_t up,
                         uint64_t down);

/* Whether the relay must hand this row the bytes it moves. */
bool gw_session_row_taps(const struct gw_session_row *row);

/* What the relay moved (userdata: the row), as struct gw_scratch taps:
 * client to backend, backend to client, backend's stderr to client. */
void gw_session_row_tap_up(void *row, const char *data, size_t len);
void gw_session_row_tap_down(void *row, const char *data, size_t len);
void gw_session_row_tap_down_err(void *row, const char *data, size_t len);

/* A pty's new size, for the recording (formats only: no I/O). */
void gw_session_row_resize(struct gw_session_row *row, int cols, int rows);

/* Complete the row (writing it first if it is still owed, with facts):
 * end the sftp audit and the recording, write the outcome, and mark a
 * kill request done. */
void gw_session_row_end(struct gw_session_row *row,
                        const struct gw_session_facts *facts,
                        const struct gw_session_outcome *outcome);

/* Free what the row holds without writing anything (teardown after end,
 * or a channel that never started). */
void gw_session_row_release(struct gw_session_row *row);

/* A "session kill" for a row no channel of this connection holds any
 * more: mark the request done. */
void gw_session_row_kill_gone(struct gw_audit_writer *writer, int64_t id);

#endif
