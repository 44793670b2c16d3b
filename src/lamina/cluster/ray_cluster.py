"""The gateway's side of `lamina server --cluster ADDRESS`: agents on Ray nodes, and placement.

Ray is the cluster manager: it knows the nodes, places one `NodeAgent` actor on each (pinned with a
node-affinity strategy), restarts nothing by itself, and tells the gateway when an actor dies (a
call that never returns, `watch`, raises at once). The gateway keeps limits, metrics, billing and
logs; an invocation goes to an agent that has an idle environment of its configuration (as each
answer reports), else to the agent with the fewest invocations in flight, and comes back with the
log lines it wrote. A dead agent's in-flight synchronous invocations fail with ServiceException
(500), as AWS fails calls its service could not complete; asynchronous ones are retried by the
primary's queue, which still holds them. Nodes without an agent (a new node, one whose agent
died) get one within `WATCH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.api.code_urls import URL_LIFETIME_SECONDS
from lamina.cluster.node_io import Credentials, NodeSpec, RunAnswer, RunRequest
from lamina.config import Settings
from lamina.domain.functions import FunctionConfig
from lamina.domain.gpu_requests import GpuRequest, fits_on, gpu_request
from lamina.errors import service_error, too_many_requests
from lamina.execution.environment import InvocationRequest, InvocationResult

_log = logging.getLogger(__name__)
WATCH_SECONDS = 1.0
AGENT_START_SECONDS = 180.0
# Execution-role credentials handed to nodes are renewed when this little of them is left.
CREDENTIALS_MARGIN_SECONDS = 900.0
# Signed code links handed to nodes are renewed when this little of them is left.
LINK_MARGIN_SECONDS = 120.0

AppendLogs = Callable[[str, str, list[tuple[int, str]]], None]


@dataclass(slots=True)
class Agent:
    node_id: str
    handle: Any
    address: str = ""
    pid: int = 0
    in_flight: int = 0
    ready: bool = False
    gpus: list[int] = field(default_factory=list)  # the memory (MB) of each of its node's GPUs
    state: dict[str, Any] = field(default_factory=dict)
    watcher: asyncio.Task[None] | None = None


class RayCluster:
    def __init__(
        self,
        address: str,
        settings: Settings,
        agent_class: type,
        *,
        code_link: Callable[[str], str],
        credentials: Callable[[str, str, FunctionConfig], Awaitable[Credentials]],
    ) -> None:
        """`address`: what `ray.init(address=...)` takes, or "local" for a private Ray instance;
        `code_link(sha)`: a signed link to a code package; `credentials(account, region,
        config)`: a new environment's execution-role variables; `agent_class`: lamina/node.py's
        NodeAgent (made a Ray actor here)."""
        self._agent_class = agent_class
        self._address = address
        self._settings = settings
        self._code_link = code_link
        self._credentials = credentials
        self.agents: dict[str, Agent] = {}
        self._idle: dict[tuple[str, str, str, str, str], dict[str, int]] = {}
        self._links: dict[str, tuple[str, float]] = {}
        self._granted: dict[tuple[str, str, str, str], Credentials] = {}
        self._remote_agent: Any = None
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Join (or start) Ray, then start an agent on every node; returns once all serve."""
        import ray

        def connect() -> None:
            if self._address == "local":
                # "local" (not no address): a private instance, never a cluster another process on
                # this machine started and advertised in Ray's temporary folder.
                ray.init(
                    address="local", include_dashboard=False, log_to_driver=False, configure_logging=False
                )
            else:
                ray.init(address=self._address, log_to_driver=False, configure_logging=False)

        # Ray's core installs its own SIGTERM and SIGINT handlers (which end the process at once);
        # the server's own, which stop environments first, are put back.
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        await asyncio.to_thread(connect)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        make_actor: Any = ray.remote
        self._remote_agent = make_actor(num_cpus=0, max_concurrency=100_000, max_restarts=0)(
            self._agent_class
        )
        await self._place_agents()
        pending = [agent for agent in self.agents.values() if not agent.ready]
        deadline = time.monotonic() + AGENT_START_SECONDS
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            pending = [agent for agent in self.agents.values() if not agent.ready]
        if not self.agents:
            raise RuntimeError("the Ray cluster has no node to run functions on")
        self._watcher = asyncio.get_running_loop().create_task(self._watch_nodes())

    async def _place_agents(self) -> None:
        """An agent on every live node that has none."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = await asyncio.to_thread(ray.nodes)
        alive = {node["NodeID"] for node in nodes if node.get("Alive")}
        for node_id in alive - set(self.agents):
            handle = self._remote_agent.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
            ).remote()
            agent = self.agents[node_id] = Agent(node_id, handle)
            spec = NodeSpec(self._settings, self._settings.endpoint_url)
            agent.watcher = asyncio.get_running_loop().create_task(self._run_agent(agent, spec))
        for node_id in set(self.agents) - alive:
            self._forget(self.agents[node_id], "its node left the cluster")

    async def _run_agent(self, agent: Agent, spec: Any) -> None:
        """Start the agent, then wait on it: its death ends the wait with an error."""
        try:
            identity = await agent.handle.start.remote(spec)
            agent.address, agent.pid = identity["address"], identity["pid"]
            agent.gpus = list(identity.get("gpus", []))
            agent.ready = True
            _log.info(
                "cluster: agent on node %s (%s, pid %d) serves", agent.node_id[:8], agent.address, agent.pid
            )
            await agent.handle.watch.remote()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._forget(agent, f"{type(error).__name__}: {error}")

    def _forget(self, agent: Agent, why: str) -> None:
        if self.agents.get(agent.node_id) is agent:
            del self.agents[agent.node_id]
            for holders in self._idle.values():
                holders.pop(agent.node_id, None)
            if not self._closed:
                _log.warning("cluster: the agent on node %s is gone (%s)", agent.node_id[:8], why)

    async def _watch_nodes(self) -> None:
        while not self._closed:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self._place_agents()
            except Exception:
                _log.exception("cluster: checking the nodes failed")

    async def close(self) -> None:
        import ray

        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
        for agent in list(self.agents.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(agent.handle.stop.remote(), 30)
            if agent.watcher is not None:
                agent.watcher.cancel()
        self.agents.clear()
        await asyncio.to_thread(ray.shutdown)

    # invocations -----------------------------------------------------------------------------------
    async def run(
        self,
        account_id: str,
        region: str,
        config: FunctionConfig,
        request: InvocationRequest,
        append: AppendLogs,
    ) -> InvocationResult:
        """Run one invocation on the best agent; its log lines are appended (`append`) before the
        result returns. Raises ServiceException when its agent dies, TooManyRequests when no node
        has room. A GPU function goes only to nodes whose GPUs could meet it, the next one tried
        when one has them all held."""
        key = (account_id, region, config.name, config.version, config.runs_revision)
        wants = gpu_request(config.environment)
        if wants is None:
            answer = await self._run_on(self._pick(key), account_id, region, config, request)
        else:
            candidates = self._gpu_candidates(key, wants)
            if not candidates:
                raise too_many_requests(
                    f"Rate Exceeded. No node of the cluster has GPUs that could meet {wants.describe()} now.",
                    "ConcurrentInvocationLimitExceeded",
                )
            for agent in candidates:
                answer = await self._run_on(agent, account_id, region, config, request)
                if not str(answer.error).startswith("gpus: "):
                    break
        if answer.log_lines:
            append(answer.log_group, answer.log_stream, answer.log_lines)
        if answer.result is None:
            if str(answer.error).startswith(("memory: ", "gpus: ")):
                reason = str(answer.error).split(": ", 1)[1]
                raise too_many_requests(
                    f"Rate Exceeded. The function {reason}.", "ConcurrentInvocationLimitExceeded"
                )
            raise service_error(
                "The function's execution environments exited before they could take the invocation"
            )
        result: InvocationResult = answer.result
        return result

    async def _run_on(
        self, agent: Agent, account_id: str, region: str, config: FunctionConfig, request: InvocationRequest
    ) -> RunAnswer:
        import ray

        key = (account_id, region, config.name, config.version, config.runs_revision)
        run = RunRequest(
            account_id,
            region,
            config,
            request,
            self._links_for(config),
            await self._credentials_for(account_id, region, config),
        )
        agent.in_flight += 1
        try:
            answer: RunAnswer = await agent.handle.run.remote(run)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as error:
            self._forget(agent, f"{type(error).__name__}")
            raise service_error(
                "The node running the invocation failed; the invocation did not complete."
            ) from None
        finally:
            agent.in_flight -= 1
        self._idle.setdefault(key, {})[agent.node_id] = answer.idle
        return answer

    def gpu_hosts(self) -> list[list[int]]:
        """The GPUs (memory in MB) of each node that serves now: what a GPU request is checked against."""
        return [list(agent.gpus) for agent in self.agents.values() if agent.ready]

    def _gpu_candidates(self, key: tuple[str, str, str, str, str], wants: GpuRequest) -> list[Agent]:
        """The ready agents whose GPUs could meet `wants`: those holding an idle environment of this
        configuration first (it holds its GPUs already), then the least busy."""
        able = [agent for agent in self.agents.values() if agent.ready and fits_on(wants, agent.gpus)]
        holders = self._idle.get(key, {})
        return sorted(able, key=lambda agent: (-holders.get(agent.node_id, 0), agent.in_flight))

    def _pick(self, key: tuple[str, str, str, str, str]) -> Agent:
        ready = [agent for agent in self.agents.values() if agent.ready]
        if not ready:
            raise service_error("No node of the cluster can run functions now.")
        holders = self._idle.get(key)
        if holders:
            for node_id, idle in sorted(holders.items(), key=lambda item: -item[1]):
                agent = self.agents.get(node_id)
                if idle > 0 and agent is not None and agent.ready:
                    holders[node_id] = idle - 1  # taken, until its answer says otherwise
                    return agent
        return min(ready, key=lambda agent: agent.in_flight)

    def _links_for(self, config: FunctionConfig) -> dict[str, str]:
        now = time.time()
        links: dict[str, str] = {}
        for sha in (config.code.sha256_hex, *(layer.content.sha256_hex for layer in config.layers)):
            known = self._links.get(sha)
            if known is None or known[1] - now < LINK_MARGIN_SECONDS:
                known = self._links[sha] = (self._code_link(sha), now + URL_LIFETIME_SECONDS)
            links[sha] = known[0]
        return links

    async def _credentials_for(self, account_id: str, region: str, config: FunctionConfig) -> Credentials:
        key = (account_id, region, config.name, config.role)
        granted = self._granted.get(key)
        if granted is None or (
            granted[1] is not None and granted[1] - time.time() < CREDENTIALS_MARGIN_SECONDS
        ):
            granted = self._granted[key] = await self._credentials(account_id, region, config)
        return granted

    # health -----------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        import ray

        nodes = await asyncio.to_thread(ray.nodes)
        agents = []
        for agent in list(self.agents.values()):
            if agent.ready:
                with contextlib.suppress(Exception):
                    agent.state = await asyncio.wait_for(agent.handle.state.remote(), 5)
            agents.append(
                {
                    "nodeId": agent.node_id,
                    "address": agent.address,
                    "pid": agent.pid,
                    "ready": agent.ready,
                    "inFlight": agent.in_flight,
                    **agent.state,
                }
            )
        return {
            "address": self._address,
            "nodes": [
                {
                    "nodeId": node["NodeID"],
                    "address": node.get("NodeManagerAddress"),
                    "alive": bool(node.get("Alive")),
                }
                for node in nodes
            ],
            "agents": agents,
        }

    async def drain_logs(self, append: Callable[[str, str, str, str, list[tuple[int, str]]], None]) -> None:
        """Lines nodes hold that no answer carried (late output): `append(account, region, group,
        stream, events)`."""
        for agent in list(self.agents.values()):
            if agent.ready:
                with contextlib.suppress(Exception):
                    for account_id, region, group, stream, events in await asyncio.wait_for(
                        agent.handle.drain.remote(), 5
                    ):
                        append(account_id, region, group, stream, events)
