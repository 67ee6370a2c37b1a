/*
 * Word matching (SPEC §15): q=york finds "new york times", q=york new finds it too. Format v1
 * has no word index, so trie_words_build makes one in memory from the keys (a walk of every
 * node): the distinct words of all keys, sorted, each with its ids ascending (postings); a hash
 * of every distinct prefix of those words to the range of words it starts (and that range's
 * postings); and each id's words in key order (word number and start byte). A lookup takes,
 * for each word of the prefix, the range of dictionary words it matches (the last word, unless
 * a space follows it, as a prefix; the others whole), walks the postings of the rarest range in
 * id (rank) order, and keeps the ids whose key has a word in every range and does not start
 * with the prefix (the exact lookup's). Built with the node primitives of trie_int.h only.
 *
 * The index lives in memory that other lookups have pushed out of the caches, so it is laid out
 * for few cache misses, and the misses it has are made in parallel: one slot (half a line) per
 * word of the prefix, all fetched at once, holding the word range and its postings' bounds; the
 * ids of a prefix of many words also in one list (a union list), so that such a last word is
 * walked or tested like one word; the other ranges tested on their own lists while those are
 * short beside the driving one, else on the candidate's record (its first WORDS_INLINE words
 * and their starts, half a line), fetched while later candidates are tested; the big arrays on
 * huge pages (ta_big_alloc). Its memory: trie.h.
 */
#include "trie_int.h"

#include <stdlib.h>

/* A string (a prefix of dictionary words) and what it finds. SLOT_PART: the words that start
 * with it, [lo, hi); SLOT_WHOLE: the word equal to it, [lo, lo + 1) (one slot may be both,
 * when no other word starts with it). tag: the SLOT_* flags and 13 bits of the string's hash. */
typedef struct {
  uint64_t head;     /* the string's first 8 bytes, zero-padded */
  uint32_t lo, hi;   /* the words [lo, hi); hi == 0: an empty slot */
  uint32_t plo, phi; /* their postings, post[plo .. phi) */
  uint32_t pos;      /* dict[pos ..] starts with the string */
  uint16_t len, tag;
} wslot_t;

#define SLOT_PART 1u
#define SLOT_WHOLE 2u
#define SLOT_UNION 4u /* plo, phi index uni: the range's ids in one list */
#define SLOT_FLAGS 7u
#define WORDS_SEED UINT64_C(0x776f726473) /* the slots' hash seed */

#define WORDS_INLINE 4u /* words of an id held in its record; more go to the overflow */

/* Another range is tested on its own lists when it is one list (one word, or a prefix with a
 * union list) or at most WORDS_FEW words, and has at most WORDS_RATIO times the driving
 * range's postings: the cursors then move about a cache line per candidate. Longer lists would
 * cost several lines per candidate where the candidate's record (fetched ahead) costs one. */
#define WORDS_FEW 4u
#define WORDS_RATIO 16u
/* Prefixes of more than WORDS_FEW words and at least WORDS_UNION_LEN bytes have their ids in
 * one list (a shorter one matches too many words to be worth it), the longest prefixes first
 * (the last word of a prefix is most often cut short by a byte or two), until the union lists
 * hold WORDS_UNION_MAX times the postings. */
#define WORDS_UNION_LEN 3u
#define WORDS_UNION_MAX 2u

/* The words of one id in key order: their numbers and start bytes; the words past the
 * WORDS_INLINE-th at x_word/x_start[more ..]. */
typedef struct {
  uint32_t word[WORDS_INLINE];
  uint16_t start[WORDS_INLINE];
  uint32_t more;
  uint16_t n;
} wrec_t;

struct trie_words {
  char *dict; /* the distinct words, sorted bytewise, concatenated */
  uint64_t n_words;
  wslot_t *slot; /* open addressing, a power of two of them */
  uint64_t slot_mask;
  uint32_t *post; /* ids of word i: post[post_off[i] .. post_off[i + 1]), ascending */
  uint64_t n_post;
  uint32_t *uni; /* the ids of the ranges of SLOT_UNION slots, each ascending, no repeats */
  uint64_t n_uni;
  uint64_t *post_off;
  wrec_t *rec; /* by id */
  uint32_t *x_word;
  uint16_t *x_start;
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
  ta_big_free(w->slot, w->slot ? (w->slot_mask + 1) * sizeof *w->slot : 0);
  ta_big_free(w->post, (w->n_post ? w->n_post : 1) * sizeof *w->post);
  free(w->post_off);
  ta_big_free(w->uni, (w->n_uni ? w->n_uni : 1) * sizeof *w->uni);
  ta_big_free(w->rec, (w->n_ids ? w->n_ids : 1) * sizeof *w->rec);
  free(w->x_word);
  free(w->x_start);
  free(w);
}

size_t trie_words_bytes(const trie_words_t *w) {
  return w != NULL ? w->bytes : 0;
}

/* The first 8 bytes of s[0..len), zero-padded: compared in one go. */
static uint64_t head8(const char *s, size_t len) {
  uint64_t h = 0;
  memcpy(&h, s, len < 8 ? len : 8);
  return h;
}

static void put_slot(trie_words_t *w, const uint64_t *dict_off, uint32_t lo, uint32_t hi,
                     uint64_t len, unsigned flags) {
  uint64_t pos = dict_off[lo], h = ta_hash64(w->dict + pos, len, WORDS_SEED), at = h;
  while (w->slot[at &= w->slot_mask].hi != 0) at++;
  w->slot[at] = (wslot_t){head8(w->dict + pos, len),
                          lo,
                          hi,
                          (uint32_t)w->post_off[lo],
                          (uint32_t)w->post_off[hi],
                          (uint32_t)pos,
                          (uint16_t)len,
                          (uint16_t)((h >> 48 & ~(uint64_t)SLOT_FLAGS) | flags)};
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
  uint64_t slots = 2;
  while (slots < count + count / 2 + 1) slots *= 2;
  w->slot = ta_big_alloc(slots * sizeof *w->slot); /* zeroed: empty */
  w->slot_mask = slots - 1;
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
  uint64_t total = 0, nslots = w->slot_mask + 1, ne = 0;
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

/* Each id's record from its words (word numbers and starts, kw[koff[id] .. koff[id + 1]), in
 * key order). */
static int build_recs(trie_words_t *w, const uint32_t *kw, const uint16_t *ks,
                      const uint64_t *koff) {
  uint64_t n = w->n_ids, nx = 0;
  for (uint64_t id = 0; id < n; id++)
    nx += koff[id + 1] - koff[id] > WORDS_INLINE ? koff[id + 1] - koff[id] - WORDS_INLINE : 0;
  if (nx >= UINT32_MAX) return TA_ETOOLONG;
  w->rec = ta_big_alloc((n ? n : 1) * sizeof *w->rec);
  w->x_word = malloc((nx ? nx : 1) * sizeof *w->x_word);
  w->x_start = malloc((nx ? nx : 1) * sizeof *w->x_start);
  if (w->rec == NULL || w->x_word == NULL || w->x_start == NULL) return TA_ENOMEM;
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
  w->bytes += n * sizeof *w->rec + nx * 6;
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
  /* slots hold word numbers, dictionary and posting offsets in 32 bits */
  if (rc == 0 && (nw >= UINT32_MAX || np > UINT32_MAX || dict_len > UINT32_MAX)) rc = TA_ETOOLONG;
  if (rc == 0) {
    w->dict = malloc(dict_len ? dict_len : 1);
    dict_off = malloc((nw + 1) * sizeof *dict_off);
    w->post = ta_big_alloc((np ? np : 1) * sizeof *w->post);
    w->n_post = np;
    w->post_off = malloc((nw + 1) * sizeof *w->post_off);
    kw = malloc((n_occ ? n_occ : 1) * sizeof *kw);
    ks = malloc((n_occ ? n_occ : 1) * sizeof *ks);
    kw_off = calloc(n + 1, sizeof *kw_off);
    if (!w->dict || !dict_off || !w->post || !w->post_off || !kw || !ks || !kw_off) rc = TA_ENOMEM;
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
    w->bytes = sizeof *w + dict_len + (nw + 1) * 8 + np * 4;
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
  for (uint64_t at = q->h;; at++) {
    const wslot_t *e = &w->slot[at & w->slot_mask];
    if (e->hi == 0) return 0;
    if (e->len == q->len && (e->tag & want) &&
        ((e->tag ^ (q->h >> 48)) & ~(uint64_t)SLOT_FLAGS & 0xffff) == 0 && e->head == head &&
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
    __builtin_prefetch(lo + WORDS_CURSOR_AHEAD);
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
                      size_t n, trie_keep_fn keep, void *ctx, trie_match_t *out, size_t *n_out) {
  if (n_out != NULL) *n_out = 0;
  if (r == NULL || w == NULL || n_out == NULL || (out == NULL && n != 0) ||
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
      __builtin_prefetch(&w->slot[q[nq].h & w->slot_mask]);
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
      __builtin_prefetch(r->stroff + 4 * (uint64_t)id);
      __builtin_prefetch(r->scores + 8 * (uint64_t)id);
      ring[(r_at + r_n++) % WORDS_AHEAD] = id;
      continue;
    }
    if (r_n == 0) break;
    uint32_t id = ring[r_at];
    r_at = (r_at + 1) % WORDS_AHEAD;
    r_n--;
    trie_match_t *m = &out[kept];
    if (!id_matches(w, id, q, nq, last_whole, m)) continue;
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
