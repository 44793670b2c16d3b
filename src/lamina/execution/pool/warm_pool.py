"""Idle warm environments per function configuration, reused most-recently-used first.

An environment serves one invocation at a time. Environments are keyed by the configuration
revision they were started with, so a code or configuration change never reaches a warm
environment of the old revision; those are stopped. Idle ones stop after the keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from lamina.domain.functions import FunctionConfig
from lamina.execution.backend import Backend
from lamina.execution.environment import EnvironmentState, ExecutionEnvironment

PoolKey = tuple[str, str, str]  # (function name, version, revision id)


def _key(config: FunctionConfig) -> PoolKey:
    return (config.name, config.version, config.revision_id)


class EnvironmentPool:
    def __init__(self, backend: Backend, keep_alive_seconds: float) -> None:
        self._backend = backend
        self._keep_alive = keep_alive_seconds
        self._idle: dict[PoolKey, list[ExecutionEnvironment]] = {}
        self._all: set[ExecutionEnvironment] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    @property
    def environments(self) -> frozenset[ExecutionEnvironment]:
        return frozenset(self._all)

    async def acquire(self, config: FunctionConfig) -> ExecutionEnvironment:
        """A warm idle environment of this exact configuration, or a newly started one."""
        idle = self._idle.get(_key(config))
        while idle:
            environment = idle.pop()
            if environment.state is EnvironmentState.IDLE:
                environment.state = EnvironmentState.BUSY
                return environment
        if self._closed:
            raise RuntimeError("pool is closed")
        environment = await self._backend.start_environment(config)
        if self._closed:  # the pool closed while this one was starting: nobody would stop it
            await environment.stop()
            raise RuntimeError("pool is closed")
        self._all.add(environment)
        environment.state = EnvironmentState.BUSY
        return environment

    def release(self, environment: ExecutionEnvironment, current: FunctionConfig | None) -> None:
        """Return an environment after an invocation; `current` is the function's live config."""
        usable = (
            not self._closed
            and environment.state is not EnvironmentState.STOPPED
            and current is not None
            and _key(current) == _key(environment.config)
        )
        if usable:
            environment.state = EnvironmentState.IDLE
            self._idle.setdefault(_key(environment.config), []).append(environment)
        else:
            self._discard(environment)

    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        """Stop idle environments of `name`: all of them without `keep`, else those of `keep`'s
        version that run another configuration (published versions are immutable: theirs stay)."""
        keep_key = _key(keep) if keep is not None else None
        stale = [
            key
            for key in self._idle
            if key[0] == name and (keep is None or (key[1] == keep.version and key != keep_key))
        ]
        for key in stale:
            for environment in self._idle.pop(key):
                self._discard(environment)

    def _discard(self, environment: ExecutionEnvironment) -> None:
        self._all.discard(environment)
        task = asyncio.get_running_loop().create_task(environment.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(5.0, self._keep_alive / 4))
        while True:
            await asyncio.sleep(interval)
            self.reap_idle(time.monotonic())

    def reap_idle(self, now: float) -> None:
        for key, environments in list(self._idle.items()):
            keep = [env for env in environments if now - env.last_used < self._keep_alive]
            for environment in environments:
                if environment not in keep:
                    self._discard(environment)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    async def close(self) -> None:
        """Stop every environment, busy ones included; used on server shutdown."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        environments = list(self._all)
        self._all.clear()
        self._idle.clear()
        await asyncio.gather(
            *(environment.stop() for environment in environments), *self._stopping, return_exceptions=True
        )
