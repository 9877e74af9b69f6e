#include "gateway/service.h"

#include "backend/chain.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/timeutil.h"
#include "gateway/front/algos.h"
#include "gateway/audit/session_row.h"
#include "gateway/audit/writer.h"
#include "gateway/conn/conn.h"
#include "gateway/daemon/daemon.h"
#include "gateway/front/hostkeys.h"
#include "gateway/daemon/limits.h"
#include "gateway/front/listener.h"
#include "gateway/metrics_http.h"
#include "gateway/privdrop.h"
#include "gateway/daemon/sshlog.h"
#include "store/conn_kills.h"
#include "store/db.h"
#include "store/sessions.h"
#include "store/open.h"
#include "store/settings.h"
#include "store/users.h"

#include <errno.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* How often the kill requests of "sshgate-admin session kill" and "user
 * kick" and the access generation are read. */
#define KILL_POLL_MS       500
#define LIMITS_MAX_SOURCES 100000
/* The client socket and one to a backend or destination. */
#define FDS_PER_CONNECTION 2
/* A locked database at shutdown gets this long before the audit records
 * still queued go to the spool. */
#define AUDIT_DRAIN_MS 10000
#define WORKER_IDLE_MS 60000
#define POOL_STOP_MS   15000

void gw_service_report_stderr(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* Open the database and build a bind from it: proves that the host keys
 * are there and that libssh takes every option. */
int gw_service_check_keys(const struct gw_config *cfg, struct store **st,
                          ssh_bind *bind)
{
    int rc = store_open(cfg->db, STORE_OPEN_EXISTING, st);

    if (rc != GW_OK) {
        return rc;
    }
    return gw_bind_build(cfg, *st, bind);
}

static void report_log(void *ud, const char *line)
{
    (void)ud;
    gw_log_error("%s", line);
}

int gw_service_load_config(struct gw_service *rt, gw_config_report_fn report,
                           struct gw_config **out)
{
    return gw_config_load(rt->opt.config_path, rt->ov, rt->nov,
                          gw_algos_config_check, report, NULL, out);
}

static void raise_fd_limit(const struct gw_config *cfg)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)cfg->max_connections * FDS_PER_CONNECTION + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        gw_log_warn("file descriptor limit %llu is below the %llu that "
                    "max_connections = %ld may need; raise LimitNOFILE (or "
                    "ulimit -n)",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)need,
                    cfg->max_connections);
    }
}

/* Signals arrive through a signalfd read by the main loop; every thread
 * inherits the mask, so no handler ever runs. */
static int setup_signals(int *fd)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    if (gw_daemon_wake_setup() != GW_OK) {
        return GW_ERR;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        return gw_err_set(GW_ERR, "cannot block signals");
    }
    *fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (*fd < 0) {
        return gw_err_set(GW_ERR, "signalfd: %s", strerror(errno));
    }
    return GW_OK;
}

/* Wait up to timeout_ms for a signal; its number, or 0. */
static int next_signal(int fd, int timeout_ms)
{
    struct signalfd_siginfo si;
    struct pollfd p = {fd, POLLIN, 0};

    if (poll(&p, 1, timeout_ms) <= 0) {
        return 0;
    }
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
        return 0;
    }
    return (int)si.ssi_signo;
}

static size_t worker_stack(const struct gw_config *cfg)
{
    size_t size = (size_t)cfg->worker_stack_size;

#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's redzones make every frame several times larger. */
    size *= 4;
#endif
    return size;
}

/* The spool's path: audit_spool, or next to the database file; a
 * database server has no "next to": the node's own file in sshgate's
 * state directory (each node spools its own records). */
static char *spool_path(const struct gw_config *cfg)
{
    char *path = NULL;
    int n;

    if (cfg->audit_spool[0] != '\0') {
        return strdup(cfg->audit_spool);
    }
    if (store_is_server(cfg->db)) {
        n = asprintf(&path, "%s/%s.spool", SSHGATE_STATE_DIR, gw_node_name());
    } else {
        n = asprintf(&path, "%s.spool", cfg->db);
    }
    return n < 0 ? NULL : path;
}

/* "ADDR:PORT,..." of the listen setting, for the node's heartbeat. */
static void listen_text(const struct gw_config *cfg, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < cfg->listen.n; i++) {
        char addr[GW_ADDR_TEXT_MAX];
        int n;
        gw_addr_format(&cfg->listen.addrs[i], addr);
        n = snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "", addr);
        if (n < 0 || (size_t)n >= len - used) {
            break; /* the node list shows what fits */
        }
        used += (size_t)n;
    }
}

static int start_audit(struct gw_daemon *d, const struct gw_config *cfg)
{
    struct gw_audit_writer_config ac;
    char listen[256];
    char *spool = spool_path(cfg);
    int rc;

    if (spool == NULL) {
        return GW_ERR_NOMEM;
    }
    memset(&ac, 0, sizeof(ac));
    ac.db_path = d->db_path;
    ac.spool_path = spool;
    ac.spool_max = (uint64_t)cfg->audit_spool_size;
    ac.queue_max = (size_t)cfg->audit_queue_size;
    ac.chunk_queue_max = (size_t)cfg->recording_queue_size;
    ac.fail_open = cfg->audit_failure_continue;
    ac.grace_ms = (int64_t)cfg->audit_failure_grace * 1000;
    ac.node = gw_node_name();
    listen_text(cfg, listen, sizeof(listen));
    ac.listen = listen;
    ac.lost_after_ms = (int64_t)cfg->node_lost_after * 1000;
    ac.started_ms = gw_time_wall_ms();
    ac.close_orphans = true;
    ac.run_prefix = gw_node_run_prefix();
    ac.export_sinks = &cfg->event_export;
    ac.export_queue_max = (size_t)cfg->export_queue_size;
    rc = gw_audit_writer_start(&ac, &d->audit);
    free(spool);
    return rc;
}

static int start_workers(struct gw_service *rt, const struct gw_config *cfg)
{
    struct gw_daemon *d = &rt->daemon;
    struct gw_pool_opts po;
    int rc;

    gw_node_set_name(cfg->node_name);
    rc = gw_limits_new(LIMITS_MAX_SOURCES, &d->limits);
    if (rc == GW_OK) {
        rc = start_audit(d, cfg);
    }
    if (rc != GW_OK) {
        return rc;
    }
    memset(&po, 0, sizeof(po));
    po.max_threads = (size_t)cfg->max_connections;
    po.stack_size = worker_stack(cfg);
    po.idle_ms = WORKER_IDLE_MS;
    return gw_pool_new(&po, &d->pool);
}

/*
 * The lockout settings in force, on start and after each reload: a warning
 * when one source address could lock a user before its own lockout
 * (docs/configuration.md, "Lockouts"), and lockout_scope into the store's
 * settings, where sshgate-admin reads what a user's lock locks. The row
 * is a report, not a setting: failing to write it only costs the admin
 * that answer. Like the kill polling, the write waits at most the store's
 * busy timeout.
 */
static void apply_lockout(struct gw_service *rt, const struct gw_config *cfg)
{
    long user = cfg->lockout_threshold;
    long source = cfg->source_lockout_threshold;
    const char *scope =
        gw_lockout_scope_name((enum gw_lockout_scope)cfg->lockout_scope);

    if (user > 0 && (source <= 0 || source > user / 2)) {
        gw_log_warn("one source address can reach lockout_threshold = %ld "
                    "before source_lockout_threshold = %ld locks it out; "
                    "keep source_lockout_threshold at most half of "
                    "lockout_threshold (docs/configuration.md, Lockouts)",
                    user, source);
    }
    if (store_setting_set(rt->st, STORE_LOCKOUT_SCOPE_SETTING, scope) !=
        GW_OK) {
        gw_log_warn("cannot record lockout_scope in the database: %s",
                    gw_err_msg());
    }
}

/* The store's access generation into the daemon; true when it moved. A
 * failed read changes nothing (the next poll tries again). */
static bool read_access_gen(struct gw_service *rt)
{
    int64_t gen = 0;

    if (store_access_generation(rt->st, &gen) != GW_OK) {
        gw_log_error("cannot read the access generation: %s", gw_err_msg());
        return false;
    }
    return atomic_exchange(&rt->daemon.access_gen, gen) != gen;
}

static int start(struct gw_service *rt, struct gw_config *cfg)
{
    ssh_bind bind = NULL;
    int rc;

    /* Bind first (port 22 may need root), then give root up before the
     * database is opened or any thread exists. */
    rc = gw_listener_open(cfg, &rt->listener);
    if (rc == GW_OK && cfg->metrics_listen.family != 0) {
        rc = gw_metrics_http_open(&cfg->metrics_listen, &rt->metrics);
    }
    if (rc == GW_OK) {
        rc = gw_drop_privileges(cfg->run_as_user);
    }
    if (rc == GW_OK) {
        rc = gw_service_check_keys(cfg, &rt->st, &bind);
    }
    if (rc == GW_OK) {
        apply_lockout(rt, cfg);
        rc = gw_daemon_init(&rt->daemon, cfg);
        rt->daemon_ready = rc == GW_OK;
    }
    if (rc == GW_OK) {
        read_access_gen(rt);
    }
    if (rc == GW_OK) {
        rc = start_workers(rt, cfg);
    }
    if (rc == GW_OK) {
        rc = gw_listener_start(rt->listener, &rt->daemon, bind);
        bind = NULL; /* transferred */
    }
    if (rc == GW_OK && rt->metrics != NULL) {
        rc = gw_metrics_http_start(rt->metrics, &rt->daemon);
    }
    ssh_bind_free(bind);
    return rc;
}

static void log_change(void *ud, const char *key, const char *old_value,
                       const char *new_value, bool reloadable)
{
    (void)ud;
    if (reloadable) {
        gw_log_info("reload: %s changed from '%s' to '%s'", key, old_value,
                    new_value);
    } else {
        gw_log_warn("reload: %s changed from '%s' to '%s', which needs a "
                    "restart; still using '%s'",
                    key, old_value, new_value, old_value);
    }
}

/* SIGHUP: a new config (and host keys) for connections from now on; a bad
 * one changes nothing. */
static void reload(struct gw_service *rt)
{
    struct gw_config *cfg = NULL;
    struct gw_config *old = gw_daemon_config(&rt->daemon);
    ssh_bind bind = NULL;
    int rc;

    gw_log_info("reloading configuration%s%s",
                rt->opt.config_path != NULL ? " from " : "",
                rt->opt.config_path != NULL ? rt->opt.config_path : "");
    rc = gw_service_load_config(rt, report_log, &cfg);
    if (rc == GW_OK) {
        rc = gw_bind_build(cfg, rt->st, &bind);
        if (rc != GW_OK) {
            gw_log_error("%s", gw_err_msg());
        }
    }
    if (rc != GW_OK) {
        gw_log_error("reload failed; keeping the current configuration");
        gw_config_unref(cfg);
        gw_config_unref(old);
        return;
    }
    gw_config_diff(old, cfg, log_change, NULL);
    gw_log_set_level(cfg->log_level);
    gw_sshlog_thread_init();
    gw_pool_set_max(rt->daemon.pool, (size_t)cfg->max_connections);
    gw_audit_writer_configure(rt->daemon.audit, cfg->audit_failure_continue,
                              (int64_t)cfg->audit_failure_grace * 1000,
                              (size_t)cfg->recording_queue_size);
    gw_audit_writer_reopen_export(rt->daemon.audit);
    gw_listener_set_bind(rt->listener, bind);
    apply_lockout(rt, cfg);
    gw_daemon_publish(&rt->daemon, cfg); /* takes our reference */
    gw_config_unref(old);
    gw_log_info("configuration reloaded");
}

/* Wait for running connections to end on their own, up to grace_s; a
 * second SIGTERM or SIGINT cuts the wait short. */
static void drain_sessions(struct gw_service *rt, long grace_s)
{
    int64_t deadline = gw_now_ms() + (int64_t)grace_s * 1000;
    size_t busy = gw_pool_busy(rt->daemon.pool);

    if (busy > 0) {
        gw_log_info("waiting up to %ld s for %zu connection%s to end", grace_s,
                    busy, busy == 1 ? "" : "s");
    }
    while (busy > 0 && gw_now_ms() < deadline) {
        int sig = next_signal(rt->sigfd, 200);
        if (sig == SIGTERM || sig == SIGINT) {
            gw_log_info("second stop signal: closing connections now");
            break;
        }
        busy = gw_pool_busy(rt->daemon.pool);
    }
}

/* Stop accepting, let sessions finish for shutdown_grace, then close the
 * rest with a reason. false when some thread would not end. */
static bool shutdown_daemon(struct gw_service *rt)
{
    struct gw_config *cfg = gw_daemon_config(&rt->daemon);
    size_t left;

    gw_daemon_set_phase(&rt->daemon, GW_PHASE_DRAINING);
    gw_listener_stop(rt->listener);
    drain_sessions(rt, cfg->shutdown_grace);
    gw_config_unref(cfg);
    left = gw_pool_busy(rt->daemon.pool);
    if (left > 0) {
        gw_log_info("closing %zu connection%s: gateway shutting down", left,
                    left == 1 ? "" : "s");
    }
    gw_daemon_set_phase(&rt->daemon, GW_PHASE_CLOSING);
    gw_daemon_wake_all(&rt->daemon);
    if (gw_pool_stop(rt->daemon.pool, POOL_STOP_MS) != GW_OK) {
        gw_log_error("some connections did not end; exiting anyway");
        return false;
    }
    gw_chain_wait_idle(2000); /* jump hosts' relays (backend/chain.h) */
    return true;
}

static void cleanup(struct gw_service *rt, bool threads_done)
{
    if (!threads_done) {
        return; /* threads may still use everything below */
    }
    gw_metrics_http_free(rt->metrics); /* reads the daemon and the writer */
    gw_listener_free(rt->listener);
    gw_pool_free(rt->daemon.pool);
    gw_audit_writer_stop(rt->daemon.audit, AUDIT_DRAIN_MS);
    gw_limits_free(rt->daemon.limits);
    if (rt->daemon_ready) {
        gw_daemon_cleanup(&rt->daemon);
    }
    store_close(rt->st);
    if (rt->sigfd >= 0) {
        close(rt->sigfd);
    }
    free(rt->opt.listen);
}

/* One pending kill: to the connection that runs the session, or ended
 * here when no connection of this run has it (its row was left open). */
/* A kill request for session id: to the connection that runs it, or, for
 * a row whose connection is gone, its end straight to the audit writer. */
static void post_kill(struct gw_service *rt, int64_t id)
{
    struct store_session s;
    struct gw_audit_record r;
    struct gw_kill kill = {.id = id};

    memset(&s, 0, sizeof(s));
    if (store_session_get(rt->st, id, &s) != GW_OK) {
        gw_log_error("session kill %lld: %s", (long long)id, gw_err_msg());
        gw_session_row_kill_gone(rt->daemon.audit, id);
        return;
    }
    kill.channel = s.channel;
    if (s.ended_at[0] == '\0' &&
        gw_daemon_post_kill(&rt->daemon, s.conn_uid, &kill)) {
        goto out; /* the connection marks it done */
    }
    if (s.ended_at[0] != '\0') {
        gw_session_row_kill_gone(rt->daemon.audit, id);
        goto out;
    }
    /* Open in the store, but no connection of ours runs it any more. */
    gw_audit_record_init(&r, GW_AUDIT_SESSION_END);
    r.conn_uid = strdup(s.conn_uid);
    r.channel = s.channel;
    r.reason = strdup("killed by admin");
    r.kill_done = true;
    if (r.conn_uid == NULL || r.reason == NULL ||
        gw_audit_submit(rt->daemon.audit, &r) != GW_OK) {
        gw_audit_record_clear(&r);
        gw_log_error("session kill %lld: the audit queue is full",
                     (long long)id);
    }
out:
    store_session_clear(&s);
}

/* "sshgate-admin session kill" writes a request; this thread polls. */
static void poll_kills(struct gw_service *rt)
{
    int64_t *ids = NULL;
    size_t n = 0;

    if (store_session_pending_kills(rt->st, gw_node_name(), &ids, &n) !=
        GW_OK) {
        gw_log_error("cannot read the session kill requests: %s", gw_err_msg());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        post_kill(rt, ids[i]);
    }
    free(ids);
}

/* "session kill --conn" and "user kick" write a request; this thread
 * polls and asks the connections to end. A request for a connection of
 * this run that is gone is done too: it has ended. */
static void poll_conn_kills(struct gw_service *rt)
{
    struct store_conn_kill *kills = NULL;
    size_t n = 0;

    if (store_conn_kills_pending(rt->st, gw_node_name(), gw_node_run_prefix(),
                                 &kills, &n) != GW_OK) {
        gw_log_error("cannot read the connection kill requests: %s",
                     gw_err_msg());
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_conn_kill *k = &kills[i];
        size_t ended = gw_daemon_post_end(
            &rt->daemon, k->conn_uid[0] != '\0' ? k->conn_uid : NULL,
            k->user[0] != '\0' ? k->user : NULL);
        gw_log_info("admin request to end %s%s: %zu connection(s)",
                    k->conn_uid[0] != '\0' ? "connection " : "the user ",
                    k->conn_uid[0] != '\0' ? k->conn_uid : k->user, ended);
        if (store_conn_kill_done(rt->st, k->id) != GW_OK) {
            gw_log_error("cannot mark a connection kill handled: %s",
                         gw_err_msg());
        }
    }
    free(kills);
}

/* Every admin change bumps the access generation: when it moved, every
 * connection checks its access again (gateway/conn/access.h). */
static void poll_access(struct gw_service *rt)
{
    if (read_access_gen(rt)) {
        gw_daemon_post_recheck(&rt->daemon);
    }
}

static int serve(struct gw_service *rt)
{
    int sig = 0;

    gw_log_info("sshgated %s started (pid %ld)", SSHGATE_VERSION,
                (long)getpid());
    while (sig != SIGTERM && sig != SIGINT) {
        sig = next_signal(rt->sigfd, KILL_POLL_MS);
        if (sig == SIGHUP) {
            reload(rt);
        } else if (sig == 0) {
            poll_kills(rt);
            poll_conn_kills(rt);
            poll_access(rt);
        }
    }
    gw_log_info("received %s: shutting down",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return shutdown_daemon(rt) ? 0 : 1;
}

/* A start-up failure: to the log, and to stderr too when logging goes to
 * syslog, so that whoever started the daemon sees it. */
static void fatal(const struct gw_service_options *opt, const char *msg)
{
    gw_log_error("%s", msg);
    if (!opt->foreground) {
        fprintf(stderr, "sshgated: %s\n", msg);
    }
}

int gw_service_run(struct gw_service *rt)
{
    struct gw_config *cfg = NULL;
    bool threads_done = true;
    int rc = 1;

    gw_log_init("sshgated", !rt->opt.foreground, GW_LOG_INFO);
    if (gw_service_load_config(rt, gw_service_report_stderr, &cfg) != GW_OK) {
        return 1;
    }
    gw_log_set_level(cfg->log_level);
    gw_sshlog_thread_init();
    raise_fd_limit(cfg);
    if (setup_signals(&rt->sigfd) != GW_OK || start(rt, cfg) != GW_OK) {
        fatal(&rt->opt, gw_err_msg());
    } else {
        rc = serve(rt);
        threads_done = rc == 0;
        rt->threads_alive = !threads_done;
        gw_log_info("stopped");
    }
    cleanup(rt, threads_done);
    gw_config_unref(cfg);
    return rc;
}
