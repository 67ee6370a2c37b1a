#!/usr/bin/python3
"""A sharded node whose peer is hostile or broken (SPEC §11): the node of shard 0 of a 2-shard
trie, whose only replica of shard 1 is a fake peer run by this script. Whatever the peer does,
the client gets the peer's real answer or 502, within the --peer-timeout-ms of the attempt,
and the node keeps answering its own prefixes.

- A well-formed answer (plain or chunked) is relayed; a merge (the empty prefix) takes the
  peer's msgpack hits.
- A peer that hangs, trickles its answer a byte at a time (each byte within the timeout, the
  whole far past it), answers garbage, a body over the limit (with Content-Length or
  chunked), closes mid-body, sends bytes after its answer (a second answer in the same write,
  which must not pass for the answer to the next request), or answers a status no node gives
  (1xx, 204, 3xx but 304, 600+): 502, in about the timeout.
- A merge whose peer sends a score that is not a finite number: 502, not a suggestion; so is
  a part with one key twice (two spellings) or two lists of suggestions; a words part with a key
  twice is left out (partial).
- An ETag no node gives (cut at 95 bytes, unquoted, a control byte): the answer is relayed
  without it and not kept; so is a 200 whose body is not an answer's start (empty, not a JSON
  object or msgpack map).
- A Content-Type cut at 63 bytes or with a control byte is relayed as
  application/octet-stream.
- A forwarded request for a prefix short of exact matches asks the other shards afresh, never
  answered from the answer kept for direct requests.
- A words part (the owner's prefix short of exact matches) is shown as the peer sent it; a
  broken one (a span past its text, even after a good match, not a word match, a hang,
  garbage) leaves all the peer's word matches out: 200, an ETag marked partial, in about the
  timeout.
- A words part or a merge's part without an ETag a node gives (none, or one that would not be
  relayed): the answer has no ETag (never a 304) and is not kept, so it changes when the part
  does.
- Two shards whose parts carry the same ETag (TwoPeersOneETag, shard 0 of 3): the merged ETag
  still changes when both parts do.

usage: test_hostile_peers.py --serve PATH --build PATH [unittest arguments]
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import ServerCase, make_freq, server_args  # noqa: E402

ARGS = None
TIMEOUT_MS = 300
PEER_CACHE_MS = 2000  # the node with a cache keeps a words merge this long


def mp_str(b):
    b = b.encode() if isinstance(b, str) else b
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b


def mp_answer(hits):
    """msgpack {"q":"", "suggestions":[{"text":t,"score":s}...]} (s a float64)."""
    out = b"\x82" + mp_str("q") + mp_str("") + mp_str("suggestions") + bytes([0x90 | len(hits)])
    for text, score in hits:
        out += b"\x82" + mp_str("text") + mp_str(text) + mp_str("score") + b"\xcb"
        out += struct.pack(">d", score)
    return out


def mp_words(hits):
    """A words part's msgpack answer: [(text, score, match, [[start, length], ...])...]."""
    out = b"\x82" + mp_str("q") + mp_str("") + mp_str("suggestions") + bytes([0x90 | len(hits)])
    for text, score, match, spans in hits:
        out += b"\x84" + mp_str("text") + mp_str(text) + mp_str("score") + b"\xcb"
        out += struct.pack(">d", score) + mp_str("match") + mp_str(match) + mp_str("highlight")
        out += bytes([0x90 | len(spans)])
        for a, n in spans:
            out += b"\x92" + bytes([a, n])  # positive fixints: offsets under 128
    return out


OK_JSON = b'{"q":"peer","suggestions":[{"text":"from the peer","score":7}]}'
EXTRA_JSON = b'{"q":"extra","suggestions":[{"text":"sent after the answer","score":9}]}'


def response(status, body, ctype="application/json", extra=b""):
    return (b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" %
            (status, ctype.encode(), len(body), extra)) + body


class FakePeer:
    """Answers every request on its socket as `mode` says (set by the test)."""

    def __init__(self):
        self.mode = "ok"
        self.requests = 0  # answered or not, counted as they come
        self.odd_etag = b'"odd"'  # the ETag of mode "odd-etag" (set by the test)
        self.odd_body = b""  # the body of mode "odd-body" (set by the test)
        self.odd_ctype = b"text/plain"  # the Content-Type of mode "odd-ctype" (set by the test)
        # the ETag of a part (mode "ok" in msgpack, "words..."), as a node gives one; None: none
        self.part_etag = b'"part-1"'
        self.merge_text = "zz top"  # a key of the shard it stands for (set by the test)
        self.wrong_text = "aa top"  # a key of another shard
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                if not self.answer(c, self.mode, b"msgpack" in head.lower()):
                    return
        except OSError:
            pass
        finally:
            c.close()

    def answer(self, c, mode, msgpack):
        """Sends mode's answer; False: the connection is done."""
        self.requests += 1
        part_etag = b"ETag: " + self.part_etag + b"\r\n" if self.part_etag is not None else b""
        if mode == "ok":
            c.sendall(response(b"200 OK", mp_answer([(self.merge_text, 1e12)]),
                               "application/msgpack", part_etag)
                      if msgpack else response(b"200 OK", OK_JSON))
        elif mode == "odd-etag":  # a node's answer with the ETag header set by the test
            c.sendall(response(b"200 OK", OK_JSON, "application/json; charset=utf-8",
                               b"ETag: " + self.odd_etag + b"\r\n"))
        elif mode == "odd-ctype":  # a node's answer with the Content-Type set by the test
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + self.odd_ctype +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(OK_JSON) + OK_JSON)
        elif mode == "odd-body":  # a node's headers with the body set by the test
            c.sendall(response(b"200 OK", self.odd_body, "application/msgpack" if msgpack else
                               "application/json; charset=utf-8", b'ETag: "odd"\r\n'))
        elif mode.startswith("owner"):  # as a node answers: its ETag, unless "owner-no-etag"
            etag = b"" if mode == "owner-no-etag" else b'ETag: "%s"\r\n' % mode.encode()
            c.sendall(response(b"200 OK", OK_JSON, "application/json; charset=utf-8", etag))
        elif mode == "words-then-bad":  # a words part whose second match is broken
            c.sendall(response(b"200 OK", mp_words([(self.word_text, 5e11, "words", [[3, 4]]),
                                                    (self.word_text + "x", 4e11, "words",
                                                     [[3, 90]])]),
                               "application/msgpack", part_etag))
        elif mode.startswith("words"):  # a words part: one word match of shard 1
            match, span = {"words": ("words", 4), "words-bad-span": ("words", 90),
                           "words-prefix": ("prefix", 4)}[mode]
            c.sendall(response(b"200 OK", mp_words([(self.word_text, 5e11, match, [[3, span]])]),
                               "application/msgpack", part_etag))
        elif mode == "wrong-shard":  # a wrong peers file: another shard's node answers
            c.sendall(response(b"200 OK", mp_answer([(self.wrong_text, 1e12)]),
                               "application/msgpack"))
        elif mode == "chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(OK_JSON), 10):
                part = OK_JSON[i:i + 10]
                c.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            c.sendall(b"0\r\n\r\n")
        elif mode == "same-key":  # one key twice (two spellings), in a merge's part
            c.sendall(response(b"200 OK", mp_answer([(self.merge_text, 1e12),
                                                     (self.merge_text.upper(), 9e11)]),
                               "application/msgpack", part_etag))
        elif mode == "two-lists":  # a part whose map holds "suggestions" twice
            q = mp_str("q") + mp_str("")
            lst = mp_answer([(self.merge_text, 1e12)])[1 + len(q):]  # "suggestions": [...]
            c.sendall(response(b"200 OK", b"\x83" + q + lst + lst, "application/msgpack",
                               part_etag))
        elif mode == "same-key-words":  # a words part with one key twice
            c.sendall(response(b"200 OK", mp_words([(self.word_text, 5e11, "words", [[3, 4]]),
                                                    (self.word_text.upper(), 4e11, "words",
                                                     [[3, 4]])]),
                               "application/msgpack", part_etag))
        elif mode == "inf":
            c.sendall(response(b"200 OK", mp_answer([(self.merge_text, float("inf"))]),
                               "application/msgpack"))
        elif mode == "hang":
            time.sleep(TIMEOUT_MS * 10 / 1000)
            return False
        elif mode == "trickle":  # a byte every TIMEOUT_MS / 3: ~40 s for the whole answer
            for b in response(b"200 OK", OK_JSON + b" " * 60):
                c.sendall(bytes([b]))
                time.sleep(TIMEOUT_MS / 3000)
        elif mode == "garbage":
            c.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
            return False
        elif mode == "huge":
            c.sendall(response(b"200 OK", b"x" * (1 << 20)))
        elif mode == "huge-chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(20):
                c.sendall(b"10000\r\n" + b"y" * 0x10000 + b"\r\n")
            c.sendall(b"0\r\n\r\n")
        elif mode == "two-answers":  # its answer and, in the same write, another one
            first = (response(b"200 OK", mp_answer([(self.merge_text, 1e12)]),
                              "application/msgpack", part_etag) if msgpack else
                     response(b"200 OK", OK_JSON, "application/json", b'ETag: "one"\r\n'))
            c.sendall(first + response(b"200 OK", EXTRA_JSON, "application/json",
                                       b'ETag: "two"\r\n'))
        elif mode == "mid-body":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + OK_JSON[:20])
            return False
        elif mode.startswith("status "):
            c.sendall(response(mode[7:].encode() + b" Odd", b'{"odd":1}', "text/html"))
        return True


def shard_letter(map_path, shard):
    """A lower-case ASCII letter whose keys belong to shard (from the map's ranges)."""
    with open(map_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#") and parts[2] == str(shard):
                lo, hi = int(parts[0], 16), int(parts[1], 16)
                for c in range(max(lo, ord("a")), min(hi, ord("z")) + 1):
                    return chr(c)
    raise AssertionError("no letter of shard %d in %s" % (shard, map_path))


def build_shards(work, shards):
    """A generated frequency list built as `shards` prefix shards under work/shards."""
    freq = os.path.join(work, "q.freq")
    make_freq(freq, n=1500)
    d = os.path.join(work, "shards")
    subprocess.run([ARGS.build, "--freq", freq, "--shards", str(shards), "--out-dir", d],
                   check=True, capture_output=True)
    return d


class HostilePeer(ServerCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ta-peers-test-")
        d = build_shards(cls.work, 2)
        cls.peer = FakePeer()
        peers = os.path.join(cls.work, "peers")
        with open(peers, "w") as f:
            f.write("1\t127.0.0.1:%d\n" % cls.peer.port)
        cls.mine = shard_letter(os.path.join(d, "shards.map"), 0)
        cls.theirs = shard_letter(os.path.join(d, "shards.map"), 1)
        cls.peer.merge_text = cls.theirs * 2 + " top"
        cls.peer.wrong_text = cls.mine * 2 + " top"
        # a prefix of shard 0 that no key starts with, and a key of shard 1 with a later word
        # that starts with it: a word match only shard 1 has
        cls.word_q = cls.mine + "qzx"
        cls.peer.word_text = cls.theirs * 2 + " " + cls.word_q + "w"
        shard_args = ["--shard-map", os.path.join(d, "shards.map"), "--shard", "0",
                      "--peers", peers, "--answer-cache-mb", "0", "--threads", "1",
                      "--peer-timeout-ms", str(TIMEOUT_MS)]
        cls.node = cls.serve("node", ARGS.serve, os.path.join(d, "shard-0.trie"), shard_args)
        # the same node with its answer cache on: answers with the other shard's word matches
        # are kept for PEER_CACHE_MS
        cached_args = [a if a != "0" or shard_args[i - 1] != "--answer-cache-mb" else "8"
                       for i, a in enumerate(shard_args)]
        cls.cached = cls.serve("cached", ARGS.serve, os.path.join(d, "shard-0.trie"),
                               cached_args + ["--peer-cache-ms", str(PEER_CACHE_MS)])
        # the same node with a trending trie of both shards' keys, scored to be mixed in
        trend_freq, trend = os.path.join(cls.work, "trend.freq"), os.path.join(cls.work, "t.trie")
        with open(trend_freq, "w") as f:
            for c in (cls.mine, cls.theirs):
                f.write("%s%s rising\t1000000\n" % (c, c))
        subprocess.run([ARGS.build, "--freq", trend_freq, "--out", trend], check=True,
                       capture_output=True)
        cls.trending = cls.serve("trending", ARGS.serve, os.path.join(d, "shard-0.trie"),
                                 shard_args + ["--trending", trend])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.peer.sock.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def ask(self, mode, q):
        self.peer.mode = mode
        t0 = time.monotonic()
        st, h, body = self.node.get("/search?q=" + q)
        return st, h, body, time.monotonic() - t0

    def assert_failed(self, mode, q):
        st, _, body, secs = self.ask(mode, q)
        self.assertEqual(st, 502, "%s, q=%s: %r" % (mode, q, body[:200]))
        self.assertIn(b'"error"', body)
        # one attempt (the only replica), bounded by its timeout; generous for a loaded machine
        self.assertLess(secs, 6 * TIMEOUT_MS / 1000 + 1, "%s, q=%s: answered late" % (mode, q))
        st, _, body = self.node.get("/search?q=" + self.mine)
        self.assertEqual(st, 200, "%s: the node's own prefixes still answered" % mode)
        self.assertTrue(json.loads(body)["suggestions"])

    def test_good_answers_relayed(self):
        for mode in ("ok", "chunked"):
            st, h, body, _ = self.ask(mode, self.theirs)
            self.assertEqual((st, body), (200, OK_JSON), mode)
        st, _, body, _ = self.ask("ok", "%20")
        self.assertEqual(st, 200)
        top = json.loads(body)["suggestions"][0]
        self.assertEqual((top["text"], top["score"]), (self.peer.merge_text, 1000000000000))

    def test_trickled_answer_cut_at_the_timeout(self):
        self.assert_failed("trickle", self.theirs)
        self.assert_failed("trickle", "%20")

    def test_broken_answers_are_failures(self):
        for mode in ("hang", "garbage", "huge", "huge-chunked", "mid-body"):
            self.assert_failed(mode, self.theirs)
            self.assert_failed(mode, "%20")

    def test_bytes_after_an_answer(self):
        # A second answer in the same write as the first: libevent's client read it as the
        # answer to the next request on that connection (another prefix's, relayed and kept).
        # The attempt with bytes after its answer fails, the bytes go, the next is answered.
        for q in (self.theirs, "%20"):
            sent = self.peer.requests
            self.assert_failed("two-answers", q)
            st, _, body, _ = self.ask("ok", self.theirs + self.theirs)
            self.assertEqual((st, body), (200, OK_JSON), "q=%s: the next answer" % q)
            self.assertEqual(self.peer.requests, sent + 2, "q=%s: one request each" % q)

    def test_statuses_no_node_gives(self):
        for status in ("101", "204", "206", "302", "600", "999"):
            self.assert_failed("status " + status, self.theirs)
        # a 4xx is the owner's answer to the request: relayed
        st, _, body, _ = self.ask("status 404", self.theirs)
        self.assertEqual((st, body), (404, b'{"odd":1}'))

    def test_merge_score_not_finite(self):
        self.assert_failed("inf", "%20")

    def test_merge_part_without_trending(self):
        # A peer's part of the empty prefix's merge carries no trending suggestions (every node
        # holds the whole trending trie: each part would add the same ones, of any shard)
        fwd = {"X-Typeahead-Forwarded": "0", "Accept": "application/msgpack"}
        st, _, body = self.trending.get("/search?q=", headers=fwd)
        st0, _, body0 = self.node.get("/search?q=", headers=fwd)
        self.assertEqual((st, st0), (200, 200))
        self.assertEqual(body, body0, "the part as without trending")
        self.assertNotIn(b"rising", body)
        # a prefix is still mixed on the node that owns it, forwarded or not
        for h in ({}, {"X-Typeahead-Forwarded": "0"}):
            st, _, body = self.trending.get("/search?q=" + self.mine, headers=h)
            self.assertEqual(st, 200)
            got = [(g["text"], g.get("trending")) for g in json.loads(body)["suggestions"]]
            self.assertIn((self.mine * 2 + " rising", True), got, h)

    def test_words_part(self):
        # the owner of a prefix without exact matches asks the other shard for its word
        # matches and shows them as it got them
        st, h, body, _ = self.ask("words", self.word_q)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["suggestions"],
                         [{"text": self.peer.word_text, "score": 500000000000, "match": "words",
                           "highlight": [[3, 4]]}])
        self.assertRegex(h["etag"], r'^"w[0-9a-f]{16}-j"$')
        st2, _, _, _ = self.ask("words", self.word_q + "&k=3")
        self.assertEqual(st2, 200)
        # a word query with enough exact matches asks no other shard
        self.peer.mode = "hang"
        st3, h3, body3 = self.node.get("/search?q=" + self.mine)
        self.assertEqual(st3, 200)
        self.assertNotRegex(h3["etag"], r'^"w')

    def test_words_part_broken(self):
        # a span past the text, a match that is not a word match (an old node's whole answer),
        # a peer that hangs or answers garbage: the owner's own answer, marked partial, in time;
        # a part broken after a good match leaves that one out too (taken whole or not at all)
        for mode in ("words-bad-span", "words-then-bad", "words-prefix", "ok", "hang", "garbage",
                     "inf"):
            st, h, body, secs = self.ask(mode, self.word_q)
            self.assertEqual(st, 200, "%s: %r" % (mode, body[:200]))
            self.assertEqual(json.loads(body)["suggestions"], [], mode)
            self.assertRegex(h["etag"], r'^"w[0-9a-f]{16}p-j"$', mode)
            self.assertLess(secs, 6 * TIMEOUT_MS / 1000 + 1, "%s: answered late" % mode)

    def test_parts_without_etag(self):
        # A part that comes without an ETag a node gives (none, or one refused as a relayed
        # answer's is) names its content with nothing: the merged answer gets no ETag (never a
        # 304 for content that changed) and is not kept, on a node with a cache or without
        node, peer = self.cached, self.peer
        word_text, merge_text = peer.word_text, peer.merge_text
        fwd = {"X-Typeahead-Forwarded": "0"}
        try:
            for i, etag in enumerate([None, b"noquotes", b'"x\x01y"', b'"' + b"b" * 150 + b'"']):
                peer.part_etag = etag
                path = "/search?q=%s&k=2&t=%d" % (self.word_q, i)
                for n, hdrs in ((self.node, {}), (node, {}), (node, fwd)):
                    peer.mode, peer.word_text = "words", word_text
                    st, h, body = n.get(path, headers=hdrs)
                    self.assertEqual(st, 200, body)
                    self.assertNotIn("etag", h, (etag, hdrs))
                    self.assertEqual(json.loads(body)["suggestions"][0]["text"], word_text)
                    peer.word_text = word_text + "v"  # the part changed: shown at once
                    asked = peer.requests
                    st, h, body = n.get(path, headers=hdrs)
                    self.assertEqual((st, peer.requests), (200, asked + 1), etag)
                    self.assertNotIn("etag", h, (etag, hdrs))
                    self.assertEqual(json.loads(body)["suggestions"][0]["text"], word_text + "v")
                # the empty prefix's merge
                path = "/search?q=%%20&k=3&t=%d" % i
                for n in (self.node, node):
                    peer.mode, peer.merge_text = "ok", merge_text
                    st, h, body = n.get(path)
                    self.assertEqual(st, 200, body)
                    self.assertNotIn("etag", h, etag)
                    self.assertEqual(json.loads(body)["suggestions"][0]["text"], merge_text)
                    peer.merge_text = merge_text + "s"
                    st, h, body = n.get(path)
                    self.assertEqual(st, 200, body)
                    self.assertNotIn("etag", h, etag)
                    self.assertEqual(json.loads(body)["suggestions"][0]["text"], merge_text + "s")
            # a part's ETag names its content: another one, another merged ETag
            peer.mode, peer.word_text, peer.merge_text = "words", word_text, merge_text
            tags = []
            for etag in (b'"part-1"', b'"part-2"'):
                peer.part_etag = etag
                st, h, _ = self.node.get("/search?q=%s&k=2" % self.word_q)
                self.assertEqual(st, 200)
                tags.append(h["etag"])
            self.assertNotEqual(tags[0], tags[1])
        finally:
            peer.part_etag, peer.word_text, peer.merge_text = b'"part-1"', word_text, merge_text

    def test_words_answer_kept_a_while(self):
        node, peer = self.cached, self.peer
        peer.mode = "words"
        path = "/search?q=" + self.word_q + "&k=4"
        n0 = peer.requests

        def lookups():
            return tuple(node.metric('typeahead_answer_cache_lookups_total{result="%s"}' % r)
                         for r in ("hit", "miss"))
        hit0, miss0 = lookups()
        st, h, body = node.get(path)
        self.assertEqual(st, 200, body)
        self.assertEqual(peer.requests, n0 + 1)
        self.assertEqual(lookups(), (hit0, miss0 + 1), "one request, one miss")
        self.assertEqual(json.loads(body)["suggestions"][0]["text"], self.peer.word_text)
        etag = h["etag"]
        self.assertRegex(etag, r'^"w[0-9a-f]{16}-j"$')
        # within --peer-cache-ms: the same answer and ETag from the cache, no shard asked
        st2, h2, body2 = node.get(path)
        self.assertEqual((st2, h2["etag"], body2), (200, etag, body))
        st3, h3, _ = node.get(path, headers={"If-None-Match": etag})
        self.assertEqual((st3, h3["etag"]), (304, etag))
        self.assertEqual(peer.requests, n0 + 1, "kept answers ask no shard")
        self.assertEqual(lookups(), (hit0 + 2, miss0 + 1))
        # past it: asked again (the other shard's trie may have changed)
        time.sleep(PEER_CACHE_MS / 1000 + 0.3)
        st4, h4, body4 = node.get(path)
        self.assertEqual((st4, h4["etag"], body4), (200, etag, body))
        self.assertEqual(peer.requests, n0 + 2)
        # a partial answer (the shard did not answer) is never kept
        path = "/search?q=" + self.word_q + "&k=3"
        peer.mode = "garbage"
        for _ in range(2):
            st, h, body = node.get(path)
            self.assertEqual(st, 200, body)
            self.assertRegex(h["etag"], r'^"w[0-9a-f]{16}p-j"$')
        self.assertEqual(peer.requests, n0 + 4, "a partial answer is asked again")
        peer.mode = "words"
        st, h, body = node.get(path)
        self.assertRegex(h["etag"], r'^"w[0-9a-f]{16}-j"$')
        self.assertEqual(json.loads(body)["suggestions"][0]["text"], self.peer.word_text)

    def test_forwarded_words_answer_fresh(self):
        # A forwarded request is answered fresh, never from an answer kept for a while: the
        # node that forwarded it keeps the answer for its own --peer-cache-ms, so an answer
        # already kept here would show another shard's old word matches (and old rules) for up
        # to twice that time through it
        node, peer = self.cached, self.peer
        peer.mode = "words"
        path = "/search?q=" + self.word_q + "&k=6"
        fwd = {"X-Typeahead-Forwarded": "0"}
        n = peer.requests
        st, h, body = node.get(path)
        self.assertEqual(st, 200, body)
        self.assertEqual(node.get(path)[2], body)
        self.assertEqual(peer.requests, n + 1, "kept for direct requests")
        for i in range(2):
            st2, h2, body2 = node.get(path, headers=fwd)
            self.assertEqual((st2, h2["etag"], body2), (200, h["etag"], body))
            self.assertEqual(peer.requests, n + 2 + i, "a forwarded request asks again")
        st3, _, _ = node.get(path, headers=dict(fwd, **{"If-None-Match": h["etag"]}))
        self.assertEqual((st3, peer.requests), (304, n + 4))
        self.assertEqual(node.get(path)[2], body)
        self.assertEqual(peer.requests, n + 4, "still kept for direct requests")

    def test_relayed_answer_kept_a_while(self):
        # another shard's prefix: its owner's answer is kept for --peer-cache-ms, under the
        # owner's ETag, so the next requests for it need no hop
        node, peer = self.cached, self.peer
        path = "/search?q=" + self.theirs + "&k=2"
        peer.mode = "owner-1"
        n0 = peer.requests
        st, h, body = node.get(path)
        self.assertEqual((st, body, h["etag"]), (200, OK_JSON, '"owner-1"'))
        peer.mode = "owner-2"  # the owner's trie changed: not seen until the entry is stale
        st2, h2, body2 = node.get(path)
        self.assertEqual((st2, body2, h2["etag"]), (200, OK_JSON, '"owner-1"'))
        self.assertEqual(h2["content-type"], h["content-type"])
        st3, h3, body3 = node.get(path, headers={"If-None-Match": '"owner-1"'})
        self.assertEqual((st3, body3, h3["etag"]), (304, b"", '"owner-1"'))
        self.assertEqual(peer.requests, n0 + 1, "kept answers need no hop")
        st4, _, _ = node.get(path, headers={"Accept": "application/msgpack"})
        self.assertEqual(peer.requests, n0 + 2, "msgpack is another answer")
        time.sleep(PEER_CACHE_MS / 1000 + 0.3)
        st5, h5, _ = node.get(path)
        self.assertEqual((st5, h5["etag"]), (200, '"owner-2"'))
        self.assertEqual(peer.requests, n0 + 3)
        # not kept: an answer without an ETag, a 4xx, one in another type than asked
        for mode, q in (("owner-no-etag", "&k=3"), ("status 404", "&k=4"), ("ok", "&k=5")):
            peer.mode = mode
            path = "/search?q=" + self.theirs + q
            n = peer.requests
            node.get(path)
            node.get(path)
            self.assertEqual(peer.requests, n + 2, mode)
        peer.mode = "owner-1"
        path = "/search?q=" + self.theirs + "&k=6"
        n = peer.requests
        st, _, _ = node.get(path, headers={"If-None-Match": '"owner-1"'})
        self.assertEqual(st, 200)  # the fake peer gives no 304: the 200 is kept
        st, _, _ = node.get(path, headers={"If-None-Match": '"owner-1"'})
        self.assertEqual((st, peer.requests), (304, n + 1))

    def test_merge_kept_a_while(self):
        # the empty prefix's merge, kept for --peer-cache-ms under its ETag; a failed one never
        node, peer = self.cached, self.peer
        peer.mode = "ok"
        n0 = peer.requests
        st, h, body = node.get("/search?q=%20&k=2")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["suggestions"][0]["text"], peer.merge_text)
        peer.mode = "garbage"  # not asked within the time
        st2, h2, body2 = node.get("/search?q=%20&k=2")
        self.assertEqual((st2, h2["etag"], body2), (200, h["etag"], body))
        st3, _, _ = node.get("/search?q=%20&k=2", headers={"If-None-Match": h["etag"]})
        self.assertEqual((st3, peer.requests), (304, n0 + 1))
        time.sleep(PEER_CACHE_MS / 1000 + 0.3)
        self.assertEqual(node.get("/search?q=%20&k=2")[0], 502)  # asked again: it fails
        self.assertEqual(node.get("/search?q=%20&k=2")[0], 502)  # and is not kept
        self.assertEqual(peer.requests, n0 + 3)

    def test_odd_etags_neither_relayed_nor_kept(self):
        # An ETag no node gives (not an entity-tag of visible ASCII between quotes, or longer
        # than the node keeps: it was cut to 95 bytes, its closing quote lost) is not passed
        # on, and the answer without it is not kept; the body is still the owner's.
        node, peer = self.cached, self.peer
        peer.mode = "odd-etag"
        for i, etag in enumerate([b'"' + b"a" * 94 + b'"', b'"' + b"b" * 150 + b'"', b"noquotes",
                                  b'"no end', b'"x\x01y"', b'"x\x7fy"', b'"x"y"', b'"x y"']):
            peer.odd_etag = etag
            path = "/search?q=%s&k=%d" % (self.theirs, i + 1)
            n = peer.requests
            for _ in range(2):
                st, h, body = node.get(path)
                self.assertEqual((st, body), (200, OK_JSON), etag)
                self.assertNotIn("etag", h, etag)
            self.assertEqual(peer.requests, n + 2, "%r: not kept" % etag)
        # the longest a node keeps, and a weak one: relayed and kept
        for i, etag in enumerate([b'"' + b"c" * 93 + b'"', b'W/"weak"']):
            peer.odd_etag = etag
            path = "/search?q=%s&k=%d" % (self.theirs, i + 9)
            n = peer.requests
            for _ in range(2):
                st, h, body = node.get(path)
                self.assertEqual((st, body, h.get("etag")), (200, OK_JSON, etag.decode()))
            self.assertEqual(peer.requests, n + 1, "%r: kept" % etag)

    def test_odd_content_types_not_relayed(self):
        # A Content-Type too long to keep (it was cut at 63 bytes) or with a byte that is not
        # visible ASCII is relayed as application/octet-stream: never cut, no control byte on
        # the wire; one that fits is relayed as it came
        node, peer = self.cached, self.peer
        peer.mode = "odd-ctype"
        long_ct = b"application/json; charset=utf-8; x=" + b"y" * 60
        for i, (ct, want) in enumerate([(long_ct, "application/octet-stream"),
                                        (b"text/ht\x01ml", "application/octet-stream"),
                                        (b"text/html\x7f", "application/octet-stream"),
                                        (b"text/html; charset=\xff", "application/octet-stream"),
                                        (b"text/html;\tcharset=x", "text/html;\tcharset=x")]):
            peer.odd_ctype = ct
            st, h, body = node.get("/search?q=%s%s&k=%d" % (self.theirs, self.mine, i + 1))
            self.assertEqual((st, body, h["content-type"]), (200, OK_JSON, want), ct)

    def test_bodies_no_node_gives_not_kept(self):
        # A 200 whose body is not the start of an answer in the type asked for (empty, or not
        # a JSON object / msgpack map) is relayed as it came, but not kept: the next request
        # asks the owner again, which may have recovered.
        node, peer = self.cached, self.peer
        peer.mode = "odd-body"
        cases = [(b"", False), (b"", True), (b"<html>", False), (b"[1]", False),
                 (b'{"q":"x"}', True), (b"\x91\x01", True)]
        for i, (body, mp) in enumerate(cases):
            peer.odd_body = body
            path = "/search?q=%s&k=%d" % (self.theirs * 2, i + 1)  # no other test's
            hdrs = {"Accept": "application/msgpack"} if mp else {}
            n = peer.requests
            for _ in range(2):
                st, h, got = node.get(path, headers=hdrs)
                self.assertEqual((st, got, h.get("etag")), (200, body, '"odd"'), body)
            self.assertEqual(peer.requests, n + 2, "%r (msgpack %s): not kept" % (body, mp))
        # an answer's start in the type asked for: kept
        for i, (body, mp) in enumerate([(b'{"q":"x"}', False), (b"\x81\xa1q\xa1x", True)]):
            peer.odd_body = body
            path = "/search?q=%s&k=%d" % (self.theirs * 2, i + 7)
            hdrs = {"Accept": "application/msgpack"} if mp else {}
            n = peer.requests
            for _ in range(2):
                st, _, got = node.get(path, headers=hdrs)
                self.assertEqual((st, got), (200, body))
            self.assertEqual(peer.requests, n + 1, "%r: kept" % body)

    def test_words_part_kept_apart(self):
        # a words part and the whole answer to one query string are two answers: the cache
        # keeps them apart
        node = self.cached
        part = {"X-Typeahead-Forwarded": "0", "X-Typeahead-Part": "words",
                "Accept": "application/json"}
        q = "/search?q=" + self.mine
        _, _, whole0 = self.node.get(q)  # the uncached node's answer
        self.assertTrue(json.loads(whole0)["suggestions"])
        st, _, p1 = node.get(q, headers=part)
        self.assertEqual(st, 200)
        self.assertNotIn(b'"match":"prefix"', p1)
        st, _, whole = node.get(q)
        self.assertEqual((st, whole), (200, whole0))
        hits = node.metric('typeahead_answer_cache_lookups_total{result="hit"}')
        st, _, p2 = node.get(q, headers=part)
        self.assertEqual((st, p2), (200, p1))
        # kept under the rules it was filtered by, so found again
        self.assertEqual(node.metric('typeahead_answer_cache_lookups_total{result="hit"}'),
                         hits + 1)
        _, _, whole2 = node.get(q)
        self.assertEqual(whole2, whole0)

    def test_part_with_a_key_twice(self):
        # a part holds each key once (a shard's trie does): one key twice, or a second list of
        # suggestions, is a broken part, not a suggestion shown twice
        self.assert_failed("same-key", "%20")
        self.assert_failed("two-lists", "%20")
        st, h, body, _ = self.ask("same-key-words", self.word_q)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["suggestions"], [], "the broken part left out")
        self.assertRegex(h["etag"], r'^"w[0-9a-f]{16}p-j"$', "partial")

    def test_merge_keys_of_another_shard(self):
        # this node's own keys back from "shard 1": refused, not shown twice
        self.assert_failed("wrong-shard", "%20")


class TwoPeersOneETag(ServerCase):
    """Shard 0 of 3, whose two other shards are fake peers that give their parts the same ETag
    (two nodes may, when their tries and rules are alike): the merged ETag must still change
    when both parts change, each part hashed with its shard."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ta-peers3-test-")
        d = build_shards(cls.work, 3)
        smap = os.path.join(d, "shards.map")
        cls.peers = [FakePeer(), FakePeer()]
        peers = os.path.join(cls.work, "peers")
        with open(peers, "w") as f:
            for i, p in enumerate(cls.peers, 1):
                f.write("%d\t127.0.0.1:%d\n" % (i, p.port))
                p.merge_text = shard_letter(smap, i) * 2 + " top"
        cls.node = cls.serve("node", ARGS.serve, os.path.join(d, "shard-0.trie"),
                             ["--shard-map", smap, "--shard", "0", "--peers", peers,
                              "--answer-cache-mb", "0", "--threads", "1",
                              "--peer-timeout-ms", str(TIMEOUT_MS)])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for p in cls.peers:
            p.sock.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_equal_part_etags_do_not_cancel(self):
        tags = []
        for etag, suffix in ((b'"part-1"', ""), (b'"part-2"', "s")):
            for p in self.peers:
                p.mode, p.part_etag = "ok", etag
                p.merge_text = p.merge_text.rstrip("s") + suffix
            st, h, body = self.node.get("/search?q=%20&k=3")
            self.assertEqual(st, 200, body)
            texts = [x["text"] for x in json.loads(body)["suggestions"]]
            self.assertEqual(sorted(texts[:2]), sorted(p.merge_text for p in self.peers))
            tags.append(h["etag"])
        # both parts changed: another merged ETag, and the old one is not answered 304
        self.assertNotEqual(tags[0], tags[1])
        st, _, _ = self.node.get("/search?q=%20&k=3", headers={"If-None-Match": tags[0]})
        self.assertEqual(st, 200)


if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
