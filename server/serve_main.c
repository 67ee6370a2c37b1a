/*
 * typeahead-serve: the command line of the query server (SPEC §8). Parses the options into an
 * srv_config_t and runs the server (server/srv.h) until SIGTERM or SIGINT.
 */
#include "srv.h"
#include "srv_int.h" /* SRV_LOG_ESC */
#include "ta.h"
#include "trie.h" /* trie_print_version */

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fputs(
      "usage: typeahead-serve --trie FILE | --trie-dir DIR [--market-header NAME]\n"
      "                       [--filters FILE] [--listen 127.0.0.1:8080]\n"
      "                       [--threads N] [--admin-token-file FILE] [--cache-max-age 300]\n"
      "                       [--cors-origin ORIGIN] [--answer-cache-mb 64] [--access-log]\n"
      "                       [--max-connections N] [--header-timeout 30]\n"
      "                       [--shard-map MAP --shard I --peers FILE [--peer-timeout-ms 250]\n"
      "                        [--peer-cache-ms 1000]]\n"
      "                       [--trending PATH] [--trending-slots 2]\n"
      "       typeahead-serve --help | --version\n"
      "\n"
      "Serves search-as-you-type suggestions from a trie file built by typeahead-build.\n"
      "\n"
      "Options:\n"
      "  --trie FILE       the trie to serve (this or --trie-dir is required). Watched: replace\n"
      "                    it by rename and the new file is verified and swapped in; a bad file\n"
      "                    is refused and the old one keeps serving. Until a valid trie is\n"
      "                    loaded, /search and /healthz answer 503.\n"
      "  --trie-dir DIR    serve one trie per market instead (SPEC 10): DIR/NAME.trie as market\n"
      "                    NAME (a-z, 0-9, _ and -, up to 32; at most 255 besides global),\n"
      "                    DIR/global.trie as global, the fallback. Each file is watched, swapped\n"
      "                    and refused on its own (so is a file built for another market); a\n"
      "                    market file that disappears is no longer served (its requests go to\n"
      "                    global). Other files are ignored (logged once). DIR must exist; until\n"
      "                    global.trie is loaded, requests that fall to global and /healthz\n"
      "                    answer 503.\n"
      "  --market-header NAME\n"
      "                    with --trie-dir: the request header naming the market (e.g.\n"
      "                    X-Country, set by a CDN) when there is no market= parameter; its value\n"
      "                    is lower-cased. Answers then say Vary: Accept, NAME\n"
      "  --filters FILE    blocklist rules applied to every answer (syntax: word:W, phrase:P,\n"
      "                    prefix:P, exact:Q or a bare word; # comments). Watched like --trie;\n"
      "                    PUT /admin/filters rewrites it, so its directory must be writable\n"
      "                    (if FILE is a symlink, the link stays and the file it names is\n"
      "                    rewritten, in that file's directory).\n"
      "  --trending PATH   trending tries of rising queries (typeahead-build --trending): a FILE\n"
      "                    with --trie, a DIR with --trie-dir (DIR/global.trie, DIR/M.trie; a\n"
      "                    market without one mixes in global's). Watched and swapped like\n"
      "                    --trie; missing or bad: no trending, regular answers unchanged.\n"
      "  --trending-slots N\n"
      "                    at most N trending suggestions added to an answer, right after its\n"
      "                    first one, marked \"trending\":true (0..16, default 2; 0: none)\n"
      "  --listen ADDR     HOST:PORT or [V6]:PORT to listen on (default 127.0.0.1:8080,\n"
      "                    loopback only); port 0 picks a free port\n"
      "  --threads N       worker threads, each with its own event loop, 1..256 (default 1)\n"
      "  --admin-token-file FILE\n"
      "                    file holding the bearer token of the /admin endpoints; without it\n"
      "                    they are off (404)\n"
      "  --cache-max-age S seconds in the Cache-Control header of /search, 0..31536000\n"
      "                    (default 300)\n"
      "  --cors-origin ORIGIN\n"
      "                    send Access-Control-Allow-Origin: ORIGIN on /search, with\n"
      "                    Access-Control-Expose-Headers: ETag (default: none); visible\n"
      "                    ASCII: scheme://host[:port], * or null\n"
      "  --answer-cache-mb MB\n"
      "                    memory for cached /search answers, all workers together, 0..65536;\n"
      "                    0 turns the cache off (default 64)\n"
      "  --access-log      one line per request on stderr\n"
      "  --shard-map MAP   serve one prefix shard of MAP (typeahead-build --shards; --trie is\n"
      "                    then DIR/shard-I.trie): a prefix of another shard is forwarded to\n"
      "                    one of its replicas, the next one on failure; an empty prefix\n"
      "                    merges every shard's best. Answers equal the whole trie's. Needs\n"
      "                    --shard and --peers; not with --trie-dir.\n"
      "  --shard I         which shard of MAP this node serves, 0..N-1\n"
      "  --peers FILE      the replicas of every other shard: SHARD<TAB>HOST:PORT[,HOST:PORT...]\n"
      "                    per line; # comments\n"
      "  --peer-timeout-ms MS\n"
      "                    time one forwarding attempt may take, 1..60000 (default 250)\n"
      "  --peer-cache-ms MS\n"
      "                    how long an answer that other shards' tries made (their word\n"
      "                    matches in this node's answer, another shard's answer relayed,\n"
      "                    the empty prefix's merge) is kept in the answer cache (their\n"
      "                    tries may change meanwhile), 0..60000; 0: not kept (default 1000)\n"
      "  --max-connections N\n"
      "                    open connections, all workers together; a new one beyond gets 503\n"
      "                    and is closed. Default: the descriptor limit (raised to its hard\n"
      "                    limit at start) less 32 and 8 per worker thread, or half the limit\n"
      "                    when it is under twice that (the start line says)\n"
      "  --header-timeout S\n"
      "                    a request (header block and body) must arrive whole within S seconds\n"
      "                    of its first byte, or of the connection's accept; else 408 and close,\n"
      "                    however slowly it trickles (1..3600, default 30)\n"
      "  --help            this text\n"
      "  --version         the version and the trie format versions it reads\n"
      "\n"
      "Endpoints:\n"
      "  GET /search?q=PREFIX[&k=N][&typos=T][&words=W][&market=M]\n"
      "                    suggestions for PREFIX (normalized as the keys are): its exact\n"
      "                    completions, then word matches (words=1, the default; 0: none),\n"
      "                    then keys within T edits (typos=auto, the default, 0, 1 or 2), each\n"
      "                    with its \"match\" and \"highlight\";\n"
      "                    with --trie-dir, from market M's trie (else the header's,\n"
      "                    else global; an unknown market is global), filled from global when\n"
      "                    the market has fewer than N, and the answer says \"market\":\n"
      "                    {\"q\":...,\"suggestions\":[{\"text\":...,\"score\":...},...]};\n"
      "                    k from 1 to the trie's k (default 5); Accept: application/msgpack\n"
      "                    gives msgpack; ETag and If-None-Match (304); HEAD and OPTIONS too.\n"
      "                    Every value is percent-decoded ('+' a space): k=%31%30 is k=10.\n"
      "                    Errors: 400 (no q, bad UTF-8, bad k, typos or words, a malformed\n"
      "                    %XX), 414 (q over 1024 bytes).\n"
      "  GET /healthz      200 with the trie and filter versions and the trie's age (and each\n"
      "                    market's version, queries, requests and age; with --shard-map, whether\n"
      "                    each other shard answered lately); 503 while no (global) trie is\n"
      "                    loaded\n"
      "  GET /metrics      Prometheus text: requests by endpoint and status, latency\n"
      "                    histogram, trie age, reloads, filter hits\n"
      "  GET /             the demo page: a search box with live suggestions\n"
      "  POST /admin/reload  read, verify and swap in the trie file now; 422 if it is refused\n"
      "  GET /admin/filters  the rules file in force\n"
      "  PUT /admin/filters  replace the whole rules file with the body (400 with the line\n"
      "                    number when invalid: the old rules stay)\n"
      "  The /admin endpoints need 'Authorization: Bearer TOKEN' (--admin-token-file).\n"
      "  An HTTP/1.1 request needs one Host header (RFC 9112): 400 without, or with two.\n"
      "\n"
      "Signals: SIGHUP reloads the trie and the rules; SIGTERM or SIGINT stop accepting, let\n"
      "requests in flight finish and exit 0. Exit status: 0 stopped, 1 could not start or\n"
      "failed, 2 usage.\n",
      f);
}

/* A numeric option's value (strict: digits only, within lo..hi), or a message and -1. */
static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi, unsigned *out) {
  if (ta_parse_uint(v, lo, hi, out) == 0) return 0;
  fprintf(stderr, "typeahead-serve: %s: expected a whole number from %u to %u, got '%s'\n", opt, lo,
          hi, v ? SRV_LOG_ESC(v) : "");
  return -1;
}

int main(int argc, char **argv) {
  srv_config_t cfg = {0};
  cfg.listen = "127.0.0.1:8080";
  cfg.threads = 1;
  cfg.cache_max_age = 300;
  cfg.answer_cache_mb = 64;
  cfg.trending_slots = SRV_TRENDING_SLOTS;
  cfg.peer_cache_ms = SRV_PEER_CACHE_MS;
  int has_shard = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes_value = 1;
    if (strcmp(a, "--trie") == 0)
      cfg.trie_path = v;
    else if (strcmp(a, "--trie-dir") == 0)
      cfg.trie_dir = v;
    else if (strcmp(a, "--market-header") == 0)
      cfg.market_header = v;
    else if (strcmp(a, "--filters") == 0)
      cfg.filters_path = v;
    else if (strcmp(a, "--listen") == 0)
      cfg.listen = v;
    else if (strcmp(a, "--admin-token-file") == 0)
      cfg.admin_token_file = v;
    else if (strcmp(a, "--cors-origin") == 0)
      cfg.cors_origin = v;
    else if (strcmp(a, "--trending") == 0)
      cfg.trending_path = v;
    else if (strcmp(a, "--shard-map") == 0)
      cfg.shard_map = v;
    else if (strcmp(a, "--peers") == 0)
      cfg.peers_file = v;
    else if (strcmp(a, "--shard") == 0) {
      if (parse_uint(a, v, 0, TRIE_MAX_SHARDS - 1, &cfg.shard)) return 2;
      has_shard = 1;
    } else if (strcmp(a, "--peer-timeout-ms") == 0) {
      if (parse_uint(a, v, 1, 60000, &cfg.peer_timeout_ms)) return 2;
    } else if (strcmp(a, "--peer-cache-ms") == 0) {
      if (parse_uint(a, v, 0, 60000, &cfg.peer_cache_ms)) return 2;
    } else if (strcmp(a, "--trending-slots") == 0) {
      if (parse_uint(a, v, 0, SRV_TRENDING_SLOTS_MAX, &cfg.trending_slots)) return 2;
    } else if (strcmp(a, "--threads") == 0) {
      if (parse_uint(a, v, 1, 256, &cfg.threads)) return 2;
    } else if (strcmp(a, "--answer-cache-mb") == 0) {
      if (parse_uint(a, v, 0, 65536, &cfg.answer_cache_mb)) return 2;
    } else if (strcmp(a, "--max-connections") == 0) {
      if (parse_uint(a, v, 1, 16777216, &cfg.max_connections)) return 2;
    } else if (strcmp(a, "--header-timeout") == 0) {
      if (parse_uint(a, v, 1, 3600, &cfg.header_timeout)) return 2;
    } else if (strcmp(a, "--cache-max-age") == 0) {
      if (parse_uint(a, v, 0, 31536000, &cfg.cache_max_age)) return 2;
    } else {
      takes_value = 0;
      if (strcmp(a, "--access-log") == 0) {
        cfg.access_log = 1;
      } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return 0;
      } else if (strcmp(a, "--version") == 0) {
        return trie_print_version(stdout, "typeahead-serve") == 0 ? 0 : 1;
      } else {
        fprintf(stderr, "typeahead-serve: unknown option '%s'\n", SRV_LOG_ESC(a));
        usage(stderr);
        return 2;
      }
    }
    if (takes_value) {
      if (v == NULL) {
        fprintf(stderr, "typeahead-serve: %s needs a value\n", a);
        return 2;
      }
      i++;
    }
  }
  if ((cfg.trie_path == NULL) == (cfg.trie_dir == NULL)) {
    fprintf(stderr, "typeahead-serve: one of --trie FILE and --trie-dir DIR is required\n");
    usage(stderr);
    return 2;
  }
  if (cfg.market_header && cfg.trie_dir == NULL) {
    fprintf(stderr, "typeahead-serve: --market-header needs --trie-dir\n");
    return 2;
  }
  if ((cfg.shard_map != NULL) != has_shard || (cfg.shard_map != NULL) != (cfg.peers_file != NULL)) {
    fprintf(stderr, "typeahead-serve: --shard-map, --shard and --peers go together\n");
    return 2;
  }
  if (cfg.shard_map && cfg.trie_dir) {
    fprintf(stderr, "typeahead-serve: a sharded node serves one trie (--trie), not --trie-dir\n");
    return 2;
  }
  srv_t *s = NULL;
  int rc = srv_new(&cfg, &s);
  if (rc != 0) {
    fprintf(stderr, "typeahead-serve: cannot start: %s\n", ta_strerror(rc));
    return 1;
  }
  rc = srv_run(s);
  srv_free(s);
  if (rc != 0) {
    fprintf(stderr, "typeahead-serve: %s\n", ta_strerror(rc));
    return 1;
  }
  return 0;
}
