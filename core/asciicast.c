#include "core/asciicast.h"

#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON-escaped text of len bytes of valid UTF-8 (checked by the caller). */
static int put_escaped(struct gw_buf *out, const unsigned char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* bytes that need no escape, copied in one go */

    for (size_t i = 0; i < len; i++) {
        unsigned char b = p[i];
        char esc[7];
        size_t n = 2;
        if (b >= 0x20 && b != '"' && b != '\\' && b != 0x7f) {
            continue;
        }
        if (gw_buf_append(out, p + run, i - run) != GW_OK) {
            return GW_ERR_NOMEM;
        }
        run = i + 1;
        esc[0] = '\\';
        switch (b) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[b >> 4];
            esc[5] = hex[b & 0xf];
            n = 6;
        }
        if (gw_buf_append(out, esc, n) != GW_OK) {
            return GW_ERR_NOMEM;
        }
    }
    return gw_buf_append(out, p + run, len - run);
}

/* Length of the UTF-8 sequence lead starts (0: not a lead byte). */
static size_t seq_len(unsigned char lead)
{
    if (lead < 0x80) {
        return 1;
    }
    if (lead >= 0xc2 && lead <= 0xdf) {
        return 2;
    }
    if (lead >= 0xe0 && lead <= 0xef) {
        return 3;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        return 4;
    }
    return 0;
}

/* Whether byte k (>= 1) of a sequence starting with lead may be b:
 * continuation bytes, without overlong forms, surrogates or code points
 * above U+10FFFF. */
static bool seq_byte_ok(unsigned char lead, size_t k, unsigned char b)
{
    if ((b & 0xc0) != 0x80) {
        return false;
    }
    if (k != 1) {
        return true;
    }
    switch (lead) {
    case 0xe0:
        return b >= 0xa0;
    case 0xed:
        return b <= 0x9f;
    case 0xf0:
        return b >= 0x90;
    case 0xf4:
        return b <= 0x8f;
    default:
        return true;
    }
}

/*
 * The valid prefix of p: how many bytes starting at p form complete
 * characters. What follows is an invalid byte, or (*partial) a character
 * that the data ends in the middle of.
 */
static size_t valid_prefix(const unsigned char *p, size_t len, bool *partial)
{
    size_t i = 0;

    *partial = false;
    while (i < len) {
        size_t n = seq_len(p[i]);
        size_t k = 1;
        if (n == 0) {
            return i;
        }
        while (k < n && i + k < len && seq_byte_ok(p[i], k, p[i + k])) {
            k++;
        }
        if (k < n) {
            *partial = i + k == len; /* ran out, not broken */
            return i;
        }
        i += n;
    }
    return i;
}

static const unsigned char replacement[] = {0xef, 0xbf, 0xbd}; /* U+FFFD */

/* Escaped text of data, with invalid bytes replaced; an unfinished
 * character at the very end is left in s. */
static int put_text(struct gw_buf *out, struct gw_cast_stream *s,
                    const unsigned char *p, size_t len)
{
    while (len > 0) {
        bool partial;
        size_t ok = valid_prefix(p, len, &partial);
        if (put_escaped(out, p, ok) != GW_OK) {
            return GW_ERR_NOMEM;
        }
        p += ok;
        len -= ok;
        if (len == 0) {
            break;
        }
        if (partial) {
            memcpy(s->carry, p, len); /* len < 4 when partial */
            s->ncarry = len;
            break;
        }
        if (gw_buf_append(out, replacement, sizeof(replacement)) != GW_OK) {
            return GW_ERR_NOMEM;
        }
        p++;
        len--;
    }
    return GW_OK;
}

/* Seconds with microseconds, as asciinema writes them. */
static int put_time(struct gw_buf *out, int64_t usec)
{
    if (usec < 0) {
        usec = 0;
    }
    return gw_buf_appendf(out, "[%lld.%06lld, ", (long long)(usec / 1000000),
                          (long long)(usec % 1000000));
}

int gw_cast_event(struct gw_buf *out, struct gw_cast_stream *s, int64_t usec,
                  char type, const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned char *joined = NULL;
    size_t mark = out->len;
    bool partial;
    int rc;

    if (s->ncarry > 0) {
        /* Rare: a character was split between two reads. The carried
         * bytes go in front of the new ones, as one piece. */
        joined = malloc(s->ncarry + len);
        if (joined == NULL) {
            return GW_ERR_NOMEM;
        }
        memcpy(joined, s->carry, s->ncarry);
        memcpy(joined + s->ncarry, data, len);
        len += s->ncarry;
        p = joined;
        s->ncarry = 0;
    }
    if (valid_prefix(p, len, &partial) == 0 && partial) {
        memcpy(s->carry, p, len); /* only the start of a character */
        s->ncarry = len;
        free(joined);
        return GW_OK;
    }
    rc = put_time(out, usec);
    if (rc == GW_OK) {
        rc = gw_buf_appendf(out, "\"%c\", \"", type);
    }
    if (rc == GW_OK) {
        rc = put_text(out, s, p, len);
    }
    if (rc == GW_OK) {
        rc = gw_buf_puts(out, "\"]\n");
    }
    free(joined);
    if (rc != GW_OK) {
        out->len = mark; /* no half line */
        if (out->data != NULL) {
            out->data[mark] = '\0';
        }
        return GW_ERR_NOMEM;
    }
    return GW_OK;
}

int gw_cast_resize(struct gw_buf *out, int64_t usec, int cols, int rows)
{
    int rc = put_time(out, usec);

    return rc == GW_OK ? gw_buf_appendf(out, "\"r\", \"%dx%d\"]\n", cols, rows)
                       : rc;
}

int gw_cast_header(struct gw_buf *out, int cols, int rows, int64_t started,
                   const char *term, const char *title)
{
    struct gw_cast_stream none = {{0}, 0};
    int rc;

    rc = gw_buf_appendf(out,
                        "{\"version\": 2, \"width\": %d, \"height\": %d, "
                        "\"timestamp\": %lld",
                        cols > 0 ? cols : 80, rows > 0 ? rows : 24,
                        (long long)started);
    if (rc == GW_OK && term != NULL) {
        rc = gw_buf_puts(out, ", \"env\": {\"TERM\": \"");
        if (rc == GW_OK) {
            rc =
                put_text(out, &none, (const unsigned char *)term, strlen(term));
        }
        if (rc == GW_OK) {
            rc = gw_buf_puts(out, "\"}");
        }
    }
    if (rc == GW_OK && title != NULL) {
        rc = gw_buf_puts(out, ", \"title\": \"");
        if (rc == GW_OK) {
            rc = put_text(out, &none, (const unsigned char *)title,
                          strlen(title));
        }
        if (rc == GW_OK) {
            rc = gw_buf_puts(out, "\"");
        }
    }
    return rc == GW_OK ? gw_buf_puts(out, "}\n") : rc;
}
