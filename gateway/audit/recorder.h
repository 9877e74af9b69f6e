/*
 * Terminal recordings of pty sessions (asciicast v2, core/asciicast.h),
 * stored in the recordings tables (store/recordings.h).
 *
 * The connection thread only formats: output (and input, with
 * record_input) becomes event lines in a per-recording buffer, handed as a
 * chunk of whole lines to one writer thread when it holds CHUNK_BYTES or
 * its oldest line is a second old. The queue between them is bounded in
 * bytes (recording_queue_size, over all recordings): when the database
 * cannot keep up, chunks that do not fit are dropped, the recording is
 * marked degraded and a "recording.degraded" event is written, and the
 * session itself never waits. A chunk the queue took is written: a locked
 * database is retried until it frees up.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_RECORDER_H
#define SSHGATE_GATEWAY_AUDIT_RECORDER_H

#include <stddef.h>
#include <stdint.h>

struct gw_recq;
struct gw_rec;

/* Start the writer on the database at db_path; at most max_bytes of
 * chunks wait for it at any time. */
int gw_recq_start(const char *db_path, size_t max_bytes, struct gw_recq **out);

/* Write what is queued (giving a locked database up to drain_ms), stop the
 * writer and free the queue. NULL is fine. */
void gw_recq_stop(struct gw_recq *q, int64_t drain_ms);

/* What the header of a recording says. */
struct gw_rec_info {
    int64_t session_id; /* the sessions row the recording belongs to */
    int cols;
    int rows;
    const char *term;  /* may be NULL */
    const char *title; /* may be NULL */
    const char *user;  /* for the recording.degraded event */
    const char *client;
};

/* Start a recording (its row is written by the writer). GW_OK or
 * GW_ERR_NOMEM. */
int gw_rec_open(struct gw_recq *q, const struct gw_rec_info *info,
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
