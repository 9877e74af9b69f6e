#include "gateway/audit/session_row.h"

#include "core/err.h"
#include "core/log.h"
#include "core/sftp_audit.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "gateway/audit/recorder.h"
#include "gateway/daemon/daemon.h"
#include "store/sessions.h"
#include "store/transfers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often an open channel's byte counters go to its sessions row. */
#define ROW_FLUSH_MS 10000

void gw_session_row_init(struct gw_session_row *row, struct gw_daemon *d,
                         unsigned chan_id)
{
    memset(row, 0, sizeof(*row));
    row->daemon = d;
    row->chan_id = chan_id;
}

void gw_session_row_owe(struct gw_session_row *row, const char *detail)
{
    row->owed = true;
    free(row->start_detail);
    row->start_detail = detail[0] != '\0' ? strdup(detail) : NULL;
}

/*
 * SFTP audit (core/sftp_audit.h). The feed runs in the pump, from the
 * relay's tap, never inside a libssh callback, so a record is written at
 * once: no queue. A failed write is logged and the relay goes on.
 */
static void on_sftp_record(const struct gw_sftp_record *rec, void *userdata)
{
    struct gw_session_row *row = userdata;
    struct store_transfer t;

    memset(&t, 0, sizeof(t));
    t.session_id = row->id;
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
        gw_log_error("channel %u: out of memory for an sftp record",
                     row->chan_id);
    } else {
        struct store *st = gw_daemon_store_get(row->daemon);
        if (st == NULL || store_transfer_add(st, &t) != GW_OK) {
            gw_log_error("channel %u: cannot record an sftp %s: %s",
                         row->chan_id, rec->op, gw_err_msg());
        }
        gw_daemon_store_put(row->daemon, st);
    }
    free(t.path);
    free(t.path2);
}

/* Say once when the sftp audit stops being complete. */
static void note_sftp_degraded(struct gw_session_row *row, bool was)
{
    if (!was && gw_sftp_audit_degraded(row->sftp)) {
        gw_log_info("channel %u: sftp audit incomplete: %s", row->chan_id,
                    gw_sftp_audit_degraded_reason(row->sftp));
    }
}

static void feed_sftp(struct gw_session_row *row, enum gw_sftp_dir dir,
                      const char *data, size_t len)
{
    bool was = gw_sftp_audit_degraded(row->sftp);

    (void)gw_sftp_audit_feed(row->sftp, dir, data, len);
    note_sftp_degraded(row, was);
}

bool gw_session_row_taps(const struct gw_session_row *row)
{
    return row->sftp != NULL || row->rec != NULL;
}

void gw_session_row_tap_up(void *userdata, const char *data, size_t len)
{
    struct gw_session_row *row = userdata;

    if (row->sftp != NULL) {
        feed_sftp(row, GW_SFTP_FROM_CLIENT, data, len);
    }
    if (row->rec != NULL && row->rec_input) {
        gw_rec_data(row->rec, 'i', data, len);
    }
}

void gw_session_row_tap_down(void *userdata, const char *data, size_t len)
{
    struct gw_session_row *row = userdata;

    if (row->sftp != NULL) {
        feed_sftp(row, GW_SFTP_FROM_SERVER, data, len);
    }
    if (row->rec != NULL) {
        gw_rec_data(row->rec, 'o', data, len);
    }
}

/* stderr of a pty session is part of what the terminal shows. */
void gw_session_row_tap_down_err(void *userdata, const char *data, size_t len)
{
    struct gw_session_row *row = userdata;

    if (row->rec != NULL) {
        gw_rec_data(row->rec, 'o', data, len);
    }
}

void gw_session_row_resize(struct gw_session_row *row, int cols, int rows)
{
    if (row->rec != NULL) {
        gw_rec_resize(row->rec, cols, rows);
    }
}

/* Terminal sessions are recorded (recording = on) from their first byte
 * to their end, with their size and TERM in the header. */
static void rec_begin(struct gw_session_row *row,
                      const struct gw_session_facts *f)
{
    struct gw_rec_info info;
    char title[3 * GW_NAME_MAX + 16];

    if (row->id <= 0 || !f->record || f->recq == NULL) {
        return;
    }
    snprintf(title, sizeof(title), "%s as %s@%s", f->user,
             f->login != NULL ? f->login : "?",
             f->host != NULL ? f->host : "?");
    memset(&info, 0, sizeof(info));
    info.session_id = row->id;
    info.cols = f->cols;
    info.rows = f->rows;
    info.term = f->term != NULL && f->term[0] != '\0' ? f->term : NULL;
    info.title = title;
    info.user = f->user;
    info.client = f->client;
    if (gw_rec_open(f->recq, &info, &row->rec) != GW_OK) {
        gw_log_error("channel %u: session %lld not recorded: out of memory",
                     row->chan_id, (long long)row->id);
        row->rec = NULL;
        return;
    }
    row->rec_input = f->record_input;
}

static void sftp_begin(struct gw_session_row *row,
                       const struct gw_session_facts *f)
{
    if (row->id <= 0 || !f->sftp) {
        return;
    }
    if (gw_sftp_audit_new(on_sftp_record, row, &row->sftp) != GW_OK) {
        gw_log_error("channel %u: no sftp audit: out of memory", row->chan_id);
        row->sftp = NULL;
    }
}

/* Requests without a reply and files still open become "incomplete"
 * records; before the session's end, which they belong to. */
static void sftp_end(struct gw_session_row *row)
{
    bool was;

    if (row->sftp == NULL) {
        return;
    }
    was = gw_sftp_audit_degraded(row->sftp);
    (void)gw_sftp_audit_finish(row->sftp);
    note_sftp_degraded(row, was);
    gw_sftp_audit_free(row->sftp);
    row->sftp = NULL;
}

void gw_session_row_begin(struct gw_session_row *row,
                          const struct gw_session_facts *f)
{
    struct store_session_start s = {0};
    struct store *st;

    if (!row->owed) {
        return;
    }
    row->owed = false;
    s.node = f->node;
    s.conn_uid = f->conn_uid;
    s.channel = (int)row->chan_id;
    s.user = f->user;
    s.client = f->client;
    s.host = f->host;
    s.login = f->login;
    s.kind = f->kind;
    s.pty = f->pty;
    s.command = f->command;
    s.detail = row->start_detail != NULL ? row->start_detail : "";
    st = gw_daemon_store_get(row->daemon);
    if (st == NULL || store_session_start(st, &s, &row->id) != GW_OK) {
        gw_log_error("channel %u: cannot record the session: %s", row->chan_id,
                     st == NULL ? "no database" : gw_err_msg());
        row->id = 0;
    }
    gw_daemon_store_put(row->daemon, st);
    free(row->start_detail);
    row->start_detail = NULL;
    row->flushed_ms = gw_now_ms();
    sftp_begin(row, f);
    rec_begin(row, f);
}

/* The bytes moved since the last flush, to the row (store_session_end
 * writes the exact totals at the end, whatever was flushed). */
static void flush_bytes(struct gw_session_row *row, uint64_t up_total,
                        uint64_t down_total)
{
    uint64_t up = up_total - row->flushed_up;
    uint64_t down = down_total - row->flushed_down;
    int64_t now = gw_now_ms();
    struct store *st;
    int rc;

    if (row->id <= 0 || now - row->flushed_ms < ROW_FLUSH_MS) {
        return;
    }
    row->flushed_ms = now;
    if (up == 0 && down == 0) {
        return;
    }
    st = gw_daemon_store_get(row->daemon);
    rc =
        st != NULL ? store_session_add_bytes(st, row->id, up, down) : GW_ERR_DB;
    gw_daemon_store_put(row->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("channel %u: cannot record the byte counts: %s",
                     row->chan_id, gw_err_msg());
        return;
    }
    row->flushed_up = up_total;
    row->flushed_down = down_total;
}

void gw_session_row_tick(struct gw_session_row *row, uint64_t up, uint64_t down)
{
    flush_bytes(row, up, down);
    if (row->rec != NULL) {
        gw_rec_tick(row->rec);
    }
}

void gw_session_row_end(struct gw_session_row *row,
                        const struct gw_session_facts *facts,
                        const struct gw_session_outcome *o)
{
    struct store_session_end e = {0};
    struct store *st;

    gw_session_row_begin(row, facts); /* died before its first pump */
    sftp_end(row);
    gw_rec_close(row->rec);
    row->rec = NULL;
    if (row->id <= 0) {
        return;
    }
    e.bytes_up = o->bytes_up;
    e.bytes_down = o->bytes_down;
    e.has_exit_status = o->has_exit_status;
    e.exit_status = o->exit_status;
    e.exit_signal = o->exit_signal;
    e.reason = o->reason;
    st = gw_daemon_store_get(row->daemon);
    if (st == NULL || store_session_end(st, row->id, &e) != GW_OK) {
        gw_log_error("channel %u: cannot record the session end: %s",
                     row->chan_id, gw_err_msg());
    }
    if (st != NULL && row->killed &&
        store_session_kill_done(st, row->id) != GW_OK) {
        gw_log_error("channel %u: cannot mark the kill done: %s", row->chan_id,
                     gw_err_msg());
    }
    gw_daemon_store_put(row->daemon, st);
    row->id = 0;
}

void gw_session_row_release(struct gw_session_row *row)
{
    gw_sftp_audit_free(row->sftp);
    row->sftp = NULL;
    free(row->start_detail);
    row->start_detail = NULL;
    gw_rec_close(row->rec);
    row->rec = NULL;
}

void gw_session_row_kill_gone(struct gw_daemon *d, int64_t id)
{
    struct store *st = gw_daemon_store_get(d);

    if (st != NULL && store_session_kill_done(st, id) != GW_OK) {
        gw_log_error("cannot mark the kill of session %lld done: %s",
                     (long long)id, gw_err_msg());
    }
    gw_daemon_store_put(d, st);
}
