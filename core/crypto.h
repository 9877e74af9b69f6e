/*
 * Thin wrappers over OpenSSL for what the rest of the code needs: SHA-256,
 * base64, random bytes, constant-time comparison and wiping secrets.
 */
#ifndef SSHGATE_CORE_CRYPTO_H
#define SSHGATE_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SHA256_LEN     32
#define GW_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

/* Incremental SHA-256 (opaque OpenSSL context inside). */
struct gw_sha256;
int gw_sha256_new(struct gw_sha256 **out);
int gw_sha256_update(struct gw_sha256 *h, const void *data, size_t len);
/* Finish into 64 lowercase hex digits + NUL. The context can be reused. */
int gw_sha256_final_hex(struct gw_sha256 *h, char hex[GW_SHA256_HEX_LEN]);
void gw_sha256_free(struct gw_sha256 *h);

/* One-shot SHA-256 as hex. GW_OK or GW_ERR_CRYPTO. */
int gw_sha256_hex(const void *data, size_t len, char hex[GW_SHA256_HEX_LEN]);

/* Fill buf with len cryptographically random bytes. */
int gw_random_bytes(void *buf, size_t len);

/* Standard base64 with padding. *out is malloc'd and NUL-terminated. */
int gw_base64_encode(const void *data, size_t len, char **out);
/* Decode standard base64; *out is malloc'd, *outlen its length. Rejects
 * anything that is not canonical base64. */
int gw_base64_decode(const char *b64, uint8_t **out, size_t *outlen);

/* Constant-time equality of two equal-length buffers. */
bool gw_ct_equal(const void *a, const void *b, size_t len);

/* Wipe and free a secret buffer (NULL is fine). */
void gw_free_secret(void *p, size_t len);
/* Wipe and free a NUL-terminated secret string (NULL is fine). */
void gw_free_secret_str(char *s);

#endif
