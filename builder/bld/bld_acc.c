/*
 * The builder's accumulator (bld.h): (raw spelling, weight) pairs in, per-key totals and the
 * heaviest display spelling of each key out. Layout and growth rules: bld_int.h. The display
 * rule is SPEC §3: most frequent spelling after trie_norm_display, ties to the bytewise
 * smallest.
 */
#include "bld_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bld_acc_new(bld_acc_t **out) {
  if (!out) return TA_EINVAL;
  *out = NULL;
  bld_acc_t *a = calloc(1, sizeof *a);
  if (!a) return TA_ENOMEM;
  *out = a;
  return 0;
}

void bld_acc_free(bld_acc_t *acc) {
  if (!acc) return;
  free(acc->arena);
  free(acc->keys);
  free(acc->spells);
  free(acc->ktab.slots);
  free(acc->stab.slots);
  free(acc);
}

static int acc_arena_put(bld_acc_t *a, const char *s, size_t len, uint64_t *off) {
  int rc = ta_grow((void **)&a->arena, &a->arena_cap, a->arena_len + len, 1, 1 << 16);
  if (rc < 0) return rc;
  memcpy(a->arena + a->arena_len, s, len);
  *off = a->arena_len;
  a->arena_len += len;
  return 0;
}

/* Table of 2^bits slots; tables stay at most 70% full. A slot's home is the top bits of its
 * 32-bit tag (the hash's high half), so growing moves tags without touching the strings, and
 * walking the old table in order fills the new one almost sequentially. */
static int table_init(bld__table_t *t, unsigned bits) {
  t->slots = calloc((size_t)1 << bits, sizeof *t->slots);
  if (!t->slots) return TA_ENOMEM;
  t->bits = bits;
  t->mask = ((uint64_t)1 << bits) - 1;
  t->used = 0;
  return 0;
}

static uint64_t table_home(const bld__table_t *t, uint32_t tag) {
  return (uint64_t)(tag >> (32 - t->bits));
}

static int table_grow(bld__table_t *t) {
  if (t->bits >= 32) return TA_ENOMEM;
  bld__table_t nt;
  int rc = table_init(&nt, t->bits + 1);
  if (rc < 0) return rc;
  for (uint64_t i = 0; i <= t->mask; i++) {
    bld__slot_t s = t->slots[i];
    if (!s.idx1) continue;
    uint64_t j = table_home(&nt, s.tag);
    while (nt.slots[j].idx1) j = (j + 1) & nt.mask;
    nt.slots[j] = s;
  }
  nt.used = t->used;
  free(t->slots);
  *t = nt;
  return 0;
}

static int table_ready(bld__table_t *t) {
  if (!t->slots) return table_init(t, 12);
  if ((t->used + 1) * 10 > (t->mask + 1) * 7) return table_grow(t);
  return 0;
}

/* Slot where s lives or would go. */
static bld__slot_t *table_find(const bld__table_t *t, const bld_acc_t *a, int is_key, const char *s,
                               size_t len, uint64_t h) {
  uint32_t tag = (uint32_t)(h >> 32);
  uint64_t j = table_home(t, tag);
  for (;;) {
    bld__slot_t *slot = &t->slots[j];
    if (!slot->idx1) return slot;
    if (slot->tag == tag) {
      uint64_t off;
      uint32_t l;
      if (is_key) {
        off = a->keys[slot->idx1 - 1].off;
        l = a->keys[slot->idx1 - 1].len;
      } else {
        off = a->spells[slot->idx1 - 1].off;
        l = a->spells[slot->idx1 - 1].len;
      }
      if (l == len && memcmp(a->arena + off, s, len) == 0) return slot;
    }
    j = (j + 1) & t->mask;
  }
}

/* The index of s[0..len) in keys[] (is_key) or spells[] (else, a spelling of key ki), added
 * with its bytes in the arena when it is new. */
static int acc_intern(bld_acc_t *a, int is_key, const char *s, size_t len, uint32_t ki,
                      uint32_t *idx) {
  bld__table_t *t = is_key ? &a->ktab : &a->stab;
  int rc = table_ready(t);
  if (rc < 0) return rc;
  uint64_t h = ta_hash64(s, len, 0);
  bld__slot_t *slot = table_find(t, a, is_key, s, len, h);
  if (slot->idx1) {
    *idx = slot->idx1 - 1;
    return 0;
  }
  size_t n = is_key ? a->nkeys : a->nspells;
  if (n >= BLD__SELF - 1) return TA_ENOMEM; /* indexes are 32-bit, two values are reserved */
  rc = is_key ? ta_grow((void **)&a->keys, &a->keys_cap, n + 1, sizeof *a->keys, 1 << 12)
              : ta_grow((void **)&a->spells, &a->spells_cap, n + 1, sizeof *a->spells, 1 << 12);
  uint64_t off;
  if (rc < 0 || (rc = acc_arena_put(a, s, len, &off)) < 0) return rc;
  if (is_key)
    a->keys[a->nkeys++] = (bld__key_t){off, (uint32_t)len, BLD__NONE, 0.0, 0.0, -1.0};
  else
    a->spells[a->nspells++] = (bld__spell_t){off, (uint32_t)len, ki, 0.0};
  slot->idx1 = (uint32_t)n + 1;
  slot->tag = (uint32_t)(h >> 32);
  t->used++;
  *idx = (uint32_t)n;
  return 0;
}

/* 1 when spelling (xo, xl, xw) should be the display form rather than (yo, yl, yw): heavier, or
 * as heavy and bytewise smaller. */
static int spell_better(const bld_acc_t *a, uint64_t xo, uint32_t xl, double xw, uint64_t yo,
                        uint32_t yl, double yw) {
  if (xw != yw) return xw > yw;
  return ta_bytes_cmp(a->arena + xo, xl, a->arena + yo, yl) < 0;
}

int bld_acc_add(bld_acc_t *a, const char *raw, size_t len, double count, double weight) {
  if (!a || (!raw && len) || a->consumed) return TA_EINVAL;
  if (!(weight >= 0) || isinf(weight) || !(count >= 0) || isinf(count)) return TA_ERANGE;
  if (len > TA_MAX_KEY) return TA_ETOOLONG;
  char key[TA_MAX_KEY + 1], disp[TA_MAX_KEY + 1];
  size_t klen, dlen;
  int rc = trie_norm_key(raw, len, key, sizeof key, &klen);
  if (rc == TA_ENOSPC) return TA_ETOOLONG;
  if (rc < 0) return rc;
  if (klen == 0) return TA_EEMPTY;
  rc = trie_norm_display(raw, len, disp, sizeof disp, &dlen);
  if (rc == TA_ENOSPC) return TA_ETOOLONG;
  if (rc < 0) return rc;

  /* The key. */
  uint32_t ki;
  if ((rc = acc_intern(a, 1, key, klen, 0, &ki)) < 0) return rc;

  bld__key_t *k = &a->keys[ki];
  /* A total that would overflow (counts near the largest double) is refused before anything
   * is added: a score must be finite. A spelling's weight is part of its key's score. */
  if (isinf(k->score + weight) || isinf(k->count + count)) return TA_ERANGE;
  uint32_t cand;
  uint64_t cand_off;
  double cand_w;
  if (dlen == klen && memcmp(disp, key, klen) == 0) {
    /* The spelling is the key itself: no table entry, its weight lives in the key. */
    if (k->self_weight < 0) {
      k->self_weight = 0;
      a->nself++;
    }
    k->self_weight += weight;
    cand = BLD__SELF;
    cand_off = k->off;
    cand_w = k->self_weight;
  } else {
    if ((rc = acc_intern(a, 0, disp, dlen, ki, &cand)) < 0) return rc;
    bld__spell_t *sp = &a->spells[cand];
    sp->weight += weight;
    cand_off = sp->off;
    cand_w = sp->weight;
  }
  k->score += weight;
  k->count += count;
  if (k->best == BLD__NONE) {
    k->best = cand;
  } else if (k->best != cand) {
    uint64_t best_off;
    uint32_t best_len;
    bld__display_of(a, k, &best_off, &best_len);
    double best_w = k->best == BLD__SELF ? k->self_weight : a->spells[k->best].weight;
    if (spell_better(a, cand_off, (uint32_t)dlen, cand_w, best_off, best_len, best_w))
      k->best = cand;
  }
  a->adds++;
  return 0;
}

void bld_acc_stats(const bld_acc_t *a, bld_acc_stats_t *out) {
  out->adds = a->adds;
  out->keys = a->nkeys;
  out->spellings = a->nspells + a->nself;
  out->arena_bytes = a->arena_len;
}

int bld_acc_get(const bld_acc_t *a, const char *raw, size_t len, double *score,
                const char **display, size_t *display_len) {
  if (!a || a->consumed) return TA_EINVAL;
  char key[TA_MAX_KEY + 1];
  size_t klen;
  int rc = trie_norm_key(raw, len, key, sizeof key, &klen);
  if (rc < 0) return rc;
  if (!a->ktab.slots) return TA_ENOENT;
  bld__slot_t *ks = table_find(&a->ktab, a, 1, key, klen, ta_hash64(key, klen, 0));
  if (!ks->idx1) return TA_ENOENT;
  const bld__key_t *k = &a->keys[ks->idx1 - 1];
  uint64_t off;
  uint32_t dlen;
  bld__display_of(a, k, &off, &dlen);
  *score = k->score;
  *display = a->arena + off;
  *display_len = dlen;
  return 0;
}
