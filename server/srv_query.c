/*
 * Query-string parsing for GET /search (SPEC §8): finds the first q and k parameters of the raw
 * query string, percent-decodes q with '+' as a space, and checks q's length and UTF-8 and k's
 * syntax. It replaces libevhtp's evhtp_parse_query/evhtp_unescape_string, which keep '+' and
 * write no terminating NUL. Every byte of the input is hostile: this code is fuzzed
 * (tests/fuzz/fuzz_request.c).
 *
 * It also holds the request gate's scan (srv__gate_scan), which looks at a request's header
 * block before libevhtp's parser may see it (see srv_conn.c for why).
 */
#include "srv_int.h"

#include <string.h>
#include <strings.h>

static int query_hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes v[0..n) into out (capacity cap). Returns 0, TA_EPARSE for a bad %XX, TA_ETOOLONG when
 * the decoded form exceeds cap (decoding stops there, so nothing past cap is written). */
static int query_decode(const char *v, size_t n, char *out, size_t cap, size_t *out_len) {
  size_t o = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi = i + 1 < n ? query_hex((unsigned char)v[i + 1]) : -1;
      int lo = i + 2 < n ? query_hex((unsigned char)v[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        bad = 1; /* keep counting: an over-long q is 414 whatever else is wrong with it */
      } else {
        c = (unsigned char)(hi * 16 + lo);
        i += 2;
      }
    }
    if (o == cap) return TA_ETOOLONG;
    out[o++] = (char)c;
  }
  *out_len = o;
  return bad ? TA_EPARSE : 0;
}

static int query_k(const char *v, size_t n, unsigned long *k) {
  if (n == 0 || n > SRV_MAX_K_DIGITS) return TA_ERANGE;
  unsigned long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return TA_ERANGE;
    x = x * 10 + (unsigned long)(v[i] - '0');
  }
  if (x == 0) return TA_ERANGE;
  *k = x;
  return 0;
}

int srv__query_parse(const char *raw, size_t len, srv_query_t *out) {
  out->has_q = 0;
  out->q[0] = '\0';
  out->q_len = 0;
  out->has_k = 0;
  out->k = 0;
  out->error = NULL;
  if (raw == NULL) len = 0;

  const char *qv = NULL, *kv = NULL;
  size_t qn = 0, kn = 0;
  size_t i = 0;
  while (i < len) {
    size_t end = i;
    while (end < len && raw[end] != '&') end++;
    const char *eq = memchr(raw + i, '=', end - i);
    size_t name_len = eq ? (size_t)(eq - (raw + i)) : end - i;
    const char *val = eq ? eq + 1 : raw + end;
    size_t val_len = eq ? (size_t)(raw + end - val) : 0;
    if (name_len == 1 && raw[i] == 'q' && !out->has_q) {
      out->has_q = 1;
      qv = val;
      qn = val_len;
    } else if (name_len == 1 && raw[i] == 'k' && !out->has_k) {
      out->has_k = 1;
      kv = val;
      kn = val_len;
    }
    i = end + 1;
  }

  if (!out->has_q) {
    out->error = "missing parameter q";
    return TA_EEMPTY;
  }
  int rc = query_decode(qv, qn, out->q, SRV_MAX_Q, &out->q_len);
  if (rc == TA_ETOOLONG) {
    out->q_len = 0;
    out->q[0] = '\0';
    out->error = "q is longer than 1024 bytes";
    return rc;
  }
  out->q[out->q_len] = '\0';
  if (rc == TA_EPARSE) {
    out->error = "malformed percent-encoding in q";
    return rc;
  }
  if (!trie_utf8_valid(out->q, out->q_len)) {
    out->error = "q is not valid UTF-8";
    return TA_EUTF8;
  }
  if (out->has_k && query_k(kv, kn, &out->k) != 0) {
    out->error = "k must be a whole number from 1 to the trie's k";
    return TA_ERANGE;
  }
  return 0;
}

/* METHOD SP TARGET SP HTTP/1.x, the shape libevhtp's parser accepts; anything else it would
 * drop without an answer, so the gate answers 400 instead. */
static int gate_request_line_ok(const char *l, size_t n) {
  size_t i = 0;
  while (i < n && i < 20 && ((l[i] >= 'A' && l[i] <= 'Z') || l[i] == '_')) i++;
  if (i == 0 || i >= n || l[i] != ' ') return 0;
  size_t t = ++i;
  while (i < n && (unsigned char)l[i] > 0x20 && l[i] != 0x7f) i++;
  if (i == t || i >= n || l[i] != ' ') return 0;
  i++;
  return n - i == 8 && memcmp(l + i, "HTTP/1.", 7) == 0 && l[i + 7] >= '0' && l[i + 7] <= '9';
}

int srv__gate_scan(const char *p, size_t n, size_t *head_len, int *has_body) {
  size_t i = 0;
  while (i < n && (p[i] == '\r' || p[i] == '\n')) i++; /* the parser skips these too */
  int line_no = 0;
  *has_body = 0;
  while (i < n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t line_end = nl ? (size_t)(nl - p) : n;
    size_t line_len = line_end - i;
    if (line_len > 0 && nl && p[line_end - 1] == '\r') line_len--;
    if (line_len > SRV_MAX_LINE) return line_no == 0 ? 414 : 431;
    if (nl == NULL) break;
    if (line_no == 0 && !gate_request_line_ok(p + i, line_len)) return 400;
    if (line_len == 0 && line_no > 0) {
      *head_len = line_end + 1;
      return 1;
    }
    if (line_no > 0 && ((line_len > 15 && strncasecmp(p + i, "content-length:", 15) == 0) ||
                        (line_len > 18 && strncasecmp(p + i, "transfer-encoding:", 18) == 0)))
      *has_body = 1;
    line_no++;
    i = line_end + 1;
  }
  if (n > SRV_MAX_HEAD) return line_no == 0 ? 414 : 431;
  return 0;
}
