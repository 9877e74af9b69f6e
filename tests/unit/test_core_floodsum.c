/* Unit tests for core/floodsum: the first occurrence of a key in an
 * interval is reported, the rest counted; the flush summarises ended
 * intervals only; a full table counts new keys under the overflow entry;
 * interval 0 reports everything and keeps nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/floodsum.h"

#define SEC 1000

/* What the flush handed out, copied (its strings die with the call). */
struct seen {
    int n;
    char source[8][GW_FLOODSUM_TEXT_MAX];
    char reason[8][GW_FLOODSUM_TEXT_MAX];
    uint64_t count[8];
    int64_t period_ms[8];
};

static void collect(void *ud, const struct gw_floodsum_summary *s)
{
    struct seen *seen = ud;
    int i = seen->n++;

    assert_true(i < 8);
    snprintf(seen->source[i], GW_FLOODSUM_TEXT_MAX, "%s",
             s->source != NULL ? s->source : "(other)");
    snprintf(seen->reason[i], GW_FLOODSUM_TEXT_MAX, "%s",
             s->reason != NULL ? s->reason : "(mixed)");
    seen->count[i] = s->count;
    seen->period_ms[i] = s->period_ms;
}

static struct gw_floodsum *table(size_t max_keys)
{
    struct gw_floodsum *fs = NULL;

    assert_int_equal(gw_floodsum_new(max_keys, &fs), GW_OK);
    return fs;
}

static void test_first_reported_rest_counted(void **state)
{
    struct gw_floodsum *fs = table(16);

    (void)state;
    assert_int_equal(gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, 0),
                     GW_FLOODSUM_REPORT);
    for (int i = 1; i <= 500; i++) {
        assert_int_equal(
            gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, i * 10),
            GW_FLOODSUM_COUNTED);
    }
    /* Another source, and another reason of the same source, are keys of
     * their own. */
    assert_int_equal(gw_floodsum_hit(fs, "10.0.0.2", "blocked", 10 * SEC, 100),
                     GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_hit(fs, "10.0.0.1", "locked", 10 * SEC, 100),
                     GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_size(fs), 3);
    gw_floodsum_free(fs);
}

static void test_flush_after_interval(void **state)
{
    struct gw_floodsum *fs = table(16);
    struct seen seen;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, 0),
                     GW_FLOODSUM_REPORT);
    for (int i = 0; i < 41; i++) {
        gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, 2 * SEC);
    }
    /* A key seen once has nothing to summarise. */
    gw_floodsum_hit(fs, "10.0.0.2", "blocked", 10 * SEC, 1 * SEC);

    /* Before the interval ends the flush says nothing and keeps all. */
    gw_floodsum_flush(fs, 9 * SEC, collect, &seen);
    assert_int_equal(seen.n, 0);
    assert_int_equal(gw_floodsum_size(fs), 2);

    /* Late in the interval, still counted; then the flush (a second late,
     * as the listener's may be) reports the real period. */
    assert_int_equal(
        gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, 10 * SEC),
        GW_FLOODSUM_COUNTED);
    gw_floodsum_flush(fs, 11 * SEC, collect, &seen);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.source[0], "10.0.0.1");
    assert_string_equal(seen.reason[0], "blocked");
    assert_int_equal(seen.count[0], 42);
    assert_int_equal(seen.period_ms[0], 11 * SEC);
    /* 10.0.0.2's interval ended too (at 11 s): dropped without a word. */
    assert_int_equal(gw_floodsum_size(fs), 0);

    /* Forgotten: the next occurrence is reported and starts anew. */
    assert_int_equal(
        gw_floodsum_hit(fs, "10.0.0.1", "blocked", 10 * SEC, 12 * SEC),
        GW_FLOODSUM_REPORT);
    gw_floodsum_free(fs);
}

static void test_interval_restarts_without_flush(void **state)
{
    struct gw_floodsum *fs = table(4);
    struct seen seen;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    /* An interval that ended with nothing counted does not need the flush
     * to make way: the next occurrence is reported. */
    assert_int_equal(gw_floodsum_hit(fs, "a", "r", SEC, 0), GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_hit(fs, "a", "r", SEC, 5 * SEC),
                     GW_FLOODSUM_REPORT);
    /* One that ended with a count takes late occurrences into its summary
     * rather than reporting them before the count. */
    assert_int_equal(gw_floodsum_hit(fs, "a", "r", SEC, 5 * SEC + 1),
                     GW_FLOODSUM_COUNTED);
    assert_int_equal(gw_floodsum_hit(fs, "a", "r", SEC, 7 * SEC),
                     GW_FLOODSUM_COUNTED);
    gw_floodsum_flush(fs, 7 * SEC, collect, &seen);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.count[0], 2);
    assert_int_equal(seen.period_ms[0], 2 * SEC);
    gw_floodsum_free(fs);
}

static void test_table_full_overflow(void **state)
{
    struct gw_floodsum *fs = table(2);
    struct seen seen;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(gw_floodsum_hit(fs, "a", "blocked", 10 * SEC, 0),
                     GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_hit(fs, "b", "blocked", 10 * SEC, 0),
                     GW_FLOODSUM_REPORT);
    /* Full: the first newcomer is reported (and starts the overflow's
     * interval), every later one is counted there, whoever it is. */
    assert_int_equal(gw_floodsum_hit(fs, "c", "blocked", 10 * SEC, SEC),
                     GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_size(fs), 3);
    for (int i = 0; i < 100; i++) {
        char src[16];
        snprintf(src, sizeof(src), "d%d", i);
        assert_int_equal(gw_floodsum_hit(fs, src, "blocked", 10 * SEC, SEC),
                         GW_FLOODSUM_COUNTED);
    }
    assert_int_equal(gw_floodsum_hit(fs, "c", "blocked", 10 * SEC, SEC),
                     GW_FLOODSUM_COUNTED);
    /* Keys in the table are still counted as their own. */
    assert_int_equal(gw_floodsum_hit(fs, "a", "blocked", 10 * SEC, SEC),
                     GW_FLOODSUM_COUNTED);
    assert_int_equal(gw_floodsum_size(fs), 3);

    gw_floodsum_flush(fs, 11 * SEC, collect, &seen);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.source[0], "a");
    assert_int_equal(seen.count[0], 1);
    assert_string_equal(seen.source[1], "(other)");
    assert_string_equal(seen.reason[1], "blocked");
    assert_int_equal(seen.count[1], 101);
    assert_int_equal(seen.period_ms[1], 10 * SEC);
    assert_int_equal(gw_floodsum_size(fs), 0);

    /* The table has room again; an overflow of several reasons says so. */
    gw_floodsum_hit(fs, "a", "blocked", 10 * SEC, 12 * SEC);
    gw_floodsum_hit(fs, "b", "blocked", 10 * SEC, 12 * SEC);
    assert_int_equal(gw_floodsum_hit(fs, "c", "blocked", 10 * SEC, 12 * SEC),
                     GW_FLOODSUM_REPORT);
    gw_floodsum_hit(fs, "d", "locked", 10 * SEC, 12 * SEC);
    gw_floodsum_flush_all(fs, 13 * SEC, collect, &seen);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.source[2], "(other)");
    assert_string_equal(seen.reason[2], "(mixed)");
    assert_int_equal(seen.count[2], 1);
    assert_int_equal(gw_floodsum_size(fs), 0);
    gw_floodsum_free(fs);
}

static void test_interval_zero_passes_through(void **state)
{
    struct gw_floodsum *fs = table(4);
    struct seen seen;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gw_floodsum_hit(fs, "10.0.0.1", "blocked", 0, i),
                         GW_FLOODSUM_REPORT);
    }
    assert_int_equal(gw_floodsum_size(fs), 0);
    gw_floodsum_flush_all(fs, 1000, collect, &seen);
    assert_int_equal(seen.n, 0);
    gw_floodsum_free(fs);
}

static void test_flush_all_and_churn(void **state)
{
    struct gw_floodsum *fs = table(8);
    struct seen seen;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    gw_floodsum_hit(fs, "a", "r", 10 * SEC, 0);
    gw_floodsum_hit(fs, "a", "r", 10 * SEC, SEC);
    gw_floodsum_hit(fs, "a", "r", 10 * SEC, SEC);
    gw_floodsum_flush_all(fs, 3 * SEC, collect, &seen);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.count[0], 2);
    assert_int_equal(seen.period_ms[0], 3 * SEC);
    assert_int_equal(gw_floodsum_size(fs), 0);

    /* Many keys come and go through a small table (its chains and free
     * list stay consistent): each round fills it, then empties it. */
    for (int round = 0; round < 50; round++) {
        int64_t t0 = (int64_t)round * 100 * SEC;
        for (int i = 0; i < 8; i++) {
            char src[16];
            snprintf(src, sizeof(src), "s%d", (round * 3 + i) % 13);
            assert_int_equal(gw_floodsum_hit(fs, src, "r", SEC, t0),
                             GW_FLOODSUM_REPORT);
        }
        assert_int_equal(gw_floodsum_size(fs), 8);
        gw_floodsum_flush(fs, t0 + SEC, collect, &seen);
        assert_int_equal(gw_floodsum_size(fs), 0);
    }
    assert_int_equal(seen.n, 1);
    gw_floodsum_free(fs);
}

static void test_long_texts_and_bad_size(void **state)
{
    struct gw_floodsum *fs = table(4);
    char long_a[200];
    char long_b[200];

    (void)state;
    /* Cut texts are compared as stored: two sources that differ only
     * beyond the limit are one key. */
    memset(long_a, 'x', sizeof(long_a) - 1);
    long_a[sizeof(long_a) - 1] = '\0';
    memcpy(long_b, long_a, sizeof(long_b));
    long_b[150] = 'y';
    assert_int_equal(gw_floodsum_hit(fs, long_a, "r", SEC, 0),
                     GW_FLOODSUM_REPORT);
    assert_int_equal(gw_floodsum_hit(fs, long_b, "r", SEC, 0),
                     GW_FLOODSUM_COUNTED);
    gw_floodsum_free(fs);
    gw_floodsum_free(NULL);
    fs = NULL;
    assert_int_equal(gw_floodsum_new(0, &fs), GW_ERR_INVALID);
    assert_null(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_reported_rest_counted),
        cmocka_unit_test(test_flush_after_interval),
        cmocka_unit_test(test_interval_restarts_without_flush),
        cmocka_unit_test(test_table_full_overflow),
        cmocka_unit_test(test_interval_zero_passes_through),
        cmocka_unit_test(test_flush_all_and_churn),
        cmocka_unit_test(test_long_texts_and_bad_size),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
