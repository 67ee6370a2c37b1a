#!/usr/bin/python3
"""Integration test of ta-eval (the quality and latency evaluator of tests/quality/).

Builds a small trie with the real typeahead-build from a hand-made frequency list, then checks
ta-eval quality's per-prefix-length success@5 and MRR against a brute-force model of the same
ranking (score desc, key asc) and against a few values worked out by hand, and that ta-eval
latency reports ordered percentiles for the lookup and the clock reference.

Usage: test_eval.py --build PATH --eval PATH [unittest arguments]
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None  # the command line: --build, --eval (parsed in __main__)

FREQ = [("apple", 100), ("app store", 80), ("application", 70), ("apply", 60),
        ("appetite", 55), ("apricot", 50), ("Banana", 10), ("band", 9), ("Éclair", 5)]
# Events as typed by users; "zebra" was never seen, "ECLAIR" matches "Éclair" through its key.
EVENTS = ["apple", "apricot", "banana", "zebra", "APPLY", "ECLAIR", "", "apple"]
K = 5


def key(s):
    import unicodedata
    s = unicodedata.normalize("NFKC", s).casefold()
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    return " ".join(s.split())


def model(max_len):
    ranked = sorted(((key(q), c) for q, c in FREQ), key=lambda t: (-t[1], t[0]))
    ev = {L: [0, 0, 0.0] for L in range(1, max_len + 1)}
    for e in EVENTS:
        k = key(e)
        for L in range(1, min(len(k), max_len) + 1):
            top = [q for q, _ in ranked if q.startswith(k[:L])][:K]
            ev[L][0] += 1
            if k in top:
                ev[L][1] += 1
                ev[L][2] += 1.0 / (top.index(k) + 1)
    return ev


class Eval(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        freq = os.path.join(d, "freq.tsv")
        with open(freq, "w", encoding="utf-8") as f:
            f.writelines("%s\t%d\n" % qc for qc in FREQ)
        cls.trie = os.path.join(d, "t.trie")
        subprocess.run([ARGS.build, "--freq", freq, "--out", cls.trie, "--k", "10"], check=True)
        cls.events = os.path.join(d, "events.txt")
        with open(cls.events, "w", encoding="utf-8") as f:
            f.writelines(e + "\n" for e in EVENTS)
        cls.prefixes = os.path.join(d, "prefixes.txt")
        with open(cls.prefixes, "w", encoding="utf-8") as f:
            f.write("a\nap\napp\nb\nzz\nÉ\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_quality_equals_the_model(self):
        out = subprocess.run([ARGS.eval, "quality", "--trie", self.trie, "--events", self.events,
                              "--k", str(K), "--max-len", "8"],
                             check=True, capture_output=True, text=True).stdout
        got = {}
        for line in out.splitlines():
            if line.startswith("# events"):
                f = line.split("\t")
                self.assertEqual(f[1], str(len(EVENTS)), line)
                self.assertEqual(f[3], "1", line)  # "" is skipped
                continue
            if line.startswith("#"):
                continue
            L, n, hits, succ, mrr = line.split("\t")
            got[int(L)] = (int(n), int(hits), float(succ), float(mrr))
        want = model(8)
        self.assertEqual(sorted(got), list(range(1, 9)), out)
        for L, (n, hits, rr) in want.items():
            with self.subTest(L=L):
                g = got[L]
                self.assertEqual((g[0], g[1]), (n, hits), "L=%d: got %r, want events=%d hits=%d\n%s"
                                 % (L, g, n, hits, out))
                n = n or 1  # no event that long: ta-eval prints 0
                self.assertLess(abs(g[2] - hits / n), 1e-3, (L, g, rr / n))
                self.assertLess(abs(g[3] - rr / n), 1e-3, (L, g, rr / n))
        # By hand: at "a" the top 5 are apple, app store, application, apply, appetite, so the
        # 7 non-empty events give L=1: apple x2 (rank 1), APPLY (rank 4); apricot, banana (b:
        # banana first), zebra, eclair (e: éclair first) -> hits 2+1+1+1 = 5 of 7.
        self.assertEqual(got[1][:2], (7, 5), got[1])
        self.assertLess(abs(got[1][3] - (1 + 1 + 0.25 + 1 + 1) / 7), 1e-3, got[1])
        # L=6 only counts keys of 6+ letters: apricot, banana, eclair (apple x2, apply, zebra
        # are shorter), and all three are found first.
        self.assertEqual(got[6][:2], (3, 3), got[6])

    def test_latency_percentiles_ordered(self):
        out = subprocess.run([ARGS.eval, "latency", "--trie", self.trie, "--prefixes",
                              self.prefixes, "--rounds", "50"], check=True, capture_output=True,
                             text=True).stdout
        rows = {l.split("\t")[0]: l.split("\t")[1:] for l in out.splitlines()
                if not l.startswith("#")}
        for what in ("trie_lookup", "empty_timed_region"):
            with self.subTest(what=what):
                n, p50, p90, p99, p999, mx = (int(x) for x in rows[what][:6])
                self.assertEqual(n, 6 * 50, (what, rows[what]))
                self.assertTrue(0 <= p50 <= p90 <= p99 <= p999 <= mx, (what, rows[what]))

    def test_not_a_trie(self):
        bad = subprocess.run([ARGS.eval, "quality", "--trie", self.events, "--events", self.events],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1, bad)
        self.assertIn("ta-eval", bad.stderr, bad)


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("build", "eval").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
