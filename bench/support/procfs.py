"""What /proc says about a server and the processes it started (the process tree, memory, CPU
time) and about the machine.

Linux only. Processes come and go while we read; a process that vanished is simply left out.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def parent_pids() -> dict[int, int]:
    """pid -> parent pid for every process visible now."""
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])  # state, ppid, ...
    return parents


def descendants(root: int) -> dict[int, int]:
    """pid -> parent pid for every descendant of `root` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for pid, parent in parent_pids().items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for child in children.get(parent, ()):
            if child not in found:
                found[child] = parent
                frontier.append(child)
    return found


def subtrees(tree: dict[int, int], pids: Iterable[int]) -> list[list[int]]:
    """Group `pids` (a subset of `tree`, pid -> parent) into subtrees: each group is a process of
    `pids` whose parent is not in `pids`, plus its descendants in `pids`."""
    chosen = set(pids)
    groups: dict[int, list[int]] = {}
    for pid in sorted(chosen):
        top = pid
        while tree.get(top) in chosen:
            top = tree[top]
        groups.setdefault(top, []).append(pid)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class Memory:
    """Kibibytes from /proc/<pid>/smaps_rollup. PSS shares each shared page among its users; USS is
    what the process alone holds (freed when it exits); RSS counts shared pages in full."""

    pss_kib: int
    rss_kib: int
    uss_kib: int

    def __add__(self, other: Memory) -> Memory:
        return Memory(
            self.pss_kib + other.pss_kib, self.rss_kib + other.rss_kib, self.uss_kib + other.uss_kib
        )


NO_MEMORY = Memory(0, 0, 0)


def memory(pid: int) -> Memory | None:
    try:
        text = (_PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[name] = int(fields[0])
    return Memory(
        values.get("Pss", 0),
        values.get("Rss", 0),
        values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
    )


def total_memory(pids: Iterable[int]) -> Memory:
    total = NO_MEMORY
    for pid in pids:
        total = total + (memory(pid) or NO_MEMORY)
    return total


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU time the live processes `pids` have used so far."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
    return ticks / _CLOCK_TICKS


def executable(pid: int) -> str | None:
    """The program file `pid` runs (/proc/<pid>/exe)."""
    try:
        return os.readlink(_PROC / str(pid) / "exe")
    except OSError:
        return None


def open_files_limit(pid: int) -> int | None:
    """The soft RLIMIT_NOFILE of `pid`, from /proc/<pid>/limits."""
    try:
        text = (_PROC / str(pid) / "limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return int(soft) if soft.isdigit() else None
    return None


def memory_available_kib() -> int | None:
    """MemAvailable from /proc/meminfo: what can be allocated without swapping."""
    with contextlib.suppress(OSError):
        for line in (_PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return None


def machine_info() -> dict[str, Any]:
    """Cores this process may run on, the CPU model, memory, load and the Python running us."""
    model = None
    with contextlib.suppress(OSError):
        for line in (_PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    memory_kib = None
    with contextlib.suppress(OSError, IndexError, ValueError):
        memory_kib = int((_PROC / "meminfo").read_text().splitlines()[0].split()[1])
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_total_mib": memory_kib // 1024 if memory_kib else None,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
    }
