"""The command line of the Python integration tests under tests/ (standard library only).

ctest passes each test the full path of every binary it runs, --NAME $<TARGET_FILE:target> (see
tests/*/CMakeLists.txt), so that no test depends on where CMake puts them. A script parses them
with parse_known_args and hands the rest (a test name, -k PATTERN, -f, ...) to unittest.main.
"""
import argparse
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def datasets():
    """The shared datasets folder (never part of the project): $TA_DATASETS when set, else
    ../shared/datasets beside the repository (CI's layout), else two levels up (a worktree at
    /work/wt/NAME). The first candidate when none exists, for the skip message to name."""
    if os.environ.get("TA_DATASETS"):
        return os.path.abspath(os.environ["TA_DATASETS"])
    found = [os.path.normpath(os.path.join(HERE, *[".."] * up, "shared", "datasets"))
             for up in (2, 3)]
    return next((d for d in found if os.path.isdir(d)), found[0])

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
