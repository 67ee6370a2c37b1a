/*
 * typeahead: how the blocklist sees a key (SPEC §9): the tokenizer's character classes, and the
 * disguise view, the key as the rules read it when someone hides a word:
 *
 *   confusables  every non-ASCII character is replaced by its UTS #39 skeleton (table generated
 *                from ICU at build time, flt_skelgen_main.c), so Cyrillic і, Greek ο and small
 *                capitals read as the Latin letters they imitate. ASCII letters stay themselves:
 *                UTS #39 would read m as rn, which makes porn of pom (docs/filters.md).
 *   leet         inside a word-like token (one holding a letter or '@'), the digits and signs of
 *                LEET read as letters: id1ot, pr0n, @ss. A token of digits alone is a number and
 *                stays one (455, 2006). '1' reads as 'i', and in a second view as 'l' (k1ll).
 *   separators   tokens are joined across separators inside a word (i.d.i.o.t, id-iot: no space
 *                between them) and across runs of single letters (i d i o t).
 *
 * The view has two forms, drawn in flt_int.h: s, character for character, for exact and prefix
 * rules; g, the joined tokens, for word and phrase rules. Nothing here allocates. (Doubled
 * letters, iddiot, are read in flt_match.c, token by token, against word rules only.)
 */
#include <utf8proc.h>

#include "flt_int.h"

const unsigned char flt__ascii_token[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* Digits and signs read as letters inside a word-like token: a policy (what people type), not
 * Unicode data. '1' is i or l: the view is built once with each (flt__view's one_as). 2, 6, 8
 * and 9 stay digits: b2b, 6pack, 8ball, 9mm are words of their own more often than disguises. */
static const char LEET[128] = {['0'] = 'o', ['1'] = '1', ['3'] = 'e', ['4'] = 'a',
                               ['5'] = 's', ['7'] = 't', ['@'] = 'a', ['$'] = 's'};

size_t flt__char_slow(const char *s, size_t len, int *is_token) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &cp);
  if (n <= 0) {
    *is_token = 0;
    return 1;
  }
  utf8proc_category_t cat = utf8proc_category(cp);
  /* L* (1..5), M* (6..8) and N* (9..11) are contiguous in utf8proc's enumeration. */
  *is_token = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
  return (size_t)n;
}

/* Han, kana, Bopomofo and the CJK iteration and number marks: the letters of scripts written
 * without spaces between words (a key holds kana as hiragana, SPEC §3). Bopomofo spells
 * Mandarin beside Han (Taiwan), Kana Extended-B holds Taiwanese kana. */
static int is_cjk(utf8proc_int32_t cp) {
  return (cp >= 0x3005 && cp <= 0x3007) || (cp >= 0x3021 && cp <= 0x3029) ||
         (cp >= 0x3031 && cp <= 0x3035) || (cp >= 0x3038 && cp <= 0x303C) ||
         (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3105 && cp <= 0x312F) ||
         (cp >= 0x31A0 && cp <= 0x31BF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
         (cp >= 0x1AFF0 && cp <= 0x1AFFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFF66 && cp <= 0xFF9F) || (cp >= 0x1B000 && cp <= 0x1B16F) ||
         (cp >= 0x20000 && cp <= 0x323AF);
}

size_t flt__script_run(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len && u[i] < 0x80) i++;
  if (i == len) return len; /* ASCII: one run (most tokens) */
  int cls = i > 0 ? 0 : -1; /* 1: CJK, 0: other, -1: none yet (marks take their base's) */
  while (i < len) {
    utf8proc_int32_t cp = u[i];
    utf8proc_ssize_t n = 1;
    if (u[i] >= 0x80 && (n = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &cp)) <= 0)
      return i > 0 ? i : 1; /* not in a token (flt__char_slow): cannot happen */
    utf8proc_category_t cat = u[i] < 0x80 ? UTF8PROC_CATEGORY_LL : utf8proc_category(cp);
    if (cat < UTF8PROC_CATEGORY_MN || cat > UTF8PROC_CATEGORY_ME) {
      int c = is_cjk(cp);
      if (cls >= 0 && c != cls) return i;
      cls = c;
    }
    i += (size_t)n;
  }
  return len;
}

/* The skeleton of cp from the generated table, or NULL when cp stands for itself. */
static const flt__skel_t *skel_of(uint32_t cp) {
  size_t lo = 0, hi = flt__skel_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (flt__skel[mid].cp < cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < flt__skel_n && flt__skel[lo].cp == cp ? &flt__skel[lo] : NULL;
}

/* A character of the view's s: its length, and what it is to the view's tokenizer. */
typedef struct {
  size_t len;
  int token;  /* a token character: L, M, N, or '@' / '$' (they may stand for letters) */
  int letter; /* makes its token word-like: a letter, a mark or '@' */
} vchar_t;

static vchar_t vchar_at(const char *s, size_t len) {
  unsigned char c = (unsigned char)s[0];
  if (c < 0x80) {
    int digit = c >= '0' && c <= '9', sign = c == '@' || c == '$';
    return (vchar_t){1, flt__ascii_token[c] || sign, (flt__ascii_token[c] && !digit) || c == '@'};
  }
  utf8proc_int32_t cp;
  utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &cp);
  if (n <= 0) return (vchar_t){1, 0, 0};
  utf8proc_category_t cat = utf8proc_category(cp);
  int token = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
  return (vchar_t){(size_t)n, token, token && cat < UTF8PROC_CATEGORY_ND};
}

/* Reads the digits and signs of p[0..n) as letters (the token or group is word-like). Returns
 * 1 when something changed. */
static int leet(char *p, size_t n, char one_as, int *has_one) {
  int changed = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x80 || LEET[c] == 0) continue;
    if (c == '1') *has_one = 1;
    p[i] = c == '1' ? one_as : LEET[c];
    changed = 1;
  }
  return changed;
}

/* Step 1: s = the key with each character replaced by its skeleton. */
static int skeleton(const char *key, size_t len, flt__view_t *v, int *mapped) {
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)key[i];
    const char *from = key + i;
    size_t step = 1, out = 1;
    if (c >= 0x80) {
      utf8proc_int32_t cp;
      utf8proc_ssize_t l =
          utf8proc_iterate((const utf8proc_uint8_t *)from, (utf8proc_ssize_t)(len - i), &cp);
      step = out = l > 0 ? (size_t)l : 1;
      const flt__skel_t *m = l > 0 ? skel_of((uint32_t)cp) : NULL;
      if (m) {
        from = flt__skel_pool + m->off;
        out = m->len;
        *mapped = 1;
      }
    }
    if (n + out > sizeof v->s) return TA_ENOSPC;
    memcpy(v->s + n, from, out);
    n += out;
    i += step;
  }
  v->s_len = n;
  return 0;
}

int flt__view(const char *key, size_t len, char one_as, flt__view_t *v) {
  int mapped = 0, leet_s = 0, leet_g = 0, joined = 0, sign = 0;
  v->has_one = 0;
  v->g_len = 0;
  int rc = skeleton(key, len, v, &mapped);
  if (rc) return rc;

  /* Step 2, token by token of s: each token's raw bytes go to the current group of g (a new
   * group unless it joins the last one), then are read as letters in s if the token is
   * word-like; a group is read as letters when it ends, if it is word-like as a whole. */
  char *s = v->s, *g = v->g;
  size_t i = 0, n = v->s_len, group = 0;
  int in_group = 0, group_letter = 0, prev_single = 0, gap_space = 0;
  while (i < n) {
    vchar_t c = vchar_at(s + i, n - i);
    if (!c.token) {
      gap_space |= s[i] == ' ';
      i += c.len;
      continue;
    }
    size_t start = i, chars = 0;
    int letter = 0;
    while (i < n && c.token) {
      letter |= c.letter;
      sign |= s[i] == '@' || s[i] == '$';
      chars++;
      i += c.len;
      if (i < n) c = vchar_at(s + i, n - i);
    }
    int single = chars == 1;
    if (in_group && (!gap_space || (prev_single && single))) {
      joined = 1;
    } else {
      if (in_group && group_letter)
        leet_g |= leet(g + group, v->g_len - group, one_as, &v->has_one);
      if (in_group) g[v->g_len++] = ' ';
      group = v->g_len;
      group_letter = 0;
      in_group = 1;
    }
    memcpy(g + v->g_len, s + start, i - start); /* g is never longer than s */
    v->g_len += i - start;
    group_letter |= letter;
    if (letter) leet_s |= leet(s + start, i - start, one_as, &v->has_one);
    prev_single = single;
    gap_space = 0;
  }
  if (in_group && group_letter) leet_g |= leet(g + group, v->g_len - group, one_as, &v->has_one);
  v->s_changed = mapped || leet_s;
  v->g_changed = mapped || leet_g || joined || sign;
  return 0;
}
