/*
 * The audit writer's private parts (gateway/audit/writer.h is the
 * public side): its state, shared by writer.c (the queue, the thread,
 * start and stop) and outage.c (the store, the spool, outages and their
 * recovery). Only the writer thread calls outage.c.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_INTERNAL_H
#define SSHGATE_GATEWAY_AUDIT_INTERNAL_H

#include "core/export_spec.h"
#include "gateway/audit/record.h"
#include "gateway/audit/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_audit_ids;
struct gw_export;
struct gw_spool;
struct store;

/* A batch: up to this many records or bytes in one transaction. */
#define BATCH_RECORDS 512
#define BATCH_BYTES   (4u * 1024 * 1024)
/* An idle writer still wakes up this often (heartbeat, retries, logs). */
#define IDLE_WAKE_MS 1000
/* How often an outage is retried, and said in the log. */
#define RETRY_MS 1000
/* How long the writer waits for another writer's lock. */
#define WRITER_BUSY_MS 1000
#define OUTAGE_LOG_MS  60000
/* The heartbeat's period at most (shorter when node_lost_after is). */
#define HEARTBEAT_MS 10000
/* The setting that holds "<spool id>:<offset replayed up to>". */
#define SPOOL_SETTING "audit.spool"
/* How long the export may take at the stop to hand on what it holds. */
#define EXPORT_DRAIN_MS 2000

struct queued {
    struct queued *next;
    size_t size;
    struct gw_audit_record rec;
};

struct gw_audit_writer {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    pthread_t thread;

    /* under lock: the queue, the budgets, the outage as others see it */
    struct queued *head;
    struct queued *tail;
    size_t bytes;
    size_t chunk_bytes;
    size_t queue_max;
    size_t chunk_max;
    bool fail_open;
    int64_t grace_ms;
    bool stopping;
    int64_t stop_deadline_ms;
    uint64_t lost;
    bool degraded;
    int64_t degraded_since_ms;
    bool spool_full;
    uint64_t spool_bytes;

    /* the writer thread's own */
    char *db_path;
    char *spool_path;
    uint64_t spool_max;
    char *node;
    char *run_prefix; /* "<run id>-": the connection uids of this run */
    char *listen;
    int64_t started_ms;
    int64_t lost_after_ms;
    int64_t heartbeat_every_ms;
    struct store *st;
    struct gw_spool *spool;
    struct gw_audit_ids *ids;
    bool replay_known; /* replay_at was read from the store */
    uint64_t replay_at;
    int64_t next_retry_ms;
    int64_t next_log_ms;
    int64_t next_heartbeat_ms;
    bool orphans_pending;    /* an earlier run's open sessions to close */
    uint64_t outage_records; /* spooled during this outage */
    uint64_t lost_reported;
    char why[256]; /* what the store said when the outage began */

    /* the SIEM export (follow.c); NULL without event_export */
    struct gw_export *export;
    bool follow_known; /* follow_at is known */
    int64_t follow_at; /* the last event id handed to the export */
    int64_t next_drop_report_ms[GW_EXPORT_SINKS_MAX]; /* per sink */
};

/* writer.c: the queue. */
void gw_audit_free_queued(struct queued *q);
/* A batch that could go nowhere goes back to the front, in order. */
void gw_audit_requeue_front(struct gw_audit_writer *w, struct queued *batch);
/* The records of batch are in the store or the spool: free their room. */
void gw_audit_release_room(struct gw_audit_writer *w, struct queued *batch);

/* outage.c: the writer thread's work. */
/* Whether the store is out (writer thread only: it alone changes it). */
bool gw_audit_in_outage(const struct gw_audit_writer *w);
/* Write or spool one batch from the queue. */
void gw_audit_handle_batch(struct gw_audit_writer *w, struct queued *batch);
/* Retries, the heartbeat, orphans, lost records, the outage's log line. */
void gw_audit_housekeeping(struct gw_audit_writer *w);

/* follow.c: the SIEM export, on the writer's thread. */
/* Where the export begins (the store just opened, nothing committed). */
void gw_audit_follow_begin(struct gw_audit_writer *w);
/* Hand the events committed since the last call to the export. */
void gw_audit_follow(struct gw_audit_writer *w);
/* export.dropped events for what the export lost (rate-limited). */
void gw_audit_report_drops(struct gw_audit_writer *w);

#endif
