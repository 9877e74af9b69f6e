/* Unit tests for gateway/relay: the bounded buffer that holds what a slow
 * socket (or a channel in a key re-exchange) did not take yet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "gateway/chan/relay.h"

#define CAP 4096

static void test_keep_and_flush(void **state)
{
    struct gw_pend p = {0};
    int sv[2];
    char got[64];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_true(gw_pend_empty(&p));
    assert_int_equal(gw_pend_flush(&p, sv[0]), GW_OK); /* nothing kept */
    assert_null(p.data);
    assert_int_equal(gw_pend_keep(&p, "hello ", 6, CAP), GW_OK);
    assert_int_equal(gw_pend_keep(&p, "world", 5, CAP), GW_OK);
    assert_false(gw_pend_empty(&p));
    assert_int_equal(p.cap, CAP);
    /* more than the capacity is refused, nothing changes */
    assert_int_equal(gw_pend_keep(&p, got, CAP, CAP), GW_ERR_NOMEM);
    assert_int_equal(p.len, 11);
    assert_int_equal(gw_pend_flush(&p, sv[0]), GW_OK);
    assert_true(gw_pend_empty(&p));
    assert_null(p.data); /* released once written */
    assert_int_equal(read(sv[1], got, sizeof(got)), 11);
    assert_memory_equal(got, "hello world", 11);
    close(sv[0]);
    close(sv[1]);
}

/* A socket that takes only part: the rest stays, in order, until the
 * reader catches up. */
static void test_partial_writes_keep_order(void **state)
{
    struct gw_pend p = {0};
    char *chunk = malloc(CAP);
    char *back = malloc(16 * CAP);
    size_t sent = 0;
    size_t received = 0;
    int sv[2];
    int small = 4096;
    int rc;

    (void)state;
    assert_non_null(chunk);
    assert_non_null(back);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    for (size_t i = 0; i < CAP; i++) {
        chunk[i] = (char)(i * 7);
    }
    /* Fill until the socket refuses, keeping what it did not take. */
    do {
        rc = gw_pend_flush(&p, sv[0]);
        if (rc == GW_OK) {
            assert_int_equal(gw_pend_keep(&p, chunk, CAP, CAP), GW_OK);
            sent += CAP;
        }
    } while (rc == GW_OK && sent < 64 * CAP);
    assert_int_equal(rc, GW_AGAIN);
    assert_false(gw_pend_empty(&p));
    /* Drain the reader, flush the rest, and compare every byte. */
    while (!gw_pend_empty(&p) || received < sent) {
        ssize_t n = read(sv[1], back, 16 * CAP);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++) {
            assert_int_equal(back[i], chunk[(received + (size_t)i) % CAP]);
        }
        received += (size_t)n;
        rc = gw_pend_flush(&p, sv[0]);
        assert_true(rc == GW_OK || rc == GW_AGAIN);
    }
    assert_int_equal(received, sent);
    gw_pend_free(&p);
    free(chunk);
    free(back);
    close(sv[0]);
    close(sv[1]);
}

static void test_flush_error(void **state)
{
    struct gw_pend p = {0};
    int sv[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    assert_int_equal(gw_pend_keep(&p, "x", 1, CAP), GW_OK);
    assert_int_equal(gw_pend_flush(&p, sv[0]), GW_ERR_IO); /* no SIGPIPE */
    gw_pend_free(&p);
    assert_true(gw_pend_empty(&p));
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_and_flush),
        cmocka_unit_test(test_partial_writes_keep_order),
        cmocka_unit_test(test_flush_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
