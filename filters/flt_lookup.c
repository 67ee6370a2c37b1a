/*
 * typeahead: the serve-time side of the blocklist filter layer (SPEC §9): the verdict on a
 * candidate (matched by flt_match.c, remembered in the verdict cache), flt_keep, the predicate
 * for trie_lookup_filtered, and flt_lookup, the filtered lookup every served answer goes
 * through: the first n completions that the rules keep, in rank order, exactly as
 * trie_lookup_filtered(..., flt_keep, ...) gives them.
 *
 * Why not always trie_lookup_filtered: its walk past the stored top-k (a heap over the
 * subtree) costs more than reading the node's stored list, and for most prefixes the stored
 * list already holds n kept completions. The stored top-k are the k best completions in rank
 * order, so when n of them are kept they are the first n kept ones; when the node stores fewer
 * than k there are no others. Only when neither holds does the walk run (and its candidates are
 * counted, not the ones the first pass saw, so nothing is counted twice).
 *
 * Why the memo of answers: a prefix whose stored completions are mostly blocked walks tens of
 * candidates, ten times a plain lookup, on every request. The walk's answer depends only on the
 * answer node (every prefix ending in one node has its completions), n, the rules and the trie,
 * so the cache (made per rule set and trie) keeps it by node and n, with the walk's counters
 * (a hit counts what the walk counted). Only walked answers go in: those the stored list
 * answers are cheaper to read again than a memo slot, which is likely out of the CPU's caches.
 *
 * Why the verdicts are read inside the walk down the prefix (trie_lookup_top_pick calls
 * pick_known): when the cached verdicts on the stored ids decide the answer, as for most
 * lookups with a prefilled cache, its hits are made from the answer node that walk parsed, as
 * trie_lookup makes them, not by a second call that parses the node again.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "flt_int.h"

/* The verdict cache (flt.h): entries are 0 = not known yet, or one of these. */
enum {
  VERDICT_KEEP = 1,
  VERDICT_KIND0 = 2, /* VERDICT_KIND0 + kind: suppressed by a rule of that kind */
  VERDICT_UNREADABLE = VERDICT_KIND0 + FLT_KIND_COUNT
};

/* Counters of a walk: suppressed per kind, then unreadable. */
#define N_COUNTS (FLT_KIND_COUNT + 1)

/* One remembered answer. A writer makes seq odd (taking the slot), writes, makes it even; a
 * reader copies the slot and keeps the copy only when seq was the same even number before and
 * after, so no torn answer is ever used. */
typedef struct {
  atomic_uint seq;
  atomic_uint_least64_t node; /* answer node (trie_at_t.node); 0: empty slot */
  atomic_uint meta;           /* n asked | kept << 8 | complete << 16 */
  atomic_uint count[N_COUNTS];
  atomic_uint ids[TA_MAX_K];
} memo_t;

/* meta: every n the memo takes is at most TA_MAX_K, so it fits in 8 bits */
_Static_assert(TA_MAX_K <= 255, "memo meta holds n in 8 bits");
_Static_assert(TA_MAX_K < 64, "pick_known sets a bit of a 64-bit mask per stored id");
_Static_assert((FLT_MEMO_SLOTS & (FLT_MEMO_SLOTS - 1)) == 0, "FLT_MEMO_SLOTS is a power of 2");

struct flt_cache {
  const flt_ruleset_t *rs;
  uint64_t n_ids;
  atomic_uchar *verdict;
  /* bit id set: judged and kept. Most candidates are kept, and n_ids bits stay in the CPU's
   * caches where n_ids bytes do not: the kept test is one load from this, the byte is read
   * only for the others. */
  atomic_uint_least64_t *kept;
  atomic_uint_least64_t trie_tag; /* file_crc + 1 of the bound trie; 0: not bound yet */
  memo_t *memo;                   /* FLT_MEMO_SLOTS */
};

int flt_cache_new(const flt_ruleset_t *rs, uint64_t n_ids, flt_cache_t **out) {
  if (rs == NULL || out == NULL) return TA_EINVAL;
  *out = NULL;
  if (n_ids > SIZE_MAX / 2) return TA_ERANGE;
  flt_cache_t *c = calloc(1, sizeof *c);
  if (c == NULL) return TA_ENOMEM;
  /* calloc's zero bytes are valid zeros of lock-free atomics: unknown verdicts, empty slots */
  c->verdict = calloc(n_ids ? (size_t)n_ids : 1, sizeof *c->verdict);
  c->kept = calloc((size_t)(n_ids / 64 + 1), sizeof *c->kept);
  c->memo = calloc(FLT_MEMO_SLOTS, sizeof *c->memo);
  if (c->verdict == NULL || c->kept == NULL || c->memo == NULL) {
    flt_cache_free(c);
    return TA_ENOMEM;
  }
  c->rs = rs;
  c->n_ids = n_ids;
  *out = c;
  return 0;
}

void flt_cache_free(flt_cache_t *cache) {
  if (cache == NULL) return;
  free(cache->verdict);
  free(cache->kept);
  free(cache->memo);
  free(cache);
}

/* 1 when the cache's kept bits (c->kept) say query id (< c->n_ids) was judged and kept. */
static inline int kept_bit(const atomic_uint_least64_t *kept, uint32_t id) {
  return atomic_load_explicit(&kept[id / 64], memory_order_relaxed) >> (id % 64) & 1;
}

/* The cached verdict on query id, 0 when there is none; c may be NULL (no cache) and must be
 * made for the rule set asked about. */
static inline unsigned cached(const flt_cache_t *c, uint32_t id) {
  if (c == NULL || id >= c->n_ids) return 0;
  if (kept_bit(c->kept, id)) return VERDICT_KEEP;
  return atomic_load_explicit(&c->verdict[id], memory_order_relaxed);
}

/* Matches the candidate's text and remembers the verdict in c (may be NULL: nowhere). */
static unsigned judge(const flt_ruleset_t *rs, flt_cache_t *c, const trie_hit_t *hit) {
  flt_kind_t kind = FLT_WORD;
  int rc = flt_match_text(rs, hit->text, hit->text_len, &kind);
  unsigned v = rc < 0 ? VERDICT_UNREADABLE : rc > 0 ? VERDICT_KIND0 + (unsigned)kind : VERDICT_KEEP;
  if (c && hit->id < c->n_ids) {
    atomic_store_explicit(&c->verdict[hit->id], (unsigned char)v, memory_order_relaxed);
    if (v == VERDICT_KEEP)
      atomic_fetch_or_explicit(&c->kept[hit->id / 64], 1ull << (hit->id % 64),
                               memory_order_relaxed);
  }
  return v;
}

/* The verdict on one candidate: from the cache when it has one, else matched and remembered.
 * rs has rules; a cache made for another rule set is not used. */
static inline unsigned verdict(const flt_ruleset_t *rs, flt_cache_t *c, const trie_hit_t *hit) {
  if (c && c->rs != rs) c = NULL;
  unsigned v = cached(c, hit->id);
  return v ? v : judge(rs, c, hit);
}

/* Counts a verdict in f; 1 when it keeps the candidate. */
static inline int count(flt_filter_t *f, unsigned v) {
  if (v == VERDICT_KEEP) return 1;
  if (v == VERDICT_UNREADABLE)
    f->unreadable++;
  else
    f->suppressed[v - VERDICT_KIND0]++;
  return 0;
}

int flt_keep(void *ctx, const trie_hit_t *candidate) {
  flt_filter_t *f = ctx;
  if (f->rs == NULL || f->rs->n_rules == 0) return 1;
  return count(f, verdict(f->rs, f->cache, candidate));
}

/* ---- The memo of walked answers ----------------------------------------------------------- */

static memo_t *memo_slot(flt_cache_t *c, uint64_t node) {
  /* Fibonacci hashing: node positions are spread unevenly, the product's top bits are not */
  return &c->memo[(node * 0x9e3779b97f4a7c15ull) >> (64 - __builtin_ctz(FLT_MEMO_SLOTS))];
}

/* The remembered answer for (node, n): ids into ids[], their number into *kept, the walk's
 * counters into counts[]. 1 when there is one. An answer made with fewer kept ids than asked
 * (the completions ran out) is the answer for any larger n too, with the same counters. */
static int memo_get(flt_cache_t *c, uint64_t node, size_t n, uint32_t *ids, size_t *kept,
                    uint32_t counts[N_COUNTS]) {
  memo_t *m = memo_slot(c, node);
  unsigned seq = atomic_load_explicit(&m->seq, memory_order_acquire);
  if ((seq & 1) || atomic_load_explicit(&m->node, memory_order_relaxed) != node) return 0;
  unsigned meta = atomic_load_explicit(&m->meta, memory_order_relaxed);
  size_t asked = meta & 0xff, got = (meta >> 8) & 0xff;
  if (!(asked == n || ((meta >> 16 & 1) && n > asked)) || got > n) return 0;
  for (size_t i = 0; i < got; i++) ids[i] = atomic_load_explicit(&m->ids[i], memory_order_relaxed);
  for (int k = 0; k < N_COUNTS; k++)
    counts[k] = atomic_load_explicit(&m->count[k], memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&m->seq, memory_order_relaxed) != seq) return 0;
  *kept = got;
  return 1;
}

/* Remembers the walked answer hits[0..kept) for (node, n) with the walk's counters; gives up
 * when another thread is writing the slot (the answer is remembered next time). */
static void memo_put(flt_cache_t *c, uint64_t node, size_t n, const trie_hit_t *hits, size_t kept,
                     const uint64_t counts[N_COUNTS]) {
  for (int k = 0; k < N_COUNTS; k++)
    if (counts[k] > UINT32_MAX) return;
  memo_t *m = memo_slot(c, node);
  unsigned seq = atomic_load_explicit(&m->seq, memory_order_relaxed);
  if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
                       &m->seq, &seq, seq + 1, memory_order_relaxed, memory_order_relaxed))
    return;
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&m->node, node, memory_order_relaxed);
  unsigned meta = (unsigned)n | (unsigned)kept << 8 | (unsigned)(kept < n) << 16;
  atomic_store_explicit(&m->meta, meta, memory_order_relaxed);
  for (size_t i = 0; i < kept; i++)
    atomic_store_explicit(&m->ids[i], hits[i].id, memory_order_relaxed);
  for (int k = 0; k < N_COUNTS; k++)
    atomic_store_explicit(&m->count[k], (unsigned)counts[k], memory_order_relaxed);
  atomic_store_explicit(&m->seq, seq + 2, memory_order_release);
}

/* The walk past the stored top-k, through the memo when c is not NULL and n fits in it. */
static int walk(const trie_reader_t *r, flt_cache_t *c, const trie_top_t *top, const char *prefix,
                size_t prefix_len, size_t n, flt_filter_t *f, trie_text_t *text, trie_hit_t *hits,
                size_t *n_hits) {
  uint64_t node = top->at.node;
  uint32_t ids[TA_MAX_K], counts[N_COUNTS];
  size_t kept;
  int rc;
  f->walks++;
  if (c && node && memo_get(c, node, n, ids, &kept, counts)) {
    f->memo_hits++;
    if ((rc = trie_get_hits(r, top, prefix, ids, kept, text, hits)) != 0) return rc;
    for (int k = 0; k < FLT_KIND_COUNT; k++) f->suppressed[k] += counts[k];
    f->unreadable += counts[FLT_KIND_COUNT];
    *n_hits = kept;
    return 0;
  }
  uint64_t before[N_COUNTS], delta[N_COUNTS];
  for (int k = 0; k < FLT_KIND_COUNT; k++) before[k] = f->suppressed[k];
  before[FLT_KIND_COUNT] = f->unreadable;
  rc = trie_lookup_filtered(r, prefix, prefix_len, n, flt_keep, f, text, hits, n_hits);
  if (rc != 0 || c == NULL || node == 0) return rc;
  for (int k = 0; k < FLT_KIND_COUNT; k++) delta[k] = f->suppressed[k] - before[k];
  delta[FLT_KIND_COUNT] = f->unreadable - before[FLT_KIND_COUNT];
  memo_put(c, node, n, hits, *n_hits, delta);
  return 0;
}

/* A candidate of the stored top-k with its cached verdict v (0: not judged yet, so judged now):
 * appended to hits when kept, else counted in dropped (by VERDICT_* - VERDICT_KIND0). */
static void take(const flt_ruleset_t *rs, flt_cache_t *c, unsigned v, const trie_hit_t *h,
                 trie_hit_t *hits, size_t *kept, uint32_t *dropped) {
  if (v == 0) v = judge(rs, c, h);
  if (v == VERDICT_KEEP)
    hits[(*kept)++] = *h;
  else
    dropped[v - VERDICT_KIND0]++;
}

/* pick_known's context: what it needs of the lookup. */
typedef struct {
  const atomic_uint_least64_t *kept; /* c->kept */
  const flt_cache_t *c;              /* fits the trie (cache_fits): made for its num_queries ids */
  size_t n, k;                       /* completions asked for; the file's k */
  flt_filter_t *f;                   /* counts the dropped of a picked answer */
  int walk;                          /* set: every verdict known, too few kept: the walk runs */
} known_t;

/* pick_known past the run of kept ones at the start, from stored position i (not kept, or i is
 * n): the rest in the same way, the dropped counted in q->f only when the answer is picked. */
__attribute__((noinline)) static int pick_rest(known_t *q, const trie_top_t *top, size_t i,
                                               uint64_t *picked) {
  const atomic_uint_least64_t *kept = q->kept;
  size_t want = q->n, stored = top->n, got = i;
  uint64_t mask = (1ull << i) - 1;
  uint32_t dropped[N_COUNTS] = {0}; /* by VERDICT_* - VERDICT_KIND0 */
  for (; i < stored && got < want; i++) {
    uint32_t id = top->ids[i];
    if (kept_bit(kept, id)) {
      mask |= 1ull << i;
      got++;
      continue;
    }
    unsigned v = atomic_load_explicit(&q->c->verdict[id], memory_order_relaxed);
    if (v == 0) return 0;
    dropped[v - VERDICT_KIND0]++;
  }
  if (got < want && stored == q->k) {
    q->walk = 1;
    return 0;
  }
  for (int k = 0; k < FLT_KIND_COUNT; k++) q->f->suppressed[k] += dropped[k];
  q->f->unreadable += dropped[FLT_KIND_COUNT];
  *picked = mask;
  return 1;
}

/* trie_pick_fn: when the cache knows the verdict on every stored candidate it needs, picks the
 * first n it keeps (all it keeps when the node holds fewer than k: there are no others) and
 * counts the dropped before them. None when it meets one not judged yet (its text is needed),
 * or when the kept are too few (walk set). The ids are the trie's, each < its num_queries ==
 * c->n_ids, so none needs cached()'s bounds test. Most often the first n are all kept: that
 * test alone here, in few registers, the rest in pick_rest. */
static int pick_known(void *ctx, const trie_top_t *top, uint64_t *picked) {
  known_t *q = ctx;
  /* in locals: the compiler reloads through pointers after every atomic load */
  const atomic_uint_least64_t *kept = q->kept;
  size_t want = q->n, stored = top->n, lim = want < stored ? want : stored, i = 0;
  while (i < lim && kept_bit(kept, top->ids[i])) i++;
  if (i == lim && (lim == want || stored < q->k)) {
    *picked = (1ull << i) - 1;
    return 1;
  }
  return pick_rest(q, top, i, picked);
}

/* The answer when pick_known did not make it from the stored top-k (top, for the prefix): a
 * verdict is not known yet, or the walk runs (walk_now: too few known kept; or n past the
 * file's k). The cached verdicts decide by id: the kept and the unjudged get their hits (a heavy
 * node's in one pass from the node, trie_get_hits), as many as could still make n, and the
 * unjudged are judged; again while some were dropped. When the stored ids cannot make n the
 * walk runs, with no texts fetched before it. c (NULL: none) fits f->rs (cache_fits) and is
 * f->cache. Not inlined: in flt_lookup it made every lookup save and restore the registers only
 * this path uses. */
__attribute__((noinline)) static int lookup_rest(const trie_reader_t *r, const trie_info_t *info,
                                                 flt_cache_t *c, const trie_top_t *top,
                                                 int walk_now, const char *prefix,
                                                 size_t prefix_len, size_t n, flt_filter_t *f,
                                                 trie_text_t *text, trie_hit_t *hits,
                                                 size_t *n_hits) {
  int rc;
  if (n <= info->k && !walk_now) {
    uint32_t dropped[N_COUNTS] = {0}; /* by VERDICT_* - VERDICT_KIND0 */
    size_t kept = 0, next = 0;
    while (kept < n && next < top->n) {
      /* the next candidates that may be kept, cached keeps and unjudged, up to n in all, at
       * hits[from ..] */
      size_t from = kept, n_want = 0, unjudged = 0;
      uint32_t want[TA_MAX_K];
      for (; next < top->n && kept + n_want < n; next++) {
        unsigned v = cached(c, top->ids[next]);
        if (v == VERDICT_KEEP || v == 0) {
          if (!top->at.heavy) hits[from + n_want] = top->hits[next];
          unjudged += v == 0;
          want[n_want++] = top->ids[next];
        } else {
          dropped[v - VERDICT_KIND0]++;
        }
      }
      if (kept + n_want < n && next == top->n && top->n == info->k) break; /* the walk runs */
      if (top->at.heavy &&
          (rc = trie_get_hits(r, top, prefix, want, n_want, text, hits + from)) != 0)
        return rc;
      if (unjudged == 0) { /* all known kept, in place */
        kept += n_want;
        continue;
      }
      for (size_t i = 0; i < n_want; i++)
        take(f->rs, c, cached(c, want[i]), &hits[from + i], hits, &kept, dropped);
    }
    if (kept == n || top->n < info->k) { /* n kept, or no more completions */
      for (int k = 0; k < FLT_KIND_COUNT; k++) f->suppressed[k] += dropped[k];
      f->unreadable += dropped[FLT_KIND_COUNT];
      *n_hits = kept;
      return 0;
    }
  }
  return walk(r, c, top, prefix, prefix_len, n, f, text, hits, n_hits);
}

/* 1 when c may serve lookups in r: made for rs and this trie's size, and bound to this trie
 * (bound now when it is bound to none yet). */
static int cache_fits(flt_cache_t *c, const flt_ruleset_t *rs, const trie_info_t *info) {
  if (c == NULL || c->rs != rs || c->n_ids != info->num_queries) return 0;
  uint64_t tag = (uint64_t)info->file_crc + 1, was = 0;
  if (atomic_load_explicit(&c->trie_tag, memory_order_relaxed) == tag) return 1;
  if (atomic_compare_exchange_strong_explicit(&c->trie_tag, &was, tag, memory_order_relaxed,
                                              memory_order_relaxed))
    return 1;
  return was == tag;
}

int flt_cache_prefill(flt_cache_t *cache, const trie_reader_t *r, uint64_t max_ids) {
  if (cache == NULL || r == NULL) return TA_EINVAL;
  trie_info_t info;
  int rc = trie_get_info(r, &info);
  if (rc != 0) return rc;
  if (!cache_fits(cache, cache->rs, &info)) return TA_EINVAL;
  uint64_t n = info.num_queries < max_ids ? info.num_queries : max_ids;
  if (n > FLT_PREFILL_IDS) n = FLT_PREFILL_IDS;
  trie_text_t *text = NULL;
  if ((rc = trie_text_new(&text)) != 0) return rc;
  for (uint32_t id = 0; rc == 0 && id < n; id++) {
    trie_hit_t hit;
    if (cached(cache, id)) continue;
    trie_text_reset(text); /* judged, the text is not needed again */
    if ((rc = trie_get_hit(r, id, text, &hit)) == 0) judge(cache->rs, cache, &hit);
  }
  trie_text_free(text);
  return rc;
}

/* flt_lookup with rules, when the cache's verdicts cannot pick the answer from the stored top-k
 * (n past the file's k, no cache that fits) or did not (top: the stored top-k, when the walk
 * down the prefix ran; NULL: not yet). Not inlined, as lookup_rest. */
__attribute__((noinline)) static int lookup_slow(const trie_reader_t *r, const trie_info_t *info,
                                                 flt_cache_t *c, const trie_top_t *top,
                                                 int walk_now, const char *prefix,
                                                 size_t prefix_len, size_t n, flt_filter_t *f,
                                                 trie_text_t *text, trie_hit_t *hits,
                                                 size_t *n_hits) {
  trie_top_t own;
  int rc;
  if (top == NULL && n <= TA_MAX_K) {
    rc = trie_lookup_top(r, prefix, prefix_len, text, &own);
    if (rc != 0 || own.at.node == 0) return rc; /* nothing starts with prefix */
    top = &own;
  }
  /* flt_keep reads the cache from f: the walk must not use a cache that does not fit either */
  flt_cache_t *given = f->cache;
  f->cache = c;
  if (n > TA_MAX_K)
    rc = trie_lookup_filtered(r, prefix, prefix_len, n, flt_keep, f, text, hits, n_hits);
  else
    rc = lookup_rest(r, info, c, top, walk_now, prefix, prefix_len, n, f, text, hits, n_hits);
  f->cache = given;
  return rc;
}

int flt_lookup(const trie_reader_t *r, const char *prefix, size_t prefix_len, size_t n,
               flt_filter_t *f, trie_text_t *text, trie_hit_t *hits, size_t *n_hits) {
  if (r == NULL || f == NULL || n_hits == NULL || (n != 0 && (hits == NULL || text == NULL)))
    return TA_EINVAL;
  *n_hits = 0;
  const trie_info_t *info = trie_info(r);
  if (f->rs == NULL || f->rs->n_rules == 0) {
    if (n <= info->k) return trie_lookup(r, prefix, prefix_len, (unsigned)n, text, hits, n_hits);
    return trie_lookup_filtered(r, prefix, prefix_len, n, flt_keep, f, text, hits, n_hits);
  }
  if (n == 0) return 0;
  flt_cache_t *c = cache_fits(f->cache, f->rs, info) ? f->cache : NULL;
  /* the file's k is at most TA_MAX_K (trie_open refuses more), so n <= k fits top and the memo */
  if (c == NULL || n > info->k)
    return lookup_slow(r, info, c, NULL, 0, prefix, prefix_len, n, f, text, hits, n_hits);
  /* The stored top-k ids, best first, from one walk (a light answer node's with their hits: its
   * scan makes the texts as cheaply). Most answers are the first n kept of them by the cached
   * verdicts alone (pick_known), their hits made in that walk; else lookup_slow. */
  trie_top_t top;
  known_t q = {.kept = c->kept, .c = c, .n = n, .k = info->k, .f = f};
  int rc = trie_lookup_top_pick(r, prefix, prefix_len, pick_known, &q, text, &top, hits, n_hits);
  if (rc != 0 || top.made || top.at.node == 0) return rc; /* picked, or nothing to pick */
  return lookup_slow(r, info, c, &top, q.walk, prefix, prefix_len, n, f, text, hits, n_hits);
}
