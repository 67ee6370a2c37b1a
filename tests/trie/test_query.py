#!/usr/bin/python3
"""Integration test of typeahead-query (SPEC §7): lookups with normalized prefixes and -k,
--info, --verify on a sound and on a damaged file, --bench, and usage errors. Builds its trie
with typeahead-build --freq from a small inline list, in a temporary directory.

usage: test_query.py --build PATH --query PATH [unittest arguments]
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None  # the command line: --build, --query (parsed in __main__)

FREQ = """\
café\t50
Café\t30
CAFE\t5
cafeteria\t40
caffeine\t40
cafe au lait\t7
北京\t9
北京大学\t4
new york\t100
new york city\t60
newark\t60
news\t3
"""


class Query(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        freq = os.path.join(cls.dir, "q.tsv")
        cls.trie = os.path.join(cls.dir, "q.trie")
        with open(freq, "w", encoding="utf-8") as f:
            f.write(FREQ)
        subprocess.run([ARGS.build, "--freq", freq, "--out", cls.trie, "--k", "3"], check=True,
                       capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def call(self, args, expect_rc=0):
        """Runs args; the exit status must be expect_rc."""
        r = subprocess.run(args, capture_output=True, text=True)
        self.assertEqual(r.returncode, expect_rc, f"{args}\nstdout: {r.stdout}\n"
                                                  f"stderr: {r.stderr}")
        return r

    def query(self, *args, expect_rc=0):
        """typeahead-query on the trie with args."""
        return self.call([ARGS.query, self.trie, *args], expect_rc)

    def test_lookups(self):
        # Best first, ties by key; the display form is the most frequent spelling.
        out = self.query("caf").stdout
        self.assertEqual(out, "café\t85\ncafeteria\t40\ncaffeine\t40\n", "caf")
        # PREFIX is normalized like the keys: case, accents, spaces.
        self.assertEqual(self.query("CAFÉ").stdout, self.query("cafe").stdout,
                         "CAFÉ and cafe differ")
        self.assertTrue(self.query("  New   YORK ").stdout.startswith("new york\t100\n"),
                        "spaces and case in the prefix")
        out = self.query("new", "-k", "2").stdout
        self.assertEqual(out, "new york\t100\nnew york city\t60\n", "-k 2")
        self.assertEqual(self.query("-k", "1", "北").stdout, "北京\t9\n", "北 -k 1")
        self.assertEqual(self.query("zzz").stdout, "", "no completion prints nothing")
        # k above the file's k is capped, not an error.
        self.assertEqual(len(self.query("", "-k", "32").stdout.splitlines()), 3, "cap at k")

    def test_info(self):
        info = self.query("--info").stdout
        fields = dict(line.split("\t", 1) for line in info.splitlines())
        self.assertEqual(fields.get("k"), "3", f"info k: {info}")
        self.assertEqual(fields.get("num_queries"), "10", f"info num_queries: {info}")
        self.assertEqual(int(fields.get("file_size", "0")), os.path.getsize(self.trie),
                         "info file_size")
        self.assertRegex(fields.get("bytes_per_query", ""), r"^[0-9]+\.[0-9]\Z", "bytes/query")
        self.assertTrue("source" in fields and "build_time" in fields and
                        "format_version" in fields, f"info fields: {info}")

    def test_verify(self):
        self.assertEqual(self.query("--verify").stdout.strip(), "OK", "verify OK")
        with open(self.trie, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x10
        bad = os.path.join(self.dir, "bad.trie")
        with open(bad, "wb") as f:
            f.write(bytes(data))
        r = self.call([ARGS.query, bad, "--verify"], expect_rc=1)
        self.assertTrue("checksum" in r.stderr or "corrupt" in r.stderr,
                        f"verify error: {r.stderr}")
        with open(bad, "wb") as f:
            f.write(b"not a trie file at all, no")
        r = self.call([ARGS.query, bad, "caf"], expect_rc=1)
        self.assertIn("bad magic", r.stderr)
        self.call([ARGS.query, os.path.join(self.dir, "missing.trie"), "--info"], expect_rc=1)

    def test_bench(self):
        prefixes = os.path.join(self.dir, "prefixes.txt")
        with open(prefixes, "w", encoding="utf-8") as f:
            f.write("c\ncaf\nnew y\n北\nzzz\n")
        out = self.query("--bench", prefixes, "--passes", "2").stdout
        self.assertRegex(out, r"lookup .*: median [0-9]+ ns, p99 [0-9]+ ns, mean [0-9]+ ns",
                         "bench")
        self.assertIn("5 prefixes", out, "bench count")

    def test_usage_errors(self):
        self.query(expect_rc=2)
        self.query("caf", "-k", "0", expect_rc=2)
        self.query("caf", "-k", "33", expect_rc=2)
        self.query("caf", "--bogus", expect_rc=2)
        self.query("a", "b", expect_rc=2)
        r = self.call([ARGS.query, self.trie, b"caf\xff"], expect_rc=1)
        self.assertIn("UTF-8", r.stderr, "invalid prefix")


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("build", "query").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
