"""A Sandbox that starts Lamina's Python runtime by forking a warm zygote, else delegates.

Custom runtimes, and Python runtimes whose zygote cannot start, go through the inner sandbox
(a fresh process). Confinement for forked environments is applied inside the child by the zygote.
"""

from __future__ import annotations

import logging
import resource
from pathlib import Path

from lamina.execution.sandbox.base import Sandbox, SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.cgroups import CgroupMemoryController
from lamina.execution.zygote.process import SpawnRequest, ZygoteProcess, ZygoteUnavailable

_log = logging.getLogger(__name__)
_RLIMITS = ((resource.RLIMIT_NPROC, 1024, 1024), (resource.RLIMIT_NOFILE, 1024, 1024))


class ZygoteSandbox:
    def __init__(
        self,
        inner: Sandbox,
        cgroups: CgroupMemoryController | None,
        *,
        enabled: bool = True,
        preload: str | None,
        sdk_library: Path | None,
    ) -> None:
        self._enabled = enabled
        self._inner = inner
        self._cgroups = cgroups
        self._preload = preload
        self._sdk_library = sdk_library
        self._zygotes: dict[str, ZygoteProcess] = {}
        self._broken: set[str] = set()
        self.name = inner.name
        self.memory_enforcement = inner.memory_enforcement

    @property
    def start_method(self) -> str:
        """ "zygote" while fork servers work, "spawn" when disabled or once one has failed to start."""
        return "zygote" if self._enabled and not self._broken else "spawn"

    async def warm_up(self, interpreters: list[str]) -> None:
        """Start zygotes ahead of the first invocation (server start)."""
        for interpreter in interpreters:
            try:
                await self._zygote(interpreter).ensure_started()
            except ZygoteUnavailable as exc:
                _log.warning("fork server unavailable, falling back to spawning: %s", exc)
                self._broken.add(interpreter)

    def _zygote(self, interpreter: str) -> ZygoteProcess:
        zygote = self._zygotes.get(interpreter)
        if zygote is None:
            zygote = self._zygotes[interpreter] = ZygoteProcess(
                interpreter, preload=self._preload, sdk_library=self._sdk_library
            )
        return zygote

    async def spawn(self, spec: SandboxSpec) -> SandboxedProcess:
        interpreter = spec.python_interpreter
        if not self._enabled or interpreter is None or interpreter in self._broken or len(spec.pass_fds) != 1:
            return await self._inner.spawn(spec)
        cgroup = self._cgroups.create(spec.name, spec.memory_mb) if self._cgroups is not None else None
        request = SpawnRequest(
            environment=spec.environment,
            working_directory=str(spec.working_directory),
            output_fd=spec.output_fd,
            channel_fd=spec.pass_fds[0],
            cgroup_procs=(cgroup.procs_file,) if cgroup is not None else (),
            rlimits=_RLIMITS,
        )
        try:
            process = await self._zygote(interpreter).spawn(request)
        except ZygoteUnavailable as exc:
            if cgroup is not None:
                cgroup.remove()
            _log.warning("fork server failed, spawning instead: %s", exc)
            self._broken.add(interpreter)
            return await self._inner.spawn(spec)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        return SandboxedProcess(process, cgroup)

    def kill(self, sandboxed: SandboxedProcess) -> None:
        self._inner.kill(sandboxed)

    def release(self, sandboxed: SandboxedProcess) -> None:
        self._inner.release(sandboxed)

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        self._inner.close()
