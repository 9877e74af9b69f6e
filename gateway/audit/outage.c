/*
 * The audit writer's thread work (gateway/audit/writer.h says what it
 * promises): group commits into the store, the spool while the store
 * takes no writes, its replay, the outage's events, the heartbeat and the
 * sessions an earlier run left open.
 */
#include "gateway/audit/internal.h"

#include "core/err.h"
#include "core/log.h"
#include "core/spool.h"
#include "core/timeutil.h"
#include "gateway/audit/apply.h"
#include "store/db.h"
#include "store/events.h"
#include "store/nodes.h"
#include "store/open.h"
#include "store/sessions.h"
#include "store/settings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the store ---------------------------------------------------------- */

/* Whether the store is out (writer thread only: it alone changes it). */
bool gw_audit_in_outage(const struct gw_audit_writer *w)
{
    return w->degraded;
}

static bool store_ready(struct gw_audit_writer *w)
{
    if (w->st == NULL &&
        store_open(w->db_path, STORE_OPEN_EXISTING, &w->st) != GW_OK) {
        snprintf(w->why, sizeof(w->why), "%s", gw_err_msg());
        w->st = NULL;
    }
    if (w->st != NULL) {
        /* A lock held longer than this is an outage: the records go to
         * the spool rather than pile up behind it. */
        store_set_busy_timeout(w->st, WRITER_BUSY_MS);
        gw_audit_follow_begin(w); /* before our first commit */
    }
    return w->st != NULL;
}

/* A record the store will never take: say so in the chain, go on. */
static int reject(struct gw_audit_writer *w, const struct gw_audit_record *r,
                  int status)
{
    char why[200];

    snprintf(why, sizeof(why), "%s", gw_err_msg());
    gw_log_error("audit: a %s record cannot be written (%s): %s",
                 gw_audit_kind_name(r->kind), gw_strerror(status), why);
    return store_event_addf(w->st, "audit.rejected", r->user, r->client,
                            "record=%s reason=\"%s\"",
                            gw_audit_kind_name(r->kind), why);
}

/* Write each record inside the open transaction; GW_OK or the transient
 * status that stopped it. */
static int apply_all(struct gw_audit_writer *w, struct queued *batch)
{
    for (struct queued *q = batch; q != NULL; q = q->next) {
        int rc = gw_audit_apply(w->st, w->ids, &q->rec);
        if (rc != GW_OK && !gw_audit_transient(rc)) {
            rc = reject(w, &q->rec, rc);
        }
        if (rc != GW_OK) {
            return rc;
        }
    }
    return GW_OK;
}

/* Commit what the transaction holds, or undo it. */
static int finish_transaction(struct gw_audit_writer *w, int rc)
{
    if (rc == GW_OK) {
        rc = store_commit(w->st);
    }
    if (rc != GW_OK) {
        snprintf(w->why, sizeof(w->why), "%s", gw_err_msg());
        store_rollback(w->st);
        gw_audit_ids_rollback(w->ids);
        return rc;
    }
    return GW_OK; /* what the transaction taught the id map stays */
}

/* Group commit: the whole batch in one transaction, or nothing. */
static int commit_batch(struct gw_audit_writer *w, struct queued *batch)
{
    int rc;

    if (!store_ready(w)) {
        return GW_ERR_IO;
    }
    rc = store_begin(w->st);
    if (rc != GW_OK) {
        snprintf(w->why, sizeof(w->why), "%s", gw_err_msg());
        return rc;
    }
    return finish_transaction(w, apply_all(w, batch));
}

/* ---- the spool ---------------------------------------------------------- */

static void note_spool(struct gw_audit_writer *w, bool full)
{
    pthread_mutex_lock(&w->lock);
    w->spool_full = full;
    w->spool_bytes = w->spool != NULL
                         ? gw_spool_end(w->spool) - gw_spool_first(w->spool)
                         : 0;
    pthread_mutex_unlock(&w->lock);
}

static int spool_one(struct gw_audit_writer *w, const struct gw_audit_record *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = gw_audit_record_encode(r, &buf, &len);

    if (rc == GW_OK) {
        rc = gw_spool_append(w->spool, buf, len);
    }
    free(buf);
    return rc;
}

/* Append batch to the spool, in order, and sync; what does not fit goes
 * back to the front of the queue. */
static void spool_batch(struct gw_audit_writer *w, struct queued *batch)
{
    struct queued *done = NULL;
    struct queued **tail = &done;
    int rc = w->spool != NULL ? GW_OK : GW_ERR_IO;

    while (batch != NULL && rc == GW_OK) {
        rc = spool_one(w, &batch->rec);
        if (rc == GW_OK) {
            struct queued *q = batch;
            batch = q->next;
            q->next = NULL;
            *tail = q;
            tail = &q->next;
            w->outage_records++;
        }
    }
    if (done != NULL && gw_spool_sync(w->spool) != GW_OK) {
        gw_log_error("audit: %s", gw_err_msg());
    }
    note_spool(w, batch != NULL);
    if (batch != NULL && rc != GW_AGAIN) {
        gw_log_error("audit: the spool takes no more: %s", gw_err_msg());
    }
    gw_audit_release_room(w, done);
    gw_audit_requeue_front(w, batch);
}

/* ---- outages ------------------------------------------------------------ */

/* r goes before everything queued (the outage's first record when the
 * spool cannot take it). */
static void push_front(struct gw_audit_writer *w, struct gw_audit_record *r)
{
    struct queued *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        gw_audit_record_clear(r);
        return;
    }
    q->size = gw_audit_record_size(r);
    q->rec = *r;
    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&w->lock);
    w->bytes += q->size;
    pthread_mutex_unlock(&w->lock);
    gw_audit_requeue_front(w, q);
}

static void enter_outage(struct gw_audit_writer *w)
{
    struct gw_audit_record r;
    bool fail_open;
    int64_t grace_s;

    pthread_mutex_lock(&w->lock);
    w->degraded = true;
    w->degraded_since_ms = gw_now_ms();
    pthread_mutex_unlock(&w->lock);
    w->outage_records = 0;
    w->next_retry_ms = gw_now_ms() + RETRY_MS;
    w->next_log_ms = gw_now_ms() + OUTAGE_LOG_MS;
    pthread_mutex_lock(&w->lock);
    fail_open = w->fail_open;
    grace_s = w->grace_ms / 1000;
    pthread_mutex_unlock(&w->lock);
    if (fail_open) {
        gw_log_error("audit: the store takes no writes (%s); keeping records "
                     "in %s; serving on (audit_failure = continue)",
                     w->why, w->spool != NULL ? w->spool_path : "memory");
    } else {
        gw_log_error("audit: the store takes no writes (%s); keeping records "
                     "in %s; new sessions are refused after %lld s "
                     "(audit_failure = refuse)",
                     w->why, w->spool != NULL ? w->spool_path : "memory",
                     (long long)grace_s);
    }
    /* The outage's first record, before everything written during it. */
    gw_audit_record_init(&r, GW_AUDIT_EVENT);
    r.event_kind = strdup("audit.degraded");
    if (asprintf(&r.detail, "reason=\"%s\" spool=%s", w->why,
                 w->spool != NULL ? w->spool_path : "none") < 0) {
        r.detail = NULL;
    }
    if (r.event_kind == NULL || r.detail == NULL) {
        gw_audit_record_clear(&r);
        return;
    }
    if (w->spool != NULL && spool_one(w, &r) == GW_OK) {
        w->outage_records++;
        gw_audit_record_clear(&r);
        return;
    }
    push_front(w, &r);
}

/* Where replaying the current spool stands, from the store. */
static int load_replay_position(struct gw_audit_writer *w)
{
    char *value = NULL;
    const char *id = gw_spool_id(w->spool);
    size_t idlen = strlen(id);
    int rc = store_setting_get(w->st, SPOOL_SETTING, &value);

    w->replay_at = gw_spool_first(w->spool);
    if (rc == GW_OK && strncmp(value, id, idlen) == 0 && value[idlen] == ':') {
        unsigned long long at = strtoull(value + idlen + 1, NULL, 10);
        if (at >= gw_spool_first(w->spool) && at <= gw_spool_end(w->spool)) {
            w->replay_at = at;
        }
    }
    free(value);
    if (rc == GW_ERR_NOTFOUND) {
        rc = GW_OK;
    }
    w->replay_known = rc == GW_OK;
    return rc;
}

/* Decode up to a batch of frames from the replay position. */
static int read_frames(struct gw_audit_writer *w, struct queued **out,
                       uint64_t *next_at)
{
    struct queued **tail = out;
    uint64_t at = w->replay_at;
    int n = 0;
    int rc = GW_OK;

    while (n < BATCH_RECORDS && rc == GW_OK) {
        void *payload = NULL;
        size_t len = 0;
        uint64_t next = 0;
        struct queued *q;
        rc = gw_spool_read(w->spool, at, &payload, &len, &next);
        if (rc == GW_ERR_INVALID) {
            /* Checked when the spool was opened, and only we append: a
             * frame that fails now was damaged since. What follows it
             * cannot be trusted either; the replay ends here, and says so
             * (the spool is emptied once the rest is in). */
            gw_log_error("audit: the spool %s is damaged at %llu; %llu bytes "
                         "after it are lost",
                         w->spool_path, (unsigned long long)at,
                         (unsigned long long)(gw_spool_end(w->spool) - at));
            q = calloc(1, sizeof(*q));
            if (q != NULL) {
                gw_audit_record_init(&q->rec, GW_AUDIT_EVENT);
                q->rec.event_kind = strdup("audit.spool_torn");
                if (asprintf(&q->rec.detail, "bytes=%llu spool=%s",
                             (unsigned long long)(gw_spool_end(w->spool) - at),
                             w->spool_path) < 0) {
                    q->rec.detail = NULL;
                }
                *tail = q;
                tail = &q->next;
            }
            at = gw_spool_end(w->spool);
            rc = GW_ERR_NOTFOUND;
        }
        if (rc != GW_OK) {
            break;
        }
        q = calloc(1, sizeof(*q));
        if (q == NULL) {
            free(payload);
            rc = GW_ERR_NOMEM;
            break;
        }
        if (gw_audit_record_decode(payload, len, &q->rec) != GW_OK) {
            /* Checksummed but not a record of ours: an event says so. */
            gw_audit_record_init(&q->rec, GW_AUDIT_EVENT);
            q->rec.event_kind = strdup("audit.rejected");
            q->rec.detail = strdup("record=spool reason=\"undecodable\"");
        }
        free(payload);
        *tail = q;
        tail = &q->next;
        at = next;
        n++;
    }
    *next_at = at;
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}

/* Replay one batch of the spool; the position moves in the same
 * transaction. GW_OK with *done when the spool is through. */
static int replay_batch(struct gw_audit_writer *w, bool *done)
{
    struct queued *batch = NULL;
    uint64_t next = 0;
    char value[GW_SPOOL_ID_HEX + 32];
    int rc = read_frames(w, &batch, &next);

    if (rc != GW_OK) {
        gw_audit_free_queued(batch);
        return rc;
    }
    if (batch == NULL) {
        *done = true;
        return GW_OK;
    }
    rc = store_begin(w->st);
    if (rc == GW_OK) {
        rc = apply_all(w, batch);
        snprintf(value, sizeof(value), "%s:%llu", gw_spool_id(w->spool),
                 (unsigned long long)next);
        if (rc == GW_OK) {
            rc = store_setting_set(w->st, SPOOL_SETTING, value);
        }
        rc = finish_transaction(w, rc);
    } else {
        snprintf(w->why, sizeof(w->why), "%s", gw_err_msg());
    }
    gw_audit_free_queued(batch);
    if (rc == GW_OK) {
        w->replay_at = next;
    }
    return rc;
}

static void leave_outage(struct gw_audit_writer *w)
{
    int64_t ms;

    pthread_mutex_lock(&w->lock);
    ms = gw_now_ms() - w->degraded_since_ms;
    w->degraded = false;
    w->spool_full = false;
    w->spool_bytes = 0;
    pthread_mutex_unlock(&w->lock);
    gw_log_info("audit: the store takes writes again after %lld ms; %llu "
                "records came from the spool",
                (long long)ms, (unsigned long long)w->outage_records);
    if (store_event_addf(w->st, "audit.recovered", NULL, NULL,
                         "duration_ms=%lld spooled=%llu", (long long)ms,
                         (unsigned long long)w->outage_records) != GW_OK) {
        gw_log_error("audit: cannot record audit.recovered: %s", gw_err_msg());
    }
}

/* The store may be back: replay the spool; leave the outage when it is
 * through. */
static void try_recover(struct gw_audit_writer *w)
{
    bool done = false;
    int rc = GW_OK;

    w->next_retry_ms = gw_now_ms() + RETRY_MS;
    if (!store_ready(w)) {
        return;
    }
    if (w->spool == NULL) {
        /* Nothing to replay: the queue waits in memory. Take the write
         * lock once to see that the store is back. */
        rc = store_begin(w->st);
        if (rc != GW_OK) {
            return;
        }
        store_rollback(w->st);
    }
    if (w->spool != NULL && !w->replay_known) {
        rc = load_replay_position(w);
    }
    while (rc == GW_OK && w->spool != NULL && !done) {
        rc = replay_batch(w, &done);
    }
    if (rc != GW_OK) {
        return; /* still out: try again later */
    }
    if (w->spool != NULL && gw_spool_reset(w->spool) != GW_OK) {
        gw_log_error("audit: cannot empty the spool: %s", gw_err_msg());
        return;
    }
    w->replay_known = false;
    leave_outage(w);
}

/* ---- the thread --------------------------------------------------------- */

/*
 * The sessions an earlier run of this node left open (it crashed, or was
 * killed) end at its last heartbeat, the last moment it is known to have
 * been alive, with their recordings marked cut. Done once, after the
 * spool is replayed (a spooled end is the truth, and wins); this run's own
 * rows are told apart by their connection uid's prefix.
 */
static void close_orphans(struct gw_audit_writer *w)
{
    int64_t last = 0;
    int n = 0;
    int rc;

    if (!w->orphans_pending || gw_audit_in_outage(w) || !store_ready(w)) {
        return;
    }
    rc = store_node_last_heartbeat(w->st, w->node, &last);
    if (rc == GW_ERR_NOTFOUND) {
        last = 0; /* no heartbeat yet: the time of this start */
        rc = GW_OK;
    }
    if (rc == GW_OK) {
        rc = store_session_close_orphans_at(w->st, w->node, w->run_prefix,
                                            "gateway restart", last, &n);
    }
    if (gw_audit_transient(rc)) {
        return; /* tried again with the next batch */
    }
    w->orphans_pending = false;
    if (rc != GW_OK) {
        gw_log_error("cannot close the sessions of the last run: %s",
                     gw_err_msg());
    } else if (n > 0) {
        gw_log_info("closed %d session%s left open by the last run", n,
                    n == 1 ? "" : "s");
    }
}

/*
 * A cluster: the sessions of a node that has gone silent for longer than
 * its lost_after_ms end, at its last heartbeat, as "node lost". Any live
 * node does it at its heartbeat; two doing it at once is harmless (each
 * session is closed in a transaction that finds it still open or
 * leaves it). A lost node that comes back closes nothing of its own
 * twice: its next start finds those sessions ended.
 */
static void close_lost_nodes(struct gw_audit_writer *w, int64_t now_ms)
{
    struct store_node *nodes = NULL;
    size_t n = 0;
    int rc = store_node_list(w->st, now_ms, &nodes, &n);

    for (size_t i = 0; rc == GW_OK && i < n; i++) {
        const struct store_node *node = &nodes[i];
        int closed = 0;
        if (!node->lost || node->open_sessions == 0 ||
            strcmp(node->name, w->node) == 0) {
            continue;
        }
        rc = store_session_close_orphans_at(
            w->st, node->name, NULL, "node lost", node->heartbeat_ms, &closed);
        if (rc == GW_OK && closed > 0) {
            gw_log_warn("node %s is lost (no heartbeat since %s): closed "
                        "its %d open session%s",
                        node->name, node->heartbeat_at, closed,
                        closed == 1 ? "" : "s");
        }
    }
    if (rc != GW_OK) {
        gw_log_verbose("audit: lost nodes not checked: %s", gw_err_msg());
    }
    free(nodes);
}

/* Lost records are said once the store takes writes. */
static void report_lost(struct gw_audit_writer *w)
{
    uint64_t lost;

    pthread_mutex_lock(&w->lock);
    lost = w->lost;
    pthread_mutex_unlock(&w->lock);
    if (lost == w->lost_reported || w->st == NULL) {
        return;
    }
    if (store_event_addf(w->st, "audit.lost", NULL, NULL, "records=%llu",
                         (unsigned long long)(lost - w->lost_reported)) ==
        GW_OK) {
        gw_log_warn("audit: %llu records could not be queued",
                    (unsigned long long)(lost - w->lost_reported));
        w->lost_reported = lost;
    }
}

void gw_audit_housekeeping(struct gw_audit_writer *w)
{
    int64_t now = gw_now_ms();
    bool fail_open;
    int64_t since;

    pthread_mutex_lock(&w->lock);
    fail_open = w->fail_open;
    since = w->degraded_since_ms;
    pthread_mutex_unlock(&w->lock);
    gw_audit_follow(w);
    if (gw_audit_in_outage(w)) {
        if (now >= w->next_retry_ms) {
            try_recover(w);
        }
        if (now >= w->next_log_ms && gw_audit_in_outage(w)) {
            w->next_log_ms = now + OUTAGE_LOG_MS;
            gw_log_warn("audit: the store has taken no writes for %lld s "
                        "(%s); %s",
                        (long long)((now - since) / 1000), w->why,
                        fail_open ? "serving on (audit_failure = continue)"
                                  : "new sessions are refused once "
                                    "audit_failure_grace has passed");
        }
        return;
    }
    close_orphans(w);
    report_lost(w);
    gw_audit_report_drops(w);
    if (now >= w->next_heartbeat_ms && w->st != NULL && !w->orphans_pending) {
        struct store_node_beat beat = {w->node, SSHGATE_VERSION, w->listen,
                                       w->started_ms, w->lost_after_ms};
        int64_t wall = gw_time_wall_ms();
        w->next_heartbeat_ms = now + w->heartbeat_every_ms;
        if (store_node_heartbeat(w->st, &beat, wall) != GW_OK) {
            gw_log_verbose("audit: heartbeat not written: %s", gw_err_msg());
        }
        close_lost_nodes(w, wall);
    }
}

/* Write or spool one batch from the queue. */
void gw_audit_handle_batch(struct gw_audit_writer *w, struct queued *batch)
{
    close_orphans(w);
    if (!gw_audit_in_outage(w)) {
        int rc = commit_batch(w, batch);
        if (rc == GW_OK) {
            gw_audit_release_room(w, batch);
            return;
        }
        enter_outage(w);
    }
    if (w->spool == NULL) {
        gw_audit_requeue_front(w, batch); /* memory is all there is */
        return;
    }
    spool_batch(w, batch);
}
