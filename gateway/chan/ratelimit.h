/*
 * The rate limits of a relayed pair (docs/forwarding.md, "Rate limits"):
 * every bucket pair that applies to the channel -- the global one, its
 * user's, its grant's (gateway/daemon/ratelimits.h) -- each way. Before a
 * direction moves, it may read only what all of them allow; what it read
 * is paid to each. When they hold too little, the direction pauses: it
 * reads nothing (the data waits in libssh's buffer or the socket, and the
 * receive window is not reopened, so the peer is held back), and the
 * connection's loop wakes up when enough tokens are back. Only that
 * direction of that channel waits; the others go on.
 */
#ifndef SSHGATE_GATEWAY_CHAN_RATELIMIT_H
#define SSHGATE_GATEWAY_CHAN_RATELIMIT_H

#include "gateway/daemon/ratelimits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_chan;

enum { GW_RL_SCOPE_GLOBAL, GW_RL_SCOPE_USER, GW_RL_SCOPE_GRANT, GW_RL_SCOPES };

struct gw_chan_rl {
    struct gw_rl_shared *b[GW_RL_SCOPES]; /* NULL: that scope has none */
    bool any; /* a user's or grant's limit (the global one may come and go) */
    bool attached;
    int64_t resume_us[2]; /* a paused direction waits until then */
    /* A -J / -W pair's grant (a pair through a backend uses its
     * session's): set before gw_pair_start. */
    int64_t grant_id;
    int64_t grant_rate;
};

/* Take the buckets that apply to ch (at gw_pair_start). */
void gw_chan_rl_attach(struct gw_chan *ch);

/* Give them back (the slot goes). */
void gw_chan_rl_detach(struct gw_chan *ch);

/* The bytes direction dir of ch may read now, at most budget; 0 while it
 * is paused (then the connection's loop wakes up when it resumes).
 * waiting is what the source is known to hold (a socket's: budget): a
 * direction with less than a chunk to go goes as soon as the buckets hold
 * that much, so that a small answer next to a bulk stream of the same
 * limit is not held back behind it. */
size_t gw_chan_rl_allow(struct gw_chan *ch, enum gw_rl_dir dir, size_t budget,
                        size_t waiting);

/* After a move with allowed (from gw_chan_rl_allow) of budget: pay the
 * moved bytes, and pause the direction when the limit, not the budget,
 * stopped it. Returns the relay's rc, with GW_AGAIN turned into GW_OK when
 * it only meant "limited" (the loop must then sleep, not spin). */
int gw_chan_rl_paid(struct gw_chan *ch, enum gw_rl_dir dir, uint64_t moved,
                    size_t allowed, size_t budget, int rc);

/* Is direction dir paused now (a socket relay then does not poll it)? */
bool gw_chan_rl_paused(const struct gw_chan *ch, enum gw_rl_dir dir);

#endif
