/*
 * trie_verify says where a file is bad (trie.h, docs/FORMAT.md "What verify checks"): a small
 * trie is written to a temporary file, read back into memory, damaged at known places (a byte of
 * each section behind its CRC; with the CRCs made to match again: a node, a label code, a symbol,
 * a hot text, a score, a run count (SCORERUN), a HOTOFF, IDPOS and DISPLAY entry, a META field, padding),
 * and each time the
 * diagnostic must carry the
 * code, the section's name and a byte offset inside that section (the exact byte where it is
 * well defined), and ta_diag_format must print "FILE: section S, byte N: ...".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trie_int.h"
#include "trie_test_util.h"

static uint8_t *img; /* the sound file */
static size_t img_len;
static tset_t set;
static char *dir;

static int setup(void **state) {
  (void)state;
  set = tu_gen(11, 60, 1, 0);
  dir = tu_mkdtemp();
  char path[4200];
  snprintf(path, sizeof path, "%s/w.trie", dir);
  /* A 5-byte source: META's length is not a multiple of 8, so padding follows it. */
  if (tu_write(path, set.e, set.n, 3, "where", 7) != 0) return -1;
  img = tu_slurp(path, &img_len);
  return img != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  free(img);
  tu_free(&set);
  tu_rmdir(dir);
  return 0;
}

/* The section table of the sound file, and where section id starts and how long it is. */
static trie__section_t section(uint32_t id) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  trie__section_t s = {0, 0, 0, 0};
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].id == id) s = r->sect[i];
  trie_close(r);
  assert_int_not_equal(s.id, 0);
  return s;
}

/* Makes every CRC of buf match its bytes again, so verify's structural checks see the damage. */
static void reseal(uint8_t *buf) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(buf, img_len, &r), 0);
  uint32_t header_size = TRIE_HDR_FIXED + r->nsect * TRIE_SECT_ENTRY + 4;
  for (uint32_t i = 0; i < r->nsect; i++) {
    uint32_t crc = trie__crc32c(0, buf + r->sect[i].off, (size_t)r->sect[i].len);
    trie__store_u32(buf + TRIE_HDR_FIXED + i * TRIE_SECT_ENTRY + 4, crc);
  }
  trie_close(r);
  trie__store_u32(buf + header_size - 4, trie__crc32c(0, buf, header_size - 4));
}

/* Verifies buf: the code must be code, the section name, and the offset in [lo, hi). Returns the
 * offset. Also checks the one-line form. */
static uint64_t expect(const uint8_t *buf, int code, const char *name, uint64_t lo, uint64_t hi) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(buf, img_len, &r), 0);
  ta_diag_t d;
  ta_diag_init(&d, "w.trie");
  int rc = trie_verify(r, &d);
  if (rc != code || d.section == NULL || strcmp(d.section, name) != 0 || d.offset < lo ||
      d.offset >= hi)
    fprintf(stderr, "got %s, section %s, byte %llu (%s); want %s, %s, [%llu, %llu)\n",
            ta_err_name(rc), d.section ? d.section : "(none)", (unsigned long long)d.offset, d.msg,
            ta_err_name(code), name, (unsigned long long)lo, (unsigned long long)hi);
  assert_int_equal(rc, code);
  assert_int_equal(d.code, code);
  assert_non_null(d.section);
  assert_string_equal(d.section, name);
  assert_in_range(d.offset, lo, hi - 1);
  assert_true(d.msg[0] != '\0');

  char want[128], line[512];
  snprintf(want, sizeof want, "w.trie: section %s, byte %llu: ", name,
           (unsigned long long)d.offset);
  ta_diag_format(&d, line, sizeof line);
  assert_memory_equal(line, want, strlen(want));
  assert_true(strlen(line) > strlen(want));

  assert_int_equal(trie_verify(r, NULL), code); /* no diagnostic wanted: same code */
  trie_close(r);
  return d.offset;
}

/* A copy of the sound file to damage. */
static uint8_t *copy(void) {
  uint8_t *buf = malloc(img_len);
  assert_non_null(buf);
  memcpy(buf, img, img_len);
  return buf;
}

static void test_sound_file(void **state) {
  (void)state;
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  ta_diag_t d;
  ta_diag_init(&d, "w.trie");
  assert_int_equal(trie_verify(r, &d), 0);
  assert_int_equal(d.code, 0);
  assert_null(d.section);
  trie_close(r);
}

/* A changed byte in each section: a CRC mismatch reported at the start of that section. */
static void test_crc_each_section(void **state) {
  (void)state;
  static const uint32_t ids[] = TRIE_SECT_REQUIRED;
  for (uint32_t i = 0; i < TRIE_SECT_NUM_REQUIRED; i++) {
    uint32_t id = ids[i];
    trie__section_t s = section(id);
    assert_true(s.len > 0);
    uint8_t *buf = copy();
    /* The last byte of each, but in META the source's last byte: the normalization version
     * after it is checked at open. */
    size_t at = (size_t)(s.off + s.len - 1 - (id == TRIE_SECT_META ? TRIE_META_NORM_LEN : 0));
    buf[at] ^= 0x01;
    assert_int_equal(expect(buf, TA_ECHECKSUM, trie__section_name(id), s.off, s.off + 1), s.off);
    free(buf);
  }
}

/* Parses the node at pos of the sound file's NODES; the file offsets of its child bytes and of
 * its label go to *bytes and *label. */
static trie__node_t node_at(size_t pos, uint64_t *bytes, uint64_t *label) {
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  trie__node_t nd;
  assert_int_equal(trie__node_parse(r, pos, TRIE_NO_FIRST, &nd), 0);
  *bytes = (uint64_t)(nd.child_bytes - r->base);
  *label = (uint64_t)(nd.code - r->base);
  trie_close(r);
  return nd;
}

/* The root's second child byte made the same as its first: reported at the second. */
static void test_node_child_bytes(void **state) {
  (void)state;
  trie__section_t s = section(TRIE_SECT_NODES);
  uint64_t at, label;
  trie__node_t root = node_at(0, &at, &label);
  assert_true(root.nchild >= 2);
  uint8_t *buf = copy();
  buf[at + 1] = img[at];
  reseal(buf);
  assert_int_equal(expect(buf, TA_ECORRUPT, "NODES", s.off, s.off + s.len), at + 1);
  free(buf);
}

/* A copy with the byte at (a label code, a child byte) made code (CRCs resealed): where verify
 * reports it in NODES. */
static uint64_t code_fault(uint64_t at, uint8_t code) {
  trie__section_t s = section(TRIE_SECT_NODES);
  uint8_t *buf = copy();
  buf[at] = code;
  reseal(buf);
  uint64_t where = expect(buf, TA_ECORRUPT, "NODES", s.off, s.off + s.len);
  free(buf);
  return where;
}

/* The root's first child byte made 0xff (a child's label starts with it, and no UTF-8 has that
 * byte): reported at the first key below it, its terminal node (the first in pre-order from the
 * child). The first label code of a child of the root made the first code past the table (no
 * symbol): reported at that code. */
static void test_node_label(void **state) {
  (void)state;
  trie__section_t s = section(TRIE_SECT_NODES);
  uint64_t bytes, label;
  trie__node_t root = node_at(0, &bytes, &label);
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  trie__node_t nd;
  size_t term = root.end;
  for (;; term = nd.end) {
    assert_int_equal(trie__node_parse(r, term, TRIE_NO_FIRST, &nd), 0);
    if (nd.flags & TRIE_NODE_TERMINAL) break;
  }
  uint64_t c = 0;
  for (; c < root.nchild; c++) { /* a child whose label is more than its byte */
    assert_int_equal(trie__node_child(r, &root, c, &nd), 0);
    if (nd.code_len > 0) break;
  }
  uint32_t n_sym = r->n_sym;
  uint64_t code = (uint64_t)(nd.code - r->base);
  trie_close(r);
  assert_true(c < root.nchild && n_sym < TRIE_SYM_MAX);
  assert_int_equal(code_fault(bytes, 0xff), s.off + term);
  assert_int_equal(code_fault(code, (uint8_t)n_sym), code);
}

/* A symbol of 0 bytes, its bytes given to the next one (the lengths still fill SYMBOLS, so open
 * takes it): reported at its length. */
static void test_symbol_length(void **state) {
  (void)state;
  trie__section_t y = section(TRIE_SECT_SYMBOLS);
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  uint32_t pair = r->n_sym;
  for (uint32_t i = 0; i + 1 < r->n_sym && pair == r->n_sym; i++)
    if (r->sym_len[i] + r->sym_len[i + 1] <= TRIE_SYM_LEN_MAX) pair = i;
  assert_true(pair < r->n_sym);
  trie_close(r);
  uint8_t *buf = copy();
  uint64_t at = y.off + 4 + pair;
  buf[at + 1] = (uint8_t)(buf[at] + buf[at + 1]);
  buf[at] = 0;
  reseal(buf);
  assert_int_equal(expect(buf, TA_ECORRUPT, "SYMBOLS", y.off, y.off + y.len), at);
  free(buf);
}

/* Every byte of NODES garbled in turn (CRCs resealed): whatever breaks is reported inside
 * NODES, in META when only the counts stop matching, in IDPOS when a terminal moved, or at the
 * stored text (HOTSTR, DISPLAY) of an id whose key changed. */
static void test_node_any_byte(void **state) {
  (void)state;
  trie__section_t s = section(TRIE_SECT_NODES), m = section(TRIE_SECT_META);
  uint8_t *buf = copy();
  for (uint64_t i = 0; i < s.len; i++) {
    memcpy(buf, img, img_len);
    buf[s.off + i] ^= 0x5a;
    reseal(buf);
    trie_reader_t *r;
    if (trie__open_mem(buf, img_len, &r) != 0) continue;
    ta_diag_t d;
    ta_diag_init(&d, NULL);
    int rc = trie_verify(r, &d);
    trie_close(r);
    if (rc == 0) continue; /* e.g. a label byte past the first: another sound trie */
    assert_int_equal(rc, d.code);
    assert_non_null(d.section);
    if (strcmp(d.section, "META") == 0) {
      assert_in_range(d.offset, m.off, m.off + m.len - 1);
    } else if (strcmp(d.section, "IDPOS") == 0) { /* a terminal that moved or changed its id */
      trie__section_t ip = section(TRIE_SECT_IDPOS);
      assert_in_range(d.offset, ip.off, ip.off + ip.len - 1);
    } else if (strcmp(d.section, "HOTSTR") == 0 || strcmp(d.section, "DISPLAY") == 0) {
      trie__section_t t = section(d.section[0] == 'H' ? TRIE_SECT_HOTSTR : TRIE_SECT_DISPLAY);
      assert_in_range(d.offset, t.off, t.off + t.len);
      assert_non_null(strstr(d.msg, "does not normalize to its key"));
    } else {
      assert_string_equal(d.section, "NODES");
      assert_in_range(d.offset, s.off, s.off + s.len - 1);
    }
  }
  free(buf);
}

/* One field changed (CRCs resealed), reported at that field: a byte of a hot text made invalid
 * UTF-8 (in HOTSTR), a score made negative (SCOREVAL), a run count that jumps (SCORERUN), the
 * start of HOTOFF's first group moved off 0, id 0's position moved (IDPOS: hot ids have one
 * too), a hot id listed in DISPLAY, META's flags set. */
static void test_fields(void **state) {
  (void)state;
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, img_len, &r), 0);
  uint64_t m_hot = r->m_hot, n = r->n, n_disp = r->n_disp;
  trie_close(r);
  assert_true(m_hot >= 1 && m_hot + 2 < n && n_disp >= 1);
  trie__section_t hs = section(TRIE_SECT_HOTSTR), ho = section(TRIE_SECT_HOTOFF);
  trie__section_t sv = section(TRIE_SECT_SCOREVAL), sr = section(TRIE_SECT_SCORERUN);
  trie__section_t ip = section(TRIE_SECT_IDPOS), dp = section(TRIE_SECT_DISPLAY);
  trie__section_t m = section(TRIE_SECT_META);
  assert_true(sv.len >= 16);
  double minus_one = -1.0;
  uint64_t neg;
  memcpy(&neg, &minus_one, sizeof neg);
  /* past M and w: group 0's start; past w: id 0's field, its low bits first */
  uint64_t group0 = ho.off + TRIE_HOT_HEAD, id0 = ip.off + 4;
  const struct {
    uint32_t sect;
    uint64_t at; /* the field, in the file */
    unsigned width;
    uint64_t value; /* stored little endian */
    int code;
  } cases[] = {
      {TRIE_SECT_HOTSTR, hs.off + 1, 1, 0xff, TA_EUTF8},
      {TRIE_SECT_SCOREVAL, sv.off + 8, 8, neg, TA_ECORRUPT},
      {TRIE_SECT_SCORERUN, sr.off + 4 + 1, 1, img[sr.off + 4 + 1] + 1u, TA_ECORRUPT},
      {TRIE_SECT_HOTOFF, group0, 4, 1, TA_ECORRUPT},
      {TRIE_SECT_IDPOS, id0, 1, img[id0] ^ 1u, TA_ECORRUPT},
      {TRIE_SECT_DISPLAY, dp.off + 4 + (n - m_hot + 7) / 8, 4, 0, TA_ECORRUPT},
      {TRIE_SECT_META, m.off + TRIE_META_FLAGS, 4, 1, TA_ECORRUPT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    trie__section_t s = section(cases[i].sect);
    uint8_t *buf = copy();
    for (unsigned b = 0; b < cases[i].width; b++)
      buf[cases[i].at + b] = (uint8_t)(cases[i].value >> (8 * b));
    reseal(buf);
    uint64_t off =
        expect(buf, cases[i].code, trie__section_name(cases[i].sect), s.off, s.off + s.len);
    assert_int_equal(off, cases[i].at);
    free(buf);
  }
}

/* A non-zero byte in the padding after META (outside every CRC): reported at that byte. */
static void test_padding(void **state) {
  (void)state;
  trie__section_t m = section(TRIE_SECT_META);
  assert_true(m.len % 8 != 0);
  uint8_t *buf = copy();
  uint64_t at = m.off + m.len + 1;
  buf[at] = 0x33;
  assert_int_equal(expect(buf, TA_ECORRUPT, "padding", m.off + m.len, at + 1), at);
  free(buf);
}

int main(void) {
  static const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sound_file),       cmocka_unit_test(test_crc_each_section),
      cmocka_unit_test(test_node_child_bytes), cmocka_unit_test(test_node_label),
      cmocka_unit_test(test_symbol_length),    cmocka_unit_test(test_node_any_byte),
      cmocka_unit_test(test_fields),           cmocka_unit_test(test_padding),
  };
  return cmocka_run_group_tests_name("trie_verify: where", tests, setup, teardown);
}
