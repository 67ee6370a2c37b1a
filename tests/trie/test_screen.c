/*
 * Key-head screens (trie_screen_build, trie_screen_may_start) against brute force: for random
 * key sets (shared prefixes, multi-byte UTF-8, prefixes cut inside a character), every prefix
 * that some key starts with must be let through (a screen that turns one away would hide a
 * trending completion), and a small set must turn away most prefixes no key starts with (else
 * it saves nothing). Also: the empty trie turns everything away, the empty prefix is let
 * through. (Corrupt files: tests/fuzz/fuzz_trie.c builds a screen of every image it opens.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_test_util.h"

static int some_key_starts(const tset_t *s, const char *p, size_t len) {
  for (size_t i = 0; i < s->n; i++)
    if (s->e[i].key_len >= len && memcmp(s->e[i].key, p, len) == 0) return 1;
  return 0;
}

/* Checks every prefix of every key and random strings; returns how many prefixes that no key
 * starts with were let through, of *absent. */
static size_t check_set(uint64_t seed, size_t n, size_t *absent) {
  tset_t s = tu_gen(seed, n, 1, 0);
  char name[64];
  snprintf(name, sizeof name, "screen%llu.trie", (unsigned long long)seed);
  trie_reader_t *r = tu_open_entries(name, s.e, s.n, 5);
  assert_non_null(r);
  trie_screen_t *sc = NULL;
  assert_int_equal(trie_screen_build(r, &sc), 0);
  for (size_t i = 0; i < s.n; i++)
    for (size_t l = 0; l <= s.e[i].key_len; l++) /* every byte cut, inside characters too */
      assert_int_equal(trie_screen_may_start(sc, s.e[i].key, l), 1);
  uint64_t st = seed * 7 + 1;
  size_t through = 0;
  *absent = 0;
  for (int q = 0; q < 4000; q++) {
    char p[64];
    size_t len = 0;
    unsigned parts = 1 + (unsigned)(tu_rng(&st) % 3);
    for (unsigned j = 0; j < parts; j++) {
      const char *piece = tu_pieces[tu_rng(&st) % (sizeof tu_pieces / sizeof *tu_pieces)];
      memcpy(p + len, piece, strlen(piece));
      len += strlen(piece);
    }
    if (tu_rng(&st) % 2) p[tu_rng(&st) % len] ^= (char)(1 + tu_rng(&st) % 0x7f);
    len -= tu_rng(&st) % len; /* 1..len bytes */
    int may = trie_screen_may_start(sc, p, len);
    if (some_key_starts(&s, p, len)) {
      assert_int_equal(may, 1);
    } else {
      (*absent)++;
      through += (size_t)may;
    }
  }
  trie_screen_free(sc);
  trie_close(r);
  tu_free(&s);
  return through;
}

static void test_never_turns_away_a_key_prefix(void **state) {
  (void)state;
  size_t absent;
  for (uint64_t seed = 1; seed <= 12; seed++)
    check_set(seed, 1 + (size_t)(seed * seed * 37), &absent);
}

static void test_small_set_turns_away_most_absent_prefixes(void **state) {
  (void)state;
  size_t absent = 0, through = check_set(99, 8, &absent);
  assert_true(absent > 1000);
  /* what a prefix shares with 8 keys' heads is let through; random heads collide rarely */
  assert_true(through * 5 < absent);
}

static void test_edges(void **state) {
  (void)state;
  trie_reader_t *r = tu_open_entries("empty.trie", NULL, 0, 5);
  assert_non_null(r);
  trie_screen_t *sc = NULL;
  assert_int_equal(trie_screen_build(r, &sc), 0);
  assert_int_equal(trie_screen_may_start(sc, "", 0), 0);
  assert_int_equal(trie_screen_may_start(sc, "a", 1), 0);
  trie_screen_free(sc);
  trie_close(r);
  trie_entry_t one = {"york", 4, "York", 4, 3.0};
  r = tu_open_entries("one.trie", &one, 1, 5);
  assert_non_null(r);
  assert_int_equal(trie_screen_build(r, &sc), 0);
  assert_int_equal(trie_screen_may_start(sc, "", 0), 1);
  assert_int_equal(trie_screen_may_start(sc, "yorkshire", 9), 1); /* heads only: 4 bytes */
  assert_int_equal(trie_screen_may_start(sc, "y", 1), 1);
  trie_screen_free(sc);
  trie_screen_free(NULL);
  assert_int_equal(trie_screen_may_start(NULL, "y", 1), 0);
  assert_int_equal(trie_screen_build(NULL, &sc), TA_EINVAL);
  assert_null(sc);
  assert_int_equal(trie_screen_build(r, NULL), TA_EINVAL);
  trie_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_never_turns_away_a_key_prefix),
      cmocka_unit_test(test_small_set_turns_away_most_absent_prefixes),
      cmocka_unit_test(test_edges),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
