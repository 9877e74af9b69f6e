/*
 * sshgated: the command line, --check-config, and the call into
 * gateway/service.c, which runs the daemon. The work happens in the
 * rooms: gateway/front accepts, gateway/conn serves one connection per
 * worker thread (docs/architecture.md).
 */
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "gateway/service.h"
#include "store/db.h"

#include <getopt.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sshgated [-f CONFIG] [--db PATH] [--listen ADDR:PORT]... "
            "[--log-level LEVEL]\n"
            "                [--foreground] [--check-config] [--help] "
            "[--version]\n"
            "\n"
            "  -f CONFIG         read settings from CONFIG (key = value)\n"
            "  --db PATH         database (default %s)\n"
            "  --listen A:P      listen address, repeatable; replaces the "
            "config's list\n"
            "                    (IPv6 as [::1]:2222)\n"
            "  --log-level L     error, warn, info, verbose or debug\n"
            "  --foreground      log to stderr instead of syslog\n"
            "  --check-config    check the configuration and host keys, then "
            "exit\n"
            "\n"
            "SIGHUP reloads the configuration, SIGTERM stops gracefully.\n"
            "See docs/configuration.md for every setting.\n",
            SSHGATE_DEFAULT_DB);
}

static int append_listen(struct gw_service_options *opt, const char *value)
{
    size_t old = opt->listen != NULL ? strlen(opt->listen) : 0;
    char *joined = realloc(opt->listen, old + strlen(value) + 2);

    if (joined == NULL) {
        return GW_ERR_NOMEM;
    }
    if (old == 0) {
        strcpy(joined, value);
    } else {
        joined[old] = ',';
        strcpy(joined + old + 1, value);
    }
    opt->listen = joined;
    return GW_OK;
}

enum {
    OPT_DB = 256,
    OPT_LISTEN,
    OPT_LOG_LEVEL,
    OPT_FOREGROUND,
    OPT_CHECK,
    OPT_HELP,
    OPT_VERSION
};

/* 0 to run, 1 for a usage error, 2 after --help / --version. */
static int parse_args(int argc, char **argv, struct gw_service_options *opt)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            opt->config_path = optarg;
            break;
        case OPT_DB:
            opt->db = optarg;
            break;
        case OPT_LISTEN:
            if (append_listen(opt, optarg) != GW_OK) {
                return 1;
            }
            break;
        case OPT_LOG_LEVEL:
            opt->log_level = optarg;
            break;
        case OPT_FOREGROUND:
            opt->foreground = true;
            break;
        case OPT_CHECK:
            opt->check_config = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 2;
        case OPT_VERSION:
            printf("sshgated %s\n", SSHGATE_VERSION);
            return 2;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sshgated: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    return 0;
}

static void add_override(struct gw_service *rt, const char *key,
                         const char *value, const char *origin)
{
    if (value != NULL && rt->nov < GW_SERVICE_OVERRIDES_MAX) {
        rt->ov[rt->nov].key = key;
        rt->ov[rt->nov].value = value;
        rt->ov[rt->nov].origin = origin;
        rt->nov++;
    }
}

/* --check-config: every problem on its own line, then exit 0 or 1. */
static int check_config(struct gw_service *rt)
{
    struct gw_config *cfg = NULL;
    struct store *st = NULL;
    ssh_bind bind = NULL;
    int rc;

    gw_log_init("sshgated", false, GW_LOG_WARN);
    rc = gw_service_load_config(rt, gw_service_report_stderr, &cfg);
    if (rc != GW_OK) {
        return 1;
    }
    rc = gw_service_check_keys(cfg, &st, &bind);
    if (rc != GW_OK) {
        fprintf(stderr, "%s\n", gw_err_msg());
    }
    if (rc == GW_OK) {
        printf("config ok\n");
    }
    ssh_bind_free(bind);
    store_close(st);
    gw_config_unref(cfg);
    return rc == GW_OK ? 0 : 1;
}

/*
 * Every connection needs its socket and, once relaying, one to the backend
 * or destination: take the whole descriptor allowance the system grants
 * (soft limit up to the hard one) and say when max_connections cannot fit
 * in it, rather than finding out from failing accepts under load.
 */
int main(int argc, char **argv)
{
    struct gw_service rt;
    int rc;

    memset(&rt, 0, sizeof(rt));
    rt.sigfd = -1;
    rc = parse_args(argc, argv, &rt.opt);
    if (rc != 0) {
        free(rt.opt.listen);
        return rc == 2 ? 0 : 1;
    }
    add_override(&rt, "db", rt.opt.db, "--db");
    add_override(&rt, "listen", rt.opt.listen, "--listen");
    add_override(&rt, "log_level", rt.opt.log_level, "--log-level");
    if (ssh_init() != SSH_OK) {
        fprintf(stderr, "sshgated: cannot initialise libssh\n");
        free(rt.opt.listen);
        return 1;
    }
    if (rt.opt.check_config) {
        rc = check_config(&rt);
        free(rt.opt.listen);
    } else {
        rc = gw_service_run(&rt);
    }
    if (!rt.threads_alive) {
        ssh_finalize();
    }
    return rc;
}
