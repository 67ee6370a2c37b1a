#!/usr/bin/env python3
"""What a blocklist change blocks on real queries: the distinct queries of the AOL 2006 sample
that one matcher and rules file block and another does not, as Markdown (docs/filters.md keeps
the last run). Each side is a flt-bench binary (filters/flt_bench_main.c, --blocked mode) with
its rules file, so an old build can be compared with a new one.

usage: aol_compare.py --old FLT_BENCH RULES --new FLT_BENCH RULES [--aol FILE]
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join("shared", "datasets", "aol-2006-sample", "aol_top1000_users.tsv")
# beside the repository (/work/main), or two levels up from a worktree (/work/wt/NAME)
DEFAULT_AOL = next((p for p in (os.path.join(HERE, "..", "..", "..", SAMPLE),
                                os.path.join(HERE, "..", "..", "..", "..", SAMPLE))
                    if os.path.exists(p)), os.path.join(HERE, "..", "..", "..", SAMPLE))


def aol_counts(path):
    """Query events of the sample (a repeated AnonID, Query, QueryTime row is one event)."""
    seen, counts = set(), collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as f:
        next(f, None)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3 or cols[1] in ("", "-"):
                continue
            ev = (cols[0], cols[1], cols[2])
            if ev not in seen:
                seen.add(ev)
                counts[cols[1]] += 1
    return counts


def blocked(bench, rules, queries_file):
    out = subprocess.run([bench, "--filters", rules, "--blocked", queries_file], check=True,
                         capture_output=True, text=True).stdout
    got = {}
    for line in out.splitlines():
        kind, _, q = line.partition("\t")
        got[q] = kind
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", nargs=2, required=True, metavar=("FLT_BENCH", "RULES"))
    ap.add_argument("--new", nargs=2, required=True, metavar=("FLT_BENCH", "RULES"))
    ap.add_argument("--aol", default=DEFAULT_AOL)
    a = ap.parse_args()
    counts = aol_counts(a.aol)
    queries = sorted(q for q in counts if "\r" not in q)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("\n".join(queries) + "\n")
        qfile = f.name
    try:
        old = blocked(a.old[0], a.old[1], qfile)
        new = blocked(a.new[0], a.new[1], qfile)
    finally:
        os.unlink(qfile)
    events = sum(counts.values())
    print("%d distinct queries (%d events). Old: %d blocked (%d events); new: %d blocked "
          "(%d events); newly blocked: %d, no longer blocked: %d.\n" % (
              len(queries), events, len(old), sum(counts[q] for q in old), len(new),
              sum(counts[q] for q in new), len(set(new) - set(old)), len(set(old) - set(new))))
    rows = sorted(set(new) - set(old), key=lambda q: (-counts[q], q))
    if rows:
        print("| newly blocked query | events | rule kind |\n|---|---:|---|")
        for q in rows:
            print("| `%s` | %d | %s |" % (q.replace("|", "\\|").replace("`", "'"), counts[q],
                                         new[q]))
    gone = sorted(set(old) - set(new))
    if gone:
        print("\nNo longer blocked: " + ", ".join("`%s`" % q for q in gone))
    return 0


if __name__ == "__main__":
    sys.exit(main())
