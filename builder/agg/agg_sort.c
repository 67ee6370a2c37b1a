/*
 * Sorting a counter's table (agg_count_int.h) by (week, spelling bytes), for a spill or the
 * finish, in the memory the table already holds: a 12-byte item per entry goes into the 8-byte
 * slot array (the load factor stays <= 2/3), and what is left of it is a radix sort's buffer.
 *
 * Each item's key is the week and the first bytes of its spelling, so a radix sort on the key
 * orders most of the table: in-place MSD passes (American flag sort) until a part fits the
 * buffer, then LSD passes, which are faster. The groups of equal keys are then ordered by the
 * next 8 bytes, and so on (small groups by insertion).
 */
#include "agg_count_int.h"

#include <stdlib.h>
#include <string.h>

#define SCRATCH (1u << 16) /* items of the sort's own buffer: 768 KiB */

/* The first 8 bytes of an entry's spelling, big-endian, zero-padded, by one load: an entry has
 * chunk has 8 bytes to spare after its last entry, and the bytes past the spelling's length are
 * masked off. */
static uint64_t entry_prefix(const agg__entry_t *e) {
  uint64_t v;
  memcpy(&v, e->s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  size_t len = agg__entry_len(e);
  return len < 8 ? v & ~(UINT64_MAX >> (8 * len)) : v;
}

/* Insertion sort of a[0..n) by key. */
static void insertion_sort(agg__item_t *a, size_t n) {
  for (size_t x = 1; x < n; x++) {
    agg__item_t v = a[x];
    size_t y = x;
    for (; y > 0 && agg__item_key(&a[y - 1]) > agg__item_key(&v); y--) a[y] = a[y - 1];
    a[y] = v;
  }
}

/* LSD radix sort of a[0..n) by the bytes 0..b of key (those above are equal), 8 bits a pass,
 * skipping bytes where every key is the same; tmp has room for n items. */
static void lsd_sort(agg__item_t *a, agg__item_t *tmp, size_t n, int b) {
  size_t count[8][256];
  memset(count, 0, sizeof count[0] * (size_t)(b + 1));
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k <= b; k++) count[k][(agg__item_key(&a[i]) >> (8 * k)) & 255]++;
  agg__item_t *src = a, *dst = tmp;
  for (int k = 0; k <= b; k++) {
    if (count[k][(agg__item_key(&a[0]) >> (8 * k)) & 255] == n) continue;
    size_t off[256], sum = 0;
    for (int d = 0; d < 256; d++) {
      off[d] = sum;
      sum += count[k][d];
    }
    for (size_t i = 0; i < n; i++) dst[off[(agg__item_key(&src[i]) >> (8 * k)) & 255]++] = src[i];
    agg__item_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Room for an LSD sort's buffer: the slot array past the items. */
typedef struct {
  agg__item_t *buf;
  size_t cap;
} room_t;

/* Sorts a[0..n) by key, from byte b down (the bytes above it are equal): by LSD passes when the
 * room holds n items (most of the work, and twice as fast), else by one in-place MSD pass
 * (American flag sort), 8 bits, and the same on each part; small ranges by insertion. */
static void key_sort(agg__item_t *a, size_t n, int b, const room_t *room) {
  for (; b >= 0; b--) {
    if (n < 32) {
      insertion_sort(a, n);
      return;
    }
    if (n >= 1024 && n <= room->cap) {
      lsd_sort(a, room->buf, n, b);
      return;
    }
    int sh = 8 * b;
    size_t count[256] = {0}, next[256], end[256], sum = 0;
    for (size_t i = 0; i < n; i++) count[(agg__item_key(&a[i]) >> sh) & 255]++;
    if (count[(agg__item_key(&a[0]) >> sh) & 255] == n) continue;
    for (unsigned d = 0; d < 256; d++) {
      next[d] = sum;
      sum += count[d];
      end[d] = sum;
    }
    /* Each item goes to the next free place of its bucket, displacing the one there. */
    for (unsigned d = 0; d < 256; d++) {
      while (next[d] < end[d]) {
        agg__item_t v = a[next[d]];
        unsigned vd = (unsigned)(agg__item_key(&v) >> sh) & 255;
        while (vd != d) {
          agg__item_t t = a[next[vd]];
          a[next[vd]++] = v;
          v = t;
          vd = (unsigned)(agg__item_key(&v) >> sh) & 255;
        }
        a[next[d]++] = v;
      }
    }
    if (b > 0)
      for (unsigned d = 0; d < 256; d++)
        if (count[d] > 1) key_sort(a + end[d] - count[d], count[d], b - 1, room);
    return;
  }
}

/* Spellings (of one week) whose first depth bytes are equal, compared from there on. */
static int cmp_from(const agg__entry_t *x, const agg__entry_t *y, size_t depth) {
  size_t xl = agg__entry_len(x), yl = agg__entry_len(y);
  size_t n = xl < yl ? xl : yl, d = depth < n ? depth : n;
  return ta_bytes_cmp(x->s + d, xl - d, y->s + d, yl - d);
}

/* Insertion sort of a[0..n), items whose spellings share their first depth bytes: by the key
 * (the next 8 bytes) and, when equal, by the bytes after it. */
static void insertion_sort_from(const agg__counter_t *c, agg__item_t *a, size_t n, size_t depth) {
  for (size_t x = 1; x < n; x++) {
    agg__item_t v = a[x];
    uint64_t vk = agg__item_key(&v);
    const agg__entry_t *ve = agg__entry_at(c, v.ref);
    size_t y = x;
    for (; y > 0; y--) {
      uint64_t yk = agg__item_key(&a[y - 1]);
      if (yk < vk || (yk == vk && cmp_from(agg__entry_at(c, a[y - 1].ref), ve, depth + 8) <= 0))
        break;
      a[y] = a[y - 1];
    }
    a[y] = v;
  }
}

/* Orders groups of items with equal keys, whose spellings share their first depth bytes: by
 * the next 8 bytes (radix), and so on; small groups by insertion. */
static void sort_ties(const agg__counter_t *c, agg__item_t *a, size_t n, size_t depth,
                      const room_t *room) {
  for (size_t i = 0, j; i < n; i = j) {
    uint64_t key = agg__item_key(&a[i]);
    for (j = i + 1; j < n && agg__item_key(&a[j]) == key; j++) {
    }
    size_t m = j - i;
    if (m < 2) continue;
    /* The next 8 bytes become the key (entries are scattered: fetch ahead). */
    for (size_t k = i; k < j; k++) {
      if (k + 8 < j) agg__prefetch_entry(agg__entry_at(c, a[k + 8].ref));
      const agg__entry_t *e = agg__entry_at(c, a[k].ref);
      size_t len = agg__entry_len(e);
      agg__item_set_key(&a[k], len > depth ? agg__prefix_key(e->s + depth, len - depth) : 0);
    }
    /* Past the longest spelling only equal ones could be left: never, in fact. */
    if (m < 32 || depth > TBL_MAX_KEY) {
      insertion_sort_from(c, a + i, m, depth);
      continue;
    }
    key_sort(a + i, m, 7, room);
    sort_ties(c, a + i, m, depth + 8, room);
  }
}

void agg__sort_table(agg__counter_t *c) {
  /* Sort key: when the weeks span less than 256, the week's offset in the top byte and 7 bytes
   * of spelling, else the week and 4 bytes. Either way key order agrees with (week, bytes). */
  tbl_week_t wmin = c->wmin;
  int narrow = (int64_t)c->wmax - wmin < 256;
  /* The items are made from the arena, read in order (the slots' order would fetch each entry
   * from afar), into the slot array, which the table no longer needs: k <= cap / 2 items. */
  agg__item_t *items = (agg__item_t *)(void *)c->slots;
  size_t k = 0, no = 0;
  for (agg__chunk_t *ch = c->chunks; ch; ch = ch->next, no++) {
    for (size_t off = 0; off < ch->used;) {
      agg__entry_t *e = (agg__entry_t *)(void *)(ch->data + off);
      uint32_t ref = (uint32_t)(no << AGG__UNIT_BITS | (offsetof(agg__chunk_t, data) + off) >> 2);
      off += agg__entry_size(e);
      if (e->len & AGG__DEAD) continue;
      tbl_week_t w = agg__entry_week(e, c->wbase);
      items[k].ref = ref;
      agg__item_set_key(&items[k++],
                        narrow
                            ? (uint64_t)(uint32_t)(w - wmin) << 56 | entry_prefix(e) >> 8
                            : (uint64_t)((uint32_t)w ^ 0x80000000u) << 32 | entry_prefix(e) >> 32);
    }
  }
  /* The slot array past the items (load < 2/3 leaves some) is the LSD passes' buffer; when that
   * is small (a table spilled full has none), a buffer of SCRATCH items (it fits the cache, and
   * the MSD passes soon make parts that fit it), out of the memory kept beside the budget. */
  room_t room = {items + k, c->cap * sizeof *c->slots / sizeof *items - k};
  if (room.cap < SCRATCH && k > SCRATCH && !c->scratch)
    c->scratch = malloc(SCRATCH * sizeof *c->scratch); /* kept: a fresh one costs page faults */
  if (room.cap < SCRATCH && k > SCRATCH && c->scratch) room = (room_t){c->scratch, SCRATCH};
  key_sort(items, k, 7, &room);
  /* Equal keys: same week and first bytes. Their entries are read again: fetch those of the
   * ties a little ahead. */
  size_t ahead = 0;
  for (size_t i = 0, j; i < k; i = j) {
    for (; ahead < k && ahead < i + 32; ahead++) {
      uint64_t key = agg__item_key(&items[ahead]);
      if ((ahead > 0 && key == agg__item_key(&items[ahead - 1])) ||
          (ahead + 1 < k && key == agg__item_key(&items[ahead + 1])))
        agg__prefetch_entry(agg__entry_at(c, items[ahead].ref));
    }
    uint64_t key = agg__item_key(&items[i]);
    for (j = i + 1; j < k && agg__item_key(&items[j]) == key; j++) {
    }
    /* The key held the week: the ties' order is their spellings' from byte 7 (or 4) on. */
    if (j - i > 1) sort_ties(c, items + i, j - i, narrow ? 7 : 4, &room);
  }
  c->items = items;
  c->n_items = k;
  c->item_i = 0;
}
