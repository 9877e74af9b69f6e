#include "gateway/audit/session_row.h"

#include "core/err.h"
#include "core/log.h"
#include "core/sftp_audit.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "gateway/audit/recorder.h"
#include "gateway/audit/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often an open channel's byte counters go to its sessions row. */
#define ROW_FLUSH_MS 10000

void gw_session_row_init(struct gw_session_row *row,
                         struct gw_audit_writer *writer, const char *conn_uid,
                         unsigned chan_id)
{
    memset(row, 0, sizeof(*row));
    row->writer = writer;
    row->conn_uid = conn_uid;
    row->chan_id = chan_id;
}

/* A record of kind about this row's session; false when there is no
 * memory for it (the caller counts it as lost). */
static bool row_record(const struct gw_session_row *row,
                       enum gw_audit_kind kind, struct gw_audit_record *out)
{
    gw_audit_record_init(out, kind);
    out->conn_uid = strdup(row->conn_uid);
    out->channel = row->chan_id;
    if (out->conn_uid == NULL) {
        gw_audit_record_clear(out);
        return false;
    }
    return true;
}

/* Hand r to the writer; the relay never waits for it. */
static void send_record(struct gw_session_row *row, struct gw_audit_record *r)
{
    if (gw_audit_submit(row->writer, r) != GW_OK) {
        gw_log_error("channel %u: the audit queue is full: a %s record is "
                     "lost",
                     row->chan_id, gw_audit_kind_name(r->kind));
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

void gw_session_row_owe(struct gw_session_row *row, const char *detail)
{
    row->owed = true;
    free(row->start_detail);
    row->start_detail = detail[0] != '\0' ? strdup(detail) : NULL;
}

/*
 * SFTP audit (core/sftp_audit.h). The feed runs in the pump, from the
 * relay's tap, never inside a libssh callback; each record goes to the
 * audit writer at once. A record the queue refuses is logged and the
 * relay goes on.
 */
static void on_sftp_record(const struct gw_sftp_record *rec, void *userdata)
{
    struct gw_session_row *row = userdata;
    struct gw_audit_record r;

    if (!row_record(row, GW_AUDIT_TRANSFER, &r)) {
        gw_log_error("channel %u: out of memory for an sftp record",
                     row->chan_id);
        return;
    }
    r.operation = strdup(rec->op);
    r.path = strdup(rec->path);
    r.path2 = strdup(rec->path2);
    r.bytes_read = rec->bytes_read;
    r.bytes_written = rec->bytes_written;
    /* A file's open record and its final one share it: one row per file,
     * there from the OPEN on (a crash mid-transfer leaves it incomplete). */
    r.file_seq = rec->file_seq;
    r.sha256 = rec->whole_file ? strdup(rec->sha256) : NULL;
    r.status = strdup(rec->status_text);
    if (r.operation == NULL || r.path == NULL || r.path2 == NULL ||
        r.status == NULL || (rec->whole_file && r.sha256 == NULL)) {
        gw_log_error("channel %u: out of memory for an sftp record",
                     row->chan_id);
        gw_audit_record_clear(&r);
        return;
    }
    send_record(row, &r);
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

    if (!row->started || !f->record) {
        return;
    }
    snprintf(title, sizeof(title), "%s as %s@%s", f->user,
             f->login != NULL ? f->login : "?",
             f->host != NULL ? f->host : "?");
    memset(&info, 0, sizeof(info));
    info.conn_uid = row->conn_uid;
    info.channel = (int)row->chan_id;
    info.chunk_bytes = f->rec_chunk_bytes;
    info.cols = f->cols;
    info.rows = f->rows;
    info.term = f->term != NULL && f->term[0] != '\0' ? f->term : NULL;
    info.title = title;
    info.user = f->user;
    info.client = f->client;
    if (gw_rec_open(row->writer, &info, &row->rec) != GW_OK) {
        gw_log_error("channel %u: not recorded: out of memory", row->chan_id);
        row->rec = NULL;
        return;
    }
    row->rec_input = f->record_input;
}

static void sftp_begin(struct gw_session_row *row,
                       const struct gw_session_facts *f)
{
    if (!row->started || !f->sftp) {
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
    struct gw_audit_record r;

    if (!row->owed) {
        return;
    }
    row->owed = false;
    if (!row_record(row, GW_AUDIT_SESSION_START, &r)) {
        gw_log_error("channel %u: out of memory for its session row",
                     row->chan_id);
        return;
    }
    r.node = dup_or_null(f->node);
    r.user = dup_or_null(f->user);
    r.client = dup_or_null(f->client);
    r.host = dup_or_null(f->host);
    r.login = dup_or_null(f->login);
    r.session_kind = dup_or_null(f->kind);
    r.command = dup_or_null(f->command);
    r.pty = f->pty;
    r.detail = row->start_detail; /* taken over */
    row->start_detail = NULL;
    send_record(row, &r);
    row->started = true;
    row->flushed_ms = gw_now_ms();
    sftp_begin(row, f);
    rec_begin(row, f);
}

/* The bytes moved since the last flush, to the row (the end writes the
 * exact totals, whatever was flushed). */
static void flush_bytes(struct gw_session_row *row, uint64_t up_total,
                        uint64_t down_total)
{
    int64_t now = gw_now_ms();
    struct gw_audit_record r;

    if (!row->started || now - row->flushed_ms < ROW_FLUSH_MS) {
        return;
    }
    row->flushed_ms = now;
    if (up_total == row->flushed_up && down_total == row->flushed_down) {
        return;
    }
    if (!row_record(row, GW_AUDIT_SESSION_BYTES, &r)) {
        return; /* the next flush carries these bytes too */
    }
    r.bytes_up = up_total - row->flushed_up;
    r.bytes_down = down_total - row->flushed_down;
    if (gw_audit_submit(row->writer, &r) == GW_OK) {
        row->flushed_up = up_total;
        row->flushed_down = down_total;
    }
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
    struct gw_audit_record r;

    gw_session_row_begin(row, facts); /* died before its first pump */
    sftp_end(row);
    gw_rec_close(row->rec);
    row->rec = NULL;
    if (!row->started) {
        return;
    }
    row->started = false;
    if (!row_record(row, GW_AUDIT_SESSION_END, &r)) {
        gw_log_error("channel %u: out of memory for the end of its row",
                     row->chan_id);
        return;
    }
    r.bytes_up = o->bytes_up;
    r.bytes_down = o->bytes_down;
    r.has_exit_status = o->has_exit_status;
    r.exit_status = o->exit_status;
    r.exit_signal = dup_or_null(o->exit_signal);
    r.reason = dup_or_null(o->reason);
    r.kill_done = row->killed;
    send_record(row, &r);
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

void gw_session_row_kill_gone(struct gw_audit_writer *writer, int64_t id)
{
    struct gw_audit_record r;

    gw_audit_record_init(&r, GW_AUDIT_KILL_DONE);
    r.number = id;
    if (gw_audit_submit(writer, &r) != GW_OK) {
        gw_log_error("the audit queue is full: the kill of session %lld is "
                     "not marked done",
                     (long long)id);
    }
}
