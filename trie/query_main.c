/*
 * typeahead-query (SPEC §7): the offline tool to look into a trie file.
 *
 *   typeahead-query FILE PREFIX [-k N] [--typos N] [--words]
 *                                          display<TAB>score per line, best first (with
 *                                          --typos or --words: <TAB>match<TAB>highlight)
 *   typeahead-query FILE --info            every metadata field, file size, bytes per query
 *   typeahead-query FILE --verify          full check (trie_verify): "OK" and exit 0, or the
 *                                          error and exit 1
 *   typeahead-query FILE --bench PREFIXES [--passes N]
 *                                          ns per lookup over a file of prefixes (one a line)
 *
 * PREFIX goes through the prefix normalization (trie_norm_prefix) first, as the server does. Scores
 * print in the shortest form that reads back to the same double; whole numbers without a
 * decimal point. Exit status: 0 done, 1 failure (bad file, bad prefix), 2 usage.
 */
#include "trie_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

static const char *prog = "typeahead-query";

#define TYPOS_UNSET (-2) /* neither --typos nor --words: the exact lookup, two columns */

static void usage(FILE *to) {
  fprintf(to,
          "usage: %s FILE PREFIX [-k N] [--typos N] [--words]\n"
          "       %s FILE --info\n"
          "       %s FILE --verify\n"
          "       %s FILE --bench PREFIXES [--passes N]\n"
          "       %s --help | --version\n"
          "\n"
          "Looks into a trie file written by typeahead-build.\n"
          "  PREFIX         normalized as the server does (case, accents, spaces), then looked\n"
          "                 up; prints display form<TAB>score per line, best first\n"
          "  -k N           how many completions, 1..%u (default 10; at most the file's k)\n"
          "  --typos N      after the exact completions, keys within N edits of PREFIX (auto,\n"
          "                 0, 1 or 2; auto: 0 up to 3 characters, 1 up to 7, then 2; the\n"
          "                 first character exact); adds two columns: how it matched\n"
          "                 (prefix, words, typo) and the matched display bytes (start,length)\n"
          "  --words        after the exact completions, keys with a later word starting with\n"
          "                 PREFIX, or all its words in any order (the last one partial);\n"
          "                 builds the word index in memory first; the same two columns\n"
          "  --info         every metadata field (format version, k, queries, nodes, build time,\n"
          "                 source, CRC), the file size and each section's size\n"
          "  --verify       checks every CRC and every node, string and score (a stored\n"
          "                 display form must be one, without control or bidi characters, and\n"
          "                 normalize to its query's key): prints OK and exits 0, or the\n"
          "                 error with where it is and exits 1\n"
          "  --bench FILE   times a lookup of each prefix of FILE (one a line), with and\n"
          "                 without the normalization: median, p99 and mean in ns\n"
          "  --passes N     timed passes over the prefixes with --bench, 1..1000 (default 5)\n"
          "  --             ends the options: a PREFIX after it may start with '-'\n"
          "  --help         this text\n"
          "  --version      the version and the trie format versions it reads\n"
          "Exit status: 0 done, 1 failure (bad file, bad prefix), 2 usage.\n",
          prog, prog, prog, prog, prog, TA_MAX_K);
}

static int open_or_report(const char *path, trie_reader_t **r) {
  int rc = trie_open(path, r);
  if (rc != 0) fprintf(stderr, "%s: %s: %s\n", prog, path, ta_strerror(rc));
  return rc;
}

/* typos < 0 with words 0: the plain exact lookup; otherwise trie_lookup_match, with the match
 * kind and the highlighted display bytes as more columns. */
static int cmd_lookup(const char *path, const char *prefix, unsigned k, int typos, int words) {
  char key[TA_MAX_KEY + 1];
  size_t key_len;
  int rc = trie_norm_prefix(prefix, strlen(prefix), key, sizeof key, &key_len);
  if (rc != 0) {
    fprintf(stderr, "%s: prefix: %s\n", prog, ta_strerror(rc));
    return 1;
  }
  trie_reader_t *r;
  if (open_or_report(path, &r) != 0) return 1;
  trie_match_t m[TA_MAX_K];
  size_t n = 0;
  trie_words_t *wi = NULL;
  trie_text_t *text = NULL;
  int plain = typos == TYPOS_UNSET && !words;
  rc = trie_text_new(&text);
  if (rc == 0 && words) rc = trie_words_build(r, &wi);
  trie_match_opts_t o = {typos == TYPOS_UNSET ? 0 : typos, wi};
  if (rc == 0) {
    if (k > r->k) k = r->k;
    rc = trie_lookup_match(r, key, key_len, &o, k, NULL, NULL, text, m, &n);
  }
  if (rc != 0) {
    fprintf(stderr, "%s: %s: %s\n", prog, path, ta_strerror(rc));
    trie_text_free(text);
    trie_words_free(wi);
    trie_close(r);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    char score[TA_SCORE_CAP];
    ta_fmt_score(m[i].hit.score, score);
    /* a hostile file's text could hold a tab, a newline or a terminal's escape sequence */
    char shown[4 * TA_MAX_KEY + 1];
    ta_esc(m[i].hit.text, m[i].hit.text_len, 0, shown, sizeof shown);
    printf("%s\t%s", shown, score);
    if (!plain) {
      uint32_t sp[TRIE_MAX_SPANS][2];
      unsigned ns = 0;
      trie_match_highlight(&m[i], sp, &ns);
      printf("\t%s\t", trie_match_name(m[i].kind));
      for (unsigned s = 0; s < ns; s++) printf("%s%u,%u", s ? " " : "", sp[s][0], sp[s][1]);
    }
    printf("\n");
  }
  trie_text_free(text);
  trie_words_free(wi);
  trie_close(r);
  return ferror(stdout) ? 1 : 0;
}

/* --info and --verify read an open file; main opens and closes it. */
static int cmd_info(const char *path, const trie_reader_t *r) {
  trie_info_t info;
  trie_get_info(r, &info);
  char when[64] = "?";
  time_t t = (time_t)info.build_time;
  struct tm tm;
  if (gmtime_r(&t, &tm) != NULL) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  double per = info.num_queries ? (double)info.file_size / (double)info.num_queries : 0;
  printf("file\t%s\n", path);
  printf("format_version\t%" PRIu32 "\n", info.format_version);
  printf("min_read_version\t%" PRIu32 "\n", trie__load_u32(r->base + 12));
  printf("norm_version\t%" PRIu32 "\n", info.norm_version);
  printf("k\t%" PRIu32 "\n", info.k);
  printf("num_queries\t%" PRIu64 "\n", info.num_queries);
  printf("num_nodes\t%" PRIu64 "\n", info.num_nodes);
  printf("max_key_bytes\t%" PRIu32 "\n", r->max_key);
  printf("build_time\t%" PRId64 " (%s)\n", info.build_time, when);
  char source[4096]; /* cut past it: the builder writes at most 1,023 bytes */
  ta_esc(info.source, info.source_len, 0, source, sizeof source);
  printf("source\t%s\n", source);
  /* the market and shard the file was built for: "-" when none (the name is checked at open) */
  printf("market\t%.*s\n", info.market_len ? (int)info.market_len : 1,
         info.market_len ? info.market : "-");
  if (info.shards)
    printf("shard\t%" PRIu32 " of %" PRIu32 "\n", info.shard, info.shards);
  else
    printf("shard\t-\n");
  printf("file_crc\t%08" PRIx32 "\n", info.file_crc);
  printf("file_size\t%" PRIu64 "\n", info.file_size);
  printf("bytes_per_query\t%.1f\n", per);
  for (uint32_t i = 0; i < r->nsect; i++) {
    const trie__section_t *s = &r->sect[i];
    printf("section\t%s\toffset %" PRIu64 "\tlength %" PRIu64 "\tcrc32c %08" PRIx32
           "\t%.1f B/query\n",
           trie__section_name(s->id), s->off, s->len, s->crc,
           info.num_queries ? (double)s->len / (double)info.num_queries : 0.0);
  }
  return ferror(stdout) ? 1 : 0;
}

static int cmd_verify(const char *path, const trie_reader_t *r) {
  ta_diag_t diag;
  ta_diag_init(&diag, path);
  int rc = trie_verify(r, &diag);
  if (rc != 0) {
    char where[512];
    fprintf(stderr, "%s: %s\n", prog, ta_diag_format(&diag, where, sizeof where));
    printf("FAILED: %s\n", ta_strerror(rc));
    return 1;
  }
  printf("OK\n");
  return 0;
}

/* ---- --bench ---------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  char *raw, *key; /* each line as read, and its key (normalized) */
  size_t raw_len, key_len;
} prefix_t;

static void report(const char *what, double *ns, size_t n, double total_ns) {
  qsort(ns, n, sizeof *ns, cmp_double);
  printf("%s: median %.0f ns, p99 %.0f ns, mean %.0f ns per lookup (%zu lookups)\n", what,
         ns[n / 2], ns[(size_t)((double)n * 0.99)], total_ns / (double)n, n);
}

static int cmd_bench(const char *path, const char *prefixes, unsigned passes) {
  FILE *f = fopen(prefixes, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: %s: %s\n", prog, prefixes, strerror(errno));
    return 1;
  }
  prefix_t *p = NULL;
  size_t n = 0, cap = 0, bad = 0, lineno = 0;
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  char key[TA_MAX_KEY + 1];
  while ((len = getline(&line, &lcap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    size_t key_len;
    if (trie_norm_prefix(line, (size_t)len, key, sizeof key, &key_len) != 0) {
      if (bad++ < 5)
        fprintf(stderr, "%s: %s:%zu: not valid UTF-8 or too long, skipped\n", prog, prefixes,
                lineno);
      continue;
    }
    if (n == cap && ta_grow((void **)&p, &cap, n + 1, sizeof *p, 1024) != 0) {
      fprintf(stderr, "%s: out of memory\n", prog);
      return 1;
    }
    p[n].raw = malloc((size_t)len + 1);
    p[n].key = malloc(key_len + 1);
    if (p[n].raw == NULL || p[n].key == NULL) {
      fprintf(stderr, "%s: out of memory\n", prog);
      return 1;
    }
    memcpy(p[n].raw, line, (size_t)len);
    p[n].raw_len = (size_t)len;
    memcpy(p[n].key, key, key_len);
    p[n].key_len = key_len;
    n++;
  }
  free(line);
  fclose(f);
  if (n == 0) {
    fprintf(stderr, "%s: %s: no prefixes\n", prog, prefixes);
    free(p);
    return 1;
  }
  trie_reader_t *r;
  if (open_or_report(path, &r) != 0) return 1;
  size_t samples = n * passes;
  double *ns = malloc(samples * sizeof *ns);
  double *ns_norm = malloc(samples * sizeof *ns_norm);
  if (ns == NULL || ns_norm == NULL) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  trie_hit_t hits[TA_MAX_K];
  size_t nh, total_hits = 0;
  /* one scratch, reset before each lookup (inside the timing: a server pays it per request) */
  trie_text_t *text = NULL;
  int rc = trie_text_new(&text);
  /* A warm-up pass maps the file in, then the timed passes. */
  for (size_t i = 0; i < n && rc == 0; i++) {
    trie_text_reset(text);
    rc = trie_lookup(r, p[i].key, p[i].key_len, 10, text, hits, &nh);
  }
  double overhead = 1e30;
  for (int i = 0; i < 1000; i++) {
    double a = (double)ta_mono_ns(), b = (double)ta_mono_ns();
    if (b - a < overhead) overhead = b - a;
  }
  double sum = 0, sum_norm = 0;
  for (unsigned pass = 0; pass < passes && rc == 0; pass++) {
    for (size_t i = 0; i < n && rc == 0; i++) {
      double a = (double)ta_mono_ns();
      trie_text_reset(text);
      rc = trie_lookup(r, p[i].key, p[i].key_len, 10, text, hits, &nh);
      double b = (double)ta_mono_ns();
      ns[pass * n + i] = b - a;
      sum += b - a;
      total_hits += nh;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
      size_t key_len;
      double a = (double)ta_mono_ns();
      trie_text_reset(text);
      rc = trie_norm_prefix(p[i].raw, p[i].raw_len, key, sizeof key, &key_len);
      if (rc == 0) rc = trie_lookup(r, key, key_len, 10, text, hits, &nh);
      double b = (double)ta_mono_ns();
      ns_norm[pass * n + i] = b - a;
      sum_norm += b - a;
    }
  }
  if (rc != 0) {
    fprintf(stderr, "%s: %s: %s\n", prog, path, ta_strerror(rc));
  } else {
    printf("%zu prefixes from %s (%zu skipped), %u passes, k = 10, %.1f hits per lookup\n", n,
           prefixes, bad, passes, (double)total_hits / (double)samples);
    report("lookup (prefix normalized beforehand)", ns, samples, sum);
    report("normalize + lookup", ns_norm, samples, sum_norm);
    printf("each figure includes one clock_gettime pair (about %.0f ns on this machine)\n",
           overhead);
  }
  free(ns);
  free(ns_norm);
  trie_text_free(text);
  for (size_t i = 0; i < n; i++) {
    free(p[i].raw);
    free(p[i].key);
  }
  free(p);
  trie_close(r);
  return rc != 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "--version") == 0)
    return trie_print_version(stdout, prog) == 0 ? 0 : 1;
  if (argc < 3) {
    usage(stderr);
    return 2;
  }
  const char *file = argv[1];
  const char *prefix = NULL, *bench = NULL;
  int info = 0, verify = 0, options_done = 0;
  unsigned k = 10, passes = 5;
  int typos = TYPOS_UNSET, words = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!options_done && strcmp(a, "--") == 0) {
      options_done = 1;
    } else if (!options_done && strcmp(a, "-k") == 0 && i + 1 < argc) {
      if (ta_parse_uint(argv[++i], 1, TA_MAX_K, &k) != 0) {
        fprintf(stderr, "%s: -k wants a number from 1 to %u, not '%s'\n", prog, TA_MAX_K, argv[i]);
        return 2;
      }
    } else if (!options_done && strcmp(a, "--passes") == 0 && i + 1 < argc) {
      if (ta_parse_uint(argv[++i], 1, 1000, &passes) != 0) {
        fprintf(stderr, "%s: --passes wants a number from 1 to 1000\n", prog);
        return 2;
      }
    } else if (!options_done && strcmp(a, "--typos") == 0 && i + 1 < argc) {
      unsigned t;
      if (strcmp(argv[++i], "auto") == 0) {
        typos = TRIE_TYPOS_AUTO;
      } else if (ta_parse_uint(argv[i], 0, TRIE_MAX_TYPOS, &t) == 0) {
        typos = (int)t;
      } else {
        fprintf(stderr, "%s: --typos wants auto or a number from 0 to %u, not '%s'\n", prog,
                TRIE_MAX_TYPOS, argv[i]);
        return 2;
      }
    } else if (!options_done && strcmp(a, "--words") == 0) {
      words = 1;
    } else if (!options_done && strcmp(a, "--info") == 0) {
      info = 1;
    } else if (!options_done && strcmp(a, "--verify") == 0) {
      verify = 1;
    } else if (!options_done && strcmp(a, "--bench") == 0 && i + 1 < argc) {
      bench = argv[++i];
    } else if (!options_done && a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      usage(stderr);
      return 2;
    } else if (prefix == NULL) {
      prefix = a;
    } else {
      fprintf(stderr, "%s: one PREFIX only (quote it if it has spaces)\n", prog);
      return 2;
    }
  }
  if (info + verify + (bench != NULL) + (prefix != NULL) != 1) {
    usage(stderr);
    return 2;
  }
  if (info || verify) {
    trie_reader_t *r;
    if (open_or_report(file, &r) != 0) return 1;
    int rc = info ? cmd_info(file, r) : cmd_verify(file, r);
    trie_close(r);
    return rc;
  }
  if (bench) return cmd_bench(file, bench, passes);
  return cmd_lookup(file, prefix, k, typos, words);
}
