/* Unit tests for core/proxyproto: PROXY protocol v1 and v2 headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

#include "core/cidr.h"
#include "core/err.h"
#include "core/proxyproto.h"

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static int parse_text(const char *text, enum gw_proxy_mode mode,
                      struct gw_proxy_header *h)
{
    return gw_proxy_parse((const uint8_t *)text, strlen(text), mode, h);
}

static void assert_addr(const struct gw_addr *a, const char *want)
{
    char text[GW_ADDR_TEXT_MAX];

    gw_addr_format(a, text);
    assert_string_equal(text, want);
}

/* A v2 header: fixed part, then body (the address block and any TLVs). */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
                 const uint8_t *body, size_t blen)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)(blen & 0xff);
    if (blen > 0) {
        memcpy(out + 16, body, blen);
    }
    return 16 + blen;
}

static void test_v1_tcp4(void **state)
{
    const char *text = "PROXY TCP4 192.0.2.7 198.51.100.1 40022 22\r\nSSH-2.0-";
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(parse_text(text, GW_PROXY_V1, &h), GW_OK);
    assert_int_equal(h.version, 1);
    assert_false(h.local);
    assert_int_equal(h.len, strlen(text) - strlen("SSH-2.0-"));
    assert_addr(&h.source, "192.0.2.7:40022");
    assert_addr(&h.dest, "198.51.100.1:22");
    assert_int_equal(parse_text(text, GW_PROXY_ANY, &h), GW_OK);
    assert_int_equal(parse_text(text, GW_PROXY_V2, &h), GW_ERR_INVALID);
}

static void test_v1_tcp6(void **state)
{
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(
        parse_text("PROXY TCP6 2001:db8::1 2001:db8::2 65535 2222\r\n",
                   GW_PROXY_V1, &h),
        GW_OK);
    assert_addr(&h.source, "[2001:db8::1]:65535");
    assert_addr(&h.dest, "[2001:db8::2]:2222");
    /* A mapped address is the IPv4 client it stands for. */
    assert_int_equal(
        parse_text("PROXY TCP6 ::ffff:192.0.2.9 ::1 1 0\r\n", GW_PROXY_V1, &h),
        GW_OK);
    assert_int_equal(h.source.family, AF_INET);
    assert_addr(&h.source, "192.0.2.9:1");
}

static void test_v1_unknown(void **state)
{
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(parse_text("PROXY UNKNOWN\r\n", GW_PROXY_V1, &h), GW_OK);
    assert_true(h.local);
    assert_int_equal(h.len, 15);
    assert_int_equal(parse_text("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n",
                                GW_PROXY_V1, &h),
                     GW_OK);
    assert_true(h.local);
}

static void test_v1_bad(void **state)
{
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.7 198.51.100.1 40022\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 40022 22 9\r\n",
        "PROXY TCP4  192.0.2.7 198.51.100.1 40022 22\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 65536 22\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 022 22\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 -1 22\r\n",
        "PROXY TCP4 2001:db8::1 198.51.100.1 1 22\r\n",
        "PROXY TCP6 192.0.2.7 ::1 1 22\r\n",
        "PROXY UDP4 192.0.2.7 198.51.100.1 1 22\r\n",
        "PROXY\r\n",
        "PROXY TCP4 192.0.2.7\t198.51.100.1 1 22\r\n",
        "proxy TCP4 192.0.2.7 198.51.100.1 1 22\r\n",
        "PROXY UNKNOWN x\r\r\n", /* found by fuzz_proxyproto */
        "SSH-2.0-OpenSSH_9.2\r\n",
    };
    struct gw_proxy_header h;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_text(bad[i], GW_PROXY_ANY, &h), GW_ERR_INVALID);
    }
}

static void test_v1_truncated_and_oversize(void **state)
{
    const char *full = "PROXY TCP4 192.0.2.7 198.51.100.1 40022 22\r\n";
    char longline[200];
    struct gw_proxy_header h;

    (void)state;
    for (size_t n = 0; n < strlen(full); n++) {
        assert_int_equal(
            gw_proxy_parse((const uint8_t *)full, n, GW_PROXY_V1, &h),
            GW_AGAIN);
    }
    /* No CRLF within 107 bytes: never a header, however long we wait. */
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "PROXY UNKNOWN ", 14);
    assert_int_equal(
        gw_proxy_parse((const uint8_t *)longline, 106, GW_PROXY_V1, &h),
        GW_AGAIN);
    assert_int_equal(
        gw_proxy_parse((const uint8_t *)longline, 107, GW_PROXY_V1, &h),
        GW_ERR_INVALID);
    /* The CRLF as the 106th and 107th bytes is the longest line allowed. */
    longline[105] = '\r';
    longline[106] = '\n';
    assert_int_equal(
        gw_proxy_parse((const uint8_t *)longline, 150, GW_PROXY_V1, &h), GW_OK);
    assert_int_equal(h.len, 107);
    longline[105] = 'x';
    longline[106] = '\r';
    longline[107] = '\n';
    assert_int_equal(
        gw_proxy_parse((const uint8_t *)longline, 150, GW_PROXY_V1, &h),
        GW_ERR_INVALID);
    /* A byte that can never be in a line fails at once. */
    assert_int_equal(
        gw_proxy_parse((const uint8_t *)"PROXY \x01", 7, GW_PROXY_V1, &h),
        GW_ERR_INVALID);
}

static void test_v2_inet(void **state)
{
    const uint8_t body[12] = {127, 0, 0, 99, 10, 0, 0, 1, 0x10, 0x92, 0, 22};
    uint8_t buf[64];
    size_t n = v2(buf, 0x21, 0x11, body, sizeof(body));
    struct gw_proxy_header h;

    (void)state;
    memcpy(buf + n, "SSH-", 4);
    assert_int_equal(gw_proxy_parse(buf, n + 4, GW_PROXY_V2, &h), GW_OK);
    assert_int_equal(h.version, 2);
    assert_int_equal(h.len, 28);
    assert_false(h.local);
    assert_addr(&h.source, "127.0.0.99:4242");
    assert_addr(&h.dest, "10.0.0.1:22");
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_ANY, &h), GW_OK);
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V1, &h), GW_ERR_INVALID);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(gw_proxy_parse(buf, k, GW_PROXY_V2, &h), GW_AGAIN);
    }
}

static void test_v2_inet6_and_tlvs(void **state)
{
    uint8_t body[36 + 9] = {0};
    uint8_t buf[128];
    size_t n = 0;
    struct gw_proxy_header h;

    (void)state;
    body[0] = 0x20;
    body[1] = 0x01;
    body[2] = 0x0d;
    body[3] = 0xb8;
    body[15] = 1; /* 2001:db8::1 */
    body[31] = 1; /* ::1 */
    body[32] = 0xff;
    body[33] = 0xff;
    body[34] = 0;
    body[35] = 22;
    /* A TLV (PP2_TYPE_AUTHORITY "host1") after the addresses: skipped. */
    memcpy(body + 36, "\x02\x00\x06host1", 9);
    n = v2(buf, 0x21, 0x21, body, sizeof(body));
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_OK);
    assert_int_equal(h.len, 16 + 45);
    assert_addr(&h.source, "[2001:db8::1]:65535");
    assert_addr(&h.dest, "[::1]:22");
    /* Too short for the family's address block. */
    n = v2(buf, 0x21, 0x21, body, 20);
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
}

static void test_v2_local_and_unspec(void **state)
{
    const uint8_t body[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    uint8_t buf[64];
    size_t n = v2(buf, 0x20, 0x00, NULL, 0);
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_OK);
    assert_true(h.local);
    assert_int_equal(h.len, 16);
    /* LOCAL ignores whatever address it carries. */
    n = v2(buf, 0x20, 0x11, body, sizeof(body));
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_OK);
    assert_true(h.local);
    assert_int_equal(h.len, 28);
    /* PROXY with an UNSPEC family: no address to take. */
    n = v2(buf, 0x21, 0x00, NULL, 0);
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_OK);
    assert_true(h.local);
}

static void test_v2_bad(void **state)
{
    const uint8_t body[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    uint8_t buf[64];
    size_t n = 0;
    struct gw_proxy_header h;

    (void)state;
    n = v2(buf, 0x21, 0x11, body, sizeof(body));
    buf[7] = 'X'; /* bad signature */
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
    assert_int_equal(gw_proxy_parse(buf, 8, GW_PROXY_V2, &h), GW_ERR_INVALID);
    n = v2(buf, 0x11, 0x11, body, sizeof(body)); /* version 1 */
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
    n = v2(buf, 0x22, 0x11, body, sizeof(body)); /* command 2 */
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
    n = v2(buf, 0x21, 0x12, body, sizeof(body)); /* datagram */
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
    n = v2(buf, 0x21, 0x41, body, sizeof(body)); /* family 4 */
    assert_int_equal(gw_proxy_parse(buf, n, GW_PROXY_V2, &h), GW_ERR_INVALID);
    /* Oversize: refused from the fixed part alone, before the body. */
    n = v2(buf, 0x21, 0x11, NULL, 0);
    buf[14] = 0x04;
    buf[15] = 0x01; /* 1025 bytes */
    assert_int_equal(gw_proxy_parse(buf, 16, GW_PROXY_V2, &h), GW_ERR_INVALID);
    buf[15] = 0x00; /* 1024 bytes: allowed, so wait for them */
    assert_int_equal(gw_proxy_parse(buf, 16, GW_PROXY_V2, &h), GW_AGAIN);
}

static void test_garbage_and_modes(void **state)
{
    static const uint8_t junk[] = {0xff, 0x00, 0x13, 0x37};
    enum gw_proxy_mode m = GW_PROXY_OFF;
    struct gw_proxy_header h;

    (void)state;
    assert_int_equal(gw_proxy_parse(junk, sizeof(junk), GW_PROXY_ANY, &h),
                     GW_ERR_INVALID);
    assert_int_equal(gw_proxy_parse(junk, 0, GW_PROXY_ANY, &h), GW_AGAIN);
    assert_int_equal(gw_proxy_mode_parse("any", &m), GW_OK);
    assert_int_equal(m, GW_PROXY_ANY);
    assert_int_equal(gw_proxy_mode_parse("v1", &m), GW_OK);
    assert_int_equal(m, GW_PROXY_V1);
    assert_int_equal(gw_proxy_mode_parse("v2", &m), GW_OK);
    assert_int_equal(m, GW_PROXY_V2);
    assert_int_equal(gw_proxy_mode_parse("off", &m), GW_OK);
    assert_int_equal(m, GW_PROXY_OFF);
    assert_int_equal(gw_proxy_mode_parse("on", &m), GW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_bad),
        cmocka_unit_test(test_v1_truncated_and_oversize),
        cmocka_unit_test(test_v2_inet),
        cmocka_unit_test(test_v2_inet6_and_tlvs),
        cmocka_unit_test(test_v2_local_and_unspec),
        cmocka_unit_test(test_v2_bad),
        cmocka_unit_test(test_garbage_and_modes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
