"""Durable delivery of asynchronous (`Event`) invocations.

An event is written to the queue before the caller gets its 202 and removed only once it is
settled: run successfully, or handed to its failure destination after its retries or its maximum
age ran out. A server that dies in between finds the event in the queue at its next start and runs
it again, so every accepted event is delivered at least once. Retry rules are in
domain/async_events.py; each event is one task that sleeps until its next attempt is due.

What a run leaves behind (its log lines, metrics and billing) is buffered in memory by the stores.
Before the queue forgets a run (the event is removed, or stored again with the run counted),
`persist()` makes all of that durable: otherwise a server killed in between would lose the lines of
a run it will never repeat. `persist` is shared by every event, so events finishing together wait
for one write, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.domain.arns import parse_function_ref
from lamina.domain.async_events import (
    EVENT_AGE_EXCEEDED,
    FUNCTION_ERROR_RETRY_DELAYS_SECONDS,
    RECURSIVE_LOOP,
    RETRIES_EXHAUSTED,
    SUCCESS,
    THROTTLE_BACKOFF_FIRST_SECONDS,
    THROTTLE_BACKOFF_MAX_SECONDS,
    EventInvokeConfig,
    QueuedEvent,
    destination_record,
)
from lamina.domain.functions import FunctionConfig
from lamina.domain.ids import new_request_id
from lamina.errors import AwsError
from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.execution.observer import (
    ASYNC_EVENT_AGE,
    ASYNC_EVENTS_DROPPED,
    ASYNC_EVENTS_RECEIVED,
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    RECURSIVE_INVOCATIONS_DROPPED,
    InvocationObserver,
)
from lamina.store.ports import EventQueue

_log = logging.getLogger(__name__)
# send_to_queue(source function, queue ARN, body, message attributes): True once the queue has it.
# (a topic too: `arn:aws:sns:` targets go to the embedded SNS)
SendToQueue = Callable[[FunctionConfig, str, bytes, Mapping[str, Any] | None], Awaitable[bool]]


def _error_message(condition: str, result: InvocationResult | None) -> str:
    """What the dead-letter message says went wrong: the function's error, else the condition."""
    if result is not None and result.function_error and result.payload:
        try:
            document = json.loads(result.payload)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("errorMessage"):
            return str(document["errorMessage"])
    return condition


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Delays between attempts; AWS's by default, shorter ones for tests and impatient users."""

    retry_delays: tuple[float, ...] = FUNCTION_ERROR_RETRY_DELAYS_SECONDS
    first_backoff: float = THROTTLE_BACKOFF_FIRST_SECONDS
    max_backoff: float = THROTTLE_BACKOFF_MAX_SECONDS


async def _nothing_to_persist() -> None:
    return None


class AsyncDelivery:
    def __init__(
        self,
        queue: EventQueue,
        invocations: InvocationService,
        resolve: Callable[[str, str | None], FunctionConfig | None],
        invoke_config: Callable[[str, str | None], EventInvokeConfig],
        function_arn: Callable[[str, str | None], str],
        *,
        region: str,
        account_id: str,
        policy: DeliveryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        may_send: Callable[[FunctionConfig, str], bool] = lambda source, destination: True,
        persist: Callable[[], Awaitable[None]] | None = None,
        send_to_queue: SendToQueue | None = None,
    ) -> None:
        """`resolve(name, qualifier)` gives the configuration one attempt runs (None when the
        function or qualifier is gone); `invoke_config(name, qualifier)` its retry settings;
        `may_send(source, destination_arn)` whether the source function's execution role may
        invoke the destination (Lambda requires lambda:InvokeFunction on it); `persist()` makes
        every log line, metric and billed duration recorded so far survive a crash of the server,
        raising if it could not (the event then stays queued); `send_to_queue(source, queue ARN,
        body, message attributes)` puts a record on an SQS queue as the source function's role
        (destinations and dead-letter queues that are queues), True once sent."""
        self._send_to_queue = send_to_queue
        self._queue = queue
        self._invocations = invocations
        self._resolve = resolve
        self._invoke_config = invoke_config
        self._may_send = may_send
        self._function_arn = function_arn
        self._region = region
        self._account_id = account_id
        self._policy = policy or DeliveryPolicy()
        self._clock = clock
        self._persist = persist or _nothing_to_persist
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def backlog(self) -> int:
        """Events accepted and not yet settled."""
        return len(self._tasks)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def start(self) -> int:
        """Schedule every event a previous run left in the queue. Returns how many."""
        pending = await self._queue.pending()
        for event in pending:
            self._schedule(event)
        return len(pending)

    async def adopt(self) -> int:
        """Schedule the events another server sharing the queue stopped before settling. Returns how many."""
        adopted = [event for event in await self._queue.orphans() if event.event_id not in self._tasks]
        for event in adopted:
            self._schedule(event)
        return len(adopted)

    async def accept(
        self,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        client_context: str | None = None,
        trace_id: str | None = None,
        event_id: str | None = None,
    ) -> str:
        """Store the event durably, then schedule it. Returns its request id."""
        now = self._now_ms()
        event = QueuedEvent(
            event_id or new_request_id(),
            function_name,
            qualifier,
            payload,
            now,
            client_context=client_context,
            trace_id=trace_id,
            next_attempt_at_ms=now,
        )
        await self._queue.put(event)
        self._schedule(event)
        self._observer().async_event(ASYNC_EVENTS_RECEIVED, function_name, qualifier)
        return event.event_id

    async def reject_recursive(self, function_name: str, qualifier: str | None, payload: bytes) -> str:
        """An Event invocation stopped as a recursive loop: it never runs; its failure
        destination gets the record."""
        event = QueuedEvent(new_request_id(), function_name, qualifier, payload, self._now_ms())
        self._observer().async_event(RECURSIVE_INVOCATIONS_DROPPED, function_name, qualifier)
        await self._settle(event, RECURSIVE_LOOP, None, self._invoke_config(function_name, qualifier))
        return event.event_id

    def _schedule(self, event: QueuedEvent) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks[event.event_id] = task
        task.add_done_callback(lambda done: self._forget(event.event_id, done))

    def _forget(self, event_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(event_id) is task:
            del self._tasks[event_id]

    async def _deliver(self, event: QueuedEvent) -> None:
        while True:
            delay = (event.next_attempt_at_ms - self._now_ms()) / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                following = await self._attempt(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # the queue keeps the event: the next start runs it again
                _log.exception("async delivery of %s failed; it stays queued", event.event_id)
                return
            if following is None:
                return
            event = following

    async def _attempt(self, event: QueuedEvent) -> QueuedEvent | None:
        """Run the event once. Returns the event's next state when it must be tried again."""
        config = self._invoke_config(event.function_name, event.qualifier)
        if self._now_ms() - event.enqueued_at_ms > config.max_event_age_seconds * 1000:
            await self._settle(event, EVENT_AGE_EXCEEDED, None, config)
            return None
        function = self._resolve(event.function_name, event.qualifier)
        if function is None:
            _log.warning(
                "dropping async invocation %s: %s no longer exists",
                event.event_id,
                self._function_arn(event.function_name, event.qualifier),
            )
            await self._queue.remove(event.event_id)
            return None
        invocation = InvocationInput(
            function,
            self._function_arn(event.function_name, event.qualifier),
            event.payload,
            event.client_context,
            trace_id=event.trace_id,
        )
        self._observer().async_event(
            ASYNC_EVENT_AGE,
            event.function_name,
            event.qualifier,
            float(self._now_ms() - event.enqueued_at_ms),
        )
        try:
            result = await self._invocations.invoke_queued(invocation, event.event_id)
        except AwsError as error:  # throttled, or a platform failure: back off, keep the event
            _log.info("async invocation %s postponed: %s", event.event_id, error.message)
            return await self._requeue(
                event.postponed(self._now_ms(), self._policy.first_backoff, self._policy.max_backoff)
            )
        ran = event.after_run(self._now_ms(), self._policy.retry_delays)
        if result.function_error is None:
            await self._settle(ran, SUCCESS, result, config)
            return None
        if ran.runs > config.max_retry_attempts:
            await self._settle(ran, RETRIES_EXHAUSTED, result, config)
            return None
        await self._persist()  # the failed run's lines, before the queue counts the run
        return await self._requeue(ran)

    async def _requeue(self, event: QueuedEvent) -> QueuedEvent:
        await self._queue.put(event)
        return event

    async def _settle(
        self, event: QueuedEvent, condition: str, result: InvocationResult | None, config: EventInvokeConfig
    ) -> None:
        """Send the record to the destination the outcome calls for, then forget the event."""
        destination = config.on_success if condition == SUCCESS else config.on_failure
        if condition != SUCCESS:
            _log.warning(
                "async invocation %s of %s failed: %s",
                event.event_id,
                self._function_arn(event.function_name, event.qualifier),
                condition,
            )
        if condition != SUCCESS:
            if not destination:
                self._observer().async_event(ASYNC_EVENTS_DROPPED, event.function_name, event.qualifier)
            function = self._resolve(event.function_name, event.qualifier)
            if function is not None and function.dead_letter_target:
                await self._send_to_dead_letters(function, event, condition, result)
        if destination:
            record = destination_record(
                event,
                self._function_arn(event.function_name, event.qualifier or "$LATEST"),
                condition,
                status_code=200 if result is not None else None,
                executed_version=result.executed_version if result is not None else None,
                function_error=result.function_error if result is not None else None,
                response_payload=result.payload if result is not None else None,
            )
            await self._send_to_destination(destination, record, event)
        await self._persist()
        await self._queue.remove(event.event_id)

    def _observer(self) -> InvocationObserver:
        return self._invocations.observer

    async def _send_to_destination(self, destination: str, record: bytes, event: QueuedEvent) -> None:
        if not await self._delivered_to_destination(destination, record, event):
            self._observer().async_event(DESTINATION_DELIVERY_FAILURES, event.function_name, event.qualifier)

    async def _send_to_dead_letters(
        self, function: FunctionConfig, event: QueuedEvent, condition: str, result: InvocationResult | None
    ) -> None:
        """The event's own payload to the function's dead-letter queue, with Lambda's message
        attributes (RequestID, ErrorCode, ErrorMessage); counted as DeadLetterErrors when it
        cannot be sent (a queue or topic gone, a role that may not)."""
        target = str(function.dead_letter_target)
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": event.event_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": _error_message(condition, result)},
        }
        sent = False
        if target.startswith(("arn:aws:sqs:", "arn:aws:sns:")) and self._send_to_queue is not None:
            try:
                sent = await self._send_to_queue(function, target, event.payload, attributes)
            except AwsError as error:
                _log.warning(
                    "dead-letter queue %s of %s not written: %s", target, event.event_id, error.message
                )
        if not sent:
            self._observer().async_event(DEAD_LETTER_ERRORS, event.function_name, event.qualifier)

    async def _delivered_to_destination(self, destination: str, record: bytes, event: QueuedEvent) -> bool:
        if destination.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
            source = self._resolve(event.function_name, event.qualifier)
            if source is None or self._send_to_queue is None:
                return False
            try:
                return await self._send_to_queue(source, destination, record, None)
            except AwsError as error:
                _log.warning(
                    "destination %s of %s not written: %s", destination, event.event_id, error.message
                )
                return False
        try:
            ref = parse_function_ref(destination, region=self._region, account_id=self._account_id)
        except AwsError:
            _log.warning(
                "destination %s of %s is not a Lambda function: record dropped", destination, event.event_id
            )
            return False
        if self._resolve(ref.name, ref.qualifier) is None:
            _log.warning("destination %s of %s does not exist: record dropped", destination, event.event_id)
            return False
        source = self._resolve(event.function_name, event.qualifier)
        if source is None or not self._may_send(source, destination):
            _log.warning(
                "the execution role of %s may not invoke destination %s: record of %s dropped",
                event.function_name,
                destination,
                event.event_id,
            )
            return False
        await self.accept(ref.name, ref.qualifier, record, trace_id=event.trace_id)
        return True

    async def close(self) -> None:
        """Stop delivering; what was not settled stays queued for the next start."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
