/*
 * Word matching (SPEC §15), the index: the trie file has no word index, so trie_words_build makes
 * one in memory from the keys (a walk of every node): the distinct words of all keys, sorted,
 * each with its ids ascending (postings); a hash of every distinct prefix of those words to
 * the range of words it starts and that range's postings (slots); the union lists of the ids
 * of prefixes of many words; and each id's words in key order (word number and start byte, in
 * one record). Laid out for trie_words_find.c (the lookups; why so: there), the big arrays on
 * huge pages (ta_big_alloc). Its memory: trie.h. Built with the node primitives of trie_int.h.
 */
#include "trie_words_int.h"

#include <stdlib.h>

#define WORDS_PER_KEY 255u /* words of one key indexed, at most */

/* One word of one key while building. */
typedef struct {
  uint64_t off; /* in the key buffer */
  uint32_t id;
  uint16_t len, start;
} occ_t;

static int cmp_occ(const void *x, const void *y, void *kbuf) {
  const occ_t *a = x, *b = y;
  const char *g_kbuf = kbuf;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(g_kbuf + a->off, g_kbuf + b->off, m);
  if (c == 0) c = (a->len > b->len) - (a->len < b->len);
  if (c == 0) c = (a->id > b->id) - (a->id < b->id);
  if (c == 0) c = (a->start > b->start) - (a->start < b->start);
  return c;
}

/* Every key of r by id: kbuf, koff[id], klen[id]. A depth-first walk with an explicit stack. */
static int collect_keys(const trie_reader_t *r, char **kbuf_out, uint64_t *koff, uint16_t *klen) {
  typedef struct {
    size_t pos;
    size_t klen;
    unsigned first; /* its label's first byte (TRIE_NO_FIRST: the root) */
  } frame_t;
  size_t cap = 0, top = 0, kcap = 0, klen_total = 0;
  frame_t *st = NULL;
  char *kbuf = NULL;
  uint8_t path[TA_MAX_KEY + TRIE_SYM_SLACK];
  int rc = ta_grow((void **)&st, &cap, 1, sizeof *st, 256);
  if (rc == 0) rc = ta_grow((void **)&kbuf, &kcap, 1, 1, (size_t)1 << 16);
  uint64_t seen = 0;
  if (rc == 0) st[top++] = (frame_t){(size_t)r->root, 0, TRIE_NO_FIRST};
  while (rc == 0 && top > 0) {
    frame_t f = st[--top];
    trie__node_t nd;
    if ((rc = trie__node_parse(r, f.pos, f.first, &nd)) != 0) break;
    size_t kl = f.klen;
    /* each node once in a tree, and a byte or more: children that share a node (a corrupt
     * file) would be met once per path */
    if (++seen > r->num_nodes + 1 || seen > r->nodes_len) {
      rc = TA_ECORRUPT;
      break;
    }
    if ((rc = trie__label(r, &nd, path, &kl, TA_MAX_KEY, SIZE_MAX)) != 0) break;
    if (nd.flags & TRIE_NODE_TERMINAL) {
      if (nd.id >= r->n) {
        rc = TA_ECORRUPT;
        break;
      }
      if ((rc = ta_grow((void **)&kbuf, &kcap, klen_total + kl, 1, 0)) != 0) break;
      memcpy(kbuf + klen_total, path, kl);
      koff[nd.id] = klen_total;
      klen[nd.id] = (uint16_t)kl;
      klen_total += kl;
    }
    if ((rc = ta_grow((void **)&st, &cap, top + nd.nchild, sizeof *st, 0)) != 0) break;
    for (uint64_t i = nd.nchild; i-- > 0;) {
      uint64_t off = trie__child_off(&nd, i);
      if (off >= r->nodes_len - nd.end) {
        rc = TA_ECORRUPT;
        break;
      }
      st[top++] = (frame_t){nd.end + (size_t)off, kl, nd.child_bytes[i]};
    }
  }
  free(st);
  if (rc != 0) {
    free(kbuf);
    return rc;
  }
  *kbuf_out = kbuf;
  return 0;
}

void trie_words_free(trie_words_t *w) {
  if (w == NULL) return;
  ta_big_free(w->slot, w->n_slots * sizeof *w->slot);
  ta_big_free(w->post, (w->n_post ? w->n_post : 1) * sizeof *w->post);
  ta_big_free(w->uni, (w->n_uni ? w->n_uni : 1) * sizeof *w->uni);
  ta_big_free(w->rec, (w->n_ids ? w->n_ids : 1) * sizeof *w->rec);
  ta_big_free(w->aux, w->aux_size);
  free(w);
}

size_t trie_words_bytes(const trie_words_t *w) {
  return w != NULL ? w->bytes : 0;
}

static void put_slot(trie_words_t *w, const uint64_t *dict_off, uint32_t lo, uint32_t hi,
                     uint64_t len, unsigned flags) {
  uint64_t pos = dict_off[lo], h = ta_hash64(w->dict + pos, len, WORDS_SEED), at = slot_of(w, h);
  while (w->slot[at].hi != 0) at = slot_next(w, at);
  w->slot[at] = (wslot_t){head8(w->dict + pos, len),
                          lo,
                          hi,
                          (uint32_t)w->post_off[lo],
                          (uint32_t)w->post_off[hi],
                          (uint32_t)pos,
                          (uint16_t)len,
                          (uint16_t)((h & 0xffff & ~(uint64_t)SLOT_FLAGS) | flags)};
}

/* The slots of every distinct prefix of the sorted words (a prefix of length L first seen at
 * word lo stays open until a word shares fewer than L bytes with lo), and of every word that
 * is a prefix of others (its own slot: the prefix's range is larger). */
static int build_slots(trie_words_t *w, const uint64_t *dict_off) {
  uint64_t nw = w->n_words, count = 0;
  for (uint64_t i = 0; i < nw; i++) {
    uint64_t a = dict_off[i], len = dict_off[i + 1] - a, c = 0, prev = i ? a - dict_off[i - 1] : 0;
    while (c < len && c < prev && w->dict[dict_off[i - 1] + c] == w->dict[a + c]) c++;
    count += len - c + (i > 0 && c == prev); /* word i - 1 a prefix of word i: its own slot */
  }
  uint64_t slots = count + count / 2 + 1;          /* one at least stays empty: probes end */
  w->slot = ta_big_alloc(slots * sizeof *w->slot); /* zeroed: empty */
  w->n_slots = slots;
  uint32_t *open_lo = malloc((TA_MAX_KEY + 1) * sizeof *open_lo); /* lo of the open L */
  if (w->slot == NULL || open_lo == NULL) {
    free(open_lo);
    return TA_ENOMEM;
  }
  uint64_t top = 0; /* open prefixes: lengths 1..top */
  for (uint64_t i = 0; i <= nw; i++) {
    uint64_t a = i < nw ? dict_off[i] : 0, len = i < nw ? dict_off[i + 1] - a : 0, c = 0;
    while (c < len && c < top && w->dict[dict_off[i - 1] + c] == w->dict[a + c]) c++;
    for (; top > c; top--) { /* close the prefixes word i does not share */
      uint32_t lo = open_lo[top];
      int is_word = dict_off[lo + 1] - dict_off[lo] == top;
      if (is_word && i > lo + 1u) put_slot(w, dict_off, lo, lo + 1, top, SLOT_WHOLE);
      put_slot(w, dict_off, lo, (uint32_t)i, top,
               SLOT_PART | (is_word && i == lo + 1u ? SLOT_WHOLE : 0));
    }
    for (; top < len; top++) open_lo[top + 1] = (uint32_t)i;
  }
  free(open_lo);
  w->bytes += slots * sizeof *w->slot;
  return 0;
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  return (a > b) - (a < b);
}

/* Slot numbers by their string's length, longest first. */
static int cmp_len_desc(const void *x, const void *y, void *slots) {
  const wslot_t *sl = slots;
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  if (sl[a].len != sl[b].len) return sl[a].len > sl[b].len ? -1 : 1;
  return (a > b) - (a < b);
}

/* The union lists (a prefix's words are consecutive, so their postings are one run of post:
 * sorted, without repeats). */
static int build_unions(trie_words_t *w) {
  uint64_t total = 0, nslots = w->n_slots, ne = 0;
  uint32_t *order = malloc(nslots * sizeof *order); /* the slots worth one */
  if (order == NULL) return TA_ENOMEM;
  for (uint64_t i = 0; i < nslots; i++) {
    const wslot_t *e = &w->slot[i];
    if (e->hi != 0 && (e->tag & SLOT_PART) && e->hi - e->lo > WORDS_FEW &&
        e->len >= WORDS_UNION_LEN) {
      total += e->phi - e->plo;
      order[ne++] = (uint32_t)i;
    }
  }
  uint64_t cap = total < WORDS_UNION_MAX * w->n_post ? total : WORDS_UNION_MAX * w->n_post;
  w->uni = cap < UINT32_MAX ? ta_big_alloc((cap ? cap : 1) * sizeof *w->uni) : NULL;
  w->n_uni = cap;
  if (w->uni == NULL) {
    free(order);
    return cap < UINT32_MAX ? TA_ENOMEM : TA_ETOOLONG;
  }
  if (ne > 1) qsort_r(order, ne, sizeof *order, cmp_len_desc, w->slot);
  uint64_t u = 0;
  for (uint64_t k = 0; k < ne; k++) {
    wslot_t *e = &w->slot[order[k]];
    if (u + (e->phi - e->plo) > cap) continue;
    uint32_t *d = w->uni + u, m = 0;
    memcpy(d, w->post + e->plo, (e->phi - e->plo) * sizeof *d);
    qsort(d, e->phi - e->plo, sizeof *d, cmp_u32);
    for (uint32_t j = 0; j < e->phi - e->plo; j++)
      if (m == 0 || d[j] != d[m - 1]) d[m++] = d[j];
    e->plo = (uint32_t)u;
    e->phi = (uint32_t)(u + m);
    e->tag |= SLOT_UNION;
    u += m;
  }
  free(order);
  w->bytes += u * sizeof *w->uni;
  return 0;
}

/* One block for the small arrays read at random (word offsets, the words past an id's record,
 * the dictionary): rounded up to 2 MiB from 1 MiB, so that one huge page backs it. */
static int alloc_aux(trie_words_t *w, uint64_t nw, uint64_t dict_len, uint64_t nx) {
  const uint64_t huge = (uint64_t)2 << 20;
  if (nx >= UINT32_MAX) return TA_ETOOLONG;
  uint64_t size = (nw + 1) * sizeof *w->post_off + nx * (sizeof *w->x_word + sizeof *w->x_start);
  size += dict_len;
  if (size >= huge / 2) size = (size + huge - 1) / huge * huge;
  w->aux = ta_big_alloc(size);
  if (w->aux == NULL) return TA_ENOMEM;
  w->aux_size = size;
  w->post_off = (uint64_t *)w->aux; /* then ever smaller elements: each aligned */
  w->x_word = (uint32_t *)(w->post_off + nw + 1);
  w->x_start = (uint16_t *)(w->x_word + nx);
  w->dict = (char *)(w->x_start + nx);
  return 0;
}

/* Each id's record from its words (word numbers and starts, kw[koff[id] .. koff[id + 1]), in
 * key order). */
static int build_recs(trie_words_t *w, const uint32_t *kw, const uint16_t *ks,
                      const uint64_t *koff) {
  uint64_t n = w->n_ids; /* x_word, x_start: made with the dictionary, room for the words past
                            WORDS_INLINE */
  w->rec = ta_big_alloc((n ? n : 1) * sizeof *w->rec);
  if (w->rec == NULL) return TA_ENOMEM;
  uint64_t x = 0;
  for (uint64_t id = 0; id < n; id++) {
    wrec_t *e = &w->rec[id];
    e->n = (uint16_t)(koff[id + 1] - koff[id]);
    e->more = (uint32_t)x;
    for (unsigned j = 0; j < e->n; j++) {
      if (j < WORDS_INLINE) {
        e->word[j] = kw[koff[id] + j];
        e->start[j] = ks[koff[id] + j];
      } else {
        w->x_word[x] = kw[koff[id] + j];
        w->x_start[x++] = ks[koff[id] + j];
      }
    }
  }
  w->bytes += n * sizeof *w->rec;
  return 0;
}

int trie_words_build(const trie_reader_t *r, trie_words_t **out) {
  if (out != NULL) *out = NULL;
  if (r == NULL || out == NULL) return TA_EINVAL;
  uint64_t n = r->n;
  trie_words_t *w = calloc(1, sizeof *w);
  uint64_t *koff = calloc(n + 1, sizeof *koff);
  uint16_t *klen = calloc(n + 1, sizeof *klen);
  char *kbuf = NULL;
  occ_t *occ = NULL;
  uint64_t *dict_off = NULL; /* word i is dict[dict_off[i] .. dict_off[i + 1]) */
  uint32_t *kw = NULL;       /* the words of id: kw[kw_off[id] .. kw_off[id + 1]), key order */
  uint16_t *ks = NULL;       /* their start bytes in the key */
  uint64_t *kw_off = NULL;
  int rc = w && koff && klen ? 0 : TA_ENOMEM;
  if (rc == 0) rc = collect_keys(r, &kbuf, koff, klen);
  /* the words of every key */
  size_t n_occ = 0, cap_occ = 0;
  uint64_t nx = 0; /* words past the WORDS_INLINE-th of their key */
  for (uint64_t id = 0; rc == 0 && id < n; id++) {
    const char *k = kbuf + koff[id];
    unsigned ord = 0; /* words of the key, at most WORDS_PER_KEY */
    for (size_t i = 0; i < klen[id] && ord < WORDS_PER_KEY;) {
      size_t j = i;
      while (j < klen[id] && k[j] != ' ') j++;
      if (j > i) {
        if ((rc = ta_grow((void **)&occ, &cap_occ, n_occ + 1, sizeof *occ, 1024)) != 0) break;
        occ[n_occ++] = (occ_t){koff[id] + i, (uint32_t)id, (uint16_t)(j - i), (uint16_t)i};
        ord++;
      }
      i = j + 1;
    }
    nx += ord > WORDS_INLINE ? ord - WORDS_INLINE : 0;
  }
  if (rc == 0) {
    if (n_occ > 1) qsort_r(occ, n_occ, sizeof *occ, cmp_occ, kbuf);
  }
  /* dictionary and postings (a key with a word twice is posted once) */
  uint64_t nw = 0, np = 0, dict_len = 0;
  for (size_t i = 0; rc == 0 && i < n_occ; i++) {
    int new_word = i == 0 || occ[i].len != occ[i - 1].len ||
                   memcmp(kbuf + occ[i].off, kbuf + occ[i - 1].off, occ[i].len) != 0;
    nw += new_word;
    dict_len += new_word ? occ[i].len : 0;
    np += new_word || occ[i].id != occ[i - 1].id;
  }
  /* slots hold word numbers, dictionary and posting offsets in 32 bits */
  if (rc == 0 && (nw >= UINT32_MAX || np > UINT32_MAX || dict_len > UINT32_MAX)) rc = TA_ETOOLONG;
  if (rc == 0) {
    rc = alloc_aux(w, nw, dict_len, nx);
    dict_off = malloc((nw + 1) * sizeof *dict_off);
    w->post = ta_big_alloc((np ? np : 1) * sizeof *w->post);
    w->n_post = np;
    kw = malloc((n_occ ? n_occ : 1) * sizeof *kw);
    ks = malloc((n_occ ? n_occ : 1) * sizeof *ks);
    kw_off = calloc(n + 1, sizeof *kw_off);
    if (rc == 0 && (!dict_off || !w->post || !kw || !ks || !kw_off)) rc = TA_ENOMEM;
  }
  if (rc == 0) {
    uint64_t wi = 0, pi = 0, dl = 0, prev_off = 0;
    for (size_t i = 0; i < n_occ; i++) {
      int new_word = i == 0 || occ[i].len != occ[i - 1].len ||
                     memcmp(kbuf + occ[i].off, kbuf + prev_off, occ[i].len) != 0;
      prev_off = occ[i].off;
      if (new_word) {
        dict_off[wi] = dl;
        w->post_off[wi] = pi;
        memcpy(w->dict + dl, kbuf + occ[i].off, occ[i].len);
        dl += occ[i].len;
        wi++;
      }
      if (new_word || occ[i].id != occ[i - 1].id) w->post[pi++] = occ[i].id;
      kw_off[occ[i].id + 1]++;
      /* occ[i] keeps its word number in .off from here on (the key bytes are copied) */
      occ[i].off = wi - 1;
    }
    dict_off[wi] = dl;
    w->post_off[wi] = pi;
    w->n_words = nw;
    w->n_ids = n;
    for (uint64_t id = 0; id < n; id++) kw_off[id + 1] += kw_off[id];
    /* each id's words in key order: fill by start, then sort the few of each id */
    uint64_t *fill = calloc(n + 1, sizeof *fill);
    if (fill == NULL) rc = TA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_occ; i++) {
      uint64_t at = kw_off[occ[i].id] + fill[occ[i].id]++;
      kw[at] = (uint32_t)occ[i].off;
      ks[at] = occ[i].start;
    }
    for (uint64_t id = 0; rc == 0 && id < n; id++)
      for (uint64_t a = kw_off[id] + 1; a < kw_off[id + 1]; a++) {
        uint32_t vw = kw[a];
        uint16_t vs = ks[a];
        uint64_t b = a;
        for (; b > kw_off[id] && ks[b - 1] > vs; b--) {
          kw[b] = kw[b - 1];
          ks[b] = ks[b - 1];
        }
        kw[b] = vw;
        ks[b] = vs;
      }
    free(fill);
    w->bytes = sizeof *w + w->aux_size + np * 4;
    if (rc == 0) rc = build_recs(w, kw, ks, kw_off);
    if (rc == 0) rc = build_slots(w, dict_off);
    if (rc == 0) rc = build_unions(w);
  }
  free(occ);
  free(dict_off);
  free(kw);
  free(ks);
  free(kw_off);
  free(kbuf);
  free(koff);
  free(klen);
  if (rc != 0) {
    trie_words_free(w);
    return rc;
  }
  *out = w;
  return 0;
}
