"""Backends start execution environments somewhere. `LocalBackend`: processes on this host.

A multi-node backend (Ray agents wrapping this same local manager) implements the same
interface later; placement and concurrency stay outside it.
"""

from __future__ import annotations

from typing import Protocol

from lamina.domain.functions import FunctionConfig
from lamina.errors import service_error
from lamina.execution.code_cache import CodeCache
from lamina.execution.environment import ON_DEMAND, PROVISIONED, EnvironmentContext, ExecutionEnvironment
from lamina.execution.gpus.allocator import GpuGrant
from lamina.execution.runtimes.catalog import RuntimeSpec


class Backend(Protocol):
    """Contract: `start_environment` returns a started (spawned, maybe still initialising)
    environment or raises; the caller owns it and must `stop()` it."""

    async def start_environment(
        self, config: FunctionConfig, *, provisioned: bool = False, gpus: GpuGrant | None = None
    ) -> ExecutionEnvironment:
        """`gpus`: the devices granted to it, for its whole life."""
        ...


class LocalBackend:
    def __init__(
        self, runtimes: dict[str, RuntimeSpec], code: CodeCache, context: EnvironmentContext
    ) -> None:
        self._runtimes = runtimes
        self._code = code
        self._context = context

    async def start_environment(
        self, config: FunctionConfig, *, provisioned: bool = False, gpus: GpuGrant | None = None
    ) -> ExecutionEnvironment:
        runtime = self._runtimes.get(config.runtime)
        if runtime is None:
            raise service_error(f"Runtime {config.runtime} is no longer available on this host")
        layers = [layer.content.sha256_hex for layer in config.layers]
        # Held until the pool counts the environment (no await between our return and that).
        with self._code.holding(config.code.sha256_hex, layers):
            code_path = await self._code.ensure(config.code.sha256_hex)
            layers_path = await self._code.layers(layers)
            environment = ExecutionEnvironment(
                config,
                runtime,
                code_path,
                self._context,
                layers_path,
                PROVISIONED if provisioned else ON_DEMAND,
                gpus,
            )
            await environment.start()
        return environment
