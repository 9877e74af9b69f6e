/*
 * One SIEM export sink's file or socket (gateway/audit/export.h), used by
 * that sink's thread alone: open or connect it with a deadline, deliver
 * one formatted event with a deadline, and back off after a failure.
 * Failures are logged once per streak, and again once it works.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_EXPORT_SINK_H
#define SSHGATE_GATEWAY_AUDIT_EXPORT_SINK_H

#include "core/export_spec.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deadlines of a connect (with its name lookup) and of one write. */
#define GW_EXPORT_CONNECT_MS 5000
#define GW_EXPORT_WRITE_MS   5000

struct gw_export_conn {
    const struct gw_export_sink_spec *spec;
    int fd;              /* -1: closed */
    int64_t next_try_ms; /* no open before (monotonic) */
    int64_t backoff_ms;  /* 1 s doubling to 30 s */
    bool failing;        /* said in the log; said again once it works */
    /* Set by another thread at the stop: a connect or write gives up by
     * then (monotonic ms; 0: not stopping). */
    _Atomic int64_t give_up_ms;
};

/* Open the file or connect the socket, within GW_EXPORT_CONNECT_MS.
 * GW_OK, or not: logged, closed, next_try_ms set. */
int gw_export_conn_open(struct gw_export_conn *c);

/*
 * Send one formatted event, within GW_EXPORT_WRITE_MS of no progress.
 * GW_OK; GW_AGAIN when nothing of it went out and the connection was
 * closed (it may go out on the next one); GW_ERR_IO when it is lost (a
 * stream cut in the middle of it is closed too).
 */
int gw_export_conn_deliver(struct gw_export_conn *c, const char *data,
                           size_t len);

void gw_export_conn_close(struct gw_export_conn *c);

#endif
