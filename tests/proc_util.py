"""Process helpers of the Python integration tests under tests/ (standard library only, Linux's
/proc): the job tests wait for a step of a running script to start."""
import os
import time


def wait_for_child(pid, comm, timeout=60.0):
    """Waits until process pid has a child whose command name (/proc/N/comm, cut to 15 bytes by
    the kernel) starts as comm does; raises AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % n) as f:
                    stat = f.read()
            except (OSError, ValueError):
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses, so from the last ')'
            name = stat[stat.find("(") + 1:stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) == pid and comm.startswith(name):
                return int(n)
        time.sleep(0.02)
    raise AssertionError("no %s started by process %d in %.0f s" % (comm, pid, timeout))
