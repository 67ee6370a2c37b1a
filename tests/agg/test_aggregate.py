#!/usr/bin/python3
"""Integration tests of typeahead-aggregate, run on the real binary.

A log with known counts (several weeks, Sunday 23:59:59 against Monday 00:00:00 UTC, unix and
ISO timestamps, offsets, gzip and plain and stdin, AOL repeats, bad lines of each reason) must
dump exactly the counts computed here; reruns, renamed copies and kill -9 at random moments must
leave the tables directory byte-identical to a clean run; a tiny --mem must give the same bytes;
a wrong --format must write nothing; hostile table files must give clear errors.
Usage: test_aggregate.py --aggregate PATH [unittest arguments]
"""
import collections
import datetime
import fcntl
import gzip
import hashlib
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

ARGS = None  # the command line: --aggregate (parsed in __main__)


def agg(*args, stdin=None, check=True, timeout=None):
    p = subprocess.run([ARGS.aggregate, *args], input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("typeahead-aggregate %s failed (%d): %s"
                             % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def dump(path):
    return agg("--dump", path).stdout.decode()


def xxh128(data):
    """The XXH3-128 of data as xxh128sum prints it (the ledger's digest, docs/TABLES.md)."""
    return subprocess.run(["xxh128sum"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout.split()[0].decode()


def sha256(data):
    """The digest of the rows of version 1 and 2 ledgers."""
    return hashlib.sha256(data).hexdigest()


def monday(ts):
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).date()
    return (d - datetime.timedelta(days=d.weekday())).isoformat()


def iso(ts, sep="T", z="Z"):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%d" + sep + "%H:%M:%S") + z


# Raw spelling -> display form (trie_norm_display: NFC, whitespace runs -> one space, trimmed).
SPELLINGS = {
    "weather": "weather",
    "Weather": "Weather",
    "  new   york ": "new york",
    "Caf\u00e9": "Caf\u00e9",
    "Cafe\u0301": "Caf\u00e9",          # decomposed: NFC composes it
    "caf\u00e9": "caf\u00e9",
    "M\u00fcnchen": "M\u00fcnchen",
    "na\u00efve  bayes": "na\u00efve bayes",
    "\u5317\u4eac": "\u5317\u4eac",
}

MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday


class KnownCounts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_agg_it.")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_dump_equals_known_counts(self):
        rng = random.Random(3)
        expect = collections.Counter()
        lines_a, lines_b, lines_c = [], [], []
        bad = collections.Counter()
        raws = list(SPELLINGS)
        # Events in 5 weeks, many right at the boundaries.
        for i in range(3000):
            week = rng.randrange(5)
            edge = rng.random()
            if edge < 0.2:
                ts = MON + week * 604800 - 1         # Sunday 23:59:59: the week before
            elif edge < 0.4:
                ts = MON + week * 604800             # Monday 00:00:00: this week
            else:
                ts = MON + week * 604800 + rng.randrange(604800)
            raw = raws[min(int(rng.paretovariate(1.2)) - 1, len(raws) - 1)]
            form = rng.randrange(5)
            if form == 0:
                stamp = str(ts)
            elif form == 1:
                stamp = iso(ts)
            elif form == 2:
                stamp = iso(ts, " ", "")
            elif form == 3:   # the same instant written in UTC+02:00
                stamp = iso(ts + 7200, "T", "+02:00")
            else:             # and in UTC-05:00
                stamp = iso(ts - 18000, "T", "-0500")
            expect[(monday(ts), SPELLINGS[raw])] += 1
            [lines_a, lines_b, lines_c][i % 3].append(stamp + "\t" + raw)
        # Bad lines of each reason (2% of lines: under the default --max-bad).
        bad_lines = [("bad timestamp", "2026-02-30T00:00:00Z\tx"),
                     ("bad timestamp", "yesterday\tx"),
                     ("missing field", "no tab at all"),
                     ("extra field", "1772409600\tx\tde\ty"),
                     ("bad market", "1772409600\tx\tDE"),
                     ("invalid UTF-8", "1772409600\tcaf\udcc3("),
                     ("empty query", "1772409600\t   "),
                     ("too long", "1772409600\t" + "x" * 2000)]
        for i in range(60):
            reason, line = bad_lines[i % len(bad_lines)]
            bad[reason] += 1
            lines_a.insert(rng.randrange(len(lines_a)), line)
        # Blank lines and CRLF are not bad.
        lines_b.insert(5, "")
        lines_b[7] += "\r"
        a = os.path.join(self.tmp, "a.tsv")
        with open(a, "wb") as f:
            f.write(("\n".join(lines_a) + "\n").encode("utf-8", "surrogateescape"))
        b = os.path.join(self.tmp, "b.tsv.gz")
        with gzip.open(b, "wb") as f:
            f.write("\n".join(lines_b).encode())   # no final newline
        c = ("\n".join(lines_c) + "\n").encode()

        # AOL: one event per (AnonID, Query, QueryTime), however many click rows.
        aol = ["AnonID\tQuery\tQueryTime\tItemRank\tClickURL"]
        for user in range(40):
            events = []
            for j in range(rng.randrange(1, 8)):
                ts = MON + rng.randrange(5 * 604800)
                events.append((rng.choice(raws), ts))
            rows = []
            for q, ts in events:
                expect[(monday(ts), SPELLINGS[q])] += 1
                for k in range(rng.randrange(1, 4)):
                    rows.append("%d\t%s\t%s\t%d\thttp://example.com/%d"
                                % (1000 + user, q, iso(ts, " ", ""), k + 1, k))
            rng.shuffle(rows)  # repeats need not be adjacent
            aol.extend(rows)
        aolf = os.path.join(self.tmp, "aol.txt")
        with open(aolf, "w") as f:
            f.write("\n".join(aol) + "\n")

        tables = os.path.join(self.tmp, "tables")
        p = agg("--tables", tables, a, b, "-", stdin=c)
        summary = p.stderr.decode()
        self.assertIn("3060 lines, 3000 events", summary)
        for reason, n in bad.items():
            self.assertIn("%s %d" % (reason, n), summary)
        self.assertIn("%d weeks written" % len({w for w, _ in expect}), summary)
        agg("--tables", tables, "--format", "aol", aolf)

        want = "".join("%s\t%s\t%d\n" % (w, s, n) for (w, s), n in
                       sorted(expect.items(), key=lambda kv: (kv[0][0], kv[0][1].encode())))
        self.assertEqual(dump(tables), want)
        # One file per ISO week, named by it; --dump FILE prints one table.
        names = sorted("%04d-W%02d.msgpack" % datetime.date.fromisoformat(w).isocalendar()[:2]
                       for w in {w for w, _ in expect})
        self.assertEqual(sorted(f for f in os.listdir(tables) if f.endswith(".msgpack")), names)
        one = dump(os.path.join(tables, names[0]))
        self.assertEqual(one, "".join(l + "\n" for l in want.splitlines()
                                      if l.startswith(one[:10])))

    def test_max_bad_writes_nothing(self):
        # An AOL log read as tsv: every line is bad.
        log = os.path.join(self.tmp, "aol.txt")
        with open(log, "w") as f:
            f.write("AnonID\tQuery\tQueryTime\tItemRank\tClickURL\n")
            for i in range(100):
                f.write("%d\tquery %d\t2006-03-01 07:33:28\t\t\n" % (i, i))
        tables = os.path.join(self.tmp, "t")
        p = agg("--tables", tables, log, check=False)
        self.assertEqual(p.returncode, 1)  # SPEC §4: refused (named), nothing written: exit 1
        self.assertIn("refused %s: 101 of 101 lines are bad" % log, p.stderr.decode())
        self.assertIn("--format", p.stderr.decode())
        self.assertEqual([f for f in os.listdir(tables) if f != ".lock"], [])
        # The right format works; --max-bad 100 accepts anything.
        agg("--tables", tables, "--format", "aol", log)
        self.assertEqual(dump(tables).count("\n"), 100)
        t2 = os.path.join(self.tmp, "t2")
        agg("--tables", t2, "--max-bad", "100", log)
        self.assertEqual(sorted(os.listdir(t2)), [".lock", "ledger"])


def big_log(path, lines, seed):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "caf\u00e9", "m\u00fcnchen", "north", "south",
             "river", "stone", "light", "\u5317\u4eac", "blue", "green", "seven", "eleven"]
    with open(path, "w") as f:
        for i in range(lines):
            q = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))
            q += " %d" % int(rng.paretovariate(0.8))
            # Half the lines name a market: crashes and reruns must keep those counts exact too.
            m = rng.choice(["", "", "", "de", "us", "fr-ca"])
            f.write("%d\t%s%s\n" % (MON + rng.randrange(6 * 604800), q, "\t" + m if m else ""))


class Idempotence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_agg_idem.")
        cls.small = os.path.join(cls.tmp, "small.tsv")
        big_log(cls.small, 2000, 1)
        cls.big = os.path.join(cls.tmp, "big.tsv")
        big_log(cls.big, 300000, 2)
        # The reference: small then big, uninterrupted, with a budget that makes it spill.
        cls.base = os.path.join(cls.tmp, "base")
        agg("--tables", cls.base, cls.small)
        cls.clean = os.path.join(cls.tmp, "clean")
        shutil.copytree(cls.base, cls.clean)
        t = time.monotonic()
        agg("--tables", cls.clean, "--mem", "4", cls.big)
        cls.clean_seconds = time.monotonic() - t
        cls.want = tree(cls.clean)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def fresh(self, name):
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(self.base, d)
        return d

    def test_same_file_twice_and_renamed_copy(self):
        d = self.fresh("twice")
        agg("--tables", d, "--mem", "4", self.big)
        self.assertEqual(tree(d), self.want)
        p = agg("--tables", d, "--mem", "4", self.big)
        self.assertIn("1 already ingested", p.stderr.decode())
        self.assertEqual(tree(d), self.want)
        renamed = os.path.join(self.tmp, "renamed-copy.log")
        shutil.copy(self.big, renamed)
        agg("--tables", d, renamed, self.small)
        self.assertEqual(tree(d), self.want)
        # The same content on stdin, and given twice in one run, is also known.
        with open(self.big, "rb") as f:
            agg("--tables", d, "-", stdin=f.read())
        self.assertEqual(tree(d), self.want)
        d2 = self.fresh("twice-in-one-run")
        agg("--tables", d2, "--mem", "4", self.big, renamed)
        self.assertEqual(tree(d2), self.want)

    def test_kill9_at_random_moments(self):
        """Ten runs killed with SIGKILL while running (at random moments up to the length of a
        whole run), each followed by a rerun that must leave exactly the clean run's bytes."""
        markets = agg("--markets", self.clean).stdout.decode()
        self.assertEqual([line.split("\t")[0] for line in markets.splitlines()],
                         ["de", "fr-ca", "us"])
        self.kill_and_rerun(self.base, self.big, self.want, 10, 0)

    def kill_and_rerun(self, base, log, want, kills, seed):
        """Runs over log on copies of base, killed with SIGKILL at random moments, each then
        rerun: the directory must hold exactly want."""
        rng = random.Random(int(os.environ.get("TA_KILL_SEED", "9")) + seed)

        def start(attempt):
            d = os.path.join(self.tmp, "kill%d.%d" % (seed, attempt))
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(base, d)
            return subprocess.Popen([ARGS.aggregate, "--tables", d, "--mem", "4", log],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def after(attempt):
            d = os.path.join(self.tmp, "kill%d.%d" % (seed, attempt))
            agg("--tables", d, "--mem", "4", log)
            self.assertEqual(tree(d), want, "after a kill -9 (attempt %d)" % attempt)
            shutil.rmtree(d)

        kill_at_random_moments(self, start, after, kills, self.clean_seconds, rng)

    def test_kill9_after_commit_is_rolled_forward(self):
        # Simulate the moment after the commit rename: tables in .txn, not yet moved.
        d = self.fresh("rollforward")
        agg("--tables", d, "--mem", "4", self.big)
        txn = os.path.join(d, ".txn")
        os.mkdir(txn)
        for f in os.listdir(d):
            if f.endswith(".msgpack") or f == "ledger":
                os.rename(os.path.join(d, f), os.path.join(txn, f))
        shutil.copy(os.path.join(self.base, "ledger"), os.path.join(d, "ledger"))
        # Readers already see the committed state.
        self.assertEqual(dump(d), dump(self.clean))
        agg("--tables", d, "--mem", "4", self.big)
        self.assertEqual(tree(d), self.want)

    def test_kill9_grown_log(self):
        """A log that grew (its first half ingested, then the whole): runs killed at random
        moments and rerun leave the bytes of an uninterrupted run, whose tables are those of a
        one-shot run over the whole log."""
        with open(self.big, "rb") as f:
            data = f.read()
        half = data[:data.index(b"\n", len(data) // 2) + 1]
        log = os.path.join(self.tmp, "growing.log")
        with open(log, "wb") as f:
            f.write(half)
        base = self.fresh("grown-base")
        agg("--tables", base, "--mem", "4", log)
        with open(log, "wb") as f:
            f.write(data)
        clean = os.path.join(self.tmp, "grown-clean")
        shutil.rmtree(clean, ignore_errors=True)
        shutil.copytree(base, clean)
        p = agg("--tables", clean, "--mem", "4", log)
        self.assertIn("%d lines" % (data.count(b"\n") - half.count(b"\n")), p.stderr.decode())
        want = tree(clean)
        tables = {k: v for k, v in want.items() if k != "ledger"}
        self.assertEqual(tables, {k: v for k, v in self.want.items() if k != "ledger"})
        self.kill_and_rerun(base, log, want, 5, 1)

    def test_spill_equals_memory(self):
        d = self.fresh("inmem")
        p = agg("--tables", d, self.big)
        self.assertIn(" 0 spills", p.stderr.decode())
        self.assertEqual(tree(d), self.want)
        d1 = self.fresh("tiny")
        p = agg("--tables", d1, "--mem", "1", self.big)
        self.assertNotIn(" 0 spills", p.stderr.decode())
        self.assertEqual(tree(d1), self.want)


def tsv_lines(n, seed, first=0):
    """n tsv lines (bytes, each with its newline), several weeks, a few repeated queries."""
    rng = random.Random(seed)
    return [("%d\tq%d %s\n" % (MON + rng.randrange(3 * 604800), rng.randrange(50),
                               rng.choice(list(SPELLINGS)))).encode()
            for _ in range(first, first + n)]


class Identity(unittest.TestCase):
    """A log is known by its decompressed content (plain and gzip count once), a log that grew
    counts only its new lines, a bad log is refused alone, and old ledgers are still read."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_agg_ident.")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def oneshot(self, data, *args):
        d = os.path.join(self.tmp, "oneshot%d" % len(os.listdir(self.tmp)))
        agg("--tables", d, *args, self.write("whole%d.log" % len(os.listdir(self.tmp)), data))
        return dump(d)

    def ledger(self, d):
        with open(os.path.join(d, "ledger")) as f:
            return [l.rstrip("\n").split("\t") for l in f if not l.startswith("#")]

    def test_plain_then_gzip_counts_once(self):
        data = b"".join(tsv_lines(3000, 1))  # over 4096 bytes: the head is a part
        plain = self.write("access.log", data)
        packed = self.write("access.log.1.gz", gzip.compress(data))
        for first, second in ((plain, packed), (packed, plain)):
            d = os.path.join(self.tmp, "t-" + os.path.basename(first))
            agg("--tables", d, first)
            want = tree(d)
            p = agg("--tables", d, second)
            self.assertIn("1 inputs (1 already ingested)", p.stderr.decode())
            self.assertEqual(tree(d), want)
            self.assertEqual([r[:3] for r in self.ledger(d)],
                             [[xxh128(data), str(len(data)), xxh128(data[:4096])]])
        self.assertEqual(dump(os.path.join(self.tmp, "t-access.log")),
                         dump(os.path.join(self.tmp, "t-access.log.1.gz")))
        # Small logs (all of it in the head) too, and both given in one run.
        small = b"".join(tsv_lines(20, 2))
        d = os.path.join(self.tmp, "small")
        p = agg("--tables", d, self.write("s.log", small), self.write("s.gz", gzip.compress(small)))
        self.assertIn("2 inputs (1 already ingested)", p.stderr.decode())
        self.assertEqual(dump(d), self.oneshot(small))

    def test_grown_log_counts_only_new_lines(self):
        lines = tsv_lines(3000, 3)
        log = os.path.join(self.tmp, "live.log")
        d = os.path.join(self.tmp, "t")
        for upto in (1000, 1001, 2500, 3000):  # grows three times
            self.write("live.log", b"".join(lines[:upto]))
            p = agg("--tables", d, log)
            err = p.stderr.decode()
            self.assertIn("1 inputs (0 already ingested)", err)
            new = upto - {1000: 0, 1001: 1000, 2500: 1001, 3000: 2500}[upto]
            self.assertIn(" %d lines, %d events" % (new, new), err)
        self.assertEqual(dump(d), self.oneshot(b"".join(lines)))
        # Its gzip copy (logrotate) and the older versions are known.
        p = agg("--tables", d, self.write("live.log.gz", gzip.compress(b"".join(lines))),
                self.write("old.log", b"".join(lines[:1001])))
        self.assertIn("2 inputs (2 already ingested)", p.stderr.decode())
        # A grown log given gzipped: its new part only.
        more = tsv_lines(200, 4)
        p = agg("--tables", d, self.write("live.log.2.gz", gzip.compress(b"".join(lines + more))))
        self.assertIn(" 200 lines, 200 events", p.stderr.decode())
        self.assertEqual(dump(d), self.oneshot(b"".join(lines + more)))

    def test_grown_log_cut_mid_line(self):
        # Read while a line was half written: that line is counted as it was; when the log has
        # grown, the rest of the line is not counted again (every line counts once).
        lines = tsv_lines(300, 5)
        cut = b"".join(lines[:100]) + lines[100][:-6]
        d = os.path.join(self.tmp, "t")
        agg("--tables", d, self.write("live.log", cut))
        p = agg("--tables", d, self.write("live.log", b"".join(lines)))
        self.assertIn(" 199 lines, 199 events", p.stderr.decode())
        # Bad lines after the boundary are named by their line number in the whole log.
        d2 = os.path.join(self.tmp, "t2")
        agg("--tables", d2, self.write("b.log", b"".join(lines[:100])))
        p = agg("--tables", d2, self.write("b.log", b"".join(lines[:100]) + b"garbage\n"
                                          + b"".join(lines[100:])))
        self.assertIn("b.log: line 101: missing field", p.stderr.decode())

    def test_grown_aol_log_keeps_the_duplicate_rule(self):
        head = b"AnonID\tQuery\tQueryTime\tItemRank\tClickURL\n"
        rows = [b"5\tfirst\t2006-03-01 07:00:00\t1\thttp://a\n",
                b"7\tweather\t2006-03-01 08:00:00\t1\thttp://b\n",
                b"7\tnews\t2006-03-01 08:05:00\t\t\n"]
        later = [b"7\tweather\t2006-03-01 08:00:00\t2\thttp://c\n",  # a second click: no event
                 b"7\tnews\t2006-03-01 08:05:00\t1\thttp://d\n",
                 b"7\tnews\t2006-03-01 09:00:00\t\t\n",  # a new event
                 b"9\tweather\t2006-03-01 10:00:00\t\t\n"]
        d = os.path.join(self.tmp, "t")
        agg("--tables", d, "--format", "aol", self.write("aol.txt", head + b"".join(rows)))
        p = agg("--tables", d, "--format", "aol", self.write("aol.txt", head + b"".join(rows + later)))
        self.assertIn("2 events, 2 duplicate rows", p.stderr.decode())
        self.assertEqual(dump(d), self.oneshot(head + b"".join(rows + later), "--format", "aol"))

    def test_bad_log_refused_alone(self):
        good = self.write("good.log", b"".join(tsv_lines(2000, 6)))
        junk = self.write("junk.log", b"not a log line\n" * 5)
        missing = os.path.join(self.tmp, "missing.log")
        refused = os.path.join(self.tmp, "refused.list")
        d = os.path.join(self.tmp, "t")
        # 5 bad lines of 2005 would pass a judgement over the run: each log is judged alone.
        p = agg("--tables", d, "--refused-list", refused, good, junk, missing, check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("refused %s: 5 of 5 lines are bad" % junk, err)
        self.assertIn("refused %s: No such file" % missing, err)
        self.assertIn("3 inputs (0 already ingested), 2 refused", err)
        with open(refused, "rb") as f:
            self.assertEqual(f.read(), junk.encode() + b"\0" + missing.encode() + b"\0")
        self.assertEqual(dump(d), self.oneshot(self.read(good)))
        self.assertEqual([r[4] for r in self.ledger(d)], [good])  # the refused are not recorded
        # A refused log whose good lines were counted before its bad ones: the run starts over
        # without it, and the tables are those of the good logs alone.
        mixed = self.write("mixed.log", b"".join(tsv_lines(50, 7)) + b"bad\n" * 20)
        good2 = self.write("good2.log", b"".join(tsv_lines(100, 8)))
        p = agg("--tables", d, mixed, good2, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("refused %s: 20 of 70 lines are bad" % mixed, p.stderr.decode())
        self.assertIn(" 100 lines, 100 events", p.stderr.decode())
        both = self.read(good) + self.read(good2)
        self.assertEqual(dump(d), self.oneshot(both))
        # A gzip file cut short (a copy that did not finish): refused when the stream breaks,
        # after its first blocks were counted; the run counts again without it.
        big = b"".join(tsv_lines(60000, 13))
        cut = self.write("cut.gz", gzip.compress(big)[:-2000])
        good3 = self.write("good3.log", b"".join(tsv_lines(30, 14)))
        before = dump(d)
        p = agg("--tables", d, cut, good3, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("refused %s: %s: gzip error" % (cut, cut), p.stderr.decode())
        self.assertIn(" 30 lines, 30 events", p.stderr.decode())
        self.assertEqual(dump(d), self.oneshot(both + self.read(good3)))
        self.assertNotEqual(dump(d), before)
        # A refused log beside logs ingested before: nothing is ingested, so nothing written and
        # exit 1 (SPEC §4), the refusal still named and listed.
        before = dump(d)
        p = agg("--tables", d, "--refused-list", refused, good, cut, good2, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("3 inputs (2 already ingested), 1 refused", p.stderr.decode())
        with open(refused, "rb") as f:
            self.assertEqual(f.read(), cut.encode() + b"\0")
        self.assertEqual(dump(d), before)
        # Fixed, the same name is counted: exit 0.
        self.write("junk.log", b"".join(tsv_lines(10, 9)))
        p = agg("--tables", d, junk)
        self.assertIn(" 10 events", p.stderr.decode())
        # A run whose ledger cannot be read is an error of the run: exit 1, nothing written.
        with open(os.path.join(d, "ledger"), "a") as f:
            f.write("garbage\n")
        p = agg("--tables", d, self.write("new.log", b"".join(tsv_lines(5, 10))), check=False)
        self.assertEqual(p.returncode, 1)

    def test_files0_from(self):
        # The LOG names from a file, each ended by a NUL (find -print0): what the nightly and
        # trending jobs pass, since a spool of more logs than exec takes failed every night.
        # The same run as with the names on the command line: tables, ledger, refusals.
        logs = [self.write(name, data) for name, data in (
            ("a.log", b"".join(tsv_lines(300, 21))), ("-dash\nnewline.log", b"junk\n" * 3),
            ("c d.log", b"".join(tsv_lines(200, 22))))]
        names = self.write("names", b"".join(n.encode() + b"\0" for n in logs))
        runs = []
        for how in (["--files0-from", names], ["--"] + logs):
            d = os.path.join(self.tmp, "t%d" % len(runs))
            refused = d + ".refused"
            p = agg("--tables", d, "--refused-list", refused, *how, check=False)
            self.assertEqual(p.returncode, 3, p.stderr)
            runs.append((tree(d), self.read(refused)))
        self.assertEqual(runs[0], runs[1])
        self.assertEqual(runs[0][1], logs[1].encode() + b"\0")
        # Not a list: a name without its NUL (a list cut short), an empty name, no name at all
        # are usage errors (2), a list that cannot be read a failure (1); nothing written.
        d = os.path.join(self.tmp, "bad")
        for data, status, what in ((logs[0].encode(), 2, "no NUL after it"),
                                   (logs[0].encode() + b"\0\0", 2, "an empty name"),
                                   (b"", 2, "no name in it"),
                                   (None, 1, "no such file")):
            path = os.path.join(self.tmp, "missing") if data is None else self.write("l", data)
            p = agg("--tables", d, "--files0-from", path, check=False)
            self.assertEqual(p.returncode, status, p.stderr)
            self.assertIn(what, p.stderr.decode())
            self.assertFalse(os.path.exists(d))
        p = agg("--tables", d, "--files0-from", names, logs[0], check=False)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_version1_ledger_is_read_and_migrated(self):
        data = b"".join(tsv_lines(500, 11))
        log = self.write("old.log", data)
        d = os.path.join(self.tmp, "t")
        agg("--tables", d, log)
        # What a version 1 aggregator wrote: sha256, bytes, events, name.
        rows = [[sha256(data)] + r[1:] for r in self.ledger(d)]
        with open(os.path.join(d, "ledger"), "w") as f:
            f.write("# typeahead-aggregate ledger v1: sha256<TAB>bytes<TAB>events<TAB>name\n")
            for r in rows:
                f.write("%s\t%s\t%s\t%s\n" % (r[0], r[1], r[3], r[4]))
        before = dump(d)
        p = agg("--tables", d, self.write("copy.log", data),
                self.write("other.log", b"".join(tsv_lines(10, 12))))
        self.assertIn("2 inputs (1 already ingested)", p.stderr.decode())
        self.assertNotEqual(dump(d), before)
        with open(os.path.join(d, "ledger")) as f:
            self.assertTrue(f.readline().startswith("# typeahead-aggregate ledger v3"))
        migrated = [r for r in self.ledger(d) if r[4] == log]
        self.assertEqual(migrated, [[rows[0][0], rows[0][1], "-", rows[0][3], log]])
        # A ledger of an unknown version is refused, not guessed.
        with open(os.path.join(d, "ledger"), "w") as f:
            f.write("# typeahead-aggregate ledger v9: ...\n")
        p = agg("--tables", d, log, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("version 9", p.stderr.decode())

    def test_version2_ledger_still_knows_its_logs(self):
        # Logs ingested by an aggregator that wrote SHA-256 rows (ledger v2) are not counted
        # twice after the upgrade: neither again, nor as a gzip copy; a grown one counts only its
        # new lines. The old rows are kept as they were, beside the new XXH3-128 rows.
        lines = tsv_lines(3000, 15)
        data = b"".join(lines[:2000])  # over 4096 bytes: the head is a part
        small = b"".join(tsv_lines(20, 16))  # all of it in the head
        log, small_log = self.write("v2.log", data), self.write("v2-small.log", small)
        d = os.path.join(self.tmp, "t")
        agg("--tables", d, log, small_log)
        v2_rows = sorted("%s\t%d\t%s\t%s\t%s\n" % (sha256(c), len(c), sha256(c[:4096]), r[3], r[4])
                         for c, r in zip((data, small), sorted(self.ledger(d), key=lambda r: r[4])))
        with open(os.path.join(d, "ledger"), "w") as f:
            f.write("# typeahead-aggregate ledger v2: sha256<TAB>bytes<TAB>head<TAB>events<TAB>name\n")
            f.writelines(v2_rows)
        before = dump(d)
        p = agg("--tables", d, self.write("copy.log", data), self.write("v2.log.gz", gzip.compress(data)),
                self.write("small-copy.log", small))
        self.assertIn("3 inputs (3 already ingested)", p.stderr.decode())
        self.assertEqual(dump(d), before)
        p = agg("--tables", d, self.write("v2.log", b"".join(lines)))
        self.assertIn(" 1000 lines, 1000 events", p.stderr.decode())
        self.assertEqual(dump(d), self.oneshot(b"".join(lines) + small))
        with open(os.path.join(d, "ledger")) as f:
            self.assertTrue(f.readline().startswith("# typeahead-aggregate ledger v3"))
            kept = f.readlines()
        self.assertEqual([r for r in kept if len(r.split("\t")[0]) == 64], v2_rows)
        grown = [r.split("\t")[:3] for r in kept if len(r.split("\t")[0]) == 32]
        self.assertEqual(grown, [[xxh128(b"".join(lines)), str(len(b"".join(lines))),
                                  xxh128(data[:4096])]])
        # And the grown log, now in a v3 row, is known too.
        p = agg("--tables", d, log)
        self.assertIn("1 inputs (1 already ingested)", p.stderr.decode())


class ThreadsAndBlocks(unittest.TestCase):
    """Inputs are read in blocks of 1 MB that worker threads parse and count in partitions:
    the tables, the ledger and the named bad lines must not depend on --threads or --mem, and
    a line longer than a block is one bad line."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta_agg_threads.")
        rng = random.Random(11)
        raws = list(SPELLINGS) + ["query %d" % i for i in range(3000)]
        lines, cls.expect, cls.bad_at = [], collections.Counter(), []
        for i in range(150000):
            ts = MON + rng.randrange(3 * 604800)
            if i % 2:
                raw = raws[min(int(rng.paretovariate(0.7)) - 1, len(raws) - 1)]
            else:  # many distinct pairs, so that --mem 1 spills
                raw = "rare %d" % rng.randrange(100000)
            stamp = str(ts) if i % 3 else iso(ts)
            if i % 9973 == 5:
                lines.append("%d\t%s\tde\textra" % (ts, raw))
                cls.bad_at.append((len(lines), "extra field"))
                continue
            if i == 70000:  # longer than a block: one bad line, then counting goes on
                lines.append("%d\t%s" % (ts, "y" * (1536 * 1024)))
                cls.bad_at.append((len(lines), "too long"))
                continue
            lines.append(stamp + "\t" + raw)
            cls.expect[(monday(ts), SPELLINGS.get(raw, raw))] += 1
        cls.log = os.path.join(cls.tmp, "log.tsv")
        with open(cls.log, "w") as f:
            f.write("\n".join(lines))  # the last line has no newline
        cls.want = "".join("%s\t%s\t%d\n" % (w, q, n) for (w, q), n in
                           sorted(cls.expect.items(), key=lambda kv: (kv[0][0], kv[0][1].encode())))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def run_with(self, *args):
        d = os.path.join(self.tmp, "t" + "".join(args).replace("-", "_"))
        shutil.rmtree(d, ignore_errors=True)
        p = agg("--tables", d, *args, self.log)
        return d, p.stderr.decode()

    def test_same_tables_whatever_threads_and_budget(self):
        ref, ref_err = self.run_with("--threads", "1")
        self.assertEqual(dump(ref), self.want)
        self.assertIn(" 0 spills", ref_err)
        named = [l for l in ref_err.splitlines() if ": line " in l]
        self.assertEqual(len(named), 10)  # the first ten bad lines, in file order
        for (lineno, reason), l in zip(self.bad_at, named):
            self.assertIn("log.tsv: line %d: %s" % (lineno, reason), l)
        for args in (("--threads", "2"), ("--threads", "4"), ("--threads", "1", "--mem", "1"),
                     ("--threads", "2", "--mem", "1"), ("--threads", "3", "--mem", "2")):
            d, err = self.run_with(*args)
            self.assertEqual(tree(d), tree(ref), args)
            self.assertEqual([l for l in err.splitlines() if ": line " in l], named, args)
            if "--mem" in args:
                self.assertNotIn(" 0 spills", err, args)

    def test_too_long_line_ending_near_a_block_end(self):
        # Blocks are 1 MiB: the first is all of a too long line, the second holds its end and
        # the first 10 bytes of the next line, which must be carried, not dropped.
        mib = 1 << 20
        log = os.path.join(self.tmp, "edge.tsv")
        rows = ["%d\tafter %d" % (MON + i, i) for i in range(20)]
        with open(log, "w") as f:
            f.write("%d\t" % MON + "z" * (2 * mib - 11 - 11) + "\n" + "\n".join(rows) + "\n")
        self.assertEqual(len(str(MON)) + 1 + 2 * mib - 22, 2 * mib - 11)
        for threads in ("1", "2"):
            d = os.path.join(self.tmp, "edge" + threads)
            shutil.rmtree(d, ignore_errors=True)
            p = agg("--tables", d, "--threads", threads, log)
            err = p.stderr.decode()
            self.assertIn("edge.tsv: line 1: too long", err)
            self.assertIn("21 lines, 20 events", err)
            self.assertEqual(dump(d), "".join("%s\tafter %d\t1\n" % (monday(MON), i)
                                              for i in sorted(range(20), key=str)))

    def test_ledger_digest_and_size_rule(self):
        with open(self.log, "rb") as f:
            data = f.read()
        d, _ = self.run_with("--threads", "2")
        with open(os.path.join(d, "ledger")) as f:
            rows = [l.split("\t") for l in f if not l.startswith("#")]
        # Hashed while counted: the digest of the whole file, its size, the digest of its first
        # 4096 bytes, its events.
        self.assertEqual(rows, [[xxh128(data), str(len(data)), xxh128(data[:4096]),
                                 str(sum(self.expect.values())), self.log + "\n"]])
        # Another file of the same size, other bytes: counted (it is hashed first).
        other = os.path.join(self.tmp, "same-size.tsv")
        with open(other, "wb") as f:
            f.write(data.replace(b"query 1\n", b"query 2\n", 1))
        self.assertEqual(os.path.getsize(other), len(data))
        p = agg("--tables", d, other, self.log)
        self.assertIn("2 inputs (1 already ingested)", p.stderr.decode())
        self.assertIn("%d events" % sum(self.expect.values()), p.stderr.decode())


class Hostile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_agg_hostile.")
        log = os.path.join(self.tmp, "l.tsv")
        with open(log, "w") as f:
            for i in range(200):
                f.write("%d\tquery %d\n" % (MON + i * 3600, i % 17))
        self.tables = os.path.join(self.tmp, "t")
        agg("--tables", self.tables, log)
        self.table = os.path.join(self.tables, "2026-W10.msgpack")
        with open(self.table, "rb") as f:
            self.good = f.read()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_busy_tables_wait(self):
        # Another run holds DIR's lock (the trending job's, when the nightly job starts): without
        # --wait the run fails at once, with it the run waits for the lock, then counts.
        log = os.path.join(self.tmp, "more.tsv")
        with open(log, "w") as f:
            f.write("%d\tlater query\n" % (MON + 60))
        with open(os.path.join(self.tables, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = agg("--tables", self.tables, log, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(b"another typeahead-aggregate is working on", p.stderr)
            t0 = time.monotonic()
            p = agg("--tables", self.tables, "--wait", "1", log, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)
            waiting = subprocess.Popen([ARGS.aggregate, "--tables", self.tables, "--wait", "60",
                                        log], stderr=subprocess.PIPE)
            time.sleep(1.0)
            self.assertIsNone(waiting.poll())  # still waiting
        _, err = waiting.communicate(timeout=60)
        self.assertEqual(waiting.returncode, 0, err)
        self.assertIn("later query", dump(self.tables))
        for bad in (["--wait", "-1"], ["--wait", "86401"], ["--wait", "x"]):
            self.assertEqual(agg("--tables", self.tables, *bad, log, check=False).returncode, 2)
        self.assertEqual(agg("--dump", self.tables, "--wait", "5", check=False).returncode, 2)

    def check_bad(self, data, says):
        with open(self.table, "wb") as f:
            f.write(data)
        for args in (["--dump", self.tables], ["--dump", self.table]):
            p = agg(*args, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            err = p.stderr.decode()
            self.assertIn("2026-W10.msgpack", err)
            self.assertIn(says, err)
        # A run that must merge into the bad table refuses, and writes nothing.
        before = tree(self.tables)
        log = os.path.join(self.tmp, "more.tsv")
        with open(log, "w") as f:
            f.write("%d\tmore\n" % (MON + 3600))
        p = agg("--tables", self.tables, log, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("2026-W10.msgpack", p.stderr.decode())
        self.assertEqual(tree(self.tables), before)

    def test_truncated(self):
        self.check_bad(self.good[:len(self.good) // 2], "ends in the middle")

    def test_failed_run_lists_no_refusal(self):
        # A run that refuses a log and then fails (here: merging into a cut table) exits 1 like
        # a run whose every new log was refused; the nightly and trending jobs tell the two
        # apart by the --refused-list, so a failed run leaves it empty (the refusal is still
        # named on stderr). It listed the refused log, and the jobs went on as if nothing had
        # failed (moving the log to failed/, building from the tables as they were).
        with open(self.table, "wb") as f:
            f.write(self.good[:len(self.good) // 2])
        more = os.path.join(self.tmp, "more.tsv")
        with open(more, "w") as f:
            f.write("%d\tmore\n" % (MON + 3600))
        junk = os.path.join(self.tmp, "junk.tsv")
        with open(junk, "w") as f:
            f.write("not a log line\n" * 5)
        refused = os.path.join(self.tmp, "refused.list")
        p = agg("--tables", self.tables, "--refused-list", refused, more, junk, check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("refused %s: 5 of 5 lines are bad" % junk, err)
        self.assertIn("ends in the middle", err)
        with open(refused, "rb") as f:
            self.assertEqual(f.read(), b"")
        # The table repaired, the same run lists the refusal.
        with open(self.table, "wb") as f:
            f.write(self.good)
        p = agg("--tables", self.tables, "--refused-list", refused, more, junk, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        with open(refused, "rb") as f:
            self.assertEqual(f.read(), junk.encode() + b"\0")
        # --hours: the run counts, then its pruning fails (an old "hour table" that cannot be
        # removed: a directory); the run has failed, so it lists no refusal either.
        hours = os.path.join(self.tmp, "hours")
        os.makedirs(os.path.join(hours, "2026-01-05T00.msgpack", "x"))
        p = agg("--tables", hours, "--hours", "--refused-list", refused, more, junk, check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("cannot remove", err)
        with open(refused, "rb") as f:
            self.assertEqual(f.read(), b"")

    def test_empty(self):
        self.check_bad(b"", "empty file")

    def test_wrong_types(self):
        self.check_bad(b"\x93\x01\x02\x03", "not a typeahead week table")
        # The count of the first row replaced by a string.
        i = self.good.index(b"query 0") + len(b"query 0")
        self.check_bad(self.good[:i] + b"\xa1x" + self.good[i + 1:], "unsigned integer")

    def test_fifo_in_tables(self):
        # A FIFO under a table's name or as the ledger (nothing the aggregator writes) blocked
        # the open for good: --dump, and a run that merges into that week or reads the ledger
        # (the nightly job for its 6 hours, holding the lock the trending job waits for). Now
        # each is refused at once, named.
        log = os.path.join(self.tmp, "more.tsv")
        with open(log, "w") as f:
            f.write("%d\tmore\n" % MON)
        for name in ("2026-W10.msgpack", "ledger"):
            path = os.path.join(self.tables, name)
            os.rename(path, path + ".saved")
            os.mkfifo(path)
            runs = [agg("--tables", self.tables, log, check=False, timeout=20)]
            if name != "ledger":
                runs.append(agg("--dump", self.tables, check=False, timeout=20))
            for p in runs:
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("%s: a FIFO, not a regular file" % path, p.stderr.decode())
            os.unlink(path)
            os.rename(path + ".saved", path)
        self.assertEqual(agg("--tables", self.tables, log).returncode, 0)

    def test_scratch_names_are_not_followed(self):
        # .work, .txn.tmp and .txn are the aggregator's own names in DIR. A symlink planted
        # under one (by the user owning DIR, the server's) was followed: the run, perhaps
        # root's by hand, unlinked every file of the link's target (.work, .txn.tmp) or moved
        # them into DIR (.txn). A link is now removed (.work, .txn.tmp) or refused (.txn,
        # .lock).
        victim = os.path.join(self.tmp, "victim")
        os.mkdir(victim)
        with open(os.path.join(victim, "precious"), "w") as f:
            f.write("keep me\n")
        for n, name in enumerate((".work", ".txn.tmp", ".txn")):
            link = os.path.join(self.tables, name)
            os.symlink(victim, link)
            log = os.path.join(self.tmp, "more%d.tsv" % n)
            with open(log, "w") as f:
                f.write("%d\tmore %d\n" % (MON, n))
            p = agg("--tables", self.tables, log, check=False)
            self.assertEqual(os.listdir(victim), ["precious"], name)
            if name == ".txn":
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(".txn: cannot complete the interrupted run: a symlink",
                              p.stderr.decode())
                os.unlink(link)
                p = agg("--tables", self.tables, log, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertFalse(os.path.lexists(link), name)
        self.assertIn("more 2", dump(self.tables))
        # A dangling symlink as .lock: the run created the file it named.
        lock = os.path.join(self.tables, ".lock")
        os.unlink(lock)
        os.symlink(os.path.join(victim, "created"), lock)
        p = agg("--tables", self.tables, log, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(".lock: a symlink, which no run makes", p.stderr.decode())
        self.assertEqual(os.listdir(victim), ["precious"])

    def test_bad_ledger(self):
        with open(os.path.join(self.tables, "ledger"), "a") as f:
            f.write("not a hash\n")
        log = os.path.join(self.tmp, "more.tsv")
        with open(log, "w") as f:
            f.write("%d\tmore\n" % MON)
        p = agg("--tables", self.tables, log, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("ledger: line", p.stderr.decode())


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
