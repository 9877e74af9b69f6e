#include "core/ratelimit.h"

#include <time.h>

uint64_t gw_rl_burst_for(uint64_t rate, uint64_t burst)
{
    if (burst == 0) {
        burst = rate / 4;
    }
    return burst < GW_RL_BURST_MIN ? GW_RL_BURST_MIN : burst;
}

void gw_rl_init(struct gw_ratelimit *b, uint64_t rate, uint64_t burst,
                int64_t now_us)
{
    b->rate = rate;
    b->burst = gw_rl_burst_for(rate, burst);
    b->tokens = (double)b->burst;
    b->last_us = now_us;
}

static void refill(struct gw_ratelimit *b, int64_t now_us)
{
    double add;

    if (now_us <= b->last_us) {
        return; /* a clock that did not move (or a caller's older now) */
    }
    add = (double)(now_us - b->last_us) * (double)b->rate / 1e6;
    b->last_us = now_us;
    b->tokens += add;
    if (b->tokens > (double)b->burst) {
        b->tokens = (double)b->burst;
    }
}

void gw_rl_set(struct gw_ratelimit *b, uint64_t rate, uint64_t burst,
               int64_t now_us)
{
    refill(b, now_us);
    b->rate = rate;
    b->burst = gw_rl_burst_for(rate, burst);
    if (b->tokens > (double)b->burst) {
        b->tokens = (double)b->burst;
    }
}

bool gw_rl_limited(const struct gw_ratelimit *b)
{
    return b->rate > 0;
}

uint64_t gw_rl_available(struct gw_ratelimit *b, int64_t now_us)
{
    if (b->rate == 0) {
        return UINT64_MAX;
    }
    refill(b, now_us);
    return b->tokens < 1.0 ? 0 : (uint64_t)b->tokens;
}

void gw_rl_consume(struct gw_ratelimit *b, uint64_t n, int64_t now_us)
{
    if (b->rate == 0) {
        return;
    }
    refill(b, now_us);
    b->tokens -= (double)n;
}

uint64_t gw_rl_take(struct gw_ratelimit *b, uint64_t n, int64_t now_us)
{
    uint64_t avail = gw_rl_available(b, now_us);
    uint64_t got = n < avail ? n : avail;

    gw_rl_consume(b, got, now_us);
    return got;
}

int64_t gw_rl_wait_ms(struct gw_ratelimit *b, uint64_t want, int64_t now_us)
{
    double missing;
    int64_t ms;

    if (b->rate == 0) {
        return 0;
    }
    refill(b, now_us);
    if (want > b->burst) {
        want = b->burst;
    }
    missing = (double)want - b->tokens;
    if (missing <= 0) {
        return 0;
    }
    /* rounded up: waking before the tokens are there would be a spin */
    ms = (int64_t)(missing * 1000.0 / (double)b->rate);
    return ms + 1;
}

int64_t gw_rl_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
