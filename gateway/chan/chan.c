#include "gateway/chan/chan.h"

#include "core/log.h"
#include "gateway/chan/pair.h"
#include "gateway/chan/session.h"
#include "gateway/chan/tcpip.h"
#include "gateway/chan/remote_fwd.h"
#include "gateway/chan/agent.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/upstream.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each kind's ops, defined in the kind's own file. */
static const struct gw_chan_ops *const chan_ops[GW_KIND_COUNT] = {
    [GW_KIND_SESSION] = &gw_session_chan_ops,
    [GW_KIND_DIRECT] = &gw_direct_chan_ops,
    [GW_KIND_SOCKET] = &gw_socket_chan_ops,
    [GW_KIND_FORWARDED] = &gw_forwarded_chan_ops,
    [GW_KIND_AGENT] = &gw_agent_chan_ops,
};

/* ---- slots ------------------------------------------------------------ */

struct gw_chan *gw_chan_alloc(struct gw_conn *c, enum gw_chan_kind kind)
{
    struct gw_chan *ch = NULL;
    size_t slot = c->max_chans;

    for (size_t i = 0; i < c->max_chans && slot == c->max_chans; i++) {
        if (c->chans[i] == NULL) {
            slot = i;
        }
    }
    if (slot == c->max_chans || c->closing) {
        gw_log_info("refused a channel: %s",
                    c->closing ? "closing" : "too many channels");
        return NULL;
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        gw_log_error("out of memory for a channel");
        return NULL;
    }
    ch->conn = c;
    ch->id = ++c->chan_ids;
    ch->kind = kind;
    ch->relay.sock.fd = -1;
    gw_session_row_init(&ch->row, c->daemon->audit, c->uid, ch->id);
    c->chans[slot] = ch;
    return ch;
}

void gw_chan_unalloc(struct gw_chan *ch)
{
    struct gw_conn *c = ch->conn;

    for (size_t i = 0; i < c->max_chans; i++) {
        if (c->chans[i] == ch) {
            c->chans[i] = NULL;
        }
    }
    free(ch->command);
    free(ch->dest);
    free(ch->orig);
    free(ch);
}

struct gw_chan *gw_chan_of(struct gw_conn *c, ssh_channel channel)
{
    for (size_t i = 0; i < c->max_chans && channel != NULL; i++) {
        if (c->chans[i] != NULL && c->chans[i]->channel == channel) {
            return c->chans[i];
        }
    }
    return NULL;
}

int gw_chan_count(const struct gw_conn *c)
{
    int n = 0;

    for (size_t i = 0; i < c->max_chans; i++) {
        n += c->chans[i] != NULL ? 1 : 0;
    }
    return n;
}

/* ---- reaping ---------------------------------------------------------- */

/* Free everything ch holds; the slot becomes free. Callbacks go first. */
static void release(struct gw_chan *ch)
{
    const struct gw_chan_ops *ops = chan_ops[ch->kind];

    if (ch->channel != NULL) {
        ssh_remove_channel_callbacks(ch->channel, &ch->cb);
        ssh_channel_free(ch->channel);
        ch->channel = NULL;
    }
    if (ch->bch != NULL) {
        ssh_remove_channel_callbacks(ch->bch, &ch->bcb);
        ssh_channel_free(ch->bch);
        ch->bch = NULL;
    }
    if (ch->relay.sock.fd >= 0) {
        close(ch->relay.sock.fd);
    }
    gw_pend_free(&ch->relay.pend_up);
    gw_pend_free(&ch->relay.pend_down[0]);
    gw_pend_free(&ch->relay.pend_down[1]);
    gw_win_release(&ch->relay.front.win, &ch->conn->win_left);
    gw_win_release(&ch->relay.back.win, &ch->conn->win_left);
    gw_session_row_release(&ch->row);
    gw_chan_rl_detach(ch);
    if (ch->up != NULL) {
        ch->up->refs--;
    }
    if (ops->release != NULL) {
        ops->release(ch);
    }
    gw_chan_unalloc(ch);
}

static void reap(struct gw_conn *c)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch == NULL || ch->state != GW_CHAN_DEAD) {
            continue;
        }
        if (ch->announced) {
            gw_pair_announce_close(ch);
        }
        release(ch);
    }
}

bool gw_chan_pump(struct gw_conn *c)
{
    size_t n = c->max_chans;
    size_t start = c->pump_round++ % n;
    bool busy = false;

    /* Round robin: each round starts one slot later. A callback run from
     * inside the pump may fill a free slot; it is served next round. */
    for (size_t k = 0; k < n; k++) {
        struct gw_chan *ch = c->chans[(start + k) % n];
        if (ch != NULL && ch->state != GW_CHAN_DEAD &&
            ch->state != GW_CHAN_FREE && chan_ops[ch->kind]->pump(ch)) {
            busy = true;
        }
    }
    reap(c);
    gw_upstream_reap(c);
    return busy;
}

short gw_chan_sock_events(const struct gw_chan *ch)
{
    return ch->kind == GW_KIND_SOCKET ? gw_pair_sock_events(ch) : 0;
}

/* ---- endings ---------------------------------------------------------- */

void gw_chan_kill(struct gw_conn *c, const struct gw_kill *kill)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch != NULL && (int)ch->id == kill->channel && ch->row.started &&
            ch->state == GW_CHAN_RELAY) {
            gw_log_info("channel %u: session %lld killed by admin", ch->id,
                        (long long)kill->id);
            gw_pair_break(ch, GW_END_KILLED);
            ch->row.killed = true;
            return;
        }
    }
    /* Ended meanwhile (or not this connection's): nothing left to do. */
    gw_session_row_kill_gone(c->daemon->audit, kill->id);
}

void gw_chan_backend_lost(struct gw_conn *c, struct gw_upstream *up)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        const struct gw_chan_ops *ops;
        if (ch == NULL || ch->up != up || ch->state == GW_CHAN_DEAD) {
            continue;
        }
        ops = chan_ops[ch->kind];
        if (ch->ending == GW_END_NONE) {
            ch->ending = GW_END_BACKEND_LOST;
        }
        /* What libssh still holds is forwarded; nothing more comes, and
         * nothing can be sent to the dead session. */
        ch->relay.back.eof_rcvd = true;
        ch->relay.back.close_rcvd = true;
        ch->relay.back.eof_sent = true;
        ch->relay.back.close_sent = true;
        if (ops->backend_lost != NULL) {
            ops->backend_lost(ch);
        }
    }
}

void gw_chan_detach_all(struct gw_conn *c)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch == NULL) {
            continue;
        }
        if (ch->ending == GW_END_NONE) {
            ch->ending = c->close_ending;
        }
        if (ch->announced) {
            gw_pair_announce_close(ch);
        }
        if (ch->channel != NULL) {
            /* ssh_disconnect frees the client channel itself; closing it
             * here first would make the client quit before it reads the
             * disconnect reason. */
            ssh_remove_channel_callbacks(ch->channel, &ch->cb);
            ch->channel = NULL;
        }
        if (ch->bch != NULL) {
            /* Likewise freed with its backend session. */
            ssh_remove_channel_callbacks(ch->bch, &ch->bcb);
            ch->bch = NULL;
        }
        release(ch);
    }
}
