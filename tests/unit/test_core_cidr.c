/* Unit tests for core/cidr: peer addresses, listen addresses, CIDR lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

#include "core/cidr.h"
#include "core/err.h"

static struct gw_addr ip(const char *text)
{
    struct gw_addr a;

    assert_int_equal(gw_addr_parse_ip(text, &a), GW_OK);
    return a;
}

static void test_hostport(void **state)
{
    struct gw_addr a;
    char text[GW_ADDR_TEXT_MAX];

    (void)state;
    assert_int_equal(gw_addr_parse_hostport("127.0.0.1:2222", &a), GW_OK);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 2222);
    gw_addr_format(&a, text);
    assert_string_equal(text, "127.0.0.1:2222");
    assert_int_equal(gw_addr_parse_hostport("[::1]:22", &a), GW_OK);
    assert_int_equal(a.family, AF_INET6);
    gw_addr_format(&a, text);
    assert_string_equal(text, "[::1]:22");
    gw_addr_format_ip(&a, text);
    assert_string_equal(text, "::1");
    assert_int_equal(gw_addr_parse_hostport("[::]:2222", &a), GW_OK);
}

static void test_hostport_rejected(void **state)
{
    static const char *const bad[] = {
        "127.0.0.1",       "127.0.0.1:",
        "127.0.0.1:0",     "127.0.0.1:65536",
        "::1:22",          "[127.0.0.1]:22",
        "[::1]",           "[::1]22",
        "localhost:22",    ":22",
        "1.2.3.4:22x",     "",
        "[fe80::1%lo]:22",
    };
    struct gw_addr a;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gw_addr_parse_hostport(bad[i], &a), GW_ERR_INVALID);
    }
}

static void test_v4_mapped_is_v4(void **state)
{
    struct sockaddr_in6 in6;
    struct gw_addr a;
    char text[GW_ADDR_TEXT_MAX];

    (void)state;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(5555);
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    in6.sin6_addr.s6_addr[12] = 10;
    in6.sin6_addr.s6_addr[15] = 7;
    assert_int_equal(
        gw_addr_from_sockaddr((struct sockaddr *)&in6, sizeof(in6), &a), GW_OK);
    assert_int_equal(a.family, AF_INET);
    gw_addr_format(&a, text);
    assert_string_equal(text, "10.0.0.7:5555");
}

static void test_cidr_match(void **state)
{
    struct gw_cidr net;
    struct gw_addr a;

    (void)state;
    assert_int_equal(gw_cidr_parse("10.0.0.0/8", &net), GW_OK);
    a = ip("10.255.1.2");
    assert_true(gw_cidr_match(&net, &a));
    a = ip("11.0.0.1");
    assert_false(gw_cidr_match(&net, &a));
    a = ip("::ffff:10.0.0.1"); /* a v6 literal stays v6 here */
    assert_false(gw_cidr_match(&net, &a));

    assert_int_equal(gw_cidr_parse("192.168.1.128/25", &net), GW_OK);
    a = ip("192.168.1.200");
    assert_true(gw_cidr_match(&net, &a));
    a = ip("192.168.1.127");
    assert_false(gw_cidr_match(&net, &a));

    assert_int_equal(gw_cidr_parse("2001:db8::/32", &net), GW_OK);
    a = ip("2001:db8:ffff::1");
    assert_true(gw_cidr_match(&net, &a));
    a = ip("2001:db9::1");
    assert_false(gw_cidr_match(&net, &a));

    assert_int_equal(gw_cidr_parse("0.0.0.0/0", &net), GW_OK);
    a = ip("203.0.113.9");
    assert_true(gw_cidr_match(&net, &a));
}

static void test_bare_address_is_host(void **state)
{
    struct gw_cidr net;
    struct gw_addr a;

    (void)state;
    assert_int_equal(gw_cidr_parse("127.0.0.1", &net), GW_OK);
    assert_int_equal(net.prefix, 32);
    a = ip("127.0.0.1");
    assert_true(gw_cidr_match(&net, &a));
    a = ip("127.0.0.2");
    assert_false(gw_cidr_match(&net, &a));
    assert_int_equal(gw_cidr_parse("::1", &net), GW_OK);
    assert_int_equal(net.prefix, 128);
}

static void test_cidr_rejected(void **state)
{
    static const char *const bad[] = {
        "10.0.0.1/8", /* host bits set */
        "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/",   "/8", "10.0.0/8",
        "10.0.0.0/-1", "10.0.0.0/8x",    "example.org", "",
    };
    struct gw_cidr net;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_err_clear();
        assert_int_equal(gw_cidr_parse(bad[i], &net), GW_ERR_INVALID);
        assert_null(strchr(gw_err_msg(), '\n'));
    }
}

static void test_list(void **state)
{
    struct gw_cidr_list list;
    struct gw_addr a;

    (void)state;
    assert_int_equal(
        gw_cidr_list_parse(" 10.0.0.0/8, ::1 ,192.0.2.0/24", &list), GW_OK);
    assert_int_equal(list.n, 3);
    a = ip("::1");
    assert_true(gw_cidr_list_match(&list, &a));
    a = ip("192.0.2.77");
    assert_true(gw_cidr_list_match(&list, &a));
    a = ip("127.0.0.1");
    assert_false(gw_cidr_list_match(&list, &a));
    gw_cidr_list_free(&list);

    assert_int_equal(gw_cidr_list_parse("   ", &list), GW_OK);
    assert_int_equal(list.n, 0);
    assert_false(gw_cidr_list_match(&list, &a));
    gw_cidr_list_free(&list);

    assert_int_equal(gw_cidr_list_parse("10.0.0.0/8,,::1", &list),
                     GW_ERR_INVALID);
    assert_int_equal(gw_cidr_list_parse("10.0.0.0/8,", &list), GW_ERR_INVALID);
    assert_int_equal(gw_cidr_list_parse("10.0.0.0/8, bad", &list),
                     GW_ERR_INVALID);
    assert_null(list.items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_hostport_rejected),
        cmocka_unit_test(test_v4_mapped_is_v4),
        cmocka_unit_test(test_cidr_match),
        cmocka_unit_test(test_bare_address_is_host),
        cmocka_unit_test(test_cidr_rejected),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
