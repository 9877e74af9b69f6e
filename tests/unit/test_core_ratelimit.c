/* core/ratelimit.c: the token bucket, on a fake clock (microseconds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/ratelimit.h"

#define SEC 1000000

static void test_unlimited(void **state)
{
    struct gw_ratelimit b;

    (void)state;
    gw_rl_init(&b, 0, 0, 0);
    assert_false(gw_rl_limited(&b));
    assert_int_equal(gw_rl_available(&b, 5), UINT64_MAX);
    assert_int_equal(gw_rl_take(&b, 123456789, 5), 123456789);
    assert_int_equal(gw_rl_wait_ms(&b, 1000, 5), 0);
}

static void test_burst_then_rate(void **state)
{
    struct gw_ratelimit b;
    int64_t now = 1000;

    (void)state;
    gw_rl_init(&b, 1000000, 200000, now); /* 1 MB/s, 200 KB burst */
    assert_true(gw_rl_limited(&b));
    /* a full bucket: the burst goes at once, then nothing */
    assert_int_equal(gw_rl_take(&b, 500000, now), 200000);
    assert_int_equal(gw_rl_take(&b, 1, now), 0);
    /* 10 ms later: 10,000 bytes */
    now += 10000;
    assert_int_equal(gw_rl_available(&b, now), 10000);
    assert_int_equal(gw_rl_take(&b, 4000, now), 4000);
    assert_int_equal(gw_rl_take(&b, 10000, now), 6000);
    /* a long pause saves up no more than the burst */
    now += 60 * SEC;
    assert_int_equal(gw_rl_available(&b, now), 200000);
}

static void test_wait_ms(void **state)
{
    struct gw_ratelimit b;

    (void)state;
    gw_rl_init(&b, 1000000, 100000, 0);
    assert_int_equal(gw_rl_take(&b, 100000, 0), 100000);
    /* 32 KiB at 1 MB/s: 32.768 ms, rounded up so that the tokens are
     * there when the waiter wakes */
    assert_int_equal(gw_rl_wait_ms(&b, 32768, 0), 33);
    assert_true(gw_rl_available(&b, 33 * 1000) >= 32768);
    /* more than the burst is only waited for up to the burst */
    assert_int_equal(gw_rl_wait_ms(&b, 10000000, 50000), 51);
    assert_int_equal(gw_rl_wait_ms(&b, 1, SEC), 0);
}

static void test_overdraft_is_paid_back(void **state)
{
    struct gw_ratelimit b;

    (void)state;
    gw_rl_init(&b, 1000000, 100000, 0);
    /* two readers checked the same 100 KB, both read it */
    gw_rl_consume(&b, 100000, 0);
    gw_rl_consume(&b, 100000, 0);
    assert_int_equal(gw_rl_available(&b, 0), 0);
    /* 100 ms repays the debt, nothing is left yet */
    assert_int_equal(gw_rl_available(&b, 100000), 0);
    assert_int_equal(gw_rl_wait_ms(&b, 50000, 100000), 51);
    assert_int_equal(gw_rl_available(&b, 150000), 50000);
}

static void test_default_burst(void **state)
{
    struct gw_ratelimit b;

    (void)state;
    gw_rl_init(&b, 10 * 1024 * 1024, 0, 0);
    assert_int_equal(b.burst, 10 * 1024 * 1024 / 4);
    gw_rl_init(&b, 1000, 0, 0); /* tiny rates keep a usable burst */
    assert_int_equal(b.burst, GW_RL_BURST_MIN);
    gw_rl_init(&b, 1000, 10, 0);
    assert_int_equal(b.burst, GW_RL_BURST_MIN);
}

static void test_set_keeps_tokens(void **state)
{
    struct gw_ratelimit b;

    (void)state;
    gw_rl_init(&b, 1000000, 400000, 0);
    assert_int_equal(gw_rl_take(&b, 300000, 0), 300000);
    gw_rl_set(&b, 2000000, 400000, 0);
    assert_int_equal(gw_rl_available(&b, 0), 100000);
    assert_int_equal(gw_rl_available(&b, 100000), 300000);
    gw_rl_set(&b, 2000000, 100000, 100000); /* a smaller burst caps them */
    assert_int_equal(gw_rl_available(&b, 100000), 100000);
    gw_rl_set(&b, 0, 0, 100000);
    assert_false(gw_rl_limited(&b));
}

/* The rate holds over a long run of small reads at random moments. */
static void test_long_run_rate(void **state)
{
    struct gw_ratelimit b;
    uint64_t moved = 0;
    int64_t now = 0;
    uint32_t seed = 12345;

    (void)state;
    gw_rl_init(&b, 10 * 1000 * 1000, 0, 0);
    while (now < 30 * (int64_t)SEC) {
        seed = seed * 1103515245u + 12345u;
        moved += gw_rl_take(&b, 65536, now);
        now += 100 + (seed >> 16) % 5000; /* 0.1 .. 5 ms */
    }
    /* 30 s at 10 MB/s plus the initial burst, less the last step */
    assert_true(moved <= 300000000u + b.burst);
    assert_true(moved >= 300000000u + b.burst - 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_wait_ms),
        cmocka_unit_test(test_overdraft_is_paid_back),
        cmocka_unit_test(test_default_burst),
        cmocka_unit_test(test_set_keeps_tokens),
        cmocka_unit_test(test_long_run_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
