/*
 * Placing connections (docs/server.md, "Placing connections"): which worker gets a new
 * connection, decided in the kernel when its SYN arrives.
 *
 * A program on the SO_REUSEPORT group (classic BPF, SO_ATTACH_REUSEPORT_CBPF) sends each new
 * connection to the worker whose index is the CPU its SYN was handled on, modulo the workers,
 * instead of the kernel's hash of the addresses. A client thread's connections then share one
 * worker, and that worker and the thread wake each other on one CPU. With the hash every
 * worker served every client thread, and the scheduler moved it between CPUs about once per
 * 100 requests: under wrk -t2 -c64 on two shared CPUs, p99 was 3.6 ms (median of 3 rounds); it
 * is under 1 ms in the rounds where wrk's threads connected from different CPUs (docs/server.md,
 * BENCHMARKS.md). Over a NIC the SYN's CPU is the one its receive queue is steered to, so a
 * connection's packets and its worker stay on one CPU.
 *
 * Connections from one CPU all go to one worker, which would leave the others idle (a proxy on
 * one CPU, or client threads that all connected from the same CPU). So a balance guard watches
 * the workers' connection counts. Once the most loaded worker has held more than
 * max(2, total/8) connections above the least loaded for SRV_PLACE_PATIENCE_NS (a burst of
 * connects from several CPUs evens out before that), new connections all go to the least
 * loaded (a one-instruction program), and the most loaded answers requests with
 * "Connection: close", so that the client's next connection goes there too: first only
 * requests that came in on another CPU than its own (srv__place_unload), then any. Both stop
 * as soon as the counts are back within the margin. With more workers than CPUs, or if the
 * kernel refuses the program, connections are placed by the kernel's hash, which spreads them,
 * and there is no guard. The program returns an index in the SO_REUSEPORT group, which holds
 * our workers' sockets in listen() order: another process listening on the same port (same
 * user, SO_REUSEPORT) would shift them, so the port must not be shared.
 */
#include "srv_int.h"

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>

#define SRV_PLACE_NORMAL (-1) /* srv_t.place: by CPU */
#define SRV_PLACE_PATIENCE_NS 1000000000ull

/* Installs placement place (SRV_PLACE_NORMAL: by CPU, or a worker index) on the group of
 * socket fd. */
static int place_attach(srv_t *s, int fd, int place) {
  struct sock_filter by_cpu[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, s->threads},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  struct sock_filter to_worker[] = {{BPF_RET | BPF_K, 0, 0, (uint32_t)place}};
  struct sock_fprog prog;
  memset(&prog, 0, sizeof prog); /* the padding after len goes to the kernel too */
  prog.len = 3;
  prog.filter = by_cpu;
  if (place >= 0) {
    prog.len = 1;
    prog.filter = to_worker;
  }
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

/* 1 if the workers' connection counts are out of balance; then *most is the most loaded worker
 * and *least the least loaded. The count of worker self (NULL: none) leaves out the connections
 * the guard has told to go. */
static int place_imbalanced(const srv_t *s, const srv_worker_t *self, unsigned *most,
                            unsigned *least) {
  uint64_t total = 0, lo = UINT64_MAX, hi = 0;
  for (unsigned i = 0; i < s->threads; i++) {
    uint64_t n = atomic_load_explicit(&s->wmetrics[i].connections, memory_order_relaxed);
    if (self && i == self->id) n -= self->n_leaving;
    total += n;
    if (n < lo) lo = n, *least = i;
    if (n > hi) hi = n, *most = i;
  }
  uint64_t margin = total / 8 > 2 ? total / 8 : 2;
  return hi - lo > margin;
}

/* Sets the placement to want, if it is not that already (through w's own socket: it is in the
 * group while w is not draining, and only a worker that is not draining calls this). */
static void place_set(srv_worker_t *w, int want) {
  srv_t *s = w->srv;
  if (want == atomic_load(&s->place)) return;
  pthread_mutex_lock(&s->place_mu);
  if (want != atomic_load(&s->place) && place_attach(s, w->listen_fd, want) == 0)
    atomic_store(&s->place, want);
  pthread_mutex_unlock(&s->place_mu);
}

/* Starts or stops the clock of an imbalance, and turns the guard off once the counts are back
 * within the margin. */
void srv__place_update(srv_worker_t *w) {
  srv_t *s = w->srv;
  if (!s->place_by_cpu || w->draining) return;
  unsigned most = 0, least = 0;
  if (place_imbalanced(s, NULL, &most, &least)) {
    uint64_t none = 0;
    atomic_compare_exchange_strong(&s->unbalanced_since, &none, ta_mono_ns());
    return;
  }
  atomic_store(&s->unbalanced_since, 0);
  place_set(w, SRV_PLACE_NORMAL);
}

/* 1 if the guard is on and w is the worker it unloads. One relaxed load while balanced. The
 * guard first closes the connections whose packets come in on a CPU that is not w's
 * (SO_INCOMING_CPU: on loopback, the CPU the client thread sent from), so that a client thread
 * that has moved to another CPU takes its connections to the worker of that CPU; after twice
 * its patience, any connection. */
int srv__place_unload(srv_worker_t *w, int fd, uint64_t now) {
  srv_t *s = w->srv;
  uint64_t since = atomic_load_explicit(&s->unbalanced_since, memory_order_relaxed);
  /* since can be later than now: another worker set it after this request began. */
  if (since == 0 || now < since || now - since < SRV_PLACE_PATIENCE_NS || w->draining) return 0;
  unsigned most = 0, least = 0;
  if (!place_imbalanced(s, NULL, &most, &least)) return 0;
  place_set(w, (int)least);
  /* Connections told to go in this loop pass are still counted: tell no more than the
   * imbalance needs. */
  if (!place_imbalanced(s, w, &most, &least) || most != w->id) return 0;
  if (now - since >= 2 * SRV_PLACE_PATIENCE_NS) return 1;
  int cpu = -1;
  socklen_t len = sizeof cpu;
  return getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) == 0 && cpu >= 0 &&
         (unsigned)cpu % s->threads != w->id;
}

void srv__place_start(srv_t *s) {
  atomic_init(&s->place, SRV_PLACE_NORMAL);
  atomic_init(&s->unbalanced_since, 0);
  if (s->threads < 2) return;
  cpu_set_t cpus;
  s->place_by_cpu =
      sched_getaffinity(0, sizeof cpus, &cpus) == 0 && (unsigned)CPU_COUNT(&cpus) >= s->threads;
  if (s->place_by_cpu && place_attach(s, s->listen_fds[0], SRV_PLACE_NORMAL) != 0) {
    srv__log("SO_ATTACH_REUSEPORT_CBPF: %s; connections are placed by the kernel's hash",
             strerror(errno));
    s->place_by_cpu = 0;
  }
}
