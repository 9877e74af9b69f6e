#include "gateway/chan/ratelimit.h"

#include "core/err.h"
#include "core/log.h"
#include "gateway/chan/chan.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/upstream.h"

#include <stdio.h>

/* A paused direction waits for at least this much (or half its smallest
 * burst): fewer, larger reads than one per refilled packet. */
#define RESUME_CHUNK (256u * 1024)

static struct gw_rl_registry *registry(const struct gw_chan *ch)
{
    return &ch->conn->daemon->rl;
}

void gw_chan_rl_attach(struct gw_chan *ch)
{
    struct gw_chan_rl *l = &ch->rl;
    struct gw_conn *c = ch->conn;
    struct gw_rl_registry *r = registry(ch);
    int64_t grant_id = ch->up != NULL ? ch->up->grant_id : l->grant_id;
    int64_t grant_rate = ch->up != NULL ? ch->up->rate_limit : l->grant_rate;
    char key[GW_NAME_MAX + 16];

    if (l->attached) {
        return;
    }
    l->attached = true;
    l->b[GW_RL_SCOPE_GLOBAL] = gw_rl_global(r);
    if (c->user_rate_limit > 0) {
        snprintf(key, sizeof(key), "user:%s", c->user);
        l->b[GW_RL_SCOPE_USER] =
            gw_rl_acquire(r, key, (uint64_t)c->user_rate_limit);
    }
    if (grant_rate > 0 && grant_id > 0) {
        snprintf(key, sizeof(key), "grant:%lld", (long long)grant_id);
        l->b[GW_RL_SCOPE_GRANT] = gw_rl_acquire(r, key, (uint64_t)grant_rate);
    }
    l->any = l->b[GW_RL_SCOPE_USER] != NULL || l->b[GW_RL_SCOPE_GRANT] != NULL;
    if (l->any || gw_rl_global_on(r)) {
        gw_log_verbose("channel %u: rate limited (global %s, user %lld/s, "
                       "grant %lld/s)",
                       ch->id, gw_rl_global_on(r) ? "on" : "off",
                       (long long)c->user_rate_limit, (long long)grant_rate);
    }
}

void gw_chan_rl_detach(struct gw_chan *ch)
{
    struct gw_chan_rl *l = &ch->rl;

    for (int i = 0; i < GW_RL_SCOPES; i++) {
        gw_rl_release(registry(ch), l->b[i]);
        l->b[i] = NULL;
    }
    l->any = false;
}

/* Does some limit apply to ch now? */
static bool limited(const struct gw_chan *ch)
{
    return ch->rl.any ||
           (ch->rl.attached && gw_rl_global_on(&ch->conn->daemon->rl));
}

/* The loop must be awake at t (monotonic us). */
static void wake_at(struct gw_conn *c, int64_t t)
{
    if (c->rl_wake_us == 0 || t < c->rl_wake_us) {
        c->rl_wake_us = t;
    }
}

/* The bytes a paused direction waits for before it reads again. */
static uint64_t resume_chunk(size_t budget)
{
    return budget < RESUME_CHUNK ? budget : RESUME_CHUNK;
}

/* Pause dir until the buckets hold chunk bytes. */
static void pause_dir(struct gw_chan *ch, enum gw_rl_dir dir, uint64_t chunk,
                      int64_t now)
{
    struct gw_chan_rl *l = &ch->rl;
    int64_t ms = gw_rl_wait(registry(ch), l->b, GW_RL_SCOPES, dir, chunk, now);

    l->resume_us[dir] = now + (ms > 0 ? ms : 1) * 1000;
    wake_at(ch->conn, l->resume_us[dir]);
}

size_t gw_chan_rl_allow(struct gw_chan *ch, enum gw_rl_dir dir, size_t budget,
                        size_t waiting)
{
    struct gw_chan_rl *l = &ch->rl;
    uint64_t chunk = resume_chunk(budget);
    int64_t now;
    uint64_t allowed;

    if (!limited(ch)) {
        return budget;
    }
    now = gw_rl_now_us();
    if (l->resume_us[dir] > now && waiting >= chunk) {
        wake_at(ch->conn, l->resume_us[dir]);
        return 0;
    }
    if (waiting == 0) {
        return budget; /* nothing to read: a pending write may go on */
    }
    chunk = waiting < chunk ? waiting : chunk;
    allowed = gw_rl_allowed(registry(ch), l->b, GW_RL_SCOPES, dir, now);
    /* Too little to be worth a read: wait for a chunk (the buckets' burst
     * caps what is waited for). */
    if (allowed < chunk &&
        gw_rl_wait(registry(ch), l->b, GW_RL_SCOPES, dir, chunk, now) > 0) {
        pause_dir(ch, dir, chunk, now);
        return 0;
    }
    l->resume_us[dir] = 0;
    return allowed < budget ? (size_t)allowed : budget;
}

int gw_chan_rl_paid(struct gw_chan *ch, enum gw_rl_dir dir, uint64_t moved,
                    size_t allowed, size_t budget, int rc)
{
    struct gw_chan_rl *l = &ch->rl;
    int64_t now;

    if (!limited(ch)) {
        return rc;
    }
    now = gw_rl_now_us();
    if (moved > 0) {
        gw_rl_pay(registry(ch), l->b, GW_RL_SCOPES, dir, moved, now);
    }
    if (rc != GW_AGAIN || allowed >= budget) {
        return rc; /* the budget (or nothing) stopped it: as before */
    }
    if (l->resume_us[dir] <= now) {
        pause_dir(ch, dir, resume_chunk(budget), now);
    }
    return GW_OK;
}

bool gw_chan_rl_paused(const struct gw_chan *ch, enum gw_rl_dir dir)
{
    return limited(ch) && ch->rl.resume_us[dir] > gw_rl_now_us();
}
