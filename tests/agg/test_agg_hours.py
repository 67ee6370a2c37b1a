#!/usr/bin/python3
"""Integration tests of typeahead-aggregate --hours (SPEC §13, docs/TABLES.md "Hour tables"):
every hour table dumps exactly the counts of its hour computed here (global and per market),
the week tables are those of a run without --hours, hours older than 7 days before the newest
are pruned, a rerun counts nothing twice, and a run killed with SIGKILL at any moment and run
again leaves exactly the bytes of an uninterrupted run.
Usage: test_agg_hours.py --aggregate PATH
"""
import collections
import datetime
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agg_test_util import kill_at_random_moments, tree  # noqa: E402

ARGS = None
MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday
WORDS = ["weather", "bank", "Bahn", "news today", "bäckerei", "football"]


def agg(*args, check=True):
    p = subprocess.run([ARGS.aggregate] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError("typeahead-aggregate %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def hour_name(h):
    return datetime.datetime.fromtimestamp(h * 3600, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H")


def write_log(path, n, seed, first, span):
    """n events between first and first + span seconds, a third with a market; returns the
    counts per (hour, market or None, query)."""
    rng = random.Random(seed)
    counts = collections.Counter()
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            t = first + rng.randrange(span)
            q = rng.choice(WORDS)
            m = rng.choice([None, None, "de", "us"])
            f.write("%d\t%s%s\n" % (t, q, "\t" + m if m else ""))
            counts[(t // 3600, None, q)] += 1
            if m:
                counts[(t // 3600, m, q)] += 1
    return counts


def dump_hour(d, h, market=None):
    args = ["--dump", os.path.join(d, hour_name(h) + ".msgpack")]
    if market:
        args += ["--market", market]
    out = {}
    for line in agg(*args).stdout.decode().splitlines():
        _, q, c = line.split("\t")
        out[q] = int(c)
    return out


class Hours(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_agg_hours.")
        cls.log = os.path.join(cls.tmp, "ten_days.tsv")
        cls.counts = write_log(cls.log, 60000, 1, MON, 10 * 86400)
        cls.clean = os.path.join(cls.tmp, "clean")
        t = time.monotonic()
        agg("--tables", cls.clean, "--hours", "--mem", "4", cls.log)
        cls.clean_seconds = time.monotonic() - t
        cls.want = tree(cls.clean)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_hour_tables_hold_each_hours_counts(self):
        hours = sorted({h for h, _, _ in self.counts})
        newest = hours[-1]
        names = sorted(f for f in os.listdir(self.clean) if "T" in f)
        kept = [h for h in hours if h > newest - 168]
        self.assertEqual(names, [hour_name(h) + ".msgpack" for h in kept])
        self.assertEqual(len(kept), 168)
        for h in kept[:3] + kept[-3:] + kept[80:83]:
            for m in (None, "de", "us"):
                want = {q: c for (hh, mm, q), c in self.counts.items() if hh == h and mm == m}
                self.assertEqual(dump_hour(self.clean, h, m), want, (hour_name(h), m))

    def test_week_tables_are_those_without_hours(self):
        plain = os.path.join(self.tmp, "plain")
        agg("--tables", plain, self.log)
        self.assertEqual(agg("--dump", plain).stdout, agg("--dump", self.clean).stdout)
        for m in ("de", "us"):
            self.assertEqual(agg("--dump", plain, "--market", m).stdout,
                             agg("--dump", self.clean, "--market", m).stdout)
        weeks = lambda d: sorted(f for f in os.listdir(d) if "-W" in f)  # noqa: E731
        self.assertEqual(weeks(plain), weeks(self.clean))

    def test_rerun_counts_nothing_twice(self):
        d = os.path.join(self.tmp, "rerun")
        shutil.copytree(self.clean, d)
        agg("--tables", d, "--hours", self.log)
        self.assertEqual(tree(d), self.want)

    def test_newer_log_prunes_old_hours(self):
        d = os.path.join(self.tmp, "prune")
        shutil.copytree(self.clean, d)
        later = os.path.join(self.tmp, "later.tsv")
        # One event 4 days after the newest: the hours before newest - 167 go.
        newest = max(h for h, _, _ in self.counts)
        with open(later, "w") as f:
            f.write("%d\tweather\n" % ((newest + 96) * 3600 + 10))
        p = agg("--tables", d, "--hours", later)
        self.assertIn(b"hour tables older than 7 days removed", p.stderr)
        names = sorted(f[:-len(".msgpack")] for f in os.listdir(d) if "T" in f)
        self.assertEqual(names[-1], hour_name(newest + 96))
        self.assertEqual(names[0], hour_name(newest + 96 - 167))
        self.assertEqual(dump_hour(d, newest + 96), {"weather": 1})

    def test_kill9_at_random_moments(self):
        rng = random.Random(int(os.environ.get("TA_KILL_SEED", "9")))

        def start(attempt):
            d = os.path.join(self.tmp, "kill.%d" % attempt)
            shutil.rmtree(d, ignore_errors=True)
            return subprocess.Popen([ARGS.aggregate, "--tables", d, "--hours", "--mem", "4",
                                     self.log], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        def after(attempt):
            d = os.path.join(self.tmp, "kill.%d" % attempt)
            agg("--tables", d, "--hours", "--mem", "4", self.log)
            self.assertEqual(tree(d), self.want, "after a kill -9 (attempt %d)" % attempt)
            shutil.rmtree(d)

        kill_at_random_moments(self, start, after, 5, self.clean_seconds, rng)

    def test_hours_is_for_counting_runs(self):
        p = agg("--dump", self.clean, "--hours", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--hours goes with --tables", p.stderr)


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
