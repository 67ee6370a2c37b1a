/*
 * Hostile trie files (SPEC §6): every truncation of a small file (each refused at open, down
 * to one byte short inside the final padding) and bytes appended to it, every
 * single-bit flip, random bytes, and random section bodies behind a valid header and valid
 * CRCs. open, verify, lookup and lookup_filtered must return an error code or a sound answer,
 * never crash or read out of bounds (each image is an exact-size heap copy, so ASan sees any
 * overrun); verify must reject every bit flip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trie_int.h"
#include "trie_test_util.h"

typedef struct {
  uint8_t *img; /* the sound file */
  size_t len;
  tset_t set;
  char *dir;
} fixture_t;

static fixture_t fx;

static int setup(void **state) {
  (void)state;
  /* Small but with heavy and light nodes, shared prefixes, a node with many children. */
  fx.set = tu_gen(7, 80, 1, 0);
  fx.dir = tu_mkdtemp();
  char path[4200];
  snprintf(path, sizeof path, "%s/h.trie", fx.dir);
  if (tu_write(path, fx.set.e, fx.set.n, 3, "hostile", 42) != 0) return -1;
  fx.img = tu_slurp(path, &fx.len);
  return fx.img != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  free(fx.img);
  tu_free(&fx.set);
  tu_rmdir(fx.dir);
  return 0;
}

static int keep_half(void *ctx, const trie_hit_t *c) {
  (void)ctx;
  return c->id % 2 == 0;
}

/* Runs lookups over the prefixes of every key; all must be an error or in bounds. */
static void poke(const trie_reader_t *r, const uint8_t *img, size_t len) {
  trie_hit_t hits[64];
  for (size_t i = 0; i < fx.set.n; i += 3) {
    const trie_entry_t *e = &fx.set.e[i];
    for (size_t plen = 0; plen <= e->key_len; plen += 2) {
      size_t nh = 0;
      int rc = trie_lookup(r, e->key, plen, 10, tu_text(), hits, &nh);
      assert_true(rc <= 0);
      if (rc == 0) {
        assert_true(nh <= 10);
      } else {
        assert_int_equal(nh, 0);
      }
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, len));
      rc = trie_lookup_filtered(r, e->key, plen, 20, keep_half, NULL, tu_text(), hits, &nh);
      assert_true(rc <= 0);
      if (rc == 0) assert_true(nh <= 20);
      for (size_t h = 0; h < nh; h++)
        assert_true(tu_text_ok(hits[h].text, hits[h].text_len, img, len));
    }
  }
}

/* Opens an exact-size copy of buf; returns open's code; on success also verify's in *vrc. */
static int try_image(const uint8_t *buf, size_t len, int *vrc) {
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, buf, len);
  trie_reader_t *r = NULL;
  int rc = trie__open_mem(len ? copy : NULL, len, &r);
  *vrc = 1;
  if (rc == 0) {
    *vrc = trie_verify(r, NULL);
    trie_info_t info;
    assert_int_equal(trie_get_info(r, &info), 0);
    assert_true(info.source_len <= len);
    poke(r, copy, len);
    trie_close(r);
  } else {
    assert_true(rc < 0);
    assert_null(r);
  }
  free(copy);
  return rc;
}

static void test_sound_file_opens_and_verifies(void **state) {
  (void)state;
  int vrc;
  assert_int_equal(try_image(fx.img, fx.len, &vrc), 0);
  assert_int_equal(vrc, 0);
}

static uint64_t content_end(const uint8_t *img, size_t len) {
  /* End of the last section: bytes past it are tail padding. */
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(img, len, &r), 0);
  uint64_t end = 0;
  for (uint32_t i = 0; i < r->nsect; i++)
    if (r->sect[i].off + r->sect[i].len > end) end = r->sect[i].off + r->sect[i].len;
  trie_close(r);
  return end;
}

/* Every cut of img is refused at open, even one inside the final padding (the header says where
 * the file ends), and so are bytes appended to it. Returns the length of the final padding. */
static size_t every_truncation(const uint8_t *img, size_t img_len) {
  uint64_t end = content_end(img, img_len);
  for (size_t len = 0; len < img_len; len++) {
    int vrc;
    int rc = try_image(img, len, &vrc);
    if (rc == 0) fail_msg("a file cut to %zu of %zu bytes opened", len, img_len);
    assert_true(rc == TA_ETRUNC || rc == TA_EBADMAGIC || rc == TA_ECORRUPT);
    if (len >= end) assert_int_equal(rc, TA_ETRUNC);
  }
  uint8_t *longer = calloc(1, img_len + 8);
  memcpy(longer, img, img_len);
  for (size_t extra = 1; extra <= 8; extra++) {
    int vrc;
    assert_int_equal(try_image(longer, img_len + extra, &vrc), TA_ECORRUPT);
  }
  free(longer);
  return img_len - (size_t)end;
}

static void test_every_truncation(void **state) {
  (void)state;
  every_truncation(fx.img, fx.len);
  /* A file whose last section (NODES) ends 4 bytes before the end of the file. */
  trie_entry_t e[2] = {{"abcdefghijklmnopqr", 18, "abc", 3, 2.0}, {"b", 1, "B", 1, 1.0}};
  char path[4200];
  snprintf(path, sizeof path, "%s/pad.trie", fx.dir);
  assert_int_equal(tu_write(path, e, 2, 2, "pad", 1), 0);
  size_t len = 0;
  uint8_t *img = tu_slurp(path, &len);
  assert_non_null(img);
  assert_int_equal(every_truncation(img, len), 4);
  free(img);
}

static void test_truncated_files_on_disk(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/cut.trie", fx.dir);
  size_t cuts[] = {0, 1, 7, 8, 23, 24, 100, 147, 148, 200, fx.len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(fx.img, 1, cuts[i], f), cuts[i]);
    fclose(f);
    trie_reader_t *r = NULL;
    int rc = trie_open(path, &r);
    assert_true(rc == TA_ETRUNC || rc == TA_EBADMAGIC || rc == TA_ECORRUPT);
    if (cuts[i] == fx.len - 1) assert_int_equal(rc, TA_ETRUNC); /* inside the end padding */
    assert_null(r);
  }
  trie_reader_t *r = NULL;
  assert_int_equal(trie_open(fx.dir, &r), TA_ENOTREG);      /* a directory */
  assert_int_equal(trie_open("/dev/zero", &r), TA_ENOTREG); /* a device */
  /* A FIFO: refused at once (opening it to read would wait for a writer for good). */
  snprintf(path, sizeof path, "%s/fifo.trie", fx.dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_int_equal(trie_open(path, &r), TA_ENOTREG);
  assert_null(r);
  unlink(path);
  snprintf(path, sizeof path, "%s/missing.trie", fx.dir);
  assert_int_equal(trie_open(path, &r), TA_ENOENT);
}

static void test_every_bit_flip(void **state) {
  (void)state;
  uint8_t *buf = malloc(fx.len);
  size_t opened = 0;
  for (size_t bit = 0; bit < fx.len * 8; bit++) {
    memcpy(buf, fx.img, fx.len);
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int vrc;
    int rc = try_image(buf, fx.len, &vrc);
    if (rc == 0) {
      opened++;
      /* Header flips fail its CRC at open; any other flip is in a CRC'd section or in
       * padding that verify checks is zero. */
      if (vrc == 0) fail_msg("bit %zu (byte %zu) flipped and verify said OK", bit, bit / 8);
    }
  }
  /* Most flips land in section bodies, which the cheap open does not read. */
  assert_true(opened > fx.len * 4);
  free(buf);
}

static void test_random_bytes(void **state) {
  (void)state;
  uint64_t st = 12345;
  for (int t = 0; t < 3000; t++) {
    size_t len = (size_t)(tu_rng(&st) % 600);
    uint8_t *buf = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)tu_rng(&st);
    if (t % 2 == 0 && len >= TRIE_MAGIC_LEN)
      memcpy(buf, TRIE_MAGIC, TRIE_MAGIC_LEN); /* get past the magic */
    int vrc;
    int rc = try_image(buf, len, &vrc);
    assert_true(rc < 0); /* no header CRC matches by chance */
    free(buf);
  }
}

static void test_random_section_bodies(void **state) {
  (void)state;
  trie_reader_t *r;
  assert_int_equal(trie__open_mem(fx.img, fx.len, &r), 0);
  trie__section_t sect[TRIE_MAX_SECTIONS];
  uint32_t nsect = r->nsect;
  memcpy(sect, r->sect, sizeof sect);
  trie_close(r);
  uint64_t st = 999;
  uint8_t *buf = malloc(fx.len);
  size_t verified = 0;
  for (int t = 0; t < 6000; t++) {
    memcpy(buf, fx.img, fx.len);
    const trie__section_t *s = &sect[tu_rng(&st) % nsect];
    if (s->len == 0) continue;
    /* Garble a few bytes, or a whole run, of one section. */
    size_t nbytes = t % 3 == 0 ? (size_t)(1 + tu_rng(&st) % s->len) : 1 + (size_t)(tu_rng(&st) % 3);
    size_t at = (size_t)(tu_rng(&st) % s->len);
    for (size_t i = 0; i < nbytes && at + i < s->len; i++)
      buf[s->off + at + i] = (uint8_t)tu_rng(&st);
    if (memcmp(buf, fx.img, fx.len) == 0) continue;
    assert_int_equal(tu_fix_crcs(buf, fx.len), 0); /* the header is the sound file's */
    int vrc;
    if (try_image(buf, fx.len, &vrc) == 0 && vrc == 0) verified++;
  }
  /* A changed byte that still verifies must be harmless (a display string, a metadata field);
   * what matters above is that nothing crashed. Most garbage must be caught. */
  assert_true(verified < 3000);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sound_file_opens_and_verifies),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_truncated_files_on_disk),
      cmocka_unit_test(test_every_bit_flip),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_random_section_bodies),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
