#!/usr/bin/env python3
"""Writes data/sample.log: the small query log `make run` aggregates (tsv format of SPEC §4,
`timestamp<TAB>query`), about 4,500 made-up search events over the five ISO weeks from Monday
2026-10-19 to Sunday 2026-11-22.

The vocabulary and its popularity are data/sample-queries.tsv (written for this project, with its
Zipf-like counts and its spellings that share a key: Café/café/cafe, München/MÜNCHEN, naïve,
北京), plus a few seasonal queries so that decay shows: "halloween costumes" peaks five weeks
ago, "black friday deals" in the last week. Each query also gets a mild trend (rising, falling
or flat) from its hash. Timestamps are unix seconds or ISO-8601 (both forms of SPEC §4).
No real log data. Deterministic: the same file each run.

usage: data/gen-sample-log.py > data/sample.log
"""
import datetime
import hashlib
import os
import random

EVENTS = 4500
START = datetime.datetime(2026, 10, 19, tzinfo=datetime.timezone.utc)  # a Monday
WEEKS = 5

here = os.path.dirname(os.path.abspath(__file__))
vocab = []
with open(os.path.join(here, "sample-queries.tsv"), encoding="utf-8") as f:
    for line in f:
        q, _, count = line.rstrip("\n").partition("\t")
        if q and count.replace(".", "", 1).isdigit():
            vocab.append((q, float(count)))

# (query, weight, per-week shape): seasonal queries written for this sample.
seasonal = [("halloween costumes", 400, [1.0, 0.5, 0.05, 0.0, 0.0]),
            ("Halloween Costumes", 60, [1.0, 0.4, 0.0, 0.0, 0.0]),
            ("pumpkin carving ideas", 150, [1.0, 0.6, 0.1, 0.0, 0.0]),
            ("black friday deals", 400, [0.0, 0.0, 0.05, 0.4, 1.0]),
            ("Black Friday Deals", 50, [0.0, 0.0, 0.0, 0.3, 1.0]),
            ("thanksgiving recipes", 200, [0.0, 0.1, 0.3, 0.7, 1.0]),
            ("daylight saving time", 120, [0.2, 1.0, 0.1, 0.0, 0.0])]

rng = random.Random(20261019)
choices, weights, shapes = [], [], []
for q, c in vocab:
    h = int(hashlib.sha256(q.encode()).hexdigest(), 16)
    trend = [(1.0, 1.0, 1.0, 1.0, 1.0), (0.5, 0.7, 1.0, 1.3, 1.6), (1.6, 1.3, 1.0, 0.7, 0.5)][h % 3]
    choices.append(q)
    weights.append(c ** 0.8)
    shapes.append(trend)
total = sum(weights)
for q, share, shape in seasonal:
    choices.append(q)
    weights.append(total * share / 40000.0)
    shapes.append(shape)

events = []
picked = rng.choices(range(len(choices)), weights=weights, k=EVENTS)
for i in picked:
    week = rng.choices(range(WEEKS), weights=[s + 1e-9 for s in shapes[i]])[0]
    ts = START + datetime.timedelta(weeks=week, seconds=rng.randrange(7 * 86400))
    events.append((ts, choices[i]))
events.sort()

out = []
for ts, q in events:
    r = rng.random()
    if r < 0.6:
        stamp = str(int(ts.timestamp()))
    elif r < 0.8:
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        stamp = ts.strftime("%Y-%m-%d %H:%M:%S")
    out.append(stamp + "\t" + q + "\n")
with open(1, "w", encoding="utf-8", closefd=False) as f:
    f.write("".join(out))
