"""Helpers of the aggregator's Python integration tests (tests/agg/test_*.py): the bytes of a
tables directory, and processes killed with SIGKILL at random moments."""
import os
import signal
import time


def tree(d):
    """Every file below d (relative path -> bytes): the byte-for-byte state of a tables dir."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def kill_at_random_moments(test, start, after, kills, estimate, rng):
    """kills times: start(attempt) returns a running Popen, which is killed with SIGKILL at a
    random moment up to estimate seconds (the length of a whole run), then after(attempt) checks
    the rerun. A run that finishes first is not counted, and the next ones aim earlier."""
    killed, attempts = 0, 0
    while killed < kills:
        attempts += 1
        test.assertLess(attempts, 6 * kills, "could not kill runs mid-way")
        t0 = time.monotonic()
        p = start(attempts)
        time.sleep(rng.uniform(0.0, estimate))
        if p.poll() is not None:
            estimate = min(estimate, time.monotonic() - t0) * 0.8
            continue
        p.send_signal(signal.SIGKILL)
        p.wait()
        killed += 1
        after(attempts)
