/* Unit tests of the lookups' text scratch (trie/trie_text.c): every text handed out keeps its
 * bytes until reset, whatever came after it (many texts, chunk boundaries, a text longer than a
 * chunk); reset and free. */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_texts_keep_their_bytes_until_reset),
      cmocka_unit_test(test_text_longer_than_a_chunk_first),
      cmocka_unit_test(test_bad_arguments_and_free_null),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
