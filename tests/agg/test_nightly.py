#!/usr/bin/python3
"""Integration tests of the tables path to a trie: decay in typeahead-build --tables
seen through typeahead-query, and deploy/typeahead-nightly, whose failed steps must leave the
serving trie untouched.
Usage: test_nightly.py --aggregate PATH --build PATH --query PATH --src SOURCE_DIR
"""
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)
import proc_util  # noqa: E402  (tests/proc_util.py)

ARGS = None  # the command line: --aggregate, --build, --query, --src (parsed in __main__)
MON = 1772409600  # 2026-03-02T00:00:00Z, a Monday (2026-W10)
WEEK = 604800


def tool(name):
    return getattr(ARGS, name[len("typeahead-"):])


def run(*args, check=True, env=None):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), p.returncode,
                                                    p.stderr.decode(errors="replace")))
    return p


def write_log(path, events):
    """events: list of (unix time, query, count)."""
    with open(path, "w") as f:
        for ts, q, n in events:
            for i in range(n):
                f.write("%d\t%s\n" % (ts + i, q))


def ranking(trie, prefix):
    out = run(tool("typeahead-query"), trie, prefix, "-k", "10").stdout.decode()
    return [line.split("\t")[0] for line in out.splitlines() if line]


class Decay(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_decay.")
        self.tables = os.path.join(self.tmp, "t")
        log = os.path.join(self.tmp, "log.tsv")
        # "old favourite" was popular five weeks before the newest week; "new favourite" is
        # popular last week (one week before the newest week, which holds a little traffic).
        write_log(log, [(MON + 3600, "old favourite", 100),
                        (MON + 5 * WEEK + 3600, "new favourite", 30),
                        (MON + 6 * WEEK + 3600, "newest week filler", 1)])
        run(tool("typeahead-aggregate"), "--tables", self.tables, log)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def build(self, *args):
        out = os.path.join(self.tmp, "x.trie")
        run(tool("typeahead-build"), "--tables", self.tables, "--out", out, "--min-count", "0",
            *args)
        return out

    def test_recent_beats_formerly_popular(self):
        trie = self.build("--weeks", "8", "--half-life", "1")
        self.assertEqual(ranking(trie, "")[:2], ["new favourite", "old favourite"])
        # Without decay the old query has more events and wins: the test can tell.
        trie = self.build("--weeks", "8", "--half-life", "inf")
        self.assertEqual(ranking(trie, "")[:2], ["old favourite", "new favourite"])

    def test_window_and_now(self):
        # --weeks 4 ends at the newest week: the old query is out of the window.
        self.assertNotIn("old favourite", ranking(self.build("--weeks", "4"), ""))
        # --now in the old query's week: only it (newer tables are in the future).
        names = ranking(self.build("--weeks", "4", "--now", "2026-03-04"), "")
        self.assertEqual(names, ["old favourite"])
        p = run(tool("typeahead-build"), "--tables", self.tables, "--out",
                os.path.join(self.tmp, "y.trie"), "--now", "2026-02-30", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--now", p.stderr.decode())


class SpoolCase(unittest.TestCase):
    """A scratch spool and tables directory, and TA_BIN: links to the tools under test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_nightly.")
        self.spool = os.path.join(self.tmp, "spool")
        self.tables = os.path.join(self.tmp, "tables")
        os.makedirs(self.spool)
        # TA_SETTLE=0: the logs these tests write are just written, and leave the spool at once
        # (test_log_still_written sets it)
        self.env = dict(os.environ, TA_BIN=os.path.join(self.tmp, "bin"), TA_SETTLE="0")
        os.makedirs(self.env["TA_BIN"])
        for name in ("typeahead-aggregate", "typeahead-build", "typeahead-query"):
            os.symlink(tool(name), os.path.join(self.env["TA_BIN"], name))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def fake_tool(self, name, script):
        """TA_BIN's name becomes a shell script (None: the real tool again)."""
        path = os.path.join(self.env["TA_BIN"], name)
        os.unlink(path)
        if script is None:
            os.symlink(tool(name), path)
            return
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(path, stat.S_IRWXU)


class Nightly(SpoolCase):
    def setUp(self):
        super().setUp()
        self.trie = os.path.join(self.tmp, "serve", "current.trie")
        os.makedirs(os.path.dirname(self.trie))
        write_log(os.path.join(self.spool, "day1.tsv"), [(MON + 60, "weather", 5),
                                                         (MON + 120, "web mail", 3)])

    def nightly(self, check=True):
        return run(os.path.join(ARGS.src, "deploy", "typeahead-nightly"), self.spool, self.tables,
                   self.trie, check=check, env=self.env)

    def snapshot(self):
        st = os.stat(self.trie)
        with open(self.trie, "rb") as f:
            return (st.st_ino, st.st_mtime_ns, f.read())

    def assert_failed_untouched(self, step):
        before = self.snapshot()
        p = self.nightly(check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(step, p.stderr.decode())
        self.assertIn("untouched", p.stderr.decode())
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(os.listdir(os.path.dirname(self.trie)), ["current.trie"])

    def test_ingests_new_logs_once_and_replaces_the_trie(self):
        self.nightly()
        self.assertEqual(ranking(self.trie, "we"), ["weather", "web mail"])
        # Night 1 moved the log to done/. A second night with a new log and the old one put
        # back into the spool (under another name): counted once, both moved to done/.
        self.assertEqual(os.listdir(os.path.join(self.spool, "done")), ["day1.tsv"])
        shutil.copy(os.path.join(self.spool, "done", "day1.tsv"),
                    os.path.join(self.spool, "day1-again.tsv"))
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        self.nightly()
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "done"))),
                         ["day1-again.tsv", "day1.tsv", "day2.tsv"])
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])
        dump = run(tool("typeahead-aggregate"), "--dump", self.tables).stdout.decode()
        self.assertEqual(dump, "2026-03-02\tweather\t5\n2026-03-02\tweb mail\t7\n")

    def test_failed_aggregate_leaves_trie(self):
        self.nightly()
        # An error of the run (its ledger is unreadable), not of a log: nothing moves.
        with open(os.path.join(self.tables, "ledger"), "a") as f:
            f.write("not a ledger row\n")
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        self.assert_failed_untouched("step 1 (aggregate)")
        self.assertEqual(sorted(os.listdir(self.spool)), ["day2.tsv", "done", "failed"])

    def test_no_temp_dir(self):
        # The refused-list temp file cannot be made (TMPDIR missing): the job said only
        # mktemp's words and, ended by set -e, wrote no metric file (the last night's success
        # stayed). Now a step 1 failure like the others, the metrics saying it.
        self.nightly()
        metrics = os.path.join(self.tmp, "typeahead.prom")
        self.env["TA_METRICS_FILE"] = metrics
        self.env["TMPDIR"] = os.path.join(self.tmp, "no-such-dir")
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        self.assert_failed_untouched("step 1 (aggregate): cannot create a temp file")
        with open(metrics) as f:
            self.assertIn("typeahead_nightly_success 0\n", f.read())
        self.assertIn("day2.tsv", os.listdir(self.spool))

    def test_refused_name_not_utf8(self):
        # A refused log whose name is no UTF-8 (a Latin-1 host name) went raw into the label of
        # typeahead_nightly_refused: the node exporter drops a whole metric file that is not
        # UTF-8, so the night's success and counts were gone too. Bytes of no character are
        # written \xNN (the label's backslash escaped, as the text format wants).
        metrics = os.path.join(self.tmp, "typeahead.prom")
        self.env["TA_METRICS_FILE"] = metrics
        junk = os.path.join(self.spool.encode(), b"caf\xe9 \"x\".tsv")
        with open(junk, "wb") as f:
            f.write(b"this is\tnot\ta tsv log\n" * 3)
        p = self.nightly(check=False)
        self.assertEqual(p.returncode, 3, p.stderr.decode(errors="replace"))
        with open(metrics, "rb") as f:
            prom = f.read().decode("utf-8")  # strict: the whole file is UTF-8
        self.assertIn('typeahead_nightly_refused{file="caf\\\\xe9 \\"x\\".tsv"} 1\n', prom)
        self.assertIn("typeahead_nightly_success 1\n", prom)

    def test_bad_file_over_two_nights(self):
        metrics = os.path.join(self.tmp, "textfile", "typeahead.prom")
        os.makedirs(os.path.dirname(metrics))
        self.env["TA_METRICS_FILE"] = metrics
        # Night 1: a good log and a small garbage file beside it.
        with open(os.path.join(self.spool, "junk.tsv"), "w") as f:
            f.write("this is\tnot\ta tsv log\n" * 3)
        p = self.nightly(check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 3, err)  # the trie is replaced, a log was refused
        self.assertIn("refused %s" % os.path.join(self.spool, "junk.tsv"), err)
        self.assertEqual(ranking(self.trie, "we"), ["weather", "web mail"])
        self.assertEqual(sorted(os.listdir(self.spool)), ["done", "failed"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "done")), ["day1.tsv"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "failed")), ["junk.tsv"])
        with open(metrics) as f:
            prom = f.read()
        for line in ("typeahead_nightly_success 1", "typeahead_nightly_ingested_logs 1",
                     "typeahead_nightly_refused_logs 1",
                     'typeahead_nightly_refused{file="junk.tsv"} 1'):
            self.assertIn(line + "\n", prom)
        self.assertIn("# TYPE typeahead_nightly_refused_logs gauge\n", prom)
        self.assertEqual(os.listdir(os.path.dirname(metrics)), ["typeahead.prom"])
        # Night 2: a new log; the garbage is out of the way, the job works.
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        p = self.nightly()
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "done"))),
                         ["day1.tsv", "day2.tsv"])
        with open(metrics) as f:
            prom = f.read()
        self.assertIn("typeahead_nightly_refused_logs 0\n", prom)
        self.assertIn("typeahead_nightly_ingested_logs 1\n", prom)
        self.assertNotIn("junk.tsv", prom)
        # The same name again (a rotated name reused): kept beside the first, not over it.
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 9000, "wiki", 1)])
        self.nightly()
        self.assertEqual(len(os.listdir(os.path.join(self.spool, "done"))), 3)

    def test_bad_file_beside_logs_counted_before(self):
        # The trending job counts the spool's logs without moving them, so at night the
        # aggregator may find every good log counted already and refuse the only new one: it
        # ingests nothing and exits 1. The bad log still goes to failed/, the counted log stays
        # for the next night, and the trie is built from the tables all the same.
        agg = os.path.join(self.env["TA_BIN"], "typeahead-aggregate")
        run(agg, "--tables", self.tables, os.path.join(self.spool, "day1.tsv"))
        with open(os.path.join(self.spool, "junk.tsv"), "w") as f:
            f.write("this is\tnot\ta tsv log\n" * 3)
        p = self.nightly(check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("nothing ingested (status 1)", err)
        self.assertEqual(ranking(self.trie, "we"), ["weather", "web mail"])
        self.assertEqual(sorted(os.listdir(self.spool)), ["day1.tsv", "done", "failed"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "failed")), ["junk.tsv"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "done")), [])
        # The next night finds it counted and moves it to done/.
        self.nightly()
        self.assertEqual(sorted(os.listdir(self.spool)), ["done", "failed"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "done")), ["day1.tsv"])

    def test_failed_aggregate_beside_a_bad_log(self):
        # The aggregator refuses a bad log, then fails (a cut week table): exit 1, as when it
        # refuses every new log. The job took it for the latter: it moved the bad log to
        # failed/ and went on to step 2. Now step 1 fails, and the spool stays as it was.
        self.nightly()
        with open(os.path.join(self.tables, "2026-W10.msgpack"), "r+b") as f:
            f.truncate(40)
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        with open(os.path.join(self.spool, "junk.tsv"), "w") as f:
            f.write("this is\tnot\ta tsv log\n" * 3)
        before = self.snapshot()
        p = self.nightly(check=False)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("step 1 (aggregate) failed", err)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(sorted(os.listdir(self.spool)),
                         ["day2.tsv", "done", "failed", "junk.tsv"])
        self.assertEqual(os.listdir(os.path.join(self.spool, "failed")), [])

    def test_waits_for_the_trending_job(self):
        # The trending job holds the tables' lock when the night starts: step 1 waits for it
        # (--wait) instead of failing the night.
        self.nightly()
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        with open(os.path.join(self.tables, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = subprocess.Popen([os.path.join(ARGS.src, "deploy", "typeahead-nightly"),
                                  self.spool, self.tables, self.trie], env=self.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(1.5)
            self.assertIsNone(p.poll())  # waiting, not failed
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])

    def test_failed_build_leaves_trie(self):
        self.nightly()
        with open(os.path.join(self.tables, "2026-W10.msgpack"), "r+b") as f:
            f.truncate(40)
        self.assert_failed_untouched("step 2 (build)")

    def test_failed_verify_leaves_trie(self):
        self.nightly()
        self.fake_tool("typeahead-query", "echo 'checksum mismatch' >&2\nexit 1\n")
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        self.assert_failed_untouched("step 3 (verify)")

    def test_killed_run_leaves_one_temp_file_at_most(self):
        # A run killed during its build (SIGKILL: no trap runs) leaves its temp file; the next
        # run reuses the name, so none is left after it, however many runs were killed before.
        self.nightly()
        self.fake_tool("typeahead-build", "exec sleep 60\n")
        serve_dir = os.path.dirname(self.trie)
        for night in range(2):
            write_log(os.path.join(self.spool, "day%d.tsv" % (night + 2)),
                      [(MON + 7200 + night, "web mail", 4)])
            p = subprocess.Popen([os.path.join(ARGS.src, "deploy", "typeahead-nightly"),
                                  self.spool, self.tables, self.trie], env=self.env,
                                 stderr=subprocess.PIPE, start_new_session=True)
            while b"step 2" not in p.stderr.readline():
                pass
            os.killpg(p.pid, 9)
            p.wait()
            p.stderr.close()
        self.assertEqual(sorted(os.listdir(serve_dir)), [".current.trie.nightly", "current.trie"])
        self.fake_tool("typeahead-build", None)
        self.nightly()
        self.assertEqual(os.listdir(serve_dir), ["current.trie"])
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])

    def test_two_runs_at_once_take_turns(self):
        # A run by hand while the timer's runs: with one temp name, the second run's build
        # replaced the first's temp file while the first verified it, and one run renamed the
        # file the other then failed to verify or rename. The second run now waits for the
        # first (a lock on the trie directory); both end well, one after the other.
        self.nightly()
        hold = os.path.join(self.tmp, "hold")
        # step 3 waits while the hold file is there
        self.fake_tool("typeahead-query", "while [ -e %s ]; do sleep 0.05; done\nexec %s \"$@\"\n"
                       % (hold, tool("typeahead-query")))
        open(hold, "w").close()
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        cmd = [os.path.join(ARGS.src, "deploy", "typeahead-nightly"), self.spool, self.tables,
               self.trie]
        runs = []
        for _ in range(2):  # the first to its step 3; the second to its step 3 or its wait
            p = subprocess.Popen(cmd, env=self.env, stderr=subprocess.PIPE)
            err = b""
            while b"step 3" not in err and b"waiting for it" not in err:
                line = p.stderr.readline()
                self.assertTrue(line, err.decode(errors="replace"))
                err += line
            runs.append((p, err))
        os.unlink(hold)
        for p, err in runs:
            err += p.stderr.read()
            p.wait()
            p.stderr.close()
            self.assertEqual(p.returncode, 0, err.decode(errors="replace"))
        self.assertEqual(os.listdir(os.path.dirname(self.trie)), ["current.trie"])
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "done"))),
                         ["day1.tsv", "day2.tsv"])

    def test_spool_past_the_command_line(self):
        # The logs' names went on the aggregator's command line: a spool holding more than
        # exec takes (ARG_MAX, 2 MiB here: 700 paths of 3,900 bytes; tens of thousands of
        # short ones after nights of backlog) failed step 1 with E2BIG, every night again, as
        # nothing left the spool. Now they go through --files0-from.
        deep = self.tmp
        while len(deep) < 3700:
            deep = os.path.join(deep, "d" * 200)
        os.makedirs(deep)
        os.rename(self.spool, os.path.join(deep, "spool"))
        self.spool = os.path.join(deep, "spool")
        n = max(700, os.sysconf("SC_ARG_MAX") // 3000)
        for i in range(n):
            write_log(os.path.join(self.spool, "%s-%05d.tsv" % ("x" * 150, i)),
                      [(MON + i, "web mail", 1)])
        p = self.nightly(check=False)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
        self.assertEqual(len(os.listdir(os.path.join(self.spool, "done"))), n + 1)
        self.assertEqual(ranking(self.trie, "we"), ["web mail", "weather"])

    def test_log_still_written(self):
        # A writer appending to its log in the spool: the job moved it to done/ and the writer
        # went on writing there, so what it added after the run was never counted. Now a log
        # written to within TA_SETTLE seconds is counted so far and stays; the next night
        # counts only its new lines and moves it once it has gone quiet.
        env = dict(self.env, TA_SETTLE="3600")
        old = time.time() - 7200
        os.utime(os.path.join(self.spool, "day1.tsv"), (old, old))  # a log done with
        live = os.path.join(self.spool, "live.tsv")
        write_log(live, [(MON + 60, "weather radar", 2)])
        job = os.path.join(ARGS.src, "deploy", "typeahead-nightly")
        p = run(job, self.spool, self.tables, self.trie, env=env)
        self.assertIn("live.tsv was written to in the last 3600 s", p.stderr.decode())
        self.assertIn("live.tsv", os.listdir(self.spool))
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "done"))), ["day1.tsv"])
        with open(live, "a") as f:
            for i in range(6):
                f.write("%d\tweather radar\n" % (MON + 600 + i))
        os.utime(live, (old, old))
        run(job, self.spool, self.tables, self.trie, env=env)
        self.assertNotIn("live.tsv", os.listdir(self.spool))
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "done"))),
                         ["day1.tsv", "live.tsv"])
        dump = run(tool("typeahead-aggregate"), "--dump", self.tables).stdout.decode()
        self.assertIn("weather radar\t8", dump)  # 2 + 6, each line once
        p = run(job, self.spool, self.tables, self.trie, check=False,
                env=dict(self.env, TA_SETTLE="5m"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("TA_SETTLE must be a number of seconds", p.stderr.decode())

    def test_spool_behind_a_symlink(self):
        # SPOOL_DIR a symlink to the real spool (moved to a bigger disk): find does not enter a
        # symlink given as its start, so the job saw an empty spool and ingested nothing, exit 0.
        os.rename(self.spool, self.spool + "-disk")
        os.symlink(self.spool + "-disk", self.spool)
        p = self.nightly()
        self.assertNotIn("no files in", p.stderr.decode())
        self.assertEqual(os.listdir(os.path.join(self.spool + "-disk", "done")), ["day1.tsv"])
        self.assertEqual(ranking(self.trie, "we"), ["weather", "web mail"])

    def test_trie_file_behind_a_symlink(self):
        serve_dir = os.path.dirname(self.trie)
        os.makedirs(os.path.join(serve_dir, "tries"))
        dated = os.path.join(serve_dir, "tries", "2026-12-07.trie")
        with open(dated, "wb") as f:
            f.write(b"the old file")
        os.symlink(os.path.join("tries", "2026-12-07.trie"), self.trie)
        self.nightly()
        self.assertTrue(os.path.islink(self.trie))
        self.assertEqual(ranking(dated, "we"), ["weather", "web mail"])
        self.assertEqual(sorted(os.listdir(serve_dir)), ["current.trie", "tries"])
        self.assertEqual(os.listdir(os.path.join(serve_dir, "tries")), ["2026-12-07.trie"])
        # A link to nothing: refused before anything is done, the spool as it was.
        os.unlink(dated)
        write_log(os.path.join(self.spool, "day2.tsv"), [(MON + 7200, "web mail", 4)])
        p = self.nightly(check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("symlink to nothing", p.stderr.decode())
        self.assertIn("day2.tsv", os.listdir(self.spool))
        self.assertTrue(os.path.islink(self.trie))

    def test_missing_spool_leaves_trie(self):
        self.nightly()
        shutil.rmtree(self.spool)
        self.assert_failed_untouched("step 1")


class NightlyMarkets(SpoolCase):
    """With TA_TRIE_DIR the job builds global.trie and a trie per market with enough events into
    that directory; without it, the single trie (the tests above)."""

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp, "serve", "tries")
        self.env.update(TA_TRIE_DIR=self.dir, TA_MIN_MARKET_EVENTS="5",
                        TA_METRICS_FILE=os.path.join(self.tmp, "typeahead.prom"))

    def files(self):
        out = {}
        for f in os.listdir(self.dir):
            with open(os.path.join(self.dir, f), "rb") as fh:
                out[f] = fh.read()
        return out

    def night(self, lines):
        with open(os.path.join(self.spool, "day%d.tsv" % len(os.listdir(self.spool))), "w") as f:
            f.write("".join("%d\t%s\n" % (MON + i, q) for i, q in enumerate(lines)))
        return run(os.path.join(ARGS.src, "deploy", "typeahead-nightly"), self.spool,
                   self.tables, env=self.env)

    def test_every_market_into_the_directory(self):
        self.night(["bundesliga\tde"] * 6 + ["bank of america\tus"] * 7 + ["bahn\tfr"] * 2 +
                   ["bagel"] * 9)
        self.assertEqual(sorted(os.listdir(self.dir)), ["de.trie", "global.trie", "us.trie"])
        self.assertEqual(ranking(os.path.join(self.dir, "de.trie"), "b"), ["bundesliga"])
        self.assertEqual(ranking(os.path.join(self.dir, "global.trie"), "b"),
                         ["bagel", "bank of america", "bundesliga", "bahn"])
        with open(self.env["TA_METRICS_FILE"]) as f:
            prom = f.read()
        self.assertIn("typeahead_nightly_success 1\n", prom)
        self.assertIn("typeahead_nightly_tries 3\n", prom)
        # The next night fr passes the threshold; with a higher one us loses its trie.
        self.env["TA_MIN_MARKET_EVENTS"] = "7"
        self.night(["bahn\tfr"] * 5 + ["bundesliga\tde"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["de.trie", "fr.trie", "global.trie",
                                                        "us.trie"])
        self.env["TA_MIN_MARKET_EVENTS"] = "8"
        self.night(["bagel"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["global.trie"])
        self.assertEqual(ranking(os.path.join(self.dir, "global.trie"), "bag"), ["bagel"])

    def test_tries_readable_under_a_strict_umask(self):
        # By hand under umask 077 (027 on hardened hosts), the directory and the market tries
        # were made for their owner alone: a server running as another user read none of them.
        # The single trie was made 0644 already; every file the job makes now is.
        def strict():
            os.umask(0o077)
        with open(os.path.join(self.spool, "day0.tsv"), "w") as f:
            f.write("".join("%d\tbundesliga\tde\n" % (MON + i) for i in range(6)))
        p = subprocess.run([os.path.join(ARGS.src, "deploy", "typeahead-nightly"), self.spool,
                            self.tables], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, preexec_fn=strict)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.dir).st_mode), 0o755)
        for name in ("global.trie", "de.trie"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dir, name)).st_mode), 0o644)

    def test_log_moved_out_by_another_run(self):
        # With TA_TRIE_DIR runs do not take turns on a trie directory: a second run lists the
        # spool while the first holds the tables' lock, and the first moves the logs to done/
        # before the second's aggregator opens them (here the test moves it). The second run
        # took "No such file" for a refusal: exit 3, and the log named refused in the metrics.
        self.night(["bundesliga\tde"] * 6)
        log = os.path.join(self.spool, "day3.tsv")
        write_log(log, [(MON + 7200, "bahn\tfr", 1)])
        with open(os.path.join(self.tables, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = subprocess.Popen([os.path.join(ARGS.src, "deploy", "typeahead-nightly"),
                                  self.spool, self.tables], env=self.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            proc_util.wait_for_child(p.pid, "typeahead-aggregate")
            time.sleep(0.3)  # it polls the lock
            os.rename(log, os.path.join(self.spool, "done", "day3.tsv"))
        _, err = p.communicate(timeout=120)
        err = err.decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("day3.tsv left the spool during the run", err)
        with open(self.env["TA_METRICS_FILE"]) as f:
            prom = f.read()
        self.assertIn("typeahead_nightly_refused_logs 0\n", prom)
        self.assertNotIn("typeahead_nightly_refused{", prom)

    def test_failed_build_keeps_the_tries(self):
        self.night(["bundesliga\tde"] * 6)
        before = self.files()
        with open(os.path.join(self.tables, "2026-W10.msgpack"), "r+b") as f:
            f.truncate(40)
        p = run(os.path.join(ARGS.src, "deploy", "typeahead-nightly"), self.spool, self.tables,
                env=self.env, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("step 2 (build all markets) failed", p.stderr.decode())
        self.assertEqual(self.files(), before)
        self.assertEqual(sorted(before), ["de.trie", "global.trie"])


if __name__ == "__main__":
    ap = bin_args.parser("aggregate", "build", "query")
    ap.add_argument("--src", required=True, type=os.path.abspath,
                    help="the source tree (deploy/typeahead-nightly)")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
