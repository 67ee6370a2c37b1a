/*
 * typeahead: the counter's internals (agg_count.c: the table; agg_sort.c: sorting it;
 * agg_spill.c: run files and the merge). Not for the rest of the aggregator, which sees
 * agg__counter_t through agg_int.h.
 *
 *   slots[cap]  open addressing, linear probing, 8 bytes each: the hash's low 32 bits (which
 *               also choose the home slot) over the entry's reference; 0 = empty
 *   arena       chunks of entries {count, week, len, bytes}, never moved while counting, 4-aligned
 *               and referred to by 32 bits: chunk number, then offset in 4-byte units
 *   runs[]      sorted run files of the spill directory, one per spill
 *
 * Slots and entries are small so that many pairs fit the budget (fewer spills) and more of the
 * table stays in cache. Sorting happens inside the slot array (agg__sort_table): at load <= 1/2
 * it has 16 bytes per entry, one sort item each, so a spill or the finish needs no memory beyond
 * the budget.
 *
 * Measured and not kept (perf, the generated log's first 20M lines, --mem 100, 2 shared cores):
 * a per-worker combiner, a direct-mapped table of 64-byte slots summing repeated pairs in front
 * of the partition queues (a hit worth 4 misses). With 4096 slots push_event took 5x its
 * samples (its slot's load missed the cache), with 512 slots 2x, and agg__counter_add_events
 * no fewer either way (4096 slots: CPU median of 5 alternated runs 4.56 s, without 4.28 s).
 */
#ifndef TYPEAHEAD_AGG_COUNT_INT_H
#define TYPEAHEAD_AGG_COUNT_INT_H

#include <stddef.h>
#include <string.h>

#include "agg_int.h"

/* An entry: a 10-byte head, then the spelling. A count past 2^32 - 1 makes the entry wide: its
 * high word follows the spelling (4-aligned) and len has AGG__WIDE set (agg__entry_count); the
 * entry it replaces stays in the arena with AGG__DEAD set. */
typedef struct entry {
  uint32_t count; /* the count, or its low word when wide */
  tbl_week_t week;
  uint16_t len; /* spelling bytes (<= TBL_MAX_KEY), | AGG__WIDE, | AGG__DEAD */
  char s[];
} agg__entry_t;
#define AGG__WIDE 0x8000u
#define AGG__DEAD 0x4000u
#define AGG__ENTRY_HEAD offsetof(agg__entry_t, s)
_Static_assert(TBL_MAX_KEY < AGG__DEAD, "a spelling's length fits under the flags");

static inline size_t agg__entry_len(const agg__entry_t *e) {
  return e->len & (AGG__DEAD - 1);
}

/* The bytes an entry takes in the arena (entries follow one another in a chunk). */
static inline size_t agg__entry_size(const agg__entry_t *e) {
  return ((AGG__ENTRY_HEAD + agg__entry_len(e) + 3) & ~(size_t)3) + (e->len & AGG__WIDE ? 4 : 0);
}

/* Where a wide entry keeps the high word of its count. */
static inline char *agg__entry_high(const agg__entry_t *e) {
  return (char *)e + ((AGG__ENTRY_HEAD + agg__entry_len(e) + 3) & ~(size_t)3);
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

/* An entry being sorted (agg__sort_table): two slots' worth, so the slot array holds them. */
typedef struct {
  uint64_t key; /* week and the first bytes: most comparisons stop here */
  agg__entry_t *e;
} agg__item_t;

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
  /* spilled runs */
  char **runs;
  size_t n_runs, runs_cap;
  uint64_t run_seq, spills;
  int failed; /* 0, or the TA_E* of a failed spill: the counts are lost, every call fails */
  /* finish */
  int finished;
  agg__item_t *items;
  size_t n_items, item_i;
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
