/* Unit tests for core/proxy_url: proxy URLs and the bypass list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "core/proxy_url.h"

static void canonical(const char *text, const char *want)
{
    struct gw_proxy_url url;
    char out[GW_PROXY_URL_MAX];

    assert_int_equal(gw_proxy_url_parse(text, &url), GW_OK);
    gw_proxy_url_format(&url, out, sizeof(out));
    assert_string_equal(out, want);
}

static void refused(const char *text, const char *why)
{
    struct gw_proxy_url url;

    assert_int_equal(gw_proxy_url_parse(text, &url), GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), why));
    assert_int_equal(url.port, 0);
}

static void test_parse(void **state)
{
    struct gw_proxy_url url;
    char out[GW_PROXY_URL_MAX];

    (void)state;
    assert_int_equal(gw_proxy_url_parse("socks5h://bob@px.example:1080", &url),
                     GW_OK);
    assert_int_equal(url.kind, GW_PROXY_SOCKS5H);
    assert_string_equal(url.host, "px.example");
    assert_int_equal(url.port, 1080);
    assert_string_equal(url.user, "bob");
    gw_proxy_url_endpoint(&url, out, sizeof(out));
    assert_string_equal(out, "socks5h://px.example:1080");
    canonical("SOCKS4://10.0.0.1:1080", "socks4://10.0.0.1:1080");
    canonical("socks4a://h:1", "socks4a://h:1");
    canonical("socks5://a.b-c_d:65535", "socks5://a.b-c_d:65535");
    canonical("Http://gw.user@[2001:db8::1]:3128",
              "http://gw.user@[2001:db8::1]:3128");
    assert_int_equal(gw_proxy_url_parse("http://[::1]:8080", &url), GW_OK);
    assert_string_equal(url.host, "::1");
    gw_proxy_url_endpoint(&url, out, sizeof(out));
    assert_string_equal(out, "http://[::1]:8080");
}

static void test_parse_refusals(void **state)
{
    (void)state;
    refused("px:1080", "no scheme");
    refused("https://px:443", "https");
    refused("ftp://px:21", "unknown scheme");
    refused("socks5://px", "no port");
    refused("socks5://px:0", "port");
    refused("socks5://px:65536", "port");
    refused("socks5://px:1080/path", "no path");
    refused("socks5://:1080", "host");
    refused("socks5://p x:1080", "host");
    refused("socks5://::1:1080", "host");
    refused("socks5://[10.0.0.1]:1080", "IPv6");
    refused("socks5://[::1:1080", "brackets");
    refused("socks5://@px:1080", "user");
    refused("socks5://b!b@px:1080", "user");
    refused("socks5://bob:secret@px:1080", "--proxy-password-stdin");
    /* The password is never repeated in the message. */
    assert_null(strstr(gw_err_msg(), "secret"));
    refused("socks5://px:1080\n", "control");
    refused("", "no scheme");
}

static void test_bypass_check(void **state)
{
    (void)state;
    assert_int_equal(gw_proxy_bypass_check(""), GW_OK);
    assert_int_equal(gw_proxy_bypass_check(NULL), GW_OK);
    assert_int_equal(gw_proxy_bypass_check("10.0.0.0/8, 2001:db8::/32 ,"
                                           "192.0.2.7,*.internal,db?,"
                                           "localhost"),
                     GW_OK);
    assert_int_equal(gw_proxy_bypass_check("10.0.0.1/8"), GW_ERR_INVALID);
    assert_int_equal(gw_proxy_bypass_check("a,,b"), GW_ERR_INVALID);
    assert_int_equal(gw_proxy_bypass_check("web[1]"), GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "web[1]"));
    assert_int_equal(gw_proxy_bypass_check("a b"), GW_ERR_INVALID);
}

static void test_bypass_match(void **state)
{
    const char *list = "10.0.0.0/8, 2001:db8::/32, 192.0.2.7, *.internal, "
                       "db?, LocalHost";

    (void)state;
    assert_true(gw_proxy_bypassed(list, "10.1.2.3"));
    assert_true(gw_proxy_bypassed(list, "2001:db8::5"));
    assert_true(gw_proxy_bypassed(list, "192.0.2.7"));
    assert_false(gw_proxy_bypassed(list, "192.0.2.8"));
    assert_false(gw_proxy_bypassed(list, "11.0.0.1"));
    assert_true(gw_proxy_bypassed(list, "web1.internal"));
    assert_true(gw_proxy_bypassed(list, "WEB1.Internal"));
    assert_false(gw_proxy_bypassed(list, "internal"));
    assert_true(gw_proxy_bypassed(list, "db1"));
    assert_false(gw_proxy_bypassed(list, "db10"));
    assert_true(gw_proxy_bypassed(list, "localhost"));
    /* Names are not resolved: a name never matches a network, an address
     * never a pattern. */
    assert_false(gw_proxy_bypassed("127.0.0.0/8", "localhost"));
    assert_false(gw_proxy_bypassed("*", "127.0.0.1"));
    assert_true(gw_proxy_bypassed("*", "anything"));
    assert_false(gw_proxy_bypassed("", "10.0.0.1"));
    assert_false(gw_proxy_bypassed(NULL, "10.0.0.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_bypass_check),
        cmocka_unit_test(test_bypass_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
