#!/usr/bin/python3
"""typeahead-aggregate and typeahead-build when the disk fills up (SPEC §4, §5: bad input or a
failed write gets a clear error, nothing is half-written, a rerun succeeds).

The tables directory and the trie live on a 1 MiB tmpfs mounted in a private mount namespace
(`unshare -rm`: user and mount namespaces, util-linux; no root needed where the kernel allows
unprivileged user namespaces). A small log fits; a big one does not:
- the aggregator says "no space left on device", exits 1, and leaves the tables directory byte
  for byte as it was (no .txn.tmp, no spill files); with a tiny --mem (runs spilled to the full
  disk) it fails the same way, at once (a failed spill used to leave the count table unusable
  and the run spinning for ever);
- typeahead-build --out on the full disk says so and leaves the old trie as it was, with no temp
  file beside it;
- once the tmpfs is grown, the same run succeeds and the tables are byte for byte those of a
  run that never lacked space.

Usage: test_disk_full.py --aggregate PATH --build PATH [unittest arguments]
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agg_test_util import tree  # noqa: E402

ARGS = None
FULL = "no space left on device"

# Runs in the namespace: each step's exit status and stderr into OUT/<step>.rc and .err, the
# state of the tmpfs copied out to OUT/<step>.tables (the mount goes with the namespace).
SCRIPT = r"""
set -u
M=$OUT/mnt
mkdir -p $M
mount -t tmpfs -o size=1M tmpfs $M || exit 90
step() { name=$1; shift; "$@" >/dev/null 2>$OUT/$name.err; echo $? >$OUT/$name.rc; }
snap() { cp -a $M $OUT/$1.tables; }
step small $AGG --tables $M/t $OUT/small.log
step trie $BUILD --freq $OUT/small.freq --out $M/a.trie
snap before
step big $AGG --tables $M/t $OUT/big.log
snap big
step spill timeout 60 $AGG --tables $M/t --mem 1 $OUT/big.log
snap spill
step build timeout 60 $BUILD --freq $OUT/big.freq --out $M/a.trie
snap build
mount -o remount,size=64M $M || exit 91
step rerun $AGG --tables $M/t $OUT/big.log
snap rerun
"""


class DiskFull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="ta-disk-full-test-")
        rnd = random.Random(5)
        words = ["w%d" % i for i in range(5000)]
        t0 = 1764547200  # 2025-12-01, a Monday
        with open(os.path.join(cls.work, "small.log"), "w") as f:
            for i in range(2000):
                f.write("%d\t%s %s\n" % (t0 + i * 60, rnd.choice(words[:50]),
                                         rnd.choice(words[:50])))
        with open(os.path.join(cls.work, "big.log"), "w") as f:  # ~2.5 MB of tables
            for _ in range(150000):
                f.write("%d\t%s\n" % (t0 + rnd.randint(0, 30 * 86400),
                                      " ".join(rnd.choice(words) for _ in range(3))))
        # big.freq: a trie of about 3 MB, far past the 1 MiB tmpfs whatever the format saves
        for name, n in (("small.freq", 100), ("big.freq", 200000)):
            with open(os.path.join(cls.work, name), "w") as f:
                for i in range(n):
                    f.write("%s %s %d\t%d\n" % (rnd.choice(words), rnd.choice(words), i,
                                                1 + i % 97))
        env = dict(os.environ, OUT=cls.work, AGG=ARGS.aggregate, BUILD=ARGS.build)
        r = subprocess.run(["unshare", "-rm", "sh", "-c", SCRIPT], env=env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise AssertionError("the test needs a private tmpfs (unshare -rm, then mount): "
                                 "exit %d\n%s" % (r.returncode, r.stderr))
        # the run that never lacked space
        clean = os.path.join(cls.work, "clean")
        for log in ("small.log", "big.log"):
            subprocess.run([ARGS.aggregate, "--tables", clean, os.path.join(cls.work, log)],
                           check=True, capture_output=True)
        cls.clean = tree(clean)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def step(self, name):
        with open(os.path.join(self.work, name + ".rc")) as f:
            rc = int(f.read())
        with open(os.path.join(self.work, name + ".err")) as f:
            return rc, f.read()

    def tables(self, name):
        return tree(os.path.join(self.work, name + ".tables"))

    def test_fitting_runs(self):
        self.assertEqual(self.step("small")[0], 0, self.step("small")[1])
        self.assertEqual(self.step("trie")[0], 0, self.step("trie")[1])
        self.assertIn("t/ledger", self.tables("before"))

    def test_aggregate_full(self):
        before = self.tables("before")
        for name in ("big", "spill"):
            rc, err = self.step(name)
            self.assertEqual(rc, 1, "%s: exit status (124: it hung): %s" % (name, err))
            self.assertIn(FULL, err, name)
            self.assertIn(" 0 weeks written", err, "%s: the summary claims no weeks" % name)
            self.assertEqual(self.tables(name), before, "%s: the tables as they were" % name)

    def test_build_full(self):
        rc, err = self.step("build")
        self.assertEqual(rc, 1, err)
        self.assertIn(FULL, err)
        self.assertIn("a.trie left as it was", err)
        self.assertEqual(self.tables("build")["a.trie"], self.tables("before")["a.trie"])
        self.assertEqual(sorted(self.tables("build")), sorted(self.tables("before")),
                         "no temp file left")

    def test_rerun_with_space(self):
        rc, err = self.step("rerun")
        self.assertEqual(rc, 0, err)
        got = {k[2:]: v for k, v in self.tables("rerun").items() if k.startswith("t/")}
        self.assertEqual(sorted(got), sorted(self.clean))
        self.assertEqual(got, self.clean, "the tables of a run that never lacked space")


if __name__ == "__main__":
    ARGS, rest = bin_args.parser("aggregate", "build").parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
