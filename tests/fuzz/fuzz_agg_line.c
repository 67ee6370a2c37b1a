/*
 * Fuzz target of the aggregator's line parser (builder/agg/agg_parse.c,
 * builder/tables/tbl_week.c): the input is a log excerpt, fed line by line to a tsv parser, an
 * AOL parser and a sampling parser. Every line must come out as an event (with a valid,
 * non-empty display spelling of at most 1,024 bytes), a skip, a repeat, a sampled-out event, or
 * bad with a reason; nothing may crash. The tsv fast path (agg__parse_tsv_fast) sees each line
 * with what follows it, as in a block, and a line it takes must come out as the general parser
 * makes it.
 * Seeds in tests/fuzz/corpus/agg_line/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agg_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  agg__parser_t p[4];
  if (agg__parser_init(&p[0], AGG_FORMAT_TSV, 0) || agg__parser_init(&p[1], AGG_FORMAT_AOL, 0) ||
      agg__parser_init(&p[2], AGG_FORMAT_TSV, 3) || agg__parser_init(&p[3], AGG_FORMAT_TSV, 0))
    abort();
  const char *s = (const char *)data, *end = s + size;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
    /* An exact-size copy, so a read past the line is caught. */
    char *line = malloc(n ? n : 1);
    memcpy(line, s, n);
    for (int k = 0; k < 3; k++) {
      tbl_week_t w;
      size_t len = 0;
      agg_bad_t why = AGG_BAD_COUNT;
      int rc = agg__parse_line(&p[k], line, n, &w, &len, &why);
      if (rc == AGG__LINE_EVENT &&
          (len == 0 || len > TBL_MAX_QUERY || !trie_utf8_valid(p[k].spelling, len) ||
           (p[k].market_len && !ta_market_valid(p[k].market, p[k].market_len))))
        abort();
      if (rc == AGG__LINE_BAD && (unsigned)why >= AGG_BAD_COUNT) abort();
      if (rc < 0 || rc > AGG__LINE_BAD) abort();
    }
    /* The fast path: the bytes from the line on, as a block ends (at most 64 bytes are looked
     * at), then 64 bytes of padding. */
    size_t avail = (size_t)(end - s) < 80 ? (size_t)(end - s) : 80;
    char *blk = malloc(avail + AGG__TSV_LOOK);
    memcpy(blk, s, avail);
    memset(blk + avail, '\n', AGG__TSV_LOOK);
    size_t fn = 0, flen = 0, rlen = 0;
    tbl_week_t fw, rw;
    agg_bad_t why = AGG_BAD_COUNT;
    int frc = agg__parse_tsv_fast(&p[3], blk, avail, &fn, &fw, &flen);
    if (frc != AGG__LINE_SLOW) {
      if (fn != n || agg__parse_line(&p[0], line, n, &rw, &rlen, &why) != frc) abort();
      if (frc == AGG__LINE_EVENT && (fw != rw || flen != rlen || p[3].time != p[0].time ||
                                     memcmp(p[3].spelling, p[0].spelling, flen) != 0))
        abort();
    }
    free(blk);
    int64_t t;
    tbl_parse_time(line, n, &t);
    free(line);
    s += n + 1;
  }
  for (int k = 0; k < 4; k++) agg__parser_free(&p[k]);
  return 0;
}
