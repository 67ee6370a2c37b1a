#!/usr/bin/python3
"""Nothing done to a served file can take the server down or make it serve bytes it did not
verify (SPEC §8): each attack of a hostile operator repeated against the real server over real
HTTP, and its answers checked.

- the served trie rewritten in place (`cp other.trie served.trie`, same inode) under load: every
  answer is the old file's or the new one's, no request fails, and the new file is then served;
- the served trie truncated in place under load: the old trie keeps serving, the file is refused;
- the display strings of the served trie edited in place at the same size: the answers keep the
  verified text (never 'XXXXX'), the edited file is refused;
- a FIFO at --trie and at --filters: refused at once with a log line that says so, POST
  /admin/reload is answered, a good file put there later is loaded, SIGTERM stops the server;
- a directory and a device at either path: refused with a log line that names them;
- --filters naming a symlink: PUT /admin/filters keeps the link and rewrites the file it names;
  a dangling one is refused;
- a trie of format 2 at start (no trie loaded, 503) and at reload (the old trie keeps serving,
  a forced reload answers 422): the log and the answer say to rebuild;
- a FIFO at either path when the server starts: no trie loaded (503) / a refusal to start, at
  once, with the reason; a FIFO, a directory or a device as --admin-token-file: the same refusal;
- paths (and other values of the command line) with a newline or a carriage return, in every
  log line that names them (loaded, refused, gone, a refusal to start): written escaped, so
  none can forge a log line.

Every server runs without the answer cache, so each answer is a lookup in the served trie.

usage: test_files.py --serve PATH --build PATH [unittest arguments]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (Server, ServerCase, build_trie, make_freq, server_args,  # noqa: E402
                        wait_for)

ARGS = None  # the command line (parsed in __main__)
WORK = None
TOKEN = "files-token"
AUTH = {"Authorization": "Bearer " + TOKEN}
# Prefixes whose answers are compared: ASCII words of both lists and the accented "Café de Flore"
PROBE = ["n", "ne", "new", "c", "ca", "caf", "café", "s", "b", "p", "pi", "h", "t", "m", "l", "w",
         "a", "r", "d", "f", "g", "mu", "st"]
GOOD = {}  # "big", "small" -> path of a good trie
EXPECT = {}  # "big", "small" -> {prefix: suggestions} as a server answers for that trie
VERSION = {}  # "big", "small" -> the trie's version (healthz)


def search(srv, prefix, conn=None):
    st, _, body = srv.get("/search?k=10&q=" + urllib.parse.quote(prefix, safe=""), conn=conn)
    return json.loads(body)["suggestions"] if st == 200 else st


def answers(srv, prefixes=None):
    return {p: search(srv, p) for p in (PROBE if prefixes is None else prefixes)}


# The rules files of the tests: each hides one suggestion of "café"
RULES = {"flore": ("exact:café de flore\n", "Café de Flore"),
         "creme": ("exact:café crème\n", "café crème")}


def shown(srv, text):
    return text in [s["text"] for s in search(srv, "café")]


def untouched_by_rules():
    """The PROBE prefixes whose answers no rule of these tests changes."""
    return [p for p in PROBE if not any(t in [s["text"] for s in EXPECT[n][p]]
                                        for n in EXPECT for _, t in RULES.values())]


def version(srv):
    st, _, body = srv.get("/healthz")
    return json.loads(body)["trie"]["version"] if st == 200 else None


def setUpModule():
    global WORK
    WORK = tempfile.mkdtemp(prefix="ta-files-test-")
    with open(os.path.join(WORK, "token"), "w") as f:
        f.write(TOKEN + "\n")
    # a large trie and a much smaller one: once the large file is cut to the small one's size,
    # most of what a lookup in the large one touches lies past the end
    for name, n, seed in (("big", 20000, 1), ("small", 200, 2)):
        freq = os.path.join(WORK, name + ".tsv")
        make_freq(freq, n=n, seed=seed)
        GOOD[name] = os.path.join(WORK, name + ".trie")
        build_trie(ARGS.build, freq, GOOD[name])
        ref = os.path.join(WORK, "ref-" + name + ".trie")
        shutil.copyfile(GOOD[name], ref)
        srv = Server(ARGS.serve, ref, ["--threads", "1", "--answer-cache-mb", "0"])
        try:
            EXPECT[name] = answers(srv)
            VERSION[name] = version(srv)
        finally:
            srv.stop()
    assert EXPECT["big"] != EXPECT["small"], "the two tries answer differently"
    for _, text in RULES.values():
        assert text in [s["text"] for s in EXPECT["big"]["café"]], EXPECT["big"]["café"]


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


class Load:
    """Threads that ask the PROBE prefixes over keep-alive connections until stopped; every
    answer is recorded as (prefix, suggestions or status) and every failure as an error."""

    def __init__(self, srv, threads=3):
        self.srv, self.stop_ev = srv, threading.Event()
        self.seen, self.errors, self.lock = [], [], threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i):
        conn, n = None, i
        while not self.stop_ev.is_set():
            p = PROBE[n % len(PROBE)]
            n += 1
            try:
                conn = conn or self.srv.conn(timeout=10)
                got = search(self.srv, p, conn=conn)
                with self.lock:
                    self.seen.append((p, got))
            except Exception as e:  # noqa: BLE001  (a dead server shows up as any of several)
                with self.lock:
                    self.errors.append("%s: %r" % (p, e))
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn:
            conn.close()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)
        return self.seen, self.errors


class Files(ServerCase):
    """Each test runs its own server (two workers, no answer cache, an admin token) on its own
    copy of the big trie, optionally with a rules file."""

    def start(self, rules=None, link_to=None):
        """The big trie served, with rules at served.rules (a symlink to link_to, under
        self.dir, when given)."""
        self.dir = tempfile.mkdtemp(dir=WORK)
        self.trie = os.path.join(self.dir, "served.trie")
        shutil.copyfile(GOOD["big"], self.trie)
        args = ["--threads", "2", "--answer-cache-mb", "0",
                "--admin-token-file", os.path.join(WORK, "token")]
        if rules is not None:
            self.rules = os.path.join(self.dir, "served.rules")
            at = self.rules
            if link_to is not None:
                at = os.path.join(self.dir, link_to)
                os.makedirs(os.path.dirname(at), exist_ok=True)
                os.symlink(link_to, self.rules)
            with open(at, "w") as f:
                f.write(rules)
            args += ["--filters", self.rules]
        srv = self.serve(self._testMethodName, ARGS.serve, self.trie, args, tail=3000)
        self.with_rules = rules is not None
        self.assert_serves(srv, "big", "the big trie is served")
        return srv

    def put(self, src, dst):
        """src copied to a temp file and renamed over dst (the documented way to publish)."""
        tmp = os.path.join(self.dir, "next.tmp")
        shutil.copyfile(src, tmp)
        os.rename(tmp, dst)

    def assert_serves(self, srv, name, why):
        prefixes = untouched_by_rules() if self.with_rules else PROBE
        self.assertGreater(len(prefixes), 10)
        want = {p: EXPECT[name][p] for p in prefixes}
        self.assertEqual(answers(srv, prefixes), want, why)
        self.assertEqual(version(srv), VERSION[name], why + " (healthz version)")

    def assert_stops(self, srv, secs=15):
        self.assertEqual(srv.stop(timeout=secs), 0, "SIGTERM stops the server, exit 0")

    def check_load(self, seen, errors, allowed):
        self.assertEqual(errors[:5], [], "no request failed (%d failures)" % len(errors))
        self.assertGreater(len(seen), 50, "the load ran")
        bad = [(p, got) for p, got in seen if all(got != EXPECT[a][p] for a in allowed)]
        self.assertEqual(bad[:3], [], "every answer is one of the %s trie's (%d are not)"
                         % (" or ".join(allowed), len(bad)))

    def test_cp_in_place(self):
        srv = self.start()
        ino = os.stat(self.trie).st_ino
        load = Load(srv)
        self.addCleanup(load.stop)
        time.sleep(0.3)
        subprocess.run(["cp", GOOD["small"], self.trie], check=True)
        self.assertEqual(os.stat(self.trie).st_ino, ino, "cp rewrote the served file in place")
        time.sleep(1.5)
        self.check_load(*load.stop(), allowed=("big", "small"))
        self.assertTrue(wait_for(lambda: version(srv) == VERSION["small"], 5),
                        "the rewritten file is loaded once whole")
        self.assert_serves(srv, "small", "the new file is served")
        self.assert_stops(srv)

    def test_truncate(self):
        srv = self.start()
        size = os.path.getsize(self.trie)
        load = Load(srv)
        self.addCleanup(load.stop)
        time.sleep(0.3)
        os.truncate(self.trie, size // 3)
        self.assertTrue(wait_for(lambda: "refused" in srv.text(), 5), "the cut file is refused")
        time.sleep(1.0)
        self.check_load(*load.stop(), allowed=("big",))
        self.assert_serves(srv, "big", "the old trie keeps serving")
        self.assertIn("truncated", srv.text(), "the log says why")
        os.truncate(self.trie, 0)  # and cut to nothing
        srv.signal(1)
        time.sleep(0.5)
        self.assert_serves(srv, "big", "the old trie keeps serving an empty file")
        self.put(GOOD["small"], self.trie)
        self.assertTrue(wait_for(lambda: version(srv) == VERSION["small"], 5),
                        "a good file renamed in is loaded")
        self.assert_stops(srv)

    def test_extended(self):
        """The served file extended in place (truncate -s 2G: sparse, nothing on disk) is refused
        from its header, which says where the file ends, before it is read: the server used to
        allocate and read the whole 2 GB (up to half the machine's memory) to find it bad."""
        srv = self.start()
        def peak_kb():
            with open("/proc/%d/status" % srv.proc.pid) as f:
                return int(f.read().split("VmHWM:")[1].split()[0])
        before = peak_kb()
        t0 = time.time()
        os.truncate(self.trie, 2 << 30)
        self.assertTrue(wait_for(lambda: "refused" in srv.text(), 5), "the file is refused")
        took = time.time() - t0
        self.assertIn("corrupt", srv.text(), "the log says why")
        self.assertLess(peak_kb() - before, 64 << 10,
                        "the server's peak memory grew by %d kB" % (peak_kb() - before))
        self.assertLess(took, 2.0, "refused at the next poll, not after a read of 2 GB")
        self.assert_serves(srv, "big", "the old trie keeps serving")
        self.put(GOOD["small"], self.trie)
        self.assertTrue(wait_for(lambda: version(srv) == VERSION["small"], 5),
                        "a good file renamed in is loaded")
        self.assert_stops(srv)

    def test_same_size_edit(self):
        srv = self.start()
        with open(self.trie, "rb") as f:
            data = f.read()
        at = [i for i in range(len(data)) if data.startswith(b"Flore", i)]
        self.assertTrue(at, "the display string is in the file")
        with open(self.trie, "r+b") as f:  # in place, same size, same inode
            for i in at:
                f.seek(i)
                f.write(b"XXXXX")
        self.assertEqual(os.path.getsize(self.trie), len(data))
        self.assertTrue(wait_for(lambda: "refused" in srv.text(), 5), "the edited file is refused")
        end = time.time() + 1.0
        while time.time() < end:
            got = search(srv, "café")
            self.assertNotIn("XXXXX", json.dumps(got), "an unverified edit is never served")
            self.assertEqual(got, EXPECT["big"]["café"], "the verified text keeps serving")
        self.assert_serves(srv, "big", "the old trie keeps serving")
        st, _, body = srv.get("/admin/reload", AUTH, method="POST")
        self.assertEqual(st, 422, "a forced reload refuses the edited file: %r" % body)
        self.assert_serves(srv, "big", "the old trie keeps serving after a forced reload")
        self.assert_stops(srv)

    def test_old_format(self):
        # a format 2 file (the fuzz corpus keeps four, for the reader to refuse)
        old = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz",
                           "corpus", "trie", "format2-seed-ascii-k2")
        with open(old, "rb") as f:
            head = f.read(12)
        self.assertEqual((head[:4], head[8]), (b"\x89TAH", 2), "the file is of format 2")
        rebuild = "made in an older file format: rebuild it with this version"
        # at start: no trie loaded (503), and the log says to rebuild
        self.dir = tempfile.mkdtemp(dir=WORK)
        at_start = os.path.join(self.dir, "old.trie")
        shutil.copyfile(old, at_start)
        srv = self.serve(self._testMethodName + "-start", ARGS.serve, at_start,
                         ["--answer-cache-mb", "0"], startup=10)
        self.assertIn(rebuild, srv.text(), "the log says to rebuild")
        self.assertEqual(srv.get("/healthz")[0], 503, "no trie loaded")
        self.assert_stops(srv)
        # at reload: refused, the old trie keeps serving, a forced reload answers 422
        srv = self.start()
        self.put(old, self.trie)
        self.assertTrue(wait_for(lambda: rebuild in srv.text(), 5),
                        "the old format is refused, and the log says to rebuild")
        self.assert_serves(srv, "big", "the old trie keeps serving")
        st, _, body = srv.get("/admin/reload", AUTH, method="POST")
        self.assertEqual(st, 422, "a forced reload refuses the old format: %r" % body)
        self.assertIn(b"rebuild", body, "and says to rebuild")
        self.assert_serves(srv, "big", "the old trie keeps serving after a forced reload")
        self.put(GOOD["small"], self.trie)
        self.assertTrue(wait_for(lambda: version(srv) == VERSION["small"], 5),
                        "a rebuilt file renamed in is loaded")
        self.assert_stops(srv)

    def fifo_at(self, path):
        fifo = os.path.join(self.dir, "fifo.tmp")
        os.mkfifo(fifo)
        os.rename(fifo, path)

    def reload_answered(self, srv, want):
        c = srv.conn(timeout=10)
        try:
            st, _, body = srv.get("/admin/reload", AUTH, method="POST", conn=c)
        finally:
            c.close()
        self.assertEqual(st, want, "POST /admin/reload answers: %r" % body)
        return body

    def test_fifo_trie(self):
        srv = self.start()
        self.fifo_at(self.trie)
        time.sleep(0.5)  # the poll has seen it: a reload thread stuck on it would stay stuck
        body = self.reload_answered(srv, 422)
        self.assertIn(b"not a regular file", body, "the reply says why")
        self.assertIn("a FIFO, not a regular file", srv.text(), "the log line says so")
        self.assert_serves(srv, "big", "the old trie keeps serving")
        self.put(GOOD["small"], self.trie)
        self.assertTrue(wait_for(lambda: version(srv) == VERSION["small"], 5),
                        "a good file put there later is loaded")
        self.assert_serves(srv, "small", "and served")
        self.fifo_at(self.trie)
        srv.signal(1)  # SIGHUP: a forced reload of the FIFO, then SIGTERM
        time.sleep(0.3)
        self.assert_stops(srv)

    def test_fifo_filters(self):
        srv = self.start(rules=RULES["flore"][0])
        self.assertFalse(shown(srv, "Café de Flore"), "the rules are in force")
        self.assertTrue(shown(srv, "café crème"), "what they do not hide is shown")
        self.fifo_at(self.rules)
        time.sleep(0.5)
        self.reload_answered(srv, 200)
        self.assertIn("a FIFO, not a regular file", srv.text(), "the log line says so")
        self.assertFalse(shown(srv, "Café de Flore"), "the old rules stay in force")
        with open(os.path.join(self.dir, "new.rules"), "w") as f:
            f.write(RULES["creme"][0])
        os.rename(os.path.join(self.dir, "new.rules"), self.rules)
        self.assertTrue(wait_for(lambda: not shown(srv, "café crème") and
                                 shown(srv, "Café de Flore"), 5),
                        "a good rules file put there later is loaded")
        self.fifo_at(self.rules)
        srv.signal(1)
        time.sleep(0.3)
        self.assert_stops(srv)

    def test_put_filters_through_a_symlink(self):
        """--filters naming a symlink (served.rules -> rules/2026-12-07.rules): PUT
        /admin/filters keeps the link and writes the file it names, beside it, with its mode;
        the rules are in force and stay (the watch sees the file it just wrote). Once the link
        dangles, a PUT is refused with a message that says so, and the link stays."""
        srv = self.start(rules=RULES["flore"][0], link_to="rules/2026-12-07.rules")
        dated = os.path.join(self.dir, "rules", "2026-12-07.rules")
        os.chmod(dated, 0o640)
        self.assertFalse(shown(srv, "Café de Flore"), "the rules through the link are in force")
        st, _, body = srv.get("/admin/filters", method="PUT", headers=AUTH,
                              body=RULES["creme"][0].encode())
        self.assertEqual(st, 200, body)
        self.assertTrue(os.path.islink(self.rules), "the link is kept")
        self.assertEqual(os.readlink(self.rules), "rules/2026-12-07.rules")
        with open(dated) as f:
            self.assertEqual(f.read(), RULES["creme"][0], "the file it names is rewritten")
        self.assertEqual(os.stat(dated).st_mode & 0o777, 0o640, "with its mode")
        self.assertEqual(os.listdir(os.path.join(self.dir, "rules")), ["2026-12-07.rules"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["rules", "served.rules", "served.trie"],
                         "no temp file left")
        self.assertTrue(shown(srv, "Café de Flore") and not shown(srv, "café crème"),
                        "the rules put are in force")
        time.sleep(1.5)  # a watch pass or more: the file just written is no change to reload
        self.assertTrue(shown(srv, "Café de Flore") and not shown(srv, "café crème"))
        os.unlink(dated)
        st, _, body = srv.get("/admin/filters", method="PUT", headers=AUTH,
                              body=RULES["flore"][0].encode())
        self.assertEqual(st, 500, body)
        self.assertIn(b"dangling symlink", body)
        self.assertTrue(os.path.islink(self.rules), "the dangling link stays")
        self.assertFalse(os.path.exists(dated), "nothing made where it points")
        self.assertTrue(shown(srv, "Café de Flore") and not shown(srv, "café crème"),
                        "the rules in force stay")
        self.assert_stops(srv)

    def test_fifo_at_start(self):
        self.dir = tempfile.mkdtemp(dir=WORK)
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        # --trie: the server starts without a trie (503) and says why
        srv = self.serve(self._testMethodName, ARGS.serve, fifo, ["--answer-cache-mb", "0"],
                         startup=10)
        self.assertIn("a FIFO, not a regular file", srv.text(), "the log says why")
        self.assertEqual(srv.get("/healthz")[0], 503, "no trie loaded")
        self.assert_stops(srv)
        # --filters: a rules file that cannot be read is fatal at start, at once
        r = subprocess.run([ARGS.serve, "--trie", GOOD["big"], "--filters", fifo, "--listen",
                            "127.0.0.1:0"], capture_output=True, text=True, timeout=15)
        self.assertNotEqual(r.returncode, 0, "the server refuses to start")
        self.assertIn("a FIFO, not a regular file", r.stderr, "and says why")
        # --admin-token-file: the same, never a wait for a writer
        for path, why in ((fifo, "a FIFO, not a regular file"), (self.dir, "not a regular file"),
                          ("/dev/zero", "not a regular file")):
            r = subprocess.run([ARGS.serve, "--trie", GOOD["big"], "--admin-token-file", path,
                                "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                               timeout=15)
            self.assertNotEqual(r.returncode, 0, "a token file at %s: refused" % path)
            self.assertIn(why, r.stderr, "and the log says why")

    def test_directory_and_device(self):
        srv = self.start(rules=RULES["flore"][0])
        flore = os.path.join(self.dir, "flore.rules")
        with open(flore, "w") as f:
            f.write(RULES["flore"][0])
        for path, good, status in ((self.trie, GOOD["big"], 422), (self.rules, flore, 200)):
            os.unlink(path)
            os.mkdir(path)
            self.assertTrue(wait_for(
                lambda: path + ": a directory, not a regular file" in srv.text(), 5),
                "a directory at %s is refused, and the log says so" % path)
            self.reload_answered(srv, status)
            os.rmdir(path)
            os.symlink("/dev/null", path)
            srv.signal(1)  # SIGHUP: a forced reload
            self.assertTrue(wait_for(
                lambda: path + ": a character device, not a regular file" in srv.text(), 5),
                "a device at %s is refused, and the log says so" % path)
            os.unlink(path)
            self.put(good, path)
            self.assert_serves(srv, "big", "the old trie keeps serving")
            self.assertFalse(shown(srv, "Café de Flore"), "the rules stay in force")
            self.assertTrue(shown(srv, "café crème"), "and hide nothing more")
        self.assert_stops(srv)


# What follows the newline of a path of these tests: a line of its own if a path were logged raw
FORGED = "typeahead-serve: FORGED by "


def forging(d, what):
    """A path in d whose name, logged raw, would forge a log line naming what."""
    return os.path.join(d, "x\n" + FORGED + what + "\r.")


class Paths(ServerCase):
    """Paths and other values from the command line are logged escaped (srv__log_esc): a
    newline in one cannot split its line or forge another."""

    def assert_escaped(self, log, whats):
        for line in re.split("[\r\n]", log):
            self.assertFalse(line.startswith(FORGED), "a forged line: %r" % line)
        for what in whats:  # logged, so the check above saw it
            self.assertIn("x\\x0a" + FORGED + what + "\\x0d.", log, what)

    def run_serve(self, args):
        """typeahead-serve with args, which must make it refuse to start: its log."""
        p = subprocess.run([ARGS.serve] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertNotEqual(p.returncode, 0, args)
        return p.stderr.decode("utf-8", "replace")

    def test_served_paths(self):
        d = tempfile.mkdtemp(dir=WORK)
        trie, rules, token, trend = (forging(d, w) for w in ("--trie", "--filters",
                                                             "--admin-token-file", "--trending"))
        shutil.copyfile(GOOD["big"], trie)
        shutil.copyfile(GOOD["small"], trend)
        with open(rules, "w") as f:
            f.write(RULES["flore"][0])
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        srv = self.serve("paths", ARGS.serve, trie, ["--threads", "1", "--filters", rules,
                                                     "--admin-token-file", token,
                                                     "--trending", trend])
        self.assertFalse(shown(srv, "Café de Flore"), "the rules are in force")
        st, _, _ = srv.get("/admin/filters", method="PUT", headers=AUTH,
                           body=RULES["creme"][0].encode())  # logged: written to the path
        self.assertEqual(st, 200)
        with open(rules, "w") as f:  # refused: logged with the path
            f.write("nonsense:rule\n")
        self.assertTrue(wait_for(lambda: "refused rules" in srv.text(), 10))
        os.unlink(rules)  # gone: logged with the path
        self.assertTrue(wait_for(lambda: "is gone" in srv.text(), 10))
        with open(trie, "r+b") as f:  # refused: logged with the path
            f.truncate(100)
        self.assertEqual(srv.get("/admin/reload", method="POST", headers=AUTH)[0], 422)
        self.assertEqual(srv.stop(), 0)
        log = srv.text()
        for said in ("written to", "refused rules", "rules file", "reload: refused"):
            self.assertIn(said, log)
        self.assert_escaped(log, ("--trie", "--filters", "--trending"))

    def test_trie_dir_paths(self):
        d = tempfile.mkdtemp(dir=WORK)
        tdir, trend, off = forging(d, "--trie-dir"), forging(d, "--trending"), forging(d, "off")
        for x in (tdir, trend):
            os.mkdir(x)
            shutil.copyfile(GOOD["small"], os.path.join(x, "global.trie"))
        shutil.copyfile(GOOD["small"], os.path.join(tdir, "de.trie"))
        open(os.path.join(tdir, "README"), "w").close()  # ignored: logged with the directory
        srv = self.serve("trie-dir", ARGS.serve, None, ["--trie-dir", tdir, "--trending", trend])
        os.unlink(os.path.join(tdir, "de.trie"))  # gone: logged with the path
        self.assertTrue(wait_for(lambda: "market de:" in srv.text(), 10))
        self.assertEqual(srv.stop(), 0)
        self.assertIn("README: ignored", srv.text())
        self.assert_escaped(srv.text(), ("--trie-dir", "--trending"))
        srv = self.serve("slots-0", ARGS.serve, GOOD["small"], ["--trending", off,
                                                                "--trending-slots", "0"])
        self.assertEqual(srv.stop(), 0)
        self.assert_escaped(srv.text(), ["off"])

    def test_healthz_path_not_utf8(self):
        # A Latin-1 file name (caf\xe9): /healthz names the trie with that byte as \xE9, as
        # the builder writes such a name in a trie's source; raw, /healthz was no JSON
        d = tempfile.mkdtemp(dir=WORK)
        tdir = os.path.join(d, os.fsdecode(b"caf\xe9 dir"))
        os.mkdir(tdir)
        trie = os.path.join(d, os.fsdecode(b"caf\xe9.trie"))
        for path in (trie, os.path.join(tdir, "global.trie")):
            shutil.copyfile(GOOD["small"], path)
        for name, what, args, want in (
                ("latin1", trie, [], "caf\\xE9.trie"),
                ("latin1-dir", None, ["--trie-dir", tdir], "caf\\xE9 dir/global.trie")):
            with self.subTest(args=args):
                srv = self.serve(name, ARGS.serve, what, ["--threads", "1"] + args)
                st, _, body = srv.get("/healthz")
                self.assertEqual(st, 200)
                self.assertTrue(json.loads(body)["trie"]["path"].endswith(want), body)
                self.assertEqual(srv.stop(), 0)

    def test_refusals_to_start(self):
        d = tempfile.mkdtemp(dir=WORK)
        trie = os.path.join(d, "ok.trie")
        shutil.copyfile(GOOD["small"], trie)
        empty, spaced, missing, a_dir = (forging(d, w) for w in ("empty", "spaced", "missing",
                                                                 "a dir"))
        open(empty, "w").close()  # no token, no shard map
        with open(spaced, "w") as f:
            f.write("to ken\n")
        os.mkdir(a_dir)
        base = ["--listen", "127.0.0.1:0", "--trie", trie]
        for args, what in ((base + ["--admin-token-file", empty], "empty"),
                           (base + ["--admin-token-file", spaced], "spaced"),
                           (base + ["--admin-token-file", missing], "missing"),
                           (["--listen", "127.0.0.1:0", "--trie-dir", missing], "missing"),
                           (base + ["--trending", a_dir], "a dir"),
                           (base + ["--shard-map", empty, "--shard", "0", "--peers", empty],
                            "empty"),
                           (base + ["--shard-map", missing, "--shard", "0", "--peers", missing],
                            "missing"),
                           # values that are not paths, as the operator typed them
                           (["--trie", trie, "--listen", forging("127.0.0.1:0", "l")], "l"),
                           (["--trie", trie, "--threads", forging("", "t")], "t"),
                           (["--trie", trie, forging("", "o")], "o"),
                           (["--trie-dir", d, "--listen", "127.0.0.1:0",
                             "--market-header", forging("", "h")], "h")):
            with self.subTest(args=args):
                self.assert_escaped(self.run_serve(args), [what])

    def test_shard_paths(self):
        d = tempfile.mkdtemp(dir=WORK)
        freq = os.path.join(d, "q.tsv")
        make_freq(freq, n=300)
        subprocess.run([ARGS.build, "--freq", freq, "--shards", "2", "--out-dir", d], check=True,
                       capture_output=True)
        smap, peers, bad = forging(d, "--shard-map"), forging(d, "--peers"), forging(d, "bad")
        shutil.copyfile(os.path.join(d, "shards.map"), smap)
        with open(peers, "w") as f:
            f.write("1\t127.0.0.1:9\n")
        with open(bad, "w") as f:
            f.write("1\tnowhere\n")
        args = ["--shard-map", smap, "--shard", "0", "--peers", peers]
        srv = self.serve("shard", ARGS.serve, os.path.join(d, "shard-0.trie"), args)
        self.assertEqual(srv.stop(), 0)
        self.assert_escaped(srv.text(), ("--shard-map", "--peers"))
        base = ["--listen", "127.0.0.1:0", "--trie", os.path.join(d, "shard-0.trie")]
        for args, what in ((["--shard-map", smap, "--shard", "7", "--peers", peers],
                            "--shard-map"),
                           (["--shard-map", smap, "--shard", "0", "--peers", bad], "bad")):
            with self.subTest(args=args):
                self.assert_escaped(self.run_serve(base + args), [what])


if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
