/*
 * The endpoints of typeahead-serve other than /search (SPEC §8): GET /healthz, GET /metrics
 * (the page is srv_metrics.c's), GET / (the demo page, embedded at build time by srv.cmake),
 * and the admin endpoints behind a bearer token: POST /admin/reload and GET/PUT /admin/filters
 * (docs/filters.md).
 */
#include "srv_int.h"

#include <event2/buffer.h>
#include <evhtp/evhtp.h>
#include <stdio.h>
#include <string.h>

/* The demo page, embedded at build time (srv.cmake). */
extern const unsigned char srv_demo_html[];
extern const size_t srv_demo_html_len;

static int put_json_field(ta_buf_t *b, const char *name, const char *v, size_t n) {
  int rc = ta_buf_put(b, name, strlen(name));
  return rc ? rc : srv__json_string(b, v, n);
}

/* A loaded trie's ,"build_time":..,"loaded_at":..,"age_seconds":.. (SPEC §10: each market's
 * age; the age is since the build, as typeahead_trie_age_seconds), nulls for none. */
static int put_times(ta_buf_t *b, const srv_trie_t *t, int64_t now) {
  char num[128];
  int n =
      t ? snprintf(num, sizeof num, ",\"build_time\":%lld,\"loaded_at\":%lld,\"age_seconds\":%lld",
                   (long long)t->info.build_time, (long long)t->loaded_at,
                   (long long)(now - t->info.build_time))
        : snprintf(num, sizeof num, ",\"build_time\":null,\"loaded_at\":null,\"age_seconds\":null");
  return ta_buf_put(b, num, (size_t)n);
}

/* With --trie-dir: ,"markets":{"NAME":{"version":..,"queries":..,"requests":..,"build_time":..,
 * "loaded_at":..,"age_seconds":..},..}, every market of the table (version and times null and
 * queries 0 while it has no trie loaded). */
static int healthz_markets(srv_worker_t *w, ta_buf_t *b) {
  srv_t *s = w->srv;
  int64_t now = ta_unix_s();
  unsigned n = atomic_load_explicit(&s->mk.n, memory_order_acquire);
  int rc = ta_buf_put(b, ",\"markets\":{", 12);
  for (unsigned i = 0; i < n && !rc; i++) {
    const srv_market_t *m = &s->mk.m[i];
    uint64_t requests = 0;
    for (unsigned k = 0; k < s->threads; k++)
      requests += atomic_load_explicit(&s->wmetrics[k].market_requests[i], memory_order_relaxed);
    if (i) rc = ta_buf_put(b, ",", 1);
    if (!rc) rc = srv__json_string(b, m->name, strlen(m->name));
    const srv_trie_t *t = m->slot ? srv__snap_acquire(m->slot, w->id) : NULL;
    if (!rc) rc = ta_buf_put(b, ":{\"version\":", 12);
    if (!rc)
      rc = t ? srv__json_string(b, t->version, strlen(t->version)) : ta_buf_put(b, "null", 4);
    char num[96];
    int len =
        snprintf(num, sizeof num, ",\"queries\":%llu,\"requests\":%llu",
                 (unsigned long long)(t ? t->info.num_queries : 0), (unsigned long long)requests);
    if (!rc) rc = ta_buf_put(b, num, (size_t)len);
    if (!rc) rc = put_times(b, t, now);
    if (m->slot) srv__snap_release(m->slot, w->id);
    if (!rc) rc = ta_buf_put(b, "}", 1);
  }
  return rc ? rc : ta_buf_put(b, "}", 1);
}

void srv__handle_healthz(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  ta_buf_t *b = &w->out;
  b->len = 0;
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  int rc = ta_buf_put(b,
                      t ? "{\"status\":\"ok\",\"trie\":"
                        : "{\"status\":\"no trie loaded\","
                          "\"trie\":null",
                      t ? 22 : 38);
  if (t && !rc) {
    char num[160];
    rc = put_json_field(b, "{\"version\":", t->version, strlen(t->version));
    if (!rc) rc = put_json_field(b, ",\"path\":", s->trie_path_utf8, strlen(s->trie_path_utf8));
    if (!rc) rc = put_json_field(b, ",\"source\":", t->info.source, t->info.source_len);
    int n = snprintf(num, sizeof num, ",\"k\":%u,\"queries\":%llu", (unsigned)t->info.k,
                     (unsigned long long)t->info.num_queries);
    if (!rc) rc = ta_buf_put(b, num, (size_t)n);
    if (!rc) rc = put_times(b, t, ta_unix_s());
    if (!rc) rc = ta_buf_put(b, "}", 1);
  }
  srv__trie_release(s, w->id);
  const char *fv = srv__filter_version(s);
  if (!rc) rc = put_json_field(b, ",\"filters\":{\"version\":", fv, strlen(fv));
  if (!rc) rc = ta_buf_put(b, "}", 1);
  if (!rc && s->mk.dir) rc = healthz_markets(w, b);
  if (!rc && s->tr.m) rc = srv__trending_healthz(w, b);
  if (!rc && s->peers) rc = srv__shard_healthz(s, b);
  if (!rc) rc = ta_buf_put(b, "}", 1);
  if (rc) {
    srv__reply_error(r, 500, ta_strerror(rc));
    return;
  }
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_send(r, t ? 200 : 503, "application/json; charset=utf-8", b->p, b->len);
}

void srv__handle_metrics(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  ta_buf_t *b = &w->out;
  b->len = 0;
  int rc = srv__metrics_render(w->srv, w->id, b);
  if (rc) {
    srv__reply_error(r, 500, ta_strerror(rc));
    return;
  }
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", b->p, b->len);
}

void srv__handle_demo(srv_reply_t *r) {
  srv__reply_header(r->req, "Cache-Control", "no-cache", 0);
  srv__reply_send(r, 200, "text/html; charset=utf-8", srv_demo_html, srv_demo_html_len);
}

/* POST /admin/reload takes a ticket for the reload thread and queues no reply: the router
 * defers the request, and reload_answer answers it from the worker's loop once the reload is
 * done. The worker serves its other connections meanwhile. */
static int reload_answer(srv_reply_t *r);

void srv__handle_reload(srv_reply_t *r) {
  r->ticket = srv__reload_request(r->w->srv);
  r->later = reload_answer;
}

/* 1 once the reload of r's ticket is done and answered, 0 while it runs. */
static int reload_answer(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  srv_t *s = w->srv;
  int result = 0;
  int done = srv__reload_poll(s, r->ticket, &result);
  /* A stopping worker answers at once: its connections are cut SRV_DRAIN_SECONDS after
   * SIGTERM, and a reload of a large file may take longer. */
  if (done == 0 && w->draining) done = TA_EBUSY;
  if (done == 0 && ta_mono_ns() - r->t0 < (uint64_t)SRV_RELOAD_WAIT_MS * 1000000u) return 0;
  if (done != 1) {
    srv__reply_error(r, 503, done ? "the server is stopping" : "reload did not finish in time");
    return 1;
  }
  if (result) {
    char msg[160];
    snprintf(msg, sizeof msg, "new trie refused: %s; the old trie keeps serving",
             ta_strerror(result));
    srv__reply_error(r, 422, msg);
    return 1;
  }
  ta_buf_t *b = &w->out;
  b->len = 0;
  const srv_trie_t *t = srv__trie_acquire(s, w->id);
  int rc = ta_buf_put(b, "{\"reloaded\":true,\"version\":", 27);
  if (!rc) rc = t ? srv__json_string(b, t->version, strlen(t->version)) : ta_buf_put(b, "null", 4);
  srv__trie_release(s, w->id);
  if (!rc) rc = ta_buf_put(b, "}", 1);
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_send(r, 200, "application/json; charset=utf-8", b->p, rc ? 0 : b->len);
  return 1;
}

/* GET /admin/filters: the rules file in force, as it was given. */
void srv__handle_filters_get(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  char version[17] = "";
  int rc = srv__filters_get(w->srv, w->id, &w->out, version);
  if (rc) {
    srv__reply_error(r, 500, ta_strerror(rc));
    return;
  }
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_header(r->req, "X-Filters-Version", version, 1);
  srv__reply_send(r, 200, "text/plain; charset=utf-8", w->out.p, w->out.len);
}

/* PUT /admin/filters: body = the whole rules file; 400 with the line number when invalid (the
 * rules in force stay), else written to --filters FILE and put in force. */
void srv__handle_filters_put(srv_reply_t *r) {
  srv_worker_t *w = r->w;
  struct evbuffer *in = r->req->buffer_in;
  size_t len = in ? evbuffer_get_length(in) : 0;
  const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
  if (body == NULL) {
    srv__reply_error(r, 500, ta_strerror(TA_ENOMEM));
    return;
  }
  ta_diag_t err;
  flt_info_t info;
  int rc = srv__filters_put(w->srv, w->id, body, len, &err, &info);
  if (rc == TA_EPARSE || rc == TA_EUTF8 || rc == TA_ETOOLONG) {
    char msg[256];
    if (err.line)
      snprintf(msg, sizeof msg, "line %u: %s; the rules in force stay", (unsigned)err.line,
               err.msg);
    else
      snprintf(msg, sizeof msg, "%s; the rules in force stay", err.msg);
    srv__reply_error(r, 400, msg);
    return;
  }
  if (rc == TA_ENOENT) {
    srv__reply_error(r, 409, err.msg);
    return;
  }
  if (rc) {
    srv__reply_error(r, 500, err.msg[0] ? err.msg : ta_strerror(rc));
    return;
  }
  ta_buf_t *b = &w->out;
  b->len = 0;
  char tail[200];
  int n = snprintf(
      tail, sizeof tail, ",\"rules\":{\"word\":%zu,\"phrase\":%zu,\"prefix\":%zu,\"exact\":%zu}}",
      info.rules[FLT_WORD], info.rules[FLT_PHRASE], info.rules[FLT_PREFIX], info.rules[FLT_EXACT]);
  rc = ta_buf_put(b, "{\"version\":", 11);
  if (!rc) rc = srv__json_string(b, info.version_hex, strlen(info.version_hex));
  if (!rc) rc = ta_buf_put(b, tail, (size_t)n);
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_send(r, 200, "application/json; charset=utf-8", b->p, rc ? 0 : b->len);
}

/* Admin endpoints: 404 when no token file was given (they do not exist), 401 without the right
 * bearer token. */
int srv__admin_authorized(srv_reply_t *r) {
  const char *h = evhtp_header_find(r->req->headers_in, "Authorization");
  int st = srv__admin_check(r->w->srv, h, h ? strlen(h) : 0);
  if (st == 0) return 1;
  if (st == 404) {
    srv__reply_error(r, 404, "not found");
    return 0;
  }
  srv__reply_header(r->req, "WWW-Authenticate", "Bearer realm=\"typeahead-admin\"", 0);
  srv__reply_error(r, 401, "missing or wrong bearer token");
  return 0;
}
