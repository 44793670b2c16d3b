"""The Sandbox interface: start a confined process for one execution environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lamina.execution.sandbox.cgroups import MemoryCgroup

# Where a runtime without network finds the HTTP Runtime API, inside its own network namespace
# (AWS's runtimes use this port too).
INSIDE_RUNTIME_API_PORT = 9001


class ProcessesExhausted(Exception):
    """The kernel refused a process for a new environment (fork failed with EAGAIN: the pids budget
    of all environments, `--pids-budget`, or the host's own limit is used up); no runtime ran. A
    shortage of the host, which lasts until leftover processes end: the start fails as a function
    error (Runtime.ExitError) with this message, never as an internal error."""


class IsolationUnavailable(Exception):
    """The spec asks for isolation this tier cannot give (e.g. no network in the process tier):
    the environment fails closed, with this message, rather than running less isolated."""


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """What to run and the limits to apply; the sandbox decides how to enforce them."""

    name: str  # unique per environment; names its cgroup
    argv: list[str]
    environment: dict[str, str]
    working_directory: Path
    output_fd: int  # write end of the pipe that receives stdout and stderr, merged
    memory_mb: int
    pass_fds: tuple[int, ...] = ()  # descriptors the process inherits at the same numbers
    cpus: float | None = None  # LAMINA_CPUS: a CPU share apart from memory; None: by memory, as AWS
    # GPU device nodes the environment may open: (name under /dev, host path, required), and host
    # folders (the driver's libraries) shown read-only at their own path. Only a tier with its own
    # /dev (namespaces) can limit the devices to these.
    devices: tuple[tuple[str, str, bool], ...] = ()
    read_only_folders: tuple[str, ...] = ()
    # Device rules ("c 195:1 rwm") the environment may not use: the GPUs it was not granted (a v1
    # devices cgroup enforces them in every tier).
    denied_devices: tuple[str, ...] = ()
    # Set when argv runs Lamina's own Python runtime with this interpreter: a fork server may start it.
    python_interpreter: str | None = None
    # The executable of Lamina's runtime argv runs (python or node); None: a custom runtime's own.
    interpreter: str | None = None
    # Host paths the runtime uses. argv, working_directory and the variables LAMBDA_TASK_ROOT,
    # LAMBDA_RUNTIME_DIR, LAMINA_RUNTIME_LIB, LAMINA_LAYER_ROOT, HOME and TMPDIR name them as host
    # paths; a sandbox that shows them elsewhere (namespaces: /var/task, /var/runtime, /opt, /tmp)
    # rewrites those.
    task_root: Path | None = None  # None: working_directory
    layers_root: Path | None = None  # the function's layers (LAMINA_LAYER_ROOT), shown as /opt if possible
    runtime_dir: Path | None = None
    runtime_library: Path | None = None
    scratch_directory: Path | None = None  # the environment's writable folder (HOME, TMPDIR)
    ephemeral_storage_mb: int = 512  # EphemeralStorage: the size of /tmp
    network: bool = True  # False: no network but loopback (namespaces tier only)
    # A network namespace the environment joins instead of getting a new one (namespaces tier only;
    # see sandbox/network.py): a path, valid until spawn returns.
    network_namespace: str | None = None


class ProcessHandle(Protocol):
    """What callers need of a started process: a child of the server or of a fork server."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    async def wait(self) -> int: ...


class SandboxResources(Protocol):
    """What a sandbox holds for one live environment besides its process (limits, a uid, watchers)."""

    def kill_all(self) -> None:
        """Kill every process of the environment, also those that left its process group."""

    def release(self) -> None:
        """Free everything; idempotent; call once the processes are dead."""


@dataclass(eq=False, slots=True)
class SandboxedProcess:
    process: ProcessHandle
    # Set when the kernel enforces MemorySize; None means the caller must watch memory itself.
    memory_cgroup: MemoryCgroup | None = None
    resources: SandboxResources | None = None  # the sandbox's own bookkeeping; opaque to callers
    uid: int | None = None  # the environment's own uid, when the sandbox gave it one
    busy: bool = False  # set by the environment while an invocation runs (checks run more often)


@dataclass(frozen=True, slots=True)
class Assignment:
    """What a standby takes on when it becomes an environment (`Sandbox.assign`): the variables
    and the working directory, as the environment sees them."""

    environment: dict[str, str]
    working_directory: str


class Sandbox(Protocol):
    """Contract: `spawn` returns a started process in its own process group; `kill` is idempotent
    and kills the whole group; `release` frees what `spawn` created (call after the process died);
    the process dies with the server even when the server is SIGKILLed.
    """

    name: str
    memory_enforcement: str  # "cgroup-v1", "cgroup-v2" or "watchdog"

    async def spawn(self, spec: SandboxSpec) -> SandboxedProcess: ...
    async def assign(self, sandboxed: SandboxedProcess, spec: SandboxSpec) -> Assignment: ...
    def kill(self, sandboxed: SandboxedProcess) -> None: ...
    def release(self, sandboxed: SandboxedProcess) -> None: ...
    def close(self) -> None: ...
