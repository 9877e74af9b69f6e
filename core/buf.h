/*
 * A growable byte buffer with an optional size cap, for text the gateway
 * builds up (command output, menus) before it can be sent. The data is kept
 * NUL-terminated so that text users can treat it as a string.
 */
#ifndef SSHGATE_CORE_BUF_H
#define SSHGATE_CORE_BUF_H

#include <stddef.h>

struct gw_buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len allowed; 0 means no limit */
};

/* An empty buffer that refuses to grow beyond max bytes (0: no limit). */
void gw_buf_init(struct gw_buf *b, size_t max);

/* Append n bytes. GW_OK, GW_ERR_NOMEM, or GW_ERR_INVALID when the result
 * would exceed the cap (nothing is appended then). */
int gw_buf_append(struct gw_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
int gw_buf_puts(struct gw_buf *b, const char *s);

/* Append printf-style text; same results as gw_buf_append. */
int gw_buf_appendf(struct gw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drop the first n bytes (all of them when n >= len). */
void gw_buf_consume(struct gw_buf *b, size_t n);

/* Forget the contents, keep the memory. */
void gw_buf_reset(struct gw_buf *b);

/* Release the memory; the buffer is empty (and reusable) afterwards. */
void gw_buf_free(struct gw_buf *b);

#endif
