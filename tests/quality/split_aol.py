#!/usr/bin/python3
"""Splits the AOL 2006 log into a training log and test events by ISO week.

Usage: split_aol.py AOL.tsv --train-weeks 9-18 --test-weeks 19-22 --train OUT.tsv --test OUT.txt
                    [--freq OUT.tsv]

A query event is one distinct (AnonID, Query, QueryTime): AOL repeats it once per click, and
those repeats count once (SPEC §4). Training events are written back in the AOL layout (header
plus one row per event) for typeahead-aggregate --format aol; test events are written one raw
query per line, in log order, for ta-eval. Weeks are ISO weeks of the UTC QueryTime. --freq also writes query<TAB>count
over the events of every week (a typeahead-build --freq input).
Prints a one-line summary on stderr.
"""
import argparse
import datetime
import sys
import unicodedata


def rough_key(q):
    """Close to SPEC §3's key (NFKC, case fold, marks stripped, spaces collapsed); only used
    for the 'seen in training' share printed in the summary."""
    q = unicodedata.normalize("NFKC", q).casefold()
    q = "".join(c for c in unicodedata.normalize("NFD", q) if not unicodedata.combining(c))
    return " ".join(q.split())


def week_range(s):
    lo, _, hi = s.partition("-")
    return int(lo), int(hi or lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--train-weeks", type=week_range, required=True)
    ap.add_argument("--test-weeks", type=week_range, required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--freq")
    a = ap.parse_args()
    seen = set()
    counts = {}
    train_keys = set()
    test_queries = []
    n_rows = n_bad = n_train = n_test = 0
    with open(a.log, encoding="utf-8", errors="surrogateescape", newline="\n") as f, \
         open(a.train, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as tr, \
         open(a.test, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as te:
        header = f.readline()
        if not header.startswith("AnonID\t"):
            sys.exit("split_aol: %s: no AOL header line" % a.log)
        tr.write(header)
        for line in f:
            n_rows += 1
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                n_bad += 1
                continue
            anon, query, when = cols[0], cols[1], cols[2]
            try:
                t = datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                n_bad += 1
                continue
            ev = (anon, query, when)
            if ev in seen:
                continue
            seen.add(ev)
            counts[query] = counts.get(query, 0) + 1
            week = t.isocalendar()[1]
            if a.train_weeks[0] <= week <= a.train_weeks[1]:
                tr.write("%s\t%s\t%s\t\t\n" % ev)
                train_keys.add(rough_key(query))
                n_train += 1
            elif a.test_weeks[0] <= week <= a.test_weeks[1]:
                te.write(query + "\n")
                test_queries.append(query)
                n_test += 1
    if a.freq:
        with open(a.freq, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as fq:
            fq.writelines("%s\t%d\n" % qc for qc in sorted(counts.items()))
    n_seen = sum(1 for q in test_queries if rough_key(q) in train_keys)
    print("split_aol: %d rows, %d events, %d train (weeks %d-%d), %d test (weeks %d-%d), "
          "%d bad; %.1f%% of test events repeat a query seen in training"
          % (n_rows, len(seen), n_train, a.train_weeks[0], a.train_weeks[1], n_test,
             a.test_weeks[0], a.test_weeks[1], n_bad,
             100.0 * n_seen / n_test if n_test else 0.0), file=sys.stderr)


if __name__ == "__main__":
    main()
