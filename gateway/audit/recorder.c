#include "gateway/audit/recorder.h"

#include "core/asciicast.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/audit/writer.h"
#include "gateway/daemon/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A chunk goes to the writer at this size (a quarter of the chunk budget
 * at most), or when its first line is FLUSH_USEC old: small enough to
 * lose little in a crash, large enough that a busy terminal costs few
 * records. */
#define CHUNK_BYTES (64 * 1024)
#define FLUSH_USEC  INT64_C(1000000)

struct gw_rec {
    struct gw_audit_writer *w;
    char *conn_uid;
    int channel;
    char *user;
    char *client;
    size_t chunk_bytes;
    struct gw_buf pending;
    struct gw_cast_stream out;
    struct gw_cast_stream in;
    int64_t t0_usec;
    int64_t pending_since_usec;
    int64_t seq;
    bool lost_posted;
    uint64_t lost_bytes;
    uint64_t lost_chunks;
};

static int64_t now_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A record of kind about r's session; false (nothing allocated) when
 * there is no memory for it. */
static bool rec_record(const struct gw_rec *r, enum gw_audit_kind kind,
                       struct gw_audit_record *out)
{
    gw_audit_record_init(out, kind);
    out->conn_uid = strdup(r->conn_uid);
    out->channel = r->channel;
    if (out->conn_uid == NULL) {
        gw_audit_record_clear(out);
        return false;
    }
    return true;
}

/* The first loss sends one recording.degraded record, with when it
 * started; the recording's row says so from then on. */
static void lost(struct gw_rec *r, size_t len, const char *why)
{
    struct gw_audit_record rec;

    r->lost_chunks++;
    r->lost_bytes += len;
    gw_metrics_add(GW_M_REC_DROPPED_CHUNKS, 1);
    gw_metrics_add(GW_M_REC_DROPPED_BYTES, len);
    if (r->lost_posted || !rec_record(r, GW_AUDIT_REC_DEGRADED, &rec)) {
        return;
    }
    r->lost_posted = true;
    if (asprintf(&rec.reason, "%s at %.1f s", why,
                 (double)(now_usec() - r->t0_usec) / 1e6) < 0) {
        rec.reason = NULL;
    }
    rec.user = r->user != NULL ? strdup(r->user) : NULL;
    rec.client = r->client != NULL ? strdup(r->client) : NULL;
    gw_log_warn("recording of %s channel %d degraded: %s", r->conn_uid,
                r->channel, rec.reason != NULL ? rec.reason : why);
    (void)gw_audit_submit(r->w, &rec);
}

/* Hand the pending lines to the writer as one chunk. */
static void flush_chunk(struct gw_rec *r)
{
    struct gw_audit_record rec;
    size_t len = r->pending.len;

    if (len == 0) {
        return;
    }
    if (!rec_record(r, GW_AUDIT_REC_CHUNK, &rec)) {
        lost(r, len, "out of memory");
        gw_buf_reset(&r->pending);
        return;
    }
    rec.seq = r->seq;
    /* The buffer itself becomes the chunk: no copy. */
    rec.data = r->pending.data;
    rec.data_len = len;
    gw_buf_init(&r->pending, 0);
    if (gw_audit_submit(r->w, &rec) == GW_OK) {
        r->seq++;
        return;
    }
    lost(r, len, "queue full (database too slow)");
}

int gw_rec_open(struct gw_audit_writer *w, const struct gw_rec_info *info,
                struct gw_rec **out)
{
    struct gw_rec *r = calloc(1, sizeof(*r));
    struct gw_audit_record rec;
    struct gw_buf header;
    int rc;

    memset(&rec, 0, sizeof(rec));
    gw_buf_init(&header, 0);
    if (r == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    r->w = w;
    r->channel = info->channel;
    r->conn_uid = strdup(info->conn_uid);
    r->user = info->user != NULL ? strdup(info->user) : NULL;
    r->client = info->client != NULL ? strdup(info->client) : NULL;
    r->chunk_bytes = info->chunk_bytes > 0 && info->chunk_bytes < CHUNK_BYTES
                         ? info->chunk_bytes
                         : CHUNK_BYTES;
    rc = gw_cast_header(&header, info->cols, info->rows, (int64_t)time(NULL),
                        info->term, info->title);
    if (rc != GW_OK || r->conn_uid == NULL ||
        (info->user != NULL && r->user == NULL) ||
        (info->client != NULL && r->client == NULL) ||
        !rec_record(r, GW_AUDIT_REC_START, &rec)) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    header.data[--header.len] = '\0'; /* stored without its newline */
    rec.header = header.data;
    gw_buf_init(&header, 0);
    r->t0_usec = now_usec();
    gw_buf_init(&r->pending, 0);
    if (gw_audit_submit(w, &rec) != GW_OK) {
        lost(r, 0, "queue full (database too slow)");
    }
    *out = r;
    r = NULL;
out:
    gw_audit_record_clear(&rec);
    gw_buf_free(&header);
    if (r != NULL) {
        free(r->conn_uid);
        free(r->user);
        free(r->client);
        free(r);
    }
    return rc;
}

static void after_append(struct gw_rec *r, int64_t now, size_t before, int rc)
{
    if (rc != GW_OK) {
        lost(r, 0, "out of memory");
        return;
    }
    if (before == 0 && r->pending.len > 0) {
        r->pending_since_usec = now;
    }
    if (r->pending.len >= r->chunk_bytes ||
        now - r->pending_since_usec >= FLUSH_USEC) {
        flush_chunk(r);
    }
}

void gw_rec_data(struct gw_rec *r, char type, const char *data, size_t len)
{
    int64_t now = now_usec();
    size_t before = r->pending.len;
    int rc = gw_cast_event(&r->pending, type == 'i' ? &r->in : &r->out,
                           now - r->t0_usec, type, data, len);

    after_append(r, now, before, rc);
}

void gw_rec_resize(struct gw_rec *r, int cols, int rows)
{
    int64_t now = now_usec();
    size_t before = r->pending.len;
    int rc = gw_cast_resize(&r->pending, now - r->t0_usec, cols, rows);

    after_append(r, now, before, rc);
}

void gw_rec_tick(struct gw_rec *r)
{
    if (r->pending.len > 0 &&
        now_usec() - r->pending_since_usec >= FLUSH_USEC) {
        flush_chunk(r);
    }
}

void gw_rec_close(struct gw_rec *r)
{
    if (r == NULL) {
        return;
    }
    flush_chunk(r);
    if (r->lost_chunks > 0) {
        gw_log_warn("recording of %s channel %d: %llu chunks (%llu bytes) "
                    "were lost",
                    r->conn_uid, r->channel, (unsigned long long)r->lost_chunks,
                    (unsigned long long)r->lost_bytes);
    }
    gw_buf_free(&r->pending);
    free(r->conn_uid);
    free(r->user);
    free(r->client);
    free(r);
}
