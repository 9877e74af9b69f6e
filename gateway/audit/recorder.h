/*
 * Terminal recordings of pty sessions (asciicast v2, core/asciicast.h),
 * stored in the recordings tables (store/recordings.h) by the audit
 * writer (gateway/audit/writer.h).
 *
 * The connection thread only formats: output (and input, with
 * record_input) becomes event lines in a per-recording buffer, handed to
 * the writer as a chunk record of whole lines when it holds CHUNK_BYTES or
 * its oldest line is a second old. Chunks have their own budget in the
 * writer's queue (recording_queue_size): when the database cannot keep up
 * and the spool cannot take them either, chunks that do not fit are
 * dropped, the recording is marked degraded and a "recording.degraded"
 * event is written, and the session itself never waits. A chunk the
 * writer took is written.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_RECORDER_H
#define SSHGATE_GATEWAY_AUDIT_RECORDER_H

#include <stddef.h>
#include <stdint.h>

struct gw_audit_writer;
struct gw_rec;

/* What the header of a recording says, and whose it is. */
struct gw_rec_info {
    const char *conn_uid; /* the session: connection uid and channel */
    int channel;
    size_t chunk_bytes; /* at most this much per chunk (0: the default) */
    int cols;
    int rows;
    const char *term;  /* may be NULL */
    const char *title; /* may be NULL */
    const char *user;  /* for the recording.degraded event */
    const char *client;
};

/* Start a recording (its row is written by the writer). GW_OK or
 * GW_ERR_NOMEM. */
int gw_rec_open(struct gw_audit_writer *w, const struct gw_rec_info *info,
                struct gw_rec **out);

/* Terminal output (type 'o') or input ('i') of len bytes, now. */
void gw_rec_data(struct gw_rec *r, char type, const char *data, size_t len);

/* The terminal was resized. */
void gw_rec_resize(struct gw_rec *r, int cols, int rows);

/* Hand over lines that have waited a second. Call now and then. */
void gw_rec_tick(struct gw_rec *r);

/* The session ended: hand over the rest and let go of r. NULL is fine. */
void gw_rec_close(struct gw_rec *r);

#endif
