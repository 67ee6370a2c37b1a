/* Unit tests of the builder library (builder/bld/bld_*.c, SPEC §3 and §5): the --freq formats,
 * line ends, duplicates across spellings, display-form choice and ties, bad lines with their line
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
static int read_text(bld_acc_t *acc, const char *text, ta_diag_t *diag) {
  const char *path = write_file("in.txt", text, strlen(text));
  bld_freq_opts_t fo = {0}; /* max_bad_pct 0: the first unusable line stops the read */
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

/* A new accumulator with text read into it (the read must succeed). */
static bld_acc_t *acc_from(const char *text) {
  bld_acc_t *acc;
  ta_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = read_text(acc, text, &diag);
  if (rc != 0) fail_msg("read failed: %s", diag.msg);
  return acc;
}

/* acc_from(text), which must hold want_keys keys. */
static bld_acc_t *read_ok(const char *text, uint64_t want_keys) {
  bld_acc_t *acc = acc_from(text);
  bld_acc_stats_t st;
  bld_acc_stats(acc, &st);
  assert_int_equal(st.keys, want_keys);
  return acc;
}

/* A text read by bld_read_freq: how many keys it makes, a query that must not be a key (or NULL)
 * and some of the keys (query, score, display form; up to four). The tests of the --freq formats are
 * tables of these, ended by an empty row, run by test_reads. */
typedef struct {
  const char *query;
  double score;
  const char *display;
} want_key_t;

typedef struct {
  const char *text;
  uint64_t keys;
  const char *absent;
  want_key_t want[4];
} read_case_t;

static void test_reads(void **state) {
  for (const read_case_t *c = *state; c->text != NULL; c++) {
    bld_acc_t *acc = read_ok(c->text, c->keys);
    for (const want_key_t *w = c->want; w < c->want + 4 && w->query != NULL; w++)
      expect_key(acc, w->query, w->score, w->display);
    if (c->absent != NULL) expect_absent(acc, c->absent);
    bld_acc_free(acc);
  }
}

static const read_case_t tsv[] = {
    {"new york\t120\nnew jersey\t80\nnewark\t7.5\n",
     3,
     NULL,
     {{"new york", 120, "new york"}, {"NEWARK", 7.5, "newark"}}},
    /* Word lists carry more columns: the count is the second. */
    {"the\t53703180\t127\nto\t26915348\t157\n", 2, NULL, {{"the", 53703180, "the"}}},
    /* A query with spaces in a TSV file keeps them. */
    {"a b c\t3\n", 1, NULL, {{"a b c", 3, "a b c"}}},
    {.text = NULL},
};

static const read_case_t space_separated[] = {
    {"new york 120\nhello, world 5\nx 1e3\n  padded   query   2  \n",
     4,
     NULL,
     {{"new york", 120, "new york"},
      {"hello, world", 5, "hello, world"},
      {"x", 1000, "x"},
      {"padded query", 2, "padded query"}}},
    {.text = NULL},
};

static const read_case_t csv[] = {
    {"ngram,freq\none of the,66464125\nI do not,63663473\n",
     2,
     "ngram",
     {{"one of the", 66464125, "one of the"}, {"i do not", 63663473, "I do not"}}},
    {.text = NULL},
};

static const read_case_t csv_quotes[] = {
    {"ngram,freq,cumshare\n\"hello, world\",10,0.5\n\"say \"\"hi\"\"\",4,0.9\n"
     "plain,3,1.0\n",
     3,
     NULL,
     {{"hello, world", 10, "hello, world"},
      {"say \"hi\"", 4, "say \"hi\""},
      {"plain", 3, "plain"}}},
    {.text = NULL},
};

static const read_case_t bom_crlf_blank_lines[] = {
    {"\xEF\xBB\xBFnew york\t3\r\n\r\n   \nboston\t2\r\n\n",
     2,
     NULL,
     {{"new york", 3, "new york"}, {"boston", 2, "boston"}}},
    {"\xEF\xBB\xBFngram,freq\r\ncafé,2\r\n", 1, NULL, {{"cafe", 2, "café"}}},
    {"\xEF\xBB\xBF"
     "alpha 1\r\nbeta 2", /* no final line end */
     2,
     NULL,
     {{"beta", 2, "beta"}}},
    {.text = NULL},
};

static const read_case_t duplicates_sum_and_display[] = {
    {"Café 3\ncafe 2\nCAFE 4\n", 1, NULL, {{"café", 9, "CAFE"}}},
    /* The same spelling twice adds up before it is compared: café 2+2 beats CAFE 3. */
    {"café\t2\nCAFE\t3\ncafé\t2\n", 1, NULL, {{"cafe", 7, "café"}}},
    /* Spellings equal after NFC and whitespace collapsing are one spelling. */
    {"Cafe\xcc\x81\t2\nCafé\t2\nCAFE\t3\n  new   york \t1\nnew york\t1\nNew York\t1\n",
     2,
     NULL,
     {{"cafe", 7, "Café"}, {"new york", 3, "new york"}}},
    {.text = NULL},
};

/* Equal weights: the bytewise smallest spelling wins, whatever the input order. */
static const read_case_t display_ties[] = {
    {"foo bar\t2\nFoo Bar\t2\nFOO BAR\t2\n", 1, NULL, {{"foo bar", 6, "FOO BAR"}}},
    {"straße\t5\nStraße\t5\nstrasse\t5\n", 1, NULL, {{"strasse", 15, "Straße"}}},
    {"ab\t1\nAb\t1\n", 1, NULL, {{"ab", 2, "Ab"}}},
    {.text = NULL},
};

/* A bad line stops the read of text with rc and the message "path:line: reason", which must
 * name where and the reason. */
typedef struct {
  const char *text;
  int rc;
  const char *where, *reason;
} bad_read_t;

static void expect_bad(const bad_read_t *bad) {
  bld_acc_t *acc;
  ta_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = read_text(acc, bad->text, &diag);
  char text[512];
  ta_diag_format(&diag, text, sizeof text);
  if (rc != bad->rc)
    fail_msg("input '%s': rc %s, want %s (%s)", bad->text, ta_strerror(rc), ta_strerror(bad->rc),
             text);
  if (!strstr(text, bad->where) || !strstr(text, bad->reason))
    fail_msg("input '%s': message '%s' lacks '%s' / '%s'", bad->text, text, bad->where,
             bad->reason);
  bld_acc_free(acc);
}

static void test_bad_lines(void **state) {
  (void)state;
  static const bad_read_t bad[] = {
      {"a\t1\nb\t2\nc\n", TA_EPARSE, "in.txt:3:", "no TAB"},
      {"a 1\nb 2\n\nlonely\n", TA_EPARSE, "in.txt:4:", "no count"},
      {"a\t1\nb\tx\n", TA_EPARSE, "in.txt:2:", "bad count 'x'"},
      {"a\t-1\n", TA_EPARSE, "in.txt:1:", "bad count '-1'"},
      {"a\tnan\n", TA_EPARSE, "in.txt:1:", "bad count"},
      {"a\tinf\n", TA_EPARSE, "in.txt:1:", "bad count"},
      {"a\t0x10\n", TA_EPARSE, "in.txt:1:", "bad count"},
      {"a\t1.2.3\n", TA_EPARSE, "in.txt:1:", "bad count"},
      {"a\t\n", TA_EPARSE, "in.txt:1:", "bad count ''"},
      {"a\t1e\n", TA_EPARSE, "in.txt:1:", "bad count"},
      {"ok\t1\nbad\xff\t2\n", TA_EUTF8, "in.txt:2:", "invalid UTF-8"},
      {"ok\t1\ntrunc\xe5\x8c\t2\n", TA_EUTF8, "in.txt:2:", "invalid UTF-8"},
      {"ok\t1\n \x01 \t2\n", TA_EEMPTY, "in.txt:2:", "empty after normalization"},
      {"ngram,freq\n\"open,3\n", TA_EPARSE, "in.txt:2:", "bad CSV row"},
      {"ngram,freq\n\"x\"y,3\n", TA_EPARSE, "in.txt:2:", "bad CSV row"},
      {"ngram,freq\nnocount\n", TA_EPARSE, "in.txt:2:", "bad CSV row"},
      {"ngram,freq\n\"\",3\n", TA_EEMPTY, "in.txt:2:", "empty"},
      {"", TA_EEMPTY, "in.txt", "no queries"},
      {"\n\n  \n", TA_EEMPTY, "in.txt", "no queries"},
      {"ngram,freq\n", TA_EEMPTY, "in.txt", "no queries"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_bad(&bad[i]);
  /* A query over the limit. */
  size_t n = TA_MAX_KEY + 10;
  char *big = malloc(n + 4);
  assert_non_null(big);
  memset(big, 'a', n);
  memcpy(big + n, "\t1\n", 4);
  expect_bad(&(bad_read_t){big, TA_ETOOLONG, "in.txt:1:", "too long"});
  free(big);
}

static void test_missing_file(void **state) {
  (void)state;
  bld_acc_t *acc;
  ta_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  bld_freq_opts_t fo = {0}; /* max_bad_pct 0: the first unusable line stops the read */
  assert_int_equal(bld_read_freq(acc, "/nonexistent/q.tsv", &fo, &diag), TA_ENOENT);
  char text[512];
  assert_non_null(strstr(ta_diag_format(&diag, text, sizeof text), "/nonexistent/q.tsv"));
  bld_acc_free(acc);
}

/* One bld_acc_add of query (its whole length) with events and score, and the code it returns. */
typedef struct {
  const char *query;
  double events, score;
  int rc;
} acc_add_t;

/* Adds adds[0..n) to acc, each returning its code. */
static void expect_adds(bld_acc_t *acc, const acc_add_t *adds, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(
        bld_acc_add(acc, adds[i].query, strlen(adds[i].query), adds[i].events, adds[i].score),
        adds[i].rc);
}

static void test_acc_rejects(void **state) {
  (void)state;
  bld_acc_t *acc;
  assert_int_equal(bld_acc_new(&acc), 0);
  const acc_add_t adds[] = {
      {"a", -1, -1, TA_ERANGE},       {"a", -1, 1, TA_ERANGE},
      {"a", 1, 1.0 / 0.0, TA_ERANGE}, {"a", 1.0 / 0.0, 1, TA_ERANGE},
      {"a", 1, 0.0 / 0.0, TA_ERANGE}, {"\xc0\xaf", 1, 1, TA_EUTF8},
      {" \t ", 1, 1, TA_EEMPTY},      {"a", 0, 0, 0},
  };
  expect_adds(acc, adds, sizeof adds / sizeof adds[0]);
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

static const char *file_text(const char *path) {
  static char buf[256];
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Writes acc (then frees it) into tu_dir/name with wo; returns the file's path (static buffer),
 * its summary in *sum. */
static const char *write_ok(bld_acc_t *acc, const char *name, const bld_write_opts_t *wo,
                            bld_summary_t *sum) {
  static char out[512];
  snprintf(out, sizeof out, "%s/%s", tu_dir, name);
  ta_diag_t diag;
  int rc = bld_write(acc, out, wo, sum, &diag);
  if (rc != 0) fail_msg("bld_write: %s", diag.msg);
  bld_acc_free(acc);
  return out;
}

/* The written file answers in rank order (score desc, key asc), with display forms, and
 * --min-count drops light keys. */
static void test_write_and_lookup(void **state) {
  (void)state;
  bld_acc_t *acc = acc_from("Café 3\ncafe 2\nCAFE 4\ncab 9\ncan 9\ncar 1\ncat 0.5\ndog 7\n");
  bld_write_opts_t wo = {3, 1.0, 1700000000, "freq:test", NULL, NULL, NULL, NULL, NULL};
  bld_summary_t sum;
  const char *out = write_ok(acc, "w.trie", &wo, &sum);
  assert_int_equal(sum.keys_written, 5);
  assert_int_equal(sum.keys_below_min, 1); /* cat 0.5 */
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal((uint64_t)st.st_size, sum.file_size);

  trie_reader_t *r;
  assert_int_equal(trie_open(out, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  trie_info_t info;
  assert_int_equal(trie_get_info(r, &info), 0);
  assert_int_equal(info.k, 3);
  assert_int_equal(info.num_queries, 5);
  assert_int_equal(info.build_time, 1700000000);
  trie_hit_t hits[8];
  size_t n;
  assert_int_equal(trie_lookup(r, "ca", 2, 3, tu_text(), hits, &n), 0);
  assert_int_equal(n, 3);
  static const char *want[] = {"cab", "CAFE", "can"}; /* all 9: key order cab < cafe < can */
  static const double want_score[] = {9, 9, 9};
  for (size_t i = 0; i < 3; i++) {
    if (hits[i].text_len != strlen(want[i]) || memcmp(hits[i].text, want[i], hits[i].text_len))
      fail_msg("hit %zu is '%.*s', want '%s'", i, (int)hits[i].text_len, hits[i].text, want[i]);
    assert_true(hits[i].score == want_score[i]);
  }
  assert_int_equal(trie_lookup(r, "cat", 3, 3, tu_text(), hits, &n), 0);
  assert_int_equal(n, 0);
  trie_close(r);

  /* A failing build leaves the old file as it was and no temp file behind. */
  FILE *f = fopen(out, "wb");
  assert_non_null(f);
  fputs("old contents", f);
  fclose(f);
  acc = acc_from("x 1\n");
  wo.k = 33;
  ta_diag_t diag;
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
  const acc_add_t adds[] = {
      {"old news", 2, 0.125, 0}, /* 2 events, 3 half-lives ago */
      {"new news", 1, 1, 0},
      {"new news", 1, 1, 0},
      {"rare", 1, 1, 0},
  };
  expect_adds(acc, adds, sizeof adds / sizeof adds[0]);
  bld_write_opts_t wo = {10, 2.0, 1700000000, "test", NULL, NULL, NULL, NULL, NULL};
  bld_summary_t sum;
  const char *out = write_ok(acc, "m.trie", &wo, &sum);
  assert_int_equal(sum.keys_written, 2);
  assert_int_equal(sum.keys_below_min, 1); /* rare: 1 event < 2 */
  trie_reader_t *r;
  assert_int_equal(trie_open(out, &r), 0);
  trie_hit_t hits[4];
  size_t n;
  assert_int_equal(trie_lookup(r, "", 0, 4, tu_text(), hits, &n), 0);
  assert_int_equal(n, 2);
  assert_true(hits[0].text_len == 8 && memcmp(hits[0].text, "new news", 8) == 0);
  assert_true(hits[0].score == 2);
  assert_true(hits[1].text_len == 8 && memcmp(hits[1].text, "old news", 8) == 0);
  assert_true(hits[1].score == 0.125);
  trie_close(r);
}

/* test_NAME: test_reads over the table NAME. */
#define READS_TEST(name) \
  { "test_" #name, test_reads, NULL, NULL, (void *)(name) }

int main(void) {
  const struct CMUnitTest tests[] = {
      READS_TEST(tsv),
      READS_TEST(space_separated),
      READS_TEST(csv),
      READS_TEST(csv_quotes),
      READS_TEST(bom_crlf_blank_lines),
      READS_TEST(duplicates_sum_and_display),
      READS_TEST(display_ties),
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
