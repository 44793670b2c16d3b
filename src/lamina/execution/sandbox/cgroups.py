"""Memory limits through Linux cgroups (v1 or v2), when this host lets the server create them.

Lambda enforces MemorySize with a cgroup: past it the kernel's OOM killer ends the runtime. Each
environment gets its own cgroup below the server's, so usage and OOM kills are counted per
environment. When no writable memory controller exists, the environment's watchdog enforces the
limit instead (see execution/environment.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

_V1_ROOT = Path("/sys/fs/cgroup/memory")
_V2_ROOT = Path("/sys/fs/cgroup")


class MemoryCgroup(Protocol):
    """One environment's cgroup. `procs_file` is written with "0" by the child before exec."""

    @property
    def path(self) -> Path: ...
    @property
    def procs_file(self) -> str: ...
    def oom_killed(self) -> bool: ...
    def peak_kb(self) -> int: ...
    def current_kb(self) -> int: ...
    def set_limit(self, memory_mb: int) -> None: ...
    def remove(self) -> bool:
        """Idempotent; call after the process is dead. False while the cgroup still holds a process
        (one killed but not yet exited): call again later."""


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _read_counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@dataclass(frozen=True, slots=True)
class _CgroupFiles:
    """Where a cgroup version keeps the counters Lamina reads."""

    peak: str
    current: str
    events: str
    oom_kill_key: str = "oom_kill"


_V1_FILES = _CgroupFiles(
    peak="memory.max_usage_in_bytes", current="memory.usage_in_bytes", events="memory.oom_control"
)
_V2_FILES = _CgroupFiles(peak="memory.peak", current="memory.current", events="memory.events")


@dataclass(slots=True)
class _Cgroup:
    path: Path
    files: _CgroupFiles
    # Counter files kept open: the pool and REPORT read them around every invocation.
    _descriptors: dict[str, int] = field(default_factory=dict)

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    def oom_killed(self) -> bool:
        return _read_counter(self.path / self.files.events, self.files.oom_kill_key) > 0

    def _read_kb(self, name: str) -> int:
        try:
            descriptor = self._descriptors.get(name)
            if descriptor is None:
                descriptor = self._descriptors[name] = os.open(self.path / name, os.O_RDONLY)
            return int(os.pread(descriptor, 64, 0).split()[0]) // 1024
        except (OSError, ValueError, IndexError):
            return 0

    def peak_kb(self) -> int:
        return self._read_kb(self.files.peak)

    def current_kb(self) -> int:
        return self._read_kb(self.files.current)

    def set_limit(self, memory_mb: int) -> None:
        """Lower or raise the limit (a fork server's standby cgroup, narrowed when it is assigned)."""
        _write_memory_limit(self.path, self.files is _V1_FILES, memory_mb)

    def remove(self) -> bool:
        for descriptor in self._descriptors.values():
            os.close(descriptor)
        self._descriptors.clear()
        return remove_cgroup(self.path)


# How long a server's shutdown waits for killed processes to leave their cgroups.
CLOSE_WAIT_SECONDS = 5.0
_BUSY_POLL_SECONDS = 0.01


def kill_members(folder: Path) -> None:
    """SIGKILL every process in one cgroup, including those that left their process group: through
    cgroup.kill where the kernel has it (v2, Linux 5.14+: atomic, a forking process cannot outrun
    it), else one by one (a child forked meanwhile is caught by the caller's next try)."""
    if (folder / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (folder / "cgroup.kill").write_text("1")
            return
    with contextlib.suppress(OSError, ValueError):
        for line in (folder / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(line), signal.SIGKILL)


def remove_cgroup(folder: Path, *, wait_seconds: float = 0.0) -> bool:
    """rmdir one cgroup; True once it is gone. The kernel refuses (EBUSY) while a process is still
    in it, and a process killed a moment ago is until it has exited: what is in there is killed
    (again) and the removal retried until `wait_seconds` have passed."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as error:
            if error.errno != errno.EBUSY:
                return False
        kill_members(folder)
        if time.monotonic() >= deadline:
            return False
        time.sleep(_BUSY_POLL_SECONDS)


def remove_server_folder(base: Path, deadline: float) -> None:
    """At shutdown: every environment cgroup below `base` (waiting for their processes to exit, up
    to the monotonic `deadline`), then `base` itself."""
    with contextlib.suppress(OSError):
        for child in base.iterdir():
            if child.is_dir():
                remove_cgroup(child, wait_seconds=max(0.0, deadline - time.monotonic()))
    remove_cgroup(base)


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for a v1 controller, or the v2 path when controller is None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller is None and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    return None


# How long a start waits for the processes a killed server left in its cgroups to exit.
STALE_WAIT_SECONDS = 5.0


def _remove_stale(parent: Path) -> None:
    """Folders left by servers that were killed. Their environments should have died with them (the
    parent-death signal), but a process that left its process group (a double-forked `setsid`
    daemon) is still in its cgroup: it is killed before the folder is removed."""
    for folder in parent.glob("lamina-*"):
        pid = folder.name.removeprefix("lamina-")
        if not pid.isdigit() or int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(OSError):
            for child in folder.iterdir():
                if child.is_dir():
                    remove_cgroup(child, wait_seconds=STALE_WAIT_SECONDS)
        kill_members(folder)
        remove_cgroup(folder, wait_seconds=STALE_WAIT_SECONDS)


def _write_memory_limit(path: Path, v1: bool, memory_mb: int) -> None:
    """The limit, with swap kept out. v1 wants memory+swap >= memory at every step: when lowering,
    memory goes first; when raising, memory+swap does."""
    limit = str(memory_mb * 1024 * 1024)
    if not v1:
        (path / "memory.max").write_text(limit)
        with contextlib.suppress(OSError):
            (path / "memory.swap.max").write_text("0")
        return
    memory, swap = path / "memory.limit_in_bytes", path / "memory.memsw.limit_in_bytes"
    order = [memory, swap] if memory_mb * 1024 * 1024 <= _read_int(memory) else [swap, memory]
    for file in order:
        if file is memory:
            memory.write_text(limit)
        elif swap.exists():
            with contextlib.suppress(OSError):
                swap.write_text(limit)


class CgroupMemoryController:
    """Creates per-environment memory cgroups under one folder owned by this server process."""

    def __init__(self, version: str, base: Path) -> None:
        self.version = version
        self._base = base

    @property
    def name(self) -> str:
        return f"cgroup-{self.version}"

    @classmethod
    def detect(cls) -> CgroupMemoryController | None:
        """A working controller, or None (not Linux, not permitted, no memory controller)."""
        for attempt in (cls._detect_v2, cls._detect_v1):
            try:
                controller = attempt()
            except OSError:
                controller = None
            if controller is not None:
                return controller
        return None

    @classmethod
    def _detect_v1(cls) -> CgroupMemoryController | None:
        own = _own_cgroup("memory")
        if own is None or not (_V1_ROOT / "memory.limit_in_bytes").exists():
            return None
        parent = _V1_ROOT / own.lstrip("/")
        _remove_stale(parent)
        base = parent / f"lamina-{os.getpid()}"
        base.mkdir(exist_ok=True)
        return cls("v1", base)

    @classmethod
    def _detect_v2(cls) -> CgroupMemoryController | None:
        own = _own_cgroup(None)
        controllers = _V2_ROOT / "cgroup.controllers"
        if own is None or not controllers.exists() or "memory" not in controllers.read_text().split():
            return None
        parent = _V2_ROOT / own.lstrip("/")
        _remove_stale(parent)
        base = parent / f"lamina-{os.getpid()}"
        base.mkdir(exist_ok=True)
        try:
            # Children of `base` need the memory controller; `base` itself holds no processes.
            (base / "cgroup.subtree_control").write_text("+memory")
        except OSError:
            base.rmdir()
            return None
        return cls("v2", base)

    def create(self, name: str, memory_mb: int) -> MemoryCgroup:
        path = self._base / name
        path.mkdir()
        _write_memory_limit(path, self.version == "v1", memory_mb)
        return _Cgroup(path, _V1_FILES if self.version == "v1" else _V2_FILES)

    def close(self, deadline: float | None = None) -> None:
        """Remove the server's folder with every environment cgroup in it, killing what is left and
        waiting (until the monotonic `deadline`) for those processes to exit."""
        remove_server_folder(
            self._base, time.monotonic() + CLOSE_WAIT_SECONDS if deadline is None else deadline
        )
