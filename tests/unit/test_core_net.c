/*
 * Unit tests for core/net: connect with a deadline (resolution included)
 * and the socket option setters, on loopback only.
 *
 * getaddrinfo is interposed below (this executable's definition wins over
 * libc's at link time), to see which thread resolves and to make one name
 * resolve slowly. Every other call goes to the real one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/net.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Rejected by glibc before any query leaves the machine (an empty label),
 * so even without the interposition no name server is asked. */
#define SLOW_NAME   "slow..resolver"
#define SLOW_MS     1500
#define FILLERS_MAX 16
#define GENEROUS_MS 5000

static pthread_t main_thread;
static atomic_int lookups_on_main;
static atomic_int lookups_elsewhere;
static atomic_int slow_finished;

typedef int (*getaddrinfo_fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **);
static getaddrinfo_fn real_getaddrinfo; /* libc's (or ASan's wrapper) */

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints,
                struct addrinfo **restrict res)
{
    bool numeric = hints != NULL && (hints->ai_flags & AI_NUMERICHOST) != 0;

    if (pthread_equal(pthread_self(), main_thread)) {
        atomic_fetch_add(&lookups_on_main, 1);
    } else {
        atomic_fetch_add(&lookups_elsewhere, 1);
    }
    if (node != NULL && strcmp(node, SLOW_NAME) == 0 && !numeric) {
        struct timespec ts = {.tv_sec = SLOW_MS / 1000,
                              .tv_nsec = (SLOW_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        *res = NULL;
        atomic_store(&slow_finished, 1);
        return EAI_AGAIN;
    }
    return real_getaddrinfo(node, service, hints, res);
}

static void reset_counts(void)
{
    atomic_store(&lookups_on_main, 0);
    atomic_store(&lookups_elsewhere, 0);
}

/* A socket listening on addr (port 0: the kernel picks one). */
static int listen_on(int family, const char *addr, int backlog, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
        len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
        len = sizeof(*in6);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* A loopback port nobody listens on: bound once, then closed. */
static uint16_t closed_port(void)
{
    uint16_t port = 0;
    int fd = listen_on(AF_INET, "127.0.0.1", 1, &port);

    assert_true(fd >= 0);
    close(fd);
    return port;
}

/* The connected socket is what the header promises, and lfd has it. */
static void assert_connected(int fd, int lfd)
{
    int peer;

    assert_true(fd >= 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_true((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    peer = accept(lfd, NULL, NULL);
    assert_true(peer >= 0);
    close(peer);
}

static void test_connect_ipv4(void **state)
{
    struct gw_net_failure why;
    uint16_t port = 0;
    int lfd = listen_on(AF_INET, "127.0.0.1", 4, &port);
    int fd = -1;
    (void)state;

    assert_true(lfd >= 0);
    reset_counts();
    assert_int_equal(
        gw_net_connect("127.0.0.1", port, gw_now_ms() + GENEROUS_MS, &fd, &why),
        GW_OK);
    assert_connected(fd, lfd);
    /* A numeric address is resolved here, on the caller's thread. */
    assert_int_equal(atomic_load(&lookups_elsewhere), 0);
    assert_int_equal(atomic_load(&lookups_on_main), 1);
    close(fd);
    close(lfd);
}

static void test_connect_ipv6(void **state)
{
    struct gw_net_failure why;
    uint16_t port = 0;
    int lfd = listen_on(AF_INET6, "::1", 4, &port);
    int fd = -1;
    (void)state;

    if (lfd < 0) {
        skip(); /* no IPv6 loopback on this machine */
    }
    reset_counts();
    assert_int_equal(
        gw_net_connect("::1", port, gw_now_ms() + GENEROUS_MS, &fd, &why),
        GW_OK);
    assert_connected(fd, lfd);
    assert_int_equal(atomic_load(&lookups_elsewhere), 0);
    close(fd);
    close(lfd);
}

/* A name goes to a resolver thread; each address is tried in turn (if
 * localhost has ::1 first, that one is refused before 127.0.0.1). */
static void test_connect_name(void **state)
{
    struct gw_net_failure why;
    uint16_t port = 0;
    int lfd = listen_on(AF_INET, "127.0.0.1", 4, &port);
    int fd = -1;
    (void)state;

    assert_true(lfd >= 0);
    reset_counts();
    assert_int_equal(
        gw_net_connect("localhost", port, gw_now_ms() + GENEROUS_MS, &fd, &why),
        GW_OK);
    assert_connected(fd, lfd);
    assert_int_equal(atomic_load(&lookups_elsewhere), 1);
    close(fd);
    close(lfd);
}

static void test_refused(void **state)
{
    struct gw_net_failure why;
    uint16_t port = closed_port();
    int64_t start = gw_now_ms();
    int fd = 0;
    (void)state;

    assert_int_equal(
        gw_net_connect("127.0.0.1", port, gw_now_ms() + GENEROUS_MS, &fd, &why),
        GW_ERR_IO);
    assert_int_equal(fd, -1);
    assert_false(why.resolving);
    assert_int_equal(why.code, ECONNREFUSED);
    assert_string_equal(gw_net_failure_text(&why), strerror(ECONNREFUSED));
    assert_non_null(strstr(gw_err_msg(), "cannot connect to 127.0.0.1"));
    assert_true(gw_now_ms() - start < 1000);
}

static void test_deadline_passed(void **state)
{
    struct gw_net_failure why;
    uint16_t port = 0;
    int lfd = listen_on(AF_INET, "127.0.0.1", 4, &port);
    int fd = 0;
    (void)state;

    assert_true(lfd >= 0);
    /* A numeric address resolves at once; the connect is out of time. */
    assert_int_equal(
        gw_net_connect("127.0.0.1", port, gw_now_ms() - 1, &fd, &why),
        GW_ERR_TIMEOUT);
    assert_int_equal(fd, -1);
    assert_false(why.resolving);
    assert_int_equal(why.code, ETIMEDOUT);
    /* A name is not even handed to a resolver thread. */
    reset_counts();
    assert_int_equal(
        gw_net_connect("localhost", port, gw_now_ms() - 1, &fd, &why),
        GW_ERR_TIMEOUT);
    assert_int_equal(fd, -1);
    assert_true(why.resolving);
    assert_int_equal(why.code, 0);
    assert_string_equal(gw_net_failure_text(&why), "name resolution timed out");
    assert_int_equal(atomic_load(&lookups_elsewhere), 0);
    close(lfd);
}

/* A listener whose accept queue is full: a new SYN gets no answer. */
static void test_unanswered_connect(void **state)
{
    struct gw_net_failure why;
    int fillers[FILLERS_MAX];
    size_t nfill = 0;
    uint16_t port = 0;
    int lfd = listen_on(AF_INET, "127.0.0.1", 0, &port);
    bool full = false;
    int64_t start;
    int fd = 0;
    (void)state;

    assert_true(lfd >= 0);
    while (!full && nfill < FILLERS_MAX) {
        struct gw_net_failure ignored;
        int c = -1;
        if (gw_net_connect("127.0.0.1", port, gw_now_ms() + 500, &c,
                           &ignored) == GW_OK) {
            fillers[nfill++] = c;
        } else {
            full = true;
        }
    }
    if (!full) {
        for (size_t i = 0; i < nfill; i++) {
            close(fillers[i]);
        }
        close(lfd);
        skip(); /* this kernel answers however full the queue is */
    }
    start = gw_now_ms();
    assert_int_equal(gw_net_connect("127.0.0.1", port, start + 300, &fd, &why),
                     GW_ERR_TIMEOUT);
    assert_int_equal(fd, -1);
    assert_false(why.resolving);
    assert_int_equal(why.code, ETIMEDOUT);
    assert_true(gw_now_ms() - start >= 290);
    assert_true(gw_now_ms() - start < 2000);
    for (size_t i = 0; i < nfill; i++) {
        close(fillers[i]);
    }
    close(lfd);
}

/* The resolver does not answer: the caller gets its timeout at the
 * deadline, and the abandoned lookup cleans up after itself later. */
static void test_slow_resolver(void **state)
{
    struct gw_net_failure why;
    int64_t start = gw_now_ms();
    int fd = 0;
    (void)state;

    atomic_store(&slow_finished, 0);
    assert_int_equal(gw_net_connect(SLOW_NAME, 22, start + 200, &fd, &why),
                     GW_ERR_TIMEOUT);
    assert_true(gw_now_ms() - start >= 190);
    assert_true(gw_now_ms() - start < SLOW_MS - 300);
    assert_int_equal(fd, -1);
    assert_true(why.resolving);
    assert_int_equal(why.code, 0);
    assert_int_equal(atomic_load(&slow_finished), 0);
    assert_non_null(strstr(gw_err_msg(), "cannot resolve " SLOW_NAME));
    /* Let the detached thread finish and free the lookup (ASan watches)
     * before the process ends. */
    while (atomic_load(&slow_finished) == 0 &&
           gw_now_ms() - start < SLOW_MS + GENEROUS_MS) {
        poll(NULL, 0, 20);
    }
    assert_int_equal(atomic_load(&slow_finished), 1);
    poll(NULL, 0, 100);
}

static void test_invalid_names(void **state)
{
    /* All refused by glibc without asking a name server. */
    static const char *const bad[] = {"bad name!", "no..such..host", ""};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gw_net_failure why;
        int fd = 0;
        assert_int_equal(
            gw_net_connect(bad[i], 22, gw_now_ms() + GENEROUS_MS, &fd, &why),
            GW_ERR_NOTFOUND);
        assert_int_equal(fd, -1);
        assert_true(why.resolving);
        assert_int_not_equal(why.code, 0);
        assert_string_equal(gw_net_failure_text(&why), gai_strerror(why.code));
    }
    assert_int_equal(gw_net_connect(NULL, 22, gw_now_ms() + GENEROUS_MS,
                                    &(int){0}, &(struct gw_net_failure){0}),
                     GW_ERR_NOTFOUND);
}

static int get_int(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof(value);

    assert_int_equal(getsockopt(fd, level, name, &value, &len), 0);
    return value;
}

static void test_nodelay(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;
    int err;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(gw_net_set_nodelay(fd), GW_OK);
    assert_int_not_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    close(fd);
    rc = gw_net_set_nodelay(fd);
    err = errno;
    assert_int_equal(rc, GW_ERR_IO);
    assert_int_equal(err, EBADF);
}

static void test_keepalive(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;
    int err;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(gw_net_set_keepalive(fd, 60, 15, 4), GW_OK);
    assert_int_not_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 60);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 15);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    /* An idle time of 0 is refused; the options after it are still set,
     * and the error is the first one's. */
    rc = gw_net_set_keepalive(fd, 0, 20, 5);
    err = errno;
    assert_int_equal(rc, GW_ERR_IO);
    assert_int_equal(err, EINVAL);
    assert_non_null(strstr(gw_err_msg(), "TCP_KEEPIDLE"));
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 60);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 20);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 5);
    close(fd);
}

/* Event details and log lines carry a host's address as one token. */
static void test_hostport(void **state)
{
    char out[64];
    char small[8];

    (void)state;
    gw_net_hostport("10.0.0.5", 22, out, sizeof(out));
    assert_string_equal(out, "10.0.0.5:22");
    gw_net_hostport("db1.internal", 2222, out, sizeof(out));
    assert_string_equal(out, "db1.internal:2222");
    gw_net_hostport("2001:db8::5", 22, out, sizeof(out));
    assert_string_equal(out, "[2001:db8::5]:22");
    gw_net_hostport("db1.internal", 2222, small, sizeof(small));
    assert_string_equal(small, "db1.int");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_ipv4),
        cmocka_unit_test(test_connect_ipv6),
        cmocka_unit_test(test_connect_name),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_deadline_passed),
        cmocka_unit_test(test_unanswered_connect),
        cmocka_unit_test(test_slow_resolver),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_nodelay),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_hostport),
    };

    void *real = dlsym(RTLD_NEXT, "getaddrinfo");

    assert_non_null(real);
    /* Object to function pointer, as POSIX allows for dlsym. */
    memcpy(&real_getaddrinfo, &real, sizeof(real_getaddrinfo));
    main_thread = pthread_self();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
