#!/usr/bin/python3
"""Hot swap under load (SPEC §8, issue 4): a bounded load on loopback (wrk -t2 -c32 for 15 s
over user-like prefixes when wrk is installed, else a pool of Python keep-alive clients) while
the trie file is replaced by rename 24 times, good and corrupt files mixed. Checks: no failed
request and no socket error, every corrupt file refused and counted in /metrics, and the final
answers are those of the last good file.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Checker, Server, build_trie, make_freq, prefixes_of

ap = argparse.ArgumentParser()
ap.add_argument("--serve", required=True)
ap.add_argument("--build", required=True)
ap.add_argument("--query")
ap.add_argument("--seconds", type=float, default=15)
ap.add_argument("--swaps", type=int, default=24)
args = ap.parse_args()

C = Checker()
work = tempfile.mkdtemp(prefix="ta-swap-test-")
trie = os.path.join(work, "current.trie")
freq_a = os.path.join(work, "a.tsv")
freq_b = os.path.join(work, "b.tsv")
queries = make_freq(freq_a, n=3000, seed=1)
make_freq(freq_b, n=3000, seed=2)
good = {}
for name, freq in (("a", freq_a), ("b", freq_b)):
    path = os.path.join(work, name + ".trie")
    build_trie(args.build, freq, path)
    with open(path, "rb") as f:
        good[name] = f.read()


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
    tmp = os.path.join(work, "next-%s.tmp" % tag)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, trie)


install(good["a"], "init")
srv = Server(args.serve, trie, ["--threads", "2"])
prefixes = [p for p in prefixes_of(queries, 400) if p.strip()]
probe = prefixes[:25]


def answers():
    out = []
    for p in probe:
        st, _, body = srv.get("/search?q=%s&k=10" % urllib.parse.quote(p, safe=""))
        out.append(json.loads(body)["suggestions"] if st == 200 else st)
    return out


def metric(name):
    for line in srv.get("/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    return None


def wait_version(want, secs=3.0):
    end = time.time() + secs
    while time.time() < end:
        st, _, body = srv.get("/healthz")
        if st == 200 and json.loads(body)["trie"]["version"] == want:
            return True
        time.sleep(0.05)
    return False


try:
    ans_a = answers()
    ver_a = json.loads(srv.get("/healthz")[2])["trie"]["version"]
    install(good["b"], "b0")
    end = time.time() + 3
    while time.time() < end and json.loads(srv.get("/healthz")[2])["trie"]["version"] == ver_a:
        time.sleep(0.05)
    ans_b = answers()
    ver_b = json.loads(srv.get("/healthz")[2])["trie"]["version"]
    C.check(ver_a != ver_b and ans_a != ans_b, "the two good tries answer differently")

    # The swap plan: good and corrupt files alternate; the last one is good (b).
    rnd = random.Random(5)
    kinds = ["flip", "truncate", "empty", "garbage"]
    plan = []
    for i in range(args.swaps - 1):
        plan.append(("good", "a" if i % 4 == 0 else "b") if i % 2 == 0 else
                    ("bad", kinds[(i // 2) % len(kinds)]))
    plan.append(("good", "b"))
    n_bad = sum(1 for kind, _ in plan if kind == "bad")
    failed0 = metric('typeahead_reloads_total{result="failed"}')
    search0 = metric('typeahead_requests_total{endpoint="search",code="200"}')
    ok0 = metric('typeahead_reloads_total{result="ok"}')

    load_result = {}
    wrk = shutil.which("wrk")

    def run_wrk():
        script = os.path.join(work, "prefixes.lua")
        with open(script, "w") as f:
            f.write("local paths = {\n")
            for p in prefixes:
                f.write('  "/search?q=%s",\n' % urllib.parse.quote(p, safe=""))
            f.write("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                    "  return wrk.format(\"GET\", paths[i])\nend\n")
        out = subprocess.run([wrk, "-t2", "-c32", "-d%ds" % int(args.seconds), "--latency",
                              "-s", script, "http://127.0.0.1:%d" % srv.port],
                             capture_output=True, text=True, timeout=args.seconds + 60)
        load_result["text"] = out.stdout + out.stderr

    def run_python():
        stop = time.time() + args.seconds
        counts = {"ok": 0, "bad": 0, "errors": []}
        lock = threading.Lock()

        def client(seed):
            r = random.Random(seed)
            conn = srv.conn(timeout=10)
            while time.time() < stop:
                p = r.choice(prefixes)
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
    spacing = (args.seconds - 3.0) / len(plan)
    for i, (kind, what) in enumerate(plan):
        install(good[what] if kind == "good" else corrupt(what, good["b"], rnd), str(i))
        time.sleep(spacing)
    loader.join()
    print("load ran %.1fs with %s; %d swaps (%d corrupt)" %
          (time.time() - t_start, "wrk" if wrk else "python clients", len(plan), n_bad))

    if wrk:
        text = load_result.get("text", "")
        print(text)
        C.check("Requests/sec" in text, "wrk ran")
        C.check(".lua:" not in text, "the wrk script loaded")
        C.check("Socket errors" not in text, "no socket error under swaps")
        C.check("Non-2xx" not in text, "no failed request under swaps")
        total = 0
        for line in text.splitlines():
            if "requests in" in line:
                total = int(line.split()[0])
        C.check(total > 1000, "the load was real (%d requests)" % total)
        searched = metric('typeahead_requests_total{endpoint="search",code="200"}') - search0
        C.check(searched >= total, "the load hit /search (%d answered 200)" % searched)
    else:
        counts = load_result["python"]
        print("python load:", counts["ok"], "ok,", counts["bad"], "bad,",
              len(counts["errors"]), "errors")
        C.eq(counts["bad"], 0, "no failed request under swaps")
        C.eq(counts["errors"], [], "no socket error under swaps")
        C.check(counts["ok"] > 1000, "the load was real")

    time.sleep(1.0)
    failed = metric('typeahead_reloads_total{result="failed"}') - failed0
    ok = metric('typeahead_reloads_total{result="ok"}') - ok0
    C.eq(failed, n_bad, "every corrupt file refused and counted")
    C.eq(ok, len(plan) - n_bad, "every good file swapped in")
    C.check("refused" in srv.text(), "refusals logged")
    C.check(wait_version(ver_b), "the last good file is served")
    C.eq(answers(), ans_b, "final answers are those of the last good file")
    C.eq(srv.stop(), 0, "exit status after SIGTERM")
finally:
    srv.finish(C)
shutil.rmtree(work, ignore_errors=True)
C.done("test_swap")
