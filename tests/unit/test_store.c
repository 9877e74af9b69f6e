/* Unit tests for store/: migrations, every entity API, transactions and
 * the hash-chained event log, against real temp database files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "store/db.h"
#include "store/events.h"
#include "store/grants.h"
#include "store/gwkeys.h"
#include "store/hosts.h"
#include "store/keys.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/settings.h"
#include "store/transfers.h"
#include "store/users.h"
#include "store/open.h"
#include "store/check.h"
#include "store/migrations.h"

/* The store's API carries keys as plain data (core/sshkey_types.h). */
#ifdef _LIBSSH_H
#error "a store/ header includes libssh"
#endif

#include "core/passwd.h"
#include "core/sshkey.h"
#include "core/timeutil.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sshgate-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->st), GW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];
    store_close(f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Raw SQL against the file, the way a tamperer or an old version would. */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("%s: %s", sql, err);
    }
    sqlite3_close(db);
}

static int count_rows(struct fixture *f, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char sql[96];
    int n;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    n = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static void add_user(struct fixture *f, const char *name)
{
    assert_int_equal(store_user_add(f->st, name, false, NULL, '+', NULL),
                     GW_OK);
}

static void add_host(struct fixture *f, const char *name, const char *login)
{
    struct store_host_spec spec = {
        .name = name, .address = "10.0.0.5", .port = 2200, .login = login};
    assert_int_equal(store_host_add(f->st, &spec, '+', NULL), GW_OK);
}

/* ---- migrations ---------------------------------------------------- */

static void test_fresh_file_is_latest(void **state)
{
    struct fixture *f = *state;
    struct stat sb;
    int v = -1;
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_migrate_v0_file(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char path[160];
    int v = -1;
    /* A v0 file: a valid SQLite database that never saw our schema. */
    snprintf(path, sizeof(path), "%s/v0.db", f->dir);
    raw_sql(path, "CREATE TABLE unrelated (x INTEGER); PRAGMA user_version=0");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_schema_version(st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    assert_int_equal(store_user_add(st, "bob", false, NULL, '+', NULL), GW_OK);
    store_close(st);
    /* Opening again is a no-op. */
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &st), GW_OK);
    store_close(st);
}

static void test_failed_migration_rolls_back(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char path[160];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    /* A table in the way makes step 1 fail half-way: nothing of it stays. */
    snprintf(path, sizeof(path), "%s/clash.db", f->dir);
    raw_sql(path, "CREATE TABLE grants (x INTEGER)");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &st), GW_ERR_DB);
    assert_null(st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_master WHERE name IN "
                           "('users', 'user_keys', 'hosts')",
                           -1, &stmt, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    store_close(f->st);
    f->st = NULL;
    raw_sql(f->path, "PRAGMA user_version = 99");
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st),
                     GW_ERR_SCHEMA);
    assert_non_null(strstr(gw_err_msg(), "99"));
    assert_non_null(strstr(gw_err_msg(), "upgrade"));
    char restore[64];
    snprintf(restore, sizeof(restore), "PRAGMA user_version = %d",
             store_schema_latest());
    raw_sql(f->path, restore);
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char path[160];
    (void)f;
    assert_int_equal(
        store_open("/nonexistent-dir/x.db", STORE_OPEN_CREATE, &st), GW_ERR_IO);
    snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &st),
                     GW_ERR_NOTFOUND);
    assert_int_equal(access(path, F_OK), -1);
    /* A file under a regular file can never be created. */
    snprintf(path, sizeof(path), "%s/test.db/x.db", f->dir);
    assert_int_equal(store_open(path, STORE_OPEN_CREATE, &st), GW_ERR_IO);
    snprintf(path, sizeof(path), "%s/junk.db", f->dir);
    FILE *junk = fopen(path, "w");
    assert_non_null(junk);
    fputs("this is not a database, just some text that is long enough "
          "to fill the header of a sqlite file........................",
          junk);
    fclose(junk);
    assert_int_not_equal(store_open(path, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_null(st);
}

/* ---- users --------------------------------------------------------- */

static void test_users(void **state)
{
    struct fixture *f = *state;
    struct store_user u;
    struct store_user *list = NULL;
    size_t n = 0;
    char *hash = NULL;
    char *got = NULL;

    assert_int_equal(gw_password_hash_cost("pw", 10, &hash), GW_OK);
    assert_int_equal(store_user_add(f->st, "alice", true, hash, '+', NULL),
                     GW_OK);
    add_user(f, "bob");
    assert_int_equal(store_user_add(f->st, "alice", false, NULL, '+', NULL),
                     GW_ERR_EXISTS);
    assert_int_equal(store_user_add(f->st, "a+b", false, NULL, '+', NULL),
                     GW_ERR_INVALID);
    assert_int_equal(store_user_add(f->st, "", false, NULL, '+', NULL),
                     GW_ERR_INVALID);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_true(u.is_admin);
    assert_true(u.has_password);
    assert_false(u.disabled);
    assert_int_equal(store_user_password_hash(f->st, "alice", &got), GW_OK);
    assert_string_equal(got, hash);
    free(got);
    assert_int_equal(store_user_password_hash(f->st, "bob", &got),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_user_get(f->st, "carol", &u), GW_ERR_NOTFOUND);
    assert_non_null(strstr(gw_err_msg(), "carol"));

    assert_int_equal(store_user_set_disabled(f->st, "bob", true), GW_OK);
    assert_int_equal(store_user_get(f->st, "bob", &u), GW_OK);
    assert_true(u.disabled);
    assert_int_equal(store_user_set_disabled(f->st, "nobody", true),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_user_set_password(f->st, "bob", hash), GW_OK);
    assert_int_equal(store_user_get(f->st, "bob", &u), GW_OK);
    assert_true(u.has_password);

    assert_int_equal(store_user_list(f->st, &list, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alice");
    assert_string_equal(list[1].name, "bob");
    free(list);
    assert_int_equal(store_user_delete(f->st, "bob"), GW_OK);
    assert_int_equal(store_user_delete(f->st, "bob"), GW_ERR_NOTFOUND);
    free(hash);
}

/* A failure under a threshold of 3 and a window of 60 s, at now_ms. */
static bool fail_at(struct fixture *f, const char *name, int64_t now_ms)
{
    struct store_lockout rule = {
        .threshold = 3, .seconds = 60, .now_ms = now_ms};
    bool locked = true;

    assert_int_equal(store_user_record_failure(f->st, name, &rule, &locked),
                     GW_OK);
    return locked;
}

static void expect_count(struct fixture *f, const char *name, int failures,
                         int64_t locked_until_ms)
{
    struct store_user u;
    char iso[GW_TIME_LEN] = "";

    if (locked_until_ms != 0) {
        gw_time_iso_ms(locked_until_ms, iso);
    }
    assert_int_equal(store_user_get(f->st, name, &u), GW_OK);
    assert_int_equal(u.failed_logins, failures);
    assert_string_equal(u.locked_until, iso);
}

static void test_lockout(void **state)
{
    struct fixture *f = *state;
    struct store_lockout rule = {.threshold = 3, .seconds = 60};
    struct store_user u;
    int64_t t0 = gw_time_wall_ms();
    int64_t end = t0 + 1000 + 60000;
    bool locked = true;

    add_user(f, "alice");
    /* The first failure opens the window (locked_until in the past). */
    assert_false(fail_at(f, "alice", t0));
    assert_false(fail_at(f, "alice", t0 + 500));
    expect_count(f, "alice", 2, t0);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_false(store_user_is_locked(&u));
    /* The third within 60 s locks her for 60 s. */
    assert_true(fail_at(f, "alice", t0 + 1000));
    expect_count(f, "alice", 3, end);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_true(store_user_is_locked(&u));
    /* Locked: not counted, the lock not extended, and a success (a key
     * login under lockout_scope = password) does not end it. */
    assert_false(fail_at(f, "alice", t0 + 2000));
    expect_count(f, "alice", 3, end);
    assert_int_equal(store_user_record_success(f->st, "alice"), GW_OK);
    expect_count(f, "alice", 3, end);
    /* After the lock, a failure opens a new window. */
    assert_false(fail_at(f, "alice", end + 1));
    expect_count(f, "alice", 1, end + 1);
    assert_int_equal(store_user_unlock(f->st, "alice"), GW_OK);
    expect_count(f, "alice", 0, 0);

    /* Failures spread over more than the window never lock. */
    add_user(f, "bob");
    assert_false(fail_at(f, "bob", t0));
    assert_false(fail_at(f, "bob", t0 + 30000));
    assert_false(fail_at(f, "bob", t0 + 60000)); /* the window is over */
    expect_count(f, "bob", 1, t0 + 60000);
    assert_false(fail_at(f, "bob", t0 + 61000));
    assert_true(fail_at(f, "bob", t0 + 62000));

    /* A success ends the window. */
    add_user(f, "carol");
    assert_false(fail_at(f, "carol", t0));
    assert_false(fail_at(f, "carol", t0));
    assert_int_equal(store_user_record_success(f->st, "carol"), GW_OK);
    expect_count(f, "carol", 0, 0);
    assert_false(fail_at(f, "carol", t0));
    expect_count(f, "carol", 1, t0);

    rule.now_ms = t0;
    assert_int_equal(store_user_record_failure(f->st, "ghost", &rule, &locked),
                     GW_ERR_NOTFOUND);
    assert_false(locked);
}

/* ---- keys ---------------------------------------------------------- */

static void test_keys(void **state)
{
    struct fixture *f = *state;
    struct gw_keypair kp1, kp2;
    struct store_user_key *keys = NULL;
    struct store_user_key one;
    struct store_user u;
    size_t n = 0;

    add_user(f, "alice");
    add_user(f, "bob");
    assert_int_equal(gw_keypair_generate(GW_KEY_ED25519, &kp1), GW_OK);
    assert_int_equal(gw_keypair_generate(GW_KEY_ECDSA_P256, &kp2), GW_OK);
    assert_int_equal(store_key_add(f->st, "alice", &kp1.pub, NULL), GW_OK);
    assert_int_equal(store_key_add(f->st, "alice", &kp2.pub, NULL), GW_OK);
    assert_int_equal(store_key_add(f->st, "alice", &kp1.pub, NULL),
                     GW_ERR_EXISTS);
    assert_int_equal(store_key_add(f->st, "nobody", &kp1.pub, NULL),
                     GW_ERR_NOTFOUND);
    /* The same key may belong to two users; each login is still checked. */
    assert_int_equal(store_key_add(f->st, "bob", &kp1.pub, NULL), GW_OK);

    assert_int_equal(store_key_list(f->st, "alice", &keys, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0].fingerprint, kp1.pub.fingerprint);
    assert_string_equal(keys[0].blob_b64, kp1.pub.blob_b64);
    store_key_list_free(keys, n);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_int_equal(u.key_count, 2);

    assert_int_equal(store_key_get(f->st, "alice", kp2.pub.fingerprint, &one),
                     GW_OK);
    assert_string_equal(one.type, "ecdsa-sha2-nistp256");
    store_key_clear(&one);
    assert_int_equal(store_key_get(f->st, "bob", kp2.pub.fingerprint, &one),
                     GW_ERR_NOTFOUND);

    assert_int_equal(store_key_delete(f->st, "alice", kp2.pub.fingerprint),
                     GW_OK);
    assert_int_equal(store_key_delete(f->st, "alice", kp2.pub.fingerprint),
                     GW_ERR_NOTFOUND);
    /* Deleting a user takes her keys with her. */
    assert_int_equal(store_user_delete(f->st, "alice"), GW_OK);
    assert_int_equal(count_rows(f, "user_keys"), 1);
    gw_keypair_clear(&kp1);
    gw_keypair_clear(&kp2);
}

/* ---- hosts and grants ---------------------------------------------- */

static void test_hosts(void **state)
{
    struct fixture *f = *state;
    struct store_host h;
    struct store_host *list = NULL;
    size_t n = 0;
    struct store_host_spec bad = {.name = "web2", .address = ""};
    struct store_host_spec pinned = {
        .name = "db1",
        .address = "db1.example.org",
        .fingerprint = "SHA256:MBHUNViEM1FB5icK9kMg9AKExoGo0aFknQdrtqMCXL4",
        .proxy = "web1"};
    struct gw_keypair kp;
    char *secret = NULL;

    add_host(f, "web1", "deploy");
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_INVALID);
    bad.address = "a b";
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_INVALID);
    bad.address = "10.0.0.1";
    bad.name = "web1";
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_EXISTS);
    bad.name = "x";
    bad.fingerprint = "MD5:aa:bb";
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_INVALID);
    bad.fingerprint = NULL;
    bad.proxy = "nohost";
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_NOTFOUND);
    bad.proxy = NULL;
    bad.auth_method = "password";
    assert_int_equal(store_host_add(f->st, &bad, '+', NULL), GW_ERR_INVALID);
    assert_int_equal(store_host_add(f->st, &pinned, '+', NULL), GW_OK);

    assert_int_equal(store_host_get(f->st, "web1", &h), GW_OK);
    assert_string_equal(h.address, "10.0.0.5");
    assert_int_equal(h.port, 2200);
    assert_string_equal(h.login, "deploy");
    assert_string_equal(h.auth_method, STORE_AUTH_GATEWAY_KEY);
    assert_null(h.hostkey_b64);
    store_host_clear(&h);
    assert_int_equal(store_host_get(f->st, "db1", &h), GW_OK);
    assert_int_equal(h.port, 22);
    assert_string_equal(h.proxy, "web1");
    assert_string_equal(h.hostkey_fingerprint, pinned.fingerprint);
    store_host_clear(&h);

    assert_int_equal(gw_keypair_generate(GW_KEY_ED25519, &kp), GW_OK);
    assert_int_equal(store_host_pin(f->st, "web1", &kp.pub), GW_OK);
    assert_int_equal(store_host_get(f->st, "web1", &h), GW_OK);
    assert_string_equal(h.hostkey_fingerprint, kp.pub.fingerprint);
    assert_string_equal(h.hostkey_b64, kp.pub.blob_b64);
    store_host_clear(&h);
    gw_keypair_clear(&kp);
    assert_int_equal(store_host_secret(f->st, "web1", &secret),
                     GW_ERR_NOTFOUND);

    assert_int_equal(store_host_list(f->st, &list, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "db1");
    store_host_list_free(list, n);
    /* web1 carries db1's traffic: it cannot go first. */
    assert_int_equal(store_host_delete(f->st, "web1"), GW_ERR_DENIED);
    assert_int_equal(store_host_delete(f->st, "db1"), GW_OK);
    assert_int_equal(store_host_delete(f->st, "web1"), GW_OK);
    assert_int_equal(store_host_delete(f->st, "web1"), GW_ERR_NOTFOUND);
}

static void test_allow_text(void **state)
{
    unsigned allow = 0;
    char text[STORE_ALLOW_TEXT_MAX];
    (void)state;
    assert_int_equal(store_allow_parse("sftp,shell", &allow), GW_OK);
    assert_int_equal(allow, STORE_ALLOW_SHELL | STORE_ALLOW_SFTP);
    store_allow_format(allow, text);
    assert_string_equal(text, "shell,sftp");
    assert_int_equal(store_allow_parse("all", &allow), GW_OK);
    store_allow_format(allow, text);
    assert_string_equal(text, "shell,exec,sftp,forward,remote-forward,agent");
    assert_int_equal(store_allow_parse("", &allow), GW_ERR_INVALID);
    assert_int_equal(store_allow_parse("shell,", &allow), GW_ERR_INVALID);
    assert_int_equal(store_allow_parse("shell,x11", &allow), GW_ERR_INVALID);
    assert_int_equal(store_allow_parse("shellx", &allow), GW_ERR_INVALID);
}

static void test_grants(void **state)
{
    struct fixture *f = *state;
    struct store_grant *list = NULL;
    struct store_grant g;
    size_t n = 0;
    char past[GW_TIME_LEN];

    add_user(f, "alice");
    add_user(f, "bob");
    add_host(f, "web1", "deploy");
    add_host(f, "db1", NULL);
    assert_int_equal(store_grant_add(f->st, "alice", "web1", NULL,
                                     STORE_ALLOW_DEFAULT, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(store_grant_add(f->st, "alice", "web1", "root",
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_OK);
    /* Same user, host and login twice. */
    assert_int_equal(store_grant_add(f->st, "alice", "web1", "deploy",
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_ERR_EXISTS);
    assert_int_equal(store_grant_add(f->st, "alice", "db1", NULL,
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_ERR_INVALID);
    assert_int_equal(store_grant_add(f->st, "carol", "web1", NULL,
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_grant_add(f->st, "alice", "web9", NULL,
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_grant_add(f->st, "alice", "db1", "a b",
                                     STORE_ALLOW_SHELL, NULL, '+', NULL),
                     GW_ERR_INVALID);
    gw_time_iso(1000, past);
    assert_int_equal(store_grant_add(f->st, "bob", "db1", "pg",
                                     STORE_ALLOW_SHELL, past, '+', NULL),
                     GW_OK);

    assert_int_equal(store_grant_list(f->st, NULL, false, &list, &n), GW_OK);
    assert_int_equal(n, 3);
    free(list);
    assert_int_equal(store_grant_list(f->st, NULL, true, &list, &n), GW_OK);
    assert_int_equal(n, 2); /* bob's grant has expired */
    assert_string_equal(list[0].login, "deploy");
    assert_string_equal(list[0].address, "10.0.0.5");
    assert_int_equal(list[0].allow, STORE_ALLOW_DEFAULT);
    free(list);
    assert_int_equal(store_grant_list(f->st, "nobody", false, &list, &n),
                     GW_ERR_NOTFOUND);

    assert_int_equal(store_grant_find(f->st, "alice", "web1", "root", &g),
                     GW_OK);
    assert_int_equal(g.allow, STORE_ALLOW_SHELL);
    assert_false(store_grant_expired(&g));
    assert_int_equal(store_grant_find(f->st, "bob", "db1", "pg", &g),
                     GW_ERR_NOTFOUND);

    assert_int_equal(store_grant_delete(f->st, "alice", "web1", "root"), GW_OK);
    assert_int_equal(store_grant_delete(f->st, "alice", "web1", "root"),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_grant_delete(f->st, "alice", "web1", NULL), GW_OK);
    /* Deleting a host removes its grants. */
    assert_int_equal(store_host_delete(f->st, "db1"), GW_OK);
    assert_int_equal(count_rows(f, "grants"), 0);
}

/* ---- transactions, keys of the gateway, settings -------------------- */

static void test_rollback(void **state)
{
    struct fixture *f = *state;
    struct store_user u;

    assert_int_equal(store_begin(f->st), GW_OK);
    add_user(f, "alice");
    assert_int_equal(
        store_event_add(f->st, "admin.user.add", "alice", NULL, "by=test"),
        GW_OK);
    store_rollback(f->st);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_ERR_NOTFOUND);
    assert_int_equal(count_rows(f, "events"), 0);
    /* Rolling back outside a transaction is harmless. */
    store_rollback(f->st);
    assert_int_equal(store_begin(f->st), GW_OK);
    add_user(f, "alice");
    assert_int_equal(store_commit(f->st), GW_OK);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
}

static void test_gwkeys_and_settings(void **state)
{
    struct fixture *f = *state;
    struct gw_keypair kp;
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    int64_t id = 0;
    char *priv = NULL;
    char *value = NULL;

    assert_int_equal(gw_keypair_generate(GW_KEY_ED25519, &kp), GW_OK);
    assert_int_equal(store_gwkey_add(f->st, STORE_GWKEY_HOST, &kp, &id), GW_OK);
    assert_int_equal(store_gwkey_list(f->st, STORE_GWKEY_HOST, &keys, &n),
                     GW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].fingerprint, kp.pub.fingerprint);
    store_gwkey_list_free(keys, n);
    assert_int_equal(store_gwkey_list(f->st, STORE_GWKEY_BACKEND, &keys, &n),
                     GW_OK);
    assert_int_equal(n, 0);
    store_gwkey_list_free(keys, n);
    assert_int_equal(store_gwkey_private(f->st, id, &priv), GW_OK);
    assert_string_equal(priv, kp.private_text);
    free(priv);
    assert_int_equal(store_gwkey_private(f->st, id + 1, &priv),
                     GW_ERR_NOTFOUND);
    gw_keypair_clear(&kp);

    assert_int_equal(store_setting_get(f->st, "x", &value), GW_ERR_NOTFOUND);
    assert_int_equal(store_setting_set(f->st, "x", "1"), GW_OK);
    assert_int_equal(store_setting_set(f->st, "x", "2"), GW_OK);
    assert_int_equal(store_setting_get(f->st, "x", &value), GW_OK);
    assert_string_equal(value, "2");
    free(value);
}

/* ---- events -------------------------------------------------------- */

static void add_events(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(
            store_event_addf(f->st, i % 2 ? "auth.failure" : "auth.success",
                             "alice", "127.0.0.1:5000", "method=publickey n=%d",
                             i),
            GW_OK);
    }
}

static void expect_broken_at(struct fixture *f, int64_t want)
{
    int64_t bad = 0;
    char why[256];
    char *report = NULL;
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)),
                     GW_ERR_INVALID);
    assert_int_equal(bad, want);
    assert_int_equal(store_check(f->st, &report), GW_ERR_DB);
    assert_non_null(strstr(report, "event chain broken"));
    free(report);
}

static void test_event_chain_intact(void **state)
{
    struct fixture *f = *state;
    struct store_event *ev = NULL;
    struct store_event_filter all = {0};
    struct store_event_filter kind = {.kind = "auth.failure", .limit = 2};
    struct store_event_filter prefix = {.kind = "auth."};
    size_t n = 0;
    int64_t bad = 0;
    char why[256];
    char *report = NULL;

    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
    add_events(f, 6);
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
    assert_int_equal(store_check(f->st, &report), GW_OK);
    assert_non_null(strstr(report, "event chain intact"));
    free(report);

    assert_int_equal(store_event_list(f->st, &all, &ev, &n), GW_OK);
    assert_int_equal(n, 6);
    assert_int_equal(ev[0].id, 1);
    assert_string_equal(ev[1].prev_hash, ev[0].hash);
    assert_string_equal(ev[0].detail, "method=publickey n=0");
    store_event_list_free(ev, n);
    assert_int_equal(store_event_list(f->st, &kind, &ev, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].id, 4); /* the newest two, oldest first */
    assert_int_equal(ev[1].id, 6);
    store_event_list_free(ev, n);
    assert_int_equal(store_event_list(f->st, &prefix, &ev, &n), GW_OK);
    assert_int_equal(n, 6);
    store_event_list_free(ev, n);
}

static void test_event_edit_detected(void **state)
{
    struct fixture *f = *state;
    add_events(f, 5);
    raw_sql(f->path, "UPDATE events SET detail = 'nothing' WHERE id = 3");
    expect_broken_at(f, 3);
}

static void test_event_resealed_edit_detected(void **state)
{
    struct fixture *f = *state;
    add_events(f, 5);
    /* Recomputing a row's own hash is not enough: the next row points at
     * the old one. */
    raw_sql(f->path, "UPDATE events SET username = 'mallory', hash = "
                     "'0000000000000000000000000000000000000000000000000000"
                     "000000000000' WHERE id = 2");
    expect_broken_at(f, 2);
}

static void test_event_delete_detected(void **state)
{
    struct fixture *f = *state;
    add_events(f, 5);
    raw_sql(f->path, "DELETE FROM events WHERE id = 2");
    expect_broken_at(f, 2);
}

static void test_event_tail_delete_detected(void **state)
{
    struct fixture *f = *state;
    add_events(f, 5);
    raw_sql(f->path, "DELETE FROM events WHERE id >= 4");
    expect_broken_at(f, 4);
}

static void test_event_insert_detected(void **state)
{
    struct fixture *f = *state;
    add_events(f, 3);
    raw_sql(f->path,
            "INSERT INTO events (created_at, kind, detail, prev_hash, hash) "
            "SELECT created_at, 'auth.success', 'forged', hash, hash FROM "
            "events WHERE id = 3");
    expect_broken_at(f, 4);
}

struct writer {
    const char *path;
    int rc;
};

static void *write_events(void *arg)
{
    struct writer *w = arg;
    struct store *st = NULL;
    w->rc = store_open(w->path, STORE_OPEN_EXISTING, &st);
    for (int i = 0; i < 25 && w->rc == GW_OK; i++) {
        w->rc = store_event_add(st, "conn.open", NULL, NULL, "concurrent");
    }
    store_close(st);
    return NULL;
}

static void test_event_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    pthread_t threads[4];
    struct writer w[4];
    int64_t bad = 0;
    char why[256];

    /* One connection per thread, as the daemon does: the chain stays
     * linear because every append holds the write lock. */
    for (int i = 0; i < 4; i++) {
        w[i].path = f->path;
        w[i].rc = -100;
        assert_int_equal(pthread_create(&threads[i], NULL, write_events, &w[i]),
                         0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].rc, GW_OK);
    }
    assert_int_equal(count_rows(f, "events"), 100);
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
}

/* ---- backup and check ---------------------------------------------- */

static void test_backup(void **state)
{
    struct fixture *f = *state;
    struct store *copy = NULL;
    struct store_user u;
    struct stat sb;
    char path[160];

    add_user(f, "alice");
    add_events(f, 3);
    snprintf(path, sizeof(path), "%s/backup.db", f->dir);
    assert_int_equal(store_backup(f->st, path), GW_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Never overwrites. */
    assert_int_equal(store_backup(f->st, path), GW_ERR_IO);
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &copy), GW_OK);
    assert_int_equal(store_user_get(copy, "alice", &u), GW_OK);
    int64_t bad = 0;
    char why[64];
    assert_int_equal(store_event_verify(copy, &bad, why, sizeof(why)), GW_OK);
    store_close(copy);
    snprintf(path, sizeof(path), "%s/no/such/dir.db", f->dir);
    assert_int_equal(store_backup(f->st, path), GW_ERR_IO);
}

/* ---- sessions, recordings, transfers -------------------------------- */

static int64_t start_session(struct fixture *f, const char *node,
                             const char *user, const char *host,
                             const char *kind)
{
    static int channel; /* (conn_uid, channel) names one session */
    struct store_session_start s = {.node = node,
                                    .conn_uid = "c-1",
                                    .channel = ++channel,
                                    .user = user,
                                    .client = "127.0.0.1:40000",
                                    .host = host,
                                    .login = "deploy",
                                    .kind = kind,
                                    .command = "uname -a",
                                    .pty = false};
    int64_t id = 0;
    assert_int_equal(store_session_start(f->st, &s, &id), GW_OK);
    assert_true(id > 0);
    return id;
}

static void test_sessions(void **state)
{
    struct fixture *f = *state;
    struct store_session_end end = {.bytes_up = 10,
                                    .bytes_down = 2000,
                                    .has_exit_status = true,
                                    .exit_status = 7,
                                    .reason = "client closed"};
    struct store_session_filter active = {.active_only = true};
    struct store_session_filter by_host = {.host = "db1"};
    struct store_session *list = NULL;
    struct store_session one;
    size_t n = 0;
    int64_t a = start_session(f, "gw1", "alice", "web1", "exec");
    int64_t b = start_session(f, "gw1", "bob", "db1", "shell");
    int64_t bad = 0;
    char why[128];

    assert_int_equal(store_session_add_bytes(f->st, a, 5, 6), GW_OK);
    assert_int_equal(store_session_end(f->st, a, &end), GW_OK);
    assert_int_equal(store_session_end(f->st, a, &end), GW_ERR_EXISTS);
    assert_int_equal(store_session_get(f->st, a, &one), GW_OK);
    assert_string_equal(one.kind, "exec");
    assert_string_equal(one.command, "uname -a");
    assert_true(one.has_exit_status);
    assert_int_equal(one.exit_status, 7);
    assert_int_equal(one.bytes_down, 2000);
    assert_string_equal(one.end_reason, "client closed");
    assert_true(one.ended_at[0] != '\0');
    store_session_clear(&one);

    assert_int_equal(store_session_list(f->st, &active, &list, &n), GW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, b);
    store_session_list_free(list, n);
    assert_int_equal(store_session_list(f->st, &by_host, &list, &n), GW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].user, "bob");
    store_session_list_free(list, n);
    assert_int_equal(store_session_get(f->st, 999, &one), GW_ERR_NOTFOUND);

    /* Start and end are in the hash chain. */
    assert_int_equal(count_rows(f, "events"), 3);
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
}

static void test_session_orphans_and_kills(void **state)
{
    struct fixture *f = *state;
    struct store_session one;
    int64_t mine = start_session(f, "gw1", "alice", "web1", "shell");
    int64_t other = start_session(f, "gw2", "alice", "web1", "shell");
    int64_t *ids = NULL;
    size_t n = 0;
    int closed = 0;

    assert_int_equal(store_session_request_kill(f->st, mine, "root"), GW_OK);
    assert_int_equal(store_session_request_kill(f->st, other, "root"), GW_OK);
    assert_int_equal(store_session_request_kill(f->st, 999, "root"),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_session_pending_kills(f->st, "gw1", &ids, &n),
                     GW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], mine);
    free(ids);
    assert_int_equal(store_session_kill_done(f->st, mine), GW_OK);
    assert_int_equal(store_session_pending_kills(f->st, "gw1", &ids, &n),
                     GW_OK);
    assert_int_equal(n, 0);
    free(ids);

    /* A restart of gw1 closes gw1's open sessions only. */
    assert_int_equal(store_session_add_bytes(f->st, mine, 100, 200), GW_OK);
    assert_int_equal(
        store_session_close_orphans(f->st, "gw1", "gateway restart", &closed),
        GW_OK);
    assert_int_equal(closed, 1);
    assert_int_equal(store_session_get(f->st, mine, &one), GW_OK);
    assert_string_equal(one.end_reason, "gateway restart");
    assert_int_equal(one.bytes_down, 200);
    assert_false(one.has_exit_status);
    store_session_clear(&one);
    assert_int_equal(store_session_get(f->st, other, &one), GW_OK);
    assert_string_equal(one.ended_at, "");
    store_session_clear(&one);
    assert_int_equal(store_session_request_kill(f->st, mine, "root"),
                     GW_ERR_INVALID);
}

struct chunks_seen {
    char text[256];
    int calls;
};

static int collect_chunk(void *arg, const char *data, size_t len)
{
    struct chunks_seen *seen = arg;
    strncat(seen->text, data, len);
    seen->calls++;
    return GW_OK;
}

static void test_recordings_and_transfers(void **state)
{
    struct fixture *f = *state;
    int64_t s = start_session(f, "gw1", "alice", "web1", "sftp");
    struct store_recording rec;
    struct chunks_seen seen = {{0}, 0};
    struct store_transfer t = {.session_id = s,
                               .operation = "write",
                               .bytes_written = 5,
                               .sha256 = "ab",
                               .status = "ok"};
    struct store_transfer *list = NULL;
    size_t n = 0;
    int64_t id = 0;

    assert_int_equal(store_recording_start(f->st, s, "{\"version\": 2}", &id),
                     GW_OK);
    assert_int_equal(store_recording_start(f->st, s, "{}", NULL),
                     GW_ERR_EXISTS);
    /* Out of order on purpose: replay follows seq, not insertion. */
    assert_int_equal(store_recording_append(f->st, id, 2, "[2]\n", 4), GW_OK);
    assert_int_equal(store_recording_append(f->st, id, 1, "[1]\n", 4), GW_OK);
    assert_int_equal(store_recording_append(f->st, id, 1, "[x]\n", 4),
                     GW_ERR_EXISTS);
    assert_int_equal(store_recording_degraded(f->st, id, "queue full"), GW_OK);
    assert_int_equal(store_recording_degraded(f->st, id, "later"), GW_OK);
    assert_int_equal(store_recording_get(f->st, s, &rec), GW_OK);
    assert_int_equal(rec.chunks, 2);
    assert_int_equal(rec.bytes, 8);
    assert_string_equal(rec.degraded, "queue full");
    assert_int_equal(
        store_recording_chunks(f->st, rec.id, collect_chunk, &seen), GW_OK);
    assert_string_equal(seen.text, "[1]\n[2]\n");
    store_recording_clear(&rec);
    assert_int_equal(store_recording_get(f->st, 999, &rec), GW_ERR_NOTFOUND);

    t.path = "/tmp/a";
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    t.operation[0] = '\0';
    snprintf(t.operation, sizeof(t.operation), "rename");
    t.path2 = "/tmp/b";
    t.sha256[0] = '\0';
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    assert_int_equal(store_transfer_list(f->st, s, &list, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].sha256, "ab");
    assert_string_equal(list[1].path2, "/tmp/b");
    assert_string_equal(list[1].sha256, "");
    store_transfer_list_free(list, n);

    /* The audit views answer. */
    assert_int_equal(count_rows(f, "v_sessions"), 1);
    assert_int_equal(count_rows(f, "v_transfers"), 2);
    assert_int_equal(count_rows(f, "v_sessions_per_user_day"), 1);
    assert_int_equal(count_rows(f, "v_failed_logins_by_source"), 0);
    /* A session with transfers cannot be deleted. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    assert_int_not_equal(
        sqlite3_exec(db, "DELETE FROM sessions", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- single-row reads: what each says when the row is not there ------ */

static void expect_missing(int rc, const char *msg)
{
    assert_int_equal(rc, GW_ERR_NOTFOUND);
    assert_string_equal(gw_err_msg(), msg);
}

static void test_single_row_reads(void **state)
{
    struct fixture *f = *state;
    struct store_host_spec with_secret = {.name = "db1",
                                          .address = "10.0.0.6",
                                          .auth_method = STORE_AUTH_PASSWORD,
                                          .auth_secret = "s3cret"};
    struct store_session_end end = {.reason = "test"};
    struct store_user u;
    struct store_user_key k;
    struct store_host h;
    struct store_grant g;
    struct store_session s;
    struct store_recording rec;
    struct store_lockout rule = {.threshold = 3, .seconds = 60};
    char *text = NULL;
    char msg[64];
    char why[64];
    int64_t bad = 0;
    int64_t sid = 0;
    int version = 0;
    bool locked = false;

    assert_int_equal(store_schema_version(f->st, &version), GW_OK);
    assert_int_equal(version, store_schema_latest());
    /* No events yet: no last hash and no sequence row to read. */
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
    assert_int_equal(store_event_add(f->st, "test", NULL, NULL, "first"),
                     GW_OK);
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);

    expect_missing(store_user_get(f->st, "carol", &u), "unknown user 'carol'");
    expect_missing(store_user_record_failure(f->st, "carol", &rule, &locked),
                   "unknown user 'carol'");
    add_user(f, "bob");
    expect_missing(store_user_password_hash(f->st, "bob", &text),
                   "user 'bob' has no password");
    expect_missing(store_user_password_hash(f->st, "carol", &text),
                   "user 'carol' has no password");
    expect_missing(store_key_get(f->st, "bob", "SHA256:x", &k),
                   "user 'bob' has no key SHA256:x");
    expect_missing(store_gwkey_private(f->st, 42, &text), "no gateway key 42");
    expect_missing(store_host_get(f->st, "web9", &h), "unknown host 'web9'");
    add_host(f, "web1", "deploy");
    expect_missing(store_host_secret(f->st, "web1", &text),
                   "host 'web1' has no stored secret");
    expect_missing(store_host_secret(f->st, "web9", &text),
                   "unknown host 'web9'");
    assert_int_equal(store_host_add(f->st, &with_secret, '+', NULL), GW_OK);
    assert_int_equal(store_host_secret(f->st, "db1", &text), GW_OK);
    assert_string_equal(text, "s3cret");
    free(text);
    expect_missing(store_grant_find(f->st, "bob", "web1", "deploy", &g),
                   "user 'bob' has no grant on 'web1' as 'deploy'");
    expect_missing(store_setting_get(f->st, "x", &text), "no setting 'x'");
    expect_missing(store_session_get(f->st, 999, &s), "no session 999");
    expect_missing(store_session_end(f->st, 999, &end), "no session 999");
    sid = start_session(f, "gw1", "bob", "web1", "shell");
    snprintf(msg, sizeof(msg), "session %lld has no recording", (long long)sid);
    expect_missing(store_recording_get(f->st, sid, &rec), msg);
    assert_null(rec.header);
    assert_null(rec.degraded);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fresh_file_is_latest),
        T(test_migrate_v0_file),
        T(test_failed_migration_rolls_back),
        T(test_newer_schema_refused),
        T(test_open_errors),
        T(test_users),
        T(test_lockout),
        T(test_keys),
        T(test_hosts),
        cmocka_unit_test(test_allow_text),
        T(test_grants),
        T(test_rollback),
        T(test_gwkeys_and_settings),
        T(test_event_chain_intact),
        T(test_event_edit_detected),
        T(test_event_resealed_edit_detected),
        T(test_event_delete_detected),
        T(test_event_tail_delete_detected),
        T(test_event_insert_detected),
        T(test_event_concurrent_writers),
        T(test_backup),
        T(test_sessions),
        T(test_session_orphans_and_kills),
        T(test_recordings_and_transfers),
        T(test_single_row_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
