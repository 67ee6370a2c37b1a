#!/usr/bin/python3
"""typeahead-serve's answer cache and immediate writes (docs/server.md), over real HTTP.

The cache must be exact: every answer of a server with the cache (one worker, so hits are
deterministic) is compared byte for byte (status, Content-Type, ETag, Content-Length, body)
with the answer of a twin server without it (--answer-cache-mb 0) reading the same trie and
rules files, and with typeahead-query while no rule bites, across trie swaps (rename), rules
changes (PUT /admin/filters, and back to earlier rules) and a swap back to an earlier file.
Hits and misses are counted exactly in /metrics. HEAD, If-None-Match/304 and CORS on cached
answers; the memory bound holds. Immediate writes: counted; a reply that does not fit in the
socket (a slow reader, pipelined requests) is finished by the normal path, in order.

usage: test_cache.py --serve PATH --build PATH --query PATH [unittest arguments]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (ServerCase, build_trie, count_responses, make_freq,  # noqa: E402
                        msgpack_decode, prefixes_of, recv_while, server_args,
                        split_responses)

ARGS = None  # the command line (parsed in __main__)
WORK = TRIE = RULES_PATH = TOKEN_FILE = None
TRIES = {}  # name -> trie file: "a" and "b", from two generated lists
QUERIES = []  # the queries of list b
AUTH = {"Authorization": "Bearer tok"}
ORIGIN = "https://app.example.test"
COMMON = []  # the arguments of both servers
# Requests: user-like prefixes with k varied, '+' and %20 spellings, JSON and msgpack. Some
# repeat (a cold pass has hits too: counted below).
REQS = []
DISTINCT = 0
CACHED_PATH = "/search?q=new+y"  # the request of the HEAD, 304, CORS and Connection checks


def setUpModule():
    global WORK, TRIE, RULES_PATH, TOKEN_FILE, QUERIES, COMMON, DISTINCT
    WORK = tempfile.mkdtemp(prefix="ta-cache-test-")
    TRIE = os.path.join(WORK, "current.trie")
    for name, seed in (("a", 7), ("b", 8)):
        freq = os.path.join(WORK, name + ".tsv")
        QUERIES = make_freq(freq, seed=seed)
        TRIES[name] = os.path.join(WORK, name + ".trie")
        build_trie(ARGS.build, freq, TRIES[name], k=10)
    shutil.copy(TRIES["a"], TRIE)
    RULES_PATH = os.path.join(WORK, "rules.txt")
    with open(RULES_PATH, "w") as f:
        f.write("# no rules yet\n")
    TOKEN_FILE = os.path.join(WORK, "token")
    with open(TOKEN_FILE, "w") as f:
        f.write("tok\n")
    COMMON = ["--threads", "1", "--filters", RULES_PATH, "--admin-token-file", TOKEN_FILE,
              "--cors-origin", ORIGIN]
    for i, p in enumerate(prefixes_of(QUERIES, 120, seed=5)):
        k = "" if i % 3 == 0 else "&k=%d" % (1 + i % 10)
        q = (urllib.parse.quote_plus if i % 2 else urllib.parse.quote)(p, safe="")
        REQS.append(("/search?q=" + q + k, i % 4 == 3))
    REQS.extend([("/search?q=new+y", False), ("/search?q=new%20y", False),
                 ("/search?q=new+y", True), ("/search?q=c&k=10", False),
                 ("/search?q=c&k=10", False)])
    DISTINCT = len(set(REQS))


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def fetch_all(srv):
    """(status, content-type, etag, content-length, cors, body) of every request in REQS."""
    c = srv.conn()
    out = []
    for path, mp in REQS:
        st, h, body = srv.get(path, {"Accept": "application/msgpack"} if mp else {}, conn=c)
        out.append((st, h.get("content-type"), h.get("etag"), h.get("content-length"),
                    h.get("access-control-allow-origin"), body))
    c.close()
    return out


def lookups(srv):
    return (srv.metric('typeahead_answer_cache_lookups_total{result="hit"}'),
            srv.metric('typeahead_answer_cache_lookups_total{result="miss"}'))


QUERY_ROWS = {}


def query_rows(trie_path, prefix, k):
    """typeahead-query's whole answer (exact, word and typo matches: the server's defaults).
    Kept per (file, prefix, k): phases on the same trie ask the same again, and each run of the
    tool builds the word index (under ASan, on a loaded machine, 500 runs neared the test's
    300 s)."""
    key = (trie_path, os.stat(trie_path).st_mtime_ns, prefix, k)
    if key not in QUERY_ROWS:
        QUERY_ROWS[key] = query_rows_uncached(trie_path, prefix, k)
    return QUERY_ROWS[key]


def query_rows_uncached(trie_path, prefix, k):
    out = subprocess.run([ARGS.query, trie_path, prefix, "-k", str(k), "--typos", "auto",
                          "--words"], capture_output=True, check=True).stdout.decode("utf-8")
    return [(t, float(s)) for t, s, _, _ in (l.split("\t") for l in out.splitlines() if l)]


def versions(srv):
    h = json.loads(srv.get("/healthz")[2])
    return h["trie"]["version"] if h.get("trie") else None, h["filters"]["version"]


def wait_same(srv, ref, want_trie=None, not_trie=None, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        a, b = versions(srv), versions(ref)
        if a == b and (want_trie is None or a[0] == want_trie) and \
                (not_trie is None or a[0] != not_trie):
            return True
        time.sleep(0.05)
    return False


def swap_to(name):
    tmp = TRIE + ".tmp"
    shutil.copy(TRIES[name], tmp)
    os.rename(tmp, TRIE)


class AnswerCache(ServerCase):
    """The cached server and its uncached twin through swaps and rules changes. The tests run
    in the order of their numbers: each starts from the state the one before left."""

    ver_a = ver_b = None  # the versions of tries a and b
    first = None  # the answers on trie a at the start

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE, COMMON)
        cls.ref = cls.serve("uncached server", ARGS.serve, TRIE,
                            COMMON + ["--answer-cache-mb", "0"])

    def check_against_query(self, got, trie_path, what):
        """Answers equal typeahead-query's (valid while no rule bites)."""
        for (path, mp), (st, ctype, _, _, _, body) in zip(REQS, got):
            with self.subTest(what=what, path=path, msgpack=mp):
                qs = urllib.parse.parse_qs(path.split("?", 1)[1], keep_blank_values=True)
                prefix = qs["q"][0]
                k = int(qs.get("k", ["5"])[0])
                ans = msgpack_decode(body) if mp else json.loads(body)
                rows = [(s["text"], float(s["score"])) for s in ans["suggestions"]]
                self.assertEqual((st, ans["q"], rows),
                                 (200, prefix, query_rows(trie_path, prefix, k)),
                                 "%s: %s%s equals typeahead-query" %
                                 (what, path, " (msgpack)" if mp else ""))

    def phase(self, what, trie_path=None, cold=True):
        """Compares a pass of srv (cold: every distinct request misses once) with ref, then a
        second pass (every request hits), and both with typeahead-query when trie_path is
        given."""
        srv, ref = self.srv, self.ref
        h0, m0 = lookups(srv)
        got = fetch_all(srv)
        h1, m1 = lookups(srv)
        want = fetch_all(ref)
        for (path, mp), g, w in zip(REQS, got, want):
            with self.subTest(what=what, path=path, msgpack=mp):
                self.assertEqual(g, w, "%s: %s%s equals the uncached server's" %
                                 (what, path, " (mp)" if mp else ""))
        if cold:
            self.assertEqual((h1 - h0, m1 - m0), (len(REQS) - DISTINCT, DISTINCT),
                             "%s: cold pass hits and misses" % what)
        again = fetch_all(srv)
        h2, m2 = lookups(srv)
        self.assertEqual((h2 - h1, m2 - m1), (len(REQS), 0), "%s: second pass all hits" % what)
        self.assertEqual(again, got, "%s: the second pass (cached) answers the same bytes" % what)
        if trie_path:
            self.check_against_query(got, trie_path, what)
        return got

    # ---- Exactness across swaps and rules changes -----------------------------------------
    def test_01_trie_a(self):
        cls = type(self)
        cls.ver_a = versions(self.srv)[0]
        cls.first = self.phase("trie a", TRIES["a"])

    def test_02_swap_to_b(self):
        swap_to("b")
        self.assertTrue(wait_same(self.srv, self.ref, not_trie=self.ver_a),
                        "both servers moved to trie b")
        type(self).ver_b = versions(self.srv)[0]
        self.phase("after the swap to b", TRIES["b"])

    def test_03_rules_that_bite(self):
        # Rules that bite on common words, put in force through the cached server; the twin
        # picks the rewritten file up by itself.
        rules1 = "word:new\nword:york\nprefix:c\nphrase:how to\n"
        st, _, _ = self.srv.get("/admin/filters", AUTH, method="PUT", body=rules1.encode())
        self.assertEqual(st, 200, "PUT /admin/filters")
        self.assertTrue(wait_same(self.srv, self.ref), "both servers have the new rules")
        got = self.phase("rules 1 on trie b")
        for (path, mp), r in zip(REQS, got):
            ans = msgpack_decode(r[5]) if mp else json.loads(r[5])
            for s in ans["suggestions"]:
                with self.subTest(path=path, text=s["text"]):
                    words = s["text"].lower().split()
                    self.assertTrue("new" not in words and "york" not in words and
                                    not s["text"].lower().startswith("c"),
                                    "rules 1 hide %r (%s)" % (s["text"], path))

    def test_04_no_rules_again(self):
        st, _, _ = self.srv.get("/admin/filters", AUTH, method="PUT", body=b"# no rules again\n")
        self.assertTrue(wait_same(self.srv, self.ref), "both servers back to no rules")
        self.phase("no rules again on trie b", TRIES["b"])

    def test_05_back_on_trie_a(self):
        swap_to("a")  # the same content as at start: a new load, so every entry misses once
        self.assertTrue(wait_same(self.srv, self.ref, self.ver_a), "both servers back on trie a")
        again_a = self.phase("back on trie a", TRIES["a"])
        self.assertEqual(again_a, self.first, "back on trie a: the answers of the start")

    # ---- HEAD, 304, CORS on cached answers ---------------------------------------------------
    def test_06_head_304_cors_on_cached_answers(self):
        srv, path = self.srv, CACHED_PATH
        st, h, body = srv.get(path)
        self.assertEqual((st, h.get("access-control-allow-origin")), (200, ORIGIN),
                         "cached GET with CORS")
        etag = h.get("etag")
        raw = srv.raw(("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (path, path)).encode(), expect=2, until_close=False)
        resp = split_responses(raw, head_requests=(0,))
        self.assertEqual(len(resp), 2, "HEAD then GET on one connection: two answers")
        self.assertEqual(resp[0][1].get("content-length"), str(len(body)),
                         "HEAD keeps the GET's length")
        self.assertEqual(resp[0][1].get("etag"), etag, "HEAD names the same ETag")
        self.assertEqual(resp[1][2], body,
                         "the GET after a HEAD gets the whole body (HEAD had none)")
        st, h, b304 = srv.get(path, {"If-None-Match": etag})
        self.assertEqual((st, b304, h.get("etag"), h.get("vary")), (304, b"", etag, "Accept"),
                         "If-None-Match on a cached answer: 304 with the headers")
        st, _, _ = srv.get(path, {"If-None-Match": etag, "Accept": "application/msgpack"})
        self.assertEqual(st, 200, "the JSON ETag does not match the msgpack answer")
        swap_to("b")
        self.assertTrue(wait_same(srv, self.ref, self.ver_b), "swapped to b again")
        st, h, _ = srv.get(path, {"If-None-Match": etag})
        self.assertTrue(st == 200 and h.get("etag") != etag,
                        "after a swap the old ETag gets a 200")

    def test_07_counters(self):
        self.assertEqual(lookups(self.ref), (0, 0), "--answer-cache-mb 0: no lookups")
        self.assertGreater(self.srv.metric("typeahead_answer_cache_entries"), 0,
                           "entries counted")

    # ---- The serialized header block keeps libevhtp's Connection handling ------------------
    def test_08_connection_header(self):
        srv, path = self.srv, CACHED_PATH

        def head_lines(reply):
            return reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")

        body = srv.get(path)[2]  # on trie b now
        for req, want_conn, kept in (
                ("GET %s HTTP/1.0\r\n\r\n", None, False),
                ("GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", True),
                ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "close", False),
                ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", None, True)):
            what = "%r" % req.split("\r\n")[0]
            with self.subTest(request=what):
                out = srv.raw((req % path).encode(), wait=1.0)
                lines = head_lines(out)
                names = [l.split(":", 1)[0].lower() for l in lines[1:]]
                self.assertEqual(sorted(names),
                                 sorted(["content-type", "cache-control", "etag", "vary",
                                         "access-control-allow-origin",
                                         "access-control-expose-headers", "content-length"] +
                                        (["connection"] if want_conn else [])),
                                 "%s: each header once" % what)
                if want_conn:
                    self.assertIn("Connection: %s" % want_conn, lines,
                                  "%s: Connection: %s" % (what, want_conn))
                self.assertTrue(out.endswith(body), "%s: whole body" % what)
                s = socket.create_connection(("127.0.0.1", srv.port))
                s.sendall((req % path).encode())
                s.settimeout(1.0)
                got, closed = b"", False
                try:
                    while True:
                        d = s.recv(65536)
                        if not d:
                            closed = True
                            break
                        got += d
                except socket.timeout:
                    pass
                s.close()
                self.assertEqual(not closed, kept, "%s: connection kept open" % what)

    # ---- Replies written at once; a partial write finished by the normal path -------------
    def test_09_partial_writes(self):
        srv = self.srv
        whole0 = srv.metric('typeahead_replies_written_at_once_total{result="whole"}')
        self.assertTrue(whole0 and whole0 > 2 * len(REQS),
                        "replies written at once are counted (%r)" % whole0)
        partial0 = srv.metric('typeahead_replies_written_at_once_total{result="partial"}')
        demo = srv.get("/")[2]
        # Far more than a socket holds while the client does not read (loopback send buffers
        # grow to net.ipv4.tcp_wmem's maximum, 4 MB by default).
        n_pages = max(80, 2 * (4 << 20) // len(demo) + 1)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * n_pages +
                  ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % CACHED_PATH).encode())
        time.sleep(1.0)
        partial1 = srv.metric('typeahead_replies_written_at_once_total{result="partial"}')
        self.assertGreater(partial1, partial0,
                           "a reply larger than the socket takes is a partial write")
        s.settimeout(10)
        data = recv_while(s, lambda data: len(data) < n_pages * len(demo) or
                          count_responses(bytes(data)) < n_pages + 1, size=1 << 20)
        s.close()
        resp = split_responses(data)
        self.assertEqual(len(resp), n_pages + 1,
                         "every pipelined request answered after partial writes")
        self.assertTrue(all(r[0] == 200 and r[2] == demo for r in resp[:n_pages]),
                        "the pages are whole and in order")
        self.assertEqual(json.loads(resp[-1][2])["q"], "new y",
                         "the search after them answered last")
        self.assertEqual(srv.get("/healthz")[0], 200, "the server answers after the slow reader")

    def test_10_exit_status(self):
        for name, s_ in (("cached", self.srv), ("uncached", self.ref)):
            if s_.proc.poll() is None:
                with self.subTest(server=name):
                    self.assertEqual(s_.stop(), 0, "exit status after SIGTERM")


class CacheBound(ServerCase):
    """The bound: 1 MB for many distinct answers."""

    @classmethod
    def setUpClass(cls):
        # Trie b: the file the servers above end on.
        cls.small = cls.serve("server", ARGS.serve, TRIES["b"], ["--answer-cache-mb", "1"])

    def test_cache_within_answer_cache_mb(self):
        small = self.small
        c = small.conn()
        for p in prefixes_of(QUERIES, 3000, seed=9):
            for kk in (1, 5, 10):
                small.get("/search?q=%s&k=%d" % (urllib.parse.quote(p, safe=""), kk), conn=c)
        c.close()
        used = small.metric("typeahead_answer_cache_bytes")
        self.assertTrue(0 < used <= 1 << 20,
                        "the cache stays within --answer-cache-mb 1 (%r bytes)" % used)
        self.assertEqual(small.stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    ARGS, rest = server_args(query_required=True).parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
