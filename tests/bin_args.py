"""The command line of the Python integration tests under tests/ (standard library only).

ctest passes each test the full path of every binary it runs, --NAME $<TARGET_FILE:target> (see
tests/*/CMakeLists.txt), so that no test depends on where CMake puts them. A script parses them
with parse_known_args and hands the rest (a test name, -k PATTERN, -f, ...) to unittest.main.
"""
import argparse
import os

# --NAME: the binary it names
BINARIES = {"aggregate": "typeahead-aggregate", "build": "typeahead-build",
            "query": "typeahead-query", "serve": "typeahead-serve", "eval": "ta-eval"}


def parser(*required, optional=()):
    """An ArgumentParser of --NAME PATH (an absolute path) for the binaries named in required
    and, not required, in optional (names of BINARIES)."""
    ap = argparse.ArgumentParser()
    for name in required + tuple(optional):
        ap.add_argument("--" + name, required=name in required, type=os.path.abspath,
                        metavar="PATH", help="the %s binary" % BINARIES[name])
    return ap


def tree_parser():
    """An ArgumentParser of --source DIR and --build-dir DIR (absolute paths), for the tests
    that run the project's scripts and installed layout (tests/deploy) rather than one binary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, type=os.path.abspath)
    ap.add_argument("--build-dir", required=True, type=os.path.abspath)
    return ap
