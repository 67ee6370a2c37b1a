/* Unit tests of the lookups' text scratch (trie/trie_text.c): every text handed out keeps its
 * bytes until reset, whatever came after it (many texts, chunk boundaries, a text longer than a
 * chunk); reset and free; the hits of a lookup keep their texts through later lookups with the
 * same scratch, and an answer's texts are right when they reach a chunk's end; every lookup
 * that gives hits needs one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "trie_test_util.h"

typedef struct {
  char *p;
  size_t len;
  uint8_t fill; /* every byte of it: fill + its index */
} piece_t;

/* Puts n texts of random lengths (one longer than a chunk, at put `long_at`) into t, each
 * written with its own pattern, then checks that every one still holds its pattern and that no
 * two overlap. */
static void put_and_check(trie_text_t *t, uint64_t seed, size_t n, size_t long_at) {
  piece_t *v = calloc(n, sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    size_t len = i == long_at             ? TRIE_TEXT_CHUNK + 1 + tu_rng(&seed) % 1000
                 : tu_rng(&seed) % 8 == 0 ? tu_rng(&seed) % (TA_MAX_KEY + 1)
                                          : tu_rng(&seed) % 40;
    assert_int_equal(trie__text_put(t, len, &v[i].p), 0);
    assert_true(len == 0 || v[i].p != NULL);
    v[i].len = len;
    v[i].fill = (uint8_t)tu_rng(&seed);
    for (size_t j = 0; j < len; j++) v[i].p[j] = (char)(uint8_t)(v[i].fill + j);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < v[i].len; j++)
      assert_int_equal((uint8_t)v[i].p[j], (uint8_t)(v[i].fill + j));
  free(v);
}

static void test_texts_keep_their_bytes_until_reset(void **state) {
  (void)state;
  trie_text_t *t = NULL;
  assert_int_equal(trie_text_new(&t), 0);
  assert_non_null(t);
  /* about 20 chunks' worth: texts cut at every chunk boundary */
  put_and_check(t, 1, 40000, 777);
  for (uint64_t round = 0; round < 5; round++) { /* reset keeps working, over and over */
    trie_text_reset(t);
    put_and_check(t, 100 + round, 3000 + 5000 * round, round == 2 ? 0 : 2999);
  }
  trie_text_reset(t);
  trie_text_reset(t); /* twice in a row */
  put_and_check(t, 9, 100, SIZE_MAX);
  trie_text_free(t);
}

static void test_text_longer_than_a_chunk_first(void **state) {
  (void)state;
  trie_text_t *t = NULL;
  assert_int_equal(trie_text_new(&t), 0);
  char *big = NULL, *small = NULL;
  assert_int_equal(trie__text_put(t, 3 * TRIE_TEXT_CHUNK, &big), 0);
  memset(big, 'b', 3 * TRIE_TEXT_CHUNK);
  assert_int_equal(trie__text_put(t, 10, &small), 0);
  memset(small, 's', 10);
  for (size_t i = 0; i < 3 * TRIE_TEXT_CHUNK; i++) assert_int_equal(big[i], 'b');
  trie_text_reset(t);
  put_and_check(t, 5, 2000, 3);
  trie_text_free(t);
}

static void test_bad_arguments_and_free_null(void **state) {
  (void)state;
  assert_int_equal(trie_text_new(NULL), TA_EINVAL);
  char *p = NULL;
  assert_int_equal(trie__text_put(NULL, 1, &p), TA_EINVAL);
  trie_text_free(NULL);
  trie_text_reset(NULL);
}

static int keep_odd(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  return c->id & 1;
}

/* A trie of n random keys (multi-byte) at file k, and its word index. */
static trie_reader_t *open_set(tset_t *set, uint64_t seed, size_t n, const char *name, uint32_t k,
                               trie_words_t **w) {
  *set = tu_gen(seed, n, 1, 0);
  trie_reader_t *r = tu_open_entries(name, set->e, set->n, k);
  assert_non_null(r);
  *w = NULL;
  assert_int_equal(trie_words_build(r, w), 0);
  return r;
}

/* The hits of a lookup keep their texts while more lookups (of every kind) write into the same
 * scratch: each text still reads as it did right after its own lookup, and as the display form
 * of its id. */
static void test_hit_texts_outlive_later_lookups(void **state) {
  (void)state;
  tset_t set;
  trie_words_t *w;
  trie_reader_t *r = open_set(&set, 7, 400, "texts.trie", 10, &w);
  trie_text_t *t = NULL;
  assert_int_equal(trie_text_new(&t), 0);
  enum { ROUNDS = 200 };
  static trie_hit_t kept[ROUNDS][10];
  static char copy[ROUNDS][10][TA_MAX_KEY];
  size_t n_kept[ROUNDS];
  uint64_t st = 11;
  for (int i = 0; i < ROUNDS; i++) {
    const trie_entry_t *e = &set.e[tu_rng(&st) % set.n];
    size_t plen = 1 + (size_t)(tu_rng(&st) % e->key_len);
    while (plen < e->key_len && ((unsigned char)e->key[plen] & 0xc0) == 0x80) plen++;
    assert_int_equal(trie_lookup(r, e->key, plen, 10, t, kept[i], &n_kept[i]), 0);
    assert_true(n_kept[i] > 0);
    for (size_t j = 0; j < n_kept[i]; j++) memcpy(copy[i][j], kept[i][j].text, kept[i][j].text_len);
    /* more lookups into the same scratch, whose hits are dropped */
    trie_hit_t h[20];
    trie_match_t m[10];
    size_t n = 0;
    trie_match_opts_t o = {TRIE_TYPOS_AUTO, w};
    assert_int_equal(trie_lookup_filtered(r, e->key, plen, 20, keep_odd, NULL, t, h, &n), 0);
    assert_int_equal(trie_get_hit(r, (uint32_t)(tu_rng(&st) % set.n), t, &h[0]), 0);
    assert_int_equal(trie_lookup_match(r, e->key, plen, &o, 10, NULL, NULL, t, m, &n), 0);
  }
  for (int i = 0; i < ROUNDS; i++)
    for (size_t j = 0; j < n_kept[i]; j++) {
      const trie_hit_t *k = &kept[i][j];
      assert_memory_equal(k->text, copy[i][j], k->text_len);
      trie_hit_t again;
      assert_int_equal(trie_get_hit(r, k->id, t, &again), 0);
      assert_int_equal(again.text_len, k->text_len);
      assert_memory_equal(again.text, k->text, k->text_len);
    }
  trie_words_free(w);
  trie_text_free(t);
  trie_close(r);
  tu_free(&set);
}

/* A lookup writes the texts of one answer one after the other at the end of the scratch's
 * chunk: with the chunk left 0 to 80 bytes short of full before it, every text of light and
 * heavy answers (cold ids rebuilt, hot ones borrowed) still reads as the id's display form, and
 * the bytes put before it keep theirs. */
static void test_answer_texts_across_a_chunk_end(void **state) {
  (void)state;
  tset_t set;
  trie_words_t *w;
  trie_reader_t *r = open_set(&set, 5, 600, "chunk.trie", 10, &w);
  trie_text_t *t = NULL, *ref = NULL;
  assert_int_equal(trie_text_new(&t), 0);
  assert_int_equal(trie_text_new(&ref), 0);
  uint64_t st = 3;
  size_t light = 0, heavy_cold = 0;
  for (size_t left = 0; left <= 80; left++) {
    for (int q = 0; q < 20; q++) {
      const trie_entry_t *e = &set.e[tu_rng(&st) % set.n];
      /* a short prefix (a heavy node, cold ids in its top 10) or the whole key (a light one) */
      size_t plen = q % 2 == 0 ? 1 : e->key_len;
      while (plen < e->key_len && ((unsigned char)e->key[plen] & 0xc0) == 0x80) plen++;
      trie_text_reset(t);
      char *before;
      assert_int_equal(trie__text_put(t, TRIE_TEXT_CHUNK - left, &before), 0);
      memset(before, 0x5a, TRIE_TEXT_CHUNK - left);
      trie_hit_t h[10];
      size_t n = 0;
      assert_int_equal(trie_lookup(r, e->key, plen, 10, t, h, &n), 0);
      assert_true(n > 0);
      int cold = 0;
      for (size_t j = 0; j < n; j++) {
        trie_hit_t again;
        trie_text_reset(ref);
        assert_int_equal(trie_get_hit(r, h[j].id, ref, &again), 0);
        assert_int_equal(h[j].text_len, again.text_len);
        assert_memory_equal(h[j].text, again.text, again.text_len);
        cold |= h[j].id >= r->m_hot;
      }
      trie_top_t top;
      assert_int_equal(trie_lookup_top(r, e->key, plen, ref, &top), 0);
      light += !top.at.heavy;
      heavy_cold += top.at.heavy && cold;
      for (size_t j = 0; j < TRIE_TEXT_CHUNK - left; j++)
        if ((uint8_t)before[j] != 0x5a) fail_msg("byte %zu before the answer changed", j);
    }
  }
  assert_true(light > 100 && heavy_cold > 100); /* both kinds of answer were met */
  trie_words_free(w);
  trie_text_free(t);
  trie_text_free(ref);
  trie_close(r);
  tu_free(&set);
}

/* Every function that gives hits refuses to run without a scratch. */
static void test_lookups_need_a_scratch(void **state) {
  (void)state;
  tset_t set;
  trie_words_t *w;
  trie_reader_t *r = open_set(&set, 3, 50, "need.trie", 5, &w);
  trie_hit_t h[5];
  trie_match_t m[5];
  size_t n = 0;
  trie_match_opts_t o = {1, w};
  assert_int_equal(trie_lookup(r, "a", 1, 5, NULL, h, &n), TA_EINVAL);
  assert_int_equal(trie_get_hit(r, 0, NULL, h), TA_EINVAL);
  assert_int_equal(trie_lookup_filtered(r, "a", 1, 5, keep_odd, NULL, NULL, h, &n), TA_EINVAL);
  assert_int_equal(trie_lookup_typos(r, "abc", 3, 1, 5, NULL, NULL, NULL, m, &n), TA_EINVAL);
  assert_int_equal(trie_lookup_words(r, w, "a", 1, 5, NULL, NULL, NULL, m, &n), TA_EINVAL);
  assert_int_equal(trie_lookup_match(r, "a", 1, &o, 5, NULL, NULL, NULL, m, &n), TA_EINVAL);
  n = 0;
  assert_int_equal(trie_lookup_more(r, "a", 1, &o, 5, NULL, NULL, NULL, m, &n), TA_EINVAL);
  trie_words_free(w);
  trie_close(r);
  tu_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_texts_keep_their_bytes_until_reset),
      cmocka_unit_test(test_text_longer_than_a_chunk_first),
      cmocka_unit_test(test_bad_arguments_and_free_null),
      cmocka_unit_test(test_hit_texts_outlive_later_lookups),
      cmocka_unit_test(test_answer_texts_across_a_chunk_end),
      cmocka_unit_test(test_lookups_need_a_scratch),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
