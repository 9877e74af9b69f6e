/*
 * The SIEM export (event_export, docs/operator-guide.md "SIEM export"):
 * every event committed to the chain goes out, in chain order, to each
 * configured sink (core/export_spec.h) as RFC 5424 syslog or JSON lines
 * (gateway/audit/export_format.h).
 *
 * The audit writer's thread follows the events table by id after its
 * commits (gateway/audit/follow.c) and hands each event to
 * gw_export_push, which formats it and appends it to every sink's bounded
 * queue without waiting. Each sink has its own thread that drains its
 * queue: connects with a deadline (names resolved through core/net.c),
 * writes with a deadline, reconnects with a backoff. A sink that is slow
 * or dead only fills its own queue; what does not fit is dropped and
 * counted (gw_export_dropped in gateway/daemon/export_stats.h, for the
 * metrics, and an export.dropped event the writer writes,
 * gw_export_take_drops).
 */
#ifndef SSHGATE_GATEWAY_AUDIT_EXPORT_H
#define SSHGATE_GATEWAY_AUDIT_EXPORT_H

#include "core/export_spec.h"
#include "gateway/audit/export_format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_export;

struct gw_export_config {
    const struct gw_export_list *sinks;
    size_t queue_max; /* bytes waiting per sink (export_queue_size) */
    const char *node; /* HOSTNAME and "node" */
};

/* Start one thread per sink (none: *out is NULL, GW_OK). A sink that
 * cannot be reached yet is retried by its thread. GW_OK, GW_ERR_NOMEM,
 * GW_ERR (no thread). */
int gw_export_start(const struct gw_export_config *cfg, struct gw_export **out);

/* Let every sink deliver what is queued for up to drain_ms, then stop
 * the threads; what is left is counted as dropped (and logged). Pushes
 * after it are dropped. NULL is fine. */
void gw_export_halt(struct gw_export *x, int64_t drain_ms);

/* Halt (at once, if not done) and free x. NULL is fine. */
void gw_export_free(struct gw_export *x);

/* Queue e for every sink; never waits. A sink whose queue has no room
 * for it drops it (counted). */
void gw_export_push(struct gw_export *x, const struct gw_export_event *e);

/* SIGHUP: reopen the files and reconnect the sockets (log rotation). */
void gw_export_reopen(struct gw_export *x);

/* What one sink dropped since its last report. */
struct gw_export_drops {
    uint64_t events;
    int64_t first_id; /* lowest and highest event id among them */
    int64_t last_id;
    uint64_t total; /* since the start */
};

size_t gw_export_sink_count(const struct gw_export *x);
/* The entry as configured, "syslog:udp:127.0.0.1:514". */
const char *gw_export_sink_name(const struct gw_export *x, size_t i);

/* Take sink i's drops since the last report (false: none); put them back
 * with gw_export_return_drops when the report could not be written. */
bool gw_export_take_drops(struct gw_export *x, size_t i,
                          struct gw_export_drops *out);
void gw_export_return_drops(struct gw_export *x, size_t i,
                            const struct gw_export_drops *d);

#endif
