"""Choosing the sandbox tier at server start: the strongest one that actually works on this host.

`namespaces` is tried for real (a child confines itself exactly as an environment would, then
exits); `process` works everywhere. A uid per environment needs root, and in the process tier also
a data directory other users can reach, and runtimes they can reach to be usable (in the namespaces
tier the environment's own root makes everything it needs reachable).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lamina.execution.sandbox.cgroups import CgroupMemoryController
from lamina.execution.sandbox.confine import ConfinementPlan, Mount
from lamina.execution.sandbox.limits import CgroupLimits
from lamina.execution.sandbox.namespaces import NamespaceSandbox
from lamina.execution.sandbox.process import ProcessSandbox
from lamina.execution.sandbox.spawner import ConfinementFailed, spawn_blocking
from lamina.execution.sandbox.uids import UidPool, UidRange

TIERS = ("auto", "process", "namespaces")
_PROBE_TIMEOUT_SECONDS = 10.0


class SandboxUnavailable(Exception):
    """The requested tier cannot run on this host; the message says why."""


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """Host folders the sandbox needs to know about."""

    data_dir: Path
    shared: tuple[Path, ...]  # folders environments read or write (code, scratch, SDK links)
    private: tuple[Path, ...]  # files and folders no environment may read (database, secrets...)
    root: Path  # empty folder the namespaces tier mounts each environment's root on
    runtime_files: tuple[Path, ...]  # interpreters and Lamina's runtime folder


def probe_namespaces(root: Path, uid: int | None) -> str | None:
    """None when a child can confine itself as the namespaces tier does; else the reason it can't.
    The child is started as every spawned environment is (spawner.py), not forked from the server."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = ConfinementPlan(
        namespaces=["mount", "pid", "ipc", "uts", "net"],
        root=str(root),
        mounts=[Mount("/proc", "proc"), Mount("/tmp", "tmpfs", options="size=1m,mode=1777")],
        hostname="probe",
        working_directory="/tmp",
        uid=uid,
        gid=uid,
        new_session=True,
    )
    output = os.open(os.devnull, os.O_WRONLY)
    try:
        child = spawn_blocking([], {}, plan, output_fd=output)
    except ConfinementFailed as error:
        return str(error)
    finally:
        os.close(output)
    try:
        status = child.wait(_PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return "probe timed out"
    return None if status == 0 else f"probe exited with status {status}"


def reachable_by_others(path: Path) -> bool:
    """True when a user who is neither owner nor in the group can reach `path` (search every
    folder above it; read it, or search it when it is a folder)."""
    try:
        real = path.resolve(strict=True)
        for folder in reversed(real.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(real).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


def _open_data_directory(paths: SandboxPaths) -> None:
    """Environments with their own uids reach their code and scratch folders by name only: the data
    directory becomes search-only for others and whatever is not theirs private to the server."""
    os.chmod(paths.data_dir, 0o711)
    for folder in paths.shared:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o711 if folder.name != "python-sdk" else 0o755)
    for private in paths.private:
        if private.name.endswith(".db") and not private.exists():
            os.close(os.open(private, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite keeps the mode
        elif not private.suffix and not private.exists():
            private.mkdir(parents=True, mode=0o700)  # made now, so that nothing inside is ever open
        for candidate in (private, *private.parent.glob(private.name + "-*")):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(candidate, 0o700 if candidate.is_dir() else 0o600)


def build_sandbox(
    tier: str,
    paths: SandboxPaths,
    interpreters: list[str],
    *,
    memory: CgroupMemoryController | None,
    uids: UidRange,
) -> tuple[ProcessSandbox, list[str]]:
    """The sandbox for `tier` ("auto" picks the strongest that works) and notes for the operator.

    Raises SandboxUnavailable when a tier asked for by name cannot run here.
    """
    if tier not in TIERS:
        raise SandboxUnavailable(f"unknown sandbox {tier!r}; expected one of {', '.join(TIERS)}")
    notes: list[str] = []
    root_user = hasattr(os, "geteuid") and os.geteuid() == 0
    limits = CgroupLimits.detect()
    if tier in ("auto", "namespaces"):
        reason = probe_namespaces(paths.root, uids.first if root_user else None)
        if reason is None:
            pool = UidPool(uids) if root_user else None
            return (
                NamespaceSandbox(
                    memory, limits=limits, uids=pool, root=paths.root, interpreters=interpreters
                ),
                notes,
            )
        if tier == "namespaces":
            raise SandboxUnavailable(f"the namespaces sandbox does not work on this host: {reason}")
        notes.append(f"namespaces unavailable ({reason}); using the process sandbox")
    pool = None
    if root_user and not reachable_by_others(paths.data_dir.parent):
        notes.append(
            f"environments run as the server's user: other users cannot reach {paths.data_dir.parent}"
        )
    elif root_user:
        _open_data_directory(paths)
        pool = UidPool(uids)
        for path in paths.runtime_files:
            if not reachable_by_others(path):
                notes.append(f"{path} is not reachable by sandbox users: environments using it cannot start")
    return ProcessSandbox(memory, limits=limits, uids=pool), notes
