#!/usr/bin/python3
"""typeahead-serve over real HTTP (SPEC §8): answers, headers, errors, hostile requests,
libevhtp quirk workarounds, admin, hot swap triggers, 503 without a trie, SIGTERM.

Answers are checked against two references: a Python model of the builder's ranking on the
prefixes only ASCII keys can match (always), and typeahead-query on every prefix (--query).
With --wrapper (e.g. valgrind) the same checks run on fewer prefixes.

usage: test_http.py --serve PATH --build PATH [--query PATH] [--wrapper CMD] [--prefixes N]
                    [--skip REASON] [unittest arguments]
"""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (Server, ServerCase, build_trie, make_freq, msgpack_decode,  # noqa: E402
                        prefixes_of, recv_until_close, recv_while, server_args,
                        count_responses, split_responses, wait_for)

ARGS = None  # the command line (parsed in __main__)
WRAPPER = []  # command prefix for the server (--wrapper)
SLOW = False  # under a wrapper: fewer prefixes, longer waits
N_PREFIXES = 0  # prefixes whose answers are compared
ORIGIN = "https://app.example.test"
WORK = FREQ = TRIE = TOKEN_FILE = None
QUERIES = []
MODEL = {}
# First letters of keys the model cannot compute (non-ASCII entries): not modelled.
UNMODELLED = set("cmsnftax")


def setUpModule():
    global WORK, FREQ, TRIE, TOKEN_FILE, QUERIES, MODEL
    WORK = tempfile.mkdtemp(prefix="ta-serve-test-")
    FREQ = os.path.join(WORK, "freq.tsv")
    TRIE = os.path.join(WORK, "current.trie")
    QUERIES = make_freq(FREQ)
    build_trie(ARGS.build, FREQ, TRIE, k=10)
    TOKEN_FILE = os.path.join(WORK, "token")
    with open(TOKEN_FILE, "w") as f:
        f.write("s3cret-token\n")
    MODEL = ascii_model()


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def qs(prefix, plus=False):
    return (urllib.parse.quote_plus if plus else urllib.parse.quote)(prefix, safe="")


def search(srv, prefix, k=None, msgpack=False, plus=False, headers=None):
    path = "/search?q=" + qs(prefix, plus) + ("" if k is None else "&k=%d" % k)
    h = dict(headers or {})
    if msgpack:
        h["Accept"] = "application/msgpack"
    return srv.get(path, h)


def parse_body(hdrs, body):
    if hdrs.get("content-type", "").startswith("application/msgpack"):
        return msgpack_decode(body)
    return json.loads(body.decode("utf-8"))


# ---- The Python model of typeahead-build --freq for ASCII keys ------------------------------
def ascii_model():
    entries = {}
    with open(FREQ, encoding="utf-8") as f:
        for line in f:
            q, _, c = line.rstrip("\n").rpartition("\t")
            key = " ".join(q.lower().split())
            if key.isascii():
                entries[key] = (q, int(c))
    return entries


def model_answer(prefix, k):
    p = " ".join(prefix.lower().split())  # the key of an ASCII prefix
    if p and prefix[-1:].isspace():
        p += " "  # trie_norm_prefix: a trailing space is a word boundary
    hits = [(c, key, disp) for key, (disp, c) in MODEL.items() if key.startswith(p)]
    hits.sort(key=lambda h: (-h[0], h[1].encode()))
    return [(disp, float(c)) for c, key, disp in hits[:k]]


def query_answer(prefix, k, matches=False):
    """typeahead-query's answer: (text, score) rows; with matches, the whole answer of SPEC §15
    (--typos auto --words) as (text, score, match, highlight) rows."""
    more = ["--typos", "auto", "--words"] if matches else []
    out = subprocess.run([ARGS.query, TRIE, prefix, "-k", str(k)] + more, capture_output=True,
                         check=True).stdout.decode("utf-8")
    rows = []
    for line in out.splitlines():
        if line and matches:
            text, score, match, hl = line.split("\t")
            spans = [[int(x) for x in s.split(",")] for s in hl.split()]
            rows.append((text, float(score), match, spans))
        elif line:
            text, _, score = line.rpartition("\t")
            rows.append((text, float(score)))
    return rows


class Serve(ServerCase):
    """One server (two workers, an admin token, CORS, max-age 123) through every check. The
    tests run in the order of their numbers: the later ones swap its trie and stop it."""

    etag = None  # the JSON ETag of /search?q=new (test_03)

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE,
                            ["--threads", "2", "--admin-token-file", TOKEN_FILE,
                             "--cors-origin", ORIGIN, "--cache-max-age", "123"],
                            wrapper=WRAPPER, tail=6000)

    # ---- Answers: JSON and msgpack, equal to the references ---------------------------------
    def test_01_answers(self):
        srv = self.srv
        compared = modelled = 0
        for i, prefix in enumerate(prefixes_of(QUERIES, N_PREFIXES)):
            k = None if i % 3 == 0 else 1 + i % 10
            want_k = 5 if k is None else k
            with self.subTest(prefix=prefix, k=k):
                st, h, body = search(srv, prefix, k, plus=(i % 2 == 0))
                self.assertEqual(st, 200, "GET /search q=%r k=%r status" % (prefix, k))
                got = parse_body(h, body)
                self.assertEqual(got.get("q"), prefix,
                                 "q echoed as received (decoded) for %r" % prefix)
                full = [(s["text"], float(s["score"]), s["match"], s["highlight"])
                        for s in got["suggestions"]]
                kinds = [s[2] for s in full]
                self.assertEqual(kinds, sorted(kinds, key=lambda m: m != "prefix"),
                                 "prefix matches first for %r: %r" % (prefix, kinds))
                # the exact prefix matches are the lookup's of SPEC §8; word and typo matches
                # follow them (checked whole against typeahead-query below)
                rows = [s[:2] for s in full if s[2] == "prefix"]
                st2, h2, body2 = search(srv, prefix, k, msgpack=True)
                self.assertEqual(h2.get("content-type"), "application/msgpack",
                                 "msgpack content type")
                mp = parse_body(h2, body2)
                self.assertEqual(mp.get("q"), prefix, "msgpack q for %r" % prefix)
                self.assertEqual([(s["text"], float(s["score"]), s["match"], s["highlight"])
                                  for s in mp["suggestions"]],
                                 full, "msgpack answer equals the JSON one for %r" % prefix)
                norm = " ".join(prefix.lower().split())
                if prefix.isascii() and (not norm or norm[0] not in UNMODELLED):
                    modelled += 1
                    self.assertEqual(rows, model_answer(prefix, want_k)[:len(rows)],
                                     "answer for %r k=%d (model)" % (prefix, want_k))
                    self.assertTrue(len(rows) == want_k or
                                    len(rows) == len(model_answer(prefix, want_k)),
                                    "every exact match first for %r" % prefix)
                if ARGS.query:
                    compared += 1
                    self.assertEqual(rows, query_answer(prefix, want_k),
                                     "answer for %r k=%d (typeahead-query)" % (prefix, want_k))
                    self.assertEqual([list(r) for r in full],
                                     [list(r) for r in query_answer(prefix, want_k, True)],
                                     "typos and words for %r k=%d (typeahead-query)" %
                                     (prefix, want_k))
        self.assertGreaterEqual(modelled, N_PREFIXES // 4,
                                "enough prefixes checked against the model (%d)" % modelled)
        print("answers: %d prefixes, %d against the model, %d against typeahead-query" %
              (N_PREFIXES, modelled, compared))

    def test_01b_typos_words(self):
        # SPEC §15: typos=auto|0|1|2 and words=0|1, their errors, match and highlight.
        srv = self.srv
        def answer(path):
            st, h, body = srv.get(path)
            self.assertEqual(st, 200, path)
            return json.loads(body.decode("utf-8"))["suggestions"]
        q = sorted({x for x in QUERIES if x.isascii() and " " in x and len(x.split()[0]) >= 5},
                   key=QUERIES.index)[0]
        first, second = q.lower().split()[:2]
        # one substitution in a 5+ letter word: a typo match at typos=auto, none at typos=0
        typo = first[0] + first[1:3] + ("z" if first[3] != "z" else "y") + first[4:]
        got = answer("/search?k=10&words=0&q=" + qs(typo))
        self.assertIn("typo", [s["match"] for s in got], "typo match for %r" % typo)
        for s in got:
            if s["match"] == "typo":
                self.assertEqual(s["highlight"][0][0], 0, "a typo highlights from the start")
        self.assertNotIn("typo", [s["match"] for s in
                                  answer("/search?k=10&words=0&typos=0&q=" + qs(typo))])
        # its first two words the other way round: a word match, each word highlighted
        swapped = second + " " + first
        got = answer("/search?k=10&typos=0&q=" + qs(swapped))
        hit = [s for s in got if s["match"] == "words"]
        self.assertTrue(hit, "word match for %r (from %r)" % (swapped, q))
        for s in hit:
            self.assertEqual(len(s["highlight"]), 2, s)
            for a, n in s["highlight"]:
                self.assertIn(s["text"].encode()[a:a + n].lower().decode(), (first, second), s)
        self.assertNotIn("words", [s["match"] for s in
                                   answer("/search?k=10&typos=0&words=0&q=" + qs(swapped))])
        for bad in ("typos=3", "typos=", "typos=autox", "words=2", "words=yes"):
            st, h, body = srv.get("/search?q=abc&" + bad)
            self.assertEqual(st, 400, bad)
            self.assertIn(b"error", body)

    def test_02_integral_scores(self):
        # Scores: integers print without a decimal point.
        st, h, body = search(self.srv, "g")
        self.assertTrue(b'"score":' in body and b'.0,' not in body and b'.0}' not in body,
                        "integral scores have no decimal point: %r" % body[:200])

    # ---- Headers ----------------------------------------------------------------------------
    def test_03_headers(self):
        st, h, body = search(self.srv, "new")
        etag = type(self).etag = h.get("etag", "")
        self.assertEqual(h.get("content-type"), "application/json; charset=utf-8",
                         "JSON content type")
        self.assertEqual(h.get("cache-control"), "public, max-age=123", "Cache-Control")
        self.assertEqual(h.get("vary"), "Accept", "Vary")
        self.assertEqual(h.get("access-control-allow-origin"), ORIGIN, "CORS origin")
        # the answer's own headers say which a page's script may read (Fetch: the preflight's
        # would say nothing, and a plain GET has none): the ETag, to send If-None-Match with
        self.assertEqual(h.get("access-control-expose-headers"), "ETag", "CORS expose")
        self.assertTrue(etag.startswith('"') and etag.endswith('"') and len(etag) > 4,
                        "ETag %r" % etag)
        st, hm, _ = search(self.srv, "new", msgpack=True)
        self.assertNotIn(hm.get("etag"), (None, etag), "msgpack ETag differs from the JSON one")

    def test_04_if_none_match(self):
        etag = self.etag
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            with self.subTest(if_none_match=inm):
                st, h304, b304 = search(self.srv, "new", headers={"If-None-Match": inm})
                self.assertEqual((st, b304), (304, b""),
                                 "If-None-Match %r gives 304 without a body" % inm)
                self.assertEqual(h304.get("etag"), etag, "304 carries the ETag")
                self.assertEqual(h304.get("cache-control"), "public, max-age=123",
                                 "304 carries Cache-Control")
                # RFC 9110 8.6: a 304's Content-Length may only be the 200's (libevhtp wrote 0)
                self.assertNotIn("content-length", h304, "304 without Content-Length")
        # the same on a raw exchange (HEAD too, HTTP/1.0 kept alive), the connection kept
        reqs = [b"%s /search?q=new HTTP/1.%s\r\nHost: t\r\n%sIf-None-Match: %s\r\n\r\n" %
                (m, v, b"Connection: keep-alive\r\n" if v == b"0" else b"", etag.encode())
                for m, v in ((b"GET", b"1"), (b"HEAD", b"1"), (b"GET", b"0"))]
        out = self.srv.raw(b"".join(reqs) + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                           until_close=False, expect=4)
        self.assertEqual(out.count(b" 304 Not Modified\r\n"), 3, out)
        self.assertNotIn(b"content-length: 0", out.lower(), out)
        self.assertIn(b'"status":"ok"', out, "then the next request on the connection")
        st, _, _ = search(self.srv, "new", headers={"If-None-Match": '"other-etag"'})
        self.assertEqual(st, 200, "a different ETag gives 200")

    def test_05_cors_preflight(self):
        st, h, body = self.srv.get("/search?q=a", {"Origin": ORIGIN,
                                                   "Access-Control-Request-Method": "GET"},
                                   method="OPTIONS")
        self.assertEqual(st, 204, "OPTIONS preflight status")
        self.assertNotIn("content-length", h, "none in a 204 (RFC 9110 8.6)")
        self.assertEqual(h.get("access-control-allow-origin"), ORIGIN, "preflight allow-origin")
        self.assertIn("GET", h.get("access-control-allow-methods", ""), "preflight allow-methods")

    def test_06_q_decoding_and_escaping(self):
        # '+' is a space, %20 too; %00 is a byte of q that normalization drops.
        srv = self.srv
        a = parse_body(*search(srv, "new york", plus=True)[1:])
        b = parse_body(*search(srv, "new york")[1:])
        self.assertEqual(a, b, "q=new+york equals q=new%20york")
        self.assertEqual(a["q"], "new york", "'+' decoded to a space in q")
        st, h, body = srv.get("/search?q=%00ne")
        self.assertEqual(st, 200, "q with %00: status")
        got = parse_body(h, body)
        self.assertEqual(got["q"], "\x00ne", "q with %00 echoed")
        self.assertEqual(got["suggestions"], parse_body(*search(srv, "ne")[1:])["suggestions"],
                         "a NUL in q is dropped by normalization")
        self.assertIn(b"\\u0000", body, "NUL escaped as \\u0000 in JSON")
        st, h, body = srv.get("/search?q=" + qs('a"b\\c\x01\x1f\t'))
        self.assertEqual(st, 200, "q with quote, backslash, controls")
        self.assertEqual(json.loads(body)["q"], 'a"b\\c\x01\x1f\t', "JSON escaping round-trips q")
        self.assertTrue(b"\\u0001" in body and b"\\u001f" in body,
                        "controls escaped as \\u00XX")

    # ---- Errors -----------------------------------------------------------------------------
    def err(self, path, want, what, method="GET", headers=None):
        """The error answer to one request: status want, a JSON {"error": ...} body."""
        st, h, body = self.srv.get(path, headers, method=method)
        with self.subTest(what):
            self.assertEqual(st, want, what)
            try:
                msg = json.loads(body)["error"] if method != "HEAD" else "head"
            except Exception:
                msg = None
            self.assertTrue(isinstance(msg, str) and msg, "%s: JSON {\"error\":...} body, got %r"
                            % (what, body[:100]))
            if method != "HEAD":
                self.assertEqual(h.get("content-type"), "application/json; charset=utf-8",
                                 what + " type")
        return h

    def test_07_errors(self):
        srv = self.srv
        self.err("/search", 400, "no q")
        self.err("/search?k=3", 400, "k but no q")
        self.err("/search?q=%ff", 400, "invalid UTF-8")
        self.err("/search?q=%c3%28", 400, "invalid UTF-8 sequence")
        self.err("/search?q=%ed%a0%80", 400, "UTF-8 surrogate")
        self.err("/search?q=%ZZ", 400, "%ZZ")
        self.err("/search?q=ab%2", 400, "truncated percent escape")
        for k in ("0", "-1", "abc", "", "99999", "11", "1.5", "+3", "0x3", "%31%31", "%2B3", "%3",
                  "%ZZ"):
            self.err("/search?q=a&k=" + k, 400, "k=%s" % k)
        st, _, plain = srv.get("/search?q=a&k=10&typos=0&words=1")
        self.assertEqual(st, 200, "k = the trie's k is fine")
        # every parameter is percent-decoded as q is (k=%31%30 was refused)
        st, _, enc = srv.get("/search?q=a&k=%31%30&typos=%30&words=%31")
        self.assertEqual((st, enc), (200, plain),
                         "k=%31%30&typos=%30&words=%31 is k=10&typos=0&words=1")
        self.err("/search?q=" + "a" * 1025, 414, "q of 1025 bytes")
        self.err("/search?q=" + qs("é" * 512 + "a"), 414, "q of 1025 bytes, percent-encoded UTF-8")
        st, _, _ = srv.get("/search?q=" + "a" * 1024)
        self.assertEqual(st, 200, "q of 1024 bytes")
        st, _, _ = srv.get("/search?q=" + qs("é" * 512))
        self.assertEqual(st, 200, "q of 1024 bytes of UTF-8")
        for p in ("/nope", "/searchx?q=a", "/search/?q=a", "/searc", "/healthzz", "/metrics/x",
                  "//search?q=a", "/admin"):
            self.err(p, 404, "unknown path %s" % p)
        h = self.err("/search?q=a", 405, "POST /search", method="POST",
                     headers={"Content-Length": "0"})
        self.assertIn("GET", h.get("allow", ""), "405 carries Allow")
        self.err("/healthz", 405, "DELETE /healthz", method="DELETE")
        self.err("/metrics", 405, "PUT /metrics", method="PUT", headers={"Content-Length": "0"})

    # ---- HEAD: headers only (libevhtp would send the body) ----------------------------------
    def test_08_head(self):
        st, hg, bg = self.srv.get("/search?q=new")
        raw = self.srv.raw(b"HEAD /search?q=new HTTP/1.1\r\nHost: t\r\n\r\n"
                           b"GET /search?q=new HTTP/1.1\r\nHost: t\r\n\r\n", wait=10, expect=2)
        resp = split_responses(raw, head_requests=(0,))
        self.assertEqual([r[0] for r in resp], [200, 200], "HEAD then GET on one connection")
        self.assertEqual(resp[0][1].get("content-length"), str(len(bg)),
                         "HEAD Content-Length = GET's")
        self.assertEqual(resp[0][2], b"", "HEAD has no body")
        self.assertEqual(resp[1][2], bg, "the GET after a HEAD is intact")

    # ---- Connection handling: close, HTTP/1.0, HTTP/1.0 keep-alive --------------------------
    def test_09_connection_handling(self):
        srv = self.srv
        out = srv.raw(b"GET /search?q=ne HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                      wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in out and
                        len(split_responses(out)) == 1, "HTTP/1.1 Connection: close is honoured")
        out = srv.raw(b"GET /search?q=ne HTTP/1.0\r\n\r\n", wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.0 200 ") and len(split_responses(out)) == 1,
                        "HTTP/1.0 closes after the answer")
        out = srv.raw(b"GET /search?q=ne HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                      b"GET /search?q=ga HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wait=10,
                      expect=2)
        self.assertEqual([r[0] for r in split_responses(out)], [200, 200], "HTTP/1.0 keep-alive")

    # ---- Hostile requests (raw sockets); the server keeps answering after each -------------
    def alive(self, what):
        st, _, _ = self.srv.get("/healthz")
        self.assertEqual(st, 200, "server answers after " + what)

    def test_10_hostile_requests(self):
        srv = self.srv
        out = srv.raw(b"GET /search?q=" + b"a" * 10240 + b" HTTP/1.1\r\nHost: t\r\n\r\n", wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), "10 KB URI gives 414: %r" % out[:60])
        self.assertIn(b"Connection: close", out, "10 KB URI: connection closed cleanly")
        self.alive("a 10 KB URI")
        out = srv.raw(b"GET /search?q=" + b"a" * 7990 + b" HTTP/1.1\r\nHost: t\r\n\r\n", wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "),
                        "8 KB URI (q too long) gives 414: %r" % out[:60])
        self.alive("an 8 KB URI")
        out = srv.raw(b"GET /search?q=a HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 9000 +
                      b"\r\n\r\n", wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), "9 KB header gives 431: %r" % out[:60])
        self.alive("a 9 KB header")
        out = srv.raw(b"GET /search?q=a HTTP/1.1\r\n" + b"X-A: 1234567890\r\n" * 3000 + b"\r\n",
                      wait=10)
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "),
                        "48 KB header block gives 431: %r" % out[:60])
        self.alive("a 48 KB header block")
        for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"get /search?q=a HTTP/1.1\r\n\r\n",
                     b"GET /search?q=a\r\n\r\n", b"GET  HTTP/1.1\r\n\r\n",
                     b"GET /search?q=\x01\xff HTTP/1.1\r\n\r\n"):
            with self.subTest(junk=junk):
                out = srv.raw(junk, wait=10)
                self.assertTrue(out.startswith(b"HTTP/1.1 400 "), "malformed %r gives 400: %r" %
                                (junk[:20], out[:40]))
                self.alive("malformed request %r" % junk[:20])
        out = srv.raw(b"FOO /search?q=a HTTP/1.1\r\nHost: t\r\n\r\n", wait=10, expect=1)
        self.assertTrue(out.startswith(b"HTTP/1.1 405 "), "unknown method gives 405: %r" % out[:40])
        out = srv.raw(b"GET /search?q=%ff%fe HTTP/1.1\r\nHost: t\r\n\r\n", wait=10, expect=1)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), "raw invalid UTF-8 gives 400")

    def test_11_half_sent_request(self):
        # Half-sent request: others are served meanwhile, then it completes.
        half = socket.create_connection(("127.0.0.1", self.srv.port))
        half.sendall(b"GET /search?q=ne HTTP/1.1\r\nHost: t\r\n")
        time.sleep(0.3)
        st, _, _ = self.srv.get("/search?q=new")
        self.assertEqual(st, 200, "served while another request is half-sent")
        half.settimeout(10 if not SLOW else 60)
        half.sendall(b"\r\n")
        data = recv_while(half, lambda data: b"}" not in data)
        half.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "),
                        "the half-sent request is answered once whole")

    def test_12_pipelining(self):
        # Pipelined requests: several in one write, all answered, in order.
        srv = self.srv
        reqs = [("ne", 200), ("ga", 200), ("zz%ff", 400), ("ca", 200), ("new y", 200)]
        blob = b"".join(b"GET /search?q=%s HTTP/1.1\r\nHost: t\r\n\r\n" %
                        (qs(p).encode() if "%" not in p else p.encode()) for p, _ in reqs)
        blob += b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        # Other endpoints interleaved: /healthz first, /metrics in the middle.
        blob = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + blob
        reqs = [("", 200)] + reqs
        mid = blob.index(b"GET /search?q=ca")
        blob = blob[:mid] + b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n" + blob[mid:]
        reqs.insert(4, ("", 200))
        out = srv.raw(blob, wait=15, expect=len(reqs) + 1)
        resp = split_responses(out)
        self.assertEqual([r[0] for r in resp], [s for _, s in reqs] + [200],
                         "pipelined statuses in order")
        for (p, s), r in zip(reqs, resp):
            if not p:
                continue
            if s == 200:
                self.assertEqual(json.loads(r[2])["q"], p, "pipelined answer order (%r)" % p)
        # Pipelined in several small writes.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(15)
        for i in range(0, len(blob), 7):
            s.sendall(blob[i:i + 7])
        out = recv_while(s, lambda out: len(split_responses(out)) < len(reqs) + 1)
        s.close()
        self.assertEqual([r[0] for r in split_responses(out)], [s for _, s in reqs] + [200],
                         "pipelined requests sent 7 bytes at a time")
        # Pipelined, then a half-close (the client's FIN): every request sent before it is
        # answered, in order, then the server closes (it answered about a tenth before).
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(15 if not SLOW else 60)
        s.sendall(b"".join(b"GET /search?q=n%d HTTP/1.1\r\nHost: t\r\n\r\n" % i
                           for i in range(2000)))
        s.shutdown(socket.SHUT_WR)
        resp = split_responses(recv_until_close(s))
        s.close()
        self.assertEqual([json.loads(r[2])["q"] for r in resp], ["n%d" % i for i in range(2000)],
                         "pipelined requests before a half-close: all answered, in order")
        self.alive("pipelining")

    # ---- /healthz, /metrics, / ---------------------------------------------------------------
    def test_13_healthz_metrics_demo(self):
        srv = self.srv
        st, h, body = srv.get("/healthz")
        hz = json.loads(body)
        self.assertEqual(st, 200, "healthz")
        self.assertTrue(hz.get("trie") and hz["trie"]["version"] in self.etag,
                        "healthz trie version in ETag")
        self.assertIn("version", hz.get("filters", {}), "healthz names the filter version")
        self.assertEqual(hz["trie"]["k"], 10, "healthz trie k")
        st, h, body = srv.get("/metrics")
        text = body.decode()
        self.assertEqual(st, 200, "metrics")
        self.assertTrue(h.get("content-type", "").startswith("text/plain"),
                        "metrics content type")
        for needle in ('typeahead_requests_total{endpoint="search",code="200"}',
                       'typeahead_requests_total{endpoint="search",code="400"}',
                       'typeahead_requests_total{endpoint="search",code="414"}',
                       'typeahead_requests_total{endpoint="other",code="404"}',
                       'typeahead_request_duration_seconds_bucket{endpoint="search",le="+Inf"}',
                       "typeahead_trie_age_seconds", "typeahead_trie_loaded_age_seconds",
                       'typeahead_reloads_total{result="failed"}', "typeahead_filter_hits_total",
                       "typeahead_gate_rejects_total"):
            with self.subTest(needle=needle):
                self.assertIn(needle, text, "metrics has %s" % needle)
        for line in text.splitlines():
            if line.startswith('typeahead_requests_total{endpoint="search",code="200"}'):
                self.assertGreaterEqual(int(line.split()[-1]), N_PREFIXES,
                                        "search 200 count: " + line)
            if line.startswith("typeahead_gate_rejects_total "):
                self.assertGreaterEqual(int(line.split()[-1]), 8, "gate rejects counted: " + line)
        self.check_histograms(text)
        st, h, body = srv.get("/")
        self.assertEqual(st, 200, "demo page")
        self.assertTrue(h.get("content-type", "").startswith("text/html") and b"<" in body,
                        "demo is HTML")

    def check_histograms(self, text):
        """The latency histogram of each endpoint as Prometheus defines one: buckets by
        increasing le, cumulative, the +Inf one equal to _count; _count the endpoint's requests
        (typeahead_requests_total, every code); _sum in seconds, within what the buckets say."""
        fam = {}
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name.startswith("typeahead_request"):
                fam[name] = float(value)
        for ep in ("search", "healthz", "metrics", "other"):
            with self.subTest(endpoint=ep):
                tag = 'endpoint="%s"' % ep
                buckets = [(float(n.split('le="')[1].rstrip('"}')), v) for n, v in fam.items()
                           if n.startswith("typeahead_request_duration_seconds_bucket{" + tag)]
                les = [le for le, _ in buckets]
                self.assertEqual(les, sorted(les), "buckets by increasing le")
                self.assertEqual(les[-1], float("inf"), "the last bucket is +Inf")
                counts = [v for _, v in buckets]
                self.assertEqual(counts, sorted(counts), "cumulative buckets: %r" % buckets)
                count = fam["typeahead_request_duration_seconds_count{%s}" % tag]
                self.assertEqual(counts[-1], count, "+Inf bucket = _count")
                requests = sum(v for n, v in fam.items()
                               if n.startswith("typeahead_requests_total{" + tag + ","))
                self.assertEqual(count, requests, "_count = the endpoint's requests")
                # each request in bucket (le before, le] took that long: _sum lies between
                low = high = 0.0
                for (le0, c0), (le, c) in zip([(0.0, 0)] + buckets, buckets):
                    low += (c - c0) * le0
                    high += (c - c0) * le if c > c0 else 0.0
                total = fam["typeahead_request_duration_seconds_sum{%s}" % tag]
                self.assertTrue(low * (1 - 1e-6) <= total <= high * (1 + 1e-6) + 1e-9,
                                "_sum %r s outside [%r, %r], what the buckets %r allow"
                                % (total, low, high, buckets))

    # ---- Admin -------------------------------------------------------------------------------
    def test_14_admin(self):
        srv = self.srv
        auth = {"Authorization": "Bearer s3cret-token"}
        st, h, _ = srv.get("/admin/reload", method="POST")
        self.assertEqual(st, 401, "admin without a token")
        self.assertIn("Bearer", h.get("www-authenticate", ""), "401 names the Bearer scheme")
        st, _, _ = srv.get("/admin/reload", {"Authorization": "Bearer s3cret-tokeX"},
                           method="POST")
        self.assertEqual(st, 401, "admin with a wrong token")
        st, _, _ = srv.get("/admin/reload", {"Authorization": "Bearer s3cret-token-longer"},
                           method="POST")
        self.assertEqual(st, 401, "admin with a longer token")
        st, _, body = srv.get("/admin/reload", auth, method="POST")
        self.assertEqual(st, 200, "admin reload with the token")
        self.assertEqual(json.loads(body).get("reloaded"), True, "admin reload body")
        st, h, _ = srv.get("/admin/reload", auth)
        self.assertEqual(st, 405, "GET /admin/reload")
        st, _, _ = srv.get("/admin/nothing", auth)
        self.assertEqual(st, 404, "unknown admin path")

    def test_14b_admin_token_refused(self):
        """A token no 'Authorization: Bearer' header can carry (whitespace or a control byte
        in it, or no token at all once the trailing newline is dropped) never matches: the
        server refuses to start and says which file and what is wrong."""
        path = os.path.join(WORK, "bad-token")
        for content, why in ((b" s3cret-token\n", "byte 1 of the token is a space (0x20)"),
                             (b"s3cret token\n", "byte 7 of the token is a space (0x20)"),
                             (b"s3cret\ttoken\n", "byte 7 of the token is a tab (0x09)"),
                             (b"s3cret\r\ntoken\n", "byte 7 of the token is a line break (0x0d)"),
                             (b"s3cret\ntoken\n", "byte 7 of the token is a line break (0x0a)"),
                             (b"s3cret\x00token\n", "byte 7 of the token is a control byte (0x00)"),
                             (b"s3cret\x1btoken", "byte 7 of the token is a control byte (0x1b)"),
                             (b"s3cret\x7ftoken", "byte 7 of the token is a control byte (0x7f)"),
                             (b"", "no token"), (b"\n", "no token"), (b" \t\r\n", "no token")):
            with open(path, "wb") as f:
                f.write(content)
            r = subprocess.run([ARGS.serve, "--trie", TRIE, "--admin-token-file", path,
                                "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1, "token %r: the server refuses to start" % content)
            self.assertIn("--admin-token-file %s: %s" % (path, why), r.stderr,
                          "token %r: the log names the file and what is wrong" % content)
            self.assertNotIn("listening on", r.stderr, "token %r: nothing listens" % content)

    def test_14c_cors_origin_refused(self):
        """--cors-origin is written into every answer's header block as it is: a value with a
        line break wrote a header of its own (Set-Cookie here), one with a space or a control
        byte a broken one. Such a value (no origin has one) or an empty one refuses the start,
        as --market-header does; an origin, * and null start."""
        for origin in ("http://x\r\nSet-Cookie: a=b", "http://x\n", "http://x y", "http://x\t",
                       "http://x\x7f", "http://\u00e9.example", ""):
            p = subprocess.Popen([ARGS.serve, "--trie", TRIE, "--cors-origin", origin,
                                  "--listen", "127.0.0.1:0"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            try:
                _, err = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.fail("origin %r: the server started and ran" % origin)
            self.assertEqual(p.returncode, 1, "origin %r: the server refuses to start" % origin)
            self.assertIn("--cors-origin", err, origin)
            self.assertNotIn("listening on", err, "origin %r: nothing listens" % origin)
        for origin in ("https://example.com:8443", "*", "null"):
            srv = Server(ARGS.serve, TRIE, ["--cors-origin", origin])
            try:
                st, h, _ = srv.get("/search?q=a")
                self.assertEqual((st, h.get("access-control-allow-origin")), (200, origin))
            finally:
                self.assertEqual(srv.stop(), 0)

    # ---- Hot swap triggers: rename + watcher, SIGHUP, corrupt file refused ------------------
    def test_15_hot_swap(self):
        srv = self.srv
        auth = {"Authorization": "Bearer s3cret-token"}

        def answer(prefix):
            st, h, body = search(srv, prefix, 3)
            return [s["text"] for s in json.loads(body)["suggestions"]] if st == 200 else None

        freq2 = os.path.join(WORK, "freq2.tsv")
        with open(freq2, "w") as f:
            f.write("zebra crossing\t100\nzebra\t50\nzeal\t10\n")
        build_trie(ARGS.build, freq2, os.path.join(WORK, "next.trie"))
        self.assertEqual(answer("zeb"), [], "before the swap: no zebra")
        t0 = time.time()
        os.rename(os.path.join(WORK, "next.trie"), TRIE)
        self.assertTrue(wait_for(lambda: answer("zeb") == ["zebra crossing", "zebra"],
                                 2.0 if not SLOW else 10.0),
                        "a renamed-in trie is served within 2 s")
        print("watcher picked up the new file in %.2fs" % (time.time() - t0))
        st, h, _ = search(srv, "zeb")
        self.assertNotEqual(h.get("etag"), self.etag, "the ETag changes with the trie")

        with open(TRIE, "rb") as f:
            good = f.read()
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0x40
        with open(os.path.join(WORK, "bad.trie"), "wb") as f:
            f.write(bad)

        def failed_reloads():
            text = srv.get("/metrics")[2].decode()
            for line in text.splitlines():
                if line.startswith('typeahead_reloads_total{result="failed"}'):
                    return int(line.split()[-1])
            return -1

        f0 = failed_reloads()
        os.rename(os.path.join(WORK, "bad.trie"), TRIE)
        self.assertTrue(wait_for(lambda: failed_reloads() == f0 + 1, 3.0 if not SLOW else 15.0),
                        "a corrupt file is refused and counted")
        self.assertEqual(answer("zeb"), ["zebra crossing", "zebra"], "the old trie keeps serving")
        st, _, body = srv.get("/admin/reload", auth, method="POST")
        self.assertEqual(st, 422, "admin reload of a corrupt file: 422")
        self.assertIn(b"refused", body, "admin reload says why")
        self.assertIn("refused", srv.text(), "the refusal is logged")

        # SIGHUP: write the original trie in place of the corrupt one and signal at once.
        build_trie(ARGS.build, FREQ, os.path.join(WORK, "again.trie"))
        os.rename(os.path.join(WORK, "again.trie"), TRIE)
        srv.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: answer("zeb") == [], 2.0 if not SLOW else 10.0),
                        "SIGHUP swaps the trie in")
        st, _, _ = srv.get("/healthz")
        self.assertEqual(st, 200, "healthz after the swaps")

    # ---- SIGTERM with an idle keep-alive connection open and a request half sent: the request
    # is answered with "Connection: close" (evhtp_request_set_keepalive(req, 0) is a no-op in
    # libevhtp 1.2.18) and its connection closed at once; drains, exits 0 -------------------
    def test_15b_port_taken(self):
        """A second server on the port of a running one (or of any socket listening with
        SO_REUSEPORT as the same user) refuses to start: joining the port's SO_REUSEPORT group
        silently split the connections between two processes, each serving its own files."""
        srv = self.srv
        r = subprocess.run([ARGS.serve, "--trie", TRIE, "--listen", "127.0.0.1:%d" % srv.port],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, "a second server on the same port refuses to start")
        self.assertIn("in use", r.stderr, "and says why: %r" % r.stderr[-300:])
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        try:
            r = subprocess.run([ARGS.serve, "--trie", TRIE, "--listen",
                                "127.0.0.1:%d" % other.getsockname()[1]],
                               capture_output=True, text=True, timeout=30)
        finally:
            other.close()
        self.assertNotEqual(r.returncode, 0, "a port another socket listens on: refused")
        self.alive("a second server on the same port")

    def test_16_sigterm(self):
        srv = self.srv
        idle = srv.conn()
        st, _, _ = srv.get("/healthz", conn=idle)
        half = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        time.sleep(0.5)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        t0 = time.time()
        half.sendall(b"\r\n")
        out = recv_until_close(half)
        half.close()
        took = time.time() - t0
        rc = srv.stop()
        idle.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close\r\n" in out,
                        "a request in flight at SIGTERM is answered with Connection: close")
        self.assertLess(took, 4.0, "and its connection closed at once (%.1f s), not at the "
                        "drain deadline" % took)
        self.assertEqual(rc, 0, "exit status after SIGTERM")


class StopWithBacklog(ServerCase):
    """SIGTERM while clients wait in the accept queue, their requests sent: each gets an answer
    (200, or 503 with Retry-After from the stopping server), none a reset. Closing the listener
    reset them (13 of 50 in one run); they are now answered before it closes."""

    def test_sigterm_with_a_full_accept_queue(self):
        trie = os.path.join(WORK, "stop.trie")
        build_trie(ARGS.build, FREQ, trie)
        got = {}
        for round_ in range(3):
            srv = self.serve("stop %d" % round_, ARGS.serve, trie, ["--threads", "2"],
                             wrapper=WRAPPER)
            srv.signal(signal.SIGSTOP)  # the workers accept nothing: the kernel queues
            socks = []
            for _ in range(40):
                s = socket.create_connection(("127.0.0.1", srv.port))
                s.sendall(b"GET /search?q=a HTTP/1.1\r\nHost: t\r\n\r\n")
                socks.append(s)
            srv.signal(signal.SIGTERM)
            srv.signal(signal.SIGCONT)
            for s in socks:
                s.settimeout(30)
                try:
                    data = recv_until_close(s)
                    what = data[:12].decode(errors="replace") if data else "closed, no answer"
                except ConnectionResetError:
                    what = "reset"
                s.close()
                got[what] = got.get(what, 0) + 1
            self.assertEqual(srv.stop(), 0, "exit status after SIGTERM")
        self.assertEqual(set(got) - {"HTTP/1.1 200", "HTTP/1.1 503"}, set(),
                         "every waiting client is answered: %r" % got)

    def test_sigterm_with_idle_connections(self):
        """Idle connections at SIGTERM (a kept-alive one between requests, a new one that has
        sent nothing yet) are closed at once, but a request its client sends meanwhile (it
        cannot know) finds the stopping server's 503 there, not a silent close or a reset: the
        503 goes out before the close. Here the requests go after the close, the latest a
        request can arrive between the server's look at the socket and its close."""
        trie = os.path.join(WORK, "idle.trie")
        build_trie(ARGS.build, FREQ, trie)
        srv = self.serve("stop idle", ARGS.serve, trie, ["--threads", "1"], wrapper=WRAPPER)
        req = b"GET /search?q=a HTTP/1.1\r\nHost: t\r\n\r\n"
        kept = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        kept.sendall(req)
        first = recv_while(kept, lambda out: count_responses(out) < 1)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "), first[:60])
        fresh = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        # accepted: both, and the connection that asks
        self.assertTrue(wait_for(
            lambda: srv.metric('typeahead_connections{worker="0"}') == 3, 10))
        self.assertEqual(srv.stop(), 0, "exit status after SIGTERM")  # both closed: it exits
        for name, s in (("kept alive", kept), ("new", fresh)):
            try:
                s.sendall(req)
                out = recv_until_close(s)
            except (ConnectionResetError, BrokenPipeError) as e:
                out = repr(e).encode()
            s.close()
            self.assertTrue(out.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 1\r\n" in out,
                            "%s connection: %r" % (name, out[:80]))


class NoTokenNoTrie(ServerCase):
    """Without a token file admin is off; without a trie: 503 until one appears (in order)."""

    @classmethod
    def setUpClass(cls):
        cls.missing = os.path.join(WORK, "later.trie")
        cls.srv = cls.serve("server 2", ARGS.serve, cls.missing, wrapper=WRAPPER, tail=3000)

    def test_1_admin_off(self):
        st, _, _ = self.srv.get("/admin/reload", {"Authorization": "Bearer x"}, method="POST")
        self.assertEqual(st, 404, "admin endpoints are off without a token file")

    def test_2_503_without_a_trie(self):
        st, _, body = self.srv.get("/healthz")
        self.assertEqual(st, 503, "healthz without a trie")
        self.assertEqual(json.loads(body).get("trie"), None, "healthz says no trie")
        st, _, _ = self.srv.get("/search?q=a")
        self.assertEqual(st, 503, "search without a trie")

    def test_3_trie_appears(self):
        srv2 = self.srv
        build_trie(ARGS.build, FREQ, self.missing + ".tmp")
        os.rename(self.missing + ".tmp", self.missing)
        end = time.time() + (2.0 if not SLOW else 10.0)
        while time.time() < end and srv2.get("/healthz")[0] != 200:
            time.sleep(0.05)
        self.assertEqual(srv2.get("/healthz")[0], 200, "a trie that appears is served within 2 s")
        self.assertEqual(srv2.get("/search?q=a")[0], 200, "search once the trie is there")

    def test_4_sigint(self):
        self.srv.signal(signal.SIGINT)
        self.assertEqual(self.srv.stop(), 0, "exit status after SIGINT")


if __name__ == "__main__":
    ap = server_args()  # --query: typeahead-query, to compare every answer with
    ap.add_argument("--wrapper", default="", help="command prefix for the server (valgrind ...)")
    ap.add_argument("--prefixes", type=int, default=300)
    ap.add_argument("--skip", default="", help="reason to skip this run (printed), e.g. under ASan")
    ARGS, rest = ap.parse_known_args()
    if ARGS.skip:
        print("SKIP:", ARGS.skip)
        sys.exit(77)
    WRAPPER = shlex.split(ARGS.wrapper)
    SLOW = bool(WRAPPER)
    N_PREFIXES = 40 if SLOW else ARGS.prefixes
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
