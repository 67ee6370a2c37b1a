#!/usr/bin/python3
"""Formats ta-eval quality outputs as the Markdown tables of BENCHMARKS.md.

Usage: report.py --k 5 LABEL=FILE ...   (the first LABEL is the reference, e.g. all-time counts)

Prints success@k and MRR per prefix length for each setting, their mean over prefix lengths,
the ratio of each setting's mean MRR to the reference's, and the setting with the best mean MRR.
"""
import argparse
import json


def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        L, events, hits, succ, mrr = line.split("\t")
        rows[int(L)] = (int(events), int(hits), float(succ), float(mrr))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--json", help="also write the figures here, for recommend.py")
    ap.add_argument("--summary-only", action="store_true", help="only the means table")
    ap.add_argument("settings", nargs="+")
    a = ap.parse_args()
    settings = []
    for s in a.settings:
        label, _, path = s.partition("=")
        settings.append((label, load(path)))
    lengths = sorted(settings[0][1])
    out = print
    if a.summary_only:
        out = lambda *args, **kw: None
    head = "| prefix length | test events |" + "".join(
        " %s S@%d | %s MRR |" % (lab, a.k, lab) for lab, _ in settings)
    out(head)
    out("|---:|---:|" + "---:|---:|" * len(settings))
    for L in lengths:
        row = "| %d | %d |" % (L, settings[0][1][L][0])
        for _, r in settings:
            row += " %.3f | %.3f |" % (r[L][2], r[L][3])
        out(row)
    means = []
    row = "| mean 1–%d | |" % lengths[-1]
    for lab, r in settings:
        s = sum(r[L][2] for L in lengths) / len(lengths)
        m = sum(r[L][3] for L in lengths) / len(lengths)
        means.append((lab, s, m))
        row += " **%.3f** | **%.3f** |" % (s, m)
    out(row)
    out()
    ref_lab, ref_s, ref_m = means[0]
    print("| setting | mean S@%d | mean MRR | MRR ratio vs %s (same run) |" % (a.k, ref_lab))
    print("|---|---:|---:|---:|")
    for lab, s, m in means:
        print("| %s | %.4f | %.4f | %.3f |" % (lab, s, m, m / ref_m if ref_m else float("nan")))
    print()
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"reference": ref_lab, "settings": [
                {"label": lab, "mean_success": s, "mean_mrr": m,
                 "mrr": {str(L): r[L][3] for L in lengths},
                 "success": {str(L): r[L][2] for L in lengths}}
                for (lab, s, m), (_, r) in zip(means, settings)]}, f, indent=1)
    best = max(means, key=lambda t: t[2])
    print("Best mean MRR: **%s** (%.4f, %.3f× the %s reference)." % (best[0], best[2],
          best[2] / ref_m if ref_m else float("nan"), ref_lab))


if __name__ == "__main__":
    main()
