/*
 * asciicast v2 (the asciinema file format) as text: the header line and
 * one event line per piece of terminal output or input. Pure formatting,
 * no I/O: the gateway's recorder and the tests use it.
 *
 * Terminal output is a byte stream; asciicast keeps it as JSON strings,
 * which must be valid UTF-8. A multi-byte character split across two
 * reads is carried over to the next event of the same stream, and bytes
 * that are not UTF-8 at all become U+FFFD (as asciinema's own recorder
 * does), so that every line is valid JSON whatever the backend sends.
 */
#ifndef SSHGATE_CORE_ASCIICAST_H
#define SSHGATE_CORE_ASCIICAST_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* One stream ("o" or "i") of a recording: the bytes of a character that
 * the last event ended in the middle of. */
struct gw_cast_stream {
    unsigned char carry[4];
    size_t ncarry;
};

/* Append the header line (with '\n') for a terminal of cols x rows that
 * started at unix time started (seconds); term and title may be NULL. */
int gw_cast_header(struct gw_buf *out, int cols, int rows, int64_t started,
                   const char *term, const char *title);

/* Append the event line `[seconds, "type", "data"]` for len bytes of
 * data (type 'o' output or 'i' input). Nothing is appended when the bytes
 * only start a character (they wait in s). GW_OK or GW_ERR_NOMEM. */
int gw_cast_event(struct gw_buf *out, struct gw_cast_stream *s, int64_t usec,
                  char type, const char *data, size_t len);

/* Append a resize event `[seconds, "r", "COLSxROWS"]`. */
int gw_cast_resize(struct gw_buf *out, int64_t usec, int cols, int rows);

#endif
