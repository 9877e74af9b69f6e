#include "gateway/chan/relay.h"

#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Read everything libssh buffered (> 0, <= n) and reopen the window to
 * w->size (struct gw_win says why this works); 0 when it is not the time
 * for it or the buffer holds more than n, then nothing was read. */
static int read_topping_up(ssh_channel src, char *buf, size_t n,
                           struct gw_win *w)
{
    int buffered;

    if (w == NULL || (w->topped && w->used < w->size / 8) ||
        ssh_channel_is_eof(src)) {
        return 0;
    }
    /* Only what is already buffered: this runs no packets when it is > 0,
     * and then neither does the read below, which copies all of it. */
    buffered = ssh_channel_poll(src, 0);
    if (buffered <= 0 || (size_t)buffered > n) {
        return 0;
    }
    w->used = 0;
    w->topped = true;
    return ssh_channel_read_timeout(src, buf, (uint32_t)buffered + w->size, 0,
                                    0);
}

/* Read n (> 0, <= *avail) bytes of one stream; returns what was read, 0
 * when libssh had less than we thought (then *avail is reset), or -1.
 * With w (data stream only), a read of all there is also tops up the
 * window. */
static int read_some(ssh_channel src, uint32_t *avail, char *buf, size_t n,
                     bool is_stderr, struct gw_win *w)
{
    int r = is_stderr || n < *avail ? 0 : read_topping_up(src, buf, n, w);

    if (r == 0) {
        r = ssh_channel_read_nonblocking(src, buf, (uint32_t)n,
                                         is_stderr ? 1 : 0);
        if (r > 0 && w != NULL && !is_stderr) {
            /* saturating: only "an eighth of size or more" matters */
            w->used = w->used > UINT32_MAX - (uint32_t)r
                          ? UINT32_MAX
                          : w->used + (uint32_t)r;
        }
    }
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        *avail = 0;
        return 0;
    }
    *avail -= (uint32_t)r <= *avail ? (uint32_t)r : *avail;
    return r;
}

/* Write to a channel without blocking: the bytes it took (all of them
 * within the window, none during a key re-exchange), or -1. */
static int chan_write(ssh_channel dst, const char *buf, size_t len,
                      bool is_stderr)
{
    int w = is_stderr ? ssh_channel_write_stderr(dst, buf, (uint32_t)len)
                      : ssh_channel_write(dst, buf, (uint32_t)len);

    return w < 0 ? -1 : w;
}

/* What a channel did not take goes to pend. GW_OK (all taken), GW_AGAIN
 * (some kept), GW_ERR_IO, GW_ERR_NOMEM. */
static int chan_put(ssh_channel dst, const char *buf, size_t len,
                    bool is_stderr, struct gw_pend *pend, size_t cap)
{
    int w = chan_write(dst, buf, len, is_stderr);
    int rc;

    if (w < 0) {
        return GW_ERR_IO;
    }
    if ((size_t)w == len) {
        return GW_OK;
    }
    rc = gw_pend_keep(pend, buf + w, len - (size_t)w, cap);
    return rc == GW_OK ? GW_AGAIN : rc;
}

int gw_relay_chan(ssh_channel src, uint32_t *avail, struct gw_win *win,
                  ssh_channel dst, bool is_stderr, struct gw_pend *pend,
                  const struct gw_scratch *s, size_t budget, uint64_t *moved)
{
    size_t done = 0;
    int rc = gw_pend_flush_chan(pend, dst, is_stderr);

    if (rc != GW_OK) {
        return rc == GW_AGAIN ? GW_OK : rc;
    }
    while (*avail > 0) {
        size_t n = min_size(*avail, ssh_channel_window_size(dst));
        int r;
        n = min_size(min_size(n, s->len), budget - done);
        if (n == 0) {
            return done >= budget ? GW_AGAIN : GW_OK;
        }
        r = read_some(src, avail, s->buf, n, is_stderr, win);
        if (r <= 0) {
            return r < 0 ? GW_ERR_IO : GW_OK;
        }
        done += (size_t)r;
        *moved += (uint64_t)r;
        if (s->tap != NULL) {
            s->tap(s->tap_userdata, s->buf, (size_t)r);
        }
        rc = chan_put(dst, s->buf, (size_t)r, is_stderr, pend, s->len);
        if (rc != GW_OK) {
            return rc == GW_AGAIN ? GW_OK : GW_ERR_IO;
        }
    }
    return GW_OK;
}

int gw_relay_discard(ssh_channel src, uint32_t *avail, bool is_stderr,
                     const struct gw_scratch *s)
{
    while (*avail > 0) {
        int r = read_some(src, avail, s->buf, min_size(*avail, s->len),
                          is_stderr, NULL);
        if (r <= 0) {
            return r < 0 ? GW_ERR_IO : GW_OK;
        }
    }
    return GW_OK;
}

int gw_relay_sock_to_chan(struct gw_sock *sk, ssh_channel dst,
                          struct gw_pend *pend, const struct gw_scratch *s,
                          size_t budget, uint64_t *moved)
{
    size_t done = 0;
    int rc = gw_pend_flush_chan(pend, dst, false);

    if (rc != GW_OK) {
        return rc == GW_AGAIN ? GW_OK : rc;
    }
    while (!sk->rd_eof && !sk->failed) {
        size_t n = min_size(ssh_channel_window_size(dst), s->len);
        ssize_t r;
        n = min_size(n, budget - done);
        if (n == 0) {
            return done >= budget ? GW_AGAIN : GW_OK;
        }
        r = read(sk->fd, s->buf, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return GW_OK;
        }
        if (r <= 0) {
            sk->rd_eof = r == 0;
            sk->failed = r < 0;
            return GW_OK;
        }
        done += (size_t)r;
        *moved += (uint64_t)r;
        rc = chan_put(dst, s->buf, (size_t)r, false, pend, s->len);
        if (rc != GW_OK) {
            return rc == GW_AGAIN ? GW_OK : GW_ERR_IO;
        }
    }
    return GW_OK;
}

/* Write buf to fd without blocking; the number of bytes taken, or -1. */
static ssize_t write_some(int fd, const char *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t w = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (w < 0) {
            return -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}

int gw_relay_chan_to_sock(ssh_channel src, uint32_t *avail, struct gw_win *win,
                          struct gw_sock *sk, struct gw_pend *pend,
                          const struct gw_scratch *s, size_t budget,
                          uint64_t *moved)
{
    size_t done = 0;
    int rc = gw_pend_flush(pend, sk->fd);

    if (rc != GW_OK) {
        sk->failed = rc == GW_ERR_IO;
        return rc == GW_AGAIN ? GW_OK : rc;
    }
    while (*avail > 0) {
        size_t n = min_size(min_size(*avail, s->len), budget - done);
        ssize_t w;
        int r;
        if (n == 0) {
            return GW_AGAIN;
        }
        r = read_some(src, avail, s->buf, n, false, win);
        if (r <= 0) {
            return r < 0 ? GW_ERR_IO : GW_OK;
        }
        *moved += (uint64_t)r;
        done += (size_t)r;
        w = write_some(sk->fd, s->buf, (size_t)r);
        if (w < 0) {
            sk->failed = true;
            return GW_ERR_IO;
        }
        if (w < r) {
            rc = gw_pend_keep(pend, s->buf + w, (size_t)(r - w), s->len);
            return rc == GW_OK ? GW_OK : GW_ERR_IO;
        }
    }
    return GW_OK;
}

int gw_pend_keep(struct gw_pend *p, const char *data, size_t len, size_t cap)
{
    if (p->data == NULL) {
        p->data = malloc(cap);
        if (p->data == NULL) {
            return GW_ERR_NOMEM;
        }
        p->cap = cap;
        p->off = 0;
        p->len = 0;
    }
    if (p->off > 0 && p->len > 0) {
        memmove(p->data, p->data + p->off, p->len);
    }
    p->off = 0;
    if (len > p->cap - p->len) {
        return GW_ERR_NOMEM; /* callers never offer more than cap */
    }
    memcpy(p->data + p->len, data, len);
    p->len += len;
    return GW_OK;
}

/* Account for w bytes written; the buffer goes once it is empty. */
static int pend_taken(struct gw_pend *p, size_t w)
{
    p->off += w;
    p->len -= w;
    if (p->len > 0) {
        return GW_AGAIN;
    }
    gw_pend_free(p);
    return GW_OK;
}

int gw_pend_flush(struct gw_pend *p, int fd)
{
    ssize_t w;

    if (p->len == 0) {
        return GW_OK;
    }
    w = write_some(fd, p->data + p->off, p->len);
    if (w < 0) {
        return GW_ERR_IO;
    }
    return pend_taken(p, (size_t)w);
}

int gw_pend_flush_chan(struct gw_pend *p, ssh_channel dst, bool is_stderr)
{
    size_t n = min_size(p->len, ssh_channel_window_size(dst));
    int w;

    if (p->len == 0) {
        return GW_OK;
    }
    if (n == 0) {
        return GW_AGAIN;
    }
    w = chan_write(dst, p->data + p->off, n, is_stderr);
    if (w < 0) {
        return GW_ERR_IO;
    }
    return pend_taken(p, (size_t)w);
}

bool gw_win_reserve(struct gw_win *w, int64_t *left, int64_t size)
{
    if (w->size > 0) {
        return true;
    }
    if (w->no_budget || size <= 0 || *left < size) {
        w->no_budget = true; /* not asked again for this channel */
        return false;
    }
    *left -= size;
    w->size = (uint32_t)size;
    return true;
}

void gw_win_release(struct gw_win *w, int64_t *left)
{
    *left += w->size;
    w->size = 0;
}

bool gw_pend_empty(const struct gw_pend *p)
{
    return p->len == 0;
}

void gw_pend_free(struct gw_pend *p)
{
    free(p->data);
    memset(p, 0, sizeof(*p));
}
