"""The pollers of event source mappings: each enabled mapping's queue is read in batches and each
batch runs the function synchronously (Lambda developer guide, "Using Lambda with Amazon SQS").

- A batch is up to BatchSize messages: the first long-poll returns as soon as any arrive; with a
  batching window the poller keeps reading until the batch is full or the window is over.
- Messages no filter matches are deleted without running the function (as Lambda does for SQS).
- A batch that succeeds is deleted; with `ReportBatchItemFailures`, all but the messages the
  function names in `batchItemFailures`. A batch that fails (an error, a timeout, a malformed
  failure report) is left alone: its messages become visible again after the queue's visibility
  timeout and reach its dead-letter queue through its redrive policy. A throttled batch is handed
  back at once (visibility 0) and the poller backs off.
- Scaling: each mapping starts with one poller; a poller that got a full batch starts another, up to
  the mapping's MaximumConcurrency (DEFAULT_MAXIMUM_CONCURRENCY without one); a poller beyond the
  first that finds the queue empty stops. The function's own concurrency limits hold as for any
  invocation (a throttle hands the batch back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.domain.event_patterns import EventPattern, InvalidPattern, parse_pattern
from lamina.domain.event_sources import REPORT_BATCH_ITEM_FAILURES, EventSourceMapping
from lamina.errors import AwsError

_log = logging.getLogger(__name__)
DEFAULT_MAXIMUM_CONCURRENCY = 20
LONG_POLL_SECONDS = 20
THROTTLE_BACKOFF_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class PolledMessage:
    message_id: str
    handle: str
    record: Mapping[str, Any]  # the SQS event record the function gets
    source: object = None  # the queue's own message, for the queue to act on (dead-letter it)


class PolledQueues(Protocol):
    """What the pollers need of queues (`sources/queues/consumer.py`)."""

    async def receive(self, queue_arn: str, limit: int, wait_seconds: int) -> list[PolledMessage]: ...
    async def delete(self, queue_arn: str, handles: Sequence[str]) -> None: ...
    async def release(self, queue_arn: str, handles: Sequence[str]) -> None: ...
    async def dead_letter(self, queue_arn: str, messages: Sequence[PolledMessage]) -> None:
        """Take messages off the queue to its dead-letter queue (dropped when it has none)."""
        ...


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    succeeded: bool  # the function returned without error
    throttled: bool = False
    payload: bytes = b""
    recursive: bool = False  # stopped as a recursive loop: never run


# invoke(function name[:qualifier], payload, trace header): one synchronous invocation of a batch;
# the trace header (the messages' AWSTraceHeader) continues the chain of whatever sent them.
Invoke = Callable[[str, bytes, str | None], Awaitable[BatchOutcome]]


def failed_items(payload: bytes, batch_ids: set[str]) -> set[str] | None:
    """The message ids a partial batch response names as failed; None when the response is not a
    valid one (Lambda then treats the whole batch as failed)."""
    if not payload.strip():
        return set()
    try:
        document = json.loads(payload)
    except ValueError:
        return None  # "an invalid JSON response" (Lambda: the whole batch failed)
    if not isinstance(document, dict) or document.get("batchItemFailures") is None:
        return set()
    failures = document["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier or identifier not in batch_ids:
            return None
        failed.add(identifier)
    return failed


def _filterable(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as filters see it: its body parsed when it is JSON (Lambda's event filtering)."""
    document = dict(record)
    body = document.get("body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            document["body"] = json.loads(body)
    return document


class _MappingPoller:
    def __init__(self, mapping: EventSourceMapping, queues: PolledQueues, invoke: Invoke) -> None:
        self.mapping = mapping
        self._queues = queues
        self._invoke = invoke
        self._patterns: list[EventPattern] = []
        for text in mapping.filters:
            with contextlib.suppress(InvalidPattern):
                self._patterns.append(parse_pattern(text))
        self._workers: set[asyncio.Task[None]] = set()
        # Pollers still at work: decided synchronously (a finished task leaves `_workers` only
        # later, through its callback), so that the last one never leaves an empty queue.
        self._active = 0
        self._stopped = False
        self.batches = 0

    @property
    def maximum(self) -> int:
        return self.mapping.maximum_concurrency or DEFAULT_MAXIMUM_CONCURRENCY

    @property
    def pollers(self) -> int:
        return self._active

    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        if self._stopped or self._active >= self.maximum:
            return
        self._active += 1
        task = asyncio.get_running_loop().create_task(self._work())
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def stop(self) -> None:
        self._stopped = True
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        failures = 0
        while not self._stopped:
            try:
                batch = await self._collect()
                if not batch:
                    if self._active > 1:
                        self._active -= 1
                        return  # one poller is enough for an empty queue
                    continue
                if len(batch) >= min(self.mapping.batch_size, 10):
                    self._spawn()  # a full batch: there is a backlog, poll it beside this one
                await self._run(batch)
                failures = 0
            except asyncio.CancelledError:
                raise
            except AwsError as error:
                # The queue gone, say: told once, then tried again less and less often.
                if failures == 0:
                    _log.warning(
                        "event source mapping %s: polling failed: %s", self.mapping.uuid, error.message
                    )
                failures += 1
                await asyncio.sleep(min(MAX_BACKOFF_SECONDS, ERROR_BACKOFF_SECONDS * 2**failures))
            except Exception:
                if failures == 0:
                    _log.exception("event source mapping %s: polling failed", self.mapping.uuid)
                failures += 1
                await asyncio.sleep(min(MAX_BACKOFF_SECONDS, ERROR_BACKOFF_SECONDS * 2**failures))

    async def _collect(self) -> list[PolledMessage]:
        mapping = self.mapping
        arn = mapping.event_source_arn
        batch = await self._queues.receive(arn, min(10, mapping.batch_size), LONG_POLL_SECONDS)
        if not batch or mapping.batching_window <= 0:
            return batch
        deadline = time.monotonic() + mapping.batching_window
        while len(batch) < mapping.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await self._queues.receive(
                arn, min(10, mapping.batch_size - len(batch)), max(1, min(LONG_POLL_SECONDS, int(remaining)))
            )
            batch.extend(more)
        return batch

    async def _run(self, batch: list[PolledMessage]) -> None:
        mapping = self.mapping
        arn = mapping.event_source_arn
        if self._patterns:
            matched = [m for m in batch if any(p.matches(_filterable(m.record)) for p in self._patterns)]
            unmatched = [m.handle for m in batch if m not in matched]
            if unmatched:
                await self._queues.delete(arn, unmatched)
            batch = matched
            if not batch:
                return
        payload = json.dumps({"Records": [message.record for message in batch]}, separators=(",", ":"))
        trace = next(
            (
                m.record.get("attributes", {}).get("AWSTraceHeader")
                for m in batch
                if m.record.get("attributes")
            ),
            None,
        )
        outcome = await self._invoke(mapping.function_name, payload.encode(), trace)
        self.batches += 1
        if outcome.recursive:
            # Recursive loop detection: the batch never runs, and leaves the queue for its
            # dead-letter queue (Lambda's handling of a loop through SQS).
            await self._queues.dead_letter(arn, batch)
            return
        if outcome.throttled:
            await self._queues.release(arn, [message.handle for message in batch])
            await asyncio.sleep(THROTTLE_BACKOFF_SECONDS)
            return
        if not outcome.succeeded:
            return  # the messages come back after their visibility timeout
        failed: set[str] = set()
        if REPORT_BATCH_ITEM_FAILURES in mapping.response_types:
            reported = failed_items(outcome.payload, {message.message_id for message in batch})
            if reported is None:
                _log.warning(
                    "event source mapping %s: malformed batchItemFailures; batch retried", mapping.uuid
                )
                return
            failed = reported
        done = [message.handle for message in batch if message.message_id not in failed]
        if done:
            await self._queues.delete(arn, done)


class QueuePollers:
    """The pollers of one account's mappings in one region; `apply` follows the mapping service.
    `queues()`: the queues to poll (None in a process that serves none: nothing is polled)."""

    def __init__(self, queues: Callable[[], PolledQueues | None], invoke: Invoke) -> None:
        self._queues = queues
        self._invoke = invoke
        self._pollers: dict[str, _MappingPoller] = {}
        self._closed = False
        # Changes are applied one at a time: a stop in progress is never overtaken by a start.
        self._applying = asyncio.Lock()

    async def apply(self, mapping: EventSourceMapping | None, mapping_uuid: str) -> None:
        """Start, restart or stop the poller of a mapping as it now is (None: deleted)."""
        async with self._applying:
            current = self._pollers.pop(mapping_uuid, None)
            if current is not None:
                await current.stop()
            queues = self._queues()
            if mapping is None or not mapping.enabled or self._closed or queues is None:
                return
            poller = _MappingPoller(mapping, queues, self._invoke)
            self._pollers[mapping_uuid] = poller
            poller.start()

    def figures(self) -> dict[str, dict[str, int]]:
        """Pollers and batches run, per mapping (health)."""
        return {
            key: {"pollers": poller.pollers, "batches": poller.batches}
            for key, poller in self._pollers.items()
        }

    async def close(self) -> None:
        self._closed = True
        for poller in list(self._pollers.values()):
            await poller.stop()
        self._pollers.clear()
