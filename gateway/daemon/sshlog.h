/*
 * libssh's own log messages, routed into gw_log. libssh keeps its log level,
 * callback and userdata per thread (src/log.c uses __thread), so every
 * thread that calls into libssh runs gw_sshlog_thread_init first.
 */
#ifndef SSHGATE_GATEWAY_DAEMON_SSHLOG_H
#define SSHGATE_GATEWAY_DAEMON_SSHLOG_H

/* Install the bridge on this thread at a verbosity that follows the
 * current gw_log level. Never enables libssh's packet tracing, whose hex
 * dumps would contain decrypted passwords. */
void gw_sshlog_thread_init(void);

/* A tap on this thread's libssh lines: fn sees every line libssh emits at
 * priority SSH_LOG_DEBUG (3) or below, message without the "function: "
 * prefix, whatever the log keeps. While a tap is set libssh runs at that
 * level on this thread (never SSH_LOG_TRACE); gw_sshlog_set_tap(NULL, NULL)
 * or gw_sshlog_thread_init removes it. fn runs inside libssh: it may only
 * record. */
typedef void (*gw_sshlog_tap_fn)(void *data, int priority, const char *function,
                                 const char *message);
void gw_sshlog_set_tap(gw_sshlog_tap_fn fn, void *data);

#endif
