"""A node of `lamina server --cluster`: the composition root of what runs there, and its Ray actor.

One `NodeAgent` actor per Ray node owns that node's sandbox, fork servers and warm environments
(a pool per account and region, as a server has). The gateway sends it invocations with everything
they need: the function's configuration, the links to download its code from the gateway, and its
execution role's credentials. The agent answers each with the result and the log lines the
invocation wrote, which the gateway stores: metrics, billing, logs and limits stay the gateway's.
Environments stay sandboxed processes of this node, never Ray workers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from lamina.cluster.node_io import (
    CollectingLogStore,
    Credentials,
    DownloadedBlobs,
    NodeSpec,
    RunAnswer,
    RunRequest,
)
from lamina.domain.functions import FunctionConfig
from lamina.errors import service_error
from lamina.execution.backend import LocalBackend
from lamina.execution.code_cache import CodeCache
from lamina.execution.environment import (
    EnvironmentContext,
    EnvironmentGone,
)
from lamina.execution.gpus.allocator import GpuAllocator
from lamina.execution.gpus.discovery import discover_gpus
from lamina.execution.pool import EnvironmentPool, MemoryBudget, MemoryBudgetExhausted
from lamina.execution.pool.budget import GpusExhausted, default_memory_budget_mb
from lamina.execution.pool.keep_alive import build_keep_alive_policy
from lamina.server import ExecutionHost, execution_host

# A runtime that exits before taking the invocation: tried in this many environments.
_GONE_ATTEMPTS = 3


class Node:
    """The execution side of one node: pools per account and region over one host."""

    def __init__(
        self, spec: NodeSpec, host: ExecutionHost, budget_mb: int, gpus: GpuAllocator | None = None
    ) -> None:
        """`gpus`: this node's own GPUs (each node finds its own)."""
        self.spec = spec
        self.gpus = gpus
        self._host = host
        self._logs: dict[tuple[str, str], CollectingLogStore] = {}
        self._blobs = DownloadedBlobs()
        self._code = CodeCache(host.settings.code_cache_dir, self._blobs)
        self.budget = MemoryBudget(budget_mb)
        self._pools: dict[tuple[str, str], EnvironmentPool] = {}
        self._credentials: dict[tuple[str, str, str], Credentials] = {}

    def pool(self, account_id: str, region: str) -> EnvironmentPool:
        key = (account_id, region)
        found = self._pools.get(key)
        if found is not None:
            return found
        settings = self._host.settings

        async def credentials(config: FunctionConfig) -> Credentials:
            return self._credentials.get(
                (account_id, region, config.name), ({"AWS_ENDPOINT_URL": self.spec.gateway_url}, None)
            )

        logs = self._logs[key] = CollectingLogStore()
        context = EnvironmentContext(
            sandbox=self._host.sandbox,
            log_store=logs,
            region=region,
            account_id=account_id,
            sdk_library=self._host.sdk_library,
            node_sdk_library=self._host.node_sdk_library,
            scratch_root=settings.environments_dir,
            credentials=credentials,
            gpus=self.gpus,
            gpu_device_dir=settings.gpu_device_dir,
        )
        pool = self._pools[key] = EnvironmentPool(
            LocalBackend(self._host.runtimes, self._code, context),
            build_keep_alive_policy(settings.keep_alive_policy, settings.keep_alive_seconds),
            self.budget,
            tick_seconds=max(0.05, min(5.0, settings.keep_alive_seconds / 4)),
            gpus=self.gpus,
        )
        pool.start()
        return pool

    async def run(self, run: RunRequest) -> RunAnswer:
        self._blobs.links.update(run.code_links)
        self._credentials[(run.account_id, run.region, run.config.name)] = run.credentials
        pool = self.pool(run.account_id, run.region)
        config = run.config
        for _ in range(_GONE_ATTEMPTS):
            try:
                environment = await pool.acquire(config)
            except GpusExhausted as exhausted:  # the gateway may try another node
                return RunAnswer(None, [], config.log_group_name, "", 0, error=f"gpus: {exhausted}")
            except MemoryBudgetExhausted as exhausted:
                return RunAnswer(None, [], config.log_group_name, "", 0, error=f"memory: {exhausted}")
            try:
                result = await environment.invoke(run.request)
            except EnvironmentGone:
                pool.release(environment, config)
                continue
            except BaseException:
                pool.release(environment, config)
                raise
            pool.release(environment, config)
            stream = environment.log_stream
            return RunAnswer(
                result,
                self._logs[(run.account_id, run.region)].take(config.log_group_name, stream),
                config.log_group_name,
                stream,
                pool.idle_count(config),
            )
        return RunAnswer(None, [], config.log_group_name, "", 0, error="gone")

    def take_logs(self) -> list[tuple[str, str, str, str, list[tuple[int, str]]]]:
        """Every line no answer carried: (account, region, group, stream, events)."""
        return [
            (account_id, region, group, stream, events)
            for (account_id, region), logs in self._logs.items()
            for group, stream, events in logs.take_all()
        ]

    def state(self) -> dict[str, Any]:
        usages = [pool.usage() for pool in self._pools.values()]
        return {
            "environments": sum(len(pool.environments) for pool in self._pools.values()),
            "idleEnvironments": sum(usage.idle for usage in usages),
            "busyEnvironments": sum(usage.busy + usage.starting for usage in usages),
            "memoryUsedMb": self.budget.used_mb,
            "memoryBudgetMb": self.budget.total_mb,
            "gpus": self.gpus.health() if self.gpus is not None else {"count": 0, "devices": []},
        }

    async def close(self) -> None:
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))
        self._host.sandbox.close()  # and the tier under it (its uid claim, cgroups)
        # The node's own data (code it downloaded, environments' scratch): nothing to keep.
        await asyncio.to_thread(shutil.rmtree, self._host.settings.data_dir, True)


async def start_node(spec: NodeSpec, node_id: str) -> Node:
    """This node's execution host, in a data directory of its own (nothing of the gateway's)."""
    parent = Path(os.environ.get("LAMINA_NODE_ROOT", "/tmp"))
    await asyncio.to_thread(_remove_dead_agents_folders, parent)
    root = parent / f"lamina-node-{node_id[:16]}-{os.getpid()}"
    settings = replace(
        spec.settings,
        data_dir=root,
        sandbox_uids_explicit=False,
        workers=1,
        # A node's own GPUs: where its nvidia-smi and device nodes are may differ from the gateway's.
        nvidia_smi=os.environ.get("LAMINA_NVIDIA_SMI") or spec.settings.nvidia_smi,
        gpu_device_dir=Path(os.environ.get("LAMINA_GPU_DEVICES") or spec.settings.gpu_device_dir),
    )
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    host = await asyncio.to_thread(execution_host, settings)
    budget = settings.memory_budget_mb or default_memory_budget_mb(settings.memory_budget_share)
    inventory = await asyncio.to_thread(
        discover_gpus, enabled=settings.gpus == "auto", nvidia_smi=settings.nvidia_smi
    )
    node = Node(spec, host, budget, GpuAllocator(inventory))
    if settings.start_method == "zygote":
        interpreters = list(
            dict.fromkeys(
                runtime.interpreter
                for runtime in host.runtimes.values()
                if runtime.language == "python" and runtime.interpreter is not None
            )
        )
        await host.sandbox.warm_up(interpreters)
    return node


class NodeAgent:
    """The Ray actor (made with `ray.remote` by the gateway, one per node, pinned there)."""

    def __init__(self) -> None:
        self._node: Node | None = None

    async def start(self, spec: NodeSpec) -> dict[str, Any]:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        self._node = await start_node(spec, node_id)
        gpus = self._node.gpus.inventory.memory_mb if self._node.gpus is not None else []
        return {"nodeId": node_id, "address": _address(), "pid": os.getpid(), "gpus": gpus}

    async def run(self, run: RunRequest) -> RunAnswer:
        if self._node is None:
            raise service_error("this node's agent has not started")
        return await self._node.run(run)

    async def state(self) -> dict[str, Any]:
        return self._node.state() if self._node is not None else {}

    async def drain(self) -> list[tuple[str, str, str, str, list[tuple[int, str]]]]:
        """Log lines written outside any invocation's answer (late output): the gateway stores them."""
        return self._node.take_logs() if self._node is not None else []

    async def watch(self) -> None:
        """Never returns: the gateway awaits it, and learns of this actor's death when it raises."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        if self._node is not None:
            await self._node.close()
            self._node = None


def _remove_dead_agents_folders(parent: Path) -> None:
    """Folders of agents that were killed (their pid ends the name) before they could clean up."""
    for folder in parent.glob("lamina-node-*-*"):
        pid = folder.name.rsplit("-", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _address() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:
        return socket.gethostname()
