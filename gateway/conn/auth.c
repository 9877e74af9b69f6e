#include "gateway/conn/auth.h"

#include "core/err.h"
#include "core/log.h"
#include "core/passwd.h"
#include "core/sshkey.h"
#include "core/timeutil.h"
#include "gateway/audit/writer.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/lockout.h"
#include "gateway/daemon/metrics.h"
#include "store/keys.h"
#include "store/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define M_PUBLICKEY "publickey"
#define M_PASSWORD  "password"
#define M_KBDINT    "keyboard-interactive"

/* One authentication attempt, from the request to its verdict. */
struct attempt {
    const char *method;
    char fingerprint[GW_FINGERPRINT_MAX]; /* "" unless publickey */
    const char *reason;                   /* NULL while nothing failed */
    bool password_method;                 /* password or keyboard-interactive */
    bool user_exists;
    struct store_user user;
    bool counts_user;   /* a guessable credential failed: user lockout */
    bool counts_source; /* source lockout and the backoff delay */
};

static void attempt_init(struct attempt *a, const char *method)
{
    memset(a, 0, sizeof(*a));
    a->method = method;
    a->password_method = strcmp(method, M_PUBLICKEY) != 0;
}

/* The name an event or log line carries: the user part when the login
 * name parsed, else the (sanitized) login name itself. */
static const char *event_user(const struct gw_conn *c)
{
    if (!c->have_login) {
        return NULL;
    }
    return c->target_ok ? c->target.user : c->login;
}

static void mask_control_chars(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; in[i] != '\0' && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    out[i] = '\0';
}

/* The first login name a client uses is the connection's: changing it
 * between attempts is refused, as OpenSSH does. */
static int pin_login(struct gw_conn *c, const char *login)
{
    char clean[sizeof(c->login)];

    mask_control_chars(login != NULL ? login : "", clean, sizeof(clean));
    if (c->have_login) {
        return strcmp(clean, c->login) == 0 ? GW_OK : GW_ERR_DENIED;
    }
    memcpy(c->login, clean, sizeof(clean));
    c->have_login = true;
    c->target_ok =
        gw_target_parse(login != NULL ? login : "", c->cfg->target_separator,
                        &c->target) == GW_OK;
    if (!c->target_ok) {
        gw_log_verbose("login name '%s': %s", clean, gw_err_msg());
    }
    return GW_OK;
}

static void send_banner_once(struct gw_conn *c)
{
    ssh_string text = NULL;

    if (c->banner_sent || c->cfg->banner_text == NULL) {
        return;
    }
    c->banner_sent = true;
    text = ssh_string_from_char(c->cfg->banner_text);
    if (text == NULL || ssh_send_issue_banner(c->session, text) != SSH_OK) {
        gw_log_verbose("cannot send the banner");
    }
    ssh_string_free(text);
}

static void lookup_user(struct gw_conn *c, struct attempt *a)
{
    int rc;

    struct store *st;

    a->user_exists = false;
    if (!c->target_ok) {
        return;
    }
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? store_user_get(st, c->target.user, &a->user) : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK && rc != GW_ERR_NOTFOUND) {
        gw_log_error("cannot read user: %s", gw_err_msg());
    }
    a->user_exists = rc == GW_OK;
}

/* Common start of every attempt: banner, method, login name, source lock,
 * user lookup. GW_OK to go on; otherwise a->reason says why not. */
static int begin(struct gw_conn *c, struct attempt *a, unsigned method_bit,
                 const char *login)
{
    send_banner_once(c);
    if ((c->cfg->auth_methods & method_bit) == 0) {
        a->reason = "method not allowed";
        return GW_ERR_DENIED;
    }
    if (pin_login(c, login) != GW_OK) {
        a->reason = "login name changed";
        return GW_ERR_DENIED;
    }
    if (gw_lockout_source_locked(c)) {
        a->reason = "source address locked";
        return GW_ERR_DENIED;
    }
    lookup_user(c, a);
    return GW_OK;
}

/* Disabled and locked users are refused even with the right credential
 * (after the same work as everyone else); what a lock refuses is
 * lockout_scope's. */
static void check_policy(const struct gw_conn *c, struct attempt *a)
{
    enum gw_lockout_scope scope = (enum gw_lockout_scope)c->cfg->lockout_scope;

    if (a->reason != NULL) {
        return;
    }
    if (a->user.disabled) {
        a->reason = "user disabled";
    } else if (store_user_is_locked(&a->user) &&
               gw_lockout_refuses(scope, a->password_method)) {
        a->reason = gw_lockout_reason(scope);
    }
}

/* Verify password for the attempt's user. The same scrypt work is done
 * when the user is unknown or has no password, so that the response time
 * does not tell which users exist. */
static void check_password(struct gw_conn *c, struct attempt *a,
                           const char *password)
{
    char *hash = NULL;
    bool has_hash = false;
    int rc = GW_ERR_NOTFOUND;

    if (a->user_exists) {
        struct store *st = gw_daemon_store_get(c->daemon);
        rc = st != NULL ? store_user_password_hash(st, a->user.name, &hash)
                        : GW_ERR_DB;
        gw_daemon_store_put(c->daemon, st);
        has_hash = rc == GW_OK;
    }
    gw_daemon_verify_begin(c->daemon);
    if (rc == GW_OK) {
        rc = gw_password_verify(password, hash);
    } else {
        gw_password_dummy_verify(password);
    }
    gw_daemon_verify_end(c->daemon);
    free(hash);
    a->counts_source = true;
    if (rc == GW_OK) {
        return;
    }
    if (!a->user_exists) {
        a->reason = c->target_ok ? "unknown user" : "invalid login name";
    } else if (!has_hash) {
        a->reason = "no password set";
    } else {
        a->reason = "wrong password";
        a->counts_user = true;
    }
}

/* Is key (whose fingerprint is fp) one of user's stored keys? The
 * fingerprint finds the row, the full key comparison decides. */
static bool key_matches(struct gw_conn *c, const char *user, const char *fp,
                        ssh_key key)
{
    struct store_user_key k;
    struct store *st;
    ssh_key stored = NULL;
    bool ok = false;
    int rc;

    if (fp[0] == '\0') {
        return false;
    }
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? store_key_get(st, user, fp, &k) : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        return false;
    }
    if (gw_pubkey_import(k.type, k.blob_b64, &stored) == GW_OK) {
        ok = ssh_key_cmp(stored, key, SSH_KEY_CMP_PUBLIC) == 0;
    }
    ssh_key_free(stored);
    store_key_clear(&k);
    return ok;
}

static void success(struct gw_conn *c, const struct attempt *a)
{
    const char *fp_sep = a->fingerprint[0] != '\0' ? " fingerprint=" : "";

    snprintf(c->auth_fp, sizeof(c->auth_fp), "%s", a->fingerprint);
    c->user_rate_limit = a->user.rate_limit;
    gw_metrics_auth(a->method, NULL);
    gw_conn_set_authenticated(c, a->user.name);
    gw_lockout_success(c, &a->user, a->password_method);
    gw_log_info("authenticated: method=%s%s%s%s%s", a->method, fp_sep,
                a->fingerprint, c->target.host[0] != '\0' ? " target=" : "",
                c->target.host);
    gw_conn_event(c, "auth.success", a->user.name, "method=%s%s%s%s%s",
                  a->method, fp_sep, a->fingerprint,
                  c->target.host[0] != '\0' ? " target=" : "", c->target.host);
}

/* Exponential backoff: auth_failure_delay, doubled per failure of this
 * connection, capped. Sleeps on this connection's thread only. */
static void backoff(struct gw_conn *c)
{
    long base = c->cfg->auth_failure_delay;
    long ms = base;
    struct timespec ts;

    if (base <= 0) {
        return;
    }
    for (int i = 1; i < c->delays && ms < GW_AUTH_DELAY_CAP_MS; i++) {
        ms *= 2;
    }
    c->delays++;
    if (ms > GW_AUTH_DELAY_CAP_MS) {
        ms = GW_AUTH_DELAY_CAP_MS;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void failure(struct gw_conn *c, const struct attempt *a)
{
    const char *fp_sep = a->fingerprint[0] != '\0' ? " fingerprint=" : "";
    const char *user = event_user(c);

    c->attempts++;
    gw_metrics_auth(a->method, a->reason);
    gw_log_info("authentication failed: method=%s user=%s reason=%s%s%s",
                a->method, user != NULL ? user : "?", a->reason, fp_sep,
                a->fingerprint);
    gw_conn_event(c, "auth.failure", user, "method=%s reason=\"%s\"%s%s",
                  a->method, a->reason, fp_sep, a->fingerprint);
    gw_lockout_failure(c, a->user_exists ? &a->user : NULL, a->counts_user,
                       a->counts_source);
    if (a->counts_source) {
        backoff(c);
    }
    if (c->attempts >= c->cfg->max_auth_attempts) {
        gw_log_info("too many authentication failures (%d)", c->attempts);
        gw_conn_close(c, GW_END_AUTH_FAILURES);
    }
}

/* Report the verdict of a finished attempt; libssh sends the reply. */
static int verdict(struct gw_conn *c, struct attempt *a)
{
    if (c->closing) {
        /* Past the attempt cap (or shutting down): refuse, nothing else. */
        gw_log_debug("%s request while closing", a->method);
        return SSH_AUTH_DENIED;
    }
    if (a->reason == NULL && !gw_audit_accepting(c->daemon->audit)) {
        /* audit_failure = refuse: a session nobody could audit does not
         * start. The credentials were right: nothing counts as a failure,
         * and the client reads why in the disconnect. */
        gw_log_warn("login of %s refused: the audit store is unavailable",
                    a->user.name);
        gw_metrics_auth(a->method, "audit store unavailable");
        gw_conn_event(c, "auth.refused", a->user.name,
                      "method=%s reason=\"audit store unavailable\"",
                      a->method);
        gw_conn_close(c, GW_END_AUDIT_DOWN);
        return SSH_AUTH_DENIED;
    }
    if (a->reason == NULL) {
        success(c, a);
        return SSH_AUTH_SUCCESS;
    }
    failure(c, a);
    return SSH_AUTH_DENIED;
}

/*
 * A request libssh dropped (gateway/conn/authtap.h): a failure like any
 * other -- max_auth_attempts, the source lockout, the backoff, the event
 * with its reason -- answered with a USERAUTH_FAILURE sent through the
 * message the connection kept for it. Before that message exists (the
 * very first request was dropped) there is nothing to send it with: the
 * connection ends with "Authentication failed" instead of leaving the
 * client waiting for login_grace_time.
 */
static void dropped(struct gw_conn *c, const struct gw_authtap_drop *d)
{
    struct attempt a;

    if (c->closing || c->authed) {
        return; /* as verdict(): nothing else past the cap */
    }
    attempt_init(&a, d->method);
    a.reason = d->reason;
    a.counts_source = true; /* a forged signature is not an unknown key */
    send_banner_once(c);
    if (d->user[0] != '\0') {
        (void)pin_login(c, d->user);
    }
    failure(c, &a);
    if (c->closing) {
        return; /* the cap: the loop disconnects */
    }
    if (c->auth_reply == NULL) {
        gw_conn_close(c, GW_END_AUTH_UNANSWERED);
    } else if (ssh_message_reply_default(c->auth_reply) != SSH_OK) {
        gw_log_verbose("cannot answer a dropped request: %s",
                       ssh_get_error(c->session));
    }
}

void gw_auth_answer_drops(struct gw_conn *c)
{
    struct gw_authtap_drop d;

    while (gw_authtap_take(c, &d)) {
        dropped(c, &d);
    }
}

/* ---- the methods ------------------------------------------------------ */

/*
 * The ssh_message_auth_* accessors are marked deprecated in libssh 0.10 in
 * favour of server callbacks, but server callbacks always make libssh send
 * a reply, and we must be able to answer the last failed attempt with a
 * disconnect instead. They remain exported and supported (0.10 and 0.11).
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/*
 * Every request is handled in the message callback, where we choose the
 * reply (server callbacks would always have libssh answer). Return 1 for
 * libssh's default failure reply with the allowed methods, 0 when we
 * replied ourselves -- or deliberately not at all: past max_auth_attempts
 * the last request gets no failure reply, the loop sends a disconnect
 * with "Too many authentication failures" instead, as OpenSSH's sshd does.
 */
static int reply(struct gw_conn *c, ssh_message msg, struct attempt *a)
{
    if (verdict(c, a) == SSH_AUTH_SUCCESS) {
        ssh_message_auth_reply_success(msg, 0);
        return 0;
    }
    return c->closing ? 0 : 1;
}

/* "none" is what a client tries first to learn the methods: refused, not
 * counted, but it pins the login name and triggers the banner. */
static int auth_none(struct gw_conn *c, ssh_message msg)
{
    send_banner_once(c);
    (void)pin_login(c, ssh_message_auth_user(msg));
    return 1;
}

static int auth_password(struct gw_conn *c, ssh_message msg)
{
    struct attempt a;

    attempt_init(&a, M_PASSWORD);
    if (begin(c, &a, GW_AUTH_PASSWORD, ssh_message_auth_user(msg)) == GW_OK) {
        check_password(c, &a, ssh_message_auth_password(msg));
        check_policy(c, &a);
    }
    return reply(c, msg, &a);
}

/* A probe (no signature yet): say whether the key would do. Neither a
 * success nor, when it fits, a failure; an unknown key counts as a failed
 * attempt of this connection only (keys are not guessable). */
static int pubkey_probe(struct gw_conn *c, ssh_message msg, struct attempt *a,
                        ssh_key key)
{
    if (a->user_exists && key_matches(c, a->user.name, a->fingerprint, key)) {
        gw_log_debug("key %s would be accepted", a->fingerprint);
        ssh_message_auth_reply_pk_ok_simple(msg);
        return 0;
    }
    a->reason = a->user_exists ? "key not registered" : "unknown user";
    return reply(c, msg, a);
}

static int auth_pubkey(struct gw_conn *c, ssh_message msg)
{
    ssh_key key = ssh_message_auth_pubkey(msg);
    enum ssh_publickey_state_e state = ssh_message_auth_publickey_state(msg);
    struct attempt a;

    attempt_init(&a, M_PUBLICKEY);
    if (key == NULL || gw_key_fingerprint(key, a.fingerprint) != GW_OK) {
        a.fingerprint[0] = '\0';
    }
    if (begin(c, &a, GW_AUTH_PUBLICKEY, ssh_message_auth_user(msg)) != GW_OK) {
        return reply(c, msg, &a);
    }
    if (state == SSH_PUBLICKEY_STATE_NONE && key != NULL) {
        return pubkey_probe(c, msg, &a, key);
    }
    /* Only STATE_VALID means libssh verified the signature. libssh 0.10
     * passes no other signed state on: it drops those requests itself
     * (gateway/conn/authtap.h), and dropped() counts them. */
    a.counts_source = true;
    if (state != SSH_PUBLICKEY_STATE_VALID || key == NULL) {
        a.reason = "bad signature";
    } else if (!a.user_exists) {
        a.reason = "unknown user";
    } else if (!key_matches(c, a.user.name, a.fingerprint, key)) {
        a.reason = "key not registered";
    }
    check_policy(c, &a);
    return reply(c, msg, &a);
}

/* keyboard-interactive, first message: ask for the password. */
static int kbdint_start(struct gw_conn *c, ssh_message msg)
{
    const char *prompts[1] = {"Password: "};
    char echo[1] = {0};
    struct attempt a;

    attempt_init(&a, M_KBDINT);
    if (begin(c, &a, GW_AUTH_KBDINT, ssh_message_auth_user(msg)) != GW_OK) {
        return reply(c, msg, &a);
    }
    if (ssh_message_auth_interactive_request(msg, "", "", 1, prompts, echo) !=
        SSH_OK) {
        gw_log_verbose("cannot send the password prompt");
        return 1;
    }
    c->kbdint_pending = true;
    return 0;
}

/* keyboard-interactive, the answer. */
static int kbdint_answer(struct gw_conn *c, ssh_message msg)
{
    const char *answer = NULL;
    struct attempt a;

    attempt_init(&a, M_KBDINT);
    if (!c->kbdint_pending) {
        a.reason = "unexpected response";
        return reply(c, msg, &a);
    }
    c->kbdint_pending = false;
    if (ssh_userauth_kbdint_getnanswers(c->session) == 1) {
        answer = ssh_userauth_kbdint_getanswer(c->session, 0);
    }
    if (gw_lockout_source_locked(c)) {
        a.reason = "source address locked";
    } else if (answer == NULL) {
        a.reason = "no answer";
    } else {
        lookup_user(c, &a);
        check_password(c, &a, answer);
        check_policy(c, &a);
    }
    return reply(c, msg, &a);
}

int gw_auth_on_message(struct gw_conn *c, ssh_message msg)
{
    switch (ssh_message_subtype(msg)) {
    case SSH_AUTH_METHOD_NONE:
        return auth_none(c, msg);
    case SSH_AUTH_METHOD_PASSWORD:
        return auth_password(c, msg);
    case SSH_AUTH_METHOD_PUBLICKEY:
        return auth_pubkey(c, msg);
    case SSH_AUTH_METHOD_INTERACTIVE:
        return ssh_message_auth_kbdint_is_response(msg) ? kbdint_answer(c, msg)
                                                        : kbdint_start(c, msg);
    default:
        send_banner_once(c);
        return 1; /* hostbased, gssapi: not offered */
    }
}

#pragma GCC diagnostic pop

static int libssh_methods(unsigned methods)
{
    unsigned m = 0;

    if (methods & GW_AUTH_PUBLICKEY) {
        m |= SSH_AUTH_METHOD_PUBLICKEY;
    }
    if (methods & GW_AUTH_PASSWORD) {
        m |= SSH_AUTH_METHOD_PASSWORD;
    }
    if (methods & GW_AUTH_KBDINT) {
        m |= SSH_AUTH_METHOD_INTERACTIVE;
    }
    return (int)m;
}

void gw_auth_advertise(struct gw_conn *c)
{
    ssh_set_auth_methods(c->session, libssh_methods(c->cfg->auth_methods));
}

void gw_auth_abandoned(struct gw_conn *c)
{
    if (c->grace_expired && c->have_login) {
        gw_metrics_auth("none", "login grace time exceeded");
        gw_conn_event(c, "auth.failure", event_user(c),
                      "method=none reason=\"login grace time exceeded\"");
    }
}
