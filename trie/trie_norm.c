/*
 * The one normalization routine of the project (SPEC §3), declared in trie.h:
 *   key     = NFKC + case fold + combining marks stripped + default-ignorables and the other
 *             format characters (category Cf, and U+2800) dropped, control characters dropped,
 *             katakana folded to hiragana, Hangul as conjoining jamo (L V T), every run of
 *             Unicode whitespace -> one ASCII space, leading and trailing space trimmed;
 *   prefix  = the key of what a user is typing: the same, except that trailing whitespace
 *             after a word becomes one trailing space (the word is finished);
 *   display = NFC, control characters and bidi controls dropped, whitespace runs -> one space,
 *             trimmed;
 * and the strict UTF-8 validator every module uses before trusting a byte string.
 * TRIE_NORM_VERSION (trie.h) names this definition: any change to what these functions return
 * for some input raises it.
 *
 * Order of the steps (why): the input is validated first (utf8proc would accept some of what we
 * refuse and we want one definition of "valid"). Then utf8proc decomposes it with the whole
 * mapping applied at once (compatibility decomposition, case folding and mark stripping are
 * applied recursively, so case folding cannot leave an un-normalized sequence behind). Code
 * points are dropped, kana folded and whitespace mapped to U+0020 on the decomposed sequence,
 * BEFORE composition, so that dropping one can never bring together two code points that would
 * have composed (which would make key(key(x)) != key(x)). Then the sequence is composed (NFC of
 * the folded NFKD sequence = NFKC), and while it is encoded back to UTF-8 whitespace runs are
 * collapsed and (keys only) Hangul syllables are written as their jamo: composing first and
 * splitting after gives one spelling to precomposed syllables and to jamo typed one by one.
 *
 * An input made only of ASCII bytes takes a fast path that allocates nothing and gives the same
 * bytes as the slow path (tests/trie/test_norm.c checks that on every printable ASCII string
 * it generates): nothing ASCII is a format character, kana or Hangul.
 */
#include "trie.h"
#include "trie_norm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Code points decomposed on the stack before falling back to the heap. */
#define NORM_STACK_CPS 1024

/* The one validator, inline in both entry points below (trie_utf8_valid is on the path of every
 * string verify checks). Runs of ASCII go 8 bytes at a time. */
static inline size_t utf8_valid_len(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    uint64_t w;
    if (len - i >= 8 && (memcpy(&w, p + i, 8), (w & UINT64_C(0x8080808080808080)) == 0)) {
      i += 8;
      continue;
    }
    unsigned c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0; /* overlong */
      if (c == 0xED) hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90; /* overlong */
      if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
      return i; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (len - i <= need) return i; /* truncated */
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t j = 2; j <= need; j++)
      if ((p[i + j] & 0xC0) != 0x80) return i;
    i += need + 1;
  }
  return len;
}

size_t trie__utf8_valid_len(const char *s, size_t len) {
  return utf8_valid_len(s, len);
}

int trie_utf8_valid(const char *s, size_t len) {
  return utf8_valid_len(s, len) == len;
}

void trie_utf8_put(char *buf, size_t cap, size_t *n, const char *s) {
  for (size_t i = 0, len = strlen(s); i < len;) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    char esc[5];
    const char *piece = s + i;
    if (k > len - i || !trie_utf8_valid(s + i, k)) {
      snprintf(esc, sizeof esc, "\\x%02X", c);
      piece = esc;
      k = 4;
      i++;
    } else {
      i += k;
    }
    if (*n + k >= cap) return;
    memcpy(buf + *n, piece, k);
    *n += k;
    buf[*n] = '\0';
  }
}

/* Unicode White_Space property (PropList.txt). */
static int norm_is_space(int32_t c) {
  if (c == 0x20 || (c >= 0x09 && c <= 0x0D)) return 1;
  if (c < 0x85) return 0;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* General category Cc (C0, DEL, C1). Whitespace controls are tested before this. */
static int norm_is_control(int32_t c) {
  return c < 0x20 || (c >= 0x7F && c < 0xA0);
}

/* Dropped from keys besides the default-ignorables (which utf8proc's UTF8PROC_IGNORE already
 * drops while decomposing): every format character (category Cf). Unicode leaves some Cf out of
 * Default_Ignorable_Code_Point because a renderer may show them (U+FFF9..FFFB interlinear
 * annotation, U+13430.. Egyptian hieroglyph format controls, prepended concatenation marks),
 * but inside a key they only hide a word from its matches. U+2800 BRAILLE PATTERN BLANK is a
 * symbol (So), not ignorable, yet renders as nothing: it is dropped by name. So are the code
 * points Unicode reserves as default-ignorable (Other_Default_Ignorable_Code_Point: U+2065,
 * U+FFF0..FFF8, U+E0000..E0FFF), to which utf8proc gives no properties while they are
 * unassigned: dropped now, they change no key when a later Unicode assigns them. */
static int norm_key_drops(int32_t c) {
  if (c < 0xAD) return 0; /* the first format character is U+00AD */
  return c == 0x2800 || c == 0x2065 || (c >= 0xFFF0 && c <= 0xFFF8) ||
         (c >= 0xE0000 && c <= 0xE0FFF) || utf8proc_category(c) == UTF8PROC_CATEGORY_CF;
}

/* Bidi_Control (PropList.txt): the explicit embeddings, overrides and isolates, found by their
 * bidi class, and the three marks, whose bidi class is that of a letter (L, R, AL). Dropped from
 * display forms: an override left in one would show the suggestion's text reversed. */
static int norm_is_bidi_control(int32_t c) {
  if (c < 0x061C) return 0;
  if (c == 0x061C || c == 0x200E || c == 0x200F) return 1;
  switch (utf8proc_get_property(c)->bidi_class) {
  case UTF8PROC_BIDI_CLASS_LRE:
  case UTF8PROC_BIDI_CLASS_LRO:
  case UTF8PROC_BIDI_CLASS_RLE:
  case UTF8PROC_BIDI_CLASS_RLO:
  case UTF8PROC_BIDI_CLASS_PDF:
  case UTF8PROC_BIDI_CLASS_LRI:
  case UTF8PROC_BIDI_CLASS_RLI:
  case UTF8PROC_BIDI_CLASS_FSI:
  case UTF8PROC_BIDI_CLASS_PDI:
    return 1;
  default:
    return 0;
  }
}

/* Katakana to hiragana, so that input typed in either finds both (an input method shows
 * hiragana until it converts). The letters U+30A1..U+30F6 and the iteration marks U+30FD..U+30FE
 * sit 0x60 above their hiragana; voiced letters are already split into letter + mark (and the
 * mark stripped) here, and katakana without a hiragana twin (small ku U+31F0.., U+30FC) stay. */
static int32_t norm_fold_kana(int32_t c) {
  return (c >= 0x30A1 && c <= 0x30F6) || c == 0x30FD || c == 0x30FE ? c - 0x60 : c;
}

/* Hangul syllables (U+AC00..U+D7A3) are L V [T] jamo by arithmetic (Unicode §3.12). */
#define HANGUL_S 0xAC00
#define HANGUL_S_COUNT 11172
#define HANGUL_L 0x1100
#define HANGUL_V 0x1161
#define HANGUL_T 0x11A7
#define HANGUL_N_COUNT 588 /* V count 21 x T count 28 */
#define HANGUL_T_COUNT 28

/* Appends to dst with the whitespace state machine shared by both paths: a space is written
 * only before the next visible character, so runs collapse and both ends are trimmed. */
typedef struct {
  char *dst;
  size_t cap; /* including the NUL */
  size_t len;
  int pending_space;
} norm_out_t;

static int norm_put_space(norm_out_t *o) {
  if (o->len > 0) o->pending_space = 1;
  return 0;
}

static int norm_put_bytes(norm_out_t *o, const char *b, size_t n) {
  size_t need = n + (o->pending_space ? 1 : 0);
  if (o->cap - o->len <= need) return TA_ENOSPC; /* keep room for the NUL */
  if (o->pending_space) o->dst[o->len++] = ' ';
  o->pending_space = 0;
  memcpy(o->dst + o->len, b, n);
  o->len += n;
  return 0;
}

/* keep_space: a prefix keeps one trailing space (a space still pending after a word). */
static int norm_finish(norm_out_t *o, int keep_space, size_t *out_len) {
  if (keep_space && o->pending_space) {
    if (o->cap - o->len <= 1) return TA_ENOSPC;
    o->dst[o->len++] = ' ';
  }
  o->dst[o->len] = '\0';
  *out_len = o->len;
  return 0;
}

/* Writes code point c; keys write a Hangul syllable as its jamo. */
static int norm_put_cp(norm_out_t *o, utf8proc_int32_t c, int key) {
  utf8proc_uint8_t enc[12];
  utf8proc_ssize_t n = 0;
  if (key && c >= HANGUL_S && c < HANGUL_S + HANGUL_S_COUNT) {
    int32_t s = c - HANGUL_S;
    n += utf8proc_encode_char(HANGUL_L + s / HANGUL_N_COUNT, enc);
    n += utf8proc_encode_char(HANGUL_V + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT, enc + n);
    if (s % HANGUL_T_COUNT) n += utf8proc_encode_char(HANGUL_T + s % HANGUL_T_COUNT, enc + n);
  } else {
    n = utf8proc_encode_char(c, enc);
  }
  return norm_put_bytes(o, (const char *)enc, (size_t)n);
}

/* ASCII-only input: NFKC and NFC are the identity, case folding is A-Z -> a-z. */
static int norm_ascii(const char *src, size_t len, int fold, norm_out_t *o) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (norm_is_space(c)) {
      norm_put_space(o);
    } else if (norm_is_control(c)) {
      continue;
    } else {
      char b = (char)((fold && c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
      int rc = norm_put_bytes(o, &b, 1);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

/* Canonical ordering (stable sort of each run of non-starters by combining class), redone after
 * dropping controls: a dropped control was a starter that separated two runs of marks. */
static void norm_canonical_order(utf8proc_int32_t *buf, utf8proc_ssize_t n) {
  for (utf8proc_ssize_t i = 1; i < n; i++) {
    utf8proc_int32_t c = buf[i];
    int cc = utf8proc_get_property(c)->combining_class;
    if (cc == 0) continue;
    utf8proc_ssize_t j = i;
    while (j > 0) {
      int prev = utf8proc_get_property(buf[j - 1])->combining_class;
      if (prev == 0 || prev <= cc) break;
      buf[j] = buf[j - 1];
      j--;
    }
    buf[j] = c;
  }
}

/* utf8proc strips marks before it case folds, but U+0345 COMBINING GREEK YPOGEGRAMMENI is a mark
 * that case folds to U+03B9 iota, and precomposed letters holding it (U+1FB3 and the like) fold
 * to letter + iota. Folding it first, as SPEC §3 orders the steps, keeps key(NFC(x)) == key(x). */
static utf8proc_int32_t norm_fold_ypogegrammeni(utf8proc_int32_t c, void *unused) {
  (void)unused;
  return c == 0x0345 ? 0x03B9 : c;
}

/* key: the key steps (else display). */
static int norm_slow(const char *src, size_t len, int key, norm_out_t *o) {
  utf8proc_option_t decompose_opts = key ? (UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                                            UTF8PROC_STRIPMARK | UTF8PROC_IGNORE | UTF8PROC_STABLE)
                                         : (UTF8PROC_COMPOSE | UTF8PROC_STABLE);
  utf8proc_custom_func custom = key ? norm_fold_ypogegrammeni : NULL;
  utf8proc_int32_t stack_buf[NORM_STACK_CPS];
  utf8proc_int32_t *buf = stack_buf;
  utf8proc_ssize_t cap = NORM_STACK_CPS;
  utf8proc_ssize_t n = utf8proc_decompose_custom(
      (const utf8proc_uint8_t *)src, (utf8proc_ssize_t)len, buf, cap, decompose_opts, custom, NULL);
  if (n > cap) {
    buf = malloc((size_t)n * sizeof *buf);
    if (!buf) return TA_ENOMEM;
    cap = n;
    n = utf8proc_decompose_custom((const utf8proc_uint8_t *)src, (utf8proc_ssize_t)len, buf, cap,
                                  decompose_opts, custom, NULL);
  }
  int rc = 0;
  if (n < 0) {
    rc = n == UTF8PROC_ERROR_NOMEM ? TA_ENOMEM : TA_EUTF8;
    goto out;
  }
  /* Drops, kana folding and whitespace to U+0020, before composing (see the top of the file). */
  utf8proc_ssize_t m = 0;
  for (utf8proc_ssize_t i = 0; i < n; i++) {
    int32_t c = buf[i];
    if (norm_is_space(c))
      buf[m++] = 0x20;
    else if (norm_is_control(c) || (key ? norm_key_drops(c) : norm_is_bidi_control(c)))
      continue;
    else
      buf[m++] = key ? norm_fold_kana(c) : c;
  }
  norm_canonical_order(buf, m);
  m = utf8proc_normalize_utf32(buf, m, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
  if (m < 0) {
    rc = TA_EUTF8;
    goto out;
  }
  for (utf8proc_ssize_t i = 0; i < m && rc == 0; i++) {
    if (buf[i] == 0x20)
      norm_put_space(o);
    else
      rc = norm_put_cp(o, buf[i], key);
  }
out:
  if (buf != stack_buf) free(buf);
  return rc;
}

typedef enum { NORM_KEY, NORM_PREFIX, NORM_DISPLAY } norm_mode_t;

static int norm_run(const char *src, size_t len, char *dst, size_t cap, size_t *out_len,
                    norm_mode_t mode, int force_slow) {
  if ((!src && len) || !dst || !out_len) return TA_EINVAL;
  if (cap == 0) return TA_ENOSPC;
  norm_out_t o = {dst, cap, 0, 0};
  int key = mode != NORM_DISPLAY;
  size_t i = 0;
  while (i < len && (unsigned char)src[i] < 0x80) i++;
  int rc;
  if (i == len && !force_slow)
    rc = norm_ascii(src, len, key, &o);
  else if (!trie_utf8_valid(src, len))
    rc = TA_EUTF8;
  else
    rc = norm_slow(src, len, key, &o);
  if (rc == 0) rc = norm_finish(&o, mode == NORM_PREFIX, out_len);
  if (rc < 0) {
    dst[0] = '\0';
    *out_len = 0;
  }
  return rc;
}

int trie_norm_key(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_KEY, 0);
}

int trie_norm_prefix(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_PREFIX, 0);
}

int trie_norm_display(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_DISPLAY, 0);
}

int trie__norm_key_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_KEY, 1);
}

int trie__norm_prefix_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_PREFIX, 1);
}

int trie__norm_display_slow(const char *src, size_t len, char *dst, size_t cap, size_t *out_len) {
  return norm_run(src, len, dst, cap, out_len, NORM_DISPLAY, 1);
}
