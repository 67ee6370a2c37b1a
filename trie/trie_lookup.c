/*
 * Lookups in a trie file (docs/FORMAT.md, "Lookup"): trie_lookup walks the prefix through the
 * node labels and answers from the answer node's stored top-k (heavy node) or from a scan of its
 * subtree (light node: at most k keys, contiguous in pre-order). trie_lookup_filtered merges the
 * subtree best first, going past the stored top-k when the caller's predicate drops candidates.
 * Every byte read from NODES goes through trie__node_parse, which bounds-checks it.
 */
#include "trie_int.h"

#include <stdlib.h>

/* Compares the label of nd with p[0..rem) as far as both go, symbol by symbol without decoding
 * it: one masked 8-byte compare a symbol (p has 8 readable bytes after rem). Returns how many
 * prefix bytes the label covers (at least rem: the prefix ends in it), or SIZE_MAX when they
 * differ; TA_ECORRUPT as an escape without its byte, through *rc. */
static size_t label_match(const trie_reader_t *r, const trie__node_t *nd, const uint8_t *p,
                          size_t rem, int *rc) {
  static const uint8_t ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const uint8_t *c = nd->code, *end = nd->code + nd->code_len;
  size_t got = 0;
  while (c < end && got < rem) {
    unsigned s = *c++;
    if (s == TRIE_SYM_ESCAPE) {
      if (c == end) {
        *rc = TA_ECORRUPT;
        return SIZE_MAX;
      }
      if (*c++ != p[got++]) return SIZE_MAX;
      continue;
    }
    unsigned len = r->sym_len[s];
    uint64_t a, b, mask;
    memcpy(&a, r->sym[s], 8);
    memcpy(&b, p + got, 8);
    memcpy(&mask, ones + 8 - len, 8); /* the symbol's bytes, whatever the byte order */
    if ((a ^ b) & mask) {
      /* a difference past the end of the prefix does not count */
      size_t left = rem - got;
      if (left >= len) return SIZE_MAX;
      memcpy(&mask, ones + 8 - left, 8);
      if ((a ^ b) & mask) return SIZE_MAX;
    }
    got += len;
  }
  return got;
}

/* label_match for a prefix longer than any key (not copied): the label decoded as far as the
 * prefix goes into buf (TA_MAX_KEY + TRIE_SYM_SLACK bytes), then compared. */
static size_t label_match_long(const trie_reader_t *r, const trie__node_t *nd, const uint8_t *p,
                               size_t rem, uint8_t *buf, int *rc) {
  size_t len = 0;
  if ((*rc = trie__label(r, nd, buf, &len, TA_MAX_KEY, rem)) != 0) return SIZE_MAX;
  return memcmp(buf, p, len < rem ? len : rem) == 0 ? len : SIZE_MAX;
}

/* The child byte c in bytes[0..n), or NULL: most nodes have one or two children, for which a
 * loop costs less than the call to memchr. */
static inline const uint8_t *child_byte(const uint8_t *bytes, size_t n, uint8_t c) {
  if (n > 8) return memchr(bytes, c, n);
  for (size_t i = 0; i < n; i++)
    if (bytes[i] == c) return bytes + i;
  return NULL;
}

/* Finds the node where prefix ends (inside or at the end of its label): 1 when found, 0 when
 * no key starts with prefix, or an error. *head gets the length of the key above the node's
 * label: prefix[0..*head) is that key; *at (when not NULL) both, the node as its position + 1
 * (node 0: none). */
static int find_answer(const trie_reader_t *r, const char *prefix, size_t rem, trie__node_t *nd,
                       size_t *head, trie_at_t *at) {
  if (at != NULL) *at = (trie_at_t){0, 0, 0};
  /* The prefix copied with 8 zero bytes after it, so that no symbol compare reads past it; one
   * longer than any key is compared to decoded labels (it matches none in a sound file). */
  uint8_t copy[TA_MAX_KEY + TRIE_SYM_SLACK];
  const uint8_t *start = (const uint8_t *)prefix;
  int padded = rem <= TA_MAX_KEY;
  if (padded) {
    if (rem > 0) memcpy(copy, prefix, rem); /* prefix may be NULL when empty */
    memset(copy + rem, 0, 8);
    start = copy;
  }
  const uint8_t *p = start;
  int rc = 0;
  if (r->top_ok)
    *nd = r->top_root;
  else if ((rc = trie__node_parse(r, (size_t)r->root, TRIE_NO_FIRST, nd)) != 0)
    return rc;
  /* skip: the label's first byte, matched by the memchr that chose the node (none at the root) */
  for (size_t skip = 0;; skip = 1) {
    size_t len = padded ? label_match(r, nd, p + skip, rem - skip, &rc)
                        : label_match_long(r, nd, p, rem, copy, &rc);
    if (len == SIZE_MAX) return rc;
    if (padded) len += skip;
    if (rem <= len) {
      *head = (size_t)(p - start);
      if (at != NULL)
        *at = (trie_at_t){(uint64_t)nd->pos + 1, *head, !!(nd->flags & TRIE_NODE_HEAVY)};
      return 1;
    }
    p += len;
    rem -= len;
    if (skip == 0 && r->top_ok) { /* at the root: its children were parsed at open */
      unsigned i = r->top_index[*p];
      if (i == 0) return 0;
      *nd = r->top_kids[i - 1];
      continue;
    }
    const uint8_t *hit = child_byte(nd->child_bytes, (size_t)nd->nchild, *p);
    if (hit == NULL) return 0;
    if ((rc = trie__node_child(r, nd, (uint64_t)(hit - nd->child_bytes), nd)) != 0) return rc;
  }
}

static void sort_ids(uint32_t *ids, unsigned n) {
  for (unsigned i = 1; i < n; i++) {
    uint32_t v = ids[i];
    unsigned j = i;
    for (; j > 0 && ids[j - 1] > v; j--) ids[j] = ids[j - 1];
    ids[j] = v;
  }
}

/* Collects the ids > t (t = -1: all) of the light subtree rooted at the parsed node *start into
 * ids[] (room for k), sorted ascending. A light subtree holds at most k keys and, every inner
 * node but the root having two children or more, at most 2k nodes: more is corruption. */
static int scan_light(const trie_reader_t *r, const trie__node_t *start, int64_t t, uint32_t *ids,
                      unsigned *count) {
  trie__node_t nd = *start;
  uint64_t pending = 1, visited = 0;
  unsigned terminals = 0, kept = 0;
  for (;;) {
    if (nd.flags & TRIE_NODE_HEAVY) return TA_ECORRUPT;
    if (nd.flags & TRIE_NODE_TERMINAL) {
      if (++terminals > r->k) return TA_ECORRUPT;
      if ((int64_t)nd.id > t) ids[kept++] = (uint32_t)nd.id;
    }
    pending = pending - 1 + nd.nchild;
    if (pending == 0) break;
    if (++visited > 2u * r->k + 2u) return TA_ECORRUPT;
    int rc = trie__node_parse(r, nd.end, TRIE_NO_FIRST, &nd); /* pre-order; ids only */
    if (rc != 0) return rc;
  }
  sort_ids(ids, kept);
  *count = kept;
  return 0;
}

int trie__node_ids(const trie_reader_t *r, const trie__node_t *nd, uint32_t ids[TA_MAX_K],
                   unsigned *count) {
  if (!(nd->flags & TRIE_NODE_HEAVY)) return scan_light(r, nd, -1, ids, count);
  *count = r->k;
  return trie__node_list(r, nd, ids);
}

/* The top-k ids of prefix into ids[] (room for TA_MAX_K: a heavy list is read whole), their
 * number, capped at k, into *count. */
static int lookup_ids(const trie_reader_t *r, const char *prefix, size_t prefix_len, unsigned k,
                      uint32_t ids[TA_MAX_K], unsigned *count) {
  *count = 0;
  if (k > r->k) k = r->k;
  trie__node_t nd;
  size_t head;
  int rc = find_answer(r, prefix, prefix_len, &nd, &head, NULL);
  if (rc <= 0 || k == 0) return rc < 0 ? rc : 0;
  unsigned n;
  rc = trie__node_ids(r, &nd, ids, &n);
  if (rc != 0) return rc;
  *count = n < k ? n : k;
  return 0;
}

/* The hits of a light answer node: its subtree scanned in pre-order with a stack of the key
 * lengths at each open node, so each key is whole when its terminal is met (no descent per
 * hit); the texts of hot ids borrowed from HOTSTR, of cold ones copied into tx (or their
 * DISPLAY form); then sorted by id, the first k kept. Same bounds as scan_light: at most k keys
 * and 2k + 2 nodes, no heavy node, or the file is corrupt. */
static int light_hits(const trie_reader_t *r, const trie__node_t *start, const char *prefix,
                      size_t head, unsigned k, trie_text_t *tx, trie_hit_t *hits, size_t *n_hits) {
  const char *text[TA_MAX_K];
  size_t text_len[TA_MAX_K];
  /* the ids met, each as id << 8 | its slot in text[], kept sorted as they come (pre-order
   * with children in best-id order meets them nearly sorted) */
  uint64_t order[TA_MAX_K];
  uint8_t path[TA_MAX_KEY + TRIE_SYM_SLACK];
  struct {
    const uint8_t *bytes; /* its child bytes: each child's label starts with its own */
    uint64_t next, n;     /* the child to enter next, of n */
    size_t len;           /* key length at its end */
  } open[2 * TA_MAX_K + 4];
  unsigned depth = 0, count = 0;
  uint64_t visited = 0;
  size_t len = head;
  /* head is what the labels above matched: past TA_MAX_KEY only in a corrupt file */
  if (head > TA_MAX_KEY) return TA_ECORRUPT;
  if (head > 0) memcpy(path, prefix, head); /* prefix may be NULL when empty */
  trie__node_t nd = *start;
  int rc;
  trie__texts_t w;
  trie__texts_begin(tx, &w);
  for (;;) {
    if (nd.flags & TRIE_NODE_HEAVY) return TA_ECORRUPT;
    if ((rc = trie__label(r, &nd, path, &len, TA_MAX_KEY, SIZE_MAX)) != 0) return rc;
    if (nd.flags & TRIE_NODE_TERMINAL) {
      if (count >= r->k) return TA_ECORRUPT;
      if (nd.id < r->m_hot) {
        rc = trie__hot_text(r, nd.id, &text[count], &text_len[count]);
      } else if ((rc = trie__display(r, nd.id, &text[count], &text_len[count])) == 0) {
        text_len[count] = len;
        rc = trie__texts_add(&w, path, len, &text[count]);
      }
      if (rc < 0) return rc;
      uint64_t v = nd.id << 8 | count;
      unsigned j = count++;
      for (; j > 0 && order[j - 1] > v; j--) order[j] = order[j - 1];
      order[j] = v;
    }
    unsigned first;
    if (nd.nchild > 0) {
      if (depth == sizeof open / sizeof open[0]) return TA_ECORRUPT;
      open[depth].bytes = nd.child_bytes;
      open[depth].next = 1;
      open[depth].n = nd.nchild;
      open[depth].len = len;
      depth++;
      first = nd.child_bytes[0];
    } else {
      while (depth > 0 && open[depth - 1].next == open[depth - 1].n) depth--;
      if (depth == 0) break;
      first = open[depth - 1].bytes[open[depth - 1].next++];
      len = open[depth - 1].len;
    }
    if (++visited > 2u * r->k + 2u) return TA_ECORRUPT;
    /* Pre-order: the next node starts where this one ends. */
    if ((rc = trie__node_parse(r, nd.end, first, &nd)) != 0) return rc;
  }
  trie__texts_end(&w);
  if (count > k) count = k;
  for (unsigned i = 0; i < count; i++) {
    unsigned slot = (unsigned)(order[i] & 0xff);
    hits[i].id = (uint32_t)(order[i] >> 8);
    hits[i].text = text[slot];
    hits[i].text_len = text_len[slot];
    if ((rc = trie__score(r, hits[i].id, &hits[i].score)) != 0) return rc;
  }
  *n_hits = count;
  return 0;
}

/* The hits of ids[0..n) below the heavy node *nd (whose key above its label is
 * prefix[0..head)): scores and hot texts by id, the cold texts in one descent from the node. */
static int heavy_hits(const trie_reader_t *r, const trie__node_t *nd, const char *prefix,
                      size_t head, const uint32_t *ids, size_t n, trie_text_t *text,
                      trie_hit_t *hits) {
  trie__target_t cold_small[TA_MAX_K], *cold = cold_small;
  if (n > TA_MAX_K && (cold = malloc(n * sizeof *cold)) == NULL) return TA_ENOMEM;
  size_t n_cold = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    trie_hit_t *h = &hits[i];
    if (ids[i] >= r->n) {
      rc = TA_ERANGE;
      break;
    }
    h->id = ids[i];
    if ((rc = trie__score(r, ids[i], &h->score)) != 0) break;
    if (ids[i] < r->m_hot) {
      rc = trie__hot_text(r, ids[i], &h->text, &h->text_len);
    } else {
      cold[n_cold].hit = h;
      if ((rc = trie__id_node(r, ids[i], &cold[n_cold].pos)) == 0)
        __builtin_prefetch(r->nodes + cold[n_cold].pos); /* the descent ends there */
      n_cold++;
    }
  }
  if (rc == 0 && n_cold > 0) rc = trie__cold_texts(r, nd, prefix, head, cold, n_cold, text);
  if (cold != cold_small) free(cold);
  return rc;
}

/* The top-k hits of the answer node *nd, whose key above its label is prefix[0..head): a light
 * node by its scan, a heavy one by its list, the cold ids rebuilt in one descent from it. */
static int answer_hits(const trie_reader_t *r, const trie__node_t *nd, const char *prefix,
                       size_t head, unsigned k, trie_text_t *text, trie_hit_t *hits,
                       size_t *n_hits) {
  if (k > r->k) k = r->k;
  if (k == 0) return 0;
  if (!(nd->flags & TRIE_NODE_HEAVY)) return light_hits(r, nd, prefix, head, k, text, hits, n_hits);
  uint32_t ids[TA_MAX_K];
  int rc = trie__node_list(r, nd, ids);
  if (rc == 0) rc = heavy_hits(r, nd, prefix, head, ids, k, text, hits);
  if (rc == 0) *n_hits = k;
  return rc;
}

int trie_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, unsigned k,
                trie_text_t *text, trie_hit_t *hits, size_t *n_hits) {
  if (n_hits != NULL) *n_hits = 0;
  if (r == NULL || text == NULL || hits == NULL || n_hits == NULL ||
      (prefix == NULL && prefix_len != 0))
    return TA_EINVAL;
  trie__node_t nd;
  size_t head;
  int rc = find_answer(r, prefix, prefix_len, &nd, &head, NULL);
  if (rc <= 0) return rc;
  return answer_hits(r, &nd, prefix, head, k, text, hits, n_hits);
}

int trie_lookup_ids(const trie_reader_t *r, const char *prefix, size_t prefix_len, unsigned k,
                    uint32_t *ids, size_t *n_ids) {
  if (n_ids != NULL) *n_ids = 0;
  if (r == NULL || ids == NULL || n_ids == NULL || (prefix == NULL && prefix_len != 0))
    return TA_EINVAL;
  uint32_t all[TA_MAX_K];
  unsigned count;
  int rc = lookup_ids(r, prefix, prefix_len, k, all, &count);
  if (rc != 0) return rc;
  memcpy(ids, all, count * sizeof *ids);
  *n_ids = count;
  return 0;
}

_Static_assert(TA_MAX_K < 64, "a pick is a 64-bit mask of stored positions");

int trie_lookup_top_pick(const trie_reader_t *r, const char *prefix, size_t prefix_len,
                         trie_pick_fn pick, void *ctx, trie_text_t *text, trie_top_t *top,
                         trie_hit_t *hits, size_t *n_hits) {
  if (top != NULL) {
    top->at = (trie_at_t){0, 0, 0};
    top->n = 0;
    top->made = 0;
  }
  if (n_hits != NULL) *n_hits = 0;
  if (r == NULL || text == NULL || top == NULL || (prefix == NULL && prefix_len != 0) ||
      (pick != NULL && (hits == NULL || n_hits == NULL)))
    return TA_EINVAL;
  trie__node_t nd;
  size_t head;
  int rc = find_answer(r, prefix, prefix_len, &nd, &head, &top->at);
  if (rc <= 0) return rc;
  if (top->at.heavy) {
    if ((rc = trie__node_list(r, &nd, top->ids)) != 0) return rc;
    top->n = r->k;
  } else {
    if ((rc = light_hits(r, &nd, prefix, head, r->k, text, top->hits, &top->n)) != 0) return rc;
    for (size_t i = 0; i < top->n; i++) top->ids[i] = top->hits[i].id;
  }
  uint64_t picked = 0;
  if (pick == NULL || !pick(ctx, top, &picked)) return 0;
  if (picked >> top->n) return TA_EINVAL; /* top->n <= k <= TA_MAX_K < 64 */
  /* most often the first m are picked, which need no gathering */
  size_t m = picked & (picked + 1) ? 0 : (size_t)__builtin_ctzll(~picked);
  if (top->at.heavy) {
    uint32_t ids[TA_MAX_K];
    const uint32_t *want = top->ids;
    if (m == 0 && picked) {
      for (; picked; picked &= picked - 1) ids[m++] = top->ids[__builtin_ctzll(picked)];
      want = ids;
    }
    if ((rc = heavy_hits(r, &nd, prefix, head, want, m, text, hits)) != 0) return rc;
  } else if (m > 0) {
    memcpy(hits, top->hits, m * sizeof *hits);
  } else {
    for (; picked; picked &= picked - 1) hits[m++] = top->hits[__builtin_ctzll(picked)];
  }
  *n_hits = m;
  top->made = 1;
  return 0;
}

int trie_lookup_top(const trie_reader_t *r, const char *prefix, size_t prefix_len,
                    trie_text_t *text, trie_top_t *top) {
  return trie_lookup_top_pick(r, prefix, prefix_len, NULL, NULL, text, top, NULL, NULL);
}

int trie_get_hits(const trie_reader_t *r, const trie_top_t *top, const char *prefix,
                  const uint32_t *ids, size_t n, trie_text_t *text, trie_hit_t *hits) {
  if (r == NULL || top == NULL || (n != 0 && (ids == NULL || text == NULL || hits == NULL)) ||
      (prefix == NULL && top->at.head != 0))
    return TA_EINVAL;
  if (n == 0) return 0;
  /* no id completes a prefix nothing starts with: TA_EINVAL */
  if (top->at.node == 0) return TA_EINVAL;
  /* The node parsed again rather than kept in top: a top outlives its reader's mapping (a hot
   * swap), and a caller's top is not to be trusted with pointers. */
  trie__node_t nd;
  if (top->at.node > r->nodes_len) return TA_EINVAL;
  /* Below the root the prefix goes on into the node's label: its byte at head is the first. */
  size_t pos = (size_t)(top->at.node - 1);
  if (pos != r->root && prefix == NULL) return TA_EINVAL;
  int rc =
      trie__node_parse(r, pos, pos == r->root ? TRIE_NO_FIRST : (uint8_t)prefix[top->at.head], &nd);
  if (rc != 0) return rc;
  if (!(nd.flags & TRIE_NODE_HEAVY)) {
    /* A light node's few keys: one scan makes every text (as trie_lookup does), then the ids
     * asked for are picked from it. */
    trie_hit_t all[TA_MAX_K];
    size_t n_all;
    if ((rc = light_hits(r, &nd, prefix, top->at.head, r->k, text, all, &n_all)) != 0) return rc;
    for (size_t i = 0; i < n; i++) {
      size_t j = 0;
      while (j < n_all && all[j].id != ids[i]) j++;
      if (j == n_all) return ids[i] >= r->n ? TA_ERANGE : TA_ECORRUPT;
      hits[i] = all[j];
    }
    return 0;
  }
  return heavy_hits(r, &nd, prefix, top->at.head, ids, n, text, hits);
}

int trie_get_hit(const trie_reader_t *r, uint32_t id, trie_text_t *text, trie_hit_t *hit) {
  if (r == NULL || text == NULL || hit == NULL) return TA_EINVAL;
  if (id >= r->n) return TA_ERANGE;
  return trie__hit(r, id, text, hit);
}

/* ---- Filtered lookup: best-first merge of disjoint sources ------------------------------- */

enum {
  SRC_SINGLE, /* one id */
  SRC_LIST,   /* a heavy node's stored list, from a cursor on; then its expansion */
  SRC_NODE    /* a node not parsed yet, yielding only ids > t; key is the lower bound t + 1 */
};

typedef struct {
  uint64_t key;      /* heap order: the next id, or a lower bound of it (SRC_NODE) */
  const uint8_t *lp; /* SRC_LIST: next varint of the list */
  size_t pos;        /* SRC_LIST, SRC_NODE: the node */
  int64_t t;         /* SRC_NODE: filter; SRC_LIST: filter for the expansion */
  uint8_t kind;
  uint8_t left; /* SRC_LIST: ids left after key */
} source_t;

typedef struct {
  source_t *v;
  size_t len, cap;
  int heap_alloc;
  uint64_t budget; /* pushes left before we call the file corrupt (no DAG blow-up) */
} heap_t;

static int heap_push(heap_t *h, const source_t *s) {
  if (h->budget == 0) return TA_ECORRUPT;
  h->budget--;
  if (h->len == h->cap) {
    size_t cap = h->cap * 2;
    source_t *v = h->heap_alloc ? realloc(h->v, cap * sizeof *v) : malloc(cap * sizeof *v);
    if (v == NULL) return TA_ENOMEM;
    if (!h->heap_alloc) memcpy(v, h->v, h->len * sizeof *v);
    h->v = v;
    h->cap = cap;
    h->heap_alloc = 1;
  }
  size_t i = h->len++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->v[parent].key <= s->key) break;
    h->v[i] = h->v[parent];
    i = parent;
  }
  h->v[i] = *s;
  return 0;
}

static void heap_pop(heap_t *h, source_t *out) {
  *out = h->v[0];
  source_t last = h->v[--h->len];
  size_t i = 0, n = h->len;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h->v[c + 1].key < h->v[c].key) c++;
    if (last.key <= h->v[c].key) break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (n > 0) h->v[i] = last;
}

/* Pushes what a node yields beyond the filter t once its own list is used up: its terminal and
 * its children, each filtered by id > t. */
static int expand(const trie_reader_t *r, heap_t *h, const trie__node_t *nd, int64_t t) {
  source_t s;
  int rc;
  if ((nd->flags & TRIE_NODE_TERMINAL) && (int64_t)nd->id > t) {
    s.kind = SRC_SINGLE;
    s.key = nd->id;
    if ((rc = heap_push(h, &s)) != 0) return rc;
  }
  for (uint64_t i = 0; i < nd->nchild; i++) {
    uint64_t off = trie__child_off(nd, i);
    if (off >= r->nodes_len - nd->end) return TA_ECORRUPT;
    s.kind = SRC_NODE;
    s.key = (uint64_t)(t + 1);
    s.pos = nd->end + (size_t)off;
    s.t = t;
    if ((rc = heap_push(h, &s)) != 0) return rc;
  }
  return 0;
}

/* A node's source was popped: parse it and push what it yields (ids > s->t). */
static int open_node(const trie_reader_t *r, heap_t *h, const source_t *src) {
  trie__node_t nd;
  int rc = trie__node_parse(r, src->pos, TRIE_NO_FIRST, &nd); /* ids only */
  if (rc != 0) return rc;
  int64_t t = src->t;
  if (!(nd.flags & TRIE_NODE_HEAVY)) {
    uint32_t ids[TA_MAX_K];
    unsigned count;
    if ((rc = scan_light(r, &nd, t, ids, &count)) != 0) return rc;
    for (unsigned i = 0; i < count; i++) {
      source_t s;
      s.kind = SRC_SINGLE;
      s.key = ids[i];
      if ((rc = heap_push(h, &s)) != 0) return rc;
    }
    return 0;
  }
  /* Heavy: the list holds the k smallest ids of the subtree. Those <= t were yielded by an
   * ancestor; the rest come from the list, then from the expansion with filter max(t, k-th). */
  uint32_t ids[TA_MAX_K];
  if ((rc = trie__node_list(r, &nd, ids)) != 0) return rc;
  int64_t last = ids[r->k - 1];
  uint32_t i = 0;
  while (i < r->k && (int64_t)ids[i] <= t) i++;
  if (i == r->k) return expand(r, h, &nd, t > last ? t : last);
  /* The list goes on lazily from the varint after ids[i] (decoded and checked above). */
  const uint8_t *p = nd.list;
  uint64_t v;
  for (uint32_t j = 0; j <= i; j++) (void)trie__varint(&p, nd.list + nd.list_len, &v);
  source_t s;
  s.kind = SRC_LIST;
  s.key = ids[i];
  s.lp = p;
  s.left = (uint8_t)(r->k - 1 - i);
  s.pos = nd.pos;
  s.t = last > t ? last : t;
  return heap_push(h, &s);
}

#define FILTER_STACK_SOURCES 128

int trie_lookup_filtered(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
                         trie_keep_fn keep, void *ctx, trie_text_t *text, trie_hit_t *hits,
                         size_t *n_hits) {
  if (n_hits != NULL) *n_hits = 0;
  if (r == NULL || keep == NULL || n_hits == NULL || (n != 0 && (hits == NULL || text == NULL)) ||
      (prefix == NULL && prefix_len != 0))
    return TA_EINVAL;
  if (n == 0) return 0;
  trie__node_t nd;
  size_t head;
  int rc = find_answer(r, prefix, prefix_len, &nd, &head, NULL);
  if (rc <= 0) return rc;

  source_t stack_buf[FILTER_STACK_SOURCES];
  heap_t h = {stack_buf, 0, FILTER_STACK_SOURCES, 0, 0};
  /* A sound file creates at most one source per node and per key; nodes take 2 bytes or more. */
  h.budget = (uint64_t)r->nodes_len + r->n + 16;
  source_t s;
  s.kind = SRC_NODE;
  s.key = 0;
  s.pos = nd.pos;
  s.t = -1;
  rc = heap_push(&h, &s);
  size_t kept = 0;
  int64_t last_id = -1;
  while (rc == 0 && kept < n && h.len > 0) {
    heap_pop(&h, &s);
    if (s.kind == SRC_NODE) {
      rc = open_node(r, &h, &s);
      continue;
    }
    uint64_t id = s.key;
    if ((int64_t)id <= last_id) { /* sources overlap: only a corrupt file does that */
      rc = TA_ECORRUPT;
      break;
    }
    last_id = (int64_t)id;
    if (s.kind == SRC_LIST) {
      if (s.left > 0) {
        source_t next = s;
        uint64_t v;
        const uint8_t *end = r->nodes + r->nodes_len;
        if (trie__varint(&next.lp, end, &v) != 0 || v >= r->n) {
          rc = TA_ECORRUPT;
          break;
        }
        next.key = id + 1 + v;
        next.left--;
        rc = heap_push(&h, &next);
      } else {
        trie__node_t hn;
        rc = trie__node_parse(r, s.pos, TRIE_NO_FIRST, &hn);
        if (rc == 0) rc = expand(r, &h, &hn, s.t);
      }
      if (rc != 0) break;
    }
    trie_hit_t hit;
    if ((rc = trie__hit(r, id, text, &hit)) != 0) break;
    if (keep(ctx, &hit)) hits[kept++] = hit;
  }
  if (h.heap_alloc) free(h.v);
  if (rc != 0) return rc;
  *n_hits = kept;
  return 0;
}
