/* Unit tests of the normalization (trie/trie_norm.c, SPEC §3): keys, prefixes (the trailing
 * space), display forms, Hangul as jamo, kana folding, invisible and bidi characters, UTF-8
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

/* The bytes of key(in). */
static size_t key_of(const char *in, char out[TA_MAX_KEY + 1]) {
  size_t n = 0;
  int rc = trie_norm_key(in, strlen(in), out, TA_MAX_KEY + 1, &n);
  if (rc != 0) fail_msg("key of \"%s\": %s", in, ta_strerror(rc));
  return n;
}

/* key(a) is a byte prefix of key(b): what a lookup of a finds b by. */
static void expect_key_prefix(const char *a, const char *b) {
  char ka[TA_MAX_KEY + 1], kb[TA_MAX_KEY + 1];
  size_t na = key_of(a, ka), nb = key_of(b, kb);
  if (na == 0 || na > nb || memcmp(ka, kb, na) != 0)
    fail_msg("key(\"%s\") = \"%s\" is not a prefix of key(\"%s\") = \"%s\"", a, ka, b, kb);
}

static void expect_same_key(const char *a, const char *b) {
  char ka[TA_MAX_KEY + 1], kb[TA_MAX_KEY + 1];
  size_t na = key_of(a, ka), nb = key_of(b, kb);
  if (na != nb || memcmp(ka, kb, na) != 0)
    fail_msg("key(\"%s\") = \"%s\" but key(\"%s\") = \"%s\"", a, ka, b, kb);
}

static void test_prefix_keeps_one_trailing_space(void **state) {
  (void)state;
  expect_norm(trie_norm_prefix, "new ", "new ");
  expect_norm(trie_norm_prefix, "new", "new");
  expect_norm(trie_norm_prefix, "  New \t York\t\n ", "new york ");
  expect_norm(trie_norm_prefix, "new\xe3\x80\x80", "new ");  /* U+3000, from an IME */
  expect_norm(trie_norm_prefix, "Café\xc2\xa0", "cafe ");    /* NBSP */
  expect_norm(trie_norm_prefix, "new \xe2\x80\x8b", "new "); /* space, then U+200B */
  expect_norm(trie_norm_prefix, "new\xe2\x80\x8b", "new");   /* no space at all */
  expect_norm(trie_norm_prefix, "new \x01", "new ");         /* a control is nothing */
  expect_norm(trie_norm_prefix, "\xec\x84\x9c ", "\xe1\x84\x89\xe1\x85\xa5 "); /* 서 + space */
  /* Whitespace alone is still the empty prefix (every key), never " ". */
  expect_norm(trie_norm_prefix, "   ", "");
  expect_norm(trie_norm_prefix, "\t\xe3\x80\x80", "");
  expect_norm(trie_norm_prefix, "", "");
  /* Keys never end in a space, whatever the input. */
  expect_norm(trie_norm_key, "new ", "new");
  expect_norm(trie_norm_key, "new york\xe3\x80\x80", "new york");
  /* The space needs room like any byte. */
  char out[9];
  size_t n;
  assert_int_equal(trie_norm_prefix("abcdefg ", 8, out, 8, &n), TA_ENOSPC);
  assert_int_equal(n, 0);
  assert_int_equal(trie_norm_prefix("abcdefg ", 8, out, 9, &n), 0);
  assert_string_equal(out, "abcdefg ");
  assert_int_equal(trie_norm_prefix("abcdefgh", 8, out, 9, &n), 0);
  assert_int_equal(trie_norm_prefix("abcdefgh ", 9, out, 9, &n), TA_ENOSPC);
  /* Invalid UTF-8 is an error here too. */
  assert_int_equal(trie_norm_prefix("new \xff", 5, out, 9, &n), TA_EUTF8);
}

/* UTF-8 of the conjoining jamo of 서울: ㅅ U+1109, ㅓ U+1165, ㅇ U+110B, ㅜ U+116E, ㄹ U+11AF. */
#define J_S "\xe1\x84\x89"
#define J_EO "\xe1\x85\xa5"
#define J_NG "\xe1\x84\x8b"
#define J_U "\xe1\x85\xae"
#define J_L_FINAL "\xe1\x86\xaf"

static void test_hangul_keys_are_jamo(void **state) {
  (void)state;
  expect_norm(trie_norm_key, "서울", J_S J_EO J_NG J_U J_L_FINAL);
  expect_norm(trie_norm_key, "서우", J_S J_EO J_NG J_U);
  expect_norm(trie_norm_key, "가", "\xe1\x84\x80\xe1\x85\xa1"); /* L V */
  expect_norm(trie_norm_key, "\xe1\x84\x80\xe1\x85\xa1",
              "\xe1\x84\x80\xe1\x85\xa1");                                  /* typed as jamo */
  expect_norm(trie_norm_key, "각", "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"); /* L V T */
  expect_norm(trie_norm_key, "\xea\xb0\x80\xe1\x86\xa8",
              "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"); /* syllable 가 + final jamo = 각 */
  /* A compatibility jamo (what a keyboard shows alone) is the leading consonant it becomes. */
  expect_norm(trie_norm_key, "\xe3\x85\x85", J_S); /* ㅅ U+3145 */
  /* What an input method shows while 서울 is typed: each is a prefix of the word. */
  expect_key_prefix("ㅅ", "서울");
  expect_key_prefix("서", "서울");
  expect_key_prefix("서ㅇ", "서울");
  expect_key_prefix("서우", "서울");
  expect_key_prefix("서울", "서울 날씨");
  expect_key_prefix("ㅎ", "한국");
  expect_key_prefix("하", "한국");
  expect_key_prefix("한구", "한국");
  /* Display forms keep the syllables; jamo typed one by one compose (NFC). */
  expect_norm(trie_norm_display, "서울", "서울");
  expect_norm(trie_norm_display, J_S J_EO J_NG J_U J_L_FINAL, "서울");
  /* The display form of a word keeps its key. */
  expect_same_key("서울", J_S J_EO J_NG J_U J_L_FINAL);
}

/* Every partial syllable of a random Hangul word (leading consonant alone, consonant + vowel,
 * as an input method shows them) is a key prefix of the word. */
static void test_hangul_partial_syllables_are_prefixes(void **state) {
  (void)state;
  uint64_t st = 12345;
  for (int i = 0; i < 2000; i++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    unsigned syll = 1 + (unsigned)(st >> 60) % 4;
    char word[64], part[64];
    size_t wl = 0;
    for (unsigned j = 0; j < syll; j++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t s = (uint32_t)((st >> 33) % 11172);
      uint32_t cps[3] = {0xAC00 + s, 0xAC00 + s - s % 28, 0x1100 + s / 588}; /* LVT, LV, L */
      for (int form = 0; form < 3; form++) {
        memcpy(part, word, wl);
        size_t pl = wl;
        uint32_t c = cps[form];
        part[pl++] = (char)(0xE0 | (c >> 12));
        part[pl++] = (char)(0x80 | ((c >> 6) & 0x3F));
        part[pl++] = (char)(0x80 | (c & 0x3F));
        part[pl] = '\0';
        word[wl] = '\0';
        char full[64];
        memcpy(full, word, wl);
        uint32_t w = cps[0];
        full[wl] = (char)(0xE0 | (w >> 12));
        full[wl + 1] = (char)(0x80 | ((w >> 6) & 0x3F));
        full[wl + 2] = (char)(0x80 | (w & 0x3F));
        full[wl + 3] = '\0';
        expect_key_prefix(part, full);
      }
      uint32_t w = cps[0];
      word[wl++] = (char)(0xE0 | (w >> 12));
      word[wl++] = (char)(0x80 | ((w >> 6) & 0x3F));
      word[wl++] = (char)(0x80 | (w & 0x3F));
    }
  }
}

static void test_kana_fold(void **state) {
  (void)state;
  expect_same_key("トウキョウ", "とうきょう");
  expect_same_key("ﾄｳｷｮｳ", "とうきょう"); /* halfwidth katakana */
  expect_key_prefix("とう", "トウキョウ");
  expect_key_prefix("トウ", "とうきょう");
  expect_norm(trie_norm_key, "カタカナ", "かたかな");
  expect_norm(trie_norm_key, "ヽヾ", "ゝゝ"); /* iteration marks; the voicing mark is stripped */
  expect_norm(trie_norm_key, "ー", "ー");     /* the prolonged sound mark has no twin */
  expect_norm(trie_norm_key, "ㇰ", "ㇰ");     /* small ku U+31F0: no hiragana */
  /* Display forms keep the script the user wrote. */
  expect_norm(trie_norm_display, "トウキョウ", "トウキョウ");
  expect_norm(trie_norm_display, "とうきょう", "とうきょう");
}

static void test_invisible_characters(void **state) {
  (void)state;
  /* Format characters Unicode keeps out of Default_Ignorable_Code_Point, and U+2800. */
  expect_norm(trie_norm_key, "id\xef\xbf\xb9iot", "idiot");             /* U+FFF9 */
  expect_norm(trie_norm_key, "id\xef\xbf\xbai\xef\xbf\xbbot", "idiot"); /* U+FFFA, U+FFFB */
  expect_norm(trie_norm_key, "id\xe2\xa0\x80iot", "idiot");             /* U+2800 braille blank */
  expect_norm(trie_norm_key, "id\xf0\x93\x90\xb0iot", "idiot");         /* U+13430 */
  expect_norm(trie_norm_key, "id\xf0\x93\x90\xbfiot", "idiot");         /* U+1343F */
  expect_norm(trie_norm_key,
              "1\xd8\x80"
              "2",
              "12");                                            /* U+0600, a Cf not ignorable */
  expect_norm(trie_norm_key, "idi\xf3\xa0\x80\x92ot", "idiot"); /* U+E0012, reserved ignorable */
  /* Default-ignorables (utf8proc's data): ZWSP, ZWJ, word joiner, BOM, tags, selectors. */
  expect_norm(trie_norm_key,
              "i\xe2\x80\x8d"
              "d\xe2\x81\xa0i\xef\xbb\xbfo\xef\xb8\x8ft",
              "idiot");
  expect_norm(trie_norm_key, "idi\xf3\xa0\x80\xa1ot", "idiot"); /* U+E0021 tag */
  expect_norm(trie_norm_key, "idi\xe1\x85\x9fot", "idiot");     /* U+115F Hangul filler */
  /* Bidi controls leave keys... */
  static const char *const bidi[] = {
      "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae", /* 202A-E */
      "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9",                 /* 2066-9 */
      "\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c", /* LRM RLM ALM */
  };
  for (size_t i = 0; i < sizeof bidi / sizeof bidi[0]; i++) {
    char in[64];
    snprintf(in, sizeof in, "Ab%sc d%s", bidi[i], bidi[i]);
    expect_norm(trie_norm_key, in, "abc d");
    /* ... and display forms: an override would show the suggestion reversed. */
    expect_norm(trie_norm_display, in, "Abc d");
  }
  expect_norm(trie_norm_display, "\xe2\x80\xaetxet desrever", "txet desrever");
  /* Other invisible characters stay in display forms (ZWJ holds emoji sequences together). */
  expect_norm(trie_norm_display, "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
              "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9");
  expect_norm(trie_norm_display,
              "a\xef\xbf\xb9"
              "b",
              "a\xef\xbf\xb9"
              "b");
  /* Visible format-like letters are no format characters: Arabic and Hebrew text stays. */
  expect_norm(trie_norm_key, "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85",
              "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
  expect_norm(trie_norm_display, "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
              "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d");
}

static void expect_error(const char *in, size_t len, int want) {
  char out[64];
  size_t n = 99;
  assert_int_equal(trie_norm_key(in, len, out, sizeof out, &n), want);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  assert_int_equal(trie_norm_prefix(in, len, out, sizeof out, &n), want);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
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

/* trie_utf8_put: valid UTF-8 as it is, any other byte as \xNN, cut between whole pieces. */
static void test_utf8_put(void **state) {
  (void)state;
  char buf[32];
  size_t n = 0;
  buf[0] = '\0';
  trie_utf8_put(buf, sizeof buf, &n, "caf\xe9 \xc3\xa9\xff\xe5\x8c");
  assert_string_equal(buf, "caf\\xE9 \xc3\xa9\\xFF\\xE5\\x8C");
  assert_int_equal(n, strlen(buf));
  char small[8];
  n = 0;
  small[0] = '\0';
  trie_utf8_put(small, sizeof small, &n, "ab\xe9\xe9"); /* "ab\xE9" fits, the next does not */
  assert_string_equal(small, "ab\\xE9");
  n = 0;
  trie_utf8_put(small, sizeof small, &n, "abcde\xc3\xa9\xc3\xa9"); /* no half character */
  assert_string_equal(small, "abcde\xc3\xa9");
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
  ra = trie_norm_prefix(s, len, a, sizeof a, &na);
  rb = trie__norm_prefix_slow(s, len, b, sizeof b, &nb);
  assert_int_equal(ra, rb);
  if (na != nb || memcmp(a, b, na) != 0) fail_msg("prefix fast \"%s\" != slow \"%s\"", a, b);
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
      {0x20, 0x7E},       {0x00, 0x1F},       {0x80, 0xFF},       {0x100, 0x24F},
      {0x300, 0x36F},     {0x370, 0x3FF},     {0x400, 0x4FF},     {0x591, 0x5F4},
      {0x900, 0x97F},     {0x1100, 0x11FF},   {0x1E00, 0x1FFF},   {0x2000, 0x206F},
      {0x2150, 0x218F},   {0x2460, 0x24FF},   {0x3000, 0x303F},   {0x3040, 0x30FF},
      {0x3300, 0x33FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},   {0xFB00, 0xFB4F},
      {0xFE00, 0xFE0F},   {0xFF00, 0xFFEF},   {0x1D400, 0x1D7FF}, {0x1F100, 0x1F1FF},
      {0xE0000, 0xE007F}, {0x0, 0x10FFFF},    {0x600, 0x6FF},     {0x2800, 0x28FF},
      {0x3130, 0x318F},   {0x3190, 0x31FF},   {0xA960, 0xA97F},   {0xD7B0, 0xD7FF},
      {0xFFF0, 0xFFFD},   {0x13430, 0x1345F}, {0x3099, 0x309F},   {0x0009, 0x0020},
  };
  size_t n = sizeof ranges / sizeof ranges[0];
  const uint32_t *r = ranges[rng() % n];
  for (;;) {
    uint32_t c = r[0] + (uint32_t)(rng() % (r[1] - r[0] + 1));
    if (c < 0xD800 || c > 0xDFFF) return c;
  }
}

/* Decodes the code point at s[*i] (valid UTF-8) and advances *i. */
static uint32_t get_utf8(const char *s, size_t *i) {
  const unsigned char *p = (const unsigned char *)s + *i;
  if (p[0] < 0x80) return (*i += 1, p[0]);
  if (p[0] < 0xE0) return (*i += 2, (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F));
  if (p[0] < 0xF0)
    return (*i += 3, (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F));
  return (*i += 4, (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                       (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F));
}

static int is_bidi_control(uint32_t c) {
  return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

/* What SPEC §3 says never remains in a key: syllables (jamo instead), katakana with a hiragana
 * twin, the invisible characters, bidi controls. */
static int banned_in_key(uint32_t c) {
  return (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x30A1 && c <= 0x30F6) || c == 0x30FD ||
         c == 0x30FE || c == 0x2800 || (c >= 0xFFF9 && c <= 0xFFFB) ||
         (c >= 0x13430 && c <= 0x1343F) || (c >= 0x0600 && c <= 0x0605) ||
         (c >= 0x200B && c <= 0x200F) || c == 0xAD || c == 0xFEFF ||
         (c >= 0xE0000 && c <= 0xE0FFF) || is_bidi_control(c);
}

static void test_idempotent_on_random_unicode(void **state) {
  (void)state;
  char s[256], k1[TA_MAX_KEY], k2[TA_MAX_KEY], d1[TA_MAX_KEY], d2[TA_MAX_KEY], kd[TA_MAX_KEY];
  char p1[TA_MAX_KEY], p2[TA_MAX_KEY];
  for (int i = 0; i < 20000; i++) {
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
    for (size_t j = 0; j < n1;) {
      uint32_t c = get_utf8(k1, &j);
      if (banned_in_key(c)) fail_msg("U+%04X in a key at case %d", (unsigned)c, i);
    }
    for (size_t j = 0; j < m1;) {
      uint32_t c = get_utf8(d1, &j);
      if (is_bidi_control(c)) fail_msg("bidi control U+%04X in a display at %d", (unsigned)c, i);
    }
    /* The prefix is the key, or the key and one space when x ends in whitespace after a word;
     * its own prefix and key are itself and the key. */
    size_t q1, q2, qk;
    assert_int_equal(trie_norm_prefix(s, len, p1, sizeof p1, &q1), 0);
    assert_true(q1 == n1 || (q1 == n1 + 1 && n1 > 0 && p1[n1] == ' '));
    assert_memory_equal(p1, k1, n1);
    assert_int_equal(trie_norm_prefix(p1, q1, p2, sizeof p2, &q2), 0);
    if (q1 != q2 || memcmp(p1, p2, q1) != 0) fail_msg("prefix not idempotent at case %d", i);
    assert_int_equal(trie_norm_key(p1, q1, kd, sizeof kd, &qk), 0);
    if (qk != n1 || memcmp(kd, k1, n1) != 0) fail_msg("key(prefix(x)) != key(x) at %d", i);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_examples),
      cmocka_unit_test(test_key_whitespace_and_controls),
      cmocka_unit_test(test_display_examples),
      cmocka_unit_test(test_prefix_keeps_one_trailing_space),
      cmocka_unit_test(test_hangul_keys_are_jamo),
      cmocka_unit_test(test_hangul_partial_syllables_are_prefixes),
      cmocka_unit_test(test_kana_fold),
      cmocka_unit_test(test_invisible_characters),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_utf8_put),
      cmocka_unit_test(test_capacity),
      cmocka_unit_test(test_ascii_fast_path_matches_utf8proc),
      cmocka_unit_test(test_idempotent_on_random_unicode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
