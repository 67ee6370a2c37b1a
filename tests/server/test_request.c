/*
 * Unit tests of the server's request parsing and rendering (server/srv_query.c,
 * server/srv_render.c): the query string rules of SPEC §8 and the libevhtp workarounds that
 * live there ('+' as space, NUL-safe decoding), the request gate, JSON escaping, score format,
 * msgpack layout, If-None-Match, Accept and the token comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_int.h"

static int parse(const char *raw, srv_query_t *q) {
  return srv__query_parse(raw, strlen(raw), q);
}

static void test_query_basic(void **state) {
  (void)state;
  srv_query_t q;
  assert_int_equal(parse("q=new+york&k=7", &q), 0);
  assert_string_equal(q.q, "new york");
  assert_int_equal(q.q_len, 8);
  assert_true(q.has_k);
  assert_int_equal(q.k, 7);
  assert_int_equal(parse("x=1&q=a%20b%2Bc&q=second", &q), 0);
  assert_string_equal(q.q, "a b+c"); /* %2B is a literal plus; the first q wins */
  assert_false(q.has_k);
  assert_int_equal(parse("q=", &q), 0);
  assert_int_equal(q.q_len, 0);
  assert_int_equal(parse("q", &q), 0);
  assert_int_equal(q.q_len, 0);
  assert_int_equal(parse("q=caf%C3%A9", &q), 0);
  assert_string_equal(q.q, "caf\xc3\xa9");
}

static void test_query_nul(void **state) {
  (void)state;
  srv_query_t q;
  assert_int_equal(parse("q=a%00b", &q), 0);
  assert_int_equal(q.q_len, 3);
  assert_memory_equal(q.q, "a\0b", 4); /* decoded length kept, NUL after it */
}

static void test_query_errors(void **state) {
  (void)state;
  srv_query_t q;
  assert_int_equal(parse("", &q), TA_EEMPTY);
  assert_non_null(q.error);
  assert_int_equal(parse("k=3", &q), TA_EEMPTY);
  assert_int_equal(parse("qq=a", &q), TA_EEMPTY);
  assert_int_equal(parse("q=%ZZ", &q), TA_EPARSE);
  assert_int_equal(parse("q=a%2", &q), TA_EPARSE);
  assert_int_equal(parse("q=a%", &q), TA_EPARSE);
  assert_int_equal(parse("q=%ff", &q), TA_EUTF8);
  assert_int_equal(parse("q=%c0%af", &q), TA_EUTF8); /* overlong '/' */
  const char *bad_k[] = {"0", "-1", "abc", "", "1234567", "1.5", "+3", " 3", "0x3"};
  for (size_t i = 0; i < sizeof bad_k / sizeof *bad_k; i++) {
    char raw[64];
    snprintf(raw, sizeof raw, "q=a&k=%s", bad_k[i]);
    assert_int_equal(parse(raw, &q), TA_ERANGE);
  }
  assert_int_equal(parse("q=a&k=999999", &q), 0);
  assert_int_equal(q.k, 999999);
}

static void test_query_length(void **state) {
  (void)state;
  srv_query_t q;
  char raw[4 + 3 * 1100];
  memcpy(raw, "q=", 2);
  memset(raw + 2, 'a', 1024);
  raw[2 + 1024] = '\0';
  assert_int_equal(parse(raw, &q), 0);
  assert_int_equal(q.q_len, 1024);
  raw[2 + 1024] = 'a';
  raw[2 + 1025] = '\0';
  assert_int_equal(parse(raw, &q), TA_ETOOLONG);
  /* 1025 bytes once decoded, whatever the encoding; and too long wins over a bad escape */
  size_t o = 2;
  for (int i = 0; i < 1025; i++) {
    memcpy(raw + o, "%41", 3);
    o += 3;
  }
  raw[o] = '\0';
  assert_int_equal(parse(raw, &q), TA_ETOOLONG);
  raw[5] = 'Z';
  assert_int_equal(parse(raw, &q), TA_ETOOLONG);
}

static int gate(const char *s, size_t *head_len) {
  int has_body = 0;
  return srv__gate_scan(s, strlen(s), head_len, &has_body);
}

static void test_gate(void **state) {
  (void)state;
  size_t h = 0;
  int has_body = 0;
  const char *ok = "GET /search?q=a HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
  assert_int_equal(gate(ok, &h), 1);
  assert_int_equal(h, strlen("GET /search?q=a HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert_int_equal(gate("\r\nGET / HTTP/1.0\n\n", &h), 1);
  assert_int_equal(gate("GET /search?q=a HTTP/1.1\r\nHost:", &h), 0); /* wait for more */
  assert_int_equal(gate("GET /sea", &h), 0);
  assert_int_equal(gate("get / HTTP/1.1\r\n\r\n", &h), 400);
  assert_int_equal(gate("GET /\r\n\r\n", &h), 400);
  assert_int_equal(gate("GET  HTTP/1.1\r\n\r\n", &h), 400);
  assert_int_equal(gate("GET / HTTP/2.0\r\n\r\n", &h), 400);
  const char *body = "PUT /admin/filters HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc";
  assert_int_equal(srv__gate_scan(body, strlen(body), &h, &has_body), 1);
  assert_int_equal(has_body, 1);

  char *big = malloc(SRV_MAX_HEAD + 2);
  memset(big, 'a', SRV_MAX_HEAD + 1);
  memcpy(big, "GET /", 5);
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE + 1, &h, &has_body), 414);
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE, &h, &has_body), 0);
  const char *line = "GET / HTTP/1.1\r\nX: ";
  memcpy(big, line, strlen(line));
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE + 100, &h, &has_body), 431);
  for (size_t i = 16; i + 19 <= SRV_MAX_HEAD + 1; i += 20)
    memcpy(big + i, "X-Header-12345678\r\n", 19);
  assert_int_equal(srv__gate_scan(big, SRV_MAX_HEAD + 1, &h, &has_body), 431);
  free(big);
}

static void test_json_string(void **state) {
  (void)state;
  ta_buf_t b = {0};
  assert_int_equal(srv__json_string(&b, "a\"b\\c\x01\x1f\n\x7f\xc3\xa9", 11), 0);
  assert_int_equal(b.len, strlen("\"a\\\"b\\\\c\\u0001\\u001f\\u000a\x7f\xc3\xa9\""));
  assert_memory_equal(b.p, "\"a\\\"b\\\\c\\u0001\\u001f\\u000a\x7f\xc3\xa9\"", b.len);
  b.len = 0;
  assert_int_equal(srv__json_string(&b, "\0", 1), 0);
  assert_memory_equal(b.p, "\"\\u0000\"", 8);
  ta_buf_free(&b);
}

static void test_score(void **state) {
  (void)state;
  char out[32];
  ta_fmt_score(100, out);
  assert_string_equal(out, "100");
  ta_fmt_score(0, out);
  assert_string_equal(out, "0");
  ta_fmt_score(2.5, out);
  assert_string_equal(out, "2.5");
  ta_fmt_score(0.1, out);
  assert_string_equal(out, "0.1");
  ta_fmt_score(9007199254740991.0, out);
  assert_string_equal(out, "9007199254740991");
  double hard[] = {1.0 / 3, 123456.789, 1e300, 5e-324, 0.30000000000000004, 18446744073709551616.0};
  for (size_t i = 0; i < sizeof hard / sizeof *hard; i++) {
    ta_fmt_score(hard[i], out);
    assert_true(strtod(out, NULL) == hard[i]);
  }
}

static void test_render(void **state) {
  (void)state;
  ta_buf_t b = {0};
  trie_hit_t hits[2] = {{0, 120, "news", 4}, {1, 2.5, "new \"york\"", 10}};
  assert_int_equal(srv__render_json(&b, "ne", 2, hits, 2), 0);
  const char *want =
      "{\"q\":\"ne\",\"suggestions\":[{\"text\":\"news\",\"score\":120},"
      "{\"text\":\"new \\\"york\\\"\",\"score\":2.5}]}";
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.p, want, b.len);
  b.len = 0;
  assert_int_equal(srv__render_json(&b, "", 0, NULL, 0), 0);
  assert_memory_equal(b.p, "{\"q\":\"\",\"suggestions\":[]}", b.len);
  b.len = 0;
  assert_int_equal(srv__render_msgpack(&b, "ne", 2, hits, 1), 0);
  const unsigned char mp[] = {0x82, 0xa1, 'q', 0xa2, 'n', 'e',  0xab, 's', 'u',  'g',
                              'g',  'e',  's', 't',  'i', 'o',  'n',  's', 0x91, 0x82,
                              0xa4, 't',  'e', 'x',  't', 0xa4, 'n',  'e', 'w',  's',
                              0xa5, 's',  'c', 'o',  'r', 'e',  0x78};
  assert_int_equal(b.len, sizeof mp);
  assert_memory_equal(b.p, mp, sizeof mp);
  ta_buf_free(&b);
}

static void test_etag_accept_secret(void **state) {
  (void)state;
  const char *e = "\"abc-0-j\"";
  assert_true(srv__etag_match("\"abc-0-j\"", e));
  assert_true(srv__etag_match("W/\"abc-0-j\"", e));
  assert_true(srv__etag_match("\"x\", \"abc-0-j\"", e));
  assert_true(srv__etag_match(" * ", e));
  assert_false(srv__etag_match("\"abc-0-m\"", e));
  assert_false(srv__etag_match("\"abc-0-j", e));
  assert_false(srv__etag_match("abc-0-j", e));
  assert_false(srv__etag_match("", e));
  assert_false(srv__etag_match(NULL, e));

  assert_true(srv__wants_msgpack("application/msgpack"));
  assert_true(srv__wants_msgpack("application/json;q=0.5, application/msgpack"));
  assert_true(srv__wants_msgpack("application/x-msgpack"));
  assert_false(srv__wants_msgpack("application/json, application/msgpack"));
  assert_false(srv__wants_msgpack("application/msgpack;q=0"));
  assert_false(srv__wants_msgpack("*/*"));
  assert_false(srv__wants_msgpack(NULL));

  assert_true(srv__secret_equal("token", 5, "token", 5));
  assert_false(srv__secret_equal("token", 5, "tokeN", 5));
  assert_false(srv__secret_equal("token", 5, "token2", 6));
  assert_false(srv__secret_equal("token", 5, "", 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_basic),
      cmocka_unit_test(test_query_nul),
      cmocka_unit_test(test_query_errors),
      cmocka_unit_test(test_query_length),
      cmocka_unit_test(test_gate),
      cmocka_unit_test(test_json_string),
      cmocka_unit_test(test_score),
      cmocka_unit_test(test_render),
      cmocka_unit_test(test_etag_accept_secret),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
