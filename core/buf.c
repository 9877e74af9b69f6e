#include "buf.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_buf_init(struct gw_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

/* Make room for need more bytes plus the terminating NUL. */
static int reserve(struct gw_buf *b, size_t need)
{
    size_t want;
    size_t ncap;
    char *grown = NULL;

    if (need > (size_t)-1 / 2 - b->len) {
        return GW_ERR_NOMEM;
    }
    if (b->max != 0 && b->len + need > b->max) {
        return gw_err_set(GW_ERR_INVALID, "output too large (limit %zu bytes)",
                          b->max);
    }
    want = b->len + need + 1;
    if (want <= b->cap) {
        return GW_OK;
    }
    ncap = b->cap == 0 ? 256 : b->cap;
    while (ncap < want) {
        ncap *= 2;
    }
    grown = realloc(b->data, ncap);
    if (grown == NULL) {
        return GW_ERR_NOMEM;
    }
    b->data = grown;
    b->cap = ncap;
    return GW_OK;
}

int gw_buf_append(struct gw_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);

    if (rc != GW_OK) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return GW_OK;
}

int gw_buf_puts(struct gw_buf *b, const char *s)
{
    return gw_buf_append(b, s, strlen(s));
}

int gw_buf_appendf(struct gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    int need;
    int rc;

    va_start(ap, fmt);
    need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        return gw_err_set(GW_ERR_INVALID, "cannot format text");
    }
    rc = reserve(b, (size_t)need);
    if (rc != GW_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
    return GW_OK;
}

void gw_buf_consume(struct gw_buf *b, size_t n)
{
    if (n >= b->len) {
        gw_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void gw_buf_reset(struct gw_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

void gw_buf_free(struct gw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
