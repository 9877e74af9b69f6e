/*
 * An append-only file of checksummed frames: where the audit writer keeps
 * records the database cannot take right now (locked, full, unreachable),
 * in order, until they are replayed.
 *
 * Layout (all integers big-endian):
 *   header  "SGSPOOL1" | 16 random bytes (the spool's id)
 *   frame   u32 payload length | 8 bytes of SHA-256(length || payload) |
 *           payload
 *
 * A crash can leave a torn last frame (a short write) or, on a file system
 * without data journalling, garbage after the last good frame. Opening
 * scans the file, keeps every frame up to the first one that is short or
 * fails its checksum, and cuts the rest off (reported in the scan). The id
 * changes whenever the spool is emptied, so that a replay position stored
 * elsewhere (the database) for an older spool is never applied to a newer
 * one.
 */
#ifndef SSHGATE_CORE_SPOOL_H
#define SSHGATE_CORE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SPOOL_ID_HEX     33 /* 16 bytes as hex + NUL */
#define GW_SPOOL_FRAME_MAX  (16u * 1024 * 1024)
#define GW_SPOOL_HEADER_LEN 24u

struct gw_spool;

/* What opening found. */
struct gw_spool_scan {
    uint64_t frames;     /* good frames kept */
    uint64_t torn_bytes; /* bytes cut off after the last good frame */
};

/*
 * Open the spool at path, creating it (mode 0600) if it does not exist.
 * max_bytes bounds the file (header included). GW_OK, GW_ERR_IO (cannot
 * open, read or cut), GW_ERR_INVALID (not a spool file: left alone),
 * GW_ERR_NOMEM.
 */
int gw_spool_open(const char *path, uint64_t max_bytes, struct gw_spool **out,
                  struct gw_spool_scan *scan);

void gw_spool_close(struct gw_spool *sp);

/* The spool's id, as hex. */
const char *gw_spool_id(const struct gw_spool *sp);

/* Offsets: where the first frame starts, and where the next one will. */
uint64_t gw_spool_first(const struct gw_spool *sp);
uint64_t gw_spool_end(const struct gw_spool *sp);

/* Whether frames are waiting (the end is past the first frame). */
bool gw_spool_empty(const struct gw_spool *sp);

/*
 * Append one frame (written, not yet synced). GW_OK; GW_AGAIN when it
 * would make the file larger than max_bytes (nothing written);
 * GW_ERR_INVALID for a payload over GW_SPOOL_FRAME_MAX; GW_ERR_IO when the
 * write fails (a full disk: the partial frame is cut off again).
 */
int gw_spool_append(struct gw_spool *sp, const void *payload, size_t len);

/* Make what was appended durable (fdatasync). GW_OK or GW_ERR_IO. */
int gw_spool_sync(struct gw_spool *sp);

/*
 * Read the frame at offset (gw_spool_first, or a *next from before):
 * *payload is malloc'd, *len its length, *next the following frame's
 * offset. GW_OK, GW_ERR_NOTFOUND at the end, GW_ERR_INVALID for an offset
 * that is not a frame boundary or a frame that no longer checks out,
 * GW_ERR_IO, GW_ERR_NOMEM.
 */
int gw_spool_read(struct gw_spool *sp, uint64_t offset, void **payload,
                  size_t *len, uint64_t *next);

/* Empty the spool (everything was replayed) and give it a new id. */
int gw_spool_reset(struct gw_spool *sp);

#endif
