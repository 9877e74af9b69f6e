/*
 * SSH keys as plain data: a public key as the store keeps it (type, base64
 * blob, SHA256 fingerprint) and a key pair of the gateway's own, with their
 * size limits. No libssh here, so headers that only carry keys (store/)
 * stay free of it; parsing, fingerprinting and the conversions to and from
 * libssh key objects are in core/sshkey.h.
 */
#ifndef SSHGATE_CORE_SSHKEY_TYPES_H
#define SSHGATE_CORE_SSHKEY_TYPES_H

#define GW_KEYTYPE_MAX     48
#define GW_FINGERPRINT_MAX 64 /* "SHA256:" + 43 base64 chars + NUL */
#define GW_RSA_MIN_BITS    2048

struct gw_pubkey {
    char type[GW_KEYTYPE_MAX];            /* "ssh-ed25519" */
    char *blob_b64;                       /* base64 key blob */
    char fingerprint[GW_FINGERPRINT_MAX]; /* "SHA256:..." */
    char *comment;                        /* never NULL once parsed */
};

/* Key types the gateway generates for itself. */
enum gw_keykind { GW_KEY_ED25519, GW_KEY_ECDSA_P256, GW_KEY_RSA_3072 };

struct gw_keypair {
    struct gw_pubkey pub;
    char *private_text; /* OpenSSH/PEM private key; secret, wipe on free */
};

#endif
