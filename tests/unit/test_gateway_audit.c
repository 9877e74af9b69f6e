/* Unit tests for the daemon side of the sessions audit: the end reasons
 * of gateway/daemon/ending and the kill queue of gateway/daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/err.h"
#include "gateway/daemon/ending.h"
#include "gateway/daemon/daemon.h"

static void test_row_reason(void **state)
{
    (void)state;
    assert_string_equal(gw_ending_row_reason(GW_END_NONE, 'c', NULL),
                        "client closed");
    assert_string_equal(gw_ending_row_reason(GW_END_NONE, '\0', NULL),
                        "client closed");
    assert_string_equal(gw_ending_row_reason(GW_END_NONE, 'b', NULL),
                        "backend closed");
    assert_string_equal(gw_ending_row_reason(GW_END_IDLE, 'b', NULL),
                        "idle timeout");
    assert_string_equal(gw_ending_row_reason(GW_END_SHUTDOWN, 'c', NULL),
                        "shutdown");
    assert_string_equal(gw_ending_row_reason(GW_END_CLIENT_GONE, 'b', NULL),
                        "client closed");
    assert_string_equal(gw_ending_row_reason(GW_END_KILLED, 'c', NULL),
                        "killed by admin");
    assert_string_equal(gw_ending_row_reason(GW_END_CHANNEL_IO, 'c', NULL),
                        "channel i/o error");
    assert_string_equal(gw_ending_row_reason(GW_END_KEEPALIVE, 'c', NULL),
                        "Timeout, client not responding");
    /* A failed target's own line is the reason. */
    assert_string_equal(
        gw_ending_row_reason(GW_END_TARGET, 'c',
                             "sshgate: connection to web1 lost"),
        "sshgate: connection to web1 lost");
}

/* Every ending has a text, and what the client reads for the common ones
 * is what OpenSSH's sshd says. */
static void test_ending_texts(void **state)
{
    (void)state;
    for (int e = GW_END_NONE; e <= GW_END_REVOKED; e++) {
        const char *text = gw_ending_text((enum gw_ending)e);
        assert_non_null(text);
        assert_true(text[0] != '\0');
    }
    assert_string_equal(gw_ending_text(GW_END_IDLE), "Idle timeout");
    assert_string_equal(gw_ending_text(GW_END_GRACE),
                        "Login grace time exceeded");
    assert_string_equal(gw_ending_text(GW_END_AUTH_FAILURES),
                        "Too many authentication failures");
    assert_string_equal(gw_ending_text((enum gw_ending)999), "closed");
}

static atomic_bool waiter_woken;

/* A connection's wait: GW_WAKE_SIGNAL unblocked only inside ppoll. */
static void *wait_for_wake(void *arg)
{
    sigset_t open;
    struct timespec ts = {10, 0};

    (void)arg;
    pthread_sigmask(SIG_BLOCK, NULL, &open);
    sigdelset(&open, GW_WAKE_SIGNAL);
    atomic_store(&waiter_woken,
                 ppoll(NULL, 0, &ts, &open) < 0 && errno == EINTR);
    return NULL;
}

static void test_kill_queue(void **state)
{
    struct gw_daemon d;
    struct gw_conn_link a;
    struct gw_conn_link b;
    struct gw_kill ids[GW_KILLS_MAX];
    pthread_t waiter;
    sigset_t urg;
    int got = 0;
    struct timespec zero = {0, 0};

    (void)state;
    assert_int_equal(gw_daemon_wake_setup(), GW_OK);
    memset(&d, 0, sizeof(d));
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_int_equal(pthread_mutex_init(&d.lock, NULL), 0);
    /* b's thread waits as a connection does; a is this thread. */
    assert_int_equal(pthread_create(&waiter, NULL, wait_for_wake, NULL), 0);
    a.thread = pthread_self();
    b.thread = waiter;
    a.uid = "5f00-1";
    b.uid = "5f00-2";
    gw_daemon_register(&d, &a);
    gw_daemon_register(&d, &b);

    assert_false(gw_daemon_post_kill(&d, "5f00-3", &(struct gw_kill){7, 1}));
    assert_true(gw_daemon_post_kill(&d, "5f00-2", &(struct gw_kill){7, 1}));
    assert_true(gw_daemon_post_kill(&d, "5f00-2",
                                    &(struct gw_kill){7, 1})); /* once queued */
    assert_true(gw_daemon_post_kill(&d, "5f00-2", &(struct gw_kill){9, 4}));
    assert_int_equal(pthread_join(waiter, NULL), 0);
    assert_true(atomic_load(&waiter_woken)); /* not its 10 s timeout */
    assert_int_equal(gw_daemon_take_kills(&d, &a, ids, GW_KILLS_MAX), 0);
    assert_int_equal(gw_daemon_take_kills(&d, &b, ids, GW_KILLS_MAX), 2);
    assert_int_equal(ids[0].id, 7);
    assert_int_equal(ids[0].channel, 1);
    assert_int_equal(ids[1].id, 9);
    assert_int_equal(ids[1].channel, 4);
    assert_int_equal(gw_daemon_take_kills(&d, &b, ids, GW_KILLS_MAX), 0);

    /* bounded: the rest is posted again at the next poll */
    for (int64_t i = 1; i <= GW_KILLS_MAX + 3; i++) {
        assert_true(gw_daemon_post_kill(&d, "5f00-1", &(struct gw_kill){i, 1}));
    }
    assert_int_equal(gw_daemon_take_kills(&d, &a, ids, GW_KILLS_MAX),
                     GW_KILLS_MAX);

    gw_daemon_unregister(&d, &a);
    gw_daemon_unregister(&d, &b);
    assert_false(gw_daemon_post_kill(&d, "5f00-2", &(struct gw_kill){7, 1}));
    /* a (this thread, the signal blocked) has its wake-up pending */
    sigemptyset(&urg);
    sigaddset(&urg, GW_WAKE_SIGNAL);
    got = sigtimedwait(&urg, NULL, &zero);
    assert_int_equal(got, GW_WAKE_SIGNAL);
    pthread_mutex_destroy(&d.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_reason),
        cmocka_unit_test(test_ending_texts),
        cmocka_unit_test(test_kill_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
