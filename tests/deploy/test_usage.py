"""The usage texts of the deploy/ scripts: what a user sees after a wrong command line is the
usage, whole and nothing else (no exit status glued to it, no lines of the script's code).

Usage: test_usage.py --source DIR [unittest arguments]
"""
import argparse
import os
import subprocess
import sys
import unittest

ARGS = None


def run(script, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([os.path.join(ARGS.source, "deploy", script), *args], env=e,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


class Usage(unittest.TestCase):
    def check(self, script, line, env=None):
        p = run(script, env=env)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr, "%s: usage: %s\n" % (script, line))

    def test_nightly(self):
        self.check("typeahead-nightly", "typeahead-nightly SPOOL_DIR TABLES_DIR TRIE_FILE")
        self.check("typeahead-nightly",
                   "TA_TRIE_DIR=DIR typeahead-nightly SPOOL_DIR TABLES_DIR [TRIE_FILE]",
                   env={"TA_TRIE_DIR": "/nonexistent"})

    def test_trending(self):
        self.check("typeahead-trending", "typeahead-trending SPOOL_DIR TABLES_DIR TRENDING_FILE")
        self.check("typeahead-trending",
                   "TA_TRENDING_DIR=DIR typeahead-trending SPOOL_DIR TABLES_DIR [TRENDING_FILE]",
                   env={"TA_TRENDING_DIR": "/nonexistent"})

    def test_missing_tool_named_alone(self):
        # TA_BIN names a directory without the tools, PATH holds none: the message names the
        # first tool looked for, and ends there.
        for script in ("typeahead-nightly", "typeahead-trending"):
            with self.subTest(script=script):
                p = run(script, "/nonexistent", "/nonexistent", "/nonexistent/x.trie",
                        env={"TA_BIN": "/nonexistent", "PATH": "/usr/bin:/bin"})
                self.assertEqual(p.returncode, 2, p.stderr)
                last = p.stderr.splitlines()[-1]
                self.assertRegex(last, r"^%s: cannot find typeahead-\w+ \(set TA_BIN\)$" % script)

    def test_run_sample(self):
        # --help is no BUILD folder: the usage, not mkdir's complaint about "--help/run".
        for arg in ("--help", "-h"):
            p = run("run-sample", arg)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, "usage: deploy/run-sample [BUILD [LISTEN]]  (make run: "
                             "build 127.0.0.1:8080)\n")

    def test_fleet(self):
        p = run("typeahead-fleet")
        self.assertEqual(p.returncode, 2, p.stderr)
        # The usage is the script's opening comment, every line of it and nothing after it.
        with open(os.path.join(ARGS.source, "deploy", "typeahead-fleet")) as f:
            lines = f.read().splitlines()
        comment = []
        for line in lines[1:]:
            if not line.startswith("#"):
                break
            comment.append(line[2:] if line.startswith("# ") else line[1:])
        self.assertEqual(p.stdout + p.stderr, "\n".join(comment) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
