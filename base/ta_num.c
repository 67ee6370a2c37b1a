/*
 * Numbers in and out (ta.h, "Numbers"): strict parsing of the numbers that command lines and
 * configuration give (digits only, so "1e3", " 5", "0x10" or "-1" never pass for something
 * else), and the one decimal form of integers and scores that every tool and the server print.
 */
#include "ta.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int ta_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  if (s == NULL || *s == '\0') return TA_EPARSE;
  uint64_t v = 0;
  int over = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return TA_EPARSE;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      over = 1;
    else
      v = v * 10 + d;
  }
  if (over || v < lo || v > hi) return TA_ERANGE;
  *out = v;
  return 0;
}

int ta_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  uint64_t v;
  int rc = ta_parse_u64(s, lo, hi, &v);
  if (rc == 0) *out = (unsigned)v;
  return rc;
}

int ta_parse_double(const char *s, double lo, double hi, double *out) {
  if (s == NULL) return TA_EPARSE;
  /* Syntax first, so strtod's extras (hex, inf, nan, leading space, '+', locale) never get in. */
  const char *p = s;
  if (*p == '-') {
    if (!(lo < 0)) return TA_ERANGE;
    p++;
  }
  size_t int_digits = 0, frac_digits = 0;
  while (*p >= '0' && *p <= '9') p++, int_digits++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') p++, frac_digits++;
  }
  if (int_digits + frac_digits == 0) return TA_EPARSE;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return TA_EPARSE;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p != '\0') return TA_EPARSE;
  errno = 0;
  double v = strtod(s, NULL);
  if (!isfinite(v) || v < lo || v > hi) return TA_ERANGE;
  *out = v;
  return 0;
}

size_t ta_fmt_u64(uint64_t v, char out[TA_U64_CAP]) {
  char tmp[TA_U64_CAP];
  size_t n = 0, o = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) out[o++] = tmp[--n];
  out[o] = '\0';
  return o;
}

size_t ta_fmt_score(double score, char out[TA_SCORE_CAP]) {
  if (!isfinite(score)) score = 0;
  if (score == floor(score) && fabs(score) < 9007199254740992.0) {
    size_t neg = score < 0;
    if (neg) out[0] = '-';
    return neg + ta_fmt_u64((uint64_t)(neg ? -score : score), out + neg);
  }
  /* %.15g reads back for every decimal of at most 15 digits (DBL_DIG), so trying 15 first gives
   * the shortest form for those, and 16 or 17 digits are enough for any other double. */
  int len = 0;
  for (int prec = 15; prec <= 17; prec++) {
    len = snprintf(out, TA_SCORE_CAP, "%.*g", prec, score);
    if (strtod(out, NULL) == score) break;
  }
  return (size_t)len;
}
