#!/usr/bin/python3
"""Hot swap under load (SPEC §8): a bounded load on loopback (wrk -t2 -c32 for 15 s
over user-like prefixes when wrk is installed, else a pool of Python keep-alive clients) while
the trie file is replaced by rename 24 times, good and corrupt files mixed. Checks: no failed
request and no socket error, every corrupt file refused and counted in /metrics, and the final
answers are those of the last good file.

usage: test_swap.py --serve PATH --build PATH [--query PATH] [--seconds S] [--swaps N]
                    [unittest arguments]
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (ServerCase, build_trie, make_freq, prefixes_of,  # noqa: E402
                        server_args)

ARGS = None  # the command line (parsed in __main__)
WORK = TRIE = None
GOOD = {}  # "a", "b" -> the bytes of a good trie file
PREFIXES = []  # the prefixes of the load
PROBE = []  # the prefixes whose answers are compared


def setUpModule():
    global WORK, TRIE, PREFIXES, PROBE
    WORK = tempfile.mkdtemp(prefix="ta-swap-test-")
    TRIE = os.path.join(WORK, "current.trie")
    freq_a = os.path.join(WORK, "a.tsv")
    freq_b = os.path.join(WORK, "b.tsv")
    queries = make_freq(freq_a, n=3000, seed=1)
    make_freq(freq_b, n=3000, seed=2)
    for name, freq in (("a", freq_a), ("b", freq_b)):
        path = os.path.join(WORK, name + ".trie")
        build_trie(ARGS.build, freq, path)
        with open(path, "rb") as f:
            GOOD[name] = f.read()
    install(GOOD["a"], "init")
    PREFIXES = [p for p in prefixes_of(queries, 400) if p.strip()]
    PROBE = PREFIXES[:25]


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def corrupt(kind, data, rnd):
    b = bytearray(data)
    if kind == "flip":
        b[rnd.randrange(64, len(b))] ^= 1 << rnd.randrange(8)
    elif kind == "truncate":
        b = b[:rnd.randrange(1, len(b) - 1)]
    elif kind == "empty":
        b = b""
    elif kind == "garbage":
        b = bytes(rnd.randrange(256) for _ in range(4096))
    return bytes(b)


def install(data, tag):
    tmp = os.path.join(WORK, "next-%s.tmp" % tag)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, TRIE)


def answers(srv):
    out = []
    for p in PROBE:
        st, _, body = srv.get("/search?q=%s&k=10" % urllib.parse.quote(p, safe=""))
        out.append(json.loads(body)["suggestions"] if st == 200 else st)
    return out


def trie_version(srv):
    return json.loads(srv.get("/healthz")[2])["trie"]["version"]


def wait_version(srv, want, secs=3.0):
    end = time.time() + secs
    while time.time() < end:
        st, _, body = srv.get("/healthz")
        if st == 200 and json.loads(body)["trie"]["version"] == want:
            return True
        time.sleep(0.05)
    return False


class Swap(ServerCase):
    """One server (two workers). The tests run in the order of their numbers: the swaps under
    load start from trie b, and their counts are checked after the load."""

    ans_b = ver_b = None  # the answers and version of trie b
    plan = []  # the swaps: ("good", "a" or "b") or ("bad", kind of corruption)
    counts0 = {}  # metrics before the swaps

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE, ["--threads", "2"])

    def test_1_good_tries_differ(self):
        srv = self.srv
        ans_a = answers(srv)
        ver_a = trie_version(srv)
        install(GOOD["b"], "b0")
        end = time.time() + 3
        while time.time() < end and trie_version(srv) == ver_a:
            time.sleep(0.05)
        cls = type(self)
        cls.ans_b = answers(srv)
        cls.ver_b = trie_version(srv)
        self.assertTrue(ver_a != self.ver_b and ans_a != self.ans_b,
                        "the two good tries answer differently")

    def test_2_swaps_under_load(self):
        srv = self.srv
        # The swap plan: good and corrupt files alternate; the last one is good (b).
        rnd = random.Random(5)
        kinds = ["flip", "truncate", "empty", "garbage"]
        plan = type(self).plan = []
        for i in range(ARGS.swaps - 1):
            plan.append(("good", "a" if i % 4 == 0 else "b") if i % 2 == 0 else
                        ("bad", kinds[(i // 2) % len(kinds)]))
        plan.append(("good", "b"))
        n_bad = sum(1 for kind, _ in plan if kind == "bad")
        type(self).counts0 = {
            "failed": srv.metric('typeahead_reloads_total{result="failed"}'),
            "search": srv.metric('typeahead_requests_total{endpoint="search",code="200"}'),
            "ok": srv.metric('typeahead_reloads_total{result="ok"}')}

        load_result = {}
        wrk = shutil.which("wrk")

        def run_wrk():
            script = os.path.join(WORK, "prefixes.lua")
            with open(script, "w") as f:
                f.write("local paths = {\n")
                for p in PREFIXES:
                    f.write('  "/search?q=%s",\n' % urllib.parse.quote(p, safe=""))
                f.write("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                        "  return wrk.format(\"GET\", paths[i])\nend\n")
            out = subprocess.run([wrk, "-t2", "-c32", "-d%ds" % int(ARGS.seconds), "--latency",
                                  "-s", script, "http://127.0.0.1:%d" % srv.port],
                                 capture_output=True, text=True, timeout=ARGS.seconds + 60)
            load_result["text"] = out.stdout + out.stderr

        def run_python():
            stop = time.time() + ARGS.seconds
            counts = {"ok": 0, "bad": 0, "errors": []}
            lock = threading.Lock()

            def client(seed):
                r = random.Random(seed)
                conn = srv.conn(timeout=10)
                while time.time() < stop:
                    p = r.choice(PREFIXES)
                    try:
                        st, _, _ = srv.get("/search?q=" + urllib.parse.quote(p, safe=""),
                                           conn=conn)
                        with lock:
                            counts["ok" if st == 200 else "bad"] += 1
                    except Exception as e:  # a socket error is a failure
                        with lock:
                            counts["errors"].append(repr(e))
                        conn.close()
                        conn = srv.conn(timeout=10)
                conn.close()

            ts = [threading.Thread(target=client, args=(i,)) for i in range(16)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            load_result["python"] = counts

        loader = threading.Thread(target=run_wrk if wrk else run_python)
        t_start = time.time()
        loader.start()
        time.sleep(1.0)
        spacing = (ARGS.seconds - 3.0) / len(plan)
        for i, (kind, what) in enumerate(plan):
            install(GOOD[what] if kind == "good" else corrupt(what, GOOD["b"], rnd), str(i))
            time.sleep(spacing)
        loader.join()
        print("load ran %.1fs with %s; %d swaps (%d corrupt)" %
              (time.time() - t_start, "wrk" if wrk else "python clients", len(plan), n_bad))

        if wrk:
            text = load_result.get("text", "")
            print(text)
            self.assertIn("Requests/sec", text, "wrk ran")
            self.assertNotIn(".lua:", text, "the wrk script loaded")
            self.assertNotIn("Socket errors", text, "no socket error under swaps")
            self.assertNotIn("Non-2xx", text, "no failed request under swaps")
            total = 0
            for line in text.splitlines():
                if "requests in" in line:
                    total = int(line.split()[0])
            self.assertGreater(total, 1000, "the load was real (%d requests)" % total)
            searched = srv.metric('typeahead_requests_total{endpoint="search",code="200"}') - \
                self.counts0["search"]
            self.assertGreaterEqual(searched, total,
                                    "the load hit /search (%d answered 200)" % searched)
        else:
            counts = load_result["python"]
            print("python load:", counts["ok"], "ok,", counts["bad"], "bad,",
                  len(counts["errors"]), "errors")
            self.assertEqual(counts["bad"], 0, "no failed request under swaps")
            self.assertEqual(counts["errors"], [], "no socket error under swaps")
            self.assertGreater(counts["ok"], 1000, "the load was real")

    def test_3_swaps_counted_last_good_file_served(self):
        srv, plan = self.srv, self.plan
        n_bad = sum(1 for kind, _ in plan if kind == "bad")
        time.sleep(1.0)
        failed = srv.metric('typeahead_reloads_total{result="failed"}') - self.counts0["failed"]
        ok = srv.metric('typeahead_reloads_total{result="ok"}') - self.counts0["ok"]
        self.assertEqual(failed, n_bad, "every corrupt file refused and counted")
        self.assertEqual(ok, len(plan) - n_bad, "every good file swapped in")
        self.assertIn("refused", srv.text(), "refusals logged")
        self.assertTrue(wait_version(srv, self.ver_b), "the last good file is served")
        self.assertEqual(answers(srv), self.ans_b,
                         "final answers are those of the last good file")

    def test_4_exit_status(self):
        self.assertEqual(self.srv.stop(), 0, "exit status after SIGTERM")


if __name__ == "__main__":
    ap = server_args()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--swaps", type=int, default=24)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
