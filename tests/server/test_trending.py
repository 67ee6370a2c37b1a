#!/usr/bin/python3
"""Trending over real HTTP (SPEC §13): typeahead-serve --trending with tries built by the real
typeahead-build, against a server without trending as the reference for the regular answers.

Checks, for every prefix of every query: the regular leader stays first; the trending
completions added (marked "trending":true, JSON and msgpack) are at most --trending-slots, come
from the trending trie and start with the prefix; the rest is the regular answer; exactly k
suggestions when the regular answer has k. A blocked trending query is never shown (a rule of
the file, and one added by PUT /admin/filters, from the very next answer on). ETag, /healthz and
/metrics name the trending trie; the answer cache and ETag change with it. Hot swap of the
trending file under load (replaced, a corrupt file, removed, back) without a failed request;
per market with --trie-dir (a market without a trending trie of its own gets global's);
--trending-slots 1 and 0; the command line's refusals.

usage: test_trending.py --serve PATH --build PATH [unittest arguments]
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
from serve_util import ServerCase, build_trie, msgpack_decode, server_args, wait_for  # noqa: E402

ARGS = None
WORK = None
TRIES = {}  # name -> path of a built trie file

MAIN = [("new york", 1000), ("news", 900), ("netflix", 800), ("new balance", 700), ("nest", 600),
        ("network", 500), ("nba", 400), ("new jersey", 300), ("apple", 200), ("nepal", 100)]
# the rising queries: two new ones, one already regular (news), one blocked by the rules file
TREND = [("new pope", 50), ("nepal quake", 45), ("news", 30), ("nba finals", 20),
         ("neon lights", 15), ("zebra crossing", 10)]
TREND2 = [("neon genesis", 60)]
DE = [("netz", 500), ("neu", 400), ("nebel", 300)]
FR = [("nez", 50)]
TREND_DE = [("neue folge", 70)]
# a market's spellings of keys that global's trending trie holds spelled its own way
AT = [("Neon Lights", 500), ("New York", 400)]
RULES = "word:quake\n"
TOKEN = "trending-test-token"
AUTH = {"Authorization": "Bearer " + TOKEN}


def build(name, rows):
    """TRIES[name]: the trie of rows (query, count), built by the real typeahead-build."""
    freq = os.path.join(WORK, name + ".tsv")
    with open(freq, "w", encoding="utf-8") as f:
        f.writelines("%s\t%d\n" % row for row in rows)
    TRIES[name] = os.path.join(WORK, name + ".trie")
    build_trie(ARGS.build, freq, TRIES[name])


def put(path, src=None, data=None):
    """Publishes a file at path the documented way: a temporary file, then rename."""
    tmp = path + ".tmp.x1"
    if src is not None:
        shutil.copyfile(src, tmp)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
    os.rename(tmp, path)


def prefixes():
    out = {"", "x", "NE", "New P", "n"}
    for q, _ in MAIN + TREND + TREND2:
        for i in range(1, len(q) + 1):
            out.add(q[:i])
    return sorted(out)


def search(srv, q, k=5, market=None, msgpack=False, more=False):
    """The suggestions and headers of /search; exact prefix matches only unless more (the
    mixing is with them: word and typo matches follow, SPEC §15)."""
    params = {"q": q, "k": str(k)}
    if not more:
        params.update(typos="0", words="0")
    if market:
        params["market"] = market
    hdrs = {"Accept": "application/msgpack"} if msgpack else {}
    st, h, body = srv.get("/search?" + urllib.parse.urlencode(params), hdrs)
    if st != 200:
        raise AssertionError("/search %r: %d %r" % (q, st, body))
    doc = msgpack_decode(body) if msgpack else json.loads(body)
    # How each matched (SPEC §15) is the typos and words tests' business; here: a trending
    # suggestion starts with the prefix, so it is a prefix match highlighted from its start,
    # also when the mix moved it (the marks follow their suggestions).
    for s in doc["suggestions"]:
        match, highlight = s.pop("match"), s.pop("highlight")
        if s.get("trending"):
            if match != "prefix" or (q.strip() and highlight[:1] != [[0, len(q.encode())]]):
                raise AssertionError("trending %r matched as %r %r" % (s, match, highlight))
    return doc["suggestions"], h


def setUpModule():
    global WORK
    WORK = tempfile.mkdtemp(prefix="ta-trending-test-")
    for name, rows in (("main", MAIN), ("trend", TREND), ("trend2", TREND2), ("de", DE),
                       ("fr", FR), ("trend_de", TREND_DE), ("at", AT)):
        build(name, rows)
    with open(os.path.join(WORK, "rules.txt"), "w") as f:
        f.write(RULES)
    with open(os.path.join(WORK, "token"), "w") as f:
        f.write(TOKEN + "\n")


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


class Mixing(ServerCase):
    """The answers of a server with --trending against a reference server without it."""

    @classmethod
    def setUpClass(cls):
        cls.rules = os.path.join(WORK, "rules-mix.txt")
        shutil.copyfile(os.path.join(WORK, "rules.txt"), cls.rules)
        cls.ref = cls.serve("ref", ARGS.serve, TRIES["main"])
        cls.srv = cls.serve("trending", ARGS.serve, TRIES["main"],
                            ["--trending", TRIES["trend"], "--threads", "2", "--filters",
                             cls.rules, "--admin-token-file", os.path.join(WORK, "token")])
        cls.one = cls.serve("slots1", ARGS.serve, TRIES["main"],
                            ["--trending", TRIES["trend"], "--trending-slots", "1"])
        cls.off = cls.serve("slots0", ARGS.serve, TRIES["main"],
                            ["--trending", TRIES["trend"], "--trending-slots", "0"])

    def check(self, srv, q, k, slots, blocked=(), msgpack=False):
        """The mixing contract for one answer (docs/TRENDING.md "Mixing"); returns the trending
        texts added."""
        got, _ = search(srv, q, k, msgpack=msgpack)
        regular = [s["text"] for s in search(self.ref, q, k)[0]]
        texts = [s["text"] for s in got]
        trend = {t for t, _ in TREND}
        # the prefix's key as the server walks it: one trailing space kept (trie_norm_prefix)
        key = re.sub(r"\s+", " ", q.lower()).lstrip()
        # the rule itself: the trending completions the rules keep that are not shown as
        # regular, best first, at most slots (k - 1 with a regular leader), right after the
        # leader; the regular ones follow in their order. "Shown" counts the regular ones left
        # once the new ones are placed (the first k - taken): one they push out is new itself.
        ordered = [t for t, _ in sorted(TREND, key=lambda r: -r[1])
                   if t.startswith(key) and t not in blocked]
        taken = -1
        fresh = []
        while taken != len(fresh):
            taken = len(fresh)
            fresh = [t for t in ordered if t not in regular[:k - taken]]
            fresh = fresh[:min(slots, k - 1 if regular else k)]
        want = (regular[:1] + fresh + regular[1:])[:k] if regular else fresh
        self.assertEqual(texts, want, "the mix for %r, k=%d" % (q, k))
        self.assertEqual(len(texts), len(set(texts)), "a key twice for %r: %r" % (q, texts))
        if regular:
            self.assertEqual(texts[0], regular[0], "the regular leader is first for %r" % q)
        added = [t for t in texts if t not in regular]
        self.assertLessEqual(len(added), slots, "at most %d trending for %r: %r" % (slots, q, got))
        for s in got:
            if s["text"] in added:
                self.assertIs(s.get("trending"), True, "marked: %r" % s)
            self.assertIn(s.get("trending", False), (True, False))
            if s.get("trending"):
                self.assertIn(s["text"], trend, "only the trending trie's queries are marked")
                self.assertTrue(s["text"].startswith(key), "%r does not start with %r" % (s, q))
            else:
                self.assertIn(s["text"], regular)
        for b in blocked:
            self.assertNotIn(b, texts, "blocked %r shown for %r" % (b, q))
        kept = [t for t in texts if t in regular and t not in fresh]
        self.assertEqual(kept, regular[:len(kept)], "the regular ones keep their order")
        if len(regular) >= k:
            self.assertEqual(len(texts), k, "exactly k for %r" % q)
        return added

    def test_every_prefix(self):
        shown = set()
        for q in prefixes():
            for k in (1, 3, 5):
                shown.update(self.check(self.srv, q, k, 2, blocked=("nepal quake",)))
        self.assertEqual(shown, {"new pope", "nba finals", "neon lights", "zebra crossing"})
        for q in ("ne", "new p", "nb"):
            self.check(self.srv, q, 5, 2, blocked=("nepal quake",), msgpack=True)

    def test_rising_query_marked(self):
        got, h = search(self.srv, "new")
        self.assertEqual(got[0]["text"], "new york")
        self.assertIn({"text": "new pope", "score": 50, "trending": True}, got)
        self.assertNotIn("trending", got[0], "regular suggestions carry no trending field")
        self.assertEqual(search(self.srv, "new p")[0],
                         [{"text": "new pope", "score": 50, "trending": True}])
        # with typo and word matches (the defaults), the trending exact match comes before them
        got, _ = search(self.srv, "new p", more=True)
        self.assertEqual(got[0], {"text": "new pope", "score": 50, "trending": True})
        self.assertEqual([g["text"] for g in got[1:]],
                         [g["text"] for g in search(self.ref, "new p", more=True)[0]][:4])
        self.assertFalse([g for g in got[1:] if "trending" in g])
        got, _ = search(self.srv, "new", msgpack=True)
        self.assertIn({"text": "new pope", "score": 50, "trending": True}, got)
        # already regular: kept in its place, marked
        got, _ = search(self.srv, "news")
        self.assertEqual(got, [{"text": "news", "score": 900, "trending": True}])
        self.assertEqual(search(self.srv, "zz")[0], [])
        self.assertEqual(search(self.srv, "zebra")[0],
                         [{"text": "zebra crossing", "score": 10, "trending": True}])
        self.assertEqual(search(self.srv, "nep")[0], [{"text": "nepal", "score": 100}],
                         "the blocked trending query is not shown")

    def test_slots(self):
        shown = set()
        for q in prefixes():
            shown.update(self.check(self.one, q, 5, 1))
        self.assertIn("new pope", shown)
        for q in prefixes():
            got, h = search(self.off, q)
            self.assertEqual(got, search(self.ref, q)[0], "--trending-slots 0: no trending")
            self.assertNotIn("~", h["etag"])

    def test_etag_healthz_metrics(self):
        st, _, body = self.srv.get("/healthz")
        self.assertEqual(st, 200)
        tr = json.loads(body)["trending"]
        self.assertEqual(tr["slots"], 2)
        self.assertEqual(tr["tries"]["global"]["queries"], len(TREND))
        version = tr["tries"]["global"]["version"]
        self.assertRegex(version, r"^[0-9a-f]{8}$")
        _, h = search(self.srv, "ne")
        self.assertIn("~" + version + "-", h["etag"])
        st, _, _ = self.srv.get("/search?q=ne&k=5", {"If-None-Match": h["etag"]})
        self.assertEqual(st, 304)
        self.assertGreater(self.srv.metric("typeahead_trending_suggestions_total"), 0)
        self.assertNotIn("trending", json.loads(self.off.get("/healthz")[2]))

    def test_answers_are_cached(self):
        # "app": the trending trie has no key starting with it (its screen turns the lookup
        # away); "new p": it has. Both answers, filtered by the rules, are kept and served again.
        for q in ("app", "new p"):
            conn = self.srv.conn()  # one connection, one worker: the second one must be a hit
            before = self.srv.metric('typeahead_answer_cache_lookups_total{result="hit"}')
            first = []
            for _ in range(2):
                conn.request("GET", "/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                first.append(resp.read())
            conn.close()
            self.assertEqual(first[0], first[1])
            after = self.srv.metric('typeahead_answer_cache_lookups_total{result="hit"}')
            self.assertEqual(after - before, 1, q)

    def test_rule_added_while_serving(self):
        for _ in range(3):  # in the answer caches of both workers
            self.assertIn("new pope", [s["text"] for s in search(self.srv, "new p")[0]])
        st, _, body = self.srv.get("/admin/filters", AUTH, method="PUT",
                                   body=(RULES + "phrase:new pope\n").encode())
        self.assertEqual(st, 200, body)
        try:
            for _ in range(10):  # at once, from every worker: no answer kept from before
                for q in ("new p", "n", "ne", "new", ""):
                    self.check(self.srv, q, 5, 2, blocked=("nepal quake", "new pope"))
        finally:
            st, _, _ = self.srv.get("/admin/filters", AUTH, method="PUT", body=RULES.encode())
            self.assertEqual(st, 200)
        self.assertIn("new pope", [s["text"] for s in search(self.srv, "new p")[0]])


class Swap(ServerCase):
    """The trending file replaced, corrupt, removed and back while requests run."""

    def test_swap_under_load(self):
        d = os.path.join(WORK, "swap")
        os.mkdir(d)
        path = os.path.join(d, "trending.trie")
        put(path, TRIES["trend"])
        srv = self.serve("swap", ARGS.serve, TRIES["main"], ["--trending", path, "--threads", "2"])
        stop = threading.Event()
        failures, answers = [], [0]

        def load():
            conn = srv.conn()
            while not stop.is_set():
                try:
                    for mp in (False, True):
                        hdrs = {"Accept": "application/msgpack"} if mp else {}
                        st, _, body = srv.get("/search?q=ne&k=5", hdrs, conn=conn)
                        doc = msgpack_decode(body) if mp else json.loads(body)
                        texts = [s["text"] for s in doc["suggestions"]]
                        if st != 200 or texts[0] != "new york" or len(texts) != 5:
                            failures.append((st, body))
                        answers[0] += 1
                except Exception as e:  # noqa: BLE001 (any failure counts)
                    failures.append(repr(e))
                    conn.close()
                    conn = srv.conn()
            conn.close()

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            def texts(q="ne"):
                return [(s["text"], s.get("trending", False)) for s in search(srv, q)[0]]

            def version():
                return json.loads(srv.get("/healthz")[2])["trending"]["tries"]["global"]["version"]

            self.assertIn(("new pope", True), texts())
            v1 = version()
            etag1 = search(srv, "ne")[1]["etag"]
            put(path, TRIES["trend2"])
            self.assertTrue(wait_for(lambda: ("neon genesis", True) in texts(), 10), texts())
            self.assertNotIn(("new pope", True), texts())
            self.assertNotEqual(version(), v1)
            etag2 = search(srv, "ne")[1]["etag"]
            self.assertNotEqual(etag2, etag1)
            self.assertIn("~" + version() + "-", etag2)
            # a corrupt replacement: refused, the old trending trie stays
            with open(TRIES["trend"], "rb") as f:
                good = f.read()
            put(path, data=good[:len(good) // 2] + b"\xff" * (len(good) - len(good) // 2))
            self.assertTrue(wait_for(lambda: srv.text().count("refused") >= 1, 10), srv.text())
            self.assertIn(("neon genesis", True), texts())
            # removed: no trending, logged once, regular answers as before
            os.unlink(path)
            self.assertTrue(wait_for(lambda: not any(t for _, t in texts()), 10), texts())
            self.assertNotIn("~", search(srv, "ne")[1]["etag"])
            srv.signal(1)  # SIGHUP: a forced reload does not log it again
            time.sleep(0.8)
            self.assertEqual(srv.text().count("is gone"), 1, srv.text())
            self.assertIsNone(
                json.loads(srv.get("/healthz")[2])["trending"]["tries"]["global"]["version"])
            # back
            put(path, TRIES["trend"])
            self.assertTrue(wait_for(lambda: ("new pope", True) in texts(), 10), texts())
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [], "failed requests during the swaps")
        self.assertGreater(answers[0], 20)
        self.assertEqual(srv.stop(), 0)

    def test_missing_at_start(self):
        path = os.path.join(WORK, "absent.trie")
        srv = self.serve("absent", ARGS.serve, TRIES["main"], ["--trending", path])
        self.assertEqual([s["text"] for s in search(srv, "ne")[0]],
                         ["new york", "news", "netflix", "new balance", "nest"])
        self.assertEqual(srv.text().count(path), 1, "logged once")
        put(path, TRIES["trend"])
        self.assertTrue(wait_for(
            lambda: "new pope" in [s["text"] for s in search(srv, "new p")[0]], 10))
        self.assertEqual(srv.stop(), 0)


class Markets(ServerCase):
    """--trie-dir with --trending DIR: each market its own trending trie, else global's."""

    def test_markets(self):
        tries = os.path.join(WORK, "tries")
        trend = os.path.join(WORK, "trend-dir")
        os.mkdir(tries)
        os.mkdir(trend)
        for name, src in (("global", "main"), ("de", "de"), ("fr", "fr")):
            put(os.path.join(tries, name + ".trie"), TRIES[src])
        put(os.path.join(trend, "global.trie"), TRIES["trend"])
        put(os.path.join(trend, "de.trie"), TRIES["trend_de"])
        srv = self.serve("markets", ARGS.serve, None,
                         ["--trie-dir", tries, "--trending", trend, "--filters",
                          os.path.join(WORK, "rules.txt")])
        de, h = search(srv, "ne", market="de")
        self.assertEqual(de[0]["text"], "netz")
        self.assertIn({"text": "neue folge", "score": 70, "trending": True}, de)
        self.assertNotIn("new pope", [s["text"] for s in de])
        fr, _ = search(srv, "ne", market="fr")
        self.assertEqual(fr[0]["text"], "nez")
        self.assertIn({"text": "new pope", "score": 50, "trending": True}, fr)
        self.assertEqual(len([s for s in fr if s["text"] not in [t for t, _ in MAIN + FR]]), 2)
        self.assertNotIn("nepal quake", [s["text"] for s in fr], "blocked in a market too")
        g, _ = search(srv, "ne")
        self.assertIn({"text": "new pope", "score": 50, "trending": True}, g)
        tr = json.loads(srv.get("/healthz")[2])["trending"]["tries"]
        self.assertEqual(tr["de"]["queries"], 1)
        self.assertIsNone(tr["fr"]["version"])
        # de's trending trie removed: de mixes in global's
        os.unlink(os.path.join(trend, "de.trie"))
        self.assertTrue(wait_for(lambda: "new pope" in [
            s["text"] for s in search(srv, "ne", market="de")[0]], 10))
        self.assertEqual(srv.stop(), 0)


class MarketSpelling(ServerCase):
    """A market that mixes in global's trending trie spells some keys its own way: a key is
    shown once (trie_mix tells queries apart by display form, which two markets' tries need
    not share), in the market's spelling, marked trending."""

    def test_key_once(self):
        tries = os.path.join(WORK, "tries-at")
        trend = os.path.join(WORK, "trend-at")
        os.mkdir(tries)
        os.mkdir(trend)
        put(os.path.join(tries, "global.trie"), TRIES["main"])
        put(os.path.join(tries, "at.trie"), TRIES["at"])
        put(os.path.join(trend, "global.trie"), TRIES["trend"])
        srv = self.serve("spelling", ARGS.serve, None, ["--trie-dir", tries, "--trending", trend])
        at, _ = search(srv, "neo", market="at")
        self.assertEqual(at, [{"text": "Neon Lights", "score": 500, "trending": True}])
        # global's fill (its spellings) with the market's own: each key once as well
        at, _ = search(srv, "ne", market="at", k=6)
        keys = [s["text"].lower() for s in at]
        self.assertEqual(len(keys), len(set(keys)), at)
        self.assertEqual(at[0]["text"], "Neon Lights")
        self.assertIn({"text": "Neon Lights", "score": 500, "trending": True}, at)
        self.assertEqual(srv.stop(), 0)


class CommandLine(unittest.TestCase):
    def test_refusals(self):
        for bad in ("17", "x", "-1", ""):
            p = subprocess.run([ARGS.serve, "--trie", TRIES["main"], "--trending-slots", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--trending-slots: expected a whole number from 0 to 16", p.stderr)
        for where, trending in ((["--trie", TRIES["main"]], WORK),
                                (["--trie-dir", WORK], TRIES["trend"])):
            p = subprocess.run([ARGS.serve] + where + ["--trending", trending, "--listen",
                                                       "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("--trending " + trending + ": with --trie", p.stderr)
        p = subprocess.run([ARGS.serve, "--help"], capture_output=True, text=True, timeout=30)
        self.assertRegex(p.stdout, r"(?m)^  --trending PATH ")
        self.assertRegex(p.stdout, r"(?m)^  --trending-slots N$")


if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
