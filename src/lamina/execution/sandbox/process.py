"""The `process` tier: a plain child process that confines itself (`confine.py`) before it execs.

Own session and process group, parent-death signal, rlimits (processes/threads, open files, file
size, no core dumps), no inherited descriptors but stdio and `pass_fds`, cgroups for memory, process
count and CPU where the host allows them, and, when the server runs as root and the environment's
files are reachable by other users, a uid of its own per live environment. The environment's
scratch folder is its HOME and TMPDIR (a literal `/tmp` is the host's): RLIMIT_FSIZE caps each file
at EphemeralStorage and a watcher kills the environment once the folder as a whole, with what its uid
holds in the host's world-writable folders (/tmp, /var/tmp, /dev/shm, /run/lock) and System V IPC
(shared_storage.py), grows past it (see `_watch_scratch`).

A uid goes back to the pool only once no process runs as it (its cgroups are empty, or a kill by uid
was verified in /proc) and what it left in shared storage is deleted; one with a survivor is held back.

`prepare()` turns a spec into a `Launch` (argv, environment, confinement plan, resources); the
namespaces tier (namespaces.py) changes only what `_layout()` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lamina.execution.sandbox.base import (
    Assignment,
    IsolationUnavailable,
    ProcessHandle,
    SandboxedProcess,
    SandboxSpec,
)
from lamina.execution.sandbox.cgroups import CLOSE_WAIT_SECONDS, CgroupMemoryController, MemoryCgroup
from lamina.execution.sandbox.code_access import CodeAccess, CodeReadGrant, forget_readers
from lamina.execution.sandbox.confine import ConfinementPlan
from lamina.execution.sandbox.limits import CgroupLimits, EnvironmentLimits
from lamina.execution.sandbox.shared_storage import SharedStorageMeter, remove_of, tree_size
from lamina.execution.sandbox.spawner import ConfinementFailed, Spawner
from lamina.execution.sandbox.survivors import kill_processes
from lamina.execution.sandbox.uid_ranges import UidRangeClaim
from lamina.execution.sandbox.uids import UidPool

MAX_PROCESSES = 1024  # processes and threads per environment (Lambda: 1,024)
MAX_OPEN_FILES = 1024  # Lambda: 1,024 file descriptors
STANDBY_MEMORY_MB = 10240  # the largest MemorySize: a standby's limit until it becomes an environment
_SCRATCH_CHECK_SECONDS = 0.5
_log = logging.getLogger(__name__)
_IDLE_SCRATCH_CHECK_SECONDS = 5.0


class SandboxError(Exception):
    """The sandbox could not confine a new environment (a platform failure, not the function's)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where an environment sees things, and how the tier confines it beyond the common steps."""

    argv: list[str]
    environment: dict[str, str]
    plan: ConfinementPlan


@dataclass(slots=True)
class _Resources:
    """One environment's cgroups, uid and scratch watcher; implements base.SandboxResources."""

    limits: EnvironmentLimits | None = None
    memory_cgroup: MemoryCgroup | None = None
    uid: int | None = None
    uids: UidPool | None = None
    watcher: asyncio.Task[None] | None = None
    kill_uid: Callable[[int], bool] | None = None
    code_grant: CodeReadGrant | None = None  # its uid may read its code folders (code_access.py)
    released: bool = False
    quarantined: bool = False  # a process of the uid survived the kills: the uid is held back

    def kill_all(self) -> None:
        self._kill_all()

    def _kill_all(self) -> asyncio.Future[bool] | bool | None:
        """Kill what is left. The kill by uid runs in a worker thread (it starts a helper program) and
        its future is returned, True once nothing runs as the uid (without a loop: that outcome
        itself). None: the cgroups' kill (their removal tells whether it worked), or nothing to kill."""
        if self.limits is not None and self.limits.folders:
            self.limits.kill_all()
        elif self.uid is not None and self.kill_uid is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (shutdown, tests): nothing else to keep going
                return self.kill_uid(self.uid)
            else:
                return loop.run_in_executor(None, self.kill_uid, self.uid)
        return None

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.watcher is not None:
            self.watcher.cancel()
        if self.code_grant is not None:
            self.code_grant.revoke()
        killing = self._kill_all()  # nothing of the environment may outlive it, nor keep its uid
        # The uid is safe to lease again once nothing runs as it: its cgroups are gone (a process cannot
        # leave them), or, without cgroups, the kill by uid found none left.
        self._judge(killing, retry_removal=True)

    def _judge(self, killing: asyncio.Future[bool] | bool | None, *, retry_removal: bool) -> None:
        """Find out whether the kill left anything: the cgroups' removal (a process cannot leave them,
        and the kernel refuses to remove one that holds a process) or the kill by uid says so."""
        judge_by_cgroups = killing is None and self.uid is not None
        if self._remove_cgroups():
            if judge_by_cgroups:
                self._retire_uid(True)
        elif retry_removal:
            _retry_removal(self._remove_cgroups, self._retire_uid if judge_by_cgroups else None)
        elif judge_by_cgroups:
            self._retire_uid(False)
        if isinstance(killing, bool):
            self._retire_uid(killing)
        elif killing is not None:
            killing.add_done_callback(lambda outcome: self._retire_uid(outcome.result()))

    def _retire_uid(self, nothing_left: bool) -> None:
        """Give the uid back once what it left in shared storage is deleted (off the loop), or hold it
        back while a process of it survives (killed again every `_QUARANTINE_RETRY_SECONDS`)."""
        uid, uids = self.uid, self.uids
        if uid is None or uids is None:
            return
        if not nothing_left:
            if not self.quarantined:
                _log.warning("uid %d still runs a process after its environment ended: held back", uid)
            self.quarantined = True
            uids.quarantine(uid)
            with contextlib.suppress(RuntimeError):  # no loop (shutdown): the server's close kills it
                asyncio.get_running_loop().call_later(
                    _QUARANTINE_RETRY_SECONDS, lambda: self._judge(self._kill_all(), retry_removal=False)
                )
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (shutdown, tests)
            remove_shared_storage(uid)
            uids.release(uid)
            return
        loop.run_in_executor(None, remove_shared_storage, uid).add_done_callback(lambda _: uids.release(uid))

    def _remove_cgroups(self) -> bool:
        removed = self.memory_cgroup.remove() if self.memory_cgroup is not None else True
        return (self.limits.remove() if self.limits is not None else True) and removed


# How often a held-back uid's survivors are killed again (the uid is released once none is left).
_QUARANTINE_RETRY_SECONDS = 30.0

# When a cgroup is still busy at release (a process killed a moment ago has not exited yet): retry
# after these delays, in seconds (together a little over 5 s).
_REMOVAL_RETRY_DELAYS = (0.01, 0.05, 0.2, 1.0, 4.0)


def _retry_removal(
    remove: Callable[[], bool], done: Callable[[bool], None] | None = None, attempt: int = 0
) -> None:
    """Call `remove` again later on the loop until it returns True or the retries run out (the
    server's shutdown removes what is left; the next start removes a killed server's folders), then
    `done` with whether it succeeded."""
    if attempt >= len(_REMOVAL_RETRY_DELAYS):
        if done is not None:
            done(False)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        if done is not None:
            done(False)
        return

    def retry() -> None:
        if remove():
            if done is not None:
                done(True)
        else:
            _retry_removal(remove, done, attempt + 1)

    loop.call_later(_REMOVAL_RETRY_DELAYS[attempt], retry)


@dataclass(frozen=True, slots=True)
class Launch:
    """A spec made concrete: exec `argv` with `environment` in a child that runs `confine(plan)`.

    A fork server that cannot exec uses the same plan: see confine.py. The caller owns `resources`
    and must `release()` them once the environment's processes are dead (also when the start failed).
    """

    argv: list[str]
    environment: dict[str, str]
    plan: ConfinementPlan
    resources: _Resources = field(repr=False)


@dataclass(frozen=True, slots=True)
class StandbyResources:
    """Cgroups and a uid made before the environment is known; `cgroup_procs` are theirs to join."""

    resources: _Resources = field(repr=False)
    cgroup_procs: list[str]

    def release(self) -> None:
        self.resources.release()


def _procs_files(resources: _Resources) -> list[str]:
    return [
        *([resources.memory_cgroup.procs_file] if resources.memory_cgroup is not None else []),
        *(resources.limits.procs_files if resources.limits is not None else []),
    ]


# Run as root, it drops to the uid (argv[1]) and kills everything that uid runs; kill(-1) spares the
# caller itself. Python, not kill(1): the server's interpreter is always there.
_KILL_EVERY_PROCESS_OF_UID = """
import os, signal, sys
uid = int(sys.argv[1])
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
try:
    os.kill(-1, signal.SIGKILL)
except ProcessLookupError:
    pass  # nothing runs as that uid
"""


# How long a release keeps killing what runs as an environment's uid before holding the uid back.
_UID_KILL_SECONDS = 5.0


def kill_processes_of_uid(uid: int) -> bool:
    """SIGKILL every process running as `uid`: kill(-1) from a helper that has become that uid (atomic
    against forks), then checked in /proc (kill(-1) cannot say whether it found anything), killing
    stragglers directly. True once nothing runs as `uid`.

    Blocking (an interpreter start): call it in a worker thread. A helper program rather than a fork
    of the server, which is multi-threaded: a forked copy of it must run nothing but exec. Never
    raises: a failure is logged (nobody waits for the outcome but the uid's release)."""
    try:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", _KILL_EVERY_PROCESS_OF_UID, str(uid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        _log.warning("could not kill the processes of uid %d: %s", uid, error)
    return not kill_processes(lambda candidate: candidate == uid, _UID_KILL_SECONDS)


def remove_shared_storage(uid: int) -> None:
    """Delete what `uid` left in the host's world-writable folders and System V IPC. Blocking; never
    raises."""
    try:
        remove_of(lambda candidate: candidate == uid)
    except OSError as error:
        _log.warning("could not remove what uid %d left in shared storage: %s", uid, error)


def first_child(pid: int) -> int | None:
    """The oldest child of `pid` (None if it has none): under confine()'s waiter, the namespace's
    init; under an init, the runtime, which it forked before any orphan could be re-parented to it."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def runtime_below(init: int | None) -> int | None:
    """The runtime of a PID namespace whose init (PID 1) is `init`, once it exists."""
    return first_child(init) if init is not None else None


class ChildProcess:
    """A base.ProcessHandle for a subprocess.Popen child; its exit is noticed through a pidfd."""

    def __init__(self, popen: subprocess.Popen[bytes], *, waits_outside: bool = False) -> None:
        """`waits_outside`: the child is confine()'s waiter outside a PID namespace; `pid` is then the
        runtime's (PID 2 inside, below the namespace's init), so memory readings from /proc are the
        runtime's."""
        self._popen = popen
        self.process_group = popen.pid  # kill(): the group holds the waiter, the init and the runtime
        self._runtime: int | None = None if waits_outside else popen.pid
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):  # Linux < 5.3: a thread waits instead
            self._pidfd = -1
            self._waiter = loop.create_task(self._wait_in_thread())
        else:
            loop.add_reader(self._pidfd, self._on_exit)

    @property
    def pid(self) -> int:
        if self._runtime is None:
            self._runtime = runtime_below(first_child(self._popen.pid))
            if self._runtime is None:
                return self._popen.pid  # not started yet
        return self._runtime

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def _on_exit(self) -> None:
        returncode = self._popen.poll()
        if returncode is None:
            return
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        if not self._exited.done():
            self._exited.set_result(returncode)

    async def _wait_in_thread(self) -> None:
        returncode = await asyncio.to_thread(self._popen.wait)
        if not self._exited.done():
            self._exited.set_result(returncode)


class ProcessSandbox:
    """Contract as base.Sandbox; `prepare()` is also what a fork server calls for its children."""

    name = "process"
    _watches_scratch = True  # the namespaces tier's /tmp is a sized tmpfs instead
    pid_namespace = False  # every plan has a PID namespace (a fork server's standbys enter it ahead)
    _code_access: CodeAccess | None = None  # see close_code_folders

    def __init__(
        self,
        memory: CgroupMemoryController | None,
        *,
        limits: CgroupLimits | None = None,
        uids: UidPool | None = None,
    ) -> None:
        self._memory = memory
        self._limits = limits
        self._uids = uids
        self._uid_claim: UidRangeClaim | None = None
        self._spawner = Spawner()
        self.memory_enforcement = memory.name if memory is not None else "watchdog"
        uid_range = uids.range if uids is not None else None
        # What each uid holds in shared host storage, for the scratch watchers (process tier only).
        self._shared_storage = (
            SharedStorageMeter(lambda uid: uid in uid_range)
            if uid_range is not None and self._watches_scratch
            else None
        )

    @property
    def user(self) -> str:
        """Who environments run as: "per-environment uid" or "server uid"."""
        return "per-environment uid" if self._uids is not None else "server uid"

    def describe(self) -> str:
        limits = ", ".join(self._limits.kinds) if self._limits is not None else "none"
        uids = f" {self._uids.range}" if self._uids is not None else ""
        budget = self._limits.pids_budget if self._limits is not None else None
        pids = f"; pids budget: {budget}" if budget is not None else "; pids budget: none (no pids cgroup)"
        return f"{self.name} (runs as: {self.user}{uids}; cgroup limits: {limits}{pids})"

    def hold_uid_claim(self, claim: UidRangeClaim | None) -> None:
        """This server's claim on the range its uids come from: `close()` releases it, last."""
        self._uid_claim = claim

    def health(self) -> dict[str, object]:
        """What the health endpoint shows of the sandbox: the uid range this server holds, uids held
        back because a process of theirs survived, and the host-wide pids budget and its use."""
        return {
            "uidRange": str(self._uids.range) if self._uids is not None else None,
            "uidsInUse": self._uids.in_use if self._uids is not None else 0,
            "uidsQuarantined": self._uids.quarantined if self._uids is not None else 0,
            "pidsBudget": self._limits.pids_budget if self._limits is not None else None,
            "pidsInUse": self._limits.pids_in_use() if self._limits is not None else None,
        }

    # launching -------------------------------------------------------------------------------
    def prepare(self, spec: SandboxSpec, ahead: StandbyResources | None = None) -> Launch:
        """Create the environment's cgroups, lease its uid and build its plan. Blocking but quick.

        `ahead`: resources from `prepare_standby()` whose cgroups the process has joined already;
        they are narrowed to this spec, and the plan then joins no cgroups."""
        if ahead is None:
            resources = self._resources(spec.name, spec.memory_mb, spec.cpus, spec.denied_devices)
        else:
            resources = ahead.resources
            try:
                if resources.memory_cgroup is not None:
                    resources.memory_cgroup.set_limit(spec.memory_mb)
                if resources.limits is not None:
                    resources.limits.set_cpu_share(spec.memory_mb, spec.cpus)
                    resources.limits.deny_devices(spec.denied_devices)
            except BaseException:
                resources.release()
                raise
        try:
            layout = self._layout(spec, resources.uid)
            if self._code_access is not None and resources.uid is not None:
                task_root = spec.task_root or spec.working_directory
                resources.code_grant = self._code_access.grant([task_root, spec.layers_root], resources.uid)
        except BaseException:
            resources.release()
            raise
        plan = layout.plan
        plan.cgroup_procs = [] if ahead is not None else _procs_files(resources)
        plan.rlimits = {
            "NPROC": MAX_PROCESSES,
            "NOFILE": MAX_OPEN_FILES,
            "FSIZE": spec.ephemeral_storage_mb * 1024 * 1024,
            "CORE": 0,
        }
        plan.uid = plan.gid = resources.uid
        plan.keep_fds = [0, 1, 2, *spec.pass_fds]
        return Launch(layout.argv, layout.environment, plan, resources)

    async def assign(self, sandboxed: SandboxedProcess, spec: SandboxSpec) -> Assignment:
        """A standby, spawned from a spec of no function (see execution/node_standby.py), becomes
        the environment `spec` describes: its limits narrowed to the spec's and its uid let into
        the code. Returns the layout it must take on itself: the variables and the working
        directory as the environment sees them."""
        resources = sandboxed.resources
        assert isinstance(resources, _Resources), "a standby spawned by this sandbox"
        if resources.memory_cgroup is not None:
            resources.memory_cgroup.set_limit(spec.memory_mb)
        if resources.limits is not None:
            resources.limits.set_cpu_share(spec.memory_mb, spec.cpus)
            resources.limits.deny_devices(spec.denied_devices)
        layout = self._layout(spec, resources.uid)
        if self._code_access is not None and resources.uid is not None:
            task_root = spec.task_root or spec.working_directory
            resources.code_grant = self._code_access.grant([task_root, spec.layers_root], resources.uid)
        return Assignment(layout.environment, layout.plan.working_directory)

    def close_code_folders(self, code_root: Path, *, shared: bool = False, worker: bool = False) -> None:
        """From now on the code cache's folders (directly in `code_root`, closed to all but their
        owner by the cache) are readable by an environment's uid only while it lives (code_access.py);
        `shared`: other processes (workers) grant access to them too. Readers a previous run left
        are removed first: all of them, or on a `worker` those of its own uid range."""
        if self._uids is not None:
            forget_readers(code_root, self._uids.range if worker else None)
        self._code_access = CodeAccess(code_root, shared=shared)

    def template_for(
        self, interpreter: str, runtime_dir: Path | None, runtime_library: Path | None
    ) -> str | None:
        """A root a fork server could build once for its environments: none in this tier."""
        return None

    def plan_on_template(self, plan: ConfinementPlan, template: str) -> ConfinementPlan:
        """`plan` for a fork server that built `template`: unchanged here (no templates)."""
        return plan

    def prepare_standby(self) -> StandbyResources:
        """Cgroups (at the largest MemorySize until assigned) and a uid for an environment that is not
        known yet: a fork server's standby child joins the cgroups ahead of time (see confine.py)."""
        resources = self._resources(f"standby-{secrets.token_hex(6)}", STANDBY_MEMORY_MB)
        return StandbyResources(resources, _procs_files(resources))

    def _resources(
        self, name: str, memory_mb: int, cpus: float | None = None, denied_devices: tuple[str, ...] = ()
    ) -> _Resources:
        resources = _Resources(uids=self._uids, kill_uid=kill_processes_of_uid)
        try:
            if self._memory is not None:
                resources.memory_cgroup = self._memory.create(name, memory_mb)
            if self._limits is not None:
                resources.limits = self._limits.create(
                    name,
                    max_processes=MAX_PROCESSES,
                    memory_mb=memory_mb,
                    cpus=cpus,
                    denied_devices=denied_devices,
                )
            if self._uids is not None:
                resources.uid = self._uids.lease()
        except BaseException:
            resources.release()
            raise
        return resources

    def _layout(self, spec: SandboxSpec, uid: int | None) -> Layout:
        """Process tier: the host's paths, with the scratch folder made the environment's own."""
        if not spec.network:
            raise IsolationUnavailable(
                "LAMINA_NETWORK=off needs the namespaces sandbox tier; this server runs the process tier"
            )
        scratch = spec.scratch_directory
        if scratch is not None and uid is not None:
            os.chown(scratch, uid, uid)
            os.chmod(scratch, 0o700)
        task_root = spec.task_root or spec.working_directory
        plan = ConfinementPlan(
            working_directory=str(spec.working_directory),
            inside_task_root=str(task_root),
            inside_runtime_dir=str(spec.runtime_dir or ""),
            inside_runtime_library=str(spec.runtime_library or ""),
            inside_tmp=str(scratch or ""),
        )
        # A custom runtime's `<code>/bootstrap` is exec'd as ./bootstrap from its working directory,
        # the code folder: every user reads /proc/*/cmdline here, and must not learn code paths there.
        inside = str(task_root).rstrip("/") + "/"
        relative = Path(spec.working_directory) == Path(task_root)
        argv = [
            "./" + arg[len(inside) :] if relative and arg.startswith(inside) else arg for arg in spec.argv
        ]
        return Layout(argv, dict(spec.environment), plan)

    async def spawn(self, spec: SandboxSpec) -> SandboxedProcess:
        launch = self.prepare(spec)
        try:
            popen = await self._spawner.spawn(
                launch.argv,
                launch.environment,
                launch.plan,
                output_fd=spec.output_fd,
                pass_fds=spec.pass_fds,
            )
        except ConfinementFailed as error:
            launch.resources.release()
            raise SandboxError(f"could not confine environment {spec.name}: {error}") from error
        except BaseException:
            launch.resources.release()
            raise
        handle = ChildProcess(popen, waits_outside="pid" in launch.plan.namespaces)
        return self.started(spec, launch, handle)

    def started(self, spec: SandboxSpec, launch: Launch, process: ProcessHandle) -> SandboxedProcess:
        """Bookkeeping once `launch` runs as `process` (spawned here or forked by a fork server)."""
        sandboxed = SandboxedProcess(
            process, launch.resources.memory_cgroup, launch.resources, uid=launch.resources.uid
        )
        if self._watches_scratch and spec.scratch_directory is not None:
            meter, uid = self._shared_storage, launch.resources.uid
            launch.resources.watcher = asyncio.get_running_loop().create_task(
                _watch_scratch(
                    spec.scratch_directory,
                    spec.ephemeral_storage_mb,
                    lambda: self.kill(sandboxed),
                    lambda: sandboxed.busy,
                    (lambda: meter.usage(uid)) if meter is not None and uid is not None else None,
                )
            )
        return sandboxed

    # ending ----------------------------------------------------------------------------------
    def kill(self, sandboxed: SandboxedProcess) -> None:
        """Idempotent: SIGKILL the process group, then anything left in the environment's cgroups."""
        process = sandboxed.process
        if process.returncode is None:
            try:
                os.killpg(getattr(process, "process_group", process.pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        if sandboxed.resources is not None:
            sandboxed.resources.kill_all()

    def release(self, sandboxed: SandboxedProcess) -> None:
        if sandboxed.resources is not None:
            sandboxed.resources.release()
        elif sandboxed.memory_cgroup is not None and not sandboxed.memory_cgroup.remove():
            _retry_removal(sandboxed.memory_cgroup.remove)

    def close(self) -> None:
        """Remove every cgroup this server made, waiting a little for killed processes to exit."""
        self._spawner.close()
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        if self._memory is not None:
            self._memory.close(deadline)
        if self._limits is not None:
            self._limits.close(deadline)
        if self._uids is not None:
            # Whatever of the range is left (a survivor held back, a release the shutdown cut short).
            uid_range = self._uids.range
            kill_processes(lambda uid: uid in uid_range, CLOSE_WAIT_SECONDS)
            remove_of(lambda uid: uid in uid_range)
        if self._uid_claim is not None:
            self._uid_claim.release()


async def _watch_scratch(
    folder: Path,
    limit_mb: int,
    kill: Callable[[], None],
    busy: Callable[[], bool],
    shared_usage: Callable[[], int] | None = None,
) -> None:
    """Process tier: end the environment once its scratch folder, with what its uid holds in shared
    host storage (`shared_usage`, blocking: /tmp, /var/tmp, /dev/shm, System V IPC), holds more than
    EphemeralStorage.

    RLIMIT_FSIZE already stops any single file at the limit; this catches many smaller files, within
    one check interval: short while an invocation runs, longer while idle (only background work
    writes then, and a thousand idle environments would otherwise cost thousands of walks a
    second). (The namespaces tier needs no watcher: its /tmp is a tmpfs of that size.)
    """
    limit = limit_mb * 1024 * 1024
    while True:
        await asyncio.sleep(_SCRATCH_CHECK_SECONDS if busy() else _IDLE_SCRATCH_CHECK_SECONDS)
        if await asyncio.to_thread(_storage_used, folder, shared_usage) > limit:
            kill()
            return


def _storage_used(folder: Path, shared_usage: Callable[[], int] | None) -> int:
    return tree_size(folder) + (shared_usage() if shared_usage is not None else 0)
