/* Unit tests of trie_mix (trie/trie_mix.c): the mixing rule of docs/TRENDING.md "Mixing". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "trie.h"

static trie_hit_t hit(const char *s, double score) {
  trie_hit_t h = {0, score, s, strlen(s)};
  return h;
}

static void assert_text(const trie_hit_t *h, const char *s) {
  assert_int_equal(h->text_len, strlen(s));
  assert_memory_equal(h->text, s, h->text_len);
}

/* trie_mix(reg, tr, slots, n) answers exactly want[] (NULL-terminated) with the marks
 * want_mark[]. */
static void check_mix(const trie_hit_t *reg, size_t nr, const trie_hit_t *tr, size_t nt,
                      unsigned slots, size_t n, const char *const *want,
                      const unsigned char *want_mark) {
  trie_hit_t out[8];
  unsigned char mark[8];
  size_t n_out = 99, n_want = 0;
  while (want[n_want]) n_want++;
  assert_true(n <= 8);
  assert_int_equal(trie_mix(reg, nr, tr, nt, slots, n, out, mark, &n_out), 0);
  assert_int_equal(n_out, n_want);
  for (size_t i = 0; i < n_want; i++) {
    assert_text(&out[i], want[i]);
    assert_int_equal(mark[i], want_mark[i]);
  }
}

static void test_trending_comes_after_the_first_regular(void **state) {
  (void)state;
  trie_hit_t reg[5] = {hit("a1", 9), hit("a2", 8), hit("a3", 7), hit("a4", 6), hit("a5", 5)};
  trie_hit_t tr[3] = {hit("t1", 3), hit("t2", 2), hit("t3", 1)};
  const char *want[] = {"a1", "t1", "t2", "a2", "a3", NULL};
  check_mix(reg, 5, tr, 3, 2, 5, want, (const unsigned char[]){0, 1, 1, 0, 0});
}

static void test_first_regular_never_displaced(void **state) {
  (void)state;
  trie_hit_t reg[2] = {hit("a1", 9), hit("a2", 8)};
  trie_hit_t tr[3] = {hit("t1", 3), hit("t2", 2), hit("t3", 1)};
  /* More slots than room: the first regular stays, one trending after it. */
  const char *two[] = {"a1", "t1", NULL};
  check_mix(reg, 2, tr, 3, 5, 2, two, (const unsigned char[]){0, 1});
  /* n = 1: only the first regular. */
  const char *one[] = {"a1", NULL};
  check_mix(reg, 2, tr, 3, 5, 1, one, (const unsigned char[]){0});
}

static void test_already_regular_stays_marked_and_takes_no_slot(void **state) {
  (void)state;
  trie_hit_t reg[4] = {hit("a1", 9), hit("a2", 8), hit("a3", 7), hit("a4", 6)};
  trie_hit_t tr[3] = {hit("a2", 30), hit("t1", 3), hit("t2", 2)};
  const char *want[] = {"a1", "t1", "a2", "a3", NULL};
  check_mix(reg, 4, tr, 3, 1, 4, want, (const unsigned char[]){0, 1, 1, 0});
}

/* A trending query that is a regular suggestion the new trending ones push out of the answer is
 * new itself (it would otherwise be shown nowhere, with a slot unused): it takes a slot, best
 * first, and the regular ones shown are counted again. */
static void test_regular_pushed_out_is_new(void **state) {
  (void)state;
  trie_hit_t reg[4] = {hit("a1", 9), hit("a2", 8), hit("a3", 7), hit("a4", 6)};
  trie_hit_t tr[2] = {hit("t1", 3), hit("a4", 2)};
  const char *want[] = {"a1", "t1", "a4", "a2", NULL};
  check_mix(reg, 4, tr, 2, 2, 4, want, (const unsigned char[]){0, 1, 1, 0});
  /* the pushed-out one ranks first among the trending: it comes first */
  trie_hit_t tr2[3] = {hit("a4", 9), hit("t1", 3), hit("t2", 2)};
  const char *want2[] = {"a1", "a4", "t1", "a2", NULL};
  check_mix(reg, 4, tr2, 3, 2, 4, want2, (const unsigned char[]){0, 1, 1, 0});
  /* still shown in its place when the slots leave it there: marked, no slot */
  const char *want3[] = {"a1", "t1", "a2", "a3", "a4", NULL};
  check_mix(reg, 4, tr, 2, 2, 5, want3, (const unsigned char[]){0, 1, 0, 0, 1});
}

static void test_exact_count_when_few_available(void **state) {
  (void)state;
  trie_hit_t reg[1] = {hit("a1", 9)};
  trie_hit_t tr[3] = {hit("a1", 5), hit("t1", 3), hit("t1", 3)};
  trie_hit_t out[5];
  size_t n_out = 0;
  /* Distinct keys available: a1, t1 -> exactly 2, no key twice, NULL marks allowed. */
  assert_int_equal(trie_mix(reg, 1, tr, 3, 3, 5, out, NULL, &n_out), 0);
  assert_int_equal(n_out, 2);
  assert_text(&out[0], "a1");
  assert_text(&out[1], "t1");
  /* No regular suggestion: trending alone, capped by slots. */
  assert_int_equal(trie_mix(NULL, 0, tr + 1, 1, 3, 5, out, NULL, &n_out), 0);
  assert_int_equal(n_out, 1);
  assert_text(&out[0], "t1");
  /* No trending: the regular ones unchanged; slots 0: the regular ones unchanged. */
  assert_int_equal(trie_mix(reg, 1, NULL, 0, 3, 5, out, NULL, &n_out), 0);
  assert_int_equal(n_out, 1);
  assert_int_equal(trie_mix(reg, 1, tr + 1, 1, 0, 5, out, NULL, &n_out), 0);
  assert_int_equal(n_out, 1);
  assert_text(&out[0], "a1");
}

static void test_bad_arguments(void **state) {
  (void)state;
  trie_hit_t reg[1] = {hit("a1", 9)};
  trie_hit_t out[1];
  size_t n_out = 0;
  assert_int_equal(trie_mix(reg, 1, NULL, 0, 1, 1, out, NULL, NULL), TA_EINVAL);
  assert_int_equal(trie_mix(NULL, 1, NULL, 0, 1, 1, out, NULL, &n_out), TA_EINVAL);
  assert_int_equal(trie_mix(reg, 1, NULL, 2, 1, 1, out, NULL, &n_out), TA_EINVAL);
  assert_int_equal(trie_mix(reg, 1, NULL, 0, 1, 1, NULL, NULL, &n_out), TA_EINVAL);
  assert_int_equal(trie_mix(reg, 1, NULL, 0, 1, 0, NULL, NULL, &n_out), 0);
  assert_int_equal(n_out, 0);
}

/* The rules over random lists from a small alphabet (keys shared between the lists, repeats in
 * trending): the first regular first; no key twice; the regular ones shown are the first of
 * theirs, in order; every trending key shown is marked, and those not in a regular place took
 * a slot, at most `slots` of them, right after the first regular; a trending key left out
 * means every slot holds a trending one; a short answer holds every regular one. */
static void test_rules_on_random_lists(void **state) {
  (void)state;
  static const char *const keys[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  uint64_t rng = 88172645463325252u;
  for (int round = 0; round < 20000; round++) {
    trie_hit_t reg[8], tr[8], out[8];
    unsigned char mark[8];
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    size_t nr = rng % 7, nt = (rng >> 3) % 7, n = 1 + (rng >> 6) % 8;
    unsigned slots = (unsigned)((rng >> 9) % 4);
    unsigned used = 0; /* the regular list holds distinct keys, as one trie's answer does */
    for (size_t i = 0; i < nr; i++) {
      unsigned k;
      do {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        k = (unsigned)(rng % 8);
      } while (used & (1u << k));
      used |= 1u << k;
      reg[i] = hit(keys[k], 10.0 - (double)i);
    }
    for (size_t i = 0; i < nt; i++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      tr[i] = hit(keys[rng % 8], 5.0 - (double)i);
    }
    size_t n_out = 0;
    assert_int_equal(trie_mix(reg, nr, tr, nt, slots, n, out, mark, &n_out), 0);
    assert_true(n_out <= n);
    size_t first = nr > 0 ? 1 : 0, room = n - first, cap = slots < room ? slots : room;
    unsigned seen = 0;
    size_t next_reg = 0;
    for (size_t i = 0; i < n_out; i++) {
      unsigned k = (unsigned)(out[i].text[0] - 'a');
      assert_false(seen & (1u << k)); /* no key twice */
      seen |= 1u << k;
      int is_tr = 0;
      for (size_t j = 0; j < nt; j++) is_tr |= tr[j].text[0] == out[i].text[0];
      assert_int_equal(mark[i], is_tr);
      if (next_reg < nr && reg[next_reg].text[0] == out[i].text[0]) {
        next_reg++; /* the next regular one, in order */
      } else {      /* a new trending one, in a slot right after the first regular */
        assert_true(is_tr);
        assert_true(i >= first && i < first + cap);
      }
    }
    if (nr > 0) assert_true(n_out > 0 && out[0].text[0] == reg[0].text[0]);
    int left_out = 0;
    for (size_t j = 0; j < nt; j++) left_out |= !(seen & (1u << (unsigned)(tr[j].text[0] - 'a')));
    if (left_out) { /* a trending key left out: every slot holds a trending one */
      assert_true(n_out >= first + cap);
      for (size_t i = first; i < first + cap; i++) assert_int_equal(mark[i], 1);
    }
    if (n_out < n) /* a short answer: every regular one is in it (the slots are checked above) */
      assert_int_equal(next_reg, nr);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trending_comes_after_the_first_regular),
      cmocka_unit_test(test_first_regular_never_displaced),
      cmocka_unit_test(test_already_regular_stays_marked_and_takes_no_slot),
      cmocka_unit_test(test_regular_pushed_out_is_new),
      cmocka_unit_test(test_exact_count_when_few_available),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_rules_on_random_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
