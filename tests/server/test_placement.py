#!/usr/bin/python3
"""Where typeahead-serve's connections go (srv_place.c), over real HTTP.

With two workers on a machine with two CPUs or more, a connection goes to the worker of the
CPU its SYN came in on: on loopback, the CPU of the thread that called connect(), which the
test pins. The balance guard: once one worker has held more than max(2, total/8) connections
above the other for a second, new connections go to the other, and its replies say
"Connection: close" until the counts are back within that margin, each one counted in
typeahead_connections_rebalanced_total; for one more second only to requests sent from a CPU
other than the worker's, then to any. So connections from one CPU end up spread too. Clients
that reconnect when told to lose no request.
Counts are read from typeahead_connections{worker} in /metrics.

usage: test_placement.py --serve PATH --build PATH [--query PATH] [unittest arguments]
"""
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import ServerCase, build_trie, make_freq, server_args  # noqa: E402

ARGS = None  # the command line (parsed in __main__)
WORK = TRIE = None
CPUS = sorted(os.sched_getaffinity(0))
TWO_CPUS = len(CPUS) >= 2
REQ = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
SETTLE = 0.2  # time for the server to see a client's close before the next step
PATIENCE = 1.0  # how long an imbalance lasts before the guard acts (SRV_PLACE_PATIENCE_NS)
# (then for PATIENCE more it closes only connections whose client sends from another CPU)
ONE_CPU = ("one CPU available: placement by CPU and the guard do not apply here; the kernel's "
           "hash places connections (test_4)")


def setUpModule():
    global WORK, TRIE
    WORK = tempfile.mkdtemp(prefix="ta-placement-test-")
    freq = os.path.join(WORK, "q.tsv")
    make_freq(freq)
    TRIE = os.path.join(WORK, "current.trie")
    build_trie(ARGS.build, freq, TRIE)


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def margin(total):
    return max(2, total // 8)


def read_reply(s):
    """One reply to REQ: (status line, closes: the reply said Connection: close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed before a reply")
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed within a reply")
        body += d
    return head.split(b"\r\n")[0], b"\r\nConnection: close" in head


def on_cpu(cpu, fn):
    """fn() run in a thread pinned to cpu (its connect() makes the SYN on that CPU)."""
    out = []

    def run():
        os.sched_setaffinity(0, {cpu})
        out.append(fn())
    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


def connect_and_ask(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(REQ)
    status, closes = read_reply(s)
    return s, status, closes


def metrics(srv, cpu=CPUS[0]):
    """(connections by worker, rebalanced total), read from a connection made on cpu and
    closed; its own connection is in the counts."""
    text = on_cpu(cpu, lambda: srv.raw(
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", wait=30)).decode()
    by_worker = {int(w): int(n) for w, n in
                 re.findall(r'^typeahead_connections\{worker="(\d+)"\} (\d+)$', text, re.M)}
    rebalanced = int(re.search(r"^typeahead_connections_rebalanced_total (\d+)$", text,
                               re.M).group(1))
    time.sleep(SETTLE)
    return by_worker, rebalanced


class Placement(ServerCase):
    """One server with two workers. The tests run in the order of their numbers: the guard's
    test starts from the connections the one before it left open."""

    on0 = []  # connections made on CPUS[0] by test_2, still open

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE, args=["--threads", "2"])

    def test_1_start_line(self):
        self.assertIn("connections placed by CPU" if TWO_CPUS else "connections placed by hash",
                      self.srv.text(), "the start line says how connections are placed")

    # ---- By CPU: connections made alternately on two CPUs --------------------------------------
    def test_2_by_cpu(self):
        if not TWO_CPUS:
            self.skipTest(ONE_CPU)
        srv = self.srv
        on0, on1 = [], []
        type(self).on0 = on0
        for i in range(8):
            for cpu, held in ((CPUS[0], on0), (CPUS[1], on1)):
                s, status, closes = on_cpu(cpu, lambda: connect_and_ask(srv.port))
                held.append(s)
                self.assertTrue(status == b"HTTP/1.1 200 OK" and not closes,
                                "connection %d from CPU %d answered and kept" % (i, cpu))
        by_worker, rebalanced = metrics(srv)
        # The metrics connection was made on CPUS[0] too.
        self.assertEqual(by_worker, {CPUS[0] % 2: 9, CPUS[1] % 2: 8},
                         "connections by worker: each on the worker of its CPU")
        self.assertEqual(rebalanced, 0, "no connection closed while the counts are balanced")
        for s in on1:
            s.close()
        time.sleep(SETTLE)

    # ---- The guard: the 8 made on CPUS[1] closed; the other worker now holds 8 to 0 -----------
    def test_3_guard(self):
        if not TWO_CPUS:
            self.skipTest(ONE_CPU)
        srv, on0 = self.srv, self.on0

        def ask_from(cpu, s):
            return on_cpu(cpu, lambda: (s.sendall(REQ), read_reply(s))[1])
        for s in on0[:2]:  # before the guard's patience is out: kept
            self.assertEqual(ask_from(CPUS[1], s), (b"HTTP/1.1 200 OK", False),
                             "kept while the imbalance is new")
        time.sleep(PATIENCE + SETTLE)
        # Within the second second: a request sent from the worker's own CPU keeps its
        # connection, one sent from the other CPU closes it.
        self.assertEqual(ask_from(CPUS[0], on0[2]), (b"HTTP/1.1 200 OK", False),
                         "guard on: a connection whose client sends from the worker's CPU is "
                         "kept")
        self.assertEqual(ask_from(CPUS[1], on0[3]), (b"HTTP/1.1 200 OK", True),
                         "guard on: a connection whose client sends from the other CPU is "
                         "closed first")
        self.assertEqual(on0[3].recv(1), b"", "the server closes after Connection: close")
        on0[3].close()
        closes_seen = 1
        time.sleep(PATIENCE + SETTLE)  # then any connection
        want_closes, n0 = 1, 7
        while n0 - 0 > margin(n0):
            n0 -= 1
            want_closes += 1
        for s in on0[:3] + on0[4:]:
            s.sendall(REQ)
            status, closes = read_reply(s)
            self.assertEqual(status, b"HTTP/1.1 200 OK", "request on the loaded worker answered")
            if closes:
                closes_seen += 1
                self.assertEqual(s.recv(1), b"", "the server closes after Connection: close")
                s.close()
                time.sleep(SETTLE)
        self.assertEqual(closes_seen, want_closes,
                         "replies with Connection: close until within the margin")
        # Read from CPUS[1]: that connection goes to the other worker, and leaves the guard off.
        by_worker, rebalanced = metrics(srv, CPUS[1])
        self.assertEqual(by_worker, {CPUS[0] % 2: 8 - want_closes, CPUS[1] % 2: 1},
                         "connections by worker after the guard")
        self.assertEqual(rebalanced, want_closes, "typeahead_connections_rebalanced_total")
        for s in on0:
            s.close()
        time.sleep(SETTLE)

    # ---- One client CPU: the guard spreads its connections (the hash, on one CPU) --------------
    def test_4_one_client_cpu(self):
        srv = self.srv
        _, rebalanced0 = metrics(srv)
        held, closes_seen = [], 0

        def ask(i):
            """A request on held[i]; told to go, reconnect (as a client does) and ask again."""
            nonlocal closes_seen
            while True:
                if held[i] is None:
                    held[i] = on_cpu(CPUS[0], lambda: socket.create_connection(
                        ("127.0.0.1", srv.port), timeout=30))
                held[i].sendall(REQ)
                status, closes = read_reply(held[i])
                self.assertEqual(status, b"HTTP/1.1 200 OK", "request on connection %d answered"
                                 % i)
                if not closes:
                    return
                closes_seen += 1
                held[i].close()
                held[i] = None
                time.sleep(SETTLE)
        for i in range(24):
            held.append(None)
            ask(i)
        time.sleep(2 * PATIENCE + SETTLE)
        for i in range(24):
            ask(i)
        by_worker, rebalanced = metrics(srv)
        total = sum(by_worker.values())
        self.assertEqual(total, 25, "24 connections and the metrics one are open")
        if TWO_CPUS:
            self.assertLessEqual(max(by_worker.values()) - min(by_worker.values()),
                                 margin(total) + 1,
                                 "connections from one CPU spread over the workers: %r"
                                 % by_worker)
        else:
            self.assertGreater(min(by_worker.values()), 0,
                               "the hash gives both workers connections: %r" % by_worker)
        self.assertGreaterEqual(rebalanced - rebalanced0, closes_seen,
                                "every Connection: close the client saw is counted (%d, %d)"
                                % (rebalanced - rebalanced0, closes_seen))
        for s in held:
            s.close()
        time.sleep(SETTLE)

    # ---- Under load from one CPU: every request answered, reconnecting when told -------------
    def test_5_under_load(self):
        srv = self.srv
        failures, answered, told = [], [0], [0]
        lock = threading.Lock()

        def client(n_conns, seconds):
            os.sched_setaffinity(0, {CPUS[0]})
            conns = [None] * n_conns
            end = time.time() + seconds
            while time.time() < end:
                for j in range(n_conns):
                    try:
                        if conns[j] is None:
                            conns[j] = socket.create_connection(("127.0.0.1", srv.port),
                                                                timeout=30)
                        conns[j].sendall(b"GET /search?q=a HTTP/1.1\r\nHost: t\r\n\r\n")
                        status, closes = read_reply(conns[j])
                        with lock:
                            answered[0] += 1
                            told[0] += closes
                        if status != b"HTTP/1.1 200 OK":
                            failures.append(status)
                        if closes:
                            conns[j].close()
                            conns[j] = None
                    except OSError as e:
                        failures.append(repr(e))
                        conns[j] = None
            for s in conns:
                if s is not None:
                    s.close()
        # 32 connections from one CPU, for four times the guard's patience.
        threads = [threading.Thread(target=client, args=(8, 4 * PATIENCE)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [], "no failed request under load")
        print("under load: %d requests, %d answered with Connection: close" %
              (answered[0], told[0]))
        if TWO_CPUS:
            self.assertGreater(told[0], 0, "the guard moved connections under load")
        time.sleep(SETTLE)
        by_worker, _ = metrics(srv)
        self.assertEqual(sum(by_worker.values()), 1,
                         "every connection closed is gone from the counts")

    def test_6_exit_status(self):
        self.assertEqual(self.srv.stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
