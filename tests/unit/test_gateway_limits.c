/* Unit tests for gateway/limits: unauthenticated caps, early drop
 * (max_startups), sources keyed on a prefix, source lockout and
 * penalties. */
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
    assert_int_equal(gw_limits_admit(lim, &a1, &pol, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &a1b, &pol, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &a1, &pol, 0, NULL),
                     GW_ADMIT_UNAUTH_SOURCE);
    assert_int_equal(gw_limits_admit(lim, &a2, &pol, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_unauth(lim), 3);
    assert_int_equal(gw_limits_admit(lim, &a3, &pol, 0, NULL),
                     GW_ADMIT_UNAUTH_TOTAL);
    gw_limits_release(lim, &a1);
    assert_int_equal(gw_limits_unauth(lim), 2);
    assert_int_equal(gw_limits_admit(lim, &a3, &pol, 0, NULL), GW_ADMIT_OK);
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
    assert_false(gw_limits_locked(lim, &a, &pol, 10));
    assert_int_equal(gw_limits_failure(lim, &a, &pol, 20), /* third */
                     GW_SOURCE_LOCKED_NOW);
    assert_true(gw_limits_locked(lim, &a, &pol, 500));
    assert_false(gw_limits_locked(lim, &b, &pol, 500));
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 500, NULL),
                     GW_ADMIT_SOURCE_LOCKED);
    assert_int_equal(gw_limits_admit(lim, &b, &pol, 500, NULL), GW_ADMIT_OK);
    assert_false(gw_limits_locked(lim, &a, &pol, 1021)); /* lock over */
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 1021, NULL), GW_ADMIT_OK);
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
    assert_false(gw_limits_locked(lim, &a, &pol, 100));
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
    assert_true(gw_limits_locked(lim, &a, &pol, 1101));
    assert_false(gw_limits_locked(lim, &a, &pol, 1102));
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
    assert_int_equal(gw_limits_admit(lim, &a, &pol, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &b, &pol, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &c, &pol, 0, NULL),
                     GW_ADMIT_TABLE_FULL);
    gw_limits_release(lim, &a);
    assert_int_equal(gw_limits_admit(lim, &c, &pol, 0, NULL), GW_ADMIT_OK);
    gw_limits_sweep(lim, 0);
    assert_non_null(gw_admit_reason(GW_ADMIT_TABLE_FULL));
    gw_limits_free(lim);
}

/* max_startups 10:30:100 */
static const struct gw_limits_policy startups = {
    .max_unauth = 100,
    .max_unauth_per_source = 1000,
    .startups_begin = 10,
    .startups_rate = 30,
};

static void test_early_drop_decision(void **state)
{
    (void)state;
    /* below start: never, whatever the draw */
    assert_false(gw_limits_early_drop(&startups, 0, 0));
    assert_false(gw_limits_early_drop(&startups, 9, 0));
    /* at start: rate percent, i.e. draws 0..29 of every 100 */
    assert_true(gw_limits_early_drop(&startups, 10, 29));
    assert_false(gw_limits_early_drop(&startups, 10, 30));
    assert_true(gw_limits_early_drop(&startups, 10, 129));
    /* half way (55 of 10..100): 30 + 70 * 45 / 90 = 65 percent */
    assert_true(gw_limits_early_drop(&startups, 55, 64));
    assert_false(gw_limits_early_drop(&startups, 55, 65));
    /* just below full: nearly always; at full and above: always */
    assert_true(gw_limits_early_drop(&startups, 99, 98));
    assert_false(gw_limits_early_drop(&startups, 99, 99));
    assert_true(gw_limits_early_drop(&startups, 100, 99));
    assert_true(gw_limits_early_drop(&startups, 150, 99));
    /* start = full: no early drop below full */
    struct gw_limits_policy flat = startups;
    flat.startups_begin = 100;
    assert_false(gw_limits_early_drop(&flat, 99, 0));
    assert_true(gw_limits_early_drop(&flat, 100, 99));
}

static uint32_t fixed_draw(void *ud)
{
    return *(uint32_t *)ud;
}

static void test_early_drop_in_admit(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_addr a = ip("10.0.0.1", 1);
    uint32_t draw = 0; /* the unluckiest draw: dropped whenever possible */

    (void)state;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    gw_limits_set_random(lim, fixed_draw, &draw);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(gw_limits_admit(lim, &a, &startups, 0, NULL),
                         GW_ADMIT_OK);
    }
    assert_int_equal(gw_limits_admit(lim, &a, &startups, 0, NULL),
                     GW_ADMIT_EARLY_DROP);
    assert_int_equal(gw_limits_unauth(lim), 10); /* a drop takes no slot */
    draw = 99; /* the luckiest: admitted until full */
    for (int i = 10; i < 100; i++) {
        assert_int_equal(gw_limits_admit(lim, &a, &startups, 0, NULL),
                         GW_ADMIT_OK);
    }
    assert_int_equal(gw_limits_admit(lim, &a, &startups, 0, NULL),
                     GW_ADMIT_UNAUTH_TOTAL);
    for (int i = 0; i < 100; i++) {
        gw_limits_release(lim, &a);
    }
    assert_int_equal(gw_limits_unauth(lim), 0);
    gw_limits_free(lim);
}

static void test_prefix_keying(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_limits_policy p = pol;
    struct gw_addr s1, s2, s6;
    struct gw_addr v6a = ip("2001:db8:1:2:aaaa::1", 1);
    struct gw_addr v6b = ip("2001:db8:1:2:bbbb::2", 1); /* same /64 */
    struct gw_addr v6c = ip("2001:db8:1:3::1", 1);      /* next /64 */
    struct gw_addr v4a = ip("192.0.2.1", 1);
    struct gw_addr v4b = ip("192.0.2.2", 1);

    (void)state;
    p.max_unauth = 100;
    p.max_unauth_per_source = 1;
    p.prefix_v4 = 32;
    p.prefix_v6 = 64;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    /* /64 siblings share one slot */
    assert_int_equal(gw_limits_admit(lim, &v6a, &p, 0, &s6), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &v6b, &p, 0, &s2),
                     GW_ADMIT_UNAUTH_SOURCE);
    assert_true(gw_addr_same_ip(&s6, &s2));
    assert_int_equal(gw_limits_admit(lim, &v6c, &p, 0, NULL), GW_ADMIT_OK);
    /* two IPv4 /32s do not ... */
    assert_int_equal(gw_limits_admit(lim, &v4a, &p, 0, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &v4b, &p, 0, NULL), GW_ADMIT_OK);
    /* ... unless prefix_v4 is shorter */
    p.prefix_v4 = 24;
    assert_int_equal(gw_limits_admit(lim, &v4a, &p, 0, &s1), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &v4b, &p, 0, &s2),
                     GW_ADMIT_UNAUTH_SOURCE);
    assert_true(gw_addr_same_ip(&s1, &s2));
    /* a slot goes back to the source it was taken for (the caller keeps
     * it), so a reload that changes the prefixes leaks no slot */
    gw_limits_release(lim, &s6);
    assert_int_equal(gw_limits_admit(lim, &v6b, &p, 0, NULL), GW_ADMIT_OK);
    /* the failure lockout is per source too */
    p.source_threshold = 2;
    assert_int_equal(gw_limits_failure(lim, &v6a, &p, 0), GW_SOURCE_COUNTED);
    assert_int_equal(gw_limits_failure(lim, &v6b, &p, 0), GW_SOURCE_LOCKED_NOW);
    assert_true(gw_limits_locked(lim, &v6a, &p, 1));
    assert_false(gw_limits_locked(lim, &v6c, &p, 1));
    gw_limits_free(lim);
}

static void test_source_mask(void **state)
{
    struct gw_limits_policy p = {.prefix_v4 = 20, .prefix_v6 = 60};
    struct gw_addr out;
    struct gw_addr want;

    (void)state;
    gw_limits_source(&p, &(struct gw_addr){0}, &out); /* family 0: kept */
    gw_limits_source(&p,
                     &(struct gw_addr){.family = AF_INET,
                                       .port = 22,
                                       .bytes = {10, 1, 0xff, 7}},
                     &out);
    want = ip("10.1.240.0", 0);
    assert_true(gw_addr_same_ip(&out, &want));
    assert_int_equal(out.port, 0);
    out = ip("2001:db8:aaaa:bbbf:1::1", 0);
    gw_limits_source(&p, &out, &out);
    want = ip("2001:db8:aaaa:bbb0::", 0);
    assert_true(gw_addr_same_ip(&out, &want));
}

static void test_penalties(void **state)
{
    struct gw_limits *lim = NULL;
    struct gw_limits_policy p = pol;
    struct gw_addr a = ip("10.0.0.1", 1);
    struct gw_addr b = ip("10.0.0.2", 1);
    struct gw_addr src;

    (void)state;
    p.max_unauth = 100;
    p.max_unauth_per_source = 100;
    p.penalty_ms = 10000;
    p.penalty_max_ms = 25000;
    assert_int_equal(gw_limits_new(100, &lim), GW_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gw_limits_admit(lim, &a, &p, 0, &src), GW_ADMIT_OK);
    }
    /* one timeout: 10 s from now */
    gw_limits_penalize(lim, &src, &p, 1000);
    gw_limits_release(lim, &src);
    assert_int_equal(gw_limits_admit(lim, &a, &p, 1000, NULL),
                     GW_ADMIT_PENALTY);
    assert_int_equal(gw_limits_admit(lim, &b, &p, 1000, NULL), GW_ADMIT_OK);
    assert_int_equal(gw_limits_admit(lim, &a, &p, 10999, NULL),
                     GW_ADMIT_PENALTY);
    /* two more: they add up, capped at penalty_max from now */
    gw_limits_penalize(lim, &src, &p, 2000);
    gw_limits_release(lim, &src);
    gw_limits_penalize(lim, &src, &p, 2000);
    gw_limits_release(lim, &src);
    assert_int_equal(gw_limits_admit(lim, &a, &p, 26999, NULL),
                     GW_ADMIT_PENALTY);
    /* and it runs out; the source's slots were all given back, so its
     * entry goes once the penalty is over */
    assert_int_equal(gw_limits_unauth(lim), 1); /* b's */
    assert_int_equal(gw_limits_admit(lim, &a, &p, 27000, NULL), GW_ADMIT_OK);
    gw_limits_release(lim, &src);
    gw_limits_release(lim, &b);
    /* source_penalty = 0: off */
    p.penalty_ms = 0;
    gw_limits_penalize(lim, &src, &p, 30000);
    assert_int_equal(gw_limits_admit(lim, &a, &p, 30000, NULL), GW_ADMIT_OK);
    gw_limits_release(lim, &src);
    assert_non_null(gw_admit_reason(GW_ADMIT_PENALTY));
    assert_non_null(gw_admit_reason(GW_ADMIT_EARLY_DROP));
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
        cmocka_unit_test(test_early_drop_decision),
        cmocka_unit_test(test_early_drop_in_admit),
        cmocka_unit_test(test_prefix_keying),
        cmocka_unit_test(test_source_mask),
        cmocka_unit_test(test_penalties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
