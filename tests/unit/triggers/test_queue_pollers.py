"""The pollers of SQS event source mappings, driven with an in-memory queue and a scripted function:
what happens to a batch after each outcome, partial batch responses, filtering, batching windows,
scaling with the backlog, and starting and stopping as mappings change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from lamina.domain.event_sources import EventSourceMapping
from lamina.triggers import queue_pollers
from lamina.triggers.queue_pollers import (
    BatchOutcome,
    PolledMessage,
    QueuePollers,
    failed_items,
)

T = TypeVar("T")
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:jobs"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
EMPTY_RECEIVE_SECONDS = 0.005  # how long the fake queue's long poll waits when there is nothing


# --------------------------------------------------------------------------- failed_items


def report(*identifiers: Any) -> bytes:
    return json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in identifiers]}).encode()


def test_failed_items_of_a_valid_report() -> None:
    assert failed_items(report("a", "c"), {"a", "b", "c"}) == {"a", "c"}
    assert failed_items(report("a", "a"), {"a", "b"}) == {"a"}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"  \n",
        b"null",
        b"{}",
        b'{"batchItemFailures": []}',
        b'{"batchItemFailures": null}',
        b'{"other": 1}',
        b'"done"',
        b"[1, 2]",
        b"42",
    ],
)
def test_failed_items_when_nothing_is_reported(payload: bytes) -> None:
    assert failed_items(payload, {"a"}) == set()


@pytest.mark.parametrize(
    "payload",
    [
        report("zzz"),  # not in the batch
        report("a", "zzz"),
        report(""),
        report(None),
        report(5),
        b'{"batchItemFailures": [{"messageId": "a"}]}',  # a bad key name
        b'{"batchItemFailures": ["a"]}',
        b'{"batchItemFailures": [{}]}',
        b'{"batchItemFailures": "a"}',
        b'{"batchItemFailures": {"itemIdentifier": "a"}}',
        b"not json",  # "an invalid JSON response": the whole batch failed
    ],
)
def test_failed_items_of_a_malformed_report_is_none(payload: bytes) -> None:
    assert failed_items(payload, {"a", "b"}) is None


# --------------------------------------------------------------------------- fakes


class FakeQueues:
    """One in-memory queue: received messages are in flight until deleted or released; a receive
    of an empty queue waits a moment (a long poll, shortened)."""

    def __init__(self) -> None:
        self.visible: list[PolledMessage] = []
        self.in_flight: dict[str, PolledMessage] = {}
        self.deleted: list[str] = []
        self.released: list[str] = []
        self.dead_lettered: list[str] = []
        self.receives: list[tuple[str, int, int]] = []
        self._counter = 0

    def send(self, *bodies: str, attributes: dict[str, str] | None = None) -> list[PolledMessage]:
        sent = []
        for body in bodies:
            self._counter += 1
            message_id = f"m{self._counter}"
            record: dict[str, Any] = {
                "messageId": message_id,
                "receiptHandle": f"h{self._counter}",
                "body": body,
                "attributes": dict(attributes or {}),
            }
            message = PolledMessage(message_id, f"h{self._counter}", record)
            self.visible.append(message)
            sent.append(message)
        return sent

    async def receive(self, queue_arn: str, limit: int, wait_seconds: int) -> list[PolledMessage]:
        self.receives.append((queue_arn, limit, wait_seconds))
        if not self.visible:
            await asyncio.sleep(EMPTY_RECEIVE_SECONDS)
        batch, self.visible = self.visible[:limit], self.visible[limit:]
        for message in batch:
            self.in_flight[message.handle] = message
        return batch

    async def delete(self, queue_arn: str, handles: Sequence[str]) -> None:
        assert queue_arn == QUEUE_ARN
        for handle in handles:
            assert handle in self.in_flight, handle
            del self.in_flight[handle]
        self.deleted.extend(handles)

    async def release(self, queue_arn: str, handles: Sequence[str]) -> None:
        assert queue_arn == QUEUE_ARN
        for handle in handles:
            self.visible.append(self.in_flight.pop(handle))
        self.released.extend(handles)

    async def dead_letter(self, queue_arn: str, messages: Sequence[PolledMessage]) -> None:
        assert queue_arn == QUEUE_ARN
        for message in messages:
            del self.in_flight[message.handle]
        self.dead_lettered.extend(message.handle for message in messages)


class FakeFunction:
    """The invoke coroutine: records each batch's message ids and answers as `answer` says."""

    def __init__(self, answer: Callable[[list[dict[str, Any]]], BatchOutcome] | None = None) -> None:
        self.answer = answer or (lambda records: BatchOutcome(succeeded=True))
        self.calls: list[tuple[str, list[str]]] = []
        self.payloads: list[dict[str, Any]] = []
        self.traces: list[str | None] = []
        self.gate: asyncio.Event | None = None  # when given, invocations wait for it
        self.delay = 0.0  # how long each invocation runs
        self.running = 0
        self.most_running = 0

    async def __call__(self, function: str, payload: bytes, trace: str | None = None) -> BatchOutcome:
        document = json.loads(payload)
        self.payloads.append(document)
        self.traces.append(trace)
        records = document["Records"]
        self.calls.append((function, [record["messageId"] for record in records]))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)
            return self.answer(records)
        finally:
            self.running -= 1

    @property
    def invoked(self) -> list[str]:
        return [message_id for _, ids in self.calls for message_id in ids]


def mapping(**changes: Any) -> EventSourceMapping:
    values: dict[str, Any] = {
        "uuid": "u-1",
        "function_name": "f",
        "function_arn": FUNCTION_ARN,
        "event_source_arn": QUEUE_ARN,
        "state": "Enabled",
    }
    values.update(changes)
    return EventSourceMapping(**values)


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


def run(
    scenario: Callable[[QueuePollers, FakeQueues, FakeFunction], Awaitable[T]],
    function: FakeFunction | None = None,
) -> T:
    async def main() -> T:
        queues = FakeQueues()
        invoke = function or FakeFunction()
        pollers = QueuePollers(lambda: queues, invoke)
        try:
            return await scenario(pollers, queues, invoke)
        finally:
            await pollers.close()

    return asyncio.run(main())


@pytest.fixture(autouse=True)
def fast_backoffs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_pollers, "THROTTLE_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(queue_pollers, "ERROR_BACKOFF_SECONDS", 0.01)


# --------------------------------------------------------------------------- batch outcomes


def test_a_succeeded_batch_is_deleted() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        sent = queues.send("one", "two", "three")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.deleted) == 3)
        assert function.calls == [("f", ["m1", "m2", "m3"])]
        assert function.payloads == [{"Records": [dict(message.record) for message in sent]}]
        assert sorted(queues.deleted) == ["h1", "h2", "h3"]
        assert queues.released == [] and queues.in_flight == {}
        assert queues.receives[0] == (QUEUE_ARN, 10, queue_pollers.LONG_POLL_SECONDS)
        assert pollers.figures()["u-1"]["batches"] == 1

    run(scenario)


def test_the_function_name_keeps_its_qualifier() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("x")
        await pollers.apply(mapping(function_name="f:live"), "u-1")
        await eventually(lambda: queues.deleted == ["h1"])
        assert function.calls == [("f:live", ["m1"])]

    run(scenario)


def test_a_failed_batch_is_neither_deleted_nor_released() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(function.calls) == 1)
        await asyncio.sleep(0.05)
        assert queues.deleted == [] and queues.released == []
        assert sorted(queues.in_flight) == ["h1", "h2"]  # back after the visibility timeout
        assert len(function.calls) == 1

    run(scenario, FakeFunction(lambda records: BatchOutcome(succeeded=False)))


def test_a_throttled_batch_is_released_and_retried() -> None:
    outcomes = [BatchOutcome(succeeded=False, throttled=True), BatchOutcome(succeeded=True)]
    function = FakeFunction(lambda records: outcomes.pop(0))

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)
        assert queues.released == ["h1", "h2"]
        assert function.calls == [("f", ["m1", "m2"]), ("f", ["m1", "m2"])]

    run(scenario, function)


def test_report_batch_item_failures_keeps_only_the_named_failures() -> None:
    function = FakeFunction(
        lambda records: BatchOutcome(succeeded=True, payload=report(records[1]["messageId"]))
    )

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two", "three")
        await pollers.apply(mapping(response_types=("ReportBatchItemFailures",)), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)
        await asyncio.sleep(0.02)
        assert sorted(queues.deleted) == ["h1", "h3"]
        assert list(queues.in_flight) == ["h2"]
        assert queues.released == []

    run(scenario, function)


def test_a_failure_report_is_ignored_without_report_batch_item_failures() -> None:
    function = FakeFunction(lambda records: BatchOutcome(succeeded=True, payload=report("m2")))

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)

    run(scenario, function)


def test_a_malformed_failure_report_fails_the_whole_batch() -> None:
    function = FakeFunction(lambda records: BatchOutcome(succeeded=True, payload=report("unknown")))

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two")
        await pollers.apply(mapping(response_types=("ReportBatchItemFailures",)), "u-1")
        await eventually(lambda: len(function.calls) == 1)
        await asyncio.sleep(0.05)
        assert queues.deleted == [] and queues.released == []
        assert sorted(queues.in_flight) == ["h1", "h2"]

    run(scenario, function)


def test_a_batch_stopped_as_a_recursive_loop_goes_to_the_dead_letter_queue() -> None:
    function = FakeFunction(lambda records: BatchOutcome(succeeded=False, recursive=True))

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("one", "two")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.dead_lettered) == 2)
        await asyncio.sleep(0.02)
        assert queues.dead_lettered == ["h1", "h2"]
        assert queues.deleted == [] and queues.released == [] and queues.in_flight == {}
        assert len(function.calls) == 1

    run(scenario, function)


def test_the_invocation_continues_the_messages_trace() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        queues.send("one", "two", attributes={"AWSTraceHeader": header})
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)
        queues.send("untraced")
        await eventually(lambda: len(queues.deleted) == 3)
        assert function.traces == [header, None]

    run(scenario)


def test_a_failing_queue_does_not_stop_the_poller() -> None:
    class FlakyQueues(FakeQueues):
        failures = 2

        async def receive(self, queue_arn: str, limit: int, wait_seconds: int) -> list[PolledMessage]:
            if self.failures:
                self.failures -= 1
                raise OSError("queue unavailable")
            return await super().receive(queue_arn, limit, wait_seconds)

    async def main() -> None:
        queues = FlakyQueues()
        function = FakeFunction()
        pollers = QueuePollers(lambda: queues, function)
        try:
            queues.send("x")
            await pollers.apply(mapping(), "u-1")
            await eventually(lambda: queues.deleted == ["h1"])
        finally:
            await pollers.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- filtering


def test_filter_criteria_delete_unmatched_messages_without_invoking() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send(
            json.dumps({"kind": "keep", "n": 1}),
            json.dumps({"kind": "drop"}),
            "plain text",
            json.dumps({"kind": "other", "n": 50}),
        )
        filters = ('{"body": {"kind": ["keep"]}}', '{"body": {"n": [{"numeric": [">", 10]}]}}')
        await pollers.apply(mapping(filters=filters), "u-1")
        await eventually(lambda: len(queues.deleted) == 4)
        assert function.calls == [("f", ["m1", "m4"])]
        # The function gets the records as they are: bodies are still strings.
        assert [record["body"] for record in function.payloads[0]["Records"]] == [
            json.dumps({"kind": "keep", "n": 1}),
            json.dumps({"kind": "other", "n": 50}),
        ]
        assert sorted(queues.deleted) == ["h1", "h2", "h3", "h4"]

    run(scenario)


def test_a_batch_no_filter_matches_is_deleted_and_never_invoked() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("plain", json.dumps({"kind": "drop"}))
        await pollers.apply(mapping(filters=('{"body": {"kind": ["keep"]}}',)), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)
        await asyncio.sleep(0.02)
        assert function.calls == []
        assert pollers.figures()["u-1"]["batches"] == 0

    run(scenario)


def test_a_plain_text_body_can_be_matched_as_a_string() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send("hello world", "bye")
        await pollers.apply(mapping(filters=('{"body": [{"prefix": "hello"}]}',)), "u-1")
        await eventually(lambda: len(queues.deleted) == 2)
        assert function.calls == [("f", ["m1"])]

    run(scenario)


def test_messages_failing_a_filtered_batch_stay() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send(json.dumps({"kind": "keep"}), json.dumps({"kind": "drop"}))
        await pollers.apply(mapping(filters=('{"body": {"kind": ["keep"]}}',)), "u-1")
        await eventually(lambda: len(function.calls) == 1)
        await asyncio.sleep(0.02)
        assert queues.deleted == ["h2"]
        assert list(queues.in_flight) == ["h1"]

    run(scenario, FakeFunction(lambda records: BatchOutcome(succeeded=False)))


# --------------------------------------------------------------------------- batching window


def test_a_batching_window_collects_up_to_batch_size_across_receives() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send(*[f"b{index}" for index in range(30)])
        await pollers.apply(mapping(batch_size=25, batching_window=5), "u-1")
        await eventually(lambda: len(function.calls) >= 1)
        assert [len(ids) for _, ids in function.calls[:1]] == [25]
        assert function.calls[0][1] == [f"m{index}" for index in range(1, 26)]
        assert [limit for _, limit, _ in queues.receives[:3]] == [10, 10, 5]
        # Later receives of the window wait no longer than the window has left.
        assert all(1 <= wait <= 5 for _, _, wait in queues.receives[1:3])

    run(scenario)


def test_a_batching_window_ends_with_a_partial_batch() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send(*[f"b{index}" for index in range(12)])
        started = asyncio.get_running_loop().time()
        await pollers.apply(mapping(batch_size=50, batching_window=1), "u-1")
        await eventually(lambda: len(function.calls) == 1)
        assert asyncio.get_running_loop().time() - started >= 0.9
        assert len(function.calls[0][1]) == 12

    run(scenario)


def test_without_a_window_the_first_receive_is_the_batch() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        queues.send(*[f"b{index}" for index in range(4)])
        await pollers.apply(mapping(batch_size=3), "u-1")
        await eventually(lambda: len(queues.deleted) == 4)
        assert sorted(len(ids) for _, ids in function.calls) == [1, 3]
        assert queues.receives[0][1] == 3

    run(scenario)


# --------------------------------------------------------------------------- scaling


def test_pollers_scale_up_to_maximum_concurrency_and_back_to_one() -> None:
    function = FakeFunction()

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        function.delay = 0.01
        queues.send(*[f"b{index}" for index in range(80)])
        seen: list[int] = []

        async def sample() -> None:
            while True:
                seen.append(pollers.figures().get("u-1", {"pollers": 0})["pollers"])
                await asyncio.sleep(0.001)

        await pollers.apply(mapping(batch_size=2, maximum_concurrency=3), "u-1")
        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            # Full batches signal a backlog; pollers stop growing at MaximumConcurrency.
            await eventually(lambda: len(queues.deleted) == 80)
            assert max(seen) == 3
            assert function.most_running == 3
            # An empty queue needs one poller: never none, or the mapping would stop polling.
            await asyncio.sleep(0.05)
            assert pollers.figures()["u-1"] == {"pollers": 1, "batches": 40}
            queues.send("late")
            await eventually(lambda: len(queues.deleted) == 81)
        finally:
            sampler.cancel()

    run(scenario, function)


def test_without_maximum_concurrency_pollers_scale_to_the_default() -> None:
    function = FakeFunction()

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        function.delay = 0.01
        queues.send(*[f"b{index}" for index in range(400)])
        seen: list[int] = []

        async def sample() -> None:
            while True:
                seen.append(pollers.figures().get("u-1", {"pollers": 0})["pollers"])
                await asyncio.sleep(0.001)

        await pollers.apply(mapping(batch_size=1), "u-1")
        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            await eventually(lambda: len(queues.deleted) == 400, timeout=10)
        finally:
            sampler.cancel()
        assert max(seen) == queue_pollers.DEFAULT_MAXIMUM_CONCURRENCY

    run(scenario, function)


def test_partial_batches_do_not_scale_up() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        for _ in range(5):
            queues.send("a")
            await eventually(lambda: not queues.visible)
            await asyncio.sleep(0.01)
        await eventually(lambda: len(queues.deleted) == 5)
        assert pollers.figures()["u-1"]["pollers"] == 1

    async def started(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        await pollers.apply(mapping(batch_size=5, maximum_concurrency=4), "u-1")
        await scenario(pollers, queues, function)

    run(started)


# --------------------------------------------------------------------------- following the mappings


def test_apply_none_stops_polling() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.receives) >= 1)
        await pollers.apply(None, "u-1")
        assert pollers.figures() == {}
        seen = len(queues.receives)
        queues.send("late")
        await asyncio.sleep(0.05)
        assert len(queues.receives) == seen
        assert function.calls == []
        assert [message.message_id for message in queues.visible] == ["m1"]

    run(scenario)


def test_a_disabled_mapping_is_not_polled() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: len(queues.receives) >= 1)
        await pollers.apply(mapping(enabled=False, state="Disabled"), "u-1")
        assert pollers.figures() == {}
        seen = len(queues.receives)
        queues.send("x")
        await asyncio.sleep(0.05)
        assert len(queues.receives) == seen and function.calls == []
        # Enabled again: polling resumes.
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: queues.deleted == ["h1"])

    run(scenario)


def test_apply_restarts_with_the_new_settings() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        await pollers.apply(mapping(), "u-1")
        await pollers.apply(mapping(function_name="g", batch_size=1), "u-1")
        assert list(pollers.figures()) == ["u-1"]
        queues.send("a", "b")
        await eventually(lambda: len(queues.deleted) == 2)
        assert function.calls == [("g", ["m1"]), ("g", ["m2"])]

    run(scenario)


def test_nothing_is_polled_without_queues() -> None:
    async def main() -> None:
        function = FakeFunction()
        pollers = QueuePollers(lambda: None, function)
        await pollers.apply(mapping(), "u-1")
        assert pollers.figures() == {}
        await pollers.close()

    asyncio.run(main())


def test_close_stops_everything() -> None:
    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        await pollers.apply(mapping(), "u-1")
        await pollers.apply(mapping(uuid="u-2"), "u-2")
        await eventually(lambda: len(queues.receives) >= 2)
        await pollers.close()
        assert pollers.figures() == {}
        seen = len(queues.receives)
        queues.send("x")
        await asyncio.sleep(0.05)
        assert len(queues.receives) == seen and function.calls == []
        # A closed set of pollers starts no more.
        await pollers.apply(mapping(), "u-1")
        assert pollers.figures() == {}
        await asyncio.sleep(0.02)
        assert len(queues.receives) == seen

    run(scenario)


def test_close_cancels_a_running_batch() -> None:
    function = FakeFunction()

    async def scenario(pollers: QueuePollers, queues: FakeQueues, function: FakeFunction) -> None:
        function.gate = asyncio.Event()
        queues.send("x")
        await pollers.apply(mapping(), "u-1")
        await eventually(lambda: function.running == 1)
        await asyncio.wait_for(pollers.close(), 1)
        assert function.running == 0
        assert queues.deleted == []

    run(scenario, function)
