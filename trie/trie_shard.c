/*
 * Shard maps (SPEC §11; format in docs/FORMAT.md, "Shard map"): which of N prefix shards holds
 * the keys that start with a given code point. The builder plans one from the weight of each
 * first code point (trie_shard_plan: a first code point is never split, the heaviest go first
 * to the lightest shard) and writes it; the server parses it (every line checked, errors with
 * the line number) and routes a normalized prefix by its first code point.
 */
#include "trie_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARD_MAGIC "typeahead-shards"
#define SHARD_MAX_CP 0x10FFFFu

typedef struct {
  uint32_t from, to; /* code points, inclusive */
  uint32_t shard;
} shard_range_t;

struct trie_shard_map {
  unsigned n_shards;
  size_t n_ranges;
  shard_range_t *ranges;            /* ascending, contiguous, covering 0..SHARD_MAX_CP */
  uint64_t weight[TRIE_MAX_SHARDS]; /* the plan's weights (0 when parsed) */
};

void trie_shard_free(trie_shard_map_t *m) {
  if (m == NULL) return;
  free(m->ranges);
  free(m);
}

unsigned trie_shard_count(const trie_shard_map_t *m) {
  return m->n_shards;
}

uint64_t trie_shard_weight(const trie_shard_map_t *m, unsigned shard) {
  return shard < m->n_shards ? m->weight[shard] : 0;
}

unsigned trie_shard_of(const trie_shard_map_t *m, uint32_t cp) {
  size_t lo = 0, hi = m->n_ranges; /* the range holding cp: ranges cover every code point */
  if (cp > SHARD_MAX_CP) cp = SHARD_MAX_CP;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->ranges[mid].from <= cp)
      lo = mid;
    else
      hi = mid;
  }
  return m->ranges[lo].shard;
}

int trie_shard_first_cp(const char *key, size_t len, uint32_t *cp) {
  const unsigned char *s = (const unsigned char *)key;
  size_t n = len == 0 ? 0 : trie__utf8_len(s[0]);
  if (n == 0 || n > len || !trie_utf8_valid(key, n)) return TA_EUTF8;
  uint32_t v = n == 1 ? s[0] : n == 2 ? s[0] & 0x1Fu : n == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;
  for (size_t i = 1; i < n; i++) v = v << 6 | (s[i] & 0x3Fu);
  *cp = v;
  return 0;
}

uint64_t trie_shard_hash(const trie_shard_map_t *m) {
  uint64_t h = ta_hash64("typeahead-shards", 16, m->n_shards);
  for (size_t i = 0; i < m->n_ranges; i++) {
    uint8_t b[12];
    trie__store_u32(b, m->ranges[i].from);
    trie__store_u32(b + 4, m->ranges[i].to);
    trie__store_u32(b + 8, m->ranges[i].shard);
    h = ta_hash64(b, sizeof b, h);
  }
  return h;
}

/* ---- A shard's trie ------------------------------------------------------------------------ */

typedef struct {
  const trie_shard_map_t *m;
  unsigned shard;
  uint32_t cp; /* the first code point of another shard */
} shard_check_t;

/* A head as long as its first code point's sequence is that code point (keys are valid UTF-8:
 * verify checked them); 1 stops the walk at one of another shard. */
static int check_head(void *ctx, const uint8_t *head, size_t n) {
  shard_check_t *c = ctx;
  uint32_t cp;
  if (n != trie__utf8_len(head[0]) || trie_shard_first_cp((const char *)head, n, &cp) != 0)
    return 0;
  if (trie_shard_of(c->m, cp) == c->shard) return 0;
  c->cp = cp;
  return 1;
}

int trie_shard_check(const trie_reader_t *r, const trie_shard_map_t *m, unsigned shard,
                     ta_diag_t *diag) {
  if (r == NULL || m == NULL || shard >= m->n_shards) return TA_EINVAL;
  shard_check_t c = {.m = m, .shard = shard};
  int rc = trie__heads(r, check_head, &c);
  if (rc == 1)
    return ta_diag_set(diag, TA_ERANGE,
                       "not shard %u's trie: it holds keys that start with U+%04X, of shard %u "
                       "in the map",
                       shard, (unsigned)c.cp, trie_shard_of(m, c.cp));
  return rc;
}

/* ---- Planning ----------------------------------------------------------------------------- */

typedef struct {
  uint32_t cp;
  uint64_t weight;
} cp_weight_t;

static int by_weight_desc(const void *a, const void *b) {
  const cp_weight_t *x = a, *y = b;
  if (x->weight != y->weight) return x->weight > y->weight ? -1 : 1;
  return x->cp < y->cp ? -1 : x->cp > y->cp;
}

static int by_cp(const void *a, const void *b) {
  const cp_weight_t *x = a, *y = b;
  return x->cp < y->cp ? -1 : x->cp > y->cp;
}

int trie_shard_plan(const uint32_t *cps, const uint64_t *weights, size_t n, unsigned n_shards,
                    trie_shard_map_t **out, ta_diag_t *diag) {
  *out = NULL;
  ta_diag_init(diag, NULL);
  if (n_shards < 1 || n_shards > TRIE_MAX_SHARDS)
    return ta_diag_set(diag, TA_ERANGE, "shards must be 1..%u (got %u)", TRIE_MAX_SHARDS, n_shards);
  if (n < n_shards)
    return ta_diag_set(diag, TA_ERANGE,
                       "%u shards need at least %u distinct first characters; the keys have %zu",
                       n_shards, n_shards, n);
  cp_weight_t *v = malloc(n * sizeof *v);
  trie_shard_map_t *m = calloc(1, sizeof *m);
  if (v == NULL || m == NULL) goto nomem;
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (cps[i] > SHARD_MAX_CP || (i && cps[i] <= cps[i - 1])) {
      free(v);
      trie_shard_free(m);
      return ta_diag_set(diag, TA_EINVAL, "first characters must be ascending code points");
    }
    v[i] = (cp_weight_t){cps[i], weights[i]};
    total += weights[i];
  }
  /* Longest processing time first: each first character, heaviest first, to the lightest
   * shard so far (ties: the lowest number). */
  qsort(v, n, sizeof *v, by_weight_desc);
  m->n_shards = n_shards;
  for (size_t i = 0; i < n; i++) {
    unsigned best = 0;
    for (unsigned s = 1; s < n_shards; s++)
      if (m->weight[s] < m->weight[best]) best = s;
    m->weight[best] += v[i].weight;
    v[i].weight = best; /* from here on: the shard */
  }
  qsort(v, n, sizeof *v, by_cp);
  /* Ranges: each first character's shard, the code points between two of them going with the
   * one before (those before the first: with the first), neighbours of one shard merged. */
  m->ranges = malloc(n * sizeof *m->ranges);
  if (m->ranges == NULL) goto nomem;
  for (size_t i = 0; i < n; i++) {
    uint32_t from = i == 0 ? 0 : v[i].cp;
    uint32_t to = i + 1 < n ? v[i + 1].cp - 1 : SHARD_MAX_CP;
    uint32_t shard = (uint32_t)v[i].weight;
    if (m->n_ranges && m->ranges[m->n_ranges - 1].shard == shard)
      m->ranges[m->n_ranges - 1].to = to;
    else
      m->ranges[m->n_ranges++] = (shard_range_t){from, to, shard};
  }
  free(v);
  /* The balance SPEC §11 asks for: the largest shard at most TRIE_SHARD_MAX_SKEW x the mean. A
   * first character heavier than that on its own makes it impossible with this many shards. */
  uint64_t largest = 0;
  for (unsigned s = 0; s < n_shards; s++)
    if (m->weight[s] > largest) largest = m->weight[s];
  if ((double)largest * n_shards > TRIE_SHARD_MAX_SKEW * (double)total) {
    uint32_t heavy = 0;
    uint64_t heavy_w = 0;
    for (size_t i = 0; i < n; i++)
      if (weights[i] > heavy_w) heavy_w = weights[i], heavy = cps[i];
    unsigned most = (unsigned)((double)total * TRIE_SHARD_MAX_SKEW / (double)heavy_w);
    trie_shard_free(m);
    return ta_diag_set(diag, TA_ERANGE,
                       "%u shards cannot keep the largest within %.2fx the mean: keys starting "
                       "with U+%04X alone are %.1f%% of the weight (at most %u shard%s would)",
                       n_shards, TRIE_SHARD_MAX_SKEW, (unsigned)heavy,
                       100.0 * (double)heavy_w / (double)total, most ? most : 1,
                       most > 1 ? "s" : "");
  }
  *out = m;
  return 0;
nomem:
  free(v);
  trie_shard_free(m);
  return ta_diag_set(diag, TA_ENOMEM, "out of memory planning %u shards", n_shards);
}

/* ---- Text form ---------------------------------------------------------------------------- */

int trie_shard_format(const trie_shard_map_t *m, ta_buf_t *out) {
  char line[160];
  int rc = 0;
  int n = snprintf(line, sizeof line,
                   "# typeahead shard map: a key's shard is the shard of its first code point\n"
                   "%s\t1\nnorm\t%u\nshards\t%u\n",
                   SHARD_MAGIC, TRIE_NORM_VERSION, m->n_shards);
  rc = ta_buf_put(out, line, (size_t)n);
  for (unsigned s = 0; rc == 0 && s < m->n_shards; s++) {
    n = snprintf(line, sizeof line, "# shard %u: weight %llu\n", s,
                 (unsigned long long)m->weight[s]);
    rc = ta_buf_put(out, line, (size_t)n);
  }
  if (rc == 0) rc = ta_buf_put(out, "# from\tto\tshard (code points, hex)\n", 35);
  for (size_t i = 0; rc == 0 && i < m->n_ranges; i++) {
    n = snprintf(line, sizeof line, "%04X\t%04X\t%u\n", (unsigned)m->ranges[i].from,
                 (unsigned)m->ranges[i].to, (unsigned)m->ranges[i].shard);
    rc = ta_buf_put(out, line, (size_t)n);
  }
  return rc;
}

/* A code point in hex (1 to 6 digits, upper or lower case), nothing else. */
static int parse_cp(const char *s, size_t len, uint32_t *out) {
  if (len == 0 || len > 6) return TA_EPARSE;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                        : 16u;
    if (d == 16) return TA_EPARSE;
    v = v << 4 | d;
  }
  if (v > SHARD_MAX_CP) return TA_ERANGE;
  *out = v;
  return 0;
}

/* Splits line[0..len) at TABs into at most max fields; the number found (max + 1: too many). */
static size_t split_tabs(const char *line, size_t len, const char **f, size_t *flen, size_t max) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && line[i] != '\t') continue;
    if (n == max) return max + 1;
    f[n] = line + start;
    flen[n++] = i - start;
    start = i + 1;
  }
  return n;
}

static int field_is(const char *f, size_t len, const char *word) {
  return len == strlen(word) && memcmp(f, word, len) == 0;
}

/* A decimal field as an unsigned in [lo, hi]. */
static int parse_dec(const char *f, size_t len, unsigned lo, unsigned hi, unsigned *out) {
  char buf[16];
  if (len == 0 || len >= sizeof buf) return TA_EPARSE;
  memcpy(buf, f, len);
  buf[len] = '\0';
  return ta_parse_uint(buf, lo, hi, out);
}

int trie_shard_parse(const char *text, size_t len, const char *name, trie_shard_map_t **out,
                     ta_diag_t *diag) {
  *out = NULL;
  ta_diag_init(diag, name);
  trie_shard_map_t *m = calloc(1, sizeof *m);
  if (m == NULL) return ta_diag_set(diag, TA_ENOMEM, "out of memory");
  size_t cap = 0;
  unsigned header = 0; /* header lines seen: magic, norm, shards */
  uint64_t lineno = 0;
  uint32_t next_from = 0;
  int rc = 0, done = 0;
  unsigned char owned[TRIE_MAX_SHARDS] = {0};
  size_t pos = 0;
  while (rc == 0 && pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    if (nl == NULL) {
      lineno++;
      ta_diag_at_line(diag, lineno);
      rc = ta_diag_set(diag, TA_ETRUNC, "the last line has no newline (a cut file?)");
      break;
    }
    const char *line = text + pos;
    size_t n = (size_t)(nl - line);
    pos += n + 1;
    lineno++;
    if (n == 0 || line[0] == '#') continue;
    ta_diag_at_line(diag, lineno);
    const char *f[4];
    size_t fl[4];
    size_t nf = split_tabs(line, n, f, fl, 3);
    if (header == 0) {
      unsigned v = 0;
      if (nf != 2 || !field_is(f[0], fl[0], SHARD_MAGIC))
        rc = ta_diag_set(diag, TA_EBADMAGIC, "not a shard map (expected '%s<TAB>1')", SHARD_MAGIC);
      else if (parse_dec(f[1], fl[1], 1, 1, &v) != 0)
        rc = ta_diag_set(diag, TA_EVERSION, "shard map version '%.*s' is not 1", (int)fl[1], f[1]);
      header++;
    } else if (header == 1) {
      unsigned v = 0;
      if (nf != 2 || !field_is(f[0], fl[0], "norm") || parse_dec(f[1], fl[1], 1, 1000, &v) != 0)
        rc = ta_diag_set(diag, TA_EPARSE, "expected 'norm<TAB>VERSION'");
      else if (v != TRIE_NORM_VERSION)
        rc = ta_diag_set(diag, TA_ENORMVERSION, "made by normalization version %u, this is %u", v,
                         TRIE_NORM_VERSION);
      header++;
    } else if (header == 2) {
      if (nf != 2 || !field_is(f[0], fl[0], "shards") ||
          parse_dec(f[1], fl[1], 1, TRIE_MAX_SHARDS, &m->n_shards) != 0)
        rc = ta_diag_set(diag, TA_EPARSE, "expected 'shards<TAB>N' with N in 1..%u",
                         TRIE_MAX_SHARDS);
      header++;
    } else {
      uint32_t from = 0, to = 0;
      unsigned shard = 0;
      if (done)
        rc = ta_diag_set(diag, TA_EPARSE, "a range after the one that ends at 10FFFF");
      else if (nf != 3 || parse_cp(f[0], fl[0], &from) != 0 || parse_cp(f[1], fl[1], &to) != 0)
        rc = ta_diag_set(diag, TA_EPARSE, "expected 'FROM<TAB>TO<TAB>SHARD' (code points in hex)");
      else if (parse_dec(f[2], fl[2], 0, m->n_shards - 1, &shard) != 0)
        rc = ta_diag_set(diag, TA_ERANGE, "shard '%.*s' is not in 0..%u", (int)fl[2], f[2],
                         m->n_shards - 1);
      else if (from != next_from || to < from)
        rc = ta_diag_set(diag, TA_EPARSE, "range %X..%X: the next range must start at %X", from, to,
                         next_from);
      else if (m->n_ranges == cap &&
               (rc = ta_grow((void **)&m->ranges, &cap, m->n_ranges + 1, sizeof *m->ranges, 64)))
        ta_diag_set(diag, rc, "out of memory");
      else {
        m->ranges[m->n_ranges++] = (shard_range_t){from, to, shard};
        owned[shard] = 1;
        done = to == SHARD_MAX_CP;
        next_from = to + 1;
      }
    }
  }
  if (rc == 0) {
    ta_diag_at_line(diag, 0);
    if (header < 3)
      rc = ta_diag_set(diag, header ? TA_ETRUNC : TA_EEMPTY, "the header lines are missing");
    else if (!done)
      rc = ta_diag_set(diag, TA_ETRUNC, "the ranges end at %X, not at 10FFFF", next_from - 1);
    for (unsigned s = 0; rc == 0 && s < m->n_shards; s++)
      if (!owned[s]) rc = ta_diag_set(diag, TA_EPARSE, "shard %u owns no code point", s);
  }
  if (rc) {
    trie_shard_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int trie_shard_load(const char *path, trie_shard_map_t **out, ta_diag_t *diag) {
  ta_buf_t buf = {0};
  *out = NULL;
  int rc = ta_read_file(path, TRIE_SHARD_MAP_MAX, &buf, diag);
  if (rc == 0) rc = trie_shard_parse((const char *)buf.p, buf.len, path, out, diag);
  ta_buf_free(&buf);
  return rc;
}
