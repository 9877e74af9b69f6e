#include "sshkey.h"

#include "crypto.h"
#include "err.h"
#include "strutil.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Read one SSH wire-format string (uint32 length + bytes) at *off. */
static int wire_string(const uint8_t *buf, size_t len, size_t *off,
                       const uint8_t **data, size_t *dlen)
{
    uint32_t n;

    if (len - *off < 4) {
        return GW_ERR_INVALID;
    }
    n = (uint32_t)buf[*off] << 24 | (uint32_t)buf[*off + 1] << 16 |
        (uint32_t)buf[*off + 2] << 8 | (uint32_t)buf[*off + 3];
    *off += 4;
    if (n > len - *off) {
        return GW_ERR_INVALID;
    }
    *data = buf + *off;
    *dlen = n;
    *off += n;
    return GW_OK;
}

/* Bits in an RSA modulus mpint (leading zero bytes do not count). */
static size_t mpint_bits(const uint8_t *p, size_t len)
{
    while (len > 0 && *p == 0) {
        p++;
        len--;
    }
    if (len == 0) {
        return 0;
    }
    size_t bits = (len - 1) * 8;
    for (uint8_t top = *p; top != 0; top >>= 1) {
        bits++;
    }
    return bits;
}

/*
 * Check the blob's own type name against the declared one, and the RSA
 * modulus size: libssh 0.10 offers no call for either.
 */
static int check_blob(const char *type, const char *b64)
{
    uint8_t *blob = NULL;
    size_t bloblen = 0, off = 0, n = 0, elen = 0;
    const uint8_t *name = NULL, *e = NULL, *mod = NULL;
    int rc;

    rc = gw_base64_decode(b64, &blob, &bloblen);
    if (rc != GW_OK) {
        rc = gw_err_set(GW_ERR_INVALID, "key data is not valid base64");
        goto out;
    }
    rc = wire_string(blob, bloblen, &off, &name, &n);
    if (rc != GW_OK || n != strlen(type) || memcmp(name, type, n) != 0) {
        rc = gw_err_set(GW_ERR_INVALID, "key data does not match its type '%s'",
                        type);
        goto out;
    }
    if (strcmp(type, "ssh-rsa") == 0) {
        rc = wire_string(blob, bloblen, &off, &e, &elen);
        if (rc == GW_OK) {
            rc = wire_string(blob, bloblen, &off, &mod, &n);
        }
        if (rc != GW_OK) {
            rc = gw_err_set(GW_ERR_INVALID, "RSA key data is truncated");
            goto out;
        }
        if (mpint_bits(mod, n) < GW_RSA_MIN_BITS) {
            rc = gw_err_set(GW_ERR_INVALID,
                            "RSA key has %zu bits; at least %d are required",
                            mpint_bits(mod, n), GW_RSA_MIN_BITS);
            goto out;
        }
    }
    rc = GW_OK;
out:
    free(blob);
    return rc;
}

static bool type_supported(const char *type)
{
    static const char *const ok[] = {
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-rsa",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(type, ok[i]) == 0) {
            return true;
        }
    }
    return false;
}

int gw_key_fingerprint(ssh_key key, char out[GW_FINGERPRINT_MAX])
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;
    int rc = GW_ERR_CRYPTO;

    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) !=
        0) {
        goto out;
    }
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp == NULL || gw_strlcpy(out, fp, GW_FINGERPRINT_MAX) != GW_OK) {
        goto out;
    }
    rc = GW_OK;
out:
    if (fp != NULL) {
        ssh_string_free_char(fp);
    }
    ssh_clean_pubkey_hash(&hash);
    if (rc != GW_OK) {
        gw_err_set(rc, "cannot fingerprint key");
    }
    return rc;
}

int gw_pubkey_import(const char *type, const char *b64, ssh_key *out)
{
    enum ssh_keytypes_e kt = ssh_key_type_from_name(type);
    ssh_key key = NULL;

    if (kt == SSH_KEYTYPE_UNKNOWN ||
        ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK) {
        return gw_err_set(GW_ERR_INVALID, "key data is not a valid %s key",
                          type);
    }
    *out = key;
    return GW_OK;
}

int gw_pubkey_from_base64(const char *type, const char *b64,
                          struct gw_pubkey *out)
{
    ssh_key key = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (strstr(type, "-cert-v01@openssh.com") != NULL) {
        return gw_err_set(GW_ERR_INVALID,
                          "certificates are not supported, add the plain key");
    }
    if (!type_supported(type)) {
        return gw_err_set(GW_ERR_INVALID, "unsupported key type '%s'", type);
    }
    rc = check_blob(type, b64);
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_pubkey_import(type, b64, &key);
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_strlcpy(out->type, type, sizeof(out->type));
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_key_fingerprint(key, out->fingerprint);
    if (rc != GW_OK) {
        goto out;
    }
    out->blob_b64 = strdup(b64);
    out->comment = strdup("");
    if (out->blob_b64 == NULL || out->comment == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
out:
    ssh_key_free(key);
    if (rc != GW_OK) {
        gw_pubkey_clear(out);
    }
    return rc;
}

/* Split the next whitespace-separated field off *p. */
static char *next_field(char **p)
{
    char *s = *p;
    char *start = NULL;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    start = s;
    while (*s != '\0' && *s != ' ' && *s != '\t') {
        s++;
    }
    if (*s != '\0') {
        *s++ = '\0';
    }
    *p = s;
    return start;
}

int gw_pubkey_parse_line(const char *line, struct gw_pubkey *out)
{
    char *copy = NULL;
    char *cursor = NULL;
    char *type = NULL;
    char *b64 = NULL;
    char *comment = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (strlen(line) > 16384) {
        return gw_err_set(GW_ERR_INVALID, "key line is too long");
    }
    copy = strdup(line);
    if (copy == NULL) {
        return GW_ERR_NOMEM;
    }
    cursor = gw_trim(copy);
    /* Tabs separate fields like spaces; any other control byte is refused
     * (it would reach terminals and logs through the comment). */
    for (char *t = cursor; *t != '\0'; t++) {
        if (*t == '\t') {
            *t = ' ';
        }
    }
    if (gw_has_control(cursor)) {
        rc = gw_err_set(GW_ERR_INVALID, "key line has control characters");
        goto out;
    }
    type = next_field(&cursor);
    b64 = next_field(&cursor);
    comment = gw_trim(cursor);
    if (type == NULL) {
        rc = gw_err_set(GW_ERR_INVALID, "empty key line");
        goto out;
    }
    if (strchr(type, '=') != NULL || strchr(type, ',') != NULL ||
        (!type_supported(type) && b64 != NULL &&
         strncmp(b64, "ssh-", 4) == 0)) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "authorized_keys options (from=, command=, ...) are "
                        "not supported; give the bare key");
        goto out;
    }
    if (b64 == NULL) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "key line has no key data after the type");
        goto out;
    }
    rc = gw_pubkey_from_base64(type, b64, out);
    if (rc != GW_OK) {
        goto out;
    }
    free(out->comment);
    out->comment = strdup(comment);
    if (out->comment == NULL) {
        rc = GW_ERR_NOMEM;
        gw_pubkey_clear(out);
        goto out;
    }
out:
    free(copy);
    return rc;
}

int gw_pubkey_from_key(ssh_key key, struct gw_pubkey *out)
{
    char *b64 = NULL;
    const char *type = ssh_key_type_to_char(ssh_key_type(key));
    int rc;

    memset(out, 0, sizeof(*out));
    if (type == NULL || ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
        return gw_err_set(GW_ERR_CRYPTO, "cannot export public key");
    }
    rc = gw_pubkey_from_base64(type, b64, out);
    ssh_string_free_char(b64);
    return rc;
}

void gw_pubkey_clear(struct gw_pubkey *key)
{
    free(key->blob_b64);
    free(key->comment);
    memset(key, 0, sizeof(*key));
}

int gw_keypair_generate(enum gw_keykind kind, struct gw_keypair *out)
{
    ssh_key key = NULL;
    char *priv = NULL;
    enum ssh_keytypes_e type = SSH_KEYTYPE_ED25519;
    int bits = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    switch (kind) {
    case GW_KEY_ED25519:
        type = SSH_KEYTYPE_ED25519;
        break;
    case GW_KEY_ECDSA_P256:
        type = SSH_KEYTYPE_ECDSA_P256;
        bits = 256;
        break;
    case GW_KEY_RSA_3072:
        type = SSH_KEYTYPE_RSA;
        bits = 3072;
        break;
    }
    if (ssh_pki_generate(type, bits, &key) != SSH_OK) {
        rc = gw_err_set(GW_ERR_CRYPTO, "key generation failed");
        goto out;
    }
    if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK) {
        rc = gw_err_set(GW_ERR_CRYPTO, "cannot export generated key");
        goto out;
    }
    rc = gw_pubkey_from_key(key, &out->pub);
    if (rc != GW_OK) {
        goto out;
    }
    out->private_text = strdup(priv);
    if (out->private_text == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
out:
    if (priv != NULL) {
        memset(priv, 0, strlen(priv));
        ssh_string_free_char(priv);
    }
    ssh_key_free(key);
    if (rc != GW_OK) {
        gw_keypair_clear(out);
    }
    return rc;
}

void gw_keypair_clear(struct gw_keypair *kp)
{
    gw_pubkey_clear(&kp->pub);
    gw_free_secret_str(kp->private_text);
    kp->private_text = NULL;
}

int gw_privkey_import(const char *private_text, ssh_key *out)
{
    if (ssh_pki_import_privkey_base64(private_text, NULL, NULL, NULL, out) !=
        SSH_OK) {
        return gw_err_set(GW_ERR_INVALID, "stored private key is unreadable");
    }
    return GW_OK;
}
