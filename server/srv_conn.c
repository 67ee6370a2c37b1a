/*
 * The connection shim of typeahead-serve (SPEC §8): the one file that reaches into libevhtp's
 * and libevent's internals (struct evhtp_connection and evhtp_request fields, a bufferevent's
 * own read and write events). It was written against libevhtp 1.2.18 and libevent 2.1, and
 * CMake accepts no other libevhtp (the top-level CMakeLists.txt): another version may lay its
 * structures out or drive its callbacks differently. The workarounds for the library's measured
 * quirks (DEVELOPERS.md) that need those internals live here, each covered by
 * tests/server/test_http.py:
 *
 *   - Pipelined requests stall: the parser stops after one message and nothing makes it look at
 *     the bytes left in the input buffer until more arrive. Each connection's bufferevent
 *     callbacks are wrapped (conn_read/conn_write): the bytes after the current request's
 *     header block are held aside while the parser runs, put back afterwards, and once the
 *     reply is flushed a deferred read callback makes the parser go on with them.
 *   - A request line (or header) of 8 KB or more is dropped unanswered, after an uninitialised
 *     read: the same wrapper gates every request before the parser sees a byte of it. It waits
 *     for the whole header block, answers 414 (request line over SRV_MAX_LINE) or 431 (a header
 *     line over SRV_MAX_LINE or the block over SRV_MAX_HEAD) itself and closes cleanly; 400 for
 *     a request line the parser would drop unanswered.
 *   - evhtp_request_set_keepalive(req, 0) does nothing (it only ever sets the flag): a reply
 *     that must close its connection clears the request's keep-alive flag itself
 *     (srv__conn_close_after_reply).
 *
 * And two shortcuts on the request path: the socket is read with one recv per wake-up
 * (conn_socket_read), and a reply is written as soon as the parser returns (conn_write_now).
 */
#include "srv_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h> /* ev_read, ev_write: conn_socket_read, conn_write_now */
#include <event2/event.h>
#include <evhtp/evhtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SRV_LINGER_SECONDS 2 /* after a gate reply: wait this long for the client's EOF */
#define SRV_READ_CHUNK 16384 /* bytes read from a socket at once (libevent's default) */

struct srv_conn {
  srv_worker_t *w;
  evhtp_connection_t *conn;
  struct bufferevent *bev;
  bufferevent_data_cb orig_read, orig_write;
  bufferevent_event_cb orig_event;
  struct evbuffer *held; /* pipelined bytes kept from the parser while it runs */
  int at_start;          /* the next input byte starts a request */
  int closing;           /* 1: gate reply queued; 2: write side shut, awaiting EOF */
  int in_cb, dead;
  int leaving; /* the balance guard closes it after this reply */
  srv_conn_t *prev, *next;
};

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static void conn_write_now(srv_conn_t *c);
static void conn_socket_read(evutil_socket_t fd, short what, void *arg);

/* ---- Open connections --------------------------------------------------------------------- */

/* Worker w's connection count changed: publishes it (/metrics, the balance guard) and lets the
 * guard look. */
static void conns_changed(srv_worker_t *w) {
  atomic_store_explicit(&w->m->connections, w->n_conns, memory_order_relaxed);
  srv__place_update(w);
}

static void conn_unlink(srv_conn_t *c) {
  srv_worker_t *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  w->n_conns--;
  if (c->leaving) w->n_leaving--;
  conns_changed(w);
}

static void conn_destroy(srv_conn_t *c) {
  if (c->held) evbuffer_free(c->held);
  free(c);
}

static evhtp_res conn_fini(evhtp_connection_t *conn, void *arg) {
  (void)conn;
  srv_conn_t *c = arg;
  srv_worker_t *w = c->w;
  conn_unlink(c);
  c->conn = NULL;
  if (c->in_cb)
    c->dead = 1;
  else
    conn_destroy(c);
  if (w->draining && w->n_conns == 0) event_base_loopexit(w->base, NULL);
  return EVHTP_RES_OK;
}

static srv_conn_t *conn_of(evhtp_connection_t *conn) {
  bufferevent_data_cb rcb = NULL;
  void *arg = NULL;
  if (conn == NULL || conn->bev == NULL) return NULL;
  bufferevent_getcb(conn->bev, &rcb, NULL, NULL, &arg);
  return rcb == conn_read ? arg : NULL;
}

static evhtp_res conn_accepted(evhtp_connection_t *conn, void *arg) {
  srv_worker_t *w = arg;
  if (w->draining) return EVHTP_RES_ERROR;
  srv_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return EVHTP_RES_ERROR;
  c->held = evbuffer_new();
  if (c->held == NULL) {
    free(c);
    return EVHTP_RES_ERROR;
  }
  c->w = w;
  c->conn = conn;
  c->bev = conn->bev;
  c->at_start = 1;
  void *orig_arg = NULL;
  bufferevent_getcb(c->bev, &c->orig_read, &c->orig_write, &c->orig_event, &orig_arg);
  if (orig_arg != conn ||
      evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
                                (evhtp_hook)(void (*)(void))conn_fini, c) != 0) {
    conn_destroy(c);
    return EVHTP_RES_ERROR;
  }
  bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
  /* The socket is read by conn_socket_read from now on: the same event (fd, flags, timeout),
   * another callback. libevhtp has enabled reading already; re-enabling adds it again. (A
   * plain socket bufferevent: the server has no TLS, which would need libevent's own read.) */
  evutil_socket_t fd = bufferevent_getfd(c->bev);
  bufferevent_disable(c->bev, EV_READ);
  event_assign(&c->bev->ev_read, w->base, fd, EV_READ | EV_PERSIST | EV_FINALIZE, conn_socket_read,
               c->bev);
  bufferevent_enable(c->bev, EV_READ);
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  w->n_conns++;
  conns_changed(w);
  return EVHTP_RES_OK;
}

void srv__conn_attach(srv_worker_t *w) {
  evhtp_set_post_accept_cb(w->htp, conn_accepted, w);
}

void srv__conn_drain(srv_worker_t *w) {
  srv_conn_t *c = w->conns;
  while (c) {
    srv_conn_t *next = c->next;
    if (c->at_start && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
      evhtp_connection_free(c->conn);
    c = next;
  }
}

void srv__conn_close_all(srv_worker_t *w) {
  while (w->conns) evhtp_connection_free(w->conns->conn);
}

/* ---- Reading: the socket, the gate and the pipelining fix --------------------------------- */

/* What libevent's bufferevent_readcb does for a socket, less its ioctl(FIONREAD): libevent
 * 2.1's evbuffer_read asks the kernel how much is readable before every read, one system call
 * in three per request (a request fits in one read). Here: one recv, added to the input buffer
 * (frozen at its end except while its owner reads), then the callbacks as
 * libevent would run them: the read callback (conn_read), or the event callback on EOF, error
 * or the idle timeout, with reading disabled. No watermark or rate limit is set on these
 * bufferevents (libevent would not schedule this event while one holds reading back). */
static void conn_socket_read(evutil_socket_t fd, short what, void *arg) {
  struct bufferevent *bev = arg;
  bufferevent_data_cb read_cb = NULL;
  bufferevent_event_cb event_cb = NULL;
  void *cb_arg = NULL;
  bufferevent_incref(bev); /* as libevent does: a callback may free it */
  bufferevent_getcb(bev, &read_cb, NULL, &event_cb, &cb_arg);
  short why = BEV_EVENT_READING;
  if (what == EV_TIMEOUT) {
    why |= BEV_EVENT_TIMEOUT;
  } else {
    /* Into a buffer of the thread, then copied: reserving SRV_READ_CHUNK in the evbuffer
     * would allocate (and free) a 16 KB chain per request, which costs more (callgrind) than
     * copying the few hundred bytes a request has into a chain of their size. */
    static _Thread_local char chunk[SRV_READ_CHUNK];
    struct evbuffer *in = bufferevent_get_input(bev);
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    int err = errno;
    if (n > 0) {
      evbuffer_unfreeze(in, 0);
      int rc = evbuffer_add(in, chunk, (size_t)n);
      evbuffer_freeze(in, 0);
      if (rc != 0) {
        n = -1;
        err = ENOMEM;
      }
    }
    if (n > 0) {
      if (read_cb) read_cb(bev, cb_arg);
      bufferevent_decref(bev);
      return;
    }
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)) {
      bufferevent_decref(bev);
      return;
    }
    why |= n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;
  }
  bufferevent_disable(bev, EV_READ);
  if (event_cb) event_cb(bev, why, cb_arg);
  bufferevent_decref(bev);
}

/* The header block at the start of in, through srv__gate_scan(). */
static int gate_scan(struct evbuffer *in, size_t *head_len, int *has_body) {
  size_t avail = evbuffer_get_length(in);
  size_t n = avail < SRV_MAX_HEAD + 1 ? avail : SRV_MAX_HEAD + 1;
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (p == NULL) return 0;
  return srv__gate_scan(p, n, head_len, has_body);
}

static void conn_reject(srv_conn_t *c, int status) {
  static const char body414[] = "{\"error\":\"request line longer than 8000 bytes\"}";
  static const char body431[] = "{\"error\":\"request header fields too large\"}";
  static const char body400[] = "{\"error\":\"malformed request line\"}";
  const char *body = status == 414 ? body414 : status == 431 ? body431 : body400;
  const char *reason = status == 414   ? "URI Too Long"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Bad Request";
  size_t body_len = strlen(body);
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                   status, reason, body_len);
  c->closing = 1;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  evbuffer_drain(in, evbuffer_get_length(in));
  bufferevent_write(c->bev, head, (size_t)n);
  bufferevent_write(c->bev, body, body_len);
  bufferevent_enable(c->bev, EV_WRITE);
  srv_wmetrics_t *m = c->w->m;
  srv__metrics_bump(&m->rejected_by_gate, 1);
  srv__metrics_count(m, SRV_EP_OTHER, status, 0);
}

static void conn_read(struct bufferevent *bev, void *arg) {
  srv_conn_t *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  if (c->closing) {
    evbuffer_drain(in, evbuffer_get_length(in)); /* read and discard until the client closes */
    return;
  }
  if (evbuffer_get_length(in) == 0) return;
  if (c->at_start) {
    size_t head_len = 0;
    int has_body = 0;
    int st = gate_scan(in, &head_len, &has_body);
    if (st == 0) return; /* wait for the rest of the header block */
    if (st != 1) {
      conn_reject(c, st);
      return;
    }
    c->at_start = 0;
    if (!has_body && evbuffer_get_length(in) > head_len) {
      /* Keep the following requests from the parser; they go back after this one. (The input
       * buffer of a bufferevent only takes data at its front, hence the detour.) */
      evbuffer_add_buffer(c->held, in);
      evbuffer_remove_buffer(c->held, c->w->scratch, head_len);
      evbuffer_prepend_buffer(in, c->w->scratch);
    }
  }
  c->in_cb++;
  c->orig_read(bev, c->conn);
  c->in_cb--;
  if (c->dead) {
    conn_destroy(c);
    return;
  }
  if (evbuffer_get_length(c->held)) evbuffer_prepend_buffer(in, c->held);
  conn_write_now(c);
}

/* ---- Requests ----------------------------------------------------------------------------- */

void srv__conn_close_after_reply(evhtp_request_t *req) {
  req->flags &= ~EVHTP_REQ_FLAG_KEEPALIVE;
}

void srv__conn_request_begin(srv_worker_t *w, evhtp_request_t *req, uint64_t now) {
  srv_conn_t *c = conn_of(req->conn);
  if (c == NULL) return;
  c->at_start = 1; /* the parser has the whole request: next byte starts another */
  if (!c->leaving && (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) &&
      srv__place_unload(w, bufferevent_getfd(c->bev), now)) {
    srv__conn_close_after_reply(req);
    c->leaving = 1;
    w->n_leaving++;
    srv__metrics_bump(&w->m->rebalanced, 1);
  }
}

const char *srv__conn_header(const evhtp_request_t *req) {
  int keepalive = (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) != 0;
  if (req->proto == EVHTP_PROTO_11) return keepalive ? "" : "Connection: close\r\n";
  if (req->proto == EVHTP_PROTO_10) return keepalive ? "Connection: keep-alive\r\n" : "";
  return NULL;
}

/* libevhtp still owns the request: marked finished as evhtp_send_reply marks it, libevhtp's
 * write callback ends it (keep-alive or close) once the bytes are out. */
int srv__conn_queue_reply(evhtp_request_t *req, const void *bytes, size_t n) {
  if (bufferevent_write(req->conn->bev, bytes, n) != 0) return -1;
  req->status = EVHTP_RES_OK;
  req->flags |= EVHTP_REQ_FLAG_FINISHED;
  return 0;
}

/* ---- Writing: at once, and the lingering close -------------------------------------------- */

/* The reply is out: half-close, then drain the client's leftovers until its EOF (closing with
 * unread data would reset the connection and could destroy the reply before it is read). */
static void conn_linger(srv_conn_t *c) {
  c->closing = 2;
  shutdown(bufferevent_getfd(c->bev), SHUT_WR);
  struct timeval tv = {SRV_LINGER_SECONDS, 0};
  bufferevent_set_timeouts(c->bev, &tv, NULL);
  bufferevent_enable(c->bev, EV_READ);
}

static void conn_write(struct bufferevent *bev, void *arg) {
  srv_conn_t *c = arg;
  if (c->closing) {
    if (c->closing == 1 && evbuffer_get_length(bufferevent_get_output(bev)) == 0) conn_linger(c);
    return;
  }
  if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 && c->at_start)
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  c->orig_write(bev, c->conn); /* libevhtp finishes the request there; c may be freed */
}

/* Called once the parser has returned: a reply queued by the handler goes to the socket now
 * instead of one loop iteration later. libevent scheduled its write event when the reply was
 * queued; with the base's changelist (srv_life.c, worker_init) that add is only recorded, and
 * the delete below cancels it before the next epoll_wait, so the common case costs no
 * epoll_ctl at all. The write callback then runs as libevent would have run it (conn_write:
 * libevhtp finishes the request, a pipelined request goes on). A partial write (or EAGAIN, or
 * an error) leaves the rest to the normal path: the write event stays scheduled. */
static void conn_write_now(srv_conn_t *c) {
  struct bufferevent *bev = c->bev;
  struct evbuffer *out = bufferevent_get_output(bev);
  size_t n = evbuffer_get_length(out);
  if (n == 0 || c->closing || !(bufferevent_get_enabled(bev) & EV_WRITE)) return;
  /* The output buffer of a socket bufferevent is frozen at its front except while libevent
   * writes it; do as bufferevent_writecb does. */
  evbuffer_unfreeze(out, 1);
  int sent = evbuffer_write(out, bufferevent_getfd(bev));
  evbuffer_freeze(out, 1);
  srv_wmetrics_t *m = c->w->m;
  int complete = sent > 0 && (size_t)sent == n;
  srv__metrics_bump(&m->write_now[complete ? 0 : 1], 1);
  if (!complete) return;
  event_del(&bev->ev_write);
  c->in_cb++;
  conn_write(bev, c);
  c->in_cb--;
  if (c->dead) conn_destroy(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg) {
  srv_conn_t *c = arg;
  if (c->closing) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
      evhtp_connection_free(c->conn);
    return;
  }
  c->orig_event(bev, what, c->conn);
}
