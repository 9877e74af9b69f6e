#include "gateway/front/refuse.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>

#define SSH_MSG_DISCONNECT 1
/* The cipher block size before the first key exchange ("none"). */
#define BLOCK       8
#define MIN_PADDING 4 /* RFC 4253 6 */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Payload: byte type, uint32 reason, string description, string language. */
static size_t put_payload(uint8_t *p, uint32_t reason, const char *text,
                          size_t text_len)
{
    size_t off = 0;

    p[off++] = SSH_MSG_DISCONNECT;
    put_u32(p + off, reason);
    off += 4;
    put_u32(p + off, (uint32_t)text_len);
    off += 4;
    memcpy(p + off, text, text_len);
    off += text_len;
    put_u32(p + off, 0); /* empty language tag */
    off += 4;
    return off;
}

int gw_refusal_build(const char *version, uint32_t reason, const char *text,
                     uint8_t out[GW_REFUSAL_MAX], size_t *len)
{
    size_t text_len = strlen(text);
    size_t payload_len = 1 + 4 + 4 + text_len + 4;
    size_t padding;
    size_t ident_len;
    int n;

    n = snprintf((char *)out, GW_REFUSAL_MAX, "SSH-2.0-%s\r\n", version);
    if (n < 0 || (size_t)n >= GW_REFUSAL_MAX) {
        return gw_err_set(GW_ERR_INVALID, "version string too long");
    }
    ident_len = (size_t)n;
    /* 4 (length) + 1 (padding length) + payload + padding is a multiple of
     * the block size, with at least MIN_PADDING bytes of padding. */
    padding = BLOCK - (5 + payload_len) % BLOCK;
    if (padding < MIN_PADDING) {
        padding += BLOCK;
    }
    if (ident_len + 5 + payload_len + padding > GW_REFUSAL_MAX) {
        return gw_err_set(GW_ERR_INVALID, "refusal text too long");
    }
    put_u32(out + ident_len, (uint32_t)(1 + payload_len + padding));
    out[ident_len + 4] = (uint8_t)padding;
    put_payload(out + ident_len + 5, reason, text, text_len);
    memset(out + ident_len + 5 + payload_len, 0, padding);
    *len = ident_len + 5 + payload_len + padding;
    return GW_OK;
}
