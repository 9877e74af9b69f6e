/* Unit tests for the SIEM export's pure parts: gateway/audit/export_format
 * (RFC 5424 header and structured data, SD-PARAM escaping, severity by
 * kind, the detail cut to fit a datagram, octet-counted framing, JSON
 * lines with null for a missing user and U+FFFD for bytes that are not
 * UTF-8) and core/export_spec (event_export entries, one problem line per
 * bad entry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/export_spec.h"
#include "gateway/audit/export_format.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H0 "0000000000000000000000000000000000000000000000000000000000000000"

static const struct gw_export_origin origin = {"gw1.example", 4242};

static struct gw_export_event event(const char *kind, const char *detail)
{
    struct gw_export_event e = {
        .id = 17,
        .created_at = "2026-11-21T19:04:25.123Z",
        .kind = kind,
        .user = "alice",
        .client = "192.0.2.7:50022",
        .detail = detail,
        .prev_hash = H0,
        .hash = H1,
    };
    return e;
}

static void test_syslog_header_and_sd(void **state)
{
    struct gw_export_event e = event("auth.success", "method=publickey");
    char *msg = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(gw_export_syslog(&e, &origin, 8192, &msg, &len), GW_OK);
    /* authpriv (10) * 8 + info (6) = 86 */
    assert_string_equal(msg, "<86>1 2026-11-21T19:04:25.123Z gw1.example "
                             "sshgated 4242 auth.success [sshgate@32473 "
                             "id=\"17\" hash=\"" H1 "\" prev=\"" H0
                             "\" user=\"alice\" client=\"192.0.2.7:50022\"] "
                             "method=publickey");
    assert_int_equal(len, strlen(msg));
    free(msg);
}

static void test_severity(void **state)
{
    (void)state;
    assert_int_equal(gw_export_severity("auth.failure"), 4);
    assert_int_equal(gw_export_severity("channel.denied"), 4);
    assert_int_equal(gw_export_severity("host.mismatch"), 4);
    assert_int_equal(gw_export_severity("audit.degraded"), 4);
    assert_int_equal(gw_export_severity("export.dropped"), 4);
    assert_int_equal(gw_export_severity("conn.refused"), 4);
    assert_int_equal(gw_export_severity("auth.success"), 6);
    assert_int_equal(gw_export_severity("session.end"), 6);
    assert_int_equal(gw_export_severity("admin.user.add"), 6);
    assert_int_equal(gw_export_severity("failure"), 4);
}

static void test_sd_escape(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(gw_export_sd_escape("a\"b\\c]d[e=f", out, sizeof(out)),
                     strlen("a\\\"b\\\\c\\]d[e=f"));
    assert_string_equal(out, "a\\\"b\\\\c\\]d[e=f");
    /* Not UTF-8: U+FFFD; valid UTF-8 passes as it is. */
    gw_export_sd_escape("x\xff"
                        "y\xc3\xa9",
                        out, sizeof(out));
    assert_string_equal(out, "x\xef\xbf\xbdy\xc3\xa9");
    /* An overlong encoding and a lone surrogate are not UTF-8 either. */
    gw_export_sd_escape("\xc0\xaf|\xed\xa0\x80", out, sizeof(out));
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf"
                             "\xbd\xef\xbf\xbd");
    /* Cut to the room, the whole length still counted. */
    assert_int_equal(gw_export_sd_escape("]]]]", out, 5), 8);
    assert_string_equal(out, "\\]\\]");
}

static void test_syslog_escapes_user(void **state)
{
    struct gw_export_event e = event("auth.failure", "reason=\"bad key\"");
    char *msg = NULL;
    size_t len = 0;

    (void)state;
    e.user = "ev\"il]\\";
    e.client = "";
    assert_int_equal(gw_export_syslog(&e, &origin, 8192, &msg, &len), GW_OK);
    assert_non_null(strstr(msg, " user=\"ev\\\"il\\]\\\\\"]"));
    assert_null(strstr(msg, "client="));
    assert_true(strncmp(msg, "<84>1 ", 6) == 0);
    /* MSG is not escaped: the detail goes as it is. */
    assert_non_null(strstr(msg, "] reason=\"bad key\""));
    free(msg);
}

static void test_syslog_nil_and_tokens(void **state)
{
    struct gw_export_event e =
        event("a.kind.that.is.longer.than.thirty.two", "");
    struct gw_export_origin o = {"host with space", 1};
    char *msg = NULL;
    size_t len = 0;

    (void)state;
    e.user = NULL;
    e.client = NULL;
    e.created_at = "";
    assert_int_equal(gw_export_syslog(&e, &o, 8192, &msg, &len), GW_OK);
    /* NILVALUE time, spaces replaced, MSGID cut at 32, no MSG at all */
    assert_string_equal(msg, "<86>1 - host_with_space sshgated 1 "
                             "a.kind.that.is.longer.than.thirt [sshgate@32473 "
                             "id=\"17\" hash=\"" H1 "\" prev=\"" H0 "\"]");
    free(msg);
}

static void test_syslog_cut_to_fit(void **state)
{
    char detail[3000];
    struct gw_export_event e;
    char *msg = NULL;
    size_t len = 0;
    char *full = NULL;
    size_t full_len = 0;

    (void)state;
    memset(detail, 'x', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    e = event("session.end", detail);
    assert_int_equal(gw_export_syslog(&e, &origin, 65536, &full, &full_len),
                     GW_OK);
    assert_int_equal(gw_export_syslog(&e, &origin, 1024, &msg, &len), GW_OK);
    assert_int_equal(len, 1024);
    assert_int_equal(strlen(msg), 1024);
    assert_memory_equal(msg, full, 1024);
    free(msg);
    /* Smaller than the header: the header stays whole, MSG goes. */
    assert_int_equal(gw_export_syslog(&e, &origin, 10, &msg, &len), GW_OK);
    assert_int_equal(len, strchr(full, ']') - full + 1);
    free(msg);
    free(full);
}

static void test_octet_frame(void **state)
{
    char *frame = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(
        gw_export_octet_frame("<86>1 - - - - - -", 17, &frame, &len), GW_OK);
    assert_int_equal(len, 20);
    assert_memory_equal(frame, "17 <86>1 - - - - - -", 20);
    free(frame);
    /* Embedded newlines need no care: the count frames them. */
    assert_int_equal(gw_export_octet_frame("a\nb", 3, &frame, &len), GW_OK);
    assert_memory_equal(frame, "3 a\nb", 5);
    free(frame);
}

static void test_json_line(void **state)
{
    struct gw_export_event e = event("session.start", "session=3 kind=exec");
    json_error_t err;
    json_t *j = NULL;
    char *line = NULL;
    size_t len = 0;

    (void)state;
    e.client = NULL;
    e.user = "bob\xff\n";
    assert_int_equal(gw_export_json(&e, &origin, &line, &len), GW_OK);
    assert_int_equal(len, strlen(line));
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line */
    j = json_loads(line, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 17);
    assert_string_equal(json_string_value(json_object_get(j, "created_at")),
                        "2026-11-21T19:04:25.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "kind")),
                        "session.start");
    assert_string_equal(json_string_value(json_object_get(j, "user")),
                        "bob\xef\xbf\xbd\n");
    assert_true(json_is_null(json_object_get(j, "client")));
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "session=3 kind=exec");
    assert_string_equal(json_string_value(json_object_get(j, "prev_hash")), H0);
    assert_string_equal(json_string_value(json_object_get(j, "hash")), H1);
    assert_string_equal(json_string_value(json_object_get(j, "node")),
                        "gw1.example");
    json_decref(j);
    free(line);
}

static void test_spec_good(void **state)
{
    struct gw_export_list l = {NULL, 0};

    (void)state;
    assert_int_equal(
        gw_export_list_parse(" syslog:unix:/dev/log, syslog:udp:127.0.0.1:514,"
                             "syslog:tcp:[::1]:6514 ,syslog:tcp:siem.example:"
                             "601, json:file:/var/log/sshgate/events.jsonl,"
                             "json:unix:/run/siem.sock",
                             &l),
        GW_OK);
    assert_int_equal(l.n, 6);
    assert_int_equal(l.sinks[0].format, GW_EXPORT_SYSLOG);
    assert_int_equal(l.sinks[0].transport, GW_EXPORT_UNIX);
    assert_string_equal(l.sinks[0].path, "/dev/log");
    assert_int_equal(l.sinks[1].transport, GW_EXPORT_UDP);
    assert_string_equal(l.sinks[1].host, "127.0.0.1");
    assert_int_equal(l.sinks[1].port, 514);
    assert_string_equal(l.sinks[2].host, "::1");
    assert_int_equal(l.sinks[2].port, 6514);
    assert_string_equal(l.sinks[2].text, "syslog:tcp:[::1]:6514");
    assert_string_equal(l.sinks[3].host, "siem.example");
    assert_int_equal(l.sinks[4].format, GW_EXPORT_JSON);
    assert_int_equal(l.sinks[4].transport, GW_EXPORT_FILE);
    assert_int_equal(l.sinks[5].transport, GW_EXPORT_UNIX);
    gw_export_list_free(&l);
    assert_int_equal(gw_export_list_parse("", &l), GW_OK);
    assert_int_equal(l.n, 0);
    gw_export_list_free(&l);
}

static void test_spec_bad_one_line_each(void **state)
{
    struct gw_export_list l = {NULL, 0};
    const char *msg;

    (void)state;
    assert_int_equal(gw_export_list_parse("json:udp:1.2.3.4:5,syslog:udp:"
                                          "127.0.0.1:514,syslog:tcp:host,"
                                          "xml:file:/x,json:file:rel/path,"
                                          "syslog:udp:h:0,syslog:udp:"
                                          "127.0.0.1:514",
                                          &l),
                     GW_ERR_INVALID);
    assert_int_equal(l.n, 0);
    msg = gw_err_msg();
    assert_string_equal(
        msg, "'json:udp:1.2.3.4:5': json goes to a file or a unix socket\n"
             "'syslog:tcp:host': expected HOST:PORT\n"
             "'xml:file:/x': the format is syslog or json\n"
             "'json:file:rel/path': the path must be absolute\n"
             "'syslog:udp:h:0': the port is not a number from 1 to 65535\n"
             "'syslog:udp:127.0.0.1:514': listed twice");
    assert_int_equal(gw_export_list_parse("syslog:udp:a b:1,,syslog", &l),
                     GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "'syslog:udp:a b:1': the host"));
    assert_non_null(strstr(gw_err_msg(), "\n'': empty entry\n"));
    assert_non_null(strstr(gw_err_msg(), "'syslog': expected FORMAT"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syslog_header_and_sd),
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_sd_escape),
        cmocka_unit_test(test_syslog_escapes_user),
        cmocka_unit_test(test_syslog_nil_and_tokens),
        cmocka_unit_test(test_syslog_cut_to_fit),
        cmocka_unit_test(test_octet_frame),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_spec_good),
        cmocka_unit_test(test_spec_bad_one_line_each),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
