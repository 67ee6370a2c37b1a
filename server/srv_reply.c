/*
 * Replies of typeahead-serve (SPEC §8) through libevhtp's public interface: headers, CORS,
 * {"error":...} bodies, 405 with Allow, and the reply itself. Two of libevhtp's quirks are
 * handled here: HEAD replies would carry a body (for HEAD we set Content-Length and add none),
 * a reply that must close its connection clears the keep-alive flag through srv_conn.c, and
 * every reply gets a Content-Length, "0" for a 204 or a 304, which RFC 9110 §8.6 forbids
 * there (a 304's may only be the 200's length): those two are serialized here.
 * /search sends its 200s and 304s itself (srv_search.c).
 */
#include "srv_int.h"

#include <event2/buffer.h>
#include <evhtp/evhtp.h>
#include <string.h>

void srv__reply_header(evhtp_request_t *req, const char *k, const char *v, int copy_v) {
  evhtp_headers_add_header(req->headers_out, evhtp_header_new(k, v, 0, (char)copy_v));
}

void srv__reply_cors(srv_t *s, evhtp_request_t *req) {
  if (s->cors_origin) srv__reply_header(req, "Access-Control-Allow-Origin", s->cors_origin, 0);
}

static int put_header(evhtp_header_t *h, void *arg) {
  ta_buf_t *b = arg;
  int rc = ta_buf_put(b, h->key, h->klen);
  if (!rc) rc = ta_buf_put(b, ": ", 2);
  if (!rc) rc = ta_buf_put(b, h->val, h->vlen);
  if (!rc) rc = ta_buf_put(b, "\r\n", 2);
  return rc;
}

int srv__reply_bodiless(srv_reply_t *r, int status) {
  evhtp_request_t *req = r->req;
  const char *conn_hdr = srv__conn_header(req);
  if (conn_hdr == NULL || (status != 204 && status != 304)) return -1;
  ta_buf_t *b = &r->w->wire;
  b->len = 0;
  const char *line = status == 204 ? " 204 No Content\r\n" : " 304 Not Modified\r\n";
  int rc = ta_buf_put(b, req->proto == EVHTP_PROTO_11 ? "HTTP/1.1" : "HTTP/1.0", 8);
  if (!rc) rc = ta_buf_put(b, line, strlen(line));
  if (!rc) rc = evhtp_headers_for_each(req->headers_out, put_header, b);
  if (!rc) rc = ta_buf_put(b, conn_hdr, strlen(conn_hdr));
  if (!rc) rc = ta_buf_put(b, "\r\n", 2);
  return rc ? rc : srv__conn_queue_reply(req, status, b->p, b->len);
}

void srv__reply_send(srv_reply_t *r, int status, const char *ctype, const void *body, size_t n) {
  evhtp_request_t *req = r->req;
  if (r->w->draining) srv__conn_close_after_reply(req);
  if (ctype) srv__reply_header(req, "Content-Type", ctype, 0);
  r->status = status;
  r->body_len = n;
  if ((status == 204 || status == 304) && srv__reply_bodiless(r, status) == 0) return;
  if (req->method == htp_method_HEAD || status == 304 || status == 204) {
    if (status != 304 && status != 204) {
      char len[TA_U64_CAP];
      ta_fmt_u64(n, len);
      srv__reply_header(req, "Content-Length", len, 1);
    }
  } else if (n) {
    evbuffer_add(req->buffer_out, body, n);
  }
  evhtp_send_reply(req, (evhtp_res)status);
}

void srv__reply_error(srv_reply_t *r, int status, const char *msg) {
  srv_t *s = r->w->srv;
  ta_buf_t *b = &r->w->out;
  b->len = 0;
  int rc = ta_buf_put(b, "{\"error\":", 9);
  if (!rc) rc = srv__json_string(b, msg, strlen(msg));
  if (!rc) rc = ta_buf_put(b, "}", 1);
  srv__reply_header(r->req, "Cache-Control", "no-store", 0);
  srv__reply_cors(s, r->req);
  if (rc) b->len = 0;
  srv__reply_send(r, status, "application/json; charset=utf-8", b->p, b->len);
}

void srv__reply_405(srv_reply_t *r, const char *allow) {
  srv__reply_header(r->req, "Allow", allow, 0);
  srv__reply_error(r, 405, "method not allowed");
}

const char *srv__query_raw(evhtp_request_t *req) {
  return req->uri && req->uri->query_raw ? (const char *)req->uri->query_raw : "";
}
