/*
 * Word matching (SPEC §15): q=york finds "new york times", q=york new finds it too. Format v1
 * has no word index, so trie_words_build makes one in memory from the keys (a walk of every
 * node): the distinct words of all keys, sorted, each with its ids ascending (postings), and
 * each id's words in key order (word number and start byte). A lookup takes, for each word of
 * the prefix, the range of dictionary words it matches (the last word, unless a space follows
 * it, as a prefix; the others whole), walks the postings of the rarest range in id (rank)
 * order, and keeps the ids whose key has a word in every range and does not start with the
 * prefix (the exact lookup's). Built with the node primitives of trie_int.h only.
 */
#include "trie_int.h"

#include <stdlib.h>

/* A prefix of dictionary words (word lo's first len bytes, at dict[pos]) and the range [lo, hi)
 * of the words that start with it; tag: 15 bits of its hash, bit 0 set when word lo is the
 * prefix itself. hi == 0: an empty slot. One probe and one compare find a query word's range
 * where a binary search over the dictionary touched some thirty cache lines. */
typedef struct {
  uint32_t lo, hi, pos;
  uint16_t len, tag;
} wslot_t;

#define WORDS_SEED UINT64_C(0x776f726473) /* the slots' hash seed */

struct trie_words {
  char *dict; /* the distinct words, sorted bytewise, concatenated */
  uint64_t n_words;
  wslot_t *slot; /* every distinct prefix of a word -> its range: open addressing */
  uint64_t slot_mask;
  uint32_t *post; /* ids of word i: post[post_off[i] .. post_off[i + 1]), ascending */
  uint64_t *post_off;
  uint32_t *kw_word;  /* the words of id: kw_word[kw_off[id] .. kw_off[id + 1]), key order */
  uint16_t *kw_start; /* their start bytes in the key */
  uint64_t *kw_off;
  uint64_t n_ids;
  size_t bytes;
};

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
  } frame_t;
  size_t cap = 256, top = 0, kcap = 1 << 16, klen_total = 0;
  frame_t *st = malloc(cap * sizeof *st);
  char *kbuf = malloc(kcap);
  char path[TA_MAX_KEY];
  int rc = st && kbuf ? 0 : TA_ENOMEM;
  uint64_t seen = 0;
  if (rc == 0) st[top++] = (frame_t){(size_t)r->root, 0};
  while (rc == 0 && top > 0) {
    frame_t f = st[--top];
    trie__node_t nd;
    if ((rc = trie__node_parse(r, f.pos, &nd)) != 0) break;
    if (f.klen + nd.label_len > TA_MAX_KEY || ++seen > r->num_nodes + 1) {
      rc = TA_ECORRUPT;
      break;
    }
    memcpy(path + f.klen, nd.label, nd.label_len);
    size_t kl = f.klen + nd.label_len;
    if (nd.flags & TRIE_NODE_TERMINAL) {
      if (nd.id >= r->n) {
        rc = TA_ECORRUPT;
        break;
      }
      if (klen_total + kl > kcap) {
        while (klen_total + kl > kcap) kcap *= 2;
        char *nb = realloc(kbuf, kcap);
        if (nb == NULL) {
          rc = TA_ENOMEM;
          break;
        }
        kbuf = nb;
      }
      memcpy(kbuf + klen_total, path, kl);
      koff[nd.id] = klen_total;
      klen[nd.id] = (uint16_t)kl;
      klen_total += kl;
    }
    if (top + nd.nchild > cap) {
      while (top + nd.nchild > cap) cap *= 2;
      frame_t *ns = realloc(st, cap * sizeof *ns);
      if (ns == NULL) {
        rc = TA_ENOMEM;
        break;
      }
      st = ns;
    }
    for (uint64_t i = nd.nchild; i-- > 0;) {
      uint64_t off = trie__child_off(&nd, i);
      if (off >= r->nodes_len - nd.end) {
        rc = TA_ECORRUPT;
        break;
      }
      st[top++] = (frame_t){nd.end + (size_t)off, kl};
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
  free(w->dict);
  free(w->slot);
  free(w->post);
  free(w->post_off);
  free(w->kw_word);
  free(w->kw_start);
  free(w->kw_off);
  free(w);
}

/* The slots of every distinct prefix of the sorted words: a prefix of length L first seen at
 * word lo (its words follow it) stays open until a word shares fewer than L bytes with lo. */
static int build_slots(trie_words_t *w, const uint64_t *dict_off) {
  uint64_t nw = w->n_words, count = 0;
  if (dict_off[nw] > UINT32_MAX || nw >= UINT32_MAX) return TA_ETOOLONG;
  for (uint64_t i = 0; i < nw; i++) {
    uint64_t a = dict_off[i], len = dict_off[i + 1] - a, c = 0;
    if (i > 0)
      while (c < len && c < a - dict_off[i - 1] && w->dict[dict_off[i - 1] + c] == w->dict[a + c])
        c++;
    count += len - c;
  }
  uint64_t slots = 2;
  while (slots < count + count / 2 + 1) slots *= 2;
  w->slot = calloc(slots, sizeof *w->slot);
  uint32_t *open_lo = malloc((TA_MAX_KEY + 1) * sizeof *open_lo); /* lo of the open L */
  if (w->slot == NULL || open_lo == NULL) {
    free(open_lo);
    return TA_ENOMEM;
  }
  w->slot_mask = slots - 1;
  uint64_t top = 0; /* open prefixes: lengths 1..top */
  for (uint64_t i = 0; i <= nw; i++) {
    uint64_t a = i < nw ? dict_off[i] : 0, len = i < nw ? dict_off[i + 1] - a : 0, c = 0;
    while (c < len && c < top && w->dict[dict_off[i - 1] + c] == w->dict[a + c]) c++;
    for (; top > c; top--) { /* close the prefixes word i does not share */
      uint32_t lo = open_lo[top];
      uint64_t pos = dict_off[lo], h = ta_hash64(w->dict + pos, top, WORDS_SEED), at = h;
      while (w->slot[at &= w->slot_mask].hi != 0) at++;
      int is_word = dict_off[lo + 1] - pos == top;
      w->slot[at] = (wslot_t){lo, (uint32_t)i, (uint32_t)pos, (uint16_t)top,
                              (uint16_t)(((h >> 48) & 0xfffe) | (uint64_t)is_word)};
    }
    for (; top < len; top++) open_lo[top + 1] = (uint32_t)i;
  }
  free(open_lo);
  w->bytes += slots * sizeof *w->slot;
  return 0;
}

size_t trie_words_bytes(const trie_words_t *w) {
  return w != NULL ? w->bytes : 0;
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
  int rc = w && koff && klen ? 0 : TA_ENOMEM;
  if (rc == 0) rc = collect_keys(r, &kbuf, koff, klen);
  /* the words of every key */
  size_t n_occ = 0, cap_occ = 0;
  for (uint64_t id = 0; rc == 0 && id < n; id++) {
    const char *k = kbuf + koff[id];
    unsigned ord = 0;
    for (size_t i = 0; i < klen[id] && ord < WORDS_PER_KEY;) {
      size_t j = i;
      while (j < klen[id] && k[j] != ' ') j++;
      if (j > i) {
        if (n_occ == cap_occ) {
          cap_occ = cap_occ ? 2 * cap_occ : 1024;
          occ_t *no = realloc(occ, cap_occ * sizeof *no);
          if (no == NULL) {
            rc = TA_ENOMEM;
            break;
          }
          occ = no;
        }
        occ[n_occ++] = (occ_t){koff[id] + i, (uint32_t)id, (uint16_t)(j - i), (uint16_t)i};
        ord++;
      }
      i = j + 1;
    }
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
  if (rc == 0) {
    w->dict = malloc(dict_len ? dict_len : 1);
    dict_off = malloc((nw + 1) * sizeof *dict_off);
    w->post = malloc((np ? np : 1) * sizeof *w->post);
    w->post_off = malloc((nw + 1) * sizeof *w->post_off);
    w->kw_word = malloc((n_occ ? n_occ : 1) * sizeof *w->kw_word);
    w->kw_start = malloc((n_occ ? n_occ : 1) * sizeof *w->kw_start);
    w->kw_off = calloc(n + 1, sizeof *w->kw_off);
    if (!w->dict || !dict_off || !w->post || !w->post_off || !w->kw_word || !w->kw_start ||
        !w->kw_off)
      rc = TA_ENOMEM;
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
      w->kw_off[occ[i].id + 1]++;
      /* occ[i] keeps its word number in .off from here on (the key bytes are copied) */
      occ[i].off = wi - 1;
    }
    dict_off[wi] = dl;
    w->post_off[wi] = pi;
    w->n_words = nw;
    w->n_ids = n;
    for (uint64_t id = 0; id < n; id++) w->kw_off[id + 1] += w->kw_off[id];
    /* each id's words in key order: fill by start, then sort the few of each id */
    uint64_t *fill = calloc(n + 1, sizeof *fill);
    if (fill == NULL) rc = TA_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_occ; i++) {
      uint64_t at = w->kw_off[occ[i].id] + fill[occ[i].id]++;
      w->kw_word[at] = (uint32_t)occ[i].off;
      w->kw_start[at] = occ[i].start;
    }
    for (uint64_t id = 0; rc == 0 && id < n; id++)
      for (uint64_t a = w->kw_off[id] + 1; a < w->kw_off[id + 1]; a++) {
        uint32_t vw = w->kw_word[a];
        uint16_t vs = w->kw_start[a];
        uint64_t b = a;
        for (; b > w->kw_off[id] && w->kw_start[b - 1] > vs; b--) {
          w->kw_word[b] = w->kw_word[b - 1];
          w->kw_start[b] = w->kw_start[b - 1];
        }
        w->kw_word[b] = vw;
        w->kw_start[b] = vs;
      }
    free(fill);
    w->bytes = sizeof *w + dict_len + (nw + 1) * 8 + np * 4 + n_occ * 6 + (n + 1) * 8;
    if (rc == 0) rc = build_slots(w, dict_off);
  }
  free(occ);
  free(dict_off);
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

/* The dictionary range [*lo, *hi) of words that start with s[0..len) (whole: equal to it);
 * empty when none does. */
static void word_range(const trie_words_t *w, const char *s, size_t len, int whole, uint64_t *lo,
                       uint64_t *hi) {
  *lo = *hi = 0;
  uint64_t h = ta_hash64(s, len, WORDS_SEED);
  for (uint64_t at = h;; at++) {
    const wslot_t *e = &w->slot[at & w->slot_mask];
    if (e->hi == 0) return;
    if (e->len == len && (e->tag & 0xfffe) == ((h >> 48) & 0xfffe) &&
        memcmp(w->dict + e->pos, s, len) == 0) {
      if (!whole || (e->tag & 1)) {
        *lo = e->lo;
        *hi = whole ? e->lo + 1u : e->hi;
      }
      return;
    }
  }
}

typedef struct {
  uint64_t lo, hi; /* dictionary range */
  uint16_t len;    /* bytes of the prefix's word */
} qword_t;

/* Whether id is a word match of the prefix's words q[0..nq); its spans into m. */
static int id_matches(const trie_words_t *w, uint32_t id, const qword_t *q, unsigned nq,
                      int last_whole, trie_match_t *m) {
  uint64_t a = w->kw_off[id], b = w->kw_off[id + 1];
  /* the exact lookup's: the key's first words are the prefix's, in order */
  int exact = b - a >= nq + (uint64_t)last_whole;
  for (unsigned i = 0; exact && i < nq; i++) {
    uint32_t kw = w->kw_word[a + i];
    exact = kw >= q[i].lo && kw < q[i].hi;
  }
  if (exact) return 0;
  unsigned ns = 0;
  for (unsigned i = 0; i < nq; i++) {
    uint64_t j = a;
    while (j < b && !(w->kw_word[j] >= q[i].lo && w->kw_word[j] < q[i].hi)) j++;
    if (j == b) return 0;
    uint16_t s = w->kw_start[j], e = (uint16_t)(s + q[i].len);
    unsigned t = ns++; /* insert by start, ascending */
    for (; t > 0 && m->spans[t - 1][0] > s; t--) {
      m->spans[t][0] = m->spans[t - 1][0];
      m->spans[t][1] = m->spans[t - 1][1];
    }
    m->spans[t][0] = s;
    m->spans[t][1] = e;
  }
  m->n_spans = (uint8_t)ns;
  return 1;
}

/* A cursor into one posting list: for the merge of the driving range's lists, and for the
 * membership tests of the other ranges of few words. */
typedef struct {
  const uint32_t *p, *end;
} cur_t;

#define WORDS_HEAP_STACK 64u /* driving ranges of more lists allocate their merge heap */
#define WORDS_FEW 4u         /* ranges of at most this many words are tested on their lists */

static void cur_sift(cur_t *h, size_t n, size_t i) {
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && *h[c + 1].p < *h[c].p) c++;
    if (*h[i].p <= *h[c].p) return;
    cur_t t = h[i];
    h[i] = h[c];
    h[c] = t;
    i = c;
  }
}

/* Whether one of the lists c[0..n) holds id; each cursor moves to its first id >= id (ids
 * come ascending), by doubling steps then halving: the lists are read where they are needed,
 * not id by id, and not at all through the id's words (two cache misses per id). */
static int cur_has(cur_t *c, unsigned n, uint32_t id) {
  int has = 0;
  for (unsigned j = 0; j < n; j++) {
    const uint32_t *p = c[j].p, *end = c[j].end;
    size_t step = 1;
    while (step < (size_t)(end - p) && p[step] < id) step *= 2;
    const uint32_t *lo = p + step / 2, *hi = step < (size_t)(end - p) ? p + step : end;
    if (p < end && *p >= id) hi = lo = p;
    while (lo < hi) { /* first in [lo, hi) >= id; all before lo are < id */
      const uint32_t *mid = lo + (hi - lo) / 2;
      if (*mid < id)
        lo = mid + 1;
      else
        hi = mid;
    }
    c[j].p = lo;
    has |= lo < end && *lo == id;
  }
  return has;
}

int trie_lookup_words(const trie_reader_t *r, const trie_words_t *w, const char *prefix, size_t len,
                      size_t n, trie_keep_fn keep, void *ctx, trie_match_t *out, size_t *n_out) {
  if (n_out != NULL) *n_out = 0;
  if (r == NULL || w == NULL || n_out == NULL || (out == NULL && n != 0) ||
      (prefix == NULL && len != 0))
    return TA_EINVAL;
  if (w->n_ids != r->n) return TA_EINVAL; /* an index of another file */
  qword_t q[TRIE_MAX_SPANS];
  unsigned nq = 0;
  int last_whole = len > 0 && prefix[len - 1] == ' ';
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && prefix[j] != ' ') j++;
    if (j > i) {
      if (nq == TRIE_MAX_SPANS || j - i > UINT16_MAX) return 0;
      int whole = j < len; /* a space follows: the word is finished */
      word_range(w, prefix + i, j - i, whole, &q[nq].lo, &q[nq].hi);
      if (q[nq].lo == q[nq].hi) return 0;
      q[nq++].len = (uint16_t)(j - i);
    }
    i = j + 1;
  }
  if (nq == 0 || n == 0) return 0;
  uint64_t posts[TRIE_MAX_SPANS];
  unsigned drv = 0;
  for (unsigned i = 0; i < nq; i++) {
    posts[i] = w->post_off[q[i].hi] - w->post_off[q[i].lo];
    if (posts[i] < posts[drv]) drv = i;
  }
  /* the other ranges of few words, rarest first: cursors into their lists */
  cur_t fc[TRIE_MAX_SPANS * WORDS_FEW];
  unsigned fq[TRIE_MAX_SPANS], fn[TRIE_MAX_SPANS], nf = 0, nc = 0;
  for (unsigned i = 0; i < nq; i++) {
    if (i == drv || q[i].hi - q[i].lo > WORDS_FEW) continue;
    unsigned t = nf++;
    for (; t > 0 && posts[fq[t - 1]] > posts[i]; t--) fq[t] = fq[t - 1];
    fq[t] = i;
  }
  for (unsigned f = 0; f < nf; f++) {
    fn[f] = 0;
    for (uint64_t i = q[fq[f]].lo; i < q[fq[f]].hi; i++, fn[f]++)
      fc[nc++] = (cur_t){w->post + w->post_off[i], w->post + w->post_off[i + 1]};
  }
  size_t nl = (size_t)(q[drv].hi - q[drv].lo);
  cur_t small[WORDS_HEAP_STACK], *h = nl <= WORDS_HEAP_STACK ? small : malloc(nl * sizeof *h);
  if (h == NULL) return TA_ENOMEM;
  size_t hn = 0;
  for (uint64_t i = q[drv].lo; i < q[drv].hi; i++)
    if (w->post_off[i + 1] > w->post_off[i])
      h[hn++] = (cur_t){w->post + w->post_off[i], w->post + w->post_off[i + 1]};
  for (size_t i = hn / 2; i-- > 0;) cur_sift(h, hn, i);
  size_t kept = 0;
  int64_t last = -1;
  int rc = 0;
  while (hn > 0 && kept < n) {
    uint32_t id = *h[0].p;
    if (++h[0].p == h[0].end) h[0] = h[--hn];
    if (hn > 1) cur_sift(h, hn, 0);
    if ((int64_t)id == last) continue;
    last = id;
    int in_few = 1;
    for (unsigned f = 0, c = 0; in_few && f < nf; c += fn[f++]) in_few = cur_has(fc + c, fn[f], id);
    trie_match_t *m = &out[kept];
    if (!in_few || !id_matches(w, id, q, nq, last_whole, m)) continue;
    if ((rc = trie__hit(r, id, &m->hit)) != 0) break;
    if (keep != NULL && !keep(ctx, &m->hit)) continue;
    m->kind = TRIE_MATCH_WORDS;
    m->edits = 0;
    kept++;
  }
  if (h != small) free(h);
  if (rc != 0) return rc;
  *n_out = kept;
  return 0;
}
