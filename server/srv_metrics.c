/*
 * GET /metrics (SPEC §8): Prometheus text format 0.0.4. Each worker counts into its own
 * cache-line-aligned block (srv_wmetrics_t) with relaxed atomic stores, so the request path
 * shares no counter between threads; this page sums the blocks when it is asked for.
 *
 * Families: typeahead_requests_total{endpoint,code}, typeahead_request_duration_seconds
 * (histogram per endpoint: from the handler's start to the reply queued), typeahead_trie_*
 * (version, age since build and since load, queries), typeahead_reloads_total{result} (with
 * --trie-dir each of these has a market label, one series per market of the table, and
 * typeahead_market_requests_total{market} counts /search by market: at most SRV_MAX_MARKETS),
 * typeahead_filter_* (srv_filters.c: hits by rule kind, rule counts, rule loads) and
 * typeahead_gate_rejects_total
 * (requests the connection layer refused before libevhtp's parser saw them: the gate's 400, 401,
 * 411, 413, 414, 417, 431 and 505, the deadline's 408),
 * typeahead_answer_cache_* (srv_cache.c: hits and misses, entries, bytes),
 * typeahead_connections{worker} and typeahead_connections_rebalanced_total (srv_place.c) and
 * typeahead_replies_written_at_once_total{result} (srv_conn.c, conn_write_now); on a sharded
 * node typeahead_forwarded_total, typeahead_peer_failures_total, typeahead_peer_seconds_total.
 */
#include "srv_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const ep_names[SRV_EP_COUNT] = {"search", "healthz", "metrics",
                                                   "demo",   "admin",   "other"};
static const int st_codes[SRV_ST_COUNT] = {200, 304, 400, 401, 404, 405,
                                           413, 414, 431, 500, 503, 0};
/* Upper bounds of the latency buckets in ns; the last bucket is +Inf. */
static const uint64_t lat_bounds_ns[SRV_LAT_BUCKETS - 1] = {
    25000, 50000, 100000, 250000, 500000, 1000000, 2000000, 5000000, 10000000, 50000000, 250000000};

int srv__status_index(int status) {
  for (int i = 0; i < SRV_ST_COUNT - 1; i++)
    if (st_codes[i] == status) return i;
  return SRV_ST_OTHER;
}

void srv__metrics_count(srv_wmetrics_t *m, int ep, int status, uint64_t ns) {
  srv__metrics_bump(&m->requests[ep][srv__status_index(status)], 1);
  int b = 0;
  while (b < SRV_LAT_BUCKETS - 1 && ns > lat_bounds_ns[b]) b++;
  srv__metrics_bump(&m->latency[ep][b], 1);
  srv__metrics_bump(&m->latency_sum_ns[ep], ns);
}

static int put(ta_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(ta_buf_t *b, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return TA_EINVAL;
  if ((size_t)n < sizeof line) return ta_buf_put(b, line, (size_t)n);
  /* Longer than the line buffer: format again straight into b (never cut a family short). */
  int rc = ta_buf_reserve(b, (size_t)n + 1);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

static uint64_t sum(srv_t *s, size_t offset) {
  uint64_t total = 0;
  for (unsigned w = 0; w < s->threads; w++) {
    const _Atomic uint64_t *c = (const _Atomic uint64_t *)((const char *)&s->wmetrics[w] + offset);
    total += atomic_load_explicit(c, memory_order_relaxed);
  }
  return total;
}

#define FIELD_OFF(field) offsetof(srv_wmetrics_t, field)

/* The head of a family: its HELP and TYPE lines. */
static int family(ta_buf_t *b, const char *name, const char *type, const char *help) {
  return put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name, its labels ("" for none, else with their braces) and value. */
static int sample(ta_buf_t *b, const char *name, const char *labels, uint64_t v) {
  return put(b, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

/* A family of one unlabelled sample. */
static int single(ta_buf_t *b, const char *name, const char *type, const char *help, uint64_t v) {
  int rc = family(b, name, type, help);
  return rc ? rc : sample(b, name, "", v);
}

/* A family of two samples told apart by label key: k="v1" and k="v2". */
static int pair(ta_buf_t *b, const char *name, const char *type, const char *help, const char *k,
                const char *v1, uint64_t x1, const char *v2, uint64_t x2) {
  int rc = family(b, name, type, help);
  if (!rc) rc = put(b, "%s{%s=\"%s\"} %llu\n", name, k, v1, (unsigned long long)x1);
  if (!rc) rc = put(b, "%s{%s=\"%s\"} %llu\n", name, k, v2, (unsigned long long)x2);
  return rc;
}

/* A gauge of one signed unlabelled sample (ages can be negative when a clock steps back). */
static int age(ta_buf_t *b, const char *name, const char *help, int64_t v) {
  int rc = family(b, name, "gauge", help);
  return rc ? rc : put(b, "%s %lld\n", name, (long long)v);
}

/* The market label of market i: "" with --trie (one trie, the series as they always were),
 * else market="NAME" and sep (a "," when more labels follow, or ""). */
static void market_label(const srv_t *s, unsigned i, const char *sep, char *out, size_t cap) {
  if (s->mk.dir)
    snprintf(out, cap, "market=\"%s\"%s", s->mk.m[i].name, sep);
  else
    out[0] = '\0';
}

/* One sample per market of a gauge read from its trie (acquired by worker w), for the markets
 * that have one loaded. what: 0 queries, 1 age since build, 2 age since load, 3 info. */
static int trie_gauge(srv_t *s, unsigned w, unsigned n, ta_buf_t *b, const char *name, int what) {
  int rc = 0;
  int64_t now = ta_unix_s();
  for (unsigned i = 0; i < n; i++) {
    srv_snap_t *slot = s->mk.m[i].slot;
    const srv_trie_t *t = slot ? srv__snap_acquire(slot, w) : NULL;
    char l[64];
    market_label(s, i, what == 3 ? "," : "", l, sizeof l);
    const char *open = l[0] || what == 3 ? "{" : "", *close = l[0] || what == 3 ? "}" : "";
    if (t && what == 0)
      rc |=
          put(b, "%s%s%s%s %llu\n", name, open, l, close, (unsigned long long)t->info.num_queries);
    else if (t && what == 3)
      rc |= put(b, "%s{%sversion=\"%s\",k=\"%u\"} 1\n", name, l, t->version, (unsigned)t->info.k);
    else if (t)
      rc |= put(b, "%s%s%s%s %lld\n", name, open, l, close,
                (long long)(now - (what == 1 ? t->info.build_time : t->loaded_at)));
    if (slot) srv__snap_release(slot, w);
  }
  return rc;
}

/* The trie families: global's alone with --trie, every market's with --trie-dir. */
static int tries_render(srv_t *s, unsigned w, ta_buf_t *b) {
  unsigned n = atomic_load_explicit(&s->mk.n, memory_order_acquire);
  int rc =
      family(b, "typeahead_reloads_total", "counter", "Trie loads (start and swaps), by result.");
  for (unsigned i = 0; i < n; i++) {
    char l[64];
    market_label(s, i, ",", l, sizeof l);
    rc |= put(b, "typeahead_reloads_total{%sresult=\"ok\"} %llu\n", l,
              (unsigned long long)atomic_load(&s->mk.m[i].reloads_ok));
    rc |= put(b, "typeahead_reloads_total{%sresult=\"failed\"} %llu\n", l,
              (unsigned long long)atomic_load(&s->mk.m[i].reloads_failed));
  }
  rc |= family(b, "typeahead_trie_loaded", "gauge", "1 when a trie is being served.");
  unsigned loaded = 0;
  for (unsigned i = 0; i < n; i++) {
    char l[64];
    market_label(s, i, "", l, sizeof l);
    int on = s->mk.m[i].slot && srv__snap_peek(s->mk.m[i].slot) != NULL;
    loaded += on;
    rc |= put(b, "typeahead_trie_loaded%s%s%s %d\n", l[0] ? "{" : "", l, l[0] ? "}" : "", on);
  }
  if (loaded) {
    rc |= family(b, "typeahead_trie_info", "gauge", "The trie being served (labels name it).");
    rc |= trie_gauge(s, w, n, b, "typeahead_trie_info", 3);
    rc |= family(b, "typeahead_trie_queries", "gauge", "Distinct queries in the trie.");
    rc |= trie_gauge(s, w, n, b, "typeahead_trie_queries", 0);
    rc |= family(b, "typeahead_trie_age_seconds", "gauge", "Seconds since the trie was built.");
    rc |= trie_gauge(s, w, n, b, "typeahead_trie_age_seconds", 1);
    rc |= family(b, "typeahead_trie_loaded_age_seconds", "gauge",
                 "Seconds since the trie was loaded.");
    rc |= trie_gauge(s, w, n, b, "typeahead_trie_loaded_age_seconds", 2);
  }
  if (s->mk.dir) {
    rc |= family(b, "typeahead_market_requests_total", "counter",
                 "/search requests, by the market they were routed to (global: no market, an "
                 "unknown one, or one not served).");
    for (unsigned i = 0; i < n; i++) {
      char l[64];
      market_label(s, i, "", l, sizeof l);
      rc |= put(b, "typeahead_market_requests_total{%s} %llu\n", l,
                (unsigned long long)sum(s, FIELD_OFF(market_requests[i])));
    }
  }
  return rc;
}

int srv__metrics_render(srv_t *s, unsigned w, ta_buf_t *b) {
  int rc = 0;
  rc |= family(b, "typeahead_requests_total", "counter",
               "HTTP requests answered, by endpoint and status.");
  for (int e = 0; e < SRV_EP_COUNT; e++) {
    for (int c = 0; c < SRV_ST_COUNT; c++) {
      uint64_t v = sum(s, FIELD_OFF(requests[e][c]));
      if (v == 0 && !(e == SRV_EP_SEARCH && c == SRV_ST_200)) continue;
      if (st_codes[c])
        rc |= put(b, "typeahead_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", ep_names[e],
                  st_codes[c], (unsigned long long)v);
      else
        rc |= put(b, "typeahead_requests_total{endpoint=\"%s\",code=\"other\"} %llu\n", ep_names[e],
                  (unsigned long long)v);
    }
  }
  rc |= family(b, "typeahead_request_duration_seconds", "histogram",
               "Time from the handler's start to the reply queued.");
  for (int e = 0; e < SRV_EP_COUNT; e++) {
    uint64_t cum = 0;
    for (int k = 0; k < SRV_LAT_BUCKETS; k++) {
      cum += sum(s, FIELD_OFF(latency[e][k]));
      if (k < SRV_LAT_BUCKETS - 1)
        rc |= put(b,
                  "typeahead_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} "
                  "%llu\n",
                  ep_names[e], (double)lat_bounds_ns[k] / 1e9, (unsigned long long)cum);
      else
        rc |= put(b,
                  "typeahead_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} "
                  "%llu\n",
                  ep_names[e], (unsigned long long)cum);
    }
    rc |= put(b, "typeahead_request_duration_seconds_sum{endpoint=\"%s\"} %.9f\n", ep_names[e],
              (double)sum(s, FIELD_OFF(latency_sum_ns[e])) / 1e9);
    rc |= put(b, "typeahead_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e],
              (unsigned long long)cum);
  }

  rc |= tries_render(s, w, b);
  int64_t now = ta_unix_s();
  if (srv__filters_metrics(s, b) != 0) rc |= -1;
  rc |= single(b, "typeahead_gate_rejects_total", "counter",
               "Requests refused and closed before parsing (malformed, ambiguous, too large or "
               "too slow: 400, 401, 408, 411, 413, 414, 417, 431, 505).",
               sum(s, FIELD_OFF(rejected_by_gate)));
  rc |= pair(b, "typeahead_answer_cache_lookups_total", "counter",
             "/search answers looked up in the workers' answer caches, by result.", "result", "hit",
             sum(s, FIELD_OFF(cache_lookups[0])), "miss", sum(s, FIELD_OFF(cache_lookups[1])));
  rc |= single(b, "typeahead_answer_cache_entries", "gauge", "Answers held by the caches.",
               sum(s, FIELD_OFF(cache_entries)));
  rc |= single(b, "typeahead_answer_cache_bytes", "gauge",
               "Memory of the caches (entries and tables).", sum(s, FIELD_OFF(cache_bytes)));
  rc |= family(b, "typeahead_connections", "gauge", "Open client connections, by worker thread.");
  for (unsigned i = 0; i < s->threads; i++) {
    char labels[32];
    snprintf(labels, sizeof labels, "{worker=\"%u\"}", i);
    rc |= sample(b, "typeahead_connections", labels,
                 atomic_load_explicit(&s->wmetrics[i].connections, memory_order_relaxed));
  }
  rc |= single(b, "typeahead_connections_rebalanced_total", "counter",
               "Connections closed after a reply (Connection: close) to move them off the most "
               "loaded worker.",
               sum(s, FIELD_OFF(rebalanced)));
  rc |= pair(b, "typeahead_replies_written_at_once_total", "counter",
             "Replies written to the socket as soon as the handler returned, by result (partial: "
             "the rest went out when the socket was writable).",
             "result", "whole", sum(s, FIELD_OFF(write_now[0])), "partial",
             sum(s, FIELD_OFF(write_now[1])));
  if (s->tr.m) /* --trending (srv_trending.c) */
    rc |= single(b, "typeahead_trending_suggestions_total", "counter",
                 "Trending suggestions mixed into /search answers (answers computed, not those "
                 "served again from the answer cache).",
                 sum(s, FIELD_OFF(trending_served)));
  if (s->peers) { /* a sharded node (srv_peer.c) */
    rc |= single(b, "typeahead_forwarded_total", "counter",
                 "Requests sent to another shard's replica (a prefix it owns, every shard's "
                 "part of an empty prefix, or their word matches of a prefix).",
                 sum(s, FIELD_OFF(forwarded)));
    rc |= single(b, "typeahead_peer_failures_total", "counter",
                 "Forwarding attempts that failed (refused, reset, timed out, 5xx); the next "
                 "replica was tried.",
                 sum(s, FIELD_OFF(peer_failures)));
    rc |= family(b, "typeahead_peer_seconds_total", "counter",
                 "Time from forwarding a request to its answer, summed (divide by "
                 "typeahead_forwarded_total for the mean).");
    rc |= put(b, "typeahead_peer_seconds_total %.6f\n", (double)sum(s, FIELD_OFF(peer_ns)) / 1e9);
  }
  rc |=
      age(b, "typeahead_uptime_seconds", "Seconds since the server started.", now - s->started_at);
  return rc ? TA_ENOMEM : 0;
}
