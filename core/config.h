/*
 * sshgated's configuration: a `key = value` file, every key declared once in
 * a table (core/config.c) with its type, default, bounds and whether SIGHUP
 * may change it in a running daemon.
 *
 * Life cycle: every key starts at its default, the file's lines are applied,
 * then command-line overrides, then cross-key checks. A loaded config is
 * immutable and reference-counted, so a reload can publish a new one while
 * connections keep the one they started with.
 */
#ifndef SSHGATE_CORE_CONFIG_H
#define SSHGATE_CORE_CONFIG_H

#include "core/cidr.h"
#include "core/export_spec.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* auth_methods bits */
#define GW_AUTH_PUBLICKEY 0x1u
#define GW_AUTH_PASSWORD  0x2u
#define GW_AUTH_KBDINT    0x4u

/* Longest accepted backoff step, whatever auth_failure_delay says. */
#define GW_AUTH_DELAY_CAP_MS 4000

/* Largest banner file we read. */
#define GW_BANNER_MAX 16384

/* What a user's lockout locks (lockout_scope). */
enum gw_lockout_scope {
    /* Only the password methods (password, keyboard-interactive): the
     * methods that can be guessed are the ones a guesser can lock. */
    GW_LOCKOUT_PASSWORD = 0,
    /* The whole user, every method (the behaviour before the setting). */
    GW_LOCKOUT_USER = 1,
};

/* max_startups = start:rate:full (sshd's MaxStartups); all 0 = "auto":
 * start a tenth of max_unauth_connections, rate 30, full
 * max_unauth_connections. */
struct gw_startups {
    long begin;
    long rate; /* percent */
    long full;
};

struct gw_listen_list {
    struct gw_addr *addrs;
    size_t n;
};

struct gw_config {
    struct gw_listen_list listen;
    char *db;
    char *node_name;      /* "" = the host name */
    long node_lost_after; /* seconds without a heartbeat: the node is lost */
    long backlog;
    long max_connections;
    long max_unauth_connections;
    long max_unauth_per_source;
    struct gw_startups max_startups;
    long source_prefix_v4; /* bits a source is keyed on */
    long source_prefix_v6;
    long source_penalty;     /* seconds per offence, 0 = off */
    long source_penalty_max; /* seconds */
    struct gw_cidr_list allowed_clients;
    struct gw_cidr_list blocked_clients;
    int proxy_protocol; /* enum gw_proxy_mode */
    /* Peers whose PROXY header is believed; with proxy_protocol on, no
     * one else may connect. */
    struct gw_cidr_list proxy_trusted;
    /* seconds; 0 = an event and a log line per refusal */
    long refusal_summary_interval;
    long version_timeout;    /* seconds until the client's version line */
    long login_grace_time;   /* seconds */
    long idle_timeout;       /* seconds, 0 = off */
    long keepalive_interval; /* seconds, 0 = off */
    long keepalive_count_max;
    long max_auth_attempts;
    unsigned auth_methods; /* GW_AUTH_* bits */
    long lockout_threshold;
    long lockout_time; /* seconds */
    int lockout_scope; /* enum gw_lockout_scope */
    long source_lockout_threshold;
    long auth_failure_delay; /* milliseconds */
    char *banner;            /* path, "" = none */
    char *banner_text;       /* its contents, NULL when there is none */
    char *kex;
    char *ciphers;
    char *macs;
    char *hostkey_algorithms;
    char *pubkey_accepted_algorithms;
    bool compression;
    int64_t rekey_limit; /* bytes, 0 = libssh's default */
    long rekey_time;     /* seconds, 0 = off */
    char target_separator;
    bool recording;
    bool record_input;
    int64_t recording_queue_size; /* bytes of chunks waiting for the DB */
    bool audit_failure_continue;  /* audit_failure = continue */
    long audit_failure_grace;     /* seconds of outage before refusing */
    char *audit_spool;            /* path, "" = "<db>.spool" or, for a server,
                                   * /var/lib/sshgate/<node>.spool */
    int64_t audit_spool_size;     /* bytes the spool may grow to */
    int64_t audit_queue_size;     /* bytes of records waiting in memory */
    /* The sinks of the SIEM export, and the bytes each may have waiting. */
    struct gw_export_list event_export;
    int64_t export_queue_size;
    int log_level; /* enum gw_log_level */
    char *server_version;
    long shutdown_grace; /* seconds */
    int64_t worker_stack_size;
    long backend_connect_timeout; /* seconds, each of connect / KEX / auth */
    /* Outbound proxy of every backend without one of its own (a URL,
     * core/proxy_url.h; "" for none), and the backends it is not used
     * for (networks and name patterns). */
    char *backend_proxy;
    char *backend_proxy_bypass;
    long max_jump_depth; /* jump hosts in a chain (host add --via) */
    char *env_allow;     /* comma-separated fnmatch patterns */
    long max_channels_per_connection;
    int64_t relay_buffer_size;     /* bytes, per direction of a socket relay */
    int64_t channel_window;        /* bytes, receive window per channel */
    int64_t channel_window_budget; /* bytes, all of a connection's windows */
    int64_t rate_limit;       /* bytes/s each way, all connections; 0: off */
    int64_t rate_limit_burst; /* bytes; 0: a quarter second of rate_limit */
    char *run_as_user;        /* switch to it after binding; "" = stay */
    /* Where /metrics, /healthz and /readyz are served; family 0: off. */
    struct gw_addr metrics_listen;

    /* Loader bookkeeping, not settings. */
    char *path;  /* the file read, NULL when none */
    char **text; /* each key's value as text, for reload diffs */
    atomic_int refs;
};

/* A command-line value that replaces the file's. origin names it in
 * errors ("--listen"). */
struct gw_config_override {
    const char *key;
    const char *value;
    const char *origin;
};

/* Receives one line per problem ("FILE:LINE: ..."). */
typedef void (*gw_config_report_fn)(void *ud, const char *line);

/*
 * An extra check of a parsed value, for rules core cannot know (which
 * algorithm names libssh implements). GW_OK, or GW_ERR_INVALID with a
 * detail message (gw_err_set).
 */
typedef int (*gw_config_check_fn)(const char *key, const char *value);

/*
 * Build a config from the defaults, the file at path (NULL: none) and the
 * overrides; check (may be NULL) vets each value set by the file or the
 * overrides. Every problem is reported through report (if not NULL); any
 * problem makes the load fail with GW_ERR_INVALID (GW_ERR_IO when the file
 * cannot be read, GW_ERR_NOMEM). On GW_OK *out holds one reference.
 */
int gw_config_load(const char *path, const struct gw_config_override *ov,
                   size_t nov, gw_config_check_fn check,
                   gw_config_report_fn report, void *ud,
                   struct gw_config **out);

/* Take / drop a reference (thread-safe). unref of the last frees; NULL is
 * fine for both. */
struct gw_config *gw_config_ref(struct gw_config *cfg);
void gw_config_unref(struct gw_config *cfg);

/* The text of key's value in cfg, or NULL for an unknown key. */
const char *gw_config_text(const struct gw_config *cfg, const char *key);

/* Called for every key whose value differs between two configs. */
typedef void (*gw_config_diff_fn)(void *ud, const char *key,
                                  const char *old_value, const char *new_value,
                                  bool reloadable);
void gw_config_diff(const struct gw_config *old_cfg,
                    const struct gw_config *new_cfg, gw_config_diff_fn fn,
                    void *ud);

/* The key table, for documentation checks and --help. */
size_t gw_config_key_count(void);
const char *gw_config_key_name(size_t i);
const char *gw_config_key_default(size_t i);
bool gw_config_key_reloadable(size_t i);

/*
 * Value parsers shared with the command line. Times are seconds with an
 * optional s/m/h/d suffix; sizes are bytes with an optional K/M/G suffix
 * (powers of 1024). GW_OK or GW_ERR_INVALID with a detail message.
 */
int gw_parse_seconds(const char *s, long min, long max, long *out);
int gw_parse_bytes(const char *s, int64_t min, int64_t max, int64_t *out);

/* lockout_scope's values as text, "password" or "user", both ways: the
 * setting, and the row sshgated keeps in the store's settings so that
 * sshgate-admin can tell what a lock locks. The parser gives GW_OK or
 * GW_ERR_INVALID with a detail message. */
int gw_lockout_scope_parse(const char *s, enum gw_lockout_scope *out);
const char *gw_lockout_scope_name(enum gw_lockout_scope scope);

#endif
