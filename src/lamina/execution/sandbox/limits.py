"""Process-count and CPU limits per environment through cgroups (v1 `pids`/`cpu` or v2).

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU (AWS docs, "Configuring
Lambda function memory"). Each environment gets a CPU *share* (v1 cpu.shares, v2 cpu.weight) in that
proportion: under contention environments split the CPUs by memory, but an idle host is not left unused
(a hard quota made a 128 MB cold start that imports boto3 take seconds). It also gets a cap on its
processes and threads, so a fork bomb stops at the cap instead of exhausting the host. Either limit is
skipped when the host gives no writable controller for it; memory has its own module (cgroups.py).

On cgroup v1 hosts each environment also gets a `devices` cgroup that denies the GPU device nodes it
was not granted (execution/gpus/exposure.py): the process tier cannot hide a node from /dev, but the
kernel then refuses to open it. (cgroup v2 controls devices with BPF programs only: there the
namespaces tier's own /dev is the isolation.)

A function that sets `LAMINA_CPUS` chooses its CPU apart from its memory: its weight follows that
count instead, and it gets a hard quota of that many CPUs per period (v2 `cpu.max`, v1
`cpu.cfs_quota_us`), the way a container's `--cpus` works.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lamina.execution.sandbox.cgroups import (
    CLOSE_WAIT_SECONDS,
    _own_cgroup,
    _remove_stale,
    kill_members,
    remove_cgroup,
    remove_server_folder,
)

MB_PER_CPU = 1769
_V1_SHARES_PER_CPU = 1024  # the kernel's default weight of one cgroup
_V2_WEIGHT_PER_CPU = 100
_CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000  # the kernel's default CFS period


def cpu_shares(memory_mb: int, cpus: float | None = None) -> int:
    """cgroup v1 cpu.shares for MemorySize (one CPU's default weight per 1,769 MB, minimum 2), or
    for `cpus` CPUs when the function chose them."""
    if cpus is not None:
        return min(262_144, max(2, round(_V1_SHARES_PER_CPU * cpus)))
    return max(2, _V1_SHARES_PER_CPU * memory_mb // MB_PER_CPU)


def cpu_weight(memory_mb: int, cpus: float | None = None) -> int:
    """cgroup v2 cpu.weight (range 1-10000) for MemorySize, or for `cpus` CPUs."""
    if cpus is not None:
        return min(10_000, max(1, round(_V2_WEIGHT_PER_CPU * cpus)))
    return min(10_000, max(1, _V2_WEIGHT_PER_CPU * memory_mb // MB_PER_CPU))


def cpu_quota_us(cpus: float | None) -> int:
    """Microseconds of CPU per CPU_PERIOD_US the environment may use; -1: no quota (AWS's way)."""
    return -1 if cpus is None else max(1000, round(cpus * CPU_PERIOD_US))


@dataclass(slots=True)
class EnvironmentLimits:
    """One environment's limit cgroups: join them with "0" > each procs file before exec."""

    folders: list[Path] = field(default_factory=list)
    controllers: list[_Controller] = field(default_factory=list)  # one per folder

    def deny_devices(self, rules: tuple[str, ...]) -> None:
        """Add device rules ("c 195:1 rwm") the environment may not use (a standby, when assigned)."""
        for controller, folder in zip(self.controllers, self.folders, strict=True):
            if controller.kind == "devices":
                _deny(folder, rules)

    def set_cpu_share(self, memory_mb: int, cpus: float | None = None) -> None:
        """Re-derive the CPU share from MemorySize or LAMINA_CPUS (a fork server's standby, narrowed
        when assigned)."""
        for controller, folder in zip(self.controllers, self.folders, strict=True):
            if controller.kind == "cpu":
                _write_limit(controller, folder, 0, memory_mb, cpus)

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroups, including those that left the process group."""
        for folder in self.folders:
            kill_members(folder)

    def remove(self) -> bool:
        """Idempotent; call after the processes are dead. False while one of the cgroups still holds a
        process (killed, not yet exited): call again later."""
        return all([remove_cgroup(folder) for folder in self.folders])


@dataclass(frozen=True, slots=True)
class _Controller:
    kind: str  # "pids", "cpu" or "devices" (v1 only)
    version: str  # "v1" or "v2"
    base: Path  # this server's folder; environments get subfolders


class CgroupLimits:
    """Creates per-environment pids and cpu cgroups below folders owned by this server process."""

    def __init__(self, controllers: list[_Controller], pids_budget: int | None = None) -> None:
        self._controllers = controllers
        self.pids_budget = (
            pids_budget if any(controller.kind == "pids" for controller in controllers) else None
        )

    @property
    def kinds(self) -> list[str]:
        return [controller.kind for controller in self._controllers]

    @classmethod
    def detect(
        cls, root: Path = _CGROUP_ROOT, *, pids_budget: int | None = None, devices: bool = False
    ) -> CgroupLimits | None:
        """The limits this host lets the server set, or None when it allows neither.

        `pids_budget`: processes and threads all environments may have together (the server's pids
        cgroup, parent of every environment's, is capped at it); None: half of kernel.pid_max. Each
        environment's own cap (1,024, as on Lambda) stays; this one keeps the sum of idle children
        left behind by many environments from exhausting the host's pids. `devices`: also a v1
        devices cgroup per environment (a host with GPUs: each denies those it was not given)."""
        controllers = []
        for kind in ("pids", "cpu", "devices") if devices else ("pids", "cpu"):
            with contextlib.suppress(OSError):
                controller = (_detect_v2(root, kind) if kind != "devices" else None) or _detect_v1(root, kind)
                if controller is not None:
                    controllers.append(controller)
        if not controllers:
            return None
        budget = pids_budget if pids_budget is not None else default_pids_budget()
        for controller in controllers:
            if controller.kind == "pids":
                (controller.base / "pids.max").write_text(str(budget))
        return cls(controllers, budget)

    def pids_in_use(self) -> int | None:
        """Processes and threads all environments have now; None without a pids controller."""
        for controller in self._controllers:
            if controller.kind == "pids":
                with contextlib.suppress(OSError, ValueError):
                    return int((controller.base / "pids.current").read_text())
        return None

    def create(
        self,
        name: str,
        *,
        max_processes: int,
        memory_mb: int,
        cpus: float | None = None,
        denied_devices: tuple[str, ...] = (),
    ) -> EnvironmentLimits:
        limits = EnvironmentLimits()
        try:
            for controller in self._controllers:
                folder = controller.base / name
                folder.mkdir(exist_ok=True)  # v2: may be the memory cgroup's folder too
                limits.folders.append(folder)
                limits.controllers.append(controller)
                _write_limit(controller, folder, max_processes, memory_mb, cpus)
                if controller.kind == "devices":
                    _deny(folder, denied_devices)
        except OSError:
            limits.remove()
            raise
        return limits

    def close(self, deadline: float | None = None) -> None:
        """Remove the server's folders (see cgroups.remove_server_folder)."""
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS if deadline is None else deadline
        for controller in self._controllers:
            remove_server_folder(controller.base, deadline)


def default_pids_budget() -> int:
    """Half of the host's pids (kernel.pid_max), so that environments can never take them all."""
    try:
        return max(1024, int(Path("/proc/sys/kernel/pid_max").read_text()) // 2)
    except (OSError, ValueError):
        return 16_384


def _write_limit(
    controller: _Controller, folder: Path, max_processes: int, memory_mb: int, cpus: float | None = None
) -> None:
    quota = cpu_quota_us(cpus)
    if controller.kind == "pids":
        (folder / "pids.max").write_text(str(max_processes))
    elif controller.kind == "devices":
        return  # a new devices cgroup allows what its parent does; `_deny` narrows it
    elif controller.version == "v1":
        (folder / "cpu.shares").write_text(str(cpu_shares(memory_mb, cpus)))
        if cpus is not None or (folder / "cpu.cfs_quota_us").exists():
            (folder / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(str(quota))
    else:
        (folder / "cpu.weight").write_text(str(cpu_weight(memory_mb, cpus)))
        if cpus is not None or (folder / "cpu.max").exists():
            (folder / "cpu.max").write_text(f"{quota if quota > 0 else 'max'} {CPU_PERIOD_US}")


def _deny(folder: Path, rules: tuple[str, ...]) -> None:
    for rule in rules:
        (folder / "devices.deny").write_text(rule)


_LIMIT_FILES = {"pids": "pids.max", "cpu": "cpu.shares", "devices": "devices.deny"}


def _detect_v1(root: Path, kind: str) -> _Controller | None:
    hierarchy = root / kind
    limit_file = _LIMIT_FILES[kind]
    own = _own_cgroup(kind)
    if own is None or not hierarchy.is_dir() or (root / "cgroup.controllers").exists():
        return None
    parent = hierarchy / own.lstrip("/")
    _remove_stale(parent)
    base = parent / f"lamina-{os.getpid()}"
    base.mkdir(exist_ok=True)
    probe = base / "probe"
    try:
        probe.mkdir(exist_ok=True)
        writable = (probe / limit_file).exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()
    if not writable:
        with contextlib.suppress(OSError):
            base.rmdir()
        return None
    return _Controller(kind, "v1", base)


def _detect_v2(root: Path, kind: str) -> _Controller | None:
    own = _own_cgroup(None)
    controllers = root / "cgroup.controllers"
    if own is None or not controllers.exists() or kind not in controllers.read_text().split():
        return None
    parent = root / own.lstrip("/")
    _remove_stale(parent)  # also when the memory controller (which does it too) is not used
    base = parent / f"lamina-{os.getpid()}"  # shared with the v2 memory controller, if any
    base.mkdir(exist_ok=True)
    try:
        (base / "cgroup.subtree_control").write_text(f"+{kind}")
    except OSError:
        with contextlib.suppress(OSError):
            base.rmdir()
        return None
    return _Controller(kind, "v2", base)
