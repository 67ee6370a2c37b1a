#!/usr/bin/python3
"""Integration test of ta-eval (the quality and latency evaluator of tests/quality/).

Builds a small trie with the real typeahead-build from a hand-made frequency list, then checks
ta-eval quality's per-prefix-length success@5 and MRR against a brute-force model of the same
ranking (score desc, key asc) and against a few values worked out by hand, and that ta-eval
latency reports ordered percentiles for the lookup and the clock reference.

Usage: test_eval.py --build BIN --eval BIN
"""
import argparse
import os
import subprocess
import sys
import tempfile

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--eval", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        freq = os.path.join(d, "freq.tsv")
        with open(freq, "w", encoding="utf-8") as f:
            f.writelines("%s\t%d\n" % qc for qc in FREQ)
        trie = os.path.join(d, "t.trie")
        subprocess.run([a.build, "--freq", freq, "--out", trie, "--k", "10"], check=True)
        events = os.path.join(d, "events.txt")
        with open(events, "w", encoding="utf-8") as f:
            f.writelines(e + "\n" for e in EVENTS)

        out = subprocess.run([a.eval, "quality", "--trie", trie, "--events", events,
                              "--k", str(K), "--max-len", "8"],
                             check=True, capture_output=True, text=True).stdout
        got = {}
        for line in out.splitlines():
            if line.startswith("# events"):
                f = line.split("\t")
                assert f[1] == str(len(EVENTS)) and f[3] == "1", line  # "" is skipped
                continue
            if line.startswith("#"):
                continue
            L, n, hits, succ, mrr = line.split("\t")
            got[int(L)] = (int(n), int(hits), float(succ), float(mrr))
        want = model(8)
        assert sorted(got) == list(range(1, 9)), out
        for L, (n, hits, rr) in want.items():
            g = got[L]
            assert (g[0], g[1]) == (n, hits), "L=%d: got %r, want events=%d hits=%d\n%s" % (
                L, g, n, hits, out)
            n = n or 1  # no event that long: ta-eval prints 0
            assert abs(g[2] - hits / n) < 1e-3 and abs(g[3] - rr / n) < 1e-3, (L, g, rr / n)
        # By hand: at "a" the top 5 are apple, app store, application, apply, appetite, so the
        # 7 non-empty events give L=1: apple x2 (rank 1), APPLY (rank 4); apricot, banana (b:
        # banana first), zebra, eclair (e: éclair first) -> hits 2+1+1+1 = 5 of 7.
        assert got[1][:2] == (7, 5), got[1]
        assert abs(got[1][3] - (1 + 1 + 0.25 + 1 + 1) / 7) < 1e-3, got[1]
        # L=6 only counts keys of 6+ letters: apricot, banana, eclair (apple x2, apply, zebra
        # are shorter), and all three are found first.
        assert got[6][:2] == (3, 3), got[6]

        prefixes = os.path.join(d, "prefixes.txt")
        with open(prefixes, "w", encoding="utf-8") as f:
            f.write("a\nap\napp\nb\nzz\nÉ\n")
        out = subprocess.run([a.eval, "latency", "--trie", trie, "--prefixes", prefixes,
                              "--rounds", "50"], check=True, capture_output=True,
                             text=True).stdout
        rows = {l.split("\t")[0]: l.split("\t")[1:] for l in out.splitlines()
                if not l.startswith("#")}
        for what in ("trie_lookup", "empty_timed_region"):
            n, p50, p90, p99, p999, mx = (int(x) for x in rows[what][:6])
            assert n == 6 * 50 and 0 <= p50 <= p90 <= p99 <= p999 <= mx, (what, rows[what])

        bad = subprocess.run([a.eval, "quality", "--trie", events, "--events", events],
                             capture_output=True, text=True)
        assert bad.returncode == 1 and "ta-eval" in bad.stderr, bad
    print("integration_quality_eval: ok")


if __name__ == "__main__":
    sys.exit(main())
