/*
 * Terminal recordings in asciicast v2: the header line, then the event
 * lines in numbered chunks, so that a long session is written in small
 * transactions and replayed in order.
 *
 * Each chunk stores a digest chained to the chunk written before it (the
 * first to the recording's id, session, header and creation time); the
 * session's session.end event carries the digest of the last, which
 * binds the recording into the event hash chain. A recording started or
 * a chunk stored after the session's end is bound by a session.amend
 * event written in the same transaction.
 */
#ifndef SSHGATE_STORE_RECORDINGS_H
#define SSHGATE_STORE_RECORDINGS_H

#include "core/timeutil.h"

#include <stddef.h>
#include <stdint.h>

struct store;

struct store_recording {
    int64_t id;
    int64_t session_id;
    char *header; /* asciicast v2 header JSON (one line, no newline) */
    int64_t chunks;
    int64_t bytes;
    char *degraded; /* why parts are missing; "" when complete */
    char created_at[GW_TIME_LEN];
};

/* Start the recording of session_id. GW_ERR_EXISTS if it has one. */
int store_recording_start(struct store *st, int64_t session_id,
                          const char *header, int64_t *id);

/* Append chunk seq (event lines, each ending in '\n'). */
int store_recording_append(struct store *st, int64_t id, int64_t seq,
                           const char *data, size_t len);

/* Note that the recording lost data (slow disk, full queue). */
int store_recording_degraded(struct store *st, int64_t id, const char *why);

/* The recording of session_id. GW_OK or GW_ERR_NOTFOUND. */
int store_recording_get(struct store *st, int64_t session_id,
                        struct store_recording *out);
void store_recording_clear(struct store_recording *r);

/* Call fn for every chunk of recording id in order; a non-GW_OK return
 * from fn stops the walk and is returned. */
int store_recording_chunks(struct store *st, int64_t id,
                           int (*fn)(void *arg, const char *data, size_t len),
                           void *arg);

/* One chunk as store_recording_chunks_after hands it out. */
struct store_chunk {
    int64_t seq;
    char *data; /* its event lines, NUL-terminated (len bytes before it) */
    size_t len;
};

/*
 * The chunks of recording id with seq > after_seq, in seq order, at most
 * max of them (1 or more): a malloc'd array of *n (0 when there is none
 * yet) that store_chunk_list_free frees. For a reader that follows a
 * recording as it is written (session watch): one indexed range read on
 * UNIQUE (recording_id, seq), no statement left open between calls, and
 * memory bounded by max chunks.
 */
int store_recording_chunks_after(struct store *st, int64_t id,
                                 int64_t after_seq, size_t max,
                                 struct store_chunk **out, size_t *n);
void store_chunk_list_free(struct store_chunk *list, size_t n);

/* The highest seq of recording id's chunks, or -1 when it has none. */
int store_recording_last_seq(struct store *st, int64_t id, int64_t *seq);

#endif
