/*
 * Admission limits shared by the listener and the connection threads, kept
 * in memory per source (one table, one mutex):
 *   - unauthenticated connections in total (with random early drop between
 *     max_startups' start and full, like sshd's MaxStartups) and per source;
 *   - per-source authentication failures: source_lockout_threshold
 *     failures within lockout_time lock the source for lockout_time;
 *   - per-source penalties for connections that held a slot until a
 *     timeout without authenticating (like sshd's PerSourcePenalties).
 * A source is the client address masked to source_prefix_v4/_v6, so that
 * one host's /64 counts as one source and cannot multiply its share.
 * Entries disappear once they hold nothing (no open unauthenticated
 * connection, no lock, no failure in the current window, no penalty).
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
    long max_unauth; /* in total: at this many, everyone is refused */
    long max_unauth_per_source;
    long source_threshold; /* failures that lock a source; 0 = never */
    int64_t lock_ms;       /* window and lock length */
    /* Early drop: from startups_begin unauthenticated connections on, a new
     * one is refused with a probability rising linearly from startups_rate
     * percent to 100 % at max_unauth. startups_begin >= max_unauth (or 0 in
     * a zeroed policy of a test) = no early drop. */
    long startups_begin;
    long startups_rate; /* percent, 1..100 */
    /* Prefix lengths a source is keyed on; 0 = the whole address. */
    unsigned prefix_v4;
    unsigned prefix_v6;
    int64_t penalty_ms;     /* added per offence; 0 = no penalties */
    int64_t penalty_max_ms; /* the longest a penalty runs from now */
};

enum gw_admit {
    GW_ADMIT_OK = 0,
    GW_ADMIT_UNAUTH_TOTAL,  /* max_unauth_connections reached */
    GW_ADMIT_UNAUTH_SOURCE, /* max_unauth_per_source reached */
    GW_ADMIT_SOURCE_LOCKED, /* too many failures from this address */
    GW_ADMIT_TABLE_FULL,    /* too many distinct addresses tracked */
    GW_ADMIT_EARLY_DROP,    /* max_startups: randomly refused */
    GW_ADMIT_PENALTY,       /* the source held slots until a timeout */
};

/* A random number source for the early drop; tests inject their own. */
typedef uint32_t (*gw_limits_random_fn)(void *ud);

/* A table tracking at most max_entries addresses. */
int gw_limits_new(size_t max_entries, struct gw_limits **out);
void gw_limits_free(struct gw_limits *lim);

/* Replace the random source (called with the table's lock held). */
void gw_limits_set_random(struct gw_limits *lim, gw_limits_random_fn fn,
                          void *ud);

/* The source addr is counted as: addr masked to the policy's prefix,
 * port 0. */
void gw_limits_source(const struct gw_limits_policy *pol,
                      const struct gw_addr *addr, struct gw_addr *source);

/*
 * The early-drop decision with unauth connections open and random number
 * r: true = refuse. Below startups_begin false, at max_unauth or more true,
 * between them true with a probability rising from startups_rate percent.
 */
bool gw_limits_early_drop(const struct gw_limits_policy *pol, long unauth,
                          uint32_t r);

/*
 * Decide on a new connection from addr. On GW_ADMIT_OK one unauthenticated
 * slot is taken for its source, written to *source (when not NULL); give
 * it back with gw_limits_release(source). The source is kept rather than
 * recomputed because a reload may change the prefixes meanwhile.
 */
enum gw_admit gw_limits_admit(struct gw_limits *lim, const struct gw_addr *addr,
                              const struct gw_limits_policy *pol,
                              int64_t now_ms, struct gw_addr *source);

/* The connection admitted for source authenticated or ended: free its
 * slot. */
void gw_limits_release(struct gw_limits *lim, const struct gw_addr *source);

/* A connection admitted for source ended by a timeout without
 * authenticating: add pol->penalty_ms to its penalty (at most
 * pol->penalty_max_ms from now). New connections from it are refused
 * until the penalty has run out. */
void gw_limits_penalize(struct gw_limits *lim, const struct gw_addr *source,
                        const struct gw_limits_policy *pol, int64_t now_ms);

/* Is addr's source locked out for authentication failures? */
bool gw_limits_locked(struct gw_limits *lim, const struct gw_addr *addr,
                      const struct gw_limits_policy *pol, int64_t now_ms);

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
