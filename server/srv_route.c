/*
 * The router of typeahead-serve (SPEC §8): libevhtp calls it for every parsed request. It
 * matches the exact path (libevhtp's own callbacks match by prefix: /searchx would hit
 * /search), answers 404 and 405 (with Allow) and the CORS preflight of /search, hands the rest
 * to the handlers (srv_search.c, srv_admin.c), then counts the request and writes the access
 * log line.
 */
#include "srv_int.h"

#include <evhtp/evhtp.h>
#include <stdlib.h>
#include <string.h>

static int method_is(const evhtp_request_t *req, htp_method a, htp_method b) {
  return req->method == a || req->method == b;
}

/* OPTIONS /search: CORS preflight (and plain OPTIONS): what may be asked, for a day. */
static void search_options(srv_reply_t *r) {
  srv_t *s = r->w->srv;
  evhtp_request_t *req = r->req;
  srv__reply_header(req, "Allow", "GET, HEAD, OPTIONS", 0);
  if (s->cors_origin) {
    srv__reply_cors(s, req);
    srv__reply_header(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS", 0);
    srv__reply_header(req, "Access-Control-Allow-Headers", "Accept, If-None-Match", 0);
    srv__reply_header(req, "Access-Control-Max-Age", "86400", 0);
  }
  srv__reply_send(r, 204, NULL, NULL, 0);
}

static void route_admin(srv_reply_t *r, const char *path) {
  evhtp_request_t *req = r->req;
  if (!srv__admin_authorized(r)) return;
  if (strcmp(path, "/admin/filters") == 0) {
    if (method_is(req, htp_method_GET, htp_method_HEAD))
      srv__handle_filters_get(r);
    else if (req->method == htp_method_PUT)
      srv__handle_filters_put(r);
    else
      srv__reply_405(r, "GET, HEAD, PUT");
  } else if (strcmp(path, "/admin/reload") != 0) {
    srv__reply_error(r, 404, "not found");
  } else if (req->method != htp_method_POST) {
    srv__reply_405(r, "POST");
  } else {
    srv__handle_reload(r);
  }
}

/* Counts the answered request and writes its access log line. */
static void route_done(srv_reply_t *r) {
  evhtp_request_t *req = r->req;
  srv_t *s = r->w->srv;
  uint64_t ns = ta_mono_ns() - r->t0;
  srv__metrics_count(r->w->m, r->ep, r->status, ns);
  if (s->access_log) {
    const char *path =
        req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
    srv__log("%s %s%s%s %d %zu %.3fms", htparser_get_methodstr_m(req->method), path,
             req->uri && req->uri->query_raw ? "?" : "",
             req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : "", r->status,
             r->body_len, (double)ns / 1e6);
  }
}

/* A deferred request (srv__conn_defer): 1 once answered. */
static int route_poll(void *arg) {
  srv_reply_t *r = arg;
  if (!r->later(r)) return 0;
  route_done(r);
  return 1;
}

static void route_free(void *arg) {
  srv_reply_t *r = arg;
  if (r->later_free) r->later_free(r->later_state);
  free(r);
}

static void http_request(evhtp_request_t *req, void *arg) {
  srv_worker_t *w = arg;
  srv_reply_t r = {w, req, SRV_EP_OTHER, 0, 0, ta_mono_ns(), 0, NULL, NULL, NULL};
  srv__conn_request_begin(w, req, r.t0);

  const char *path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "";
  if (strcmp(path, "/search") == 0) {
    r.ep = SRV_EP_SEARCH;
    if (method_is(req, htp_method_GET, htp_method_HEAD))
      srv__handle_search(&r);
    else if (req->method == htp_method_OPTIONS)
      search_options(&r);
    else
      srv__reply_405(&r, "GET, HEAD, OPTIONS");
  } else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
             strcmp(path, "/") == 0) {
    r.ep = path[1] == 'h' ? SRV_EP_HEALTHZ : path[1] == 'm' ? SRV_EP_METRICS : SRV_EP_DEMO;
    if (!method_is(req, htp_method_GET, htp_method_HEAD))
      srv__reply_405(&r, "GET, HEAD");
    else if (r.ep == SRV_EP_HEALTHZ)
      srv__handle_healthz(&r);
    else if (r.ep == SRV_EP_METRICS)
      srv__handle_metrics(&r);
    else
      srv__handle_demo(&r);
  } else if (strncmp(path, "/admin/", 7) == 0) {
    r.ep = SRV_EP_ADMIN;
    route_admin(&r, path);
  } else {
    srv__reply_error(&r, 404, "not found");
  }

  if (r.later == NULL) {
    route_done(&r);
    return;
  }
  /* Answered later, from the loop (a reload, a peer's answer). */
  srv_reply_t *later = malloc(sizeof *later);
  if (later) *later = r;
  if (later == NULL || srv__conn_defer(w, req, route_poll, later, route_free) != 0) {
    free(later);
    if (r.later_free) r.later_free(r.later_state);
    srv__reply_error(&r, 503, "cannot wait for the answer");
    route_done(&r);
  }
}

void srv__route_attach(srv_worker_t *w) {
  evhtp_set_gencb(w->htp, http_request, w);
}
