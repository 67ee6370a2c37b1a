/*
 * Shard maps (trie.h "Shard maps", docs/FORMAT.md "Shard map"): plans against a brute-force
 * optimum on small inputs and against the 1.25x bound on large random ones, routing of every
 * code point after a round trip through the text form, each way a map file can be wrong (code
 * and line), and the first code point of keys in every UTF-8 length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trie.h"
#include "trie_test_util.h"

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void) {
  return tu_rng(&rnd_state);
}

/* n ascending distinct code points, spread over the planes, with weights. */
static void gen(size_t n, uint32_t *cps, uint64_t *w, uint64_t wmax) {
  uint32_t cp = (uint32_t)(rnd() % 50);
  for (size_t i = 0; i < n; i++) {
    cps[i] = cp;
    w[i] = 1 + rnd() % wmax;
    cp += 1 + (uint32_t)(rnd() % (0x10FFFFu / (n + 1)));
  }
}

/* The smallest possible largest shard, by trying every assignment (n small). */
static uint64_t brute_best(const uint64_t *w, size_t n, unsigned shards) {
  uint64_t best = UINT64_MAX;
  size_t combos = 1;
  for (size_t i = 0; i < n; i++) combos *= shards;
  for (size_t c = 0; c < combos; c++) {
    uint64_t load[8] = {0};
    size_t x = c;
    for (size_t i = 0; i < n; i++, x /= shards) load[x % shards] += w[i];
    uint64_t mx = 0;
    for (unsigned s = 0; s < shards; s++) mx = load[s] > mx ? load[s] : mx;
    if (mx < best) best = mx;
  }
  return best;
}

/* Every given code point routes to a shard whose planned weight holds it, and the weights add
 * up; returns the largest shard's weight. */
static uint64_t check_plan(const trie_shard_map_t *m, const uint32_t *cps, const uint64_t *w,
                           size_t n, unsigned shards) {
  uint64_t got[TRIE_MAX_SHARDS] = {0}, total = 0, largest = 0;
  assert_int_equal(trie_shard_count(m), shards);
  for (size_t i = 0; i < n; i++) {
    unsigned s = trie_shard_of(m, cps[i]);
    assert_true(s < shards);
    got[s] += w[i];
    total += w[i];
  }
  for (unsigned s = 0; s < shards; s++) {
    assert_int_equal(got[s], trie_shard_weight(m, s));
    assert_true(got[s] > 0);
    if (got[s] > largest) largest = got[s];
  }
  (void)total;
  return largest;
}

static void test_plan_small_against_brute_force(void **state) {
  (void)state;
  for (int round = 0; round < 300; round++) {
    size_t n = 2 + rnd() % 7;
    unsigned shards = 2 + (unsigned)(rnd() % 3);
    if (shards > n) shards = (unsigned)n;
    uint32_t cps[8];
    uint64_t w[8];
    gen(n, cps, w, 100);
    trie_shard_map_t *m = NULL;
    ta_diag_t d;
    int rc = trie_shard_plan(cps, w, n, shards, &m, &d);
    uint64_t best = brute_best(w, n, shards), total = 0;
    for (size_t i = 0; i < n; i++) total += w[i];
    if (rc == 0) {
      uint64_t largest = check_plan(m, cps, w, n, shards);
      /* LPT: within 4/3 of the optimum, and within the bound it promises. */
      assert_true(largest * 3 <= best * 4);
      assert_true((double)largest * shards <= TRIE_SHARD_MAX_SKEW * (double)total);
    } else {
      assert_int_equal(rc, TA_ERANGE);
      assert_null(m);
      /* Refused: even the best split would be past the bound, or LPT's is (within 4/3). */
      assert_true((double)best * 4 / 3 * shards > TRIE_SHARD_MAX_SKEW * (double)total);
    }
    trie_shard_free(m);
  }
}

static void test_plan_large_balanced(void **state) {
  (void)state;
  size_t n = 5000;
  uint32_t *cps = malloc(n * sizeof *cps);
  uint64_t *w = malloc(n * sizeof *w);
  gen(n, cps, w, 1000);
  for (unsigned shards = 1; shards <= 64; shards *= 4) {
    trie_shard_map_t *m = NULL;
    ta_diag_t d;
    assert_int_equal(trie_shard_plan(cps, w, n, shards, &m, &d), 0);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += w[i];
    uint64_t largest = check_plan(m, cps, w, n, shards);
    assert_true((double)largest * shards <= 1.01 * (double)total); /* many light ones: even */
    trie_shard_free(m);
  }
  free(cps);
  free(w);
}

static void test_plan_refusals(void **state) {
  (void)state;
  uint32_t cps[4] = {'a', 'b', 'c', 'd'};
  uint64_t w[4] = {1000, 10, 10, 10}; /* 'a' alone is 97% */
  trie_shard_map_t *m = NULL;
  ta_diag_t d;
  char msg[300];
  assert_int_equal(trie_shard_plan(cps, w, 4, 2, &m, &d), TA_ERANGE);
  assert_null(m);
  assert_non_null(strstr(ta_diag_format(&d, msg, sizeof msg), "U+0061"));
  assert_int_equal(trie_shard_plan(cps, w, 4, 1, &m, &d), 0); /* one shard: always */
  trie_shard_free(m);
  assert_int_equal(trie_shard_plan(cps, w, 4, 5, &m, &d), TA_ERANGE); /* more shards than keys */
  assert_int_equal(trie_shard_plan(cps, w, 4, 0, &m, &d), TA_ERANGE);
  assert_int_equal(trie_shard_plan(cps, w, 4, TRIE_MAX_SHARDS + 1, &m, &d), TA_ERANGE);
  uint32_t unsorted[2] = {'b', 'a'};
  assert_int_equal(trie_shard_plan(unsorted, w, 2, 1, &m, &d), TA_EINVAL);
}

static void test_round_trip_routes_every_code_point(void **state) {
  (void)state;
  size_t n = 300;
  uint32_t cps[300];
  uint64_t w[300];
  gen(n, cps, w, 50);
  trie_shard_map_t *m = NULL, *back = NULL;
  ta_diag_t d;
  assert_int_equal(trie_shard_plan(cps, w, n, 7, &m, &d), 0);
  ta_buf_t text = {0};
  assert_int_equal(trie_shard_format(m, &text), 0);
  assert_int_equal(trie_shard_parse(text.p, text.len, "m", &back, &d), 0);
  assert_int_equal(trie_shard_count(back), 7);
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++)
    if (trie_shard_of(m, cp) != trie_shard_of(back, cp)) fail_msg("U+%04X routes apart", cp);
  /* A code point no key starts with goes with the one below it (before the first: the first). */
  size_t i = rnd() % (n - 1);
  if (cps[i + 1] > cps[i] + 1)
    assert_int_equal(trie_shard_of(back, cps[i] + 1), trie_shard_of(back, cps[i]));
  assert_int_equal(trie_shard_of(back, 0), trie_shard_of(back, cps[0]));
  ta_buf_free(&text);
  trie_shard_free(m);
  trie_shard_free(back);
}

static void test_parse_errors(void **state) {
  (void)state;
  static const char head[] = "typeahead-shards\t1\nnorm\t2\nshards\t2\n";
  static const struct {
    const char *body; /* after head, or the whole text when it starts with '!' */
    int code;
    unsigned line;
  } bad[] = {
      {"!", TA_EEMPTY, 0},
      {"!# only a comment\n", TA_EEMPTY, 0},
      {"!typeahead-shard\t1\n", TA_EBADMAGIC, 1},
      {"!typeahead-shards\t2\nnorm\t2\nshards\t2\n0\t10FFFF\t0\n", TA_EVERSION, 1},
      {"!typeahead-shards\t1\nnorm\t1\nshards\t2\n", TA_ENORMVERSION, 2},
      {"!typeahead-shards\t1\nnorm\t2\nshards\t0\n", TA_EPARSE, 3},
      {"!typeahead-shards\t1\nnorm\t2\nshards\t257\n", TA_EPARSE, 3},
      {"!typeahead-shards\t1\nnorm\t2\n", TA_ETRUNC, 0},
      {"0\t60\t0\n61\t10FFFF\t1", TA_ETRUNC, 5},   /* no newline at the end */
      {"0\t60\t0\n", TA_ETRUNC, 0},                /* ranges end early */
      {"1\t60\t0\n61\t10FFFF\t1\n", TA_EPARSE, 4}, /* not from 0 */
      {"0\t60\t0\n62\t10FFFF\t1\n", TA_EPARSE, 5}, /* a gap */
      {"0\t60\t0\n60\t10FFFF\t1\n", TA_EPARSE, 5}, /* an overlap */
      {"0\t60\t0\n61\t50\t1\n", TA_EPARSE, 5},     /* backwards */
      {"0\t60\t0\n61\t10FFFF\t2\n", TA_ERANGE, 5}, /* no shard 2 */
      {"0\t60\t0\n61\t110000\t1\n", TA_EPARSE, 5}, /* past Unicode */
      {"0\t6g\t0\n", TA_EPARSE, 4},
      {"0\t60\n", TA_EPARSE, 4},
      {"0\t60\t0\t1\n", TA_EPARSE, 4},
      {"0\t0000060\t0\n", TA_EPARSE, 4}, /* 7 hex digits */
      {"0\t60\t-1\n", TA_ERANGE, 4},
      {"0\t10FFFF\t0\n", TA_EPARSE, 0}, /* shard 1 owns nothing */
      {"0\t60\t0\n61\t10FFFF\t1\n0\t1\t0\n", TA_EPARSE, 6},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[512];
    if (bad[i].body[0] == '!')
      snprintf(text, sizeof text, "%s", bad[i].body + 1);
    else
      snprintf(text, sizeof text, "%s%s", head, bad[i].body);
    trie_shard_map_t *m = NULL;
    ta_diag_t d;
    int rc = trie_shard_parse(text, strlen(text), "bad.map", &m, &d);
    if (rc != bad[i].code || d.line != bad[i].line)
      fail_msg("case %zu: got %s at line %llu, want %s at line %u", i, ta_err_name(rc),
               (unsigned long long)d.line, ta_err_name(bad[i].code), bad[i].line);
    assert_null(m);
    char msg[300];
    ta_diag_format(&d, msg, sizeof msg);
    assert_non_null(strstr(msg, "bad.map"));
  }
  char good[256];
  snprintf(good, sizeof good, "# comment\n%s\n# ranges\n0\t60\t1\n61\t7a\t0\n7B\t10ffff\t1\n",
           head);
  trie_shard_map_t *m = NULL;
  ta_diag_t d;
  assert_int_equal(trie_shard_parse(good, strlen(good), "good.map", &m, &d), 0);
  assert_int_equal(trie_shard_of(m, 'a'), 0);
  assert_int_equal(trie_shard_of(m, 'z'), 0);
  assert_int_equal(trie_shard_of(m, '{'), 1);
  assert_int_equal(trie_shard_of(m, 0x10FFFF), 1);
  trie_shard_free(m);
  trie_shard_free(NULL);
}

static void test_first_cp(void **state) {
  (void)state;
  static const struct {
    const char *s;
    uint32_t cp;
  } ok[] = {{"a", 'a'},       {"zebra", 'z'},  {"é", 0xE9},
            {"北京", 0x5317}, {"😀x", 0x1F600}, {"\xf4\x8f\xbf\xbf", 0x10FFFF}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    uint32_t cp = 0;
    assert_int_equal(trie_shard_first_cp(ok[i].s, strlen(ok[i].s), &cp), 0);
    assert_int_equal(cp, ok[i].cp);
  }
  static const char *bad[] = {
      "", "\x80", "\xc3", "\xe5\x8c", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint32_t cp = 0;
    assert_int_equal(trie_shard_first_cp(bad[i], strlen(bad[i]), &cp), TA_EUTF8);
  }
}

/* trie_shard_check: a trie's keys against the shard a map gives their first code points, read
 * as code points (U+00E9's lead byte 0xC3 is U+00C3, of the other shard here), in every UTF-8
 * length; a key of another shard is named. */
static void test_check_trie_against_map(void **state) {
  (void)state;
  static const char map_text[] =
      "typeahead-shards\t1\nnorm\t2\nshards\t2\n"
      "0\tC2\t0\nC3\tE8\t1\nE9\tE9\t0\nEA\t1F5FF\t1\n"
      "1F600\t1F600\t0\n1F601\t10FFFF\t1\n";
  trie_shard_map_t *m = NULL;
  ta_diag_t d;
  assert_int_equal(trie_shard_parse(map_text, sizeof map_text - 1, "m", &m, &d), 0);
  /* octal escapes end after 3 digits: "\303\251clair" is "éclair" (a hex one would eat "c") */
  static const char *const keys0[] = {"a", "apple", "\303\251clair", "\xc3\xa9",
                                      "\xf0\x9f\x98\x80"};
  static const char *const keys1[] = {"\xc3\xa4", "\303\244pfel", "\xe5\x8c\x97\xe4\xba\xac"};
  trie_entry_t e[8];
  size_t n0 = sizeof keys0 / sizeof *keys0, n1 = sizeof keys1 / sizeof *keys1;
  for (size_t i = 0; i < n0; i++)
    e[i] = (trie_entry_t){keys0[i], strlen(keys0[i]), keys0[i], strlen(keys0[i]), (double)i};
  trie_reader_t *r = tu_open_entries("s0.trie", e, n0, 4);
  assert_non_null(r);
  assert_int_equal(trie_shard_check(r, m, 0, &d), 0);
  assert_int_equal(trie_shard_check(r, m, 1, &d), TA_ERANGE);
  assert_non_null(strstr(d.msg, "not shard 1's trie"));
  trie_close(r);
  for (size_t i = 0; i < n1; i++)
    e[n0 + i] = (trie_entry_t){keys1[i], strlen(keys1[i]), keys1[i], strlen(keys1[i]), 1.0};
  r = tu_open_entries("s1.trie", e + n0, n1, 4);
  assert_non_null(r);
  assert_int_equal(trie_shard_check(r, m, 1, &d), 0);
  assert_int_equal(trie_shard_check(r, m, 0, &d), TA_ERANGE);
  trie_close(r);
  /* one key of shard 1 among shard 0's: found, and named */
  r = tu_open_entries("mixed.trie", e, n0 + 1, 4);
  assert_non_null(r);
  assert_int_equal(trie_shard_check(r, m, 0, &d), TA_ERANGE);
  assert_non_null(strstr(d.msg, "U+00E4"));
  assert_int_equal(trie_shard_check(r, m, 2, &d), TA_EINVAL);
  trie_close(r);
  trie_shard_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan_small_against_brute_force),
      cmocka_unit_test(test_plan_large_balanced),
      cmocka_unit_test(test_plan_refusals),
      cmocka_unit_test(test_round_trip_routes_every_code_point),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_first_cp),
      cmocka_unit_test_setup_teardown(test_check_trie_against_map, tu_setup_dir, tu_teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
