#include "backend/proxy.h"

#include "core/err.h"
#include "core/timeutil.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* curl_global_init once, whichever thread connects first (libcurl 7.88
 * is thread-safe here when built with atomics, as Debian's is; the once
 * makes it so on any build). Debian's libcurl resolves names on a thread
 * of its own (AsynchDNS, the threaded resolver), so the deadline covers a
 * proxy's name lookup too, and CURLOPT_NOSIGNAL keeps it off SIGALRM. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static long curl_type(enum gw_proxy_kind kind)
{
    switch (kind) {
    case GW_PROXY_SOCKS4:
        return CURLPROXY_SOCKS4;
    case GW_PROXY_SOCKS4A:
        return CURLPROXY_SOCKS4A;
    case GW_PROXY_SOCKS5:
        return CURLPROXY_SOCKS5;
    case GW_PROXY_SOCKS5H:
        return CURLPROXY_SOCKS5_HOSTNAME;
    case GW_PROXY_HTTP:
    default:
        return CURLPROXY_HTTP;
    }
}

static int failed(struct gw_proxy_failure *why, const struct gw_proxy *p,
                  int status, const char *answer)
{
    char endpoint[GW_PROXY_URL_MAX];

    gw_proxy_url_endpoint(&p->url, endpoint, sizeof(endpoint));
    snprintf(why->message, sizeof(why->message), "proxy %s: %s", endpoint,
             answer);
    return gw_err_set(status, "%s", why->message);
}

/* The options of one tunnel. CURLE_OK or the first failure. */
static CURLcode set_options(CURL *e, const struct gw_proxy *p, const char *host,
                            uint16_t port, long left_ms, char *errbuf)
{
    bool v6 = strchr(host, ':') != NULL;
    char url[GW_PROXY_HOST_MAX + 32];
    char proxy[GW_PROXY_HOST_MAX + 16];
    CURLcode rc = CURLE_OK;

    /* The destination as an http URL: curl only uses its host and port
     * (CONNECT host:port, or the SOCKS request); nothing is sent to it. */
    snprintf(url, sizeof(url), "http://%s%s%s:%u/", v6 ? "[" : "", host,
             v6 ? "]" : "", (unsigned)port);
    v6 = strchr(p->url.host, ':') != NULL;
    snprintf(proxy, sizeof(proxy), "%s%s%s", v6 ? "[" : "", p->url.host,
             v6 ? "]" : "");
#define SET(opt, val)                               \
    do {                                            \
        if (rc == CURLE_OK) {                       \
            rc = curl_easy_setopt(e, (opt), (val)); \
        }                                           \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http");
    SET(CURLOPT_CONNECT_ONLY, 1L);
    SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for the resolver */
    SET(CURLOPT_PROXY, proxy);
    SET(CURLOPT_PROXYPORT, (long)p->url.port);
    SET(CURLOPT_PROXYTYPE, curl_type(p->url.kind));
    SET(CURLOPT_NOPROXY, ""); /* never the environment's no_proxy */
    SET(CURLOPT_CONNECTTIMEOUT_MS, left_ms);
    SET(CURLOPT_TIMEOUT_MS, left_ms);
    SET(CURLOPT_TCP_NODELAY, 1L);
    if (p->url.kind == GW_PROXY_HTTP) {
        SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
        SET(CURLOPT_PROXYAUTH, (long)CURLAUTH_BASIC);
    }
    if (p->url.user[0] != '\0') {
        SET(CURLOPT_PROXYUSERNAME, p->url.user);
        SET(CURLOPT_PROXYPASSWORD, p->password != NULL ? p->password : "");
    }
#undef SET
    return rc;
}

/* curl's words, and the HTTP proxy's status line when it answered one. */
static void describe(CURL *e, CURLcode rc, const char *errbuf, char *out,
                     size_t outlen)
{
    long code = 0;

    if (curl_easy_getinfo(e, CURLINFO_HTTP_CONNECTCODE, &code) != CURLE_OK) {
        code = 0;
    }
    snprintf(out, outlen, "%s",
             errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    if (code != 0 && strstr(out, "response") == NULL) {
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, " (the proxy answered %ld)", code);
    }
}

int gw_proxy_connect(const struct gw_proxy *proxy, const char *host,
                     uint16_t port, int64_t deadline_ms, int *fd_out,
                     struct gw_proxy_failure *why)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char answer[CURL_ERROR_SIZE + 32];
    curl_socket_t sock = CURL_SOCKET_BAD;
    int64_t left = deadline_ms - gw_now_ms();
    CURL *e = NULL;
    CURLcode rc;
    int status = GW_OK;

    *fd_out = -1;
    memset(why, 0, sizeof(*why));
    if (left <= 0) {
        why->timeout = true;
        return failed(why, proxy, GW_ERR_TIMEOUT, "no time left");
    }
    pthread_once(&curl_once, curl_init);
    e = curl_init_rc == CURLE_OK ? curl_easy_init() : NULL;
    if (e == NULL) {
        return failed(why, proxy, GW_ERR_NOMEM, "libcurl cannot start");
    }
    rc = set_options(e, proxy, host, port, (long)left, errbuf);
    if (rc == CURLE_OK) {
        rc = curl_easy_perform(e);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &sock);
    }
    if (rc != CURLE_OK || sock == CURL_SOCKET_BAD) {
        why->timeout = rc == CURLE_OPERATION_TIMEDOUT;
        describe(e, rc, errbuf, answer, sizeof(answer));
        status = failed(why, proxy, why->timeout ? GW_ERR_TIMEOUT : GW_ERR_IO,
                        answer);
        goto out;
    }
    /* Ours from here: curl closes its own descriptor at cleanup. */
    *fd_out = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (*fd_out < 0 || fcntl(*fd_out, F_SETFL, O_NONBLOCK) != 0) {
        if (*fd_out >= 0) {
            close(*fd_out);
            *fd_out = -1;
        }
        status = failed(why, proxy, GW_ERR_IO, "cannot keep the socket");
    }
out:
    curl_easy_cleanup(e);
    return status;
}
