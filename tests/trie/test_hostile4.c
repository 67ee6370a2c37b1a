/*
 * Hostile inputs aimed at format 4 (docs/FORMAT.md, "NODES", "SCORERUN"): NODES whose children
 * share one node (a file author's graph instead of a tree: every walk that enters every child
 * must stay bounded by the file, not by the number of paths), SCORERUN counts past every score,
 * the group edges of SCORERUN (n around 64), the longest keys and prefixes at the decode
 * buffers' limits, and a trie_top_t that no lookup made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/resource.h>
#include <time.h>

#include "trie_int.h"
#include "trie_test_util.h"

/* The CPU time this thread has used: a bound on it catches a walk that runs away, and unlike the
 * wall clock it does not fail when a loaded machine leaves the test waiting. */
static double secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The image of entries[0..n) at file k, as an exact-size heap copy (for ASan). */
static uint8_t *image(const trie_entry_t *e, size_t n, uint32_t k, size_t *len) {
  uint8_t *img = tu_image(e, n, k, "hostile4", 7, len);
  assert_non_null(img);
  return img;
}

static size_t section_at(const uint8_t *img, uint32_t id, uint64_t *len) {
  uint32_t ns = trie__load_u32(img + 20);
  for (uint32_t i = 0; i < ns; i++) {
    const uint8_t *e = img + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
    if (trie__load_u32(e) == id) {
      if (len != NULL) *len = trie__load_u64(e + 16);
      return (size_t)trie__load_u64(e + 8);
    }
  }
  fail_msg("no section %u", id);
  return 0;
}

static int keep_none(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  (void)c;
  return 0;
}

/* ---- Children that share one node ----------------------------------------------------------- */

/* levels nodes of 256 children each, every child byte 'a' and every child the next node (all
 * offsets 0), each label "a" escaped (the root's empty), then a terminal "a" of id 0: 256^levels
 * paths through levels + 2 nodes. */
static size_t shared_nodes(uint8_t *out, unsigned levels) {
  size_t at = 0;
  for (unsigned l = 0; l <= levels; l++) {
    unsigned codes = l == 0 ? 0 : 2;
    out[at++] = (uint8_t)(TRIE_NODE_NCHILD_ESCAPE << TRIE_NODE_NCHILD_SHIFT |
                          codes << TRIE_NODE_LABEL_SHIFT);
    at += trie__put_varint(out + at, 256 - TRIE_NODE_NCHILD_ESCAPE);
    if (codes) {
      out[at++] = TRIE_SYM_ESCAPE;
      out[at++] = 'a';
    }
    memset(out + at, 'a', 256);
    at += 256;
    out[at++] = 1; /* width */
    memset(out + at, 0, 255);
    at += 255;
  }
  out[at++] = TRIE_NODE_TERMINAL | 2u << TRIE_NODE_LABEL_SHIFT;
  out[at++] = TRIE_SYM_ESCAPE;
  out[at++] = 'a';
  out[at++] = 0;
  return at;
}

/* A copy of img (whose last section is NODES) with NODES replaced by nodes[0..nlen) and the
 * node count of META set to num_nodes, its CRCs resealed; its length into *total. */
static uint8_t *with_nodes(const uint8_t *img, size_t len, const uint8_t *nodes, size_t nlen,
                           uint64_t num_nodes, size_t *total) {
  uint64_t old_len;
  size_t at = section_at(img, TRIE_SECT_NODES, &old_len);
  assert_int_equal((at + old_len + 7) & ~(size_t)7, len);
  *total = (at + nlen + 7) & ~(size_t)7;
  uint8_t *c = calloc(1, *total);
  memcpy(c, img, at);
  memcpy(c + at, nodes, nlen);
  size_t e = TRIE_HDR_FIXED;
  while (trie__load_u32(c + e) != TRIE_SECT_NODES) e += TRIE_SECT_ENTRY;
  trie__store_u64(c + e + 16, nlen);
  trie__store_u64(c + section_at(c, TRIE_SECT_META, NULL) + TRIE_META_NUM_NODES, num_nodes);
  assert_int_equal(tu_fix_crcs(c, *total), 0);
  return c;
}

static void test_shared_children(void **state) {
  (void)state;
  tset_t set = tu_gen(5, 200, 0, 0);
  size_t len, total;
  uint8_t *img = image(set.e, set.n, 4, &len);
  uint8_t buf[8 * 520];
  size_t blen = shared_nodes(buf, 6);
  /* META's node count is the file author's too: no bound on its own */
  uint8_t *c = with_nodes(img, len, buf, blen, UINT64_MAX / 2, &total);
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(c, total, &r), 0);

  double t0 = secs();
  trie_screen_t *s = NULL;
  int rc = trie_screen_build(r, &s);
  if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
  trie_screen_free(s);
  assert_true(secs() - t0 < 0.5);

  t0 = secs();
  trie_words_t *w = NULL;
  rc = trie_words_build(r, &w);
  if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
  trie_words_free(w);
  assert_true(secs() - t0 < 0.5);

  trie_match_t m[TA_MAX_K];
  size_t nm;
  static const char *const prefixes[] = {"abaaaaa", "aaaaaaaab", "aab", "ab", "aaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    for (unsigned typos = 1; typos <= TRIE_MAX_TYPOS; typos++) {
      t0 = secs();
      rc = trie_lookup_typos(r, prefixes[i], strlen(prefixes[i]), typos, 4, NULL, NULL, tu_text(),
                             m, &nm);
      if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
      assert_true(secs() - t0 < 0.5);
      trie_text_reset(tu_text());
    }
  /* the filtered lookup goes past the stored top-k through every child while keep drops */
  trie_hit_t hits[8];
  size_t nh;
  t0 = secs();
  rc = trie_lookup_filtered(r, "a", 1, 8, keep_none, NULL, tu_text(), hits, &nh);
  if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
  assert_true(secs() - t0 < 0.5);
  assert_int_not_equal(trie_verify(r, NULL), 0);
  trie_close(r);
  free(c);
  free(img);
  tu_free(&set);
}

/* ---- SCORERUN at its group edges, and counts past every score ------------------------------ */

/* n entries "k<i>" whose scores come in runs of run (0: all different), with their scores in
 * id order into want[]. */
static trie_entry_t *scored(size_t n, size_t run, char (*keys)[8], double *want) {
  trie_entry_t *e = calloc(n ? n : 1, sizeof *e);
  for (size_t i = 0; i < n; i++) {
    snprintf(keys[i], 8, "k%04u", (unsigned)(i % 10000)); /* key order is id order within a run */
    e[i].key = e[i].display = keys[i];
    e[i].key_len = e[i].display_len = 5;
    e[i].score = run == 0 ? (double)(n - i) : (double)(n / run + 1 - i / run);
    want[i] = e[i].score;
  }
  return e;
}

/* Files of 0 to 129 keys (around the groups of 64 ids) whose scores run 1, 3, 64 or all alike:
 * verify passes, each id has its score and text, the best 4 are ids 0..3. */
static void test_scorerun_edges(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 2, 63, 64, 65, 127, 128, 129};
  static const size_t runs[] = {0, 1, 3, 64, 1000};
  static char keys[129][8];
  double want[129];
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
    for (size_t ri = 0; ri < sizeof runs / sizeof *runs; ri++) {
      size_t n = sizes[si], len;
      trie_entry_t *e = scored(n, runs[ri], keys, want);
      uint8_t *img = image(e, n, 4, &len);
      trie_reader_t *r = NULL;
      assert_int_equal(trie__open_mem(img, len, &r), 0);
      assert_int_equal(trie_verify(r, NULL), 0);
      for (uint32_t id = 0; id < n; id++) {
        trie_hit_t h;
        assert_int_equal(trie_get_hit(r, id, tu_text(), &h), 0);
        if (h.score != want[id])
          fail_msg("n %zu run %zu id %u: score %g, not %g", n, runs[ri], id, h.score, want[id]);
        assert_true(h.text_len == 5 && memcmp(h.text, keys[id], 5) == 0);
      }
      trie_hit_t h;
      assert_int_equal(trie_get_hit(r, (uint32_t)n, tu_text(), &h), TA_ERANGE);
      trie_hit_t best[4];
      size_t nb;
      assert_int_equal(trie_lookup(r, "k", 1, 4, tu_text(), best, &nb), 0);
      assert_int_equal(nb, n < 4 ? n : 4);
      for (size_t i = 0; i < nb; i++) assert_true(best[i].id == i && best[i].score == want[i]);
      trie_text_reset(tu_text());
      trie_close(r);
      free(img);
      free(e);
    }
}

/* The last group's counts at their largest (u32 and u8 past every score) or its bits all set
 * past the last id: open takes it (it checks the length only), every id's score is a score of
 * SCOREVAL or TA_ECORRUPT, verify names SCORERUN. */
static void test_scorerun_counts(void **state) {
  (void)state;
  static char keys[129][8];
  double want[129];
  size_t n = 129, len;
  trie_entry_t *e = scored(n, 3, keys, want);
  uint8_t *img = image(e, n, 4, &len);
  size_t run = section_at(img, TRIE_SECT_SCORERUN, NULL);
  size_t last = run + TRIE_SCORERUN_GROUP * 2;
  for (unsigned what = 0; what < 4; what++) {
    uint8_t *c = malloc(len);
    memcpy(c, img, len);
    if (what == 0) trie__store_u32(c + last, UINT32_MAX);
    if (what == 1) memset(c + last + 4, 0xff, 8);
    if (what == 2) memset(c + last + 12, 0xff, 8);
    if (what == 3) trie__store_u32(c + run + TRIE_SCORERUN_GROUP, UINT32_MAX - 300);
    assert_int_equal(tu_fix_crcs(c, len), 0);
    trie_reader_t *r = NULL;
    assert_int_equal(trie__open_mem(c, len, &r), 0);
    for (uint32_t id = 0; id < n; id++) {
      trie_hit_t h;
      int rc = trie_get_hit(r, id, tu_text(), &h);
      if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
    }
    trie_text_reset(tu_text());
    ta_diag_t d;
    ta_diag_init(&d, "x");
    assert_int_equal(trie_verify(r, &d), TA_ECORRUPT);
    assert_non_null(d.section);
    assert_string_equal(d.section, "SCORERUN");
    trie_close(r);
    free(c);
  }
  free(img);
  free(e);
}

/* ---- Keys and prefixes at the decode buffers' limits ----------------------------------------- */

/* Keys of TA_MAX_KEY bytes (labels of hundreds of codes: the escaped label length), 4 below each
 * of 10 root children (4: the escaped child count): each found by every prefix of it up to its
 * whole length, none by one byte longer or by a prefix thrice TA_MAX_KEY long; the typo walk and
 * the word index take them. */
static void test_longest_keys(void **state) {
  (void)state;
  enum { N = 40 };
  static char keys[N][TA_MAX_KEY];
  trie_entry_t e[N];
  for (size_t i = 0; i < N; i++) {
    for (size_t j = 0; j < TA_MAX_KEY; j++)
      keys[i][j] = (char)('a' + (j * 7 + i * (j % 5 == 0)) % 26);
    keys[i][0] = (char)('0' + i % 10);
    keys[i][1] = (char)('a' + i / 10);
    e[i] = (trie_entry_t){keys[i], TA_MAX_KEY, keys[i], TA_MAX_KEY, (double)(N - i)};
  }
  size_t len;
  uint8_t *img = image(e, N, 4, &len);
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  static char longer[3 * TA_MAX_KEY];
  trie_hit_t hits[4];
  size_t nh;
  for (size_t i = 0; i < N; i++) {
    for (size_t plen = TA_MAX_KEY - 9; plen <= TA_MAX_KEY; plen++) {
      assert_int_equal(trie_lookup(r, keys[i], plen, 4, tu_text(), hits, &nh), 0);
      assert_int_equal(nh, 1);
      assert_true(hits[0].text_len == TA_MAX_KEY && memcmp(hits[0].text, keys[i], TA_MAX_KEY) == 0);
    }
    memcpy(longer, keys[i], TA_MAX_KEY);
    memset(longer + TA_MAX_KEY, keys[i][TA_MAX_KEY - 1], sizeof longer - TA_MAX_KEY);
    for (size_t plen = TA_MAX_KEY + 1; plen <= sizeof longer; plen += TA_MAX_KEY) {
      assert_int_equal(trie_lookup(r, longer, plen, 4, tu_text(), hits, &nh), 0);
      assert_int_equal(nh, 0);
    }
    trie_hit_t h;
    assert_int_equal(trie_get_hit(r, (uint32_t)i, tu_text(), &h), 0);
    assert_true(h.text_len == TA_MAX_KEY);
    trie_text_reset(tu_text());
  }
  trie_words_t *w = NULL;
  assert_int_equal(trie_words_build(r, &w), 0);
  trie_words_free(w);
  trie_match_t m[4];
  assert_int_equal(trie_lookup_typos(r, keys[3], 20, 2, 4, NULL, NULL, tu_text(), m, &nh), 0);
  trie_text_reset(tu_text());
  trie_close(r);
  free(img);
}

/* ---- A trie_top_t no lookup made ------------------------------------------------------------- */

/* Tops kept past trie_text_reset, and past the close of their reader (used with another reader
 * of the same file, as a hot swap could), give the same hits; a top whose node is any other
 * place in NODES gives TA_EINVAL, TA_ECORRUPT or hits, never a read outside the file. */
static void test_stale_top(void **state) {
  (void)state;
  enum { TOPS = 64 };
  tset_t set = tu_gen(9, 300, 1, 0);
  size_t len;
  uint8_t *img_a = image(set.e, set.n, 4, &len), *img_b = malloc(len);
  memcpy(img_b, img_a, len);
  trie_reader_t *ra = NULL, *rb = NULL;
  assert_int_equal(trie__open_mem(img_a, len, &ra), 0);
  assert_int_equal(trie__open_mem(img_b, len, &rb), 0);
  trie_top_t *top = calloc(TOPS, sizeof *top);
  trie_hit_t(*want)[TA_MAX_K] = calloc(TOPS, sizeof *want);
  const char *prefix[TOPS];
  size_t nt = 0;
  for (size_t i = 0; i < set.n && nt < TOPS; i += 3) {
    prefix[nt] = set.e[i].key;
    size_t plen = set.e[i].key_len < 2 ? set.e[i].key_len : 2;
    assert_int_equal(trie_lookup_top(ra, prefix[nt], plen, tu_text(), &top[nt]), 0);
    if (top[nt].n == 0) continue;
    assert_int_equal(
        trie_get_hits(ra, &top[nt], prefix[nt], top[nt].ids, top[nt].n, tu_text(), want[nt]), 0);
    nt++;
  }
  assert_true(nt > 10);
  size_t nodes_len = ra->nodes_len;
  trie_close(ra);
  memset(img_a, 0xa5, len); /* what the old reader's mapping held is gone */
  free(img_a);
  trie_text_reset(tu_text());
  trie_hit_t got[TA_MAX_K];
  for (size_t t = 0; t < nt; t++) {
    assert_int_equal(trie_get_hits(rb, &top[t], prefix[t], top[t].ids, top[t].n, tu_text(), got),
                     0);
    for (size_t h = 0; h < top[t].n; h++)
      assert_true(got[h].id == want[t][h].id && got[h].score == want[t][h].score &&
                  got[h].text_len == want[t][h].text_len);
    for (uint64_t at = 1; at <= nodes_len; at += 1 + at / 8) {
      trie_top_t bad = top[t];
      bad.at.node = at;
      int rc = trie_get_hits(rb, &bad, prefix[t], top[t].ids, top[t].n, tu_text(), got);
      if (rc != 0 && rc != TA_EINVAL) assert_int_equal(rc, TA_ECORRUPT);
    }
    trie_text_reset(tu_text());
  }
  free(top);
  free(want);
  trie_close(rb);
  free(img_b);
  tu_free(&set);
}

/* ---- The writer's symbol training on long labels --------------------------------------------- */

/* 4000 keys of TA_MAX_KEY bytes (16 MB of labels, every one sampled): the training's memory
 * stays bounded by its sample, not by the labels' bytes (it sized a table of 4 entries a sampled
 * byte: 1 GB here, 8 GB at 20,000 such keys), and it is deterministic. */
static void test_sym_train_long_labels(void **state) {
  (void)state;
  enum { N = 4000 };
  char *bytes = malloc((size_t)N * TA_MAX_KEY);
  trie__wkey_t *keys = malloc(N * sizeof *keys);
  uint64_t seed = 77;
  for (size_t i = 0; i < N; i++) {
    char *k = bytes + i * TA_MAX_KEY;
    snprintf(k, 8, "%06u", (unsigned)i); /* key order is index order */
    for (size_t j = 6; j < TA_MAX_KEY; j++) k[j] = (char)('a' + tu_rng(&seed) % 26);
    keys[i] = (trie__wkey_t){k, TA_MAX_KEY, (uint32_t)i};
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long before = ru.ru_maxrss;
  trie__symtab_t a, b;
  assert_int_equal(trie__sym_train_keys(keys, N, &a), 0);
  getrusage(RUSAGE_SELF, &ru);
  if (ru.ru_maxrss - before > 256L * 1024)
    fail_msg("training took %ld MB more", (ru.ru_maxrss - before) / 1024);
  assert_int_equal(trie__sym_train_keys(keys, N, &b), 0);
  assert_memory_equal(&a, &b, sizeof a);
  assert_true(a.n > 0);
  free(keys);
  free(bytes);
}

/* ---- Packed node heads and labels at their limits -------------------------------------------- */

/* NODES of one root (and a child) whose head escapes carry huge, overflowing, overlong or cut
 * varints, or whose labels end in an escape or decode past TA_MAX_KEY: open takes each (it does
 * not walk NODES); every lookup returns 0 or TA_ECORRUPT in bounds; verify names NODES. */
static void test_head_escapes(void **state) {
  (void)state;
  enum { NC = TRIE_NODE_NCHILD_ESCAPE << TRIE_NODE_NCHILD_SHIFT };
  enum { NL = TRIE_NODE_LABEL_ESCAPE << TRIE_NODE_LABEL_SHIFT };
  static const uint8_t max10[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t over[] = {0xf1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t long11[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0};
  tset_t set = tu_gen(11, 150, 0, 0);
  size_t len;
  uint8_t *img = image(set.e, set.n, 4, &len);
  trie_reader_t *r0 = NULL;
  assert_int_equal(trie__open_mem(img, len, &r0), 0);
  uint32_t n_sym = r0->n_sym;
  unsigned code8 = TRIE_SYM_MAX; /* a symbol of 8 bytes, if the table has one */
  for (unsigned i = 0; i < n_sym; i++)
    if (r0->sym_len[i] == TRIE_SYM_LEN_MAX) code8 = i;
  trie_close(r0);
  uint8_t *nodes = calloc(1, 3 * TA_MAX_KEY);
  for (unsigned what = 0; what < 9; what++) {
    size_t at = 0;
    uint8_t *p = nodes;
    switch (what) {
    case 0: /* 257 children */
      p[at++] = NC;
      at += trie__put_varint(p + at, 256 - TRIE_NODE_NCHILD_ESCAPE + 1);
      break;
    case 1: /* a child count of 2^64 - 1 + 3 */
      p[at++] = NC;
      memcpy(p + at, max10, sizeof max10), at += sizeof max10;
      break;
    case 2: /* a varint of 11 bytes */
      p[at++] = NC;
      memcpy(p + at, long11, sizeof long11), at += sizeof long11;
      break;
    case 3: /* the count cut by the end of NODES */
      p[at++] = NC;
      p[at++] = 0x80;
      break;
    case 4: /* a label length that wraps once 15 is added */
      p[at++] = NL;
      memcpy(p + at, over, sizeof over), at += sizeof over;
      break;
    case 5: /* a label of 15 codes that fills NODES: no child bytes left */
      p[at++] = NL | 1u << TRIE_NODE_NCHILD_SHIFT;
      p[at++] = 0;
      memset(p + at, TRIE_SYM_ESCAPE, 15), at += 15;
      break;
    default: /* a root of one child 'a', whose label ends in an escape, or is many codes */
      p[at++] = 1u << TRIE_NODE_NCHILD_SHIFT;
      p[at++] = 'a';
      p[at++] = NL | TRIE_NODE_TERMINAL;
      size_t codes = what == 6 ? 1 : what == 7 ? 2 * (TA_MAX_KEY + 1) : TA_MAX_KEY / 8 + 1;
      at += trie__put_varint(p + at, codes - TRIE_NODE_LABEL_ESCAPE);
      if (what == 8 && code8 == TRIE_SYM_MAX) codes = 0; /* no 8-byte symbol: what 7 covers it */
      memset(p + at, what == 6 ? (int)TRIE_SYM_ESCAPE : what == 7 ? 'a' : (int)code8, codes);
      if (what == 7) /* escaped bytes, TA_MAX_KEY + 1 of them */
        for (size_t i = 0; i < codes; i += 2) p[at + i] = TRIE_SYM_ESCAPE;
      at += codes;
      p[at++] = 0; /* id 0 */
      break;
    }
    size_t total;
    uint8_t *c = with_nodes(img, len, nodes, at, 3, &total);
    trie_reader_t *r = NULL;
    assert_int_equal(trie__open_mem(c, total, &r), 0);
    static char longp[TA_MAX_KEY + 2];
    memset(longp, 'a', sizeof longp);
    static const size_t plens[] = {0, 1, 2, 9, TA_MAX_KEY, TA_MAX_KEY + 1};
    for (size_t i = 0; i < sizeof plens / sizeof *plens; i++) {
      trie_hit_t hits[4];
      size_t nh;
      double t0 = secs();
      int rc = trie_lookup(r, longp, plens[i], 4, tu_text(), hits, &nh);
      if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
      trie_match_t m[4];
      rc = trie_lookup_typos(r, longp, plens[i] < 9 ? plens[i] : 9, 1, 4, NULL, NULL, tu_text(), m,
                             &nh);
      if (rc != 0 && rc != TA_EINVAL) assert_int_equal(rc, TA_ECORRUPT);
      assert_true(secs() - t0 < 0.5);
      trie_text_reset(tu_text());
    }
    for (uint32_t id = 0; id < r->n; id++) {
      trie_hit_t h;
      int rc = trie_get_hit(r, id, tu_text(), &h);
      if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
    }
    trie_text_reset(tu_text());
    trie_words_t *w = NULL;
    int rc = trie_words_build(r, &w);
    if (rc != 0) assert_int_equal(rc, TA_ECORRUPT);
    trie_words_free(w);
    trie_screen_t *sc = NULL;
    if ((rc = trie_screen_build(r, &sc)) != 0) assert_int_equal(rc, TA_ECORRUPT);
    trie_screen_free(sc);
    ta_diag_t d;
    ta_diag_init(&d, "x");
    assert_int_not_equal(trie_verify(r, &d), 0);
    if (d.section == NULL || strcmp(d.section, "NODES") != 0)
      fail_msg("case %u: verify names %s (%s)", what, d.section ? d.section : "none", d.msg);
    trie_close(r);
    free(c);
  }
  free(nodes);
  free(img);
  tu_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shared_children),       cmocka_unit_test(test_head_escapes),
      cmocka_unit_test(test_scorerun_edges),        cmocka_unit_test(test_scorerun_counts),
      cmocka_unit_test(test_longest_keys),          cmocka_unit_test(test_stale_top),
      cmocka_unit_test(test_sym_train_long_labels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
