/* Unit tests for gateway/target: login names select user and target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "gateway/conn/target.h"

static void test_user_only(void **state)
{
    struct gw_target t;

    (void)state;
    assert_int_equal(gw_target_parse("alice", '+', &t), GW_OK);
    assert_string_equal(t.user, "alice");
    assert_string_equal(t.host, "");
    assert_string_equal(t.login, "");
    assert_false(gw_target_has_host(&t));
}

static void test_user_and_host(void **state)
{
    struct gw_target t;

    (void)state;
    assert_int_equal(gw_target_parse("alice+web1", '+', &t), GW_OK);
    assert_string_equal(t.user, "alice");
    assert_string_equal(t.host, "web1");
    assert_string_equal(t.login, "");
    assert_true(gw_target_has_host(&t));
}

static void test_user_login_host(void **state)
{
    struct gw_target t;

    (void)state;
    assert_int_equal(gw_target_parse("alice+root@web1.prod", '+', &t), GW_OK);
    assert_string_equal(t.user, "alice");
    assert_string_equal(t.login, "root");
    assert_string_equal(t.host, "web1.prod");
}

static void test_other_separator(void **state)
{
    struct gw_target t;

    (void)state;
    assert_int_equal(gw_target_parse("alice%deploy@db1", '%', &t), GW_OK);
    assert_string_equal(t.user, "alice");
    assert_string_equal(t.login, "deploy");
    assert_string_equal(t.host, "db1");
    /* With '%' as separator, '+' is just a bad character. */
    assert_int_equal(gw_target_parse("alice+web1", '%', &t), GW_ERR_INVALID);
}

static void test_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        "+web1",
        "alice+",
        "alice+@web1",
        "alice+root@",
        "alice+a@b@c",
        "alice+web1+x",
        "alice@web1",
        "-alice",
        "al ice+web1",
        "alice+we b1",
        "alice+web1;rm",
        "alice\n+web1",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    struct gw_target t;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_err_clear();
        memset(&t, 'x', sizeof(t));
        assert_int_equal(gw_target_parse(bad[i], '+', &t), GW_ERR_INVALID);
        /* Nothing half-parsed is left behind. */
        assert_string_equal(t.user, "");
        assert_string_equal(t.host, "");
        assert_null(strchr(gw_err_msg(), '\n'));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_only),
        cmocka_unit_test(test_user_and_host),
        cmocka_unit_test(test_user_login_host),
        cmocka_unit_test(test_other_separator),
        cmocka_unit_test(test_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
