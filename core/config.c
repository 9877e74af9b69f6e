#include "config.h"

#include "err.h"
#include "export_spec.h"
#include "log.h"
#include "proxy_url.h"
#include "proxyproto.h"
#include "strutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hardened algorithm defaults (docs/configuration.md explains each). No
 * SHA-1, no CBC, no NIST curves in key exchange, no ssh-rsa signatures. */
#define DEFAULT_KEX                                   \
    "curve25519-sha256,curve25519-sha256@libssh.org," \
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512"
#define DEFAULT_CIPHERS                                     \
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com," \
    "aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"
#define DEFAULT_MACS \
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"
#define DEFAULT_HOSTKEY_ALGOS "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"
#define DEFAULT_PUBKEY_ALGOS                                      \
    "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256," \
    "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"                    \
    "sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"

/* Characters allowed as target_separator: each is one that gw_name_check
 * refuses in names, and none has a meaning to ssh, scp or a shell. */
#define SEPARATORS "+%=~^"

#define LISTEN_MAX    16
#define ALGO_LIST_MAX 1024
#define VERSION_MAX   64

struct cfg_key;
typedef int (*parse_fn)(const struct cfg_key *key, const char *value,
                        void *out);

struct cfg_key {
    const char *name;
    parse_fn parse;
    void (*release)(void *field); /* NULL for plain values */
    size_t offset;
    size_t size;
    const char *def;
    int64_t min;
    int64_t max;
    bool reloadable;
};

/* Scratch space big enough for any field type. */
union cfg_value {
    long l;
    int64_t i64;
    int i;
    unsigned u;
    bool b;
    char c;
    char *s;
    struct gw_cidr_list cidrs;
    struct gw_listen_list listen;
    struct gw_startups startups;
    struct gw_addr addr;
    struct gw_export_list sinks;
};

static int parse_long(const struct cfg_key *k, const char *v, void *out);
static int parse_secs(const struct cfg_key *k, const char *v, void *out);
static int parse_size(const struct cfg_key *k, const char *v, void *out);
static int parse_size_opt(const struct cfg_key *k, const char *v, void *out);
static int parse_bool(const struct cfg_key *k, const char *v, void *out);
static int parse_path(const struct cfg_key *k, const char *v, void *out);
static int parse_algos(const struct cfg_key *k, const char *v, void *out);
static int parse_methods(const struct cfg_key *k, const char *v, void *out);
static int parse_level(const struct cfg_key *k, const char *v, void *out);
static int parse_cidrs(const struct cfg_key *k, const char *v, void *out);
static int parse_listen(const struct cfg_key *k, const char *v, void *out);
static int parse_sep(const struct cfg_key *k, const char *v, void *out);
static int parse_version(const struct cfg_key *k, const char *v, void *out);
static int parse_patterns(const struct cfg_key *k, const char *v, void *out);
static int parse_node_name(const struct cfg_key *k, const char *v, void *out);
static int parse_user(const struct cfg_key *k, const char *v, void *out);
static int parse_audit_failure(const struct cfg_key *k, const char *v,
                               void *out);
static int parse_scope(const struct cfg_key *k, const char *v, void *out);
static int parse_proxy(const struct cfg_key *k, const char *v, void *out);
static int parse_startups(const struct cfg_key *k, const char *v, void *out);
static int parse_addr_opt(const struct cfg_key *k, const char *v, void *out);
static int parse_export(const struct cfg_key *k, const char *v, void *out);
static int parse_backend_proxy(const struct cfg_key *k, const char *v,
                               void *out);
static int parse_bypass(const struct cfg_key *k, const char *v, void *out);
static void free_string(void *field);
static void free_cidrs(void *field);
static void free_listen(void *field);
static void free_export(void *field);

#define FIELD(m) \
    offsetof(struct gw_config, m), sizeof(((struct gw_config *)0)->m)
#define NUM(name, parse, m, def, min, max, rel)         \
    {                                                   \
        name, parse, NULL, FIELD(m), def, min, max, rel \
    }
#define STR(name, parse, m, def, rel)                      \
    {                                                      \
        name, parse, free_string, FIELD(m), def, 0, 0, rel \
    }

static const struct cfg_key keys[] = {
    {"listen", parse_listen, free_listen, FIELD(listen),
     "0.0.0.0:2222,[::]:2222", 0, 0, false},
    STR("db", parse_path, db, SSHGATE_DEFAULT_DB, false),
    STR("node_name", parse_node_name, node_name, "", false),
    NUM("node_lost_after", parse_secs, node_lost_after, "60", 3, 3600, false),
    NUM("backlog", parse_long, backlog, "512", 1, 65535, false),
    NUM("max_connections", parse_long, max_connections, "1000", 1, 100000,
        true),
    NUM("max_unauth_connections", parse_long, max_unauth_connections, "100", 1,
        100000, true),
    NUM("max_unauth_per_source", parse_long, max_unauth_per_source, "10", 1,
        100000, true),
    NUM("max_startups", parse_startups, max_startups, "auto", 1, 100000, true),
    /* Narrower than a /8 or a /16 would make whole networks one source. */
    NUM("source_prefix_v4", parse_long, source_prefix_v4, "32", 8, 32, true),
    NUM("source_prefix_v6", parse_long, source_prefix_v6, "64", 16, 128, true),
    NUM("source_penalty", parse_secs, source_penalty, "10", 0, 3600, true),
    NUM("source_penalty_max", parse_secs, source_penalty_max, "300", 1, 86400,
        true),
    {"allowed_clients", parse_cidrs, free_cidrs, FIELD(allowed_clients), "", 0,
     0, true},
    {"blocked_clients", parse_cidrs, free_cidrs, FIELD(blocked_clients), "", 0,
     0, true},
    NUM("proxy_protocol", parse_proxy, proxy_protocol, "off", 0, 0, true),
    {"proxy_trusted", parse_cidrs, free_cidrs, FIELD(proxy_trusted), "", 0, 0,
     true},
    NUM("refusal_summary_interval", parse_secs, refusal_summary_interval, "10",
        0, 3600, true),
    NUM("version_timeout", parse_secs, version_timeout, "5", 1, 3600, true),
    NUM("login_grace_time", parse_secs, login_grace_time, "60", 1, 3600, true),
    NUM("idle_timeout", parse_secs, idle_timeout, "0", 0, 30L * 86400, true),
    NUM("keepalive_interval", parse_secs, keepalive_interval, "15", 0, 3600,
        true),
    NUM("keepalive_count_max", parse_long, keepalive_count_max, "3", 1, 100,
        true),
    NUM("max_auth_attempts", parse_long, max_auth_attempts, "6", 1, 100, true),
    NUM("auth_methods", parse_methods, auth_methods,
        "publickey,password,keyboard-interactive", 0, 0, true),
    /* One source address must be locked out before it can lock a user:
     * lockout_threshold is at least twice source_lockout_threshold
     * (docs/configuration.md, "Lockouts"). */
    NUM("lockout_threshold", parse_long, lockout_threshold, "20", 0, 100000,
        true),
    NUM("lockout_time", parse_secs, lockout_time, "900", 1, 30L * 86400, true),
    NUM("lockout_scope", parse_scope, lockout_scope, "password", 0, 0, true),
    NUM("source_lockout_threshold", parse_long, source_lockout_threshold, "10",
        0, 100000, true),
    NUM("auth_failure_delay", parse_long, auth_failure_delay, "250", 0,
        GW_AUTH_DELAY_CAP_MS, true),
    STR("banner", parse_path, banner, "", true),
    STR("kex", parse_algos, kex, DEFAULT_KEX, true),
    STR("ciphers", parse_algos, ciphers, DEFAULT_CIPHERS, true),
    STR("macs", parse_algos, macs, DEFAULT_MACS, true),
    STR("hostkey_algorithms", parse_algos, hostkey_algorithms,
        DEFAULT_HOSTKEY_ALGOS, true),
    STR("pubkey_accepted_algorithms", parse_algos, pubkey_accepted_algorithms,
        DEFAULT_PUBKEY_ALGOS, true),
    NUM("compression", parse_bool, compression, "no", 0, 0, true),
    NUM("rekey_limit", parse_size, rekey_limit, "1G", 0, INT64_C(1) << 40,
        true),
    NUM("rekey_time", parse_secs, rekey_time, "3600", 0, 86400, true),
    NUM("target_separator", parse_sep, target_separator, "+", 0, 0, true),
    NUM("recording", parse_bool, recording, "on", 0, 0, true),
    NUM("record_input", parse_bool, record_input, "no", 0, 0, true),
    NUM("recording_queue_size", parse_size, recording_queue_size, "16M",
        INT64_C(16) * 1024, INT64_C(1) << 30, false),
    NUM("audit_failure", parse_audit_failure, audit_failure_continue, "refuse",
        0, 0, true),
    NUM("audit_failure_grace", parse_secs, audit_failure_grace, "30", 0, 3600,
        true),
    STR("audit_spool", parse_path, audit_spool, "", false),
    NUM("audit_spool_size", parse_size, audit_spool_size, "256M",
        INT64_C(1) << 20, INT64_C(1) << 40, false),
    NUM("audit_queue_size", parse_size, audit_queue_size, "64M",
        INT64_C(1) << 20, INT64_C(4) << 30, false),
    {"event_export", parse_export, free_export, FIELD(event_export), "", 0, 0,
     false},
    /* Per sink; as small as 1K for tests that want drops. */
    NUM("export_queue_size", parse_size, export_queue_size, "4M", INT64_C(1024),
        INT64_C(1) << 30, false),
    NUM("log_level", parse_level, log_level, "info", 0, 0, true),
    STR("server_version", parse_version, server_version, "sshgate", true),
    NUM("shutdown_grace", parse_secs, shutdown_grace, "30", 0, 3600, true),
    NUM("worker_stack_size", parse_size, worker_stack_size, "256K",
        INT64_C(64) * 1024, INT64_C(64) * 1024 * 1024, false),
    NUM("backend_connect_timeout", parse_secs, backend_connect_timeout, "10", 1,
        300, true),
    STR("backend_proxy", parse_backend_proxy, backend_proxy, "", true),
    STR("backend_proxy_bypass", parse_bypass, backend_proxy_bypass, "", true),
    NUM("max_jump_depth", parse_long, max_jump_depth, "3", 1, 8, true),
    STR("env_allow", parse_patterns, env_allow, "LANG,LC_*,TERM", true),
    NUM("max_channels_per_connection", parse_long, max_channels_per_connection,
        "64", 1, 1024, true),
    NUM("relay_buffer_size", parse_size, relay_buffer_size, "64K",
        INT64_C(4) * 1024, INT64_C(16) * 1024 * 1024, true),
    NUM("channel_window", parse_size, channel_window, "4M", 0,
        INT64_C(64) * 1024 * 1024, true),
    NUM("channel_window_budget", parse_size, channel_window_budget, "32M", 0,
        INT64_C(1) << 30, true),
    NUM("rate_limit", parse_size_opt, rate_limit, "0", 0, INT64_C(1) << 40,
        true),
    NUM("rate_limit_burst", parse_size_opt, rate_limit_burst, "0", 0,
        INT64_C(1) << 40, true),
    STR("run_as_user", parse_user, run_as_user, "", false),
    NUM("metrics_listen", parse_addr_opt, metrics_listen, "", 0, 0, false),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- value parsers ---------------------------------------------------- */

/* Split "123x" into its number and a one-letter suffix (or none). */
static int split_suffix(const char *s, long long *num, char *suffix)
{
    char *end = NULL;

    if (s[0] == '\0' || !isdigit((unsigned char)s[0])) {
        return GW_ERR_INVALID;
    }
    errno = 0;
    *num = strtoll(s, &end, 10);
    if (errno != 0 || (end[0] != '\0' && end[1] != '\0')) {
        return GW_ERR_INVALID;
    }
    *suffix = end[0];
    return GW_OK;
}

/* num * mult within [min, max], else a range error naming the text. */
static int scale(const char *s, long long num, long long mult, int64_t min,
                 int64_t max, int64_t *out)
{
    if (num > max / mult || num * mult < min) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is outside %" PRId64 "..%" PRId64, s, min, max);
    }
    *out = num * mult;
    return GW_OK;
}

int gw_parse_seconds(const char *s, long min, long max, long *out)
{
    static const char units[] = "smhd";
    static const long long mult[] = {1, 60, 3600, 86400};
    long long num = 0;
    char suffix = '\0';
    const char *u = NULL;
    int64_t v = 0;

    if (split_suffix(s, &num, &suffix) != GW_OK ||
        (suffix != '\0' && (u = strchr(units, suffix)) == NULL)) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not a time (seconds, or a number with "
                          "s, m, h or d)",
                          s);
    }
    if (scale(s, num, u == NULL ? 1 : mult[u - units], min, max, &v) != GW_OK) {
        return GW_ERR_INVALID;
    }
    *out = (long)v;
    return GW_OK;
}

int gw_parse_bytes(const char *s, int64_t min, int64_t max, int64_t *out)
{
    static const char units[] = "KMG";
    static const long long mult[] = {1024LL, 1024LL * 1024, 1LL << 30};
    long long num = 0;
    char suffix = '\0';
    const char *u = NULL;

    if (split_suffix(s, &num, &suffix) != GW_OK ||
        (suffix != '\0' &&
         (u = strchr(units, toupper((unsigned char)suffix))) == NULL)) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not a size (bytes, or a number with K, M "
                          "or G)",
                          s);
    }
    return scale(s, num, u == NULL ? 1 : mult[u - units], min, max, out);
}

static int parse_long(const struct cfg_key *k, const char *v, void *out)
{
    long n = 0;
    int rc = gw_long_parse(v, (long)k->min, (long)k->max, &n);

    if (rc != GW_OK) {
        return gw_err_set(rc,
                          "'%s' is not a whole number in %" PRId64 "..%" PRId64,
                          v, k->min, k->max);
    }
    *(long *)out = n;
    return GW_OK;
}

static int parse_secs(const struct cfg_key *k, const char *v, void *out)
{
    return gw_parse_seconds(v, (long)k->min, (long)k->max, (long *)out);
}

static int parse_size(const struct cfg_key *k, const char *v, void *out)
{
    return gw_parse_bytes(v, k->min, k->max, (int64_t *)out);
}

/* A size where empty means 0 (off). */
static int parse_size_opt(const struct cfg_key *k, const char *v, void *out)
{
    if (v[0] == '\0') {
        *(int64_t *)out = 0;
        return GW_OK;
    }
    return parse_size(k, v, out);
}

static int parse_bool(const struct cfg_key *k, const char *v, void *out)
{
    static const char *const yes[] = {"yes", "on", "true"};
    static const char *const no[] = {"no", "off", "false"};

    (void)k;
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *(bool *)out = strcmp(v, yes[i]) == 0;
            return GW_OK;
        }
    }
    return gw_err_set(GW_ERR_INVALID, "'%s' is not yes/no (or on/off)", v);
}

/* "refuse" (false) or "continue" (true): what an audit outage costs. */
static int parse_audit_failure(const struct cfg_key *k, const char *v,
                               void *out)
{
    (void)k;
    if (strcmp(v, "refuse") == 0 || strcmp(v, "continue") == 0) {
        *(bool *)out = strcmp(v, "continue") == 0;
        return GW_OK;
    }
    return gw_err_set(GW_ERR_INVALID, "'%s' is not refuse or continue", v);
}

static int parse_scope(const struct cfg_key *k, const char *v, void *out)
{
    enum gw_lockout_scope scope = GW_LOCKOUT_PASSWORD;
    int rc = gw_lockout_scope_parse(v, &scope);

    (void)k;
    if (rc == GW_OK) {
        *(int *)out = (int)scope;
    }
    return rc;
}

/* "off", "v1", "v2" or "any": the PROXY protocol header the listener
 * expects before the SSH version line. */
static int parse_proxy(const struct cfg_key *k, const char *v, void *out)
{
    enum gw_proxy_mode mode = GW_PROXY_OFF;
    int rc = gw_proxy_mode_parse(v, &mode);

    (void)k;
    if (rc == GW_OK) {
        *(int *)out = (int)mode;
    }
    return rc;
}

/* "auto", or start:rate:full with 0 <= start <= full, 1 <= rate <= 100
 * and full within the key's range (that of max_unauth_connections). */
static int parse_startups(const struct cfg_key *k, const char *v, void *out)
{
    struct gw_startups st = {0, 0, 0};
    char extra = '\0';

    if (strcmp(v, "auto") == 0) {
        *(struct gw_startups *)out = st;
        return GW_OK;
    }
    if (sscanf(v, "%ld:%ld:%ld%c", &st.begin, &st.rate, &st.full, &extra) !=
            3 ||
        !isdigit((unsigned char)v[0])) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not auto or start:rate:full",
                          v);
    }
    if (st.full < k->min || st.full > k->max || st.begin < 0 ||
        st.begin > st.full || st.rate < 1 || st.rate > 100) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s': want 0 <= start <= full <= %lld and "
                          "1 <= rate <= 100",
                          v, (long long)k->max);
    }
    *(struct gw_startups *)out = st;
    return GW_OK;
}

/* One numeric ADDR:PORT, or "" for none (family 0). */
static int parse_addr_opt(const struct cfg_key *k, const char *v, void *out)
{
    struct gw_addr a;

    (void)k;
    memset(&a, 0, sizeof(a));
    if (v[0] != '\0' && gw_addr_parse_hostport(v, &a) != GW_OK) {
        return GW_ERR_INVALID;
    }
    *(struct gw_addr *)out = a;
    return GW_OK;
}

static int dup_value(const char *v, void *out)
{
    char *copy = strdup(v);

    if (copy == NULL) {
        return GW_ERR_NOMEM;
    }
    *(char **)out = copy;
    return GW_OK;
}

/* A file path: may be empty only where the default is empty. */
static int parse_path(const struct cfg_key *k, const char *v, void *out)
{
    if (v[0] == '\0' && k->def[0] != '\0') {
        return gw_err_set(GW_ERR_INVALID, "must not be empty");
    }
    if (gw_has_control(v) || strlen(v) > PATH_MAX) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not a usable path", v);
    }
    return dup_value(v, out);
}

/* A local account to switch to after binding ("" = stay as started). */
static int parse_user(const struct cfg_key *k, const char *v, void *out)
{
    char buf[4096];
    struct passwd pw;
    struct passwd *found = NULL;

    (void)k;
    if (v[0] != '\0' &&
        (getpwnam_r(v, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)) {
        return gw_err_set(GW_ERR_INVALID, "no local user '%s'",
                          gw_has_control(v) ? "?" : v);
    }
    return dup_value(v, out);
}

static int parse_algos(const struct cfg_key *k, const char *v, void *out)
{
    size_t len = strlen(v);

    (void)k;
    if (len == 0 || len > ALGO_LIST_MAX || v[0] == ',' || v[len - 1] == ',' ||
        strstr(v, ",,") != NULL) {
        return gw_err_set(GW_ERR_INVALID,
                          "expected a comma-separated list of algorithm "
                          "names");
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("@.-_,", *p) == NULL) {
            return gw_err_set(GW_ERR_INVALID,
                              "'%c' is not allowed in an algorithm name "
                              "(use commas without spaces)",
                              *p);
        }
    }
    return dup_value(v, out);
}

/* Map one auth_methods item to its bit (0 when unknown). */
static unsigned method_bit(const char *name, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {
        {"publickey", GW_AUTH_PUBLICKEY},
        {"password", GW_AUTH_PASSWORD},
        {"keyboard-interactive", GW_AUTH_KBDINT},
    };

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strlen(methods[i].name) == len &&
            strncmp(methods[i].name, name, len) == 0) {
            return methods[i].bit;
        }
    }
    return 0;
}

static int parse_methods(const struct cfg_key *k, const char *v, void *out)
{
    unsigned bits = 0;
    const char *p = v;

    (void)k;
    for (;;) {
        size_t len = strcspn(p, ",");
        unsigned bit = method_bit(p, len);
        if (bit == 0) {
            return gw_err_set(GW_ERR_INVALID,
                              "'%.*s' is not one of publickey, password, "
                              "keyboard-interactive",
                              (int)len, p);
        }
        bits |= bit;
        if (p[len] == '\0') {
            break;
        }
        p += len + 1;
    }
    *(unsigned *)out = bits;
    return GW_OK;
}

static int parse_level(const struct cfg_key *k, const char *v, void *out)
{
    (void)k;
    return gw_log_level_parse(v, (int *)out);
}

static int parse_cidrs(const struct cfg_key *k, const char *v, void *out)
{
    (void)k;
    return gw_cidr_list_parse(v, (struct gw_cidr_list *)out);
}

/* Parse one "ADDR:PORT" item of a listen list into list (with room). */
static int listen_item(struct gw_listen_list *list, char *item)
{
    char *text = gw_trim(item);
    struct gw_addr *a = &list->addrs[list->n];

    if (*text == '\0') {
        return gw_err_set(GW_ERR_INVALID, "empty item in listen list");
    }
    if (gw_addr_parse_hostport(text, a) != GW_OK) {
        return GW_ERR_INVALID;
    }
    for (size_t i = 0; i < list->n; i++) {
        if (gw_addr_same_ip(&list->addrs[i], a) &&
            list->addrs[i].port == a->port) {
            return gw_err_set(GW_ERR_INVALID, "'%s' is listed twice", text);
        }
    }
    list->n++;
    return GW_OK;
}

static int parse_listen(const struct cfg_key *k, const char *v, void *out)
{
    struct gw_listen_list list = {NULL, 0};
    char *copy = NULL;
    char *item = NULL;
    char *rest = NULL;
    int rc = GW_OK;

    (void)k;
    copy = strdup(v);
    list.addrs = calloc(LISTEN_MAX, sizeof(*list.addrs));
    if (copy == NULL || list.addrs == NULL) {
        rc = GW_ERR_NOMEM;
        goto out;
    }
    rest = copy;
    while (rc == GW_OK && (item = strsep(&rest, ",")) != NULL) {
        if (list.n == LISTEN_MAX) {
            rc = gw_err_set(GW_ERR_INVALID, "more than %d addresses",
                            LISTEN_MAX);
            break;
        }
        rc = listen_item(&list, item);
    }
    if (rc == GW_OK) {
        *(struct gw_listen_list *)out = list;
        list.addrs = NULL; /* transferred */
    }
out:
    free(list.addrs);
    free(copy);
    return rc;
}

static int parse_sep(const struct cfg_key *k, const char *v, void *out)
{
    (void)k;
    if (strlen(v) != 1 || strchr(SEPARATORS, v[0]) == NULL) {
        return gw_err_set(GW_ERR_INVALID,
                          "'%s' is not one of the characters '%s'", v,
                          SEPARATORS);
    }
    *(char *)out = v[0];
    return GW_OK;
}

/* RFC 4253 4.2: printable US-ASCII without whitespace and '-'. */
static int parse_version(const struct cfg_key *k, const char *v, void *out)
{
    size_t len = strlen(v);

    (void)k;
    if (len == 0 || len > VERSION_MAX) {
        return gw_err_set(GW_ERR_INVALID, "must be 1..%d characters",
                          VERSION_MAX);
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '-') {
            return gw_err_set(GW_ERR_INVALID,
                              "only printable ASCII without spaces and '-' "
                              "is allowed");
        }
    }
    return dup_value(v, out);
}

/* A node's name in a cluster: empty (the host name) or up to 63
 * letters, digits, '.', '_' and '-', as in a host name; it names the
 * node's rows (sessions, nodes) and must differ between nodes. */
static int parse_node_name(const struct cfg_key *k, const char *v, void *out)
{
    size_t len = strlen(v);

    (void)k;
    if (len > 63) {
        return gw_err_set(GW_ERR_INVALID, "must be at most 63 characters");
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
            *p != '-') {
            return gw_err_set(GW_ERR_INVALID,
                              "only letters, digits, '.', '_' and '-' are "
                              "allowed");
        }
    }
    return dup_value(v, out);
}

/* A comma-separated list of environment variable name patterns (fnmatch
 * globs: letters, digits, '_', '*', '?'); may be empty (nothing passes). */
static int parse_patterns(const struct cfg_key *k, const char *v, void *out)
{
    size_t len = strlen(v);

    (void)k;
    if (len > ALGO_LIST_MAX || (len > 0 && (v[0] == ',' || v[len - 1] == ',' ||
                                            strstr(v, ",,") != NULL))) {
        return gw_err_set(GW_ERR_INVALID,
                          "expected a comma-separated list of variable "
                          "name patterns");
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("_*?,", *p) == NULL) {
            return gw_err_set(GW_ERR_INVALID,
                              "'%c' is not allowed in a variable name "
                              "pattern (letters, digits, _, * and ?)",
                              *p);
        }
    }
    return dup_value(v, out);
}

/* An outbound proxy URL (core/proxy_url.h), canonical, or "" for none. */
static int parse_backend_proxy(const struct cfg_key *k, const char *v,
                               void *out)
{
    struct gw_proxy_url url;
    char text[GW_PROXY_URL_MAX];
    int rc;

    (void)k;
    if (v[0] == '\0') {
        return dup_value(v, out);
    }
    rc = gw_proxy_url_parse(v, &url);
    if (rc != GW_OK) {
        return rc;
    }
    gw_proxy_url_format(&url, text, sizeof(text));
    return dup_value(text, out);
}

static int parse_bypass(const struct cfg_key *k, const char *v, void *out)
{
    int rc;

    (void)k;
    if (strlen(v) > ALGO_LIST_MAX) {
        return gw_err_set(GW_ERR_INVALID, "longer than %d characters",
                          ALGO_LIST_MAX);
    }
    rc = gw_proxy_bypass_check(v);
    return rc == GW_OK ? dup_value(v, out) : rc;
}

static void free_string(void *field)
{
    free(*(char **)field);
    *(char **)field = NULL;
}

static void free_cidrs(void *field)
{
    gw_cidr_list_free((struct gw_cidr_list *)field);
}

static int parse_export(const struct cfg_key *k, const char *v, void *out)
{
    (void)k;
    return gw_export_list_parse(v, (struct gw_export_list *)out);
}

static void free_export(void *field)
{
    gw_export_list_free((struct gw_export_list *)field);
}

static void free_listen(void *field)
{
    struct gw_listen_list *list = field;

    free(list->addrs);
    list->addrs = NULL;
    list->n = 0;
}

/* ---- the loader ------------------------------------------------------- */

#define FROM_DEFAULT      0
#define FROM_COMMAND_LINE (-1)

struct loader {
    struct gw_config *cfg;
    gw_config_check_fn check;
    gw_config_report_fn report;
    void *ud;
    int errors;
    int line_of[NKEYS]; /* file line, FROM_DEFAULT or FROM_COMMAND_LINE */
};

__attribute__((format(printf, 2, 3))) static void problem(struct loader *ld,
                                                          const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    ld->errors++;
    if (ld->report == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    ld->report(ld->ud, line);
}

/* A parser's message with several lines (one per bad entry of a list):
 * a problem line for each, all with the same prefix. */
static void problems(struct loader *ld, const char *prefix, const char *msg)
{
    char copy[512];
    char *rest = copy;
    char *line = NULL;

    snprintf(copy, sizeof(copy), "%s", msg);
    while ((line = strsep(&rest, "\n")) != NULL) {
        problem(ld, "%s: %s", prefix, line);
    }
}

static int key_index(const char *name, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            *idx = i;
            return GW_OK;
        }
    }
    return GW_ERR_NOTFOUND;
}

/* Parse value for key i into cfg, replacing (and freeing) the old value;
 * check (may be NULL) vets it first. */
static int set_value(struct gw_config *cfg, size_t i, const char *value,
                     gw_config_check_fn check)
{
    const struct cfg_key *k = &keys[i];
    union cfg_value tmp;
    char *text = NULL;
    char *field = (char *)cfg + k->offset;
    int rc;

    memset(&tmp, 0, sizeof(tmp));
    text = strdup(value);
    if (text == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = k->parse(k, value, &tmp);
    if (rc == GW_OK && check != NULL) {
        rc = check(k->name, value);
        if (rc != GW_OK && k->release != NULL) {
            k->release(&tmp);
        }
    }
    if (rc != GW_OK) {
        free(text);
        return rc;
    }
    if (k->release != NULL) {
        k->release(field);
    }
    memcpy(field, &tmp, k->size);
    free(cfg->text[i]);
    cfg->text[i] = text;
    return GW_OK;
}

static void apply_defaults(struct loader *ld)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (set_value(ld->cfg, i, keys[i].def, NULL) != GW_OK) {
            problem(ld, "internal error: default of %s: %s", keys[i].name,
                    gw_err_msg());
        }
    }
}

static void load_line(struct loader *ld, const char *path, int lineno,
                      char *line)
{
    char *s = gw_trim(line);
    char *eq = NULL;
    char *name = NULL;
    size_t i = 0;

    if (*s == '\0' || *s == '#') {
        return;
    }
    eq = strchr(s, '=');
    if (eq == NULL) {
        problem(ld, "%s:%d: expected 'key = value'", path, lineno);
        return;
    }
    *eq = '\0';
    name = gw_trim(s);
    if (key_index(name, &i) != GW_OK) {
        problem(ld, "%s:%d: unknown key '%s'", path, lineno, name);
        return;
    }
    if (ld->line_of[i] > 0) {
        problem(ld, "%s:%d: %s is already set on line %d", path, lineno, name,
                ld->line_of[i]);
        return;
    }
    ld->line_of[i] = lineno;
    if (set_value(ld->cfg, i, gw_trim(eq + 1), ld->check) != GW_OK) {
        char where_[300];
        snprintf(where_, sizeof(where_), "%s:%d: %s", path, lineno, name);
        problems(ld, where_, gw_err_msg());
    }
}

static int load_file(struct loader *ld, const char *path)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;

    f = fopen(path, "re");
    if (f == NULL) {
        problem(ld, "%s: cannot read the configuration: %s", path,
                strerror(errno));
        return GW_ERR_IO;
    }
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        load_line(ld, path, lineno, line);
    }
    if (ferror(f)) {
        problem(ld, "%s: read error: %s", path, strerror(errno));
    }
    free(line);
    fclose(f);
    return GW_OK;
}

static void apply_overrides(struct loader *ld,
                            const struct gw_config_override *ov, size_t nov)
{
    for (size_t n = 0; n < nov; n++) {
        size_t i = 0;
        if (key_index(ov[n].key, &i) != GW_OK) {
            problem(ld, "%s: unknown setting '%s'", ov[n].origin, ov[n].key);
            continue;
        }
        ld->line_of[i] = FROM_COMMAND_LINE;
        if (set_value(ld->cfg, i, ov[n].value, ld->check) != GW_OK) {
            problems(ld, ov[n].origin, gw_err_msg());
        }
    }
}

/* "FILE:LINE: key" or "command line: key", naming where a value came from. */
static void where(const struct loader *ld, const char *name, char *out,
                  size_t len)
{
    size_t i = 0;
    int line = 0;

    if (key_index(name, &i) == GW_OK) {
        line = ld->line_of[i];
    }
    if (line > 0) {
        snprintf(out, len, "%s:%d: %s", ld->cfg->path, line, name);
    } else if (line == FROM_COMMAND_LINE) {
        snprintf(out, len, "command line: %s", name);
    } else {
        snprintf(out, len, "%s", name);
    }
}

/* Read the banner file now, so that a missing file is a config error. */
static void load_banner(struct loader *ld)
{
    struct gw_config *cfg = ld->cfg;
    char loc[PATH_MAX + 64];
    char *text = NULL;
    FILE *f = NULL;
    size_t n;

    if (cfg->banner[0] == '\0') {
        return;
    }
    where(ld, "banner", loc, sizeof(loc));
    f = fopen(cfg->banner, "re");
    text = calloc(1, GW_BANNER_MAX + 2);
    if (f == NULL || text == NULL) {
        problem(ld, "%s: cannot read %s: %s", loc, cfg->banner,
                f == NULL ? strerror(errno) : "out of memory");
        goto out;
    }
    n = fread(text, 1, GW_BANNER_MAX + 1, f);
    if (n > GW_BANNER_MAX || ferror(f)) {
        problem(ld, "%s: %s is unreadable or larger than %d bytes", loc,
                cfg->banner, GW_BANNER_MAX);
        goto out;
    }
    if (strlen(text) != n) {
        problem(ld, "%s: %s is not a text file", loc, cfg->banner);
        goto out;
    }
    cfg->banner_text = text;
    text = NULL; /* transferred */
out:
    free(text);
    if (f != NULL) {
        fclose(f);
    }
}

static void cross_checks(struct loader *ld)
{
    char loc[PATH_MAX + 64];

    if (ld->cfg->rekey_limit > 0 && ld->cfg->rekey_limit < 65536) {
        where(ld, "rekey_limit", loc, sizeof(loc));
        problem(ld, "%s: must be 0 (the cipher's own limit) or at least 64K",
                loc);
    }
    load_banner(ld);
}

static void config_free(struct gw_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].release != NULL) {
            keys[i].release((char *)cfg + keys[i].offset);
        }
        if (cfg->text != NULL) {
            free(cfg->text[i]);
        }
    }
    free(cfg->text);
    free(cfg->banner_text);
    free(cfg->path);
    free(cfg);
}

static int config_new(const char *path, struct gw_config **out)
{
    struct gw_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        return GW_ERR_NOMEM;
    }
    atomic_init(&cfg->refs, 1);
    cfg->text = calloc(NKEYS, sizeof(*cfg->text));
    cfg->path = path != NULL ? strdup(path) : NULL;
    if (cfg->text == NULL || (path != NULL && cfg->path == NULL)) {
        config_free(cfg);
        return GW_ERR_NOMEM;
    }
    *out = cfg;
    return GW_OK;
}

int gw_config_load(const char *path, const struct gw_config_override *ov,
                   size_t nov, gw_config_check_fn check,
                   gw_config_report_fn report, void *ud, struct gw_config **out)
{
    struct loader ld;
    int rc;

    memset(&ld, 0, sizeof(ld));
    ld.check = check;
    ld.report = report;
    ld.ud = ud;
    rc = config_new(path, &ld.cfg);
    if (rc != GW_OK) {
        return rc;
    }
    apply_defaults(&ld);
    if (path != NULL) {
        rc = load_file(&ld, path);
    }
    apply_overrides(&ld, ov, nov);
    if (ld.errors == 0) {
        cross_checks(&ld);
    }
    if (rc == GW_OK && ld.errors > 0) {
        rc = gw_err_set(GW_ERR_INVALID, "%d problem%s in the configuration",
                        ld.errors, ld.errors == 1 ? "" : "s");
    }
    if (rc != GW_OK) {
        config_free(ld.cfg);
        return rc;
    }
    *out = ld.cfg;
    return GW_OK;
}

struct gw_config *gw_config_ref(struct gw_config *cfg)
{
    if (cfg != NULL) {
        atomic_fetch_add(&cfg->refs, 1);
    }
    return cfg;
}

void gw_config_unref(struct gw_config *cfg)
{
    if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1) {
        config_free(cfg);
    }
}

const char *gw_config_text(const struct gw_config *cfg, const char *key)
{
    size_t i = 0;

    if (key_index(key, &i) != GW_OK) {
        return NULL;
    }
    return cfg->text[i];
}

void gw_config_diff(const struct gw_config *old_cfg,
                    const struct gw_config *new_cfg, gw_config_diff_fn fn,
                    void *ud)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(old_cfg->text[i], new_cfg->text[i]) != 0) {
            fn(ud, keys[i].name, old_cfg->text[i], new_cfg->text[i],
               keys[i].reloadable);
        }
    }
}

size_t gw_config_key_count(void)
{
    return NKEYS;
}

const char *gw_config_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

const char *gw_config_key_default(size_t i)
{
    return i < NKEYS ? keys[i].def : NULL;
}

bool gw_config_key_reloadable(size_t i)
{
    return i < NKEYS && keys[i].reloadable;
}

int gw_lockout_scope_parse(const char *s, enum gw_lockout_scope *out)
{
    if (strcmp(s, "password") == 0) {
        *out = GW_LOCKOUT_PASSWORD;
        return GW_OK;
    }
    if (strcmp(s, "user") == 0) {
        *out = GW_LOCKOUT_USER;
        return GW_OK;
    }
    return gw_err_set(GW_ERR_INVALID, "'%s' is not password or user", s);
}

const char *gw_lockout_scope_name(enum gw_lockout_scope scope)
{
    return scope == GW_LOCKOUT_USER ? "user" : "password";
}
