/*
 * trie_verify: the full check of a trie file (docs/FORMAT.md, "What verify checks"). CRC32C of
 * every section, zero padding between sections, then one pass over NODES in pre-order with an
 * explicit stack: every child starts where its parent's offsets say, every key id appears once,
 * every heavy list equals the true top-k of its subtree, and keys of equal score are ranked by
 * key bytes. Also the string and score arrays. Any failure is an error code, never a crash, and
 * the diagnostic says where: the section and the byte offset in the file of the bad entry,
 * byte or node (ta_diag_at_offset).
 */
#include "trie_int.h"
#include "trie_norm_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Reports a fault at *at (a byte of the file) in section and returns code. The message is the
 * code's own, then the details. Only failures come here: a sound file pays for none of it. */
__attribute__((format(printf, 6, 7))) static int fault(const trie_reader_t *r, ta_diag_t *d,
                                                       int code, const char *section,
                                                       const void *at, const char *fmt, ...) {
  if (d == NULL) return code;
  char msg[sizeof d->msg];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) msg[0] = '\0';
  ta_diag_at_offset(d, section, (uint64_t)((const uint8_t *)at - r->base));
  return ta_diag_set(d, code, "%s: %s", ta_strerror(code), msg);
}

/* A fault in NODES: at is the node (or the field of it that is wrong). */
#define NODE_FAULT(r, d, at, ...) fault(r, d, TA_ECORRUPT, "NODES", at, __VA_ARGS__)

static int check_layout(const trie_reader_t *r, ta_diag_t *d) {
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
    const char *name = i < r->nsect ? trie__section_name(r->sect[order[i]].id) : "end of file";
    if (next < at)
      return fault(r, d, TA_ECORRUPT, trie__section_name(r->sect[order[i]].id), r->base + next,
                   "section overlaps the one before it (which ends at byte %llu)",
                   (unsigned long long)at);
    if (next - at >= 8)
      return fault(r, d, TA_ECORRUPT, "padding", r->base + at,
                   "%llu bytes before %s belong to no section (padding is at most 7)",
                   (unsigned long long)(next - at), name);
    for (uint64_t p = at; p < next; p++)
      if (r->base[p] != 0)
        return fault(r, d, TA_ECORRUPT, "padding", r->base + p, "non-zero padding byte before %s",
                     name);
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

typedef struct {
  uint8_t *seen;   /* bitmap of ids met as terminals */
  uint32_t *group; /* group[id] = first id with the same score */
  uint32_t *last;  /* last[group start] = last id of that group met, in key order */
  uint64_t terminals;
} vids_t;

/* Opens a frame for the parsed node nd whose subtree spans [nd->pos, end). */
static int open_frame(const trie_reader_t *r, ta_diag_t *d, vstack_t *st, vids_t *ids,
                      const trie__node_t *nd, size_t end) {
  const uint8_t *at = r->nodes + nd->pos;
  if (nd->end > end) return NODE_FAULT(r, d, at, "node runs past the end of its subtree");
  if (st->len == st->cap && ta_grow((void **)&st->v, &st->cap, st->len + 1, sizeof *st->v, 64))
    return ta_diag_set(d, TA_ENOMEM, "%s", "");
  vframe_t *f = &st->v[st->len++];
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
    if (nd->child_bytes[i] <= nd->child_bytes[i - 1])
      return NODE_FAULT(r, d, nd->child_bytes + i, "child bytes not in ascending order");
  if (nd->flags & TRIE_NODE_TERMINAL) {
    uint64_t id = nd->id; /* < n: checked by the parser */
    if (ids->seen[id / 8] & (1u << (id % 8)))
      return NODE_FAULT(r, d, at, "id %llu is the id of two keys", (unsigned long long)id);
    ids->seen[id / 8] |= (uint8_t)(1u << (id % 8));
    ids->terminals++;
    /* Pre-order visits keys in key order; equal scores must be ranked by key. */
    uint32_t g = ids->group[id];
    if (ids->last[g] != UINT32_MAX && ids->last[g] > id)
      return NODE_FAULT(r, d, at, "id %llu: keys of equal score not ranked in key order",
                        (unsigned long long)id);
    ids->last[g] = (uint32_t)id;
    f->count = 1;
    f->top[0] = (uint32_t)id;
    f->ntop = 1;
  }
  return 0;
}

static int close_frame(const trie_reader_t *r, ta_diag_t *d, vstack_t *st) {
  vframe_t *f = &st->v[st->len - 1];
  const uint8_t *at = r->nodes + f->nd.pos;
  if (f->next != f->end) return NODE_FAULT(r, d, at, "children do not fill the node's subtree");
  int heavy = (f->flags & TRIE_NODE_HEAVY) != 0;
  if (heavy != (f->count > r->k))
    return NODE_FAULT(r, d, at, "HEAVY flag is %d but the subtree holds %llu keys (k = %u)", heavy,
                      (unsigned long long)f->count, r->k);
  if (heavy) {
    trie__node_t nd;
    uint32_t list[TA_MAX_K];
    nd.list = f->list;
    nd.list_len = f->list_len;
    if (trie__node_list(r, &nd, list) != 0)
      return NODE_FAULT(r, d, f->list, "top-k list does not decode");
    if (f->ntop != r->k || memcmp(list, f->top, r->k * sizeof *list) != 0)
      return NODE_FAULT(r, d, f->list, "top-k list differs from the subtree's best ids");
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

static int walk_nodes(const trie_reader_t *r, ta_diag_t *d, vids_t *ids, uint64_t *num_nodes) {
  vstack_t st = {NULL, 0, 0};
  trie__node_t nd;
  int rc = 0;
  if (trie__node_parse(r, 0, &nd) != 0)
    rc = NODE_FAULT(r, d, r->nodes, "root node does not parse");
  else if (nd.label_len != 0)
    rc = NODE_FAULT(r, d, r->nodes, "root node has a label");
  if (rc == 0) rc = open_frame(r, d, &st, ids, &nd, r->nodes_len);
  uint64_t nodes = 1;
  while (rc == 0 && st.len > 0) {
    vframe_t *f = &st.v[st.len - 1];
    if (f->ci == f->nchild) {
      rc = close_frame(r, d, &st);
      continue;
    }
    /* Children tile the parent's subtree: child ci starts where child ci-1 ended. */
    const uint8_t *at = r->nodes + f->nd.pos;
    size_t cstart = f->next, cend;
    if (f->nd.end + trie__child_off(&f->nd, f->ci) != cstart) {
      rc = NODE_FAULT(r, d, at, "child %llu does not start where child %llu ends",
                      (unsigned long long)f->ci, (unsigned long long)f->ci - 1);
      break;
    }
    if (f->ci + 1 < f->nchild) {
      uint64_t off = trie__child_off(&f->nd, f->ci + 1);
      if (off > f->end - f->nd.end) {
        rc = NODE_FAULT(r, d, at, "offset of child %llu points past the subtree",
                        (unsigned long long)f->ci + 1);
        break;
      }
      cend = f->nd.end + (size_t)off;
    } else {
      cend = f->end;
    }
    if (cstart >= cend) {
      rc = NODE_FAULT(r, d, at, "child %llu is empty", (unsigned long long)f->ci);
      break;
    }
    uint8_t first = f->nd.child_bytes[f->ci];
    f->next = cend;
    f->ci++;
    if (trie__node_parse(r, cstart, &nd) != 0) {
      rc = NODE_FAULT(r, d, r->nodes + cstart, "node does not parse (a field runs out of NODES)");
      break;
    }
    /* A child's label starts with its byte in the parent's table; an inner node that is no key
     * has two children or more (what bounds a light scan to 2k nodes). */
    if (nd.label_len == 0 || nd.label[0] != first) {
      rc = NODE_FAULT(r, d, r->nodes + cstart, "label does not start with the parent's byte %u",
                      first);
      break;
    }
    if (!(nd.flags & TRIE_NODE_TERMINAL) && nd.nchild < 2) {
      rc = NODE_FAULT(r, d, r->nodes + cstart,
                      "node is no key and has %llu child (an inner node has two or more)",
                      (unsigned long long)nd.nchild);
      break;
    }
    nodes++;
    rc = open_frame(r, d, &st, ids, &nd, cend);
  }
  free(st.v);
  *num_nodes = nodes;
  return rc;
}

/* A display string or the source that is not valid UTF-8: where its first bad byte is. */
static int utf8_fault(const trie_reader_t *r, ta_diag_t *d, const char *section, const char *s,
                      size_t len, const char *what) {
  size_t bad = trie__utf8_valid_len(s, len);
  return fault(r, d, TA_EUTF8, section, s + bad, "%s: invalid UTF-8 at its byte %zu", what, bad);
}

static const uint8_t *section_at(const trie_reader_t *r, uint32_t id) {
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == id) return r->base + r->sect[i].off;
  return r->base;
}

/* Strings and scores by id: STROFF bounds, UTF-8, score order, lengths; text is the scratch
 * of the texts read, reset for each. */
static int check_texts(const trie_reader_t *r, ta_diag_t *d, trie_text_t *text) {
  uint64_t n = r->n;
  if (trie__load_u32(r->stroff) != 0)
    return fault(r, d, TA_ECORRUPT, "STROFF", r->stroff, "STROFF[0] is not 0");
  if (trie__load_u32(r->stroff + 4 * n) != r->str_len)
    return fault(r, d, TA_ECORRUPT, "STROFF", r->stroff + 4 * n,
                 "STROFF[%llu] is not the length of STR (%zu)", (unsigned long long)n, r->str_len);
  double prev_score = INFINITY;
  uint64_t too_long = UINT64_MAX; /* first id whose display form is longer than TA_MAX_KEY */
  for (uint64_t id = 0; id < n; id++) {
    trie_hit_t hit;
    trie_text_reset(text);
    if (trie__hit(r, id, text, &hit) != 0)
      return fault(r, d, TA_ECORRUPT, "STROFF", r->stroff + 4 * (id + 1),
                   "STROFF[%llu] is before STROFF[%llu] or past the end of STR",
                   (unsigned long long)id + 1, (unsigned long long)id);
    if (!trie_utf8_valid(hit.text, hit.text_len))
      return utf8_fault(r, d, "STR", hit.text, hit.text_len, "display string");
    if (!isfinite(hit.score) || hit.score < 0 || hit.score > prev_score)
      return fault(r, d, TA_ECORRUPT, "SCORES", r->scores + 8 * id,
                   "score of id %llu is %g: not finite, negative or above the one before",
                   (unsigned long long)id, hit.score);
    prev_score = hit.score;
    if (hit.text_len > TA_MAX_KEY && too_long == UINT64_MAX) too_long = id;
  }
  if (too_long != UINT64_MAX)
    return fault(r, d, TA_ECORRUPT, "STROFF", r->stroff + 4 * too_long,
                 "display string of id %llu is longer than %d bytes", (unsigned long long)too_long,
                 TA_MAX_KEY);
  if (r->max_key > TA_MAX_KEY)
    return fault(r, d, TA_ECORRUPT, "META", section_at(r, TRIE_SECT_META) + TRIE_META_MAX_KEY,
                 "max key length %u is above %d", r->max_key, TA_MAX_KEY);
  return 0;
}

static int check_strings(const trie_reader_t *r, ta_diag_t *d) {
  trie_text_t *text = NULL;
  if (trie_text_new(&text) != 0) return ta_diag_set(d, TA_ENOMEM, "%s", "");
  int rc = check_texts(r, d, text);
  trie_text_free(text);
  return rc;
}

static int verify(const trie_reader_t *r, ta_diag_t *d) {
  for (uint32_t i = 0; i < r->nsect; i++) {
    const trie__section_t *s = &r->sect[i];
    uint32_t crc = trie__crc32c(0, r->base + s->off, (size_t)s->len);
    if (crc != s->crc)
      return fault(r, d, TA_ECHECKSUM, trie__section_name(s->id), r->base + s->off,
                   "CRC32C of the section is %08x, the table says %08x", crc, s->crc);
  }
  int rc = check_layout(r, d);
  if (rc != 0) return rc;
  const uint8_t *meta = section_at(r, TRIE_SECT_META);
  if (trie__load_u32(meta + TRIE_META_FLAGS) != 0)
    return fault(r, d, TA_ECORRUPT, "META", meta + TRIE_META_FLAGS, "flags are not 0");
  if (r->root != 0)
    return fault(r, d, TA_ECORRUPT, "META", meta + TRIE_META_ROOT, "root offset is not 0");
  if (!trie_utf8_valid(r->source, r->source_len))
    return utf8_fault(r, d, "META", r->source, r->source_len, "source");
  if ((rc = check_strings(r, d)) != 0) return rc;

  uint64_t n = r->n;
  vids_t ids;
  ids.seen = calloc(n / 8 + 1, 1);
  ids.group = malloc((n ? n : 1) * sizeof *ids.group);
  ids.last = malloc((n ? n : 1) * sizeof *ids.last);
  ids.terminals = 0;
  if (ids.seen == NULL || ids.group == NULL || ids.last == NULL) {
    rc = ta_diag_set(d, TA_ENOMEM, "%s", "");
    goto done;
  }
  for (uint64_t id = 0; id < n; id++) {
    ids.last[id] = UINT32_MAX;
    int same =
        id > 0 && trie__load_f64(r->scores + 8 * id) == trie__load_f64(r->scores + 8 * (id - 1));
    ids.group[id] = same ? ids.group[id - 1] : (uint32_t)id;
  }
  uint64_t num_nodes;
  rc = walk_nodes(r, d, &ids, &num_nodes);
  if (rc == 0 && ids.terminals != n)
    rc = fault(r, d, TA_ECORRUPT, "META", meta + TRIE_META_NUM_QUERIES,
               "NODES holds %llu keys, META says %llu", (unsigned long long)ids.terminals,
               (unsigned long long)n);
  if (rc == 0 && num_nodes != r->num_nodes)
    rc = fault(r, d, TA_ECORRUPT, "META", meta + TRIE_META_NUM_NODES,
               "NODES holds %llu nodes, META says %llu", (unsigned long long)num_nodes,
               (unsigned long long)r->num_nodes);
done:
  free(ids.seen);
  free(ids.group);
  free(ids.last);
  return rc;
}

int trie_verify(const trie_reader_t *r, ta_diag_t *diag) {
  if (r == NULL) return TA_EINVAL;
  return verify(r, diag);
}
