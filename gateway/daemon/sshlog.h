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

#endif
