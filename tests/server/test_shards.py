#!/usr/bin/python3
"""Prefix shards over real HTTP (SPEC §11): a trie built whole and as 3 shards
(typeahead-build --shards), a node per shard (two replicas of shard 1), and an unsharded
server as the reference.

- Every node answers every prefix (its own shard's, another's, the empty one, k variants,
  word queries whose matches lie in other shards, JSON and msgpack, bad requests) with the
  reference's status and body, byte for byte.
- A forwarded answer carries the owner's ETag, and If-None-Match through another node gets 304.
- A replica of shard 1 killed: its prefixes are still answered, through the other replica.
- Every replica of shard 2 gone: its prefixes (and the empty prefix) get 502, word queries
  lose shard 2's word matches (200 with the exact ones, a partial ETag), the others are
  answered, /healthz says shard 2 is not reachable, /metrics counts the failures.
- A start with a bad map, bad peers, a shard without replicas or --shard past the map is
  refused with the reason.

usage: test_shards.py --serve PATH --build PATH [unittest arguments]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import random
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (Server, ServerCase, build_trie, make_freq, prefixes_of,  # noqa: E402
                        server_args, wait_for)

ARGS = None
WORK = None
QUERIES = []
SHARDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    global WORK, QUERIES
    WORK = tempfile.mkdtemp(prefix="ta-shards-test-")
    freq = os.path.join(WORK, "q.freq")
    QUERIES = make_freq(freq, n=3000)
    build_trie(ARGS.build, freq, os.path.join(WORK, "whole.trie"))
    subprocess.run([ARGS.build, "--freq", freq, "--shards", str(SHARDS), "--out-dir",
                    os.path.join(WORK, "shards")], check=True, capture_output=True)


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def paths():
    out = ["/search?q=", "/search?q=%20", "/search?q=&k=3", "/search?q=n&k=1", "/search?k=7&q=b",
           "/search?q=new%20", "/search?q=zzzz", "/search?q=n&k=0", "/search?q=n&k=99",
           "/search?k=2", "/search?q=%E5%8C%97", "/search?q=%C3%9F"]
    # A shard holds the keys of its first code points: typo matches (first character exact)
    # stay in it, word matches (a later word) come from every shard (the owner asks the others).
    for i, p in enumerate(prefixes_of(QUERIES, 250)):
        out.append("/search?q=" + urllib.parse.quote(p, safe="") +
                   ("", "&words=0", "&words=0&typos=0")[i % 3])
    return out + word_paths()


def word_paths(n=150, seed=13):
    """Word queries as users type them (SPEC §15): a later word of a query, cut short, alone or
    after another word of it (any order): their matches lie in any shard."""
    rnd = random.Random(seed)
    multi = [q.split() for q in QUERIES if len(q.split()) >= 2]
    out = []
    while len(out) < n:
        ws = rnd.choice(multi)
        i = rnd.randrange(1, len(ws))
        p = ws[i][:rnd.randint(1, len(ws[i]))]
        if rnd.random() < 0.5:
            p = ws[rnd.choice([j for j in range(len(ws)) if j != i])] + " " + p
        out.append("/search?q=" + urllib.parse.quote(p, safe="") + ("&k=3" if len(out) % 4 == 0
                                                                    else ""))
    return out


def first_letter(text):
    return text.strip().casefold()[:1]


class Fleet(ServerCase):
    """Nodes: shard 0, shard 1 (replicas a and b), shard 2; and the unsharded reference."""

    @classmethod
    def start_fleet(cls):
        d = os.path.join(WORK, "shards")
        cls.ports = {name: free_port() for name in ("0", "1a", "1b", "2")}
        peers = os.path.join(WORK, "peers-%s" % cls.__name__)
        with open(peers, "w") as f:
            f.write("# shard<TAB>replicas\n0\t127.0.0.1:%d\n1\t127.0.0.1:%d,127.0.0.1:%d\n"
                    "2\t127.0.0.1:%d\n" % (cls.ports["0"], cls.ports["1a"], cls.ports["1b"],
                                          cls.ports["2"]))
        cls.nodes = {}
        for name, port in cls.ports.items():
            shard = name[0]
            cls.nodes[name] = cls.serve(
                "node-" + name, ARGS.serve, os.path.join(d, "shard-%s.trie" % shard),
                ["--shard-map", os.path.join(d, "shards.map"), "--shard", shard, "--peers", peers,
                 "--listen", "127.0.0.1:%d" % port, "--answer-cache-mb", "0",
                 "--peer-timeout-ms", "500"])
        cls.ref = cls.serve("reference", ARGS.serve, os.path.join(WORK, "whole.trie"),
                            ["--answer-cache-mb", "0"])

    @classmethod
    def setUpClass(cls):
        cls.start_fleet()

    def same_as_reference(self, node, path, accept=None):
        h = {"Accept": accept} if accept else {}
        want = self.ref.get(path, h)
        got = node.get(path, h)
        self.assertEqual(got[0], want[0], "%s: status" % path)
        self.assertEqual(got[2], want[2], "%s: body" % path)
        return got


class Answers(Fleet):
    def test_every_node_answers_as_the_whole_trie(self):
        for name in ("0", "1a", "2"):
            node = self.nodes[name]
            for path in paths():
                self.same_as_reference(node, path)
            for path in paths()[:40]:
                self.same_as_reference(node, path, "application/msgpack")
        self.assertGreater(self.nodes["0"].metric("typeahead_forwarded_total"), 100,
                           "node 0 forwarded the other shards' prefixes")
        # the word queries found keys that start elsewhere, which other shards hold
        far = 0
        for path in word_paths():
            q = urllib.parse.unquote(path.split("q=")[1].split("&")[0])
            for h in json.loads(self.ref.get(path)[2])["suggestions"]:
                far += h["match"] == "words" and first_letter(h["text"]) != first_letter(q)
        self.assertGreater(far, 100, "word matches of keys that start with another letter")

    def test_cached_answers(self):
        # a node of shard 0 with its answer cache on (as deployed): its answers (its own, word
        # answers merged from every shard, other shards' answers relayed, the empty prefix's
        # merge), then the same again
        # from the cache within --peer-cache-ms, equal the whole trie's; and a kept one asks no
        # shard
        d = os.path.join(WORK, "shards")
        peers = os.path.join(WORK, "peers-%s" % type(self).__name__)
        node = self.serve("node-0-cached", ARGS.serve, os.path.join(d, "shard-0.trie"),
                          ["--shard-map", os.path.join(d, "shards.map"), "--shard", "0",
                           "--peers", peers, "--peer-timeout-ms", "500", "--threads", "1",
                           "--peer-cache-ms", "60000"])
        def asked(path):  # how many requests this path sent to other shards
            before = node.metric("typeahead_forwarded_total")
            self.same_as_reference(node, path)
            return node.metric("typeahead_forwarded_total") - before
        first = {}  # a path may come twice: the first time counts
        for path in paths():
            first[path] = max(first.get(path, 0), asked(path))
        # this node's words merges (2 shards asked), and other shards' prefixes (1 asked)
        self.assertGreater(sum(n == SHARDS - 1 for n in first.values()), 10)
        self.assertGreater(sum(n == 1 for n in first.values()), 100)
        self.assertEqual(first["/search?q="], SHARDS - 1, "the empty prefix's merge")
        for path in paths():  # every one kept
            self.assertEqual(asked(path), 0, path)

    def test_long_accept(self):
        # the representation a node chose, whatever the length of Accept (it was cut at 63
        # bytes when forwarded: JSON for msgpack, or msgpack for a client that refused it)
        pad = ", ".join("text/x-%d;q=0.%d" % (i, i) for i in range(1, 6))
        for accept in (pad + ", application/msgpack", "application/msgpack, " + pad,
                       pad + ", application/msgpack;q=0, application/json"):
            for path in paths()[:60]:
                self.same_as_reference(self.nodes["0"], path, accept)

    def test_etag_of_the_owner(self):
        # a prefix of each shard, asked of a node that does not own it
        owners = {}
        for q in QUERIES[:400]:
            for name in ("0", "1a", "2"):
                st, h, body = self.nodes[name].get("/search?q=" + urllib.parse.quote(q[:1]),
                                                   {SRV_FWD: name[0]})
                if st == 200 and json.loads(body)["suggestions"]:
                    owners.setdefault(name[0], q[:1])
        self.assertEqual(len(owners), SHARDS, "every shard owns some first character")
        for shard, prefix in owners.items():
            path = "/search?q=" + urllib.parse.quote(prefix)
            owner = self.nodes["1a" if shard == "1" else shard]
            other = self.nodes["2" if shard != "2" else "0"]
            st, h_owner, _ = owner.get(path)
            st2, h_other, _ = other.get(path)
            self.assertEqual((st, st2), (200, 200))
            self.assertEqual(h_other["etag"], h_owner["etag"], "the owner's ETag, relayed")
            st3, _, body = other.get(path, {"If-None-Match": h_owner["etag"]})
            self.assertEqual(st3, 304, "a revalidation through another node")
            self.assertEqual(body, b"")
        # the empty prefix: one ETag for the merge, and 304 for it
        st, h, _ = self.nodes["0"].get("/search?q=")
        st2, _, _ = self.nodes["0"].get("/search?q=", {"If-None-Match": h["etag"]})
        self.assertEqual((st, st2), (200, 304))

    def test_forwarded_request_is_answered_locally(self):
        st, _, body = self.nodes["0"].get("/search?q=", {SRV_FWD: "0"})
        mine = json.loads(body)["suggestions"]
        st, _, body = self.ref.get("/search?q=")
        whole = json.loads(body)["suggestions"]
        self.assertLessEqual(len(mine), len(whole))
        self.assertNotEqual(mine, whole, "a forwarded empty prefix: this shard's best only")

    def test_misdirected(self):
        # a peer that asks this node for another shard's prefix: 421, never a wrong answer
        for fwd in ("1", "2", "9", "x"):
            st, _, body = self.nodes["0"].get("/search?q=new", {SRV_FWD: fwd})
            self.assertEqual(st, 421, fwd)
            self.assertIn(b"serves shard 0", body)

    def test_client_gone_while_forwarded(self):
        # clients that hang up while their request waits for a peer: nothing leaks or breaks
        node0 = self.nodes["0"]
        for p in paths()[12:60]:
            s = socket.create_connection(("127.0.0.1", node0.port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % p).encode())
            s.close()
        for path in paths()[:40]:
            self.same_as_reference(node0, path)

    def test_healthz_and_metrics(self):
        st, _, body = self.nodes["0"].get("/healthz")
        self.assertEqual(st, 200)
        shard = json.loads(body)["shard"]
        self.assertEqual((shard["index"], shard["shards"]), (0, SHARDS))
        self.assertEqual([o["shard"] for o in shard["others"]], [1, 2])
        self.assertEqual(shard["others"][0]["replicas"], 2)


class Failures(Fleet):
    def test_replicas_killed(self):
        node0 = self.nodes["0"]
        self.nodes["1a"].proc.send_signal(signal.SIGKILL)
        self.nodes["1a"].proc.wait()
        for path in paths()[:120]:
            self.same_as_reference(node0, path)
        self.assertGreaterEqual(node0.metric("typeahead_peer_failures_total"), 1,
                                "the dead replica was tried and counted")
        # shard 2 gone altogether
        self.nodes["2"].proc.send_signal(signal.SIGKILL)
        self.nodes["2"].proc.wait()
        statuses = {}
        for path in paths():
            want = self.ref.get(path)
            got = node0.get(path)
            if got[0] == 502:
                self.assertIn(b"error", got[2])
                statuses["502"] = statuses.get("502", 0) + 1
            elif got[:1] + got[2:] == want[:1] + want[2:]:
                statuses["same"] = statuses.get("same", 0) + 1
            else:
                # shard 2's word matches are missing: the rest comes, marked partial
                self.assertEqual(got[0], 200, path)
                self.assertRegex(got[1]["etag"], r'^"w[0-9a-f]{16}p-j"$', path)
                mine, whole = (json.loads(x[2])["suggestions"] for x in (got, want))
                prefix = [h for h in whole if h["match"] == "prefix"]
                self.assertEqual(mine[:len(prefix)], prefix, path)
                statuses["partial"] = statuses.get("partial", 0) + 1
        self.assertGreater(statuses.get("502", 0), 0, "shard 2's prefixes fail")
        self.assertGreater(statuses.get("same", 0), 0, "the others are answered")
        self.assertGreater(statuses.get("partial", 0), 0, "word queries lose shard 2's matches")
        self.assertEqual(node0.get("/search?q=")[0], 502, "the merge needs every shard")
        st, _, body = node0.get("/healthz")
        others = {o["shard"]: o for o in json.loads(body)["shard"]["others"]}
        self.assertIs(others[2]["reachable"], False)
        self.assertIs(others[1]["reachable"], True)


class WrongPeers(Fleet):
    """Shard 2's replica list starts with a node of shard 1: it answers 421, and the next
    replica (the real one) answers."""

    @classmethod
    def setUpClass(cls):
        cls.start_fleet()
        d = os.path.join(WORK, "shards")
        peers = os.path.join(WORK, "peers-wrong")
        with open(peers, "w") as f:
            f.write("1\t127.0.0.1:%d\n2\t127.0.0.1:%d,127.0.0.1:%d\n" % (
                cls.ports["1a"], cls.ports["1b"], cls.ports["2"]))
        cls.port_w = free_port()
        cls.wrong = cls.serve("node-wrong", ARGS.serve, os.path.join(d, "shard-0.trie"),
                              ["--shard-map", os.path.join(d, "shards.map"), "--shard", "0",
                               "--peers", peers, "--listen", "127.0.0.1:%d" % cls.port_w,
                               "--answer-cache-mb", "0", "--threads", "1"])

    def test_wrong_replica_skipped(self):
        for path in paths()[:150]:
            self.same_as_reference(self.wrong, path)
        self.assertGreater(self.wrong.metric("typeahead_peer_failures_total"), 0,
                           "the misdirected replica was tried and counted")
        self.assertIn("serves 1", self.nodes["1b"].text(), "the wrong node logs it")


class WrongShardFile(Fleet):
    """Another shard's trie at a node's --trie path (copied to the wrong node, at start or
    published over its file): refused like a bad file, so the node never answers its own
    prefixes from keys of another shard (nothing) nor shows a key twice in the merge."""

    @classmethod
    def setUpClass(cls):
        cls.start_fleet()
        cls.dir = tempfile.mkdtemp(prefix="wrong-shard-", dir=WORK)
        cls.path = os.path.join(cls.dir, "shard-0.trie")
        cls.publish("shard-1.trie")
        peers = os.path.join(WORK, "peers-%s" % cls.__name__)
        d = os.path.join(WORK, "shards")
        cls.node = cls.serve("node-0-wrong-file", ARGS.serve, cls.path,
                             ["--shard-map", os.path.join(d, "shards.map"), "--shard", "0",
                              "--peers", peers, "--answer-cache-mb", "0"])

    @classmethod
    def publish(cls, name):
        tmp = cls.path + ".tmp"
        shutil.copyfile(os.path.join(WORK, "shards", name), tmp)
        os.rename(tmp, cls.path)

    def test_other_shards_file_refused(self):
        self.assertIn("not shard 0's trie", self.node.text())
        self.assertEqual(self.node.get("/healthz")[0], 503, "no trie of shard 0 loaded")
        self.publish("shard-0.trie")
        self.assertTrue(wait_for(lambda: self.node.get("/healthz")[0] == 200, 10))
        for path in paths()[:60]:
            self.same_as_reference(self.node, path)
        self.publish("shard-2.trie")
        self.assertTrue(wait_for(lambda: self.node.text().count("not shard 0's trie") == 2, 10),
                        "the swap is refused")
        for path in paths()[:120]:
            self.same_as_reference(self.node, path)


class OtherMap(Fleet):
    """A replica of shard 1 started with another shard map (shards 1 and 2 swapped, and the
    trie of its map's shard 1): it holds other keys than the asker's shard 1, so it answers a
    forwarded request 421 (SRV_MAP_HEADER), and the next replica answers; it answered from its
    own trie, the prefixes of the asker's shard 1 with nothing."""

    @classmethod
    def setUpClass(cls):
        cls.start_fleet()
        d = os.path.join(WORK, "shards")
        other = os.path.join(WORK, "shards-other")
        os.makedirs(other, exist_ok=True)
        other_map = os.path.join(other, "swapped.map")
        with open(os.path.join(d, "shards.map")) as f, open(other_map, "w") as g:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and not line.startswith("#") and parts[2] in ("1", "2"):
                    parts[2] = "2" if parts[2] == "1" else "1"
                g.write("\t".join(parts) + "\n")
        subprocess.run([ARGS.build, "--freq", os.path.join(WORK, "q.freq"), "--shards",
                        str(SHARDS), "--shard-map", other_map, "--out-dir", other], check=True,
                       capture_output=True)
        peers = os.path.join(WORK, "peers-%s" % cls.__name__)
        cls.odd = cls.serve("node-1-other-map", ARGS.serve, os.path.join(other, "shard-1.trie"),
                            ["--shard-map", os.path.join(other, "shards.map"), "--shard", "1",
                             "--peers", peers, "--answer-cache-mb", "0"])
        odd_first = os.path.join(WORK, "peers-odd-first")
        with open(odd_first, "w") as f:
            f.write("1\t127.0.0.1:%d,127.0.0.1:%d\n2\t127.0.0.1:%d\n" % (
                cls.odd.port, cls.ports["1a"], cls.ports["2"]))
        cls.asker = cls.serve("node-0-asker", ARGS.serve, os.path.join(d, "shard-0.trie"),
                              ["--shard-map", os.path.join(d, "shards.map"), "--shard", "0",
                               "--peers", odd_first, "--answer-cache-mb", "0",
                               "--threads", "1"])

    def test_other_map_skipped(self):
        for path in paths()[:150]:
            self.same_as_reference(self.asker, path)
        self.assertGreater(self.asker.metric("typeahead_peer_failures_total"), 0,
                           "the replica of another map was tried and counted")
        self.assertIn("started with another --shard-map", self.odd.text())


class StartRefusals(unittest.TestCase):
    def refused(self, args, why):
        r = subprocess.run([ARGS.serve, "--listen", "127.0.0.1:0"] + args, capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, args)
        self.assertIn(why, r.stderr, args)

    def test_refusals(self):
        d = os.path.join(WORK, "shards")
        trie = os.path.join(d, "shard-0.trie")
        good_map = os.path.join(d, "shards.map")
        bad_map = os.path.join(WORK, "bad.map")
        with open(bad_map, "w") as f:
            f.write("typeahead-shards\t1\nnorm\t2\nshards\t2\n0\t60\t0\n")
        peers = os.path.join(WORK, "p1")
        with open(peers, "w") as f:
            f.write("1\t127.0.0.1:1\n")  # no replica of shard 2
        bad_peers = os.path.join(WORK, "p2")
        with open(bad_peers, "w") as f:
            f.write("1\t127.0.0.1\n2\t127.0.0.1:2\n")
        base = ["--trie", trie, "--shard", "0"]
        self.refused(base + ["--shard-map", bad_map, "--peers", peers], "bad.map")
        self.refused(base + ["--shard-map", good_map, "--peers", peers], "no replica of shard 2")
        self.refused(base + ["--shard-map", good_map, "--peers", bad_peers], "p2:1:")
        self.refused(["--trie", trie, "--shard", "7", "--shard-map", good_map, "--peers", peers],
                     "--shard 7")
        self.refused(["--trie", trie, "--shard-map", good_map, "--peers", peers], "go together")


SRV_FWD = "X-Typeahead-Forwarded"

if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
