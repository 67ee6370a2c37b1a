#!/usr/bin/python3
"""One log line timestamped in the future (a host with a wrong clock, a garbage line) against the
tables' consumers (tbl_newest_until_now, docs/TABLES.md "Timestamps in the future").

The aggregator counts it, in a week and an hour table of its own, far after the others. Before,
the builder's default window ended at the newest table's week, so a nightly trie held that one
query and nothing else; the trending build's window ended at the newest hour; and the
aggregator's --hours pruning kept the 7 days before the newest hour table, so it removed every
real hour table. Now each counts from the newest table not after this machine's clock, and the
builder says how many it left out.

usage: test_future.py --aggregate PATH --build PATH --query PATH [unittest arguments]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None
FUTURE = "2036-01-01T00:00:00Z"


def run(*cmd, check=True):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (cmd, p.returncode, p.stderr))
    return p


def keys(trie, prefix):
    out = run(ARGS.query, trie, prefix, "-k", "10").stdout
    return [line.split("\t")[0] for line in out.splitlines() if line]


class Future(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ta-future-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(lines))
        return path

    def test_nightly_window_ignores_a_future_week(self):
        now = int(time.time())
        lines = ["%d\tnew york %d\n" % (now - 3600 * (i % 48), i % 5) for i in range(200)]
        lines.append("%s\tnew from the future\n" % FUTURE)
        tables = os.path.join(self.dir, "tables")
        run(ARGS.aggregate, "--tables", tables, "--format", "tsv", "--quiet",
            self.log("a.tsv", lines))
        self.assertIn("2036-W01.msgpack", os.listdir(tables))  # counted, in a table of its own
        out = os.path.join(self.dir, "q.trie")
        p = run(ARGS.build, "--tables", tables, "--out", out)
        self.assertIn("1 week tables after this machine's clock left out", p.stderr)
        got = keys(out, "new")
        self.assertEqual(sorted(got), ["new york %d" % i for i in range(5)])
        # --now still picks any window, the future one too
        out2 = os.path.join(self.dir, "f.trie")
        p = run(ARGS.build, "--tables", tables, "--out", out2, "--now", "2036-W01")
        self.assertNotIn("left out", p.stderr)
        self.assertEqual(keys(out2, "new"), ["new from the future"])

    def test_hour_tables_kept_past_a_future_hour(self):
        now = int(time.time())
        lines = ["%d\tweather %d\n" % (now - 3600 * h, h) for h in range(0, 30)]
        tables = os.path.join(self.dir, "hours")
        run(ARGS.aggregate, "--tables", tables, "--format", "tsv", "--hours", "--quiet",
            self.log("a.tsv", lines))
        hours = sorted(n for n in os.listdir(tables) if "T" in n)
        self.assertGreaterEqual(len(hours), 30)
        run(ARGS.aggregate, "--tables", tables, "--format", "tsv", "--hours", "--quiet",
            self.log("b.tsv", ["%s\tweather from the future\n" % FUTURE]))
        after = sorted(n for n in os.listdir(tables) if "T" in n)
        self.assertEqual([n for n in after if not n.startswith("2036")], hours,
                         "the real hour tables are kept")
        self.assertIn("2036-01-01T00.msgpack", after)
        # the trending build's window ends at the clock's hour, not at 2036
        out = os.path.join(self.dir, "t.trie")
        p = run(ARGS.build, "--trending", "--tables", tables, "--out", out, check=False)
        self.assertIn("1 hour tables after this machine's clock left out", p.stderr)
        self.assertNotIn("hour tables up to 2036", p.stderr)


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate", "build", "query").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
