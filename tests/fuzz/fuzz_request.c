/*
 * Fuzz target of the server's request parsing (server/srv_query.c): the request gate's scan of
 * a header block and the /search query string (percent decoding, '+', q length, k), then the
 * rendering of whatever q comes out (JSON escaping) and the header helpers (If-None-Match,
 * Accept). Checks the contracts of srv_int.h, not just "no crash": the gate answers one of its
 * statuses, what it accepts lies inside the input and within the limits, and libevhtp's own
 * parser reads an accepted header block whole, without error and with the same Content-Length
 * (else that request would be dropped unanswered, or framed differently: smuggling), and its
 * query parser takes the query string; a parsed q
 * is at most SRV_MAX_Q bytes of valid UTF-8, k is 1..999999, and the JSON string of q has
 * balanced quotes and no raw control byte.
 */
#include "srv_int.h"

#include <evhtp/evhtp.h>
#include <evhtp/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hdrs_complete;

static int on_hdrs_complete(htparser *hp) {
  (void)hp;
  hdrs_complete = 1;
  return 0;
}

/* libevhtp's own port hook (htp__request_parse_port_): a port over 65535 fails the request,
 * which libevhtp then drops without an answer. The same rule here, so the fuzzer sees it, and
 * the same strtoul over the whole port, however long: "h:000...0" (100 zeros) is port 0 to
 * libevhtp (a 32-byte copy here refused it, and the fuzzer reported the gate for it). */
static int on_port(htparser *hp, const char *data, size_t len) {
  (void)hp;
  char *buf = malloc(len + 1);
  if (buf == NULL) abort();
  memcpy(buf, data, len);
  buf[len] = '\0';
  char *end;
  unsigned long port = strtoul(buf, &end, 10);
  int bad = (size_t)(end - buf) != len || port > 65535;
  free(buf);
  return bad ? -1 : 0;
}

/* libevhtp's parser over an accepted header block. */
static void parser_agrees(const char *p, const srv_gate_t *g) {
  htparser *hp = htparser_new();
  if (hp == NULL) return;
  htparser_init(hp, htp_type_request);
  htparse_hooks hooks;
  memset(&hooks, 0, sizeof hooks);
  hooks.on_hdrs_complete = on_hdrs_complete;
  hooks.port = on_port;
  hdrs_complete = 0;
  size_t used = htparser_run(hp, &hooks, p + g->skip, g->head_len - g->skip);
  if (htparser_get_error(hp) != htparse_error_none || used != g->head_len - g->skip ||
      !hdrs_complete)
    abort();
  if (htparser_get_content_length(hp) != g->body_len) abort();
  free(hp);
  /* And libevhtp's query parser, with the server's flags, over the query (fragment apart). */
  const char *q = memchr(g->path, '?', g->path_len);
  if (q) {
    size_t qn = g->path_len - (size_t)(q + 1 - g->path);
    const char *f = memchr(q + 1, '#', qn);
    evhtp_query_t *args = evhtp_parse_query_wflags(q + 1, f ? (size_t)(f - q - 1) : qn,
                                                   EVHTP_PARSE_QUERY_FLAG_DEFAULT);
    if (args == NULL) abort();
    evhtp_query_free(args);
  }
}

static void gate_contract(const char *p, size_t size) {
  srv_gate_t g;
  size_t n = size < SRV_MAX_HEAD + 1 ? size : SRV_MAX_HEAD + 1;
  int st = srv__gate_scan(p, n, &g);
  switch (st) {
  case 0:
    return;
  case 1:
    if (g.head_len == 0 || g.head_len > n || g.skip >= g.head_len || g.body_len > SRV_MAX_BODY ||
        g.path == NULL || g.path_len == 0 || g.path[0] != '/' || g.path < p ||
        g.path + g.path_len > p + g.head_len)
      abort();
    if (g.auth && (g.auth < p || g.auth + g.auth_len > p + g.head_len)) abort();
    if (g.expect_continue && g.body_len == 0) abort();
    parser_agrees(p, &g);
    return;
  case 204:
  case 400:
  case 411:
  case 413:
  case 414:
  case 417:
  case 431:
  case 505:
    if (st != 204 && g.error == NULL) abort();
    return;
  default:
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;
  gate_contract(p, size);

  srv_query_t q;
  int rc = srv__query_parse(p, size, &q);
  if (rc == 0) {
    if (q.q_len > SRV_MAX_Q || !trie_utf8_valid(q.q, q.q_len) || q.q[q.q_len] != '\0') abort();
    if (q.has_k && (q.k < 1 || q.k > 999999)) abort();
    ta_buf_t b = {0};
    if (srv__json_string(&b, q.q, q.q_len) != 0) abort();
    if (b.len < 2 || b.p[0] != '"' || b.p[b.len - 1] != '"') abort();
    for (size_t i = 0; i < b.len; i++)
      if ((unsigned char)b.p[i] < 0x20) abort();
    trie_hit_t hit = {0, 1.5, q.q, q.q_len};
    b.len = 0;
    if (srv__render_json(&b, q.q, q.q_len, NULL, &hit, NULL, 1) != 0) abort();
    b.len = 0;
    if (srv__render_msgpack(&b, q.q, q.q_len, NULL, &hit, NULL, 1) != 0) abort();
    ta_buf_free(&b);
  } else if (q.error == NULL) {
    abort();
  }

  /* Header values are NUL-terminated strings by the time they reach us. */
  char *s = malloc(size + 1);
  if (s == NULL) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  (void)srv__etag_match(s, "\"0123abcd-0-j\"");
  (void)srv__wants_msgpack(s);
  free(s);
  return 0;
}
