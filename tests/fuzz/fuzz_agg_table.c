/*
 * Fuzz target of the week table reader (builder/tables/tbl_file.c, docs/TABLES.md): the input is a
 * whole table file. It is read through a memfd (the reader takes a path), row by row to the
 * end; nothing may crash, hang or read out of bounds, and an error must come with a message.
 * Seeds in tests/fuzz/corpus/agg_table/ are tables written by typeahead-aggregate.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tbl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("agg_table", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  tbl_reader_t *t;
  int rc = tbl_reader_open(path, &t);
  const char *s;
  size_t len;
  uint64_t count;
  while (rc == 0 && (rc = tbl_reader_next(t, &s, &len, &count)) == 1) {
    const char *m, *sp;
    size_t mlen, slen;
    if (len == 0 || len > TBL_MAX_KEY || count == 0 ||
        tbl_key_split(s, len, &m, &mlen, &sp, &slen) != 0 || slen == 0 || slen > TBL_MAX_QUERY ||
        (mlen && !ta_market_valid(m, mlen)))
      abort();
    rc = 0;
  }
  if (rc < 0 && t && tbl_reader_errmsg(t)[0] == 0) abort();
  tbl_reader_close(t);
  close(fd);
  return 0;
}
