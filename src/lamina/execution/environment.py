"""One execution environment: a sandboxed runtime process, its Runtime API endpoint and its logs.

State machine: STARTING → (init) → IDLE ⇄ BUSY → STOPPED. Any failure that leaves the process in
doubt (timeout, crash, out of memory, init error) ends in STOPPED; the pool never reuses it.
Limits are enforced from outside: the deadline by the invoker, memory by the environment's cgroup
(the kernel's OOM killer) where the host allows one, else by a watchdog polling its RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import json
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lamina.domain.function_limits import function_cpus
from lamina.domain.functions import FunctionConfig
from lamina.domain.reports import (
    Report,
    end_line,
    init_start_record,
    log_stream_name,
    platform_event,
    report_record,
    runtime_done_record,
    start_line,
    start_record,
    system_info_logged,
    timeout_message,
)
from lamina.errors import service_error
from lamina.execution.exit_description import describe_exit
from lamina.execution.gpus.allocator import GpuAllocator, GpuGrant
from lamina.execution.gpus.exposure import (
    device_nodes,
    driver_library_folders,
    gpu_variables,
    hidden_device_rules,
)
from lamina.execution.gpus.usage import gpu_memory_used_mb, process_tree
from lamina.execution.log_budget import LogBudget
from lamina.execution.log_capture import PipeLogCapture
from lamina.execution.memory import read_memory_kb
from lamina.execution.node_standby import (
    STANDBY_EPHEMERAL_STORAGE_MB,
    STARTUP_VARIABLE_PREFIXES,
    NodeStandby,
    NodeStandbyPool,
)
from lamina.execution.runtimes.catalog import RuntimeSpec
from lamina.execution.runtimes.custom import bootstrap_path, custom_command
from lamina.execution.sandbox.base import (
    INSIDE_RUNTIME_API_PORT,
    IsolationUnavailable,
    ProcessesExhausted,
    Sandbox,
    SandboxedProcess,
    SandboxSpec,
)
from lamina.execution.sandbox.cgroups import MemoryCgroup
from lamina.execution.sandbox.network import EnvironmentNetwork, NetworkNamespaces
from lamina.execution.sandbox.process import SandboxError
from lamina.runtime_api.channel import FramedRuntimeChannel, encode_frame
from lamina.runtime_api.endpoint import RuntimeApiEndpoint
from lamina.runtime_api.mailbox import MAX_RESPONSE_BYTES, Invocation, InvocationMailbox, RuntimeOutcome
from lamina.store.ports import LogStore

# AWS_LAMBDA_INITIALIZATION_TYPE of an environment started for an invocation, and of one
# initialised ahead of invocations (provisioned concurrency).
ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
# Lambda: the init phase of an on-demand environment is limited to 10 seconds.
INIT_TIMEOUT_SECONDS = 10.0
_MEMORY_POLL_SECONDS = 0.02
_TAIL_BYTES = 4096
# Characters of log lines an environment holds before it hands them to the log store, without a budget.
_DEFAULT_LOG_BUFFER_BYTES = 256 * 1024
# Seconds a function's line may wait in the environment before it reaches the log store.
LOG_STREAM_SECONDS = 1.0
# Runtime API ports: a bind that fails for want of a free port is retried after these delays (s).
_BIND_RETRY_DELAYS = (0.005, 0.02, 0.1)
_TRANSIENT_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL})
# ServiceException, as Lambda's Invoke answers its own internal errors (an environment it could not
# start is one: no function code ran).
_START_FAILED = "The Lambda service encountered an internal error."
_log = logging.getLogger(__name__)


class EnvironmentGone(Exception):
    """The environment's runtime exited between invocations (e.g. right after answering the last
    one, as Node's runtime does after an uncaught exception): the invocation never reached it, so
    the caller runs it in another environment."""


class _Ending(enum.Enum):
    """What ended the wait for an invocation."""

    ANSWERED = "answered"
    EXITED = "exited"
    TIMED_OUT = "timed out"
    OUT_OF_MEMORY = "out of memory"


class EnvironmentState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class InvocationRequest:
    request_id: str
    payload: bytes
    invoked_function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None


@dataclass(frozen=True, slots=True)
class InvocationResult:
    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed, as X-Amz-Function-Error
    error_type: str | None
    executed_version: str
    log_lines: list[str]  # the invocation's last log lines: at least its last 4 KB (all LogType=Tail reads)
    report: Report
    log_stream: str = ""  # the stream of the function's log group they went to

    @property
    def log_tail(self) -> str:
        """Invoke API, LogType=Tail: the last 4 KB of the invocation's log (built only when asked)."""
        return _tail(self.log_lines)


class ApiPort(Protocol):
    """Serves Lamina's API on a listening socket made in an environment's network namespace, each
    connection counted against `source`'s cap (transport/function_port.py's FunctionApiPort)."""

    def serve(self, listening_socket: socket.socket, source: Hashable) -> None: ...
    def stop_serving(self, listening_socket: socket.socket) -> None: ...


@dataclass(frozen=True, slots=True)
class EnvironmentContext:
    """What every environment needs from the platform, built once by the composition root."""

    sandbox: Sandbox
    log_store: LogStore
    region: str
    account_id: str
    sdk_library: Path | None  # boto3 and friends, for Python functions and custom runtimes
    scratch_root: Path
    # A folder whose node_modules holds the AWS SDK for JavaScript v3 (as AWS's Node runtimes have
    # it in /var/runtime/node_modules); None: the host has none.
    node_sdk_library: Path | None = None
    # The variables that give a function its execution role's temporary credentials and the
    # endpoint to use them with (AWS_ACCESS_KEY_ID, ..., AWS_ENDPOINT_URL), and when those
    # credentials expire (wall-clock seconds; None: never); None: no credentials at all.
    credentials: Callable[[FunctionConfig], Awaitable[tuple[dict[str, str], float | None]]] | None = None
    # Called with an environment's access key id when it stops: its credentials end with it.
    revoke_credentials: Callable[[str], None] | None = None
    # The account's log budget (execution/log_budget.py); None: every line is kept.
    log_budget: LogBudget | None = None
    # Booted Node.js runtimes waiting for their environment (execution/node_standby.py); None: none.
    node_standbys: NodeStandbyPool | None = None
    # A network namespace per environment (the namespaces tier: sandbox/network.py), with the Runtime
    # API and, network on, Lamina's API (served by `api_port`) listening inside; None: the host's.
    networks: NetworkNamespaces | None = None
    api_port: ApiPort | None = None
    # The largest response a function may give, read when an environment starts (the operator's
    # --max-payload or the account's own limit); None: AWS's.
    max_response_bytes: Callable[[], int] | None = None
    # The server's GPUs (what environments are granted and how their use is measured), and where
    # the host's device nodes are; None: this server offers none.
    gpus: GpuAllocator | None = None
    gpu_device_dir: Path = Path("/dev")


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class ExecutionEnvironment:
    def __init__(
        self,
        config: FunctionConfig,
        runtime: RuntimeSpec,
        code_path: Path,
        context: EnvironmentContext,
        layers_path: Path | None = None,
        initialization_type: str = ON_DEMAND,
        gpus: GpuGrant | None = None,
    ) -> None:
        """`layers_path`: the function's layers merged into one folder, which the runtime sees as
        /opt where the sandbox can mount it there; `initialization_type`: AWS's name for why it
        starts (on-demand, or provisioned-concurrency: initialised ahead of invocations)."""
        self.initialization_type = initialization_type
        self.id = secrets.token_hex(8)
        self.config = config
        self._cpus = function_cpus(config.environment)  # LAMINA_CPUS; None: by memory
        self.gpu_grant = gpus  # held for its whole life; the pool gives it back once it stopped
        self._gpu_used_mb: int | None = None  # at the last invocation's end
        self.state = EnvironmentState.STARTING
        self.log_stream = log_stream_name(config.version)
        self.last_used = time.monotonic()
        # Max Memory Used at the last invocation (MB), 0 before the first: what the pool charges an
        # idle environment, without measuring again.
        self.last_peak_mb = 0
        # When the role credentials it was given expire (wall clock): the pool replaces it before.
        self.credentials_expire_at: float | None = None
        self._runtime = runtime
        self._code_path = code_path
        self._layers_path = layers_path
        self._context = context
        self._mailbox = InvocationMailbox(
            context.max_response_bytes() if context.max_response_bytes is not None else MAX_RESPONSE_BYTES
        )
        self._endpoint = RuntimeApiEndpoint(self._mailbox)
        budget = context.log_budget
        self._log_meter = budget.meter(config.name) if budget is not None else None
        self._log_buffer_chars = (
            budget.limits.environment_buffer_bytes if budget is not None else _DEFAULT_LOG_BUFFER_BYTES
        )
        self._capture = PipeLogCapture(self._on_line, self._log_meter)
        self._pending_logs: list[tuple[int, str]] = []
        self._pending_chars = 0
        self._log_timer: asyncio.TimerHandle | None = None  # flushes lines left waiting too long
        self._collecting: list[str] | None = None
        self._collected_chars = 0
        self._drops_reported_at = 0.0
        self._sandboxed: SandboxedProcess | None = None
        self._exited: asyncio.Task[int] | None = None
        self._spawned_at = 0.0
        self._initialized = False
        self._spawn_error: str | None = None
        self._spawn_error_type = "Runtime.InvalidEntrypoint"
        self._channel: FramedRuntimeChannel | None = None
        self._network: EnvironmentNetwork | None = None
        self._api_listener: socket.socket | None = None
        self._stopped = False
        self._scratch = context.scratch_root / self.id
        self._access_key_id: str | None = None  # its own temporary credentials

    # lifecycle -------------------------------------------------------------------------------
    def _environment_variables(self, runtime_api: str) -> dict[str, str]:
        """AWS's reserved variables plus the function's own; nothing from the server leaks in."""
        config = self.config
        variables = dict(config.environment)
        variables.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": config.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type,
                "AWS_REGION": self._context.region,
                "AWS_DEFAULT_REGION": self._context.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "_HANDLER": config.handler,
                "LAMBDA_TASK_ROOT": str(self._code_path),
                "LAMBDA_RUNTIME_DIR": str(self._runtime.runtime_dir or self._code_path),
                "AWS_LAMBDA_RUNTIME_API": runtime_api,
                "HOME": str(self._scratch),
                "TMPDIR": str(self._scratch),
            }
        )
        # Variables AWS sets but lets a function set for itself (not reserved).
        for name, value in (
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ):
            variables.setdefault(name, value)
        if self._runtime.language in ("python", "provided"):
            variables.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        if config.log_format == "JSON":  # runtimes format their logging as JSON and filter by level
            variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            variables["AWS_LAMBDA_LOG_LEVEL"] = config.application_log_level or "INFO"
        if (library := self._runtime_library()) is not None:
            variables["LAMINA_RUNTIME_LIB"] = str(library)
        if self._layers_path is not None:
            variables["LAMINA_LAYER_ROOT"] = str(self._layers_path)
        gpus = self._context.gpus
        if self.gpu_grant is not None or (gpus is not None and gpus.devices):
            variables.update(gpu_variables(self.gpu_grant))  # a host with GPUs: only its own, or none
        return variables

    def _command(self) -> list[str]:
        if self._runtime.interpreter is None:  # a custom runtime: the function brings the program
            return custom_command(bootstrap_path(self._code_path, self._layers_path))
        return self._runtime.command(self._code_path, self.config.memory_size)

    def _runtime_library(self) -> Path | None:
        """The SDK AWS's runtime of this language provides (shown in /var/runtime)."""
        if self._runtime.language == "nodejs":
            return self._context.node_sdk_library
        if self._runtime.language == "java":
            return None  # the Java client brings what it needs on its class path
        return self._context.sdk_library

    async def start(self) -> None:
        """Spawn the runtime process; init completes when it first polls for an invocation.

        Lamina's Python and Node runtimes get a framed channel (a socket pair) besides the HTTP
        Runtime API; custom runtimes use HTTP only. A failure of the function's own making (e.g. a bootstrap that
        is not executable) is kept and reported by the first invocation, as on Lambda; a failure of
        the platform raises ServiceException, as Lambda's Invoke does for its internal errors, after
        everything this start opened has been closed.
        """
        try:
            await self._start()
        except BaseException as error:
            self._abandon_start()
            if isinstance(error, SandboxError | OSError):
                _log.warning("execution environment for %s failed to start: %s", self.config.name, error)
                raise service_error(_START_FAILED) from error
            raise

    def _abandon_start(self) -> None:
        """Close and free whatever a failed start opened: pipes, sockets, the process, the scratch,
        the temporary credentials."""
        self._stopped = True
        self.state = EnvironmentState.STOPPED
        self._close_transports()
        sandboxed, self._sandboxed = self._sandboxed, None
        if sandboxed is not None:
            self._context.sandbox.kill(sandboxed)
            self._context.sandbox.release(sandboxed)
        self._close_network()
        self._revoke_credentials()
        _remove_scratch(self._scratch)

    async def _start_endpoint(self) -> str:
        """Listen for the environment's Runtime API on a new loopback port. Binding port 0 can still
        fail with EADDRINUSE (the ephemeral range busy for a moment): retried a few times."""
        for delay in _BIND_RETRY_DELAYS:
            try:
                return await self._endpoint.start()
            except OSError as error:
                if error.errno not in _TRANSIENT_BIND_ERRORS:
                    raise
                _log.info("binding a Runtime API port failed (%s); retrying", error)
            await asyncio.sleep(delay)
        return await self._endpoint.start()

    def _spec(self, environment: dict[str, str], pass_fds: tuple[int, ...]) -> SandboxSpec:
        grant = self.gpu_grant
        return SandboxSpec(
            name=self.id,
            argv=self._command(),
            environment=environment,
            working_directory=self._code_path,
            output_fd=self._capture.write_fd,
            memory_mb=self.config.memory_size,
            pass_fds=pass_fds,
            cpus=self._cpus,
            python_interpreter=(
                self._runtime.interpreter
                if self._runtime.language == "python" and not self._runtime.site_packages
                else None
            ),
            interpreter=self._runtime.interpreter,
            task_root=self._code_path,
            layers_root=self._layers_path,
            runtime_dir=self._runtime.runtime_dir,
            runtime_library=self._runtime_library(),
            scratch_directory=self._scratch,
            ephemeral_storage_mb=self.config.ephemeral_storage_mb,
            network=self.config.network_enabled,
            network_namespace=self._network.path if self._network is not None else None,
            devices=device_nodes(grant, self._context.gpu_device_dir) if grant is not None else (),
            read_only_folders=driver_library_folders() if grant is not None else (),
            denied_devices=(
                hidden_device_rules(gpus.devices, grant, self._context.gpu_device_dir)
                if (gpus := self._context.gpus) is not None and gpus.devices
                else ()
            ),
        )

    async def _variables(self, address: str) -> dict[str, str]:
        """The runtime's variables, with the role's temporary credentials."""
        environment = self._environment_variables(address)
        if self._context.credentials is not None:
            variables, self.credentials_expire_at = await self._context.credentials(self.config)
            self._access_key_id = variables.get("AWS_ACCESS_KEY_ID")
            environment.update(variables)
        return environment

    def _revoke_credentials(self) -> None:
        """End the temporary credentials this environment was given (once)."""
        access_key_id, self._access_key_id = self._access_key_id, None
        if access_key_id is not None and self._context.revoke_credentials is not None:
            self._context.revoke_credentials(access_key_id)

    def _standby(self) -> NodeStandby | None:
        """A booted Node runtime this environment can become (see execution/node_standby.py)."""
        pool = self._context.node_standbys
        if (
            pool is None
            or self._runtime.language != "nodejs"
            or self.config.ephemeral_storage_mb != STANDBY_EPHEMERAL_STORAGE_MB
            or not self.config.network_enabled
            or self.gpu_grant is not None  # a standby's /dev is made already, without its GPU
            or any(name.startswith(STARTUP_VARIABLE_PREFIXES) for name in self.config.environment)
        ):
            return None
        return pool.take(self._runtime)

    async def _start_from_standby(self, standby: NodeStandby, address: str) -> bool:
        """Become `standby`: its limits, code and variables made this environment's. False when it
        could not (it is discarded; the caller starts the usual way)."""
        self._spawned_at = time.perf_counter()
        try:
            self._scratch = standby.scratch
            environment = await self._variables(address)
            self._network = standby.network
            assignment = await self._context.sandbox.assign(standby.sandboxed, self._spec(environment, ()))
        except (SandboxError, OSError) as error:
            _log.info("a Node.js standby could not become %s (%s): starting one", self.config.name, error)
            self._network = None
            standby.discard(self._context.sandbox)
            self._scratch = self._context.scratch_root / self.id
            self._revoke_credentials()  # the usual start gets its own
            return False
        self._sandboxed = standby.sandboxed
        self._capture.adopt(standby.output_fd)
        frame = {"type": "assign", "env": assignment.environment, "cwd": assignment.working_directory}
        standby.channel.sendall(encode_frame(frame))
        self._channel = FramedRuntimeChannel(standby.channel, self._mailbox)
        await self._channel.start()
        await self._started(address, standby.exited)
        return True

    async def _start(self) -> None:
        # In the namespaces tier the Runtime API listens inside the environment's own network
        # namespace, made there by the server (`networks.acquire` below), at AWS's address.
        networks = self._context.networks
        address = (
            f"127.0.0.1:{INSIDE_RUNTIME_API_PORT}" if networks is not None else await self._start_endpoint()
        )
        standby = self._standby()
        if standby is not None and await self._start_from_standby(standby, address):
            return
        child_end = None
        try:
            self._spawned_at = time.perf_counter()
            self._scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
            environment = await self._variables(address)
            if networks is not None:
                self._network = await networks.acquire(network_on=self.config.network_enabled)
            if self._runtime.language in ("python", "nodejs"):  # Lamina's runtimes
                server_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                self._channel = FramedRuntimeChannel(server_end, self._mailbox)
                await self._channel.start()
                environment["LAMINA_RUNTIME_CHANNEL_FD"] = str(child_end.fileno())
            spec = self._spec(environment, (child_end.fileno(),) if child_end is not None else ())
            try:
                self._sandboxed = await self._context.sandbox.spawn(spec)
            except IsolationUnavailable as exc:
                self._spawn_error, self._spawn_error_type = str(exc), "Sandbox.IsolationUnavailable"
                self._close_transports()
                return
            except ProcessesExhausted as exc:
                # A shortage of the host, not an internal error: reported as a runtime that could not
                # start (Runtime.ExitError, as Lambda reports one), and the next call starts afresh.
                _log.warning("execution environment for %s could not start: %s", self.config.name, exc)
                self._spawn_error = (
                    "Runtime exited with error: the host's process budget for environments is exhausted "
                    f"(fork: {exc}); try again once other environments' processes have ended"
                )
                self._spawn_error_type = "Runtime.ExitError"
                self._close_transports()
                return
            except OSError as exc:
                # Custom runtimes: a missing or non-executable `bootstrap` is the function's error.
                self._spawn_error = f"fork/exec {spec.argv[0]}: {exc.strerror or exc}"
                self._close_transports()
                return
        finally:
            if child_end is not None:
                child_end.close()  # the runtime holds its own copy now (or never will)
        await self._started(address, asyncio.get_running_loop().create_task(self._sandboxed.process.wait()))

    async def _started(self, address: str, exited: asyncio.Task[int]) -> None:
        """The runtime process runs: serve its Runtime API, read its output, say INIT_START."""
        assert self._sandboxed is not None
        if self._network is not None:
            await self._serve_in_namespace(self._network, address, self._sandboxed.uid)
        elif self._sandboxed.uid is not None:
            self._endpoint.restrict_to(self._sandboxed.uid)
        else:
            self._endpoint.allow_any()
        self._capture.start()
        self._exited = exited
        runtime = self.config.runtime
        # --runtime-fallback nearest: say which runtime really runs, where users look first.
        runs_on = self._runtime.runs_on
        fallback = f" (not on this host: runs on {runs_on}, --runtime-fallback nearest)" if runs_on else ""
        self._platform(
            f"INIT_START Runtime Version: lamina:{runtime}{fallback}",
            "initStart",
            init_start_record,
            runtime,
            self.initialization_type,
        )

    async def _serve_in_namespace(self, network: EnvironmentNetwork, address: str, uid: int | None) -> None:
        """Serve the listeners made in the environment's namespace: only it can reach them."""
        runtime_api = network.take_runtime_api_listener()
        if runtime_api is not None:
            await self._endpoint.adopt(runtime_api, address)
        api_port = self._context.api_port
        if api_port is not None and network.api_listener is not None:
            self._api_listener = network.take_api_listener()
            assert self._api_listener is not None
            # The source key the public port gives this uid's connections too: one cap for both.
            api_port.serve(self._api_listener, ("uid", uid) if uid is not None else ("environment", self.id))

    def _close_network(self) -> None:
        listener, self._api_listener = self._api_listener, None
        if listener is not None and self._context.api_port is not None:
            self._context.api_port.stop_serving(listener)
        network, self._network = self._network, None
        if network is not None:
            network.close()

    async def stop(self) -> None:
        """Idempotent: kill the process group, close the endpoint, flush logs."""
        if self._stopped:
            return
        self._stopped = True
        self.state = EnvironmentState.STOPPED
        self._endpoint.close()
        if self._channel is not None:
            self._channel.close()
        sandboxed, self._sandboxed = self._sandboxed, None
        if sandboxed is not None:
            self._context.sandbox.kill(sandboxed)
            if self._exited is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._exited), 5)
            self._context.sandbox.release(sandboxed)
        self._close_network()
        self._capture.close()
        self._flush_logs()
        self._revoke_credentials()
        await asyncio.to_thread(_remove_scratch, self._scratch)

    def _close_transports(self) -> None:
        self._capture.close()
        self._endpoint.close()
        if self._channel is not None:
            self._channel.close()

    async def _gpu_memory_used_mb(self) -> int | None:
        """What the environment's processes hold on its GPUs now (None: not measurable here)."""
        grant, gpus, pid = self.gpu_grant, self._context.gpus, self.pid
        if grant is None or gpus is None or pid is None:
            return None
        inventory = gpus.inventory
        return await asyncio.to_thread(
            lambda: gpu_memory_used_mb(inventory, grant.devices, process_tree(pid))
        )

    @property
    def pid(self) -> int | None:
        return self._sandboxed.process.pid if self._sandboxed is not None else None

    # logs ------------------------------------------------------------------------------------
    def _on_line(self, timestamp_ms: int, line: str) -> None:
        self._pending_logs.append((timestamp_ms, line))
        self._pending_chars += len(line)
        if self._collecting is not None:
            self._collect(line)
        if self._pending_chars > self._log_buffer_chars:
            self._flush_soon()
        elif self._log_timer is None:
            # A long invocation's lines reach the log group while it runs, as on Lambda, within
            # a second; a short one's go at its end, with no timer left behind.
            with contextlib.suppress(RuntimeError):  # no loop: the end's flush takes them
                self._log_timer = asyncio.get_running_loop().call_later(LOG_STREAM_SECONDS, self._flush_soon)

    def _flush_soon(self) -> None:
        """Lines waiting too long or too many go to the store now; drops are reported at most once
        a second meanwhile (and at the end)."""
        self._flush_logs(report_drops=time.monotonic() - self._drops_reported_at >= 1.0)

    def _collect(self, line: str) -> None:
        """Keep the invocation's lines for LogType=Tail: only its last 4 KB are ever read."""
        lines = self._collecting
        assert lines is not None
        lines.append(line)
        self._collected_chars += len(line) + 1
        if self._collected_chars > 16 * _TAIL_BYTES:
            kept = 0
            start = len(lines)
            while start > 0 and kept < _TAIL_BYTES:  # a character is at least a byte
                start -= 1
                kept += len(lines[start]) + 1
            del lines[:start]
            self._collected_chars = kept

    def _report_drops(self) -> None:
        """The lines the log budget dropped since the last report, as one platform record (Lambda's
        Telemetry API: platform.logsDropped)."""
        dropped = self._log_meter.take_dropped() if self._log_meter is not None else None
        self._drops_reported_at = time.monotonic()
        if dropped is None:
            return
        reason, records, size = dropped
        if self.config.log_format == "JSON":
            record = {"reason": reason, "droppedRecords": records, "droppedBytes": size}
            self._emit(platform_event("logsDropped", record))
        else:
            self._emit(f"LOGS_DROPPED DroppedRecords: {records} DroppedBytes: {size} Reason: {reason}")

    def _emit(self, line: str) -> None:
        self._on_line(int(time.time() * 1000), line)

    def _platform(self, text: str, kind: str, record: Callable[..., dict[str, object]], *args: Any) -> None:
        """A platform line: as text, or with LogFormat JSON as a `platform.<kind>` object built by
        `record(*args)` (only then), which a SystemLogLevel above INFO leaves out."""
        config = self.config
        if config.log_format != "JSON":
            self._emit(text)
        elif system_info_logged(config.system_log_level):
            self._emit(platform_event(kind, record(*args)))

    def _flush_logs(self, *, report_drops: bool = True) -> None:
        if report_drops:
            self._report_drops()
        if self._log_timer is not None:
            self._log_timer.cancel()
            self._log_timer = None
        if self._pending_logs:
            events, self._pending_logs = self._pending_logs, []
            self._pending_chars = 0
            self._context.log_store.append(self.config.log_group_name, self.log_stream, events)

    # invocation ------------------------------------------------------------------------------
    async def _await_init(self) -> RuntimeOutcome | str | None:
        """None when init finished; an init-error outcome, or a reason string when it failed."""
        assert self._exited is not None
        polled = asyncio.ensure_future(self._mailbox.first_poll.wait())
        init_failed = asyncio.ensure_future(self._mailbox.init_error_posted.wait())
        try:
            done, _ = await asyncio.wait(
                {polled, init_failed, self._exited},
                timeout=INIT_TIMEOUT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            polled.cancel()
            init_failed.cancel()
        if self._mailbox.first_poll.is_set():
            return None
        if self._mailbox.init_error is not None:
            return self._mailbox.init_error
        if self._exited in done:
            return f"Runtime exited with error: {describe_exit(self._exited.result())}"
        return "init timeout"

    async def _runtime_polls(self) -> bool:
        """Whether the runtime polls for the next invocation before its process exits (it may
        still be on its way from posting the last answer). A runtime that neither polls nor exits
        within the function's timeout is given the invocation anyway, which then times out."""
        assert self._exited is not None
        if self._exited.done():
            return False
        polled = self._mailbox.next_poll()
        pending: set[asyncio.Future[Any]] = {polled, self._exited}
        try:
            await asyncio.wait(pending, timeout=self.config.timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            polled.cancel()
        return self._mailbox.polling or not self._exited.done()

    async def initialize(self) -> str | None:
        """Finish init ahead of any invocation (provisioned concurrency), so that the first one
        reports no Init Duration. None when ready; otherwise why init failed, and the process is
        stopped."""
        if self._spawn_error is not None:
            return self._spawn_error
        if self._initialized:
            return None
        failure = await self._await_init()
        self._capture.drain()
        self._flush_logs()  # what init printed, in this environment's stream
        if failure is None:
            self._initialized = True
            return None
        await self._kill_process()
        if isinstance(failure, RuntimeOutcome):
            try:
                message = json.loads(failure.payload).get("errorMessage", "")
            except (ValueError, AttributeError):
                message = ""
            return f"{failure.error_type}: {message}" if message else str(failure.error_type)
        return "Init timed out" if failure == "init timeout" else failure

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Run one invocation. Never raises for function failures: they become the result."""
        if self._spawn_error is not None:
            self.state = EnvironmentState.STOPPED
            message = f"RequestId: {request.request_id} Error: {self._spawn_error}"
            return self._failure(request, self._spawn_error_type, message, 0.0, None, [], 0, status="error")
        assert self._exited is not None, "start() first"
        if self._initialized and not self._mailbox.polling and not await self._runtime_polls():
            await self._kill_process()
            self.state = EnvironmentState.STOPPED
            raise EnvironmentGone(f"the runtime of {self.id} exited before its next invocation")
        self.state = EnvironmentState.BUSY
        if self._sandboxed is not None:
            self._sandboxed.busy = True
        lines: list[str] = []
        self._collecting = lines
        self._collected_chars = 0
        config = self.config
        init_duration_ms: float | None = None
        try:
            if not self._initialized:
                init_failure = await self._await_init()
                init_duration_ms = (time.perf_counter() - self._spawned_at) * 1000
                self._initialized = init_failure is None
                if init_failure is not None:
                    return await self._fail_init(request, init_failure, init_duration_ms, lines)
            self._platform(
                start_line(request.request_id, config.version),
                "start",
                start_record,
                request.request_id,
                config.version,
            )
            started = time.perf_counter()
            deadline_ms = int(time.time() * 1000) + config.timeout * 1000
            outcome_future = self._mailbox.submit(
                Invocation(
                    request.request_id,
                    request.payload,
                    deadline_ms,
                    request.invoked_function_arn,
                    request.trace_id,
                    request.client_context,
                    request.cognito_identity,
                )
            )
            ending = await self._first_ending(outcome_future, config.timeout)
            duration_ms = (time.perf_counter() - started) * 1000
            self._capture.drain()
            peak_mb = self.last_peak_mb = self._peak_memory_mb()
            if self.gpu_grant is not None:
                self._gpu_used_mb = await self._gpu_memory_used_mb()
            if ending is _Ending.ANSWERED and peak_mb <= config.memory_size:
                outcome = outcome_future.result()
                return self._finish(request, outcome, duration_ms, init_duration_ms, lines, peak_mb)
            # The environment can't be trusted any more: stop it before reporting.
            await self._kill_process()
            out_of_memory = (
                ending is _Ending.OUT_OF_MEMORY
                or peak_mb > config.memory_size
                or (self._memory_cgroup is not None and self._memory_cgroup.oom_killed())
            )
            if out_of_memory:
                message = f"RequestId: {request.request_id} Error: Runtime exited with error: signal: killed"
                return self._failure(
                    request,
                    "Runtime.OutOfMemory",
                    message,
                    duration_ms,
                    init_duration_ms,
                    lines,
                    config.memory_size,
                    status="error",
                )
            if ending is _Ending.EXITED:
                assert self._exited is not None
                reason = describe_exit(self._exited.result())
                message = f"RequestId: {request.request_id} Error: Runtime exited with error: {reason}"
                self._emit_exit(message)
                return self._failure(
                    request,
                    "Runtime.ExitError",
                    message,
                    duration_ms,
                    init_duration_ms,
                    lines,
                    peak_mb,
                    status="error",
                )
            message = timeout_message(request.request_id, config.timeout)
            self._emit(
                f"{_utc_now_iso()} {request.request_id} Task timed out after {config.timeout:.2f} seconds"
            )
            return self._failure(
                request,
                "Sandbox.Timedout",
                message,
                duration_ms,
                init_duration_ms,
                lines,
                peak_mb,
                status="timeout",
            )
        finally:
            if self._sandboxed is not None:
                self._sandboxed.busy = False
            self._collecting = None
            self._flush_logs()
            self.last_used = time.monotonic()
            if self.state is EnvironmentState.BUSY:
                self.state = EnvironmentState.IDLE

    def _emit_exit(self, message: str) -> None:
        """The two lines Lambda logs when a runtime process exits: what happened, then the type."""
        self._emit(message)
        self._emit("Runtime.ExitError")

    async def _fail_init(
        self, request: InvocationRequest, failure: RuntimeOutcome | str, init_ms: float, lines: list[str]
    ) -> InvocationResult:
        """Init failed (error posted, runtime exited, or 10 s passed): report it as this call's error."""
        await self._kill_process()
        version = self.config.version
        self._platform(
            start_line(request.request_id, version), "start", start_record, request.request_id, version
        )
        if isinstance(failure, RuntimeOutcome):
            error_type = failure.error_type or "Runtime.Unknown"
            payload = failure.payload
        elif failure == "init timeout":
            error_type = "Sandbox.Timedout"
            payload = _error_payload(
                error_type,
                f"RequestId: {request.request_id} Error: Task timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds",
            )
        else:
            error_type = "Runtime.ExitError"
            message = f"RequestId: {request.request_id} Error: {failure}"
            self._emit_exit(message)
            payload = _error_payload(error_type, message)
        return self._conclude(
            request, payload, error_type, "error", init_ms, None, lines, self._peak_memory_mb()
        )

    def _finish(
        self,
        request: InvocationRequest,
        outcome: RuntimeOutcome,
        duration_ms: float,
        init_ms: float | None,
        lines: list[str],
        peak_mb: int,
    ) -> InvocationResult:
        """The runtime answered: a response, or an error it reported."""
        if outcome.kind == "response":
            return self._conclude(request, outcome.payload, None, None, duration_ms, init_ms, lines, peak_mb)
        return self._conclude(
            request, outcome.payload, outcome.error_type, "error", duration_ms, init_ms, lines, peak_mb
        )

    def _failure(
        self,
        request: InvocationRequest,
        error_type: str,
        message: str,
        duration_ms: float,
        init_ms: float | None,
        lines: list[str],
        peak_mb: int,
        *,
        status: str,
    ) -> InvocationResult:
        """The platform ended the invocation (timeout, crash, memory): AWS's error payload."""
        payload = _error_payload(error_type, message)
        return self._conclude(request, payload, error_type, status, duration_ms, init_ms, lines, peak_mb)

    def _conclude(
        self,
        request: InvocationRequest,
        payload: bytes,
        error_type: str | None,
        status: str | None,
        duration_ms: float,
        init_ms: float | None,
        lines: list[str],
        peak_mb: int,
    ) -> InvocationResult:
        """Write END and REPORT, then build the result; every invocation ends here."""
        self._report_drops()  # before END: the drops belong to this invocation
        report = Report(
            request.request_id,
            duration_ms,
            self.config.memory_size,
            peak_mb,
            init_ms,
            status=status,
            error_type=error_type,
            cpus=self._cpus,
            gpu_memory_used_mb=self._gpu_used_mb,
        )
        self._platform(end_line(request.request_id), "runtimeDone", runtime_done_record, report)
        self._platform(report.line(), "report", report_record, report)
        function_error = "Unhandled" if error_type is not None else None
        return InvocationResult(
            payload, function_error, error_type, self.config.version, lines, report, self.log_stream
        )

    async def _first_ending(self, outcome: asyncio.Future[RuntimeOutcome], timeout: float) -> _Ending:
        """Wait for whichever comes first: the runtime's answer, the process's exit, the timeout or
        (without a memory cgroup) the watchdog. One future and plain callbacks: this runs per
        invocation, and asyncio.wait's sets and per-call waiters cost more than the rest of it."""
        assert self._exited is not None
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[_Ending] = loop.create_future()

        def end(reason: _Ending) -> None:
            if not ended.done():
                ended.set_result(reason)

        def on_answer(_: object) -> None:
            end(_Ending.ANSWERED)

        def on_exit(_: object) -> None:
            end(_Ending.EXITED)

        outcome.add_done_callback(on_answer)
        self._exited.add_done_callback(on_exit)
        timer = loop.call_later(timeout, end, _Ending.TIMED_OUT)
        watchdog = None
        if self._memory_cgroup is None:  # no kernel enforcement: poll from outside
            watchdog = loop.create_task(self._watch_memory())

            def on_memory(task: asyncio.Task[None]) -> None:
                if not task.cancelled():
                    end(_Ending.OUT_OF_MEMORY)

            watchdog.add_done_callback(on_memory)
        try:
            return await ended
        finally:
            timer.cancel()
            outcome.remove_done_callback(on_answer)
            self._exited.remove_done_callback(on_exit)
            if watchdog is not None:
                watchdog.cancel()

    async def _kill_process(self) -> None:
        self.state = EnvironmentState.STOPPED
        if self._sandboxed is not None:
            self._context.sandbox.kill(self._sandboxed)
            if self._exited is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._exited), 5)
        self._capture.drain()

    async def _watch_memory(self) -> None:
        """Returns (ending the wait) when the process's memory passes MemorySize."""
        limit_kb = self.config.memory_size * 1024
        while True:
            await asyncio.sleep(_MEMORY_POLL_SECONDS)
            pid = self.pid  # asked each time: a runtime below a PID namespace's init is found late
            if pid is None:
                return
            rss_kb, _ = read_memory_kb(pid)
            if rss_kb > limit_kb:
                return

    @property
    def _memory_cgroup(self) -> MemoryCgroup | None:
        return self._sandboxed.memory_cgroup if self._sandboxed is not None else None

    def resident_memory_mb(self) -> int:
        """Memory the environment holds right now (its cgroup's usage, else the process's RSS): what an
        idle environment costs the pool's budget. Forked environments share their zygote's pages, so
        this is far below MemorySize."""
        return self._memory_mb(peak=False)

    def _peak_memory_mb(self) -> int:
        """REPORT's Max Memory Used: the cgroup's peak, else the process's peak RSS."""
        return self._memory_mb(peak=True)

    def _memory_mb(self, *, peak: bool) -> int:
        cgroup = self._memory_cgroup
        if cgroup is not None:
            kb = cgroup.peak_kb() if peak else cgroup.current_kb()
        else:
            pid = self.pid
            kb = read_memory_kb(pid)[1 if peak else 0] if pid is not None else 0
        return -(-kb // 1024)


def _tail(lines: list[str]) -> str:
    """Invoke API, LogType=Tail: the last 4 KB of the invocation's log."""
    text = "\n".join(lines) + "\n"
    encoded = text.encode()
    if len(encoded) <= _TAIL_BYTES:
        return text
    return encoded[-_TAIL_BYTES:].decode("utf-8", "ignore")


def _utc_now_iso() -> str:
    moment = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


def _remove_scratch(path: Path) -> None:
    import shutil  # cleanup path only

    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
