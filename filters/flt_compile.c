/*
 * typeahead: parsing a blocklist rules file and compiling it into a rule set (SPEC §9; syntax in
 * flt.h, layout in flt_int.h). The file is hostile until checked: size, line length, NUL bytes
 * and UTF-8 are checked before anything is normalized, and the first bad line refuses the whole
 * file with its number; so is an empty file or one whose last line has no line end (half
 * written: filtering must not fail open). Rules are normalized with trie_norm_key, each is
 * added once more as its disguise view sees it (flt_fold.c) when that differs, deduplicated,
 * sorted (so the version hash is canonical) and loaded into hash sets and sorted prefix sets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flt_int.h"

/* The sets a rule goes to: its kind's, and one more for word:w* stems. */
enum { BUCKET_STAR = FLT_KIND_COUNT, N_BUCKETS };

/* Mixed into the version: the same rules matched another way are another rule set (a browser
 * holding an answer of the old matcher must revalidate). */
static const char MATCHER[] =
    "flt-match-5: skeleton, leet, joined separators, word:w*, doubled letters, CJK pieces "
    "(Bopomofo, Kana Extended-B)";

typedef struct {
  flt_kind_t kind;
  int bucket;      /* kind, or BUCKET_STAR */
  int derived;     /* a disguise view of a rule, not a rule as written (not counted or hashed) */
  const char *str; /* arena + off, set once the arena stops moving (for sorting) */
  uint32_t off;    /* normalized key, or for a phrase its canonical text, in the arena */
  uint32_t len;
  uint32_t first_len; /* phrase: bytes of the first token */
  uint32_t n_tok;     /* phrase: number of tokens */
} rule_t;

typedef struct {
  ta_buf_t arena; /* every rule string, back to back */
  rule_t *rules;
  size_t n_rules, rules_cap;
  size_t comments; /* comment lines seen */
} builder_t;

__attribute__((format(printf, 3, 4))) static void set_error(ta_diag_t *err, unsigned line,
                                                            const char *fmt, ...) {
  if (err == NULL) return;
  ta_diag_at_line(err, line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

/* Bytes of s[0..len) that fit in max without cutting a UTF-8 character (for messages). */
static int snippet_len(const char *s, size_t len, size_t max) {
  if (len <= max) return (int)len;
  size_t n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return (int)n;
}

static int rule_add(builder_t *b, flt_kind_t kind, int star, int derived, const char *s, size_t len,
                    size_t first_len, size_t n_tok) {
  int rc;
  if (b->arena.len + len > UINT32_MAX) return TA_ENOMEM; /* offsets are u32 */
  if (b->n_rules == b->rules_cap &&
      (rc = ta_grow((void **)&b->rules, &b->rules_cap, b->n_rules + 1, sizeof *b->rules, 64)) != 0)
    return rc;
  rule_t *r = &b->rules[b->n_rules];
  r->off = (uint32_t)b->arena.len;
  if ((rc = ta_buf_put(&b->arena, s, len)) != 0) return rc;
  r->kind = kind;
  r->bucket = star ? BUCKET_STAR : (int)kind;
  r->derived = derived;
  r->len = (uint32_t)len;
  r->first_len = (uint32_t)first_len;
  r->n_tok = (uint32_t)n_tok;
  b->n_rules++;
  return 0;
}

static int kind_from_name(const char *s, size_t len, flt_kind_t *kind) {
  static const char *const names[FLT_KIND_COUNT] = {"word", "phrase", "prefix", "exact"};
  for (int k = 0; k < FLT_KIND_COUNT; k++) {
    if (strlen(names[k]) == len && strncasecmp(names[k], s, len) == 0) {
      *kind = (flt_kind_t)k;
      return 0;
    }
  }
  return TA_EPARSE;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* The canonical form of a phrase: its tokens (with pieces: their pieces, flt__script_run, as
 * flt_match cuts a key's tokens for phrases) joined by one space, into canon (room for
 * TA_MAX_KEY + 1 bytes; key is at most that long). Returns its length, the first one's in
 * *first_len and their number in *n_tok (counting stops past FLT__MAX_PHRASE_TOKENS). */
static size_t phrase_canon(const char *key, size_t key_len, int pieces, char *canon,
                           size_t *first_len, size_t *n_tok) {
  size_t len = 0, pos = 0, tok, tok_len;
  *first_len = *n_tok = 0;
  while (flt__next_token(key, key_len, &pos, &tok, &tok_len)) {
    for (size_t at = tok, n; at < tok + tok_len; at += n) {
      n = pieces ? flt__script_run(key + at, tok + tok_len - at) : tok + tok_len - at;
      if (++*n_tok > FLT__MAX_PHRASE_TOKENS) return len;
      if (len) canon[len++] = ' ';
      memcpy(canon + len, key + at, n);
      len += n;
      if (*first_len == 0) *first_len = n;
    }
  }
  return len;
}

/* Adds the rule key[0..key_len) once more as its disguise view sees it, when that differs: the
 * view's s for exact and prefix rules, its joined tokens for word and phrase rules; with '1'
 * read as i and, when there is one, as l. A key is matched as it is and through its own view,
 * so a rule and a key meet when their views do (flt_match.c). */
static int add_views(builder_t *b, flt_kind_t kind, int star, const char *key, size_t key_len) {
  flt__view_t v;
  for (int pass = 0; pass < 2; pass++) {
    int rc = flt__view(key, key_len, pass ? 'l' : 'i', &v);
    if (rc) return rc;
    if (kind == FLT_EXACT || kind == FLT_PREFIX) {
      if (v.s_changed && v.s_len > 0 && (rc = rule_add(b, kind, 0, 1, v.s, v.s_len, v.s_len, 1)))
        return rc;
    } else if (v.g_changed) {
      char canon[TA_MAX_KEY + 1];
      size_t first_len, n_tok, len = 0;
      if (v.g_len < sizeof canon)
        len = phrase_canon(v.g, v.g_len, kind == FLT_PHRASE, canon, &first_len, &n_tok);
      /* a word's view is one token (its skeleton holds no space), unless the skeleton left
       * no letter at all: then there is nothing more to add */
      if (len > 0 && n_tok <= FLT__MAX_PHRASE_TOKENS && (kind == FLT_PHRASE || n_tok == 1) &&
          (rc = rule_add(b, kind, star, 1, canon, len, first_len, n_tok)))
        return rc;
    }
    if (!v.has_one) break;
  }
  return 0;
}

/* Parses one line (no line end) into b; 0, or an error with err filled in. */
static int parse_line(builder_t *b, const char *s, size_t len, unsigned lineno, ta_diag_t *err) {
  if (len > FLT_MAX_LINE) {
    set_error(err, lineno, "line is %zu bytes long; the limit is %u", len, FLT_MAX_LINE);
    return TA_ETOOLONG;
  }
  if (memchr(s, '\0', len) != NULL) {
    set_error(err, lineno, "NUL byte in line");
    return TA_EPARSE;
  }
  if (!trie_utf8_valid(s, len)) {
    set_error(err, lineno, "invalid UTF-8");
    return TA_EUTF8;
  }
  size_t i = 0;
  while (i < len && is_blank(s[i])) i++;
  if (i < len && s[i] == '#') b->comments++;
  if (i == len || s[i] == '#') return 0;

  flt_kind_t kind = FLT_WORD;
  const char *text = s + i;
  size_t text_len = len - i;
  const char *colon = memchr(text, ':', text_len);
  if (colon != NULL) {
    size_t name_len = (size_t)(colon - text);
    while (name_len > 0 && is_blank(text[name_len - 1])) name_len--;
    if (kind_from_name(text, name_len, &kind) < 0) {
      set_error(err, lineno,
                "unknown rule kind '%.*s' (expected word:, phrase:, prefix: or exact:)",
                snippet_len(text, name_len, 40), text);
      return TA_EPARSE;
    }
    text_len -= (size_t)(colon + 1 - text);
    text = colon + 1;
  }

  char key[TA_MAX_KEY + 1];
  size_t key_len;
  int rc = trie_norm_key(text, text_len, key, sizeof key, &key_len);
  if (rc == TA_ENOSPC) {
    set_error(err, lineno, "rule is too long after normalization");
    return TA_ETOOLONG;
  }
  if (rc < 0) {
    set_error(err, lineno, "rule cannot be normalized: %s", ta_strerror(rc));
    return rc;
  }
  /* A rule is never a word boundary: a key may keep a trailing space (a finished word), a
   * rule's trailing blanks are just the end of its line. */
  while (key_len > 0 && key[key_len - 1] == ' ') key_len--;
  if (key_len == 0) {
    set_error(err, lineno, "empty %s rule", flt_kind_name(kind));
    return TA_EPARSE;
  }

  int star = 0;
  if (kind == FLT_WORD && key[key_len - 1] == '*') { /* word:w* */
    star = 1;
    key_len--;
    if (key_len == 0) {
      set_error(err, lineno, "empty word rule");
      return TA_EPARSE;
    }
  }
  size_t pos = 0, tok, tok_len;
  if (kind == FLT_WORD &&
      (!flt__next_token(key, key_len, &pos, &tok, &tok_len) || tok != 0 || tok_len != key_len)) {
    set_error(err, lineno,
              "a word rule must be one token (letters, digits, marks), maybe with a '*' after "
              "it; '%.*s' is not (use phrase:, prefix: or exact:)",
              snippet_len(key, key_len, 60), key);
    return TA_EPARSE;
  }
  size_t first_len, n_tok;
  if (kind == FLT_PHRASE) {
    char canon[TA_MAX_KEY + 1];
    size_t canon_len = phrase_canon(key, key_len, 1, canon, &first_len, &n_tok);
    if (n_tok > FLT__MAX_PHRASE_TOKENS) {
      set_error(err, lineno, "phrase rule has more than %d tokens", FLT__MAX_PHRASE_TOKENS);
      return TA_EPARSE;
    }
    if (canon_len == 0) {
      set_error(err, lineno, "phrase rule has no letters or digits");
      return TA_EPARSE;
    }
    rc = rule_add(b, kind, 0, 0, canon, canon_len, first_len, n_tok);
  } else {
    rc = rule_add(b, kind, star, 0, key, key_len, key_len, 1);
  }
  return rc ? rc : add_views(b, kind, star, key, key_len);
}

static int parse_text(builder_t *b, const char *text, size_t len, ta_diag_t *err) {
  size_t pos = 0;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
  unsigned lineno = 0;
  while (pos < len) {
    lineno++;
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t line_len = end - pos;
    if (line_len > 0 && text[pos + line_len - 1] == '\r') line_len--;
    int rc = parse_line(b, text + pos, line_len, lineno, err);
    if (rc < 0) {
      if (rc == TA_ENOMEM) set_error(err, 0, "out of memory");
      return rc;
    }
    pos = end + 1;
  }
  return 0;
}

/* ---- Compiling ---------------------------------------------------------------------------- */

static int cmp_rule(const void *pa, const void *pb) {
  const rule_t *a = pa, *b = pb;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  if (a->kind == FLT_PHRASE) {
    int c = ta_bytes_cmp(a->str, a->first_len, b->str, b->first_len);
    if (c) return c;
  }
  return ta_bytes_cmp(a->str, a->len, b->str, b->len);
}

static uint32_t pow2_at_least(size_t n, uint32_t min) {
  uint32_t p = min;
  while (p < n) p *= 2;
  return p;
}

/* Loads items[0..n) (already distinct) into set; takes ownership of items. */
static int set_build(flt__set_t *set, const char *arena, flt__str_t *items, uint32_t n) {
  set->items = items;
  set->n_items = n;
  uint32_t cap = pow2_at_least((size_t)n * 2, 8);
  uint32_t bits = pow2_at_least((size_t)n * 16, 512);
  set->slots = calloc(cap, sizeof *set->slots);
  set->bloom = calloc(bits / 64, sizeof *set->bloom);
  if (set->slots == NULL || set->bloom == NULL) return TA_ENOMEM;
  set->mask = cap - 1;
  set->bloom_mask = bits - 1;
  for (uint32_t k = 0; k < n; k++) {
    uint64_t h = ta_hash64(arena + items[k].off, items[k].len, 0);
    uint32_t bit = (uint32_t)(h >> 40) & set->bloom_mask;
    set->bloom[bit >> 6] |= 1ull << (bit & 63);
    uint32_t i = (uint32_t)h & set->mask;
    while (set->slots[i].item != 0) i = (i + 1) & set->mask;
    set->slots[i].tag = (uint32_t)(h >> 32);
    set->slots[i].item = k + 1;
  }
  return 0;
}

/* Loads items[0..n) (sorted, prefix-free) into a prefix set; takes ownership of items. */
static int pset_build(flt__pset_t *set, const char *arena, flt__str_t *items, uint32_t n) {
  set->items = items;
  set->n_items = n;
  if (n == 0) return 0;
  set->head = calloc(FLT__HEAD_BITS / 64, sizeof *set->head);
  if (set->head == NULL) return TA_ENOMEM;
  set->head_len = FLT__HEAD;
  for (uint32_t i = 0; i < n; i++)
    if (items[i].len < set->head_len) set->head_len = items[i].len;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t bit = ta_head_hash16(arena + items[i].off, set->head_len);
    set->head[bit >> 6] |= 1ull << (bit & 63);
  }
  return 0;
}

/* The version and the counts: ta_hash64 chained over the rules as written (each distinct rule
 * once, sorted, each bucket after its digit; the disguise views are derived from them). Its
 * loads are little endian, so a rule set has one version everywhere. */
static void version_of(const builder_t *b, flt_ruleset_t *rs) {
  const char *arena = b->arena.p;
  uint64_t version = ta_hash64(MATCHER, sizeof MATCHER - 1, 0);
  size_t i = 0;
  for (int k = 0; k < N_BUCKETS; k++) {
    char digit = (char)('0' + k);
    version = ta_hash64(&digit, 1, version);
    while (i < b->n_rules && b->rules[i].bucket == k) {
      size_t j = i;
      int written = 0;
      while (j < b->n_rules && cmp_rule(&b->rules[i], &b->rules[j]) == 0)
        written |= !b->rules[j++].derived;
      if (written) {
        version = ta_hash64(arena + b->rules[i].off, b->rules[i].len, version);
        rs->counts[b->rules[i].kind]++;
      }
      i = j;
    }
  }
  rs->version = version;
  for (int k = 0; k < FLT_KIND_COUNT; k++) rs->n_rules += rs->counts[k];
}

static int compile(builder_t *b, flt_ruleset_t *rs) {
  const char *arena = b->arena.p;
  for (size_t i = 0; i < b->n_rules; i++) b->rules[i].str = arena + b->rules[i].off;
  if (b->n_rules) qsort(b->rules, b->n_rules, sizeof *b->rules, cmp_rule);
  version_of(b, rs);

  /* Keep the distinct rules; for prefixes and stems also drop any that a shorter one covers,
   * so those sets are prefix-free. In sorted order every string between p and a string
   * starting with p also starts with p, so comparing with the last kept one is enough. */
  size_t kept = 0;
  for (size_t i = 0; i < b->n_rules; i++) {
    rule_t *r = &b->rules[i];
    if (kept > 0) {
      rule_t *last = &b->rules[kept - 1];
      if (last->bucket == r->bucket) {
        const char *ls = arena + last->off, *rsx = arena + r->off;
        if (last->len == r->len && memcmp(ls, rsx, r->len) == 0) continue;
        if ((r->bucket == FLT_PREFIX || r->bucket == BUCKET_STAR) && last->len < r->len &&
            memcmp(ls, rsx, last->len) == 0)
          continue;
      }
    }
    b->rules[kept++] = *r;
  }
  b->n_rules = kept;

  size_t start = 0;
  for (int k = 0; k < N_BUCKETS; k++) {
    size_t end = start;
    while (end < b->n_rules && b->rules[end].bucket == k) end++;
    size_t n = end - start;
    flt__str_t *items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL) return TA_ENOMEM;
    uint32_t n_items = 0;
    for (size_t i = start; i < end; i++) {
      const rule_t *r = &b->rules[i];
      items[n_items++] = (flt__str_t){r->off, r->len};
      if (k == FLT_PHRASE) rs->phrase_ntok |= 1ull << (r->n_tok - 1);
    }
    if (k == FLT_PHRASE) {
      /* sorted by first token, so equal first tokens are neighbours */
      flt__str_t *firsts = calloc(n ? n : 1, sizeof *firsts);
      if (firsts == NULL) {
        free(items);
        return TA_ENOMEM;
      }
      uint32_t n_firsts = 0;
      for (size_t i = start; i < end; i++) {
        const rule_t *r = &b->rules[i];
        if (n_firsts > 0 && firsts[n_firsts - 1].len == r->first_len &&
            memcmp(arena + firsts[n_firsts - 1].off, r->str, r->first_len) == 0)
          continue;
        firsts[n_firsts++] = (flt__str_t){r->off, r->first_len};
      }
      int rc = set_build(&rs->phrase_first, arena, firsts, n_firsts);
      if (rc < 0) {
        free(items);
        return rc;
      }
    }
    int rc;
    switch (k) {
    case FLT_WORD:
      rc = set_build(&rs->word, arena, items, n_items);
      break;
    case FLT_PHRASE:
      rc = set_build(&rs->phrase, arena, items, n_items);
      break;
    case FLT_EXACT:
      rc = set_build(&rs->exact, arena, items, n_items);
      break;
    default:
      rc = pset_build(k == FLT_PREFIX ? &rs->prefix : &rs->star, arena, items, n_items);
      break;
    }
    if (rc < 0) return rc;
    start = end;
  }
  return 0;
}

/* What a whole file must be beyond its lines: not empty, every line ended (the last one too: a
 * file cut short while written would otherwise pass for fewer rules), and a file without rules
 * says so with a comment. Fills err and returns TA_EPARSE, or 0. */
static int file_shape(const char *text, size_t len, const builder_t *b, ta_diag_t *err) {
  if (len == 0) {
    set_error(err, 0,
              "the rules file is empty; a file with no rules says so with a comment line "
              "(e.g. '# no rules')");
    return TA_EPARSE;
  }
  if (text[len - 1] != '\n') {
    unsigned lines = 1;
    for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p++)
      lines++;
    set_error(err, lines,
              "the last line has no line end: the file looks cut short (end every line, the "
              "last one too, with a newline)");
    return TA_EPARSE;
  }
  if (b->n_rules == 0 && b->comments == 0) {
    set_error(err, 0,
              "no rules and no comment: a file with no rules says so with a comment line "
              "(e.g. '# no rules')");
    return TA_EPARSE;
  }
  return 0;
}

/* flt_compile, and for whole_file 0 any text (the empty rule set). */
static int compile_text(const char *text, size_t len, int whole_file, flt_ruleset_t **out,
                        ta_diag_t *err) {
  if (out == NULL || (text == NULL && len > 0)) return TA_EINVAL;
  *out = NULL;
  ta_diag_init(err, NULL);
  if (len > FLT_MAX_TEXT) {
    set_error(err, 0, "rules file is %zu bytes; the limit is %u", len, FLT_MAX_TEXT);
    if (err) err->code = TA_ETOOLONG;
    return TA_ETOOLONG;
  }
  builder_t b = {0};
  int rc = parse_text(&b, text ? text : "", len, err);
  if (rc == 0 && whole_file) rc = file_shape(text, len, &b, err);
  flt_ruleset_t *rs = NULL;
  if (rc == 0) {
    rs = calloc(1, sizeof *rs);
    if (rs == NULL) rc = TA_ENOMEM;
  }
  if (rc == 0) {
    rs->text = malloc(len + 1);
    if (rs->text == NULL) rc = TA_ENOMEM;
  }
  if (rc == 0) {
    if (len) memcpy(rs->text, text, len);
    rs->text[len] = '\0';
    rs->text_len = len;
    rc = compile(&b, rs);
  }
  free(b.rules);
  if (rc < 0) {
    if (rc == TA_ENOMEM) set_error(err, 0, "out of memory");
    if (err) err->code = rc;
    ta_buf_free(&b.arena);
    if (rs) rs->arena = NULL;
    flt_ruleset_free(rs);
    return rc;
  }
  rs->arena = b.arena.p;
  rs->arena_len = b.arena.len;
  *out = rs;
  return 0;
}

int flt_compile(const char *text, size_t len, flt_ruleset_t **out, ta_diag_t *err) {
  return compile_text(text, len, 1, out, err);
}

int flt_compile_file(const char *path, flt_ruleset_t **out, ta_diag_t *err) {
  if (path == NULL || out == NULL) return TA_EINVAL;
  *out = NULL;
  ta_buf_t buf = {0};
  ta_diag_t rd;
  /* the safe read: a FIFO or a device at path is refused, not waited on */
  int rc = ta_read_file(path, FLT_MAX_TEXT, &buf, &rd);
  if (rc != 0) {
    char msg[sizeof rd.msg + 64];
    ta_diag_init(err, NULL);
    set_error(err, 0, "%s", ta_diag_format(&rd, msg, sizeof msg));
    if (err) err->code = rc;
    return rc;
  }
  rc = flt_compile(buf.p, buf.len, out, err);
  ta_buf_free(&buf);
  return rc;
}

int flt_ruleset_empty(flt_ruleset_t **out) {
  return compile_text("", 0, 0, out, NULL);
}

void flt_ruleset_free(flt_ruleset_t *rs) {
  if (rs == NULL) return;
  flt__set_t *sets[] = {&rs->word, &rs->phrase, &rs->exact, &rs->phrase_first};
  for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
    free(sets[k]->slots);
    free(sets[k]->bloom);
    free(sets[k]->items);
  }
  free(rs->prefix.items);
  free(rs->prefix.head);
  free(rs->star.items);
  free(rs->star.head);
  free(rs->arena);
  free(rs->text);
  free(rs);
}

int flt_get_info(const flt_ruleset_t *rs, flt_info_t *out) {
  if (rs == NULL || out == NULL) return TA_EINVAL;
  memset(out, 0, sizeof *out);
  out->version = rs->version;
  snprintf(out->version_hex, sizeof out->version_hex, "%016llx", (unsigned long long)rs->version);
  for (int k = 0; k < FLT_KIND_COUNT; k++) out->rules[k] = rs->counts[k];
  out->text = rs->text;
  out->text_len = rs->text_len;
  return 0;
}

size_t flt_rule_count(const flt_ruleset_t *rs) {
  return rs ? rs->n_rules : 0;
}
