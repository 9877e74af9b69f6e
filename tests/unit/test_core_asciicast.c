/* Unit tests for core/asciicast: every line is valid JSON of the asciicast
 * v2 shape, whatever bytes the terminal produced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "core/asciicast.h"
#include "core/err.h"

/* out holds exactly one line: parse it as JSON. */
static json_t *parse_line(const struct gw_buf *out)
{
    json_error_t jerr;
    json_t *j;

    assert_non_null(out->data);
    assert_int_equal(out->data[out->len - 1], '\n');
    assert_null(memchr(out->data, '\n', out->len - 1));
    j = json_loadb(out->data, out->len - 1, JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        fail_msg("not JSON: %s (%s)", out->data, jerr.text);
    }
    return j;
}

/* The event line for data, checked for shape; returns its text. */
static char *event_text(struct gw_cast_stream *s, int64_t usec, char type,
                        const char *data, size_t len)
{
    struct gw_buf out;
    json_t *j;
    char *text;
    char t[2] = {type, '\0'};

    gw_buf_init(&out, 0);
    assert_int_equal(gw_cast_event(&out, s, usec, type, data, len), GW_OK);
    if (out.len == 0) {
        gw_buf_free(&out);
        return NULL;
    }
    j = parse_line(&out);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 3);
    assert_true(json_real_value(json_array_get(j, 0)) * 1e6 - (double)usec <
                1.0);
    assert_string_equal(json_string_value(json_array_get(j, 1)), t);
    text = strdup(json_string_value(json_array_get(j, 2)));
    json_decref(j);
    gw_buf_free(&out);
    return text;
}

static void test_header(void **state)
{
    struct gw_buf out;
    json_t *j;

    (void)state;
    gw_buf_init(&out, 0);
    assert_int_equal(gw_cast_header(&out, 132, 43, 1700000000, "xterm-256color",
                                    "alice as root@web1 \"q\""),
                     GW_OK);
    j = parse_line(&out);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "width")), 132);
    assert_int_equal(json_integer_value(json_object_get(j, "height")), 43);
    assert_int_equal(json_integer_value(json_object_get(j, "timestamp")),
                     1700000000);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "env"), "TERM")),
        "xterm-256color");
    assert_string_equal(json_string_value(json_object_get(j, "title")),
                        "alice as root@web1 \"q\"");
    json_decref(j);

    /* No size from the client: asciinema's default terminal. */
    gw_buf_reset(&out);
    assert_int_equal(gw_cast_header(&out, 0, 0, 1, NULL, NULL), GW_OK);
    j = parse_line(&out);
    assert_int_equal(json_integer_value(json_object_get(j, "width")), 80);
    assert_int_equal(json_integer_value(json_object_get(j, "height")), 24);
    assert_null(json_object_get(j, "env"));
    json_decref(j);
    gw_buf_free(&out);
}

static void test_escapes(void **state)
{
    struct gw_cast_stream s = {{0}, 0};
    const char raw[] = "a\"b\\c\r\n\t\x1b[1m\x07\x7f\x01 end";
    char *text;

    (void)state;
    text = event_text(&s, 1234567, 'o', raw, sizeof(raw) - 1);
    assert_string_equal(text, raw);
    free(text);
    /* A NUL byte is data too. */
    text = event_text(&s, 0, 'i', "x\0y", 3);
    assert_int_equal(text[1], '\0');
    free(text);
    assert_int_equal(s.ncarry, 0);
}

static void test_utf8_split(void **state)
{
    struct gw_cast_stream s = {{0}, 0};
    const char euro[] = "\xe2\x82\xac";      /* U+20AC in three bytes */
    const char emoji[] = "\xf0\x9f\x98\x80"; /* U+1F600 */
    char *text;

    (void)state;
    text = event_text(&s, 1, 'o', "price 5\xe2", 8);
    assert_string_equal(text, "price 5");
    free(text);
    assert_int_equal(s.ncarry, 1);
    /* Only the middle byte: no line yet. */
    assert_null(event_text(&s, 2, 'o', "\x82", 1));
    assert_int_equal(s.ncarry, 2);
    text = event_text(&s, 3, 'o', "\xac!", 2);
    assert_string_equal(text, "\xe2\x82\xac!");
    free(text);
    assert_int_equal(s.ncarry, 0);

    /* Split one byte at a time. */
    for (size_t i = 0; i < 3; i++) {
        assert_null(event_text(&s, 4, 'o', emoji + i, 1));
    }
    text = event_text(&s, 5, 'o', emoji + 3, 1);
    assert_string_equal(text, emoji);
    free(text);
    text = event_text(&s, 6, 'o', euro, 3);
    assert_string_equal(text, euro);
    free(text);
}

static void test_invalid_bytes(void **state)
{
    struct gw_cast_stream s = {{0}, 0};
    char *text;

    (void)state;
    /* A stray continuation byte, an overlong form, a surrogate, a lead
     * byte followed by ASCII: each becomes U+FFFD, the rest is kept. */
    text = event_text(&s, 1, 'o',
                      "a\x80"
                      "b\xc0\xaf"
                      "c\xed\xa0\x80"
                      "d\xe2z",
                      12);
    assert_string_equal(text, "a\xef\xbf\xbd"
                              "b\xef\xbf\xbd\xef\xbf\xbd"
                              "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                              "d\xef\xbf\xbdz");
    free(text);
    /* A carried lead byte that the next read does not continue. */
    text = event_text(&s, 2, 'o', "x\xe2", 2);
    assert_string_equal(text, "x");
    free(text);
    text = event_text(&s, 3, 'o', "\x82y\xf0\x9f", 4);
    assert_string_equal(text, "\xef\xbf\xbd\xef\xbf\xbdy");
    free(text);
    assert_int_equal(s.ncarry, 2);
}

static void test_resize(void **state)
{
    struct gw_buf out;
    json_t *j;

    (void)state;
    gw_buf_init(&out, 0);
    assert_int_equal(gw_cast_resize(&out, 2500000, 100, 30), GW_OK);
    assert_string_equal(out.data, "[2.500000, \"r\", \"100x30\"]\n");
    j = parse_line(&out);
    json_decref(j);
    gw_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),     cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_utf8_split), cmocka_unit_test(test_invalid_bytes),
        cmocka_unit_test(test_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
