/*
 * The label symbols of a trie file (docs/FORMAT.md, "SYMBOLS"): the writer's side trains a static
 * table of up to 255 symbols of 1..8 bytes on a sample of the trie's labels (FSST-like: each
 * round parses the sample with the table so far and keeps the symbols, and the joins of two
 * neighbours, that save the most bytes) and codes each label alone with the fewest codes (a
 * shortest parse; a byte no symbol starts is escaped). The reader's side loads the table for
 * trie__label, which decodes a label 8 bytes at a time.
 */
#include "trie_int.h"

#include <stdlib.h>

/* ---- Parsing a label with a table --------------------------------------------------------- */

#define PIECE_ESCAPE 0xffffu

/* The shortest coding of label[0..len) (len <= TA_MAX_KEY): choice[i] = the symbol that starts
 * at byte i of it, or PIECE_ESCAPE, following the choices from 0. Longest symbol first on equal
 * cost, so the parse is one answer for one table. */
static void parse(const trie__symtab_t *t, const uint8_t *label, size_t len, uint16_t *choice) {
  uint16_t cost[TA_MAX_KEY + 1];
  cost[len] = 0;
  for (size_t i = len; i-- > 0;) {
    unsigned best = 2u + cost[i + 1];
    uint16_t pick = PIECE_ESCAPE;
    uint8_t b = label[i];
    for (unsigned j = t->first_at[b]; j < t->first_at[b + 1]; j++) {
      unsigned s = t->by_first[j], l = t->len[s];
      if (l > len - i || 1u + cost[i + l] >= best || memcmp(t->sym[s], label + i, l) != 0) continue;
      best = 1u + cost[i + l];
      pick = (uint16_t)s;
    }
    cost[i] = (uint16_t)best;
    choice[i] = pick;
  }
}

size_t trie__sym_encode(const trie__symtab_t *t, const uint8_t *label, size_t len, uint8_t *out) {
  uint16_t choice[TA_MAX_KEY];
  parse(t, label, len, choice);
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    if (choice[i] == PIECE_ESCAPE) {
      out[n++] = TRIE_SYM_ESCAPE;
      out[n++] = label[i++];
    } else {
      out[n++] = (uint8_t)choice[i];
      i += t->len[choice[i]];
    }
  }
  return n;
}

/* ---- Training ------------------------------------------------------------------------------ */

typedef struct {
  uint8_t bytes[8]; /* zero padded */
  uint32_t count;   /* 0: a free slot */
  uint8_t len;
} cand_t;

typedef struct {
  cand_t *v;
  size_t mask;
} counts_t;

static void count_piece(counts_t *c, const uint8_t *p, size_t len) {
  uint8_t key[8] = {0};
  memcpy(key, p, len);
  size_t h = (size_t)ta_hash64(key, 8, len) & c->mask;
  for (;; h = (h + 1) & c->mask) {
    cand_t *e = &c->v[h];
    if (e->count == 0) {
      memcpy(e->bytes, key, 8);
      e->len = (uint8_t)len;
      e->count = 1;
      return;
    }
    if (e->len == len && memcmp(e->bytes, key, 8) == 0) {
      e->count++;
      return;
    }
  }
}

/* The bytes a symbol would save: its count x its length; a single byte saves its escape too. */
static uint64_t gain(const cand_t *c) {
  return (uint64_t)c->count * (c->len == 1 ? 2 : c->len);
}

/* Most bytes saved first, then longer, then by bytes: a total order, so the table does not
 * depend on qsort's handling of ties. */
static int cmp_gain(const void *x, const void *y) {
  const cand_t *a = x, *b = y;
  uint64_t ga = gain(a), gb = gain(b);
  if (ga != gb) return ga > gb ? -1 : 1;
  if (a->len != b->len) return a->len > b->len ? -1 : 1;
  return memcmp(a->bytes, b->bytes, 8);
}

/* By first byte, longest first, then by bytes: the order of the codes in the file, which is
 * also the order the parse tries them in. */
static int cmp_code(const void *x, const void *y) {
  const cand_t *a = x, *b = y;
  if (a->bytes[0] != b->bytes[0]) return a->bytes[0] < b->bytes[0] ? -1 : 1;
  if (a->len != b->len) return a->len > b->len ? -1 : 1;
  return memcmp(a->bytes, b->bytes, 8);
}

/* Makes t the table of the symbols v[0..n) (n <= TRIE_SYM_MAX), in code order. */
static void set_table(trie__symtab_t *t, cand_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_code);
  memset(t, 0, sizeof *t);
  t->n = (uint32_t)n;
  for (size_t i = 0; i < n; i++) {
    t->len[i] = v[i].len;
    memcpy(t->sym[i], v[i].bytes, 8);
    t->by_first[i] = (uint8_t)i;
  }
  size_t i = 0;
  for (unsigned b = 0; b <= 256; b++) {
    while (b < 256 && i < n && v[i].bytes[0] < b) i++;
    t->first_at[b] = (uint16_t)(b == 256 ? n : i);
  }
}

int trie__sym_train(const uint8_t *sample, const size_t *off, size_t n, trie__symtab_t *t) {
  memset(t, 0, sizeof *t);
  size_t total = off[n] - off[0], cap = 1024;
  while (cap < 4 * total) cap *= 2; /* at most two pieces a byte: a table at most half full */
  counts_t c = {calloc(cap, sizeof *c.v), cap - 1};
  uint16_t *choice = malloc(TA_MAX_KEY * sizeof *choice);
  if (c.v == NULL || choice == NULL) {
    free(c.v);
    free(choice);
    return TA_ENOMEM;
  }
  for (unsigned round = 0; round < TRIE_SYM_ROUNDS; round++) {
    memset(c.v, 0, cap * sizeof *c.v);
    for (size_t i = 0; i < n; i++) {
      const uint8_t *s = sample + off[i];
      size_t len = off[i + 1] - off[i], prev_at = 0, prev_len = 0;
      if (len > TA_MAX_KEY) continue; /* no label is: the keys are at most that long */
      parse(t, s, len, choice);
      for (size_t at = 0; at < len;) {
        size_t l = choice[at] == PIECE_ESCAPE ? 1 : t->len[choice[at]];
        count_piece(&c, s + at, l);
        if (prev_len > 0 && prev_len + l <= TRIE_SYM_LEN_MAX)
          count_piece(&c, s + prev_at, prev_len + l);
        prev_at = at;
        prev_len = l;
        at += l;
      }
    }
    size_t m = 0;
    for (size_t h = 0; h < cap; h++)
      if (c.v[h].count > 0) c.v[m++] = c.v[h];
    qsort(c.v, m, sizeof *c.v, cmp_gain);
    set_table(t, c.v, m < TRIE_SYM_MAX ? m : TRIE_SYM_MAX);
  }
  free(c.v);
  free(choice);
  return 0;
}

/* ---- The section --------------------------------------------------------------------------- */

size_t trie__sym_section(const trie__symtab_t *t, uint8_t *out) {
  size_t at = 4 + t->n;
  for (uint32_t i = 0; i < t->n; i++) {
    if (out != NULL) {
      out[4 + i] = t->len[i];
      memcpy(out + at, t->sym[i], t->len[i]);
    }
    at += t->len[i];
  }
  if (out != NULL) trie__store_u32(out, t->n);
  return at;
}

int trie__sym_load(trie_reader_t *r, const uint8_t *sect, uint64_t len) {
  if (len < 4) return TA_ECORRUPT;
  uint32_t n = trie__load_u32(sect);
  if (n > TRIE_SYM_MAX || 4 + (uint64_t)n > len) return TA_ECORRUPT;
  memset(r->sym_len, 0, sizeof r->sym_len);
  memset(r->sym, 0, sizeof r->sym);
  uint64_t at = 4 + n;
  for (uint32_t i = 0; i < n; i++) {
    unsigned l = sect[4 + i];
    if (l > TRIE_SYM_LEN_MAX || l > len - at) return TA_ECORRUPT;
    memcpy(r->sym[i], sect + at, l);
    r->sym_len[i] = (uint8_t)l;
    at += l;
  }
  if (at != len) return TA_ECORRUPT;
  r->sym_sect = sect;
  r->n_sym = n;
  return 0;
}

/* ---- The labels of a trie, from its keys --------------------------------------------------- */

typedef struct {
  ta_buf_t bytes;
  size_t *off;
  size_t n, cap, stride, seen;
} sample_t;

/* A label of the trie, key[from .. to) (from < to), as stored: without its first byte, which
 * its parent's table holds. Every stride-th goes to the sample, while it fits. */
static int sample_label(sample_t *s, const trie__wkey_t *key, size_t from, size_t to) {
  from++;
  if (s->seen++ % s->stride != 0 || to - from > TRIE_SYM_SAMPLE_BYTES - s->bytes.len) return 0;
  int rc;
  if (s->n + 2 > s->cap &&
      (rc = ta_grow((void **)&s->off, &s->cap, s->n + 2, sizeof *s->off, 1024)) != 0)
    return rc;
  if ((rc = ta_buf_put(&s->bytes, key->key + from, to - from)) != 0) return rc;
  s->off[++s->n] = s->bytes.len;
  return 0;
}

int trie__sym_train_keys(const trie__wkey_t *keys, size_t n, trie__symtab_t *t) {
  /* The nodes on the path of the last key, as (depth at the end of the label, a key below): a
   * node's label is final when a key leaves its subtree, and a key that leaves it in the middle
   * of its label splits it there (a branching node). */
  typedef struct {
    size_t depth, key;
  } open_t;
  open_t *st = NULL;
  size_t cap = 0, top = 0;
  sample_t s = {{0}, NULL, 0, 0, n / (TRIE_SYM_SAMPLE * 2 / 3) + 1, 0};
  int rc = ta_grow((void **)&st, &cap, 1, sizeof *st, 64);
  if (rc == 0 && (rc = ta_grow((void **)&s.off, &s.cap, 2, sizeof *s.off, 1024)) == 0) s.off[0] = 0;
  if (rc == 0) st[top++] = (open_t){0, 0};
  for (size_t i = 0; rc == 0 && i <= n; i++) {
    size_t l = 0; /* common prefix with the key before; the end closes every node */
    if (i > 0 && i < n) {
      size_t m = keys[i].len < keys[i - 1].len ? keys[i].len : keys[i - 1].len;
      while (l < m && keys[i].key[l] == keys[i - 1].key[l]) l++;
    }
    while (rc == 0 && st[top - 1].depth > l) {
      open_t x = st[--top];
      size_t parent = st[top - 1].depth;
      if (parent < l) {
        rc = sample_label(&s, &keys[x.key], l, x.depth);
        st[top++] = (open_t){l, x.key};
      } else {
        rc = sample_label(&s, &keys[x.key], parent, x.depth);
      }
    }
    if (rc == 0 && i < n && keys[i].len > st[top - 1].depth) {
      if (top == cap && (rc = ta_grow((void **)&st, &cap, top + 1, sizeof *st, 64)) != 0) break;
      st[top++] = (open_t){keys[i].len, i};
    }
  }
  if (rc == 0) rc = trie__sym_train((const uint8_t *)s.bytes.p, s.off, s.n, t);
  free(st);
  free(s.off);
  ta_buf_free(&s.bytes);
  return rc;
}
