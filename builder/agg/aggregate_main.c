/*
 * typeahead-aggregate: query logs to weekly frequency tables, and --dump to read them back
 * (SPEC §4; table format in docs/TABLES.md); --map, --reduce and --load do the same in steps
 * that a Hadoop-streaming engine can run (SPEC §12). The work is done by agg_run, agg_map,
 * agg_reduce, agg_load and agg_dump.
 */
#include "agg.h"
#include "tbl.h"
#include "trie.h" /* trie_print_version */

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
  fputs(
      "usage: typeahead-aggregate --tables DIR [--format tsv|aol] [--sample N]\n"
      "                           [--max-bad PCT] [--refused-list FILE] [--mem MB]\n"
      "                           [--threads N] [--hours] [--wait S] [--quiet]\n"
      "                           LOG... | --files0-from FILE\n"
      "       typeahead-aggregate --map [--format tsv|aol] [--sample N] [--max-bad PCT]\n"
      "                           [--quiet] < LOG > RECORDS\n"
      "       typeahead-aggregate --reduce < SORTED_RECORDS > SUMMED_RECORDS\n"
      "       typeahead-aggregate --load --tables DIR --batch ID [--wait S] < SUMMED_RECORDS\n"
      "       typeahead-aggregate --dump DIR|FILE [--market M]\n"
      "       typeahead-aggregate --markets DIR|FILE\n"
      "       typeahead-aggregate --help | --version\n"
      "\n"
      "Counts the query events of each LOG into one table per ISO week (weeks start Monday\n"
      "00:00 UTC) in DIR, for typeahead-build --tables. LOG is a path (plain or gzip, told by\n"
      "its magic bytes) or - for stdin.\n"
      "  --tables DIR   the week tables directory, created if missing; everything new is\n"
      "                 committed at once (a killed run leaves DIR as it was or as it will be)\n"
      "  --format tsv   timestamp<TAB>query[<TAB>market]; unix seconds or ISO-8601, UTC\n"
      "                 (default); the market is [a-z0-9_-]{1,32} (another is a bad line,\n"
      "                 \"bad market\"); every event counts in the global total, and also in\n"
      "                 its market's when it has one\n"
      "  --format aol   AnonID Query QueryTime ItemRank ClickURL with a header line; rows\n"
      "                 repeating (AnonID, Query, QueryTime) count once\n"
      "  --sample N     count 1 event in N, picked by a hash of the event (deterministic)\n"
      "  --max-bad PCT  a log with over PCT percent of bad lines (the --format is probably\n"
      "                 wrong for it) is refused whole and named; the other logs are still\n"
      "                 ingested (default 10)\n"
      "  --files0-from FILE  read the LOG names from FILE, each ended by a NUL (find\n"
      "                 -print0), instead of the command line: more logs than it holds\n"
      "  --refused-list FILE  write the names of refused logs there, each ended by a NUL\n"
      "                 (left empty when the run fails)\n"
      "  --mem MB       memory budget of the count table; beyond it, sorted runs are\n"
      "                 spilled to DIR/.work and merged (default 512)\n"
      "  --threads N    threads parsing and counting tsv logs, 1..4 (default: the online\n"
      "                 CPUs, at most 4); the tables are the same whatever N\n"
      "  --wait S       wait up to S seconds for another run working on DIR (its lock)\n"
      "                 before failing (default 0: fail at once)\n"
      "  --hours        also keep hourly counts of the last 7 days (DIR/YYYY-MM-DDTHH.msgpack,\n"
      "                 older hours removed) for typeahead-build --trending\n"
      "  --quiet        no warnings about bad lines and no progress line (the summary stays)\n"
      "  --map          read a plain log on stdin, write one record per event on stdout:\n"
      "                 week<TAB>market<TAB>spelling<TAB>1 (AOL: =event id, not 1); bad\n"
      "                 lines as above; exit 1 past --max-bad (throw its records away)\n"
      "  --reduce       sum records sorted by LC_ALL=C sort: one per (week, market,\n"
      "                 spelling), AOL event ids counted once each\n"
      "  --load         add summed records to the tables of --tables DIR as one\n"
      "                 transaction (the run's: a killed load leaves DIR as it was or\n"
      "                 as it will be)\n"
      "  --batch ID     the name of a --load's records (1..128 printable bytes, no\n"
      "                 space), kept in DIR/batches: a batch is loaded only once\n"
      "  --dump X       print the tables of directory X (or one table file X) as\n"
      "                 week_start<TAB>query<TAB>count, sorted: the global total, or with\n"
      "                 --market M the rows of market M\n"
      "  --markets X    print the markets of X's tables as market<TAB>events, sorted by\n"
      "                 name, events summed over all weeks\n"
      "  --help         this text\n"
      "  --version      the version and the trie format versions of this build\n"
      "Inputs already ingested into DIR are skipped (DIR/ledger), so a rerun counts nothing\n"
      "twice. Bad lines are skipped and counted by reason; a summary line ends every run.\n"
      "Exit status: 0 done; 1 nothing written: a failure, or every log not already\n"
      "ingested refused (SPEC: the --format is probably wrong); 2 usage; 3 some logs\n"
      "refused, the others ingested.\n",
      f);
}

/* Where refused logs are named: stderr always, and the --refused-list file, written once the
 * run is over and only when it did not fail: a script reads "exit 1, names listed" as every
 * new log refused (nothing to ingest), so a run that refused a log and then failed (a bad
 * table, a full disk) must not list it, or the failure would pass for refusals. */
typedef struct {
  FILE *list;
  ta_buf_t names; /* each ended by a NUL */
  int oom;
} refused_t;

static void on_refused(void *ctx, const char *name, const char *why) {
  refused_t *r = ctx;
  fprintf(stderr, "typeahead-aggregate: refused %s: %s\n", name, why);
  if (r->list && ta_buf_put(&r->names, name, strlen(name) + 1) != 0) r->oom = 1;
}

/* --files0-from: the LOG names in path, each ended by a NUL (as find -print0 writes them), for a
 * spool of more logs than a command line holds (the nightly job after nights of backlog: exec
 * failed with E2BIG, and each night again). *names points into *buf; the caller frees both
 * (after an error only *buf: *names is NULL).
 * An empty list, an empty name or a last name without its NUL (a list cut short) is refused. */
#define MAX_NAMES0 (64u << 20) /* bytes of a --files0-from list: a million long paths */
static int read_names0(const char *path, ta_buf_t *buf, const char ***names, size_t *n) {
  ta_diag_t d;
  char msg[512];
  size_t cap = 0;
  ta_diag_init(&d, path);
  int rc = ta_read_file(path, MAX_NAMES0, buf, &d);
  if (rc) {
    fprintf(stderr, "typeahead-aggregate: --files0-from %s\n", ta_diag_format(&d, msg, sizeof msg));
    return rc;
  }
  const char **list = NULL; /* *names only on success: on an error nothing is the caller's */
  size_t count = 0;
  *names = NULL;
  *n = 0;
  for (size_t at = 0; at < buf->len;) {
    const char *end = memchr(buf->p + at, 0, buf->len - at);
    if (!end || end == buf->p + at) {
      fprintf(stderr, "typeahead-aggregate: --files0-from %s: byte %zu: %s\n", path, at,
              end ? "an empty name" : "the last name has no NUL after it (a list cut short?)");
      free(list);
      return TA_EPARSE;
    }
    if (count == cap && (rc = ta_grow((void **)&list, &cap, count + 1, sizeof *list, 256))) {
      fprintf(stderr, "typeahead-aggregate: --files0-from %s: %s\n", path, ta_strerror(rc));
      free(list);
      return rc;
    }
    list[count++] = buf->p + at;
    at = (size_t)(end - buf->p) + 1;
  }
  if (!count) {
    fprintf(stderr, "typeahead-aggregate: --files0-from %s: no name in it\n", path);
    return TA_EPARSE;
  }
  *names = list;
  *n = count;
  return 0;
}

/* A run that refused logs: 1 when no log was ingested (SPEC §4: nothing written, the format is
 * probably wrong), 3 when others were, so a script tells the two apart from a clean run. */
static int refused_status(const agg_stats_t *st) {
  if (st->refused == 0) return 0;
  return st->refused + st->skipped >= st->inputs ? 1 : 3;
}

/* --map, --reduce or --load: stdin to stdout or to the tables. */
static int run_step(int step, const char *tables, const char *batch, agg_opts_t *opts, int quiet) {
  char err[1024] = "", line[1024];
  agg_mr_stats_t ms;
  int rc;
  if (step == 'A') {
    agg_stats_t st;
    refused_t ref = {0};
    opts->warn = quiet ? NULL : stderr;
    opts->refused = on_refused;
    opts->refused_ctx = &ref;
    rc = agg_map(STDIN_FILENO, stdout, opts, &st, err, sizeof err);
    agg_stats_format(&st, line, sizeof line);
    fprintf(stderr, "typeahead-aggregate --map: %s\n", line);
    if (!rc) return st.refused ? 1 : 0; /* the one log refused: nothing to keep */
  } else if (step == 'R') {
    rc = agg_reduce(STDIN_FILENO, stdout, &ms, err, sizeof err);
    if (!rc && !quiet)
      fprintf(stderr, "typeahead-aggregate --reduce: %llu records, %llu summed, %llu events\n",
              (unsigned long long)ms.records, (unsigned long long)ms.rows,
              (unsigned long long)ms.events);
  } else {
    if (!agg_batch_valid(batch)) {
      fprintf(stderr, "typeahead-aggregate: --batch needs 1 to %d printable bytes, no space\n",
              AGG_MAX_BATCH);
      return 2;
    }
    rc = agg_load(tables, batch, opts->lock_wait_s, STDIN_FILENO, &ms, err, sizeof err);
    if (!rc && ms.already)
      fprintf(stderr, "typeahead-aggregate --load: batch %s is already in %s: nothing done\n",
              batch, tables);
    else if (!rc)
      fprintf(stderr,
              "typeahead-aggregate --load: batch %s: %llu records, %llu events, %llu weeks "
              "written\n",
              batch, (unsigned long long)ms.rows, (unsigned long long)ms.events,
              (unsigned long long)ms.weeks);
  }
  if (rc) {
    fprintf(stderr, "typeahead-aggregate: error: %s\n", err[0] ? err : ta_strerror(rc));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"tables", required_argument, NULL, 't'},
                                           {"format", required_argument, NULL, 'f'},
                                           {"sample", required_argument, NULL, 's'},
                                           {"max-bad", required_argument, NULL, 'b'},
                                           {"mem", required_argument, NULL, 'm'},
                                           {"dump", required_argument, NULL, 'd'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"threads", required_argument, NULL, 'j'},
                                           {"refused-list", required_argument, NULL, 'r'},
                                           {"version", no_argument, NULL, 'V'},
                                           {"market", required_argument, NULL, 'k'},
                                           {"markets", required_argument, NULL, 'M'},
                                           {"map", no_argument, NULL, 'A'},
                                           {"reduce", no_argument, NULL, 'R'},
                                           {"load", no_argument, NULL, 'L'},
                                           {"batch", required_argument, NULL, 'B'},
                                           {"hours", no_argument, NULL, 'H'},
                                           {"wait", required_argument, NULL, 'W'},
                                           {"files0-from", required_argument, NULL, '0'},
                                           {NULL, 0, NULL, 0}};
  agg_opts_t opts;
  agg_opts_init(&opts);
  const char *tables = NULL, *dump = NULL, *refused_list = NULL, *market = NULL, *markets = NULL;
  const char *batch = NULL, *files0 = NULL;
  int quiet = 0, step = 0, c; /* step: 'A' map, 'R' reduce, 'L' load */
  uint64_t v;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 't':
      tables = optarg;
      break;
    case 'd':
      dump = optarg;
      break;
    case 'k':
      market = optarg;
      break;
    case 'M':
      markets = optarg;
      break;
    case 'A':
    case 'R':
    case 'L':
      if (step && step != c) {
        fprintf(stderr, "typeahead-aggregate: --map, --reduce and --load are separate steps\n");
        return 2;
      }
      step = c;
      break;
    case 'B':
      batch = optarg;
      break;
    case '0':
      files0 = optarg;
      break;
    case 'r':
      refused_list = optarg;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'H':
      opts.hours = 1;
      break;
    case 'f':
      if (strcmp(optarg, "tsv") == 0)
        opts.format = AGG_FORMAT_TSV;
      else if (strcmp(optarg, "aol") == 0)
        opts.format = AGG_FORMAT_AOL;
      else {
        fprintf(stderr, "typeahead-aggregate: --format must be tsv or aol, not '%s'\n", optarg);
        return 2;
      }
      break;
    case 's':
      if (ta_parse_u64(optarg, 1, UINT64_MAX, &v) != 0) {
        fprintf(stderr, "typeahead-aggregate: --sample needs a whole number >= 1\n");
        return 2;
      }
      opts.sample = v;
      break;
    case 'b':
      if (ta_parse_double(optarg, 0, 100, &opts.max_bad_pct) != 0) {
        fprintf(stderr, "typeahead-aggregate: --max-bad needs a percentage 0..100\n");
        return 2;
      }
      break;
    case 'm':
      if (ta_parse_u64(optarg, 1, UINT64_C(1) << 40, &v) != 0) {
        fprintf(stderr, "typeahead-aggregate: --mem needs a size in MB >= 1\n");
        return 2;
      }
      opts.mem_bytes = v << 20;
      break;
    case 'W':
      if (ta_parse_u64(optarg, 0, 86400, &v) != 0) {
        fprintf(stderr, "typeahead-aggregate: --wait needs seconds from 0 to 86400\n");
        return 2;
      }
      opts.lock_wait_s = (unsigned)v;
      break;
    case 'j':
      if (ta_parse_u64(optarg, 1, 4, &v) != 0) {
        fprintf(stderr, "typeahead-aggregate: --threads needs a number from 1 to 4\n");
        return 2;
      }
      opts.threads = (unsigned)v;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      return trie_print_version(stdout, "typeahead-aggregate") == 0 ? 0 : 1;
    default:
      usage(stderr);
      return 2;
    }
  }
  char err[1024] = "";
  if (opts.hours && (step || batch || dump || markets)) {
    fprintf(stderr, "typeahead-aggregate: --hours goes with --tables DIR LOG...\n");
    return 2;
  }
  if (opts.lock_wait_s && ((step && step != 'L') || dump || markets)) {
    fprintf(stderr, "typeahead-aggregate: --wait goes with --tables DIR LOG... or --load\n");
    return 2;
  }
  if (files0 && (step || batch || dump || markets || optind != argc)) {
    fprintf(stderr, "typeahead-aggregate: --files0-from goes with --tables DIR, without LOG\n");
    return 2;
  }
  if (step || batch) {
    if (dump || markets || optind != argc || !step || (step != 'A' && refused_list)) {
      usage(stderr);
      return 2;
    }
    if (step == 'L' ? !tables || !batch : tables || batch) {
      fprintf(stderr,
              "typeahead-aggregate: --load needs --tables DIR and --batch ID; --map and "
              "--reduce write to stdout and take neither\n");
      return 2;
    }
    return run_step(step, tables, batch, &opts, quiet);
  }
  if (market && !dump) {
    fprintf(stderr, "typeahead-aggregate: --market goes with --dump\n");
    return 2;
  }
  if (dump || markets) {
    if (tables || optind != argc || (dump && markets)) {
      usage(stderr);
      return 2;
    }
    if (market && !ta_market_valid(market, strlen(market))) {
      fprintf(stderr, "typeahead-aggregate: --market '%s' is not [a-z0-9_-]{1,%d}\n", market,
              TA_MAX_MARKET);
      return 2;
    }
    int rc = dump ? agg_dump(dump, market, stdout, err, sizeof err)
                  : agg_markets(markets, stdout, err, sizeof err);
    if (fflush(stdout) != 0 && rc == 0) rc = TA_EIO;
    if (rc) {
      fprintf(stderr, "typeahead-aggregate: %s\n", err[0] ? err : ta_strerror(rc));
      return 1;
    }
    return 0;
  }
  if (!tables || (optind == argc && !files0)) {
    usage(stderr);
    return 2;
  }
  const char **logs = (const char **)argv + optind;
  size_t n_logs = (size_t)(argc - optind);
  ta_buf_t names0 = {0};
  int rc;
  if (files0 && (rc = read_names0(files0, &names0, &logs, &n_logs)) != 0) {
    ta_buf_free(&names0);
    return rc == TA_EPARSE ? 2 : 1; /* not a list of names: usage; unreadable: failure */
  }
  opts.progress = !quiet && isatty(STDERR_FILENO);
  opts.warn = quiet ? NULL : stderr;
  refused_t ref = {0};
  if (refused_list && !(ref.list = fopen(refused_list, "wb"))) {
    fprintf(stderr, "typeahead-aggregate: --refused-list %s: %s\n", refused_list, strerror(errno));
    if (files0) free(logs);
    ta_buf_free(&names0);
    return 1;
  }
  opts.refused = on_refused;
  opts.refused_ctx = &ref;
  agg_stats_t st;
  rc = agg_run(tables, logs, n_logs, &opts, &st, err, sizeof err);
  if (files0) free(logs); /* the refused names are copies */
  ta_buf_free(&names0);
  char line[1024];
  agg_stats_format(&st, line, sizeof line);
  fprintf(stderr, "typeahead-aggregate: %s\n", line);
  /* before the list: a run whose pruning fails has failed, and lists no refusal */
  uint64_t pruned = 0;
  if (!rc && opts.hours &&
      (rc = agg_hours_prune(tables, opts.lock_wait_s, &pruned, err, sizeof err)) == 0 && pruned)
    fprintf(stderr, "typeahead-aggregate: %llu hour tables older than 7 days removed\n",
            (unsigned long long)pruned);
  if (ref.list) {
    int bad = !rc && (ref.oom || (ref.names.len && fwrite(ref.names.p, 1, ref.names.len,
                                                          ref.list) != ref.names.len));
    ta_buf_free(&ref.names);
    if ((fclose(ref.list) != 0 || bad) && !rc) {
      fprintf(stderr, "typeahead-aggregate: --refused-list %s: write error\n", refused_list);
      return 1;
    }
  }
  if (rc) {
    fprintf(stderr, "typeahead-aggregate: error: %s\n", err[0] ? err : ta_strerror(rc));
    return 1;
  }
  return refused_status(&st);
}
