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

/* Every parameter's value is percent-decoded as q is (k=%31%30 was refused though it is 10),
 * and the limits hold on the decoded value. */
static void test_query_params_decoded(void **state) {
  (void)state;
  srv_query_t q;
  assert_int_equal(parse("q=a&k=%31%30&typos=%31&words=%30", &q), 0);
  assert_int_equal(q.k, 10);
  assert_int_equal(q.typos, 1);
  assert_int_equal(q.words, 0);
  assert_int_equal(parse("q=a&typos=%61ut%6F", &q), 0);
  assert_int_equal(q.typos, TRIE_TYPOS_AUTO);
  assert_int_equal(parse("q=a&k=%39%39%39%39%39%39", &q), 0); /* six digits once decoded */
  assert_int_equal(q.k, 999999);
  const char *bad[] = {"k=%31%32%33%34%35%36%37",
                       "k=%2B3",
                       "k=+3",
                       "k=%30",
                       "k=1%2E5",
                       "typos=%33",
                       "typos=%61uto%20",
                       "words=%32",
                       "words=%30%30",
                       "words=%G1" /* longer than any value: too long wins, as for q */};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char raw[64];
    snprintf(raw, sizeof raw, "q=a&%s", bad[i]);
    assert_int_equal(parse(raw, &q), TA_ERANGE);
    assert_non_null(q.error);
  }
  const char *malformed[] = {"k=%3", "k=%ZZ", "typos=%", "words=%"};
  for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
    char raw[64];
    snprintf(raw, sizeof raw, "q=a&%s", malformed[i]);
    assert_int_equal(parse(raw, &q), TA_EPARSE);
    assert_non_null(strstr(q.error, "percent-encoding"));
  }
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

static int gate(const char *s, srv_gate_t *g) {
  return srv__gate_scan(s, strlen(s), g);
}

/* The status the gate gives to a request line and header lines (CRLF added to each, then the
 * blank line). */
static int gate_lines(const char *line, const char *hdrs) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s\r\n%s\r\n", line, hdrs);
  srv_gate_t g;
  int st = gate(buf, &g);
  if (st >= 200) assert_true(st == 204 || g.error != NULL); /* every refusal says why */
  return st;
}

typedef struct {
  const char *line, *hdrs;
  int status;
} gate_case_t;

static void gate_cases(const gate_case_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (gate_lines(c[i].line, c[i].hdrs) != c[i].status) fail_msg("%s | %s", c[i].line, c[i].hdrs);
  }
}

static void test_gate(void **state) {
  (void)state;
  srv_gate_t g;
  const char *ok = "GET /search?q=a HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
  assert_int_equal(gate(ok, &g), 1);
  assert_int_equal(g.head_len, strlen("GET /search?q=a HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert_int_equal(g.path_len, 11);
  assert_memory_equal(g.path, "/search?q=a", 11);
  assert_int_equal(g.body_len, 0);
  assert_null(g.auth);
  assert_int_equal(gate("\r\n\r\nGET / HTTP/1.0\r\n\r\n", &g), 1); /* empty lines before: */
  assert_int_equal(g.skip, 4);                                     /* to be dropped */
  assert_int_equal(g.head_len, 22);
  struct {
    const char *req;
    int status;
    const char *path; /* for status 1 */
  } cases[] = {
      {"GET /search?q=a HTTP/1.1\r\nHost:", 0, NULL}, /* wait for more */
      {"GET /sea", 0, NULL},
      {"\r", 0, NULL},
      {"get / HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET /\r\n\r\n", 400, NULL},
      {"GET  HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET / HTTP/1.1 \r\n\r\n", 400, NULL},
      /* Absolute form, as libevhtp's parser takes it; other targets are refused. */
      {"GET http://h.example:80/search?q=a HTTP/1.1\r\nHost: h\r\n\r\n", 1, "/search?q=a"},
      {"GET http://h.example HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET http://[::1]/ HTTP/1.1\r\n\r\n", 400, NULL},
      /* libevhtp drops a port over 65535 unanswered: the gate answers it (leading zeros and
       * an empty port are libevhtp's too) */
      {"GET http://h:65535/search?q=a HTTP/1.1\r\nHost: h\r\n\r\n", 1, "/search?q=a"},
      {"GET http://h:000000000000000000000080/ HTTP/1.1\r\nHost: h\r\n\r\n", 1, "/"},
      {"GET http://h:/ HTTP/1.1\r\nHost: h\r\n\r\n", 1, "/"},
      {"GET http://h:65536/search?q=a HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET http://h:99999999999999999999999/ HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET search HTTP/1.1\r\n\r\n", 400, NULL},
      {"CONNECT h:443 HTTP/1.1\r\n\r\n", 400, NULL},
      {"GET /a#frag?x HTTP/1.1\r\nHost: h\r\n\r\n", 1, "/a#frag?x"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(gate(cases[i].req, &g), cases[i].status);
    if (cases[i].path) {
      assert_int_equal(g.path_len, strlen(cases[i].path));
      assert_memory_equal(g.path, cases[i].path, g.path_len);
    }
  }

  char *big = malloc(SRV_MAX_HEAD + 2);
  memset(big, 'a', SRV_MAX_HEAD + 1);
  memcpy(big, "GET /", 5);
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE + 1, &g), 414);
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE, &g), 0);
  const char *line = "GET / HTTP/1.1\r\nX: ";
  memcpy(big, line, strlen(line));
  assert_int_equal(srv__gate_scan(big, SRV_MAX_LINE + 100, &g), 431);
  for (size_t i = 16; i + 20 <= SRV_MAX_HEAD + 1; i += 20)
    memcpy(big + i, "X-Header-123456: 7\r\n", 20); /* valid lines, too many of them */
  assert_int_equal(srv__gate_scan(big, SRV_MAX_HEAD + 1, &g), 431);
  free(big);
}

/* Versions, OPTIONS *, line ends and header syntax: each malformed request its status. */
static void test_gate_malformed(void **state) {
  (void)state;
  const char *get = "GET /search?q=a HTTP/1.1\r\nHost: x"; /* (CRLF added) */
  const gate_case_t cases1[] = {
      {"GET / HTTP/1.0", "Host: x\r\n", 1},
      {"GET / HTTP/1.2", "", 505},
      {"GET / HTTP/2.0", "", 505},
      {"GET / HTTP/0.9", "", 505},
      {"GET / HTTP/1.10", "", 400},
      {"GET / HTTP/2", "", 400},
      {"OPTIONS * HTTP/1.1", "Host: x\r\n", 204},
      {"GET * HTTP/1.1", "", 400},
      {get, "NoColon\r\n", 400},
      {get, "Host : x\r\n", 400},  /* whitespace before the colon */
      {get, "Host\t: x\r\n", 400}, /* (other names libevhtp takes as they are) */
      {get, ": x\r\n", 400},
      {get, "X-A: 1\r\n folded\r\n", 400},
      {get, "X-A: 1\r\n\tfolded\r\n", 400},
      {get, "X-A: a\rb\r\n", 400}, /* a CR inside a line */
      {get, "X-Empty:\r\nX-B:  spaced  \r\n", 1},
  };
  gate_cases(cases1, sizeof cases1 / sizeof *cases1);
  srv_gate_t g;
  /* Bare LF: refused wherever it ends a line, the blank line included. */
  assert_int_equal(gate("GET / HTTP/1.1\n\n", &g), 400);
  assert_int_equal(gate("GET / HTTP/1.1\r\nHost: x\n\r\n", &g), 400);
  assert_int_equal(gate("GET / HTTP/1.1\r\nHost: x\r\n\n", &g), 400);
  assert_int_equal(gate("\nGET / HTTP/1.1\r\n\r\n", &g), 400);
  char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
  assert_int_equal(srv__gate_scan(nul, sizeof nul - 1, &g), 400);
  assert_int_equal(gate_lines(get, "Expect: 100-continue\r\n"), 1);
  assert_int_equal(gate_lines(get, "Expect: something-else\r\n"), 417);
}

/* RFC 9112 §3.2: an HTTP/1.1 request without Host, any request with more than one, or one
 * whose value is not uri-host[:port], is 400 (an HTTP/1.1 request without Host was answered). */
static void test_gate_host(void **state) {
  (void)state;
  srv_gate_t g;
  assert_int_equal(gate("GET /search?q=a HTTP/1.1\r\n\r\n", &g), 400);
  assert_non_null(strstr(g.error, "Host"));
  assert_int_equal(gate("GET /search?q=a HTTP/1.1\r\nX-A: 1\r\n", &g), 0);     /* not yet */
  assert_int_equal(gate("GET /search?q=a HTTP/1.0\r\n\r\n", &g), 1);           /* 1.0 may omit it */
  assert_int_equal(gate("GET http://h/search?q=a HTTP/1.1\r\n\r\n", &g), 400); /* absolute too */
  assert_int_equal(gate("OPTIONS * HTTP/1.1\r\n\r\n", &g), 400);
  assert_int_equal(gate("OPTIONS * HTTP/1.1\r\nHost: h\r\n", &g), 0); /* 204 once whole */
  assert_int_equal(gate("OPTIONS * HTTP/1.0\r\n\r\n", &g), 204);
  assert_int_equal(gate("PUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", &g), 400);
  const char *get11 = "GET / HTTP/1.1", *get10 = "GET / HTTP/1.0";
  const gate_case_t several[] = {
      {get11, "Host: a\r\nHost: a\r\n", 400},
      {get11, "Host: a\r\nX-B: 1\r\nhOsT: b\r\n", 400},
      {get10, "Host: a\r\nHost: b\r\n", 400},    /* any version */
      {get11, "X-Host: a\r\nHosts: b\r\n", 400}, /* other names are not Host */
  };
  gate_cases(several, sizeof several / sizeof *several);
  const char *good[] = {"example.com",
                        "Example.COM:8080",
                        "127.0.0.1:80",
                        "[::1]:8080",
                        "[::ffff:10.0.0.1]",
                        "[v1.x]",
                        "",
                        "node-1_a.example",
                        "h:",
                        "a%2Db",
                        "\tx \t",
                        "  x"};
  const char *bad[] = {"a b",  "a/b",         "user@h", "[::1",        "[::1]x",
                       "h:8x", "h:80:80",     "a%2",    "a%ZZ",        "a?b",
                       "h#",   "caf\xc3\xa9", "[a b]",  "[::1]:8080]", "\"h\""};
  char h[128];
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    snprintf(h, sizeof h, "Host:%s\r\n", good[i]);
    if (gate_lines(get11, h) != 1) fail_msg("Host '%s' refused", good[i]);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(h, sizeof h, "Host: %s\r\n", bad[i]);
    if (gate_lines(get10, h) != 400) fail_msg("Host '%s' taken", bad[i]);
  }
}

/* Bodies: Content-Length syntax, several values, Transfer-Encoding, the size limit, Expect. */
static void test_gate_body(void **state) {
  (void)state;
  const char *put = "PUT /admin/filters HTTP/1.1\r\nHost: x"; /* (CRLF added) */
  srv_gate_t g;
  const char *body =
      "PUT /admin/filters HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\nAuthorization:  Bearer "
      "tok \r\n\r\nabc";
  assert_int_equal(gate(body, &g), 1);
  assert_int_equal(g.body_len, 3);
  assert_int_equal(g.head_len, strlen(body) - 3);
  assert_int_equal(g.auth_len, 10);
  assert_memory_equal(g.auth, "Bearer tok", 10);
  assert_false(g.expect_continue);
  const char *bad_cl[] = {"-1",
                          "abc",
                          "",
                          "1 2",
                          "+5",
                          "0x10",
                          "5,5",
                          "\t5",
                          "73786976294838206464",  /* 2^66 */
                          "18446744073709551616"}; /* 2^64 */
  for (size_t i = 0; i < sizeof bad_cl / sizeof *bad_cl; i++) {
    char h[128];
    snprintf(h, sizeof h, "Content-Length: %s\r\n", bad_cl[i]);
    assert_int_equal(gate_lines(put, h), 400);
  }
  const gate_case_t cases2[] = {
      {put, "Content-Length: 5\r\nContent-Length: 6\r\n", 400},
      {put, "Content-Length: 5\r\nContent-Length: 5\r\n", 1},
      {put, "Content-Length: 5  \r\n", 1},
      {put, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
      {put, "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
      {put, "Transfer-Encoding: chunked\r\n", 411},
  };
  gate_cases(cases2, sizeof cases2 / sizeof *cases2);
  char h[128];
  snprintf(h, sizeof h, "Content-Length: %u\r\n", SRV_MAX_BODY);
  assert_int_equal(gate_lines(put, h), 1);
  snprintf(h, sizeof h, "Content-Length: %u\r\n", SRV_MAX_BODY + 1);
  assert_int_equal(gate_lines(put, h), 413);
  assert_int_equal(gate_lines(put, "Content-Length: 18446744073709551615\r\n"), 413);
  assert_int_equal(
      gate("PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n", &g),
      1);
  assert_true(g.expect_continue);
  assert_int_equal(gate("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", &g),
                   1);
  assert_false(g.expect_continue); /* HTTP/1.0 knows no 100 */
  assert_int_equal(gate("PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", &g), 1);
  assert_false(g.expect_continue); /* no body, nothing to wait for */
}

static void test_admin_check(void **state) {
  (void)state;
  srv_t s;
  memset(&s, 0, sizeof s);
  assert_int_equal(srv__admin_check(&s, "Bearer tok", 10), 404); /* no token file: off */
  char tok[] = "tok";
  s.admin_token = tok;
  s.admin_token_len = 3;
  assert_int_equal(srv__admin_check(&s, "Bearer tok", 10), 0);
  assert_int_equal(srv__admin_check(&s, "bearer   tok \t", 14), 0);
  assert_int_equal(srv__admin_check(&s, "Bearer tok2", 11), 401);
  assert_int_equal(srv__admin_check(&s, "Bearer to", 9), 401);
  assert_int_equal(srv__admin_check(&s, "Basic tok", 9), 401);
  assert_int_equal(srv__admin_check(&s, "Bearer", 6), 401);
  assert_int_equal(srv__admin_check(&s, NULL, 0), 401);
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
  assert_int_equal(srv__render_json(&b, "ne", 2, NULL, hits, NULL, 2), 0);
  const char *want =
      "{\"q\":\"ne\",\"suggestions\":[{\"text\":\"news\",\"score\":120},"
      "{\"text\":\"new \\\"york\\\"\",\"score\":2.5}]}";
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.p, want, b.len);
  b.len = 0;
  assert_int_equal(srv__render_json(&b, "", 0, NULL, NULL, NULL, 0), 0);
  assert_memory_equal(b.p, "{\"q\":\"\",\"suggestions\":[]}", b.len);
  b.len = 0;
  assert_int_equal(srv__render_msgpack(&b, "ne", 2, NULL, hits, NULL, 1), 0);
  const unsigned char mp[] = {0x82, 0xa1, 'q', 0xa2, 'n', 'e',  0xab, 's', 'u',  'g',
                              'g',  'e',  's', 't',  'i', 'o',  'n',  's', 0x91, 0x82,
                              0xa4, 't',  'e', 'x',  't', 0xa4, 'n',  'e', 'w',  's',
                              0xa5, 's',  'c', 'o',  'r', 'e',  0x78};
  assert_int_equal(b.len, sizeof mp);
  assert_memory_equal(b.p, mp, sizeof mp);
  /* a trending suggestion carries "trending":true after its match, a regular one no such field */
  const srv_mark_t marks[2] = {
      {.kind = TRIE_MATCH_PREFIX, .n_spans = 1, .spans = {{0, 2}}},
      {.kind = TRIE_MATCH_PREFIX, .trending = 1, .n_spans = 1, .spans = {{0, 2}}}};
  b.len = 0;
  assert_int_equal(srv__render_json(&b, "ne", 2, NULL, hits, marks, 2), 0);
  assert_int_equal(ta_buf_put(&b, "", 1), 0); /* a C string to compare */
  assert_string_equal(b.p,
                      "{\"q\":\"ne\",\"suggestions\":[{\"text\":\"news\",\"score\":120,"
                      "\"match\":\"prefix\",\"highlight\":[[0,2]]},"
                      "{\"text\":\"new \\\"york\\\"\",\"score\":2.5,\"match\":\"prefix\","
                      "\"highlight\":[[0,2]],\"trending\":true}]}");
  b.len = 0; /* msgpack: the trending one's map has a fifth member, trending: true */
  assert_int_equal(srv__render_msgpack(&b, "ne", 2, NULL, hits, marks, 2), 0);
  assert_true(b.len > 10 && (unsigned char)b.p[b.len - 1] == 0xc3);
  assert_memory_equal(b.p + b.len - 10, "\xa8trending", 9);
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
      cmocka_unit_test(test_query_params_decoded),
      cmocka_unit_test(test_gate),
      cmocka_unit_test(test_gate_malformed),
      cmocka_unit_test(test_gate_host),
      cmocka_unit_test(test_gate_body),
      cmocka_unit_test(test_admin_check),
      cmocka_unit_test(test_json_string),
      cmocka_unit_test(test_score),
      cmocka_unit_test(test_render),
      cmocka_unit_test(test_etag_accept_secret),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
