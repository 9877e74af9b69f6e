#include "gateway/audit/recorder.h"

#include "core/asciicast.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/db.h"
#include "store/events.h"
#include "store/recordings.h"
#include "store/open.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A chunk goes to the writer at this size (a quarter of the queue at
 * most), or when its first line is FLUSH_USEC old: small enough to lose
 * little in a crash, large enough that a busy terminal costs few
 * transactions. */
#define CHUNK_BYTES (64 * 1024)
#define FLUSH_USEC  INT64_C(1000000)
#define RETRY_MS    100

enum item_kind { ITEM_START, ITEM_CHUNK, ITEM_LOST, ITEM_END };

struct rec_shared;

struct item {
    struct item *next;
    enum item_kind kind;
    struct rec_shared *sh;
    int64_t seq;
    char *data; /* ITEM_CHUNK: whole event lines */
    size_t len;
};

/*
 * The part of a recording the writer uses. The recorder hands it over
 * with its END item (the last of its items in the queue); the writer frees
 * it there. The control items live inside it, so that starting, marking
 * and ending a recording never fail for want of memory.
 */
struct rec_shared {
    int64_t session_id;
    int64_t rec_id; /* writer only: 0 until the row exists */
    bool failed;    /* writer only: no row, chunks are dropped */
    char *header;
    char *user;
    char *client;
    char lost_why[96]; /* set before ITEM_LOST is queued */
    uint64_t lost_bytes;
    uint64_t lost_chunks;
    struct item start;
    struct item lost;
    struct item end;
};

struct gw_recq {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    pthread_t thread;
    struct item *head;
    struct item *tail;
    size_t bytes; /* chunk bytes queued or being written */
    size_t max_bytes;
    size_t chunk_bytes;
    bool stopping;
    int64_t stop_deadline_ms;
    char *db_path;
};

struct gw_rec {
    struct gw_recq *q;
    struct rec_shared *sh;
    struct gw_buf pending;
    struct gw_cast_stream out;
    struct gw_cast_stream in;
    int64_t t0_usec;
    int64_t pending_since_usec;
    int64_t seq;
    bool lost_posted;
};

static int64_t now_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- writer ----------------------------------------------------------- */

static void shared_free(struct rec_shared *sh)
{
    free(sh->header);
    free(sh->user);
    free(sh->client);
    free(sh);
}

/* Whether a write that failed with rc should be tried again: a locked
 * database frees up, except once the drain time at stop has passed. */
static bool retry(struct gw_recq *q, int rc)
{
    bool again;

    if (rc != GW_ERR_TIMEOUT) {
        return false;
    }
    pthread_mutex_lock(&q->lock);
    again = !q->stopping || gw_now_ms() < q->stop_deadline_ms;
    if (again) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += RETRY_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&q->cv, &q->lock, &ts);
    }
    pthread_mutex_unlock(&q->lock);
    return again;
}

static void write_degraded(struct store *st, struct rec_shared *sh,
                           const char *why)
{
    if (sh->rec_id > 0 &&
        store_recording_degraded(st, sh->rec_id, why) != GW_OK) {
        gw_log_error("recording of session %lld: cannot mark it degraded: %s",
                     (long long)sh->session_id, gw_err_msg());
    }
    if (store_event_addf(st, "recording.degraded", sh->user, sh->client,
                         "session=%lld reason=\"%s\"",
                         (long long)sh->session_id, why) != GW_OK) {
        gw_log_error("cannot record a recording.degraded event: %s",
                     gw_err_msg());
    }
}

static void write_start(struct gw_recq *q, struct store *st,
                        struct rec_shared *sh)
{
    int rc;

    do {
        rc = store_recording_start(st, sh->session_id, sh->header, &sh->rec_id);
    } while (rc != GW_OK && retry(q, rc));
    if (rc != GW_OK) {
        gw_log_error("session %lld is not recorded: %s",
                     (long long)sh->session_id, gw_err_msg());
        sh->failed = true;
    }
}

static void write_chunk(struct gw_recq *q, struct store *st, struct item *it)
{
    struct rec_shared *sh = it->sh;
    int rc;

    if (sh->failed) {
        return;
    }
    do {
        rc = store_recording_append(st, sh->rec_id, it->seq, it->data, it->len);
    } while (rc != GW_OK && retry(q, rc));
    if (rc != GW_OK) {
        gw_log_error("recording of session %lld lost a chunk: %s",
                     (long long)sh->session_id, gw_err_msg());
        write_degraded(st, sh, "database write failed");
    }
}

static void write_item(struct gw_recq *q, struct store *st, struct item *it)
{
    struct rec_shared *sh = it->sh;

    switch (it->kind) {
    case ITEM_START:
        write_start(q, st, sh);
        break;
    case ITEM_CHUNK:
        write_chunk(q, st, it);
        break;
    case ITEM_LOST:
        gw_log_warn("recording of session %lld degraded: %s",
                    (long long)sh->session_id, sh->lost_why);
        if (!sh->failed) {
            write_degraded(st, sh, sh->lost_why);
        }
        break;
    case ITEM_END:
        if (sh->lost_chunks > 0) {
            gw_log_warn("recording of session %lld: %llu chunks (%llu bytes) "
                        "were lost",
                        (long long)sh->session_id,
                        (unsigned long long)sh->lost_chunks,
                        (unsigned long long)sh->lost_bytes);
        }
        break;
    }
}

static void *writer_main(void *arg)
{
    struct gw_recq *q = arg;
    struct store *st = NULL;

    if (store_open(q->db_path, STORE_OPEN_EXISTING, &st) != GW_OK) {
        gw_log_error("recording writer: %s", gw_err_msg());
    }
    for (;;) {
        struct item *it;
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !q->stopping) {
            pthread_cond_wait(&q->cv, &q->lock);
        }
        it = q->head;
        if (it == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&q->lock);
            break;
        }
        q->head = it->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        pthread_mutex_unlock(&q->lock);

        if (st != NULL) {
            write_item(q, st, it);
        }
        if (it->kind == ITEM_CHUNK) {
            pthread_mutex_lock(&q->lock);
            q->bytes -= it->len; /* the room frees up once written */
            pthread_mutex_unlock(&q->lock);
            free(it->data);
            free(it);
        } else if (it->kind == ITEM_END) {
            shared_free(it->sh);
        }
    }
    store_close(st);
    return NULL;
}

int gw_recq_start(const char *db_path, size_t max_bytes, struct gw_recq **out)
{
    struct gw_recq *q = calloc(1, sizeof(*q));

    if (q == NULL || (q->db_path = strdup(db_path)) == NULL) {
        free(q);
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_bytes = max_bytes;
    q->chunk_bytes = max_bytes / 4 < CHUNK_BYTES ? max_bytes / 4 : CHUNK_BYTES;
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->lock);
        free(q->db_path);
        free(q);
        return gw_err_set(GW_ERR, "cannot start the recording writer thread");
    }
    *out = q;
    return GW_OK;
}

void gw_recq_stop(struct gw_recq *q, int64_t drain_ms)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    q->stop_deadline_ms = gw_now_ms() + drain_ms;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->lock);
    free(q->db_path);
    free(q);
}

/* Queue it; a chunk only if it fits. True when queued. */
static bool enqueue(struct gw_recq *q, struct item *it)
{
    bool ok;

    pthread_mutex_lock(&q->lock);
    ok = it->kind != ITEM_CHUNK || q->bytes + it->len <= q->max_bytes;
    if (ok) {
        it->next = NULL;
        if (q->tail != NULL) {
            q->tail->next = it;
        } else {
            q->head = it;
        }
        q->tail = it;
        if (it->kind == ITEM_CHUNK) {
            q->bytes += it->len;
        }
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* ---- recorder (connection thread) ------------------------------------ */

/* The first loss queues one ITEM_LOST, with when it started. */
static void lost(struct gw_rec *r, size_t len, const char *why)
{
    struct rec_shared *sh = r->sh;

    sh->lost_chunks++;
    sh->lost_bytes += len;
    if (r->lost_posted) {
        return;
    }
    r->lost_posted = true;
    snprintf(sh->lost_why, sizeof(sh->lost_why), "%s at %.1f s", why,
             (double)(now_usec() - r->t0_usec) / 1e6);
    sh->lost.kind = ITEM_LOST;
    sh->lost.sh = sh;
    (void)enqueue(r->q, &sh->lost);
}

/* Hand the pending lines to the writer as one chunk. */
static void flush(struct gw_rec *r)
{
    struct item *it;

    if (r->pending.len == 0) {
        return;
    }
    it = calloc(1, sizeof(*it));
    if (it == NULL) {
        lost(r, r->pending.len, "out of memory");
        gw_buf_reset(&r->pending);
        return;
    }
    it->kind = ITEM_CHUNK;
    it->sh = r->sh;
    it->len = r->pending.len;
    it->seq = r->seq;
    /* The buffer itself becomes the chunk: no copy. */
    it->data = r->pending.data;
    if (enqueue(r->q, it)) {
        r->seq++;
        gw_buf_init(&r->pending, 0);
        return;
    }
    lost(r, it->len, "queue full (database too slow)");
    free(it);
    gw_buf_reset(&r->pending);
}

int gw_rec_open(struct gw_recq *q, const struct gw_rec_info *info,
                struct gw_rec **out)
{
    struct gw_rec *r = calloc(1, sizeof(*r));
    struct rec_shared *sh = calloc(1, sizeof(*sh));
    struct gw_buf header;
    int rc;

    gw_buf_init(&header, 0);
    if (r == NULL || sh == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    rc = gw_cast_header(&header, info->cols, info->rows, (int64_t)time(NULL),
                        info->term, info->title);
    sh->user = info->user != NULL ? strdup(info->user) : NULL;
    sh->client = info->client != NULL ? strdup(info->client) : NULL;
    if (rc != GW_OK || (info->user != NULL && sh->user == NULL) ||
        (info->client != NULL && sh->client == NULL)) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    header.data[--header.len] = '\0'; /* stored without its newline */
    sh->header = header.data;
    gw_buf_init(&header, 0);
    sh->session_id = info->session_id;
    r->q = q;
    r->sh = sh;
    r->t0_usec = now_usec();
    gw_buf_init(&r->pending, 0);
    sh->start.kind = ITEM_START;
    sh->start.sh = sh;
    (void)enqueue(q, &sh->start);
    *out = r;
    r = NULL;
    sh = NULL;
out:
    gw_buf_free(&header);
    if (sh != NULL) {
        shared_free(sh);
    }
    free(r);
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
    if (r->pending.len >= r->q->chunk_bytes ||
        now - r->pending_since_usec >= FLUSH_USEC) {
        flush(r);
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
        flush(r);
    }
}

void gw_rec_close(struct gw_rec *r)
{
    struct rec_shared *sh;

    if (r == NULL) {
        return;
    }
    flush(r);
    gw_buf_free(&r->pending);
    sh = r->sh;
    sh->end.kind = ITEM_END;
    sh->end.sh = sh;
    (void)enqueue(r->q, &sh->end); /* the writer frees sh */
    free(r);
}
