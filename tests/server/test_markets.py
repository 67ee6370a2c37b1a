#!/usr/bin/python3
"""Markets over real HTTP (SPEC §10): typeahead-serve --trie-dir DIR --market-header X-Country
with global.trie and two markets built by the real typeahead-build, and a blocklist.

Checks: each market's own answers first, filled from global without a key twice and without a
blocked completion from either trie; "market" names the market whose trie answered; market=
beats the header, the header's value is lower-cased, an unknown or invalid market is global;
Vary names the header, the ETag names the market's and global's versions (304 on a match, not
across markets), the answer cache keeps markets apart; /healthz and /metrics per market; files
that appear, are replaced, are corrupt, are not regular or are removed, each on its own while a
load runs (no failed request); a file built for another market (it records its market) copied
over a market's or global's file is refused, the old trie serving on; a start without
global.trie; the bound of 256 tries a node; the command line's refusals.

usage: test_markets.py --serve PATH --build PATH --aggregate PATH [unittest arguments]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (ServerCase, Server, msgpack_decode, server_args,  # noqa: E402
                        wait_for)

ARGS = None
WORK = None
TRIES = {}  # name -> bytes of a built trie file

GLOBAL = [("bank of america", 900), ("best buy", 800), ("bank", 700), ("bingo", 650),
          ("bing", 600), ("booking", 500), ("baseball", 400), ("berlin", 10), ("zoo", 5)]
DE = [("bundesliga", 900), ("berlin", 500), ("Bank", 100), ("bierfest", 80), ("bier", 50)]
FR = [("baguette", 300), ("bank", 200), ("boulangerie", 100)]
DE2 = [("bundesliga tabelle", 990), ("bahn", 400)]
IT = [("bar", 100), ("bingo", 90)]
RULES = "word:bierfest\nword:bingo\n"
# A market's word match after global's fill: "hotel" is no prefix of de's keys, one of global's
GWORDS = [("hotel california", 300), ("zoo", 5)]
DEWORDS = [("berlin hotel", 50), ("bahn", 40)]


def build(name, rows):
    freq = os.path.join(WORK, name + ".tsv")
    with open(freq, "w", encoding="utf-8") as f:
        for q, n in rows:
            f.write("%s\t%d\n" % (q, n))
    out = os.path.join(WORK, name + ".trie")
    subprocess.run([ARGS.build, "--freq", freq, "--out", out, "--k", "10"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out, "rb") as f:
        TRIES[name] = f.read()


def put(d, name, data):
    """Publishes data as d/name the documented way: a temporary file, then rename."""
    tmp = os.path.join(d, name + ".tmp.x1")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(d, name))


def make_dir(name, files):
    d = os.path.join(WORK, name)
    os.mkdir(d)
    for fname, key in files.items():
        put(d, fname, TRIES[key])
    return d


def setUpModule():
    global WORK
    WORK = tempfile.mkdtemp(prefix="ta-markets-test-")
    for name, rows in (("global", GLOBAL), ("de", DE), ("fr", FR), ("de2", DE2), ("it", IT),
                       ("gwords", GWORDS), ("dewords", DEWORDS)):
        build(name, rows)
    with open(os.path.join(WORK, "rules.txt"), "w") as f:
        f.write(RULES)


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def search(srv, query, headers=None, conn=None):
    st, hdrs, body = srv.get("/search?" + query, headers=headers, conn=conn)
    return st, hdrs, (json.loads(body) if st == 200 else body)


def texts(answer):
    return [s["text"] for s in answer["suggestions"]]


def metric(srv, name, labels):
    """The value of the /metrics sample name{labels} (labels as written, e.g. 'market="de"')."""
    want = "%s{%s} " % (name, labels)
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return None


def health(srv):
    return json.loads(srv.get("/healthz")[2])


# Names that would forge a log line if written raw: each must appear escaped (\xNN), and no
# line of the log may start with what follows its newline or carriage return.
FORGING = {"a\ntypeahead-serve: FORGED by a name.trie":
           "a\\x0atypeahead-serve: FORGED by a name.trie",
           "b\rtypeahead-serve: FORGED too": "b\\x0dtypeahead-serve: FORGED too",
           "c\x1b[2Kd\\e.trie": "c\\x1b[2Kd\\x5ce.trie"}


class Markets(ServerCase):
    """One server on global + de + fr (and files it ignores), with the blocklist."""

    @classmethod
    def setUpClass(cls):
        cls.dir = make_dir("main", {"global.trie": "global", "de.trie": "de", "fr.trie": "fr"})
        with open(os.path.join(cls.dir, "README"), "w") as f:
            f.write("not a trie\n")
        put(cls.dir, "Bad Name.trie", TRIES["it"])
        for name in FORGING:
            with open(os.path.join(cls.dir, name), "wb") as f:
                f.write(b"not a trie\n")
        cls.srv = cls.serve("markets", ARGS.serve, None,
                            args=["--trie-dir", cls.dir, "--market-header", "X-Country",
                                  "--filters", os.path.join(WORK, "rules.txt"),
                                  "--threads", "2"])
        cls.versions = {m: v["version"] for m, v in health(cls.srv)["markets"].items()}

    def test_market_answers_and_fill(self):
        st, hdrs, a = search(self.srv, "q=b&market=de")
        self.assertEqual(st, 200)
        self.assertEqual(a["market"], "de")
        # de's own (bierfest blocked), then global's: "bank" is de's "Bank" already
        self.assertEqual(texts(a), ["bundesliga", "berlin", "Bank", "bier", "bank of america"])
        st, _, a = search(self.srv, "q=b&market=de&k=9")
        self.assertEqual(texts(a), ["bundesliga", "berlin", "Bank", "bier", "bank of america",
                                    "best buy", "bing", "booking", "baseball"])
        self.assertEqual([s["score"] for s in a["suggestions"]][3:6], [50, 900, 800])
        st, _, a = search(self.srv, "q=b&market=fr&k=4")
        self.assertEqual((a["market"], texts(a)),
                         ("fr", ["baguette", "bank", "boulangerie", "bank of america"]))
        # the market's own trie has all k: nothing from global
        st, _, a = search(self.srv, "q=b&market=fr&k=2")
        self.assertEqual(texts(a), ["baguette", "bank"])
        # nothing of the market's own: global's answer, and it says so
        st, _, a = search(self.srv, "q=bo&market=de")
        self.assertEqual((a["market"], texts(a)), ("global", ["booking"]))
        st, _, a = search(self.srv, "q=bund&market=de")
        self.assertEqual((a["market"], texts(a)), ("de", ["bundesliga"]))
        st, _, a = search(self.srv, "q=b")
        self.assertEqual((a["market"], texts(a)),
                         ("global", ["bank of america", "best buy", "bank", "bing", "booking"]))
        # msgpack says the same
        st, _, body = self.srv.get("/search?q=b&market=de",
                                   headers={"Accept": "application/msgpack"})
        m = msgpack_decode(body)
        self.assertEqual(m["market"], "de")
        self.assertEqual([s["text"] for s in m["suggestions"]][:2], ["bundesliga", "berlin"])

    def test_blocked_from_either_trie(self):
        for q in ("q=bi&market=de&k=10", "q=bi&market=fr&k=10", "q=bi&k=10",
                  "q=bingo&market=de", "q=bierf&market=de"):
            st, _, a = search(self.srv, q)
            self.assertEqual(st, 200, q)
            for t in texts(a):
                self.assertNotIn("bingo", t.lower(), q)
                self.assertNotIn("bierfest", t.lower(), q)
        st, _, a = search(self.srv, "q=bi&market=de&k=10")
        self.assertEqual(texts(a), ["bier", "bing"])
        st, _, a = search(self.srv, "q=bierf&market=de&typos=0")
        self.assertEqual((a["market"], texts(a)), ("global", []))
        # one edit away (SPEC §15): the market's own typo match, never a blocked one
        st, _, a = search(self.srv, "q=bierf&market=de")
        self.assertEqual((a["market"], texts(a)), ("de", ["bier"]))

    def test_routing(self):
        cases = [  # (query, headers, market answering)
            ("q=b&market=de", {}, "de"),
            ("q=b&market=DE", {}, "de"),
            ("q=b", {"X-Country": "FR"}, "fr"),
            ("q=b", {"x-country": "de"}, "de"),
            ("q=b&market=fr", {"X-Country": "DE"}, "fr"),  # the parameter first
            ("q=b&market=zz", {"X-Country": "DE"}, "global"),  # unknown: global
            ("q=b&market=d%65", {}, "de"),  # percent-decoded, as every parameter
            ("q=b&market=d%6", {"X-Country": "DE"}, "global"),  # malformed: no market
            ("q=b&market=", {"X-Country": "DE"}, "global"),
            ("q=b", {"X-Country": "ZZ"}, "global"),
            ("q=b", {"X-Country": "DE "}, "de"),  # the value's outer blanks are no part of it
            ("q=b", {"X-Country": "\tde\t"}, "de"),
            ("q=b", {"X-Country": "de at"}, "global"),
            ("q=b", {"X-Country": "x" * 40}, "global"),
            ("q=b&market=global", {}, "global"),
            ("q=b", {}, "global"),
        ]
        for query, headers, want in cases:
            st, _, a = search(self.srv, query, headers)
            self.assertEqual((st, a["market"]), (200, want), (query, headers))

    def test_vary_etag_cache(self):
        st, h, _ = search(self.srv, "q=b&market=de")
        self.assertEqual(h["vary"], "Accept, X-Country")
        v = self.versions
        self.assertTrue(h["etag"].startswith('"%s.%s-' % (v["de"], v["global"])), h["etag"])
        st, hg, _ = search(self.srv, "q=b")
        self.assertTrue(hg["etag"].startswith('"%s-' % v["global"]), hg["etag"])
        st, h304, _ = search(self.srv, "q=b&market=de", {"If-None-Match": h["etag"]})
        self.assertEqual((st, h304["etag"]), (304, h["etag"]))
        st, _, _ = search(self.srv, "q=b", {"X-Country": "de", "If-None-Match": h["etag"]})
        self.assertEqual(st, 304)
        st, _, _ = search(self.srv, "q=b&market=fr", {"If-None-Match": h["etag"]})
        self.assertEqual(st, 200)
        # one query string, three markets by header, on one connection, twice: the answer
        # cache keys on the market (a cache keyed on the query string would repeat the first)
        c = self.srv.conn()
        for _ in range(2):
            got = [search(self.srv, "q=ba", {"X-Country": m}, conn=c)[2]["market"]
                   for m in ("de", "fr", "zz")]
            self.assertEqual(got, ["de", "fr", "global"])
        c.close()

    def test_healthz_metrics(self):
        h = health(self.srv)
        self.assertEqual(sorted(h["markets"]), ["de", "fr", "global"])  # README etc. ignored
        self.assertEqual(h["markets"]["de"]["queries"], len(DE))
        self.assertEqual(h["markets"]["global"]["version"], h["trie"]["version"])
        # each market's age (SPEC §10): since its file's build, as the metric's, and its load
        now = time.time()
        for m in ("global", "de", "fr"):
            x = h["markets"][m]
            self.assertLessEqual(abs(x["age_seconds"] - (now - x["build_time"])), 5, x)
            self.assertLessEqual(abs(x["age_seconds"] - metric(
                self.srv, "typeahead_trie_age_seconds", 'market="%s"' % m)), 5, x)
            self.assertTrue(x["build_time"] <= x["loaded_at"] <= now + 1, x)
        self.assertEqual(h["markets"]["global"]["build_time"], h["trie"]["build_time"])
        self.assertLessEqual(abs(h["trie"]["age_seconds"] - (now - h["trie"]["build_time"])), 5)
        before = metric(self.srv, "typeahead_market_requests_total", 'market="fr"')
        before_h = h["markets"]["fr"]["requests"]
        for i in range(7):
            search(self.srv, "q=b%d" % i, {"X-Country": "fr"})
        self.assertEqual(metric(self.srv, "typeahead_market_requests_total", 'market="fr"'),
                         before + 7)
        self.assertEqual(health(self.srv)["markets"]["fr"]["requests"], before_h + 7)
        for m in ("global", "de", "fr"):
            self.assertEqual(metric(self.srv, "typeahead_trie_loaded", 'market="%s"' % m), 1)
            self.assertIsNotNone(
                metric(self.srv, "typeahead_trie_age_seconds", 'market="%s"' % m))
            self.assertEqual(metric(self.srv, "typeahead_reloads_total",
                                    'market="%s",result="ok"' % m), 1)
        text = self.srv.get("/metrics")[2].decode()
        self.assertEqual(sorted(set(re.findall(r'market="([^"]*)"', text))),
                         ["de", "fr", "global"])
        log = self.srv.text()
        self.assertEqual(log.count("README: ignored"), 1)
        self.assertEqual(log.count("Bad Name.trie: ignored"), 1)
        self.assertNotIn(".tmp.", log)

    def test_names_escaped(self):
        """A file name with a newline, a carriage return or an escape sequence is logged
        escaped: it cannot split a log line or forge one."""
        log = self.srv.text()
        for name, shown in FORGING.items():
            self.assertEqual(log.count("%s/%s: ignored" % (self.dir, shown)), 1,
                             "%r is logged once, escaped as %r" % (name, shown))
        for line in re.split("[\r\n]", log):
            self.assertFalse(line.startswith("typeahead-serve: FORGED"), "a forged line: %r" % line)
        self.assertNotIn("\x1b", log, "no raw escape byte in the log")


class MarketWords(ServerCase):
    """A market's own word and typo matches (SPEC §15) after global's fill (SPEC §10)."""

    def test_word_match_after_fill(self):
        # "hotel california" and "berlin hotel" are both query 0 of their files: a market's
        # match was checked against global's fill by that number (a key of another file), and
        # left out as if it were one of them
        d = make_dir("words", {"global.trie": "gwords", "de.trie": "dewords"})
        srv = self.serve("words", ARGS.serve, None, args=["--trie-dir", d])
        # de has no key starting with "hotel": global's exact one fills, then de's word match
        for q in ("q=hotel&market=de", "q=hotel&market=de&k=2"):
            st, _, a = search(srv, q)
            self.assertEqual(st, 200)
            self.assertEqual(texts(a), ["hotel california", "berlin hotel"], q)
            self.assertEqual([s["match"] for s in a["suggestions"]], ["prefix", "words"], q)
            # a suggestion came from de's trie: the answer names de (docs/server.md, Markets)
            self.assertEqual(a["market"], "de", q)
        # only global's: global
        st, _, a = search(srv, "q=hotel&market=de&k=1")
        self.assertEqual((a["market"], texts(a)), ("global", ["hotel california"]))
        st, _, a = search(srv, "q=hotel&market=de&words=0")
        self.assertEqual((a["market"], texts(a)), ("global", ["hotel california"]))
        self.assertEqual(srv.stop(), 0)


class Swaps(ServerCase):
    """Files appear, are replaced, turn bad and go away, each market on its own, under load."""

    def test_files_under_load(self):
        d = make_dir("swaps", {"global.trie": "global", "de.trie": "de", "fr.trie": "fr"})
        srv = self.serve("swaps", ARGS.serve, None, args=["--trie-dir", d, "--threads", "2"])
        v0 = {m: x["version"] for m, x in health(srv)["markets"].items()}
        stop = threading.Event()
        failures, done = [], [0]

        def load(market):
            c = srv.conn()
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    st, _, a = search(srv, "q=b%s&market=%s" % ("a" if i % 2 else "", market),
                                      conn=c)
                    if st != 200:
                        failures.append((market, st))
                    done[0] += 1
                except Exception as e:  # noqa: BLE001  (a failed request is what we count)
                    failures.append((market, repr(e)))
                    c.close()
                    c = srv.conn()
            c.close()

        threads = [threading.Thread(target=load, args=(m,)) for m in ("de", "fr", "it", "zz")]
        for t in threads:
            t.start()
        try:
            # appears
            put(d, "it.trie", TRIES["it"])
            self.assertTrue(wait_for(lambda: search(srv, "q=b&market=it")[2]["market"] == "it",
                                     5))
            self.assertEqual(texts(search(srv, "q=ba&market=it")[2]),
                             ["bar", "bank of america", "bank", "baseball"])
            # replaced: de changes, fr and global do not
            put(d, "de.trie", TRIES["de2"])
            self.assertTrue(wait_for(
                lambda: texts(search(srv, "q=b&market=de")[2])[0] == "bundesliga tabelle", 5))
            v1 = {m: x["version"] for m, x in health(srv)["markets"].items()}
            self.assertNotEqual(v1["de"], v0["de"])
            self.assertEqual((v1["fr"], v1["global"]), (v0["fr"], v0["global"]))
            # corrupt: fr keeps its trie, counted and logged; the others go on
            bad = bytearray(TRIES["fr"])
            bad[len(bad) // 2] ^= 0x10
            put(d, "fr.trie", bytes(bad))
            self.assertTrue(wait_for(lambda: metric(srv, "typeahead_reloads_total",
                                                    'market="fr",result="failed"') == 1, 5))
            self.assertEqual(health(srv)["markets"]["fr"]["version"], v0["fr"])
            self.assertEqual(texts(search(srv, "q=b&market=fr&k=2")[2]), ["baguette", "bank"])
            self.assertIn("refused %s/fr.trie" % d, srv.text())
            # a corrupt new market and a directory named like one: not served, global answers
            put(d, "xx.trie", b"\x00garbage" * 50)
            os.mkdir(os.path.join(d, "yy.trie"))
            self.assertTrue(wait_for(lambda: {"xx", "yy"} <= set(health(srv)["markets"]), 5))
            for m in ("xx", "yy"):
                x = health(srv)["markets"][m]
                self.assertEqual([x[f] for f in ("version", "build_time", "loaded_at",
                                                 "age_seconds")], [None] * 4)
                self.assertEqual(search(srv, "q=b&market=" + m)[2]["market"], "global")
                self.assertEqual(metric(srv, "typeahead_trie_loaded", 'market="%s"' % m), 0)
            # removed: it is no longer served, its requests go to global
            os.unlink(os.path.join(d, "it.trie"))
            self.assertTrue(wait_for(
                lambda: search(srv, "q=b&market=it")[2]["market"] == "global", 5))
            self.assertIsNone(health(srv)["markets"]["it"]["version"])
            self.assertIn("market it: %s/it.trie is gone" % d, srv.text())
            # and back again
            put(d, "it.trie", TRIES["it"])
            self.assertTrue(wait_for(lambda: search(srv, "q=b&market=it")[2]["market"] == "it",
                                     5))
            # the fr file fixed: served again
            put(d, "fr.trie", TRIES["it"])
            self.assertTrue(wait_for(
                lambda: search(srv, "q=ba&market=fr")[2]["suggestions"][0]["text"] == "bar", 5))
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])
        self.assertGreater(done[0], 100)
        self.assertEqual(srv.stop(), 0)


class WrongPlace(ServerCase):
    """Tries built by --all-markets record their market: one copied or renamed over another
    market's file, or over global.trie, is refused and the old trie keeps serving."""

    def test_file_of_another_market(self):
        log = os.path.join(WORK, "place.tsv")
        with open(log, "w", encoding="utf-8") as f:
            for q, n in GLOBAL:
                f.write("1796600000\t%s\n" % q * (n // 100 + 1))
            for market, rows in (("de", DE), ("fr", FR)):
                for q, n in rows:
                    f.write("1796600000\t%s\t%s\n" % (q, market) * (n // 100 + 1))
        tables, out = os.path.join(WORK, "place-tables"), os.path.join(WORK, "place-out")
        subprocess.run([ARGS.aggregate, "--tables", tables, "--format", "tsv", "--quiet", log],
                       check=True)
        subprocess.run([ARGS.build, "--tables", tables, "--all-markets", "--out-dir", out,
                        "--min-market-events", "1", "--now", "2026-12-07", "--k", "10"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        built = {}
        for name in ("global", "de", "fr"):
            with open(os.path.join(out, name + ".trie"), "rb") as f:
                built[name] = f.read()
        d = os.path.join(WORK, "place-serve")
        os.mkdir(d)
        for name, data in built.items():
            put(d, name + ".trie", data)
        srv = self.serve("place", ARGS.serve, None, args=["--trie-dir", d, "--threads", "2"])
        v0 = {m: x["version"] for m, x in health(srv)["markets"].items()}
        self.assertEqual(search(srv, "q=b&market=de&k=1")[2]["suggestions"][0]["text"],
                         "bundesliga")
        # fr's file renamed over de's: refused, de keeps its own trie
        put(d, "de.trie", built["fr"])
        self.assertTrue(wait_for(lambda: metric(srv, "typeahead_reloads_total",
                                                'market="de",result="failed"') == 1, 5))
        self.assertIn("refused %s/de.trie: built for market fr, not market de" % d, srv.text())
        self.assertEqual(health(srv)["markets"]["de"]["version"], v0["de"])
        a = search(srv, "q=b&market=de&k=1")[2]
        self.assertEqual((a["market"], a["suggestions"][0]["text"]), ("de", "bundesliga"))
        # a market's file over global.trie: refused too
        put(d, "global.trie", built["de"])
        self.assertTrue(wait_for(lambda: metric(srv, "typeahead_reloads_total",
                                                'market="global",result="failed"') == 1, 5))
        self.assertIn("built for market de, not the global total", srv.text())
        self.assertEqual(health(srv)["markets"]["global"]["version"], v0["global"])
        # a file of no market (a --freq build) may serve as de's; de's own file again too
        put(d, "de.trie", TRIES["de2"])
        self.assertTrue(wait_for(lambda: search(srv, "q=b&market=de&k=1")[2]["suggestions"][0]
                                 ["text"] == "bundesliga tabelle", 5))
        put(d, "de.trie", built["de"])
        self.assertTrue(wait_for(lambda: health(srv)["markets"]["de"]["version"] == v0["de"], 5))
        self.assertEqual(srv.stop(), 0)


class Start(unittest.TestCase):
    def test_without_global(self):
        d = make_dir("noglobal", {"de.trie": "de"})
        srv = Server(ARGS.serve, None, args=["--trie-dir", d])
        try:
            self.assertEqual(srv.get("/healthz")[0], 503)
            st, _, a = search(srv, "q=b&market=de")
            self.assertEqual((st, a["market"], texts(a)[0]), (200, "de", "bundesliga"))
            self.assertEqual(search(srv, "q=b")[0], 503)
            self.assertEqual(search(srv, "q=b&market=zz")[0], 503)
            put(d, "global.trie", TRIES["global"])
            self.assertTrue(wait_for(lambda: srv.get("/healthz")[0] == 200, 5))
            st, _, a = search(srv, "q=b&market=de&k=6")  # de has 5 (no blocklist here)
            self.assertEqual(texts(a)[-1], "bank of america")  # filled now
            self.assertEqual(search(srv, "q=b")[2]["market"], "global")
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_market_bound(self):
        """260 market files: 255 served beside global (SRV_MAX_MARKETS 256), each file past
        the bound ignored with one log line; /metrics has one series per served market."""
        d = make_dir("many", {"global.trie": "global"})
        for i in range(260):
            with open(os.path.join(d, "m%03d.trie" % i), "wb") as f:
                f.write(TRIES["fr"])
        srv = Server(ARGS.serve, None, args=["--trie-dir", d])
        try:
            markets = health(srv)["markets"]
            self.assertEqual(len(markets), 256)
            self.assertTrue(all(m["version"] for m in markets.values()))
            self.assertEqual(srv.text().count("a node serves at most 256 markets"), 5)
            text = srv.get("/metrics")[2].decode()
            self.assertEqual(len(re.findall(r"^typeahead_trie_loaded\{", text, re.M)), 256)
            ignored = sorted(set(["m%03d" % i for i in range(260)]) - set(markets))
            self.assertEqual(len(ignored), 5)
            st, _, a = search(srv, "q=b&market=" + ignored[0])
            self.assertEqual(a["market"], "global")
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_command_line(self):
        def run(*args):
            p = subprocess.run([ARGS.serve] + list(args) + ["--listen", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=30)
            return p.returncode, p.stderr

        rc, err = run("--trie-dir", os.path.join(WORK, "no-such-dir"))
        self.assertEqual(rc, 1)
        self.assertIn("no-such-dir", err)
        d = make_dir("cmdline", {"global.trie": "global"})
        rc, err = run("--trie-dir", d, "--trie", os.path.join(d, "global.trie"))
        self.assertEqual(rc, 2)
        self.assertIn("one of --trie FILE and --trie-dir DIR", err)
        rc, err = run("--trie", os.path.join(d, "global.trie"), "--market-header", "X-Country")
        self.assertEqual(rc, 2)
        rc, err = run("--trie-dir", d, "--market-header", "X Country")
        self.assertEqual(rc, 1)
        self.assertIn("--market-header", err)


if __name__ == "__main__":
    parser = server_args()
    parser.add_argument("--aggregate", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
