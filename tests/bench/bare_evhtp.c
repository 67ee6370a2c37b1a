/*
 * bare_evhtp: the reference of tests/bench/bench-serve. A libevhtp 1.2.18 server that answers
 * every request with one constant JSON body, built the way typeahead-serve is (N threads, each
 * with its own event_base and SO_REUSEPORT socket on one port, TCP_NODELAY), so the ratio
 * typeahead-serve / bare_evhtp measures what our routing, lookup and rendering cost.
 * Usage: bare_evhtp PORT [THREADS] [BODY]   (127.0.0.1 only; runs until killed)
 */
#include <event2/event.h>
#include <evhtp/evhtp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *body =
    "{\"q\":\"new\",\"suggestions\":[{\"text\":\"new york\",\"score\":100},"
    "{\"text\":\"news\",\"score\":90}]}";
static size_t body_len;

static void answer(evhtp_request_t *req, void *arg) {
  (void)arg;
  evhtp_headers_add_header(req->headers_out,
                           evhtp_header_new("Content-Type", "application/json", 0, 0));
  evbuffer_add(req->buffer_out, body, body_len);
  evhtp_send_reply(req, EVHTP_RES_OK);
}

static void *serve(void *arg) {
  int fd = *(int *)arg;
  struct event_base *base = event_base_new();
  evhtp_t *htp = evhtp_new(base, NULL);
  evhtp_set_gencb(htp, answer, NULL);
  if (evhtp_accept_socket(htp, fd, 0) != 0) {
    fprintf(stderr, "bare_evhtp: accept_socket failed\n");
    exit(1);
  }
  event_base_dispatch(base);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bare_evhtp PORT [THREADS] [BODY]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (argc > 3) body = argv[3];
  body_len = strlen(body);
  if (threads < 1 || threads > 64) return 2;
  signal(SIGPIPE, SIG_IGN);
  static int fds[64];
  pthread_t th[64];
  for (int i = 0; i < threads; i++) {
    int on = 1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 || listen(fds[i], 1024) != 0) {
      perror("bare_evhtp: bind/listen");
      return 1;
    }
  }
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, serve, &fds[i]);
  fprintf(stderr, "bare_evhtp: listening on http://127.0.0.1:%d/ (%d threads)\n", port, threads);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  return 0;
}
