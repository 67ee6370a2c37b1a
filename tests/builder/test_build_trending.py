#!/usr/bin/python3
"""Integration tests of typeahead-build --trending (SPEC §13, docs/TRENDING.md) on a generated
log aggregated with typeahead-aggregate --hours: a new query rising in the last hours comes out
with its burst score, the steady leaders do not, a handful of events is not a trend, --now moves
the window, --trending-max bounds the trie, --all-markets writes global.trie and M.trie, and a
bad --now or a directory without hour tables is refused with a clear message.
Usage: test_build_trending.py --aggregate PATH --build PATH --query PATH
"""
import datetime
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_build_markets import run  # noqa: E402  (a command, checked)

ARGS = None
MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday
END = MON + 3 * 604800 + 2 * 86400 + 15 * 3600  # Thursday of the 4th week, 15:00
LEADERS = {"weather": 60, "bank": 25, "bahn": 15}  # weights of the steady traffic


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def entries(trie, prefix=""):
    """(display, score) of the trie's completions of prefix, best first."""
    out = run(ARGS.query, trie, prefix, "-k", "32").stdout.decode()
    return [(l.split("\t")[0], float(l.split("\t")[1])) for l in out.splitlines() if l]


class Trending(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_build_trend.")
        rng = random.Random(5)
        lines = []
        words = list(LEADERS)
        weights = list(LEADERS.values())
        # Steady traffic over 3.6 weeks, about 50 events an hour, in market de or none.
        for _ in range(30000):
            t = MON + rng.randrange(END - MON)
            m = rng.choice(["", "de"])
            lines.append("%d\t%s%s" % (t, rng.choices(words, weights)[0], "\t" + m if m else ""))
        # A new query rising in the last 6 hours (60 events, all in market de), another one
        # rising less (20), and a query asked twice (under the floor of 3).
        for _ in range(60):
            lines.append("%d\tBanksy Show\tde" % (END - 1 - rng.randrange(6 * 3600)))
        for _ in range(20):
            lines.append("%d\tbahnstreik" % (END - 1 - rng.randrange(6 * 3600)))
        for _ in range(2):
            lines.append("%d\tbanana bread" % (END - 1 - rng.randrange(3600)))
        rng.shuffle(lines)
        log = os.path.join(cls.tmp, "log.tsv")
        with open(log, "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.tables = os.path.join(cls.tmp, "tables")
        run(ARGS.aggregate, "--tables", cls.tables, "--hours", "--quiet", log)
        cls.trie = os.path.join(cls.tmp, "trending.trie")
        cls.build = run(ARGS.build, "--trending", "--tables", cls.tables, "--out", cls.trie)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_rising_queries_come_out_with_burst_scores(self):
        got = entries(self.trie)
        names = [d for d, _ in got]
        self.assertEqual(names, ["Banksy Show", "bahnstreik"], self.build.stderr)
        # New queries: no baseline, so the score is the decayed recent count x 100 (docs):
        # between the 6-hour decay of the oldest event and the undecayed count.
        score = dict(got)
        self.assertTrue(60 * 100 * 0.5 ** (6 / 6) <= score["Banksy Show"] <= 60 * 100)
        self.assertTrue(20 * 100 * 0.5 <= score["bahnstreik"] <= 20 * 100)
        self.assertEqual(score["Banksy Show"], int(score["Banksy Show"]))
        # Only for its own prefixes.
        self.assertEqual([d for d, _ in entries(self.trie, "bank")], ["Banksy Show"])
        self.assertEqual(entries(self.trie, "w"), [])
        self.assertIn(b"2 queries trending", self.build.stderr)

    def test_scores_equal_the_formula(self):
        """Every score the trie holds is docs/TRENDING.md's burst score computed here from the
        log's events (24 hours, half-life 6 hours, baseline over the weeks before the window's
        week, floor 3, ratio 3), and every query the formula makes trend is there: queries with
        a baseline (rising well, rising too little, steady) and without one."""
        d = os.path.join(self.tmp, "formula")
        os.mkdir(d)
        events = []  # (unix time, key)
        for i in range((END - MON) // 7200):  # one event every 2 hours all along: a baseline
            for q in ("steady", "rising", "mild"):
                events.append((MON + 1800 + 7200 * i + len(q), q))
        events += [(END - 1 - 540 * i, "rising") for i in range(40)]  # the last 6 hours
        events += [(END - 1 - 1700 * i, "mild") for i in range(5)]  # too few above its rate
        events += [(END - 1 - 1100 * i, "fresh") for i in range(30)]  # new: no baseline
        events += [(END - 1 - 3000 * i, "rare") for i in range(2)]  # under the floor
        log = os.path.join(d, "log.tsv")
        with open(log, "w") as f:
            f.writelines("%d\t%s\n" % e for e in events)
        tables, out = os.path.join(d, "tables"), os.path.join(d, "t.trie")
        run(ARGS.aggregate, "--tables", tables, "--hours", "--quiet", log)
        run(ARGS.build, "--trending", "--tables", tables, "--now", str(END - 1), "--out", out)

        now = (END - 1) // 3600  # hours since the epoch
        first_week = (now - 23) * 3600 - ((now - 23) * 3600 - MON) % 604800
        weeks = (first_week - MON) // 604800  # the log starts on MON: weeks 1..3 exist
        self.assertEqual(weeks, 3)
        span = sum(0.5 ** (a / 6) for a in range(24))
        want = {}
        for q in sorted({k for _, k in events}):
            hours = [t // 3600 for t, k in events if k == q and now - 23 <= t // 3600 <= now]
            recent = sum(0.5 ** ((now - h) / 6) for h in hours)
            base = sum(1 for t, k in events if k == q and t < first_week) / (weeks * 168)
            expected = base * span
            if len(hours) >= 3 and recent >= 3 * expected:
                want[q] = math.floor((recent - expected) * 100 + 0.5)
        self.assertEqual(sorted(want), ["fresh", "rising"])  # the fixture does what it says
        got = dict(entries(out))
        self.assertEqual(sorted(got), sorted(want), "the queries that trend")
        for q, score in want.items():
            self.assertLessEqual(abs(got[q] - score), 1, "%s: score %r, the formula %r"
                                 % (q, got[q], score))

    def test_display_form_is_the_main_tries(self):
        """A query rising under a new spelling shows in the trending trie as in the main trie
        (the weekly build's heaviest spelling over its window, the newest week included): the
        server mixes the two by display form, so two spellings of one key would be shown twice.
        The weeks before the window spell it 'banksy show' (its baseline); this week, the rise
        spells it 'Banksy Show'."""
        d = os.path.join(self.tmp, "spelling")
        os.mkdir(d)
        events = [(MON + 3600 * (7 + 12 * i), "banksy show") for i in range(14)]  # weeks 1-2
        events += [(MON + 3600 * (7 + 5 * i), "weather") for i in range(100)]  # steady, all along
        events += [(END - 1 - 400 * i, "Banksy Show") for i in range(50)]  # the rise, week 4
        log = os.path.join(d, "log.tsv")
        with open(log, "w") as f:
            f.writelines("%d\t%s\n" % e for e in events)
        tables = os.path.join(d, "tables")
        main, trend = os.path.join(d, "main.trie"), os.path.join(d, "trend.trie")
        run(ARGS.aggregate, "--tables", tables, "--hours", "--quiet", log)
        run(ARGS.build, "--tables", tables, "--weeks", "4", "--half-life", "4", "--out", main)
        run(ARGS.build, "--trending", "--tables", tables, "--weeks", "4", "--half-life", "4",
            "--out", trend)
        self.assertEqual([t for t, _ in entries(main, "banksy")], ["Banksy Show"])
        self.assertEqual([t for t, _ in entries(trend)], ["Banksy Show"])

    def test_now_moves_the_window(self):
        out = os.path.join(self.tmp, "before.trie")
        # Two days before the rise: nothing rises then (steady traffic only).
        run(ARGS.build, "--trending", "--tables", self.tables, "--now", iso(END - 2 * 86400),
            "--out", out)
        self.assertEqual(entries(out), [])
        # In unix seconds too, at the end: the same as the default (the newest hour).
        run(ARGS.build, "--trending", "--tables", self.tables, "--now", str(END - 1), "--out", out)
        self.assertEqual(entries(out), entries(self.trie))

    def test_floor(self):
        out = os.path.join(self.tmp, "floor.trie")
        # Floor 2: the query asked twice trends too; floor 30: only the 60-event one.
        run(ARGS.build, "--trending", "--tables", self.tables, "--trending-floor", "2", "--out",
            out)
        self.assertEqual([d for d, _ in entries(out)], ["Banksy Show", "bahnstreik",
                                                        "banana bread"])
        run(ARGS.build, "--trending", "--tables", self.tables, "--trending-floor", "30", "--out",
            out)
        self.assertEqual([d for d, _ in entries(out)], ["Banksy Show"])
        p = run(ARGS.build, "--trending", "--tables", self.tables, "--trending-floor", "0",
                "--out", out, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--trending-floor must be a number >= 1", p.stderr)

    def test_blocklist(self):
        rules = os.path.join(self.tmp, "rules")
        with open(rules, "w") as f:
            f.write("word:banksy\n")
        out = os.path.join(self.tmp, "blocked.trie")
        run(ARGS.build, "--trending", "--tables", self.tables, "--blocklist", rules, "--out", out)
        self.assertEqual([d for d, _ in entries(out)], ["bahnstreik"])

    def test_trending_max_bounds_the_trie(self):
        out = os.path.join(self.tmp, "one.trie")
        run(ARGS.build, "--trending", "--tables", self.tables, "--trending-max", "1", "--out", out)
        self.assertEqual([d for d, _ in entries(out)], ["Banksy Show"])

    def test_all_markets(self):
        out = os.path.join(self.tmp, "markets")
        run(ARGS.build, "--trending", "--tables", self.tables, "--all-markets", "--out-dir", out)
        self.assertEqual(sorted(os.listdir(out)), ["de.trie", "global.trie"])
        self.assertEqual([d for d, _ in entries(os.path.join(out, "de.trie"))], ["Banksy Show"])
        self.assertEqual(entries(os.path.join(out, "global.trie")), entries(self.trie))
        # --now is a time with --all-markets too.
        before = os.path.join(self.tmp, "markets_before")
        run(ARGS.build, "--trending", "--tables", self.tables, "--all-markets", "--now",
            iso(END - 2 * 86400), "--out-dir", before)
        self.assertEqual(entries(os.path.join(before, "de.trie")), [])
        p = run(ARGS.build, "--trending", "--tables", self.tables, "--all-markets", "--now", "x",
                "--out-dir", before, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--now must be a time", p.stderr)
        one = os.path.join(self.tmp, "de.trie")
        run(ARGS.build, "--trending", "--tables", self.tables, "--market", "de", "--out", one)
        self.assertEqual(entries(one), entries(os.path.join(out, "de.trie")))

    def test_bad_now_is_refused(self):
        out = os.path.join(self.tmp, "bad.trie")
        p = run(ARGS.build, "--trending", "--tables", self.tables, "--now", "yesterday", "--out",
                out, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--now 'yesterday' is not a time", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_no_hour_tables(self):
        weeks = os.path.join(self.tmp, "weeks_only")
        os.mkdir(weeks)
        for f in os.listdir(self.tables):
            if "-W" in f:
                shutil.copy(os.path.join(self.tables, f), weeks)
        p = run(ARGS.build, "--trending", "--tables", weeks, "--out",
                os.path.join(self.tmp, "x.trie"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no hour tables (run typeahead-aggregate --hours first)", p.stderr)

    def test_deploy_job(self):
        """deploy/typeahead-trending: counts a spool into hour tables (leaving the logs in it)
        and installs the trending trie; a rerun counts nothing twice."""
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        job = os.path.join(src, "deploy", "typeahead-trending")
        spool, tables = os.path.join(self.tmp, "spool"), os.path.join(self.tmp, "job_tables")
        os.mkdir(spool)
        shutil.copy(os.path.join(self.tmp, "log.tsv"), spool)
        out = os.path.join(self.tmp, "job.trie")
        env = dict(os.environ, TA_BIN=os.path.dirname(ARGS.build))
        for _ in range(2):
            p = subprocess.run([job, spool, tables, out], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            self.assertEqual(entries(out), entries(self.trie))
        self.assertEqual(os.listdir(spool), ["log.tsv"])
        # Usage errors say so.
        p = subprocess.run([job, spool], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"usage: typeahead-trending", p.stderr)

    def test_trending_needs_tables(self):
        p = run(ARGS.build, "--trending", "--freq", "-", "--out", "x", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--trending reads --tables", p.stderr)


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate", "build", "query").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
