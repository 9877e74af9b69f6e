/* Unit tests for core/passwd (scrypt) and the crypto helpers under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/passwd.h"

static void test_hash_and_verify(void **state)
{
    char *hash = NULL;
    (void)state;
    assert_int_equal(gw_password_hash("correct horse", &hash), GW_OK);
    assert_non_null(strstr(hash, "$scrypt$ln=15,r=8,p=1$"));
    assert_null(strstr(hash, "correct horse"));
    assert_int_equal(gw_password_verify("correct horse", hash), GW_OK);
    assert_int_equal(gw_password_verify("correct horsE", hash), GW_ERR_DENIED);
    assert_int_equal(gw_password_verify("correct hors", hash), GW_ERR_DENIED);
    assert_int_equal(gw_password_verify("", hash), GW_ERR_DENIED);
    free(hash);
}

static void test_salted(void **state)
{
    char *a = NULL;
    char *b = NULL;
    (void)state;
    assert_int_equal(gw_password_hash_cost("same", 10, &a), GW_OK);
    assert_int_equal(gw_password_hash_cost("same", 10, &b), GW_OK);
    /* Per-user salt: equal passwords give different hashes. */
    assert_string_not_equal(a, b);
    assert_int_equal(gw_password_verify("same", a), GW_OK);
    assert_int_equal(gw_password_verify("same", b), GW_OK);
    free(a);
    free(b);
}

static void test_parameters_are_read_from_hash(void **state)
{
    char *low = NULL;
    (void)state;
    /* A hash made with another cost still verifies: parameters travel with
     * the hash, so the default can be raised later. */
    assert_int_equal(gw_password_hash_cost("pw", 11, &low), GW_OK);
    assert_non_null(strstr(low, "ln=11"));
    assert_int_equal(gw_password_verify("pw", low), GW_OK);
    free(low);
}

static void test_bad_input(void **state)
{
    char *hash = NULL;
    char *huge = NULL;
    (void)state;
    assert_int_equal(gw_password_hash("", &hash), GW_ERR_INVALID);
    assert_null(hash);
    huge = malloc(GW_PASSWORD_MAX + 2);
    assert_non_null(huge);
    memset(huge, 'a', GW_PASSWORD_MAX + 1);
    huge[GW_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(gw_password_hash(huge, &hash), GW_ERR_INVALID);
    free(huge);
    assert_int_equal(gw_password_hash_cost("x", 30, &hash), GW_ERR_INVALID);
    /* Malformed stored hashes never verify. */
    assert_int_equal(gw_password_verify("x", ""), GW_ERR_INVALID);
    assert_int_equal(gw_password_verify("x", "$scrypt$ln=40,r=8,p=1$AAAA$AAAA"),
                     GW_ERR_INVALID);
    assert_int_equal(gw_password_verify("x", "$argon2id$v=19$m=1,t=1,p=1$a$b"),
                     GW_ERR_INVALID);
    assert_int_equal(gw_password_verify("x", "$scrypt$ln=10,r=8,p=1$!!!!$AAAA"),
                     GW_ERR_INVALID);
    gw_password_dummy_verify("anything");
}

static void test_base64_and_sha(void **state)
{
    char *enc = NULL;
    uint8_t *dec = NULL;
    size_t declen = 0;
    char hex[GW_SHA256_HEX_LEN];
    (void)state;
    assert_int_equal(gw_base64_encode("hello", 5, &enc), GW_OK);
    assert_string_equal(enc, "aGVsbG8=");
    assert_int_equal(gw_base64_decode(enc, &dec, &declen), GW_OK);
    assert_int_equal(declen, 5);
    assert_memory_equal(dec, "hello", 5);
    free(enc);
    free(dec);
    dec = NULL;
    assert_int_equal(gw_base64_decode("aGVsbG8", &dec, &declen),
                     GW_ERR_INVALID);
    assert_int_equal(gw_base64_decode("aG=sbG8=", &dec, &declen),
                     GW_ERR_INVALID);
    assert_int_equal(gw_base64_decode("", &dec, &declen), GW_ERR_INVALID);
    assert_int_equal(gw_sha256_hex("abc", 3, hex), GW_OK);
    assert_string_equal(
        hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(gw_ct_equal("abc", "abc", 3));
    assert_false(gw_ct_equal("abc", "abd", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_salted),
        cmocka_unit_test(test_parameters_are_read_from_hash),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_base64_and_sha),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
