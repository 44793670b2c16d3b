"""The invocation service: concurrency, then a warm (or new) environment, then the result.

Hot path: configuration comes from the in-memory registry and environments from the pool; no SQL,
no file reads. Asynchronous (`Event`) invocations run in the background with AWS's retry policy
(two retries on function errors). When the memory budget has no room, synchronous calls are
throttled (429) while Event invocations wait for room.

A synchronous invocation's log lines reach the log store's file before its result is returned
(`write_logs`): the caller may read them as soon as it has the response, and a server killed right
after answering must not lose what it answered about. That is one small write per invocation
(the OS's page cache, no fsync); asynchronous delivery makes lines and metrics durable itself,
before it removes an event from its queue.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lamina.domain.functions import FunctionConfig
from lamina.domain.ids import new_request_id
from lamina.errors import AwsError, service_error, too_many_requests
from lamina.execution.concurrency import PROVISIONED, ConcurrencyLimiter
from lamina.execution.environment import (
    EnvironmentGone,
    ExecutionEnvironment,
    InvocationRequest,
    InvocationResult,
)
from lamina.execution.observer import InvocationObserver, NoObserver
from lamina.execution.pool import EnvironmentPool, MemoryBudgetExhausted

_log = logging.getLogger(__name__)
# Environments tried for one invocation whose runtimes exit before taking it (each try a new one).
_GONE_ATTEMPTS = 3
_KEPT_EXITING = "The function's execution environments exited before they could take the invocation"


def _memory_throttle(exhausted: MemoryBudgetExhausted) -> AwsError:
    """Lamina-specific: the memory budget caps concurrency, so a call that finds every
    environment busy is throttled like AWS's account limit (Invoke API: TooManyRequestsException,
    Reason ConcurrentInvocationLimitExceeded); the message says it was the memory budget."""
    return too_many_requests(f"Rate Exceeded. The function {exhausted}.", "ConcurrentInvocationLimitExceeded")


def new_trace_id() -> str:
    """X-Ray trace header as Lambda passes it to runtimes.

    Trace ids identify, they protect nothing: a fast PRNG instead of two urandom system calls.
    """
    return (
        f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};"
        f"Parent={random.getrandbits(64):016x};Sampled=0"
    )


# Runs an invocation elsewhere (a cluster node) and returns its result once its lines are logged.
RemoteRun = Callable[[FunctionConfig, InvocationRequest], Awaitable[InvocationResult]]


@dataclass(frozen=True, slots=True)
class InvocationInput:
    config: FunctionConfig
    invoked_function_arn: str
    payload: bytes
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None  # None: a new one


class InvocationService:
    def __init__(
        self,
        pool: EnvironmentPool,
        current_config: Callable[[FunctionConfig], FunctionConfig | None],
        *,
        limiter: ConcurrencyLimiter,
        observer: InvocationObserver | None = None,
        write_logs: Callable[[], Awaitable[None]] | None = None,
        remote: RemoteRun | None = None,
    ) -> None:
        """`write_logs()` writes every log line appended so far to the log store's files; it does
        not raise (a failed write stays buffered for the store's next flush). `remote(config,
        request)`: where invocations run when they do not run here (a cluster's nodes: it returns
        once their log lines are appended); the pool is then not used for them."""
        self._remote = remote
        self._pool = pool
        self._current_config = current_config
        self._limiter = limiter
        self.observer: InvocationObserver = observer or NoObserver()
        self._write_logs = write_logs or _nothing_to_write

    @property
    def in_flight(self) -> int:
        return self._limiter.in_flight

    async def invoke(self, invocation: InvocationInput, request_id: str | None = None) -> InvocationResult:
        """Run synchronously. Raises TooManyRequestsException when the function or the account is
        at its concurrency limit or the memory budget has no room (every environment busy)."""
        name, version = invocation.config.name, invocation.config.version
        try:
            counted = self._limiter.enter(name, version)
        except AwsError:
            self.observer.throttled(invocation)
            raise
        if self._remote is not None and counted != PROVISIONED:
            # (Provisioned environments are this host's: a call one of them serves runs here.)
            try:
                return await self._run_remote(invocation, request_id)
            finally:
                self._limiter.leave(name, counted, version)
        try:
            try:
                environment = await self._pool.acquire(invocation.config)
            except MemoryBudgetExhausted as exhausted:
                self.observer.throttled(invocation)
                raise _memory_throttle(exhausted) from None
            result = await self._run(environment, invocation, request_id, wait=False)
            await self._write_logs()
            return result
        finally:
            self._limiter.leave(name, counted, version)

    async def invoke_queued(self, invocation: InvocationInput, request_id: str) -> InvocationResult:
        """An Event invocation waits for memory rather than failing, holding no concurrency slot
        while it waits; only a function larger than the whole budget fails. Raises
        TooManyRequestsException when the function or the account is at its concurrency limit."""
        if self._remote is not None:
            return await self.invoke(invocation, request_id)
        environment = await self._pool.acquire(invocation.config, wait=True)
        name, version = invocation.config.name, invocation.config.version
        try:
            counted = self._limiter.enter(name, version)
        except AwsError:
            self._pool.release(environment, self._current_config(invocation.config))
            self.observer.throttled(invocation)
            raise
        try:
            return await self._run(environment, invocation, request_id, wait=True)
        finally:
            self._limiter.leave(name, counted, version)

    async def _run_remote(self, invocation: InvocationInput, request_id: str | None) -> InvocationResult:
        assert self._remote is not None
        try:
            result = await self._remote(invocation.config, _request_of(invocation, request_id))
        except AwsError as error:
            if error.code == "TooManyRequestsException":
                self.observer.throttled(invocation)
            raise
        self.observer.invoked(invocation, result, self._limiter.in_flight)
        await self._write_logs()
        return result

    async def _run(
        self,
        environment: ExecutionEnvironment,
        invocation: InvocationInput,
        request_id: str | None,
        *,
        wait: bool,
    ) -> InvocationResult:
        """Run `invocation` in `environment`, or, when that one's runtime is gone before it got the
        invocation, in another one (`wait`: acquire it as the first was acquired)."""
        request = _request_of(invocation, request_id)
        for attempt in range(_GONE_ATTEMPTS):
            try:
                result = await environment.invoke(request)
            except EnvironmentGone:
                self._pool.release(environment, self._current_config(invocation.config))
                if attempt + 1 == _GONE_ATTEMPTS:
                    raise service_error(_KEPT_EXITING) from None
                try:
                    environment = await self._pool.acquire(invocation.config, wait=wait)
                except MemoryBudgetExhausted as exhausted:
                    raise _memory_throttle(exhausted) from None
                continue
            except BaseException:
                self._pool.release(environment, self._current_config(invocation.config))
                raise
            self._pool.release(environment, self._current_config(invocation.config))
            self.observer.invoked(invocation, result, self._limiter.in_flight)
            return result
        raise AssertionError("unreachable")


def _request_of(invocation: InvocationInput, request_id: str | None) -> InvocationRequest:
    return InvocationRequest(
        request_id or new_request_id(),
        invocation.payload,
        invocation.invoked_function_arn,
        invocation.trace_id or new_trace_id(),
        invocation.client_context,
        invocation.cognito_identity,
    )


async def _nothing_to_write() -> None:
    return None
