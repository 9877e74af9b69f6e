/*
 * Admission limits shared by the listener and the connection threads, kept
 * in memory per source address (one table, one mutex):
 *   - unauthenticated connections in total and per source address;
 *   - per-source authentication failures: source_lockout_threshold
 *     failures within lockout_time lock the address for lockout_time.
 * Entries disappear once they hold nothing (no open unauthenticated
 * connection, no lock, no failure in the current window).
 */
#ifndef SSHGATE_GATEWAY_DAEMON_LIMITS_H
#define SSHGATE_GATEWAY_DAEMON_LIMITS_H

#include "core/cidr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_limits;

/* The numbers in force (from the current config), passed with each call
 * so that a reload applies at once. */
struct gw_limits_policy {
    long max_unauth; /* in total */
    long max_unauth_per_source;
    long source_threshold; /* failures that lock a source; 0 = never */
    int64_t lock_ms;       /* window and lock length */
};

enum gw_admit {
    GW_ADMIT_OK = 0,
    GW_ADMIT_UNAUTH_TOTAL,  /* max_unauth_connections reached */
    GW_ADMIT_UNAUTH_SOURCE, /* max_unauth_per_source reached */
    GW_ADMIT_SOURCE_LOCKED, /* too many failures from this address */
    GW_ADMIT_TABLE_FULL,    /* too many distinct addresses tracked */
};

/* A table tracking at most max_entries addresses. */
int gw_limits_new(size_t max_entries, struct gw_limits **out);
void gw_limits_free(struct gw_limits *lim);

/*
 * Decide on a new connection from addr. On GW_ADMIT_OK one unauthenticated
 * slot is taken for addr; give it back with gw_limits_release.
 */
enum gw_admit gw_limits_admit(struct gw_limits *lim, const struct gw_addr *addr,
                              const struct gw_limits_policy *pol,
                              int64_t now_ms);

/* The connection from addr authenticated or ended: free its slot. */
void gw_limits_release(struct gw_limits *lim, const struct gw_addr *addr);

/* Is addr locked out for authentication failures? */
bool gw_limits_locked(struct gw_limits *lim, const struct gw_addr *addr,
                      int64_t now_ms);

/* What counting one failure found. */
enum gw_source_count {
    GW_SOURCE_COUNTED,    /* counted (or nothing to count: threshold 0) */
    GW_SOURCE_LOCKED_NOW, /* counted, and this failure locked the address */
    GW_SOURCE_WAS_LOCKED, /* the address was locked already: not counted */
};

/*
 * Count one authentication failure from addr. The answer is taken under
 * the table's lock, so of several connections of one address failing at
 * once exactly one locks it and the others learn that it was locked
 * already: the user lockout counts only failures whose source was not
 * locked yet (gateway/conn/lockout.c).
 */
enum gw_source_count gw_limits_failure(struct gw_limits *lim,
                                       const struct gw_addr *addr,
                                       const struct gw_limits_policy *pol,
                                       int64_t now_ms);

/* Unauthenticated connections held in total. */
long gw_limits_unauth(struct gw_limits *lim);

/* Drop entries that hold nothing any more. */
void gw_limits_sweep(struct gw_limits *lim, int64_t now_ms);

/* Short reason text for a refusal ("too many unauthenticated
 * connections"), shown to the client and stored in events. */
const char *gw_admit_reason(enum gw_admit admit);

#endif
