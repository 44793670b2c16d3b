"""The `process` sandbox: a plain child process with its own session, rlimits and a clean env.

Stronger tiers (namespaces + cgroups) plug in behind the same interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import sys

from lamina.execution.sandbox.base import SandboxSpec

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


def _confine_child() -> None:
    """Runs in the child between fork and exec: die with the server, apply rlimits."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    for limit, value in _LIMITS:
        try:
            _soft, hard = resource.getrlimit(limit)
            ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (ceiling, ceiling))
        except (ValueError, OSError):
            pass


class ProcessSandbox:
    name = "process"

    async def spawn(self, spec: SandboxSpec) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=spec.output_fd,
            stderr=spec.output_fd,
            cwd=spec.working_directory,
            env=spec.environment,
            start_new_session=True,
            close_fds=True,
            preexec_fn=_confine_child,
        )

    def kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
