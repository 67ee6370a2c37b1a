/*
 * typeahead: parsing a blocklist rules file and compiling it into a rule set (SPEC §9; syntax in
 * flt.h, layout in flt_int.h). The file is hostile until checked: size, line length, NUL bytes
 * and UTF-8 are checked before anything is normalized, and the first bad line refuses the whole
 * file with its number. Rules are normalized with trie_norm_key, deduplicated, sorted (so the
 * version hash is canonical) and loaded into open-addressing hash sets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flt_int.h"

typedef struct {
  flt_kind_t kind;
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

static int rule_add(builder_t *b, flt_kind_t kind, const char *s, size_t len, size_t first_len,
                    size_t n_tok) {
  int rc;
  if (b->arena.len + len > UINT32_MAX) return TA_ENOMEM; /* offsets are u32 */
  if (b->n_rules == b->rules_cap &&
      (rc = ta_grow((void **)&b->rules, &b->rules_cap, b->n_rules + 1, sizeof *b->rules, 64)) != 0)
    return rc;
  rule_t *r = &b->rules[b->n_rules];
  r->off = (uint32_t)b->arena.len;
  if ((rc = ta_buf_put(&b->arena, s, len)) != 0) return rc;
  r->kind = kind;
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
  if (key_len == 0) {
    set_error(err, lineno, "empty %s rule", flt_kind_name(kind));
    return TA_EPARSE;
  }

  size_t pos = 0, tok, tok_len;
  switch (kind) {
  case FLT_WORD:
    if (!flt__next_token(key, key_len, &pos, &tok, &tok_len) || tok != 0 || tok_len != key_len) {
      set_error(err, lineno,
                "a word rule must be one token (letters, digits, marks); '%.*s' is not "
                "(use phrase:, prefix: or exact:)",
                snippet_len(key, key_len, 60), key);
      return TA_EPARSE;
    }
    return rule_add(b, kind, key, key_len, key_len, 1);
  case FLT_PHRASE: {
    /* canonical form: the tokens joined by one space */
    char canon[TA_MAX_KEY + 1];
    size_t canon_len = 0, first_len = 0, n_tok = 0;
    while (flt__next_token(key, key_len, &pos, &tok, &tok_len)) {
      if (++n_tok > FLT__MAX_PHRASE_TOKENS) {
        set_error(err, lineno, "phrase rule has more than %d tokens", FLT__MAX_PHRASE_TOKENS);
        return TA_EPARSE;
      }
      if (canon_len) canon[canon_len++] = ' ';
      memcpy(canon + canon_len, key + tok, tok_len);
      canon_len += tok_len;
      if (first_len == 0) first_len = tok_len;
    }
    if (canon_len == 0) {
      set_error(err, lineno, "phrase rule has no letters or digits");
      return TA_EPARSE;
    }
    return rule_add(b, kind, canon, canon_len, first_len, n_tok);
  }
  default:
    return rule_add(b, kind, key, key_len, key_len, 1);
  }
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
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
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

static int compile(builder_t *b, flt_ruleset_t *rs) {
  const char *arena = b->arena.p;
  for (size_t i = 0; i < b->n_rules; i++) b->rules[i].str = arena + b->rules[i].off;
  if (b->n_rules) qsort(b->rules, b->n_rules, sizeof *b->rules, cmp_rule);

  /* Keep the distinct rules; for prefixes also drop any that a shorter one covers, so the
   * prefix set is prefix-free. In sorted order every string between p and a string starting
   * with p also starts with p, so comparing with the last kept prefix is enough. */
  size_t kept = 0;
  for (size_t i = 0; i < b->n_rules; i++) {
    rule_t *r = &b->rules[i];
    if (kept > 0) {
      rule_t *last = &b->rules[kept - 1];
      if (last->kind == r->kind) {
        const char *ls = arena + last->off, *rsx = arena + r->off;
        if (last->len == r->len && memcmp(ls, rsx, r->len) == 0) continue;
        if (r->kind == FLT_PREFIX && last->len < r->len && memcmp(ls, rsx, last->len) == 0)
          continue;
      }
    }
    b->rules[kept++] = *r;
  }
  b->n_rules = kept;

  /* The version: ta_hash64 chained over the canonical rules (sorted, distinct, each kind
   * after its digit). Its loads are little endian, so a rule set has one version everywhere. */
  uint64_t version = 0;
  size_t start = 0;
  for (int k = 0; k < FLT_KIND_COUNT; k++) {
    size_t end = start;
    while (end < b->n_rules && b->rules[end].kind == (flt_kind_t)k) end++;
    size_t n = end - start;
    char digit = (char)('0' + k);
    version = ta_hash64(&digit, 1, version);
    for (size_t i = start; i < end; i++)
      version = ta_hash64(arena + b->rules[i].off, b->rules[i].len, version);

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
    int rc = set_build(&rs->sets[k], arena, items, n_items);
    if (rc < 0) return rc;
    if (k == FLT_PREFIX && n_items) {
      rs->prefix_head = calloc(FLT__HEAD_BITS / 64, sizeof *rs->prefix_head);
      if (rs->prefix_head == NULL) return TA_ENOMEM;
      rs->prefix_head_len = FLT__HEAD;
      for (uint32_t i = 0; i < n_items; i++)
        if (items[i].len < rs->prefix_head_len) rs->prefix_head_len = items[i].len;
      for (uint32_t i = 0; i < n_items; i++) {
        uint32_t bit = flt__head_hash(arena + items[i].off, rs->prefix_head_len);
        rs->prefix_head[bit >> 6] |= 1ull << (bit & 63);
      }
    }
    start = end;
  }
  rs->version = version;
  for (int k = 0; k < FLT_KIND_COUNT; k++) rs->n_rules += rs->sets[k].n_items;
  return 0;
}

int flt_compile(const char *text, size_t len, flt_ruleset_t **out, ta_diag_t *err) {
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
  return flt_compile("", 0, out, NULL);
}

void flt_ruleset_free(flt_ruleset_t *rs) {
  if (rs == NULL) return;
  for (int k = 0; k < FLT_KIND_COUNT; k++) {
    free(rs->sets[k].slots);
    free(rs->sets[k].bloom);
    free(rs->sets[k].items);
  }
  free(rs->phrase_first.slots);
  free(rs->phrase_first.bloom);
  free(rs->phrase_first.items);
  free(rs->prefix_head);
  free(rs->arena);
  free(rs->text);
  free(rs);
}

int flt_get_info(const flt_ruleset_t *rs, flt_info_t *out) {
  if (rs == NULL || out == NULL) return TA_EINVAL;
  memset(out, 0, sizeof *out);
  out->version = rs->version;
  snprintf(out->version_hex, sizeof out->version_hex, "%016llx", (unsigned long long)rs->version);
  for (int k = 0; k < FLT_KIND_COUNT; k++) out->rules[k] = rs->sets[k].n_items;
  out->text = rs->text;
  out->text_len = rs->text_len;
  return 0;
}

size_t flt_rule_count(const flt_ruleset_t *rs) {
  return rs ? rs->n_rules : 0;
}
