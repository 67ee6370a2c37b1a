/* Unit tests of the builder library (builder/bld_*.c, SPEC §3 and §5): the --freq formats, line
 * ends, duplicates across spellings, display-form choice and ties, bad lines with their line
 * numbers, and the verified atomic write with --min-count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bld.h"
#include "bld_int.h"
#include "../trie/trie_test_util.h"

/* Writes bytes to a file in tu_dir; returns its path (static buffer). */
static const char *write_file(const char *name, const char *bytes, size_t len) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tu_dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  return path;
}

/* Reads a file into acc; returns bld_read_freq's result, diag in *diag. */
static int read_text(bld_acc_t *acc, const char *text, bld_diag_t *diag) {
  const char *path = write_file("in.txt", text, strlen(text));
  bld_freq_opts_t fo = {NULL, NULL, 0, 0};
  return bld_read_freq(acc, path, &fo, diag);
}

static void expect_key(bld_acc_t *acc, const char *query, double score, const char *display) {
  double s;
  const char *d;
  size_t dlen;
  int rc = bld_acc_get(acc, query, strlen(query), &s, &d, &dlen);
  if (rc != 0) fail_msg("key of '%s': %s", query, ta_strerror(rc));
  if (s != score) fail_msg("score of '%s' = %g, want %g", query, s, score);
  if (dlen != strlen(display) || memcmp(d, display, dlen) != 0)
    fail_msg("display of '%s' = '%.*s', want '%s'", query, (int)dlen, d, display);
}

static void expect_absent(bld_acc_t *acc, const char *query) {
  double s;
  const char *d;
  size_t dlen;
  assert_int_equal(bld_acc_get(acc, query, strlen(query), &s, &d, &dlen), TA_ENOENT);
}

static bld_acc_t *read_ok(const char *text, uint64_t want_keys) {
  bld_acc_t *acc;
  bld_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = read_text(acc, text, &diag);
  if (rc != 0) fail_msg("read failed: %s", diag.msg);
  bld_acc_stats_t st;
  bld_acc_stats(acc, &st);
  assert_int_equal(st.keys, want_keys);
  return acc;
}

static void test_tsv(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok("new york\t120\nnew jersey\t80\nnewark\t7.5\n", 3);
  expect_key(acc, "new york", 120, "new york");
  expect_key(acc, "NEWARK", 7.5, "newark");
  bld_acc_free(acc);
  /* Word lists carry more columns: the count is the second. */
  acc = read_ok("the\t53703180\t127\nto\t26915348\t157\n", 2);
  expect_key(acc, "the", 53703180, "the");
  bld_acc_free(acc);
  /* A query with spaces in a TSV file keeps them. */
  acc = read_ok("a b c\t3\n", 1);
  expect_key(acc, "a b c", 3, "a b c");
  bld_acc_free(acc);
}

static void test_space_separated(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok("new york 120\nhello, world 5\nx 1e3\n  padded   query   2  \n", 4);
  expect_key(acc, "new york", 120, "new york");
  expect_key(acc, "hello, world", 5, "hello, world");
  expect_key(acc, "x", 1000, "x");
  expect_key(acc, "padded query", 2, "padded query");
  bld_acc_free(acc);
}

static void test_csv(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok("ngram,freq\none of the,66464125\nI do not,63663473\n", 2);
  expect_key(acc, "one of the", 66464125, "one of the");
  expect_key(acc, "i do not", 63663473, "I do not");
  expect_absent(acc, "ngram");
  bld_acc_free(acc);
}

static void test_csv_quotes(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok(
      "ngram,freq,cumshare\n\"hello, world\",10,0.5\n\"say \"\"hi\"\"\",4,0.9\n"
      "plain,3,1.0\n",
      3);
  expect_key(acc, "hello, world", 10, "hello, world");
  expect_key(acc, "say \"hi\"", 4, "say \"hi\"");
  expect_key(acc, "plain", 3, "plain");
  bld_acc_free(acc);
}

static void test_bom_crlf_blank_lines(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok("\xEF\xBB\xBFnew york\t3\r\n\r\n   \nboston\t2\r\n\n", 2);
  expect_key(acc, "new york", 3, "new york");
  expect_key(acc, "boston", 2, "boston");
  bld_acc_free(acc);
  acc = read_ok("\xEF\xBB\xBFngram,freq\r\ncafé,2\r\n", 1);
  expect_key(acc, "cafe", 2, "café");
  bld_acc_free(acc);
  acc = read_ok(
      "\xEF\xBB\xBF"
      "alpha 1\r\nbeta 2",
      2); /* no final line end */
  expect_key(acc, "beta", 2, "beta");
  bld_acc_free(acc);
}

static void test_duplicates_sum_and_display(void **state) {
  (void)state;
  bld_acc_t *acc = read_ok("Café 3\ncafe 2\nCAFE 4\n", 1);
  expect_key(acc, "café", 9, "CAFE");
  bld_acc_free(acc);
  /* The same spelling twice adds up before it is compared: café 2+2 beats CAFE 3. */
  acc = read_ok("café\t2\nCAFE\t3\ncafé\t2\n", 1);
  expect_key(acc, "cafe", 7, "café");
  bld_acc_free(acc);
  /* Spellings equal after NFC and whitespace collapsing are one spelling. */
  acc =
      read_ok("Cafe\xcc\x81\t2\nCafé\t2\nCAFE\t3\n  new   york \t1\nnew york\t1\nNew York\t1\n", 2);
  expect_key(acc, "cafe", 7, "Café");
  expect_key(acc, "new york", 3, "new york");
  bld_acc_free(acc);
}

static void test_display_ties(void **state) {
  (void)state;
  /* Equal weights: the bytewise smallest spelling wins, whatever the input order. */
  bld_acc_t *acc = read_ok("foo bar\t2\nFoo Bar\t2\nFOO BAR\t2\n", 1);
  expect_key(acc, "foo bar", 6, "FOO BAR");
  bld_acc_free(acc);
  acc = read_ok("straße\t5\nStraße\t5\nstrasse\t5\n", 1);
  expect_key(acc, "strasse", 15, "Straße");
  bld_acc_free(acc);
  acc = read_ok("ab\t1\nAb\t1\n", 1);
  expect_key(acc, "ab", 2, "Ab");
  bld_acc_free(acc);
}

/* A bad line stops the read with "path:line: reason". */
static void expect_bad(const char *text, int want_rc, const char *want_where,
                       const char *want_reason) {
  bld_acc_t *acc;
  bld_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = read_text(acc, text, &diag);
  if (rc != want_rc)
    fail_msg("input '%s': rc %s, want %s (%s)", text, ta_strerror(rc), ta_strerror(want_rc),
             diag.msg);
  if (!strstr(diag.msg, want_where) || !strstr(diag.msg, want_reason))
    fail_msg("input '%s': message '%s' lacks '%s' / '%s'", text, diag.msg, want_where, want_reason);
  bld_acc_free(acc);
}

static void test_bad_lines(void **state) {
  (void)state;
  expect_bad("a\t1\nb\t2\nc\n", TA_EPARSE, "in.txt:3:", "no TAB");
  expect_bad("a 1\nb 2\n\nlonely\n", TA_EPARSE, "in.txt:4:", "no count");
  expect_bad("a\t1\nb\tx\n", TA_EPARSE, "in.txt:2:", "bad count 'x'");
  expect_bad("a\t-1\n", TA_EPARSE, "in.txt:1:", "bad count '-1'");
  expect_bad("a\tnan\n", TA_EPARSE, "in.txt:1:", "bad count");
  expect_bad("a\tinf\n", TA_EPARSE, "in.txt:1:", "bad count");
  expect_bad("a\t0x10\n", TA_EPARSE, "in.txt:1:", "bad count");
  expect_bad("a\t1.2.3\n", TA_EPARSE, "in.txt:1:", "bad count");
  expect_bad("a\t\n", TA_EPARSE, "in.txt:1:", "bad count ''");
  expect_bad("a\t1e\n", TA_EPARSE, "in.txt:1:", "bad count");
  expect_bad("ok\t1\nbad\xff\t2\n", TA_EUTF8, "in.txt:2:", "invalid UTF-8");
  expect_bad("ok\t1\ntrunc\xe5\x8c\t2\n", TA_EUTF8, "in.txt:2:", "invalid UTF-8");
  expect_bad("ok\t1\n \x01 \t2\n", TA_EEMPTY, "in.txt:2:", "empty after normalization");
  expect_bad("ngram,freq\n\"open,3\n", TA_EPARSE, "in.txt:2:", "bad CSV row");
  expect_bad("ngram,freq\n\"x\"y,3\n", TA_EPARSE, "in.txt:2:", "bad CSV row");
  expect_bad("ngram,freq\nnocount\n", TA_EPARSE, "in.txt:2:", "bad CSV row");
  expect_bad("ngram,freq\n\"\",3\n", TA_EEMPTY, "in.txt:2:", "empty");
  expect_bad("", TA_EEMPTY, "in.txt", "no queries");
  expect_bad("\n\n  \n", TA_EEMPTY, "in.txt", "no queries");
  expect_bad("ngram,freq\n", TA_EEMPTY, "in.txt", "no queries");
  /* A query over the limit. */
  size_t n = TRIE_MAX_KEY + 10;
  char *big = malloc(n + 4);
  assert_non_null(big);
  memset(big, 'a', n);
  memcpy(big + n, "\t1\n", 4);
  expect_bad(big, TA_ETOOLONG, "in.txt:1:", "too long");
  free(big);
}

static void test_missing_file(void **state) {
  (void)state;
  bld_acc_t *acc;
  bld_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  bld_freq_opts_t fo = {NULL, NULL, 0, 0};
  assert_int_equal(bld_read_freq(acc, "/nonexistent/q.tsv", &fo, &diag), TA_ENOENT);
  assert_non_null(strstr(diag.msg, "/nonexistent/q.tsv"));
  bld_acc_free(acc);
}

static void test_acc_rejects(void **state) {
  (void)state;
  bld_acc_t *acc;
  assert_int_equal(bld_acc_new(&acc), 0);
  assert_int_equal(bld_acc_add(acc, "a", 1, -1, -1), TA_ERANGE);
  assert_int_equal(bld_acc_add(acc, "a", 1, -1, 1), TA_ERANGE);
  assert_int_equal(bld_acc_add(acc, "a", 1, 1, 1.0 / 0.0), TA_ERANGE);
  assert_int_equal(bld_acc_add(acc, "a", 1, 1.0 / 0.0, 1), TA_ERANGE);
  assert_int_equal(bld_acc_add(acc, "a", 1, 1, 0.0 / 0.0), TA_ERANGE);
  assert_int_equal(bld_acc_add(acc, "\xc0\xaf", 2, 1, 1), TA_EUTF8);
  assert_int_equal(bld_acc_add(acc, " \t ", 3, 1, 1), TA_EEMPTY);
  assert_int_equal(bld_acc_add(acc, "a", 1, 0, 0), 0);
  bld_acc_stats_t st;
  bld_acc_stats(acc, &st);
  assert_int_equal(st.keys, 1);
  assert_int_equal(st.adds, 1);
  bld_acc_free(acc);
  bld_acc_free(NULL);
}

static void test_parse_count(void **state) {
  (void)state;
  static const struct {
    const char *s;
    double v;
  } good[] = {{"0", 0},      {"12", 12},       {"3.5", 3.5}, {".5", 0.5},   {"5.", 5},
              {"1e3", 1000}, {"2.5E-1", 0.25}, {" 7 ", 7},   {"00012", 12}, {"1e+2", 100}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    double v = -1;
    assert_int_equal(bld__parse_count(good[i].s, strlen(good[i].s), &v), 0);
    assert_true(v == good[i].v);
  }
  static const char *bad[] = {"",  " ",     "-1",  "+1",  "abc",  "1,5", "1e", "e5",
                              ".", "1e999", "nan", "inf", "0x1A", "1 2", "１"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v;
    if (bld__parse_count(bad[i], strlen(bad[i]), &v) == 0) fail_msg("accepted '%s'", bad[i]);
  }
}

/* Many keys, to cross the tables' growth: totals must survive rehashing. */
static void test_many_keys(void **state) {
  (void)state;
  bld_acc_t *acc;
  assert_int_equal(bld_acc_new(&acc), 0);
  char q[32];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 50000; i++) {
      int n = snprintf(q, sizeof q, round ? "Query %d" : "query %d", i);
      assert_int_equal(
          bld_acc_add(acc, q, (size_t)n, (double)(i % 7) + round, (double)(i % 7) + round), 0);
    }
  bld_acc_stats_t st;
  bld_acc_stats(acc, &st);
  assert_int_equal(st.keys, 50000);
  assert_int_equal(st.spellings, 100000);
  for (int i = 0; i < 50000; i += 997) {
    int n = snprintf(q, sizeof q, "QUERY %d", i);
    double s;
    const char *d;
    size_t dlen;
    assert_int_equal(bld_acc_get(acc, q, (size_t)n, &s, &d, &dlen), 0);
    assert_true(s == 2.0 * (i % 7) + 1);
    assert_memory_equal(d, "Query", 5); /* heavier by one */
  }
  bld_acc_free(acc);
}

static bld_acc_t *acc_from(const char *text) {
  bld_acc_t *acc;
  bld_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = read_text(acc, text, &diag);
  if (rc != 0) fail_msg("read failed: %s", diag.msg);
  return acc;
}

static const char *file_text(const char *path) {
  static char buf[256];
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* The written file answers in rank order (score desc, key asc), with display forms, and
 * --min-count drops light keys. */
static void test_write_and_lookup(void **state) {
  (void)state;
  bld_acc_t *acc = acc_from("Café 3\ncafe 2\nCAFE 4\ncab 9\ncan 9\ncar 1\ncat 0.5\ndog 7\n");
  char out[512];
  snprintf(out, sizeof out, "%s/w.trie", tu_dir);
  bld_write_opts_t wo = {3, 1.0, 1700000000, "freq:test", NULL, NULL, NULL, NULL};
  bld_summary_t sum;
  bld_diag_t diag;
  int rc = bld_write(acc, out, &wo, &sum, &diag);
  if (rc != 0) fail_msg("bld_write: %s", diag.msg);
  bld_acc_free(acc);
  assert_int_equal(sum.keys_written, 5);
  assert_int_equal(sum.keys_below_min, 1); /* cat 0.5 */
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal((uint64_t)st.st_size, sum.file_size);

  trie_reader_t *r;
  assert_int_equal(trie_open(out, &r), 0);
  assert_int_equal(trie_verify(r), 0);
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.k, 3);
  assert_int_equal(info.num_queries, 5);
  assert_int_equal(info.build_time, 1700000000);
  trie_hit_t hits[8];
  size_t n;
  assert_int_equal(trie_lookup(r, "ca", 2, 3, hits, &n), 0);
  assert_int_equal(n, 3);
  static const char *want[] = {"cab", "CAFE", "can"}; /* all 9: key order cab < cafe < can */
  static const double want_score[] = {9, 9, 9};
  for (size_t i = 0; i < 3; i++) {
    if (hits[i].text_len != strlen(want[i]) || memcmp(hits[i].text, want[i], hits[i].text_len))
      fail_msg("hit %zu is '%.*s', want '%s'", i, (int)hits[i].text_len, hits[i].text, want[i]);
    assert_true(hits[i].score == want_score[i]);
  }
  assert_int_equal(trie_lookup(r, "cat", 3, 3, hits, &n), 0);
  assert_int_equal(n, 0);
  trie_close(r);

  /* A failing build leaves the old file as it was and no temp file behind. */
  FILE *f = fopen(out, "wb");
  assert_non_null(f);
  fputs("old contents", f);
  fclose(f);
  acc = acc_from("x 1\n");
  wo.k = 33;
  assert_int_equal(bld_write(acc, out, &wo, &sum, &diag), TA_ERANGE);
  assert_non_null(strstr(diag.msg, "k must be"));
  bld_acc_free(acc);
  assert_string_equal(file_text(out), "old contents");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tu_dir);
  assert_int_not_equal(system(cmd), 0);

  /* An unwritable place: a clear error, nothing created. */
  acc = acc_from("x 1\n");
  wo.k = 10;
  assert_true(bld_write(acc, "/nonexistent-dir/x.trie", &wo, &sum, &diag) < 0);
  assert_non_null(strstr(diag.msg, "/nonexistent-dir/x.trie"));
  bld_acc_free(acc);
}

/* --min-count compares the events behind a key, not its decayed score: an old query keeps its
 * place (ranked by its small score) while a query counted too few times goes. */
static void test_min_count_is_undecayed(void **state) {
  (void)state;
  bld_acc_t *acc;
  assert_int_equal(bld_acc_new(&acc), 0);
  assert_int_equal(bld_acc_add(acc, "old news", 8, 2, 0.125), 0); /* 2 events, 3 half-lives ago */
  assert_int_equal(bld_acc_add(acc, "new news", 8, 1, 1), 0);
  assert_int_equal(bld_acc_add(acc, "new news", 8, 1, 1), 0);
  assert_int_equal(bld_acc_add(acc, "rare", 4, 1, 1), 0);
  char out[512];
  snprintf(out, sizeof out, "%s/m.trie", tu_dir);
  bld_write_opts_t wo = {10, 2.0, 1700000000, "test", NULL, NULL, NULL, NULL};
  bld_summary_t sum;
  bld_diag_t diag;
  int rc = bld_write(acc, out, &wo, &sum, &diag);
  if (rc != 0) fail_msg("bld_write: %s", diag.msg);
  bld_acc_free(acc);
  assert_int_equal(sum.keys_written, 2);
  assert_int_equal(sum.keys_below_min, 1); /* rare: 1 event < 2 */
  trie_reader_t *r;
  assert_int_equal(trie_open(out, &r), 0);
  trie_hit_t hits[4];
  size_t n;
  assert_int_equal(trie_lookup(r, "", 0, 4, hits, &n), 0);
  assert_int_equal(n, 2);
  assert_true(hits[0].text_len == 8 && memcmp(hits[0].text, "new news", 8) == 0);
  assert_true(hits[0].score == 2);
  assert_true(hits[1].text_len == 8 && memcmp(hits[1].text, "old news", 8) == 0);
  assert_true(hits[1].score == 0.125);
  trie_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tsv),
      cmocka_unit_test(test_space_separated),
      cmocka_unit_test(test_csv),
      cmocka_unit_test(test_csv_quotes),
      cmocka_unit_test(test_bom_crlf_blank_lines),
      cmocka_unit_test(test_duplicates_sum_and_display),
      cmocka_unit_test(test_display_ties),
      cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_acc_rejects),
      cmocka_unit_test(test_parse_count),
      cmocka_unit_test(test_many_keys),
      cmocka_unit_test(test_write_and_lookup),
      cmocka_unit_test(test_min_count_is_undecayed),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
