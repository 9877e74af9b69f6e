/*
 * sshgated's life as a process (gateway/service.c): start the daemon's
 * threads (the listener, the worker pool, the audit and recording
 * writers), then the main thread's loop: signals (SIGHUP reloads, SIGTERM
 * drains), the admin's kill requests, and the ordered shutdown.
 * gateway/main.c parses the command line and calls in.
 */
#ifndef SSHGATE_GATEWAY_SERVICE_H
#define SSHGATE_GATEWAY_SERVICE_H

#include "core/config.h"
#include "gateway/daemon/daemon.h"

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <stdbool.h>
#include <stddef.h>

#define GW_SERVICE_OVERRIDES_MAX 3

struct gw_listener;
struct gw_metrics_http;
struct store;

/* The command line. */
struct gw_service_options {
    const char *config_path;
    const char *db;
    char *listen; /* --listen values joined with commas */
    const char *log_level;
    bool foreground;
    bool check_config;
};

/* Everything main owns while the daemon runs. */
struct gw_service {
    struct gw_service_options opt;
    struct gw_config_override ov[GW_SERVICE_OVERRIDES_MAX];
    size_t nov;
    struct gw_daemon daemon;
    bool daemon_ready;
    struct store *st; /* main thread's handle: host keys on (re)load */
    struct gw_listener *listener;
    struct gw_metrics_http *metrics; /* NULL unless metrics_listen is set */
    int sigfd;
    bool threads_alive; /* a stop timed out: leave libssh alone */
};

/* The configuration file with the command line's overrides; problems go
 * to report, one line each. */
int gw_service_load_config(struct gw_service *sv, gw_config_report_fn report,
                           struct gw_config **out);

/* A gw_config_report_fn that prints each problem on stderr. */
void gw_service_report_stderr(void *ud, const char *line);

/* Open the database and build a bind from it: proves that the host keys
 * are there and that libssh takes every option. */
int gw_service_check_keys(const struct gw_config *cfg, struct store **st,
                          ssh_bind *bind);

/* Run the daemon until SIGTERM / SIGINT and a drain. The exit code. */
int gw_service_run(struct gw_service *sv);

#endif
