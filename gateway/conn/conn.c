#include "gateway/conn/conn.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/audit/writer.h"
#include "gateway/conn/auth.h"
#include "gateway/conn/dispatch.h"
#include "gateway/conn/loop.h"
#include "gateway/conn/target_state.h"
#include "gateway/daemon/limits.h"
#include "gateway/daemon/metrics.h"
#include "gateway/daemon/sshlog.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS        1000
#define FLUSH_ROUNDS_MAX 4

static pthread_once_t node_once = PTHREAD_ONCE_INIT;
static char node_name[64];
static long long node_started;   /* ms since the epoch */
static char run_prefix[32];      /* "<node_started, hex>-" */
static char configured_name[64]; /* node_name from the config, or "" */

static void node_init(void)
{
    /* Milliseconds: a run that is killed and restarted within the same
     * second still gets uids of its own, which is how the audit writer
     * tells the sessions a crashed run left open from this run's. */
    node_started = (long long)gw_time_wall_ms();
    snprintf(run_prefix, sizeof(run_prefix), "%llx-", node_started);
    if (configured_name[0] != '\0') {
        snprintf(node_name, sizeof(node_name), "%s", configured_name);
    } else if (gethostname(node_name, sizeof(node_name) - 1) != 0 ||
               node_name[0] == '\0') {
        snprintf(node_name, sizeof(node_name), "%s", "localhost");
    }
    node_name[sizeof(node_name) - 1] = '\0';
}

void gw_node_set_name(const char *name)
{
    snprintf(configured_name, sizeof(configured_name), "%s",
             name != NULL ? name : "");
}

const char *gw_node_name(void)
{
    (void)pthread_once(&node_once, node_init);
    return node_name;
}

const char *gw_node_run_prefix(void)
{
    (void)pthread_once(&node_once, node_init);
    return run_prefix;
}

int gw_conn_new(struct gw_daemon *d, ssh_session session,
                const struct gw_addr *peer, const struct gw_addr *source,
                struct gw_config *cfg, int64_t start_ms, struct gw_conn **out)
{
    struct gw_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return GW_ERR_NOMEM;
    }
    c->daemon = d;
    c->cfg = gw_config_ref(cfg);
    c->id = atomic_fetch_add(&d->next_conn_id, 1);
    (void)gw_node_name();
    snprintf(c->uid, sizeof(c->uid), "%s%llu", run_prefix,
             (unsigned long long)c->id);
    c->peer = *peer;
    gw_addr_format(peer, c->peer_text);
    c->session = session;
    c->unauth_slot = true;
    c->source = *source;
    c->start_ms = start_ms;
    c->deadline_ms = start_ms + (int64_t)cfg->login_grace_time * 1000;
    c->version_deadline_ms = start_ms + (int64_t)cfg->version_timeout * 1000;
    c->last_rx_ms = start_ms;
    c->last_activity_ms = start_ms;
    c->max_chans = (size_t)cfg->max_channels_per_connection;
    c->chans = calloc(c->max_chans, sizeof(*c->chans));
    if (c->chans == NULL) {
        gw_config_unref(c->cfg);
        free(c);
        return GW_ERR_NOMEM;
    }
    *out = c;
    return GW_OK;
}

static void release_unauth(struct gw_conn *c)
{
    if (c->unauth_slot) {
        gw_limits_release(c->daemon->limits, &c->source);
        c->unauth_slot = false;
    }
}

static void conn_free(struct gw_conn *c)
{
    release_unauth(c);
    gw_config_unref(c->cfg);
    free(c->chans);
    free(c->scratch.buf);
    free(c->pfds);
    free(c->prefs);
    free(c);
}

void gw_conn_discard(struct gw_conn *c)
{
    ssh_free(c->session); /* closes the socket */
    conn_free(c);
}

void gw_conn_close(struct gw_conn *c, enum gw_ending why)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_ending = why;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s",
             why == GW_END_TARGET ? c->target_error : gw_ending_text(why));
}

void gw_conn_activity(struct gw_conn *c)
{
    c->last_activity_ms = gw_now_ms();
}

void gw_conn_event(struct gw_conn *c, const char *kind, const char *user,
                   const char *fmt, ...)
{
    char detail[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    /* Queued for the audit writer: the connection never waits for it. */
    if (gw_audit_event(c->daemon->audit, kind, user, c->peer_text, "%s",
                       detail) != GW_OK) {
        gw_log_error("the audit queue is full: a %s event is lost", kind);
    }
}

/* ---- setup ------------------------------------------------------------ */

static int set_front_options(struct gw_conn *c)
{
    const struct gw_config *cfg = c->cfg;
    long grace = cfg->login_grace_time;
    uint64_t rekey_data = (uint64_t)cfg->rekey_limit;
    uint32_t rekey_time = (uint32_t)cfg->rekey_time;
    /* The timeout bounds every blocking libssh call on this session; the
     * key exchange itself is driven non-blocking by our loop. */
    const struct {
        enum ssh_options_e opt;
        const void *value;
        bool wanted;
    } opts[] = {
        {SSH_OPTIONS_TIMEOUT, &grace, true},
        {SSH_OPTIONS_COMPRESSION,
         cfg->compression ? "zlib@openssh.com,none" : "none", true},
        {SSH_OPTIONS_REKEY_DATA, &rekey_data, rekey_data > 0},
        {SSH_OPTIONS_REKEY_TIME, &rekey_time, rekey_time > 0},
    };

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        int rc;
        if (!opts[i].wanted) {
            continue;
        }
        rc = ssh_options_set(c->session, opts[i].opt, opts[i].value);
        if (rc != 0) {
            return gw_err_set(GW_ERR, "session option %d: %s", (int)opts[i].opt,
                              ssh_get_error(c->session));
        }
    }
    return GW_OK;
}

static int conn_setup(struct gw_conn *c)
{
    int rc = set_front_options(c);

    if (rc != GW_OK) {
        return rc;
    }
    ssh_set_counters(c->session, &c->sock, &c->raw);
    gw_dispatch_setup(c);
    ssh_set_blocking(c->session, 0);
    c->event = ssh_event_new();
    if (c->event == NULL) {
        return gw_err_set(GW_ERR_NOMEM, "cannot create the event loop");
    }
    /* The wake-up signal may arrive only inside conn_wait's ppoll. */
    pthread_sigmask(SIG_BLOCK, NULL, &c->wait_mask);
    sigdelset(&c->wait_mask, GW_WAKE_SIGNAL);
    c->link.thread = pthread_self();
    c->link.uid = c->uid;
    gw_daemon_register(c->daemon, &c->link);
    c->registered = true;
    return GW_OK;
}

/* ---- phases ----------------------------------------------------------- */

static void log_algorithms(struct gw_conn *c)
{
    gw_log_verbose("key exchange done: kex=%s cipher=%s/%s mac=%s/%s",
                   ssh_get_kex_algo(c->session), ssh_get_cipher_in(c->session),
                   ssh_get_cipher_out(c->session), ssh_get_hmac_in(c->session),
                   ssh_get_hmac_out(c->session));
}

/* Key exchange, driven non-blocking by the event loop so that the login
 * grace deadline and a shutdown can interrupt it. */
static int conn_kex(struct gw_conn *c)
{
    int rc = ssh_handle_key_exchange(c->session);

    c->kex_started = true;
    /* Only now does the session have the poll context that
     * ssh_event_add_session moves into our event. */
    if (rc == SSH_AGAIN || rc == SSH_OK) {
        if (ssh_event_add_session(c->event, c->session) != SSH_OK) {
            gw_log_error("cannot poll the session");
            gw_conn_close(c, GW_END_INTERNAL);
            return GW_ERR;
        }
        c->session_in_event = true;
    }
    while (rc == SSH_AGAIN && !c->closing) {
        ssh_event_dopoll(c->event, GW_CONN_POLL_MS);
        gw_conn_check_timeouts(c, gw_now_ms());
        if (c->closing) {
            break;
        }
        rc = ssh_handle_key_exchange(c->session);
    }
    if (rc != SSH_OK) {
        if (!c->closing) {
            gw_log_verbose("key exchange failed: %s",
                           ssh_get_error(c->session));
            gw_conn_close(c, gw_conn_session_gone(c) ? GW_END_KEX_CLIENT_GONE
                                                     : GW_END_KEX_FAILED);
        }
        return GW_ERR;
    }
    c->kex_done = true;
    log_algorithms(c);
    return GW_OK;
}

/*
 * libssh 0.10 writes to the socket only if poll reported it writable since
 * the previous write (socket.c write_wontblock); otherwise output waits
 * for the next poll round. ssh_disconnect closes the socket right after
 * queueing SSH_MSG_DISCONNECT, so a few rounds without waiting come first,
 * or the client would see "Connection closed" instead of our reason. Once
 * closing, authentication requests get no reply, so these rounds cannot
 * start another exchange with the client.
 */
static void flush_before_disconnect(struct gw_conn *c)
{
    int quiet = 0;

    for (int i = 0; i < FLUSH_ROUNDS_MAX && quiet < 2; i++) {
        uint64_t seen = c->raw.in_packets;
        if (!c->session_in_event || gw_conn_session_gone(c)) {
            return;
        }
        ssh_event_dopoll(c->event, 0);
        quiet = c->raw.in_packets == seen ? quiet + 1 : 0;
    }
}

/*
 * After our disconnect, keep the socket (a duplicate of libssh's) open
 * until the client closes it or LINGER_MS pass, reading what it still
 * sends: closing with unread input would make the kernel send a reset,
 * which can destroy the disconnect message before the client reads it.
 */
static void linger_until_client_closes(int fd)
{
    int64_t deadline = gw_now_ms() + LINGER_MS;
    char buf[4096];

    (void)shutdown(fd, SHUT_WR);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - gw_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            break;
        }
        if (read(fd, buf, sizeof(buf)) <= 0) {
            break;
        }
    }
    close(fd);
}

/* Teardown in the order libssh 0.10 needs: channel callbacks detached,
 * then the event, then disconnect (which frees the channels) and free. */
static void conn_teardown(struct gw_conn *c)
{
    int fd = -1;

    gw_dispatch_end(c);
    flush_before_disconnect(c);
    gw_chan_detach_all(c);
    for (size_t i = 0; i < GW_UPSTREAM_MAX; i++) {
        if (c->ups[i] != NULL) {
            gw_upstream_close(c->ups[i]);
        }
    }
    if (c->event != NULL) {
        if (c->session_in_event) {
            ssh_event_remove_session(c->event, c->session);
        }
        ssh_event_free(c->event);
        c->event = NULL;
    }
    if (c->registered) {
        gw_daemon_unregister(c->daemon, &c->link);
    }
    if (c->kex_started && !gw_conn_session_gone(c)) {
        fd = dup(ssh_get_fd(c->session));
    }
    ssh_session_set_disconnect_message(c->session, c->close_reason);
    ssh_disconnect(c->session);
    ssh_free(c->session);
    c->session = NULL;
    if (fd >= 0) {
        linger_until_client_closes(fd);
    }
}

static void conn_finish(struct gw_conn *c)
{
    int64_t ms = gw_now_ms() - c->start_ms;

    if (!c->authed) {
        gw_auth_abandoned(c);
    }
    if (!c->authed && (c->grace_expired || c->version_expired)) {
        /* It held an unauthenticated slot for as long as we let it: its
         * source waits before it may take another (source_penalty). */
        struct gw_limits_policy pol = gw_daemon_policy(c->cfg);
        gw_limits_penalize(c->daemon->limits, &c->source, &pol, gw_now_ms());
    }
    gw_metrics_conn_closed(c->authed, c->close_ending);
    gw_log_info("connection closed: %s (%lld ms, %llu bytes in, %llu out)",
                c->close_reason, (long long)ms,
                (unsigned long long)c->sock.in_bytes,
                (unsigned long long)c->sock.out_bytes);
    gw_conn_event(c, "conn.close",
                  c->authed ? c->user : (c->have_login ? c->login : NULL),
                  "reason=\"%s\" authenticated=%s duration_ms=%lld "
                  "bytes_in=%llu bytes_out=%llu",
                  c->close_reason, c->authed ? "yes" : "no", (long long)ms,
                  (unsigned long long)c->sock.in_bytes,
                  (unsigned long long)c->sock.out_bytes);
}

void gw_conn_set_authenticated(struct gw_conn *c, const char *user)
{
    int64_t now_ms = gw_now_ms();

    c->authed = true;
    gw_metrics_conn_authenticated();
    snprintf(c->user, sizeof(c->user), "%s", user);
    /* What the main thread last saw: a change after the reads that let
     * her in reaches this connection as a GW_REQ_RECHECK (it is
     * registered already), so nothing falls between the two. */
    c->access_gen = atomic_load(&c->daemon->access_gen);
    gw_daemon_set_user(c->daemon, &c->link, user);
    gw_target_begin(c);
    release_unauth(c);
    c->last_activity_ms = now_ms;
    c->last_rx_ms = now_ms;
    gw_conn_log_context(c);
}

void gw_conn_log_context(struct gw_conn *c)
{
    char ctx[160];

    if (c->authed) {
        snprintf(ctx, sizeof(ctx), "conn=%llu peer=%s user=%s",
                 (unsigned long long)c->id, c->peer_text, c->user);
    } else {
        snprintf(ctx, sizeof(ctx), "conn=%llu peer=%s",
                 (unsigned long long)c->id, c->peer_text);
    }
    gw_log_set_context(ctx);
}

/* Whether the database opens at all: without it nobody can log in. */
static bool conn_db_ok(struct gw_conn *c)
{
    struct store *st = gw_daemon_store_get(c->daemon);

    gw_daemon_store_put(c->daemon, st);
    return st != NULL;
}

void gw_conn_run(void *arg)
{
    struct gw_conn *c = arg;

    gw_conn_log_context(c);
    gw_sshlog_thread_init();
    gw_metrics_conn_open();
    gw_log_verbose("worker started");
    if (conn_setup(c) != GW_OK) {
        gw_log_error("%s", gw_err_msg());
        gw_conn_close(c, GW_END_INTERNAL);
    } else if (conn_kex(c) == GW_OK) {
        if (!conn_db_ok(c)) {
            gw_conn_close(c, GW_END_UNAVAILABLE);
        }
        gw_conn_loop(c);
    }
    conn_teardown(c);
    conn_finish(c);
    conn_free(c);
    gw_log_set_context(NULL);
}
