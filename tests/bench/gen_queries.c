/*
 * Benchmark data for tests/bench/bench-trie. Not part of the product; built by the
 * benchmark script with the system compiler.
 *
 *   gen_queries gen N SEED DATASETS > queries.tsv
 *       N distinct queries, "query<TAB>count", whose words and frequency shape come from
 *       DATASETS/wordfreq/large_{en,de,zh}.tsv and DATASETS/ngrams/{1..4}grams_*.csv: first the
 *       real n-grams (English, German, Chinese) in their own order, then phrases of 1 to 4 words
 *       drawn with probability proportional to each word's frequency (English 80%, German 12%,
 *       Chinese 8%, joined without spaces). Counts are Zipf-like over the output rank:
 *       count = 1 + floor(5e7 / rank). Distinctness is checked on a 64-bit hash of the bytes.
 *
 *   gen_queries sample FILE.tsv N SEED > prefixes.txt
 *       N prefixes sampled as users type: a query of FILE picked with probability proportional
 *       to its count, cut after a random number of characters from 1 to its length.
 *
 *   gen_queries bsearch FILE.tsv PREFIXES
 *       In-process lookup baseline: the queries of FILE sorted bytewise in memory, then for each
 *       prefix a binary search for the first query >= prefix (where its completions start).
 *       Prints "median X ns mean Y ns" per prefix (each timed with CLOCK_MONOTONIC).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

static uint64_t rng_s;
static uint64_t rng(void) { /* splitmix64 */
  uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_unit(void) {
  return (double)(rng() >> 11) / 9007199254740992.0;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ---- Word lists ---------------------------------------------------------------------- */

typedef struct {
  char **word;
  double *cum; /* cumulative weights */
  size_t n;
} vocab_t;

/* A word worth a query: valid UTF-8 with at least one letter or digit (wordfreq also lists lone
 * combining marks and symbols, whose key is empty). */
static int word_ok(const char *w) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)w;
  utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(w), i = 0;
  int alnum = 0;
  while (i < len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, len - i, &c);
    if (k <= 0) return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) alnum = 1;
    if (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO) alnum = 1;
    i += k;
  }
  return alnum;
}

static void vocab_load(vocab_t *v, const char *path, size_t max) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  v->word = malloc(max * sizeof *v->word);
  v->cum = malloc(max * sizeof *v->cum);
  if (!v->word || !v->cum) die("malloc");
  char *line = NULL;
  size_t cap = 0;
  double total = 0;
  while (v->n < max && getline(&line, &cap, f) > 0) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    double w = strtod(tab + 1, NULL);
    if (w <= 0 || !*line || strchr(line, ' ') || !word_ok(line)) continue;
    total += w;
    v->word[v->n] = strdup(line);
    v->cum[v->n++] = total;
  }
  free(line);
  fclose(f);
}

static const char *vocab_pick(const vocab_t *v) {
  double u = rng_unit() * v->cum[v->n - 1];
  size_t lo = 0, hi = v->n - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->cum[mid] <= u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return v->word[lo];
}

/* ---- Distinct set of 64-bit hashes ----------------------------------------------------- */

static uint64_t *set_slots;
static uint64_t set_mask;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h | 1; /* 0 marks an empty slot */
}

/* 1 when added, 0 when already there. */
static int set_add(const char *s, size_t n) {
  uint64_t h = hash_bytes(s, n);
  for (uint64_t j = h & set_mask;; j = (j + 1) & set_mask) {
    if (set_slots[j] == h) return 0;
    if (!set_slots[j]) {
      set_slots[j] = h;
      return 1;
    }
  }
}

static uint64_t emitted;
static void emit(const char *q, size_t n) {
  if (n == 0 || memchr(q, '\t', n) || memchr(q, '\n', n) || !set_add(q, n)) return;
  emitted++;
  fwrite(q, 1, n, stdout);
  printf("\t%llu\n", (unsigned long long)(1 + (uint64_t)(5e7 / (double)emitted)));
}

/* Real n-grams first: CSV "ngram,freq[,...]"; the query is the first field. */
static void emit_ngrams(const char *path, uint64_t n) {
  FILE *f = fopen(path, "r");
  if (!f) return; /* a missing list only thins the head */
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int first = 1;
  while (emitted < n && (len = getline(&line, &cap, f)) > 0) {
    if (first) {
      first = 0;
      continue;
    }
    char *comma = strchr(line, ',');
    if (!comma || line[0] == '"') continue; /* quoted rows: rare, skipped */
    *comma = '\0';
    if (!word_ok(line)) continue;
    emit(line, (size_t)(comma - line));
  }
  free(line);
  fclose(f);
}

static int cmd_gen(uint64_t n, const char *dir) {
  uint64_t size = 1;
  while (size < 2 * n + 1024) size <<= 1;
  set_slots = calloc(size, sizeof *set_slots);
  if (!set_slots) die("calloc");
  set_mask = size - 1;
  char path[4096];
  static const char *langs[] = {"english", "german", "chinese_simplified"};
  for (int g = 1; g <= 4; g++)
    for (int l = 0; l < 3; l++) {
      snprintf(path, sizeof path, "%s/ngrams/%dgrams_%s.csv", dir, g, langs[l]);
      emit_ngrams(path, n);
    }
  vocab_t en = {0}, de = {0}, zh = {0};
  snprintf(path, sizeof path, "%s/wordfreq/large_en.tsv", dir);
  vocab_load(&en, path, 200000);
  snprintf(path, sizeof path, "%s/wordfreq/large_de.tsv", dir);
  vocab_load(&de, path, 100000);
  snprintf(path, sizeof path, "%s/wordfreq/large_zh.tsv", dir);
  vocab_load(&zh, path, 50000);
  if (!en.n || !de.n || !zh.n) {
    fprintf(stderr, "gen_queries: empty word list under %s\n", dir);
    return 1;
  }
  char q[1024];
  while (emitted < n) {
    double u = rng_unit();
    const vocab_t *v = u < 0.80 ? &en : u < 0.92 ? &de : &zh;
    const char *sep = v == &zh ? "" : " ";
    double r = rng_unit();
    int words = r < 0.15 ? 1 : r < 0.50 ? 2 : r < 0.80 ? 3 : 4;
    size_t len = 0;
    for (int w = 0; w < words; w++) {
      const char *word = vocab_pick(v);
      size_t wl = strlen(word), sl = w ? strlen(sep) : 0;
      if (len + sl + wl >= sizeof q) break;
      memcpy(q + len, sep, sl);
      memcpy(q + len + sl, word, wl);
      len += sl + wl;
    }
    emit(q, len);
  }
  return 0;
}

/* ---- Prefix sampling ----------------------------------------------------------------- */

static int cmd_sample(const char *path, uint64_t n) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  size_t cap_q = 1 << 20, nq = 0;
  char **qs = malloc(cap_q * sizeof *qs);
  double *cum = malloc(cap_q * sizeof *cum);
  if (!qs || !cum) die("malloc");
  char *line = NULL;
  size_t cap = 0;
  double total = 0;
  while (getline(&line, &cap, f) > 0) {
    char *tab = strrchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    double c = strtod(tab + 1, NULL);
    if (c <= 0 || !*line) continue;
    if (nq == cap_q) {
      cap_q *= 2;
      qs = realloc(qs, cap_q * sizeof *qs);
      cum = realloc(cum, cap_q * sizeof *cum);
      if (!qs || !cum) die("realloc");
    }
    total += c;
    qs[nq] = strdup(line);
    cum[nq++] = total;
  }
  free(line);
  fclose(f);
  if (!nq) {
    fprintf(stderr, "gen_queries: no queries in %s\n", path);
    return 1;
  }
  for (uint64_t i = 0; i < n; i++) {
    double u = rng_unit() * total;
    size_t lo = 0, hi = nq - 1;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (cum[mid] <= u)
        lo = mid + 1;
      else
        hi = mid;
    }
    const char *q = qs[lo];
    size_t chars = 0, len = strlen(q);
    for (size_t j = 0; j < len; j++) chars += ((unsigned char)q[j] & 0xC0) != 0x80;
    size_t want = 1 + rng() % chars, seen = 0, cut = 0;
    for (cut = 0; cut < len; cut++) {
      if (((unsigned char)q[cut] & 0xC0) != 0x80) {
        if (seen == want) break;
        seen++;
      }
    }
    fwrite(q, 1, cut, stdout);
    putchar('\n');
  }
  return 0;
}

/* ---- Binary-search baseline -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char **read_lines(const char *path, size_t *n, int first_field) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  size_t cap = 1 << 16;
  char **v = malloc(cap * sizeof *v);
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  *n = 0;
  while ((len = getline(&line, &lcap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    if (first_field) {
      char *tab = strchr(line, '\t');
      if (tab) *tab = '\0';
    }
    if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
    if (!v) die("realloc");
    v[(*n)++] = strdup(line);
  }
  free(line);
  fclose(f);
  return v;
}

static int cmd_bsearch(const char *tsv, const char *prefixes) {
  size_t nk, np;
  char **keys = read_lines(tsv, &nk, 1);
  char **pfx = read_lines(prefixes, &np, 0);
  qsort(keys, nk, sizeof *keys, cmp_str);
  double *ns = malloc((np ? np : 1) * sizeof *ns);
  size_t found = 0;
  for (size_t i = 0; i < np; i++) {
    double t0 = mono_ns();
    size_t lo = 0, hi = nk;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (strcmp(keys[mid], pfx[i]) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    found += lo < nk && strncmp(keys[lo], pfx[i], strlen(pfx[i])) == 0;
    ns[i] = mono_ns() - t0;
  }
  double sum = 0;
  for (size_t i = 0; i < np; i++) sum += ns[i];
  qsort(ns, np, sizeof *ns, cmp_dbl);
  printf("median %.0f ns mean %.0f ns over %zu prefixes (%zu with completions)\n",
         np ? ns[np / 2] : 0.0, np ? sum / (double)np : 0.0, np, found);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "bsearch") == 0) return cmd_bsearch(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "gen") == 0) {
    rng_s = strtoull(argv[3], NULL, 10);
    return cmd_gen(strtoull(argv[2], NULL, 10), argv[4]);
  }
  if (argc == 5 && strcmp(argv[1], "sample") == 0) {
    rng_s = strtoull(argv[4], NULL, 10);
    return cmd_sample(argv[2], strtoull(argv[3], NULL, 10));
  }
  fprintf(stderr,
          "usage: gen_queries gen N SEED DATASETS > queries.tsv\n"
          "       gen_queries sample FILE.tsv N SEED > prefixes.txt\n"
          "       gen_queries bsearch FILE.tsv PREFIXES\n");
  return 2;
}
