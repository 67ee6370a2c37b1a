/*
 * Counting (week, spelling) pairs in bounded memory (SPEC §4: "memory stays bounded on logs
 * larger than RAM"; internals in agg_count_int.h).
 *
 * An open-addressing hash table (linear probing, 8-byte slots: 32 bits of hash over a 32-bit
 * reference, any number of slots) refers into an arena of entries. Everything it holds is
 * charged to the budget (sorting takes no more but a fixed radix buffer: agg_sort.c); when the
 * next insert would go over, the table is sorted and written as a run file (agg_spill.c) and
 * starts again empty with the same memory. A run has several counters, one per hash partition
 * (agg_ingest.c), each with its share of the budget. At the finish the runs and the sorted rest
 * in memory are merged (agg_spill.c).
 */
#include "agg_count_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Table -------------------------------------------------------------------------------- */

/* Memory of a table of cap slots and arena bytes (sorting takes no more of the budget:
 * agg_sort.c). */
static uint64_t used_bytes(size_t cap, size_t arena) {
  return (uint64_t)cap * sizeof(uint64_t) + arena;
}

int agg__counter_new(uint64_t budget, const char *spill_dir, unsigned id, agg__counter_t **out) {
  *out = NULL;
  agg__counter_t *c = calloc(1, sizeof *c);
  if (!c) return TA_ENOMEM;
  c->id = id;
  c->budget = budget < (1u << 18) ? (1u << 18) : budget;
  c->spill_dir = strdup(spill_dir);
  /* A power of two, so references can address it (agg_count_int.h). */
  c->chunk_size = 1u << 14;
  while (c->chunk_size * 2 <= c->budget / 16 && c->chunk_size < AGG__MAX_CHUNK) c->chunk_size *= 2;
  c->cap = 1024;
  while (used_bytes(c->cap * 2, c->chunk_size) * 4 < c->budget && c->cap < (1u << 16)) c->cap *= 2;
  size_t max_chunks = (size_t)(c->budget / c->chunk_size) + 1;
  if (max_chunks > AGG__MAX_CHUNKS) max_chunks = AGG__MAX_CHUNKS;
  c->base = calloc(max_chunks, sizeof *c->base);
  c->slots = ta_big_alloc(c->cap * sizeof *c->slots);
  if (!c->spill_dir || !c->slots || !c->base) {
    agg__counter_free(c);
    return TA_ENOMEM;
  }
  *out = c;
  return 0;
}

uint64_t agg__counter_spills(const agg__counter_t *c) {
  return c->spills;
}

/* Empties the table; its memory (slots and arena chunks) is kept for what comes next. */
static void reset_table(agg__counter_t *c) {
  memset(c->slots, 0, c->cap * sizeof *c->slots);
  c->n = 0;
  c->entry_bytes = 0;
  for (agg__chunk_t *ch = c->chunks; ch; ch = ch->next) ch->used = 0;
  c->cur = c->chunks;
  c->cur_no = 0;
}

/* A failed spill (a full disk) has sorted the table all the same: no longer a hash table, where
 * a probe could loop for ever. It is emptied, and the counter fails from then on. */
static int spill(agg__counter_t *c) {
  int rc = agg__spill_write(c);
  if (rc) {
    c->failed = rc;
    c->items = NULL;
    c->n_items = 0;
  }
  reset_table(c);
  return rc;
}

/* The home slot of a tag (the hash's low 32 bits) in a table of cap slots: scaled to cap (any
 * cap, not only powers of two, so the table can take exactly the memory the budget leaves; the
 * high bits choose the partition, agg_ingest.c). A slot keeps the tag, so the table grows without
 * reading its entries, and a probe reads an entry only when its tag is the one looked for. */
static size_t home(uint32_t tag, size_t cap) {
  return (size_t)(((uint64_t)tag * cap) >> 32);
}

static int grow(agg__counter_t *c, size_t ncap) {
  uint64_t *ns = ta_big_alloc(ncap * sizeof *ns);
  if (!ns) return TA_ENOMEM;
  for (size_t i = 0; i < c->cap; i++) {
    uint64_t v = c->slots[i];
    if (!(uint32_t)v) continue;
    size_t j = home((uint32_t)(v >> 32), ncap);
    while (ns[j]) j = j + 1 == ncap ? 0 : j + 1;
    ns[j] = v;
  }
  ta_big_free(c->slots, c->cap * sizeof *c->slots);
  c->slots = ns;
  c->cap = ncap;
  return 0;
}

static int add_hashed(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n,
                      uint64_t h);

/* 1 when an entry of sz bytes (a multiple of 4, at most a chunk) needs a new chunk that the
 * budget has no room for: the table must be spilled first. */
static int arena_full(const agg__counter_t *c, size_t sz) {
  if (c->cur && (c->cur->size - c->cur->used >= sz || c->cur->next)) return 0;
  return c->n && (used_bytes(c->cap, c->arena_bytes + c->chunk_size) > c->budget ||
                  c->n_chunks == AGG__MAX_CHUNKS);
}

/* Room for sz bytes (a multiple of 4) in the arena (the caller has spilled when arena_full);
 * *ref is its reference. NULL only when out of memory. */
static void *arena_alloc(agg__counter_t *c, size_t sz, uint32_t *ref) {
  for (;;) {
    if (c->cur && c->cur->size - c->cur->used >= sz) {
      size_t off = offsetof(agg__chunk_t, data) + c->cur->used;
      c->cur->used += sz;
      c->entry_bytes += sz;
      *ref = (uint32_t)(c->cur_no << AGG__UNIT_BITS | off >> 2);
      return (char *)c->cur + off;
    }
    if (c->cur && c->cur->next) { /* chunks kept from before a spill */
      c->cur = c->cur->next;
      c->cur_no++;
      continue;
    }
    if (c->n_chunks == AGG__MAX_CHUNKS) return NULL;
    agg__chunk_t *ch = ta_big_alloc(c->chunk_size);
    if (!ch) return NULL;
    ch->next = NULL;
    /* 8 bytes to spare at the end: a spelling's first 8 bytes are read by one load (agg_sort.c). */
    ch->size = c->chunk_size - sizeof *ch - 8;
    ch->used = 0;
    c->base[c->n_chunks++] = (char *)ch;
    if (c->cur) {
      c->cur->next = ch;
      c->cur_no++;
    } else {
      c->chunks = ch;
      c->cur_no = 0;
    }
    c->cur = ch;
    c->arena_bytes += c->chunk_size;
  }
}

static uint64_t load8(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static uint64_t load4(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* memcmp(a, b, n) == 0 for the short strings of a hit, without a call. */
static int same_bytes(const char *a, const char *b, size_t n) {
  const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
  for (; n >= 8; n -= 8, x += 8, y += 8)
    if (load8(x) != load8(y)) return 0;
  if (n >= 4) return load4(x) == load4(y) && load4(x + n - 4) == load4(y + n - 4);
  for (; n; n--)
    if (*x++ != *y++) return 0;
  return 1;
}

/* 1 when an entry of week w is far from the table's base week (agg_count_int.h). */
static inline int far_week(const agg__counter_t *c, tbl_week_t w) {
  int64_t d = (int64_t)w - c->wbase;
  return d < INT16_MIN || d > INT16_MAX;
}

/* The slot of (w, s[0..len)) with hash h: the slot holding it, or the empty slot where it goes;
 * *e is its entry (NULL for an empty slot). */
static inline uint64_t *probe(const agg__counter_t *c, tbl_week_t w, const char *s, size_t len,
                              uint64_t h, agg__entry_t **e) {
  size_t cap = c->cap, i = home((uint32_t)h, cap);
  uint64_t tag = (uint64_t)(uint32_t)h << 32;
  /* The head an entry of the pair has: its week's distance and len with the far flag. */
  int far = far_week(c, w);
  int16_t wk = far ? 0 : (int16_t)((int64_t)w - c->wbase);
  unsigned flen = (unsigned)len | (far ? AGG__FAR : 0);
  for (;; i = i + 1 == cap ? 0 : i + 1) {
    uint64_t v = c->slots[i];
    if (!(uint32_t)v) {
      *e = NULL;
      break;
    }
    if ((v & ~(uint64_t)UINT32_MAX) != tag) continue;
    agg__entry_t *x = agg__entry_at(c, (uint32_t)v);
    if (x->wk == wk && (x->len & ~AGG__WIDE) == flen && same_bytes(x->s, s, len) &&
        (!far || agg__entry_week(x, c->wbase) == w)) {
      *e = x;
      break;
    }
  }
  return &c->slots[i];
}

int agg__counter_add(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n) {
  if (len == 0 || len > TBL_MAX_KEY) return TA_EINVAL;
  return add_hashed(c, w, s, len, n, agg__event_hash(w, s, len));
}

/* How far ahead add_events prefetches a slot; the entry it refers to is prefetched half as far
 * ahead, when the slot has had time to arrive and its tag is the event's: both ends of it,
 * since an entry may cross a cache line and the spelling is compared at its end. */
#define AHEAD 16

int agg__counter_add_events(agg__counter_t *c, const agg__event_t *ev, size_t n) {
  if (c->failed) return c->failed;
  for (size_t i = 0; i < n && i < AHEAD; i++)
    __builtin_prefetch(&c->slots[home((uint32_t)ev[i].hash, c->cap)]);
  for (size_t i = 0; i < n; i++) {
    if (i + AHEAD < n) __builtin_prefetch(&c->slots[home((uint32_t)ev[i + AHEAD].hash, c->cap)]);
    if (i + AHEAD / 2 < n) {
      const agg__event_t *f = &ev[i + AHEAD / 2];
      uint64_t v = c->slots[home((uint32_t)f->hash, c->cap)];
      if ((uint32_t)v && (uint32_t)(v >> 32) == (uint32_t)f->hash) {
        const agg__entry_t *x = agg__entry_at(c, (uint32_t)v);
        __builtin_prefetch(x);
        __builtin_prefetch(x->s + f->len - 1);
      }
    }
    if (ev[i].len == 0 || ev[i].len > TBL_MAX_KEY || c->finished) return TA_EINVAL;
    /* A pair seen before (most events): counted here, without a call. */
    agg__entry_t *e;
    probe(c, ev[i].week, ev[i].s, ev[i].len, ev[i].hash, &e);
    if (e && e->count < UINT32_MAX) {
      e->count++;
      continue;
    }
    int rc = add_hashed(c, ev[i].week, ev[i].s, ev[i].len, 1, ev[i].hash);
    if (rc) return rc;
  }
  return 0;
}

/* Sets an entry's count (one that is not wide holds at most 2^32 - 1). */
static void set_count(agg__entry_t *e, uint64_t n) {
  e->count = (uint32_t)n;
  if (e->len & AGG__WIDE) {
    uint32_t hi = (uint32_t)(n >> 32);
    memcpy(agg__entry_high(e), &hi, 4);
  }
}

/* The slots a table past load 1/2 grows to: twice as many, unless the budget has room for
 * fewer. The table's last size is the most the budget holds with entries of the mean size so
 * far (8 bytes a slot, 2/3 of them with an entry, a chunk of arena to spare); the one before it
 * is at most half of that, so that the last growth, which holds the old slots and the new, fits
 * too. 0 or few more than now: the table spills instead. */
static size_t grow_to(const agg__counter_t *c) {
  uint64_t entry = c->n ? c->entry_bytes / c->n : 32;
  uint64_t spare = c->budget > c->chunk_size ? c->budget - c->chunk_size : 0;
  uint64_t last = spare * 3 / (3 * sizeof *c->slots + 2 * entry);
  uint64_t ncap = (uint64_t)c->cap * 2;
  if (ncap >= last)
    ncap = last;
  else if (ncap * 2 > last && last / 2 >= (uint64_t)c->cap + c->cap / 8)
    ncap = last / 2;
  /* No more than the budget leaves while the old slots are still held. */
  uint64_t held = used_bytes(c->cap, c->arena_bytes);
  uint64_t room = held < c->budget ? (c->budget - held) / sizeof *c->slots : 0;
  if (room < ncap) ncap = room;
  if (ncap > (UINT64_C(1) << 31)) ncap = (size_t)1 << 31; /* home() takes 32-bit tags */
  return (size_t)ncap;
}

static int add_hashed(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n,
                      uint64_t h) {
  if (c->failed) return c->failed;
  if (c->finished) return TA_EINVAL;
  agg__entry_t *e;
  uint64_t *sl = probe(c, w, s, len, h, &e);
  uint64_t total = n;
  if (e) {
    total = agg__entry_count(e);
    if (total > UINT64_MAX - n) return TA_ERANGE;
    total += n;
    if ((e->len & AGG__WIDE) || total <= UINT32_MAX) {
      set_count(e, total);
      return 0;
    }
    /* Past 2^32 - 1: a wide copy takes its place (the old one stays unused until a spill). */
  } else if ((c->n + 1) * 2 > c->cap) {
    /* Past load 1/2 the table grows while the budget lets it; at its last size it fills on to
     * load 2/3 (sorting needs no more: agg_sort.c), and then spills. */
    size_t ncap = grow_to(c);
    int grows = ncap >= c->cap + c->cap / 8, full = (c->n + 1) * 3 > c->cap * 2;
    if (grows || full) {
      int rc = grows ? grow(c, ncap) : spill(c);
      if (rc) return rc;
      return add_hashed(c, w, s, len, n, h);
    }
  }
  int wide = total > UINT32_MAX;
  int far = c->n && far_week(c, w); /* the first entry of a table sets its base week */
  if (arena_full(c, agg__entry_bytes(len, wide, far))) {
    /* The table (e too, with its count) is written out and empty again. */
    int rc = spill(c);
    if (rc) return rc;
    sl = probe(c, w, s, len, h, &e);
    total = n;
    wide = total > UINT32_MAX;
    far = 0;
  }
  uint32_t ref;
  agg__entry_t *x = arena_alloc(c, agg__entry_bytes(len, wide, far), &ref);
  if (!x) return TA_ENOMEM;
  if (e) e->len |= AGG__DEAD; /* replaced by its wide copy x: agg__sort_table skips it */
  if (!e) {
    if (c->n == 0) c->wbase = c->wmin = c->wmax = w;
    if (w < c->wmin) c->wmin = w;
    if (w > c->wmax) c->wmax = w;
    c->n++;
  }
  x->wk = far ? 0 : (int16_t)((int64_t)w - c->wbase);
  x->len = (uint16_t)(len | (wide ? AGG__WIDE : 0) | (far ? AGG__FAR : 0));
  memcpy(x->s, s, len);
  set_count(x, total);
  if (far) memcpy(agg__entry_far(x), &w, sizeof w);
  *sl = (uint64_t)(uint32_t)h << 32 | ref;
  return 0;
}

int agg__counter_finish(agg__counter_t *c) {
  if (c->failed) return c->failed;
  if (c->finished) return TA_EINVAL;
  c->finished = 1;
  agg__sort_table(c);
  return c->n_runs ? agg__spill_merge_open(c) : 0;
}

void agg__counter_free(agg__counter_t *c) {
  if (!c) return;
  agg__spill_merge_close(c);
  for (size_t i = 0; i < c->n_runs; i++) {
    unlink(c->runs[i]);
    free(c->runs[i]);
  }
  free(c->runs);
  for (agg__chunk_t *ch = c->chunks, *next; ch; ch = next) {
    next = ch->next;
    ta_big_free(ch, c->chunk_size);
  }
  free(c->base);
  free(c->scratch);
  ta_big_free(c->slots, c->cap * sizeof *c->slots);
  free(c->spill_dir);
  free(c);
}
