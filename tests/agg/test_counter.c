/* Unit tests of the aggregator's bounded-memory counter (builder/agg/agg_count.c, agg_sort.c,
 * agg_spill.c): the same stream whether it spilled or not, and counts past 32 bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "agg_int.h"
#include "../trie/trie_test_util.h"

#define STREAM_EVENTS 750000

/* Feeds the same pseudo-random pairs to a counter with the given budget; returns the stream as
 * text, and the number of spills. */
static char *count_stream(uint64_t budget, uint64_t *spills) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/spill", tu_dir);
  mkdir(dir, 0700);
  agg__counter_t *c;
  assert_int_equal(agg__counter_new(budget, dir, 0, &c), 0);
  uint64_t seed = 7;
  for (int i = 0; i < STREAM_EVENTS; i++) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    char s[64];
    /* skewed: small ids are frequent */
    uint64_t id = (seed >> 33) % ((seed >> 13) % 50000 + 1);
    int n = snprintf(s, sizeof s, "q%llu%s", (unsigned long long)id, (seed & 1) ? "" : " x");
    assert_int_equal(agg__counter_add(c, (tbl_week_t)((seed >> 40) % 5) - 2, s, (size_t)n, 1), 0);
  }
  *spills = agg__counter_spills(c);
  assert_int_equal(agg__counter_finish(c), 0);
  size_t cap = 1 << 22, used = 0;
  char *out = malloc(cap);
  tbl_week_t w, pw = INT32_MIN;
  const char *s;
  size_t len;
  uint64_t count, total = 0;
  char prev[TBL_MAX_QUERY];
  size_t plen = 0;
  int rc;
  while ((rc = agg__counter_next(c, &w, &s, &len, &count)) == 1) {
    /* strictly ascending by (week, bytes) */
    if (w == pw) {
      int cmp = memcmp(prev, s, len < plen ? len : plen);
      assert_true(cmp < 0 || (cmp == 0 && plen < len));
    } else {
      assert_true(w > pw);
    }
    pw = w;
    memcpy(prev, s, len);
    plen = len;
    total += count;
    int k = snprintf(out + used, cap - used, "%d %.*s %llu\n", w, (int)len, s,
                     (unsigned long long)count);
    assert_true(k > 0 && (size_t)k < cap - used);
    used += (size_t)k;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(total, STREAM_EVENTS);
  agg__counter_free(c);
  return out;
}

static void test_counter_spill_equals_memory(void **state) {
  (void)state;
  uint64_t s1, s2;
  char *big = count_stream(UINT64_C(256) << 20, &s1);
  char *tiny = count_stream(256 * 1024, &s2);
  assert_int_equal(s1, 0);
  assert_true(s2 > 70); /* enough runs to need an intermediate merge (fan-in 64) */
  assert_string_equal(big, tiny);
  free(big);
  free(tiny);
}

/* Counts past 2^32 - 1 (an entry's count is 32 bits until it needs more: agg_count_int.h): by
 * agg__counter_add with n, by one event at a time across the limit, and while widening entries
 * makes the table spill; the totals come out exact, and past 2^64 - 1 the add fails. */
static void test_counter_counts_past_32_bits(void **state) {
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/spill", tu_dir);
  mkdir(dir, 0700);
  const uint64_t max32 = UINT32_MAX;
  for (int small = 0; small < 2; small++) {
    agg__counter_t *c;
    /* small: a 256 KiB budget, which holds PAIRS entries but not their wide copies as well */
    enum { PAIRS = 3500 };
    assert_int_equal(agg__counter_new(small ? 256 * 1024 : UINT64_C(64) << 20, dir, 3, &c), 0);
    assert_int_equal(agg__counter_add(c, 1, "big", 3, max32 - 1), 0);
    agg__event_t ev[3];
    for (int i = 0; i < 3; i++)
      ev[i] = (agg__event_t){.week = 1, .s = "big", .len = 3, .hash = agg__event_hash(1, "big", 3)};
    assert_int_equal(agg__counter_add_events(c, ev, 3), 0); /* max32 + 2 */
    assert_int_equal(agg__counter_add(c, 1, "big", 3, UINT64_C(1) << 32), 0);
    assert_int_equal(agg__counter_add(c, 2, "fresh", 5, UINT64_C(5) << 32 | 7), 0);
    assert_int_equal(agg__counter_add(c, 2, "max", 3, UINT64_MAX - 1), 0);
    assert_int_equal(agg__counter_add(c, 2, "max", 3, 1), 0);
    assert_int_equal(agg__counter_add(c, 2, "max", 3, 1), TA_ERANGE);
    uint64_t before = 0; /* spills before the second round, which widens every pair */
    for (int round = 0; round < 2; round++) {
      if (round) before = agg__counter_spills(c);
      for (int i = 0; i < PAIRS; i++) {
        char s[48];
        int n = snprintf(s, sizeof s, "pair %05d of a longer spelling", i);
        assert_int_equal(agg__counter_add(c, 3, s, (size_t)n, round ? 2 : max32), 0);
      }
    }
    if (small)
      assert_true(agg__counter_spills(c) > 0 && before == 0);
    else
      assert_int_equal(agg__counter_spills(c), 0);
    assert_int_equal(agg__counter_finish(c), 0);
    tbl_week_t w;
    const char *s;
    size_t len;
    uint64_t count;
    int rc, pairs = 0;
    while ((rc = agg__counter_next(c, &w, &s, &len, &count)) == 1) {
      if (w == 1) {
        assert_true(len == 3 && memcmp(s, "big", 3) == 0);
        assert_true(count == (UINT64_C(1) << 33) + 1);
      } else if (w == 2 && len == 5) {
        assert_true(count == (UINT64_C(5) << 32 | 7));
      } else if (w == 2) {
        assert_true(count == UINT64_MAX);
      } else {
        assert_true(w == 3 && count == max32 + 2);
        pairs++;
      }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(pairs, PAIRS);
    agg__counter_free(c);
  }
}

/* Weeks of one table far apart (an entry keeps its week as a 16-bit distance from the table's
 * first week, or whole when farther: agg_count_int.h), with and without spills: every pair of
 * (week, spelling) is counted apart, and comes out in (week, bytes) order. */
static void test_counter_far_weeks(void **state) {
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/spill", tu_dir);
  mkdir(dir, 0700);
  /* The first sets the base: distances 0, -2^31 - 3, 39997, 32767 (the last near one), -32768
   * (likewise), -32769 (the first far one), 2^31 - 4. */
  static const tbl_week_t weeks[7] = {3,         INT32_MIN, 40000,    3 + 32767,
                                      3 - 32768, 3 - 32769, INT32_MAX};
  enum { SPELLINGS = 5000, EACH = 10, EVENTS = 7 * SPELLINGS * EACH };
  for (int small = 0; small < 2; small++) {
    agg__counter_t *c;
    assert_int_equal(agg__counter_new(small ? 256 * 1024 : UINT64_C(64) << 20, dir, 4, &c), 0);
    for (int i = 0; i < EVENTS; i++) {
      char s[16];
      int n = snprintf(s, sizeof s, "q%d", i % SPELLINGS);
      assert_int_equal(agg__counter_add(c, weeks[i % 7], s, (size_t)n, 1), 0);
    }
    if (small)
      assert_true(agg__counter_spills(c) > 0);
    else
      assert_int_equal(agg__counter_spills(c), 0);
    assert_int_equal(agg__counter_finish(c), 0);
    tbl_week_t w, pw = 0;
    const char *s;
    size_t len, plen = 0;
    uint64_t count;
    char prev[16];
    int rc, pairs = 0;
    while ((rc = agg__counter_next(c, &w, &s, &len, &count)) == 1) {
      assert_int_equal(count, EACH);
      if (pairs && w == pw)
        assert_true(ta_bytes_cmp(prev, plen, s, len) < 0);
      else if (pairs)
        assert_true(w > pw);
      pw = w;
      memcpy(prev, s, len);
      plen = len;
      pairs++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(pairs, 7 * SPELLINGS);
    agg__counter_free(c);
  }
  /* Far weeks whose hashes collide (events carry their hash): the weeks tell them apart. */
  agg__counter_t *c;
  assert_int_equal(agg__counter_new(UINT64_C(1) << 20, dir, 5, &c), 0);
  agg__event_t ev[4];
  for (int i = 0; i < 4; i++)
    ev[i] = (agg__event_t){.week = weeks[i % 2 + 1], .s = "x", .len = 1, .hash = 12345};
  assert_int_equal(agg__counter_add(c, 3, "base", 4, 1), 0);
  assert_int_equal(agg__counter_add_events(c, ev, 4), 0);
  assert_int_equal(agg__counter_finish(c), 0);
  tbl_week_t w;
  const char *s;
  size_t len;
  uint64_t count;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(agg__counter_next(c, &w, &s, &len, &count), 1);
    assert_int_equal(w, i == 0 ? INT32_MIN : i == 1 ? 3 : 40000);
    assert_int_equal(count, i == 1 ? 1 : 2);
  }
  assert_int_equal(agg__counter_next(c, &w, &s, &len, &count), 0);
  agg__counter_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_spill_equals_memory),
      cmocka_unit_test(test_counter_counts_past_32_bits),
      cmocka_unit_test(test_counter_far_weeks),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
