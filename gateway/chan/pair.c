#include "gateway/chan/pair.h"

#include "core/err.h"
#include "core/log.h"
#include "core/strutil.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/upstream.h"
#include "gateway/daemon/metrics.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Bytes one pair may move per direction and pump round: large enough for
 * bulk throughput, small enough that an interactive channel next to a
 * bulk transfer is served every round. */
#define PUMP_BUDGET (256u * 1024)

/* ---- start and end ---------------------------------------------------- */

/* "host=web1 login=root" for pairs through a backend, "" otherwise. */
static void where_text(const struct gw_chan *ch, char *out, size_t len)
{
    if (ch->up != NULL) {
        snprintf(out, len, " host=%s login=%s", ch->up->host.name,
                 ch->up->login);
    } else if (ch->kind == GW_KIND_SOCKET && ch->dest != NULL) {
        snprintf(out, len, " host=%s", ch->dest);
    } else {
        out[0] = '\0';
    }
}

void gw_pair_start(struct gw_chan *ch, const char *kind, const char *fmt, ...)
{
    char detail[3072];
    char loc[2 * GW_NAME_MAX + 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    where_text(ch, loc, sizeof(loc));
    ch->what = kind;
    gw_metrics_session_start(kind);
    ch->state = GW_CHAN_RELAY;
    ch->announced = true;
    gw_chan_rl_attach(ch);
    /* For the session.start event, written with the row by the pump. */
    gw_session_row_owe(&ch->row, detail);
    gw_log_info("channel %u: %s%s %s", ch->id, kind, loc, detail);
    gw_conn_activity(ch->conn);
}

/* What the audit row records of ch. command points into target (of
 * size GW_NAME_MAX + 16) for a -R pair. */
static void describe(const struct gw_chan *ch, struct gw_session_facts *f,
                     char *target, size_t target_len)
{
    const struct gw_conn *c = ch->conn;

    memset(f, 0, sizeof(*f));
    f->node = gw_node_name();
    f->conn_uid = c->uid;
    f->user = c->user;
    f->client = c->peer_text;
    f->host = ch->up != NULL ? ch->up->host.name
                             : (ch->kind == GW_KIND_SOCKET ? ch->dest : NULL);
    f->login = ch->up != NULL ? ch->up->login : NULL;
    f->kind = ch->what;
    f->pty = ch->pty;
    f->command = ch->command;
    if (ch->dest != NULL && ch->kind == GW_KIND_FORWARDED) {
        snprintf(target, target_len, "%s:%u", ch->dest, (unsigned)ch->dport);
        f->command = target;
    }
    f->sftp = ch->kind == GW_KIND_SESSION && ch->what != NULL &&
              strcmp(ch->what, "sftp") == 0;
    f->record = ch->kind == GW_KIND_SESSION && ch->pty && c->cfg->recording;
    f->record_input = c->cfg->record_input;
    f->rec_chunk_bytes = (size_t)c->cfg->recording_queue_size / 4;
    f->cols = ch->cols;
    f->rows = ch->rows;
    f->term = ch->term;
}

/* The text of ch's ending, for the log. */
static const char *ending_text(const struct gw_chan *ch)
{
    if (ch->ending == GW_END_TARGET) {
        return ch->conn->close_reason;
    }
    return gw_ending_text(ch->ending);
}

void gw_pair_announce_close(struct gw_chan *ch)
{
    const struct gw_exit_info *e = &ch->relay.exit;
    struct gw_session_facts facts;
    struct gw_session_outcome o = {0};
    char target[GW_NAME_MAX + 16];
    char status[64] = "";
    char loc[2 * GW_NAME_MAX + 32];

    where_text(ch, loc, sizeof(loc));
    if (e->have_signal) {
        snprintf(status, sizeof(status), " exit_signal=%s", e->signal);
    } else if (e->have_status) {
        snprintf(status, sizeof(status), " exit_status=%d", e->status);
    }
    gw_log_info("channel %u closed: %s%s up=%llu down=%llu%s (%s)", ch->id,
                ch->what, loc, (unsigned long long)ch->relay.up,
                (unsigned long long)ch->relay.down, status, ending_text(ch));
    gw_metrics_session_end(ch->what);
    describe(ch, &facts, target, sizeof(target));
    o.bytes_up = ch->relay.up;
    o.bytes_down = ch->relay.down;
    o.has_exit_status = e->have_status && !e->have_signal;
    o.exit_status = e->status;
    o.exit_signal = e->have_signal ? e->signal : NULL;
    o.reason =
        gw_ending_row_reason(ch->ending, ch->closer, ch->conn->close_reason);
    gw_session_row_end(&ch->row, &facts, &o);
}

/* ---- ends ------------------------------------------------------------- */

static bool end_open(const struct gw_end *e)
{
    return !e->close_rcvd && !e->close_sent;
}

static bool can_send(const struct gw_end *e)
{
    return end_open(e) && !e->eof_sent;
}

bool gw_pair_client_open(const struct gw_chan *ch)
{
    return can_send(&ch->relay.front);
}

static void end_eof(ssh_channel ch, struct gw_end *e)
{
    if (!e->eof_sent && end_open(e)) {
        (void)ssh_channel_send_eof(ch);
    }
    e->eof_sent = true;
}

static void end_close(ssh_channel ch, struct gw_end *e)
{
    if (!e->close_sent && ch != NULL) {
        /* Also the answer to the peer's close, which libssh does not
         * send by itself. */
        (void)ssh_channel_close(ch);
    }
    e->eof_sent = true;
    e->close_sent = true;
}

/* Exit status or signal of the backend's command, to the client, once. */
static void send_exit(struct gw_chan *ch)
{
    struct gw_exit_info *e = &ch->relay.exit;

    /* Also after the client's close, as long as ours is not sent: a
     * client that closed on EOF still takes the status (as it does from
     * sshd) until the close is answered. */
    if (e->sent || ch->relay.front.close_sent ||
        (!e->have_status && !e->have_signal)) {
        return;
    }
    e->sent = true;
    if (e->have_signal) {
        (void)ssh_channel_request_send_exit_signal(
            ch->channel, e->signal, e->core ? 1 : 0, e->message, "");
    } else {
        (void)ssh_channel_request_send_exit_status(ch->channel, e->status);
    }
}

/* ---- relaying --------------------------------------------------------- */

void gw_pair_break(struct gw_chan *ch, enum gw_ending ending)
{
    struct gw_relay *r = &ch->relay;

    gw_log_verbose("channel %u: %s", ch->id, gw_ending_text(ending));
    ch->ending = ending;
    memset(r->front.avail, 0, sizeof(r->front.avail));
    memset(r->back.avail, 0, sizeof(r->back.avail));
    gw_pend_free(&r->pend_up);
    gw_pend_free(&r->pend_down[0]);
    gw_pend_free(&r->pend_down[1]);
    r->front.close_rcvd = true;
    r->back.close_rcvd = true;
}

/* Data towards an end that takes no more (it closed, or EOF went out)
 * is dropped, so that the close handshake is not held up by it. */
static int drop_undeliverable(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    const struct gw_scratch *s = &ch->conn->scratch;
    int rc = GW_OK;

    if (!can_send(&r->front)) {
        for (int err = 0; err < 2 && rc == GW_OK; err++) {
            rc = gw_relay_discard(ch->bch, &r->back.avail[err], err == 1, s);
            gw_pend_free(&r->pend_down[err]);
        }
    }
    if (rc == GW_OK && !can_send(&r->back)) {
        rc = gw_relay_discard(ch->channel, &r->front.avail[0], false, s);
        gw_pend_free(&r->pend_up);
    }
    return rc;
}

/* s, or for an audited sftp pair or a recorded session a copy of it in
 * *copy with tap set. */
static const struct gw_scratch *
tapped(struct gw_chan *ch, const struct gw_scratch *s, struct gw_scratch *copy,
       void (*tap)(void *, const char *, size_t))
{
    if (!gw_session_row_taps(&ch->row)) {
        return s;
    }
    *copy = *s;
    copy->tap = tap;
    copy->tap_userdata = &ch->row;
    return copy;
}

/* The receive window kept open for e's data stream (struct gw_win), out
 * of the connection's channel_window_budget; NULL: libssh's own. */
static struct gw_win *win_of(struct gw_chan *ch, struct gw_end *e)
{
    struct gw_conn *c = ch->conn;

    return gw_win_reserve(&e->win, &c->win_left, c->cfg->channel_window)
               ? &e->win
               : NULL;
}

static int move_channels(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    const struct gw_scratch *s = &ch->conn->scratch;
    struct gw_scratch up_s;
    struct gw_scratch down_s;
    bool again = false;
    int rc = drop_undeliverable(ch);
    uint64_t before = r->up;
    size_t lim;

    if (rc == GW_OK && can_send(&r->back)) {
        lim = gw_chan_rl_allow(ch, GW_RL_UP, PUMP_BUDGET, r->front.avail[0]);
        rc = gw_relay_chan(ch->channel, &r->front.avail[0],
                           win_of(ch, &r->front), ch->bch, false, &r->pend_up,
                           tapped(ch, s, &up_s, gw_session_row_tap_up), lim,
                           &r->up);
        rc =
            gw_chan_rl_paid(ch, GW_RL_UP, r->up - before, lim, PUMP_BUDGET, rc);
        again = rc == GW_AGAIN;
    }
    if (rc != GW_ERR_IO) {
        rc = gw_relay_discard(ch->channel, &r->front.avail[1], true, s);
    }
    for (int err = 0; err < 2 && rc != GW_ERR_IO && can_send(&r->front);
         err++) {
        lim = gw_chan_rl_allow(ch, GW_RL_DOWN, PUMP_BUDGET, r->back.avail[err]);
        before = r->down;
        rc = gw_relay_chan(ch->bch, &r->back.avail[err],
                           err == 0 ? win_of(ch, &r->back) : NULL, ch->channel,
                           err == 1 && ch->kind == GW_KIND_SESSION,
                           &r->pend_down[err],
                           tapped(ch, s, &down_s,
                                  err == 0 ? gw_session_row_tap_down
                                           : gw_session_row_tap_down_err),
                           lim, &r->down);
        rc = gw_chan_rl_paid(ch, GW_RL_DOWN, r->down - before, lim, PUMP_BUDGET,
                             rc);
        again = again || rc == GW_AGAIN;
    }
    return rc == GW_ERR_IO ? rc : (again ? GW_AGAIN : GW_OK);
}

/* EOF, exit status and close, each way, once the data before it is out. */
static void finish_channels(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    bool back_drained = r->back.avail[0] == 0 && r->back.avail[1] == 0 &&
                        gw_pend_empty(&r->pend_down[0]) &&
                        gw_pend_empty(&r->pend_down[1]);
    bool front_drained = r->front.avail[0] == 0 && gw_pend_empty(&r->pend_up);

    if (back_drained && ch->kind == GW_KIND_SESSION) {
        send_exit(ch);
    }
    if (back_drained && (r->back.eof_rcvd || r->back.close_rcvd)) {
        end_eof(ch->channel, &r->front);
    }
    if (back_drained && r->back.close_rcvd) {
        end_close(ch->channel, &r->front);
    }
    if (front_drained && (r->front.eof_rcvd || r->front.close_rcvd)) {
        end_eof(ch->bch, &r->back);
    }
    if (r->front.close_rcvd || r->front.close_sent) {
        /* The client is done with the channel: so is the backend. Our
         * answer to the client waits for the backend's close (above). */
        end_close(ch->bch, &r->back);
    }
    if (r->front.close_sent && r->back.close_sent) {
        ch->state = GW_CHAN_DEAD;
    }
}

short gw_pair_sock_events(const struct gw_chan *ch)
{
    const struct gw_relay *r = &ch->relay;
    const struct gw_sock *sk = &r->sock;
    short events = 0;

    if (ch->state != GW_CHAN_RELAY || sk->failed) {
        return 0;
    }
    /* Read only what the client's window takes now: a readable socket we
     * do not read would wake the loop for nothing. The window reopening
     * arrives as a packet, which wakes it anyway. */
    if (!sk->rd_eof && can_send(&r->front) &&
        ssh_channel_window_size(ch->channel) > 0 &&
        !gw_chan_rl_paused(ch, GW_RL_DOWN)) {
        events |= POLLIN;
    }
    if (!gw_pend_empty(&r->pend_up)) {
        events |= POLLOUT;
    }
    return events;
}

static int move_socket(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    struct gw_sock *sk = &r->sock;
    const struct gw_scratch *s = &ch->conn->scratch;
    uint64_t before = r->down;
    int rc_in = GW_OK;
    int rc_out = GW_OK;
    size_t lim;

    if (can_send(&r->front) &&
        (sk->revents != 0 || !gw_pend_empty(&r->pend_down[0]))) {
        lim = gw_chan_rl_allow(ch, GW_RL_DOWN, PUMP_BUDGET, PUMP_BUDGET);
        rc_in = gw_relay_sock_to_chan(sk, ch->channel, &r->pend_down[0], s, lim,
                                      &r->down);
        rc_in = gw_chan_rl_paid(ch, GW_RL_DOWN, r->down - before, lim,
                                PUMP_BUDGET, rc_in);
    }
    sk->revents = 0;
    if (rc_in != GW_ERR_IO && !sk->wr_shut && !sk->failed) {
        before = r->up;
        lim = gw_chan_rl_allow(ch, GW_RL_UP, PUMP_BUDGET, r->front.avail[0]);
        rc_out = gw_relay_chan_to_sock(ch->channel, &r->front.avail[0],
                                       win_of(ch, &r->front), sk, &r->pend_up,
                                       s, lim, &r->up);
        rc_out = gw_chan_rl_paid(ch, GW_RL_UP, r->up - before, lim, PUMP_BUDGET,
                                 rc_out);
    }
    if (rc_in == GW_ERR_IO || (rc_out == GW_ERR_IO && !sk->failed)) {
        return GW_ERR_IO;
    }
    (void)gw_relay_discard(ch->channel, &r->front.avail[1], true, s);
    return rc_in == GW_AGAIN || rc_out == GW_AGAIN ? GW_AGAIN : GW_OK;
}

static void finish_socket(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    struct gw_sock *sk = &r->sock;
    bool front_drained = r->front.avail[0] == 0 && gw_pend_empty(&r->pend_up);

    if (sk->failed) {
        ch->ending = GW_END_DEST_FAILED;
    }
    if (sk->rd_eof && ch->closer == '\0') {
        ch->closer = 'b';
    }
    if ((sk->rd_eof || sk->failed) && gw_pend_empty(&r->pend_down[0])) {
        end_eof(ch->channel, &r->front);
    }
    if (!sk->wr_shut && front_drained &&
        (r->front.eof_rcvd || r->front.close_rcvd)) {
        (void)shutdown(sk->fd, SHUT_WR);
        sk->wr_shut = true;
    }
    if (r->front.close_rcvd || sk->failed ||
        (r->front.eof_sent && sk->wr_shut)) {
        end_close(ch->channel, &r->front);
        r->back.close_sent = true;
        ch->state = GW_CHAN_DEAD;
    }
}

/* One round of a started pair: write its row if owed, move data, flush
 * the audit, then EOF / exit status / close. */
static bool pump_relay(struct gw_chan *ch, int (*move)(struct gw_chan *),
                       void (*finish)(struct gw_chan *))
{
    uint64_t up = ch->relay.up;
    uint64_t down = ch->relay.down;
    struct gw_session_facts facts;
    char target[GW_NAME_MAX + 16];
    int rc;

    if (ch->row.owed) {
        describe(ch, &facts, target, sizeof(target));
        gw_session_row_begin(&ch->row, &facts);
    }
    rc = move(ch);
    if (rc == GW_ERR_IO) {
        gw_pair_break(ch, GW_END_CHANNEL_IO);
    }
    if (ch->relay.up != up || ch->relay.down != down) {
        gw_metrics_add(GW_M_BYTES_UP, ch->relay.up - up);
        gw_metrics_add(GW_M_BYTES_DOWN, ch->relay.down - down);
        gw_conn_activity(ch->conn);
    }
    gw_session_row_tick(&ch->row, ch->relay.up, ch->relay.down);
    finish(ch);
    return rc == GW_AGAIN;
}

bool gw_pair_pump_channels(struct gw_chan *ch)
{
    return pump_relay(ch, move_channels, finish_channels);
}

bool gw_pair_pump_socket(struct gw_chan *ch)
{
    return pump_relay(ch, move_socket, finish_socket);
}

void gw_pair_pump_opening(struct gw_chan *ch)
{
    int rc;

    if (ch->relay.back.close_rcvd) {
        rc = SSH_ERROR; /* the backend gave up first */
    } else if (ch->kind == GW_KIND_AGENT) {
        rc = ssh_channel_open_auth_agent(ch->channel);
    } else {
        rc = ssh_channel_open_reverse_forward(ch->channel, ch->dest, ch->dport,
                                              ch->orig, ch->oport);
    }
    if (rc == SSH_AGAIN) {
        return;
    }
    if (rc == SSH_OK && ch->kind == GW_KIND_AGENT) {
        gw_pair_start(ch, "agent", "%s", "to=client");
        return;
    }
    if (rc == SSH_OK) {
        char orig[64];
        gw_sanitize(ch->orig, orig, sizeof(orig));
        gw_pair_start(ch, "tcpip-forward", "bound=%u origin=%s:%u",
                      (unsigned)ch->dport, orig, (unsigned)ch->oport);
        return;
    }
    gw_log_verbose("channel %u: the client refused the %s channel", ch->id,
                   ch->kind == GW_KIND_AGENT ? "agent" : "forwarded");
    ch->relay.front.close_sent = true; /* nothing to close on our side */
    end_close(ch->bch, &ch->relay.back);
    ch->state = GW_CHAN_DEAD;
}

bool gw_pair_pump_backend(struct gw_chan *ch)
{
    if (ch->state == GW_CHAN_OPENING) {
        gw_pair_pump_opening(ch);
        return false;
    }
    return ch->state == GW_CHAN_RELAY && gw_pair_pump_channels(ch);
}

void gw_pair_backend_lost(struct gw_chan *ch)
{
    if (ch->state == GW_CHAN_OPENING) {
        gw_pair_pump_opening(ch);
    }
}
