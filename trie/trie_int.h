/*
 * typeahead: internals of the trie file format shared by the writer, the reader and the tests.
 * The format is specified byte by byte in docs/FORMAT.md; this header is its C mirror.
 *
 * File layout (all integers little endian, sections aligned to 8 bytes, zero padding between):
 *
 *   +----------------------------------------------------------------------------------+
 *   | HEADER  magic "\x89TAH\r\n\x1a\n" | write_version u32 | min_read_version u32 |     |
 *   |         header_size u32 | section_count u32 |                                      |
 *   |         section table: section_count x { id u32, crc32c u32, offset u64, len u64 }|
 *   |         header crc32c u32 (over every header byte before it)                     |
 *   +----------------------------------------------------------------------------------+
 *   | META    k, flags, num_queries, num_nodes, build_time, root, max key length, source,|
 *   |         normalization version                                                      |
 *   | STROFF  u32 x (n+1): offset of display string of id i in STR; last = len(STR)     |
 *   | SCORES  f64 x n: score of id i (non-increasing)                                   |
 *   | NODES   radix trie over key bytes, nodes in DFS pre-order                          |
 *   | STR     display strings by id, concatenated                                       |
 *   +----------------------------------------------------------------------------------+
 *
 * Query id = rank: entries sorted by (score desc, key bytes asc); id 0 is the best. So the top-k
 * of a node are the k smallest ids of its subtree, and comparing ids compares rank.
 *
 * One node of NODES (varint = unsigned LEB128, at most 10 bytes), parsed by trie__node_parse:
 *
 *   +-------+--------+---------+-------+--------+---------------------+--------+--------------+
 *   | flags |[nchild]|label_len| label | [id]   |[list_len | top-k ids]| bytes  |[width|offsets]|
 *   | 1 B   | varint | varint  | bytes | varint | varint   | varints  | nchild | 1 B |(n-1) x w|
 *   +-------+--------+---------+-------+--------+---------------------+--------+--------------+
 *     flags: bit 0 terminal (a key ends here: [id] present), bit 1 heavy (subtree holds more
 *            than k keys: the list is present), bits 2..7 number of children 0..62, or 63:
 *            the count (63..256) is the [nchild] varint that follows the flags byte.
 *     label: the edge from the parent into this node (empty only at the root).
 *     list:  list_len = byte length of the ids that follow; k ids ascending, the first as is,
 *            then each as (id - previous id - 1).
 *     bytes: the first label byte of each child, strictly ascending.
 *     width, offsets (only when nchild >= 2): child 0 starts right after this node (at "end");
 *            child i >= 1 starts at end + offsets[i-1], a width-byte (1..8) little-endian
 *            integer, strictly increasing. Fixed width gives O(1) access to any child; every
 *            offset points forward, so a hostile file cannot make a walk loop.
 *
 *   A light node (<= k keys below it) stores no list: lookup scans its subtree, which is
 *   contiguous in pre-order, and sorts the ids it finds.
 *
 *       root "" heavy {0,1}      keys (id): "a" (2), "ab" (0), "ac" (1), k = 2
 *         └─ "a" [id 2] heavy {0,1}
 *              ├─ "b" [id 0]
 *              └─ "c" [id 1]
 */
#ifndef TYPEAHEAD_TRIE_INT_H
#define TYPEAHEAD_TRIE_INT_H

#include <stdint.h>
#include <string.h>

#include "trie.h"

/* ---- Format constants -------------------------------------------------------------------- */

#define TRIE_MAGIC "\x89TAH\r\n\x1a\n"
#define TRIE_MAGIC_LEN 8
/* Version this code writes, and the oldest reader able to read what it writes. Version 2
 * records the normalization version (META); a version 1 reader must not open it, since it
 * would match its own keys against keys of another normalization. */
#define TRIE_FORMAT_VERSION 2u
#define TRIE_MIN_READ_VERSION 2u

#define TRIE_HDR_FIXED 24u  /* magic, write ver, min read ver, header size, count */
#define TRIE_SECT_ENTRY 24u /* id, crc32c, offset, length */
#define TRIE_MAX_SECTIONS 64u

enum {
  TRIE_SECT_META = 1,
  TRIE_SECT_NODES = 2,
  TRIE_SECT_STROFF = 3,
  TRIE_SECT_STR = 4,
  TRIE_SECT_SCORES = 5,
  TRIE_SECT_NUM_KNOWN = 5
};

/* META section: fixed part, then source_len bytes of source text. */
#define TRIE_META_K 0u           /* u32 */
#define TRIE_META_FLAGS 4u       /* u32, 0 */
#define TRIE_META_NUM_QUERIES 8u /* u64 */
#define TRIE_META_NUM_NODES 16u  /* u64 */
#define TRIE_META_BUILD_TIME 24u /* i64 */
#define TRIE_META_ROOT 32u       /* u64, offset of the root node inside NODES */
#define TRIE_META_MAX_KEY 40u    /* u32, longest key in bytes */
#define TRIE_META_SOURCE_LEN 44u /* u32 */
#define TRIE_META_FIXED 48u
/* Version 2 appends after the source: u32 normalization version (TRIE_NORM_VERSION). */
#define TRIE_META_NORM_LEN 4u

#define TRIE_NODE_TERMINAL 0x01u
#define TRIE_NODE_HEAVY 0x02u
#define TRIE_NODE_NCHILD_SHIFT 2
#define TRIE_NODE_NCHILD_ESCAPE 63u

/* ---- Little-endian helpers: the only way integers enter or leave a file ----------------- */

static inline uint16_t trie__load_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t trie__load_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t trie__load_u64(const uint8_t *p) {
  return (uint64_t)trie__load_u32(p) | ((uint64_t)trie__load_u32(p + 4) << 32);
}
static inline double trie__load_f64(const uint8_t *p) {
  uint64_t u = trie__load_u64(p);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}
static inline void trie__store_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void trie__store_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static inline void trie__store_u64(uint8_t *p, uint64_t v) {
  trie__store_u32(p, (uint32_t)v);
  trie__store_u32(p + 4, (uint32_t)(v >> 32));
}
static inline void trie__store_f64(uint8_t *p, double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  trie__store_u64(p, u);
}

/* Reads one LEB128 varint from [*p, end); advances *p. -1 when it runs past end or past 10
 * bytes (so a hostile file can neither overrun nor loop). */
static inline int trie__varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  const uint8_t *q = *p;
  if (q < end && *q < 0x80) { /* the common one-byte case */
    *out = *q;
    *p = q + 1;
    return 0;
  }
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (q >= end) return -1;
    uint8_t b = *q++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      *p = q;
      return 0;
    }
  }
  return -1;
}

/* Writes v as LEB128 into p (room for 10 bytes); returns the number of bytes. */
static inline size_t trie__put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* ---- CRC32C (Castagnoli), trie_crc32c.c -------------------------------------------------- */

/* Continues crc over buf[0..len): start with crc = 0. Uses SSE4.2 when the CPU has it. */
uint32_t trie__crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable table-driven path (slicing-by-8), exposed so tests check both. */
uint32_t trie__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* ---- Reader ------------------------------------------------------------------------------ */

typedef struct {
  uint32_t id;
  uint32_t crc;
  uint64_t off;
  uint64_t len;
} trie__section_t;

struct trie_reader {
  const uint8_t *base; /* the whole file */
  size_t size;
  int mapped; /* 1: base is our mmap, unmapped at close; 2: our malloc'd copy, freed */
  uint32_t write_version;
  uint32_t header_crc;
  uint32_t k;
  uint64_t n; /* num_queries */
  uint64_t num_nodes;
  int64_t build_time;
  uint64_t root; /* offset of the root node inside NODES */
  uint32_t max_key;
  const char *source;
  size_t source_len;
  uint32_t norm_version;
  uint32_t nsect;
  trie__section_t sect[TRIE_MAX_SECTIONS];
  const uint8_t *nodes; /* the known sections, bounds-checked at open */
  size_t nodes_len;
  const uint8_t *stroff;
  const uint8_t *str;
  size_t str_len;
  const uint8_t *scores;
};

/* The name of a section id ("META", "NODES", ...; "unknown" for an id this version does not
 * know): what --info prints and what a diagnostic names. Static strings. */
const char *trie__section_name(uint32_t id);

/* Opens a file image held in memory (borrowed: it must outlive the reader). Same checks as
 * trie_open; used by the fuzz target and tests. */
int trie__open_mem(const void *buf, size_t len, trie_reader_t **out);

/* One parsed node. Offsets are relative to the start of NODES. */
typedef struct {
  size_t pos; /* the node itself */
  unsigned flags;
  uint64_t nchild;
  const uint8_t *label;
  size_t label_len;
  uint64_t id;         /* when terminal */
  const uint8_t *list; /* when heavy: list_len bytes of k varints */
  size_t list_len;
  const uint8_t *child_bytes; /* nchild bytes */
  const uint8_t *offsets;     /* nchild - 1 offsets of width bytes */
  unsigned width;
  size_t end; /* first byte after the node = start of child 0 */
} trie__node_t;

/* Parses the node at pos; every field is bounds-checked against NODES. TA_ECORRUPT on failure. */
int trie__node_parse(const trie_reader_t *r, size_t pos, trie__node_t *nd);

/* Offset of child idx (< nchild) from nd->end; the caller checks it against NODES. */
static inline uint64_t trie__child_off(const trie__node_t *nd, uint64_t idx) {
  if (idx == 0) return 0;
  const uint8_t *p = nd->offsets + (size_t)(idx - 1) * nd->width;
  uint64_t v = 0;
  for (unsigned i = nd->width; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

/* The bytes of the UTF-8 sequence that lead starts (1..4), 0 when lead is a continuation byte:
 * the one reading of a lead byte for the code that walks keys code point by code point. */
static inline unsigned trie__utf8_len(uint8_t lead) {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
}

/* Decodes the heavy list of nd into ids[0..k) (ascending, each < n). TA_ECORRUPT on failure. */
int trie__node_list(const trie_reader_t *r, const trie__node_t *nd, uint32_t *ids);

/* The top-k ids of the subtree of nd (its stored list, or the scan of a light subtree), best
 * first, into ids[] (room for TA_MAX_K), their number into *count. The walking primitive of
 * trie_fuzzy.c, which names nodes rather than prefixes. */
int trie__node_ids(const trie_reader_t *r, const trie__node_t *nd, uint32_t ids[TA_MAX_K],
                   unsigned *count);

/* Fills a hit for id (checks id < n and the STROFF bounds). A text it decodes goes into text
 * (the callers check it is not NULL); today's format decodes none: texts are views into STR. */
int trie__hit(const trie_reader_t *r, uint64_t id, trie_text_t *text, trie_hit_t *hit);

/* ---- Text scratch, trie_text.c ----------------------------------------------------------- */

/* Bytes of a chunk of a scratch: about 280 answers of k = 10 at 23-byte texts between two
 * resets. A longer text gets a chunk of its own. */
#define TRIE_TEXT_CHUNK (64u << 10)

/* Room for len bytes in t at *out, which keeps its place until trie_text_reset or
 * trie_text_free (never moved). TA_ENOMEM. */
int trie__text_put(trie_text_t *t, size_t len, char **out);

#endif /* TYPEAHEAD_TRIE_INT_H */
