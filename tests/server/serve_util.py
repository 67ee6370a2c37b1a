"""Shared helpers of the typeahead-serve integration tests (Python 3 standard library only).

- make_freq / build_trie: a generated frequency list (ASCII, accents, CJK, ties) and its trie,
  built by the real typeahead-build;
- Server: runs the real typeahead-serve on a free port (--listen 127.0.0.1:0, port read from its
  "listening on" log line), optionally under a wrapper such as valgrind;
- get / raw: one HTTP request with http.client, or raw bytes over a socket; wait_for: a
  condition polled until it holds or a deadline passes;
- msgpack_decode: a small msgpack decoder, enough for the answers of /search;
- ServerCase: a unittest.TestCase that runs servers for its tests and prints the end of their
  logs when a test fails; server_args: the command line of the server tests.
"""
import http.client
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bin_args  # noqa: E402  (tests/bin_args.py)

WORDS = ("new york times weather news map maps car cars cat cats dog dogs game games free "
         "online music video movie movies how to make best cheap hotel hotels flight flights "
         "recipe recipes chicken pasta python java script school schools bank banks pizza near "
         "me song songs lyrics book books store stores shoe shoes red blue green black white "
         "san diego francisco jose austin texas paris london berlin tokyo").split()
UNICODE = ["Café de Flore", "café crème", "CAFE noir", "münchen hauptbahnhof", "Müller",
           "straße", "Straße nach Rom", "北京", "北京大学", "東京タワー", "naïve art", "crème brûlée",
           "São Paulo", "smörgåsbord", "Ωmega", "ﬁnance", "Ａｍａｚｏｎ", "tab\there", "x  y   z"]


def random_queries(rnd, n):
    """n distinct queries of one to four WORDS, drawn with rnd (a random.Random)."""
    seen = set()
    queries = []
    while len(queries) < n:
        q = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 4)))
        if q not in seen:
            seen.add(q)
            queries.append(q)
    return queries


def zipf_count(i):
    """The count of the i-th query of a generated list: Zipf-like with many ties (binned), as
    real lists have."""
    return max(1, int(100000 / (1 + i % 997)) // 10 * 10)


def make_freq(path, n=3000, seed=7):
    """Writes query<TAB>count lines; returns the list of queries written."""
    queries = random_queries(random.Random(seed), n) + UNICODE
    with open(path, "w", encoding="utf-8") as f:
        for i, q in enumerate(queries):
            f.write("%s\t%d\n" % (q.replace("\t", " "), zipf_count(i)))
    return queries


def build_trie(build_bin, freq, out, k=10):
    subprocess.run([build_bin, "--freq", freq, "--out", out, "--k", str(k)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def prefixes_of(queries, n, seed=11):
    """Prefixes as users type them: a random query cut at a random character."""
    rnd = random.Random(seed)
    out = ["", " ", "n", "NE", "new y", "Café", "cafe", "CAFÉ", "北", "ß", "x  y", "zzzz"]
    while len(out) < n:
        q = rnd.choice(queries)
        out.append(q[:rnd.randint(1, len(q))])
    return out


class Server:
    def __init__(self, serve_bin, trie, args=(), wrapper=(), env=None, startup=30.0):
        self.log_path = tempfile.mktemp(prefix="serve-", suffix=".log")
        self.log = open(self.log_path, "wb")
        where = ["--trie", trie] if trie is not None else []  # None: args name the tries
        cmd = list(wrapper) + [serve_bin] + where + ["--listen", "127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.port = None
        deadline = time.time() + startup
        while time.time() < deadline:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            raise RuntimeError("server did not start:\n" + self.text())

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status (the server must drain and exit 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("server did not exit within %ss of SIGTERM" % timeout)
        self.log.close()
        return rc

    def kill(self):
        """For tearDownClass: kills the server if it still runs (a test that stops it checks
        its exit status)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path, headers=None, method="GET", body=None, conn=None):
        """Returns (status, headers dict lower-cased, body bytes)."""
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hdrs, data

    def raw(self, data, wait=5.0, until_close=True, expect=None):
        """Sends raw bytes, returns what came back (until close, timeout, or `expect` replies)."""
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(wait)
        s.sendall(data)
        out = recv_while(s, lambda out: expect is None or count_responses(out) < expect)
        s.close()
        return out

    def metric(self, name):
        """The value of the /metrics line `name value` (a float), None when there is none."""
        for line in self.get("/metrics")[2].decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None


def wait_for(pred, secs):
    """True once pred() holds, polled every 50 ms for at most secs seconds."""
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def recv_while(s, more, size=65536):
    """What s receives while more(what it received so far) holds, until the peer closes or the
    socket times out."""
    out = bytearray()
    try:
        while more(out):
            d = s.recv(size)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    return bytes(out)


def recv_until_close(s):
    """Everything s receives until the peer closes."""
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d


def count_responses(data):
    """Number of complete HTTP/1.1 responses (with Content-Length bodies) in data."""
    n, i = 0, 0
    while True:
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            return n
        head = data[i:end].decode("latin-1")
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        if head.startswith("HTTP/1.1 304") or head.startswith("HTTP/1.1 204") or \
                " HEAD " in head:
            length = 0
        if len(data) < end + 4 + length:
            return n
        n += 1
        i = end + 4 + length


def split_responses(data, head_requests=()):
    """[(status, headers, body)] of the responses in data; HEAD answers have no body."""
    out, i, idx = [], 0, 0
    while i < len(data):
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            break
        head = data[i:end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        length = int(hdrs.get("content-length", "0"))
        if idx in head_requests or status in (204, 304):
            length = 0
        out.append((status, hdrs, data[end + 4:end + 4 + length]))
        i = end + 4 + length
        idx += 1
    return out


def msgpack_decode(b):
    """Decodes one msgpack value (the subset the server writes, and a bit more)."""
    v, i = _mp(b, 0)
    if i != len(b):
        raise ValueError("trailing bytes after msgpack value")
    return v


def _mp(b, i):
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 0x100, i
    if 0x80 <= t <= 0x8f:
        return _mp_map(b, i, t & 0x0f)
    if 0x90 <= t <= 0x9f:
        return _mp_arr(b, i, t & 0x0f)
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i:i + n].decode("utf-8"), i + n
    fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h",
             0xd2: ">i", 0xd3: ">q", 0xca: ">f", 0xcb: ">d"}
    if t in fixed:
        n = struct.calcsize(fixed[t])
        return struct.unpack(fixed[t], b[i:i + n])[0], i + n
    if t in (0xd9, 0xda, 0xdb):
        fmt = {0xd9: ">B", 0xda: ">H", 0xdb: ">I"}[t]
        n0 = struct.calcsize(fmt)
        n = struct.unpack(fmt, b[i:i + n0])[0]
        i += n0
        return b[i:i + n].decode("utf-8"), i + n
    if t in (0xdc, 0xdd):
        fmt = ">H" if t == 0xdc else ">I"
        n0 = struct.calcsize(fmt)
        return _mp_arr(b, i + n0, struct.unpack(fmt, b[i:i + n0])[0])
    if t in (0xde, 0xdf):
        fmt = ">H" if t == 0xde else ">I"
        n0 = struct.calcsize(fmt)
        return _mp_map(b, i + n0, struct.unpack(fmt, b[i:i + n0])[0])
    if t == 0xc0:
        return None, i
    if t in (0xc2, 0xc3):
        return t == 0xc3, i
    raise ValueError("msgpack type 0x%02x not supported" % t)


def _mp_arr(b, i, n):
    out = []
    for _ in range(n):
        v, i = _mp(b, i)
        out.append(v)
    return out, i


def _mp_map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = _mp(b, i)
        v, i = _mp(b, i)
        out[k] = v
    return out, i


class ServerCase(unittest.TestCase):
    """A TestCase against running servers, started by serve() (in setUpClass) and killed by
    tearDownClass if still running: when one of its tests fails, the end of the log of every
    server in servers ({name: (Server, characters)}) is printed."""

    servers = {}

    @classmethod
    def serve(cls, name, *args, tail=4000, **kwargs):
        """Server(*args, **kwargs), for the tests of this class; `tail`: how much of its log a
        failure prints."""
        srv = Server(*args, **kwargs)
        cls.servers = dict(cls.servers, **{name: (srv, tail)})
        return srv

    @classmethod
    def tearDownClass(cls):
        for srv, _ in cls.servers.values():
            srv.kill()

    def run(self, result=None):
        bad = len(result.failures) + len(result.errors) if result is not None else 0
        result = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > bad:
            for name, (srv, tail) in self.servers.items():
                print("---- %s log ----\n" % name + srv.text()[-tail:], flush=True)
        return result


def server_args(query_required=False):
    """The parser of what tests/server/CMakeLists.txt passes to every server test: --serve,
    --build and --query (typeahead-query, when it is built). Add the script's own options, then
    parse_known_args: the rest is unittest's."""
    if query_required:
        return bin_args.parser("serve", "build", "query")
    return bin_args.parser("serve", "build", optional=("query",))
