/* Unit tests of the rules' disguise view (filters/flt_fold.c, SPEC §9): letters of other scripts
 * that look Latin (Cyrillic, Greek, small capitals: the UTS #39 skeleton), digits and signs used
 * as letters, separators inside a word, doubled letters, word:w* stems; the innocent words that
 * must stay; and
 * the rules files refused because they are empty or cut short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flt.h"
#include "flt_test_util.h"

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Every text of blocked[] is suppressed by rs, every text of kept[] is not. */
static void expect(const flt_ruleset_t *rs, const char *const *blocked, size_t n_blocked,
                   const char *const *kept, size_t n_kept) {
  for (size_t i = 0; i < n_blocked; i++) {
    flt_kind_t kind;
    int rc = flt_match_text(rs, blocked[i], strlen(blocked[i]), &kind);
    if (rc != 1) fail_msg("\"%s\": kept (%d), want blocked", blocked[i], rc);
  }
  for (size_t i = 0; i < n_kept; i++) {
    flt_kind_t kind = FLT_KIND_COUNT;
    int rc = flt_match_text(rs, kept[i], strlen(kept[i]), &kind);
    if (rc != 0)
      fail_msg("\"%s\": blocked by a %s rule (%d), want kept", kept[i], flt_kind_name(kind), rc);
  }
}

static const char *const script_blocked[] = {
    "\xd1\x96"
    "diot", /* Cyrillic і */
    "id\xd1\x96\xd0\xbe"
    "t",                                        /* Cyrillic і, о */
    "\xd1\x96\xd4\x81\xd1\x96\xd0\xbe\xd1\x82", /* all Cyrillic: іԁіот */
    "idi\xce\xbft",                             /* Greek ο */
    "\xce\x99"
    "DIOT",                                                 /* Greek capital iota */
    "\xc9\xaa\xe1\xb4\x85\xc9\xaa\xe1\xb4\x8f\xe1\xb4\x9b", /* small capitals ɪᴅɪᴏᴛ */
    "you are an \xd1\x96"
    "diot",
    "\xd1\x81rap",               /* Cyrillic с */
    "kill \xd0\xb0ll",           /* phrase through the skeleton: Cyrillic а */
    "y\xce\xbfu are stupid",     /* exact through the skeleton: Greek ο */
    "how to make a b\xd0\xbemb", /* prefix through the skeleton */
};

static const char *const leet_blocked[] = {
    "id1ot",
    "1d10t",
    "ID10T",
    "you 1d1ot",
    "@ss",
    "a$$",
    "@$$ hat",
    "a55",
    "4ss",
    "cr4p",
    "m0r0n",
    "k1ll 4ll",
    "ki11 all",
    "p0rn",
    "pr0n video",
    "y0u are stupid",
    "buy st0len bikes",
};

static const char *const separator_blocked[] = {
    "i-d-i-o-t", "i.d.i.o.t", "i d i o t", "i_d_i_o_t", "i d-i.o t", "you i.d.i.o.t",
    "id-iot",    "a.s.s",     "a s s hat", "1.d.1.o.t", "c r 4 p",   "p o r n star",
};

static const char *const doubled_blocked[] = {
    "iddiot",   "idiiot", "iiddiioott", "IDDIOT", "i-d-d-i-o-t", "idiooot", "asss",
    "aass hat", "craap",  "mooron",     "pornn",  "poornstar",   "iddiots", "1dd1ot",
};

static const char *const star_blocked[] = {
    "pornstar", "porn",        "PORNOGRAPHY", "porn-star", "best pornstars",
    "p0rnstar", "p\xd0\xbern", "idiots",      "idiotic",
};

static void test_disguises(void **state) {
  (void)state;
  flt_ruleset_t *rs = compile_ok(
      "word:idiot*\nword:ass\nword:crap\nword:moron\nword:porn*\nword:pron\nword:kill\n"
      "phrase:kill all\nexact:you are stupid\nprefix:how to make a bomb\nprefix:buy stolen\n");
  static const char *const kept[] = {
      "ideal",      "assistant",  "scunthorpe",  "class",         "bass guitar",
      "passage",    "idiom",      "popcorn",     "pom poms",      "pomegranate",
      "sporn",      "455",        "455 freeway", "area code 455", "windows 7",
      "2006 taxes", "mp3 player", "b2b",         "a s",           "u s a",
      "i d",        "kiln",       "kil all",     "you are",       "how to make a",
      "buy stole",  "moro",       "cra p",       "as s",          "id iot",
      "0",          "$100 bill",  "100$",        "e-mail",        "assassin",
      "as",         "as seen",    "aas",         "craps",         "kil",
  };
  expect(rs, script_blocked, N_OF(script_blocked), kept, N_OF(kept));
  expect(rs, doubled_blocked, N_OF(doubled_blocked), NULL, 0);
  expect(rs, leet_blocked, N_OF(leet_blocked), NULL, 0);
  expect(rs, separator_blocked, N_OF(separator_blocked), NULL, 0);
  expect(rs, star_blocked, N_OF(star_blocked), NULL, 0);
  flt_ruleset_free(rs);

  /* a rule written in disguise blocks the plain word, and its other disguises */
  rs = compile_ok(
      "word:\xd1\x96"
      "diot\nword:k1ll\nexact:dr\xd1\x83gs\n");
  static const char *const from_rule[] = {"idiot", "idi\xce\xbft", "id1ot",       "kill",
                                          "ki11",  "drygs",        "dr\xd1\x83gs"};
  static const char *const not_from_rule[] = {"idiom", "kilt", "drugs store"};
  expect(rs, from_rule, N_OF(from_rule), not_from_rule, N_OF(not_from_rule));
  flt_ruleset_free(rs);
}

/* A word written into Chinese or Japanese text, which has no spaces between words: a token
 * ends where its letters go from Han or kana to another script or back (UAX #29 breaks there),
 * for words, word:w* stems and phrases alike. A word rule that is itself one mixed token still
 * matches that token, and letters of Latin and Cyrillic stay one token (UAX #29 too). */
static void test_words_in_cjk_text(void **state) {
  (void)state;
  flt_ruleset_t *rs = compile_ok(
      "word:idiot\nword:porn*\nphrase:kill all\nword:t\xe6\x81\xa4\n"
      "word:\xe5\x82\xbb\xe7\x93\x9c\nphrase:t\xe6\x81\xa4 shop\n");
  static const char *const blocked[] = {
      "\xe5\x8c\x97\xe4\xba\xac"
      "idiot",                         /* 北京idiot */
      "idiot\xe5\x8c\x97\xe4\xba\xac", /* idiot北京 */
      "\xe4\xbd\xa0\xe6\x98\xaf"
      "idiot\xe5\x90\x97",             /* 你是idiot吗 */
      "idiot\xe3\x81\xa8\xe3\x81\x86", /* idiotとう */
      "\xe3\x83\x90\xe3\x82\xab"
      "id1ot", /* バカid1ot: leet inside */
      "\xe5\x8c\x97\xe4\xba\xac\xd1\x96"
      "diot", /* 北京іdiot: Cyrillic і */
      "\xe7\x9c\x8b"
      "pornstar", /* 看pornstar: a stem */
      "\xe6\x88\x91\xe6\x83\xb3"
      "kill all",                 /* 我想kill all: a phrase */
      "kill all\xe4\xba\xba",     /* kill all人 */
      "t\xe6\x81\xa4",            /* t恤: the rule's own mixed token */
      "\xe5\x82\xbb\xe7\x93\x9c", /* 傻瓜: a CJK word rule */
      "t\xe6\x81\xa4 shop",       /* phrase:t恤 shop */
      "\xe5\x8c\x97\xe4\xba\xac"
      "t\xe6\x81\xa4 shop", /* 北京t恤 shop */
      "\xe3\x84\x85\xe3\x84\x86"
      "idiot",                                 /* ㄅㄆidiot: Bopomofo */
      "idiot\xe3\x86\xa0",                     /* idiotㆠ: Bopomofo Extended */
      "\xf0\x9a\xbf\xb0\xf0\x9a\xbf\xb1idiot", /* 𚿰𚿱idiot: Kana Extended-B */
  };
  static const char *const kept[] = {
      "\xe5\x8c\x97\xe4\xba\xac"
      "idiom",                    /* 北京idiom */
      "\xe5\x8c\x97\xe4\xba\xac", /* 北京 */
      "\xe7\x9c\x8b"
      "popcorn", /* 看popcorn */
      "kill\xe5\x8c\x97"
      "all",                                  /* kill北all: not one after the other */
      "\xe5\x82\xbb\xe7\x93\x9c\xe4\xbb\xac", /* 傻瓜们: a longer CJK run */
      "\xd0\xb6"
      "idiot", /* жidiot: Cyrillic and Latin, one token */
  };
  expect(rs, blocked, N_OF(blocked), kept, N_OF(kept));
  flt_ruleset_free(rs);
}

/* The shipped starter list blocks the disguises of its words and keeps the innocent ones. */
static void test_starter_list(void **state) {
  (void)state;
  const char *src = getenv("TA_SOURCE_DIR");
  assert_non_null(src);
  char path[4096];
  snprintf(path, sizeof path, "%s/data/blocklist.rules", src);
  flt_ruleset_t *rs = NULL;
  ta_diag_t err;
  if (flt_compile_file(path, &rs, &err) != 0)
    fail_msg("%s:%u: %s", path, (unsigned)err.line, err.msg);
  /* 1: blocked, 0: kept */
  static const struct {
    const char *text;
    int blocked;
  } cases[] = {
      {"\xd1\x96"
       "diot",
       1},
      {"id1ot", 1},
      {"i-d-i-o-t", 1},
      {"i.d.i.o.t", 1},
      {"i d i o t", 1},
      {"iddiot", 1},
      {"idiiot", 1},
      {"asss", 1},
      {"as", 0},
      {"as seen on tv", 0},
      {"book", 0},
      {"google", 0},
      {"idiots", 1},
      {"pornstar", 1},
      {"p0rn", 1},
      {"@ss hat", 1},
      {"kick-ass", 1},
      {"m0r0n", 1},
      {"how to make a b0mb", 1},
      {"ideal", 0},
      {"assistant", 0},
      {"scunthorpe", 0},
      {"class", 0},
      {"bass guitar", 0},
      {"classic cars", 0},
      {"popcorn", 0},
      {"pom poms", 0},
      {"jerky", 0},
      {"crappie", 0},
      {"455", 0},
      {"windows 7", 0},
      {"mp3 player", 0},
      {"idiom", 0},
      {"assassin", 0},
      {"passion", 0},
      {"cocktail", 0},
      {"u s a", 0},
      {"morongo casino", 0},
      {"moronic", 0},
  };
  for (size_t i = 0; i < N_OF(cases); i++) {
    int rc = flt_match_text(rs, cases[i].text, strlen(cases[i].text), NULL);
    if (rc != cases[i].blocked)
      fail_msg("\"%s\": %s by the starter list", cases[i].text, rc ? "blocked" : "kept");
  }
  flt_ruleset_free(rs);
}

static void test_star_rules(void **state) {
  (void)state;
  flt_ruleset_t *a = compile_ok("word:porn*\n"), *b = compile_ok("word:porn\n");
  flt_ruleset_t *c = compile_ok("porn*\nword:PORN*\nword:pornstar*\n"); /* covered: one rule */
  flt_info_t ia, ib, ic;
  assert_int_equal(flt_get_info(a, &ia), 0);
  assert_int_equal(flt_get_info(b, &ib), 0);
  assert_int_equal(flt_get_info(c, &ic), 0);
  assert_int_equal(ia.rules[FLT_WORD], 1); /* word:w* counts as a word rule */
  assert_true(ia.version != ib.version);   /* the star is part of the rule */
  assert_int_equal(ic.rules[FLT_WORD], 2); /* porn*, pornstar* (as written) */
  static const char *const stem[] = {"porn", "pornstar"};
  static const char *const not_stem[] = {"sporn", "por", "p orn"};
  expect(a, stem, N_OF(stem), not_stem, N_OF(not_stem));
  static const char *const plain_kept[] = {"pornstar", "porno"};
  static const char *const plain_blocked[] = {"porn", "p0rn"};
  expect(b, plain_blocked, N_OF(plain_blocked), plain_kept, N_OF(plain_kept));
  expect(c, stem, N_OF(stem), not_stem, N_OF(not_stem));
  flt_ruleset_free(a);
  flt_ruleset_free(b);
  flt_ruleset_free(c);

  /* a star only ends a word rule */
  static const struct {
    const char *text, *needle;
  } bad[] = {
      {"word:*\n", "empty word rule"},
      {"word:po*rn\n", "one token"},
      {"word:porn**\n", "one token"},
      {"word:two words*\n", "one token"},
  };
  for (size_t i = 0; i < N_OF(bad); i++) {
    flt_ruleset_t *rs = NULL;
    ta_diag_t err;
    assert_int_equal(flt_compile(bad[i].text, strlen(bad[i].text), &rs, &err), TA_EPARSE);
    assert_null(rs);
    assert_int_equal((unsigned)err.line, 1);
    if (strstr(err.msg, bad[i].needle) == NULL)
      fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].text, err.msg, bad[i].needle);
  }
}

/* A file with no rules says so with a comment, and is then valid; an empty file on disk is
 * refused like any invalid one. */
static void test_file_shape(void **state) {
  (void)state;
  /* refusals of empty and cut-short files: test_rules.c's test_parse_errors */
  /* a file saying it has no rules is valid and blocks nothing */
  flt_ruleset_t *rs = compile_ok("# no rules\n");
  assert_int_equal(flt_rule_count(rs), 0);
  assert_int_equal(flt_match_text(rs, "idiot", 5, NULL), 0);
  flt_ruleset_free(rs);
  rs = compile_ok("\xef\xbb\xbf# none yet\r\n\r\n");
  assert_int_equal(flt_rule_count(rs), 0);
  flt_ruleset_free(rs);
  /* the empty rule set of a server without --filters is still there */
  assert_int_equal(flt_ruleset_empty(&rs), 0);
  assert_int_equal(flt_rule_count(rs), 0);
  flt_ruleset_free(rs);

  /* the same through a file on disk: an empty file is refused */
  char path[] = "/tmp/flt_shape_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  fclose(f);
  ta_diag_t err;
  rs = NULL;
  assert_int_equal(flt_compile_file(path, &rs, &err), TA_EPARSE);
  assert_null(rs);
  assert_non_null(strstr(err.msg, "empty"));
  remove(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_disguises),    cmocka_unit_test(test_words_in_cjk_text),
      cmocka_unit_test(test_starter_list), cmocka_unit_test(test_star_rules),
      cmocka_unit_test(test_file_shape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
