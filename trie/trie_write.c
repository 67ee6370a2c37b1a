/*
 * The trie file writer (docs/FORMAT.md): trie_write sorts the entries by key (radix sort on
 * 8-byte chunks), then by rank (score desc, key asc; the position is the query id), and lays the
 * radix trie out in DFS pre-order straight from the key-sorted array, one range of keys per
 * node, with no tree in memory. A parent's header holds the offsets of its children, which
 * depend on their subtrees' sizes, so the section is produced backwards (children last to
 * first, then the parent's header, each byte reversed) and flipped once at the end. Each node's
 * top-k is merged from its children's.
 */
#include "trie_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ---- Sorting ----------------------------------------------------------------------------- */

/* Keys are sorted 8 bytes at a time (MSD): by the next 8 bytes as a big-endian integer, then
 * by how many of those bytes the key has (a key ending inside the chunk is a prefix of the
 * longer ones with the same chunk); runs still equal move on to the next 8 bytes. Numeric
 * compares on a packed array avoid chasing key pointers on every comparison. */
typedef struct {
  uint64_t head; /* bytes [depth, depth + 8) big endian, zero padded */
  uint32_t idx;  /* entry index */
  uint32_t clen; /* min(key length - depth, 9): 9 means "goes on" */
} keyref_t;

static int keyref_cmp(const void *x, const void *y) {
  const keyref_t *a = x, *b = y;
  if (a->head != b->head) return a->head < b->head ? -1 : 1;
  return (a->clen > b->clen) - (a->clen < b->clen);
}

static void keyref_load(keyref_t *kr, const trie_entry_t *e, size_t depth) {
  const trie_entry_t *x = &e[kr->idx];
  size_t left = x->key_len - depth;
  size_t m = left < 8 ? left : 8;
  uint64_t h = 0;
  for (size_t j = 0; j < 8; j++) h = (h << 8) | (j < m ? (uint8_t)x->key[depth + j] : 0);
  kr->head = h;
  kr->clen = left > 8 ? 9 : (uint32_t)left;
}

/* Stable LSD radix sort of kr[0..n) by (head, clen) when by_clen, else by head alone, using
 * tmp (room for n). Passes where every record has the same byte are skipped. Large sorts only:
 * 10 million keys sort in a few passes over a packed array instead of ~23 comparisons each. */
static void radix_sort(keyref_t *kr, keyref_t *tmp, size_t n, int by_clen) {
  keyref_t *src = kr, *dst = tmp;
  for (int pass = by_clen ? -1 : 0; pass < 8; pass++) {
    size_t count[256] = {0};
    for (size_t i = 0; i < n; i++)
      count[pass < 0 ? src[i].clen : (uint8_t)(src[i].head >> (8 * pass))]++;
    int trivial = 0;
    for (int b = 0; b < 256; b++)
      if (count[b] == n) trivial = 1;
    if (trivial) continue;
    size_t sum = 0;
    for (int b = 0; b < 256; b++) {
      size_t c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      dst[count[pass < 0 ? src[i].clen : (uint8_t)(src[i].head >> (8 * pass))]++] = src[i];
    keyref_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != kr) memcpy(kr, src, n * sizeof *kr);
}

#define RADIX_MIN 4096

/* Sorts kr[0..n) (heads loaded at depth) by key; TA_EINVAL on a duplicate key. tmp has room
 * for n records. */
static int sort_keys(keyref_t *kr, keyref_t *tmp, size_t n, const trie_entry_t *e, size_t depth) {
  if (n >= RADIX_MIN)
    radix_sort(kr, tmp, n, 1);
  else
    qsort(kr, n, sizeof *kr, keyref_cmp);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && kr[j].head == kr[i].head && kr[j].clen == kr[i].clen) j++;
    if (j - i > 1) {
      if (kr[i].clen <= 8) return TA_EINVAL; /* same bytes, same length */
      for (size_t t = i; t < j; t++) keyref_load(&kr[t], e, depth + 8);
      int rc = sort_keys(kr + i, tmp, j - i, e, depth + 8);
      if (rc != 0) return rc;
    }
    i = j;
  }
  return 0;
}

typedef trie__wkey_t wkey_t;

/* ---- Node layout -------------------------------------------------------------------------- */

typedef struct {
  const wkey_t *keys; /* key order */
  size_t n;
  uint32_t k;
  ta_buf_t out;  /* NODES, reversed */
  size_t *slots; /* per level: child range starts, range end, child subtree sizes;
                             a stack shared by the levels */
  size_t slots_len, slots_cap;
  uint32_t *tops; /* per level: its top-k, then a merge buffer (2k ids) */
  uint8_t *hdr;   /* one node header, forward */
  uint64_t num_nodes;
  uint64_t done;
  uint64_t *term_rev; /* by id: where its terminal node ends in the reversed output */
  const trie_write_opts_t *opts;
  trie__symtab_t sym; /* the label code */
  uint8_t *code;      /* one coded label (2 * TA_MAX_KEY): the recursion shares it */
} layout_t;

/* A coded label takes at most two bytes a byte (every byte escaped). */
#define HDR_CAP (1 + 10 + 10 + 2 * TA_MAX_KEY + 10 + 10 + TA_MAX_K * 10 + 256 + 1 + 256 * 8)

static const wkey_t *key_at(const layout_t *w, size_t i) {
  return &w->keys[i];
}

static int slot_push(layout_t *w, size_t v) {
  int rc;
  if (w->slots_len == w->slots_cap && (rc = ta_grow((void **)&w->slots, &w->slots_cap,
                                                    w->slots_len + 1, sizeof *w->slots, 1024)) != 0)
    return rc;
  w->slots[w->slots_len++] = v;
  return 0;
}

/* Merges the sorted lists a[0..na) and b[0..nb) into out, keeping the k smallest. */
static unsigned merge_top(const uint32_t *a, unsigned na, const uint32_t *b, unsigned nb,
                          uint32_t *out, unsigned k) {
  unsigned i = 0, j = 0, n = 0;
  while (n < k && (i < na || j < nb)) {
    if (j >= nb || (i < na && a[i] < b[j]))
      out[n++] = a[i++];
    else
      out[n++] = b[j++];
  }
  return n;
}

/* The smallest byte width (1..8) that holds v. */
static unsigned width_of(uint64_t v) {
  unsigned w = 1;
  while (w < 8 && (v >> (8 * w)) != 0) w++;
  return w;
}

/* Lays out the subtree of the keys keys[lo..hi), which share their first d bytes, appending it
 * reversed to w->out. Its label starts at byte d (the root's label is empty), and is stored from
 * byte d + 1: byte d is the node's byte in its parent's table. Its top-k goes to w->tops at level
 * lvl. */
static int build_node(layout_t *w, size_t lo, size_t hi, size_t d, int is_root, unsigned lvl,
                      unsigned *ntop_out) {
  const wkey_t *first = key_at(w, lo);
  size_t L = d;
  if (!is_root) {
    const wkey_t *last = key_at(w, hi - 1);
    size_t m = first->len < last->len ? first->len : last->len;
    while (L < m && first->key[L] == last->key[L]) L++;
  }
  int terminal = first->len == L;
  size_t clo = lo + (terminal ? 1 : 0);

  /* Child ranges: runs of equal byte at L. */
  size_t base = w->slots_len;
  int rc;
  for (size_t i = clo; i < hi;) {
    uint8_t c = (uint8_t)key_at(w, i)->key[L];
    if ((rc = slot_push(w, i)) != 0) return rc;
    size_t j = i + 1;
    while (j < hi && (uint8_t)key_at(w, j)->key[L] == c) j++;
    i = j;
  }
  size_t nchild = w->slots_len - base;
  /* Then the range end, then one slot per child for its subtree size. */
  for (size_t i = 0; i <= nchild; i++)
    if ((rc = slot_push(w, i == 0 ? hi : 0)) != 0) return rc;
  size_t sizes = base + nchild + 1;

  uint32_t *top = w->tops + (size_t)lvl * 2 * TA_MAX_K;
  uint32_t *tmp = top + TA_MAX_K;
  unsigned ntop = 0;
  if (terminal) top[ntop++] = first->id;

  /* Children in best-id order (the smallest id of each subtree first): the paths to a node's
   * best completions then come first in its subtree, so the descents that rebuild texts stay
   * short and near. One slot per child past the sizes holds (best id << 8 | child index); a
   * child's best id is the smallest id of its range. (Slots, not the C stack: the recursion is
   * as deep as the longest key.) */
  size_t order = sizes + nchild;
  for (size_t ci = 0; ci < nchild; ci++) {
    size_t cs = w->slots[base + ci], ce = w->slots[base + ci + 1];
    uint32_t best = UINT32_MAX;
    for (size_t i = cs; i < ce; i++)
      if (key_at(w, i)->id < best) best = key_at(w, i)->id;
    if ((rc = slot_push(w, (size_t)best << 8 | ci)) != 0) return rc;
  }
  for (size_t i = 1; i < nchild; i++) {
    size_t v = w->slots[order + i];
    size_t j = i;
    for (; j > 0 && w->slots[order + j - 1] > v; j--) w->slots[order + j] = w->slots[order + j - 1];
    w->slots[order + j] = v;
  }

  /* Children last to first, so the reversed output ends up in pre-order. */
  for (size_t oi = nchild; oi-- > 0;) {
    size_t ci = w->slots[order + oi] & 0xff;
    size_t cs = w->slots[base + ci], ce = w->slots[base + ci + 1];
    size_t before = w->out.len;
    unsigned cn;
    if ((rc = build_node(w, cs, ce, L, 0, lvl + 1, &cn)) != 0) return rc;
    const uint32_t *ctop = w->tops + (size_t)(lvl + 1) * 2 * TA_MAX_K;
    unsigned m = merge_top(top, ntop, ctop, cn, tmp, w->k);
    memcpy(top, tmp, m * sizeof *top);
    ntop = m;
    w->slots[sizes + oi] = w->out.len - before;
  }

  /* The header, forward in w->hdr. */
  int heavy = hi - lo > w->k;
  uint8_t *h = w->hdr;
  size_t hl = 0;
  size_t skip = is_root ? 0 : 1;
  size_t cl =
      trie__sym_encode(&w->sym, (const uint8_t *)first->key + d + skip, L - d - skip, w->code);
  unsigned flags = (terminal ? TRIE_NODE_TERMINAL : 0) | (heavy ? TRIE_NODE_HEAVY : 0);
  flags |= (nchild < TRIE_NODE_NCHILD_ESCAPE ? (unsigned)nchild : TRIE_NODE_NCHILD_ESCAPE)
           << TRIE_NODE_NCHILD_SHIFT;
  flags |= (cl < TRIE_NODE_LABEL_ESCAPE ? (unsigned)cl : TRIE_NODE_LABEL_ESCAPE)
           << TRIE_NODE_LABEL_SHIFT;
  h[hl++] = (uint8_t)flags;
  if (nchild >= TRIE_NODE_NCHILD_ESCAPE)
    hl += trie__put_varint(h + hl, nchild - TRIE_NODE_NCHILD_ESCAPE);
  if (cl >= TRIE_NODE_LABEL_ESCAPE) hl += trie__put_varint(h + hl, cl - TRIE_NODE_LABEL_ESCAPE);
  memcpy(h + hl, w->code, cl);
  hl += cl;
  if (terminal) hl += trie__put_varint(h + hl, first->id);
  if (heavy) {
    uint8_t list[TA_MAX_K * 10];
    size_t ll = trie__put_varint(list, top[0]);
    for (unsigned i = 1; i < w->k; i++) ll += trie__put_varint(list + ll, top[i] - top[i - 1] - 1);
    hl += trie__put_varint(h + hl, ll);
    memcpy(h + hl, list, ll);
    hl += ll;
  }
  for (size_t oi = 0; oi < nchild; oi++)
    h[hl++] = (uint8_t)key_at(w, w->slots[base + (w->slots[order + oi] & 0xff)])->key[L];
  if (nchild >= 2) {
    /* Offsets of children 1.. from child 0, in the fewest bytes that hold the largest. */
    size_t last = 0;
    for (size_t ci = 0; ci + 1 < nchild; ci++) last += w->slots[sizes + ci];
    unsigned width = width_of(last);
    h[hl++] = (uint8_t)width;
    size_t off = 0;
    for (size_t ci = 0; ci + 1 < nchild; ci++) {
      off += w->slots[sizes + ci];
      trie__store_uw(h + hl, off, width);
      hl += width;
    }
  }
  w->slots_len = base;

  if ((rc = ta_buf_reserve(&w->out, hl)) != 0) return rc;
  uint8_t *o = (uint8_t *)w->out.p + w->out.len;
  for (size_t i = 0; i < hl; i++) o[i] = h[hl - 1 - i];
  w->out.len += hl;
  if (terminal) w->term_rev[first->id] = w->out.len;
  w->num_nodes++;
  if (terminal && w->opts->progress != NULL && (++w->done & 0xffff) == 0)
    w->opts->progress(w->opts->progress_ctx, "layout", w->done, w->n);
  *ntop_out = ntop;
  return 0;
}

/* ---- Output ------------------------------------------------------------------------------ */

/* The error of a failed write to the caller's stream: why, from errno (a full disk is
 * TA_EDISKFULL), or TA_EIO when the stream does not say. */
static int write_error(void) {
  return errno != 0 ? ta_error_from_errno(errno) : TA_EIO;
}

static int put(FILE *f, const void *p, size_t n) {
  if (n == 0) return 0;
  errno = 0;
  return fwrite(p, 1, n, f) == n ? 0 : write_error();
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t target) {
  static const uint8_t zeros[8];
  int rc = put(f, zeros, (size_t)(target - *pos));
  *pos = target;
  return rc;
}

static uint64_t align8(uint64_t v) {
  return (v + 7) & ~(uint64_t)7;
}

static int validate(const trie_entry_t *entries, size_t n, const trie_write_opts_t *opts) {
  if (opts == NULL || opts->k < 1 || opts->k > TA_MAX_K || (entries == NULL && n != 0))
    return TA_EINVAL;
  if (n >= UINT32_MAX) return TA_ERANGE;
  if (opts->source != NULL && strlen(opts->source) > UINT32_MAX) return TA_ETOOLONG;
  size_t mlen = opts->market ? strlen(opts->market) : 0;
  if ((mlen && !ta_market_valid(opts->market, mlen)) || opts->shards > TRIE_MAX_SHARDS ||
      (opts->shards ? opts->shard >= opts->shards : opts->shard != 0))
    return TA_EINVAL;
  uint64_t str_total = 0;
  for (size_t i = 0; i < n; i++) {
    const trie_entry_t *e = &entries[i];
    if ((e->key == NULL && e->key_len != 0) || (e->display == NULL && e->display_len != 0))
      return TA_EINVAL;
    if (!isfinite(e->score) || e->score < 0) return TA_ERANGE;
    if (e->key_len > TA_MAX_KEY || e->display_len > TA_MAX_KEY) return TA_ETOOLONG;
    if (!trie_utf8_valid(e->key, e->key_len) || !trie_utf8_valid(e->display, e->display_len))
      return TA_EUTF8;
    str_total += e->display_len;
  }
  if (str_total > UINT32_MAX) return TA_ETOOLONG;
  return 0;
}

/* Sorts entries[] into rank order; returns the keys in key order with their ids, and the
 * longest key. */
static int sort_entries(trie_entry_t *entries, size_t n, wkey_t **keys_out, size_t *max_key) {
  size_t alloc_n = n ? n : 1;
  keyref_t *kr = malloc(alloc_n * sizeof *kr);
  if (kr == NULL) return TA_ENOMEM;
  *max_key = 0;
  for (size_t i = 0; i < n; i++) {
    kr[i].idx = (uint32_t)i;
    keyref_load(&kr[i], entries, 0);
    if (entries[i].key_len > *max_key) *max_key = entries[i].key_len;
  }
  keyref_t *rr = malloc(alloc_n * sizeof *rr);
  if (rr == NULL) {
    free(kr);
    return TA_ENOMEM;
  }
  int rc = sort_keys(kr, rr, n, entries, 0);
  if (rc != 0) {
    free(kr);
    free(rr);
    return rc;
  }
  /* Rank order: score descending, then key order. The bits of a finite double >= 0 order like
   * the double, so a stable sort of their complement over the key-sorted array does it. */
  for (size_t i = 0; i < n; i++) {
    double score = entries[kr[i].idx].score + 0.0; /* -0.0 -> +0.0 */
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    rr[i].head = ~bits;
    rr[i].idx = (uint32_t)i; /* key rank */
    rr[i].clen = kr[i].idx;  /* entry index, carried along */
  }
  radix_sort(rr, kr, n, 0);
  free(kr);
  wkey_t *keys = malloc(alloc_n * sizeof *keys);
  uint32_t *perm = malloc(alloc_n * sizeof *perm);
  if (keys == NULL || perm == NULL) {
    free(rr);
    free(keys);
    free(perm);
    return TA_ENOMEM;
  }
  /* perm[id] = index of the entry of rank id; keys[keyrank] = that key with its id. */
  for (size_t id = 0; id < n; id++) {
    uint32_t kr_i = rr[id].idx;
    uint32_t idx = rr[id].clen;
    perm[id] = idx;
    keys[kr_i].key = entries[idx].key;
    keys[kr_i].len = (uint32_t)entries[idx].key_len;
    keys[kr_i].id = (uint32_t)id;
  }
  free(rr);
  /* Apply perm in place, cycle by cycle: entries[id] = old entries[perm[id]]. */
  for (size_t i = 0; i < n; i++) {
    if (perm[i] == i) continue;
    trie_entry_t saved = entries[i];
    size_t j = i;
    for (;;) {
      size_t from = perm[j];
      perm[j] = (uint32_t)j;
      if (from == i) {
        entries[j] = saved;
        break;
      }
      entries[j] = entries[from];
      j = from;
    }
  }
  free(perm);
  *keys_out = keys;
  return 0;
}

/* The number of best ids whose display forms go to HOTSTR: as many as fit in the budget. */
static size_t hot_count(const trie_entry_t *entries, size_t n, const trie_write_opts_t *opts) {
  double budget =
      opts->hot_bytes != 0 ? (double)opts->hot_bytes : TRIE_HOT_BYTES_PER_QUERY * (double)n;
  double used = 0;
  size_t m = 0;
  while (m < n && used + (double)entries[m].display_len <= budget) used += entries[m++].display_len;
  return m;
}

/* The sections after NODES is laid out, each built in memory. */
typedef struct {
  uint8_t *meta, *sym, *hot_off, *score_val, *score_run, *idpos, *display;
  size_t meta_len, sym_len, hot_off_len, score_val_len, score_run_len, idpos_len, display_len;
  ta_buf_t hot_str;
} tail_t;

static void tail_free(tail_t *t) {
  free(t->meta);
  free(t->sym);
  free(t->hot_off);
  free(t->score_val);
  free(t->score_run);
  free(t->idpos);
  free(t->display);
  ta_buf_free(&t->hot_str);
}

/* HOTOFF and HOTSTR: the hot texts one after the other, and per group of TRIE_HOT_GROUP ids
 * where the group starts and where each of its texts ends from there, in the fewest bits that
 * hold the longest group. */
static int build_hot(const trie_entry_t *entries, size_t m, tail_t *t) {
  size_t groups = (m + TRIE_HOT_GROUP - 1) / TRIE_HOT_GROUP;
  uint64_t span_max = 1, total = 0;
  for (size_t g = 0; g < groups; g++) {
    uint64_t span = 0;
    for (size_t i = g * TRIE_HOT_GROUP; i < m && i < (g + 1) * TRIE_HOT_GROUP; i++)
      span += entries[i].display_len;
    if (span > span_max) span_max = span;
    total += span;
  }
  if (total > UINT32_MAX) return TA_ETOOLONG;
  unsigned w = trie__bit_width(span_max); /* at most 17: 16 texts of 4096 bytes */
  size_t rec = 4 + 2 * (size_t)w;
  t->hot_off_len = TRIE_HOT_HEAD + rec * groups + TRIE_BITS_SLACK;
  if ((t->hot_off = calloc(1, t->hot_off_len)) == NULL) return TA_ENOMEM;
  trie__store_u32(t->hot_off, (uint32_t)m);
  trie__store_u32(t->hot_off + 4, w);
  int rc = 0;
  for (size_t g = 0; rc == 0 && g < groups; g++) {
    uint8_t *r = t->hot_off + TRIE_HOT_HEAD + rec * g;
    trie__store_u32(r, (uint32_t)t->hot_str.len);
    uint64_t end = 0;
    for (size_t j = 0; rc == 0 && j < TRIE_HOT_GROUP && g * TRIE_HOT_GROUP + j < m; j++) {
      const trie_entry_t *e = &entries[g * TRIE_HOT_GROUP + j];
      end += e->display_len;
      trie__store_bits(r + 4, j, w, end);
      rc = ta_buf_put(&t->hot_str, e->display, e->display_len);
    }
  }
  return rc;
}

static int build_tail(const trie_entry_t *entries, size_t n, const layout_t *w, size_t max_key,
                      const trie_write_opts_t *opts, tail_t *t) {
  /* META */
  size_t source_len = opts->source ? strlen(opts->source) : 0;
  size_t mlen = opts->market ? strlen(opts->market) : 0;
  size_t place = mlen || opts->shards ? TRIE_META_PLACE_LEN + mlen : 0;
  t->meta_len = TRIE_META_FIXED + source_len + TRIE_META_NORM_LEN + place;
  t->meta = calloc(1, t->meta_len);
  if (t->meta == NULL) return TA_ENOMEM;
  uint8_t *meta = t->meta;
  trie__store_u32(meta + TRIE_META_K, w->k);
  trie__store_u32(meta + TRIE_META_FLAGS, 0);
  trie__store_u64(meta + TRIE_META_NUM_QUERIES, n);
  trie__store_u64(meta + TRIE_META_NUM_NODES, w->num_nodes);
  trie__store_u64(meta + TRIE_META_BUILD_TIME, (uint64_t)opts->build_time);
  trie__store_u64(meta + TRIE_META_ROOT, 0);
  trie__store_u32(meta + TRIE_META_MAX_KEY, (uint32_t)max_key);
  trie__store_u32(meta + TRIE_META_SOURCE_LEN, (uint32_t)source_len);
  if (source_len) memcpy(meta + TRIE_META_FIXED, opts->source, source_len);
  trie__store_u32(meta + TRIE_META_FIXED + source_len, TRIE_NORM_VERSION);
  if (place) {
    uint8_t *p = meta + TRIE_META_FIXED + source_len + TRIE_META_NORM_LEN;
    trie__store_u32(p, (uint32_t)mlen);
    if (mlen) memcpy(p + 4, opts->market, mlen);
    trie__store_u32(p + 4 + mlen, opts->shards);
    trie__store_u32(p + 8 + mlen, opts->shard);
  }

  t->sym_len = trie__sym_section(&w->sym, NULL);
  if ((t->sym = malloc(t->sym_len)) == NULL) return TA_ENOMEM;
  trie__sym_section(&w->sym, t->sym);

  size_t m = hot_count(entries, n, opts);
  int rc = build_hot(entries, m, t);
  if (rc != 0) return rc;

  /* SCOREVAL: the distinct scores (rank order makes them runs); SCORERUN: which ids start a
   * run, in groups of 64 with the runs started before the group and before each byte. */
  size_t runs = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || entries[i].score != entries[i - 1].score) runs++;
  size_t groups = (n + 63) / 64;
  t->score_val_len = 8 * runs;
  t->score_run_len = TRIE_SCORERUN_GROUP * groups;
  t->score_val = malloc(t->score_val_len ? t->score_val_len : 1);
  t->score_run = calloc(t->score_run_len ? t->score_run_len : 1, 1);
  if (t->score_val == NULL || t->score_run == NULL) return TA_ENOMEM;
  uint32_t started = 0;
  for (size_t g = 0; g < groups; g++) {
    uint8_t *rec = t->score_run + TRIE_SCORERUN_GROUP * g;
    trie__store_u32(rec, started);
    for (unsigned j = 0, in_group = 0; j < 8; j++) {
      rec[4 + j] = (uint8_t)in_group;
      for (unsigned bit = 0; bit < 8; bit++) {
        size_t i = 64 * g + 8 * j + bit;
        if (i >= n || (i > 0 && entries[i].score == entries[i - 1].score)) continue;
        trie__store_f64(t->score_val + 8 * started, entries[i].score + 0.0);
        rec[12 + j] |= (uint8_t)(1u << bit);
        started++;
        in_group++;
      }
    }
  }

  /* IDPOS: where each id's terminal node starts in NODES (forward), in the fewest bits that
   * hold NODES' length. */
  uint64_t nodes_len = w->out.len;
  unsigned pw = trie__bit_width(nodes_len);
  t->idpos_len = 4 + (n * pw + 7) / 8 + TRIE_BITS_SLACK;
  if ((t->idpos = calloc(t->idpos_len, 1)) == NULL) return TA_ENOMEM;
  trie__store_u32(t->idpos, pw);
  for (size_t id = 0; id < n; id++)
    trie__store_bits(t->idpos + 4, id, pw, nodes_len - w->term_rev[id]);

  /* DISPLAY: count, a bit per cold id (set: listed), the cold ids whose display form is not
   * their key, offsets, the forms. */
  size_t c = 0, bytes = 0, nbits = ((n - m) + 7) / 8;
  for (size_t id = m; id < n; id++) {
    const trie_entry_t *e = &entries[id];
    if (e->display_len != e->key_len || memcmp(e->display, e->key, e->key_len) != 0) {
      c++;
      bytes += e->display_len;
    }
  }
  if (bytes > UINT32_MAX) return TA_ETOOLONG;
  t->display_len = 4 + nbits + 4 * c + 4 * (c + 1) + bytes;
  if ((t->display = calloc(1, t->display_len)) == NULL) return TA_ENOMEM;
  uint8_t *bits = t->display + 4, *ids = bits + nbits, *offs = ids + 4 * c,
          *str = offs + 4 * (c + 1);
  trie__store_u32(t->display, (uint32_t)c);
  size_t j = 0;
  uint32_t at = 0;
  for (size_t id = m; id < n; id++) {
    const trie_entry_t *e = &entries[id];
    if (e->display_len == e->key_len && memcmp(e->display, e->key, e->key_len) == 0) continue;
    bits[(id - m) / 8] |= (uint8_t)(1u << ((id - m) % 8));
    trie__store_u32(ids + 4 * j, (uint32_t)id);
    trie__store_u32(offs + 4 * j, at);
    memcpy(str + at, e->display, e->display_len);
    at += (uint32_t)e->display_len;
    j++;
  }
  trie__store_u32(offs + 4 * c, at);
  return 0;
}

int trie_write(FILE *out, trie_entry_t *entries, size_t n, const trie_write_opts_t *opts) {
  if (out == NULL) return TA_EINVAL;
  int rc = validate(entries, n, opts);
  if (rc != 0) return rc;
  uint32_t k = opts->k;
  if (opts->progress) opts->progress(opts->progress_ctx, "sort", 0, n);
  wkey_t *keys = NULL;
  size_t max_key = 0;
  if ((rc = sort_entries(entries, n, &keys, &max_key)) != 0) return rc;

  if (opts->progress) opts->progress(opts->progress_ctx, "layout", 0, n);
  layout_t w;
  memset(&w, 0, sizeof w);
  tail_t t;
  memset(&t, 0, sizeof t);
  w.keys = keys;
  w.n = n;
  w.k = k;
  w.opts = opts;
  w.tops = malloc((max_key + 2) * 2 * TA_MAX_K * sizeof *w.tops);
  w.hdr = malloc(HDR_CAP);
  w.code = malloc(2 * TA_MAX_KEY);
  w.term_rev = malloc((n ? n : 1) * sizeof *w.term_rev);
  if (w.tops == NULL || w.hdr == NULL || w.code == NULL || w.term_rev == NULL) {
    rc = TA_ENOMEM;
    goto done;
  }
  if (n == 0) {
    /* The empty trie: a root with no key and no child. */
    static const uint8_t empty_root[1] = {0}; /* no key, no child, an empty label */
    if ((rc = ta_buf_put(&w.out, empty_root, sizeof empty_root)) != 0) goto done;
    w.num_nodes = 1;
  } else {
    unsigned ntop;
    if ((rc = trie__sym_train_keys(keys, n, &w.sym)) != 0) goto done;
    if ((rc = build_node(&w, 0, n, 0, 1, 0, &ntop)) != 0) goto done;
  }
  for (size_t i = 0, j = w.out.len; i + 1 < j; i++, j--) {
    char c = w.out.p[i];
    w.out.p[i] = w.out.p[j - 1];
    w.out.p[j - 1] = c;
  }
  if (opts->progress) opts->progress(opts->progress_ctx, "write", 0, n);
  if ((rc = build_tail(entries, n, &w, max_key, opts, &t)) != 0) goto done;

  /* Section table in TRIE_SECT_REQUIRED's order, each at an 8-aligned offset. */
  const uint32_t nsect = TRIE_SECT_NUM_REQUIRED;
  const uint32_t header_size = TRIE_HDR_FIXED + nsect * TRIE_SECT_ENTRY + 4;
  struct {
    uint32_t id;
    const uint8_t *data;
    uint64_t len;
    uint32_t crc;
    uint64_t off;
  } sec[TRIE_SECT_NUM_REQUIRED] = {
      {TRIE_SECT_META, t.meta, t.meta_len, 0, 0},
      {TRIE_SECT_SYMBOLS, t.sym, t.sym_len, 0, 0},
      {TRIE_SECT_HOTOFF, t.hot_off, t.hot_off_len, 0, 0},
      {TRIE_SECT_HOTSTR, (const uint8_t *)t.hot_str.p, t.hot_str.len, 0, 0},
      {TRIE_SECT_SCOREVAL, t.score_val, t.score_val_len, 0, 0},
      {TRIE_SECT_SCORERUN, t.score_run, t.score_run_len, 0, 0},
      {TRIE_SECT_IDPOS, t.idpos, t.idpos_len, 0, 0},
      {TRIE_SECT_DISPLAY, t.display, t.display_len, 0, 0},
      {TRIE_SECT_NODES, (const uint8_t *)w.out.p, w.out.len, 0, 0},
  };
  uint64_t pos = align8(header_size);
  for (uint32_t i = 0; i < nsect; i++) {
    sec[i].off = pos;
    sec[i].crc = trie__crc32c(0, sec[i].data, (size_t)sec[i].len);
    pos = align8(pos + sec[i].len);
  }
  uint8_t header[TRIE_HDR_FIXED + TRIE_SECT_NUM_REQUIRED * TRIE_SECT_ENTRY + 4];
  memcpy(header, TRIE_MAGIC, TRIE_MAGIC_LEN);
  trie__store_u32(header + 8, TRIE_FORMAT_VERSION);
  trie__store_u32(header + 12, TRIE_MIN_READ_VERSION);
  trie__store_u32(header + 16, header_size);
  trie__store_u32(header + 20, nsect);
  for (uint32_t i = 0; i < nsect; i++) {
    uint8_t *e = header + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
    trie__store_u32(e, sec[i].id);
    trie__store_u32(e + 4, sec[i].crc);
    trie__store_u64(e + 8, sec[i].off);
    trie__store_u64(e + 16, sec[i].len);
  }
  trie__store_u32(header + header_size - 4, trie__crc32c(0, header, header_size - 4));

  uint64_t at = 0;
  rc = put(out, header, header_size);
  at = header_size;
  for (uint32_t i = 0; i < nsect && rc == 0; i++) {
    if ((rc = pad_to(out, &at, sec[i].off)) != 0) break;
    rc = put(out, sec[i].data, (size_t)sec[i].len);
    at += sec[i].len;
  }
  if (rc == 0) rc = pad_to(out, &at, align8(at));
  if (rc == 0) rc = ta_fflush_written(out);
  if (rc == 0 && opts->progress) opts->progress(opts->progress_ctx, "done", n, n);

done:
  free(keys);
  ta_buf_free(&w.out);
  free(w.slots);
  free(w.tops);
  free(w.hdr);
  free(w.code);
  free(w.term_rev);
  tail_free(&t);
  return rc;
}
