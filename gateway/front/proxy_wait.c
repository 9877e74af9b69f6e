#include "gateway/front/proxy_wait.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int gw_proxy_wait_add(struct gw_proxy_wait *w, int fd,
                      const struct gw_addr *proxy, int64_t now_ms)
{
    if (w->n == GW_PROXY_WAIT_MAX) {
        return GW_AGAIN;
    }
    w->items[w->n].fd = fd;
    w->items[w->n].proxy = *proxy;
    w->items[w->n].deadline_ms = now_ms + GW_PROXY_WAIT_MS;
    w->n++;
    return GW_OK;
}

size_t gw_proxy_wait_fill(const struct gw_proxy_wait *w, struct pollfd *pfds)
{
    for (size_t i = 0; i < w->n; i++) {
        pfds[i].fd = w->items[i].fd;
        /* POLLRDHUP: a proxy that closes after half a header leaves the
         * socket readable with the same bytes forever. */
        pfds[i].events = POLLIN | POLLRDHUP;
    }
    return w->n;
}

/* Wake poll only when more than have bytes are waiting, so that a header
 * that comes in pieces does not make the listener spin over the first. */
static void want_more_than(int fd, size_t have)
{
    int lowat = (int)have + 1;

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
}

/*
 * GW_OK with the header taken off the socket; GW_AGAIN while it is not
 * all there; GW_ERR_INVALID (detail in gw_err_msg) for no header;
 * GW_ERR_IO when the client has gone.
 */
static int read_header(int fd, enum gw_proxy_mode mode, bool hangup,
                       struct gw_proxy_header *h)
{
    uint8_t buf[GW_PROXY_MAX];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    ssize_t got = 0;
    int rc = GW_OK;

    if (n == 0) {
        return GW_ERR_IO;
    }
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? GW_AGAIN
                   : GW_ERR_IO;
    }
    rc = gw_proxy_parse(buf, (size_t)n, mode, h);
    if (rc == GW_AGAIN) {
        if (hangup) {
            return GW_ERR_IO; /* the rest will never come */
        }
        want_more_than(fd, (size_t)n);
        return GW_AGAIN;
    }
    if (rc != GW_OK) {
        return rc;
    }
    /* Exactly the header: what follows is the client's SSH version line. */
    got = recv(fd, buf, h->len, MSG_DONTWAIT);
    if (got < 0 || (size_t)got != h->len) {
        return GW_ERR_IO;
    }
    want_more_than(fd, 0); /* libssh's reads wake on any byte */
    return GW_OK;
}

void gw_proxy_wait_service(struct gw_proxy_wait *w, const struct pollfd *pfds,
                           size_t n, enum gw_proxy_mode mode, int64_t now_ms,
                           gw_proxy_done_fn done, void *ud)
{
    char text[GW_ADDR_TEXT_MAX];

    /* Backwards: a finished entry's hole is filled with the last one. */
    for (size_t k = n; k > 0; k--) {
        struct gw_proxy_waiting it = w->items[k - 1];
        struct gw_proxy_header h;
        int rc = GW_AGAIN;

        if (pfds[k - 1].revents != 0) {
            bool hangup =
                (pfds[k - 1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
            rc = read_header(it.fd, mode, hangup, &h);
        }
        if (rc == GW_AGAIN && now_ms < it.deadline_ms) {
            continue;
        }
        w->items[k - 1] = w->items[--w->n];
        gw_addr_format(&it.proxy, text);
        if (rc == GW_OK) {
            done(ud, it.fd, &it.proxy, h.local ? &it.proxy : &h.source, now_ms);
        } else if (rc == GW_ERR_IO) {
            gw_log_verbose("proxy %s closed before its PROXY header", text);
            close(it.fd);
        } else {
            gw_log_verbose("no PROXY header from %s: %s", text,
                           rc == GW_AGAIN ? "none in time" : gw_err_msg());
            done(ud, it.fd, &it.proxy, NULL, now_ms);
        }
    }
}

void gw_proxy_wait_close_all(struct gw_proxy_wait *w)
{
    while (w->n > 0) {
        close(w->items[--w->n].fd);
    }
}
