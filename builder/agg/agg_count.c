/*
 * Counting (week, spelling) pairs in bounded memory (SPEC §4: "memory stays bounded on logs
 * larger than RAM"; issue 3, item 5).
 *
 * An open-addressing hash table (linear probing, full 64-bit hashes in the slots, any number
 * of slots) points into an arena of entries. Everything it holds is charged to the budget
 * (sorting takes no more: it happens inside the slot array, see sort_table); when the next
 * insert would go over, the table is sorted and written as a run file (varint records) into
 * the spill directory, and starts again empty with the same memory. A run has several counters,
 * one per hash partition (agg_ingest.c), each with its share of the budget.
 * At the end the runs and the sorted rest in memory are merged through a heap, summing equal
 * pairs, so the output is the same sorted stream whatever the budget was.
 */
#include "agg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct entry {
  uint64_t count;
  tbl_week_t week;
  uint32_t len;
  char s[];
} entry_t;

typedef struct {
  uint64_t hash;
  entry_t *e;
} slot_t;

/* An entry being sorted (sort_table): as big as a slot, so the slot array holds them. */
typedef struct {
  uint64_t key; /* week and the first bytes (sort_table): most comparisons stop here */
  entry_t *e;
} item_t;

typedef struct chunk {
  struct chunk *next;
  size_t size, used;
  char data[];
} chunk_t;

/* A sorted source for the final merge: a run file or the sorted table in memory. */
typedef struct {
  int fd;             /* -1: the in-memory items */
  unsigned char *buf; /* SRC_BUF bytes read ahead from fd; unread: buf[pos..end) */
  size_t pos, end;
  int eof;
  tbl_week_t week; /* the current record */
  uint32_t len;
  uint64_t count;
  const char *sp; /* its bytes: in buf, or the entry's; valid until the next record */
  uint64_t key;   /* agg__prefix_key of them: most comparisons stop there */
} source_t;
#define SRC_BUF (1u << 16)

#define FAN_IN 64

struct agg__counter {
  uint64_t budget;
  char *spill_dir;
  unsigned id;
  slot_t *slots;
  size_t cap, n;
  chunk_t *chunks, *cur;
  size_t chunk_size, arena_bytes;
  tbl_week_t wmin, wmax; /* weeks in the table now (for the sort key) */
  /* spilled runs */
  char **runs;
  size_t n_runs, runs_cap;
  uint64_t run_seq, spills;
  /* finish */
  int finished;
  item_t *items;
  size_t n_items, item_i;
  source_t *src;
  size_t n_src;
  size_t *heap;
  size_t heap_n;
  char out[TBL_MAX_QUERY];
};

/* ---- Memory: big blocks from mmap, with transparent huge pages where the kernel offers them
 * (the table is accessed at random: fewer TLB misses and page faults). Zeroed. ---------------- */

static void *big_alloc(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
  if (size >= (2u << 20)) madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

static void big_free(void *p, size_t size) {
  if (p) munmap(p, size);
}

/* ---- Hash --------------------------------------------------------------------------------- */

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}

uint64_t agg__hash(const void *p, size_t len, uint64_t seed) {
  const unsigned char *s = p;
  uint64_t h = seed ^ (len * UINT64_C(0x9e3779b97f4a7c15));
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, s, 8);
    h = (h ^ mix(v)) * UINT64_C(0x9e3779b97f4a7c15);
    h = (h << 29) | (h >> 35);
    s += 8;
    len -= 8;
  }
  uint64_t v = 0;
  memcpy(&v, s, len);
  return mix(h ^ v ^ ((uint64_t)len << 56));
}

/* ---- Table -------------------------------------------------------------------------------- */

/* Memory of a table of cap slots and arena bytes (sorting takes no more: see sort_table). */
static uint64_t used_bytes(size_t cap, size_t arena) {
  return (uint64_t)cap * sizeof(slot_t) + arena;
}

int agg__counter_new(uint64_t budget, const char *spill_dir, unsigned id, agg__counter_t **out) {
  *out = NULL;
  agg__counter_t *c = calloc(1, sizeof *c);
  if (!c) return TA_ENOMEM;
  c->id = id;
  c->budget = budget < (1u << 18) ? (1u << 18) : budget;
  c->spill_dir = strdup(spill_dir);
  c->chunk_size = (size_t)(c->budget / 16);
  if (c->chunk_size < (1u << 14)) c->chunk_size = 1u << 14;
  if (c->chunk_size > (4u << 20)) c->chunk_size = 4u << 20;
  c->cap = 1024;
  while (used_bytes(c->cap * 2, c->chunk_size) * 4 < c->budget && c->cap < (1u << 16)) c->cap *= 2;
  c->slots = big_alloc(c->cap * sizeof *c->slots);
  if (!c->spill_dir || !c->slots) {
    agg__counter_free(c);
    return TA_ENOMEM;
  }
  *out = c;
  return 0;
}

uint64_t agg__counter_spills(const agg__counter_t *c) {
  return c->spills;
}

/* The first n (<= 8) bytes of s[0..len), big-endian, zero-padded. */
static uint64_t be_prefix(const char *s, uint32_t len, unsigned n) {
  unsigned char b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  memcpy(b, s, len < n ? len : n);
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v = v << 8 | b[i];
  return v;
}

uint64_t agg__prefix_key(const char *s, size_t len) {
  uint64_t v = 0;
  memcpy(&v, s, len < 8 ? len : 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

static int cmp_pair(tbl_week_t wa, const char *sa, size_t la, tbl_week_t wb, const char *sb,
                    size_t lb) {
  if (wa != wb) return wa < wb ? -1 : 1;
  int c = memcmp(sa, sb, la < lb ? la : lb);
  if (c) return c;
  return la < lb ? -1 : la > lb;
}

static int cmp_item(const void *a, const void *b) {
  const item_t *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return cmp_pair(x->e->week, x->e->s, x->e->len, y->e->week, y->e->s, y->e->len);
}

/* LSD radix sort of a[0..n) by key, 8 bits a pass, skipping passes where every key has the
 * same byte (the week's high bytes); tmp has room for n items. */
static void radix_sort(item_t *a, item_t *tmp, size_t n) {
  size_t count[8][256] = {{0}};
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) count[b][(a[i].key >> (8 * b)) & 255]++;
  item_t *src = a, *dst = tmp;
  for (int b = 0; b < 8 && n; b++) {
    if (count[b][(a[0].key >> (8 * b)) & 255] == n) continue;
    size_t off[256], sum = 0;
    for (int d = 0; d < 256; d++) {
      off[d] = sum;
      sum += count[b][d];
    }
    for (size_t i = 0; i < n; i++) dst[off[(src[i].key >> (8 * b)) & 255]++] = src[i];
    item_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Spellings (of one week) whose first depth bytes are equal, compared from there on. */
static int cmp_from(const entry_t *x, const entry_t *y, size_t depth) {
  size_t n = x->len < y->len ? x->len : y->len, d = depth < n ? depth : n;
  int c = memcmp(x->s + d, y->s + d, n - d);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

/* Orders groups of items with equal keys, whose spellings share their first depth bytes: by
 * the next 8 bytes (radix), and so on; small groups by insertion. */
static void sort_ties(item_t *a, item_t *tmp, size_t n, size_t depth) {
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && a[j].key == a[i].key; j++) {
    }
    size_t m = j - i;
    if (m < 2) continue;
    if (depth > TBL_MAX_QUERY) { /* only equal spellings could get here: never, in fact */
      qsort(a + i, m, sizeof *a, cmp_item);
      continue;
    }
    /* The next 8 bytes become the key (entries are scattered: fetch ahead). */
    for (size_t k = i; k < j; k++) {
      if (k + 8 < j) __builtin_prefetch(a[k + 8].e);
      const entry_t *e = a[k].e;
      a[k].key = e->len > depth ? agg__prefix_key(e->s + depth, e->len - depth) : 0;
    }
    if (m < 32) { /* insertion, by the key and, when equal, by the bytes after it */
      for (size_t x = i + 1; x < j; x++) {
        item_t v = a[x];
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

/* Sorts the table into c->items, in the slot array itself: the items are compacted into its
 * first half and its second half is the radix sort's buffer (the load factor stays <= 1/2), so
 * sorting needs no memory beyond the budget. The table is unusable until reset_table. */
static int sort_table(agg__counter_t *c) {
  item_t *items = (item_t *)(void *)c->slots;
  size_t k = 0;
  /* Sort key: when the weeks span less than 256, the week's offset in the top byte and 7 bytes
   * of spelling, else the week and 4 bytes. Either way key order agrees with (week, bytes). */
  tbl_week_t wmin = c->wmin;
  int narrow = (int64_t)c->wmax - wmin < 256;
  for (size_t i = 0; i < c->cap; i++) {
    if (i + 16 < c->cap && c->slots[i + 16].e) __builtin_prefetch(c->slots[i + 16].e);
    entry_t *e = c->slots[i].e;
    if (!e) continue;
    /* k <= i: slot i has been read before item k overwrites it. */
    items[k].e = e;
    items[k++].key =
        narrow ? (uint64_t)(uint32_t)(e->week - wmin) << 56 | be_prefix(e->s, e->len, 7)
               : (uint64_t)((uint32_t)e->week ^ 0x80000000u) << 32 | be_prefix(e->s, e->len, 4);
  }
  item_t *tmp = items + k; /* k <= cap / 2 */
  radix_sort(items, tmp, k);
  /* Equal keys: same week and first bytes. Their entries are read again: fetch those of the
   * ties a little ahead. */
  size_t ahead = 0;
  for (size_t i = 0, j; i < k; i = j) {
    for (; ahead < k && ahead < i + 32; ahead++)
      if ((ahead > 0 && items[ahead].key == items[ahead - 1].key) ||
          (ahead + 1 < k && items[ahead].key == items[ahead + 1].key))
        __builtin_prefetch(items[ahead].e);
    for (j = i + 1; j < k && items[j].key == items[i].key; j++) {
    }
    /* The key held the week: the ties' order is their spellings' from byte 7 (or 4) on. */
    if (j - i > 1) sort_ties(items + i, tmp, j - i, narrow ? 7 : 4);
  }
  c->items = items;
  c->n_items = k;
  c->item_i = 0;
  return 0;
}

/* Run files: one record per (week, spelling), ascending: varint(week ^ 2^31), varint(len),
 * the bytes, varint(count). A record takes at most RECORD_MAX bytes. */
#define RECORD_MAX (5 + 5 + TBL_MAX_QUERY + 10)
#define RUN_BUF (1u << 16)

static size_t put_varint(unsigned char *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (unsigned char)v;
  return n;
}

typedef struct {
  FILE *f;
  unsigned char buf[RUN_BUF];
  size_t used;
  int failed;
} run_writer_t;

static void run_put(run_writer_t *rw, tbl_week_t w, const char *s, size_t len, uint64_t count) {
  if (rw->used + RECORD_MAX > RUN_BUF) {
    if (fwrite(rw->buf, 1, rw->used, rw->f) != rw->used) rw->failed = 1;
    rw->used = 0;
  }
  unsigned char *p = rw->buf + rw->used;
  size_t n = put_varint(p, (uint32_t)w ^ 0x80000000u);
  n += put_varint(p + n, len);
  memcpy(p + n, s, len);
  n += len;
  n += put_varint(p + n, count);
  rw->used += n;
}

/* Flushes and closes; 0 or TA_EIO. */
static int run_close(run_writer_t *rw) {
  if (rw->used && fwrite(rw->buf, 1, rw->used, rw->f) != rw->used) rw->failed = 1;
  if (fflush(rw->f) != 0 || ferror(rw->f)) rw->failed = 1;
  if (fclose(rw->f) != 0) rw->failed = 1;
  return rw->failed ? TA_EIO : 0;
}

/* Creates the next run file of the spill directory; on success the caller owns *rw (closed by
 * run_close, then freed) and *path (kept in runs, or unlinked and freed). */
static int run_open(agg__counter_t *c, run_writer_t **rw_out, char **path_out) {
  size_t plen = strlen(c->spill_dir) + 48;
  char *path = malloc(plen);
  if (!path) return TA_ENOMEM;
  snprintf(path, plen, "%s/run.%u.%06llu", c->spill_dir, c->id, (unsigned long long)c->run_seq++);
  run_writer_t *rw = malloc(sizeof *rw);
  if (!rw || !(rw->f = fopen(path, "wbx"))) {
    int rc = rw ? ta_error_from_errno(errno) : TA_ENOMEM;
    free(rw);
    free(path);
    return rc;
  }
  rw->used = 0;
  rw->failed = 0;
  setvbuf(rw->f, NULL, _IONBF, 0); /* run_put buffers whole records itself */
  *rw_out = rw;
  *path_out = path;
  return 0;
}

static void reset_table(agg__counter_t *c) {
  memset(c->slots, 0, c->cap * sizeof *c->slots);
  c->n = 0;
  for (chunk_t *ch = c->chunks; ch; ch = ch->next) ch->used = 0;
  c->cur = c->chunks;
}

static int spill(agg__counter_t *c) {
  int rc = sort_table(c);
  if (rc) return rc;
  if (c->n_runs == c->runs_cap) {
    size_t nc = c->runs_cap ? c->runs_cap * 2 : 16;
    char **nr = realloc(c->runs, nc * sizeof *nr);
    if (!nr) return TA_ENOMEM;
    c->runs = nr;
    c->runs_cap = nc;
  }
  char *path;
  run_writer_t *rw;
  if ((rc = run_open(c, &rw, &path))) return rc;
  for (size_t i = 0; i < c->n_items; i++) {
    if (i + 8 < c->n_items) __builtin_prefetch(c->items[i + 8].e);
    entry_t *e = c->items[i].e;
    run_put(rw, e->week, e->s, e->len, e->count);
  }
  rc = run_close(rw);
  free(rw);
  c->items = NULL;
  c->n_items = 0;
  if (rc) {
    unlink(path);
    free(path);
    return rc;
  }
  c->runs[c->n_runs++] = path;
  c->spills++;
  reset_table(c);
  return 0;
}

/* The home slot of hash h in a table of cap slots: its low 32 bits scaled to cap (any cap,
 * not only powers of two, so the table can take exactly the memory the budget leaves; the high
 * bits choose the partition, agg_ingest.c). */
static size_t home(uint64_t h, size_t cap) {
  return (size_t)(((uint64_t)(uint32_t)h * cap) >> 32);
}

static int grow(agg__counter_t *c, size_t ncap) {
  slot_t *ns = big_alloc(ncap * sizeof *ns);
  if (!ns) return TA_ENOMEM;
  for (size_t i = 0; i < c->cap; i++) {
    if (!c->slots[i].e) continue;
    size_t j = home(c->slots[i].hash, ncap);
    while (ns[j].e) j = j + 1 == ncap ? 0 : j + 1;
    ns[j] = c->slots[i];
  }
  big_free(c->slots, c->cap * sizeof *c->slots);
  c->slots = ns;
  c->cap = ncap;
  return 0;
}

static int add_hashed(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n,
                      uint64_t h);

/* Room for an entry of sz bytes in the arena, spilling when a new chunk would break the
 * budget. NULL only when out of memory. */
static void *arena_alloc(agg__counter_t *c, size_t sz, int *spilled) {
  for (;;) {
    if (c->cur && c->cur->size - c->cur->used >= sz) {
      void *p = c->cur->data + c->cur->used;
      c->cur->used += sz;
      return p;
    }
    if (c->cur && c->cur->next) { /* chunks kept from before a spill */
      c->cur = c->cur->next;
      continue;
    }
    if (c->n && used_bytes(c->cap, c->arena_bytes + c->chunk_size) > c->budget) {
      if (spill(c) != 0) return NULL;
      *spilled = 1;
      continue;
    }
    chunk_t *ch = big_alloc(c->chunk_size);
    if (!ch) return NULL;
    ch->next = NULL;
    ch->size = c->chunk_size - sizeof *ch;
    ch->used = 0;
    if (c->cur)
      c->cur->next = ch;
    else
      c->chunks = ch;
    c->cur = ch;
    c->arena_bytes += c->chunk_size;
  }
}

/* The 64x64 -> 128-bit product, folded (the mixing step of wyhash). */
static uint64_t mum(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
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

/* wyhash's structure: short strings are read as two overlapping words, with no loop and no
 * byte-at-a-time tail; cheaper than agg__hash, whose values --sample depends on. */
uint64_t agg__event_hash(tbl_week_t w, const char *s, size_t len) {
  static const uint64_t k0 = UINT64_C(0xa0761d6478bd642f), k1 = UINT64_C(0xe7037ed1a0b428db),
                        k2 = UINT64_C(0x8ebc6af09c88c6e3);
  const unsigned char *p = (const unsigned char *)s;
  uint64_t seed = k0 ^ ((uint64_t)(uint32_t)w * k2), a, b;
  if (len <= 16) {
    if (len >= 4) {
      size_t mid = (len >> 3) << 2;
      a = load4(p) << 32 | load4(p + mid);
      b = load4(p + len - 4) << 32 | load4(p + len - 4 - mid);
    } else if (len > 0) {
      a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t i = len;
    for (; i > 16; i -= 16, p += 16) seed = mum(load8(p) ^ k1, load8(p + 8) ^ seed);
    a = load8(p + i - 16);
    b = load8(p + i - 8);
  }
  return mum(k1 ^ len, mum(a ^ k1, b ^ seed));
}

int agg__counter_add(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n) {
  if (len == 0 || len > TBL_MAX_QUERY) return TA_EINVAL;
  return add_hashed(c, w, s, len, n, agg__event_hash(w, s, len));
}

/* How far ahead add_events prefetches a slot; the entry it points to is prefetched half as far
 * ahead, when the slot has had time to arrive. */
#define AHEAD 16

int agg__counter_add_events(agg__counter_t *c, const agg__event_t *ev, size_t n) {
  for (size_t i = 0; i < n && i < AHEAD; i++)
    __builtin_prefetch(&c->slots[home(ev[i].hash, c->cap)]);
  for (size_t i = 0; i < n; i++) {
    if (i + AHEAD < n) __builtin_prefetch(&c->slots[home(ev[i + AHEAD].hash, c->cap)]);
    if (i + AHEAD / 2 < n) {
      const slot_t *sl = &c->slots[home(ev[i + AHEAD / 2].hash, c->cap)];
      if (sl->e) __builtin_prefetch(sl->e);
    }
    if (ev[i].len == 0 || ev[i].len > TBL_MAX_QUERY) return TA_EINVAL;
    int rc = add_hashed(c, ev[i].week, ev[i].s, ev[i].len, 1, ev[i].hash);
    if (rc) return rc;
  }
  return 0;
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

static int add_hashed(agg__counter_t *c, tbl_week_t w, const char *s, size_t len, uint64_t n,
                      uint64_t h) {
  if (c->finished) return TA_EINVAL;
  size_t cap = c->cap, i = home(h, cap);
  for (; c->slots[i].e; i = i + 1 == cap ? 0 : i + 1) {
    entry_t *e = c->slots[i].e;
    if (c->slots[i].hash == h && e->week == w && e->len == len && same_bytes(e->s, s, len)) {
      if (e->count > UINT64_MAX - n) return TA_ERANGE;
      e->count += n;
      return 0;
    }
  }
  int spilled = 0;
  if ((c->n + 1) * 2 > c->cap) {
    /* Twice the slots, or what the budget leaves while the old slots are still held; when that
     * is hardly more, spill instead. */
    uint64_t held = used_bytes(c->cap, c->arena_bytes);
    uint64_t room = held < c->budget ? (c->budget - held) / sizeof(slot_t) : 0;
    size_t ncap = c->cap * 2;
    if (room < ncap) ncap = (size_t)room;
    if (ncap > (UINT64_C(1) << 31)) ncap = (size_t)1 << 31; /* home() takes 32-bit hashes */
    int rc = ncap < c->cap + c->cap / 8 ? spill(c) : grow(c, ncap);
    if (rc) return rc;
    return add_hashed(c, w, s, len, n, h);
  }
  entry_t *e = arena_alloc(c, (sizeof(entry_t) + len + 7) & ~(size_t)7, &spilled);
  if (!e) return TA_ENOMEM;
  if (spilled) { /* the table is empty again: find a slot afresh */
    cap = c->cap;
    for (i = home(h, cap); c->slots[i].e; i = i + 1 == cap ? 0 : i + 1) {
    }
  }
  if (c->n == 0 || w < c->wmin) c->wmin = w;
  if (c->n == 0 || w > c->wmax) c->wmax = w;
  e->count = n;
  e->week = w;
  e->len = (uint32_t)len;
  memcpy(e->s, s, len);
  c->slots[i].hash = h;
  c->slots[i].e = e;
  c->n++;
  return 0;
}

/* ---- Merge -------------------------------------------------------------------------------- */

static int get_varint(const unsigned char **p, const unsigned char *lim, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && *p < lim; shift += 7) {
    unsigned ch = *(*p)++;
    r |= (uint64_t)(ch & 0x7f) << shift;
    if (!(ch & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return *p == lim ? TA_ETRUNC : TA_ECORRUPT;
}

/* Loads the next record of src; 1 when there is one, 0 at its end. */
static int source_next(agg__counter_t *c, source_t *src) {
  if (src->fd < 0) {
    if (c->item_i == c->n_items) return 0;
    if (c->item_i + 8 < c->n_items) __builtin_prefetch(c->items[c->item_i + 8].e);
    entry_t *e = c->items[c->item_i++].e;
    src->week = e->week;
    src->len = e->len;
    src->count = e->count;
    src->sp = e->s;
    src->key = agg__prefix_key(e->s, e->len);
    return 1;
  }
  /* A whole record in the buffer (or the end of the file); the current one is done with. */
  while (src->end - src->pos < RECORD_MAX && !src->eof) {
    memmove(src->buf, src->buf + src->pos, src->end - src->pos);
    src->end -= src->pos;
    src->pos = 0;
    ssize_t r = read(src->fd, src->buf + src->end, SRC_BUF - src->end);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return TA_EIO;
    if (r == 0) src->eof = 1;
    src->end += (size_t)r;
  }
  if (src->pos == src->end) return 0;
  const unsigned char *p = src->buf + src->pos, *lim = src->buf + src->end;
  uint64_t w, len, count;
  int rc;
  if ((rc = get_varint(&p, lim, &w)) || (rc = get_varint(&p, lim, &len))) return rc;
  if (len == 0 || len > TBL_MAX_QUERY || w > UINT32_MAX) return TA_ECORRUPT;
  if ((size_t)(lim - p) < len) return TA_ETRUNC;
  src->sp = (const char *)p;
  src->key = agg__prefix_key(src->sp, (size_t)len);
  p += len;
  if ((rc = get_varint(&p, lim, &count))) return rc;
  src->week = (tbl_week_t)((uint32_t)w ^ 0x80000000u);
  src->len = (uint32_t)len;
  src->count = count;
  src->pos = (size_t)(p - src->buf);
  return 1;
}

static int src_less(const source_t *a, const source_t *b) {
  if (a->week != b->week) return a->week < b->week;
  if (a->key != b->key) return a->key < b->key;
  return cmp_pair(a->week, a->sp, a->len, b->week, b->sp, b->len) < 0;
}

static void sift_down(agg__counter_t *c, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < c->heap_n && src_less(&c->src[c->heap[l]], &c->src[c->heap[m]])) m = l;
    if (l + 1 < c->heap_n && src_less(&c->src[c->heap[l + 1]], &c->src[c->heap[m]])) m = l + 1;
    if (m == i) return;
    size_t t = c->heap[i];
    c->heap[i] = c->heap[m];
    c->heap[m] = t;
    i = m;
  }
}

static void close_sources(agg__counter_t *c) {
  for (size_t i = 0; i < c->n_src; i++) {
    if (c->src[i].fd >= 0) close(c->src[i].fd);
    free(c->src[i].buf);
  }
  free(c->src);
  free(c->heap);
  c->src = NULL;
  c->heap = NULL;
  c->n_src = c->heap_n = 0;
}

/* Opens runs[first..first+n) (and the in-memory items when with_memory) as merge sources. */
static int open_sources(agg__counter_t *c, size_t first, size_t n, int with_memory) {
  size_t total = n + (with_memory ? 1 : 0);
  c->src = calloc(total ? total : 1, sizeof *c->src);
  c->heap = calloc(total ? total : 1, sizeof *c->heap);
  if (!c->src || !c->heap) return TA_ENOMEM;
  for (size_t i = 0; i < total; i++) {
    source_t *s = &c->src[i];
    s->fd = -1;
    c->n_src++;
    if (i < n) {
      if (!(s->buf = malloc(SRC_BUF))) return TA_ENOMEM;
      if ((s->fd = open(c->runs[first + i], O_RDONLY | O_CLOEXEC)) < 0)
        return ta_error_from_errno(errno);
    }
    int rc = source_next(c, s);
    if (rc < 0) return rc;
    if (rc == 1) c->heap[c->heap_n++] = i;
  }
  for (size_t i = c->heap_n / 2 + 1; i-- > 0;) sift_down(c, i);
  return 0;
}

static int merge_next(agg__counter_t *c, tbl_week_t *w, const char **s, size_t *len,
                      uint64_t *count) {
  if (c->heap_n == 0) return 0;
  source_t *top = &c->src[c->heap[0]];
  *w = top->week;
  *len = top->len;
  memcpy(c->out, top->sp, top->len);
  *s = c->out;
  *count = 0;
  uint64_t key = top->key;
  while (c->heap_n) {
    top = &c->src[c->heap[0]];
    if (top->week != *w || top->key != key || top->len != *len ||
        memcmp(top->sp, c->out, *len) != 0)
      break;
    if (*count > UINT64_MAX - top->count) return TA_ERANGE;
    *count += top->count;
    int rc = source_next(c, top);
    if (rc < 0) return rc;
    if (rc == 0) c->heap[0] = c->heap[--c->heap_n];
    sift_down(c, 0);
  }
  return 1;
}

/* Merges runs into fewer than FAN_IN, so the final merge keeps few files and buffers open. */
static int reduce_runs(agg__counter_t *c) {
  while (c->n_runs > FAN_IN) {
    char *path;
    run_writer_t *rw;
    int rc = run_open(c, &rw, &path);
    if (rc) return rc;
    rc = open_sources(c, 0, FAN_IN, 0);
    tbl_week_t w;
    const char *s;
    size_t len;
    uint64_t count;
    while (rc == 0 && (rc = merge_next(c, &w, &s, &len, &count)) == 1) {
      run_put(rw, w, s, len, count);
      rc = 0;
    }
    close_sources(c);
    int crc = run_close(rw);
    if (rc == 0) rc = crc;
    free(rw);
    if (rc < 0) {
      unlink(path);
      free(path);
      return rc;
    }
    for (size_t i = 0; i < FAN_IN; i++) {
      unlink(c->runs[i]);
      free(c->runs[i]);
    }
    memmove(c->runs, c->runs + FAN_IN, (c->n_runs - FAN_IN) * sizeof *c->runs);
    c->n_runs -= FAN_IN;
    c->runs[c->n_runs++] = path;
  }
  return 0;
}

int agg__counter_finish(agg__counter_t *c) {
  if (c->finished) return TA_EINVAL;
  c->finished = 1;
  int rc = sort_table(c);
  if (rc) return rc;
  if (c->n_runs == 0) return 0;
  /* The sorted rest stays in memory as one more source; intermediate merges need none of it. */
  if ((rc = reduce_runs(c))) return rc;
  return open_sources(c, 0, c->n_runs, 1);
}

int agg__counter_next(agg__counter_t *c, tbl_week_t *w, const char **s, size_t *len,
                      uint64_t *count) {
  if (!c->finished) return TA_EINVAL;
  if (c->n_runs) return merge_next(c, w, s, len, count);
  if (c->item_i == c->n_items) return 0;
  if (c->item_i + 8 < c->n_items) __builtin_prefetch(c->items[c->item_i + 8].e);
  entry_t *e = c->items[c->item_i++].e;
  *w = e->week;
  *s = e->s;
  *len = e->len;
  *count = e->count;
  return 1;
}

void agg__counter_free(agg__counter_t *c) {
  if (!c) return;
  close_sources(c);
  for (size_t i = 0; i < c->n_runs; i++) {
    unlink(c->runs[i]);
    free(c->runs[i]);
  }
  free(c->runs);
  for (chunk_t *ch = c->chunks, *next; ch; ch = next) {
    next = ch->next;
    big_free(ch, sizeof *ch + ch->size);
  }
  big_free(c->slots, c->cap * sizeof *c->slots);
  free(c->spill_dir);
  free(c);
}
