/*
 * Helpers shared by the C tests (trie, filters, builder and aggregator tests, the trie fuzz
 * target): random key sets with shared prefixes, multi-byte UTF-8 and score ties; writing a set
 * to a temporary trie file; a scratch directory per test binary (and cmocka group fixtures that
 * make and remove it); random texts glued from atoms; rewriting a trie image's CRCs.
 * Header-only (static functions) because ta_unit_tests builds one binary per test_*.c.
 */
#ifndef TYPEAHEAD_TRIE_TEST_UTIL_H
#define TYPEAHEAD_TRIE_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trie.h"
#include "trie_int.h"

typedef struct {
  trie_entry_t *e; /* the set, in generation order */
  size_t n;
  char **keys; /* owned strings backing e[].key and e[].display */
} tset_t;

static inline uint64_t tu_rng(uint64_t *s) {
  /* splitmix64: deterministic across platforms, so a failing seed reproduces */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Pieces that keys are glued from: many shared prefixes, one-, two-, three- and four-byte
 * UTF-8, spaces. Each is its own key (o-slash, not e-acute, whose key is e), so a key glued
 * from them is one once its spaces are collapsed and trimmed. */
static const char *const tu_pieces[] = {
    "a", "b",   "ab",       "new",          "yo", "rk",
    " ", "caf", "\xc3\xb8", "\xe5\x8c\x97", "z",  "\xf0\x9f\x98\x80",
    "0", "xyz", "q"};

/* What a display form of its own starts with: a soft hyphen (U+00AD), a format character that
 * keys drop and display forms keep, so TU_OWN_DISPLAY + key is a spelling of key (verify
 * checks that a stored text normalizes to its id's key) of 2 more bytes. */
#define TU_OWN_DISPLAY "\xc2\xad"

/* Generates n distinct keys, each normalized (trie_norm_key, as a builder stores them).
 * multibyte = 0 keeps to ASCII pieces. Scores come from a small range so ties are common,
 * unless wide_scores. Display = TU_OWN_DISPLAY + key for every third entry, the key for the
 * others. */
static inline tset_t tu_gen(uint64_t seed, size_t n, int multibyte, int wide_scores) {
  tset_t s;
  s.n = 0;
  s.e = calloc(n ? n : 1, sizeof *s.e);
  s.keys = calloc(2 * (n ? n : 1), sizeof *s.keys);
  uint64_t st = seed;
  size_t npieces = sizeof tu_pieces / sizeof tu_pieces[0];
  /* Dedup with a simple open-addressing set of key hashes + strcmp. */
  size_t cap = 1;
  while (cap < 4 * n + 8) cap *= 2;
  size_t *slot = malloc(cap * sizeof *slot);
  for (size_t i = 0; i < cap; i++) slot[i] = SIZE_MAX;
  while (s.n < n) {
    char buf[128];
    size_t len = 0;
    unsigned parts = 1 + (unsigned)(tu_rng(&st) % 7);
    for (unsigned p = 0; p < parts; p++) {
      const char *piece;
      do piece = tu_pieces[tu_rng(&st) % npieces];
      while (!multibyte && (unsigned char)piece[0] >= 0x80);
      size_t pl = strlen(piece);
      memcpy(buf + len, piece, pl);
      len += pl;
    }
    buf[len] = '\0';
    char key_buf[sizeof buf];
    if (trie_norm_key(buf, len, key_buf, sizeof key_buf, &len) != 0 || len == 0) continue;
    memcpy(buf, key_buf, len + 1);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
    size_t pos = (size_t)h & (cap - 1);
    int dup = 0;
    while (slot[pos] != SIZE_MAX) {
      if (strcmp(s.keys[2 * slot[pos]], buf) == 0) {
        dup = 1;
        break;
      }
      pos = (pos + 1) & (cap - 1);
    }
    if (dup) {
      /* make it unique by a numeric tail so large n terminate */
      char tail[24];
      snprintf(tail, sizeof tail, "%llu", (unsigned long long)(tu_rng(&st) % 1000000));
      if (len + strlen(tail) >= sizeof buf) continue;
      strcat(buf, tail);
      len = strlen(buf);
      h = 1469598103934665603ull;
      for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
      pos = (size_t)h & (cap - 1);
      dup = 0;
      while (slot[pos] != SIZE_MAX) {
        if (strcmp(s.keys[2 * slot[pos]], buf) == 0) {
          dup = 1;
          break;
        }
        pos = (pos + 1) & (cap - 1);
      }
      if (dup) continue;
    }
    slot[pos] = s.n;
    char *key = strdup(buf);
    /* Every third display form differs from its key (a file keeps those apart); the others
     * are the key, whose text a file may rebuild from its nodes. */
    int differs = s.n % 3 == 0;
    char *disp = malloc(len + 3);
    memcpy(disp, TU_OWN_DISPLAY, differs ? 2 : 0);
    memcpy(disp + (differs ? 2 : 0), buf, len + 1);
    s.keys[2 * s.n] = key;
    s.keys[2 * s.n + 1] = disp;
    trie_entry_t *e = &s.e[s.n];
    e->key = key;
    e->key_len = len;
    e->display = disp;
    e->display_len = len + (differs ? 2 : 0);
    e->score = wide_scores ? (double)(tu_rng(&st) % 1000000) / 7.0 : (double)(tu_rng(&st) % 12);
    s.n++;
  }
  free(slot);
  return s;
}

static inline void tu_free(tset_t *s) {
  for (size_t i = 0; i < 2 * s->n; i++) free(s->keys[i]);
  free(s->keys);
  free(s->e);
  s->e = NULL;
  s->keys = NULL;
  s->n = 0;
}

/* The text scratch (trie.h) of a test binary's lookups, made at first use, freed at exit. A
 * loop resets it (trie_text_reset) when it is done with one lookup's hits before the next. */
static trie_text_t *tu_text_scratch;
static inline void tu_text_free_at_exit(void) {
  trie_text_free(tu_text_scratch);
}
static inline trie_text_t *tu_text(void) {
  if (tu_text_scratch == NULL) {
    if (trie_text_new(&tu_text_scratch) != 0) abort();
    atexit(tu_text_free_at_exit);
  }
  return tu_text_scratch;
}

/* A scratch directory for this test binary, removed by tu_rmdir. */
static inline char *tu_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/ta-test-XXXXXX", base != NULL ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  return d != NULL ? strdup(d) : NULL;
}

/* Removes dir and everything in it, frees dir. 0, or -1 when it could not be removed. */
static inline int tu_rmdir(char *dir) {
  if (dir == NULL) return 0;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  int rc = system(cmd) == 0 ? 0 : -1;
  if (rc != 0) fprintf(stderr, "could not remove %s\n", dir);
  free(dir);
  return rc;
}

/* The scratch directory of the tests run by cmocka_run_group_tests(tests, tu_setup_dir,
 * tu_teardown_dir). */
static char *tu_dir;

static inline int tu_setup_dir(void **state) {
  (void)state;
  tu_dir = tu_mkdtemp();
  return tu_dir != NULL ? 0 : -1;
}

static inline int tu_teardown_dir(void **state) {
  (void)state;
  int rc = tu_rmdir(tu_dir);
  tu_dir = NULL;
  return rc;
}

/* Writes a copy of entries (trie_write reorders its input) to path. Returns trie_write's code. */
static inline int tu_write(const char *path, const trie_entry_t *entries, size_t n, uint32_t k,
                           const char *source, int64_t build_time) {
  trie_entry_t *copy = malloc((n ? n : 1) * sizeof *copy);
  if (n) memcpy(copy, entries, n * sizeof *copy);
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    free(copy);
    return TA_EIO;
  }
  trie_write_opts_t o;
  memset(&o, 0, sizeof o);
  o.k = k;
  o.source = source;
  o.build_time = build_time;
  int rc = trie_write(f, copy, n, &o);
  if (fclose(f) != 0 && rc == 0) rc = TA_EIO;
  free(copy);
  return rc;
}

/* Writes entries[0..n) as tu_dir/name at file k and opens it; NULL when either fails. */
static inline trie_reader_t *tu_open_entries(const char *name, const trie_entry_t *entries,
                                             size_t n, uint32_t k) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", tu_dir, name);
  trie_reader_t *r = NULL;
  if (tu_write(path, entries, n, k, "test", 1) != 0 || trie_open(path, &r) != 0) return NULL;
  return r;
}

/* Writes b[0..n) to path (a whole new file); 0 or -1. */
static inline int tu_spit(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return -1;
  int ok = fwrite(b, 1, n, f) == n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* 1 when a hit's text is inside the image img[0..len) (a hot text or a DISPLAY form) or at most
 * a key long (rebuilt from the labels); every byte of it is read, for ASan and valgrind to
 * check. The hostile-file tests' check of every text they are handed. */
static inline int tu_text_ok(const char *text, size_t text_len, const uint8_t *img, size_t len) {
  const uint8_t *t = (const uint8_t *)text;
  volatile unsigned sum = 0;
  for (size_t i = 0; i < text_len; i++) sum += t[i];
  (void)sum;
  return (t >= img && t + text_len <= img + len) || text_len <= TA_MAX_KEY;
}

/* Reads a whole file into memory. */
static inline uint8_t *tu_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
  if (buf != NULL && sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = (size_t)sz;
  return buf;
}

/* The image of entries[0..n) at file k (tu_write's source and build time), written in a scratch
 * directory of its own and read back: an exact-size heap copy (for ASan). NULL when a step
 * fails. */
static inline uint8_t *tu_image(const trie_entry_t *entries, size_t n, uint32_t k,
                                const char *source, int64_t build_time, size_t *len) {
  *len = 0;
  char *dir = tu_mkdtemp();
  if (dir == NULL) return NULL;
  char path[4200];
  snprintf(path, sizeof path, "%s/image.trie", dir);
  uint8_t *img =
      tu_write(path, entries, n, k, source, build_time) == 0 ? tu_slurp(path, len) : NULL;
  if (tu_rmdir(dir) != 0) {
    free(img);
    return NULL;
  }
  return img;
}

/* A random source of the filter tests: xorshift64 from a fixed seed (so a failure reproduces),
 * and the atoms tu_random_text glues texts from. */
typedef struct {
  uint64_t state;
  const char *const *atoms;
  size_t n_atoms;
} tu_rand_t;

/* The next number below n. */
static inline uint32_t tu_rnd(tu_rand_t *r, uint32_t n) {
  r->state ^= r->state << 13;
  r->state ^= r->state >> 7;
  r->state ^= r->state << 17;
  return (uint32_t)(r->state % n);
}

/* Glues 1 to max_atoms random atoms into out; stops at an atom that would not fit below cap.
 * NUL-terminates; returns the length. */
static inline size_t tu_random_text(tu_rand_t *r, char *out, size_t cap, int max_atoms) {
  size_t len = 0;
  int n = 1 + (int)tu_rnd(r, (uint32_t)max_atoms);
  for (int i = 0; i < n; i++) {
    const char *a = r->atoms[tu_rnd(r, (uint32_t)r->n_atoms)];
    size_t al = strlen(a);
    if (len + al >= cap) break;
    memcpy(out + len, a, al);
    len += al;
  }
  out[len] = '\0';
  return len;
}

/* Rewrites the CRCs of every in-bounds section and of the header of the trie image img, so that
 * it passes open's and verify's checksums (lets garbage reach the node walkers). 0, or -1 when
 * the header is not sane enough to do so. */
static inline int tu_fix_crcs(uint8_t *img, size_t len) {
  if (len < TRIE_HDR_FIXED) return -1;
  uint32_t nsect = trie__load_u32(img + 20);
  uint32_t hsize = trie__load_u32(img + 16);
  if (nsect > TRIE_MAX_SECTIONS || hsize != TRIE_HDR_FIXED + nsect * TRIE_SECT_ENTRY + 4 ||
      hsize > len)
    return -1;
  for (uint32_t i = 0; i < nsect; i++) {
    uint8_t *e = img + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
    uint64_t off = trie__load_u64(e + 8), l = trie__load_u64(e + 16);
    if (off <= len && l <= len - off) trie__store_u32(e + 4, trie__crc32c(0, img + off, (size_t)l));
  }
  trie__store_u32(img + hsize - 4, trie__crc32c(0, img, hsize - 4));
  return 0;
}

#endif /* TYPEAHEAD_TRIE_TEST_UTIL_H */
