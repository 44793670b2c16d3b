"""The embedded SQS's port, QueueStore (SQLite, PostgreSQL): each adapter held to the contracts
`store/queue_ports.py` states, including that concurrent receives (on PostgreSQL, through two
stores on one database, as two servers would) never hand out one message twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from lamina.domain.queues.messages import Message
from lamina.store.postgres.queues import PostgresQueueStore
from lamina.store.queue_ports import QueueKey, QueueRecord, QueueStore, Received
from lamina.store.sqlite.queues import SqliteQueueStore
from tests.support.postgres import PostgresServer

ACCOUNT = "111111111111"
REGION = "us-east-1"
NOW = 1_700_000_000_000  # ms
KEY: QueueKey = (ACCOUNT, REGION, "orders")
OTHER: QueueKey = (ACCOUNT, REGION, "other")
DAY_MS = 86_400_000
DEDUP_MS = 300_000
# Names whose byte order differs from a locale-aware order: capitals first, "-" (2D) before "."
# (2E) before digits before "_" (5F) before lowercase letters.
NAMES = ["zeta", "alpha", "Beta", "alpha-2", "alpha_2", "alpha.fifo", "alpha2", "_x"]


def _queue(key: QueueKey = KEY, **changes: object) -> QueueRecord:
    record = QueueRecord(
        key[0],
        key[1],
        key[2],
        {"VisibilityTimeout": "30", "DelaySeconds": "0"},
        1_700_000_000,
        1_700_000_001,
        {"team": "orders"},
        0.0,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def _message(
    number: int,
    *,
    sent_at: int = NOW,
    visible_at: int | None = None,
    group: str | None = None,
    dedup: str | None = None,
) -> Message:
    return Message(
        f"m-{number:04d}-{uuid.uuid4().hex[:8]}",
        f"body {number}",
        {"kind": {"DataType": "String", "StringValue": f"k{number}"}},
        sent_at=sent_at,
        visible_at=sent_at if visible_at is None else visible_at,
        group_id=group,
        deduplication_id=dedup,
        sender_id="AIDAEXAMPLE",
        trace_header="Root=1-abc-def",
    )


async def _take(
    store: QueueStore,
    now: int,
    limit: int = 10,
    visibility: int = 30_000,
    *,
    key: QueueKey = KEY,
    fifo: bool = False,
    max_receives: int | None = None,
    retention: int = DAY_MS,
) -> Received:
    return await store.receive(
        key, now, limit, visibility, fifo=fifo, max_receives=max_receives, retention_ms=retention
    )


def _ids(messages: list[Message]) -> list[str]:
    return [message.message_id for message in messages]


# --------------------------------------------------------------------------- adapters

# Where an adapter keeps its data: ("sqlite", a file) or ("postgres", a database URL).
Location = tuple[str, str]
Runner = Callable[[Callable[[QueueStore], Awaitable[None]]], None]


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    if request.param == "sqlite":
        return ("sqlite", str(tmp_path / "queues.db"))
    server: PostgresServer = request.getfixturevalue("postgres")
    return ("postgres", server.new_database())


@asynccontextmanager
async def _opened(location: Location) -> AsyncIterator[QueueStore]:
    adapter, where = location
    store: QueueStore = SqliteQueueStore(Path(where)) if adapter == "sqlite" else PostgresQueueStore(where)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def with_queues(location: Location) -> Runner:
    """Run a test body against an open QueueStore of the adapter under test."""

    def run(body: Callable[[QueueStore], Awaitable[None]]) -> None:
        async def main() -> None:
            async with _opened(location) as store:
                await body(store)

        asyncio.run(main())

    return run


# --------------------------------------------------------------------------- queues


def test_queues_are_created_once_read_updated_and_deleted(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        assert await store.get_queue(KEY) is None
        assert await store.create_queue(_queue())
        assert await store.get_queue(KEY) == _queue()
        # A second queue of that key changes nothing, whatever it holds.
        assert not await store.create_queue(_queue(attributes={"VisibilityTimeout": "5"}, tags={}))
        assert await store.get_queue(KEY) == _queue()

        changed = _queue(
            attributes={"VisibilityTimeout": "60", "RedrivePolicy": '{"maxReceiveCount":3}'},
            modified=1_700_000_100,
            tags={"team": "billing", "cost": "7"},
            purged_at=1_700_000_050.5,
        )
        assert await store.update_queue(changed)
        assert await store.get_queue(KEY) == changed
        assert not await store.update_queue(_queue(OTHER))
        assert await store.get_queue(OTHER) is None

        assert await store.delete_queue(KEY)
        assert await store.get_queue(KEY) is None
        assert not await store.delete_queue(KEY)
        assert not await store.update_queue(changed)
        assert await store.create_queue(_queue())  # the name is free again
        assert await store.get_queue(KEY) == _queue()

    with_queues(body)


def test_list_queues_names_an_accounts_queues_in_a_region_by_name(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        assert await store.list_queues(ACCOUNT, REGION) == []
        for name in NAMES:
            await store.create_queue(_queue((ACCOUNT, REGION, name)))
        await store.create_queue(_queue(("222222222222", REGION, "elsewhere")))
        await store.create_queue(_queue((ACCOUNT, "eu-west-1", "elsewhere")))
        listed = await store.list_queues(ACCOUNT, REGION)
        assert [queue.name for queue in listed] == sorted(NAMES, key=lambda name: name.encode())
        assert listed[0] == _queue((ACCOUNT, REGION, listed[0].name))  # whole records come back
        assert [queue.name for queue in await store.list_queues("222222222222", REGION)] == ["elsewhere"]
        assert [queue.name for queue in await store.list_queues(ACCOUNT, "eu-west-1")] == ["elsewhere"]
        assert await store.list_queues(ACCOUNT, "ap-south-1") == []

    with_queues(body)


def test_delete_queue_removes_its_messages_and_deduplication_ids(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        first = _message(1, dedup="d1", group="g")
        await store.send(KEY, [first, _message(2)], NOW - DEDUP_MS)
        kept = (await store.send(OTHER, [_message(3)], None))[0]

        assert await store.delete_queue(KEY)
        assert await store.create_queue(_queue())
        assert await store.counts(KEY, NOW) == (0, 0, 0)
        assert (await _take(store, NOW)).messages == []
        # The new queue of that name has not seen the old one's deduplication ids.
        again = _message(4, dedup="d1", group="g")
        stored = await store.send(KEY, [again], NOW - DEDUP_MS)
        assert _ids(stored) == [again.message_id]
        # Other queues keep theirs.
        assert _ids((await _take(store, NOW, key=OTHER)).messages) == [kept.message_id]

    with_queues(body)


# --------------------------------------------------------------------------- send


def test_send_into_a_missing_queue_is_a_key_error(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        with pytest.raises(KeyError):
            await store.send(KEY, [_message(1)], None)
        with pytest.raises(KeyError):
            await store.send(KEY, [_message(2, group="g", dedup="d")], NOW - DEDUP_MS)
        await store.create_queue(_queue())
        await store.delete_queue(KEY)
        with pytest.raises(KeyError):
            await store.send(KEY, [_message(3)], None)
        await store.create_queue(_queue())
        assert await store.counts(KEY, NOW) == (0, 0, 0)  # nothing was kept for later

    with_queues(body)


def test_send_numbers_grouped_messages_in_increasing_order(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        sent = [_message(1, group="a"), _message(2), _message(3, group="b"), _message(4, group="a")]
        stored = await store.send(KEY, sent, None)
        assert _ids(stored) == _ids(sent)
        assert stored[1] == sent[1]  # no group: no sequence number, stored as given
        numbers = [str(message.sequence_number) for message in stored if message.group_id]
        assert all(len(number) == 20 and number.isdigit() for number in numbers)
        assert numbers == sorted(numbers) and len(set(numbers)) == 3
        for given, kept in zip(sent, stored, strict=True):
            assert kept == replace(given, sequence_number=kept.sequence_number)

        later = await store.send(OTHER, [_message(5, group="a")], None)
        later += await store.send(KEY, [_message(6, group="c")], NOW - DEDUP_MS)
        assert all(str(message.sequence_number) > str(numbers[-1]) for message in later)
        # What a receive hands out carries the number the send gave.
        received = (await _take(store, NOW)).messages
        assert [message.sequence_number for message in received] == [
            *(message.sequence_number for message in stored),
            later[1].sequence_number,
        ]

    with_queues(body)


def test_send_deduplicates_within_the_window_only(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        first = (await store.send(KEY, [_message(1, group="g", dedup="d")], NOW - DEDUP_MS))[0]

        # The same deduplication id inside the window: the earlier message comes back, nothing new.
        duplicate = _message(2, sent_at=NOW + 1000, group="g", dedup="d")
        assert await store.send(KEY, [duplicate], NOW + 1000 - DEDUP_MS) == [first]
        # "Sent at or after that time": a window starting exactly at the first send still holds it.
        assert _ids(await store.send(KEY, [_message(3, group="g", dedup="d")], NOW)) == [first.message_id]
        assert await store.counts(KEY, NOW + 1000) == (1, 0, 0)

        # Within one call too; other ids are stored.
        one, two, other = _message(4, group="g", dedup="e"), _message(5, group="g", dedup="e"), _message(6)
        stored = await store.send(KEY, [one, two, other], NOW - DEDUP_MS)
        assert _ids(stored) == [one.message_id, one.message_id, other.message_id]
        assert stored[0] == stored[1]
        assert await store.counts(KEY, NOW + 1000) == (3, 0, 0)

        # Deleting the message does not end its deduplication.
        taken = (await _take(store, NOW + 1000, limit=1)).messages[0]
        assert taken.message_id == first.message_id
        assert taken.receipt is not None
        assert await store.delete_message(KEY, first.message_id, taken.receipt)
        assert _ids(await store.send(KEY, [_message(7, group="g", dedup="d")], NOW - DEDUP_MS)) == [
            first.message_id
        ]
        assert await store.counts(KEY, NOW + 1000) == (2, 0, 0)

        # After the window the id is new again.
        fresh = _message(8, sent_at=NOW + DEDUP_MS + 1, group="g", dedup="d")
        stored = await store.send(KEY, [fresh], NOW + 1)
        assert _ids(stored) == [fresh.message_id]
        assert stored[0].sequence_number is not None
        # And it, in turn, is what the id names now.
        assert _ids(await store.send(KEY, [_message(9, group="g", dedup="d")], NOW + 2)) == [fresh.message_id]
        assert await store.counts(KEY, NOW + DEDUP_MS + 1) == (3, 0, 0)

        # Without a window (standard queues), deduplication ids are not looked at.
        plain = [_message(10, dedup="z"), _message(11, dedup="z")]
        assert _ids(await store.send(KEY, plain, None)) == _ids(plain)

    with_queues(body)


def test_deduplication_ids_belong_to_their_queue(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        here = (await store.send(KEY, [_message(1, group="g", dedup="d")], NOW - DEDUP_MS))[0]
        there = _message(2, group="g", dedup="d")
        assert _ids(await store.send(OTHER, [there], NOW - DEDUP_MS)) == [there.message_id]
        assert here.message_id != there.message_id

    with_queues(body)


# --------------------------------------------------------------------------- receive


def test_receive_takes_visible_messages_oldest_first_and_hides_them(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        sent = [_message(0), _message(1), _message(2)]
        delayed = _message(3, visible_at=NOW + 10_000)
        await store.send(KEY, [*sent, delayed], None)
        assert await store.counts(KEY, NOW) == (3, 0, 1)

        first = await _take(store, NOW, limit=2)
        assert _ids(first.messages) == _ids(sent[:2])
        assert first.dead == []
        for given, taken in zip(sent, first.messages, strict=False):
            assert taken.receive_count == 1
            assert taken.first_received_at == NOW
            assert taken.visible_at == NOW + 30_000
            assert taken.receipt is not None
            assert (taken.body, taken.attributes, taken.sent_at) == (given.body, given.attributes, NOW)
        assert len({taken.receipt for taken in first.messages}) == 2
        assert await store.counts(KEY, NOW) == (1, 2, 1)

        # Taken messages are hidden, the delayed one is not visible yet.
        assert _ids((await _take(store, NOW + 1)).messages) == [sent[2].message_id]
        assert (await _take(store, NOW + 9_999)).messages == []
        assert await store.counts(KEY, NOW + 9_999) == (0, 3, 1)
        # visible_at is the first moment a message may be taken.
        assert _ids((await _take(store, NOW + 10_000)).messages) == [delayed.message_id]
        assert await store.counts(KEY, NOW + 10_000) == (0, 4, 0)

        # Their visibility over, the first two come back: counted again, a new receipt, the first
        # reception's time kept.
        again = await _take(store, NOW + 30_000, limit=10, visibility=5_000)
        assert _ids(again.messages) == _ids(sent[:2])
        for before, taken in zip(first.messages, again.messages, strict=True):
            assert taken.receive_count == 2
            assert taken.first_received_at == NOW
            assert taken.visible_at == NOW + 35_000
            assert taken.receipt not in (None, before.receipt)
        assert await store.counts(KEY, NOW + 30_000) == (0, 4, 0)
        assert await store.counts(KEY, NOW + 39_999) == (3, 1, 0)

    with_queues(body)


def test_receive_with_no_visibility_leaves_messages_visible(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        message = _message(1)
        await store.send(KEY, [message], None)
        first = (await _take(store, NOW, visibility=0)).messages
        second = (await _take(store, NOW, visibility=0)).messages
        assert _ids(first) == _ids(second) == [message.message_id]
        assert [first[0].receive_count, second[0].receive_count] == [1, 2]
        assert first[0].receipt != second[0].receipt
        assert await store.counts(KEY, NOW) == (1, 0, 0)

    with_queues(body)


def test_receive_keeps_queues_apart(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        here, there = _message(1), _message(2)
        await store.send(KEY, [here], None)
        await store.send(OTHER, [there], None)
        assert _ids((await _take(store, NOW)).messages) == [here.message_id]
        assert _ids((await _take(store, NOW, key=OTHER)).messages) == [there.message_id]
        assert (await _take(store, NOW, key=(ACCOUNT, REGION, "missing"))).messages == []

    with_queues(body)


def test_fifo_receive_skips_groups_in_flight_and_keeps_a_groups_order(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        a1, b1, a2, b2, a3 = (_message(n, group=g) for n, g in enumerate("ababa"))
        await store.send(KEY, [a1, b1, a2, b2, a3], None)

        head = (await _take(store, NOW, limit=1, fifo=True)).messages
        assert _ids(head) == [a1.message_id]
        # Group a has a message in flight: none of it is handed out; group b comes in order.
        assert _ids((await _take(store, NOW, fifo=True)).messages) == [b1.message_id, b2.message_id]
        assert (await _take(store, NOW, fifo=True)).messages == []
        assert await store.counts(KEY, NOW) == (2, 3, 0)
        # Not a FIFO receive: groups do not matter.
        assert _ids((await _take(store, NOW, limit=1, visibility=0)).messages) == [a2.message_id]

        # a1 visible again: it comes before the rest of its group.
        receipt = head[0].receipt
        assert receipt is not None
        assert await store.change_visibility(KEY, a1.message_id, receipt, NOW + 1, NOW + 1)
        again = (await _take(store, NOW + 1, limit=1, fifo=True)).messages
        assert _ids(again) == [a1.message_id]
        assert again[0].receipt is not None
        assert await store.delete_message(KEY, a1.message_id, again[0].receipt)
        # Its group free, the rest of it comes in order.
        assert _ids((await _take(store, NOW + 2, fifo=True)).messages) == [a2.message_id, a3.message_id]

    with_queues(body)


def test_receive_moves_messages_received_too_often_out_as_dead(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        early, late = _message(1), _message(2)
        await store.send(KEY, [early, late], None)
        await _take(store, NOW, limit=2, visibility=0, max_receives=2)
        second = await _take(store, NOW + 1, limit=1, visibility=0, max_receives=2)
        assert second.dead == []
        assert [(m.message_id, m.receive_count) for m in second.messages] == [(early.message_id, 2)]

        third = await _take(store, NOW + 2, visibility=0, max_receives=2)
        # `early` has been received twice: removed and handed back as dead, as it was stored.
        assert [(m.message_id, m.receive_count) for m in third.dead] == [(early.message_id, 2)]
        assert third.dead[0].body == early.body
        assert [(m.message_id, m.receive_count) for m in third.messages] == [(late.message_id, 2)]
        assert await store.counts(KEY, NOW + 2) == (1, 0, 0)
        fourth = await _take(store, NOW + 3, visibility=0, max_receives=2)
        assert fourth.messages == []
        assert _ids(fourth.dead) == [late.message_id]
        assert await store.counts(KEY, NOW + 3) == (0, 0, 0)
        # Dead messages are gone: nothing comes back without a limit either.
        assert (await _take(store, NOW + 4)).messages == []

    with_queues(body)


def test_receive_without_max_receives_never_declares_messages_dead(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.send(KEY, [_message(1)], None)
        for step in range(5):
            received = await _take(store, NOW + step, visibility=0)
            assert received.dead == []
            assert received.messages[0].receive_count == step + 1

    with_queues(body)


def test_receive_drops_messages_past_retention(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        old = _message(1, sent_at=NOW - 60_001)
        edge = _message(2, sent_at=NOW - 60_000)
        new = _message(3, sent_at=NOW)
        await store.send(KEY, [old, edge, new], None)
        assert await store.counts(KEY, NOW) == (3, 0, 0)
        received = await _take(store, NOW, limit=1, retention=60_000)
        assert _ids(received.messages) == [edge.message_id]
        assert received.dead == []
        # Dropped, not just skipped: counts and a receive with a long retention no longer see it.
        assert await store.counts(KEY, NOW) == (1, 1, 0)
        assert _ids((await _take(store, NOW)).messages) == [new.message_id]

    with_queues(body)


# --------------------------------------------------------------------------- delete, visibility


def test_delete_messages_deletes_those_with_current_receipts_in_one_call(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        messages = [_message(n) for n in range(4)]
        await store.send(KEY, messages, None)
        taken = (await _take(store, NOW, limit=4)).messages
        receipts = [(message.message_id, str(message.receipt)) for message in taken]
        receipts[1] = (receipts[1][0], "stale")  # kept: not its current receipt
        receipts.append(("missing", "x"))
        await store.delete_messages(KEY, receipts)
        assert await store.counts(KEY, NOW) == (0, 1, 0)
        assert _ids((await _take(store, NOW + 60_000)).messages) == [taken[1].message_id]

    with_queues(body)


def test_delete_message_needs_the_current_receipt(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        message, never = _message(1), _message(2)
        await store.send(KEY, [message, never], None)
        first = (await _take(store, NOW, limit=1, visibility=0)).messages[0]
        second = (await _take(store, NOW + 1, limit=1)).messages[0]
        assert first.message_id == second.message_id == message.message_id
        assert first.receipt is not None and second.receipt is not None

        assert not await store.delete_message(KEY, message.message_id, "not-a-receipt")
        assert not await store.delete_message(KEY, message.message_id, first.receipt)  # stale
        assert not await store.delete_message(OTHER, message.message_id, second.receipt)
        assert not await store.delete_message(KEY, never.message_id, second.receipt)
        assert not await store.delete_message(KEY, "missing", second.receipt)
        assert await store.counts(KEY, NOW + 1) == (1, 1, 0)

        assert await store.delete_message(KEY, message.message_id, second.receipt)
        assert not await store.delete_message(KEY, message.message_id, second.receipt)
        assert await store.counts(KEY, NOW + 1) == (1, 0, 0)
        assert _ids((await _take(store, NOW + 60_000)).messages) == [never.message_id]

    with_queues(body)


def test_a_receipt_still_deletes_after_the_visibility_timeout_if_not_received_again(
    with_queues: Runner,
) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        message = _message(1)
        await store.send(KEY, [message], None)
        taken = (await _take(store, NOW, visibility=1_000)).messages[0]
        assert taken.receipt is not None
        assert await store.counts(KEY, NOW + 5_000) == (1, 0, 0)
        assert await store.delete_message(KEY, message.message_id, taken.receipt)
        assert await store.counts(KEY, NOW + 5_000) == (0, 0, 0)

    with_queues(body)


def test_change_visibility_only_of_a_message_in_flight_under_its_receipt(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        message, waiting = _message(1), _message(2)
        await store.send(KEY, [message, waiting], None)
        assert not await store.change_visibility(KEY, waiting.message_id, "x", NOW + 9_000, NOW)
        taken = (await _take(store, NOW, limit=1)).messages[0]
        assert taken.receipt is not None

        # Longer: still hidden when the first timeout is over.
        assert await store.change_visibility(KEY, message.message_id, taken.receipt, NOW + 60_000, NOW + 1)
        assert _ids((await _take(store, NOW + 30_000)).messages) == [waiting.message_id]
        assert await store.counts(KEY, NOW + 30_000) == (0, 2, 0)
        # Shorter, and not for a wrong receipt, another queue's key or a missing message.
        assert not await store.change_visibility(KEY, message.message_id, "wrong", NOW, NOW + 30_000)
        assert not await store.change_visibility(OTHER, message.message_id, taken.receipt, NOW, NOW)
        assert not await store.change_visibility(KEY, "missing", taken.receipt, NOW, NOW)
        assert await store.change_visibility(
            KEY, message.message_id, taken.receipt, NOW + 31_000, NOW + 30_000
        )
        assert (await _take(store, NOW + 30_999)).messages == []
        again = (await _take(store, NOW + 31_000, limit=1, visibility=1_000)).messages
        assert _ids(again) == [message.message_id]
        assert again[0].receipt is not None and again[0].receipt != taken.receipt

        # The old receipt no longer changes anything.
        assert not await store.change_visibility(KEY, message.message_id, taken.receipt, NOW, NOW + 31_001)
        # Made visible now: taken by the next receive, and no longer in flight for its receipt.
        assert await store.change_visibility(
            KEY, message.message_id, again[0].receipt, NOW + 31_001, NOW + 31_001
        )
        assert await store.counts(KEY, NOW + 31_001) == (1, 1, 0)
        assert not await store.change_visibility(
            KEY, message.message_id, again[0].receipt, NOW + 40_000, NOW + 31_001
        )
        third = (await _take(store, NOW + 31_001, limit=1)).messages
        assert _ids(third) == [message.message_id]
        assert third[0].receive_count == 3

    with_queues(body)


def test_change_visibility_of_a_message_whose_timeout_ran_out_is_refused(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        message = _message(1)
        await store.send(KEY, [message], None)
        taken = (await _take(store, NOW, visibility=1_000)).messages[0]
        assert taken.receipt is not None
        assert not await store.change_visibility(
            KEY, message.message_id, taken.receipt, NOW + 60_000, NOW + 1_000
        )
        assert await store.counts(KEY, NOW + 1_000) == (1, 0, 0)

    with_queues(body)


# --------------------------------------------------------------------------- purge, counts


def test_purge_empties_one_queue(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        await store.create_queue(_queue(OTHER))
        await store.send(KEY, [_message(1), _message(2), _message(3, visible_at=NOW + 5_000)], None)
        await store.send(OTHER, [_message(4)], None)
        await _take(store, NOW, limit=1)
        assert await store.counts(KEY, NOW) == (1, 1, 1)
        await store.purge(KEY)
        assert await store.counts(KEY, NOW) == (0, 0, 0)
        assert (await _take(store, NOW + 60_000)).messages == []
        assert await store.get_queue(KEY) == _queue()
        assert await store.counts(OTHER, NOW) == (1, 0, 0)
        await store.purge(KEY)  # nothing left: still fine
        await store.send(KEY, [_message(5)], None)
        assert await store.counts(KEY, NOW) == (1, 0, 0)

    with_queues(body)


def test_counts_tell_visible_in_flight_and_delayed_apart(with_queues: Runner) -> None:
    async def body(store: QueueStore) -> None:
        await store.create_queue(_queue())
        assert await store.counts(KEY, NOW) == (0, 0, 0)
        await store.send(KEY, [_message(n) for n in range(4)], None)
        await store.send(KEY, [_message(10 + n, visible_at=NOW + 1_000 * (n + 1)) for n in range(3)], None)
        await _take(store, NOW, limit=3, visibility=500)
        assert await store.counts(KEY, NOW) == (1, 3, 3)
        assert await store.counts(KEY, NOW + 500) == (4, 0, 3)
        assert await store.counts(KEY, NOW + 2_000) == (6, 0, 1)
        assert await store.counts(KEY, NOW + 3_000) == (7, 0, 0)

    with_queues(body)


# --------------------------------------------------------------------------- concurrency


def test_concurrent_receives_never_hand_out_a_message_twice(location: Location) -> None:
    """20 receivers at once over 100 messages; on PostgreSQL through two stores on one database,
    as two servers share it."""

    async def main() -> None:
        async with _opened(location) as first, _opened(location) as second:
            stores = [first, second] if location[0] == "postgres" else [first]
            await first.create_queue(_queue())
            sent = [_message(n) for n in range(100)]
            for start in range(0, 100, 10):
                await first.send(KEY, sent[start : start + 10], None)

            async def receiver(index: int) -> list[str]:
                store = stores[index % len(stores)]
                taken: list[str] = []
                while batch := (await _take(store, NOW, limit=1 + index % 10)).messages:
                    taken += _ids(batch)
                return taken

            results = await asyncio.gather(*(receiver(index) for index in range(20)))
            handed_out = [message_id for taken in results for message_id in taken]
            assert len(handed_out) == len(set(handed_out))
            assert sorted(handed_out) == sorted(_ids(sent))
            assert await second.counts(KEY, NOW) == (0, 100, 0)

    asyncio.run(main())


def test_concurrent_fifo_receives_hand_out_a_group_to_one_receiver_in_order(location: Location) -> None:
    async def main() -> None:
        async with _opened(location) as first, _opened(location) as second:
            stores = [first, second] if location[0] == "postgres" else [first]
            await first.create_queue(_queue())
            groups = [f"g{n}" for n in range(10)]
            sent = [
                _message(10 * round_ + n, group=group)
                for round_ in range(5)
                for n, group in enumerate(groups)
            ]
            await first.send(KEY, sent, None)
            order = {group: [m.message_id for m in sent if m.group_id == group] for group in groups}

            async def receiver(index: int) -> list[Message]:
                return (await _take(stores[index % len(stores)], NOW, limit=10, fifo=True)).messages

            results = await asyncio.gather(*(receiver(index) for index in range(20)))
            owners: dict[str, int] = {}
            for index, taken in enumerate(results):
                for message in taken:
                    assert message.group_id is not None
                    assert owners.setdefault(message.group_id, index) == index, (
                        "a group went to two receivers"
                    )
                for group in {message.group_id for message in taken}:
                    mine = [message.message_id for message in taken if message.group_id == group]
                    assert group is not None and mine == order[group][: len(mine)]
            handed_out = [message.message_id for taken in results for message in taken]
            assert len(handed_out) == len(set(handed_out))

    asyncio.run(main())


def test_concurrent_sends_of_one_deduplication_id_store_one_message(location: Location) -> None:
    async def main() -> None:
        async with _opened(location) as first, _opened(location) as second:
            stores = [first, second] if location[0] == "postgres" else [first]
            await first.create_queue(_queue())
            attempts = [_message(n, group="g", dedup="same") for n in range(20)]
            results = await asyncio.gather(
                *(
                    stores[index % len(stores)].send(KEY, [attempt], NOW - DEDUP_MS)
                    for index, attempt in enumerate(attempts)
                )
            )
            assert len({result[0].message_id for result in results}) == 1
            assert await first.counts(KEY, NOW) == (1, 0, 0)

    asyncio.run(main())


# --------------------------------------------------------------------------- PostgreSQL only


def test_postgres_lists_queues_by_name_on_a_locale_collated_database(postgres: PostgresServer) -> None:
    """Production databases are often created with a locale's collation (en-US), not C: the order
    of list_queues must not depend on it (the SQLite adapter orders by bytes)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        connection.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )

    async def main() -> None:
        async with _opened(("postgres", postgres.url(name))) as store:
            for queue in NAMES:
                await store.create_queue(_queue((ACCOUNT, REGION, queue)))
            listed = [queue.name for queue in await store.list_queues(ACCOUNT, REGION)]
            assert listed == sorted(NAMES, key=lambda queue: queue.encode())

    asyncio.run(main())
