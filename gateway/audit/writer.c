#include "gateway/audit/writer.h"

#include "core/err.h"
#include "core/log.h"
#include "core/spool.h"
#include "core/timeutil.h"
#include "gateway/audit/apply.h"
#include "gateway/audit/export.h"
#include "gateway/audit/internal.h"
#include "store/db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the queue (any thread) --------------------------------------------- */

void gw_audit_free_queued(struct queued *q)
{
    while (q != NULL) {
        struct queued *next = q->next;
        gw_audit_record_clear(&q->rec);
        free(q);
        q = next;
    }
}

/* A record that could not be queued: cleared, and counted for audit.lost. */
static int count_lost(struct gw_audit_writer *w, struct gw_audit_record *r)
{
    gw_audit_record_clear(r);
    pthread_mutex_lock(&w->lock);
    w->lost++;
    pthread_mutex_unlock(&w->lock);
    return GW_AGAIN;
}

int gw_audit_submit(struct gw_audit_writer *w, struct gw_audit_record *r)
{
    struct queued *q = malloc(sizeof(*q));
    bool chunk = r->kind == GW_AUDIT_REC_CHUNK;
    int rc = GW_OK;

    if (q == NULL) {
        return count_lost(w, r);
    }
    q->next = NULL;
    q->size = gw_audit_record_size(r);
    q->rec = *r;
    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&w->lock);
    if (w->bytes + q->size > w->queue_max ||
        (chunk && w->chunk_bytes + q->size > w->chunk_max)) {
        w->lost++;
        rc = GW_AGAIN;
    } else {
        if (w->tail != NULL) {
            w->tail->next = q;
        } else {
            w->head = q;
        }
        w->tail = q;
        w->bytes += q->size;
        w->chunk_bytes += chunk ? q->size : 0;
        pthread_cond_signal(&w->cv);
        q = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    gw_audit_free_queued(q);
    return rc;
}

int gw_audit_event(struct gw_audit_writer *w, const char *kind,
                   const char *user, const char *client, const char *fmt, ...)
{
    struct gw_audit_record r;
    char detail[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    gw_audit_record_init(&r, GW_AUDIT_EVENT);
    r.event_kind = strdup(kind);
    r.user = user != NULL ? strdup(user) : NULL;
    r.client = client != NULL ? strdup(client) : NULL;
    r.detail = strdup(detail);
    if (r.event_kind == NULL || r.detail == NULL ||
        (user != NULL && r.user == NULL) ||
        (client != NULL && r.client == NULL)) {
        return count_lost(w, &r);
    }
    return gw_audit_submit(w, &r);
}

bool gw_audit_accepting(struct gw_audit_writer *w)
{
    bool ok;

    pthread_mutex_lock(&w->lock);
    ok = w->fail_open || !w->degraded ||
         (!w->spool_full && gw_now_ms() - w->degraded_since_ms < w->grace_ms);
    /* A queue filling up means the records of new sessions could not be
     * kept: refuse them before that happens. */
    ok = ok && (w->fail_open || w->bytes < w->queue_max / 2);
    pthread_mutex_unlock(&w->lock);
    return ok;
}

void gw_audit_status(struct gw_audit_writer *w, struct gw_audit_status *out)
{
    pthread_mutex_lock(&w->lock);
    out->degraded = w->degraded;
    out->since_ms = w->degraded_since_ms;
    out->spool_full = w->spool_full;
    out->queued_bytes = w->bytes;
    out->spool_bytes = w->spool_bytes;
    out->lost = w->lost;
    pthread_mutex_unlock(&w->lock);
}

void gw_audit_writer_reopen_export(struct gw_audit_writer *w)
{
    gw_export_reopen(w->export); /* set before the thread, never changed */
}

void gw_audit_writer_configure(struct gw_audit_writer *w, bool fail_open,
                               int64_t grace_ms, size_t chunk_queue_max)
{
    pthread_mutex_lock(&w->lock);
    w->fail_open = fail_open;
    w->grace_ms = grace_ms;
    w->chunk_max = chunk_queue_max;
    pthread_mutex_unlock(&w->lock);
}

/* Up to a batch from the head of the queue (the room stays taken until
 * the batch is written or spooled: see release_room). */
static struct queued *take_batch(struct gw_audit_writer *w, size_t *bytes)
{
    struct queued *first = w->head;
    struct queued *last = NULL;
    size_t n = 0;

    *bytes = 0;
    for (struct queued *q = w->head;
         q != NULL && n < BATCH_RECORDS && *bytes < BATCH_BYTES; q = q->next) {
        last = q;
        *bytes += q->size;
        n++;
    }
    if (last == NULL) {
        return NULL;
    }
    w->head = last->next;
    if (w->head == NULL) {
        w->tail = NULL;
    }
    last->next = NULL;
    return first;
}

/* A batch that could go nowhere goes back to the front, in order. */
void gw_audit_requeue_front(struct gw_audit_writer *w, struct queued *batch)
{
    struct queued *last = batch;

    if (batch == NULL) {
        return;
    }
    while (last->next != NULL) {
        last = last->next;
    }
    pthread_mutex_lock(&w->lock);
    last->next = w->head;
    w->head = batch;
    if (w->tail == NULL) {
        w->tail = last;
    }
    pthread_mutex_unlock(&w->lock);
}

/* The records of batch are in the store or the spool: free their room. */
void gw_audit_release_room(struct gw_audit_writer *w, struct queued *batch)
{
    size_t bytes = 0;
    size_t chunks = 0;

    for (struct queued *q = batch; q != NULL; q = q->next) {
        bytes += q->size;
        chunks += q->rec.kind == GW_AUDIT_REC_CHUNK ? q->size : 0;
    }
    pthread_mutex_lock(&w->lock);
    w->bytes -= bytes;
    w->chunk_bytes -= chunks;
    pthread_mutex_unlock(&w->lock);
    gw_audit_free_queued(batch);
}

/* Wait for records or the next thing to do; NULL when there is none. */
static struct queued *wait_batch(struct gw_audit_writer *w, bool *stop)
{
    struct queued *batch = NULL;
    struct timespec ts;
    size_t bytes;
    bool blocked;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += IDLE_WAKE_MS / 1000;
    pthread_mutex_lock(&w->lock);
    /* In an outage without room in the spool the queue is only taken
     * again at the next retry. */
    blocked = w->degraded && (w->spool == NULL || w->spool_full) &&
              gw_now_ms() < w->next_retry_ms;
    if ((w->head == NULL && !w->stopping) || blocked) {
        (void)pthread_cond_timedwait(&w->cv, &w->lock, &ts);
    }
    if (!blocked) {
        batch = take_batch(w, &bytes);
    }
    *stop =
        w->stopping && (w->head == NULL || gw_now_ms() >= w->stop_deadline_ms);
    pthread_mutex_unlock(&w->lock);
    return batch;
}

static void *writer_main(void *arg)
{
    struct gw_audit_writer *w = arg;
    bool stop = false;

    while (!stop) {
        struct queued *batch = wait_batch(w, &stop);
        if (batch != NULL) {
            gw_audit_handle_batch(w, batch);
        }
        gw_audit_housekeeping(w);
    }
    gw_audit_follow(w); /* what the last batch committed */
    return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

static void open_spool(struct gw_audit_writer *w)
{
    struct gw_spool_scan scan = {0};

    if (w->spool_path == NULL || w->spool_path[0] == '\0') {
        return;
    }
    if (gw_spool_open(w->spool_path, w->spool_max, &w->spool, &scan) != GW_OK) {
        gw_log_error("audit: no spool, outages are held in memory only: %s",
                     gw_err_msg());
        w->spool = NULL;
        return;
    }
    if (scan.torn_bytes > 0) {
        gw_log_warn("audit: the spool %s ended in %llu torn bytes (a crash "
                    "while writing); they were cut off",
                    w->spool_path, (unsigned long long)scan.torn_bytes);
        (void)gw_audit_event(
            w, "audit.spool_torn", NULL, NULL, "bytes=%llu spool=%s",
            (unsigned long long)scan.torn_bytes, w->spool_path);
    }
    if (!gw_spool_empty(w->spool)) {
        gw_log_info("audit: replaying %llu records an earlier run left in "
                    "the spool",
                    (unsigned long long)scan.frames);
        pthread_mutex_lock(&w->lock);
        w->degraded = true;
        w->degraded_since_ms = gw_now_ms();
        pthread_mutex_unlock(&w->lock);
        snprintf(w->why, sizeof(w->why), "%s", "replaying the spool");
    }
}

static void writer_free(struct gw_audit_writer *w)
{
    gw_export_free(w->export);
    gw_audit_free_queued(w->head);
    gw_spool_close(w->spool);
    store_close(w->st);
    gw_audit_ids_free(w->ids);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->lock);
    free(w->db_path);
    free(w->spool_path);
    free(w->node);
    free(w->run_prefix);
    free(w->listen);
    free(w);
}

int gw_audit_writer_start(const struct gw_audit_writer_config *cfg,
                          struct gw_audit_writer **out)
{
    struct gw_audit_writer *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cv, NULL); /* CLOCK_REALTIME, as wait_batch's */
    w->db_path = strdup(cfg->db_path);
    w->spool_path = cfg->spool_path != NULL ? strdup(cfg->spool_path) : NULL;
    w->node = strdup(cfg->node != NULL ? cfg->node : "localhost");
    w->run_prefix = strdup(cfg->run_prefix != NULL ? cfg->run_prefix : "");
    w->listen = strdup(cfg->listen != NULL ? cfg->listen : "");
    w->lost_after_ms = cfg->lost_after_ms > 0 ? cfg->lost_after_ms : 60000;
    w->heartbeat_every_ms = w->lost_after_ms / 3 < HEARTBEAT_MS
                                ? w->lost_after_ms / 3
                                : HEARTBEAT_MS;
    w->spool_max = cfg->spool_max;
    w->queue_max = cfg->queue_max;
    w->chunk_max = cfg->chunk_queue_max;
    w->fail_open = cfg->fail_open;
    w->grace_ms = cfg->grace_ms;
    w->started_ms = cfg->started_ms;
    w->orphans_pending = cfg->close_orphans;
    if (w->db_path == NULL || w->node == NULL || w->run_prefix == NULL ||
        w->listen == NULL ||
        (cfg->spool_path != NULL && w->spool_path == NULL) ||
        gw_audit_ids_new(&w->ids) != GW_OK) {
        writer_free(w);
        return GW_ERR_NOMEM;
    }
    if (cfg->export_sinks != NULL) {
        struct gw_export_config xc = {.sinks = cfg->export_sinks,
                                      .queue_max = cfg->export_queue_max,
                                      .node = w->node};
        int rc = gw_export_start(&xc, &w->export);
        if (rc != GW_OK) {
            writer_free(w);
            return rc;
        }
    }
    open_spool(w);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        writer_free(w);
        return gw_err_set(GW_ERR, "cannot start the audit writer thread");
    }
    *out = w;
    return GW_OK;
}

void gw_audit_writer_stop(struct gw_audit_writer *w, int64_t drain_ms)
{
    uint64_t left = 0;

    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    w->stop_deadline_ms = gw_now_ms() + drain_ms;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (struct queued *q = w->head; q != NULL; q = q->next) {
        left++;
    }
    if (left > 0) {
        gw_log_error("audit: %llu records could be neither written nor "
                     "spooled before the stop",
                     (unsigned long long)left);
    }
    /* The export hands on what the last batches committed; what it could
     * not is in a last export.dropped (the writer's thread is gone: its
     * store handle is ours now). */
    gw_export_halt(w->export, EXPORT_DRAIN_MS);
    memset(w->next_drop_report_ms, 0, sizeof(w->next_drop_report_ms));
    if (!w->degraded) {
        gw_audit_report_drops(w);
    }
    writer_free(w);
}
