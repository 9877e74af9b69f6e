/*
 * The audit writer: the one way an audit record of sshgated reaches the
 * database (docs/audit-schema.md, "Durability").
 *
 * Every thread hands records (gateway/audit/record.h) to one bounded
 * in-memory queue and never waits for the store. One writer thread takes
 * them in order and commits many per transaction (group commit). While the
 * store cannot take writes (locked, disk full, unreachable), the writer
 * appends them, in order, to a local spool file (core/spool.h), fsynced
 * per batch and bounded in size, and replays the spool into the store
 * once it is back; the spool position is stored in the same transaction
 * as the records it covers, so a crash replays nothing twice and loses
 * nothing the spool took. An audit.degraded / audit.recovered event pair
 * brackets every outage.
 *
 * audit_failure decides what an outage costs users: `refuse` (the
 * default) refuses new logins and new channels once the store has been
 * unwritable for audit_failure_grace or the spool (or the queue) cannot
 * take more; `continue` serves on and says so in the log every minute.
 * Sessions already running go on either way.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_WRITER_H
#define SSHGATE_GATEWAY_AUDIT_WRITER_H

#include "core/export_spec.h"
#include "gateway/audit/record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What new sessions hear while audit_failure = refuse holds them off. */
#define GW_AUDIT_REFUSAL \
    "sshgate: audit store unavailable, refusing new sessions"

struct gw_audit_writer;

struct gw_audit_writer_config {
    const char *db_path;
    const char *spool_path;
    uint64_t spool_max;     /* bytes the spool file may grow to */
    size_t queue_max;       /* bytes of records waiting in memory */
    size_t chunk_queue_max; /* of which recording chunks at most */
    bool fail_open;         /* audit_failure = continue */
    int64_t grace_ms;       /* audit_failure_grace */
    const char *node;       /* for the heartbeat */
    const char *listen;     /* "ADDR:PORT,...", for the heartbeat */
    int64_t started_ms;     /* the daemon's start, wall clock */
    /* node_lost_after: a node silent this long is lost; the heartbeat
     * comes three times within it, and this node closes the sessions of
     * the nodes it finds lost (a cluster on one database). */
    int64_t lost_after_ms;
    /* Close the sessions an earlier run of this node left open, at its
     * last heartbeat; this run's connection uids start with run_prefix. */
    bool close_orphans;
    const char *run_prefix;
    /* The SIEM export (gateway/audit/export.h): its sinks (none: no
     * export) and the bytes each may have waiting. */
    const struct gw_export_list *export_sinks;
    size_t export_queue_max;
};

/* Open the spool (replaying what an earlier run left) and start the
 * thread. GW_OK, GW_ERR_NOMEM, GW_ERR (no thread). A spool that cannot be
 * opened is logged and the writer runs without one. */
int gw_audit_writer_start(const struct gw_audit_writer_config *cfg,
                          struct gw_audit_writer **out);

/* Write or spool everything queued, giving a locked store up to drain_ms,
 * then stop the thread and free w. NULL is fine. */
void gw_audit_writer_stop(struct gw_audit_writer *w, int64_t drain_ms);

/* New settings on reload (audit_failure, grace, the chunk budget). */
void gw_audit_writer_configure(struct gw_audit_writer *w, bool fail_open,
                               int64_t grace_ms, size_t chunk_queue_max);

/* SIGHUP: the export reopens its files and reconnects (log rotation). */
void gw_audit_writer_reopen_export(struct gw_audit_writer *w);

/*
 * Take r over (its strings with it; r is left cleared). GW_OK once it is
 * queued: from then on it is written or spooled, never dropped. GW_AGAIN
 * when the queue cannot take it (a recording chunk over its budget, or
 * anything over queue_max): it is counted as lost and reported in an
 * audit.lost event once the store takes writes.
 */
int gw_audit_submit(struct gw_audit_writer *w, struct gw_audit_record *r);

/* Queue an event; detail is printf-formatted. As gw_audit_submit. */
int gw_audit_event(struct gw_audit_writer *w, const char *kind,
                   const char *user, const char *client, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Whether new logins and channels may start now (audit_failure). */
bool gw_audit_accepting(struct gw_audit_writer *w);

/* A snapshot for logs, metrics and tests. */
struct gw_audit_status {
    bool degraded;        /* the store is not taking writes */
    int64_t since_ms;     /* since when (monotonic) */
    bool spool_full;      /* the spool refused the last batch */
    size_t queued_bytes;  /* in memory */
    uint64_t spool_bytes; /* waiting in the spool */
    uint64_t lost;        /* records refused since the start */
};
void gw_audit_status(struct gw_audit_writer *w, struct gw_audit_status *out);

#endif
