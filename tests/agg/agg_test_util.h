/*
 * Helpers of the C tests of tests/agg (test_agg.c, test_markets.c): parsing a line, files in and
 * out, reading a week table whole, and the hostile-table sweeps (every truncation, every byte flipped, a list
 * of crafted files). Header-only (static functions) because ta_unit_tests builds one binary per
 * test_*.c; include it after cmocka.h and agg_int.h.
 */
#ifndef TYPEAHEAD_AGG_TEST_UTIL_H
#define TYPEAHEAD_AGG_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* agg__parse_line of a NUL-terminated line. */
static int tt_parse(agg__parser_t *p, const char *line, tbl_week_t *w, size_t *len,
                    agg_bad_t *why) {
  return agg__parse_line(p, line, strlen(line), w, len, why);
}

static char *tt_slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void tt_spit(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* Reads a whole table: the number of rows, or the first error. When rows is not NULL it gets
 * them as "key=count;" (a market's key shown as "M/spelling"). *msg is the reader's message;
 * *keep the reader, for the caller to close. */
static int tt_read(const char *path, char *rows, size_t cap, const char **msg,
                   tbl_reader_t **keep) {
  tbl_reader_t *t;
  int rc = tbl_reader_open(path, &t), n = 0;
  const char *key, *m, *s;
  size_t len, mlen, slen, used = 0;
  uint64_t count;
  if (rows) rows[0] = 0;
  while (rc == 0 && (rc = tbl_reader_next(t, &key, &len, &count)) == 1) {
    assert_int_equal(tbl_key_split(key, len, &m, &mlen, &s, &slen), 0);
    if (rows)
      used += (size_t)snprintf(rows + used, cap - used, "%.*s%s%.*s=%llu;", (int)mlen, m,
                               mlen ? "/" : "", (int)slen, s, (unsigned long long)count);
    n++;
    rc = 0;
  }
  *msg = tbl_reader_errmsg(t);
  *keep = t;
  return rc < 0 ? rc : n;
}

/* b[0..n), a valid table, written cut at every length and with each byte flipped into path
 * (named "bad.msgpack"): every cut is an error naming the file; every flip is read without a
 * crash and most are caught. */
static void tt_cut_and_flip(const char *path, const char *b, size_t n) {
  const char *msg;
  tbl_reader_t *t;
  for (size_t cut = 0; cut < n; cut++) {
    tt_spit(path, b, cut);
    assert_true(tt_read(path, NULL, 0, &msg, &t) < 0);
    assert_non_null(strstr(msg, "bad.msgpack"));
    tbl_reader_close(t);
  }
  unsigned caught = 0;
  char *c = malloc(n);
  for (size_t i = 0; i < n; i++) {
    memcpy(c, b, n);
    c[i] ^= 0x5a;
    tt_spit(path, c, n);
    if (tt_read(path, NULL, 0, &msg, &t) < 0) caught++;
    tbl_reader_close(t);
  }
  free(c);
  assert_true(caught > n / 2);
}

/* A crafted table file and what the reader must say of it. */
typedef struct {
  const char *bytes;
  size_t n;
  int code;
  const char *says;
} tt_case_t;

static void tt_check_cases(const char *path, const tt_case_t *cases, size_t n) {
  const char *msg;
  tbl_reader_t *t;
  for (size_t i = 0; i < n; i++) {
    tt_spit(path, cases[i].bytes, cases[i].n);
    int rc = tt_read(path, NULL, 0, &msg, &t);
    if (rc != cases[i].code || !strstr(msg, cases[i].says))
      fail_msg("case %zu: got %d (%s)", i, rc, msg);
    tbl_reader_close(t);
  }
}

#endif /* TYPEAHEAD_AGG_TEST_UTIL_H */
