#include "net.h"

#include "err.h"
#include "timeutil.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- name resolution with a deadline --------------------------------- */

/*
 * getaddrinfo has no timeout of its own: a resolver that does not answer
 * (a dead name server, a firewall dropping port 53) keeps it for the
 * resolv.conf timeouts times attempts times servers, or longer for other
 * NSS sources. So a name is resolved on a thread of its own, and the
 * caller waits on a condition variable until the deadline; at the deadline
 * it walks away and the thread, detached, frees the lookup when the
 * resolver finally returns.
 *
 * Why not glibc's getaddrinfo_a: gai_cancel cannot cancel a lookup that
 * has started, so the gaicb and its strings would have to outlive the
 * call all the same (freed by a SIGEV_THREAD notification, one more
 * thread per lookup); and all its requests share one process-wide queue
 * served by at most 20 helper threads (resolv/gai_misc.c), so lookups
 * stuck on a dead server would make every other connection's lookup wait
 * its turn. A thread per lookup costs little next to a DNS round trip,
 * stalls nobody else, and is plain POSIX.
 */
struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int refs;  /* the caller's and the thread's; under lock */
    bool done; /* under lock */
    int rc;    /* getaddrinfo's result, once done */
    struct addrinfo *list;
    char service[8];
    char host[]; /* NUL-terminated */
};

/* Drop one reference and unlock; the last one frees the lookup. */
static void lookup_release(struct lookup *lk)
{
    bool last = --lk->refs == 0;

    pthread_mutex_unlock(&lk->lock);
    if (!last) {
        return;
    }
    if (lk->list != NULL) {
        freeaddrinfo(lk->list);
    }
    pthread_cond_destroy(&lk->done_cond);
    pthread_mutex_destroy(&lk->lock);
    free(lk);
}

static void *lookup_main(void *arg)
{
    struct lookup *lk = arg;
    /* Names only get here. AI_ADDRCONFIG: no AAAA query and no IPv6
     * attempt on a host without IPv6, and the other way round. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(lk->host, lk->service, &hints, &list);

    pthread_mutex_lock(&lk->lock);
    lk->rc = rc;
    lk->list = rc == 0 ? list : NULL;
    lk->done = true;
    pthread_cond_signal(&lk->done_cond);
    lookup_release(lk);
    return NULL;
}

static struct lookup *lookup_new(const char *host, const char *service)
{
    size_t len = strlen(host);
    struct lookup *lk = calloc(1, sizeof(*lk) + len + 1);
    pthread_condattr_t attr;

    if (lk == NULL) {
        return NULL;
    }
    memcpy(lk->host, host, len + 1);
    snprintf(lk->service, sizeof(lk->service), "%s", service);
    lk->refs = 2;
    pthread_mutex_init(&lk->lock, NULL);
    /* The deadline is on the monotonic clock: wait on that clock, so a
     * change of the wall clock does not move it. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lk->done_cond, &attr);
    pthread_condattr_destroy(&attr);
    return lk;
}

/* Start the lookup's thread, detached. 0 or an error number. */
static int lookup_start(struct lookup *lk)
{
    pthread_attr_t attr;
    pthread_t thread;
    sigset_t all;
    sigset_t old;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The thread inherits the mask: it must take none of the signals the
     * daemon's threads wait for. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&thread, &attr, lookup_main, lk);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Resolve a name on a thread, waiting until deadline_ms at most. */
static int resolve_name(const char *host, const char *service,
                        int64_t deadline_ms, struct addrinfo **out,
                        struct gw_net_failure *why)
{
    struct timespec until = {.tv_sec = (time_t)(deadline_ms / 1000),
                             .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
    struct lookup *lk = NULL;
    bool done = false;

    if (gw_now_ms() >= deadline_ms) {
        why->code = 0;
        return gw_err_set(GW_ERR_TIMEOUT, "cannot resolve %s: timed out", host);
    }
    lk = lookup_new(host, service);
    if (lk == NULL || lookup_start(lk) != 0) {
        if (lk != NULL) {
            lk->refs = 1; /* no thread: ours alone */
            pthread_mutex_lock(&lk->lock);
            lookup_release(lk);
        }
        why->code = EAI_MEMORY;
        return gw_err_set(GW_ERR_NOMEM, "cannot resolve %s: no thread for it",
                          host);
    }
    pthread_mutex_lock(&lk->lock);
    while (!lk->done) {
        if (pthread_cond_timedwait(&lk->done_cond, &lk->lock, &until) ==
            ETIMEDOUT) {
            break;
        }
    }
    done = lk->done;
    if (done) {
        why->code = lk->rc;
        *out = lk->list;
        lk->list = NULL; /* ours now */
    }
    lookup_release(lk);
    if (!done) {
        why->code = 0;
        return gw_err_set(GW_ERR_TIMEOUT, "cannot resolve %s: timed out", host);
    }
    if (why->code != 0) {
        return gw_err_set(GW_ERR_NOTFOUND, "cannot resolve %s: %s", host,
                          gai_strerror(why->code));
    }
    return GW_OK;
}

/* A numeric address needs no resolver and no thread. */
static int resolve(const char *host, uint16_t port, int64_t deadline_ms,
                   struct addrinfo **out, struct gw_net_failure *why)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    char service[8];

    if (host == NULL || host[0] == '\0') {
        why->code = EAI_NONAME;
        return gw_err_set(GW_ERR_NOTFOUND, "cannot resolve an empty name");
    }
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    if (getaddrinfo(host, service, &hints, out) == 0) {
        return GW_OK;
    }
    *out = NULL;
    return resolve_name(host, service, deadline_ms, out, why);
}

/* ---- connecting ------------------------------------------------------ */

/* Wait for a non-blocking connect. 0, or an errno value: ETIMEDOUT when
 * the deadline passed. */
static int wait_connected(int fd, int64_t deadline_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    socklen_t len = sizeof(int);
    int err = 0;

    for (;;) {
        int64_t left = deadline_ms - gw_now_ms();
        int n;
        if (left <= 0) {
            return ETIMEDOUT;
        }
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0) {
            break;
        }
        if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        return errno;
    }
    return err;
}

/* One address. 0 with *fd_out, or an errno value. */
static int connect_address(const struct addrinfo *ai, int64_t deadline_ms,
                           int *fd_out)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    int err;

    if (fd < 0) {
        return errno;
    }
    err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    /* An interrupted connect goes on in the background, as one in
     * progress does. */
    if (err == EINPROGRESS || err == EINTR) {
        err = wait_connected(fd, deadline_ms);
    }
    if (err != 0) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

/* What both connects begin with: no fd yet, and the name resolved
 * within the deadline (why says which step failed). */
static int start_connect(const char *host, uint16_t port, int64_t deadline_ms,
                         int *fd_out, struct gw_net_failure *why,
                         struct addrinfo **list)
{
    int rc;

    *fd_out = -1;
    why->resolving = true;
    why->code = 0;
    rc = resolve(host, port, deadline_ms, list, why);
    if (rc == GW_OK) {
        why->resolving = false;
    }
    return rc;
}

int gw_net_connect(const char *host, uint16_t port, int64_t deadline_ms,
                   int *fd_out, struct gw_net_failure *why)
{
    struct addrinfo *list = NULL;
    int err = ETIMEDOUT;
    int rc = start_connect(host, port, deadline_ms, fd_out, why, &list);

    if (rc != GW_OK) {
        return rc;
    }
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        if (gw_now_ms() >= deadline_ms) {
            err = ETIMEDOUT;
            break;
        }
        err = connect_address(ai, deadline_ms, fd_out);
        if (err == 0) {
            break;
        }
    }
    freeaddrinfo(list);
    if (err == 0) {
        return GW_OK;
    }
    why->code = err;
    /* ETIMEDOUT before the deadline is the kernel giving up on its own. */
    rc = err == ETIMEDOUT && gw_now_ms() >= deadline_ms ? GW_ERR_TIMEOUT
                                                        : GW_ERR_IO;
    return gw_err_set(rc, "cannot connect to %s port %u: %s", host,
                      (unsigned)port, strerror(err));
}

int gw_net_connect_udp(const char *host, uint16_t port, int64_t deadline_ms,
                       int *fd_out, struct gw_net_failure *why)
{
    struct addrinfo *list = NULL;
    int err = EADDRNOTAVAIL;
    int rc = start_connect(host, port, deadline_ms, fd_out, why, &list);

    if (rc != GW_OK) {
        return rc;
    }
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* A datagram connect only sets the peer: it does not wait. */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            *fd_out = fd;
            err = 0;
            break;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(list);
    if (err == 0) {
        return GW_OK;
    }
    why->code = err;
    return gw_err_set(GW_ERR_IO, "cannot set up UDP to %s port %u: %s", host,
                      (unsigned)port, strerror(err));
}

const char *gw_net_failure_text(const struct gw_net_failure *why)
{
    if (why->resolving) {
        return why->code == 0 ? "name resolution timed out"
                              : gai_strerror(why->code);
    }
    return strerror(why->code);
}

void gw_net_hostport(const char *host, uint16_t port, char *out, size_t outlen)
{
    if (strchr(host, ':') != NULL) {
        snprintf(out, outlen, "[%s]:%u", host, (unsigned)port);
    } else {
        snprintf(out, outlen, "%s:%u", host, (unsigned)port);
    }
}

/* ---- socket options -------------------------------------------------- */

struct int_option {
    int level;
    int name;
    const char *what;
    int value;
};

/* Set every option; GW_OK, or GW_ERR_IO with errno of the first failure. */
static int set_int_options(int fd, const struct int_option *opts, size_t n)
{
    const char *failed = NULL;
    int saved = 0;

    for (size_t i = 0; i < n; i++) {
        if (setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value,
                       sizeof(opts[i].value)) != 0 &&
            failed == NULL) {
            failed = opts[i].what;
            saved = errno;
        }
    }
    if (failed == NULL) {
        return GW_OK;
    }
    gw_err_set(GW_ERR_IO, "cannot set %s: %s", failed, strerror(saved));
    errno = saved;
    return GW_ERR_IO;
}

int gw_net_set_nodelay(int fd)
{
    const struct int_option opt = {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", 1};

    return set_int_options(fd, &opt, 1);
}

int gw_net_set_keepalive(int fd, int idle_s, int interval_s, int count)
{
    const struct int_option opts[] = {
        {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1},
        {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", idle_s},
        {IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", interval_s},
        {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", count},
    };

    return set_int_options(fd, opts, sizeof(opts) / sizeof(opts[0]));
}
