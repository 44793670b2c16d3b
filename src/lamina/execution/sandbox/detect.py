"""Choosing the sandbox tier at server start: the strongest one that actually works on this host.

`namespaces` is tried for real (a child confines itself exactly as an environment would, then
exits); `process` works everywhere. A uid per environment needs root, and in the process tier also
a data directory other users can reach, and runtimes they can reach to be usable (in the namespaces
tier the environment's own root makes everything it needs reachable).

Before any uid is used (the namespaces probe runs as one), a root server claims its uid range for
itself (uid_ranges.py) and kills every process of that range (survivors.py): a daemon left by a
server that was SIGKILLed must not share its uid with the next environment given it.
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
from lamina.execution.sandbox.shared_storage import remove_of
from lamina.execution.sandbox.spawner import ConfinementFailed, spawn_blocking
from lamina.execution.sandbox.survivors import kill_processes, processes_of
from lamina.execution.sandbox.uid_ranges import CLAIMS_FOLDER, UidRangeClaim, UidRangeTaken, claim_uid_range
from lamina.execution.sandbox.uids import UidPool, UidRange

TIERS = ("auto", "process", "namespaces")
_PROBE_TIMEOUT_SECONDS = 10.0
# How long a start keeps killing what runs as its uids before holding those uids back.
_SURVIVOR_KILL_SECONDS = 10.0
PROCESS_TIER_LIMITS = (
    "the process tier shares the host's /proc (every host process's command line is visible) and its "
    "network (environments can reach every loopback service and bind host ports); see README, Sandbox"
)


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


@dataclass(frozen=True, slots=True)
class UidClaim:
    """A root server's uid range, claimed and emptied: `survivors` were killed at start; `held_back`
    still ran a process after every kill and must never be leased."""

    claim: UidRangeClaim
    survivors: int
    held_back: frozenset[int]


def claim_uids(requested: UidRange | None, owner: dict[str, str], folder: Path = CLAIMS_FOLDER) -> UidClaim:
    """Claim the range (None: the first free default block) and kill every process of it and of the
    dead servers' ranges it takes over, deleting what they left in shared storage. Blocking (a /proc
    scan); raises SandboxUnavailable when a live server holds an overlapping range."""
    try:
        claim = claim_uid_range(requested, owner, folder)
    except (UidRangeTaken, OSError) as error:
        raise SandboxUnavailable(str(error)) from None
    ranges = [claim.range, *claim.taken_over]

    def ours(uid: int) -> bool:
        return any(uid in uid_range for uid_range in ranges)

    found = len(processes_of(ours))
    left = kill_processes(ours, _SURVIVOR_KILL_SECONDS) if found else {}
    remove_of(ours)
    return UidClaim(claim, found, frozenset(uid for uid in left.values() if uid in claim.range))


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
        os.chmod(folder, 0o755 if folder.name in ("python-sdk", "node-sdk", "java") else 0o711)
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
    uid_claim: UidClaim | None = None,
    pids_budget: int | None = None,
    device_control: bool = False,
) -> tuple[ProcessSandbox, list[str]]:
    """The sandbox for `tier` ("auto" picks the strongest that works) and notes for the operator.

    `uid_claim`: the server's claim on `uids` (`claim_uids`, made first); the sandbox releases it when
    it closes. `pids_budget` and `device_control` (a devices cgroup per environment, for a host with
    GPUs to deny): see CgroupLimits.detect. Raises SandboxUnavailable when a tier asked
    for by name cannot run here.
    """
    if tier not in TIERS:
        raise SandboxUnavailable(f"unknown sandbox {tier!r}; expected one of {', '.join(TIERS)}")
    notes: list[str] = []
    root_user = hasattr(os, "geteuid") and os.geteuid() == 0
    if uid_claim is not None and uid_claim.survivors:
        notes.append(
            f"killed {uid_claim.survivors} process(es) left running as sandbox uids {uids} "
            "(by a server that was killed)"
        )
    if uid_claim is not None and uid_claim.held_back:
        notes.append(f"uids {sorted(uid_claim.held_back)} still run a process: they are never leased")
    claim = uid_claim.claim if uid_claim is not None else None
    limits = CgroupLimits.detect(pids_budget=pids_budget, devices=device_control)
    if limits is None or limits.pids_budget is None:
        notes.append("no pids cgroup: the processes all environments may leave are not capped host-wide")

    def uid_pool() -> UidPool:
        pool = UidPool(uids)
        for uid in uid_claim.held_back if uid_claim is not None else ():
            pool.quarantine(uid)
        return pool

    if tier in ("auto", "namespaces"):
        reason = probe_namespaces(paths.root, uids.first if root_user else None)
        if reason is None:
            pool = uid_pool() if root_user else None
            sandbox: ProcessSandbox = NamespaceSandbox(
                memory, limits=limits, uids=pool, root=paths.root, interpreters=interpreters
            )
            sandbox.hold_uid_claim(claim)
            return sandbox, notes
        if tier == "namespaces":
            raise SandboxUnavailable(f"the namespaces sandbox does not work on this host: {reason}")
        notes.append(
            f"namespaces unavailable ({reason}); falling back to the weaker process sandbox: "
            + PROCESS_TIER_LIMITS
        )
    pool = None
    if root_user and not reachable_by_others(paths.data_dir.parent):
        notes.append(
            f"environments run as the server's user: other users cannot reach {paths.data_dir.parent}"
        )
    elif root_user:
        _open_data_directory(paths)
        pool = uid_pool()
        for path in paths.runtime_files:
            if not reachable_by_others(path):
                notes.append(f"{path} is not reachable by sandbox users: environments using it cannot start")
    sandbox = ProcessSandbox(memory, limits=limits, uids=pool)
    sandbox.hold_uid_claim(claim)
    return sandbox, notes
