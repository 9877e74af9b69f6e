/*
 * The per-source authentication-failure lockout of a cluster: the
 * counterpart in the database of the source counters in each node's
 * memory (gateway/daemon/limits.h), so that N nodes behind one balancer
 * give one source source_lockout_threshold attempts in all, not N times
 * as many. sshgated uses it only on a database server (a cluster);
 * one node on SQLite counts in memory alone (gateway/conn/lockout.c).
 *
 * One row per source: the client address reduced to source_prefix_v4 or
 * source_prefix_v6, as text ("203.0.113.0", "2001:db8:1:2::"):
 *   failures           counted in the current window (while locked and
 *                      after: the count that locked);
 *   window_started_at  when the current window began (lockout_time long);
 *   locked_until       NULL: not locked since the window began; otherwise
 *                      the end of the lock (in the past: a lock that has
 *                      ended, and the next failure opens a new window).
 */
#ifndef SSHGATE_STORE_SOURCES_H
#define SSHGATE_STORE_SOURCES_H

#include "store/users.h"

#include <stdbool.h>
#include <stdint.h>

struct store;

/* What counting one failure of a source found: the three outcomes of
 * gw_limits_failure (enum gw_source_count). */
enum store_source_verdict {
    STORE_SOURCE_COUNTED,    /* counted (or nothing to count: threshold 0) */
    STORE_SOURCE_LOCKED_NOW, /* counted, and this failure locked the source */
    STORE_SOURCE_WAS_LOCKED, /* locked already: not counted */
};

/*
 * Count one authentication failure of source under rule (as
 * store_user_record_failure counts a user's): the first failure opens a
 * window of rule->seconds, the rule->threshold-th within it locks the
 * source for rule->seconds, a failure after the window or after a lock
 * opens a new one, and a source locked already is not counted (refused
 * attempts cannot extend a lock). One statement: of several nodes
 * counting failures of one source at once, every failure counts and
 * exactly one locks. rule->threshold <= 0 counts nothing (COUNTED).
 * GW_OK or GW_ERR_DB (*out is COUNTED then).
 */
int store_source_record_failure(struct store *st, const char *source,
                                const struct store_lockout *rule,
                                enum store_source_verdict *out);

/* Is source locked at now_ms (wall clock ms since the epoch)? GW_OK or
 * GW_ERR_DB (*locked is false then). */
int store_source_is_locked(struct store *st, const char *source, int64_t now_ms,
                           bool *locked);

/*
 * Delete the rows that hold nothing any more under rule: a lock that has
 * ended, or no lock and a window that began rule->seconds ago or earlier
 * (such a row counts as no row: the next failure opens a new window).
 * *deleted (when not NULL) gets how many. GW_OK or GW_ERR_DB.
 */
int store_source_expire(struct store *st, const struct store_lockout *rule,
                        int64_t *deleted);

#endif
