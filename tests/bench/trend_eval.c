/*
 * ta-trend-eval: the trending bench's evaluator (tests/bench/bench-trending; docs/TRENDING.md
 * "Measured"). Replays timed query events hour by hour, as the trending job would see them:
 *
 *   ta-trend-eval quality --trie MAIN --events FILE --test-from TIME [--slots 2] [--k 5]
 *   ta-trend-eval latency --trie MAIN --trending FILE --events FILE --test-from TIME
 *
 * --events: "unix_seconds<TAB>query" lines in time order (every event, training ones too).
 * quality: at each hour T from --test-from on, the trending candidates are scored from the
 * events before T with the builder's own rule (bld_trend_rule_default, bld_trend_hour_weight,
 * bld_trend_score: the code of typeahead-build --trending; baseline: the weekly counts of the
 * weeks before the window, as the week tables hold them), at most BLD_TREND_MAX_KEYS of them.
 * Each event of hour T is then scored for prefix lengths 1..8 (code points of its key) as
 * ta-eval quality does, with the regular top k of MAIN, and with trie_mix(regular, the
 * prefix's trending top k, slots). Rows: all events, and "rising" ones (count in the 24 hours
 * before T at least 1 and at least 3x the query's average daily count before --test-from).
 * --floor, --ratio, --half-life change the rule's min_events, min_ratio, half_life (a sweep).
 * latency: ns per lookup of MAIN alone against MAIN + the trending trie FILE (behind its
 * key-head screen, as the server does) + trie_mix, over the test events' prefixes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bld.h"
#include "trie.h"

#define MAX_LEN 8
#define MAX_K 32
#define TRAIN_WEEKS_MAX 64

typedef struct {
  int64_t t;
  uint32_t key;
} event_t;

typedef struct {
  char *text; /* the key */
  size_t len;
  uint32_t week[TRAIN_WEEKS_MAX]; /* counts per week since the first event's week */
  uint32_t train;                 /* events before --test-from */
  double recent, raw;             /* the current window */
  int touched;
} qkey_t;

static qkey_t *keys;
static size_t n_keys, keys_cap;
static uint32_t *ktab;  /* open addressing: key index + 1, 0 empty */
static size_t ktab_cap; /* power of two */

/* The scratch of the lookups' texts (trie.h), reset before each lookup: none keeps its hits
 * past the next. */
static trie_text_t *text;

static int intern(const char *k, size_t len, uint32_t *id) {
  if ((n_keys + 1) * 2 > ktab_cap) {
    size_t nc = ktab_cap ? ktab_cap * 2 : 1 << 16;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return TA_ENOMEM;
    for (size_t i = 0; i < n_keys; i++) {
      size_t j = ta_hash64(keys[i].text, keys[i].len, 0) & (nc - 1);
      while (ns[j]) j = (j + 1) & (nc - 1);
      ns[j] = (uint32_t)i + 1;
    }
    free(ktab);
    ktab = ns;
    ktab_cap = nc;
  }
  size_t j = ta_hash64(k, len, 0) & (ktab_cap - 1);
  for (; ktab[j]; j = (j + 1) & (ktab_cap - 1)) {
    qkey_t *e = &keys[ktab[j] - 1];
    if (e->len == len && memcmp(e->text, k, len) == 0) {
      *id = ktab[j] - 1;
      return 0;
    }
  }
  int rc = ta_grow((void **)&keys, &keys_cap, n_keys + 1, sizeof *keys, 1024);
  if (rc) return rc;
  qkey_t *e = &keys[n_keys];
  memset(e, 0, sizeof *e);
  if (!(e->text = malloc(len ? len : 1))) return TA_ENOMEM;
  memcpy(e->text, k, len);
  e->len = len;
  ktab[j] = (uint32_t)n_keys + 1;
  *id = (uint32_t)n_keys++;
  return 0;
}

static int read_events(const char *path, event_t **out, size_t *n) {
  FILE *f = fopen(path, "r");
  if (!f) return TA_ENOENT;
  char *line = NULL, key[TA_MAX_KEY];
  size_t cap = 0, ecap = 0;
  ssize_t got;
  int rc = 0;
  *out = NULL;
  *n = 0;
  while (!rc && (got = getline(&line, &cap, f)) >= 0) {
    size_t len = (size_t)got, klen;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    char *tab = memchr(line, '\t', len);
    uint64_t t;
    if (!tab) continue;
    *tab = 0;
    if (ta_parse_u64(line, 0, INT64_MAX, &t) != 0) continue;
    if (trie_norm_key(tab + 1, len - (size_t)(tab + 1 - line), key, sizeof key, &klen) != 0 ||
        klen == 0)
      continue;
    if ((rc = ta_grow((void **)out, &ecap, *n + 1, sizeof **out, 4096))) break;
    (*out)[*n].t = (int64_t)t;
    rc = intern(key, klen, &(*out)[*n].key);
    (*n)++;
  }
  free(line);
  fclose(f);
  return rc;
}

/* ---- Trending candidates at an hour ------------------------------------------------------- */

typedef bld_trend_cand_t cand_t; /* id: the key's index */

/* The candidates of the hour that starts at hour T (events [lo, hi) are those of hours
 * T-window .. T-1), as typeahead-build --trending --now (T-1) would choose them from hour and
 * week tables holding exactly the events before T. Leaves recent/raw set for the keys of the
 * window (the caller clears them with clear_window). */
static size_t candidates(const bld_trend_rule_t *rule, const event_t *ev, size_t lo, size_t hi,
                         int64_t T, tbl_week_t first_week, cand_t *out) {
  int64_t now = T - 1;
  for (size_t i = lo; i < hi; i++) {
    qkey_t *k = &keys[ev[i].key];
    double w = bld_trend_hour_weight(rule, now - ev[i].t / 3600);
    k->recent += w;
    k->raw += w > 0;
    k->touched = 1;
  }
  tbl_week_t last = tbl_week_of_unix((now - (int64_t)rule->window_hours + 1) * 3600) - 1;
  tbl_week_t from = last - (tbl_week_t)BLD_TREND_BASE_WEEKS + 1;
  if (from < first_week) from = first_week;
  size_t n = 0;
  for (size_t i = lo; i < hi; i++) {
    qkey_t *k = &keys[ev[i].key];
    if (k->touched != 1) continue;
    k->touched = 2; /* scored once */
    double sum = 0;
    for (tbl_week_t w = from; w <= last; w++) sum += k->week[w - first_week];
    double per_hour = last >= from ? sum / ((double)(last - from + 1) * 168) : 0;
    double s = bld_trend_score(rule, k->recent, k->raw, per_hour);
    if (s > 0) out[n++] = (cand_t){ev[i].key, s};
  }
  return bld_trend_keep(out, n, BLD_TREND_MAX_KEYS);
}

static void clear_window(const event_t *ev, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++) {
    qkey_t *k = &keys[ev[i].key];
    k->recent = k->raw = 0;
    k->touched = 0;
  }
}

/* The trending top k of a prefix: the candidates (best first) whose key starts with it. */
static size_t trending_for(const cand_t *c, size_t nc, const char *p, size_t plen, unsigned k,
                           trie_hit_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < nc && n < k; i++) {
    const qkey_t *e = &keys[c[i].id];
    if (e->len >= plen && memcmp(e->text, p, plen) == 0)
      out[n++] =
          (trie_hit_t){.id = c[i].id, .score = c[i].score, .text = e->text, .text_len = e->len};
  }
  return n;
}

static size_t prefix_bytes(const char *s, size_t len, unsigned n) {
  size_t i = 0;
  unsigned seen = 0;
  for (; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == n) break;
  return i;
}

static unsigned count_cp(const char *s, size_t len) {
  unsigned n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* Rank (1-based) of key among hits (compared on the hits' keys), 0 when absent. */
static size_t rank_of(const qkey_t *key, const trie_hit_t *h, size_t n) {
  char hk[TA_MAX_KEY];
  size_t hl;
  for (size_t i = 0; i < n; i++)
    if (trie_norm_key(h[i].text, h[i].text_len, hk, sizeof hk, &hl) == 0 && hl == key->len &&
        memcmp(hk, key->text, hl) == 0)
      return i + 1;
  return 0;
}

typedef struct {
  uint64_t events[MAX_LEN + 1], hits[2][MAX_LEN + 1];
  double rr[2][MAX_LEN + 1];
} score_t;

static void print_rows(const char *what, const score_t *s) {
  printf("| %s | L | events | S@k without | S@k with | MRR without | MRR with | ratio |\n", what);
  printf("|---|---|---|---|---|---|---|---|\n");
  for (unsigned L = 1; L <= MAX_LEN; L++) {
    double n = s->events[L] ? (double)s->events[L] : 1;
    double a = s->rr[0][L] / n, b = s->rr[1][L] / n;
    printf("| | %u | %llu | %.4f | %.4f | %.4f | %.4f | %.3f |\n", L,
           (unsigned long long)s->events[L], s->hits[0][L] / n, s->hits[1][L] / n, a, b,
           a > 0 ? b / a : 0);
  }
  uint64_t e = 0;
  double h0 = 0, h1 = 0, r0 = 0, r1 = 0;
  for (unsigned L = 1; L <= MAX_LEN; L++) {
    e += s->events[L];
    h0 += s->hits[0][L];
    h1 += s->hits[1][L];
    r0 += s->rr[0][L];
    r1 += s->rr[1][L];
  }
  double n = e ? (double)e : 1;
  printf("| | 1-8 | %llu | %.4f | %.4f | %.4f | %.4f | %.3f |\n\n", (unsigned long long)e, h0 / n,
         h1 / n, r0 / n, r1 / n, r0 > 0 ? r1 / r0 : 0);
}

static void score_event(const trie_reader_t *main_trie, const qkey_t *key, const cand_t *c,
                        size_t nc, unsigned k, unsigned slots, score_t *s, double *mix_share) {
  trie_hit_t reg[MAX_K], tr[MAX_K], mixed[MAX_K];
  unsigned chars = count_cp(key->text, key->len);
  for (unsigned L = 1; L <= MAX_LEN && L <= chars; L++) {
    size_t plen = prefix_bytes(key->text, key->len, L), nr = 0, nt, nm = 0;
    trie_text_reset(text);
    if (trie_lookup(main_trie, key->text, plen, k, text, reg, &nr) != 0) nr = 0;
    nt = trending_for(c, nc, key->text, plen, k, tr);
    trie_mix(reg, nr, tr, nt, slots, k, mixed, NULL, &nm);
    size_t r0 = rank_of(key, reg, nr), r1 = rank_of(key, mixed, nm);
    s->events[L]++;
    if (r0) s->hits[0][L]++, s->rr[0][L] += 1.0 / (double)r0;
    if (r1) s->hits[1][L]++, s->rr[1][L] += 1.0 / (double)r1;
    mix_share[0] += 1;
    mix_share[1] += nt > 0;
  }
}

static int run_quality(const trie_reader_t *main_trie, const event_t *ev, size_t n, int64_t tf,
                       unsigned k, unsigned slots, bld_trend_rule_t rule) {
  tbl_week_t first_week = tbl_week_of_unix(ev[0].t);
  if (tbl_week_of_unix(ev[n - 1].t) - first_week >= TRAIN_WEEKS_MAX) return TA_ERANGE;
  double train_days = (double)(tf - tbl_week_start_unix(first_week)) / 86400.0;
  for (size_t i = 0; i < n && ev[i].t < tf; i++) keys[ev[i].key].train++;
  cand_t *c = malloc((n ? n : 1) * sizeof *c);
  if (!c) return TA_ENOMEM;
  static score_t all, rising;
  double share[2] = {0, 0}, share_r[2] = {0, 0};
  uint64_t hours = 0, cands = 0, n_rising = 0, n_test = 0;
  size_t added = 0, lo = 0, prev_lo = 0, prev_hi = 0, nc = 0;
  int64_t cur = INT64_MIN;
  for (size_t j = 0; j < n; j++) {
    if (ev[j].t < tf) continue;
    int64_t T = ev[j].t / 3600;
    if (T != cur) {
      while (added < n && ev[added].t / 3600 < T) {
        keys[ev[added].key].week[tbl_week_of_unix(ev[added].t) - first_week]++;
        added++;
      }
      while (lo < added && ev[lo].t / 3600 < T - (int64_t)rule.window_hours) lo++;
      clear_window(ev, prev_lo, prev_hi);
      nc = candidates(&rule, ev, lo, added, T, first_week, c);
      prev_lo = lo;
      prev_hi = added;
      cur = T;
      hours++;
      cands += nc;
    }
    const qkey_t *key = &keys[ev[j].key];
    n_test++;
    /* Rising (the definition): count in the previous 24 hours (the window) at least 3x
     * the average daily count before --test-from, and at least 1 (new queries: any). */
    int is_rising = key->raw >= 1 && key->raw >= 3.0 * key->train / train_days;
    score_event(main_trie, key, c, nc, k, slots, &all, share);
    if (is_rising) {
      n_rising++;
      score_event(main_trie, key, c, nc, k, slots, &rising, share_r);
    }
  }
  printf(
      "Test events: %llu over %llu hours, %llu rising (%.1f%%); trending candidates per hour: "
      "%.1f on average (at most %u); prefixes with a trending completion: %.1f%% (rising "
      "events: %.1f%%); k = %u, slots = %u.\n\n",
      (unsigned long long)n_test, (unsigned long long)hours, (unsigned long long)n_rising,
      n_test ? 100.0 * (double)n_rising / (double)n_test : 0.0,
      hours ? (double)cands / (double)hours : 0.0, BLD_TREND_MAX_KEYS,
      share[0] ? 100 * share[1] / share[0] : 0.0, share_r[0] ? 100 * share_r[1] / share_r[0] : 0.0,
      k, slots);
  print_rows("all events", &all);
  print_rows("rising events", &rising);
  free(c);
  return 0;
}

static int run_latency(const trie_reader_t *main_trie, const trie_reader_t *trend,
                       const event_t *ev, size_t n, int64_t tf, unsigned k, unsigned slots) {
  /* The test events' prefixes (1..8 code points), in event order. */
  size_t np = 0, cap = 0;
  struct pfx {
    const char *s;
    size_t len;
  } *p = NULL;
  for (size_t i = 0; i < n; i++) {
    if (ev[i].t < tf) continue;
    const qkey_t *key = &keys[ev[i].key];
    unsigned chars = count_cp(key->text, key->len);
    for (unsigned L = 1; L <= MAX_LEN && L <= chars; L++) {
      if (ta_grow((void **)&p, &cap, np + 1, sizeof *p, 4096)) return TA_ENOMEM;
      p[np++] = (struct pfx){key->text, prefix_bytes(key->text, key->len, L)};
    }
  }
  trie_hit_t reg[MAX_K], tr[MAX_K], mixed[MAX_K];
  /* the server's path (srv_trending.c): the trending trie's key-head screen first, its lookup
   * only when some key may start with the prefix */
  trie_screen_t *screen = NULL;
  int rc = trie_screen_build(trend, &screen);
  if (rc) {
    free(p);
    return rc;
  }
  size_t looked = 0, found = 0;
  for (size_t i = 0; i < np; i++) {
    size_t nt = 0;
    if (!trie_screen_may_start(screen, p[i].s, p[i].len)) continue;
    looked++;
    trie_text_reset(text);
    trie_lookup(trend, p[i].s, p[i].len, k, text, tr, &nt);
    found += nt > 0;
  }
  /* Modes: the regular lookup alone; + the screen and the trending lookup; + trie_mix when the
   * trending trie has completions (with none, the regular answer stands: a server skips the
   * mix). */
  double best[3] = {1e300, 1e300, 1e300};
  volatile size_t sink = 0;
  for (int round = 0; round < 5; round++) {
    for (int mode = 0; mode < 3; mode++) {
      uint64_t t0 = ta_mono_ns();
      for (size_t i = 0; i < np; i++) {
        size_t nr = 0, nt = 0, nm = 0;
        trie_text_reset(text);
        trie_lookup(main_trie, p[i].s, p[i].len, k, text, reg, &nr);
        if (mode > 0 && trie_screen_may_start(screen, p[i].s, p[i].len))
          trie_lookup(trend, p[i].s, p[i].len, k, text, tr, &nt);
        if (mode > 1 && nt > 0) {
          trie_mix(reg, nr, tr, nt, slots, k, mixed, NULL, &nm);
          nr = nm;
        }
        sink += nr + nt;
      }
      double ns = (double)(ta_mono_ns() - t0) / (double)(np ? np : 1);
      if (ns < best[mode]) best[mode] = ns;
    }
  }
  (void)sink;
  trie_screen_free(screen);
  printf(
      "Prefixes the screen lets through to the trending lookup: %.1f%%; with a trending "
      "completion: %.1f%%.\n\n",
      np ? 100.0 * (double)looked / (double)np : 0.0,
      np ? 100.0 * (double)found / (double)np : 0.0);
  printf(
      "| lookups | without trending (ns) | + screen, trending lookup (ns) | + trie_mix (ns) | "
      "ratio |\n"
      "|---|---|---|---|---|\n");
  printf("| %zu | %.0f | %.0f | %.0f | %.2f |\n\n", np, best[0], best[1], best[2],
         best[2] / best[0]);
  free(p);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "", *trie = NULL, *trend = NULL, *events = NULL,
             *from = NULL;
  unsigned k = 5, slots = 2;
  bld_trend_rule_t rule; /* the builder's, unless a sweep changes a field */
  bld_trend_rule_default(&rule);
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--trie"))
      trie = argv[i + 1];
    else if (!strcmp(argv[i], "--trending"))
      trend = argv[i + 1];
    else if (!strcmp(argv[i], "--events"))
      events = argv[i + 1];
    else if (!strcmp(argv[i], "--test-from"))
      from = argv[i + 1];
    else if (!strcmp(argv[i], "--floor") && !ta_parse_double(argv[i + 1], 0, 1e9, &rule.min_events))
      continue;
    else if (!strcmp(argv[i], "--ratio") && !ta_parse_double(argv[i + 1], 0, 1e9, &rule.min_ratio))
      continue;
    else if (!strcmp(argv[i], "--half-life") &&
             !ta_parse_double(argv[i + 1], 0.01, 1e9, &rule.half_life))
      continue;
    else if (!strcmp(argv[i], "--k") && !ta_parse_uint(argv[i + 1], 1, MAX_K, &k))
      continue;
    else if (!strcmp(argv[i], "--slots") && !ta_parse_uint(argv[i + 1], 0, MAX_K, &slots))
      continue;
    else
      trie = NULL, i = argc;
  }
  int64_t tf;
  int lat = !strcmp(mode, "latency");
  if (!trie || !events || !from || (strcmp(mode, "quality") && !lat) || (lat && !trend) ||
      tbl_parse_time(from, strlen(from), &tf) != 0) {
    fprintf(stderr,
            "usage: ta-trend-eval quality --trie MAIN --events FILE --test-from TIME "
            "[--k 5] [--slots 2]\n"
            "       ta-trend-eval latency --trie MAIN --trending FILE --events FILE "
            "--test-from TIME\n");
    return 2;
  }
  trie_reader_t *r = NULL, *t = NULL;
  event_t *ev = NULL;
  size_t n = 0;
  int rc = trie_text_new(&text);
  if (!rc) rc = trie_open(trie, &r);
  if (!rc && lat) rc = trie_open(trend, &t);
  if (!rc) rc = read_events(events, &ev, &n);
  if (!rc && n == 0) rc = TA_EEMPTY;
  if (!rc)
    rc = lat ? run_latency(r, t, ev, n, tf, k, slots) : run_quality(r, ev, n, tf, k, slots, rule);
  if (rc) fprintf(stderr, "ta-trend-eval: %s\n", ta_strerror(rc));
  trie_close(r);
  trie_close(t);
  trie_text_free(text);
  free(ev);
  return rc ? 1 : 0;
}
