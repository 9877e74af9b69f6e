#include "backend/client.h"

#include "backend/chain.h"
#include "backend/options.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/timeutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *gw_backend_failure_name(enum gw_backend_failure failure)
{
    static const char *const names[] = {
        "ok",          "dns",      "refused",          "timeout",
        "unreachable", "protocol", "hostkey-mismatch", "auth",
        "proxy",
    };
    if ((unsigned)failure >= sizeof(names) / sizeof(names[0])) {
        return "error";
    }
    return names[failure];
}

static int fail(struct gw_backend_result *res, enum gw_backend_failure failure,
                int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct gw_backend_result *res, enum gw_backend_failure failure,
                int status, const char *fmt, ...)
{
    va_list ap;

    res->failure = failure;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
    return gw_err_set(status, "%s", res->message);
}

/* The TCP connection through the proxy. */
static int dial_proxy(const struct gw_proxy *proxy, const char *host_name,
                      const char *address, uint16_t port, int64_t deadline,
                      int *fd_out, struct gw_backend_result *res)
{
    struct gw_proxy_failure why;
    int rc = gw_proxy_connect(proxy, address, port, deadline, fd_out, &why);

    if (rc == GW_OK) {
        return GW_OK;
    }
    return fail(res, why.timeout ? GW_BACKEND_TIMEOUT : GW_BACKEND_PROXY, rc,
                "backend %s (%s port %u): %s", host_name, address,
                (unsigned)port, why.message);
}

int gw_backend_dial(const struct gw_backend_route *route, const char *host_name,
                    const char *address, uint16_t port, long timeout_s,
                    int *fd_out, struct gw_backend_result *res)
{
    const struct gw_proxy *proxy =
        route != NULL && route->use_proxy ? &route->proxy : NULL;
    int64_t deadline = gw_now_ms() + timeout_s * 1000;
    struct gw_net_failure why;
    int rc;

    *fd_out = -1;
    if (route != NULL && route->chain != NULL) {
        return gw_chain_dial(route->chain, host_name, address, port, fd_out,
                             res);
    }
    if (proxy != NULL) {
        rc = dial_proxy(proxy, host_name, address, port, deadline, fd_out, res);
    } else {
        rc = gw_net_connect(address, port, deadline, fd_out, &why);
    }
    if (rc == GW_OK) {
        /* Interactive keystrokes must not wait for Nagle. */
        (void)gw_net_set_nodelay(*fd_out);
        return GW_OK;
    }
    if (proxy != NULL) {
        return rc;
    }
    if (why.resolving && rc == GW_ERR_TIMEOUT) {
        return fail(res, GW_BACKEND_DNS, rc,
                    "backend %s: cannot resolve %s: no answer within %ld s",
                    host_name, address, timeout_s);
    }
    if (why.resolving) {
        return fail(res, GW_BACKEND_DNS, rc,
                    "backend %s: cannot resolve %s: %s", host_name, address,
                    gw_net_failure_text(&why));
    }
    if (why.code == ETIMEDOUT) {
        return fail(res, GW_BACKEND_TIMEOUT, GW_ERR_TIMEOUT,
                    "backend %s (%s port %u): connection timed out after "
                    "%ld s",
                    host_name, address, (unsigned)port, timeout_s);
    }
    return fail(res,
                why.code == ECONNREFUSED ? GW_BACKEND_REFUSED
                                         : GW_BACKEND_UNREACHABLE,
                GW_ERR_IO, "backend %s (%s port %u): %s", host_name, address,
                (unsigned)port, gw_net_failure_text(&why));
}

/* Prefer the pinned key's algorithm, so a backend with several host keys
 * shows the one we know. */
static const char *hostkey_preference(const char *pin_type)
{
    if (pin_type == NULL || pin_type[0] == '\0') {
        return NULL;
    }
    if (strcmp(pin_type, "ssh-rsa") == 0) {
        return "rsa-sha2-512,rsa-sha2-256";
    }
    return pin_type;
}

static int set_session_options(ssh_session s,
                               const struct gw_backend_spec *spec, int fd,
                               struct gw_backend_result *res)
{
    const struct gw_ssh_client_opts opts = {
        .host = spec->address,
        .port = spec->port,
        .user = spec->login,
        .timeout_s = spec->timeout_s,
        .fd = fd,
        .nodelay = true,
        .ssh_dir = NULL,
        .hostkeys = hostkey_preference(spec->pin_type),
    };
    int rc = gw_ssh_client_configure(s, &opts);

    if (rc == GW_ERR_INVALID) {
        return fail(res, GW_BACKEND_AUTH, GW_ERR_INVALID,
                    "backend %s: login '%s' is not acceptable", spec->host_name,
                    spec->login);
    }
    if (rc != GW_OK) {
        return fail(res, GW_BACKEND_PROTOCOL, GW_ERR,
                    "backend %s: cannot set up the SSH session: %s",
                    spec->host_name, ssh_get_error(s));
    }
    return GW_OK;
}

/* Compare the presented key with the pin; fill res->host_key. */
static int verify_host_key(ssh_session s, const struct gw_backend_spec *spec,
                           struct gw_backend_result *res)
{
    ssh_key key = NULL;
    ssh_key pinned = NULL;
    bool match = false;
    int rc;

    if (ssh_get_server_publickey(s, &key) != SSH_OK) {
        return fail(res, GW_BACKEND_PROTOCOL, GW_ERR,
                    "backend %s: no host key received", spec->host_name);
    }
    rc = gw_pubkey_from_key(key, &res->host_key);
    if (rc != GW_OK) {
        rc = fail(res, GW_BACKEND_PROTOCOL, rc,
                  "backend %s: unusable host key: %s", spec->host_name,
                  gw_err_msg());
        goto out;
    }
    if (spec->pin_b64 != NULL && spec->pin_b64[0] != '\0') {
        rc = gw_pubkey_import(spec->pin_type, spec->pin_b64, &pinned);
        match =
            rc == GW_OK && ssh_key_cmp(pinned, key, SSH_KEY_CMP_PUBLIC) == 0;
    } else if (spec->pin_fingerprint != NULL &&
               spec->pin_fingerprint[0] != '\0') {
        match = strcmp(spec->pin_fingerprint, res->host_key.fingerprint) == 0;
    } else {
        res->first_use = true;
        match = true;
    }
    if (!match) {
        rc = fail(res, GW_BACKEND_HOSTKEY_MISMATCH, GW_ERR_DENIED,
                  "backend %s: HOST KEY MISMATCH: presented %s, pinned %s; "
                  "refusing to connect",
                  spec->host_name, res->host_key.fingerprint,
                  spec->pin_fingerprint != NULL && spec->pin_fingerprint[0]
                      ? spec->pin_fingerprint
                      : "another key");
        goto out;
    }
    rc = GW_OK;
out:
    ssh_key_free(pinned);
    ssh_key_free(key);
    return rc;
}

static int authenticate(ssh_session s, const struct gw_backend_spec *spec,
                        struct gw_backend_result *res)
{
    int rc = SSH_AUTH_ERROR;

    if (spec->identity != NULL) {
        rc = ssh_userauth_publickey(s, NULL, spec->identity);
    } else if (spec->password != NULL) {
        rc = ssh_userauth_password(s, NULL, spec->password);
    }
    if (rc == SSH_AUTH_SUCCESS) {
        return GW_OK;
    }
    if (rc == SSH_AUTH_ERROR && ssh_get_error_code(s) != SSH_NO_ERROR) {
        return fail(res, GW_BACKEND_PROTOCOL, GW_ERR,
                    "backend %s: authentication error: %s", spec->host_name,
                    ssh_get_error(s));
    }
    return fail(res, GW_BACKEND_AUTH, GW_ERR_DENIED,
                "backend %s refused the gateway's %s for login '%s'",
                spec->host_name, spec->identity != NULL ? "key" : "password",
                spec->login);
}

/* The SSH handshake. A backend that accepts the TCP connection but does
 * not answer within the timeout (a hung sshd, a tarpit) is a timeout, not
 * a protocol failure. */
static int run_handshake(ssh_session s, const struct gw_backend_spec *spec,
                         struct gw_backend_result *res)
{
    int64_t start = gw_now_ms();

    if (ssh_connect(s) == SSH_OK) {
        return GW_OK;
    }
    if (gw_now_ms() - start >= spec->timeout_s * 1000 - 100) {
        return fail(
            res, GW_BACKEND_TIMEOUT, GW_ERR_TIMEOUT,
            "backend %s (%s port %u): timed out: no SSH answer within %ld s",
            spec->host_name, spec->address, (unsigned)spec->port,
            spec->timeout_s);
    }
    return fail(res, GW_BACKEND_PROTOCOL, GW_ERR,
                "backend %s: SSH handshake failed: %s", spec->host_name,
                ssh_get_error(s));
}

int gw_backend_connect_fd(const struct gw_backend_spec *spec, int fd,
                          ssh_session *out, struct gw_backend_result *res)
{
    ssh_session s = ssh_new();
    int rc;

    if (s == NULL) {
        rc = fail(res, GW_BACKEND_PROTOCOL, GW_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = set_session_options(s, spec, fd, res);
    if (rc != GW_OK) {
        goto out;
    }
    rc = run_handshake(s, spec, res);
    if (rc != GW_OK) {
        goto out;
    }
    rc = verify_host_key(s, spec, res);
    if (rc != GW_OK || spec->skip_auth) {
        goto out;
    }
    rc = authenticate(s, spec, res);
out:
    if (rc == GW_OK && !spec->skip_auth) {
        *out = s;
        s = NULL; /* transferred, fd with it */
        fd = -1;
    }
    if (s != NULL) {
        ssh_disconnect(s);
        ssh_free(s);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

int gw_backend_connect(const struct gw_backend_spec *spec, ssh_session *out,
                       struct gw_backend_result *res)
{
    int fd = -1;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = gw_backend_dial(spec->route, spec->host_name, spec->address,
                         spec->port, spec->timeout_s, &fd, res);
    if (rc != GW_OK) {
        return rc;
    }
    return gw_backend_connect_fd(spec, fd, out, res);
}

void gw_backend_close(ssh_session session)
{
    socket_t fd;

    if (session == NULL) {
        return;
    }
    /* SSH_OPTIONS_FD sockets stay ours: ssh_disconnect leaves them open. */
    fd = ssh_get_fd(session);
    ssh_disconnect(session);
    ssh_free(session);
    if (fd >= 0) {
        close(fd);
    }
}

void gw_backend_result_clear(struct gw_backend_result *res)
{
    gw_pubkey_clear(&res->host_key);
}
