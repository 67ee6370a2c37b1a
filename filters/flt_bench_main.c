/*
 * flt-bench: the in-process lookup benchmark of the blocklist filter layer (run by
 * tests/bench/bench-filters; not installed). For every prefix of a file it times, in interleaved
 * rounds so that a noisy machine hurts each configuration alike:
 *   plain     trie_lookup (what a server without rules could do),
 *   empty     flt_lookup with an empty rule set,
 *   rules     flt_lookup with the rules of --filters (no cache),
 *   cached    the same with a verdict cache (flt_cache_t) made and prefilled once, before the
 *             first round, as typeahead-serve makes it for a rule set and a trie,
 *   cold      the same with a new, empty cache each round: what the first requests after a
 *             change would pay without the prefill,
 * and prints one line per configuration: median, mean and p99 ns per lookup, and hits; then the
 * ratio cached / plain of each round.
 * Each round times each configuration twice over the prefixes: in batches of BATCH lookups with
 * one clock reading per batch (the median of the batches' ns per lookup, and the mean: a single
 * lookup takes about 200 ns and this machine's clock moves in steps of 10 ns, too coarse for a
 * median of single timings to tell 1.15x from 1.25x), then one lookup at a time (the p99).
 * A lookup finds in the CPU's caches what the configuration before it left (the same prefix's
 * nodes, or the rules' tables when that was rules), so the order changes from round to round:
 * round r runs configuration (r mod 5 + step * m) mod 5 at each step, m = 1 + (r / 5) mod 4.
 * Within a round every configuration runs once, and with --rounds a multiple of 20 each follows
 * each other one equally often (a plain rotation, m = 1 always, would put rules before cached
 * and cold before plain in four rounds of five). The ratio of a round compares two
 * configurations timed moments apart, so the median of the rounds' ratios is steadier than the
 * ratio of two medians when the machine's speed drifts.
 * With --blocked it times nothing: it prints each line of FILE (one query a line) that the rules
 * block, as KIND<TAB>QUERY, to compare what two rule sets or two matchers block.
 *
 *   flt-bench --trie FILE --prefixes FILE --filters RULES [--n 5] [--rounds 5]
 *   flt-bench --filters RULES --blocked FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flt.h"

enum { PLAIN, EMPTY, RULES, CACHED, COLD, N_CONF };
enum { BATCH = 32 }; /* lookups per clock reading in the batched pass */
static const char *const conf_name[N_CONF] = {"plain", "empty", "rules", "cached", "cold"};

typedef struct {
  ta_buf_t keys; /* the keys, back to back */
  struct {
    size_t off, len;
  } * at; /* where key i is in keys */
  size_t n, cap;
} prefixes_t;

static int die(const char *what, int rc) {
  fprintf(stderr, "flt-bench: %s: %s\n", what, ta_strerror(rc));
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Reads one prefix a line and normalizes each as the server does a typed prefix (trie_norm_prefix:
 * "new " stays "new ", which trie_norm_key would trim to "new"). */
static int read_prefixes(const char *path, prefixes_t *p) {
  memset(p, 0, sizeof *p);
  FILE *f = fopen(path, "rb");
  if (f == NULL) return TA_ENOENT;
  char line[8192];
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    size_t ll = strcspn(line, "\r\n"), kl;
    if (p->n == p->cap && (rc = ta_grow((void **)&p->at, &p->cap, p->n + 1, sizeof *p->at, 1024)))
      break;
    if ((rc = ta_buf_reserve(&p->keys, TA_MAX_KEY + 1)) != 0) break;
    if (trie_norm_prefix(line, ll, p->keys.p + p->keys.len, TA_MAX_KEY + 1, &kl) != 0) continue;
    p->at[p->n].off = p->keys.len;
    p->at[p->n].len = kl;
    p->keys.len += kl;
    p->n++;
  }
  fclose(f);
  return rc;
}

/* --blocked: the lines of path the rules block. */
static int print_blocked(const flt_ruleset_t *rules, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return die(path, TA_ENOENT);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    size_t ll = strcspn(line, "\r\n");
    flt_kind_t kind = FLT_WORD;
    int rc = flt_match_text(rules, line, ll, &kind);
    if (rc != 0) printf("%s\t%.*s\n", rc < 0 ? "unreadable" : flt_kind_name(kind), (int)ll, line);
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  const char *trie_path = NULL, *prefix_path = NULL, *rules_path = NULL, *blocked_path = NULL;
  unsigned n = 5, rounds = 5;
  int bad = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--trie") && i + 1 < argc)
      trie_path = argv[++i];
    else if (!strcmp(argv[i], "--prefixes") && i + 1 < argc)
      prefix_path = argv[++i];
    else if (!strcmp(argv[i], "--filters") && i + 1 < argc)
      rules_path = argv[++i];
    else if (!strcmp(argv[i], "--blocked") && i + 1 < argc)
      blocked_path = argv[++i];
    else if (!strcmp(argv[i], "--n") && i + 1 < argc)
      bad |= ta_parse_uint(argv[++i], 1, TA_MAX_K, &n) != 0;
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      bad |= ta_parse_uint(argv[++i], 1, 1000000, &rounds) != 0;
    else {
      fprintf(stderr,
              "usage: flt-bench --trie FILE --prefixes FILE --filters RULES "
              "[--n 5] [--rounds 5]\n       flt-bench --filters RULES --blocked FILE\n");
      return 2;
    }
  }
  if (rules_path && blocked_path) {
    flt_ruleset_t *rs = NULL;
    ta_diag_t err;
    if (flt_compile_file(rules_path, &rs, &err) != 0) {
      fprintf(stderr, "flt-bench: %s:%u: %s\n", rules_path, (unsigned)err.line, err.msg);
      return 1;
    }
    int rc = print_blocked(rs, blocked_path);
    flt_ruleset_free(rs);
    return rc;
  }
  if (!trie_path || !prefix_path || !rules_path || bad) {
    fprintf(stderr, "flt-bench: --trie, --prefixes and --filters are required; n is 1..%u\n",
            TA_MAX_K);
    return 2;
  }
  trie_reader_t *r = NULL;
  int rc = trie_open(trie_path, &r);
  if (rc) return die(trie_path, rc);
  flt_ruleset_t *rules = NULL, *empty = NULL;
  ta_diag_t err;
  rc = flt_compile_file(rules_path, &rules, &err);
  if (rc) {
    fprintf(stderr, "flt-bench: %s:%u: %s\n", rules_path, (unsigned)err.line, err.msg);
    return 1;
  }
  if ((rc = flt_ruleset_empty(&empty))) return die("empty rule set", rc);
  prefixes_t p;
  if ((rc = read_prefixes(prefix_path, &p))) return die(prefix_path, rc);
  if (p.n == 0) return die(prefix_path, TA_EEMPTY);

  size_t total = p.n * (size_t)rounds, n_batches = (p.n + BATCH - 1) / BATCH;
  uint64_t *ns[N_CONF], batch_sum[N_CONF] = {0};
  double *batch[N_CONF], *round_median = malloc(rounds * N_CONF * sizeof *round_median);
  uint64_t hits_total[N_CONF] = {0}, suppressed[N_CONF] = {0};
  if (round_median == NULL) return die("timings", TA_ENOMEM);
  for (int c = 0; c < N_CONF; c++) {
    ns[c] = malloc(total * sizeof **ns);
    batch[c] = malloc(n_batches * rounds * sizeof **batch);
    if (ns[c] == NULL || batch[c] == NULL) return die("timings", TA_ENOMEM);
  }
  trie_info_t info;
  if ((rc = trie_get_info(r, &info))) return die("trie info", rc);
  flt_cache_t *cache = NULL, *cold = NULL;
  if ((rc = flt_cache_new(rules, info.num_queries, &cache))) return die("cache", rc);
  if ((rc = flt_cache_prefill(cache, r, FLT_PREFILL_IDS))) return die("prefill", rc);
  trie_hit_t hits[TA_MAX_K];
  trie_text_t *text = NULL; /* reset per lookup, as a server resets it per request */
  if ((rc = trie_text_new(&text))) return die("text scratch", rc);
  for (unsigned round = 0; round < rounds; round++) {
    for (int step = 0; step < N_CONF; step++) {
      unsigned m = 1 + (round / N_CONF) % (N_CONF - 1); /* coprime with N_CONF (prime) */
      int c = (int)((round % N_CONF + (unsigned)step * m) % N_CONF);
      for (int pass = 0; pass < 2; pass++) { /* 0: batches of BATCH, 1: one lookup at a time */
        if (c == COLD) {
          flt_cache_free(cold);
          if ((rc = flt_cache_new(rules, info.num_queries, &cold))) return die("cache", rc);
        }
        double *bt = batch[c] + (size_t)round * n_batches;
        for (size_t b0 = 0; b0 < p.n; b0 += BATCH) {
          size_t b1 = b0 + BATCH < p.n ? b0 + BATCH : p.n;
          uint64_t t0 = ta_mono_ns(), t1 = t0;
          for (size_t i = b0; i < b1; i++) {
            const char *key = p.keys.p + p.at[i].off;
            size_t n_hits = 0;
            flt_filter_t f = {.rs = c >= RULES ? rules : empty,
                              .cache = c == CACHED ? cache
                                       : c == COLD ? cold
                                                   : NULL};
            trie_text_reset(text);
            if (c == PLAIN)
              rc = trie_lookup(r, key, p.at[i].len, n, text, hits, &n_hits);
            else
              rc = flt_lookup(r, key, p.at[i].len, n, &f, text, hits, &n_hits);
            if (pass == 1) {
              uint64_t t2 = ta_mono_ns();
              ns[c][(size_t)round * p.n + i] = t2 - t1;
              t1 = t2;
            }
            if (rc) return die("lookup", rc);
            if (pass == 1) continue;
            hits_total[c] += n_hits;
            if (c >= RULES)
              for (int k = 0; k < FLT_KIND_COUNT; k++) suppressed[c] += f.suppressed[k];
          }
          if (pass == 0) {
            uint64_t d = ta_mono_ns() - t0;
            batch_sum[c] += d;
            bt[b0 / BATCH] = (double)d / (double)(b1 - b0);
          }
        }
        if (pass == 0) {
          double *sorted = malloc(n_batches * sizeof *sorted);
          if (sorted == NULL) return die("timings", TA_ENOMEM);
          memcpy(sorted, bt, n_batches * sizeof *sorted);
          qsort(sorted, n_batches, sizeof *sorted, cmp_double);
          round_median[round * N_CONF + (unsigned)c] = sorted[n_batches / 2];
          free(sorted);
        }
      }
    }
  }
  printf("prefixes=%zu rounds=%u n=%u rules=%zu batch=%u\n", p.n, rounds, n, flt_rule_count(rules),
         (unsigned)BATCH);
  for (int c = 0; c < N_CONF; c++) {
    size_t nb = n_batches * rounds;
    qsort(batch[c], nb, sizeof **batch, cmp_double);
    qsort(ns[c], total, sizeof **ns, cmp_u64);
    printf("%s median_ns=%.1f mean_ns=%.1f p99_ns=%llu hits=%llu", conf_name[c], batch[c][nb / 2],
           (double)batch_sum[c] / (double)total, (unsigned long long)ns[c][total * 99 / 100],
           (unsigned long long)hits_total[c]);
    if (c >= RULES) printf(" suppressed=%llu", (unsigned long long)suppressed[c]);
    printf("\n");
    free(ns[c]);
    free(batch[c]);
  }
  printf("ratio_cached_plain_by_round=");
  for (unsigned round = 0; round < rounds; round++)
    printf("%s%.3f", round ? "," : "",
           round_median[round * N_CONF + CACHED] / round_median[round * N_CONF + PLAIN]);
  printf("\n");
  free(round_median);
  ta_buf_free(&p.keys);
  free(p.at);
  flt_cache_free(cache);
  flt_cache_free(cold);
  trie_text_free(text);
  flt_ruleset_free(rules);
  flt_ruleset_free(empty);
  trie_close(r);
  return 0;
}
