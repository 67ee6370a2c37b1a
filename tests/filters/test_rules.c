/* Unit tests of the blocklist rules (filters/, SPEC §9): the parser's errors and their line
 * numbers, each rule kind, evasion attempts (case, accents, full-width forms, spacing, token
 * boundaries, Unicode letters, digits and marks), the rule-set version, and the keep predicate. */
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

/* The file must be refused with error code rc at line, with a message containing needle. */
static void expect_refused(const char *text, size_t len, int rc_want, unsigned line,
                           const char *needle) {
  flt_ruleset_t *rs = (flt_ruleset_t *)(uintptr_t)1;
  ta_diag_t err;
  int rc = flt_compile(text, len, &rs, &err);
  if (rc != rc_want)
    fail_msg("rc %d (%s), want %d; line %u: %s", rc, ta_strerror(rc), rc_want, (unsigned)err.line,
             err.msg);
  assert_null(rs);
  if (err.line != line) fail_msg("line %u, want %u (%s)", (unsigned)err.line, line, err.msg);
  if (strstr(err.msg, needle) == NULL) fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

/* A rules file refused with error code rc at line, with a message containing needle. */
typedef struct {
  const char *text;
  int rc;
  unsigned line;
  const char *needle;
} refusal_t;

/* Is text (any spelling; normalized here) suppressed, and by which kind? -1 when not. */
static int blocked_by(const flt_ruleset_t *rs, const char *text) {
  flt_kind_t kind = FLT_KIND_COUNT;
  int rc = flt_match_text(rs, text, strlen(text), &kind);
  if (rc < 0) fail_msg("cannot normalize \"%s\": %s", text, ta_strerror(rc));
  if (rc == 0) return -1;
  assert_true(kind < FLT_KIND_COUNT);
  return (int)kind;
}

static void expect_blocked(const flt_ruleset_t *rs, const char *text, flt_kind_t kind) {
  int got = blocked_by(rs, text);
  if (got != (int)kind)
    fail_msg("\"%s\": %s, want blocked by %s", text, got < 0 ? "kept" : flt_kind_name(got),
             flt_kind_name(kind));
}

static void expect_kept(const flt_ruleset_t *rs, const char *text) {
  int got = blocked_by(rs, text);
  if (got >= 0) fail_msg("\"%s\" blocked by a %s rule, want kept", text, flt_kind_name(got));
}

/* A text and the verdict on it: blocked by a rule of kind, or KEPT. */
#define KEPT FLT_KIND_COUNT
typedef struct {
  const char *text;
  flt_kind_t kind;
} verdict_t;

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Every text of v[0..n) gets its verdict from rs. */
static void expect_verdicts(const flt_ruleset_t *rs, const verdict_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (v[i].kind == KEPT)
      expect_kept(rs, v[i].text);
    else
      expect_blocked(rs, v[i].text, v[i].kind);
  }
}

/* The rules file text compiles, and every text of v[0..n) gets its verdict from it. */
static void check_rules(const char *text, const verdict_t *v, size_t n) {
  flt_ruleset_t *rs = compile_ok(text);
  expect_verdicts(rs, v, n);
  flt_ruleset_free(rs);
}

static void test_parse_errors(void **state) {
  (void)state;
  static const refusal_t refused[] = {
      {"word:ok\nfoo:bar\n", TA_EPARSE, 2, "unknown rule kind 'foo'"},
      {"\n\n# comment\nword:\n", TA_EPARSE, 4, "empty word rule"},
      {"exact:   \t \n", TA_EPARSE, 1, "empty exact rule"},
      /* only an em space: empty after normalization */
      {"prefix:\xe2\x80\x83\n", TA_EPARSE, 1, "empty prefix rule"},
      {"word:fine\r\nword:two tokens\r\n", TA_EPARSE, 2, "one token"},
      {"kill all\n", TA_EPARSE, 1, "one token"}, /* a bare rule is a word rule */
      {"word:c++\n", TA_EPARSE, 1, "one token"},
      {"ok\n# fine\nphrase:!!! ...\n", TA_EPARSE, 3, "no letters or digits"},
      {"ok\n\xff\xfe\n", TA_EUTF8, 2, "invalid UTF-8"},
      /* invalid UTF-8 in a comment is refused too: the file is UTF-8 */
      {"# comment \xc3\n", TA_EUTF8, 1, "invalid UTF-8"},
      /* empty, or cut short while written: refused, never "no rules" */
      {"", TA_EPARSE, 0, "empty"},
      {"word:ok\r\nword:idi", TA_EPARSE, 2, "no line end"},
      {"# only a comment", TA_EPARSE, 1, "no line end"},
      {"\xef\xbb\xbf", TA_EPARSE, 1, "no line end"},
      {"\n", TA_EPARSE, 0, "no rules and no comment"},
      {"\n  \r\n\t\n", TA_EPARSE, 0, "no rules and no comment"},
  };
  for (const refusal_t *r = refused; r < refused + N_OF(refused); r++)
    expect_refused(r->text, strlen(r->text), r->rc, r->line, r->needle);
  const char *t;
  t = "a\nb\nc\0d\n";
  expect_refused(t, 8, TA_EPARSE, 3, "NUL");
  t = "word:ok\nexact:ok2"; /* last line without a line end: cut short */
  expect_refused(t, strlen(t), TA_EPARSE, 2, "no line end");
  t = "word:ok\nword:two tokens"; /* a bad last line is named for what is wrong with it */
  expect_refused(t, strlen(t), TA_EPARSE, 2, "one token");

  char *longline = malloc(FLT_MAX_LINE + 16);
  assert_non_null(longline);
  memcpy(longline, "ok\n", 3);
  memset(longline + 3, 'a', FLT_MAX_LINE + 1);
  longline[3 + FLT_MAX_LINE + 1] = '\n';
  expect_refused(longline, FLT_MAX_LINE + 5, TA_ETOOLONG, 2, "limit");
  /* exactly at the limit is fine */
  flt_ruleset_free(compile_ok(
      (longline[3 + FLT_MAX_LINE] = '\n', longline[3 + FLT_MAX_LINE + 1] = '\0', longline)));
  free(longline);

  size_t big = (size_t)FLT_MAX_TEXT + 1;
  char *huge = malloc(big);
  assert_non_null(huge);
  memset(huge, '\n', big);
  expect_refused(huge, big, TA_ETOOLONG, 0, "limit");
  free(huge);

  /* a refused file leaves nothing behind, and NULL error pointer is allowed */
  flt_ruleset_t *rs = NULL;
  assert_int_equal(flt_compile("x y\n", 4, &rs, NULL), TA_EPARSE);
  assert_null(rs);
  assert_int_equal(flt_compile(NULL, 0, NULL, NULL), TA_EINVAL);
}

static const verdict_t accepted[] = {
    {"alpha", FLT_WORD},         {"bare", FLT_WORD},          {"x beta gamma y", FLT_PHRASE},
    {"delta force", FLT_PREFIX}, {"epsilon zeta", FLT_EXACT}, {"gamma beta", KEPT},
};

static void test_syntax_accepted(void **state) {
  (void)state;
  /* BOM, CRLF, blanks, indented comments, case-insensitive kind names, blanks around ':' */
  flt_ruleset_t *rs = compile_ok(
      "\xef\xbb\xbf# starter\r\n\r\n   \t\r\n  # indented comment\r\n"
      "WORD:alpha\r\n  Phrase : beta gamma\r\nprefix:delta\r\n"
      "exact:epsilon zeta\r\nbare\r\nword:alpha\r\n");
  flt_info_t info;
  assert_int_equal(flt_get_info(rs, &info), 0);
  assert_int_equal(info.rules[FLT_WORD], 2); /* alpha (twice: one rule), bare */
  assert_int_equal(info.rules[FLT_PHRASE], 1);
  assert_int_equal(info.rules[FLT_PREFIX], 1);
  assert_int_equal(info.rules[FLT_EXACT], 1);
  assert_int_equal(flt_rule_count(rs), 5);
  assert_int_equal(strlen(info.version_hex), 16);
  assert_true(info.text_len > 0 && memcmp(info.text, "\xef\xbb\xbf# starter", 12) == 0);
  expect_verdicts(rs, accepted, N_OF(accepted));
  flt_ruleset_free(rs);
  flt_ruleset_free(NULL);
}

static const verdict_t by_kind[] = {
    /* word: whole tokens only */
    {"ass hat", FLT_WORD},
    {"big ass", FLT_WORD},
    {"big-ass-hat", FLT_WORD},
    {"(ass)", FLT_WORD},
    {"class", KEPT},
    {"assassin", KEPT},
    {"bass guitar", KEPT},
    {"as s", KEPT},
    /* phrase: consecutive tokens, any separators */
    {"how to kill all humans", FLT_PHRASE},
    {"kill-all", FLT_PHRASE},
    {"kill kill all", FLT_PHRASE},
    {"kill them all", KEPT},
    {"skill all", KEPT},
    {"kill alligator", KEPT},
    {"all kill", KEPT},
    {"kill", KEPT},
    /* prefix: bytewise on the key */
    {"how to make a bomb", FLT_PREFIX},
    {"how to make a b", FLT_PREFIX},
    {"how to make a", KEPT},
    {"so how to make a bomb", KEPT},
    /* exact: the whole key */
    {"drugs", FLT_EXACT},
    {"drugs store", KEPT},
    {"drug", KEPT},
};

static const verdict_t overlapping[] = {
    {"bad word", FLT_EXACT},
    {"bad words", FLT_PREFIX},
    {"a bad word", FLT_WORD},
};

static const verdict_t covering[] = {
    {"y x z", FLT_PHRASE}, {"a b d", FLT_PHRASE}, {"z a c", FLT_PHRASE}, {"a a b c", FLT_PHRASE},
    {"a b", KEPT},         {"a d c", KEPT},       {"abx", FLT_PREFIX},   {"abcdef", FLT_PREFIX},
    {"q", FLT_PREFIX},     {"a", KEPT},
};

static void test_kinds(void **state) {
  (void)state;
  check_rules("word:ass\nphrase:kill all\nprefix:how to make a b\nexact:drugs\n", by_kind,
              N_OF(by_kind));

  /* kinds overlapping on one key count once, under exact, prefix, word, phrase in that order */
  check_rules("exact:bad word\nprefix:bad\nword:word\nphrase:bad word\n", overlapping,
              N_OF(overlapping));
  check_rules("phrase:bad word\nword:word\n", (const verdict_t[]){{"bad word", FLT_WORD}}, 1);

  /* one-token phrases, repeated first tokens, prefixes that cover others */
  flt_ruleset_t *rs = compile_ok(
      "phrase:x\nphrase:a b c\nphrase:a c\nphrase:a b d\nprefix:abc\nprefix:ab\n"
      "prefix:abcd\nprefix:q\n");
  flt_info_t info;
  assert_int_equal(flt_get_info(rs, &info), 0);
  /* counted as written, though ab covers abc and abcd in the compiled set */
  assert_int_equal(info.rules[FLT_PREFIX], 4);
  assert_int_equal(info.rules[FLT_PHRASE], 4);
  expect_verdicts(rs, covering, N_OF(covering));
  flt_ruleset_free(rs);
}

static const verdict_t evasions[] = {
    /* case, accents, full-width, extra and exotic spaces */
    {"ASS hat", FLT_WORD},
    {"\xc3\x80ss hat", FLT_WORD},                           /* Àss */
    {"a\xcc\x81ss hat", FLT_WORD},                          /* a + U+0301 */
    {"\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93 hat", FLT_WORD}, /* ａｓｓ */
    {"\xef\xbc\xa1\xef\xbc\xb3\xef\xbc\xb3", FLT_WORD},     /* ＡＳＳ */
    {"  KILL \t\xe2\x80\x83 ALL  ", FLT_PHRASE},
    {"Kíll Åll", FLT_PHRASE},
    {" DRUGS ", FLT_EXACT},
    {"Dr\xc3\xbcgs", FLT_EXACT}, /* Drügs */
    {"BOMB    Making", FLT_PREFIX},
    {"CAFE au lait", FLT_WORD},
    {"Caf\xc3\xa9", FLT_WORD},
    /* digits: full-width digits fold to ASCII; a longer number is another token */
    {"answer 42", FLT_WORD},
    {"answer \xef\xbc\x94\xef\xbc\x92", FLT_WORD}, /* ４２ */
    {"answer 420", KEPT},
    {"x42", KEPT},
    /* Unicode letters: a run of CJK letters is one token; Devanagari marks stay inside a token */
    {"学 中文", FLT_WORD},
    {"中文!", FLT_WORD},
    {"中文学", KEPT},
    {"\xe0\xa4\x95\xe0\xa4\xbf\xe0\xa4\xa4\xe0\xa4\xbe\xe0\xa4\xac", KEPT}, /* किताब */
    {"\xe0\xa4\x95 \xe0\xa4\xac", FLT_WORD},                                /* क ब */
    /* token boundaries */
    {"class", KEPT},
    {"passage", KEPT},
    {"ass.", FLT_WORD},
    {"x_ass", FLT_WORD}, /* '_' is punctuation, not a letter */
};

static const verdict_t odd_rules[] = {
    {"ass", FLT_WORD},
    {"kill all", FLT_PHRASE},
    {"drugs", FLT_EXACT},
    {"bombs", FLT_PREFIX},
};

static void test_evasion(void **state) {
  (void)state;
  check_rules(
      "word:ass\nphrase:kill all\nexact:drugs\nprefix:bomb m\n"
      "word:café\nword:42\nword:中文\nword:क\n",
      evasions, N_OF(evasions));
  /* rules themselves written with case, accents, full-width and odd spacing */
  check_rules(
      "word:\xef\xbc\xa1\xef\xbc\xb3\xef\xbc\xb3\nphrase:  KILL \t ALL  \n"
      "exact:DR\xc3\x9cGS\nprefix:  B\xc3\xb3mb  \n",
      odd_rules, N_OF(odd_rules));
}

static void test_version(void **state) {
  (void)state;
  flt_ruleset_t *a = compile_ok("word:alpha\nphrase:beta gamma\nprefix:delta\n");
  flt_ruleset_t *b = compile_ok(
      "# same rules, other order and spelling\nprefix:DELTA\n"
      "phrase:Beta  Gamma\nALPHA\nword:alpha\n");
  flt_ruleset_t *c = compile_ok("word:alpha\nphrase:beta gamma\nprefix:delte\n");
  flt_ruleset_t *d = compile_ok("exact:alpha\nphrase:beta gamma\nprefix:delta\n");
  flt_ruleset_t *e1 = NULL, *e2 = compile_ok("# nothing but comments\n\n");
  assert_int_equal(flt_ruleset_empty(&e1), 0);
  flt_info_t ia, ib, ic, id, ie1, ie2;
  assert_int_equal(flt_get_info(a, &ia), 0);
  assert_int_equal(flt_get_info(b, &ib), 0);
  assert_int_equal(flt_get_info(c, &ic), 0);
  assert_int_equal(flt_get_info(d, &id), 0);
  assert_int_equal(flt_get_info(e1, &ie1), 0);
  assert_int_equal(flt_get_info(e2, &ie2), 0);
  assert_true(ia.version == ib.version);
  assert_string_equal(ia.version_hex, ib.version_hex);
  assert_true(ia.version != ic.version);
  assert_true(ia.version != id.version); /* the kind is part of the version */
  assert_true(ia.version != ie1.version);
  assert_true(ie1.version == ie2.version);
  assert_int_equal(flt_rule_count(e1), 0);
  assert_int_equal(flt_get_info(NULL, &ia), TA_EINVAL);
  flt_ruleset_free(a);
  flt_ruleset_free(b);
  flt_ruleset_free(c);
  flt_ruleset_free(d);
  flt_ruleset_free(e1);
  flt_ruleset_free(e2);
}

static void test_keep_predicate(void **state) {
  (void)state;
  flt_ruleset_t *rs = compile_ok("word:ass\nphrase:kill all\nprefix:bomb\nexact:drugs\n");
  flt_filter_t f = {.rs = rs};
  const char *texts[] = {"Ass Hat", "kill ALL", "Bombs", "Drugs", "fine", "class", "\xff"};
  int want[] = {0, 0, 0, 0, 1, 1, 0};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    trie_hit_t hit = {
        .id = (uint32_t)i, .score = 1.0, .text = texts[i], .text_len = strlen(texts[i])};
    assert_int_equal(flt_keep(&f, &hit), want[i]);
  }
  assert_int_equal(f.suppressed[FLT_WORD], 1);
  assert_int_equal(f.suppressed[FLT_PHRASE], 1);
  assert_int_equal(f.suppressed[FLT_PREFIX], 1);
  assert_int_equal(f.suppressed[FLT_EXACT], 1);
  assert_int_equal(f.unreadable, 1); /* invalid UTF-8 fails closed */
  assert_string_equal(flt_kind_name(FLT_PREFIX), "prefix");
  assert_string_equal(flt_kind_name(FLT_KIND_COUNT), "?");

  /* a verdict cache remembers, by hit id; one made for another rule set is ignored */
  flt_cache_t *cache = NULL, *other_cache = NULL;
  flt_ruleset_t *other = compile_ok("word:fine\n");
  assert_int_equal(flt_cache_new(rs, 4, &cache), 0);
  assert_int_equal(flt_cache_new(other, 4, &other_cache), 0);
  trie_hit_t fine = {.id = 2, .text = "fine", .text_len = 4};
  flt_filter_t fo = {.rs = other, .cache = other_cache};
  assert_int_equal(flt_keep(&fo, &fine), 0); /* other's cache: id 2 is blocked */
  flt_filter_t fc = {.rs = rs, .cache = other_cache};
  assert_int_equal(flt_keep(&fc, &fine), 1); /* not rs's cache: ignored */
  fc.cache = cache;
  trie_hit_t bomb = {.id = 3, .text = "bombs", .text_len = 5};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(flt_keep(&fc, &bomb), 0);
    assert_int_equal(flt_keep(&fc, &fine), 1);
  }
  assert_int_equal(fc.suppressed[FLT_PREFIX], 3); /* counted on every use, cached or not */
  trie_hit_t beyond = {.id = 99, .text = "drugs", .text_len = 5};
  assert_int_equal(flt_keep(&fc, &beyond), 0); /* an id past the cache is matched directly */
  assert_int_equal(flt_cache_new(NULL, 4, &cache), TA_EINVAL);
  flt_cache_free(fc.cache);
  flt_cache_free(other_cache);
  flt_cache_free(NULL);
  flt_ruleset_free(other);
  flt_ruleset_free(rs);

  /* no rule set and the empty one keep everything */
  flt_filter_t none = {.rs = NULL};
  trie_hit_t hit = {.text = "ass", .text_len = 3};
  assert_int_equal(flt_keep(&none, &hit), 1);
}

static void test_compile_file(void **state) {
  (void)state;
  char path[] = "/tmp/flt_test_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  fputs("word:ass\nbad kind:x\n", f);
  fclose(f);
  flt_ruleset_t *rs = NULL;
  ta_diag_t err;
  assert_int_equal(flt_compile_file(path, &rs, &err), TA_EPARSE);
  assert_int_equal((unsigned)err.line, 2);
  assert_null(rs);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs("word:ass\n", f);
  fclose(f);
  assert_int_equal(flt_compile_file(path, &rs, &err), 0);
  expect_blocked(rs, "ass", FLT_WORD);
  flt_ruleset_free(rs);
  remove(path);
  assert_int_equal(flt_compile_file(path, &rs, &err), TA_ENOENT);
  assert_int_equal((unsigned)err.line, 0);
  assert_non_null(strstr(err.msg, path));

  /* the shipped starter file compiles and has a rule of every kind */
  const char *src = getenv("TA_SOURCE_DIR");
  assert_non_null(src);
  char starter[4096];
  snprintf(starter, sizeof starter, "%s/data/blocklist.rules", src);
  if (flt_compile_file(starter, &rs, &err) != 0)
    fail_msg("%s:%u: %s", starter, (unsigned)err.line, err.msg);
  flt_info_t info;
  assert_int_equal(flt_get_info(rs, &info), 0);
  for (int k = 0; k < FLT_KIND_COUNT; k++) assert_true(info.rules[k] > 0);
  flt_ruleset_free(rs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_syntax_accepted),
      cmocka_unit_test(test_kinds),        cmocka_unit_test(test_evasion),
      cmocka_unit_test(test_version),      cmocka_unit_test(test_keep_predicate),
      cmocka_unit_test(test_compile_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
