"""CPU time per part of a deployment, read from /proc: web processes with their workers,
schedulers, nginx, the PostgreSQL backends of one database, this process (the load generator)
and the machine as a whole, whose remainder is other work (the neighbours of a shared machine).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# When, ticks per process of each part, and the machine's (busy, total) ticks.
Reading = tuple[float, dict[str, dict[int, int]], tuple[int, int]]


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user + system ticks) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _tree(roots: set[int]) -> set[int]:
    """The processes ``roots`` and all their descendants."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = st[0]
    found = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found & (set(parents) | roots)


def _nginx_masters(workdir: Path) -> set[int]:
    """nginx processes started with a configuration in the deployment's folder."""
    masters = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "nginx" in cmdline and str(workdir) in cmdline:
                masters.add(int(entry.name))
    return masters


def _pid(proc: Any) -> int | None:
    for path in ("pid", "process.pid", "popen.pid"):
        value: Any = proc
        for name in path.split("."):
            value = getattr(value, name, None)
        if isinstance(value, int):
            return value
    return None


def _machine_busy() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """Ticks per part of the deployment, read at the start and the end of a window."""

    def __init__(self, deployment: Any, workdir: Path,
                 backends: Callable[[], list[int]]) -> None:
        self.deployment, self.workdir, self.backends = deployment, workdir, backends

    def parts(self) -> dict[str, set[int]]:
        webs = [p for p in (_pid(w) for w in self.deployment.webs) if p is not None]
        groups = {f"web{n}": _tree({pid}) for n, pid in enumerate(webs, 1)}
        groups["scheduler"] = _tree({p for p in (_pid(s) for s in self.deployment.schedulers)
                                     if p is not None})
        nginx = _pid(getattr(self.deployment, "nginx", None))
        groups["nginx"] = _tree({nginx} if nginx else _nginx_masters(self.workdir))
        groups["postgres"] = set(self.backends())
        groups["client"] = {os.getpid()}
        return groups

    def read(self) -> Reading:
        ticks = {name: {pid: st[1] for pid in pids if (st := _stat(pid)) is not None}
                 for name, pids in self.parts().items()}
        return time.monotonic(), ticks, _machine_busy()

    @staticmethod
    def percent(before: Reading, after: Reading) -> dict[str, float]:
        """Percent of one core per part between two readings; "machine" is of all cores,
        "others" what none of the parts used, "busiest_process" the busiest web worker."""
        seconds = after[0] - before[0]
        result = {}
        busiest = 0
        for name, now in after[1].items():
            then = before[1].get(name, {})
            used = {pid: t - then[pid] for pid, t in now.items() if pid in then}
            result[name] = 100 * sum(used.values()) / CLOCK_TICKS / seconds
            if name.startswith("web"):
                busiest = max([busiest, *used.values()])
        # One Python process (a gunicorn worker) runs on about one core at most: its lock.
        result["busiest_process"] = 100 * busiest / CLOCK_TICKS / seconds
        busy = after[2][0] - before[2][0]
        total = after[2][1] - before[2][1]
        result["machine"] = 100 * (os.cpu_count() or 1) * busy / total if total else 0.0
        # Whatever else ran on the machine: the neighbours of a shared machine, the kernel.
        result["others"] = max(0.0, result["machine"] - sum(
            v for k, v in result.items() if k not in {"machine", "busiest_process"}))
        return result
