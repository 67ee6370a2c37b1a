#!/usr/bin/python3
"""From a log line in the spool to a trending suggestion served (SPEC §13, issue point "at most
one timer period plus the build"): the real job of the timer (deploy/typeahead-trending) counts
the spool into hour tables and installs the trending trie, and a running typeahead-serve
--trending picks it up by itself. The test measures how long that takes from the moment the
new log lines are written (the timer period itself is systemd's: the job is what runs each
period), and checks what a user sees: before, no trending suggestion; after, the rising query
is served for its prefix, marked, after the first regular suggestion; a second run of the job
on the same spool changes no answer (the ledger counts a log once).

usage: test_trending_job.py --source DIR --build-dir DIR [unittest arguments]
"""
import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server"))
sys.path.insert(0, os.path.join(HERE, ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)
import proc_util  # noqa: E402  (tests/proc_util.py)
from serve_util import Server, wait_for  # noqa: E402

MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday
END = MON + 3 * 604800 + 2 * 86400 + 15 * 3600  # Thursday of the 4th week, 15:00
LEADERS = {"bank of america": 60, "bahn": 25, "barnes and noble": 15}
# The reload thread looks at the files every 250 ms and a swap verifies the new file: a
# suggestion must be served within this long after the job has finished.
PICKUP_S = 5.0


def tool(name, sub):
    return os.path.join(ARGS.build_dir, sub, name)


def run(*cmd, env=None):
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (cmd[0], p.returncode,
                                                   p.stderr.decode(errors="replace")))
    return p


def steady_lines(rng, n, start, end):
    words, weights = list(LEADERS), list(LEADERS.values())
    return ["%d\t%s" % (start + rng.randrange(end - start), rng.choices(words, weights)[0])
            for _ in range(n)]


class TrendingJob(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_trend_job.")
        self.spool = os.path.join(self.tmp, "spool")
        self.tables = os.path.join(self.tmp, "tables")
        os.mkdir(self.spool)
        rng = random.Random(3)
        # History: 3.6 weeks of steady traffic, in the spool as the nightly job would have left
        # it counted; the weekly trie is built from the same tables.
        with open(os.path.join(self.spool, "0-history.tsv"), "w") as f:
            f.write("\n".join(steady_lines(rng, 20000, MON, END - 6 * 3600)) + "\n")
        self.env = dict(os.environ, TA_BIN=os.path.join(ARGS.build_dir, "builder"))
        self.job = os.path.join(ARGS.source, "deploy", "typeahead-trending")
        self.trending = os.path.join(self.tmp, "trending.trie")
        run(self.job, self.spool, self.tables, self.trending, env=self.env)
        self.trie = os.path.join(self.tmp, "weekly.trie")
        run(tool("typeahead-build", "builder"), "--tables", self.tables, "--out", self.trie)
        self.server = Server(tool("typeahead-serve", "server"), self.trie,
                             ["--trending", self.trending, "--threads", "2"])

    def tearDown(self):
        self.server.kill()
        shutil.rmtree(self.tmp)

    def answer(self, q):
        status, _, body = self.server.get("/search?q=" + urllib.parse.quote(q) + "&n=5")
        self.assertEqual(status, 200, body)
        return json.loads(body)["suggestions"]

    def test_log_line_to_trending_suggestion(self):
        before = self.answer("ba")
        self.assertEqual(before[0]["text"], "bank of america")
        self.assertFalse([s for s in before if s.get("trending")], before)
        self.assertFalse([s for s in before if "banksy" in s["text"]], before)

        # The rising query arrives: a new log in the spool, 60 searches in the last 6 hours.
        rng = random.Random(4)
        lines = steady_lines(rng, 600, END - 6 * 3600, END)
        lines += ["%d\tBanksy Show" % (END - 1 - rng.randrange(6 * 3600)) for _ in range(60)]
        rng.shuffle(lines)
        t0 = time.monotonic()
        with open(os.path.join(self.spool, "1-today.tsv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        run(self.job, self.spool, self.tables, self.trending, env=self.env)
        job_s = time.monotonic() - t0

        def shown():
            return any(s["text"] == "Banksy Show" for s in self.answer("ba"))

        self.assertTrue(wait_for(shown, PICKUP_S), "not served %.1f s after the job" % PICKUP_S)
        total_s = time.monotonic() - t0
        sys.stderr.write("log written -> trending suggestion served: %.2f s (the job %.2f s)\n"
                         % (total_s, job_s))
        after = self.answer("ba")
        self.assertEqual(after[0]["text"], "bank of america")  # the leader keeps first place
        marked = [s for s in after if s.get("trending")]
        self.assertEqual([s["text"] for s in marked], ["Banksy Show"], after)
        self.assertLessEqual(len(marked), 2)  # --trending-slots' default
        self.assertEqual(self.answer("banksy")[0]["text"], "Banksy Show")
        # Never for a prefix it does not start with.
        self.assertFalse([s for s in self.answer("bah") if s.get("trending")])

        # The next period's run, nothing new in the spool (the ledger counts a log once): the
        # same answer once the rebuilt file is picked up.
        run(self.job, self.spool, self.tables, self.trending, env=self.env)
        time.sleep(1.0)
        self.assertEqual(self.answer("ba"), after)


    def test_bad_log_beside_counted_ones(self):
        # Every other log of the spool was counted by an earlier run, the new one is garbage:
        # the aggregator ingests nothing (exit 1, the log named), the job builds the trending
        # trie from the tables as they are and exits 3, every 10 minutes until the nightly job
        # moves the log to failed/.
        with open(os.path.join(self.spool, "2-junk.tsv"), "w") as f:
            f.write("not\ta\tlog\n" * 5)
        os.unlink(self.trending)
        p = subprocess.run([self.job, self.spool, self.tables, self.trending], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("refused %s" % os.path.join(self.spool, "2-junk.tsv"), err)
        self.assertTrue(os.path.exists(self.trending), err)


    def test_logs_moved_out_while_waiting(self):
        # The nightly job holds the tables' lock (its step 1) when this job starts: the job
        # lists the spool, its aggregator waits, the nightly job moves the logs to done/, and
        # the aggregator then finds no file. That is no refusal: the job exited 3 (its unit
        # failed) and named each log "refused ... No such file or directory", every night the
        # two met.
        with open(os.path.join(self.spool, "1-today.tsv"), "w") as f:
            f.write("%d\tbahn\n" % (END - 60))
        done = os.path.join(self.spool, "done")
        os.mkdir(done)
        with open(os.path.join(self.tables, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = subprocess.Popen([self.job, self.spool, self.tables, self.trending],
                                 env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            proc_util.wait_for_child(p.pid, "typeahead-aggregate")
            time.sleep(0.3)  # it polls the lock
            for name in ("0-history.tsv", "1-today.tsv"):
                os.rename(os.path.join(self.spool, name), os.path.join(done, name))
        _, err = p.communicate(timeout=120)
        err = err.decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("1-today.tsv left the spool during the run", err)

    def test_spool_past_the_command_line(self):
        # More logs than exec takes on a command line (ARG_MAX: here 700 paths of 3,900
        # bytes) failed step 1 with E2BIG at every run; the names now go through a file.
        deep = self.tmp
        while len(deep) < 3700:
            deep = os.path.join(deep, "d" * 200)
        spool = os.path.join(deep, "spool")
        os.makedirs(spool)
        n = max(700, os.sysconf("SC_ARG_MAX") // 3000)
        for i in range(n):
            with open(os.path.join(spool, "%s-%05d.tsv" % ("x" * 150, i)), "w") as f:
                f.write("%d\tbahn\n" % (END - i))
        p = subprocess.run([self.job, spool, self.tables, self.trending], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, err[-2000:])
        self.assertIn("%d inputs (0 already ingested), 0 refused" % n, err)

    def test_spool_and_tables_behind_symlinks(self):
        # SPOOL_DIR and TABLES_DIR as symlinks (moved to a bigger disk): find did not enter
        # them, so the spool looked empty and no hour table was found: the job said "no hour
        # tables yet" and never built the trending file again.
        for d in (self.spool, self.tables):
            os.rename(d, d + "-disk")
            os.symlink(d + "-disk", d)
        with open(os.path.join(self.spool, "1-today.tsv"), "w") as f:
            f.write("%d\tbahn\n" % (END - 60))
        os.unlink(self.trending)
        p = subprocess.run([self.job, self.spool, self.tables, self.trending], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("2 inputs (1 already ingested)", err)
        self.assertTrue(os.path.exists(self.trending), err)

    def test_readable_under_a_strict_umask(self):
        # By hand under umask 077 (027 on hardened hosts) a new trending file was made 0600,
        # which a server running as another user cannot read.
        os.unlink(self.trending)
        p = subprocess.run([self.job, self.spool, self.tables, self.trending], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=lambda: os.umask(0o077))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(self.trending).st_mode & 0o777, 0o644)

    def test_no_temp_dir(self):
        # The refused-list temp file (new with the refused-list reading) cannot be made: the
        # job said only mktemp's words, ended by set -e. Now its own step 1 failure.
        env = dict(self.env, TMPDIR=os.path.join(self.tmp, "no-such-dir"))
        p = subprocess.run([self.job, self.spool, self.tables, self.trending], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("typeahead-trending: step 1: cannot create a temp file", err)


if __name__ == "__main__":
    ARGS, rest = bin_args.tree_parser().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
