/*
 * health: does the daemon really answer SSH? Connect to it as an SSH
 * client, run the key exchange, and check that the host key it presents is
 * one of this gateway's host keys in the database. That tells a working
 * sshgated from a closed port, a hung process, or another SSH server (or a
 * daemon on another database) on the same address. For container health
 * checks and monitoring.
 *
 * Nothing is authenticated and nothing is written here; the daemon itself
 * records the probe as an ordinary connection that closed before logging
 * in.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "backend/options.h"
#include "core/strutil.h"
#include "store/gwkeys.h"

#include <libssh/libssh.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ADDRESS   "127.0.0.1:2222"
#define DEFAULT_TIMEOUT_S 5
#define HOST_MAX          256
/* Any name and directory work: the probe ends before authentication and
 * reads no file. Setting both keeps libssh from looking up the local user
 * and her home, which a container's user may not have ("Couldn't apply
 * options"). */
#define PROBE_USER   "sshgate-health"
#define PROBE_SSHDIR "/dev/null"

struct health_target {
    char host[HOST_MAX]; /* without brackets */
    unsigned int port;
    const char *text; /* as given, for messages */
};

/* "HOST:PORT" or "[IPv6]:PORT"; HOST may be a name. */
static int parse_address(const char *text, struct health_target *t)
{
    const char *colon = strrchr(text, ':');
    const char *host = text;
    size_t len = 0;
    uint16_t port = 0;

    t->text = text;
    if (colon == NULL || gw_port_parse(colon + 1, &port) != GW_OK) {
        goto bad;
    }
    len = (size_t)(colon - text);
    if (text[0] == '[') {
        if (len < 3 || text[len - 1] != ']') {
            goto bad;
        }
        host = text + 1;
        len -= 2;
    }
    /* '@' would make libssh read a user name out of it. */
    if (len == 0 || len >= HOST_MAX || memchr(host, '@', len) != NULL ||
        memchr(host, '[', len) != NULL || memchr(host, ' ', len) != NULL ||
        gw_has_control(text)) {
        goto bad;
    }
    memcpy(t->host, host, len);
    t->host[len] = '\0';
    t->port = port;
    return GW_OK;
bad:
    return gw_err_set(GW_ERR_INVALID,
                      "--address must be HOST:PORT or [IPv6]:PORT, not '%s'",
                      text);
}

static int parse_options(struct admin_ctx *ctx, struct health_target *t,
                         long *timeout)
{
    const char *address = admin_opt(ctx, "--address");
    const char *text = admin_opt(ctx, "--timeout");

    *timeout = DEFAULT_TIMEOUT_S;
    if (text != NULL && gw_long_parse(text, 1, 600, timeout) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "--timeout must be 1 to 600 seconds, not '%s'", text);
    }
    return parse_address(address != NULL ? address : DEFAULT_ADDRESS, t);
}

/* Connect and run the key exchange; on GW_OK *key is the server's host
 * key (caller frees). */
static int probe(const struct health_target *t, long timeout, ssh_key *key)
{
    /* fd -1: libssh connects, so "not answering" carries libssh's own
     * reason. */
    const struct gw_ssh_client_opts opts = {
        .host = t->host,
        .port = t->port,
        .user = PROBE_USER,
        .timeout_s = timeout,
        .fd = -1,
        .nodelay = false,
        .ssh_dir = PROBE_SSHDIR,
        .hostkeys = NULL,
    };
    ssh_session s = ssh_new();
    int rc = GW_OK;

    if (s == NULL) {
        return GW_ERR_NOMEM;
    }
    if (gw_ssh_client_configure(s, &opts) != GW_OK) {
        rc = gw_err_set(GW_ERR, "cannot set up an SSH session: %s",
                        ssh_get_error(s));
        goto out;
    }
    if (ssh_connect(s) != SSH_OK) {
        rc = gw_err_set(GW_ERR_IO, "not answering on %s: %s", t->text,
                        ssh_get_error(s));
        goto out;
    }
    if (ssh_get_server_publickey(s, key) != SSH_OK) {
        rc = gw_err_set(GW_ERR, "%s sent no host key", t->text);
    }
out:
    ssh_disconnect(s);
    ssh_free(s);
    return rc;
}

/* GW_OK when fp is one of the gateway's host keys. */
static int check_ours(struct admin_ctx *ctx, const struct health_target *t,
                      const char *fp)
{
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    int rc;

    rc = store_gwkey_list(ctx->st, STORE_GWKEY_HOST, &keys, &n);
    if (rc != GW_OK) {
        return rc;
    }
    rc = n == 0
             ? gw_err_set(GW_ERR_NOTFOUND, "no host keys in %s; run '%s init'",
                          ctx->db_path, ADMIN_PROG)
             : gw_err_set(GW_ERR_DENIED,
                          "%s answers SSH, but its host key %s is not "
                          "one of this gateway's keys in %s",
                          t->text, fp, ctx->db_path);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].fingerprint, fp) == 0) {
            gw_err_clear();
            rc = GW_OK;
            break;
        }
    }
    store_gwkey_list_free(keys, n);
    return rc;
}

static int print_health(struct admin_ctx *ctx, const struct health_target *t,
                        ssh_key key, const char *fp)
{
    enum ssh_keytypes_e kt = ssh_key_type(key);
    const char *type = ssh_key_type_to_char(kt);

    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:s, s:s, s:s}", "address", t->text,
                                     "hostkey_type", type != NULL ? type : "?",
                                     "hostkey_fingerprint", fp));
    }
    fprintf(ctx->out, "healthy: %s answers SSH with host key %s\n", t->text,
            fp);
    return GW_OK;
}

int admin_health(struct admin_ctx *ctx)
{
    struct health_target t;
    char fp[GW_FINGERPRINT_MAX];
    ssh_key key = NULL;
    long timeout = 0;
    int rc;

    memset(&t, 0, sizeof(t));
    rc = parse_options(ctx, &t, &timeout);
    if (rc == GW_OK) {
        rc = probe(&t, timeout, &key);
    }
    if (rc == GW_OK) {
        rc = gw_key_fingerprint(key, fp);
    }
    if (rc == GW_OK) {
        rc = check_ours(ctx, &t, fp);
    }
    if (rc == GW_OK) {
        rc = print_health(ctx, &t, key, fp);
    }
    ssh_key_free(key);
    return rc;
}
