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

GPUs: a function that asks for them (domain/gpu_requests.py) gets a grant from the server's
allocator before its environment starts, held until it stops. When none is free, idle environments
holding GPUs (of any account) are stopped first; then the call is throttled (`GpusExhausted`, a kind
of MemoryBudgetExhausted) or, with `wait`, waits for a release.

Provisioned concurrency: `provision(config, n)` keeps n environments of a published version
started *and initialised* ahead of invocations. They are charged their full MemorySize (reserved
capacity, as AWS bills it), live outside the idle set (never evicted, never expired), are handed
out before any other environment of that version, and are replaced when one dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.domain.functions import FunctionConfig
from lamina.domain.gpu_requests import GpuRequest, gpu_request
from lamina.execution.backend import Backend
from lamina.execution.environment import EnvironmentState, ExecutionEnvironment
from lamina.execution.gpus.allocator import GpuAllocator, GpuGrant
from lamina.execution.pool.budget import GpusExhausted, MemoryBudget, MemoryBudgetExhausted
from lamina.execution.pool.idle import IdleCountChanged, IdleEnvironments, pool_key
from lamina.execution.pool.keep_alive import FunctionKey, KeepAlivePolicy

_log = logging.getLogger(__name__)
# With a budget several workers share, a wait for room looks again this often (see _capacity_changed).
_SHARED_BUDGET_RECHECK_SECONDS = 0.1
# A wait for a GPU looks again this often even if no release woke it (a grant of another process).
_GPU_RECHECK_SECONDS = 1.0


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
    provisioned: int = 0  # environments kept for provisioned concurrency (counted in idle/busy too)


@dataclass(frozen=True, slots=True)
class ProvisionedState:
    """Provisioned concurrency of one published version, as the Lambda API reports it."""

    requested: int
    allocated: int  # environments initialised and kept for this version (idle or busy)
    status: str  # IN_PROGRESS | READY | FAILED
    reason: str | None  # StatusReason when FAILED


@dataclass(eq=False, slots=True)
class _Provision:
    config: FunctionConfig
    requested: int
    environments: set[ExecutionEnvironment] = field(default_factory=set)  # initialised, pinned
    idle: list[ExecutionEnvironment] = field(default_factory=list)  # pinned and idle, newest last
    failure: str | None = None
    filler: asyncio.Task[None] | None = None

    def state(self) -> ProvisionedState:
        allocated = len(self.environments)
        if self.failure is not None:
            status = "FAILED"
        else:
            status = "READY" if allocated >= self.requested else "IN_PROGRESS"
        return ProvisionedState(self.requested, allocated, status, self.failure)


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
        idle_counts: IdleCountChanged | None = None,
        gpus: GpuAllocator | None = None,
    ) -> None:
        """`clock` must be the clock of `ExecutionEnvironment.last_used` (monotonic time);
        `idle_counts` is told how many environments of a configuration are idle after each change;
        `gpus`: the server's GPUs (None: functions asking for one are refused)."""
        self._backend = backend
        self._gpus = gpus
        if gpus is not None:
            gpus.add_evictor(self._evict_idle_gpu_holder)
        self._policy = policy
        self._budget = budget
        budget.join(self)
        self._tick_seconds = tick_seconds
        self._clock = clock
        self._idle = IdleEnvironments(idle_counts)
        self._all: set[ExecutionEnvironment] = set()
        self._live: collections.Counter[FunctionKey] = (
            collections.Counter()
        )  # of `_all`, per function version
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
        self._provisions: dict[FunctionKey, _Provision] = {}
        self._pinned: dict[ExecutionEnvironment, _Provision] = {}
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
        idle = len(self._idle) + sum(len(provision.idle) for provision in self._provisions.values())
        return PoolUsage(
            budget_mb=self._budget.total_mb,
            used_mb=self._budget.used_mb,
            idle=idle,
            busy=len(self._all) - idle,
            starting=sum(self._starting.values()),
            provisioned=len(self._pinned),
        )

    # handing environments out and taking them back -------------------------------------------
    async def acquire(self, config: FunctionConfig, *, wait: bool = False) -> ExecutionEnvironment:
        """A warm idle environment of this exact configuration, or a newly started one.

        Raises MemoryBudgetExhausted when it does not fit and nothing idle can be evicted; with
        `wait`, waits for room instead (unless the function needs more than the whole budget).
        """
        arrived = self._clock()
        self._prewarms.pop(function_key(config), None)  # the next one is decided when this call ends
        provisioned = self._take_provisioned(config)
        if provisioned is not None:
            return self._hand_out(provisioned, arrived)
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
            request = gpu_request(config.environment)
            if request is not None and not await self._gpu_room(request, wait):
                continue  # an idle environment or a GPU may be free now: look again
            evicted = self._make_room(config.memory_size)
            if evicted is not None:
                break
            if await self._budget.reclaim_elsewhere(config.memory_size):
                continue  # other workers stopped idle environments: try again
            exhausted = MemoryBudgetExhausted(config.memory_size, self._budget.used_mb, self._budget.total_mb)
            if not wait or exhausted.never_fits:
                raise exhausted
            await self._capacity_changed()
        environment = await self._start(config, evicted)
        return self._hand_out(environment, arrived)

    def release(self, environment: ExecutionEnvironment, current: FunctionConfig | None) -> None:
        """Return an environment after an invocation; `current` is the function's live config."""
        now = self._clock()
        key = function_key(environment.config)
        self._policy.record_completion(key, now)
        provision = self._pinned.get(environment)
        if provision is not None:
            self._release_pinned(environment, provision)
            return
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
            if environment.gpu_grant is not None and self._gpus is not None:
                self._gpus.notify()  # a caller waiting for a GPU takes it, or stops it
        else:
            self._discard(environment)
        self._schedule_prewarm(key, current, now)

    def retire(self, name: str, keep: FunctionConfig | None = None) -> None:
        """Stop idle environments of `name`: all of them without `keep`, else those of `keep`'s
        version that run another configuration (published versions are immutable: theirs stay)."""
        if keep is None:
            self.unprovision(name)
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

    def retire_version(self, name: str, version: str) -> None:
        """Stop the idle and provisioned environments of one deleted version."""
        self.unprovision(name, version)
        for environment in self._idle.remove_where(lambda key: key[0] == name and key[1] == version):
            self._discard(environment)
        for key in [key for key in self._prewarms if key[0] == name and key[1] == version]:
            del self._prewarms[key]

    def idle_count(self, config: FunctionConfig) -> int:
        """Idle environments of this exact configuration."""
        return self._idle.count(pool_key(config))

    def has_environment(self, config: FunctionConfig) -> bool:
        """Some environment of this function version is here: idle, busy or starting."""
        return self._has_environment(function_key(config))

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
        """Reserve `needed_mb`, evicting idle environments least recently used first (this pool's,
        then other accounts' pools'); returns their stop tasks, or None (nothing reserved) when even
        evicting all won't do. With --workers, another process may reserve what looked available
        while this one evicts: then what it evicted is gone, and still nothing is reserved."""
        budget = self._budget
        if needed_mb > budget.available_mb + self._idle.memory_mb + budget.idle_elsewhere_mb(self):
            return None
        evicted: list[asyncio.Task[None]] = []
        while not budget.try_reserve(needed_mb):
            victim = self._idle.pop_oldest()
            task = self._discard(victim) if victim is not None else budget.evict_elsewhere(self)
            if task is None:  # another worker took the room meanwhile
                return None
            evicted.append(task)
        return evicted

    # what other pools sharing the budget see (IdleHolder)
    @property
    def idle_memory_mb(self) -> int:
        return self._idle.memory_mb

    def evict_oldest_idle(self) -> asyncio.Task[None] | None:
        victim = self._idle.pop_oldest()
        return self._discard(victim) if victim is not None else None

    def capacity_freed(self) -> None:
        self._notify_capacity()

    async def _start(
        self, config: FunctionConfig, evicted: list[asyncio.Task[None]], *, provisioned: bool = False
    ) -> ExecutionEnvironment:
        """Start an environment whose memory is already reserved, and count it as the pool's,
        charged its MemorySize; gives the memory back on failure. A function that asks for GPUs
        gets them granted here, before any await, or GpusExhausted."""
        grant = self._grant_gpus(config)
        key = function_key(config)
        self._starting[key] += 1
        try:
            if evicted:  # the evicted processes are gone before the new one takes their memory
                await asyncio.wait(evicted)
            environment = await self._backend.start_environment(config, provisioned=provisioned, gpus=grant)
        except BaseException:
            self._give_back(config.memory_size)
            if grant is not None and self._gpus is not None:
                self._gpus.release(grant)
            raise
        finally:
            self._starting[key] -= 1
            if not self._starting[key]:
                del self._starting[key]
        if self._closed:  # the pool closed while this one was starting: nobody would stop it
            await environment.stop()
            self._give_back(config.memory_size)
            raise RuntimeError("pool is closed")
        self._all.add(environment)
        self._live[function_key(environment.config)] += 1
        self._charges[environment] = config.memory_size
        return environment

    # GPUs ------------------------------------------------------------------------------------
    def _grant_gpus(self, config: FunctionConfig) -> GpuGrant | None:
        request = gpu_request(config.environment)
        if request is None:
            return None
        grant = self._gpus.try_grant(request) if self._gpus is not None else None
        if grant is None:
            self._give_back(config.memory_size)
            never = self._gpus is None or self._gpus.never_fits(request)
            raise GpusExhausted(request.describe(), never=never)
        return grant

    async def _gpu_room(self, request: GpuRequest, wait: bool) -> bool:
        """True when a grant for `request` is free now. Otherwise stops an idle environment holding
        GPUs (any account's) or, with `wait`, waits for a release, and answers False (look again);
        raises GpusExhausted when neither can help."""
        gpus = self._gpus
        if gpus is not None and gpus.can_grant(request):
            return True
        if gpus is None or gpus.never_fits(request):
            raise GpusExhausted(request.describe(), never=True)
        stopping = gpus.evict_idle_holder()
        if stopping is not None:
            await stopping
            return False
        if not wait:
            raise GpusExhausted(request.describe(), never=False)
        await gpus.released(_GPU_RECHECK_SECONDS)
        if self._closed:
            raise RuntimeError("pool is closed")
        return False

    def _evict_idle_gpu_holder(self) -> asyncio.Task[None] | None:
        victim = self._idle.pop_oldest_where(lambda environment: environment.gpu_grant is not None)
        return self._discard(victim) if victim is not None else None

    def _discard(self, environment: ExecutionEnvironment) -> asyncio.Task[None]:
        """Stop an environment (already out of the idle set) in the background; its memory is
        given back now, once, if the pool still counted it."""
        if environment in self._all:
            self._all.discard(environment)
            key = function_key(environment.config)
            self._live[key] -= 1
            if not self._live[key]:
                del self._live[key]
            self._give_back(self._charges.pop(environment, environment.config.memory_size))
        self._deadlines.pop(environment, None)
        task = asyncio.get_running_loop().create_task(environment.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        grant, gpus = environment.gpu_grant, self._gpus
        if grant is not None and gpus is not None:  # the devices are free once its processes are gone
            task.add_done_callback(lambda _: gpus.release(grant))
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
        self._budget.publish_idle()

    def _give_back(self, mb: int) -> None:
        self._budget.release(mb)
        self._notify_capacity()
        self._budget.announce_freed(self)

    async def _capacity_changed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._capacity_waiters.append(waiter)
        if self._budget.shared:  # memory other workers give back wakes nobody here: look again soon
            await asyncio.wait([waiter], timeout=_SHARED_BUDGET_RECHECK_SECONDS)
        else:
            await waiter

    def _notify_capacity(self) -> None:
        waiters, self._capacity_waiters = self._capacity_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # provisioned concurrency -----------------------------------------------------------------
    def provision(self, config: FunctionConfig, count: int) -> None:
        """Keep `count` initialised environments of this published version (replacing any earlier
        count); returns at once, the environments start in the background."""
        key = function_key(config)
        if count <= 0:
            self.unprovision(config.name, config.version)
            return
        provision = self._provisions.get(key)
        if provision is None:
            provision = self._provisions[key] = _Provision(config, count)
        provision.config, provision.requested, provision.failure = config, count, None
        while len(provision.environments) > count and provision.idle:
            self._unpin(provision.idle.pop(0), stop=True)
        for environment in list(provision.environments)[: max(0, len(provision.environments) - count)]:
            self._unpin(environment, stop=False)  # busy: it joins the ordinary pool when released
        self._fill(provision)

    def unprovision(self, name: str, version: str | None = None) -> None:
        """Drop the provisioned environments of one version, or of every version of `name`."""
        for key in [key for key in self._provisions if key[0] == name and version in (None, key[1])]:
            provision = self._provisions.pop(key)
            if provision.filler is not None:
                provision.filler.cancel()
            for environment in list(provision.environments):
                self._unpin(environment, stop=environment in provision.idle)

    def provisioned_state(self, name: str, version: str) -> ProvisionedState | None:
        provision = self._provisions.get((name, version))
        return None if provision is None else provision.state()

    def _take_provisioned(self, config: FunctionConfig) -> ExecutionEnvironment | None:
        provision = self._provisions.get(function_key(config))
        if provision is None or pool_key(provision.config) != pool_key(config):
            return None
        while provision.idle:
            environment = provision.idle.pop()
            if environment.state is EnvironmentState.IDLE:
                return environment
            self._unpin(environment, stop=True)  # it died while idle
            self._fill(provision)
        return None

    def _release_pinned(self, environment: ExecutionEnvironment, provision: _Provision) -> None:
        if self._closed or environment.state is EnvironmentState.STOPPED:
            self._unpin(environment, stop=True)
            self._fill(provision)  # replace it
            return
        environment.state = EnvironmentState.IDLE
        provision.idle.append(environment)

    def _unpin(self, environment: ExecutionEnvironment, *, stop: bool) -> None:
        provision = self._pinned.pop(environment, None)
        if provision is not None:
            provision.environments.discard(environment)
            if environment in provision.idle:
                provision.idle.remove(environment)
        if stop:
            self._discard(environment)

    def _fill(self, provision: _Provision) -> None:
        if self._closed or (provision.filler is not None and not provision.filler.done()):
            return
        provision.filler = asyncio.get_running_loop().create_task(self._fill_until_ready(provision))

    async def _fill_until_ready(self, provision: _Provision) -> None:
        """Start and initialise environments one at a time until the provision has its count."""
        while (
            not self._closed
            and self._provisions.get(function_key(provision.config)) is provision
            and len(provision.environments) < provision.requested
        ):
            config = provision.config
            evicted = self._make_room(config.memory_size)
            if evicted is None:
                provision.failure = (
                    f"The memory budget cannot hold {provision.requested} environments of "
                    f"{config.memory_size} MB ({self._budget.used_mb} of {self._budget.total_mb} MB in use)"
                )
                return
            try:
                environment = await self._start(config, evicted, provisioned=True)
            except Exception as exc:
                provision.failure = f"Environment failed to start: {exc}"
                return
            try:
                failure = await environment.initialize()
            except BaseException:  # unprovisioned or closed meanwhile
                self._discard(environment)
                raise
            if failure is not None:
                self._discard(environment)
                provision.failure = f"Function failed to initialize: {failure}"
                return
            if self._closed or self._provisions.get(function_key(config)) is not provision:
                self._discard(environment)
                return
            environment.state = EnvironmentState.IDLE
            self._pinned[environment] = provision
            provision.environments.add(environment)
            provision.idle.append(environment)

    def _check_provisioned(self) -> None:
        """Replace provisioned environments that died while idle, or whose credentials expire soon."""
        for provision in list(self._provisions.values()):
            dead = [
                env
                for env in provision.idle
                if env.state is not EnvironmentState.IDLE or _credentials_expiring(env)
            ]
            for environment in dead:
                self._unpin(environment, stop=True)
            if dead or (len(provision.environments) < provision.requested and provision.failure is None):
                self._fill(provision)

    # keep-alive and pre-warming --------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            now = self._clock()
            self.reap_idle(now)
            self.start_due_prewarms(now)
            self._check_provisioned()
            self._budget.publish_idle()  # what was taken or stopped since

    def _deadline(self, environment: ExecutionEnvironment) -> float:
        deadline = self._deadlines.get(environment)
        if deadline is not None:
            return deadline
        return self._policy.keep_alive_until(function_key(environment.config), environment.last_used)

    def reap_idle(self, now: float) -> None:
        """Stop idle environments whose keep-alive has passed (at `now >= deadline`), that died, or
        whose role credentials are about to expire (the next start gets fresh ones)."""
        for environment in self._idle:
            if (
                environment.state is not EnvironmentState.IDLE
                or now >= self._deadline(environment)
                or _credentials_expiring(environment)
            ):
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
        return key in self._starting or key in self._live

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
        environment.state = EnvironmentState.IDLE
        self._deadlines[environment] = prewarm.until
        self._park(environment)
        self._notify_capacity()

    # shutdown --------------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop every environment, busy ones included; used on server shutdown."""
        self._closed = True
        self._budget.leave(self)
        self._notify_capacity()  # waiters see the pool closed
        fillers = [p.filler for p in self._provisions.values() if p.filler is not None]
        for filler in fillers:
            filler.cancel()
        self._provisions.clear()
        self._pinned.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        environments = list(self._all)
        self._all.clear()
        self._live.clear()
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
        if self._gpus is not None:
            for environment in environments:
                if environment.gpu_grant is not None:
                    self._gpus.release(environment.gpu_grant)


# Environments are replaced this long before their role credentials expire.
CREDENTIAL_REFRESH_MARGIN_SECONDS = 900.0


def _credentials_expiring(environment: ExecutionEnvironment) -> bool:
    expires = environment.credentials_expire_at
    return expires is not None and expires - time.time() < CREDENTIAL_REFRESH_MARGIN_SECONDS
