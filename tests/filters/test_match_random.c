/* Randomized check of the compiled matcher (filters/flt_match.c, flt_fold.c) against a direct
 * reading of SPEC §9 written here independently: tokens found by decoding every code point with
 * utf8proc, rules compared as plain strings, and the disguise view (docs/filters.md) built from
 * code point arrays with ICU asked here directly (uspoof skeletons, and the names of small
 * capitals), not through the generated table. Random keys and rule sets of every kind (word:w*
 * included, cut from a key's token), with Unicode letters, look-alikes, digits,
 * marks, full-width forms, separators, single and doubled letters; many rules are cut from the keys
 * themselves so that matches are frequent. Also checks that the compiler refuses exactly the
 * lines the reference calls invalid, at the right line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unicode/uchar.h>
#include <unicode/uclean.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
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

/* Han, hiragana, katakana or Bopomofo by ICU's script extensions (a letter of a script written
 * without spaces); -1 for a mark, which goes with the letter before it. */
static int ref_cjk(const char *s, size_t i, size_t len) {
  utf8proc_int32_t cp;
  assert_true(utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp) >
              0);
  if (utf8proc_category_string(cp)[0] == 'M') return -1;
  return uscript_hasScript(cp, USCRIPT_HAN) || uscript_hasScript(cp, USCRIPT_HIRAGANA) ||
         uscript_hasScript(cp, USCRIPT_KATAKANA) || uscript_hasScript(cp, USCRIPT_BOPOMOFO);
}

/* The pieces of tokens t of s (docs/filters.md): each token cut where its letters go from
 * Han and kana to the others or back. */
static void ref_pieces(const char *s, const toks_t *t, toks_t *p) {
  p->n = 0;
  for (size_t k = 0; k < t->n; k++) {
    size_t end = t->off[k] + t->len[k], start = t->off[k];
    int cls = -1;
    for (size_t i = start; i < end;) {
      size_t n = 1;
      while (i + n < end && ((unsigned char)s[i + n] & 0xC0) == 0x80) n++;
      int c = ref_cjk(s, i, end);
      if (c >= 0 && cls >= 0 && c != cls) {
        assert_true(p->n < MAX_TOK);
        p->off[p->n] = start;
        p->len[p->n++] = i - start;
        start = i;
      }
      if (c >= 0) cls = c;
      i += n;
    }
    assert_true(p->n < MAX_TOK);
    p->off[p->n] = start;
    p->len[p->n++] = end - start;
  }
}

typedef struct {
  flt_kind_t kind;
  int star; /* a word:w* rule (counted as a word rule) */
  char key[512];
  size_t len;
  toks_t toks, pieces;
} ref_rule_t;

static int tok_eq(const char *a, const toks_t *ta, size_t i, const char *b, const toks_t *tb,
                  size_t j) {
  return ta->len[i] == tb->len[j] && memcmp(a + ta->off[i], b + tb->off[j], ta->len[i]) == 0;
}

/* A word rule w and a token t meet as written, or when w is t with doubled letters read
 * shorter (docs/filters.md): their runs of one byte pair up; a run of two or more of one ASCII
 * letter in t may read as one or two letters (from its seventh such run on, only as two); any
 * other run must be the same in both. With prefix (a word:w* rule), w need only start t or one
 * of those readings: its last run may end inside t's (at most two letters of a doubled run, at
 * most the run of any other). */
static int ref_word_match(const char *t, size_t tl, const char *w, size_t wl, int prefix) {
  if (prefix ? tl >= wl && memcmp(t, w, wl) == 0 : tl == wl && memcmp(t, w, tl) == 0) return 1;
  size_t i = 0, j = 0;
  unsigned doubled = 0;
  while (i < tl && j < wl) {
    if (t[i] != w[j]) return 0;
    size_t a = i, b = j;
    while (a < tl && t[a] == t[i]) a++;
    while (b < wl && w[b] == w[j]) b++;
    size_t lt = a - i, lw = b - j;
    int twice = t[i] >= 'a' && t[i] <= 'z' && lt >= 2;
    int may_one = twice && doubled++ < 6;
    if (prefix && b == wl) return twice ? lw <= 2 : lw <= lt;
    if (twice ? !(lw == 2 || (may_one && lw == 1)) : lt != lw) return 0;
    i = a;
    j = b;
  }
  return prefix ? j == wl : i == tl && j == wl;
}

/* kt: the tokens of key, kp: their pieces. A word rule meets a token or a piece; a phrase is
 * made of pieces. */
static int ref_match(const ref_rule_t *r, const char *key, size_t len, const toks_t *kt,
                     const toks_t *kp) {
  switch (r->kind) {
  case FLT_EXACT:
    return r->len == len && memcmp(r->key, key, len) == 0;
  case FLT_PREFIX:
    return r->len <= len && memcmp(r->key, key, r->len) == 0;
  case FLT_WORD:
    for (size_t i = 0; i < kt->n; i++)
      if (ref_word_match(key + kt->off[i], kt->len[i], r->key, r->len, r->star)) return 1;
    for (size_t i = 0; i < kp->n; i++)
      if (ref_word_match(key + kp->off[i], kp->len[i], r->key, r->len, r->star)) return 1;
    return 0;
  case FLT_PHRASE:
    for (size_t i = 0; i + r->pieces.n <= kp->n; i++) {
      size_t j = 0;
      while (j < r->pieces.n && tok_eq(key, kp, i + j, r->key, &r->pieces, j)) j++;
      if (j == r->pieces.n) return 1;
    }
    return 0;
  default:
    return 0;
  }
}

/* ---- The disguise view, from the spec ------------------------------------------------------ */

static USpoofChecker *spoof;

static size_t key_of(const char *s, size_t len, char *out, size_t cap) {
  size_t n;
  if (trie_norm_key(s, len, out, cap, &n) != 0) return (size_t)-1;
  return n;
}

/* The skeleton of one code point as the view reads it, written to out (NUL-terminated):
 * ASCII is itself; a small capital is its letter; else ICU's skeleton, as a key, mapped again
 * until it settles; the code point itself when that is empty or holds a space. */
static void ref_skel(uint32_t cp, char *out, int depth);

/* Every code point of s through ref_skel, into out; growth is checked only at depth 0 (the
 * code points of the key), on what the chain settles to. */
static void ref_skel_str(const char *s, char *out, int depth) {
  size_t n = 0;
  for (size_t i = 0; s[i];) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i, -1, &cp);
    assert_true(l > 0);
    char m[512];
    ref_skel((uint32_t)cp, m, depth);
    if (depth == 0 && strlen(m) > 4 * (size_t)l) memcpy(m, s + i, (size_t)l), m[l] = '\0';
    memcpy(out + n, m, strlen(m));
    n += strlen(m);
    i += (size_t)l;
  }
  out[n] = '\0';
}

static void ref_skel(uint32_t cp, char *out, int depth) {
  char c[8];
  size_t cl = (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)c);
  c[cl] = '\0';
  memcpy(out, c, cl + 1);
  if (cp < 0x80 || depth > 8) return;
  char k[64], sk[256], skk[256];
  if (key_of(c, cl, k, sizeof k) != cl || memcmp(k, c, cl) != 0) return;
  UErrorCode st = U_ZERO_ERROR;
  char name[128];
  u_charName((UChar32)cp, U_UNICODE_CHAR_NAME, name, sizeof name, &st);
  int32_t n = 1;
  if (U_SUCCESS(st) && strncmp(name, "LATIN LETTER SMALL CAPITAL ", 27) == 0 && name[27] &&
      !name[28]) {
    sk[0] = name[27];
  } else {
    st = U_ZERO_ERROR;
    n = uspoof_getSkeletonUTF8(spoof, 0, c, (int32_t)cl, sk, sizeof sk, &st);
    if (U_FAILURE(st) || n <= 0 || (size_t)n >= sizeof sk) return;
  }
  size_t kl = key_of(sk, (size_t)n, skk, sizeof skk);
  if (kl == 0 || kl == (size_t)-1 || strchr(skk, ' ')) return;
  if (kl == cl && memcmp(skk, c, cl) == 0) return;
  ref_skel_str(skk, out, depth + 1);
}

typedef struct {
  char s[2048]; /* exact, prefix */
  char g[2048]; /* word, phrase: its tokens */
  int has_one;
} ref_view_t;

/* One code point of the skeleton string, classified as the view's tokenizer does. */
typedef struct {
  size_t off, len;
  int token, letter, space;
} ref_cp_t;

/* The leet table of docs/filters.md, over a word-like token or group. */
static void ref_leet(char *p, size_t n, char one_as, int *has_one) {
  static const char from[] = "013457@$", to[] = "o?eastas";
  for (size_t i = 0; i < n; i++) {
    const char *at = p[i] ? strchr(from, p[i]) : NULL;
    if (at == NULL) continue;
    *has_one |= p[i] == '1';
    p[i] = p[i] == '1' ? one_as : to[at - from];
  }
}

static void ref_view(const char *key, size_t len, char one_as, ref_view_t *v) {
  char k[1024], sk[2048];
  memcpy(k, key, len);
  k[len] = '\0';
  ref_skel_str(k, sk, 0);
  static ref_cp_t cps[2048];
  size_t n = 0, sl = strlen(sk);
  for (size_t i = 0; i < sl;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t l =
        utf8proc_iterate((const utf8proc_uint8_t *)sk + i, (utf8proc_ssize_t)(sl - i), &cp);
    assert_true(l > 0);
    const char *cat = utf8proc_category_string(cp);
    int tok = cat[0] == 'L' || cat[0] == 'M' || cat[0] == 'N' || cp == '@' || cp == '$';
    cps[n++] =
        (ref_cp_t){i, (size_t)l, tok, cat[0] == 'L' || cat[0] == 'M' || cp == '@', cp == ' '};
    i += (size_t)l;
  }
  /* tokens: [start, end) in cps */
  size_t ts[1024], te[1024], nt = 0;
  int space_before[1024];
  int space = 0;
  for (size_t i = 0; i < n;) {
    if (!cps[i].token) {
      space |= cps[i].space;
      i++;
      continue;
    }
    ts[nt] = i;
    while (i < n && cps[i].token) i++;
    te[nt] = i;
    space_before[nt++] = space;
    space = 0;
  }
  v->has_one = 0;
  strcpy(v->s, sk);
  size_t gl = 0;
  for (size_t t = 0; t < nt;) {
    size_t u = t + 1; /* tokens [t, u) make a group */
    while (u < nt && (!space_before[u] || (te[u - 1] - ts[u - 1] == 1 && te[u] - ts[u] == 1))) u++;
    if (gl) v->g[gl++] = ' ';
    size_t g0 = gl;
    int letter = 0;
    for (size_t w = t; w < u; w++) {
      int tl = 0;
      for (size_t c = ts[w]; c < te[w]; c++) tl |= cps[c].letter;
      letter |= tl;
      size_t off = cps[ts[w]].off, end = cps[te[w] - 1].off + cps[te[w] - 1].len;
      memcpy(v->g + gl, sk + off, end - off);
      gl += end - off;
      if (tl) ref_leet(v->s + off, end - off, one_as, &v->has_one);
    }
    if (letter) ref_leet(v->g + g0, gl - g0, one_as, &v->has_one);
    t = u;
  }
  v->g[gl] = '\0';
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
                                    "\xe3\x84\x85",     /* ㄅ: Bopomofo */
                                    "\xf0\x9a\xbf\xb0", /* U+1AFF0: Kana Extended-B */
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
                                    "!",
                                    "\xd1\x96",
                                    "\xd0\xbe",
                                    "\xce\xbf",
                                    "\xe1\xb4\x85",
                                    "0",
                                    "3",
                                    "@",
                                    "$"};

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
  r->star = 0;
  r->len = norm(text, len, r->key, sizeof r->key);
  ref_tokens(r->key, r->len, &r->toks);
  ref_pieces(r->key, &r->toks, &r->pieces);
  if (r->len == 0) return 0;
  if (kind == FLT_WORD) return r->toks.n == 1 && r->toks.off[0] == 0 && r->toks.len[0] == r->len;
  if (kind == FLT_PHRASE) return r->toks.n >= 1;
  return 1;
}

/* Every rule as written and as its views see it (the same kind): a key matches a rule when a
 * form of the key matches a form of the rule. Returns the number of forms. */
static size_t ref_forms(const ref_rule_t *rules, size_t n, ref_rule_t *forms) {
  size_t nf = 0;
  for (size_t i = 0; i < n; i++) {
    const ref_rule_t *r = &rules[i];
    forms[nf++] = *r;
    static ref_view_t v;
    for (int pass = 0; pass < 2; pass++) {
      ref_view(r->key, r->len, pass ? 'l' : 'i', &v);
      ref_rule_t *d = &forms[nf];
      d->kind = r->kind;
      d->star = r->star;
      const char *from = r->kind == FLT_EXACT || r->kind == FLT_PREFIX ? v.s : v.g;
      toks_t t;
      ref_tokens(from, strlen(from), &t);
      if (r->kind == FLT_WORD && t.n == 1) {
        memcpy(d->key, from + t.off[0], t.len[0]);
        d->len = t.len[0];
      } else if (r->kind != FLT_WORD && strlen(from) < sizeof d->key &&
                 (r->kind != FLT_PHRASE || t.n > 0)) {
        d->len = strlen(from);
        memcpy(d->key, from, d->len);
      } else {
        d = NULL;
      }
      if (d) {
        d->key[d->len] = '\0';
        ref_tokens(d->key, d->len, &d->toks);
        ref_pieces(d->key, &d->toks, &d->pieces);
        nf++;
      }
      if (!v.has_one) break;
    }
  }
  return nf;
}

static void test_random_equivalence(void **state) {
  (void)state;
  static const char *const kind_prefix[] = {"word:", "phrase:", "prefix:", "exact:"};
  static char keys[64][512];
  static ref_rule_t rules[32], forms[96];
  char file[32 * 600];
  size_t matches = 0, checks = 0, by_star = 0;
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
      if (valid && kind == FLT_WORD && tu_rnd(&rng, 3) == 0 && tl == r.len &&
          memcmp(text, r.key, tl) == 0) {
        /* word:w*: the token cut after a random code point (a key already, so w is its own key) */
        size_t cut = 1 + tu_rnd(&rng, (uint32_t)tl);
        while (cut < tl && ((unsigned char)text[cut] & 0xC0) == 0x80) cut++;
        ref_rule_t st;
        if (ref_rule_valid(kind, text, cut, &st) && st.len == cut) {
          r = st;
          r.star = 1;
          tl = cut;
          text[tl++] = '*';
          text[tl] = '\0';
        }
      }
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
        fail_msg("round %d: rc %d line %llu (%s), want refusal at line %u of:\n%s", round, rc,
                 (unsigned long long)err.line, err.msg, first_invalid, file);
      assert_null(rs);
      if (vlen == 0) vlen = (size_t)sprintf(valid_file, "# no valid rule\n");
      rc = flt_compile(valid_file, vlen, &rs, &err);
    }
    if (rc != 0)
      fail_msg("round %d: line %u: %s in:\n%s", round, (unsigned)err.line, err.msg, valid_file);

    size_t n_forms = ref_forms(rules, n_valid, forms);
    for (size_t k = 0; k < n_keys; k++) {
      const char *key = keys[k];
      size_t len = strlen(key);
      /* the key as written, then through its view ('1' as i, and as l when it held one) */
      static ref_view_t kv[3];
      memcpy(kv[0].s, key, len + 1);
      memcpy(kv[0].g, key, len + 1);
      ref_view(key, len, 'i', &kv[1]);
      size_t n_kf = 2;
      if (kv[1].has_one) ref_view(key, len, 'l', &kv[n_kf++]);
      int want = 0;
      flt_kind_t want_kind = FLT_KIND_COUNT;
      static const flt_kind_t order[] = {FLT_EXACT, FLT_PREFIX, FLT_WORD, FLT_PHRASE};
      for (size_t f = 0; f < n_kf && !want; f++) {
        static toks_t kt, kp;
        ref_tokens(kv[f].g, strlen(kv[f].g), &kt);
        ref_pieces(kv[f].g, &kt, &kp);
        for (int o = 0; o < 4 && !want; o++) {
          int whole = order[o] == FLT_EXACT || order[o] == FLT_PREFIX;
          const char *ks = whole ? kv[f].s : kv[f].g;
          for (size_t i = 0; i < n_forms && !want; i++)
            if (forms[i].kind == order[o] && ref_match(&forms[i], ks, strlen(ks), &kt, &kp)) {
              want = 1;
              want_kind = order[o];
              by_star += (size_t)forms[i].star;
            }
        }
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
  print_message("%zu of %zu keys blocked, %zu by a word:w* rule\n", matches, checks, by_star);
  /* the generator must exercise both outcomes, or this test proves nothing */
  assert_true(matches > checks / 10);
  assert_true(matches < checks * 9 / 10);
  assert_true(by_star > checks / 100); /* and word:w* rules among them */
}

int main(void) {
  UErrorCode st = U_ZERO_ERROR;
  spoof = uspoof_open(&st);
  if (U_FAILURE(st)) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_equivalence)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  uspoof_close(spoof);
  u_cleanup();
  return rc;
}
