/*
 * Fuzz target of the server's request parsing (server/srv_query.c): the request gate's scan of
 * a header block and the /search query string (percent decoding, '+', q length, k), then the
 * rendering of whatever q comes out (JSON escaping) and the header helpers (If-None-Match,
 * Accept). Checks the contracts of srv_int.h, not just "no crash": a parsed q is at most
 * SRV_MAX_Q bytes of valid UTF-8, k is 1..999999, the gate's head length lies inside the input,
 * and the JSON string of q has balanced quotes and no raw control byte.
 */
#include "srv_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data;

  size_t head_len = 0;
  int has_body = 0;
  size_t gate_n = size < SRV_MAX_HEAD + 1 ? size : SRV_MAX_HEAD + 1;
  int st = srv__gate_scan(p, gate_n, &head_len, &has_body);
  if (st != 0 && st != 1 && st != 400 && st != 414 && st != 431) abort();
  if (st == 1 && (head_len == 0 || head_len > gate_n)) abort();

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
    if (srv__render_json(&b, q.q, q.q_len, &hit, 1) != 0) abort();
    b.len = 0;
    if (srv__render_msgpack(&b, q.q, q.q_len, &hit, 1) != 0) abort();
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
