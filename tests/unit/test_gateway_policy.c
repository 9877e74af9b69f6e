/* Unit tests for gateway/policy: the env allow-list, the grant a
 * terminated session uses, the direct-tcpip destination check, target
 * resolution against a temporary store, text sanitizing, and which exec
 * commands are file transfers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gateway/conn/policy.h"
#include "store/db.h"
#include "store/grants.h"
#include "store/hosts.h"
#include "store/users.h"
#include "store/open.h"

#define PAST "2000-01-01T00:00:00.000Z"

static struct store_grant g[8];
static size_t ng;

static void add(const char *host, const char *addr, uint16_t port,
                const char *login, unsigned allow, const char *expires)
{
    struct store_grant *x = &g[ng++];

    memset(x, 0, sizeof(*x));
    snprintf(x->user, sizeof(x->user), "alice");
    snprintf(x->host, sizeof(x->host), "%s", host);
    snprintf(x->address, sizeof(x->address), "%s", addr);
    snprintf(x->login, sizeof(x->login), "%s", login);
    snprintf(x->expires_at, sizeof(x->expires_at), "%s",
             expires != NULL ? expires : "");
    x->port = port;
    x->allow = allow;
}

static int reset(void **state)
{
    (void)state;
    ng = 0;
    return 0;
}

static void test_env_allowed(void **state)
{
    const char *deflt = "LANG,LC_*,TERM";

    (void)state;
    assert_true(gw_env_allowed(deflt, "LANG"));
    assert_true(gw_env_allowed(deflt, "LC_ALL"));
    assert_true(gw_env_allowed(deflt, "LC_"));
    assert_true(gw_env_allowed(deflt, "TERM"));
    assert_false(gw_env_allowed(deflt, "LANGUAGE"));
    assert_false(gw_env_allowed(deflt, "LD_PRELOAD"));
    assert_false(gw_env_allowed(deflt, "PATH"));
    assert_false(gw_env_allowed(deflt, "term"));
    assert_false(gw_env_allowed(deflt, ""));
    assert_false(gw_env_allowed("", "LANG"));
    assert_false(gw_env_allowed(NULL, "LANG"));
    assert_true(gw_env_allowed("GIT_?,FOO", "GIT_X"));
    assert_false(gw_env_allowed("GIT_?,FOO", "GIT_XY"));
    assert_true(gw_env_allowed("GIT_?,FOO", "FOO"));
    assert_true(gw_env_allowed("*", "ANYTHING"));
}

static void test_pick_single_and_default(void **state)
{
    const struct store_grant *out = NULL;
    struct gw_denial why;

    (void)state;
    add("web1", "10.0.0.5", 22, "deploy", STORE_ALLOW_DEFAULT, NULL);
    add("db1", "10.0.0.6", 22, "postgres", STORE_ALLOW_DEFAULT, NULL);
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "web1", "", "root", '+', &out, &why),
        GW_OK);
    assert_ptr_equal(out, &g[0]); /* the only one, whatever the default */
    add("web1", "10.0.0.5", 22, "root", STORE_ALLOW_ALL, NULL);
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "web1", NULL, "root", '+', &out, &why),
        GW_OK);
    assert_ptr_equal(out, &g[2]); /* two: the host's default login */
    assert_int_equal(gw_pick_grant(g, ng, "alice", "web1", "deploy", "root",
                                   '+', &out, &why),
                     GW_OK);
    assert_ptr_equal(out, &g[0]);
}

static void test_pick_refusals(void **state)
{
    const struct store_grant *out = NULL;
    struct gw_denial why;

    (void)state;
    add("web1", "10.0.0.5", 22, "deploy", STORE_ALLOW_DEFAULT, NULL);
    add("web1", "10.0.0.5", 22, "root", STORE_ALLOW_DEFAULT, NULL);
    add("web1", "10.0.0.5", 22, "backup", STORE_ALLOW_DEFAULT, PAST);
    add("old", "10.0.0.9", 22, "deploy", STORE_ALLOW_DEFAULT, PAST);
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "web1", "", "www", '%', &out, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "ambiguous-login");
    assert_string_equal(why.message,
                        "sshgate: several logins granted on web1 (deploy, "
                        "root); use alice%LOGIN@web1");
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "web1", "www", "", '+', &out, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "login-not-granted");
    assert_non_null(strstr(why.message, "as www"));
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "web1", "backup", "", '+', &out, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "expired");
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "old", "", "deploy", '+', &out, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "expired");
    assert_int_equal(
        gw_pick_grant(g, ng, "alice", "db1", "", "", '+', &out, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "no-grant");
    assert_string_equal(why.message, "sshgate: alice may not connect to db1");
}

static void test_forward_check(void **state)
{
    const struct store_grant *out = NULL;
    enum gw_forward_how how = GW_FORWARD_PORT;
    struct gw_denial why;

    (void)state;
    add("web1", "10.0.0.5", 2201, "deploy", STORE_ALLOW_SHELL, NULL);
    add("db1", "2001:db8::6", 22, "pg", STORE_ALLOW_FORWARD, NULL);
    add("old", "10.0.0.9", 22, "x", STORE_ALLOW_ALL, PAST);
    /* the SSH port of a granted host, by name (any case) or address */
    assert_int_equal(gw_forward_check(g, ng, "WEB1", 2201, &out, &how, &why),
                     GW_OK);
    assert_ptr_equal(out, &g[0]);
    assert_int_equal(how, GW_FORWARD_JUMP);
    assert_int_equal(
        gw_forward_check(g, ng, "10.0.0.5", 2201, &out, &how, &why), GW_OK);
    /* another port needs the forward kind */
    assert_int_equal(gw_forward_check(g, ng, "web1", 80, &out, &how, &why),
                     GW_ERR_DENIED);
    assert_string_equal(why.reason, "port-not-granted");
    assert_int_equal(
        gw_forward_check(g, ng, "[2001:db8::6]", 5432, &out, &how, &why),
        GW_OK);
    assert_int_equal(how, GW_FORWARD_PORT);
    assert_ptr_equal(out, &g[1]);
    /* never anything else, and nothing by an expired grant */
    assert_int_equal(gw_forward_check(g, ng, "127.0.0.1", 22, &out, &how, &why),
                     GW_ERR_DENIED);
    assert_string_equal(why.reason, "not-a-granted-host");
    assert_int_equal(gw_forward_check(g, ng, "10.0.0.9", 22, &out, &how, &why),
                     GW_ERR_DENIED);
    assert_int_equal(
        gw_forward_check(g, ng, "web1.example", 2201, &out, &how, &why),
        GW_ERR_DENIED);
    assert_int_equal(gw_forward_check(g, 0, "web1", 2201, &out, &how, &why),
                     GW_ERR_DENIED);
}

static void test_resolve_with_store(void **state)
{
    char dir[] = "/tmp/sshgate-policy-XXXXXX";
    char path[64];
    char cmd[96];
    struct store *st = NULL;
    struct store_host_spec spec = {.name = "web1",
                                   .address = "127.0.0.1",
                                   .port = 2201,
                                   .login = "deploy"};
    struct gw_target t = {.user = "alice", .host = "web1"};
    struct store_host host;
    struct store_grant grant;
    struct gw_denial why;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &st), GW_OK);
    assert_int_equal(store_user_add(st, "alice", false, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(store_host_add(st, &spec, '+', NULL), GW_OK);
    assert_int_equal(
        gw_resolve_target(st, "alice", &t, '+', &host, &grant, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.reason, "no-grant");
    assert_int_equal(store_grant_add(st, "alice", "web1", NULL,
                                     STORE_ALLOW_DEFAULT, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(
        gw_resolve_target(st, "alice", &t, '+', &host, &grant, &why), GW_OK);
    assert_string_equal(host.name, "web1");
    assert_int_equal(host.port, 2201);
    assert_string_equal(grant.login, "deploy");
    store_host_clear(&host);
    /* an unknown host looks like one without a grant */
    snprintf(t.host, sizeof(t.host), "nosuch");
    assert_int_equal(
        gw_resolve_target(st, "alice", &t, '+', &host, &grant, &why),
        GW_ERR_DENIED);
    assert_string_equal(why.message,
                        "sshgate: alice may not connect to nosuch");
    store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sanitize(void **state)
{
    char out[16];

    (void)state;
    gw_sanitize("ls -l", out, sizeof(out));
    assert_string_equal(out, "ls -l");
    gw_sanitize("a\"b\\c\n", out, sizeof(out));
    assert_string_equal(out, "a\\\"b\\\\c\\x0a");
    gw_sanitize("0123456789abcdefgh", out, sizeof(out));
    assert_string_equal(out, "0123456789ab...");
    gw_sanitize("0123456789\x1b", out, sizeof(out));
    assert_string_equal(out, "0123456789...");
    gw_sanitize("", out, sizeof(out));
    assert_string_equal(out, "");
}

#define SCP   GW_TRANSFER_SCP
#define RSYNC GW_TRANSFER_RSYNC
#define SFTP  GW_TRANSFER_SFTP
#define NONE  GW_TRANSFER_NONE

static void expect_transfer(const char *cmd, enum gw_transfer want)
{
    enum gw_transfer got = gw_policy_transfer_command(cmd);

    if (got != want) {
        fail_msg("\"%s\": got %s, want %s", cmd, gw_transfer_name(got),
                 gw_transfer_name(want));
    }
}

/* What the stock clients send, and the same moved around. */
static void test_transfer_stock_commands(void **state)
{
    (void)state;
    expect_transfer("scp -t /tmp/x", SCP);
    expect_transfer("scp -f /tmp/x", SCP);
    expect_transfer("scp -v -d -t -- /x", SCP);
    expect_transfer("scp -r -p -t -- '/tmp/with space'", SCP);
    expect_transfer("scp -pt /x", SCP); /* flags run together */
    expect_transfer("/usr/bin/scp -f x", SCP);
    expect_transfer("rsync --server -vlogDtpre.iLsfxCIvu . /tmp/t/", RSYNC);
    expect_transfer("rsync --server --sender -vlogDtpre.iLsfxCIvu . /x", RSYNC);
    expect_transfer("/usr/bin/rsync -v --server . /x", RSYNC);
    expect_transfer("/usr/lib/openssh/sftp-server", SFTP);
    expect_transfer("/usr/libexec/sftp-server -l INFO", SFTP);
    expect_transfer("sftp-server", SFTP);
    expect_transfer("internal-sftp", SFTP);
    assert_string_equal(gw_transfer_name(SCP), "scp");
    assert_string_equal(gw_transfer_name(RSYNC), "rsync");
    assert_string_equal(gw_transfer_name(SFTP), "sftp");
    assert_string_equal(gw_transfer_name(NONE), "");
}

static void test_transfer_not_transfers(void **state)
{
    (void)state;
    expect_transfer(NULL, NONE);
    expect_transfer("", NONE);
    expect_transfer("   ", NONE);
    expect_transfer("echo hello", NONE);
    expect_transfer("ls -la /tmp", NONE);
    expect_transfer("myscp -t /x", NONE); /* not scp: another word */
    expect_transfer("scpx -t /x", NONE);
    expect_transfer("scp/x -t /x", NONE); /* basename is x */
    expect_transfer("scp a b", NONE);     /* scp as a client on the host */
    expect_transfer("scp -- -t", NONE);   /* after --: a file name */
    expect_transfer("scp --t x", NONE);
    expect_transfer("rsync -av a b", NONE); /* rsync without --server */
    expect_transfer("rsync --version", NONE);
    expect_transfer("rsyncd --server", NONE);
    expect_transfer("sftp-server2", NONE);
    expect_transfer("echo scp -t x", NONE); /* an argument, not the command */
    expect_transfer("echo rsync --server", NONE);
    expect_transfer("grep sftp-server /etc/ssh/sshd_config", NONE);
    expect_transfer("echo 'a; scp -t x'", NONE);  /* quoted: one word */
    expect_transfer("echo a \\; scp -t x", NONE); /* escaped: no separator */
    expect_transfer("# scp -t x", NONE);          /* a comment */
    expect_transfer("sh script.sh -c 'scp -t x'", NONE); /* a script file */
    expect_transfer("bash -c 'echo scp -t x'", NONE);
}

static void test_transfer_tricky(void **state)
{
    (void)state;
    /* blanks, quotes and escapes, as the backend's shell reads them */
    expect_transfer("   scp -t /x", SCP);
    expect_transfer("\tscp\t-t\t/x", SCP);
    expect_transfer("'scp' -t /x", SCP);
    expect_transfer("\"scp\" \"-t\" /x", SCP);
    expect_transfer("s'c'p -t /x", SCP);
    expect_transfer("\\scp -t /x", SCP);
    expect_transfer("'/usr/bin/rsync' '--server' . /x", RSYNC);
    expect_transfer("rsync \\\n --server . /x", RSYNC);
    expect_transfer("\"/usr/lib/openssh/sftp-server\"", SFTP);
    /* environment and wrappers */
    expect_transfer("env A=B rsync --server . /x", RSYNC);
    expect_transfer("A=B LANG=C scp -t /x", SCP);
    expect_transfer("env -i PATH=/bin scp -f x", SCP);
    expect_transfer("/usr/bin/env rsync --server . /x", RSYNC);
    expect_transfer("exec scp -t /x", SCP);
    expect_transfer("sudo rsync --server . /x", RSYNC); /* --rsync-path */
    expect_transfer("sudo -u root rsync --server . /x", RSYNC);
    expect_transfer("nice -n 5 nohup scp -t /x", SCP);
    expect_transfer("command /usr/lib/openssh/sftp-server", SFTP);
    expect_transfer("time scp -t /x", SCP);
    /* more than one command */
    expect_transfer("cd /tmp && scp -t .", SCP);
    expect_transfer("true; rsync --server . /x", RSYNC);
    expect_transfer("echo a | sftp-server", SFTP);
    expect_transfer("(scp -t /x)", SCP);
    expect_transfer("echo a\nscp -t /x", SCP);
    expect_transfer("if true; then scp -t /x; fi", SCP);
    expect_transfer("echo # comment\nscp -t /x", SCP);
    /* a shell's -c script */
    expect_transfer("sh -c 'scp -t /x'", SCP);
    expect_transfer("/bin/bash -lc \"cd /x && rsync --server . .\"", RSYNC);
    expect_transfer("bash --norc -c sftp-server", SFTP);
    expect_transfer("sh -o pipefail -c 'scp -f x'", SCP);
    expect_transfer("sh -c \"sh -c 'scp -t /x'\"", SCP);
    /* what a shell would not even run still counts when it says scp -t */
    expect_transfer("scp -t", SCP);
    expect_transfer("'scp -t /x'", NONE); /* one word: no such command */
    expect_transfer("'unterminated scp -t", NONE);
    expect_transfer("scp \"-t", SCP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_allowed),
        cmocka_unit_test_setup(test_pick_single_and_default, reset),
        cmocka_unit_test_setup(test_pick_refusals, reset),
        cmocka_unit_test_setup(test_forward_check, reset),
        cmocka_unit_test(test_resolve_with_store),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_transfer_stock_commands),
        cmocka_unit_test(test_transfer_not_transfers),
        cmocka_unit_test(test_transfer_tricky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
