/* Unit tests for core/strutil: the name rules people run into first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "core/strutil.h"

static void test_names_accepted(void **state)
{
    (void)state;
    assert_int_equal(gw_name_check("user name", "alice", '+'), GW_OK);
    assert_int_equal(gw_name_check("user name", "web-01.prod_eu", '+'), GW_OK);
    assert_int_equal(gw_name_check("user name", "a", '+'), GW_OK);
    char longest[GW_NAME_MAX + 1];
    memset(longest, 'x', GW_NAME_MAX);
    longest[GW_NAME_MAX] = '\0';
    assert_int_equal(gw_name_check("user name", longest, '+'), GW_OK);
}

static void test_names_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        "al ice",
        "al\tice",
        "ali\x01"
        "ce",
        "al+ice",
        "al@ice",
        "-alice",
        "a:b",
        "a/b",
        "a;b",
        "a$b",
        "a`b`",
        "al%ice",
        "\xc3\xa9",
        "a\x7f",
        "a'b",
        "a\"b",
        "a\nb",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_err_clear();
        assert_int_equal(gw_name_check("user name", bad[i], '+'),
                         GW_ERR_INVALID);
        /* Every refusal explains itself in one line. */
        assert_null(strchr(gw_err_msg(), '\n'));
        assert_non_null(strstr(gw_err_msg(), "user name"));
    }
    char toolong[GW_NAME_MAX + 2];
    memset(toolong, 'x', GW_NAME_MAX + 1);
    toolong[GW_NAME_MAX + 1] = '\0';
    assert_int_equal(gw_name_check("user name", toolong, '+'), GW_ERR_INVALID);
}

static void test_separator_message(void **state)
{
    (void)state;
    assert_int_equal(gw_name_check("host name", "web+1", '+'), GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "separator"));
}

static void test_ports(void **state)
{
    uint16_t port = 0;
    (void)state;
    assert_int_equal(gw_port_parse("22", &port), GW_OK);
    assert_int_equal(port, 22);
    assert_int_equal(gw_port_parse("65535", &port), GW_OK);
    assert_int_equal(port, 65535);
    assert_int_equal(gw_port_parse("1", &port), GW_OK);
    assert_int_equal(gw_port_parse("0", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse("65536", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse("-1", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse("22x", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse("", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse(" 22", &port), GW_ERR_INVALID);
    assert_int_equal(gw_port_parse("99999999999999999999", &port),
                     GW_ERR_INVALID);
    assert_int_equal(port, 1);
}

static void test_strlcpy_and_trim(void **state)
{
    char buf[4];
    char text[] = "  hello \t\n";
    (void)state;
    assert_int_equal(gw_strlcpy(buf, "abc", sizeof(buf)), GW_OK);
    assert_string_equal(buf, "abc");
    assert_int_equal(gw_strlcpy(buf, "abcd", sizeof(buf)), GW_ERR_INVALID);
    assert_string_equal(buf, "abc");
    assert_string_equal(gw_trim(text), "hello");
    assert_true(gw_has_control("a\x1b[31m"));
    assert_false(gw_has_control("plain text"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_accepted),
        cmocka_unit_test(test_names_rejected),
        cmocka_unit_test(test_separator_message),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_strlcpy_and_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
