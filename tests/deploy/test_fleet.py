#!/usr/bin/python3
"""A fleet of typeahead-serve replicas behind nginx (deploy/typeahead-fleet, SPEC §11) fails no
client request while its nodes are killed, frozen, updated and restarted under load: three
replicas of the whole trie, and 2 prefix shards x 3 replicas (every node answers every prefix,
forwarding to the owning shard).

Six client threads send GET /search through nginx on kept-alive connections for the whole
test, over prefixes whose answers were taken from a node beforehand (for both tries the test
serves). Meanwhile:
- one node is killed (SIGKILL), then the fleet is restarted node by node;
- one node is frozen (SIGSTOP) for 3 s, then thawed (SIGCONT);
- every node's trie is replaced by another, one node at a time (a rolling update);
- every node is restarted, one at a time (a rolling restart: SIGTERM drains, then a new one).
Every answer must be 200 with the body of one of the two tries for that prefix (during the
update both are right; with shards, the empty prefix's merge may mix the two while some shards
are updated and others not), and the clients must have gone on being answered through each
step.

usage: test_fleet.py --source DIR --build-dir DIR [unittest arguments]
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)
from serve_util import build_trie, make_freq, prefixes_of  # noqa: E402

REPLICAS = 3
CLIENTS = 6


def free_ports(n):
    """A base port P with P..P+n free on 127.0.0.1 (nginx on P, the nodes above it)."""
    for base in range(20000 + os.getpid() % 20000, 60000, 97):
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


class Mixed:
    """The answers a sharded fleet may give while a rolling update has some shards on trie a
    and others on b, for a prefix whose word matches come from every shard: the exact (prefix)
    matches of one version, then word matches in rank order (each shard's of either version:
    one ranked past k in both whole answers may show in a mixed one), then typo matches."""

    def __init__(self, answers):
        self.answers = answers

    def __contains__(self, sugg):
        if sugg in self.answers:
            return True
        exact = [h for h in sugg if h["match"] == "prefix"]
        if exact not in ([h for h in a if h["match"] == "prefix"] for a in self.answers):
            return False
        kinds = [h["match"] for h in sugg]
        scores = [h["score"] for h in sugg if h["match"] == "words"]
        return kinds == sorted(kinds, key=["prefix", "words", "typo"].index) and \
            scores == sorted(scores, reverse=True)


class Load:
    """CLIENTS threads asking nginx for prefixes in turn; counts answers and failures."""

    def __init__(self, port, prefixes, allowed):
        self.port, self.prefixes, self.allowed = port, prefixes, allowed
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def client(self, i):
        conn = None
        n = i
        while not self.stop.is_set():
            p = self.prefixes[n % len(self.prefixes)]
            n += CLIENTS
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/search?q=" + urllib.parse.quote(p, safe=""))
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    self.fail("%r: status %d %r" % (p, r.status, body[:200]))
                elif self.allowed[p] is not None and \
                        json.loads(body)["suggestions"] not in self.allowed[p]:
                    self.fail("%r: an answer of neither trie: %r" % (p, body[:200]))
                else:
                    with self.lock:
                        self.ok += 1
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.fail("%r: %s: %s" % (p, type(e).__name__, e))
                conn = None
        if conn is not None:
            conn.close()

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def answered(self):
        with self.lock:
            return self.ok

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


class Fleet(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ta-fleet-test-")
        self.fleet = os.path.join(ARGS.source, "deploy", "typeahead-fleet")
        self.run_dir = os.path.join(self.work, "run")
        build = os.path.join(ARGS.build_dir, "builder", "typeahead-build")
        self.tries, queries = {}, {}
        for name, seed in (("a", 7), ("b", 8)):
            freq = os.path.join(self.work, name + ".freq")
            queries[name] = make_freq(freq, n=3000, seed=seed)
            self.tries[name] = os.path.join(self.work, name + ".trie")
            build_trie(build, freq, self.tries[name])
        self.prefixes = prefixes_of(queries["a"] + queries["b"], 200)
        # The same two as 2 prefix shards each, b split by a's map (a fleet keeps its map)
        self.shard_dirs = {n: os.path.join(self.work, "shards-" + n) for n in ("a", "b")}
        subprocess.run([build, "--freq", os.path.join(self.work, "a.freq"), "--shards", "2",
                        "--out-dir", self.shard_dirs["a"]], check=True, capture_output=True)
        subprocess.run([build, "--freq", os.path.join(self.work, "b.freq"), "--shards", "2",
                        "--shard-map", os.path.join(self.shard_dirs["a"], "shards.map"),
                        "--out-dir", self.shard_dirs["b"]], check=True, capture_output=True)
        self.port = free_ports(2 * REPLICAS + 1)
        self.started = False

    def tearDown(self):
        if self.started:
            subprocess.run([self.fleet, "stop", self.run_dir], capture_output=True, timeout=120)
        shutil.rmtree(self.work, ignore_errors=True)

    def fleet_cmd(self, *args):
        r = subprocess.run([self.fleet] + list(args), capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, "typeahead-fleet %s: %s" % (args[0], r.stderr))
        return r.stdout

    def node_pid(self, i):
        with open(os.path.join(self.run_dir, "node-%d" % i, "pid")) as f:
            return int(f.read())

    def expected(self, new):
        """{prefix: [the answer of trie a, the answer of trie b]}, asked of a node directly."""
        allowed = {p: [] for p in self.prefixes}
        for name in ("a", "b"):
            if name == "b":
                self.fleet_cmd("update", self.run_dir, new["b"])
            conn = http.client.HTTPConnection("127.0.0.1", self.port + 1, timeout=10)
            for p in self.prefixes:
                conn.request("GET", "/search?q=" + urllib.parse.quote(p, safe=""))
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                allowed[p].append(json.loads(r.read())["suggestions"])
            conn.close()
        self.fleet_cmd("update", self.run_dir, new["a"])
        return allowed

    def step(self, load, what, action):
        """Runs action under load; the clients must be answered during and after it."""
        before = load.answered()
        action()
        deadline = time.time() + 10
        while load.answered() < before + 200 and time.time() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(load.answered(), before + 200,
                                "the clients are answered through '%s'" % what)
        if load.failures:
            with open(os.path.join(self.run_dir, "nginx-error.log"), errors="replace") as f:
                log = f.read()
            log = log[:2500] + "\n...\n" + log[-1000:]
            self.fail("%d requests failed through '%s', the first: %s\n-- nginx-error.log --\n%s"
                      % (len(load.failures), what, load.failures[0][:300], log))

    def internal_headers_dropped(self):
        """The nodes' own headers between shards, sent by a client, do not reach them through
        nginx: the answers are the same as without them (a node would answer another shard's
        forward with 421, and a words part with its word matches alone)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        own = {"X-Typeahead-Forwarded": "0", "X-Typeahead-Part": "words",
               "X-Typeahead-Map": "0123456789abcdef"}
        asked = [p for p in self.prefixes if p.strip()][:40]
        for p in asked:
            got = []
            for headers in ({}, own):
                conn.request("GET", "/search?q=" + urllib.parse.quote(p, safe=""),
                             headers=headers)
                r = conn.getresponse()
                got.append((r.status, json.loads(r.read()).get("suggestions")))
            self.assertEqual(got[1], got[0], "q=%r with the nodes' own headers" % p)
        conn.close()

    def host_less_http10(self):
        """An HTTP/1.0 client may send no Host (RFC 9112 §3.2), and nginx then has no $host;
        the nodes refuse an HTTP/1.1 request without one (400), so nginx must send its own."""
        p = next(p for p in self.prefixes if p.strip())
        for path in ("/search?q=" + urllib.parse.quote(p, safe=""), "/"):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
                out = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    out += d
            self.assertRegex(out[:20], rb"^HTTP/1\.[01] 200 ",
                             "HTTP/1.0 without Host, %s through nginx: %r" % (path, out[:300]))

    def test_no_request_fails(self):
        self.no_request_fails(["--trie", self.tries["a"]], self.tries, REPLICAS)

    def test_no_request_fails_sharded(self):
        self.no_request_fails(["--shard-dir", self.shard_dirs["a"]], self.shard_dirs, 2 * REPLICAS)

    def no_request_fails(self, what, new, n_nodes):
        """Starts the fleet of what (--trie or --shard-dir), then the steps under load; new:
        {"a", "b"}: the two versions, as the update takes them."""
        self.fleet_cmd("start", self.run_dir, *what, "--replicas", str(REPLICAS), "--port",
                       str(self.port), "--bin", os.path.join(ARGS.build_dir, "server"))
        self.started = True
        allowed = self.expected(new)
        self.host_less_http10()
        if n_nodes > REPLICAS:
            self.internal_headers_dropped()
        if n_nodes > REPLICAS:
            # The empty prefix merges every shard's best: while a rolling update has some
            # shards on a and others on b, the merge mixes them (each part is right); so do
            # the word matches of a prefix, which come from every shard.
            for p in allowed:
                if not p.strip():
                    allowed[p] = None
                elif any(h["match"] == "words" for a in allowed[p] for h in a):
                    allowed[p] = Mixed(allowed[p])
        load = Load(self.port, self.prefixes, allowed)
        try:
            self.step(load, "warm-up", lambda: time.sleep(0.5))

            def kill():
                os.kill(self.node_pid(1), signal.SIGKILL)
                time.sleep(1.5)
            self.step(load, "a node killed", kill)
            self.step(load, "the fleet restarted, node by node",
                      lambda: self.fleet_cmd("restart", self.run_dir))

            def freeze():
                pid = self.node_pid(2)
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(3)
                finally:
                    os.kill(pid, signal.SIGCONT)
                time.sleep(0.5)
            self.step(load, "a node frozen for 3 s", freeze)
            self.step(load, "a rolling update",
                      lambda: self.fleet_cmd("update", self.run_dir, new["b"]))
            self.step(load, "a rolling restart", lambda: self.fleet_cmd("restart", self.run_dir))
        finally:
            load.finish()
        self.assertEqual(load.failures, [], "no request failed")
        status = self.fleet_cmd("status", self.run_dir)
        files = [new["b"]] if os.path.isfile(new["b"]) else [
            os.path.join(new["b"], f) for f in sorted(os.listdir(new["b"])) if f.endswith(".trie")]
        served = 0
        for f in files:
            info = subprocess.run([os.path.join(ARGS.build_dir, "trie", "typeahead-query"), f,
                                   "--info"], capture_output=True, text=True, check=True).stdout
            crc = [l.split("\t")[1] for l in info.splitlines() if l.startswith("file_crc\t")][0]
            served += status.count("version " + crc)
        self.assertEqual(served, n_nodes, "every node serves the update: %s" % status)
        st = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                             "http://127.0.0.1:%d/admin/reload" % self.port],
                            capture_output=True, text=True).stdout
        self.assertEqual(st, "404", "the admin endpoints are not reachable through nginx")
        self.fleet_cmd("stop", self.run_dir)
        self.started = False
        with socket.socket() as s:  # nginx has let its port go (TIME_WAIT aside)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))


if __name__ == "__main__":
    ARGS, rest = bin_args.tree_parser().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
