/* Unit tests for core/buf: growth, the cap, consuming from the front. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

static void test_append_consume(void **state)
{
    struct gw_buf b;

    (void)state;
    gw_buf_init(&b, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(gw_buf_puts(&b, "hello "), GW_OK);
    assert_int_equal(gw_buf_appendf(&b, "%s %d", "world", 42), GW_OK);
    assert_string_equal(b.data, "hello world 42");
    gw_buf_consume(&b, 6);
    assert_string_equal(b.data, "world 42");
    gw_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(gw_buf_append(&b, "0123456789", 10), GW_OK);
    }
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[b.len], '\0');
    gw_buf_free(&b);
    assert_null(b.data);
    gw_buf_free(&b);
}

static void test_cap(void **state)
{
    struct gw_buf b;

    (void)state;
    gw_buf_init(&b, 8);
    assert_int_equal(gw_buf_puts(&b, "12345678"), GW_OK);
    assert_int_equal(gw_buf_puts(&b, "9"), GW_ERR_INVALID);
    assert_int_equal(gw_buf_appendf(&b, "%d", 9), GW_ERR_INVALID);
    assert_string_equal(b.data, "12345678");
    gw_buf_reset(&b);
    assert_int_equal(gw_buf_puts(&b, "abc"), GW_OK);
    gw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_consume),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
