/*
 * Internals of the builder (ta_bld): the accumulator's memory layout.
 *
 *   arena  : one growable byte buffer; every key and display spelling is stored once in it and
 *            named by (offset, length). A display spelling equal to its key shares its bytes.
 *   keys[] : bld__key_t, one per distinct key     spells[] : bld__spell_t, one per distinct
 *            display spelling (a spelling has exactly one key, since key(display(x)) == key(x))
 *   ktab / stab : open-addressing tables (linear probing, 2^bits slots, load <= 0.7) of
 *            slots {index + 1, hash tag}; 0 is an empty slot. The tag (the hash's high 32 bits)
 *            spares most string compares, and its top bits are the slot's home, so the tables
 *            grow without rehashing strings.
 *
 *   slot (8 bytes)          bld__key_t (24 bytes)          bld__spell_t (24 bytes)
 *   +--------+--------+     +---------+-----+------+-----+  +---------+-----+-----+--------+
 *   | idx+1  |  tag   |     | key_off | len | best | sc. |  | off     | len | key | weight |
 *   +--------+--------+     +---------+-----+------+-----+  +---------+-----+-----+--------+
 *
 * No allocation per entry: arrays and tables grow by doubling.
 */
#ifndef TYPEAHEAD_BLD_INT_H
#define TYPEAHEAD_BLD_INT_H

#include <stdint.h>

#include "bld.h"

#define BLD__NONE UINT32_MAX

typedef struct {
  uint64_t off;
  uint32_t len;
  uint32_t best; /* index of the heaviest display spelling */
  double score;
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
  uint64_t arena_len, arena_cap;
  bld__key_t *keys;
  uint64_t nkeys, keys_cap;
  bld__spell_t *spells;
  uint64_t nspells, spells_cap;
  bld__table_t ktab, stab;
  uint64_t adds;
  int consumed; /* set by bld_write */
};

/* 64-bit hash of a byte string (FNV-1a with a final mix). */
uint64_t bld__hash(const char *s, size_t len);

/* Parses a count: optional spaces, a non-negative decimal ("12", "3.5", ".5", "1e3"),
 * optional spaces. 0 or TA_EPARSE. */
int bld__parse_count(const char *s, size_t len, double *out);

#endif /* TYPEAHEAD_BLD_INT_H */
