/*
 * Word matching (trie_words_build, trie_lookup_words) against brute force: random keys of
 * words (ASCII and multi-byte, words that are prefixes of others, repeated words, score ties)
 * are written, opened and indexed; prefixes made of a key's words in random order (the last
 * one cut, or followed by a space), and random ones, must answer exactly what scanning every key
 * answers: keys not starting with the prefix that have, for each word of it, a word starting
 * with it (whole when not the last), in rank order, with the spans of the first such word; with
 * a filter, the first n of those it keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_test_util.h"

static const char *const vocab[] = {"new",          "york", "yorks",       "ne",
                                    "times",        "n",    "caf\xc3\xa9", "b\xc3\xa4r",
                                    "\xe5\x8c\x97", "ab",   "abc",         "x"};
/* Words longer than 8 bytes (the index compares their first 8 at once), words sharing long
 * prefixes (prefixes of many words get one list of all their ids), one frequent word. */
static const char *const vocab_long[] = {"prefix",
                                         "prefixes",
                                         "prefixed",
                                         "prefixing",
                                         "prefixer",
                                         "prefixal",
                                         "prefixation",
                                         "prefixations",
                                         "yorkshire",
                                         "yorkshireman",
                                         "yorkshiremen",
                                         "yorkshires",
                                         "yorkshirewoman",
                                         "international",
                                         "internationale",
                                         "internationals",
                                         "interna",
                                         "the",
                                         "the",
                                         "the",
                                         "caf\xc3\xa9teria",
                                         "caf\xc3\xa9terias",
                                         "caf\xc3\xa9tier",
                                         "caf\xc3\xa9",
                                         "x"};

typedef struct {
  const char *const *v;
  size_t n;
  unsigned max_words; /* words of a key: 1..max_words */
} vocab_t;

typedef struct {
  char key[256];
  size_t len;
  double score;
} wkey_t;

static int cmp_rank(const void *x, const void *y) {
  const wkey_t *a = x, *b = y;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return strcmp(a->key, b->key);
}

/* The reference: 1 when key matches the prefix words, spans of the first matching word each. */
static int ref_match(const char *key, const char *p, uint16_t spans[][2], unsigned *ns) {
  size_t pl = strlen(p), kl = strlen(key);
  if (kl >= pl && memcmp(key, p, pl) == 0) return 0;
  unsigned n = 0;
  for (size_t i = 0; i < pl;) {
    size_t j = i;
    while (j < pl && p[j] != ' ') j++;
    size_t wl = j - i;
    if (n == TRIE_MAX_SPANS) return 0; /* a prefix of more words gets none */
    int whole = j < pl;
    int found = 0;
    for (size_t s = 0; s < kl && !found;) { /* key words in order */
      size_t e = s;
      while (e < kl && key[e] != ' ') e++;
      if (e - s >= wl && memcmp(key + s, p + i, wl) == 0 && (!whole || e - s == wl)) {
        unsigned t = n++;
        for (; t > 0 && spans[t - 1][0] > s; t--) {
          spans[t][0] = spans[t - 1][0];
          spans[t][1] = spans[t - 1][1];
        }
        spans[t][0] = (uint16_t)s;
        spans[t][1] = (uint16_t)(s + wl);
        found = 1;
      }
      s = e + 1;
    }
    if (!found) return 0;
    i = j + 1;
  }
  *ns = n;
  return n > 0;
}

/* A filter: ids that are not multiples of *ctx. */
static int keep_some(void *ctx, const trie_hit_t *hit) {
  return hit->id % *(const unsigned *)ctx != 0;
}

static void check_set(uint64_t seed, size_t nkeys, int queries, const vocab_t *vc) {
  uint64_t st = seed;
  wkey_t *keys = calloc(nkeys, sizeof *keys);
  size_t n = 0;
  while (n < nkeys) {
    wkey_t *k = &keys[n];
    unsigned words = 1 + (unsigned)(tu_rng(&st) % vc->max_words);
    k->len = 0;
    for (unsigned i = 0; i < words; i++)
      k->len += (size_t)sprintf(k->key + k->len, "%s%s", i ? " " : "", vc->v[tu_rng(&st) % vc->n]);
    int dup = 0;
    for (size_t i = 0; i < n && !dup; i++) dup = strcmp(keys[i].key, k->key) == 0;
    if (dup) continue;
    k->score = (double)(tu_rng(&st) % 6);
    n++;
  }
  trie_entry_t *e = calloc(n, sizeof *e);
  for (size_t i = 0; i < n; i++)
    e[i] = (trie_entry_t){keys[i].key, keys[i].len, keys[i].key, keys[i].len, keys[i].score};
  char path[4200];
  snprintf(path, sizeof path, "%s/w%llu.trie", tu_dir, (unsigned long long)seed);
  assert_int_equal(tu_write(path, e, n, 10, "test", 1), 0);
  trie_reader_t *r = NULL;
  assert_int_equal(trie_open(path, &r), 0);
  trie_words_t *w = NULL;
  assert_int_equal(trie_words_build(r, &w), 0);
  assert_true(trie_words_bytes(w) > 0);
  qsort(keys, n, sizeof *keys, cmp_rank); /* keys[i] has id i */
  trie_match_t *got = calloc(n, sizeof *got);
  for (int qi = 0; qi < queries; qi++) {
    char p[512];
    size_t pl = 0;
    if (tu_rng(&st) % 4 == 0) { /* random words */
      unsigned words = 1 + (unsigned)(tu_rng(&st) % 3);
      for (unsigned i = 0; i < words; i++)
        pl += (size_t)sprintf(p + pl, "%s%s", i ? " " : "", vc->v[tu_rng(&st) % vc->n]);
    } else { /* a key's words, shuffled, the last cut or followed by a space */
      const wkey_t *src = &keys[tu_rng(&st) % n];
      char tmp[sizeof src->key], *ws[16];
      unsigned nw = 0;
      strcpy(tmp, src->key);
      for (char *t = strtok(tmp, " "); t && nw < 16; t = strtok(NULL, " ")) ws[nw++] = t;
      for (unsigned i = nw; i > 1; i--) {
        unsigned j = (unsigned)(tu_rng(&st) % i);
        char *x = ws[i - 1];
        ws[i - 1] = ws[j];
        ws[j] = x;
      }
      unsigned take = 1 + (unsigned)(tu_rng(&st) % nw);
      for (unsigned i = 0; i < take; i++)
        pl += (size_t)sprintf(p + pl, "%s%s", i ? " " : "", ws[i]);
      unsigned how = (unsigned)(tu_rng(&st) % 3), cut = 1 + (unsigned)(tu_rng(&st) % 6);
      for (unsigned c = 0;
           how == 1 && c < cut && pl > 1 && (p[pl - 1] & 0x80) == 0 && p[pl - 2] != ' '; c++)
        p[--pl] = '\0';
      if (how == 2) p[pl++] = ' ', p[pl] = '\0';
    }
    size_t ns[] = {1, 5, 10, n, 1, 5, 10, n}; /* all matches, and the last four with a filter */
    for (unsigned t = 0; t < 8; t++) {
      size_t ng = 99;
      unsigned mod = 2 + (unsigned)(tu_rng(&st) % 3);
      trie_text_reset(tu_text()); /* the hits of the lookups before are checked */
      assert_int_equal(trie_lookup_words(r, w, p, pl, ns[t], t < 4 ? NULL : keep_some, &mod,
                                         tu_text(), got, &ng),
                       0);
      size_t want = 0;
      for (size_t i = 0; i < n && want < ns[t]; i++) {
        uint16_t spans[TRIE_MAX_SPANS][2];
        unsigned nsp = 0;
        if (!ref_match(keys[i].key, p, spans, &nsp) || (t >= 4 && i % mod == 0)) continue;
        if (want >= ng)
          fprintf(stderr, "seed %llu [%s]: missing %s\n", (unsigned long long)seed, p, keys[i].key);
        assert_true(want < ng);
        assert_int_equal(got[want].hit.id, i);
        assert_int_equal(got[want].kind, TRIE_MATCH_WORDS);
        assert_int_equal(got[want].n_spans, nsp);
        for (unsigned s = 0; s < nsp; s++) {
          assert_int_equal(got[want].spans[s][0], spans[s][0]);
          assert_int_equal(got[want].spans[s][1], spans[s][1]);
        }
        want++;
      }
      assert_int_equal(ng, want);
    }
  }
  trie_words_free(w);
  trie_close(r);
  free(got);
  free(e);
  free(keys);
}

static void test_random_sets(void **state) {
  (void)state;
  const vocab_t short_words = {vocab, sizeof vocab / sizeof *vocab, 4};
  for (uint64_t seed = 1; seed <= 8; seed++) check_set(seed, 50 + seed * 60, 300, &short_words);
}

/* Keys of up to 9 words (more than an id's record holds), long words and long shared prefixes,
 * a word in a third of the keys (its list is long beside the others). */
static void test_long_words(void **state) {
  (void)state;
  const vocab_t long_words = {vocab_long, sizeof vocab_long / sizeof *vocab_long, 9};
  for (uint64_t seed = 11; seed <= 16; seed++) check_set(seed, 100 + seed * 40, 300, &long_words);
}

/* Many words after one letter (a last word "q" merges their 80 lists), and nine words sharing
 * seven bytes (their prefixes' union lists would be five times the postings: some get none). */
static void test_many_words(void **state) {
  (void)state;
  static char words[89][16];
  const char *v[89];
  for (unsigned i = 0; i < 89; i++) {
    if (i < 80)
      snprintf(words[i], sizeof words[i], "q%c%c", 'a' + i / 10, 'a' + i % 10);
    else
      snprintf(words[i], sizeof words[i], "zzzzzzz%u", i - 80);
    v[i] = words[i];
  }
  const vocab_t many = {v, 89, 5};
  for (uint64_t seed = 21; seed <= 24; seed++) check_set(seed, 400, 300, &many);
}

static void test_known_cases(void **state) {
  (void)state;
  trie_entry_t e[] = {{"new york times", 14, "New York Times", 14, 9},
                      {"new york", 8, "New York", 8, 10},
                      {"york minster", 12, "York Minster", 12, 5}};
  trie_reader_t *r = tu_open_entries("known.trie", e, 3, 5);
  assert_non_null(r);
  trie_words_t *w = NULL;
  assert_int_equal(trie_words_build(r, &w), 0);
  trie_match_t got[5];
  size_t n = 0;
  /* york: a later word; "york minster" starts with it, so it is the exact lookup's */
  assert_int_equal(trie_lookup_words(r, w, "york", 4, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(got[0].hit.text, "New York", 8);
  assert_memory_equal(got[1].hit.text, "New York Times", 14);
  assert_int_equal(got[0].spans[0][0], 4);
  assert_int_equal(got[0].spans[0][1], 8);
  /* york new: any order, two spans ascending */
  assert_int_equal(trie_lookup_words(r, w, "york new", 8, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(got[0].n_spans, 2);
  assert_int_equal(got[0].spans[0][0], 0);
  assert_int_equal(got[0].spans[0][1], 3);
  assert_int_equal(got[0].spans[1][0], 4);
  /* tim york: the last word partial */
  assert_int_equal(trie_lookup_words(r, w, "york tim", 8, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(got[0].hit.text, "New York Times", 14);
  /* a finished word must be whole: "yor " finds nothing */
  assert_int_equal(trie_lookup_words(r, w, "yor ", 4, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 0);
  trie_words_free(w);
  trie_close(r);
}

/* trie_lookup_match asked for more suggestions than the file's k: the exact prefix matches
 * past the stored top-k come before any word match, as with a keep predicate (the filtered
 * lookup's walk), not only the k stored ones. */
static int keep_all(void *ctx, const trie_hit_t *hit) {
  (void)ctx;
  (void)hit;
  return 1;
}

static void test_match_past_file_k(void **state) {
  (void)state;
  trie_entry_t e[] = {{"new a", 5, "new a", 5, 9},
                      {"new b", 5, "new b", 5, 8},
                      {"new c", 5, "new c", 5, 7},
                      {"york new", 8, "york new", 8, 6}};
  trie_reader_t *r = tu_open_entries("pastk.trie", e, 4, 2);
  assert_non_null(r);
  trie_words_t *w = NULL;
  assert_int_equal(trie_words_build(r, &w), 0);
  trie_match_opts_t o = {0, w};
  static const char *const want[] = {"new a", "new b", "new c", "york new"};
  for (int filtered = 0; filtered < 2; filtered++) {
    trie_match_t got[4];
    size_t n = 0;
    assert_int_equal(
        trie_lookup_match(r, "new", 3, &o, 4, filtered ? keep_all : NULL, NULL, tu_text(), got, &n),
        0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
      if (got[i].hit.text_len != strlen(want[i]) ||
          memcmp(got[i].hit.text, want[i], got[i].hit.text_len) != 0)
        fail_msg("keep %s: suggestion %zu is '%.*s', want '%s'", filtered ? "all" : "NULL", i,
                 (int)got[i].hit.text_len, got[i].hit.text, want[i]);
      assert_int_equal(got[i].kind, i < 3 ? TRIE_MATCH_PREFIX : TRIE_MATCH_WORDS);
    }
  }
  trie_words_free(w);
  trie_close(r);
}

/* The highlight of a word match (trie_match_highlight) when words of the prefix meet the same
 * word of the key (a repeated word, or one that starts another): each byte once, ascending, no
 * span inside another. They were listed once per word of the prefix ([[4,4],[4,4]] for
 * "york york"; [[0,4],[0,3]] for "dogs dog"), which a client bolding them in turn breaks. */
static void test_highlight_repeated_words(void **state) {
  (void)state;
  trie_entry_t e[] = {{"new york", 8, "New York", 8, 10}, {"dogs", 4, "Dogs", 4, 5}};
  trie_reader_t *r = tu_open_entries("repeat.trie", e, 2, 5);
  assert_non_null(r);
  trie_words_t *w = NULL;
  assert_int_equal(trie_words_build(r, &w), 0);
  static const struct {
    const char *prefix, *text;
    unsigned n;
    uint32_t spans[2][2];
  } cases[] = {
      {"york york", "New York", 1, {{4, 4}}},
      {"york new york", "New York", 2, {{0, 3}, {4, 4}}},
      {"york new ne", "New York", 2, {{0, 3}, {4, 4}}},
      {"dogs dog", "Dogs", 1, {{0, 4}}},
      {"dogs do", "Dogs", 1, {{0, 4}}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    trie_match_t got[2];
    size_t n = 0;
    assert_int_equal(trie_lookup_words(r, w, cases[c].prefix, strlen(cases[c].prefix), 2, NULL,
                                       NULL, tu_text(), got, &n),
                     0);
    if (n != 1 || got[0].hit.text_len != strlen(cases[c].text) ||
        memcmp(got[0].hit.text, cases[c].text, got[0].hit.text_len) != 0)
      fail_msg("%s: %zu matches, want %s", cases[c].prefix, n, cases[c].text);
    uint32_t sp[TRIE_MAX_SPANS][2];
    unsigned ns = 0;
    assert_int_equal(trie_match_highlight(&got[0], sp, &ns), 0);
    if (ns != cases[c].n)
      fail_msg("%s: %u spans (first [%u,%u]), want %u", cases[c].prefix, ns, sp[0][0], sp[0][1],
               cases[c].n);
    for (unsigned i = 0; i < ns; i++)
      if (sp[i][0] != cases[c].spans[i][0] || sp[i][1] != cases[c].spans[i][1])
        fail_msg("%s: span %u is [%u,%u]", cases[c].prefix, i, sp[i][0], sp[i][1]);
  }
  trie_words_free(w);
  trie_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_cases),       cmocka_unit_test(test_highlight_repeated_words),
      cmocka_unit_test(test_match_past_file_k), cmocka_unit_test(test_random_sets),
      cmocka_unit_test(test_long_words),        cmocka_unit_test(test_many_words),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
