/*
 * Fuzz target of the map/reduce records (builder/agg/agg_mr.c; format in docs/TABLES.md, "Map,
 * reduce, load"): the input is fed to --reduce. It must either refuse it or write records that
 * parse, are counts, ascend strictly and are in display form; reducing that output again must
 * give it back unchanged (summed records are a fixed point). Nothing may crash.
 * Seeds in tests/fuzz/corpus/agg_records/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agg_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reduces data[0..size); *out (malloc'd, *out_len bytes) is what it wrote. */
static int reduce(const void *data, size_t size, char **out, size_t *out_len) {
  int fd = memfd_create("records", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) abort();
  FILE *f = open_memstream(out, out_len);
  if (!f) abort();
  agg_mr_stats_t st;
  char err[512];
  int rc = agg_reduce(fd, f, &st, err, sizeof err);
  fclose(f);
  close(fd);
  if (rc && (err[0] == 0 || strncmp(err, "line ", 5) != 0)) abort(); /* says which line */
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *out = NULL, *again = NULL;
  size_t n = 0, n2 = 0;
  if (reduce(data, size, &out, &n) == 0) {
    agg__rec_t rec = {0};
    char prev[2048];
    size_t prev_len = 0;
    for (size_t i = 0; i < n;) {
      const char *nl = memchr(out + i, '\n', n - i);
      if (!nl) abort();
      size_t len = (size_t)(nl - out) - i;
      const char *why;
      if (agg__rec_parse(&rec, out + i, len, &why) || rec.is_id || !agg__rec_spelling_ok(&rec))
        abort();
      if (len > sizeof prev || (prev_len && ta_bytes_cmp(prev, prev_len, out + i, len) >= 0))
        abort();
      memcpy(prev, out + i, len);
      prev_len = len;
      i += len + 1;
    }
    if (reduce(out, n, &again, &n2) != 0 || n2 != n || memcmp(again, out, n) != 0) abort();
  }
  free(out);
  free(again);
  return 0;
}
