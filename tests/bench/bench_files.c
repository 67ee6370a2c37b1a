/*
 * What serving a private copy of the trie costs against serving a mapping of the file
 * (docs/server.md, "Hot swap"): the server's load and swap done in-process, one way per run.
 *
 *   ta_bench_files map|copy TRIE PREFIXES [ROUNDS]
 *
 * map: trie_open (mmap of the file, today's way before the copy) + trie_verify; copy:
 * trie_open_copy (the file read whole into memory of one's own, the server's way) +
 * trie_verify. Then: the load again while the first is held (what a swap does: both versions
 * live until the old one's last reader is gone), and ROUNDS rounds of top-5 lookups over the
 * normalized PREFIXES (one per line), each lookup timed alone. Prints one tab-separated line:
 * mode; ms of the open alone, of open + verify (wall and CPU), of the swap's open + verify
 * (wall and CPU); RSS after the load (total, anonymous, file-backed) and the peak; lookup
 * p50/p99/mean ns. Built on demand (`cmake --build build --target ta_bench_files`).
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

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "map") && strcmp(argv[1], "copy"))) {
    fprintf(stderr, "usage: ta_bench_files map|copy TRIE PREFIXES [ROUNDS]\n");
    return 2;
  }
  unsigned rounds = argc > 4 ? (unsigned)atoi(argv[4]) : 3;
  ta_buf_t keys = {0};
  size_t *at = NULL, n = 0, cap = 0;
  FILE *in = fopen(argv[3], "r");
  char line[TA_MAX_KEY], key[TA_MAX_KEY];
  while (in && fgets(line, sizeof line, in)) {
    size_t len = strcspn(line, "\n"), klen;
    if (trie_norm_key(line, len, key, sizeof key, &klen) != 0) continue;
    if (n == cap && ta_grow((void **)&at, &cap, n + 1, sizeof *at, 1024)) return 1;
    at[n++] = keys.len;
    if (ta_buf_put(&keys, key, klen + 1)) return 1;
  }
  if (in) fclose(in);
  if (n == 0 || rounds == 0) {
    fprintf(stderr, "ta_bench_files: no prefixes in %s\n", argv[3]);
    return 1;
  }

  trie_reader_t *r = NULL, *next = NULL;
  double load_ms[3], swap_ms[3];
  if (load(argv[1], argv[2], &r, load_ms)) return 1;
  long rss = status_kb("VmRSS"), anon = status_kb("RssAnon"), file = status_kb("RssFile");
  if (load(argv[1], argv[2], &next, swap_ms)) return 1;
  long peak = status_kb("VmHWM");
  trie_close(r);
  r = next;

  uint64_t *ns = malloc(n * rounds * sizeof *ns);
  trie_hit_t hits[TA_MAX_K];
  size_t nh, sink = 0;
  for (size_t i = 0; i < n; i++) /* warm, untimed */
    if (trie_lookup(r, keys.p + at[i], strlen(keys.p + at[i]), 5, hits, &nh) == 0) sink += nh;
  for (unsigned k = 0; k < rounds; k++)
    for (size_t i = 0; i < n; i++) {
      const char *p = keys.p + at[i];
      size_t plen = strlen(p);
      uint64_t t0 = ta_mono_ns();
      int rc = trie_lookup(r, p, plen, 5, hits, &nh);
      ns[k * n + i] = ta_mono_ns() - t0;
      if (rc) return 1;
      sink += nh;
    }
  size_t total = n * rounds;
  double sum = 0;
  for (size_t i = 0; i < total; i++) sum += (double)ns[i];
  qsort(ns, total, sizeof *ns, cmp_u64);
  printf(
      "# mode\topen_ms\tload_ms\tload_cpu_ms\tswap_ms\tswap_cpu_ms\trss_mb\tanon_mb\tfile_"
      "mb\tpeak_mb\tp50_ns\tp99_ns\tmean_ns\n");
  printf("%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%llu\t%llu\t%.0f\n", argv[1],
         load_ms[0], load_ms[1], load_ms[2], swap_ms[1], swap_ms[2], rss / 1024.0, anon / 1024.0,
         file / 1024.0, peak / 1024.0, (unsigned long long)ns[total / 2],
         (unsigned long long)ns[total * 99 / 100], sum / (double)total);
  trie_close(r);
  free(ns);
  free(at);
  ta_buf_free(&keys);
  return sink == 0;
}
