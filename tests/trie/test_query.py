#!/usr/bin/python3
"""Integration test of typeahead-query (SPEC §7): lookups with normalized prefixes and -k (a
trailing space is a word boundary; Hangul typed syllable by syllable; kana of either script),
--info, --verify on a sound and on a damaged file, a file one byte short, a file of another
normalization version, files of the older formats 1, 2 and 3, --bench, and usage errors. Builds its trie with typeahead-build --freq
from a small inline list, in a temporary directory.

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
new\t2
newsday\t1
new jersey\t20
서울\t30
서울 날씨\t12
서양\t5
トウキョウ\t25
とうふ\t8
"""


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as docs/FORMAT.md defines it."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def u32(data, at):
    return int.from_bytes(data[at:at + 4], "little")


def u64(data, at):
    return int.from_bytes(data[at:at + 8], "little")


def fix_crcs(data):
    """The trie image data with every section's CRC and the header's made right again."""
    hsize, nsect = u32(data, 16), u32(data, 20)
    for i in range(nsect):
        e = 24 + 24 * i
        off, length = u64(data, e + 8), u64(data, e + 16)
        data[e + 4:e + 8] = crc32c(data[off:off + length]).to_bytes(4, "little")
    data[hsize - 4:hsize] = crc32c(data[:hsize - 4]).to_bytes(4, "little")
    return data


def set_norm_version(data, version):
    """The trie image data with META saying normalization version `version`, CRCs made right."""
    for i in range(u32(data, 20)):
        e = 24 + 24 * i
        if u32(data, e) == 1:  # META
            off = u64(data, e + 8)
            at = off + 48 + u32(data, off + 44)
            data[at:at + 4] = version.to_bytes(4, "little")
    return fix_crcs(data)


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
        self.assertTrue(self.query("  New   YORK").stdout.startswith("new york\t100\n"),
                        "spaces and case in the prefix")
        out = self.query("new", "-k", "2").stdout
        self.assertEqual(out, "new york\t100\nnew york city\t60\n", "-k 2")
        self.assertEqual(self.query("-k", "1", "北").stdout, "北京\t9\n", "北 -k 1")
        self.assertEqual(self.query("zzz").stdout, "", "no completion prints nothing")
        # k above the file's k is capped, not an error.
        self.assertEqual(len(self.query("", "-k", "32").stdout.splitlines()), 3, "cap at k")

    def test_trailing_space_is_a_word_boundary(self):
        # "new" completes to newark, news, newsday too; "new " only to the words after "new".
        self.assertIn("newark\t60\n", self.query("new").stdout)
        self.assertEqual(self.query("new ").stdout,
                         "new york\t100\nnew york city\t60\nnew jersey\t20\n", "new + space")
        self.assertEqual(self.query("NEW\t").stdout, self.query("new ").stdout, "any whitespace")
        self.assertEqual(self.query("new york ").stdout, "new york city\t60\n", "second word")
        self.assertEqual(self.query("news ").stdout, "", "no key goes on after news")
        # Whitespace alone is the empty prefix: the best of the file.
        self.assertEqual(self.query(" ").stdout, self.query("").stdout, "space alone")

    def test_input_methods(self):
        # Hangul: a lone jamo, a syllable still being typed; kana in either script.
        seoul = "서울\t30\n서울 날씨\t12\n"
        self.assertEqual(self.query("서우").stdout, seoul, "partial syllable")
        self.assertEqual(self.query("ㅅ").stdout, seoul + "서양\t5\n", "compatibility jamo")
        self.assertEqual(self.query("서울 ").stdout, "서울 날씨\t12\n", "Hangul word boundary")
        self.assertEqual(self.query("とう").stdout, "トウキョウ\t25\nとうふ\t8\n", "hiragana")
        self.assertEqual(self.query("トウ").stdout, self.query("とう").stdout, "katakana")

    def test_truncated_and_other_version(self):
        with open(self.trie, "rb") as f:
            data = bytearray(f.read())
        bad = os.path.join(self.dir, "short.trie")
        with open(bad, "wb") as f:
            f.write(bytes(data[:-1]))  # inside the end padding
        r = self.call([ARGS.query, bad, "--verify"], expect_rc=1)
        self.assertIn("truncated", r.stderr)
        other = os.path.join(self.dir, "other.trie")
        with open(other, "wb") as f:
            f.write(bytes(set_norm_version(data, 1)))
        for args in (["--verify"], ["--info"], ["caf"]):
            r = self.call([ARGS.query, other, *args], expect_rc=1)
            self.assertIn("rebuild with this version", r.stderr, f"{args}: {r.stderr}")
        # A file of an older format (versions 1 and 2 held every text by id, 3 raw labels):
        # refused, with the advice to rebuild, whatever is asked of it.
        for version in (1, 2, 3):
            old = bytearray(data)
            old[8:16] = version.to_bytes(4, "little") * 2  # write and min read version
            hsize = int.from_bytes(old[16:20], "little")
            old[hsize - 4:hsize] = crc32c(old[:hsize - 4]).to_bytes(4, "little")
            path = os.path.join(self.dir, f"format{version}.trie")
            with open(path, "wb") as f:
                f.write(bytes(old))
            for args in (["--verify"], ["--info"], ["caf"]):
                r = self.call([ARGS.query, path, *args], expect_rc=1)
                self.assertIn("older file format: rebuild it", r.stderr, f"{args}: {r.stderr}")

    def test_hostile_text_escaped(self):
        """A display form of a hostile file with a terminal's escape sequence, a tab and a
        newline (the builder never writes one: normalization drops control characters) is
        printed escaped, one line a suggestion, nothing raw for the terminal to run."""
        freq, trie = os.path.join(self.dir, "h.tsv"), os.path.join(self.dir, "h.trie")
        with open(freq, "w", encoding="utf-8") as f:
            f.write("Zqx Marker\t5\nzqa\t3\n")
        subprocess.run([ARGS.build, "--freq", freq, "--out", trie], check=True,
                       capture_output=True)
        with open(trie, "rb") as f:
            data = bytearray(f.read())
        at = data.find(b"Zqx Marker")  # the display form (it differs from its key), raw
        self.assertGreater(at, 0)
        data[at:at + 10] = b"Zq\x1b[31m\tk\n"
        with open(trie, "wb") as f:
            f.write(bytes(fix_crcs(data)))
        out = self.call([ARGS.query, trie, "zq"]).stdout
        self.assertNotIn("\x1b", out)
        self.assertEqual(out.splitlines(), ["Zq\\x1b[31m\\x09k\\x0a\t5", "zqa\t3"])

    def test_info(self):
        info = self.query("--info").stdout
        fields = dict(line.split("\t", 1) for line in info.splitlines())
        self.assertEqual(fields.get("k"), "3", f"info k: {info}")
        self.assertEqual(fields.get("num_queries"), "18", f"info num_queries: {info}")
        self.assertEqual(fields.get("format_version"), "6", f"info format_version: {info}")
        self.assertEqual(fields.get("norm_version"), "2", f"info norm_version: {info}")
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
