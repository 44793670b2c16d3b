"""Node.js processes booted ahead of need: a cold start of a Node function skips Node's own start.

CPython environments fork from a warm interpreter (execution/zygote); Node cannot fork, so this pool
keeps, per Node runtime, a few runtime processes already started, confined and booted (the runtime
module loaded, the console patched), waiting on their framed channel for the environment they will
become. The sandbox spawns each from a spec of no function: its own uid and cgroups (at the largest
MemorySize), an empty /var/task and /opt, the default EphemeralStorage, a network namespace with the
network on. `Sandbox.assign` then narrows the limits, lets the uid into the function's code (and,
in the namespaces tier, mounts the code and layers into place), and the environment sends the
runtime its variables and working directory (execution/environment.py).

The pool for a runtime starts with that runtime's first cold start (a server that runs no Node
function keeps none) and is refilled after each use. Functions a standby cannot become (another
EphemeralStorage, the network off, variables Node reads at its start such as NODE_OPTIONS) start
the usual way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from lamina.execution.runtimes.catalog import RuntimeSpec
from lamina.execution.sandbox.base import Sandbox, SandboxedProcess, SandboxSpec
from lamina.execution.sandbox.network import EnvironmentNetwork, NetworkNamespaces
from lamina.execution.sandbox.process import STANDBY_MEMORY_MB

_log = logging.getLogger(__name__)
STANDBY_PER_RUNTIME = 1
# What a standby is confined with, and so what a function must ask for to become one.
STANDBY_EPHEMERAL_STORAGE_MB = 512
# Variables Node (or libuv) reads when it starts (NODE_OPTIONS's --require, NODE_EXTRA_CA_CERTS,
# UV_THREADPOOL_SIZE...): a function that sets one needs a process started with it.
STARTUP_VARIABLE_PREFIXES = ("NODE_", "UV_")


@dataclass(eq=False, slots=True)
class NodeStandby:
    """A booted Node runtime waiting for its environment. The taker owns all of it."""

    sandboxed: SandboxedProcess
    output_fd: int  # the read end of its stdout and stderr
    channel: socket.socket  # the server's end of its framed channel
    scratch: Path  # its HOME and TMPDIR (the process tier's; a tmpfs in the namespaces tier)
    exited: asyncio.Task[int]
    network: EnvironmentNetwork | None = None
    closed: bool = field(default=False)

    def discard(self, sandbox: Sandbox) -> None:
        """Kill it and free what it holds (its network too); idempotent."""
        if self.closed:
            return
        self.closed = True
        sandbox.kill(self.sandboxed)
        self.exited.add_done_callback(lambda _: sandbox.release(self.sandboxed))
        with contextlib.suppress(OSError):
            os.close(self.output_fd)
        self.channel.close()
        if self.network is not None:
            self.network.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class NodeStandbyPool:
    def __init__(
        self,
        sandbox: Sandbox,
        scratch_root: Path,
        *,
        networks: NetworkNamespaces | None = None,
        runtime_library: Path | None = None,
        per_runtime: int = STANDBY_PER_RUNTIME,
    ) -> None:
        self._sandbox = sandbox
        self._scratch_root = scratch_root
        self._networks = networks
        self._runtime_library = runtime_library
        self._per_runtime = per_runtime
        self._waiting: dict[str, list[NodeStandby]] = {}
        self._refills: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        # The empty folder a standby's /var/task and /opt start as (the namespaces tier).
        self._empty = scratch_root / "standby-empty"

    @property
    def waiting(self) -> int:
        return sum(len(standbys) for standbys in self._waiting.values())

    @property
    def starting(self) -> int:
        """Runtimes whose next standby is being started now."""
        return sum(1 for task in self._refills.values() if not task.done())

    def take(self, runtime: RuntimeSpec) -> NodeStandby | None:
        """A standby of `runtime` that is still alive, or None (then one is started for next time)."""
        if self._closed or runtime.interpreter is None:
            return None
        waiting = self._waiting.setdefault(runtime.name, [])
        taken = None
        while waiting:
            standby = waiting.pop(0)
            if standby.exited.done():
                standby.discard(self._sandbox)
                continue
            taken = standby
            break
        self._refill(runtime)
        return taken

    def _refill(self, runtime: RuntimeSpec) -> None:
        running = self._refills.get(runtime.name)
        if running is not None and not running.done():
            return
        if len(self._waiting.get(runtime.name, [])) >= self._per_runtime:
            return
        self._refills[runtime.name] = asyncio.get_running_loop().create_task(self._stand_by(runtime))

    async def _stand_by(self, runtime: RuntimeSpec) -> None:
        while not self._closed and len(self._waiting.setdefault(runtime.name, [])) < self._per_runtime:
            try:
                standby = await self._start(runtime)
            except Exception as error:  # no uid, cgroup or namespace to spare now: start the usual way
                _log.info("no Node.js standby for %s: %s", runtime.name, error)
                return
            if self._closed:
                standby.discard(self._sandbox)
                return
            self._waiting[runtime.name].append(standby)

    async def _start(self, runtime: RuntimeSpec) -> NodeStandby:
        assert runtime.interpreter is not None and runtime.bootstrap is not None
        name = f"standby-{secrets.token_hex(8)}"
        scratch = self._scratch_root / name
        scratch.mkdir(parents=True, mode=0o700)
        self._empty.mkdir(parents=True, exist_ok=True, mode=0o755)
        read_fd, write_fd = os.pipe()
        server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        network = None
        try:
            if self._networks is not None:
                network = await self._networks.acquire(network_on=True)
            spec = SandboxSpec(
                name=name,
                argv=[runtime.interpreter, str(runtime.bootstrap)],
                environment={
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                    "LAMINA_STANDBY": "1",
                    "LAMINA_RUNTIME_CHANNEL_FD": str(child_end.fileno()),
                    "HOME": str(scratch),
                    "TMPDIR": str(scratch),
                    "TZ": ":UTC",
                    "LANG": "en_US.UTF-8",
                },
                working_directory=scratch,
                output_fd=write_fd,
                memory_mb=STANDBY_MEMORY_MB,
                pass_fds=(child_end.fileno(),),
                interpreter=runtime.interpreter,
                task_root=self._empty,
                layers_root=self._empty,
                runtime_dir=runtime.runtime_dir,
                runtime_library=self._runtime_library,
                scratch_directory=scratch,
                ephemeral_storage_mb=STANDBY_EPHEMERAL_STORAGE_MB,
                network=True,
                network_namespace=network.path if network is not None else None,
            )
            sandboxed = await self._sandbox.spawn(spec)
        except BaseException:
            os.close(read_fd)
            server_end.close()
            if network is not None:
                network.close()
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        finally:
            os.close(write_fd)
            child_end.close()
        exited = asyncio.get_running_loop().create_task(sandboxed.process.wait())
        return NodeStandby(sandboxed, read_fd, server_end, scratch, exited, network)

    def close(self) -> None:
        """Kill every standby (server shutdown)."""
        self._closed = True
        for task in self._refills.values():
            task.cancel()
        for standbys in self._waiting.values():
            for standby in standbys:
                standby.discard(self._sandbox)
        self._waiting.clear()
