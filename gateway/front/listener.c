#include "gateway/front/listener.h"

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/pool.h"
#include "core/timeutil.h"
#include "gateway/audit/writer.h"
#include "gateway/conn/conn.h"
#include "gateway/daemon/limits.h"
#include "gateway/daemon/metrics.h"
#include "gateway/front/admission.h"
#include "gateway/front/proxy_wait.h"
#include "gateway/front/refuse.h"
#include "gateway/front/refusal_log.h"
#include "gateway/daemon/sshlog.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_MAX   16
#define LINGER_MAX   256   /* refused sockets waiting for the client to go */
#define LINGER_MS    2000  /* longest such wait */
#define ACCEPT_BURST 64    /* accepts per socket per wake-up, for fairness */
#define PAUSE_MS     100   /* back-off after running out of descriptors */
#define SWEEP_MS     10000 /* how often idle limit entries are dropped */
#define POLL_MS      1000

struct lingering {
    int fd;
    int64_t deadline_ms;
};

struct gw_listener {
    struct gw_daemon *daemon;
    int fds[LISTEN_MAX];
    char names[LISTEN_MAX][GW_ADDR_TEXT_MAX];
    size_t nfds;
    int wake_fd;
    int spare_fd; /* given up when out of descriptors, see accept_burst */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards next_bind */
    ssh_bind next_bind;
    ssh_bind bind;
    struct lingering lingers[LINGER_MAX];
    size_t nlinger;
    int64_t paused_until_ms;
    int64_t next_sweep_ms;
    struct gw_refusal_log *rlog; /* what refusals leave in log and audit */
    struct gw_proxy_wait pwait;  /* sockets waiting for a PROXY header */
};

/* ---- sockets ---------------------------------------------------------- */

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

/* Bind and listen on addr. GW_OK, or GW_ERR_IO with errno set. */
static int open_socket(const struct gw_addr *addr, long backlog, int *out)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int fd = -1;
    int saved;

    gw_addr_to_sockaddr(addr, &ss, &len);
    fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return GW_ERR_IO;
    }
    if (set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
        goto fail;
    }
    /* [::] must not also take IPv4: 0.0.0.0 has its own socket. */
    if (addr->family == AF_INET6 &&
        set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) != 0) {
        goto fail;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        goto fail;
    }
    if (listen(fd, (int)backlog) != 0) {
        goto fail;
    }
    *out = fd;
    return GW_OK;
fail:
    saved = errno;
    close(fd);
    errno = saved;
    return GW_ERR_IO;
}

static bool is_v6_wildcard(const struct gw_addr *addr)
{
    static const uint8_t zero[16] = {0};

    return addr->family == AF_INET6 && memcmp(addr->bytes, zero, 16) == 0;
}

static void close_sockets(struct gw_listener *l)
{
    for (size_t i = 0; i < l->nfds; i++) {
        if (l->fds[i] >= 0) {
            close(l->fds[i]);
            l->fds[i] = -1;
        }
    }
}

/* Open one address; a wildcard IPv6 address on a host without IPv6 is
 * skipped with a warning so that the default listen list works there. */
static int open_one(struct gw_listener *l, const struct gw_addr *addr,
                    long backlog)
{
    char name[GW_ADDR_TEXT_MAX];
    int fd = -1;

    gw_addr_format(addr, name);
    if (open_socket(addr, backlog, &fd) != GW_OK) {
        if (is_v6_wildcard(addr) &&
            (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
            gw_log_warn("not listening on %s: no IPv6 here", name);
            return GW_OK;
        }
        return gw_err_set(GW_ERR_IO, "cannot listen on %s: %s", name,
                          strerror(errno));
    }
    l->fds[l->nfds] = fd;
    memcpy(l->names[l->nfds], name, sizeof(name));
    l->nfds++;
    return GW_OK;
}

int gw_listener_open(const struct gw_config *cfg, struct gw_listener **out)
{
    struct gw_listener *l = calloc(1, sizeof(*l));
    int rc = GW_OK;

    if (l == NULL) {
        return GW_ERR_NOMEM;
    }
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&l->lock, NULL);
    atomic_init(&l->stop, false);
    for (size_t i = 0; i < cfg->listen.n && i < LISTEN_MAX && rc == GW_OK;
         i++) {
        rc = open_one(l, &cfg->listen.addrs[i], cfg->backlog);
    }
    if (rc == GW_OK && (l->nfds == 0 || l->wake_fd < 0)) {
        rc = gw_err_set(GW_ERR_IO, "no address to listen on");
    }
    if (rc != GW_OK) {
        gw_listener_free(l);
        return rc;
    }
    for (size_t i = 0; i < l->nfds; i++) {
        gw_log_info("listening on %s", l->names[i]);
    }
    *out = l;
    return GW_OK;
}

/* ---- refusing --------------------------------------------------------- */

static void close_lingering(struct gw_listener *l, size_t i)
{
    close(l->lingers[i].fd);
    l->lingers[i] = l->lingers[--l->nlinger];
}

/* Read and drop whatever the client sent. True when it has gone. */
static bool drain_client_input(int fd)
{
    char buf[1024];

    for (int i = 0; i < 16; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            return true;
        }
        if (n < 0) {
            return false;
        }
    }
    return false;
}

/*
 * Send the version line and the disconnect, then half-close. The socket
 * stays open (drained) until the client closes or LINGER_MS pass: closing
 * it with unread input would send a reset, which can make the client lose
 * the disconnect message before it reads it.
 */
static void refuse_and_linger(struct gw_listener *l, int fd,
                              const char *version, const struct gw_refusal *why,
                              int64_t now_ms)
{
    uint8_t msg[GW_REFUSAL_MAX];
    size_t len = 0;
    ssize_t sent;

    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
    if (gw_refusal_build(version, why->code, why->text, msg, &len) == GW_OK) {
        sent = send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)sent; /* a fresh socket's buffer takes it; if not, too bad */
    }
    (void)shutdown(fd, SHUT_WR);
    if (drain_client_input(fd) || l->nlinger == LINGER_MAX) {
        close(fd);
        return;
    }
    l->lingers[l->nlinger].fd = fd;
    l->lingers[l->nlinger].deadline_ms = now_ms + LINGER_MS;
    l->nlinger++;
}

static void refuse_logged(struct gw_listener *l, int fd,
                          const struct gw_config *cfg,
                          const struct gw_addr *peer,
                          const struct gw_refusal *why, int64_t now_ms)
{
    gw_metrics_refused(why->reason);
    gw_refusal_log_refused(l->rlog, peer, why->reason, why->text, now_ms);
    refuse_and_linger(l, fd, cfg->server_version, why, now_ms);
}

/* ---- handing over ----------------------------------------------------- */

static void tune_socket(int fd)
{
    /* libssh's SSH_OPTIONS_NODELAY only reaches sockets it connects. */
    if (gw_net_set_nodelay(fd) != GW_OK) {
        gw_log_debug("cannot tune socket: %s", strerror(errno));
    }
    /* TCP keepalive is a backstop for the SSH-level liveness check. */
    if (gw_net_set_keepalive(fd, 60, 15, 4) != GW_OK) {
        gw_log_debug("cannot tune socket: %s", strerror(errno));
    }
}

/*
 * Give fd to a worker as a libssh session. GW_OK when the fd is no longer
 * the caller's (a worker has it, or it was closed after a failure, the
 * limits slot released with it); GW_AGAIN when the fd and the slot are
 * still the caller's.
 */
static int hand_off(struct gw_listener *l, struct gw_config *cfg, int fd,
                    const struct gw_addr *peer, const struct gw_addr *source,
                    int64_t now_ms)
{
    ssh_session session = ssh_new();
    struct gw_conn *conn = NULL;
    bool owned = false;

    if (session == NULL) {
        return GW_AGAIN;
    }
    if (ssh_bind_accept_fd(l->bind, session, fd) != SSH_OK) {
        gw_refusal_log_error(l->rlog, "cannot set up a session",
                             ssh_get_error(l->bind), now_ms);
        owned = ssh_get_fd(session) == fd;
        ssh_free(session);
        if (owned) {
            gw_limits_release(l->daemon->limits, source);
            return GW_OK;
        }
        return GW_AGAIN;
    }
    if (gw_conn_new(l->daemon, session, peer, source, cfg, now_ms, &conn) !=
        GW_OK) {
        ssh_free(session); /* closes fd */
        gw_limits_release(l->daemon->limits, source);
        return GW_OK;
    }
    if (gw_pool_submit(l->daemon->pool, gw_conn_run, conn) != GW_OK) {
        gw_refusal_log_error(l->rlog, "cannot hand a connection over",
                             "no worker thread", now_ms);
        gw_conn_discard(conn); /* closes fd, releases the slot */
    }
    return GW_OK;
}

/* Admit a connection from peer (the client's address, the one a PROXY
 * header named when there was one) and hand it over, or refuse it. */
static void admit(struct gw_listener *l, struct gw_config *cfg, int fd,
                  const struct gw_addr *peer, int64_t now_ms)
{
    char peer_text[GW_ADDR_TEXT_MAX];
    struct gw_refusal why;
    struct gw_addr source;

    gw_addr_format(peer, peer_text);
    if (gw_admission_check(l->daemon, cfg, peer, now_ms, &source, &why) !=
        GW_OK) {
        refuse_logged(l, fd, cfg, peer, &why, now_ms);
        return;
    }
    tune_socket(fd);
    gw_log_verbose("connection from %s", peer_text);
    if (hand_off(l, cfg, fd, peer, &source, now_ms) != GW_OK) {
        gw_limits_release(l->daemon->limits, &source);
        refuse_logged(l, fd, cfg, peer, &gw_refused_busy, now_ms);
    }
}

/* gw_proxy_done_fn: a waiting socket's header came, or did not. */
static void proxy_done(void *ud, int fd, const struct gw_addr *proxy,
                       const struct gw_addr *client, int64_t now_ms)
{
    struct gw_listener *l = ud;
    struct gw_config *cfg = gw_daemon_config(l->daemon);

    if (client != NULL) {
        admit(l, cfg, fd, client, now_ms);
    } else {
        refuse_logged(l, fd, cfg, proxy, &gw_refused_proxy_header, now_ms);
    }
    gw_config_unref(cfg);
}

static void accept_one(struct gw_listener *l, int fd,
                       const struct sockaddr_storage *ss, socklen_t len,
                       int64_t now_ms)
{
    struct gw_config *cfg = gw_daemon_config(l->daemon);
    struct gw_addr peer;

    if (gw_addr_from_sockaddr((const struct sockaddr *)ss, len, &peer) !=
        GW_OK) {
        close(fd);
    } else if (cfg->proxy_protocol == GW_PROXY_OFF) {
        admit(l, cfg, fd, &peer, now_ms);
    } else if (!gw_cidr_list_match(&cfg->proxy_trusted, &peer)) {
        refuse_logged(l, fd, cfg, &peer, &gw_refused_untrusted_proxy, now_ms);
    } else if (gw_proxy_wait_add(&l->pwait, fd, &peer, now_ms) != GW_OK) {
        refuse_logged(l, fd, cfg, &peer, &gw_refused_busy, now_ms);
    }
    gw_config_unref(cfg);
}

/* Accept what is waiting on listening socket lfd. */
static void accept_burst(struct gw_listener *l, int lfd, int64_t now_ms)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(l, fd, &ss, len, now_ms);
            continue;
        }
        if (errno == EMFILE && l->spare_fd >= 0) {
            /* Out of descriptors: the spare one makes room to take the
             * client off the queue and close it at once, so that it
             * sees the connection end instead of hanging until its own
             * timeout. */
            gw_refusal_log_error(l->rlog,
                                 "cannot accept, closing new connections "
                                 "until some end",
                                 strerror(errno), now_ms);
            close(l->spare_fd);
            fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                close(fd);
            }
            l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            l->paused_until_ms = now_ms + PAUSE_MS;
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                   errno == ENOMEM) {
            /* The socket stays readable; pause instead of spinning. */
            gw_refusal_log_error(l->rlog, "cannot accept", strerror(errno),
                                 now_ms);
            l->paused_until_ms = now_ms + PAUSE_MS;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                   errno != ECONNABORTED) {
            gw_refusal_log_error(l->rlog, "accept failed", strerror(errno),
                                 now_ms);
        }
        return;
    }
}

/* ---- the thread ------------------------------------------------------- */

/* Take over a bind handed in by a reload. */
static void swap_bind(struct gw_listener *l)
{
    ssh_bind next = NULL;

    pthread_mutex_lock(&l->lock);
    next = l->next_bind;
    l->next_bind = NULL;
    pthread_mutex_unlock(&l->lock);
    if (next != NULL) {
        ssh_bind_free(l->bind);
        l->bind = next;
        gw_sshlog_thread_init(); /* the log level may have changed */
    }
}

static void service_lingers(struct gw_listener *l, const struct pollfd *pfds,
                            size_t first, size_t n, int64_t now_ms)
{
    /* Walk backwards: close_lingering moves the last entry into the hole. */
    for (size_t k = n; k > 0; k--) {
        size_t i = k - 1;
        bool gone = false;
        if (pfds[first + i].revents != 0) {
            gone = drain_client_input(l->lingers[i].fd);
        }
        if (gone || now_ms >= l->lingers[i].deadline_ms) {
            close_lingering(l, i);
        }
    }
}

static size_t fill_pollfds(struct gw_listener *l, struct pollfd *pfds,
                           int64_t now_ms)
{
    size_t n = 0;

    pfds[n].fd = l->wake_fd;
    pfds[n++].events = POLLIN;
    for (size_t i = 0; i < l->nfds; i++) {
        pfds[n].fd = now_ms >= l->paused_until_ms ? l->fds[i] : -1;
        pfds[n++].events = POLLIN;
    }
    for (size_t i = 0; i < l->nlinger; i++) {
        pfds[n].fd = l->lingers[i].fd;
        pfds[n++].events = POLLIN;
    }
    n += gw_proxy_wait_fill(&l->pwait, pfds + n);
    return n;
}

static void listener_round(struct gw_listener *l, struct pollfd *pfds)
{
    int64_t now_ms = gw_now_ms();
    size_t n = fill_pollfds(l, pfds, now_ms);
    size_t nlinger = l->nlinger;
    size_t nwait = l->pwait.n;
    struct gw_config *cfg = gw_daemon_config(l->daemon);
    enum gw_proxy_mode mode = (enum gw_proxy_mode)cfg->proxy_protocol;
    eventfd_t ignored;

    /* Every round, so that a reload applies to the next refusal. */
    gw_refusal_log_tick(l->rlog, cfg->refusal_summary_interval, now_ms);
    gw_config_unref(cfg);
    for (size_t i = 0; i < n; i++) {
        pfds[i].revents = 0;
    }
    if (poll(pfds, (nfds_t)n, l->nlinger + nwait > 0 ? 200 : POLL_MS) < 0 &&
        errno != EINTR) {
        gw_log_error("poll failed: %s", strerror(errno));
    }
    now_ms = gw_now_ms();
    if (pfds[0].revents != 0) {
        (void)eventfd_read(l->wake_fd, &ignored);
    }
    service_lingers(l, pfds, 1 + l->nfds, nlinger, now_ms);
    swap_bind(l); /* before proxy_done hands sockets over */
    gw_proxy_wait_service(&l->pwait, pfds + 1 + l->nfds + nlinger, nwait, mode,
                          now_ms, proxy_done, l);
    for (size_t i = 0; i < l->nfds && !atomic_load(&l->stop); i++) {
        if (pfds[1 + i].revents & POLLIN) {
            accept_burst(l, l->fds[i], now_ms);
        }
    }
    if (now_ms >= l->next_sweep_ms) {
        gw_limits_sweep(l->daemon->limits, now_ms);
        l->next_sweep_ms = now_ms + SWEEP_MS;
    }
}

static void *listener_main(void *arg)
{
    struct gw_listener *l = arg;
    struct pollfd pfds[1 + LISTEN_MAX + LINGER_MAX + GW_PROXY_WAIT_MAX];

    gw_log_set_context("listener");
    gw_sshlog_thread_init();
    while (!atomic_load(&l->stop)) {
        listener_round(l, pfds);
    }
    gw_metrics_set_listener_up(false);
    gw_refusal_log_flush_all(l->rlog,
                             gw_now_ms()); /* before the audit writer stops */
    while (l->nlinger > 0) {
        close_lingering(l, l->nlinger - 1);
    }
    gw_proxy_wait_close_all(&l->pwait);
    return NULL;
}

int gw_listener_start(struct gw_listener *l, struct gw_daemon *d, ssh_bind bind)
{
    l->daemon = d;
    l->bind = bind;
    if (gw_refusal_log_new(d->audit, &l->rlog) != GW_OK ||
        pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        l->bind = NULL;
        ssh_bind_free(bind);
        return gw_err_set(GW_ERR, "cannot start the listener thread");
    }
    l->started = true;
    gw_metrics_set_listener_up(true); /* until the thread's loop ends */
    return GW_OK;
}

void gw_listener_set_bind(struct gw_listener *l, ssh_bind bind)
{
    ssh_bind old = NULL;

    pthread_mutex_lock(&l->lock);
    old = l->next_bind;
    l->next_bind = bind;
    pthread_mutex_unlock(&l->lock);
    ssh_bind_free(old); /* never used by the listener */
    (void)eventfd_write(l->wake_fd, 1);
}

void gw_listener_stop(struct gw_listener *l)
{
    if (l == NULL || !l->started) {
        return;
    }
    atomic_store(&l->stop, true);
    (void)eventfd_write(l->wake_fd, 1);
    pthread_join(l->thread, NULL);
    l->started = false;
    close_sockets(l);
    for (size_t i = 0; i < l->nfds; i++) {
        gw_log_info("stopped listening on %s", l->names[i]);
    }
}

void gw_listener_free(struct gw_listener *l)
{
    if (l == NULL) {
        return;
    }
    gw_listener_stop(l);
    close_sockets(l);
    if (l->spare_fd >= 0) {
        close(l->spare_fd);
    }
    if (l->wake_fd >= 0) {
        close(l->wake_fd);
    }
    ssh_bind_free(l->bind);
    ssh_bind_free(l->next_bind);
    gw_refusal_log_free(l->rlog);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
