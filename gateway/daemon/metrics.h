/*
 * The daemon's counters for /metrics (gateway/metrics_http.c serves them,
 * docs/operator-guide.md lists them): plain C11 atomics, bumped by every
 * room on its own thread without a lock and read by the metrics thread
 * when a scraper asks. They live here, in the lowest room, so that every
 * room may count.
 *
 * One process-wide set, like the log level: the counters describe the
 * process, and a pointer through every struct that bumps one (the relay,
 * the recorder, the listener) would buy nothing. Bumping costs one
 * relaxed atomic add whether or not metrics_listen is set.
 *
 * Every label value comes from a fixed table here, so a scrape has a
 * bounded number of series: a reason this file does not know (a new one
 * added elsewhere and not here) is counted as "other". The label values
 * are the words the log and the audit events already use (reason=,
 * method=, kind=), so that a spike on a graph can be found in the trail.
 */
#ifndef SSHGATE_GATEWAY_DAEMON_METRICS_H
#define SSHGATE_GATEWAY_DAEMON_METRICS_H

#include "gateway/daemon/ending.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Plain counters without labels. */
enum gw_metric {
    GW_M_CONN_ACCEPTED = 0,  /* handed to a worker */
    GW_M_BYTES_UP,           /* relayed from clients towards backends */
    GW_M_BYTES_DOWN,         /* relayed from backends towards clients */
    GW_M_REC_DROPPED_CHUNKS, /* recording chunks the queue could not take */
    GW_M_REC_DROPPED_BYTES,  /* their terminal bytes */
    /* SIEM export (gateway/audit/export.c): events dropped because the
     * exporter could not keep up. Nothing bumps it yet. */
    GW_M_EVENTS_EXPORT_DROPPED,
    GW_M_COUNT
};

/* Add n to a plain counter. */
void gw_metrics_add(enum gw_metric m, uint64_t n);

/* The listener refused a connection; reason is the conn.refused event's
 * reason= (the setting that refused: "max_connections", ...). */
void gw_metrics_refused(const char *reason);

/* A worker took a connection (unauthenticated until the next call). */
void gw_metrics_conn_open(void);
/* That connection authenticated. */
void gw_metrics_conn_authenticated(void);
/* It ended, authenticated or not, for why. */
void gw_metrics_conn_closed(bool authenticated, enum gw_ending why);

/* One authentication attempt's verdict: method as in the auth.* events
 * ("publickey", "password", "keyboard-interactive", "none"), reason their
 * reason= text, NULL for a success. */
void gw_metrics_auth(const char *method, const char *reason);

/* A relayed channel started / ended; kind as in the sessions rows
 * ("shell", "exec", "sftp", "subsystem", "direct-tcpip", ...). */
void gw_metrics_session_start(const char *kind);
void gw_metrics_session_end(const char *kind);

/* One attempt to reach a backend took elapsed_ms; failure is its
 * enum gw_backend_failure (0: it worked). */
void gw_metrics_backend_connect(int64_t elapsed_ms, unsigned failure);

/* The SSH listener runs: set once its thread is started, cleared when
 * its loop ends (shutdown). */
void gw_metrics_set_listener_up(bool up);
bool gw_metrics_listener_up(void);

/* What the scrape reads elsewhere at that moment (the audit writer's
 * snapshot, readiness). */
struct gw_metrics_gauges {
    bool ready;
    bool audit_degraded;
    uint64_t audit_queue_bytes;
    uint64_t audit_spool_bytes;
    uint64_t audit_lost;
};

/*
 * Write every metric in the Prometheus text exposition format (version
 * 0.0.4): HELP and TYPE lines, then the samples. GW_OK or GW_ERR_IO when
 * out fails.
 */
int gw_metrics_render(FILE *out, const struct gw_metrics_gauges *g);

/* Write value as a label value: \, " and newline escaped. */
void gw_metrics_label_value(FILE *out, const char *value);

/* Every counter back to zero (unit tests). */
void gw_metrics_reset(void);

#endif
