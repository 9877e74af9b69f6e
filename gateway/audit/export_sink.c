/*
 * One SIEM export sink's file or socket (gateway/audit/export_sink.h).
 */
#include "gateway/audit/export_sink.h"

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Reconnects back off from 1 s to 30 s. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
/* A wait for a full socket looks for the stop this often. */
#define STOP_SLICE_MS 100

/* deadline, or the stop's when that comes first. */
static int64_t cap(const struct gw_export_conn *c, int64_t deadline_ms)
{
    int64_t stop = atomic_load(&c->give_up_ms);

    return stop > 0 && stop < deadline_ms ? stop : deadline_ms;
}

void gw_export_conn_close(struct gw_export_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* A failure of the sink: said once per streak; the next try backs off. */
__attribute__((format(printf, 2, 3))) static void
conn_failed(struct gw_export_conn *c, const char *fmt, ...)
{
    char why[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    gw_export_conn_close(c);
    c->backoff_ms = c->backoff_ms == 0 ? RETRY_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > RETRY_MAX_MS) {
        c->backoff_ms = RETRY_MAX_MS;
    }
    c->next_try_ms = gw_now_ms() + c->backoff_ms;
    if (!c->failing) {
        gw_log_warn("export: %s: %s; events wait in its queue (retrying)",
                    c->spec->text, why);
        c->failing = true;
    }
}

static int open_unix(struct gw_export_conn *c, int type)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -errno;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->spec->path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Open the file or connect the socket. GW_OK, or not (backing off). */
int gw_export_conn_open(struct gw_export_conn *c)
{
    struct gw_net_failure why;
    int64_t deadline = cap(c, gw_now_ms() + GW_EXPORT_CONNECT_MS);
    int fd = -1;
    int rc = GW_OK;

    switch (c->spec->transport) {
    case GW_EXPORT_FILE:
        fd = open(c->spec->path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        fd = fd >= 0 ? fd : -errno;
        break;
    case GW_EXPORT_UNIX:
        fd = open_unix(c, c->spec->format == GW_EXPORT_SYSLOG ? SOCK_DGRAM
                                                              : SOCK_STREAM);
        break;
    case GW_EXPORT_UDP:
        rc = gw_net_connect_udp(c->spec->host, c->spec->port, deadline, &fd,
                                &why);
        break;
    case GW_EXPORT_TCP:
        rc = gw_net_connect(c->spec->host, c->spec->port, deadline, &fd, &why);
        if (rc == GW_OK) {
            (void)gw_net_set_keepalive(fd, 60, 10, 3);
        }
        break;
    }
    if (rc != GW_OK) {
        conn_failed(c, "%s", gw_err_msg());
        return rc;
    }
    if (fd < 0) {
        conn_failed(c, "cannot %s %s: %s",
                    c->spec->transport == GW_EXPORT_FILE ? "open"
                                                         : "connect to",
                    c->spec->path, strerror(-fd));
        return GW_ERR_IO;
    }
    c->fd = fd;
    c->backoff_ms = 0;
    return GW_OK;
}

/* Wait until c's fd takes more, up to deadline (or the stop's). 0 or an
 * errno value. */
static int wait_writable(struct gw_export_conn *c, int64_t deadline_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};

    for (;;) {
        int64_t left = cap(c, deadline_ms) - gw_now_ms();
        int n;
        if (left <= 0) {
            return ETIMEDOUT;
        }
        /* In slices, to see a stop that comes meanwhile. */
        n = poll(&p, 1, left > STOP_SLICE_MS ? STOP_SLICE_MS : (int)left);
        if (n > 0) {
            return (p.revents & (POLLERR | POLLHUP)) != 0 ? EPIPE : 0;
        }
        if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
}

/* All of data on a stream (or a file), giving up after GW_EXPORT_WRITE_MS
 * without progress. 0 or an errno value; *sent says how much went. */
static int write_all(struct gw_export_conn *c, const char *data, size_t len,
                     size_t *sent)
{
    int64_t deadline = gw_now_ms() + GW_EXPORT_WRITE_MS;

    *sent = 0;
    while (*sent < len) {
        ssize_t n = c->spec->transport == GW_EXPORT_FILE
                        ? write(c->fd, data + *sent, len - *sent)
                        : send(c->fd, data + *sent, len - *sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        int err;
        if (n > 0) {
            *sent += (size_t)n;
            deadline = gw_now_ms() + GW_EXPORT_WRITE_MS;
            continue;
        }
        err = n < 0 ? errno : EIO;
        if (err == EINTR) {
            continue;
        }
        if (err != EAGAIN && err != EWOULDBLOCK) {
            return err;
        }
        err = wait_writable(c, deadline);
        if (err != 0) {
            return err;
        }
    }
    return 0;
}

/* One datagram; a full socket is waited for up to GW_EXPORT_WRITE_MS. */
static int send_datagram(struct gw_export_conn *c, const char *data, size_t len)
{
    int64_t deadline = gw_now_ms() + GW_EXPORT_WRITE_MS;

    for (int refused = 0;;) {
        int err;
        if (send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) {
            return 0;
        }
        err = errno;
        if (err == EINTR) {
            continue;
        }
        /* A UDP send reports the port-unreachable of an earlier one. */
        if (err == ECONNREFUSED && c->spec->transport == GW_EXPORT_UDP &&
            refused++ == 0) {
            continue;
        }
        if (err != EAGAIN && err != EWOULDBLOCK) {
            return err;
        }
        err = wait_writable(c, deadline);
        if (err != 0) {
            return err;
        }
    }
}

static void delivered(struct gw_export_conn *c)
{
    if (c->failing) {
        gw_log_info("export: %s: delivering again", c->spec->text);
        c->failing = false;
    }
}

/* Deliver it. GW_OK; GW_AGAIN when nothing of it went out and the
 * connection is closed (it waits for the next one); GW_ERR_IO when it is
 * lost. */
int gw_export_conn_deliver(struct gw_export_conn *c, const char *data,
                           size_t len)
{
    size_t sent = 0;
    int err;

    if (c->spec->transport == GW_EXPORT_UDP ||
        (c->spec->transport == GW_EXPORT_UNIX &&
         c->spec->format == GW_EXPORT_SYSLOG)) {
        err = send_datagram(c, data, len);
        if (err == 0) {
            delivered(c);
            return GW_OK;
        }
        if (c->spec->transport == GW_EXPORT_UNIX || err == ETIMEDOUT) {
            /* A local syslog daemon that went away (restarted) gets this
             * one on its next socket; anything else loses it. */
            bool gone = err == ECONNREFUSED || err == ENOENT ||
                        err == ENOTCONN || err == EPIPE;
            conn_failed(c, "%s", strerror(err));
            return gone && c->spec->transport == GW_EXPORT_UNIX ? GW_AGAIN
                                                                : GW_ERR_IO;
        }
        if (!c->failing) {
            gw_log_warn("export: %s: %s; dropping events until it answers",
                        c->spec->text, strerror(err));
            c->failing = true;
        }
        return GW_ERR_IO; /* UDP: that one is gone, the next may go */
    }
    err = write_all(c, data, len, &sent);
    if (err == 0) {
        delivered(c);
        return GW_OK;
    }
    /* A frame cut in the middle breaks the stream: start a new one. */
    conn_failed(c, "%s%s",
                err == ETIMEDOUT ? "no progress writing for 5 s: " : "",
                strerror(err));
    return sent == 0 ? GW_AGAIN : GW_ERR_IO;
}
