#include "backend/chain.h"

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes held per direction by a relay thread. */
#define HOP_BUF 32768

static atomic_int live_threads;

/* One hop's relay: its session and channel, and our end of the pair. */
struct hop_link {
    ssh_session s;
    ssh_channel ch;
    int sock;
    char up[HOP_BUF]; /* read from sock, for the channel */
    size_t up_len;
    size_t up_off;
    char down[HOP_BUF]; /* read from the channel, for sock */
    size_t down_len;
    size_t down_off;
    bool sock_eof; /* sock said EOF */
    bool chan_eof; /* the channel said EOF, all read */
    bool eof_sent; /* EOF passed to the channel */
    bool shut;     /* EOF passed to sock */
    bool moved;    /* this round moved something */
};

/* Channel to sock. false when the link is broken. */
static bool move_down(struct hop_link *l)
{
    if (l->down_len == 0 && !l->chan_eof) {
        int n =
            ssh_channel_read_nonblocking(l->ch, l->down, sizeof(l->down), 0);
        if (n == SSH_ERROR) {
            return false;
        }
        if (n > 0) {
            l->down_len = (size_t)n;
            l->down_off = 0;
            l->moved = true;
        } else if (ssh_channel_is_eof(l->ch)) {
            l->chan_eof = true;
        }
    }
    while (l->down_len > 0) {
        ssize_t w = send(l->sock, l->down + l->down_off, l->down_len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        l->down_off += (size_t)w;
        l->down_len -= (size_t)w;
    }
    if (l->chan_eof && !l->shut) {
        (void)shutdown(l->sock, SHUT_WR);
        l->shut = true;
    }
    return true;
}

/* Sock to channel, within the channel's window. */
static bool move_up(struct hop_link *l)
{
    if (l->up_len == 0 && !l->sock_eof) {
        ssize_t n = recv(l->sock, l->up, sizeof(l->up), MSG_DONTWAIT);
        if (n == 0) {
            l->sock_eof = true;
        } else if (n > 0) {
            l->up_len = (size_t)n;
            l->up_off = 0;
            l->moved = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return false;
        }
    }
    if (l->up_len > 0) {
        uint32_t win = ssh_channel_window_size(l->ch);
        size_t len = l->up_len < win ? l->up_len : win;
        if (len > 0) {
            int w = ssh_channel_write(l->ch, l->up + l->up_off, (uint32_t)len);
            if (w == SSH_ERROR) {
                return false;
            }
            l->up_off += (size_t)w;
            l->up_len -= (size_t)w;
        }
    }
    if (l->sock_eof && l->up_len == 0 && !l->eof_sent) {
        ssh_channel_send_eof(l->ch);
        l->eof_sent = true;
    }
    return true;
}

static bool link_done(struct hop_link *l)
{
    int status = ssh_get_status(l->s);

    if ((status & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0 ||
        ssh_channel_is_closed(l->ch)) {
        return true;
    }
    return l->chan_eof && l->shut && l->eof_sent;
}

/* Wait for either side, at most a second (then look again anyway); not
 * at all when the last round moved data or libssh holds some already
 * (read from the socket while it wrote), which no poll would show. */
static void link_wait(struct hop_link *l, ssh_event ev)
{
    struct pollfd p[2] = {
        {.fd = ssh_get_fd(l->s),
         .events = (short)(POLLIN |
                           ((ssh_get_status(l->s) & SSH_WRITE_PENDING) ? POLLOUT
                                                                       : 0))},
        {.fd = l->sock,
         .events = (short)((l->up_len == 0 && !l->sock_eof ? POLLIN : 0) |
                           (l->down_len > 0 ? POLLOUT : 0))},
    };

    if (l->moved ||
        (l->down_len == 0 && !l->chan_eof && ssh_channel_poll(l->ch, 0) != 0)) {
        return;
    }
    if (poll(p, 2, 1000) > 0 && p[0].revents != 0) {
        ssh_event_dopoll(ev, 0);
    }
}

static void *link_main(void *arg)
{
    struct hop_link *l = arg;
    ssh_event ev = ssh_event_new();

    ssh_set_blocking(l->s, 0);
    if (ev != NULL && ssh_event_add_session(ev, l->s) == SSH_OK) {
        for (;;) {
            l->moved = false;
            if (!move_down(l) || !move_up(l) || link_done(l)) {
                break;
            }
            link_wait(l, ev);
        }
    }
    close(l->sock); /* the next hop's session sees the end */
    if (ev != NULL) {
        ssh_event_remove_session(ev, l->s);
        ssh_event_free(ev);
    }
    ssh_channel_free(l->ch);
    gw_backend_close(l->s); /* and the previous hop's pair with it */
    free(l);
    atomic_fetch_sub(&live_threads, 1);
    return NULL;
}

/* Hand the hop's session and channel to a relay thread; *fd_out: the
 * stream for the next session. */
static int start_link(ssh_session s, ssh_channel ch, int *fd_out)
{
    struct hop_link *l = calloc(1, sizeof(*l));
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all;
    sigset_t old;
    int sp[2];
    int rc;

    if (l == NULL) {
        return GW_ERR_NOMEM;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sp) != 0) {
        free(l);
        return gw_err_set(GW_ERR_IO, "socketpair: %s", strerror(errno));
    }
    l->s = s;
    l->ch = ch;
    l->sock = sp[0];
    atomic_fetch_add(&live_threads, 1);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* No signal of the daemon's may land on it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&thread, &attr, link_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&live_threads, 1);
        close(sp[0]);
        close(sp[1]);
        free(l);
        return gw_err_set(GW_ERR_NOMEM, "no thread for a jump host");
    }
    *fd_out = sp[1];
    return GW_OK;
}

/* The hop's channel to address:port (blocking, within its timeout). */
static int open_channel(struct gw_backend_hop *hop, ssh_session s,
                        const char *address, uint16_t port, ssh_channel *out)
{
    ssh_channel ch = ssh_channel_new(s);
    int rc = ch != NULL
                 ? ssh_channel_open_forward(ch, address, port, "127.0.0.1", 0)
                 : SSH_ERROR;

    if (rc == SSH_OK) {
        *out = ch;
        return GW_OK;
    }
    snprintf(hop->res.message, sizeof(hop->res.message),
             "jump host %s cannot reach %s port %u: %s", hop->host.name,
             address, (unsigned)port, ssh_get_error(s));
    hop->res.failure = GW_BACKEND_UNREACHABLE;
    ssh_channel_free(ch);
    return gw_err_set(GW_ERR_IO, "%s", hop->res.message);
}

/* Hop i: its session over *fd (-1: its own route), then its channel to
 * the next hop or the destination; *fd becomes that channel's stream. */
static int dial_hop(struct gw_backend_chain *chain, size_t i,
                    const char *address, uint16_t port, int *fd)
{
    struct gw_backend_hop *hop = &chain->hops[i];
    ssh_session s = NULL;
    ssh_channel ch = NULL;
    int rc;

    hop->tried = true;
    if (*fd < 0) {
        rc = gw_backend_connect(&hop->spec, &s, &hop->res);
    } else {
        memset(&hop->res, 0, sizeof(hop->res));
        rc = gw_backend_connect_fd(&hop->spec, *fd, &s, &hop->res);
    }
    *fd = -1; /* the session took it, or closed it */
    if (rc != GW_OK) {
        return rc;
    }
    if (i == 0) {
        int idle = 15;
        (void)gw_net_set_keepalive(ssh_get_fd(s), idle, idle, 3);
    }
    rc = open_channel(hop, s, address, port, &ch);
    if (rc == GW_OK) {
        rc = start_link(s, ch, fd);
        if (rc != GW_OK) {
            char name[GW_NAME_MAX + 1];
            snprintf(name, sizeof(name), "%s", hop->host.name);
            hop->res.failure = GW_BACKEND_UNREACHABLE;
            snprintf(hop->res.message, sizeof(hop->res.message),
                     "jump host %s: %.200s", name, gw_err_msg());
            ssh_channel_free(ch);
        }
    }
    if (rc != GW_OK) {
        gw_backend_close(s);
    }
    return rc;
}

int gw_chain_dial(struct gw_backend_chain *chain, const char *host_name,
                  const char *address, uint16_t port, int *fd_out,
                  struct gw_backend_result *res)
{
    int fd = -1;

    *fd_out = -1;
    for (size_t i = 0; i < chain->n; i++) {
        const char *next =
            i + 1 < chain->n ? chain->hops[i + 1].host.address : address;
        uint16_t next_port =
            i + 1 < chain->n ? chain->hops[i + 1].host.port : port;
        int rc = dial_hop(chain, i, next, next_port, &fd);
        if (rc != GW_OK) {
            const struct gw_backend_hop *hop = &chain->hops[i];
            res->failure = hop->res.failure;
            snprintf(res->hop, sizeof(res->hop), "%s", hop->host.name);
            snprintf(res->message, sizeof(res->message),
                     "%.300s (jump host to %.64s)", hop->res.message,
                     host_name);
            return gw_err_set(rc, "%s", res->message);
        }
    }
    *fd_out = fd;
    return GW_OK;
}

void gw_chain_free(struct gw_backend_chain *chain)
{
    if (chain == NULL) {
        return;
    }
    for (size_t i = 0; i < chain->n; i++) {
        struct gw_backend_hop *hop = &chain->hops[i];
        gw_backend_creds_clear(&hop->creds);
        gw_backend_result_clear(&hop->res);
        store_host_clear(&hop->host);
    }
    free(chain);
}

int gw_chain_threads(void)
{
    return atomic_load(&live_threads);
}

void gw_chain_wait_idle(int timeout_ms)
{
    int64_t until = gw_now_ms() + timeout_ms;

    while (atomic_load(&live_threads) > 0 && gw_now_ms() < until) {
        usleep(10000);
    }
}
