#include "passwd.h"

#include "crypto.h"
#include "err.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define KEY_LEN  32
#define SCRYPT_R 8
#define SCRYPT_P 1
#define MIN_LN   10
#define MAX_LN   20

static int scrypt_derive(const char *password, const uint8_t *salt,
                         size_t saltlen, int ln, uint32_t r, uint32_t p,
                         uint8_t *key, size_t keylen)
{
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    uint64_t n = (uint64_t)1 << ln;
    /* 128 * r * N * p bytes are needed; allow some headroom. */
    uint64_t maxmem = 128ULL * r * n * p + (1ULL << 20);
    OSSL_PARAM params[7];
    int rc = GW_ERR_CRYPTO;

    kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (kdf == NULL) {
        goto out;
    }
    ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL) {
        goto out;
    }
    params[0] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)password, strlen(password));
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, saltlen);
    params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
    params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
    params[5] =
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
    params[6] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, key, keylen, params) != 1) {
        goto out;
    }
    rc = GW_OK;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (rc != GW_OK) {
        gw_err_set(rc, "scrypt failed");
    }
    return rc;
}

static int check_password_input(const char *password)
{
    size_t len = strlen(password);

    if (len == 0) {
        return gw_err_set(GW_ERR_INVALID, "password must not be empty");
    }
    if (len > GW_PASSWORD_MAX) {
        return gw_err_set(GW_ERR_INVALID,
                          "password is longer than %d characters",
                          GW_PASSWORD_MAX);
    }
    return GW_OK;
}

int gw_password_hash_cost(const char *password, int ln, char **out)
{
    uint8_t salt[SALT_LEN];
    uint8_t key[KEY_LEN];
    char *salt_b64 = NULL;
    char *key_b64 = NULL;
    char *result = NULL;
    size_t len;
    int rc;

    rc = check_password_input(password);
    if (rc != GW_OK) {
        goto out;
    }
    if (ln < MIN_LN || ln > MAX_LN) {
        rc = gw_err_set(GW_ERR_INVALID, "scrypt cost %d outside %d..%d", ln,
                        MIN_LN, MAX_LN);
        goto out;
    }
    rc = gw_random_bytes(salt, sizeof(salt));
    if (rc != GW_OK) {
        goto out;
    }
    rc = scrypt_derive(password, salt, sizeof(salt), ln, SCRYPT_R, SCRYPT_P,
                       key, sizeof(key));
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_base64_encode(salt, sizeof(salt), &salt_b64);
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_base64_encode(key, sizeof(key), &key_b64);
    if (rc != GW_OK) {
        goto out;
    }
    len = strlen(salt_b64) + strlen(key_b64) + 64;
    result = malloc(len);
    if (result == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    snprintf(result, len, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", ln, SCRYPT_R,
             SCRYPT_P, salt_b64, key_b64);
    *out = result;
    result = NULL; /* transferred */
out:
    gw_free_secret(key_b64, key_b64 != NULL ? strlen(key_b64) : 0);
    free(salt_b64);
    free(result);
    memset(key, 0, sizeof(key));
    return rc;
}

int gw_password_hash(const char *password, char **out)
{
    return gw_password_hash_cost(password, GW_SCRYPT_DEFAULT_LN, out);
}

/* Parse "$scrypt$ln=L,r=R,p=P$SALT$KEY" into its parts. */
static int parse_stored(const char *stored, int *ln, uint32_t *r, uint32_t *p,
                        char *salt_b64, size_t saltcap, char *key_b64,
                        size_t keycap)
{
    int consumed = 0;
    const char *rest = NULL;
    const char *dollar = NULL;
    unsigned int rr = 0, pp = 0;

    if (sscanf(stored, "$scrypt$ln=%d,r=%u,p=%u$%n", ln, &rr, &pp, &consumed) !=
            3 ||
        consumed == 0) {
        return GW_ERR_INVALID;
    }
    if (*ln < MIN_LN || *ln > MAX_LN || rr < 1 || rr > 32 || pp < 1 ||
        pp > 16) {
        return GW_ERR_INVALID;
    }
    rest = stored + consumed;
    dollar = strchr(rest, '$');
    if (dollar == NULL || (size_t)(dollar - rest) >= saltcap ||
        strlen(dollar + 1) >= keycap) {
        return GW_ERR_INVALID;
    }
    memcpy(salt_b64, rest, (size_t)(dollar - rest));
    salt_b64[dollar - rest] = '\0';
    strcpy(key_b64, dollar + 1);
    *r = rr;
    *p = pp;
    return GW_OK;
}

int gw_password_verify(const char *password, const char *stored)
{
    char salt_b64[64];
    char key_b64[128];
    uint8_t *salt = NULL;
    uint8_t *want = NULL;
    size_t saltlen = 0, wantlen = 0;
    uint8_t got[KEY_LEN];
    int ln = 0;
    uint32_t r = 0, p = 0;
    int rc;

    rc = parse_stored(stored, &ln, &r, &p, salt_b64, sizeof(salt_b64), key_b64,
                      sizeof(key_b64));
    if (rc != GW_OK) {
        rc = gw_err_set(GW_ERR_INVALID, "stored password hash is malformed");
        goto out;
    }
    rc = gw_base64_decode(salt_b64, &salt, &saltlen);
    if (rc == GW_OK) {
        rc = gw_base64_decode(key_b64, &want, &wantlen);
    }
    if (rc != GW_OK || wantlen != KEY_LEN || saltlen < 8) {
        rc = gw_err_set(GW_ERR_INVALID, "stored password hash is malformed");
        goto out;
    }
    if (check_password_input(password) != GW_OK) {
        /* Still spend the time, so the reply time tells nothing. */
        gw_password_dummy_verify("x");
        rc = GW_ERR_DENIED;
        goto out;
    }
    rc = scrypt_derive(password, salt, saltlen, ln, r, p, got, sizeof(got));
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_ct_equal(got, want, KEY_LEN) ? GW_OK : GW_ERR_DENIED;
out:
    memset(got, 0, sizeof(got));
    free(salt);
    gw_free_secret(want, wantlen);
    return rc;
}

void gw_password_dummy_verify(const char *password)
{
    static const uint8_t salt[SALT_LEN] = {0};
    uint8_t key[KEY_LEN];
    const char *pw = password;

    if (check_password_input(password) != GW_OK) {
        pw = "x";
    }
    (void)scrypt_derive(pw, salt, sizeof(salt), GW_SCRYPT_DEFAULT_LN, SCRYPT_R,
                        SCRYPT_P, key, sizeof(key));
    memset(key, 0, sizeof(key));
}
