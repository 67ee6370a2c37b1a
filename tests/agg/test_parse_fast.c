/* The tsv parser's fast path (agg__parse_tsv_fast, builder/agg/agg_parse.c) against the general
 * parser (agg__parse_line), its reference: on random lines near every edge of the fast case
 * (timestamps of each form and broken ones, spaces at the ends and in pairs, accents, TABs,
 * markets, CR, control bytes, lengths around 64 bytes, the block's last line without its
 * newline), a line the fast path takes must come out exactly as the general parser makes it,
 * and the usual lines must take it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agg_int.h"
#include "../trie/trie_test_util.h"

#define PAD AGG__TSV_LOOK /* readable bytes after a block (agg_ingest.c's BLOCK_PAD) */

/* 1791158400 is a Monday 00:00 UTC: the seconds around it and around the next Monday fall on
 * either side of a week's edges (the fast path remembers the last week's). */
static const char *const stamps[] = {"1791474919",
                                     "1141603200",
                                     "1791158400",
                                     "1791158399",
                                     "1791763199",
                                     "1791763200",
                                     "999999999",
                                     "17914749190",
                                     "179147491x",
                                     "0",
                                     "-1",
                                     "",
                                     "2026-10-05T12:34:56Z",
                                     "2026-10-05T23:59:60Z",
                                     "2026-10-05T24:00:00Z",
                                     "2026-10-05T00:60:00Z",
                                     "2026-10-05T00:00:61Z",
                                     "2026-10-05t12:34:56z",
                                     "2026-10-06T00:00:00Z",
                                     "1969-12-31T23:59:59Z",
                                     "0000-01-01T00:00:00Z",
                                     "2026-10-05 23:59:60",
                                     "2026-02-30T00:00:00Z",
                                     "2026-10-05T12:34:56+02:00",
                                     "2026-10-05T12:34:56.123Z",
                                     "2026-13-01T00:00:00Z",
                                     "1791474919 "};

static const char *const atoms[] = {"din",
                                    "ner",
                                    " ",
                                    " ",
                                    "  ",
                                    "new",
                                    "york",
                                    "Caf\xc3\xa9",
                                    "na\xc3\xafve",
                                    "\t",
                                    "\tus",
                                    "\tzz-9",
                                    "\r",
                                    "\x01",
                                    "\x7f",
                                    "~",
                                    "abcdefghijklmnopqrstuvwxyz",
                                    "0123456789ABCDEF",
                                    "a"};

/* Compares the two parsers on the line at buf[0..avail) (the newline, if any, within it). */
static void compare(agg__parser_t *fast, agg__parser_t *ref, const char *buf, size_t avail,
                    int *took_fast) {
  size_t n_line = 0, flen = 0, rlen = 0;
  tbl_week_t fw = 0, rw = 0;
  int frc = agg__parse_tsv_fast(fast, buf, avail, &n_line, &fw, &flen);
  *took_fast = frc != AGG__LINE_SLOW;
  if (!*took_fast) return;
  const char *nl = memchr(buf, '\n', avail);
  assert_non_null(nl); /* the fast path takes only a line with its newline */
  assert_int_equal(n_line, (size_t)(nl - buf));
  agg_bad_t why = AGG_BAD_COUNT;
  int rrc = agg__parse_line(ref, buf, n_line, &rw, &rlen, &why);
  assert_int_equal(frc, rrc);
  if (frc != AGG__LINE_EVENT) return;
  assert_int_equal(fw, rw);
  assert_int_equal(flen, rlen);
  assert_memory_equal(fast->spelling, ref->spelling, flen);
  assert_true(fast->spelling >= buf && fast->spelling + flen <= buf + n_line);
  assert_int_equal(fast->time, ref->time);
  assert_int_equal(fast->market_len, 0);
  assert_int_equal(ref->market_len, 0);
}

static void random_lines(uint64_t sample) {
  agg__parser_t fast, ref;
  assert_int_equal(agg__parser_init(&fast, AGG_FORMAT_TSV, sample), 0);
  assert_int_equal(agg__parser_init(&ref, AGG_FORMAT_TSV, sample), 0);
  tu_rand_t r = {UINT64_C(0x9e3779b97f4a7c15) ^ sample, atoms, sizeof atoms / sizeof *atoms};
  char *buf = malloc(256 + PAD);
  int fast_events = 0, usual_taken = 0, usual = 0;
  for (int i = 0; i < 200000; i++) {
    char q[160];
    size_t ql = tu_random_text(&r, q, 90, 6);
    const char *ts = stamps[tu_rnd(&r, sizeof stamps / sizeof *stamps)];
    int n = snprintf(buf, 256, "%s\t%s", ts, q);
    assert_true(n > 0 && n < 255);
    size_t line = (size_t)n, avail = line + 1;
    buf[line] = '\n';
    switch (tu_rnd(&r, 8)) {
    case 0: /* the input's last line: no newline before the block's end */
      avail = line;
      break;
    case 1: /* another line after it */
      memcpy(buf + avail, "1791474919\tnext\n", 16);
      avail += 16;
      break;
    default:
      break;
    }
    /* Stale bytes after the block's end, as in a reused block: never read as the line's. */
    memset(buf + avail, tu_rnd(&r, 2) ? '\n' : 'x', 256 + PAD - avail);
    int took;
    compare(&fast, &ref, buf, avail, &took);
    /* The usual line: a unix time, a short ASCII query in display form, its newline. */
    int plain = ts[0] == '1' && strlen(ts) == 10 && ts[9] != 'x' && ql > 0 && ql + 11 < 64 &&
                avail > line && q[0] != ' ' && q[ql - 1] != ' ' && !strstr(q, "  ");
    for (size_t k = 0; plain && k < ql; k++) plain = q[k] >= 0x20 && q[k] < 0x7f;
    usual += plain;
    usual_taken += plain && took;
    fast_events += took;
  }
  assert_true(usual > 1000);
  assert_int_equal(usual_taken, usual);
  assert_true(fast_events >= usual);
  free(buf);
  agg__parser_free(&fast);
  agg__parser_free(&ref);
}

static void test_fast_equals_general(void **state) {
  (void)state;
  random_lines(0);
}

static void test_fast_equals_general_sampled(void **state) {
  (void)state;
  random_lines(3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fast_equals_general),
      cmocka_unit_test(test_fast_equals_general_sampled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
