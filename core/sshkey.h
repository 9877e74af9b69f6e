/*
 * SSH public keys as people paste them (OpenSSH "type base64 comment"
 * lines), validated and fingerprinted with libssh's pki functions, and the
 * key pairs the gateway generates for itself.
 *
 * The structs themselves are in core/sshkey_types.h, which does not include
 * libssh: a header that only carries keys (store/) includes that one.
 */
#ifndef SSHGATE_CORE_SSHKEY_H
#define SSHGATE_CORE_SSHKEY_H

#include "core/sshkey_types.h"

#include <libssh/libssh.h>
#include <stddef.h>

/*
 * Parse one OpenSSH public key line "type base64 [comment]".
 * Rejects option prefixes, certificates, DSA, RSA under 2048 bits, unknown
 * types, a type that does not match the blob, and bad base64.
 * GW_OK (clear *out with gw_pubkey_clear) or GW_ERR_INVALID with detail.
 */
int gw_pubkey_parse_line(const char *line, struct gw_pubkey *out);

/* Validate a stored type + base64 blob and fill *out (comment empty). */
int gw_pubkey_from_base64(const char *type, const char *b64,
                          struct gw_pubkey *out);

/* Fill *out from a libssh key object (public part only). */
int gw_pubkey_from_key(ssh_key key, struct gw_pubkey *out);

void gw_pubkey_clear(struct gw_pubkey *key);

/* "SHA256:..." of key, as OpenSSH prints it. GW_OK or GW_ERR_CRYPTO. */
int gw_key_fingerprint(ssh_key key, char out[GW_FINGERPRINT_MAX]);

/* Import a stored public key into a libssh key object (caller frees). */
int gw_pubkey_import(const char *type, const char *b64, ssh_key *out);

/* Generate a fresh key pair. GW_OK, GW_ERR_CRYPTO or GW_ERR_NOMEM. */
int gw_keypair_generate(enum gw_keykind kind, struct gw_keypair *out);
void gw_keypair_clear(struct gw_keypair *kp);

/* Import a stored private key into a libssh key object (caller frees). */
int gw_privkey_import(const char *private_text, ssh_key *out);

#endif
