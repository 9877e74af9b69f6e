/*
 * Audit events from threads that must never wait for the database (the
 * listener): queued in memory and written by one writer thread with its
 * own store handle. The queue is bounded; when it is full events are
 * dropped and counted, and the writer records how many were lost in an
 * "audit.dropped" event, so a flood of refused connections costs neither
 * the listener's time nor unbounded memory.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_AUDITQ_H
#define SSHGATE_GATEWAY_AUDIT_AUDITQ_H

#include <stddef.h>

struct gw_auditq;

/* Start the writer on the database at db_path, holding at most max
 * pending events. */
int gw_auditq_start(const char *db_path, size_t max, struct gw_auditq **out);

/* Queue an event (strings are copied; user/client may be NULL). Never
 * blocks on I/O. */
void gw_auditq_add(struct gw_auditq *q, const char *kind, const char *user,
                   const char *client, const char *detail);

/* Write what is queued, stop the writer and free the queue. NULL is
 * fine. */
void gw_auditq_stop(struct gw_auditq *q);

#endif
