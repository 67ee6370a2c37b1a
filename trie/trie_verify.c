/*
 * trie_verify: the full check of a trie file (docs/FORMAT.md, "What verify checks"). CRC32C of
 * every section, zero padding between sections, then one pass over NODES in pre-order with an
 * explicit stack: every child starts where its parent's offsets say, every key id appears once,
 * every heavy list equals the true top-k of its subtree, every stored display text (HOTSTR,
 * DISPLAY) is a display form that normalizes to its id's key, and keys of equal score are
 * ranked by key bytes. Also the string and score arrays. Any failure is an error code, never a
 * crash, and the diagnostic says where: the section and the byte offset in the file of the bad
 * entry, byte or node (ta_diag_at_offset).
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
  int64_t prev_best; /* the best id of the last child closed (-1: none yet) */
  size_t klen;       /* key bytes from the root to the end of this node's label */
} vframe_t;

typedef struct {
  vframe_t *v;
  size_t len, cap;
} vstack_t;

typedef struct {
  uint8_t *seen; /* bitmap of ids met as terminals */
  uint64_t *pos; /* pos[id] = where its terminal node starts */
  uint64_t terminals;
} vids_t;

/* The text a file stores for id (its hot text, or its DISPLAY form when listed) is a spelling
 * of id's key key[0..klen): trie_norm_key of it gives the key, as it did when the builder chose
 * it (open refused a file of another normalization version). Else a lookup would show, under a
 * prefix, a text that has nothing to do with it. And it is a display form, its own
 * trie_norm_display, as the builder writes every one: the key drops what a display form must
 * not hold (control characters, bidi controls: an override would show the suggestion
 * reversed), so a spelling of the key may still hold them. A text equal to its key needs no
 * normalization (a key is a display form): a cold id's text is its key anyway. The tables are
 * checked by now. */
static int check_text_key(const trie_reader_t *r, ta_diag_t *d, uint64_t id, const uint8_t *key,
                          size_t klen) {
  const char *text, *section = "HOTSTR";
  size_t len;
  int rc;
  if (id < r->m_hot) {
    if (trie__hot_text(r, id, &text, &len) != 0) return 0; /* check_hot: cannot fail */
  } else {
    if ((rc = trie__display(r, id, &text, &len)) <= 0) return 0; /* not listed; check_tables */
    section = "DISPLAY";
  }
  if (len == klen && memcmp(text, key, klen) == 0) return 0;
  char norm[TA_MAX_KEY + 1]; /* klen <= max key <= TA_MAX_KEY: a longer one is another key */
  size_t nlen;
  rc = trie_norm_key(text, len, norm, sizeof norm, &nlen);
  if (rc == TA_ENOMEM) return ta_diag_set(d, rc, "%s", "");
  if (rc != 0 || nlen != klen || memcmp(norm, key, klen) != 0)
    return fault(r, d, TA_ECORRUPT, section, text,
                 "display string of id %llu does not normalize to its key", (unsigned long long)id);
  /* len <= TA_MAX_KEY (check_text): a display form of it fits norm */
  rc = trie_norm_display(text, len, norm, sizeof norm, &nlen);
  if (rc == TA_ENOMEM) return ta_diag_set(d, rc, "%s", "");
  if (rc != 0 || nlen != len || memcmp(norm, text, len) != 0)
    return fault(r, d, TA_ECORRUPT, section, text,
                 "display string of id %llu is not a display form (a control or bidi character?)",
                 (unsigned long long)id);
  return 0;
}

/* Opens a frame for the parsed node nd whose subtree spans [nd->pos, end), its key (the labels
 * from the root) key[0..klen). */
static int open_frame(const trie_reader_t *r, ta_diag_t *d, vstack_t *st, vids_t *ids,
                      const trie__node_t *nd, size_t end, const uint8_t *key, size_t klen) {
  const uint8_t *at = r->nodes + nd->pos;
  if (nd->end > end) return NODE_FAULT(r, d, at, "node runs past the end of its subtree");
  /* A longer key could not be rebuilt (lookups refuse it): META's longest key bounds them all. */
  if (klen > r->max_key)
    return NODE_FAULT(r, d, at, "key runs to %zu bytes, META's longest key is %u", klen,
                      r->max_key);
  /* The writer takes only UTF-8 keys: a wrong child byte or label code mostly breaks that. */
  if ((nd->flags & TRIE_NODE_TERMINAL) && !trie_utf8_valid((const char *)key, klen))
    return NODE_FAULT(r, d, at, "key of id %llu is not valid UTF-8 (at its byte %zu)",
                      (unsigned long long)nd->id, trie__utf8_valid_len((const char *)key, klen));
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
  f->prev_best = -1;
  f->klen = klen;
  uint64_t byte_seen[4] = {0, 0, 0, 0};
  for (uint64_t i = 0; i < nd->nchild; i++) {
    uint8_t c = nd->child_bytes[i];
    if (byte_seen[c >> 6] >> (c & 63) & 1)
      return NODE_FAULT(r, d, nd->child_bytes + i, "child byte %u appears twice", c);
    byte_seen[c >> 6] |= UINT64_C(1) << (c & 63);
  }
  if (nd->flags & TRIE_NODE_TERMINAL) {
    uint64_t id = nd->id; /* < n: checked by the parser */
    if (ids->seen[id / 8] & (1u << (id % 8)))
      return NODE_FAULT(r, d, at, "id %llu is the id of two keys", (unsigned long long)id);
    int rc = check_text_key(r, d, id, key, klen);
    if (rc != 0) return rc;
    ids->seen[id / 8] |= (uint8_t)(1u << (id % 8));
    ids->terminals++;
    ids->pos[id] = nd->pos;
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
    /* Children come in best-id order (the writer's; what keeps rebuilt texts' paths short). */
    if (f->ntop == 0 || (int64_t)f->top[0] <= p->prev_best)
      return NODE_FAULT(r, d, at, "child's best id %lld is not above its previous sibling's",
                        f->ntop ? (long long)f->top[0] : -1LL);
    p->prev_best = f->top[0];
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

/* The coded label of nd: every code a symbol of SYMBOLS or an escape with its byte. The length
 * its codes decode to into *len. */
static int check_label(const trie_reader_t *r, ta_diag_t *d, const trie__node_t *nd, size_t *len) {
  size_t l = 0;
  for (size_t i = 0; i < nd->code_len; i++) {
    unsigned c = nd->code[i];
    if (c == TRIE_SYM_ESCAPE) {
      if (++i == nd->code_len) return NODE_FAULT(r, d, nd->code + i - 1, "label ends in an escape");
      l++;
    } else if (c >= r->n_sym) {
      return NODE_FAULT(r, d, nd->code + i, "label code %u is no symbol (SYMBOLS holds %u)", c,
                        r->n_sym);
    } else {
      l += r->sym_len[c];
    }
  }
  *len = l;
  return 0;
}

/* SYMBOLS: each symbol 1..8 bytes (open checked that they fill the section; a symbol of 0 bytes
 * would make a label code that stands for nothing). */
static int check_symbols(const trie_reader_t *r, ta_diag_t *d) {
  for (uint32_t i = 0; i < r->n_sym; i++)
    if (r->sym_len[i] < 1 || r->sym_len[i] > TRIE_SYM_LEN_MAX)
      return fault(r, d, TA_ECORRUPT, "SYMBOLS", r->sym_sect + 4 + i,
                   "symbol %u is %u bytes long (1 to %u)", i, r->sym_len[i], TRIE_SYM_LEN_MAX);
  return 0;
}

static int walk_nodes(const trie_reader_t *r, ta_diag_t *d, vids_t *ids, uint64_t *num_nodes) {
  vstack_t st = {NULL, 0, 0};
  trie__node_t nd;
  int rc = 0;
  uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK]; /* the labels from the root to the node */
  if (trie__node_parse(r, 0, TRIE_NO_FIRST, &nd) != 0)
    rc = NODE_FAULT(r, d, r->nodes, "root node does not parse");
  else if (nd.code_len != 0)
    rc = NODE_FAULT(r, d, r->nodes, "root node has a label");
  if (rc == 0) rc = open_frame(r, d, &st, ids, &nd, r->nodes_len, key, 0);
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
    if (trie__node_parse(r, cstart, first, &nd) != 0) {
      rc = NODE_FAULT(r, d, r->nodes + cstart, "node does not parse (a field runs out of NODES)");
      break;
    }
    /* A child's label is its byte in the parent's table, then its codes; an inner node that is
     * no key has two children or more (what bounds a light scan to 2k nodes). */
    size_t label_len = 0, klen = f->klen;
    if ((rc = check_label(r, d, &nd, &label_len)) != 0) break;
    if (klen + 1 + label_len <= TA_MAX_KEY) /* else open_frame reports the key's length */
      (void)trie__label(r, &nd, key, &klen, TA_MAX_KEY, SIZE_MAX); /* check_label: it decodes */
    else
      klen += 1 + label_len;
    if (!(nd.flags & TRIE_NODE_TERMINAL) && nd.nchild < 2) {
      rc = NODE_FAULT(r, d, r->nodes + cstart,
                      "node is no key and has %llu child (an inner node has two or more)",
                      (unsigned long long)nd.nchild);
      break;
    }
    nodes++;
    rc = open_frame(r, d, &st, ids, &nd, cend, key, klen);
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

/* A text stored in the file (HOTSTR, DISPLAY): valid UTF-8, at most TA_MAX_KEY bytes. */
static int check_text(const trie_reader_t *r, ta_diag_t *d, const char *section, const char *text,
                      size_t len, uint64_t id) {
  if (!trie_utf8_valid(text, len)) return utf8_fault(r, d, section, text, len, "display string");
  if (len > TA_MAX_KEY)
    return fault(r, d, TA_ECORRUPT, section, text,
                 "display string of id %llu is longer than %d bytes", (unsigned long long)id,
                 TA_MAX_KEY);
  return 0;
}

/* The TRIE_BITS_SLACK bytes at slack, after a bit-packed array of section (its what): all 0. */
static int check_slack(const trie_reader_t *r, ta_diag_t *d, const char *section,
                       const uint8_t *slack, const char *what) {
  for (unsigned i = 0; i < TRIE_BITS_SLACK; i++)
    if (slack[i] != 0)
      return fault(r, d, TA_ECORRUPT, section, slack + i, "a byte after the %s is not 0", what);
  return 0;
}

/* HOTOFF and HOTSTR: the groups tile HOTSTR in id order, each starting where the one before
 * ends, their texts' ends non-decreasing (the fields past the last hot id 0, and the slack), the
 * last ending at HOTSTR's end; every hot text valid UTF-8 of at most TA_MAX_KEY bytes. */
static int check_hot(const trie_reader_t *r, ta_diag_t *d) {
  uint64_t m = r->m_hot, groups = (m + TRIE_HOT_GROUP - 1) / TRIE_HOT_GROUP, at = 0;
  unsigned w = r->hot_w;
  int rc;
  for (uint64_t g = 0; g < groups; g++) {
    const uint8_t *rec = r->hot_off + r->hot_rec * g;
    if (trie__load_u32(rec) != at)
      return fault(r, d, TA_ECORRUPT, "HOTOFF", rec,
                   "group %llu starts at %u, the group before it ends at %llu",
                   (unsigned long long)g, (unsigned)trie__load_u32(rec), (unsigned long long)at);
    uint64_t prev = 0;
    for (unsigned j = 0; j < TRIE_HOT_GROUP; j++) {
      uint64_t id = g * TRIE_HOT_GROUP + j;
      uint64_t end = trie__load_bits(rec + 4, j, w);
      const uint8_t *field = rec + 4 + (size_t)j * w / 8;
      if (id >= m) {
        if (end != 0)
          return fault(r, d, TA_ECORRUPT, "HOTOFF", field,
                       "the end of text %u of group %llu, past the last hot id, is not 0", j,
                       (unsigned long long)g);
        continue;
      }
      const char *text;
      size_t len;
      if (end < prev || trie__hot_text(r, id, &text, &len) != 0)
        return fault(r, d, TA_ECORRUPT, "HOTOFF", field,
                     "the end of hot id %llu is before the one before it or past HOTSTR",
                     (unsigned long long)id);
      if ((rc = check_text(r, d, "HOTSTR", text, len, id)) != 0) return rc;
      prev = end;
    }
    at += prev;
  }
  if ((rc = check_slack(r, d, "HOTOFF", r->hot_off + r->hot_rec * groups, "records")) != 0)
    return rc;
  if (at != r->hot_len)
    return fault(r, d, TA_ECORRUPT, "HOTOFF", r->hot_off - TRIE_HOT_HEAD,
                 "the hot texts end at %llu, HOTSTR is %zu bytes", (unsigned long long)at,
                 r->hot_len);
  return 0;
}

/* The tables by id: HOTOFF and HOTSTR, SCOREVAL and SCORERUN, DISPLAY. IDPOS is checked against
 * the node walk (check_idpos). */
static int check_tables(const trie_reader_t *r, ta_diag_t *d) {
  uint64_t n = r->n, m = r->m_hot;
  int rc = check_hot(r, d);
  if (rc != 0) return rc;
  for (uint64_t i = 0; i < r->n_scores; i++) {
    double v = trie__load_f64(r->score_val + 8 * i);
    if (!isfinite(v) || v < 0 || (i > 0 && v >= trie__load_f64(r->score_val + 8 * (i - 1))))
      return fault(r, d, TA_ECORRUPT, "SCOREVAL", r->score_val + 8 * i,
                   "score %llu is %g: not finite, negative or not below the one before",
                   (unsigned long long)i, v);
  }
  /* SCORERUN: id 0 starts a run, each group's and byte's counts are the runs started before
   * them, no bit past the last id, and as many runs as SCOREVAL has scores. */
  uint64_t started = 0;
  for (uint64_t g = 0; g < (n + 63) / 64; g++) {
    const uint8_t *rec = r->score_run + TRIE_SCORERUN_GROUP * g;
    if (trie__load_u32(rec) != started)
      return fault(r, d, TA_ECORRUPT, "SCORERUN", rec,
                   "group %llu counts %u runs before it, not %llu", (unsigned long long)g,
                   (unsigned)trie__load_u32(rec), (unsigned long long)started);
    for (unsigned j = 0, in_group = 0; j < 8; j++) {
      if (rec[4 + j] != in_group)
        return fault(r, d, TA_ECORRUPT, "SCORERUN", rec + 4 + j,
                     "group %llu counts %u runs before its byte %u, not %u", (unsigned long long)g,
                     rec[4 + j], j, in_group);
      for (unsigned bit = 0; bit < 8; bit++) {
        uint64_t id = 64 * g + 8 * j + bit;
        int set = rec[12 + j] >> bit & 1;
        if (id == 0 ? !set : (set && id >= n))
          return fault(r, d, TA_ECORRUPT, "SCORERUN", rec + 12 + j, "id %llu %s a run",
                       (unsigned long long)id,
                       id == 0 ? "does not start" : "is past the last id and starts");
        in_group += (unsigned)set;
        started += (uint64_t)set;
      }
    }
  }
  if (started != r->n_scores)
    return fault(r, d, TA_ECORRUPT, "SCORERUN", r->score_run,
                 "%llu runs of equal scores, SCOREVAL holds %llu scores",
                 (unsigned long long)started, (unsigned long long)r->n_scores);
  /* The bit of each cold id is set exactly for the ids listed; the bits past the last are 0. */
  uint64_t cold = n - m, listed = 0;
  for (uint64_t j = 0; j < (cold + 7) / 8 * 8; j++) {
    int set = r->disp_bits[j / 8] >> (j % 8) & 1;
    if (set && j >= cold)
      return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_bits + j / 8,
                   "a bit past the last cold id is set");
    listed += (uint64_t)set;
  }
  if (listed != r->n_disp)
    return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_bits, "%llu bits set for %llu listed ids",
                 (unsigned long long)listed, (unsigned long long)r->n_disp);
  if (trie__load_u32(r->disp_off) != 0)
    return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_off, "offset 0 is not 0");
  uint64_t last_id = 0;
  for (uint64_t i = 0; i < r->n_disp; i++) {
    uint64_t id = trie__load_u32(r->disp_ids + 4 * i);
    if (id < m || id >= n || (i > 0 && id <= last_id))
      return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_ids + 4 * i,
                   "id %llu: not a cold id (%llu .. %llu) or not above the one before",
                   (unsigned long long)id, (unsigned long long)m, (unsigned long long)n - 1);
    last_id = id;
    if (!(r->disp_bits[(id - m) / 8] >> ((id - m) % 8) & 1))
      return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_ids + 4 * i,
                   "id %llu is listed but its bit is not set", (unsigned long long)id);
    uint32_t a = trie__load_u32(r->disp_off + 4 * i), b = trie__load_u32(r->disp_off + 4 * (i + 1));
    if (a > b || b > r->disp_len)
      return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_off + 4 * (i + 1),
                   "offset %llu is before the one before it or past the end of the forms",
                   (unsigned long long)i + 1);
    if ((rc = check_text(r, d, "DISPLAY", (const char *)r->disp_str + a, b - a, id)) != 0)
      return rc;
  }
  if (trie__load_u32(r->disp_off + 4 * r->n_disp) != r->disp_len)
    return fault(r, d, TA_ECORRUPT, "DISPLAY", r->disp_off + 4 * r->n_disp,
                 "the last offset is not the length of the forms (%zu)", r->disp_len);
  if (r->max_key > TA_MAX_KEY)
    return fault(r, d, TA_ECORRUPT, "META", section_at(r, TRIE_SECT_META) + TRIE_META_MAX_KEY,
                 "max key length %u is above %d", r->max_key, TA_MAX_KEY);
  return 0;
}

/* Every id's IDPOS entry is where the walk met its terminal node; the bits after the last
 * entry and the slack are 0. */
static int check_idpos(const trie_reader_t *r, ta_diag_t *d, const vids_t *ids) {
  unsigned w = r->idpos_bits;
  for (uint64_t id = 0; id < r->n; id++) {
    size_t pos;
    if (trie__id_node(r, id, &pos) != 0 || pos != ids->pos[id])
      return fault(r, d, TA_ECORRUPT, "IDPOS", r->idpos + id * w / 8,
                   "position of id %llu is not its terminal node (at %llu)", (unsigned long long)id,
                   (unsigned long long)ids->pos[id]);
  }
  uint64_t used = r->n * w;
  if (used % 8 != 0 && r->idpos[used / 8] >> (used % 8) != 0)
    return fault(r, d, TA_ECORRUPT, "IDPOS", r->idpos + used / 8,
                 "bits after the last entry are not 0");
  return check_slack(r, d, "IDPOS", r->idpos + r->idpos_len, "entries");
}

/* Keys of equal score are ranked by key bytes: a walk in key order (children by their byte, not
 * the file's best-id order) numbers the keys; within a run of equal scores those numbers rise
 * with the id. */
static int check_ties(const trie_reader_t *r, ta_diag_t *d) {
  uint64_t n = r->n;
  if (n < 2) return 0;
  uint32_t *rank = malloc(n * sizeof *rank);
  typedef struct {
    trie__node_t nd;
    uint16_t order[256];
    unsigned next;
  } kframe_t;
  kframe_t *st = NULL;
  size_t cap = 0, top = 0;
  int rc = rank == NULL ? TA_ENOMEM : 0;
  uint32_t count = 0;
  /* A sound file was walked by walk_nodes: parsing cannot fail here, nor the depth run away. */
  if (rc == 0 && (rc = ta_grow((void **)&st, &cap, 1, sizeof *st, 64)) == 0) {
    rc = trie__node_parse(r, 0, TRIE_NO_FIRST, &st[0].nd);
    st[0].next = 0;
    top = 1;
  }
  while (rc == 0 && top > 0) {
    kframe_t *f = &st[top - 1];
    if (f->next == 0) {
      if (f->nd.flags & TRIE_NODE_TERMINAL) rank[f->nd.id] = count++;
      unsigned nc = (unsigned)f->nd.nchild;
      for (unsigned i = 0; i < nc; i++) f->order[i] = (uint16_t)(f->nd.child_bytes[i] << 8 | i);
      for (unsigned i = 1; i < nc; i++) {
        uint16_t v = f->order[i];
        unsigned j = i;
        for (; j > 0 && f->order[j - 1] > v; j--) f->order[j] = f->order[j - 1];
        f->order[j] = v;
      }
    }
    if (f->next == f->nd.nchild) {
      top--;
      continue;
    }
    unsigned ci = f->order[f->next++] & 0xff;
    size_t at = f->nd.end + (size_t)trie__child_off(&f->nd, ci);
    unsigned first = f->nd.child_bytes[ci];
    if (top == cap && (rc = ta_grow((void **)&st, &cap, top + 1, sizeof *st, 64)) != 0) break;
    if ((rc = trie__node_parse(r, at, first, &st[top].nd)) != 0) break;
    st[top].next = 0;
    top++;
  }
  for (uint64_t id = 1; rc == 0 && id < n; id++) {
    double a, b;
    if ((rc = trie__score(r, id - 1, &a)) != 0 || (rc = trie__score(r, id, &b)) != 0) break;
    size_t pos = 0; /* id's terminal node: check_idpos found IDPOS sound */
    if (a == b && rank[id] < rank[id - 1] && trie__id_node(r, id, &pos) == 0)
      rc = NODE_FAULT(r, d, r->nodes + pos,
                      "ids %llu and %llu have the same score but their keys are not in key order",
                      (unsigned long long)id - 1, (unsigned long long)id);
  }
  if (rc == TA_ENOMEM) rc = ta_diag_set(d, TA_ENOMEM, "%s", "");
  free(rank);
  free(st);
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
  if ((rc = check_tables(r, d)) != 0) return rc;
  if ((rc = check_symbols(r, d)) != 0) return rc;

  uint64_t n = r->n;
  vids_t ids;
  ids.seen = calloc(n / 8 + 1, 1);
  ids.pos = malloc((n ? n : 1) * sizeof *ids.pos);
  ids.terminals = 0;
  if (ids.seen == NULL || ids.pos == NULL) {
    rc = ta_diag_set(d, TA_ENOMEM, "%s", "");
    goto done;
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
  if (rc == 0) rc = check_idpos(r, d, &ids);
  if (rc == 0) rc = check_ties(r, d);
done:
  free(ids.seen);
  free(ids.pos);
  return rc;
}

int trie_verify(const trie_reader_t *r, ta_diag_t *diag) {
  if (r == NULL) return TA_EINVAL;
  return verify(r, diag);
}
