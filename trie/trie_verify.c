/*
 * trie_verify: the full check of a trie file (docs/FORMAT.md, "What verify checks"). CRC32C of
 * every section, zero padding between sections, then one pass over NODES in pre-order with an
 * explicit stack: every child starts where its parent's offsets say, every key id appears once,
 * every heavy list equals the true top-k of its subtree, and keys of equal score are ranked by
 * key bytes. Also the string and score arrays. Any failure is an error code, never a crash.
 */
#include "trie_int.h"

#include <math.h>
#include <stdlib.h>

static int check_layout(const trie_reader_t *r) {
  /* Sections sorted by offset must tile the file, gaps and tail being zero padding. */
  uint32_t order[TRIE_MAX_SECTIONS];
  for (uint32_t i = 0; i < r->nsect; i++) {
    uint32_t j = i;
    for (; j > 0 && r->sect[order[j - 1]].off > r->sect[i].off; j--) order[j] = order[j - 1];
    order[j] = i;
  }
  uint64_t at = TRIE_HDR_FIXED + (uint64_t)r->nsect * TRIE_SECT_ENTRY + 4;
  for (uint32_t i = 0; i <= r->nsect; i++) {
    uint64_t next = i < r->nsect ? r->sect[order[i]].off : r->size;
    if (next < at) return TA_ECORRUPT;      /* overlapping sections */
    if (next - at >= 8) return TA_ECORRUPT; /* unaccounted bytes */
    for (uint64_t p = at; p < next; p++)
      if (r->base[p] != 0) return TA_ECORRUPT;
    if (i < r->nsect) at = next + r->sect[order[i]].len;
  }
  return 0;
}

typedef struct {
  size_t end;      /* where this subtree must end */
  size_t next;     /* where the next child must start */
  trie__node_t nd; /* the node itself (child bytes and offsets) */
  uint64_t nchild, ci;
  uint64_t count;      /* keys in the subtree so far */
  const uint8_t *list; /* heavy: the stored list, checked when the subtree closes */
  size_t list_len;
  unsigned flags;
  unsigned ntop;
  uint32_t top[TA_MAX_K];
} vframe_t;

typedef struct {
  vframe_t *v;
  size_t len, cap;
} vstack_t;

static int vpush(vstack_t *s) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    vframe_t *v = realloc(s->v, cap * sizeof *v);
    if (v == NULL) return TA_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  s->len++;
  return 0;
}

typedef struct {
  uint8_t *seen;   /* bitmap of ids met as terminals */
  uint32_t *group; /* group[id] = first id with the same score */
  uint32_t *last;  /* last[group start] = last id of that group met, in key order */
  uint64_t terminals;
} vids_t;

/* Opens a frame for the parsed node nd whose subtree spans [nd->pos, end). */
static int open_frame(const trie_reader_t *r, vstack_t *st, vids_t *ids, const trie__node_t *nd,
                      size_t end) {
  int rc = vpush(st);
  if (rc != 0) return rc;
  vframe_t *f = &st->v[st->len - 1];
  if (nd->end > end) return TA_ECORRUPT;
  f->end = end;
  f->next = nd->end;
  f->nd = *nd;
  f->nchild = nd->nchild;
  f->ci = 0;
  f->count = 0;
  f->ntop = 0;
  f->flags = nd->flags;
  f->list = nd->list;
  f->list_len = nd->list_len;
  for (uint64_t i = 1; i < nd->nchild; i++)
    if (nd->child_bytes[i] <= nd->child_bytes[i - 1]) return TA_ECORRUPT;
  if (nd->flags & TRIE_NODE_TERMINAL) {
    uint64_t id = nd->id; /* < n: checked by the parser */
    if (ids->seen[id / 8] & (1u << (id % 8))) return TA_ECORRUPT;
    ids->seen[id / 8] |= (uint8_t)(1u << (id % 8));
    ids->terminals++;
    /* Pre-order visits keys in key order; equal scores must be ranked by key. */
    uint32_t g = ids->group[id];
    if (ids->last[g] != UINT32_MAX && ids->last[g] > id) return TA_ECORRUPT;
    ids->last[g] = (uint32_t)id;
    f->count = 1;
    f->top[0] = (uint32_t)id;
    f->ntop = 1;
  }
  (void)r;
  return 0;
}

static int close_frame(const trie_reader_t *r, vstack_t *st) {
  vframe_t *f = &st->v[st->len - 1];
  if (f->next != f->end) return TA_ECORRUPT;
  int heavy = (f->flags & TRIE_NODE_HEAVY) != 0;
  if (heavy != (f->count > r->k)) return TA_ECORRUPT;
  if (heavy) {
    trie__node_t nd;
    uint32_t list[TA_MAX_K];
    nd.list = f->list;
    nd.list_len = f->list_len;
    int rc = trie__node_list(r, &nd, list);
    if (rc != 0) return rc;
    if (f->ntop != r->k || memcmp(list, f->top, r->k * sizeof *list) != 0) return TA_ECORRUPT;
  }
  st->len--;
  if (st->len > 0) {
    vframe_t *p = &st->v[st->len - 1];
    uint32_t merged[TA_MAX_K];
    unsigned i = 0, j = 0, m = 0;
    while (m < r->k && (i < p->ntop || j < f->ntop))
      merged[m++] =
          (j >= f->ntop || (i < p->ntop && p->top[i] < f->top[j])) ? p->top[i++] : f->top[j++];
    memcpy(p->top, merged, m * sizeof *merged);
    p->ntop = m;
    p->count += f->count;
  }
  return 0;
}

static int walk_nodes(const trie_reader_t *r, vids_t *ids, uint64_t *num_nodes) {
  vstack_t st = {NULL, 0, 0};
  trie__node_t nd;
  int rc = trie__node_parse(r, 0, &nd);
  if (rc == 0 && nd.label_len != 0) rc = TA_ECORRUPT;
  if (rc == 0) rc = open_frame(r, &st, ids, &nd, r->nodes_len);
  uint64_t nodes = 1;
  while (rc == 0 && st.len > 0) {
    vframe_t *f = &st.v[st.len - 1];
    if (f->ci == f->nchild) {
      rc = close_frame(r, &st);
      continue;
    }
    /* Children tile the parent's subtree: child ci starts where child ci-1 ended. */
    size_t cstart = f->next, cend;
    if (f->nd.end + trie__child_off(&f->nd, f->ci) != cstart) {
      rc = TA_ECORRUPT;
      break;
    }
    if (f->ci + 1 < f->nchild) {
      uint64_t off = trie__child_off(&f->nd, f->ci + 1);
      if (off > f->end - f->nd.end) {
        rc = TA_ECORRUPT;
        break;
      }
      cend = f->nd.end + (size_t)off;
    } else {
      cend = f->end;
    }
    if (cstart >= cend) {
      rc = TA_ECORRUPT;
      break;
    }
    uint8_t first = f->nd.child_bytes[f->ci];
    f->next = cend;
    f->ci++;
    if ((rc = trie__node_parse(r, cstart, &nd)) != 0) break;
    /* A child's label starts with its byte in the parent's table; an inner node that is no key
     * has two children or more (what bounds a light scan to 2k nodes). */
    if (nd.label_len == 0 || nd.label[0] != first ||
        (!(nd.flags & TRIE_NODE_TERMINAL) && nd.nchild < 2)) {
      rc = TA_ECORRUPT;
      break;
    }
    nodes++;
    rc = open_frame(r, &st, ids, &nd, cend);
  }
  free(st.v);
  *num_nodes = nodes;
  return rc;
}

static int verify(const trie_reader_t *r) {
  for (uint32_t i = 0; i < r->nsect; i++)
    if (trie__crc32c(0, r->base + r->sect[i].off, (size_t)r->sect[i].len) != r->sect[i].crc)
      return TA_ECHECKSUM;
  int rc = check_layout(r);
  if (rc != 0) return rc;
  const uint8_t *meta = r->base;
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == TRIE_SECT_META) meta = r->base + r->sect[i].off;
  if (trie__load_u32(meta + TRIE_META_FLAGS) != 0 || r->root != 0) return TA_ECORRUPT;
  if (!trie_utf8_valid(r->source, r->source_len)) return TA_EUTF8;

  /* Strings and scores by id. */
  uint64_t n = r->n;
  if (trie__load_u32(r->stroff) != 0 || trie__load_u32(r->stroff + 4 * n) != r->str_len)
    return TA_ECORRUPT;
  double prev_score = INFINITY;
  size_t max_display = 0;
  for (uint64_t id = 0; id < n; id++) {
    trie_hit_t hit;
    if ((rc = trie__hit(r, id, &hit)) != 0) return rc;
    if (!trie_utf8_valid(hit.text, hit.text_len)) return TA_EUTF8;
    if (!isfinite(hit.score) || hit.score < 0 || hit.score > prev_score) return TA_ECORRUPT;
    prev_score = hit.score;
    if (hit.text_len > max_display) max_display = hit.text_len;
  }
  if (max_display > TA_MAX_KEY || r->max_key > TA_MAX_KEY) return TA_ECORRUPT;

  vids_t ids;
  ids.seen = calloc(n / 8 + 1, 1);
  ids.group = malloc((n ? n : 1) * sizeof *ids.group);
  ids.last = malloc((n ? n : 1) * sizeof *ids.last);
  ids.terminals = 0;
  if (ids.seen == NULL || ids.group == NULL || ids.last == NULL) {
    rc = TA_ENOMEM;
    goto done;
  }
  for (uint64_t id = 0; id < n; id++) {
    ids.last[id] = UINT32_MAX;
    int same =
        id > 0 && trie__load_f64(r->scores + 8 * id) == trie__load_f64(r->scores + 8 * (id - 1));
    ids.group[id] = same ? ids.group[id - 1] : (uint32_t)id;
  }
  uint64_t num_nodes;
  rc = walk_nodes(r, &ids, &num_nodes);
  if (rc == 0 && (ids.terminals != n || num_nodes != r->num_nodes)) rc = TA_ECORRUPT;
done:
  free(ids.seen);
  free(ids.group);
  free(ids.last);
  return rc;
}

int trie_verify(const trie_reader_t *r, ta_diag_t *diag) {
  if (r == NULL) return TA_EINVAL;
  int rc = verify(r);
  if (rc != 0) ta_diag_set(diag, rc, "%s", "");
  return rc;
}
