/* Randomized check of the compiled matcher (filters/flt_match.c) against a direct reading of
 * SPEC §9 written here independently: tokens found by decoding every code point with utf8proc,
 * rules compared as plain strings. Random keys and rule sets of every kind, with Unicode letters,
 * digits, marks, full-width forms and odd spacing; many rules are cut from the keys themselves so
 * that matches are frequent. Also checks that the compiler refuses exactly the lines the
 * reference calls invalid, at the right line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <utf8proc.h>

#include "flt.h"
#include "../trie/trie_test_util.h"

#define MAX_TOK 256

typedef struct {
  size_t off[MAX_TOK], len[MAX_TOK];
  size_t n;
} toks_t;

static void ref_tokens(const char *s, size_t len, toks_t *t) {
  t->n = 0;
  size_t i = 0, start = 0;
  int in = 0;
  while (i <= len) {
    int is_tok = 0;
    utf8proc_ssize_t n = 1;
    if (i < len) {
      utf8proc_int32_t cp;
      n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
      assert_true(n > 0);
      const char *cat = utf8proc_category_string(cp);
      is_tok = cat[0] == 'L' || cat[0] == 'N' || cat[0] == 'M';
    }
    if (is_tok && !in) {
      start = i;
      in = 1;
    } else if (!is_tok && in) {
      assert_true(t->n < MAX_TOK);
      t->off[t->n] = start;
      t->len[t->n] = i - start;
      t->n++;
      in = 0;
    }
    i += (size_t)n;
  }
}

typedef struct {
  flt_kind_t kind;
  char key[512];
  size_t len;
  toks_t toks;
} ref_rule_t;

static int tok_eq(const char *a, const toks_t *ta, size_t i, const char *b, const toks_t *tb,
                  size_t j) {
  return ta->len[i] == tb->len[j] && memcmp(a + ta->off[i], b + tb->off[j], ta->len[i]) == 0;
}

static int ref_match(const ref_rule_t *r, const char *key, size_t len, const toks_t *kt) {
  switch (r->kind) {
  case FLT_EXACT:
    return r->len == len && memcmp(r->key, key, len) == 0;
  case FLT_PREFIX:
    return r->len <= len && memcmp(r->key, key, r->len) == 0;
  case FLT_WORD:
    for (size_t i = 0; i < kt->n; i++)
      if (kt->len[i] == r->len && memcmp(key + kt->off[i], r->key, r->len) == 0) return 1;
    return 0;
  case FLT_PHRASE:
    for (size_t i = 0; i + r->toks.n <= kt->n; i++) {
      size_t j = 0;
      while (j < r->toks.n && tok_eq(key, kt, i + j, r->key, &r->toks, j)) j++;
      if (j == r->toks.n) return 1;
    }
    return 0;
  default:
    return 0;
  }
}

static const char *const atoms[] = {"a",
                                    "b",
                                    "ab",
                                    "ba",
                                    "A",
                                    "B",
                                    "\xc3\xa9",
                                    "\xc3\x89",
                                    "\xc3\x9f",
                                    "\xce\xa3",
                                    "\xcf\x83",
                                    "\xe4\xb8\xad",
                                    "\xe6\x96\x87",
                                    "1",
                                    "2",
                                    "\xef\xbc\x94",
                                    " ",
                                    "  ",
                                    "-",
                                    ".",
                                    "\xcc\x81",
                                    "\xe0\xa4\x95",
                                    "\xe0\xa4\xbf",
                                    "\xef\xac\x81",
                                    "_",
                                    "'",
                                    "\t",
                                    "\xe2\x80\x83",
                                    "\xd9\xa4",
                                    "\xe2\x85\xa2",
                                    "!"};

static tu_rand_t rng = {0x9e3779b97f4a7c15ull, atoms, sizeof atoms / sizeof *atoms};

static size_t norm(const char *s, size_t len, char *out, size_t cap) {
  size_t n;
  int rc = trie_norm_key(s, len, out, cap, &n);
  if (rc != 0) fail_msg("trie_norm_key: %s", ta_strerror(rc));
  return n;
}

/* The rule text for a rule cut from key (so that it often matches), or random text. */
static size_t rule_text(flt_kind_t kind, char keys[][512], size_t n_keys, char *out, size_t cap) {
  if (n_keys == 0 || tu_rnd(&rng, 3) == 0) return tu_random_text(&rng, out, cap, 4);
  const char *key = keys[tu_rnd(&rng, (uint32_t)n_keys)];
  size_t len = strlen(key);
  toks_t t;
  ref_tokens(key, len, &t);
  switch (kind) {
  case FLT_EXACT:
    memcpy(out, key, len + 1);
    return len;
  case FLT_PREFIX: {
    size_t cut = len ? 1 + tu_rnd(&rng, (uint32_t)len) : 0;
    while (cut < len && ((unsigned char)key[cut] & 0xC0) == 0x80) cut++;
    memcpy(out, key, cut);
    out[cut] = '\0';
    return cut;
  }
  default: {
    if (t.n == 0) return tu_random_text(&rng, out, cap, 4);
    size_t i = tu_rnd(&rng, (uint32_t)t.n);
    size_t j = kind == FLT_WORD ? i : i + tu_rnd(&rng, (uint32_t)(t.n - i));
    size_t from = t.off[i], to = t.off[j] + t.len[j];
    memcpy(out, key + from, to - from);
    out[to - from] = '\0';
    return to - from;
  }
  }
}

static int ref_rule_valid(flt_kind_t kind, const char *text, size_t len, ref_rule_t *r) {
  r->kind = kind;
  r->len = norm(text, len, r->key, sizeof r->key);
  ref_tokens(r->key, r->len, &r->toks);
  if (r->len == 0) return 0;
  if (kind == FLT_WORD) return r->toks.n == 1 && r->toks.off[0] == 0 && r->toks.len[0] == r->len;
  if (kind == FLT_PHRASE) return r->toks.n >= 1;
  return 1;
}

static void test_random_equivalence(void **state) {
  (void)state;
  static const char *const kind_prefix[] = {"word:", "phrase:", "prefix:", "exact:"};
  static char keys[64][512];
  static ref_rule_t rules[32];
  char file[32 * 600];
  size_t matches = 0, checks = 0;
  for (int round = 0; round < 400; round++) {
    size_t n_keys = 0;
    while (n_keys < 64) {
      char raw[256];
      size_t rl = tu_random_text(&rng, raw, sizeof raw, 8);
      size_t kl = norm(raw, rl, keys[n_keys], sizeof keys[n_keys]);
      if (kl) n_keys++;
    }
    size_t n_rules = 1 + tu_rnd(&rng, 24), flen = 0;
    unsigned first_invalid = 0, lineno = 0, n_valid = 0;
    char valid_file[32 * 600];
    size_t vlen = 0;
    for (size_t i = 0; i < n_rules; i++) {
      flt_kind_t kind = (flt_kind_t)tu_rnd(&rng, FLT_KIND_COUNT);
      char text[512];
      size_t tl = rule_text(kind, keys, n_keys, text, sizeof text);
      ref_rule_t r;
      int valid = ref_rule_valid(kind, text, tl, &r);
      lineno++;
      if (tu_rnd(&rng, 4) == 0) { /* a comment or blank line between rules */
        flen += (size_t)sprintf(file + flen, tu_rnd(&rng, 2) ? "# note\n" : "\n");
        lineno++;
      }
      flen += (size_t)sprintf(file + flen, "%s%s\n", kind_prefix[kind], text);
      if (!valid) {
        if (!first_invalid) first_invalid = lineno;
        continue;
      }
      rules[n_valid++] = r;
      vlen += (size_t)sprintf(valid_file + vlen, "%s%s\n", kind_prefix[kind], text);
    }
    flt_ruleset_t *rs = NULL;
    ta_diag_t err;
    int rc = flt_compile(file, flen, &rs, &err);
    if (first_invalid) {
      if (rc != TA_EPARSE || err.line != first_invalid)
        fail_msg("round %d: rc %d line %u (%s), want refusal at line %u of:\n%s", round, rc,
                 err.line, err.msg, first_invalid, file);
      assert_null(rs);
      rc = flt_compile(valid_file, vlen, &rs, &err);
    }
    if (rc != 0)
      fail_msg("round %d: line %u: %s in:\n%s", round, (unsigned)err.line, err.msg, valid_file);

    for (size_t k = 0; k < n_keys; k++) {
      const char *key = keys[k];
      size_t len = strlen(key);
      toks_t kt;
      ref_tokens(key, len, &kt);
      int want = 0;
      flt_kind_t want_kind = FLT_KIND_COUNT;
      static const flt_kind_t order[] = {FLT_EXACT, FLT_PREFIX, FLT_WORD, FLT_PHRASE};
      for (int o = 0; o < 4 && !want; o++)
        for (size_t i = 0; i < n_valid && !want; i++)
          if (rules[i].kind == order[o] && ref_match(&rules[i], key, len, &kt)) {
            want = 1;
            want_kind = order[o];
          }
      flt_kind_t kind = FLT_KIND_COUNT;
      int got = flt_match(rs, key, len, &kind);
      if (got != want || (want && kind != want_kind))
        fail_msg("round %d key \"%s\": got %d (%s), want %d (%s); rules:\n%s", round, key, got,
                 got ? flt_kind_name(kind) : "-", want, want ? flt_kind_name(want_kind) : "-",
                 first_invalid ? valid_file : file);
      matches += (size_t)want;
      checks++;
    }
    flt_ruleset_free(rs);
  }
  print_message("%zu of %zu keys blocked\n", matches, checks);
  /* the generator must exercise both outcomes, or this test proves nothing */
  assert_true(matches > checks / 10);
  assert_true(matches < checks * 9 / 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_equivalence)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
