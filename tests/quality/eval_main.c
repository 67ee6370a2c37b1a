/*
 * ta-eval: measures a trie file in process, for the quality and latency benchmarks.
 *
 *   ta-eval quality --trie FILE --events FILE [--k 5] [--max-len 8]
 *   ta-eval latency --trie FILE --prefixes FILE [--k 5] [--rounds N]
 *
 * quality: each line of --events is one query event (the raw query as typed). Its key is
 * normalized (SPEC §3); for every prefix length L = 1..max-len, counted in Unicode code points
 * of the key and at most the key's length, the prefix is looked up (top k) and the event scores
 * a hit when one of the k suggestions has the event's key, with reciprocal rank 1/position
 * (0 when absent). Prints one TSV row per L: L, events, hits, success@k, MRR.
 *
 * latency: each line of --prefixes is a raw prefix; they are normalized once, then every
 * trie_lookup is timed alone with CLOCK_MONOTONIC, in --rounds passes over the list. Prints
 * p50, p90, p99, p99.9, max and mean in ns, beside the same statistics of an empty timed region
 * (the clock's own cost, the same-run reference).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trie.h"

#define EVAL_MAX_LEN 64
#define EVAL_MAX_K 32

typedef struct {
  const char *mode;
  const char *trie;
  const char *input;
  unsigned k;
  unsigned max_len;
  unsigned rounds;
} eval_opts_t;

static void usage(void) {
  fprintf(stderr,
          "usage: ta-eval quality --trie FILE --events FILE [--k 5] [--max-len 8]\n"
          "       ta-eval latency --trie FILE --prefixes FILE [--k 5] [--rounds 3]\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return TA_ERANGE;
  *out = (unsigned)v;
  return 0;
}

static int parse_args(int argc, char **argv, eval_opts_t *o) {
  if (argc < 2) return TA_EINVAL;
  o->mode = argv[1];
  o->k = 5;
  o->max_len = 8;
  o->rounds = 3;
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 >= argc) return TA_EINVAL;
    const char *a = argv[i], *v = argv[i + 1];
    int rc = 0;
    if (!strcmp(a, "--trie"))
      o->trie = v;
    else if (!strcmp(a, "--events") || !strcmp(a, "--prefixes"))
      o->input = v;
    else if (!strcmp(a, "--k"))
      rc = parse_uint(v, 1, EVAL_MAX_K, &o->k);
    else if (!strcmp(a, "--max-len"))
      rc = parse_uint(v, 1, EVAL_MAX_LEN, &o->max_len);
    else if (!strcmp(a, "--rounds"))
      rc = parse_uint(v, 1, 1000, &o->rounds);
    else
      return TA_EINVAL;
    if (rc) return rc;
  }
  if (!o->trie || !o->input) return TA_EINVAL;
  if (strcmp(o->mode, "quality") && strcmp(o->mode, "latency")) return TA_EINVAL;
  return 0;
}

/* Byte length of the first n code points of the valid UTF-8 s[0..len). */
static size_t utf8_prefix_bytes(const char *s, size_t len, unsigned n) {
  size_t i = 0;
  unsigned seen = 0;
  while (i < len) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (seen == n) break;
      seen++;
    }
    i++;
  }
  return i;
}

static unsigned utf8_count(const char *s, size_t len) {
  unsigned n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* Strips the line end; returns the line length. */
static size_t chomp(char *line, size_t n) {
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  return n;
}

/* text: the scratch of the hits' texts, reset per lookup (as for every function here) */
static int run_quality(const trie_reader_t *r, trie_text_t *text, FILE *in, const eval_opts_t *o) {
  uint64_t events[EVAL_MAX_LEN + 1] = {0}, hits[EVAL_MAX_LEN + 1] = {0};
  double rr[EVAL_MAX_LEN + 1] = {0};
  uint64_t total = 0, skipped = 0;
  static char key[TA_MAX_KEY], hkey[TA_MAX_KEY];
  trie_hit_t found[EVAL_MAX_K];
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int rc = 0;

  while ((got = getline(&line, &cap, in)) >= 0) {
    size_t n = chomp(line, (size_t)got), klen;
    total++;
    if (trie_norm_key(line, n, key, sizeof key, &klen) != 0 || klen == 0) {
      skipped++;
      continue;
    }
    unsigned chars = utf8_count(key, klen);
    for (unsigned L = 1; L <= o->max_len && L <= chars; L++) {
      size_t plen = utf8_prefix_bytes(key, klen, L), nh = 0;
      trie_text_reset(text);
      rc = trie_lookup(r, key, plen, o->k, text, found, &nh);
      if (rc) {
        fprintf(stderr, "ta-eval: lookup failed on line %llu: %s\n", (unsigned long long)total,
                ta_strerror(rc));
        goto out;
      }
      events[L]++;
      for (size_t h = 0; h < nh; h++) {
        size_t hl;
        if (trie_norm_key(found[h].text, found[h].text_len, hkey, sizeof hkey, &hl) != 0) continue;
        if (hl == klen && memcmp(hkey, key, klen) == 0) {
          hits[L]++;
          rr[L] += 1.0 / (double)(h + 1);
          break;
        }
      }
    }
  }
  if (ferror(in)) {
    rc = TA_EIO;
    goto out;
  }
  printf("# events\t%llu\tskipped (invalid or empty key)\t%llu\n", (unsigned long long)total,
         (unsigned long long)skipped);
  printf("# len\tevents\thits\tsuccess@%u\tmrr\n", o->k);
  for (unsigned L = 1; L <= o->max_len; L++) {
    double n = events[L] ? (double)events[L] : 1.0;
    printf("%u\t%llu\t%llu\t%.4f\t%.4f\n", L, (unsigned long long)events[L],
           (unsigned long long)hits[L], (double)hits[L] / n, rr[L] / n);
  }
out:
  free(line);
  return rc;
}

typedef struct {
  char *buf;   /* all normalized prefixes, back to back */
  size_t *off; /* start of each in buf */
  size_t *len;
  size_t n;
} prefix_set_t;

static void prefix_set_free(prefix_set_t *p) {
  free(p->buf);
  free(p->off);
  free(p->len);
}

/* The prefixes of in, each normalized as the server normalizes a typed prefix (trie_norm_prefix:
 * a trailing space is kept, "new " is not looked up as "new"). */
static int read_prefixes(FILE *in, prefix_set_t *p) {
  static char key[TA_MAX_KEY];
  size_t bcap = 0, ncap = 0, bused = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t got;
  memset(p, 0, sizeof *p);
  while ((got = getline(&line, &lcap, in)) >= 0) {
    size_t n = chomp(line, (size_t)got), klen;
    if (trie_norm_prefix(line, n, key, sizeof key, &klen) != 0) continue;
    if (p->n == ncap) {
      size_t nc = ncap ? ncap * 2 : 1024;
      size_t *o2 = realloc(p->off, nc * sizeof *o2);
      if (!o2) goto nomem;
      p->off = o2;
      size_t *l2 = realloc(p->len, nc * sizeof *l2);
      if (!l2) goto nomem;
      p->len = l2;
      ncap = nc;
    }
    if (bused + klen + 1 > bcap) {
      size_t nc = bcap ? bcap * 2 : 65536;
      while (nc < bused + klen + 1) nc *= 2;
      char *b2 = realloc(p->buf, nc);
      if (!b2) goto nomem;
      p->buf = b2;
      bcap = nc;
    }
    memcpy(p->buf + bused, key, klen);
    p->buf[bused + klen] = '\0';
    p->off[p->n] = bused;
    p->len[p->n] = klen;
    p->n++;
    bused += klen + 1;
  }
  free(line);
  return ferror(in) ? TA_EIO : (p->n ? 0 : TA_EEMPTY);
nomem:
  free(line);
  prefix_set_free(p);
  return TA_ENOMEM;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_stats(const char *what, uint64_t *ns, size_t n) {
  qsort(ns, n, sizeof *ns, cmp_u64);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)ns[i];
    /* nearest-rank percentiles */
#define PCT(p) ns[(size_t)((p) / 100.0 * (double)(n - 1) + 0.5)]
  printf("%s\t%zu\t%llu\t%llu\t%llu\t%llu\t%llu\t%.1f\n", what, n, (unsigned long long)PCT(50),
         (unsigned long long)PCT(90), (unsigned long long)PCT(99), (unsigned long long)PCT(99.9),
         (unsigned long long)ns[n - 1], sum / (double)n);
#undef PCT
}

static int run_latency(const trie_reader_t *r, trie_text_t *text, FILE *in, const eval_opts_t *o) {
  prefix_set_t p;
  int rc = read_prefixes(in, &p);
  if (rc) return rc;
  size_t total = p.n * o->rounds;
  uint64_t *ns = malloc(total * sizeof *ns), *ref = malloc(total * sizeof *ref);
  trie_hit_t found[EVAL_MAX_K];
  volatile size_t sink = 0;
  if (!ns || !ref) {
    rc = TA_ENOMEM;
    goto out;
  }
  /* warm the mapping and the caches once, untimed */
  for (size_t i = 0; i < p.n; i++) {
    size_t nh = 0;
    trie_text_reset(text);
    rc = trie_lookup(r, p.buf + p.off[i], p.len[i], o->k, text, found, &nh);
    if (rc) goto out;
    sink += nh;
  }
  for (unsigned round = 0; round < o->rounds; round++) {
    for (size_t i = 0; i < p.n; i++) {
      size_t nh = 0;
      uint64_t t0 = now_ns();
      trie_text_reset(text);
      rc = trie_lookup(r, p.buf + p.off[i], p.len[i], o->k, text, found, &nh);
      uint64_t t1 = now_ns();
      if (rc) goto out;
      sink += nh;
      ns[round * p.n + i] = t1 - t0;
      t0 = now_ns();
      t1 = now_ns();
      ref[round * p.n + i] = t1 - t0;
    }
  }
  printf("# what\tsamples\tp50_ns\tp90_ns\tp99_ns\tp99.9_ns\tmax_ns\tmean_ns\n");
  print_stats("trie_lookup", ns, total);
  print_stats("empty_timed_region", ref, total);
  (void)sink;
out:
  free(ns);
  free(ref);
  prefix_set_free(&p);
  return rc;
}

int main(int argc, char **argv) {
  eval_opts_t o = {0};
  int rc = parse_args(argc, argv, &o);
  if (rc) {
    usage();
    return 2;
  }
  FILE *in = fopen(o.input, "r");
  if (!in) {
    fprintf(stderr, "ta-eval: %s: %s\n", o.input, strerror(errno));
    return 1;
  }
  trie_reader_t *r = NULL;
  rc = trie_open(o.trie, &r);
  if (rc) {
    fprintf(stderr, "ta-eval: %s: %s\n", o.trie, ta_strerror(rc));
    fclose(in);
    return 1;
  }
  trie_text_t *text = NULL;
  rc = trie_text_new(&text);
  if (rc == 0)
    rc = !strcmp(o.mode, "quality") ? run_quality(r, text, in, &o) : run_latency(r, text, in, &o);
  if (rc) fprintf(stderr, "ta-eval: %s: %s\n", o.input, ta_strerror(rc));
  trie_text_free(text);
  trie_close(r);
  fclose(in);
  return rc ? 1 : 0;
}
