#!/usr/bin/python3
"""Integration tests of aggregation as map and reduce steps (SPEC §12, docs/TABLES.md "Map,
reduce, load"), on the real binary: for random splits of a log at line boundaries over 1 to 5
mappers, `--map | LC_ALL=C sort | --reduce | --load` must leave exactly the tables (--dump,
--dump --market, --markets and the table bytes) of one direct run: a generated tsv log with
markets and bad lines, a generated AOL log whose repeated rows are cut across mappers, and the
AOL sample of the shared datasets when it is there (bin_args.datasets(): beside the repository
in CI). A batch loaded twice counts once; a load killed with SIGKILL and rerun leaves the bytes
of an uninterrupted one; hostile records (unsorted, malformed, overflowing) are refused with
their line number and nothing is written.
Usage: test_agg_mr.py --aggregate PATH [unittest arguments]
"""
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
MARKETS = ["de", "de-at", "us", "x" * 32]
AOL_SAMPLE = os.path.join(bin_args.datasets(), "aol-2006-sample", "aol_top1000_users.tsv")
C_ENV = dict(os.environ, LC_ALL="C")


def agg(*args, stdin=None, check=True):
    p = subprocess.run([ARGS.aggregate, *args], input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise AssertionError("typeahead-aggregate %s failed (%d): %s"
                             % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def tables(d):
    """The bytes of every week table of d."""
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".msgpack"):
            with open(os.path.join(d, f), "rb") as fh:
                out[f] = fh.read()
    return out


def gen_tsv(rng, n):
    words = ["bank", "bahn", "b\u00e4cker", "Bank", "caf\u00e9", "cafe\u0301", "zug"]
    lines = []
    for i in range(n):
        ts = MON + rng.randrange(3 * 604800)
        q = "%s %d" % (rng.choice(words), int(rng.paretovariate(1.2)))
        if i % 7 == 0:
            q = "  " + q.replace(" ", "\t ") + " "  # not in display form
        m = rng.choice(MARKETS + [None, None, ""])
        if i % 211 == 5:
            lines.append(rng.choice(["garbage", "%d\t%s\tDE" % (ts, q), "x\ty"]))
            continue
        lines.append("%d\t%s%s" % (ts, q, "" if m is None else "\t" + m))
    return ("\n".join(lines) + "\n").encode()


def gen_aol(rng, users):
    """Grouped by AnonID, with click rows repeating an event next to it and further on."""
    out = ["AnonID\tQuery\tQueryTime\tItemRank\tClickURL"]
    for u in range(users):
        anon = str(1000 + u)
        events = []
        for _ in range(rng.randrange(1, 30)):
            t = MON + rng.randrange(4 * 604800)
            q = rng.choice(["weather", "bank", "cars", "-", "news  today", "b\u00e4cker"])
            events.append("%s\t%s\t%s" % (anon, q, time.strftime("%Y-%m-%d %H:%M:%S",
                                                                 time.gmtime(t))))
        rows = []
        for e in events:
            for _ in range(rng.choice([1, 1, 2, 3])):
                rows.append(e + "\t%d\thttp://example.com/" % rng.randrange(1, 10))
        rng.shuffle(rows)  # repeats adjacent or not, within the user's rows
        out.extend(rows)
    return ("\n".join(out) + "\n").encode()


class MapReduce(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_agg_mr.")
        cls.rng = random.Random(int(os.environ.get("TA_MR_SEED", "12")))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def direct(self, name, data, fmt):
        log = self.path(name + ".log")
        with open(log, "wb") as f:
            f.write(data)
        d = self.path(name + ".direct")
        shutil.rmtree(d, ignore_errors=True)
        agg("--tables", d, "--format", fmt, "--max-bad", "100", "--quiet", log)
        return d

    def map_parts(self, data, cuts, fmt):
        """The mappers' records of data cut at the line boundaries cuts."""
        lines = data.splitlines(keepends=True)
        bounds = [0] + cuts + [len(lines)]
        records = b""
        for a, b in zip(bounds, bounds[1:]):
            p = agg("--map", "--format", fmt, "--max-bad", "100", "--quiet",
                    stdin=b"".join(lines[a:b]))
            records += p.stdout
        return records

    def reduce(self, records):
        s = subprocess.run(["sort"], input=records, stdout=subprocess.PIPE, env=C_ENV, check=True)
        return agg("--reduce", stdin=s.stdout).stdout

    def assert_same_tables(self, got, want, msg):
        self.assertEqual(agg("--dump", got).stdout, agg("--dump", want).stdout, msg)
        markets = agg("--markets", want).stdout
        self.assertEqual(agg("--markets", got).stdout, markets, msg)
        for line in markets.decode().splitlines():
            m = line.split("\t")[0]
            self.assertEqual(agg("--dump", got, "--market", m).stdout,
                             agg("--dump", want, "--market", m).stdout, msg)
        self.assertEqual(tables(got), tables(want), msg)

    def check_splits(self, name, data, fmt, cuts_list):
        want = self.direct(name, data, fmt)
        self.assertTrue(tables(want))
        for i, cuts in enumerate(cuts_list):
            d = self.path("%s.mr%d" % (name, i))
            shutil.rmtree(d, ignore_errors=True)
            summed = self.reduce(self.map_parts(data, cuts, fmt))
            agg("--load", "--tables", d, "--batch", "b%d" % i, stdin=summed)
            self.assert_same_tables(d, want, "%s, split at lines %s" % (name, cuts))
        return want

    def random_cuts(self, n_lines, k):
        return sorted(self.rng.sample(range(1, n_lines), k))

    def test_tsv_with_markets_random_splits(self):
        data = gen_tsv(self.rng, 20000)
        n = data.count(b"\n")
        self.check_splits("tsv", data, "tsv",
                          [self.random_cuts(n, k) for k in (0, 1, 2, 3, 4)] + [[1, 2, n - 1]])

    def test_aol_duplicates_cut_across_mappers(self):
        data = gen_aol(self.rng, 300)
        lines = data.splitlines()
        # Cuts between two rows of one event (the same first three fields), so its repeats are
        # seen by two mappers.
        between = [i for i in range(2, len(lines))
                   if lines[i].split(b"\t")[:3] == lines[i - 1].split(b"\t")[:3]]
        self.assertGreater(len(between), 20)
        cuts = [sorted(self.rng.sample(between, k)) for k in (1, 2, 4)]
        cuts += [self.random_cuts(len(lines), k) for k in (0, 3, 4)]
        want = self.check_splits("aol", data, "aol", cuts)
        # The direct run did drop repeats: its events are fewer than its rows.
        p = agg("--map", "--format", "aol", "--max-bad", "100", stdin=data)
        self.assertNotIn(b"\t1\n", p.stdout)  # AOL records carry event ids, not counts
        self.assertNotIn(b" 0 duplicate rows", p.stderr)
        self.assertTrue(tables(want))

    @unittest.skipUnless(os.path.exists(AOL_SAMPLE), "no AOL sample at %s (set TA_DATASETS)"
                         % AOL_SAMPLE)
    def test_aol_sample_random_splits(self):
        with open(AOL_SAMPLE, "rb") as f:
            data = f.read()
        n = data.count(b"\n")
        self.check_splits("aolsample", data, "aol", [self.random_cuts(n, 4)])

    def test_two_batches_add_up_and_a_batch_counts_once(self):
        data = gen_tsv(self.rng, 6000)
        lines = data.splitlines(keepends=True)
        half = len(lines) // 2
        want = self.direct("halves", data, "tsv")
        d = self.path("halves.mr")
        shutil.rmtree(d, ignore_errors=True)
        first = self.reduce(self.map_parts(b"".join(lines[:half]), [], "tsv"))
        second = self.reduce(self.map_parts(b"".join(lines[half:]), [], "tsv"))
        agg("--load", "--tables", d, "--batch", "day-1", stdin=first)
        before = tree(d)
        p = agg("--load", "--tables", d, "--batch", "day-1", stdin=first)
        self.assertIn(b"already", p.stderr)
        self.assertEqual(tree(d), before)
        agg("--load", "--tables", d, "--batch", "day-2", stdin=second)
        agg("--load", "--tables", d, "--batch", "day-1", stdin=first)
        self.assert_same_tables(d, want, "two batches")
        with open(os.path.join(d, "batches"), "rb") as f:
            self.assertEqual([l.split(b"\t")[0] for l in f.read().splitlines()[1:]],
                             [b"day-1", b"day-2"])

    def test_kill9_during_load(self):
        rng = random.Random(3)
        records = []
        for w in range(1, 40):
            for i in range(4000):
                records.append("2026-W%02d\t\tquery %06d\t%d\n" % (w, i, rng.randrange(1, 9)))
        data = "".join(records).encode()
        base = self.path("kill.base")
        shutil.rmtree(base, ignore_errors=True)
        agg("--load", "--tables", base, "--batch", "old", stdin=data[:len(data) // 3])
        clean = self.path("kill.clean")
        shutil.copytree(base, clean)
        t0 = time.monotonic()
        agg("--load", "--tables", clean, "--batch", "new", stdin=data)
        estimate = time.monotonic() - t0
        want = tree(clean)

        def start(attempt):
            d = self.path("kill.%d" % attempt)
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(base, d)
            p = subprocess.Popen([ARGS.aggregate, "--load", "--tables", d, "--batch", "new"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.stdin.write(data)
                p.stdin.close()
            except BrokenPipeError:
                pass
            return p

        def after(attempt):
            d = self.path("kill.%d" % attempt)
            agg("--load", "--tables", d, "--batch", "new", stdin=data)
            self.assertEqual(tree(d), want, "after a kill -9 (attempt %d)" % attempt)
            shutil.rmtree(d)

        kill_at_random_moments(self, start, after, 6, estimate, rng)

    def test_hostile_records_are_refused_with_their_line(self):
        d = self.path("hostile")
        shutil.rmtree(d, ignore_errors=True)
        agg("--load", "--tables", d, "--batch", "first",
            stdin=b"2026-W10\t\tbank\t18446744073709551615\n2026-W10\tde\tbank\t5\n")
        before = tree(d)
        good = b"2026-W10\t\tapple\t3\n"
        cases = {
            "unsorted": (good + b"2026-W09\t\tzoo\t1\n", 2),
            "twice": (good + good, 2),
            "fields": (good + b"2026-W10\tapple\t3\n", 2),
            "week": (b"2026-W1\t\tapple\t1\n", 1),
            "week range": (b"2026-W54\t\tapple\t1\n", 1),
            "market": (good + b"2026-W10\tDE\tapple\t1\n", 2),
            "zero": (b"2026-W10\t\tapple\t0\n", 1),
            "leading zero": (b"2026-W10\t\tapple\t07\n", 1),
            "too big": (b"2026-W10\t\tapple\t18446744073709551616\n", 1),
            "event id": (good + b"2026-W10\t\tbanana\t=0123456789abcdef\n", 2),
            "not display": (good + b"2026-W10\t\tb  c\t1\n", 2),
            "utf8": (good + b"2026-W10\t\tb\xff\t1\n", 2),
            "cut": (good + b"2026-W10\t\tzoo\t1", 2),
            "overflow with the table": (b"2026-W10\t\tbank\t1\n", None),
        }
        for what, (text, line) in cases.items():
            p = agg("--load", "--tables", d, "--batch", "b-" + what.replace(" ", "-"),
                    stdin=text, check=False)
            self.assertEqual(p.returncode, 1, what)
            if line:
                self.assertIn(b"line %d:" % line, p.stderr, what)
            self.assertEqual(tree(d), before, what)
        # --reduce: unsorted input, malformed records and sums past 64 bits.
        for what, (text, line) in {
                "unsorted": (b"2026-W10\t\tb\t1\n2026-W10\t\ta\t1\n", 2),
                "malformed": (b"2026-W10\t\ta\t1\n2026-W10\t\ta\n", 2),
                "overflow": (b"2026-W10\t\ta\t18446744073709551615\n2026-W10\t\ta\t1\n", 2),
                "id": (b"2026-W10\t\ta\t=0123\n", 1)}.items():
            p = agg("--reduce", stdin=text, check=False)
            self.assertEqual(p.returncode, 1, what)
            self.assertIn(b"line %d:" % line, p.stderr, what)

    def test_reduce_sums_and_counts_ids_once(self):
        records = (b"2026-W10\t\ta\t2\n2026-W10\t\ta\t2\n2026-W10\t\ta\t=00000000000000aa\n"
                   b"2026-W10\t\ta\t=00000000000000aa\n2026-W10\t\ta\t=00000000000000ab\n"
                   b"2026-W10\tde\ta\t1\n2026-W11\t\ta\t1\n")
        self.assertEqual(agg("--reduce", stdin=records).stdout,
                         b"2026-W10\t\ta\t6\n2026-W10\tde\ta\t1\n2026-W11\t\ta\t1\n")

    def test_map_judges_bad_lines_as_a_run(self):
        data = b"%d\tok\n" % MON + b"nonsense\n" * 3 + b"%d\tfine\n" % MON
        p = agg("--map", stdin=data, check=False)
        self.assertEqual(p.returncode, 1)  # SPEC §4: nothing to keep
        self.assertIn(b"(stdin): line 2: missing field", p.stderr)
        self.assertIn(b"3 of 5 lines are bad", p.stderr)
        p = agg("--map", "--max-bad", "60", stdin=data)
        self.assertEqual(p.stdout, b"2026-W10\t\tok\t1\n2026-W10\t\tfine\t1\n")


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
