#!/usr/bin/python3
"""Integration test of typeahead-query (SPEC §7): lookups with normalized prefixes and -k,
--info, --verify on a sound and on a damaged file, --bench, and usage errors. Builds its trie
with typeahead-build --freq from a small inline list, in a temporary directory.

usage: test_query.py --bin BUILD_DIR
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

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


def run(args, expect_rc=0):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != expect_rc:
        sys.exit(f"FAIL: {args} exited {r.returncode}, wanted {expect_rc}\n"
                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    build = os.path.join(a.bin, "builder", "typeahead-build")
    query = os.path.join(a.bin, "trie", "typeahead-query")
    with tempfile.TemporaryDirectory() as d:
        freq = os.path.join(d, "q.tsv")
        trie = os.path.join(d, "q.trie")
        with open(freq, "w", encoding="utf-8") as f:
            f.write(FREQ)
        run([build, "--freq", freq, "--out", trie, "--k", "3"])

        # Best first, ties by key; the display form is the most frequent spelling.
        out = run([query, trie, "caf"]).stdout
        check(out == "café\t85\ncafeteria\t40\ncaffeine\t40\n", f"caf: {out!r}")
        # PREFIX is normalized like the keys: case, accents, spaces.
        check(run([query, trie, "CAFÉ"]).stdout == run([query, trie, "cafe"]).stdout,
              "CAFÉ and cafe differ")
        check(run([query, trie, "  New   YORK "]).stdout.startswith("new york\t100\n"),
              "spaces and case in the prefix")
        out = run([query, trie, "new", "-k", "2"]).stdout
        check(out == "new york\t100\nnew york city\t60\n", f"-k 2: {out!r}")
        check(run([query, trie, "-k", "1", "北"]).stdout == "北京\t9\n", "北 -k 1")
        check(run([query, trie, "zzz"]).stdout == "", "no completion prints nothing")
        # k above the file's k is capped, not an error.
        check(len(run([query, trie, "", "-k", "32"]).stdout.splitlines()) == 3, "cap at k")

        info = run([query, trie, "--info"]).stdout
        fields = dict(line.split("\t", 1) for line in info.splitlines())
        check(fields.get("k") == "3", f"info k: {info}")
        check(fields.get("num_queries") == "10", f"info num_queries: {info}")
        check(int(fields.get("file_size", "0")) == os.path.getsize(trie), "info file_size")
        check(re.fullmatch(r"[0-9]+\.[0-9]", fields.get("bytes_per_query", "")), "bytes/query")
        check("source" in fields and "build_time" in fields and "format_version" in fields,
              f"info fields: {info}")

        check(run([query, trie, "--verify"]).stdout.strip() == "OK", "verify OK")
        data = bytearray(open(trie, "rb").read())
        data[len(data) // 2] ^= 0x10
        bad = os.path.join(d, "bad.trie")
        open(bad, "wb").write(bytes(data))
        r = run([query, bad, "--verify"], expect_rc=1)
        check("checksum" in r.stderr or "corrupt" in r.stderr, f"verify error: {r.stderr}")
        open(bad, "wb").write(b"not a trie file at all, no")
        r = run([query, bad, "caf"], expect_rc=1)
        check("bad magic" in r.stderr, f"bad magic: {r.stderr}")
        run([query, os.path.join(d, "missing.trie"), "--info"], expect_rc=1)

        prefixes = os.path.join(d, "prefixes.txt")
        with open(prefixes, "w", encoding="utf-8") as f:
            f.write("c\ncaf\nnew y\n北\nzzz\n")
        out = run([query, trie, "--bench", prefixes, "--passes", "2"]).stdout
        check(re.search(r"lookup .*: median [0-9]+ ns, p99 [0-9]+ ns, mean [0-9]+ ns", out),
              f"bench: {out}")
        check("5 prefixes" in out, f"bench count: {out}")

        run([query, trie], expect_rc=2)
        run([query, trie, "caf", "-k", "0"], expect_rc=2)
        run([query, trie, "caf", "-k", "33"], expect_rc=2)
        run([query, trie, "caf", "--bogus"], expect_rc=2)
        run([query, trie, "a", "b"], expect_rc=2)
        r = run([query, trie, b"caf\xff"], expect_rc=1)
        check("UTF-8" in r.stderr, f"invalid prefix: {r.stderr}")
    print("typeahead-query: all checks passed")


if __name__ == "__main__":
    main()
