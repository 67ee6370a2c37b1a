/*
 * What serving a private copy of the trie costs against serving a mapping of the file
 * (docs/server.md, "Hot swap"): the server's load and swap done in-process, one way per run.
 *
 *   ta_bench_files map|copy|both TRIE PREFIXES [ROUNDS]
 *
 * map: trie_open (mmap of the file, today's way before the copy) + trie_verify; copy:
 * trie_open_copy (the file read whole into memory of one's own, the server's way) +
 * trie_verify. Then: the load again while the first is held (what a swap does: both versions
 * live until the old one's last reader is gone), and ROUNDS rounds of top-5 lookups over the
 * normalized PREFIXES (one per line), each lookup timed alone. Prints one tab-separated line:
 * mode; ms of the open alone, of open + verify (wall and CPU), of the swap's open + verify
 * (wall and CPU); RSS after the load (total, anonymous, file-backed) and the peak; lookup
 * p50/p99/mean ns. both: a mapping and a copy in one process, lookups only, round by round in
 * turn so that the machine's load falls on both alike. Built on demand (`cmake --build build --target ta_bench_files`).
 */
#include "trie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ms[0]: wall of the open, ms[1]: wall of open + verify, ms[2]: CPU of open + verify. */
static int load(const char *mode, const char *path, trie_reader_t **r, double ms[3]) {
  ta_diag_t d;
  ta_diag_init(&d, path);
  uint64_t t0 = ta_mono_ns();
  double c0 = cpu_ms();
  int rc = strcmp(mode, "copy") == 0 ? trie_open_copy(path, SIZE_MAX, r, &d) : trie_open(path, r);
  ms[0] = (double)(ta_mono_ns() - t0) / 1e6;
  if (rc == 0) rc = trie_verify(*r, &d);
  ms[1] = (double)(ta_mono_ns() - t0) / 1e6;
  ms[2] = cpu_ms() - c0;
  if (rc) {
    char msg[300];
    if (d.code == 0) ta_diag_set(&d, rc, "%s", "");
    fprintf(stderr, "ta_bench_files: %s\n", ta_diag_format(&d, msg, sizeof msg));
  }
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

typedef struct {
  ta_buf_t keys; /* normalized prefixes, NUL after each */
  size_t *at, n;
} prefixes_t;

/* ROUNDS rounds of top-5 lookups of every prefix in each of the nr readers, a whole round in one
 * reader after the other (the order turned every other round) so that the machine's load falls
 * on them alike; prefix by prefix would double the working set (two copies of the bytes) and
 * measure that. ns[j] gets reader j's times. Returns the number of hits (never 0). */
static size_t lookups(trie_reader_t **r, int nr, const prefixes_t *px, unsigned rounds,
                      uint64_t **ns) {
  trie_hit_t hits[TA_MAX_K];
  size_t nh, sink = 0;
  trie_text_t *text = NULL; /* reset before each lookup: no hits are kept */
  if (trie_text_new(&text) != 0) return 0;
  for (int j = 0; j < nr; j++)
    for (size_t i = 0; i < px->n; i++) /* warm, untimed */
      if (trie_text_reset(text),
          trie_lookup(r[j], px->keys.p + px->at[i], strlen(px->keys.p + px->at[i]), 5, text, hits,
                      &nh) == 0)
        sink += nh;
  for (unsigned k = 0; k < rounds; k++)
    for (int jj = 0; jj < nr; jj++) {
      int j = k % 2 ? nr - 1 - jj : jj;
      for (size_t i = 0; i < px->n; i++) {
        const char *p = px->keys.p + px->at[i];
        size_t plen = strlen(p);
        uint64_t t0 = ta_mono_ns();
        trie_text_reset(text);
        int rc = trie_lookup(r[j], p, plen, 5, text, hits, &nh);
        ns[j][k * px->n + i] = ta_mono_ns() - t0;
        if (rc == 0) sink += nh;
      }
    }
  trie_text_free(text);
  return sink;
}

/* p50, p99 and mean of ns[0..total) (sorts it). */
static void stats(uint64_t *ns, size_t total, unsigned long long *p50, unsigned long long *p99,
                  double *mean) {
  double sum = 0;
  for (size_t i = 0; i < total; i++) sum += (double)ns[i];
  qsort(ns, total, sizeof *ns, cmp_u64);
  *p50 = ns[total / 2];
  *p99 = ns[total * 99 / 100];
  *mean = sum / (double)total;
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "map") && strcmp(argv[1], "copy") && strcmp(argv[1], "both"))) {
    fprintf(stderr, "usage: ta_bench_files map|copy|both TRIE PREFIXES [ROUNDS]\n");
    return 2;
  }
  unsigned rounds = argc > 4 ? (unsigned)atoi(argv[4]) : 3;
  prefixes_t px = {{0}, NULL, 0};
  size_t cap = 0;
  FILE *in = fopen(argv[3], "r");
  char line[TA_MAX_KEY], key[TA_MAX_KEY];
  while (in && fgets(line, sizeof line, in)) {
    size_t len = strcspn(line, "\n"), klen;
    if (trie_norm_prefix(line, len, key, sizeof key, &klen) != 0) continue;
    if (px.n == cap && ta_grow((void **)&px.at, &cap, px.n + 1, sizeof *px.at, 1024)) return 1;
    px.at[px.n++] = px.keys.len;
    if (ta_buf_put(&px.keys, key, klen + 1)) return 1;
  }
  if (in) fclose(in);
  size_t total = px.n * rounds;
  unsigned long long p50, p99;
  double mean;
  if (px.n == 0 || rounds == 0) {
    fprintf(stderr, "ta_bench_files: no prefixes in %s\n", argv[3]);
    return 1;
  }

  if (strcmp(argv[1], "both") == 0) { /* lookups only, in one process */
    trie_reader_t *rd[2] = {NULL, NULL};
    double ms[3];
    if (load("map", argv[2], &rd[0], ms) || load("copy", argv[2], &rd[1], ms)) return 1;
    uint64_t *ns[2] = {malloc(total * sizeof(uint64_t)), malloc(total * sizeof(uint64_t))};
    if (ns[0] == NULL || ns[1] == NULL || lookups(rd, 2, &px, rounds, ns) == 0) return 1;
    printf("# reader\tp50_ns\tp99_ns\tmean_ns (%u rounds in turn)\n", rounds);
    for (int j = 0; j < 2; j++) {
      stats(ns[j], total, &p50, &p99, &mean);
      printf("%s\t%llu\t%llu\t%.0f\n", j ? "copy" : "map", p50, p99, mean);
      trie_close(rd[j]);
      free(ns[j]);
    }
    free(px.at);
    ta_buf_free(&px.keys);
    return 0;
  }

  trie_reader_t *r = NULL, *next = NULL;
  double load_ms[3], swap_ms[3];
  if (load(argv[1], argv[2], &r, load_ms)) return 1;
  long rss = status_kb("VmRSS"), anon = status_kb("RssAnon"), file = status_kb("RssFile");
  if (load(argv[1], argv[2], &next, swap_ms)) return 1;
  long peak = status_kb("VmHWM");
  trie_close(r);
  r = next;

  uint64_t *ns = malloc(total * sizeof *ns);
  if (ns == NULL || lookups(&r, 1, &px, rounds, &ns) == 0) return 1;
  stats(ns, total, &p50, &p99, &mean);
  printf(
      "# mode\topen_ms\tload_ms\tload_cpu_ms\tswap_ms\tswap_cpu_ms\trss_mb\tanon_mb\tfile_"
      "mb\tpeak_mb\tp50_ns\tp99_ns\tmean_ns\n");
  printf("%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%llu\t%llu\t%.0f\n", argv[1],
         load_ms[0], load_ms[1], load_ms[2], swap_ms[1], swap_ms[2], rss / 1024.0, anon / 1024.0,
         file / 1024.0, peak / 1024.0, p50, p99, mean);
  trie_close(r);
  free(ns);
  free(px.at);
  ta_buf_free(&px.keys);
  return 0;
}
