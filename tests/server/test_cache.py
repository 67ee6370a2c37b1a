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
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (Checker, Server, build_trie, count_responses, make_freq, msgpack_decode,
                        prefixes_of, split_responses)

ap = argparse.ArgumentParser()
ap.add_argument("--serve", required=True)
ap.add_argument("--build", required=True)
ap.add_argument("--query", required=True)
args = ap.parse_args()

C = Checker()
work = tempfile.mkdtemp(prefix="ta-cache-test-")
trie = os.path.join(work, "current.trie")
tries = {}
for name, seed in (("a", 7), ("b", 8)):
    freq = os.path.join(work, name + ".tsv")
    queries = make_freq(freq, seed=seed)
    tries[name] = os.path.join(work, name + ".trie")
    build_trie(args.build, freq, tries[name], k=10)
shutil.copy(tries["a"], trie)
rules_path = os.path.join(work, "rules.txt")
with open(rules_path, "w") as f:
    f.write("# no rules yet\n")
token_file = os.path.join(work, "token")
with open(token_file, "w") as f:
    f.write("tok\n")
AUTH = {"Authorization": "Bearer tok"}
ORIGIN = "https://app.example.test"
common = ["--threads", "1", "--filters", rules_path, "--admin-token-file", token_file,
          "--cors-origin", ORIGIN]

# Requests: user-like prefixes with k varied, '+' and %20 spellings, JSON and msgpack. Some
# repeat (a cold pass has hits too: counted below).
REQS = []
for i, p in enumerate(prefixes_of(queries, 120, seed=5)):
    k = "" if i % 3 == 0 else "&k=%d" % (1 + i % 10)
    q = (urllib.parse.quote_plus if i % 2 else urllib.parse.quote)(p, safe="")
    REQS.append(("/search?q=" + q + k, i % 4 == 3))
REQS += [("/search?q=new+y", False), ("/search?q=new%20y", False), ("/search?q=new+y", True),
         ("/search?q=c&k=10", False), ("/search?q=c&k=10", False)]
DISTINCT = len(set(REQS))


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


def metric(srv, name):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    return None


def lookups(srv):
    return (metric(srv, 'typeahead_answer_cache_lookups_total{result="hit"}'),
            metric(srv, 'typeahead_answer_cache_lookups_total{result="miss"}'))


def query_rows(trie_path, prefix, k):
    out = subprocess.run([args.query, trie_path, prefix, "-k", str(k)], capture_output=True,
                         check=True).stdout.decode("utf-8")
    return [(t, float(s)) for t, _, s in (l.rpartition("\t") for l in out.splitlines() if l)]


def check_against_query(got, trie_path, what):
    """Answers equal typeahead-query's (valid while no rule bites)."""
    for (path, mp), (st, ctype, _, _, _, body) in zip(REQS, got):
        qs = urllib.parse.parse_qs(path.split("?", 1)[1], keep_blank_values=True)
        prefix = qs["q"][0]
        k = int(qs.get("k", ["5"])[0])
        ans = msgpack_decode(body) if mp else json.loads(body)
        rows = [(s["text"], float(s["score"])) for s in ans["suggestions"]]
        C.eq((st, ans["q"], rows), (200, prefix, query_rows(trie_path, prefix, k)),
             "%s: %s%s equals typeahead-query" % (what, path, " (msgpack)" if mp else ""))


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


def phase(srv, ref, what, trie_path=None, cold=True):
    """Compares a pass of srv (cold: every distinct request misses once) with ref, then a
    second pass (every request hits), and both with typeahead-query when trie_path is given."""
    h0, m0 = lookups(srv)
    got = fetch_all(srv)
    h1, m1 = lookups(srv)
    want = fetch_all(ref)
    for (path, mp), g, w in zip(REQS, got, want):
        C.eq(g, w, "%s: %s%s equals the uncached server's" % (what, path, " (mp)" if mp else ""))
    if cold:
        C.eq((h1 - h0, m1 - m0), (len(REQS) - DISTINCT, DISTINCT),
             "%s: cold pass hits and misses" % what)
    again = fetch_all(srv)
    h2, m2 = lookups(srv)
    C.eq((h2 - h1, m2 - m1), (len(REQS), 0), "%s: second pass all hits" % what)
    C.check(again == got, "%s: the second pass (cached) answers the same bytes" % what)
    if trie_path:
        check_against_query(got, trie_path, what)
    return got


def swap_to(name):
    tmp = trie + ".tmp"
    shutil.copy(tries[name], tmp)
    os.rename(tmp, trie)


srv = Server(args.serve, trie, common)
ref = Server(args.serve, trie, common + ["--answer-cache-mb", "0"])
try:
    ver_a = versions(srv)[0]
    # ---- Exactness across swaps and rules changes -----------------------------------------
    first = phase(srv, ref, "trie a", tries["a"])

    swap_to("b")
    C.check(wait_same(srv, ref, not_trie=ver_a), "both servers moved to trie b")
    ver_b = versions(srv)[0]
    phase(srv, ref, "after the swap to b", tries["b"])

    # Rules that bite on common words, put in force through the cached server; the twin picks
    # the rewritten file up by itself.
    rules1 = "word:new\nword:york\nprefix:c\nphrase:how to\n"
    st, _, _ = srv.get("/admin/filters", AUTH, method="PUT", body=rules1.encode())
    C.eq(st, 200, "PUT /admin/filters")
    C.check(wait_same(srv, ref), "both servers have the new rules")
    got = phase(srv, ref, "rules 1 on trie b")
    for (path, mp), r in zip(REQS, got):
        ans = msgpack_decode(r[5]) if mp else json.loads(r[5])
        for s in ans["suggestions"]:
            words = s["text"].lower().split()
            C.check("new" not in words and "york" not in words and
                    not s["text"].lower().startswith("c"),
                    "rules 1 hide %r (%s)" % (s["text"], path))

    st, _, _ = srv.get("/admin/filters", AUTH, method="PUT", body=b"# no rules again\n")
    C.check(wait_same(srv, ref), "both servers back to no rules")
    phase(srv, ref, "no rules again on trie b", tries["b"])

    swap_to("a")  # the same content as at start: a new load, so every entry misses once
    C.check(wait_same(srv, ref, ver_a), "both servers back on trie a")
    again_a = phase(srv, ref, "back on trie a", tries["a"])
    C.check(again_a == first, "back on trie a: the answers of the start")

    # ---- HEAD, 304, CORS on cached answers ---------------------------------------------------
    path = "/search?q=new+y"
    st, h, body = srv.get(path)
    C.eq((st, h.get("access-control-allow-origin")), (200, ORIGIN), "cached GET with CORS")
    etag = h.get("etag")
    raw = srv.raw(("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (path, path)).encode(), expect=2, until_close=False)
    resp = split_responses(raw, head_requests=(0,))
    C.eq(len(resp), 2, "HEAD then GET on one connection: two answers")
    if len(resp) == 2:
        C.eq(resp[0][1].get("content-length"), str(len(body)), "HEAD keeps the GET's length")
        C.eq(resp[0][1].get("etag"), etag, "HEAD names the same ETag")
        C.eq(resp[1][2], body, "the GET after a HEAD gets the whole body (HEAD had none)")
    st, h, b304 = srv.get(path, {"If-None-Match": etag})
    C.eq((st, b304, h.get("etag"), h.get("vary")), (304, b"", etag, "Accept"),
         "If-None-Match on a cached answer: 304 with the headers")
    st, _, _ = srv.get(path, {"If-None-Match": etag, "Accept": "application/msgpack"})
    C.eq(st, 200, "the JSON ETag does not match the msgpack answer")
    swap_to("b")
    C.check(wait_same(srv, ref, ver_b), "swapped to b again")
    st, h, _ = srv.get(path, {"If-None-Match": etag})
    C.check(st == 200 and h.get("etag") != etag, "after a swap the old ETag gets a 200")

    C.eq(lookups(ref), (0, 0), "--answer-cache-mb 0: no lookups")
    C.check(metric(srv, "typeahead_answer_cache_entries") > 0, "entries counted")

    # ---- The serialized header block keeps libevhtp's Connection handling ------------------
    def head_lines(reply):
        return reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")

    body = srv.get(path)[2]  # on trie b now
    for req, want_conn, kept in (
            ("GET %s HTTP/1.0\r\n\r\n", None, False),
            ("GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", True),
            ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "close", False),
            ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", None, True)):
        out = srv.raw((req % path).encode(), wait=1.0)
        lines = head_lines(out)
        names = [l.split(":", 1)[0].lower() for l in lines[1:]]
        what = "%r" % req.split("\r\n")[0]
        C.eq(sorted(names), sorted(["content-type", "cache-control", "etag", "vary",
                                    "access-control-allow-origin", "content-length"] +
                                   (["connection"] if want_conn else [])),
             "%s: each header once" % what)
        C.check(("Connection: %s" % want_conn in lines) if want_conn else True,
                "%s: Connection: %s" % (what, want_conn))
        C.check(out.endswith(body), "%s: whole body" % what)
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
        C.eq(not closed, kept, "%s: connection kept open" % what)

    # ---- Replies written at once; a partial write finished by the normal path -------------
    whole0 = metric(srv, 'typeahead_replies_written_at_once_total{result="whole"}')
    C.check(whole0 and whole0 > 2 * len(REQS), "replies written at once are counted (%r)" % whole0)
    partial0 = metric(srv, 'typeahead_replies_written_at_once_total{result="partial"}')
    demo = srv.get("/")[2]
    # Far more than a socket holds while the client does not read (loopback send buffers grow
    # to net.ipv4.tcp_wmem's maximum, 4 MB by default).
    n_pages = max(80, 2 * (4 << 20) // len(demo) + 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * n_pages +
              ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    time.sleep(1.0)
    partial1 = metric(srv, 'typeahead_replies_written_at_once_total{result="partial"}')
    C.check(partial1 > partial0, "a reply larger than the socket takes is a partial write")
    s.settimeout(10)
    data = bytearray()
    try:
        while len(data) < n_pages * len(demo) or count_responses(bytes(data)) < n_pages + 1:
            d = s.recv(1 << 20)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    s.close()
    resp = split_responses(bytes(data))
    C.eq(len(resp), n_pages + 1, "every pipelined request answered after partial writes")
    C.check(all(r[0] == 200 and r[2] == demo for r in resp[:n_pages]),
            "the pages are whole and in order")
    if len(resp) == n_pages + 1:
        C.eq(json.loads(resp[-1][2])["q"], "new y", "the search after them answered last")
    C.eq(srv.get("/healthz")[0], 200, "the server answers after the slow reader")
finally:
    for s_ in (srv, ref):
        if s_.proc.poll() is None:
            C.eq(s_.stop(), 0, "exit status after SIGTERM")
    if C.failures:
        print("---- server log ----\n" + srv.text()[-4000:])

# ---- The bound: 1 MB for many distinct answers -------------------------------------------------
small = Server(args.serve, trie, ["--answer-cache-mb", "1"])
try:
    c = small.conn()
    for p in prefixes_of(queries, 3000, seed=9):
        for kk in (1, 5, 10):
            small.get("/search?q=%s&k=%d" % (urllib.parse.quote(p, safe=""), kk), conn=c)
    c.close()
    used = metric(small, "typeahead_answer_cache_bytes")
    C.check(0 < used <= 1 << 20, "the cache stays within --answer-cache-mb 1 (%r bytes)" % used)
    C.eq(small.stop(), 0, "exit status after SIGTERM")
finally:
    if small.proc.poll() is None:
        small.proc.kill()

shutil.rmtree(work, ignore_errors=True)
C.done("test_cache")
