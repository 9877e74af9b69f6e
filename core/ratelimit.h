/*
 * A token bucket: rate bytes per second, at most burst bytes saved up.
 * Pure (the caller passes the monotonic time, in microseconds), so that
 * it is unit-tested with a fake clock; not thread-safe (a shared bucket
 * is guarded by its owner, gateway/daemon/ratelimits.c).
 *
 * Reads are checked before they happen and paid for after: a reader asks
 * how much it may read now (gw_rl_available, or the minimum over several
 * buckets), reads at most that, and pays what it read with gw_rl_consume.
 * Several threads sharing one bucket may overdraw it a little between the
 * two; the debt is paid back from the next refills, so the long-run rate
 * holds. gw_rl_take does both steps for a single bucket.
 */
#ifndef SSHGATE_CORE_RATELIMIT_H
#define SSHGATE_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* The smallest burst a bucket gets: a reader that waits for less than an
 * SSH packet's worth would wake up for crumbs. */
#define GW_RL_BURST_MIN (64 * 1024)

struct gw_ratelimit {
    uint64_t rate;   /* bytes per second; 0: unlimited */
    uint64_t burst;  /* the most tokens the bucket holds */
    double tokens;   /* may be below 0 after an overdraft */
    int64_t last_us; /* when tokens were last refilled */
};

/* A full bucket of rate bytes/s (0: unlimited) and burst bytes (0: the
 * default, a quarter second of rate; never below GW_RL_BURST_MIN). */
void gw_rl_init(struct gw_ratelimit *b, uint64_t rate, uint64_t burst,
                int64_t now_us);

/* Change rate and burst (as for gw_rl_init), keeping the tokens saved up
 * (at most the new burst). */
void gw_rl_set(struct gw_ratelimit *b, uint64_t rate, uint64_t burst,
               int64_t now_us);

/* The burst gw_rl_init gives for burst 0 (or a too small one). */
uint64_t gw_rl_burst_for(uint64_t rate, uint64_t burst);

bool gw_rl_limited(const struct gw_ratelimit *b);

/* Whole tokens available now, after the refill (UINT64_MAX: unlimited). */
uint64_t gw_rl_available(struct gw_ratelimit *b, int64_t now_us);

/* Pay n bytes (the bucket may go below 0). */
void gw_rl_consume(struct gw_ratelimit *b, uint64_t n, int64_t now_us);

/* Take up to n tokens: how many were taken (available and consumed). */
uint64_t gw_rl_take(struct gw_ratelimit *b, uint64_t n, int64_t now_us);

/* Milliseconds (>= 1) until want tokens (capped at the burst) are there;
 * 0 when they are there now, or the bucket is unlimited. */
int64_t gw_rl_wait_ms(struct gw_ratelimit *b, uint64_t want, int64_t now_us);

/* The monotonic clock in microseconds. */
int64_t gw_rl_now_us(void);

#endif
