/*
 * Password hashing with scrypt (OpenSSL's EVP_KDF "SCRYPT").
 *
 * Stored form, parameters kept with the hash so they can be raised later:
 *   $scrypt$ln=15,r=8,p=1$<base64 salt>$<base64 key>
 * ln is log2(N). Salt is 16 random bytes, the derived key 32 bytes.
 */
#ifndef SSHGATE_CORE_PASSWD_H
#define SSHGATE_CORE_PASSWD_H

#include <stdbool.h>

/* Longest password we hash; longer input is refused, not truncated. */
#define GW_PASSWORD_MAX 1024

/* Default cost: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s). */
#define GW_SCRYPT_DEFAULT_LN 15

/*
 * Hash password with a fresh salt. *out is malloc'd (free it).
 * GW_OK, GW_ERR_INVALID (empty or too long), GW_ERR_CRYPTO, GW_ERR_NOMEM.
 */
int gw_password_hash(const char *password, char **out);

/* Same with an explicit cost (log2 N in 10..20), for tests and upgrades. */
int gw_password_hash_cost(const char *password, int ln, char **out);

/*
 * Verify password against a stored hash in constant time.
 * GW_OK when it matches, GW_ERR_DENIED when not, GW_ERR_INVALID when the
 * stored hash is malformed.
 */
int gw_password_verify(const char *password, const char *stored);

/*
 * Spend the same time as a real verification and always deny: run for
 * unknown users so response time does not reveal which users exist.
 */
void gw_password_dummy_verify(const char *password);

#endif
