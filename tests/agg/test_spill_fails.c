/* Unit test of the aggregator's bounded-memory counter when a spill fails (builder/agg/
 * agg_count.c, agg_spill.c): here the spill directory does not exist; in life, the disk is
 * full (tests/agg/test_disk_full.py runs the whole aggregator on a full tmpfs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "agg_count_int.h"

/* The failed spill fails the counter: every later add and the finish say so, at once (the
 * spill had sorted the table in place, and adding to it looped for ever). */
static void test_counter_spill_fails(void **state) {
  (void)state;
  agg__counter_t *c;
  assert_int_equal(agg__counter_new(256 * 1024, "/nonexistent/typeahead-spill", 0, &c), 0);
  int rc = 0, failed_at = -1;
  for (int i = 0; i < 100000; i++) {
    char s[32];
    int n = snprintf(s, sizeof s, "query %d", i);
    rc = agg__counter_add(c, 0, s, (size_t)n, 1);
    if (rc && failed_at < 0) failed_at = i;
    if (failed_at >= 0) assert_int_equal(rc, TA_ENOENT);
  }
  assert_true(failed_at > 0);
  agg__event_t ev = {.week = 0, .s = "query 1", .len = 7, .hash = agg__event_hash(0, "query 1", 7)};
  assert_int_equal(agg__counter_add_events(c, &ev, 1), TA_ENOENT);
  assert_int_equal(agg__counter_finish(c), TA_ENOENT);
  agg__counter_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_spill_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
