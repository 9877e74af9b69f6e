#include "gateway/chan/chan.h"

#include "core/err.h"
#include "core/strutil.h"
#include "core/log.h"
#include "core/sftp_audit.h"
#include "core/timeutil.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/policy.h"
#include "gateway/audit/recorder.h"
#include "gateway/chan/local.h"
#include "gateway/conn/upstream.h"
#include "store/sessions.h"
#include "store/transfers.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes one pair may move per direction and pump round: large enough for
 * bulk throughput, small enough that an interactive channel next to a
 * bulk transfer is served every round. */
#define PUMP_BUDGET (256u * 1024)

/* How often an open pair's byte counters go to its sessions row. */
#define ROW_FLUSH_MS 10000

#define LOST_LINE "sshgate: connection to %s lost\r\n"

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

/* ---- callbacks: record, never act ------------------------------------- */

static int on_front_data(ssh_session s, ssh_channel channel, void *data,
                         uint32_t len, int is_stderr, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)data;
    /* len is everything libssh holds for this stream: leave it there. */
    ch->relay.front.avail[is_stderr ? 1 : 0] = len;
    return 0;
}

static void on_front_eof(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.front.eof_rcvd = true;
}

static void on_front_close(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.front.close_rcvd = true;
    if (ch->closer == '\0') {
        ch->closer = 'c';
    }
}

void gw_chan_front_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->cb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = ch;
    cb->channel_data_function = on_front_data;
    cb->channel_eof_function = on_front_eof;
    cb->channel_close_function = on_front_close;
}

static int on_back_data(ssh_session s, ssh_channel channel, void *data,
                        uint32_t len, int is_stderr, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    (void)data;
    ch->relay.back.avail[is_stderr ? 1 : 0] = len;
    return 0;
}

static void on_back_eof(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.back.eof_rcvd = true;
}

static void on_back_close(ssh_session s, ssh_channel channel, void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.back.close_rcvd = true;
    if (ch->closer == '\0') {
        ch->closer = 'b';
    }
}

static void on_back_exit_status(ssh_session s, ssh_channel channel, int status,
                                void *userdata)
{
    struct gw_chan *ch = userdata;

    (void)s;
    (void)channel;
    ch->relay.exit.have_status = true;
    ch->relay.exit.status = status;
}

static void on_back_exit_signal(ssh_session s, ssh_channel channel,
                                const char *signal, int core,
                                const char *errmsg, const char *lang,
                                void *userdata)
{
    struct gw_exit_info *e = &((struct gw_chan *)userdata)->relay.exit;

    (void)s;
    (void)channel;
    (void)lang;
    e->have_signal = true;
    snprintf(e->signal, sizeof(e->signal), "%s", signal ? signal : "KILL");
    e->core = core != 0;
    snprintf(e->message, sizeof(e->message), "%s", errmsg ? errmsg : "");
}

void gw_chan_back_callbacks(struct gw_chan *ch)
{
    struct ssh_channel_callbacks_struct *cb = &ch->bcb;

    memset(cb, 0, sizeof(*cb));
    ssh_callbacks_init(cb);
    cb->userdata = ch;
    cb->channel_data_function = on_back_data;
    cb->channel_eof_function = on_back_eof;
    cb->channel_close_function = on_back_close;
    cb->channel_exit_status_function = on_back_exit_status;
    cb->channel_exit_signal_function = on_back_exit_signal;
    ssh_set_channel_callbacks(ch->bch, cb);
}

/* ---- events ----------------------------------------------------------- */

/* "host=web1 login=root" for pairs through a backend, "" otherwise. */
static void where(const struct gw_chan *ch, char *out, size_t len)
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

void gw_chan_start(struct gw_chan *ch, const char *kind, const char *fmt, ...)
{
    char detail[3072];
    char loc[2 * GW_NAME_MAX + 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    where(ch, loc, sizeof(loc));
    ch->what = kind;
    ch->state = GW_CHAN_RELAY;
    ch->announced = true;
    ch->row_owed = true;
    /* For the session.start event, written with the row by the pump. */
    free(ch->start_detail);
    ch->start_detail = detail[0] != '\0' ? strdup(detail) : NULL;
    gw_log_info("channel %u: %s%s %s", ch->id, kind, loc, detail);
    gw_conn_activity(ch->conn);
}

/* ---- sessions rows ---------------------------------------------------- */

/*
 * SFTP audit (core/sftp_audit.h). The feed runs in the pump, from
 * gw_relay_chan's tap, never inside a libssh callback, so a record is
 * written at once: no queue. A failed write is logged and the relay goes
 * on.
 */
static void on_sftp_record(const struct gw_sftp_record *rec, void *userdata)
{
    struct gw_chan *ch = userdata;
    struct store_transfer t;

    memset(&t, 0, sizeof(t));
    t.session_id = ch->row_id;
    snprintf(t.operation, sizeof(t.operation), "%s", rec->op);
    /* store_transfer owns its strings (char *): copies, not casts. */
    t.path = strdup(rec->path);
    t.path2 = strdup(rec->path2);
    t.bytes_read = rec->bytes_read;
    t.bytes_written = rec->bytes_written;
    if (rec->whole_file) {
        snprintf(t.sha256, sizeof(t.sha256), "%s", rec->sha256);
    }
    snprintf(t.status, sizeof(t.status), "%s", rec->status_text);
    if (t.path == NULL || t.path2 == NULL) {
        gw_log_error("channel %u: out of memory for an sftp record", ch->id);
    } else {
        struct store *st = gw_daemon_store_get(ch->conn->daemon);
        if (st == NULL || store_transfer_add(st, &t) != GW_OK) {
            gw_log_error("channel %u: cannot record an sftp %s: %s", ch->id,
                         rec->op, gw_err_msg());
        }
        gw_daemon_store_put(ch->conn->daemon, st);
    }
    free(t.path);
    free(t.path2);
}

static void feed_sftp(struct gw_chan *ch, enum gw_sftp_dir dir,
                      const char *data, size_t len)
{
    bool was = gw_sftp_audit_degraded(ch->sftp);

    (void)gw_sftp_audit_feed(ch->sftp, dir, data, len);
    if (!was && gw_sftp_audit_degraded(ch->sftp)) {
        gw_log_info("channel %u: sftp audit incomplete: %s", ch->id,
                    gw_sftp_audit_degraded_reason(ch->sftp));
    }
}

/* What the relay reads, for the SFTP audit and the terminal recording. */
static void tap_up(void *userdata, const char *data, size_t len)
{
    struct gw_chan *ch = userdata;

    if (ch->sftp != NULL) {
        feed_sftp(ch, GW_SFTP_FROM_CLIENT, data, len);
    }
    if (ch->rec != NULL && ch->rec_input) {
        gw_rec_data(ch->rec, 'i', data, len);
    }
}

static void tap_down(void *userdata, const char *data, size_t len)
{
    struct gw_chan *ch = userdata;

    if (ch->sftp != NULL) {
        feed_sftp(ch, GW_SFTP_FROM_SERVER, data, len);
    }
    if (ch->rec != NULL) {
        gw_rec_data(ch->rec, 'o', data, len);
    }
}

/* stderr of a pty session is part of what the terminal shows. */
static void tap_down_err(void *userdata, const char *data, size_t len)
{
    struct gw_chan *ch = userdata;

    if (ch->rec != NULL) {
        gw_rec_data(ch->rec, 'o', data, len);
    }
}

/* Terminal sessions are recorded (recording = on) from their first byte
 * to their end, with their size and TERM in the header. */
static void rec_begin(struct gw_chan *ch)
{
    struct gw_conn *c = ch->conn;
    struct gw_rec_info info;
    char title[3 * GW_NAME_MAX + 16];

    if (ch->row_id <= 0 || ch->kind != GW_KIND_SESSION || !ch->pty ||
        !c->cfg->recording || c->daemon->recq == NULL) {
        return;
    }
    snprintf(title, sizeof(title), "%s as %s@%s", c->user,
             ch->up != NULL ? ch->up->login : "?",
             ch->up != NULL ? ch->up->host.name : "?");
    memset(&info, 0, sizeof(info));
    info.session_id = ch->row_id;
    info.cols = ch->cols;
    info.rows = ch->rows;
    info.term = ch->term[0] != '\0' ? ch->term : NULL;
    info.title = title;
    info.user = c->user;
    info.client = c->peer_text;
    if (gw_rec_open(c->daemon->recq, &info, &ch->rec) != GW_OK) {
        gw_log_error("channel %u: session %lld not recorded: out of memory",
                     ch->id, (long long)ch->row_id);
        ch->rec = NULL;
        return;
    }
    ch->rec_input = c->cfg->record_input;
}

static void sftp_begin(struct gw_chan *ch)
{
    if (ch->row_id <= 0 || ch->kind != GW_KIND_SESSION ||
        strcmp(ch->what, "sftp") != 0) {
        return;
    }
    if (gw_sftp_audit_new(on_sftp_record, ch, &ch->sftp) != GW_OK) {
        gw_log_error("channel %u: no sftp audit: out of memory", ch->id);
        ch->sftp = NULL;
    }
}

/* Requests without a reply and files still open become "incomplete"
 * records; before the session's end, which they belong to. */
static void sftp_end(struct gw_chan *ch)
{
    bool was;

    if (ch->sftp == NULL) {
        return;
    }
    was = gw_sftp_audit_degraded(ch->sftp);
    (void)gw_sftp_audit_finish(ch->sftp);
    if (!was && gw_sftp_audit_degraded(ch->sftp)) {
        gw_log_info("channel %u: sftp audit incomplete: %s", ch->id,
                    gw_sftp_audit_degraded_reason(ch->sftp));
    }
    gw_sftp_audit_free(ch->sftp);
    ch->sftp = NULL;
}

/* Written from the pump, never from a libssh callback; a failed write is
 * logged and the relay goes on without its row. */
static void row_start(struct gw_chan *ch)
{
    struct gw_conn *c = ch->conn;
    struct store_session_start s = {0};
    char target[GW_NAME_MAX + 16];
    struct store *st;

    if (!ch->row_owed) {
        return;
    }
    ch->row_owed = false;
    s.node = gw_node_name();
    s.conn_uid = c->uid;
    s.channel = (int)ch->id;
    s.user = c->user;
    s.client = c->peer_text;
    s.host = ch->up != NULL ? ch->up->host.name
                            : (ch->kind == GW_KIND_SOCKET ? ch->dest : NULL);
    s.login = ch->up != NULL ? ch->up->login : NULL;
    s.kind = ch->what;
    s.pty = ch->pty;
    s.command = ch->command;
    s.detail = ch->start_detail != NULL ? ch->start_detail : "";
    if (ch->dest != NULL && ch->kind == GW_KIND_FORWARDED) {
        snprintf(target, sizeof(target), "%s:%u", ch->dest,
                 (unsigned)ch->dport);
        s.command = target;
    }
    st = gw_daemon_store_get(c->daemon);
    if (st == NULL || store_session_start(st, &s, &ch->row_id) != GW_OK) {
        gw_log_error("channel %u: cannot record the session: %s", ch->id,
                     st == NULL ? "no database" : gw_err_msg());
        ch->row_id = 0;
    }
    gw_daemon_store_put(c->daemon, st);
    free(ch->start_detail);
    ch->start_detail = NULL;
    ch->flushed_ms = gw_now_ms();
    sftp_begin(ch);
    rec_begin(ch);
}

/* The bytes moved since the last flush, to the row (store_session_end
 * writes the exact totals at the end, whatever was flushed). */
static void row_flush(struct gw_chan *ch)
{
    uint64_t up = ch->relay.up - ch->flushed_up;
    uint64_t down = ch->relay.down - ch->flushed_down;
    int64_t now = gw_now_ms();
    struct store *st;
    int rc;

    if (ch->row_id <= 0 || now - ch->flushed_ms < ROW_FLUSH_MS) {
        return;
    }
    ch->flushed_ms = now;
    if (up == 0 && down == 0) {
        return;
    }
    st = gw_daemon_store_get(ch->conn->daemon);
    rc = st != NULL ? store_session_add_bytes(st, ch->row_id, up, down)
                    : GW_ERR_DB;
    gw_daemon_store_put(ch->conn->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("channel %u: cannot record the byte counts: %s", ch->id,
                     gw_err_msg());
        return;
    }
    ch->flushed_up = ch->relay.up;
    ch->flushed_down = ch->relay.down;
}

const char *gw_chan_row_reason(const char *end_reason, char closer)
{
    static const char *const map[][2] = {
        {"Idle timeout", "idle timeout"},
        {"gateway shutting down", "shutdown"},
        {"client disconnected", "client closed"},
    };

    if (end_reason == NULL) {
        return closer == 'b' ? "backend closed" : "client closed";
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(end_reason, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return end_reason;
}

static void row_end(struct gw_chan *ch)
{
    const struct gw_exit_info *x = &ch->relay.exit;
    struct store_session_end e = {0};
    struct store *st;

    row_start(ch); /* a pair that died before its first pump */
    sftp_end(ch);
    gw_rec_close(ch->rec);
    ch->rec = NULL;
    if (ch->row_id <= 0) {
        return;
    }
    e.bytes_up = ch->relay.up;
    e.bytes_down = ch->relay.down;
    e.has_exit_status = x->have_status && !x->have_signal;
    e.exit_status = x->status;
    e.exit_signal = x->have_signal ? x->signal : NULL;
    e.reason = gw_chan_row_reason(ch->end_reason, ch->closer);
    st = gw_daemon_store_get(ch->conn->daemon);
    if (st == NULL || store_session_end(st, ch->row_id, &e) != GW_OK) {
        gw_log_error("channel %u: cannot record the session end: %s", ch->id,
                     gw_err_msg());
    }
    if (st != NULL && ch->killed &&
        store_session_kill_done(st, ch->row_id) != GW_OK) {
        gw_log_error("channel %u: cannot mark the kill done: %s", ch->id,
                     gw_err_msg());
    }
    gw_daemon_store_put(ch->conn->daemon, st);
    ch->row_id = 0;
}

static void announce_close(struct gw_chan *ch)
{
    const struct gw_exit_info *e = &ch->relay.exit;
    char status[64] = "";
    char loc[2 * GW_NAME_MAX + 32];

    where(ch, loc, sizeof(loc));
    if (e->have_signal) {
        snprintf(status, sizeof(status), " exit_signal=%s", e->signal);
    } else if (e->have_status) {
        snprintf(status, sizeof(status), " exit_status=%d", e->status);
    }
    gw_log_info("channel %u closed: %s%s up=%llu down=%llu%s (%s)", ch->id,
                ch->what, loc, (unsigned long long)ch->relay.up,
                (unsigned long long)ch->relay.down, status,
                ch->end_reason ? ch->end_reason : "closed");
    row_end(ch);
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

/* A channel failed under us: end both sides without more data. */
static void broken(struct gw_chan *ch, const char *why)
{
    struct gw_relay *r = &ch->relay;

    gw_log_verbose("channel %u: %s", ch->id, why);
    ch->end_reason = why;
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
    if (ch->sftp == NULL && ch->rec == NULL) {
        return s;
    }
    *copy = *s;
    copy->tap = tap;
    copy->tap_userdata = ch;
    return copy;
}

static int move_channels(struct gw_chan *ch)
{
    struct gw_relay *r = &ch->relay;
    const struct gw_scratch *s = &ch->conn->scratch;
    struct gw_scratch up_s;
    struct gw_scratch down_s;
    bool again = false;
    int rc = drop_undeliverable(ch);

    if (rc == GW_OK && can_send(&r->back)) {
        rc = gw_relay_chan(ch->channel, &r->front.avail[0], ch->bch, false,
                           &r->pend_up, tapped(ch, s, &up_s, tap_up),
                           PUMP_BUDGET, &r->up);
        again = rc == GW_AGAIN;
    }
    if (rc != GW_ERR_IO) {
        rc = gw_relay_discard(ch->channel, &r->front.avail[1], true, s);
    }
    for (int err = 0; err < 2 && rc != GW_ERR_IO && can_send(&r->front);
         err++) {
        rc = gw_relay_chan(
            ch->bch, &r->back.avail[err], ch->channel,
            err == 1 && ch->kind == GW_KIND_SESSION, &r->pend_down[err],
            tapped(ch, s, &down_s, err == 0 ? tap_down : tap_down_err),
            PUMP_BUDGET, &r->down);
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

short gw_chan_sock_events(const struct gw_chan *ch)
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
        ssh_channel_window_size(ch->channel) > 0) {
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
    int rc_in = GW_OK;
    int rc_out = GW_OK;

    if (can_send(&r->front) &&
        (sk->revents != 0 || !gw_pend_empty(&r->pend_down[0]))) {
        rc_in = gw_relay_sock_to_chan(sk, ch->channel, &r->pend_down[0], s,
                                      PUMP_BUDGET, &r->down);
    }
    sk->revents = 0;
    if (rc_in != GW_ERR_IO && !sk->wr_shut && !sk->failed) {
        rc_out = gw_relay_chan_to_sock(ch->channel, &r->front.avail[0], sk,
                                       &r->pend_up, s, PUMP_BUDGET, &r->up);
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
        ch->end_reason = "destination connection failed";
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

static bool pump_relay(struct gw_chan *ch)
{
    uint64_t before = ch->relay.up + ch->relay.down;
    bool sock = ch->kind == GW_KIND_SOCKET;
    int rc;

    row_start(ch);
    rc = sock ? move_socket(ch) : move_channels(ch);

    if (rc == GW_ERR_IO) {
        broken(ch, "channel i/o error");
    }
    if (ch->relay.up + ch->relay.down != before) {
        gw_conn_activity(ch->conn);
    }
    row_flush(ch);
    if (ch->rec != NULL) {
        gw_rec_tick(ch->rec);
    }
    if (sock) {
        finish_socket(ch);
    } else {
        finish_channels(ch);
    }
    return rc == GW_AGAIN;
}

/* A backend-initiated pair (-R, -A): finish our open towards the client. */
static void pump_opening(struct gw_chan *ch)
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
        gw_chan_start(ch, "agent", "%s", "to=client");
        return;
    }
    if (rc == SSH_OK) {
        char orig[64];
        gw_sanitize(ch->orig, orig, sizeof(orig));
        gw_chan_start(ch, "tcpip-forward", "bound=%u origin=%s:%u",
                      (unsigned)ch->dport, orig, (unsigned)ch->oport);
        return;
    }
    gw_log_verbose("channel %u: the client refused the %s channel", ch->id,
                   ch->kind == GW_KIND_AGENT ? "agent" : "forwarded");
    ch->relay.front.close_sent = true; /* nothing to close on our side */
    end_close(ch->bch, &ch->relay.back);
    ch->state = GW_CHAN_DEAD;
}

/* ---- reaping ---------------------------------------------------------- */

/* Free everything ch holds; the slot becomes free. Callbacks go first. */
static void release(struct gw_chan *ch)
{
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
    gw_sftp_audit_free(ch->sftp);
    ch->sftp = NULL;
    free(ch->start_detail);
    ch->start_detail = NULL;
    gw_rec_close(ch->rec);
    ch->rec = NULL;
    if (ch->up != NULL) {
        ch->up->refs--;
    }
    gw_session_free(ch);
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
            announce_close(ch);
        }
        release(ch);
    }
}

static bool pump_one(struct gw_chan *ch)
{
    switch (ch->state) {
    case GW_CHAN_RELAY:
        return pump_relay(ch);
    case GW_CHAN_OPENING:
        pump_opening(ch);
        return false;
    case GW_CHAN_DEAD:
    case GW_CHAN_FREE:
        return false;
    default:
        gw_session_pump(ch);
        return false;
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
        if (ch != NULL && pump_one(ch)) {
            busy = true;
        }
    }
    reap(c);
    gw_upstream_reap(c);
    return busy;
}

/* ---- endings ---------------------------------------------------------- */

void gw_chan_kill(struct gw_conn *c, int64_t id)
{
    struct store *st;

    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch != NULL && ch->row_id == id && ch->state == GW_CHAN_RELAY) {
            gw_log_info("channel %u: session %lld killed by admin", ch->id,
                        (long long)id);
            broken(ch, "killed by admin");
            ch->killed = true;
            return;
        }
    }
    /* Ended meanwhile (or not this connection's): nothing left to do. */
    st = gw_daemon_store_get(c->daemon);
    if (st != NULL && store_session_kill_done(st, id) != GW_OK) {
        gw_log_error("cannot mark the kill of session %lld done: %s",
                     (long long)id, gw_err_msg());
    }
    gw_daemon_store_put(c->daemon, st);
}

/* Tell the user of a session whose backend vanished (no exit status). */
static void say_lost(struct gw_chan *ch)
{
    char line[GW_NAME_MAX + 64];
    int n;

    if (ch->kind != GW_KIND_SESSION || !can_send(&ch->relay.front) ||
        ch->relay.exit.have_status || ch->relay.exit.have_signal) {
        return;
    }
    n = snprintf(line, sizeof(line), LOST_LINE, ch->up->host.name);
    if (n > 0 && (uint32_t)n <= ssh_channel_window_size(ch->channel)) {
        (void)ssh_channel_write_stderr(ch->channel, line, (uint32_t)n);
    }
}

void gw_chan_backend_lost(struct gw_conn *c, struct gw_upstream *up)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch == NULL || ch->up != up || ch->state == GW_CHAN_DEAD) {
            continue;
        }
        say_lost(ch);
        if (ch->end_reason == NULL) {
            ch->end_reason = "backend connection lost";
        }
        /* What libssh still holds is forwarded; nothing more comes, and
         * nothing can be sent to the dead session. */
        ch->relay.back.eof_rcvd = true;
        ch->relay.back.close_rcvd = true;
        ch->relay.back.eof_sent = true;
        ch->relay.back.close_sent = true;
        if (ch->state == GW_CHAN_OPENING) {
            pump_opening(ch);
        } else if (ch->state != GW_CHAN_RELAY) {
            gw_session_fail(ch, NULL);
        }
    }
}

void gw_chan_detach_all(struct gw_conn *c, const char *reason)
{
    for (size_t i = 0; i < c->max_chans; i++) {
        struct gw_chan *ch = c->chans[i];
        if (ch == NULL) {
            continue;
        }
        if (ch->end_reason == NULL) {
            ch->end_reason = reason;
        }
        if (ch->announced) {
            announce_close(ch);
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
