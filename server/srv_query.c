/*
 * Query-string parsing for GET /search (SPEC §8): finds the first q, k, typos and words
 * parameters of the raw query string, percent-decodes each value with '+' as a space (one
 * decoder for every parameter, market= included: k=%31%30 is k=10), and checks q's length and
 * UTF-8 and the others' syntax. It replaces libevhtp's evhtp_parse_query/evhtp_unescape_string,
 * which keep '+' and write no terminating NUL. Every byte of the input is hostile: this code is
 * fuzzed (tests/fuzz/fuzz_request.c).
 *
 * It also holds the request gate's scan (srv__gate_scan), which looks at a request's header
 * block before libevhtp's parser may see it (see srv_conn.c for why; the rules are SPEC §8's
 * "resource limits" and docs/server.md's "Requests the gate answers"), and the admin token
 * check that the gate and the admin handlers share.
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

int srv__query_decode(const char *v, size_t n, char *out, size_t cap, size_t *out_len) {
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

static int query_fail(srv_query_t *out, int rc, const char *why) {
  out->error = why;
  return rc;
}

int srv__query_parse(const char *raw, size_t len, srv_query_t *out) {
  out->has_q = 0;
  out->q[0] = '\0';
  out->q_len = 0;
  out->has_k = 0;
  out->k = 0;
  out->error = NULL;
  out->typos = TRIE_TYPOS_AUTO;
  out->words = 1;
  if (raw == NULL) len = 0;

  const char *qv = NULL, *kv = NULL, *tv = NULL, *wv = NULL;
  size_t qn = 0, kn = 0, tn = 0, wn = 0;
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
    } else if (name_len == 5 && memcmp(raw + i, "typos", 5) == 0 && tv == NULL) {
      tv = val;
      tn = val_len;
    } else if (name_len == 5 && memcmp(raw + i, "words", 5) == 0 && wv == NULL) {
      wv = val;
      wn = val_len;
    }
    i = end + 1;
  }

  if (!out->has_q) return query_fail(out, TA_EEMPTY, "missing parameter q");
  int rc = srv__query_decode(qv, qn, out->q, SRV_MAX_Q, &out->q_len);
  if (rc == TA_ETOOLONG) {
    out->q_len = 0;
    out->q[0] = '\0';
    return query_fail(out, rc, "q is longer than 1024 bytes");
  }
  out->q[out->q_len] = '\0';
  if (rc == TA_EPARSE) return query_fail(out, rc, "malformed percent-encoding in q");
  if (!trie_utf8_valid(out->q, out->q_len))
    return query_fail(out, TA_EUTF8, "q is not valid UTF-8");
  /* The others, decoded as q is; a value longer than any valid one is a bad value (400, not
   * q's 414). */
  char v[SRV_MAX_K_DIGITS > 4 ? SRV_MAX_K_DIGITS : 4]; /* k's digits, or auto */
  size_t vn = 0;
  if (out->has_k) {
    rc = srv__query_decode(kv, kn, v, SRV_MAX_K_DIGITS, &vn);
    if (rc == TA_EPARSE) return query_fail(out, rc, "malformed percent-encoding in k");
    if (rc || query_k(v, vn, &out->k) != 0)
      return query_fail(out, TA_ERANGE, "k must be a whole number from 1 to the trie's k");
  }
  if (tv != NULL) { /* typos=auto|0|1|2 (SPEC §15) */
    rc = srv__query_decode(tv, tn, v, 4, &vn);
    if (rc == TA_EPARSE) return query_fail(out, rc, "malformed percent-encoding in typos");
    if (rc == 0 && vn == 4 && memcmp(v, "auto", 4) == 0)
      out->typos = TRIE_TYPOS_AUTO;
    else if (rc == 0 && vn == 1 && v[0] >= '0' && v[0] <= (char)('0' + TRIE_MAX_TYPOS))
      out->typos = v[0] - '0';
    else
      return query_fail(out, TA_ERANGE, "typos must be auto, 0, 1 or 2");
  }
  if (wv != NULL) { /* words=0|1 */
    rc = srv__query_decode(wv, wn, v, 1, &vn);
    if (rc == TA_EPARSE) return query_fail(out, rc, "malformed percent-encoding in words");
    if (rc || vn != 1 || (v[0] != '0' && v[0] != '1'))
      return query_fail(out, TA_ERANGE, "words must be 0 or 1");
    out->words = v[0] - '0';
  }
  return 0;
}

/* ---- The request gate ---------------------------------------------------------------------- */

static int gate_fail(srv_gate_t *g, int status, const char *why) {
  g->error = why;
  return status;
}

/* What the scan keeps from line to line. */
typedef struct {
  int http11;   /* the request line says HTTP/1.1 */
  int asterisk; /* OPTIONS *: 204 once the header block is whole and acceptable */
  int cl_seen, te_seen, expect;
  int hosts; /* Host header lines */
} gate_seen_t;

/* The target: origin form (/path), absolute form as libevhtp's parser takes it
 * (letters://host[:port]/path, host of letters, digits, '.' and '-', port at most 65535), or *
 * (asterisk form). */
static int gate_target(const char *t, size_t n, srv_gate_t *g) {
  size_t i = 0;
  if (t[0] != '/') {
    while (i < n && (unsigned char)((t[i] | 0x20) - 'a') < 26) i++;
    if (i == 0 || n - i < 3 || memcmp(t + i, "://", 3) != 0) return -1;
    size_t h = i += 3;
    while (i < n && ((unsigned char)((t[i] | 0x20) - 'a') < 26 ||
                     (unsigned char)(t[i] - '0') < 10 || t[i] == '.' || t[i] == '-'))
      i++;
    if (i == h) return -1;
    if (i < n && t[i] == ':') { /* libevhtp drops a request whose port is over 65535 */
      unsigned long port = 0;
      for (i++; i < n && (unsigned char)(t[i] - '0') < 10; i++)
        if ((port = port * 10 + (unsigned long)(t[i] - '0')) > 65535) return -1;
    }
    if (i == n || t[i] != '/') return -1;
  }
  g->path = t + i;
  g->path_len = n - i;
  return 0;
}

/* METHOD SP TARGET SP HTTP/D.D; 0 when acceptable, else the gate's status. */
static int gate_request_line(const char *l, size_t n, srv_gate_t *g, gate_seen_t *seen) {
  static const char bad[] = "malformed request line (expected METHOD /path HTTP/1.1)";
  size_t i = 0;
  while (i < n && i < 20 && ((l[i] >= 'A' && l[i] <= 'Z') || l[i] == '_')) i++;
  if (i == 0 || i >= n || l[i] != ' ') return gate_fail(g, 400, bad);
  size_t m_len = i;
  size_t t = ++i;
  while (i < n && (unsigned char)l[i] > 0x20 && l[i] != 0x7f) i++;
  if (i == t || i >= n || l[i] != ' ') return gate_fail(g, 400, bad);
  size_t t_len = i - t;
  const char *v = l + i + 1;
  if (n - i - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || (unsigned char)(v[5] - '0') > 9 ||
      v[6] != '.' || (unsigned char)(v[7] - '0') > 9)
    return gate_fail(g, 400, bad);
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
    return gate_fail(g, 505, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
  seen->http11 = v[7] == '1';
  if (m_len == 7 && memcmp(l, "CONNECT", 7) == 0)
    return gate_fail(g, 400, "CONNECT is not supported (this server is no proxy)");
  if (t_len == 1 && l[t] == '*') {
    if (m_len != 7 || memcmp(l, "OPTIONS", 7) != 0)
      return gate_fail(g, 400, "the target * is for OPTIONS only");
    seen->asterisk = 1; /* answered once its header lines are checked (Host) */
    return 0;
  }
  if (gate_target(l + t, t_len, g) != 0)
    return gate_fail(g, 400, "malformed request target (expected /path or http://host/path)");
  return 0;
}

/* Content-Length: 1*DIGIT, at most 2^64 - 1 (libevhtp's parser reads no more). */
static int gate_content_length(const char *v, size_t n, uint64_t *out) {
  if (n == 0 || n > 20) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d = (unsigned char)(v[i] - '0');
    if (d > 9 || x > (UINT64_MAX - d) / 10) return -1;
    x = x * 10 + d;
  }
  *out = x;
  return 0;
}

/* A header value as libevhtp keeps it: leading spaces skipped (not tabs), trailing blanks. */
static void gate_trim(const char **v, size_t *n) {
  while (*n && **v == ' ') ++*v, --*n;
  while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t')) --*n;
}

void srv__ows_trim(const char **v, size_t *n) {
  while (*n && (**v == ' ' || **v == '\t')) ++*v, --*n;
  while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t')) --*n;
}

/* A Host value (RFC 9110 §7.2: uri-host [":" port]) without its outer blanks; empty is valid
 * (RFC 9112 §3.2). The host: a reg-name (unreserved, sub-delims and %XX; an IPv4 address is one)
 * or an IP-literal in brackets. */
int srv__host_valid(const char *v, size_t n) {
  static const char punct[] = "-._~!$&'()*+,;="; /* unreserved and sub-delims but letters, digits */
  srv__ows_trim(&v, &n);
  int literal = n && v[0] == '[';
  size_t i = (size_t)literal;
  for (; i < n && v[i] != (literal ? ']' : ':'); i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '%' && !literal) {
      if (i + 2 >= n || query_hex((unsigned char)v[i + 1]) < 0 ||
          query_hex((unsigned char)v[i + 2]) < 0)
        return 0;
      i += 2;
    } else if (!((unsigned char)((c | 0x20) - 'a') < 26 || (unsigned char)(c - '0') < 10 ||
                 (c && strchr(punct, c)) || (literal && c == ':'))) {
      return 0;
    }
  }
  if (literal && i++ == n) return 0; /* no closing bracket */
  if (i < n && v[i++] != ':') return 0;
  while (i < n && (unsigned char)(v[i] - '0') < 10) i++;
  return i == n;
}

/* One header line l[0..n) (without its CRLF): a token, a colon, a value. Records what the gate
 * needs; 0, or the gate's status. */
static int gate_header(const char *l, size_t n, srv_gate_t *g, gate_seen_t *seen) {
  if (l[0] == ' ' || l[0] == '\t')
    return gate_fail(g, 400, "obsolete line folding (a header line starting with a space)");
  /* No whitespace before the colon (RFC 9112 §5.1: a proxy may read "Content-Length :" as the
   * length, libevhtp reads another header). */
  const char *colon = memchr(l, ':', n);
  if (colon == NULL) return gate_fail(g, 400, "header line without a colon");
  size_t k = (size_t)(colon - l);
  if (k == 0) return gate_fail(g, 400, "header line without a name");
  if (l[k - 1] == ' ' || l[k - 1] == '\t')
    return gate_fail(g, 400, "whitespace between a header name and its colon");
  const char *v = l + k + 1;
  size_t vn = n - k - 1;
  switch (k) { /* the value is trimmed only where it is read: most headers are not */
  case 4:      /* RFC 9112 §3.2: one Host, of a valid value (and HTTP/1.1 must send one) */
    if (strncasecmp(l, "host", 4) != 0) break;
    if (++seen->hosts > 1) return gate_fail(g, 400, "more than one Host header");
    if (!srv__host_valid(v, vn)) return gate_fail(g, 400, "malformed Host header");
    break;
  case 6:
    if (strncasecmp(l, "expect", 6) != 0) break;
    gate_trim(&v, &vn);
    if (vn != 12 || strncasecmp(v, "100-continue", 12) != 0)
      return gate_fail(g, 417, "the only expectation supported is 100-continue");
    seen->expect = 1;
    break;
  case 13:
    if (strncasecmp(l, "authorization", 13) == 0) {
      gate_trim(&v, &vn);
      g->auth = v;
      g->auth_len = vn;
    }
    break;
  case 14: {
    if (strncasecmp(l, "content-length", 14) != 0) break;
    gate_trim(&v, &vn);
    uint64_t len = 0;
    if (gate_content_length(v, vn, &len) != 0)
      return gate_fail(g, 400, "bad Content-Length (expected digits, at most 2^64 - 1)");
    if (seen->cl_seen && len != g->body_len)
      return gate_fail(g, 400, "several different Content-Length values");
    seen->cl_seen = 1;
    g->body_len = len;
    break;
  }
  case 17:
    if (strncasecmp(l, "transfer-encoding", 17) == 0) seen->te_seen = 1;
    break;
  default:
    break;
  }
  return 0;
}

int srv__gate_scan(const char *p, size_t n, srv_gate_t *g) {
  memset(g, 0, sizeof *g);
  size_t i = 0;
  while (n - i >= 2 && p[i] == '\r' && p[i + 1] == '\n') i += 2; /* empty lines before */
  g->skip = i;
  int line_no = 0;
  gate_seen_t seen = {0};
  while (i < n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t line_end = nl ? (size_t)(nl - p) : n;
    size_t line_len = line_end - i;
    if (line_len > SRV_MAX_LINE)
      return line_no == 0 ? gate_fail(g, 414, "request line longer than 8000 bytes")
                          : gate_fail(g, 431, "header line longer than 8000 bytes");
    if (nl == NULL) break;
    if (line_len == 0 || p[line_end - 1] != '\r')
      return gate_fail(g, 400, "a line ends in a bare LF (lines end with CRLF)");
    line_len--;
    if (memchr(p + i, '\r', line_len)) return gate_fail(g, 400, "a CR inside a line");
    int st = 0;
    if (line_no == 0) {
      st = gate_request_line(p + i, line_len, g, &seen);
    } else if (line_len == 0) {
      g->head_len = line_end + 1;
      if (memchr(p, '\0', g->head_len)) return gate_fail(g, 400, "a NUL byte in the header block");
      if (seen.http11 && seen.hosts == 0)
        return gate_fail(g, 400, "no Host header (an HTTP/1.1 request must have one)");
      if (seen.te_seen && seen.cl_seen)
        return gate_fail(g, 400, "both Content-Length and Transfer-Encoding");
      if (seen.te_seen)
        return gate_fail(g, 411, "Transfer-Encoding is not supported: send Content-Length");
      if (g->body_len > SRV_MAX_BODY) return gate_fail(g, 413, "request body over 1048576 bytes");
      if (seen.asterisk) return gate_fail(g, 204, NULL);
      g->expect_continue = seen.expect && seen.http11 && g->body_len > 0;
      return 1;
    } else {
      st = gate_header(p + i, line_len, g, &seen);
    }
    if (st) return st;
    line_no++;
    i = line_end + 1;
  }
  if (n > SRV_MAX_HEAD)
    return line_no == 0 ? gate_fail(g, 414, "request line longer than 8000 bytes")
                        : gate_fail(g, 431, "header block over 32768 bytes");
  return 0;
}

/* ---- Admin authorization ------------------------------------------------------------------- */

int srv__admin_check(const srv_t *s, const char *auth, size_t n) {
  if (s->admin_token == NULL) return 404;
  if (auth == NULL || n < 7 || strncasecmp(auth, "Bearer ", 7) != 0) return 401;
  const char *tok = auth + 7;
  n -= 7;
  while (n && *tok == ' ') tok++, n--;
  while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t')) n--;
  return srv__secret_equal(s->admin_token, s->admin_token_len, tok, n) ? 0 : 401;
}
