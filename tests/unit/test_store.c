/* Unit tests for store/: migrations, every entity API, transactions and
 * the hash-chained event log, against real temp database files, or, run
 * under tests/pg/with-postgres (ctest's test_store_pg), a fresh
 * PostgreSQL database per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "store/conn_kills.h"
#include "store/db.h"
#include "store/events.h"
#include "store/grants.h"
#include "store/gwkeys.h"
#include "store/hosts.h"
#include "store/keys.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/sources.h"
#include "store/settings.h"
#include "store/transfers.h"
#include "store/users.h"
#include "store/open.h"
#include "store/check.h"
#include "store/migrations.h"
#include "store/nodes.h"
#include "store/verify.h"

#include "core/crypto.h"
#include "core/timeutil.h"
#include <ctype.h>

/* The store's API carries keys as plain data (core/sshkey_types.h). */
#ifdef _LIBSSH_H
#error "a store/ header includes libssh"
#endif

#include "rawdb.h"

#include "core/passwd.h"
#include "core/sshkey.h"
#include "core/timeutil.h"

/*
 * Each test gets a database of its own: a file in a temp dir, or, when
 * SSHGATE_TEST_PG names a PostgreSQL server (tests/pg/with-postgres), a
 * fresh database on it (the temp dir is there too, for the files some
 * tests write). f->path is what store_open takes either way.
 */
#define MAX_EXTRA_DBS 4

struct fixture {
    char dir[64];
    char path[256];                /* the SQLite file, or the database's URI */
    char dbname[64];               /* PostgreSQL: the database; "" on SQLite */
    char extra[MAX_EXTRA_DBS][80]; /* PostgreSQL: more databases to drop */
    struct store *st;
};

static const char *pg_server(void)
{
    const char *server = getenv("SSHGATE_TEST_PG");
    return server != NULL && server[0] != '\0' ? server : NULL;
}

static bool is_pg(const struct fixture *f)
{
    return f->dbname[0] != '\0';
}

/* The one of two SQL texts for the fixture's engine. */
#define BY_ENGINE(f, lite_sql, pg_sql) (is_pg(f) ? (pg_sql) : (lite_sql))

/* PostgreSQL 15's default way to make a database writes the template
 * through the WAL, twice as slow for these small ones as copying its
 * files (FILE_COPY: the way of the releases before it, which know no
 * STRATEGY). */
static const char *pg_strategy(void)
{
    static int version;
    char text[32];
    if (version == 0) {
        raw_text(pg_server(), "SHOW server_version_num", text, sizeof(text));
        version = atoi(text);
    }
    return version >= 150000 ? " STRATEGY FILE_COPY" : "";
}

static void pg_create(const char *name, const char *template_db)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"%s%s%s%s", name,
             template_db != NULL ? " TEMPLATE \"" : "",
             template_db != NULL ? template_db : "",
             template_db != NULL ? "\"" : "", pg_strategy());
    raw_sql(pg_server(), sql);
}

static void pg_drop(const char *name)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)",
             name);
    raw_sql(pg_server(), sql);
}

static int setup(void **state)
{
    static int seq;
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sshgate-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (pg_server() != NULL) {
        snprintf(f->dbname, sizeof(f->dbname), "store_%d_%d", (int)getpid(),
                 ++seq);
        pg_create(f->dbname, NULL);
        raw_pg_uri(pg_server(), f->dbname, f->path, sizeof(f->path));
    } else {
        snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
    }
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->st), GW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];
    store_close(f->st);
    if (is_pg(f)) {
        pg_drop(f->dbname);
        for (int i = 0; i < MAX_EXTRA_DBS && f->extra[i][0] != '\0'; i++) {
            pg_drop(f->extra[i]);
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Another database beside the fixture's, named by suffix, into out: an
 * empty one (template_db NULL) or a copy of template_db. SQLite: the
 * file suffix.db in the temp dir (not created). */
static void extra_db(struct fixture *f, const char *suffix,
                     const char *template_db, char *out, size_t len)
{
    int i = 0;
    if (!is_pg(f)) {
        snprintf(out, len, "%s/%s.db", f->dir, suffix);
        return;
    }
    while (i < MAX_EXTRA_DBS && f->extra[i][0] != '\0' &&
           strcmp(f->extra[i] + strlen(f->dbname) + 1, suffix) != 0) {
        i++;
    }
    assert_true(i < MAX_EXTRA_DBS);
    snprintf(f->extra[i], sizeof(f->extra[i]), "%s_%s", f->dbname, suffix);
    pg_drop(f->extra[i]);
    pg_create(f->extra[i], template_db);
    raw_pg_uri(pg_server(), f->extra[i], out, len);
}

/* A consistent copy of the fixture's database as it stands, into out
 * (what store_open takes): store_backup to a file on SQLite; on
 * PostgreSQL, which has no backup of its own (pg_dump), a database made
 * from it as a template, which takes the store's connection away for a
 * moment. */
static void copy_db(struct fixture *f, const char *suffix, char *out,
                    size_t len)
{
    if (!is_pg(f)) {
        extra_db(f, suffix, NULL, out, len);
        assert_int_equal(store_backup(f->st, out), GW_OK);
        return;
    }
    store_close(f->st);
    f->st = NULL;
    extra_db(f, suffix, f->dbname, out, len);
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
}

/* Put the copy that copy_db(f, suffix, copy, ...) made in place of the
 * fixture's database and open it again; the copy is gone. */
static void restore_db(struct fixture *f, const char *suffix, const char *copy)
{
    char sql[256];
    store_close(f->st);
    f->st = NULL;
    if (is_pg(f)) {
        pg_drop(f->dbname);
        snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s_%s\" RENAME TO \"%s\"",
                 f->dbname, suffix, f->dbname);
        raw_sql(pg_server(), sql);
    } else {
        assert_int_equal(rename(copy, f->path), 0);
    }
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
}

static int count_rows(struct fixture *f, const char *table)
{
    char sql[128];
    char text[32];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    raw_text(f->path, sql, text, sizeof(text));
    return atoi(text);
}

/* The first column of the first row of sql, "NULL" for NULL. */
static void db_text(struct fixture *f, const char *sql, char *out, size_t len)
{
    raw_text(f->path, sql, out, len);
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
    char text[32];
    int v = -1;
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    if (is_pg(f)) {
        /* No file to keep private; one row per step taken. */
        raw_text(f->path, "SELECT count(*) FROM sshgate_schema", text,
                 sizeof(text));
        assert_int_equal(atoi(text), store_schema_latest());
        return;
    }
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_migrate_v0_file(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char path[256];
    int v = -1;
    /* A v0 database: valid, but it never saw our schema (on PostgreSQL:
     * no sshgate_schema table). */
    extra_db(f, "v0", NULL, path, sizeof(path));
    raw_sql(path, BY_ENGINE(f,
                            "CREATE TABLE unrelated (x INTEGER); "
                            "PRAGMA user_version=0",
                            "CREATE TABLE unrelated (x INTEGER)"));
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
    char path[256];
    char text[32];
    /* A table in the way makes step 1 fail half-way: nothing of it stays. */
    extra_db(f, "clash", NULL, path, sizeof(path));
    raw_sql(path, "CREATE TABLE grants (x INTEGER)");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &st), GW_ERR_DB);
    assert_null(st);
    raw_text(path,
             BY_ENGINE(f,
                       "SELECT count(*) FROM sqlite_master WHERE name IN "
                       "('users', 'user_keys', 'hosts')",
                       "SELECT count(*) FROM pg_tables WHERE tablename IN "
                       "('users', 'user_keys', 'hosts')"),
             text, sizeof(text));
    assert_string_equal(text, "0");
    raw_text(path,
             BY_ENGINE(f, "PRAGMA user_version",
                       "SELECT count(*) FROM sshgate_schema"),
             text, sizeof(text));
    assert_string_equal(text, "0");
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char restore[96];
    store_close(f->st);
    f->st = NULL;
    raw_sql(f->path,
            BY_ENGINE(f, "PRAGMA user_version = 99",
                      "INSERT INTO sshgate_schema (version) VALUES (99)"));
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &st),
                     GW_ERR_SCHEMA);
    assert_null(st);
    assert_non_null(strstr(gw_err_msg(), "99"));
    assert_non_null(strstr(gw_err_msg(), "upgrade"));
    if (is_pg(f)) {
        snprintf(restore, sizeof(restore),
                 "DELETE FROM sshgate_schema WHERE version = 99");
    } else {
        snprintf(restore, sizeof(restore), "PRAGMA user_version = %d",
                 store_schema_latest());
    }
    raw_sql(f->path, restore);
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
}

/* PostgreSQL: a database that is not there, and a server that is not
 * there; the message never shows the password of the URI. */
static void open_errors_pg(void)
{
    struct store *st = NULL;
    char uri[256];
    char server[256];
    const char *at = strchr(pg_server(), '@');

    assert_non_null(at);
    snprintf(server, sizeof(server), "postgresql://sshgate:s3cret%s", at);
    raw_pg_uri(server, "no_such_db", uri, sizeof(uri));
    assert_int_equal(store_open(uri, STORE_OPEN_CREATE, &st), GW_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(gw_err_msg(), "no_such_db"));
    assert_null(strstr(gw_err_msg(), "s3cret"));
    assert_int_equal(store_open("host=127.0.0.1 port=1 dbname=x "
                                "connect_timeout=2",
                                STORE_OPEN_EXISTING, &st),
                     GW_ERR_IO);
    assert_null(st);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct store *st = NULL;
    char path[160];
    if (is_pg(f)) {
        open_errors_pg();
        return;
    }
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

/* Jump hosts (via) and outbound proxies (via_proxy): loops and long
 * chains refused, the URL kept canonical, the password apart. */
static void test_host_routes(void **state)
{
    struct fixture *f = *state;
    struct store_host_spec spec = {.name = "web2",
                                   .address = "10.0.0.6",
                                   .proxy = "web1",
                                   .via_proxy = "SOCKS5://bob@px.example:1080",
                                   .via_proxy_secret = "s3cret"};
    struct store_host_route route = {.set_via = true, .via = "web2"};
    struct store_host h;
    char *secret = NULL;

    add_host(f, "web1", "deploy");
    assert_int_equal(store_host_add(f->st, &spec, '+', NULL), GW_OK);
    assert_int_equal(store_host_get(f->st, "web2", &h), GW_OK);
    assert_string_equal(h.proxy, "web1");
    assert_string_equal(h.via_proxy, "socks5://bob@px.example:1080");
    assert_true(h.has_proxy_secret);
    store_host_clear(&h);
    assert_int_equal(store_host_proxy_secret(f->st, "web2", &secret), GW_OK);
    assert_string_equal(secret, "s3cret");
    gw_free_secret_str(secret);
    secret = NULL;

    /* web1 via web2 via web1: a loop; web1 via web1 too. */
    assert_int_equal(store_host_set_route(f->st, "web1", &route),
                     GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "loop"));
    route.via = "web1";
    assert_int_equal(store_host_set_route(f->st, "web1", &route),
                     GW_ERR_INVALID);
    route.via = "nohost";
    assert_int_equal(store_host_set_route(f->st, "web1", &route),
                     GW_ERR_NOTFOUND);
    /* The jump host in use cannot be deleted. */
    assert_int_equal(store_host_delete(f->st, "web1"), GW_ERR_DENIED);

    /* None again; the proxy changed to direct drops its password. */
    route.via = NULL;
    route.set_proxy = true;
    route.via_proxy = "direct";
    assert_int_equal(store_host_set_route(f->st, "web2", &route), GW_OK);
    assert_int_equal(store_host_get(f->st, "web2", &h), GW_OK);
    assert_string_equal(h.proxy, "");
    assert_string_equal(h.via_proxy, "direct");
    assert_false(h.has_proxy_secret);
    store_host_clear(&h);
    assert_int_equal(store_host_proxy_secret(f->st, "web2", &secret),
                     GW_ERR_NOTFOUND);
    route.via_proxy = "socks5://bob:pw@px:1080";
    assert_int_equal(store_host_set_route(f->st, "web2", &route),
                     GW_ERR_INVALID);
    assert_null(strstr(gw_err_msg(), "pw"));
    assert_int_equal(store_host_set_route(f->st, "nohost", &route),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_host_delete(f->st, "web1"), GW_OK);
}

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
    assert_string_equal(
        text, "shell,exec,sftp,forward,remote-forward,agent,transfer");
    assert_int_equal(allow, STORE_ALLOW_ALL);
    assert_true((allow & STORE_ALLOW_TRANSFER) != 0);
    assert_int_equal(store_allow_parse("transfer,exec", &allow), GW_OK);
    assert_int_equal(allow, STORE_ALLOW_EXEC | STORE_ALLOW_TRANSFER);
    store_allow_format(allow, text);
    assert_string_equal(text, "exec,transfer");
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

/* Schema 8: a user's and a grant's rate limit. */
static void test_rate_limits(void **state)
{
    struct fixture *f = *state;
    struct store_grant *list = NULL;
    struct store_grant g;
    struct store_user u;
    size_t n = 0;

    add_user(f, "alice");
    add_host(f, "web1", "deploy");
    assert_int_equal(store_grant_add(f->st, "alice", "web1", NULL,
                                     STORE_ALLOW_DEFAULT, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_int_equal(u.rate_limit, 0);
    assert_int_equal(store_grant_find(f->st, "alice", "web1", "deploy", &g),
                     GW_OK);
    assert_int_equal(g.rate_limit, 0);

    assert_int_equal(store_user_set_rate_limit(f->st, "alice", 5 << 20), GW_OK);
    assert_int_equal(store_grant_set_rate_limit(f->st, "alice", "web1",
                                                "deploy", INT64_C(1) << 36),
                     GW_OK);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_int_equal(u.rate_limit, 5 << 20);
    assert_int_equal(store_grant_list(f->st, "alice", true, &list, &n), GW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].rate_limit, INT64_C(1) << 36);
    free(list);

    assert_int_equal(store_user_set_rate_limit(f->st, "nobody", 1),
                     GW_ERR_NOTFOUND);
    assert_int_equal(store_user_set_rate_limit(f->st, "alice", -1),
                     GW_ERR_INVALID);
    assert_int_equal(
        store_grant_set_rate_limit(f->st, "alice", "web1", "root", 1),
        GW_ERR_NOTFOUND);
    assert_int_equal(
        store_grant_set_rate_limit(f->st, "alice", "web9", "deploy", 1),
        GW_ERR_NOTFOUND);
    assert_int_equal(store_user_set_rate_limit(f->st, "alice", 0), GW_OK);
    assert_int_equal(store_user_get(f->st, "alice", &u), GW_OK);
    assert_int_equal(u.rate_limit, 0);
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
    struct store_event_filter follow = {.limit = 2, .first_id = 3};
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
    /* Following the chain by id: the oldest `limit` from first_id on. */
    assert_int_equal(store_event_list(f->st, &follow, &ev, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].id, 3);
    assert_int_equal(ev[1].id, 4);
    assert_string_equal(ev[1].prev_hash, ev[0].hash);
    store_event_list_free(ev, n);
    follow.first_id = 7;
    assert_int_equal(store_event_list(f->st, &follow, &ev, &n), GW_OK);
    assert_int_equal(n, 0);
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
    /* The next id given by hand: PostgreSQL's events.id has no default
     * (the store takes it from sshgate_event_seq). */
    raw_sql(f->path,
            "INSERT INTO events (id, created_at, kind, detail, prev_hash, "
            "hash) SELECT 4, created_at, 'auth.success', 'forged', hash, "
            "hash FROM events WHERE id = 3");
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
    if (is_pg(f)) {
        /* Not sshgate's job on a server: the message says whose it is. */
        assert_int_equal(store_backup(f->st, path), GW_ERR_INVALID);
        assert_non_null(strstr(gw_err_msg(), "pg_dump"));
        assert_int_equal(access(path, F_OK), -1);
        return;
    }
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

/* What `session watch` polls: the chunks after the last one it played,
 * a few at a time, in seq order (not the order of writing), with the
 * other recordings' chunks left out. */
static void test_recording_chunks_after(void **state)
{
    struct fixture *f = *state;
    int64_t s = start_session(f, "gw1", "alice", "web1", "shell");
    int64_t other = start_session(f, "gw1", "bob", "web1", "shell");
    struct store_chunk *c = NULL;
    size_t n = 99;
    int64_t id = 0, id2 = 0, top = 0;

    assert_int_equal(store_recording_start(f->st, s, "{}", &id), GW_OK);
    assert_int_equal(store_recording_start(f->st, other, "{}", &id2), GW_OK);
    /* Nothing yet: an empty answer, not an error. */
    assert_int_equal(store_recording_last_seq(f->st, id, &top), GW_OK);
    assert_int_equal(top, -1);
    assert_int_equal(store_recording_chunks_after(f->st, id, -1, 4, &c, &n),
                     GW_OK);
    assert_int_equal(n, 0);
    store_chunk_list_free(c, n);

    assert_int_equal(store_recording_append(f->st, id, 0, "[0]\n", 4), GW_OK);
    assert_int_equal(store_recording_append(f->st, id2, 0, "[b]\n", 4), GW_OK);
    assert_int_equal(store_recording_append(f->st, id, 2, "[2]\n", 4), GW_OK);
    assert_int_equal(store_recording_append(f->st, id, 1, "[1]\n", 4), GW_OK);
    /* A gap (a chunk the recorder dropped) is no end. */
    assert_int_equal(store_recording_append(f->st, id, 5, "[5]\n", 4), GW_OK);
    assert_int_equal(store_recording_last_seq(f->st, id, &top), GW_OK);
    assert_int_equal(top, 5);

    assert_int_equal(store_recording_chunks_after(f->st, id, -1, 2, &c, &n),
                     GW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].seq, 0);
    assert_int_equal(c[0].len, 4);
    assert_string_equal(c[0].data, "[0]\n");
    assert_int_equal(c[1].seq, 1);
    assert_string_equal(c[1].data, "[1]\n");
    store_chunk_list_free(c, n);

    assert_int_equal(store_recording_chunks_after(f->st, id, 1, 4, &c, &n),
                     GW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].seq, 2);
    assert_int_equal(c[1].seq, 5);
    assert_string_equal(c[1].data, "[5]\n");
    store_chunk_list_free(c, n);

    /* The live end: nothing after the last, until the next is written. */
    assert_int_equal(store_recording_chunks_after(f->st, id, 5, 4, &c, &n),
                     GW_OK);
    assert_int_equal(n, 0);
    store_chunk_list_free(c, n);
    assert_int_equal(store_recording_append(f->st, id, 6, "[6]\n", 4), GW_OK);
    assert_int_equal(store_recording_chunks_after(f->st, id, 5, 4, &c, &n),
                     GW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].seq, 6);
    store_chunk_list_free(c, n);

    /* The other recording's own, and none of an unknown one. */
    assert_int_equal(store_recording_chunks_after(f->st, id2, -1, 4, &c, &n),
                     GW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].data, "[b]\n");
    store_chunk_list_free(c, n);
    assert_int_equal(
        store_recording_chunks_after(f->st, id2 + 100, -1, 4, &c, &n), GW_OK);
    assert_int_equal(n, 0);
    store_chunk_list_free(c, n);
    assert_int_equal(store_recording_chunks_after(f->st, id, -1, 0, &c, &n),
                     GW_ERR_INVALID);
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
    assert_int_equal(raw_sql_rc(f->path, BY_ENGINE(f,
                                                   "PRAGMA foreign_keys = ON; "
                                                   "DELETE FROM sessions",
                                                   "DELETE FROM sessions")),
                     RAW_CONSTRAINT);
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

/* ---- explicit times, natural keys, nodes ---------------------------- */

/* 2026-11-26T19:14:25.123Z: a time that is not now. */
#define T0 INT64_C(1795720465123)

static void test_event_add_at(void **state)
{
    struct fixture *f = *state;
    char text[64];
    char now[GW_TIME_LEN];
    int64_t bad = 0;
    char why[128];

    gw_time_now_iso(now);
    assert_int_equal(store_event_add_at(f->st, T0, "test", NULL, NULL, "late"),
                     GW_OK);
    assert_int_equal(store_event_add(f->st, "test", NULL, NULL, "now"), GW_OK);
    assert_int_equal(
        store_event_addf_at(f->st, T0 - 1000, "test", "alice", NULL, "n=%d", 3),
        GW_OK);
    db_text(f, "SELECT created_at FROM events WHERE id = 1", text,
            sizeof(text));
    assert_string_equal(text, "2026-11-26T19:14:25.123Z");
    db_text(f, "SELECT created_at FROM events WHERE id = 2", text,
            sizeof(text));
    assert_true(strcmp(text, now) >= 0);
    db_text(f, "SELECT created_at || detail FROM events WHERE id = 3", text,
            sizeof(text));
    assert_string_equal(text, "2026-11-26T19:14:24.123Zn=3");
    /* The chain follows the order of writing, not the times. */
    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
}

static void test_session_times(void **state)
{
    struct fixture *f = *state;
    struct store_session_start s = {.node = "gw1",
                                    .conn_uid = "c-9",
                                    .channel = 3,
                                    .user = "alice",
                                    .client = "127.0.0.1:4",
                                    .kind = "sftp",
                                    .at_ms = T0};
    struct store_session_end e = {.reason = "client closed",
                                  .at_ms = T0 + 61000};
    struct store_transfer t = {.operation = "write",
                               .path = "/tmp/x",
                               .status = "ok",
                               .at_ms = T0 + 2500};
    struct store_session one;
    struct store_transfer *list = NULL;
    char text[64];
    size_t n = 0;
    int64_t id = 0;

    assert_int_equal(store_session_start(f->st, &s, &id), GW_OK);
    t.session_id = id;
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    assert_int_equal(store_session_get(f->st, id, &one), GW_OK);
    assert_string_equal(one.started_at, "2026-11-26T19:14:25.123Z");
    assert_string_equal(one.ended_at, "2026-11-26T19:15:26.123Z");
    store_session_clear(&one);
    assert_int_equal(store_transfer_list(f->st, id, &list, &n), GW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].created_at, "2026-11-26T19:14:27.623Z");
    store_transfer_list_free(list, n);
    /* The events carry the times the rows do. */
    db_text(f, "SELECT created_at FROM events WHERE kind = 'session.start'",
            text, sizeof(text));
    assert_string_equal(text, "2026-11-26T19:14:25.123Z");
    db_text(f, "SELECT created_at FROM events WHERE kind = 'session.end'", text,
            sizeof(text));
    assert_string_equal(text, "2026-11-26T19:15:26.123Z");
}

static void test_session_find(void **state)
{
    struct fixture *f = *state;
    struct store_session_start s = {.node = "gw1",
                                    .conn_uid = "abc-7",
                                    .channel = 2,
                                    .user = "alice",
                                    .client = "127.0.0.1:4",
                                    .kind = "shell"};
    int64_t id = 0;
    int64_t found = 0;

    assert_int_equal(store_session_find(f->st, "abc-7", 2, &found),
                     GW_ERR_NOTFOUND);
    assert_non_null(strstr(gw_err_msg(), "abc-7"));
    assert_int_equal(store_session_start(f->st, &s, &id), GW_OK);
    assert_int_equal(store_session_find(f->st, "abc-7", 2, &found), GW_OK);
    assert_int_equal(found, id);
    assert_int_equal(store_session_find(f->st, "abc-7", 3, &found),
                     GW_ERR_NOTFOUND);
    /* A replayed start cannot write the session twice. */
    assert_int_equal(store_session_start(f->st, &s, &found), GW_ERR_EXISTS);
    assert_non_null(strstr(gw_err_msg(), "channel 2 of connection abc-7"));
    assert_int_equal(count_rows(f, "sessions"), 1);
    assert_int_equal(count_rows(f, "events"), 1);
}

/* A heartbeat of node with version, started at started, at now (60 s
 * lost-after, listening on a made-up address). */
static int node_beat(struct fixture *f, const char *node, const char *version,
                     int64_t started, int64_t now)
{
    struct store_node_beat b = {node, version, "127.0.0.1:2222", started,
                                60000};
    return store_node_heartbeat(f->st, &b, now);
}

static void test_node_heartbeat(void **state)
{
    struct fixture *f = *state;
    char text[64];
    int64_t ms = 0;

    assert_int_equal(store_node_last_heartbeat(f->st, "gw1", &ms),
                     GW_ERR_NOTFOUND);
    assert_non_null(strstr(gw_err_msg(), "gw1"));
    assert_int_equal(node_beat(f, "gw1", "1.0", T0, T0 + 5), GW_OK);
    assert_int_equal(node_beat(f, "gw1", "1.1", T0 + 100, T0 + 15000), GW_OK);
    assert_int_equal(node_beat(f, "gw2", "1.1", T0, T0 + 7), GW_OK);
    assert_int_equal(count_rows(f, "nodes"), 2);
    assert_int_equal(store_node_last_heartbeat(f->st, "gw1", &ms), GW_OK);
    assert_int_equal(ms, T0 + 15000);
    db_text(f,
            "SELECT version || ' ' || started_at || ' ' || created_at FROM "
            "nodes WHERE name = 'gw1'",
            text, sizeof(text));
    assert_string_equal(
        text, "1.1 2026-11-26T19:14:25.223Z 2026-11-26T19:14:25.128Z");
    assert_int_equal(store_node_last_heartbeat(f->st, "gw2", &ms), GW_OK);
    assert_int_equal(ms, T0 + 7);
}

/* node list: live until a heartbeat is lost_after_ms old, with the
 * node's open sessions counted. */
static void test_node_list(void **state)
{
    struct fixture *f = *state;
    struct store_node *nodes = NULL;
    size_t n = 0;

    assert_int_equal(node_beat(f, "gw1", "1.0", T0, T0 + 1000), GW_OK);
    assert_int_equal(node_beat(f, "gw2", "1.0", T0, T0 + 50000), GW_OK);
    assert_int_equal(store_node_list(f->st, T0 + 61001, &nodes, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].name, "gw1");
    assert_true(nodes[0].lost); /* over 60 s since its last beat */
    assert_string_equal(nodes[0].listen, "127.0.0.1:2222");
    assert_int_equal(nodes[0].lost_after_ms, 60000);
    assert_int_equal(nodes[0].open_sessions, 0);
    assert_string_equal(nodes[1].name, "gw2");
    assert_false(nodes[1].lost);
    assert_int_equal(nodes[1].heartbeat_ms, T0 + 50000);
    free(nodes);
}

/* ---- audit verification --------------------------------------------- */

/* An ended pty session as the daemon leaves it: a recording of two chunks,
 * a file transfer. */
static int64_t full_session(struct fixture *f, int64_t *rec)
{
    int64_t id = start_session(f, "gw1", "alice", "web1", "shell");
    struct store_transfer t = {.session_id = id,
                               .operation = "read",
                               .path = "/etc/motd",
                               .bytes_read = 12,
                               .status = "ok"};
    struct store_session_end e = {.bytes_up = 5,
                                  .bytes_down = 900,
                                  .has_exit_status = true,
                                  .reason = "client closed"};

    assert_int_equal(store_recording_start(f->st, id, "{\"version\": 2}", rec),
                     GW_OK);
    assert_int_equal(
        store_recording_append(f->st, *rec, 0, "[0.1, \"o\", \"a\"]\n", 15),
        GW_OK);
    assert_int_equal(
        store_recording_append(f->st, *rec, 1, "[0.2, \"o\", \"b\"]\n", 15),
        GW_OK);
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    return id;
}

/* Whether r holds a problem about object id whose text has needle. */
static bool has_problem(const struct store_audit_report *r,
                        enum store_audit_object object, int64_t id,
                        const char *needle)
{
    for (size_t i = 0; i < r->nproblems; i++) {
        const struct store_audit_problem *p = &r->problems[i];
        if (p->object == object && p->id == id &&
            strstr(p->what, needle) != NULL) {
            return true;
        }
    }
    return false;
}

static void expect_verified(struct fixture *f, int64_t sessions)
{
    struct store_audit_report r;
    int rc = store_audit_verify(f->st, NULL, &r);
    if (rc != GW_OK) {
        for (size_t i = 0; i < r.nproblems; i++) {
            print_message("problem: %lld %s\n", (long long)r.problems[i].id,
                          r.problems[i].what);
        }
    }
    assert_int_equal(rc, GW_OK);
    assert_int_equal(r.sessions_verified, sessions);
    store_audit_report_clear(&r);
}

/* Verify, expecting exactly one problem: about object id, with needle. */
static void expect_one_problem(struct fixture *f,
                               enum store_audit_object object, int64_t id,
                               const char *needle)
{
    struct store_audit_report r;
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_ERR_INVALID);
    if (r.problems_total != 1 || !has_problem(&r, object, id, needle)) {
        for (size_t i = 0; i < r.nproblems; i++) {
            print_message("problem: %lld %s\n", (long long)r.problems[i].id,
                          r.problems[i].what);
        }
        fail_msg("expected one problem of %lld with '%s'", (long long)id,
                 needle);
    }
    store_audit_report_clear(&r);
}

static void test_verify_intact(void **state)
{
    struct fixture *f = *state;
    struct store_audit_report r;
    struct store_event *ev = NULL;
    struct store_event_filter ends = {.kind = "session.end"};
    size_t n = 0;
    int64_t rec = 0;
    int64_t a = full_session(f, &rec);
    int64_t b = start_session(f, "gw1", "bob", "db1", "exec");
    int64_t c = start_session(f, "gw1", "bob", "db1", "exec");
    struct store_session_end e = {.reason = "backend closed"};

    assert_int_equal(store_session_end(f->st, c, &e), GW_OK);
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_OK);
    assert_int_equal(r.sessions_verified, 2);
    assert_int_equal(r.sessions_open, 1);
    assert_int_equal(r.nopen, 1);
    assert_int_equal(r.open[0].first, b);
    assert_int_equal(r.sessions_uncovered, 0);
    assert_int_equal(r.events, count_rows(f, "events"));
    assert_int_equal(r.head.id, r.events);
    assert_int_equal(strlen(r.head.hash), 64);
    store_audit_report_clear(&r);

    /* What session.end binds: the row, the recording, the transfers. */
    assert_int_equal(store_event_list(f->st, &ends, &ev, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_non_null(strstr(ev[0].detail, " row="));
    assert_non_null(strstr(ev[0].detail, " transfers="));
    assert_null(strstr(ev[0].detail, "recording=none"));
    assert_non_null(strstr(ev[1].detail, "recording=none"));
    store_event_list_free(ev, n);
    (void)a;
}

static void test_verify_chunk_tampering(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);

    expect_verified(f, 1);
    raw_sql(f->path, "UPDATE recording_chunks SET data = '[0.1, \"o\", "
                     "\"X\"]\n' WHERE seq = 0");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "chunk seq 0");
}

static void test_verify_chunk_resealed(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);

    /* The last chunk gone, every remaining digest still right: only the
     * digest in session.end tells. */
    raw_sql(f->path, "DELETE FROM recording_chunks WHERE seq = 1");
    expect_one_problem(f, STORE_AUDIT_SESSION, id,
                       "its chunks never had the state event");
}

static void test_verify_recording_header(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);

    raw_sql(f->path, "UPDATE recordings SET header = '{}'");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "chunk seq 0");
}

static void test_verify_recording_deleted(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);
    int64_t other = start_session(f, "gw1", "bob", "db1", "shell");
    struct store_session_end e = {.reason = "client closed"};

    assert_int_equal(store_session_end(f->st, other, &e), GW_OK);
    raw_sql(f->path, "DELETE FROM recording_chunks; DELETE FROM recordings");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "it was deleted");
    /* A recording put under a session that had none. */
    raw_sql(f->path, "INSERT INTO recordings (session_id, header, created_at) "
                     "VALUES (2, '{}', 'x')");
    raw_sql(f->path, "UPDATE recordings SET session_id = (SELECT max(id) "
                     "FROM sessions)");
    struct store_audit_report r;
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_ERR_INVALID);
    assert_true(has_problem(&r, STORE_AUDIT_SESSION, other, "added"));
    store_audit_report_clear(&r);
}

static void test_verify_degraded_note_removed(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = start_session(f, "gw1", "alice", "web1", "shell");
    struct store_session_end e = {.reason = "client closed"};

    assert_int_equal(store_recording_start(f->st, id, "{}", &rec), GW_OK);
    assert_int_equal(store_recording_degraded(f->st, rec, "queue full"), GW_OK);
    assert_int_equal(store_event_addf(f->st, "recording.degraded", "alice",
                                      NULL, "session=%lld reason=\"x\"",
                                      (long long)id),
                     GW_OK);
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    expect_verified(f, 1);
    raw_sql(f->path, "UPDATE recordings SET degraded = NULL");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "degraded note");
}

static void test_verify_session_row_tampering(void **state)
{
    struct fixture *f = *state;
    static const char *const edits[] = {
        "UPDATE sessions SET bytes_down = 1",
        "UPDATE sessions SET end_reason = 'idle timeout'",
        "UPDATE sessions SET host = 'db1'",
        "UPDATE sessions SET command = NULL",
        "UPDATE sessions SET started_at = '2020-01-01T00:00:00.000Z'",
        "UPDATE sessions SET exit_status = 1",
        "UPDATE sessions SET username = 'bob'",
    };
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);

    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char path[256];
        copy_db(f, "copy", path, sizeof(path));
        raw_sql(f->path, edits[i]);
        expect_one_problem(f, STORE_AUDIT_SESSION, id, "a column was changed");
        /* Back to the copy for the next edit. */
        restore_db(f, "copy", path);
        expect_verified(f, 1);
    }
    /* Reopened: an ended session made to look open. */
    raw_sql(f->path, "UPDATE sessions SET ended_at = NULL");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "ended_at was cleared");
}

static void test_verify_session_rows_added_removed(void **state)
{
    struct fixture *f = *state;
    struct store_audit_report r;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);

    /* Deleting a session (and what hangs on it) leaves its events. */
    raw_sql(f->path, "DELETE FROM recording_chunks; DELETE FROM recordings; "
                     "DELETE FROM file_transfers; DELETE FROM sessions");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "no sessions row");
    /* A row sshgate never wrote. */
    raw_sql(f->path,
            "INSERT INTO sessions (id, node, conn_uid, channel, username, "
            "client_addr, kind, started_at, ended_at, created_at) VALUES "
            "(2, 'gw1', 'x', 1, 'eve', '1.2.3.4:5', 'shell', 'a', 'b', 'a'), "
            "(3, 'gw1', 'x', 2, 'eve', '1.2.3.4:5', 'shell', 'a', NULL, 'a')");
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_ERR_INVALID);
    assert_int_equal(r.problems_total, 3);
    assert_true(
        has_problem(&r, STORE_AUDIT_SESSION, id + 1, "no session.end event"));
    assert_true(
        has_problem(&r, STORE_AUDIT_SESSION, id + 2, "no session.start event"));
    store_audit_report_clear(&r);
}

static void test_verify_transfer_tampering(void **state)
{
    struct fixture *f = *state;
    struct store_transfer t = {
        .operation = "write", .path = "/tmp/planted", .status = "ok"};
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);
    char path[256];

    copy_db(f, "copy", path, sizeof(path));
    raw_sql(f->path, "UPDATE file_transfers SET path = '/etc/shadow'");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "file transfers");
    raw_sql(f->path, "DELETE FROM file_transfers");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "file transfers");

    /* Added by hand (a store that writes transfers of ended sessions
     * binds them with session.amend; raw SQL does not). */
    store_close(f->st);
    f->st = NULL;
    raw_sql(path, "INSERT INTO file_transfers (session_id, operation, path, "
                  "status, created_at) VALUES (1, 'read', '/x', 'ok', 'now')");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    expect_one_problem(f, STORE_AUDIT_SESSION, id,
                       "file transfer 2 was stored after event");
    t.session_id = id;
    /* A late transfer through the store binds itself, not the row put in
     * by hand before it. */
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    expect_one_problem(f, STORE_AUDIT_SESSION, id,
                       "file transfer 2 was stored after event");
}

static void test_verify_late_records(void **state)
{
    struct fixture *f = *state;
    struct store_session_end e = {.reason = "client closed"};
    struct store_transfer t = {
        .operation = "write", .path = "/tmp/late", .status = "incomplete"};
    struct store_event_filter amends = {.kind = "session.amend"};
    struct store_event *ev = NULL;
    size_t n = 0;
    int64_t id = start_session(f, "gw1", "alice", "web1", "shell");
    int64_t rec = 0;

    /* The recording writer is behind: the session ends first. */
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    assert_int_equal(store_recording_start(f->st, id, "{}", &rec), GW_OK);
    assert_int_equal(store_recording_append(f->st, rec, 0, "[1]\n", 4), GW_OK);
    t.session_id = id;
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
    assert_int_equal(store_event_list(f->st, &amends, &ev, &n), GW_OK);
    assert_int_equal(n, 3);
    assert_non_null(strstr(ev[0].detail, "recording="));
    assert_non_null(strstr(ev[2].detail, "transfers="));
    store_event_list_free(ev, n);
    expect_verified(f, 1);
    /* The late chunk is covered like any other. */
    raw_sql(f->path, "UPDATE recording_chunks SET data = '[2]\n'");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "chunk seq 0");
}

static void test_verify_late_rebinding(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int64_t id = full_session(f, &rec);
    char sql[256];

    /* A chunk forged after the end, with a digest that chains, then a real
     * late chunk: the real one's session.amend does not vouch for it. */
    raw_sql(f->path,
            "INSERT INTO recording_chunks (recording_id, seq, data, "
            "created_at, digest) SELECT recording_id, 2, '[x]\n', 'x', "
            "digest FROM recording_chunks WHERE seq = 1");
    assert_int_equal(store_recording_append(f->st, rec, 3, "[3]\n", 4), GW_OK);
    struct store_audit_report r;
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_ERR_INVALID);
    assert_true(has_problem(&r, STORE_AUDIT_SESSION, id, "chunk seq 2"));
    store_audit_report_clear(&r);
    /* A bound late chunk removed. */
    snprintf(sql, sizeof(sql),
             "DELETE FROM recording_chunks WHERE seq >= 2; UPDATE recordings "
             "SET digest = NULL");
    raw_sql(f->path, sql);
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "which is not there");
}

static void test_verify_events_each_problem(void **state)
{
    struct fixture *f = *state;
    struct store_audit_report r;

    add_events(f, 8);
    raw_sql(f->path, "UPDATE events SET detail = 'x' WHERE id = 2; "
                     "DELETE FROM events WHERE id IN (5, 6)");
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_ERR_INVALID);
    assert_int_equal(r.problems_total, 2);
    assert_true(has_problem(&r, STORE_AUDIT_EVENT, 2, "does not match"));
    assert_true(
        has_problem(&r, STORE_AUDIT_EVENT, 5, "up to 6: the rows were"));
    assert_int_equal(r.events, 6);
    store_audit_report_clear(&r);
}

/* Recompute every hash from event `from` on, as someone with write access
 * who knows the format (docs/audit-schema.md) would. */
static void put_test_field(struct gw_sha256 *h, const char *v)
{
    char prefix[32];
    if (v == NULL) {
        assert_int_equal(gw_sha256_update(h, "~;", 2), GW_OK);
        return;
    }
    snprintf(prefix, sizeof(prefix), "%zu:", strlen(v));
    assert_int_equal(gw_sha256_update(h, prefix, strlen(prefix)), GW_OK);
    assert_int_equal(gw_sha256_update(h, v, strlen(v)), GW_OK);
    assert_int_equal(gw_sha256_update(h, ";", 1), GW_OK);
}

static void reseal_chain(struct fixture *f)
{
    struct raw_rows rows;
    struct gw_sha256 *h = NULL;
    char prev[GW_SHA256_HEX_LEN] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    char hash[GW_SHA256_HEX_LEN];

    assert_int_equal(gw_sha256_new(&h), GW_OK);
    raw_query(f->path,
              "SELECT id, created_at, kind, username, client_addr, detail "
              "FROM events ORDER BY id",
              &rows);
    assert_true(rows.nrows > 0);
    for (int r = 0; r < rows.nrows; r++) {
        const char *values[3];
        assert_int_equal(gw_sha256_update(h, prev, 64), GW_OK);
        for (int c = 0; c < 6; c++) {
            put_test_field(h, raw_cell(&rows, r, c));
        }
        assert_int_equal(gw_sha256_final_hex(h, hash), GW_OK);
        values[0] = raw_cell(&rows, r, 0);
        values[1] = prev;
        values[2] = hash;
        raw_sql_params(f->path,
                       "UPDATE events SET prev_hash = $2, hash = $3 WHERE "
                       "id = CAST($1 AS BIGINT)",
                       3, values);
        memcpy(prev, hash, sizeof(prev));
    }
    raw_rows_free(&rows);
    gw_sha256_free(h);
}

static void test_verify_head(void **state)
{
    struct fixture *f = *state;
    struct store_audit_head head;
    struct store_audit_head kept;
    struct store_audit_report r;
    char text[128];

    assert_int_equal(store_audit_head(f->st, &head), GW_ERR_NOTFOUND);
    add_events(f, 6);
    assert_int_equal(store_audit_head(f->st, &kept), GW_OK);
    assert_int_equal(kept.id, 6);
    /* ID:HASH round trip; upper case hex is the same hash. */
    snprintf(text, sizeof(text), "%lld:%s", (long long)kept.id, kept.hash);
    for (char *p = text; *p != '\0'; p++) {
        *p = (char)toupper((unsigned char)*p);
    }
    assert_int_equal(store_audit_head_parse(text, &head), GW_OK);
    assert_int_equal(head.id, 6);
    assert_string_equal(head.hash, kept.hash);
    assert_int_equal(store_audit_head_parse("6", &head), GW_ERR_INVALID);
    assert_int_equal(store_audit_head_parse("0:ab", &head), GW_ERR_INVALID);
    assert_int_equal(store_audit_head_parse("x:ab", &head), GW_ERR_INVALID);
    text[10] = 'g';
    assert_int_equal(store_audit_head_parse(text, &head), GW_ERR_INVALID);

    /* The chain goes on past the head: fine. */
    add_events(f, 2);
    assert_int_equal(store_audit_verify(f->st, &kept, &r), GW_OK);
    assert_true(r.head_given);
    assert_true(r.head_ok);
    assert_int_equal(r.head.id, 8);
    store_audit_report_clear(&r);

    /* The tail deleted, and the id counter too (sqlite_sequence,
     * sshgate_event_seq): only the head tells. */
    raw_sql(f->path, BY_ENGINE(f,
                               "DELETE FROM events WHERE id >= 5; UPDATE "
                               "sqlite_sequence SET seq = 4 WHERE name = "
                               "'events'",
                               "DELETE FROM events WHERE id >= 5; UPDATE "
                               "sshgate_event_seq SET last_id = 4"));
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_OK);
    store_audit_report_clear(&r);
    assert_int_equal(store_audit_verify(f->st, &kept, &r), GW_ERR_INVALID);
    assert_false(r.head_ok);
    assert_int_equal(r.problems_total, 1);
    assert_true(has_problem(&r, STORE_AUDIT_HEAD, 6, "ends at event 4"));
    store_audit_report_clear(&r);
}

static void test_verify_head_rewritten_chain(void **state)
{
    struct fixture *f = *state;
    struct store_audit_head kept;
    struct store_audit_report r;

    add_events(f, 5);
    assert_int_equal(store_audit_head(f->st, &kept), GW_OK);
    add_events(f, 3);
    /* An edit with every hash recomputed is not seen by the chain... */
    raw_sql(f->path, "UPDATE events SET username = 'mallory' WHERE id = 2");
    reseal_chain(f);
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_OK);
    store_audit_report_clear(&r);
    /* ...but a head kept before it is. */
    assert_int_equal(store_audit_verify(f->st, &kept, &r), GW_ERR_INVALID);
    assert_true(has_problem(&r, STORE_AUDIT_HEAD, 5, "rewritten"));
    store_audit_report_clear(&r);
}

/* ---- schema 2 files ---------------------------------------------------- */

/* A sessions row and its events as schema 2 wrote them (no digests). */
static int64_t v2_session(struct fixture *f, const char *conn, int channel,
                          bool ended)
{
    char sql[512];
    int64_t id = count_rows(f, "sessions") + 1;
    snprintf(sql, sizeof(sql),
             "INSERT INTO sessions (id, node, conn_uid, channel, username, "
             "client_addr, host, login, kind, pty, started_at, ended_at, "
             "end_reason, created_at) VALUES (%lld, 'gw1', '%s', %d, 'alice', "
             "'127.0.0.1:1', 'web1', 'deploy', 'shell', 1, "
             "'2026-01-01T00:00:00.000Z', %s, %s, "
             "'2026-01-01T00:00:00.000Z')",
             (long long)id, conn, channel,
             ended ? "'2026-01-01T00:01:00.000Z'" : "NULL",
             ended ? "'client closed'" : "NULL");
    raw_sql(f->path, sql);
    assert_int_equal(store_event_addf(f->st, "session.start", "alice",
                                      "127.0.0.1:1",
                                      "session=%lld conn=%s channel=%d "
                                      "kind=shell host=web1 login=deploy "
                                      "pty=yes",
                                      (long long)id, conn, channel),
                     GW_OK);
    if (ended) {
        assert_int_equal(
            store_event_addf(f->st, "session.end", "alice", "127.0.0.1:1",
                             "session=%lld kind=shell bytes_up=0 "
                             "bytes_down=0 exit_status=- exit_signal=- "
                             "reason=\"client closed\"",
                             (long long)id),
            GW_OK);
    }
    snprintf(sql, sizeof(sql),
             "INSERT INTO recordings (session_id, header, chunks, bytes, "
             "created_at) VALUES (%lld, '{}', 1, 4, 'x'); "
             "INSERT INTO recording_chunks (recording_id, seq, data, "
             "created_at) VALUES (last_insert_rowid(), 0, '[0]\n', 'x')",
             (long long)id);
    raw_sql(f->path, sql);
    return id;
}

/* Take the file back to schema 2: what step 3 adds, removed. */
static void downgrade_to_v2(struct fixture *f)
{
    store_close(f->st);
    f->st = NULL;
    raw_sql(f->path, "DROP INDEX file_transfers_file; "
                     "ALTER TABLE file_transfers DROP COLUMN file_seq; "
                     "DROP TABLE nodes; DROP INDEX IF EXISTS sessions_conn; "
                     "ALTER TABLE recording_chunks DROP COLUMN digest; "
                     "ALTER TABLE recordings DROP COLUMN digest; "
                     "PRAGMA user_version = 2");
}

static void test_migrate_v2_with_data(void **state)
{
    struct fixture *f = *state;
    struct store_session_end e = {.reason = "client closed"};
    struct store_audit_report r;
    char text[128];
    int64_t found = 0;
    struct store_recording recording;
    int64_t rec = 0;
    int v = 0;

    if (is_pg(f)) {
        print_message("no PostgreSQL database was ever at schema 2: the "
                      "engine came with schema 5\n");
        skip();
    }
    /* Schema 2 had no key on (conn_uid, channel). */
    raw_sql(f->path, "DROP INDEX sessions_conn");
    int64_t old = v2_session(f, "a-1", 1, true);
    int64_t dup1 = v2_session(f, "a-2", 1, true);
    int64_t dup2 = v2_session(f, "a-2", 1, true);
    int64_t open = v2_session(f, "a-3", 1, false);
    downgrade_to_v2(f);
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    db_text(f, "SELECT count(*) FROM recording_chunks WHERE digest IS NULL",
            text, sizeof(text));
    assert_string_equal(text, "4");
    /* Older rows share a natural key: the index is not UNIQUE, and the
     * newest is found. */
    db_text(f, "SELECT sql FROM sqlite_master WHERE name = 'sessions_conn'",
            text, sizeof(text));
    assert_string_equal(text,
                        "CREATE INDEX sessions_conn ON sessions(conn_uid, "
                        "channel)");
    assert_int_equal(store_session_find(f->st, "a-2", 1, &found), GW_OK);
    assert_int_equal(found, dup2);

    /* The open session goes on under schema 3: one more chunk, the end. */
    assert_int_equal(store_recording_get(f->st, open, &recording), GW_OK);
    store_recording_clear(&recording);
    rec = recording.id;
    assert_int_equal(store_recording_append(f->st, rec, 1, "[1]\n", 4), GW_OK);
    assert_int_equal(store_session_end(f->st, open, &e), GW_OK);

    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_OK);
    assert_int_equal(r.sessions_verified, 1);
    assert_int_equal(r.sessions_uncovered, 3);
    assert_int_equal(r.nuncovered, 1);
    assert_int_equal(r.uncovered[0].first, old);
    assert_int_equal(r.uncovered[0].last, dup2);
    store_audit_report_clear(&r);
    /* Not covered means not covered: an edit of an old row passes. */
    raw_sql(f->path, "UPDATE sessions SET host = 'db1' WHERE id = 2");
    assert_int_equal(store_audit_verify(f->st, NULL, &r), GW_OK);
    store_audit_report_clear(&r);
    /* The session that ended under schema 3 is covered, its old chunk
     * too: the first chunk with a digest of its own names the change. */
    raw_sql(f->path, "UPDATE recording_chunks SET data = '[9]\n' WHERE "
                     "recording_id = 4 AND seq = 0");
    expect_one_problem(f, STORE_AUDIT_SESSION, open,
                       "recording 4, chunk seq 1");
    (void)dup1;
}

static void test_migrate_v3_idempotent(void **state)
{
    struct fixture *f = *state;
    int64_t rec = 0;
    int v = 0;
    char text[160];

    full_session(f, &rec);
    assert_int_equal(node_beat(f, "gw1", "1", T0, T0), GW_OK);
    store_close(f->st);
    f->st = NULL;
    /* Step 3 (and 4) again over a file that has it: nothing changes. */
    raw_sql(f->path, BY_ENGINE(f, "PRAGMA user_version = 2",
                               "DELETE FROM sshgate_schema WHERE version > 2"));
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    assert_int_equal(count_rows(f, "nodes"), 1);
    db_text(f,
            BY_ENGINE(f,
                      "SELECT sql FROM sqlite_master WHERE name = "
                      "'sessions_conn'",
                      "SELECT indexdef FROM pg_indexes WHERE indexname = "
                      "'sessions_conn'"),
            text, sizeof(text));
    assert_string_equal(text,
                        BY_ENGINE(f,
                                  "CREATE UNIQUE INDEX sessions_conn ON "
                                  "sessions(conn_uid, channel)",
                                  "CREATE UNIQUE INDEX sessions_conn ON "
                                  "public.sessions USING btree (conn_uid, "
                                  "channel)"));
    expect_verified(f, 1);
}

/* ---- schema 4: a file's row, from its OPEN to its CLOSE ---------------- */

static void put_file(struct fixture *f, int64_t session, uint64_t seq,
                     const char *op, const char *path, const char *status,
                     uint64_t written, const char *sha, int64_t at_ms)
{
    struct store_transfer t;
    char copy[64];

    memset(&t, 0, sizeof(t));
    t.session_id = session;
    t.file_seq = seq;
    snprintf(t.operation, sizeof(t.operation), "%s", op);
    snprintf(copy, sizeof(copy), "%s", path);
    t.path = copy;
    t.bytes_written = written;
    snprintf(t.sha256, sizeof(t.sha256), "%s", sha);
    snprintf(t.status, sizeof(t.status), "%s", status);
    t.at_ms = at_ms;
    assert_int_equal(store_transfer_add(f->st, &t), GW_OK);
}

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_transfer_file_seq(void **state)
{
    struct fixture *f = *state;
    struct store_session_end e = {.reason = "backend closed"};
    struct store_transfer *list = NULL;
    size_t n = 0;
    int64_t id = start_session(f, "gw1", "alice", "web1", "sftp");
    int64_t other = start_session(f, "gw1", "alice", "web1", "sftp");

    /* Opened: on record at once, as incomplete. */
    put_file(f, id, 1, "write", "/up/a", "incomplete", 0, "", T0);
    put_file(f, id, 0, "mkdir", "/up/d", "ok", 0, "", T0 + 1);
    put_file(f, id, 2, "read", "/etc/motd", "incomplete", 0, "", T0 + 2);
    /* The same number in another channel is another file. */
    put_file(f, other, 1, "write", "/up/a", "incomplete", 0, "", T0);
    /* Closed: the same row, in its final state. */
    put_file(f, id, 1, "write", "/up/a", "ok", 300, SHA_A, T0 + 5000);
    assert_int_equal(store_transfer_list(f->st, id, &list, &n), GW_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].path, "/up/a");
    assert_string_equal(list[0].status, "ok");
    assert_int_equal(list[0].bytes_written, 300);
    assert_string_equal(list[0].sha256, SHA_A);
    assert_int_equal(list[0].file_seq, 1);
    /* when it happened: the close */
    assert_string_equal(list[0].created_at, "2026-11-26T19:14:30.123Z");
    assert_string_equal(list[1].operation, "mkdir");
    assert_int_equal(list[1].file_seq, 0);
    assert_string_equal(list[2].status, "incomplete");
    assert_int_equal(list[2].file_seq, 2);
    store_transfer_list_free(list, n);
    assert_int_equal(count_rows(f, "file_transfers"), 4);
    assert_int_equal(count_rows(f, "file_transfers WHERE file_seq IS NULL"), 1);
    /* The end binds the rows as they are then; no amend was needed. */
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    assert_int_equal(store_session_end(f->st, other, &e), GW_OK);
    assert_int_equal(count_rows(f, "events WHERE kind = 'session.amend'"), 0);
    expect_verified(f, 2);
    /* file_seq is bound too... */
    raw_sql(f->path, "UPDATE file_transfers SET file_seq = 7 WHERE id = 3");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "file transfers");
    /* ...and a file has one row per session. */
    raw_sql(f->path, "UPDATE file_transfers SET file_seq = 2 WHERE id = 3");
    assert_int_equal(raw_sql_rc(f->path,
                                "INSERT INTO file_transfers (session_id, "
                                "operation, path, status, created_at, "
                                "file_seq) VALUES (1, 'read', '/x', 'ok', "
                                "'now', 2)"),
                     RAW_CONSTRAINT);
}

/* The final state of a file stored after its session ended (the writer
 * was behind): the row is replaced, and a session.amend binds it. */
static void test_verify_replaced_after_end(void **state)
{
    struct fixture *f = *state;
    struct store_session_end e = {.reason = "backend closed"};
    struct store_event_filter amends = {.kind = "session.amend"};
    struct store_event *ev = NULL;
    struct store_transfer *list = NULL;
    char ended[GW_SHA256_HEX_LEN] = "";
    char want[160];
    char path[256];
    size_t n = 0;
    int64_t id = start_session(f, "gw1", "alice", "web1", "sftp");

    put_file(f, id, 1, "write", "/up/a", "incomplete", 0, "", T0);
    put_file(f, id, 2, "write", "/up/b", "incomplete", 0, "", T0);
    assert_int_equal(store_session_end(f->st, id, &e), GW_OK);
    db_text(f,
            BY_ENGINE(f,
                      "SELECT substr(detail, instr(detail, 'transfers=') + "
                      "10, 64) FROM events WHERE kind = 'session.end'",
                      "SELECT substr(detail, strpos(detail, 'transfers=') + "
                      "10, 64) FROM events WHERE kind = 'session.end'"),
            ended, sizeof(ended));
    copy_db(f, "copy", path, sizeof(path));
    put_file(f, id, 1, "write", "/up/a", "ok", 300, SHA_A, T0 + 5000);
    assert_int_equal(store_transfer_list(f->st, id, &list, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].status, "ok");
    store_transfer_list_free(list, n);
    assert_int_equal(store_event_list(f->st, &amends, &ev, &n), GW_OK);
    assert_int_equal(n, 1);
    snprintf(want, sizeof(want), "transfer=1 replaced=%s", ended);
    assert_non_null(strstr(ev[0].detail, want));
    store_event_list_free(ev, n);
    expect_verified(f, 1);
    /* A late new row and a second replacement chain on. */
    put_file(f, id, 3, "read", "/up/c", "incomplete", 0, "", T0 + 6000);
    put_file(f, id, 2, "write", "/up/b", "incomplete", 50, "", T0 + 7000);
    expect_verified(f, 1);
    /* The replaced row edited afterwards. */
    raw_sql(f->path, "UPDATE file_transfers SET bytes_written = 1 WHERE "
                     "id = 1");
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "file transfers");

    /* Back to the end: a row put in by hand before the replacement is not
     * vouched for by it. */
    store_close(f->st);
    f->st = NULL;
    raw_sql(path, "INSERT INTO file_transfers (session_id, operation, path, "
                  "status, created_at) VALUES (1, 'read', '/x', 'ok', 'now')");
    assert_int_equal(store_open(path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    put_file(f, id, 1, "write", "/up/a", "ok", 300, SHA_A, T0 + 5000);
    expect_one_problem(f, STORE_AUDIT_SESSION, id, "replaced file transfer 1");
}

static void test_migrate_v3_with_data(void **state)
{
    struct fixture *f = *state;
    struct store_session_end e = {.reason = "backend closed"};
    struct store_transfer *list = NULL;
    char text[256];
    size_t n = 0;
    int64_t rec = 0;
    int64_t old = full_session(f, &rec);
    int64_t open = start_session(f, "gw1", "alice", "web1", "sftp");
    int v = 0;

    put_file(f, open, 0, "write", "/before", "ok", 3, "", T0);
    /* Back to schema 3: what step 4 adds, removed. */
    store_close(f->st);
    f->st = NULL;
    raw_sql(f->path, BY_ENGINE(f,
                               "DROP INDEX file_transfers_file; "
                               "ALTER TABLE file_transfers DROP COLUMN "
                               "file_seq; PRAGMA user_version = 3",
                               "DROP INDEX file_transfers_file; "
                               "ALTER TABLE file_transfers DROP COLUMN "
                               "file_seq; DELETE FROM sshgate_schema WHERE "
                               "version > 3"));
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    db_text(f,
            BY_ENGINE(f,
                      "SELECT sql FROM sqlite_master WHERE name = "
                      "'file_transfers_file'",
                      "SELECT indexdef FROM pg_indexes WHERE indexname = "
                      "'file_transfers_file'"),
            text, sizeof(text));
    assert_string_equal(text,
                        BY_ENGINE(f,
                                  "CREATE UNIQUE INDEX file_transfers_file ON "
                                  "file_transfers(session_id, file_seq) "
                                  "WHERE file_seq IS NOT NULL",
                                  "CREATE UNIQUE INDEX file_transfers_file ON "
                                  "public.file_transfers USING btree "
                                  "(session_id, file_seq) WHERE (file_seq IS "
                                  "NOT NULL)"));
    assert_int_equal(count_rows(f, "file_transfers WHERE file_seq IS NULL"), 2);
    /* What schema 3 bound still verifies; the open session goes on with a
     * file in flight, then closed. */
    expect_verified(f, 1);
    put_file(f, open, 1, "write", "/up/a", "incomplete", 0, "", T0 + 1);
    put_file(f, open, 1, "write", "/up/a", "ok", 9, SHA_A, T0 + 2);
    assert_int_equal(store_session_end(f->st, open, &e), GW_OK);
    assert_int_equal(store_transfer_list(f->st, open, &list, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].file_seq, 0);
    assert_int_equal(list[1].file_seq, 1);
    store_transfer_list_free(list, n);
    expect_verified(f, 2);
    /* Step 4 again over a file that has it: nothing changes. */
    store_close(f->st);
    f->st = NULL;
    raw_sql(f->path, BY_ENGINE(f, "PRAGMA user_version = 3",
                               "DELETE FROM sshgate_schema WHERE version > 3"));
    assert_int_equal(store_open(f->path, STORE_OPEN_EXISTING, &f->st), GW_OK);
    assert_int_equal(store_schema_version(f->st, &v), GW_OK);
    assert_int_equal(v, store_schema_latest());
    assert_int_equal(count_rows(f, "file_transfers"), 3);
    expect_verified(f, 2);
    (void)old;
}

/* ---- crashes --------------------------------------------------------- */

static void test_orphans_at_heartbeat(void **state)
{
    struct fixture *f = *state;
    struct store_session_start s = {.node = "gw1",
                                    .conn_uid = "c-5",
                                    .channel = 1,
                                    .user = "alice",
                                    .client = "127.0.0.1:4",
                                    .kind = "shell",
                                    .pty = true,
                                    .at_ms = T0};
    struct store_session one;
    struct store_recording rec;
    int64_t early = 0, late = 0, mine = 0, rec_id = 0, beat = 0;
    int closed = 0;

    assert_int_equal(store_session_start(f->st, &s, &early), GW_OK);
    assert_int_equal(store_recording_start(f->st, early, "{}", &rec_id), GW_OK);
    assert_int_equal(store_recording_append(f->st, rec_id, 0, "[1]\n", 4),
                     GW_OK);
    assert_int_equal(node_beat(f, "gw1", "1", T0 - 60000, T0 + 10000), GW_OK);
    /* Started after the last heartbeat: it cannot end before it began. */
    s.channel = 2;
    s.at_ms = T0 + 12000;
    assert_int_equal(store_session_start(f->st, &s, &late), GW_OK);

    /* The next run ("r2-") has a session of its own open already. */
    s.conn_uid = "r2-1";
    s.channel = 1;
    s.at_ms = T0 + 20000;
    assert_int_equal(store_session_start(f->st, &s, &mine), GW_OK);

    /* The next start: the node died some time after its last heartbeat;
     * the running daemon's own session is not an orphan. */
    assert_int_equal(store_node_last_heartbeat(f->st, "gw1", &beat), GW_OK);
    assert_int_equal(store_session_close_orphans_at(
                         f->st, "gw1", "r2-", "gateway restart", beat, &closed),
                     GW_OK);
    assert_int_equal(closed, 2);
    assert_int_equal(store_session_get(f->st, mine, &one), GW_OK);
    assert_string_equal(one.ended_at, "");
    store_session_clear(&one);
    assert_int_equal(store_session_end(f->st, mine,
                                       &(struct store_session_end){
                                           .reason = "client closed"}),
                     GW_OK);
    assert_int_equal(store_session_get(f->st, early, &one), GW_OK);
    assert_string_equal(one.ended_at, "2026-11-26T19:14:35.123Z");
    assert_string_equal(one.end_reason, "gateway restart");
    store_session_clear(&one);
    assert_int_equal(store_session_get(f->st, late, &one), GW_OK);
    assert_string_equal(one.ended_at, one.started_at);
    store_session_clear(&one);
    assert_int_equal(store_recording_get(f->st, early, &rec), GW_OK);
    assert_string_equal(rec.degraded, "cut by a crash");
    store_recording_clear(&rec);
    assert_int_equal(count_rows(f, "events WHERE kind = 'recording.degraded'"),
                     1);
    expect_verified(f, 3);
    /* Nothing left open. */
    assert_int_equal(store_session_close_orphans(f->st, "gw1", "x", &closed),
                     GW_OK);
    assert_int_equal(closed, 0);
}

/* The access generation: 0 until bumped, one more per bump, and a bump
 * rolled back with its transaction is not seen. */
static void test_access_generation(void **state)
{
    struct fixture *f = *state;
    int64_t gen = -1;

    assert_int_equal(store_access_generation(f->st, &gen), GW_OK);
    assert_int_equal(gen, 0);
    assert_int_equal(store_access_bump(f->st), GW_OK);
    assert_int_equal(store_access_bump(f->st), GW_OK);
    assert_int_equal(store_access_generation(f->st, &gen), GW_OK);
    assert_int_equal(gen, 2);
    assert_int_equal(store_begin(f->st), GW_OK);
    assert_int_equal(store_access_bump(f->st), GW_OK);
    assert_int_equal(store_access_generation(f->st, &gen), GW_OK);
    assert_int_equal(gen, 3);
    store_rollback(f->st);
    assert_int_equal(store_access_generation(f->st, &gen), GW_OK);
    assert_int_equal(gen, 2);
}

/* Connection kills and user kicks: what a daemon of node and run prefix
 * takes, and that a handled request is not taken again. */
static void test_conn_kills(void **state)
{
    struct fixture *f = *state;
    struct store_conn_kill *k = NULL;
    size_t n = 0;

    assert_int_equal(store_user_add(f->st, "alice", false, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(store_conn_kill_request(f->st, "18f00a-7", "root"), GW_OK);
    assert_int_equal(store_conn_kill_request(f->st, "99aa-1", "root"), GW_OK);
    assert_int_equal(store_conn_kill_request(f->st, "nope", "root"),
                     GW_ERR_INVALID);
    assert_int_equal(store_conn_kill_request(f->st, "18f00a-", "root"),
                     GW_ERR_INVALID);
    assert_int_equal(store_user_kick_request(f->st, "gw1", "alice", "root"),
                     GW_OK);
    assert_int_equal(store_user_kick_request(f->st, "gw2", "alice", "root"),
                     GW_OK);
    assert_int_equal(store_user_kick_request(f->st, "gw1", "bob", "root"),
                     GW_ERR_NOTFOUND);

    assert_int_equal(store_conn_kills_pending(f->st, "gw1", "18f00a-", &k, &n),
                     GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(k[0].conn_uid, "18f00a-7");
    assert_string_equal(k[0].user, "");
    assert_string_equal(k[1].conn_uid, "");
    assert_string_equal(k[1].user, "alice");
    assert_int_equal(store_conn_kill_done(f->st, k[0].id), GW_OK);
    free(k);
    k = NULL;
    assert_int_equal(store_conn_kills_pending(f->st, "gw1", "18f00a-", &k, &n),
                     GW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(k[0].user, "alice");
    free(k);
    k = NULL;
    /* Another node's daemon of another run. */
    assert_int_equal(store_conn_kills_pending(f->st, "gw2", "99aa-", &k, &n),
                     GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(k[0].conn_uid, "99aa-1");
    assert_string_equal(k[1].user, "alice");
    free(k);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- source lockouts (a cluster's shared per-source counter) ---------- */

static enum store_source_verdict src_fail(struct fixture *f, const char *source,
                                          int threshold, int64_t now_ms)
{
    struct store_lockout rule = {
        .threshold = threshold, .seconds = 60, .now_ms = now_ms};
    enum store_source_verdict v = STORE_SOURCE_WAS_LOCKED;

    assert_int_equal(store_source_record_failure(f->st, source, &rule, &v),
                     GW_OK);
    return v;
}

static bool src_locked(struct fixture *f, const char *source, int64_t now_ms)
{
    bool locked = true;

    assert_int_equal(store_source_is_locked(f->st, source, now_ms, &locked),
                     GW_OK);
    return locked;
}

/* The row of source: "failures|window_started_at|locked_until". */
static void src_row(struct fixture *f, const char *source, char *out,
                    size_t len)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT failures || '|' || window_started_at || '|' || "
             "coalesce(locked_until, '-') FROM source_lockouts WHERE source "
             "= '%s'",
             source);
    db_text(f, sql, out, len);
}

static void expect_src_row(struct fixture *f, const char *source, int failures,
                           int64_t window_ms, int64_t locked_until_ms)
{
    char window[GW_TIME_LEN];
    char until[GW_TIME_LEN] = "-";
    char want[128];
    char got[128];

    gw_time_iso_ms(window_ms, window);
    if (locked_until_ms != 0) {
        gw_time_iso_ms(locked_until_ms, until);
    }
    snprintf(want, sizeof(want), "%d|%s|%s", failures, window, until);
    src_row(f, source, got, sizeof(got));
    assert_string_equal(got, want);
}

static void test_source_lockout(void **state)
{
    struct fixture *f = *state;
    const char *a = "203.0.113.0";
    const char *b = "2001:db8:1:2::";
    int64_t t0 = gw_time_wall_ms();
    int64_t end = t0 + 1000 + 60000;
    struct store_lockout rule = {.threshold = 0, .seconds = 60, .now_ms = t0};
    enum store_source_verdict v = STORE_SOURCE_WAS_LOCKED;
    int64_t deleted = -1;

    /* Nothing counted yet: not locked. */
    assert_false(src_locked(f, a, t0));
    /* The first failure opens the window, the third within 60 s locks. */
    assert_int_equal(src_fail(f, a, 3, t0), STORE_SOURCE_COUNTED);
    assert_int_equal(src_fail(f, a, 3, t0 + 500), STORE_SOURCE_COUNTED);
    expect_src_row(f, a, 2, t0, 0);
    assert_false(src_locked(f, a, t0 + 500));
    assert_int_equal(src_fail(f, a, 3, t0 + 1000), STORE_SOURCE_LOCKED_NOW);
    expect_src_row(f, a, 3, t0, end);
    assert_true(src_locked(f, a, t0 + 1000));
    assert_true(src_locked(f, a, end - 1));
    /* Locked: not counted, and the lock is not extended. */
    assert_int_equal(src_fail(f, a, 3, t0 + 2000), STORE_SOURCE_WAS_LOCKED);
    assert_int_equal(src_fail(f, a, 3, end - 1), STORE_SOURCE_WAS_LOCKED);
    expect_src_row(f, a, 3, t0, end);
    /* Another source is another counter. */
    assert_false(src_locked(f, b, t0 + 2000));
    assert_int_equal(src_fail(f, b, 3, t0), STORE_SOURCE_COUNTED);
    expect_src_row(f, b, 1, t0, 0);
    /* The lock ends at its end; the next failure opens a new window. */
    assert_false(src_locked(f, a, end));
    assert_int_equal(src_fail(f, a, 3, end), STORE_SOURCE_COUNTED);
    expect_src_row(f, a, 1, end, 0);
    /* A window that began 60 s ago or earlier is over: counting restarts,
     * so two failures in one window and one in the next lock nothing. */
    assert_int_equal(src_fail(f, b, 3, t0 + 59999), STORE_SOURCE_COUNTED);
    expect_src_row(f, b, 2, t0, 0);
    assert_int_equal(src_fail(f, b, 3, t0 + 60000), STORE_SOURCE_COUNTED);
    expect_src_row(f, b, 1, t0 + 60000, 0);
    /* A threshold of 1 locks at the first failure, of 0 never counts. */
    assert_int_equal(src_fail(f, "198.51.100.7", 1, t0),
                     STORE_SOURCE_LOCKED_NOW);
    assert_true(src_locked(f, "198.51.100.7", t0));
    assert_int_equal(
        store_source_record_failure(f->st, "198.51.100.8", &rule, &v), GW_OK);
    assert_int_equal(v, STORE_SOURCE_COUNTED);
    assert_int_equal(count_rows(f, "source_lockouts"), 3);

    /* Expiry at t0 + 61 s: 198.51.100.7's lock is over (deleted), a's
     * window of `end` and b's of t0 + 60 s are open (kept). */
    rule.now_ms = t0 + 61000;
    assert_int_equal(store_source_expire(f->st, &rule, &deleted), GW_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(count_rows(f, "source_lockouts"), 2);
    /* 121 s on, both windows are over too. */
    rule.now_ms = t0 + 121000;
    assert_int_equal(store_source_expire(f->st, &rule, &deleted), GW_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(count_rows(f, "source_lockouts"), 0);
    /* A lock in force is never expired. */
    assert_int_equal(src_fail(f, a, 1, t0 + 121000), STORE_SOURCE_LOCKED_NOW);
    rule.now_ms = t0 + 180000;
    assert_int_equal(store_source_expire(f->st, &rule, &deleted), GW_OK);
    assert_int_equal(deleted, 0);
    assert_true(src_locked(f, a, t0 + 180000));
}

struct src_counter {
    const char *path;
    int64_t now_ms;
    int rc;
    int verdicts[3]; /* by enum store_source_verdict */
};

static void *count_source_failures(void *arg)
{
    struct src_counter *w = arg;
    struct store_lockout rule = {
        .threshold = 10, .seconds = 60, .now_ms = w->now_ms};
    struct store *st = NULL;

    w->rc = store_open(w->path, STORE_OPEN_EXISTING, &st);
    for (int i = 0; i < 8 && w->rc == GW_OK; i++) {
        enum store_source_verdict v = STORE_SOURCE_COUNTED;
        w->rc = store_source_record_failure(st, "192.0.2.0", &rule, &v);
        w->verdicts[v]++;
    }
    store_close(st);
    return NULL;
}

/* Nodes counting one source at once: every failure counts, exactly one
 * locks, the rest find it locked (one connection per thread). */
static void test_source_lockout_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t threads[4];
    struct src_counter w[4];
    int total[3] = {0, 0, 0};
    int64_t t0 = gw_time_wall_ms();

    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].path = f->path;
        w[i].now_ms = t0;
        w[i].rc = -100;
        assert_int_equal(
            pthread_create(&threads[i], NULL, count_source_failures, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].rc, GW_OK);
        for (int k = 0; k < 3; k++) {
            total[k] += w[i].verdicts[k];
        }
    }
    assert_int_equal(total[STORE_SOURCE_COUNTED], 9);
    assert_int_equal(total[STORE_SOURCE_LOCKED_NOW], 1);
    assert_int_equal(total[STORE_SOURCE_WAS_LOCKED], 22);
    expect_src_row(f, "192.0.2.0", 10, t0, t0 + 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fresh_file_is_latest),
        T(test_rate_limits),
        T(test_migrate_v0_file),
        T(test_failed_migration_rolls_back),
        T(test_newer_schema_refused),
        T(test_open_errors),
        T(test_users),
        T(test_lockout),
        T(test_keys),
        T(test_hosts),
        T(test_host_routes),
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
        T(test_recording_chunks_after),
        T(test_single_row_reads),
        T(test_event_add_at),
        T(test_session_times),
        T(test_session_find),
        T(test_node_heartbeat),
        T(test_node_list),
        T(test_verify_intact),
        T(test_verify_chunk_tampering),
        T(test_verify_chunk_resealed),
        T(test_verify_recording_header),
        T(test_verify_recording_deleted),
        T(test_verify_degraded_note_removed),
        T(test_verify_session_row_tampering),
        T(test_verify_session_rows_added_removed),
        T(test_verify_transfer_tampering),
        T(test_verify_late_records),
        T(test_verify_late_rebinding),
        T(test_verify_events_each_problem),
        T(test_verify_head),
        T(test_verify_head_rewritten_chain),
        T(test_migrate_v2_with_data),
        T(test_migrate_v3_idempotent),
        T(test_transfer_file_seq),
        T(test_verify_replaced_after_end),
        T(test_migrate_v3_with_data),
        T(test_orphans_at_heartbeat),
        T(test_access_generation),
        T(test_conn_kills),
        T(test_source_lockout),
        T(test_source_lockout_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
