/*
 * A run's options, its summary line and its messages (agg.h): the defaults of agg_opts_t, the
 * names of the bad-line reasons, agg_stats_format, and agg__fail, with which every layer of the
 * aggregator reports an error into the caller's buffer.
 */
#include "agg_int.h"

#include <stdio.h>
#include <string.h>

int agg__fail(char *err, size_t cap, int code, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

const char *agg_bad_name(agg_bad_t reason) {
  switch (reason) {
#define AGG__BAD_CASE(name, msg) \
  case name:                     \
    return msg;
    AGG_BAD_TABLE(AGG__BAD_CASE)
#undef AGG__BAD_CASE
  default:
    return "unknown";
  }
}

void agg_opts_init(agg_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->format = AGG_FORMAT_TSV;
  o->max_bad_pct = 10.0;
  o->mem_bytes = UINT64_C(512) << 20;
}

void agg_stats_format(const agg_stats_t *s, char *out, size_t cap) {
  char bad[256];
  size_t k = 0;
  for (int i = 0; i < AGG_BAD_COUNT; i++) {
    int n = snprintf(bad + k, sizeof bad - k, "%s%s %llu", i ? ", " : "",
                     agg_bad_name((agg_bad_t)i), (unsigned long long)s->bad[i]);
    if (n < 0 || (size_t)n >= sizeof bad - k) break;
    k += (size_t)n;
  }
  snprintf(out, cap,
           "%llu inputs (%llu already ingested), %llu refused, %.1f MB, %llu lines, %llu events, "
           "%llu duplicate rows, %llu sampled out, %llu bad (%s), %llu weeks written, "
           "%llu spills, %.2f s",
           (unsigned long long)s->inputs, (unsigned long long)s->skipped,
           (unsigned long long)s->refused, s->bytes / 1e6, (unsigned long long)s->lines,
           (unsigned long long)s->events, (unsigned long long)s->duplicates,
           (unsigned long long)s->sampled_out, (unsigned long long)s->bad_total, bad,
           (unsigned long long)s->weeks, (unsigned long long)s->spills, s->seconds);
}

int agg__too_bad(const agg_opts_t *opts, uint64_t bad, uint64_t lines, char *why, size_t cap) {
  if (!bad || !((double)bad * 100.0 > opts->max_bad_pct * (double)lines)) return 0;
  snprintf(why, cap, "%llu of %llu lines are bad (more than --max-bad %g%%); is --format %s right?",
           (unsigned long long)bad, (unsigned long long)lines, opts->max_bad_pct,
           opts->format == AGG_FORMAT_AOL ? "aol" : "tsv");
  return 1;
}
