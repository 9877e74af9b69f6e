/*
 * Putting audit records into the store (gateway/audit/apply.c), for the
 * audit writer's thread only. Records name their session by (connection
 * uid, channel); the row ids they resolve to are kept in a small map while
 * the session is open and looked up in the store after a restart.
 */
#ifndef SSHGATE_GATEWAY_AUDIT_APPLY_H
#define SSHGATE_GATEWAY_AUDIT_APPLY_H

#include "gateway/audit/record.h"

struct store;
struct gw_audit_ids;

int gw_audit_ids_new(struct gw_audit_ids **out);
void gw_audit_ids_free(struct gw_audit_ids *ids);

/*
 * Write r inside the caller's transaction. GW_OK; a transient failure
 * (GW_ERR_TIMEOUT: locked, GW_ERR_IO: full disk, read-only, unreachable)
 * that the caller answers by rolling back and keeping r for later; any
 * other status means r itself cannot be written (its session row is
 * missing, the store refuses its values): the caller records that and
 * goes on without it.
 */
int gw_audit_apply(struct store *st, struct gw_audit_ids *ids,
                   const struct gw_audit_record *r);

/* Whether a status from gw_audit_apply (or the store) is a passing
 * outage rather than a verdict on the record. */
bool gw_audit_transient(int status);

/* Forget ids learned inside a transaction that was rolled back. */
void gw_audit_ids_rollback(struct gw_audit_ids *ids);

#endif
