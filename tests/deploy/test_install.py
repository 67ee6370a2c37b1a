#!/usr/bin/python3
"""make install and make deb (SPEC §14), checked as an operator would.

- Install tree: `cmake --install` into a DESTDIR puts every file where cmake/TaInstall.cmake
  says, with sane modes; the units name the prefix's tools, read /etc/default/typeahead, are
  sandboxed, and pass `systemd-analyze verify`; an edited /etc/default/typeahead survives a
  second install; every half-life default says 4 (SPEC §5); each man page has NAME, a SYNOPSIS
  of the usage forms of the tool's --help, and DESCRIPTION.
- Tools: every tool's --version prints the project version and the trie format; its --help
  exits 0 and names every option its parser accepts (and the server's every endpoint).
- Package: deploy/make-deb's .deb holds the same files (dpkg-deb -c), owned by root, with the
  conffile and maintainer scripts that create the typeahead user and purge its data
  (dpkg-deb -e); lintian reports no error.
- As root with dpkg usable: the package installed (dpkg -i); the installed nightly job, run as
  the unit runs it (its ExecStart, its environment and /etc/default/typeahead) as the typeahead
  user, builds a trie from data/sample.log; the installed server, run the same way, answers
  /search over HTTP; then dpkg --purge removes the files and the data. The test purges the
  package (and removes a typeahead user it created) even when it fails.

Usage: test_install.py --source SRC --build-dir BUILD [unittest args]
"""
import grp
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bin_args  # noqa: E402  (tests/bin_args.py)

ARGS = None
TOOLS = ("typeahead-aggregate", "typeahead-build", "typeahead-query", "typeahead-serve")
# Each tool's option parser (its main file, or build_args.c): its options are read from it.
MAINS = {"typeahead-aggregate": "builder/agg/aggregate_main.c",
         "typeahead-build": "builder/bld/build_args.c",
         "typeahead-query": "trie/query_main.c",
         "typeahead-serve": "server/serve_main.c"}
UNITS = ("typeahead.service", "typeahead-nightly.service", "typeahead-nightly.timer",
         "typeahead-trending.service", "typeahead-trending.timer")
SANDBOX = ("ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes", "PrivateTmp=yes",
           "PrivateDevices=yes", "RestrictAddressFamilies=", "CapabilityBoundingSet=",
           "ReadWritePaths=")


def run(*cmd, env=None, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                     p.stderr))
    return p


def project_version():
    with open(os.path.join(ARGS.source, "CMakeLists.txt")) as f:
        return re.search(r"project\(typeahead VERSION ([0-9.]+)", f.read()).group(1)


def install_tree(dest, prefix, env_extra=None):
    env = dict(os.environ, DESTDIR=dest)
    env.pop("UNITDIR", None)
    env.update(env_extra or {})
    return run("cmake", "--install", ARGS.build_dir, "--prefix", prefix, env=env)


def unit_settings(text):
    """(key, value) of every setting line of a unit file, in order."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def usage_forms(helptext):
    """The usage forms of a tool's --help, each joined into one line: the block from "usage:"
    to the first empty line, where a line whose first word is the program starts a form and
    any other line continues the one before."""
    block = helptext.split("\n\n", 1)[0].split("\n")
    prog = block[0].split()[1]
    forms = []
    for line in block:
        words = line.split()
        if words[0] == "usage:":
            words = words[1:]
        if words[0] == prog:
            forms.append([])
        forms[-1] += words
    return [" ".join(f) for f in forms]


def man_sections(page):
    """{SECTION: its text} of a man page, the text with the font changes, line breaks and
    escapes of help2man's roff taken out (".B x" is x, "\\-" a dash, ".br" a new line)."""
    out, name = {}, None
    for line in page.split("\n"):
        m = re.match(r"\.SH (.*)", line)
        if m:
            name = m.group(1).strip('"')
            out[name] = ""
            continue
        if name is None or line.startswith('.\\"'):
            continue
        if line == ".br" or re.match(r"\.(PP|IP|TP)$", line):
            out[name] += "\n"
            continue
        line = re.sub(r"^\.[BI] ", "", line)
        line = re.sub(r"\\f[BIRP]|\\[,/&]", "", line).replace("\\-", "-")
        out[name] += line + " "
    return out


class InstallTree(unittest.TestCase):
    """cmake --install --prefix /usr/local into a DESTDIR (what make install does)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta-install-")
        cls.root = os.path.join(cls.tmp, "root")
        install_tree(cls.root, "/usr/local")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def read(self, p):
        with open(self.path(p)) as f:
            return f.read()

    def test_files_where_expected_with_sane_modes(self):
        want = {"/usr/local/bin/" + t: 0o755 for t in TOOLS}
        want.update({"/usr/local/share/man/man1/%s.1" % t: 0o644 for t in TOOLS})
        want.update({"/usr/local/lib/systemd/system/" + u: 0o644 for u in UNITS})
        want.update({"/usr/local/lib/typeahead/typeahead-nightly": 0o755,
                     "/usr/local/lib/typeahead/typeahead-trending": 0o755,
                     "/usr/local/lib/sysusers.d/typeahead.conf": 0o644,
                     "/usr/local/lib/tmpfiles.d/typeahead.conf": 0o644,
                     "/etc/default/typeahead": 0o644})
        for p, m in sorted(want.items()):
            with self.subTest(path=p):
                self.assertTrue(os.path.isfile(self.path(p)), p + " not installed")
                self.assertEqual(oct(mode(self.path(p))), oct(m), p)
        for d in ("/var/lib/typeahead", "/var/spool/typeahead"):
            self.assertTrue(os.path.isdir(self.path(d)), d)
            self.assertFalse(mode(self.path(d)) & 0o002, d + " is world-writable")
        # Nothing else: every installed file is one of the above.
        found = set()
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                found.add("/" + os.path.relpath(os.path.join(dirpath, f), self.root))
        self.assertEqual(found, set(want))

    def test_man_pages_are_the_tools_help(self):
        for t in TOOLS:
            page = self.read("/usr/local/share/man/man1/%s.1" % t)
            self.assertIn(".SH NAME", page)
            self.assertIn(t, page)
            self.assertIn(project_version(), page, t + ": man page without the version")
            self.assertIn("\\-\\-help", page, t + ": man page without the options")

    def test_man_pages_synopsis_is_the_usage(self):
        # help2man reads a SYNOPSIS only from "Usage:" and "or:" lines, a form a line; the
        # tools wrap theirs (cmake/ta_man_help.sh joins them). Without that the page had no
        # SYNOPSIS and began its DESCRIPTION with the wrapped lines, garbled.
        for t in TOOLS:
            with self.subTest(tool=t):
                page = self.read("/usr/local/share/man/man1/%s.1" % t)
                sections = man_sections(page)
                self.assertEqual(list(sections)[:3], ["NAME", "SYNOPSIS", "DESCRIPTION"])
                self.assertRegex(sections["NAME"], r"^%s - [a-z]" % re.escape(t))
                helptext = run(self.path("/usr/local/bin/" + t), "--help").stdout
                forms = usage_forms(helptext)
                # Forms only: a note beside one (after a run of spaces) would be synopsis too.
                for line in helptext.split("\n\n", 1)[0].split("\n"):
                    self.assertNotRegex(line.strip(), "   ", "%s: a note in the usage" % t)
                synopsis = [" ".join(f.split()) for f in sections["SYNOPSIS"].split("\n")]
                self.assertEqual(synopsis, forms)
                self.assertIn(t + " --help | --version", forms)
                # DESCRIPTION starts with what --help says after the usage, and holds no form.
                after = helptext.split("\n\n", 1)[1].split("\n")[0]
                self.assertTrue(sections["DESCRIPTION"].startswith(after),
                                "%s: DESCRIPTION starts %r" % (t, sections["DESCRIPTION"][:80]))
                self.assertNotIn("usage:", sections["DESCRIPTION"])
                for f in forms:
                    self.assertNotIn(f, " ".join(sections["DESCRIPTION"].split()))

    def test_units_name_the_prefix_and_read_the_config(self):
        for u in UNITS:
            text = self.read("/usr/local/lib/systemd/system/" + u)
            self.assertNotRegex(text, r"@[A-Z]+@", u + ": a placeholder left")
        serve = dict(unit_settings(self.read("/usr/local/lib/systemd/system/typeahead.service")))
        self.assertTrue(serve["ExecStart"].startswith("/usr/local/bin/typeahead-serve "))
        nightly_text = self.read("/usr/local/lib/systemd/system/typeahead-nightly.service")
        nightly = dict(unit_settings(nightly_text))
        self.assertTrue(nightly["ExecStart"].startswith(
            "/usr/local/lib/typeahead/typeahead-nightly "))
        self.assertIn("Environment=TA_BIN=/usr/local/bin", nightly_text)
        for name, unit in (("typeahead.service", serve), ("typeahead-nightly.service", nightly)):
            with self.subTest(unit=name):
                self.assertEqual(unit["EnvironmentFile"], "-/etc/default/typeahead")
                self.assertEqual(unit["User"], "typeahead")
                for opt in SANDBOX:
                    k, v = opt.split("=", 1)
                    self.assertIn(k, unit, "%s: no %s" % (name, k))
                    if v:
                        self.assertEqual(unit[k], v, name)
        self.assertEqual(serve["ReadWritePaths"], "/var/lib/typeahead")
        self.assertEqual(nightly["ReadWritePaths"], "/var/lib/typeahead /var/spool/typeahead "
                         "-/var/lib/prometheus/node-exporter")
        # Both units serve and write the same trie by default.
        self.assertIn("Environment=TA_TRIE=/var/lib/typeahead/current.trie",
                      self.read("/usr/local/lib/systemd/system/typeahead.service"))
        self.assertIn("Environment=TA_TRIE=/var/lib/typeahead/current.trie", nightly_text)
        timer = dict(unit_settings(self.read("/usr/local/lib/systemd/system/"
                                             "typeahead-nightly.timer")))
        self.assertEqual(timer["Unit"], "typeahead-nightly.service")

    def test_units_pass_systemd_analyze_verify(self):
        if shutil.which("systemd-analyze") is None:
            self.fail("systemd-analyze missing (Debian's systemd package)")
        # verify checks that ExecStart's binaries exist: it runs on a copy whose units name the
        # installed tree's binaries.
        unitdir = os.path.join(self.tmp, "verify")
        os.makedirs(unitdir, exist_ok=True)
        paths = []
        for u in UNITS:
            text = self.read("/usr/local/lib/systemd/system/" + u)
            text = text.replace("/usr/local/", self.root + "/usr/local/")
            text = text.replace("EnvironmentFile=-/etc/", "EnvironmentFile=-%s/etc/" % self.root)
            p = os.path.join(unitdir, u)
            with open(p, "w") as f:
                f.write(text)
            paths.append(p)
        p = run("systemd-analyze", "verify", "--man=no", *paths, check=False)
        # In a container without systemd as PID 1 verify still parses every unit; what it
        # prints about the missing system manager is not about our files.
        problems = [line for line in (p.stdout + p.stderr).splitlines()
                    if unitdir in line or "typeahead" in line]
        self.assertEqual(problems, [], "systemd-analyze verify:\n" + p.stdout + p.stderr)
        # The sandbox as systemd scores it (0 safest, 10 unprotected; --threshold counts in
        # tenths): at most 2.0 each (1.3 for the server and 0.7 for the nightly job when this
        # was written).
        for u in ("typeahead.service", "typeahead-nightly.service", "typeahead-trending.service"):
            p = run("systemd-analyze", "security", "--offline=yes", "--threshold=20",
                    os.path.join(unitdir, u), check=False)
            self.assertEqual(p.returncode, 0, "%s: exposure over 2.0:\n%s" % (u, p.stdout))

    def test_the_units_syscall_filters_allow_what_the_programs_call(self):
        # Every system call the server makes (start, each endpoint, a reload by file replace
        # and by SIGHUP, the drain on SIGTERM) and the nightly job makes (bash, the tools) under
        # strace must pass its unit's SystemCallFilter=, or systemd would fail it with EPERM.
        if shutil.which("strace") is None:
            self.fail("strace missing (deploy/install-deps test installs it)")
        work = os.path.join(self.tmp, "strace")
        os.makedirs(os.path.join(work, "spool"))
        shutil.copy(os.path.join(ARGS.source, "data/sample.log"), os.path.join(work, "spool"))
        shutil.copy(os.path.join(ARGS.source, "data/blocklist.rules"), work)
        with open(os.path.join(work, "token"), "w") as f:
            f.write("sekrit\n")
        bindir = self.path("/usr/local/bin")
        trace = os.path.join(work, "nightly.strace")
        # LeakSanitizer cannot run under ptrace (make test-sanitize builds the tools with it).
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        env = dict(os.environ, TA_BIN=bindir, ASAN_OPTIONS=asan)
        run("strace", "-f", "-qq", "-y", "-o", trace, self.path("/usr/local/lib/typeahead/"
                                                          "typeahead-nightly"),
            os.path.join(work, "spool"), os.path.join(work, "tables"),
            os.path.join(work, "current.trie"), env=env)
        self.assert_allowed("typeahead-nightly.service", trace)
        # ProtectSystem=strict: it writes only where ReadWritePaths= lets it (work/ stands for
        # /var/lib/typeahead and the spool), its private /tmp and /dev/null.
        self.assert_writes_within(trace, [work, tempfile.gettempdir() + "/typeahead-nightly.",
                                          "/dev/null"])

        trace = os.path.join(work, "serve.strace")
        port = free_port()
        srv = subprocess.Popen(
            ["strace", "-f", "-qq", "-y", "-o", trace, os.path.join(bindir, "typeahead-serve"),
             "--trie", os.path.join(work, "current.trie"), "--listen", "127.0.0.1:%d" % port,
             "--threads", "2", "--filters", os.path.join(work, "blocklist.rules"),
             "--admin-token-file", os.path.join(work, "token")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.addCleanup(stop_direct, srv)
        self.assertEqual(wait_http(port, "/healthz", srv)[0], 200)
        for path in ("/search?q=os", "/metrics", "/", "/nope"):
            http_get(port, path)
        auth = {"Authorization": "Bearer sekrit"}
        self.assertEqual(http_req(port, "POST", "/admin/reload", headers=auth)[0], 200)
        self.assertEqual(http_req(port, "PUT", "/admin/filters", b"word:oslo\n", auth)[0], 200)
        shutil.copy(os.path.join(work, "current.trie"), os.path.join(work, "new.trie"))
        os.rename(os.path.join(work, "new.trie"), os.path.join(work, "current.trie"))
        time.sleep(1)
        server = [int(c) for c in run("pgrep", "-P", str(srv.pid)).stdout.split()]
        os.kill(server[0], 1)
        time.sleep(0.5)
        self.assertEqual(http_get(port, "/search?q=os")[0], 200)
        os.kill(server[0], 15)
        self.assertEqual(srv.wait(20), 0)
        self.assert_allowed("typeahead.service", trace)
        self.assert_writes_within(trace, [work])

    def assert_writes_within(self, trace, allowed):
        """Every path trace shows created, opened for writing, renamed, removed or made under
        one of the allowed prefixes."""
        call = re.compile(r"^\d+\s+(open|openat|creat|rename|renameat2?|unlink|unlinkat|mkdir|"
                          r"mkdirat|rmdir|link|linkat|symlink|symlinkat|truncate)\((.*)\) = \d+")
        written = set()
        with open(trace) as f:
            for line in f:
                m = call.match(line)
                if not m or (m.group(1).startswith("open")
                             and not re.search(r"O_WRONLY|O_RDWR|O_CREAT", m.group(2))):
                    continue
                if m.group(1).endswith("at") or m.group(1) == "renameat2":
                    # a name relative to its directory descriptor, whose path strace -y shows:
                    # renameat(4</var/lib/typeahead/tables/.txn>, "ledger", AT_FDCWD</>, ...)
                    paths = [os.path.join(d, p) for d, p in re.findall(
                        r'(?:\d+|AT_FDCWD)(?:<([^>]*)>)?, "([^"]*)"', m.group(2))]
                else:
                    paths = re.findall(r'"([^"]*)"', m.group(2))
                if m.group(1) in ("link", "linkat", "symlink", "symlinkat"):
                    paths = paths[-1:]  # only the new name is made (linkat: /proc/self/fd/N)
                written.update(paths)
        self.assertTrue(written, trace + ": nothing written")
        outside = sorted(p for p in written if not any(
            os.path.abspath(p).startswith(a) for a in allowed))
        self.assertEqual(outside, [], "writes outside " + " ".join(allowed))

    def assert_allowed(self, unit, trace):
        allowed = None
        for k, v in unit_settings(self.read("/usr/local/lib/systemd/system/" + unit)):
            if k != "SystemCallFilter":
                continue
            names = set()
            for n in v.lstrip("~").split():
                names |= syscall_set(n)
            if v.startswith("~"):
                allowed -= names
            else:
                allowed = names if allowed is None else allowed | names
        self.assertIsNotNone(allowed, unit + ": no SystemCallFilter=")
        used = set()
        with open(trace) as f:
            for line in f:
                m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
                if m:
                    used.add(m.group(1))
        self.assertGreater(len(used), 20, trace)
        self.assertEqual(sorted(used - allowed), [], unit + ": calls its filter refuses")

    def test_every_half_life_default_is_4(self):
        envs = [v for k, v in unit_settings(self.read(
            "/usr/local/lib/systemd/system/typeahead-nightly.service")) if k == "Environment"]
        self.assertIn("TA_HALF_LIFE=4", envs)
        self.assertIn("TA_WEEKS=4", envs)
        self.assertIn("#TA_HALF_LIFE=4\n", self.read("/etc/default/typeahead"))
        self.assertIn('TA_HALF_LIFE:-4}', self.read("/usr/local/lib/typeahead/typeahead-nightly"))
        helptext = run(self.path("/usr/local/bin/typeahead-build"), "--help").stdout
        self.assertRegex(helptext, r"--half-life H .*\n.*\(default 4")

    def test_sysusers_and_tmpfiles_make_the_user_and_its_directories(self):
        # What make install runs on the live system as root, here on a copy of the tree.
        root = os.path.join(self.tmp, "sysroot")
        shutil.copytree(self.root, root)
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        for f in ("passwd", "group"):
            shutil.copy("/etc/" + f, os.path.join(root, "etc", f))
        run("systemd-sysusers", "--root=" + root,
            os.path.join(root, "usr/local/lib/sysusers.d/typeahead.conf"))
        with open(os.path.join(root, "etc/passwd")) as f:
            entry = [line for line in f if line.startswith("typeahead:")]
        self.assertEqual(len(entry), 1)
        uid = int(entry[0].split(":")[2])
        self.assertEqual(entry[0].split(":")[5], "/var/lib/typeahead")
        run("systemd-tmpfiles", "--root=" + root, "--create",
            os.path.join(root, "usr/local/lib/tmpfiles.d/typeahead.conf"))
        for d, m in (("var/lib/typeahead", 0o755), ("var/spool/typeahead", 0o775)):
            st = os.stat(os.path.join(root, d))
            self.assertEqual((st.st_uid, oct(stat.S_IMODE(st.st_mode))), (uid, oct(m)), d)

    def test_second_install_keeps_the_operators_config(self):
        cfg = self.path("/etc/default/typeahead")
        with open(cfg) as f:
            shipped = f.read()
        try:
            with open(cfg, "a") as f:
                f.write("TA_LISTEN=0.0.0.0:9999\n")
            install_tree(self.root, "/usr/local")
            with open(cfg) as f:
                self.assertTrue(f.read().endswith("TA_LISTEN=0.0.0.0:9999\n"))
        finally:
            with open(cfg, "w") as f:
                f.write(shipped)

    def test_unitdir_from_the_environment(self):
        other = os.path.join(self.tmp, "other")
        install_tree(other, "/usr", {"UNITDIR": "/lib/systemd/system"})
        for u in UNITS:
            self.assertTrue(os.path.isfile(os.path.join(other, "lib/systemd/system", u)), u)
        with open(os.path.join(other, "lib/systemd/system/typeahead.service")) as f:
            self.assertIn("ExecStart=/usr/bin/typeahead-serve ", f.read())


class Tools(unittest.TestCase):
    """--version and --help of the four tools, as built."""

    def binary(self, tool):
        sub = {"typeahead-query": "trie", "typeahead-serve": "server"}.get(tool, "builder")
        return os.path.join(ARGS.build_dir, sub, tool)

    def test_version(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                p = run(self.binary(t), "--version")
                lines = p.stdout.splitlines()
                self.assertEqual(lines[0], "%s %s" % (t, project_version()))
                self.assertRegex(p.stdout, r"trie format: writes version [0-9]+ "
                                           r"\(min read version [0-9]+\); reads files")
                self.assertRegex(p.stdout, r"normalization: version [0-9]+ ")
                self.assertEqual(p.stderr, "")

    def test_help_explains_every_option(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                p = run(self.binary(t), "--help")
                self.assertEqual(p.returncode, 0)
                self.assertNotIn("%%", p.stdout)
                with open(os.path.join(ARGS.source, MAINS[t])) as f:
                    src = f.read()
                # The options the parser accepts: getopt_long's table or strcmp(arg, "--x").
                opts = set("--" + m for m in re.findall(r'\{"([a-z-]+)",\s*\w+_argument', src))
                opts |= set(re.findall(r'strcmp\(\w+(?:\[\d\])?, "(-{1,2}[a-z][a-z-]*)"\)', src))
                self.assertGreater(len(opts), 3, "no options found in " + MAINS[t])
                for o in sorted(opts):
                    if o == "-h":
                        continue
                    # Explained: on a line of its own with text after it, not only in the
                    # synopsis.
                    self.assertRegex(p.stdout, r"(?m)^\s+%s\b.*\S+" % re.escape(o),
                                     "%s --help does not explain %s" % (t, o))

    def test_serve_help_names_every_endpoint(self):
        out = run(self.binary("typeahead-serve"), "--help").stdout
        for ep in ("GET /search", "GET /healthz", "GET /metrics", "GET /  ", "POST /admin/reload",
                   "GET /admin/filters", "PUT /admin/filters", "SIGHUP"):
            self.assertIn(ep, out)


class Package(unittest.TestCase):
    """deploy/make-deb's package, and (as root) installed, used and purged."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ta-deb-")
        p = run(os.path.join(ARGS.source, "deploy/make-deb"), ARGS.build_dir, cls.tmp)
        cls.deb = p.stdout.strip().splitlines()[-1]
        cls.version = project_version()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_name_fields_and_contents(self):
        self.assertEqual(os.path.basename(self.deb), "typeahead_%s_%s.deb" % (
            self.version, run("dpkg", "--print-architecture").stdout.strip()))
        fields = run("dpkg-deb", "-f", self.deb).stdout
        self.assertIn("Package: typeahead\n", fields)
        self.assertIn("Version: %s\n" % self.version, fields)
        depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
        for dep in ("adduser", "libevhtp0", "libutf8proc", "libc6"):
            self.assertIn(dep, depends)
        listing = {}
        for line in run("dpkg-deb", "-c", self.deb).stdout.splitlines():
            perms, owner, _size, _date, _time, name = line.split(None, 5)
            listing[name.split(" -> ")[0].lstrip(".")] = (perms, owner)
        want = {"/usr/bin/" + t: "-rwxr-xr-x" for t in TOOLS}
        want.update({"/usr/share/man/man1/%s.1.gz" % t: "-rw-r--r--" for t in TOOLS})
        want.update({"/lib/systemd/system/" + u: "-rw-r--r--" for u in UNITS})
        want.update({"/usr/lib/typeahead/typeahead-nightly": "-rwxr-xr-x",
                     "/usr/lib/typeahead/typeahead-trending": "-rwxr-xr-x",
                     "/usr/lib/sysusers.d/typeahead.conf": "-rw-r--r--",
                     "/usr/lib/tmpfiles.d/typeahead.conf": "-rw-r--r--",
                     "/etc/default/typeahead": "-rw-r--r--",
                     "/usr/share/doc/typeahead/copyright": "-rw-r--r--",
                     "/usr/share/doc/typeahead/changelog.gz": "-rw-r--r--",
                     "/var/lib/typeahead/": "drwxr-xr-x",
                     "/var/spool/typeahead/": "drwxr-xr-x"})
        for name, perms in sorted(want.items()):
            with self.subTest(path=name):
                self.assertIn(name, listing)
                self.assertEqual(listing[name], (perms, "root/root"))
        files = {n for n, (p, _) in listing.items() if not p.startswith("d")}
        self.assertEqual(files, {n for n in want if not n.endswith("/")})

    def test_maintainer_scripts(self):
        ctl = os.path.join(self.tmp, "control")
        run("dpkg-deb", "-e", self.deb, ctl)
        self.assertEqual(sorted(os.listdir(ctl)), ["conffiles", "control", "md5sums", "postinst",
                                                   "postrm", "prerm"])
        with open(os.path.join(ctl, "conffiles")) as f:
            self.assertEqual(f.read(), "/etc/default/typeahead\n")
        for s in ("postinst", "postrm", "prerm"):
            path = os.path.join(ctl, s)
            self.assertEqual(mode(path), 0o755, s)
            run("sh", "-n", path)
            with open(path) as f:
                self.assertTrue(f.readline().startswith("#!/bin/sh"), s)
        with open(os.path.join(ctl, "postinst")) as f:
            post = f.read()
        self.assertRegex(post, r"adduser --system --group .*--home /var/lib/typeahead")
        self.assertIn("chown typeahead:typeahead", post)
        with open(os.path.join(ctl, "postrm")) as f:
            postrm = f.read()
        self.assertRegex(postrm, r'"\$1" = purge \]; then(.|\n)*rm -rf /var/lib/typeahead '
                                 r'/var/spool/typeahead')

    def test_lintian_reports_no_error(self):
        if shutil.which("lintian") is None:
            self.fail("lintian missing (deploy/install-deps test installs it)")
        p = run("lintian", "--tag-display-limit", "0", self.deb, check=False)
        errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], p.stdout + p.stderr)

    # ---- installed for real -----------------------------------------------------------------

    def test_installed_runs_as_typeahead_and_purges(self):
        if os.geteuid() != 0:
            self.skipTest("not root: dpkg -i is checked where the suite runs as root (CI)")
        if run("dpkg", "-s", "typeahead", check=False).returncode == 0:
            self.fail("a typeahead package is installed already: not touching it")
        had_user = user_exists("typeahead")
        self.addCleanup(self.remove_user, had_user)
        self.addCleanup(purge_quietly)
        run("dpkg", "-i", self.deb)

        self.assertTrue(user_exists("typeahead"))
        pw = pwd.getpwnam("typeahead")
        self.assertLess(pw.pw_uid, 1000, "not a system user")
        for d, m in (("/var/lib/typeahead", 0o755), ("/var/spool/typeahead", 0o775)):
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))),
                             (pw.pw_uid, pw.pw_gid, oct(m)), d)
        for t in TOOLS:
            self.assertEqual(run("/usr/bin/" + t, "--version").stdout.split("\n")[0],
                             "%s %s" % (t, self.version))

        # The operator's settings: a free port for this test, read by the unit's command line.
        port = free_port()
        with open("/etc/default/typeahead", "a") as f:
            f.write("TA_LISTEN=127.0.0.1:%d\n" % port)

        # The nightly job, as its unit runs it, on data/sample.log dropped into the spool.
        shutil.copy(os.path.join(ARGS.source, "data/sample.log"), "/var/spool/typeahead/day1.log")
        os.chown("/var/spool/typeahead/day1.log", pw.pw_uid, pw.pw_gid)
        argv, env = unit_command("/lib/systemd/system/typeahead-nightly.service")
        p = run("runuser", "-u", "typeahead", "--", "env", "-i", *env, *argv, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        trie = "/var/lib/typeahead/current.trie"
        st = os.stat(trie)
        self.assertEqual(st.st_uid, pw.pw_uid)
        # Readable by a server running as another user than the job (the issue: it was 0600).
        self.assertEqual(oct(stat.S_IMODE(st.st_mode)), oct(0o644))
        run("runuser", "-u", "nobody", "--", "/usr/bin/typeahead-query", trie, "--verify")

        # A trie built by hand as root (README, "Operating notes") is readable by the server.
        byhand = "/var/lib/typeahead/byhand.trie"
        run("/usr/bin/typeahead-build", "--tables", "/var/lib/typeahead/tables", "--out", byhand)
        run("runuser", "-u", "typeahead", "--", "/usr/bin/typeahead-query", byhand, "--verify")

        # The server, as its unit runs it, as the typeahead user.
        argv, env = unit_command("/lib/systemd/system/typeahead.service")
        self.assertIn("127.0.0.1:%d" % port, argv)
        log = open(os.path.join(self.tmp, "serve.log"), "w+")
        self.addCleanup(log.close)
        srv = subprocess.Popen(["runuser", "-u", "typeahead", "--", "env", "-i", *env, *argv],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(stop, srv)
        status, body = wait_http(port, "/healthz", srv)
        self.assertEqual(status, 200, body)
        status, body = http_get(port, "/search?q=os&k=3")
        self.assertEqual(status, 200, body)
        texts = [s["text"] for s in json.loads(body)["suggestions"]]
        self.assertTrue(texts and all(t.startswith("os") for t in texts), texts)
        uid = server_uid(srv.pid)
        self.assertEqual(uid, pw.pw_uid, "the server does not run as typeahead")
        stop(srv)

        run("dpkg", "--purge", "typeahead")
        self.assertNotEqual(run("dpkg", "-s", "typeahead", check=False).returncode, 0)
        for gone in ["/usr/bin/" + t for t in TOOLS] + [
                "/etc/default/typeahead", "/var/lib/typeahead", "/var/spool/typeahead",
                "/lib/systemd/system/typeahead.service", "/usr/lib/typeahead"]:
            self.assertFalse(os.path.lexists(gone), gone + " left after dpkg --purge")

    @staticmethod
    def remove_user(had_user):
        if not had_user and user_exists("typeahead"):
            subprocess.run(["userdel", "typeahead"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            try:
                grp.getgrnam("typeahead")
                subprocess.run(["groupdel", "typeahead"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            except KeyError:
                pass


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def purge_quietly():
    if subprocess.run(["dpkg", "-s", "typeahead"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode == 0:
        subprocess.run(["dpkg", "--purge", "typeahead"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unit_command(unit):
    """The argv and environment (KEY=VALUE list) systemd would give the unit's ExecStart:
    Environment= lines, then EnvironmentFile= (which overrides them), ${X} as one word and $X
    split on spaces."""
    with open(unit) as f:
        settings = unit_settings(f.read())
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    exec_start = None
    for k, v in settings:
        if k == "Environment":
            for item in shlex.split(v):
                name, _, value = item.partition("=")
                env[name] = value
        elif k == "ExecStart":
            exec_start = v
    for k, v in settings:
        if k == "EnvironmentFile":
            path = v.lstrip("-")
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        line = line.strip()
                        if line and not line.startswith("#") and "=" in line:
                            name, _, value = line.partition("=")
                            env[name] = " ".join(shlex.split(value))
    argv = []
    for word in exec_start.split():
        m = re.fullmatch(r"\$\{(\w+)\}", word)
        if m:
            argv.append(env.get(m.group(1), ""))
            continue
        m = re.fullmatch(r"\$(\w+)", word)
        if m:
            argv.extend(env.get(m.group(1), "").split())
            continue
        argv.append(word)
    return argv, ["%s=%s" % kv for kv in sorted(env.items())]


def http_req(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def http_get(port, path):
    return http_req(port, "GET", path)


def syscall_set(name):
    """The system calls a SystemCallFilter= name stands for (a group @x expanded by systemd)."""
    if not name.startswith("@"):
        return {name}
    out = run("systemd-analyze", "syscall-filter", name).stdout
    calls = set()
    for line in out.splitlines():
        t = line.strip()
        if t and not t.startswith("#") and t != name:
            calls |= syscall_set(t)
    return calls


def wait_http(port, path, proc, timeout=20):
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError("the server exited with status %d" % proc.returncode)
        try:
            status, body = http_get(port, path)
            if status != 503 or time.time() > deadline:
                return status, body
        except OSError:
            if time.time() > deadline:
                raise
        time.sleep(0.1)


def server_uid(runuser_pid):
    """The real uid of typeahead-serve: runuser's child (runuser stays as its parent for the
    PAM session), or runuser's own process if it ever execs in place."""
    deadline = time.time() + 5
    while time.time() < deadline:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/status" % pid) as f:
                    status = f.read()
                with open("/proc/%s/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            ppid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
            if comm.startswith("typeahead-serv") and runuser_pid in (ppid, int(pid)):
                return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        time.sleep(0.1)
    raise AssertionError("no typeahead-serve process under runuser %d" % runuser_pid)


def stop_direct(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


if __name__ == "__main__":
    ARGS, rest = bin_args.tree_parser().parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
