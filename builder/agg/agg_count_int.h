/*
 * typeahead: the counter's internals (agg_count.c: the table; agg_sort.c: sorting it;
 * agg_spill.c: run files and the merge). Not for the rest of the aggregator, which sees
 * agg__counter_t through agg_int.h.
 *
 *   slots[cap]  open addressing, linear probing, {full 64-bit hash, entry}; 0 = empty
 *   arena       chunks of entries {count, week, len, bytes}, never moved while counting
 *   runs[]      sorted run files of the spill directory, one per spill
 *
 * Sorting happens inside the slot array (agg__sort_table), so a spill or the finish needs no
 * memory beyond the budget.
 */
#ifndef TYPEAHEAD_AGG_COUNT_INT_H
#define TYPEAHEAD_AGG_COUNT_INT_H

#include "agg_int.h"

typedef struct entry {
  uint64_t count;
  tbl_week_t week;
  uint32_t len;
  char s[];
} agg__entry_t;

typedef struct {
  uint64_t hash;
  agg__entry_t *e;
} agg__slot_t;

/* Fetches an entry ahead of its use: its first line and the next one, which holds the rest of a
 * short entry that crosses a line (entries are 8-aligned; most are under 48 bytes). */
static inline void agg__prefetch_entry(const agg__entry_t *e) {
  __builtin_prefetch(e);
  __builtin_prefetch((const char *)e + 47);
}

/* An entry being sorted (agg__sort_table): as big as a slot, so the slot array holds them. */
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
  agg__slot_t *slots;
  size_t cap, n;
  agg__chunk_t *chunks, *cur;
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
