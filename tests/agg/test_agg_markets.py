#!/usr/bin/python3
"""Integration tests of markets in typeahead-aggregate (SPEC §10, docs/TABLES.md), on the real
binary: a generated log with random markets (and lines without one, bad markets, a fourth
field) must give, for the global total and for each market, exactly the counts of a brute-force
model of the log; --markets the events of each market; the same tables whatever the threads
and memory budget; version 2 tables are read as tables without markets and upgraded when a run
touches their week.
Usage: test_agg_markets.py --aggregate PATH [unittest arguments]
"""
import collections
import datetime
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
from agg_test_util import tree  # noqa: E402

ARGS = None
MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday
MARKETS = ["de", "de-at", "us", "fr_ca", "x" * 32]


def agg(*args, check=True):
    p = subprocess.run([ARGS.aggregate, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError("typeahead-aggregate %s failed (%d): %s"
                             % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def monday(ts):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).date()
    return (d - datetime.timedelta(days=d.weekday())).isoformat()


def dump_of(counter):
    """--dump's text of a Counter of (week_start, spelling) -> count."""
    return "".join("%s\t%s\t%d\n" % (w, s, n)
                   for (w, s), n in sorted(counter.items(),
                                           key=lambda x: (x[0][0], x[0][1].encode())))


class Markets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_agg_mkt.")
        rng = random.Random(15)
        words = ["bank", "bundesliga", "bahn", "b\u00e4cker", "baseball", "bagel", "Bank"]
        cls.glob, cls.mkt = collections.Counter(), collections.defaultdict(collections.Counter)
        cls.events = collections.Counter()
        lines, cls.bad = [], collections.Counter()
        for i in range(100000):
            ts = MON + rng.randrange(3 * 604800)
            # Half of them rare (many distinct pairs, so that --mem 1 spills).
            q = "%s %d" % (rng.choice(words), int(rng.paretovariate(1.0)) if i % 2 else
                           rng.randrange(30000))
            m = rng.choice(MARKETS + [None, None])
            if i % 997 == 3:  # bad markets and fourth fields: bad lines, counted nowhere
                reason, tail = rng.choice([("bad market", "\tDE"), ("bad market", "\tde.at"),
                                           ("bad market", "\t" + "x" * 33),
                                           ("extra field", "\tde\tus")])
                lines.append("%d\t%s%s" % (ts, q, tail))
                cls.bad[reason] += 1
                continue
            # Queries not in display form go through the normalizer with the market after them.
            raw = q if i % 5 else "  " + q.replace(" ", "   ") + " "
            lines.append("%d\t%s%s" % (ts, raw, "\t" + m if m else ("\t" if i % 7 == 0 else "")))
            cls.glob[(monday(ts), q)] += 1
            if m:
                cls.mkt[m][(monday(ts), q)] += 1
                cls.events[m] += 1
        cls.log = os.path.join(cls.tmp, "log.tsv")
        with open(cls.log, "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.tables = os.path.join(cls.tmp, "t")
        cls.summary = agg("--tables", cls.tables, "--threads", "2", cls.log).stderr.decode()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_global_is_every_event(self):
        self.assertIn("%d events" % sum(self.glob.values()), self.summary)
        for reason, n in self.bad.items():
            self.assertIn("%s %d" % (reason, n), self.summary)
        self.assertEqual(agg("--dump", self.tables).stdout.decode(), dump_of(self.glob))

    def test_each_market_equals_the_model(self):
        self.assertEqual(sorted(self.mkt), sorted(MARKETS))
        for m in MARKETS:
            self.assertEqual(agg("--dump", self.tables, "--market", m).stdout.decode(),
                             dump_of(self.mkt[m]), m)
        # A market with no events prints nothing; an invalid name is a usage error.
        self.assertEqual(agg("--dump", self.tables, "--market", "zz").stdout, b"")
        p = agg("--dump", self.tables, "--market", "DE", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("[a-z0-9_-]", p.stderr.decode())

    def test_markets_lists_events(self):
        out = agg("--markets", self.tables).stdout.decode()
        want = "".join("%s\t%d\n" % (m, self.events[m]) for m in sorted(MARKETS))
        self.assertEqual(out, want)
        # One table file: only its week.
        week = sorted(f for f in os.listdir(self.tables) if f.endswith(".msgpack"))[0]
        out = agg("--markets", os.path.join(self.tables, week)).stdout.decode()
        first = min(w for w, _ in self.glob)
        want = collections.Counter()
        for m in MARKETS:
            want[m] = sum(n for (w, _), n in self.mkt[m].items() if w == first)
        self.assertEqual(out, "".join("%s\t%d\n" % (m, want[m]) for m in sorted(MARKETS)))

    def test_same_tables_whatever_threads_and_budget(self):
        want = tree(self.tables)
        del want["ledger"]
        for args in (["--threads", "1"], ["--threads", "4", "--mem", "1"]):
            d = os.path.join(self.tmp, "x" + "".join(args))
            p = agg("--tables", d, *args, self.log)
            got = tree(d)
            del got["ledger"]
            self.assertEqual(got, want, args)
            if "--mem" in args:
                self.assertNotIn(" 0 spills", p.stderr.decode())

    def test_no_market_lines_have_no_markets(self):
        d = os.path.join(self.tmp, "plain")
        log = os.path.join(self.tmp, "plain.tsv")
        with open(log, "w") as f:
            f.write("%d\tbank\n%d\tbahn\t\n" % (MON, MON + 1))
        agg("--tables", d, log)
        self.assertEqual(agg("--markets", d).stdout, b"")
        self.assertEqual(agg("--dump", d).stdout.decode(),
                         "2026-03-02\tbahn\t1\n2026-03-02\tbank\t1\n")


def v2_table(week, monday_s, rows):
    """The bytes of a version 2 table (docs/TABLES.md), written here by hand."""
    def s(x):
        b = x.encode()
        assert len(b) < 32
        return bytes([0xa0 | len(b)]) + b
    out = b"\x87" + s("format") + s("typeahead-week") + s("version") + b"\x02" + s("norm") + \
        b"\x02" + s("week") + s(week) + s("week_start") + s(monday_s) + s("counts") + \
        b"\xdf" + len(rows).to_bytes(4, "big")
    for k, n in rows:
        out += s(k) + bytes([n])
    return out + s("events") + bytes([sum(n for _, n in rows)])


class Version2(unittest.TestCase):
    """Tables written before markets (version 2) in a directory of their own."""

    def test_v2_read_as_no_markets_and_upgraded(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_agg_v2.")
        self.addCleanup(shutil.rmtree, self.tmp)
        d = os.path.join(self.tmp, "t")
        os.mkdir(d)
        with open(os.path.join(d, "2026-W10.msgpack"), "wb") as f:
            f.write(v2_table("2026-W10", "2026-03-02", [("bahn", 3), ("bank", 2)]))
        self.assertEqual(agg("--dump", d).stdout.decode(),
                         "2026-03-02\tbahn\t3\n2026-03-02\tbank\t2\n")
        self.assertEqual(agg("--markets", d).stdout, b"")
        log = os.path.join(self.tmp, "log.tsv")
        with open(log, "w") as f:
            f.write("%d\tbank\tde\n%d\tbmw\n" % (MON + 5, MON + 6))
        agg("--tables", d, log)
        self.assertEqual(agg("--dump", d).stdout.decode(),
                         "2026-03-02\tbahn\t3\n2026-03-02\tbank\t3\n2026-03-02\tbmw\t1\n")
        self.assertEqual(agg("--dump", d, "--market", "de").stdout.decode(),
                         "2026-03-02\tbank\t1\n")
        with open(os.path.join(d, "2026-W10.msgpack"), "rb") as f:
            self.assertEqual(f.read(1), b"\x88")  # now a version 3 table: 8 keys


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
