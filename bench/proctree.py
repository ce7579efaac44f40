"""A process tree's CPU time and resident memory from /proc (Linux), for bench/load.py."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.5
_TICKS = os.sysconf("SC_CLK_TCK")


def parse_vmrss_kb(status: str) -> int:
    """Resident memory in kB from a /proc/<pid>/status text (0 when absent: a kernel thread
    or a zombie has no VmRSS line)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Stat:
    """What bench/load.py reads from /proc/<pid>/stat: the parent, the process's own CPU
    clock ticks (user + system), those of the children it has waited for, and its start
    time (with the pid, a process's identity: pids are reused)."""

    ppid: int
    own: int
    reaped: int
    start: int


def parse_stat(stat: str) -> Stat:
    """Parse a /proc/<pid>/stat text (``man 5 proc``: fields 4, 14–17 and 22)."""
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces or ")"
    return Stat(int(fields[1]), int(fields[11]) + int(fields[12]),
                int(fields[13]) + int(fields[14]), int(fields[19]))


def process_tree(root: int, proc: Path = Path("/proc")) -> dict[int, Stat]:
    """pid → Stat of ``root`` and every live descendant (empty when root is gone)."""
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    tree, todo = {}, [root] if root in stats else []
    while todo:
        pid = todo.pop()
        tree[pid] = stats[pid]
        todo += [child for child, stat in stats.items() if stat.ppid == pid]
    return tree


def tree_cpu_seconds(root: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds of a live process tree so far, with the children its members waited for
    (exact for a server whose processes stay up; Chromium's helpers are not all waited for:
    :class:`TreeSampler` counts those)."""
    return sum(s.own + s.reaped for s in process_tree(root, proc).values()) / _TICKS


def tree_rss_kb(root: int, proc: Path = Path("/proc")) -> int:
    """Resident memory of a process tree, summed over its members."""
    total = 0
    for pid in process_tree(root, proc):
        try:
            total += parse_vmrss_kb((proc / str(pid) / "status").read_text())
        except OSError:
            pass
    return total


class TreeSampler(threading.Thread):
    """Every ``SAMPLE_S`` seconds: the server tree's resident memory, and the CPU time of
    every process under this one but outside the server (the browser side), remembered per
    process so one that exits still counts (less its last half second)."""

    def __init__(self, server: int) -> None:
        super().__init__(daemon=True)
        self.server, self.samples, self._halt = server, [], threading.Event()
        self._own: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self.sample()

    def sample(self) -> None:
        rss = tree_rss_kb(self.server)
        mine = process_tree(os.getpid())
        served = process_tree(self.server)
        with self._lock:
            self.samples.append((time.monotonic(), rss))
            for pid, stat in mine.items():
                if pid not in served:
                    self._own[(pid, stat.start)] = stat.own

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_S):
            self.sample()

    def browser_cpu_seconds(self) -> float:
        """CPU seconds used so far outside the server (sample first for an exact reading of
        the processes still alive)."""
        with self._lock:
            return sum(self._own.values()) / _TICKS

    def peak_since(self, since: float) -> int:
        return max((kb for t, kb in self.samples if t >= since), default=0)

    def stop(self) -> int:
        """Stop sampling; the last memory reading."""
        self._halt.set()
        self.join()
        self.sample()
        return self.samples[-1][1]
