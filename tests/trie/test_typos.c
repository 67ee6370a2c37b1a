/*
 * Typo matching (trie_lookup_typos) against brute force: random key sets (ASCII and multi-byte
 * UTF-8, shared prefixes, score ties) are written and opened; prefixes of keys get one or two
 * random edits of every kind (insert, delete, substitute, swap neighbours, multi-byte code
 * points included) and must answer exactly what scoring every key answers: the keys whose
 * first code point is the prefix's, that do not start with the prefix, and that start with a
 * string within d edits of it (optimal string alignment over code points), by (edits, score
 * desc, key asc), with the edits and the matched key bytes of each. Also typos=auto's lengths
 * and the highlight of folded text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_test_util.h"

#define MAXC 96

static unsigned to_cps(const char *s, size_t len, uint32_t *cps, size_t *ends) {
  unsigned n = 0;
  for (size_t i = 0; i < len && n < MAXC;) {
    uint8_t b = (uint8_t)s[i];
    unsigned l = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    uint32_t v = l == 1 ? b : (uint32_t)(b & (0x7f >> l));
    for (unsigned t = 1; t < l; t++) v = (v << 6) | ((uint8_t)s[i + t] & 0x3f);
    cps[n] = v;
    i += l;
    ends[n++] = i;
  }
  return n;
}

/* The least OSA distance between p and a prefix of key that starts with p's first code point,
 * and the bytes of the shortest such prefix of key; 99 when the first code points differ. */
static unsigned brute(const char *p, size_t pl, const char *key, size_t kl, size_t *key_end) {
  uint32_t a[MAXC], b[MAXC];
  size_t ae[MAXC], be[MAXC];
  unsigned m = to_cps(p, pl, a, ae), n = to_cps(key, kl, b, be);
  if (m == 0 || n == 0 || a[0] != b[0]) return 99;
  static unsigned D[MAXC + 1][MAXC + 1];
  for (unsigned i = 0; i <= m; i++) D[i][0] = i;
  for (unsigned j = 0; j <= n; j++) D[0][j] = j;
  for (unsigned i = 1; i <= m; i++)
    for (unsigned j = 1; j <= n; j++) {
      unsigned v = D[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (D[i - 1][j] + 1 < v) v = D[i - 1][j] + 1;
      if (D[i][j - 1] + 1 < v) v = D[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && D[i - 2][j - 2] + 1 < v)
        v = D[i - 2][j - 2] + 1;
      D[i][j] = v;
    }
  unsigned best = 99;
  for (unsigned j = 1; j <= n; j++)
    if (D[m][j] < best) {
      best = D[m][j];
      *key_end = be[j - 1];
    }
  return best;
}

typedef struct {
  const trie_entry_t *e;
  unsigned dist;
  size_t key_end;
} want_t;

static int cmp_rank(const void *x, const void *y) {
  const trie_entry_t *a = *(const trie_entry_t *const *)x, *b = *(const trie_entry_t *const *)y;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  size_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(a->key, b->key, m);
  return c != 0 ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Pieces an edit inserts or substitutes: ASCII and multi-byte. */
static const char *const edit_pieces[] = {"a", "b", "e", "k", "y", " ", "\xc3\xa9", "\xe5\x8c\x97"};

/* Applies one random edit of kind (0 insert, 1 delete, 2 substitute, 3 swap) at a code point
 * after the first; the result in out (NUL-terminated). */
static void edit_at(const char *in, unsigned kind, unsigned at, const char *piece, char *out) {
  uint32_t cps[MAXC];
  size_t ends[MAXC];
  unsigned n = to_cps(in, strlen(in), cps, ends);
  size_t o = 0;
  for (unsigned i = 0; i <= n; i++) {
    size_t s = i ? ends[i - 1] : 0, e = i < n ? ends[i] : s;
    if (i == at && kind == 0) o += (size_t)sprintf(out + o, "%s", piece);
    if (i == n) break;
    if (i == at && kind == 1) continue;
    if (i == at && kind == 2) {
      o += (size_t)sprintf(out + o, "%s", piece);
      continue;
    }
    if (i == at && kind == 3 && i + 1 < n) {
      size_t s2 = ends[i], e2 = ends[i + 1];
      memcpy(out + o, in + s2, e2 - s2);
      o += e2 - s2;
      memcpy(out + o, in + s, e - s);
      o += e - s;
      i++;
      continue;
    }
    memcpy(out + o, in + s, e - s);
    o += e - s;
  }
  out[o] = '\0';
}

static void edit(uint64_t *st, const char *in, unsigned kind, char *out) {
  uint32_t cps[MAXC];
  size_t ends[MAXC];
  unsigned n = to_cps(in, strlen(in), cps, ends);
  unsigned at = n > 1 ? 1 + (unsigned)(tu_rng(st) % (n - 1)) : 1;
  edit_at(in, kind, at, edit_pieces[tu_rng(st) % (sizeof edit_pieces / sizeof *edit_pieces)], out);
}

/* Checks every max_edits (1..TRIE_MAX_TYPOS) and n of 1, 5 and the file's k for prefix p
 * against brute force over the set's keys in rank order (byrank; want: room for every key). */
static void check_prefix(trie_reader_t *r, const trie_entry_t **byrank, size_t nkeys, want_t *want,
                         uint32_t file_k, uint64_t seed, const char *p) {
  size_t pl = strlen(p);
  for (unsigned d = 1; d <= TRIE_MAX_TYPOS; d++) {
    size_t nw = 0;
    for (size_t i = 0; i < nkeys; i++) {
      const trie_entry_t *e = byrank[i];
      if (e->key_len >= pl && memcmp(e->key, p, pl) == 0) continue; /* exact: not a typo */
      size_t ke = 0;
      unsigned dist = brute(p, pl, e->key, e->key_len, &ke);
      if (dist == 0 || dist > d) continue;
      want[nw].e = e;
      want[nw].dist = dist;
      want[nw].key_end = ke;
      nw++;
    }
    /* stable by rank within each distance */
    size_t nsorted = 0;
    want_t *sorted = malloc((nw ? nw : 1) * sizeof *sorted);
    for (unsigned dd = 1; dd <= d; dd++)
      for (size_t i = 0; i < nw; i++)
        if (want[i].dist == dd) sorted[nsorted++] = want[i];
    size_t ns[] = {1, 5, file_k};
    for (unsigned t = 0; t < 3; t++) {
      trie_match_t got[TA_MAX_K];
      size_t ng = 99;
      trie_text_reset(tu_text()); /* the hits of the lookups before are checked */
      assert_int_equal(trie_lookup_typos(r, p, pl, d, ns[t], NULL, NULL, tu_text(), got, &ng), 0);
      size_t exp = nsorted < ns[t] ? nsorted : ns[t];
      if (ng != exp)
        fprintf(stderr, "seed %llu prefix [%s] d %u n %zu: %zu hits, want %zu\n",
                (unsigned long long)seed, p, d, ns[t], ng, exp);
      assert_int_equal(ng, exp);
      for (size_t i = 0; i < exp; i++) {
        assert_int_equal(got[i].kind, TRIE_MATCH_TYPO);
        assert_int_equal(got[i].hit.text_len, sorted[i].e->display_len);
        assert_memory_equal(got[i].hit.text, sorted[i].e->display, sorted[i].e->display_len);
        assert_int_equal(got[i].edits, sorted[i].dist);
        assert_int_equal(got[i].n_spans, 1);
        assert_int_equal(got[i].spans[0][0], 0);
        assert_int_equal(got[i].spans[0][1], sorted[i].key_end);
      }
    }
    free(sorted);
  }
}

/* A random key set written to a trie file and opened, with its keys in rank order. */
typedef struct {
  tset_t s;
  trie_reader_t *r;
  const trie_entry_t **byrank;
  want_t *want; /* room for every key */
} fixture_t;

static void fixture_open(fixture_t *f, uint64_t seed, size_t nkeys, int multibyte, uint32_t file_k,
                         const char *tag) {
  f->s = tu_gen(seed, nkeys, multibyte, 0);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s%llu.trie", tu_dir, tag, (unsigned long long)seed);
  assert_int_equal(tu_write(path, f->s.e, f->s.n, file_k, "test", 1), 0);
  f->r = NULL;
  assert_int_equal(trie_open(path, &f->r), 0);
  f->byrank = malloc(f->s.n * sizeof *f->byrank);
  for (size_t i = 0; i < f->s.n; i++) f->byrank[i] = &f->s.e[i];
  qsort(f->byrank, f->s.n, sizeof *f->byrank, cmp_rank);
  f->want = malloc(f->s.n * sizeof *f->want);
}

static void fixture_close(fixture_t *f) {
  free(f->want);
  free(f->byrank);
  trie_close(f->r);
  tu_free(&f->s);
}

static void check_set(uint64_t seed, size_t nkeys, int multibyte, uint32_t file_k, int queries) {
  fixture_t f;
  fixture_open(&f, seed, nkeys, multibyte, file_k, "t");
  uint64_t st = seed * 7 + 1;
  for (int q = 0; q < queries; q++) {
    const trie_entry_t *src = &f.s.e[tu_rng(&st) % f.s.n];
    uint32_t cps[MAXC];
    size_t ends[MAXC];
    unsigned n = to_cps(src->key, src->key_len, cps, ends);
    unsigned cut = 1 + (unsigned)(tu_rng(&st) % n);
    char base[512], p[512], p2[512];
    memcpy(base, src->key, ends[cut - 1]);
    base[ends[cut - 1]] = '\0';
    edit(&st, base, (unsigned)(tu_rng(&st) % 4), p);
    if (tu_rng(&st) % 3 == 0) { /* a second edit, or none at all */
      edit(&st, p, (unsigned)(tu_rng(&st) % 4), p2);
      strcpy(p, p2);
    } else if (tu_rng(&st) % 5 == 0) {
      strcpy(p, base);
    }
    check_prefix(f.r, f.byrank, f.s.n, f.want, file_k, seed, p);
  }
  fixture_close(&f);
}

/* Two edits next to each other, every pair of kinds: where the walk runs out of edits while a
 * swap can still end a row later, and where one edit hides in the other. Prefixes of 8..11
 * code points of keys of the set (fewer when the key is shorter). */
static void check_pairs(uint64_t seed, size_t nkeys, int multibyte, uint32_t file_k, int keys) {
  fixture_t f;
  fixture_open(&f, seed, nkeys, multibyte, file_k, "p");
  uint64_t st = seed * 13 + 5;
  size_t npieces = sizeof edit_pieces / sizeof *edit_pieces;
  for (int q = 0; q < keys; q++) {
    const trie_entry_t *src = &f.s.e[tu_rng(&st) % f.s.n];
    uint32_t cps[MAXC];
    size_t ends[MAXC];
    unsigned n = to_cps(src->key, src->key_len, cps, ends);
    if (n < 4) continue;
    unsigned cut = 8 + (unsigned)(tu_rng(&st) % 4);
    if (cut > n) cut = n;
    char base[512], mid[512], p[512];
    memcpy(base, src->key, ends[cut - 1]);
    base[ends[cut - 1]] = '\0';
    for (unsigned a = 0; a < 4; a++)
      for (unsigned b = 0; b < 4; b++)
        for (unsigned gap = 1; gap <= 2; gap++) {
          unsigned at = 1 + (unsigned)(tu_rng(&st) % (cut - 2));
          edit_at(base, a, at, edit_pieces[tu_rng(&st) % npieces], mid);
          edit_at(mid, b, at + gap, edit_pieces[tu_rng(&st) % npieces], p);
          check_prefix(f.r, f.byrank, f.s.n, f.want, file_k, seed, p);
        }
  }
  fixture_close(&f);
}

static void test_edit_pairs(void **state) {
  (void)state;
  check_pairs(31, 1500, 0, 10, 12);
  check_pairs(32, 1500, 1, 10, 12);
  check_pairs(33, 6000, 0, 5, 8);
}

static void test_ascii_sets(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 6; seed++) check_set(seed, 300 + seed * 200, 0, 5, 150);
}

static void test_multibyte_sets(void **state) {
  (void)state;
  for (uint64_t seed = 11; seed <= 16; seed++) check_set(seed, 500 + seed * 100, 1, 10, 150);
  check_set(21, 20000, 1, 10, 60);
}

static void test_auto_lengths(void **state) {
  (void)state;
  assert_int_equal(trie_typos_auto("goo", 3), 0);
  assert_int_equal(trie_typos_auto("goog", 4), 1);
  assert_int_equal(trie_typos_auto("goo ", 4), 0); /* a trailing space is no character */
  assert_int_equal(trie_typos_auto("googlema", 8), 2);
  assert_int_equal(trie_typos_auto("caf\xc3\xa9", 5), 1); /* code points, not bytes */
  assert_int_equal(trie_typos_auto("\xe5\x8c\x97\xe4\xba\xac", 6), 0);
  /* Hangul: a syllable is one character, though a key holds it as its jamo */
  const struct {
    const char *typed;
    unsigned edits;
  } hangul[] = {{"\xec\x84\x9c\xec\x9a\xb8", 0},                         /* 서울: 5 jamo */
                {"\xec\x84\x9c\xec\x9a\xb8\xec\x8b\x9c", 0},             /* 서울시: 8 jamo */
                {"\xec\x84\x9c\xec\x9a\xb8\xed\x8a\xb9\xeb\xb3\x84", 1}, /* 서울특별 */
                {"\xea\xb0\x80 \xea\xb0\x80", 0}, /* 가 가: 2 syllables and a space */
                {"\xe1\x84\x80\xe1\x84\x80\xe1\x84\x80\xe1\x84\x80", 1}}; /* 4 initials */
  for (size_t i = 0; i < sizeof hangul / sizeof hangul[0]; i++) {
    char key[64];
    size_t klen;
    assert_int_equal(
        trie_norm_prefix(hangul[i].typed, strlen(hangul[i].typed), key, sizeof key, &klen), 0);
    assert_true(klen > strlen(hangul[i].typed) || i == 4); /* the key holds jamo */
    assert_int_equal(trie_typos_auto(key, klen), hangul[i].edits);
  }
}

/* The few cases a reader checks by eye, on a small file. */
static void test_known_cases(void **state) {
  (void)state;
  trie_entry_t e[] = {{"google", 6, "Google", 6, 100},
                      {"goggles", 7, "goggles", 7, 50},
                      {"new york", 8, "New York", 8, 40},
                      {"hoogle", 6, "hoogle", 6, 500}};
  trie_reader_t *r = tu_open_entries("known.trie", e, 4, 5);
  assert_non_null(r);
  trie_match_t got[5];
  size_t n = 0;
  /* gooogle: an insert; first character exact, so hoogle is never one */
  assert_int_equal(trie_lookup_typos(r, "gooogle", 7, 1, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(got[0].hit.text, "Google", 6);
  assert_int_equal(got[0].edits, 1);
  /* ogog: the first character differs from every key's */
  assert_int_equal(trie_lookup_typos(r, "ogogle", 6, 2, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 0);
  /* gogo: a swap is one edit; google (1 edit: "goog") ranks before goggles (also 1: "gog"+g),
   * by score */
  assert_int_equal(trie_lookup_typos(r, "gogo", 4, 1, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(got[0].hit.text, "Google", 6);
  assert_memory_equal(got[1].hit.text, "goggles", 7);
  /* nwe y: a swap inside a two-word key */
  assert_int_equal(trie_lookup_typos(r, "nwe y", 5, 1, 5, NULL, NULL, tu_text(), got, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(got[0].hit.text, "New York", 8);
  assert_int_equal(got[0].spans[0][1], 5);
  trie_close(r);
}

static void test_highlight(void **state) {
  (void)state;
  size_t end = 0;
  assert_int_equal(trie_highlight("Straße", 7, 6, &end), 0); /* key "strass" */
  assert_int_equal(end, 6);                                  /* "Straß" */
  assert_int_equal(trie_highlight("na\xc3\xafve art", 10, 5, &end), 0);
  assert_int_equal(end, 6); /* "naïve" */
  assert_int_equal(trie_highlight("New York", 8, 4, &end), 0);
  assert_int_equal(end, 4); /* "New " */
  assert_int_equal(trie_highlight("Caf\xc3\xa9 Noir", 10, 5, &end), 0);
  assert_int_equal(end, 6); /* "Café " (key "cafe ": the space is key byte 5) */
  assert_int_equal(trie_highlight("ab", 2, 9, &end), 0);
  assert_int_equal(end, 2); /* past the end: the whole text */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auto_lengths),   cmocka_unit_test(test_known_cases),
      cmocka_unit_test(test_highlight),      cmocka_unit_test(test_ascii_sets),
      cmocka_unit_test(test_multibyte_sets), cmocka_unit_test(test_edit_pairs),
  };
  return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
