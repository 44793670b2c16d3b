"""An in-memory Backend for pool tests: environments that record their stops, starts that a test
can hold behind a gate or make fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.domain.code import CodeDigest
from lamina.domain.functions import FunctionConfig
from lamina.domain.reports import Report
from lamina.execution.environment import EnvironmentState, InvocationRequest, InvocationResult
from lamina.execution.gpus.allocator import GpuGrant

CODE = CodeDigest("ef" * 32, "7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+8=", 10)


@dataclass(eq=False)
class FakeEnvironment:
    """Duck-types ExecutionEnvironment: what the pool touches, with stop() calls recorded."""

    config: FunctionConfig
    label: str
    state: EnvironmentState = EnvironmentState.STARTING
    last_used: float = field(default_factory=time.monotonic)
    stop_calls: int = 0
    hold: asyncio.Event | None = None  # invocations wait for it when set
    payloads: list[bytes] = field(default_factory=list)
    fails: bool = False  # invocations end with a function error (payload echoed as the error)
    credentials_expire_at: float | None = None  # wall clock; the pool replaces it before then
    gpu_grant: GpuGrant | None = None  # what the pool granted it

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Echo the payload back, once `hold` (if any) opens."""
        self.payloads.append(request.payload)
        if self.hold is not None:
            await self.hold.wait()
        self.last_used = time.monotonic()
        report = Report(request.request_id, 1.0, self.config.memory_size, 1)
        error = "Unhandled" if self.fails else None
        return InvocationResult(
            request.payload, error, "Error" if self.fails else None, self.config.version, [], report
        )

    resident_mb: int | None = None  # what resident_memory_mb() reports; None: the whole MemorySize
    last_peak_mb: int = 0  # REPORT's peak at the last invocation; 0: never invoked

    init_failure: str | None = None  # what initialize() reports
    initialized: bool = False

    def resident_memory_mb(self) -> int:
        return self.config.memory_size if self.resident_mb is None else self.resident_mb

    async def initialize(self) -> str | None:
        await asyncio.sleep(0)
        if self.init_failure is not None:
            self.state = EnvironmentState.STOPPED
            return self.init_failure
        self.initialized = True
        return None

    async def stop(self) -> None:
        self.stop_calls += 1
        self.state = EnvironmentState.STOPPED

    def __repr__(self) -> str:
        return f"<env {self.label} {self.state.name}>"


class FakeBackend:
    """Starts FakeEnvironments. `gate`, when set, holds every start until it is opened; `fail`,
    when set, makes starts raise it (after the gate)."""

    def __init__(self) -> None:
        self.started: list[FakeEnvironment] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None
        self.waiting = 0  # starts held at the gate right now
        self.hold: asyncio.Event | None = None  # handed to new environments: holds their invocations
        self.resident_mb: int | None = None  # handed to new environments: their measured footprint
        self.init_failure: str | None = None  # handed to new environments: initialize() fails with it
        self.failing: set[str] = set()  # functions whose invocations end with a function error

    async def start_environment(
        self, config: FunctionConfig, *, provisioned: bool = False, gpus: GpuGrant | None = None
    ) -> FakeEnvironment:
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        if self.fail is not None:
            raise self.fail
        environment = FakeEnvironment(
            config,
            label=f"{config.name}#{len(self.started)}",
            hold=self.hold,
            resident_mb=self.resident_mb,
            init_failure=self.init_failure,
            fails=config.name in self.failing,
            gpu_grant=gpus,
        )
        self.started.append(environment)
        return environment


def function(name: str = "f", version: str = "$LATEST", memory_size: int = 128) -> FunctionConfig:
    return FunctionConfig(
        name, "python3.12", "app.handler", "role", CODE, version=version, memory_size=memory_size
    )


async def settle() -> None:
    """Let the pool's background tasks (stops, pre-warms) run."""
    for _ in range(5):
        await asyncio.sleep(0)


def stopped(environments: list[FakeEnvironment]) -> list[str]:
    return [environment.label for environment in environments if environment.stop_calls]


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until `condition` holds (no clocks: a bounded number of turns)."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
