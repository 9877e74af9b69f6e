#include "gateway/conn/loop.h"

#include "core/err.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/timeutil.h"
#include "gateway/conn/access.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/dispatch.h"
#include "gateway/conn/target_state.h"
#include "gateway/conn/upstream.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

/* ---- timers ----------------------------------------------------------- */

bool gw_conn_session_gone(struct gw_conn *c)
{
    int status = ssh_get_status(c->session);

    return (status & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
           !ssh_is_connected(c->session);
}

/*
 * ssh_send_keepalive in non-blocking mode: while the reply to the previous
 * request has not been collected, a call only collects it and sends
 * nothing (channels.c ssh_global_request). A second call then sends; if
 * the first one sent, it is not repeated. Still nothing is sent while a
 * request is really unanswered -- the liveness limit deals with that.
 */
static void send_keepalive(struct gw_conn *c)
{
    uint64_t sent = c->raw.out_packets;

    ssh_send_keepalive(c->session);
    if (c->raw.out_packets == sent) {
        ssh_send_keepalive(c->session);
    }
}

/* Keepalive with a liveness limit: any packet from the client proves it
 * alive; after keepalive_interval of silence ask it for a reply, after
 * keepalive_interval * keepalive_count_max of silence give up. */
static void check_keepalive(struct gw_conn *c, int64_t now_ms)
{
    int64_t interval = (int64_t)c->cfg->keepalive_interval * 1000;
    int64_t silent = now_ms - c->last_rx_ms;

    if (interval == 0) {
        return;
    }
    if (silent >= interval * c->cfg->keepalive_count_max) {
        gw_conn_close(c, GW_END_KEEPALIVE);
        return;
    }
    if (silent >= interval && now_ms - c->last_keepalive_ms >= interval) {
        send_keepalive(c);
        c->last_keepalive_ms = now_ms;
    }
}

/*
 * A client that has not sent its version line within version_timeout is
 * dropped long before login_grace_time: such connections are what fills
 * the unauthenticated slots cheaply (nothing to compute, nothing to send).
 * libssh keeps the client's line once it has read it whole.
 */
static void check_version_line(struct gw_conn *c, int64_t now_ms)
{
    if (c->version_seen || c->closing) {
        return;
    }
    if (c->kex_started && ssh_get_clientbanner(c->session) != NULL) {
        c->version_seen = true;
    } else if (now_ms >= c->version_deadline_ms) {
        c->version_expired = true;
        gw_conn_close(c, GW_END_VERSION);
    }
}

/* Every deadline of the connection, once per loop iteration. */
void gw_conn_check_timeouts(struct gw_conn *c, int64_t now_ms)
{
    int64_t idle = (int64_t)c->cfg->idle_timeout * 1000;

    if (gw_daemon_phase(c->daemon) == GW_PHASE_CLOSING) {
        gw_conn_close(c, GW_END_SHUTDOWN);
        return;
    }
    if (c->raw.in_packets != c->raw_packets_seen) {
        c->raw_packets_seen = c->raw.in_packets;
        c->last_rx_ms = now_ms;
    }
    if (!c->authed) {
        check_version_line(c, now_ms);
        if (now_ms >= c->deadline_ms && !c->closing) {
            c->grace_expired = true;
            gw_conn_close(c, GW_END_GRACE);
        }
        return;
    }
    if (idle > 0 && now_ms - c->last_activity_ms >= idle) {
        gw_conn_close(c, GW_END_IDLE);
        return;
    }
    check_keepalive(c, now_ms);
}

/* ---- the forwarding loop ---------------------------------------------- */

/* Room in the poll set for the client, the wake-up fd, every backend
 * session and every channel. */
static int poll_set_alloc(struct gw_conn *c)
{
    size_t cap = 2 + GW_UPSTREAM_MAX + c->max_chans;

    if (c->pfds != NULL) {
        return GW_OK;
    }
    c->pfds = calloc(cap, sizeof(*c->pfds));
    c->prefs = calloc(cap, sizeof(*c->prefs));
    if (c->pfds == NULL || c->prefs == NULL) {
        return GW_ERR_NOMEM;
    }
    c->pfds_cap = cap;
    return GW_OK;
}

static short session_events(ssh_session s)
{
    return (short)(POLLIN |
                   ((ssh_get_status(s) & SSH_WRITE_PENDING) ? POLLOUT : 0));
}

static void poll_add(struct gw_conn *c, size_t *n, int fd, short events,
                     struct gw_upstream *up, struct gw_chan *ch)
{
    if (fd < 0 || events == 0 || *n >= c->pfds_cap) {
        return;
    }
    c->pfds[*n] = (struct pollfd){.fd = fd, .events = events};
    c->prefs[*n] = (struct gw_pollref){.up = up, .ch = ch};
    (*n)++;
}

static size_t poll_set_build(struct gw_conn *c)
{
    size_t n = 0;

    poll_add(c, &n, ssh_get_fd(c->session), session_events(c->session), NULL,
             NULL);
    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        struct gw_upstream *up = c->ups[i];
        if (up != NULL && !up->gone) {
            poll_add(c, &n, ssh_get_fd(up->session),
                     session_events(up->session), up, NULL);
        }
    }
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch != NULL && ch->kind == GW_KIND_SOCKET) {
            poll_add(c, &n, ch->relay.sock.fd, gw_chan_sock_events(ch), NULL,
                     ch);
        }
    }
    return n;
}

/*
 * libssh 0.10 reads at most 4 KiB from a session's socket per readable
 * event, so a 32 KiB packet took eight passes of the whole loop (poll set,
 * ppoll, pump). A ready session is instead polled again right away, up to
 * DRAIN_ROUNDS times while it has more (docs/performance.md, T1).
 */
#define DRAIN_ROUNDS 16

static void session_drain(ssh_event ev)
{
    for (int i = 0; i < DRAIN_ROUNDS && ssh_event_dopoll(ev, 0) == SSH_OK;
         i++) {
    }
}

/*
 * Wait for any session or socket of the connection, then let each ready
 * session process its input in its own event (gateway/conn/upstream.h says why
 * each session has one). Before authentication there is no poll set yet:
 * the plain event poll of the client session.
 */
static void conn_wait(struct gw_conn *c, int timeout_ms)
{
    struct timespec ts;
    size_t n;
    bool front = false;

    if (c->pfds == NULL) {
        ssh_event_dopoll(c->event, timeout_ms);
        return;
    }
    n = poll_set_build(c);
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    /* A wake-up (GW_WAKE_SIGNAL) ends the wait with EINTR: the loop then
     * reads the daemon's phase and the kills itself. */
    if (ppoll(c->pfds, n, &ts, &c->wait_mask) <= 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct gw_pollref *r = &c->prefs[i];
        if (c->pfds[i].revents == 0) {
            continue;
        }
        if (r->ch != NULL) {
            r->ch->relay.sock.revents = c->pfds[i].revents;
        } else if (r->up != NULL) {
            session_drain(r->up->event);
        } else {
            front = true;
        }
    }
    if (front) {
        session_drain(c->event);
    }
}

/* Backend sessions that died: their channels end. */
static void check_upstreams(struct gw_conn *c)
{
    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        struct gw_upstream *up = c->ups[i];
        if (up == NULL || up->gone || !gw_upstream_dead(up)) {
            continue;
        }
        gw_log_info("backend %s closed the connection", up->host.name);
        gw_chan_backend_lost(c, up);
        gw_target_lost(c, up);
    }
}

/* Once authenticated: target, backend liveness, the relay. True when the
 * relay has more to move right away. */
static bool conn_forward(struct gw_conn *c)
{
    bool busy;

    if (c->scratch.buf == NULL) {
        c->scratch.len = (size_t)c->cfg->relay_buffer_size;
        c->win_left = c->cfg->channel_window_budget;
        c->scratch.buf = malloc(c->scratch.len);
        if (c->scratch.buf == NULL || poll_set_alloc(c) != GW_OK) {
            gw_log_error("out of memory for the relay");
            gw_conn_close(c, GW_END_INTERNAL);
            return false;
        }
    }
    if (c->tstate == GW_TARGET_PENDING) {
        gw_target_prepare(c);
    }
    check_upstreams(c);
    c->rl_wake_us = 0; /* the paused directions say again when they resume */
    busy = gw_chan_pump(c);
    gw_target_check_end(c, gw_now_ms());
    return busy;
}

/* What the main thread posted: sessions of this connection the admin
 * asked to end (docs/admin.md "session kill"), the end of the whole
 * connection ("session kill --conn", "user kick"), a change of access to
 * check (gateway/conn/access.h). */
static void check_kills(struct gw_conn *c)
{
    struct gw_kill kills[GW_KILLS_MAX];
    size_t n = gw_daemon_take_kills(c->daemon, &c->link, kills, GW_KILLS_MAX);
    unsigned req = gw_daemon_take_requests(c->daemon, &c->link);

    for (size_t i = 0; i < n; i++) {
        gw_chan_kill(c, &kills[i]);
    }
    if ((req & GW_REQ_END) != 0) {
        gw_log_info("the admin ended the connection");
        gw_conn_close(c, GW_END_KILLED);
    } else if ((req & GW_REQ_RECHECK) != 0) {
        gw_access_recheck(c);
    }
}

/* How long the loop may sleep: GW_CONN_POLL_MS, or less when a direction
 * paused by a rate limit resumes sooner (gateway/chan/ratelimit.h). */
static int wait_ms(const struct gw_conn *c, bool busy)
{
    int64_t left;

    if (busy) {
        return 0;
    }
    if (c->rl_wake_us == 0) {
        return GW_CONN_POLL_MS;
    }
    left = (c->rl_wake_us - gw_rl_now_us() + 999) / 1000;
    if (left <= 0) {
        return 0;
    }
    return left < GW_CONN_POLL_MS ? (int)left : GW_CONN_POLL_MS;
}

void gw_conn_loop(struct gw_conn *c)
{
    bool busy = false;

    while (!c->closing) {
        /* before authentication: libssh's queue and the requests it
         * dropped; first of all for what came with the key exchange */
        if (gw_dispatch_round(c)) {
            busy = true;
        }
        if (c->closing) {
            break;
        }
        conn_wait(c, wait_ms(c, busy));
        if (gw_conn_session_gone(c)) {
            gw_conn_close(c, GW_END_CLIENT_GONE);
            break;
        }
        if (c->authed) {
            check_kills(c);
        }
        busy = c->authed && conn_forward(c);
        gw_conn_check_timeouts(c, gw_now_ms());
    }
}
