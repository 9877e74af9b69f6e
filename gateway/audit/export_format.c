#include "gateway/audit/export_format.h"

#include "core/buf.h"
#include "core/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5424 6: HOSTNAME is at most 255 and MSGID 32 printable characters. */
#define HOSTNAME_MAX 255
#define MSGID_MAX    32

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* The length of the valid UTF-8 sequence at p (1 to 4), 0 if there is
 * none (a stray, overlong, surrogate or out-of-range sequence). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

/* s into b, as valid UTF-8; with sd, '"', '\' and ']' escaped. */
static int put_text(struct gw_buf *b, const char *s, bool sd)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = GW_OK;

    while (*p != '\0' && rc == GW_OK) {
        size_t n = utf8_len(p);
        if (n == 0) {
            rc = gw_buf_puts(b, replacement);
            p++;
            continue;
        }
        if (sd && (*p == '"' || *p == '\\' || *p == ']')) {
            rc = gw_buf_append(b, "\\", 1);
        }
        if (rc == GW_OK) {
            rc = gw_buf_append(b, p, n);
        }
        p += n;
    }
    return rc;
}

size_t gw_export_sd_escape(const char *s, char *out, size_t cap)
{
    struct gw_buf b;
    size_t need;

    gw_buf_init(&b, 0);
    if (put_text(&b, s, true) != GW_OK) {
        gw_buf_free(&b);
        if (cap > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    need = b.len;
    if (cap > 0) {
        size_t n = need < cap - 1 ? need : cap - 1;
        if (n > 0) {
            memcpy(out, b.data, n);
        }
        out[n] = '\0';
    }
    gw_buf_free(&b);
    return need;
}

int gw_export_severity(const char *kind)
{
    static const char *const warnings[] = {
        "failure",       "denied",     "refused",  "locked",
        "source_locked", "mismatch",   "degraded", "lost",
        "rejected",      "spool_torn", "dropped",  "revoked",
    };
    const char *last = strrchr(kind, '.');

    last = last != NULL ? last + 1 : kind;
    for (size_t i = 0; i < sizeof(warnings) / sizeof(warnings[0]); i++) {
        if (strcmp(last, warnings[i]) == 0) {
            return GW_EXPORT_SEV_WARNING;
        }
    }
    return GW_EXPORT_SEV_INFO;
}

/* A header field: printable US-ASCII without spaces, at most max
 * characters, "-" (the NILVALUE) when nothing is left. */
static int put_token(struct gw_buf *b, const char *s, size_t max)
{
    size_t n = 0;
    int rc = GW_OK;

    for (const char *p = s != NULL ? s : ""; *p != '\0' && n < max; p++) {
        char c = *p > 32 && *p < 127 ? *p : '_';
        rc = rc == GW_OK ? gw_buf_append(b, &c, 1) : rc;
        n++;
    }
    return n == 0 ? gw_buf_puts(b, "-") : rc;
}

static bool present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int put_param(struct gw_buf *b, const char *name, const char *value)
{
    int rc = gw_buf_appendf(b, " %s=\"", name);

    if (rc == GW_OK) {
        rc = put_text(b, value, true);
    }
    return rc == GW_OK ? gw_buf_puts(b, "\"") : rc;
}

/* Everything before MSG. */
static int put_header(struct gw_buf *b, const struct gw_export_event *e,
                      const struct gw_export_origin *o)
{
    char id[24];
    int rc = gw_buf_appendf(
        b, "<%d>1 ", GW_EXPORT_FACILITY * 8 + gw_export_severity(e->kind));

    rc = rc == GW_OK ? put_token(b, e->created_at, 64) : rc;
    rc = rc == GW_OK ? gw_buf_puts(b, " ") : rc;
    rc = rc == GW_OK ? put_token(b, o->node, HOSTNAME_MAX) : rc;
    rc = rc == GW_OK ? gw_buf_appendf(b, " %s %ld ", GW_EXPORT_APP_NAME, o->pid)
                     : rc;
    rc = rc == GW_OK ? put_token(b, e->kind, MSGID_MAX) : rc;
    rc = rc == GW_OK ? gw_buf_puts(b, " [" GW_EXPORT_SD_ID) : rc;
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    rc = rc == GW_OK ? put_param(b, "id", id) : rc;
    rc = rc == GW_OK ? put_param(b, "hash", e->hash) : rc;
    rc = rc == GW_OK ? put_param(b, "prev", e->prev_hash) : rc;
    if (rc == GW_OK && present(e->user)) {
        rc = put_param(b, "user", e->user);
    }
    if (rc == GW_OK && present(e->client)) {
        rc = put_param(b, "client", e->client);
    }
    return rc == GW_OK ? gw_buf_puts(b, "]") : rc;
}

int gw_export_syslog(const struct gw_export_event *e,
                     const struct gw_export_origin *o, size_t max, char **out,
                     size_t *len)
{
    struct gw_buf b;
    size_t head;
    int rc;

    gw_buf_init(&b, 0);
    rc = put_header(&b, e, o);
    head = b.len;
    if (rc == GW_OK && present(e->detail)) {
        rc = gw_buf_puts(&b, " ");
        rc = rc == GW_OK ? put_text(&b, e->detail, false) : rc;
    }
    if (rc != GW_OK || b.data == NULL) {
        gw_buf_free(&b);
        return GW_ERR_NOMEM;
    }
    if (b.len > max) {
        /* The MSG is octets (no BOM): it may be cut anywhere. */
        b.len = head > max ? head : max;
        b.data[b.len] = '\0';
    }
    *out = b.data;
    *len = b.len;
    return GW_OK;
}

int gw_export_octet_frame(const char *msg, size_t msg_len, char **out,
                          size_t *len)
{
    struct gw_buf b;

    gw_buf_init(&b, 0);
    if (gw_buf_appendf(&b, "%zu ", msg_len) != GW_OK ||
        gw_buf_append(&b, msg, msg_len) != GW_OK) {
        gw_buf_free(&b);
        return GW_ERR_NOMEM;
    }
    *out = b.data;
    *len = b.len;
    return GW_OK;
}

/* s as a JSON string (valid UTF-8), or null when absent. */
static json_t *text_or_null(const char *s, bool null_if_empty)
{
    struct gw_buf b;
    json_t *j;

    if (s == NULL || (null_if_empty && s[0] == '\0')) {
        return json_null();
    }
    gw_buf_init(&b, 0);
    if (put_text(&b, s, false) != GW_OK) {
        gw_buf_free(&b);
        return NULL;
    }
    j = json_stringn(b.data != NULL ? b.data : "", b.len);
    gw_buf_free(&b);
    return j;
}

int gw_export_json(const struct gw_export_event *e,
                   const struct gw_export_origin *o, char **out, size_t *len)
{
    json_t *obj = json_object();
    char *text = NULL;
    int bad = obj == NULL;

    if (!bad) {
        bad |= json_object_set_new(obj, "id", json_integer(e->id));
        bad |= json_object_set_new(obj, "created_at",
                                   text_or_null(e->created_at, false));
        bad |= json_object_set_new(obj, "kind", text_or_null(e->kind, false));
        bad |= json_object_set_new(obj, "user", text_or_null(e->user, true));
        bad |=
            json_object_set_new(obj, "client", text_or_null(e->client, true));
        bad |= json_object_set_new(
            obj, "detail",
            text_or_null(e->detail != NULL ? e->detail : "", false));
        bad |= json_object_set_new(obj, "prev_hash",
                                   text_or_null(e->prev_hash, false));
        bad |= json_object_set_new(obj, "hash", text_or_null(e->hash, false));
        bad |= json_object_set_new(obj, "node", text_or_null(o->node, true));
    }
    if (!bad) {
        text = json_dumps(obj, JSON_COMPACT);
    }
    json_decref(obj);
    if (text == NULL) {
        return GW_ERR_NOMEM;
    }
    *len = strlen(text);
    /* json_dumps allocates with malloc by default: room for the newline. */
    {
        char *line = realloc(text, *len + 2);
        if (line == NULL) {
            free(text);
            return GW_ERR_NOMEM;
        }
        line[(*len)++] = '\n';
        line[*len] = '\0';
        *out = line;
    }
    return GW_OK;
}
