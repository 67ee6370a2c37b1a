/*
 * ta_bench_typos: the measurements behind tests/bench/bench-typos (SPEC §15).
 *
 *   ta_bench_typos speed --trie FILE --queries FILE [--n 100000] [--seed S]
 *   ta_bench_typos quality --trie FILE --events FILE [--k 5] [--max-len 8] [--seed S]
 *
 * speed: the word index's build time and size; then n prefixes cut from the queries (one raw
 * query a line) at a random length, as users type them, k = 10, each timed alone: the exact
 * lookup (the same-run reference), typos=auto on the prefix with one random edit (insert,
 * delete, substitute or swap, never the first code point), and word lookups on the words of a
 * query of two words or more in another order, the last one cut (then the same word lookups
 * again one after another, as jermp's conjunctive loop runs them). Prints TSV: what, samples,
 * mean ns, p50 ns, p99 ns, share of lookups with an answer.
 * quality: as ta-eval quality (bench-quality), for prefix lengths L = 4..max-len code points:
 * success@k and MRR of the clean prefix (exact lookup), of the prefix with one random edit
 * (exact lookup only: what a typo costs without typo matching) and of the same edited prefix
 * with typos=auto. Prints TSV rows per L and a total.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trie.h"

#define MAXCP 128

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Code point boundaries of s: ends[i] = byte end of code point i. */
static unsigned cp_ends(const char *s, size_t len, size_t *ends) {
  unsigned n = 0;
  for (size_t i = 0; i < len && n < MAXCP; i++)
    if (i + 1 == len || ((unsigned char)s[i + 1] & 0xc0) != 0x80) ends[n++] = i + 1;
  return n;
}

/* One random edit of key[0..len) after its first code point into out; its length. Letters
 * inserted or substituted come from the key's own alphabet neighbourhood: a-z. */
static size_t edit_one(uint64_t *st, const char *key, size_t len, char *out) {
  size_t ends[MAXCP];
  unsigned n = cp_ends(key, len, ends);
  if (n < 2) {
    memcpy(out, key, len);
    return len;
  }
  unsigned kind = (unsigned)(rng(st) % 4), at = 1 + (unsigned)(rng(st) % (n - 1));
  if (kind == 3 && n < 3) kind = 2; /* a swap needs two code points after the first */
  if (kind == 3 && at + 1 >= n) at = n - 2;
  char letter = (char)('a' + rng(st) % 26);
  size_t s = ends[at - 1], e = ends[at], o = 0;
  memcpy(out, key, s);
  o = s;
  if (kind == 0) { /* insert before code point at */
    out[o++] = letter;
    memcpy(out + o, key + s, len - s);
    return o + len - s;
  }
  if (kind == 1) { /* delete it */
    memcpy(out + o, key + e, len - e);
    return o + len - e;
  }
  if (kind == 2) { /* substitute it */
    out[o++] = letter == key[s] ? (char)(letter == 'z' ? 'a' : letter + 1) : letter;
    memcpy(out + o, key + e, len - e);
    return o + len - e;
  }
  size_t e2 = ends[at + 1 < n ? at + 1 : at]; /* swap code points at and at + 1 */
  if (e2 == e) {
    memcpy(out, key, len);
    return len;
  }
  memcpy(out + o, key + e, e2 - e);
  o += e2 - e;
  memcpy(out + o, key + s, e - s);
  o += e - s;
  memcpy(out + o, key + e2, len - e2);
  return o + len - e2;
}

typedef struct {
  char **v;
  size_t n;
} lines_t;

/* The normalized keys of a file's lines (invalid or empty ones skipped). */
static int read_keys(const char *path, lines_t *out) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  char *line = NULL, key[TA_MAX_KEY + 1];
  size_t cap = 0, vcap = 0;
  ssize_t got;
  int rc = 0;
  out->v = NULL;
  out->n = 0;
  while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
    size_t kl;
    if (trie_norm_key(line, (size_t)got, key, sizeof key, &kl) != 0 || kl == 0) continue;
    if ((rc = ta_grow((void **)&out->v, &vcap, out->n + 1, sizeof *out->v, 1024)) != 0) break;
    if ((out->v[out->n] = strndup(key, kl)) == NULL)
      rc = TA_ENOMEM;
    else
      out->n++;
  }
  free(line);
  fclose(f);
  return rc == 0 ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void report(const char *what, uint64_t *ns, size_t n, size_t answered) {
  if (n == 0) {
    printf("%s\t0\t-\t-\t-\t-\n", what);
    return;
  }
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)ns[i];
  qsort(ns, n, sizeof *ns, cmp_u64);
  printf("%s\t%zu\t%.0f\t%llu\t%llu\t%.3f\n", what, n, sum / (double)n,
         (unsigned long long)ns[n / 2], (unsigned long long)ns[(size_t)((double)n * 0.99)],
         (double)answered / (double)n);
}

/* The scratch of the lookups' texts (trie.h), reset before each lookup: none keeps its hits
 * past the next. */
static trie_text_t *text;

static int speed(trie_reader_t *r, const lines_t *q, size_t n, uint64_t seed) {
  uint64_t t0 = now_ns();
  trie_words_t *w = NULL;
  if (trie_words_build(r, &w) != 0) return 1;
  uint64_t t1 = now_ns();
  trie_info_t info;
  trie_get_info(r, &info);
  printf("# word index: %.1f ms to build, %zu bytes (%.1f per query), %llu queries\n",
         (double)(t1 - t0) / 1e6, trie_words_bytes(w),
         (double)trie_words_bytes(w) / (double)(info.num_queries ? info.num_queries : 1),
         (unsigned long long)info.num_queries);
  uint64_t *ns_exact = malloc(n * sizeof *ns_exact), *ns_typo = malloc(n * sizeof *ns_typo),
           *ns_words = malloc(n * sizeof *ns_words), *ns_words_b2b = malloc(n * sizeof *ns_words);
  /* the word queries again afterwards, one after another (jermp's conjunctive loop runs so): here
   * each follows an exact and a typo lookup, whose cache misses it pays for */
  char **word_q = calloc(n, sizeof *word_q);
  size_t *word_cut = malloc(n * sizeof *word_cut);
  /* the typo lookups again, by the edits auto allows (0, 1, 2): where the time goes */
  uint64_t *ns_by[TRIE_MAX_TYPOS + 1];
  size_t n_by[TRIE_MAX_TYPOS + 1] = {0}, a_by[TRIE_MAX_TYPOS + 1] = {0};
  for (unsigned e = 0; e <= TRIE_MAX_TYPOS; e++) ns_by[e] = malloc(n * sizeof **ns_by);
  size_t n_words = 0, a_exact = 0, a_typo = 0, a_words = 0;
  uint64_t st = seed;
  trie_match_opts_t typo_opts = {TRIE_TYPOS_AUTO, NULL}, exact_opts = {0, NULL};
  trie_match_t m[10];
  for (size_t i = 0; i < n; i++) {
    const char *key = q->v[rng(&st) % q->n];
    size_t len = strlen(key), ends[MAXCP];
    unsigned ncp = cp_ends(key, len, ends);
    size_t pl = ends[rng(&st) % ncp];
    char p[TA_MAX_KEY + 8];
    size_t got = 0;
    uint64_t a = now_ns();
    trie_text_reset(text);
    trie_lookup_match(r, key, pl, &exact_opts, 10, NULL, NULL, text, m, &got);
    ns_exact[i] = now_ns() - a;
    a_exact += got > 0;
    size_t el = edit_one(&st, key, pl, p);
    a = now_ns();
    trie_text_reset(text);
    trie_lookup_match(r, p, el, &typo_opts, 10, NULL, NULL, text, m, &got);
    ns_typo[i] = now_ns() - a;
    a_typo += got > 0;
    unsigned allowed = trie_typos_auto(p, el);
    ns_by[allowed][n_by[allowed]++] = ns_typo[i];
    a_by[allowed] += got > 0;
    /* words: a query of two words or more, its words reversed, the last one cut */
    const char *sp = memchr(key, ' ', len);
    if (sp == NULL) continue;
    size_t wl = 0;
    for (size_t e = len; e > 0;) {
      size_t s = e;
      while (s > 0 && key[s - 1] != ' ') s--;
      if (wl) p[wl++] = ' ';
      memcpy(p + wl, key + s, e - s);
      wl += e - s;
      e = s > 0 ? s - 1 : 0;
    }
    size_t wends[MAXCP];
    unsigned wcp = cp_ends(p, wl, wends);
    size_t cut = wends[wcp - 1 - (unsigned)(rng(&st) % (wcp > 3 ? 3 : wcp))];
    while (cut > 0 && p[cut - 1] == ' ') cut--;
    word_q[n_words] = strndup(p, cut);
    word_cut[n_words] = cut;
    a = now_ns();
    trie_text_reset(text);
    trie_lookup_words(r, w, p, cut, 10, NULL, NULL, text, m, &got);
    ns_words[n_words++] = now_ns() - a;
    a_words += got > 0;
  }
  size_t a_words_b2b = 0;
  for (size_t i = 0; i < n_words; i++) {
    size_t got = 0;
    uint64_t a = now_ns();
    trie_text_reset(text);
    trie_lookup_words(r, w, word_q[i], word_cut[i], 10, NULL, NULL, text, m, &got);
    ns_words_b2b[i] = now_ns() - a;
    a_words_b2b += got > 0;
    free(word_q[i]);
  }
  printf("# what\tsamples\tmean_ns\tp50_ns\tp99_ns\tanswered\n");
  report("exact prefix (reference)", ns_exact, n, a_exact);
  report("typos=auto, one edit", ns_typo, n, a_typo);
  static const char *const by_name[TRIE_MAX_TYPOS + 1] = {
      "- of which 0 edits allowed (1-3 code points)", "- of which 1 edit allowed (4-7)",
      "- of which 2 edits allowed (8 or more)"};
  for (unsigned e = 0; e <= TRIE_MAX_TYPOS; e++) {
    report(by_name[e], ns_by[e], n_by[e], a_by[e]);
    free(ns_by[e]);
  }
  report("words, reordered", ns_words, n_words, a_words);
  report("words, reordered, back to back", ns_words_b2b, n_words, a_words_b2b);
  free(ns_exact);
  free(ns_typo);
  free(ns_words);
  free(ns_words_b2b);
  free(word_q);
  free(word_cut);
  trie_words_free(w);
  return 0;
}

/* 1/position of key among the suggestions (0: absent). */
static double rank_of(const trie_match_t *m, size_t n, const char *key) {
  char k2[TA_MAX_KEY + 1];
  for (size_t i = 0; i < n; i++) {
    size_t kl;
    if (trie_norm_key(m[i].hit.text, m[i].hit.text_len, k2, sizeof k2, &kl) == 0 &&
        kl == strlen(key) && memcmp(k2, key, kl) == 0)
      return 1.0 / (double)(i + 1);
  }
  return 0;
}

static int quality(trie_reader_t *r, const lines_t *ev, unsigned k, unsigned max_len,
                   uint64_t seed) {
  enum { CLEAN, EDIT_EXACT, EDIT_AUTO, NSET };
  static const char *names[NSET] = {"clean, exact", "one edit, exact only", "one edit, typos=auto"};
  double hits[MAXCP][NSET] = {{0}}, rr[MAXCP][NSET] = {{0}};
  uint64_t events[MAXCP] = {0};
  uint64_t st = seed;
  trie_match_opts_t exact = {0, NULL}, autot = {TRIE_TYPOS_AUTO, NULL};
  trie_match_t m[TA_MAX_K];
  for (size_t i = 0; i < ev->n; i++) {
    const char *key = ev->v[i];
    size_t len = strlen(key), ends[MAXCP];
    unsigned ncp = cp_ends(key, len, ends);
    for (unsigned L = 4; L <= max_len && L <= ncp; L++) {
      char p[TA_MAX_KEY + 8];
      size_t pl = ends[L - 1], el = edit_one(&st, key, pl, p), got;
      events[L]++;
      double x;
      trie_text_reset(text); /* each answer is ranked before the next lookup */
      trie_lookup_match(r, key, pl, &exact, k, NULL, NULL, text, m, &got);
      x = rank_of(m, got, key);
      hits[L][CLEAN] += x > 0, rr[L][CLEAN] += x;
      trie_lookup_match(r, p, el, &exact, k, NULL, NULL, text, m, &got);
      x = rank_of(m, got, key);
      hits[L][EDIT_EXACT] += x > 0, rr[L][EDIT_EXACT] += x;
      trie_lookup_match(r, p, el, &autot, k, NULL, NULL, text, m, &got);
      x = rank_of(m, got, key);
      hits[L][EDIT_AUTO] += x > 0, rr[L][EDIT_AUTO] += x;
    }
  }
  printf("# len\tevents");
  for (int s = 0; s < NSET; s++) printf("\tS@%u %s\tMRR %s", k, names[s], names[s]);
  printf("\n");
  double th[NSET] = {0}, tr[NSET] = {0};
  uint64_t te = 0;
  for (unsigned L = 4; L <= max_len; L++) {
    if (events[L] == 0) continue;
    te += events[L];
    printf("%u\t%llu", L, (unsigned long long)events[L]);
    for (int s = 0; s < NSET; s++) {
      printf("\t%.4f\t%.4f", hits[L][s] / (double)events[L], rr[L][s] / (double)events[L]);
      th[s] += hits[L][s];
      tr[s] += rr[L][s];
    }
    printf("\n");
  }
  printf("all\t%llu", (unsigned long long)te);
  for (int s = 0; s < NSET; s++)
    printf("\t%.4f\t%.4f", th[s] / (double)(te ? te : 1), tr[s] / (double)(te ? te : 1));
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  const char *trie = NULL, *file = NULL;
  unsigned long n = 100000, k = 5, max_len = 8;
  uint64_t seed = 42;
  if (argc < 2) goto usage;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--trie"))
      trie = argv[i + 1];
    else if (!strcmp(argv[i], "--queries") || !strcmp(argv[i], "--events"))
      file = argv[i + 1];
    else if (!strcmp(argv[i], "--n"))
      n = strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--k"))
      k = strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--max-len"))
      max_len = strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(argv[i + 1], NULL, 10);
    else
      goto usage;
  }
  if (trie == NULL || file == NULL || n == 0 || k == 0 || k > TA_MAX_K || max_len >= MAXCP)
    goto usage;
  trie_reader_t *r;
  int rc = trie_open(trie, &r);
  if (rc != 0) {
    fprintf(stderr, "ta_bench_typos: %s: %s\n", trie, ta_strerror(rc));
    return 1;
  }
  lines_t q;
  if (read_keys(file, &q) != 0 || q.n == 0) {
    fprintf(stderr, "ta_bench_typos: %s: no queries\n", file);
    return 1;
  }
  if (trie_text_new(&text) != 0) {
    fprintf(stderr, "ta_bench_typos: %s\n", ta_strerror(TA_ENOMEM));
    return 1;
  }
  rc = !strcmp(argv[1], "speed")     ? speed(r, &q, n, seed)
       : !strcmp(argv[1], "quality") ? quality(r, &q, (unsigned)k, (unsigned)max_len, seed)
                                     : 2;
  trie_text_free(text);
  for (size_t i = 0; i < q.n; i++) free(q.v[i]);
  free(q.v);
  trie_close(r);
  if (rc != 2) return rc;
usage:
  fprintf(stderr,
          "usage: ta_bench_typos speed --trie FILE --queries FILE [--n N] [--seed S]\n"
          "       ta_bench_typos quality --trie FILE --events FILE [--k 5] [--max-len 8]\n");
  return 2;
}
