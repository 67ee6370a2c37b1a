/*
 * typeahead-build's command line (build_args.c), for build_main.c: the parsed arguments and
 * the one call that fills them. Internal to the executable.
 */
#ifndef TYPEAHEAD_BUILD_ARGS_H
#define TYPEAHEAD_BUILD_ARGS_H

#include <stdint.h>

#define MAX_FREQ_FILES 64
/* --min-market-events default: a market with fewer events in the window gets no trie of its
 * own (its few queries would rank on noise; the server answers it from global). */
#define DEFAULT_MIN_MARKET_EVENTS 1000

typedef struct {
  const char *freq[MAX_FREQ_FILES];
  int nfreq;
  const char *tables; /* --tables DIR (weekly tables; see add_sources) */
  unsigned weeks;     /* --weeks */
  double half_life;   /* --half-life, in weeks */
  const char *now;    /* --now DATE */
  const char *market; /* --market M: that market's rows instead of the global total */
  int all_markets;    /* --all-markets: global.trie and M.trie for each market into out_dir */
  const char *out_dir;
  unsigned shards;       /* --shards N: shard-I.trie and shards.map into out_dir (0: one trie) */
  const char *shard_map; /* --shard-map MAP: split by MAP instead of planning */
  uint64_t min_market_events;
  const char *out;
  unsigned k;
  double min_count;
  const char *blocklist;
  double max_bad; /* --max-bad: percentage of unusable --freq lines skipped */
  int trending;   /* --trending: the rising queries of the hour tables (bld_trending.c) */
  unsigned trending_max;
  double trending_floor; /* --trending-floor: events in the window a trend needs */
} build_args_t;

/* Parses argv into *a: 0, or 2 (the usage exit status) with the error on stderr; --help and
 * --version print and exit. */
int bld__parse_args(int argc, char **argv, build_args_t *a);

/* A flag's value is not what it must be: says so on stderr and returns 2 (usage). */
int bld__bad_value(const char *flag, const char *want, const char *value);

#endif /* TYPEAHEAD_BUILD_ARGS_H */
