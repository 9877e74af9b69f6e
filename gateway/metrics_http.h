/*
 * metrics_listen: a small HTTP endpoint on its own thread (libmicrohttpd)
 * for monitoring. GET /metrics answers the counters of
 * gateway/daemon/metrics.h in the Prometheus text format, /healthz "ok"
 * while the process answers at all, /readyz 200 while the SSH listener is
 * up and the audit store takes writes, 503 otherwise. Every other path is
 * 404, every other method 405.
 *
 * Nothing here is on a connection's path: a scrape reads atomics and
 * takes the audit writer's queue lock for a snapshot, as long as any
 * producer holds it. The thread answers at most GW_METRICS_HTTP_CONN_MAX
 * clients at once, each for at most GW_METRICS_HTTP_TIMEOUT_S idle.
 */
#ifndef SSHGATE_GATEWAY_METRICS_HTTP_H
#define SSHGATE_GATEWAY_METRICS_HTTP_H

#include "core/cidr.h"
#include "gateway/daemon/daemon.h"

#define GW_METRICS_HTTP_CONN_MAX  8
#define GW_METRICS_HTTP_TIMEOUT_S 10

struct gw_metrics_http;

/* Bind and listen on addr, without answering yet (called before the
 * privileges are dropped, like the SSH listener). GW_OK, or GW_ERR_IO
 * with "cannot listen for metrics on ADDR: why". */
int gw_metrics_http_open(const struct gw_addr *addr,
                         struct gw_metrics_http **out);

/* Start the thread that answers; d (its phase and audit writer) must
 * outlive gw_metrics_http_free. */
int gw_metrics_http_start(struct gw_metrics_http *h, struct gw_daemon *d);

/* Stop the thread, close the socket, free h. NULL is fine. */
void gw_metrics_http_free(struct gw_metrics_http *h);

#endif
