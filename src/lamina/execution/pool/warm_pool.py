"""Warm environments per function configuration, under a memory budget and a keep-alive policy.

An environment serves one invocation at a time. Environments are keyed by the configuration
revision they were started with, so a code or configuration change never reaches a warm
environment of the old revision; those are stopped.

Memory: an environment costs its function's MemorySize, reserved before the await that starts it
(concurrent starts cannot overshoot the budget) and given back when the pool stops it. A new one
that does not fit evicts idle environments, least recently used first across all functions; when
nothing idle is left, `acquire` raises `MemoryBudgetExhausted`, or with `wait=True` waits until an
environment is released or stopped.

Keep-alive: the policy says when an idle environment stops and when to pre-warm one; a tick every
`tick_seconds` stops expired environments and starts due pre-warms. Pre-warms use the latest
configuration the pool saw for that function version and only free memory: they never evict.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from lamina.domain.functions import FunctionConfig
from lamina.execution.backend import Backend
from lamina.execution.environment import EnvironmentState, ExecutionEnvironment
from lamina.execution.pool.budget import MemoryBudget, MemoryBudgetExhausted
from lamina.execution.pool.idle import IdleEnvironments, pool_key
from lamina.execution.pool.keep_alive import FunctionKey, KeepAlivePolicy

_log = logging.getLogger(__name__)


def function_key(config: FunctionConfig) -> FunctionKey:
    return (config.name, config.version)


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """What `GET /_lamina/health` reports; `used_mb` includes environments still starting."""

    budget_mb: int
    used_mb: int
    idle: int
    busy: int
    starting: int


@dataclass(frozen=True, slots=True)
class _Prewarm:
    at: float
    until: float
    config: FunctionConfig


class EnvironmentPool:
    def __init__(
        self,
        backend: Backend,
        policy: KeepAlivePolicy,
        budget: MemoryBudget,
        *,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` must be the clock of `ExecutionEnvironment.last_used` (monotonic time)."""
        self._backend = backend
        self._policy = policy
        self._budget = budget
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._idle = IdleEnvironments()
        self._all: set[ExecutionEnvironment] = set()
        # What each live environment is charged to the budget: its MemorySize while starting or busy
        # (it may use that much), its measured footprint while idle (forked environments share most
        # pages with their zygote, so idle ones cost a few MB, not MemorySize).
        self._charges: dict[ExecutionEnvironment, int] = {}
        self._starting: collections.Counter[FunctionKey] = collections.Counter()
        self._deadlines: dict[ExecutionEnvironment, float] = {}  # pre-warmed, not used yet
        self._prewarms: dict[FunctionKey, _Prewarm] = {}
        self._capacity_waiters: list[asyncio.Future[None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._prewarming: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    @property
    def policy(self) -> KeepAlivePolicy:
        return self._policy

    @property
    def environments(self) -> frozenset[ExecutionEnvironment]:
        return frozenset(self._all)

    def usage(self) -> PoolUsage:
        return PoolUsage(
            budget_mb=self._budget.total_mb,
            used_mb=self._budget.used_mb,
            idle=len(self._idle),
            busy=len(self._all) - len(self._idle),
            starting=sum(self._starting.values()),
        )

    # handing environments out and taking them back -------------------------------------------
    async def acquire(self, config: FunctionConfig, *, wait: bool = False) -> ExecutionEnvironment:
        """A warm idle environment of this exact configuration, or a newly started one.

        Raises MemoryBudgetExhausted when it does not fit and nothing idle can be evicted; with
        `wait`, waits for room instead (unless the function needs more than the whole budget).
        """
        arrived = self._clock()
        self._prewarms.pop(function_key(config), None)  # the next one is decided when this call ends
        while True:
            if self._closed:
                raise RuntimeError("pool is closed")
            environment = self._take_idle(config)
            if environment is not None:
                evicted = self._make_room(config.memory_size - self._charges[environment])
                if evicted is not None:
                    if evicted:
                        await asyncio.wait(evicted)
                    self._charges[environment] = config.memory_size
                    return self._hand_out(environment, arrived)
                self._idle.add(environment, self._charges[environment])  # it stays warm; no room yet
            evicted = self._make_room(config.memory_size)
            if evicted is not None:
                break
            exhausted = MemoryBudgetExhausted(config.memory_size, self._budget.used_mb, self._budget.total_mb)
            if not wait or exhausted.never_fits:
                raise exhausted
            await self._capacity_changed()
        environment = await self._start(config, evicted)
        self._all.add(environment)
        self._charges[environment] = config.memory_size
        return self._hand_out(environment, arrived)

    def release(self, environment: ExecutionEnvironment, current: FunctionConfig | None) -> None:
        """Return an environment after an invocation; `current` is the function's live config."""
        now = self._clock()
        key = function_key(environment.config)
        self._policy.record_completion(key, now)
        usable = (
            not self._closed
            and environment in self._all
            and environment.state is not EnvironmentState.STOPPED
            and current is not None
            and pool_key(current) == pool_key(environment.config)
        )
        if usable:
            environment.state = EnvironmentState.IDLE
            self._park(environment)
            self._notify_capacity()  # evictable now
        else:
            self._discard(environment)
        self._schedule_prewarm(key, current, now)

    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        """Stop idle environments of `name`: all of them without `keep`, else those of `keep`'s
        version that run another configuration (published versions are immutable: theirs stay)."""
        keep_key = pool_key(keep) if keep is not None else None
        stale = self._idle.remove_where(
            lambda key: key[0] == name and (keep is None or (key[1] == keep.version and key != keep_key))
        )
        for environment in stale:
            self._discard(environment)
        for key, prewarm in list(self._prewarms.items()):
            if key[0] != name:
                continue
            if keep is None:
                del self._prewarms[key]
            elif key[1] == keep.version:
                self._prewarms[key] = _Prewarm(prewarm.at, prewarm.until, keep)

    def _take_idle(self, config: FunctionConfig) -> ExecutionEnvironment | None:
        key = pool_key(config)
        while (environment := self._idle.pop_newest(key)) is not None:
            if environment.state is EnvironmentState.IDLE:
                return environment
            self._discard(environment)  # it died while idle
        return None

    def _hand_out(self, environment: ExecutionEnvironment, arrived: float) -> ExecutionEnvironment:
        environment.state = EnvironmentState.BUSY
        self._deadlines.pop(environment, None)
        self._policy.record_invocation(function_key(environment.config), arrived)
        return environment

    # memory ----------------------------------------------------------------------------------
    def _make_room(self, needed_mb: int) -> list[asyncio.Task[None]] | None:
        """Reserve `needed_mb`, evicting idle environments least recently used first; returns their
        stop tasks, or None (nothing evicted, nothing reserved) when even evicting all won't do."""
        if needed_mb > self._budget.available_mb + self._idle.memory_mb:
            return None
        evicted: list[asyncio.Task[None]] = []
        while not self._budget.try_reserve(needed_mb):
            victim = self._idle.pop_oldest()
            assert victim is not None, "idle memory covers the shortfall"
            evicted.append(self._discard(victim))
        return evicted

    async def _start(self, config: FunctionConfig, evicted: list[asyncio.Task[None]]) -> ExecutionEnvironment:
        """Start an environment whose memory is already reserved; gives it back on failure."""
        key = function_key(config)
        self._starting[key] += 1
        try:
            if evicted:  # the evicted processes are gone before the new one takes their memory
                await asyncio.wait(evicted)
            environment = await self._backend.start_environment(config)
        except BaseException:
            self._give_back(config.memory_size)
            raise
        finally:
            self._starting[key] -= 1
            if not self._starting[key]:
                del self._starting[key]
        if self._closed:  # the pool closed while this one was starting: nobody would stop it
            await environment.stop()
            self._give_back(config.memory_size)
            raise RuntimeError("pool is closed")
        return environment

    def _discard(self, environment: ExecutionEnvironment) -> asyncio.Task[None]:
        """Stop an environment (already out of the idle set) in the background; its memory is
        given back now, once, if the pool still counted it."""
        if environment in self._all:
            self._all.discard(environment)
            self._give_back(self._charges.pop(environment, environment.config.memory_size))
        self._deadlines.pop(environment, None)
        task = asyncio.get_running_loop().create_task(environment.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        return task

    def _park(self, environment: ExecutionEnvironment) -> None:
        """Make an environment idle, charging it its measured footprint instead of MemorySize: the peak
        REPORT just read (an upper bound of what it holds now), else what it holds."""
        charged = self._charges.get(environment, environment.config.memory_size)
        measured = environment.last_peak_mb or environment.resident_memory_mb()
        footprint = min(charged, max(1, measured))
        if footprint < charged:
            self._budget.release(charged - footprint)
        self._charges[environment] = footprint
        self._idle.add(environment, footprint)

    def _give_back(self, mb: int) -> None:
        self._budget.release(mb)
        self._notify_capacity()

    async def _capacity_changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._capacity_waiters.append(waiter)
        await waiter

    def _notify_capacity(self) -> None:
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # keep-alive and pre-warming --------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            now = self._clock()
            self.reap_idle(now)
            self.start_due_prewarms(now)

    def _deadline(self, environment: ExecutionEnvironment) -> float:
        deadline = self._deadlines.get(environment)
        if deadline is not None:
            return deadline
        return self._policy.keep_alive_until(function_key(environment.config), environment.last_used)

    def reap_idle(self, now: float) -> None:
        """Stop idle environments whose keep-alive has passed (at `now >= deadline`) or that died."""
        for environment in self._idle:
            if environment.state is not EnvironmentState.IDLE or now >= self._deadline(environment):
                self._idle.remove(environment)
                self._discard(environment)

    def _schedule_prewarm(self, key: FunctionKey, current: FunctionConfig | None, last_end: float) -> None:
        at = self._policy.prewarm_at(key, last_end) if current is not None and not self._closed else None
        if at is None:
            self._prewarms.pop(key, None)
        else:
            assert current is not None
            self._prewarms[key] = _Prewarm(at, self._policy.prewarmed_until(key, last_end), current)

    def _has_environment(self, key: FunctionKey) -> bool:
        return key in self._starting or any(function_key(env.config) == key for env in self._all)

    def start_due_prewarms(self, now: float) -> None:
        """Start one environment for each function whose pre-warm time has come, if it has none
        and it fits in free memory."""
        for key, prewarm in list(self._prewarms.items()):
            if prewarm.at > now:
                continue
            del self._prewarms[key]
            if self._closed or now >= prewarm.until or self._has_environment(key):
                continue
            if not self._budget.try_reserve(prewarm.config.memory_size):
                continue
            task = asyncio.get_running_loop().create_task(self._prewarm(prewarm))
            self._prewarming.add(task)
            task.add_done_callback(self._prewarming.discard)

    async def _prewarm(self, prewarm: _Prewarm) -> None:
        try:
            environment = await self._start(prewarm.config, [])
        except Exception as exc:
            _log.warning("pre-warming %s failed: %s", prewarm.config.name, exc)
            return
        self._all.add(environment)
        self._charges[environment] = prewarm.config.memory_size
        environment.state = EnvironmentState.IDLE
        self._deadlines[environment] = prewarm.until
        self._park(environment)
        self._notify_capacity()

    # shutdown --------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop every environment, busy ones included; used on server shutdown."""
        self._closed = True
        self._notify_capacity()  # waiters see the pool closed
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        environments = list(self._all)
        self._all.clear()
        self._charges.clear()
        self._idle.clear()
        self._deadlines.clear()
        self._prewarms.clear()
        await asyncio.gather(
            *(environment.stop() for environment in environments),
            *self._stopping,
            *self._prewarming,
            return_exceptions=True,
        )
