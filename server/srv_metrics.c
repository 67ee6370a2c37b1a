/*
 * GET /metrics (SPEC §8): Prometheus text format 0.0.4. Each worker counts into its own
 * cache-line-aligned block (srv_wmetrics_t) with relaxed atomic stores, so the request path
 * shares no counter between threads; this page sums the blocks when it is asked for.
 *
 * Families: typeahead_requests_total{endpoint,code}, typeahead_request_duration_seconds
 * (histogram per endpoint: from the handler's start to the reply queued), typeahead_trie_*
 * (version, age since build and since load, queries), typeahead_reloads_total{result},
 * typeahead_filter_* (srv_filters.c: hits by rule kind, rule counts, rule loads) and
 * typeahead_gate_rejects_total
 * (requests answered 400/414/431 before libevhtp's parser saw them),
 * typeahead_answer_cache_* (srv_cache.c: hits and misses, entries, bytes),
 * typeahead_connections{worker} and typeahead_connections_rebalanced_total (srv_http.c, placing
 * connections) and typeahead_replies_written_at_once_total{result} (srv_http.c, conn_write_now).
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

void srv__metrics_bump(_Atomic uint64_t *c, uint64_t by) {
  /* Only the owning worker writes its block: a load and a store are enough. */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                        memory_order_relaxed);
}

void srv__metrics_count(srv_wmetrics_t *m, int ep, int status, uint64_t ns) {
  srv__metrics_bump(&m->requests[ep][srv__status_index(status)], 1);
  int b = 0;
  while (b < SRV_LAT_BUCKETS - 1 && ns > lat_bounds_ns[b]) b++;
  srv__metrics_bump(&m->latency[ep][b], 1);
  srv__metrics_bump(&m->latency_sum_ns[ep], ns);
}

static int put(srv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(srv_buf_t *b, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return TA_EINVAL;
  if ((size_t)n < sizeof line) return srv__buf_put(b, line, (size_t)n);
  /* Longer than the line buffer: format again straight into b (never cut a family short). */
  int rc = srv__buf_reserve(b, (size_t)n + 1);
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

int srv__metrics_render(srv_t *s, const srv_trie_t *t, srv_buf_t *b) {
  int rc = 0;
  rc |= put(b,
            "# HELP typeahead_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE typeahead_requests_total counter\n");
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
  rc |= put(b,
            "# HELP typeahead_request_duration_seconds Time from the handler's start to "
            "the reply queued.\n# TYPE typeahead_request_duration_seconds histogram\n");
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

  rc |= put(b,
            "# HELP typeahead_reloads_total Trie loads (start and swaps), by result.\n"
            "# TYPE typeahead_reloads_total counter\n"
            "typeahead_reloads_total{result=\"ok\"} %llu\n"
            "typeahead_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)atomic_load(&s->reloads_ok),
            (unsigned long long)atomic_load(&s->reloads_failed));

  int64_t now = ta_unix_s();
  rc |= put(b,
            "# HELP typeahead_trie_loaded 1 when a trie is being served.\n"
            "# TYPE typeahead_trie_loaded gauge\ntypeahead_trie_loaded %d\n",
            t != NULL);
  if (t) {
    rc |= put(b,
              "# HELP typeahead_trie_info The trie being served (labels name it).\n"
              "# TYPE typeahead_trie_info gauge\n"
              "typeahead_trie_info{version=\"%s\",k=\"%u\"} 1\n",
              t->version, (unsigned)t->info.k);
    rc |= put(b,
              "# HELP typeahead_trie_queries Distinct queries in the trie.\n"
              "# TYPE typeahead_trie_queries gauge\ntypeahead_trie_queries %llu\n",
              (unsigned long long)t->info.num_queries);
    rc |= put(b,
              "# HELP typeahead_trie_age_seconds Seconds since the trie was built.\n"
              "# TYPE typeahead_trie_age_seconds gauge\ntypeahead_trie_age_seconds %lld\n",
              (long long)(now - t->info.build_time));
    rc |= put(b,
              "# HELP typeahead_trie_loaded_age_seconds Seconds since the trie was loaded."
              "\n# TYPE typeahead_trie_loaded_age_seconds gauge\n"
              "typeahead_trie_loaded_age_seconds %lld\n",
              (long long)(now - t->loaded_at));
  }
  if (srv__filters_metrics(s, b) != 0) rc |= -1;
  rc |= put(b,
            "# HELP typeahead_gate_rejects_total Requests answered 400/414/431 before "
            "parsing (malformed request line, line over 8000 bytes).\n"
            "# TYPE typeahead_gate_rejects_total counter\ntypeahead_gate_rejects_total %llu\n",
            (unsigned long long)sum(s, FIELD_OFF(rejected_by_gate)));
  rc |= put(b,
            "# HELP typeahead_answer_cache_lookups_total /search answers looked up in the "
            "workers' answer caches, by result.\n"
            "# TYPE typeahead_answer_cache_lookups_total counter\n"
            "typeahead_answer_cache_lookups_total{result=\"hit\"} %llu\n"
            "typeahead_answer_cache_lookups_total{result=\"miss\"} %llu\n"
            "# HELP typeahead_answer_cache_entries Answers held by the caches.\n"
            "# TYPE typeahead_answer_cache_entries gauge\n"
            "typeahead_answer_cache_entries %llu\n"
            "# HELP typeahead_answer_cache_bytes Memory of the caches (entries and tables).\n"
            "# TYPE typeahead_answer_cache_bytes gauge\n"
            "typeahead_answer_cache_bytes %llu\n",
            (unsigned long long)sum(s, FIELD_OFF(cache_lookups[0])),
            (unsigned long long)sum(s, FIELD_OFF(cache_lookups[1])),
            (unsigned long long)sum(s, FIELD_OFF(cache_entries)),
            (unsigned long long)sum(s, FIELD_OFF(cache_bytes)));
  rc |= put(b,
            "# HELP typeahead_connections Open client connections, by worker thread.\n"
            "# TYPE typeahead_connections gauge\n");
  for (unsigned i = 0; i < s->threads; i++)
    rc |= put(b, "typeahead_connections{worker=\"%u\"} %llu\n", i,
              (unsigned long long)atomic_load_explicit(&s->wmetrics[i].connections,
                                                       memory_order_relaxed));
  rc |= put(b,
            "# HELP typeahead_connections_rebalanced_total Connections closed after a reply "
            "(Connection: close) to move them off the most loaded worker.\n"
            "# TYPE typeahead_connections_rebalanced_total counter\n"
            "typeahead_connections_rebalanced_total %llu\n",
            (unsigned long long)sum(s, FIELD_OFF(rebalanced)));
  rc |= put(b,
            "# HELP typeahead_replies_written_at_once_total Replies written to the socket "
            "as soon as the handler returned, by result (partial: the rest went out when the "
            "socket was writable).\n"
            "# TYPE typeahead_replies_written_at_once_total counter\n"
            "typeahead_replies_written_at_once_total{result=\"whole\"} %llu\n"
            "typeahead_replies_written_at_once_total{result=\"partial\"} %llu\n",
            (unsigned long long)sum(s, FIELD_OFF(write_now[0])),
            (unsigned long long)sum(s, FIELD_OFF(write_now[1])));
  rc |= put(b,
            "# HELP typeahead_uptime_seconds Seconds since the server started.\n"
            "# TYPE typeahead_uptime_seconds gauge\ntypeahead_uptime_seconds %lld\n",
            (long long)(now - s->started_at));
  return rc ? TA_ENOMEM : 0;
}
