/* Unit tests for gateway/limits: unauthenticated caps and source lockout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "gateway/daemon/limits.h"

static struct gw_addr ip(const char *text, uint16_t port)
{
    struct gw_addr a;

    assert_int_equal(gw_addr_parse_ip(text, &a), GW_OK);
    a.port = port;
    return a;
}

static const struct gw_limits_policy pol = {
    .max_unauth = 3,
    .max_unauth_per_source = 2,
    .source_threshold = 3,
    .lock_ms = 1000,
};

static void test_unauth_caps(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a1 = ip("10.0.0.1", 1000);
    struct gw_addr a1b = ip("10.0.0.1", 2000); /* same source, other port */
    struct gw_addr a2 = ip("2001:db8::2", 1000);
    struct gw_addr a3 = ip("10.0.0.3", 1000);

    (void)state;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    assert_int_equal(gw_limits_admit(lim, &a1, &pol, 0), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &a1b, &pol, 0), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &a1, &pol, 0),
                     GW_ADMIT_UNAUTH_SOURCE);
    assert_int_equal(gw_limits_admit(lim, &a2, &pol, 0), GW_ADMIT_OK);
    assert_int_equal(gw_limits_unauth(lim), 3);
    assert_int_equal(gw_limits_admit(lim, &a3, &pol, 0), GW_ADMIT_UNAUTH_TOTAL);
    gw_limits_release(lim, &a1);
    assert_int_equal(gw_limits_unauth(lim), 2);
    assert_int_equal(gw_limits_admit(lim, &a3, &pol, 0), GW_ADMIT_OK);
    gw_limits_release(lim, &a1b);
    gw_limits_release(lim, &a2);
    gw_limits_release(lim, &a3);
    gw_limits_release(lim, &a3); /* more releases than slots: ignored */
    assert_int_equal(gw_limits_unauth(lim), 0);
    gw_limits_free(lim);
}

static void test_source_lockout(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("192.0.2.9", 1);
    struct gw_addr b = ip("192.0.2.10", 1);

    (void)state;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 0), GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 10), GW_SOURCE_COUNTED);
    assert_false(gw_limits_locked(lim, &a, 10));
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 20), /* third */
                     GW_SOURCE_LOCKED_NOW);
    assert_true(gw_limits_locked(lim, &a, 500));
    assert_false(gw_limits_locked(lim, &b, 500));
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 500),
                     GW_ADMIT_SOURCE_LOCKED);
    assert_int_equal(gw_limits_admit(lim, &b, &pol, 500), GW_ADMIT_OK);
    assert_false(gw_limits_locked(lim, &a, 1021)); /* lock over */
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 1021), GW_ADMIT_OK);
    gw_limits_release(lim, &a);
    gw_limits_release(lim, &b);
    gw_limits_free(lim);
}

/* Failures spread over more than the window never lock. */
static void test_window_expires(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("192.0.2.9", 1);

    (void)state;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 0), GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 600), GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 1200), /* new window */
                     GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 1300), GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 1400),
                     GW_SOURCE_LOCKED_NOW);
    gw_limits_free(lim);
}

static void test_threshold_zero_disables(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("192.0.2.9", 1);
    struct gw_limits_policy off = pol;

    (void)state;
    off.source_threshold = 0;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gw_limits_failure(lim, &a, &off, i),
                         GW_SOURCE_COUNTED);
    }
    assert_false(gw_limits_locked(lim, &a, 100));
    gw_limits_free(lim);
}

/*
 * Connections of one address that fail at once, after it is locked (they
 * passed the lock check before it was): exactly one failure locked it, the
 * others are told it was locked already and count toward nothing, neither
 * the address (the lock is not extended) nor the user.
 */
static void test_failures_after_the_lock(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("192.0.2.9", 1);
    struct gw_addr a2 = ip("192.0.2.9", 2);
    int locked_now = 0;

    (void)state;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    for (int i = 0; i < 10; i++) {
        enum gw_source_count v =
            gw_limits_failure(lim, i % 2 ? &a : &a2, &pol, 100 + i);
        locked_now += v == GW_SOURCE_LOCKED_NOW;
        assert_int_equal(v, i < 2    ? GW_SOURCE_COUNTED
                            : i == 2 ? GW_SOURCE_LOCKED_NOW
                                     : GW_SOURCE_WAS_LOCKED);
    }
    assert_int_equal(locked_now, 1);
    /* The lock began at the third failure (t = 102): not extended. */
    assert_true(gw_limits_locked(lim, &a, 1101));
    assert_false(gw_limits_locked(lim, &a, 1102));
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 1102), GW_SOURCE_COUNTED);
    gw_limits_free(lim);
}

/* The table is bounded; entries that hold nothing are reclaimed. */
static void test_table_bound(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("10.1.0.1", 1);
    struct gw_addr b = ip("10.1.0.2", 1);
    struct gw_addr c = ip("10.1.0.3", 1);

    (void)state;
    assert_int_equal(gw_limits_new(2, &lim), GW_OK);
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 0), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &b, &pol, 0), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &c, &pol, 0), GW_ADMIT_TABLE_FULL);
    gw_limits_release(lim, &a);
    assert_int_equal(gw_limits_admit(lim, &c, &pol, 0), GW_ADMIT_OK);
    gw_limits_sweep(lim, 0);
    assert_non_null(gw_admit_reason(GW_ADMIT_TABLE_FULL));
    gw_limits_free(lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauth_caps),
        cmocka_unit_test(test_source_lockout),
        cmocka_unit_test(test_window_expires),
        cmocka_unit_test(test_threshold_zero_disables),
        cmocka_unit_test(test_failures_after_the_lock),
        cmocka_unit_test(test_table_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
