/*
 * session list | show | replay | export | kill: what users did through
 * the gateway, from the sessions, file_transfers and recordings tables.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "admin/playback.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "store/conn_kills.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/transfers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int admin_session_id_arg(struct admin_ctx *ctx, int64_t *id)
{
    long v = 0;

    if (gw_long_parse(admin_arg(ctx, 0), 1, LONG_MAX, &v) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not a session id",
                          admin_arg(ctx, 0));
    }
    *id = v;
    return GW_OK;
}

static int list_filter(struct admin_ctx *ctx, struct store_session_filter *f,
                       char since[GW_TIME_LEN])
{
    const char *text = admin_opt(ctx, "--since");
    const char *limit = admin_opt(ctx, "--limit");
    long n = 0;
    int rc;

    memset(f, 0, sizeof(*f));
    f->user = admin_opt(ctx, "--user");
    f->host = admin_opt(ctx, "--host");
    f->active_only = admin_flag(ctx, "--active");
    if (text != NULL) {
        rc = gw_time_parse(text, GW_TIME_PAST, since);
        if (rc != GW_OK) {
            return rc;
        }
        f->since = since;
    }
    if (limit != NULL) {
        if (gw_long_parse(limit, 1, 1000000, &n) != GW_OK) {
            return gw_err_set(GW_ERR_INVALID,
                              "--limit must be 1 to 1000000, not '%s'", limit);
        }
        f->limit = (size_t)n;
    }
    return GW_OK;
}

static void exit_text(const struct store_session *s, char *buf, size_t len)
{
    if (s->exit_signal[0] != '\0') {
        snprintf(buf, len, "SIG%s", s->exit_signal);
    } else if (s->has_exit_status) {
        snprintf(buf, len, "%d", s->exit_status);
    } else {
        snprintf(buf, len, "-");
    }
}

static json_t *session_json(const struct store_session *s)
{
    return json_pack(
        "{s:I, s:s, s:s, s:i, s:s, s:s, s:o, s:o, s:s, s:o, s:b, s:s, s:o, "
        "s:I, s:I, s:o, s:o, s:o, s:b, s:i}",
        "id", (json_int_t)s->id, "node", s->node, "conn", s->conn_uid,
        "channel", s->channel, "user", s->user, "client", s->client, "host",
        out_jstr_opt(s->host), "login", out_jstr_opt(s->login), "kind", s->kind,
        "command", out_jstr_opt(s->command), "pty", s->pty, "started_at",
        s->started_at, "ended_at", out_jstr_opt(s->ended_at), "bytes_up",
        (json_int_t)s->bytes_up, "bytes_down", (json_int_t)s->bytes_down,
        "exit_status",
        s->has_exit_status ? json_integer(s->exit_status) : json_null(),
        "exit_signal", out_jstr_opt(s->exit_signal), "end_reason",
        out_jstr_opt(s->end_reason), "recorded", s->recorded, "transfers",
        s->transfers);
}

static int list_json(struct admin_ctx *ctx, const struct store_session *list,
                     size_t n)
{
    json_t *arr = json_array();
    int rc = arr != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = out_json_append(arr, session_json(&list[i]));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, arr);
    }
    json_decref(arr);
    return rc;
}

static int list_text(struct admin_ctx *ctx, const struct store_session *list,
                     size_t n)
{
    static const char *const headers[] = {"ID",    "USER", "HOST",    "KIND",
                                          "START", "END",  "UP/DOWN", "EXIT"};
    struct out_table *t = NULL;
    int rc = out_table_new(headers, 8, &t);

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        const struct store_session *s = &list[i];
        char id[24], bytes[48], ex[40], host[2 * GW_NAME_MAX + 2];
        snprintf(id, sizeof(id), "%lld", (long long)s->id);
        snprintf(bytes, sizeof(bytes), "%llu/%llu",
                 (unsigned long long)s->bytes_up,
                 (unsigned long long)s->bytes_down);
        snprintf(host, sizeof(host), "%s%s%s", s->login,
                 s->login[0] != '\0' ? "@" : "", s->host);
        exit_text(s, ex, sizeof(ex));
        rc = out_table_row(t, id, s->user, host, s->kind, s->started_at,
                           s->ended_at[0] != '\0' ? s->ended_at : "active",
                           bytes, ex);
    }
    if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
    out_table_free(t);
    return rc;
}

int admin_session_list(struct admin_ctx *ctx)
{
    struct store_session_filter filter;
    struct store_session *list = NULL;
    char since[GW_TIME_LEN];
    size_t n = 0;
    int rc;

    rc = list_filter(ctx, &filter, since);
    if (rc == GW_OK) {
        rc = store_session_list(ctx->st, &filter, &list, &n);
    }
    if (rc == GW_OK) {
        rc = ctx->json ? list_json(ctx, list, n) : list_text(ctx, list, n);
    }
    store_session_list_free(list, n);
    return rc;
}

static json_t *transfers_json(const struct store_transfer *t, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (out_json_append(
                arr, json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:s, s:s}",
                               "operation", t[i].operation, "path",
                               out_jstr(t[i].path), "path2",
                               out_jstr_opt(t[i].path2), "bytes_read",
                               (json_int_t)t[i].bytes_read, "bytes_written",
                               (json_int_t)t[i].bytes_written, "sha256",
                               out_jstr_opt(t[i].sha256), "status", t[i].status,
                               "time", t[i].created_at)) != GW_OK) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *recording_json(const struct store_recording *r, bool found)
{
    if (!found) {
        return json_null();
    }
    return json_pack("{s:I, s:I, s:o}", "chunks", (json_int_t)r->chunks,
                     "bytes", (json_int_t)r->bytes, "degraded",
                     out_jstr_opt(r->degraded));
}

static int show_json(struct admin_ctx *ctx, const struct store_session *s,
                     const struct store_transfer *t, size_t n,
                     const struct store_recording *r, bool recorded)
{
    json_t *doc = session_json(s);
    int rc = doc != NULL ? GW_OK : GW_ERR_NOMEM;

    if (rc == GW_OK) {
        rc = out_json_set(doc, "file_transfers", transfers_json(t, n));
    }
    if (rc == GW_OK) {
        rc = out_json_set(doc, "recording", recording_json(r, recorded));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, doc);
    }
    json_decref(doc);
    return rc;
}

static void show_text(struct admin_ctx *ctx, const struct store_session *s,
                      const struct store_transfer *t, size_t n,
                      const struct store_recording *r, bool recorded)
{
    char num[64];

    snprintf(num, sizeof(num), "%lld", (long long)s->id);
    out_field(ctx->out, "session", num);
    out_field(ctx->out, "user", s->user);
    out_field(ctx->out, "client", s->client);
    out_field(ctx->out, "host", s->host);
    out_field(ctx->out, "login", s->login);
    out_field(ctx->out, "kind", s->kind);
    out_field(ctx->out, "command", s->command);
    out_field(ctx->out, "pty", s->pty ? "yes" : "no");
    out_field(ctx->out, "started", s->started_at);
    out_field(ctx->out, "ended", s->ended_at[0] ? s->ended_at : "active");
    snprintf(num, sizeof(num), "%llu up, %llu down",
             (unsigned long long)s->bytes_up,
             (unsigned long long)s->bytes_down);
    out_field(ctx->out, "bytes", num);
    exit_text(s, num, sizeof(num));
    out_field(ctx->out, "exit", num);
    out_field(ctx->out, "end reason", s->end_reason);
    out_field(ctx->out, "connection", s->conn_uid);
    if (recorded) {
        char rec[256];
        snprintf(rec, sizeof(rec), "%lld chunks, %lld bytes%s%s%s",
                 (long long)r->chunks, (long long)r->bytes,
                 r->degraded[0] ? " (incomplete: " : "", r->degraded,
                 r->degraded[0] ? ")" : "");
        out_field(ctx->out, "recording", rec);
    } else {
        out_field(ctx->out, "recording", NULL);
    }
    fprintf(ctx->out, "file transfers (%zu):\n", n);
    for (size_t i = 0; i < n; i++) {
        fprintf(ctx->out, "  %s %s ", t[i].created_at, t[i].operation);
        out_text(ctx->out, t[i].path);
        /* --json has path2 as well: a rename, link or copy row without
         * its second path would not say where the file went. */
        if (t[i].path2 != NULL && t[i].path2[0] != '\0') {
            fputs(" -> ", ctx->out);
            out_text(ctx->out, t[i].path2);
        }
        fprintf(ctx->out, " read=%llu written=%llu sha256=%s %s\n",
                (unsigned long long)t[i].bytes_read,
                (unsigned long long)t[i].bytes_written,
                t[i].sha256[0] ? t[i].sha256 : "-", t[i].status);
    }
}

int admin_session_show(struct admin_ctx *ctx)
{
    struct store_session s;
    struct store_recording r;
    struct store_transfer *t = NULL;
    size_t n = 0;
    bool recorded = false;
    int64_t id = 0;
    int rc;

    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));
    rc = admin_session_id_arg(ctx, &id);
    if (rc == GW_OK) {
        rc = store_session_get(ctx->st, id, &s);
    }
    if (rc == GW_OK) {
        rc = store_transfer_list(ctx->st, id, &t, &n);
    }
    if (rc == GW_OK) {
        int rrc = store_recording_get(ctx->st, id, &r);
        recorded = rrc == GW_OK;
        rc = rrc == GW_ERR_NOTFOUND ? GW_OK : rrc;
    }
    if (rc == GW_OK && ctx->json) {
        rc = show_json(ctx, &s, t, n, &r, recorded);
    } else if (rc == GW_OK) {
        show_text(ctx, &s, t, n, &r, recorded);
    }
    store_recording_clear(&r);
    store_transfer_list_free(t, n);
    store_session_clear(&s);
    return rc;
}

/* The recording of the session named on the command line. */
static int load_recording(struct admin_ctx *ctx, struct store_recording *r)
{
    int64_t id = 0;
    int rc = admin_session_id_arg(ctx, &id);

    if (rc != GW_OK) {
        return rc;
    }
    return store_recording_get(ctx->st, id, r);
}

static int write_chunk(void *arg, const char *data, size_t len)
{
    FILE *out = arg;

    if (fwrite(data, 1, len, out) != len) {
        return gw_err_set(GW_ERR_IO, "cannot write the recording");
    }
    return GW_OK;
}

int admin_session_export(struct admin_ctx *ctx)
{
    struct store_recording r;
    int rc;

    rc = load_recording(ctx, &r);
    if (rc != GW_OK) {
        return rc;
    }
    /* asciicast v2: the header line, then the event lines as stored. */
    fprintf(ctx->out, "%s\n", r.header);
    rc = store_recording_chunks(ctx->st, r.id, write_chunk, ctx->out);
    if (rc == GW_OK && fflush(ctx->out) != 0) {
        rc = gw_err_set(GW_ERR_IO, "cannot write the recording");
    }
    store_recording_clear(&r);
    return rc;
}

static int replay_chunk(void *arg, const char *data, size_t len)
{
    return admin_player_chunk(arg, data, len);
}

int admin_session_replay(struct admin_ctx *ctx)
{
    struct admin_player player;
    struct store_recording r;
    double speed = 1.0;
    int rc;

    rc = admin_player_speed(admin_opt(ctx, "--speed"), &speed);
    if (rc != GW_OK) {
        return rc;
    }
    rc = load_recording(ctx, &r);
    if (rc != GW_OK) {
        return rc;
    }
    admin_player_init(&player, ctx->out, speed);
    rc = store_recording_chunks(ctx->st, r.id, replay_chunk, &player);
    store_recording_clear(&r);
    return rc;
}

/* "session kill --conn UID": the whole connection, every channel of it
 * (an OpenSSH ControlMaster). */
static int kill_conn(struct admin_ctx *ctx, const char *uid)
{
    int rc = admin_begin(ctx);

    if (rc == GW_OK) {
        rc = store_conn_kill_request(ctx->st, uid, ctx->actor);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.session.kill", NULL, "conn=%s", uid);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out, json_pack("{s:s}", "conn", uid));
    }
    fprintf(ctx->out, "asked the gateway to end connection %s\n", uid);
    return GW_OK;
}

/* The daemon that runs the session polls for the request (about every
 * 500 ms) and ends it with reason "killed by admin". */
int admin_session_kill(struct admin_ctx *ctx)
{
    const char *uid = admin_opt(ctx, "--conn");
    int64_t id = 0;
    int rc;

    if ((uid != NULL) == (admin_arg(ctx, 0) != NULL)) {
        return ADMIN_ERR_USAGE; /* one of ID and --conn */
    }
    if (uid != NULL) {
        return kill_conn(ctx, uid);
    }
    rc = admin_session_id_arg(ctx, &id);
    if (rc == GW_OK) {
        rc = admin_begin(ctx);
    }
    if (rc == GW_OK) {
        rc = store_session_request_kill(ctx->st, id, ctx->actor);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.session.kill", NULL, "session=%lld",
                         (long long)id);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:I}", "session", (json_int_t)id));
    }
    fprintf(ctx->out, "asked the gateway to end session %lld\n", (long long)id);
    return GW_OK;
}
