/*
 * Fuzz target for the builder's input side (builder/bld/bld_freq.c, trie/trie_norm.c): any bytes
 * as a --freq file must give 0 or an error with a message, never a crash; and the normalization's
 * promises must hold on any bytes: valid UTF-8 out, key(key(x)) == key(x),
 * display(display(x)) == display(x), key(display(x)) == key(x), and the ASCII fast path equal
 * to the utf8proc path. A broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bld.h"
#include "trie_norm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_norm(const char *s, size_t n) {
  static char k1[4 * TA_MAX_KEY], k2[4 * TA_MAX_KEY], d1[4 * TA_MAX_KEY], d2[4 * TA_MAX_KEY],
      slow[4 * TA_MAX_KEY];
  size_t n1, n2, m1, m2, ns;
  int rk = trie_norm_key(s, n, k1, sizeof k1, &n1);
  int rd = trie_norm_display(s, n, d1, sizeof d1, &m1);
  if ((rk == TA_EUTF8) != !trie_utf8_valid(s, n)) abort();
  if ((rd == TA_EUTF8) != (rk == TA_EUTF8)) abort();
  if (rk == 0) {
    if (!trie_utf8_valid(k1, n1) || strlen(k1) != n1) abort();
    if (trie_norm_key(k1, n1, k2, sizeof k2, &n2) != 0 || n2 != n1 || memcmp(k1, k2, n1)) abort();
    if (trie__norm_key_slow(s, n, slow, sizeof slow, &ns) != 0 || ns != n1 || memcmp(k1, slow, n1))
      abort();
  }
  if (rd == 0) {
    if (!trie_utf8_valid(d1, m1)) abort();
    if (trie_norm_display(d1, m1, d2, sizeof d2, &m2) != 0 || m2 != m1 || memcmp(d1, d2, m1))
      abort();
    if (rk == 0 &&
        (trie_norm_key(d1, m1, k2, sizeof k2, &n2) != 0 || n2 != n1 || memcmp(k1, k2, n1)))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size <= TA_MAX_KEY) check_norm((const char *)data, size);
  FILE *f = fmemopen((void *)data, size, "rb");
  if (!f) return 0;
  bld_acc_t *acc = NULL;
  if (bld_acc_new(&acc) == 0) {
    /* Odd sizes skip unusable lines (up to half), even ones stop at the first. */
    bld_freq_opts_t fo = {.max_bad_pct = size % 2 ? 50.0 : 0.0};
    ta_diag_t diag;
    int rc = bld_read_freq_stream(acc, f, "fuzz", &fo, &diag);
    if (rc < 0 && (diag.code != rc || diag.msg[0] == '\0')) abort(); /* every failure says why */
    bld_acc_stats_t st;
    bld_acc_stats(acc, &st);
    if (rc == 0 && (st.keys == 0 || st.adds != fo.rows)) abort();
    uint64_t counted = 0;
    for (int r = 0; r < BLD_BAD_N; r++) counted += fo.bad[r];
    if (counted != fo.bad_total || fo.rows + fo.bad_total > fo.lines) abort();
    if (rc == 0 && fo.bad_total * 2 > fo.rows + fo.bad_total) abort(); /* past --max-bad */
  }
  bld_acc_free(acc);
  fclose(f);
  return 0;
}
