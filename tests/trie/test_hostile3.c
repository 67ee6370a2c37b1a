/*
 * Hostile files aimed at the tables of formats 3 to 5 (docs/FORMAT.md, "Texts and scores by
 * id", "SYMBOLS"): a sound file from the real writer, one field of HOTOFF, SCOREVAL, SCORERUN,
 * IDPOS, DISPLAY, SYMBOLS or NODES changed, its CRCs resealed so that open and verify see the damage. Open must refuse
 * it, or every lookup (trie_lookup, trie_get_hit of every id, trie_lookup_filtered,
 * trie_lookup_match with typos and words) must return a sound answer or TA_ECORRUPT, in bounds
 * (each image is an exact-size heap copy, for ASan) and quickly; verify must refuse it and name
 * the section.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "trie_int.h"
#include "trie_test_util.h"

static struct {
  uint8_t *img; /* the sound file */
  size_t len;
  tset_t set;
  char *dir;
  /* offsets in img, from a reader of the sound file */
  size_t hot_off, hot_str, score_run, idpos, disp, nodes;
  uint64_t n, m, cold, n_disp, hot_len;
  unsigned idpos_w, hot_w;
  size_t idpos_len, hot_rec;
} fx;

static size_t sect_entry(const uint8_t *img, uint32_t id) {
  uint32_t ns = trie__load_u32(img + 20);
  for (uint32_t i = 0; i < ns; i++)
    if (trie__load_u32(img + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY) == id)
      return TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY;
  return 0;
}

/* Writes entries to a file of the test directory at file k and reads it back; NULL when either
 * fails. */
static uint8_t *image_of(const trie_entry_t *e, size_t n, uint32_t k, size_t *len) {
  char path[4200];
  snprintf(path, sizeof path, "%s/x.trie", fx.dir);
  return tu_write(path, e, n, k, "hostile3", 42) == 0 ? tu_slurp(path, len) : NULL;
}

static int setup(void **state) {
  (void)state;
  fx.set = tu_gen(31, 403, 1, 0);
  fx.dir = tu_mkdtemp();
  fx.img = fx.dir != NULL ? image_of(fx.set.e, fx.set.n, 4, &fx.len) : NULL;
  trie_reader_t *r = NULL;
  if (fx.img == NULL || trie__open_mem(fx.img, fx.len, &r) != 0) return -1;
  fx.hot_off = (size_t)(r->hot_off - r->base);
  fx.hot_str = (size_t)(r->hot_str - r->base);
  fx.score_run = (size_t)(r->score_run - r->base);
  fx.idpos = (size_t)(r->idpos - r->base);
  fx.disp = (size_t)(r->disp_bits - 4 - r->base);
  fx.nodes = (size_t)(r->nodes - r->base);
  fx.n = r->n;
  fx.m = r->m_hot;
  fx.cold = r->n - r->m_hot;
  fx.n_disp = r->n_disp;
  fx.hot_len = r->hot_len;
  fx.idpos_w = r->idpos_bits;
  fx.idpos_len = r->idpos_len;
  fx.hot_w = r->hot_w;
  fx.hot_rec = r->hot_rec;
  trie_close(r);
  /* the cases below need hot and cold ids, display exceptions, a partial last DISPLAY byte */
  return fx.m >= 3 && fx.cold >= 8 && fx.n_disp >= 2 && fx.cold % 8 != 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_free(&fx.set);
  free(fx.img);
  return tu_rmdir(fx.dir); /* the scratch directory gone, or the test fails */
}

/* The CPU time this thread has used: a bound on it catches a walk that runs away, and unlike the
 * wall clock it does not fail when a loaded machine leaves the test waiting. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int keep_half(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  return c->id % 2 == 0;
}

/* A lookup's code: 0 or TA_ECORRUPT, in well under a second of CPU time. */
static void rc_ok(int rc, double t0) {
  if (rc != 0 && rc != TA_ECORRUPT) fail_msg("lookup returned %d", rc);
  assert_true(now_s() - t0 < 0.5);
}

static void poke(const trie_reader_t *r, const uint8_t *img, size_t len) {
  trie_hit_t hits[TA_MAX_K];
  trie_match_t m[TA_MAX_K];
  trie_words_t *w = NULL;
  double t0 = now_s();
  int rc = trie_words_build(r, &w);
  rc_ok(rc, t0);
  trie_match_opts_t o = {1, w};
  for (uint32_t id = 0; id < r->n; id++) {
    trie_hit_t h;
    t0 = now_s();
    rc = trie_get_hit(r, id, tu_text(), &h);
    rc_ok(rc, t0);
    if (rc == 0) assert_true(tu_text_ok(h.text, h.text_len, img, len));
  }
  trie_text_reset(tu_text());
  for (size_t i = 0; i < fx.set.n; i += 7) {
    const trie_entry_t *e = &fx.set.e[i];
    for (size_t plen = 0; plen <= e->key_len; plen++) {
      size_t nh = 0;
      t0 = now_s();
      rc = trie_lookup(r, e->key, plen, 4, tu_text(), hits, &nh);
      rc_ok(rc, t0);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, len));
      /* the filter layer's steps: the answer node's stored top-k (hits or ids), hits by id */
      trie_top_t top;
      t0 = now_s();
      rc = trie_lookup_top(r, e->key, plen, tu_text(), &top);
      rc_ok(rc, t0);
      if (rc == 0 && !top.at.heavy)
        for (size_t h = 0; h < top.n; h++)
          assert_true(tu_text_ok(top.hits[h].text, top.hits[h].text_len, img, len));
      if (rc == 0 && top.at.node != 0) {
        rc = trie_get_hits(r, &top, e->key, top.ids, top.n, tu_text(), hits);
        rc_ok(rc, t0);
        for (size_t h = 0; rc == 0 && h < top.n; h++)
          assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, len));
      }
      t0 = now_s();
      rc = trie_lookup_filtered(r, e->key, plen, 12, keep_half, NULL, tu_text(), hits, &nh);
      rc_ok(rc, t0);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, len));
      t0 = now_s();
      rc = trie_lookup_match(r, e->key, plen, &o, 8, NULL, NULL, tu_text(), m, &nh);
      rc_ok(rc, t0);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(m[h].hit.text, m[h].hit.text_len, img, len));
      trie_text_reset(tu_text());
    }
  }
  trie_words_free(w);
}

/* Reseals the CRCs of a damaged copy of the image; open refuses it or lookups hold; verify
 * refuses it naming section. Returns open's code. */
static int attack(const char *what, uint8_t *img, size_t len, const char *section) {
  assert_int_equal(tu_fix_crcs(img, len), 0);
  uint8_t *copy = malloc(len);
  memcpy(copy, img, len);
  trie_reader_t *r = NULL;
  int rc = trie__open_mem(copy, len, &r);
  if (rc == 0) {
    poke(r, copy, len);
    ta_diag_t d;
    ta_diag_init(&d, "x");
    int v = trie_verify(r, &d);
    if (v == 0) fail_msg("%s: verify calls the damaged file sound", what);
    if (d.section == NULL || strcmp(d.section, section) != 0)
      fail_msg("%s: verify names section %s, not %s (%s)", what, d.section ? d.section : "(none)",
               section, d.msg);
    trie_close(r);
  } else {
    assert_true(rc < 0);
  }
  free(copy);
  return rc;
}

static uint8_t *dup_img(void) {
  uint8_t *c = malloc(fx.len);
  memcpy(c, fx.img, fx.len);
  return c;
}

static void test_sound(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(c, fx.len, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  poke(r, c, fx.len);
  trie_close(r);
  free(c);
}

/* The end of hot text j of group g set to v. */
static void set_hot_end(uint8_t *c, uint64_t g, uint64_t j, uint64_t v) {
  trie__store_bits(c + fx.hot_off + fx.hot_rec * g + 4, j, fx.hot_w,
                   v & ((UINT64_C(1) << fx.hot_w) - 1));
}

static uint64_t hot_end(uint64_t g, uint64_t j) {
  return trie__load_bits(fx.img + fx.hot_off + fx.hot_rec * g + 4, j, fx.hot_w);
}

static void test_hotoff(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  uint8_t *h = c + fx.hot_off;
  /* the ends of texts 1 and 2 swapped: out of order */
  set_hot_end(c, 0, 1, hot_end(0, 2));
  set_hot_end(c, 0, 2, hot_end(0, 1));
  attack("HOTOFF ends out of order", c, fx.len, "HOTOFF");
  /* the last text's end past HOTSTR, all ones, and one past */
  uint64_t lg = (fx.m - 1) / TRIE_HOT_GROUP, lj = (fx.m - 1) % TRIE_HOT_GROUP;
  memcpy(c, fx.img, fx.len);
  set_hot_end(c, lg, lj, hot_end(lg, lj) + 1);
  attack("last hot text past HOTSTR", c, fx.len, "HOTOFF");
  memcpy(c, fx.img, fx.len); /* the last group's: from group 0, all ones can be inside HOTSTR */
  set_hot_end(c, lg, 0, UINT64_MAX);
  attack("a hot text's end far past HOTSTR", c, fx.len, "HOTOFF");
  memcpy(c, fx.img, fx.len);
  trie__store_u32(h, 1);
  attack("group 0 not at 0", c, fx.len, "HOTOFF");
  memcpy(c, fx.img, fx.len);
  trie__store_u32(h, UINT32_MAX);
  attack("group 0 far past HOTSTR", c, fx.len, "HOTOFF");
  /* M > n (test_hostile5 has the rest of HOTOFF's head and its slack) */
  memcpy(c, fx.img, fx.len);
  trie__store_u32(h - TRIE_HOT_HEAD, (uint32_t)fx.n + 1);
  assert_int_not_equal(attack("M > n", c, fx.len, "HOTOFF"), 0);
  free(c);
}

static void test_scores(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  size_t e = sect_entry(c, TRIE_SECT_SCORERUN);
  trie__store_u64(c + e + 16, TRIE_SCORERUN_GROUP * ((fx.n + 63) / 64) - 1);
  assert_int_not_equal(attack("SCORERUN not a group per 64 ids", c, fx.len, "SCORERUN"), 0);
  /* a group counting far more runs than SCOREVAL holds, or none before id 0 starts one */
  memcpy(c, fx.img, fx.len);
  trie__store_u32(c + fx.score_run + TRIE_SCORERUN_GROUP * ((fx.n - 1) / 64), 0xffffffffu);
  attack("SCORERUN count >= D", c, fx.len, "SCORERUN");
  memcpy(c, fx.img, fx.len);
  c[fx.score_run + 12] &= 0xfe;
  attack("SCORERUN id 0 starts no run", c, fx.len, "SCORERUN");
  /* a byte's count that skips, and a run started past the last id */
  memcpy(c, fx.img, fx.len);
  c[fx.score_run + 4 + 7] = 200;
  attack("SCORERUN byte count skips", c, fx.len, "SCORERUN");
  if (fx.n % 64 != 0) {
    memcpy(c, fx.img, fx.len);
    size_t last = fx.score_run + TRIE_SCORERUN_GROUP * ((fx.n - 1) / 64);
    c[last + 12 + 7] |= 0x80;
    attack("SCORERUN bit past the last id", c, fx.len, "SCORERUN");
  }
  memcpy(c, fx.img, fx.len);
  trie__store_u64(c + sect_entry(c, TRIE_SECT_SCOREVAL) + 16, 0);
  assert_int_not_equal(attack("D = 0 with n > 0", c, fx.len, "SCOREVAL"), 0);
  free(c);
}

/* IDPOS of id i set to v (its low w bits). */
static void set_idpos(uint8_t *c, uint64_t i, uint64_t v) {
  trie__store_bits(c + fx.idpos, i, fx.idpos_w, v & ((UINT64_C(1) << fx.idpos_w) - 1));
}

static uint64_t idpos_of(const uint8_t *img, uint64_t i) {
  return trie__load_bits(img + fx.idpos, i, fx.idpos_w);
}

static void test_idpos(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  uint64_t nodes_len = trie__load_u64(c + sect_entry(c, TRIE_SECT_NODES) + 16);
  /* hot ids (0, and the first cold one's neighbour) as well as cold ones */
  for (uint64_t i = 0; i < fx.n; i += fx.n / 7) {
    uint64_t pos = idpos_of(fx.img, i);
    uint64_t other = idpos_of(fx.img, (i + 1) % fx.n);
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, pos + 1);
    attack("IDPOS in the middle of a node", c, fx.len, "IDPOS");
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, other);
    attack("IDPOS at another id's terminal", c, fx.len, "IDPOS");
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, 0);
    attack("IDPOS at the root (no terminal, earlier)", c, fx.len, "IDPOS");
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, pos > 2 ? pos - 2 : 0);
    attack("IDPOS earlier", c, fx.len, "IDPOS");
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, nodes_len);
    attack("IDPOS at the end of NODES", c, fx.len, "IDPOS");
    memcpy(c, fx.img, fx.len);
    set_idpos(c, i, UINT64_MAX);
    attack("IDPOS far past NODES", c, fx.len, "IDPOS");
  }
  free(c);
}

static void test_display(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  uint8_t *d = c + fx.disp, *bits = d + 4;
  size_t nb = (fx.cold + 7) / 8;
  uint8_t *ids = bits + nb, *off = ids + 4 * fx.n_disp;
  trie__store_u32(d, (uint32_t)fx.cold + 1);
  assert_int_not_equal(attack("DISPLAY count above the cold ids", c, fx.len, "DISPLAY"), 0);
  memcpy(c, fx.img, fx.len);
  trie__store_u32(d, (uint32_t)fx.n_disp + 1);
  attack("DISPLAY count one too many", c, fx.len, "DISPLAY");
  memcpy(c, fx.img, fx.len);
  bits[nb - 1] |= 0x80;
  attack("DISPLAY bit past the last cold id", c, fx.len, "DISPLAY");
  /* a bit set for an unlisted id, a listed id's bit cleared */
  uint64_t first = trie__load_u32(ids) - fx.m;
  for (uint64_t j = 0; j < fx.cold; j++) {
    if (bits[j / 8] >> (j % 8) & 1) continue;
    memcpy(c, fx.img, fx.len);
    bits[j / 8] |= (uint8_t)(1u << (j % 8));
    attack("DISPLAY bit of an unlisted id", c, fx.len, "DISPLAY");
    memcpy(c, fx.img, fx.len);
    bits[j / 8] |= (uint8_t)(1u << (j % 8));
    bits[first / 8] &= (uint8_t) ~(1u << (first % 8));
    attack("DISPLAY bit moved to an unlisted id", c, fx.len, "DISPLAY");
    break;
  }
  memcpy(c, fx.img, fx.len);
  bits[first / 8] &= (uint8_t) ~(1u << (first % 8));
  attack("DISPLAY listed id without its bit", c, fx.len, "DISPLAY");
  memcpy(c, fx.img, fx.len);
  uint32_t a = trie__load_u32(ids), b = trie__load_u32(ids + 4);
  trie__store_u32(ids, b);
  trie__store_u32(ids + 4, a);
  attack("DISPLAY ids out of order", c, fx.len, "DISPLAY");
  memcpy(c, fx.img, fx.len);
  trie__store_u32(off + 4, UINT32_MAX);
  attack("DISPLAY offset past the forms", c, fx.len, "DISPLAY");
  memcpy(c, fx.img, fx.len);
  trie__store_u32(off + 4 * fx.n_disp, trie__load_u32(off + 4 * fx.n_disp) - 1);
  attack("DISPLAY last offset short of the forms", c, fx.len, "DISPLAY");
  memcpy(c, fx.img, fx.len);
  trie__store_u32(off, 1);
  attack("DISPLAY offset 0 not 0", c, fx.len, "DISPLAY");
  free(c);
}

/* A copy of the image with NODES (the last section) replaced by nodes[0..len): the header's
 * length, the padding; CRCs resealed by attack. *out_len gets the new size. */
static uint8_t *with_nodes(const uint8_t *img, const uint8_t *nodes, size_t len, size_t *out_len) {
  size_t e = sect_entry(img, TRIE_SECT_NODES);
  uint64_t off = trie__load_u64(img + e + 8);
  assert_int_equal((off + trie__load_u64(img + e + 16) + 7) & ~(uint64_t)7, fx.len);
  size_t total = ((size_t)off + len + 7) & ~(size_t)7;
  uint8_t *c = calloc(1, total);
  memcpy(c, img, (size_t)off);
  memcpy(c + off, nodes, len);
  trie__store_u64(c + e + 16, len);
  *out_len = total;
  return c;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t i = 0;
  for (; v >= 0x80; v >>= 7) p[i++] = (uint8_t)(v | 0x80);
  p[i++] = (uint8_t)v;
  return i;
}

/* A chain of depth nodes with empty labels, each with one child 'a' (heavy ones with a list of
 * cold ids), ending in a terminal "a" of the first cold id; every IDPOS points at that end.
 * Open takes it (it does not walk NODES); lookups must stay bounded, verify refuse it. */
static void chain(size_t depth, int heavy) {
  size_t cap = (depth + 2) * (16 + 10 * TA_MAX_K);
  uint8_t *nodes = malloc(cap);
  size_t at = 0;
  for (size_t i = 0; i <= depth; i++) {
    /* one child, an empty label */
    nodes[at++] = (uint8_t)(1u << TRIE_NODE_NCHILD_SHIFT | (heavy ? TRIE_NODE_HEAVY : 0));
    if (heavy) {
      uint8_t list[10 * TA_MAX_K];
      size_t ll = put_varint(list, fx.m);
      for (unsigned j = 1; j < 4; j++) ll += put_varint(list + ll, 0);
      at += put_varint(nodes + at, ll);
      memcpy(nodes + at, list, ll);
      at += ll;
    }
    nodes[at++] = 'a';
  }
  size_t term = at;
  /* the label "a", escaped (two codes): the same whatever the symbols */
  nodes[at++] = TRIE_NODE_TERMINAL | 2u << TRIE_NODE_LABEL_SHIFT;
  nodes[at++] = TRIE_SYM_ESCAPE;
  nodes[at++] = 'a';
  at += put_varint(nodes + at, fx.m);
  uint8_t *img = dup_img();
  assert_true(term < (uint64_t)1 << fx.idpos_w);
  for (uint64_t i = 0; i < fx.n; i++) set_idpos(img, i, term);
  size_t len;
  uint8_t *c = with_nodes(img, nodes, at, &len);
  assert_int_equal(
      attack(heavy ? "a deep chain of heavy empty labels" : "a deep chain of empty labels", c, len,
             "NODES"),
      0);
  free(c);
  free(img);
  free(nodes);
}

static void test_deep_chain(void **state) {
  (void)state;
  /* IDPOS holds positions up to the original NODES length (its width) */
  uint64_t nodes_len = trie__load_u64(fx.img + sect_entry(fx.img, TRIE_SECT_NODES) + 16);
  chain(fx.idpos_w >= 24 ? 20000 : (size_t)(nodes_len / 3), 0);
  chain(fx.idpos_w >= 24 ? 5000 : (size_t)(nodes_len / 12), 1);
}

/* Children 0 and 1 of the root swapped (subtrees moved, their offsets and IDPOS updated):
 * every answer stays right, but the best-id order is broken; verify must say so. */
static void test_child_order(void **state) {
  (void)state;
  uint8_t *c = dup_img();
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(fx.img, fx.len, &r), 0);
  trie__node_t root = {0};
  assert_int_equal(trie__node_parse(r, 0, TRIE_NO_FIRST, &root), 0);
  assert_true(root.nchild >= 3);
  size_t s0 = root.end, s1 = root.end + (size_t)trie__child_off(&root, 1);
  size_t s2 = root.end + (size_t)trie__child_off(&root, 2);
  size_t l0 = s1 - s0, l1 = s2 - s1;
  uint8_t *nodes = c + fx.nodes;
  memcpy(nodes + s0, r->nodes + s1, l1);
  memcpy(nodes + s0 + l1, r->nodes + s0, l0);
  size_t cb = (size_t)(root.child_bytes - r->nodes);
  nodes[cb] = root.child_bytes[1];
  nodes[cb + 1] = root.child_bytes[0];
  /* offsets follow the child bytes: width byte, then child 1's offset */
  unsigned w = nodes[cb + root.nchild];
  trie__store_uw(nodes + cb + root.nchild + 1, l1, w);
  for (uint64_t i = 0; i < fx.n; i++) {
    uint64_t p = idpos_of(fx.img, i);
    if (p >= s0 && p < s1) set_idpos(c, i, p + l1);
    if (p >= s1 && p < s2) set_idpos(c, i, p - l0);
  }
  trie_close(r);
  /* the answers hold: every id's hit is the same as in the sound file */
  assert_int_equal(tu_fix_crcs(c, fx.len), 0);
  assert_int_equal(trie__open_mem(c, fx.len, &r), 0);
  trie_reader_t *sound = NULL;
  assert_int_equal(trie__open_mem(fx.img, fx.len, &sound), 0);
  for (uint32_t id = 0; id < fx.n; id++) {
    trie_hit_t a, b;
    assert_int_equal(trie_get_hit(r, id, tu_text(), &a), 0);
    assert_int_equal(trie_get_hit(sound, id, tu_text(), &b), 0);
    assert_int_equal(a.text_len, b.text_len);
    assert_memory_equal(a.text, b.text, a.text_len);
  }
  trie_text_reset(tu_text());
  trie_close(sound);
  trie_close(r);
  assert_int_equal(attack("children out of best-id order", c, fx.len, "NODES"), 0);
  free(c);
}

/* A key longer than TA_MAX_KEY: two keys "a" x 3000 and that + "b" x 1001, whose last label
 * (stored without its first byte: 1000 "b"s) grows by 200 bytes (more codes of its symbol).
 * Every node is sound but the key's text cannot be rebuilt (a lookup says TA_ECORRUPT): verify
 * must refuse it too. */
static void test_key_too_long(void **state) {
  (void)state;
  char *k2 = malloc(4203), *k4 = malloc(4003);
  memset(k2, 'a', 3000);
  memset(k2 + 3000, 'b', 1001);
  k2[4001] = 'c';
  k2[4002] = 'd';
  memcpy(k4, k2, 4002);
  k4[4002] = 'e';
  /* "c" has two keys below it: heavy at k = 1 */
  trie_entry_t e[5] = {{k2, 3000, k2, 3000, 2.0},
                       {k2, 4001, k2, 4001, 1.0},
                       {k2, 4002, k2, 4002, 0.5},
                       {k2, 4003, k2, 4003, 0.25},
                       {k4, 4003, k4, 4003, 0.125}};
  size_t len;
  uint8_t *img = image_of(e, 5, 1, &len);
  assert_non_null(img);
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  assert_int_equal(r->m_hot, 0);
  size_t pos = 0;
  assert_int_equal(trie__id_node(r, 1, &pos), 0);
  trie__node_t nd;
  assert_int_equal(trie__node_parse(r, pos, 'b', &nd), 0);
  /* "b" x 1000 is coded as one symbol of "b"s, repeated: 200 more bytes are more of it */
  unsigned code = nd.code[0], sl = r->sym_len[code];
  assert_true(sl > 0 && 200 % sl == 0 && r->sym[code][0] == 'b');
  assert_int_equal(nd.code_len * sl, 1000);
  for (size_t i = 0; i < nd.code_len; i++) assert_int_equal(nd.code[i], code);
  size_t old_end = (size_t)(nd.code - r->nodes) + nd.code_len, ncode = 1200 / sl;
  uint8_t nodes[8192];
  /* its first byte (the length escaped: 125 codes or more), then the length - 15 */
  assert_int_equal(r->nodes[pos] >> TRIE_NODE_LABEL_SHIFT, TRIE_NODE_LABEL_ESCAPE);
  assert_int_equal(nd.code - r->nodes - pos, 2);
  memcpy(nodes, r->nodes, pos + 1);
  size_t at = pos + 1 + put_varint(nodes + pos + 1, ncode - TRIE_NODE_LABEL_ESCAPE);
  memset(nodes + at, (int)code, ncode);
  at += ncode;
  memcpy(nodes + at, r->nodes + old_end, r->nodes_len - old_end);
  size_t grow = at - old_end, nlen = r->nodes_len + grow;
  /* ids 2..4 come after the grown label */
  size_t idpos = (size_t)(r->idpos - r->base);
  unsigned w = r->idpos_bits;
  trie_close(r);
  /* with_nodes checks the layout against fx.len: do it here for this image */
  size_t es = sect_entry(img, TRIE_SECT_NODES);
  uint64_t off = trie__load_u64(img + es + 8);
  size_t total = ((size_t)off + nlen + 7) & ~(size_t)7;
  uint8_t *c = calloc(1, total);
  memcpy(c, img, (size_t)off);
  memcpy(c + off, nodes, nlen);
  trie__store_u64(c + es + 16, nlen);
  for (size_t i = 2; i < 5; i++)
    trie__store_bits(c + idpos, i, w, trie__load_bits(img + idpos, i, w) + grow);
  assert_int_equal(tu_fix_crcs(c, total), 0);
  assert_int_equal(trie__open_mem(c, total, &r), 0);
  trie_hit_t h;
  assert_int_equal(trie_get_hit(r, 1, tu_text(), &h), TA_ECORRUPT);
  /* a prefix that walks the whole path: 4201 key bytes above the answer node "c" */
  memset(k2 + 3000, 'b', 1201);
  k2[4201] = 'c';
  trie_hit_t hits[TA_MAX_K];
  size_t nh;
  k2[4202] = 'd';
  for (size_t plen = 4191; plen <= 4203; plen++) {
    assert_int_equal(trie_lookup(r, k2, plen, 1, tu_text(), hits, &nh), TA_ECORRUPT);
    assert_int_equal(trie_lookup_filtered(r, k2, plen, 4, keep_half, NULL, tu_text(), hits, &nh),
                     TA_ECORRUPT);
  }
  trie_text_reset(tu_text());
  trie_close(r);
  assert_int_equal(attack("a key longer than TA_MAX_KEY", c, total, "NODES"), 0);
  free(c);
  free(img);
  free(k2);
  free(k4);
}

/* DISPLAY with no listed id whose offset 0 is not 0 (the byte of padding after it taken into
 * the section as a form): the format says entry 0 is 0. */
static void test_display_none_listed(void **state) {
  (void)state;
  tset_t s = tu_gen(5, 60, 0, 0);
  for (size_t i = 0; i < s.n; i++) {
    s.e[i].display = s.e[i].key;
    s.e[i].display_len = s.e[i].key_len;
  }
  for (size_t n = 40; n <= 60; n++) {
    size_t len;
    uint8_t *img = image_of(s.e, n, 4, &len);
    assert_non_null(img);
    size_t e = sect_entry(img, TRIE_SECT_DISPLAY);
    uint64_t off = trie__load_u64(img + e + 8), dl = trie__load_u64(img + e + 16);
    if ((off + dl) % 8 == 0) {
      free(img);
      continue;
    }
    assert_int_equal(trie__load_u32(img + off), 0);
    trie__store_u32(img + off + dl - 4, 1);
    img[off + dl] = 'x';
    trie__store_u64(img + e + 16, dl + 1);
    assert_int_equal(attack("DISPLAY none listed, offset 0 is 1", img, len, "DISPLAY"), 0);
    free(img);
    break;
  }
  tu_free(&s);
}

/* A sound file whose keys nest 80 deep ("a", "aa", ...; the longest best, every third with a
 * display form of its own): heavy answers' cold texts come from paths deeper than the descent's
 * frames. Every hit of every lookup is what trie_get_hit gives for its id. */
static void test_deep_hits_match_get_hit(void **state) {
  (void)state;
  enum { DEPTH = 80 };
  static char keys[DEPTH][DEPTH + 1], disp[DEPTH][DEPTH + 3];
  trie_entry_t e[DEPTH];
  for (size_t i = 0; i < DEPTH; i++) {
    memset(keys[i], 'a', i + 1);
    memcpy(disp[i], TU_OWN_DISPLAY, 2);
    memcpy(disp[i] + 2, keys[i], i + 1);
    int own = i % 3 == 0;
    e[i] =
        (trie_entry_t){keys[i], i + 1, own ? disp[i] : keys[i], i + 1 + (own ? 2 : 0), (double)i};
  }
  size_t len;
  uint8_t *img = image_of(e, DEPTH, 4, &len);
  assert_non_null(img);
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  assert_int_equal(trie_verify(r, NULL), 0);
  assert_true(r->m_hot < 4); /* the heavy lists hold cold ids */
  for (size_t p = 0; p <= DEPTH; p++) {
    trie_hit_t hits[TA_MAX_K];
    size_t nh;
    assert_int_equal(trie_lookup(r, keys[DEPTH - 1], p, 4, tu_text(), hits, &nh), 0);
    assert_int_equal(nh, p + 4 <= DEPTH ? 4 : DEPTH - (p ? p - 1 : 0));
    for (size_t i = 0; i < nh; i++) {
      trie_hit_t h;
      assert_int_equal(trie_get_hit(r, hits[i].id, tu_text(), &h), 0);
      assert_int_equal(hits[i].text_len, h.text_len);
      assert_memory_equal(hits[i].text, h.text, h.text_len);
      assert_true(hits[i].score == h.score);
      size_t key_len = DEPTH - hits[i].id; /* id i is the key of DEPTH - i bytes */
      assert_int_equal(h.text_len, key_len + ((key_len - 1) % 3 == 0 ? 2 : 0));
    }
    trie_text_reset(tu_text());
  }
  trie_close(r);
  free(img);
}

/* SYMBOLS damaged: a symbol longer than 8 bytes, a count past 255 or lengths that do not fill
 * the section are refused at open; a symbol of 0 bytes (its bytes given to the next one, so
 * the lengths still fill the section) opens, lookups stay bounded, verify names SYMBOLS; a
 * label code that is no symbol opens, lookups stay bounded (it decodes to nothing), verify
 * names NODES. */
static void test_symbols(void **state) {
  (void)state;
  trie_reader_t *r = NULL;
  assert_int_equal(trie__open_mem(fx.img, fx.len, &r), 0);
  size_t sym = (size_t)(r->sym_sect - r->base);
  uint32_t n_sym = r->n_sym;
  /* two neighbours whose bytes fit one symbol */
  uint32_t pair = n_sym;
  for (uint32_t i = 0; i + 1 < n_sym && pair == n_sym; i++)
    if (r->sym_len[i] + r->sym_len[i + 1] <= TRIE_SYM_LEN_MAX) pair = i;
  trie_close(r);
  assert_true(n_sym >= 2 && pair < n_sym);

  uint8_t *c = dup_img();
  c[sym + 4] = TRIE_SYM_LEN_MAX + 1;
  assert_int_equal(attack("a symbol of 9 bytes", c, fx.len, "SYMBOLS"), TA_ECORRUPT);
  memcpy(c, fx.img, fx.len);
  trie__store_u32(c + sym, TRIE_SYM_MAX + 1);
  assert_int_equal(attack("256 symbols", c, fx.len, "SYMBOLS"), TA_ECORRUPT);
  memcpy(c, fx.img, fx.len);
  trie__store_u32(c + sym, n_sym - 1);
  assert_int_equal(attack("one symbol fewer", c, fx.len, "SYMBOLS"), TA_ECORRUPT);
  memcpy(c, fx.img, fx.len);
  c[sym + 4 + pair + 1] = (uint8_t)(c[sym + 4 + pair] + c[sym + 4 + pair + 1]);
  c[sym + 4 + pair] = 0;
  assert_int_equal(attack("a symbol of 0 bytes", c, fx.len, "SYMBOLS"), 0);
  free(c);

  /* A code past the table needs a table of fewer than 255 symbols: a file of a few keys. The
   * root's first child's first code made the first code past the table. */
  size_t len;
  c = image_of(fx.set.e, 12, 4, &len);
  assert_non_null(c);
  assert_int_equal(trie__open_mem(c, len, &r), 0);
  trie__node_t root, child;
  assert_int_equal(trie__node_parse(r, 0, TRIE_NO_FIRST, &root), 0);
  assert_int_equal(trie__node_child(r, &root, 0, &child), 0);
  assert_true(r->n_sym < TRIE_SYM_MAX && child.code_len >= 1);
  size_t code = (size_t)(child.code - r->base);
  c[code] = (uint8_t)r->n_sym;
  trie_close(r);
  assert_int_equal(attack("a label code that is no symbol", c, len, "NODES"), 0);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sound),
      cmocka_unit_test(test_hotoff),
      cmocka_unit_test(test_scores),
      cmocka_unit_test(test_idpos),
      cmocka_unit_test(test_display),
      cmocka_unit_test(test_deep_chain),
      cmocka_unit_test(test_child_order),
      cmocka_unit_test(test_key_too_long),
      cmocka_unit_test(test_display_none_listed),
      cmocka_unit_test(test_deep_hits_match_get_hit),
      cmocka_unit_test(test_symbols),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
