"""Samples of a server's resource use over time, from /proc and its data directory: what a soak
run watches for leaks (memory, descriptors, threads, child processes, zombies, CPU, code folders).

Linux only. Processes come and go while we read; a process that vanished is left out.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.support import procfs

_PROC = Path("/proc")
_TCP_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the server. `server_*` counts are the server process's own; `tree_*` add every
    descendant (execution environments, their helpers)."""

    elapsed_s: float  # since the run started
    operations: int  # operations the load had completed when the sample was taken
    server_rss_kib: int
    tree_rss_kib: int
    server_fds: int
    server_threads: int
    children: int  # descendants, any state
    zombies: int  # descendants that exited and were not reaped
    server_cpu_s: float  # user + system of the server process itself
    tree_cpu_s: float  # the server, its reaped children, and its live descendants
    code_folders: int | None  # entries in <data>/code: unpacked code
    code_blobs: int | None  # *.blob files under <data>/blobs: stored packages


def _status_field(pid: int, name: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    return 0


def _state(pid: int) -> str | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2]


def _reaped_children_cpu_s(pid: int) -> float:
    """cutime + cstime: CPU of children the process has waited for (exited environments)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # stat fields 16 and 17


def open_descriptors(pid: int) -> int:
    try:
        return len(os.listdir(_PROC / str(pid) / "fd"))
    except OSError:
        return 0


def folder_counts(data_dir: Path | None) -> tuple[int | None, int | None]:
    """(entries in <data>/code, *.blob files under <data>/blobs); None where unknown or absent."""
    if data_dir is None:
        return None, None
    code = data_dir / "code"
    blobs = data_dir / "blobs"
    code_count = len(list(code.iterdir())) if code.is_dir() else None
    blob_count = sum(1 for _ in blobs.rglob("*.blob")) if blobs.is_dir() else None
    return code_count, blob_count


def sample(pid: int, data_dir: Path | None, started: float, operations: int) -> Sample:
    tree = procfs.descendants(pid)
    states = {child: _state(child) for child in tree}
    live = [child for child, state in states.items() if state is not None]
    memory = procfs.memory(pid)
    server_cpu = procfs.cpu_seconds([pid])
    code_count, blob_count = folder_counts(data_dir)
    return Sample(
        elapsed_s=round(time.monotonic() - started, 2),
        operations=operations,
        server_rss_kib=memory.rss_kib if memory else 0,
        tree_rss_kib=procfs.total_memory([pid, *live]).rss_kib,
        server_fds=open_descriptors(pid),
        server_threads=_status_field(pid, "Threads"),
        children=len(live),
        zombies=sum(1 for state in states.values() if state == "Z"),
        server_cpu_s=server_cpu,
        tree_cpu_s=round(server_cpu + _reaped_children_cpu_s(pid) + procfs.cpu_seconds(live), 2),
        code_folders=code_count,
        code_blobs=blob_count,
    )


def listening_pid(port: int) -> int | None:
    """The process that listens on TCP `port` (IPv4 or IPv6), found through its socket's inode."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (_PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == _TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for descriptor in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(descriptor) in wanted:
                        return int(entry.name)
    return None


def descriptor_kinds(pid: int, data_dir: Path | None = None) -> dict[str, int]:
    """Open descriptors of `pid` by kind: socket, pipe, anon_inode:…, files by the folder of the
    data directory they are in (<data>/logs) or else by their own folder. A count that grows
    points at what leaks."""
    kinds: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for descriptor in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                kind = _descriptor_kind(os.readlink(descriptor), data_dir)
                kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda item: -item[1]))


def _descriptor_kind(target: str, data_dir: Path | None) -> str:
    if target.startswith(("socket:", "pipe:")):
        return target.split(":", 1)[0]
    if target.startswith("anon_inode:"):
        return target
    path = Path(target)
    if data_dir is not None and path.is_relative_to(data_dir):
        inside = path.relative_to(data_dir).parts
        return f"<data>/{inside[0]}" if len(inside) > 1 else "<data>"
    return str(path.parent)
