/*
 * A hit from an id in a version 5 file (docs/FORMAT.md, "Texts and scores by id"): the score
 * through SCORERUN into SCOREVAL; the text of a hot id (below M) borrowed from HOTSTR (where
 * its group's record in HOTOFF says), of a cold one from DISPLAY when its display form is not
 * its key, else rebuilt from the labels on the path to its terminal node (IDPOS), written into
 * the caller's trie_text_t. Every offset is checked where it is read: a corrupt file gives
 * TA_ECORRUPT, never a read out of bounds.
 */
#include "trie_int.h"

#include <stdlib.h>

/* trie__bits_in: the set bits of each byte value. */
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
const uint8_t trie__bits_in[256] = {B6(0), B6(1), B6(1), B6(2)};

int trie__display_find(const trie_reader_t *r, uint64_t id, const char **text, size_t *len) {
  uint64_t lo = 0, hi = r->n_disp;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    uint32_t v = trie__load_u32(r->disp_ids + 4 * mid);
    if (v == id) {
      uint32_t a = trie__load_u32(r->disp_off + 4 * mid);
      uint32_t b = trie__load_u32(r->disp_off + 4 * (mid + 1));
      if (a > b || b > r->disp_len) return TA_ECORRUPT;
      *text = (const char *)r->disp_str + a;
      *len = b - a;
      return 1;
    }
    if (v < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return TA_ECORRUPT; /* its bit says it is listed */
}

/* The child of nd whose subtree holds the position nd->end + rel: the last one that starts at
 * or before it (child offsets increase); *next gets the offset of the child after it, or
 * UINT64_MAX when it is the last. */
static uint64_t child_holding(const trie__node_t *nd, uint64_t rel, uint64_t *next) {
  uint64_t lo = 0, hi = nd->nchild, hi_off = UINT64_MAX;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2; /* at least 1 */
    uint64_t off = trie__child_off_past0(nd, mid);
    if (off <= rel) {
      lo = mid;
    } else {
      hi = mid;
      hi_off = off;
    }
  }
  *next = hi_off;
  return lo;
}

/* Room for len bytes in tx, filled from src: a text handed out. */
static int put_text(trie_text_t *tx, const char *src, size_t len, const char **text,
                    size_t *out_len) {
  char *dst;
  int rc = trie__text_put(tx, len, &dst);
  if (rc != 0) return rc;
  memcpy(dst, src, len);
  *text = dst;
  *out_len = len;
  return 0;
}

/* Appends to buf[0..*len) (room for TA_MAX_KEY + TRIE_SYM_SLACK) the labels from the parsed
 * node *from down to the node at target, which must be the terminal of id; *len becomes the
 * key's length. */
static int key_descend(const trie_reader_t *r, const trie__node_t *from, size_t target, uint64_t id,
                       uint8_t *buf, size_t *len) {
  trie__node_t nd = *from;
  size_t at = *len;
  /* Children lie after their parent and every step moves forward, so the walk ends; the key's
   * length bounds it too. */
  for (;;) {
    int rc = trie__label(r, &nd, buf, &at, TA_MAX_KEY, SIZE_MAX);
    if (rc != 0) return rc;
    if (nd.pos == target) break;
    if (target < nd.end || nd.nchild == 0) return TA_ECORRUPT;
    uint64_t next;
    if ((rc = trie__node_child(r, &nd, child_holding(&nd, target - nd.end, &next), &nd)) != 0)
      return rc;
  }
  if (!(nd.flags & TRIE_NODE_TERMINAL) || nd.id != id) return TA_ECORRUPT;
  *len = at;
  return 0;
}

/* The text of a cold id: its DISPLAY form, or its key rebuilt into tx by a descent from the
 * root to its terminal node. */
static int cold_text(const trie_reader_t *r, uint64_t id, trie_text_t *tx, const char **text,
                     size_t *len) {
  int rc = trie__display(r, id, text, len);
  if (rc != 0) return rc < 0 ? rc : 0;
  size_t pos;
  if ((rc = trie__id_node(r, id, &pos)) != 0) return rc;
  uint8_t key[TA_MAX_KEY + TRIE_SYM_SLACK];
  trie__node_t root;
  if ((rc = trie__node_parse(r, (size_t)r->root, TRIE_NO_FIRST, &root)) != 0) return rc;
  size_t klen = 0;
  if ((rc = key_descend(r, &root, pos, id, key, &klen)) != 0) return rc;
  return put_text(tx, (const char *)key, klen, text, len);
}

int trie__hit(const trie_reader_t *r, uint64_t id, trie_text_t *tx, trie_hit_t *hit) {
  if (id >= r->n) return TA_ECORRUPT;
  int rc = trie__score(r, id, &hit->score);
  if (rc != 0) return rc;
  hit->id = (uint32_t)id;
  if (id < r->m_hot) return trie__hot_text(r, id, &hit->text, &hit->text_len);
  if (tx == NULL) return TA_EINVAL;
  return cold_text(r, id, tx, &hit->text, &hit->text_len);
}

/* Frames of trie__cold_texts: a node on the current path each; a deeper path falls back to a
 * descent per id. */
#define DESCENT_FRAMES 48

static int cmp_target(const void *a, const void *b) {
  const trie__target_t *x = a, *y = b;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

int trie__cold_texts(const trie_reader_t *r, const trie__node_t *from, const char *prefix,
                     size_t head, trie__target_t *t, size_t nt, trie_text_t *tx) {
  if (nt > 16) {
    qsort(t, nt, sizeof *t, cmp_target);
  } else {
    for (size_t i = 1; i < nt; i++) { /* a heavy node's few: no call per compare */
      trie__target_t v = t[i];
      size_t j = i;
      for (; j > 0 && t[j - 1].pos > v.pos; j--) t[j] = t[j - 1];
      t[j] = v;
    }
  }
  int rc;
  struct {
    trie__node_t nd;
    size_t len; /* key length at the end of its label */
    size_t end; /* where its subtree ends (SIZE_MAX for the answer node: every target is in) */
  } fr[DESCENT_FRAMES];
  uint8_t path[TA_MAX_KEY + TRIE_SYM_SLACK];
  /* head is what the labels above matched: past TA_MAX_KEY only in a corrupt file */
  if (head > TA_MAX_KEY) return TA_ECORRUPT;
  if (head > 0) memcpy(path, prefix, head); /* prefix may be NULL when empty */
  unsigned top = 0;
  size_t at = head;
  if ((rc = trie__label(r, from, path, &at, TA_MAX_KEY, SIZE_MAX)) != 0) return rc;
  fr[0].nd = *from;
  fr[0].len = at;
  fr[0].end = SIZE_MAX;
  top = 1;
  trie__texts_t w;
  trie__texts_begin(tx, &w);
  for (size_t i = 0; i < nt; i++) {
    size_t target = t[i].pos;
    trie_hit_t *h = t[i].hit;
    /* Back up to the deepest node on the path whose subtree holds target. */
    while (top > 1 && target >= fr[top - 1].end) top--;
    for (;;) {
      trie__node_t *nd = &fr[top - 1].nd;
      if (nd->pos == target) break;
      if (target < nd->end || nd->nchild == 0) return TA_ECORRUPT;
      uint64_t next;
      uint64_t lo = child_holding(nd, target - nd->end, &next);
      if (top == DESCENT_FRAMES) {
        /* Too deep for the frames: this one id alone, from the root. */
        trie__texts_end(&w);
        rc = cold_text(r, h->id, tx, &h->text, &h->text_len);
        if (rc != 0) return rc;
        trie__texts_begin(tx, &w);
        goto next;
      }
      /* a corrupt offset makes end wrong, which only makes the walk back up sooner */
      size_t end = next == UINT64_MAX ? fr[top - 1].end : nd->end + (size_t)next;
      if ((rc = trie__node_child(r, nd, lo, &fr[top].nd)) != 0) return rc;
      size_t len = fr[top - 1].len;
      if ((rc = trie__label(r, &fr[top].nd, path, &len, TA_MAX_KEY, SIZE_MAX)) != 0) return rc;
      fr[top].len = len;
      fr[top].end = end;
      top++;
    }
    {
      const trie__node_t *nd = &fr[top - 1].nd;
      if (!(nd->flags & TRIE_NODE_TERMINAL) || nd->id != h->id) return TA_ECORRUPT;
      if ((rc = trie__display(r, h->id, &h->text, &h->text_len)) == 0) {
        h->text_len = fr[top - 1].len;
        rc = trie__texts_add(&w, path, h->text_len, &h->text);
      }
      if (rc < 0) return rc;
    }
  next:;
  }
  trie__texts_end(&w);
  return 0;
}
