/* Unit tests for core/config: defaults, the file format, errors with their
 * line numbers, command-line overrides, reload diffs, and that
 * docs/configuration.md documents every key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

struct reports {
    char lines[16][512];
    int n;
};

static void collect(void *ud, const char *line)
{
    struct reports *r = ud;

    if (r->n < 16) {
        snprintf(r->lines[r->n], sizeof(r->lines[0]), "%s", line);
    }
    r->n++;
}

static char dir[] = "/tmp/test_core_config.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to DIR/name; returns the path (one of a few static
 * buffers, so that a test can hold several). */
static const char *write_file(const char *name, const char *text)
{
    static char paths[4][PATH_MAX];
    static int next;
    char *path = paths[next++ % 4];
    FILE *f = NULL;

    snprintf(path, PATH_MAX, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    struct gw_config *cfg = NULL;

    (void)state;
    assert_int_equal(gw_config_load(NULL, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_int_equal(cfg->listen.n, 2);
    assert_int_equal(cfg->listen.addrs[0].port, 2222);
    assert_string_equal(gw_config_text(cfg, "listen"),
                        "0.0.0.0:2222,[::]:2222");
    assert_string_equal(cfg->db, SSHGATE_DEFAULT_DB);
    assert_int_equal(cfg->backlog, 512);
    assert_int_equal(cfg->max_connections, 1000);
    assert_int_equal(cfg->max_unauth_connections, 100);
    assert_int_equal(cfg->max_unauth_per_source, 10);
    assert_int_equal(cfg->allowed_clients.n, 0);
    assert_int_equal(cfg->refusal_summary_interval, 10);
    assert_int_equal(cfg->login_grace_time, 60);
    assert_int_equal(cfg->idle_timeout, 0);
    assert_int_equal(cfg->keepalive_interval, 15);
    assert_int_equal(cfg->keepalive_count_max, 3);
    assert_int_equal(cfg->max_auth_attempts, 6);
    assert_int_equal(cfg->auth_methods,
                     GW_AUTH_PUBLICKEY | GW_AUTH_PASSWORD | GW_AUTH_KBDINT);
    assert_int_equal(cfg->lockout_threshold, 20);
    assert_int_equal(cfg->lockout_time, 900);
    assert_int_equal(cfg->lockout_scope, GW_LOCKOUT_PASSWORD);
    assert_string_equal(gw_config_text(cfg, "lockout_scope"), "password");
    /* One address is locked out before it can lock a user: at most half
     * (gateway/conn/lockout.h, test_gateway_lockout). */
    assert_int_equal(cfg->source_lockout_threshold, 10);
    assert_true(cfg->source_lockout_threshold * 2 <= cfg->lockout_threshold);
    assert_int_equal(cfg->auth_failure_delay, 250);
    assert_string_equal(cfg->banner, "");
    assert_null(cfg->banner_text);
    assert_false(cfg->compression);
    assert_true(cfg->rekey_limit == (INT64_C(1) << 30));
    assert_int_equal(cfg->rekey_time, 3600);
    assert_int_equal(cfg->target_separator, '+');
    assert_true(cfg->recording);
    assert_false(cfg->record_input);
    assert_int_equal(cfg->log_level, GW_LOG_INFO);
    assert_string_equal(cfg->server_version, "sshgate");
    assert_int_equal(cfg->shutdown_grace, 30);
    assert_true(cfg->worker_stack_size == 256 * 1024);
    gw_config_unref(cfg);
}

/* The defaults are hardened: no CBC, no SHA-1, no NIST curves in KEX. */
static void test_default_algorithms(void **state)
{
    struct gw_config *cfg = NULL;

    (void)state;
    assert_int_equal(gw_config_load(NULL, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_null(strstr(cfg->ciphers, "cbc"));
    assert_null(strstr(cfg->kex, "sha1"));
    assert_null(strstr(cfg->kex, "nistp"));
    assert_null(strstr(cfg->macs, "sha1"));
    assert_null(strstr(cfg->hostkey_algorithms, "ssh-rsa"));
    assert_null(strstr(cfg->pubkey_accepted_algorithms, "ssh-rsa"));
    assert_non_null(strstr(cfg->kex, "curve25519-sha256"));
    assert_non_null(strstr(cfg->ciphers, "chacha20-poly1305@openssh.com"));
    gw_config_unref(cfg);
}

static void test_file_values(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *path =
        write_file("ok.conf", "# a comment\n"
                              "\n"
                              "listen = 127.0.0.1:2200, [::1]:2201\n"
                              "  max_connections=5  \n"
                              "login_grace_time = 2m\n"
                              "idle_timeout = 1h\n"
                              "rekey_limit = 512M\n"
                              "worker_stack_size = 1M\n"
                              "auth_methods = publickey\n"
                              "allowed_clients = 10.0.0.0/8, ::1\n"
                              "refusal_summary_interval = 1m\n"
                              "compression = yes\n"
                              "recording = off\n"
                              "target_separator = %\n"
                              "log_level = debug\n"
                              "server_version = gate_1.0\r\n");

    (void)state;
    assert_int_equal(gw_config_load(path, NULL, 0, NULL, collect, &r, &cfg),
                     GW_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(cfg->listen.n, 2);
    assert_int_equal(cfg->listen.addrs[1].port, 2201);
    assert_int_equal(cfg->max_connections, 5);
    assert_int_equal(cfg->login_grace_time, 120);
    assert_int_equal(cfg->idle_timeout, 3600);
    assert_true(cfg->rekey_limit == 512 * 1024 * 1024);
    assert_true(cfg->worker_stack_size == 1024 * 1024);
    assert_int_equal(cfg->auth_methods, GW_AUTH_PUBLICKEY);
    assert_int_equal(cfg->allowed_clients.n, 2);
    assert_int_equal(cfg->refusal_summary_interval, 60);
    assert_true(cfg->compression);
    assert_false(cfg->recording);
    assert_int_equal(cfg->target_separator, '%');
    assert_int_equal(cfg->log_level, GW_LOG_DEBUG);
    assert_string_equal(cfg->server_version, "gate_1.0");
    gw_config_unref(cfg);
}

/* Every problem is reported, each on its own "FILE:LINE: ..." line. */
static void test_file_errors(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    char prefix[PATH_MAX + 8];
    const char *path =
        write_file("bad.conf", "max_connections = 0\n"
                               "no_such_key = 1\n"
                               "just words\n"
                               "backlog = 10\n"
                               "backlog = 20\n"
                               "login_grace_time = 5x\n"
                               "allowed_clients = 10.0.0.1/8\n"
                               "target_separator = @\n"
                               "server_version = has space\n"
                               "auth_methods = publickey,telepathy\n"
                               "refusal_summary_interval = 2h\n");

    (void)state;
    assert_int_equal(gw_config_load(path, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_int_equal(r.n, 10);
    snprintf(prefix, sizeof(prefix), "%s:1: max_connections", path);
    assert_non_null(strstr(r.lines[0], prefix));
    assert_non_null(strstr(r.lines[1], ":2: unknown key 'no_such_key'"));
    assert_non_null(strstr(r.lines[2], ":3: expected 'key = value'"));
    assert_non_null(strstr(r.lines[3], ":5: backlog is already set on line 4"));
    assert_non_null(strstr(r.lines[4], ":6: login_grace_time"));
    assert_non_null(strstr(r.lines[5], ":7: allowed_clients"));
    assert_non_null(strstr(r.lines[6], ":8: target_separator"));
    assert_non_null(strstr(r.lines[7], ":9: server_version"));
    assert_non_null(strstr(r.lines[8], "telepathy"));
    assert_non_null(strstr(r.lines[9], ":11: refusal_summary_interval"));
    for (int i = 0; i < 10; i++) {
        assert_null(strchr(r.lines[i], '\n'));
    }
}

/* event_export: sinks parsed, one problem line per bad entry. */
static void test_event_export(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *good =
        write_file("export.conf", "event_export = syslog:udp:127.0.0.1:514, "
                                  "json:file:/var/log/sshgate/events.jsonl\n"
                                  "export_queue_size = 64K\n");
    const char *bad =
        write_file("exportbad.conf", "event_export = syslog:udp:127.0.0.1, "
                                     "json:file:/ok, json:tcp:h:1\n");
    struct gw_config_override ov = {"event_export", "csv:file:/x", "--x"};

    (void)state;
    assert_int_equal(gw_config_load(good, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_int_equal(cfg->event_export.n, 2);
    assert_int_equal(cfg->event_export.sinks[0].port, 514);
    assert_string_equal(cfg->event_export.sinks[1].path,
                        "/var/log/sshgate/events.jsonl");
    assert_int_equal(cfg->export_queue_size, 64 * 1024);
    gw_config_unref(cfg);
    cfg = NULL;
    assert_int_equal(gw_config_load(bad, &ov, 1, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_int_equal(r.n, 3);
    assert_non_null(strstr(r.lines[0], ":1: event_export: "
                                       "'syslog:udp:127.0.0.1': expected "
                                       "HOST:PORT"));
    assert_non_null(strstr(r.lines[1], ":1: event_export: 'json:tcp:h:1': "
                                       "json goes to a file or a unix socket"));
    assert_string_equal(r.lines[2],
                        "--x: 'csv:file:/x': the format is syslog or json");
}

/* lockout_scope: its two values, and nothing else. */
static void test_lockout_scope(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    enum gw_lockout_scope scope = GW_LOCKOUT_PASSWORD;
    const char *user = write_file("scope.conf", "lockout_scope = user\n");
    const char *bad = write_file("scopebad.conf", "lockout_scope = keys\n");

    (void)state;
    assert_int_equal(gw_config_load(user, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_int_equal(cfg->lockout_scope, GW_LOCKOUT_USER);
    gw_config_unref(cfg);
    cfg = NULL;
    assert_int_equal(gw_config_load(bad, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.lines[0], ":1: lockout_scope"));
    assert_non_null(strstr(r.lines[0], "'keys' is not password or user"));
    assert_int_equal(gw_lockout_scope_parse("password", &scope), GW_OK);
    assert_int_equal(scope, GW_LOCKOUT_PASSWORD);
    assert_int_equal(gw_lockout_scope_parse("user", &scope), GW_OK);
    assert_int_equal(scope, GW_LOCKOUT_USER);
    assert_int_equal(gw_lockout_scope_parse("User", &scope), GW_ERR_INVALID);
    assert_string_equal(gw_lockout_scope_name(GW_LOCKOUT_USER), "user");
    assert_string_equal(gw_lockout_scope_name(GW_LOCKOUT_PASSWORD), "password");
}

/* The forwarding keys: defaults, values and refusals. */
static void test_forwarding_keys(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *good = write_file("fw.conf", "backend_connect_timeout = 3s\n"
                                             "env_allow = LANG,GIT_*,X?\n"
                                             "max_channels_per_connection = 8\n"
                                             "relay_buffer_size = 32K\n"
                                             "channel_window = 8M\n"
                                             "channel_window_budget = 0\n");
    const char *bad =
        write_file("fwbad.conf", "backend_connect_timeout = 0\n"
                                 "env_allow = LANG,,TERM\n"
                                 "max_channels_per_connection = 0\n"
                                 "relay_buffer_size = 1K\n"
                                 "channel_window = 65M\n");
    const char *blanks = write_file("fwempty.conf", "env_allow = LC_ALL X\n");

    (void)state;
    assert_int_equal(gw_config_load(NULL, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_int_equal(cfg->backend_connect_timeout, 10);
    assert_string_equal(cfg->env_allow, "LANG,LC_*,TERM");
    assert_int_equal(cfg->max_channels_per_connection, 64);
    assert_int_equal(cfg->relay_buffer_size, 65536);
    assert_int_equal(cfg->channel_window, 4 * 1024 * 1024);
    assert_int_equal(cfg->channel_window_budget, 32 * 1024 * 1024);
    gw_config_unref(cfg);
    assert_int_equal(gw_config_load(good, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_int_equal(cfg->backend_connect_timeout, 3);
    assert_string_equal(cfg->env_allow, "LANG,GIT_*,X?");
    assert_int_equal(cfg->max_channels_per_connection, 8);
    assert_int_equal(cfg->relay_buffer_size, 32768);
    assert_int_equal(cfg->channel_window, 8 * 1024 * 1024);
    assert_int_equal(cfg->channel_window_budget, 0);
    gw_config_unref(cfg);
    assert_int_equal(gw_config_load(bad, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_int_equal(r.n, 5);
    r.n = 0;
    assert_int_equal(gw_config_load(blanks, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_non_null(strstr(r.lines[0], "env_allow"));
}

/* Outbound proxy and jump host keys: canonical URL, refusals. */
static void test_proxy_keys(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *good =
        write_file("px.conf", "backend_proxy = SOCKS5H://gw@px.example:1080\n"
                              "backend_proxy_bypass = 10.0.0.0/8, *.internal\n"
                              "max_jump_depth = 5\n");
    const char *bad =
        write_file("pxbad.conf", "backend_proxy = socks5://gw:pw@px:1080\n"
                                 "backend_proxy_bypass = 10.0.0.1/8\n"
                                 "max_jump_depth = 9\n");

    (void)state;
    assert_int_equal(gw_config_load(NULL, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_string_equal(cfg->backend_proxy, "");
    assert_string_equal(cfg->backend_proxy_bypass, "");
    assert_int_equal(cfg->max_jump_depth, 3);
    gw_config_unref(cfg);
    assert_int_equal(gw_config_load(good, NULL, 0, NULL, NULL, NULL, &cfg),
                     GW_OK);
    assert_string_equal(cfg->backend_proxy, "socks5h://gw@px.example:1080");
    assert_string_equal(cfg->backend_proxy_bypass, "10.0.0.0/8, *.internal");
    assert_int_equal(cfg->max_jump_depth, 5);
    gw_config_unref(cfg);
    assert_int_equal(gw_config_load(bad, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_int_equal(r.n, 3);
    assert_non_null(strstr(r.lines[0], "--proxy-password-stdin"));
    /* The password in the file is not repeated. */
    assert_null(strstr(r.lines[0], "pw@"));
    assert_non_null(strstr(r.lines[1], "backend_proxy_bypass"));
}

static void test_missing_file(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};

    (void)state;
    assert_int_equal(gw_config_load("/nonexistent/sshgated.conf", NULL, 0, NULL,
                                    collect, &r, &cfg),
                     GW_ERR_IO);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.lines[0], "/nonexistent/sshgated.conf"));
}

static void test_overrides(void **state)
{
    const struct gw_config_override ov[] = {
        {"listen", "127.0.0.1:1,127.0.0.1:2", "--listen"},
        {"db", "/tmp/x.db", "--db"},
        {"log_level", "warn", "--log-level"},
    };
    const struct gw_config_override bad[] = {
        {"log_level", "loud", "--log-level"},
    };
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *path = write_file("ov.conf", "listen = 127.0.0.1:9\n"
                                             "log_level = debug\n");

    (void)state;
    assert_int_equal(gw_config_load(path, ov, 3, NULL, collect, &r, &cfg),
                     GW_OK);
    assert_int_equal(cfg->listen.n, 2);
    assert_int_equal(cfg->listen.addrs[0].port, 1);
    assert_string_equal(cfg->db, "/tmp/x.db");
    assert_int_equal(cfg->log_level, GW_LOG_WARN);
    gw_config_unref(cfg);
    assert_int_equal(gw_config_load(path, bad, 1, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_non_null(strstr(r.lines[0], "--log-level"));
}

static void test_parsers(void **state)
{
    long s = 0;
    int64_t b = 0;

    (void)state;
    assert_int_equal(gw_parse_seconds("90", 0, 1000, &s), GW_OK);
    assert_int_equal(s, 90);
    assert_int_equal(gw_parse_seconds("15s", 0, 1000, &s), GW_OK);
    assert_int_equal(s, 15);
    assert_int_equal(gw_parse_seconds("2h", 0, 100000, &s), GW_OK);
    assert_int_equal(s, 7200);
    assert_int_equal(gw_parse_seconds("1d", 0, 100000, &s), GW_OK);
    assert_int_equal(s, 86400);
    assert_int_equal(gw_parse_seconds("2h", 0, 3600, &s), GW_ERR_INVALID);
    assert_int_equal(gw_parse_seconds("-1", 0, 3600, &s), GW_ERR_INVALID);
    assert_int_equal(gw_parse_seconds("1.5m", 0, 3600, &s), GW_ERR_INVALID);
    assert_int_equal(gw_parse_seconds("", 0, 3600, &s), GW_ERR_INVALID);
    assert_int_equal(gw_parse_seconds("1mm", 0, 3600, &s), GW_ERR_INVALID);
    assert_int_equal(gw_parse_bytes("4096", 0, INT64_MAX, &b), GW_OK);
    assert_true(b == 4096);
    assert_int_equal(gw_parse_bytes("64k", 0, INT64_MAX, &b), GW_OK);
    assert_true(b == 65536);
    assert_int_equal(gw_parse_bytes("2G", 0, INT64_MAX, &b), GW_OK);
    assert_true(b == INT64_C(2) << 30);
    assert_int_equal(gw_parse_bytes("1T", 0, INT64_MAX, &b), GW_ERR_INVALID);
    assert_int_equal(gw_parse_bytes("99999999999999999999G", 0, INT64_MAX, &b),
                     GW_ERR_INVALID);
}

static void test_cross_checks(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *tiny = write_file("tiny.conf", "rekey_limit = 100\n");
    const char *nobanner = write_file("nb.conf", "banner = /nonexistent\n");

    (void)state;
    assert_int_equal(gw_config_load(tiny, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_non_null(strstr(r.lines[0], ":1: rekey_limit"));
    r.n = 0;
    assert_int_equal(gw_config_load(nobanner, NULL, 0, NULL, collect, &r, &cfg),
                     GW_ERR_INVALID);
    assert_non_null(strstr(r.lines[0], ":1: banner"));
}

static void test_banner(void **state)
{
    struct gw_config *cfg = NULL;
    char conf[PATH_MAX + 16];
    const char *banner = write_file("banner.txt", "Authorized use only.\n");

    (void)state;
    snprintf(conf, sizeof(conf), "banner = %s\n", banner);
    assert_int_equal(gw_config_load(write_file("b.conf", conf), NULL, 0, NULL,
                                    NULL, NULL, &cfg),
                     GW_OK);
    assert_string_equal(cfg->banner_text, "Authorized use only.\n");
    gw_config_unref(cfg);
}

/* The extra check (sshgated's: algorithm names) applies to the file and
 * the overrides, with the usual location in the message. */
static int no_bad_kex(const char *key, const char *value)
{
    if (strcmp(key, "kex") == 0 && strstr(value, "bad") != NULL) {
        return gw_err_set(GW_ERR_INVALID, "'%s' is not supported", value);
    }
    return GW_OK;
}

static void test_check_hook(void **state)
{
    struct gw_config *cfg = NULL;
    struct reports r = {{{0}}, 0};
    const char *path = write_file("hook.conf", "backlog = 8\n"
                                               "kex = bad-kex\n");

    (void)state;
    assert_int_equal(
        gw_config_load(path, NULL, 0, no_bad_kex, collect, &r, &cfg),
        GW_ERR_INVALID);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.lines[0], ":2: kex: 'bad-kex' is not supported"));
}

struct diff {
    char keys[512];
    int non_reloadable;
};

static void on_diff(void *ud, const char *key, const char *old_value,
                    const char *new_value, bool reloadable)
{
    struct diff *d = ud;

    (void)old_value;
    (void)new_value;
    strcat(d->keys, key);
    strcat(d->keys, " ");
    d->non_reloadable += reloadable ? 0 : 1;
}

static void test_diff_and_refs(void **state)
{
    struct gw_config *a = NULL;
    struct gw_config *b = NULL;
    struct diff d;
    const char *p1 = write_file("d1.conf", "listen = 127.0.0.1:1\n"
                                           "max_connections = 10\n");
    const char *p2 = write_file("d2.conf", "listen = 127.0.0.1:2\n"
                                           "max_connections = 20\n");

    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(gw_config_load(p1, NULL, 0, NULL, NULL, NULL, &a), GW_OK);
    assert_int_equal(gw_config_load(p2, NULL, 0, NULL, NULL, NULL, &b), GW_OK);
    gw_config_diff(a, b, on_diff, &d);
    assert_string_equal(d.keys, "listen max_connections ");
    assert_int_equal(d.non_reloadable, 1);
    assert_ptr_equal(gw_config_ref(a), a);
    gw_config_unref(a);
    gw_config_unref(a);
    gw_config_unref(b);
    gw_config_unref(NULL);
}

/* docs/configuration.md names every key, its default and reloadability. */
static void test_documented(void **state)
{
    char path[PATH_MAX];
    char *text = NULL;
    const char *slash = strrchr(__FILE__, '/');
    FILE *f = NULL;
    long len;

    (void)state;
    if (slash == NULL) {
        skip();
    }
    snprintf(path, sizeof(path), "%.*s/../../docs/configuration.md",
             (int)(slash - __FILE__), __FILE__);
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (size_t i = 0; i < gw_config_key_count(); i++) {
        char row[128];
        snprintf(row, sizeof(row), "| `%s` |", gw_config_key_name(i));
        if (strstr(text, row) == NULL) {
            fail_msg("docs/configuration.md has no table row for %s",
                     gw_config_key_name(i));
        }
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_default_algorithms),
        cmocka_unit_test(test_proxy_keys),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_event_export),
        cmocka_unit_test(test_lockout_scope),
        cmocka_unit_test(test_forwarding_keys),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_banner),
        cmocka_unit_test(test_check_hook),
        cmocka_unit_test(test_diff_and_refs),
        cmocka_unit_test(test_documented),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
