"""The event recorder: the invocations of functions that opted in (LAMINA_RECORD_EVENTS=on), with
their events, buffered on the invocation path and written at the periodic flush; and the pruning
that keeps each function's recordings within its time and size (domain/recordings.py).

On the invocation path a function that does not record costs one dictionary lookup. The buffer is
bounded: past MAX_PENDING_BYTES, recordings are dropped (and counted) until the next flush rather
than holding the server's memory."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lamina.clock import Clock
from lamina.domain.functions import FunctionConfig
from lamina.domain.recordings import (
    DEFAULT_HOURS,
    DEFAULT_MB,
    FAILED,
    RECORD_VARIABLE,
    SUCCEEDED,
    TIMED_OUT,
    RecordedInvocation,
    RecordingPolicy,
    recording_policy,
)
from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput
from lamina.store.ports import RecordingSink, RecordingStore

__all__ = ["EventRecorder", "prune_recordings"]

MAX_PENDING_BYTES = 64 * 1024 * 1024
_log = logging.getLogger("lamina")


class EventRecorder:
    """An InvocationObserver."""

    def __init__(self, sink: RecordingSink, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        self._pending: list[RecordedInvocation] = []
        self._pending_bytes = 0
        self.dropped = 0

    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        environment = invocation.config.environment
        if RECORD_VARIABLE not in environment or recording_policy(environment) is None:
            return
        size = len(invocation.payload)
        if self._pending_bytes + size > MAX_PENDING_BYTES:
            self.dropped += 1
            return
        report = result.report
        if report is not None and report.status == "timeout":
            status = TIMED_OUT
        else:
            status = FAILED if result.function_error is not None else SUCCEEDED
        self._pending.append(
            RecordedInvocation(
                invocation.config.name,
                report.request_id if report is not None else "",
                self._clock.now(),
                result.executed_version,
                status,
                report.duration_ms if report is not None else 0.0,
                bytes(invocation.payload),
                size,
            )
        )
        self._pending_bytes += size

    def throttled(self, invocation: InvocationInput) -> None:
        return None

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        return None

    async def flush(self) -> None:
        """Write what was recorded; a failed write keeps it for the next flush."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        try:
            await self._sink.add([item for item in pending if item.request_id])
        except BaseException:
            self._pending = pending + self._pending
            self._pending_bytes = sum(item.size for item in self._pending)
            raise


_DEFAULT_POLICY = RecordingPolicy(DEFAULT_HOURS, DEFAULT_MB * 1024 * 1024)


async def prune_recordings(
    store: RecordingStore, latest: Callable[[str], FunctionConfig | None], now: float
) -> None:
    """Keep each function's recordings within its policy (a function that stopped recording keeps
    the default's); a deleted function's go."""
    for function in await store.functions():
        config = latest(function)
        if config is None:
            await store.forget(function)
            continue
        policy = recording_policy(config.environment) or _DEFAULT_POLICY
        await store.prune(function, now - policy.hours * 3600, policy.max_bytes)
