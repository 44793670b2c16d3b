"""QueueService on the real SQLite queue store: CreateQueue's idempotency and refusals, FIFO rules
and deduplication, long polling, redrive to a dead-letter queue, purges, receipts and visibility
(Amazon SQS API Reference, each action's errors; Developer Guide, "Amazon SQS dead-letter queues",
"Amazon SQS short and long polling")."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lamina.domain.queues.attributes import queue_arn
from lamina.domain.queues.records import QueueKey
from lamina.errors import AwsError
from lamina.sources.queues.service import Outgoing, QueueService, Receipt, handle_of, queue_tag
from lamina.store.sqlite.queues import SqliteQueueStore

ACCOUNT = "111111111111"
REGION = "us-east-1"
KEY: QueueKey = (ACCOUNT, REGION, "orders")
FIFO: QueueKey = (ACCOUNT, REGION, "jobs.fifo")
DEAD: QueueKey = (ACCOUNT, REGION, "dead")
SENDER = "AIDAEXAMPLE"


class Clock:
    """Wall-clock time moved forward on demand: long polls still wait in real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class World:
    service: QueueService
    clock: Clock

    async def create(self, key: QueueKey, **attributes: str) -> None:
        if key[2].endswith(".fifo"):
            attributes.setdefault("FifoQueue", "true")
        await self.service.create_queue(key[0], key[1], key[2], attributes, {})

    async def send(self, key: QueueKey, body: str = "hello", **options: str | int | None) -> str:
        sent = await self.service.send(key, [Outgoing(body, **options)], SENDER)  # type: ignore[arg-type]
        return sent[0].message_id

    async def count(self, key: QueueKey) -> tuple[int, int, int]:
        values = await self.service.attributes(key, ["All"])
        return (
            int(values["ApproximateNumberOfMessages"]),
            int(values["ApproximateNumberOfMessagesNotVisible"]),
            int(values["ApproximateNumberOfMessagesDelayed"]),
        )


def _run(tmp_path: Path, body: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        store = SqliteQueueStore(tmp_path / "queues.db")
        await store.open()
        clock = Clock()
        try:
            await body(World(QueueService(store, clock), clock))
        finally:
            await store.close()

    asyncio.run(main())


def _query_code(error: AwsError) -> str:
    return error.headers["x-amzn-query-error"]


# --------------------------------------------------------------------------- queues


def test_create_queue_is_idempotent_for_the_same_attributes(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        first = await world.service.create_queue(ACCOUNT, REGION, "orders", {"VisibilityTimeout": "45"}, {})
        world.clock.advance(5)
        again = await world.service.create_queue(ACCOUNT, REGION, "orders", {"VisibilityTimeout": "045"}, {})
        assert again == first
        # A default given explicitly is the same attribute value.
        plain = await world.service.create_queue(ACCOUNT, REGION, "plain", {}, {})
        assert await world.service.create_queue(ACCOUNT, REGION, "plain", {"DelaySeconds": "0"}, {}) == plain
        assert [queue.name for queue in await world.service.list_queues(ACCOUNT, REGION)] == [
            "orders",
            "plain",
        ]

    _run(tmp_path, body)


def test_create_queue_with_a_different_attribute_is_queue_name_exists(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.service.create_queue(ACCOUNT, REGION, "orders", {"VisibilityTimeout": "45"}, {})
        for attributes, named in (
            ({"VisibilityTimeout": "46"}, "VisibilityTimeout"),
            ({}, "VisibilityTimeout"),  # 30 by default
            ({"VisibilityTimeout": "45", "DelaySeconds": "5"}, "DelaySeconds"),
        ):
            with pytest.raises(AwsError) as caught:
                await world.service.create_queue(ACCOUNT, REGION, "orders", attributes, {})
            error = caught.value
            assert (error.code, _query_code(error), error.status) == (
                "QueueNameExists",
                "QueueAlreadyExists;Sender",
                400,
            )
            assert named in error.message
        queue = await world.service.queue(KEY)
        assert queue.attributes == {"VisibilityTimeout": "45"}

    _run(tmp_path, body)


def test_create_fifo_queue_again_with_content_based_deduplication_false_is_idempotent(tmp_path: Path) -> None:
    """ContentBasedDeduplication is false unless set (GetQueueAttributes reports "false"): saying
    so explicitly names the same queue."""

    async def body(world: World) -> None:
        first = await world.service.create_queue(ACCOUNT, REGION, "jobs.fifo", {"FifoQueue": "true"}, {})
        values = await world.service.attributes(FIFO, ["ContentBasedDeduplication"])
        assert values == {"ContentBasedDeduplication": "false"}
        again = await world.service.create_queue(
            ACCOUNT, REGION, "jobs.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "false"}, {}
        )
        assert again == first

    _run(tmp_path, body)


def test_a_deleted_queue_name_is_free_again_after_60_seconds(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        await world.send(KEY)
        await world.service.delete_queue(KEY)
        with pytest.raises(AwsError) as caught:
            await world.service.delete_queue(KEY)
        assert (caught.value.code, _query_code(caught.value)) == (
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
        )
        for elapsed in (0, 30, 29.5):  # 0, 30 and 59.5 seconds after the delete
            world.clock.advance(elapsed)
            with pytest.raises(AwsError) as caught:
                await world.create(KEY)
            error = caught.value
            assert (error.code, _query_code(error), error.status) == (
                "QueueDeletedRecently",
                "AWS.SimpleQueueService.QueueDeletedRecently;Sender",
                400,
            )
        await world.create((ACCOUNT, REGION, "another"))  # other names are not held
        world.clock.advance(0.6)
        await world.create(KEY)
        assert await world.count(KEY) == (0, 0, 0)  # a new queue: the old messages are gone

    _run(tmp_path, body)


def test_fifo_names_and_the_fifo_queue_attribute_go_together(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        for name, attributes in (
            ("jobs.fifo", {}),
            ("jobs.fifo", {"FifoQueue": "false"}),
            ("jobs", {"FifoQueue": "true"}),
            ("bad name", {}),
        ):
            with pytest.raises(AwsError) as caught:
                await world.service.create_queue(ACCOUNT, REGION, name, attributes, {})
            assert caught.value.code == "InvalidParameterValue"
        with pytest.raises(AwsError) as caught:
            await world.service.create_queue(
                ACCOUNT, REGION, "orders", {"ContentBasedDeduplication": "true"}, {}
            )
        assert caught.value.code == "InvalidAttributeName"
        queue = await world.service.create_queue(ACCOUNT, REGION, "jobs.fifo", {"FifoQueue": "TRUE"}, {})
        assert queue.fifo
        assert not (
            await world.service.create_queue(ACCOUNT, REGION, "orders", {"FifoQueue": "false"}, {})
        ).fifo
        assert "FifoQueue" not in await world.service.attributes(KEY, ["All"])

    _run(tmp_path, body)


# --------------------------------------------------------------------------- FIFO sends


def test_fifo_sends_need_a_group_and_a_deduplication_id(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(FIFO)
        with pytest.raises(AwsError) as caught:
            await world.send(FIFO, deduplication_id="d")
        error = caught.value
        assert (error.code, _query_code(error), error.status) == (
            "MissingParameter",
            "MissingParameter;Sender",
            400,
        )
        assert "MessageGroupId" in error.message

        with pytest.raises(AwsError) as caught:
            await world.send(FIFO, group_id="g")
        assert (caught.value.code, _query_code(caught.value)) == (
            "InvalidParameterValue",
            "InvalidParameterValue;Sender",
        )
        assert "ContentBasedDeduplication" in caught.value.message

        with pytest.raises(AwsError) as caught:
            await world.send(FIFO, group_id="g", deduplication_id="d", delay_seconds=5)
        assert caught.value.code == "InvalidParameterValue"
        assert "DelaySeconds" in caught.value.message
        assert await world.count(FIFO) == (0, 0, 0)

        await world.send(FIFO, group_id="g", deduplication_id="d")
        assert await world.count(FIFO) == (1, 0, 0)

    _run(tmp_path, body)


def test_content_based_deduplication_uses_the_body(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(FIFO, ContentBasedDeduplication="true")
        first = await world.send(FIFO, "same", group_id="g")
        assert await world.send(FIFO, "same", group_id="other") == first
        assert await world.send(FIFO, "different", group_id="g") != first
        # An explicit id wins over the body's.
        assert await world.send(FIFO, "same", group_id="g", deduplication_id="explicit") != first
        assert await world.count(FIFO) == (3, 0, 0)

    _run(tmp_path, body)


def test_a_deduplicated_send_returns_the_first_message(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(FIFO)
        first = await world.service.send(FIFO, [Outgoing("one", group_id="g", deduplication_id="d")], SENDER)
        world.clock.advance(60)
        again = await world.service.send(FIFO, [Outgoing("two", group_id="g", deduplication_id="d")], SENDER)
        assert again[0].message_id == first[0].message_id
        assert again[0].sequence_number == first[0].sequence_number is not None
        assert await world.count(FIFO) == (1, 0, 0)
        received = await world.service.receive(FIFO, 10, wait_seconds=0)
        assert [message.body for message in received] == ["one"]
        # Five minutes on, the id is new again.
        world.clock.advance(241)
        later = await world.service.send(
            FIFO, [Outgoing("three", group_id="g", deduplication_id="d")], SENDER
        )
        assert later[0].message_id != first[0].message_id

    _run(tmp_path, body)


def test_standard_queues_refuse_deduplication_ids_and_take_delays(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        with pytest.raises(AwsError) as caught:
            await world.send(KEY, deduplication_id="d")
        assert caught.value.code == "InvalidParameterValue"
        await world.send(KEY, delay_seconds=60)
        assert await world.count(KEY) == (0, 0, 1)
        with pytest.raises(AwsError) as caught:
            await world.send(KEY, delay_seconds=901)
        assert caught.value.code == "InvalidParameterValue"

    _run(tmp_path, body)


# --------------------------------------------------------------------------- long polling


def test_a_long_poll_returns_as_soon_as_a_message_is_sent(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)

        async def send_later() -> str:
            await asyncio.sleep(0.2)
            return await world.send(KEY, "late")

        started = time.monotonic()
        received, sent = await asyncio.gather(world.service.receive(KEY, 1, wait_seconds=5), send_later())
        elapsed = time.monotonic() - started
        assert [message.message_id for message in received] == [sent]
        # Woken by the send, not by the once-a-second look.
        assert 0.2 <= elapsed < 0.8, elapsed

    _run(tmp_path, body)


def test_a_long_poll_returns_nothing_when_its_wait_is_over(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        started = time.monotonic()
        assert await world.service.receive(KEY, 1, wait_seconds=2) == []
        elapsed = time.monotonic() - started
        assert 1.9 <= elapsed < 3.0, elapsed
        # Without a wait, at once.
        started = time.monotonic()
        assert await world.service.receive(KEY, 1, wait_seconds=0) == []
        assert time.monotonic() - started < 0.5

    _run(tmp_path, body)


def test_a_long_poll_uses_the_queues_wait_time_by_default(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY, ReceiveMessageWaitTimeSeconds="1")
        started = time.monotonic()
        assert await world.service.receive(KEY, 1) == []
        assert 0.9 <= time.monotonic() - started < 2.0

    _run(tmp_path, body)


# --------------------------------------------------------------------------- redrive


def _redrive(target: QueueKey, count: int) -> str:
    return json.dumps(
        {"deadLetterTargetArn": queue_arn(target[1], target[0], target[2]), "maxReceiveCount": count}
    )


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(DEAD)
        await world.create(KEY)
        await world.service.set_attributes(KEY, {"RedrivePolicy": _redrive(DEAD, 2)})
        sent = await world.send(KEY, "poison")

        for count in (1, 2):
            received = await world.service.receive(KEY, 10, visibility_timeout=0, wait_seconds=0)
            assert [(m.message_id, m.receive_count) for m in received] == [(sent, count)]
        assert await world.service.receive(KEY, 10, visibility_timeout=0, wait_seconds=0) == []
        assert await world.count(KEY) == (0, 0, 0)
        assert await world.count(DEAD) == (1, 0, 0)

        moved = await world.service.receive(DEAD, 10, wait_seconds=0)
        assert [(m.message_id, m.body) for m in moved] == [(sent, "poison")]
        assert moved[0].dead_letter_source == queue_arn(REGION, ACCOUNT, "orders")

    _run(tmp_path, body)


def test_set_attributes_refuses_a_redrive_policy_to_a_missing_queue(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        with pytest.raises(AwsError) as caught:
            await world.service.set_attributes(KEY, {"RedrivePolicy": _redrive(DEAD, 3)})
        error = caught.value
        assert (error.code, _query_code(error), error.status) == (
            "InvalidAttributeValue",
            "InvalidAttributeValue;Sender",
            400,
        )
        assert "RedrivePolicy" not in (await world.service.queue(KEY)).attributes

        await world.create(DEAD)
        await world.service.set_attributes(KEY, {"RedrivePolicy": _redrive(DEAD, 3)})
        assert json.loads((await world.service.attributes(KEY, ["RedrivePolicy"]))["RedrivePolicy"]) == {
            "deadLetterTargetArn": queue_arn(REGION, ACCOUNT, "dead"),
            "maxReceiveCount": 3,
        }
        await world.service.set_attributes(KEY, {"RedrivePolicy": ""})  # removes it
        assert "RedrivePolicy" not in (await world.service.queue(KEY)).attributes

    _run(tmp_path, body)


def test_create_queue_refuses_a_redrive_policy_to_a_missing_queue(tmp_path: Path) -> None:
    """CreateQueue checks a RedrivePolicy as SetQueueAttributes does: the target must exist."""

    async def body(world: World) -> None:
        with pytest.raises(AwsError) as caught:
            await world.create(KEY, RedrivePolicy=_redrive(DEAD, 3))
        assert caught.value.code in ("InvalidAttributeValue", "InvalidParameterValue")
        assert await world.service.find_queue(KEY) is None

    _run(tmp_path, body)


# --------------------------------------------------------------------------- purge


def test_purge_is_allowed_once_a_minute(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        await world.send(KEY, "a")
        await world.send(KEY, "b")
        await world.service.purge(KEY)
        assert await world.count(KEY) == (0, 0, 0)
        await world.send(KEY, "c")
        world.clock.advance(59)
        with pytest.raises(AwsError) as caught:
            await world.service.purge(KEY)
        error = caught.value
        assert (error.code, _query_code(error), error.status) == (
            "PurgeQueueInProgress",
            "AWS.SimpleQueueService.PurgeQueueInProgress;Sender",
            403,
        )
        assert await world.count(KEY) == (1, 0, 0)  # the refused purge removed nothing
        world.clock.advance(1.5)
        await world.service.purge(KEY)
        assert await world.count(KEY) == (0, 0, 0)

    _run(tmp_path, body)


# --------------------------------------------------------------------------- receipts, visibility


def _encoded(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


@pytest.mark.parametrize(
    "handle",
    [
        "",
        "not a receipt handle!",
        "abc",
        _encoded(b"no-colon"),
        _encoded(b":token"),
        _encoded(b"id:"),
        _encoded(b"\xff:\xfe"),
    ],
)
def test_delete_message_with_a_malformed_receipt_is_receipt_handle_is_invalid(
    tmp_path: Path, handle: str
) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        await world.send(KEY)
        with pytest.raises(AwsError) as caught:
            await world.service.delete_message(KEY, handle)
        error = caught.value
        assert (error.code, _query_code(error), error.status) == (
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid;Sender",
            400,
        )
        assert await world.count(KEY) == (1, 0, 0)

    _run(tmp_path, body)


def test_delete_message_by_its_latest_receipt(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        await world.send(KEY)
        first = (await world.service.receive(KEY, 1, visibility_timeout=0, wait_seconds=0))[0]
        second = (await world.service.receive(KEY, 1, visibility_timeout=30, wait_seconds=0))[0]
        await world.service.delete_message(KEY, handle_of(first, KEY))  # stale: succeeds, deletes nothing
        assert await world.count(KEY) == (0, 1, 0)
        await world.service.delete_message(KEY, handle_of(second, KEY))
        assert await world.count(KEY) == (0, 0, 0)

    _run(tmp_path, body)


def test_change_visibility_of_a_visible_message_is_message_not_inflight(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        sent = await world.send(KEY)
        for handle in (
            Receipt(sent, "never-received", queue_tag(KEY)).encode(),
            Receipt("missing", "x", queue_tag(KEY)).encode(),
        ):
            with pytest.raises(AwsError) as caught:
                await world.service.change_visibility(KEY, handle, 30)
            error = caught.value
            assert (error.code, _query_code(error), error.status) == (
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight;Sender",
                400,
            )
        taken = (await world.service.receive(KEY, 1, visibility_timeout=0, wait_seconds=0))[0]
        with pytest.raises(AwsError) as caught:  # received, but visible again at once
            await world.service.change_visibility(KEY, handle_of(taken, KEY), 30)
        assert caught.value.code == "MessageNotInflight"

    _run(tmp_path, body)


def test_change_visibility_to_zero_makes_a_message_receivable_again(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        await world.create(KEY)
        sent = await world.send(KEY)
        taken = (await world.service.receive(KEY, 1, visibility_timeout=300, wait_seconds=0))[0]
        assert await world.service.receive(KEY, 1, wait_seconds=0) == []
        with pytest.raises(AwsError) as caught:
            await world.service.change_visibility(KEY, handle_of(taken, KEY), 43_201)
        assert caught.value.code == "InvalidParameterValue"
        await world.service.change_visibility(KEY, handle_of(taken, KEY), 0)
        again = await world.service.receive(KEY, 1, wait_seconds=0)
        assert [(m.message_id, m.receive_count) for m in again] == [(sent, 2)]
        with pytest.raises(AwsError) as caught:  # the first receipt is no longer current
            await world.service.change_visibility(KEY, handle_of(taken, KEY), 10)
        assert caught.value.code == "MessageNotInflight"

    _run(tmp_path, body)


def test_operations_on_a_missing_queue_are_queue_does_not_exist(tmp_path: Path) -> None:
    async def body(world: World) -> None:
        handle = Receipt("m", "t", queue_tag(KEY)).encode()
        for call in (
            world.service.send(KEY, [Outgoing("x")], SENDER),
            world.service.receive(KEY, 1, wait_seconds=0),
            world.service.purge(KEY),
            world.service.delete_message(KEY, handle),
            world.service.change_visibility(KEY, handle, 0),
            world.service.set_attributes(KEY, {"DelaySeconds": "1"}),
            world.service.attributes(KEY, ["All"]),
        ):
            with pytest.raises(AwsError) as caught:
                await call
            assert (caught.value.code, _query_code(caught.value)) == (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue;Sender",
            )

    _run(tmp_path, body)
