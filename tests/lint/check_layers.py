#!/usr/bin/python3
"""Structure rules of the tree (docs/ARCHITECTURE.md), checked on the built objects:

- no two source files call each other in a loop: from `nm` of every object of our libraries
  (CMake passes their object files), file A depends on file B when A uses a symbol B defines;
  every strongly connected component of that graph must be a single file;
- no .c file of the tree is over 700 lines.

Usage: check_layers.py --source SOURCE_DIR --objects OBJ...
"""
import argparse
import os
import subprocess
import sys
import unittest

ARGS = None
MAX_LINES = 700


def symbols(obj):
    p = subprocess.run(["nm", "-P", obj], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=True, text=True)
    defined, used = set(), set()
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ("U",):
            used.add(name)
        elif kind in ("T", "D", "B", "R", "C"):
            defined.add(name)
    return defined, used


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


class Layers(unittest.TestCase):
    def test_loop_finder(self):
        """The finder itself: a 3-file loop and a 2-file loop are found, a chain is not."""
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "f"}, "f": set()}
        loops = [c for c in sccs(edges.keys(), edges) if len(c) > 1]
        self.assertEqual(sorted(loops), [["a", "b", "c"], ["d", "e"]])

    def test_no_call_loops(self):
        objs = ARGS.objects
        self.assertGreater(len(objs), 20, "too few objects: %s" % objs)
        owner, uses = {}, {}
        for o in objs:
            name = os.path.basename(o)[:-len(".o")]
            defined, used = symbols(o)
            uses[name] = used
            for s in defined:
                owner.setdefault(s, set()).add(name)
        edges = {}
        for name, used in uses.items():
            for s in used:
                for target in owner.get(s, ()):
                    if target != name:
                        edges.setdefault(name, set()).add(target)
        loops = [c for c in sccs(uses.keys(), edges) if len(c) > 1]
        self.assertEqual(loops, [], "files that call each other in a loop: %s" % loops)

    def test_file_length(self):
        long_files = []
        for root, dirs, files in os.walk(ARGS.source):
            # build trees (a CMakeCache.txt, or build/ and build-*/ before a configure), not
            # builder/, whose name starts the same
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules" and
                       d != "build" and not d.startswith("build-") and
                       not os.path.exists(os.path.join(root, d, "CMakeCache.txt"))]
            for f in files:
                if f.endswith(".c"):
                    p = os.path.join(root, f)
                    with open(p, "rb") as fh:
                        n = fh.read().count(b"\n")
                    if n > MAX_LINES:
                        long_files.append("%s (%d lines)" % (os.path.relpath(p, ARGS.source), n))
        self.assertEqual(long_files, [], "over %d lines: %s" % (MAX_LINES, long_files))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", nargs="+", required=True)
    ap.add_argument("--source", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
