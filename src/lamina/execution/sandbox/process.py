"""The `process` sandbox: a plain child process with its own session, rlimits and a clean env,
plus a memory cgroup per environment where the host allows one.

Stronger tiers (namespaces) plug in behind the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable

from lamina.execution.sandbox.base import SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.cgroups import CgroupMemoryController

_PR_SET_PDEATHSIG = 1
_LIMITS = (
    (resource.RLIMIT_NPROC, 1024),
    (resource.RLIMIT_NOFILE, 1024),
)


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def _child_setup(procs_file: str | None) -> Callable[[], None]:
    """Runs in the child between fork and exec: join the cgroup, die with the server, rlimits."""

    def confine() -> None:
        if procs_file is not None:
            with open(procs_file, "w") as procs:
                procs.write("0")
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        for limit, value in _LIMITS:
            try:
                _, hard = resource.getrlimit(limit)
                ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(limit, (ceiling, ceiling))
            except (ValueError, OSError):
                pass

    return confine


class ProcessSandbox:
    name = "process"

    def __init__(self, cgroups: CgroupMemoryController | None) -> None:
        self._cgroups = cgroups
        self.memory_enforcement = cgroups.name if cgroups is not None else "watchdog"

    async def spawn(self, spec: SandboxSpec) -> SandboxedProcess:
        cgroup = self._cgroups.create(spec.name, spec.memory_mb) if self._cgroups is not None else None
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=spec.output_fd,
                stderr=spec.output_fd,
                cwd=spec.working_directory,
                env=spec.environment,
                start_new_session=True,
                close_fds=True,
                pass_fds=spec.pass_fds,
                preexec_fn=_child_setup(cgroup.procs_file if cgroup is not None else None),
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        return SandboxedProcess(process, cgroup)

    def kill(self, sandboxed: SandboxedProcess) -> None:
        process = sandboxed.process
        if process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)

    def release(self, sandboxed: SandboxedProcess) -> None:
        if sandboxed.memory_cgroup is not None:
            sandboxed.memory_cgroup.remove()

    def close(self) -> None:
        if self._cgroups is not None:
            self._cgroups.close()
