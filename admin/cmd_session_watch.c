/*
 * session watch: follow a running pty session's terminal output from its
 * recording as the gateway writes it, like `tail -f` with the terminal's
 * timing. Read-only but for one audit event (admin.session.watch: someone
 * looked at a user's live terminal). It reads the database, not a
 * daemon, so it works on any node of a cluster.
 */
#include "admin/internal.h"

#include "admin/playback.h"
#include "store/recordings.h"
#include "store/sessions.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often an idle watcher asks for new chunks: one indexed range read
 * (and one sessions row) each time. The recorder hands a chunk over
 * when its oldest line is a second old, so this adds little delay. */
#define WATCH_POLL_S 0.2
/* Chunks read per query: what a watcher holds in memory at most
 * (a chunk is at most about 64 KiB, gateway/audit/recorder.c). */
#define WATCH_BATCH 4
/* A pty session's recording row is written by the audit writer a moment
 * after its sessions row: how long a watch started right then waits. */
#define WATCH_REC_WAIT_S 3.0

static volatile sig_atomic_t watch_stop;

static void on_stop(int sig)
{
    (void)sig;
    watch_stop = 1;
}

struct watch_signals {
    struct sigaction intr, term, hup, pipe;
};

/* Ctrl-C, TERM and HUP end the watch between two writes (no
 * SA_RESTART: they interrupt the waits); a closed output ends it at the
 * next write (EPIPE) instead of killing the process. */
static void signals_catch(struct watch_signals *saved)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &saved->intr);
    sigaction(SIGTERM, &sa, &saved->term);
    sigaction(SIGHUP, &sa, &saved->hup);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &saved->pipe);
}

static void signals_restore(const struct watch_signals *saved)
{
    sigaction(SIGINT, &saved->intr, NULL);
    sigaction(SIGTERM, &saved->term, NULL);
    sigaction(SIGHUP, &saved->hup, NULL);
    sigaction(SIGPIPE, &saved->pipe, NULL);
}

/* The session's recording; a pty session that has just started gets a
 * moment for its row to be written. One clear line when there is none. */
static int find_recording(struct admin_ctx *ctx, const struct store_session *s,
                          struct store_recording *r)
{
    double waited = 0;
    int rc;

    for (;;) {
        rc = store_recording_get(ctx->st, s->id, r);
        if (rc != GW_ERR_NOTFOUND || !s->pty || s->ended_at[0] != '\0' ||
            waited >= WATCH_REC_WAIT_S) {
            break;
        }
        admin_player_sleep(WATCH_POLL_S, NULL);
        waited += WATCH_POLL_S;
    }
    if (rc == GW_ERR_NOTFOUND) {
        return gw_err_set(rc,
                          "session %lld has no recording (%s): nothing to "
                          "watch",
                          (long long)s->id,
                          s->pty ? "recording is off, or the gateway has "
                                   "not stored it yet"
                                 : "not a terminal (pty) session");
    }
    return rc;
}

/* Whether the session has ended, with its row in *s for the end note. */
static int session_ended(struct admin_ctx *ctx, int64_t id,
                         struct store_session *s, bool *ended)
{
    int rc;

    store_session_clear(s);
    rc = store_session_get(ctx->st, id, s);
    *ended = rc == GW_OK && s->ended_at[0] != '\0';
    return rc;
}

/*
 * Without --from-start the watcher starts at the live end: the newest
 * chunk (about the last second of output) is written at once, for the
 * screen's context, and the rest follows with its timing. *last gets the
 * seq to follow from.
 */
static int play_context(struct admin_ctx *ctx, struct admin_player *p,
                        int64_t rec_id, int64_t *last)
{
    struct store_chunk *c = NULL;
    size_t n = 0;
    int64_t top = -1;
    int rc;

    rc = store_recording_last_seq(ctx->st, rec_id, &top);
    if (rc == GW_OK && top >= 0) {
        rc = store_recording_chunks_after(ctx->st, rec_id, top - 1, 1, &c, &n);
    }
    if (rc == GW_OK && n == 1) {
        p->no_wait = true;
        rc = admin_player_chunk(p, c[0].data, c[0].len);
        p->no_wait = false;
    }
    store_chunk_list_free(c, n);
    *last = top;
    return rc;
}

/* Play what the recording gets, until the session has ended and every
 * chunk is played, or a signal or a closed output stops it. */
static int follow(struct admin_ctx *ctx, struct admin_player *p, int64_t rec_id,
                  int64_t last, struct store_session *s)
{
    bool ended = false;
    size_t n = 0;
    int rc = GW_OK;

    while (rc == GW_OK && !watch_stop) {
        struct store_chunk *c = NULL;
        size_t got = 0;

        /* The end is read before the chunks: the writer stores the last
         * chunk before the session's end, so an end seen first and no
         * chunk after it means everything has been played. */
        if (n == 0) {
            rc = session_ended(ctx, s->id, s, &ended);
        }
        if (rc == GW_OK) {
            rc = store_recording_chunks_after(ctx->st, rec_id, last,
                                              WATCH_BATCH, &c, &got);
        }
        for (size_t i = 0; rc == GW_OK && i < got && !watch_stop; i++) {
            rc = admin_player_chunk(p, c[i].data, c[i].len);
            last = c[i].seq;
        }
        store_chunk_list_free(c, got);
        n = got;
        if (rc == GW_OK && n == 0) {
            if (ended) {
                break;
            }
            admin_player_sleep(WATCH_POLL_S, &watch_stop);
        }
    }
    return rc;
}

static void end_note(struct admin_ctx *ctx, const struct store_session *s)
{
    struct store_recording r;
    bool lost = false;

    if (watch_stop || s->ended_at[0] == '\0') {
        fprintf(ctx->err, ADMIN_PROG ": stopped watching session %lld\n",
                (long long)s->id);
        return;
    }
    /* Chunks the recorder had to drop (a database that could not keep
     * up) are missing from what was shown: say so. */
    if (store_recording_get(ctx->st, s->id, &r) == GW_OK) {
        lost = r.degraded[0] != '\0';
    }
    fprintf(ctx->err, ADMIN_PROG ": session %lld ended at %s (%s)%s%s\n",
            (long long)s->id, s->ended_at,
            s->end_reason[0] != '\0' ? s->end_reason : "no reason recorded",
            lost ? "; the recording is incomplete: " : "",
            lost ? r.degraded : "");
    store_recording_clear(&r);
}

/* Checks, then the one write: the admin.session.watch event. */
static int watch_begin(struct admin_ctx *ctx, int64_t id, bool from_start,
                       struct store_session *s, struct store_recording *r)
{
    int rc = store_session_get(ctx->st, id, s);

    if (rc != GW_OK) {
        return rc;
    }
    rc = find_recording(ctx, s, r);
    if (rc == GW_OK && s->ended_at[0] != '\0' && !from_start) {
        return gw_err_set(GW_ERR_INVALID,
                          "session %lld ended at %s: play it with `" ADMIN_PROG
                          " session replay %lld` (or watch --from-start)",
                          (long long)id, s->ended_at, (long long)id);
    }
    if (rc == GW_OK) {
        rc = admin_begin(ctx);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.session.watch", s->user, "session=%lld%s",
                         (long long)id, from_start ? " from=start" : "");
    }
    if (rc == GW_OK) {
        rc = admin_commit(ctx);
    }
    return rc;
}

int admin_session_watch(struct admin_ctx *ctx)
{
    bool from_start = admin_flag(ctx, "--from-start");
    struct watch_signals saved;
    struct admin_player player;
    struct store_session s;
    struct store_recording r;
    double speed = 1.0;
    int64_t id = 0;
    int64_t last = -1;
    int rc;

    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));
    rc = admin_session_id_arg(ctx, &id);
    if (rc == GW_OK) {
        rc = admin_player_speed(admin_opt(ctx, "--speed"), &speed);
    }
    if (rc == GW_OK) {
        rc = watch_begin(ctx, id, from_start, &s, &r);
    }
    if (rc != GW_OK) {
        goto out;
    }
    watch_stop = 0;
    signals_catch(&saved);
    if (isatty(fileno(ctx->err))) {
        fprintf(ctx->err,
                ADMIN_PROG ": watching session %lld of %s on %s%s%s "
                           "(Ctrl-C stops)\n",
                (long long)id, s.user, s.login, s.login[0] ? "@" : "", s.host);
    }
    admin_player_init(&player, ctx->out, speed);
    player.stop = &watch_stop;
    if (!from_start) {
        admin_player_unanchor(&player);
        rc = play_context(ctx, &player, r.id, &last);
    }
    if (rc == GW_OK) {
        rc = follow(ctx, &player, r.id, last, &s);
    }
    if (rc == GW_ERR_IO && player.write_errno == EPIPE) {
        rc = GW_OK; /* the reader went away: as `tail -f | head` */
        watch_stop = 1;
    }
    if (rc == GW_OK) {
        end_note(ctx, &s);
    }
    signals_restore(&saved);
out:
    store_recording_clear(&r);
    store_session_clear(&s);
    return rc;
}
