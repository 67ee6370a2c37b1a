/* Unit tests of the normalization (trie/trie_norm.c, SPEC §3): keys, display forms, UTF-8
 * validation, buffer limits, the ASCII fast path against the utf8proc path, and idempotence on
 * random Unicode strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "trie.h"
#include "trie_norm_int.h"

typedef int (*norm_fn)(const char *, size_t, char *, size_t, size_t *);

static void expect_norm(norm_fn fn, const char *in, const char *want) {
  char out[TA_MAX_KEY + 1];
  size_t n = 12345;
  int rc = fn(in, strlen(in), out, sizeof out, &n);
  if (rc != 0) fail_msg("normalizing \"%s\": %s", in, ta_strerror(rc));
  if (strcmp(out, want) != 0) fail_msg("\"%s\" -> \"%s\", want \"%s\"", in, out, want);
  assert_int_equal(n, strlen(want));
}

static void test_key_examples(void **state) {
  (void)state;
  expect_norm(trie_norm_key, "Café", "cafe");
  expect_norm(trie_norm_key, "CAFE", "cafe");
  expect_norm(trie_norm_key, "café", "cafe");
  expect_norm(trie_norm_key, "cafe\xcc\x81", "cafe"); /* e + U+0301, decomposed */
  expect_norm(trie_norm_key, "Straße", "strasse");
  expect_norm(trie_norm_key, "STRASSE", "strasse");
  expect_norm(trie_norm_key, "\xef\xac\x81", "fi"); /* U+FB01 ligature */
  expect_norm(trie_norm_key, "\xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c", "full");
  expect_norm(trie_norm_key, "北京", "北京");
  expect_norm(trie_norm_key, "München", "munchen");
  expect_norm(trie_norm_key, "naïve", "naive");
  expect_norm(trie_norm_key, "ΣΊΣΥΦΟΣ", "σισυφοσ");   /* final sigma folds to σ */
  expect_norm(trie_norm_key, "İstanbul", "istanbul"); /* U+0130 folds to i + dot */
  expect_norm(trie_norm_key, "x\xc2\xb2", "x2");      /* superscript two */
  expect_norm(trie_norm_key, "\xe3\x8e\x8f", "kg");   /* U+338F square kg */
  expect_norm(trie_norm_key,
              "soft\xc2\xad"
              "hyphen",
              "softhyphen"); /* default ignorable */
  expect_norm(trie_norm_key, "zero\xe2\x80\x8bwidth", "zerowidth");
  expect_norm(trie_norm_key, "\xea\xb0\x80", "\xea\xb0\x80");             /* Hangul syllable kept */
  expect_norm(trie_norm_key, "\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80"); /* jamo compose */
  expect_norm(trie_norm_key, "New York", "new york");
  /* U+0345 is a mark that case folds to iota; its precomposed forms fold the same way. */
  expect_norm(trie_norm_key, "\xe1\xbe\xb3", "\xce\xb1\xce\xb9");     /* U+1FB3 */
  expect_norm(trie_norm_key, "\xce\xb1\xcd\x85", "\xce\xb1\xce\xb9"); /* alpha + U+0345 */
}

static void test_key_whitespace_and_controls(void **state) {
  (void)state;
  expect_norm(trie_norm_key, "new\tyork", "new york");
  expect_norm(trie_norm_key, "new  \t \n york", "new york");
  expect_norm(trie_norm_key, "   new york  ", "new york");
  expect_norm(trie_norm_key, "\t\r\n", "");
  expect_norm(trie_norm_key, "", "");
  expect_norm(trie_norm_key, "new\xc2\xa0york", "new york");     /* NBSP */
  expect_norm(trie_norm_key, "new\xe3\x80\x80york", "new york"); /* U+3000 */
  expect_norm(trie_norm_key, "\xe3\x80\x80new\xe2\x80\xa8york\xe2\x80\x83", "new york");
  expect_norm(trie_norm_key, "new\xe1\x9a\x80york", "new york"); /* U+1680 */
  expect_norm(trie_norm_key, "new\xc2\x85york", "new york");     /* NEL */
  expect_norm(trie_norm_key,
              "ab\x01"
              "c\x7f",
              "abc");
  expect_norm(trie_norm_key, "a \x01 b", "a b");
  expect_norm(trie_norm_key, "\x1b[31mred", "[31mred");
  expect_norm(trie_norm_key,
              "caf\xc2\x9f"
              "\xc3\xa9",
              "cafe"); /* C1 control */
}

static void test_display_examples(void **state) {
  (void)state;
  expect_norm(trie_norm_display, "Café", "Café");
  expect_norm(trie_norm_display, "Cafe\xcc\x81", "Café"); /* NFC composes */
  expect_norm(trie_norm_display, "Straße", "Straße");
  expect_norm(trie_norm_display, "\xef\xac\x81", "\xef\xac\x81"); /* NFC keeps the ligature */
  expect_norm(trie_norm_display, "  New \t\t York\r\n", "New York");
  expect_norm(trie_norm_display, "New\xc2\xa0York", "New York");
  expect_norm(trie_norm_display, "New\x01York", "NewYork");
  expect_norm(trie_norm_display, "北京", "北京");
}

static void expect_error(const char *in, size_t len, int want) {
  char out[64];
  size_t n = 99;
  assert_int_equal(trie_norm_key(in, len, out, sizeof out, &n), want);
  assert_int_equal(trie_norm_display(in, len, out, sizeof out, &n), want);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
}

static void test_invalid_utf8(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    const char *what;
  } bad[] = {
      {"\x80", "lone continuation"},
      {"a\xbf"
       "b",
       "continuation inside ASCII"},
      {"\xc0\xaf", "overlong C0 AF"},
      {"\xc1\xbf", "overlong C1"},
      {"\xe0\x80\xaf", "overlong 3-byte"},
      {"\xf0\x80\x80\xaf", "overlong 4-byte"},
      {"\xed\xa0\x80", "surrogate D800"},
      {"\xed\xbf\xbf", "surrogate DFFF"},
      {"\xf4\x90\x80\x80", "U+110000"},
      {"\xf5\x80\x80\x80", "F5 lead"},
      {"\xff", "FF"},
      {"\xe5\x8c", "truncated 3-byte"},
      {"ab\xe5", "truncated at end"},
      {"\xf0\x9f\x98", "truncated 4-byte"},
      {"\xc3"
       "a",
       "bad continuation"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t len = strlen(bad[i].bytes);
    if (trie_utf8_valid(bad[i].bytes, len)) fail_msg("accepted: %s", bad[i].what);
    expect_error(bad[i].bytes, len, TA_EUTF8);
  }
  /* The edges of the valid ranges are accepted. */
  static const char *good[] = {
      "\xc2\x80",     "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf", "\xee\x80\x80",
      "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "plain",        ""};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_true(trie_utf8_valid(good[i], strlen(good[i])));
  /* A NUL byte is data (a control character), not an end. */
  assert_true(trie_utf8_valid("a\0b", 3));
  char out[8];
  size_t n;
  assert_int_equal(trie_norm_key("a\0b", 3, out, sizeof out, &n), 0);
  assert_string_equal(out, "ab");
}

static void test_capacity(void **state) {
  (void)state;
  char out[8];
  size_t n;
  assert_int_equal(trie_norm_key("abcdefg", 7, out, 8, &n), 0);
  assert_string_equal(out, "abcdefg");
  assert_int_equal(trie_norm_key("abcdefgh", 8, out, 8, &n), TA_ENOSPC);
  assert_int_equal(trie_norm_key("Straße", strlen("Straße"), out, 7, &n), TA_ENOSPC);
  assert_int_equal(trie_norm_key("Straße", strlen("Straße"), out, 8, &n), 0);
  assert_string_equal(out, "strasse");
  assert_int_equal(trie_norm_key("a", 1, out, 0, &n), TA_ENOSPC);
  /* Trailing spaces need no room: they are trimmed. */
  assert_int_equal(trie_norm_key("abcdefg      ", 13, out, 8, &n), 0);
  /* One code point that decomposes into 18 (U+FDFA) exceeds the stack buffer when repeated. */
  char big[3 * 200 + 1];
  for (int i = 0; i < 200; i++) memcpy(big + 3 * i, "\xef\xb7\xba", 3);
  static char huge[64 * 1024];
  assert_int_equal(trie_norm_key(big, 600, huge, sizeof huge, &n), 0);
  assert_true(n > 200 * 18);
}

/* Small deterministic PRNG (xorshift64*) so failures replay. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

static void expect_same_paths(const char *s, size_t len) {
  char a[256], b[256];
  size_t na, nb;
  int ra = trie_norm_key(s, len, a, sizeof a, &na);
  int rb = trie__norm_key_slow(s, len, b, sizeof b, &nb);
  assert_int_equal(ra, rb);
  if (na != nb || memcmp(a, b, na) != 0) fail_msg("key fast \"%s\" != slow \"%s\"", a, b);
  ra = trie_norm_display(s, len, a, sizeof a, &na);
  rb = trie__norm_display_slow(s, len, b, sizeof b, &nb);
  assert_int_equal(ra, rb);
  if (na != nb || memcmp(a, b, na) != 0) fail_msg("display fast \"%s\" != slow \"%s\"", a, b);
}

static void test_ascii_fast_path_matches_utf8proc(void **state) {
  (void)state;
  char s[64];
  /* Every ASCII byte alone, and every pair of printable ASCII characters. */
  for (int c = 0; c < 128; c++) {
    s[0] = (char)c;
    expect_same_paths(s, 1);
  }
  for (int c = 0x20; c < 0x7f; c++)
    for (int d = 0x20; d < 0x7f; d++) {
      s[0] = (char)c;
      s[1] = (char)d;
      s[2] = ' ';
      expect_same_paths(s, 3);
    }
  /* Random ASCII strings, controls and whitespace included. */
  for (int i = 0; i < 20000; i++) {
    size_t len = rng() % sizeof s;
    for (size_t j = 0; j < len; j++) {
      uint64_t r = rng();
      s[j] = r % 4 == 0 ? " \t\n\r\x01\x7f\x0b\x0c"[(r >> 8) % 8] : (char)((r >> 8) % 128);
    }
    expect_same_paths(s, len);
  }
}

/* Appends the UTF-8 of code point c. */
static size_t put_utf8(char *p, uint32_t c) {
  if (c < 0x80) {
    p[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    p[0] = (char)(0xC0 | (c >> 6));
    p[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    p[0] = (char)(0xE0 | (c >> 12));
    p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    p[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  p[0] = (char)(0xF0 | (c >> 18));
  p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  p[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* A code point from ranges where normalization does interesting things. */
static uint32_t random_code_point(void) {
  static const uint32_t ranges[][2] = {
      {0x20, 0x7E},       {0x00, 0x1F},     {0x80, 0xFF},       {0x100, 0x24F},
      {0x300, 0x36F},     {0x370, 0x3FF},   {0x400, 0x4FF},     {0x591, 0x5F4},
      {0x900, 0x97F},     {0x1100, 0x11FF}, {0x1E00, 0x1FFF},   {0x2000, 0x206F},
      {0x2150, 0x218F},   {0x2460, 0x24FF}, {0x3000, 0x303F},   {0x3040, 0x30FF},
      {0x3300, 0x33FF},   {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},   {0xFB00, 0xFB4F},
      {0xFE00, 0xFE0F},   {0xFF00, 0xFFEF}, {0x1D400, 0x1D7FF}, {0x1F100, 0x1F1FF},
      {0xE0000, 0xE007F}, {0x0, 0x10FFFF},
  };
  size_t n = sizeof ranges / sizeof ranges[0];
  const uint32_t *r = ranges[rng() % n];
  for (;;) {
    uint32_t c = r[0] + (uint32_t)(rng() % (r[1] - r[0] + 1));
    if (c < 0xD800 || c > 0xDFFF) return c;
  }
}

static void test_idempotent_on_random_unicode(void **state) {
  (void)state;
  char s[256], k1[TA_MAX_KEY], k2[TA_MAX_KEY], d1[TA_MAX_KEY], d2[TA_MAX_KEY], kd[TA_MAX_KEY];
  for (int i = 0; i < 5000; i++) {
    size_t len = 0, cps = rng() % 24;
    for (size_t j = 0; j < cps; j++) len += put_utf8(s + len, random_code_point());
    assert_true(trie_utf8_valid(s, len));
    size_t n1, n2, m1, m2, nk;
    assert_int_equal(trie_norm_key(s, len, k1, sizeof k1, &n1), 0);
    assert_true(trie_utf8_valid(k1, n1));
    assert_int_equal(trie_norm_key(k1, n1, k2, sizeof k2, &n2), 0);
    if (n1 != n2 || memcmp(k1, k2, n1) != 0) fail_msg("key not idempotent at case %d", i);
    assert_int_equal(trie_norm_display(s, len, d1, sizeof d1, &m1), 0);
    assert_int_equal(trie_norm_display(d1, m1, d2, sizeof d2, &m2), 0);
    if (m1 != m2 || memcmp(d1, d2, m1) != 0) fail_msg("display not idempotent at case %d", i);
    /* The builder groups display forms by key: the display form must keep the key. */
    assert_int_equal(trie_norm_key(d1, m1, kd, sizeof kd, &nk), 0);
    if (nk != n1 || memcmp(kd, k1, n1) != 0) {
      for (size_t j = 0; j < len; j++) fprintf(stderr, "%02x ", (unsigned char)s[j]);
      fprintf(stderr, "\nkey %s\nkd %s\n", k1, kd);
      fail_msg("key(display(x)) != key(x) at %d", i);
    }
    /* No leading, trailing or double spaces, no controls. */
    for (size_t j = 0; j < n1; j++) {
      unsigned char c = (unsigned char)k1[j];
      assert_true(c >= 0x20 && c != 0x7f);
      if (c == ' ') assert_true(j > 0 && j + 1 < n1 && k1[j + 1] != ' ');
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_examples),
      cmocka_unit_test(test_key_whitespace_and_controls),
      cmocka_unit_test(test_display_examples),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_capacity),
      cmocka_unit_test(test_ascii_fast_path_matches_utf8proc),
      cmocka_unit_test(test_idempotent_on_random_unicode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
