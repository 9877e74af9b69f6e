/* Unit tests for core/sshkey: parsing, validation and fingerprints of the
 * key lines people paste. Expected fingerprints come from ssh-keygen -lf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sshkey.h"

static const char ed25519_line[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJqXaN6+doFj7S4t9jU49JLKQYIz"
    "Xb62e2AQy9kMYcPM alice@laptop";
static const char ed25519_fp[] =
    "SHA256:MBHUNViEM1FB5icK9kMg9AKExoGo0aFknQdrtqMCXL4";

static const char rsa2048_line[] =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCZeBIOtoiD7rL3QAw68naGnv5q"
    "WQb/SGTVRd7Epz/GDEGH9XXMYVEftWR/4QjZDjIDvAzf/WIV5n4FczzrIx7apC9j"
    "+15xOW2qIKPbgj+MGgqO2LdZqLg2Tz4Unr759V8b6STrtVSMY2BIdIkgaJUzb5Zz"
    "AW3ljGIu3ttefm+U/mxBibcKbf+Pbh/t0NY1Cp8TZizOU4pi7LHoZMORlJ6TmKfd"
    "Pdlmphh56E+r8eXPGM1GJcZcxEZownVzRC6iA3NMM/ND561BW+mhVtug36M6T/QT"
    "WS+kYJ0SRxf09bES+0sbrMiQxkDHQbCVS4gNDc//ZEdSyQ2qo/m/Ho/QIS4l r20"
    "48";
static const char rsa2048_fp[] =
    "SHA256:oiQ8kOm3FKj2M0MBlYQhhgCCjC3PeraOlqfpdfzDq9s";

static const char ecdsa384_line[] =
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAz"
    "ODQAAABhBCCHA2EjZiF5dunMeoqNTUA9VaoG2BbHS0BLXnDJSqhFJjGOIfH4mt/k"
    "fG/BwNYUj3GxAsP9kWPUE6xOcuxsTCjB2vc4HOmcVngKgHW9pSw45g8prudly496"
    "Gx1UyytahA== e384";
static const char ecdsa384_fp[] =
    "SHA256:/0lC5VTUhc+RkHODElU1cWdcQVMgnsb168Fg9K0moF4";

static const char rsa1024_line[] =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC4tyccRNFas4uBV0u9gAR3RDD0"
    "PQR34Ylfrzr3VShqWDI/Ss7f5nktyMt0fnGo4GMio0VpXzja4ojQR2egrv5EkKme"
    "/qlMsj7xLgd8tA7yO3/bOQPUXW4treKUnUbv4hahISt0ZzpYdY/ohGm/FHfq6Y/9"
    "gFLh9zjxdFa34fb7aw== root@vm";

static const char dsa_line[] =
    "ssh-dss AAAAB3NzaC1kc3MAAACBAK6tJJOwqirtnR6X6Ta/KSGQhxjYoFesrJk8"
    "uAJiQaoC4LQrlMgI1J31voBGOUKe7nf5IRorCx5Udl69Pxp+YnwlfFio0KjyION8"
    "rxDZVZpNV5wh0dDp15e3fAQhS3nM/ACxxjv2SCAxaVmXMVWne5hGaDs9EhaVhsfF"
    "poqe9tCRAAAAFQDE3fszLUQHd8ULnSCJ4YNntiO7KwAAAIBuT6TpOVeVqj9eYLmM"
    "zWGwOpgESDSez61pYYqpQ8apngyADQMarOMMs2Zpm6xqgwS4K2/9XFb3QdZPY5/B"
    "EyDpLGAZyNhMpq7CkSTk8jVZvRHr+htYsXFUTH8zYU9MQsYMTkb3FRtR5K+tQYe/"
    "EHhL2Yw9+HiYjWpF8qLWRFQNVQAAAIBB5JVsdcj5dRzeyWABXDBBzGlQau4bcL6T"
    "DqAMTEn44xSITDPq70O3JjJ/yVOimo5VsJePm4B70cbf76DVd1bYNCVO0IjOTjE+"
    "TYeRD4LB7iA9NZCZ3zisULA1P7tpr2gNmmbsDNmwcmdaADyRqLyttuNd6/HxdXp4"
    "Ptg7sqi8Ww== root@vm";

static const char cert_line[] =
    "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjA"
    "xQG9wZW5zc2guY29tAAAAIMNihKgj1N/+/qgLOLK4HPIvbLWJi4mOZ5wEj1y02nN"
    "eAAAAIJqXaN6+doFj7S4t9jU49JLKQYIzXb62e2AQy9kMYcPMAAAAAAAAAAAAAAA"
    "BAAAAAmlkAAAACQAAAAVhbGljZQAAAAAAAAAA//////////8AAAAAAAAAggAAABV"
    "wZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJ"
    "kaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQ"
    "tcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQ"
    "yNTUxOQAAACCal2jevnaBY+0uLfY1OPSSykGCM12+tntgEMvZDGHDzAAAAFMAAAA"
    "Lc3NoLWVkMjU1MTkAAABAMiEJXIdQM50UKOrArWE1KY51228PBsNTjmItLimjMT8"
    "+hl9cAA4E1O3Vogats5Fl3ZLb0m4nkKvXm7iitGBFBw== alice@laptop";

static void expect_key(const char *line, const char *type, const char *fp,
                       const char *comment)
{
    struct gw_pubkey key;
    assert_int_equal(gw_pubkey_parse_line(line, &key), GW_OK);
    assert_string_equal(key.type, type);
    assert_string_equal(key.fingerprint, fp);
    assert_string_equal(key.comment, comment);
    assert_non_null(key.blob_b64);
    gw_pubkey_clear(&key);
}

static void test_valid_keys(void **state)
{
    (void)state;
    expect_key(ed25519_line, "ssh-ed25519", ed25519_fp, "alice@laptop");
    expect_key(rsa2048_line, "ssh-rsa", rsa2048_fp, "r2048");
    expect_key(ecdsa384_line, "ecdsa-sha2-nistp384", ecdsa384_fp, "e384");
}

static void test_whitespace_and_comment(void **state)
{
    char line[1024];
    const char *b64 = strchr(ed25519_line, ' ') + 1;
    int n = (int)(strchr(b64, ' ') - b64);
    (void)state;
    snprintf(line, sizeof(line), "  ssh-ed25519\t%.*s  \n", n, b64);
    expect_key(line, "ssh-ed25519", ed25519_fp, "");
    snprintf(line, sizeof(line), "ssh-ed25519 %.*s my key with spaces", n, b64);
    expect_key(line, "ssh-ed25519", ed25519_fp, "my key with spaces");
}

static void expect_rejected(const char *line, const char *why)
{
    struct gw_pubkey key;
    gw_err_clear();
    assert_int_equal(gw_pubkey_parse_line(line, &key), GW_ERR_INVALID);
    if (strstr(gw_err_msg(), why) == NULL) {
        fail_msg("'%s' rejected with '%s', expected '%s'", line, gw_err_msg(),
                 why);
    }
    assert_null(strchr(gw_err_msg(), '\n'));
}

static void test_rejected_keys(void **state)
{
    char line[2048];
    const char *b64 = strchr(ed25519_line, ' ') + 1;
    int n = (int)(strchr(b64, ' ') - b64);
    (void)state;
    expect_rejected(rsa1024_line, "1024 bits");
    expect_rejected(dsa_line, "unsupported key type");
    expect_rejected(cert_line, "certificates");
    expect_rejected("", "empty");
    expect_rejected("ssh-ed25519", "no key data");
    expect_rejected("ssh-ed25519 !!!notbase64!!!", "base64");
    expect_rejected("ssh-ed25519 AAAA", "does not match");
    expect_rejected("ssh-foo AAAAC3NzaC1lZDI1NTE5", "unsupported key type");
    /* The type says RSA, the blob is ed25519. */
    snprintf(line, sizeof(line), "ssh-rsa %.*s", n, b64);
    expect_rejected(line, "does not match");
    /* A truncated blob. */
    snprintf(line, sizeof(line), "ssh-ed25519 %.*s", n - 8, b64);
    expect_rejected(line, "");
    snprintf(line, sizeof(line), "from=\"10.0.0.1\" %s", ed25519_line);
    expect_rejected(line, "options");
    snprintf(line, sizeof(line), "no-pty %s", ed25519_line);
    expect_rejected(line, "options");
    snprintf(line, sizeof(line), "ssh-ed25519 %.*s evil\x1b[2J", n, b64);
    expect_rejected(line, "control");
}

static void test_generate_and_import(void **state)
{
    static const enum gw_keykind kinds[] = {GW_KEY_ED25519, GW_KEY_ECDSA_P256};
    static const char *const types[] = {"ssh-ed25519", "ecdsa-sha2-nistp256"};
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct gw_keypair kp;
        ssh_key priv = NULL;
        ssh_key pub = NULL;
        char fp[GW_FINGERPRINT_MAX];
        assert_int_equal(gw_keypair_generate(kinds[i], &kp), GW_OK);
        assert_string_equal(kp.pub.type, types[i]);
        assert_non_null(kp.private_text);
        assert_int_equal(gw_privkey_import(kp.private_text, &priv), GW_OK);
        assert_int_equal(gw_key_fingerprint(priv, fp), GW_OK);
        assert_string_equal(fp, kp.pub.fingerprint);
        assert_int_equal(gw_pubkey_import(kp.pub.type, kp.pub.blob_b64, &pub),
                         GW_OK);
        assert_int_equal(ssh_key_cmp(pub, priv, SSH_KEY_CMP_PUBLIC), 0);
        ssh_key_free(pub);
        ssh_key_free(priv);
        gw_keypair_clear(&kp);
    }
    assert_int_equal(gw_privkey_import("not a key", &(ssh_key){NULL}),
                     GW_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_keys),
        cmocka_unit_test(test_whitespace_and_comment),
        cmocka_unit_test(test_rejected_keys),
        cmocka_unit_test(test_generate_and_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
