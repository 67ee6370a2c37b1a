/* Unit tests of typeahead-build's --tables source (builder/bld/bld_tables.c): the decayed score of
 * SPEC §5 over the window of --weeks ending at --now, into the shared accumulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tbl.h"
#include "bld.h"
#include "../trie/trie_test_util.h"

static void table(const char *week, const char *const *spellings, const uint64_t *counts,
                  size_t n) {
  tbl_week_t w;
  assert_int_equal(tbl_week_parse(week, strlen(week), &w), 0);
  char path[300];
  snprintf(path, sizeof path, "%s/%s.msgpack", tu_dir, week);
  tbl_writer_t *wr;
  assert_int_equal(tbl_writer_open(path, w, &wr), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(tbl_writer_add(wr, spellings[i], strlen(spellings[i]), counts[i]), 0);
  assert_int_equal(tbl_writer_close(wr), 0);
}

static int setup(void **state) {
  if (tu_setup_dir(state) != 0) return -1;
  /* W10 is the newest week. */
  table("2026-W05", (const char *const[]){"old favourite"}, (const uint64_t[]){100}, 1);
  table("2026-W09", (const char *const[]){"Caf\xc3\xa9", "new favourite"},
        (const uint64_t[]){3, 30}, 2);
  table("2026-W10", (const char *const[]){"cafe", "caf\xc3\xa9"}, (const uint64_t[]){2, 2}, 2);
  return 0;
}

static double score(bld_acc_t *acc, const char *q, const char **display) {
  double s = -1;
  size_t len;
  const char *d = NULL;
  if (bld_acc_get(acc, q, strlen(q), &s, &d, &len) != 0) return -1;
  if (display) *display = d;
  return s;
}

/* A new accumulator with the tables of tu_dir read into it with o (the read must succeed). */
static bld_acc_t *read_tables(bld_tables_opts_t *o) {
  bld_acc_t *acc;
  ta_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  int rc = bld_read_tables(acc, tu_dir, o, &diag);
  if (rc != 0) fail_msg("bld_read_tables: %s", diag.msg);
  return acc;
}

static void test_decay(void **state) {
  (void)state;
  bld_tables_opts_t o = {.weeks = 8, .half_life = 1.0};
  bld_acc_t *acc = read_tables(&o);
  assert_int_equal(o.tables, 3);
  char name[TBL_WEEK_STR];
  tbl_week_name(o.now_week, name);
  assert_string_equal(name, "2026-W10");
  /* 100 * 0.5^5 = 3.125 < 30 * 0.5^1 = 15: recent popularity wins. */
  assert_true(fabs(score(acc, "old favourite", NULL) - 3.125) < 1e-9);
  assert_true(fabs(score(acc, "new favourite", NULL) - 15.0) < 1e-9);
  /* One key "cafe": 3 * 0.5 + 2 + 2 = 5.5; display = heaviest decayed spelling "café" (2)
   * against "Café" (1.5) and "cafe" (2): tie broken bytewise ("cafe" < "café"). */
  const char *display;
  assert_true(fabs(score(acc, "CAFE", &display) - 5.5) < 1e-9);
  assert_memory_equal(display, "cafe", 4);
  bld_acc_free(acc);

  /* No decay: plain sums; the old query wins. */
  o = (bld_tables_opts_t){.weeks = 8, .half_life = INFINITY};
  acc = read_tables(&o);
  assert_true(fabs(score(acc, "old favourite", NULL) - 100) < 1e-9);
  assert_true(fabs(score(acc, "new favourite", NULL) - 30) < 1e-9);
  bld_acc_free(acc);
}

static void test_window_and_now(void **state) {
  (void)state;
  /* --weeks 2 from W10: W09 and W10 only. */
  bld_tables_opts_t o = {.weeks = 2, .half_life = 2.0};
  bld_acc_t *acc = read_tables(&o);
  assert_int_equal(o.tables, 2);
  assert_true(score(acc, "old favourite", NULL) < 0);
  assert_true(fabs(score(acc, "new favourite", NULL) - 30 * pow(0.5, 0.5)) < 1e-9);
  bld_acc_free(acc);
  /* --now in W05: newer tables are the future, left out. */
  o = (bld_tables_opts_t){.weeks = 4, .half_life = 1.0, .now = "2026-02-01"};
  acc = read_tables(&o);
  assert_int_equal(o.tables, 1);
  assert_true(fabs(score(acc, "old favourite", NULL) - 100) < 1e-9);
  assert_true(score(acc, "new favourite", NULL) < 0);
  bld_acc_free(acc);
  /* Bad --now, no tables. */
  ta_diag_t diag;
  assert_int_equal(bld_acc_new(&acc), 0);
  o = (bld_tables_opts_t){.weeks = 4, .half_life = 1.0, .now = "2026-W60"};
  assert_int_equal(bld_read_tables(acc, tu_dir, &o, &diag), TA_EPARSE);
  assert_non_null(strstr(diag.msg, "--now"));
  o = (bld_tables_opts_t){.weeks = 4, .half_life = 1.0};
  assert_int_equal(bld_read_tables(acc, "/nonexistent-ta-dir", &o, &diag), TA_ENOENT);
  char empty[300];
  snprintf(empty, sizeof empty, "%s/empty", tu_dir);
  mkdir(empty, 0700);
  assert_int_equal(bld_read_tables(acc, empty, &o, &diag), TA_EEMPTY);
  assert_non_null(strstr(diag.msg, "no week tables"));
  bld_acc_free(acc);
}

/* A table listed in a committed run's .txn (tbl_list prefers it) and moved into the directory by
 * the roll forward before it is opened: read from there. The build failed with ENOENT when its
 * listing met another run's roll forward. */
static void test_listed_then_rolled_forward(void **state) {
  (void)state;
  char dir[300], txn[320], from[400], to[400];
  snprintf(dir, sizeof dir, "%s/rolled", tu_dir);
  snprintf(txn, sizeof txn, "%s/%s", dir, TBL_TXN_DIR);
  snprintf(from, sizeof from, "%s/2026-W10.msgpack", tu_dir);
  snprintf(to, sizeof to, "%s/2026-W10.msgpack", txn);
  assert_int_equal(mkdir(dir, 0700), 0);
  assert_int_equal(mkdir(txn, 0700), 0);
  assert_int_equal(link(from, to), 0);
  char **paths;
  size_t n;
  assert_int_equal(tbl_list(dir, &paths, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(paths[0], to);
  snprintf(from, sizeof from, "%s/2026-W10.msgpack", dir); /* the roll forward */
  assert_int_equal(rename(to, from), 0);
  assert_int_equal(rmdir(txn), 0);
  tbl_reader_t *t;
  int rc = tbl_reader_open(paths[0], &t);
  if (rc) fail_msg("%s", tbl_reader_errmsg(t));
  const char *key;
  size_t len;
  uint64_t count, events = 0;
  while ((rc = tbl_reader_next(t, &key, &len, &count)) == 1) events += count;
  assert_int_equal(rc, 0);
  assert_int_equal(events, 4);
  tbl_reader_close(t);
  /* Gone from both places: the error names the table where it was moved to. */
  assert_int_equal(unlink(from), 0);
  assert_int_equal(tbl_reader_open(paths[0], &t), TA_ENOENT);
  assert_non_null(strstr(tbl_reader_errmsg(t), from));
  tbl_reader_close(t);
  tbl_paths_free(paths, n);
  assert_int_equal(rmdir(dir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_decay),
                                     cmocka_unit_test(test_window_and_now),
                                     cmocka_unit_test(test_listed_then_rolled_forward)};
  return cmocka_run_group_tests(tests, setup, tu_teardown_dir);
}
