/*
 * typeahead-serve: the command line of the query server (SPEC §8). Parses the options into an
 * srv_config_t and runs the server (server/srv.h) until SIGTERM or SIGINT.
 */
#include "srv.h"
#include "ta.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fputs(
      "usage: typeahead-serve --trie FILE [--filters FILE] [--listen 127.0.0.1:8080]\n"
      "                       [--threads N] [--admin-token-file FILE] [--cache-max-age 300]\n"
      "                       [--cors-origin ORIGIN] [--answer-cache-mb 64] [--access-log]\n"
      "                       [--max-connections N] [--header-timeout 30]\n"
      "Serves GET /search?q=PREFIX[&k=N], /healthz, /metrics, / (demo page) and, with a token\n"
      "file, POST /admin/reload. SIGHUP reloads the trie; SIGTERM/SIGINT drain and exit.\n"
      "  --max-connections N  open connections, all workers together; a new one beyond gets\n"
      "                       503 and is closed. Default: the descriptor limit (raised to its\n"
      "                       hard limit at start) less 32 and 8 per worker thread, or half\n"
      "                       the limit when it is under twice that (the start line says).\n"
      "  --header-timeout S   a request (header block and body) must arrive whole within S\n"
      "                       seconds of its first byte, or of the connection's accept;\n"
      "                       else 408 and close, however slowly it trickles (1..3600, 30).\n",
      f);
}

/* A numeric option's value (strict: digits only, within lo..hi), or a message and -1. */
static int parse_uint(const char *opt, const char *v, unsigned lo, unsigned hi, unsigned *out) {
  if (ta_parse_uint(v, lo, hi, out) == 0) return 0;
  fprintf(stderr, "typeahead-serve: %s: expected a whole number from %u to %u, got '%s'\n", opt, lo,
          hi, v ? v : "");
  return -1;
}

int main(int argc, char **argv) {
  srv_config_t cfg = {0};
  cfg.listen = "127.0.0.1:8080";
  cfg.threads = 1;
  cfg.cache_max_age = 300;
  cfg.answer_cache_mb = 64;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes_value = 1;
    if (strcmp(a, "--trie") == 0)
      cfg.trie_path = v;
    else if (strcmp(a, "--filters") == 0)
      cfg.filters_path = v;
    else if (strcmp(a, "--listen") == 0)
      cfg.listen = v;
    else if (strcmp(a, "--admin-token-file") == 0)
      cfg.admin_token_file = v;
    else if (strcmp(a, "--cors-origin") == 0)
      cfg.cors_origin = v;
    else if (strcmp(a, "--threads") == 0) {
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
      } else {
        fprintf(stderr, "typeahead-serve: unknown option '%s'\n", a);
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
  if (cfg.trie_path == NULL) {
    fprintf(stderr, "typeahead-serve: --trie FILE is required\n");
    usage(stderr);
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
