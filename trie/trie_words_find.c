/*
 * Word matching (SPEC §15), the lookups (trie_lookup_words; the index: trie_words.c). A
 * lookup takes, for each word of the prefix, the range of dictionary words it matches (the
 * last word, unless a space follows it, as a prefix; the others whole), walks the postings of
 * the rarest range in id (rank) order, and keeps the ids whose key has a word in every range
 * and does not start with the prefix (the exact lookup's).
 *
 * The index lives in memory that other lookups have pushed out of the caches, so the lookups
 * make few cache misses, and make them in parallel: one slot (half a line) per word of the
 * prefix, all fetched at once, holding the word range and its postings' bounds; a last word
 * that starts many words walked or tested on its union list, like one word; the other ranges
 * tested on their own lists while those are short beside the driving one, else on the
 * candidate's record (its first WORDS_INLINE words and their starts, half a line), fetched
 * while later candidates are tested.
 */
#include "trie_words_int.h"

#include <stdlib.h>

/* One word of the prefix: where it is, then its range of words and their postings. */
typedef struct {
  uint64_t h;      /* its hash */
  uint32_t lo, hi; /* the words it matches, [lo, hi) */
  uint32_t plo, phi;
  uint32_t off; /* in the prefix */
  uint16_t len;
  uint8_t whole;        /* a space follows it: it matches whole words only */
  uint8_t lists;        /* 1: its ids are one list (one word, or a union); 0: hi - lo lists */
  const uint32_t *base; /* post or uni: where plo, phi point */
} qword_t;

/* Finds q's range from its slot (prefetched); 0 when no word matches it. */
static int word_range(const trie_words_t *w, const char *prefix, qword_t *q) {
  const char *s = prefix + q->off;
  uint64_t head = head8(s, q->len);
  unsigned want = q->whole ? SLOT_WHOLE : SLOT_PART;
  for (uint64_t at = slot_of(w, q->h);; at = slot_next(w, at)) {
    const wslot_t *e = &w->slot[at];
    if (e->hi == 0) return 0;
    if (e->len == q->len && (e->tag & want) &&
        ((e->tag ^ q->h) & ~(uint64_t)SLOT_FLAGS & 0xffff) == 0 && e->head == head &&
        (q->len <= 8 || memcmp(w->dict + e->pos + 8, s + 8, q->len - 8u) == 0)) {
      q->lo = e->lo;
      q->hi = e->hi;
      q->plo = e->plo;
      q->phi = e->phi;
      q->base = e->tag & SLOT_UNION ? w->uni : w->post;
      q->lists = (e->tag & SLOT_UNION) || q->hi - q->lo == 1;
      return 1;
    }
  }
}

/* Word j of a record, and its start. */
static inline uint32_t rec_word(const trie_words_t *w, const wrec_t *e, unsigned j) {
  return j < WORDS_INLINE ? e->word[j] : w->x_word[e->more + j - WORDS_INLINE];
}
static inline uint16_t rec_start(const trie_words_t *w, const wrec_t *e, unsigned j) {
  return j < WORDS_INLINE ? e->start[j] : w->x_start[e->more + j - WORDS_INLINE];
}

/* Whether id is a word match of the prefix's words q[0..nq); its spans into m. */
static int id_matches(const trie_words_t *w, uint32_t id, const qword_t *q, unsigned nq,
                      int last_whole, trie_match_t *m) {
  const wrec_t *e = &w->rec[id];
  unsigned nk = e->n;
  /* the exact lookup's: the key's first words are the prefix's, in order */
  int exact = nk >= nq + (unsigned)last_whole;
  for (unsigned i = 0; exact && i < nq; i++) {
    uint32_t kw = rec_word(w, e, i);
    exact = kw >= q[i].lo && kw < q[i].hi;
  }
  if (exact) return 0;
  unsigned ns = 0;
  for (unsigned i = 0; i < nq; i++) {
    unsigned j = 0;
    for (uint32_t kw; j < nk && !((kw = rec_word(w, e, j)) >= q[i].lo && kw < q[i].hi);) j++;
    if (j == nk) return 0;
    uint16_t s = rec_start(w, e, j), end = (uint16_t)(s + q[i].len);
    unsigned t = ns++; /* insert by start, ascending */
    for (; t > 0 && m->spans[t - 1][0] > s; t--) {
      m->spans[t][0] = m->spans[t - 1][0];
      m->spans[t][1] = m->spans[t - 1][1];
    }
    m->spans[t][0] = s;
    m->spans[t][1] = end;
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
#define WORDS_AHEAD 16u      /* candidates whose records are on their way, at most */
/* The walk's reads of a list depend on each other (a cursor's next step on what it read), so
 * lines are fetched before it needs them: the first WORDS_EARLY ids of each list at once, then
 * WORDS_CURSOR_AHEAD ids past each cursor (16 ids to a cache line). */
#define WORDS_EARLY 256u
#define WORDS_CURSOR_AHEAD 64u

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
 * not id by id, and not through the id's record (a cache miss per id). */
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
    if (end - lo > (ptrdiff_t)WORDS_CURSOR_AHEAD) __builtin_prefetch(lo + WORDS_CURSOR_AHEAD);
    has |= lo < end && *lo == id;
  }
  return has;
}

/* The cursors of the lists of q's words into c; their number. */
static unsigned range_curs(const trie_words_t *w, const qword_t *q, cur_t *c) {
  if (q->lists) {
    c[0] = (cur_t){q->base + q->plo, q->base + q->phi};
    return 1;
  }
  unsigned n = 0;
  for (uint64_t i = q->lo; i < q->hi; i++)
    if (w->post_off[i + 1] > w->post_off[i])
      c[n++] = (cur_t){w->post + w->post_off[i], w->post + w->post_off[i + 1]};
  return n;
}

int trie_lookup_words(const trie_reader_t *r, const trie_words_t *w, const char *prefix, size_t len,
                      size_t n, trie_keep_fn keep, void *ctx, trie_text_t *text, trie_match_t *out,
                      size_t *n_out) {
  if (n_out != NULL) *n_out = 0;
  if (r == NULL || w == NULL || n_out == NULL || (n != 0 && (out == NULL || text == NULL)) ||
      (prefix == NULL && len != 0))
    return TA_EINVAL;
  if (w->n_ids != r->n) return TA_EINVAL; /* an index of another file */
  qword_t q[TRIE_MAX_SPANS];
  unsigned nq = 0;
  int last_whole = len > 0 && prefix[len - 1] == ' ';
  for (size_t i = 0; i < len;) { /* the words, their slots fetched all at once */
    size_t j = i;
    while (j < len && prefix[j] != ' ') j++;
    if (j > i) {
      if (nq == TRIE_MAX_SPANS || j - i > UINT16_MAX) return 0;
      q[nq] = (qword_t){.h = ta_hash64(prefix + i, j - i, WORDS_SEED),
                        .off = (uint32_t)i,
                        .len = (uint16_t)(j - i),
                        .whole = j < len};
      __builtin_prefetch(&w->slot[slot_of(w, q[nq].h)]);
      nq++;
    }
    i = j + 1;
  }
  if (nq == 0 || n == 0) return 0;
  for (unsigned i = 0; i < nq; i++)
    if (!word_range(w, prefix, &q[i])) return 0;
  unsigned drv = 0;
  for (unsigned i = 0; i < nq; i++) {
    __builtin_prefetch(q[i].base + q[i].plo);
    if (!q[i].lists) __builtin_prefetch(w->post_off + q[i].lo);
    if (q[i].phi - q[i].plo < q[drv].phi - q[drv].plo) drv = i;
  }
  /* the other ranges of few words, rarest first: cursors into their lists */
  cur_t fc[TRIE_MAX_SPANS * WORDS_FEW];
  unsigned fq[TRIE_MAX_SPANS], fn[TRIE_MAX_SPANS], nf = 0, nc = 0;
  for (unsigned i = 0; i < nq; i++) {
    if (i == drv || (!q[i].lists && q[i].hi - q[i].lo > WORDS_FEW) ||
        (uint64_t)(q[i].phi - q[i].plo) > (uint64_t)WORDS_RATIO * (q[drv].phi - q[drv].plo))
      continue;
    unsigned t = nf++;
    for (; t > 0 && q[fq[t - 1]].phi - q[fq[t - 1]].plo > q[i].phi - q[i].plo; t--)
      fq[t] = fq[t - 1];
    fq[t] = i;
  }
  for (unsigned f = 0; f < nf; f++) nc += fn[f] = range_curs(w, &q[fq[f]], fc + nc);
  size_t nl = q[drv].lists ? 1 : (size_t)(q[drv].hi - q[drv].lo);
  cur_t small[WORDS_HEAP_STACK], *h = nl <= WORDS_HEAP_STACK ? small : malloc(nl * sizeof *h);
  if (h == NULL) return TA_ENOMEM;
  size_t hn = range_curs(w, &q[drv], h);
  /* the lists' first lines, all at once */
  for (unsigned c = 0; c < nc; c++)
    for (const uint32_t *p = fc[c].p + 16; p < fc[c].end && p < fc[c].p + WORDS_EARLY; p += 16)
      __builtin_prefetch(p);
  for (size_t c = 0; c < hn && c < 4; c++)
    for (const uint32_t *p = h[c].p + 16; p < h[c].end && p < h[c].p + WORDS_EARLY; p += 16)
      __builtin_prefetch(p);
  for (size_t i = hn / 2; i-- > 0;) cur_sift(h, hn, i);
  /* Two stages: the candidates that pass the lists' tests wait in a ring while their records
   * (and trie__hit's lines) come in; the oldest is tested on its record once the ring is full
   * or the candidates run out. Rank order stays: the ring is first in, first out. */
  uint32_t ring[WORDS_AHEAD];
  unsigned r_at = 0, r_n = 0;
  size_t kept = 0;
  int64_t last = -1;
  int rc = 0;
  while (kept < n) {
    if (hn > 0 && r_n < WORDS_AHEAD) {
      uint32_t id = *h[0].p;
      if (++h[0].p == h[0].end) h[0] = h[--hn];
      if (hn > 1) cur_sift(h, hn, 0);
      if ((int64_t)id == last) continue;
      last = id;
      int in_few = 1;
      for (unsigned f = 0, c = 0; in_few && f < nf; c += fn[f++])
        in_few = cur_has(fc + c, fn[f], id);
      if (!in_few) continue;
      __builtin_prefetch(&w->rec[id]);
      __builtin_prefetch(r->score_run + TRIE_SCORERUN_GROUP * (size_t)(id / 64));
      if (id < r->m_hot)
        __builtin_prefetch(r->hot_off + r->hot_rec * (id / TRIE_HOT_GROUP));
      else
        __builtin_prefetch(r->idpos + (uint64_t)id * r->idpos_bits / 8);
      ring[(r_at + r_n++) % WORDS_AHEAD] = id;
      continue;
    }
    if (r_n == 0) break;
    uint32_t id = ring[r_at];
    r_at = (r_at + 1) % WORDS_AHEAD;
    r_n--;
    trie_match_t *m = &out[kept];
    if (!id_matches(w, id, q, nq, last_whole, m)) continue;
    if ((rc = trie__hit(r, id, text, &m->hit)) != 0) break;
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
