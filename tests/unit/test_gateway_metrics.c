/* Unit tests for gateway/daemon/metrics: the counters and their
 * Prometheus text rendering (HELP/TYPE before samples, label escaping,
 * fixed label sets with "other", a cumulative histogram), checked line by
 * line with a strict parser of the exposition format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gateway/conn/lockout.h"
#include "gateway/daemon/metrics.h"
#include "gateway/front/admission.h"

/* The text of one scrape; the caller frees it. */
static char *render(const struct gw_metrics_gauges *g)
{
    struct gw_metrics_gauges zero;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    memset(&zero, 0, sizeof(zero));
    assert_non_null(f);
    assert_int_equal(gw_metrics_render(f, g != NULL ? g : &zero), GW_OK);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Does text hold exactly this line? */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len == n && strncmp(p, line, n) == 0) {
            return true;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return false;
}

#define assert_line(text, line)                                  \
    do {                                                         \
        if (!has_line((text), (line))) {                         \
            fail_msg("missing line: %s\n---\n%s", line, (text)); \
        }                                                        \
    } while (0)

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* One label set "{a=\"x\",b=\"y\"}" at *p; false when malformed. */
static bool parse_labels(const char **p)
{
    const char *s = *p + 1;

    while (*s != '}') {
        if (!name_char(*s, true)) {
            return false;
        }
        while (name_char(*s, false)) {
            s++;
        }
        if (s[0] != '=' || s[1] != '"') {
            return false;
        }
        for (s += 2; *s != '"'; s++) {
            if (*s == '\0' || *s == '\n') {
                return false;
            }
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n') {
                    return false;
                }
            }
        }
        s++;
        if (*s == ',') {
            s++;
        } else if (*s != '}') {
            return false;
        }
    }
    *p = s + 1;
    return true;
}

/*
 * A strict reading of the text format: every line is "# HELP name text",
 * "# TYPE name type" (once per name, before its samples) or a sample
 * "name[{labels}] number" whose family was declared. Fails the test with
 * the offending line.
 */
static void check_format(const char *text)
{
    char declared[128][96];
    size_t ndeclared = 0;

    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        char line[512];
        char name[96];
        const char *s = line;
        size_t n = 0;
        char *end = NULL;
        bool found = false;

        assert_non_null(eol); /* every line ends with a newline */
        assert_true((size_t)(eol - p) < sizeof(line));
        memcpy(line, p, (size_t)(eol - p));
        line[eol - p] = '\0';
        p = eol + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[32];
            assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
            assert_true(strcmp(type, "counter") == 0 ||
                        strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            for (size_t i = 0; i < ndeclared; i++) {
                assert_string_not_equal(declared[i], name);
            }
            assert_true(ndeclared < 128);
            snprintf(declared[ndeclared++], sizeof(declared[0]), "%s", name);
            continue;
        }
        if (!name_char(*s, true)) {
            fail_msg("bad sample line: %s", line);
        }
        while (name_char(*s, false) && n + 1 < sizeof(name)) {
            name[n++] = *s++;
        }
        name[n] = '\0';
        if (*s == '{' && !parse_labels(&s)) {
            fail_msg("bad labels: %s", line);
        }
        if (*s != ' ' || (strtod(s + 1, &end), *end != '\0') || end == s + 1) {
            fail_msg("bad value: %s", line);
        }
        for (size_t i = 0; i < ndeclared && !found; i++) {
            size_t dl = strlen(declared[i]);
            found = strcmp(name, declared[i]) == 0 ||
                    (strncmp(name, declared[i], dl) == 0 &&
                     (strcmp(name + dl, "_bucket") == 0 ||
                      strcmp(name + dl, "_sum") == 0 ||
                      strcmp(name + dl, "_count") == 0));
        }
        if (!found) {
            fail_msg("sample before its TYPE: %s", line);
        }
    }
}

static int reset(void **state)
{
    (void)state;
    gw_metrics_reset();
    return 0;
}

static void test_fresh(void **state)
{
    char *text = render(NULL);

    (void)state;
    check_format(text);
    assert_line(text, "# TYPE sshgate_build_info gauge");
    assert_line(text, "sshgate_build_info{version=\"" SSHGATE_VERSION "\"} 1");
    assert_line(text, "sshgate_connections_accepted_total 0");
    assert_line(text, "sshgate_connections_refused_total{reason=\"other\"} 0");
    assert_line(text,
                "sshgate_connections_closed_total{reason=\"idle_timeout\"} 0");
    assert_line(text, "sshgate_auth_success_total{method=\"publickey\"} 0");
    assert_line(text, "sshgate_sessions_open{kind=\"shell\"} 0");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"+Inf\"} 0");
    assert_line(text, "sshgate_backend_connect_seconds_count 0");
    assert_line(text, "sshgate_events_export_dropped_total 0");
    assert_line(text, "sshgate_ready 0");
    /* A failure pair appears only once it happened. */
    assert_null(strstr(text, "sshgate_auth_failures_total{"));
    free(text);
}

static void test_counts(void **state)
{
    char *text = NULL;

    (void)state;
    gw_metrics_refused("max_connections");
    gw_metrics_refused("max_connections");
    gw_metrics_refused("a reason added later");
    gw_metrics_conn_open();
    gw_metrics_conn_open();
    gw_metrics_conn_authenticated();
    gw_metrics_conn_closed(false, GW_END_GRACE);
    gw_metrics_auth("publickey", NULL);
    gw_metrics_auth("password", "wrong password");
    gw_metrics_auth("password", "wrong password");
    gw_metrics_auth("keyboard-interactive", "something new");
    gw_metrics_session_start("shell");
    gw_metrics_session_start("sftp");
    gw_metrics_session_end("sftp");
    gw_metrics_add(GW_M_BYTES_UP, 100);
    gw_metrics_add(GW_M_BYTES_DOWN, 5000);
    gw_metrics_add(GW_M_EVENTS_EXPORT_DROPPED, 3);
    text = render(NULL);
    check_format(text);
    assert_line(text,
                "sshgate_connections_refused_total{reason=\"max_connections\"}"
                " 2");
    assert_line(text, "sshgate_connections_refused_total{reason=\"other\"} 1");
    assert_line(text, "sshgate_connections_accepted_total 2");
    assert_line(text, "sshgate_connections_open{state=\"authenticated\"} 1");
    assert_line(text, "sshgate_connections_open{state=\"unauthenticated\"} 0");
    assert_line(
        text,
        "sshgate_connections_closed_total{reason=\"login_grace_time\"} 1");
    assert_line(text, "sshgate_auth_success_total{method=\"publickey\"} 1");
    assert_line(text, "sshgate_auth_failures_total{method=\"password\","
                      "reason=\"wrong password\"} 2");
    assert_line(text, "sshgate_auth_failures_total{method=\"keyboard-"
                      "interactive\",reason=\"other\"} 1");
    assert_line(text, "sshgate_sessions_started_total{kind=\"sftp\"} 1");
    assert_line(text, "sshgate_sessions_open{kind=\"sftp\"} 0");
    assert_line(text, "sshgate_sessions_open{kind=\"shell\"} 1");
    assert_line(text, "sshgate_relay_bytes_total{direction=\"up\"} 100");
    assert_line(text, "sshgate_relay_bytes_total{direction=\"down\"} 5000");
    assert_line(text, "sshgate_events_export_dropped_total 3");
    free(text);
}

/* Buckets are cumulative, +Inf equals _count, _sum is in seconds. */
static void test_histogram(void **state)
{
    char *text = NULL;

    (void)state;
    gw_metrics_backend_connect(3, 0);
    gw_metrics_backend_connect(5, 0);      /* le is inclusive */
    gw_metrics_backend_connect(700, 0);    /* 1 s */
    gw_metrics_backend_connect(120000, 3); /* beyond the last: +Inf */
    text = render(NULL);
    check_format(text);
    assert_line(text, "# TYPE sshgate_backend_connect_seconds histogram");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"0.005\"} 2");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"0.5\"} 2");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"1\"} 3");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"60\"} 3");
    assert_line(text, "sshgate_backend_connect_seconds_bucket{le=\"+Inf\"} 4");
    assert_line(text, "sshgate_backend_connect_seconds_count 4");
    assert_line(text, "sshgate_backend_connect_seconds_sum 120.708000");
    assert_line(text,
                "sshgate_backend_connect_failures_total{reason=\"timeout\"} 1");
    free(text);
}

static void test_gauges(void **state)
{
    struct gw_metrics_gauges g = {
        .ready = true,
        .audit_degraded = true,
        .audit_queue_bytes = 4096,
        .audit_spool_bytes = 123456789012ULL,
        .audit_lost = 7,
    };
    char *text = render(&g);

    (void)state;
    check_format(text);
    assert_line(text, "sshgate_ready 1");
    assert_line(text, "sshgate_audit_degraded 1");
    assert_line(text, "sshgate_audit_queue_bytes 4096");
    assert_line(text, "sshgate_audit_spool_bytes 123456789012");
    assert_line(text, "sshgate_audit_lost_records_total 7");
    free(text);
}

static void test_label_escaping(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(f);
    gw_metrics_label_value(f, "a\\b\"c\nd e");
    assert_int_equal(fclose(f), 0);
    assert_string_equal(buf, "a\\\\b\\\"c\\nd e");
    free(buf);
}

/* The reasons other files hand over are in the tables (not "other"). */
static void test_reasons_from_elsewhere_are_known(void **state)
{
    const struct gw_refusal *refusals[] = {
        &gw_refused_busy,
        &gw_refused_untrusted_proxy,
        &gw_refused_proxy_header,
    };
    char *text = NULL;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        gw_metrics_refused(refusals[i]->reason);
    }
    gw_metrics_auth("password", gw_lockout_reason(GW_LOCKOUT_PASSWORD));
    gw_metrics_auth("publickey", gw_lockout_reason(GW_LOCKOUT_USER));
    text = render(NULL);
    assert_line(text,
                "sshgate_connections_refused_total{reason=\"no_worker\"} 1");
    assert_line(
        text, "sshgate_connections_refused_total{reason=\"proxy_trusted\"} 1");
    assert_line(
        text, "sshgate_connections_refused_total{reason=\"proxy_protocol\"} 1");
    assert_line(text, "sshgate_connections_refused_total{reason=\"other\"} 0");
    assert_line(text, "sshgate_auth_failures_total{method=\"password\","
                      "reason=\"password locked\"} 1");
    assert_line(text, "sshgate_auth_failures_total{method=\"publickey\","
                      "reason=\"user locked\"} 1");
    free(text);
}

/* Every ending has its own label, short and without spaces. */
static void test_ending_labels(void **state)
{
    (void)state;
    for (int i = 0; i < GW_END_COUNT; i++) {
        const char *a = gw_ending_label((enum gw_ending)i);
        assert_non_null(a);
        assert_null(strchr(a, ' '));
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(a, gw_ending_label((enum gw_ending)j));
        }
    }
}

static void test_listener_flag(void **state)
{
    (void)state;
    assert_false(gw_metrics_listener_up());
    gw_metrics_set_listener_up(true);
    assert_true(gw_metrics_listener_up());
    gw_metrics_set_listener_up(false);
    assert_false(gw_metrics_listener_up());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fresh, reset),
        cmocka_unit_test_setup(test_counts, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_gauges, reset),
        cmocka_unit_test_setup(test_label_escaping, reset),
        cmocka_unit_test_setup(test_reasons_from_elsewhere_are_known, reset),
        cmocka_unit_test_setup(test_ending_labels, reset),
        cmocka_unit_test_setup(test_listener_flag, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
