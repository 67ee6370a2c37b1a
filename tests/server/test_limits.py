#!/usr/bin/python3
"""typeahead-serve under abuse (SPEC §8, "Resource limits hold under abuse"): each attack is
repeated against the real server and must get an answer or a clean close, never a spinning
server or silence with the connection held.

- Descriptors: 200 idle connections against a server whose descriptor limit is 64 (prlimit),
  once with the default connection cap and once with a cap above what the limit allows (so that
  accept() runs out of descriptors): the server's CPU time over 2 s stays low, its log does not
  explode, a new client gets an answer, and once the idle connections close it is served.
- Slowloris: a header block trickled a byte at a time, a body trickled, a connection that sends
  nothing: each is cut (408) within --header-timeout (2 s here) plus the sweep's second; a
  keep-alive connection idle between requests is not.
- Bodies: a PUT over the body limit gets 413 before its body is sent; Expect: 100-continue with
  a wrong or missing token gets 401 and no 100 Continue; with the right token, 100 Continue and
  then the answer.
- Pipelining: a client that sends requests without reading the answers is read no further
  than a little ahead (the kernel's buffers hold the rest), and its answers come once it reads.
- Malformed requests: each gets its status and the connection is closed (both Content-Length
  and Transfer-Encoding: 400 and the bytes after are not run as a second request).

usage: test_limits.py --serve PATH --build PATH [unittest arguments]
"""
import os
import re
import resource
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (Server, ServerCase, build_trie, make_freq, recv_while,  # noqa: E402
                        server_args)

ARGS = None
WORK = TRIE = TOKEN_FILE = FILTERS = None
TOKEN = "limits-token"


def setUpModule():
    global WORK, TRIE, TOKEN_FILE, FILTERS
    WORK = tempfile.mkdtemp(prefix="ta-limits-test-")
    freq = os.path.join(WORK, "freq.tsv")
    TRIE = os.path.join(WORK, "current.trie")
    make_freq(freq, n=300)
    build_trie(ARGS.build, freq, TRIE, k=10)
    TOKEN_FILE = os.path.join(WORK, "token")
    with open(TOKEN_FILE, "w") as f:
        f.write(TOKEN + "\n")
    FILTERS = os.path.join(WORK, "rules.txt")
    with open(FILTERS, "w") as f:
        f.write("word:zzyzx\n")
    # 200 client sockets and more: the test itself needs descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))


def tearDownModule():
    shutil.rmtree(WORK, ignore_errors=True)


def cpu_seconds(pid):
    """User + system CPU time of process pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_some(s, timeout):
    """What s receives within timeout seconds, and whether the peer closed (or reset) it."""
    end = time.time() + timeout
    got = b""
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            return got, False
        except ConnectionResetError:
            return got, True
        if not d:
            return got, True
        got += d
    return got, False


def exchange(port, data, wait=5.0, chunks=None):
    """Sends data, then each of chunks ([(bytes, seconds to wait before)]) while the server
    keeps the connection, then reads until the server closes it or wait seconds pass. Returns
    (bytes received, closed by the server, seconds from the connect to the close)."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.time()
    out, closed = b"", False
    try:
        if data:
            s.sendall(data)
        for piece, pause in chunks or ():
            got, closed = read_some(s, pause)
            out += got
            if closed:
                break
            try:
                s.sendall(piece)
            except OSError:
                closed = True
                break
        if not closed:
            got, closed = read_some(s, wait)
            out += got
    finally:
        s.close()
    return out, closed, time.time() - t0


def status_of(data):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(m.group(1)) if m else None


def count_lines(text):
    return text.count("\n")


class Malformed(ServerCase):
    """One server with an admin token and a rules file: every malformed request its status."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE,
                            ["--admin-token-file", TOKEN_FILE, "--filters", FILTERS])

    def answered_and_closed(self, req, status, what):
        out, closed, _ = exchange(self.srv.port, req, wait=5)
        self.assertEqual(status_of(out), status, "%s: status (got %r)" % (what, out[:80]))
        self.assertTrue(closed, "%s: the connection is closed after the answer" % what)
        self.assertIn(b"\r\nConnection: close\r\n", out, "%s: says Connection: close" % what)
        self.assertEqual(self.srv.get("/healthz")[0], 200, "server answers after " + what)
        return out

    def test_malformed_requests(self):
        get = b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
        cases = [
            (b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400,
             "Content-Length -1"),
            (get + b"Content-Length: abc\r\n\r\n", 400, "Content-Length abc"),
            (get + b"Content-Length: 73786976294838206464\r\n\r\n", 400, "Content-Length 2^66"),
            (get + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
             "two Content-Length values"),
            (get + b"NoColonHere\r\n\r\n", 400, "a header line without a colon"),
            (get + b"X-A: one\r\n two\r\n\r\n", 400, "obsolete line folding"),
            (get + b"X-A: one\r\n\ttwo\r\n\r\n", 400, "obsolete line folding (tab)"),
            (b"GET /healthz HTTP/1.1\nHost: t\n\n", 400, "bare LF line ends"),
            (get + b"X-A: b\n\r\n", 400, "a bare LF on a header line"),
            (b"GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n", 505, "HTTP/1.2"),
            (b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP/2.0"),
            (b"GET /healthz HTTP/0.9\r\n\r\n", 505, "HTTP/0.9"),
            (b"PUT /admin/filters HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n", 411, "a chunked body"),
            (get + b"Expect: 200-ok\r\n\r\n", 417, "an unknown expectation"),
            # libevhtp's port hook fails a port over 65535 and drops the request unanswered
            (b"GET http://h:65536/healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400,
             "an absolute URI with port 65536"),
            (b"GET https://h:99999999999999999999/healthz HTTP/1.1\r\n\r\n", 400,
             "an absolute URI with a 20-digit port"),
        ]
        for req, status, what in cases:
            with self.subTest(what=what):
                self.answered_and_closed(req, status, what)

    def test_host_required(self):
        # RFC 9112 §3.2: 400 to an HTTP/1.1 request without Host, to any with several, and to
        # a Host that is not host[:port] (an HTTP/1.1 request without Host was answered 200)
        srv = self.srv
        metric = "typeahead_requests_total{endpoint=\"other\",code=\"400\"}"
        before = (srv.metric(metric) or 0, srv.metric("typeahead_gate_rejects_total"))
        cases = [
            (b"GET /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host"),
            (b"GET /search?q=a HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
             "HTTP/1.1 /search without Host"),
            (b"GET http://h/healthz HTTP/1.1\r\n\r\n", "absolute form without Host"),
            (b"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", "two Host headers"),
            (b"GET /healthz HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", "two Host headers, 1.0"),
            (b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "a Host with a space"),
            (b"GET /healthz HTTP/1.1\r\nHost: u@h:80\r\n\r\n", "a Host with userinfo"),
            (b"OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS * without Host"),
        ]
        for req, what in cases:
            with self.subTest(what=what):
                out = self.answered_and_closed(req, 400, what)
                self.assertRegex(out, rb"\r\nContent-Type: application/json; charset=utf-8\r\n"
                                 rb"(.|\r\n)*\r\n\r\n\{\"error\":\"[^\"]*Host", what + ": JSON error")
        after = (srv.metric(metric), srv.metric("typeahead_gate_rejects_total"))
        self.assertEqual((after[0] - before[0], after[1] - before[1]), (len(cases), len(cases)),
                         "each refusal counted as a 400 and a gate reject")
        out, _, _ = exchange(srv.port, b"GET /healthz HTTP/1.0\r\n\r\n", wait=5)
        self.assertTrue(out.startswith(b"HTTP/1.0 200 "), "HTTP/1.0 may omit Host: %r" % out[:60])
        out, _, _ = exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n"
                             b"Connection: close\r\n\r\n", wait=5)
        self.assertEqual(status_of(out), 200, "Host: [::1]:8080 (got %r)" % out[:60])

    def test_empty_lines_before_a_request(self):
        # Allowed before a request line (RFC 9112 §2.2); libevhtp's parser alone takes one byte
        # of them per wake-up and then stalls: silence.
        out, closed, _ = exchange(self.srv.port, b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n"
                                  b"Connection: close\r\n\r\n", wait=5)
        self.assertEqual(status_of(out), 200, "empty lines, then a request: 200 (got %r)" % out[:60])

    def test_options_star(self):
        out = self.answered_and_closed(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 204, "OPTIONS *")
        self.assertRegex(out, rb"\r\nAllow: GET, HEAD, OPTIONS, POST, PUT\r\n", "OPTIONS * Allow")
        self.assertNotIn(b"content-length", out.lower(), "none in a 204 (RFC 9110 8.6)")

    def test_smuggling(self):
        # Content-Length says the body is "0\r\n\r\n"; chunked would end there and run the GET
        # that follows as a second request. Neither: 400, closed, one answer only.
        req = (b"POST /search HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        out = self.answered_and_closed(req, 400, "Content-Length with Transfer-Encoding")
        self.assertEqual(out.count(b"HTTP/1.1 "), 1, "no second request run: %r" % out)

    def test_oversized_put(self):
        # The head only: the answer must come before (without) the body.
        head = (b"PUT /admin/filters HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                b"Content-Length: %d\r\n\r\n" % (TOKEN.encode(), 2 << 20))
        out, closed, secs = exchange(self.srv.port, head, wait=5)
        self.assertEqual(status_of(out), 413, "a 2 MB PUT gets 413 (got %r)" % out[:80])
        self.assertTrue(closed and secs < 4, "413 before the body, then closed (%.1f s)" % secs)
        self.assertEqual(self.srv.get("/healthz")[0], 200, "server answers after a 413")

    def test_expect_continue_token_first(self):
        body = b"word:zzyzx\n"
        for auth, what in ((b"Authorization: Bearer wrong\r\n", "a wrong token"),
                           (b"", "no token")):
            with self.subTest(what=what):
                head = (b"PUT /admin/filters HTTP/1.1\r\nHost: t\r\n" + auth +
                        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
                out, closed, _ = exchange(self.srv.port, head, wait=4)
                self.assertEqual(status_of(out), 401, "%s: 401 (got %r)" % (what, out[:80]))
                self.assertNotIn(b"100 Continue", out, "%s: no 100 Continue" % what)
                self.assertTrue(closed, "%s: closed without reading the body" % what)
        # The right token: 100 Continue, then the body, then the answer.
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.settimeout(5)
        s.sendall(b"PUT /admin/filters HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                  TOKEN.encode() + b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"),
                        "the right token: 100 Continue first (got %r)" % first[:60])
        s.sendall(body)
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b"}" not in rest:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        s.close()
        self.assertEqual(status_of(rest), 200, "then the PUT is answered (%r)" % rest[:80])


class Slowloris(ServerCase):
    """A server with --header-timeout 2: trickled requests are cut within the deadline."""

    TIMEOUT = 2
    BOUND = 2 + 1 + 1.5  # the deadline, the sweep's period, slack for a loaded machine

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE, ["--header-timeout", str(cls.TIMEOUT)])

    def cut_in_time(self, data, chunks, what):
        out, closed, secs = exchange(self.srv.port, data, wait=10, chunks=chunks)
        self.assertTrue(closed, "%s: the server closes the connection (%.1f s)" % (what, secs))
        self.assertLess(secs, self.BOUND, "%s: cut within the deadline" % what)
        self.assertGreaterEqual(secs, self.TIMEOUT - 0.2, "%s: not before the deadline" % what)
        self.assertEqual(status_of(out), 408, "%s: answered 408 (got %r)" % (what, out[:60]))

    def test_trickled_header(self):
        # One byte every 0.4 s for up to 12 s: each byte restarts the idle timeout.
        chunks = [(b"X", 0.4)] * 30
        self.cut_in_time(b"GET /search?q=a HTTP/1.1\r\nX-Slow: ", chunks, "trickled header")

    def test_trickled_body(self):
        chunks = [(b"a", 0.4)] * 30
        self.cut_in_time(b"POST /search HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n", chunks,
                         "trickled body")

    def test_silent_connection(self):
        out, closed, secs = exchange(self.srv.port, b"", wait=10)
        self.assertTrue(closed and self.TIMEOUT - 0.2 <= secs < self.BOUND,
                        "a connection that sends nothing is cut in time (%.1f s)" % secs)
        self.assertEqual(status_of(out), 408, "silent connection: 408 (got %r)" % out[:60])

    def test_idle_keepalive_is_not_cut(self):
        c = self.srv.conn()
        self.assertEqual(self.srv.get("/healthz", conn=c)[0], 200)
        time.sleep(self.TIMEOUT + 1.5)  # between requests the idle timeout (60 s) applies
        self.assertEqual(self.srv.get("/healthz", conn=c)[0], 200,
                         "a keep-alive connection idle past the header deadline still serves")
        c.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([line for line in f if line.startswith("VmRSS:")][0].split()[1])


class Pipelining(ServerCase):
    """A client that pipelines requests and reads none of the answers."""

    @classmethod
    def setUpClass(cls):
        cls.srv = cls.serve("server", ARGS.serve, TRIE, ["--threads", "1"])

    def test_client_that_does_not_read(self):
        req = b"GET /search?q=new&k=10 HTTP/1.1\r\nHost: t\r\n\r\n"
        rss0 = rss_kb(self.srv.proc.pid)
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.settimeout(3)
        sent, t0 = 0, time.monotonic()
        try:
            while time.monotonic() - t0 < 5 and sent < 64 << 20:
                s.sendall(req * 1000)
                sent += 1000 * len(req)
        except socket.timeout:
            pass
        grown = rss_kb(self.srv.proc.pid) - rss0
        # the server stops reading: what is sent fills the kernel's buffers, no more (it read
        # gigabytes into its input buffer, gigabytes of memory, before)
        self.assertLess(sent, 64 << 20, "the server stopped reading (%d MB sent)" % (sent >> 20))
        self.assertLess(grown, 64 << 10, "the server's memory grew by %d MB" % (grown >> 10))
        s.settimeout(10)
        out = recv_while(s, lambda out: out.count(b"HTTP/1.1 ") < 2000)
        s.close()
        self.assertGreaterEqual(out.count(b"HTTP/1.1 200 OK"), 2000,
                                "the answers come once the client reads")
        self.assertEqual(out.count(b"HTTP/1.1 "), out.count(b"HTTP/1.1 200 OK"))
        self.assertEqual(self.srv.get("/search?q=new")[0], 200, "and the server serves others")


class Descriptors(unittest.TestCase):
    """200 idle connections against a server limited to 64 descriptors (prlimit)."""

    N = 200

    def flood(self, args, what):
        srv = Server(ARGS.serve, TRIE, args,
                     wrapper=["prlimit", "--nofile=64:64"])
        socks = []
        try:
            for _ in range(self.N):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", srv.port))
                socks.append(s)
            time.sleep(1.0)
            cpu0, log0 = cpu_seconds(srv.proc.pid), count_lines(srv.text())
            time.sleep(2.0)
            cpu = cpu_seconds(srv.proc.pid) - cpu0
            lines = count_lines(srv.text()) - log0
            self.assertLess(cpu, 0.5, "%s: CPU time over 2 s with %d idle connections: %.2f s"
                            % (what, self.N, cpu))
            self.assertLess(lines, 20, "%s: log lines over 2 s: %d" % (what, lines))
            self.assertIsNone(srv.proc.poll(), "%s: the server runs" % what)
            return srv, socks
        except BaseException:
            for s in socks:
                s.close()
            print("---- %s log ----\n%s" % (what, srv.text()[-3000:]), flush=True)
            srv.kill()
            raise

    def served_after_close(self, srv, socks, what):
        for s in socks:
            s.close()
        end = time.time() + 8
        st = None
        while time.time() < end:
            try:
                st = srv.get("/healthz")[0]
            except OSError:
                st = None
            if st == 200:
                break
            time.sleep(0.2)
        self.assertEqual(st, 200, "%s: a new client is served once the idle ones close" % what)
        self.assertEqual(srv.stop(), 0, "%s: clean exit" % what)

    def test_connection_cap(self):
        what = "default cap"
        srv, socks = self.flood([], what)
        try:
            m = re.search(r"descriptor limit 64: at most (\d+) connections", srv.text())
            self.assertTrue(m, "the start line says the limit and the cap:\n" + srv.text())
            cap = int(m.group(1))
            self.assertLess(cap, 64, "the default cap leaves descriptors to spare")
            # Over the cap a new client is answered at once (503), not left waiting.
            out, closed, secs = exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                                         wait=5)
            self.assertEqual(status_of(out), 503, "over the cap: 503 (got %r)" % out[:60])
            self.assertTrue(closed and secs < 3, "over the cap: answered and closed at once")
            self.assertIn("--max-connections", srv.text(), "the log says why")
            self.served_after_close(srv, socks, what)
        finally:
            srv.kill()

    def test_out_of_descriptors(self):
        what = "out of descriptors"
        srv, socks = self.flood(["--max-connections", "1000"], what)
        try:
            self.assertRegex(srv.text(), r"accept: .*: accepting paused for \d+ ms",
                             "the log says accepting is paused")
            self.served_after_close(srv, socks, what)
        finally:
            srv.kill()


if __name__ == "__main__":
    ARGS, rest = server_args().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
