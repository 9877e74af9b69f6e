/* Unit tests for core/timeutil: what --expires and --since accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"

static void test_absolute(void **state)
{
    char out[GW_TIME_LEN];
    (void)state;
    assert_int_equal(gw_time_parse("2026-12-31", GW_TIME_FUTURE, out), GW_OK);
    assert_string_equal(out, "2026-12-31T00:00:00.000Z");
    assert_int_equal(gw_time_parse("2026-12-31T10:20:30Z", GW_TIME_FUTURE, out),
                     GW_OK);
    assert_string_equal(out, "2026-12-31T10:20:30.000Z");
    assert_int_equal(gw_time_parse("2026-01-02T03:04", GW_TIME_PAST, out),
                     GW_OK);
    assert_string_equal(out, "2026-01-02T03:04:00.000Z");
}

static void test_relative(void **state)
{
    char now[GW_TIME_LEN];
    char past[GW_TIME_LEN];
    char future[GW_TIME_LEN];
    (void)state;
    gw_time_now_iso(now);
    assert_int_equal(gw_time_parse("7d", GW_TIME_PAST, past), GW_OK);
    assert_int_equal(gw_time_parse("12h", GW_TIME_FUTURE, future), GW_OK);
    assert_true(strcmp(past, now) < 0);
    assert_true(strcmp(future, now) > 0);
    assert_int_equal(gw_time_parse("30m", GW_TIME_PAST, past), GW_OK);
    assert_int_equal(gw_time_parse("4w", GW_TIME_PAST, past), GW_OK);
    assert_int_equal(gw_time_parse("90s", GW_TIME_PAST, past), GW_OK);
}

static void test_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        "tomorrow",
        "2026-13-01",
        "2026-02-30",
        "7",
        "7y",
        "-7d",
        "2026-12-31T25:00",
        "2026-12-31x",
        "d7",
        "2026-12-31T10:00:00+02:00",
    };
    char out[GW_TIME_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gw_time_parse(bad[i], GW_TIME_PAST, out),
                         GW_ERR_INVALID);
    }
}

static void test_iso_sorts(void **state)
{
    char a[GW_TIME_LEN];
    char b[GW_TIME_LEN];
    (void)state;
    gw_time_iso(1000, a);
    gw_time_iso(2000000000, b);
    assert_string_equal(a, "1970-01-01T00:16:40.000Z");
    assert_true(strcmp(a, b) < 0);
    assert_true(gw_now_ms() > 0);
}

static void test_iso_ms(void **state)
{
    char out[GW_TIME_LEN];
    char now[GW_TIME_LEN];
    int64_t ms = 0;
    (void)state;
    /* The same form the tables use, milliseconds included. */
    gw_time_iso_ms(INT64_C(1795720465123), out);
    assert_string_equal(out, "2026-11-26T19:14:25.123Z");
    gw_time_iso_ms(7, out);
    assert_string_equal(out, "1970-01-01T00:00:00.007Z");
    gw_time_iso_ms(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    assert_int_equal(gw_time_iso_parse_ms("2026-11-26T19:14:25.123Z", &ms),
                     GW_OK);
    assert_int_equal(ms, INT64_C(1795720465123));
    assert_int_equal(gw_time_iso_parse_ms("1970-01-01T00:16:40Z", &ms), GW_OK);
    assert_int_equal(ms, 1000000);
    /* A round trip through the text keeps every millisecond. */
    ms = gw_time_wall_ms();
    gw_time_iso_ms(ms, out);
    int64_t back = 0;
    assert_int_equal(gw_time_iso_parse_ms(out, &back), GW_OK);
    assert_int_equal(back, ms);
    gw_time_now_iso(now);
    assert_true(strncmp(out, now, 16) <= 0);
    assert_int_equal(gw_time_iso_parse_ms("2026-11-26T19:14:25.12Z", &ms),
                     GW_ERR_INVALID);
    assert_int_equal(gw_time_iso_parse_ms("2026-11-26T19:14:25.123", &ms),
                     GW_ERR_INVALID);
    assert_int_equal(gw_time_iso_parse_ms("2026-11-26", &ms), GW_ERR_INVALID);
    assert_int_equal(gw_time_iso_parse_ms("x", &ms), GW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absolute), cmocka_unit_test(test_relative),
        cmocka_unit_test(test_rejected), cmocka_unit_test(test_iso_sorts),
        cmocka_unit_test(test_iso_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
