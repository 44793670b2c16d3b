"""A Sandbox that starts Lamina's Python runtime by forking a warm zygote, else delegates.

The tier (process or namespaces) still decides everything about confinement: `prepare()` gives the
same cgroups, uid, paths and ConfinementPlan a spawned environment gets, and the zygote's child
applies that plan (sandbox/confine.py) before it runs function code. Custom runtimes, and Python
runtimes whose zygote cannot start, are spawned by the tier itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from lamina.execution.sandbox.base import Assignment, SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.process import Launch, ProcessSandbox, StandbyResources
from lamina.execution.zygote.process import ForkedProcess, SpawnRequest, ZygoteProcess, ZygoteUnavailable

_log = logging.getLogger(__name__)
_CHANNEL_FD = 3  # where runtimes/python/zygote.py puts the runtime channel in the child
# Standby children kept per Python runtime that has started an environment: the next start of that
# runtime skips the cgroup migration (see confine.enter_cgroups_ahead). Each costs an idle fork
# (~1 MB private) and its cgroups.
STANDBY_PER_RUNTIME = 1


@dataclass(slots=True)
class _Standby:
    process: ForkedProcess
    socket: socket.socket
    resources: StandbyResources
    ready: bool = False  # it has joined its cgroups and said so

    def check_ready(self) -> bool | None:
        """True once the child has reported ready, False if not yet, None if it is gone."""
        if not self.ready and self.process.returncode is None:
            try:
                self.ready = self.socket.recv(1, socket.MSG_DONTWAIT) == b"R"
            except BlockingIOError:
                return False
            except OSError:
                return None
            if not self.ready:
                return None  # end of file: it died
        return self.ready if self.process.returncode is None else None

    def discard(self) -> None:
        self.socket.close()
        self.resources.release()  # kills the child: it is in those cgroups


class ZygoteSandbox:
    def __init__(
        self,
        inner: ProcessSandbox,
        *,
        enabled: bool = True,
        preload: str,
        sdk_library: Path | None,
        runtime_dir: Path | None = None,
    ) -> None:
        """`runtime_dir`: Lamina's Python runtime files, for the shared root of the namespaces tier."""
        self._enabled = enabled
        self._inner = inner
        self._preload = preload
        self._sdk_library = sdk_library
        self._runtime_dir = runtime_dir
        self._zygotes: dict[str, ZygoteProcess] = {}
        self._broken: set[str] = set()
        self._standbys: dict[str, list[_Standby]] = {}
        self._refills: dict[str, asyncio.Task[None]] = {}
        self.name = inner.name
        self.memory_enforcement = inner.memory_enforcement

    @property
    def start_method(self) -> str:
        """ "zygote" while fork servers work, "spawn" when disabled or once one has failed to start."""
        return "zygote" if self._enabled and not self._broken else "spawn"

    def describe(self) -> str:
        return self._inner.describe()

    @property
    def standby_count(self) -> int:
        """Forked children waiting, cgroups joined, to become the next environment of their runtime."""
        return sum(1 for waiting in self._standbys.values() for standby in waiting if standby.check_ready())

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
                interpreter,
                preload=self._preload,
                sdk_library=self._sdk_library,
                template=self._inner.template_for(interpreter, self._runtime_dir, self._sdk_library),
            )
        return zygote

    async def spawn(self, spec: SandboxSpec) -> SandboxedProcess:
        interpreter = spec.python_interpreter
        if not self._enabled or interpreter is None or interpreter in self._broken or len(spec.pass_fds) != 1:
            return await self._inner.spawn(spec)
        try:
            sandboxed = await self._from_standby(interpreter, spec)
            if sandboxed is not None:
                return sandboxed
            launch = self._inner.prepare(spec)
            try:
                zygote = self._zygote(interpreter)
                process = await zygote.spawn(self._request(spec, launch, zygote))
            except BaseException:
                launch.resources.release()
                raise
        except ZygoteUnavailable as exc:
            _log.warning("fork server failed, spawning instead: %s", exc)
            self._broken.add(interpreter)
            self._drop_standbys(interpreter)
            return await self._inner.spawn(spec)
        finally:
            self._refill(interpreter)
        return self._inner.started(spec, launch, process)

    def _request(self, spec: SandboxSpec, launch: Launch, zygote: ZygoteProcess) -> SpawnRequest:
        plan = launch.plan
        if zygote.template_built and zygote.template is not None:
            plan = self._inner.plan_on_template(plan, zygote.template)
        return SpawnRequest(
            environment=launch.environment,
            output_fd=spec.output_fd,
            channel_fd=spec.pass_fds[0],
            plan_json=plan.to_json(),
            waits_outside="pid" in plan.namespaces,
        )

    async def _from_standby(self, interpreter: str, spec: SandboxSpec) -> SandboxedProcess | None:
        """Hand the spec to a standby child that is alive and ready; None when there is none (one
        still joining its cgroups waits for the next start: it is not on this one's clock)."""
        waiting = self._standbys.get(interpreter, [])
        for standby in list(waiting):
            ready = standby.check_ready()
            if ready is None:
                waiting.remove(standby)
                standby.discard()
            elif ready:
                waiting.remove(standby)
                launch = self._inner.prepare(spec, ahead=standby.resources)  # releases them if it fails
                try:
                    zygote = self._zygote(interpreter)
                    await zygote.assign(standby.socket, standby.process, self._request(spec, launch, zygote))
                except ZygoteUnavailable:  # this standby died meanwhile; the zygote may be fine
                    launch.resources.release()
                    continue
                except BaseException:
                    launch.resources.release()
                    raise
                return self._inner.started(spec, launch, standby.process)
        return None

    def _refill(self, interpreter: str) -> None:
        running = self._refills.get(interpreter)
        if interpreter in self._broken or (running is not None and not running.done()):
            return
        if len(self._standbys.get(interpreter, [])) >= STANDBY_PER_RUNTIME:
            return
        self._refills[interpreter] = asyncio.get_running_loop().create_task(self._stand_by(interpreter))

    async def _stand_by(self, interpreter: str) -> None:
        while len(self._standbys.setdefault(interpreter, [])) < STANDBY_PER_RUNTIME:
            try:
                resources = self._inner.prepare_standby()
            except Exception as exc:  # no cgroups or uids to spare right now: start the normal way
                _log.debug("no standby for %s: %s", interpreter, exc)
                return
            try:
                process, private = await self._zygote(interpreter).stand_by(
                    resources.cgroup_procs, pid_namespace=self._inner.pid_namespace
                )
            except asyncio.CancelledError:
                resources.release()
                raise
            except Exception:  # the zygote is gone: the next spawn notices and falls back
                resources.release()
                return
            if interpreter in self._broken:
                _Standby(process, private, resources).discard()
                return
            self._standbys[interpreter].append(_Standby(process, private, resources))

    def _drop_standbys(self, interpreter: str) -> None:
        for standby in self._standbys.pop(interpreter, []):
            standby.discard()

    async def assign(self, sandboxed: SandboxedProcess, spec: SandboxSpec) -> Assignment:
        return await self._inner.assign(sandboxed, spec)

    def kill(self, sandboxed: SandboxedProcess) -> None:
        self._inner.kill(sandboxed)

    def release(self, sandboxed: SandboxedProcess) -> None:
        self._inner.release(sandboxed)

    def close(self) -> None:
        for task in self._refills.values():
            task.cancel()
        for interpreter in list(self._standbys):
            self._drop_standbys(interpreter)
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        self._inner.close()
