/*
 * The bodies and header logic of /search answers (SPEC §8): the JSON and msgpack forms of
 * {"q":..,"suggestions":[{"text":..,"score":..}]}, the score format (shortest round-trip
 * decimal; integers without a decimal point, as typeahead-query prints them), If-None-Match
 * against our ETag, Accept negotiation, and the constant-time token comparison of the admin
 * endpoints; and the whole replies the connection layer (srv_conn.c) writes itself. Rendering goes into a growable buffer each worker reuses (no allocation per
 * request once warm).
 */
#include "srv_int.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *srv__render_ctype(int rep) {
  return rep ? "application/msgpack" : "application/json; charset=utf-8";
}

int srv__json_string(ta_buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  /* Worst case: every byte a control character, 6 bytes each, plus the quotes. */
  if (n > (SIZE_MAX - 2) / 6) return TA_ENOMEM;
  int rc = ta_buf_reserve(b, n * 6 + 2);
  if (rc) return rc;
  char *o = b->p + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c < 0x20) {
      memcpy(o, "\\u00", 4);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      o += 6;
    } else {
      *o++ = (char)c;
    }
  }
  *o++ = '"';
  b->len = (size_t)(o - b->p);
  return 0;
}

/* Scores are sums of counts times powers of 0.5, so most are integers: those print exactly. */
static int score_is_int(double x) {
  return fabs(x) < 9007199254740992.0 && x == trunc(x);
}

/* ,"match":"..","highlight":[[start,length],..] of one suggestion (SPEC §15). */
static int render_mark_json(ta_buf_t *b, const srv_mark_t *mk) {
  const char *name = trie_match_name(mk->kind);
  int rc = ta_buf_put(b, ",\"match\":\"", 10);
  if (!rc) rc = ta_buf_put(b, name, strlen(name));
  if (!rc) rc = ta_buf_put(b, "\",\"highlight\":[", 15);
  for (unsigned i = 0; i < mk->n_spans && !rc; i++) {
    char num[48];
    int nl = snprintf(num, sizeof num, "%s[%u,%u]", i ? "," : "", (unsigned)mk->spans[i][0],
                      (unsigned)mk->spans[i][1]);
    rc = ta_buf_put(b, num, (size_t)nl);
  }
  if (!rc) rc = ta_buf_put(b, "]", 1);
  if (!rc && mk->trending) rc = ta_buf_put(b, ",\"trending\":true", 16);
  return rc;
}

int srv__render_json(ta_buf_t *b, const char *q, size_t q_len, const char *market,
                     const trie_hit_t *hits, const srv_mark_t *marks, size_t n_hits) {
  int rc = ta_buf_put(b, "{\"q\":", 5);
  if (!rc) rc = srv__json_string(b, q, q_len);
  if (!rc && market) rc = ta_buf_put(b, ",\"market\":", 10);
  if (!rc && market) rc = srv__json_string(b, market, strlen(market));
  if (!rc) rc = ta_buf_put(b, ",\"suggestions\":[", 16);
  for (size_t i = 0; i < n_hits && !rc; i++) {
    char num[TA_SCORE_CAP];
    size_t nl = ta_fmt_score(hits[i].score, num);
    rc = ta_buf_put(b, i ? ",{\"text\":" : "{\"text\":", i ? 9 : 8);
    if (!rc) rc = srv__json_string(b, hits[i].text, hits[i].text_len);
    if (!rc) rc = ta_buf_put(b, ",\"score\":", 9);
    if (!rc) rc = ta_buf_put(b, num, nl);
    if (!rc && marks) rc = render_mark_json(b, &marks[i]);
    if (!rc) rc = ta_buf_put(b, "}", 1);
  }
  if (!rc) rc = ta_buf_put(b, "]}", 2);
  return rc;
}

static int render_msgpack_write(void *data, const char *buf, size_t len) {
  return ta_buf_put(data, buf, len) ? -1 : 0;
}

static int render_msgpack_str(msgpack_packer *pk, const char *s, size_t n) {
  if (msgpack_pack_str(pk, n) != 0) return -1;
  return msgpack_pack_str_body(pk, s, n);
}

int srv__render_msgpack(ta_buf_t *b, const char *q, size_t q_len, const char *market,
                        const trie_hit_t *hits, const srv_mark_t *marks, size_t n_hits) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, b, render_msgpack_write);
  int bad = msgpack_pack_map(&pk, market ? 3 : 2);
  bad |= render_msgpack_str(&pk, "q", 1);
  bad |= render_msgpack_str(&pk, q, q_len);
  if (market) {
    bad |= render_msgpack_str(&pk, "market", 6);
    bad |= render_msgpack_str(&pk, market, strlen(market));
  }
  bad |= render_msgpack_str(&pk, "suggestions", 11);
  bad |= msgpack_pack_array(&pk, n_hits);
  for (size_t i = 0; i < n_hits; i++) {
    double score = isfinite(hits[i].score) ? hits[i].score : 0;
    bad |= msgpack_pack_map(&pk, marks ? 4u + (marks[i].trending != 0) : 2u);
    bad |= render_msgpack_str(&pk, "text", 4);
    bad |= render_msgpack_str(&pk, hits[i].text, hits[i].text_len);
    bad |= render_msgpack_str(&pk, "score", 5);
    if (score_is_int(score))
      bad |= msgpack_pack_int64(&pk, (int64_t)score);
    else
      bad |= msgpack_pack_double(&pk, score);
    if (marks == NULL) continue;
    const char *name = trie_match_name(marks[i].kind);
    bad |= render_msgpack_str(&pk, "match", 5);
    bad |= render_msgpack_str(&pk, name, strlen(name));
    bad |= render_msgpack_str(&pk, "highlight", 9);
    bad |= msgpack_pack_array(&pk, marks[i].n_spans);
    for (unsigned j = 0; j < marks[i].n_spans; j++) {
      bad |= msgpack_pack_array(&pk, 2);
      bad |= msgpack_pack_uint32(&pk, marks[i].spans[j][0]);
      bad |= msgpack_pack_uint32(&pk, marks[i].spans[j][1]);
    }
    if (marks[i].trending) {
      bad |= render_msgpack_str(&pk, "trending", 8);
      bad |= msgpack_pack_true(&pk);
    }
  }
  return bad ? TA_ENOMEM : 0;
}

static const char *skip_ows(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

int srv__etag_match(const char *inm, const char *etag) {
  if (inm == NULL || etag == NULL) return 0;
  /* Our tags are "opaque" (strong); compare what lies between the quotes. */
  size_t elen = strlen(etag);
  const char *eo = etag;
  if (elen >= 2 && etag[0] == '"') {
    eo = etag + 1;
    elen -= 2;
  }
  const char *p = skip_ows(inm);
  if (p[0] == '*' && *skip_ows(p + 1) == '\0') return 1;
  while (*p) {
    p = skip_ows(p);
    if (p[0] == 'W' && p[1] == '/') p += 2;
    if (*p != '"') {
      /* Not an entity-tag: skip to the next list member. */
      while (*p && *p != ',') p++;
    } else {
      const char *start = ++p;
      while (*p && *p != '"') p++;
      if (*p != '"') return 0;
      if ((size_t)(p - start) == elen && memcmp(start, eo, elen) == 0) return 1;
      p++;
      while (*p && *p != ',') p++;
    }
    if (*p == ',') p++;
  }
  return 0;
}

/* q value of one media-range's parameters ("; q=0.5"); 1 when absent. */
static double accept_qvalue(const char *params, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
        (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ' || params[i - 1] == '\t')) {
      char tmp[8];
      size_t j = 0;
      for (size_t k = i + 2; k < n && j < sizeof tmp - 1 && params[k] != ';'; k++)
        tmp[j++] = params[k];
      tmp[j] = '\0';
      double v = strtod(tmp, NULL);
      return v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return 1;
}

int srv__wants_msgpack(const char *accept) {
  if (accept == NULL) return 0;
  double mq = 0, jq = 0;
  const char *p = accept;
  while (*p) {
    p = skip_ows(p);
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *semi = memchr(p, ';', n);
    size_t tn = semi ? (size_t)(semi - p) : n;
    while (tn && (p[tn - 1] == ' ' || p[tn - 1] == '\t')) tn--;
    double q = semi ? accept_qvalue(semi + 1, n - (size_t)(semi - p) - 1) : 1;
    if ((tn == 19 && strncasecmp(p, "application/msgpack", 19) == 0) ||
        (tn == 21 && strncasecmp(p, "application/x-msgpack", 21) == 0)) {
      if (q > mq) mq = q;
    } else if (tn == 16 && strncasecmp(p, "application/json", 16) == 0) {
      if (q > jq) jq = q;
    }
    p += n;
    if (*p == ',') p++;
  }
  return mq > 0 && mq > jq;
}

int srv__secret_equal(const char *a, size_t a_len, const char *b, size_t b_len) {
  /* Walk the whole of a whatever b holds, so the time tells nothing about where they differ. */
  unsigned char diff = (unsigned char)(a_len != b_len);
  for (size_t i = 0; i < a_len; i++) {
    unsigned char bc = b_len ? (unsigned char)b[i % b_len] : 0;
    diff |= (unsigned char)((unsigned char)a[i] ^ bc);
  }
  return diff == 0;
}

static const char *closing_reason(int status) {
  switch (status) {
  case 204:
    return "No Content";
  case 401:
    return "Unauthorized";
  case 404:
    return "Not Found";
  case 408:
    return "Request Timeout";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 417:
    return "Expectation Failed";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Bad Request";
  }
}

size_t srv__render_closing(int status, const char *msg, char *out, size_t cap) {
  char body[256];
  int bn = status == 204 ? 0 : snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg ? msg : "");
  if (bn < 0 || (size_t)bn >= sizeof body) bn = 0;
  const char *extra = status == 401   ? "WWW-Authenticate: Bearer realm=\"typeahead-admin\"\r\n"
                      : status == 204 ? "Allow: GET, HEAD, OPTIONS, POST, PUT\r\n"
                      : status == 503 ? "Retry-After: 1\r\n"
                                      : "";
  char len[32] = ""; /* none in a 204 (RFC 9110 §8.6) */
  if (status != 204) snprintf(len, sizeof len, "Content-Length: %d\r\n", bn);
  int n = snprintf(out, cap,
                   "HTTP/1.1 %d %s\r\n%s%s%sCache-Control: no-store\r\n"
                   "Connection: close\r\n\r\n%.*s",
                   status, closing_reason(status), extra,
                   bn ? "Content-Type: application/json; charset=utf-8\r\n" : "", len, bn, body);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
