#include "crypto.h"

#include "err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct gw_sha256 {
    EVP_MD_CTX *ctx;
};

int gw_sha256_new(struct gw_sha256 **out)
{
    struct gw_sha256 *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        return GW_ERR_NOMEM;
    }
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        gw_sha256_free(h);
        return gw_err_set(GW_ERR_CRYPTO, "SHA-256 is not available");
    }
    *out = h;
    return GW_OK;
}

int gw_sha256_update(struct gw_sha256 *h, const void *data, size_t len)
{
    if (EVP_DigestUpdate(h->ctx, data, len) != 1) {
        return gw_err_set(GW_ERR_CRYPTO, "SHA-256 update failed");
    }
    return GW_OK;
}

static void to_hex(const uint8_t *bin, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 0x0f];
    }
    hex[2 * len] = '\0';
}

int gw_sha256_final_hex(struct gw_sha256 *h, char hex[GW_SHA256_HEX_LEN])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != 32 ||
        EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        return gw_err_set(GW_ERR_CRYPTO, "SHA-256 final failed");
    }
    to_hex(md, mdlen, hex);
    return GW_OK;
}

void gw_sha256_free(struct gw_sha256 *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int gw_sha256_hex(const void *data, size_t len, char hex[GW_SHA256_HEX_LEN])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        return gw_err_set(GW_ERR_CRYPTO, "SHA-256 failed");
    }
    to_hex(md, mdlen, hex);
    return GW_OK;
}

int gw_random_bytes(void *buf, size_t len)
{
    if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        return gw_err_set(GW_ERR_CRYPTO, "no random bytes available");
    }
    return GW_OK;
}

int gw_base64_encode(const void *data, size_t len, char **out)
{
    size_t outlen = 4 * ((len + 2) / 3) + 1;
    char *s = NULL;

    if (len > INT32_MAX / 2) {
        return GW_ERR_INVALID;
    }
    s = malloc(outlen);
    if (s == NULL) {
        return GW_ERR_NOMEM;
    }
    EVP_EncodeBlock((unsigned char *)s, data, (int)len);
    *out = s;
    return GW_OK;
}

int gw_base64_decode(const char *b64, uint8_t **out, size_t *outlen)
{
    size_t len = strlen(b64);
    size_t pad = 0;
    uint8_t *buf = NULL;
    int n;

    /* EVP_DecodeBlock skips leading/trailing whitespace and does not report
     * padding; insist on canonical input first. */
    if (len == 0 || len % 4 != 0 || len > INT32_MAX / 2) {
        return gw_err_set(GW_ERR_INVALID, "not valid base64");
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b64[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
                  (c == '=' && i >= len - 2);
        if (!ok) {
            return gw_err_set(GW_ERR_INVALID, "not valid base64");
        }
    }
    if (b64[len - 1] == '=') {
        pad++;
        if (b64[len - 2] == '=') {
            pad++;
        }
    } else if (b64[len - 2] == '=') {
        return gw_err_set(GW_ERR_INVALID, "not valid base64");
    }
    buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL) {
        return GW_ERR_NOMEM;
    }
    n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return gw_err_set(GW_ERR_INVALID, "not valid base64");
    }
    *out = buf;
    *outlen = (size_t)n - pad;
    return GW_OK;
}

bool gw_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

void gw_free_secret(void *p, size_t len)
{
    if (p == NULL) {
        return;
    }
    OPENSSL_cleanse(p, len);
    free(p);
}

void gw_free_secret_str(char *s)
{
    if (s == NULL) {
        return;
    }
    gw_free_secret(s, strlen(s));
}
