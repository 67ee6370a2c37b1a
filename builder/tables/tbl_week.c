/*
 * ISO weeks and log timestamps of the week tables (tbl.h; SPEC §4: "each event is counted in the
 * table of its ISO week; weeks start Monday 00:00 UTC"; docs/TABLES.md). Civil-date arithmetic
 * is done here by hand (Howard Hinnant's days_from_civil / civil_from_days), so no locale, TZ
 * variable or libc time zone database can change a result.
 */
#include "tbl.h"

#include <stdio.h>
#include <string.h>

/* 0001-01-01T00:00:00Z (a Monday: the first second of ISO week 0001-W01) and
 * 9999-12-31T23:59:59Z: the times whose week and hour have names ("YYYY-Www", "YYYY-MM-DDTHH")
 * that tbl_week_parse and tbl_hour_parse read back. */
#define MIN_UNIX INT64_C(-62135596800)
#define MAX_UNIX INT64_C(253402300799)

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 ? 28 + leap : dim[m - 1];
}

tbl_week_t tbl_week_of_unix(int64_t t) {
  /* floor((floor(t / 86400) + 3) / 7) = floor((t + 3 days) / 1 week); one unsigned division by
   * a constant (a multiplication) when t + 3 days is not negative. */
  if (t >= -3 * 86400 && t <= INT64_MAX - 3 * 86400)
    return (tbl_week_t)((uint64_t)(t + 3 * 86400) / (7 * 86400u));
  return (tbl_week_t)floor_div(floor_div(t, 86400) + 3, 7);
}

int64_t tbl_week_start_unix(tbl_week_t w) {
  return ((int64_t)w * 7 - 3) * 86400;
}

static void iso_year_week(tbl_week_t w, int64_t *year, int *week) {
  int64_t thursday = (int64_t)w * 7; /* Monday (w*7-3) + 3 */
  int64_t y;
  int m, d;
  civil_from_days(thursday, &y, &m, &d);
  *year = y;
  *week = (int)((thursday - days_from_civil(y, 1, 1)) / 7 + 1);
}

void tbl_week_name(tbl_week_t w, char out[TBL_WEEK_STR]) {
  int64_t y;
  int wk;
  iso_year_week(w, &y, &wk);
  snprintf(out, TBL_WEEK_STR, "%04lld-W%02d", (long long)y, wk);
}

void tbl_week_date(tbl_week_t w, char out[TBL_WEEK_STR]) {
  int64_t y;
  int m, d;
  civil_from_days((int64_t)w * 7 - 3, &y, &m, &d);
  snprintf(out, TBL_WEEK_STR, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* Reads exactly n digits at s; -1 when any is not a digit. */
static int64_t digits(const char *s, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Exactly 8 digits at s as a number, or -1 (SWAR: all 8 checked and combined in a few
 * multiplications; the bytes are read little-endian, the first digit lowest). */
static int64_t digits8(const char *s) {
  uint64_t v;
  memcpy(&v, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  const uint64_t hi = UINT64_C(0xF0F0F0F0F0F0F0F0);
  if (((v & hi) | (((v + UINT64_C(0x0606060606060606)) & hi) >> 4)) != UINT64_C(0x3333333333333333))
    return -1;
  v = (v & UINT64_C(0x0F0F0F0F0F0F0F0F)) * 2561 >> 8;
  v = (v & UINT64_C(0x00FF00FF00FF00FF)) * 6553601 >> 16;
  return (int64_t)((v & UINT64_C(0x0000FFFF0000FFFF)) * UINT64_C(42949672960001) >> 32);
}

/* "YYYY-MM-DD" at s (10 bytes available): days since the epoch. */
static int parse_date(const char *s, int64_t *days) {
  int64_t y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 1 || m < 1 || m > 12 || d < 1 || s[4] != '-' || s[7] != '-') return TA_EPARSE;
  if (d > days_in_month(y, (int)m)) return TA_EPARSE;
  *days = days_from_civil(y, (int)m, (int)d);
  return 0;
}

int tbl_week_parse(const char *s, size_t len, tbl_week_t *out) {
  int64_t days;
  if (len == 10 && parse_date(s, &days) == 0) {
    *out = (tbl_week_t)floor_div(days + 3, 7);
    return 0;
  }
  if (len == 8 && s[4] == '-' && s[5] == 'W') {
    int64_t y = digits(s, 4), wk = digits(s + 6, 2);
    if (y < 1 || wk < 1 || wk > 53) return TA_EPARSE;
    /* January 4th is always in week 1. */
    tbl_week_t w = (tbl_week_t)(floor_div(days_from_civil(y, 1, 4) + 3, 7) + wk - 1);
    int64_t yy;
    int ww;
    iso_year_week(w, &yy, &ww);
    if (yy != y || ww != wk) return TA_EPARSE; /* week 53 of a 52-week year */
    *out = w;
    return 0;
  }
  return TA_EPARSE;
}

int tbl_parse_time(const char *s, size_t len, int64_t *out) {
  return tbl_parse_time_memo(s, len, out, NULL);
}

int tbl_parse_time_memo(const char *s, size_t len, int64_t *out, tbl_date_memo_t *memo) {
  if (len == 0) return TA_EPARSE;
  if (s[0] >= '0' && s[0] <= '9' && (len < 5 || s[4] != '-')) {
    /* Unix seconds: at most 12 digits keeps us inside years 1970..9999. */
    if (len > 12) return TA_EPARSE;
    int64_t v;
    if (len >= 8) { /* 10 digits, these years: 8 at once */
      int64_t a = digits8(s), b = digits(s + 8, len - 8);
      static const int64_t scale[5] = {1, 10, 100, 1000, 10000};
      v = a < 0 || b < 0 ? -1 : a * scale[len - 8] + b;
    } else {
      v = digits(s, len);
    }
    if (v < 0 || v > MAX_UNIX) return TA_EPARSE;
    *out = v;
    return 0;
  }
  if (len < 19) return TA_EPARSE;
  int64_t days;
  uint64_t ym;
  memcpy(&ym, s, 8);
  int hit = -1;
  for (int k = 0; memo && k < TBL_MEMO_MONTHS; k++)
    if (memo->month[k].valid && memo->month[k].ym == ym) hit = k;
  if (hit >= 0) {
    /* "YYYY-MM-" parsed before: the same valid month; only the day is new. */
    int64_t d = digits(s + 8, 2);
    if (d < 1 || d > memo->month[hit].days) return TA_EPARSE;
    days = memo->month[hit].first + d - 1;
  } else {
    if (parse_date(s, &days) != 0) return TA_EPARSE;
    if (memo) {
      int k = memo->next++ % TBL_MEMO_MONTHS;
      memo->month[k].ym = ym;
      memo->month[k].first = days - (digits(s + 8, 2) - 1);
      memo->month[k].days = days_in_month(digits(s, 4), (int)digits(s + 5, 2));
      memo->month[k].valid = 1;
    }
  }
  if (s[10] != 'T' && s[10] != ' ' && s[10] != 't') return TA_EPARSE;
  int64_t hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = digits(s + 17, 2);
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return TA_EPARSE;
  if (s[13] != ':' || s[16] != ':') return TA_EPARSE;
  size_t i = 19;
  if (i < len && (s[i] == '.' || s[i] == ',')) { /* fractions of a second: dropped */
    size_t j = i + 1;
    while (j < len && s[j] >= '0' && s[j] <= '9') j++;
    if (j == i + 1) return TA_EPARSE;
    i = j;
  }
  int64_t offset = 0;
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1;
    int64_t oh, om;
    if (len - i == 6 && s[i + 3] == ':') {
      oh = digits(s + i + 1, 2);
      om = digits(s + i + 4, 2);
    } else if (len - i == 5) {
      oh = digits(s + i + 1, 2);
      om = digits(s + i + 3, 2);
    } else if (len - i == 3) {
      oh = digits(s + i + 1, 2);
      om = 0;
    } else {
      return TA_EPARSE;
    }
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return TA_EPARSE;
    offset = sign * (oh * 3600 + om * 60);
    i = len;
  }
  if (i != len) return TA_EPARSE;
  /* Local time = UTC + offset, so UTC = local - offset. An offset or a leap second can carry
   * the first or last second of years 1..9999 out of them ("0001-01-01T00:00:00+01:00",
   * "9999-12-31T23:59:60Z"): refused, since a week or hour of year 0 or 10000 has no name that
   * the tables' readers take back (its table would be written, then refused by every read). */
  int64_t t = days * 86400 + hh * 3600 + mm * 60 + ss - offset;
  if (t < MIN_UNIX || t > MAX_UNIX) return TA_EPARSE;
  *out = t;
  return 0;
}

int64_t tbl_hour_of_unix(int64_t t) {
  return floor_div(t, 3600);
}

void tbl_hour_name(int64_t h, char out[TBL_WEEK_STR]) {
  int64_t y;
  int m, d;
  civil_from_days(floor_div(h, 24), &y, &m, &d);
  snprintf(out, TBL_WEEK_STR, "%04lld-%02d-%02dT%02d", (long long)y, m, d,
           (int)(h - floor_div(h, 24) * 24));
}

int tbl_hour_parse(const char *s, size_t len, int64_t *out) {
  /* "YYYY-MM-DDTHH" and nothing else: the timestamp parser checks the date, the round trip
   * through tbl_hour_name the form (no offset, no fraction). */
  char buf[TBL_WEEK_STR], again[TBL_WEEK_STR];
  int64_t t;
  if (len != 13 || s[10] != 'T') return TA_EPARSE;
  snprintf(buf, sizeof buf, "%.13s:00:00Z", s);
  if (tbl_parse_time(buf, strlen(buf), &t) != 0) return TA_EPARSE;
  tbl_hour_name(tbl_hour_of_unix(t), again);
  if (memcmp(again, s, 13) != 0) return TA_EPARSE;
  *out = tbl_hour_of_unix(t);
  return 0;
}
