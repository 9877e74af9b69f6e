/* Unit tests for gateway/refuse (the pre-key-exchange disconnect) and
 * gateway/algos (algorithm names libssh knows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "gateway/front/algos.h"
#include "gateway/front/refuse.h"

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* RFC 4253 6 and 11.1, with the "none" cipher (block size 8). */
static void test_disconnect_packet(void **state)
{
    uint8_t buf[GW_REFUSAL_MAX];
    const char *ident = "SSH-2.0-sshgate\r\n";
    const char *text = "too many connections";
    size_t len = 0;
    const uint8_t *pkt = buf + strlen(ident);
    uint32_t plen;
    uint8_t pad;

    (void)state;
    assert_int_equal(gw_refusal_build("sshgate",
                                      GW_DISCONNECT_TOO_MANY_CONNECTIONS, text,
                                      buf, &len),
                     GW_OK);
    assert_memory_equal(buf, ident, strlen(ident));
    plen = get_u32(pkt);
    pad = pkt[4];
    assert_int_equal(len, strlen(ident) + 4 + plen);
    assert_int_equal((4 + plen) % 8, 0);
    assert_true(pad >= 4);
    assert_int_equal(pkt[5], 1); /* SSH_MSG_DISCONNECT */
    assert_int_equal(get_u32(pkt + 6), 12);
    assert_int_equal(get_u32(pkt + 10), strlen(text));
    assert_memory_equal(pkt + 14, text, strlen(text));
    assert_int_equal(get_u32(pkt + 14 + strlen(text)), 0); /* language */
    assert_int_equal(plen, 1 + (1 + 4 + 4 + strlen(text) + 4) + pad);
}

static void test_padding_for_every_length(void **state)
{
    char text[64];
    uint8_t buf[GW_REFUSAL_MAX];
    size_t len = 0;

    (void)state;
    for (size_t n = 0; n < sizeof(text); n++) {
        memset(text, 'x', n);
        text[n] = '\0';
        assert_int_equal(gw_refusal_build("v", 1, text, buf, &len), GW_OK);
        const uint8_t *pkt = buf + strlen("SSH-2.0-v\r\n");
        assert_int_equal((4 + get_u32(pkt)) % 8, 0);
        assert_true(pkt[4] >= 4 && pkt[4] < 4 + 8);
    }
}

static void test_too_long(void **state)
{
    char text[GW_REFUSAL_MAX];
    uint8_t buf[GW_REFUSAL_MAX];
    size_t len = 0;

    (void)state;
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(gw_refusal_build("v", 1, text, buf, &len), GW_ERR_INVALID);
}

static int weak_count;

static void count_weak(void *ud, const char *name, const char *why)
{
    (void)ud;
    (void)name;
    assert_non_null(why);
    weak_count++;
}

static void test_algorithms(void **state)
{
    (void)state;
    weak_count = 0;
    assert_int_equal(gw_algos_check(GW_ALGO_KEX,
                                    "curve25519-sha256,"
                                    "diffie-hellman-group16-sha512",
                                    count_weak, NULL),
                     GW_OK);
    assert_int_equal(weak_count, 0);
    assert_int_equal(gw_algos_check(GW_ALGO_CIPHER, "aes128-cbc,aes256-ctr",
                                    count_weak, NULL),
                     GW_OK);
    assert_int_equal(weak_count, 1);
    assert_int_equal(gw_algos_check(GW_ALGO_MAC, "hmac-sha1", count_weak, NULL),
                     GW_OK);
    assert_int_equal(weak_count, 2);
    assert_int_equal(
        gw_algos_check(GW_ALGO_CIPHER, "aes256-ctr,rot13", NULL, NULL),
        GW_ERR_INVALID);
    assert_int_equal(gw_algos_check(GW_ALGO_KEX, "aes256-ctr", NULL, NULL),
                     GW_ERR_INVALID);
    assert_int_equal(gw_algos_check(GW_ALGO_PUBKEY,
                                    "ssh-ed25519-cert-v01@openssh.com", NULL,
                                    NULL),
                     GW_ERR_INVALID);
    assert_int_equal(
        gw_algos_check(GW_ALGO_HOSTKEY, "ssh-ed25519,", NULL, NULL),
        GW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disconnect_packet),
        cmocka_unit_test(test_padding_for_every_length),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_algorithms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
