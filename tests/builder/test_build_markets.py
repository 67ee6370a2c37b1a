#!/usr/bin/python3
"""Integration tests of typeahead-build's markets (SPEC §10): --market M builds exactly the
trie of M's events (the same weeks and decay as the global build), --all-markets --out-dir
writes global.trie and M.trie for every market with at least --min-market-events events in the
window, removes the trie of a market that fell below it, and leaves other files alone.
Usage: test_build_markets.py --aggregate PATH --build PATH --query PATH
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None
MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday
WEEK = 604800
PREFIXES = ["", "b", "ba", "bu", "w", "x"]
WORDS = ["bank", "bundesliga", "bahn", "baseball", "bagel", "weather", "Bank"]


def run(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), p.returncode,
                                                    p.stderr.decode(errors="replace")))
    return p


def answers(trie):
    """What the trie answers for PREFIXES (display and score): its observable content."""
    return {q: run(ARGS.query, trie, q, "-k", "10").stdout.decode() for q in PREFIXES}


class BuildMarkets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Events per market: de and us are big, fr small (40), "global" is a market's name.
        sizes = {"de": 3000, "us": 2500, "fr": 40, "global": 1500, None: 2000}
        cls.tmp, rng = tempfile.mkdtemp(prefix="ta_build_mkt."), random.Random(3)
        lines, cls.per_market, cls.in_window = [], {}, {}
        for m, n in sizes.items():
            mine = []
            cls.in_window[m] = 0
            for _ in range(n):
                ts = MON + rng.randrange(4 * WEEK)
                cls.in_window[m] += ts >= MON + WEEK  # --weeks 3 up to 2026-W13
                mine.append("%d\t%s %d" % (ts, rng.choice(WORDS), int(rng.paretovariate(1.2))))
            cls.per_market[m] = mine
            lines += [x + ("\t" + m if m else "") for x in mine]
        # fr also has events far outside the window: they do not count for --min-market-events.
        old = ["%d\tbagel old\tfr" % (MON - 20 * WEEK + i) for i in range(5000)]
        rng.shuffle(lines)
        cls.log = os.path.join(cls.tmp, "log.tsv")
        with open(cls.log, "w") as f:
            f.write("\n".join(lines + old) + "\n")
        cls.tables = os.path.join(cls.tmp, "t")
        run(ARGS.aggregate, "--tables", cls.tables, cls.log)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def build(self, *args):
        return run(ARGS.build, "--tables", self.tables, "--weeks", "3", "--half-life", "1",
                   "--min-count", "0", *args)

    def alone(self, market):
        """The trie of market's lines aggregated on their own, as a global total."""
        d = os.path.join(self.tmp, "alone-" + str(market))
        if not os.path.exists(d):
            log = os.path.join(self.tmp, "alone-%s.tsv" % market)
            with open(log, "w") as f:
                f.write("\n".join(self.per_market[market]) + "\n")
            run(ARGS.aggregate, "--tables", d, log)
        out = d + ".trie"
        run(ARGS.build, "--tables", d, "--weeks", "3", "--half-life", "1", "--min-count", "0",
            "--now", "2026-W13", "--out", out)
        return out

    def test_one_market_is_its_events_alone(self):
        out = os.path.join(self.tmp, "de.trie")
        self.build("--market", "de", "--now", "2026-W13", "--out", out)
        want = answers(self.alone("de"))
        self.assertEqual(answers(out), want)
        self.assertNotEqual(want, answers(self.alone("us")))  # the comparison can tell markets
        # A market without events in the window: an empty trie, not an error.
        out = os.path.join(self.tmp, "zz.trie")
        self.build("--market", "zz", "--out", out)
        self.assertEqual(answers(out)["b"], "")

    def test_all_markets_min_events_and_stale_files(self):
        d = os.path.join(self.tmp, "tries")
        fr = self.in_window["fr"]  # its 5000 old events are outside the window
        self.assertLess(fr, 40)
        p = self.build("--now", "2026-W13", "--all-markets", "--out-dir", d,
                       "--min-market-events", str(fr))
        self.assertEqual(sorted(os.listdir(d)), ["de.trie", "fr.trie", "global.trie", "us.trie"])
        self.assertIn("market 'global' gets no file", p.stderr.decode())
        glob = os.path.join(self.tmp, "global.trie")
        self.build("--now", "2026-W13", "--out", glob)
        self.assertEqual(answers(os.path.join(d, "global.trie")), answers(glob))
        self.assertEqual(answers(os.path.join(d, "us.trie")), answers(self.alone("us")))
        # Files that are not market tries stay; fr falls below fr + 1 and loses its trie.
        for name in ("notes.txt", "UPPER.trie", ".hidden.trie"):
            open(os.path.join(d, name), "w").close()
        p = self.build("--now", "2026-W13", "--all-markets", "--out-dir", d,
                       "--min-market-events", str(fr + 1))
        self.assertEqual(sorted(os.listdir(d)), [".hidden.trie", "UPPER.trie", "de.trie",
                                                 "global.trie", "notes.txt", "us.trie"])
        self.assertIn("1 stale removed", p.stderr.decode())
        # The default threshold (1000): de and us (over 1500 events in the window) only.
        self.assertGreater(min(self.in_window["de"], self.in_window["us"]), 1000)
        self.build("--now", "2026-W13", "--all-markets", "--out-dir", d,
                   "--min-market-events", "0")
        self.assertIn("fr.trie", os.listdir(d))
        self.build("--now", "2026-W13", "--all-markets", "--out-dir", d)
        self.assertEqual(sorted(os.listdir(d)), [".hidden.trie", "UPPER.trie", "de.trie",
                                                 "global.trie", "notes.txt", "us.trie"])

    def test_usage_errors(self):
        for args in (["--market", "DE", "--out", "x.trie"],
                     ["--all-markets", "--out", "x.trie"],
                     ["--market", "de", "--all-markets", "--out-dir", "d"],
                     ["--out-dir", "d"]):
            p = run(ARGS.build, "--tables", self.tables, *args, check=False)
            self.assertEqual(p.returncode, 2, args)
        p = run(ARGS.build, "--freq", self.log, "--market", "de", "--out", "x.trie", check=False)
        self.assertEqual(p.returncode, 2)
        # the flags of the week window say nothing to a frequency list: refused, not ignored
        for args in (["--now", "2026-W13"], ["--now", "not a date"], ["--weeks", "3"],
                     ["--half-life", "1"]):
            p = run(ARGS.build, "--freq", self.log, *args, "--out", "x.trie", check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("choose weeks of --tables", p.stderr.decode())

    def test_empty_window_fails(self):
        """A window with no rows of the global total (logs that stopped coming, --now before
        every table) builds nothing and leaves --out as it was: an empty trie would answer
        nothing (a market's may be empty: test_one_market_is_its_events_alone)."""
        out = os.path.join(self.tmp, "kept.trie")
        self.build("--now", "2026-W13", "--out", out)
        before = open(out, "rb").read()
        for args in (["--now", "2025-W01"], ["--now", "2025-W01", "--all-markets"]):
            dest = ["--out-dir", os.path.join(self.tmp, "empty-all")] if "--all-markets" in \
                args else ["--out", out]
            p = run(ARGS.build, "--tables", self.tables, "--weeks", "3", *args, *dest,
                    check=False)
            self.assertEqual(p.returncode, 1, (args, p.stderr))
            self.assertIn("no rows in the 3 weeks up to", p.stderr.decode())
            self.assertEqual(open(out, "rb").read(), before)
        self.assertIn("--all-markets", run(ARGS.build, "--help").stdout.decode())


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate", "build", "query").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
