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
 *   | SYMBOLS the label code: up to 255 symbols of 1..8 bytes (code 255: a raw byte next)|
 *   | HOTOFF  u32 M, u32 w, per 16 hot ids (< M): u32 start in HOTSTR, 16 ends of w bits|
 *   | HOTSTR  display forms of ids 0 .. M-1, concatenated                               |
 *   | SCOREVAL f64 x D: the distinct scores, strictly decreasing                        |
 *   | SCORERUN per 64 ids: which start a run of equal scores, with running counts      |
 *   | IDPOS   u32 w, w bits x n: where each id's terminal node starts in NODES         |
 *   | DISPLAY cold ids whose display form is not their key, with those forms           |
 *   | NODES   radix trie over key bytes, nodes in DFS pre-order, children best id first  |
 *   +----------------------------------------------------------------------------------+
 *
 * A cold id's text is its key, the labels on the path from the root to its node, unless
 * DISPLAY lists it.
 *
 * Query id = rank: entries sorted by (score desc, key bytes asc); id 0 is the best. So the top-k
 * of a node are the k smallest ids of its subtree, and comparing ids compares rank.
 *
 * One node of NODES (varint = unsigned LEB128, at most 10 bytes), parsed by trie__node_parse:
 *
 *   +-------+--------+---------+-------+--------+---------------------+--------+--------------+
 *   | head  |[nchild]|[lab_len]| label | [id]   |[list_len | top-k ids]| bytes  |[width|offsets]|
 *   | 1 B   | varint | varint  | codes | varint | varint   | varints  | nchild | 1 B |(n-1) x w|
 *   +-------+--------+---------+-------+--------+---------------------+--------+--------------+
 *     head:  bit 0 terminal (a key ends here: [id] present), bit 1 heavy (subtree holds more
 *            than k keys: the list is present), bits 2..3 number of children 0..2, or 3: the
 *            [nchild] varint follows, the count - 3 (3..256 children); bits 4..7 the label's
 *            length in codes 0..14, or 15: the [lab_len] varint follows, the length - 15.
 *     label: the edge from the parent into this node less its first byte, which is the
 *            parent's child byte (kept raw there: a walk picks a child with memchr); coded: each
 *            byte a symbol of SYMBOLS, or 255 and the byte itself. Empty at the root, and at a
 *            child whose edge is its one byte.
 *     list:  list_len = byte length of the ids that follow; k ids ascending, the first as is,
 *            then each as (id - previous id - 1).
 *     bytes: the first byte of each child's edge, all different, children in best-id order
 *            (the child whose subtree holds the smallest id first).
 *     width, offsets (only when nchild >= 2): child 0 starts right after this node (at "end");
 *            child i >= 1 starts at end + offsets[i-1], a width-byte (1..8) little-endian
 *            integer, strictly increasing. Fixed width gives O(1) access to any child; every
 *            offset points forward, so a hostile file cannot make a walk loop.
 *
 *   A light node (<= k keys below it) stores no list: lookup scans its subtree, which is
 *   contiguous in pre-order, and sorts the ids it finds.
 *
 *   Each edge below as its byte in the parent's bytes, then its stored label:
 *
 *       root "" heavy {0,1}, bytes 'a'      keys (id): "a" (2), "abc" (0), "ad" (1), k = 2
 *         └─ 'a' "" [id 2] heavy {0,1}, bytes 'b' 'd'
 *              ├─ 'b' "c" [id 0]
 *              └─ 'd' "" [id 1]
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
 * recorded the normalization version (META); version 3 drops the texts and scores by id (STR,
 * STROFF, SCORES) for the hot texts, score table, id positions and display exceptions below;
 * version 4 codes the node labels with the symbols of SYMBOLS; version 5 gives the hot texts'
 * offsets by groups and every id (not only the cold ones) its node, bit-packed; version 6 stores
 * a child's label without its first byte (the parent's child byte holds it).
 * No older reader can read it, and this reader refuses older files (TA_EOLDFORMAT: rebuild). */
#define TRIE_FORMAT_VERSION 6u
#define TRIE_MIN_READ_VERSION 6u

#define TRIE_HDR_FIXED 24u  /* magic, write ver, min read ver, header size, count */
#define TRIE_SECT_ENTRY 24u /* id, crc32c, offset, length */
#define TRIE_MAX_SECTIONS 64u

/* Section ids. 3, 4 and 5 were version 2's STROFF, STR and SCORES, 9 version 3's SCOREIDX: never
 * reused. */
enum {
  TRIE_SECT_META = 1,
  TRIE_SECT_NODES = 2,
  TRIE_SECT_HOTOFF = 6,    /* where the hot texts are in HOTSTR, by groups of TRIE_HOT_GROUP */
  TRIE_SECT_HOTSTR = 7,    /* display forms of ids 0 .. M - 1, concatenated */
  TRIE_SECT_SCOREVAL = 8,  /* f64 x D: the distinct scores, strictly decreasing */
  TRIE_SECT_IDPOS = 10,    /* per id, its terminal node's position in NODES, bit-packed */
  TRIE_SECT_DISPLAY = 11,  /* cold ids whose display form is not their key, and those forms */
  TRIE_SECT_SYMBOLS = 13,  /* the symbols the node labels are coded with */
  TRIE_SECT_SCORERUN = 14, /* the ids that start a run of equal scores (rank: index in SCOREVAL) */
  TRIE_SECT_MAX_ID = 14
};

/* The sections a version 6 file must have, in the order the writer lays them out. */
#define TRIE_SECT_REQUIRED                                                                     \
  {                                                                                            \
    TRIE_SECT_META, TRIE_SECT_SYMBOLS, TRIE_SECT_HOTOFF, TRIE_SECT_HOTSTR, TRIE_SECT_SCOREVAL, \
        TRIE_SECT_SCORERUN, TRIE_SECT_IDPOS, TRIE_SECT_DISPLAY, TRIE_SECT_NODES                \
  }
#define TRIE_SECT_NUM_REQUIRED 9u

/* SCORERUN: per group of 64 ids (64g .. 64g + 63), TRIE_SCORERUN_GROUP bytes: u32 the runs
 * started before the group, u8 x 8 the runs started in its bytes before byte j, then its 64 bits
 * (id 64g + 8j + i is bit i of byte j: set when the id starts a run of equal scores). The runs
 * started up to an id, less one, are its score's index in SCOREVAL: no index per id (that took
 * 1 to 2 bytes a query), and no popcount instruction (a byte table). */
#define TRIE_SCORERUN_GROUP 20u

/* SYMBOLS: u32 count s (0..255), s lengths (1..8), the symbols' bytes concatenated. A label code
 * below s is that symbol; TRIE_SYM_ESCAPE is followed by one byte that stands for itself. */
#define TRIE_SYM_MAX 255u
#define TRIE_SYM_LEN_MAX 8u
#define TRIE_SYM_ESCAPE 255u
/* Labels decode 8 bytes at a time: a decode buffer has this many bytes past its room. */
#define TRIE_SYM_SLACK 8u
/* Labels the writer trains the symbols on (every so many of the trie's), at most so many bytes
 * of them (its table of pieces takes 64 bytes a sampled byte: long labels would take gigabytes),
 * and its rounds. */
#define TRIE_SYM_SAMPLE 30000u
#define TRIE_SYM_SAMPLE_BYTES (1u << 20)
#define TRIE_SYM_ROUNDS 5u

/* The writer keeps the display forms of the best ids contiguous (HOTSTR) up to this many bytes
 * per query in all: the ids that heavy nodes near the root return, whose texts a lookup then
 * hands out as pointers, as fast as a text per id for every id would be, at a small part of the
 * bytes (docs/FORMAT-V2-PLAN.md measures it). Other texts are rebuilt from the node labels. Half
 * of version 4's 2.5: 1.3 B/query less on the AOL sample for lookups about 3 % slower (74 % of
 * what heavy nodes return there is still hot, 95 % at 10 M generated queries). */
#define TRIE_HOT_BYTES_PER_QUERY 1.25

/* HOTOFF: u32 M, u32 w (1..TRIE_HOT_W_MAX), then per group of TRIE_HOT_GROUP hot ids a record
 * of 4 + 2w bytes: u32 where the group's first text starts in HOTSTR, then TRIE_HOT_GROUP fields
 * of w bits, where each text of the group ends, from that start; then TRIE_BITS_SLACK zero
 * bytes. A text is two fields of one record (O(1)), at about 1.5 bytes a hot id instead of 4
 * for a u32 offset each. */
#define TRIE_HOT_GROUP 16u
#define TRIE_HOT_HEAD 8u
#define TRIE_HOT_W_MAX 28u /* two ends in one 8-byte load */
/* Zero bytes after a bit-packed array (HOTOFF's records, IDPOS's fields): any field, or two
 * neighbours of HOTOFF, is one 8-byte load that stays inside the section. */
#define TRIE_BITS_SLACK 8u

/* IDPOS: u32 w (1..TRIE_IDPOS_W_MAX; the writer takes the fewest bits that hold NODES' length),
 * then a field of w bits per id, bit-packed (trie__load_bits): the terminal node's offset; then
 * TRIE_BITS_SLACK zero bytes. */
#define TRIE_IDPOS_W_MAX 57u

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
/* Then, in the file of one market or one shard only (a reader that does not know it ignores it):
 * u32 market length M (0..TA_MAX_MARKET), M bytes of market name, u32 shard count (0: not a
 * shard; else 1..TRIE_MAX_SHARDS), u32 shard index (below the count; 0 when not a shard). */
#define TRIE_META_PLACE_LEN 12u /* without the name */

#define TRIE_NODE_TERMINAL 0x01u
#define TRIE_NODE_HEAVY 0x02u
/* A node's first byte also holds its child count and label length when they are small (most
 * nodes: 0 to 2 children, a label of up to 14 codes); the escape value says a varint follows. */
#define TRIE_NODE_NCHILD_SHIFT 2
#define TRIE_NODE_NCHILD_ESCAPE 3u
#define TRIE_NODE_LABEL_SHIFT 4
#define TRIE_NODE_LABEL_ESCAPE 15u

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
/* Stores v as a w-byte (1..8) little-endian integer: a child offset, whose width the writer
 * chooses per node (read back by trie__child_off). */
static inline void trie__store_uw(uint8_t *p, uint64_t v, unsigned w) {
  for (unsigned i = 0; i < w; i++) p[i] = (uint8_t)(v >> (8 * i));
}
/* The bit length of v (0 for 0): the width of a bit-packed field that holds values up to v. */
static inline unsigned trie__bit_width(uint64_t v) {
  return v == 0 ? 0 : 64u - (unsigned)__builtin_clzll(v);
}
/* Field i of w bits (1..57) of a bit-packed array p: its bits i * w .. (i + 1) * w - 1, low bits
 * first (bit b of the array is bit b % 8 of byte b / 8). One 8-byte load: the arrays of a file
 * are followed by TRIE_BITS_SLACK zero bytes, and the caller checks that field i is in. */
static inline uint64_t trie__load_bits(const uint8_t *p, uint64_t i, unsigned w) {
  uint64_t bit = i * w;
  return trie__load_u64(p + bit / 8) >> (bit % 8) & ((UINT64_C(1) << w) - 1);
}
/* Sets field i of w bits of a zeroed bit-packed array (v < 2^w): the writer's and the tests'. */
static inline void trie__store_bits(uint8_t *p, uint64_t i, unsigned w, uint64_t v) {
  uint64_t bit = i * w;
  for (unsigned b = 0; b < w; b++, bit++) {
    p[bit / 8] = (uint8_t)(p[bit / 8] & ~(1u << (bit % 8)));
    p[bit / 8] |= (uint8_t)((v >> b & 1) << (bit % 8));
  }
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
  if (end - q >= 3) { /* ids below 2^21 (two or three bytes) without the loop */
    uint64_t b0 = q[0] & 0x7f, b1 = q[1], b2 = q[2];
    if (b1 < 0x80) {
      *out = b0 | b1 << 7;
      *p = q + 2;
      return 0;
    }
    if (b2 < 0x80) {
      *out = b0 | (b1 & 0x7f) << 7 | b2 << 14;
      *p = q + 3;
      return 0;
    }
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

/* One parsed node. Offsets are relative to the start of NODES. */
typedef struct {
  size_t pos; /* the node itself */
  unsigned flags;
  unsigned first; /* its label's first byte, the parent's child byte (or TRIE_NO_FIRST) */
  uint64_t nchild;
  const uint8_t *code; /* the rest of the label, coded (trie__label) */
  size_t code_len;
  uint64_t id;         /* when terminal */
  const uint8_t *list; /* when heavy: list_len bytes of k varints */
  size_t list_len;
  const uint8_t *child_bytes; /* nchild bytes */
  const uint8_t *offsets;     /* nchild - 1 offsets of width bytes */
  unsigned width;
  size_t end; /* first byte after the node = start of child 0 */
} trie__node_t;

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
  const char *market; /* in META; market_len 0: not a market's file */
  size_t market_len;
  uint32_t shards, shard; /* shards 0: not a shard's file */
  trie_info_t info;       /* the fields above as trie_get_info gives them, made at open */
  uint32_t nsect;
  trie__section_t sect[TRIE_MAX_SECTIONS];
  const uint8_t *nodes; /* the known sections, bounds-checked at open */
  size_t nodes_len;
  uint64_t m_hot;         /* ids 0 .. m_hot - 1 have their text in HOTSTR */
  const uint8_t *hot_off; /* the groups' records (past M and w) */
  unsigned hot_w;         /* bits of a text's end in a record */
  size_t hot_rec;         /* bytes of a record: 4 + 2 * hot_w */
  const uint8_t *hot_str;
  size_t hot_len;
  const uint8_t *score_val; /* f64 x n_scores */
  uint64_t n_scores;
  const uint8_t *score_run; /* TRIE_SCORERUN_GROUP bytes per 64 ids */
  const uint8_t *idpos;     /* idpos_bits bits per id, bit-packed */
  size_t idpos_len;         /* the fields' bytes, before the slack */
  unsigned idpos_bits;
  uint64_t n_disp;          /* display exceptions */
  const uint8_t *disp_bits; /* a bit per cold id: listed in disp_ids */
  const uint8_t *disp_ids;  /* u32 x n_disp, ascending */
  const uint8_t *disp_off;  /* u32 x (n_disp + 1), into disp_str */
  const uint8_t *disp_str;
  size_t disp_len;
  const uint8_t *sym_sect; /* SYMBOLS */
  uint32_t n_sym;          /* codes 0 .. n_sym - 1 are symbols */
  uint8_t sym_len[256];    /* 0 past n_sym: a code no writer uses decodes to nothing */
  uint8_t sym[256][8];     /* each symbol zero padded, stored 8 bytes at a time */
  /* The root and its children, parsed at open (trie__top_load) when every one of them parses:
   * each walk starts there, and the root's many child bytes would take a search each time.
   * top_index[b] is 1 + the index of the root's first child whose byte is b, 0 for none. */
  int top_ok;
  trie__node_t top_root;
  uint16_t top_index[256];
  trie__node_t top_kids[256];
};

/* Where the terminal node of id (< n: the caller checks) starts in NODES: its IDPOS entry, the
 * one way every id reaches its node (cold texts, word matching). TA_ECORRUPT when the entry
 * points past NODES. */
static inline int trie__id_node(const trie_reader_t *r, uint64_t id, size_t *pos) {
  uint64_t p = trie__load_bits(r->idpos, id, r->idpos_bits);
  if (p >= r->nodes_len) return TA_ECORRUPT;
  *pos = (size_t)p;
  return 0;
}

/* The name of a section id ("META", "NODES", ...; "unknown" for an id this version does not
 * know): what --info prints and what a diagnostic names. Static strings. */
const char *trie__section_name(uint32_t id);

/* Parses the root and its children into r->top_* (top_ok = 1), or leaves top_ok 0 when one of
 * them does not parse: the walks then parse them as any node, and meet the error there. */
void trie__top_load(trie_reader_t *r);

/* Opens a file image held in memory (borrowed: it must outlive the reader). Same checks as
 * trie_open; used by the fuzz target and tests. */
int trie__open_mem(const void *buf, size_t len, trie_reader_t **out);

/* The first label byte of a node that has none from a parent: the root, or a node whose label
 * the caller does not read (found in pre-order or by IDPOS, for its ids). */
#define TRIE_NO_FIRST 256u

/* Parses the node at pos, whose label starts with the byte first (the child byte that led to it;
 * TRIE_NO_FIRST: none); every field is bounds-checked against NODES. TA_ECORRUPT on failure.
 * Inline: every walk (lookups, the typo walk, verify) parses node after node, and the call was a
 * fifth of a lookup's time. */
static inline int trie__node_parse(const trie_reader_t *r, size_t pos, unsigned first,
                                   trie__node_t *nd) {
  const uint8_t *base = r->nodes;
  const uint8_t *end = base + r->nodes_len;
  if (pos >= r->nodes_len) return TA_ECORRUPT;
  const uint8_t *p = base + pos;
  uint64_t v;
  nd->pos = pos;
  nd->first = first;
  unsigned flags = *p++;
  nd->flags = flags;
  uint64_t nchild = flags >> TRIE_NODE_NCHILD_SHIFT & TRIE_NODE_NCHILD_ESCAPE;
  if (nchild == TRIE_NODE_NCHILD_ESCAPE) {
    if (trie__varint(&p, end, &nchild) != 0 || nchild > 256 - TRIE_NODE_NCHILD_ESCAPE)
      return TA_ECORRUPT;
    nchild += TRIE_NODE_NCHILD_ESCAPE;
  }
  nd->nchild = nchild;
  v = flags >> TRIE_NODE_LABEL_SHIFT;
  if (v == TRIE_NODE_LABEL_ESCAPE) {
    if (trie__varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) return TA_ECORRUPT;
    v += TRIE_NODE_LABEL_ESCAPE;
  }
  if (v > (uint64_t)(end - p)) return TA_ECORRUPT;
  nd->code = p;
  nd->code_len = (size_t)v;
  p += v;
  if (flags & TRIE_NODE_TERMINAL) {
    if (trie__varint(&p, end, &nd->id) != 0 || nd->id >= r->n) return TA_ECORRUPT;
  } else {
    nd->id = 0; /* read only when TERMINAL; set so that no caller reads an undefined value */
  }
  if (flags & TRIE_NODE_HEAVY) {
    if (trie__varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) return TA_ECORRUPT;
    nd->list = p;
    nd->list_len = (size_t)v;
    p += v;
  } else {
    nd->list = NULL;
    nd->list_len = 0;
  }
  if (nchild > (uint64_t)(end - p)) return TA_ECORRUPT;
  nd->child_bytes = p;
  p += nchild;
  if (nchild >= 2) {
    if (p >= end) return TA_ECORRUPT;
    unsigned w = *p++;
    if (w - 1u > 7u || (nchild - 1) * w > (uint64_t)(end - p)) return TA_ECORRUPT; /* w 1..8 */
    nd->width = w;
    nd->offsets = p;
    p += (nchild - 1) * w;
  } else {
    nd->width = 0;
    nd->offsets = p;
  }
  nd->end = (size_t)(p - base);
  return 0;
}

/* Decodes the next code of a label (*c < end) after out[0..*at), whose room is room +
 * TRIE_SYM_SLACK bytes (*at <= room): a symbol is copied 8 bytes at a time. TA_ECORRUPT when
 * the key passes room or an escape is cut. For the walks that read a label byte by byte and
 * often stop early (the typo walk). */
static inline int trie__label_next(const trie_reader_t *r, const uint8_t **c, const uint8_t *end,
                                   uint8_t *out, size_t *at, size_t room) {
  const uint8_t *p = *c;
  size_t a = *at;
  unsigned s = *p++;
  if (s == TRIE_SYM_ESCAPE) {
    if (p == end) return TA_ECORRUPT;
    out[a++] = *p++;
  } else {
    memcpy(out + a, r->sym[s], 8);
    a += r->sym_len[s];
  }
  if (a > room) return TA_ECORRUPT;
  *c = p;
  *at = a;
  return 0;
}

/* Puts the first byte of nd's label (when it has one) at out[*at] (*at <= room; room +
 * TRIE_SYM_SLACK bytes): the start of every decode of a label, before its codes. TA_ECORRUPT
 * when the key passes room. */
static inline int trie__label_first(const trie__node_t *nd, uint8_t *out, size_t *at, size_t room) {
  if (nd->first == TRIE_NO_FIRST) return 0;
  if (*at >= room) return TA_ECORRUPT;
  out[(*at)++] = (uint8_t)nd->first;
  return 0;
}

/* Decodes the label of nd (its first byte, then its codes) after out[0..*at) (*at <= room; room
 * + TRIE_SYM_SLACK bytes), stopping once *at reaches want (SIZE_MAX: the whole label; a compare
 * needs no more than its prefix). TA_ECORRUPT as trie__label_next. Inline: every walk decodes
 * the labels it passes. */
static inline int trie__label(const trie_reader_t *r, const trie__node_t *nd, uint8_t *out,
                              size_t *at, size_t room, size_t want) {
  const uint8_t *c = nd->code, *end = nd->code + nd->code_len;
  if (*at < want) {
    int rc = trie__label_first(nd, out, at, room);
    if (rc != 0) return rc;
  }
  if (want == SIZE_MAX) { /* the whole label (a constant where inlined): one test a code */
    while (c < end) {
      int rc = trie__label_next(r, &c, end, out, at, room);
      if (rc != 0) return rc;
    }
    return 0;
  }
  while (c < end && *at < want) {
    int rc = trie__label_next(r, &c, end, out, at, room);
    if (rc != 0) return rc;
  }
  return 0;
}

/* Offset of child idx (1 <= idx < nchild) from nd->end; the caller checks it against NODES. The
 * field is the top width bytes of the 8-byte load that ends where it ends (no loop over its
 * bytes): that load starts at most 7 bytes before the node, never before the file, since NODES
 * starts past the header (trie_open checks that every section does). */
static inline uint64_t trie__child_off_past0(const trie__node_t *nd, uint64_t idx) {
  unsigned w = nd->width;
  return trie__load_u64(nd->offsets + (size_t)idx * w - 8) >> (64 - 8 * w);
}

/* Offset of child idx (< nchild) from nd->end (0 for child 0, which follows the node). */
static inline uint64_t trie__child_off(const trie__node_t *nd, uint64_t idx) {
  return idx == 0 ? 0 : trie__child_off_past0(nd, idx);
}

/* Parses child idx (< nchild) of nd into *child, its label's first byte its byte in nd's table:
 * the one way a walk steps down. TA_ECORRUPT when its offset points past NODES. */
static inline int trie__node_child(const trie_reader_t *r, const trie__node_t *nd, uint64_t idx,
                                   trie__node_t *child) {
  uint64_t off = trie__child_off(nd, idx);
  if (off >= r->nodes_len - nd->end) return TA_ECORRUPT;
  return trie__node_parse(r, nd->end + (size_t)off, nd->child_bytes[idx], child);
}

/* The bytes of the UTF-8 sequence that lead starts (1..4), 0 when lead is a continuation byte:
 * the one reading of a lead byte for the code that walks keys code point by code point. */
static inline unsigned trie__utf8_len(uint8_t lead) {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
}

/* Calls fn(ctx, head, n) for every distinct head of the keys of r (their first n bytes, n in
 * 1..TA_HEAD_MAX; a key shorter than TA_HEAD_MAX is a head itself), the heads of one path in
 * length order; a non-zero return of fn stops the walk and is returned (trie_screen.c). For the
 * screen's bits and the shard check of a trie's first code points (trie_shard.c). */
typedef int (*trie__head_fn)(void *ctx, const uint8_t *head, size_t n);
int trie__heads(const trie_reader_t *r, trie__head_fn fn, void *ctx);

/* Decodes the heavy list of nd into ids[0..k) (ascending, each < n). TA_ECORRUPT on failure. */
int trie__node_list(const trie_reader_t *r, const trie__node_t *nd, uint32_t *ids);

/* The top-k ids of the subtree of nd (its stored list, or the scan of a light subtree), best
 * first, into ids[] (room for TA_MAX_K), their number into *count. The walking primitive of
 * trie_fuzzy.c, which names nodes rather than prefixes. */
int trie__node_ids(const trie_reader_t *r, const trie__node_t *nd, uint32_t ids[TA_MAX_K],
                   unsigned *count);

/* ---- Hits from ids (trie_hit.c) ----------------------------------------------------------- */

/* The set bits of each byte value (SCORERUN's counts: no popcount instruction assumed). */
extern const uint8_t trie__bits_in[256];

/* The score of id (< n), through SCORERUN and SCOREVAL. Inline, as trie__hot_text: every hit
 * of every lookup takes both, and the calls were a tenth of a lookup. */
static inline int trie__score(const trie_reader_t *r, uint64_t id, double *out) {
  /* The runs started up to id: before its group, before its byte, in its byte up to its bit. */
  const uint8_t *g = r->score_run + TRIE_SCORERUN_GROUP * (size_t)(id / 64);
  unsigned j = (unsigned)(id % 64) / 8, bit = (unsigned)(id % 8);
  uint64_t runs =
      (uint64_t)trie__load_u32(g) + g[4 + j] + trie__bits_in[g[12 + j] & ((2u << bit) - 1)];
  if (runs == 0 || runs > r->n_scores) return TA_ECORRUPT;
  *out = trie__load_f64(r->score_val + 8 * (runs - 1));
  return 0;
}

/* The text of a hot id (< m_hot), borrowed from HOTSTR. TA_ECORRUPT when its record points
 * backwards or past HOTSTR. */
static inline int trie__hot_text(const trie_reader_t *r, uint64_t id, const char **text,
                                 size_t *len) {
  const uint8_t *rec = r->hot_off + r->hot_rec * (size_t)(id / TRIE_HOT_GROUP);
  unsigned j = (unsigned)(id % TRIE_HOT_GROUP), w = r->hot_w;
  uint64_t start = trie__load_u32(rec), mask = (UINT64_C(1) << w) - 1;
  /* The ends of texts j - 1 and j, next to each other: one load (2w + 7 bits fit in 64). */
  unsigned first = j == 0 ? 0 : (j - 1) * w;
  uint64_t v = trie__load_u64(rec + 4 + first / 8) >> (first % 8);
  uint64_t a = j == 0 ? 0 : v & mask, b = (j == 0 ? v : v >> w) & mask;
  if (start > r->hot_len || a > b || b > r->hot_len - start) return TA_ECORRUPT;
  *text = (const char *)r->hot_str + start + a;
  *len = (size_t)(b - a);
  return 0;
}
/* Fills a hit for id (< n checked): hot texts borrowed from the file, cold ones rebuilt into tx. */
int trie__hit(const trie_reader_t *r, uint64_t id, trie_text_t *tx, trie_hit_t *hit);
/* A cold id whose text is to be rebuilt: where its terminal node starts, and its hit (id set). */
typedef struct {
  size_t pos;
  trie_hit_t *hit;
} trie__target_t;
/* The texts of the cold ids t[0..nt) (in any order; sorted here), rebuilt in one descent from
 * the node *from, whose key above its label is prefix[0..head): targets in position order share
 * the top of their paths (with children in best-id order, the best ids' paths start near the
 * node). */
int trie__cold_texts(const trie_reader_t *r, const trie__node_t *from, const char *prefix,
                     size_t head, trie__target_t *t, size_t nt, trie_text_t *tx);
/* The display form of a cold id (m_hot <= id < n) when DISPLAY lists it: 1 and the form, else
 * 0 (its key is its text). Its bit inline (the common case: one load), the search not. */
int trie__display_find(const trie_reader_t *r, uint64_t id, const char **text, size_t *len);
static inline int trie__display(const trie_reader_t *r, uint64_t id, const char **text,
                                size_t *len) {
  uint64_t bit = id - r->m_hot;
  if (!(r->disp_bits[bit / 8] >> (bit % 8) & 1)) return 0;
  return trie__display_find(r, id, text, len);
}

/* ---- Label symbols, trie_sym.c --------------------------------------------------------- */

/* A symbol table being trained or used to code labels (the writer's side). */
typedef struct {
  uint32_t n;
  uint8_t len[TRIE_SYM_MAX];
  uint8_t sym[TRIE_SYM_MAX][8];
  uint8_t by_first[TRIE_SYM_MAX]; /* symbol indices by first byte, longest first */
  uint16_t first_at[257];         /* by_first[first_at[b] .. first_at[b + 1]) start with b */
} trie__symtab_t;

/* A key in key order, with its id: what the writer lays out. */
typedef struct {
  const char *key;
  uint32_t len;
  uint32_t id;
} trie__wkey_t;

/* Trains t on the labels sample[off[i] .. off[i + 1]) for i < n (deterministic: the same
 * sample gives the same table). TA_ENOMEM. */
int trie__sym_train(const uint8_t *sample, const size_t *off, size_t n, trie__symtab_t *t);
/* Trains t on about TRIE_SYM_SAMPLE of the labels of the trie of keys[0..n) (distinct, in key
 * order): every so many, found from the common prefixes of neighbours. TA_ENOMEM. */
int trie__sym_train_keys(const trie__wkey_t *keys, size_t n, trie__symtab_t *t);
/* Codes label[0..len) (len <= TA_MAX_KEY) into out (room for 2 * len): the fewest codes;
 * returns their number. */
size_t trie__sym_encode(const trie__symtab_t *t, const uint8_t *label, size_t len, uint8_t *out);
/* The SYMBOLS section of t: its length, and its bytes into out when not NULL. */
size_t trie__sym_section(const trie__symtab_t *t, uint8_t *out);
/* Reads a SYMBOLS section into r (open's check: the count, each length at most 8 and the
 * lengths adding up; verify checks the rest). TA_ECORRUPT. */
int trie__sym_load(trie_reader_t *r, const uint8_t *sect, uint64_t len);

/* ---- Text scratch, trie_text.c ----------------------------------------------------------- */

/* Bytes of a chunk of a scratch: about 280 answers of k = 10 at 23-byte texts between two
 * resets. A longer text gets a chunk of its own. */
#define TRIE_TEXT_CHUNK (64u << 10)

/* Room for len bytes in t at *out, which keeps its place until trie_text_reset or
 * trie_text_free (never moved). TA_ENOMEM. */
int trie__text_put(trie_text_t *t, size_t len, char **out);

/* Several texts written into the free end of a scratch's current chunk and kept at once (a
 * light subtree's keys, a heavy node's cold ids): trie__texts_begin, trie__texts_add for each,
 * trie__texts_end; nothing else uses the scratch in between. A text is a few word copies, not a
 * call; one the chunk has no room for goes through trie__text_put (trie__texts_put). */
typedef struct {
  trie_text_t *t;
  char *at;    /* the chunk's free end */
  size_t room; /* its bytes */
  size_t used; /* of them written since the last keep */
} trie__texts_t;
void trie__texts_begin(trie_text_t *t, trie__texts_t *w);
/* Keeps the texts written (and lets the scratch be used again). */
void trie__texts_end(trie__texts_t *w);
/* trie__texts_add's way when the chunk has no room. TA_ENOMEM. */
int trie__texts_put(trie__texts_t *w, const uint8_t *src, size_t len, const char **out);
/* A text copied from src[0..len), whose buffer has TRIE_SYM_SLACK bytes past len (the walks'
 * key buffers): copied 8 bytes at a time, the bytes past len overwritten by the next text. */
static inline int trie__texts_add(trie__texts_t *w, const uint8_t *src, size_t len,
                                  const char **out) {
  if (len + TRIE_SYM_SLACK > w->room - w->used) return trie__texts_put(w, src, len, out);
  char *d = w->at + w->used;
  for (size_t i = 0; i < len; i += 8) memcpy(d + i, src + i, 8);
  *out = d;
  w->used += len;
  return 0;
}

#endif /* TYPEAHEAD_TRIE_INT_H */
