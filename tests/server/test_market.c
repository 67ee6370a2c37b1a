/*
 * Unit tests of the pure parts of markets (server/srv_market.c, SPEC §10): which names are
 * market names, which trie files fit which market's slot, the fill of a market's short answer
 * from global (order kept, the market's own
 * first, no key twice whatever its spelling, at most k), and the texts the fill need not
 * normalize. Routing, swaps and the served
 * answers: tests/server/test_markets.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "srv_int.h"

static void test_names(void **state) {
  (void)state;
  static const char *const good[] = {"de", "de-at", "us_west", "0", "a", "global", "x1-_9"};
  static const char *const bad[] = {"", "DE", "de at", "de.at", "dé", "de/at", "de\n", "-\t"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_true(ta_market_valid(good[i], strlen(good[i])));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_false(ta_market_valid(bad[i], strlen(bad[i])));
  char name[TA_MAX_MARKET + 2];
  memset(name, 'a', sizeof name);
  assert_true(ta_market_valid(name, TA_MAX_MARKET));
  assert_false(ta_market_valid(name, TA_MAX_MARKET + 1));
  assert_false(ta_market_valid("de\0x", 4)); /* a NUL byte is not a name character */
}

/* A file that records market `rec` ("" for none) in the slot of market `slot`. */
static int fits(const char *slot, const char *rec, char *why, size_t cap) {
  trie_info_t info;
  memset(&info, 0, sizeof info);
  info.market = rec[0] ? rec : NULL;
  info.market_len = strlen(rec);
  ta_diag_t d;
  ta_diag_init(&d, "f.trie");
  int rc = srv__market_file_fits(slot, &info, &d);
  ta_diag_format(&d, why, cap);
  return rc;
}

static void test_file_fits(void **state) {
  (void)state;
  char why[256];
  assert_int_equal(fits("de", "de", why, sizeof why), 0);
  assert_int_equal(fits("de", "", why, sizeof why), 0);     /* a global or --freq build */
  assert_int_equal(fits("global", "", why, sizeof why), 0); /* the global total */
  assert_int_equal(fits("de", "fr", why, sizeof why), TA_ERANGE);
  assert_non_null(strstr(why, "built for market fr, not market de"));
  assert_int_equal(fits("de", "de-at", why, sizeof why), TA_ERANGE); /* not a prefix match */
  assert_int_equal(fits("de-at", "de", why, sizeof why), TA_ERANGE);
  assert_int_equal(fits("global", "de", why, sizeof why), TA_ERANGE);
  assert_non_null(strstr(why, "built for market de, not the global total"));
  /* a market named "global" is not the global total that global.trie must hold */
  assert_int_equal(fits("global", "global", why, sizeof why), TA_ERANGE);
}

/* A fill case: the market's own texts, global's (scores 100, 99, ... in their order), k, and
 * the texts of the answer. Lists end with NULL. */
typedef struct {
  const char *why;
  const char *market[4];
  const char *global[6];
  size_t k;
  const char *want[6];
} fill_case_t;

static const fill_case_t fill_cases[] = {
    {"global's after the market's own, in their order; a key the market gave is skipped "
     "whatever its spelling; cut at k",
     {"bundesliga", "Bank", NULL},
     {"bank", "best buy", "BUNDESLIGA", "bing", "booking", NULL},
     4,
     {"bundesliga", "Bank", "best buy", "bing", NULL}},
    {"fewer than k in all: each key once, a repeat inside global's too",
     {"a", NULL},
     {"b", "a", "b", NULL},
     5,
     {"a", "b", NULL}},
    {"a full answer gains nothing", {"a", "b", NULL}, {"c", NULL}, 2, {"a", "b", NULL}},
    {"an empty market answer is global's", {NULL}, {"x", "y", "z", NULL}, 2, {"x", "y", NULL}},
    {"keys compare after normalization: width, accents and spaces fold",
     {"Café  de Flore", NULL},
     {"cafe de flore", "ｃａｆｅ", "cafe", NULL},
     3,
     {"Café  de Flore", "ｃａｆｅ", NULL}},
};

static size_t fill_list(trie_hit_t *out, const char *const *texts, double score) {
  size_t n = 0;
  for (; texts[n]; n++)
    out[n] = (trie_hit_t){(uint32_t)n, score - (double)n, texts[n], strlen(texts[n])};
  return n;
}

static void test_fill(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof fill_cases / sizeof *fill_cases; c++) {
    const fill_case_t *fc = &fill_cases[c];
    trie_hit_t hits[TA_MAX_K], g[8];
    size_t n = fill_list(hits, fc->market, 1000), n_own = n;
    size_t n_g = fill_list(g, fc->global, 100);
    print_message("%s\n", fc->why);
    assert_int_equal(srv__market_fill(hits, &n, fc->k, g, n_g), 0);
    size_t want = 0;
    while (fc->want[want]) want++;
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(hits[i].text_len, strlen(fc->want[i]));
      assert_memory_equal(hits[i].text, fc->want[i], hits[i].text_len);
      /* a hit keeps its own score: global's are not rescaled */
      for (size_t j = 0; i >= n_own && j < n_g; j++) {
        if (hits[i].text != g[j].text) continue;
        assert_true(hits[i].score == g[j].score); /* the first of global's with the text */
        break;
      }
    }
  }
  /* k past TA_MAX_K, or more hits than k, is a caller's bug */
  trie_hit_t hits[TA_MAX_K], g[1];
  size_t n = fill_list(hits, fill_cases[0].market, 1);
  fill_list(g, fill_cases[2].global, 1);
  assert_int_equal(srv__market_fill(hits, &n, TA_MAX_K + 1, g, 1), TA_EINVAL);
  assert_int_equal(srv__market_fill(hits, &n, 1, g, 1), TA_EINVAL);
}

/* own_key is a shortcut past the normalizer: whenever it says yes, trie_norm_key gives the text
 * back unchanged. Checked on every string of up to 3 characters over an alphabet of
 * ASCII edge cases, and on known answers. */
static void test_own_key(void **state) {
  (void)state;
  static const char alphabet[] = " aZz0~\x1f\x7f\t-A";
  const size_t na = sizeof alphabet - 1;
  char s[4], key[16];
  size_t yes = 0;
  for (size_t len = 1; len <= 3; len++) {
    size_t total = 1;
    for (size_t i = 0; i < len; i++) total *= na;
    for (size_t x = 0; x < total; x++) {
      size_t y = x;
      for (size_t i = 0; i < len; i++, y /= na) s[i] = alphabet[y % na];
      if (!srv__market_own_key(s, len)) continue;
      yes++;
      size_t kn = 0;
      assert_int_equal(trie_norm_key(s, len, key, sizeof key, &kn), 0);
      assert_int_equal(kn, len);
      assert_memory_equal(key, s, len);
    }
  }
  assert_true(yes > 100);
  static const char *const own[] = {"new york", "a", "c++ ~tilde", "1 2 3"};
  static const char *const not_own[] = {"", " a", "a ", "a  b", "New york", "caf\xc3\xa9", "a\tb"};
  for (size_t i = 0; i < sizeof own / sizeof *own; i++)
    assert_true(srv__market_own_key(own[i], strlen(own[i])));
  for (size_t i = 0; i < sizeof not_own / sizeof *not_own; i++)
    assert_false(srv__market_own_key(not_own[i], strlen(not_own[i])));
}

int main(void) {
  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names), cmocka_unit_test(test_file_fits), cmocka_unit_test(test_fill),
      cmocka_unit_test(test_own_key)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
