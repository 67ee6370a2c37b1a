/*
 * The peers of a sharded node (server/srv_peer.c): the peers file, every line checked; and the
 * client against real sockets on one event loop: an answering replica (libevent's own HTTP
 * server), a refusing one (a closed port), a silent one (accepts, never answers), a failing one
 * (503). A request gets the answer whichever replicas fail before it, within the timeouts; the
 * forwarded-marker and Accept headers reach the peer, and a Host its gate takes; a cancelled
 * call is never called back; a worker shut down with calls in flight frees them (ASan checks
 * the leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "srv_int.h"

/* ---- The peers file ---------------------------------------------------------------------- */

static void test_peers_file(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int code;
    unsigned line;
  } bad[] = {
      {"1 127.0.0.1:80\n", TA_EPARSE, 1},
      {"\t127.0.0.1:80\n", TA_EPARSE, 1},
      {"# c\n3\t127.0.0.1:80\n", TA_ERANGE, 2},
      {"1\t127.0.0.1:80\n1\t127.0.0.1:81\n", TA_EPARSE, 2},
      {"1\t127.0.0.1\n", TA_EPARSE, 1},
      {"1\t127.0.0.1:0\n", TA_EPARSE, 1},
      {"1\t127.0.0.1:65536\n", TA_EPARSE, 1},
      {"1\t127.0.0.1:80,\n", TA_EPARSE, 1},
      {"1\t[::1:80\n", TA_EPARSE, 1},
      {"1\tno-such-host.invalid:80\n", TA_ENOENT, 1},
      {"1\t127.0.0.1:80\n", TA_ENOENT, 0}, /* shard 2 has no replica */
      {"", TA_ENOENT, 0},
      /* cut short while written: 127.0.0.1:8 is some other port */
      {"1\t127.0.0.1:80\n2\t127.0.0.1:8", TA_ETRUNC, 2},
      {"1\t127.0.0.1:80\n2\t127.0.0.1:81\n# a comm", TA_ETRUNC, 3},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    srv_peers_t *p = NULL;
    ta_diag_t d;
    int rc = srv__peers_parse(bad[i].text, strlen(bad[i].text), "peers", 3, 0, &p, &d);
    if (rc != bad[i].code || d.line != bad[i].line)
      fail_msg("case %zu: %s at line %llu, want %s at line %u", i, ta_err_name(rc),
               (unsigned long long)d.line, ta_err_name(bad[i].code), bad[i].line);
    assert_null(p);
  }
  static const char good[] =
      "# shard 0 is this node's\n"
      "1\t127.0.0.1:8081,localhost:8082\r\n"
      "\n"
      "2\t[::1]:8083\n";
  srv_peers_t *p = NULL;
  ta_diag_t d;
  assert_int_equal(srv__peers_parse(good, strlen(good), "peers", 3, 0, &p, &d), 0);
  assert_int_equal(p->n_rep[0], 0);
  assert_int_equal(p->n_rep[1], 2);
  assert_int_equal(p->n_rep[2], 1);
  assert_string_equal(p->rep[1][0].addr, "127.0.0.1");
  assert_int_equal(p->rep[1][1].port, 8082);
  assert_string_equal(p->rep[1][1].name, "localhost:8082");
  assert_string_equal(p->rep[2][0].addr, "::1");
  srv__peers_free(p);
  srv__peers_free(NULL);
}

/* ---- The client --------------------------------------------------------------------------- */

static struct event_base *base;
static srv_t srv;
static srv_worker_t w;
static srv_wmetrics_t wm;

typedef struct {
  int called, status;
  char body[256];
  char etag[64];
} result_t;

static void on_answer(void *arg, int status, const char *body, size_t len, const char *etag,
                      const char *ctype) {
  (void)ctype;
  result_t *r = arg;
  r->called++;
  r->status = status;
  snprintf(r->body, sizeof r->body, "%.*s", (int)len, body);
  snprintf(r->etag, sizeof r->etag, "%s", etag ? etag : "");
  event_base_loopbreak(base);
}

/* The answering replica: 200 with what it saw of the headers; /fail: 503. */
static void serve(struct evhttp_request *req, void *arg) {
  (void)arg;
  struct evkeyvalq *in = evhttp_request_get_input_headers(req);
  struct evbuffer *out = evbuffer_new();
  const char *fwd = evhttp_find_header(in, SRV_FORWARDED_HEADER);
  const char *acc = evhttp_find_header(in, "Accept");
  if (strncmp(evhttp_request_get_uri(req), "/host", 5) == 0) { /* the Host it got */
    const char *host = evhttp_find_header(in, "Host");
    evbuffer_add_printf(out, "%s", host ? host : "(none)");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    return;
  }
  if (strncmp(evhttp_request_get_uri(req), "/fail", 5) == 0) {
    evhttp_send_reply(req, 503, "Service Unavailable", NULL);
    evbuffer_free(out);
    return;
  }
  evbuffer_add_printf(out, "%s fwd=%s accept=%s", evhttp_request_get_uri(req), fwd ? fwd : "-",
                      acc ? acc : "-");
  evhttp_add_header(evhttp_request_get_output_headers(req), "ETag", "\"v1\"");
  evhttp_send_reply(req, 200, "OK", out);
  evbuffer_free(out);
}

/* A socket that listens but never accepts: a frozen peer (the kernel completes the handshake). */
static int silent_port(int *fd) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) || listen(*fd, 16) ||
      getsockname(*fd, (struct sockaddr *)&a, &al))
    return -1;
  return ntohs(a.sin_port);
}

/* A port nothing listens on. */
static int closed_port(void) {
  int fd;
  int port = silent_port(&fd);
  close(fd);
  return port;
}

static struct evhttp *http;
static int good_port, good_port6, silent_fd, silent, closed;

static int setup(void **state) {
  (void)state;
  base = event_base_new();
  http = evhttp_new(base);
  evhttp_set_gencb(http, serve, NULL);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
  if (bs == NULL) return -1;
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a, &al);
  good_port = ntohs(a.sin_port);
  /* On ::1 too, where the machine has IPv6 (else the IPv6 cases are skipped). */
  bs = evhttp_bind_socket_with_handle(http, "::1", 0);
  if (bs != NULL) {
    struct sockaddr_in6 a6;
    socklen_t al6 = sizeof a6;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a6, &al6);
    good_port6 = ntohs(a6.sin6_port);
  }
  silent = silent_port(&silent_fd);
  closed = closed_port();
  return good_port > 0 && silent > 0 && closed > 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  evhttp_free(http);
  close(silent_fd);
  event_base_free(base);
  return 0;
}

/* A node of shard 0 whose shard 1 has the replicas listed (in that order). */
static void node(const char *replicas) {
  char text[512];
  snprintf(text, sizeof text, "1\t%s\n", replicas);
  memset(&srv, 0, sizeof srv);
  memset(&w, 0, sizeof w);
  memset(&wm, 0, sizeof wm);
  ta_diag_t d;
  assert_int_equal(srv__peers_parse(text, strlen(text), "peers", 2, 0, &srv.peers, &d), 0);
  srv.peers->timeout_ms = 300;
  w.srv = &srv;
  w.base = base;
  w.m = &wm;
  assert_int_equal(srv__peer_init(&w), 0);
}

static void node_done(void) {
  srv__peer_fini(&w);
  srv__peers_free(srv.peers);
}

static void ask(const char *uri, result_t *r) {
  srv_peer_call_t *c = NULL;
  memset(r, 0, sizeof *r);
  assert_int_equal(srv__peer_get(&w, 1, uri, "application/msgpack", NULL, NULL, on_answer, r, &c),
                   0);
  assert_non_null(c);
  struct timeval limit = {5, 0};
  event_base_loopexit(base, &limit);
  event_base_dispatch(base);
  assert_int_equal(r->called, 1);
}

static void test_answer_through_failing_replicas(void **state) {
  (void)state;
  char reps[256];
  /* Every way to fail first, then the good one: the first attempt goes to a replica picked by
   * round robin, so ask once per starting point. */
  snprintf(reps, sizeof reps, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", closed, silent, good_port);
  node(reps);
  for (int i = 0; i < 3; i++) {
    result_t r;
    uint64_t t0 = ta_mono_ns();
    ask("/search?q=b", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "/search?q=b fwd=1 accept=application/msgpack");
    assert_string_equal(r.etag, "\"v1\"");
    assert_true(ta_mono_ns() - t0 < 2000000000u); /* one silent replica costs one timeout */
  }
  assert_int_equal(atomic_load(&wm.forwarded), 3);
  assert_true(atomic_load(&wm.peer_failures) >= 1);
  node_done();
}

static void test_every_replica_fails(void **state) {
  (void)state;
  char reps[256];
  snprintf(reps, sizeof reps, "127.0.0.1:%d,127.0.0.1:%d", closed, silent);
  node(reps);
  result_t r;
  ask("/search?q=b", &r);
  assert_int_equal(r.status, 0);
  assert_int_equal(atomic_load(&wm.peer_failures), 2);
  node_done();
  /* A 5xx is a failure too, and the next replica answers. */
  snprintf(reps, sizeof reps, "127.0.0.1:%d", good_port);
  node(reps);
  ask("/fail", &r);
  assert_int_equal(r.status, 503); /* the only replica: its answer stands */
  node_done();
}

/* The Host a node sends its peers passes their gate (srv__gate_scan): the replica's name as
 * written where it is a valid Host, else its address and port. A peers file may name an IPv6
 * replica without brackets (::1:8081, which the file's parser takes): that name as Host was
 * answered 400 "malformed Host header" by the peer, for every forwarded request. */
static void test_host_passes_the_peers_gate(void **state) {
  (void)state;
  char names[4][64], want[4][64];
  size_t n = 0;
  snprintf(names[n], sizeof names[n], "127.0.0.1:%d", good_port);
  strcpy(want[n], names[n]), n++;
  snprintf(names[n], sizeof names[n], "localhost:%d", good_port);
  strcpy(want[n], names[n]), n++;
  if (good_port6 > 0) {
    snprintf(names[n], sizeof names[n], "[::1]:%d", good_port6);
    strcpy(want[n], names[n]), n++;
    snprintf(names[n], sizeof names[n], "::1:%d", good_port6);
    snprintf(want[n], sizeof want[n], "[::1]:%d", good_port6), n++;
  }
  for (size_t i = 0; i < n; i++) {
    node(names[i]);
    result_t r;
    ask("/host", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, want[i]);
    char head[256];
    int len = snprintf(head, sizeof head, "GET /search?q=a HTTP/1.1\r\nHost: %s\r\n\r\n", r.body);
    srv_gate_t g;
    if (srv__gate_scan(head, (size_t)len, &g) != 1)
      fail_msg("replica %s: Host %s refused: %s", names[i], r.body, g.error ? g.error : "?");
    node_done();
  }
}

static void test_cancel_and_shutdown(void **state) {
  (void)state;
  char reps[256];
  snprintf(reps, sizeof reps, "127.0.0.1:%d", silent);
  node(reps);
  result_t r = {0};
  srv_peer_call_t *c = NULL;
  assert_int_equal(srv__peer_get(&w, 1, "/search?q=x", NULL, NULL, NULL, on_answer, &r, &c), 0);
  srv__peer_cancel(c);
  struct timeval limit = {1, 0}; /* past the 300 ms timeout: the attempt ends */
  event_base_loopexit(base, &limit);
  event_base_dispatch(base);
  assert_int_equal(r.called, 0);
  /* In flight at shutdown: freed, not called. */
  assert_int_equal(srv__peer_get(&w, 1, "/search?q=y", NULL, NULL, NULL, on_answer, &r, &c), 0);
  node_done();
  assert_int_equal(r.called, 0);
  /* A shard with no replica (this node's own) cannot be asked. */
  snprintf(reps, sizeof reps, "127.0.0.1:%d", good_port);
  node(reps);
  assert_int_equal(srv__peer_get(&w, 0, "/search?q=y", NULL, NULL, NULL, on_answer, &r, &c),
                   TA_EINVAL);
  node_done();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_peers_file),
      cmocka_unit_test(test_answer_through_failing_replicas),
      cmocka_unit_test(test_every_replica_fails),
      cmocka_unit_test(test_host_passes_the_peers_gate),
      cmocka_unit_test(test_cancel_and_shutdown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
