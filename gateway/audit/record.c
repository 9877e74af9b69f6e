#include "gateway/audit/record.h"

#include "core/err.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

/*
 * 2 added file_seq, after every field of 1. A new field means a new
 * version, not an optional tail: the version byte then says exactly which
 * fields follow, a record still has to end where its last field does,
 * and an older sshgated that meets a newer record in the spool (a
 * downgrade during an outage) refuses it as undecodable (an
 * audit.rejected event) instead of reading it wrong. The versions before
 * stay readable: a spool left by the previous release replays after an
 * upgrade, its transfers as rows of their own (file_seq 0).
 */
#define FORMAT_VERSION 2
#define FORMAT_OLDEST  1
/* A string field longer than this is not one we wrote. */
#define FIELD_MAX (16u * 1024 * 1024)

/* Every field of version 1, in the order they are encoded; after them the
 * fields each later version added (V2_FIELDS), in version order. */
#define STRING_FIELDS(X) \
    X(event_kind)        \
    X(user)              \
    X(client)            \
    X(detail)            \
    X(conn_uid)          \
    X(node)              \
    X(host)              \
    X(login)             \
    X(session_kind)      \
    X(command)           \
    X(exit_signal)       \
    X(reason)            \
    X(operation)         \
    X(path)              \
    X(path2)             \
    X(sha256)            \
    X(status)            \
    X(header)

#define NUMBER_FIELDS(X) \
    X(at_ms)             \
    X(channel)           \
    X(exit_status)       \
    X(number)            \
    X(seq)

#define UNSIGNED_FIELDS(X) \
    X(bytes_up)            \
    X(bytes_down)          \
    X(bytes_read)          \
    X(bytes_written)

#define FLAG_FIELDS(X) \
    X(pty)             \
    X(has_exit_status) \
    X(kill_done)

/* Unsigned, after the data of version 1. */
#define V2_FIELDS(X) X(file_seq)

struct writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool failed;
};

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t at;
    bool failed;
};

void gw_audit_record_init(struct gw_audit_record *r, enum gw_audit_kind kind)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->at_ms = gw_time_wall_ms();
}

void gw_audit_record_clear(struct gw_audit_record *r)
{
#define FREE_FIELD(name) free(r->name);
    STRING_FIELDS(FREE_FIELD)
#undef FREE_FIELD
    free(r->data);
    memset(r, 0, sizeof(*r));
}

size_t gw_audit_record_size(const struct gw_audit_record *r)
{
    size_t n = sizeof(*r) + r->data_len;

#define ADD_FIELD(name) n += r->name != NULL ? strlen(r->name) + 1 : 0;
    STRING_FIELDS(ADD_FIELD)
#undef ADD_FIELD
    return n;
}

/* ---- encoding ---------------------------------------------------------- */

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->failed) {
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap > 0 ? w->cap : 256;
        uint8_t *grown;
        while (cap < w->len + n) {
            cap *= 2;
        }
        grown = realloc(w->buf, cap);
        if (grown == NULL) {
            w->failed = true;
            return;
        }
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_u64(struct writer *w, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    put(w, b, sizeof(b));
}

static void put_bytes(struct writer *w, const char *p, size_t n, bool present)
{
    uint8_t flag = present ? 1 : 0;
    uint8_t b[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};

    put(w, &flag, 1);
    if (present) {
        put(w, b, sizeof(b));
        put(w, p, n);
    }
}

int gw_audit_record_encode(const struct gw_audit_record *r, uint8_t **out,
                           size_t *len)
{
    struct writer w = {0};
    uint8_t head[2] = {FORMAT_VERSION, (uint8_t)r->kind};

    put(&w, head, sizeof(head));
#define PUT_STRING(name)                                          \
    put_bytes(&w, r->name, r->name != NULL ? strlen(r->name) : 0, \
              r->name != NULL);
    STRING_FIELDS(PUT_STRING)
#undef PUT_STRING
#define PUT_NUMBER(name) put_u64(&w, (uint64_t)r->name);
    NUMBER_FIELDS(PUT_NUMBER)
#undef PUT_NUMBER
#define PUT_UNSIGNED(name) put_u64(&w, r->name);
    UNSIGNED_FIELDS(PUT_UNSIGNED)
#define PUT_FLAG(name) put_u64(&w, r->name ? 1 : 0);
    FLAG_FIELDS(PUT_FLAG)
#undef PUT_FLAG
    put_bytes(&w, r->data, r->data_len, r->data != NULL);
    V2_FIELDS(PUT_UNSIGNED)
#undef PUT_UNSIGNED
    if (w.failed) {
        free(w.buf);
        return GW_ERR_NOMEM;
    }
    *out = w.buf;
    *len = w.len;
    return GW_OK;
}

/* ---- decoding ---------------------------------------------------------- */

static const uint8_t *take(struct reader *rd, size_t n)
{
    const uint8_t *p;

    if (rd->failed || n > rd->len - rd->at) {
        rd->failed = true;
        return NULL;
    }
    p = rd->buf + rd->at;
    rd->at += n;
    return p;
}

static uint64_t take_u64(struct reader *rd)
{
    const uint8_t *p = take(rd, 8);
    uint64_t v = 0;

    for (int i = 0; p != NULL && i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* A string or byte field: *out malloc'd (NUL-terminated) or NULL when
 * absent. Strings must not hold a NUL: the store takes C strings. */
static char *take_bytes(struct reader *rd, size_t *len, bool allow_nul)
{
    const uint8_t *flag = take(rd, 1);
    const uint8_t *b;
    const uint8_t *p;
    size_t n;
    char *s;

    if (flag == NULL || *flag == 0) {
        return NULL;
    }
    if (*flag != 1 || (b = take(rd, 4)) == NULL) {
        rd->failed = true;
        return NULL;
    }
    n = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
    if (n > FIELD_MAX || (p = take(rd, n)) == NULL ||
        (!allow_nul && memchr(p, '\0', n) != NULL)) {
        rd->failed = true;
        return NULL;
    }
    s = malloc(n + 1);
    if (s == NULL) {
        rd->failed = true;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return s;
}

int gw_audit_record_decode(const uint8_t *buf, size_t len,
                           struct gw_audit_record *r)
{
    struct reader rd = {.buf = buf, .len = len};
    const uint8_t *head = take(&rd, 2);
    uint64_t flag;

    memset(r, 0, sizeof(*r));
    if (head == NULL || head[0] < FORMAT_OLDEST || head[0] > FORMAT_VERSION ||
        head[1] == 0 || head[1] >= GW_AUDIT_KIND_END) {
        return GW_ERR_INVALID;
    }
    r->kind = (enum gw_audit_kind)head[1];
#define TAKE_STRING(name) r->name = take_bytes(&rd, NULL, false);
    STRING_FIELDS(TAKE_STRING)
#undef TAKE_STRING
#define TAKE_NUMBER(name) r->name = (int64_t)take_u64(&rd);
    NUMBER_FIELDS(TAKE_NUMBER)
#undef TAKE_NUMBER
#define TAKE_UNSIGNED(name) r->name = take_u64(&rd);
    UNSIGNED_FIELDS(TAKE_UNSIGNED)
#define TAKE_FLAG(name)                \
    flag = take_u64(&rd);              \
    rd.failed = rd.failed || flag > 1; \
    r->name = flag == 1;
    FLAG_FIELDS(TAKE_FLAG)
#undef TAKE_FLAG
    r->data = take_bytes(&rd, &r->data_len, true);
    if (head[0] >= 2) {
        V2_FIELDS(TAKE_UNSIGNED)
    }
#undef TAKE_UNSIGNED
    if (rd.failed || rd.at != rd.len) {
        gw_audit_record_clear(r);
        return GW_ERR_INVALID;
    }
    return GW_OK;
}

const char *gw_audit_kind_name(enum gw_audit_kind kind)
{
    static const char *const names[GW_AUDIT_KIND_END] = {
        [GW_AUDIT_EVENT] = "event",
        [GW_AUDIT_SESSION_START] = "session.start",
        [GW_AUDIT_SESSION_BYTES] = "session.bytes",
        [GW_AUDIT_SESSION_END] = "session.end",
        [GW_AUDIT_KILL_DONE] = "kill.done",
        [GW_AUDIT_TRANSFER] = "transfer",
        [GW_AUDIT_REC_START] = "recording.start",
        [GW_AUDIT_REC_CHUNK] = "recording.chunk",
        [GW_AUDIT_REC_DEGRADED] = "recording.degraded",
    };

    if ((int)kind <= 0 || kind >= GW_AUDIT_KIND_END) {
        return "unknown";
    }
    return names[kind];
}
