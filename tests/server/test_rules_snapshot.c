/*
 * Unit test of the rules a request uses (server/srv_filters.c, srv__rules_acquire): one
 * snapshot, taken once, filters every lookup of the request (exact, word, trending) and names
 * its version, even when other rules are put in force while the request runs. A worker holds
 * the snapshot; another thread puts new rules (PUT /admin/filters), which are in force at once
 * (that put waits only to free the old ones); every lookup made with the snapshot still filters
 * by the old rules, and a snapshot taken after it by the new.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../trie/trie_test_util.h"
#include "srv_int.h"

/* Each rule set hides one exact match, one word match and one trending completion of "york";
 * the other set hides the others. */
static const char RULES_A[] = "exact:york city\nexact:new york\nexact:york trend a\n";
static const char RULES_B[] = "exact:york cafe\nexact:old york\nexact:york trend b\n";

static const trie_entry_t REGULAR[] = {
    {"york city", 9, "york city", 9, 100},        {"york cafe", 9, "york cafe", 9, 95},
    {"new york", 8, "new york", 8, 90},           {"old york", 8, "old york", 8, 85},
    {"big york fan", 12, "big york fan", 12, 80},
};
static const trie_entry_t TRENDING[] = {
    {"york trend a", 12, "york trend a", 12, 1000},
    {"york trend b", 12, "york trend b", 12, 999},
};

typedef struct {
  srv_t *s;
  int rc;
} put_arg_t;

static void *put_b(void *arg) {
  put_arg_t *p = arg;
  ta_diag_t err;
  flt_info_t info;
  p->rc = srv__filters_put(p->s, 1, RULES_B, sizeof RULES_B - 1, &err, &info);
  return NULL;
}

static int shows(const trie_hit_t *hits, size_t n, const char *text) {
  for (size_t i = 0; i < n; i++)
    if (hits[i].text_len == strlen(text) && memcmp(hits[i].text, text, hits[i].text_len) == 0)
      return 1;
  return 0;
}

/* The answer to "york" through rules: exact, then word matches, then trending mixed in. */
static void answer(srv_t *s, const srv_fstate_t *rules, const srv_trie_t *t, const srv_trie_t *tt,
                   trie_hit_t *hits, size_t *n) {
  srv_mark_t marks[TA_MAX_K];
  *n = 0;
  trie_text_reset(tu_text());
  assert_int_equal(srv__answer(rules, t, 0, &s->wmetrics[0], "york", 4, 8, tu_text(), hits, n), 0);
  assert_int_equal(
      srv__answer_more(rules, t, 0, "york", 4, 0, 1, NULL, *n, 8, tu_text(), hits, marks, n), 0);
  assert_int_equal(
      srv__trending_mix(s, rules, tt, 0, &s->wmetrics[0], "york", 4, 8, tu_text(), hits, n, marks),
      0);
}

/* What rule set A (a = 1) or B (a = 0) leaves of the answer to "york". */
static void assert_filtered_by(const trie_hit_t *hits, size_t n, int a) {
  assert_true(shows(hits, n, "york cafe") == a);
  assert_true(shows(hits, n, "york city") == !a);
  assert_true(shows(hits, n, "old york") == a); /* a word match */
  assert_true(shows(hits, n, "new york") == !a);
  assert_true(shows(hits, n, "big york fan"));
  assert_true(shows(hits, n, "york trend b") == a); /* a trending one */
  assert_true(shows(hits, n, "york trend a") == !a);
}

static void test_one_snapshot_per_request(void **state) {
  (void)state;
  char rules_path[4200];
  snprintf(rules_path, sizeof rules_path, "%s/rules", tu_dir);
  assert_int_equal(tu_spit(rules_path, RULES_A, sizeof RULES_A - 1), 0);
  srv_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  s->threads = 2;
  s->wmetrics = calloc(2, sizeof *s->wmetrics);
  s->filters_path = rules_path;
  s->tr.slots = 2;
  assert_int_equal(srv__filters_start(s), 0);
  srv_trie_t t = {.gen = 1}, tt = {.gen = 2};
  t.reader = tu_open_entries("regular.trie", REGULAR, 5, 10);
  tt.reader = tu_open_entries("trending.trie", TRENDING, 2, 10);
  assert_non_null(t.reader);
  assert_non_null(tt.reader);
  assert_int_equal(trie_get_info(t.reader, &t.info), 0);
  assert_int_equal(trie_get_info(tt.reader, &tt.info), 0);
  assert_int_equal(trie_words_build(t.reader, &t.words), 0);
  assert_int_equal(trie_screen_build(tt.reader, &tt.screen), 0);

  uint64_t va = 0, vb = 0;
  const srv_fstate_t *rules = srv__rules_acquire(s, 0, &va);
  assert_non_null(rules);
  assert_int_equal(va, srv__filter_version_num(s));
  trie_hit_t hits[TA_MAX_K];
  size_t n = 0;
  answer(s, rules, &t, &tt, hits, &n);
  assert_filtered_by(hits, n, 1);

  /* B put in force while worker 0 answers under A */
  put_arg_t put = {s, -1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, put_b, &put), 0);
  for (int i = 0; i < 10000 && srv__filter_version_num(s) == va; i++)
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  assert_true(srv__filter_version_num(s) != va);
  answer(s, rules, &t, &tt, hits, &n);
  assert_filtered_by(hits, n, 1); /* every part by A, the rules named by va */
  srv__rules_release(s, 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(put.rc, 0);

  /* the next request: B, under B's version */
  rules = srv__rules_acquire(s, 0, &vb);
  assert_true(vb != va);
  assert_int_equal(vb, srv__filter_version_num(s));
  answer(s, rules, &t, &tt, hits, &n);
  assert_filtered_by(hits, n, 0);
  srv__rules_release(s, 0);

  trie_text_reset(tu_text());
  trie_words_free(t.words);
  trie_screen_free(tt.screen);
  trie_close(t.reader);
  trie_close(tt.reader);
  srv__snaptab_free(&s->snaps);
  srv__filters_free(s);
  free(s->wmetrics);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_snapshot_per_request),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
