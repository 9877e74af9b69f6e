/*
 * The rate limits' shared token buckets (docs/forwarding.md, "Rate
 * limits"): the global one (rate_limit, every connection of the process),
 * one per user and one per grant, each a pair -- up (client to backend)
 * and down -- of core/ratelimit.h buckets. Connections of any thread share
 * them, so every access takes the registry's lock; a channel takes a
 * reference on each bucket pair that applies to it and gives it back when
 * it goes.
 */
#ifndef SSHGATE_GATEWAY_DAEMON_RATELIMITS_H
#define SSHGATE_GATEWAY_DAEMON_RATELIMITS_H

#include "core/ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum gw_rl_dir { GW_RL_UP = 0, GW_RL_DOWN = 1 };

struct gw_rl_shared;

struct gw_rl_registry {
    pthread_mutex_t lock;
    struct gw_rl_shared *global; /* always there; rate 0 while off */
    struct gw_rl_shared *list;   /* the users' and grants' in use */
    atomic_bool global_on;       /* rate_limit is set: read without the lock */
};

int gw_rl_registry_init(struct gw_rl_registry *r);
void gw_rl_registry_cleanup(struct gw_rl_registry *r);

/* Set the global pair's rate and burst (a config published). */
void gw_rl_global_set(struct gw_rl_registry *r, uint64_t rate, uint64_t burst);

/* The global pair (never freed; unlimited while rate_limit is off). */
struct gw_rl_shared *gw_rl_global(struct gw_rl_registry *r);

/* Is rate_limit on now? (No lock: a relaxed read per pump.) */
bool gw_rl_global_on(struct gw_rl_registry *r);

/* A reference to the pair named key ("user:alice", "grant:12"), made for
 * rate bytes/s (burst: gw_rl_burst_for's default) or given the rate when
 * it exists; NULL for rate 0 or out of memory (then nothing is limited). */
struct gw_rl_shared *gw_rl_acquire(struct gw_rl_registry *r, const char *key,
                                   uint64_t rate);

/* Give a reference back (NULL is fine). */
void gw_rl_release(struct gw_rl_registry *r, struct gw_rl_shared *s);

/* The buckets of one direction of n pairs (NULLs skipped) at once, so that
 * a channel is held to the strictest: */
/* the bytes every one of them allows now (UINT64_MAX: none limits), */
uint64_t gw_rl_allowed(struct gw_rl_registry *r, struct gw_rl_shared *const *s,
                       int n, enum gw_rl_dir dir, int64_t now_us);
/* pay the bytes read to each of them, */
void gw_rl_pay(struct gw_rl_registry *r, struct gw_rl_shared *const *s, int n,
               enum gw_rl_dir dir, uint64_t bytes, int64_t now_us);
/* the milliseconds until all of them hold want bytes (0: now). */
int64_t gw_rl_wait(struct gw_rl_registry *r, struct gw_rl_shared *const *s,
                   int n, enum gw_rl_dir dir, uint64_t want, int64_t now_us);

#endif
