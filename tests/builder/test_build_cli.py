#!/usr/bin/python3
"""Integration test of typeahead-build --freq (SPEC §5) through the real binaries: every input
layout, BOM/CRLF/blank lines, stdin, duplicates across spellings, display ties, --min-count,
bad lines (line number, exit 1, --out untouched, no temp file left), usage errors, and a built
file that answers through typeahead-query exactly what sorting the input answers.

usage: test_build_cli.py --build PATH --query PATH [unittest arguments]
"""
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None  # the command line: --build, --query (parsed in __main__)
HERE = os.path.dirname(os.path.abspath(__file__))


def tool(name):
    return {"typeahead-build": ARGS.build, "typeahead-query": ARGS.query}[name]


def run(args, stdin=None):
    return subprocess.run(args, input=stdin, capture_output=True, timeout=120)


class BuildCase(unittest.TestCase):
    """Helpers: a scratch directory, input files, the build and query tools."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ta_build_cli.")
        self.out = os.path.join(self.dir, "out.trie")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def build(self, *args, stdin=None, expect=0):
        r = run([tool("typeahead-build"), *args], stdin=stdin)
        if r.returncode != expect:
            self.fail(f"typeahead-build {args}: exit {r.returncode}, want {expect}\n"
                      f"{r.stderr.decode(errors='replace')}")
        return r

    def build_on_terminal(self, *args, until=None):
        """typeahead-build started with a terminal as stderr: (pid, the terminal's descriptor,
        what it wrote up to until, or to its end)."""
        import pty
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(tool("typeahead-build"), ["typeahead-build", *args])
        seen = b""
        while until is None or until not in seen:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        return pid, fd, seen

    def query(self, prefix, k=10, path=None):
        r = run([tool("typeahead-query"), path or self.out, prefix, "-k", str(k)])
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        hits = []
        for line in r.stdout.decode().splitlines():
            text, score = line.rsplit("\t", 1)
            hits.append((text, float(score)))
        return hits


class BuildCli(BuildCase):
    def build_text(self, text, *extra):
        path = self.write("in.txt", text)
        return self.build("--freq", path, "--out", self.out, *extra)

    def test_tsv_space_csv(self):
        self.build_text("new york\t120\nnew jersey\t80\nnewark\t7.5\n")
        self.assertEqual(self.query("new"), [("new york", 120), ("new jersey", 80),
                                             ("newark", 7.5)])
        self.build_text("new york 120\nnew jersey 80\n")
        self.assertEqual(self.query("new j"), [("new jersey", 80)])
        self.build_text('ngram,freq,cumshare\n"new, york",5,0.1\n"say ""hi""",4,0.2\nnew,3,0.3\n')
        self.assertEqual(self.query("new"), [("new, york", 5), ("new", 3)])
        self.assertEqual(self.query("say"), [('say "hi"', 4)])
        # a word list with a third column
        self.build_text("the\t53703180\t127\nthey\t2000000\t150\n")
        self.assertEqual(self.query("th", 1), [("the", 53703180)])

    def test_bom_crlf_blank_lines_stdin(self):
        self.build_text("\ufeffalpha\t3\r\n\r\n  \r\nalpine\t5\r\n")
        self.assertEqual(self.query("al"), [("alpine", 5), ("alpha", 3)])
        self.build("--freq", "-", "--out", self.out, stdin=b"\xef\xbb\xbfzeta 2\r\nzebra 9\r\n")
        self.assertEqual(self.query("ze"), [("zebra", 9), ("zeta", 2)])

    def test_duplicates_and_display(self):
        r = self.build_text("Café 3\ncafe 2\nCAFE 4\ncab 1\n")
        self.assertIn(b"2 keys", r.stderr)
        self.assertEqual(self.query("caf"), [("CAFE", 9)])
        self.assertEqual(self.query("ca"), [("CAFE", 9), ("cab", 1)])
        # the query is normalized like the keys
        self.assertEqual(self.query("CAFÉ"), [("CAFE", 9)])
        # ties of spelling weight: the bytewise smallest
        self.build_text("straße\t5\nStraße\t5\nstrasse\t5\n")
        self.assertEqual(self.query("stra"), [("Straße", 15)])

    def test_min_count_and_k(self):
        self.build_text("a1 5\na2 1\na3 0.5\na4 2\n", "--min-count", "2", "--k", "2")
        self.assertEqual(self.query("a", 10), [("a1", 5), ("a4", 2)])
        info = run([tool("typeahead-query"), self.out, "--info"])
        self.assertEqual(info.returncode, 0)

    def test_bad_line_leaves_out_untouched(self):
        self.write("out.trie", "previous contents")
        for text, where, what in [
            ("ok\t1\nok2\t2\nbroken\n", ":3:", b"no TAB"),
            ("ok 1\nbad x\n", ":2:", b"bad count 'x'"),
            ("ok\t1\n\nbad\t-3\n", ":3:", b"bad count '-3'"),
            (b"ok\t1\nbad\xc0\xaf\t1\n", ":2:", b"invalid UTF-8"),
            (b"ok\t1\nbad\xed\xa0\x80\t1\n", ":2:", b"invalid UTF-8"),
            ("ok\t1\n\u0301\t4\n", ":2:", b"empty after normalization"),
            ('ngram,freq\n"open,1\n', ":2:", b"bad CSV row"),
            ("", ":", b"no queries"),
        ]:
            path = self.write("in.txt", text)
            r = self.build("--freq", path, "--out", self.out, expect=1)
            self.assertIn((path + where).encode(), r.stderr, r.stderr)
            self.assertIn(what, r.stderr)
            with open(self.out) as f:
                self.assertEqual(f.read(), "previous contents")
            self.assertEqual(sorted(os.listdir(self.dir)), ["in.txt", "out.trie"])

    def test_unusable_lines_skipped_and_named(self):
        # A hand-made list with the kinds of unusable lines the wordfreq lists have, all empty
        # after normalization: a lone combining mark, two of them, an enclosing mark, a spacing
        # mark, U+FF9F (NFKC makes it a mark), a zero width joiner (dropped as a control).
        fixture = os.path.join(HERE, "wordfreq_fixture.tsv")
        with open(fixture, "rb") as f:
            data = f.read()
        rows = data.count(b"\n")
        r = self.build("--freq", fixture, "--out", self.out)
        self.assertIn(b"wordfreq_fixture.tsv: 6 unusable lines skipped: empty after "
                      b"normalization 6 (lines 41, 101, 201, 301, 401, ...)\n", r.stderr)
        self.assertIn(b"%d lines, %d queries" % (rows, rows - 6), r.stderr)
        self.assertEqual(self.query("d", 2), [("die", 27900001.0), ("der", 25947001.0)])
        # --max-bad 0: the first unusable line stops the build, as it says.
        out2 = os.path.join(self.dir, "strict.trie")
        r = self.build("--freq", fixture, "--out", out2, "--max-bad", "0", expect=1)
        self.assertIn(b"wordfreq_fixture.tsv:41: the query is empty after normalization",
                      r.stderr)
        self.assertFalse(os.path.exists(out2))
        # Each reason is counted, named with its first line numbers (five at most).
        text = ("ok\t1\n" * 400 + "nocount\n" + "bad\tx\n" + "\u0301\t1\n" * 7 +
                "q\xff\t1\n")
        path = self.write("mixed.tsv", text.encode("utf-8", "surrogateescape")
                          .replace(b"q\xc3\xbf", b"q\xff"))
        r = self.build("--freq", path, "--out", out2, "--max-bad", "3")
        self.assertIn(b"mixed.tsv: 10 unusable lines skipped: no count 1 (line 401); bad count 1 "
                      b"(line 402); invalid UTF-8 1 (line 410); empty after normalization 7 "
                      b"(lines 403, 404, 405, 406, 407, ...)\n", r.stderr)
        # Past --max-bad (default 1%): the build fails with the first one; --out untouched.
        self.write("out.trie", "previous contents")
        r = self.build("--freq", path, "--out", self.out, expect=1)
        self.assertIn(b"mixed.tsv:401: no TAB before the count (the file is query<TAB>count) "
                      b"(10 of 410 lines unusable, more than --max-bad 1%)", r.stderr)
        with open(self.out) as f:
            self.assertEqual(f.read(), "previous contents")
        self.build("--freq", path, "--out", out2, "--max-bad", "101", expect=2)

    def test_huge_counts(self):
        # Counts up to the largest double are numbers; two spellings (or two files) whose sum
        # would be infinite: the row that would overflow its key's total is a bad count,
        # skipped and named, and the rest is built (it failed the whole build: "value out of
        # range" at the write, since a score must be finite).
        text = "c\t1e308\nC\t1e308\nd\t5\n" + "ok\t1\n" * 200
        path = self.write("huge.tsv", text)
        r = self.build("--freq", path, "--out", self.out)
        self.assertIn(b"huge.tsv: 1 unusable line skipped: bad count 1 (line 2)", r.stderr)
        self.assertEqual(self.query("c"), [("c", 1e308)])
        self.assertEqual(self.query("d"), [("d", 5)])
        r = self.build("--freq", path, "--out", self.out, "--max-bad", "0", expect=1)
        self.assertIn(path.encode() + b":2: bad count '1e308'", r.stderr)
        # the same file twice: the second file's row overflows
        r = self.build("--freq", path, "--freq", path, "--out", self.out)
        self.assertIn(b"huge.tsv: 2 unusable lines skipped: bad count 2 (lines 1, 2)", r.stderr)
        self.assertEqual(self.query("c"), [("c", 1e308)])
        self.assertEqual(self.query("d"), [("d", 10)])

    def test_source_of_odd_file_names(self):
        # The file's source (META, valid UTF-8 as verify wants) names the inputs: a Latin-1
        # name, and names long enough to be cut in the middle of a character, failed the
        # whole build at its verify ("the written file does not verify: invalid UTF-8").
        latin = os.path.join(self.dir.encode(), b"caf\xe9.tsv")
        with open(latin, "wb") as f:
            f.write(b"cafe\t3\n")
        self.build("--freq", latin, "--out", self.out)
        info = run([tool("typeahead-query"), self.out, "--info"]).stdout
        self.assertIn(b"source\tfreq:caf\\xE9.tsv\n", info)
        names = []
        for i in range(5):  # "freq:" and 5 names of 246 bytes: the 1,023 bytes end inside an é
            names.append(self.write("x" + "\u00e9" * 120 + "%d.tsv" % i, "cafe\t3\n"))
        self.build(*[a for n in names for a in ("--freq", n)], "--out", self.out)
        info = run([tool("typeahead-query"), self.out, "--info"]).stdout.decode()
        source = [line for line in info.splitlines() if line.startswith("source\t")][0]
        self.assertTrue(source.endswith("\u00e9"), source[-20:])
        self.assertEqual(len(source.encode()), len("source\t") + 1022)

    def test_wordfreq_lists_build_as_they_are(self):
        lists = os.environ.get("TA_WORDFREQ") or os.path.join(bin_args.datasets(), "wordfreq")
        names = ["large_de.tsv", "large_en.tsv", "large_zh.tsv"]
        if not all(os.path.exists(os.path.join(lists, n)) for n in names):
            self.skipTest("the wordfreq lists are not at %s (set TA_WORDFREQ or TA_DATASETS): "
                          "only the fixture test ran" % os.path.abspath(lists))
        for name in names:
            r = self.build("--freq", os.path.join(lists, name), "--out", self.out)
            self.assertIn(b"typeahead-build: " + name.encode(), r.stderr.replace(
                os.path.join(lists, "").encode(), b""))
            self.assertNotEqual(self.query("a", 1), [])
        # large_de.tsv: the lines that stopped it before (11836, 115166) are skipped and named
        # (19168 is a lone format character, dropped from keys since normalization version 2).
        r = self.build("--freq", os.path.join(lists, "large_de.tsv"), "--out", self.out)
        self.assertRegex(r.stderr, rb"large_de.tsv: 16 unusable lines skipped: empty after "
                                   rb"normalization 16 \(lines 11836, 19168, 19860, 57753, 115166, ")

    def test_progress_only_on_a_terminal(self):
        path = self.write("in.txt", "".join(f"q{i}\t{i}\n" for i in range(1, 2000)))
        r = self.build("--freq", path, "--out", self.out)
        self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)  # the summary line only
        self.assertRegex(r.stderr, rb"1999 keys .* bytes -> .* in [0-9.]+ s\n$")
        pid, fd, seen = self.build_on_terminal("--freq", path, "--out", self.out)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, seen)
        self.assertIn(b"verifying", seen)
        self.assertIn(b"1999 keys", seen)

    def test_usage_errors(self):
        path = self.write("in.txt", "a 1\n")
        for args in (["--freq", path], ["--out", self.out], ["--freq", path, "--out", self.out,
                     "--k", "0"], ["--freq", path, "--out", self.out, "--k", "33"],
                     ["--freq", path, "--out", self.out, "--min-count", "-1"],
                     ["--freq", path, "--out", self.out, "--bogus"]):
            self.build(*args, expect=2)
        # a frequency list is no rules file: refused naming --blocklist, nothing written
        r = self.build("--freq", path, "--out", self.out, "--blocklist", path, expect=1)
        self.assertIn(b"--blocklist", r.stderr)
        self.assertFalse(os.path.exists(self.out))
        r = self.build("--freq", os.path.join(self.dir, "missing.tsv"), "--out", self.out,
                       expect=1)
        self.assertIn(b"missing.tsv", r.stderr)
        # a directory given as --freq is named as one (it said "read error after line 0")
        r = self.build("--freq", self.dir, "--out", self.out, expect=1)
        self.assertIn(b"a directory, not a frequency list", r.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_out_never_destroys_an_input_or_a_special_file(self):
        """--out naming an input (the same file, a symlink or a hard link to it) is refused before
        anything is read; --out naming a FIFO or a directory is never replaced by the trie (as
        root, rename put a regular file where /dev/full was)."""
        data = "".join("q%d\t%d\n" % (i, i + 1) for i in range(50))
        freq = self.write("in.tsv", data)
        rules = self.write("rules.txt", "word:q7\n")
        os.symlink(freq, os.path.join(self.dir, "sym.trie"))
        os.link(freq, os.path.join(self.dir, "hard.trie"))
        for out in (freq, "sym.trie", "hard.trie"):
            with self.subTest(out=out):
                r = self.build("--freq", freq, "--out", os.path.join(self.dir, out), expect=2)
                self.assertIn(b"is the input --freq", r.stderr)
                with open(freq) as f:
                    self.assertEqual(f.read(), data, "the input is intact")
        r = self.build("--freq", freq, "--blocklist", rules, "--out", rules, expect=2)
        self.assertIn(b"is the input --blocklist", r.stderr)
        with open(rules) as f:
            self.assertEqual(f.read(), "word:q7\n")
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        adir = os.path.join(self.dir, "adir")
        os.mkdir(adir)
        os.symlink(fifo, os.path.join(self.dir, "to-fifo"))
        for out in (fifo, adir, os.path.join(self.dir, "to-fifo")):
            with self.subTest(out=out):
                r = self.build("--freq", freq, "--out", out, expect=1)
                self.assertIn(b"not a regular file", r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO is still a FIFO")
        self.assertTrue(os.path.isdir(adir))
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(["in.tsv", "rules.txt", "sym.trie", "hard.trie", "fifo", "adir",
                                 "to-fifo"]), "no temp file left")

    def test_killed_build_leaves_no_temp_file(self):
        """typeahead-build killed with SIGKILL while it writes the trie (a nightly job killed
        by a timeout, an OOM kill) leaves no temp file beside --out, and --out is the old file,
        byte for byte: the temp file has no name until the commit."""
        self.build_text("old\t1\n")
        with open(self.out, "rb") as f:
            old = f.read()
        rng = random.Random(3)
        big = self.write("big.tsv", "".join("query %d %s\t%d\n" % (i, "x" * rng.randint(0, 20),
                                                                    rng.randint(1, 10000))
                                            for i in range(200000)))
        before = sorted(os.listdir(self.dir))
        # on a terminal, it says when it starts to write the trie ("sort": the temp file is open)
        pid, fd, seen = self.build_on_terminal("--freq", big, "--out", self.out, until=b"sort")
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertIn(b"sort", seen)
        self.assertEqual(os.waitstatus_to_exitcode(status), -signal.SIGKILL, "killed mid-write")
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(), old, "--out is the old file, intact")
        self.assertEqual(sorted(os.listdir(self.dir)), before, "no temp file left")

    def test_out_through_a_symlink(self):
        """--out naming a symlink (current.trie -> tries/2026-12-07.trie, relative, through a
        second link) keeps the link and replaces the file at the end of its chain, with its
        mode; a dangling link or a loop is refused with a message that says so, and stays."""
        os.mkdir(os.path.join(self.dir, "tries"))
        real = os.path.join(self.dir, "tries", "2026-12-07.trie")
        self.build_text("old\t1\n")
        shutil.move(self.out, real)
        os.chmod(real, 0o640)
        os.symlink("tries/2026-12-07.trie", os.path.join(self.dir, "today.trie"))
        os.symlink("today.trie", self.out)
        self.build("--freq", self.write("in.tsv", "new york\t5\nnewer\t3\n"), "--out", self.out)
        self.assertTrue(os.path.islink(self.out), "the link is kept")
        self.assertEqual(os.readlink(self.out), "today.trie")
        self.assertEqual(os.readlink(os.path.join(self.dir, "today.trie")),
                         "tries/2026-12-07.trie")
        self.assertEqual([h[0] for h in self.query("new", path=real)], ["new york", "newer"])
        self.assertEqual(stat.S_IMODE(os.stat(real).st_mode), 0o640, "the file keeps its mode")
        self.assertEqual(os.listdir(os.path.join(self.dir, "tries")), ["2026-12-07.trie"])
        self.assertEqual(sorted(os.listdir(self.dir)),
                         ["in.tsv", "in.txt", "out.trie", "today.trie", "tries"],
                         "no temp file left")
        os.symlink("tries/gone.trie", os.path.join(self.dir, "dangling.trie"))
        os.symlink("loop-b", os.path.join(self.dir, "loop-a"))
        os.symlink("loop-a", os.path.join(self.dir, "loop-b"))
        for name, why in (("dangling.trie", b"dangling symlink"), ("loop-a", b"symlink loop")):
            with self.subTest(out=name):
                out = os.path.join(self.dir, name)
                r = self.build("--freq", os.path.join(self.dir, "in.tsv"), "--out", out,
                               expect=1)
                self.assertIn(out.encode() + b": ", r.stderr)
                self.assertIn(why, r.stderr)
                self.assertTrue(os.path.islink(out))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "tries", "gone.trie")))

    def test_answers_match_sorting(self):
        """Random queries with shared prefixes, ties and case variants: every answer equals
        what sorting the input answers (score desc, key asc; display = heaviest spelling)."""
        rng = random.Random(7)
        syll = ["new", "york", "ne", "w", "yo", "rk", "san", "fran", "ci", "sco", "北", "京",
                "北京", "москва", "мо", "ab", "a", "b", "c"]
        spellings = {}
        for _ in range(3000):
            words = [("".join(rng.choice(syll) for _ in range(rng.randint(1, 3))))
                     for _ in range(rng.randint(1, 3))]
            q = " ".join(words)
            count = rng.choice([1, 2, 3, 5, 8, 13, 100, rng.randint(1, 1000)])
            if rng.random() < 0.2:
                q = q.upper() if rng.random() < 0.5 else q.title()
            spellings[q] = spellings.get(q, 0) + count
        lines = [f"{q}\t{c}" for q, c in spellings.items()]
        rng.shuffle(lines)
        self.build_text("\n".join(lines) + "\n", "--k", "10")
        keys = {}
        for q, c in spellings.items():
            k = q.lower()
            total, best = keys.get(k, (0, None))
            keys[k] = (total + c, None)
        for k in keys:
            forms = [(c, q) for q, c in spellings.items() if q.lower() == k]
            best = sorted(forms, key=lambda t: (-t[0], t[1].encode()))[0][1]
            keys[k] = (keys[k][0], best)
        ranked = sorted(keys.items(), key=lambda kv: (-kv[1][0], kv[0].encode()))
        prefixes = set()
        for k in rng.sample(sorted(keys), 60):
            for i in range(1, len(k) + 1):
                prefixes.add(k[:i])
        prefixes.update(["zzz", "новый", "北京x", "a b c d e"])
        # Each answer is one process: a bounded sample keeps the sanitizer run short (the
        # in-process exactness test of every prefix is tests/trie/test_exact.c).
        chosen = [p for p in sorted(prefixes) if p == p.strip()]  # trailing space is trimmed
        chosen = rng.sample(chosen, min(150, len(chosen))) + ["zzz", "новый", "北京x"]
        for i, p in enumerate(chosen):
            for kk in ((1, 10) if i % 5 == 0 else (10,)):
                want = [(d, float(s)) for key, (s, d) in ranked if key.startswith(p)][:kk]
                self.assertEqual(self.query(p, kk), want, f"prefix {p!r} k={kk}")



class Shards(BuildCase):
    """--shards N --out-dir DIR: N prefix shards and their map (SPEC §11, FORMAT.md)."""

    def test_shards_answer_as_the_whole(self):
        rnd = random.Random(5)
        firsts = list("abcdefghijklmnopqrstuvwxyz") + ["é", "北", "ω", "1"]
        lines, queries = [], []
        for i in range(3000):
            q = rnd.choice(firsts) + "".join(rnd.choice("aeiouns ") for _ in range(rnd.randint(1, 8)))
            queries.append(q.strip())
            lines.append("%s\t%d" % (q.strip(), rnd.randint(1, 500)))
        freq = self.write("q.tsv", "\n".join(lines) + "\n")
        self.build("--freq", freq, "--out", self.out)
        shards = os.path.join(self.dir, "shards")
        r = self.build("--freq", freq, "--shards", "4", "--out-dir", shards)
        self.assertIn(b"4 shards", r.stderr)
        files = sorted(os.listdir(shards))
        self.assertEqual(files, ["shard-0.trie", "shard-1.trie", "shard-2.trie", "shard-3.trie",
                                 "shards.map"])
        with open(os.path.join(shards, "shards.map")) as f:
            self.assertEqual(f.read().split("\n")[1:4],
                             ["typeahead-shards\t1", "norm\t2", "shards\t4"])
        paths = [os.path.join(shards, "shard-%d.trie" % i) for i in range(4)]
        prefixes = {q[:rnd.randint(1, len(q))] for q in rnd.sample(queries, 300)}
        for p in sorted(prefixes):
            if not p.strip():
                continue
            whole = self.query(p)
            answers = [self.query(p, path=x) for x in paths]
            owners = [a for a in answers if a]
            # every completion of a non-empty prefix is in the one shard of its first character
            self.assertLessEqual(len(owners), 1, "prefix %r: answers from two shards" % p)
            self.assertEqual(owners[0] if owners else [], whole, "prefix %r" % p)

    def test_shard_map_kept(self):
        a = self.write("a.tsv", "".join("%s%d\t%d\n" % (c, i, i + 1) for c in "abcdefgh"
                                        for i in range(30)))
        b = self.write("b.tsv", "".join("%s%d\t%d\n" % (c, i, 100 - i) for c in "abcxyz"
                                        for i in range(50)))
        da, db = os.path.join(self.dir, "a"), os.path.join(self.dir, "b")
        self.build("--freq", a, "--shards", "3", "--out-dir", da)
        self.build("--freq", b, "--shards", "3", "--shard-map", os.path.join(da, "shards.map"),
                   "--out-dir", db)

        def ranges(d):
            with open(os.path.join(d, "shards.map")) as f:
                return [l for l in f if not l.startswith("#")]
        self.assertEqual(ranges(db), ranges(da), "the map is kept, not planned again")
        self.build("--freq", b, "--out", self.out)
        for p in ["a", "b1", "c4", "x", "y2", "z"]:
            answers = [a for a in (self.query(p, path=os.path.join(db, "shard-%d.trie" % i))
                                   for i in range(3)) if a]
            self.assertEqual(answers, [self.query(p)], "prefix %r in one shard, as whole" % p)
        r = self.build("--freq", b, "--shards", "2", "--shard-map",
                       os.path.join(da, "shards.map"), "--out-dir", db, expect=2)
        self.assertIn(b"has 3 shards", r.stderr)
        self.build("--freq", b, "--shard-map", os.path.join(da, "shards.map"), "--out", self.out,
                   expect=2)

    def test_refusals(self):
        freq = self.write("q.tsv", "".join("a%d\t1\n" % i for i in range(100)) + "b\t1\n")
        shards = os.path.join(self.dir, "shards")
        r = self.build("--freq", freq, "--shards", "2", "--out-dir", shards, expect=1)
        self.assertIn(b"U+0061", r.stderr, "names the first character too heavy for 2 shards")
        self.assertFalse(os.path.exists(os.path.join(shards, "shards.map")), "no map written")
        self.assertFalse(os.path.exists(os.path.join(shards, "shard-0.trie")), "no shard written")
        self.build("--freq", freq, "--shards", "3", "--out", self.out, expect=2)
        self.build("--freq", freq, "--shards", "0", "--out-dir", shards, expect=2)
        self.build("--freq", freq, "--shards", "257", "--out-dir", shards, expect=2)
        self.build("--freq", freq, "--shards", "x", "--out-dir", shards, expect=2)

if __name__ == "__main__":
    ARGS, rest = bin_args.parser("build", "query").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
