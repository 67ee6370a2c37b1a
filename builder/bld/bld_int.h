/*
 * Internals of the builder (ta_bld): the accumulator's memory layout.
 *
 *   arena  : one growable byte buffer; every key and display spelling is stored once in it and
 *            named by (offset, length).
 *   keys[] : bld__key_t, one per distinct key. The display spelling equal to the key itself (the
 *            common case: "new york") is not stored apart: its weight is the key's self_weight.
 *   spells[] : bld__spell_t, one per other display spelling ("New York"); a spelling has exactly
 *            one key, since key(display(x)) == key(x).
 *   ktab / stab : open-addressing tables (linear probing, 2^bits slots, load <= 0.7) of
 *            slots {index + 1, hash tag}; 0 is an empty slot. The tag (the hash's high 32 bits)
 *            spares most string compares, and its top bits are the slot's home, so the tables
 *            grow without rehashing strings.
 *
 *   slot (8 bytes)      bld__key_t (40 bytes)                           bld__spell_t (24 bytes)
 *   +-------+-------+   +---------+-----+------+-------+-------+------+  +-----+-----+-----+--------+
 *   | idx+1 |  tag  |   | key_off | len | best | score | count | self |  | off | len | key | weight |
 *   +-------+-------+   +---------+-----+------+-------+-------+------+  +-----+-----+-----+--------+
 *
 * No allocation per entry: arrays and tables grow by doubling.
 */
#ifndef TYPEAHEAD_BLD_INT_H
#define TYPEAHEAD_BLD_INT_H

#include <stdint.h>

#include "bld.h"

#define BLD__NONE UINT32_MAX       /* best: no spelling yet */
#define BLD__SELF (UINT32_MAX - 1) /* best: the key's own bytes */

typedef struct {
  uint64_t off;
  uint32_t len;
  uint32_t best; /* heaviest display spelling: index in spells[], or BLD__SELF */
  double score;
  double count;       /* events behind the score, undecayed: what --min-count compares */
  double self_weight; /* weight of the spelling equal to the key; < 0 when never seen */
} bld__key_t;

typedef struct {
  uint64_t off;
  uint32_t len;
  uint32_t key;
  double weight;
} bld__spell_t;

typedef struct {
  uint32_t idx1; /* index + 1; 0 = empty */
  uint32_t tag;
} bld__slot_t;

typedef struct {
  bld__slot_t *slots;
  unsigned bits; /* size = 2^bits */
  uint64_t mask; /* size - 1 */
  uint64_t used;
} bld__table_t;

struct bld_acc {
  char *arena;
  size_t arena_len, arena_cap;
  bld__key_t *keys;
  size_t nkeys, keys_cap;
  bld__spell_t *spells;
  size_t nspells, spells_cap;
  uint64_t nself; /* keys whose own bytes were seen as a display spelling */
  bld__table_t ktab, stab;
  uint64_t adds;
  int consumed; /* set by bld_write */
};

/* The display form chosen for k: (offset, length) in the arena. */
static inline void bld__display_of(const bld_acc_t *a, const bld__key_t *k, uint64_t *off,
                                   uint32_t *len) {
  if (k->best == BLD__SELF) {
    *off = k->off;
    *len = k->len;
  } else {
    *off = a->spells[k->best].off;
    *len = a->spells[k->best].len;
  }
}

/* Parses a count: optional spaces, a non-negative decimal ("12", "3.5", ".5", "1e3": the syntax
 * of ta_parse_double), optional spaces. 0 or TA_EPARSE. */
int bld__parse_count(const char *s, size_t len, double *out);

/* Formats a one-line reason into d->msg; d may be NULL. */

#endif /* TYPEAHEAD_BLD_INT_H */
