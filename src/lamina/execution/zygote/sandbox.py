"""A Sandbox that starts Lamina's Python runtime by forking a warm zygote, else delegates.

The tier (process or namespaces) still decides everything about confinement: `prepare()` gives the
same cgroups, uid, paths and ConfinementPlan a spawned environment gets, and the zygote's child
applies that plan (sandbox/confine.py) before it runs function code. Custom runtimes, and Python
runtimes whose zygote cannot start, are spawned by the tier itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lamina.execution.sandbox.base import SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.process import ProcessSandbox
from lamina.execution.zygote.process import SpawnRequest, ZygoteProcess, ZygoteUnavailable

_log = logging.getLogger(__name__)
_CHANNEL_FD = 3  # where runtimes/python/zygote.py puts the runtime channel in the child


class ZygoteSandbox:
    def __init__(
        self,
        inner: ProcessSandbox,
        *,
        enabled: bool = True,
        preload: str,
        sdk_library: Path | None,
    ) -> None:
        self._enabled = enabled
        self._inner = inner
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

    def describe(self) -> str:
        return self._inner.describe()

    async def warm_up(self, interpreters: list[str]) -> None:
        """Start zygotes ahead of the first invocation (server start)."""
        if not self._enabled:
            return
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
        launch = self._inner.prepare(spec)
        request = SpawnRequest(
            environment=launch.environment,
            output_fd=spec.output_fd,
            channel_fd=spec.pass_fds[0],
            plan_json=launch.plan.to_json(),
            waits_outside="pid" in launch.plan.namespaces,
        )
        try:
            process = await self._zygote(interpreter).spawn(request)
        except ZygoteUnavailable as exc:
            launch.resources.release()
            _log.warning("fork server failed, spawning instead: %s", exc)
            self._broken.add(interpreter)
            return await self._inner.spawn(spec)
        except BaseException:
            launch.resources.release()
            raise
        return self._inner.started(spec, launch, process)

    def kill(self, sandboxed: SandboxedProcess) -> None:
        self._inner.kill(sandboxed)

    def release(self, sandboxed: SandboxedProcess) -> None:
        self._inner.release(sandboxed)

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        self._inner.close()
