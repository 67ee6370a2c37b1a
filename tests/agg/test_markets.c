/* Unit tests of markets in the aggregator's parts (SPEC §10; docs/TABLES.md): the tsv market
 * column (valid, bad, empty, a fourth field), row keys, the version 3 table byte for byte, its
 * hostile variants, version 2 tables read as tables without markets, and the counter's stream
 * with market keys against a brute-force model. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agg_int.h"
#include "agg_test_util.h"
#include "../trie/trie_test_util.h"

/* The expected outcome of a tsv line "7<TAB>rest": the rule of docs/TABLES.md written plainly
 * (split on TABs, then judge the fields), against the parser's tail-first shortcut. */
static int model(const char *rest, char *q, char *m, agg_bad_t *why) {
  const char *t1 = strchr(rest, '\t');
  m[0] = 0;
  if (!t1) {
    strcpy(q, rest);
    return 0;
  }
  if (strchr(t1 + 1, '\t')) {
    *why = AGG_BAD_EXTRA;
    return -1;
  }
  memcpy(q, rest, (size_t)(t1 - rest));
  q[t1 - rest] = 0;
  strcpy(m, t1 + 1);
  if (m[0] && !ta_market_valid(m, strlen(m))) {
    *why = AGG_BAD_MARKET;
    return -1;
  }
  return 0;
}

static void test_market_column(void **state) {
  (void)state;
  agg_bad_t why;
  size_t len;
  tbl_week_t w;
  agg__parser_t p, a;
  assert_int_equal(agg__parser_init(&p, AGG_FORMAT_TSV, 0), 0);
  assert_int_equal(tt_parse(&p, "1141603200\tbundesliga\tde", &w, &len, &why), AGG__LINE_EVENT);
  assert_memory_equal(p.spelling, "bundesliga", len);
  assert_int_equal(p.market_len, 2);
  assert_memory_equal(p.market, "de", 2);
  /* Not in display form: the normalizer's path, the market still found. */
  assert_int_equal(tt_parse(&p, "1141603200\t  Caf\xc3\xa9   au lait \tfr-ca_1\r", &w, &len, &why),
                   AGG__LINE_EVENT);
  assert_int_equal(len, strlen("Caf\xc3\xa9 au lait"));
  assert_memory_equal(p.market, "fr-ca_1", 7);
  /* No market: none, an empty third field, and the market of the previous line is forgotten. */
  assert_int_equal(tt_parse(&p, "1141603200\tbank", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(p.market_len, 0);
  assert_int_equal(tt_parse(&p, "1141603200\tbank\t", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(p.market_len, 0);
  assert_memory_equal(p.spelling, "bank", len);
  /* A query that looks like a market is a query. */
  assert_int_equal(tt_parse(&p, "1141603200\tde", &w, &len, &why), AGG__LINE_EVENT);
  assert_int_equal(p.market_len, 0);
  /* Bad markets: uppercase, a dot, 33 bytes, non-ASCII. */
  static const char *bad[] = {"1\tq\tDE", "1\tq\tde.at", "1\tq\tabcdefghijklmnopqrstuvwxyz0123456",
                              "1\tq\t\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(tt_parse(&p, bad[i], &w, &len, &why), AGG__LINE_BAD);
    assert_int_equal(why, AGG_BAD_MARKET);
  }
  assert_int_equal(tt_parse(&p, "1\tq\tabcdefghijklmnopqrstuvwxyz012345", &w, &len, &why),
                   AGG__LINE_EVENT); /* 32 bytes: the longest */
  assert_int_equal(p.market_len, 32);
  /* A fourth field, valid market or not. */
  static const char *extra[] = {"1\tq\tde\tfr", "1\tq\tDE\tfr", "1\tq\tde\t", "1\tq\t\t\t"};
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    assert_int_equal(tt_parse(&p, extra[i], &w, &len, &why), AGG__LINE_BAD);
    assert_int_equal(why, AGG_BAD_EXTRA);
  }
  /* AOL has no market. */
  assert_int_equal(agg__parser_init(&a, AGG_FORMAT_AOL, 0), 0);
  assert_int_equal(tt_parse(&a, "1\tebay\t2006-03-01 07:33:28\t1\tde", &w, &len, &why),
                   AGG__LINE_EVENT);
  assert_int_equal(a.market_len, 0);
  agg__parser_free(&a);

  /* Random lines of market-ish pieces against the model. */
  static const char *pieces[] = {"\t", "de",       "D", "-",          "_", "x",
                                 " ",  "\xc3\xa9", "0", "abcdefghij", "."};
  uint64_t seed = 7;
  int events = 0, markets = 0;
  for (int i = 0; i < 50000; i++) {
    char line[512] = "7\t", q[512], m[512];
    size_t n = 2;
    for (int j = (int)(tu_rng(&seed) % 12); j > 0; j--) {
      const char *pc = pieces[tu_rng(&seed) % (sizeof pieces / sizeof pieces[0])];
      memcpy(line + n, pc, strlen(pc));
      n += strlen(pc);
    }
    line[n] = 0;
    agg_bad_t want_why = AGG_BAD_COUNT;
    int want = model(line + 2, q, m, &want_why);
    int rc = tt_parse(&p, line, &w, &len, &why);
    if (want < 0) {
      assert_int_equal(rc, AGG__LINE_BAD);
      assert_int_equal(why, want_why);
      continue;
    }
    char disp[512];
    size_t dlen;
    if (trie_norm_display(q, strlen(q), disp, sizeof disp, &dlen) != 0 || dlen == 0) {
      assert_int_equal(rc, AGG__LINE_BAD);
      continue;
    }
    assert_int_equal(rc, AGG__LINE_EVENT);
    assert_int_equal(len, dlen);
    assert_memory_equal(p.spelling, disp, len);
    assert_int_equal(p.market_len, strlen(m));
    assert_memory_equal(p.market, m, p.market_len);
    events++;
    markets += p.market_len > 0;
  }
  assert_true(events > 5000 && markets > 1000); /* the model's every branch was taken */
  agg__parser_free(&p);
}

static void test_keys(void **state) {
  (void)state;
  char k[TBL_MAX_KEY];
  const char *m, *s;
  size_t mlen, slen;
  size_t n = tbl_key_make(k, "de", 2, "bank", 4);
  assert_int_equal(n, 8);
  assert_memory_equal(k,
                      "\xff"
                      "de\0bank",
                      8);
  assert_int_equal(tbl_key_split(k, n, &m, &mlen, &s, &slen), 0);
  assert_int_equal(mlen, 2);
  assert_memory_equal(m, "de", 2);
  assert_int_equal(slen, 4);
  assert_memory_equal(s, "bank", 4);
  n = tbl_key_make(k, NULL, 0, "bank", 4);
  assert_int_equal(tbl_key_split(k, n, &m, &mlen, &s, &slen), 0);
  assert_int_equal(mlen, 0);
  assert_int_equal(slen, 4);
  assert_int_equal(tbl_key_split("\xff"
                                 "de",
                                 3, &m, &mlen, &s, &slen),
                   TA_EINVAL);
  /* Order: global rows, then markets by name ("de" before "de-at"), then spelling. */
  char a[TBL_MAX_KEY], b[TBL_MAX_KEY];
  size_t an = tbl_key_make(a, "de", 2, "zz", 2), bn = tbl_key_make(b, "de-at", 5, "a", 1);
  assert_true(ta_bytes_cmp(a, an, b, bn) < 0);
  assert_true(ta_bytes_cmp("\xf4\x8f\xbf\xbf", 4, a, an) < 0); /* the highest code point */
  assert_true(ta_market_valid("a-b_9", 5));
  assert_false(ta_market_valid("", 0));
  assert_false(ta_market_valid("A", 1));
}

/* The version 3 table of week 2006-W09 with global {"a": 2} and market "de" {"b": 1}. */
#define BYTES(lit) lit, sizeof(lit) - 1
#define HEAD3                      \
  "\x88\xa6"                       \
  "format\xae"                     \
  "typeahead-week\xa7"             \
  "version\x03\xa4"                \
  "norm\x02\xa4"                   \
  "week\xa8"                       \
  "2006-W09\xaa"                   \
  "week_start\xaa"                 \
  "2006-02-27\xa6"                 \
  "counts\xdf\x00\x00\x00\x01\xa1" \
  "a\x02\xa6"                      \
  "events\x02\xa7"                 \
  "markets"
#define DE                         \
  "\xa2"                           \
  "de\x82\xa6"                     \
  "counts\xdf\x00\x00\x00\x01\xa1" \
  "b\x01\xa6"                      \
  "events\x01"
static const char v3[] = HEAD3 "\xdf\x00\x00\x00\x01" DE;

static void test_table_v3_bytes(void **state) {
  (void)state;
  char path[300], rows[256];
  snprintf(path, sizeof path, "%s/2006-W09.msgpack", tu_dir);
  unlink(path);
  tbl_week_t w;
  assert_int_equal(tbl_week_parse("2006-W09", 8, &w), 0);
  tbl_writer_t *wr;
  char k[TBL_MAX_KEY];
  assert_int_equal(tbl_writer_open(path, w, &wr), 0);
  assert_int_equal(tbl_writer_add(wr, "a", 1, 2), 0);
  assert_int_equal(tbl_writer_add(wr, k, tbl_key_make(k, "de", 2, "b", 1), 1), 0);
  /* Refused: a global row after a market's, a bad market, an empty spelling, a bare key. */
  assert_int_equal(tbl_writer_add(wr, "z", 1, 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, k, tbl_key_make(k, "dE", 2, "b", 1), 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, k, tbl_key_make(k, "fr", 2, "", 0), 1), TA_EINVAL);
  assert_int_equal(tbl_writer_add(wr, "\xff\0x", 3, 1), TA_EINVAL);
  assert_int_equal(tbl_writer_close(wr), 0);
  size_t n;
  char *b = tt_slurp(path, &n);
  assert_int_equal(n, sizeof v3 - 1);
  assert_memory_equal(b, v3, n);
  free(b);
  const char *msg;
  tbl_reader_t *t;
  assert_int_equal(tt_read(path, rows, sizeof rows, &msg, &t), 2);
  assert_string_equal(rows, "a=2;de/b=1;");
  tbl_reader_close(t);

  /* Several markets, each its own map, read back in key order. */
  unlink(path);
  assert_int_equal(tbl_writer_open(path, w, &wr), 0);
  static const struct {
    const char *m, *s;
    uint64_t c;
  } in[] = {{"", "x", 5}, {"de", "a", 1}, {"de", "b", 2}, {"de-at", "a", 3}, {"us", "b", 4}};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
    assert_int_equal(
        tbl_writer_add(wr, k, tbl_key_make(k, in[i].m, strlen(in[i].m), in[i].s, 1), in[i].c), 0);
  assert_int_equal(tbl_writer_close(wr), 0);
  assert_int_equal(tt_read(path, rows, sizeof rows, &msg, &t), 5);
  assert_string_equal(rows, "x=5;de/a=1;de/b=2;de-at/a=3;us/b=4;");
  tbl_reader_close(t);
  unlink(path);
}

static void test_table_v2_read_as_no_markets(void **state) {
  (void)state;
  static const char v2[] =
      "\x87\xa6"
      "format\xae"
      "typeahead-week\xa7"
      "version\x02\xa4"
      "norm\x02\xa4"
      "week\xa8"
      "2006-W09\xaa"
      "week_start\xaa"
      "2006-02-27\xa6"
      "counts\xdf\x00\x00\x00\x02\xa1"
      "a\x02\xa1"
      "b\x03\xa6"
      "events\x05";
  char path[300], rows[256];
  snprintf(path, sizeof path, "%s/2006-W09.msgpack", tu_dir);
  tt_spit(path, v2, sizeof v2 - 1);
  const char *msg;
  tbl_reader_t *t;
  assert_int_equal(tt_read(path, rows, sizeof rows, &msg, &t), 2);
  assert_string_equal(rows, "a=2;b=3;");
  tbl_reader_close(t);
  /* A version 2 table with a markets map is not version 2. */
  static const char v2m[] =
      "\x88\xa6"
      "format\xae"
      "typeahead-week\xa7"
      "version\x02";
  tt_spit(path, v2m, sizeof v2m - 1);
  assert_int_equal(tt_read(path, rows, sizeof rows, &msg, &t), TA_ECORRUPT);
  assert_non_null(strstr(msg, "map of 7 keys"));
  tbl_reader_close(t);
  unlink(path);
}

static void test_hostile_v3(void **state) {
  (void)state;
  char path[300];
  snprintf(path, sizeof path, "%s/bad.msgpack", tu_dir);
  tt_cut_and_flip(path, v3, sizeof v3 - 1);
  static const tt_case_t cases[] = {
      {BYTES(HEAD3 "\xdf\xff\xff\xff\xff" DE), TA_ETRUNC, "ends"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "DE\x82"),
       TA_ECORRUPT, "not [a-z0-9_-]"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x02" DE DE), TA_ECORRUPT, "out of order or repeated"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "de\x83"),
       TA_ECORRUPT, "map of 3 keys"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "de\x82\xa6"
                   "counts\xdf\x00\x00\x00\x00"),
       TA_ECORRUPT, "has no rows"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "de\x82\xa6"
                   "counts\xdf\x00\x00\x00\x01\xa1"
                   "b\x01\xa6"
                   "events\x02"),
       TA_ECORRUPT, "of market de add up"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01" DE "\xc0"), TA_ECORRUPT, "after the end"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "de\x82\xa6"
                   "counts\xdf\x00\x00\x00\x02\xa1"
                   "b\x01\xa1"
                   "a\x01"),
       TA_ECORRUPT, "out of order"},
      {BYTES(HEAD3 "\xdf\x00\x00\x00\x01\xa2"
                   "de\x82\xa6"
                   "counts\xdf\x00\x00\x00\x01\xa2\xc3\x28\x01"),
       TA_ECORRUPT, "UTF-8"},
  };
  tt_check_cases(path, cases, sizeof cases / sizeof cases[0]);
  unlink(path);
}

/* Counter: market keys are counted, sorted and spilled like spellings. A stream of random
 * (week, market, spelling) events, counted with a budget that spills and without, must give
 * the brute-force totals in key order. */
static void test_counter_market_keys(void **state) {
  (void)state;
  enum { EVENTS = 100000, WEEKS = 3, MKTS = 4, WORDS = 1000 };
  static const char *mk[MKTS] = {"", "de", "de-at", "us"};
  static uint64_t want[WEEKS][MKTS][WORDS];
  memset(want, 0, sizeof want);
  for (int pass = 0; pass < 2; pass++) {
    agg__counter_t *c;
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tu_dir);
    assert_int_equal(agg__counter_new(pass ? 64 * 1024 : UINT64_C(64) << 20, dir, 9, &c), 0);
    uint64_t seed = 11;
    for (int i = 0; i < EVENTS; i++) {
      int wk = (int)(tu_rng(&seed) % WEEKS), m = (int)(tu_rng(&seed) % MKTS),
          q = (int)(tu_rng(&seed) % WORDS);
      char s[32], k[TBL_MAX_KEY];
      int sl = snprintf(s, sizeof s, "word %d", q);
      size_t kl = tbl_key_make(k, mk[m], strlen(mk[m]), s, (size_t)sl);
      assert_int_equal(agg__counter_add(c, 100 + wk, k, kl, 1), 0);
      if (!pass) want[wk][m][q]++;
    }
    assert_int_equal(agg__counter_finish(c), 0);
    if (pass) assert_true(agg__counter_spills(c) > 0);
    tbl_week_t w, pw = 0;
    const char *key;
    size_t len, plen = 0;
    uint64_t count, total = 0;
    char prev[TBL_MAX_KEY];
    int rc;
    while ((rc = agg__counter_next(c, &w, &key, &len, &count)) == 1) {
      const char *m, *s;
      size_t mlen, slen;
      assert_int_equal(tbl_key_split(key, len, &m, &mlen, &s, &slen), 0);
      int mi = 0;
      while (mi < MKTS && !(strlen(mk[mi]) == mlen && memcmp(mk[mi], m, mlen) == 0)) mi++;
      assert_true(mi < MKTS);
      char num[16] = "";
      memcpy(num, s + 5, slen - 5 < sizeof num - 1 ? slen - 5 : sizeof num - 1);
      int q = atoi(num); /* s is not NUL-terminated */
      assert_int_equal(count, want[w - 100][mi][q]);
      if (total) assert_true(w > pw || (w == pw && ta_bytes_cmp(prev, plen, key, len) < 0));
      memcpy(prev, key, len);
      plen = len;
      pw = w;
      total += count;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(total, EVENTS);
    agg__counter_free(c);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_market_column),  cmocka_unit_test(test_keys),
      cmocka_unit_test(test_table_v3_bytes), cmocka_unit_test(test_table_v2_read_as_no_markets),
      cmocka_unit_test(test_hostile_v3),     cmocka_unit_test(test_counter_market_keys),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
