"""The `namespaces` tier: the process tier plus new PID, mount, IPC, UTS and network namespaces and a
minimal root of its own (the network namespace prepared by the server: sandbox/network.py).

What an environment sees (everything read-only but /tmp):
  /usr, /etc, /bin, /sbin, /lib*   the host's, as on a Lambda image
  <interpreter prefixes>            every runtime's Python and Node installation, at its host path
                                    (custom runtimes' `bootstrap` scripts exec them by absolute path)
  /var/task                         the function's code
  /opt                              the function's layers, merged in order (empty without layers)
  /var/runtime                      Lamina's runtime files and the SDK (boto3...), as on AWS
  /dev                              null, zero, full, random, urandom, tty, fd, std{in,out,err};
                                    a GPU function's own /dev/nvidia<N> and the driver's nodes
  /proc                             its own PID namespace only (the runtime is PID 1)
  /tmp                              a tmpfs of EphemeralStorage's size (HOME and TMPDIR)
The data directory, other functions' code and other environments do not exist in there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

from lamina.execution.sandbox.base import Assignment, SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.cgroups import CgroupMemoryController
from lamina.execution.sandbox.confine import ConfinementPlan, Mount
from lamina.execution.sandbox.limits import CgroupLimits
from lamina.execution.sandbox.process import Layout, ProcessSandbox
from lamina.execution.sandbox.uids import UidPool

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
TMP = "/tmp"
HOSTNAME = "localhost"
_SYSTEM_DIRECTORIES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEVICE_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
)
# Mounts each environment makes for itself; the rest are the same for every Python environment of an
# interpreter, so a fork server mounts them once (`template_for`, confine.build_template).
LAYERS = "/opt"
PER_ENVIRONMENT_TARGETS = frozenset({TASK_ROOT, LAYERS, TMP, "/proc"})
# Reserved variables that name host paths (SandboxSpec's contract) and are rewritten here.
_PATH_VARIABLES = (
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "LAMINA_RUNTIME_LIB",
    "LAMINA_LAYER_ROOT",
    "HOME",
    "TMPDIR",
)


def _system_mounts() -> list[Mount]:
    """The host's system folders; merged-/usr hosts have /bin, /lib... as links into /usr."""
    mounts = []
    for folder in _SYSTEM_DIRECTORIES:
        if os.path.islink(folder):
            mounts.append(Mount(folder, "symlink", os.readlink(folder)))
        elif os.path.isdir(folder):
            mounts.append(Mount(folder, "bind", folder))
    mounts.append(Mount("/etc", "bind", "/etc"))
    return mounts


def _device_mounts() -> list[Mount]:
    mounts = [Mount("/dev", "tmpfs", options="size=64k,mode=755")]
    mounts += [
        Mount(f"/dev/{name}", "bind", f"/dev/{name}", writable=True, optional=True) for name in _DEVICES
    ]
    mounts += [Mount(f"/dev/{name}", "symlink", target) for name, target in _DEVICE_LINKS]
    return mounts


@functools.lru_cache(maxsize=16)
def _folder_entries(folder: str, resolve: bool) -> tuple[tuple[str, str], ...]:
    """(name, host path) of a folder's entries, once per folder: runtime and SDK files don't change
    while the server runs. SDK entries are links into site-packages: bind what they point to."""
    entries = []
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        if entry.name == "__pycache__":
            continue
        entries.append((entry.name, os.path.realpath(entry.path) if resolve else entry.path))
    return tuple(entries)


@functools.cache
def _interpreter_prefixes(interpreter: str) -> tuple[str, ...]:
    """The installation folder of `.../bin/python3.X` (none when /usr, already visible, holds it),
    and for a virtual environment's interpreter its own folder too: its packages are why an
    operator named it (`--runtime python3.12-gpu=/opt/venv/bin/python`)."""
    prefixes = []
    given = Path(interpreter)
    if given.parent.name == "bin" and (given.parent.parent / "pyvenv.cfg").is_file():
        prefixes.append(given.parent.parent.resolve())
    real = given.resolve()
    prefixes.append(real.parent.parent if real.parent.name == "bin" else real.parent)
    return tuple(
        str(prefix)
        for prefix in dict.fromkeys(prefixes)
        if prefix != Path("/") and not any(prefix.is_relative_to(folder) for folder in _SYSTEM_DIRECTORIES)
    )


def _translate(value: str, moves: list[tuple[str, str]]) -> str:
    for host, inside in moves:
        if value == host or value.startswith(host + "/"):
            return inside + value[len(host) :]
    return value


class NamespaceSandbox(ProcessSandbox):
    name = "namespaces"
    _watches_scratch = False
    pid_namespace = True

    def __init__(
        self,
        memory: CgroupMemoryController | None,
        *,
        limits: CgroupLimits | None = None,
        uids: UidPool | None = None,
        root: Path,
        interpreters: list[str],
    ) -> None:
        """`root`: an empty host folder this tier mounts each new root on (inside the environment's
        own mount namespace, so environments never see each other's). `interpreters`: every
        runtime's Python, shown to every environment read-only."""
        super().__init__(memory, limits=limits, uids=uids)
        self._root = root
        self._prefixes = sorted(
            {prefix for interpreter in interpreters for prefix in _interpreter_prefixes(interpreter)}
        )

    def _layout(self, spec: SandboxSpec, uid: int | None) -> Layout:
        task_root = str(spec.task_root or spec.working_directory)
        mounts = _system_mounts()
        # Lamina's Python and Node runtimes need their own interpreter only (each bind costs mount
        # system calls on every cold start); a custom runtime's bootstrap may start any of them.
        interpreter = spec.python_interpreter or spec.interpreter
        prefixes = list(_interpreter_prefixes(interpreter)) if interpreter is not None else self._prefixes
        mounts += [Mount(prefix, "bind", prefix) for prefix in prefixes]
        mounts.append(Mount(TASK_ROOT, "bind", task_root))
        moves = [(task_root, TASK_ROOT)]
        if spec.layers_root is not None:
            mounts.append(Mount(LAYERS, "bind", str(spec.layers_root)))
            moves.append((str(spec.layers_root), LAYERS))
        mounts.append(Mount(RUNTIME_DIR, "dir"))
        seen: set[str] = set()
        for folder, resolve in ((spec.runtime_dir, False), (spec.runtime_library, True)):
            if folder is None:
                continue
            moves.append((str(folder), RUNTIME_DIR))
            for name, source in _folder_entries(str(folder), resolve):
                if name not in seen:  # Lamina's runtime files win over an SDK name
                    seen.add(name)
                    mounts.append(Mount(f"{RUNTIME_DIR}/{name}", "bind", source))
        mounts += _device_mounts()
        # Its own GPUs' nodes (a missing one fails the start: never a GPU function without its
        # GPU) and the driver's libraries; another environment's /dev has no NVIDIA node at all.
        mounts += [
            Mount(f"/dev/{name}", "bind", source, writable=True, optional=not required)
            for name, source, required in spec.devices
        ]
        mounts += [Mount(folder, "bind", folder) for folder in spec.read_only_folders]
        mounts.append(Mount("/proc", "proc"))
        mounts.append(Mount(TMP, "tmpfs", options=f"size={spec.ephemeral_storage_mb}m,mode=1777"))
        if spec.scratch_directory is not None:
            moves.append((str(spec.scratch_directory), TMP))
        # A network namespace of its own always: the one the server prepared (its listeners inside,
        # outbound access through pasta when the network is on), else a new one with loopback only.
        joined = spec.network_namespace is not None
        namespaces = ["mount", "pid", "ipc", "uts"] + ([] if joined else ["net"])
        plan = ConfinementPlan(
            namespaces=namespaces,
            root=str(self._root),
            mounts=mounts,
            hostname=HOSTNAME,
            working_directory=_translate(str(spec.working_directory), moves),
            inside_task_root=TASK_ROOT,
            inside_runtime_dir=RUNTIME_DIR if spec.runtime_dir is not None else "",
            inside_runtime_library=RUNTIME_DIR if spec.runtime_library is not None else "",
            inside_tmp=TMP,
            network_namespace=spec.network_namespace or "",
        )
        environment = dict(spec.environment)
        for key in _PATH_VARIABLES:
            if key in environment:
                environment[key] = _translate(environment[key], moves)
        argv = [_translate(argument, moves) for argument in spec.argv]
        return Layout(argv, environment, plan)

    async def assign(self, sandboxed: SandboxedProcess, spec: SandboxSpec) -> Assignment:
        """As the process tier's, and the code (and layers) mounted at /var/task (and /opt) in the
        standby's mount namespace, over the empty folders it started with."""
        assignment = await super().assign(sandboxed, spec)
        mounts = [(str(spec.task_root or spec.working_directory), TASK_ROOT)]
        if spec.layers_root is not None:
            mounts.append((str(spec.layers_root), LAYERS))
        await self._spawner.inject(sandboxed.process.pid, mounts)
        return assignment

    def template_for(self, interpreter: str, runtime_dir: Path | None, runtime_library: Path | None) -> str:
        """What a fork server for `interpreter` mounts once for all its environments (JSON for
        its LAMINA_ZYGOTE_TEMPLATE): the shared part of the layout `_layout` gives its specs."""
        spec = SandboxSpec(
            name="template",
            argv=[],
            environment={},
            working_directory=Path(TASK_ROOT),
            output_fd=-1,
            memory_mb=0,
            python_interpreter=interpreter,
            task_root=Path(TASK_ROOT),
            runtime_dir=runtime_dir,
            runtime_library=runtime_library,
        )
        shared, _ = split_for_template(self._layout(spec, None).plan)
        return json.dumps(
            {
                "root": str(self._root),
                "mounts": [dataclasses.asdict(mount) for mount in shared],
                "mountPoints": sorted(PER_ENVIRONMENT_TARGETS),
            }
        )

    def plan_on_template(self, plan: ConfinementPlan, template: str) -> ConfinementPlan:
        """`plan` for a fork server that built `template` (`template_for`): its own mounts only, on
        top of the template's root, when the rest is exactly what the template holds."""
        root, shared_mounts = _parse_template(template)
        shared, own = split_for_template(plan)
        if plan.root != root or shared != shared_mounts:
            return plan
        return dataclasses.replace(plan, template_root=root, mounts=own)


@functools.lru_cache(maxsize=16)
def _parse_template(template: str) -> tuple[str, list[Mount]]:
    document = json.loads(template)
    return document["root"], [Mount(**entry) for entry in document["mounts"]]


def split_for_template(plan: ConfinementPlan) -> tuple[list[Mount], list[Mount]]:
    """(shared mounts, this environment's own) of a namespaces plan."""
    shared = [mount for mount in plan.mounts if mount.target not in PER_ENVIRONMENT_TARGETS]
    own = [mount for mount in plan.mounts if mount.target in PER_ENVIRONMENT_TARGETS]
    return shared, own
