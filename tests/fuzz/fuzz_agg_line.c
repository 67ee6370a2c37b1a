/*
 * Fuzz target of the aggregator's line parser (builder/agg/agg_parse.c,
 * builder/tables/tbl_week.c): the input is a log excerpt, fed line by line to a tsv parser, an
 * AOL parser and a sampling parser. Every line must come out as an event (with a valid,
 * non-empty display spelling of at most 1,024 bytes), a skip, a repeat, a sampled-out event, or
 * bad with a reason; nothing may crash.
 * Seeds in tests/fuzz/corpus/agg_line/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agg_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  agg__parser_t p[3];
  if (agg__parser_init(&p[0], AGG_FORMAT_TSV, 0) || agg__parser_init(&p[1], AGG_FORMAT_AOL, 0) ||
      agg__parser_init(&p[2], AGG_FORMAT_TSV, 3))
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
           (p[k].market_len && !tbl_market_valid(p[k].market, p[k].market_len))))
        abort();
      if (rc == AGG__LINE_BAD && (unsigned)why >= AGG_BAD_COUNT) abort();
      if (rc < 0 || rc > AGG__LINE_BAD) abort();
    }
    int64_t t;
    tbl_parse_time(line, n, &t);
    free(line);
    s += n + 1;
  }
  for (int k = 0; k < 3; k++) agg__parser_free(&p[k]);
  return 0;
}
