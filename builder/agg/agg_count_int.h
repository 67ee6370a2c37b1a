/*
 * typeahead: the counter's internals (agg_count.c: the table; agg_sort.c: sorting it;
 * agg_spill.c: run files and the merge). Not for the rest of the aggregator, which sees
 * agg__counter_t through agg_int.h.
 *
 *   slots[cap]  open addressing, linear probing, 8 bytes each: the hash's low 32 bits (which
 *               also choose the home slot) over the entry's reference; 0 = empty
 *   arena       chunks of entries {count, week - wbase, len, bytes}, never moved while counting,
 *               4-aligned and referred to by 32 bits: chunk number, then offset in 4-byte units
 *   runs[]      sorted run files of the spill directory, one per spill
 *
 * Slots and entries are small so that many pairs fit the budget (fewer spills) and more of the
 * table stays in cache. The table grows past load 1/2 while the budget has room for more slots
 * (aiming its last size at what the budget holds); at its last size it fills on to load 2/3
 * before it spills. Sorting happens inside the slot array (agg__sort_table): at load <= 2/3 it
 * has 12 bytes per entry, one sort item each, so a spill or the finish needs no memory beyond
 * the budget but a fixed buffer for the radix passes.
 *
 * Why: with 16-byte items (load <= 1/2) and 10-byte entry heads, the generated 100M-line log
 * (13M pairs, spellings of 16 bytes on average) needed 44 bytes a pair; a table grew only by
 * doubling, and the last doubling did not fit (old and new slots at once), so each partition
 * spilled at 2/3 of its budget (4 spills, peak RSS 366 MB at --mem 512). At 12 + 25.6 bytes a
 * pair the 488 MB budget holds all of it: no spill.
 *
 * Measured and not kept (perf, the generated log's first 20M lines, --mem 100, 2 shared cores):
 * a per-worker combiner, a direct-mapped table of 64-byte slots summing repeated pairs in front
 * of the partition queues (a hit worth 4 misses). With 4096 slots push_event took 5x its
 * samples (its slot's load missed the cache), with 512 slots 2x, and agg__counter_add_events
 * no fewer either way (4096 slots: CPU median of 5 alternated runs 4.56 s, without 4.28 s).
 * Radix-partitioned counting (a standalone benchmark, one thread, the generated log's 95.6M
 * fast-path events, 12.5M pairs, load 4-6): events scattered into P buffers of F events in all,
 * then each partition's small table counted in turn (prefetched likewise), took 119-454 ns an
 * event (P 1024 or 4096, F 16M or 32M; 408-449 at F 96M, where the buffer's page faults
 * dominate) against 86-142 ns for one big table probed as here, 1.4x to 3.2x in the same
 * sessions. A flush brings about one event per pair of a partition, so its table's lines are
 * fetched as often as the big table's; more reuse needs buffers larger than the tables, which
 * the budget does not leave. With no budget (another standalone run: all 100M events of the
 * bench's shape buffered, 3.2 GB, their pages touched before the clock, two threads), P = 1024
 * took 12.5 ns an event to scatter and 14.2 of CPU to count, 26.7 in all, against 40.8 for two
 * big tables (events split between them by hash): 1.5x less CPU, for buffers as big as the log.
 */
#ifndef TYPEAHEAD_AGG_COUNT_INT_H
#define TYPEAHEAD_AGG_COUNT_INT_H

#include <stddef.h>
#include <string.h>

#include "agg_int.h"

/* An entry: an 8-byte head, then the spelling. The week is kept as its distance from the
 * table's base week (agg__counter_t.wbase, the first week of the table); a week farther than
 * 16 bits reach makes the entry far: len has AGG__FAR set and the week follows the spelling
 * (after the high word of a wide count). A count past 2^32 - 1 makes the entry wide: its high
 * word follows the spelling (4-aligned) and len has AGG__WIDE set (agg__entry_count); the entry
 * it replaces stays in the arena with AGG__DEAD set. Whether an entry is far depends only on its
 * week and wbase, so a pair has one form in a table. */
typedef struct entry {
  uint32_t count; /* the count, or its low word when wide */
  int16_t wk;     /* week - wbase; 0 when far */
  uint16_t len;   /* spelling bytes (<= TBL_MAX_KEY), | AGG__WIDE, | AGG__DEAD, | AGG__FAR */
  char s[];
} agg__entry_t;
#define AGG__WIDE 0x8000u
#define AGG__DEAD 0x4000u
#define AGG__FAR 0x2000u
#define AGG__ENTRY_HEAD offsetof(agg__entry_t, s)
_Static_assert(TBL_MAX_KEY < AGG__FAR, "a spelling's length fits under the flags");
_Static_assert(AGG__ENTRY_HEAD == 8, "an entry's head is 8 bytes");

static inline size_t agg__entry_len(const agg__entry_t *e) {
  return e->len & (AGG__FAR - 1);
}

/* The bytes of an entry of len bytes of spelling, wide and far or not. */
static inline size_t agg__entry_bytes(size_t len, int wide, int far) {
  return ((AGG__ENTRY_HEAD + len + 3) & ~(size_t)3) + (wide ? 4 : 0) + (far ? 4 : 0);
}

/* The bytes an entry takes in the arena (entries follow one another in a chunk). */
static inline size_t agg__entry_size(const agg__entry_t *e) {
  return agg__entry_bytes(agg__entry_len(e), e->len & AGG__WIDE, e->len & AGG__FAR);
}

/* Where a wide entry keeps the high word of its count. */
static inline char *agg__entry_high(const agg__entry_t *e) {
  return (char *)e + ((AGG__ENTRY_HEAD + agg__entry_len(e) + 3) & ~(size_t)3);
}

/* Where a far entry keeps its week. */
static inline char *agg__entry_far(const agg__entry_t *e) {
  return agg__entry_high(e) + (e->len & AGG__WIDE ? 4 : 0);
}

static inline uint64_t agg__entry_count(const agg__entry_t *e) {
  uint64_t n = e->count;
  if (e->len & AGG__WIDE) {
    uint32_t hi;
    memcpy(&hi, agg__entry_high(e), 4);
    n += (uint64_t)hi << 32;
  }
  return n;
}

/* The week of an entry of a table whose base week is wbase. */
static inline tbl_week_t agg__entry_week(const agg__entry_t *e, tbl_week_t wbase) {
  if (e->len & AGG__FAR) {
    tbl_week_t w;
    memcpy(&w, agg__entry_far(e), sizeof w);
    return w;
  }
  return (tbl_week_t)((int64_t)wbase + e->wk);
}

/* An entry's reference: chunk number (13 bits), offset in 4-byte units (19 bits), so chunks are
 * at most 2 MiB and a counter's arena at most 16 GiB (it spills there, whatever its budget). */
#define AGG__UNIT_BITS 19
#define AGG__MAX_CHUNK ((size_t)4 << AGG__UNIT_BITS)
#define AGG__MAX_CHUNKS ((size_t)1 << (32 - AGG__UNIT_BITS))

/* Fetches an entry ahead of its use: its first line and the next one, which holds the rest of a
 * short entry that crosses a line (most are under 48 bytes). */
static inline void agg__prefetch_entry(const agg__entry_t *e) {
  __builtin_prefetch(e);
  __builtin_prefetch((const char *)e + 47);
}

/* How far ahead entries read in sorted order (scattered over the arena: each one a cache miss,
 * with little work between them) are fetched. */
#define AGG__READ_AHEAD 32

/* An entry being sorted (agg__sort_table): 12 bytes, so that the slot array (8 bytes a slot, at
 * most 2/3 of them used) holds one for each entry. key2 is a 64-bit key (agg__item_key): the week
 * and the first bytes, where most comparisons stop; ref is the entry's reference. */
typedef struct {
  uint32_t key2[2];
  uint32_t ref;
} agg__item_t;
_Static_assert(sizeof(agg__item_t) == 12, "three sort items fit two slots");

static inline uint64_t agg__item_key(const agg__item_t *it) {
  uint64_t k;
  memcpy(&k, it->key2, 8);
  return k;
}

static inline void agg__item_set_key(agg__item_t *it, uint64_t k) {
  memcpy(it->key2, &k, 8);
}

typedef struct chunk {
  struct chunk *next;
  size_t size, used;
  char data[];
} agg__chunk_t;

typedef struct agg__source agg__source_t; /* agg_spill.c: a sorted source of the merge */

struct agg__counter {
  uint64_t budget;
  char *spill_dir;
  unsigned id;
  uint64_t *slots; /* tag << 32 | reference; 0 = empty */
  size_t cap, n;
  agg__chunk_t *chunks, *cur;
  char **base; /* base[i]: chunk number i, as references count it */
  size_t n_chunks, cur_no;
  size_t chunk_size, arena_bytes;
  tbl_week_t wmin, wmax; /* weeks in the table now (for the sort key) */
  tbl_week_t wbase;      /* the week entries are kept relative to: the table's first */
  size_t entry_bytes;    /* the arena bytes its entries take (for the mean size of one) */
  /* spilled runs */
  char **runs;
  size_t n_runs, runs_cap;
  uint64_t run_seq, spills;
  int failed; /* 0, or the TA_E* of a failed spill: the counts are lost, every call fails */
  /* finish */
  int finished;
  agg__item_t *items;
  size_t n_items, item_i;
  agg__item_t *scratch; /* agg__sort_table's buffer, when the slot array leaves too little */
  agg__source_t *src;
  size_t n_src;
  size_t *heap;
  size_t heap_n;
  char out[TBL_MAX_KEY];
};

static inline agg__entry_t *agg__entry_at(const agg__counter_t *c, uint32_t ref) {
  return (agg__entry_t *)(void *)(c->base[ref >> AGG__UNIT_BITS] +
                                  ((size_t)(ref & ((1u << AGG__UNIT_BITS) - 1)) << 2));
}

/* Sorts the table into c->items (by week, then bytes), in the slot array itself; the table is
 * unusable until it is emptied (agg_sort.c). */
void agg__sort_table(agg__counter_t *c);

/* Sorts the table and writes it as the next run file of the spill directory; the caller then
 * empties the table (agg_spill.c). */
int agg__spill_write(agg__counter_t *c);
/* After agg__sort_table at the finish: merges runs down to a few and opens them and the sorted
 * rest in memory as the sources of agg__counter_next. */
int agg__spill_merge_open(agg__counter_t *c);
/* Closes the merge's sources; the run files stay (agg__counter_free removes them). */
void agg__spill_merge_close(agg__counter_t *c);

#endif /* TYPEAHEAD_AGG_COUNT_INT_H */
