/*
 * Sorting a counter's table (agg_count_int.h) by (week, spelling bytes), for a spill or the
 * finish, in the memory the table already holds: the items are compacted into the first half of
 * the slot array and its second half is the radix sort's buffer (the load factor stays <= 1/2).
 *
 * Each item's key is the week and the first bytes of its spelling, so an LSD radix sort on the
 * key orders most of the table; the groups of equal keys are then ordered by the next 8 bytes,
 * and so on (small groups by insertion).
 */
#include "agg_count_int.h"

#include <stdlib.h>
#include <string.h>

/* The first 8 bytes of an entry's spelling, big-endian, zero-padded, by one load: an entry has
 * room for at least 8 bytes of spelling (its size is rounded up to 8), and the bytes past its
 * length are masked off. */
static uint64_t entry_prefix(const agg__entry_t *e) {
  uint64_t v;
  memcpy(&v, e->s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return e->len < 8 ? v & ~(UINT64_MAX >> (8 * e->len)) : v;
}

static int cmp_item(const void *a, const void *b) {
  const agg__item_t *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return agg__pair_cmp(x->e->week, x->e->s, x->e->len, y->e->week, y->e->s, y->e->len);
}

/* LSD radix sort of a[0..n) by key, 8 bits a pass, skipping passes where every key has the
 * same byte (the week's high bytes); tmp has room for n items. */
static void radix_sort(agg__item_t *a, agg__item_t *tmp, size_t n) {
  size_t count[8][256] = {{0}};
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) count[b][(a[i].key >> (8 * b)) & 255]++;
  agg__item_t *src = a, *dst = tmp;
  for (int b = 0; b < 8 && n; b++) {
    if (count[b][(a[0].key >> (8 * b)) & 255] == n) continue;
    size_t off[256], sum = 0;
    for (int d = 0; d < 256; d++) {
      off[d] = sum;
      sum += count[b][d];
    }
    for (size_t i = 0; i < n; i++) dst[off[(src[i].key >> (8 * b)) & 255]++] = src[i];
    agg__item_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Spellings (of one week) whose first depth bytes are equal, compared from there on. */
static int cmp_from(const agg__entry_t *x, const agg__entry_t *y, size_t depth) {
  size_t n = x->len < y->len ? x->len : y->len, d = depth < n ? depth : n;
  return ta_bytes_cmp(x->s + d, x->len - d, y->s + d, y->len - d);
}

/* Orders groups of items with equal keys, whose spellings share their first depth bytes: by
 * the next 8 bytes (radix), and so on; small groups by insertion. */
static void sort_ties(agg__item_t *a, agg__item_t *tmp, size_t n, size_t depth) {
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && a[j].key == a[i].key; j++) {
    }
    size_t m = j - i;
    if (m < 2) continue;
    if (depth > TBL_MAX_KEY) { /* only equal spellings could get here: never, in fact */
      qsort(a + i, m, sizeof *a, cmp_item);
      continue;
    }
    /* The next 8 bytes become the key (entries are scattered: fetch ahead). */
    for (size_t k = i; k < j; k++) {
      if (k + 8 < j) agg__prefetch_entry(a[k + 8].e);
      const agg__entry_t *e = a[k].e;
      a[k].key = e->len > depth ? agg__prefix_key(e->s + depth, e->len - depth) : 0;
    }
    if (m < 32) { /* insertion, by the key and, when equal, by the bytes after it */
      for (size_t x = i + 1; x < j; x++) {
        agg__item_t v = a[x];
        size_t y = x;
        for (; y > i && (a[y - 1].key > v.key ||
                         (a[y - 1].key == v.key && cmp_from(a[y - 1].e, v.e, depth + 8) > 0));
             y--)
          a[y] = a[y - 1];
        a[y] = v;
      }
      continue;
    }
    radix_sort(a + i, tmp, m);
    sort_ties(a + i, tmp, m, depth + 8);
  }
}

void agg__sort_table(agg__counter_t *c) {
  agg__item_t *items = (agg__item_t *)(void *)c->slots;
  size_t k = 0;
  /* Sort key: when the weeks span less than 256, the week's offset in the top byte and 7 bytes
   * of spelling, else the week and 4 bytes. Either way key order agrees with (week, bytes). */
  tbl_week_t wmin = c->wmin;
  int narrow = (int64_t)c->wmax - wmin < 256;
  for (size_t i = 0; i < c->cap; i++) {
    if (i + 32 < c->cap && c->slots[i + 32].e) agg__prefetch_entry(c->slots[i + 32].e);
    agg__entry_t *e = c->slots[i].e;
    if (!e) continue;
    /* k <= i: slot i has been read before item k overwrites it. */
    items[k].e = e;
    items[k++].key =
        narrow ? (uint64_t)(uint32_t)(e->week - wmin) << 56 | entry_prefix(e) >> 8
               : (uint64_t)((uint32_t)e->week ^ 0x80000000u) << 32 | entry_prefix(e) >> 32;
  }
  agg__item_t *tmp = items + k; /* k <= cap / 2 */
  radix_sort(items, tmp, k);
  /* Equal keys: same week and first bytes. Their entries are read again: fetch those of the
   * ties a little ahead. */
  size_t ahead = 0;
  for (size_t i = 0, j; i < k; i = j) {
    for (; ahead < k && ahead < i + 32; ahead++)
      if ((ahead > 0 && items[ahead].key == items[ahead - 1].key) ||
          (ahead + 1 < k && items[ahead].key == items[ahead + 1].key))
        agg__prefetch_entry(items[ahead].e);
    for (j = i + 1; j < k && items[j].key == items[i].key; j++) {
    }
    /* The key held the week: the ties' order is their spellings' from byte 7 (or 4) on. */
    if (j - i > 1) sort_ties(items + i, tmp, j - i, narrow ? 7 : 4);
  }
  c->items = items;
  c->n_items = k;
  c->item_i = 0;
}
