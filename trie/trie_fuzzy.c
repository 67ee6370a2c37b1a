/*
 * Typo-tolerant completion (SPEC §15): a depth-first walk over the trie's nodes that carries one
 * row of an optimal-string-alignment (Damerau) distance table per code point of the key path,
 * pruned as soon as no deeper position can match within the edits left; the first code point
 * must be the prefix's. Every position of a key path whose distance to the whole prefix is
 * lower than any shallower one on that path names a node whose stored top-k are candidates, at
 * that distance. Ranking: fewer edits first, then rank (score). Exact because a node's
 * subtree contains every deeper matched node's: a key not in the top-k of the shallowest node
 * that matches it within e edits has k better keys at e edits or fewer. Where the time goes:
 * near the root every path is within d edits of the prefix, so the walk is wide (with 2 edits
 * every node two code points below the first is read), and nearly all of it is spent once no
 * edit is left, where the key must go on with the prefix exactly. So a row is d + 1 bit sets
 * (a few shifts and ors); which children go on is known from the row above before any is read;
 * and once no edit is left the walk drops the rows for one set of prefix positions (walk_exact).
 * Also the highlight map from key bytes back to display bytes. Walks with the node primitives
 * of trie_int.h only (parse, child offset, node ids), so another format's reader can provide
 * the same ones.
 */
#include "trie_int.h"

#include <stdlib.h>

/* Row j of the table as d + 1 bit sets: bit i of set e is on when D[i][j] <= e (i = prefix
 * code points, j = key code points, both after the first; bit i stands for the prefix's first i
 * code points, so a prefix of up to 64 code points fits a word). A row is a few shifts and ors
 * (the bit-parallel automaton of Wu and Manber, with Damerau swaps), where cells cost a branch
 * each; and only the cells that can hold d edits or fewer are ever on. */
typedef struct {
  uint64_t e[TRIE_MAX_TYPOS + 1];
} fz_row_t;

/* What one walk carries. */
typedef struct {
  const trie_reader_t *r;
  const uint32_t *pat; /* the prefix's code points after the first */
  unsigned m;          /* their number */
  unsigned d;          /* max edits */
  uint64_t all;        /* bits 0..m */
  uint64_t all2;       /* the same when d is 2, else 0 (set 2 of every row) */
  /* peq[c]: the bits i >= 1 whose prefix code point i is c (ASCII c); the others are looked
   * up in pat */
  uint64_t peq[128];
  fz_row_t *rows; /* rows 0..max_rows - 1 */
  uint64_t *eq;   /* eq[j]: the peq of the key's code point of row j (a swap reads it) */
  unsigned max_rows;
  struct fz_root *roots;
  size_t n_roots, cap_roots;
  const uint8_t *p; /* the prefix */
  size_t plen;
  const uint8_t *fc;         /* its first code point */
  unsigned fl;               /* its bytes */
  unsigned depth, max_depth; /* nodes deep, and the most a valid file has: 4 (max_rows + 2) */
  /* Nodes entered: in a tree each once, and each takes a byte or more, so more than NODES has
   * bytes means children that share a node (a corrupt file), met once per path. */
  size_t visits;
  /* The bound (without a keep predicate): the want best ids seen at distance 1, the least a
   * typo match has, ascending. Once there are want of them, a subtree whose best id is worse
   * than the last cannot enter the answer. */
  uint32_t best_ids[TA_MAX_K];
  size_t n_best, want;
  uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK]; /* the labels on the walk's path, decoded */
} fz_walk_t;

/* A matched node: its position, the distance, and the key bytes matched. */
typedef struct fz_root {
  size_t pos;
  size_t node_key; /* key bytes above the node */
  uint8_t on_path; /* the matched key bytes are the prefix's own: the node holds the exact ones */
  uint8_t dist;
  uint16_t key_end;
  uint16_t first; /* its label's first byte (trie__node_t's) */
} fz_root_t;

/* The code points of a valid UTF-8 string; -1 when invalid or more than cap. */
static int decode(const uint8_t *s, size_t len, uint32_t *cps, unsigned cap, unsigned *n) {
  unsigned c = 0;
  for (size_t i = 0; i < len;) {
    uint8_t b = s[i];
    unsigned l = trie__utf8_len(b);
    if (l == 0 || i + l > len || c == cap) return -1;
    uint32_t v = l == 1 ? b : (uint32_t)(b & (0x7f >> l));
    for (unsigned t = 1; t < l; t++) v = (v << 6) | (s[i + t] & 0x3f);
    cps[c++] = v;
    i += l;
  }
  *n = c;
  return 0;
}

/* Whether the code point at s (3 bytes readable) is a Hangul conjoining jamo: an initial
 * (U+1100..U+115F), or a vowel or final (U+1160..U+11FF) with *vt set. */
static int hangul_jamo(const unsigned char *s, int *vt) {
  if (s[0] != 0xe1 || s[1] < 0x84 || s[1] > 0x87) return 0;
  *vt = s[1] > 0x85 || (s[1] == 0x85 && s[2] >= 0xa0);
  return 1;
}

unsigned trie_typos_auto(const char *prefix, size_t len) {
  while (len > 0 && prefix[len - 1] == ' ') len--;
  /* Characters as the user typed them (SPEC §15): a key holds a Hangul syllable as its 2 or 3
   * conjoining jamo (SPEC §3), so a vowel or final jamo right after another jamo is part of the
   * same syllable and no character of its own (서울, 2 syllables and 5 jamo, gets no edit). */
  const unsigned char *p = (const unsigned char *)prefix;
  size_t chars = 0;
  int prev_jamo = 0;
  for (size_t i = 0; i < len;) {
    unsigned n = trie__utf8_len(p[i]);
    if (n == 0 || n > len - i) n = 1; /* a stray byte counts as one, as before */
    int vt = 0, jamo = n == 3 && hangul_jamo(p + i, &vt);
    chars += !(jamo && vt && prev_jamo);
    prev_jamo = jamo;
    i += n;
  }
  return chars >= 8 ? 2u : chars >= 4 ? 1u : 0u;
}

static int add_root(fz_walk_t *w, const trie__node_t *nd, unsigned dist, size_t node_key,
                    size_t key_end, int on_path) {
  if (dist == 0) return 0; /* the exact prefix's node: its keys are no typo matches */
  int rc;
  if (dist == 1 && !on_path && w->want > 0) { /* its top-k are candidates at distance 1 */
    uint32_t ids[TA_MAX_K];
    unsigned count = 0;
    rc = trie__node_ids(w->r, nd, ids, &count);
    if (rc != 0) return rc;
    for (unsigned t = 0; t < count; t++) {
      size_t at = w->n_best;
      while (at > 0 && w->best_ids[at - 1] > ids[t]) at--;
      if (at >= w->want) break; /* ids ascend: the rest are worse still */
      size_t end = w->n_best < w->want ? w->n_best : w->want - 1;
      memmove(w->best_ids + at + 1, w->best_ids + at, (end - at) * sizeof *w->best_ids);
      w->best_ids[at] = ids[t];
      if (w->n_best < w->want) w->n_best++;
    }
  }
  rc = ta_grow((void **)&w->roots, &w->cap_roots, w->n_roots + 1, sizeof *w->roots, 16);
  if (rc != 0) return rc;
  w->roots[w->n_roots++] = (fz_root_t){nd->pos,
                                       node_key,
                                       (uint8_t)on_path,
                                       (uint8_t)dist,
                                       (uint16_t)(key_end < UINT16_MAX ? key_end : UINT16_MAX),
                                       (uint16_t)nd->first};
  return 0;
}

/* The prefix positions (bits) that hold code point c. */
static uint64_t peq_of(const fz_walk_t *w, uint32_t c) {
  if (c < 128) return w->peq[c];
  uint64_t b = 0;
  for (unsigned i = 0; i < w->m; i++) b |= (uint64_t)(w->pat[i] == c) << (i + 1);
  return b;
}

/* Adds label byte c to the code point being read (*cp, *have of *need bytes; *need 0: none
 * yet): 1 when it is whole, 0 when bytes are missing, TA_ECORRUPT on a byte invalid there. */
static int cp_add(uint8_t c, uint32_t *cp, unsigned *have, unsigned *need) {
  if (*need == 0) {
    unsigned l = trie__utf8_len(c);
    if (l == 0) return TA_ECORRUPT;
    *cp = l == 1 ? c : (uint32_t)(c & (0x7f >> l));
    *need = l;
    *have = 1;
  } else {
    if ((c & 0xc0) != 0x80) return TA_ECORRUPT;
    *cp = (*cp << 6) | (c & 0x3f);
    ++*have;
  }
  if (*have < *need) return 0;
  *need = 0;
  return 1;
}

/* The row after up (and up2 before it) for a key code point held at the prefix positions eq;
 * eq_up: those of up's code point (0 at row 1: no swap with the first code point). D[i][j] <= e
 * when the diagonal matches with e, or holds e - 1 (a substitution), or so does the cell above
 * (a key code point left out), the cell before in this row (a prefix code point left out) or,
 * for a swap of the two last code points, the cell two back on the diagonal. All three sets
 * are made, set 2 masked off when d is 1: no loop, no branch. */
_Static_assert(TRIE_MAX_TYPOS == 2, "next_row makes sets 0, 1 and 2");
static inline fz_row_t next_row(const fz_walk_t *w, const fz_row_t *up, const fz_row_t *up2,
                                uint64_t eq_up, uint64_t eq) {
  /* a swap ends at i when prefix code point i is the key's one before and i - 1 this one */
  const uint64_t swap = (eq << 1) & eq_up;
  fz_row_t row;
  row.e[0] = (up->e[0] << 1) & eq;
  row.e[1] = (((up->e[1] << 1) & eq) | up->e[0] | (up->e[0] << 1) | (row.e[0] << 1) |
              ((up2->e[0] << 2) & swap)) &
             w->all;
  row.e[2] = (((up->e[2] << 1) & eq) | up->e[1] | (up->e[1] << 1) | (row.e[1] << 1) |
              ((up2->e[1] << 2) & swap)) &
             w->all2;
  return row;
}

/* Fills row j (>= 1) for a key code point held at the prefix positions eq. */
static void fill_row(fz_walk_t *w, unsigned j, uint64_t eq) {
  w->rows[j] =
      next_row(w, &w->rows[j - 1], &w->rows[j >= 2 ? j - 2 : 0], j >= 2 ? w->eq[j - 1] : 0, eq);
  w->eq[j] = eq;
}

/* D[m][j]: the distance of the key path down to row j to the whole prefix. */
static unsigned last_col(const fz_walk_t *w, unsigned j) {
  unsigned in = 0; /* the sets that hold bit m: each holds the ones before */
  for (unsigned e = 0; e <= TRIE_MAX_TYPOS; e++) in += (unsigned)(w->rows[j].e[e] >> w->m & 1);
  return w->d + 1 - in;
}

/* 1 when the walk stops at row j (>= 1) with best on its path: no new match there, and none
 * deeper (a deeper row's least cell is at least this row's least, or the one before's plus one:
 * a swap reaches two rows up). */
static int stops(const fz_walk_t *w, unsigned j, unsigned best) {
  return w->rows[j].e[best - 1] == 0 && (best < 2 || w->rows[j - 1].e[best - 2] == 0);
}

/* Decodes the codes [*code, end) of a node's label into w->key (decoded up to *have) until the
 * key byte at is there: 1 when it is, 0 when the label ends first, or an error. The walks
 * decode a label only as far as they read it. */
static inline int label_upto(fz_walk_t *w, const uint8_t **code, const uint8_t *end, size_t at,
                             size_t *have) {
  while (at >= *have) {
    if (*code == end) return 0;
    int rc = trie__label_next(w->r, code, end, w->key, have, TA_MAX_KEY);
    if (rc != 0) return rc;
  }
  return 1;
}

/* Walks the node at pos (sel: the byte that selected it, its label's first) once no edit is
 * left: the key must go on with the prefix's code points after one of the positions in set (set
 * best - 1 of the last row, which is the row of the code point that selects this node when first
 * is 1), exactly, or swap the next two with a position of swap (set best - 2 of the row before,
 * eq_prev the positions of the last code point: a swap can end one row later); the first node
 * where one of them reaches the end of the prefix matches at dist = best - 1 edits and ends the
 * walk there. A row is one shift and one and. key_len, cp, cp_have, cp_need: as walk's. */
static int walk_exact(fz_walk_t *w, size_t pos, uint8_t sel, uint64_t set, uint64_t swap,
                      uint64_t eq_prev, unsigned dist, size_t key_len, int first, uint32_t cp,
                      unsigned cp_have, unsigned cp_need) {
  trie__node_t nd;
  int rc = trie__node_parse(w->r, pos, sel, &nd);
  if (rc != 0) return rc;
  if (++w->visits > w->r->nodes_len || ++w->depth > w->max_depth) return TA_ECORRUPT;
  if (first && (set >> w->m & 1)) {
    rc = add_root(w, &nd, dist, key_len, key_len + 1, 0);
    goto done;
  }
  /* The label is decoded into w->key as far as the walk reads it, from its first byte. */
  const uint8_t *code = nd.code, *code_end = nd.code + nd.code_len;
  const uint8_t *label = w->key + key_len;
  size_t have = key_len;
  if ((rc = trie__label_first(&nd, w->key, &have, TA_MAX_KEY)) != 0) return rc;
  for (size_t b = (size_t)first;; b++) {
    int more = label_upto(w, &code, code_end, key_len + b, &have);
    if (more < 0) return more;
    if (more == 0) break; /* the label's end */
    uint8_t c = label[b];
    if (cp_need == 0 && c < 0x80) {
      cp = c;
    } else {
      int whole = cp_add(c, &cp, &cp_have, &cp_need);
      if (whole <= 0) {
        if (whole < 0) return whole;
        continue;
      }
    }
    uint64_t eq = peq_of(w, cp);
    set = ((set << 1) & eq) | ((swap << 2) & (eq << 1) & eq_prev);
    swap = 0;
    if (set == 0) goto done;
    if (set >> w->m & 1) {
      rc = add_root(w, &nd, dist, key_len, key_len + b + 1, 0);
      goto done;
    }
  }
  key_len = have;
  for (uint64_t i = 0; i < nd.nchild; i++) {
    uint8_t cb = nd.child_bytes[i];
    uint64_t next = set;
    int whole = cp_need == 0 && cb < 0x80;
    if (whole) {
      uint64_t eq = w->peq[cb];
      if ((next = ((set << 1) & eq) | ((swap << 2) & (eq << 1) & eq_prev)) == 0) continue;
    }
    uint64_t off = trie__child_off(&nd, i);
    if (off >= w->r->nodes_len - nd.end) return TA_ECORRUPT;
    rc = walk_exact(w, nd.end + (size_t)off, cb, next, whole ? 0 : swap, eq_prev, dist, key_len,
                    whole, cp, cp_have, cp_need);
    if (rc != 0) return rc;
  }
done:
  w->depth--;
  return rc;
}

/* Walks the node at pos, whose label's first byte is first (TRIE_NO_FIRST: the root). fb: bytes
 * of the prefix's first code point matched so far (the walk starts at the root with 0; below it,
 * nothing that differs there is walked); j: rows filled after it (the last is row j); cp,
 * cp_have, cp_need: a code point split by a label boundary; best: the least distance on the path
 * so far; key_len: key bytes above this node; ex: whether those bytes are the prefix's; ready:
 * the parent filled row j + 1 for the first label byte (the byte that selects this node, a whole
 * code point) when it looked before reading it. */
static int walk(fz_walk_t *w, size_t pos, unsigned first, unsigned fb, unsigned j, uint32_t cp,
                unsigned cp_have, unsigned cp_need, unsigned best, size_t key_len, int ex,
                int ready) {
  trie__node_t nd;
  int rc = trie__node_parse(w->r, pos, first, &nd);
  if (rc != 0) return rc;
  /* Each node below the root eats one label byte or more (its first); a code point is at most 4
   * bytes and the walk stops m + d + 1 code points down: deeper is a corrupt file. */
  if (++w->visits > w->r->nodes_len || ++w->depth > w->max_depth) return TA_ECORRUPT;
  if (w->n_best == w->want && w->want > 0 && (nd.flags & TRIE_NODE_HEAVY)) {
    const uint8_t *lp = nd.list;
    uint64_t best_id; /* the subtree's */
    if (trie__varint(&lp, nd.list + nd.list_len, &best_id) == 0 &&
        best_id > w->best_ids[w->want - 1])
      goto done;
  }
  /* The label is decoded into w->key as far as the walk reads it, from its first byte. */
  const uint8_t *code = nd.code, *code_end = nd.code + nd.code_len;
  const uint8_t *label = w->key + key_len;
  size_t have = key_len;
  if ((rc = trie__label_first(&nd, w->key, &have, TA_MAX_KEY)) != 0) return rc;
  for (size_t b = 0;; b++) {
    int more = label_upto(w, &code, code_end, key_len + b, &have);
    if (more < 0) return more;
    if (more == 0) break; /* the label's end */
    uint8_t c = label[b];
    ex = ex && key_len + b < w->plen && c == w->p[key_len + b];
    if (fb < w->fl) { /* the first code point must be the prefix's, byte for byte */
      if (c != w->fc[fb]) goto done;
      if (++fb < w->fl) continue;
      unsigned dist = last_col(w, 0);
      if (dist < best) {
        if ((rc = add_root(w, &nd, dist, key_len, key_len + b + 1, ex)) != 0) return rc;
        best = dist;
      }
      if (best <= 1) goto done;
      continue;
    }
    int whole = cp_add(c, &cp, &cp_have, &cp_need);
    if (whole <= 0) {
      if (whole < 0) return whole;
      continue;
    }
    if (++j >= w->max_rows) goto done; /* past m + d code points: nothing can match */
    if (!(ready && b == 0)) fill_row(w, j, peq_of(w, cp)); /* ready: the parent's look filled it */
    unsigned dist = last_col(w, j);
    if (dist < best) {
      if ((rc = add_root(w, &nd, dist, key_len, key_len + b + 1, ex)) != 0) return rc;
      best = dist;
    }
    /* at 1 edit, all a deeper match could be is the prefix itself: no typo match */
    if (best <= 1 || stops(w, j, best)) goto done;
  }
  key_len = have;
  if (fb < w->fl) { /* only the child that goes on with the first code point */
    const uint8_t *hit = memchr(nd.child_bytes, w->fc[fb], (size_t)nd.nchild);
    if (hit != NULL) {
      uint64_t off = trie__child_off(&nd, (uint64_t)(hit - nd.child_bytes));
      if (off >= w->r->nodes_len - nd.end) return TA_ECORRUPT;
      rc = walk(w, nd.end + (size_t)off, *hit, fb, j, cp, cp_have, cp_need, best, key_len, ex, 0);
    }
    w->depth--;
    return rc;
  }
  /* A child's label starts with its selecting byte: when that byte is a whole code point, the
   * row it makes says, before the child is read, whether the walk stops right there (most of
   * the walk's frontier does). Which bytes go on is known from row j alone, without a branch a
   * byte: when set best - 2 is not empty, an edit carries it into set best - 1 whatever the
   * byte, and every child goes on; otherwise only a byte held at a prefix position that a
   * match extends set best - 1 to, or that ends a swap from set best - 2 two rows up (reach). */
  if (cp_need == 0 && j + 1 >= w->max_rows) goto done; /* no child can add a row */
  const int go_all = best >= 2 && w->rows[j].e[best - 2] != 0;
  uint64_t reach = w->rows[j].e[best - 1] << 1;
  if (best >= 2 && j >= 1) reach |= (w->rows[j - 1].e[best - 2] << 1) & (w->eq[j] >> 1);
  const fz_row_t up = w->rows[j], up2 = w->rows[j >= 1 ? j - 1 : 0]; /* rows j and j - 1 */
  const uint64_t eq_up = j >= 1 ? w->eq[j] : 0;
  for (uint64_t i = 0; i < nd.nchild; i++) {
    uint8_t cb = nd.child_bytes[i];
    int looked = cp_need == 0 && cb < 0x80;
    if (looked) {
      uint64_t eq = w->peq[cb];
      if (!go_all && (eq & reach) == 0) continue;
      fz_row_t row = next_row(w, &up, &up2, eq_up, eq);
      /* Set best - 2 of row j + 1 empty: so is set best - 3 of row j (an edit would carry it
       * over), and only a swap from row j can still spend an edit. */
      if (best >= 2 && row.e[best - 2] == 0) {
        uint64_t off = trie__child_off(&nd, i); /* the exact walk */
        if (off >= w->r->nodes_len - nd.end) return TA_ECORRUPT;
        rc = walk_exact(w, nd.end + (size_t)off, cb, row.e[best - 1], up.e[best - 2], eq, best - 1,
                        key_len, 1, cp, cp_have, cp_need);
        if (rc != 0) return rc;
        continue;
      }
      w->rows[j + 1] = row;
      w->eq[j + 1] = eq;
    }
    uint64_t off = trie__child_off(&nd, i);
    if (off >= w->r->nodes_len - nd.end) return TA_ECORRUPT;
    rc = walk(w, nd.end + (size_t)off, cb, fb, j, cp, cp_have, cp_need, best, key_len, ex, looked);
    if (rc != 0) return rc;
  }
done:
  w->depth--;
  return 0;
}

/* A candidate: its id and the root it came from (the least distance wins). */
typedef struct {
  uint32_t id;
  uint8_t dist;
  uint16_t key_end;
} fz_cand_t;

static int cmp_cand_id(const void *x, const void *y) {
  const fz_cand_t *a = x, *b = y;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  return (a->dist > b->dist) - (a->dist < b->dist);
}

static int cmp_cand_rank(const void *x, const void *y) {
  const fz_cand_t *a = x, *b = y;
  if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

typedef struct {
  fz_cand_t *v;
  size_t n, cap;
} fz_cands_t;

/* Adds the top-k of the parsed node nd (or its one id: single) at the root's distance. */
static int add_ids(const trie_reader_t *r, const trie__node_t *nd, int single, const fz_root_t *rt,
                   fz_cands_t *c) {
  uint32_t ids[TA_MAX_K];
  unsigned count = 1;
  int rc = 0;
  if (single)
    ids[0] = (uint32_t)nd->id;
  else
    rc = trie__node_ids(r, nd, ids, &count);
  if (rc != 0) return rc;
  if ((rc = ta_grow((void **)&c->v, &c->cap, c->n + count, sizeof *c->v, 64)) != 0) return rc;
  for (unsigned t = 0; t < count; t++) {
    c->v[c->n].id = ids[t];
    c->v[c->n].dist = rt->dist;
    c->v[c->n].key_end = rt->key_end;
    c->n++;
  }
  return 0;
}

/* The candidates of one root: its top-k; but a root on the prefix's own path holds the keys
 * that start with the prefix, which are no typo matches and would crowd out the others: there,
 * the keys of its subtree that leave the prefix's path (terminals on the way down, the other
 * children's top-k, or a label that leaves it). */
static int root_cands(const trie_reader_t *r, const fz_walk_t *w, const fz_root_t *rt,
                      fz_cands_t *c) {
  trie__node_t nd;
  int rc = trie__node_parse(r, rt->pos, rt->first, &nd);
  if (rc != 0 || !rt->on_path) return rc != 0 ? rc : add_ids(r, &nd, 0, rt, c);
  size_t ks = rt->node_key;
  uint8_t label[TA_MAX_KEY + TRIE_SYM_SLACK];
  for (;;) {
    size_t len = 0;
    if ((rc = trie__label(r, &nd, label, &len, TA_MAX_KEY, w->plen - ks)) != 0) return rc;
    size_t m = len < w->plen - ks ? len : w->plen - ks;
    if (memcmp(label, w->p + ks, m) != 0) return add_ids(r, &nd, 0, rt, c);
    if (ks + len >= w->plen) return 0; /* every key below starts with the prefix */
    ks += len;
    if ((nd.flags & TRIE_NODE_TERMINAL) && (rc = add_ids(r, &nd, 1, rt, c)) != 0) return rc;
    trie__node_t next, child;
    int found = 0;
    for (uint64_t i = 0; i < nd.nchild; i++) {
      if ((rc = trie__node_child(r, &nd, i, &child)) != 0) return rc;
      if (nd.child_bytes[i] == w->p[ks]) {
        next = child;
        found = 1;
      } else if ((rc = add_ids(r, &child, 0, rt, c)) != 0) {
        return rc;
      }
    }
    if (!found) return 0;
    nd = next;
  }
}

/* One walk within max_edits: trie_lookup_typos's answer for that bound. */
static int typos_pass(const trie_reader_t *r, const char *prefix, size_t len, unsigned max_edits,
                      size_t n, trie_keep_fn keep, void *ctx, trie_text_t *scratch,
                      trie_match_t *out, size_t *n_out) {
  uint32_t cps[TRIE_TYPOS_MAX_CHARS];
  unsigned ncp;
  if (decode((const uint8_t *)prefix, len, cps, TRIE_TYPOS_MAX_CHARS, &ncp) != 0) return 0;
  /* rows 0..m + d (a key path past m + d code points after the first is more than d edits
   * away from the m after the prefix's first) */
  enum { ROWS = TRIE_TYPOS_MAX_CHARS + TRIE_MAX_TYPOS + 1 };
  fz_row_t rows[ROWS];
  uint64_t eq[ROWS];
  fz_walk_t w;
  memset(&w, 0, sizeof w);
  w.r = r;
  w.pat = cps + 1;
  w.m = ncp - 1;
  w.d = max_edits;
  w.all = w.m >= 63 ? UINT64_MAX : (UINT64_C(2) << w.m) - 1;
  w.all2 = max_edits >= 2 ? w.all : 0;
  for (unsigned i = 0; i < w.m; i++)
    if (w.pat[i] < 128) w.peq[w.pat[i]] |= UINT64_C(1) << (i + 1);
  w.rows = rows;
  w.eq = eq;
  w.max_rows = w.m + max_edits + 1;
  w.max_depth = 4u * (w.max_rows + 2u);
  w.fc = w.p = (const uint8_t *)prefix;
  w.plen = len;
  w.want = keep == NULL && n <= TA_MAX_K ? n : 0; /* a predicate may drop what the bound counts */
  w.fl = trie__utf8_len((uint8_t)prefix[0]);      /* decoded above: a lead byte */
  for (unsigned e = 0; e <= TRIE_MAX_TYPOS; e++)  /* row 0: D[i][0] = i */
    rows[0].e[e] = e > max_edits ? 0 : (UINT64_C(2) << (e < w.m ? e : w.m)) - 1;
  eq[0] = 0;
  int rc = walk(&w, (size_t)r->root, TRIE_NO_FIRST, 0, 0, 0, 0, 0, max_edits + 1, 0, 1, 0);

  /* Candidates: each root's top-k at its distance; an id seen from several roots keeps the
   * least distance. */
  fz_cands_t c = {NULL, 0, 0};
  for (size_t i = 0; rc == 0 && i < w.n_roots; i++) rc = root_cands(r, &w, &w.roots[i], &c);
  fz_cand_t *cand = c.v;
  size_t nc = c.n;
  size_t kept = 0;
  if (rc == 0 && nc > 0) {
    qsort(cand, nc, sizeof *cand, cmp_cand_id);
    size_t u = 0;
    for (size_t i = 0; i < nc; i++)
      if (u == 0 || cand[u - 1].id != cand[i].id) cand[u++] = cand[i];
    qsort(cand, u, sizeof *cand, cmp_cand_rank);
    for (size_t i = 0; rc == 0 && i < u && kept < n; i++) {
      if (cand[i].dist == 0) continue;
      trie_match_t *o = &out[kept];
      if ((rc = trie__hit(r, cand[i].id, scratch, &o->hit)) != 0) break;
      if (keep != NULL && !keep(ctx, &o->hit)) continue;
      o->kind = TRIE_MATCH_TYPO;
      o->edits = cand[i].dist;
      o->n_spans = 1;
      o->spans[0][0] = 0;
      o->spans[0][1] = cand[i].key_end;
      kept++;
    }
  }
  free(cand);
  free(w.roots);
  if (rc != 0) return rc;
  *n_out = kept;
  return 0;
}

int trie_highlight(const char *text, size_t len, size_t key_end, size_t *end) {
  if (end == NULL || (text == NULL && len != 0)) return TA_EINVAL;
  *end = len;
  /* The ASCII fast path: the key of an ASCII text is its lowercase, spaces as they are. */
  size_t i = 0;
  while (i < len && i < key_end && (unsigned char)text[i] < 0x80 && text[i] >= 0x20) i++;
  if (i == key_end) {
    *end = i;
    return 0;
  }
  /* Otherwise the shortest run of whole code points whose key is long enough: key lengths grow
   * with the run (normalization never shortens what follows), so a binary search over the
   * code point boundaries. */
  char key[TA_MAX_KEY + 8];
  size_t lo = 0, hi = len; /* lo falls short (or is 0), hi is long enough (or is len) */
  for (;;) {
    size_t mid = lo + (hi - lo) / 2;
    if (mid <= lo) mid = lo + 1;
    while (mid < hi && ((unsigned char)text[mid] & 0xc0) == 0x80) mid++;
    if (mid >= hi) break; /* no code point boundary between them: hi */
    size_t kl = 0;
    int rc = trie_norm_prefix(text, mid, key, sizeof key, &kl);
    if (rc == TA_ENOSPC)
      kl = sizeof key;
    else if (rc != 0)
      return rc;
    if (kl >= key_end)
      hi = mid;
    else
      lo = mid;
  }
  *end = hi;
  return 0;
}

int trie_lookup_typos(const trie_reader_t *r, const char *prefix, size_t len, unsigned max_edits,
                      size_t n, trie_keep_fn keep, void *ctx, trie_text_t *text, trie_match_t *out,
                      size_t *n_out) {
  if (n_out != NULL) *n_out = 0;
  if (r == NULL || n_out == NULL || (n != 0 && (out == NULL || text == NULL)) ||
      (prefix == NULL && len != 0) || max_edits > TRIE_MAX_TYPOS)
    return TA_EINVAL;
  if (n == 0 || max_edits == 0 || len == 0) return 0;
  return typos_pass(r, prefix, len, max_edits, n, keep, ctx, text, out, n_out);
}
